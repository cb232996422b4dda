//! Hooks: on_request changes the headers of each hop, on_response sees
//! every response head, and either can abort.
mod support;

use std::sync::{Arc, Mutex};

use reqivo::client::{ClientError, ClientErrorKind, HookRequest, Hooks};
use reqivo::proto::ResponseHead;
use support::*;
use url::Url;

#[derive(Default)]
struct Recorder {
    requests: Mutex<Vec<String>>,
    responses: Mutex<Vec<u16>>,
    abort_request_to: Option<&'static str>,
    abort_on_status: Option<u16>,
}

impl Hooks for Recorder {
    fn on_request(&self, req: &mut HookRequest<'_, '_>) -> bool {
        self.requests
            .lock()
            .unwrap()
            .push(format!("{} {}", req.method(), req.url().path()));
        let path = req.url().path().to_string();
        req.set_header("X-Hop", &path).unwrap();
        req.remove_header("user-agent").unwrap();
        assert!(req.remove_header("Host").is_err(), "Host must stay");
        assert!(req.set_header("X-Bad", "a\r\nb").is_err());
        self.abort_request_to.is_none_or(|p| req.url().path() != p)
    }

    fn on_response(&self, head: &ResponseHead, _url: &Url) -> bool {
        self.responses.lock().unwrap().push(head.status);
        self.abort_on_status != Some(head.status)
    }
}

fn redirecting() -> Server {
    Server::serve(|seen| match seen.target.as_str() {
        "/a" => redirect("302 Found", "/b"),
        _ => ok("done"),
    })
}

#[test]
fn hooks_see_and_change_every_hop() {
    let srv = redirecting();
    let s = session();
    let rec = Arc::new(Recorder::default());
    s.set_hooks(Some(rec.clone()));
    let resp = get(&s, &srv.url("/a")).unwrap();
    assert_eq!(resp.head.status, 200);
    assert_eq!(*rec.requests.lock().unwrap(), vec!["GET /a", "GET /b"]);
    assert_eq!(*rec.responses.lock().unwrap(), vec![302, 200]);
    let seen = srv.requests();
    assert_eq!(seen[0].header("x-hop"), Some("/a"));
    assert_eq!(seen[1].header("x-hop"), Some("/b"));
    assert!(!seen[0].has_header("user-agent"), "{}", seen[0].head);
    s.set_hooks(None);
    get(&s, &srv.url("/b")).unwrap();
    assert!(srv.requests()[2].has_header("user-agent"), "hooks removed");
}

fn assert_aborted(e: ClientError) {
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
}

#[test]
fn on_request_can_abort_before_sending() {
    let srv = redirecting();
    let s = session();
    s.set_hooks(Some(Arc::new(Recorder {
        abort_request_to: Some("/b"),
        ..Recorder::default()
    })));
    assert_aborted(get(&s, &srv.url("/a")).unwrap_err());
    assert_eq!(srv.request_count(), 1, "the aborted hop was never sent");
}

#[test]
fn on_response_can_abort() {
    let srv = redirecting();
    let s = session();
    s.set_hooks(Some(Arc::new(Recorder {
        abort_on_status: Some(302),
        ..Recorder::default()
    })));
    assert_aborted(get(&s, &srv.url("/a")).unwrap_err());
    assert_eq!(srv.request_count(), 1);
}

#[derive(Default)]
struct Lines(Mutex<Vec<(reqivo::client::Level, String)>>);

impl reqivo::client::Logger for Lines {
    fn log(&self, level: reqivo::client::Level, message: &str) {
        self.0.lock().unwrap().push((level, message.to_string()));
    }
}

/// Installs on `s` a logger that keeps every line from `min` up.
fn log_into_lines(s: &reqivo::client::Session, min: reqivo::client::Level) -> Arc<Lines> {
    let lines = Arc::new(Lines::default());
    s.set_logger(Some(reqivo::client::Log {
        logger: lines.clone(),
        min,
    }));
    lines
}

/// What a redirected GET (on a connection then reused) and a refused one
/// must have logged, whichever driver sent them.
fn assert_logged_connections_redirects_and_failures(lines: &Lines) {
    use reqivo::client::Level;
    let got = lines.0.lock().unwrap().clone();
    let has = |level: Level, text: &str| got.iter().any(|(l, m)| *l == level && m.contains(text));
    assert!(has(Level::Debug, "new connection"), "{got:?}");
    assert!(has(Level::Debug, "reused a pooled connection"), "{got:?}");
    assert!(has(Level::Info, "302"), "{got:?}");
    assert!(has(Level::Error, "GET failed"), "{got:?}");
}

#[test]
fn logger_reports_connections_redirects_and_failures() {
    use reqivo::client::Level;
    let srv = redirecting();
    let s = session();
    let lines = log_into_lines(&s, Level::Debug);
    get(&s, &srv.url("/a")).unwrap();
    let _ = get(&s, "http://127.0.0.1:1/refused");
    assert_logged_connections_redirects_and_failures(&lines);
    // Below the minimum level nothing is formatted or delivered.
    let lines = log_into_lines(&s, Level::Error);
    get(&s, &srv.url("/a")).unwrap();
    assert!(lines.0.lock().unwrap().is_empty());
}

#[test]
fn logger_hears_the_same_from_the_multi() {
    let srv = redirecting();
    let s = session();
    let lines = log_into_lines(&s, reqivo::client::Level::Debug);
    let got = multi_get(&s, &[srv.url("/a")]);
    assert!(got[0].is_ok(), "{:?}", got[0]);
    let got = multi_get(&s, &["http://127.0.0.1:1/refused".to_string()]);
    assert!(got[0].is_err());
    assert_logged_connections_redirects_and_failures(&lines);
}
