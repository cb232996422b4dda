//! Callers queued behind a full pool with cancel tokens sleep until a slot
//! frees or their token fires: the wait costs no CPU. Alone in its own test
//! binary, so that no other test's work counts in the process's CPU time.
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqivo::client::Session;
use reqivo::net::{Cancel, NetErrorKind};
use support::*;

/// CPU time (user + system) this process has used.
fn process_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut u), 0);
        u
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[test]
fn callers_waiting_for_a_pool_slot_with_tokens_cost_no_cpu_until_cancelled() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nheld")),
        Step::Hold,
    ]]);
    let s = Arc::new(Session::new(pool(1)));
    s.set_timeouts(timeouts_ms(30_000));
    let held = s.open(&request("GET", &srv.url("/held")), None).unwrap();
    let tokens: Vec<Arc<Cancel>> = (0..200).map(|_| Arc::new(Cancel::new().unwrap())).collect();
    let waiters: Vec<_> = tokens
        .iter()
        .map(|c| {
            let (s, c) = (s.clone(), c.clone());
            let url = srv.url("/waits");
            std::thread::spawn(move || s.send(&request("GET", &url), Some(c)))
        })
        .collect();
    let deadline = Instant::now() + WAIT_MAX;
    while s.pool().stats().waiting < 200 {
        assert!(
            Instant::now() < deadline,
            "not all callers waited on the pool"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // 200 callers wait 2 s. Each token wakes its caller when it fires, so
    // the wait itself costs nothing (a wait in 10 ms slices cost about
    // 40,000 wake-ups here).
    let before = process_cpu();
    std::thread::sleep(Duration::from_secs(2));
    let spent = process_cpu() - before;
    eprintln!(
        "200 callers waiting 2 s on the pool used {:?} of CPU",
        spent
    );
    assert!(
        spent < Duration::from_millis(100),
        "{spent:?} of CPU while waiting"
    );
    // And each trigger still ends its caller's wait.
    let at = Instant::now();
    for c in &tokens {
        c.trigger();
    }
    for w in waiters {
        let e = expect_err(w.join().unwrap());
        assert_eq!(net_kind(&e), Some(NetErrorKind::Cancelled), "{e:?}");
    }
    assert!(at.elapsed() < Duration::from_secs(2), "{:?}", at.elapsed());
    drop(held);
    assert_eq!(s.pool().stats().waiting, 0);
}
