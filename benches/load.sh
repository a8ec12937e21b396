#!/usr/bin/env bash
# benches/load.sh: load test of tokengate next to nginx and Apache httpd + mod_auth_openidc, on this one machine.
#
# Usage (as root, from anywhere):
#   benches/load.sh                          # default: wrk -t2 -c32 -d10s, 3 interleaved rounds: ~5 min + the build
#   DURATION=5s ROUNDS=1 benches/load.sh     # a quick check: ~1 min + the build
# (the build: nothing when target/release/tokengate is up to date, ~2 min after an edit, ~6 min from scratch)
#
# Environment:
#   DURATION=10s     wrk -d per run            CONNECTIONS=32   wrk -c        THREADS=2   wrk -t
#   ROUNDS=3         interleaved rounds        TOKENS=10000     distinct JWTs for target 7
#   SKIP_BUILD=1     use target/release/tokengate as it is (else `cargo build --release`, a no-op when up to date)
#   KEEP_TMP=1       keep the temp dir (configs, logs, wrk outputs); it is always kept when the script fails
#   PORT_BASE=18100  the fixed ports used: PORT_BASE .. PORT_BASE+13, all on 127.0.0.1
#   OUT=load         the report's name: benches/results/$OUT.md, $OUT.svg, $OUT-raw.tsv
#   TARGETS="..."    measure only these targets (names as in the list below, e.g. TARGETS="nginx-tls tg-tls-jwt")
#
# What it does:
#   - installs what is missing from Debian (nginx apache2 libapache2-mod-auth-openidc wrk nghttp2-client openssl curl python3; cmake
#     to build), `apt-get update` first only when something is missing, without starting the packages' services;
#   - builds tokengate in release mode if needed;
#   - starts, each with its own config, pid file and error log in a temp dir (never the system's configs or services):
#     an nginx upstream (static 200), an nginx reverse proxy (the baseline), tokengate (built-in authorization server
#     + demo issuer, benches/load/tokengate.toml.in), an nginx TLS front with a throw-away CA (for mod_auth_openidc,
#     which wants https JWKS and introspection URLs), and Apache httpd + mod_auth_openidc (benches/load/apache.conf.in);
#   - gets tokens: a machine app `bench` on the built-in server (CLI), a JWT from its token endpoint, an opaque token
#     from the demo issuer, TOKENS distinct JWTs for target 7 (benches/load/mint.py);
#   - checks every target once with curl (200 with the valid token, 401 without) and stops on any surprise;
#   - runs wrk --latency on every target, ROUNDS times, interleaved:
#       1 upstream direct   2 nginx proxy (baseline)   3a Apache JWT   3b Apache opaque (introspection, shm cache)
#       4 tokengate auth=none   5 tokengate JWT   6 tokengate opaque (cache hits)   7 tokengate 10,000 JWTs in rotation
#       8 tokengate token endpoint, client_credentials issuance
#       9 nginx TLS proxy   10 tokengate TLS auth=none   11 tokengate TLS JWT (keep-alive)
#       12 nginx TLS, new handshake per request   13 tokengate TLS JWT, new handshake per request
#       14 nginx HTTP/2 over TLS (h2load)   15 tokengate HTTP/2 over TLS, JWT (h2load)
#       16 / 17 two more tokengate instances, JWT, alike but for the access log: off / on (JSON lines to a file)
#     and reads each server's CPU time (utime + stime of its processes, /proc) around every run: CPU per request;
#   - writes benches/results/load.md (table, ratios, machine, tokengate RSS after target 7), load.svg (bar chart)
#     and load-raw.tsv (every run); stops everything it started on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
LOAD=$HERE/load
RESULTS=$HERE/results

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
TOKENS=${TOKENS:-10000}
SKIP_BUILD=${SKIP_BUILD:-0}
OUT=${OUT:-load}
[[ $OUT =~ ^[A-Za-z0-9_-]+$ ]] || { echo "OUT must be a plain file name" >&2; exit 1; }
KEEP_TMP=${KEEP_TMP:-0}
PORT_BASE=${PORT_BASE:-18100}

P_UPSTREAM=$((PORT_BASE + 0))
P_NGINX_PROXY=$((PORT_BASE + 1))
P_APACHE_JWT=$((PORT_BASE + 2))
P_APACHE_OPAQUE=$((PORT_BASE + 3))
P_TG=$((PORT_BASE + 4))
P_TG_METRICS=$((PORT_BASE + 5))
P_TG_ADMIN=$((PORT_BASE + 6))
P_DEMO_API=$((PORT_BASE + 7))
P_DEMO_ISSUER=$((PORT_BASE + 8))
P_TLS=$((PORT_BASE + 9))
P_NGINX_TLS=$((PORT_BASE + 10))
P_TG_TLS=$((PORT_BASE + 11))
P_TG_LOG_OFF=$((PORT_BASE + 12))
P_TG_LOG_ON=$((PORT_BASE + 13))
ALL_PORTS="$P_TG_LOG_OFF $P_TG_LOG_ON $P_UPSTREAM $P_NGINX_PROXY $P_APACHE_JWT $P_APACHE_OPAQUE $P_TG $P_TG_METRICS $P_TG_ADMIN $P_DEMO_API $P_DEMO_ISSUER $P_TLS $P_NGINX_TLS $P_TG_TLS"

START=$SECONDS
log() { printf '[load %4ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() {
    printf '\n[load] ERROR: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "run as root: packages are installed with apt-get and Apache starts as root (workers as www-data)"
case "$CONNECTIONS$THREADS$ROUNDS$TOKENS" in *[!0-9]*) die "CONNECTIONS, THREADS, ROUNDS and TOKENS must be integers" ;; esac
[[ $DURATION =~ ^[0-9]+[smh]?$ ]] || die "DURATION must look like 10s"
[ "$CONNECTIONS" -ge "$THREADS" ] || die "CONNECTIONS must be at least THREADS"
[ "$ROUNDS" -ge 1 ] || die "ROUNDS must be at least 1"

# ---------------------------------------------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------------------------------------------
install_missing() {
    local need=()
    command -v nginx >/dev/null || need+=(nginx)
    [ -x /usr/sbin/apache2 ] || need+=(apache2)
    [ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || need+=(libapache2-mod-auth-openidc)
    command -v wrk >/dev/null || need+=(wrk)
    command -v h2load >/dev/null || need+=(nghttp2-client)
    command -v openssl >/dev/null || need+=(openssl)
    command -v curl >/dev/null || need+=(curl)
    command -v python3 >/dev/null || need+=(python3)
    if [ "$SKIP_BUILD" != 1 ] && ! command -v cmake >/dev/null; then need+=(cmake); fi
    [ ${#need[@]} -eq 0 ] && return 0
    log "installing ${need[*]}"
    # Keep the packages' own services (nginx and Apache on port 80) from being started by the install, with Debian's
    # policy-rc.d mechanism, only if no policy is in place already; it is removed right after.
    local policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
    fi
    local rc=0
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >&2 || rc=$?
    [ -n "$policy" ] && rm -f "$policy"
    [ $rc -eq 0 ] || die "apt-get install ${need[*]} failed"
}
install_missing

# ---------------------------------------------------------------------------------------------------------------
# tokengate
# ---------------------------------------------------------------------------------------------------------------
TG=$ROOT/target/release/tokengate
if [ "$SKIP_BUILD" = 1 ]; then
    [ -x "$TG" ] || die "SKIP_BUILD=1 but $TG does not exist"
else
    log "cargo build --release (a no-op when up to date; several minutes from scratch)"
    (cd "$ROOT" && cargo build --release --bin tokengate) >&2 || die "cargo build --release failed"
fi

# ---------------------------------------------------------------------------------------------------------------
# Temp dir, clean-up
# ---------------------------------------------------------------------------------------------------------------
T=$(mktemp -d /tmp/tokengate-load.XXXXXX)
chmod 755 "$T" # Apache's workers (www-data) read the CA bundle
TG_PID=""
TG_LOG_PIDS=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "$TG_PID" ] && kill -0 "$TG_PID" 2>/dev/null; then
        kill -INT "$TG_PID" 2>/dev/null
    fi
    local p
    for p in "${TG_LOG_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
    local pidfile pid
    for pidfile in "$T/apache/httpd.pid" "$T/nginx-tls/nginx.pid" "$T/nginx-tlsproxy/nginx.pid" "$T/nginx-proxy/nginx.pid" "$T/nginx-upstream/nginx.pid"; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    done
    # Wait (at most 10 s) for every process started here to be gone.
    local i
    for i in $(seq 1 100); do
        local alive=0
        if [ -n "$TG_PID" ] && kill -0 "$TG_PID" 2>/dev/null; then alive=1; fi
        for pidfile in "$T/apache/httpd.pid" "$T/nginx-tls/nginx.pid" "$T/nginx-tlsproxy/nginx.pid" "$T/nginx-proxy/nginx.pid" "$T/nginx-upstream/nginx.pid"; do
            [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && alive=1
        done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    if [ -n "$TG_PID" ] && kill -0 "$TG_PID" 2>/dev/null; then kill -KILL "$TG_PID" 2>/dev/null; fi
    [ -n "$TG_PID" ] && wait "$TG_PID" 2>/dev/null
    if [ $rc -ne 0 ]; then
        printf '[load] failed (exit %s); configs, logs and wrk outputs kept in %s\n' "$rc" "$T" >&2
        local f
        for f in "$T"/tokengate/tokengate.log "$T"/apache/error.log "$T"/nginx-*/error.log; do
            [ -s "$f" ] && { printf -- '--- tail of %s\n' "$f" >&2; tail -n 15 "$f" >&2; }
        done
    elif [ "$KEEP_TMP" = 1 ]; then
        printf '[load] temp dir kept: %s\n' "$T" >&2
    else
        rm -rf "$T"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port name [pid to watch]
    local i
    for i in $(seq 1 300); do
        port_open "$1" && return 0
        if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then die "$2 exited before listening on port $1"; fi
        sleep 0.1
    done
    die "$2 does not accept connections on 127.0.0.1:$1 after 30 s"
}
for p in $ALL_PORTS; do
    port_open "$p" && die "port $p is already in use (a previous run still going? another service?); set PORT_BASE"
done

render() { # template output
    sed -e "s#@TMP@#$T#g" \
        -e "s#@P_UPSTREAM@#$P_UPSTREAM#g" -e "s#@P_NGINX_PROXY@#$P_NGINX_PROXY#g" \
        -e "s#@P_APACHE_JWT@#$P_APACHE_JWT#g" -e "s#@P_APACHE_OPAQUE@#$P_APACHE_OPAQUE#g" \
        -e "s#@P_TG@#$P_TG#g" -e "s#@P_TG_METRICS@#$P_TG_METRICS#g" -e "s#@P_TG_ADMIN@#$P_TG_ADMIN#g" \
        -e "s#@P_DEMO_API@#$P_DEMO_API#g" -e "s#@P_DEMO_ISSUER@#$P_DEMO_ISSUER#g" -e "s#@P_TLS@#$P_TLS#g" \
        -e "s#@P_NGINX_TLS@#$P_NGINX_TLS#g" -e "s#@P_TG_TLS@#$P_TG_TLS#g" \
        "$1" >"$2"
    if grep -q '@[A-Z_]*@' "$2"; then die "unfilled placeholder in $2: $(grep -o '@[A-Z_]*@' "$2" | head -1)"; fi
}

mkdir -p "$T"/{ca,tokengate,tokengate-log-off,tokengate-log-on,apache/run,nginx-upstream,nginx-proxy,nginx-tls,nginx-tlsproxy,wrk}

# ---------------------------------------------------------------------------------------------------------------
# Throw-away CA and a certificate for 127.0.0.1 (the TLS front)
# ---------------------------------------------------------------------------------------------------------------
log "making a throw-away CA"
(
    cd "$T/ca"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=tokengate-load throw-away CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext
    chmod 644 ca.pem
) >"$T/ca/openssl.log" 2>&1 || die "openssl failed: $(cat "$T/ca/openssl.log")"
chmod 755 "$T/ca"

# ---------------------------------------------------------------------------------------------------------------
# nginx: upstream, baseline proxy
# ---------------------------------------------------------------------------------------------------------------
start_nginx() { # name port
    render "$LOAD/nginx-$1.conf.in" "$T/nginx-$1/nginx.conf"
    nginx -t -q -p "$T/nginx-$1" -e "$T/nginx-$1/error.log" -c "$T/nginx-$1/nginx.conf" 2>"$T/nginx-$1/test.log" ||
        die "nginx-$1 config test failed: $(cat "$T/nginx-$1/test.log")"
    nginx -p "$T/nginx-$1" -e "$T/nginx-$1/error.log" -c "$T/nginx-$1/nginx.conf" || die "nginx-$1 did not start"
    wait_port "$2" "nginx-$1"
}
log "starting the nginx upstream (:$P_UPSTREAM) and the nginx proxy (:$P_NGINX_PROXY)"
start_nginx upstream "$P_UPSTREAM"
start_nginx proxy "$P_NGINX_PROXY"
log "starting the nginx TLS proxy (:$P_NGINX_TLS, HTTP/1.1 and h2)"
start_nginx tlsproxy "$P_NGINX_TLS"

# ---------------------------------------------------------------------------------------------------------------
# tokengate: config, a machine app on the built-in authorization server, serve
# ---------------------------------------------------------------------------------------------------------------
TGC=$T/tokengate/tokengate.toml
render "$LOAD/tokengate.toml.in" "$TGC"
"$TG" check-config --config "$TGC" >&2 || die "tokengate check-config refused $TGC"
printf 'bench-admin-password-%s' "$RANDOM$RANDOM" | "$TG" users add admin --admin --password-stdin --config "$TGC" \
    >"$T/tokengate/users.json" 2>&1 || die "tokengate users add failed: $(cat "$T/tokengate/users.json")"
"$TG" apps create --type machine --name bench --config "$TGC" >"$T/tokengate/app.json" 2>"$T/tokengate/app.err" ||
    die "tokengate apps create failed: $(cat "$T/tokengate/app.err")"
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
CLIENT_ID=$(json_field "$T/tokengate/app.json" client_id) || die "no client_id in $(cat "$T/tokengate/app.json")"
CLIENT_SECRET=$(json_field "$T/tokengate/app.json" client_secret) || die "no client_secret in the apps create output"
BASIC=$(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)

log "starting tokengate (:$P_TG, metrics :$P_TG_METRICS, demo issuer :$P_DEMO_ISSUER)"
RUST_LOG=${RUST_LOG:-warn} "$TG" serve --config "$TGC" >"$T/tokengate/tokengate.log" 2>&1 &
TG_PID=$!
wait_port "$P_TG" tokengate "$TG_PID"
wait_port "$P_TG_METRICS" "tokengate metrics" "$TG_PID"
wait_port "$P_TG_TLS" "tokengate TLS" "$TG_PID"
for i in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_TG_METRICS/readyz")" = 200 ] && break
    kill -0 "$TG_PID" 2>/dev/null || die "tokengate exited"
    [ "$i" = 300 ] && die "tokengate /readyz is not 200 after 30 s: $(curl -s "http://127.0.0.1:$P_TG_METRICS/readyz")"
    sleep 0.1
done
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$TG_PID/status"; }
metric() { # series with labels, as printed by /metrics; 0 when absent
    curl -s "http://127.0.0.1:$P_TG_METRICS/metrics" | awk -v s="$1" 'index($0, s " ") == 1 {print $2; f=1} END {if (!f) print 0}'
}
RSS_IDLE=$(rss_kb)

# Targets 16 and 17: two more instances, alike but for the access log.
for which in off on; do
    name=tokengate-log-$which
    port=$P_TG_LOG_OFF
    [ $which = on ] && port=$P_TG_LOG_ON
    sed -e "s#@PORT@#$port#g" -e "s#@NAME@#$name#g" "$LOAD/tokengate-log.toml.in" >"$T/$name/in.toml"
    render "$T/$name/in.toml" "$T/$name/tokengate.toml"
    if [ $which = on ]; then
        printf '\n[access_log]\npath = "%s"\nformat = "json"\n' "$T/$name/access.log" >>"$T/$name/tokengate.toml"
    fi
    RUST_LOG=${RUST_LOG:-warn} "$TG" serve --config "$T/$name/tokengate.toml" >"$T/$name/tokengate.log" 2>&1 &
    TG_LOG_PIDS+=($!)
    wait_port "$port" "$name" "$!"
done

# ---------------------------------------------------------------------------------------------------------------
# nginx TLS front (for Apache), Apache + mod_auth_openidc
# ---------------------------------------------------------------------------------------------------------------
log "starting the nginx TLS front (:$P_TLS)"
start_nginx tls "$P_TLS"
curl -sf --cacert "$T/ca/ca.pem" -o /dev/null "https://127.0.0.1:$P_TLS/oauth2/jwks" ||
    die "the TLS front does not serve tokengate's JWKS at https://127.0.0.1:$P_TLS/oauth2/jwks"

log "starting Apache httpd + mod_auth_openidc (JWT :$P_APACHE_JWT, opaque :$P_APACHE_OPAQUE)"
chown www-data:www-data "$T/apache/run"
render "$LOAD/apache.conf.in" "$T/apache/httpd.conf"
apache2 -t -f "$T/apache/httpd.conf" >"$T/apache/test.log" 2>&1 || die "Apache config test failed: $(cat "$T/apache/test.log")"
apache2 -f "$T/apache/httpd.conf" -k start >"$T/apache/start.log" 2>&1 ||
    die "Apache did not start: $(cat "$T/apache/start.log" "$T/apache/error.log" 2>/dev/null)"
wait_port "$P_APACHE_JWT" "Apache (JWT vhost)"
wait_port "$P_APACHE_OPAQUE" "Apache (opaque vhost)"

# ---------------------------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------------------------
log "getting tokens"
curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=api:read \
    "http://127.0.0.1:$P_TG/oauth2/token" >"$T/jwt.json" || die "the built-in token endpoint refused client_credentials"
JWT=$(json_field "$T/jwt.json" access_token)
curl -sf -u demo:demo-secret -d grant_type=client_credentials -d scope=api:read -d format=opaque \
    "http://127.0.0.1:$P_DEMO_ISSUER/token" >"$T/opaque.json" || die "the demo issuer refused to issue an opaque token"
OPAQUE=$(json_field "$T/opaque.json" access_token)
# Tokens without api:read, to check that the scope rules are enforced (403 insufficient_scope).
curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=api:write \
    "http://127.0.0.1:$P_TG/oauth2/token" >"$T/jwt-write.json" || die "the built-in token endpoint refused scope api:write"
JWT_WRITE=$(json_field "$T/jwt-write.json" access_token)
curl -sf -u demo:demo-secret -d grant_type=client_credentials -d scope=api:write -d format=opaque \
    "http://127.0.0.1:$P_DEMO_ISSUER/token" >"$T/opaque-write.json" || die "the demo issuer refused scope api:write"
OPAQUE_WRITE=$(json_field "$T/opaque-write.json" access_token)
case "$JWT" in eyJ*.*.*) ;; *) die "the built-in server's access token is not a JWT: $JWT" ;; esac
case "$OPAQUE" in *.*) die "the demo issuer's opaque token looks like a JWT" ;; esac
# The same JWT with its signature's last characters changed.
BAD_JWT="${JWT%????}$(if [ "${JWT: -4}" = AAAA ]; then echo BBBB; else echo AAAA; fi)"

log "minting $TOKENS distinct JWTs for target 7"
python3 "$LOAD/mint.py" "http://127.0.0.1:$P_TG/oauth2/token" "$CLIENT_ID" "$CLIENT_SECRET" "$TOKENS" "$T/tokens.txt" api:read ||
    die "minting tokens failed"

# ---------------------------------------------------------------------------------------------------------------
# Checks: 200 with the valid token, 401 without, before any measurement
# ---------------------------------------------------------------------------------------------------------------
expect() { # code what curl-args...
    local want=$1 what=$2 got
    shift 2
    got=$(curl -s -o "$T/check.body" -w '%{http_code}' --max-time 10 "$@") || got="curl failed"
    if [ "$got" != "$want" ]; then
        die "check failed: $what: expected $want, got $got; body: $(head -c 400 "$T/check.body" 2>/dev/null)"
    fi
    log "  ok $want  $what"
}
U_API=/api/items
AUTH_JWT="Authorization: Bearer $JWT"
AUTH_OPAQUE="Authorization: Bearer $OPAQUE"
log "checking every target"
expect 200 "1 upstream" -H "$AUTH_JWT" "http://127.0.0.1:$P_UPSTREAM$U_API"
expect 200 "2 nginx proxy" -H "$AUTH_JWT" "http://127.0.0.1:$P_NGINX_PROXY$U_API"
expect 200 "3a Apache JWT, valid token" -H "$AUTH_JWT" "http://127.0.0.1:$P_APACHE_JWT$U_API"
expect 401 "3a Apache JWT, no token" "http://127.0.0.1:$P_APACHE_JWT$U_API"
expect 401 "3a Apache JWT, tampered signature" -H "Authorization: Bearer $BAD_JWT" "http://127.0.0.1:$P_APACHE_JWT$U_API"
expect 403 "3a Apache JWT, token without api:read" -H "Authorization: Bearer $JWT_WRITE" "http://127.0.0.1:$P_APACHE_JWT$U_API"
expect 200 "3b Apache opaque, valid token" -H "$AUTH_OPAQUE" "http://127.0.0.1:$P_APACHE_OPAQUE$U_API"
expect 401 "3b Apache opaque, no token" "http://127.0.0.1:$P_APACHE_OPAQUE$U_API"
expect 403 "3b Apache opaque, token without api:read" -H "Authorization: Bearer $OPAQUE_WRITE" "http://127.0.0.1:$P_APACHE_OPAQUE$U_API"
expect 200 "4 tokengate auth=none" -H "$AUTH_JWT" "http://127.0.0.1:$P_TG/none/items"
expect 200 "5 tokengate JWT, valid token" -H "$AUTH_JWT" "http://127.0.0.1:$P_TG$U_API"
expect 401 "5 tokengate JWT, no token" "http://127.0.0.1:$P_TG$U_API"
expect 401 "5 tokengate JWT, tampered signature" -H "Authorization: Bearer $BAD_JWT" "http://127.0.0.1:$P_TG$U_API"
expect 403 "5 tokengate JWT, token without api:read" -H "Authorization: Bearer $JWT_WRITE" "http://127.0.0.1:$P_TG$U_API"
expect 200 "6 tokengate opaque, valid token" -H "$AUTH_OPAQUE" "http://127.0.0.1:$P_TG$U_API"
expect 401 "6 tokengate opaque, no token" "http://127.0.0.1:$P_TG$U_API"
expect 403 "6 tokengate opaque, token without api:read" -H "Authorization: Bearer $OPAQUE_WRITE" "http://127.0.0.1:$P_TG$U_API"
expect 401 "6 tokengate opaque, unknown token" -H "Authorization: Bearer not-a-token-that-was-issued" "http://127.0.0.1:$P_TG$U_API"
expect 200 "7 tokengate, first JWT of the file" -H "Authorization: Bearer $(head -n 1 "$T/tokens.txt")" "http://127.0.0.1:$P_TG$U_API"
expect 200 "7 tokengate, last JWT of the file" -H "Authorization: Bearer $(tail -n 1 "$T/tokens.txt")" "http://127.0.0.1:$P_TG$U_API"
expect 401 "7 tokengate, no token" "http://127.0.0.1:$P_TG$U_API"
expect 200 "8 token endpoint, client credentials" -H "Authorization: Basic $BASIC" -d grant_type=client_credentials -d scope=api:read "http://127.0.0.1:$P_TG/oauth2/token"
expect 401 "8 token endpoint, no credentials" -d grant_type=client_credentials -d scope=api:read "http://127.0.0.1:$P_TG/oauth2/token"
CA=(--cacert "$T/ca/ca.pem")
expect 200 "9 nginx TLS proxy" "${CA[@]}" -H "$AUTH_JWT" "https://127.0.0.1:$P_NGINX_TLS$U_API"
expect 200 "10 tokengate TLS auth=none" "${CA[@]}" "https://127.0.0.1:$P_TG_TLS/none/items"
expect 200 "11 tokengate TLS JWT, valid token" "${CA[@]}" -H "$AUTH_JWT" "https://127.0.0.1:$P_TG_TLS$U_API"
expect 401 "11 tokengate TLS JWT, no token" "${CA[@]}" "https://127.0.0.1:$P_TG_TLS$U_API"
expect 403 "11 tokengate TLS JWT, token without api:read" "${CA[@]}" -H "Authorization: Bearer $JWT_WRITE" "https://127.0.0.1:$P_TG_TLS$U_API"
expect 200 "16 tokengate, access log off" -H "$AUTH_JWT" "http://127.0.0.1:$P_TG_LOG_OFF$U_API"
expect 401 "16 tokengate, access log off, no token" "http://127.0.0.1:$P_TG_LOG_OFF$U_API"
expect 200 "17 tokengate, access log on" -H "$AUTH_JWT" "http://127.0.0.1:$P_TG_LOG_ON$U_API"
sleep 0.5
grep -q '"status":200' "$T/tokengate-log-on/access.log" || die "target 17 wrote no access-log line"
for p in "$P_NGINX_TLS" "$P_TG_TLS"; do
    v=$(curl -s -o /dev/null -w '%{http_version}' --http2 "${CA[@]}" -H "$AUTH_JWT" "https://127.0.0.1:$p$U_API")
    [ "$v" = 2 ] || die "check failed: HTTP/2 by ALPN on :$p answered HTTP/$v"
    log "  ok h2   14/15 HTTP/2 by ALPN on :$p"
done
RSS_CHECKED=$(rss_kb)

# ---------------------------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------------------------
RAW=$T/load-raw.tsv
printf 'round\ttarget\treq_s\tp50_ms\tp99_ms\trequests\tnon2xx\tsocket_errors\tcpu_us_per_req\n' >"$RAW"
META=$T/meta.tsv
: >"$META"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

# The processes of each server, for its CPU time: a master and its workers, or tokengate's one process.
server_pids() { # pidfile
    local master
    master=$(cat "$1")
    echo "$master" $(pgrep -P "$master")
}
cpu_ticks() { # pids...: utime + stime of each (all its threads), in clock ticks
    local total=0 pid f
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        # Fields 14 and 15, counted after the command name (which may hold spaces) closes with ')'.
        f=$(sed 's/^.*) //' "/proc/$pid/stat")
        set -- $f
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}
pids_of() { # target: the server whose CPU a run of it costs (the upstream's own CPU is not counted for a proxy)
    case $1 in
    upstream) server_pids "$T/nginx-upstream/nginx.pid" ;;
    nginx-proxy) server_pids "$T/nginx-proxy/nginx.pid" ;;
    apache-*) server_pids "$T/apache/httpd.pid" ;;
    nginx-tls* | h2-nginx) server_pids "$T/nginx-tlsproxy/nginx.pid" ;;
    tg-log-off) echo "${TG_LOG_PIDS[0]}" ;;
    tg-log-on) echo "${TG_LOG_PIDS[1]}" ;;
    *) echo "$TG_PID" ;;
    esac
}
CLK_TCK=$(getconf CLK_TCK)

run() { # round target url [wrk options...] [-- script args...]   (target h2-*: h2load instead of wrk)
    local round=$1 target=$2 url=$3 out line opts=() args=() pids before after
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && { shift; args=(-- "$@"); }
    out=$T/wrk/r$round-$target.txt
    read -r -a pids <<<"$(pids_of "$target")"
    before=$(cpu_ticks "${pids[@]}")
    case $target in
    h2-*)
        # h2load: as many connections as wrk, 10 concurrent streams on each, for the same duration.
        h2load -t"$THREADS" -c"$CONNECTIONS" -m10 -D"$DURATION" --log-file="$out.log" "${opts[@]}" "$url" >"$out" 2>&1 ||
            die "h2load failed on $target: $(cat "$out")"
        line=$(python3 "$LOAD/report.py" parse-h2load "$out" "$out.log")
        ;;
    *)
        wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 5s "${opts[@]}" "$url" "${args[@]}" >"$out" 2>&1 ||
            die "wrk failed on $target: $(cat "$out")"
        line=$(python3 "$LOAD/report.py" parse "$out")
        ;;
    esac
    after=$(cpu_ticks "${pids[@]}")
    IFS=$'\t' read -r rps p50 p99 requests non2xx errs <<<"$line"
    cpu_us=$(python3 -c "print(f'{($after - $before) * 1e6 / $CLK_TCK / max($requests, 1):.1f}')")
    printf '%s\t%s\t%s\t%s\n' "$round" "$target" "$line" "$cpu_us" >>"$RAW"
    log "round $round  $(printf '%-14s' "$target") $(printf '%10.0f' "$rps") req/s  p50 ${p50} ms  p99 ${p99} ms  CPU ${cpu_us} us/req$([ "$non2xx$errs" = 00 ] || echo "  NON-2XX $non2xx, SOCKET ERRORS $errs")"
    sleep 1
}

tls_calls() { grep -c . "$T/nginx-tls/access.log" 2>/dev/null || true; }
TLS_CALLS_BEFORE=$(tls_calls)
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
ALL_TARGETS="upstream nginx-proxy apache-jwt apache-opaque tg-none tg-jwt tg-opaque tg-jwt-10k tg-token nginx-tls tg-tls-none tg-tls-jwt nginx-tls-new tg-tls-new h2-nginx h2-tg tg-log-off tg-log-on"
TARGET_LIST=${TARGETS:-$ALL_TARGETS}
for t in $TARGET_LIST; do
    [[ " $ALL_TARGETS " == *" $t "* ]] || die "unknown target $t (known: $ALL_TARGETS)"
done
RSS_AFTER_7=()
JWT_HIT='tokengate_token_cache_requests_total{kind="jwt",result="hit"}'
JWT_MISS='tokengate_token_cache_requests_total{kind="jwt",result="miss"}'
log "measuring: $ROUNDS round(s) of $(wc -w <<<"$TARGET_LIST") targets, -t$THREADS -c$CONNECTIONS -d$DURATION each"
for round in $(seq 1 "$ROUNDS"); do
    for target in $TARGET_LIST; do
        case $target in
        upstream) run "$round" "$target" "http://127.0.0.1:$P_UPSTREAM$U_API" -H "$AUTH_JWT" ;;
        nginx-proxy) run "$round" "$target" "http://127.0.0.1:$P_NGINX_PROXY$U_API" -H "$AUTH_JWT" ;;
        apache-jwt) run "$round" "$target" "http://127.0.0.1:$P_APACHE_JWT$U_API" -H "$AUTH_JWT" ;;
        apache-opaque) run "$round" "$target" "http://127.0.0.1:$P_APACHE_OPAQUE$U_API" -H "$AUTH_OPAQUE" ;;
        tg-none) run "$round" "$target" "http://127.0.0.1:$P_TG/none/items" -H "$AUTH_JWT" ;;
        tg-jwt) run "$round" "$target" "http://127.0.0.1:$P_TG$U_API" -H "$AUTH_JWT" ;;
        tg-opaque) run "$round" "$target" "http://127.0.0.1:$P_TG$U_API" -H "$AUTH_OPAQUE" ;;
        tg-jwt-10k)
            hits0=$(metric "$JWT_HIT")
            miss0=$(metric "$JWT_MISS")
            run "$round" "$target" "http://127.0.0.1:$P_TG$U_API" -s "$LOAD/rotate.lua" -- "$T/tokens.txt"
            hits=$(python3 -c "print(int(float('$(metric "$JWT_HIT")') - float('$hits0')))")
            miss=$(python3 -c "print(int(float('$(metric "$JWT_MISS")') - float('$miss0')))")
            rss=$(rss_kb)
            entries=$(metric 'tokengate_token_cache_entries{kind="jwt"}')
            RSS_AFTER_7+=("$rss")
            meta "cache_r$round" "round $round, target 7: JWT cache $miss misses (each a signature check) and $hits hits during the run; $entries JWT cache entries after it"
            log "  after target 7: VmRSS $((rss / 1024)) MiB, JWT cache $entries entries, $miss misses / $hits hits in this run"
            ;;
        tg-token) run "$round" "$target" "http://127.0.0.1:$P_TG/oauth2/token" -s "$LOAD/token.lua" -H "Authorization: Basic $BASIC" ;;
        nginx-tls) run "$round" "$target" "https://127.0.0.1:$P_NGINX_TLS$U_API" -H "$AUTH_JWT" ;;
        tg-tls-none) run "$round" "$target" "https://127.0.0.1:$P_TG_TLS/none/items" -H "$AUTH_JWT" ;;
        tg-tls-jwt) run "$round" "$target" "https://127.0.0.1:$P_TG_TLS$U_API" -H "$AUTH_JWT" ;;
        nginx-tls-new) run "$round" "$target" "https://127.0.0.1:$P_NGINX_TLS$U_API" -H "$AUTH_JWT" -H "Connection: close" ;;
        tg-tls-new) run "$round" "$target" "https://127.0.0.1:$P_TG_TLS$U_API" -H "$AUTH_JWT" -H "Connection: close" ;;
        h2-nginx) run "$round" "$target" "https://127.0.0.1:$P_NGINX_TLS$U_API" -H "$AUTH_JWT" ;;
        h2-tg) run "$round" "$target" "https://127.0.0.1:$P_TG_TLS$U_API" -H "$AUTH_JWT" ;;
        tg-log-off) run "$round" "$target" "http://127.0.0.1:$P_TG_LOG_OFF$U_API" -H "$AUTH_JWT" ;;
        tg-log-on) run "$round" "$target" "http://127.0.0.1:$P_TG_LOG_ON$U_API" -H "$AUTH_JWT" ;;
        esac
    done
done

# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------
git_commit() { # without running git: read .git/HEAD and the ref it names
    local g=$ROOT/.git head ref
    if [ -f "$g" ]; then g=$(sed -n 's/^gitdir: //p' "$g"); fi
    [ -f "$g/HEAD" ] || { echo unknown; return; }
    head=$(cat "$g/HEAD")
    if [[ $head == ref:* ]]; then
        ref=${head#ref: }
        local common=$g
        [ -f "$g/commondir" ] && common=$(cd "$g" && cd "$(cat commondir)" && pwd)
        if [ -f "$g/$ref" ]; then cat "$g/$ref"
        elif [ -f "$common/$ref" ]; then cat "$common/$ref"
        elif [ -f "$common/packed-refs" ]; then awk -v r="$ref" '$2 == r {print $1}' "$common/packed-refs"
        else echo unknown; fi
    else
        echo "$head"
    fi
}
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta command "DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS ROUNDS=$ROUNDS TOKENS=$TOKENS benches/load.sh"
meta threads "$THREADS"
meta connections "$CONNECTIONS"
meta duration "$DURATION"
meta tokens "$TOKENS"
meta nproc "$(nproc)"
meta cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
meta memory "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta tokengate "$("$TG" --version 2>/dev/null | head -1), commit $(git_commit | cut -c1-12) (working tree as it was, uncommitted edits included), binary built $(date -u -r "$TG" '+%Y-%m-%d %H:%M UTC')"
meta nginx "$(nginx -v 2>&1 | sed 's/^nginx version: //')"
meta apache "$(apache2 -v | sed -n 's/^Server version: //p') (mpm_event)"
meta mod_auth_openidc "$(dpkg-query -W -f '${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo '?')"
meta wrk "$(wrk -v 2>&1 | head -1 | sed 's/ Copyright.*//')"
meta h2load "$(h2load --version 2>&1 | head -1)"
meta load "load average $LOADAVG when the measurements started (other work on the machine shows here)"
meta rustc "$(rustc --version 2>/dev/null || echo '?')"
meta rss_idle "tokengate VmRSS after start and setup ($TOKENS tokens minted for target 7, token caches nearly empty): $((RSS_IDLE / 1024)) MiB; after the curl checks: $((RSS_CHECKED / 1024)) MiB"
meta rss_after_7 "tokengate VmRSS after target 7 (JWT cache full of ~$TOKENS verified tokens), per round: $(for r in "${RSS_AFTER_7[@]}"; do printf '%s MiB ' "$((r / 1024))"; done)"
meta rss_final "tokengate VmRSS at the end of the run: $(($(rss_kb) / 1024)) MiB"
meta note "Target 7 costs a cache miss and a signature check only on each token's first use: in a run of N requests over $TOKENS tokens, at most $TOKENS are misses (round 1), and later rounds are all hits (tokens live 1 h, the cache holds 100,000). The cache counters above give the exact split."
meta note "Apache's calls through the TLS front (JWKS fetches and introspections) during the measurements: $(($(tls_calls) - TLS_CALLS_BEFORE)) (its JWKS and introspection results are cached, so this stays near 0)."
meta note "The client (wrk, $THREADS threads), the server under test and the upstream share the machine's $(nproc) cores: the numbers compare the targets with each other on this machine, they are not capacities."
if awk -F'\t' 'NR > 1 && ($7 > 0 || $8 > 0) {f = 1} END {exit !f}' "$RAW"; then
    meta note "Some runs had non-2xx answers or socket errors (see the table): those numbers do not measure successful requests only."
fi

mkdir -p "$RESULTS"
cp "$RAW" "$RESULTS/$OUT-raw.tsv"
python3 "$LOAD/report.py" report "$RAW" "$META" "$RESULTS/$OUT.md" "$RESULTS/$OUT.svg"
log "wrote $RESULTS/$OUT.md, $OUT.svg and $OUT-raw.tsv in $((SECONDS - START)) s"
