#!/bin/bash
# bench/run.sh — the benchmark suite (issue 8, DESIGN.md §7): every figure
# measured side by side, without and with the shim, in one run.
#
#   bash bench/run.sh            # full run (~3 min): prints the table, writes BENCHMARKS.md
#   bash bench/run.sh --smoke    # ~1 s per benchmark, < 60 s: must run, numbers mean little
#
# Options:
#   --lib PATH      the libtraceshim.so to measure (default: builds
#                   build-bench/ with cmake, RelWithDebInfo)
#   --out FILE      where the full run writes its report (default BENCHMARKS.md)
#   --keep          keep the work directory (raw wrk output, span files, stats)
#
# Installs nothing. Needs cc, python3, wrk, nginx; valgrind is optional
# (instructions per call are skipped without it). Everything listens on
# 127.0.0.1 on ports picked at run time; every process it starts is stopped
# on the way out, whatever happens.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
bench="$repo/bench"

smoke=0
library=""
report_file="$repo/BENCHMARKS.md"
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1 ;;
        --lib) library=$(readlink -f "$2"); shift ;;
        --out) report_file=$2; shift ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# ---- tools: say which Debian package is missing, install nothing ----------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (apt package: $2)"); }
need cc gcc
need python3 python3
need wrk wrk
need nginx nginx-light
need cmake cmake
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench/run.sh: missing tools, nothing was run:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    echo "  (scripts/install-deps.sh installs them; as root: apt-get install -y wrk nginx-light valgrind)" >&2
    exit 2
fi
have_valgrind=0
if command -v valgrind >/dev/null 2>&1; then
    have_valgrind=1
else
    echo "bench/run.sh: valgrind not found (apt package: valgrind): instructions per call are skipped" >&2
fi

# ---- durations: bounded in both modes --------------------------------------
if [ $smoke = 1 ]; then
    wrk_seconds=1 rounds=1 percall_calls=20000 percall_reps=3 percall_rounds=1
    hold_connections=200
else
    wrk_seconds=5 rounds=3 percall_calls=100000 percall_reps=5 percall_rounds=3
    hold_connections=10000
fi
hold_connections=${BENCH_HOLD_CONNECTIONS:-$hold_connections}  # e.g. fewer where ulimit -n is low
wrk_connections=32

# ---- work directory and clean-up -------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/traceshim-bench.XXXXXX")
started_pids=()
cleanup() {
    local pid
    for pid in "${started_pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            sleep 0.2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    if [ $keep = 1 ]; then echo "bench/run.sh: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
results="$work/results.tsv"
: >"$results"
log() { printf '%s\n' "$*" >&2; }

# ---- the library and the benchmark programs --------------------------------
if [ -z "$library" ]; then
    log "==> building the library into build-bench/ (RelWithDebInfo)"
    cmake -S "$repo" -B "$repo/build-bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$work/cmake.log" 2>&1 &&
        cmake --build "$repo/build-bench" -j"$(nproc)" --target traceshim >>"$work/cmake.log" 2>&1 ||
        { cat "$work/cmake.log" >&2; exit 1; }
    library="$repo/build-bench/libtraceshim.so"
fi
[ -f "$library" ] || { echo "bench/run.sh: no library at $library" >&2; exit 2; }
for program in tinyhttpd percall holdconns; do
    cc -std=c11 -O2 -Wall -Wextra -o "$work/$program" "$bench/$program.c"
done

# The environment of a traced process: 100% sampling (the default sampler,
# parentbased_always_on, with no inbound context), spans to $1.
traced_env() { # MODE(file|otlp) -> env assignments on stdout
    echo "LD_PRELOAD=$library TRACESHIM_STATS=1 OTEL_SERVICE_NAME=bench OTEL_TRACES_SAMPLER=always_on"
    case "$1" in
        file) echo "TRACESHIM_EXPORTER=file TRACESHIM_FILE=$work/spans-$RANDOM.jsonl" ;;
        otlp) echo "TRACESHIM_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$otlp_port" ;;
    esac
}

# Starts tinyhttpd (untraced or traced); sets server_pid and server_port.
start_tinyhttpd() { # MODE STDERR_FILE
    local port_file="$work/port-$RANDOM"
    if [ "$1" = untraced ]; then
        "$work/tinyhttpd" "$port_file" 300 2>"$2" &
    else
        env $(traced_env "$1") "$work/tinyhttpd" "$port_file" 300 2>"$2" &
    fi
    server_pid=$!
    started_pids+=("$server_pid")
    local waited=0
    until [ -s "$port_file" ]; do
        sleep 0.02
        waited=$((waited + 1))
        [ $waited -lt 250 ] || { log "tinyhttpd did not start"; cat "$2" >&2; exit 1; }
    done
    server_port=$(cat "$port_file")
    server_log="$2"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts nginx in the foreground, one process (master_process off: the
# worker is the process started here, so LD_PRELOAD and the exit-time flush
# apply to it directly), serving a 1 KiB static file.
start_nginx() { # MODE STDERR_FILE
    local prefix="$work/nginx-$RANDOM" attempt
    # nginx moves its stderr onto error_log once it runs: the shim's stats
    # line at exit lands there.
    server_log="$prefix/logs/error.log"
    mkdir -p "$prefix/html" "$prefix/logs" "$prefix/tmp"
    head -c 1024 /dev/zero | tr '\0' 'x' >"$prefix/html/index.html"
    for attempt in 1 2 3; do
        server_port=$(free_port)
        cat >"$prefix/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$server_port;
        root $prefix/html;
    }
}
EOF
        if [ "$1" = untraced ]; then
            nginx -p "$prefix" -c "$prefix/nginx.conf" 2>"$2" &
        else
            env $(traced_env "$1") nginx -p "$prefix" -c "$prefix/nginx.conf" 2>"$2" &
        fi
        server_pid=$!
        started_pids+=("$server_pid")
        local waited=0
        while [ $waited -lt 250 ] && kill -0 "$server_pid" 2>/dev/null; do
            port_answers "$server_port" && return 0
            sleep 0.02
            waited=$((waited + 1))
        done
        stop_server "$server_pid" QUIT
    done
    log "nginx did not start"; cat "$2" "$prefix/logs/error.log" >&2; exit 1
}

# Stops a server so that it runs its exit path (the shim's flush and stats
# line), and kills it if it does not end within 5 s.
stop_server() { # PID [SIGNAL]
    kill -"${2:-TERM}" "$1" 2>/dev/null || true
    local waited=0
    while kill -0 "$1" 2>/dev/null && [ $waited -lt 250 ]; do sleep 0.02; waited=$((waited + 1)); done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# ---- 1. per-call cost --------------------------------------------------------
log "==> per-call cost: percall $percall_calls calls x $percall_reps repetitions, $percall_rounds round(s), untraced and traced alternately"
for round in $(seq 1 "$percall_rounds"); do
    for mode in untraced traced; do
        if [ $mode = untraced ]; then
            TMPDIR="$work" "$work/percall" "$percall_calls" "$percall_reps" >"$work/percall.out"
        else
            env $(traced_env file) TMPDIR="$work" "$work/percall" "$percall_calls" "$percall_reps" \
                >"$work/percall.out" 2>>"$work/percall.stderr"
        fi
        while read -r kind median _ _ cpu; do
            printf "percall\t%s\t%s\t%s\t%s\t%s\n" "$kind" "$mode" "$round" "$median" "$cpu" >>"$results"
        done <"$work/percall.out"
    done
done

# Instructions per call: callgrind counts the instructions the process runs
# in user space (the system call itself is not counted). Each kind runs with
# SHORT and LONG calls, untraced and traced; (LONG-SHORT) cancels start-up
# and exit, and traced minus untraced is what the shim adds per call.
if [ $have_valgrind = 1 ]; then
    log "==> instructions per call (valgrind --tool=callgrind)"
    callgrind_total() { # PRELOAD ARGS... -> total Ir
        local out="$work/callgrind.$RANDOM"
        if [ -n "$1" ]; then
            env $(traced_env file) TMPDIR="$work" valgrind --tool=callgrind --callgrind-out-file="$out" \
                "${@:2}" >/dev/null 2>>"$work/callgrind.stderr"
        else
            TMPDIR="$work" valgrind --tool=callgrind --callgrind-out-file="$out" \
                "${@:2}" >/dev/null 2>>"$work/callgrind.stderr"
        fi
        awk '/^totals:|^summary:/ { print $2; exit }' "$out"
        rm -f "$out"
    }
    for kind in pipe file tcp-raw http; do
        if [ $kind = http ]; then short=200 long=1200; else short=2000 long=12000; fi
        [ $smoke = 1 ] && long=$((short * 3))
        untraced_short=$(callgrind_total "" "$work/percall" $short 1 $kind)
        untraced_long=$(callgrind_total "" "$work/percall" $long 1 $kind)
        traced_short=$(callgrind_total yes "$work/percall" $short 1 $kind)
        traced_long=$(callgrind_total yes "$work/percall" $long 1 $kind)
        # calls counted: both reads and writes for the fd kinds, exchanges for http
        calls=$((long - short))
        printf 'instr\t%s\t%s\t%s\n' "$kind" \
            "$(awk -v a="$untraced_short" -v b="$untraced_long" -v n=$calls 'BEGIN { printf "%.1f", (b - a) / n }')" \
            "$(awk -v a="$untraced_short" -v b="$untraced_long" -v c="$traced_short" -v d="$traced_long" -v n=$calls \
                'BEGIN { printf "%.1f", ((d - c) - (b - a)) / n }')" >>"$results"
    done
fi

# ---- 2. keep-alive HTTP throughput and latency -----------------------------
# The OTLP receiver: an untraced tinyhttpd, which reads each export request
# and its body and answers 200.
start_tinyhttpd untraced "$work/otlp-receiver.stderr"
otlp_pid=$server_pid otlp_port=$server_port

log "==> keep-alive HTTP: wrk -t1 -c$wrk_connections -d${wrk_seconds}s --latency, $rounds round(s), untraced/file/otlp alternately"
for round in $(seq 1 "$rounds"); do
    for server in tinyhttpd nginx; do
        for mode in untraced file otlp; do
            stderr_file="$work/$server-$mode-$round.stderr"
            "start_$server" "$mode" "$stderr_file"
            path=/
            wrk_out="$work/wrk-$server-$mode-$round.out"
            # wrk itself is never traced: LD_PRELOAD is cleared for it.
            env -u LD_PRELOAD timeout $((wrk_seconds + 30)) wrk -t1 -c$wrk_connections -d"${wrk_seconds}s" --latency \
                "http://127.0.0.1:$server_port$path" >"$wrk_out" 2>&1 || { cat "$wrk_out" >&2; exit 1; }
            stop_server "$server_pid" "$([ $server = nginx ] && echo QUIT || echo TERM)"
            python3 "$bench/parse_wrk.py" "$wrk_out" "$server" "$mode" "$round" >>"$results"
            if [ $mode != untraced ]; then
                stats=$(cat "$stderr_file" "$server_log" 2>/dev/null | grep -o 'stats spans_started.*' | head -1 || true)
                printf 'stats\t%s\t%s\t%s\t%s\n' "$server" "$mode" "$round" "${stats:-none}" >>"$results"
            fi
            log "    $server $mode round $round: $(grep 'Requests/sec' "$wrk_out" | tr -s ' ')"
        done
    done
done
stop_server "$otlp_pid"

# ---- 3. memory -----------------------------------------------------------------
log "==> memory: VmRSS of tinyhttpd idle and holding $hold_connections keep-alive connections"
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
for mode in untraced file; do
    start_tinyhttpd "$mode" "$work/memory-$mode.stderr"
    sleep 0.5
    idle=$(rss_kib "$server_pid")
    (ulimit -n 20000 2>/dev/null || true; exec "$work/holdconns" "$server_port" "$hold_connections" 60) \
        >"$work/holdconns.out" 2>&1 &
    holder_pid=$!
    started_pids+=("$holder_pid")
    waited=0
    until grep -q ready "$work/holdconns.out" 2>/dev/null; do
        if ! kill -0 "$holder_pid" 2>/dev/null; then
            status=0; wait "$holder_pid" || status=$?
            log "holdconns ($hold_connections connections to tinyhttpd $mode) ended with status $status:"
            cat "$work/holdconns.out" >&2
            exit 1
        fi
        sleep 0.05
        waited=$((waited + 1))
        [ $waited -lt 1200 ] || { log "holdconns did not finish"; exit 1; }
    done
    busy=$(rss_kib "$server_pid")
    rm -f "$work/holdconns.out"
    kill -TERM "$holder_pid" 2>/dev/null || true
    wait "$holder_pid" 2>/dev/null || true
    stop_server "$server_pid"
    printf 'rss\tidle\t%s\t%s\n' "$mode" "$idle" >>"$results"
    printf 'rss\tconnections-%s\t%s\t%s\n' "$hold_connections" "$mode" "$busy" >>"$results"
done

# ---- report ------------------------------------------------------------------
command_line="bash bench/run.sh"
if [ $smoke = 1 ]; then command_line="$command_line --smoke"; fi
report_args=(--results "$results" --command "$command_line" --library "${library#"$repo"/}"
    --wrk "wrk -t1 -c$wrk_connections -d${wrk_seconds}s --latency" --rounds "$rounds"
    --percall "$percall_calls calls x $percall_reps repetitions, $percall_rounds round(s)"
    --valgrind $have_valgrind)
if [ $smoke = 1 ]; then
    python3 "$bench/report.py" "${report_args[@]}"
else
    python3 "$bench/report.py" "${report_args[@]}" --write "$report_file"
    log "==> wrote $report_file"
fi
