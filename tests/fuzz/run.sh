#!/bin/bash
# run.sh [SECONDS] [NAME=SECONDS ...] — build every libFuzzer target in
# tests/fuzz/ with clang (ASan+UBSan) into build-fuzz/ and run each for
# SECONDS (default 15) over a copy of its seed corpus (tests/fuzz/corpus/NAME/).
# NAME=SECONDS gives one target its own time (0 skips it). A crash fails the
# run; its input is left in build-fuzz/NAME-crashes/ to become a regression
# input, tests/fuzz/regressions/NAME-*.bin, which every run replays first.
#   bash tests/fuzz/run.sh 600                   # a longer run, by hand
#   bash tests/fuzz/run.sh 10 injector=60        # one target longer
#   bash tests/fuzz/run.sh 0 encoders=1800 chunked=1800  # before a release:
#                                                # the encoders and chunked bodies
# Targets: http1 (HTTP/1 parser, body framing, redaction), chunked (the chunked body
# decoder against a line-by-line reference, whole, in pieces and byte by
# byte), strategy (remote sampling strategies, endpoint URLs, OTLP header
# lists, an OTLP receiver's partial success, Retry-After dates), propagation (b3, B3 multi, traceparent, uber-trace-id
# parse/inject round trips), config (every variable read by ts_config_load,
# ts_sampler_load, ts_rules_load), injector (the client send path under a
# kernel that takes part of each send), encoders (OTLP/JSON, OTLP protobuf,
# Zipkin JSON and Jaeger thrift batches of any span, decoded back: valid
# message trees, round-tripped values, finish() within bound()), fcgi (FastCGI
# request and response heads read as HTTP, the records after them walked,
# trace context written as a PARAMS record and read back).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."
secs=${1:-15}
if [ $# -gt 0 ]; then shift; fi
declare -A time_of=()
for arg in "$@"; do
    case $arg in
    *=*) time_of[${arg%%=*}]=${arg#*=} ;;
    *) echo "run.sh: expected NAME=SECONDS, got '$arg'" >&2; exit 2 ;;
    esac
done
out=build-fuzz
mkdir -p "$out"
conn_sources="hooks/conn.c hooks/conn_lock.c hooks/held.c hooks/conn_send.c hooks/conn_spans.c hooks/conn_fcgi.c hooks/fcgi.c hooks/tls_sessions.c hooks/tls_out.c hooks/inflight.c hooks/exec_env.c
    hooks/process_span.c hooks/rules.c hooks/http1.c hooks/propagation.c hooks/trust.c hooks/url_redact.c hooks/forwarded.c
    reporter/sampler.c common/arena.c common/c_number.c common/json_read.c preload/guard.c preload/hex.c
    preload/span.c preload/config.c preload/log.c preload/fsize_signal.c preload/sandbox.c preload/fd_split.c preload/real.c preload/next_symbol.c preload/loaded_objects.c preload/ids.c preload/context.c
    preload/process.c preload/fdtable.c preload/url.c preload/stacks.c preload/self_image.c preload/deepbind.c preload/deepbind_objects.c
    preload/stats.c preload/blocks.c preload/exit_key.c preload/direct.c preload/clock.c"
# target name -> the sources it fuzzes
declare -A sources=(
    [http1]="hooks/http1.c hooks/fcgi.c hooks/url_redact.c hooks/forwarded.c preload/url.c"
    [chunked]="hooks/http1.c hooks/fcgi.c preload/url.c"
    [fcgi]="hooks/fcgi.c hooks/http1.c preload/url.c"
    [strategy]="reporter/sampler.c reporter/otlp_response.c reporter/http_date.c common/json_read.c common/arena.c common/c_number.c preload/config.c preload/url.c preload/log.c preload/fsize_signal.c preload/sandbox.c preload/fd_split.c preload/real.c preload/next_symbol.c preload/loaded_objects.c preload/self_image.c preload/guard.c preload/clock.c"
    [propagation]="hooks/propagation.c preload/hex.c"
    [config]="preload/config.c preload/url.c preload/log.c preload/fsize_signal.c preload/sandbox.c preload/fd_split.c preload/real.c preload/next_symbol.c preload/loaded_objects.c preload/self_image.c preload/guard.c preload/clock.c reporter/sampler.c common/json_read.c common/arena.c common/c_number.c hooks/rules.c -lpcre2-8"
    # what tests/unit/test_conn_send links (its reporter stubbed in the target)
    [injector]="$conn_sources -lpcre2-8 -ldl -lpthread"
    # the four encoders, the resource they describe, the symbolizer that
    # turns frames into attributes, and json_read to decode JSON back
    [encoders]="reporter/json_buf.c reporter/resource.c reporter/otlp_json.c reporter/otlp_proto.c
        reporter/pb_writer.c reporter/zipkin_json.c reporter/jaeger_thrift.c reporter/thrift_compact.c
        reporter/symbolize.c preload/span.c preload/hex.c preload/config.c preload/url.c
        preload/process.c preload/real.c preload/next_symbol.c preload/loaded_objects.c preload/log.c preload/fsize_signal.c preload/sandbox.c preload/fd_split.c preload/guard.c preload/blocks.c preload/exit_key.c
        preload/self_image.c preload/clock.c common/json_read.c common/arena.c common/c_number.c -ldl -lpthread"
)
for name in "${!time_of[@]}"; do
    [ -n "${sources[$name]:-}" ] || { echo "run.sh: no target '$name'" >&2; exit 2; }
done
status=0
for name in "${!sources[@]}"; do
    t=${time_of[$name]:-$secs}
    [ "$t" = 0 ] && continue
    # the sources first, the target and the libraries (-l...) after it
    srcs=() libs=()
    for w in ${sources[$name]}; do
        case $w in -l*) libs+=("$w") ;; *) srcs+=("$w") ;; esac
    done
    clang -std=gnu11 -D_GNU_SOURCE -DTS_VERSION='"fuzz"' -g -O1 \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
        "${srcs[@]}" "tests/fuzz/fuzz_$name.c" "${libs[@]}" -o "$out/fuzz_$name"
    # every input that once crashed must not crash again
    regressions=(tests/fuzz/regressions/"$name"-*)
    if [ -e "${regressions[0]}" ]; then
        if "$out/fuzz_$name" "${regressions[@]}" >"$out/$name-regressions.log" 2>&1; then
            echo "fuzz $name: ${#regressions[@]} regression input(s) replayed, clean"
        else
            echo "fuzz $name: a regression input crashes again, see $out/$name-regressions.log"
            tail -30 "$out/$name-regressions.log"
            status=1
        fi
    fi
    rm -rf "$out/$name-corpus" "$out/$name-crashes"
    mkdir -p "$out/$name-corpus" "$out/$name-crashes"
    cp tests/fuzz/corpus/"$name"/* "$out/$name-corpus/"
    if "$out/fuzz_$name" -max_total_time="$t" -print_final_stats=1 \
        -artifact_prefix="$out/$name-crashes/" "$out/$name-corpus" >"$out/$name.log" 2>&1; then
        echo "fuzz $name: clean for ${t}s ($(grep -o 'cov: [0-9]*' "$out/$name.log" | tail -1)," \
            "$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$name.log") exec/s)"
    else
        echo "fuzz $name: FAILED, see $out/$name.log and $out/$name-crashes/"
        # what broke, and the input, in the output itself: a CI machine
        # keeps neither file
        grep -m5 -E 'CHECK failed|runtime error|ERROR: ' "$out/$name.log" || true
        tail -30 "$out/$name.log"
        for f in "$out/$name-crashes"/*; do
            [ -f "$f" ] || continue
            echo "input $(basename "$f") ($(wc -c <"$f") bytes; save with xxd -r -p):"
            od -An -tx1 -v "$f" | tr -d ' \n' | fold -w 64 | head -64
            echo
        done
        status=1
    fi
done
exit $status
