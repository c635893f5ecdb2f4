//! The log of every command: always on stderr (stdout is for answers: `query`, `tail
//! --once`, the pipe host's protocol), as text, coloured only when stderr is a terminal
//! and `NO_COLOR` is unset, or with `--log-format json` as one JSON object per line for
//! collectors (journald, Vector, Loki...):
//!
//! ```json
//! {"time":"2026-12-06T14:07:42.918114Z","level":"INFO","target":"treestat::server","message":"trend store open","fields":{"data":"/var/lib/treestat","leaves":0}}
//! ```
//!
//! `RUST_LOG` filters both forms (default `info`).

use std::io::IsTerminal;
use std::sync::OnceLock;

use clap::ValueEnum;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `--log-format`: how log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line: time, level, target, message, fields.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Records the command line's `--log-format` for [`init_logging`] (first call wins).
pub(super) fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

/// Starts the log at `info` unless `RUST_LOG` says otherwise.
pub(super) fn init_logging() {
    init_logging_at("info");
}

/// Starts the log at `default` level unless `RUST_LOG` says otherwise. A second call
/// (a test that runs two commands in one process) keeps the first log.
pub(super) fn init_logging_at(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match FORMAT.get().copied().unwrap_or_default() {
        LogFormat::Text => builder.with_ansi(colour()).try_init(),
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLines).try_init(),
    };
}

/// Colour only for a person at a terminal, and not when `NO_COLOR` is set
/// (<https://no-color.org>): a file, a pipe or journald gets plain text.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The `--log-format json` line.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = Line {
            time,
            level: meta.level().as_str(),
            target: meta.target(),
            message: fields.message.unwrap_or_default(),
            fields: fields.rest,
        };
        let text = serde_json::to_string(&line).map_err(|_| std::fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// One JSON line, its keys in this order.
#[derive(serde::Serialize)]
struct Line<'a> {
    time: String,
    level: &'a str,
    target: &'a str,
    message: String,
    fields: Map<String, Value>,
}

/// An event's fields: the message apart, the rest as JSON values of their own type.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    rest: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.rest.insert(field.name().to_string(), value);
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities are not JSON numbers: they stay text.
        let v = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field, v);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
}
