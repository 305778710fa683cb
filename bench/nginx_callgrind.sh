#!/bin/bash
# bench/nginx_callgrind.sh — the instructions the shim adds to one nginx
# request, counted by callgrind (repeatable, whatever else the machine does;
# bench/PROFILE.md quotes these counts).
#
#   bash bench/nginx_callgrind.sh LIB [static|proxy] [SAMPLER]
#
# static (the default): nginx (one process, master_process off) serves a
#   1 KiB file, as in bench/run.sh's keep-alive runs.
# proxy: nginx proxy_pass to an untraced bench/tinyhttpd over keep-alive
#   upstream connections: a server span, a client span and the trace
#   headers written into the upstream request, per request.
# SAMPLER: the OTEL_TRACES_SAMPLER of the traced runs (default always_on;
#   always_off counts what an unsampled request costs).
#
# nginx runs under callgrind (--separate-threads=yes) untraced and traced
# (LD_PRELOAD=LIB, SAMPLER, file exporter), each for 1000 and then
# 3000 keep-alive GETs of /api/items/42 from bench/keepalive_get.py;
# per request = (3000-request count - 1000-request count) / 2000, which
# cancels start-up and exit. Prints nginx's own instructions per request,
# what the shim adds on nginx's thread, and the reporter thread's. The
# callgrind files stay in the work directory it names, for
# callgrind_annotate. Needs nginx, valgrind, python3 and a C compiler.
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
if [ $# -lt 1 ] || [ ! -f "$1" ]; then
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
library=$(readlink -f "$1")
mode=${2:-static}
sampler=${3:-always_on}
case "$mode" in static|proxy) ;; *) echo "nginx_callgrind.sh: mode is static or proxy, not '$mode'" >&2; exit 2 ;; esac
for tool in nginx valgrind python3 cc; do
    command -v "$tool" >/dev/null || { echo "nginx_callgrind.sh: $tool not found" >&2; exit 3; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nginx-callgrind-XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

source "$here/nginx_conf.sh"
backend_port=""
if [ "$mode" = proxy ]; then
    cc -std=c11 -O2 -o "$work/tinyhttpd" "$here/tinyhttpd.c"
    "$work/tinyhttpd" "$work/backend.port" 3600 2>/dev/null &
    pids+=($!)
    for _ in $(seq 200); do [ -s "$work/backend.port" ] && break; sleep 0.05; done
    backend_port=$(cat "$work/backend.port")
fi
port=$(free_port)
write_nginx_conf "$work" "$port" "$backend_port"
mkdir -p "$work/html/api/items"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/html/api/items/42"

# One nginx under callgrind serving N requests; NAME names its files.
count() { # NAME N traced|untraced
    local preload=()
    [ "$3" = traced ] && preload=(env LD_PRELOAD="$library" OTEL_TRACES_SAMPLER="$sampler"
        TRACESHIM_EXPORTER=file TRACESHIM_FILE="$work/spans.jsonl")
    "${preload[@]}" valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$work/cg-$1" nginx -p "$work" -c "$work/nginx.conf" 2>"$work/valgrind-$1.log" &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 400); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    python3 "$here/keepalive_get.py" "$port" "$2" none
    kill -QUIT "$(cat "$work/nginx.pid")"
    wait "$pid" || true
    rm -f "$work/spans.jsonl"
}
total() { if [ -f "$1" ]; then grep '^summary:' "$1" | cut -d' ' -f2; else echo 0; fi; }
per_request() { echo $(( ($(total "$2") - $(total "$1")) / 2000 )); }

count u1 1000 untraced
count u3 3000 untraced
count t1 1000 traced
count t3 3000 traced
own=$(per_request "$work/cg-u1-01" "$work/cg-u3-01")
traced=$(per_request "$work/cg-t1-01" "$work/cg-t3-01")
reporter=$(per_request "$work/cg-t1-02" "$work/cg-t3-02") # 0: no span exported, no thread
echo "nginx $mode ($sampler): nginx's own instructions per request $own; added by the shim on nginx's thread $((traced - own)); the reporter thread $reporter (callgrind files: $work)"
