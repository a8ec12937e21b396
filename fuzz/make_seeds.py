#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/, and fuzz_targets/keys.rs.

Python 3 standard library + the `openssl` command. Run from anywhere:

    python3 fuzz/make_seeds.py                          # fresh throw-away keys, every synthetic seed
    python3 fuzz/make_seeds.py --live-only --live http://127.0.0.1:9400 --live-as http://127.0.0.1:8080
                                                        # only add real answers of a running tokengate: the demo
                                                        # issuer (src/demo.rs) and the built-in authorization server

The throw-away keys (EC P-256, RSA 2048, Ed25519) are made here each time; their public halves go into
fuzz_targets/keys.rs so that the jwt_parse target can check the seeds' signatures, and their private halves are
deleted after signing. Seeds named real-* (captured with --live) are kept across runs.
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
NOW = 1_760_000_000  # common.rs NOWS[0]


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def js(o):
    return json.dumps(o, separators=(",", ":")).encode()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, check=True, capture_output=True).stdout


class Keys:
    def __init__(self, d):
        self.d = d
        self.ec = os.path.join(d, "ec.pem")
        self.rsa = os.path.join(d, "rsa.pem")
        self.ed = os.path.join(d, "ed.pem")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.ec)
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.rsa)
        openssl("genpkey", "-algorithm", "ed25519", "-out", self.ed)
        point = openssl("pkey", "-in", self.ec, "-pubout", "-outform", "DER")[-65:]
        self.ec_x, self.ec_y = b64(point[1:33]), b64(point[33:65])
        mod = openssl("rsa", "-in", self.rsa, "-noout", "-modulus").decode().strip().split("=", 1)[1]
        self.rsa_n, self.rsa_e = b64(bytes.fromhex(mod)), "AQAB"
        self.ed_x = b64(openssl("pkey", "-in", self.ed, "-pubout", "-outform", "DER")[-32:])

    def jwks(self):
        return {
            "keys": [
                {"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "ec-1", "x": self.ec_x, "y": self.ec_y},
                {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "rsa-1", "n": self.rsa_n, "e": self.rsa_e},
                {"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": "ed-1", "x": self.ed_x},
            ]
        }

    def sign(self, alg, data):
        f = os.path.join(self.d, "in")
        with open(f, "wb") as fh:
            fh.write(data)
        if alg == "ES256":
            return der_to_raw(openssl("dgst", "-sha256", "-sign", self.ec, f), 32)
        if alg == "RS256":
            return openssl("dgst", "-sha256", "-sign", self.rsa, f)
        if alg == "EdDSA":
            return openssl("pkeyutl", "-sign", "-inkey", self.ed, "-rawin", "-in", f)
        raise ValueError(alg)

    def jwt(self, header, claims, alg=None):
        alg = alg or header.get("alg")
        si = b64(js(header)) + "." + b64(js(claims))
        return si + "." + b64(self.sign(alg, si.encode()))


def der_to_raw(der, n):
    # SEQUENCE { INTEGER r, INTEGER s }
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        ln = der[i + 1]
        v = der[i + 2 : i + 2 + ln].lstrip(b"\0")
        out += v.rjust(n, b"\0")
        i += 2 + ln
    return out


def write_keys_rs(k):
    path = os.path.join(HERE, "fuzz_targets", "keys.rs")
    with open(path, "w") as fh:
        fh.write(
            f"""//! Public halves of the throw-away keys that signed the jwt_parse seeds (written by fuzz/make_seeds.py).
#![allow(dead_code)]

use std::sync::LazyLock;

use jsonwebtoken::DecodingKey;

pub static KEYS: LazyLock<Vec<DecodingKey>> = LazyLock::new(|| {{
    vec![
        DecodingKey::from_ec_components("{k.ec_x}", "{k.ec_y}").expect("EC key"),
        DecodingKey::from_rsa_components(
            "{k.rsa_n}",
            "{k.rsa_e}",
        )
        .expect("RSA key"),
        DecodingKey::from_ed_components("{k.ed_x}").expect("Ed25519 key"),
    ]
}});
"""
        )


def reset(target):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if not name.startswith("real-"):
            os.remove(os.path.join(d, name))
    return d


def put(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as fh:
        fh.write(data)


def jwt_seeds(k):
    d = reset("jwt_parse")
    iss0, aud0 = "https://issuer.example", "https://api.example/"
    iss1, aud1 = "http://127.0.0.1:9400", "http://127.0.0.1:8080/"
    base = {"iss": iss0, "sub": "alice", "aud": aud0, "client_id": "app", "scope": "api:read api:write",
            "iat": NOW - 10, "exp": NOW + 3600, "jti": "grant.abc"}
    tokens = {
        "es256": k.jwt({"alg": "ES256", "typ": "at+jwt", "kid": "ec-1"}, base),
        "rs256": k.jwt({"alg": "RS256", "typ": "application/at+jwt", "kid": "rsa-1"}, base),
        "eddsa": k.jwt({"alg": "EdDSA", "typ": "at+jwt"}, dict(base, aud=[aud0, "other"], scp=["a", "b"], scope=None)),
        "issuer1": k.jwt({"alg": "ES256", "typ": "at+jwt"}, dict(base, iss=iss1, aud=aud1, nbf=NOW - 5, azp="spa")),
        "okta": k.jwt({"alg": "RS256"}, {"iss": iss0, "aud": aud0, "cid": "okta-client", "scp": ["api:read"], "exp": NOW + 60, "sub": "u"}),
        "expired": k.jwt({"alg": "ES256", "typ": "at+jwt"}, dict(base, exp=NOW - 3600)),
        "nbf-future": k.jwt({"alg": "ES256", "typ": "at+jwt"}, dict(base, nbf=NOW + 3600)),
        "wrong-aud": k.jwt({"alg": "ES256", "typ": "at+jwt"}, dict(base, aud="https://evil.example/")),
        "no-exp": k.jwt({"alg": "ES256", "typ": "at+jwt"}, {k2: v for k2, v in base.items() if k2 != "exp"}),
        "crit": k.jwt({"alg": "ES256", "typ": "at+jwt", "crit": ["exp"]}, base),
        "jku": k.jwt({"alg": "ES256", "typ": "at+jwt", "jku": "https://evil.example/jwks"}, base),
        "wrong-typ": k.jwt({"alg": "ES256", "typ": "JWT"}, base),
        "fractional": k.jwt({"alg": "ES256", "typ": "at+jwt"}, dict(base, exp=NOW + 0.5, iat=NOW - 0.25)),
        "control-sub": k.jwt({"alg": "ES256", "typ": "at+jwt"}, dict(base, sub="a\r\nX-Auth-Subject: root")),
        "unicode-sub": k.jwt({"alg": "ES256", "typ": "at+jwt"}, dict(base, sub="élodie", scope="  a  b ")),
        "rs-as-es": k.jwt({"alg": "ES256", "typ": "at+jwt"}, base, alg="RS256"),
        "none": b64(js({"alg": "none"})) + "." + b64(js(base)) + ".",
        "none-sig": b64(js({"alg": "none"})) + "." + b64(js(base)) + ".x",
        "hs256": b64(js({"alg": "HS256", "typ": "JWT"})) + "." + b64(js(base)) + "." + b64(b"\0" * 32),
    }
    for name, t in tokens.items():
        put(d, "tok-" + name, b"\0" + t.encode())
    # Raw JSON shape (first byte odd): header \0 payload \0 signature.
    raw = {
        "es256": (js({"alg": "ES256", "typ": "at+jwt", "kid": "ec-1"}), js(base), "c2ln"),
        "scope-list": (js({"alg": "RS256"}), js(dict(base, scope=["x", "y", ""])), "c2ln"),
        "numbers": (js({"alg": "EdDSA"}), b'{"exp":1e300,"nbf":-1e300,"iat":1.5,"aud":[],"iss":"' + iss0.encode() + b'"}', "AAAA"),
        "nulls": (js({"alg": "ES256", "kid": None, "typ": None, "crit": None}), b'{"iss":null,"sub":null,"aud":null,"exp":null}', "AA"),
        "dup-keys": (b'{"alg":"ES256","alg":"none"}', b'{"exp":1,"exp":2}', "AA"),
        "escapes": (b'{"alg":"ES\\u0032\\u00356"}', b'{"sub":"\\ud800","scope":"\\u0000"}', "AA"),
    }
    for name, (h, p, s) in raw.items():
        put(d, "raw-" + name, b"\x01" + h + b"\0" + p + b"\0" + s.encode())
    return tokens["es256"]


def token_seeds(jwt):
    d = reset("token_extract")
    # flags: 1 auth, 2 auth twice, 4 session, 8 session twice, 16 query, 32 small limit (upper bits), 64 reversed.
    seeds = {
        "bearer-jwt": (1, "Bearer " + jwt, "", ""),
        "bearer-lower": (1, "bearer  abc.def==", "", ""),
        "bearer-tab": (1, "Bearer\tabc", "", ""),
        "basic": (1, "Basic dXNlcjpwYXNz", "", ""),
        "session": (4, "", "  tok123", ""),
        "session-trailing": (4, "", "tok123 \t", ""),
        "both": (5, "Bearer a", "b", ""),
        "auth-twice": (3, "Bearer a", "", ""),
        "session-twice": (12, "", "b", ""),
        "query": (16, "", "", "x=1&access_token=abc&y"),
        "query-two": (16, "", "", "access_token=a&access_token=b"),
        "query-empty": (16, "", "", "access_token="),
        "all": (21 | 64, "Bearer a", "b", "access_token=c"),
        "small-limit": (1 | 32 | 128, "Bearer " + "a" * 40, "", ""),
        "comma": (1, "Bearer a,b", "", ""),
        "equals-only": (1, "Bearer ===", "", ""),
        "obs-text": (1, "Bearer \xff\xfe", "", ""),
        "empty-bearer": (1, "Bearer ", "", ""),
    }
    for name, (flags, a, s, q) in seeds.items():
        put(d, name, bytes([flags]) + a.encode("latin-1") + b"\0" + s.encode() + b"\0" + q.encode())


def path_seeds():
    d = reset("path_normalize")
    paths = [
        "/", "/api/items", "/public/hello", "/public/../api/x", "/public/%2e%2e/api/x", "/public/%2E%2E/api/x",
        "/public/.%2e/api/x", "/public/..;/api/x", "/public;x=1/../api/x", "//api//x", "/./api/./x", "/api/x/",
        "/api/x/.", "/api/x/..", "/%61pi/x", "/public%2F..%2Fapi/x", "/public/%252e%252e/api", "/public/%5c../api",
        "/public\\..\\api", "/x%00", "/x%zz", "/x%2", "/../etc", "api", "", "/api/..%3B/public/x", "/a/b/c/../../..",
        "/a/./b/../../c/", "/%C3%A9t%C3%A9", "/%ff%fe/x", "/%e2%80%ae/api", "/api;/x", "/;/api", "/admin", "/adminx",
        "/x/%2e", "/x/.%2E/", "/.well-known/x", "/a.b/c..d/...", "/api/\u00e9", "/a/b/c", "/a/b/c/d/../../x",
    ]
    for i, p in enumerate(paths):
        put(d, f"p{i:02d}", bytes([i % 8]) + p.encode())


def jwks_seeds(k):
    d = reset("jwks_parse")
    doc = k.jwks()
    put(d, "three-keys.json", js(doc))
    weird = {
        "keys": [
            {"kty": "EC", "crv": "P-256", "use": "enc", "x": k.ec_x, "y": k.ec_y},
            {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"},
            {"kty": "RSA", "alg": "ES256", "n": k.rsa_n, "e": "AQAB"},
            {"kty": "RSA", "n": "AA", "e": "AA"},
            {"kty": "EC", "crv": "P-384", "x": k.ec_x, "y": k.ec_y},
            {"kty": "OKP", "crv": "X25519", "x": k.ed_x},
            {"kty": "RSA", "n": k.rsa_n, "e": "AQAB", "x5c": ["MIIB"], "key_ops": ["verify"]},
            {"kty": "EC", "crv": "P-256", "alg": "ES384", "x": "", "y": ""},
            "not an object",
            {"kty": "RSA", "alg": "RSA-OAEP", "n": k.rsa_n, "e": "AQAB"},
        ]
    }
    put(d, "weird-keys.json", js(weird))
    put(d, "empty.json", b'{"keys":[]}')
    put(d, "no-keys.json", b'{"issuer":"x"}')
    put(d, "keys-not-array.json", b'{"keys":{}}')
    put(d, "not-json", b"<html>502</html>")


def introspection_seeds():
    d = reset("introspection_response")
    iss = "https://issuer.example"
    active = {"active": True, "scope": "api:read api:write", "client_id": "demo", "sub": "demo", "username": "u",
              "exp": NOW + 3600, "nbf": NOW - 10, "iat": NOW - 10, "iss": iss, "aud": "https://api.example/",
              "jti": "j", "token_type": "Bearer"}
    seeds = {
        "active": active,
        "minimal": {"active": True},
        "inactive": {"active": False},
        "refresh": dict(active, token_type="refresh_token"),
        "aud-list": dict(active, aud=["x", "api"]),
        "wrong-aud": dict(active, aud="https://evil.example/"),
        "wrong-iss": dict(active, iss="https://evil.example"),
        "expired": dict(active, exp=NOW - 3600),
        "nbf-future": dict(active, nbf=NOW + 3600),
        "username-only": {"active": True, "username": "bob", "scope": ""},
        "control": dict(active, sub="a\nb"),
        "huge-numbers": dict(active, exp=1e308, nbf=-1e308),
        "active-string": {"active": "true"},
    }
    for name, v in seeds.items():
        put(d, name + ".json", js(v))
    put(d, "garbage", b"\xff{]")


def config_seeds(fuzz_config):
    d = reset("config_parse")
    for src, name in [
        ("config/tokengate.toml", "tokengate.toml"),
        ("config/external-issuer.example.toml", "external-issuer.example.toml"),
        ("benches/load/tokengate.toml.in", "load-tokengate.toml"),
    ]:
        p = os.path.join(ROOT, src)
        if os.path.exists(p):
            shutil.copy(p, os.path.join(d, name))
    put(d, "fuzz-common.toml", fuzz_config)
    put(d, "bad.toml", '[server]\nthreads = 0\n\n[auth]\ncolour = "blue"\n\n[[auth.issuers]]\nissuer = "x"\n'
                       'audiences = []\nalgorithms = ["HS256", "none"]\n[upstream]\nurl = "ftp://x"\n')
    put(d, "edge-only.toml", '[auth]\ndefault = "authenticated"\ntoken_sources = ["query"]\n'
                             '[[auth.issuers]]\nissuer = "https://i.example"\naudiences = ["a"]\n'
                             '[[routes]]\npath = "/x/"\nrate_limit = "10/s"\nany_scopes = ["a", "b"]\n')
    put(d, "syntax.toml", "[server\nlisten = ")
    put(d, "unicode.toml", '[server]\nlisten = "é"\n# ünïcödé\n[[routes]]\npath = "/é/"\n')


def common_config():
    src = open(os.path.join(HERE, "fuzz_targets", "common.rs")).read()
    start = src.index('r#"') + 3
    return src[start : src.index('"#', start)]


def live_as(url):
    with urllib.request.urlopen(url + "/oauth2/jwks", timeout=5) as r:
        put(os.path.join(CORPUS, "jwks_parse"), "real-builtin-as-jwks.json", r.read())


def live(url, secret):
    """Real answers of a running demo issuer: its JWKS, a JWT, an opaque token's introspection answer."""
    def get(path, data=None, auth=None):
        req = urllib.request.Request(url + path, data=urllib.parse.urlencode(data).encode() if data else None)
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read()
    put(os.path.join(CORPUS, "jwks_parse"), "real-demo-jwks.json", get("/jwks"))
    tok = json.loads(get("/token", {"grant_type": "client_credentials", "scope": "api:read api:write"}, "demo:demo-secret"))
    put(os.path.join(CORPUS, "jwt_parse"), "real-demo-jwt", b"\0" + tok["access_token"].encode())
    put(os.path.join(CORPUS, "token_extract"), "real-demo-jwt", b"\x01Bearer " + tok["access_token"].encode() + b"\0\0")
    op = json.loads(get("/token", {"grant_type": "client_credentials", "format": "opaque"}, "demo:demo-secret"))
    put(os.path.join(CORPUS, "introspection_response"), "real-demo-active.json",
        get("/introspect", {"token": op["access_token"]}, "gateway:" + secret))
    put(os.path.join(CORPUS, "introspection_response"), "real-demo-inactive.json",
        get("/introspect", {"token": "nope"}, "gateway:" + secret))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--live", help="base URL of a running demo issuer, e.g. http://127.0.0.1:9400")
    ap.add_argument("--live-gateway-secret", default="gateway-secret", help="the gateway's introspection secret")
    ap.add_argument("--live-as", help="base URL of a running tokengate's built-in authorization server")
    ap.add_argument("--live-only", action="store_true", help="only fetch the real-* seeds; keep everything else")
    a = ap.parse_args()
    if a.live_only:
        if a.live:
            live(a.live.rstrip("/"), a.live_gateway_secret)
        if a.live_as:
            live_as(a.live_as.rstrip("/"))
        return
    with tempfile.TemporaryDirectory() as t:
        k = Keys(t)
        write_keys_rs(k)
        jwt = jwt_seeds(k)
        jwks_seeds(k)
    token_seeds(jwt)
    path_seeds()
    introspection_seeds()
    config_seeds(common_config())
    if a.live:
        live(a.live.rstrip("/"), a.live_gateway_secret)
    if a.live_as:
        live_as(a.live_as.rstrip("/"))
    for t in sorted(os.listdir(CORPUS)):
        print(f"{t}: {len(os.listdir(os.path.join(CORPUS, t)))} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
