//! Router-level tests of the pages: every page renders with its script, what the URL
//! names is escaped, assets carry validators and answer 304 when current.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::assets::ASSETS;
use super::router;

async fn get(
    uri: &str,
    if_none_match: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::get(uri);
    if let Some(tag) = if_none_match {
        req = req.header(header::IF_NONE_MATCH, tag);
    }
    let res = router::<()>()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn every_page_renders_with_its_script() {
    for (uri, script) in [
        ("/", "dashboard.js"),
        ("/dashboard/", "dashboard.js"),
        ("/dashboard/my%20board", "dashboard.js"),
        ("/realtime/", "realtime.js"),
        ("/realtime/br,ie", "realtime.js"),
        ("/realtime/view/ops", "realtime.js"),
        ("/trend/view/", "trend.js"),
        ("/setting/view", "views.js"),
    ] {
        let (status, headers, body) = get(uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(body.contains(&format!("/assets/js/{script}")), "{uri}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            headers.contains_key(header::CONTENT_SECURITY_POLICY),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn the_pattern_and_view_from_the_url_reach_the_page_escaped() {
    let (_, _, body) = get("/realtime/br,ie,%22%3E%3Cscript%3E", None).await;
    assert!(body.contains("data-pattern=\"br,ie,&quot;&gt;&lt;script&gt;\""));
    assert!(!body.contains("\"><script>"));
    let (_, _, body) = get("/realtime/view/my%20view", None).await;
    assert!(body.contains("data-view=\"my view\""));
    assert!(body.contains("data-pattern=\"\""));
    let (_, _, body) = get("/dashboard/a%22%3E%3Cb%3E", None).await;
    assert!(body.contains("data-view=\"a&quot;&gt;&lt;b&gt;\""));
    let (_, _, body) = get("/", None).await;
    assert!(body.contains("data-view=\"overview\""));
    assert!(body.contains("uPlot.iife.min.js"));
}

#[tokio::test]
async fn short_forms_redirect_to_the_pages() {
    for (uri, to) in [
        ("/dashboard", "/dashboard/"),
        ("/realtime", "/realtime/"),
        ("/trend/view", "/trend/view/"),
    ] {
        let (status, headers, _) = get(uri, None).await;
        assert!(status.is_redirection(), "{uri}");
        assert_eq!(headers[header::LOCATION], to);
    }
}

#[tokio::test]
async fn assets_carry_an_etag_and_answer_304_when_current() {
    let (status, headers, body) = get("/assets/js/realtime.js", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("EventSource") || body.contains("api.events"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    let tag = headers[header::ETAG].to_str().unwrap().to_string();
    let (status, headers, body) = get("/assets/js/realtime.js", Some(&tag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(headers[header::ETAG].to_str().unwrap(), tag);
    let (status, headers, _) = get("/assets/vendor/uplot/uPlot.iife.min.js", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let (status, _, _) = get("/assets/nope.js", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get("/assets/../Cargo.toml", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn pages_reference_only_assets_that_exist_and_no_other_host() {
    let mut refs = Vec::new();
    for a in ASSETS
        .iter()
        .filter(|a| a.path.ends_with(".js") || a.path.ends_with(".css"))
    {
        let text = std::str::from_utf8(a.body).unwrap();
        if a.path.starts_with("vendor/") {
            continue;
        }
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{} names a host",
            a.path
        );
        for part in text.split("from './").skip(1) {
            refs.push(format!("js/{}", &part[..part.find('\'').unwrap()]));
        }
    }
    for html in [
        include_str!("../../assets/html/dashboard.html"),
        include_str!("../../assets/html/realtime.html"),
        include_str!("../../assets/html/trend.html"),
        include_str!("../../assets/html/views.html"),
    ] {
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
    let shell = super::html::render(super::html::Page::Dashboard, "", "overview");
    for part in shell.split("\"/assets/").skip(1) {
        refs.push(part[..part.find('"').unwrap()].to_string());
    }
    assert!(refs.len() > 8);
    for r in refs {
        assert!(
            super::assets::find(&r).is_some(),
            "{r} is referenced but not embedded"
        );
    }
}
