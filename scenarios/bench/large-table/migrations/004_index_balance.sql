-- A plain index build takes SHARE: reads go on, writes wait for the build.
CREATE INDEX accounts_balance_idx ON accounts (balance);
