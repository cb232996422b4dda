//! Where connections are dialled when the caller says otherwise than DNS:
//! address overrides in curl's `--resolve` syntax, host-and-port overrides
//! in its `--connect-to` syntax, and a Unix domain socket for every
//! request. The URL, `Host`, SNI and certificate checks keep the name the
//! caller addressed; only the socket goes elsewhere. A malformed entry is
//! refused with a message saying why.
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Where one host:port is dialled. Part of the pool key: a connection
/// opened to an override never serves a request that would have gone
/// elsewhere, even when sessions share the pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dial {
    /// These addresses, in the order given, without resolving the name.
    Addrs(Vec<SocketAddr>),
    /// Another host and port, resolved as usual.
    Host(String, u16),
    /// A Unix domain socket path; a leading NUL names Linux's abstract
    /// namespace.
    Unix(Vec<u8>),
}

/// One place a connection attempt goes: an IP address or a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Ip(SocketAddr),
    Unix(Vec<u8>),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Ip(a) => a.fmt(f),
            Endpoint::Unix(path) => match path.split_first() {
                Some((0, name)) => write!(f, "unix:@{}", String::from_utf8_lossy(name)),
                _ => write!(f, "unix:{}", String::from_utf8_lossy(path)),
            },
        }
    }
}

/// A session's dialling overrides.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Every request over this socket; the other overrides and proxies are
    /// then not used.
    unix: Option<Arc<Dial>>,
    /// `--resolve` entries: (host, port) → `Dial::Addrs`.
    resolve: Vec<(String, u16, Arc<Dial>)>,
    /// `--connect-to` entries, first match wins; `None` matches any.
    connect_to: Vec<ConnectTo>,
}

#[derive(Debug, Clone)]
struct ConnectTo {
    from_host: Option<String>,
    from_port: Option<u16>,
    to_host: Option<String>,
    to_port: Option<u16>,
}

impl Targets {
    /// Where to dial `host:port`, when not where DNS says. Names compare
    /// without regard to ASCII case.
    pub fn dial_for(&self, host: &str, port: u16) -> Option<Arc<Dial>> {
        if let Some(unix) = &self.unix {
            return Some(unix.clone());
        }
        let (mut to_host, mut to_port) = (host, port);
        if let Some(c) = self.connect_to.iter().find(|c| {
            c.from_host
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(host))
                && c.from_port.is_none_or(|p| p == port)
        }) {
            to_host = c.to_host.as_deref().unwrap_or(host);
            to_port = c.to_port.unwrap_or(port);
        }
        if let Some((_, _, dial)) = self
            .resolve
            .iter()
            .find(|(h, p, _)| *p == to_port && h.eq_ignore_ascii_case(to_host))
        {
            return Some(dial.clone());
        }
        (to_port != port || !to_host.eq_ignore_ascii_case(host))
            .then(|| Arc::new(Dial::Host(to_host.to_string(), to_port)))
    }

    /// Whether every request goes over a Unix socket.
    pub fn is_unix(&self) -> bool {
        self.unix.is_some()
    }

    /// Sends every request over the Unix socket at `path` (`None`: back to
    /// TCP).
    pub fn set_unix(&mut self, path: Option<&[u8]>) -> Result<(), String> {
        self.unix = match path {
            None => None,
            Some(p) => Some(Arc::new(Dial::Unix(check_unix_path(p)?.to_vec()))),
        };
        Ok(())
    }

    /// Adds (or with a leading `-`, removes) an entry in curl's `--resolve`
    /// syntax: `[+]host:port:addr[,addr]...`, IPv6 addresses with or
    /// without brackets. A later entry for the same host and port replaces
    /// the earlier one.
    pub fn add_resolve(&mut self, entry: &str) -> Result<(), String> {
        let bad = |why: &str| format!("resolve entry {:?}: {}", entry, why);
        if let Some(rest) = entry.strip_prefix('-') {
            let [host, port] = split_fields::<2>(rest).ok_or_else(|| bad("want -host:port"))?;
            let port = parse_port(port).ok_or_else(|| bad("bad port"))?;
            self.resolve
                .retain(|(h, p, _)| !(*p == port && h.eq_ignore_ascii_case(host)));
            return Ok(());
        }
        // '+' marks a transient entry in curl; entries here live as long
        // as the session anyway.
        let entry_body = entry.strip_prefix('+').unwrap_or(entry);
        let (head, addrs) = split_two(entry_body).ok_or_else(|| bad("want host:port:addr"))?;
        let host = unbracket(head.0);
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port = parse_port(head.1).ok_or_else(|| bad("bad port"))?;
        let mut list = Vec::new();
        for a in addrs.split(',').map(str::trim) {
            let ip: IpAddr = unbracket(a)
                .parse()
                .map_err(|_| bad(&format!("{:?} is not an IP address", a)))?;
            list.push(SocketAddr::new(ip, port));
        }
        self.resolve
            .retain(|(h, p, _)| !(*p == port && h.eq_ignore_ascii_case(host)));
        self.resolve
            .push((host.to_string(), port, Arc::new(Dial::Addrs(list))));
        Ok(())
    }

    /// Adds an entry in curl's `--connect-to` syntax:
    /// `HOST1:PORT1:HOST2:PORT2`, where an empty HOST1 or PORT1 matches
    /// any, and an empty HOST2 or PORT2 keeps the request's own.
    pub fn add_connect_to(&mut self, entry: &str) -> Result<(), String> {
        let bad = |why: &str| format!("connect-to entry {:?}: {}", entry, why);
        let [h1, p1, h2, p2] =
            split_fields::<4>(entry).ok_or_else(|| bad("want HOST1:PORT1:HOST2:PORT2"))?;
        let port = |p: &str| -> Result<Option<u16>, String> {
            if p.is_empty() {
                return Ok(None);
            }
            parse_port(p).map(Some).ok_or_else(|| bad("bad port"))
        };
        let host = |h: &str| Some(unbracket(h).to_string()).filter(|h| !h.is_empty());
        self.connect_to.push(ConnectTo {
            from_host: host(h1),
            from_port: port(p1)?,
            to_host: host(h2),
            to_port: port(p2)?,
        });
        Ok(())
    }

    /// Forgets every override (the Unix socket stays).
    pub fn clear_overrides(&mut self) {
        self.resolve.clear();
        self.connect_to.clear();
    }
}

/// A Unix socket path the kernel takes: not empty, no NUL after the first
/// byte, and within `sun_path`.
fn check_unix_path(path: &[u8]) -> Result<&[u8], String> {
    // sun_path is 108 bytes on Linux, 104 on the BSDs and macOS; a path
    // keeps one for its NUL, an abstract name does not need it.
    const SUN_PATH: usize = if cfg!(target_os = "linux") { 108 } else { 104 };
    let abstract_name = path.first() == Some(&0);
    if path.is_empty() {
        return Err("the Unix socket path is empty".to_string());
    }
    if path[1..].contains(&0) {
        return Err("the Unix socket path holds a NUL byte".to_string());
    }
    if abstract_name && !cfg!(target_os = "linux") {
        return Err("abstract Unix socket names exist on Linux only".to_string());
    }
    let room = if abstract_name {
        SUN_PATH
    } else {
        SUN_PATH - 1
    };
    if path.len() > room {
        return Err(format!(
            "the Unix socket path is {} bytes; at most {} fit",
            path.len(),
            room
        ));
    }
    Ok(path)
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn unbracket(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
}

/// Splits at the colons outside brackets into exactly `N` fields.
fn split_fields<const N: usize>(s: &str) -> Option<[&str; N]> {
    let mut out = [""; N];
    let mut n = 0;
    let mut start = 0;
    let mut depth = 0u32;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => depth = depth.checked_sub(1)?,
            b':' if depth == 0 => {
                *out.get_mut(n)? = &s[start..i];
                n += 1;
                start = i + 1;
            }
            _ => {}
        }
    }
    *out.get_mut(n)? = &s[start..];
    (n + 1 == N && depth == 0).then_some(out)
}

/// `host:port:rest`, where `rest` may hold colons of its own (unbracketed
/// IPv6 addresses).
fn split_two(s: &str) -> Option<((&str, &str), &str)> {
    let host_end = if s.starts_with('[') {
        s.find(']')? + 1
    } else {
        s.find(':')?
    };
    let rest = s[host_end..].strip_prefix(':')?;
    let (port, addrs) = rest.split_once(':')?;
    Some(((&s[..host_end], port), addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(d: &Dial) -> Vec<String> {
        match d {
            Dial::Addrs(a) => a.iter().map(|a| a.to_string()).collect(),
            other => panic!("not addresses: {:?}", other),
        }
    }

    #[test]
    fn resolve_entries_in_curls_syntax() {
        let mut t = Targets::default();
        t.add_resolve("example.com:443:127.0.0.1,[::1],::2")
            .unwrap();
        let d = t.dial_for("EXAMPLE.com", 443).unwrap();
        assert_eq!(addrs(&d), ["127.0.0.1:443", "[::1]:443", "[::2]:443"]);
        assert!(t.dial_for("example.com", 80).is_none());
        t.add_resolve("+example.com:443:127.0.0.2").unwrap();
        assert_eq!(
            addrs(&t.dial_for("example.com", 443).unwrap()),
            ["127.0.0.2:443"]
        );
        t.add_resolve("-example.com:443").unwrap();
        assert!(t.dial_for("example.com", 443).is_none());
        for bad in [
            "example.com:443",
            "example.com:x:127.0.0.1",
            ":443:127.0.0.1",
            "example.com:443:not-an-ip",
            "example.com:70000:127.0.0.1",
            "-example.com",
        ] {
            let e = t.add_resolve(bad).unwrap_err();
            assert!(e.contains("resolve entry"), "{}: {}", bad, e);
        }
    }

    #[test]
    fn connect_to_then_resolve_as_curl_applies_them() {
        let mut t = Targets::default();
        t.add_connect_to("example.com:443:backend:8443").unwrap();
        t.add_connect_to("::other:").unwrap();
        assert_eq!(
            *t.dial_for("example.com", 443).unwrap(),
            Dial::Host("backend".into(), 8443)
        );
        assert_eq!(
            *t.dial_for("x", 80).unwrap(),
            Dial::Host("other".into(), 80)
        );
        t.add_resolve("backend:8443:10.0.0.1").unwrap();
        assert_eq!(
            addrs(&t.dial_for("example.com", 443).unwrap()),
            ["10.0.0.1:8443"]
        );
        let mut none = Targets::default();
        none.add_connect_to("a::a:").unwrap();
        assert!(
            none.dial_for("a", 80).is_none(),
            "same host and port: no override"
        );
        assert!(none.add_connect_to("a:1:b").is_err());
        assert!(none.add_connect_to("[::1:1:b:2").is_err());
    }

    #[test]
    fn unix_socket_wins_and_paths_are_checked() {
        let mut t = Targets::default();
        t.add_resolve("h:80:127.0.0.1").unwrap();
        t.set_unix(Some(b"/run/x.sock")).unwrap();
        assert_eq!(
            *t.dial_for("h", 80).unwrap(),
            Dial::Unix(b"/run/x.sock".to_vec())
        );
        assert!(t.set_unix(Some(b"")).is_err());
        assert!(t.set_unix(Some(b"/a\0b")).is_err());
        assert!(t.set_unix(Some(&[b'a'; 200])).is_err());
        t.set_unix(None).unwrap();
        assert!(!t.is_unix());
        let name = Endpoint::Unix(b"\0reqivo".to_vec());
        assert_eq!(name.to_string(), "unix:@reqivo");
    }
}
