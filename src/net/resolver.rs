//! Name resolution for the event-driven core: a small, bounded set of
//! threads shared by the whole process, so thousands of requests in flight
//! never mean thousands of resolver threads. getaddrinfo cannot be
//! interrupted, so a caller that stops caring (deadline, cancel) simply
//! ignores the answer when it comes.
use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use super::error::{NetError, NetErrorKind};

/// At most this many resolver threads in the process.
const MAX_THREADS: usize = 4;
/// An idle resolver thread ends after this long without work.
const IDLE: Duration = Duration::from_secs(10);

/// Called with the answer, on a resolver thread.
pub type OnResolved = Box<dyn FnOnce(Result<Vec<SocketAddr>, NetError>) + Send>;

struct Job {
    host: String,
    port: u16,
    done: OnResolved,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

struct Resolver {
    queue: Mutex<Queue>,
    more: Condvar,
}

fn resolver() -> &'static Resolver {
    static RESOLVER: OnceLock<Resolver> = OnceLock::new();
    RESOLVER.get_or_init(|| Resolver {
        queue: Mutex::new(Queue::default()),
        more: Condvar::new(),
    })
}

/// Resolves `host:port` on a resolver thread and calls `done` with the
/// addresses (never an empty list: no address is an error). Fails at once
/// only if no resolver thread can be started at all.
pub fn resolve(host: &str, port: u16, done: OnResolved) -> Result<(), NetError> {
    let r = resolver();
    let mut q = r.queue.lock().unwrap_or_else(|p| p.into_inner());
    q.jobs.push_back(Job {
        host: host.to_string(),
        port,
        done,
    });
    if q.idle == 0 && q.threads < MAX_THREADS {
        let spawned = std::thread::Builder::new()
            .name("reqivo-resolver".into())
            .spawn(|| work(resolver()));
        match spawned {
            Ok(_) => q.threads += 1,
            Err(e) if q.threads == 0 => {
                // No thread will ever take the job: take it back.
                q.jobs.pop_back();
                return Err(NetError::io(&e, "starting a resolver thread"));
            }
            // The running threads will get to it.
            Err(_) => {}
        }
    }
    drop(q);
    r.more.notify_one();
    Ok(())
}

fn work(r: &'static Resolver) {
    let mut q = r.queue.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if let Some(job) = q.jobs.pop_front() {
            drop(q);
            let answer = lookup(&job.host, job.port);
            (job.done)(answer);
            q = r.queue.lock().unwrap_or_else(|p| p.into_inner());
            continue;
        }
        q.idle += 1;
        let (next, timeout) = r
            .more
            .wait_timeout(q, IDLE)
            .unwrap_or_else(|p| p.into_inner());
        q = next;
        q.idle -= 1;
        if timeout.timed_out() && q.jobs.is_empty() {
            q.threads -= 1;
            return;
        }
    }
}

fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, NetError> {
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                return Err(NetError::new(
                    NetErrorKind::Dns,
                    format!("{} has no addresses", host),
                ));
            }
            Ok(addrs)
        }
        Err(e) => {
            let mut err = NetError::new(
                NetErrorKind::Dns,
                format!("could not resolve {}: {}", host, e),
            );
            err.os_error = e.raw_os_error().unwrap_or(0);
            Err(err)
        }
    }
}
