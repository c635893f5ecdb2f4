//! Load generator for treestat's push listeners, run as a second process on the same
//! box. It sends as fast as it can (or at `--rate`), then asks the server how much it
//! received and prints throughput and loss.
//!
//! ```text
//! loadgen udp-json [--addr 127.0.0.1:18007] [--secs 5] [--threads 1] [--rate 0]
//! loadgen statsd   [--addr 127.0.0.1:18125] [--secs 5] [--threads 1] [--lines 25] [--rate 0]
//!                  [--kind mixed|timers]   timers: every line `|ms` (histogram leaves),
//!                  received counted as samples merged (bench server) instead of lines
//! loadgen tcp      [--addr 127.0.0.1:18007] [--secs 5] [--conns 4] [--batch 100]
//! loadgen graphite [--addr 127.0.0.1:12003] [--secs 5] [--conns 2]
//! common:          [--control 127.0.0.1:18099]   the bench server's counters, or
//!                  [--etsy-mgmt 127.0.0.1:28126] Etsy statsd's management port
//! ```
//! `--rate` is datagrams per second over all threads (0: as fast as possible).
//! Every run ends with one `RESULT <scenario> key=value ...` line for scripts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

struct Args(Vec<String>);

impl Args {
    fn get(&self, name: &str, default: &str) -> String {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }
    fn num(&self, name: &str, default: u64) -> u64 {
        self.get(name, &default.to_string())
            .parse()
            .unwrap_or(default)
    }
}

/// Where the received counts come from.
enum Receiver {
    /// The bench server's control port; the JSON key to read.
    Bench(String, &'static str),
    /// Etsy statsd's management port (`statsd.metrics_received`).
    Etsy(String),
}

impl Receiver {
    fn read(&self) -> Result<u64, String> {
        match self {
            Receiver::Bench(addr, key) => {
                let mut s = TcpStream::connect(addr).map_err(|e| format!("control {addr}: {e}"))?;
                let mut line = String::new();
                s.read_to_string(&mut line).map_err(|e| e.to_string())?;
                let v: serde_json::Value =
                    serde_json::from_str(line.trim()).map_err(|e| e.to_string())?;
                v.get(*key)
                    .and_then(serde_json::Value::as_f64)
                    .map(|f| f.round() as u64)
                    .ok_or_else(|| format!("no {key} in {line}"))
            }
            Receiver::Etsy(addr) => {
                let mut s =
                    TcpStream::connect(addr).map_err(|e| format!("etsy mgmt {addr}: {e}"))?;
                s.write_all(b"counters\n").map_err(|e| e.to_string())?;
                let mut text = String::new();
                let mut r = BufReader::new(s);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                        break;
                    }
                    if line.trim() == "END" {
                        break;
                    }
                    text.push_str(&line);
                }
                let key = "'statsd.metrics_received': ";
                let at = text
                    .find(key)
                    .ok_or_else(|| format!("no metrics_received in {text}"))?;
                let digits: String = text[at + key.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse().map_err(|e| format!("{e}: {digits}"))
            }
        }
    }

    /// Waits until the count stops moving; returns it and when it last moved.
    fn settle(&self, start: Instant) -> Result<(u64, Instant), String> {
        let mut last = self.read()?;
        let mut moved = Instant::now();
        let give_up = Instant::now() + Duration::from_secs(60);
        while moved.elapsed() < Duration::from_millis(700) && Instant::now() < give_up {
            thread::sleep(Duration::from_millis(100));
            let now = self.read()?;
            if now != last {
                last = now;
                moved = Instant::now();
            }
        }
        let _ = start;
        Ok((last, moved))
    }
}

fn receiver(args: &Args, key: &'static str) -> Receiver {
    let etsy = args.get("--etsy-mgmt", "");
    if etsy.is_empty() {
        Receiver::Bench(args.get("--control", "127.0.0.1:18099"), key)
    } else {
        Receiver::Etsy(etsy)
    }
}

/// Sends `payloads` round-robin over UDP from `threads` threads for `secs` seconds.
/// Returns (datagrams sent, send errors, elapsed).
fn blast(
    addr: &str,
    payloads: Arc<Vec<Vec<u8>>>,
    threads: u64,
    secs: u64,
    rate: u64,
) -> (u64, u64, Duration) {
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let per_thread = if rate == 0 {
        0
    } else {
        (rate / threads.max(1)).max(1)
    };
    let handles: Vec<_> = (0..threads.max(1))
        .map(|t| {
            let (payloads, sent, errors, stop) =
                (payloads.clone(), sent.clone(), errors.clone(), stop.clone());
            let addr = addr.to_string();
            thread::spawn(move || {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
                sock.connect(&addr).expect("connect sender");
                let t0 = Instant::now();
                let mut n: u64 = 0;
                let mut i = usize::try_from(t).unwrap_or(0) * 7;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        i = (i + 1) % payloads.len();
                        match sock.send(&payloads[i]) {
                            Ok(_) => n += 1,
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    if per_thread > 0 {
                        let due = Duration::from_secs_f64(n as f64 / per_thread as f64);
                        let el = t0.elapsed();
                        if due > el {
                            thread::sleep(due - el);
                        }
                    }
                }
                sent.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    (
        sent.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        start.elapsed(),
    )
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn udp_json(args: &Args) -> Result<(), String> {
    let addr = args.get("--addr", "127.0.0.1:18007");
    let payloads: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            format!(
                r#"{{"bench":{{"host{}":{{"cpu":{},"mem":{{"used":{},"free":{}}}}}}}}}"#,
                i % 100,
                i % 97,
                i * 3,
                i * 7
            )
            .into_bytes()
        })
        .collect();
    udp_run(
        args,
        &addr,
        payloads,
        "udp_datagrams",
        ("udp-json", "datagrams", 1),
    )
}

fn statsd(args: &Args) -> Result<(), String> {
    let addr = args.get("--addr", "127.0.0.1:18125");
    let per = args.num("--lines", 25).max(1);
    let timers = match args.get("--kind", "mixed").as_str() {
        "mixed" => false,
        "timers" => true,
        other => return Err(format!("--kind {other}: mixed or timers")),
    };
    let kinds = ["c", "c", "ms", "g", "c|@0.5", "h"];
    let payloads: Vec<Vec<u8>> = (0..1000u64)
        .map(|d| {
            let mut s = String::new();
            for l in 0..per {
                let i = d * per + l;
                if timers {
                    // 500 timers; latencies spread over 0.01 .. 1000 ms so that the
                    // sketches have many buckets, as real latencies do.
                    s.push_str(&format!(
                        "bench.app{}.timer{}:{}|ms\n",
                        i % 10,
                        i % 500,
                        (i * 7919 % 100_000) as f64 / 100.0
                    ));
                } else {
                    s.push_str(&format!(
                        "bench.app{}.metric{}:{}|{}\n",
                        i % 10,
                        i % 500,
                        i % 100,
                        kinds[(i % 6) as usize]
                    ));
                }
            }
            s.pop();
            s.into_bytes()
        })
        .collect();
    // Timers: what reached the histogram leaves (samples merged) against Etsy's
    // `metrics_received` (lines); a timer line is one sample.
    let (counter, name) = if timers {
        ("statsd_samples", "statsd_timers")
    } else {
        ("statsd_lines", "statsd")
    };
    udp_run(args, &addr, payloads, counter, (name, "lines", per))
}

/// Blasts `payloads` at `addr` as the flags say, reads the server's `counter` before
/// and after, and reports as `name` in `unit`s, `per` of them in each datagram.
fn udp_run(
    args: &Args,
    addr: &str,
    payloads: Vec<Vec<u8>>,
    counter: &'static str,
    (name, unit, per): (&str, &str, u64),
) -> Result<(), String> {
    let rx = receiver(args, counter);
    let before = rx.read()?;
    let start = Instant::now();
    let (sent, errors, took) = blast(
        addr,
        Arc::new(payloads),
        args.num("--threads", 1),
        args.num("--secs", 5),
        args.num("--rate", 0),
    );
    let (after, last) = rx.settle(start)?;
    let span = last.duration_since(start).max(took);
    report(
        name,
        unit,
        sent * per,
        errors * per,
        took,
        after - before,
        span,
    );
    Ok(())
}

fn report(
    name: &str,
    unit: &str,
    sent: u64,
    errors: u64,
    took: Duration,
    got: u64,
    span: Duration,
) {
    let loss = if sent == 0 {
        0.0
    } else {
        100.0 * (1.0 - got as f64 / sent as f64)
    };
    println!(
        "{name}: sent {sent} {unit} in {:.2} s ({:.0}/s, {errors} send errors); received {got} ({:.0}/s over {:.2} s); loss {loss:.2}%",
        took.as_secs_f64(),
        per_sec(sent, took),
        per_sec(got, span),
        span.as_secs_f64()
    );
    println!(
        "RESULT {name} sent={sent} sent_per_s={:.0} received={got} received_per_s={:.0} loss_pct={loss:.2}",
        per_sec(sent, took),
        per_sec(got, span)
    );
}

/// Pipelined TCP 8007: each connection writes `batch` lines, then reads their answers.
fn tcp(args: &Args) -> Result<(), String> {
    let addr = args.get("--addr", "127.0.0.1:18007");
    let secs = args.num("--secs", 5);
    let batch = args.num("--batch", 100).max(1);
    let conns = args.num("--conns", 4).max(1);
    let start = Instant::now();
    let handles: Vec<_> = (0..conns)
        .map(|c| {
            let addr = addr.clone();
            thread::spawn(move || -> Result<(u64, u64), String> {
                let s = TcpStream::connect(&addr).map_err(|e| format!("{addr}: {e}"))?;
                s.set_nodelay(true).ok();
                let mut w = s.try_clone().map_err(|e| e.to_string())?;
                let mut r = BufReader::new(s);
                let mut hint = String::new();
                r.read_line(&mut hint).map_err(|e| e.to_string())?;
                let mut chunk = String::new();
                for i in 0..batch {
                    chunk.push_str(&format!(
                        "{{\"tcpbench\":{{\"c{c}\":{{\"v{}\":{}}}}}}}\n",
                        i % 20,
                        i
                    ));
                }
                let (mut ok, mut err) = (0, 0);
                let mut line = String::new();
                while start.elapsed() < Duration::from_secs(secs) {
                    w.write_all(chunk.as_bytes()).map_err(|e| e.to_string())?;
                    for _ in 0..batch {
                        line.clear();
                        r.read_line(&mut line).map_err(|e| e.to_string())?;
                        if line.starts_with("--OK") {
                            ok += 1;
                        } else {
                            err += 1;
                        }
                    }
                }
                Ok((ok, err))
            })
        })
        .collect();
    let (mut ok, mut err) = (0, 0);
    for h in handles {
        let (o, e) = h
            .join()
            .map_err(|_| "sender thread panicked".to_string())??;
        ok += o;
        err += e;
    }
    let took = start.elapsed();
    println!(
        "tcp: {ok} lines answered --OK ({err} --ERR) over {conns} connections in {:.2} s: {:.0} lines/s",
        took.as_secs_f64(),
        per_sec(ok, took)
    );
    println!(
        "RESULT tcp answered={ok} errors={err} lines_per_s={:.0}",
        per_sec(ok, took)
    );
    Ok(())
}

/// Graphite plaintext: each connection streams lines; the server counts them.
fn graphite(args: &Args) -> Result<(), String> {
    let addr = args.get("--addr", "127.0.0.1:12003");
    let secs = args.num("--secs", 5);
    let conns = args.num("--conns", 2).max(1);
    let rx = receiver(args, "graphite_lines");
    let before = rx.read()?;
    let start = Instant::now();
    let handles: Vec<_> = (0..conns)
        .map(|c| {
            let addr = addr.clone();
            thread::spawn(move || -> Result<u64, String> {
                let mut s = TcpStream::connect(&addr).map_err(|e| format!("{addr}: {e}"))?;
                let mut chunk = String::new();
                for i in 0..500 {
                    chunk.push_str(&format!("bench.graphite.c{c}.m{} {} -1\n", i % 50, i));
                }
                let mut n = 0;
                while start.elapsed() < Duration::from_secs(secs) {
                    s.write_all(chunk.as_bytes()).map_err(|e| e.to_string())?;
                    n += 500;
                }
                Ok(n)
            })
        })
        .collect();
    let mut sent = 0;
    for h in handles {
        sent += h
            .join()
            .map_err(|_| "sender thread panicked".to_string())??;
    }
    let took = start.elapsed();
    let (after, last) = rx.settle(start)?;
    let span = last.duration_since(start).max(took);
    report("graphite", "lines", sent, 0, took, after - before, span);
    Ok(())
}

fn main() {
    let args = Args(std::env::args().collect());
    let r = match args.0.get(1).map(String::as_str) {
        Some("udp-json") => udp_json(&args),
        Some("statsd") => statsd(&args),
        Some("tcp") => tcp(&args),
        Some("graphite") => graphite(&args),
        _ => Err(
            "usage: loadgen udp-json|statsd|tcp|graphite [options] (see the source header)".into(),
        ),
    };
    if let Err(e) = r {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}
