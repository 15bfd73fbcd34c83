drop trigger insert_crate_downloads_row on crates;
drop function insert_crate_downloads_row;
drop table crate_downloads;
