//! The pages through the front: each answers as a server's (the same HTML and headers),
//! their assets are served, and the JSON routes their scripts call answer through the
//! front; saved views live on the first shard and are read and written through it.

use super::*;

/// (status, content type, body) of a request; `origin` sets `Origin` (a browser page).
fn call(
    method: &str,
    url: &str,
    body: Option<&str>,
    origin: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = match method {
        "PUT" => {
            let mut r = agent.put(url).header("content-type", "application/json");
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            r.send(body.unwrap_or(""))
        }
        "DELETE" => agent.delete(url).call(),
        _ => agent.get(url).call(),
    };
    let mut r = resp.expect(url);
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let status = r.status().as_u16();
    (status, ctype, r.body_mut().read_to_vec().unwrap())
}

/// The `src=` and `href=` of a page's `/assets/` files.
fn assets(html: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_string)
        .collect()
}

#[test]
fn pages_and_views_through_the_front() {
    let c = cluster("10s");
    let mut files = std::collections::BTreeSet::new();
    for page in [
        "/",
        "/realtime/",
        "/realtime/view/mine",
        "/realtime/k01,cpu",
        "/trend/view/",
        "/setting/view",
        "/dashboard/",
        "/dashboard/overview",
    ] {
        let want = call("GET", &format!("{}{page}", c.reference.base), None, None);
        let got = call("GET", &format!("{}{page}", c.front.base), None, None);
        assert_eq!(want.0, 200, "{page}");
        assert_eq!(got, want, "{page}");
        files.extend(assets(&String::from_utf8(got.2).unwrap()));
    }
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        let want = call("GET", &format!("{}{f}", c.reference.base), None, None);
        let got = call("GET", &format!("{}{f}", c.front.base), None, None);
        assert_eq!(want.0, 200, "{f}");
        assert!(got == want, "{f}: the front's asset differs");
    }
    // The JSON the pages' scripts read: the dashboards (built in, from the first
    // shard), the tree, the keys.
    for path in [
        "/api/dashboards",
        "/api/dashboards/overview",
        "/all",
        "/api/keys/",
    ] {
        let (want, _) = get(&format!("{}{path}", c.reference.base));
        let (got, partial) = get(&format!("{}{path}", c.front.base));
        assert_eq!(partial, None, "{path}");
        assert_eq!(got, want, "{path}");
    }
    // The whole tree with every shard's own `_treestat` (a shard slower than the
    // deadline on a loaded machine makes a partial answer: asked again).
    wait_for("a whole /all?internal=1 through the front", || {
        let (tree, partial) = get(&format!("{}/all?internal=1", c.front.base));
        (partial.is_none() && tree.get("_treestat").is_some() && tree.get("k05").is_some())
            .then_some(())
    });

    // Saved views: written through the front, kept by the first shard.
    let view = r#"{"patterns":["*,cpu,user","k01|sum"],"graph":{"title":"cpu"}}"#;
    let (status, _, body) = call(
        "PUT",
        &format!("{}/api/views/mine", c.front.base),
        Some(view),
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (on_shard, _) = get(&format!("{}/api/views/mine", c.shards[0].base));
    let (through, _) = get(&format!("{}/api/views/mine", c.front.base));
    assert_eq!(through, on_shard);
    assert_eq!(through["patterns"][1], "k01|sum");
    let (list, _) = get(&format!("{}/api/views", c.front.base));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // A write from another site's page is refused, as by a server.
    let (status, _, _) = call(
        "PUT",
        &format!("{}/api/views/evil", c.front.base),
        Some(view),
        Some("http://evil.example"),
    );
    assert_eq!(status, 403);
    let (status, _, _) = call(
        "DELETE",
        &format!("{}/api/views/mine", c.front.base),
        None,
        None,
    );
    assert_eq!(status, 204);
    let (status, _, _) = call(
        "GET",
        &format!("{}/api/views/mine", c.front.base),
        None,
        None,
    );
    assert_eq!(status, 404);
    // Their home gone, views answer 502 naming it; the data reads go on, partial.
    let mut c = c;
    c.shards[0].child.kill().unwrap();
    c.shards[0].child.wait().unwrap();
    let (status, _, body) = call("GET", &format!("{}/api/views", c.front.base), None, None);
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains(&c.shards[0].base));
    let (_, partial) = get(&format!("{}/get/*%7Csum,cpu,user", c.front.base));
    assert_eq!(partial.as_deref(), Some(c.shards[0].base.as_str()));
}
