//! Export and import: a round trip through NDJSON and CSV into a fresh store gives
//! identical series; a SimpleStats file imports; bad lines are reported by number and
//! skipped while the good ones are kept.

use std::sync::Arc;

use treestat_engine::trend::{Format, Series, TrendConfig, TrendStore};
use treestat_engine::{Action, Batch, Engine, EngineConfig, ManualClock};

const T0: i64 = 1_699_999_200;

fn points(s: &[Series]) -> Vec<(String, Vec<(i64, f64)>)> {
    s.iter()
        .map(|s| (s.path.clone(), s.points.clone()))
        .collect()
}

#[test]
fn export_then_import_gives_identical_series() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    // 80 intervals close back to back below: a queue that holds them all, since a
    // full queue drops intervals from the store rather than wait.
    let cfg = TrendConfig {
        queue: 256,
        ..TrendConfig::default()
    };
    let store = TrendStore::open(dir.path(), &cfg).unwrap();
    store.attach(&engine);
    let leaves = [
        ("web,hits", Action::Add),
        ("web,\"quoted\" key,lat", Action::Average),
        ("cpu,max", Action::Max),
        ("cpu,min", Action::Min),
        ("cpu,last", Action::Last),
    ];
    for i in 0..200i32 {
        let mut b = Batch::new();
        for (n, (path, action)) in leaves.iter().enumerate() {
            let n = i32::try_from(n).unwrap();
            if (i + n) % 3 != 0 || i == 199 {
                b.sample(path, f64::from((i * 13 + n) % 17) + 0.25, Some(*action));
                b.sample(path, f64::from(i % 5), Some(*action));
            }
        }
        engine.apply(&b).unwrap();
        clock.advance(10);
        engine.close_due().unwrap();
        if i == 120 {
            store.sync().unwrap();
            store.compact_all().unwrap();
        }
    }
    store.sync().unwrap();
    let until = store.newest().unwrap();
    let want = store.series("", T0, until, 0).unwrap();
    assert_eq!(want.len(), leaves.len());
    for format in [Format::Ndjson, Format::Csv] {
        let mut out = Vec::new();
        let lines = store.export("", T0, until, format, &mut out).unwrap();
        assert!(lines > 500);
        let fresh_dir = tempfile::tempdir().unwrap();
        let fresh = TrendStore::open(fresh_dir.path(), &TrendConfig::default()).unwrap();
        let report = fresh
            .import(out.as_slice(), format, Action::Average)
            .unwrap();
        assert_eq!((report.imported, report.skipped), (lines, 0), "{format:?}");
        assert_eq!(fresh.newest(), Some(until));
        let got = fresh.series("", T0, until, 0).unwrap();
        assert_eq!(points(&got), points(&want), "{format:?}");
    }
}

#[test]
fn a_simplestats_file_imports_and_bad_lines_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    let long = format!("[\"{}\", 1, 1]", "x".repeat(70_000));
    let file = format!(
        "[\"var1\", 1322721979.0, 8.0]\n\
         [\"var1\", 1322721989.0, 9.0]\n\
         not json\n\
         [\"var2\", 1322721979, 3]\n\
         [\"bad,,path\", 1322721979, 2]\n\
         {long}\n\
         [\"var1\", \"soon\", 1]\n\
         \n\
         [\"var2\", 1322721981.5, 5]"
    );
    let report = store
        .import(file.as_bytes(), Format::Ndjson, Action::Average)
        .unwrap();
    assert_eq!(report.imported, 4);
    assert_eq!(report.skipped, 4);
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 5, 6, 7]);
    assert!(
        report.errors[2].message.contains("longer than"),
        "{:?}",
        report.errors[2]
    );
    let got = store
        .series("var*", 1_322_721_900, 1_322_722_000, 0)
        .unwrap();
    assert_eq!(
        points(&got),
        [
            (
                "var1".to_string(),
                vec![(1_322_721_970, 8.0), (1_322_721_980, 9.0)]
            ),
            (
                "var2".to_string(),
                vec![(1_322_721_970, 3.0), (1_322_721_980, 5.0)]
            ),
        ]
    );
    let csv = "path,ts,value\n\"a,b\",1322721979,1\nno-number,1322721979,x\n";
    let report = store
        .import(csv.as_bytes(), Format::Csv, Action::Add)
        .unwrap();
    assert_eq!((report.imported, report.skipped), (1, 1));
    assert_eq!(report.errors[0].line, 3);
    let ab = store.series("a", 1_322_721_900, 1_322_722_000, 0).unwrap();
    assert_eq!(
        (ab[0].action, ab[0].points.clone()),
        (Action::Add, vec![(1_322_721_970, 1.0)])
    );
}
