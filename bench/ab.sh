#!/bin/bash
# bench/ab.sh — two builds of the library side by side, measured as
# bench/run.sh judges its targets: every server up at once, and
# bench/interleave.c moving the load from one to the next every 50 ms, so
# that a slow moment of the machine falls on both builds alike.
#
#   bash bench/ab.sh LIB_A LIB_B [tinyhttpd|nginx|node|chain] [SECONDS] [ROUNDS]
#
# Per round (default 4 rounds of 10 s), fresh servers: untraced,
# untraced-b (a second untraced one: the method's own scatter), A
# (LD_PRELOAD=LIB_A) and B (LIB_B), the traced ones with the file exporter,
# 100% sampling and TRACESHIM_STATS=1.
#   tinyhttpd, nginx, node: keep-alive throughput, 32 connections (nginx
#     serves a 1 KiB file, node is bench/node/server.js); each round's share
#     of the untraced pair's mean, then the medians and B - A round by round.
#   chain: nginx reverse proxy -> tinyhttpd, both traced alike (two traced
#     hops), one request at a time; each round's p99 and p99.9, then the
#     medians of each build's p99 and p99.9 added per hop (against
#     untraced) and B - A.
# A and B swap places (start order, first visit) every other round: give
# an even number of rounds (in 2 s rounds the slot alone moved a ratio by
# 5-9 points, in 10 s rounds by about one). The B slot still lost 1-2
# points to A in some runs: run a comparison both ways (X Y, then Y X).
# Each traced server's spans exported and dropped are printed per round.
# Variables in AB_ENV (for instance AB_ENV="TRACESHIM_FILE=/dev/null") are
# added to every traced server; those in AB_ENV_A or AB_ENV_B to A's or
# B's alone, after AB_ENV (one library under two settings: pass it as both
# builds, AB_ENV_B="OTEL_TRACES_SAMPLER=always_off").
#
# Installs nothing; needs cc, python3, and nginx (nginx, chain) or node
# (node).
# Listens on 127.0.0.1 only, on ports picked at run time; every process it
# starts is stopped on the way out.
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
usage() { sed -n '7,33p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] && [ -f "$1" ] && [ -f "$2" ] || usage
lib_a=$(readlink -f "$1") lib_b=$(readlink -f "$2")
kind=${3:-tinyhttpd} seconds=${4:-10} rounds=${5:-4}
case "$kind" in tinyhttpd|nginx|node|chain) ;; *) usage ;; esac
[[ "$seconds" =~ ^[1-9][0-9]*$ && "$rounds" =~ ^[1-9][0-9]*$ ]] || usage
needs=nginx
case "$kind" in tinyhttpd) needs="" ;; node) needs=node ;; esac
for tool in cc python3 $needs; do
    command -v "$tool" >/dev/null || { echo "ab.sh: $tool not found" >&2; exit 3; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/ab-XXXXXX")
pids=()
stop_all() {
    local p
    for p in "$work"/*/nginx.pid "$work"/*/*/nginx.pid; do
        [ -s "$p" ] && kill -QUIT "$(cat "$p")" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
source "$here/nginx_conf.sh"
cc -std=c11 -O2 -o "$work/tinyhttpd" "$here/tinyhttpd.c"
cc -std=c11 -O2 -o "$work/interleave" "$here/interleave.c" -lm
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
read -r -a extra_env <<<"${AB_ENV:-}"
read -r -a extra_env_a <<<"${AB_ENV_A:-}"
read -r -a extra_env_b <<<"${AB_ENV_B:-}"

# run_env DIR LIB: the environment of a server (LIB empty: untraced);
# the traced builds a and b (start's $build) add their own variables
run_env() {
    env_of=(env -u LD_PRELOAD)
    [ -z "$2" ] && return
    env_of=(env LD_PRELOAD="$2" OTEL_TRACES_SAMPLER=always_on TRACESHIM_STATS=1
            TRACESHIM_EXPORTER=file TRACESHIM_FILE="$1/spans.jsonl" "${extra_env[@]}")
    case "$build" in
        a) env_of+=("${extra_env_a[@]}") ;;
        b) env_of+=("${extra_env_b[@]}") ;;
    esac
}

# start_tinyhttpd DIR LIB -> port
start_tinyhttpd() {
    mkdir -p "$1"
    run_env "$1" "$2"
    "${env_of[@]}" "$work/tinyhttpd" "$1/port" 3600 >/dev/null 2>"$1/stderr" &
    pids+=($!)
    for _ in $(seq 250); do [ -s "$1/port" ] && break; sleep 0.02; done
    port=$(cat "$1/port" 2>/dev/null || true)
}

# start_node DIR LIB -> port (bench/node/server.js, which needs no modules)
start_node() {
    mkdir -p "$1"
    run_env "$1" "$2"
    "${env_of[@]}" node "$here/node/server.js" "$1/port" 0 3600 >/dev/null 2>"$1/stderr" &
    pids+=($!)
    for _ in $(seq 500); do [ -s "$1/port" ] && break; sleep 0.02; done
    port=$(cat "$1/port" 2>/dev/null || true)
}

# start_nginx DIR LIB [UPSTREAM_PORT] -> port (bench/nginx_conf.sh: a proxy
# to UPSTREAM_PORT, or a 1 KiB static file)
start_nginx() {
    local dir=$1
    run_env "$dir" "$2"
    port=$(free_port)
    write_nginx_conf "$dir" "$port" "${3:-}"
    "${env_of[@]}" nginx -p "$dir" -c "$dir/nginx.conf" >/dev/null 2>"$dir/stderr" &
    pids+=($!)
    for _ in $(seq 250); do [ -s "$dir/nginx.pid" ] && break; sleep 0.02; done
    [ -s "$dir/nginx.pid" ] || port=""
}

# start NAME LIB: the server (or chain) NAME; its port joins targets
start() {
    local dir="$work/$1"
    build=$1
    case "$kind" in
        tinyhttpd) start_tinyhttpd "$dir" "$2" ;;
        nginx) start_nginx "$dir" "$2" ;;
        node) start_node "$dir" "$2" ;;
        chain) start_tinyhttpd "$dir/backend" "$2"
               [ -z "$port" ] || start_nginx "$dir" "$2" "$port" ;;
    esac
    if [ -z "$port" ]; then
        echo "ab.sh: $kind $1 did not start:" >&2
        cat "$dir/stderr" "$dir/backend/stderr" 2>/dev/null >&2
        exit 1
    fi
    targets+=("$1=$port")
}

# the shim's stats of a stopped traced server: its spans exported and
# dropped for want of room (nginx moves its stderr to its error log)
spans_of() {
    local line
    line=$(cat "$1/stderr" "$1/logs/error.log" 2>/dev/null |
        grep -o 'exported=[0-9]* dropped_queue_full=[0-9]*' | head -1) || true
    echo "${line:-no stats line}"
}

results="$work/results"
connections=32
[ "$kind" = chain ] && connections=1
for round in $(seq "$rounds"); do
    rm -rf "$work"/{u,ub,a,b}
    targets=()
    start u ""
    start ub ""
    # which build starts (and is visited) first alternates by round: the
    # slot alone moved a ratio by about a point in some runs
    if [ $((round % 2)) = 1 ]; then
        start a "$lib_a"
        start b "$lib_b"
    else
        start b "$lib_b"
        start a "$lib_a"
    fi
    "$work/interleave" "$connections" "$seconds" 50 "${targets[@]}" >"$work/round.out" 2>"$work/round.err" ||
        { cat "$work/round.err" >&2; exit 1; }
    stop_all
    spans="A $(spans_of "$work/a"), B $(spans_of "$work/b")"
    [ "$kind" = chain ] && spans="proxy: $spans; backend: A $(spans_of "$work/a/backend"), B $(spans_of "$work/b/backend")"
    # interleave's columns: name, answers, req/s, p50, p90, p99, p99.9, errors
    awk -F'\t' -v r="$round" '{ print r "\t" $1 "\t" $3 "\t" $6 "\t" $7 "\t" $8 }' "$work/round.out" >>"$results"
    echo "round $round: $(awk -F'\t' '{ printf "%s %s/s p99 %s p99.9 %s µs, %s errors; ", $1, $3, $6, $7, $8 }' "$work/round.out")spans $spans"
done
python3 - "$results" "$kind" <<'EOF'
import statistics, sys
rounds = {}
for line in open(sys.argv[1]):
    r, name, rate, p99, p999, errors = line.rstrip('\n').split('\t')
    rounds.setdefault(r, {})[name] = (float(rate), float(p99), float(p999))
med = statistics.median
if sys.argv[2] != 'chain':
    a, b, floor = [], [], []
    for s in rounds.values():
        base = (s['u'][0] + s['ub'][0]) / 2
        a.append(100 * s['a'][0] / base)
        b.append(100 * s['b'][0] / base)
        floor.append(abs(100 - 100 * s['ub'][0] / s['u'][0]))
    print('throughput, medians over %d round(s): A %.1f%%, B %.1f%% of untraced; B - A %+.1f points '
          '(round by round: %s); noise floor |1 - untraced-b/untraced| %.1f%%' %
          (len(a), med(a), med(b), med(y - x for x, y in zip(a, b)),
           ' '.join('%+.1f' % (y - x) for x, y in zip(a, b)), med(floor)))
else:
    for i, what in ((1, 'p99'), (2, 'p99.9')):
        per_hop = {n: [(s[n][i] - s['u'][i]) / 2 for s in rounds.values()] for n in ('ub', 'a', 'b')}
        print('%s added per hop, medians over %d round(s): A %+.1f µs, B %+.1f µs; B - A %+.1f µs '
              '(round by round: %s); noise floor |untraced-b - untraced| per hop %.1f µs' %
              (what, len(rounds), med(per_hop['a']), med(per_hop['b']),
               med(y - x for x, y in zip(per_hop['a'], per_hop['b'])),
               ' '.join('%+.1f' % (y - x) for x, y in zip(per_hop['a'], per_hop['b'])),
               med(abs(v) for v in per_hop['ub'])))
EOF
