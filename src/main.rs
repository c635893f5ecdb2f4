//! The `treestat` command line: parses flags, loads the configuration and calls into the
//! library crates. Nothing here holds logic of its own.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing::info;
use treestat::client::{self, DEFAULT_SERVER};
use treestat::config::{Config, parse_addr};
use treestat::server::Server;

/// treestat: a tree aggregation engine for metrics.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default command).
    Serve(ServeArgs),
    /// Push one JSON document to a running server.
    Push {
        /// Server URL.
        #[arg(long, default_value = DEFAULT_SERVER)]
        server: String,
        /// The JSON tree or array of trees.
        json: String,
    },
    /// Print `path<TAB>value` pairs from a running server, or with --from a series
    /// table (one row per time, one column per path).
    Query {
        /// Server URL.
        #[arg(long, default_value = DEFAULT_SERVER)]
        server: String,
        /// A tree-path pattern (`br,ie,,venders`, `*|sum,net`).
        pattern: String,
        /// Start of a trend: epoch, `now`, `-30s`, `-10min`, `-6h`, `-1d`, `-1w`, `-1y`.
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// End of the trend (default `now`).
        #[arg(long, allow_hyphen_values = true, default_value = "now")]
        until: String,
    },
    /// Run pipes over access logs: in process (prints the tree) or pushing to a server.
    Tail {
        /// Log files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A preset (combined, common, vcombined, peach) or an nginx log_format string.
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
    },
    /// Run the agent: modules measure this host and push to one or more servers.
    Agent(AgentArgs),
    /// Take pushes from many agents, merge them for an interval, forward one tree.
    Relay {
        /// Where to listen: `tcp://ADDR`, `udp://ADDR` or `http://ADDR` (repeatable; a
        /// bare ADDR listens on TCP and UDP).
        #[arg(long, required = true)]
        listen: Vec<String>,
        /// Where to forward: `http://host:8080`, `tcp://host:8007`, `udp://host:8007`
        /// (repeatable).
        #[arg(long, required = true)]
        upstream: Vec<String>,
        /// Agent configuration (buffer sizes, timeouts).
        #[arg(long)]
        conf: Option<PathBuf>,
        /// Merge interval.
        #[arg(long, value_parser = parse_interval)]
        interval: Option<Duration>,
    },
    /// Render a chart from a running server to a file (.png, .svg or .jpg).
    Graph(GraphArgs),
    /// Write trends as NDJSON `["path", ts, value]` tuples (or CSV) to stdout.
    Export {
        /// A tree-path pattern.
        pattern: String,
        /// `ndjson` or `csv`.
        #[arg(long, default_value = "ndjson")]
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
        /// `ndjson` or `csv` (default: from the extension).
        #[arg(long)]
        format: Option<String>,
        /// Action of series the import creates.
        #[arg(long, default_value = "average")]
        action: String,
        #[command(flatten)]
        target: StoreTarget,
    },
    /// Read mmstats files ("/proc for your application"): slurp, poll, clean.
    #[command(subcommand)]
    Mmstats(MmstatsCommand),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct AgentArgs {
    #[command(subcommand)]
    action: Option<AgentAction>,
    /// Agent configuration (default: conf/agent.toml when it exists).
    #[arg(long, global = true)]
    conf: Option<PathBuf>,
    /// Server to push to: `http://host:8080`, `tcp://host:8007`, `udp://host:8007`
    /// (repeatable; replaces the configuration's list).
    #[arg(long)]
    server: Vec<String>,
    /// Module folder.
    #[arg(long, global = true)]
    modules: Option<PathBuf>,
    /// Collection interval.
    #[arg(long, value_parser = parse_interval)]
    interval: Option<Duration>,
    /// Host name in the pushed tree.
    #[arg(long)]
    host: Option<String>,
}

#[derive(Debug, Subcommand)]
enum AgentAction {
    /// List the modules with their state (on/off, kind, where their code is).
    Modules,
    /// Switch a module on (removes NAME.off, creates NAME.on).
    Enable {
        /// Module name.
        name: String,
    },
    /// Switch a module off (creates NAME.off).
    Disable {
        /// Module name.
        name: String,
    },
}

fn agent_config(
    conf: Option<&std::path::Path>,
    modules: Option<PathBuf>,
) -> anyhow::Result<treestat_agent::AgentConfig> {
    let default = std::path::Path::new("conf/agent.toml");
    let mut cfg = match conf {
        Some(p) => treestat_agent::AgentConfig::load(p)?,
        None if default.exists() => treestat_agent::AgentConfig::load(default)?,
        None => treestat_agent::AgentConfig {
            modules: PathBuf::from("conf/modules"),
            ..treestat_agent::AgentConfig::default()
        },
    };
    if let Some(m) = modules {
        cfg.modules = m;
    }
    Ok(cfg)
}

/// Runs a blocking agent or relay loop until SIGINT/SIGTERM.
fn until_signal<T>(
    run: impl FnOnce(&treestat_agent::Shutdown) -> treestat_agent::Result<T>,
) -> anyhow::Result<T> {
    init_logging();
    let shutdown = treestat_agent::Shutdown::new();
    let trigger = shutdown.clone();
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(wait_for_signal());
            trigger.trigger();
        }
    });
    Ok(run(&shutdown)?)
}

fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let mut cfg = agent_config(args.conf.as_deref(), args.modules)?;
    match args.action {
        Some(AgentAction::Modules) => {
            print!("{}", treestat_agent::folder::modules_table(&cfg.modules)?);
            Ok(())
        }
        Some(AgentAction::Enable { name }) => {
            Ok(treestat_agent::folder::enable(&cfg.modules, &name)?)
        }
        Some(AgentAction::Disable { name }) => {
            Ok(treestat_agent::folder::disable(&cfg.modules, &name)?)
        }
        None => {
            if !args.server.is_empty() {
                cfg.servers = args.server;
            }
            if let Some(i) = args.interval {
                cfg.interval = i;
            }
            if args.host.is_some() {
                cfg.host = args.host;
            }
            until_signal(|stop| treestat_agent::agent::run(&cfg, stop)).map(drop)
        }
    }
}

/// Where export and import go: a running server, or a data directory directly (only
/// while no server has it open).
#[derive(Debug, Args)]
struct StoreTarget {
    /// Server URL.
    #[arg(long, default_value = DEFAULT_SERVER, conflicts_with = "data")]
    server: String,
    /// Open this data directory instead of asking a server.
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct GraphArgs {
    /// A tree-path pattern; a wildcard draws one series per path.
    pattern: String,
    /// Output file; its extension picks the format.
    #[arg(short, long)]
    output: PathBuf,
    /// Server URL.
    #[arg(long, default_value = DEFAULT_SERVER)]
    server: String,
    /// Start: epoch, `now`, `-6h`, `-1d`...
    #[arg(long, allow_hyphen_values = true)]
    from: Option<String>,
    /// End.
    #[arg(long, allow_hyphen_values = true)]
    until: Option<String>,
    /// Pixels.
    #[arg(long)]
    width: Option<u32>,
    /// Pixels.
    #[arg(long)]
    height: Option<u32>,
    /// default, cpu, net or url.
    #[arg(long)]
    style: Option<String>,
    /// line, area, stacked or bar.
    #[arg(long = "type")]
    chart_type: Option<String>,
    /// light or dark.
    #[arg(long)]
    theme: Option<String>,
    /// Chart title.
    #[arg(long)]
    title: Option<String>,
    /// on or off.
    #[arg(long)]
    legend: Option<String>,
    /// Lower bound of the y axis.
    #[arg(long, allow_hyphen_values = true)]
    y_min: Option<f64>,
    /// Upper bound of the y axis.
    #[arg(long, allow_hyphen_values = true)]
    y_max: Option<f64>,
    /// Line width in pixels.
    #[arg(long)]
    line_width: Option<f64>,
    /// Comma-separated hex colours.
    #[arg(long)]
    colors: Option<String>,
    /// Time zone of the labels (`UTC`, `+08:00`, `Europe/Paris`).
    #[arg(long)]
    tz: Option<String>,
}

impl GraphArgs {
    fn params(&self) -> Vec<(&'static str, String)> {
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
        p
    }
}

#[derive(Debug, Subcommand)]
enum MmstatsCommand {
    /// Print every field of every file (default: the mmstats-* files in $MMSTATS_PATH
    /// or the temp dir), as slurpstats does.
    Slurp {
        /// Files or directories.
        files: Vec<PathBuf>,
    },
    /// A vmstat-like line per tick with the change of each field since the last tick,
    /// summed over files, as pollstats does.
    Poll {
        /// Label prefix put in front of every field name.
        #[arg(short = 'p', long, default_value = "")]
        prefix: String,
        /// Number of lines to print (default: until interrupted).
        #[arg(short = 'c', long)]
        count: Option<u64>,
        /// Seconds between lines.
        #[arg(short = 'd', long, default_value_t = 1.0)]
        delay: f64,
        /// Field names, comma-separated.
        fields: String,
        /// Files or directories.
        files: Vec<PathBuf>,
    },
    /// Remove files whose writer process is gone; keep live ones, as cleanstats does.
    Clean {
        /// Files or directories.
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Args, Default)]
struct ServeArgs {
    /// Configuration file (default: the embedded conf/treestat.toml).
    #[arg(long)]
    conf: Option<PathBuf>,
    /// Data directory.
    #[arg(long)]
    data: Option<PathBuf>,
    /// HTTP address, or `off`.
    #[arg(long, value_parser = parse_addr_flag)]
    http: Option<Addr>,
    /// TCP JSON / SimpleStats address, or `off`.
    #[arg(long, value_parser = parse_addr_flag)]
    tcp: Option<Addr>,
    /// UDP JSON address, or `off`.
    #[arg(long, value_parser = parse_addr_flag)]
    udp: Option<Addr>,
    /// StatsD address (UDP), or `off`.
    #[arg(long, value_parser = parse_addr_flag)]
    statsd: Option<Addr>,
    /// Graphite plaintext address (TCP), or `off`.
    #[arg(long, value_parser = parse_addr_flag)]
    graphite: Option<Addr>,
    /// Interval length (`10s`, `1m`).
    #[arg(long, value_parser = parse_interval)]
    interval: Option<Duration>,
    /// Do not run the built-in host modules in the server.
    #[arg(long)]
    no_agent: bool,
    /// Consume Psistats messages and JSON trees from this RabbitMQ broker
    /// (`amqp://user:pass@host:5672/%2f`).
    #[arg(long)]
    amqp: Option<String>,
}

/// A listen address, or `off` (`None`).
#[derive(Debug, Clone, Copy)]
struct Addr(Option<std::net::SocketAddr>);

fn parse_addr_flag(s: &str) -> Result<Addr, String> {
    parse_addr(s).map(Addr)
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    treestat_engine::parse_duration(s)
}

impl ServeArgs {
    fn config(self) -> anyhow::Result<Config> {
        let mut c = Config::load(self.conf.as_deref())?;
        if let Some(d) = self.data {
            c.server.data = d;
        }
        if let Some(Addr(addr)) = self.http {
            c.server.http = addr;
        }
        let l = &mut c.listen;
        for (flag, slot) in [
            (self.tcp, &mut l.tcp),
            (self.udp, &mut l.udp),
            (self.statsd, &mut l.statsd),
            (self.graphite, &mut l.graphite),
        ] {
            if let Some(Addr(addr)) = flag {
                *slot = addr.map_or_else(|| "off".to_string(), |a| a.to_string());
            }
        }
        if let Some(i) = self.interval {
            c.engine.interval = i;
        }
        if self.no_agent {
            c.server.agent = false;
        }
        if let Some(url) = self.amqp {
            c.amqp.get_or_insert_with(Default::default).url = url;
        }
        Ok(c)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args.config()?),
        Command::Push { server, json } => {
            println!("{}", client::push(&server, &json)?);
            Ok(())
        }
        Command::Query {
            server,
            pattern,
            from,
            until,
        } => {
            let mut out = std::io::stdout().lock();
            match from {
                Some(from) => client::trend_table(&server, &pattern, &from, &until, &mut out),
                None => client::query(&server, &pattern, &mut out),
            }
        }
        Command::Tail {
            files,
            format,
            pipes,
            server,
            from_start,
            once,
            checkpoints,
            interval,
        } => {
            let cmd = treestat::pipes::TailCommand {
                files,
                format,
                pipes,
                server,
                from_start,
                once,
                checkpoints,
                interval,
            };
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            // Ctrl-C: a last flush and checkpoint, then exit.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(wait_for_signal());
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            });
            treestat::pipes::run_tail(&cmd, &stop)
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
    }
}

fn export(
    pattern: &str,
    format: &str,
    from: &str,
    until: &str,
    target: &StoreTarget,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match &target.data {
        None => client::export(&target.server, pattern, format, from, until, &mut out),
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

fn import(
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
            println!("{}", client::import(&target.server, body, &format, action)?);
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

fn mmstats(cmd: MmstatsCommand) -> anyhow::Result<()> {
    use treestat_mmstats as mm;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match cmd {
        MmstatsCommand::Slurp { files } => {
            let report = mm::slurp(&mm::expand_files(&files), &mut out, &mut err)?;
            if !report.failed.is_empty() {
                anyhow::bail!("{} file(s) could not be read", report.failed.len());
            }
        }
        MmstatsCommand::Poll {
            prefix,
            count,
            delay,
            fields,
            files,
        } => {
            let delay = Duration::try_from_secs_f64(delay)
                .map_err(|_| anyhow::anyhow!("--delay {delay} is not a number of seconds"))?;
            let files = mm::expand_files(&files);
            mm::poll(&prefix, &[fields], &files, count, delay, &mut out, &mut err)?;
        }
        MmstatsCommand::Clean { files } => {
            let report = mm::clean(&mm::expand_files(&files), &mut out)?;
            drop(report);
        }
    }
    Ok(())
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}

fn serve(config: Config) -> anyhow::Result<()> {
    init_logging();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        let server = Server::start(config).await?;
        let stop = server.shutdown_token();
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("shutting down");
            stop.cancel();
        });
        server.wait().await
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
