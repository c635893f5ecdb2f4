//! Debian's Ganglia C modules (`ganglia-monitor`: modcpu.so, modmem.so, modload.so),
//! loaded unchanged as gmond loads them, report values that agree with /proc (issue 18).
//! `.ci/run` installs the package; without it these tests say so and skip.

use std::path::{Path, PathBuf};
use std::time::Duration;

use treestat_agent::agent::load_modules;
use treestat_agent::folder::{ModuleKind, list_modules, modules_table};
use treestat_agent::metric::{Sample, Value};

const GANGLIA_DIR: &str = "/usr/lib/x86_64-linux-gnu/ganglia";

/// The folder of Debian's modules, or `None` (with a message) when absent.
fn ganglia_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(GANGLIA_DIR);
    if dir.join("modcpu.so").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: {GANGLIA_DIR}/modcpu.so is absent (apt-get install ganglia-monitor, \
             as .ci/run does)"
        );
        None
    }
}

fn number(samples: &[Sample], name: &str) -> f64 {
    let s = samples
        .iter()
        .find(|s| s.path == [name])
        .unwrap_or_else(|| panic!("no {name} in {samples:?}"));
    match &s.value {
        Value::Number(n) => *n,
        Value::Text(t) => panic!("{name} is text {t:?}"),
    }
}

fn proc_field(file: &str, key: &str) -> f64 {
    let text = std::fs::read_to_string(file).unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    line[key.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn load_one() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

fn conf(dir: &Path, name: &str, so: &Path) {
    std::fs::write(
        dir.join(format!("{name}.conf")),
        format!("path = {}\n", so.display()),
    )
    .unwrap();
}

#[test]
fn debian_modules_report_what_proc_says() {
    let Some(lib) = ganglia_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for m in ["cpu", "mem", "load"] {
        conf(d, m, &lib.join(format!("mod{m}.so")));
    }
    // A .so that is not a library at all: reported with its cause, the others load.
    std::fs::write(d.join("broken.so"), b"not a library").unwrap();

    let kinds: Vec<String> = list_modules(d)
        .unwrap()
        .iter()
        .map(|e| match &e.kind {
            Ok(ModuleKind::Ganglia { symbol, .. }) => symbol.clone(),
            Ok(k) => k.to_string(),
            Err(e) => e.to_string(),
        })
        .collect();
    assert_eq!(
        kinds[1..],
        ["cpu_module", "load_module", "mem_module"],
        "{kinds:?}"
    );
    assert!(kinds[0].starts_with("native"), "{kinds:?}");
    let table = modules_table(d).unwrap();
    assert!(table.contains("modcpu.so (cpu_module)"), "{table}");

    let mut loaded = load_modules(d, Duration::from_secs(1)).unwrap();
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    assert_eq!(loaded.errors[0].0, "broken");
    assert!(
        loaded.errors[0].1.to_string().contains("cannot load"),
        "{}",
        loaded.errors[0].1
    );
    let names: Vec<&str> = loaded.modules.iter().map(|m| m.module.name()).collect();
    assert_eq!(names, ["cpu", "load", "mem"]);

    let mut samples = Vec::new();
    let load_before = load_one();
    for m in &mut loaded.modules {
        let c = m.module.collect();
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        samples.extend(c.samples);
    }
    let load_after = load_one();

    // CPU count: the processors /proc/cpuinfo lists.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    assert_eq!(number(&samples, "cpu_num"), cpus as f64);
    // Memory total in KB, exactly /proc/meminfo's.
    assert_eq!(
        number(&samples, "mem_total"),
        proc_field("/proc/meminfo", "MemTotal:")
    );
    // Load: the same file, read around the handler call (it changes every 5 s).
    let one = number(&samples, "load_one");
    let (lo, hi) = (load_before.min(load_after), load_before.max(load_after));
    assert!(
        (lo - 0.5..=hi + 0.5).contains(&one),
        "load_one {one}, /proc/loadavg {load_before} .. {load_after}"
    );
    if load_before == load_after {
        // modload's float, read as the decimal it holds (not 10.710000038146973).
        assert_eq!(one, load_before);
    }
    // Groups come from the modules' GROUP metadata, as gmond reads them.
    let group = |name: &str| {
        samples
            .iter()
            .find(|s| s.path == [name])
            .unwrap()
            .group
            .clone()
    };
    assert_eq!(group("cpu_num"), "cpu");
    assert_eq!(group("mem_total"), "memory");
    assert_eq!(group("load_one"), "load");
    // A string metric (cpu's boottime is a number; machine_type is modsys's): none of
    // these three declare one, so every value above was read by its declared type.
    let c = loaded.modules[0].module.collect();
    assert!(c.samples.len() >= 10, "{:?}", c.samples);
    for m in &mut loaded.modules {
        m.module.cleanup();
    }
}

#[test]
fn string_metrics_of_modsys_are_text() {
    let Some(lib) = ganglia_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    conf(tmp.path(), "sys", &lib.join("modsys.so"));
    let mut loaded = load_modules(tmp.path(), Duration::from_secs(1)).unwrap();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let c = loaded.modules[0].module.collect();
    let os = c
        .samples
        .iter()
        .find(|s| s.path == ["os_name"])
        .unwrap_or_else(|| panic!("{:?}", c.samples));
    assert_eq!(os.value, Value::Text("Linux".into()));
}

/// A module in Ganglia's ABI (gm_metric.h's `mmodule`, declared here as the header does),
/// whose init is `INIT` and which declares one double `fake_value` = 41.5.
const FAKE: &str = r#"
#include <stddef.h>
typedef struct { int key; char *name; int tmax; int type; char *units; char *slope;
                 char *fmt; int msg_size; char *desc; void *metadata; } Ganglia_25metric;
typedef union { double d; char str[64]; } g_val_t;
typedef struct mmodule_struct { int version, minor_version; const char *name;
  void *dynamic_load_handle; char *module_name, *metric_name, *module_params;
  void *module_params_list, *config_file; struct mmodule_struct *next;
  unsigned long magic; int (*init)(void *); void (*cleanup)(void);
  Ganglia_25metric *metrics_info; g_val_t (*handler)(int); } mmodule;
static int init_ok(void *pool) { return pool == NULL; }
static int init_fail(void *pool) { (void)pool; return 7; }
static Ganglia_25metric info[] = {
  {0, "fake_value", 90, 7, "x", "both", "%f", 8, "a fake", NULL},
  {0, NULL, 0, 0, NULL, NULL, NULL, 0, NULL, NULL}};
static g_val_t handler(int i) { g_val_t v; v.d = 41.5 + i; return v; }
mmodule fake_module = {20080913, 0, __FILE__, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                       MAGIC, INIT, NULL, info, handler};
"#;

fn compile_fake(dir: &Path, name: &str, init: &str, magic: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, FAKE).unwrap();
    let out = dir.join(format!("{name}.so"));
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O1"])
        .arg(format!("-DINIT={init}"))
        .arg(format!("-DMAGIC={magic}"))
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("running cc");
    assert!(status.success());
    std::fs::remove_file(src).unwrap();
    out
}

#[test]
fn failing_and_foreign_ganglia_modules_are_reported_and_the_agent_goes_on() {
    if ganglia_dir().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    compile_fake(d, "good", "init_ok", "0x474D3332UL");
    compile_fake(d, "fails", "init_fail", "0x474D3332UL");
    compile_fake(d, "foreign", "init_ok", "0x12345678UL");
    let kinds: Vec<String> = list_modules(d)
        .unwrap()
        .iter()
        .map(|e| e.kind.as_ref().unwrap().to_string())
        .collect();
    assert!(
        kinds
            .iter()
            .all(|k| k.starts_with("ganglia ") && k.ends_with("(fake_module)")),
        "{kinds:?}"
    );

    let mut loaded = load_modules(d, Duration::from_secs(1)).unwrap();
    let errors: Vec<String> = loaded
        .errors
        .iter()
        .map(|(m, e)| format!("{m}: {e}"))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("fails: ") && errors[0].contains("init failed (7)"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("foreign: ") && errors[1].contains("not a Ganglia module"),
        "{errors:?}"
    );
    assert_eq!(loaded.modules.len(), 1);
    let c = loaded.modules[0].module.collect();
    assert_eq!(c.samples.len(), 1, "{:?}", c.errors);
    assert_eq!(c.samples[0].value, Value::Number(41.5));
    assert_eq!(
        c.samples[0].group, "good",
        "no GROUP metadata: the module's name"
    );
}

#[test]
fn treestat_native_modules_stay_native() {
    let tmp = tempfile::tempdir().unwrap();
    let so = tmp.path().join("example_c.so");
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-I"])
        .arg(format!("{crate_dir}/include"))
        .arg("-o")
        .arg(&so)
        .arg(format!("{crate_dir}/native/example_module.c"))
        .status()
        .expect("running cc");
    assert!(status.success());
    assert_eq!(treestat_agent::ganglia::module_symbol(&so).unwrap(), None);
    let kind = &list_modules(tmp.path()).unwrap()[0].kind;
    assert_eq!(kind.as_ref().unwrap(), &ModuleKind::Native(so));
    // Not ELF at all: not a Ganglia module either (the native loader reports it).
    let text = tmp.path().join("text.so");
    std::fs::write(&text, "hello").unwrap();
    assert_eq!(treestat_agent::ganglia::module_symbol(&text).unwrap(), None);
}

#[test]
fn every_debian_module_loads_and_reports() {
    let Some(lib) = ganglia_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&lib).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "so") {
            conf(tmp.path(), &stem, &path);
            names.push(stem);
        }
    }
    names.sort();
    let mut loaded = load_modules(tmp.path(), Duration::from_secs(1)).unwrap();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let got: Vec<&str> = loaded.modules.iter().map(|m| m.module.name()).collect();
    assert_eq!(got, names);
    for m in &mut loaded.modules {
        let c = m.module.collect();
        assert!(c.errors.is_empty(), "{}: {:?}", m.module.name(), c.errors);
        assert!(
            !c.samples.is_empty(),
            "{} reported nothing",
            m.module.name()
        );
        eprintln!("{}: {} metrics", m.module.name(), c.samples.len());
    }
}
