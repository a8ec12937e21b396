#!/usr/bin/env bash
# scripts/soak.sh: soak test of tokengate: steady mixed load for MINUTES, zero wrong decisions, no resource growth.
#
# Usage:
#   scripts/soak.sh [MINUTES]            # default 5
#
# Environment:
#   RATE=600            requests per second, all connections together (a few hundred is plenty on 2 shared cores)
#   CONNECTIONS=16      keep-alive connections
#   WARMUP=30           seconds of load before the baseline sample (at most a quarter of the run)
#   RSS_TOLERANCE_MB=20 FD_TOLERANCE=50   allowed growth after warm-up
#   SKIP_BUILD=1        use target/release/tokengate as it is (else `cargo build --release --bin tokengate`, a no-op
#                       when up to date, minutes when not; CARGO_BUILD_JOBS defaults to 1)
#   PORT_BASE=18300     ports PORT_BASE .. PORT_BASE+4 on 127.0.0.1
#   KEEP_TMP=1          keep the temp dir (config, database, gateway log); always kept when the run fails
#
# What it does: builds tokengate (release) if needed; writes a config in a temp dir (gateway with 2 threads in front
# of the demo API; the demo issuer as an external issuer for JWTs and, by introspection, opaque tokens; the built-in
# authorization server with a machine app made here with the CLI); starts it on loopback; runs
# scripts/soak/driver.py (Python 3 standard library), which drives the load, counts wrong decisions and errors, samples
# the gateway's RSS and open fds, prints a summary and writes it to scripts/soak/last-run.md. Stops everything it
# started on exit. Exit status: 0 pass, 1 wrong decisions, 2 resource growth or errors, other: setup failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
MINUTES=${1:-5}
RATE=${RATE:-600}
CONNECTIONS=${CONNECTIONS:-16}
WARMUP=${WARMUP:-30}
RSS_TOLERANCE_MB=${RSS_TOLERANCE_MB:-20}
FD_TOLERANCE=${FD_TOLERANCE:-50}
SKIP_BUILD=${SKIP_BUILD:-0}
KEEP_TMP=${KEEP_TMP:-0}
PORT_BASE=${PORT_BASE:-18300}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

P_GW=$PORT_BASE
P_METRICS=$((PORT_BASE + 1))
P_ADMIN=$((PORT_BASE + 2))
P_API=$((PORT_BASE + 3))
P_ISSUER=$((PORT_BASE + 4))

START=$SECONDS
log() { printf '[soak %4ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() {
    printf '[soak] ERROR: %s\n' "$*" >&2
    exit 10
}

[[ $MINUTES =~ ^[0-9]+([.][0-9]+)?$ ]] || die "MINUTES must be a number, got '$MINUTES'"
case "$RATE$CONNECTIONS$WARMUP$FD_TOLERANCE$PORT_BASE" in *[!0-9.]*) die "RATE, CONNECTIONS, WARMUP, FD_TOLERANCE, PORT_BASE must be numbers" ;; esac
command -v python3 >/dev/null || die "python3 is needed (the driver uses its standard library only)"
command -v curl >/dev/null || die "curl is needed"

# ---------------------------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------------------------
TG=$ROOT/target/release/tokengate
if [ "$SKIP_BUILD" = 1 ]; then
    [ -x "$TG" ] || die "SKIP_BUILD=1 but $TG does not exist"
else
    command -v cmake >/dev/null || die "cmake is needed to build Pingora's zlib: apt-get install -y cmake"
    log "cargo build --release --bin tokengate (a no-op when up to date; minutes from scratch)"
    (cd "$ROOT" && cargo build --release --bin tokengate) >&2 || die "cargo build --release failed"
fi

# ---------------------------------------------------------------------------------------------------------------
# Temp dir, clean-up
# ---------------------------------------------------------------------------------------------------------------
T=$(mktemp -d /tmp/tokengate-soak.XXXXXX)
TG_PID=""
DRIVER_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then kill -TERM "$DRIVER_PID" 2>/dev/null; fi
    if [ -n "$TG_PID" ] && kill -0 "$TG_PID" 2>/dev/null; then
        kill -INT "$TG_PID" 2>/dev/null
        local i
        for i in $(seq 1 100); do
            kill -0 "$TG_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$TG_PID" 2>/dev/null && kill -KILL "$TG_PID" 2>/dev/null
    fi
    [ -n "$TG_PID" ] && wait "$TG_PID" 2>/dev/null
    [ -n "$DRIVER_PID" ] && wait "$DRIVER_PID" 2>/dev/null
    if [ $rc -ne 0 ]; then
        printf '[soak] exit %s; config, database and gateway log kept in %s\n' "$rc" "$T" >&2
        if [ -s "$T/tokengate.log" ]; then
            printf -- '--- tail of %s\n' "$T/tokengate.log" >&2
            tail -n 20 "$T/tokengate.log" >&2
        fi
    elif [ "$KEEP_TMP" = 1 ]; then
        printf '[soak] temp dir kept: %s\n' "$T" >&2
    else
        rm -rf "$T"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $P_GW $P_METRICS $P_ADMIN $P_API $P_ISSUER; do
    port_open "$p" && die "port $p is already in use (another run? set PORT_BASE)"
done

# ---------------------------------------------------------------------------------------------------------------
# Config, an app on the built-in authorization server, start
# ---------------------------------------------------------------------------------------------------------------
CFG=$T/tokengate.toml
cat >"$CFG" <<EOF
# Written by scripts/soak.sh.
[server]
listen = "127.0.0.1:$P_GW"
threads = 2
pid_file = "$T/tokengate.pid"
upgrade_sock = "$T/upgrade.sock"
graceful_shutdown_timeout_secs = 1

[metrics]
listen = "127.0.0.1:$P_METRICS"

[upstream]
url = "http://127.0.0.1:$P_API"

[auth]
token_sources = ["authorization", "sessionid"]
default = "deny"

# The demo issuer (src/demo.rs), as an external issuer: ES256 JWTs found by discovery, opaque tokens introspected.
[[auth.issuers]]
issuer = "http://127.0.0.1:$P_ISSUER"
audiences = ["http://127.0.0.1:$P_GW/"]
algorithms = ["ES256"]
require_typ = "at+jwt"

[auth.issuers.introspection]
client_id = "gateway"
client_secret = "gateway-secret"
cache_ttl_secs = 300
negative_cache_ttl_secs = 10
timeout_ms = 2000

[authorization_server]
enabled = true
issuer = "http://127.0.0.1:$P_GW"
database = "$T/tokengate.db"
scopes = ["api:read", "api:write", "offline_access"]

[admin]
listen = "127.0.0.1:$P_ADMIN"

[[routes]]
path = "/public/"
auth = "none"

[[routes]]
path = "/api/"
methods = ["GET", "HEAD"]
scopes = ["api:read"]

[[routes]]
path = "/api/"
methods = ["POST", "PUT", "PATCH", "DELETE"]
scopes = ["api:write"]

[demo]
enabled = true
upstream_listen = "127.0.0.1:$P_API"
issuer_listen = "127.0.0.1:$P_ISSUER"
EOF
"$TG" check-config --config "$CFG" >&2 || die "tokengate check-config refused $CFG"
printf 'soak-admin-password-%s' "$RANDOM$RANDOM" | "$TG" users add admin --admin --password-stdin --config "$CFG" \
    >"$T/users.json" 2>&1 || die "tokengate users add failed: $(cat "$T/users.json")"
"$TG" apps create --type machine --name soak --config "$CFG" >"$T/app.json" 2>"$T/app.err" ||
    die "tokengate apps create failed: $(cat "$T/app.err")"
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
CLIENT_ID=$(json_field "$T/app.json" client_id) || die "no client_id in $(cat "$T/app.json")"
CLIENT_SECRET=$(json_field "$T/app.json" client_secret) || die "no client_secret in the apps create output"

log "starting tokengate on 127.0.0.1:$P_GW (metrics :$P_METRICS, demo API :$P_API, demo issuer :$P_ISSUER)"
RUST_LOG=${RUST_LOG:-warn} "$TG" serve --config "$CFG" >"$T/tokengate.log" 2>&1 &
TG_PID=$!
for i in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_METRICS/readyz")" = 200 ] && break
    kill -0 "$TG_PID" 2>/dev/null || die "tokengate exited: $(tail -n 5 "$T/tokengate.log")"
    [ "$i" = 300 ] && die "tokengate /readyz is not 200 after 30 s"
    sleep 0.1
done
log "ready (pid $TG_PID)"

# ---------------------------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------------------------
SECS=$(python3 -c "print(float('$MINUTES') * 60)")
rc=0
# Bounded twice: the driver stops sending at SECS, and `timeout` ends it if it ever hangs.
timeout --signal=TERM --kill-after=10 "$(python3 -c "print(int($SECS) + 120)")" \
    python3 "$HERE/soak/driver.py" \
    --gateway "http://127.0.0.1:$P_GW" --issuer "http://127.0.0.1:$P_ISSUER" --metrics "http://127.0.0.1:$P_METRICS" \
    --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" --pid "$TG_PID" --binary "$TG" \
    --seconds "$SECS" --warmup "$WARMUP" --rate "$RATE" --connections "$CONNECTIONS" \
    --rss-tolerance-mb "$RSS_TOLERANCE_MB" --fd-tolerance "$FD_TOLERANCE" \
    --out "$HERE/soak/last-run.md" &
DRIVER_PID=$!
wait "$DRIVER_PID" || rc=$?
DRIVER_PID=""
kill -0 "$TG_PID" 2>/dev/null || { log "tokengate is no longer running"; [ $rc -eq 0 ] && rc=2; }
if grep -qi 'panicked' "$T/tokengate.log"; then
    log "the gateway log has a panic:"
    grep -i -m 5 -A 2 'panicked' "$T/tokengate.log" >&2
    [ $rc -eq 0 ] && rc=2
fi
case $rc in
0) log "PASS (summary in scripts/soak/last-run.md)" ;;
1) log "FAIL: wrong decisions (see scripts/soak/last-run.md)" ;;
2) log "FAIL: resource growth, errors or a gateway failure (see scripts/soak/last-run.md)" ;;
*) log "FAIL: driver exit $rc" ;;
esac
exit $rc
