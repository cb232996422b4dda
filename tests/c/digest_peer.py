"""HTTP Digest (RFC 7616) routes of tests/c/server.py, checked with hashlib.

  /digest/QOP/ALG/USER/PASSWORD[/OPTION...]
      401 with a challenge until the request carries a correct
      `Authorization: Digest` answer, then 200 with a JSON echo: user, uri,
      nc, cnonce, nonce, method, body, answers (how many answers this path
      got, right or wrong) and the Authorization value.
      QOP: auth, auth-int, auth,auth-int (or auth%2Cauth-int), or none (RFC
      2069: no qop, nc or cnonce). ALG: MD5, MD5-sess, SHA-256,
      SHA-256-sess, SHA-512-256, or default (no algorithm named: MD5).
      Options: stale (the path's first correct answer gets a 401 with
      stale=true and a new nonce), userhash (the challenge offers it
      and the username must be H(user:realm)), nextnonce (a correct
      answer's nonce is retired, and the 200 names the next one in
      Authentication-Info). Any other segment is a tag
      that makes the path (and its answer count) unique to a test.
      Each 401 carries, in one field, `Basic realm=...` before the Digest
      challenge, and in a second field a Digest challenge with an algorithm
      no client knows, so a client must pick the challenge it can answer.
      A 401's body is JSON too: {"error": why, "answers": N}.
  /digest-redirect/HOST/REST
      302 to /REST on HOST: "same" (this origin) or "localhost" (this
      server under another origin).

Nonces are this server's, valid on any digest path (one protection space,
as a real server's realm), each with the nc values seen: a repeated nc is
refused (a replay).
"""
import hashlib
import json
import os
import threading
from urllib.parse import unquote

REALM = "digest@reqivo.test"
OPAQUE = "0paque/\"quoted\""

_lock = threading.Lock()
# nonce -> {"ncs": set of nc strings seen}
_nonces = {}
# paths whose correct answer was once refused as stale
_stale_sent = set()
# path -> answers received
_answers = {}


def _h(alg, text):
    return _h_bytes(alg, text.encode())


def _new_nonce():
    nonce = os.urandom(12).hex()
    with _lock:
        _nonces[nonce] = {"ncs": set()}
    return nonce


def parse_params(value):
    """The auth-params of one `Digest ...` credentials value, names
    lowercased, quoted strings unescaped."""
    params, i, s = {}, 0, value
    while i < len(s):
        while i < len(s) and s[i] in " ,\t":
            i += 1
        eq = s.find("=", i)
        if eq < 0:
            break
        name = s[i:eq].strip().lower()
        i = eq + 1
        while i < len(s) and s[i] in " \t":
            i += 1
        if i < len(s) and s[i] == '"':
            i += 1
            out = []
            while i < len(s) and s[i] != '"':
                if s[i] == "\\":
                    i += 1
                out.append(s[i])
                i += 1
            i += 1
            params[name] = "".join(out)
        else:
            end = s.find(",", i)
            end = len(s) if end < 0 else end
            params[name] = s[i:end].strip()
            i = end
    return params


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _challenge(qop, alg, userhash, stale):
    nonce = _new_nonce()
    parts = ["realm=" + _quote(REALM), "nonce=" + _quote(nonce), "opaque=" + _quote(OPAQUE)]
    if alg != "default":
        parts.append("algorithm=" + alg)
    if qop != "none":
        parts.append("qop=" + _quote(qop))
    if userhash:
        parts.append("userhash=true")
    if stale:
        parts.append("stale=true")
    return [
        ("WWW-Authenticate", 'Basic realm="basic@reqivo.test", charset="UTF-8", Digest ' + ", ".join(parts)),
        ("WWW-Authenticate", 'Digest realm="x", nonce="y", algorithm=UNKNOWN-9, qop="auth"'),
    ]


def _check(auth, method, uri, body, qop, alg, user, password, userhash):
    """None when `auth` answers correctly, else why not."""
    if not auth.lower().startswith("digest "):
        return "no digest answer"
    p = parse_params(auth[7:])
    base = alg[:-5] if alg.endswith("-sess") else ("MD5" if alg == "default" else alg)
    want_user = _h(base, "%s:%s" % (user, REALM)) if userhash else user
    if "username*" in p:
        got_user = unquote(p["username*"].split("''", 1)[1])
    else:
        got_user = p.get("username")
    if got_user != want_user:
        return "username %r" % got_user
    if userhash != (p.get("userhash", "").lower() == "true"):
        return "userhash"
    if p.get("realm") != REALM or p.get("uri") != uri or p.get("opaque") != OPAQUE:
        return "realm, uri or opaque"
    if (alg == "default" and "algorithm" in p) or (alg != "default" and p.get("algorithm") != alg):
        return "algorithm %r" % p.get("algorithm")
    nonce = p.get("nonce", "")
    with _lock:
        known = _nonces.get(nonce)
    if known is None:
        return "unknown nonce"
    ha1 = _h(base, "%s:%s:%s" % (user, REALM, password))
    if alg.endswith("-sess"):
        ha1 = _h(base, "%s:%s:%s" % (ha1, nonce, p.get("cnonce", "")))
    if qop == "none":
        if "qop" in p or "nc" in p:
            return "qop in an RFC 2069 answer"
        want = _h(base, "%s:%s:%s" % (ha1, nonce, _h(base, "%s:%s" % (method, uri))))
    else:
        got_qop = p.get("qop")
        offered = qop.split(",")
        if got_qop not in offered:
            return "qop %r" % got_qop
        if got_qop == "auth-int":
            ha2 = _h(base, "%s:%s:%s" % (method, uri, _h_bytes(base, body)))
        else:
            ha2 = _h(base, "%s:%s" % (method, uri))
        nc, cnonce = p.get("nc", ""), p.get("cnonce", "")
        if len(nc) != 8 or not cnonce:
            return "nc or cnonce"
        with _lock:
            if nc in known["ncs"]:
                return "repeated nc %s" % nc
            known["ncs"].add(nc)
        want = _h(base, ":".join([ha1, nonce, nc, cnonce, got_qop, ha2]))
    if p.get("response") != want:
        return "wrong response"
    return None


def _h_bytes(alg, data):
    name = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}[alg]
    return hashlib.new(name, data).hexdigest()


def serve(conn, response, head, body, path, target):
    """Answers a /digest or /digest-redirect request; False for other paths."""
    parts = path.split("/")
    if parts[1] == "digest-redirect" and len(parts) > 3:
        port = conn.getsockname()[1]
        host = "" if parts[2] == "same" else "http://%s:%d" % (parts[2], port)
        location = host + "/" + "/".join(parts[3:])
        conn.sendall(response("HTTP/1.1 302 Found", [("Location", location), ("Content-Length", "0")]))
        return True
    if parts[1] != "digest" or len(parts) < 6:
        return False
    qop, alg, user, password = (unquote(x) for x in parts[2:6])
    options = parts[6:]
    lines = head.decode("latin-1").split("\r\n")
    method = lines[0].split(" ")[0]
    auth = next((l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("authorization:")), None)
    why = "no credentials"
    if auth is not None:
        with _lock:
            _answers[path] = _answers.get(path, 0) + 1
        why = _check(auth, method, target, body, qop, alg, user, password, "userhash" in options)
    with _lock:
        answers = _answers.get(path, 0)
    stale = False
    if why is None and "stale" in options:
        with _lock:
            stale = path not in _stale_sent
            _stale_sent.add(path)
        why = "stale nonce" if stale else None
    if why is None:
        p = parse_params(auth[7:])
        echo = {
            "user": p.get("username") or p.get("username*"),
            "uri": p.get("uri"),
            "nc": p.get("nc"),
            "cnonce": p.get("cnonce"),
            "nonce": p.get("nonce"),
            "method": method,
            "body": body.decode("latin-1"),
            "answers": answers,
            "authorization": auth,
        }
        data = json.dumps(echo).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        if "nextnonce" in options:
            with _lock:
                del _nonces[p["nonce"]]
            headers.append(("Authentication-Info", 'rspauth="unchecked", nextnonce=' + _quote(_new_nonce())))
        conn.sendall(response("HTTP/1.1 200 OK", headers, data))
        return True
    data = json.dumps({"error": why, "answers": answers}).encode()
    headers = _challenge(qop, alg, "userhash" in options, stale)
    conn.sendall(
        response(
            "HTTP/1.1 401 Unauthorized",
            headers + [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
            data,
        )
    )
    return True
