//! Stats files as tree updates for the agent's `mmstats` module: each label becomes a
//! path under `mmstats,<host>,...` with its dots as levels (`myapp.db.queries` ->
//! `mmstats,web1,myapp,db,queries`).
//!
//! Several processes usually publish the same labels (one file per worker), so values
//! of one path are combined across files: integers (counters) and booleans are summed,
//! floating values (means, gauges, timers) are averaged. Strings become markers, one
//! per distinct text. The per-process default fields (`sys.pid`, `sys.tid`, `sys.uid`,
//! `sys.gid`, `sys.created`) identify a process rather than measure it and are left
//! out. Values are readings (a counter is its total since the process started): push
//! them with action `last`, or difference them between intervals.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::format::Value;
use crate::reader::{Field, read_file};

/// Labels (by suffix) of the default fields, left out of the tree.
const DEFAULT_FIELDS: [&str; 5] = ["sys.pid", "sys.tid", "sys.uid", "sys.gid", "sys.created"];
/// Longest tree key, in bytes (DESIGN.md §2).
const MAX_KEY: usize = 255;

/// What one pass over the files gives the agent.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TreeUpdates {
    /// `(comma path, value)`, sorted by path.
    pub numbers: Vec<(String, f64)>,
    /// `(comma path, text)` for string fields, sorted.
    pub markers: Vec<(String, String)>,
    /// Files read.
    pub files_read: usize,
    /// Files skipped because they were unreadable or not version 1, with the reason;
    /// the module counts these (e.g. under `_treestat,agent,mmstats,bad_files`).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Makes one tree key from a piece of a label: `,` becomes `_`, control characters are
/// dropped, the key is cut to 255 bytes at a character boundary; empty stays empty.
fn key(part: &str) -> String {
    let mut k: String = part
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == ',' { '_' } else { c })
        .collect();
    k.truncate(k.floor_char_boundary(MAX_KEY));
    k
}

/// The tree path of a label under `mmstats,<host>`; `None` when nothing usable is left.
pub(crate) fn label_path(host: &str, label: &str) -> Option<String> {
    let host = key(host);
    let parts: Vec<String> = label
        .split('.')
        .map(key)
        .filter(|k| !k.is_empty())
        .collect();
    if parts.is_empty() || host.is_empty() {
        return None;
    }
    Some(format!("mmstats,{host},{}", parts.join(",")))
}

#[derive(Default)]
struct Acc {
    sum: f64,
    count: u32,
    average: bool,
}

/// Reads every file and turns its fields into tree updates (see the module doc for how
/// files are combined); unreadable and wrong-version files are skipped and listed.
pub fn tree_updates(host: &str, files: &[PathBuf]) -> TreeUpdates {
    let mut out = TreeUpdates::default();
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    let mut markers: BTreeMap<(String, String), ()> = BTreeMap::new();
    for path in files {
        match read_file(path) {
            Ok(fields) => {
                out.files_read += 1;
                add_fields(host, &fields, &mut acc, &mut markers);
            }
            Err(e) => out.skipped.push((path.clone(), e.to_string())),
        }
    }
    out.numbers = acc
        .into_iter()
        .map(|(p, a)| {
            let v = if a.average && a.count > 0 {
                a.sum / f64::from(a.count)
            } else {
                a.sum
            };
            (p, v)
        })
        .collect();
    out.markers = markers.into_keys().collect();
    out
}

fn add_fields(
    host: &str,
    fields: &[Field],
    acc: &mut BTreeMap<String, Acc>,
    markers: &mut BTreeMap<(String, String), ()>,
) {
    for f in fields {
        if DEFAULT_FIELDS.iter().any(|d| f.label.ends_with(d)) {
            continue;
        }
        let Some(path) = label_path(host, &f.label) else {
            continue;
        };
        match &f.value {
            Value::Str(s) => {
                markers.insert((path, s.clone()), ());
            }
            v => {
                let Some(x) = v.as_f64() else { continue };
                let a = acc.entry(path).or_default();
                a.sum += x;
                a.count = a.count.saturating_add(1);
                a.average |= matches!(v, Value::F64(_));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_paths_with_clean_keys() {
        assert_eq!(
            label_path("web1", "app.db.queries").as_deref(),
            Some("mmstats,web1,app,db,queries")
        );
        assert_eq!(
            label_path("web1", ".a..b.").as_deref(),
            Some("mmstats,web1,a,b")
        );
        assert_eq!(
            label_path("web1", "a,b\n.c").as_deref(),
            Some("mmstats,web1,a_b,c")
        );
        assert_eq!(label_path("web1", "..."), None);
        let long = "é".repeat(200);
        let p = label_path("h", &long).unwrap();
        assert_eq!(p.len(), "mmstats,h,".len() + 254);
    }
}
