//! End-to-end numbers for the pipes, in process, on one core:
//!
//! 1. parse only (the format's splitter), lines/s;
//! 2. the tailer in `--once` mode with every built-in pipe the format feeds, into an
//!    engine, lines/s (what `treestat tail --once FILE` does, minus printing the tree);
//! 3. with `--native SO` (repeatable): per-line overhead of a native pipe (a pipeline
//!    with only that pipe minus one with no pipe); `examples/native-c/noop.c` gives
//!    the cost of crossing the ABI, `methods.c` that of a pipe doing real work;
//! 4. with `--python PY`: lines/s through a Python pipe (batched on its thread).
//! 5. with `--isolated`: each native and Python pipe again with `isolate = true` (in a
//!    child process, this very program started as `bench_pipes pipe-host`), to give the
//!    per-line cost of isolation: wall lines/s, and CPU of parent plus child.
//!
//! ```text
//! cargo run --release -p treestat-pipes --example gen_combined_log -- /tmp/combined-1m.log
//! cargo run --release -p treestat-pipes --example bench_pipes -- /tmp/combined-1m.log \
//!     [--native libmethods.so] [--python pipes/examples/python/referers.py] [--isolated]
//! ```

use std::path::PathBuf;
use std::time::Instant;
use treestat_engine::{Engine, EngineConfig};
use treestat_pipes::format::Format;
use treestat_pipes::pipeline::{PipeConfig, build_pipe};
use treestat_pipes::tail::{self, FileCheckpoints, RunOptions, TailOptions, Tailer};
use treestat_pipes::{Error, ErrorKind, Pipeline, PipelineConfig};

/// CPU seconds this thread has used (user + system), from `/proc/thread-self/stat`
/// in clock ticks of 10 ms: on a shared, loaded machine wall time overstates the cost,
/// CPU time does not. Over a million lines the tick granularity is noise.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    // Fields after the `(comm)`: state is field 3; utime and stime are fields 14, 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    f64::from(ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of the whole process (all threads), from `/proc/self/stat`.
fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    f64::from(ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of the process and of its reaped children (isolated pipes' hosts).
fn process_and_children_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    f64::from(ticks(11) + ticks(12) + ticks(13) + ticks(14)) / 100.0
}

/// Lines/s through a pipeline of `cfg` alone, in process or isolated: wall time, and
/// CPU of the process and (isolated) its child, counted once the child is reaped.
fn whole_run(cfg: &PipeConfig, lines: &[&str]) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let mut with = Pipeline::new(
        "bench",
        Format::new("combined")?,
        vec![build_pipe(cfg)?],
        100_000,
    )?;
    feed_all(&mut with, &lines[..lines.len().min(10_000)]);
    let before = process_and_children_cpu_secs();
    let t = Instant::now();
    for l in lines {
        with.feed_line(l);
    }
    let _ = with.take_updates();
    let wall = t.elapsed().as_secs_f64();
    drop(with);
    Ok((wall, process_and_children_cpu_secs() - before))
}

/// Wall and CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (t, c) = (Instant::now(), cpu_secs());
    let out = f();
    (out, t.elapsed().as_secs_f64(), cpu_secs() - c)
}

fn rate(n: usize, wall: f64, cpu: f64) -> String {
    // Display only.
    #[allow(clippy::cast_precision_loss)]
    let n = n as f64;
    format!(
        "{:.0} lines/s by CPU time ({:.1} ns/line; wall {:.0} lines/s)",
        n / cpu,
        cpu * 1e9 / n,
        n / wall
    )
}

fn feed_all(p: &mut Pipeline, lines: &[&str]) -> (f64, f64) {
    let ((), wall, cpu) = timed(|| {
        for l in lines {
            p.feed_line(l);
        }
        let _ = p.take_updates();
    });
    (wall, cpu)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some(treestat_pipes::isolate::HOST_ARG) {
        std::process::exit(treestat_pipes::isolate::host::run_host());
    }
    let mut args = std::env::args().skip(1);
    let log = PathBuf::from(
        args.next()
            .ok_or("usage: bench_pipes LOG [--native SO] [--python PY]")?,
    );
    let (mut native, mut python, mut isolated) = (Vec::new(), None, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--isolated" => isolated = true,
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
    let (ok, wall, cpu) = timed(|| {
        let mut ok = 0usize;
        for l in &lines {
            ok += usize::from(format.split(l, &mut spans).is_ok());
        }
        ok
    });
    println!(
        "parse only (combined): {} [{ok} parsed]",
        rate(n, wall, cpu)
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
    let (stats, wall, cpu) = timed(|| {
        tail::run(
            &mut tailer,
            &mut p,
            &once,
            &treestat_engine::stop::CancellationToken::new(),
            &mut |agg| {
                agg.apply_to(&engine)
                    .map(|_| ())
                    .map_err(|e| Error::new(ErrorKind::Engine, e.to_string()))
            },
            &mut |_, _| {},
        )
    });
    let stats = stats?;
    println!(
        "tail --once, built-ins {:?}, into the engine: {} [{} lines, {} leaves]",
        p.pipe_names(),
        rate(usize::try_from(stats.lines)?, wall, cpu),
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
    if isolated {
        let mut cfgs: Vec<PipeConfig> = native
            .iter()
            .map(|so| PipeConfig {
                pipe: "native".into(),
                path: Some(so.clone()),
                ..PipeConfig::default()
            })
            .collect();
        cfgs.extend(python.iter().map(|py| PipeConfig {
            pipe: "python".into(),
            path: Some(py.clone()),
            ..PipeConfig::default()
        }));
        #[allow(clippy::cast_precision_loss)]
        let nf = n as f64;
        for cfg in cfgs {
            let (w0, c0) = whole_run(&cfg, &lines)?;
            let iso = PipeConfig {
                isolate: true,
                ..cfg.clone()
            };
            let (w1, c1) = whole_run(&iso, &lines)?;
            println!(
                "{} {}: in process {:.0} lines/s wall ({:.0} ns/line CPU); isolated {:.0} \
                 lines/s wall ({:.0} ns/line CPU, parent + child); isolation costs {:.0} \
                 ns/line wall, {:.0} ns/line CPU",
                cfg.pipe,
                cfg.path
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string()),
                nf / w0,
                c0 * 1e9 / nf,
                nf / w1,
                c1 * 1e9 / nf,
                (w1 - w0) * 1e9 / nf,
                (c1 - c0) * 1e9 / nf,
            );
        }
    }
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
        let (_, c0) = feed_all(&mut base, &lines);
        let (w1, c1) = feed_all(&mut with, &lines);
        #[allow(clippy::cast_precision_loss)]
        let per = (c1 - c0) * 1e9 / n as f64;
        println!(
            "native pipe {}: {} alone; overhead {per:.1} ns/line (CPU) over parsing",
            so.display(),
            rate(n, w1, c1)
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
        let ((w, c), pyc) = {
            let before = process_cpu_secs();
            let r = feed_all(&mut with, &lines);
            (r, process_cpu_secs() - before)
        };
        let errors = with.errors();
        println!(
            "python pipe: {} on the reader thread, {:.0} lines/s by whole-process CPU (both threads); wall {:.0} lines/s (errors {:?})",
            rate(n, w, c),
            f64::from(u32::try_from(n)?) / pyc,
            f64::from(u32::try_from(n)?) / w,
            errors
        );
    }
    Ok(())
}
