#!/bin/bash
# demo.sh — see traceshim trace three unmodified Python services.
#
#   bash scripts/demo.sh
#
# Installs what is missing (scripts/install-deps.sh --demo: as root on
# Debian 12), builds the library and the viewer into build/ (without the
# tests), starts
#
#   curl -> frontend.py -> orders.py -> inventory.py (twice)
#
# each under `scripts/traceshim run`, on free loopback ports, sends one
# request, stops the services and draws the trace they wrote to
# build/demo/spans.jsonl (one trace: `view` draws it as a tree), then shows
# its latency statistics and writes build/demo/report.html. Nothing in
# scripts/demo/*.py knows about tracing.
set -euo pipefail

root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"
# Messages of the traps go here, to the terminal's stderr, even while a
# step's output goes to a log.
exec 9>&2

py=/usr/bin/python3 # the system Python: PATH's python3 may be a wrapper script
demo=build/demo
file=$root/$demo/spans.jsonl
min_spans=7

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

# LD_PRELOAD splits its list at spaces and colons: the library of a
# checkout whose path holds one cannot be preloaded (the launcher refuses
# it), and the services would fail after the build.
case $root in
*[\ :]*) die "the checkout's path holds a space or a colon, which LD_PRELOAD cannot hold: $root" ;;
esac

# --- background processes: every one we start is stopped on the way out
pids=()
names=()
stop_all() {
    local i pid
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        kill -TERM "$pid" 2>/dev/null || true
    done
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        # bounded: 5 s for a clean exit, then SIGKILL
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            printf 'demo: %s (pid %s) did not stop on SIGTERM; killing it\n' "${names[$i]}" "$pid" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    names=()
}
build_log=
trap 'stop_all; rm -f "$build_log"' EXIT
trap 'echo "demo: interrupted" >&9; exit 130' INT
trap 'echo "demo: terminated" >&9; exit 143' TERM

show_log() {
    printf -- '--- %s\n' "$1" >&2
    tail -n 30 "$1" >&2 || true
}

# --- 1. dependencies and build
step "dependencies (scripts/install-deps.sh --demo)"
bash scripts/install-deps.sh --demo
echo "ok"

step "building libtraceshim.so and traceshim-view into $root/build/"
build_log=$(mktemp "${TMPDIR:-/tmp}/traceshim-demo-build.XXXXXX")
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_TESTS=OFF &&
       cmake --build build -j"$(nproc)"; } >"$build_log" 2>&1; then
    cat "$build_log" >&2
    rm -f "$build_log"
    die "the build failed (output above)"
fi
rm -f "$build_log"
[ -f build/libtraceshim.so ] || die "the build did not produce build/libtraceshim.so"
[ -x build/traceshim-view ] || die "the build did not produce build/traceshim-view"
echo "$root/build/libtraceshim.so, $root/build/traceshim-view"

# --- 2. the services
rm -rf "$demo"
mkdir -p "$demo"

# The services talk over loopback only; keep any proxy settings away from
# curl and urllib.
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
# The demo draws the library's defaults: no configuration of the user's
# (a switch that turns tracing off, a sampler, the propagators, an
# exporter, a library or viewer elsewhere) may change the trace it shows.
for name in $(compgen -e); do
    case $name in
    OTEL_* | JAEGER_* | TRACESHIM_*) unset "$name" ;;
    esac
done
# Export spans every 200 ms too, so a flush missed at exit loses nothing.
export OTEL_BSP_SCHEDULE_DELAY=200
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

# Three free ports, held open together so they are distinct.
read -r p_frontend p_orders p_inventory < <("$py" -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
') || die "could not pick three free ports with $py"

# wait_ready NAME PORT PID LOG: until a TCP connect succeeds (10 s at most).
# A connect without a request is what a health probe does: it makes no span.
wait_ready() {
    local name=$1 port=$2 pid=$3 log=$4
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log "$log"
            die "$name exited before it was ready (log above)"
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    show_log "$log"
    die "$name did not answer on 127.0.0.1:$port within 10 s (log above)"
}

# start NAME PORT ARGS...: run scripts/demo/NAME.py under the shim. A
# service runs until it is stopped: a span for its whole life would be a
# trace of its own, so its process span is off (curl's stays on).
start() {
    local name=$1 port=$2 log=$demo/$1.log
    shift 2
    TRACESHIM_PROCESS_SPANS=0 scripts/traceshim run -s "$name" -o "$file" -- \
        "$py" "scripts/demo/$name.py" "$port" "$@" </dev/null >"$log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    names+=("$name")
    wait_ready "$name" "$port" "$pid" "$log"
    printf '%-9s http://127.0.0.1:%s  (pid %s, log %s)\n' "$name" "$port" "$pid" "$root/$log"
}

step "starting the services, each under scripts/traceshim run"
start inventory "$p_inventory"
start orders "$p_orders" "$p_inventory"
start frontend "$p_frontend" "$p_orders"

# --- 3. one request through the chain
url="http://127.0.0.1:$p_frontend/checkout?item=42"
step "scripts/traceshim run -s curl -o $file -- curl -sS --max-time 30 --fail-with-body '$url'"
curl_rc=0
# In the background and waited for, so a SIGTERM to this script is handled
# at once (bash runs traps only between foreground commands).
scripts/traceshim run -s curl -o "$file" -- \
    curl -sS --max-time 30 --fail-with-body "$url" </dev/null &
pids+=("$!")
names+=(curl)
wait "$!" || curl_rc=$?

# --- 4. stop the services (SIGTERM: they exit normally and flush their spans)
step "stopping the services"
stop_all
echo "stopped"
if [ "$curl_rc" != 0 ]; then
    for n in frontend orders inventory; do show_log "$demo/$n.log"; done
fi

# --- 5. the trace
step "the trace: $root/scripts/traceshim view $file"
if [ ! -s "$file" ]; then
    if [ "$curl_rc" = 0 ]; then
        for n in frontend orders inventory; do show_log "$demo/$n.log"; done
    fi
    die "no spans were written to $file"
fi
scripts/traceshim view "$file"

# Check its shape: one trace, with the spans of every hop.
summary=$("$py" - "$file" <<'EOF'
import json, sys
spans, traces, services = 0, set(), set()
with open(sys.argv[1]) as f:
    for line in f:
        if not line.strip():
            continue
        for rs in json.loads(line).get("resourceSpans", []):
            for a in rs.get("resource", {}).get("attributes", []):
                if a.get("key") == "service.name":
                    services.add(a.get("value", {}).get("stringValue", "?"))
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    spans += 1
                    traces.add(s.get("traceId"))
print(spans, len(traces), ",".join(sorted(services)) or "-")
EOF
) || die "could not read $file as OTLP/JSON lines"
read -r n_spans n_traces services <<<"$summary"
echo
echo "$n_spans spans in $n_traces trace(s) from: ${services//,/, }"
echo "spans file: $file"
echo "service logs: $root/$demo/{frontend,orders,inventory}.log"
if [ "$curl_rc" != 0 ]; then
    die "the request failed (curl exit $curl_rc); the service logs are above"
fi
if [ "$n_spans" -lt "$min_spans" ]; then
    die "expected at least $min_spans spans (curl, frontend, orders, inventory)"
fi
if [ "$n_traces" != 1 ]; then
    die "expected all spans in one trace: the context did not travel through every hop"
fi

# --- 6. the same spans as latency statistics and as an HTML report
step "latency per service and span: $root/scripts/traceshim stats $file"
scripts/traceshim stats "$file"
step "an HTML report to open in a browser: $root/scripts/traceshim html $file -o $root/$demo/report.html"
scripts/traceshim html "$file" -o "$root/$demo/report.html"
echo "open file://$root/$demo/report.html"
