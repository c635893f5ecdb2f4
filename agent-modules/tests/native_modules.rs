//! Native modules: the C example in `native/` is compiled with `cc` and loaded, and
//! libraries that break the ABI are refused with a message naming the problem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use treestat_agent::metric::{Slope, Value, ValueType};
use treestat_agent::module::Module;
use treestat_agent::native::NativeModule;
use treestat_agent::tree::Rates;

const CRATE: &str = env!("CARGO_MANIFEST_DIR");

/// Compiles `source` into a shared library in `dir`, named `name.so`.
fn compile(dir: &Path, name: &str, source: &Path) -> PathBuf {
    assert!(source.exists(), "missing {}", source.display());
    let out = dir.join(format!("{name}.so"));
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-I"])
        .arg(format!("{CRATE}/include"))
        .arg("-o")
        .arg(&out)
        .arg(source)
        .status()
        .expect("running cc (a C compiler is needed to build the example module)");
    assert!(status.success(), "cc failed for {}", source.display());
    out
}

fn compile_text(dir: &Path, name: &str, text: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, text).unwrap();
    compile(dir, name, &src)
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_c_example_loads_and_measures() {
    let dir = tempfile::tempdir().unwrap();
    let so = compile(
        dir.path(),
        "example_c",
        Path::new(&format!("{CRATE}/native/example_module.c")),
    );
    let mut m = NativeModule::load(
        "example_c",
        &so,
        &params(&[("ConstantValue", "322"), ("Step", "10")]),
    )
    .unwrap();
    let d = m.descriptors();
    assert_eq!(d.len(), 4);
    assert_eq!(
        (d[0].name.as_str(), d[0].group.as_str()),
        ("c_constant", "example_c")
    );
    assert_eq!(d[1].slope, Slope::Positive);
    assert_eq!(d[2].value_type, ValueType::Text);
    assert_eq!(d[2].group, "example_c", "NULL group: the module name");

    let mut rates = Rates::new();
    let t0 = Instant::now();
    let first = m.collect();
    assert_eq!(first.samples[0].value, Value::Number(322.0));
    assert_eq!(
        first.samples[2].value,
        Value::Text("hello from c_greeting".into())
    );
    assert_eq!(first.errors.len(), 1);
    assert!(
        first.errors[0].contains("c_failing is never available"),
        "{:?}",
        first.errors
    );
    let _ = rates.apply(first.samples, t0);
    let second = m.collect();
    let out = rates.apply(second.samples, t0 + Duration::from_secs(2));
    let counter = out.iter().find(|s| s.path == ["c_counter"]).unwrap();
    assert_eq!(counter.value, Value::Number(5.0), "10 per call over 2 s");
    m.cleanup();
}

#[test]
fn init_failure_is_reported_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let so = compile(
        dir.path(),
        "example_c",
        Path::new(&format!("{CRATE}/native/example_module.c")),
    );
    let err = NativeModule::load("example_c", &so, &BTreeMap::new())
        .err()
        .expect("init must fail without ConstantValue");
    assert!(
        err.message().contains("missing parameter ConstantValue"),
        "{err}"
    );
}

#[test]
fn abi_breaks_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let header = "#include \"treestat_module.h\"\n";
    let no_cleanup = compile_text(
        dir.path(),
        "no_cleanup",
        &format!(
            "{header}uint32_t treestat_module_abi_version(void) {{ return 1; }}\n\
             int treestat_module_init(const treestat_param *p, size_t n, char *e, size_t c) \
             {{ return 0; }}\n\
             const treestat_metric *treestat_module_metrics(size_t *n) {{ *n = 0; return 0; }}\n"
        ),
    );
    let err = NativeModule::load("no_cleanup", &no_cleanup, &BTreeMap::new())
        .err()
        .unwrap();
    assert!(
        err.message()
            .contains("missing symbol treestat_module_cleanup"),
        "{err}"
    );

    let future = compile_text(
        dir.path(),
        "future",
        &format!(
            "{header}uint32_t treestat_module_abi_version(void) {{ return 99; }}\n\
             int treestat_module_init(const treestat_param *p, size_t n, char *e, size_t c) \
             {{ return 0; }}\n\
             const treestat_metric *treestat_module_metrics(size_t *n) {{ *n = 0; return 0; }}\n\
             void treestat_module_cleanup(void) {{}}\n"
        ),
    );
    let err = NativeModule::load("future", &future, &BTreeMap::new())
        .err()
        .unwrap();
    assert!(err.message().contains("ABI version 99"), "{err}");

    let err = NativeModule::load("nothing", &dir.path().join("nothing.so"), &BTreeMap::new())
        .err()
        .unwrap();
    assert!(err.message().contains("cannot load"), "{err}");
}
