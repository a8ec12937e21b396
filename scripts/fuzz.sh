#!/usr/bin/env bash
# scripts/fuzz.sh: build and run tokengate's fuzz targets (fuzz/, cargo-fuzz + libFuzzer) on a stable toolchain.
#
# Usage:
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     # default 60 s, every target
#
# Environment:
#   SANITIZER=address|none   default address; when an address-sanitizer build fails, none is used instead
#   CARGO_BUILD_JOBS=1       (the default here: the machine has 2 shared cores)
#   RSS_LIMIT_MB=2048        libFuzzer's memory limit per target
#
# For each target it first replays fuzz/regressions/<target>/* (every crash found so far, minimised: one that fails
# again is reported), then fuzzes for SECONDS_PER_TARGET with the seeds of fuzz/corpus/<target>/ (left untouched) and a working
# corpus in fuzz/work/corpus/<target>/ (kept between runs, not committed), the dictionary fuzz/dicts/<target>, and
# prints per target: executions, coverage (cov) and features (ft), corpus size, and whether it crashed. A crash input
# is written to fuzz/artifacts/<target>/; minimise it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz tmin -s $SANITIZER <target> fuzz/artifacts/<target>/crash-...
# Logs: fuzz/work/logs/. Exit status: 0 no crash, 1 a crash (or a regression that still reproduces), 2 build failure.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
FUZZ=$ROOT/fuzz
SECS=${1:-60}
shift || true
ALL_TARGETS="jwt_parse token_extract path_normalize jwks_parse introspection_response config_parse"
TARGETS=${*:-$ALL_TARGETS}
SANITIZER=${SANITIZER:-address}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-2048}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
# cargo-fuzz needs nightly flags (-Z...); only a stable toolchain is available here.
export RUSTC_BOOTSTRAP=1

log() { printf '[fuzz] %s\n' "$*" >&2; }
[[ $SECS =~ ^[0-9]+$ ]] || { log "SECONDS_PER_TARGET must be an integer, got '$SECS'"; exit 2; }
for t in $TARGETS; do
    case " $ALL_TARGETS " in *" $t "*) ;; *) log "unknown target $t (targets: $ALL_TARGETS)"; exit 2 ;; esac
done

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz >&2 || { log "cargo install cargo-fuzz failed"; exit 2; }
fi

# Seeds: made once by fuzz/make_seeds.py (needs openssl); committed.
for t in $TARGETS; do
    if [ ! -d "$FUZZ/corpus/$t" ] || [ -z "$(ls -A "$FUZZ/corpus/$t" 2>/dev/null)" ]; then
        log "no seeds for $t: running fuzz/make_seeds.py"
        python3 "$FUZZ/make_seeds.py" >&2 || { log "make_seeds.py failed"; exit 2; }
        break
    fi
done

cd "$FUZZ" || exit 2
mkdir -p work/logs
build() {
    log "building every target (sanitizer: $1; minutes the first time)"
    cargo fuzz build -s "$1" >"work/logs/build.log" 2>&1
}
if ! build "$SANITIZER"; then
    if [ "$SANITIZER" != none ]; then
        log "the $SANITIZER build failed (tail of work/logs/build.log below); trying -s none"
        tail -n 5 work/logs/build.log >&2
        SANITIZER=none
        build none || { tail -n 30 work/logs/build.log >&2; log "build failed"; exit 2; }
    else
        tail -n 30 work/logs/build.log >&2
        log "build failed"
        exit 2
    fi
fi

max_len() {
    case $1 in
    config_parse) echo 16384 ;;
    jwt_parse | token_extract | jwks_parse) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

crashed=0
declare -A R_RUNS R_EXECS R_COV R_FT R_CORP R_RESULT R_REGR
for t in $TARGETS; do
    # 1. Regressions.
    R_REGR[$t]="-"
    if [ -d "$FUZZ/regressions/$t" ] && [ -n "$(ls -A "$FUZZ/regressions/$t" 2>/dev/null)" ]; then
        still=0 total=0
        for f in "$FUZZ/regressions/$t"/*; do
            [ -f "$f" ] || continue
            case $f in *.md | *.txt) continue ;; esac
            total=$((total + 1))
            if ! cargo fuzz run -s "$SANITIZER" "$t" "$f" -- -runs=1 \
                >"work/logs/$t.regression.$(basename "$f").log" 2>&1; then
                still=$((still + 1))
                log "$t: regression $(basename "$f") still fails: $(grep -m1 -E 'panicked at|ERROR: ' "work/logs/$t.regression.$(basename "$f").log")"
            fi
        done
        R_REGR[$t]="$still/$total still fail"
        [ $still -gt 0 ] && crashed=1
    fi

    # 2. Fuzzing.
    mkdir -p "work/corpus/$t" "artifacts/$t"
    log "$t: fuzzing for $SECS s"
    dict=()
    [ -f "dicts/$t" ] && dict=(-dict="dicts/$t")
    cargo fuzz run -s "$SANITIZER" "$t" "work/corpus/$t" "corpus/$t" -- \
        -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb="$RSS_LIMIT_MB" \
        -print_final_stats=1 "${dict[@]}" -artifact_prefix="artifacts/$t/" >"work/logs/$t.log" 2>&1
    rc=$?
    L=work/logs/$t.log
    R_EXECS[$t]=$(awk '/stat::number_of_executed_units:/ {print $2}' "$L" | tail -1)
    [ -z "${R_EXECS[$t]}" ] && R_EXECS[$t]=$(grep -oE '^#[0-9]+' "$L" | tail -1 | tr -d '#')
    R_RUNS[$t]=$(awk '/stat::average_exec_per_sec:/ {print $2}' "$L" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$L" | tail -1)
    R_COV[$t]=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
    R_FT[$t]=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
    R_CORP[$t]=$(sed -nE 's/.*corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
    if [ $rc -eq 0 ]; then
        R_RESULT[$t]="no crash"
    else
        crashed=1
        art=$(sed -nE 's/.*Test unit written to (\S+).*/\1/p' "$L" | tail -1)
        why=$(grep -m1 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer" "$L" | cut -c1-160)
        R_RESULT[$t]="CRASH (exit $rc): ${why:-see $L} ${art:+-> fuzz/$art}"
        log "$t: ${R_RESULT[$t]}"
        grep -m1 -A3 "panicked at" "$L" >&2
    fi
done

printf '\nfuzz: %s s per target, sanitizer %s\n\n' "$SECS" "$SANITIZER"
printf '%-24s %12s %9s %7s %7s %14s  %-18s %s\n' target executions exec/s cov ft corpus regressions result
for t in $TARGETS; do
    printf '%-24s %12s %9s %7s %7s %14s  %-18s %s\n' "$t" "${R_EXECS[$t]:-?}" "${R_RUNS[$t]:-?}" "${R_COV[$t]:-?}" \
        "${R_FT[$t]:-?}" "${R_CORP[$t]:-?}" "${R_REGR[$t]}" "${R_RESULT[$t]}"
done
exit $crashed
