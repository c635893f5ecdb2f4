//! Faults against a plain line receiver on a real socket: the receiver down at start
//! (points wait in the buffer and arrive in order, once, when it comes), a long outage
//! (the buffer stays bounded: the oldest points go, counted), a stop with points unsent
//! (counted as dropped).

use std::time::Duration;

use treestat_forward::Kind;
use treestat_forward::points::POINT_OVERHEAD;

use crate::common::{Lines, close, config, engine, forwarder, free_port, wait_for};

#[test]
fn points_buffered_while_the_receiver_is_down_arrive_in_order_once() {
    let (e, clock, t0) = engine();
    let port = free_port();
    let (f, t) = forwarder(
        &e,
        &config(Kind::Graphite, &format!("tcp://127.0.0.1:{port}")),
    );
    for i in 0..5 {
        e.push_json(format!(r#"{{"default_action":"last","svc":{{"req":{i}}}}}"#).as_bytes())
            .unwrap();
        close(&e, &clock);
    }
    wait_for("failed sends and 5 points buffered", || {
        let s = f.stats();
        (s.errors >= 2 && s.buffered_points == 5).then_some(())
    });
    assert_eq!(f.stats().sent, 0);
    assert!(
        t.value(
            "treestat_forward_buffered_bytes",
            &[("target", "graphite0")]
        )
        .unwrap()
            > 0.0
    );
    // The receiver comes up on the port the target names.
    let rx = Lines::listen(port);
    let want: Vec<String> = (0..5)
        .map(|i| format!("svc.req {}.0 {}", i, t0 + 10 * i))
        .collect();
    assert_eq!(rx.wait(5), want);
    wait_for("the counters", || (f.stats().sent == 5).then_some(()));
    let s = f.stats();
    assert_eq!((s.buffered_points, s.buffered_bytes, s.dropped), (0, 0, 0));
    // One more interval goes on the same connection, after the others, and nothing
    // was sent twice.
    e.push_json(br#"{"svc":{"req":9}}"#).unwrap();
    close(&e, &clock);
    let lines = rx.wait(6);
    assert_eq!(lines[..5], want[..]);
    assert_eq!(lines[5], format!("svc.req 9.0 {}", t0 + 50));
    wait_for("the counters", || (f.stats().sent == 6).then_some(()));
    assert_eq!(rx.get().len(), 6);
}

#[test]
fn a_long_outage_keeps_the_newest_points_within_the_bound_and_counts_the_rest() {
    let (e, clock, t0) = engine();
    let port = free_port();
    let mut c = config(Kind::Graphite, &format!("tcp://127.0.0.1:{port}"));
    c.buffer_bytes = 65536;
    let (f, t) = forwarder(&e, &c);
    // Three intervals of 1000 leaves, every path 6 bytes long (`k,0042`).
    for i in 0..3 {
        let body: Vec<String> = (0..1000).map(|k| format!(r#""{k:04}":{i}"#)).collect();
        e.push_json(format!(r#"{{"k":{{{}}}}}"#, body.join(",")).as_bytes())
            .unwrap();
        close(&e, &clock);
    }
    let fits = 65536 / (6 + POINT_OVERHEAD);
    wait_for("the buffer to fill and drop", || {
        let s = f.stats();
        (s.buffered_points == fits as u64 && s.dropped == 3000 - fits as u64).then_some(())
    });
    assert!(f.stats().buffered_bytes <= 65536);
    assert_eq!(
        t.value(
            "treestat_forward_dropped_points_total",
            &[("target", "graphite0")]
        ),
        Some((3000 - fits) as f64)
    );
    // What is left is the newest points, in order.
    let rx = Lines::listen(port);
    let got = rx.wait(fits);
    let want: Vec<String> = (0..3)
        .flat_map(|i| (0..1000).map(move |k| format!("k.{k:04} {i}.0 {}", t0 + 10 * i)))
        .skip(3000 - fits)
        .collect();
    assert_eq!(got, want);
    wait_for("the counters", || {
        (f.stats().sent == fits as u64).then_some(())
    });
}

#[test]
fn points_still_unsent_at_stop_are_counted_as_dropped() {
    let (e, clock, _) = engine();
    let port = free_port();
    let (mut f, _t) = forwarder(
        &e,
        &config(Kind::Graphite, &format!("tcp://127.0.0.1:{port}")),
    );
    e.push_json(br#"{"a":1,"b":2}"#).unwrap();
    close(&e, &clock);
    wait_for("2 points buffered", || {
        (f.stats().buffered_points == 2).then_some(())
    });
    f.stop(Duration::from_millis(100));
    let s = f.stats();
    assert_eq!((s.sent, s.dropped, s.buffered_points), (0, 2, 0));
    // Intervals closed after the stop are not taken.
    e.push_json(br#"{"a":1}"#).unwrap();
    close(&e, &clock);
    assert_eq!(f.stats().dropped, 2);
}

#[test]
fn a_stop_with_the_receiver_up_sends_the_last_interval() {
    let (e, clock, t0) = engine();
    let rx = Lines::listen(0);
    let (mut f, _t) = forwarder(
        &e,
        &config(Kind::Graphite, &format!("tcp://127.0.0.1:{}", rx.port)),
    );
    e.push_json(br#"{"a":1}"#).unwrap();
    // As the server stops: the last interval closes, then the forwarder stops.
    clock.advance(3);
    e.close_now();
    f.stop(Duration::from_secs(30));
    assert_eq!(f.stats().sent, 1);
    assert_eq!(rx.wait(1), [format!("a 1.0 {t0}")]);
}

/// A receiver that closes the first connection after its first line (as a carbon
/// restart does), then keeps every line of the next connections.
#[test]
fn a_connection_the_receiver_closed_is_noticed_before_the_next_batch() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::mpsc;

    let (e, clock, t0) = engine();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (closed_tx, closed_rx) = mpsc::channel();
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (first, _) = l.accept().unwrap();
        let mut r = BufReader::new(first);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        line_tx.send(line.trim_end().to_string()).unwrap();
        drop(r); // closes the connection
        closed_tx.send(()).unwrap();
        for conn in l.incoming() {
            let line_tx = line_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(conn.unwrap()).lines() {
                    let Ok(line) = line else { return };
                    let _ = line_tx.send(line);
                }
            });
        }
    });
    let (f, _t) = forwarder(
        &e,
        &config(Kind::Graphite, &format!("tcp://127.0.0.1:{port}")),
    );
    e.push_json(br#"{"a":1}"#).unwrap();
    close(&e, &clock);
    let limit = crate::common::LIMIT;
    assert_eq!(line_rx.recv_timeout(limit).unwrap(), format!("a 1.0 {t0}"));
    closed_rx.recv_timeout(limit).unwrap();
    // The next interval goes on a new connection, not into the closed one.
    e.push_json(br#"{"a":2}"#).unwrap();
    close(&e, &clock);
    assert_eq!(
        line_rx.recv_timeout(limit).unwrap(),
        format!("a 2.0 {}", t0 + 10)
    );
    // The receiver may read the line before the sender's thread has counted it.
    crate::common::wait_for("both points counted as sent", || {
        (f.stats().sent == 2).then_some(())
    });
}
