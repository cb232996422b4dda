//! System calls per keep-alive request, counted by strace against a real
//! nginx: one `sendto` for the request, one `recvfrom` for a response that
//! fits the buffer, and one `ppoll`, the check that an idle connection is
//! still clean before it is reused (as curl does). Nothing else.
//!
//! The test runs itself again (the ignored `requests_for_strace`) under
//! `strace -f -c` twice, with two request counts, and divides the
//! difference in each call's count by the difference in requests, so
//! process start-up and exit cancel out. Skipped (with a message) where
//! strace or nginx is missing, unless CI (or REQIVO_REQUIRE_STRACE, and for
//! nginx REQIVO_REQUIRE_NGINX) is set, where that fails; also skipped where
//! ptrace is not allowed, unless REQIVO_REQUIRE_STRACE is set.
mod nginx_support;

use std::collections::BTreeMap;
use std::process::Command;

use reqivo::client::{Request, Session};
use reqivo::net::{Pool, PoolConfig};

const FEW: u32 = 100;
const MANY: u32 = 600;

#[test]
fn keep_alive_get_is_one_send_one_recv_and_one_stale_check() {
    if !strace_works() {
        return;
    }
    let body = b"x".repeat(100);
    let Some(nginx) = nginx_support::start(
        "syscalls",
        |dir| std::fs::write(dir.join("www").join("small"), &body).unwrap(),
        |d, port| format!("server {{ listen 127.0.0.1:{port}; root {d}/www; }}"),
    ) else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/small", nginx.port);
    let few = count_syscalls(&url, FEW);
    let many = count_syscalls(&url, MANY);
    let per_request: BTreeMap<&str, f64> = many
        .iter()
        .map(|(name, &n)| {
            let d = n as f64 - *few.get(name).unwrap_or(&0) as f64;
            (name.as_str(), d / f64::from(MANY - FEW))
        })
        // Calls that scale with requests; the rest is start-up noise.
        .filter(|(_, per)| per.abs() >= 0.05)
        .collect();
    let expected: BTreeMap<&str, f64> = [("ppoll", 1.0), ("recvfrom", 1.0), ("sendto", 1.0)].into();
    assert_eq!(per_request, expected, "system calls per keep-alive GET");
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
fn count_syscalls(url: &str, n: u32) -> BTreeMap<String, u64> {
    let out = std::env::temp_dir().join(format!("reqivo-strace-{}-{}", std::process::id(), n));
    let run = Command::new("strace")
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
#[ignore = "run under strace by keep_alive_get_is_one_send_one_recv_and_one_stale_check"]
fn requests_for_strace() {
    let url = std::env::var("REQIVO_STRACE_URL").expect("REQIVO_STRACE_URL");
    let n: u32 = std::env::var("REQIVO_STRACE_REQUESTS")
        .expect("REQIVO_STRACE_REQUESTS")
        .parse()
        .unwrap();
    let pool = Pool::new(PoolConfig::default());
    let session = Session::new(pool.clone());
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
