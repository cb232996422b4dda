//! Which requests go through which proxy: the session's proxy settings,
//! the `NO_PROXY` list, and reading both from the environment when the
//! caller opts in. The connection side (dialling the proxy, CONNECT) is
//! `net::proxy`.
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use url::Url;

#[cfg(test)]
use super::chain::basic_credentials;
use super::chain::{userinfo_credentials, userinfo_login};
use super::error::{ClientError, ClientErrorKind};
use crate::net::{Proxy, ProxyKind};

/// A session's proxies: one for `http://` URLs, one for `https://` URLs
/// (tunnelled with CONNECT), and the hosts that bypass both.
#[derive(Debug, Clone, Default)]
pub struct ProxySettings {
    pub http: Option<Arc<Proxy>>,
    pub https: Option<Arc<Proxy>>,
    pub no_proxy: NoProxy,
}

impl ProxySettings {
    /// The proxy `url` goes through, if any.
    pub(crate) fn for_url(&self, url: &Url) -> Option<&Arc<Proxy>> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }?;
        let host = url.host_str()?;
        let port = url.port_or_known_default().unwrap_or(80);
        (!self.no_proxy.matches(host, port)).then_some(proxy)
    }

    /// Reads `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (each also in lower
    /// case; upper case wins, as in Go's net/http) through `var`. Like Go,
    /// `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set: in a CGI
    /// program it comes from a request's `Proxy:` header (httpoxy). As
    /// curl does, `all_proxy` (then `ALL_PROXY`: curl reads lower case
    /// first) serves each scheme whose own variable is unset; any proxy
    /// URL fits in each (`socks5h://` as well as `http://`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<ProxySettings, ClientError> {
        let any = |names: &[&'static str]| {
            names
                .iter()
                .find_map(|n| var(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v)))
        };
        let cgi = var("REQUEST_METHOD").is_some_and(|m| !m.is_empty());
        let http_names: &[&str] = if cgi {
            &["http_proxy"]
        } else {
            &["HTTP_PROXY", "http_proxy"]
        };
        let parse = |found: Option<(&str, String)>| -> Result<Option<Arc<Proxy>>, ClientError> {
            found
                .map(|(name, value)| {
                    parse_proxy_url(&value).map(Arc::new).map_err(|e| {
                        ClientError::new(ClientErrorKind::InvalidConfig, format!("{}: {}", name, e))
                    })
                })
                .transpose()
        };
        let all = || any(&["all_proxy", "ALL_PROXY"]);
        Ok(ProxySettings {
            http: parse(any(http_names).or_else(all))?,
            https: parse(any(&["HTTPS_PROXY", "https_proxy"]).or_else(all))?,
            no_proxy: NoProxy::parse(
                &any(&["NO_PROXY", "no_proxy"])
                    .map(|f| f.1)
                    .unwrap_or_default(),
            ),
        })
    }
}

/// The port of a SOCKS proxy whose URL names none (RFC 1928 §3).
const SOCKS_PORT: u16 = 1080;

/// Parses a proxy URL: `http://[user:password@]host[:port]`, the scheme
/// optional as curl and Go allow (`host:3128`); the port defaults to 80.
/// Credentials become `Proxy-Authorization: Basic` (percent-decoded).
/// `socks5://` (the client resolves the origin) and `socks5h://` (the
/// proxy does) take the port 1080 by default and the credentials as the
/// RFC 1929 user name and password. TLS to the proxy itself (`https://`)
/// and other schemes are refused with `UnsupportedScheme`.
pub fn parse_proxy_url(text: &str) -> Result<Proxy, ClientError> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{}", text)
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        ClientError::new(
            ClientErrorKind::InvalidUrl,
            format!("proxy URL {:?}: {}", text, e),
        )
    })?;
    let kind = match url.scheme() {
        "http" => ProxyKind::Http,
        "socks5" => ProxyKind::Socks5 { remote_dns: false },
        "socks5h" => ProxyKind::Socks5 { remote_dns: true },
        other => {
            return Err(ClientError::new(
                ClientErrorKind::UnsupportedScheme,
                format!(
                    "proxy URL {:?}: only http://, socks5:// and socks5h:// proxies are \
                     supported, not {}://",
                    text, other
                ),
            ))
        }
    };
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
        ClientError::new(
            ClientErrorKind::InvalidUrl,
            format!("proxy URL {:?} has no host", text),
        )
    })?;
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::new(
            ClientErrorKind::InvalidUrl,
            format!(
                "proxy URL {:?}: only scheme, credentials, host and port are allowed",
                text
            ),
        ));
    }
    let host = host.to_string();
    if kind == ProxyKind::Http {
        let port = url.port_or_known_default().unwrap_or(80);
        return Ok(Proxy::http(host, port, userinfo_credentials(&url)));
    }
    let socks_login = userinfo_login(&url);
    if let Some((user, pass)) = &socks_login {
        if user.len() > 255 || pass.len() > 255 {
            return Err(ClientError::new(
                ClientErrorKind::InvalidUrl,
                format!(
                    "proxy URL {:?}: a SOCKS5 user name or password is at most 255 bytes",
                    text
                ),
            ));
        }
    }
    Ok(Proxy {
        host,
        port: url.port().unwrap_or(SOCKS_PORT),
        authorization: None,
        kind,
        socks_login,
    })
}

/// Hosts that bypass the proxy, in the `NO_PROXY` form curl and Go share:
/// a comma- (or space-) separated list of host names (matching the name
/// and its subdomains, a leading `.` or `*.` allowed), IP addresses, CIDR
/// ranges, each optionally with `:port`; `*` alone matches every host.
#[derive(Debug, Clone, Default)]
pub struct NoProxy {
    all: bool,
    entries: Vec<NoProxyEntry>,
}

#[derive(Debug, Clone)]
struct NoProxyEntry {
    pattern: Pattern,
    port: Option<u16>,
}

#[derive(Debug, Clone)]
enum Pattern {
    Ip(IpAddr),
    Net(IpNet),
    /// Lower case, without the leading dot.
    Domain(String),
}

impl NoProxy {
    pub fn parse(list: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for item in list
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if item == "*" {
                out.all = true;
                continue;
            }
            let (host, port) = split_port(item);
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let pattern = if let Ok(ip) = bare.parse::<IpAddr>() {
                Pattern::Ip(ip)
            } else if let Ok(net) = bare.parse::<IpNet>() {
                Pattern::Net(net)
            } else {
                let name = host.trim_start_matches("*.").trim_start_matches('.');
                if name.is_empty() {
                    continue;
                }
                Pattern::Domain(name.trim_end_matches('.').to_ascii_lowercase())
            };
            out.entries.push(NoProxyEntry { pattern, port });
        }
        out
    }

    /// Whether `host` (as in a URL: IPv6 in brackets) at `port` bypasses
    /// the proxy.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip = bare.parse::<IpAddr>().ok();
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        self.entries.iter().any(|e| {
            e.port.is_none_or(|p| p == port)
                && match &e.pattern {
                    Pattern::Ip(want) => ip == Some(*want),
                    Pattern::Net(net) => ip.is_some_and(|ip| net.contains(&ip)),
                    Pattern::Domain(d) => {
                        ip.is_none()
                            && (name == *d
                                || (name.len() > d.len()
                                    && name.ends_with(d.as_str())
                                    && name.as_bytes()[name.len() - d.len() - 1] == b'.'))
                    }
                }
        })
    }
}

/// Splits `host:port`, `[v6]:port`; a bare IPv6 address has no port.
fn split_port(item: &str) -> (&str, Option<u16>) {
    if let Some(rest) = item.strip_prefix('[') {
        if let Some((addr, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (addr, port);
        }
    }
    match item.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (item, None),
        },
        _ => (item, None),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn no_proxy_matches_names_subdomains_ips_ranges_and_ports() {
        let n = NoProxy::parse(
            "example.com, .internal, *.corp.test,10.0.0.0/8 192.168.1.5 ::1,host.test:8080",
        );
        assert!(n.matches("example.com", 80));
        assert!(n.matches("api.example.com", 443));
        assert!(n.matches("EXAMPLE.COM.", 80));
        assert!(!n.matches("notexample.com", 80));
        assert!(n.matches("a.b.internal", 80));
        assert!(n.matches("internal", 80));
        assert!(n.matches("x.corp.test", 80));
        assert!(n.matches("10.1.2.3", 80));
        assert!(!n.matches("11.1.2.3", 80));
        assert!(n.matches("192.168.1.5", 80));
        assert!(!n.matches("192.168.1.6", 80));
        assert!(n.matches("[::1]", 80));
        assert!(n.matches("host.test", 8080));
        assert!(!n.matches("host.test", 80));
        assert!(!NoProxy::parse("").matches("example.com", 80));
        assert!(NoProxy::parse("*").matches("anything", 1));
        // An IP entry never matches a name and a name never matches an IP.
        assert!(!NoProxy::parse("127.0.0.1").matches("localhost", 80));
        assert!(!NoProxy::parse("localhost").matches("127.0.0.1", 80));
    }

    #[test]
    fn proxy_urls_parse_with_defaults_and_credentials() {
        let p = parse_proxy_url("http://u%40x:p%3Aw@127.0.0.1:3128").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 3128));
        assert_eq!(
            p.authorization.as_deref(),
            Some(&*basic_credentials("u@x", "p:w"))
        );
        let p = parse_proxy_url("proxy.test").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.authorization),
            ("proxy.test", 80, None)
        );
        let p = parse_proxy_url("[::1]:8080").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("[::1]", 8080));
        let e = parse_proxy_url("https://proxy.test").unwrap_err();
        assert_eq!(e.client_kind(), Some(ClientErrorKind::UnsupportedScheme));
        let e = parse_proxy_url("socks4://proxy.test:1080").unwrap_err();
        assert_eq!(e.client_kind(), Some(ClientErrorKind::UnsupportedScheme));
        let p = parse_proxy_url("socks5://u%40x:p%3Aw@127.0.0.1").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 1080));
        assert_eq!(p.kind, ProxyKind::Socks5 { remote_dns: false });
        assert_eq!(p.socks_login, Some(("u@x".into(), "p:w".into())));
        assert_eq!(p.authorization, None);
        let p = parse_proxy_url("socks5h://[::1]:9050").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("[::1]", 9050));
        assert_eq!(p.kind, ProxyKind::Socks5 { remote_dns: true });
        assert_eq!(p.socks_login, None);
        let long = format!("socks5://{}:p@h", "u".repeat(256));
        assert_eq!(
            parse_proxy_url(&long).unwrap_err().client_kind(),
            Some(ClientErrorKind::InvalidUrl)
        );
        for bad in [
            "http://",
            "http://proxy.test/path",
            "http://proxy.test/?q",
            "http://a b",
        ] {
            assert_eq!(
                parse_proxy_url(bad).unwrap_err().client_kind(),
                Some(ClientErrorKind::InvalidUrl),
                "{}",
                bad
            );
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn environment_is_read_upper_case_first_and_no_proxy_applies() {
        let s = ProxySettings::from_env(env(&[
            ("HTTP_PROXY", "http://upper:1"),
            ("http_proxy", "http://lower:2"),
            ("https_proxy", "tunnel:3"),
            ("no_proxy", "skip.test"),
        ]))
        .unwrap();
        assert_eq!(s.for_url(&url("http://a.test/")).unwrap().host, "upper");
        assert_eq!(s.for_url(&url("https://a.test/")).unwrap().host, "tunnel");
        assert!(s.for_url(&url("http://skip.test/")).is_none());
        assert!(s.for_url(&url("https://www.skip.test/")).is_none());
    }

    #[test]
    fn an_empty_request_method_is_not_cgi() {
        let s = ProxySettings::from_env(env(&[
            ("REQUEST_METHOD", ""),
            ("HTTP_PROXY", "http://proxy.test:1"),
        ]))
        .unwrap();
        assert!(s.for_url(&url("http://a.test/")).is_some());
    }

    #[test]
    fn cgi_programs_ignore_upper_case_http_proxy() {
        let s = ProxySettings::from_env(env(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://attacker:1"),
        ]))
        .unwrap();
        assert!(s.for_url(&url("http://a.test/")).is_none());
    }

    #[test]
    fn a_bad_environment_proxy_names_the_variable() {
        let e = ProxySettings::from_env(env(&[("HTTPS_PROXY", "socks4://x:1")])).unwrap_err();
        assert!(e.to_string().contains("HTTPS_PROXY"), "{}", e);
        let none = ProxySettings::from_env(env(&[])).unwrap();
        assert!(none.http.is_none() && none.https.is_none());
    }

    #[test]
    fn all_proxy_serves_the_schemes_without_their_own() {
        let s = ProxySettings::from_env(env(&[
            ("ALL_PROXY", "socks5h://upper:1"),
            ("all_proxy", "socks5://lower:2"),
            ("HTTPS_PROXY", "http://tls:3"),
        ]))
        .unwrap();
        let http = s.for_url(&url("http://a.test/")).unwrap();
        assert_eq!(
            (http.host.as_str(), http.kind),
            ("lower", ProxyKind::Socks5 { remote_dns: false })
        );
        assert_eq!(s.for_url(&url("https://a.test/")).unwrap().host, "tls");
        let s = ProxySettings::from_env(env(&[("ALL_PROXY", "socks5h://p")])).unwrap();
        assert_eq!(s.for_url(&url("https://a.test/")).unwrap().port, 1080);
    }
}
