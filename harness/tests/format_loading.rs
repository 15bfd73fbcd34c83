//! Reading every migration layout. Each case is a fixture directory under
//! `tests/fixtures/formats/`, loaded with `--format auto` (and, when that
//! works, again with the detected format named, which must read the same)
//! and rendered as one line per migration, or the error, compared with an
//! `expect!` snapshot (`UPDATE_EXPECT=1 cargo test -p migcheck --test
//! format_loading` rewrites them; review the diff):
//!
//! ```text
//! <version> <name> <tx|no-tx> up:<line of each statement> down:<lines, or - without a down>
//! ```
//!
//! A line followed by `!` is a statement the parser rejected, kept for the
//! server to judge.
//!
//! Loading also checks, for every script, that statement offsets are
//! offsets in the whole file (so `Script::line_column` maps an error
//! position inside a statement to the file), including dbmate sections.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use expect_test::{Expect, expect};
use migcheck::migrations::{Format, MigrationSet, Script};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats")
}

/// `case` is a fixture directory, optionally followed by `--format NAME`
/// to read it as that format instead of detecting one.
fn check(case: &str, expected: Expect) {
    let (dir, named) = match case.split_once(" --format ") {
        Some((dir, name)) => (dir, Some(name)),
        None => (case, None),
    };
    let format = named.map_or(Format::Auto, |name| {
        Format::from_str(name, false).unwrap_or_else(|e| panic!("{case}: {e}"))
    });
    let dir = fixtures().join(dir);
    let actual = match MigrationSet::load(&dir, format) {
        Ok(set) => {
            let rendered = render(&set);
            if format == Format::Auto {
                let again = MigrationSet::load(&dir, set.format)
                    .unwrap_or_else(|e| panic!("{case} with --format {}: {e}", set.format));
                assert_eq!(
                    render(&again),
                    rendered,
                    "{case}: detected as {}, but reads differently when named",
                    set.format
                );
            }
            rendered
        }
        Err(e) => format!("error: {}\n", migcheck::error::report(&e))
            .replace(&format!("{}/", fixtures().display()), ""),
    };
    expected.assert_eq(&actual);
}

fn render(set: &MigrationSet) -> String {
    let mut out = format!("format: {}\n", set.format);
    for m in &set.migrations {
        check_positions(&m.up);
        assert_eq!(m.up.path, m.path, "{}: the up script's path", m.name);
        let down = match &m.down {
            Some(down) => {
                check_positions(down);
                lines(down)
            }
            None => "-".into(),
        };
        let tx = if m.transaction { "tx" } else { "no-tx" };
        out += &format!(
            "{} {} {tx} up:{} down:{down}\n",
            m.version,
            m.name,
            lines(&m.up)
        );
    }
    out
}

fn lines(script: &Script) -> String {
    let lines: Vec<_> = script
        .statements
        .iter()
        .map(|s| match s.rejected {
            Some(_) => format!("{}!", s.line),
            None => s.line.to_string(),
        })
        .collect();
    if lines.is_empty() {
        "none".into()
    } else {
        lines.join(",")
    }
}

/// A script holds its whole file, and a statement's offset, plus any
/// position inside the statement, is a position in that file.
fn check_positions(script: &Script) {
    let file = std::fs::read_to_string(&script.path).expect("the script's file");
    assert_eq!(
        script.sql,
        file,
        "{}: the whole file",
        script.path.display()
    );
    for s in &script.statements {
        let at = script.path.display();
        assert!(
            script.sql[s.offset..].starts_with(&s.sql),
            "{at}: `{}` is not at offset {}",
            s.sql,
            s.offset
        );
        assert_eq!(
            script.line_column(s.offset),
            (s.line, s.column),
            "{at}: `{}`",
            s.sql
        );
        for (i, _) in s.sql.match_indices('\n') {
            let line = s.line + s.sql[..=i].matches('\n').count();
            assert_eq!(
                script.line_column(s.offset + i + 1),
                (line, 1),
                "{at}: inside `{}`",
                s.sql
            );
        }
    }
}

#[test]
fn format_names() {
    let rendered: Vec<String> = Format::value_variants()
        .iter()
        .map(|f| {
            let clap = f.to_possible_value().expect("every format is listed");
            let serde: Format = serde_yaml_ng::from_str(clap.get_name()).expect("serde name");
            assert_eq!(serde, *f, "{f}: serde and clap agree");
            format!("{f}={}", clap.get_name())
        })
        .collect();
    assert_eq!(
        rendered.join(" "),
        "auto=auto plain=plain sqlx=sqlx golang-migrate=golang-migrate diesel=diesel flyway=flyway refinery=refinery dbmate=dbmate"
    );
}

#[test]
fn plain() {
    check(
        "plain/basic",
        expect![[r#"
            format: plain
            001 001_users.sql tx up:1,3 down:-
            002 002_jobs.sql tx up:2 down:-
            002 002_jobs_index.sql tx up:1 down:-
        "#]],
    );
}

#[test]
fn plain_needs_numbers() {
    check(
        "plain/unnumbered",
        expect![[r#"
            error: plain/unnumbered/init.sql: cannot tell where this migration goes: plain migrations are named with a leading number, like 001_init.sql
        "#]],
    );
}

#[test]
fn sqlx_simple_with_no_transaction_marker() {
    // The marker is what tells sqlx from plain: auto reads it as sqlx.
    check(
        "sqlx/simple",
        expect![[r#"
            format: sqlx
            20240101000000 20240101000000_users.sql tx up:1 down:-
            20240102000000 20240102000000_users_index.sql no-tx up:2 down:-
        "#]],
    );
}

#[test]
fn plain_ignores_the_sqlx_marker() {
    // The marker means nothing to plain; the CONCURRENTLY in the second
    // file still makes plain run it outside a transaction, as psql would.
    check(
        "sqlx/simple --format plain",
        expect![[r#"
            format: plain
            20240101000000 20240101000000_users.sql tx up:1 down:-
            20240102000000 20240102000000_users_index.sql no-tx up:2 down:-
        "#]],
    );
}

#[test]
fn sqlx_reversible() {
    check(
        "sqlx/reversible",
        expect![[r#"
            format: sqlx
            1 1_users.up.sql tx up:1,2 down:1,2
            2 2_users_index.up.sql no-tx up:3 down:2
        "#]],
    );
}

#[test]
fn sqlx_simple_and_reversible_together() {
    check(
        "sqlx/both-kinds",
        expect![[r#"
            format: sqlx
            1 1_users.sql tx up:1 down:-
            2 2_users_index.up.sql no-tx up:2 down:1
        "#]],
    );
}

#[test]
fn sqlx_duplicate_version() {
    check(
        "sqlx/duplicate",
        expect![[r#"
            error: two sqlx migrations have version 1: sqlx/duplicate/001_accounts.sql and sqlx/duplicate/1_users.sql; renumber one of them
        "#]],
    );
}

#[test]
fn sqlx_version_too_big() {
    check(
        "sqlx/bad-name",
        expect![[r#"
            error: sqlx/bad-name/99999999999999999999_too_big.sql: not a sqlx migration name: expected <version>_<name>.sql, or .up.sql and .down.sql, with a 64-bit integer version, like 20240101000000_users.sql
        "#]],
    );
}

#[test]
fn golang_migrate() {
    // Ordered numerically (2 before 10); an up may come without a down; a
    // file of one statement runs outside a transaction block.
    check(
        "golang/reversible",
        expect![[r#"
            format: golang-migrate
            1 1_users.up.sql no-tx up:1 down:1
            2 2_jobs.up.sql tx up:1,6 down:-
            10 10_settings.up.sql no-tx up:1 down:3
        "#]],
    );
}

#[test]
fn golang_migrate_files_read_as_sqlx() {
    check(
        "golang/reversible --format sqlx",
        expect![[r#"
            format: sqlx
            1 1_users.up.sql tx up:1 down:1
            2 2_jobs.up.sql tx up:1,6 down:-
            10 10_settings.up.sql tx up:1 down:3
        "#]],
    );
}

#[test]
fn golang_migrate_down_without_up() {
    check(
        "golang/down-without-up",
        expect![[r#"
            error: golang/down-without-up/2_jobs.down.sql: a down migration without its up migration 2_jobs.up.sql; add the up migration or remove this file
        "#]],
    );
}

#[test]
fn golang_migrate_unnumbered() {
    check(
        "golang/bad-name",
        expect![[r#"
            error: golang/bad-name/abc.up.sql: not a golang-migrate migration name: expected <n>_<name>.up.sql or <n>_<name>.down.sql with an integer n, like 1_create_users.up.sql
        "#]],
    );
}

#[test]
fn golang_migrate_duplicate_version() {
    check(
        "golang/duplicate",
        expect![[r#"
            error: two golang-migrate migrations have version 1: golang/duplicate/01_accounts.up.sql and golang/duplicate/1_users.up.sql; renumber one of them
        "#]],
    );
}

#[test]
fn diesel() {
    // metadata.toml's run_in_transaction = false; hidden .keep ignored.
    check(
        "diesel/basic",
        expect![[r#"
            format: diesel
            00000000000000 00000000000000_diesel_initial_setup/up.sql tx up:1 down:1
            2023-01-01-000000 2023-01-01-000000_create_users/up.sql tx up:1,2 down:1,2
            2023-02-01-000000 2023-02-01-000000_jobs_index/up.sql no-tx up:2 down:1
        "#]],
    );
}

#[test]
fn diesel_without_down() {
    check(
        "diesel/no-down",
        expect![[r#"
            format: diesel
            2024-01-01-000000 2024-01-01-000000_users/up.sql tx up:1 down:-
        "#]],
    );
}

#[test]
fn diesel_bad_metadata() {
    check(
        "diesel/bad-metadata",
        expect![[r#"
            error: diesel/bad-metadata/2024-01-01-000000_users/metadata.toml:2:22: not diesel metadata: invalid type: string "no", expected a boolean; diesel reads `run_in_transaction = true` or `false` here
        "#]],
    );
}

#[test]
fn diesel_directory_without_up() {
    check(
        "diesel/missing-up",
        expect![[r#"
            error: diesel/missing-up/2024-01-02-000000_jobs: a diesel migration directory without up.sql; add up.sql or move the directory out
        "#]],
    );
}

#[test]
fn diesel_unversioned_directory() {
    check(
        "diesel/bad-name",
        expect![[r#"
            error: diesel/bad-name/create_jobs: not a diesel migration name: expected <version>_<name>/ directories, the version made of digits and dashes, like 2023-01-01-000000_create_users
        "#]],
    );
}

#[test]
fn diesel_duplicate_version() {
    // Diesel leaves the dashes out of its versions.
    check(
        "diesel/duplicate",
        expect![[r#"
            error: two diesel migrations have version 20240101000000: diesel/duplicate/2024-01-01-000000_users and diesel/duplicate/20240101000000_accounts; renumber one of them
        "#]],
    );
}

#[test]
fn flyway() {
    // Dotted versions compare part by part; U2 is V2's down; the .sql.conf
    // says executeInTransaction=false.
    check(
        "flyway/basic",
        expect![[r#"
            format: flyway
            1 V1__users.sql tx up:1 down:-
            1.1 V1.1__users_email.sql tx up:1 down:-
            1.2 V1.2__users_name.sql tx up:1 down:-
            1.10 V1.10__users_age.sql tx up:1 down:-
            2 V2__jobs_index.sql no-tx up:1 down:2
            3 V3__add_jobs.sql tx up:1,3 down:-
        "#]],
    );
}

#[test]
fn refinery() {
    check(
        "flyway/refinery --format refinery",
        expect![[r#"
            format: refinery
            1 V1__users.sql tx up:1 down:-
            2 V2__jobs.sql tx up:1 down:-
            10 V10__settings.sql tx up:1 down:-
        "#]],
    );
    check(
        "flyway/refinery-dotted --format refinery",
        expect![[r#"
            error: flyway/refinery-dotted/V1.1__a.sql: not a refinery migration name: expected V<version>__<name>.sql or U<version>__<name>.sql with an integer version, like V2__add_jobs.sql
        "#]],
    );
    check(
        "flyway/refinery",
        expect![[r#"
            format: flyway
            1 V1__users.sql tx up:1 down:-
            2 V2__jobs.sql tx up:1 down:-
            10 V10__settings.sql tx up:1 down:-
        "#]],
    );
}

#[test]
fn flyway_repeatable_not_supported() {
    check(
        "flyway/repeatable",
        expect![[r#"
            error: flyway/repeatable/R__users_view.sql: repeatable Flyway migrations (R__) are not supported yet; move it out of the directory to check the versioned migrations
        "#]],
    );
}

#[test]
fn flyway_bad_version() {
    check(
        "flyway/bad-name",
        expect![[r#"
            error: flyway/bad-name/Vx__jobs.sql: not a flyway migration name: expected V<version>__<name>.sql or U<version>__<name>.sql, the version numbers separated by dots, like V1.2__add_jobs.sql
        "#]],
    );
}

#[test]
fn flyway_undo_without_versioned() {
    check(
        "flyway/undo-without-versioned",
        expect![[r#"
            error: flyway/undo-without-versioned/U2__jobs.sql: a down migration without its up migration V2__<name>.sql (U is Flyway's undo; refinery's unversioned U migrations are not read yet); add the up migration or remove this file
        "#]],
    );
}

#[test]
fn flyway_duplicate_version() {
    // Flyway's 1.0 is 1.
    check(
        "flyway/duplicate",
        expect![[r#"
            error: two flyway migrations have version 1: flyway/duplicate/V1.0__accounts.sql and flyway/duplicate/V1__users.sql; renumber one of them
        "#]],
    );
}

#[test]
fn flyway_bad_script_config() {
    check(
        "flyway/bad-conf",
        expect![[r#"
            error: flyway/bad-conf/V1__users.sql.conf:2:3: executeInTransaction is `maybe`; write true or false
        "#]],
    );
}

#[test]
fn flyway_files_are_not_golang_migrate() {
    check(
        "flyway/basic --format golang-migrate",
        expect![[r#"
            error: flyway/basic/U2__jobs_index.sql: not a golang-migrate migration name: expected <n>_<name>.up.sql or <n>_<name>.down.sql with an integer n, like 1_create_users.up.sql
        "#]],
    );
}

#[test]
fn dbmate() {
    // Statements of both sections keep their lines in the file: the down
    // of 20240101000000_users.sql starts on line 10, after the marker.
    check(
        "dbmate/basic",
        expect![[r#"
            format: dbmate
            20240101000000 20240101000000_users.sql tx up:2,4 down:10,11
            20240102000000 20240102000000_jobs_index.sql no-tx up:4 down:7
            20240103000000 20240103000000_settings.sql tx up:2 down:-
        "#]],
    );
}

#[test]
fn dbmate_statement_the_parser_rejects_is_kept_at_its_line() {
    check(
        "dbmate/parse-error-in-down",
        expect![[r#"
            format: dbmate
            001 001_users.sql tx up:2 down:5,6!
        "#]],
    );
}

#[test]
fn dbmate_file_without_up_marker() {
    check(
        "dbmate/no-up",
        expect![[r#"
            error: dbmate/no-up/002_jobs.sql: no `-- migrate:up` line: dbmate runs only the statements after it; add `-- migrate:up` above them, or name the layout with --migrations-format or `format:` in a scenario (plain, sqlx, golang-migrate, diesel, flyway, refinery, dbmate) if this is not a dbmate set
        "#]],
    );
    check(
        "sqlx/simple --format dbmate",
        expect![[r#"
            error: 2 migration files cannot be used:
              sqlx/simple/20240101000000_users.sql: no `-- migrate:up` line: dbmate runs only the statements after it; add `-- migrate:up` above them, or name the layout with --migrations-format or `format:` in a scenario (plain, sqlx, golang-migrate, diesel, flyway, refinery, dbmate) if this is not a dbmate set
              sqlx/simple/20240102000000_users_index.sql: no `-- migrate:up` line: dbmate runs only the statements after it; add `-- migrate:up` above them, or name the layout with --migrations-format or `format:` in a scenario (plain, sqlx, golang-migrate, diesel, flyway, refinery, dbmate) if this is not a dbmate set
        "#]],
    );
}

#[test]
fn dbmate_sections_out_of_place() {
    check(
        "dbmate/down-first",
        expect![[r#"
            error: dbmate/down-first/001_users.sql:1: `-- migrate:down` comes before `-- migrate:up`: dbmate needs the up section first; swap the sections
        "#]],
    );
    check(
        "dbmate/statement-before-up",
        expect![[r#"
            error: dbmate/statement-before-up/001_users.sql:3: a statement before `-- migrate:up`: dbmate refuses statements outside its sections; move it below the marker
        "#]],
    );
    check(
        "dbmate/two-ups",
        expect![[r#"
            error: dbmate/two-ups/001_users.sql:3: a second `-- migrate:up`: dbmate reads one up section per file; merge the sections
        "#]],
    );
}

#[test]
fn dbmate_duplicate_version() {
    check(
        "dbmate/duplicate",
        expect![[r#"
            format: dbmate
            0001 0001_accounts.sql tx up:2 down:-
            1 1_users.sql tx up:2 down:-
        "#]],
    );
    check(
        "plain/basic --format dbmate",
        expect![[r#"
            error: two dbmate migrations have version 002: plain/basic/002_jobs.sql and plain/basic/002_jobs_index.sql; renumber one of them
        "#]],
    );
}

#[test]
fn mixed_layouts() {
    check(
        "detect/flyway-beside-plain",
        expect![[r#"
            error: detect/flyway-beside-plain mixes migration layouts: 002_jobs.sql is a numbered file (plain, sqlx or dbmate), V1__users.sql is a Flyway file; move the files that do not belong, or name the layout with --migrations-format or `format:` in a scenario (plain, sqlx, golang-migrate, diesel, flyway, refinery, dbmate)
        "#]],
    );
    // Without sqlx's marker, up/down files beside numbered ones are two
    // layouts.
    check(
        "detect/up-beside-plain",
        expect![[r#"
            error: detect/up-beside-plain mixes migration layouts: 001_users.sql is a numbered file (plain, sqlx or dbmate), 002_jobs.up.sql is an up/down file (golang-migrate or sqlx); move the files that do not belong, or name the layout with --migrations-format or `format:` in a scenario (plain, sqlx, golang-migrate, diesel, flyway, refinery, dbmate)
        "#]],
    );
    check(
        "detect/diesel-beside-plain",
        expect![[r#"
            error: detect/diesel-beside-plain mixes migration layouts: 002_jobs.sql is a numbered file (plain, sqlx or dbmate), V3__settings.sql is a Flyway file, 2024-01-01-000000_users/ is a diesel migration directory; move the files that do not belong, or name the layout with --migrations-format or `format:` in a scenario (plain, sqlx, golang-migrate, diesel, flyway, refinery, dbmate)
        "#]],
    );
}

#[test]
fn no_layout() {
    check(
        "detect/empty",
        expect![[r#"
            error: detect/empty holds no migrations: expected SQL files such as 001_init.sql, 1_init.up.sql or V1__init.sql, or diesel directories holding up.sql
        "#]],
    );
    check(
        "detect/unrecognised",
        expect![[r#"
            error: detect/unrecognised: cannot tell the migration layout from init.sql, schema.sql: expected 001_init.sql (plain, sqlx, dbmate), 1_init.up.sql (golang-migrate, sqlx), V1__init.sql (flyway) or 2023-01-01-000000_init/up.sql (diesel); rename the files or name the layout with --migrations-format or `format:` in a scenario (plain, sqlx, golang-migrate, diesel, flyway, refinery, dbmate)
        "#]],
    );
    check(
        "detect/missing",
        expect![[r#"
            error: cannot read migrations directory detect/missing: No such file or directory (os error 2)
        "#]],
    );
}

/// Each layout in the order its tool's runner applies it, where string and
/// numeric order differ (from each tool's source: sqlx sorts i64 versions,
/// golang-migrate uints, Flyway `MigrationVersion`s, refinery i32s, diesel
/// `MigrationVersion` strings without dashes, dbmate file names).
#[test]
fn each_layout_in_its_runners_order() {
    check(
        "golang/numeric-order",
        expect![[r#"
            format: golang-migrate
            9 9_a.up.sql no-tx up:1 down:-
            10 10_b.up.sql no-tx up:1 down:-
        "#]],
    );
    check(
        "sqlx/numeric-order",
        expect![[r#"
            format: sqlx
            9 9_a.sql no-tx up:2 down:-
            10 10_b.sql tx up:1 down:-
        "#]],
    );
    check(
        "flyway/dotted-order",
        expect![[r#"
            format: flyway
            1_2 V1_2__c.sql tx up:1 down:-
            1.9 V1.9__a.sql tx up:1 down:-
            1.10 V1.10__b.sql tx up:1 down:-
        "#]],
    );
    check(
        "diesel/string-order",
        expect![[r#"
            format: diesel
            10 10_b/up.sql tx up:1 down:-
            2017-01-01-000000 2017-01-01-000000_dashed/up.sql tx up:1 down:-
            20170102000000 20170102000000_undashed/up.sql tx up:1 down:-
            9 9_a/up.sql tx up:1 down:-
        "#]],
    );
    check(
        "dbmate/name-order",
        expect![[r#"
            format: dbmate
            09 09_c.sql tx up:2 down:-
            10 10_b.sql tx up:2 down:-
            9 9_a.sql tx up:2 down:-
        "#]],
    );
}
