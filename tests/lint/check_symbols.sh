#!/bin/bash
# check_symbols.sh LIB MAP OBJECT... — the library's symbol hygiene:
#  1. the shim's own code (reporter, parsers, preload core) never calls an
#     interposed function by name: it would trace itself or recurse;
#  2. the library exports exactly the hooks listed in the version script.
set -euo pipefail
lib=$1 map=$2
shift 2
hooks=$(awk '/global:/ {g = 1; next} /local:/ {g = 0} g' "$map" | tr -d ' ' | tr ';' '\n' | sed '/^$/d' | sort -u)
[ -n "$hooks" ] || { echo "no hook names found in $map"; exit 1; }
fail=0
[ $# -gt 0 ] || { echo "no object files given"; exit 1; }
for obj in "$@"; do
  # (a list passed as one argument, as CMake's generator expressions did
  # without COMMAND_EXPAND_LISTS, is no file: nm's error was hidden, and
  # nothing was checked)
  [ -f "$obj" ] || { echo "FAIL: no object file $obj"; fail=1; continue; }
  bad=$(nm -u "$obj" | awk '{print $2}' | sed 's/@.*//' | sort -u | comm -12 - <(echo "$hooks") || true)
  if [ -n "$bad" ]; then
    echo "FAIL: $(basename "$obj") calls interposed symbols directly: $bad"; fail=1
  fi
done
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TtWi]/ {print $3}' | sed 's/@.*//' | sort -u)
if [ "$exported" != "$hooks" ]; then
  echo "FAIL: exported symbols differ from the version script's hooks:"
  diff <(echo "$hooks") <(echo "$exported") || true
  fail=1
fi
[ $fail = 0 ] && echo "symbols: $# objects clean, $(echo "$hooks" | wc -l) hooks exported, nothing else"
exit $fail
