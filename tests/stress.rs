//! Thread stress against a real nginx: 8 threads share one session and one
//! pool capped at 3 connections with a 20 ms idle expiry, while another
//! thread cancels in-flight requests at random, changes a session header
//! and closes idle connections. Checks: no deadlock (a wall-clock bound),
//! every request accounted for (ok + cancelled == issued, no other error),
//! the pool's books balanced at the end, and RSS flat between the first and
//! the last quarter of the run.
//!
//! REQIVO_STRESS_REQUESTS sets the total (default 20,000, what `make test`
//! runs); `make stress` runs 200,000. Skipped where nginx is missing,
//! unless REQIVO_REQUIRE_NGINX or CI is set.
mod nginx_support;
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqivo::client::{ClientError, Request, Session};
use reqivo::net::{Cancel, NetErrorKind, Pool, PoolConfig, Timeouts};
use support::Rng;

const THREADS: usize = 8;
const MAX_PER_HOST: usize = 3;
const SMALL: &[u8] = b"{\"stress\": true, \"padding\": \"................................\"}\n";
const MEDIUM_LEN: usize = 64 * 1024;
/// RSS may grow this much between the first and the last quarter: the
/// allocator's caches and a few buffers per thread, not a leak.
const RSS_SLACK: u64 = 8 << 20;

fn requests_wanted() -> u64 {
    std::env::var("REQIVO_STRESS_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// A generous bound for the whole run: a machine doing less than 200
/// requests a second (debug build, shared cores) is still far inside it.
fn wall_clock_bound(total: u64) -> Duration {
    Duration::from_secs(60 + total / 200)
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    cancelled: AtomicU64,
    /// Errors of any other kind; the first few are kept to report.
    other: AtomicU64,
    issued: AtomicU64,
    done: AtomicU64,
    other_messages: Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, result: Result<(), ClientError>) {
        match result {
            Ok(()) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(ClientError::Net(e)) if e.kind == NetErrorKind::Cancelled => {
                self.cancelled.fetch_add(1, Ordering::Relaxed)
            }
            Err(e) => {
                let mut m = self.other_messages.lock().unwrap();
                if m.len() < 10 {
                    m.push(format!("{e:?}"));
                }
                self.other.fetch_add(1, Ordering::Relaxed)
            }
        };
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Each worker's current cancel token, where the canceller finds it.
type Slots = Arc<Vec<Mutex<Arc<Cancel>>>>;

struct Urls {
    small: String,
    medium: String,
}

/// One request of a mix: small and medium bodies buffered, a HEAD, and a
/// stream read fully or abandoned part-way (which closes its connection).
fn one_request(
    s: &Session,
    urls: &Urls,
    rng: &mut Rng,
    cancel: Arc<Cancel>,
) -> Result<(), ClientError> {
    let pick = rng.below(100);
    let (method, url, want) = match pick {
        0..=69 => ("GET", &urls.small, SMALL.len()),
        70..=79 => ("GET", &urls.medium, MEDIUM_LEN),
        80..=84 => ("HEAD", &urls.small, 0),
        _ => ("STREAM", &urls.medium, MEDIUM_LEN),
    };
    if method == "STREAM" {
        let mut st = s.open(&Request::new("GET", url)?, Some(cancel))?;
        let stop_after = if rng.below(2) == 0 {
            usize::MAX
        } else {
            rng.below(MEDIUM_LEN as u64) as usize
        };
        let mut buf = [0u8; 8192];
        let mut got = 0usize;
        // Bounded: each read returns > 0 bytes until the end.
        for _ in 0..=MEDIUM_LEN {
            if got >= stop_after {
                return Ok(()); // dropped part-way: its connection is closed
            }
            let n = st.read(&mut buf)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        assert_eq!(got, MEDIUM_LEN, "streamed body length");
        return Ok(());
    }
    let resp = s.send(&Request::new(method, url)?, Some(cancel))?;
    assert_eq!(resp.head.status, 200, "{method} {url}");
    assert_eq!(resp.body.len(), want, "{method} {url}");
    if want == SMALL.len() {
        assert_eq!(resp.body, SMALL);
    }
    Ok(())
}

#[test]
fn eight_threads_share_one_session_under_random_cancels() {
    let total = requests_wanted();
    let Some(nginx) = nginx_support::start(
        "stress",
        |dir| {
            std::fs::write(dir.join("www/small.json"), SMALL).unwrap();
            let medium: Vec<u8> = (0..MEDIUM_LEN).map(|i| (i % 251) as u8).collect();
            std::fs::write(dir.join("www/medium.bin"), medium).unwrap();
        },
        |d, port| format!("server {{ listen 127.0.0.1:{port}; root {d}/www; }}"),
    ) else {
        return;
    };
    let urls = Arc::new(Urls {
        small: format!("http://127.0.0.1:{}/small.json", nginx.port),
        medium: format!("http://127.0.0.1:{}/medium.bin", nginx.port),
    });
    let pool = Pool::new(PoolConfig {
        max_per_host: MAX_PER_HOST,
        max_total: MAX_PER_HOST,
        max_idle: Duration::from_millis(20),
        max_idle_per_host: None,
    });
    let session = Arc::new(Session::new(pool.clone()));
    let five = Some(Duration::from_secs(5));
    session.set_timeouts(Timeouts {
        connect: five,
        read: five,
        write: five,
        total: Some(Duration::from_secs(30)),
        pool: Some(Duration::from_secs(30)),
    });
    let tally = Arc::new(Tally::default());
    let slots: Slots = Arc::new(
        (0..THREADS)
            .map(|_| Mutex::new(Arc::new(Cancel::new().unwrap())))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let bound = wall_clock_bound(total);

    let mut workers = Vec::new();
    for t in 0..THREADS {
        let (session, urls, tally, slots) =
            (session.clone(), urls.clone(), tally.clone(), slots.clone());
        let share = total / THREADS as u64 + u64::from((t as u64) < total % THREADS as u64);
        workers.push(std::thread::spawn(move || {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
            for _ in 0..share {
                // A triggered token stays triggered: take a fresh one.
                let cancel = {
                    let mut slot = slots[t].lock().unwrap();
                    if slot.is_triggered() {
                        *slot = Arc::new(Cancel::new().unwrap());
                    }
                    slot.clone()
                };
                tally.issued.fetch_add(1, Ordering::Relaxed);
                let result = one_request(&session, &urls, &mut rng, cancel);
                tally.record(result);
                // Now and then a pause longer than the idle expiry.
                if rng.below(500) == 0 {
                    std::thread::sleep(Duration::from_millis(25));
                }
            }
        }));
    }

    // The meddler: cancels a random worker's current request, changes a
    // session header and empties the pool's idle list, all while they run.
    let meddler = {
        let (session, slots, stop, pool) =
            (session.clone(), slots.clone(), stop.clone(), pool.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0xD1B5_4A32_D192_ED03);
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_micros(1500));
                rounds += 1;
                let victim = rng.below(THREADS as u64) as usize;
                slots[victim].lock().unwrap().trigger();
                if rounds % 50 == 0 {
                    session
                        .set_header("X-Stress-Round", &rounds.to_string())
                        .unwrap();
                }
                if rounds % 200 == 0 {
                    pool.close_idle();
                }
            }
        })
    };

    // Watch progress: RSS at the end of the first quarter and at the end,
    // and the wall-clock bound. Sampled every 5 ms, so each quarter mark is
    // caught within a few requests of where it falls.
    let mut rss_marks: Vec<(u64, u64)> = Vec::new();
    let mut next_quarter = 1u64;
    loop {
        let done = tally.done.load(Ordering::Relaxed);
        while next_quarter <= 4 && done >= total * next_quarter / 4 {
            rss_marks.push((done, rss_bytes()));
            next_quarter += 1;
        }
        if done >= total {
            break;
        }
        // A worker that panicked would leave the count short forever.
        if let Some(i) = workers.iter().position(|w| w.is_finished()) {
            if let Err(p) = workers.swap_remove(i).join() {
                stop.store(true, Ordering::Relaxed);
                std::panic::resume_unwind(p);
            }
        }
        if started.elapsed() > bound {
            stop.store(true, Ordering::Relaxed);
            panic!(
                "deadlock or stall: {done} of {total} requests done after {:?}; pool {:?}",
                started.elapsed(),
                pool.stats()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for w in workers {
        w.join().expect("worker panicked");
    }
    stop.store(true, Ordering::Relaxed);
    meddler.join().unwrap();
    let took = started.elapsed();

    let ok = tally.ok.load(Ordering::Relaxed);
    let cancelled = tally.cancelled.load(Ordering::Relaxed);
    let other = tally.other.load(Ordering::Relaxed);
    let issued = tally.issued.load(Ordering::Relaxed);
    let st = pool.stats();
    let first = rss_marks.first().map_or(0, |m| m.1);
    let last = rss_marks.last().map_or(0, |m| m.1);
    eprintln!(
        "stress: {issued} requests in {took:.1?} ({:.0}/s) on {THREADS} threads: {ok} ok, \
         {cancelled} cancelled, {other} other errors; pool {st:?}",
        issued as f64 / took.as_secs_f64()
    );
    eprintln!("stress: RSS by quarter (requests done, KiB):");
    for (done, rss) in &rss_marks {
        eprintln!("stress:   {done:>9} {:>9}", rss / 1024);
    }
    eprintln!(
        "stress: RSS growth first to last quarter: {} KiB",
        (last as i64 - first as i64) / 1024
    );

    assert_eq!(issued, total, "every request was issued");
    assert_eq!(
        ok + cancelled + other,
        issued,
        "every request accounted for"
    );
    assert_eq!(
        other,
        0,
        "errors other than cancellation: {:?}",
        tally.other_messages.lock().unwrap()
    );
    assert!(ok > 0, "some requests succeeded");
    // The books balance: nothing in use or waiting, every connection ever
    // opened is closed or idle, never more than the cap.
    assert_eq!((st.in_use, st.waiting), (0, 0), "{st:?}");
    assert_eq!(st.opened, st.closed + st.idle, "{st:?}");
    assert!(st.idle <= MAX_PER_HOST as u64, "{st:?}");
    assert!(
        st.opened + st.reused >= ok,
        "every success had a checkout: {st:?}"
    );
    assert!(
        last <= first + RSS_SLACK,
        "RSS grew from {} KiB to {} KiB between the first and last quarter",
        first / 1024,
        last / 1024
    );
    drop(nginx);
}
