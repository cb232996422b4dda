//! The SOCKS5 exchange (RFC 1928, username/password from RFC 1929) that
//! turns a connection to a SOCKS proxy into a tunnel to the origin, apart
//! from how its bytes move: `net::TunnelAsk` writes what `Socks5` asks to
//! send and hands it what the proxy answered.
use std::net::IpAddr;

/// Where the proxy is asked to connect.
#[derive(Debug, Clone)]
pub(crate) enum Dest {
    /// `socks5h`: the proxy resolves the name (ATYP 3).
    Name(String),
    /// `socks5`: the client resolved the name (ATYP 1 or 4).
    Addr(IpAddr),
    /// `socks5` before the client's resolution answered.
    Unresolved(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the proxy's choice of method.
    Method,
    /// Waiting for the answer to the username and password.
    Auth,
    /// Authenticated; the request goes out once the address is known.
    Ready,
    /// Waiting for the answer to CONNECT.
    Reply,
    Done,
}

pub(crate) struct Socks5 {
    state: State,
    login: Option<(String, String)>,
    dest: Dest,
    port: u16,
}

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;

impl Socks5 {
    /// The exchange and its greeting, which offers username/password
    /// only when there is a login.
    pub(crate) fn new(
        login: Option<(String, String)>,
        dest: Dest,
        port: u16,
    ) -> Result<(Socks5, Vec<u8>), String> {
        if let Some((user, pass)) = &login {
            if user.len() > 255 || pass.len() > 255 {
                return Err("a SOCKS5 user name or password is longer than 255 bytes".into());
            }
        }
        if let Dest::Name(n) | Dest::Unresolved(n) = &dest {
            if n.is_empty() || n.len() > 255 {
                return Err(format!(
                    "host name {:?} cannot be sent to a SOCKS5 proxy",
                    n
                ));
            }
        }
        let greeting = match login {
            Some(_) => vec![VERSION, 2, NO_AUTH, USER_PASS],
            None => vec![VERSION, 1, NO_AUTH],
        };
        let socks = Socks5 {
            state: State::Method,
            login,
            dest,
            port,
        };
        Ok((socks, greeting))
    }

    /// The name the client still has to resolve (`socks5`), if any.
    pub(crate) fn unresolved(&self) -> Option<&str> {
        match &self.dest {
            Dest::Unresolved(n) => Some(n),
            _ => None,
        }
    }

    /// The client's resolution answered; the CONNECT request goes out
    /// (into `out`) now if the proxy is ready for it.
    pub(crate) fn set_address(&mut self, ip: IpAddr, out: &mut Vec<u8>) {
        self.dest = Dest::Addr(ip);
        if self.state == State::Ready {
            self.request(out);
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads the proxy's answers from `input`, appending to `out` what to
    /// send next. Returns how many bytes were used; `Err` says why the
    /// proxy did not open the tunnel.
    pub(crate) fn read(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, String> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            let n = match self.state {
                State::Method => {
                    let [version, method, ..] = *rest else {
                        return Ok(used);
                    };
                    if version != VERSION {
                        return Err(format!(
                            "not a SOCKS5 proxy (it answered version {})",
                            version
                        ));
                    }
                    match (method, &self.login) {
                        (NO_AUTH, _) => self.authenticated(out),
                        (USER_PASS, Some((user, pass))) => {
                            out.push(1);
                            out.push(user.len() as u8);
                            out.extend_from_slice(user.as_bytes());
                            out.push(pass.len() as u8);
                            out.extend_from_slice(pass.as_bytes());
                            self.state = State::Auth;
                        }
                        (NO_ACCEPTABLE, None) => {
                            return Err("it requires authentication and no credentials \
                                 were given (no acceptable method)"
                                .into())
                        }
                        (NO_ACCEPTABLE, Some(_)) => {
                            return Err("it accepts neither no authentication nor \
                                 username/password (no acceptable method)"
                                .into())
                        }
                        (m, _) => {
                            return Err(format!("it chose a method that was not offered ({})", m))
                        }
                    }
                    2
                }
                State::Auth => {
                    let [_, status, ..] = *rest else {
                        return Ok(used);
                    };
                    if status != 0 {
                        return Err(format!(
                            "authentication failed: it rejected the username and password ({})",
                            status
                        ));
                    }
                    self.authenticated(out);
                    2
                }
                State::Ready | State::Done => return Ok(used),
                State::Reply => {
                    let Some(n) = reply_len(rest)? else {
                        return Ok(used);
                    };
                    if rest[1] != 0 {
                        return Err(format!("{} ({})", reply_text(rest[1]), rest[1]));
                    }
                    self.state = State::Done;
                    n
                }
            };
            used += n;
        }
    }

    fn authenticated(&mut self, out: &mut Vec<u8>) {
        self.state = State::Ready;
        if self.unresolved().is_none() {
            self.request(out);
        }
    }

    /// CONNECT to the destination (RFC 1928 §4).
    fn request(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, 1, 0]);
        match &self.dest {
            Dest::Addr(IpAddr::V4(a)) => {
                out.push(1);
                out.extend_from_slice(&a.octets());
            }
            Dest::Addr(IpAddr::V6(a)) => {
                out.push(4);
                out.extend_from_slice(&a.octets());
            }
            Dest::Name(n) | Dest::Unresolved(n) => {
                out.push(3);
                out.push(n.len() as u8);
                out.extend_from_slice(n.as_bytes());
            }
        }
        out.extend_from_slice(&self.port.to_be_bytes());
        self.state = State::Reply;
    }
}

/// The length of the reply at the start of `b` once it is all there
/// (RFC 1928 §6: VER REP RSV ATYP BND.ADDR BND.PORT).
fn reply_len(b: &[u8]) -> Result<Option<usize>, String> {
    let Some(&version) = b.first() else {
        return Ok(None);
    };
    if version != VERSION {
        return Err(format!(
            "not a SOCKS5 reply (version {} instead of 5)",
            version
        ));
    }
    if b.len() < 5 {
        return Ok(None);
    }
    let addr = match b[3] {
        1 => 4,
        4 => 16,
        3 => 1 + b[4] as usize,
        // A refusal may carry any address type; its code is all we read.
        _ if b[1] != 0 => return Ok(Some(b.len())),
        t => return Err(format!("a reply with an unknown address type ({})", t)),
    };
    let n = 4 + addr + 2;
    Ok((b.len() >= n).then_some(n))
}

/// RFC 1928 §6's reply codes.
fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused by destination",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned reply code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> Option<(String, String)> {
        Some(("u".into(), "pw".into()))
    }

    #[test]
    fn a_name_goes_out_as_atyp_3_after_username_and_password() {
        let (mut s, greeting) = Socks5::new(login(), Dest::Name("a.test".into()), 80).unwrap();
        assert_eq!(greeting, [5, 2, 0, 2]);
        let mut out = Vec::new();
        assert_eq!(s.read(&[5, 2], &mut out), Ok(2));
        assert_eq!(out, [1, 1, b'u', 2, b'p', b'w']);
        out.clear();
        assert_eq!(s.read(&[1, 0], &mut out), Ok(2));
        assert_eq!(
            out,
            [5, 1, 0, 3, 6, b'a', b'.', b't', b'e', b's', b't', 0, 80]
        );
        let reply = [5, 0, 0, 1, 127, 0, 0, 1, 4, 56];
        out.clear();
        assert_eq!(s.read(&reply[..7], &mut out), Ok(0));
        assert_eq!(s.read(&reply, &mut out), Ok(10));
        assert!(s.is_done() && out.is_empty());
    }

    #[test]
    fn an_address_is_sent_once_resolved() {
        let (mut s, greeting) = Socks5::new(None, Dest::Unresolved("a.test".into()), 443).unwrap();
        assert_eq!(greeting, [5, 1, 0]);
        let mut out = Vec::new();
        assert_eq!(s.read(&[5, 0], &mut out), Ok(2));
        assert!(out.is_empty() && s.unresolved() == Some("a.test"));
        s.set_address("::1".parse().unwrap(), &mut out);
        assert_eq!(out.len(), 4 + 16 + 2);
        assert_eq!((out[3], out[19], out[20], out[21]), (4, 1, 1, 187));
    }

    #[test]
    fn refusals_are_named() {
        let mut out = Vec::new();
        let (mut s, _) = Socks5::new(None, Dest::Addr([127, 0, 0, 1].into()), 1).unwrap();
        let e = s.read(&[5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0], &mut out);
        assert_eq!(e, Err("connection refused by destination (5)".into()));
        let (mut s, _) = Socks5::new(login(), Dest::Name("x".into()), 1).unwrap();
        assert!(s
            .read(&[5, 2, 1, 1], &mut out)
            .unwrap_err()
            .contains("rejected"));
        let (mut s, _) = Socks5::new(None, Dest::Name("x".into()), 1).unwrap();
        assert!(s
            .read(&[5, 0xff], &mut out)
            .unwrap_err()
            .contains("no acceptable"));
        let (mut s, _) = Socks5::new(None, Dest::Name("x".into()), 1).unwrap();
        assert!(s
            .read(b"HTTP/1.1 400", &mut out)
            .unwrap_err()
            .contains("not a SOCKS5"));
        let (mut s, _) = Socks5::new(None, Dest::Name("x".into()), 1).unwrap();
        assert!(s
            .read(&[5, 2], &mut out)
            .unwrap_err()
            .contains("not offered"));
        assert!(Socks5::new(None, Dest::Name("x".repeat(256)), 1).is_err());
    }
}
