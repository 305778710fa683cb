#!/bin/bash
# bench/run.sh — the benchmark suite (issue 8, DESIGN.md §7): every figure
# measured side by side, without and with the shim, in one run.
#
#   bash bench/run.sh            # full run (~10 min): prints the table, writes BENCHMARKS.md
#   bash bench/run.sh --smoke    # ~1 s per benchmark, under a minute: must run, numbers mean little
#
# Sections, in this order: per-call cost; the reporter alone per exporter
# (bench/reporter_bench.c, built next to the library when that is a CMake
# build directory); keep-alive HTTP against tinyhttpd (untraced, file,
# otlp, zipkin, jaeger) and nginx (untraced, file, otlp); the Node peer
# (bench/node/run.sh, skipped with its reason when Node or its modules are
# missing); a chain wrk -> nginx proxy -> tinyhttpd; memory.
#
# Options:
#   --lib PATH      the libtraceshim.so to measure (default: builds
#                   build-bench/ with cmake, RelWithDebInfo)
#   --out FILE      where the full run writes its report (default BENCHMARKS.md)
#   --keep          keep the work directory (raw wrk output, stats; not the
#                   span files, which are deleted once read in any case)
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
        -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}"; exit 0 ;;
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
# Keep-alive modes: tinyhttpd gets every exporter; nginx the file and OTLP
# ones (its runs compare a real server, and each mode costs a run per
# round). The smoke run leaves nginx's OTLP run out: the chain's OTLP run
# exercises nginx with that exporter already.
tinyhttpd_modes="untraced file otlp zipkin jaeger"
chain_modes="untraced file otlp"
if [ $smoke = 1 ]; then
    wrk_seconds=1 rounds=1 percall_calls=20000 percall_reps=3 percall_rounds=1 interleave_seconds=1
    hold_connections=200 reporter_spans=20000
    nginx_modes="untraced file"
else
    wrk_seconds=5 rounds=3 percall_calls=100000 percall_reps=7 percall_rounds=5 interleave_seconds=15
    hold_connections=10000 reporter_spans=300000
    nginx_modes="untraced file otlp"
fi
hold_connections=${BENCH_HOLD_CONNECTIONS:-$hold_connections}  # e.g. fewer where ulimit -n is low
wrk_connections=32

# ---- work directory and clean-up -------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/traceshim-bench.XXXXXX")
source "$bench/procs.sh"
source "$bench/nginx_conf.sh"
cleanup() {
    stop_started_pids
    if [ $keep = 1 ]; then echo "bench/run.sh: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
results="$work/results.tsv"
: >"$results"
# Section headings ("==> ...") carry the seconds since the start, so the
# time each section takes is in the log.
log() {
    case "$*" in
        "==> "*) printf '[%4ss] %s\n' "$SECONDS" "$*" >&2 ;;
        *) printf '%s\n' "$*" >&2 ;;
    esac
}
# A section that could not run for a reason outside the suite (a tool or
# module missing) is "skipped" with that reason; one that broke is
# "failed": the report says so and the script exits 1 at the end, after
# the report, so the other sections' figures are not lost.
failed_sections=()
section_skipped() { printf 'skip\t%s\t%s\n' "$1" "$2" >>"$results"; log "    $1: skipped: $2"; }
section_failed() { printf 'fail\t%s\t%s\n' "$1" "$2" >>"$results"; log "    $1: FAILED: $2"; failed_sections+=("$1"); }

# ---- the library and the benchmark programs --------------------------------
if [ -z "$library" ]; then
    log "==> building the library into build-bench/ (RelWithDebInfo)"
    cmake -S "$repo" -B "$repo/build-bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$work/cmake.log" 2>&1 &&
        cmake --build "$repo/build-bench" -j"$(nproc)" --target traceshim >>"$work/cmake.log" 2>&1 ||
        { cat "$work/cmake.log" >&2; exit 1; }
    library="$repo/build-bench/libtraceshim.so"
fi
[ -f "$library" ] || { echo "bench/run.sh: no library at $library" >&2; exit 2; }
for program in tinyhttpd percall holdconns udpsink interleave; do
    cc -std=c11 -O2 -Wall -Wextra -o "$work/$program" "$bench/$program.c"
done

# bench-reporter links the library's object files, so it is built in the
# library's own CMake build directory, before anything is measured (a
# build must not compete with a measurement). It is built from the
# checkout's sources as they are now: the library itself is not rebuilt,
# so sources changed since it was built make the two differ. A library
# from elsewhere (an installed copy) has no build directory: the reporter
# section is then skipped, saying so.
reporter_program=""
library_build_dir=$(dirname "$library")
if [ -f "$library_build_dir/CMakeCache.txt" ]; then
    log "==> building bench-reporter in ${library_build_dir#"$repo"/}/"
    if cmake --build "$library_build_dir" -j"$(nproc)" --target bench-reporter >"$work/bench-reporter-build.log" 2>&1; then
        reporter_program="$library_build_dir/bench-reporter"
    else
        tail -30 "$work/bench-reporter-build.log" >&2
        section_failed reporter "cmake --build ${library_build_dir#"$repo"/} --target bench-reporter failed"
    fi
else
    section_skipped reporter "the library ($library) is not in a CMake build directory, so bench-reporter cannot be built from its sources"
fi

# The environment of a traced process: 100% sampling (the default sampler,
# parentbased_always_on, with no inbound context), spans to $1's exporter.
# The receivers: otlp and zipkin post to the untraced tinyhttpd on
# $otlp_port (it reads and discards every body and answers 200), jaeger
# sends datagrams to the udpsink on $jaeger_port.
traced_env() { # MODE(file|otlp|zipkin|jaeger|none) [SPAN_FILE] -> env assignments on stdout
    echo "LD_PRELOAD=$library TRACESHIM_STATS=1 OTEL_SERVICE_NAME=bench OTEL_TRACES_SAMPLER=always_on"
    case "$1" in
        file) echo "TRACESHIM_EXPORTER=file TRACESHIM_FILE=${2:-$(mktemp --suffix=.jsonl "$work/spans-XXXXXX")}" ;;
        otlp) echo "TRACESHIM_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$otlp_port" ;;
        zipkin) echo "TRACESHIM_EXPORTER=zipkin OTEL_EXPORTER_ZIPKIN_ENDPOINT=http://127.0.0.1:$otlp_port/api/v2/spans" ;;
        jaeger) echo "TRACESHIM_EXPORTER=jaeger OTEL_EXPORTER_JAEGER_AGENT_HOST=127.0.0.1 OTEL_EXPORTER_JAEGER_AGENT_PORT=$jaeger_port" ;;
        none) echo "TRACESHIM_EXPORTER=none" ;;  # every span made, none exported
    esac
}

# A fresh, empty port file for a server to write its port into. Unique:
# names from $RANDOM collided now and then (a hundred servers a run), and a
# waiter then read a port file of a server long gone ("Connection refused").
new_port_file() { mktemp "$work/port-XXXXXX"; }

# Waits for a program to write its port file; fails the run if it does not.
wait_port_file() { # PID PORT_FILE STDERR_FILE NAME
    local waited=0
    until [ -s "$2" ]; do
        sleep 0.02
        waited=$((waited + 1))
        if [ $waited -ge 250 ] || ! kill -0 "$1" 2>/dev/null; then
            log "$4 did not start"; cat "$3" >&2; exit 1
        fi
    done
}

# Starts tinyhttpd (untraced or traced); sets server_pid and server_port.
# tinyhttpd exits by itself after LIFETIME seconds (default 300), a bound
# in case the suite is killed before it can stop it.
start_tinyhttpd() { # MODE STDERR_FILE [SPAN_FILE [LIFETIME]]
    local port_file lifetime=${4:-300}
    port_file=$(new_port_file)
    if [ "$1" = untraced ]; then
        "$work/tinyhttpd" "$port_file" "$lifetime" 2>"$2" &
    else
        env $(traced_env "$1" "${3:-}") "$work/tinyhttpd" "$port_file" "$lifetime" 2>"$2" &
    fi
    server_pid=$!
    started_pids+=("$server_pid")
    wait_port_file "$server_pid" "$port_file" "$2" tinyhttpd
    server_port=$(cat "$port_file")
    server_log="$2"
}

# Starts a udpsink, the stand-in Jaeger agent, counting MARKER; sets
# sink_pid, sink_output and jaeger_port.
start_udpsink() { # MARKER
    local port_file
    port_file=$(new_port_file)
    sink_output=$(mktemp "$work/udpsink-XXXXXX.out")
    "$work/udpsink" "$port_file" 600 "$1" >"$sink_output" 2>"$sink_output.stderr" &
    sink_pid=$!
    started_pids+=("$sink_pid")
    wait_port_file "$sink_pid" "$port_file" "$sink_output.stderr" udpsink
    jaeger_port=$(cat "$port_file")
}

# Stops the udpsink and prints its counts (one line).
stop_udpsink() {
    stop_server "$sink_pid"
    cat "$sink_output"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts nginx (bench/nginx_conf.sh: one process, serving a 1 KiB static
# file or, given BACKEND_PORT, a keep-alive reverse proxy to it, with an
# upstream pool as large as wrk's connection count); sets server_pid,
# server_port and server_log.
start_nginx() { # MODE STDERR_FILE [SPAN_FILE [BACKEND_PORT]]
    local prefix attempt
    prefix=$(mktemp -d "$work/nginx-XXXXXX")
    server_log="$prefix/logs/error.log"
    for attempt in 1 2 3; do
        server_port=$(free_port)
        write_nginx_conf "$prefix" "$server_port" "${4:-}" "$wrk_connections"
        if [ "$1" = untraced ]; then
            nginx -p "$prefix" -c "$prefix/nginx.conf" 2>"$2" &
        else
            env $(traced_env "$1" "${3:-}") nginx -p "$prefix" -c "$prefix/nginx.conf" 2>"$2" &
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

# Span files run to gigabytes in a full run: gone once used, --keep or
# not. Kept, their dirty pages pile up past the kernel's writeback
# threshold and slow every file write after them (percall's traced runs
# append to one file: its CPU per exchange grew round after round).
drop_span_files() { rm -f "$@"; }

# ---- 1. per-call cost --------------------------------------------------------
log "==> per-call cost: percall $percall_calls calls x $percall_reps repetitions, $percall_rounds round(s), untraced and traced alternately"
for round in $(seq 1 "$percall_rounds"); do
    for mode in untraced traced; do
        if [ $mode = untraced ]; then
            TMPDIR="$work" "$work/percall" --after-span "$percall_calls" "$percall_reps" >"$work/percall.out"
        else
            # A traced run writes about a million spans (1 GB); deleted at
            # once, its pages are dropped instead of written back, so they
            # do not slow the file writes of the sections after it.
            env $(traced_env file "$work/spans-percall.jsonl") TMPDIR="$work" "$work/percall" --after-span \
                "$percall_calls" "$percall_reps" >"$work/percall.out" 2>>"$work/percall.stderr"
            drop_span_files "$work/spans-percall.jsonl"
        fi
        while read -r kind median best _ cpu; do
            printf "percall\t%s\t%s\t%s\t%s\t%s\t%s\n" "$kind" "$mode" "$round" "$median" "$cpu" "$best" >>"$results"
        done <"$work/percall.out"
    done
done

# Instructions per call: callgrind counts the instructions the process runs
# in user space (the system call itself is not counted). Each kind runs with
# SHORT and LONG calls, untraced and traced; (LONG-SHORT) cancels start-up
# and exit, and traced minus untraced is what the shim adds per call.
# One "instr" result: KIND, then per call the untraced instructions and
# those the shim adds, from the totals of short and long runs.
instr_line() { # KIND UNTRACED_SHORT UNTRACED_LONG TRACED_SHORT TRACED_LONG CALLS
    printf 'instr\t%s\t%s\t%s\n' "$1" \
        "$(awk -v a="$2" -v b="$3" -v n="$6" 'BEGIN { printf "%.1f", (b - a) / n }')" \
        "$(awk -v a="$2" -v b="$3" -v c="$4" -v d="$5" -v n="$6" \
            'BEGIN { printf "%.1f", ((d - c) - (b - a)) / n }')" >>"$results"
}
if [ $have_valgrind = 1 ]; then
    log "==> instructions per call (valgrind --tool=callgrind)"
    callgrind_total() { # PRELOAD ARGS... -> total Ir
        local out
        out=$(mktemp "$work/callgrind-XXXXXX")
        if [ -n "$1" ]; then
            env $(traced_env file "$work/spans-callgrind.jsonl") TMPDIR="$work" valgrind --tool=callgrind \
                --callgrind-out-file="$out" "${@:2}" >/dev/null 2>>"$work/callgrind.stderr"
            drop_span_files "$work/spans-callgrind.jsonl"
        else
            TMPDIR="$work" valgrind --tool=callgrind --callgrind-out-file="$out" \
                "${@:2}" >/dev/null 2>>"$work/callgrind.stderr"
        fi
        awk '/^totals:|^summary:/ { print $2; exit }' "$out"
        rm -f "$out"
    }
    # Both counts at least 1000: percall's warm-up is min(calls, 1000)
    # calls, so the two runs' warm-ups are the same and cancel.
    # percall --after-span: every kind is measured as in a traced program
    # after its first request, with the reporter thread running (its
    # existence changes what glibc does on every call: README, "The
    # reporter's fd table"); "pipe-before-span" is the pipe before any span.
    for kind in pipe file tcp-raw http pipe-before-span; do
        if [ $kind = http ]; then short=1000 long=2000; else short=2000 long=12000; fi
        [ $smoke = 1 ] && long=$((short * 3))
        percall_args=(--after-span) percall_kind=$kind
        [ $kind = pipe-before-span ] && percall_args=() percall_kind=pipe
        untraced_short=$(callgrind_total "" "$work/percall" "${percall_args[@]}" $short 1 $percall_kind)
        untraced_long=$(callgrind_total "" "$work/percall" "${percall_args[@]}" $long 1 $percall_kind)
        traced_short=$(callgrind_total yes "$work/percall" "${percall_args[@]}" $short 1 $percall_kind)
        traced_long=$(callgrind_total yes "$work/percall" "${percall_args[@]}" $long 1 $percall_kind)
        # calls counted: both reads and writes for the fd kinds, exchanges for http
        calls=$((long - short))
        instr_line "$kind" "$untraced_short" "$untraced_long" "$traced_short" "$traced_long" $calls
    done
    # A server's side alone, what nginx pays: tinyhttpd under callgrind
    # answering N keep-alive GETs from bench/keepalive_get.py (untraced, in
    # its own process); every thread of the server counts, so the traced
    # figure holds the reporter's encoding and writing of each span too.
    callgrind_server() { # PRELOAD REQUESTS CONTEXT -> total Ir
        local out port_file pid
        out=$(mktemp "$work/callgrind-XXXXXX")
        port_file=$(new_port_file)
        if [ -n "$1" ]; then
            env $(traced_env file "$work/spans-callgrind.jsonl") valgrind --tool=callgrind \
                --callgrind-out-file="$out" "$work/tinyhttpd" "$port_file" 300 \
                >/dev/null 2>>"$work/callgrind.stderr" &
        else
            valgrind --tool=callgrind --callgrind-out-file="$out" "$work/tinyhttpd" "$port_file" 300 \
                >/dev/null 2>>"$work/callgrind.stderr" &
        fi
        pid=$!
        started_pids+=("$pid")
        wait_port_file "$pid" "$port_file" "$work/callgrind.stderr" "tinyhttpd under callgrind"
        python3 "$bench/keepalive_get.py" "$(cat "$port_file")" "$2" "$3"
        stop_server "$pid"
        drop_span_files "$work/spans-callgrind.jsonl"
        awk '/^totals:|^summary:/ { print $2; exit }' "$out"
        rm -f "$out"
    }
    short=200 long=1200
    [ $smoke = 1 ] && long=600
    for context in none traceparent; do
        instr_line "server-$context" \
            "$(callgrind_server "" $short $context)" "$(callgrind_server "" $long $context)" \
            "$(callgrind_server yes $short $context)" "$(callgrind_server yes $long $context)" \
            $((long - short))
    done
fi

# ---- receivers, for the reporter, keep-alive, Node and chain sections ------
# The OTLP and Zipkin receiver: an untraced tinyhttpd, which reads each
# export request and its body and answers 200. It stays up until the chain
# section is done: its lifetime covers the whole suite (a full run takes
# about 10 minutes; with 300 s, the default, it was gone before the chain's
# OTLP runs, which then dropped every span).
start_tinyhttpd untraced "$work/otlp-receiver.stderr" "" 3600
otlp_pid=$server_pid otlp_port=$server_port

# ---- 2. the reporter alone, per exporter -----------------------------------
# bench-reporter (bench/reporter_bench.c) submits $reporter_spans server
# spans through the reporter's API and flushes, one process per exporter
# (the configuration is read once per process), in a clean environment
# holding only its exporter's variables. It runs before the HTTP sections:
# their span files leave the kernel gigabytes of page cache to write back
# and discard, which would slow the file exporter's appends here.
if [ -n "$reporter_program" ]; then
    reporter_exporters="file otlp otlp-json zipkin jaeger"
    log "==> reporter: bench-reporter $reporter_spans spans per exporter, $rounds round(s): $reporter_exporters"
    for round in $(seq 1 "$rounds"); do
        for exporter in $reporter_exporters; do
            case $exporter in
                file) exporter_env=(TRACESHIM_EXPORTER=file TRACESHIM_FILE="$work/reporter-spans.jsonl") ;;
                otlp) exporter_env=(TRACESHIM_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
                          OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port") ;;
                otlp-json) exporter_env=(TRACESHIM_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=http/json
                          OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port") ;;
                zipkin) exporter_env=(TRACESHIM_EXPORTER=zipkin
                          OTEL_EXPORTER_ZIPKIN_ENDPOINT="http://127.0.0.1:$otlp_port/api/v2/spans") ;;
                jaeger) start_udpsink "GET /bench/items/"
                        exporter_env=(TRACESHIM_EXPORTER=jaeger OTEL_EXPORTER_JAEGER_AGENT_HOST=127.0.0.1
                          OTEL_EXPORTER_JAEGER_AGENT_PORT="$jaeger_port") ;;
            esac
            reporter_status=0
            env -i PATH="$PATH" OTEL_SERVICE_NAME=bench-reporter "${exporter_env[@]}" \
                timeout 300 "$reporter_program" "$reporter_spans" "$exporter" "$round" \
                >"$work/reporter.out" 2>"$work/reporter.err" || reporter_status=$?
            if [ $exporter = jaeger ]; then
                printf 'udpsink\treporter\t%s\t%s\t%s\n' "$exporter" "$round" "$(stop_udpsink)" >>"$results"
            fi
            drop_span_files "$work/reporter-spans.jsonl"
            if [ $reporter_status != 0 ] || ! grep -q $'^reporter\t' "$work/reporter.out"; then
                cat "$work/reporter.out" "$work/reporter.err" >&2
                section_failed reporter "bench-reporter $exporter exited with status $reporter_status"
                break 2
            fi
            cat "$work/reporter.out" >>"$results"
            log "    $exporter round $round: $(awk -F'\t' '{ printf "%s spans/s, export CPU %s us per 1000 spans", $6, $7 }' "$work/reporter.out")"
        done
    done
fi

# ---- 3. keep-alive HTTP throughput and latency -----------------------------
# Runs wrk against 127.0.0.1:PORT and appends its figures as an http line.
run_wrk() { # PORT SERVER MODE ROUND SLOT [CONNECTIONS]
    local wrk_out="$work/wrk-$2-$3-$4-$5.out"
    # wrk itself is never traced: LD_PRELOAD is cleared for it.
    env -u LD_PRELOAD timeout $((wrk_seconds + 30)) wrk -t1 -c"${6:-$wrk_connections}" -d"${wrk_seconds}s" --latency \
        "http://127.0.0.1:$1/" >"$wrk_out" 2>&1 || { cat "$wrk_out" >&2; exit 1; }
    python3 "$bench/parse_wrk.py" "$wrk_out" "$2" "$3" "$4" "$5" >>"$results"
    log "    $2 $3 round $4: $(grep 'Requests/sec' "$wrk_out" | tr -s ' ')"
}

# The shim's counters of a traced run, from its TRACESHIM_STATS line.
record_stats() { # NAME MODE ROUND FILE...
    local stats
    stats=$(cat "${@:4}" 2>/dev/null | grep -o 'stats spans_started.*' | head -1 || true)
    printf 'stats\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${stats:-none}" >>"$results"
}


# A round's runs: an untraced run before the first traced mode and after
# each one ("untraced file untraced otlp untraced"), so that every traced
# run is compared with the untraced runs right before and after it. On a
# machine whose speed drifts from one run to the next (shared cores), a
# single untraced run per round put the traced runs late in the round
# against a baseline tens of seconds older.
interleaved() { # MODE... -> the round's runs, untraced ones between
    local runs="untraced" mode
    for mode in "$@"; do
        [ "$mode" = untraced ] || runs="$runs $mode untraced"
    done
    echo "$runs"
}

log "==> keep-alive HTTP: wrk -t1 -c$wrk_connections -d${wrk_seconds}s --latency, $rounds round(s), tinyhttpd: $(interleaved $tinyhttpd_modes); nginx: $(interleaved $nginx_modes)"
for round in $(seq 1 "$rounds"); do
    for server in tinyhttpd nginx; do
        modes_of_server="${server}_modes"
        slot=0
        for mode in $(interleaved ${!modes_of_server}); do
            stderr_file="$work/$server-$mode-$round-$slot.stderr"
            span_file="$work/spans-$server-$mode-$round-$slot.jsonl"
            # The stand-in Jaeger agent counts the span names it receives:
            # wrk asks for /, so every span is named "GET /".
            if [ $mode = jaeger ]; then start_udpsink "GET /"; fi
            "start_$server" "$mode" "$stderr_file" "$span_file"
            run_wrk "$server_port" "$server" "$mode" "$round" "$slot"
            slot=$((slot + 1))
            stop_server "$server_pid" "$([ $server = nginx ] && echo QUIT || echo TERM)"
            if [ $mode != untraced ]; then record_stats "$server" "$mode" "$round" "$stderr_file" "$server_log"; fi
            if [ $mode = jaeger ]; then
                printf 'udpsink\t%s\t%s\t%s\t%s\n' "$server" "$mode" "$round" "$(stop_udpsink)" >>"$results"
            fi
            drop_span_files "$span_file"
        done
    done
done

# ---- 3b. keep-alive HTTP, every mode up at once ---------------------------
# wrk against one server after another (above) compares runs seconds
# apart, and on shared cores an untraced nginx's req/s moved by up to 50%
# from one second to the next. Here one server per mode is up at once,
# plus a second untraced one ("untraced-b"), and bench/interleave.c puts
# the load (32 connections, closed loop like wrk's) on each in turn, 50 ms
# at a time: a slow moment falls on every mode alike, and untraced-b's
# difference from untraced is the method's own noise floor. The report
# judges the throughput targets on these runs. One more server runs with
# the exporter "none": the shim makes every span (parses, ids, attributes,
# propagation) and exports none, so its loss is what the program's own
# thread pays and an exporter's loss beyond it is the export's.
source "$bench/interleave.sh"
run_interleaved() { # WHAT CONNECTIONS ROUND NAME=PORT...
    local what=$1 connections=$2 round=$3 out="$work/interleave-$1-$3.out" summary
    shift 3
    if summary=$(interleave_run "$work/interleave" "$what" "$connections" "$interleave_seconds" "$round" \
        "$results" "$out" "$@"); then
        log "    $what round $round: $summary"
    else
        cat "$out.stderr" >&2
        section_failed "$what" "bench/interleave failed in round $round: $(tail -1 "$out.stderr")"
    fi
}
log "==> keep-alive HTTP, every mode up at once: interleave, $wrk_connections connections, ${interleave_seconds}s in blocks of 50 ms, $rounds round(s); tinyhttpd: untraced untraced-b ${tinyhttpd_modes#untraced } none; nginx: untraced untraced-b ${nginx_modes#untraced } none"
for round in $(seq 1 "$rounds"); do
    for server in tinyhttpd nginx; do
        modes_of_server="${server}_modes"
        targets=() servers=()
        for mode in untraced untraced-b ${!modes_of_server#untraced } none; do
            stderr_file="$work/$server-interleaved-$mode-$round.stderr"
            if [ $mode = jaeger ]; then start_udpsink "GET /"; fi
            "start_$server" "${mode%-b}" "$stderr_file" "$work/spans-$server-interleaved-$mode-$round.jsonl"
            servers+=("$mode $server_pid $stderr_file $server_log")
            targets+=("$mode=$server_port")
        done
        run_interleaved "$server-interleaved" "$wrk_connections" "$round" "${targets[@]}"
        for entry in "${servers[@]}"; do
            read -r mode pid stderr_file log_file <<<"$entry"
            stop_server "$pid" "$([ $server = nginx ] && echo QUIT || echo TERM)"
            [ "${mode%-b}" = untraced ] || record_stats "$server-interleaved" "$mode" "$round" "$stderr_file" "$log_file"
            if [ $mode = jaeger ]; then
                printf 'udpsink\t%s\t%s\t%s\t%s\n' "$server-interleaved" "$mode" "$round" "$(stop_udpsink)" >>"$results"
            fi
        done
        drop_span_files "$work/spans-$server-interleaved-"*"-$round.jsonl"
    done
done

# ---- 4. peer: a Node http server, traceshim vs the OpenTelemetry JS SDK ----
# bench/node/run.sh measures it and writes http/stats lines for server
# "node"; it exits 3, saying why, when Node, its modules or a tool is
# missing: the section is then skipped with that reason. Its OTel SDK runs
# export to the same OTLP receiver.
one_line() { tr '\t\n' '  ' | sed 's/  */ /g; s/^ //; s/ $//'; }
node_script=${BENCH_NODE_SCRIPT:-$bench/node/run.sh}  # another in its place: to test skip and failure
if [ ! -f "$node_script" ]; then
    section_skipped node "${node_script#"$repo"/} is not there"
else
    log "==> peer: Node http server (bench/node/run.sh), $rounds round(s)"
    mkdir -p "$work/node"
    node_results="$work/node-results.tsv"
    : >"$node_results"
    node_status=0
    timeout $((rounds * (wrk_seconds * 6 + interleave_seconds + 30) + 240)) bash "$node_script" --lib "$library" --work "$work/node" \
        --seconds "$wrk_seconds" --rounds "$rounds" --otlp-port "$otlp_port" --results "$node_results" \
        --interleave "$work/interleave" --interleave-seconds "$interleave_seconds" \
        >"$work/node.out" 2>"$work/node.err" || node_status=$?
    node_message=$(cat "$work/node.err" "$work/node.out" | grep -v '^[[:space:]]*$' | tail -1 | one_line)
    case $node_status in
        0)
            if grep -q $'^http\tnode\t' "$node_results"; then
                grep -E $'^(http|stats|interleave)\tnode(-interleaved)?\t' "$node_results" >>"$results"
            else
                section_failed node "bench/node/run.sh exited 0 but wrote no http lines for node"
            fi ;;
        3) section_skipped node "${node_message:-bench/node/run.sh exited 3 without a message}" ;;
        124) tail -20 "$work/node.err" >&2; section_failed node "bench/node/run.sh timed out" ;;
        *) tail -20 "$work/node.err" >&2
           section_failed node "bench/node/run.sh exited with status $node_status: $node_message" ;;
    esac
fi

# ---- 5. a chain: wrk -> nginx reverse proxy -> tinyhttpd -------------------
# Untraced: neither server is. Traced: both are, with the same exporter;
# that is two traced hops (wrk -> nginx: nginx's server span; nginx ->
# tinyhttpd: nginx's client span and tinyhttpd's server span). With the file
# exporter, bench/chain_check.py then checks that the requests formed one
# trace each across both hops.
log "==> chain: wrk -> nginx (reverse proxy, keep-alive upstream) -> tinyhttpd, $rounds round(s), $(interleaved $chain_modes)"
for round in $(seq 1 "$rounds"); do
    slot=0
    for mode in $(interleaved $chain_modes); do
        run_name="$mode-$round-$slot"
        proxy_spans="$work/chain-proxy-$run_name.jsonl"
        backend_spans="$work/chain-backend-$run_name.jsonl"
        start_tinyhttpd "$mode" "$work/chain-backend-$run_name.stderr" "$backend_spans"
        backend_pid=$server_pid backend_log=$server_log
        start_nginx "$mode" "$work/chain-proxy-$run_name.stderr" "$proxy_spans" "$server_port"
        run_wrk "$server_port" chain "$mode" "$round" "$slot"
        slot=$((slot + 1))
        # The proxy first: it ends its spans and closes its upstream
        # connections; then the backend has served everything it will.
        stop_server "$server_pid" QUIT
        stop_server "$backend_pid"
        if [ $mode != untraced ]; then
            record_stats chain-proxy "$mode" "$round" "$work/chain-proxy-$run_name.stderr" "$server_log"
            record_stats chain-backend "$mode" "$round" "$backend_log"
        fi
        if [ $mode = file ]; then
            printf 'chaincheck\t%s\t%s\t%s\n' "$mode" "$round" \
                "$(python3 "$bench/chain_check.py" "$proxy_spans" "$backend_spans")" >>"$results"
        fi
        drop_span_files "$proxy_spans" "$backend_spans"
    done
done

# ---- 5b. the chain, one request at a time, every mode up at once ----------
# One request at a time: nothing queues in front of a server, so the
# latency is what the hops add to a request, not the throughput lost under
# saturation (with 32 requests in flight, Little's law turns any lost req/s
# into latency). A chain per mode, all up together, visited in turn by
# bench/interleave.c with one connection (see run_interleaved).
log "==> chain one request at a time: interleave, 1 connection, ${interleave_seconds}s in blocks of 50 ms, $rounds round(s), chains up at once: untraced untraced-b file otlp"
for round in $(seq 1 "$rounds"); do
    latency_targets=() latency_proxies=() latency_backends=()
    for mode in untraced untraced-b file otlp; do
        proxy_spans="$work/light-proxy-$mode-$round.jsonl"
        backend_spans="$work/light-backend-$mode-$round.jsonl"
        start_tinyhttpd "${mode%-b}" "$work/light-backend-$mode-$round.stderr" "$backend_spans"
        latency_backends+=("$mode $server_pid $server_log")
        start_nginx "${mode%-b}" "$work/light-proxy-$mode-$round.stderr" "$proxy_spans" "$server_port"
        latency_proxies+=("$mode $server_pid $work/light-proxy-$mode-$round.stderr $server_log")
        latency_targets+=("$mode=$server_port")
    done
    run_interleaved chain-light 1 "$round" "${latency_targets[@]}"
    # The proxies first (they end their spans and close their upstream
    # connections), then the backends.
    for entry in "${latency_proxies[@]}"; do
        read -r mode pid stderr_file log_file <<<"$entry"
        stop_server "$pid" QUIT
        [ "${mode%-b}" = untraced ] || record_stats chain-light-proxy "$mode" "$round" "$stderr_file" "$log_file"
    done
    for entry in "${latency_backends[@]}"; do
        read -r mode pid log_file <<<"$entry"
        stop_server "$pid"
        [ "${mode%-b}" = untraced ] || record_stats chain-light-backend "$mode" "$round" "$log_file"
    done
    drop_span_files "$work"/light-*-"$round".jsonl
done

# A receiver gone before its last user would have turned every export
# after it into a drop: say so instead of reporting those runs.
if ! kill -0 "$otlp_pid" 2>/dev/null; then
    section_failed receiver "the OTLP/Zipkin receiver (tinyhttpd) exited before the chain section ended; exports after that failed"
fi
stop_server "$otlp_pid"

# ---- 6. memory -----------------------------------------------------------------
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
    --valgrind $have_valgrind
    --modes "tinyhttpd: $(interleaved $tinyhttpd_modes); nginx: $(interleaved $nginx_modes)" --chain-modes "$(interleaved $chain_modes)"
    --interleave "$interleave_seconds s in blocks of 50 ms"
    --reporter "$reporter_spans spans per run, $rounds round(s)")
if [ $smoke = 1 ]; then
    python3 "$bench/report.py" "${report_args[@]}"
else
    python3 "$bench/report.py" "${report_args[@]}" --write "$report_file"
    log "==> wrote $report_file"
fi
if [ ${#failed_sections[@]} -gt 0 ]; then
    log "bench/run.sh: failed: ${failed_sections[*]} (see above; the report says so too)"
    exit 1
fi
