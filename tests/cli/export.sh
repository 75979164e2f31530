# CLI tests for ballast export: the files each trainer reads, unique and
# valid whatever the keys (long, colliding once flattened or case-folded,
# hidden, not UTF-8 in the caption), every skip reported by reason, what
# is on disk equal to what was reported, --force rebuilding, and kohya's
# rounding seeded (0 is a seed) and reported.
. "$TOP/tests/cli/lib.sh"

py=python3
H="$TOP/tests/cli/hostile.py"
"$B" mkshards gen --shards 2 --per-shard 400 --seed 6 --image-size 16 -j 2 >/dev/null
$py "$H" gen/00000.tar h
"$B" scan 'h/*.tar' -o h.db -q >/dev/null
$py "$H" --manifest h.db h.jsonl dup=3 lines=2 latin1=0.4

# --- kohya over hostile keys ----------------------------------------------------
run "$B" export h.jsonl --to kohya -o ko --seed 3
expect_rc 1 "kohya: samples without an image or a caption fail the run (exit 1)"
expect_out "^skipped +1 no_image" "kohya: no_image reported"
expect_out "^skipped +2 no_caption" "kohya: no_caption reported (image only, blank caption)"
expect_out "^renamed +[1-9]" "kohya: renamed file names reported"
expect_out "^repaired +1 " "kohya: a caption that is not UTF-8 repaired and counted"
expect_out "^joined +1 " "kohya: a caption of several lines joined and counted"
reported=$(sed -n 's/^samples *\([0-9]*\) .*/\1/p' out.txt)
if $py - ko "$reported" <<'EOF'
import glob, os, re, sys
d, reported = sys.argv[1], int(sys.argv[2])
text = open(d + "/dataset.toml").read()
subs = re.findall(r'image_dir = "([^"]*)"\n  num_repeats = (\d+)', text)
assert subs, text
seen, total = set(), 0
for path, n in subs:
    assert os.path.isabs(path) and os.path.isdir(path), path
    for f in os.listdir(path):
        stem, ext = os.path.splitext(f)
        assert len(f.encode()) <= 255 and not f.startswith("."), f
        if ext == ".txt":
            cap = open(os.path.join(path, f), encoding="utf-8").read()
            assert cap.strip() and "\n" not in cap, (f, cap)   # kohya reads line 1, stops at empty
            assert any(os.path.exists(os.path.join(path, stem + e)) for e in (".jpg", ".png", ".webp", ".jpeg"))
            continue
        assert ext in (".jpg", ".jpeg", ".png", ".webp"), f
        assert os.path.exists(os.path.join(path, stem + ".txt")), f
        assert stem.lower() not in seen, stem               # unique stems, ignoring case
        seen.add(stem.lower())
        total += int(n)
assert total == reported, (total, reported)
EOF
then ok "kohya: unique short names, one-line UTF-8 captions, images x repeats = reported samples"; else bad "kohya layout"; fi

# --- hf over hostile keys ---------------------------------------------------------
run "$B" export h.jsonl --to hf -o hf
expect_rc 1 "hf: a sample without an image fails the run (exit 1)"
expect_out "^skipped +1 no_image" "hf: no_image reported"
reported=$(sed -n 's/^samples *\([0-9]*\) .*/\1/p' out.txt)
if $py - hf "$reported" <<'EOF'
import json, os, sys
d, reported = sys.argv[1], int(sys.argv[2])
rows = [json.loads(l) for l in open(os.path.join(d, "metadata.jsonl"), encoding="utf-8")]
assert len(rows) == reported, (len(rows), reported)
names = [r["file_name"] for r in rows]
assert len(set(n.lower() for n in names)) == len(names), "file_name not unique"
imgs = sorted(f for f in os.listdir(d) if f.rsplit(".", 1)[-1] in ("jpg", "jpeg", "png", "webp"))
assert imgs == sorted(names), "images on disk and metadata rows differ"
for r in rows:
    assert set(r) == {"file_name", "text", "weight", "key"}, r
    assert isinstance(r["weight"], float) and isinstance(r["text"], str)
    assert not os.path.isabs(r["file_name"]) and ".." not in r["file_name"].split("/")
    assert len(r["file_name"].encode()) <= 255
EOF
then ok "hf: one metadata row per image, unique file_name, one type per column"; else bad "hf layout"; fi

# --- webdataset: the list of weights covers the manifest --------------------------
run "$B" export h.jsonl --to webdataset -o wds
expect_rc 0 "webdataset export"
[ "$(wc -l < wds/weights.jsonl)" -eq "$(wc -l < h.jsonl)" ] && [ "$(wc -l < wds/shards.txt)" -eq 2 ] && ok "webdataset: one weight line per entry, one url per shard" || bad "webdataset lists"
for d in ko hf wds; do [ -f $d/ballast.json ] || bad "$d/ballast.json"; done
$py -c 'import json; o = json.load(open("ko/ballast.json")); assert o["skipped"]["no_caption"] == 2 and o["skipped"]["no_image"] == 1' && ok "ballast.json records the skips by reason" || bad "ballast.json records the skips by reason"

# --- the real chain: fractional weights, kohya's rounding -------------------------
"$B" scan 'gen/*.tar' -o gen.db -q >/dev/null
# 800 samples are too few for the deskew policy's cells check: accepted
# (the consumers refuse a failed plan; these checks are about rounding)
{ cat "$TOP/manifests/policies/deskew-sexualisation.policy"; printf 'accept cells >= 1\n'; } > deskew-small.policy
run "$B" rebalance gen.db -p deskew-small.policy -o man -q
expect_rc 0 "the deskew plan of 800 samples, its small cells accepted"
run "$B" export man --to kohya -o k0 --seed 0
expect_rc 0 "kohya export of a fractional manifest"
r0=$(sed -n 's/^skipped *\([0-9]*\) rounded_to_zero/\1/p' out.txt)
[ -n "$r0" ] && [ "$r0" -gt 0 ] && ok "samples rounded to 0 repeats are counted ($r0)" || bad "rounded_to_zero reported"
expect_err "rounded to 0 repeats" "and warned about"
"$B" export man --to kohya -o k0b --seed 0 -q >/dev/null
"$B" export man --to kohya -o k5 --seed 5 -q >/dev/null
"$B" export man --to kohya -o km -q >/dev/null
tree() { (cd "$1" && find . -name '*.jpg' | sort); }
[ "$(tree k0)" = "$(tree k0b)" ] && ok "--seed 0 twice: the same rounding" || bad "--seed 0 twice: the same rounding"
[ "$(tree k0)" != "$(tree k5)" ] && ok "--seed 0 and --seed 5 round differently" || bad "--seed 0 and --seed 5 round differently"
[ "$(tree k0)" != "$(tree km)" ] && ok "--seed 0 is a seed, not 'the manifest's' (seed 1)" || bad "--seed 0 is a seed"
if $py - k0 man <<'EOF'
import glob, json, math, os, re, sys
d, m = sys.argv[1], sys.argv[2]
text = open(d + "/dataset.toml").read()
got = sum(int(n) * len(glob.glob(p + "/*.jpg")) for p, n in re.findall(r'image_dir = "([^"]*)"\n  num_repeats = (\d+)', text))
ws = [json.loads(l)["weight"] for f in glob.glob(m + "/shards/*.jsonl") for l in open(f)]
want = sum(ws)
sd = math.sqrt(sum((w - math.floor(w)) * (1 - w + math.floor(w)) for w in ws))
print("images x repeats", got, "sum of weights", round(want, 1), "sd", round(sd, 1))
assert abs(got - want) < 5 * sd + 1, (got, want, sd)
EOF
then ok "kohya: images x repeats match the sum of weights (stochastic rounding, 5 sd)"; else bad "kohya: repeats realise the weights"; fi
run "$B" export man --to kohya -o kauto --repeat-scale auto
expect_rc 0 "kohya --repeat-scale auto"
if grep -q rounded_to_zero out.txt; then bad "--repeat-scale auto rounds nothing to 0"; else ok "--repeat-scale auto rounds nothing to 0"; fi
n=$(find kauto -name '*.jpg' | wc -l)
[ "$n" -eq "$(cat man/shards/*.jsonl | wc -l)" ] && ok "--repeat-scale auto: every image is in the dataset" || bad "--repeat-scale auto: every image" "$n"

# --- --force rebuilds the output: no stale images ---------------------------------
run "$B" export man --to kohya -o kauto --force --seed 0
expect_rc 0 "kohya export --force over an earlier export"
[ "$(tree kauto)" = "$(tree k0)" ] && ok "--force: exactly the new export, no image of the earlier run left" || bad "--force leaves stale images"
run "$B" export man --to hf -o k0
expect_rc 3 "an existing PATH without --force is refused"
run "$B" export man --to kohya -o kx --repeat-scale -2
expect_rc 2 "--repeat-scale must be positive"

# --- webdataset: a shard with members rejected as duplicates is left out ----------
# 40 samples, then a member reusing the first key with a caption scan never
# tagged: a reader of (url, key) weights would draw it with the first
# sample's weight
"$B" mkshards dk --shards 1 --per-shard 40 --seed 1 --image-size 16 >/dev/null
$py - dk/00000.tar dup.tar <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1]) as src, tarfile.open(sys.argv[2], "w", format=tarfile.USTAR_FORMAT) as out:
    for m in src.getmembers():
        out.addfile(m, src.extractfile(m))
    ti = tarfile.TarInfo("000000000.txt")
    data = b"NOT IN THE MANIFEST"
    ti.size = len(data)
    out.addfile(ti, io.BytesIO(data))
EOF
cp dk/00000.tar clean.tar
"$B" scan dup.tar clean.tar -o dk.db -q >/dev/null 2>&1
printf 'cap 1000 per group\nrealise weights\n' > all.policy
"$B" rebalance dk.db -p all.policy -o dkm -q >/dev/null
run "$B" export dkm --to webdataset -o dkx
expect_rc 1 "webdataset: a shard with a duplicate key fails the export (exit 1)"
expect_err "shard 'dup.tar' member '000000000.txt' at offset [0-9]+: key '000000000' already seen" "webdataset: the rejected member named with shard, member and offset"
expect_out "^skipped +40 duplicate_key" "webdataset: the shard's 40 entries skipped as duplicate_key"
if grep -q dup.tar dkx/shards.txt dkx/weights.jsonl dkx/shards.json; then bad "webdataset: the shard with a duplicate key is in no list"; else ok "webdataset: the shard with a duplicate key is in no list"; fi
[ "$(wc -l < dkx/weights.jsonl)" -eq 40 ] && grep -q clean.tar dkx/shards.txt && ok "webdataset: the clean shard's 40 entries exported" || bad "webdataset: the clean shard exported"
$py -c 'import json; o = json.load(open("dkx/ballast.json")); assert o["skipped"]["duplicate_key"] == 40 and o["failed"] == 40' && ok "ballast.json counts duplicate_key" || bad "ballast.json counts duplicate_key"

# --- kohya with nothing to export: an empty dataset.toml, no stray files ----------
$py - txtonly.tar <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as t:
    for i in range(3):
        ti = tarfile.TarInfo("%03d.txt" % i)
        data = b"a caption and no image"
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
EOF
"$B" scan txtonly.tar -o to.db -q >/dev/null
"$B" rebalance to.db -p all.policy -o tom -q >/dev/null
run "$B" export tom --to kohya -o kto
expect_rc 1 "kohya: no sample with an image fails the run (exit 1), without a crash"
expect_out "^skipped +3 no_image" "kohya: the samples without an image counted"
[ -f kto/dataset.toml ] && [ -z "$(ls -d kto.tmp-* 2>/dev/null)" ] && ok "kohya: dataset.toml written, no temporary directory left" || bad "kohya with nothing to export"
