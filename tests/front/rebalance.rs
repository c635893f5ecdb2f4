//! A key moved between shards (a rebalance): its history is on both, and the front
//! merges it so that `/trend`, `?stat=`, quantile folds and `/get` answer what one
//! engine holding every sample answers.

use super::*;

#[test]
fn a_series_split_over_two_shards_by_a_rebalance_is_merged() {
    let dir = tempfile::tempdir().unwrap();
    let old = serve(&dir.path().join("old"));
    let new = serve(&dir.path().join("new"));
    let reference = serve(&dir.path().join("ref"));
    let t = now() - 60;
    // `moved` was written to `old` up to t+2, then to `new` from t+2 on: the
    // interval t+2 has samples on both. `lat` (average: one sample on `old`, two on
    // `new` there) and `state` (last: `new`'s sample is the newer) need the counts and
    // the order a plain `/trend` answer leaves out.
    let docs = [
        (
            &old,
            format!(
                r#"{{"timestamp":{t},"moved":{{"default_action":"add","hits":5,"g":{{"default_action":"max","peak":3}}}}}}"#
            ),
        ),
        (
            &old,
            format!(
                r#"{{"timestamp":{},"moved":{{"hits":7,"g":{{"peak":9}}}}}}"#,
                t + 2
            ),
        ),
        (
            &old,
            format!(
                r#"{{"timestamp":{},"moved":{{"lat":{{"default_action":"average","ms":10}},"state":{{"default_action":"last","code":1}}}}}}"#,
                t + 2
            ),
        ),
        (
            &new,
            format!(
                r#"{{"timestamp":{},"moved":{{"default_action":"add","hits":11,"g":{{"default_action":"max","peak":4}}}}}}"#,
                t + 2
            ),
        ),
        (
            &new,
            format!(
                r#"{{"timestamp":{},"moved":{{"lat":{{"default_action":"average","ms":[40,70]}},"state":{{"default_action":"last","code":2}}}}}}"#,
                t + 2
            ),
        ),
        (
            &new,
            format!(
                r#"{{"timestamp":{},"moved":{{"hits":13,"g":{{"peak":1}}}}}}"#,
                t + 4
            ),
        ),
    ];
    for (shard, d) in &docs {
        push(&shard.base, d);
        push(&reference.base, d);
    }
    let f = front(&[&old, &new], "10s");
    let range = format!("from={}&until={}&points=0", t - 10, t + 30);
    for p in [
        "moved",
        "moved,hits",
        "*|sum,hits",
        "moved,g|max",
        "moved,lat,ms",
        "moved,state,code",
        "moved,*|avg,*",
    ] {
        let url = |base: &str| format!("{base}/trend/{}.json?{range}", enc(p));
        let want = wait_for(&format!("{p} on the reference"), || {
            let v = get(&url(&reference.base)).0;
            let n: usize = v
                .as_array()?
                .iter()
                .map(|s| s["points"].as_array().map_or(0, Vec::len))
                .sum();
            (n >= 3 || p.contains("lat") || p.contains("state")).then_some(v)
        });
        let got = wait_for(&format!("{p} through the front"), || {
            let got = get(&url(&f.base)).0;
            (got == want).then_some(got)
        });
        assert_eq!(got, want, "{p}");
    }
    // `?stat=` and quantile folds merge the two shards' buckets with their counts, sums
    // and sketches: the interval both hold is exact there too (count 2, sum 18, max 11).
    for q in [
        "moved,hits.json?stat=count,sum,max,mean",
        "moved,*%7Cp50.json?",
        "*%7Csum,hits.json?stat=count,p99",
    ] {
        let url = |base: &str| format!("{base}/trend/{q}&{range}");
        let want = get(&url(&reference.base)).0;
        let got = wait_for(&format!("{q} through the front"), || {
            let got = get(&url(&f.base)).0;
            (got == want).then_some(got)
        });
        assert!(!got.as_array().unwrap().is_empty(), "{q}");
    }
    // The `add` series holds 5, 7 + 11 (one interval on both shards, summed), 13.
    let (s, _) = get(&format!("{}/trend/moved,hits.json?{range}", f.base));
    let values: Vec<f64> = s[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    assert_eq!(values, [5.0, 18.0, 13.0]);
    // The average of the three samples (40, not the mean of the shards' 10 and 55),
    // and the newer of the two last values.
    for (leaf, want) in [("moved,lat,ms", 40.0), ("moved,state,code", 2.0)] {
        let (s, _) = get(&format!("{}/trend/{leaf}.json?{range}", f.base));
        assert_eq!(s[0]["points"][0][1].as_f64(), Some(want), "{leaf}");
    }
    // Live, the leaf both shards hold is read from the copy with the newest sample:
    // the new owner's totals (11 + 13), its history above being whole.
    let (rows, _) = get(&format!("{}/get/moved,hits", f.base));
    assert_eq!(rows, serde_json::json!([["moved,hits", 24.0]]));
}
