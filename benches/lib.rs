//! Criterion benches of migcheck's own costs; see the `[[bench]]` targets.
