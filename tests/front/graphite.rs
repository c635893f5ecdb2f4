//! The Graphite API through the front as Grafana's datasource calls it: `/metrics/expand`,
//! `/metrics/index.json`, `/functions`, the tag routes and `/render` POSTed as a form,
//! each answering the same bytes as one unsharded server given the same workload.

use super::*;

/// (status, content type, body) of a GET, or of a POST with a form body.
fn call(url: &str, form: Option<&str>) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = match form {
        Some(f) => agent
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .send(f),
        None => agent.get(url).call(),
    }
    .expect(url);
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let status = r.status().as_u16();
    (status, ctype, r.body_mut().read_to_string().unwrap())
}

#[test]
fn graphite_browsing_and_form_renders_equal_one_unsharded_engine() {
    let c = cluster("10s");
    let g = format!("from={}&until={}", c.t0 - 10, c.t0 + 30);
    let form =
        format!("target=sumSeries(k*.net.rx)&target=k0*.api.lat&{g}&format=json&maxDataPoints=600");
    let cases: Vec<(String, Option<String>)> = vec![
        ("/metrics/expand?query=k0*.cpu.*".into(), None),
        (
            "/metrics/expand?query=k1*&query=k0*.net.*&leavesOnly=1".into(),
            None,
        ),
        ("/metrics/expand?query=*".into(), None),
        ("/metrics/expand".into(), Some("query=k2*.disk.*".into())),
        ("/metrics/index.json".into(), None),
        ("/functions".into(), None),
        ("/functions/".into(), None),
        ("/tags/autoComplete/tags?tagPrefix=a".into(), None),
        ("/tags/autoComplete/values?tag=a".into(), None),
        ("/version".into(), None),
        ("/render".into(), Some(form)),
        ("/metrics/find".into(), Some("query=k0*.*".into())),
    ];
    for (path, body) in &cases {
        // The servers store their intervals as they close (the render reads the
        // store): wait until the shards and the reference agree (120 s at most).
        let want = wait_for(&format!("{path} to agree"), || {
            let want = call(&format!("{}{path}", c.reference.base), body.as_deref());
            let got = call(&format!("{}{path}", c.front.base), body.as_deref());
            (got == want).then_some(want)
        });
        assert_eq!(want.0, 200, "{path}: {}", want.2);
        assert!(want.2.len() > 1, "{path}");
    }
    // The form render has every key's series: the sum and one line per k0* leaf.
    let (_, _, render) = call(
        &format!("{}/render", c.front.base),
        Some(&cases[10].1.clone().unwrap()),
    );
    let lines: Vec<Value> = serde_json::from_str(&render).unwrap();
    assert_eq!(lines.len(), 11, "{render}");
    // Every leaf of every shard is in the index.
    let (_, _, index) = call(&format!("{}/metrics/index.json", c.front.base), None);
    let names: Vec<String> = serde_json::from_str(&index).unwrap();
    assert!(names.len() > KEYS * 5, "{}", names.len());
    // A query the server refuses is refused at the front.
    let (status, _, _) = call(&format!("{}/metrics/expand", c.front.base), None);
    assert_eq!(status, 400);
}
