//! A real WebSocket server (the `websockets` package from PyPI, see
//! server.py) on 127.0.0.1, started per test and stopped when dropped.
//! Where the package is missing the test is skipped with a message, unless
//! REQIVO_REQUIRE_WEBSOCKETS or CI is set, where its absence fails.
#![allow(dead_code)]
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct WsServer {
    child: Child,
    pub port: u16,
}

impl Drop for WsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WsServer {
    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, path)
    }

    pub fn wss_url(&self, path: &str) -> String {
        format!("wss://127.0.0.1:{}{}", self.port, path)
    }
}

pub fn start() -> Option<WsServer> {
    start_with(&[])
}

/// Accepts permessage-deflate.
pub fn start_deflate() -> Option<WsServer> {
    start_with(&["--deflate"])
}

/// Serves wss:// with the PEM chain and key at these paths.
pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Option<WsServer> {
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    start_with(&["--tls", &c, &k])
}

pub fn start_with(args: &[&str]) -> Option<WsServer> {
    let have = Command::new("python3")
        .args(["-c", "import websockets.asyncio.server"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        let required = std::env::var_os("REQIVO_REQUIRE_WEBSOCKETS").is_some()
            || std::env::var_os("CI").is_some();
        assert!(
            !required,
            "python3 -m pip install websockets: required here"
        );
        eprintln!("skipping: the websockets Python package is not installed");
        return None;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws_support/server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the websockets server printed its port within 20 s");
    let port = line.trim().parse().expect("a port number");
    Some(WsServer { child, port })
}
