# CLI tests: `ballast train` reads its samples through the shard reader
# (bl_reader_seek), as scan read them.  The same samples in a plain tar, a
# .tar.gz and a .tar.zst train to the same keys and pixel statistics, step
# by step, whatever the thread count; a shard damaged after the scan, or
# replaced by a shorter one, gives item errors that name the shard and the
# key, exit 1, and every other sample still loads.
. "$TOP/tests/cli/lib.sh"

"$B" mkshards gen --shards 2 --per-shard 150 --seed 7 --image-size 48 -j 2 >/dev/null
mkdir -p gz zst
for f in gen/*.tar; do
	n=$(basename "$f")
	gzip -c "$f" > "gz/$n.gz"
	if command -v zstd >/dev/null 2>&1; then zstd -q -c "$f" > "zst/$n.zst"; fi
done
printf 'drop sexual.explicit\nrealise weights\nseed 2\naccept cells >= 1\n' > p.policy
kinds="gen gz"
[ -n "$(ls zst)" ] && kinds="$kinds zst" || skip "train over .tar.zst" "no zstd program"
for k in $kinds; do
	# the shards only: gen/mkshards.json is no archive, and an index with a
	# shard not read whole fails rebalance's index check
	"$B" scan "$k/*.tar*" -o "$k.db" -q >/dev/null 2>&1
	run "$B" rebalance "$k.db" -p p.policy -o "m-$k" -q
	expect_rc 0 "rebalance over the $k shards"
done

# steps without their timing: keys, means and stds must match exactly
steps() { grep '"keys"' "$1" | sed 's/, "images_per_s".*//'; }
for k in $kinds; do
	for j in 0 2; do
		run "$B" train "m-$k" --mode lora --steps 40 --batch 8 --size 24 --seed 9 -j $j --json
		expect_rc 0 "train over the $k shards, -j $j"
		steps out.txt > "steps-$k-$j.txt"
	done
done
[ "$(wc -l < steps-gen-0.txt)" -eq 40 ] && ok "40 steps of keys and pixel statistics" || bad "40 steps" "$(wc -l < steps-gen-0.txt)"
for k in $kinds; do
	for j in 0 2; do
		cmp -s steps-gen-0.txt "steps-$k-$j.txt" && ok "$k shards, -j $j: the plain run's keys, means and stds" ||
			bad "$k shards, -j $j: same steps as the plain run" "$(diff steps-gen-0.txt "steps-$k-$j.txt" | head -4)"
	done
done

# --- a shard damaged after the scan ------------------------------------------
# flip a byte in the name of one sample's image header (its checksum fails)
# and cut the other shard in the middle: the draws of those samples fail,
# named, and the rest train
cp -r gen dmg
line=$(sed -n 40p m-gen/shards/00000.jsonl)
key=$(echo "$line" | sed 's/.*"key":"\([^"]*\)".*/\1/')
off=$(echo "$line" | sed 's/.*"offset":\([0-9]*\).*/\1/')
printf 'X' | dd of=dmg/00000.tar bs=1 seek=$((off + 2)) conv=notrunc 2>/dev/null
size=$(wc -c < dmg/00001.tar)
truncate -s $((size / 2)) dmg/00001.tar
sed 's#"shard":"gen/#"shard":"dmg/#' m-gen/shards/00000.jsonl m-gen/shards/00001.jsonl > dmg.jsonl
n=$(wc -l < dmg.jsonl)
run "$B" train dmg.jsonl --mode lora --epochs 1 --batch 10 --size 24 --seed 1
expect_rc 1 "train over damaged shards exits 1"
grep -q "skipped: shard 'dmg/00000.tar' key '$key' at offset $off: " err.txt &&
	ok "the sample with the damaged header: its shard, key and offset" ||
	bad "damaged header named" "$(grep skipped err.txt | head -3)"
grep -q "skipped: shard 'dmg/00001.tar' key '[0-9]*' at offset [0-9]*: no tar member starts at this offset (the shard has $((size / 2)) bytes)" err.txt &&
	ok "the samples past the cut: the shard's size" || bad "cut shard named" "$(grep 00001 err.txt | head -3)"
failed=$(grep -c "skipped:" err.txt)
cut_at=$((size / 2))
want=$(awk -F'"offset":' -v c=$cut_at '/dmg\/00001/ { split($2, a, ","); if (a[1] + 2048 > c) n++ } END { print n + 1 }' dmg.jsonl)
[ "$failed" -ge "$want" ] && [ "$failed" -le $((want + 1)) ] && ok "only the damaged samples fail ($failed of $n)" ||
	bad "failures are the damaged samples" "$failed failed, about $want expected"
grep -q "consumed $((n - failed)) samples" out.txt && ok "every other sample trains" || bad "others train" "$(grep consumed out.txt)"
