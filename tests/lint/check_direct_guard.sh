#!/bin/bash
# check_direct_guard.sh CC SOURCE_DIR — a bare system call can only stand
# for a function that ts_direct_begin checks is glibc's (preload/direct.h):
# TS_PASS_REAL compiles for a function on TS_DIRECT_STANDS_FOR's list and
# fails, naming the function, for one that is not on it.
set -euo pipefail
cc=$1 src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/direct-guard-XXXXXX")
trap 'rm -rf "$work"' EXIT
probe() { # FUNCTION -> the compiler's exit status; its messages in $work/err
    printf '#include "preload/direct.h"\nssize_t probe(int fd, void *b, size_t n)\n{ return TS_PASS_REAL(%s)(fd, b, n); }\n' "$1" >"$work/probe.c"
    "$cc" -std=c11 -D_GNU_SOURCE -I"$src" -c "$work/probe.c" -o "$work/probe.o" 2>"$work/err"
}
if ! probe read; then
    echo "check_direct_guard: a listed function (read) does not compile:" >&2
    cat "$work/err" >&2
    exit 1
fi
if probe pread; then
    echo "check_direct_guard: TS_PASS_REAL(pread) compiled, though pread is not on the list" >&2
    exit 1
fi
if ! grep -q "ts_direct_listed_pread" "$work/err"; then
    echo "check_direct_guard: TS_PASS_REAL(pread) failed for another reason:" >&2
    cat "$work/err" >&2
    exit 1
fi
echo "check_direct_guard: ok"
