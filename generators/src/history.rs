//! Random schema histories, rendered as a migration set in a correct
//! idempotent style and as variants with one injected defect.
