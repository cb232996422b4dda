//! Streaming uploads from a body source, and progress reporting.
mod heap_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use reqivo::client::{BodySource, ClientError, ClientErrorKind, Progress, Request, Session};
use reqivo::net::{Pool, PoolConfig};

/// What the test server saw of one request.
#[derive(Debug, Default, Clone)]
struct Upload {
    method: String,
    target: String,
    head: String,
    /// Body bytes after de-chunking, and a checksum of them.
    len: u64,
    sum: u64,
}

fn checksum(sum: u64, data: &[u8]) -> u64 {
    data.iter()
        .fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)))
}

/// Reads one request, de-chunking on the fly without holding the body.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Upload> {
    let mut up = Upload::default();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        up.head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let first: Vec<&str> = up.head.lines().next()?.split(' ').collect();
    up.method = first[0].to_string();
    up.target = first[1].to_string();
    let lower = up.head.to_ascii_lowercase();
    let mut buf = vec![0u8; 64 * 1024];
    if lower.contains("transfer-encoding: chunked") {
        loop {
            line.clear();
            r.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim_end(), 16).ok()?;
            if size == 0 {
                line.clear();
                r.read_line(&mut line).ok()?; // empty trailer section
                break;
            }
            let mut left = size;
            while left > 0 {
                let cap = left.min(buf.len());
                let n = r.read(&mut buf[..cap]).ok()?;
                if n == 0 {
                    return None;
                }
                up.sum = checksum(up.sum, &buf[..n]);
                up.len += n as u64;
                left -= n;
            }
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).ok()?;
        }
    } else if let Some(cl) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
    {
        let mut left: usize = cl.trim().parse().ok()?;
        while left > 0 {
            let cap = left.min(buf.len());
            let n = r.read(&mut buf[..cap]).ok()?;
            if n == 0 {
                return None;
            }
            up.sum = checksum(up.sum, &buf[..n]);
            up.len += n as u64;
            left -= n;
        }
    }
    Some(up)
}

/// A server answering each request with `answer(upload)`; records uploads.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Upload>>>,
    accepted: Arc<AtomicUsize>,
    _thread: JoinHandle<()>,
}

fn server(answer: fn(&Upload) -> String) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (s2, a2) = (seen.clone(), accepted.clone());
    let thread = std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(stream) = stream else { return };
            a2.fetch_add(1, Ordering::SeqCst);
            let s3 = s2.clone();
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                while let Some(up) = read_request(&mut r) {
                    let reply = answer(&up);
                    s3.lock().unwrap().push(up);
                    if w.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Server {
        port,
        seen,
        accepted,
        _thread: thread,
    }
}

fn ok_with_len(up: &Upload) -> String {
    let body = format!("{} {}", up.len, up.sum);
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        body
    )
}

/// A source producing `total` bytes of a pattern in uneven pieces.
struct Pattern {
    total: u64,
    done: u64,
    fail_at: Option<u64>,
}

impl Pattern {
    fn byte(i: u64) -> u8 {
        (i % 253) as u8
    }
    fn expected_sum(total: u64) -> u64 {
        (0..total).fold(0, |s, i| {
            s.wrapping_mul(31).wrapping_add(u64::from(Self::byte(i)))
        })
    }
}

impl BodySource for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        if self.fail_at.is_some_and(|f| self.done >= f) {
            return Err(ClientError::new(
                ClientErrorKind::AbortedByCallback,
                "source failed on purpose",
            ));
        }
        // Uneven pieces: never more than 7,777 bytes at once.
        let n = (self.total - self.done).min(buf.len() as u64).min(7777) as usize;
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = Self::byte(self.done + k as u64);
        }
        self.done += n as u64;
        Ok(n)
    }
}

fn session() -> Session {
    Session::new(Pool::new(PoolConfig::default()))
}

fn url(s: &Server, path: &str) -> String {
    format!("http://127.0.0.1:{}{}", s.port, path)
}

#[test]
fn upload_with_size_sends_content_length() {
    let srv = server(ok_with_len);
    let mut req = Request::new("PUT", &url(&srv, "/put")).unwrap();
    let total = 1_000_003;
    req.set_body_source(
        Box::new(Pattern {
            total,
            done: 0,
            fail_at: None,
        }),
        Some(total),
    );
    let resp = session().send(&req, None).unwrap();
    assert_eq!(resp.head.status, 200);
    assert_eq!(
        String::from_utf8(resp.body).unwrap(),
        format!("{} {}", total, Pattern::expected_sum(total))
    );
    let seen = srv.seen.lock().unwrap()[0].clone();
    assert!(
        seen.head.contains("Content-Length: 1000003\r\n"),
        "{}",
        seen.head
    );
    assert!(
        !seen.head.to_ascii_lowercase().contains("transfer-encoding"),
        "{}",
        seen.head
    );
}

#[test]
fn upload_without_size_is_chunked_with_flat_memory() {
    let srv = server(ok_with_len);
    let total: u64 = 100 << 20;
    let mut req = Request::new("POST", &url(&srv, "/big")).unwrap();
    req.set_body_source(
        Box::new(Pattern {
            total,
            done: 0,
            fail_at: None,
        }),
        None,
    );
    let s = session();
    let before = heap_support::reset_peak();
    let resp = s.send(&req, None).unwrap();
    let peak = heap_support::peak();
    assert_eq!(
        String::from_utf8(resp.body).unwrap(),
        format!("{} {}", total, Pattern::expected_sum(total))
    );
    let seen = srv.seen.lock().unwrap()[0].clone();
    assert!(
        seen.head.contains("Transfer-Encoding: chunked\r\n"),
        "{}",
        seen.head
    );
    assert!(
        !seen.head.to_ascii_lowercase().contains("content-length"),
        "{}",
        seen.head
    );
    // The whole process, server thread included, never held more than a
    // few pieces of the 100 MiB body.
    assert!(
        peak - before < 4 << 20,
        "heap peaked {} bytes above the start",
        peak - before
    );
}

#[test]
fn upload_source_error_aborts_and_session_recovers() {
    let srv = server(ok_with_len);
    let s = session();
    let mut req = Request::new("POST", &url(&srv, "/fail")).unwrap();
    req.set_body_source(
        Box::new(Pattern {
            total: 1 << 20,
            done: 0,
            fail_at: Some(100_000),
        }),
        None,
    );
    let e = s.send(&req, None).unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Client {
                kind: ClientErrorKind::AbortedByCallback,
                ..
            }
        ),
        "{e:?}"
    );
    // The half-sent connection was closed, not pooled: the next request works.
    let resp = s
        .send(&Request::new("GET", &url(&srv, "/after")).unwrap(), None)
        .unwrap();
    assert_eq!(resp.head.status, 200);
    assert!(!resp.reused);
}

#[test]
fn upload_source_shorter_than_declared_fails() {
    let srv = server(ok_with_len);
    let mut req = Request::new("PUT", &url(&srv, "/short")).unwrap();
    req.set_body_source(
        Box::new(Pattern {
            total: 50,
            done: 0,
            fail_at: None,
        }),
        Some(100),
    );
    let e = session().send(&req, None).unwrap_err();
    assert!(
        matches!(&e, ClientError::Client { kind: ClientErrorKind::InvalidArgument, message } if message.contains("50 of the 100")),
        "{e:?}"
    );
}

fn redirect_307(up: &Upload) -> String {
    if up.target == "/from" {
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: /to\r\nContent-Length: 0\r\n\r\n".into()
    } else {
        ok_with_len(up)
    }
}

#[test]
fn redirect_307_with_source_body_is_returned_not_followed() {
    let srv = server(redirect_307);
    let mut req = Request::new("POST", &url(&srv, "/from")).unwrap();
    req.set_body_source(
        Box::new(Pattern {
            total: 10,
            done: 0,
            fail_at: None,
        }),
        Some(10),
    );
    let resp = session().send(&req, None).unwrap();
    assert_eq!(resp.head.status, 307);
    assert!(resp.redirect_not_followed);
    assert_eq!(
        srv.seen.lock().unwrap().len(),
        1,
        "the redirect target was not requested"
    );
    // With an in-memory body the same redirect is followed, body and all.
    let mut req = Request::new("POST", &url(&srv, "/from")).unwrap();
    req.set_body(b"0123456789");
    let resp = session().send(&req, None).unwrap();
    assert_eq!(resp.head.status, 200);
    assert!(!resp.redirect_not_followed);
    assert_eq!(srv.seen.lock().unwrap().last().unwrap().len, 10);
}

#[derive(Default)]
struct Recorder {
    calls: AtomicU64,
    last_sent: AtomicU64,
    last_received: AtomicU64,
    send_total_known: AtomicBool,
    abort_after_sent: Option<u64>,
}

impl Progress for Recorder {
    fn progress(
        &self,
        sent: u64,
        send_total: Option<u64>,
        received: u64,
        _receive_total: Option<u64>,
    ) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(
            sent >= self.last_sent.swap(sent, Ordering::SeqCst),
            "sent never goes back"
        );
        self.last_received.store(received, Ordering::SeqCst);
        self.send_total_known
            .store(send_total.is_some(), Ordering::SeqCst);
        self.abort_after_sent.is_none_or(|limit| sent < limit)
    }
}

#[test]
fn progress_reports_bytes_sent_and_received() {
    let srv = server(ok_with_len);
    let rec = Arc::new(Recorder::default());
    let mut req = Request::new("POST", &url(&srv, "/p")).unwrap();
    req.set_body(&vec![7u8; 300_000]);
    req.set_progress(Some(rec.clone()));
    let resp = session().send(&req, None).unwrap();
    assert!(
        rec.calls.load(Ordering::SeqCst) >= 5,
        "one call per 64 KiB piece at least"
    );
    assert_eq!(rec.last_sent.load(Ordering::SeqCst), 300_000);
    assert_eq!(
        rec.last_received.load(Ordering::SeqCst),
        resp.body.len() as u64
    );
    assert!(rec.send_total_known.load(Ordering::SeqCst));
}

#[test]
fn progress_callback_can_abort() {
    let srv = server(ok_with_len);
    let rec = Arc::new(Recorder {
        abort_after_sent: Some(100_000),
        ..Recorder::default()
    });
    let mut req = Request::new("POST", &url(&srv, "/p")).unwrap();
    req.set_body_source(
        Box::new(Pattern {
            total: 1 << 20,
            done: 0,
            fail_at: None,
        }),
        None,
    );
    req.set_progress(Some(rec));
    let e = session().send(&req, None).unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Client {
                kind: ClientErrorKind::AbortedByCallback,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(srv.accepted.load(Ordering::SeqCst) <= 1);
}

/// Runs `reqs` through one multi on this thread; results in order.
fn multi_send(
    s: &Session,
    reqs: Vec<Request>,
) -> Vec<Result<reqivo::client::Response, ClientError>> {
    let mut m = reqivo::client::multi::Multi::new().unwrap();
    let h = m.handle();
    for (i, r) in reqs.iter().enumerate() {
        h.add(s, r, None, reqivo::client::ToResponse, i).unwrap();
    }
    let mut out: Vec<_> = (0..reqs.len()).map(|_| None).collect();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while out.iter().any(Option::is_none) {
        assert!(
            std::time::Instant::now() < until,
            "the multi did not finish"
        );
        m.poll(Some(Duration::from_millis(100))).unwrap();
        while let Some(d) = m.next_done() {
            out[d.user] = Some(d.result);
        }
    }
    out.into_iter().map(Option::unwrap).collect()
}

#[test]
fn multi_uploads_source_bodies_sized_and_chunked() {
    let srv = server(ok_with_len);
    let (sized, chunked) = (1_000_003u64, 5u64 << 20);
    let mut a = Request::new("PUT", &url(&srv, "/sized")).unwrap();
    a.set_body_source(
        Box::new(Pattern {
            total: sized,
            done: 0,
            fail_at: None,
        }),
        Some(sized),
    );
    let mut b = Request::new("POST", &url(&srv, "/chunked")).unwrap();
    b.set_body_source(
        Box::new(Pattern {
            total: chunked,
            done: 0,
            fail_at: None,
        }),
        None,
    );
    let rec = Arc::new(Recorder::default());
    b.set_progress(Some(rec.clone()));
    let results = multi_send(&session(), vec![a, b]);
    for (r, total) in results.into_iter().zip([sized, chunked]) {
        let body = String::from_utf8(r.unwrap().body).unwrap();
        assert_eq!(body, format!("{} {}", total, Pattern::expected_sum(total)));
    }
    assert_eq!(rec.last_sent.load(Ordering::SeqCst), chunked);
    assert!(
        rec.calls.load(Ordering::SeqCst) >= 80,
        "one report per 64 KiB piece"
    );
    assert!(!rec.send_total_known.load(Ordering::SeqCst));
    let seen = srv.seen.lock().unwrap();
    assert!(seen.iter().any(|u| u.len == sized));
}

#[test]
fn multi_upload_ends_when_the_source_or_progress_says_so() {
    let srv = server(ok_with_len);
    let mut failing = Request::new("POST", &url(&srv, "/f")).unwrap();
    failing.set_body_source(
        Box::new(Pattern {
            total: 1 << 20,
            done: 0,
            fail_at: Some(200_000),
        }),
        None,
    );
    let mut aborted = Request::new("POST", &url(&srv, "/a")).unwrap();
    aborted.set_body_source(
        Box::new(Pattern {
            total: 1 << 20,
            done: 0,
            fail_at: None,
        }),
        None,
    );
    aborted.set_progress(Some(Arc::new(Recorder {
        abort_after_sent: Some(100_000),
        ..Recorder::default()
    })));
    let mut short = Request::new("PUT", &url(&srv, "/s")).unwrap();
    short.set_body_source(
        Box::new(Pattern {
            total: 10,
            done: 0,
            fail_at: None,
        }),
        Some(20),
    );
    let results = multi_send(&session(), vec![failing, aborted, short]);
    let msgs: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap_err().to_string())
        .collect();
    assert!(msgs[0].contains("source failed on purpose"), "{}", msgs[0]);
    assert!(msgs[1].contains("progress callback aborted"), "{}", msgs[1]);
    assert!(
        msgs[2].contains("ended after 10 of the 20 bytes"),
        "{}",
        msgs[2]
    );
}
