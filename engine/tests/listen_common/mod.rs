//! Shared harness for the listener tests: every listener started on 127.0.0.1 port 0
//! over a real engine, and small clients.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use treestat_engine::listen::{self, ListenConfig, Reject};
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Action, Engine};

/// How long a test waits for something that should happen at once; only reached when
/// the code under test is broken.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct Server {
    pub engine: Engine,
    pub telemetry: Telemetry,
    pub shutdown: CancellationToken,
    pub tcp: SocketAddr,
    pub udp: SocketAddr,
    pub statsd: SocketAddr,
    pub graphite: SocketAddr,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// A config for tests: every listener on an ephemeral loopback port.
pub fn test_config() -> ListenConfig {
    ListenConfig {
        tcp: "127.0.0.1:0".into(),
        udp: "127.0.0.1:0".into(),
        statsd: "127.0.0.1:0".into(),
        graphite: "127.0.0.1:0".into(),
        ..ListenConfig::default()
    }
}

pub async fn start(cfg: ListenConfig) -> Server {
    start_with(Engine::default(), cfg).await
}

pub async fn start_with(engine: Engine, cfg: ListenConfig) -> Server {
    let listeners = listen::bind(&cfg).await.expect("bind on 127.0.0.1:0");
    let addr = |name: &str| {
        listeners
            .addrs()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| a)
            .expect("listener bound")
    };
    let (tcp, udp, statsd, graphite) = (addr("tcp"), addr("udp"), addr("statsd"), addr("graphite"));
    let telemetry = Telemetry::default();
    let shutdown = CancellationToken::new();
    let task = {
        let (engine, telemetry, shutdown) = (engine.clone(), telemetry.clone(), shutdown.clone());
        tokio::spawn(async move { listeners.serve(engine, &cfg, &telemetry, shutdown).await })
    };
    Server {
        engine,
        telemetry,
        shutdown,
        tcp,
        udp,
        statsd,
        graphite,
        task,
    }
}

impl Server {
    /// A reject counter of one listener.
    pub fn rejects(&self, listener: &str, reason: Reject) -> f64 {
        self.telemetry
            .value(
                "treestat_listen_rejects_total",
                &[("listener", listener), ("reason", reason.as_str())],
            )
            .unwrap_or(0.0)
    }

    pub fn counter(&self, name: &str, listener: &str) -> f64 {
        self.telemetry
            .value(name, &[("listener", listener)])
            .unwrap_or(0.0)
    }

    /// Waits until a leaf exists and `check` holds for it.
    pub async fn wait_leaf(
        &self,
        path: &str,
        check: impl Fn(Action, &treestat_engine::Stats) -> bool,
    ) -> (Action, treestat_engine::Stats) {
        let until = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some((_, a, s)) = self.engine.leaf_at(path)
                && check(a, &s)
            {
                return (a, s);
            }
            assert!(
                tokio::time::Instant::now() < until,
                "leaf {path} never arrived (now {:?})",
                self.engine.leaf_at(path)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `cond` holds.
    pub async fn wait(&self, what: &str, cond: impl Fn(&Server) -> bool) {
        let until = tokio::time::Instant::now() + PATIENCE;
        while !cond(self) {
            assert!(
                tokio::time::Instant::now() < until,
                "never happened: {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Cancels the token and waits for every listener to return.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("listeners return within 5 s of shutdown")
            .expect("listener task")
            .expect("listeners end without error");
    }
}

/// A line client for TCP 8007 and Graphite.
pub struct LineClient {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

impl LineClient {
    pub async fn connect(addr: SocketAddr) -> LineClient {
        let s = TcpStream::connect(addr).await.expect("connect");
        let (r, w) = s.into_split();
        LineClient {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    /// Connects to TCP 8007 and checks the hint line.
    pub async fn connect_8007(addr: SocketAddr) -> LineClient {
        let mut c = LineClient::connect(addr).await;
        let hint = c.read_line().await.expect("hint line");
        assert_eq!(
            hint,
            "--Hint: send data of the form [name:str, timestamp:float, data:float]"
        );
        c
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// The next line without its line ending; `None` at end of stream.
    pub async fn read_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(PATIENCE, self.reader.read_until(b'\n', &mut buf))
            .await
            .expect("a reply in time")
            .ok()?;
        if n == 0 {
            return None;
        }
        let s = String::from_utf8(buf).expect("replies are UTF-8");
        Some(s.trim_end_matches(['\r', '\n']).to_string())
    }

    /// Sends one line and returns the reply.
    pub async fn ask(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes()).await;
        self.read_line().await.expect("a reply")
    }
}

pub async fn udp_client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("bind client")
}
