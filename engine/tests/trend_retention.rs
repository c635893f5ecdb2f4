//! Retention: points older than an archive's span leave it (chunks are deleted), a
//! query picks the finest archive that covers its range, and a one-year query answers
//! from the coarsest archive.

use treestat_engine::Action;
use treestat_engine::trend::{TrendConfig, TrendStore};

const DAY: i64 = 86_400;
const YEAR: i64 = 365 * DAY;
const END: i64 = 1_700_000_000 - 1_700_000_000 % 600;

#[test]
fn archives_answer_by_range_and_old_points_leave() {
    let dir = tempfile::tempdir().unwrap();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    // A year every 10 minutes, then the last two days every 10 seconds.
    let mut samples: Vec<(i64, f64)> = (0..YEAR / 600)
        .map(|i| (END - YEAR + i * 600, 1.0))
        .collect();
    samples.extend((0..2 * DAY / 10).map(|i| (END - 2 * DAY + i * 10, 2.0)));
    store
        .import_compacted("load", Action::Max, &samples)
        .unwrap();
    assert_eq!(store.newest(), Some(END - 10 + 10));

    let year = store.series("load", END - YEAR, END, 0).unwrap();
    assert_eq!(year[0].step, 600, "a year comes from the 10m archive");
    assert!(year[0].points[0].0 >= END - YEAR);
    assert_eq!(year[0].points.len(), usize::try_from(YEAR / 600).unwrap());
    let month = store.series("load", END - 20 * DAY, END, 0).unwrap();
    assert_eq!(month[0].step, 60);
    let hour = store.series("load", END - 3600, END, 0).unwrap();
    assert_eq!(hour[0].step, 10);
    assert_eq!(hour[0].points.len(), 360);
    assert!(hour[0].points.iter().all(|p| p.1 == 2.0));
    // Two days ago is beyond the 10 s archive (1 day): the 1 m archive answers.
    let older = store
        .series("load", END - 2 * DAY, END - 2 * DAY + 3600, 0)
        .unwrap();
    assert_eq!(older[0].step, 60);
    assert_eq!(older[0].points.len(), 60);
    // Graphite-style downsampling of the year to 100 points by max.
    let folded = store.series("load", END - YEAR, END, 100).unwrap();
    assert!(folded[0].points.len() <= 100);
    assert_eq!(folded[0].points.last().unwrap().1, 2.0);

    // Two more days pass: what was in the finest archive leaves it.
    let later: Vec<(i64, f64)> = (0..2 * DAY / 10).map(|i| (END + i * 10, 3.0)).collect();
    store.import_compacted("load", Action::Max, &later).unwrap();
    let stats = store.compact_now().unwrap();
    assert!(stats.chunks_expired > 0, "{stats:?}");
    let newest = store.newest().unwrap();
    let day = store.series("load", newest - DAY, newest, 0).unwrap();
    assert_eq!(day[0].step, 10);
    assert!(
        day[0]
            .points
            .iter()
            .all(|p| p.0 >= newest - DAY && p.1 == 3.0)
    );
    // The 1 y archive still holds the first points, and nothing older than a year.
    let year = store.series("load", newest - 2 * YEAR, newest, 0).unwrap();
    assert_eq!(year[0].step, 600);
    assert!(year[0].points[0].0 + 600 > newest - YEAR);
}
