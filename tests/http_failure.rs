//! A server whose HTTP API fails stops, with an error, rather than run on without its
//! API (issue 17). The failure is a real one: the listening socket is shut down under
//! the server (`shutdown(2)`), after which every `accept` fails with `EINVAL`. Before,
//! the accept loop logged that error every 200 ms forever while the rest of the
//! server ran on, deaf; `Server::wait` never returned.

use crate::common;

use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use common::{base, get_values, quiet_config};
use socket2::SockRef;
use treestat::server::Server;

/// The descriptor of this process's socket listening on `addr`.
fn listening_fd(addr: std::net::SocketAddr) -> RawFd {
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<RawFd>() else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor was open a moment ago and belongs to a socket this
        // process keeps open (the test starts and ends no other socket meanwhile);
        // the borrow ends within this iteration.
        let fd_ref = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = SockRef::from(&fd_ref);
        let local = sock.local_addr().ok().and_then(|a| a.as_socket());
        if local == Some(addr) && sock.is_listener().unwrap_or(false) {
            return fd;
        }
    }
    panic!("no socket listening on {addr}");
}

#[test]
fn the_server_stops_with_an_error_when_its_http_api_fails() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(Server::start(quiet_config(dir.path())))
        .unwrap();
    let addr = server.bound.http.unwrap();
    assert!(
        get_values(&base(&server), "").is_empty(),
        "serving at first"
    );
    let engine = server.engine.clone();
    engine.push_json(br#"{"kept":{"n":1}}"#).unwrap();

    let fd = listening_fd(addr);
    // SAFETY: as in `listening_fd`: the server holds its listener until it stops,
    // which this test waits for below.
    let fd_ref = unsafe { BorrowedFd::borrow_raw(fd) };
    SockRef::from(&fd_ref)
        .shutdown(std::net::Shutdown::Read)
        .unwrap();

    // The old server never returned from `wait`: a generous bound, not a timing test.
    let stopped =
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), server.wait()).await });
    let err = stopped
        .expect("the server stops by itself when its HTTP API fails")
        .expect_err("and says so with an error");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("HTTP server") && msg.contains(&addr.to_string()),
        "{msg}"
    );
    // It stopped the orderly way: the open interval was closed into the store.
    assert!(engine.stats().ring_intervals >= 1);
}
