# Recipes run with the real clients they name.  The webdataset Python that
# `ballast write --help` and `ballast export --help` print is extracted
# from the help (not retyped) and run with the webdataset library; the
# label distribution it draws must match the manifest's "after" target.
# Without webdataset, write's shards are read with Python's tarfile and
# their weighted label distribution must equal the target.  Either fails
# when the weights do not arrive (checked: the unweighted set is far from
# the target).  kohya's dataset.toml goes through sd-scripts' own
# validator (library/config_util.py); the HF export through the
# imagefolder rules.
#
# webdataset: PYTHONPATH as set, else $BALLAST_CLIENTS/webdataset/src
# (BALLAST_CLIENTS defaults to ../clients beside the repository);
# sd-scripts: $BALLAST_CLIENTS/sd-scripts.  Interpreters tried: python3,
# /usr/bin/python3.
# tier: full (slow: `make check` skips it)
. "$TOP/tests/cli/lib.sh"

py=python3
clients=${BALLAST_CLIENTS:-$TOP/../clients}
"$B" mkshards gen --shards 4 --per-shard 500 --seed 3 --image-size 32 --skew east_asian:female=3 -j 2 >/dev/null
"$B" scan 'gen/*.tar' -o ix.db -j 2 -q >/dev/null
pol="$TOP/manifests/policies/equal-groups.policy"
run "$B" rebalance ix.db -p "$pol" -o eq -q
expect_rc 0 "rebalance: equal group shares, fractional weights"
grep -v '^realise' "$pol" > up.policy
echo 'realise upsample max 20' >> up.policy
run "$B" rebalance ix.db -p up.policy -o up -q
expect_rc 0 "rebalance: equal group shares, integer repeats"
run "$B" write eq -o w-eq --per-shard 300
expect_rc 0 "write the fractional manifest"
run "$B" write up -o w-up --per-shard 300
expect_rc 0 "write the upsampled manifest"
run "$B" export eq --to webdataset -o x-eq
expect_rc 0 "export the fractional manifest for webdataset"

# shares of the group families: realised vs the manifest's target
cat > shares.py <<'EOF'
import collections, glob, json, math, os, sys
NODES = ["group.asian", "group.black", "group.white", "group.latino", "group.middle_eastern"]

def labels(man):
    out = {}
    for f in glob.glob(os.path.join(man, "shards", "*.jsonl")):
        for line in open(f):
            o = json.loads(line)
            out[o["key"]] = o["labels"]
    return out

def target(man, side="after"):
    return json.load(open(os.path.join(man, "manifest.json")))["summary"]["shares"][side]

def has(labs, node):
    return any(l == node or l.startswith(node + ".") for l in labs)

def shares(weighted_keys, labs):
    tot, acc = 0.0, collections.Counter()
    for key, w in weighted_keys:
        tot += w
        for n in NODES:
            if has(labs[key], n):
                acc[n] += w
    return {n: acc[n] / tot for n in NODES}

def compare(got, man, tol, what):
    want, before = target(man), target(man, "before")
    worst = max(abs(got[n] - want[n]) for n in NODES)
    gap = max(abs(before[n] - want[n]) for n in NODES)
    print(what, "largest share error", round(worst, 5), "(unweighted set:", round(gap, 4), "; tolerance", tol, ")")
    assert gap > 3 * tol, "the test could not tell weighted from unweighted"
    assert worst <= tol, {n: (round(got[n], 4), round(want[n], 4)) for n in NODES}
EOF

# --- without webdataset: write's shards, read with tarfile, weighted ------------
for m in eq up; do
	if $py - $m w-$m <<'EOF'
import json, sys, tarfile
sys.path.insert(0, ".")
from shares import labels, shares, compare
man, out = sys.argv[1], sys.argv[2]
draws = []
for u in open(out + "/shards.txt").read().split():
    with tarfile.open(out + "/" + u) as t:
        for m in t.getmembers():
            if m.name.endswith(".json"):
                o = json.loads(t.extractfile(m).read())
                draws.append((o["key"], o.get("ballast_weight", 1)))
compare(shares(draws, labels(man)), man, 1e-6, man + " (tarfile, one epoch)")
EOF
	then ok "$m: write's shards read with tarfile carry the manifest's target exactly"; else bad "$m: write's shards carry the manifest's target"; fi
done

# --- with webdataset: the recipes of the help, verbatim ------------------------------
recipe() { sed -n '/^      import/,/^$/p' | sed 's/^      //'; }
wpy=""
for cand in python3 /usr/bin/python3; do
	for pp in "${PYTHONPATH:-}" "$clients/webdataset/src"; do
		if [ -n "$pp" ] && PYTHONPATH="$pp" $cand -c 'import webdataset, PIL' 2>/dev/null; then
			wpy=$cand; wpp=$pp; break 2
		fi
	done
	if [ -z "${PYTHONPATH:-}" ] && $cand -c 'import webdataset, PIL' 2>/dev/null; then wpy=$cand; wpp=""; break; fi
done
if [ -z "$wpy" ]; then
	for t in "write --help recipe" "export --help recipe"; do
		skip "$t with webdataset" "webdataset is not importable (it is not packaged by Debian): git clone https://github.com/webdataset/webdataset; export PYTHONPATH=\$PWD/webdataset/src (needs python3-numpy, python3-pil, python3-braceexpand)"
	done
else
	"$B" write --help | recipe > write_recipe.py
	"$B" export --help | recipe > export_recipe.py
	grep -q 'd = "OUTDIR"' write_recipe.py && grep -q 'd = "PATH"' export_recipe.py && ok "both recipes extracted from --help" || bad "recipes extracted from --help"
	cat > draw.py <<'EOF'
import itertools, sys
sys.path.insert(0, ".")
from shares import labels, shares, compare
recipe, outdir, man, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
src = open(recipe).read()
src = src.replace('d = "OUTDIR"', "d = %r" % outdir).replace('d = "PATH"', "d = %r" % outdir)
g = {}
exec(compile(src, recipe, "exec"), g)          # the help's Python, as printed
draws = [(js["key"], 1) for img, txt, js in itertools.islice(g["ds"], n)]
assert len(draws) == n
compare(shares(draws, labels(man)), man, 0.02, recipe + " on " + outdir + " (%d draws)" % n)
EOF
	for m in eq up; do
		if PYTHONPATH="$wpp" $wpy draw.py write_recipe.py "$PWD/w-$m" $m 20000; then
			ok "$m: write --help's webdataset recipe draws the manifest's target (20k draws)"
		else
			bad "$m: write --help's webdataset recipe draws the manifest's target"
		fi
	done
	if PYTHONPATH="$wpp" $wpy draw.py export_recipe.py "$PWD/x-eq" eq 20000; then
		ok "export --help's webdataset recipe draws the manifest's target (20k draws)"
	else
		bad "export --help's webdataset recipe draws the manifest's target"
	fi
fi

# --- what ballast accepts, through both recipes: PNG images (some with a
# camera's upper-case extensions, .PNG and .TXT: ballast reads them lower
# case, and so does webdataset's tarfile_to_samples), samples without
# json, a .tar.zst shard (Python's tarfile cannot read zstd: the export
# gives it a pipe: URL) -----------------------------------------------------------
"$B" mkshards gz --shards 1 --per-shard 30 --seed 5 --image-size 16 --compress zst >/dev/null
$py - mixed.tar <<'EOF'
import io, json, struct, sys, tarfile, zlib
def png(v):  # a valid 2x2 grey PNG
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\0" + bytes([v, v]) for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as t:
    for i in range(20):
        # a camera's upper-case extensions on every fourth sample
        files = [("PNG" if i % 4 == 0 else "png", png(i)),
                 ("TXT" if i % 4 == 0 else "txt", b"a png of a woman")]
        if i % 2:
            files.append(("json", json.dumps({"key": "m%03d" % i}).encode()))
        for ext, data in files:
            ti = tarfile.TarInfo("m%03d.%s" % (i, ext))
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
EOF
"$B" scan mixed.tar gz/00000.tar.zst -o mx.db -q >/dev/null
printf 'cap 1000 per group\nrealise upsample\n' > all.policy
run "$B" rebalance mx.db -p all.policy -o mx -q
expect_rc 0 "rebalance png, json-less and zstd samples"
run "$B" export mx --to webdataset -o x-mx
expect_rc 0 "export png, json-less and zstd samples for webdataset"
grep -q "^pipe:zstd -dc -- '.*/gz/00000.tar.zst'\$" x-mx/shards.txt && ok "a zstd shard's url is a pipe through zstd -dc" || bad "a zstd shard's url is a pipe" "$(cat x-mx/shards.txt)"
grep -q '"url":"pipe:zstd' x-mx/weights.jsonl && ok "weights.jsonl names the zstd shard by the same url" || bad "weights.jsonl names the zstd shard by its pipe: url"
run "$B" write mx -o w-mx
expect_rc 0 "write png and json-less samples"
if [ -z "$wpy" ]; then
	skip "both recipes on png, json-less and zstd samples" "webdataset is not importable"
else
	cat > mixed.py <<'EOF'
import itertools, sys
recipe, outdir = sys.argv[1], sys.argv[2]
src = open(recipe).read()
src = src.replace('d = "OUTDIR"', "d = %r" % outdir).replace('d = "PATH"', "d = %r" % outdir)
g = {}
exec(compile(src, recipe, "exec"), g)          # the help's Python, as printed
png = jpg = nojson = 0
grey = set()  # the png samples drawn, by their grey value (= their number)
for img, txt, js in itertools.islice(g["ds"], 600):
    assert img.size in ((2, 2), (16, 16)), img.size
    assert isinstance(txt, str) and txt and isinstance(js, dict)
    png += img.size == (2, 2)
    jpg += img.size == (16, 16)
    nojson += not js
    if img.size == (2, 2):
        grey.add(img.convert("L").getpixel((0, 0)))
print(recipe, "png", png, "jpg (zstd shard)", jpg, "without json", nojson, "png samples", len(grey))
assert png > 100 and nojson > 50 and jpg > 200
# all 20 png samples are drawn, the 5 with .PNG and .TXT too
assert grey == set(range(20)), sorted(set(range(20)) - grey)
EOF
	if PYTHONPATH="$wpp" $wpy mixed.py export_recipe.py "$PWD/x-mx"; then
		ok "export --help's recipe reads png images, samples without json and a zstd shard"
	else
		bad "export --help's recipe reads png images, samples without json and a zstd shard"
	fi
	if PYTHONPATH="$wpp" $wpy mixed.py write_recipe.py "$PWD/w-mx"; then
		ok "write --help's recipe reads png images and samples without json"
	else
		bad "write --help's recipe reads png images and samples without json"
	fi
fi

# --- kohya: sd-scripts' own validator of dataset configs --------------------------
run "$B" export eq --to kohya -o ko --repeat-scale auto
expect_rc 0 "kohya export"
kpy=""
for cand in python3 /usr/bin/python3; do
	if $cand -c 'import toml, voluptuous' 2>/dev/null; then kpy=$cand; break; fi
done
if [ ! -f "$clients/sd-scripts/library/config_util.py" ] || [ -z "$kpy" ]; then
	skip "kohya dataset.toml passes sd-scripts' validator" "needs sd-scripts (git clone https://github.com/kohya-ss/sd-scripts into \$BALLAST_CLIENTS) and python3-toml, python3-voluptuous"
else
	if $kpy - "$clients/sd-scripts" ko/dataset.toml <<'EOF'
import argparse, os, sys, types
sd, path = sys.argv[1], sys.argv[2]
sys.path.insert(0, sd)
# config_util imports the trainer's heavy modules only for names it does not
# use in validation: stub those, keep the voluptuous schema real
tr = types.ModuleType("transformers"); tr.CLIPTokenizer = object
sys.modules["transformers"] = tr
tu = types.ModuleType("library.train_util")
for n in ("DreamBoothSubset", "FineTuningSubset", "ControlNetSubset", "DreamBoothDataset",
          "FineTuningDataset", "ControlNetDataset", "DatasetGroup"):
    setattr(tu, n, type(n, (), {}))
sys.modules["library.train_util"] = tu
ut = types.ModuleType("library.utils"); ut.setup_logging = lambda *a, **k: None
sys.modules["library.utils"] = ut
from library import config_util
cfg = config_util.load_user_config(path)
san = config_util.ConfigSanitizer(True, True, False, True)   # as train_network.py
bp = config_util.BlueprintGenerator(san).generate(cfg, argparse.Namespace())
subs = bp.dataset_group.datasets[0].subsets
assert bp.dataset_group.datasets[0].is_dreambooth
for s in subs:
    assert os.path.isdir(s.params.image_dir) and s.params.num_repeats >= 1
    assert s.params.caption_extension == ".txt"
print(len(subs), "subsets validated, num_repeats", sorted(s.params.num_repeats for s in subs))
EOF
	then ok "kohya dataset.toml passes sd-scripts' validator (config_util.ConfigSanitizer)"; else bad "kohya dataset.toml passes sd-scripts' validator"; fi
fi

# --- HF imagefolder rules ------------------------------------------------------------
run "$B" export eq --to hf -o hf
expect_rc 0 "hf export"
if $py - hf eq <<'EOF'
import json, os, sys
sys.path.insert(0, ".")
from shares import labels, shares, compare
d, man = sys.argv[1], sys.argv[2]
# imagefolder: metadata.jsonl beside the images, a file_name column naming
# each image (relative), unique, every image listed, columns of one type
rows = [json.loads(l) for l in open(os.path.join(d, "metadata.jsonl"), encoding="utf-8")]
names = [r["file_name"] for r in rows]
assert len(set(names)) == len(names)
exts = (".jpg", ".jpeg", ".png", ".webp")
on_disk = sorted(f for f in os.listdir(d) if f.lower().endswith(exts))
assert sorted(names) == on_disk
types_ = {k: {type(r[k]) for r in rows} for k in rows[0]}
assert all(len(t) == 1 for t in types_.values()), types_
# the weight column carries the target
compare(shares([(r["key"], r["weight"]) for r in rows], labels(man)), man, 1e-6, "hf weight column")
EOF
then ok "hf: metadata.jsonl follows the imagefolder rules and its weights carry the target"; else bad "hf imagefolder rules"; fi
