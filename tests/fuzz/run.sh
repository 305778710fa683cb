#!/bin/bash
# run.sh [SECONDS] — build every libFuzzer target in tests/fuzz/ with clang
# (ASan+UBSan) into build-fuzz/ and run each for SECONDS (default 15) over a
# copy of its seed corpus (tests/fuzz/corpus/NAME/). A crash fails the run;
# its input is left in build-fuzz/NAME-crashes/ to become a regression test.
#   bash tests/fuzz/run.sh 600      # a longer run, by hand
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."
secs=${1:-15}
out=build-fuzz
mkdir -p "$out"
# target name -> the sources it fuzzes
declare -A sources=(
    [http1]="hooks/http1.c"
    [strategy]="reporter/sampler.c common/json_read.c common/arena.c preload/config.c preload/url.c preload/log.c preload/real.c preload/guard.c"
)
status=0
for name in "${!sources[@]}"; do
    clang -std=gnu11 -D_GNU_SOURCE -DTS_VERSION='"fuzz"' -g -O1 \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
        ${sources[$name]} "tests/fuzz/fuzz_$name.c" -o "$out/fuzz_$name"
    rm -rf "$out/$name-corpus" "$out/$name-crashes"
    mkdir -p "$out/$name-corpus" "$out/$name-crashes"
    cp tests/fuzz/corpus/"$name"/* "$out/$name-corpus/"
    if "$out/fuzz_$name" -max_total_time="$secs" -print_final_stats=0 \
        -artifact_prefix="$out/$name-crashes/" "$out/$name-corpus" >"$out/$name.log" 2>&1; then
        echo "fuzz $name: clean for ${secs}s ($(grep -c . "$out/$name.log") log lines)"
    else
        echo "fuzz $name: FAILED, see $out/$name.log and $out/$name-crashes/"
        tail -30 "$out/$name.log"
        status=1
    fi
done
exit $status
