#!/bin/bash
# test.sh — the whole test suite, as CI runs it (.ci/run).
#
#   bash scripts/test.sh
#
# Installs what is missing (scripts/install-deps.sh: as root on Debian 12),
# builds everything into build-ci/ with warnings as errors, and runs every
# test ctest knows (labels: unit, integration, soak, and package: the .deb
# installed into a fresh debootstrap root, see tests/CMakeLists.txt);
# before that, the unit and integration tests under ASan+UBSan
# (build-asan/), the threaded ones under TSan (build-tsan/, label tsan), a
# short fuzz run, the benchmarks' smoke and the demo (scripts/demo.sh).
# The exit status is ctest's (or the build's, if the build fails).
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

# each stage with the seconds the run had taken when it began
step() { printf '\n==> [%ds] %s\n' "$SECONDS" "$*"; }

step "dependencies (scripts/install-deps.sh)"
bash scripts/install-deps.sh

step "third-party decoders for the exporter tests (tests/peers/setup.sh)"
bash tests/peers/setup.sh build-ci/peers

step "build-ci/: RelWithDebInfo, -DTS_WERROR=ON"
cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_WERROR=ON
cmake --build build-ci -j"$(nproc)"

# The same unit tests built with AddressSanitizer and UBSan, and a short
# run of every libFuzzer target. Their failures fail the suite; the main
# ctest run stays last so its summary closes the output.
early=0
step "build-asan/: unit tests under ASan+UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTS_WERROR=ON -DTS_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j"$(nproc)" >/dev/null
ctest --test-dir build-asan -L unit --output-on-failure -j2 || early=1

# The integration tests again, every traced program running the library
# built with ASan+UBSan, the sanitizer runtime preloaded first
# (tests/integration/tshelp.py: TSTEST_PRELOAD_FIRST). A report from any
# process goes to build-asan/sanitizer-reports/ and fails the stage; leak
# checking is off here (the programs' own exit-time allocations), the soak
# runs LeakSanitizer on programs of ours. curl and wget cannot start under a
# preloaded ASan runtime at all (GnuTLS, see SANITIZER_CANNOT_RUN in
# tshelp.py): they run with the plain library, reached also from traced
# shells and servers through a static stand-in first on PATH.
step "build-asan/: integration tests with the library under ASan+UBSan"
reports=$PWD/build-asan/sanitizer-reports
rm -rf "$reports" build-asan/sanitizer-bin
mkdir -p "$reports" build-asan/sanitizer-bin
asan_runtime=$(cc -print-file-name=libasan.so)
cc -static -O1 -DRUNTIME="\"$asan_runtime\"" -DSANITIZED_LIB="\"$PWD/build-asan/libtraceshim.so\"" \
    -DPLAIN_LIB="\"$PWD/build-ci/libtraceshim.so\"" \
    -o build-asan/sanitizer-bin/curl tests/integration/apps/sanitizer_exec.c
ln -f build-asan/sanitizer-bin/curl build-asan/sanitizer-bin/wget
ln -f build-asan/sanitizer-bin/curl build-asan/sanitizer-bin/wget2
ln -sfn ../build-ci/peers build-asan/peers
PATH="$PWD/build-asan/sanitizer-bin:$PATH" TSTEST_STANDIN_DIR="$PWD/build-asan/sanitizer-bin" \
TSTEST_PRELOAD_FIRST="$asan_runtime" TSTEST_PLAIN_LIB="$PWD/build-ci/libtraceshim.so" \
ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:log_path=$reports/asan" \
UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan" \
    ctest --test-dir build-asan -L integration --output-on-failure -j2 || early=1
if [ -n "$(ls -A "$reports")" ]; then
    echo "test.sh: sanitizer reports from traced programs:" >&2
    head -n 60 "$reports"/* >&2
    early=1
fi

# The soak under LeakSanitizer (tests/soak/run_soak.py --mode lsan): 100,000
# traced requests through three programs of ours built with ASan, the
# library with ASan+UBSan, leaks checked at every exit with no suppressions;
# a canary leak must be reported first. The 1,000,000-request RSS soak is
# the same ctest test in build-ci/ (label soak), run by the last stage.
step "build-asan/: soak under LeakSanitizer (ctest -L soak)"
ctest --test-dir build-asan -L soak --output-on-failure || early=1

# The unit tests whose code runs on several threads (label tsan: the span
# ring and the reporter, the fd table, the connections, test_concurrency),
# built with ThreadSanitizer. Any report fails the test (exit status 66).
# die_after_fork=0: the reporter scenarios start the reporter thread in a
# forked child of a multi-threaded process, as the shim does in programs.
step "build-tsan/: threaded unit tests under TSan (ctest -L tsan)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DTS_WERROR=ON -DTS_SANITIZE=thread >/dev/null
cmake --build build-tsan -j"$(nproc)" >/dev/null
# tests/tsan.supp: what TSan cannot tell apart, each entry with its why.
TSAN_OPTIONS="halt_on_error=1 exitcode=66 die_after_fork=0 atexit_sleep_ms=50 suppressions=$PWD/tests/tsan.supp" \
    ctest --test-dir build-tsan -L tsan --output-on-failure -j2 || early=1

step "fuzz smoke: tests/fuzz/run.sh 6 propagation=4 config=4 injector=5 chunked=6 encoders=10 fcgi=5"
bash tests/fuzz/run.sh 6 propagation=4 config=4 injector=5 chunked=6 encoders=10 fcgi=5 || early=1

# The benchmark suite, seconds long: it must run (the numbers come from
# the full `bash bench/run.sh`, see BENCHMARKS.md).
step "benchmark smoke: bench/run.sh --smoke (its Node peer comparison needs bench/node's packages), bench/ab.sh"
bash bench/node/install.sh || early=1
bash bench/run.sh --smoke --lib build-ci/libtraceshim.so || early=1
# bench/ab.sh, two builds side by side: the same build twice, one round of a second
bash bench/ab.sh build-ci/libtraceshim.so build-ci/libtraceshim.so tinyhttpd 1 1 || early=1

# README's first command: the demo builds build/ (without the tests) and
# traces its chain end to end; it fails (and so this stage) when the trace
# is not one trace with the spans of every hop.
step "the demo: scripts/demo.sh (README's first command)"
if bash scripts/demo.sh >build-ci/demo.log 2>&1; then
    grep -E '^[0-9]+ spans in [0-9]+ trace' build-ci/demo.log || true
else
    tail -n 60 build-ci/demo.log >&2
    early=1
fi

step "ctest --test-dir build-ci --output-on-failure -j2"
rc=0
ctest --test-dir build-ci --output-on-failure -j2 || rc=$?
if [ "$rc" = 0 ] && [ "$early" != 0 ]; then
    echo "test.sh: a sanitizer (ASan/UBSan, TSan), fuzz or benchmark smoke stage failed (see above)" >&2
    rc=1
fi
echo "test.sh: $SECONDS s in all, exit $rc"
exit "$rc"
