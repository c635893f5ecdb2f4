//! The crates' file graphs have no import cycles (issue 17): `scripts/import-cycles.py`
//! run by real Python over this workspace finds none, and over a small crate built here
//! with a known loop it finds that loop and fails.

use std::path::Path;
use std::process::{Command, Output};

fn run_script(root: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/import-cycles.py");
    Command::new("python3")
        .arg(&script)
        .arg(root)
        .output()
        .expect("python3 runs scripts/import-cycles.py")
}

#[test]
fn the_workspace_has_no_import_cycles() {
    let out = run_script(Path::new(env!("CARGO_MANIFEST_DIR")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "import cycles:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("no import cycles ("), "{stdout}");
}

#[test]
fn a_loop_between_files_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("Cargo.toml", "[workspace]\nmembers = [\"a\"]\n");
    write("src/lib.rs", "//! Root crate, no cycle.\npub fn f() {}\n");
    // a: lib re-exports only (a facade, not a dependency); x -> y -> z -> x through a
    // re-export, a `super::` path written inline, and a grouped use; w is left out.
    write(
        "a/src/lib.rs",
        "mod w;\nmod x;\npub mod y;\nmod z;\npub use x::X;\n",
    );
    write(
        "a/src/x.rs",
        "use crate::y::{self, Y};\npub struct X(pub Y);\npub fn f() { y::g() }\n",
    );
    write(
        "a/src/y.rs",
        "pub struct Y;\npub fn g() { let _ = super::z::h(); }\n",
    );
    // `crate::X` is x.rs's X, re-exported by lib.rs.
    write(
        "a/src/z.rs",
        "// use crate::w::W; (a comment, not an import)\n\
         use crate::{X, y::Y};\n\
         pub fn h() -> Option<X> { let _ = \"crate::w::W\"; Some(X(Y)) }\n\
         #[cfg(test)]\nmod tests { use crate::w::W; }\n",
    );
    // w uses z, but nothing uses w outside tests and comments: not in the loop.
    write(
        "a/src/w.rs",
        "pub struct W;\npub fn k() { crate::z::h(); }\n",
    );

    let out = run_script(root);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let cycles: Vec<&str> = stdout.lines().filter(|l| l.starts_with("cycle")).collect();
    assert_eq!(cycles.len(), 1, "{stdout}");
    assert!(
        cycles[0].contains("a/src/x.rs -> a/src/y.rs -> a/src/z.rs -> a/src/x.rs"),
        "{stdout}"
    );
    assert!(cycles[0].starts_with("cycle in a/src/lib.rs: "), "{stdout}");
    assert!(!stdout.contains("w.rs"), "{stdout}");
    assert_eq!(stdout.matches("lib.rs").count(), 1, "{stdout}");

    // Breaking the loop (z no longer names X, nor anything of x or y) makes it pass.
    write("a/src/z.rs", "pub fn h() -> Option<u8> { None }\n");
    let out = run_script(root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
