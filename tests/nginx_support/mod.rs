//! A real nginx on 127.0.0.1 for tests: started in a fresh directory,
//! waited for, and stopped (directory removed) when dropped. Where nginx is
//! not installed the test is skipped with a message, unless
//! REQIVO_REQUIRE_NGINX or CI is set, where its absence fails.
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nginx {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Starts nginx in a new directory named after `name`: `prepare` writes
/// files into it (a `www` and a `tmp` folder exist already), `server`
/// returns the `server { ... }` block for that directory and a free port.
pub fn start(
    name: &str,
    prepare: impl FnOnce(&Path),
    server: impl FnOnce(&str, u16) -> String,
) -> Option<Nginx> {
    let Some(bin) = binary() else {
        let required =
            std::env::var_os("REQIVO_REQUIRE_NGINX").is_some() || std::env::var_os("CI").is_some();
        assert!(!required, "nginx is required here but not installed");
        eprintln!("skipping: nginx is not installed");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("reqivo-nginx-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    prepare(&dir);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display().to_string();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; keepalive_requests 100000; keepalive_timeout 60s;\n\
           client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n\
           uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
           {server} }}\n",
        server = server(&d, port)
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(bin)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx { child, dir, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen on {} within 10 s",
            port
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(nginx)
}
