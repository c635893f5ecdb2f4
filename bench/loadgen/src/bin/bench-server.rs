//! A tiny server for load runs until `treestat serve` exists: a real engine with the
//! four push listeners, intervals closed on time, and a control port that answers
//! every connection with one JSON line of the listener counters.
//!
//! ```text
//! bench-server [--tcp ADDR] [--udp ADDR] [--statsd ADDR] [--graphite ADDR]
//!              [--control ADDR] [--rcvbuf BYTES] [--interval SECS]
//! ```
//! Stops on SIGINT/SIGTERM (ctrl-c) through the listeners' cancellation token.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use treestat_engine::listen::{self, ListenConfig, Listeners};
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Engine, EngineConfig};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let interval: u64 = arg(&args, "--interval", "10").parse().unwrap_or(10);
    let rcvbuf: usize = arg(&args, "--rcvbuf", "4194304").parse().unwrap_or(0);
    let cfg = ListenConfig {
        tcp: arg(&args, "--tcp", "127.0.0.1:18007"),
        udp: arg(&args, "--udp", "127.0.0.1:18007"),
        statsd: arg(&args, "--statsd", "127.0.0.1:18125"),
        graphite: arg(&args, "--graphite", "127.0.0.1:12003"),
        udp_recv_buffer: rcvbuf,
        ..ListenConfig::default()
    };
    let engine = Engine::new(EngineConfig {
        interval: Duration::from_secs(interval),
        ..EngineConfig::default()
    })
    .map_err(std::io::Error::other)?;
    let listeners: Listeners = listen::bind(&cfg).await?;
    for (name, addr) in listeners.addrs() {
        println!("{name} listening on {addr}");
    }
    let control = TcpListener::bind(arg(&args, "--control", "127.0.0.1:18099")).await?;
    println!("control on {}", control.local_addr()?);

    let telemetry = Telemetry::default();
    let shutdown = CancellationToken::new();
    let serve = {
        let (engine, telemetry, shutdown, cfg) = (
            engine.clone(),
            telemetry.clone(),
            shutdown.clone(),
            cfg.clone(),
        );
        tokio::spawn(async move { listeners.serve(engine, &cfg, &telemetry, shutdown).await })
    };
    let ticker = {
        let (engine, telemetry, shutdown) = (engine.clone(), telemetry.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                if engine.secs_until_close() == 0 {
                    // The server's own counters go into the tree, as in `treestat serve`.
                    let _ = engine.apply(&telemetry.to_batch());
                    let e = engine.clone();
                    let _ = tokio::task::spawn_blocking(move || e.close_due()).await;
                }
            }
        })
    };
    let answer = {
        let (telemetry, engine, shutdown) = (telemetry.clone(), engine.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                let mut s = tokio::select! {
                    () = shutdown.cancelled() => return,
                    r = control.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                };
                let mut line = counters(&telemetry, &engine).to_string();
                line.push('\n');
                let _ = s.write_all(line.as_bytes()).await;
            }
        })
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    println!("shutting down");
    shutdown.cancel();
    let _ = tokio::join!(ticker, answer);
    serve.await.map_err(std::io::Error::other)??;
    println!("final {}", counters(&telemetry, &engine));
    Ok(())
}

fn counters(t: &Telemetry, engine: &Engine) -> serde_json::Value {
    let mut v = serde_json::Map::new();
    for l in ["tcp", "udp", "statsd", "graphite"] {
        for (key, name) in [
            ("lines", "treestat_listen_lines_total"),
            ("datagrams", "treestat_listen_datagrams_total"),
            ("samples", "treestat_listen_samples_total"),
            ("pushes", "treestat_listen_pushes_total"),
        ] {
            let n = t.value(name, &[("listener", l)]).unwrap_or(0.0);
            v.insert(format!("{l}_{key}"), n.into());
        }
        v.insert(
            format!("{l}_rejects"),
            t.sum("treestat_listen_rejects_total", &[("listener", l)])
                .into(),
        );
    }
    v.insert("tree_leaves".into(), engine.stats().leaves.into());
    serde_json::Value::Object(v)
}
