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

/// `/trend` with `?stat=` and quantile folds, and the charts drawn from them: each
/// shard's buckets with their aggregates and sketches (`/trend?partial=1`), merged at
/// the front and answered by the store's own code, so the points equal the reference's
/// exactly (the shards hold disjoint series; the merge adds nothing but the union).
#[test]
fn trend_stats_and_quantile_folds_equal_one_unsharded_engine() {
    let c = cluster("10s");
    let range = format!("from={}&until={}&points=0", c.t0 - 10, c.t0 + 30);
    let series = |base: &str, q: &str| get(&format!("{base}/trend/{q}&{range}")).0;
    wait_for("the reference's trends", || {
        let s = series(&c.reference.base, "*,api,lat.json?stat=count");
        let full = s.as_array()?.len() == KEYS
            && s.as_array()?
                .iter()
                .all(|x| x["points"].as_array().is_some_and(|p| p.len() == 3));
        full.then_some(())
    });
    for q in [
        "*,api,lat.json?stat=count,p99,mean",
        "*%7Csum,api,lat.json?stat=count,p50,max,sum_squares",
        "*%7Cmax,api,lat.json?stat=p99",
        "*%7Cavg,cpu,*.json?stat=mean,count",
        "k04.json?stat=p90,count",
        "*%7Cp95,api,lat.json?",
        "*,api%7Cp50.json?",
        "*%7Cp99,cpu,user.json?",
        "k0*%7Cp90,api,lat.json?stat=p50,count",
    ] {
        // The shards store their intervals as they close: wait until all did.
        let want = wait_for(&format!("shards' trends of {q}"), || {
            let want = series(&c.reference.base, q);
            (series(&c.front.base, q) == want).then_some(want)
        });
        assert!(!want.as_array().unwrap().is_empty(), "{q}");
    }
    // The charts: the same bytes as the server's.
    let abs = format!("from={}&until={}&tz=UTC", c.t0 - 10, c.t0 + 30);
    for path in [
        format!("/graph/*%7Cp95,api,lat.svg?{abs}"),
        format!("/graph/*,api,lat.svg?{abs}&stat=p50,p99"),
        format!("/graph/*%7Csum,api,lat.svg?{abs}&stat=p99"),
    ] {
        let body = |base: &str| {
            ureq::get(&format!("{base}{path}"))
                .call()
                .expect(&path)
                .body_mut()
                .read_to_vec()
                .unwrap()
        };
        let want = body(&c.reference.base);
        assert!(want.len() > 100, "{path}");
        assert!(
            body(&c.front.base) == want,
            "{path}: the front's chart differs"
        );
    }
    // A fold the store refuses is refused at the front too.
    let r = ureq::get(&format!("{}/trend/**%7Cp99,lat.json?{range}", c.front.base)).call();
    assert!(matches!(r, Err(ureq::Error::StatusCode(400))), "{r:?}");
}
