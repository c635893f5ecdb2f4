//! Built-in modules checked against /proc read here (cpu within tolerance, memory exact
//! to the byte), and the nginx and URL probes against local HTTP servers (and a real
//! nginx when one is installed).

use crate::common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use treestat_agent::builtin::{
    self, cpu_percentages, memory_samples, parse_meminfo, parse_proc_stat,
};
use treestat_agent::metric::{Sample, Value};

fn no_params() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn find<'a>(samples: &'a [Sample], path: &[&str]) -> Option<&'a Sample> {
    samples.iter().find(|s| s.path == path)
}

fn num(samples: &[Sample], path: &[&str]) -> f64 {
    match find(samples, path).map(|s| &s.value) {
        Some(Value::Number(n)) => *n,
        other => panic!("no number at {path:?}: {other:?} in {samples:#?}"),
    }
}

/// The test's own reading of a /proc/stat line: (user, system, idle, iowait, total).
fn own_cpu(text: &str) -> [u64; 5] {
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .expect("cpu line");
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    [v[0], v[2], v[3], v[4], v[..8].iter().sum()]
}

#[test]
fn cpu_percentages_match_proc_stat() {
    let a_text = read("/proc/stat");
    let mut module = builtin::build("cpu", &no_params()).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let c = module.collect();
    let b_text = read("/proc/stat");
    assert!(c.errors.is_empty(), "{:?}", c.errors);

    // Exact: the module's arithmetic over the same two snapshots equals ours.
    let (a, b) = (own_cpu(&a_text), own_cpu(&b_text));
    let d: Vec<f64> = (0..5).map(|i| (b[i] - a[i]) as f64).collect();
    let ours = [
        d[0] * 100.0 / d[4],
        d[1] * 100.0 / d[4],
        d[2] * 100.0 / d[4],
        d[3] * 100.0 / d[4],
    ];
    let theirs = cpu_percentages(&parse_proc_stat(&a_text), &parse_proc_stat(&b_text));
    let total = &theirs.iter().find(|(n, _)| n == "cpu").unwrap().1;
    for (i, (o, t)) in ours
        .iter()
        .zip([total[0], total[2], total[3], total[4]])
        .enumerate()
    {
        assert!((o - t).abs() < 1e-9, "field {i}: ours {o}, module {t}");
    }

    // Live: the module's own reading covers nearly the same second as ours.
    for (i, key) in ["user", "system", "idle", "iowait"].iter().enumerate() {
        let v = num(&c.samples, &[key]);
        assert!((0.0..=100.0).contains(&v), "{key} = {v}");
        assert!(
            (v - ours[i]).abs() < 15.0,
            "{key}: module {v}, /proc {}",
            ours[i]
        );
    }
    let cores = a_text
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    let per_core = c
        .samples
        .iter()
        .filter(|s| s.path.len() == 2 && s.path[1] == "idle")
        .count();
    assert!(
        per_core <= cores && cores > 0,
        "{per_core} core samples for {cores} cores"
    );
}

#[test]
fn memory_is_exact_to_the_byte() {
    let text = read("/proc/meminfo");
    let kb = |key: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<f64>()
            .unwrap()
            * 1024.0
    };
    let samples = memory_samples(&parse_meminfo(&text), false);
    assert_eq!(num(&samples, &["total"]), kb("MemTotal"));
    assert_eq!(num(&samples, &["free"]), kb("MemFree"));
    assert_eq!(num(&samples, &["available"]), kb("MemAvailable"));
    assert_eq!(num(&samples, &["cached"]), kb("Cached"));
    assert_eq!(
        num(&samples, &["used"]),
        kb("MemTotal") - kb("MemAvailable")
    );
    let swap = memory_samples(&parse_meminfo(&text), true);
    assert_eq!(num(&swap, &["used"]), kb("SwapTotal") - kb("SwapFree"));

    // The live module: totals do not move, so they match exactly.
    let live = builtin::build("memory", &no_params()).unwrap().collect();
    assert_eq!(num(&live.samples, &["total"]), kb("MemTotal"));
    let live_swap = builtin::build("swap", &no_params()).unwrap().collect();
    assert_eq!(num(&live_swap.samples, &["total"]), kb("SwapTotal"));
}

#[test]
fn load_uptime_disk_network_ip_processes_report() {
    let up_before: f64 = read("/proc/uptime")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let up = builtin::build("uptime", &no_params()).unwrap().collect();
    let up_after: f64 = read("/proc/uptime")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let secs = num(&up.samples, &["seconds"]);
    assert!(
        up_before <= secs && secs <= up_after,
        "{up_before} <= {secs} <= {up_after}"
    );

    let load = builtin::build("load", &no_params()).unwrap().collect();
    let threads = num(&load.samples, &["threads"]);
    assert!(threads >= 1.0 && num(&load.samples, &["one"]) >= 0.0);

    let disk = builtin::build("disk", &no_params()).unwrap().collect();
    assert!(disk.errors.is_empty(), "{:?}", disk.errors);
    {
        let root = find(&disk.samples, &["/", "total"]).expect("the root file system");
        let df = Command::new("df")
            .args(["-B1", "--output=size", "/"])
            .output()
            .unwrap();
        let size: f64 = String::from_utf8_lossy(&df.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(root.value, Value::Number(size), "disk / total vs df");
    }

    let mut net = builtin::build("network", &no_params()).unwrap();
    let n = net.collect();
    let lo_rx = num(&n.samples, &["lo", "rx_bytes"]);
    let dev = read("/proc/net/dev");
    let lo_line = dev
        .lines()
        .find(|l| l.trim_start().starts_with("lo:"))
        .unwrap();
    let proc_rx: f64 = lo_line
        .split_once(':')
        .unwrap()
        .1
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        lo_rx <= proc_rx,
        "counter read before ours: {lo_rx} <= {proc_rx}"
    );

    let mut ip = builtin::build("ip", &no_params()).unwrap();
    let first = ip.collect();
    let lo = find(&first.samples, &["lo"]).expect("lo has an address");
    assert!(
        matches!(&lo.value, Value::Text(t) if t.contains("127.0.0.1")),
        "{lo:?}"
    );
    assert!(
        ip.collect().samples.is_empty(),
        "unchanged addresses are not resent"
    );

    let mut procs = builtin::build("processes", &params(&[("top", "3")])).unwrap();
    let p1 = procs.collect();
    assert!(num(&p1.samples, &["count"]) >= 1.0);
    let mem_top = p1
        .samples
        .iter()
        .filter(|s| s.path[0] == "top_memory")
        .count();
    assert!((1..=3).contains(&mem_top), "{mem_top}");
    let p2 = procs.collect();
    assert!(p2.samples.iter().filter(|s| s.path[0] == "top_cpu").count() <= 3);
    assert!(builtin::build("processes", &params(&[("top", "x")])).is_err());

    let temp = builtin::build("temperature", &no_params())
        .unwrap()
        .collect();
    assert!(temp.errors.is_empty(), "absent sensors are not an error");
    assert!(
        temp.samples
            .iter()
            .all(|s| matches!(s.value, Value::Number(_)))
    );

    let io = builtin::build("diskio", &no_params()).unwrap().collect();
    assert!(io.errors.is_empty(), "{:?}", io.errors);
}

const STUB: &str = "Active connections: 3 \nserver accepts handled requests\n 7 7 19 \n\
                    Reading: 0 Writing: 1 Waiting: 2 \n";

#[test]
fn nginx_and_url_probe_against_a_local_server() {
    let addr = common::serve_static(200, STUB);
    let missing = common::serve_static(404, "gone");
    let url = format!("http://{addr}/nginx_status");
    let mut nginx = builtin::build("nginx", &params(&[("url", &url)])).unwrap();
    let c = nginx.collect();
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(num(&c.samples, &["active"]), 3.0);
    assert_eq!(num(&c.samples, &["waiting"]), 2.0);
    assert_eq!(num(&c.samples, &["requests"]), 19.0);
    assert_eq!(num(&c.samples, &["up"]), 1.0);
    assert!(builtin::build("nginx", &no_params()).is_err());

    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut probe = builtin::build(
        "urlprobe",
        &params(&[
            ("url.home", &format!("http://{addr}/")),
            ("url.gone", &format!("http://{missing}/x")),
            ("url.down", &format!("http://{closed}/")),
            ("timeout", "2s"),
        ]),
    )
    .unwrap();
    let p = probe.collect();
    assert_eq!(num(&p.samples, &["home", "status"]), 200.0);
    assert_eq!(num(&p.samples, &["home", "bytes"]), STUB.len() as f64);
    assert!(num(&p.samples, &["home", "ttfb_ms"]) <= num(&p.samples, &["home", "total_ms"]));
    assert_eq!(num(&p.samples, &["gone", "status"]), 404.0);
    assert_eq!(num(&p.samples, &["gone", "bytes"]), 4.0);
    assert_eq!(num(&p.samples, &["down", "up"]), 0.0);
    assert_eq!(p.errors.len(), 1);
    assert!(p.errors[0].contains("down"), "{:?}", p.errors);
    assert!(builtin::build("urlprobe", &no_params()).is_err());
}

struct Nginx(Child);

impl Drop for Nginx {
    /// SIGTERM to the master (a fast shutdown that also ends its workers), then wait;
    /// SIGKILL would orphan the workers.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.0.wait();
    }
}

#[test]
fn nginx_module_against_a_real_nginx() {
    let Some(bin) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        println!("SKIPPED: nginx is not installed (apt-get install -y nginx)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = dir.path().join("html");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "hello treestat\n").unwrap();
    let d = dir.path().display();
    let conf = format!(
        "worker_processes 1;\ndaemon off;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n\
         \x20 fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
         \x20 server {{\n    listen 127.0.0.1:{port};\n    root {d}/html;\n\
         \x20   location = /nginx_status {{ stub_status; }}\n  }}\n}}\n"
    );
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting nginx");
    let _guard = Nginx(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("http://127.0.0.1:{port}/nginx_status");
    let mut nginx = builtin::build("nginx", &params(&[("url", &url)])).unwrap();
    let first = nginx.collect();
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let second = nginx.collect();
    assert!(num(&second.samples, &["requests"]) > num(&first.samples, &["requests"]));
    assert!(
        num(&second.samples, &["active"]) >= 1.0,
        "our own connection is active"
    );

    let mut probe = builtin::build(
        "urlprobe",
        &params(&[("url.index", &format!("http://127.0.0.1:{port}/index.html"))]),
    )
    .unwrap();
    let p = probe.collect();
    assert_eq!(num(&p.samples, &["index", "status"]), 200.0);
    assert_eq!(num(&p.samples, &["index", "bytes"]), 15.0);
}

/// `https://` for the URL probe, nginx's status page and the HTTP transport, against
/// a real TLS server (rustls, a CA made here): trusted through `ca`, refused without
/// it, for a certificate naming another host, and when the server speaks plain HTTP.
#[test]
fn probes_and_pushes_over_https() {
    use treestat_agent::config::ServerUrl;
    use treestat_agent::http::Tls;
    use treestat_agent::transport::{Outcome, Wire};

    let dir = tempfile::tempdir().unwrap();
    let pki = common::TestPki::new(&["127.0.0.1"]);
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let ca_param = ca.to_str().unwrap();
    let (good, _) = common::serve_tls(&pki, 200, STUB);
    let other = common::TestPki::new(&["other.example"]);
    let (wrong_name, _) = common::serve_tls(&other, 200, "x");
    let plain = common::serve_static(200, "plain");

    let mut probe = builtin::build(
        "urlprobe",
        &params(&[
            ("url.secure", &format!("https://{good}/")),
            ("url.unknown_ca", &format!("https://{wrong_name}/")),
            ("url.not_tls", &format!("https://{plain}/")),
            ("timeout", "3s"),
            ("ca", ca_param),
        ]),
    )
    .unwrap();
    let p = probe.collect();
    assert_eq!(num(&p.samples, &["secure", "up"]), 1.0, "{:?}", p.errors);
    assert_eq!(num(&p.samples, &["secure", "status"]), 200.0);
    assert_eq!(num(&p.samples, &["secure", "bytes"]), STUB.len() as f64);
    assert!(num(&p.samples, &["secure", "ttfb_ms"]) <= num(&p.samples, &["secure", "total_ms"]));
    // Signed by a CA nobody trusts (and for another name).
    assert_eq!(num(&p.samples, &["unknown_ca", "up"]), 0.0);
    assert_eq!(num(&p.samples, &["not_tls", "up"]), 0.0);
    assert_eq!(p.errors.len(), 2, "{:?}", p.errors);
    assert!(
        p.errors
            .iter()
            .any(|e| e.contains("unknown_ca") && e.contains("certificate")),
        "{:?}",
        p.errors
    );
    assert!(
        p.errors.iter().any(|e| e.contains("not_tls")),
        "{:?}",
        p.errors
    );

    // Without `ca`, the same server is refused: only Mozilla's roots are trusted.
    let mut strict = builtin::build(
        "urlprobe",
        &params(&[
            ("url.secure", &format!("https://{good}/")),
            ("timeout", "3s"),
        ]),
    )
    .unwrap();
    let s = strict.collect();
    assert_eq!(num(&s.samples, &["secure", "up"]), 0.0);
    assert!(s.errors[0].contains("UnknownIssuer"), "{:?}", s.errors);

    // A certificate for another name, from a trusted CA.
    let other_ca = dir.path().join("other.pem");
    std::fs::write(&other_ca, &other.ca_pem).unwrap();
    let mut named = builtin::build(
        "urlprobe",
        &params(&[
            ("url.x", &format!("https://{wrong_name}/")),
            ("ca", other_ca.to_str().unwrap()),
        ]),
    )
    .unwrap();
    let n = named.collect();
    assert_eq!(num(&n.samples, &["x", "up"]), 0.0);
    assert!(n.errors[0].contains("not valid for name"), "{:?}", n.errors);

    let mut nginx = builtin::build(
        "nginx",
        &params(&[
            ("url", &format!("https://{good}/nginx_status")),
            ("ca", ca_param),
        ]),
    )
    .unwrap();
    let c = nginx.collect();
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(num(&c.samples, &["requests"]), 19.0);

    // A CA file that holds no certificate is a configuration error, by name.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let err = builtin::build(
        "urlprobe",
        &params(&[
            ("url", "https://example.org/"),
            ("ca", junk.to_str().unwrap()),
        ]),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("junk.pem") && err.contains("no PEM certificate"),
        "{err}"
    );

    // The HTTP transport: a push over https reaches the server whole.
    let (server, bodies) = common::serve_tls(&pki, 200, "");
    let url = ServerUrl::parse(&format!("https://{server}")).unwrap();
    assert_eq!(url.to_string(), format!("https://{server}/push"));
    let tls = Tls::new(Some(&ca)).unwrap();
    let mut wire = Wire::new(url.clone(), Duration::from_secs(3), Some(tls), None);
    let doc = br#"{"web":{"h1":{"load":0.5}}}"#;
    assert_eq!(wire.send(doc).unwrap(), Outcome::Accepted);
    assert_eq!(
        bodies.recv_timeout(Duration::from_secs(10)).unwrap(),
        doc.to_vec()
    );
    let mut untrusting = Wire::new(url, Duration::from_secs(3), None, None);
    let err = untrusting.send(doc).unwrap_err().to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");
}
