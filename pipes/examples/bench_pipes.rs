//! End-to-end numbers for the pipes, in process, on one core:
//!
//! 1. parse only (the format's splitter), lines/s;
//! 2. the tailer in `--once` mode with every built-in pipe the format feeds, into an
//!    engine, lines/s (what `treestat tail --once FILE` does, minus printing the tree);
//! 3. with `--native SO` (repeatable): per-line overhead of a native pipe (a pipeline
//!    with only that pipe minus one with no pipe); `examples/native-c/noop.c` gives
//!    the cost of crossing the ABI, `methods.c` that of a pipe doing real work;
//! 4. with `--python PY`: lines/s through a Python pipe (batched on its thread).
//!
//! ```text
//! cargo run --release -p treestat-pipes --example gen_combined_log -- /tmp/combined-1m.log
//! cargo run --release -p treestat-pipes --example bench_pipes -- /tmp/combined-1m.log \
//!     [--native libmethods.so] [--python pipes/examples/python/referers.py]
//! ```

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use treestat_engine::{Engine, EngineConfig};
use treestat_pipes::format::Format;
use treestat_pipes::pipeline::{PipeConfig, build_pipe};
use treestat_pipes::tail::{self, FileCheckpoints, RunOptions, TailOptions, Tailer};
use treestat_pipes::{Error, ErrorKind, Pipeline, PipelineConfig};

fn rate(n: usize, secs: f64) -> String {
    // Display only.
    #[allow(clippy::cast_precision_loss)]
    let r = n as f64 / secs;
    format!("{:.0} lines/s ({:.1} ns/line)", r, 1e9 / r)
}

fn feed_all(p: &mut Pipeline, lines: &[&str]) -> f64 {
    let t = Instant::now();
    for l in lines {
        p.feed_line(l);
    }
    let _ = p.take_updates();
    t.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let log = PathBuf::from(
        args.next()
            .ok_or("usage: bench_pipes LOG [--native SO] [--python PY]")?,
    );
    let (mut native, mut python) = (Vec::new(), None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--native" => native.extend(args.next().map(PathBuf::from)),
            "--python" => python = args.next().map(PathBuf::from),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let text = std::fs::read_to_string(&log)?;
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    println!("{}: {n} lines", log.display());

    let format = Format::new("combined")?;
    let mut spans = Vec::new();
    let t = Instant::now();
    let mut ok = 0usize;
    for l in &lines {
        ok += usize::from(format.split(l, &mut spans).is_ok());
    }
    println!(
        "parse only (combined): {} [{ok} parsed]",
        rate(n, t.elapsed().as_secs_f64())
    );

    let engine = Engine::new(EngineConfig::default())?;
    let dir = tempfile::tempdir()?;
    let store = FileCheckpoints::open(&dir.path().join("cp.json"))?;
    let mut tailer = Tailer::new(
        std::slice::from_ref(&log),
        TailOptions {
            from_start: true,
            ..TailOptions::default()
        },
        Box::new(store),
    );
    let mut p = Pipeline::from_config(&PipelineConfig::default())?;
    let once = RunOptions {
        once: true,
        ..RunOptions::default()
    };
    let t = Instant::now();
    let stats = tail::run(
        &mut tailer,
        &mut p,
        &once,
        &AtomicBool::new(false),
        &mut |agg| {
            agg.apply_to(&engine)
                .map(|_| ())
                .map_err(|e| Error::new(ErrorKind::Engine, e.to_string()))
        },
        &mut |_, _| {},
    )?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "tail --once, built-ins {:?}, into the engine: {} [{} lines, {} leaves]",
        p.pipe_names(),
        rate(usize::try_from(stats.lines)?, secs),
        stats.lines,
        engine.query("")?.len()
    );

    let empty = |name: &str| {
        Pipeline::new(
            name,
            Format::new("combined").expect("preset"),
            Vec::new(),
            100_000,
        )
    };
    for so in native {
        let cfg = PipeConfig {
            pipe: "native".into(),
            path: Some(so.clone()),
            ..PipeConfig::default()
        };
        let mut base = empty("base")?;
        let mut with = Pipeline::new(
            "native",
            Format::new("combined")?,
            vec![build_pipe(&cfg)?],
            100_000,
        )?;
        // Warm up both, then measure.
        feed_all(&mut base, &lines[..n.min(10_000)]);
        feed_all(&mut with, &lines[..n.min(10_000)]);
        let t0 = feed_all(&mut base, &lines);
        let t1 = feed_all(&mut with, &lines);
        #[allow(clippy::cast_precision_loss)]
        let per = (t1 - t0) * 1e9 / n as f64;
        println!(
            "native pipe {}: {} alone; overhead {per:.1} ns/line over parsing",
            so.display(),
            rate(n, t1)
        );
    }
    if let Some(py) = python {
        let cfg = PipeConfig {
            pipe: "python".into(),
            path: Some(py),
            ..PipeConfig::default()
        };
        let mut with = Pipeline::new(
            "python",
            Format::new("combined")?,
            vec![build_pipe(&cfg)?],
            100_000,
        )?;
        let t1 = feed_all(&mut with, &lines);
        let errors = with.errors();
        println!("python pipe: {} (errors {:?})", rate(n, t1), errors);
    }
    Ok(())
}
