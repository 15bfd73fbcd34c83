//! Structural difference of two [`Snapshot`]s, and its rendering for people.
//!
//! Pure: no IO, no database, no judgement of severity beyond marking column
//! order as minor. Output order is deterministic (by object key, then by
//! attribute), so rendered diffs can be golden-tested and pasted into reviews.

use std::collections::{BTreeMap, BTreeSet};

use super::{Object, ObjectKind, Snapshot};

/// The table attribute holding the column order (`quote_ident`ed names, in
/// `attnum` order). It is compared specially: see [`Change::ColumnOrder`].
const COLUMNS_ATTR: &str = "columns";

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Diff {
    /// Sorted by [`Change::key`].
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    OnlyLeft {
        key: String,
        object: Object,
    },
    OnlyRight {
        key: String,
        object: Object,
    },
    /// One attribute of an object on both sides; `None` means unset
    /// (no default, no identity, ...).
    Differs {
        key: String,
        attr: String,
        left: Option<String>,
        right: Option<String>,
    },
    /// The columns both sides have are in a different order. Columns that
    /// only one side has are reported as their own objects, not here.
    ColumnOrder {
        /// The table's object key, `"table public.jobs"`.
        key: String,
        /// The table's qualified name, `"public.jobs"`.
        table: String,
        left: Vec<String>,
        right: Vec<String>,
    },
}

impl Change {
    /// The key of the object this change is about.
    pub fn key(&self) -> &str {
        match self {
            Change::OnlyLeft { key, .. }
            | Change::OnlyRight { key, .. }
            | Change::Differs { key, .. }
            | Change::ColumnOrder { key, .. } => key,
        }
    }

    /// Column order changes no query that names its columns; the rest do.
    pub fn is_minor(&self) -> bool {
        matches!(self, Change::ColumnOrder { .. })
    }
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Non-empty, and every change is minor.
    pub fn is_minor(&self) -> bool {
        !self.changes.is_empty() && self.changes.iter().all(Change::is_minor)
    }

    pub fn retain(&mut self, f: impl FnMut(&Change) -> bool) {
        self.changes.retain(f);
    }

    /// For people: one entry per object, saying what exists on which side
    /// and what differs. `left_side` / `right_side` are phrases such as
    /// `"after a fresh install"` and
    /// `"after upgrading from legacy state \"old jobs\""`.
    ///
    /// A table that only one side has is one line: its columns,
    /// constraints, indexes, triggers and policies are folded into it.
    pub fn render(&self, left_side: &str, right_side: &str) -> String {
        let whole_tables = whole_tables(&self.changes);
        let mut folded: BTreeMap<&str, BTreeMap<ObjectKind, usize>> = BTreeMap::new();
        let mut groups: Vec<(&str, Vec<&Change>)> = Vec::new();
        for change in &self.changes {
            if let Some(table) = folded_into(change, &whole_tables) {
                *folded
                    .entry(table)
                    .or_default()
                    .entry(change_kind(change))
                    .or_default() += 1;
                continue;
            }
            match groups.last_mut() {
                Some((key, changes)) if *key == change.key() => changes.push(change),
                _ => groups.push((change.key(), vec![change])),
            }
        }

        let mut out = String::new();
        for (key, changes) in groups {
            let described = match changes.first() {
                Some(Change::OnlyLeft { object, .. } | Change::OnlyRight { object, .. }) => {
                    let mut text = format!("{key}{}", describe(object));
                    if let Some(children) = folded.get(object.name.as_str()) {
                        text.push_str(&describe_children(children));
                    }
                    text
                }
                _ => key.to_owned(),
            };
            let entries: Vec<Vec<String>> = changes
                .iter()
                .map(|change| render_change(change, left_side, right_side))
                .collect();
            if let [entry] = entries.as_slice() {
                out.push_str(&format!("{described}: {}\n", entry[0]));
                for line in &entry[1..] {
                    out.push_str(&format!("  {line}\n"));
                }
            } else {
                out.push_str(&format!("{described}:\n"));
                for entry in entries {
                    out.push_str(&format!("  {}\n", entry[0]));
                    for line in &entry[1..] {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
            }
        }
        out
    }
}

/// Compares two snapshots object by object, in key order, leaving out the
/// migration runners' version tables (see [`super::bookkeeping`]).
pub fn diff(left: &Snapshot, right: &Snapshot) -> Diff {
    compare(left, right, |object| !super::bookkeeping::belongs(object))
}

/// Like [`diff`], version tables included: for code whose point is the
/// version table.
pub fn diff_all(left: &Snapshot, right: &Snapshot) -> Diff {
    compare(left, right, |_| true)
}

fn compare(left: &Snapshot, right: &Snapshot, keep: impl Fn(&Object) -> bool) -> Diff {
    let keys: BTreeSet<&String> = left.objects.keys().chain(right.objects.keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        let (l, r) = (
            left.objects.get(key).map(|o| &**o),
            right.objects.get(key).map(|o| &**o),
        );
        if !l.or(r).is_some_and(&keep) {
            continue;
        }
        match (l, r) {
            (Some(object), None) => changes.push(Change::OnlyLeft {
                key: key.clone(),
                object: object.clone(),
            }),
            (None, Some(object)) => changes.push(Change::OnlyRight {
                key: key.clone(),
                object: object.clone(),
            }),
            (Some(l), Some(r)) => diff_attrs(key, l, r, &mut changes),
            (None, None) => {}
        }
    }
    Diff { changes }
}

fn diff_attrs(key: &str, left: &Object, right: &Object, changes: &mut Vec<Change>) {
    let attrs: BTreeSet<&String> = left.attrs.keys().chain(right.attrs.keys()).collect();
    for attr in attrs {
        let (l, r) = (left.attrs.get(attr), right.attrs.get(attr));
        if l == r || same_routine_text(left.kind, attr, l, r) {
            continue;
        }
        if left.kind == ObjectKind::Table && attr == COLUMNS_ATTR {
            if let Some(change) = column_order(key, &left.name, l, r) {
                changes.push(change);
            }
            continue;
        }
        changes.push(Change::Differs {
            key: key.to_owned(),
            attr: attr.clone(),
            left: l.cloned(),
            right: r.cloned(),
        });
    }
}

/// A routine's body is kept as written: a down that re-creates a
/// function indented otherwise restores it all the same. (Whitespace
/// inside a string literal of the body is compared loosely too.)
fn same_routine_text(kind: ObjectKind, attr: &str, l: Option<&String>, r: Option<&String>) -> bool {
    matches!(kind, ObjectKind::Function | ObjectKind::Procedure)
        && attr == "definition"
        && l.zip(r)
            .is_some_and(|(l, r)| l.split_whitespace().eq(r.split_whitespace()))
}

/// A column order change is reported only when the columns both sides have
/// are in a different relative order; added or missing columns are already
/// their own `column` objects.
fn column_order(
    key: &str,
    table: &str,
    left: Option<&String>,
    right: Option<&String>,
) -> Option<Change> {
    let left = left.map(|l| split_idents(l)).unwrap_or_default();
    let right = right.map(|r| split_idents(r)).unwrap_or_default();
    let common_left: Vec<&String> = left.iter().filter(|c| right.contains(c)).collect();
    let common_right: Vec<&String> = right.iter().filter(|c| left.contains(c)).collect();
    (common_left != common_right).then(|| Change::ColumnOrder {
        key: key.to_owned(),
        table: table.to_owned(),
        left,
        right,
    })
}

/// Splits a `", "`-joined list of `quote_ident` output back into names.
fn split_idents(list: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = list.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        name.push('"');
                    } else {
                        break;
                    }
                } else {
                    name.push(c);
                }
            }
            // Skip to the separator.
            for c in chars.by_ref() {
                if c == ',' {
                    break;
                }
            }
        } else {
            for c in chars.by_ref() {
                if c == ',' {
                    break;
                }
                name.push(c);
            }
        }
        names.push(name);
    }
    names
}

/// Tables that only one side has: qualified name → on the left?
fn whole_tables(changes: &[Change]) -> BTreeMap<&str, bool> {
    changes
        .iter()
        .filter_map(|change| match change {
            Change::OnlyLeft { object, .. } if object.kind == ObjectKind::Table => {
                Some((object.name.as_str(), true))
            }
            Change::OnlyRight { object, .. } if object.kind == ObjectKind::Table => {
                Some((object.name.as_str(), false))
            }
            _ => None,
        })
        .collect()
}

/// The table a change is folded into, when the change is about a part of
/// a table that the same side alone has.
fn folded_into<'a>(change: &Change, whole_tables: &BTreeMap<&'a str, bool>) -> Option<&'a str> {
    let (object, on_left) = match change {
        Change::OnlyLeft { object, .. } => (object, true),
        Change::OnlyRight { object, .. } => (object, false),
        _ => return None,
    };
    let belongs = |table: &str| match object.kind {
        ObjectKind::Index => object.attr("table") == Some(table),
        ObjectKind::Column | ObjectKind::Constraint | ObjectKind::Trigger | ObjectKind::Policy => {
            object
                .name
                .strip_prefix(table)
                .is_some_and(|rest| rest.starts_with('.'))
        }
        _ => false,
    };
    whole_tables
        .iter()
        .find(|&(table, &left)| left == on_left && belongs(table))
        .map(|(table, _)| *table)
}

fn change_kind(change: &Change) -> ObjectKind {
    match change {
        Change::OnlyLeft { object, .. } | Change::OnlyRight { object, .. } => object.kind,
        _ => ObjectKind::Table,
    }
}

/// A short description after the key, so that a reader sees what the
/// missing object is without opening a snapshot.
fn describe(object: &Object) -> String {
    let attr = |name| object.attr(name).filter(|v| !v.contains('\n'));
    match object.kind {
        ObjectKind::Table => attr("columns").map(|c| format!(" ({c})")),
        ObjectKind::Column => attr("type").map(|t| format!(" ({t})")),
        ObjectKind::Constraint => attr("definition").map(|d| format!(" ({d})")),
        ObjectKind::Enum => attr("labels").map(|l| format!(" ({l})")),
        ObjectKind::Index => attr("definition").and_then(describe_index),
        _ => None,
    }
    .unwrap_or_default()
}

/// `CREATE UNIQUE INDEX i ON public.jobs USING btree (chat_id)` →
/// `" unique on jobs (chat_id)"`.
fn describe_index(definition: &str) -> Option<String> {
    let (head, target) = definition.split_once(" ON ")?;
    let target = target.strip_prefix("ONLY ").unwrap_or(target);
    let target = target.strip_prefix("public.").unwrap_or(target);
    let target = target.replacen(" USING btree ", " ", 1);
    let unique = if head.starts_with("CREATE UNIQUE") {
        " unique"
    } else {
        ""
    };
    Some(format!("{unique} on {target}"))
}

fn describe_children(children: &BTreeMap<ObjectKind, usize>) -> String {
    let parts: Vec<String> = children
        .iter()
        .filter(|(kind, _)| **kind != ObjectKind::Column)
        .map(|(kind, n)| {
            let word = match (kind, *n == 1) {
                (ObjectKind::Index, false) => "indexes".to_owned(),
                (ObjectKind::Policy, false) => "policies".to_owned(),
                (kind, true) => kind.to_string(),
                (kind, false) => format!("{kind}s"),
            };
            format!("{n} {word}")
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" with {}", parts.join(", "))
    }
}

/// One change as a summary line and, for multi-line values, a line diff.
fn render_change(change: &Change, left_side: &str, right_side: &str) -> Vec<String> {
    match change {
        Change::OnlyLeft { .. } => vec![format!("exists {left_side}, missing {right_side}")],
        Change::OnlyRight { .. } => vec![format!("missing {left_side}, exists {right_side}")],
        Change::ColumnOrder { left, right, .. } => vec![format!(
            "columns in order ({}) {left_side}, ({}) {right_side} (minor)",
            ident_list(left),
            ident_list(right)
        )],
        Change::Differs {
            attr, left, right, ..
        } => {
            let (l, r) = (left.as_deref(), right.as_deref());
            if l.is_some_and(|v| v.contains('\n')) || r.is_some_and(|v| v.contains('\n')) {
                let mut lines = vec![format!(
                    "{} differs (- {left_side}, + {right_side}):",
                    attr.replace('_', " ")
                )];
                lines.extend(line_diff(l.unwrap_or(""), r.unwrap_or("")));
                lines
            } else {
                vec![format!(
                    "{} {left_side}, {} {right_side}",
                    phrase(attr, l),
                    phrase(attr, r)
                )]
            }
        }
    }
}

/// Column names as SQL would write them, so that a name with a comma or
/// a capital letter reads unambiguously.
fn ident_list(names: &[String]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|name| {
            let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if plain {
                name.clone()
            } else {
                format!("\"{}\"", name.replace('"', "\"\""))
            }
        })
        .collect();
    quoted.join(", ")
}

/// An attribute value as words: `default 0`, `no default`, `NOT NULL`, `INVALID`.
fn phrase(attr: &str, value: Option<&str>) -> String {
    match (attr, value) {
        ("not_null", Some("true")) => "NOT NULL".to_owned(),
        ("not_null", _) => "nullable".to_owned(),
        // PG18: a NOT NULL constraint added NOT VALID.
        ("not_null_validated", Some("false")) => "NOT NULL NOT VALID".to_owned(),
        ("not_null_validated", _) => "NOT NULL validated".to_owned(),
        ("valid", Some("false")) => "INVALID".to_owned(),
        ("valid", _) => "valid".to_owned(),
        ("validated", Some("false")) => "NOT VALID".to_owned(),
        ("validated", _) => "validated".to_owned(),
        // A trigger's state reads as itself: "enabled", "disabled", ...
        ("enabled", Some(state)) => state.to_owned(),
        ("collation", None) => "the type's default collation".to_owned(),
        (attr, Some(value)) => format!("{} {value}", attr.replace('_', " ")),
        (attr, None) => format!("no {}", attr.replace('_', " ")),
    }
}

/// Lines kept around each change in a multi-line diff.
const CONTEXT: usize = 2;

/// A line diff (longest common subsequence) of two multi-line values,
/// showing changed lines with `- ` / `+ ` and `CONTEXT` unchanged lines
/// around them; skipped runs show as `...`.
fn line_diff(left: &str, right: &str) -> Vec<String> {
    let (l, r): (Vec<&str>, Vec<&str>) = (left.lines().collect(), right.lines().collect());
    // lcs[i][j] = length of the LCS of l[i..] and r[j..].
    let mut lcs = vec![vec![0usize; r.len() + 1]; l.len() + 1];
    for i in (0..l.len()).rev() {
        for j in (0..r.len()).rev() {
            lcs[i][j] = if l[i] == r[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < l.len() || j < r.len() {
        if i < l.len() && j < r.len() && l[i] == r[j] {
            ops.push((' ', l[i]));
            i += 1;
            j += 1;
        } else if i < l.len() && (j == r.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removed lines first, as in a unified diff.
            ops.push(('-', l[i]));
            i += 1;
        } else {
            ops.push(('+', r[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        let from = k.saturating_sub(CONTEXT);
        let to = (k + CONTEXT + 1).min(ops.len());
        ops[from..to].iter().any(|(op, _)| *op != ' ')
    };
    let mut lines = Vec::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near_change(k) {
            if skipped {
                lines.push("  ...".to_owned());
                skipped = false;
            }
            lines.push(format!("{op} {line}").trim_end().to_owned());
        } else {
            skipped = true;
        }
    }
    if skipped {
        lines.push("  ...".to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    //! `diff` on hand-built snapshots: the changes it finds, one per line,
    //! then what `Diff::render` shows a person. After an intended change,
    //! `UPDATE_EXPECT=1 cargo test -p migcheck --lib schema::diff` rewrites
    //! the snapshots; review the diff.

    use expect_test::{Expect, expect};

    use super::*;

    /// An object from its key (`"column public.jobs.id"`) and attributes.
    fn object(key: &str, attrs: &[(&str, &str)]) -> Object {
        let (kind, name) = ObjectKind::ALL
            .into_iter()
            .find_map(|kind| Some((kind, key.strip_prefix(kind.as_str())?.strip_prefix(' ')?)))
            .unwrap_or_else(|| panic!("`{key}` does not start with an object kind"));
        Object {
            kind,
            name: name.to_owned(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn snapshot(objects: &[Object]) -> Snapshot {
        Snapshot {
            objects: objects
                .iter()
                .map(|o| (o.key(), o.clone().into()))
                .collect(),
        }
    }

    /// The only caller of `diff` here: the changes, whether the whole diff
    /// is minor, and the rendering.
    fn check(left: &[Object], right: &[Object], expected: Expect) {
        let diff = diff(&snapshot(left), &snapshot(right));
        assert!(
            diff.changes.windows(2).all(|w| w[0].key() <= w[1].key()),
            "changes must be sorted by key: {:#?}",
            diff.changes
        );
        let value = |v: &Option<String>| match v {
            Some(v) => v.replace('\n', "\\n"),
            None => "(unset)".to_owned(),
        };
        let mut actual = String::new();
        for change in &diff.changes {
            let line = match change {
                Change::OnlyLeft { key, .. } => format!("only-left {key}"),
                Change::OnlyRight { key, .. } => format!("only-right {key}"),
                Change::Differs {
                    key,
                    attr,
                    left,
                    right,
                } => format!("differs {key} {attr}: {} | {}", value(left), value(right)),
                Change::ColumnOrder {
                    key,
                    table,
                    left,
                    right,
                } => format!(
                    "column-order {key} ({table}): {} | {}",
                    left.join(", "),
                    right.join(", ")
                ),
            };
            let minor = if change.is_minor() { " (minor)" } else { "" };
            actual.push_str(&format!("{line}{minor}\n"));
        }
        actual.push_str(&format!(
            "empty: {}, minor: {}\n--\n",
            diff.is_empty(),
            diff.is_minor()
        ));
        actual.push_str(&diff.render("on the left", "on the right"));
        expected.assert_eq(&actual);
    }

    fn table(name: &str, columns: &str) -> Object {
        object(
            &format!("table {name}"),
            &[("columns", columns), ("kind", "ordinary")],
        )
    }

    fn column(name: &str, ty: &str) -> Object {
        object(
            &format!("column {name}"),
            &[("not_null", "false"), ("type", ty)],
        )
    }

    #[test]
    fn equal_snapshots_have_no_changes() {
        let objects = [
            table("public.jobs", "id"),
            column("public.jobs.id", "bigint"),
        ];
        check(
            &objects,
            &objects,
            expect![[r#"
                empty: true, minor: false
                --
            "#]],
        );
        check(
            &[],
            &[],
            expect![[r#"
                empty: true, minor: false
                --
            "#]],
        );
    }

    #[test]
    fn only_left() {
        check(
            &[
                object("enum public.mood", &[("labels", "sad, happy")]),
                object(
                    "function public.touch()",
                    &[("definition", "BEGIN\n  NEW.at = now();\nEND")],
                ),
            ],
            &[],
            expect![[r#"
                only-left enum public.mood
                only-left function public.touch()
                empty: false, minor: false
                --
                enum public.mood (sad, happy): exists on the left, missing on the right
                function public.touch(): exists on the left, missing on the right
            "#]],
        );
    }

    #[test]
    fn only_right() {
        check(
            &[table("public.jobs", "id, chat_id")],
            &[
                table("public.jobs", "id, chat_id"),
                object(
                    "index public.idx_jobs_chat_id",
                    &[
                        (
                            "definition",
                            "CREATE UNIQUE INDEX idx_jobs_chat_id ON public.jobs USING btree (chat_id)",
                        ),
                        ("table", "public.jobs"),
                    ],
                ),
                object(
                    "constraint public.jobs.jobs_chat_id_check",
                    &[("definition", "CHECK ((chat_id > 0))")],
                ),
                object("schema app", &[]),
            ],
            expect![[r#"
                only-right constraint public.jobs.jobs_chat_id_check
                only-right index public.idx_jobs_chat_id
                only-right schema app
                empty: false, minor: false
                --
                constraint public.jobs.jobs_chat_id_check (CHECK ((chat_id > 0))): missing on the left, exists on the right
                index public.idx_jobs_chat_id unique on jobs (chat_id): missing on the left, exists on the right
                schema app: missing on the left, exists on the right
            "#]],
        );
    }

    #[test]
    fn differing_attributes() {
        // Set on both sides, set on one side only, and the attributes
        // whose values read as words.
        check(
            &[
                object(
                    "column public.jobs.chat_id",
                    &[("not_null", "true"), ("type", "bigint")],
                ),
                object("index public.i", &[("valid", "true")]),
                object("trigger public.jobs.touch", &[("enabled", "enabled")]),
            ],
            &[
                object(
                    "column public.jobs.chat_id",
                    &[("default", "0"), ("not_null", "false"), ("type", "integer")],
                ),
                object("index public.i", &[("valid", "false")]),
                object("trigger public.jobs.touch", &[("enabled", "disabled")]),
            ],
            expect![[r#"
                differs column public.jobs.chat_id default: (unset) | 0
                differs column public.jobs.chat_id not_null: true | false
                differs column public.jobs.chat_id type: bigint | integer
                differs index public.i valid: true | false
                differs trigger public.jobs.touch enabled: enabled | disabled
                empty: false, minor: false
                --
                column public.jobs.chat_id:
                  no default on the left, default 0 on the right
                  NOT NULL on the left, nullable on the right
                  type bigint on the left, type integer on the right
                index public.i: valid on the left, INVALID on the right
                trigger public.jobs.touch: enabled on the left, disabled on the right
            "#]],
        );
    }

    #[test]
    fn a_multi_line_attribute_shows_a_line_diff() {
        let body = |n: &str| format!("BEGIN\n  a;\n  b;\n  c;\n  d;\n  RETURN {n};\nEND");
        check(
            &[object("function public.f()", &[("definition", &body("1"))])],
            &[object("function public.f()", &[("definition", &body("2"))])],
            expect![[r#"
                differs function public.f() definition: BEGIN\n  a;\n  b;\n  c;\n  d;\n  RETURN 1;\nEND | BEGIN\n  a;\n  b;\n  c;\n  d;\n  RETURN 2;\nEND
                empty: false, minor: false
                --
                function public.f(): definition differs (- on the left, + on the right):
                    ...
                      c;
                      d;
                  -   RETURN 1;
                  +   RETURN 2;
                    END
            "#]],
        );
    }

    #[test]
    fn column_order_only_is_minor() {
        check(
            &[table("public.jobs", "id, a, b")],
            &[table("public.jobs", "id, b, a")],
            expect![[r#"
                column-order table public.jobs (public.jobs): id, a, b | id, b, a (minor)
                empty: false, minor: true
                --
                table public.jobs: columns in order (id, a, b) on the left, (id, b, a) on the right (minor)
            "#]],
        );
        // Quoted names are split where quote_ident put them, and shown
        // quoted again.
        check(
            &[table("public.t", r#"id, "Weird, name", "say ""hi""""#)],
            &[table("public.t", r#""say ""hi""", id, "Weird, name""#)],
            expect![[r#"
                column-order table public.t (public.t): id, Weird, name, say "hi" | say "hi", id, Weird, name (minor)
                empty: false, minor: true
                --
                table public.t: columns in order (id, "Weird, name", "say ""hi""") on the left, ("say ""hi""", id, "Weird, name") on the right (minor)
            "#]],
        );
    }

    #[test]
    fn a_column_added_at_the_end_is_not_a_column_order_change() {
        check(
            &[
                table("public.jobs", "id, a"),
                column("public.jobs.id", "bigint"),
            ],
            &[
                table("public.jobs", "id, a, b"),
                column("public.jobs.id", "bigint"),
                column("public.jobs.b", "text"),
            ],
            expect![[r#"
                only-right column public.jobs.b
                empty: false, minor: false
                --
                column public.jobs.b (text): missing on the left, exists on the right
            "#]],
        );
        // Nor is one added in the middle, or one dropped: the columns both
        // sides have keep their order.
        check(
            &[table("public.jobs", "id, a, c")],
            &[table("public.jobs", "id, b, c")],
            expect![[r#"
                empty: true, minor: false
                --
            "#]],
        );
        // But an added column and a reordering are both reported.
        check(
            &[table("public.jobs", "id, a, b")],
            &[table("public.jobs", "id, b, a, c")],
            expect![[r#"
                column-order table public.jobs (public.jobs): id, a, b | id, b, a, c (minor)
                empty: false, minor: true
                --
                table public.jobs: columns in order (id, a, b) on the left, (id, b, a, c) on the right (minor)
            "#]],
        );
    }

    #[test]
    fn changes_group_per_object() {
        // Changes to one object are one entry; a table that one side alone
        // has folds in its columns, constraints, indexes and triggers, but
        // not another table's index or the other side's objects.
        check(
            &[
                table("public.jobs", "id, chat_id"),
                column("public.jobs.id", "bigint"),
                column("public.jobs.chat_id", "bigint"),
                object(
                    "constraint public.jobs.jobs_pkey",
                    &[("definition", "PRIMARY KEY (id)")],
                ),
                object("index public.jobs_pkey", &[("table", "public.jobs")]),
                object("index public.jobs_chat", &[("table", "public.jobs")]),
                object("trigger public.jobs.touch", &[]),
                table("public.users", "id, name"),
                column("public.users.name", "text"),
                object("index public.jobs2_x", &[("table", "public.jobs2")]),
            ],
            &[
                table("public.users", "name, id"),
                object(
                    "column public.users.name",
                    &[("not_null", "true"), ("type", "varchar(40)")],
                ),
                object("index public.jobs_old", &[("table", "public.jobs")]),
            ],
            expect![[r#"
                only-left column public.jobs.chat_id
                only-left column public.jobs.id
                differs column public.users.name not_null: false | true
                differs column public.users.name type: text | varchar(40)
                only-left constraint public.jobs.jobs_pkey
                only-left index public.jobs2_x
                only-left index public.jobs_chat
                only-right index public.jobs_old
                only-left index public.jobs_pkey
                only-left table public.jobs
                column-order table public.users (public.users): id, name | name, id (minor)
                only-left trigger public.jobs.touch
                empty: false, minor: false
                --
                column public.users.name:
                  nullable on the left, NOT NULL on the right
                  type text on the left, type varchar(40) on the right
                index public.jobs2_x: exists on the left, missing on the right
                index public.jobs_old: missing on the left, exists on the right
                table public.jobs (id, chat_id) with 1 constraint, 2 indexes, 1 trigger: exists on the left, missing on the right
                table public.users: columns in order (id, name) on the left, (name, id) on the right (minor)
            "#]],
        );
    }

    #[test]
    fn diffs_leave_version_tables_and_what_belongs_to_them_out() {
        let object = |kind, name: &str, attrs: &[(&str, &str)]| Object {
            kind,
            name: name.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let objects = [
            object(ObjectKind::Table, "public.__diesel_schema_migrations", &[]),
            object(
                ObjectKind::Column,
                "public.__diesel_schema_migrations.version",
                &[],
            ),
            object(
                ObjectKind::Constraint,
                "public.schema_migrations.schema_migrations_pkey",
                &[],
            ),
            object(
                ObjectKind::Index,
                "public.schema_migrations_pkey",
                &[("table", "public.schema_migrations")],
            ),
            object(
                ObjectKind::Sequence,
                "public.schema_migrations_id_seq",
                &[("owned_by", "public.schema_migrations.id")],
            ),
            object(ObjectKind::Table, "public.users", &[]),
        ];
        let right = Snapshot {
            objects: objects.into_iter().map(|o| (o.key(), o.into())).collect(),
        };
        let empty = Snapshot::default();
        let keys = |diff: Diff| -> Vec<String> {
            diff.changes.iter().map(|c| c.key().to_string()).collect()
        };
        assert_eq!(keys(diff(&empty, &right)), ["table public.users"]);
        assert_eq!(keys(diff_all(&empty, &right)).len(), 6);
    }
}
