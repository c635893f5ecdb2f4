//! Python modules through the gmond interface: the shipped example module, and modules
//! that fail in each way Ganglia modules fail (acceptance 1 and 2 of issue 7).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use treestat_agent::agent::load_modules;
use treestat_agent::metric::{Slope, Value, ValueType};
use treestat_agent::module::Module;
use treestat_agent::python::PythonHost;

fn example_py() -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conf/modules/example.py"
    ));
    assert!(p.exists(), "missing {}", p.display());
    p
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => *n,
        Value::Text(t) => panic!("expected a number, got text {t:?}"),
    }
}

#[test]
fn example_module_pushes_constant_and_bounded_random() {
    let host = PythonHost::start().unwrap();
    let mut m = host
        .load(
            "example",
            &example_py(),
            params(&[("RandomMax", "500"), ("ConstantValue", "322")]),
        )
        .unwrap();
    let names: Vec<&str> = m.descriptors().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["example_random", "example_constant"]);
    assert_eq!(m.descriptors()[0].group, "example");
    assert_eq!(m.descriptors()[1].slope, Slope::Zero);
    assert_eq!(m.descriptors()[0].metadata["time_max"], "90");
    for _ in 0..20 {
        let c = m.collect();
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.samples.len(), 2);
        let random = number(&c.samples[0].value);
        assert!((0.0..500.0).contains(&random), "{random} not in [0, 500)");
        assert_eq!(c.samples[1].path, ["example_constant"]);
        assert_eq!(number(&c.samples[1].value), 322.0);
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn failing_modules_are_reported_and_the_others_keep_going() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cleanup_log = d.join("cleanup.log");
    std::fs::copy(example_py(), d.join("example.py")).unwrap();
    write(d, "example.conf", "RandomMax = 500\nConstantValue = 322\n");
    write(
        d,
        "raises.py",
        "def metric_init(params):\n    raise ValueError('no such device: ' + params['dev'])\n",
    );
    write(d, "raises.conf", "dev = sdz\n");
    write(
        d,
        "missing.py",
        "def metric_init(params):\n    limit = params['NeedsThis']\n    return []\n",
    );
    write(d, "syntax.py", "def metric_init(params:\n    return []\n");
    // One dict (not a list), keys in any case, a numeric string for a float metric, an
    // extra key kept as metadata, and a second metric whose callback raises.
    write(
        d,
        "strings.py",
        &format!(
            "import os\n\
             def value(name):\n    return ' 3.25 '\n\
             def broken(name):\n    return {{}}['nope']\n\
             def metric_init(params):\n\
             \x20   return [{{'NAME': 'str_metric', 'Call_Back': value, 'VALUE_TYPE': 'float',\n\
             \x20            'Slope': 'both', 'groups': 'strs, other', 'MyKey': 'kept'}},\n\
             \x20           {{'name': 'broken_metric', 'call_back': broken, 'value_type': 'float'}}]\n\
             def metric_cleanup():\n\
             \x20   with open({:?}, 'a') as f:\n        f.write('cleanup\\n')\n",
            cleanup_log.display().to_string()
        ),
    );
    write(
        d,
        "single.py",
        "def metric_init(params):\n    return {'name': 'one', 'call_back': lambda n: n.upper(), \
         'value_type': 'string'}\n",
    );
    // Disabled: never loaded, never reported.
    write(d, "disabled.py", "raise SystemExit('must not run')\n");
    write(d, "disabled.off", "");

    let mut loaded = load_modules(d, Duration::from_secs(1)).unwrap();
    let mut errors: BTreeMap<String, String> = loaded
        .errors
        .iter()
        .map(|(m, e)| (m.clone(), e.to_string()))
        .collect();
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        ["missing", "raises", "syntax"],
        "{errors:#?}"
    );
    let raises = errors.remove("raises").unwrap();
    assert!(raises.contains("Traceback"), "{raises}");
    assert!(
        raises.contains("ValueError: no such device: sdz"),
        "{raises}"
    );
    let missing = errors.remove("missing").unwrap();
    assert!(missing.contains("KeyError: 'NeedsThis'"), "{missing}");
    let syntax = errors.remove("syntax").unwrap();
    assert!(syntax.contains("SyntaxError"), "{syntax}");

    let names: Vec<&str> = loaded.modules.iter().map(|m| m.module.name()).collect();
    assert_eq!(names, ["example", "single", "strings"]);

    let c = loaded.modules[2].module.collect();
    assert_eq!(c.samples.len(), 1);
    assert_eq!(c.samples[0].group, "strs");
    assert_eq!(c.samples[0].value, Value::Number(3.25));
    assert_eq!(c.errors.len(), 1);
    assert!(c.errors[0].contains("broken_metric"), "{:?}", c.errors);
    assert!(c.errors[0].contains("KeyError: 'nope'"), "{:?}", c.errors);

    let single = loaded.modules[1].module.collect();
    assert_eq!(single.samples[0].value, Value::Text("ONE".into()));

    let example = loaded.modules[0].module.collect();
    assert_eq!(example.samples[1].value, Value::Number(322.0));

    for m in &mut loaded.modules {
        m.module.cleanup();
        m.module.cleanup();
    }
    assert_eq!(std::fs::read_to_string(&cleanup_log).unwrap(), "cleanup\n");
}

#[test]
fn descriptors_keep_metadata_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.py");
    std::fs::write(
        &path,
        "def cb(name):\n    return 'not a number'\n\
         def metric_init(params):\n    assert params == {'a': '1'}, params\n\
         \x20   return [{'NAME': 'm', 'CALL_BACK': cb, 'Units': 'req/s', 'slope': 'positive',\n\
         \x20            'format': '%f', 'Description': 'd', 'time_max': 60, 'extra': 42}]\n",
    )
    .unwrap();
    let host = PythonHost::start().unwrap();
    let mut m = host.load("meta", &path, params(&[("a", "1")])).unwrap();
    let d = &m.descriptors()[0];
    assert_eq!(
        (d.units.as_str(), d.slope, d.value_type),
        ("req/s", Slope::Positive, ValueType::Number)
    );
    assert_eq!(d.group, "meta", "no groups: the module name");
    assert_eq!(d.metadata["extra"], "42");
    assert_eq!(d.metadata["format"], "%f");
    let c = m.collect();
    assert!(c.samples.is_empty());
    assert!(
        c.errors[0].contains("\"not a number\", not a number"),
        "{:?}",
        c.errors
    );
}
