//! `?stat=` and quantile folds through the front: folding patterns answered from the
//! shards' leaves (and their sketches), each stat column folded at the front, equal to
//! one unsharded server given the same workload.

use super::*;

/// Folding patterns with `?stat=`: sums, means and extremes of each leaf's stat, and
/// quantile folds, which merge the leaves' sketches (never a quantile of quantiles).
const STAT_READS: &[(&str, &str)] = &[
    ("*|sum,api,lat", "count,sum,mean,p99,max"),
    ("*|avg,api,lat", "p50,p90,min"),
    ("*|max,api,lat", "p99,upper_90"),
    ("*|p95,api,lat", "count,p50"),
    ("*,api|p99", "p99,mean"),
    ("**,lat|p50", "p50"),
    ("k0*|min,api,lat", "p90,count"),
    ("*|avg,cpu,*", "count,mean,max"),
    ("*|count,net,*", "sum,count"),
    ("*,api,lat", "count,p99,max"),
    ("k03", "count,p99,max"),
];

#[test]
fn stat_reads_of_folding_patterns_equal_one_unsharded_engine() {
    let c = cluster("10s");
    for (p, stat) in STAT_READS {
        for route in ["get/{}?", "api/q/{}.json?"] {
            let path = route.replace("{}", &enc(p));
            let q = format!("{path}stat={stat}");
            let (want, _) = get(&format!("{}/{q}", c.reference.base));
            let (got, partial) = get(&format!("{}/{q}", c.front.base));
            assert_eq!(partial, None, "{q}");
            assert_eq!(got, want, "/{q}");
            assert!(
                want.as_array().is_none_or(|a| !a.is_empty())
                    && want.as_object().is_none_or(|o| !o.is_empty()),
                "{q}: empty"
            );
        }
    }
    // Windows: the stats of the closed intervals, histograms only; quantile folds
    // merge the window's sketches.
    for k in 0..KEYS {
        let lat: Vec<String> = (0..30)
            .map(|i| ((i * 11 + k * 3) % 89 + 1).to_string())
            .collect();
        let d = format!(
            r#"{{"h{k:02}":{{"api":{{"default_action":"histogram","lat":[{}]}}}}}}"#,
            lat.join(",")
        );
        push(&c.shards[c.owner[k]].base, &d);
        push(&c.reference.base, &d);
    }
    let url = |base: &str, p: &str, stat: &str| {
        format!("{base}/api/q/{}.json?window=1h&stat={stat}", enc(p))
    };
    wait_for("every server's window to hold the live samples", || {
        let keys = |base: &str| {
            get(&url(base, "h*,api,lat", "count"))
                .0
                .as_object()
                .map_or(0, |o| o.len())
        };
        (keys(&c.reference.base) == KEYS && keys(&c.front.base) == KEYS).then_some(())
    });
    for (p, stat) in [
        ("h*|sum,api,lat", "count,sum,p99"),
        ("h*|p90,api,lat", "count,p50"),
        ("h1*|max,api,*", "p75,mean"),
        ("h*,api,lat", "p99"),
    ] {
        let (want, _) = get(&url(&c.reference.base, p, stat));
        assert_eq!(
            get(&url(&c.front.base, p, stat)).0,
            want,
            "window {p} {stat}"
        );
        assert!(!want.as_object().unwrap().is_empty(), "window {p} {stat}");
    }
    // A stat no server knows is the reader's 400, as on a server.
    let r = ureq::get(&format!("{}/get/*%7Csum?stat=p1000x", c.front.base)).call();
    assert!(matches!(r, Err(ureq::Error::StatusCode(400))), "{r:?}");
}
