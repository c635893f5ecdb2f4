//! The real receivers from Debian, each on free loopback ports with a private config
//! and storage in a temp directory, run in the foreground as a child of the test and
//! killed when dropped: `carbon-cache` (package graphite-carbon, whisper files read
//! back with python3-whisper's `whisper-fetch`) and `prometheus` with its
//! remote-write receiver.
//!
//! Without the package the tests print that they skipped and pass, unless `CI` is set:
//! then they fail naming the package to install (`.ci/run` installs them).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, wait_for};

/// Whether `bin` exists; if not, skips (or under `CI` fails) naming `package`.
pub fn installed(bin: &str, package: &str) -> bool {
    if Path::new(bin).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{bin} is missing: apt-get install {package}"
    );
    eprintln!("skipped: {bin} is missing (apt-get install {package})");
    false
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_ok()
}

/// A carbon-cache.
pub struct Carbon {
    /// The plaintext line receiver.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Carbon {
    /// Whether carbon-cache and whisper-fetch are installed (else skipped; see module).
    pub fn available() -> bool {
        installed("/usr/bin/carbon-cache", "graphite-carbon")
            && installed("/usr/bin/whisper-fetch", "python3-whisper")
    }

    /// Starts one whose line receiver listens on `port`, with 10 s points kept a
    /// day, and waits until it accepts connections.
    pub fn start(port: u16) -> Carbon {
        Carbon::start_step(port, 10)
    }

    /// As [`Carbon::start`], keeping a point every `step` seconds for a day.
    pub fn start_step(port: u16, step: u32) -> Carbon {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let (pickle, query) = (free_port(), free_port());
        let conf = format!(
            "[cache]\n\
             STORAGE_DIR = {d}/storage/\n\
             LOCAL_DATA_DIR = {d}/storage/whisper/\n\
             WHITELISTS_DIR = {d}/lists/\n\
             CONF_DIR = {d}/\n\
             LOG_DIR = {d}/log/\n\
             PID_DIR = {d}/\n\
             ENABLE_LOGROTATION = False\n\
             USER =\n\
             ENABLE_TAGS = False\n\
             MAX_CACHE_SIZE = inf\n\
             MAX_UPDATES_PER_SECOND = inf\n\
             MAX_CREATES_PER_MINUTE = inf\n\
             LINE_RECEIVER_INTERFACE = 127.0.0.1\n\
             LINE_RECEIVER_PORT = {port}\n\
             ENABLE_UDP_LISTENER = False\n\
             PICKLE_RECEIVER_INTERFACE = 127.0.0.1\n\
             PICKLE_RECEIVER_PORT = {pickle}\n\
             CACHE_QUERY_INTERFACE = 127.0.0.1\n\
             CACHE_QUERY_PORT = {query}\n\
             LOG_LISTENER_CONN_SUCCESS = False\n\
             LOG_UPDATES = False\n\
             LOG_CREATES = False\n"
        );
        std::fs::write(dir.path().join("carbon.conf"), conf).unwrap();
        std::fs::write(
            dir.path().join("storage-schemas.conf"),
            format!("[all]\npattern = .*\nretentions = {step}s:1d\n"),
        )
        .unwrap();
        let child = Command::new("/usr/bin/carbon-cache")
            .arg(format!("--config={d}/carbon.conf"))
            .arg(format!("--pidfile={d}/carbon.pid"))
            .args(["--nodaemon", "start"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
            // Debian's twisted warns about deprecated ciphers on every start.
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .expect("carbon-cache starts");
        let mut c = Carbon {
            port,
            dir,
            child: Some(child),
        };
        wait_for("carbon-cache to listen", || {
            if let Some(status) = c.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("carbon-cache exited: {status}: {}", c.log());
            }
            accepts(port).then_some(())
        });
        c
    }

    /// carbon-cache's console output (for failure messages).
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!("{}{}", read("stdout.log"), read("stderr.log"))
    }

    /// The whisper file of a Graphite name (`a.b.c` is `a/b/c.wsp`).
    pub fn file(&self, name: &str) -> PathBuf {
        let mut p = self.dir.path().join("storage/whisper");
        p.push(format!("{}.wsp", name.replace('.', "/")));
        p
    }

    /// The points whisper holds for `name` in `[from, until]` (empty slots left out);
    /// empty while the file does not exist yet.
    pub fn fetch(&self, name: &str, from: i64, until: i64) -> Vec<(i64, f64)> {
        let file = self.file(name);
        if !file.exists() {
            return Vec::new();
        }
        // whisper-fetch answers the slots after `from`.
        let out = Command::new("/usr/bin/whisper-fetch")
            .arg(format!("--from={}", from - 1))
            .arg(format!("--until={until}"))
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "whisper-fetch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let (ts, v) = l.split_once('\t')?;
                Some((ts.parse().ok()?, v.parse().ok()?))
            })
            .collect()
    }

    /// Waits until whisper holds exactly `want` for `name` in `[from, until]`.
    pub fn wait_points(&self, name: &str, from: i64, until: i64, want: &[(i64, f64)]) {
        let mut last = Vec::new();
        let found = (0..4500).any(|_| {
            last = self.fetch(name, from, until);
            if last == want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
            false
        });
        assert!(
            found,
            "{name}: whisper holds {last:?}, want {want:?}\n{}",
            self.log()
        );
    }
}

impl Drop for Carbon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A Prometheus with the remote-write receiver.
pub struct Prometheus {
    /// The HTTP port (`/api/v1/write`, `/api/v1/query`).
    pub port: u16,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Prometheus {
    /// Whether prometheus is installed (else skipped; see module).
    pub fn available() -> bool {
        installed("/usr/bin/prometheus", "prometheus")
    }

    /// Starts one on `port` and waits until it is ready.
    pub fn start(port: u16) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("prometheus.yml");
        std::fs::write(&conf, "global:\n  scrape_interval: 1m\n").unwrap();
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", conf.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--web.enable-remote-write-receiver", "--log.level=warn"])
            .stdin(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let mut p = Prometheus {
            port,
            _dir: dir,
            child,
        };
        wait_for("prometheus to be ready", || {
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!("prometheus exited: {status}");
            }
            let r = ureq::get(&format!("http://127.0.0.1:{port}/-/ready")).call();
            r.ok().filter(|r| r.status() == 200).map(|_| ())
        });
        p
    }

    /// The remote-write URL.
    pub fn write_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// `/api/v1/query?query=q&time=t`'s `data.result`.
    pub fn query(&self, q: &str, time: i64) -> Vec<serde_json::Value> {
        let mut r = ureq::get(&format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query("query", q)
            .query("time", time.to_string())
            .call()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(v["status"], "success", "{v}");
        v["data"]["result"].as_array().unwrap().clone()
    }

    /// The raw samples of each series `selector` picks over the hour before `time`:
    /// `(labels, [(unix seconds, value)])`, sorted by the `path` label.
    pub fn samples(&self, selector: &str, time: i64) -> Vec<(serde_json::Value, Vec<(i64, f64)>)> {
        let mut out: Vec<_> = self
            .query(&format!("{selector}[1h]"), time)
            .into_iter()
            .map(|s| {
                let pts = s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let ts = p[0].as_f64().unwrap();
                        #[allow(clippy::cast_possible_truncation)]
                        let ts = ts as i64;
                        (ts, p[1].as_str().unwrap().parse::<f64>().unwrap())
                    })
                    .collect();
                (s["metric"].clone(), pts)
            })
            .collect();
        out.sort_by(|a, b| a.0["path"].as_str().cmp(&b.0["path"].as_str()));
        out
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
