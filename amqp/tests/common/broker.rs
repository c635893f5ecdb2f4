//! A real RabbitMQ for tests: one broker per test binary, on its own ports (AMQP,
//! Erlang distribution, its own epmd), node name and temp directory, loopback only.
//! Shared by the AMQP crate's tests (through `common/mod.rs`, which adds its lapin
//! helpers) and the root package's end-to-end tests (`#[path]` from tests/amqp_e2e.rs).
//!
//! Processes: epmd leads a process group and the broker joins it. A watchdog shell
//! holds a pipe from this process; when the test binary exits (normally, or after a
//! panic) the pipe closes and the watchdog kills that group and removes the directory,
//! so nothing outlives the tests even though the broker lives in a `static`.
//!
//! Without `rabbitmq-server` installed the tests print that they skipped and pass,
//! unless `CI` is set: then they fail with the package to install.

#![allow(
    dead_code,
    reason = "stop/restart are kept with the harness they belong to"
)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Longest wait for the broker to start or stop (a loaded 2-core machine).
const BOOT_LIMIT: Duration = Duration::from_secs(120);

/// A running broker; see the module doc.
pub struct Broker {
    pub port: u16,
    dist_port: u16,
    epmd_port: u16,
    node: String,
    dir: PathBuf,
    group: i32,
    server: Mutex<Option<Child>>,
    _epmd: Option<Child>,
    _watchdog: Mutex<ChildStdin>,
}

static BROKER: OnceLock<Option<Broker>> = OnceLock::new();
static PLAIN: OnceLock<Option<Broker>> = OnceLock::new();

/// The plugin sharded ingest needs (it ships with Debian's rabbitmq-server).
pub const HASH_PLUGIN: &str = "rabbitmq_consistent_hash_exchange";

/// The broker of this test binary, started on first use, with the consistent-hash
/// exchange plugin enabled; `None` means skip.
pub fn broker() -> Option<&'static Broker> {
    BROKER
        .get_or_init(|| Broker::start(&[HASH_PLUGIN]))
        .as_ref()
}

/// A second broker of this test binary with no plugin enabled (what a stock
/// installation runs), started on first use; `None` means skip.
pub fn broker_without_plugins() -> Option<&'static Broker> {
    PLAIN.get_or_init(|| Broker::start(&[])).as_ref()
}

fn server_binary() -> Option<PathBuf> {
    // Debian's /usr/sbin/rabbitmq-server is a wrapper that switches to the rabbitmq
    // user; the real script runs as any user with our environment.
    let debian = Path::new("/usr/lib/rabbitmq/bin/rabbitmq-server");
    if debian.exists() {
        return Some(debian.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("rabbitmq-server"))
        .find(|p| p.exists())
}

/// A loopback port free now and never handed out before in this process. A broker
/// stopped to be restarted on its port leaves that port free meanwhile; handed to a
/// node of another test's cluster, the restarted broker took it back, the node could
/// not bind it and stopped, and the port answering (the other broker) passed for the
/// node being up (`rabbitmqctl stop_app` then found no such node).
fn free_port() -> u16 {
    static GIVEN: Mutex<std::collections::BTreeSet<u16>> =
        Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

fn port_answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// Whether rabbitmq-server and epmd are installed: the server script, or `None` after
/// saying the tests skip (a panic under `CI`).
fn installed() -> Option<PathBuf> {
    let (Some(server), Ok(_)) = (server_binary(), Command::new("epmd").arg("-help").output())
    else {
        let msg = "rabbitmq-server is not installed (apt-get install -y rabbitmq-server)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}: the AMQP tests need a real broker in CI");
        }
        eprintln!("SKIPPED: {msg}");
        return None;
    };
    Some(server)
}

/// A private epmd on a free loopback port, leading a process group the brokers join.
struct Epmd {
    port: u16,
    group: i32,
    child: Child,
}

impl Epmd {
    fn start() -> Epmd {
        let port = free_port();
        let child = Command::new("epmd")
            .args(["-port", &port.to_string(), "-address", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("epmd starts");
        let group = i32::try_from(child.id()).expect("pid fits i32");
        Epmd { port, group, child }
    }
}

/// A RabbitMQ cluster of `n` nodes on this machine (distinct node names, ports and
/// folders, one epmd, one cookie), each with the consistent-hash plugin, joined to the
/// first with `rabbitmqctl join_cluster`; `None` means skip. Not shared: the caller
/// owns it (dropping it leaves the nodes to the watchdogs at exit).
pub fn cluster(n: usize) -> Option<Vec<Broker>> {
    let server = installed()?;
    let epmd = Epmd::start();
    let shared = (epmd.port, epmd.group);
    let cookie = format!("TREESTATCLUSTER{}", std::process::id());
    let mut nodes = Vec::new();
    let mut owner = Some(epmd);
    for i in 0..n {
        let name = format!("treestat-cluster{i}-{}", std::process::id());
        let node = Broker::node(
            &[HASH_PLUGIN],
            owner.take(),
            Some(shared),
            &name,
            Some(&cookie),
        );
        node.launch(&server);
        nodes.push(node);
    }
    let first = nodes[0].node.clone();
    for node in &nodes[1..] {
        node.ctl(&["stop_app"]);
        node.ctl(&["join_cluster", &first]);
        node.ctl(&["start_app"]);
    }
    Some(nodes)
}

impl Broker {
    fn start(plugins: &[&str]) -> Option<Broker> {
        let server = installed()?;
        let epmd = Epmd::start();
        let name = format!("treestat-test-{}-{}", std::process::id(), plugins.len());
        let broker = Broker::node(plugins, Some(epmd), None, &name, None);
        broker.launch(&server);
        Some(broker)
    }

    /// One node's folder, plugins file, ports and watchdog; `epmd` is the daemon this
    /// broker owns (the first node of a cluster), `shared` the port and process group
    /// of another's, `cookie` the Erlang cookie every node of a cluster must share.
    fn node(
        plugins: &[&str],
        epmd: Option<Epmd>,
        shared: Option<(u16, i32)>,
        name: &str,
        cookie: Option<&str>,
    ) -> Broker {
        let (epmd_port, group) = shared
            .or_else(|| epmd.as_ref().map(|e| (e.port, e.group)))
            .expect("an epmd");
        let dir = tempfile::Builder::new()
            .prefix("treestat-rabbitmq-")
            .tempdir()
            .expect("temp dir")
            .keep();
        // The enabled-plugins file is an Erlang term: `[name, ...].`; empty: none.
        let enabled = if plugins.is_empty() {
            String::new()
        } else {
            format!("[{}].", plugins.join(","))
        };
        std::fs::write(dir.join("enabled_plugins"), enabled).expect("plugins file");
        if let Some(c) = cookie {
            use std::os::unix::fs::PermissionsExt as _;
            let path = dir.join(".erlang.cookie");
            std::fs::write(&path, c).expect("cookie");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400))
                .expect("cookie mode");
        }
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cat >/dev/null; kill -KILL -{group} 2>/dev/null; rm -rf '{}'",
                dir.display()
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("watchdog starts")
            .stdin
            .take()
            .expect("watchdog stdin");
        Broker {
            port: free_port(),
            dist_port: free_port(),
            epmd_port,
            node: format!("{name}@localhost"),
            dir,
            group,
            server: Mutex::new(None),
            _epmd: epmd.map(|e| e.child),
            _watchdog: Mutex::new(watchdog),
        }
    }

    /// `rabbitmqctl -n <this node> ARGS` with this node's environment; panics with its
    /// output when it fails.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new("/usr/lib/rabbitmq/bin/rabbitmqctl")
            .args(["-n", &self.node])
            .args(args)
            .env("HOME", &self.dir)
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .output()
            .expect("rabbitmqctl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "rabbitmqctl {args:?}: {text}");
        text
    }

    /// This node's Erlang node name (`name@localhost`).
    pub fn node_name(&self) -> &str {
        &self.node
    }

    fn launch(&self, server: &Path) {
        let d = &self.dir;
        let out = std::fs::File::create(d.join("server.log")).expect("log file");
        let child = Command::new(server)
            .current_dir(d)
            .env("HOME", d)
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false",
            )
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .process_group(self.group)
            .spawn()
            .expect("rabbitmq-server starts");
        *self.server.lock().unwrap() = Some(child);
        let deadline = Instant::now() + BOOT_LIMIT;
        while !port_answers(self.port) {
            let exited = self.server.lock().unwrap().as_mut().map(|c| c.try_wait());
            if let Some(Ok(Some(status))) = exited {
                panic!("rabbitmq-server exited ({status}):\n{}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "rabbitmq-server did not open port {} in {BOOT_LIMIT:?}:\n{}",
                self.port,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<_> = log.lines().rev().take(30).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// `amqp://` URL of the broker (guest may log in from loopback).
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Stops the broker gracefully (SIGTERM to the Erlang VM) and waits for it.
    pub fn stop(&self) {
        let pid = std::fs::read_to_string(self.dir.join("pid")).expect("broker pid file");
        let status = Command::new("kill")
            .args(["-TERM", pid.trim()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}");
        if let Some(mut child) = self.server.lock().unwrap().take() {
            child.wait().expect("rabbitmq-server ends");
        }
        let deadline = Instant::now() + BOOT_LIMIT;
        while port_answers(self.port) {
            assert!(Instant::now() < deadline, "the broker still answers");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts the broker again on the same port, node and directory.
    pub fn restart(&self) {
        let server = server_binary().expect("rabbitmq-server");
        self.launch(&server);
    }
}
