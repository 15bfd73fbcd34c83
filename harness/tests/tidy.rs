//! Keeps the house what ARCHITECTURE.md says it is: every module and
//! submodule of `harness/src` has its place there, every test file and
//! crate is listed, no module imports one that imports it, `main.rs` stays
//! thin, and no two test files share a name. Reads files only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ lives in the workspace")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn architecture() -> String {
    read(&root().join("ARCHITECTURE.md"))
}

/// The `.rs` files and directories of `dir`, by name without `.rs`.
fn entries(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut names = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            names.insert(name, path);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            names.insert(stem.to_owned(), path);
        }
    }
    names
}

/// The text of the `### `name`` section of ARCHITECTURE.md.
fn section<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("\n### `{name}`\n"))? + 1;
    let rest = &text[start..];
    let end = rest[4..].find("\n#").map_or(rest.len(), |i| i + 5);
    Some(&rest[..end])
}

/// The modules of `harness/src` (the crate's top level).
fn modules() -> BTreeMap<String, PathBuf> {
    let mut modules = entries(&root().join("harness/src"));
    modules.remove("lib");
    modules.remove("main");
    modules
}

/// The source of a module: its file, or every file of its directory,
/// without its tests.
fn source(path: &Path) -> String {
    let files: Vec<PathBuf> = match path.is_dir() {
        true => entries(path)
            .into_values()
            .filter(|p| p.is_file())
            .collect(),
        false => vec![path.to_path_buf()],
    };
    files
        .iter()
        .map(|file| {
            let text = read(file);
            match text.find("#[cfg(test)]\nmod tests") {
                Some(at) => text[..at].to_owned(),
                None => text,
            }
        })
        .collect()
}

/// The names in `names` that `text` uses as `<prefix><name>` (followed by
/// `::`, `;`, `,`, `}` or a space), and those inside `<prefix>{...}`.
fn used(text: &str, prefix: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        let rest = &text[at + prefix.len()..];
        let words: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group[..group.find('}').unwrap_or(0)]
                .split(',')
                .map(|w| w.trim().split("::").next().unwrap_or_default())
                .collect(),
            None => vec![
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or_default(),
            ],
        };
        found.extend(
            words
                .into_iter()
                .filter(|w| names.contains(*w))
                .map(str::to_owned),
        );
    }
    found
}

fn assert_no_circle(deps: &BTreeMap<String, BTreeSet<String>>, what: &str) {
    let circle = circles(deps);
    assert!(
        circle.is_empty(),
        "{what} import each other in a circle: {circle:?} (imports: {deps:?})"
    );
}

/// The members of `deps` (an import graph) that reach themselves.
fn circles(deps: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    deps.keys()
        .filter(|start| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![start.as_str()];
            while let Some(at) = stack.pop() {
                for next in deps.get(at).into_iter().flatten() {
                    if next == *start {
                        return true;
                    }
                    if seen.insert(next.as_str()) {
                        stack.push(next);
                    }
                }
            }
            false
        })
        .cloned()
        .collect()
}

#[test]
fn every_module_has_its_section_and_every_section_its_module() {
    let text = architecture();
    let modules = modules();
    let listed: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("### `")?.strip_suffix('`'))
        .map(str::to_owned)
        .collect();
    let missing: Vec<&String> = modules.keys().filter(|m| !listed.contains(*m)).collect();
    let stale: Vec<&String> = listed
        .iter()
        .filter(|m| !modules.contains_key(*m))
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "ARCHITECTURE.md: modules without a `### `name`` section: {missing:?}; sections of no module: {stale:?}. Add or remove the section."
    );
    // A directory module's section names each of its submodules.
    for (module, path) in modules.iter().filter(|(_, p)| p.is_dir()) {
        let body = section(&text, module).unwrap_or_default();
        let unnamed: Vec<String> = entries(path)
            .into_keys()
            .filter(|child| child != "mod" && !body.contains(&format!("`{child}`")))
            .collect();
        assert!(
            unnamed.is_empty(),
            "ARCHITECTURE.md: the section of `{module}` does not name its submodules {unnamed:?}; say in a few words what each holds"
        );
    }
}

#[test]
fn every_crate_and_test_file_is_listed() {
    let text = architecture();
    let root = root();
    let manifest = read(&root.join("Cargo.toml"));
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = ["))
        .expect("the workspace lists its members");
    for member in members.trim_end_matches(']').split(',') {
        let member = member.trim().trim_matches('"');
        assert!(
            text.contains(&format!("- `{member}/`")),
            "ARCHITECTURE.md's Crates section has no `- `{member}/`` entry"
        );
    }
    for dir in ["harness/tests", "tests", "generators/tests", "benches"] {
        for (name, path) in entries(&root.join(dir)) {
            if path.is_dir() || name == "lib" {
                continue;
            }
            assert!(
                text.contains(&format!("`{name}.rs`")) || text.contains(&format!("`{name}`")),
                "ARCHITECTURE.md does not list {dir}/{name}.rs; say what it tests in the Crates section"
            );
        }
    }
}

#[test]
fn no_two_test_files_share_a_name() {
    let root = root();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for dir in ["harness/tests", "tests", "generators/tests"] {
        for (name, path) in entries(&root.join(dir)) {
            if path.is_dir() || name == "lib" {
                continue;
            }
            if let Some(other) = seen.insert(name.clone(), dir) {
                panic!(
                    "{dir}/{name}.rs and {other}/{name}.rs share a name; name each after what it tests"
                );
            }
        }
    }
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    // Between the crate's top-level modules.
    let modules = modules();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let deps: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|(name, path)| {
            let mut uses = used(&source(path), "crate::", &names);
            uses.remove(name);
            (name.clone(), uses)
        })
        .collect();
    assert_no_circle(&deps, "these modules");
    // Between the children of each directory module.
    for (module, path) in modules.iter().filter(|(_, p)| p.is_dir()) {
        let children: BTreeMap<String, PathBuf> = entries(path)
            .into_iter()
            .filter(|(name, p)| name != "mod" && p.is_file())
            .collect();
        let names: BTreeSet<String> = children.keys().cloned().collect();
        let deps: BTreeMap<String, BTreeSet<String>> = children
            .iter()
            .map(|(name, path)| {
                let text = source(path);
                let mut uses = used(&text, "super::", &names);
                uses.extend(used(&text, &format!("crate::{module}::"), &names));
                uses.remove(name);
                (name.clone(), uses)
            })
            .collect();
        assert_no_circle(&deps, &format!("submodules of `{module}`"));
    }
}

#[test]
fn the_binary_only_parses_and_calls_the_library() {
    let main = read(&root().join("harness/src/main.rs"));
    let lines = main.lines().count();
    assert!(
        lines < 300,
        "harness/src/main.rs has {lines} lines; command code belongs in cli/"
    );
}
