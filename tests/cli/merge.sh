# CLI tests for array-task scans and ballast merge: the merged index equals
# one scan of the whole list.  With Slurm installed (shared/slurm notes),
# the same through a real job array.
. "$TOP/tests/cli/lib.sh"
command -v sqlite3 >/dev/null || { skip "merge" "sqlite3 shell absent"; exit 0; }

"$B" mkshards gen --shards 7 --per-shard 300 --seed 4 --image-size 8 --skew east_asian:female=3 > /dev/null
"$B" scan 'gen/*.tar' -q -o whole.db > /dev/null
[ "$(sqlite3 whole.db 'select count(*) from samples')" -eq 2100 ] && ok "the single scan indexes 2100 samples" || bad "the single scan indexes 2100 samples"
for i in 0 1 2; do "$B" scan 'gen/*.tar' -q --task $i --tasks 3 -o "part-$i.db" > /dev/null; done
n=$(for i in 0 1 2; do sqlite3 "part-$i.db" "select count(*) from shards"; done | tr '\n' ' ')
[ "$n" = "2 2 3 " ] && ok "3 tasks take contiguous blocks (2 2 3 shards)" || bad "3 tasks take contiguous blocks" "$n"
run "$B" merge merged.db part-0.db part-1.db part-2.db
expect_rc 0 "merge exits 0"
q="select sh.id, sh.path, sh.samples, s.ordinal, s.key, s.offset, s.labels, hex(s.bits), s.caption from samples s join shards sh on sh.id = s.shard_id order by 1, 4"
[ "$(sqlite3 whole.db "$q" | md5sum)" = "$(sqlite3 merged.db "$q" | md5sum)" ] && ok "merged index equals one scan" || bad "merged index equals one scan"
[ "$(sqlite3 whole.db 'select id, name from labels')" = "$(sqlite3 merged.db 'select id, name from labels')" ] && ok "same label ids" || bad "same label ids"
run "$B" merge merged.db part-1.db
[ "$(sqlite3 merged.db 'select count(*) from samples')" -eq 2100 ] && ok "merging a part again adds nothing twice" || bad "merging a part again adds nothing twice"
printf 'label only.women\n  match \\bwomen?\\b\n' > other.rules
"$B" scan 'gen/00000.tar' -q -r other.rules -o other.db > /dev/null
run "$B" merge merged.db other.db
expect_rc 3 "a part scanned with other rules is refused"
expect_err "other rules" "and the message says why"
[ "$(sqlite3 merged.db 'select count(*) from samples')" -eq 2100 ] && ok "a refused merge leaves the index unchanged" || bad "a refused merge leaves the index unchanged"
run "$B" scan 'gen/*.tar' --task 3 --tasks 3
expect_rc 2 "--task outside --tasks is a usage error"

if command -v sbatch >/dev/null && [ -n "${BALLAST_TEST_SLURM:-}" ]; then
	job=$(sbatch --parsable --array=0-2 -D "$PWD" --export=ALL,BALLAST="$B" \
		"$TOP/tools/slurm/scan-array.sbatch" "$PWD/gen/*.tar" "$PWD/slurm-out")
	i=0
	while squeue -h -j "$job" 2>/dev/null | grep -q . && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
	"$B" merge slurm.db slurm-out/part-*.db > /dev/null 2>&1
	"$B" scan "$PWD/gen/*.tar" -q -o whole-abs.db > /dev/null
	[ "$(sqlite3 slurm.db 'select count(*) from samples')" -eq 2100 ] &&
	[ "$(sqlite3 whole-abs.db "$q" | md5sum)" = "$(sqlite3 slurm.db "$q" | md5sum)" ] && ok "slurm job array + merge equals one scan" || bad "slurm job array + merge equals one scan"
else
	skip "slurm job array" "set BALLAST_TEST_SLURM=1 with a running Slurm (shared/slurm/slurm-local.sh start)"
fi
