# bench/interleave.sh — sourced by bench/run.sh and bench/node/run.sh: one
# run of bench/interleave.c, its lines added to a results file.
#
# interleave_run BIN WHAT CONNECTIONS SECONDS ROUND RESULTS OUT NAME=PORT...
#   runs BIN CONNECTIONS SECONDS 50 NAME=PORT... (untraced itself, bounded
#   by a timeout), its output in OUT and its stderr in OUT.stderr, and on
#   success appends one line per server to RESULTS:
#     interleave <TAB> WHAT <TAB> NAME <TAB> ROUND <TAB> count, req/s, p50,
#     p90, p99, p99.9, errors
#   and prints a summary ("NAME req/s p99; ..."). Returns BIN's status
#   (124 on the timeout); the caller says what a failure means.
interleave_run() {
    local bin=$1 what=$2 connections=$3 seconds=$4 round=$5 results=$6 out=$7 status=0
    shift 7
    env -u LD_PRELOAD timeout $((seconds * 2 + 60)) "$bin" "$connections" "$seconds" 50 "$@" \
        >"$out" 2>"$out.stderr" || status=$?
    [ $status = 0 ] || return $status
    awk -v what="$what" -v round="$round" -F'\t' '{ printf "interleave\t%s\t%s\t%s", what, $1, round
        for (i = 2; i <= NF; i++) printf "\t%s", $i; printf "\n" }' "$out" >>"$results"
    awk -F'\t' '{ printf "%s %s/s p99 %s µs; ", $1, $3, $6 }' "$out"
}
