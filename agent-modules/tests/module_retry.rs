//! A module whose `metric_init` fails (the service it polls is absent) is reported once
//! with its cause and tried again on a slow backoff, 1 min doubling to 1 h, not every
//! interval; it loads once the service appears (issue 18).

use std::time::{Duration, Instant};

use treestat_agent::agent::{RETRY_FIRST, RETRY_MAX, load_modules};

const FLAKY: &str = r#"
import os

def metric_init(params):
    with open(params['attempts'], 'a') as f:
        f.write('x')
    if not os.path.exists(params['ready']):
        raise IOError('service not running: no ' + params['ready'])
    return [{'name': 'up', 'call_back': lambda n: 1, 'value_type': 'uint'}]
"#;

#[test]
fn failing_init_is_reported_once_and_retried_on_a_doubling_backoff() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("modules");
    std::fs::create_dir(&d).unwrap();
    let attempts_file = tmp.path().join("attempts");
    let ready = tmp.path().join("ready");
    std::fs::write(d.join("flaky.py"), FLAKY).unwrap();
    std::fs::write(
        d.join("flaky.conf"),
        format!(
            "attempts = {}\nready = {}\n",
            attempts_file.display(),
            ready.display()
        ),
    )
    .unwrap();
    let attempts = || {
        std::fs::read_to_string(&attempts_file)
            .unwrap_or_default()
            .len()
    };
    let interval = Duration::from_secs(1);

    let t0 = Instant::now();
    let mut loaded = load_modules(&d, interval).unwrap();
    assert_eq!(attempts(), 1);
    assert_eq!(loaded.errors.len(), 1);
    let cause = loaded.errors[0].1.to_string();
    assert!(cause.contains("OSError: service not running"), "{cause}");
    assert!(loaded.modules.is_empty());

    // Rescans before the first wait is over do not call metric_init again.
    for s in [10, 20, 50] {
        let new = loaded
            .rescan(&d, interval, t0 + Duration::from_secs(s))
            .unwrap();
        assert!(new.is_empty(), "{new:?}");
    }
    assert_eq!(attempts(), 1, "retried before {RETRY_FIRST:?}");

    // After a minute: tried again, the same cause is not reported again.
    let t1 = t0 + RETRY_FIRST + Duration::from_secs(1);
    let new = loaded.rescan(&d, interval, t1).unwrap();
    assert!(new.is_empty(), "reported twice: {new:?}");
    assert_eq!(attempts(), 2);
    // The wait doubled: two minutes now.
    assert_eq!(loaded.next_retry("flaky"), Some(t1 + 2 * RETRY_FIRST));
    loaded
        .rescan(&d, interval, t1 + RETRY_FIRST + Duration::from_secs(1))
        .unwrap();
    assert_eq!(attempts(), 2, "retried one minute after the second failure");

    // The service appears: the next try loads the module, and it reports.
    std::fs::write(&ready, "").unwrap();
    let t2 = t1 + 2 * RETRY_FIRST;
    let new = loaded.rescan(&d, interval, t2).unwrap();
    assert!(new.is_empty(), "{new:?}");
    assert_eq!(attempts(), 3);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert_eq!(loaded.next_retry("flaky"), None);
    let c = loaded.modules[0].module.collect();
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(c.samples.len(), 1);
}

#[test]
fn the_backoff_stops_doubling_at_an_hour() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("never.py"),
        "def metric_init(p):\n    raise RuntimeError('absent')\n",
    )
    .unwrap();
    let interval = Duration::from_secs(1);
    let mut loaded = load_modules(d, interval).unwrap();
    let mut now = Instant::now();
    let mut waits = Vec::new();
    for _ in 0..9 {
        let next = loaded.next_retry("never").unwrap();
        waits.push((next - now).as_secs());
        now = next;
        assert!(loaded.rescan(d, interval, now).unwrap().is_empty());
    }
    assert_eq!(waits[1..], [120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    assert_eq!(RETRY_MAX.as_secs(), 3600);
}

/// The log lines of the whole test binary: the global subscriber (a scoped one loses
/// events when other test threads register the same call sites first), set once.
fn global_log() -> Log {
    static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = Log::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        log
    })
    .clone()
}

/// Log lines written (by every thread).
#[derive(Clone, Default)]
struct Log(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Log;
    fn make_writer(&'a self) -> Log {
        self.clone()
    }
}

#[test]
fn the_agent_logs_a_failing_module_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("absent.py"),
        "def metric_init(p):\n    raise IOError('connection refused: localhost:11211')\n",
    )
    .unwrap();
    std::fs::write(d.join("uptime.conf"), "").unwrap();
    let config = treestat_agent::AgentConfig {
        servers: Vec::new(),
        host: Some("h".into()),
        modules: d.to_path_buf(),
        ..treestat_agent::AgentConfig::default()
    };
    let log = global_log();
    let (tries, doc) = {
        let mut agent = treestat_agent::agent::Agent::new(&config).unwrap();
        let t0 = Instant::now();
        // Rescans every 10 s for 20 minutes: tries at 1, 3, 7 and 15 minutes.
        for s in (10..1200).step_by(10) {
            agent.rescan(t0 + Duration::from_secs(s));
        }
        let doc = agent.tick(t0 + Duration::from_secs(1200)).unwrap();
        (agent.load_errors().len(), doc)
    };
    let text = String::from_utf8(log.0.lock().clone()).unwrap();
    // Each event holds the traceback once (an event spans several lines); the address
    // is this test's alone: other tests log into the same buffer.
    assert_eq!(text.matches("localhost:11211')\n").count(), 1, "{text}");
    let event = text
        .split("\n20")
        .find(|e| e.contains("localhost:11211"))
        .unwrap();
    assert!(
        event.contains(" ERROR ") && event.contains("next try in 60 s"),
        "{text}"
    );
    assert_eq!(tries, 1);
    // The error marker and the count are there for the operator.
    let own = doc
        .as_array()
        .unwrap()
        .iter()
        .find_map(|t| t.pointer("/_treestat/agent/h"))
        .unwrap();
    assert!(
        own["errors"]["absent"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{own}"
    );
    assert_eq!(own["module_errors"], 1, "{own}");
}
