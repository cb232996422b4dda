//! The session's cookie jar (RFC 6265), kept by the cookie_store crate:
//! domain and host-only matching, paths, Secure, HttpOnly, Expires and
//! Max-Age. Each session has its own jar; nothing is shared between
//! sessions. Cookies for a public suffix (`Domain=co.uk`) are refused with
//! the public suffix list (RFC 6265 §5.3 step 5).
//!
//! What browsers hold a jar to, it holds to as well, for received and
//! loaded cookies alike: a cookie's name and value at most 4096 bytes, at
//! most 180 cookies per site (registrable domain, so sibling hosts share
//! one count) and 3000 in all, the oldest evicted first (RFC 6265 §6.1
//! asks for at least 4096 bytes, 50 per domain, 3000 in all); and the
//! `__Secure-` and `__Host-` name prefixes (RFC 6265bis §4.1.3), matched
//! case-insensitively as browsers do.
use std::collections::HashMap;
use std::io::BufReader;
use std::sync::{Arc, Mutex, OnceLock};

use cookie_store::{Cookie, CookieStore, RawCookie};
use publicsuffix::{List, Psl};
use url::Url;

use super::error::{ClientError, ClientErrorKind};
use crate::proto::ResponseHead;

/// Where Debian's `publicsuffix` package keeps the list (libpsl and curl
/// read the same file).
pub const SYSTEM_SUFFIX_LIST: &str = "/usr/share/publicsuffix/public_suffix_list.dat";

/// The system's public suffix list, parsed on first use; `None` when the
/// file is missing or unreadable.
fn system_suffixes() -> Option<Arc<List>> {
    static LIST: OnceLock<Option<Arc<List>>> = OnceLock::new();
    LIST.get_or_init(|| {
        let bytes = std::fs::read(SYSTEM_SUFFIX_LIST).ok()?;
        List::from_bytes(&bytes).ok().map(Arc::new)
    })
    .clone()
}

/// How much a jar holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieLimits {
    /// Longest name plus value of one cookie.
    pub max_cookie_bytes: usize,
    /// Most cookies for one site (registrable domain).
    pub max_per_site: usize,
    /// Most cookies in the jar.
    pub max_cookies: usize,
}

impl Default for CookieLimits {
    fn default() -> Self {
        CookieLimits {
            max_cookie_bytes: 4096,
            max_per_site: 180,
            max_cookies: 3000,
        }
    }
}

/// A cookie's identity in the store: domain, path, name.
type Key = (String, String, String);

fn key_of(c: &Cookie<'_>) -> Key {
    (
        String::from(&c.domain),
        String::from(&c.path),
        c.name().to_string(),
    )
}

/// The store, and when each of its cookies was last set (a counter), for
/// evicting the oldest.
#[derive(Default)]
struct Held {
    store: CookieStore,
    set_at: HashMap<Key, u64>,
    clock: u64,
}

#[derive(Default)]
pub struct Jar {
    held: Mutex<Held>,
    /// A list the caller gave; `None` uses the system's.
    suffixes: Mutex<Option<Arc<List>>>,
    limits: Mutex<CookieLimits>,
}

impl Jar {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn limits(&self) -> CookieLimits {
        *self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the jar's limits; a jar already over them is trimmed now.
    pub fn set_limits(&self, limits: CookieLimits) -> Result<(), ClientError> {
        if limits.max_cookie_bytes == 0 || limits.max_per_site == 0 || limits.max_cookies == 0 {
            return Err(ClientError::new(
                ClientErrorKind::InvalidConfig,
                "cookie limits must each be at least 1 (turn the jar off instead)",
            ));
        }
        *self.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
        let suffixes = self.suffix_list();
        let mut held = self.lock();
        let keys: Vec<Key> = held.store.iter_any().map(key_of).collect();
        for k in keys {
            let too_big = held
                .store
                .get_any(&k.0, &k.1, &k.2)
                .is_some_and(|c| c.name().len() + c.value().len() > limits.max_cookie_bytes);
            if too_big {
                held.store.remove(&k.0, &k.1, &k.2);
            }
        }
        held.trim(&limits, suffixes.as_deref(), None);
        Ok(())
    }

    /// The Cookie header value for a request to `url`, if any cookie matches.
    pub(crate) fn header_for(&self, url: &Url) -> Option<String> {
        let held = self.lock();
        let pairs: Vec<String> = held
            .store
            .get_request_values(url)
            .map(|(n, v)| format!("{}={}", n, v))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Takes the Set-Cookie fields of a response to `url`. Invalid ones, or
    /// ones the rules refuse (a Domain the host does not belong to, Secure
    /// over http, a broken name prefix, too large), are ignored, as RFC
    /// 6265 §5.3 says; past the site or jar limit the oldest go.
    pub(crate) fn store_from(&self, head: &ResponseHead, url: &Url) {
        let mut values = head.values("set-cookie").peekable();
        if values.peek().is_none() {
            return;
        }
        let suffixes = self.suffix_list();
        let limits = self.limits();
        let mut held = self.lock();
        for raw in values {
            let Some(mut cookie) = std::str::from_utf8(raw)
                .ok()
                .and_then(|t| RawCookie::parse(t).ok())
            else {
                continue;
            };
            if let Some(domain) = cookie.domain() {
                let host = url.host_str().unwrap_or_default();
                let domain = domain.trim_end_matches('.');
                if is_public_suffix(suffixes.as_deref(), domain) {
                    // Step 5: a public suffix is only good as the host itself.
                    if !domain.eq_ignore_ascii_case(host) {
                        continue;
                    }
                    cookie.unset_domain();
                }
            }
            if cookie.name().len() + cookie.value().len() > limits.max_cookie_bytes
                || !prefix_rules_hold(&cookie)
            {
                continue;
            }
            let Ok(stored) = Cookie::try_from_raw_cookie(&cookie, url) else {
                continue;
            };
            let key = key_of(&stored);
            if held.store.insert(stored.into_owned(), url).is_ok() {
                held.clock += 1;
                let now = held.clock;
                held.set_at.insert(key.clone(), now);
                held.trim(&limits, suffixes.as_deref(), Some(&key));
            }
        }
    }

    /// Uses `text` (the public suffix list format) instead of the system's
    /// list; empty text goes back to the system's.
    pub fn set_suffix_list(&self, text: &str) -> Result<(), ClientError> {
        let list = if text.trim().is_empty() {
            None
        } else {
            // The format only counts rules inside its sections; a list
            // without them parses to nothing (or fails), and either way
            // the caller needs to hear why.
            let no_rules = |detail: &str| {
                ClientError::new(
                    ClientErrorKind::InvalidConfig,
                    format!(
                        "public suffix list has no usable rules ({}): rules must be inside a \
                         \"// ===BEGIN ICANN DOMAINS===\" or \"// ===BEGIN PRIVATE DOMAINS===\" \
                         section, as in https://publicsuffix.org/list/public_suffix_list.dat",
                        detail
                    ),
                )
            };
            let list = List::from_bytes(text.as_bytes()).map_err(|e| no_rules(&e.to_string()))?;
            if list.is_empty() {
                return Err(no_rules("none found"));
            }
            Some(Arc::new(list))
        };
        *self.suffixes.lock().unwrap_or_else(|p| p.into_inner()) = list;
        Ok(())
    }

    fn suffix_list(&self) -> Option<Arc<List>> {
        let own = self.suffixes.lock().unwrap_or_else(|p| p.into_inner());
        own.clone().or_else(system_suffixes)
    }

    pub fn clear(&self) {
        let mut held = self.lock();
        held.store.clear();
        held.set_at.clear();
    }

    /// The persistent, unexpired cookies as JSON text (session cookies, which
    /// end with the program, are not saved).
    pub fn save(&self) -> Result<String, ClientError> {
        let mut out = Vec::new();
        #[allow(deprecated)]
        self.lock().store.save_json(&mut out).map_err(|e| {
            ClientError::new(
                ClientErrorKind::InvalidArgument,
                format!("saving cookies failed: {}", e),
            )
        })?;
        Ok(String::from_utf8(out).unwrap_or_default())
    }

    /// Replaces the jar with cookies saved by `save`; expired ones, and
    /// ones the limits or the prefix rules refuse, are dropped (past the
    /// site or jar limit, those expiring soonest go first).
    pub fn load(&self, text: &str) -> Result<(), ClientError> {
        #[allow(deprecated)]
        let loaded = CookieStore::load_json(BufReader::new(text.as_bytes())).map_err(|e| {
            ClientError::new(
                ClientErrorKind::InvalidArgument,
                format!("cookie jar text is not valid: {}", e),
            )
        })?;
        let limits = self.limits();
        let suffixes = self.suffix_list();
        let mut kept: Vec<Cookie<'static>> = loaded
            .iter_unexpired()
            .filter(|c| {
                c.name().len() + c.value().len() <= limits.max_cookie_bytes && prefix_rules_hold(c)
            })
            .cloned()
            .collect();
        // The longest-lived are the newest as far as a saved jar tells.
        kept.sort_by_key(|c| match c.expires {
            cookie_store::CookieExpiration::AtUtc(t) => Some(t),
            cookie_store::CookieExpiration::SessionEnd => None,
        });
        let mut held = Held::default();
        for c in &kept {
            held.clock += 1;
            let now = held.clock;
            held.set_at.insert(key_of(c), now);
        }
        held.store = CookieStore::from_cookies(kept.into_iter().map(Ok::<_, ()>), false)
            .expect("the cookies come from a store");
        held.trim(&limits, suffixes.as_deref(), None);
        *self.lock() = held;
        Ok(())
    }

    /// Names of the cookies that would be sent to `url` (for tests and logs).
    pub fn names_for(&self, url: &Url) -> Vec<String> {
        self.lock()
            .store
            .get_request_values(url)
            .map(|(n, _)| n.to_string())
            .collect()
    }
}

impl Held {
    /// Evicts the oldest cookies of any site over its limit, then the
    /// oldest in the jar while it is over its own. `just_set` (the cookie
    /// that caused this) names the site to look at; `None` checks all.
    fn trim(&mut self, limits: &CookieLimits, suffixes: Option<&List>, just_set: Option<&Key>) {
        // Nothing can be over a limit while the jar holds no more than the
        // smaller one: skip the keys, the sites and the sorting (the usual
        // case, on every response that sets a cookie).
        let held = self.store.iter_unexpired().count();
        if held > limits.max_per_site.min(limits.max_cookies) {
            self.evict_over(limits, suffixes, just_set);
        }
        if self.set_at.len() > 2 * limits.max_cookies.min(1 << 20) {
            // Forget cookies that left the store otherwise (expired, replaced).
            let store = &self.store;
            self.set_at
                .retain(|k, _| store.contains_any(&k.0, &k.1, &k.2));
        }
    }

    fn evict_over(
        &mut self,
        limits: &CookieLimits,
        suffixes: Option<&List>,
        just_set: Option<&Key>,
    ) {
        let site_of = |domain: &str| site(suffixes, domain);
        let live: Vec<Key> = self.store.iter_unexpired().map(key_of).collect();
        let only = just_set.map(|j| site_of(&j.0));
        let mut by_site: HashMap<String, Vec<&Key>> = HashMap::new();
        for k in &live {
            let s = site_of(&k.0);
            if only.as_ref().is_none_or(|o| *o == s) {
                by_site.entry(s).or_default().push(k);
            }
        }
        let mut evict: Vec<Key> = Vec::new();
        for (_, mut keys) in by_site {
            if keys.len() > limits.max_per_site {
                keys.sort_by_key(|k| self.set_at.get(*k).copied().unwrap_or(0));
                let over = keys.len() - limits.max_per_site;
                evict.extend(keys[..over].iter().map(|k| (*k).clone()));
            }
        }
        let left = live.len() - evict.len();
        if left > limits.max_cookies {
            let mut rest: Vec<&Key> = live.iter().filter(|k| !evict.contains(k)).collect();
            rest.sort_by_key(|k| self.set_at.get(*k).copied().unwrap_or(0));
            evict.extend(
                rest[..left - limits.max_cookies]
                    .iter()
                    .map(|k| (*k).clone()),
            );
        }
        for k in evict {
            self.store.remove(&k.0, &k.1, &k.2);
            self.set_at.remove(&k);
        }
    }
}

/// The site a cookie domain belongs to: its registrable domain by the
/// public suffix list (so `a.example.com` and `b.example.com` share
/// `example.com`), or the domain itself (an IP, a name the list does not
/// know, no list).
fn site(list: Option<&List>, domain: &str) -> String {
    let lower = domain.trim_start_matches('.').to_ascii_lowercase();
    list.and_then(|l| l.domain(lower.as_bytes()))
        .and_then(|d| std::str::from_utf8(d.as_bytes()).ok().map(str::to_string))
        .unwrap_or(lower)
}

/// RFC 6265bis §4.1.3: a `__Secure-` cookie must be Secure; a `__Host-`
/// cookie must be Secure, host-only (no Domain) and for Path=/. Names are
/// matched case-insensitively, as browsers now do.
fn prefix_rules_hold(c: &RawCookie<'_>) -> bool {
    let name = c.name().as_bytes();
    let has = |prefix: &[u8]| {
        name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    let secure = c.secure() == Some(true);
    if has(b"__Host-") {
        return secure && c.domain().is_none() && c.path() == Some("/");
    }
    !has(b"__Secure-") || secure
}

/// Whether `domain` (a cookie's Domain attribute) is a public suffix: a
/// rule of the list, not a name the list merely does not know. Without a
/// list, every single-label name (`com`, `local`) counts as one, which is
/// what curl does without libpsl.
fn is_public_suffix(list: Option<&List>, domain: &str) -> bool {
    let lower = domain.to_ascii_lowercase();
    match list {
        Some(list) => list
            .suffix(lower.as_bytes())
            .is_some_and(|s| s.is_known() && s.as_bytes() == lower.as_bytes()),
        None => !lower.contains('.'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "// ===BEGIN ICANN DOMAINS===\ncom\nuk\nco.uk\n*.kawasaki.jp\n\
                        // ===END ICANN DOMAINS===\n\
                        // ===BEGIN PRIVATE DOMAINS===\ngithub.io\n// ===END PRIVATE DOMAINS===\n";

    /// Stores the Set-Cookie values as if `url` had answered with them.
    fn receive(jar: &Jar, url: &str, set_cookies: &[String]) {
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for c in set_cookies {
            raw.push_str(&format!("Set-Cookie: {c}\r\n"));
        }
        raw.push_str("\r\n");
        let limits = crate::proto::Limits {
            max_line_bytes: usize::MAX,
            max_header_bytes: usize::MAX,
            ..Default::default()
        };
        let head = crate::proto::parse_head(raw.as_bytes(), &limits)
            .unwrap()
            .unwrap()
            .1;
        jar.store_from(&head, &Url::parse(url).unwrap());
    }

    fn sent(jar: &Jar, url: &str) -> Vec<String> {
        let mut names = jar.names_for(&Url::parse(url).unwrap());
        names.sort();
        names
    }

    fn jar_with_list() -> Jar {
        let jar = Jar::default();
        jar.set_suffix_list(LIST).unwrap();
        jar
    }

    #[test]
    fn a_cookie_over_4096_bytes_is_refused() {
        let jar = jar_with_list();
        let fits = format!("a={}", "v".repeat(4095));
        let over = format!("b={}", "v".repeat(4096));
        let huge = format!("c={}", "v".repeat(1 << 20));
        receive(&jar, "http://h.example.com/", &[fits, over, huge]);
        assert_eq!(sent(&jar, "http://h.example.com/"), ["a"]);
    }

    #[test]
    fn sibling_hosts_share_the_per_site_limit_and_the_oldest_go() {
        let jar = jar_with_list();
        // 100 from each of two hosts, all for the site example.com.
        for host in ["a", "b"] {
            let cookies: Vec<String> = (0..100)
                .map(|i| format!("{host}{i:03}=1; Domain=example.com"))
                .collect();
            receive(&jar, &format!("http://{host}.example.com/"), &cookies);
        }
        let names = sent(&jar, "http://c.example.com/");
        assert_eq!(names.len(), 180);
        // The 20 oldest (a000..a019) were evicted.
        assert_eq!(names[0], "a020");
        assert!(names.contains(&"b099".to_string()));
        // Another site has its own count.
        receive(&jar, "http://other.com/", &["x=1".to_string()]);
        assert_eq!(sent(&jar, "http://other.com/"), ["x"]);
    }

    #[test]
    fn the_jar_limit_evicts_the_oldest_across_sites() {
        let jar = jar_with_list();
        jar.set_limits(CookieLimits {
            max_cookies: 10,
            ..CookieLimits::default()
        })
        .unwrap();
        for i in 0..15 {
            receive(&jar, &format!("http://site{i}.com/"), &[format!("n{i}=1")]);
        }
        assert!(sent(&jar, "http://site4.com/").is_empty());
        assert_eq!(sent(&jar, "http://site5.com/"), ["n5"]);
        assert_eq!(sent(&jar, "http://site14.com/"), ["n14"]);
        // Setting a cookie again makes it the newest.
        receive(&jar, "http://site5.com/", &["n5=2".to_string()]);
        receive(&jar, "http://site15.com/", &["n15=1".to_string()]);
        assert_eq!(sent(&jar, "http://site5.com/"), ["n5"]);
        assert!(sent(&jar, "http://site6.com/").is_empty());
        assert!(jar
            .set_limits(CookieLimits {
                max_per_site: 0,
                ..CookieLimits::default()
            })
            .is_err());
    }

    #[test]
    fn name_prefixes_are_enforced_case_insensitively() {
        let jar = jar_with_list();
        let url = "https://h.example.com/";
        let cookies = [
            "__Host-ok=1; Secure; Path=/",
            "__Host-insecure=1; Path=/",
            "__host-lower=1; Path=/",
            "__HOST-domain=1; Secure; Path=/; Domain=example.com",
            "__Host-path=1; Secure; Path=/x",
            "__Secure-ok=1; Secure",
            "__Secure-insecure=1",
            "__SECURE-upper=1",
            "plain=1",
        ]
        .map(String::from);
        receive(&jar, url, &cookies);
        assert_eq!(sent(&jar, url), ["__Host-ok", "__Secure-ok", "plain"]);
    }

    #[test]
    fn loaded_cookies_meet_the_same_limits_and_prefixes() {
        let jar = jar_with_list();
        let big = format!("big={}; Max-Age=3600", "v".repeat(5000));
        let mut cookies: Vec<String> = (0..200)
            .map(|i| format!("k{i:03}=1; Max-Age={}; Domain=example.com", 3600 + i))
            .collect();
        cookies.push("__Secure-x=1; Max-Age=3600".into());
        // Saved by a jar without limits, as an older or hostile file could be.
        let loose = jar_with_list();
        loose
            .set_limits(CookieLimits {
                max_cookie_bytes: usize::MAX,
                max_per_site: usize::MAX,
                max_cookies: usize::MAX,
            })
            .unwrap();
        receive(&loose, "https://a.example.com/", &cookies);
        // The prefix rule holds whatever the limits: it never got in.
        receive(&loose, "https://a.example.com/", &[big]);
        let text = loose.save().unwrap();
        assert!(text.contains("big") && text.contains("k199"), "saved");
        jar.load(&text).unwrap();
        let names = sent(&jar, "https://a.example.com/");
        assert_eq!(names.len(), 180, "{names:?}");
        // Those expiring soonest went first.
        assert_eq!(names[0], "k020");
        assert!(!names.iter().any(|n| n == "big"));
    }

    #[test]
    fn public_suffixes_come_from_the_rules() {
        let list = List::from_bytes(LIST.as_bytes()).unwrap();
        for suffix in ["com", "co.uk", "CO.UK", "github.io", "city.kawasaki.jp"] {
            assert!(is_public_suffix(Some(&list), suffix), "{suffix}");
        }
        for name in [
            "example.com",
            "example.co.uk",
            "me.github.io",
            "localhost",
            "test",
        ] {
            assert!(!is_public_suffix(Some(&list), name), "{name}");
        }
        assert!(is_public_suffix(None, "com"));
        assert!(!is_public_suffix(None, "example.com"));
    }
}
