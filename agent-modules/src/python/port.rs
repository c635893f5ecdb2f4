//! Python 2 modules under the embedded Python 3: a module that does not import because
//! it is Python 2 (a `SyntaxError`: print statements, `except X, e`, `0777`, tabs mixed
//! with spaces in indentation (expanded to Python 2's tab stops of 8 first), ...; or a
//! Python 2 standard module missing: `urllib2`, `ConfigParser`, ...) is translated with
//! the 2to3 fixers (`lib2to3` from the standard library, or the maintained `fissix` fork
//! where `lib2to3` is gone, Python 3.13 on) and the translation is imported instead.
//!
//! Translations are cached in the module folder's `.ported/` folder as
//! `<module>-<sha1 of the source>.py`: a changed source is translated again, an
//! unchanged one never twice. The cache is an optimisation: when it cannot be written
//! the translation is used from memory (and the failure logged).
//!
//! Shims, installed once per interpreter, for what the fixers leave: a `commands` module
//! (`getoutput`, `getstatusoutput` from `subprocess`) and the `string` module's old
//! functions (`atoi`, `atof`, `atol`, `split`, `join`, `strip`, `lower`, ...), added to
//! `string` only where it lacks them.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use sha1::{Digest, Sha1};

/// The cache folder inside the module folder.
pub const PORT_DIR: &str = ".ported";

/// Standard modules of Python 2 that Python 3 renamed or folded into others (the
/// imports the 2to3 fixers rewrite): a module failing to import one is ported.
const PY2_MODULES: &[&str] = &[
    "urllib2",
    "urlparse",
    "httplib",
    "ConfigParser",
    "StringIO",
    "cStringIO",
    "cPickle",
    "Queue",
    "SocketServer",
    "xmlrpclib",
    "HTMLParser",
    "htmlentitydefs",
    "Cookie",
    "cookielib",
    "__builtin__",
    "thread",
    "commands",
    "sets",
];

const SHIMS: &str = r#"
import string as _string
import subprocess as _subprocess
import sys as _sys
import types as _types

def install():
    try:
        import commands  # noqa: F401
    except ImportError:
        m = _types.ModuleType('commands', 'Python 2 commands, shimmed by treestat')
        m.getoutput = _subprocess.getoutput
        m.getstatusoutput = _subprocess.getstatusoutput
        _sys.modules['commands'] = m

    def atoi(s, base=10):
        return int(s, base)

    def atol(s, base=10):
        return int(s, base)

    def split(s, sep=None, maxsplit=-1):
        return s.split(sep, maxsplit)

    def join(words, sep=' '):
        return sep.join(words)

    old = {
        'atoi': atoi, 'atol': atol, 'atof': float, 'split': split,
        'splitfields': split, 'join': join, 'joinfields': join,
        'strip': lambda s, c=None: s.strip(c), 'lstrip': lambda s, c=None: s.lstrip(c),
        'rstrip': lambda s, c=None: s.rstrip(c), 'lower': lambda s: s.lower(),
        'upper': lambda s: s.upper(), 'replace': lambda s, a, b, n=-1: s.replace(a, b, n),
        'find': lambda s, *a: s.find(*a), 'rfind': lambda s, *a: s.rfind(*a),
        'count': lambda s, *a: s.count(*a), 'zfill': lambda s, w: str(s).zfill(w),
        'letters': _string.ascii_letters, 'lowercase': _string.ascii_lowercase,
        'uppercase': _string.ascii_uppercase,
    }
    for name, value in old.items():
        if not hasattr(_string, name):
            setattr(_string, name, value)
"#;

const TRANSLATE: &str = r#"
import warnings as _warnings

def translate(source, name):
    with _warnings.catch_warnings():
        _warnings.simplefilter('ignore')
        try:
            from lib2to3 import refactor
            package = 'lib2to3'
        except ImportError:
            from fissix import refactor
            package = 'fissix'
        fixers = refactor.get_fixers_from_package(package + '.fixes')
        tool = refactor.RefactoringTool(fixers)
        if not source.endswith('\n'):
            source += '\n'
        return str(tool.refactor_string(expand_indent(source), name)), package

def expand_indent(source):
    # Python 2 read a tab in indentation as a move to the next multiple of 8 columns;
    # Python 3 refuses tabs mixed with spaces (TabError). Expanding them so keeps the
    # module's blocks as Python 2 saw them.
    out = []
    for line in source.splitlines(True):
        body = line.lstrip(' \t')
        indent = line[:len(line) - len(body)]
        out.append(indent.expandtabs(8) + body if '\t' in indent else line)
    return ''.join(out)
"#;

/// Installs the shims, once per interpreter: the shim module stays in `sys.modules`,
/// which says it is done (checked under the GIL: no lock of our own that a second
/// Python thread could wait on while holding it).
///
/// # Errors
/// The shim code raised (it should not).
pub(super) fn install_shims(py: Python<'_>) -> PyResult<()> {
    const NAME: &str = "treestat_py2_shims";
    let modules = py.import("sys")?.getattr("modules")?;
    if modules.contains(NAME)? {
        return Ok(());
    }
    let m = PyModule::from_code(
        py,
        &c_string(SHIMS),
        c"<treestat py2 shims>",
        c"treestat_py2_shims",
    )?;
    m.getattr("install")?.call0()?;
    modules.set_item(NAME, m)
}

fn c_string(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s).unwrap_or_default()
}

/// Whether an import failure says the module is Python 2.
pub(super) fn is_python2_failure(py: Python<'_>, err: &PyErr) -> bool {
    use pyo3::exceptions::{PyModuleNotFoundError, PySyntaxError};
    if err.is_instance_of::<PySyntaxError>(py) {
        return true;
    }
    err.is_instance_of::<PyModuleNotFoundError>(py)
        && err
            .value(py)
            .getattr("name")
            .and_then(|n| n.extract::<String>())
            .is_ok_and(|n| PY2_MODULES.contains(&n.as_str()))
}

/// The sha1 of `source`, in hex: the cache key.
pub fn source_hash(source: &[u8]) -> String {
    Sha1::digest(source)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where the translation of module `name` with this `source` is cached in `dir`.
pub fn cache_path(dir: &Path, name: &str, source: &[u8]) -> PathBuf {
    dir.join(PORT_DIR)
        .join(format!("{name}-{}.py", source_hash(source)))
}

/// The translation of a Python 2 module and where it came from.
pub(super) struct Ported {
    /// The Python 3 source.
    pub source: String,
    /// The cache file holding it, when there is one.
    pub file: Option<PathBuf>,
    /// `cached`, or the translator that made it now (`lib2to3`, `fissix`).
    pub how: String,
}

/// The translation of `source`: from the cache in `dir` (when given) or made now (and
/// cached).
///
/// # Errors
/// Neither lib2to3 nor fissix imports, or the fixers cannot parse the source: the
/// Python error.
pub(super) fn port(
    py: Python<'_>,
    name: &str,
    source: &str,
    dir: Option<&Path>,
) -> PyResult<Ported> {
    let cached = dir.map(|d| cache_path(d, name, source.as_bytes()));
    if let Some(file) = &cached
        && let Ok(text) = std::fs::read_to_string(file)
    {
        return Ok(Ported {
            source: text,
            file: cached,
            how: "cached".into(),
        });
    }
    let module = PyModule::from_code(
        py,
        &c_string(TRANSLATE),
        c"<treestat 2to3>",
        c"treestat_2to3",
    )?;
    let (text, how): (String, String) = module
        .getattr("translate")?
        .call1((source, format!("{name}.py")))?
        .extract()?;
    let file = cached.and_then(|file| match write_atomic(&file, &text) {
        Ok(()) => Some(file),
        Err(e) => {
            tracing::warn!(
                module = name,
                "cannot cache the 2to3 translation at {}: {e}",
                file.display()
            );
            None
        }
    });
    Ok(Ported {
        source: text,
        file,
        how,
    })
}

fn write_atomic(file: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}
