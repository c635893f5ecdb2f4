//! Python 2 modules in the Ganglia style (tests/py2/py2style.py: print statements,
//! `dict.iteritems`, `has_key`, `except X, e`, urllib2, commands, `string.atoi`, long
//! literals, xrange, tabs mixed with spaces) load under the embedded Python 3 through their 2to3 translation,
//! cached in the module folder keyed by the source's hash, and report (issue 18).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use treestat_agent::agent::load_modules;
use treestat_agent::metric::{Sample, Value};
use treestat_agent::python::PythonHost;
use treestat_agent::python::port::{PORT_DIR, cache_path};

fn py2style() -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py2/py2style.py");
    std::fs::read_to_string(p).unwrap()
}

fn number(samples: &[Sample], name: &str) -> f64 {
    match &samples
        .iter()
        .find(|s| s.path == [name])
        .unwrap_or_else(|| panic!("no {name} in {samples:?}"))
        .value
    {
        Value::Number(n) => *n,
        Value::Text(t) => panic!("{name} is text {t:?}"),
    }
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ported_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(PORT_DIR))
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn a_python2_module_loads_through_2to3_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let source = py2style();
    std::fs::write(d.join("py2style.py"), &source).unwrap();
    std::fs::write(d.join("py2style.conf"), "scale = 2.5\n").unwrap();

    let mut loaded = load_modules(d, Duration::from_secs(1)).unwrap();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let c = loaded.modules[0].module.collect();
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(
        number(&c.samples, "py2_echo"),
        42.0,
        "commands + string.atoi"
    );
    assert_eq!(number(&c.samples, "py2_sum"), 10.0, "0L + xrange");
    assert_eq!(number(&c.samples, "py2_caught"), 2.0, "except X, e");
    assert_eq!(
        number(&c.samples, "py2_tabbed"),
        3.0,
        "a tab in the indentation"
    );
    assert_eq!(
        number(&c.samples, "py2_scale"),
        2.5,
        "iteritems + string.atof"
    );
    assert!(c.samples.iter().all(|s| s.group == "py2"));

    // The translation is cached, keyed by the source's hash, and the table says so.
    let cached = cache_path(d, "py2style", source.as_bytes());
    assert_eq!(ported_files(d), std::slice::from_ref(&cached));
    let text = std::fs::read_to_string(&cached).unwrap();
    assert!(text.contains("except ValueError as e:"), "{text}");
    let table = treestat_agent::folder::modules_table(d).unwrap();
    let line = table.lines().find(|l| l.starts_with("py2style")).unwrap();
    assert!(line.contains(" 2to3 "), "{table}");
    assert!(table.lines().next().unwrap().contains("PORTED"), "{table}");
}

#[test]
fn the_cached_translation_is_used_until_the_source_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let path = d.join("legacy.py");
    let source = py2style();
    std::fs::write(&path, &source).unwrap();
    let host = PythonHost::start().unwrap();

    let m = host
        .load_cached("legacy", &path, params(&[]), Some(d))
        .unwrap();
    let cached = cache_path(d, "legacy", source.as_bytes());
    assert_eq!(m.ported(), Some(cached.display().to_string().as_str()));
    drop(m);

    // A second load reads the cache (edited here to tell it apart), not 2to3 again.
    let text = std::fs::read_to_string(&cached).unwrap();
    std::fs::write(&cached, text.replace("return int(total)", "return 1000")).unwrap();
    let mut m = host
        .load_cached("legacy", &path, params(&[]), Some(d))
        .unwrap();
    assert_eq!(
        number(
            &treestat_agent::module::Module::collect(&mut m).samples,
            "py2_sum"
        ),
        1000.0
    );
    drop(m);

    // A changed source has another hash: translated again, beside the old one.
    let changed = format!("{source}\n# edited\n");
    std::fs::write(&path, &changed).unwrap();
    let mut m = host
        .load_cached("legacy", &path, params(&[]), Some(d))
        .unwrap();
    assert_eq!(
        number(
            &treestat_agent::module::Module::collect(&mut m).samples,
            "py2_sum"
        ),
        10.0
    );
    assert_eq!(ported_files(d).len(), 2);
    assert!(cache_path(d, "legacy", changed.as_bytes()).exists());

    // Without a cache folder the translation is made in memory.
    let m = host.load("legacy", &path, params(&[])).unwrap();
    assert_eq!(
        m.ported(),
        Some(format!("{} (2to3)", path.display()).as_str())
    );
}

#[test]
fn python2_imports_and_shims_without_syntax_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let host = PythonHost::start().unwrap();
    // Valid Python 3 syntax, but urllib2 is Python 2's: ported on the failed import.
    let imports = d.join("imports.py");
    std::fs::write(
        &imports,
        "import urllib2\nimport string\n\ndef metric_init(params):\n    \
         return [{'name': 'opener', 'value_type': 'uint',\n             \
         'call_back': lambda n: string.atoi(str(len(urllib2.build_opener.__name__))) }]\n",
    )
    .unwrap();
    let mut m = host
        .load_cached("imports", &imports, params(&[]), Some(d))
        .unwrap();
    assert!(m.ported().is_some());
    let c = treestat_agent::module::Module::collect(&mut m);
    assert_eq!(number(&c.samples, "opener"), 12.0, "{:?}", c.errors);

    // Python 3 that uses Python 2's commands module and string functions: not ported,
    // the shims answer.
    let shims = d.join("shims.py");
    std::fs::write(
        &shims,
        "import commands, string\n\ndef metric_init(params):\n    \
         return [{'name': 'answer', 'value_type': 'float', 'call_back': lambda n: \
         string.atof(string.strip(commands.getoutput('echo 4.5')))},\n            \
         {'name': 'parts', 'value_type': 'uint', 'call_back': lambda n: \
         len(string.split('a b c')) + string.atoi('ff', 16)}]\n",
    )
    .unwrap();
    let mut m = host
        .load_cached("shims", &shims, params(&[]), Some(d))
        .unwrap();
    assert_eq!(m.ported(), None);
    let c = treestat_agent::module::Module::collect(&mut m);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(number(&c.samples, "answer"), 4.5);
    assert_eq!(number(&c.samples, "parts"), 258.0);

    // A ported module keeps its `__file__` (modules read files beside themselves).
    let beside = d.join("beside.py");
    std::fs::write(
        &beside,
        "import os\nHERE = os.path.dirname(os.path.abspath(__file__))\n\n\
         def metric_init(params):\n    print 'ported'\n    \
         return [{'name': 'limit', 'value_type': 'uint', 'call_back': lambda n: \
         int(open(os.path.join(HERE, 'limit.txt')).read())}]\n",
    )
    .unwrap();
    std::fs::write(d.join("limit.txt"), "77\n").unwrap();
    let mut m = host
        .load_cached("beside", &beside, params(&[]), Some(d))
        .unwrap();
    assert!(m.ported().is_some());
    let c = treestat_agent::module::Module::collect(&mut m);
    assert_eq!(number(&c.samples, "limit"), 77.0, "{:?}", c.errors);

    // A module that is neither Python 3 nor Python 2 fails with both errors.
    let broken = d.join("broken.py");
    std::fs::write(&broken, "def metric_init(params:\n    return []\n").unwrap();
    let Err(e) = host.load_cached("broken", &broken, params(&[]), Some(d)) else {
        panic!("a broken module loaded");
    };
    let text = e.to_string();
    assert!(text.contains("SyntaxError"), "{text}");
    assert!(text.contains("2to3 cannot translate it"), "{text}");
}
