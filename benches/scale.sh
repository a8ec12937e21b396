#!/usr/bin/env bash
# benches/scale.sh: the built-in authorization server on SQLite and on PostgreSQL, side by side on this machine.
#
#   benches/scale.sh                 # writes benches/results/scale.md
#
# Environment:
#   TOKENGATE_BENCH_POSTGRES   a server whose user may create databases
#                              (default postgres://tokengate:tokengate@127.0.0.1:5432/postgres)
#   ROUNDS=3 DURATION=10s CONNECTIONS=16 REVOCATIONS=50
#   SKIP_BUILD=1               use target/release/tokengate as it is
#
# What it does:
#   - starts three release-built `tokengate serve`: S on a SQLite file, A and B on one fresh PostgreSQL database;
#   - makes a machine app on each database (CLI);
#   - token endpoint (client_credentials: secret check, an ES256 signature, the secret's last use written): wrk on S
#     and on A in interleaved rounds, medians;
#   (the edge is not measured: with its own tokens it reads keys and revocations from memory, never the database);
#   - revocation propagation: REVOCATIONS times, a token issued by A and cached by B's edge is revoked through A,
#     and B is polled every millisecond until it refuses the token; the distribution of that delay.
# Needs wrk, python3 and psql (Debian: wrk, python3, postgresql-client).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TG=$ROOT/target/release/tokengate
PG=${TOKENGATE_BENCH_POSTGRES:-postgres://tokengate:tokengate@127.0.0.1:5432/postgres}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
REVOCATIONS=${REVOCATIONS:-50}
OUT=$ROOT/benches/results/scale.md

log() { printf '[scale] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in wrk python3 psql curl; do command -v "$tool" >/dev/null || die "$tool is missing"; done
[ -n "${SKIP_BUILD:-}" ] || (cd "$ROOT" && cargo build --release --bin tokengate) >&2 || die "cargo build failed"

T=$(mktemp -d /tmp/tokengate-scale.XXXXXX)
DB=tg_bench_$RANDOM$RANDOM
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$PG" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT
psql -q "$PG" -c "CREATE DATABASE $DB" || die "cannot create a database on $PG"
PG_DB=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PG" "$DB")

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
P_UP=$(free_port)
# The protected API: a static 200 (for the propagation check), with Nagle off so that each answer is immediate.
python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$P_UP" &
PIDS+=($!)

instance() { # name database: writes $T/<name>.toml, sets P_<name>
    local name=$1 database=$2 port admin
    port=$(free_port); admin=$(free_port)
    printf -v "P_$name" '%s' "$port"
    cat >"$T/$name.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
threads = 2
pid_file = "$T/$name.pid"
upgrade_sock = "$T/$name.sock"
[metrics]
listen = "off"
[upstream]
url = "http://127.0.0.1:$P_UP"
[authorization_server]
enabled = true
issuer = "https://tokengate.bench"
database = "$database"
[admin]
listen = "127.0.0.1:$admin"
[[routes]]
path = "/api/"
scopes = ["api:read"]
EOF
}
instance S "$T/s.db"
instance A "$PG_DB"
instance B "$PG_DB"
S_CFG=$T/S.toml
A_CFG=$T/A.toml
app() { # config -> "client_id:secret" in base64
    RUST_LOG=warn "$TG" apps create --type machine --name bench --config "$1" |
        python3 -c 'import json, sys, base64; a = json.load(sys.stdin); print(base64.b64encode((a["client_id"] + ":" + a["client_secret"]).encode()).decode())'
}
S_BASIC=$(app "$S_CFG")
PG_BASIC=$(app "$A_CFG")
for n in S A B; do
    cfg=$T/$n.toml
    RUST_LOG=warn "$TG" serve --config "$cfg" >"$T/$n.log" 2>&1 &
    PIDS+=($!)
done
wait_up() {
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$1/oauth2/jwks" && return 0; sleep 0.1; done
    die "tokengate on :$1 did not start"
}
wait_up "$P_S"; wait_up "$P_A"; wait_up "$P_B"

rps() { # wrk args... -> requests/s
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "$@" | awk '/^Requests\/sec:/ {print $2}'
}
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
: >"$T/rounds.tsv"
for r in $(seq 1 "$ROUNDS"); do
    for target in S A; do
        port_var=P_$target; port=${!port_var}
        if [ "$target" = S ]; then basic=$S_BASIC; else basic=$PG_BASIC; fi
        issue=$(rps -s "$ROOT/benches/load/token.lua" -H "Authorization: Basic $basic" "http://127.0.0.1:$port/oauth2/token")
        log "round $r $target: token endpoint $issue/s"
        printf '%s\t%s\t%s\n' "$r" "$target" "$issue" >>"$T/rounds.tsv"
    done
done
col() { awk -F'\t' -v t="$1" -v c="$2" '$2 == t {print $c}' "$T/rounds.tsv" | median; }
S_ISSUE=$(col S 3); A_ISSUE=$(col A 3)

log "revocation propagation, $REVOCATIONS times"
PROPAGATION=$(python3 - "$P_A" "$P_B" "$PG_BASIC" "$REVOCATIONS" <<'EOF'
import http.client, json, sys, time, urllib.parse
a, b, basic, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
import socket
ca, cb = http.client.HTTPConnection("127.0.0.1", a), http.client.HTTPConnection("127.0.0.1", b)
for c in (ca, cb):
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def call(conn, method, path, body=None, headers={}):
    conn.request(method, path, body, headers)
    r = conn.getresponse()
    return r.status, r.read()
form = {"Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"}
delays = []
for _ in range(n):
    _, body = call(ca, "POST", "/oauth2/token", "grant_type=client_credentials&scope=api%3Aread", form)
    token = json.loads(body)["access_token"]
    assert call(cb, "GET", "/api/x", headers={"Authorization": "Bearer " + token})[0] == 200
    status, _ = call(ca, "POST", "/oauth2/revoke", "token=" + urllib.parse.quote(token), form)
    assert status == 200, status
    revoked = time.perf_counter()
    while call(cb, "GET", "/api/x", headers={"Authorization": "Bearer " + token})[0] != 401:
        assert time.perf_counter() - revoked < 5, "not refused after 5 s"
        time.sleep(0.001)
    delays.append((time.perf_counter() - revoked) * 1000)
delays.sort()
q = lambda p: delays[min(len(delays) - 1, int(p * len(delays)))]
print(f"{delays[0]:.1f}\t{q(0.5):.1f}\t{q(0.95):.1f}\t{delays[-1]:.1f}")
EOF
)
IFS=$'\t' read -r PMIN P50 P95 PMAX <<<"$PROPAGATION"

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
mkdir -p "$(dirname "$OUT")"
{
    echo "# The authorization server on SQLite and on PostgreSQL"
    echo
    echo "\`benches/scale.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
    echo "PostgreSQL $(psql -tA "$PG" -c 'SHOW server_version'), release build; wrk -t2 -c$CONNECTIONS -d$DURATION, $ROUNDS interleaved rounds,"
    echo "medians. Everything runs on this one machine: the numbers compare the backends, not the machine's limits."
    echo
    echo "| | SQLite | PostgreSQL | PostgreSQL / SQLite |"
    echo "|---|---:|---:|---:|"
    echo "| token endpoint, client_credentials (tokens/s) | $S_ISSUE | $A_ISSUE | $(ratio "$A_ISSUE" "$S_ISSUE")x |"
    echo
    echo "Revocation through instance A until instance B refuses the token (PostgreSQL, LISTEN/NOTIFY),"
    echo "$REVOCATIONS times: best $PMIN ms, median $P50 ms, 95th percentile $P95 ms, worst $PMAX ms (B polled every"
    echo "millisecond; the time starts when A's answer to the revocation arrives)."
    echo
    echo "Rounds (round, target S = SQLite or A = PostgreSQL, tokens/s):"
    echo
    echo '```'
    cat "$T/rounds.tsv"
    echo '```'
} >"$OUT"
cat "$OUT"
