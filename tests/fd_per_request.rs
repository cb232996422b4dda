//! A request in flight holds one file descriptor, its socket, whether or
//! not it carries a cancel token: cancellation shuts the socket down
//! instead of waking an eventfd of its own, so 10,000 cancellable requests
//! never need 20,000 descriptors. Counted in /proc/self/fd with 1,000
//! cancellable requests waiting on a server that never answers; then one
//! trigger each ends them all.
mod support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use reqivo::client::Session;
use reqivo::net::{Cancel, NetErrorKind, Pool, PoolConfig};
use support::*;

const IN_FLIGHT: usize = 1000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn a_cancellable_request_in_flight_holds_one_descriptor() {
    // A listener that accepts nothing: the kernel completes each connect
    // into its backlog, and every request waits for an answer that never
    // comes. No server-side descriptor is made in this process.
    let (_listener, addr) = unaccepting_listener(4096);
    let port = addr.port();
    let url = format!("http://127.0.0.1:{port}/never");

    let pool = Pool::new(PoolConfig {
        max_per_host: IN_FLIGHT,
        max_total: IN_FLIGHT,
        ..PoolConfig::default()
    });
    let s = Arc::new(Session::new(pool.clone()));
    s.set_timeouts(timeouts_ms(60_000));
    let baseline = open_fds();
    // Made after the baseline: a token's own descriptors count.
    let tokens: Vec<Arc<Cancel>> = (0..IN_FLIGHT)
        .map(|_| Arc::new(Cancel::new().unwrap()))
        .collect();
    let start = Arc::new(Barrier::new(IN_FLIGHT + 1));
    let threads: Vec<_> = tokens
        .iter()
        .map(|c| {
            let (s, c, url, start) = (s.clone(), c.clone(), url.clone(), start.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    start.wait();
                    s.send(&request("GET", &url), Some(c))
                })
                .unwrap()
        })
        .collect();
    start.wait();
    // Every request connected and waiting (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.stats().in_use < IN_FLIGHT as u64 {
        assert!(
            Instant::now() < deadline,
            "only {} of {IN_FLIGHT} requests in flight after 30 s",
            pool.stats().in_use
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let held = open_fds() - baseline;
    eprintln!("{IN_FLIGHT} cancellable requests in flight hold {held} descriptors");
    // One socket each, and a few for the test harness at most.
    assert!(
        held <= IN_FLIGHT + 16,
        "{IN_FLIGHT} requests hold {held} descriptors"
    );
    assert!(
        tokens.iter().all(|c| !c.has_fd()),
        "no token made an eventfd"
    );

    let t0 = Instant::now();
    for c in &tokens {
        c.trigger();
    }
    for t in threads {
        let e = t.join().unwrap().expect_err("cancelled");
        assert_eq!(net_kind(&e), Some(NetErrorKind::Cancelled), "{e}");
    }
    eprintln!(
        "all {IN_FLIGHT} ended {:?} after their triggers",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
    drop(s);
    assert!(
        open_fds() <= baseline + 16,
        "sockets closed after the cancel"
    );
}
