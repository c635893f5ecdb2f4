//! Export and import of trends: newline-delimited JSON tuples `["path", ts, value]`
//! (the SimpleStats format; `1322721979.0` style float times are accepted) and CSV
//! `path,ts,value` (header line, RFC 4180 quoting: paths hold commas).
//!
//! Import folds each tuple in as one sample of its series at its time, straight into
//! the compressed chunks of every archive (the bulk path, [`TrendStore::import_compacted`]):
//! history does not pass through interval blobs and does not change the tree totals.
//! A bad line is reported with its number and skipped; the good ones are kept.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read, Write};
use std::sync::atomic::Ordering;

use super::TrendStore;
use super::blob::chunk_key;
use super::compact::chunk_start;
use super::error::{Result, TrendError};
use super::rollup::{Agg, Chunk};
use super::shared::Core;
use super::storage::{Op, Space};
use crate::{Action, Stats};

/// An export/import format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `["path", ts, value]` per line.
    Ndjson,
    /// `path,ts,value` with a header line.
    Csv,
}

impl std::str::FromStr for Format {
    type Err = TrendError;
    fn from_str(s: &str) -> Result<Format> {
        match s {
            "ndjson" | "json" | "jsonl" => Ok(Format::Ndjson),
            "csv" => Ok(Format::Csv),
            other => Err(TrendError::bad_query(format!(
                "unknown format {other:?} (ndjson or csv)"
            ))),
        }
    }
}

/// A line import skipped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong with it.
    pub message: String,
}

/// What an import did (serializes as `{"imported", "skipped", "future",
/// "outside_retention", "errors": [{"line", "message"}]}` for `POST /import`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Samples stored (and readable back).
    pub imported: u64,
    /// Lines skipped (all of them, also those beyond `errors`), including `future`.
    pub skipped: u64,
    /// Lines refused because their time lies beyond the store's clock plus
    /// `engine.max_future` (also counted in `skipped`).
    pub future: u64,
    /// Well-formed samples older than the longest archive's span: not stored, since
    /// nothing could read them back (not counted in `imported`).
    pub outside_retention: u64,
    /// The first [`MAX_REPORTED`] skipped lines with their reason.
    pub errors: Vec<LineError>,
}

/// Skipped lines reported by number (the rest are only counted).
pub const MAX_REPORTED: usize = 100;
/// Longest line import reads; longer lines are skipped.
pub const MAX_LINE: usize = 64 * 1024;
/// Samples buffered before they are folded into the store.
const IMPORT_BATCH: usize = 1 << 20;

impl TrendStore {
    /// Writes every point of the series under `pattern` in `[from, until)` (finest
    /// archive covering the range, no downsampling). Returns the number of lines.
    ///
    /// # Errors
    /// `BadQuery`; `Io` when the writer fails; `Storage`, `Corrupt`.
    pub fn export<W: Write>(
        &self,
        pattern: &str,
        from: i64,
        until: i64,
        format: Format,
        mut out: W,
    ) -> Result<u64> {
        let series = self.series(pattern, from, until, 0)?;
        let mut n = 0;
        if format == Format::Csv {
            out.write_all(b"path,ts,value\n")?;
        }
        for s in &series {
            for &(ts, v) in &s.points {
                match format {
                    Format::Ndjson => {
                        serde_json::to_writer(&mut out, &(&s.path, ts, v)).map_err(|e| {
                            TrendError::new(super::TrendErrorKind::Io, e.to_string())
                        })?;
                        out.write_all(b"\n")?;
                    }
                    Format::Csv => {
                        write_csv_field(&mut out, &s.path)?;
                        writeln!(out, ",{ts},{v}")?;
                    }
                }
                n += 1;
            }
        }
        out.flush()?;
        Ok(n)
    }

    /// Reads tuples and folds each in as one sample of its series at its time, new
    /// series getting `action`. Bad lines are skipped and reported by number.
    ///
    /// # Errors
    /// `Io` when reading fails; `Storage`. Bad lines are not errors.
    pub fn import<R: Read>(
        &self,
        input: R,
        format: Format,
        action: Action,
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let mut reader = std::io::BufReader::new(input);
        let mut line = Vec::new();
        let mut batch: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
        let mut buffered = 0;
        let mut no = 0u64;
        loop {
            line.clear();
            let got = (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)?;
            if got == 0 {
                break;
            }
            no += 1;
            if line.last() != Some(&b'\n') && got > MAX_LINE {
                skip_rest(&mut reader)?;
                reject(
                    &mut report,
                    no,
                    format!("line longer than {MAX_LINE} bytes"),
                );
                continue;
            }
            let text = match std::str::from_utf8(&line) {
                Ok(t) => t.trim(),
                Err(_) => {
                    reject(&mut report, no, "not UTF-8".into());
                    continue;
                }
            };
            if text.is_empty() || (format == Format::Csv && no == 1 && text == "path,ts,value") {
                continue;
            }
            match parse_line(text, format) {
                Ok((_, ts, _)) if ts > self.inner.core.horizon() => {
                    report.future += 1;
                    reject(
                        &mut report,
                        no,
                        format!(
                            "time {ts} is more than {}s ahead of the server's clock",
                            self.inner.core.max_future.load(Ordering::Relaxed)
                        ),
                    );
                }
                Ok((path, ts, v)) => {
                    batch.entry(path).or_default().push((ts, v));
                    buffered += 1;
                }
                Err(msg) => reject(&mut report, no, msg),
            }
            if buffered >= IMPORT_BATCH {
                self.import_batch(&mut batch, action, &mut report)?;
                buffered = 0;
            }
        }
        self.import_batch(&mut batch, action, &mut report)?;
        self.inner.core.storage.flush()?;
        Ok(report)
    }

    fn import_batch(
        &self,
        batch: &mut HashMap<String, Vec<(i64, f64)>>,
        action: Action,
        report: &mut ImportReport,
    ) -> Result<()> {
        for (path, samples) in batch.drain() {
            let (stored, outside) = self.import_series(&path, action, &samples)?;
            report.imported += stored;
            report.outside_retention += outside;
        }
        Ok(())
    }

    /// The bulk path: folds `samples` (`(time, value)`, any order) of one series into
    /// the chunks of every archive in one transaction. A new series gets `action`;
    /// an existing one keeps its own. Samples beyond the store's clock plus
    /// `max_future` are left out (they would move "now" for retention), and so are
    /// samples older than every archive's span. Does not flush (call
    /// [`TrendStore::flush`]). Returns the samples stored.
    ///
    /// # Errors
    /// `BadQuery` for a path that breaks the key rules; `Storage`, `Corrupt`.
    pub fn import_compacted(
        &self,
        path: &str,
        action: Action,
        samples: &[(i64, f64)],
    ) -> Result<u64> {
        Ok(self.import_series(path, action, samples)?.0)
    }

    /// As [`TrendStore::import_compacted`]: `(stored, older than retention)`.
    fn import_series(
        &self,
        path: &str,
        action: Action,
        samples: &[(i64, f64)],
    ) -> Result<(u64, u64)> {
        crate::path::check_path(path)
            .map_err(|e| TrendError::bad_query(e.message().to_string()))?;
        let core = &*self.inner.core;
        let horizon = core.horizon();
        let kept: Vec<(i64, f64)>;
        let samples = if samples.iter().any(|s| s.0 > horizon) {
            kept = samples.iter().copied().filter(|s| s.0 <= horizon).collect();
            &kept[..]
        } else {
            samples
        };
        if samples.is_empty() {
            return Ok((0, 0));
        }
        let (id, fresh) = core.index.write().intern(path);
        let step0 = core.cfg.retention.archives()[0].step;
        if let Some(max_ts) = samples.iter().map(|s| s.0).max() {
            let t = max_ts.div_euclid(step0) * step0;
            core.bump_newest(t.saturating_add(step0));
        }
        let _w = core.write_lock.lock();
        let (mut ops, outside) = fold_samples(core, id, action, samples)?;
        if fresh {
            ops.push(Op::Put(
                Space::Paths,
                id.to_be_bytes().to_vec(),
                path.as_bytes().to_vec(),
            ));
        }
        ops.push(core.newest_op());
        core.storage.apply(ops)?;
        Ok((samples.len() as u64 - outside, outside))
    }
}

/// Chunk writes that fold one series' samples into every archive, and how many
/// samples no archive keeps (older than the longest span).
/// Time-sorted input (the usual case) folds in one linear pass per archive; other
/// input is sorted first (stably, so equal times keep their order for `last`).
fn fold_samples(
    core: &Core,
    id: u32,
    action: Action,
    samples: &[(i64, f64)],
) -> Result<(Vec<Op>, u64)> {
    let sorted;
    let samples = if samples.is_sorted_by_key(|s| s.0) {
        samples
    } else {
        let mut v = samples.to_vec();
        v.sort_by_key(|s| s.0);
        sorted = v;
        &sorted
    };
    let newest = core.retention_now();
    let mut ops = Vec::new();
    let mut kept_by_any = vec![false; samples.len()];
    for (a, arch) in core.cfg.retention.archives().iter().enumerate() {
        let a = u8::try_from(a).unwrap_or(u8::MAX);
        let keep_from = newest.saturating_sub(arch.span);
        let mut chunks: BTreeMap<i64, BTreeMap<i64, Agg>> = BTreeMap::new();
        let mut run: Option<(i64, Agg)> = None;
        let mut emit = |bucket: i64, agg: Agg| {
            chunks
                .entry(chunk_start(bucket, arch.step))
                .or_default()
                .entry(bucket)
                .and_modify(|x| x.merge(&agg))
                .or_insert(agg);
        };
        for (i, &(ts, v)) in samples.iter().enumerate() {
            let bucket = ts.div_euclid(arch.step) * arch.step;
            if bucket.saturating_add(arch.step) <= keep_from {
                continue;
            }
            kept_by_any[i] = true;
            let agg = Agg::of(Stats::one(v), ts);
            match &mut run {
                Some((b, acc)) if *b == bucket => acc.merge(&agg),
                _ => {
                    if let Some((b, acc)) = run.take() {
                        emit(b, acc);
                    }
                    run = Some((bucket, agg));
                }
            }
        }
        if let Some((b, acc)) = run {
            emit(b, acc);
        }
        for (cstart, buckets) in chunks {
            let key = chunk_key(a, id, cstart);
            let mut chunk = match core.storage.get(Space::Chunks, &key)? {
                Some(v) => Chunk::decode(&v)?,
                None => Chunk {
                    action,
                    buckets: BTreeMap::new(),
                    hists: BTreeMap::new(),
                },
            };
            for (t, agg) in buckets {
                chunk
                    .buckets
                    .entry(t)
                    .and_modify(|x| x.merge(&agg))
                    .or_insert(agg);
            }
            ops.push(Op::Put(Space::Chunks, key.to_vec(), chunk.encode()));
        }
    }
    let outside = kept_by_any.iter().filter(|k| !**k).count() as u64;
    Ok((ops, outside))
}

fn reject(report: &mut ImportReport, line: u64, message: String) {
    report.skipped += 1;
    if report.errors.len() < MAX_REPORTED {
        report.errors.push(LineError { line, message });
    }
}

fn skip_rest<R: BufRead>(r: &mut R) -> Result<()> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            r.consume(i + 1);
            return Ok(());
        }
        let n = buf.len();
        r.consume(n);
    }
}

fn parse_line(text: &str, format: Format) -> Result<(String, i64, f64), String> {
    let (path, ts, v) = match format {
        Format::Ndjson => {
            let val: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
            let arr = val
                .as_array()
                .filter(|a| a.len() == 3)
                .ok_or("expected [\"path\", ts, value]")?;
            let path = arr[0].as_str().ok_or("path is not a string")?.to_string();
            let ts = arr[1].as_f64().ok_or("time is not a number")?;
            let v = arr[2].as_f64().ok_or("value is not a number")?;
            (path, ts, v)
        }
        Format::Csv => {
            let fields = split_csv(text)?;
            let [path, ts, v] = <[String; 3]>::try_from(fields)
                .map_err(|f| format!("expected 3 fields (path,ts,value), got {}", f.len()))?;
            let ts: f64 = ts
                .trim()
                .parse()
                .map_err(|_| format!("time {ts:?} is not a number"))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("value {v:?} is not a number"))?;
            (path, ts, v)
        }
    };
    crate::path::check_path(&path).map_err(|e| e.message().to_string())?;
    if !v.is_finite() {
        return Err("value is not finite".into());
    }
    if !ts.is_finite() || ts.abs() > 1e15 {
        return Err("time is out of range".into());
    }
    // Checked to lie well inside i64 just above; fractional seconds are dropped.
    #[allow(clippy::cast_possible_truncation)]
    let ts = ts.trunc() as i64;
    Ok((path, ts, v))
}

fn write_csv_field<W: Write>(out: &mut W, field: &str) -> std::io::Result<()> {
    if field.contains([',', '"', '\n', '\r']) {
        out.write_all(b"\"")?;
        out.write_all(field.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(field.as_bytes())
    }
}

fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
            }
            (_, c) => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    fields.push(cur);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_or_say_why() {
        assert_eq!(
            parse_line(r#"["var1", 1322721979.0, 8.0]"#, Format::Ndjson).unwrap(),
            ("var1".to_string(), 1_322_721_979, 8.0)
        );
        assert_eq!(
            parse_line(r#""a,""b""",10,2.5"#, Format::Csv).unwrap(),
            ("a,\"b\"".to_string(), 10, 2.5)
        );
        for (bad, fmt) in [
            ("[1, 2, 3]", Format::Ndjson),
            (r#"["a", "x", 1]"#, Format::Ndjson),
            (r#"["a", 1]"#, Format::Ndjson),
            (r#"["", 1, 1]"#, Format::Ndjson),
            ("{", Format::Ndjson),
            ("a,1", Format::Csv),
            ("\"a,1,2", Format::Csv),
            ("a,1,x", Format::Csv),
            ("a,1e300,1", Format::Csv),
        ] {
            assert!(parse_line(bad, fmt).is_err(), "{bad}");
        }
    }

    #[test]
    fn csv_fields_round_trip() {
        let mut out = Vec::new();
        write_csv_field(&mut out, "a,\"b\"").unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(split_csv(&s).unwrap(), ["a,\"b\""]);
    }
}
