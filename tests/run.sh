#!/bin/sh
# tests/run.sh - the whole suite: unit tests, then every CLI script in
# tests/cli/.  Each prints "ok NAME", "FAIL NAME" or "skip NAME" lines;
# this script adds them up and ends with "N passed, N failed, N skipped".
# Needs BALLAST (the binary) and TEST_UNIT (the unit runner) in the env.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${BALLAST:?set BALLAST to the ballast binary}"
: "${TEST_UNIT:?set TEST_UNIT to the unit-test binary}"
export BALLAST TOP="$top"
[ -n "${BALLAST_SHARED_DATA:-}" ] || BALLAST_SHARED_DATA="$top/../shared/data"
export BALLAST_SHARED_DATA
work=$(mktemp -d "${TMPDIR:-/tmp}/ballast-test-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
log="$work/results"
: > "$log"

echo "== unit tests"
(cd "$top" && "$TEST_UNIT") > "$work/unit.out" 2>&1
cat "$work/unit.out"
grep -E '^(ok |FAIL |skip )' "$work/unit.out" >> "$log"
# a crash of the unit runner is a failure of its own
tail -n 1 "$work/unit.out" | grep -qE '^[0-9]+ passed' || echo "FAIL unit-runner-crashed" >> "$log"

for t in "$here"/cli/*.sh; do
	[ "$(basename "$t")" = lib.sh ] && continue
	name=$(basename "$t" .sh)
	echo "== cli $name"
	mkdir -p "$work/$name"
	(cd "$work/$name" && sh "$t") > "$work/$name.out" 2>&1
	rc=$?
	cat "$work/$name.out"
	grep -E '^(ok |FAIL |skip )' "$work/$name.out" >> "$log"
	[ $rc -eq 0 ] || grep -q '^FAIL ' "$work/$name.out" || echo "FAIL $name (script exited $rc)" >> "$log"
done

passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^FAIL ' "$log")
skipped=$(grep -c '^skip ' "$log")
if [ "$failed" -gt 0 ]; then
	echo "failures:"
	grep '^FAIL ' "$log" | sed 's/^/  /'
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
