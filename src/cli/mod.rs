//! The command line: flags and subcommands (docs/API.md and docs/AGENT.md use their
//! names, and scripts rely on them), each turned into calls of the library. One file per
//! command family.

mod agent;
mod args;
mod front;
mod logging;
mod meta;
mod mmstats;
mod serve;
mod signal;
mod tree;
mod trends;

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use crate::client::{self, DEFAULT_SERVER, SERVER_ENV};
use agent::{AgentArgs, agent, agent_config, until_signal};
use args::{ACTIONS, TREND_FORMATS, one_of, parse_interval};
use front::{FrontArgs, front};
use logging::LogFormat;
use mmstats::{MmstatsCommand, mmstats};
use serve::{ServeArgs, serve};
use trends::{GraphArgs, StoreTarget, export, import};

/// treestat: a tree aggregation engine for metrics.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    after_help = "Client commands talk to TREESTAT_SERVER when set (--server wins) and send \
                  TREESTAT_TOKEN, when set, as the bearer token of servers whose auth.token \
                  is set. https:// servers are checked against \
                  Mozilla's roots, or the PEM file SSL_CERT_FILE names."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Log lines on stderr as text (coloured on a terminal) or one JSON object per line
    /// (time, level, target, message, fields) for log collectors.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "TREESTAT_LOG_FORMAT",
        default_value_t
    )]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default command).
    Serve(ServeArgs),
    /// Push one JSON document to a running server.
    Push {
        /// Server URL.
        #[arg(long, env = SERVER_ENV, default_value = DEFAULT_SERVER)]
        server: String,
        /// The JSON tree or array of trees.
        json: String,
    },
    /// Print `path<TAB>value` pairs from a running server, or with --from a series
    /// table (one row per time, one column per path).
    Query {
        /// Server URL.
        #[arg(long, env = SERVER_ENV, default_value = DEFAULT_SERVER)]
        server: String,
        /// A tree-path pattern (`br,ie,,venders`, `*|sum,net`).
        pattern: String,
        /// Start of a trend: `now`, an epoch (`1700000000.5`), or an offset such as `-30s`,
        /// `-5m`, `-6h`, `now-1d`, `-1w`, `-1y` (docs/API.md, "Times and durations").
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// End of the trend (default `now`).
        #[arg(long, allow_hyphen_values = true, default_value = "now")]
        until: String,
        /// Print the server's answer as JSON (`[["path", value], ...]`; with --from, the
        /// series list of `/trend/<pattern>.json`).
        #[arg(long)]
        json: bool,
    },
    /// Remove the subtrees a pattern selects from a running server (tree, recent
    /// intervals, trends).
    Delete(tree::DeleteArgs),
    /// List the keys one level below a path on a running server (`name/  children` for
    /// a branch).
    Ls(tree::LsArgs),
    /// Run pipes over access logs: in process (prints the tree) or pushing to a server.
    Tail {
        /// Log files to follow. `-` reads standard input, and gzip files (rotated
        /// logs such as access.log.2.gz) are read once, to their end, first.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A preset (combined, common, vcombined, peach), an nginx log_format string, or
        /// `regex:` and a regex whose named groups are the fields.
        #[arg(long, default_value = "combined")]
        format: String,
        /// Comma-separated pipes, e.g. `ua,status,geo=GeoLite2-City.mmdb,python=x.py`
        /// (default: every built-in the format can feed).
        #[arg(long, default_value = "")]
        pipes: String,
        /// Push each interval's tree to this server instead.
        #[arg(long)]
        server: Option<String>,
        /// Read files from their start (default: only new lines).
        #[arg(long)]
        from_start: bool,
        /// Read to the end, print the tree as JSON and exit.
        #[arg(long)]
        once: bool,
        /// Keep read positions in this file, so a later run resumes.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        /// Time between flushes.
        #[arg(long, value_parser = parse_interval, default_value = "10s")]
        interval: Duration,
        /// With --once: also write the GoAccess-style report of the lines read to this
        /// file (`.json`: the JSON form; anything else: one self-contained HTML page).
        #[arg(long, requires = "once")]
        report: Option<PathBuf>,
    },
    /// Write a GoAccess-style report of access logs: one self-contained HTML page
    /// (opens offline) or, for `-o report.json`, JSON (docs/REPORT.md).
    Report {
        /// The logs. `-` reads standard input; gzip files are decompressed.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A preset (combined, common, vcombined, peach), an nginx log_format string, or
        /// `regex:` and a regex whose named groups are the fields.
        #[arg(long, default_value = "combined")]
        format: String,
        /// Pipes whose trees feed the browser, OS and geo panels, e.g.
        /// `ua,geo=GeoLite2-City.mmdb` (default: `ua` when the format has the user agent).
        #[arg(long, default_value = "")]
        pipes: String,
        /// The output file: `.json` writes JSON, anything else HTML.
        #[arg(short, long, default_value = "report.html")]
        output: PathBuf,
        /// Write JSON whatever the output's extension.
        #[arg(long)]
        json: bool,
        /// Rows each table shows (each holds at most twice as many while reading).
        #[arg(long, default_value_t = 1000)]
        rows: usize,
    },
    /// Run the agent: modules measure this host and push to one or more servers.
    Agent(AgentArgs),
    /// Take pushes from many agents, merge them for an interval, forward one tree.
    Relay {
        /// Where to listen: `tcp://ADDR`, `udp://ADDR` (JSON trees and SimpleStats
        /// tuples), `http://ADDR` (JSON trees, access-log lines: `text/plain` pushes and
        /// `PUT /raw`), `statsd://ADDR` (StatsD over UDP) or `graphite://ADDR` (Graphite
        /// plaintext over TCP) (repeatable; a bare ADDR listens on TCP and UDP).
        #[arg(long, required = true)]
        listen: Vec<String>,
        /// Where to forward: `http://host:8080`, `https://host/push`, `tcp://host:8007`,
        /// `udp://host:8007`, `amqp://host:5672/%2f?format=json` (repeatable); sharded
        /// ingest: `amqp://host:5672/%2f?format=tree&sharded=1`.
        #[arg(long, required = true)]
        upstream: Vec<String>,
        /// Agent configuration (buffer sizes, timeouts).
        #[arg(long)]
        conf: Option<PathBuf>,
        /// Merge interval.
        #[arg(long, value_parser = parse_interval)]
        interval: Option<Duration>,
    },
    /// Serve reads over several shards (`serve`s each holding some top-level keys):
    /// routes by owner, fans out, merges folds, answers partial past a deadline.
    Front(FrontArgs),
    /// Render a chart from a running server to a file (.png, .svg or .jpg).
    Graph(GraphArgs),
    /// Write trends as NDJSON `["path", ts, value]` tuples (or CSV) to stdout.
    Export {
        /// A tree-path pattern.
        pattern: String,
        /// File format.
        #[arg(long, default_value = "ndjson", value_parser = one_of(TREND_FORMATS))]
        format: String,
        /// Start (default: one year back).
        #[arg(long, allow_hyphen_values = true, default_value = "-1y")]
        from: String,
        /// End.
        #[arg(long, allow_hyphen_values = true, default_value = "now")]
        until: String,
        #[command(flatten)]
        target: StoreTarget,
    },
    /// Read trends from an NDJSON or CSV file (SimpleStats exports import as they are).
    Import {
        /// The file (`-` for stdin).
        file: PathBuf,
        /// File format (default: from the extension).
        #[arg(long, value_parser = one_of(TREND_FORMATS))]
        format: Option<String>,
        /// Action of series the import creates.
        #[arg(long, default_value = "average", ignore_case = true, value_parser = one_of(ACTIONS))]
        action: String,
        #[command(flatten)]
        target: StoreTarget,
    },
    /// Read mmstats files ("/proc for your application"): slurp, poll, clean.
    #[command(subcommand)]
    Mmstats(MmstatsCommand),
    /// Run one isolated pipe for a server (`isolate = true`), speaking the frame
    /// protocol on stdin and stdout. Started by the server, not by hand.
    #[command(name = "pipe-host", hide = true)]
    PipeHost,
    /// Print the shell completion script (`treestat completions bash >
    /// /usr/share/bash-completion/completions/treestat`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `treestat man | man -l -`; with a command's name,
    /// that command's page.
    Man {
        /// A command (`serve`, `query`, ...).
        command: Option<String>,
    },
}

/// Parses the command line and runs the command.
///
/// # Errors
/// Whatever the command failed with, for `main` to print.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::set_format(cli.log_format);
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args),
        Command::Push { server, json } => {
            println!("{}", client::push(&server, &json)?);
            Ok(())
        }
        Command::Query {
            server,
            pattern,
            from,
            until,
            json,
        } => {
            let mut out = std::io::stdout().lock();
            match (from, json) {
                (Some(from), false) => {
                    client::trend_table(&server, &pattern, &from, &until, &mut out)
                }
                (Some(from), true) => {
                    client::trend_json(&server, &pattern, &from, &until, &mut out)
                }
                (None, false) => client::query(&server, &pattern, &mut out),
                (None, true) => client::query_json(&server, &pattern, &mut out),
            }
        }
        Command::Delete(args) => tree::delete(&args),
        Command::Ls(args) => tree::ls(&args),
        Command::Tail {
            files,
            format,
            pipes,
            server,
            from_start,
            once,
            checkpoints,
            interval,
            report,
        } => {
            let cmd = crate::pipes::TailCommand {
                files,
                format,
                pipes,
                server,
                from_start,
                once,
                checkpoints,
                interval,
                report,
            };
            // Ctrl-C: a last flush and checkpoint, then exit.
            let stop = tokio_util::sync::CancellationToken::new();
            signal::cancel_on_signal(stop.clone(), || {});
            crate::pipes::run_tail(&cmd, &stop)
        }
        Command::Report {
            files,
            format,
            pipes,
            output,
            json,
            rows,
        } => {
            let cmd = crate::report::ReportCommand {
                files,
                format,
                pipes,
                output,
                json,
                rows,
            };
            let stop = tokio_util::sync::CancellationToken::new();
            signal::cancel_on_signal(stop.clone(), || {});
            crate::report::run_report(&cmd, &stop)
        }
        Command::Agent(args) => agent(args),
        Command::Relay {
            listen,
            upstream,
            conf,
            interval,
        } => {
            let mut cfg = agent_config(conf.as_deref(), None)?;
            cfg.relay.listen = listen;
            cfg.relay.upstream = upstream;
            if let Some(i) = interval {
                cfg.relay.interval = i;
            }
            until_signal(|stop| treestat_agent::relay::run(&cfg, stop)).map(drop)
        }
        Command::Front(args) => front(args),
        Command::Graph(args) => {
            client::graph(&args.server, &args.pattern, &args.output, &args.params())
        }
        Command::Export {
            pattern,
            format,
            from,
            until,
            target,
        } => export(&pattern, &format, &from, &until, &target),
        Command::Import {
            file,
            format,
            action,
            target,
        } => import(&file, format, &action, &target),
        Command::Mmstats(cmd) => mmstats(cmd),
        Command::PipeHost => {
            // Logs go to stderr (the server's log); stdout carries the protocol.
            logging::init_logging_at("warn");
            std::process::exit(treestat_pipes::isolate::host::run_host())
        }
        Command::Completions { shell } => meta::completions(Cli::command(), shell),
        Command::Man { command } => meta::man(Cli::command(), command.as_deref()),
    }
}

/// The whole program: runs the command line and turns an error into one line on
/// stderr, `error: ` and its causes joined by `: ` (never a backtrace, whatever
/// `RUST_BACKTRACE` says), and exit status 1. Usage errors (an unknown flag, a value
/// not in a flag's list) are clap's: its message and status 2.
pub fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader went away (`treestat man | head`): nothing to say to it.
        Err(e) if broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// An error and its causes on one line: `reading x.toml: No such file or directory`.
/// Messages that span lines (a parser's snippet) are joined with spaces.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
