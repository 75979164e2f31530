#!/bin/sh
# tests/run.sh - the suite: unit tests, then every CLI script in tests/cli/.
# Each prints "ok NAME", "FAIL NAME" or "skip NAME: WHY" lines; this script
# adds them up and ends with "N passed, N failed, N skipped".
#
#   BALLAST, TEST_UNIT   the binary and the unit runner (required)
#   TEST_JOBS            CLI scripts run at once (default: the CPU count);
#                        each has a folder of its own, and the output is
#                        printed in a fixed order whatever finishes first
#   TEST_TIER=quick      `make check`: the unit tests and the CLI scripts not
#                        marked "# tier: full" in their first lines (the
#                        slow ones); those are listed as skipped
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${BALLAST:?set BALLAST to the ballast binary}"
: "${TEST_UNIT:?set TEST_UNIT to the unit-test binary}"
export BALLAST TOP="$top"
[ -n "${BALLAST_SHARED_DATA:-}" ] || BALLAST_SHARED_DATA="$top/../shared/data"
export BALLAST_SHARED_DATA
jobs=${TEST_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
tier=${TEST_TIER:-full}
work=$(mktemp -d "${TMPDIR:-/tmp}/ballast-test-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
log="$work/results"
: > "$log"

# One CLI script in its own folder; its output goes to $work/NAME.out and
# a line "FAIL NAME (script exited N)" is added when it died without
# saying which check failed.
run_one() {
	t=$1
	name=$(basename "$t" .sh)
	mkdir -p "$work/$name"
	(cd "$work/$name" && sh "$t") > "$work/$name.out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$work/$name.out"; then
		echo "FAIL $name (script exited $rc)" >> "$work/$name.out"
	fi
	# the folder can be large (shards, indexes): gone once it has spoken
	rm -rf "$work/$name"
}

scripts=""
for t in "$here"/cli/*.sh; do
	name=$(basename "$t" .sh)
	[ "$name" = lib ] && continue
	if [ "$tier" = quick ] && head -n 40 "$t" | grep -q '^# tier: full'; then
		echo "skip $name: a slow script, run by 'make test' only" > "$work/$name.out"
		continue
	fi
	scripts="$scripts $t"
done

# the unit tests run beside the first CLI scripts
(cd "$top" && "$TEST_UNIT") > "$work/unit.out" 2>&1 &
unit_pid=$!
if [ -n "$scripts" ]; then
	export work
	# POSIX sh exports no functions: each job is a small sh -c given
	# run_one's definition text
	def=$(sed -n '/^run_one() {$/,/^}$/p' "$0")
	printf '%s\n' $scripts | xargs -P "$jobs" -I{} sh -c "$def"'
run_one "$1"' sh {}
fi
wait $unit_pid

echo "== unit tests"
cat "$work/unit.out"
grep -E '^(ok |FAIL |skip )' "$work/unit.out" >> "$log"
# a crash of the unit runner is a failure of its own
tail -n 1 "$work/unit.out" | grep -qE '^[0-9]+ passed' || echo "FAIL unit-runner-crashed" >> "$log"

for t in "$here"/cli/*.sh; do
	name=$(basename "$t" .sh)
	[ "$name" = lib ] && continue
	echo "== cli $name"
	if [ -f "$work/$name.out" ]; then
		cat "$work/$name.out"
		grep -E '^(ok |FAIL |skip )' "$work/$name.out" >> "$log"
	else
		echo "FAIL $name (the script did not run)" | tee -a "$log"
	fi
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
