#!/bin/bash
# bench/ab.sh — two builds of the library side by side: which one costs a
# server less throughput, measured as bench/run.sh judges its targets
# (every server up at once, bench/interleave.c moving the load from one to
# the next every 50 ms), so a slow moment of the machine falls on both.
#
#   bash bench/ab.sh LIB_A LIB_B [tinyhttpd|nginx] [SECONDS] [ROUNDS]
#
# Per round, fresh servers of the kind asked for (default tinyhttpd):
# untraced, untraced-b (a second untraced one: the method's own scatter),
# A (LD_PRELOAD=LIB_A) and B (LIB_B), both with the file exporter, 100%
# sampling and TRACESHIM_STATS=1; then `interleave 32 SECONDS 50` (default
# 10 s). Prints each round's ratios against the untraced pair's mean and
# each traced server's spans exported and dropped, then the medians and
# the median of B − A round by round. Variables in AB_ENV (for instance
# AB_ENV="TRACESHIM_FILE=/dev/null") are added to both traced servers.
#
# Installs nothing; needs cc, python3 and, for nginx, nginx. Listens on
# 127.0.0.1 only, on ports picked at run time; every process it starts is
# stopped on the way out.
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
usage() { sed -n '6,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] && [ -f "$1" ] && [ -f "$2" ] || usage
lib_a=$(readlink -f "$1") lib_b=$(readlink -f "$2")
server=${3:-tinyhttpd} seconds=${4:-10} rounds=${5:-3}
case "$server" in tinyhttpd|nginx) ;; *) usage ;; esac
[[ "$seconds" =~ ^[1-9][0-9]*$ && "$rounds" =~ ^[1-9][0-9]*$ ]] || usage
for tool in cc python3 $([ "$server" = nginx ] && echo nginx); do
    command -v "$tool" >/dev/null || { echo "ab.sh: $tool not found" >&2; exit 3; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/ab-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cc -std=c11 -O2 -o "$work/tinyhttpd" "$here/tinyhttpd.c"
cc -std=c11 -O2 -o "$work/interleave" "$here/interleave.c" -lm
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
read -r -a extra_env <<<"${AB_ENV:-}"

# start NAME LIB (empty: untraced): the server's port joins targets, its
# pid joins pids
start() {
    local name=$1 lib=$2 dir="$work/$1" port
    local env_of=(env -u LD_PRELOAD)
    [ -z "$lib" ] || env_of=(env LD_PRELOAD="$lib" OTEL_TRACES_SAMPLER=always_on TRACESHIM_STATS=1
                             TRACESHIM_EXPORTER=file TRACESHIM_FILE="$dir/spans.jsonl" "${extra_env[@]}")
    mkdir -p "$dir/logs" "$dir/tmp" "$dir/html"
    if [ "$server" = nginx ]; then
        port=$(free_port)
        head -c 1024 /dev/zero | tr '\0' 'x' >"$dir/html/index.html"
        cat >"$dir/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off; keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
    server { listen 127.0.0.1:$port; root $dir/html; }
}
EOF
        "${env_of[@]}" nginx -p "$dir" -c "$dir/nginx.conf" >/dev/null 2>"$dir/stderr" &
        pids+=($!)
        for _ in $(seq 250); do [ -s "$dir/nginx.pid" ] && break; sleep 0.02; done
    else
        "${env_of[@]}" "$work/tinyhttpd" "$dir/port" 3600 >/dev/null 2>"$dir/stderr" &
        pids+=($!)
        for _ in $(seq 250); do [ -s "$dir/port" ] && break; sleep 0.02; done
        port=$(cat "$dir/port")
    fi
    [ -n "$port" ] || { echo "ab.sh: $server $name did not start:" >&2; cat "$dir/stderr" >&2; exit 1; }
    targets+=("$name=$port")
}

# the shim's stats line of a stopped traced server (nginx moves its stderr
# to its error log)
spans_of() {
    local line
    line=$(cat "$work/$1/stderr" "$work/$1/logs/error.log" 2>/dev/null |
        grep -o 'exported=[0-9]* dropped_queue_full=[0-9]*' | head -1) || true
    echo "${line:-no stats line}"
}

results="$work/results"
for round in $(seq "$rounds"); do
    rm -rf "$work"/{u,ub,a,b}
    pids=() targets=()
    start u ""
    start ub ""
    start a "$lib_a"
    start b "$lib_b"
    "$work/interleave" 32 "$seconds" 50 "${targets[@]}" >"$work/round.out" 2>"$work/round.err" ||
        { cat "$work/round.err" >&2; exit 1; }
    if [ "$server" = nginx ]; then
        for d in u ub a b; do kill -QUIT "$(cat "$work/$d/nginx.pid")" 2>/dev/null || true; done
    else
        kill "${pids[@]}" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    pids=()
    awk -F'\t' -v r="$round" '{ print r "\t" $1 "\t" $3 }' "$work/round.out" >>"$results"
    echo "round $round: $(python3 - "$work/round.out" <<'EOF'
import sys
rate = {l.split('\t')[0]: float(l.split('\t')[2]) for l in open(sys.argv[1])}
base = (rate['u'] + rate['ub']) / 2
print('untraced-b/untraced %.1f%%, A %.1f%%, B %.1f%% of untraced' %
      (100 * rate['ub'] / rate['u'], 100 * rate['a'] / base, 100 * rate['b'] / base))
EOF
); A spans $(spans_of a); B spans $(spans_of b)"
done
python3 - "$results" <<'EOF'
import statistics, sys
by_round = {}
for line in open(sys.argv[1]):
    r, name, rate = line.split('\t')
    by_round.setdefault(r, {})[name] = float(rate)
a, b, floor = [], [], []
for rate in by_round.values():
    base = (rate['u'] + rate['ub']) / 2
    a.append(100 * rate['a'] / base)
    b.append(100 * rate['b'] / base)
    floor.append(abs(100 - 100 * rate['ub'] / rate['u']))
print('medians over %d round(s): A %.1f%%, B %.1f%%, B - A %+.1f points (round by round: %s); '
      'noise floor (|1 - untraced-b/untraced|) %.1f%%' %
      (len(a), statistics.median(a), statistics.median(b),
       statistics.median(y - x for x, y in zip(a, b)),
       ' '.join('%+.1f' % (y - x) for x, y in zip(a, b)), statistics.median(floor)))
EOF
