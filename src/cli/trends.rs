//! `treestat graph`, `treestat export` and `treestat import`: charts and trends in and
//! out, through a running server or straight from a data directory.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::args::{CHART_TYPES, ON_OFF, STYLES, THEMES, one_of};
use crate::client::{self, DEFAULT_SERVER, SERVER_ENV};
use crate::config::Config;

/// Where export and import go: a running server, or a data directory directly (only
/// while no server has it open).
#[derive(Debug, Args)]
pub struct StoreTarget {
    /// Server URL [default: $TREESTAT_SERVER, else http://127.0.0.1:8080].
    // Not clap's `env`: clap counts a value from the environment as given, and
    // `--data` would then conflict with a TREESTAT_SERVER set for other commands.
    #[arg(long, conflicts_with = "data")]
    server: Option<String>,
    /// Open this data directory instead of asking a server.
    #[arg(long)]
    data: Option<PathBuf>,
}

impl StoreTarget {
    /// `--server`, else `TREESTAT_SERVER`, else the default server.
    fn server(&self) -> String {
        self.server
            .clone()
            .or_else(|| std::env::var(SERVER_ENV).ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_string())
    }
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// A tree-path pattern; a wildcard draws one series per path.
    pub(super) pattern: String,
    /// Output file; its extension picks the format: .png, .svg, .jpg or .pdf.
    #[arg(short, long)]
    pub(super) output: PathBuf,
    /// Server URL.
    #[arg(long, env = SERVER_ENV, default_value = DEFAULT_SERVER)]
    pub(super) server: String,
    /// Start: `now`, an epoch, or an offset such as `-5m`, `-6h`, `now-1d` (the time
    /// grammar of docs/API.md).
    #[arg(long, allow_hyphen_values = true)]
    pub(super) from: Option<String>,
    /// End.
    #[arg(long, allow_hyphen_values = true)]
    pub(super) until: Option<String>,
    /// Pixels.
    #[arg(long)]
    pub(super) width: Option<u32>,
    /// Pixels.
    #[arg(long)]
    pub(super) height: Option<u32>,
    /// Colours and layout for a kind of data.
    #[arg(long, ignore_case = true, value_parser = one_of(STYLES))]
    pub(super) style: Option<String>,
    /// How series are drawn.
    #[arg(long = "type", ignore_case = true, value_parser = one_of(CHART_TYPES))]
    pub(super) chart_type: Option<String>,
    /// Background and colours.
    #[arg(long, ignore_case = true, value_parser = one_of(THEMES))]
    pub(super) theme: Option<String>,
    /// Chart title.
    #[arg(long)]
    pub(super) title: Option<String>,
    /// The legend under the chart.
    #[arg(long, ignore_case = true, value_parser = one_of(ON_OFF))]
    pub(super) legend: Option<String>,
    /// Lower bound of the y axis.
    #[arg(long, allow_hyphen_values = true)]
    pub(super) y_min: Option<f64>,
    /// Upper bound of the y axis.
    #[arg(long, allow_hyphen_values = true)]
    pub(super) y_max: Option<f64>,
    /// Line width in pixels.
    #[arg(long)]
    pub(super) line_width: Option<f64>,
    /// Comma-separated hex colours.
    #[arg(long)]
    pub(super) colors: Option<String>,
    /// Time zone of the labels (`UTC`, `+08:00`, `Europe/Paris`); default: the server's.
    #[arg(long)]
    pub(super) tz: Option<String>,
    /// Missing buckets: gap (drawn empty, the default) or zero.
    #[arg(long, value_parser = ["gap", "zero"])]
    pub(super) gaps: Option<String>,
}

impl GraphArgs {
    pub(super) fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                p.push((k, v));
            }
        };
        put("from", self.from.clone());
        put("until", self.until.clone());
        put("width", self.width.map(|v| v.to_string()));
        put("height", self.height.map(|v| v.to_string()));
        put("style", self.style.clone());
        put("type", self.chart_type.clone());
        put("theme", self.theme.clone());
        put("title", self.title.clone());
        put("legend", self.legend.clone());
        put("yMin", self.y_min.map(|v| v.to_string()));
        put("yMax", self.y_max.map(|v| v.to_string()));
        put("lineWidth", self.line_width.map(|v| v.to_string()));
        put("colors", self.colors.clone());
        put("tz", self.tz.clone());
        put("gaps", self.gaps.clone());
        p
    }
}

pub(super) fn export(
    pattern: &str,
    format: &str,
    from: &str,
    until: &str,
    target: &StoreTarget,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match &target.data {
        None => client::export(&target.server(), pattern, format, from, until, &mut out),
        Some(dir) => {
            use treestat_engine::trend::{Format, TrendStore, parse_time};
            let store = TrendStore::open(dir, &Config::embedded()?.trend)?;
            let now = treestat_engine::Clock::now(&treestat_engine::SystemClock);
            let (from, until) = (parse_time(from, now)?, parse_time(until, now)?);
            let n = store.export(pattern, from, until, format.parse::<Format>()?, &mut out)?;
            eprintln!("{n} points");
            Ok(())
        }
    }
}

pub(super) fn import(
    file: &std::path::Path,
    format: Option<String>,
    action: &str,
    target: &StoreTarget,
) -> anyhow::Result<()> {
    let format = format.unwrap_or_else(|| {
        match file.extension().and_then(|e| e.to_str()) {
            Some("csv") => "csv",
            _ => "ndjson",
        }
        .to_string()
    });
    let body = if file.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut v)?;
        v
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    };
    match &target.data {
        None => {
            println!(
                "{}",
                client::import(&target.server(), body, &format, action)?
            );
            Ok(())
        }
        Some(dir) => {
            use treestat_engine::trend::{Format, TrendStore};
            let store = TrendStore::open(dir, &Config::embedded()?.trend)?;
            let action: treestat_engine::Action = action.parse()?;
            let report = store.import(&body[..], format.parse::<Format>()?, action)?;
            store.flush()?;
            for e in &report.errors {
                eprintln!("line {}: {}", e.line, e.message);
            }
            println!("{} imported, {} skipped", report.imported, report.skipped);
            Ok(())
        }
    }
}
