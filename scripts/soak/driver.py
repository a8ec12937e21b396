#!/usr/bin/env python3
"""Soak driver for tokengate (started by scripts/soak.sh; Python 3 standard library only).

Drives steady HTTP/1.1 keep-alive load at a running gateway for a fixed time, with a mix of requests whose right
answer is known in advance, and counts:
  - WRONG DECISIONS: a status other than the expected one (200/400/401/403/404), or a 200 whose forwarded identity
    (X-Auth-Subject / X-Auth-Client-Id, echoed by the demo API) is not the token's;
  - other errors: connection errors, timeouts, 5xx, unparseable answers;
and samples the gateway's RSS (VmRSS) and open file descriptors at the start, after warm-up, every minute and at the
end. Writes a Markdown summary (--out) and exits 1 on any wrong decision, 2 on a resource growth beyond tolerance or
too many errors, 0 otherwise.

Everything goes to 127.0.0.1 only, and the run is bounded by --seconds (plus at most --request-timeout to drain).
"""

import argparse
import asyncio
import base64
import collections
import json
import os
import random
import re
import string
import sys
import time
import urllib.parse
import urllib.request

# ----------------------------------------------------------------------------------------------------------------
# Small synchronous helpers for the setup (tokens), on loopback only
# ----------------------------------------------------------------------------------------------------------------


def loopback_only(url):
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"driver: refusing non-loopback address {url}")
    return url.rstrip("/")


def post_form(url, fields, basic=None, timeout=10):
    req = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    if basic:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def mint(url, fields, basic):
    status, body = post_form(url, fields, basic)
    if status != 200:
        raise RuntimeError(f"token request to {url} failed: {status} {body[:200]!r}")
    return json.loads(body)["access_token"]


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def tamper_signature(jwt):
    h, p, s = jwt.split(".")
    sig = bytearray(b64d(s))
    sig[len(sig) // 2] ^= 0x5A  # a real change of the signed value, not just of unused trailing bits
    return f"{h}.{p}.{b64e(bytes(sig))}"


def tamper_claims(jwt, **changes):
    """Same header and signature, different claims: must fail the signature check."""
    h, p, s = jwt.split(".")
    claims = json.loads(b64d(p))
    claims.update(changes)
    return f"{h}.{b64e(json.dumps(claims, separators=(',', ':')).encode())}.{s}"


def alg_none(jwt):
    h, p, _ = jwt.split(".")
    header = json.loads(b64d(h))
    header["alg"] = "none"
    return f"{b64e(json.dumps(header).encode())}.{p}."


def garbage(n=43):
    return "".join(random.choice(string.ascii_letters + string.digits + "-_") for _ in range(n))


# ----------------------------------------------------------------------------------------------------------------
# Resource samples
# ----------------------------------------------------------------------------------------------------------------


def proc_sample(pid):
    rss_kb = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss_kb = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return rss_kb, fds


def metrics_sample(metrics_url):
    """A few gauges and counters from /metrics (best effort)."""
    out = {}
    try:
        with urllib.request.urlopen(metrics_url + "/metrics", timeout=5) as r:
            text = r.read().decode()
    except Exception:
        return out
    for line in text.splitlines():
        m = re.match(r'tokengate_token_cache_entries\{kind="(\w+)"\} (\S+)', line)
        if m:
            out[f"cache_{m.group(1)}"] = int(float(m.group(2)))
        m = re.match(r'tokengate_introspection_requests_total\{status="(\w+)"\} (\S+)', line)
        if m:
            out[f"introspect_{m.group(1)}"] = int(float(m.group(2)))
    return out


# ----------------------------------------------------------------------------------------------------------------
# The request mix
# ----------------------------------------------------------------------------------------------------------------


class Case:
    """One kind of request: how to build it, what the answer must be."""

    def __init__(self, name, weight, expect, build, identity=None):
        self.name, self.weight, self.expect, self.build, self.identity = name, weight, expect, build, identity


class Stats:
    def __init__(self):
        self.n = collections.Counter()
        self.wrong = collections.Counter()
        self.errors = collections.Counter()
        self.error_kinds = collections.Counter()
        self.statuses = collections.defaultdict(collections.Counter)
        self.latency = collections.defaultdict(list)  # reservoir per case
        self.wrong_examples = []
        self.reconnects = 0

    def lat(self, name, ms):
        lst = self.latency[name]
        if len(lst) < 20000:
            lst.append(ms)
        else:
            i = random.randrange(self.n[name])
            if i < len(lst):
                lst[i] = ms


class Rotation:
    """Tokens of the built-in authorization server, revoked while the soak runs.

    Every `period` seconds a new client_credentials token is minted and used as a valid token; the oldest live one is
    first withdrawn from use, then (once no request carrying it is in flight) revoked with /oauth2/revoke and from
    then on presented as a revoked token, which must be refused at once. The revoke call runs in a thread so that the
    load does not stop meanwhile.
    """

    def __init__(self, gateway, client, live, revoked):
        self.gateway, self.client = gateway, client
        self.live = list(live)  # tokens in use as valid
        self.revoked = list(revoked)  # tokens revoked, still presented
        self.in_flight = collections.Counter()
        self.minted = len(live) + len(revoked)
        self.revocations = len(revoked)
        self.failures = 0

    def pick_live(self):
        t = random.choice(self.live)
        self.in_flight[t] += 1
        return t

    def done(self, t):
        self.in_flight[t] -= 1

    async def run(self, period, deadline, stop_margin):
        loop = asyncio.get_running_loop()
        while time.monotonic() + period < deadline - stop_margin:
            await asyncio.sleep(period)
            try:
                fresh = await loop.run_in_executor(
                    None, mint, self.gateway + "/oauth2/token",
                    {"grant_type": "client_credentials", "scope": "api:read"}, self.client)
            except Exception as e:  # counted, the load goes on with the tokens it has
                self.failures += 1
                print(f"driver: rotation: mint failed: {e}", file=sys.stderr)
                continue
            self.minted += 1
            self.live.append(fresh)
            if len(self.live) <= 2:
                continue
            old = self.live.pop(0)  # no new request picks it from now on
            while self.in_flight[old] > 0:
                await asyncio.sleep(0.01)
            status, body = await loop.run_in_executor(
                None, post_form, self.gateway + "/oauth2/revoke", {"token": old}, self.client)
            if status != 200:
                self.failures += 1
                print(f"driver: rotation: revoke answered {status} {body[:200]!r}", file=sys.stderr)
                continue
            self.revocations += 1
            self.revoked.append(old)
            self.revoked = self.revoked[-50:]


# ----------------------------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 client over asyncio streams (keep-alive; Content-Length and chunked bodies)
# ----------------------------------------------------------------------------------------------------------------


class Conn:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.r = self.w = None

    async def open(self):
        self.r, self.w = await asyncio.open_connection(self.host, self.port)

    def close(self):
        if self.w is not None:
            self.w.close()
        self.r = self.w = None

    async def request(self, method, target, headers):
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: 0")
        self.w.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await self.w.drain()
        head = await self.r.readuntil(b"\r\n\r\n")
        status_line, *hlines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"bad status line {status_line!r}")
        status = int(parts[1])
        h = {}
        for line in hlines:
            if ":" in line:
                k, v = line.split(":", 1)
                h[k.strip().lower()] = v.strip()
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "content-length" in h:
            body = await self.r.readexactly(int(h["content-length"]))
        elif h.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await self.r.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if size == 0:
                    while (await self.r.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                body += await self.r.readexactly(size)
                await self.r.readexactly(2)
        else:
            body = await self.r.read()
            h["connection"] = "close"
        keep = h.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
        return status, h, body, keep


async def one(conn, case, stats, rotation, timeout):
    """Sends one request of `case` on `conn` (reopened when needed) and judges the answer."""
    method, target, headers, identity, held = case.build()
    stats.n[case.name] += 1
    t0 = time.monotonic()
    try:
        for attempt in (0, 1):
            fresh = conn.w is None
            try:
                if fresh:
                    await conn.open()
                status, h, body, keep = await asyncio.wait_for(conn.request(method, target, headers), timeout)
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                conn.close()
                # A keep-alive connection closed by the server between two requests: retry once on a new one.
                if fresh or attempt == 1:
                    raise
                stats.reconnects += 1
    except asyncio.TimeoutError:
        conn.close()
        stats.errors[case.name] += 1
        stats.error_kinds["timeout"] += 1
        return
    except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, asyncio.LimitOverrunError) as e:
        conn.close()
        stats.errors[case.name] += 1
        stats.error_kinds[type(e).__name__] += 1
        return
    finally:
        if held is not None:
            rotation.done(held)
    stats.lat(case.name, (time.monotonic() - t0) * 1000)
    if not keep:
        conn.close()
    stats.statuses[case.name][status] += 1
    if status >= 500:
        stats.errors[case.name] += 1
        stats.error_kinds[f"http {status}"] += 1
        return
    wrong = None
    if status != case.expect:
        wrong = f"status {status}, expected {case.expect}"
    elif status == 200 and identity is not None:
        try:
            echoed = json.loads(body)
        except ValueError:
            echoed = {}
        for key, want in identity.items():
            if echoed.get(key) != want:
                wrong = f"forwarded {key} {echoed.get(key)!r}, expected {want!r}"
                break
    if wrong:
        stats.wrong[case.name] += 1
        if len(stats.wrong_examples) < 20:
            stats.wrong_examples.append(f"{case.name}: {method} {target}: {wrong}; body {body[:200]!r}")


async def worker(host, port, cases, weights, stats, rotation, deadline, interval, timeout):
    """One keep-alive connection sending a request every `interval` seconds until `deadline`."""
    conn = Conn(host, port)
    nxt = time.monotonic() + random.random() * interval
    while nxt < deadline:
        now = time.monotonic()
        if nxt > now:
            await asyncio.sleep(nxt - now)
        elif now - nxt > 1.0:  # far behind (a stall): do not burst to catch up
            nxt = now
        nxt += interval
        await one(conn, random.choices(cases, weights)[0], stats, rotation, timeout)
    conn.close()


# ----------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


async def sampler(pid, metrics, samples, marks, t_start, deadline):
    """Samples at each mark (seconds since t_start) before the deadline."""
    for label, at in marks:
        delay = t_start + at - time.monotonic()
        if t_start + at >= deadline:
            break
        if delay > 0:
            await asyncio.sleep(delay)
        s = proc_sample(pid)
        m = await asyncio.get_running_loop().run_in_executor(None, metrics_sample, metrics)
        samples.append((label, time.monotonic() - t_start, s, m))


async def main_async(a):
    gw = loopback_only(a.gateway)
    issuer = loopback_only(a.issuer)
    metrics = loopback_only(a.metrics)
    host, port = urllib.parse.urlsplit(gw).hostname, urllib.parse.urlsplit(gw).port
    client = (a.client_id, a.client_secret)
    demo = ("demo", "demo-secret")

    # ---- tokens ------------------------------------------------------------------------------------------------
    print("driver: minting tokens", file=sys.stderr)
    subs = [f"soak-user-{i}" for i in range(8)]
    d_read = [(mint(issuer + "/token", {"grant_type": "client_credentials", "scope": "api:read", "sub": s}, demo), s)
              for s in subs]
    d_write = [(mint(issuer + "/token", {"grant_type": "client_credentials", "scope": "api:write", "sub": s}, demo), s)
               for s in subs[:4]]
    d_rw = mint(issuer + "/token", {"grant_type": "client_credentials", "scope": "api:read api:write"}, demo)
    o_read = [mint(issuer + "/token", {"grant_type": "client_credentials", "scope": "api:read", "format": "opaque"},
                   demo) for _ in range(4)]
    o_write = mint(issuer + "/token", {"grant_type": "client_credentials", "scope": "api:write", "format": "opaque"},
                   demo)
    b_live = [mint(gw + "/oauth2/token", {"grant_type": "client_credentials", "scope": "api:read"}, client)
              for _ in range(3)]
    b_write = mint(gw + "/oauth2/token", {"grant_type": "client_credentials", "scope": "api:write"}, client)
    b_revoked = []
    for _ in range(3):
        t = mint(gw + "/oauth2/token", {"grant_type": "client_credentials", "scope": "api:read"}, client)
        status, body = post_form(gw + "/oauth2/revoke", {"token": t}, client)
        if status != 200:
            raise RuntimeError(f"revoke failed: {status} {body!r}")
        b_revoked.append(t)
    rotation = Rotation(gw, client, b_live, b_revoked)

    # Fixed invalid tokens (each is cached as refused after its first use) and fresh ones (never seen before: a
    # signature check or an introspection call each time, and a new cache entry).
    tampered = [tamper_signature(t) for t, _ in d_read]
    escalated = tamper_claims(d_read[0][0], scope="api:read api:write admin")
    expired = tamper_claims(d_read[1][0], exp=int(time.time()) - 3600)
    foreign = tamper_claims(d_read[2][0], iss="http://127.0.0.1:1")
    none_alg = alg_none(d_read[3][0])
    garbage_fixed = [garbage() for _ in range(16)]

    def bearer(t):
        return [("Authorization", f"Bearer {t}")]

    def demo_id(sub):
        return {"subject": sub, "client_id": "demo"}

    own_id = {"client_id": a.client_id}

    def c_jwt_read():
        t, s = random.choice(d_read)
        return "GET", f"/api/items/{random.randrange(1000)}", bearer(t), demo_id(s), None

    def c_jwt_session():
        t, s = random.choice(d_read)
        return "GET", "/api/items", [("sessionID", t)], demo_id(s), None

    def c_jwt_write():
        t, s = random.choice(d_write)
        return "POST", "/api/items", bearer(t), demo_id(s), None

    def c_forged_identity():
        t, s = random.choice(d_read)
        return "GET", "/api/me", bearer(t) + [("X-Auth-Subject", "root"), ("X-Auth-Scopes", "admin")], demo_id(s), None

    def c_opaque_read():
        return "GET", "/api/items", [("sessionID", random.choice(o_read))], demo_id("demo"), None

    def c_opaque_write():
        return "DELETE", "/api/items/1", bearer(o_write), demo_id("demo"), None

    def c_own_read():
        t = rotation.pick_live()
        return "GET", "/api/items", bearer(t), own_id, t

    def c_own_revoked():
        return "GET", "/api/items", bearer(random.choice(rotation.revoked)), None, None

    def c_tampered():
        return "GET", "/api/items", bearer(random.choice(tampered)), None, None

    def c_tampered_fresh():
        return "GET", "/api/items", bearer(tamper_signature(random.choice(d_read)[0])), None, None

    def c_forged_claims():
        return "GET", "/api/items", bearer(random.choice([escalated, expired, foreign, none_alg])), None, None

    def c_garbage():
        return "GET", "/api/items", bearer(random.choice(garbage_fixed)), None, None

    def c_garbage_fresh():
        return "GET", "/api/items", [("sessionID", garbage())], None, None

    def c_missing():
        return "GET", "/api/items", [], None, None

    def c_read_cannot_write():
        t, _ = random.choice(d_read)
        return "POST", "/api/items", bearer(t), None, None

    def c_write_cannot_read():
        return "GET", "/api/items", [("sessionID", random.choice([o_write, b_write, d_write[0][0]]))], None, None

    def c_public():
        return "GET", "/public/hello", [], None, None

    def c_path_trick():
        return "GET", random.choice(["/public/../api/items", "/public/%2e%2e/api/items", "/public/..;/api/items",
                                     "//api//items"]), [], None, None

    def c_two_tokens():
        return "GET", "/api/items", bearer(d_rw) + [("sessionID", d_rw)], None, None

    def c_no_route():
        return "GET", "/nowhere", bearer(d_rw), None, None

    cases = [
        Case("JWT (demo issuer), read", 18, 200, c_jwt_read),
        Case("JWT in sessionID, read", 5, 200, c_jwt_session),
        Case("JWT, write", 5, 200, c_jwt_write),
        Case("JWT + forged X-Auth-*", 3, 200, c_forged_identity),
        Case("opaque (introspected), read", 10, 200, c_opaque_read),
        Case("opaque, write", 3, 200, c_opaque_write),
        Case("built-in AS token, read", 10, 200, c_own_read),
        Case("built-in AS token, revoked", 6, 401, c_own_revoked),
        Case("tampered signature (cached)", 5, 401, c_tampered),
        Case("tampered signature (fresh)", 2, 401, c_tampered_fresh),
        Case("forged claims / alg none", 3, 401, c_forged_claims),
        Case("garbage token (cached)", 4, 401, c_garbage),
        Case("garbage token (fresh)", 2, 401, c_garbage_fresh),
        Case("missing token", 6, 401, c_missing),
        Case("read scope, POST", 5, 403, c_read_cannot_write),
        Case("write scope, GET", 4, 403, c_write_cannot_read),
        Case("public route", 4, 200, c_public),
        Case("dot-segment trick, no token", 2, 401, c_path_trick),
        Case("two tokens", 1, 400, c_two_tokens),
        Case("no route", 2, 404, c_no_route),
    ]
    weights = [c.weight for c in cases]

    # Every case once, in order, before the load: a wrong setup stops here, not after minutes.
    stats = Stats()
    conn = Conn(host, port)
    for c in cases:
        await one(conn, c, stats, rotation, a.request_timeout)
    conn.close()
    if stats.wrong or sum(stats.errors.values()):
        for line in stats.wrong_examples:
            print("driver: pre-check:", line, file=sys.stderr)
        print(f"driver: pre-check failed: wrong {dict(stats.wrong)}, errors {dict(stats.error_kinds)}",
              file=sys.stderr)
        return 3

    # ---- load --------------------------------------------------------------------------------------------------
    stats = Stats()
    samples = []
    t_start = time.monotonic()
    deadline = t_start + a.seconds
    warmup = min(a.warmup, a.seconds / 4)
    marks = [("start", 0), ("warm-up", warmup)]
    marks += [(f"{m} min", 60 * m) for m in range(1, int(a.seconds // 60) + 1) if 60 * m > warmup + 1]
    samples.append(("before load", 0.0, proc_sample(a.pid), metrics_sample(metrics)))
    print(f"driver: {a.seconds:.0f} s at {a.rate} req/s over {a.connections} connections", file=sys.stderr)
    interval = a.connections / a.rate
    tasks = [asyncio.create_task(worker(host, port, cases, weights, stats, rotation, deadline, interval,
                                        a.request_timeout)) for _ in range(a.connections)]
    sample_task = asyncio.create_task(sampler(a.pid, metrics, samples, marks[1:], t_start, deadline))
    rot_task = asyncio.create_task(rotation.run(a.rotate_secs, deadline, 2.0))

    async def progress():
        last = 0
        while True:
            await asyncio.sleep(30)
            total = sum(stats.n.values())
            print(f"driver: {time.monotonic() - t_start:5.0f} s  {total} requests ({(total - last) / 30:.0f}/s)  "
                  f"wrong {sum(stats.wrong.values())}  errors {sum(stats.errors.values())}", file=sys.stderr)
            last = total

    prog = asyncio.create_task(progress())
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - t_start
    for t in (sample_task, rot_task, prog):
        t.cancel()
    await asyncio.sleep(0.5)
    end = proc_sample(a.pid)
    samples.append(("end", time.monotonic() - t_start, end, metrics_sample(metrics)))

    # ---- verdict -------------------------------------------------------------------------------------------------
    total = sum(stats.n.values())
    wrong = sum(stats.wrong.values())
    errors = sum(stats.errors.values())
    base = next((s for s in samples if s[0] == "warm-up" and s[2]), None) or next(s for s in samples if s[2])
    problems = []
    if end is None:
        problems.append("the gateway process is gone")
    else:
        rss_growth = (end[0] - base[2][0]) / 1024
        fd_growth = end[1] - base[2][1]
        if rss_growth > a.rss_tolerance_mb:
            problems.append(f"RSS grew {rss_growth:.1f} MB after warm-up (tolerance {a.rss_tolerance_mb} MB)")
        if fd_growth > a.fd_tolerance:
            problems.append(f"open fds grew by {fd_growth} after warm-up (tolerance {a.fd_tolerance})")
    if errors > a.error_tolerance * max(total, 1):
        problems.append(f"{errors} errors (over {a.error_tolerance:.2%} of requests)")
    if rotation.failures:
        problems.append(f"{rotation.failures} token rotation failures")
    if wrong:
        problems.insert(0, f"{wrong} WRONG DECISIONS")
    verdict = "PASS" if not problems else "FAIL: " + "; ".join(problems)

    out = []
    out.append("# tokengate soak: last run\n")
    out.append(f"Written by `scripts/soak.sh` ({time.strftime('%Y-%m-%d %H:%M:%S %Z')}). "
               f"**{verdict}**\n")
    out.append(f"- duration: {elapsed:.0f} s of load (warm-up {warmup:.0f} s), target {a.rate} req/s over "
               f"{a.connections} keep-alive connections, achieved **{total / elapsed:.0f} req/s**")
    out.append(f"- requests: **{total}**; wrong decisions: **{wrong}**; other errors: **{errors}**"
               + (f" ({', '.join(f'{k}: {v}' for k, v in stats.error_kinds.items())})" if errors else "")
               + f"; keep-alive reconnects: {stats.reconnects}")
    out.append(f"- built-in authorization server tokens: {rotation.minted} minted, "
               f"{rotation.revocations} revoked (one every {a.rotate_secs:.0f} s during the run, each refused at "
               f"once afterwards)")
    out.append(f"- tolerance after warm-up: RSS +{a.rss_tolerance_mb} MB, fds +{a.fd_tolerance}; "
               f"errors at most {a.error_tolerance:.2%} of requests")
    out.append(f"- gateway: {a.binary or 'tokengate'} (pid {a.pid})\n")
    out.append("| Case | Expected | Requests | Wrong | Errors | Statuses seen | p50 ms | p99 ms |")
    out.append("|---|---:|---:|---:|---:|---|---:|---:|")
    for c in cases:
        st = ", ".join(f"{k}: {v}" for k, v in sorted(stats.statuses[c.name].items()))
        lat = stats.latency[c.name]
        out.append(f"| {c.name} | {c.expect} | {stats.n[c.name]} | {stats.wrong[c.name]} | {stats.errors[c.name]} | "
                   f"{st} | {pct(lat, 0.5):.1f} | {pct(lat, 0.99):.1f} |")
    out.append(f"| **total** | | **{total}** | **{wrong}** | **{errors}** | | | |\n")
    out.append("| Sample | t (s) | RSS (MB) | open fds | JWT cache | opaque cache | introspection calls (200) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for label, t, s, m in samples:
        rss = f"{s[0] / 1024:.1f}" if s else "gone"
        fds = str(s[1]) if s else "gone"
        out.append(f"| {label} | {t:.0f} | {rss} | {fds} | {m.get('cache_jwt', '')} | {m.get('cache_opaque', '')} | "
                   f"{m.get('introspect_200', '')} |")
    if end and base:
        out.append(f"\nGrowth after warm-up (end minus `{base[0]}`): RSS {(end[0] - base[2][0]) / 1024:+.1f} MB, "
                   f"fds {end[1] - base[2][1]:+d}.")
    if stats.wrong_examples:
        out.append("\nWrong decisions (first 20):\n")
        out += [f"- {w}" for w in stats.wrong_examples]
    text = "\n".join(out) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if wrong:
        return 1
    return 0 if not problems else 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", required=True, help="e.g. http://127.0.0.1:18300")
    ap.add_argument("--issuer", required=True, help="the demo issuer, e.g. http://127.0.0.1:18304")
    ap.add_argument("--metrics", required=True, help="e.g. http://127.0.0.1:18301")
    ap.add_argument("--client-id", required=True, help="a machine app of the built-in authorization server")
    ap.add_argument("--client-secret", required=True)
    ap.add_argument("--pid", type=int, required=True, help="the gateway's process id")
    ap.add_argument("--binary", default="")
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--warmup", type=float, default=30)
    ap.add_argument("--rate", type=float, default=600, help="requests per second, all connections together")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rotate-secs", type=float, default=10)
    ap.add_argument("--request-timeout", type=float, default=10)
    ap.add_argument("--rss-tolerance-mb", type=float, default=20)
    ap.add_argument("--fd-tolerance", type=int, default=50)
    ap.add_argument("--error-tolerance", type=float, default=0.001, help="fraction of requests")
    ap.add_argument("--out", help="Markdown summary file")
    a = ap.parse_args()
    random.seed(os.environ.get("SOAK_SEED"))
    sys.exit(asyncio.run(main_async(a)))


if __name__ == "__main__":
    main()
