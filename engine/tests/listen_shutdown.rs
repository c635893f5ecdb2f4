//! Graceful shutdown under load (issue 3, acceptance 5): cancelling the token stops
//! the listeners from accepting, answers the lines already read, and every serve
//! future returns within 5 s.

use crate::listen_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use listen_common::{LineClient, start, test_config, udp_client};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_load_answers_in_flight_lines() {
    let srv = start(test_config()).await;
    let oks = Arc::new(AtomicU64::new(0));
    let stop_udp = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (addr, oks) = (srv.tcp, oks.clone());
        clients.push(tokio::spawn(async move {
            let mut c = LineClient::connect_8007(addr).await;
            // Request, answer, request...: every line the server read is answered
            // before it closes, so the answers seen equal the lines merged.
            loop {
                if tokio::io::AsyncWriteExt::write_all(
                    &mut c.writer,
                    b"{\"default_action\":\"add\",\"tload\":1}\n",
                )
                .await
                .is_err()
                {
                    return;
                }
                match c.read_line().await {
                    Some(r) => {
                        assert_eq!(r, "--OK");
                        oks.fetch_add(1, Ordering::SeqCst);
                    }
                    None => return,
                }
            }
        }));
    }
    let udp = {
        let (addr, stop) = (srv.statsd, stop_udp.clone());
        tokio::spawn(async move {
            let u = udp_client().await;
            while !stop.load(Ordering::SeqCst) {
                let _ = u.send_to(b"sload.udp:1|c\nsload.udp:1|c", addr).await;
                tokio::task::yield_now().await;
            }
        })
    };
    srv.wait("load under way", |_| oks.load(Ordering::SeqCst) >= 200)
        .await;
    srv.wait("statsd load under way", |s| {
        s.engine.leaf_at("sload,udp").is_some()
    })
    .await;

    let (engine, tcp) = (srv.engine.clone(), srv.tcp);
    srv.stop().await;
    for c in clients {
        c.await.expect("client ends cleanly");
    }
    stop_udp.store(true, Ordering::SeqCst);
    udp.await.unwrap();

    let (_, _, total) = engine.leaf_at("tload").unwrap();
    assert_eq!(
        total.sum,
        oks.load(Ordering::SeqCst) as f64,
        "every merged line was answered"
    );
    assert!(
        TcpStream::connect(tcp).await.is_err(),
        "no longer accepting"
    );
}
