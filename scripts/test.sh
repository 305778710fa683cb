#!/bin/bash
# test.sh — the whole test suite, as CI runs it (.ci/run).
#
#   bash scripts/test.sh
#
# Installs what is missing (scripts/install-deps.sh: as root on Debian 12),
# builds everything into build-ci/ with warnings as errors, and runs every
# test ctest knows (labels: unit, integration; see tests/CMakeLists.txt);
# before that, the unit tests under ASan+UBSan (build-asan/), the threaded
# ones under TSan (build-tsan/, label tsan) and a short fuzz run.
# The exit status is ctest's (or the build's, if the build fails).
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

step() { printf '\n==> %s\n' "$*"; }

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

# The unit tests whose code runs on several threads (label tsan: the span
# ring and the reporter, the fd table, the connections, test_concurrency),
# built with ThreadSanitizer. Any report fails the test (exit status 66).
# die_after_fork=0: the reporter scenarios start the reporter thread in a
# forked child of a multi-threaded process, as the shim does in programs.
step "build-tsan/: threaded unit tests under TSan (ctest -L tsan)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DTS_WERROR=ON -DTS_SANITIZE=thread >/dev/null
cmake --build build-tsan -j"$(nproc)" >/dev/null
TSAN_OPTIONS="halt_on_error=1 exitcode=66 die_after_fork=0 atexit_sleep_ms=50" \
    ctest --test-dir build-tsan -L tsan --output-on-failure -j2 || early=1

step "fuzz smoke: tests/fuzz/run.sh 6 propagation=4 config=4 injector=5 chunked=6 encoders=10"
bash tests/fuzz/run.sh 6 propagation=4 config=4 injector=5 chunked=6 encoders=10 || early=1

step "ctest --test-dir build-ci --output-on-failure -j2"
rc=0
ctest --test-dir build-ci --output-on-failure -j2 || rc=$?
if [ "$rc" = 0 ] && [ "$early" != 0 ]; then
    echo "test.sh: a sanitizer (ASan/UBSan, TSan) or fuzz stage failed (see above)" >&2
    rc=1
fi
exit "$rc"
