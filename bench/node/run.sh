#!/bin/bash
# bench/node/run.sh — the Node peer comparison (issue 8, item 6): one plain
# Node `http` server measured untraced, traced by traceshim, and traced by the
# OpenTelemetry JS SDK (otel.js), each with wrk; see bench/node/README.md.
#
#   bash bench/node/run.sh --lib /path/libtraceshim.so --work DIR --seconds N \
#        --rounds R --otlp-port PORT --results FILE [--connections C] \
#        [--interleave BIN --interleave-seconds S]
#
# Each round runs the modes untraced, traceshim, otel-sdk in that order; each
# run starts a fresh server, runs
#   wrk -t1 -cC -dNs --latency http://127.0.0.1:PORT/      (C: 32 by default)
# stops the server with SIGTERM (SIGKILL after 5 s) and appends to FILE
#   http  <TAB> node <TAB> MODE <TAB> ROUND <TAB> req/s <TAB> p50 <TAB> p99 <TAB> errors
#   stats <TAB> node <TAB> MODE <TAB> ROUND <TAB> <counters>     (traced modes only)
# The counters are traceshim's TRACESHIM_STATS line, or otel.js's
# "otel-sdk spans ..." line; "none" when the server printed none.
#
# With --interleave (bench/interleave.c built as BIN), each round then also
# starts one server per mode at once, plus a second untraced one
# (untraced-b), and runs BIN with C connections for S seconds, the load
# moved between them every 50 ms; it appends
#   interleave <TAB> node-interleaved <TAB> MODE <TAB> ROUND <TAB> count, req/s, p50,
#   p90, p99, p99.9, errors
# and the servers' stats lines as node-interleaved.
#
# Both traced modes send OTLP/HTTP protobuf to http://127.0.0.1:PORT, a
# receiver the caller runs. Raw output (wrk, server stderr) stays in DIR.
#
# Exit status: 0 done; 1 a run failed; 2 bad arguments; 3 cannot run here
# (node, wrk, python3 or bench/node/node_modules missing: the caller skips
# the section, printing the message).
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() { sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die_usage() { echo "bench/node/run.sh: $*" >&2; echo "usage: see bash bench/node/run.sh --help" >&2; exit 2; }

library="" work="" seconds="" rounds="" otlp_port="" results="" connections=32
interleave="" interleave_seconds=""
while [ $# -gt 0 ]; do
    case "$1" in
        --lib|--work|--seconds|--rounds|--otlp-port|--results|--connections|--interleave|--interleave-seconds)
            [ $# -ge 2 ] || die_usage "$1 needs a value"
            case "$1" in
                --lib) library=$2 ;;
                --work) work=$2 ;;
                --seconds) seconds=$2 ;;
                --rounds) rounds=$2 ;;
                --otlp-port) otlp_port=$2 ;;
                --results) results=$2 ;;
                --connections) connections=$2 ;;
                --interleave) interleave=$2 ;;
                --interleave-seconds) interleave_seconds=$2 ;;
            esac
            shift ;;
        -h|--help) usage; exit 0 ;;
        *) die_usage "unknown argument '$1'" ;;
    esac
    shift
done

for pair in "--lib:$library" "--work:$work" "--seconds:$seconds" "--rounds:$rounds" \
            "--otlp-port:$otlp_port" "--results:$results"; do
    [ -n "${pair#*:}" ] || die_usage "${pair%%:*} is required"
done
is_count() { [[ $1 =~ ^[1-9][0-9]{0,5}$ ]]; }
is_count "$seconds" || die_usage "--seconds must be a positive integer, not '$seconds'"
is_count "$rounds" || die_usage "--rounds must be a positive integer, not '$rounds'"
is_count "$connections" || die_usage "--connections must be a positive integer, not '$connections'"
{ is_count "$otlp_port" && [ "$otlp_port" -le 65535 ]; } || die_usage "--otlp-port must be a port number, not '$otlp_port'"
[ -f "$library" ] || die_usage "no library at '$library'"
if [ -n "$interleave" ]; then
    [ -x "$interleave" ] || die_usage "--interleave: no program at '$interleave'"
    is_count "$interleave_seconds" || die_usage "--interleave-seconds must be a positive integer, not '$interleave_seconds'"
fi
library=$(readlink -f "$library")

# ---- can it run here? (exit 3: the caller skips the section) ---------------
for tool in node wrk python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench/node/run.sh: $tool not found" >&2; exit 3; }
done
if [ ! -d "$here/node_modules/@opentelemetry/sdk-trace-node" ] ||
   [ ! -d "$here/node_modules/@opentelemetry/exporter-trace-otlp-proto" ]; then
    echo "bench/node/run.sh: node_modules missing: run bash bench/node/install.sh" >&2
    exit 3
fi

mkdir -p "$work"
work=$(readlink -f "$work")
touch "$results"
seconds_wrk_may_take=$((seconds + 30))
# A server outlives its run by at most this long even if this script is
# killed outright (server.js stops itself).
server_max_seconds=$((seconds + ${interleave_seconds:-0} + 120))

# ---- clean-up: every process started here is stopped on the way out ------
source "$here/../procs.sh"
source "$here/../interleave.sh"
trap stop_started_pids EXIT
trap 'exit 130' INT TERM
log() { printf '%s\n' "$*" >&2; }

# Starts server.js in MODE with stderr to FILE; sets server_pid, server_port.
start_server() { # MODE STDERR_FILE
    local mode=$1 stderr_file=$2 port_file
    port_file="$work/node-port-$mode-$RANDOM"
    rm -f "$port_file"
    case "$mode" in
        untraced)
            env -u LD_PRELOAD node "$here/server.js" "$port_file" 0 "$server_max_seconds" \
                2>"$stderr_file" &
            ;;
        traceshim)
            env -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT \
                LD_PRELOAD="$library" OTEL_SERVICE_NAME=bench-node OTEL_TRACES_SAMPLER=always_on \
                TRACESHIM_STATS=1 TRACESHIM_EXPORTER=otlp \
                OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port" \
                node "$here/server.js" "$port_file" 0 "$server_max_seconds" 2>"$stderr_file" &
            ;;
        otel-sdk)
            env -u LD_PRELOAD -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT \
                OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port" \
                node --require "$here/otel.js" "$here/server.js" "$port_file" 0 "$server_max_seconds" \
                2>"$stderr_file" &
            ;;
    esac
    server_pid=$!
    started_pids+=("$server_pid")
    local waited=0
    until [ -s "$port_file" ]; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" 2>/dev/null || true
            forget_pid "$server_pid"
            log "bench/node/run.sh: the $mode server ended before it listened:"
            cat "$stderr_file" >&2
            exit 1
        fi
        sleep 0.05
        waited=$((waited + 1))
        if [ $waited -ge 400 ]; then  # 20 s
            log "bench/node/run.sh: the $mode server did not listen within 20 s:"
            cat "$stderr_file" >&2
            exit 1
        fi
    done
    server_port=$(cat "$port_file")
    rm -f "$port_file"
}

# SIGTERM, so the server runs its exit path (the SDK's flush, the shim's
# flush and stats line); SIGKILL if it has not ended within 5 s.
stop_server() { # PID
    kill -TERM "$1" 2>/dev/null || true
    local waited=0
    while kill -0 "$1" 2>/dev/null && [ $waited -lt 100 ]; do sleep 0.05; waited=$((waited + 1)); done
    if kill -0 "$1" 2>/dev/null; then
        log "bench/node/run.sh: server $1 still running 5 s after SIGTERM: killed"
        kill -KILL "$1" 2>/dev/null || true
    fi
    wait "$1" 2>/dev/null || true
    forget_pid "$1"
}

stats_of() { # MODE STDERR_FILE -> the server's counters, or nothing
    case "$1" in
        traceshim) grep -o 'stats spans_started.*' "$2" | head -1 || true ;;
        otel-sdk) grep -o 'otel-sdk spans .*' "$2" | head -1 || true ;;
    esac
}

log "==> node http server: wrk -t1 -c$connections -d${seconds}s --latency, $rounds round(s), untraced/traceshim/otel-sdk alternately (node $(node --version))"
for round in $(seq 1 "$rounds"); do
    for mode in untraced traceshim otel-sdk; do
        stderr_file="$work/node-$mode-$round.stderr"
        wrk_out="$work/wrk-node-$mode-$round.out"
        start_server "$mode" "$stderr_file"
        # wrk itself is never traced. It runs in the background so that a
        # signal to this script is handled at once, not when wrk ends.
        env -u LD_PRELOAD timeout "$seconds_wrk_may_take" wrk -t1 -c"$connections" -d"${seconds}s" \
            --latency "http://127.0.0.1:$server_port/" >"$wrk_out" 2>&1 &
        wrk_pid=$!
        started_pids+=("$wrk_pid")
        wrk_status=0
        wait "$wrk_pid" || wrk_status=$?
        forget_pid "$wrk_pid"
        if [ $wrk_status != 0 ]; then
            log "bench/node/run.sh: wrk failed (status $wrk_status) against the $mode server:"
            cat "$wrk_out" >&2
            exit 1
        fi
        stop_server "$server_pid"
        python3 "$repo/bench/parse_wrk.py" "$wrk_out" node "$mode" "$round" >>"$results"
        stats=$(stats_of "$mode" "$stderr_file")
        if [ "$mode" != untraced ]; then
            printf 'stats\tnode\t%s\t%s\t%s\n' "$mode" "$round" "${stats:-none}" >>"$results"
        fi
        log "    node $mode round $round: $(grep 'Requests/sec' "$wrk_out" | tr -s ' ')${stats:+ ($stats)}"
    done
done

# ---- every mode up at once (see the header) ---------------------------------
[ -n "$interleave" ] || exit 0
log "==> node http server, every mode up at once: interleave, $connections connections, ${interleave_seconds}s in blocks of 50 ms, $rounds round(s): untraced untraced-b traceshim otel-sdk"
for round in $(seq 1 "$rounds"); do
    servers=() targets=()
    for mode in untraced untraced-b traceshim otel-sdk; do
        stderr_file="$work/node-interleaved-$mode-$round.stderr"
        start_server "${mode%-b}" "$stderr_file"
        servers+=("$mode $server_pid $stderr_file")
        targets+=("$mode=$server_port")
    done
    out="$work/interleave-node-$round.out"
    if ! summary=$(interleave_run "$interleave" node-interleaved "$connections" "$interleave_seconds" \
        "$round" "$results" "$out" "${targets[@]}"); then
        log "bench/node/run.sh: bench/interleave failed in round $round:"
        cat "$out.stderr" >&2
        exit 1
    fi
    for entry in "${servers[@]}"; do
        read -r mode pid stderr_file <<<"$entry"
        stop_server "$pid"
        if [ "${mode%-b}" != untraced ]; then
            stats=$(stats_of "$mode" "$stderr_file")
            printf 'stats\tnode-interleaved\t%s\t%s\t%s\n' "$mode" "$round" "${stats:-none}" >>"$results"
        fi
    done
    log "    node round $round: $summary"
done
