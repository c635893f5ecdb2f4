//! An example native pipe in Rust: counts requests within and over a latency
//! objective, `<prefix>,ok` and `<prefix>,slow` (add), from `$request_time`.
//!
//! Config (JSON): `{"threshold": 0.5, "prefix": "slo", "panic_uri": "/boom"}`; all
//! optional. `panic_uri` makes `process` panic on that URI, to show that a panic in a
//! plugin is caught by `declare_pipe!` and reported as an error, never a crash.
//!
//! Build: `cargo build --release --manifest-path pipes/examples/native-rust/Cargo.toml`
//! and load `target/release/libtreestat_pipe_example_slo.so` as a `native` pipe.

use treestat_pipe_api::plugin::NativePipe;
use treestat_pipe_api::{Action, Emit, Pipe, PipeError, Record, Schema, declare_pipe};

struct Slo {
    threshold: f64,
    ok: String,
    slow: String,
    panic_uri: Option<String>,
    time: usize,
    uri: Option<usize>,
}

/// The text value of `"key": "..."` or `"key": number` in a flat JSON object. Enough
/// for this example; a real pipe would depend on serde_json.
fn json_value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let k = format!("\"{key}\"");
    let rest = json[json.find(&k)? + k.len()..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        return s.find('"').map(|e| &s[..e]);
    }
    let end = rest.find([',', '}', ' ']).unwrap_or(rest.len());
    Some(&rest[..end])
}

impl NativePipe for Slo {
    fn new(config: &str) -> Result<Self, PipeError> {
        let threshold = match json_value(config, "threshold") {
            Some(t) => t
                .parse::<f64>()
                .map_err(|_| PipeError::new(format!("threshold {t:?} is not a number")))?,
            None => 0.5,
        };
        let prefix = json_value(config, "prefix").unwrap_or("slo");
        Ok(Slo {
            threshold,
            ok: format!("{prefix},ok"),
            slow: format!("{prefix},slow"),
            panic_uri: json_value(config, "panic_uri").map(str::to_string),
            time: 0,
            uri: None,
        })
    }
}

impl Pipe for Slo {
    fn name(&self) -> &str {
        "slo"
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        self.time = schema
            .index("request_time")
            .ok_or_else(|| PipeError::new("the log format has no $request_time"))?;
        self.uri = schema.index("uri");
        Ok(())
    }

    fn process(&mut self, record: &Record<'_>, out: &mut dyn Emit) -> Result<(), PipeError> {
        if let (Some(p), Some(i)) = (&self.panic_uri, self.uri)
            && record.get(i) == Some(p.as_str())
        {
            panic!("asked to panic on {p}");
        }
        let Some(t) = record.get(self.time) else {
            return Ok(());
        };
        let t: f64 = t
            .parse()
            .map_err(|_| PipeError::new(format!("request_time {t:?} is not a number")))?;
        let path = if t <= self.threshold {
            &self.ok
        } else {
            &self.slow
        };
        out.emit(path, 1.0, Some(Action::Add));
        Ok(())
    }
}

declare_pipe!(Slo);
