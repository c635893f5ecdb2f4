//! Builds the native example pipes (C and Rust) and deliberately broken C plugins into
//! the test target directory, once per test process. Cargo does not build cdylibs for
//! tests, so the harness does: `cc` for C, `cargo build --manifest-path` for Rust.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("treestat-pipes-plugins");
    std::fs::create_dir_all(&d).expect("create plugin dir");
    d
}

fn pipes_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles C source text into a shared library named `lib<name>.so`.
pub fn cc(name: &str, source: &str) -> PathBuf {
    let dir = out_dir();
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("write C source");
    cc_file(name, &src)
}

fn cc_file(name: &str, src: &Path) -> PathBuf {
    let so = out_dir().join(format!("lib{name}.so"));
    run(
        Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-I"])
            .arg(pipes_dir().join("include"))
            .arg("-o")
            .arg(&so)
            .arg(src),
    );
    so
}

/// The C example, `examples/native-c/methods.c`.
pub fn c_example() -> PathBuf {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| cc_file("methods", &pipes_dir().join("examples/native-c/methods.c")))
        .clone()
}

/// The Rust example, `examples/native-rust`, built in release mode.
pub fn rust_example() -> PathBuf {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let target = out_dir().join("native-rust-target");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        run(Command::new(cargo)
            .args(["build", "--release", "--offline", "--manifest-path"])
            .arg(pipes_dir().join("examples/native-rust/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS"));
        let so = target.join("release/libtreestat_pipe_example_slo.so");
        assert!(so.exists(), "cargo built no {}", so.display());
        so
    })
    .clone()
}

const FUNCS: &str = r#"
void *treestat_pipe_init(const char *c, size_t cl, const ts_str *f, size_t n, ts_errbuf *e) {
    (void)c; (void)cl; (void)f; (void)n; (void)e; static int s; return &s; }
int32_t treestat_pipe_process(void *s, const ts_record *r, const ts_emitter *o, ts_errbuf *e) {
    (void)s; (void)r; (void)o; (void)e; return 0; }
"#;

const TAIL_FUNCS: &str = r#"
int32_t treestat_pipe_flush(void *s, const ts_emitter *o, ts_errbuf *e) {
    (void)s; (void)o; (void)e; return 0; }
void treestat_pipe_cleanup(void *s) { (void)s; }
"#;

/// A plugin declaring ABI version 99.
pub fn wrong_abi() -> PathBuf {
    cc(
        "wrong_abi",
        &format!(
            "#include \"treestat_pipe.h\"\nconst uint32_t treestat_pipe_abi_version = 99;\n{FUNCS}{TAIL_FUNCS}"
        ),
    )
}

/// A plugin without `treestat_pipe_flush` and `treestat_pipe_cleanup`.
pub fn missing_symbols() -> PathBuf {
    cc(
        "missing_symbols",
        &format!(
            "#include \"treestat_pipe.h\"\nconst uint32_t treestat_pipe_abi_version = TREESTAT_PIPE_ABI_VERSION;\n{FUNCS}"
        ),
    )
}

/// A library that is no treestat pipe at all.
pub fn not_a_pipe() -> PathBuf {
    cc("not_a_pipe", "int answer(void) { return 42; }\n")
}

/// A plugin whose `process` fails on every record with a message, after emitting once.
pub fn error_return() -> PathBuf {
    cc(
        "error_return",
        &format!(
            r#"#include "treestat_pipe.h"
const uint32_t treestat_pipe_abi_version = TREESTAT_PIPE_ABI_VERSION;
void *treestat_pipe_init(const char *c, size_t cl, const ts_str *f, size_t n, ts_errbuf *e) {{
    (void)c; (void)cl; (void)f; (void)n; (void)e; static int s; return &s; }}
int32_t treestat_pipe_process(void *s, const ts_record *r, const ts_emitter *o, ts_errbuf *e) {{
    (void)s; (void)r; ts_emit(o, "errpipe,seen", 1.0, TS_ACTION_ADD);
    ts_error(e, "this record is not to my taste"); return 7; }}
{TAIL_FUNCS}"#
        ),
    )
}

/// A plugin whose `init` refuses with a message.
pub fn init_fails() -> PathBuf {
    cc(
        "init_fails",
        &format!(
            r#"#include "treestat_pipe.h"
const uint32_t treestat_pipe_abi_version = TREESTAT_PIPE_ABI_VERSION;
void *treestat_pipe_init(const char *c, size_t cl, const ts_str *f, size_t n, ts_errbuf *e) {{
    (void)c; (void)cl; (void)f; (void)n; ts_error(e, "no database configured"); return NULL; }}
int32_t treestat_pipe_process(void *s, const ts_record *r, const ts_emitter *o, ts_errbuf *e) {{
    (void)s; (void)r; (void)o; (void)e; return 0; }}
{TAIL_FUNCS}"#
        ),
    )
}
