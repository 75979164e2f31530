# Long work shows progress on stderr when it is a terminal, and nothing
# when it is not (mkshards here; write, export, train and rebalance have
# their own checks in write.sh, train_input.sh and plans.sh).
. "$TOP/tests/cli/lib.sh"

run "$B" mkshards quiet --shards 3 --per-shard 20 --image-size 16
expect_rc 0 "mkshards without a terminal"
grep -q "shards written" err.txt && bad "no progress without a terminal" "$(head -c 200 err.txt)" ||
	ok "no progress without a terminal"
if command -v script >/dev/null; then
	script -qec "'$B' mkshards tty --shards 3 --per-shard 20 --image-size 16" /dev/null > tty.txt 2>&1
	if tr '\r' '\n' < tty.txt | grep -q 'ballast mkshards: shards written 3 of 3'; then
		ok "mkshards shows progress on a terminal"
	else
		bad "mkshards shows progress on a terminal" "$(head -c 300 tty.txt)"
	fi
else
	skip "progress on a terminal" "script(1) is not installed"
fi
