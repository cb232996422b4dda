//! HTTP Digest authentication (RFC 7616): reading `WWW-Authenticate`
//! challenges, computing the `Authorization: Digest` answer, and the
//! per-session memory of the last challenge of each origin, so later
//! requests answer at once with the nonce count raised (as curl does).
//!
//! The chain (`chain.rs`) decides when: a 401 from the origin the caller
//! addressed is answered by one more hop; a second 401 means the
//! credentials are wrong, unless it says `stale=true` (a new nonce, tried
//! once).
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
use url::{Position, Url};

use super::body::Body;
use super::error::ClientError;
use super::log::{log_at, Level, Log};
use crate::proto::ResponseHead;

/// Origins remembered per credentials; past it the memory starts over
/// (a session that talks to this many digest origins only loses the
/// pre-emptive answer, never correctness).
const MAX_REMEMBERED: usize = 64;

/// A session's Digest credentials and what it learnt from challenges. The
/// session config holds it in an `Arc`: every send (and a `share` of the
/// session) sees the same memory, and new credentials start a new one.
pub(crate) struct DigestAuth {
    user: String,
    password: String,
    /// By origin (`scheme://host:port`): the last challenge answered there
    /// and the last nonce count sent with its nonce.
    remembered: Mutex<HashMap<String, (Params, u32)>>,
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password, not even in a debug print of the config.
        write!(f, "DigestAuth {{ user: {:?} }}", self.user)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Algorithm {
    // In the order of preference when several challenges are offered
    // (RFC 7616 §3.7: the strongest the client supports).
    Md5,
    Sha256,
    Sha512_256,
}

impl Algorithm {
    fn parse(name: &str) -> Option<(Algorithm, bool)> {
        let (base, sess) = match name.len().checked_sub(5) {
            Some(at) if name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case("-sess") => {
                (&name[..at], true)
            }
            _ => (name, false),
        };
        let alg = [
            ("MD5", Algorithm::Md5),
            ("SHA-256", Algorithm::Sha256),
            ("SHA-512-256", Algorithm::Sha512_256),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(base))?
        .1;
        Some((alg, sess))
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha512_256 => "SHA-512-256",
        }
    }

    /// The lowercase hex digest of the parts joined by ':'.
    fn hex(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            d.finalize().iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{:02x}", b);
                s
            })
        }
        match self {
            Algorithm::Md5 => run::<Md5>(parts),
            Algorithm::Sha256 => run::<Sha256>(parts),
            Algorithm::Sha512_256 => run::<Sha512_256>(parts),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qop {
    Auth,
    AuthInt,
}

/// A Digest challenge this client can answer.
#[derive(Debug, Clone)]
struct Params {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    algorithm: Algorithm,
    sess: bool,
    /// The challenge named its algorithm (RFC 2069 ones do not; the answer
    /// names it only then).
    named: bool,
    /// None: RFC 2069 (no qop, no nc, no cnonce).
    qop: Option<Qop>,
    userhash: bool,
    stale: bool,
}

/// One challenge of a `WWW-Authenticate` value: the scheme and its
/// parameters (names lowercased, quoted strings unescaped). A token68
/// (Basic's, Negotiate's) is dropped: Digest has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The challenges of one header value (RFC 9110 §11.6.1: a comma list of
/// `scheme [token68 | #auth-param]`). Unparsable pieces are skipped.
pub(crate) fn parse_challenges(value: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: value.as_bytes(),
        i: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        p.skip(|b| b == b',' || is_ows(b));
        if p.i >= p.s.len() {
            return out;
        }
        let Some(scheme) = p.token() else {
            // Not a challenge: skip to the next comma.
            p.skip(|b| b != b',');
            continue;
        };
        let mut c = Challenge {
            scheme: scheme.to_string(),
            params: Vec::new(),
        };
        p.skip(is_ows);
        if !p.token68_alone() {
            p.params_into(&mut c.params);
        }
        out.push(c);
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<&'a str> {
        let start = self.i;
        self.skip(is_tchar);
        // Only tchars were taken: ASCII, valid UTF-8.
        (self.i > start).then(|| std::str::from_utf8(&self.s[start..self.i]).unwrap_or(""))
    }

    /// Consumes a token68 when it is the whole of the challenge's
    /// credentials (followed by the end or a comma).
    fn token68_alone(&mut self) -> bool {
        let start = self.i;
        self.skip(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
        let body = self.i;
        self.skip(|b| b == b'=');
        let end = self.i;
        self.skip(is_ows);
        if end > start && body > start && matches!(self.peek(), None | Some(b',')) {
            return true;
        }
        self.i = start;
        false
    }

    /// `name = value` pairs separated by commas, up to the next challenge
    /// (a token not followed by '=').
    fn params_into(&mut self, params: &mut Vec<(String, String)>) {
        loop {
            let start = self.i;
            self.skip(|b| b == b',' || is_ows(b));
            let Some(name) = self.token() else {
                self.i = start;
                return;
            };
            self.skip(is_ows);
            if self.peek() != Some(b'=') {
                // The next challenge's scheme.
                self.i = start;
                return;
            }
            self.i += 1;
            self.skip(is_ows);
            let value = match self.peek() {
                Some(b'"') => self.quoted(),
                _ => self.token().map(str::to_string),
            };
            let Some(value) = value else {
                // A malformed value: skip to the next comma.
                self.skip(|b| b != b',');
                continue;
            };
            params.push((name.to_ascii_lowercase(), value));
            self.skip(is_ows);
        }
    }

    /// A quoted-string (RFC 9110 §5.6.4), escapes undone; None if unclosed.
    fn quoted(&mut self) -> Option<String> {
        let mut v = Vec::new();
        self.i += 1;
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => return Some(String::from_utf8_lossy(&v).into_owned()),
                b'\\' => {
                    v.push(self.peek()?);
                    self.i += 1;
                }
                _ => v.push(b),
            }
        }
        None
    }
}

/// The Digest challenge to answer among all those of `head`: the
/// strongest algorithm this client supports. `int_ok`: `auth-int` can be
/// computed (the body is in memory or absent); `auth` is preferred.
fn pick(head: &ResponseHead, int_ok: bool) -> Option<Params> {
    head.values("www-authenticate")
        .flat_map(|v| parse_challenges(&String::from_utf8_lossy(v)))
        .filter(|c| c.scheme.eq_ignore_ascii_case("digest"))
        .filter_map(|c| params_of(&c, int_ok))
        .max_by_key(|p| p.algorithm)
}

fn params_of(c: &Challenge, int_ok: bool) -> Option<Params> {
    let (algorithm, sess) = match c.param("algorithm") {
        Some(a) => Algorithm::parse(a)?,
        None => (Algorithm::Md5, false),
    };
    let qop = match c.param("qop") {
        None => None,
        Some(list) => {
            let offered = |q: &str| list.split(',').any(|o| o.trim().eq_ignore_ascii_case(q));
            if offered("auth") {
                Some(Qop::Auth)
            } else if offered("auth-int") && int_ok {
                Some(Qop::AuthInt)
            } else {
                return None;
            }
        }
    };
    // A -sess algorithm hashes the cnonce, which only a qop answer carries.
    if sess && qop.is_none() {
        return None;
    }
    let yes = |n: &str| c.param(n).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Some(Params {
        realm: c.param("realm")?.to_string(),
        nonce: c.param("nonce")?.to_string(),
        opaque: c.param("opaque").map(str::to_string),
        algorithm,
        sess,
        named: c.param("algorithm").is_some(),
        qop,
        userhash: yes("userhash"),
        stale: yes("stale"),
    })
}

/// What an answer covers: the hop's method, request-target and body.
pub(crate) struct Target<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    pub body: Option<&'a Body>,
}

impl Target<'_> {
    /// The body bytes `auth-int` hashes; None when they are not in memory.
    fn body_bytes(&self) -> Option<&[u8]> {
        match self.body {
            None => Some(&[]),
            Some(Body::Bytes(b)) => Some(b),
            Some(Body::Source { .. } | Body::Reopen(_)) => None,
        }
    }

    fn uri(&self) -> &str {
        &self.url[Position::BeforePath..Position::AfterQuery]
    }
}

fn origin_key(url: &Url) -> String {
    url.origin().ascii_serialization()
}

impl DigestAuth {
    pub(crate) fn new(user: &str, password: &str) -> DigestAuth {
        DigestAuth {
            user: user.to_string(),
            password: password.to_string(),
            remembered: Mutex::new(HashMap::new()),
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Params, u32)>> {
        self.remembered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer to the last challenge of `t`'s origin, sent before any
    /// 401 with the nonce count raised; None if there is none to use.
    fn preempt(&self, t: &Target<'_>) -> Result<Option<String>, ClientError> {
        let remembered = self.memory().get(&origin_key(t.url)).cloned();
        match remembered {
            Some((p, _)) if p.qop != Some(Qop::AuthInt) || t.body_bytes().is_some() => {
                self.answer(t, p).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The answer to `p` for `t`, remembered for the origin. The nonce
    /// count goes on from the last one sent with the same nonce.
    fn answer(&self, t: &Target<'_>, p: Params) -> Result<String, ClientError> {
        let key = origin_key(t.url);
        let nc = {
            let mut memory = self.memory();
            let nc = match memory.get(&key) {
                Some((last, nc)) if last.nonce == p.nonce => nc.wrapping_add(1).max(1),
                _ => 1,
            };
            if memory.len() >= MAX_REMEMBERED && !memory.contains_key(&key) {
                memory.clear();
            }
            memory.insert(key, (p.clone(), nc));
            nc
        };
        let cnonce = match p.qop {
            Some(_) => new_cnonce()?,
            None => String::new(),
        };
        Ok(self.header(t, &p, nc, &cnonce))
    }

    fn forget(&self, url: &Url) {
        self.memory().remove(&origin_key(url));
    }

    /// Takes the `nextnonce` of an `Authentication-Info` field (RFC 7616
    /// §3.5) as the nonce of the origin's next answer; its count starts
    /// over unless the server named the same nonce again.
    fn next_nonce(&self, head: &ResponseHead, url: &Url) {
        let Some(info) = head.value("authentication-info") else {
            return;
        };
        // The field is a list of auth-params, without a scheme.
        let mut params = Vec::new();
        Parser { s: info, i: 0 }.params_into(&mut params);
        let Some((_, next)) = params.into_iter().find(|(n, _)| n == "nextnonce") else {
            return;
        };
        if let Some((p, nc)) = self.memory().get_mut(&origin_key(url)) {
            if p.nonce != next {
                p.nonce = next;
                *nc = 0;
            }
        }
    }

    /// The `Authorization` value (RFC 7616 §3.4).
    fn header(&self, t: &Target<'_>, p: &Params, nc: u32, cnonce: &str) -> String {
        let h = |parts: &[&[u8]]| p.algorithm.hex(parts);
        let (user, realm, nonce) = (self.user.as_bytes(), p.realm.as_bytes(), p.nonce.as_bytes());
        let mut ha1 = h(&[user, realm, self.password.as_bytes()]);
        if p.sess {
            ha1 = h(&[ha1.as_bytes(), nonce, cnonce.as_bytes()]);
        }
        let (method, uri) = (t.method.as_bytes(), t.uri());
        let ha2 = match p.qop {
            Some(Qop::AuthInt) => {
                let body = h(&[t.body_bytes().unwrap_or_default()]);
                h(&[method, uri.as_bytes(), body.as_bytes()])
            }
            _ => h(&[method, uri.as_bytes()]),
        };
        let nc_hex = format!("{:08x}", nc);
        let qop = match p.qop {
            Some(Qop::Auth) => "auth",
            Some(Qop::AuthInt) => "auth-int",
            None => "",
        };
        let response = match p.qop {
            Some(_) => h(&[
                ha1.as_bytes(),
                nonce,
                nc_hex.as_bytes(),
                cnonce.as_bytes(),
                qop.as_bytes(),
                ha2.as_bytes(),
            ]),
            None => h(&[ha1.as_bytes(), nonce, ha2.as_bytes()]),
        };
        let mut out = String::from("Digest ");
        if p.userhash {
            let hashed = h(&[user, realm]);
            let _ = write!(out, "username=\"{}\"", hashed);
        } else if self.user.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            let _ = write!(out, "username={}", quote(&self.user));
        } else {
            // RFC 7616 §3.4.4: a name a quoted-string cannot carry goes
            // in the RFC 8187 extended form.
            let encoded = percent_encoding::utf8_percent_encode(
                &self.user,
                percent_encoding::NON_ALPHANUMERIC,
            );
            let _ = write!(out, "username*=UTF-8''{}", encoded);
        }
        let _ = write!(
            out,
            ", realm={}, uri={}, nonce={}",
            quote(&p.realm),
            quote(uri),
            quote(&p.nonce)
        );
        if p.named {
            let sess = if p.sess { "-sess" } else { "" };
            let _ = write!(out, ", algorithm={}{}", p.algorithm.name(), sess);
        }
        if p.qop.is_some() {
            let _ = write!(out, ", qop={}, nc={}, cnonce=\"{}\"", qop, nc_hex, cnonce);
        }
        let _ = write!(out, ", response=\"{}\"", response);
        if let Some(opaque) = &p.opaque {
            let _ = write!(out, ", opaque={}", quote(opaque));
        }
        if p.userhash {
            out.push_str(", userhash=true");
        }
        out
    }
}

/// A quoted-string with `"` and `\` escaped.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

fn new_cnonce() -> Result<String, ClientError> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| {
        let e = std::io::Error::other(e.to_string());
        ClientError::Net(crate::net::NetError::io(&e, "drawing a digest cnonce"))
    })?;
    Ok(raw.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{:02x}", b);
        s
    }))
}

/// One send's Digest state: the Authorization of the current hop and how
/// many challenges it answered.
#[derive(Default)]
pub(crate) struct DigestHop {
    header: Option<String>,
    /// A challenge of this URL was answered: another 401 means the
    /// credentials are wrong...
    answered: bool,
    /// ...unless it says stale=true, once.
    stale_retried: bool,
}

impl DigestHop {
    /// The `Authorization` value for the current hop.
    pub(crate) fn header(&self) -> Option<&str> {
        self.header.as_deref()
    }

    /// The final head of the current hop `t`: true when it is a 401 to
    /// send again with the answer to its challenge (logged as a redirect
    /// is). Another answer to an Authorization may name the next nonce.
    pub(crate) fn after_head(
        &mut self,
        auth: &DigestAuth,
        head: &ResponseHead,
        t: &Target<'_>,
        log: Option<&Log>,
    ) -> Result<bool, ClientError> {
        if head.status != 401 {
            if self.header.is_some() {
                auth.next_nonce(head, t.url);
            }
            return Ok(false);
        }
        let resend = self.on_401(auth, head, t)?;
        if resend {
            let (method, url) = (t.method, t.url);
            log_at!(
                log,
                Level::Info,
                "{} {} -> 401, answering its Digest challenge",
                method,
                url
            );
        }
        Ok(resend)
    }

    /// A new URL (the first hop, or a redirect's): answered at once when
    /// its origin challenged before, else sent without credentials.
    /// `auth` is None when the hop may not carry digest credentials.
    pub(crate) fn start(
        auth: Option<&DigestAuth>,
        t: &Target<'_>,
    ) -> Result<DigestHop, ClientError> {
        let header = match auth {
            Some(auth) => auth.preempt(t)?,
            None => None,
        };
        Ok(DigestHop {
            header,
            ..DigestHop::default()
        })
    }

    /// A 401 arrived for `t`: true if it is to be sent again with the
    /// answer to its Digest challenge. False (the 401 is delivered) when
    /// it offers none this client can answer, when the body cannot be
    /// sent again, or when an answer was refused already (wrong
    /// credentials: the origin's memory is dropped too).
    fn on_401(
        &mut self,
        auth: &DigestAuth,
        head: &ResponseHead,
        t: &Target<'_>,
    ) -> Result<bool, ClientError> {
        let Some(p) = pick(head, t.body_bytes().is_some()) else {
            return Ok(false);
        };
        let fresh_nonce = p.stale && !self.stale_retried;
        if self.answered && !fresh_nonce {
            auth.forget(t.url);
            return Ok(false);
        }
        if t.body.is_some_and(|b| !b.replayable()) {
            return Ok(false);
        }
        self.stale_retried |= self.answered;
        self.answered = true;
        self.header = Some(auth.answer(t, p)?);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.to_string(),
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn parses_several_challenges_in_one_value() {
        let v = r#"Basic realm="x, y", Digest realm="r", qop="auth,auth-int", nonce=abc, Negotiate, Bearer dG9rZW4=="#;
        assert_eq!(
            parse_challenges(v),
            vec![
                ch("Basic", &[("realm", "x, y")]),
                ch(
                    "Digest",
                    &[("realm", "r"), ("qop", "auth,auth-int"), ("nonce", "abc")]
                ),
                ch("Negotiate", &[]),
                ch("Bearer", &[]),
            ]
        );
    }

    /// Header values are the server's: any bytes parse without a panic.
    #[test]
    fn any_value_parses() {
        const PIECES: [&str; 16] = [
            "Digest",
            " ",
            ",",
            "=",
            "\"",
            "\\",
            "realm",
            "nonce",
            "qop=auth-int",
            "algorithm=",
            "MD5-sess",
            "\t",
            "é",
            "Basic abc==",
            "-sess",
            "stale=TRUE",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut v = String::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                v.push_str(PIECES[(seed % 16) as usize]);
            }
            for c in parse_challenges(&v) {
                let _ = params_of(&c, true);
            }
            let mut params = Vec::new();
            Parser {
                s: v.as_bytes(),
                i: 0,
            }
            .params_into(&mut params);
        }
    }

    /// RFC 9110 §11.6.1's example of two challenges in one field.
    #[test]
    fn rfc_9110_example() {
        let v = r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#;
        assert_eq!(
            parse_challenges(v),
            vec![
                ch(
                    "Newauth",
                    &[
                        ("realm", "apps"),
                        ("type", "1"),
                        ("title", r#"Login to "apps""#)
                    ]
                ),
                ch("Basic", &[("realm", "simple")]),
            ]
        );
    }

    #[test]
    fn unescapes_quoted_strings_and_lowercases_names() {
        let v = r#"Digest REALM="a \"quoted\" \\ realm", Nonce="n\,1""#;
        assert_eq!(
            parse_challenges(v),
            vec![ch(
                "Digest",
                &[("realm", r#"a "quoted" \ realm"#), ("nonce", "n,1")]
            )]
        );
    }

    #[test]
    fn tolerates_odd_spacing_and_empty_items() {
        let v =
            " ,, Digest   realm = \"r\" ,,nonce=\t\"n\" ,  algorithm=SHA-256 , , Basic realm=x ";
        assert_eq!(
            parse_challenges(v),
            vec![
                ch(
                    "Digest",
                    &[("realm", "r"), ("nonce", "n"), ("algorithm", "SHA-256")]
                ),
                ch("Basic", &[("realm", "x")]),
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_drops_the_parameter_not_the_value() {
        let v = r#"Digest realm="r", nonce="open"#;
        assert_eq!(parse_challenges(v), vec![ch("Digest", &[("realm", "r")])]);
    }

    fn params(c: &Challenge) -> Params {
        params_of(c, true).expect("answerable")
    }

    /// RFC 7616 §3.9.1, with its fixed cnonce and nc.
    #[test]
    fn rfc_7616_worked_example() {
        let auth = DigestAuth::new("Mufasa", "Circle of Life");
        let url = Url::parse("http://www.example.org/dir/index.html").unwrap();
        let t = Target {
            method: "GET",
            url: &url,
            body: None,
        };
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        for (alg, want) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let challenges = parse_challenges(&format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
                 algorithm={}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
                alg
            ));
            let p = params(&challenges[0]);
            assert_eq!(p.qop, Some(Qop::Auth), "auth preferred to auth-int");
            let header = auth.header(&t, &p, 1, cnonce);
            assert!(
                header.contains(&format!("response=\"{}\"", want)),
                "{}: {}",
                alg,
                header
            );
            assert!(header.starts_with("Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\""));
            assert!(header.contains(
                ", qop=auth, nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\""
            ));
            assert!(header.contains(", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
            assert!(header.contains(&format!(", algorithm={},", alg)));
        }
    }

    /// RFC 2617 §3.5's example: no algorithm named, qop=auth.
    #[test]
    fn rfc_2617_example_and_legacy_form() {
        let auth = DigestAuth::new("Mufasa", "Circle Of Life");
        let url = Url::parse("http://www.nowhere.org/dir/index.html").unwrap();
        let t = Target {
            method: "GET",
            url: &url,
            body: None,
        };
        let c = &parse_challenges(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )[0];
        let header = auth.header(&t, &params(c), 1, "0a4f113b");
        assert!(
            header.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{}",
            header
        );
        assert!(!header.contains("algorithm"), "{}", header);
        // RFC 2069: no qop, so no nc or cnonce, and H(HA1:nonce:HA2).
        let c = &parse_challenges(r#"Digest realm="r", nonce="n""#)[0];
        let header = auth.header(&t, &params(c), 1, "");
        let ha1 = Algorithm::Md5.hex(&[b"Mufasa", b"r", b"Circle Of Life"]);
        let ha2 = Algorithm::Md5.hex(&[b"GET", b"/dir/index.html"]);
        let want = Algorithm::Md5.hex(&[ha1.as_bytes(), b"n", ha2.as_bytes()]);
        assert!(
            header.contains(&format!("response=\"{}\"", want)),
            "{}",
            header
        );
        assert!(
            !header.contains("nc=") && !header.contains("qop"),
            "{}",
            header
        );
    }

    #[test]
    fn choice_among_challenges() {
        let int_only = &parse_challenges(r#"Digest realm="r", nonce="n", qop="auth-int""#)[0];
        assert_eq!(params_of(int_only, true).unwrap().qop, Some(Qop::AuthInt));
        assert!(
            params_of(int_only, false).is_none(),
            "auth-int needs the body"
        );
        let unknown = &parse_challenges(r#"Digest realm="r", nonce="n", algorithm=SHA3"#)[0];
        assert!(params_of(unknown, true).is_none());
        let sess_no_qop =
            &parse_challenges(r#"Digest realm="r", nonce="n", algorithm=MD5-sess"#)[0];
        assert!(params_of(sess_no_qop, true).is_none());
        let no_nonce = &parse_challenges(r#"Digest realm="r""#)[0];
        assert!(params_of(no_nonce, true).is_none());
        let p = params(
            &parse_challenges(
                r#"Digest realm="r", nonce="n", qop=auth, algorithm=sha-256-SESS, userhash=TRUE, stale=true"#,
            )[0],
        );
        assert_eq!(
            (p.algorithm, p.sess, p.userhash, p.stale),
            (Algorithm::Sha256, true, true, true)
        );
    }

    #[test]
    fn usernames_are_hashed_quoted_or_extended() {
        let url = Url::parse("http://h/p?q=1").unwrap();
        let t = Target {
            method: "GET",
            url: &url,
            body: None,
        };
        let p = params(
            &parse_challenges(
                r#"Digest realm="r", nonce="n", qop=auth, userhash=true, algorithm=SHA-256"#,
            )[0],
        );
        let header = DigestAuth::new("J\u{e4}s\u{f8}n Doe", "p").header(&t, &p, 7, "c");
        let hashed = Algorithm::Sha256.hex(&["J\u{e4}s\u{f8}n Doe".as_bytes(), b"r"]);
        assert!(
            header.starts_with(&format!("Digest username=\"{}\"", hashed)),
            "{}",
            header
        );
        assert!(
            header.contains("uri=\"/p?q=1\"")
                && header.contains("nc=00000007")
                && header.ends_with(", userhash=true")
        );
        let mut p = p;
        p.userhash = false;
        let header = DigestAuth::new("J\u{e4}s\u{f8}n Doe", "p").header(&t, &p, 1, "c");
        assert!(
            header.starts_with("Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe,"),
            "{}",
            header
        );
        let header = DigestAuth::new("a\"b\\c", "p").header(&t, &p, 1, "c");
        assert!(
            header.starts_with(r#"Digest username="a\"b\\c","#),
            "{}",
            header
        );
    }

    #[test]
    fn nonce_counts_go_on_per_origin_and_restart_with_a_new_nonce() {
        let auth = DigestAuth::new("u", "p");
        let url = Url::parse("http://h:8080/a").unwrap();
        let t = Target {
            method: "GET",
            url: &url,
            body: None,
        };
        let p = params(&parse_challenges(r#"Digest realm="r", nonce="n1", qop=auth"#)[0]);
        assert!(auth.answer(&t, p).unwrap().contains("nc=00000001"));
        let other = Url::parse("http://h:8080/b").unwrap();
        let t2 = Target { url: &other, ..t };
        let pre = auth.preempt(&t2).unwrap().expect("remembered");
        assert!(
            pre.contains("nc=00000002") && pre.contains("uri=\"/b\""),
            "{}",
            pre
        );
        let elsewhere = Url::parse("http://h:8081/b").unwrap();
        assert!(auth
            .preempt(&Target {
                url: &elsewhere,
                ..t
            })
            .unwrap()
            .is_none());
        let p = params(&parse_challenges(r#"Digest realm="r", nonce="n2", qop=auth"#)[0]);
        assert!(auth.answer(&t, p).unwrap().contains("nc=00000001"));
        auth.forget(&url);
        assert!(auth.preempt(&t).unwrap().is_none());
    }
}
