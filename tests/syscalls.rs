//! System calls per keep-alive request, counted by strace against a real
//! nginx, over HTTP and HTTPS: one `sendto` for the request, one `recvfrom`
//! for a response that fits the buffer, and one `ppoll`, the check that an
//! idle connection is still clean before it is reused (as curl does).
//! Nothing else.
//!
//! The test runs itself again (the ignored `requests_for_strace`) under
//! `strace -f -c` twice, with two request counts, and divides the
//! difference in each call's count by the difference in requests, so
//! process start-up and exit cancel out. Skipped (with a message) where
//! strace or nginx is missing, unless CI (or REQIVO_REQUIRE_STRACE, and for
//! nginx REQIVO_REQUIRE_NGINX) is set, where that fails; also skipped where
//! ptrace is not allowed, unless REQIVO_REQUIRE_STRACE is set.
mod nginx_support;
mod tls_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use reqivo::client::{Request, Session};
use reqivo::net::{Pool, PoolConfig, TlsConfigBuilder};
use tls_support::Ca;

const FEW: u32 = 100;
const MANY: u32 = 600;

#[test]
fn keep_alive_get_is_one_send_one_recv_and_one_stale_check() {
    if !strace_works() {
        return;
    }
    let Some(nginx) = nginx_support::start(
        "syscalls",
        |dir| std::fs::write(dir.join("www").join("small"), b"x".repeat(100)).unwrap(),
        |d, port| format!("server {{ listen 127.0.0.1:{port}; root {d}/www; }}"),
    ) else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/small", nginx.port);
    assert_eq!(
        per_request(&url, None),
        one_each(),
        "system calls per keep-alive GET"
    );
}

#[test]
fn keep_alive_https_get_is_one_send_one_recv_and_one_stale_check() {
    if !strace_works() {
        return;
    }
    let ca = Ca::new("reqivo syscalls CA");
    let server = ca.server(&["127.0.0.1"], tls_support::Validity::Current);
    let Some(nginx) = nginx_support::start(
        "syscalls-tls",
        |dir| {
            std::fs::write(dir.join("www").join("small"), b"x".repeat(100)).unwrap();
            std::fs::write(dir.join("server.pem"), &server.cert_pem).unwrap();
            std::fs::write(dir.join("server.key"), &server.key_pem).unwrap();
            std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        },
        |d, port| {
            format!(
                "server {{ listen 127.0.0.1:{port} ssl; root {d}/www;\n\
                   ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key; }}"
            )
        },
    ) else {
        return;
    };
    let url = format!("https://127.0.0.1:{}/small", nginx.port);
    let ca_file = nginx.dir.join("ca.pem");
    assert_eq!(
        per_request(&url, Some(&ca_file)),
        one_each(),
        "system calls per keep-alive GET over TLS"
    );
}

fn one_each() -> BTreeMap<String, f64> {
    [("ppoll", 1.0), ("recv", 1.0), ("send", 1.0)]
        .map(|(k, v)| (k.to_string(), v))
        .into()
}

/// Each call's count per request, to two decimals: the difference between
/// a run of `MANY` requests and one of `FEW`, over the difference in
/// requests. Calls that do not scale with requests (start-up noise) are
/// left out. `send` is sendto or sendmsg (rustls writes vectored), `recv`
/// recvfrom or recvmsg.
fn per_request(url: &str, ca: Option<&Path>) -> BTreeMap<String, f64> {
    let few = count_syscalls(url, ca, FEW);
    let many = count_syscalls(url, ca, MANY);
    let mut per = BTreeMap::new();
    for (name, &n) in &many {
        let d = n as f64 - *few.get(name).unwrap_or(&0) as f64;
        let name = match name.as_str() {
            "sendto" | "sendmsg" => "send",
            "recvfrom" | "recvmsg" => "recv",
            other => other,
        };
        *per.entry(name.to_string()).or_insert(0.0) += d / f64::from(MANY - FEW);
    }
    per.into_iter()
        .map(|(name, v)| (name, (v * 100.0).round() / 100.0))
        .filter(|(_, v)| v.abs() >= 0.05)
        .collect()
}

/// Whether strace is installed and may trace here (a container can forbid
/// ptrace). Missing is a failure where it should have been installed (CI,
/// REQIVO_REQUIRE_STRACE); forbidden only where it was asked for.
fn strace_works() -> bool {
    let required = std::env::var_os("REQIVO_REQUIRE_STRACE").is_some();
    let probe = Command::new("strace")
        .args(["-o", "/dev/null", "true"])
        .output();
    match probe {
        Err(e) => {
            assert!(
                !required && std::env::var_os("CI").is_none(),
                "strace is required here but cannot run: {e}"
            );
            eprintln!("skipping: strace is not installed");
            false
        }
        Ok(out) if !out.status.success() => {
            let why = String::from_utf8_lossy(&out.stderr);
            assert!(!required, "strace is required here but cannot trace: {why}");
            eprintln!("skipping: strace cannot trace here: {why}");
            false
        }
        Ok(_) => true,
    }
}

/// Each system call's count in a run of `n` requests under strace.
fn count_syscalls(url: &str, ca: Option<&Path>, n: u32) -> BTreeMap<String, u64> {
    let tag = if ca.is_some() { "tls" } else { "plain" };
    let out = std::env::temp_dir().join(format!(
        "reqivo-strace-{}-{}-{}",
        std::process::id(),
        tag,
        n
    ));
    let mut strace = Command::new("strace");
    if let Some(ca) = ca {
        strace.env("REQIVO_STRACE_CA", ca);
    }
    let run = strace
        .args(["-f", "-c", "-o"])
        .arg(&out)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "requests_for_strace",
            "--ignored",
            "--test-threads=1",
            "-q",
        ])
        .env("REQIVO_STRACE_URL", url)
        .env("REQIVO_STRACE_REQUESTS", n.to_string())
        .output()
        .expect("run strace");
    assert!(
        run.status.success(),
        "the run under strace failed ({}):\n{}{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let table = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    parse_strace_summary(&table)
}

/// The calls column of `strace -c`: `% time seconds usecs/call calls
/// [errors] syscall` rows between the dashed lines.
fn parse_strace_summary(table: &str) -> BTreeMap<String, u64> {
    table
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let name = *cols.last()?;
            if cols.len() < 5 || name == "total" || name == "syscall" {
                return None;
            }
            Some((name.to_string(), cols[3].parse().ok()?))
        })
        .collect()
}

/// The measured side: a warm connection, then the requests. Run only by
/// the test above, through strace.
#[test]
#[ignore = "run under strace by the keep_alive_* tests"]
fn requests_for_strace() {
    let url = std::env::var("REQIVO_STRACE_URL").expect("REQIVO_STRACE_URL");
    let n: u32 = std::env::var("REQIVO_STRACE_REQUESTS")
        .expect("REQIVO_STRACE_REQUESTS")
        .parse()
        .unwrap();
    let pool = Pool::new(PoolConfig::default());
    let session = Session::new(pool.clone());
    if let Some(ca) = std::env::var_os("REQIVO_STRACE_CA") {
        let mut tls = TlsConfigBuilder::new();
        tls.use_system_roots(false);
        tls.add_root_pem(&std::fs::read(ca).unwrap()).unwrap();
        session.set_tls(Some(Arc::new(tls.build().unwrap())));
    }
    let req = Request::new("GET", &url).unwrap();
    for i in 0..n {
        let resp = session.send(&req, None).unwrap();
        assert_eq!(
            (resp.head.status, resp.body.len()),
            (200, 100),
            "request {i}"
        );
    }
    let stats = pool.stats();
    assert_eq!(
        (stats.opened, stats.reused),
        (1, u64::from(n) - 1),
        "{stats:?}"
    );
}

#[test]
fn strace_summary_is_parsed_with_and_without_errors() {
    let table = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 40.00    0.000040           0       600           sendto
 30.00    0.000030           0       601        12 recvfrom
------ ----------- ----------- --------- --------- ----------------
100.00    0.000100           0      1201        12 total
";
    let got = parse_strace_summary(table);
    assert_eq!(got.get("sendto"), Some(&600));
    assert_eq!(got.get("recvfrom"), Some(&601));
    assert_eq!(got.len(), 2, "{got:?}");
}
