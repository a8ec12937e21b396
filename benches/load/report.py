#!/usr/bin/env python3
"""Parsing and reporting for benches/load.sh (standard library only).

    report.py parse WRK_OUTPUT            one tab-separated line: req_s p50_ms p99_ms requests non2xx socket_errors
    report.py parse-h2load OUTPUT LOG     the same line from h2load's summary and its --log-file
    report.py report RAW_TSV META_TSV OUT_MD OUT_SVG

RAW_TSV: a header line, then one line per run: round, target, req_s, p50_ms, p99_ms, requests, non2xx, socket_errors,
cpu_us_per_req (the server's CPU time during the run divided by its requests; absent in older files).
META_TSV: key<TAB>value lines (machine, versions, command, RSS...), written by load.sh.
"""
import re
import statistics
import sys
from xml.sax.saxutils import escape

# Targets in the order of the report, with their labels.
TARGETS = [
    ("1", "upstream", "nginx upstream, direct"),
    ("2", "nginx-proxy", "nginx reverse proxy (baseline)"),
    ("3a", "apache-jwt", "Apache + mod_auth_openidc, JWT"),
    ("3b", "apache-opaque", "Apache + mod_auth_openidc, opaque (shm cache)"),
    ("4", "tg-none", "tokengate, auth = none"),
    ("5", "tg-jwt", "tokengate, JWT (one token)"),
    ("6", "tg-opaque", "tokengate, opaque (cache hits)"),
    ("7", "tg-jwt-10k", "tokengate, {tokens} JWTs in rotation"),
    ("8", "tg-token", "tokengate token endpoint (client_credentials)"),
    ("9", "nginx-tls", "nginx TLS proxy, keep-alive"),
    ("10", "tg-tls-none", "tokengate TLS, auth = none, keep-alive"),
    ("11", "tg-tls-jwt", "tokengate TLS, JWT, keep-alive"),
    ("12", "nginx-tls-new", "nginx TLS proxy, new handshake per request"),
    ("13", "tg-tls-new", "tokengate TLS, JWT, new handshake per request"),
    ("14", "h2-nginx", "nginx TLS proxy, HTTP/2 (h2load)"),
    ("15", "h2-tg", "tokengate TLS, JWT, HTTP/2 (h2load)"),
    ("16", "tg-log-off", "tokengate, JWT, access log off"),
    ("17", "tg-log-on", "tokengate, JWT, access log on (JSON to a file)"),
]
LABEL = {t: label for _, t, label in TARGETS}
NUMBER = {t: n for n, t, _ in TARGETS}

# (numerator, denominator, what): ratios of req/s measured in the same round.
COMPARISONS = [
    ("tg-jwt", "tg-none", "tokengate JWT / tokengate none"),
    ("tg-opaque", "tg-none", "tokengate opaque / tokengate none"),
    ("tg-jwt-10k", "tg-none", "tokengate 10k JWTs / tokengate none"),
    ("tg-none", "nginx-proxy", "tokengate none / nginx proxy"),
    ("tg-jwt", "apache-jwt", "tokengate JWT / Apache JWT"),
    ("tg-opaque", "apache-opaque", "tokengate opaque / Apache opaque"),
    ("apache-jwt", "nginx-proxy", "Apache JWT / nginx proxy"),
    ("apache-opaque", "nginx-proxy", "Apache opaque / nginx proxy"),
    ("tg-tls-none", "nginx-tls", "tokengate TLS none / nginx TLS"),
    ("tg-tls-jwt", "nginx-tls", "tokengate TLS JWT / nginx TLS"),
    ("tg-tls-new", "nginx-tls-new", "tokengate TLS JWT / nginx TLS, new handshake per request"),
    ("h2-tg", "h2-nginx", "tokengate h2 JWT / nginx h2"),
    ("tg-tls-jwt", "tg-jwt", "tokengate TLS JWT / tokengate plain JWT"),
    ("tg-log-on", "tg-log-off", "tokengate access log on / off"),
]

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(s):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", s)
    if not m:
        raise ValueError(f"unparsable latency {s!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse(path):
    text = open(path).read()
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    reqs = re.search(r"^\s+(\d+) requests in", text, re.M)
    if not (rps and p50 and p99 and reqs):
        sys.exit(f"report.py: cannot parse wrk output {path}:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = sum(int(x) for x in sock.groups()) if sock else 0
    print("\t".join([
        rps.group(1), f"{to_ms(p50.group(1)):.3f}", f"{to_ms(p99.group(1)):.3f}", reqs.group(1),
        non2xx.group(1) if non2xx else "0", str(errors),
    ]))


def parse_h2load(path, log_path):
    text = open(path).read()
    rps = re.search(r"^finished in [0-9.]+\w+, ([0-9.]+) req/s", text, re.M)
    reqs = re.search(r"^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, "
                     r"(\d+) timeout", text, re.M)
    codes = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if not (rps and reqs and codes):
        sys.exit(f"report.py: cannot parse h2load output {path}:\n{text}")
    durations = sorted(int(l.split("\t")[2]) for l in open(log_path) if l.count("\t") >= 2)
    if not durations:
        sys.exit(f"report.py: no request in h2load's log {log_path}")
    pick = lambda q: durations[min(len(durations) - 1, int(q * len(durations)))] / 1000.0
    non2xx = sum(int(x) for x in codes.groups()[1:])
    errors = int(reqs.group(5)) + int(reqs.group(6))
    print("\t".join([rps.group(1), f"{pick(0.5):.3f}", f"{pick(0.99):.3f}", reqs.group(2), str(non2xx), str(errors)]))


def fmt_rps(x):
    return f"{x:,.0f}"


def fmt_ratio(x):
    return f"{x:.2f}x"


def report(raw_path, meta_path, out_md, out_svg):
    rows = [l.rstrip("\n").split("\t") for l in open(raw_path) if l.strip()]
    header, rows = rows[0], rows[1:]
    runs = {}  # target -> {round: dict}
    for r in rows:
        d = dict(zip(header, r))
        runs.setdefault(d["target"], {})[int(d["round"])] = {
            "rps": float(d["req_s"]), "p50": float(d["p50_ms"]), "p99": float(d["p99_ms"]),
            "requests": int(d["requests"]), "non2xx": int(d["non2xx"]), "errors": int(d["socket_errors"]),
            "cpu": float(d["cpu_us_per_req"]) if d.get("cpu_us_per_req") else None,
        }
    meta = []
    for l in open(meta_path):
        if "\t" in l:
            k, v = l.rstrip("\n").split("\t", 1)
            meta.append((k, v))
    m = dict(meta)
    tokens = int(m.get("tokens", "10000"))
    for i, (n, t, label) in enumerate(TARGETS):
        TARGETS[i] = (n, t, label.format(tokens=f"{tokens:,}"))
        LABEL[t] = TARGETS[i][2]

    def ratios(num, den):
        out = []
        for rnd, a in runs.get(num, {}).items():
            b = runs.get(den, {}).get(rnd)
            if b and b["rps"] > 0:
                out.append(a["rps"] / b["rps"])
        return out

    rounds = sorted({rnd for t in runs.values() for rnd in t})
    lines = ["# tokengate load test", ""]
    lines.append(f"Generated by `benches/load.sh` on {m.get('date', '?')}. Command: `{m.get('command', '?')}`.")
    lines.append("")
    lines.append("## Machine")
    lines.append("")
    for k in ["nproc", "cpu", "memory", "kernel", "tokengate", "nginx", "apache", "mod_auth_openidc", "wrk", "rustc", "load"]:
        if k in m:
            lines.append(f"- **{k}**: {m[k]}")
    lines.append("")
    lines.append("## Set-up")
    lines.append("")
    lines.append(
        f"Everything on 127.0.0.1 of this one machine, client included: `wrk --latency -t{m.get('threads', '?')} "
        f"-c{m.get('connections', '?')} -d{m.get('duration', '?')}`, {len(rounds)} interleaved round(s) (each round "
        "runs every target once, in the order of the table). Every target forwards to the same upstream, an nginx "
        "answering a static 200 with a 38-byte JSON body. tokengate runs 2 worker threads, the nginx proxy 2 workers, "
        "Apache 2 processes x 64 threads (mpm_event). Targets 1, 2 and 4 receive the same `Authorization: Bearer` "
        "header as target 5 (ignored), so that every target reads the same request. Before measuring, each target "
        "was checked with curl: 200 with the valid token, 401 without; also 401 with a tampered JWT (3a, 5) or an unknown opaque token (6), "
        "and 403 with a token lacking `api:read` (3a, 3b, 5, 6), so the numbers measure real checks.")
    lines.append("")
    lines.append("- **1**: the upstream directly. **2**: nginx as a reverse proxy with upstream keepalive: the baseline.")
    lines.append("- **3a / 3b**: Apache httpd + mod_auth_openidc (`AuthType oauth20`), one virtual host verifying JWTs "
                 "(of tokengate's built-in authorization server) against the JWKS, one introspecting opaque tokens "
                 "(of the demo issuer) with its shm cache; `Require claim` for iss, aud and scope; JWKS and "
                 "introspection through an nginx TLS front (throw-away CA).")
    lines.append("- **4**: tokengate, a route with `auth = \"none\"`. **5**: tokengate verifying one JWT of its "
                 "built-in authorization server (ES256; after the first request a verified-token cache hit). "
                 "**6**: one opaque token of the demo issuer, introspected once, then cache hits.")
    lines.append(f"- **7**: {tokens:,} distinct valid JWTs in rotation (a wrk Lua script picks the next one per "
                 "request). Each token is a cache miss, with a signature check, only on its first use: see the "
                 "cache counters below.")
    lines.append("- **8**: the built-in token endpoint issuing `client_credentials` tokens (form POST with Basic "
                 "auth), tokens per second.")
    lines.append("- **9–15**: TLS (one RSA 2048 certificate of a throw-away CA, the same for both servers): nginx "
                 "terminating TLS and proxying with upstream keepalive (2 workers), and tokengate's own TLS listener "
                 "(2 threads), with keep-alive (9–11), with `Connection: close` so that every request makes a new "
                 "connection and TLS handshake, as wrk's OpenSSL client does it (12, 13), and over HTTP/2 by ALPN with "
                 f"h2load ({m.get('connections', '?')} connections x 10 concurrent streams, 14, 15; latencies from its "
                 "per-request log).")
    lines.append("- **16 / 17**: two more tokengate instances, alike (a JWT route trusting the main instance's "
                 "authorization server, no authorization server of their own) but for the access log: off, and on "
                 "(JSON lines to a file).")
    lines.append("- **CPU µs/req**: the server's own CPU time during the run (user + system, every process or thread "
                 "of it, from /proc) divided by the requests it answered: the proxy alone, not the upstream nor the "
                 "client. tokengate's includes its idle background work (demo issuer, key refresh).")
    lines.append("")
    lines.append("## Results")
    lines.append("")
    lines.append("req/s: median over rounds (min–max). Ratio: to the nginx proxy (target 2) measured in the same "
                 "round, median of the per-round ratios. Latencies: median over rounds of each run's p50 and p99.")
    lines.append("")
    lines.append("| # | target | req/s | min–max | vs nginx proxy | CPU µs/req | p50 ms | p99 ms | non-2xx / socket errors |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    medians = []
    for n, t, label in TARGETS:
        if t not in runs:
            continue
        rs = [x["rps"] for x in runs[t].values()]
        med = statistics.median(rs)
        medians.append((n, t, label, med, min(rs), max(rs)))
        rat = ratios(t, "nginx-proxy")
        non2xx = sum(x["non2xx"] for x in runs[t].values())
        errs = sum(x["errors"] for x in runs[t].values())
        cpus = [x["cpu"] for x in runs[t].values() if x["cpu"] is not None]
        lines.append(
            f"| {n} | {label} | {fmt_rps(med)} | {fmt_rps(min(rs))}–{fmt_rps(max(rs))} | "
            f"{fmt_ratio(statistics.median(rat)) if rat else '—'} | "
            f"{f'{statistics.median(cpus):.1f}' if cpus else '—'} | "
            f"{statistics.median(x['p50'] for x in runs[t].values()):.2f} | "
            f"{statistics.median(x['p99'] for x in runs[t].values()):.2f} | "
            f"{'**' if non2xx or errs else ''}{non2xx} / {errs}{'**' if non2xx or errs else ''} |")
    lines.append("")
    lines.append("Ratios of req/s measured in the same round (median of the per-round ratios, min–max):")
    lines.append("")
    lines.append("| comparison | ratio | min–max |")
    lines.append("|---|---:|---:|")
    for num, den, what in COMPARISONS:
        rat = ratios(num, den)
        if rat:
            lines.append(f"| {what} ({NUMBER[num]} / {NUMBER[den]}) | {fmt_ratio(statistics.median(rat))} | "
                         f"{fmt_ratio(min(rat))}–{fmt_ratio(max(rat))} |")
    lines.append("")
    lines.append("CPU per request, same comparisons (ratio of the medians over rounds; above 1: the first costs more):")
    lines.append("")
    lines.append("| comparison | CPU µs/req | ratio |")
    lines.append("|---|---:|---:|")
    for num, den, what in COMPARISONS:
        a = [x["cpu"] for x in runs.get(num, {}).values() if x["cpu"] is not None]
        b = [x["cpu"] for x in runs.get(den, {}).values() if x["cpu"] is not None]
        if a and b and statistics.median(b) > 0:
            ma, mb = statistics.median(a), statistics.median(b)
            lines.append(f"| {what} ({NUMBER[num]} / {NUMBER[den]}) | {ma:.1f} / {mb:.1f} | {fmt_ratio(ma / mb)} |")
    lines.append("")
    lines.append("## Memory and caches")
    lines.append("")
    for prefix in ("rss", "cache"):
        for k, v in meta:
            if k.startswith(prefix):
                lines.append(f"- {v}")
    lines.append("")
    lines.append("## Per round")
    lines.append("")
    lines.append("| round | " + " | ".join(NUMBER[t] for _, t, _ in TARGETS if t in runs) + " |")
    lines.append("|---|" + "---:|" * sum(1 for _, t, _ in TARGETS if t in runs))
    for rnd in rounds:
        cells = [fmt_rps(runs[t][rnd]["rps"]) if rnd in runs[t] else "—" for _, t, _ in TARGETS if t in runs]
        lines.append(f"| {rnd} | " + " | ".join(cells) + " |")
    lines.append("")
    notes = [v for k, v in meta if k == "note"]
    if notes:
        lines.append("## Notes")
        lines.append("")
        for v in notes:
            lines.append(f"- {v}")
        lines.append("")
    name = out_md.rsplit("/", 1)[-1][: -len(".md")]
    lines.append(f"Chart: [{name}.svg]({name}.svg). Raw runs: [{name}-raw.tsv]({name}-raw.tsv).")
    lines.append("")
    open(out_md, "w").write("\n".join(lines))
    open(out_svg, "w").write(svg(medians, m))
    print("\n".join(lines))


def svg(medians, m):
    """A horizontal bar chart of median req/s per target, min–max as a whisker."""
    label_w, bar_w, row_h, top, right = 380, 470, 30, 52, 110
    width = label_w + bar_w + right
    height = top + row_h * len(medians) + 40
    vmax = max([x[5] for x in medians] + [1])
    scale = bar_w / vmax
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">'
        f'Requests per second (median over rounds; whisker: min–max)</text>',
        f'<text x="{width / 2}" y="40" text-anchor="middle" fill="#555">'
        f'{escape(m.get("cpu", ""))}, {escape(m.get("nproc", "?"))} cores; wrk -t{escape(m.get("threads", "?"))} '
        f'-c{escape(m.get("connections", "?"))} -d{escape(m.get("duration", "?"))}</text>',
    ]
    # Grid lines.
    step = nice_step(vmax)
    v = 0.0
    while v <= vmax * 1.0001:
        x = label_w + v * scale
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + row_h * len(medians)}" '
                   f'stroke="#e5e5e5"/>')
        out.append(f'<text x="{x:.1f}" y="{top + row_h * len(medians) + 16}" text-anchor="middle" '
                   f'fill="#777" font-size="11">{v:,.0f}</text>')
        v += step
    colours = {"upstream": "#9e9e9e", "nginx-proxy": "#4caf50", "apache-jwt": "#e07b39",
               "apache-opaque": "#e07b39", "nginx-tls": "#4caf50", "nginx-tls-new": "#4caf50", "h2-nginx": "#4caf50"}
    for i, (n, t, label, med, lo, hi) in enumerate(medians):
        y = top + i * row_h
        colour = colours.get(t, "#3f6fb5")
        out.append(f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end">'
                   f'{escape(n)}. {escape(label)}</text>')
        out.append(f'<rect x="{label_w}" y="{y + 5}" width="{max(med * scale, 1):.1f}" height="{row_h - 10}" '
                   f'fill="{colour}"/>')
        yc = y + row_h / 2
        out.append(f'<line x1="{label_w + lo * scale:.1f}" y1="{yc:.1f}" x2="{label_w + hi * scale:.1f}" '
                   f'y2="{yc:.1f}" stroke="#222" stroke-width="1.5"/>')
        for xv in (lo, hi):
            out.append(f'<line x1="{label_w + xv * scale:.1f}" y1="{yc - 5:.1f}" x2="{label_w + xv * scale:.1f}" '
                       f'y2="{yc + 5:.1f}" stroke="#222" stroke-width="1.5"/>')
        out.append(f'<text x="{label_w + hi * scale + 6:.1f}" y="{yc + 4:.1f}">{med:,.0f}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def nice_step(vmax):
    raw = vmax / 5
    mag = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    for f in (1, 2, 2.5, 5, 10):
        if raw <= f * mag:
            return f * mag
    return 10 * mag


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "parse":
        parse(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "parse-h2load":
        parse_h2load(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 6 and sys.argv[1] == "report":
        report(*sys.argv[2:])
    else:
        sys.exit(__doc__)
