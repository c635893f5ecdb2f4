//! `mmstats`: the fields of mmstats files (docs/MMSTATS.md), pushed under
//! `mmstats,<host>,...` with each label's dots as levels; files of writers that are
//! gone are removed, as `cleanstats` (and `treestat mmstats clean`) does.
//!
//! Parameters: `files`, a glob whose last part may hold `*` and `?` (default
//! `$MMSTATS_PATH/mmstats-*`, or the temp directory's); `clean`, whether files whose
//! `sys.pid` process is gone are removed each interval (default `true`).
//!
//! Values of one label are combined over files (integers and booleans summed, floating
//! values averaged; [`treestat_mmstats::tree_updates`]) and sent with action `last`:
//! they are readings (a counter is its total since its process started). Strings are
//! markers. A file that cannot be read is skipped and reported as the module's error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use treestat_model::Action;

use crate::error::{Error, Result};
use crate::metric::{Sample, Slope, Value};
use crate::module::{Collection, Module};

/// The group (top-level key) of the module's values.
const GROUP: &str = "mmstats";

/// The mmstats module.
pub struct Mmstats {
    dir: PathBuf,
    pattern: String,
    clean: bool,
}

impl Mmstats {
    /// Reads `files` and `clean` from the parameters.
    ///
    /// # Errors
    /// `files` has a wildcard outside its last part or no file part, or `clean` is not
    /// `true` or `false`.
    pub fn new(params: &BTreeMap<String, String>) -> Result<Mmstats> {
        let files = params.get("files").map_or_else(
            || treestat_mmstats::default_dir().join("mmstats-*"),
            PathBuf::from,
        );
        let bad = |why: &str| Error::config(format!("mmstats: files = {}: {why}", files.display()));
        let pattern = files
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("no file name part"))?
            .to_string();
        let dir = files.parent().unwrap_or(Path::new(".")).to_path_buf();
        if dir.to_string_lossy().contains(['*', '?']) {
            return Err(bad("wildcards are allowed in the file name only"));
        }
        let clean = match params.get("clean").map(String::as_str) {
            None | Some("true") => true,
            Some("false") => false,
            Some(v) => {
                return Err(Error::config(format!(
                    "mmstats: clean = {v:?}, expected true or false"
                )));
            }
        };
        Ok(Mmstats {
            dir,
            pattern,
            clean,
        })
    }

    /// The files the glob matches now, sorted.
    fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| glob_match(&self.pattern, n))
            })
            .map(|e| e.path())
            .collect();
        files.sort();
        files
    }
}

/// Whether `name` matches `pattern`, where `*` is any run of characters and `?` one.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// The keys under the host of a path `tree_updates` made for host `h`.
fn keys(path: &str) -> Vec<String> {
    path.strip_prefix("mmstats,h,")
        .unwrap_or(path)
        .split(',')
        .map(str::to_string)
        .collect()
}

impl Module for Mmstats {
    fn name(&self) -> &str {
        GROUP
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        let mut files = self.files();
        if self.clean {
            match treestat_mmstats::clean(&files, &mut std::io::sink()) {
                Ok(report) => {
                    for f in &report.removed {
                        tracing::info!(
                            module = GROUP,
                            "removed {}: its writer is gone",
                            f.display()
                        );
                    }
                    files.retain(|f| !report.removed.contains(f));
                }
                Err(e) => out.errors.push(format!("{GROUP}: cleaning: {e}")),
            }
        }
        // The host is the agent's: the tree builder puts it under the group.
        let updates = treestat_mmstats::tree_updates("h", &files);
        for (path, v) in updates.numbers {
            out.samples.push(Sample {
                group: GROUP.to_string(),
                path: keys(&path),
                slope: Slope::Both,
                action: Action::Last,
                value: Value::Number(v),
            });
        }
        for (path, text) in updates.markers {
            let k = keys(&path);
            let k: Vec<&str> = k.iter().map(String::as_str).collect();
            out.samples.push(Sample::text(GROUP, &k, &text));
        }
        for (file, why) in updates.skipped {
            out.errors
                .push(format!("{GROUP}: skipped {}: {why}", file.display()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_the_file_name() {
        assert!(glob_match("mmstats-*", "mmstats-12-12"));
        assert!(glob_match("mmstats-*-?", "mmstats-12-3"));
        assert!(!glob_match("mmstats-*-?", "mmstats-12-34"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYbc"));
        assert!(!glob_match("mmstats-*", "other"));
        assert!(Mmstats::new(&[("files".to_string(), "/tmp/*/x".to_string())].into()).is_err());
        assert!(Mmstats::new(&[("clean".to_string(), "yes".to_string())].into()).is_err());
    }
}
