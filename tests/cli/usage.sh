# Usage errors: one line saying what is wrong and one pointing to --help
# (not the whole help, which would scroll the error away), exit 2, for
# every command; `ballast help help` and `ballast CMD --help` print help.
. "$TOP/tests/cli/lib.sh"

cmds=$("$B" help | awk '/^  [a-z]+ / { print $1 }')
[ -n "$cmds" ] && ok "help lists the commands" || bad "help lists the commands" "$("$B" help | head -5)"
for c in $cmds; do
	run "$B" "$c" --no-such-option
	if [ "$rc" -eq 2 ] && [ "$(wc -l < err.txt)" -le 2 ] &&
	   grep -q "^ballast $c: .*no-such-option" err.txt && grep -q "^see 'ballast $c --help'$" err.txt &&
	   [ ! -s out.txt ]; then
		ok "$c: an unknown option is one line and a pointer to --help (exit 2)"
	else
		bad "$c: usage error" "exit $rc; stderr: $(head -c 300 err.txt)"
	fi
	run "$B" "$c" --help
	[ "$rc" -eq 0 ] && grep -q "^usage: ballast $c" out.txt && ok "$c --help prints its usage" ||
		bad "$c --help" "exit $rc"
done
run "$B" help help
expect_rc 0 "ballast help help is help"
expect_out '^usage: ballast COMMAND' "and prints the command list"
run "$B" no-such-command
expect_rc 2 "an unknown command is a usage error"

# one seed parser everywhere: the whole uint64 range, nothing else
"$B" mkshards sd --shards 1 --per-shard 120 --image-size 16 >/dev/null
"$B" scan 'sd/*.tar' -o sd.db -q >/dev/null
printf 'drop sexual.explicit\nseed 18446744073709551615\n' > big.policy
run "$B" rebalance sd.db -p big.policy -o big --json
grep -q '"seed":[[:space:]]*"18446744073709551615"' big/manifest.json &&
	ok "a policy's seed line takes 2^64-1 and the manifest records it exactly" ||
	bad "policy seed 2^64-1" "$(grep seed big/manifest.json | head -2)"
for s in -1 +5 ' 5' 1e5 18446744073709551616 0x10; do
	run "$B" rebalance sd.db -p big.policy --seed "$s"
	expect_rc 2 "rebalance --seed '$s' is a usage error"
	[ "$s" = ' 5' ] && continue # a policy line splits at blanks: 'seed  5' is seed 5
	printf 'drop sexual.explicit\nseed %s\n' "$s" > bad.policy
	run "$B" rebalance sd.db -p bad.policy
	expect_rc 2 "policy line 'seed $s' is an error"
done
