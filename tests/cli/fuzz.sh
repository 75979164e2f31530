# Replays the saved fuzz corpus (tests/fuzz/corpus/NAME/*) through each fuzz
# target's plain driver: every input must run to the end without a crash
# (under 'make asan', without a sanitizer report either).
. "$TOP/tests/cli/lib.sh"
dir=${FUZZ_REPLAY_DIR:-}
if [ -z "$dir" ]; then
	skip "fuzz corpus replay" "FUZZ_REPLAY_DIR not set (run through make test)"
	exit 0
fi
for c in "$TOP"/tests/fuzz/corpus/*/; do
	name=$(basename "$c")
	bin="$dir/fuzz-replay-$name"
	[ -x "$bin" ] || { bad "fuzz-$name" "no replay binary $bin"; continue; }
	n=$(ls "$c" | wc -l)
	"$bin" "$c"* > replay.out 2> replay.err
	rc=$?
	got=$(grep -c '^ok ' replay.out)
	if [ $rc -eq 0 ] && [ "$got" -eq "$n" ]; then
		ok "fuzz-$name: $n saved inputs replayed"
	else
		bad "fuzz-$name: replay" "exit $rc, $got of $n inputs; $(tail -c 600 replay.err)"
	fi
done
