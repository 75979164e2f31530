# CLI tests for the consumers: ballast train (weighted draws, determinism,
# rank split, resume, realised label distribution), ballast write (then
# scan: the manifest's counts with repeats, exactly) and ballast export.
# The manifests come from the real chain: mkshards -> scan -> rebalance
# with manifests/policies/deskew-sexualisation.policy.
# tier: full (slow: `make check` skips it)
. "$TOP/tests/cli/lib.sh"

py=python3
"$B" mkshards gen --shards 4 --per-shard 500 --seed 3 --image-size 48 --skew east_asian:female=3 -j 2 >/dev/null
"$B" scan 'gen/*.tar' -o ix.db -j 2 -q >/dev/null
# 2000 samples leave a few group x gender rows under the rebalancer's 30:
# the policy accepts that (manifests/FORMAT.md, "Checks")
{ cat "$TOP/manifests/policies/deskew-sexualisation.policy"; echo 'accept cells >= 20'; } > deskew.policy
run "$B" rebalance ix.db -p deskew.policy -o man -q
expect_rc 0 "rebalance writes the deskew manifest"
printf 'independent sexual group within gender\nrealise upsample\nseed 1\naccept cells >= 20\n' > up.policy
run "$B" rebalance ix.db -p up.policy -o up -q
expect_rc 0 "rebalance writes an upsampled manifest"

# --- help and usage ---------------------------------------------------------
run "$B" train --help
expect_out "PLACEHOLDER" "train --help says the step is a placeholder"
run "$B" train man
expect_rc 2 "train without --mode is a usage error"
run "$B" train man --mode lora --rank 2 --world 2
expect_rc 2 "rank must be below world"

# --- modes: trainable parameters -------------------------------------------
run "$B" train man --mode lora --lora-rank 4 --steps 1 --size 32
expect_rc 0 "train lora runs"
expect_out "797184 trainable" "lora rank 4 trains 797,184 parameters (SD-1.5 attention)"
expect_out "PLACEHOLDER" "train output says the step is a placeholder"
run "$B" train man --mode full --steps 1 --size 32
expect_out "all 93536640 projection parameters" "full trains all 93,536,640 projection parameters"

# --- 20k draws realise the manifest's weighted label distribution ----------
# the bound follows from 20k draws (tests/cli/tvd.py); the python dataset
# (tests/cli/python.sh) is held to the same one
for m in man up; do
	run "$B" train $m --mode lora --steps 2500 --batch 8 --size 32 -j 2 --json -q
	expect_rc 0 "$m: 20k draws consumed"
	tail -n 1 out.txt > sum.json
	if $py -c 'import json,sys; o=json.load(open("sum.json")); assert o["samples"] == 20000, o["samples"]' &&
	   $py "$TOP/tests/cli/tvd.py" $m sum.json > tvd.txt; then
		ok "$m: realised label distribution within the 20k-draw bound ($(cat tvd.txt))"
	else
		bad "$m: realised label distribution within the 20k-draw bound" "$(cat tvd.txt)"
	fi
	# train's own figure is the same distance
	$py -c 'import json,sys; o=json.load(open("sum.json")); t=float(open("tvd.txt").read().split()[1]); assert abs(o["tvd"] - t) < 1e-5, (o["tvd"], t)' &&
		ok "$m: train's tvd is the distance recomputed from its counts" || bad "$m: train's tvd recomputed"
done

# --- determinism: same seed, same sequence; threads do not matter ----------
keys() { grep '"keys"' "$1" | $py -c 'import json,sys; [print(k) for l in sys.stdin for k in json.loads(l)["keys"]]'; }
"$B" train man --mode full --steps 40 --batch 8 --size 32 --seed 5 -j 2 --json > a.json
"$B" train man --mode full --steps 40 --batch 8 --size 32 --seed 5 -j 0 --json > b.json
"$B" train man --mode full --steps 40 --batch 8 --size 32 --seed 6 -j 2 --json > c.json
keys a.json > a.keys; keys b.json > b.keys; keys c.json > c.keys
[ "$(wc -l < a.keys)" -eq 320 ] && cmp -s a.keys b.keys && ok "same seed: identical sequences (2 threads and inline)" || bad "same seed: identical sequences"
cmp -s a.keys c.keys && bad "another seed: another sequence" || ok "another seed: another sequence"
strip() { grep '"keys"' "$1" | sed 's/, "images_per_s".*//'; }
[ "$(strip a.json)" = "$(strip b.json)" ] && ok "same pixels statistics with 2 threads and inline" || bad "same pixel statistics"

# --- ranks: disjoint, together the --world 1 stream --------------------------
"$B" train man --mode full --steps 20 --batch 8 --size 32 --seed 5 --rank 0 --world 2 --json > r0.json
"$B" train man --mode full --steps 20 --batch 8 --size 32 --seed 5 --rank 1 --world 2 --json > r1.json
keys r0.json > r0.keys; keys r1.json > r1.keys
paste -d '\n' r0.keys r1.keys > both.keys
if [ "$(wc -l < r0.keys)" -eq 160 ] && [ "$(wc -l < r1.keys)" -eq 160 ] && cmp -s both.keys a.keys; then
	ok "world 2: ranks interleaved equal the world 1 stream"
else
	bad "world 2: ranks interleaved equal the world 1 stream"
fi
# disjoint positions: the same entry may be drawn twice, a position never is
grep '"draws"' r0.json | head -1 | grep -q '"start_position": 0' && ok "rank 0 starts at its first position" || bad "rank 0 start"

# --- resume equals uninterrupted --------------------------------------------
"$B" train man --mode full --steps 15 --batch 8 --size 32 --seed 5 --save-state st.json --json > p1.json
run "$B" train man --mode full --steps 25 --batch 8 --size 32 --resume st.json --json
cp out.txt p2.json
keys p1.json > p1.keys; keys p2.json > p2.keys
cat p1.keys p2.keys > resumed.keys
cmp -s resumed.keys a.keys && ok "resume: saved after 15 steps + 25 more = 40 uninterrupted" || bad "resume equals uninterrupted"
grep '"keys"' p2.json | head -1 | grep -q '"step": 16' && ok "resume continues the step count" || bad "resume step count"
# the state's seed (5) is the one drawn from, and the one printed (the
# manifest's is 1); a --seed that is not it is refused, as another rank is
head -n 1 p2.json | grep -q '"seed": 5,' && ok "resume prints the state's seed, not the manifest's" ||
	bad "resume prints the state's seed" "$(head -n 1 p2.json | head -c 300)"
run "$B" train man --mode full --steps 25 --batch 8 --size 32 --resume st.json --seed 999 --json
expect_rc 3 "resume with another --seed is refused"
expect_err "state 'st.json': saved with seed 5, this run has --seed 999" "and says which seeds differ"
[ -z "$out" ] && ok "nothing is drawn under the ignored seed" || bad "nothing drawn with a refused --seed" "$(head -c 200 out.txt)"
run "$B" train man --mode full --steps 25 --batch 8 --size 32 --resume st.json --seed 5 --json
keys out.txt > p3.keys
[ "$rc" -eq 0 ] && cmp -s p2.keys p3.keys && head -n 1 out.txt | grep -q '"seed": 5,' &&
	ok "resume with the state's own --seed is the same run" || bad "resume with the same --seed" "exit $rc $(head -c 300 err.txt)"
run "$B" train man --mode full --steps 1 --batch 8 --size 32 --resume st.json --seed 5
expect_out "^manifest .* seed 5, rank 0 of 1, from position 120" "the text header says so too"
run "$B" train up --mode full --steps 1 --resume st.json
expect_rc 3 "a state from another manifest is refused"
expect_err "another manifest" "and says why"

# --- dump ---------------------------------------------------------------------
run "$B" train man --mode lora --steps 2 --batch 3 --size 32 --dump dump
n=$(ls dump/*.ppm 2>/dev/null | wc -l)
[ "$n" -eq 6 ] && head -c 2 dump/step000001_00.ppm | grep -q P6 && ok "--dump writes PPM images" || bad "--dump writes PPM images" "$n files"

# --- corrupt samples are skipped and counted ---------------------------------
# (a bare .jsonl of entries is a manifest too)
head -n 5 man/shards/00000.jsonl > bad.jsonl
sed -n 6p man/shards/00000.jsonl | sed 's/"offset":[0-9]*/"offset":1/' >> bad.jsonl
run "$B" train bad.jsonl --mode lora --epochs 1 --batch 2 --size 32 --json
expect_rc 1 "a sample that cannot be read: exit 1"
tail -n 1 out.txt | grep -q '"failed": [1-9]' && ok "skipped samples are counted" || bad "skipped samples are counted"

# --- write, then scan: the manifest's counts with repeats, exactly -----------
for m in up man; do
	run "$B" write $m -o w-$m --per-shard 700
	expect_rc 0 "$m: write"
	"$B" scan "w-$m/*.tar" -o w-$m.db -q --json > w-$m.json
	if $py - $m w-$m.json <<'EOF'
import json, glob, sys, collections
m, scan = sys.argv[1], json.load(open(sys.argv[2]))
want, n = collections.Counter(), 0
for f in sorted(glob.glob(m + "/shards/*.jsonl")):
    for line in open(f):
        o = json.loads(line)
        c = int(round(o["weight"])) if m == "up" else 1
        n += c
        for l in o["labels"]:
            want[l] += c
got = {k: v for k, v in scan["labels"].items() if v}
assert scan["samples"] == n, (scan["samples"], n)
assert got == {k: v for k, v in want.items() if v}, (got, want)
EOF
	then ok "$m: write then scan reproduces the manifest's counts"; else bad "$m: write then scan reproduces the manifest's counts"; fi
done
n=$(for t in w-up/*.tar; do tar tf "$t"; done | grep -c '_r1\.jpg$')
[ "$n" -gt 0 ] && ok "repeats are written as KEY_r1 ..." || bad "repeats are written as KEY_r1"
tar xOf w-man/00000.tar "$(tar tf w-man/00000.tar | grep json | head -1)" | grep -q ballast_weight && ok "fractional weights go into the json" || bad "ballast_weight in json"
run "$B" write man -o w-man
expect_rc 3 "write refuses an existing OUTDIR"
# rating tags
run "$B" write up -o w-rated --rating-tags
expect_out "rated +[1-9]" "--rating-tags tags captions"
k=$(grep -h '"sexual.explicit"' up/shards/*.jsonl | head -1 | sed 's/.*"key":"\([^"]*\)".*/\1/')
if [ -n "$k" ]; then
	for t in w-rated/*.tar; do tar xOf "$t" "$k.txt" 2>/dev/null; done | grep -q 'nsfw$' && ok "explicit captions end in nsfw" || bad "explicit captions end in nsfw"
fi
# a key that would leave OUTDIR
sed -n 1p man/shards/00000.jsonl | sed 's/"key":"[^"]*"/"key":"..\/..\/escaped"/' > evil.jsonl
run "$B" write evil.jsonl -o w-evil
expect_rc 1 "an unsafe key is an item error"
[ ! -e escaped.jpg ] && [ ! -e ../escaped.jpg ] && ok "nothing written outside OUTDIR" || bad "nothing written outside OUTDIR"

# --- exports -------------------------------------------------------------------
run "$B" export up --to kohya -o ko
expect_rc 0 "export kohya"
grep -q 'num_repeats = 2' ko/dataset.toml && grep -q 'caption_extension = ".txt"' ko/dataset.toml && ok "kohya TOML has subsets with num_repeats" || bad "kohya TOML"
if $py - ko up <<'EOF'
import glob, json, sys, os, re
try:
    import tomllib
except ImportError:
    tomllib = None
d, m = sys.argv[1], sys.argv[2]
text = open(d + "/dataset.toml").read()
subs = re.findall(r'image_dir = "([^"]*)"\n  num_repeats = (\d+)', text)
tot = sum(int(n) * len(glob.glob(p + "/*.jpg")) for p, n in subs)
want = sum(int(round(json.loads(l)["weight"])) for f in glob.glob(m + "/shards/*.jsonl") for l in open(f))
assert tot == want, (tot, want)
for p, n in subs:
    for j in glob.glob(p + "/*.jpg"):
        assert os.path.exists(j[:-4] + ".txt")
if tomllib:
    tomllib.loads(text)
EOF
then ok "kohya: images x num_repeats = the manifest's copies, captions beside"; else bad "kohya counts"; fi
run "$B" export man --to hf -o hf
expect_rc 0 "export hf"
[ "$(wc -l < hf/metadata.jsonl)" -eq "$(cat man/shards/*.jsonl | wc -l)" ] && head -1 hf/metadata.jsonl | grep -q '"file_name"' && ok "hf metadata.jsonl: one line per entry" || bad "hf metadata.jsonl"
f=$(head -1 hf/metadata.jsonl | sed 's/.*"file_name":"\([^"]*\)".*/\1/')
[ -s "hf/$f" ] && ok "hf images extracted beside metadata.jsonl" || bad "hf images extracted"
run "$B" export man --to webdataset -o wds
expect_rc 0 "export webdataset"
[ "$(wc -l < wds/shards.txt)" -eq 4 ] && $py -c 'import json,sys; m=json.load(open("wds/shards.json")); assert abs(sum(s["share"] for s in m["shards"]) - 1) < 1e-6' && ok "webdataset: shard list and weights" || bad "webdataset export"
run "$B" export man --to nope -o x
expect_rc 2 "unknown export target is a usage error"
