//! The module folder (docs/AGENT.md, "The module folder"): `<module>.conf` parameters,
//! `.on`/`.off` markers, and the module's code beside it; plus
//! `treestat agent modules|enable|disable`.
//!
//! A module is any name that has a `.conf`, `.py` or `.so` in the folder. It runs unless
//! `<module>.off` exists (`.off` wins over `.on`). Two `.conf` keys are the agent's, not
//! the module's: `path` (where the code is) and `interval` (how often it is collected);
//! every other key is passed to the module as a string parameter.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::parse_duration;
use crate::error::{Error, Result};

/// Where a module's code is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleKind {
    /// A Python file following the Ganglia gmond interface.
    Python(PathBuf),
    /// A shared library with the C ABI of `treestat_module.h`.
    Native(PathBuf),
    /// One of Ganglia's own C modules (`modcpu.so`...): a shared library exporting an
    /// `mmodule` struct under `symbol` (`cpu_module`); see [`crate::ganglia`].
    Ganglia {
        /// The library.
        path: PathBuf,
        /// The exported `*_module` struct.
        symbol: String,
    },
    /// A module built into the agent.
    Builtin,
}

impl fmt::Display for ModuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleKind::Python(p) => write!(f, "python {}", p.display()),
            ModuleKind::Native(p) => write!(f, "native {}", p.display()),
            ModuleKind::Ganglia { path, symbol } => {
                write!(f, "ganglia {} ({symbol})", path.display())
            }
            ModuleKind::Builtin => f.write_str("built-in"),
        }
    }
}

/// One module as the folder describes it.
#[derive(Debug, Clone)]
pub struct ModuleEntry {
    /// The module's name (the file stem).
    pub name: String,
    /// False when `<name>.off` exists.
    pub enabled: bool,
    /// Where its code is, or why that could not be settled.
    pub kind: Result<ModuleKind>,
    /// Parameters from `<name>.conf` (without `path` and `interval`), all strings.
    pub params: BTreeMap<String, String>,
    /// The module's own interval (`.conf` key `interval`), if set.
    pub interval: Option<Duration>,
}

/// Parses `name = value` lines: `#` starts a comment line, blank lines are skipped, a
/// value in double or single quotes loses them.
///
/// # Errors
/// A line without `=` or with an empty name, named by line number.
pub fn parse_conf(text: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::config(format!(
                "line {}: expected `name = value`, got {line:?}",
                i + 1
            )));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(Error::config(format!("line {}: empty name", i + 1)));
        }
        let v = v.trim();
        let v = strip_quotes(v);
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn strip_quotes(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Lists every module in `dir`, sorted by name.
///
/// # Errors
/// The folder cannot be read. A single bad module is reported in its entry's `kind`.
pub fn list_modules(dir: &Path) -> Result<Vec<ModuleEntry>> {
    let names = module_names(dir)?;
    Ok(names.iter().map(|n| read_entry(dir, n)).collect())
}

fn module_names(dir: &Path) -> Result<BTreeSet<String>> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::io_at(dir, &e))?;
    let mut names = BTreeSet::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::io_at(dir, &e))?;
        let path = entry.path();
        let (Some(stem), Some(ext)) = (path.file_stem(), path.extension()) else {
            continue;
        };
        if matches!(ext.to_str(), Some("conf" | "py" | "so"))
            && let Some(stem) = stem.to_str()
        {
            names.insert(stem.to_string());
        }
    }
    Ok(names)
}

fn read_entry(dir: &Path, name: &str) -> ModuleEntry {
    let enabled = !dir.join(format!("{name}.off")).exists();
    let conf_path = dir.join(format!("{name}.conf"));
    let mut params = BTreeMap::new();
    let mut interval = None;
    let mut kind = Ok(());
    if conf_path.exists() {
        match std::fs::read_to_string(&conf_path)
            .map_err(|e| Error::io_at(&conf_path, &e))
            .and_then(|t| parse_conf(&t))
        {
            Ok(p) => params = p,
            Err(e) => {
                kind = Err(Error::config(format!("{}: {e}", conf_path.display())));
            }
        }
    }
    let code_path = params.remove("path");
    if let Some(text) = params.remove("interval") {
        match parse_duration(&text) {
            Ok(d) if !d.is_zero() => interval = Some(d),
            Ok(_) => kind = Err(Error::config(format!("{name}.conf: interval must be > 0"))),
            Err(e) => kind = Err(Error::config(format!("{name}.conf: interval: {e}"))),
        }
    }
    let kind = kind.and_then(|()| resolve_kind(dir, name, code_path.as_deref()));
    ModuleEntry {
        name: name.to_string(),
        enabled,
        kind,
        params,
        interval,
    }
}

fn resolve_kind(dir: &Path, name: &str, code_path: Option<&str>) -> Result<ModuleKind> {
    if let Some(p) = code_path {
        let p = dir.join(p);
        return match p.extension().and_then(|e| e.to_str()) {
            Some("py") => Ok(ModuleKind::Python(p)),
            Some(_) => Ok(shared_library(p)),
            None => Err(Error::config(format!(
                "{name}.conf: path {} has no .py or .so extension",
                p.display()
            ))),
        };
    }
    let py = dir.join(format!("{name}.py"));
    if py.exists() {
        return Ok(ModuleKind::Python(py));
    }
    let so = dir.join(format!("{name}.so"));
    if so.exists() {
        return Ok(shared_library(so));
    }
    if crate::builtin::NAMES.contains(&name) {
        return Ok(ModuleKind::Builtin);
    }
    Err(Error::config(format!(
        "module {name}: no {name}.py or {name}.so, no path = ... in {name}.conf, \
         and no built-in module of that name"
    )))
}

/// A `.so` is a Ganglia module when it exports a `*_module` struct, else treestat's own
/// native ABI (an unreadable file is left to the native loader to report).
fn shared_library(path: PathBuf) -> ModuleKind {
    match crate::ganglia::module_symbol(&path) {
        Ok(Some(symbol)) => ModuleKind::Ganglia { path, symbol },
        _ => ModuleKind::Native(path),
    }
}

/// Switches a module on: removes `<name>.off` and writes `<name>.on`.
///
/// # Errors
/// No module of that name in `dir`, or the marker files cannot be written.
pub fn enable(dir: &Path, name: &str) -> Result<()> {
    set_state(dir, name, true)
}

/// Switches a module off: removes `<name>.on` and writes `<name>.off`.
///
/// # Errors
/// No module of that name in `dir`, or the marker files cannot be written.
pub fn disable(dir: &Path, name: &str) -> Result<()> {
    set_state(dir, name, false)
}

fn set_state(dir: &Path, name: &str, on: bool) -> Result<()> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::config(format!("bad module name {name:?}")));
    }
    if !module_names(dir)?.contains(name) {
        return Err(Error::config(format!(
            "no module {name:?} in {} (expected {name}.conf, .py or .so)",
            dir.display()
        )));
    }
    let (add, remove) = if on { ("on", "off") } else { ("off", "on") };
    let rm = dir.join(format!("{name}.{remove}"));
    match std::fs::remove_file(&rm) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io_at(&rm, &e)),
    }
    let mk = dir.join(format!("{name}.{add}"));
    std::fs::write(&mk, b"").map_err(|e| Error::io_at(&mk, &e))
}

/// The table `treestat agent modules` prints: a header, then name, state, ported and
/// kind, one line each. `ported` is `2to3` for a Python 2 module whose translation of
/// its current source is cached in the folder's `.ported/` (the agent loaded it through
/// that translation), `-` otherwise.
///
/// # Errors
/// The folder cannot be read.
pub fn modules_table(dir: &Path) -> Result<String> {
    let mut out = format!(
        "{:<16} {:<5} {:<6} {}\n",
        "MODULE", "STATE", "PORTED", "KIND"
    );
    for m in list_modules(dir)? {
        let state = if m.enabled { "on" } else { "off" };
        let ported = match &m.kind {
            Ok(ModuleKind::Python(p)) => std::fs::read(p)
                .ok()
                .filter(|src| crate::python::port::cache_path(dir, &m.name, src).exists())
                .map_or("-", |_| "2to3"),
            _ => "-",
        };
        let kind = match &m.kind {
            Ok(k) => k.to_string(),
            Err(e) => format!("error: {e}"),
        };
        out.push_str(&format!(
            "{:<16} {:<5} {:<6} {}\n",
            m.name, state, ported, kind
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_lines_parse() {
        let p = parse_conf("# c\nRandomMax = 500\n\nname = \"a b\"\n").unwrap();
        assert_eq!(p["RandomMax"], "500");
        assert_eq!(p["name"], "a b");
        assert!(parse_conf("novalue").is_err());
    }

    #[test]
    fn markers_switch_modules_and_off_wins() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("cpu.conf"), "interval = 5s\n").unwrap();
        std::fs::write(d.join("mine.py"), "").unwrap();
        std::fs::write(d.join("mine.conf"), "x = 1\npath = mine.py\n").unwrap();
        let list = list_modules(d).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|m| m.enabled));
        assert_eq!(list[0].kind, Ok(ModuleKind::Builtin));
        assert_eq!(list[0].interval, Some(Duration::from_secs(5)));
        assert_eq!(list[1].params.get("x").map(String::as_str), Some("1"));
        assert!(!list[1].params.contains_key("path"));

        disable(d, "cpu").unwrap();
        assert!(d.join("cpu.off").exists() && !d.join("cpu.on").exists());
        assert!(!list_modules(d).unwrap()[0].enabled);
        std::fs::write(d.join("cpu.on"), "").unwrap();
        assert!(!list_modules(d).unwrap()[0].enabled, ".off wins over .on");
        enable(d, "cpu").unwrap();
        assert!(list_modules(d).unwrap()[0].enabled);
        assert!(
            modules_table(d)
                .unwrap()
                .contains("cpu              on    -      built-in")
        );

        assert!(enable(d, "nosuch").is_err());
        assert!(enable(d, "../x").is_err());
    }

    #[test]
    fn unknown_module_without_code_is_an_error_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ghost.conf"), "a = 1\n").unwrap();
        let list = list_modules(dir.path()).unwrap();
        let err = list[0].kind.clone().unwrap_err();
        assert!(err.message().contains("no ghost.py"), "{err}");
    }
}
