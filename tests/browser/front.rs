//! A page through the read front (issue 16): `/realtime/*,web,*` served by `treestat front`
//! over two shards shows both shards' keys, and a value pushed to one shard reaches the
//! open page through the front's `/events`.

use std::net::SocketAddr;

use serde_json::json;
use treestat::config::Config;
use treestat::server::Server;

use crate::cdp::Chrome;
use crate::steps::{PATIENCE, push};

async fn shard(conf: &str) -> Result<(Server, SocketAddr), String> {
    let config = Config::parse(conf).map_err(|e| e.to_string())?;
    let server = Server::start(config).await.map_err(|e| e.to_string())?;
    let addr = server.bound.http.ok_or("no HTTP listener")?;
    Ok((server, addr))
}

pub async fn realtime_over_shards(chrome: &Chrome, shots: &std::path::Path) -> Result<(), String> {
    let (d1, d2) = (
        tempfile::tempdir().map_err(|e| e.to_string())?,
        tempfile::tempdir().map_err(|e| e.to_string())?,
    );
    let (s1, a1) = shard(&crate::config_text(d1.path())).await?;
    let (s2, a2) = shard(&crate::config_text(d2.path())).await?;
    push(a1, &json!({"east": {"web": {"hits": 3}}})).await?;
    push(a2, &json!({"west": {"web": {"hits": 5}}})).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let stop = tokio_util::sync::CancellationToken::new();
    let cfg = treestat::front::FrontConfig {
        shards: vec![format!("http://{a1}"), format!("http://{a2}")],
        listen: addr,
        deadline: std::time::Duration::from_secs(5),
        refresh: std::time::Duration::from_secs(3600),
        token: None,
        auth_reads: false,
        header_timeout: std::time::Duration::from_secs(30),
        allowed_hosts: Vec::new(),
    };
    let front = tokio::spawn(treestat::front::serve(listener, cfg, stop.clone()));
    let outcome = async {
        let tab = chrome
            .page(&format!("http://{addr}/realtime/*,web,*"), 1280, 860)
            .await?;
        tab.wait_for(
            "document.querySelector('[data-path=\"east,web,hits\"]') !== null \
             && document.querySelector('[data-path=\"west,web,hits\"]') !== null",
            "both shards' keys on the front's /realtime/*,web,*",
            PATIENCE,
        )
        .await?;
        tab.wait_for(
            "window.treestat.streams > 0",
            "the event stream to open",
            PATIENCE,
        )
        .await?;
        push(a2, &json!({"west": {"web": {"errors": 42}}})).await?;
        tab.wait_for(
            "(() => { const r = document.querySelector('[data-path=\"west,web,errors\"]');\
             return r !== null && r.querySelector('.cur').textContent === '42'; })()",
            "a value pushed to the second shard, through the front's /events",
            PATIENCE,
        )
        .await?;
        tab.screenshot(shots, "5-front-realtime").await?;
        tab.close().await
    }
    .await;
    stop.cancel();
    let _ = front.await;
    for s in [s1, s2] {
        s.shutdown_token().cancel();
        s.wait().await.map_err(|e| e.to_string())?;
    }
    outcome
}
