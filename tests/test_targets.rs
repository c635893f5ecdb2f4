//! With `autotests = false` (one integration binary per crate, issue 17), a test file
//! that `tests/main.rs` does not list would never be compiled nor run, in silence. This
//! checks that every `tests/*.rs` of every crate is a module of its `tests/main.rs` or a
//! `[[test]]` target of its own.

use std::path::Path;

/// The workspace members' directories, the root included.
fn crates(root: &Path) -> Vec<std::path::PathBuf> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("the root Cargo.toml lists its members");
    let mut dirs = vec![root.to_path_buf()];
    dirs.extend(
        members
            .split(',')
            .map(|m| m.trim().trim_matches('"'))
            .filter(|m| !m.is_empty())
            .map(|m| root.join(m)),
    );
    dirs
}

#[test]
fn every_test_file_is_compiled_into_a_test_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for dir in crates(root) {
        let tests = dir.join("tests");
        let Ok(entries) = std::fs::read_dir(&tests) else {
            continue;
        };
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        if !manifest.contains("autotests = false") {
            continue; // cargo finds every tests/*.rs itself
        }
        let main = std::fs::read_to_string(tests.join("main.rs")).unwrap_or_default();
        for entry in entries {
            let path = entry.unwrap().path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".rs"))
            else {
                continue;
            };
            if name == "main" {
                continue;
            }
            let listed = main.lines().any(|l| l.trim() == format!("mod {name};"));
            let own_target = manifest.contains(&format!("path = \"tests/{name}.rs\""));
            assert!(
                listed || own_target,
                "{} is in no test target: add `mod {name};` to {} (and `use crate::common;` \
                 for `mod common;` in the file), or a [[test]] to {}",
                path.display(),
                tests.join("main.rs").display(),
                dir.join("Cargo.toml").display()
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} test files found");
}
