# The Python package (tools/python/ballast) with the real PyTorch: the
# manifest's member offsets against Python's tarfile, 20k draws of the
# IterableDataset against the manifest's target (the bound train.sh uses),
# the same draws and pixels as `ballast train`, DataLoader workers, ranks,
# resume both ways, WeightedRandomSampler over the MapDataset, and the
# README's training loop run exactly as printed there.
# tier: full (slow: `make check` skips it)
. "$TOP/tests/cli/lib.sh"

py=$(find_python 'import torch')
if [ -z "$py" ]; then
	skip "python dataset" "no python3 imports torch (Debian: apt-get install python3-torch)"
	exit 0
fi
bdir=$(dirname "$B")
export BALLAST_LIB="$bdir/libballast.so" PYTHONPATH="$TOP/tools/python"
case "${BALLAST_BUILD_SAN:-}" in
*address*)
	# an instrumented library in an uninstrumented python: its runtime first
	export LD_PRELOAD="$(cc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0
	;;
esac

"$B" mkshards gen --shards 4 --per-shard 500 --seed 3 --image-size 48 --skew east_asian:female=3 -j 2 >/dev/null
"$B" scan 'gen/*.tar' -o ix.db -j 2 -q >/dev/null
# 2000 samples leave some rows under the cells check's 30: accepted
# knowingly (the package refuses the manifest of a failed plan; loud.sh
# checks that, these checks are about draws)
{ cat "$TOP/manifests/policies/deskew-sexualisation.policy"; echo 'accept cells >= 1'; } > deskew.policy
"$B" rebalance ix.db -p deskew.policy -o man -q >/dev/null
printf 'independent sexual group within gender\nrealise upsample\nseed 1\naccept cells >= 1\n' > up.policy
"$B" rebalance ix.db -p up.policy -o up -q >/dev/null
grep -q '"ok":[[:space:]]*true' man/manifest.json && grep -q '"ok":[[:space:]]*true' up/manifest.json &&
	ok "the chain writes two manifests of plans that passed" || bad "the chain writes two manifests of plans that passed"

# --- members: seek and read gives each member's bytes exactly ----------------
cat > members.py <<'EOF'
import sys, tarfile, ballast
m = ballast.Manifest(sys.argv[1])
tars, n = {}, 0
for e in m:
    t = tars.setdefault(e.shard, tarfile.open(e.shard))
    assert set(e.members) == {"jpg", "txt", "json"}, e.members
    for ext in e.members:
        want = t.extractfile(t.getmember(e.key + "." + ext)).read()
        with open(e.shard, "rb") as f:
            off, size = e.members[ext]
            f.seek(off)
            assert f.read(size) == want, (e.key, ext)
        n += 1
    assert m.read(e.index, "image") == t.extractfile(e.key + ".jpg").read()
print(n)
EOF
run $py members.py man
[ "$rc" -eq 0 ] && [ "$out" -eq "$(($(cat man/shards/*.jsonl | wc -l) * 3))" ] &&
	ok "plain tar: f.seek(offset); f.read(size) is every member's bytes ($out members)" ||
	bad "member offsets" "$(tail -3 err.txt)"

# --- 20k draws realise the target: the bound of train.sh ----------------------
cat > draws.py <<'EOF'
import json, sys, ballast
ds = ballast.WeightedDataset(sys.argv[1], decode=False, draws=20000, seed=7)
labels, none, n = {}, 0, 0
for image, caption, lab, w in ds:
    n += 1
    none += not lab
    for l in lab:
        labels[l] = labels.get(l, 0) + 1
assert ds.failed == 0
json.dump({"labels": labels, "unlabelled": none, "samples": n}, open(sys.argv[2], "w"))
EOF
for m in man up; do
	if $py draws.py $m $m-counts.json && $py "$TOP/tests/cli/tvd.py" $m $m-counts.json > tvd.txt; then
		ok "$m: 20k draws of the dataset within the 20k-draw bound ($(cat tvd.txt))"
	else
		bad "$m: 20k draws of the dataset within the bound" "$(cat tvd.txt)"
	fi
done

# --- the same draws as ballast train, whatever the workers -------------------
"$B" train man --mode full --steps 40 --batch 8 --size 32 --seed 5 --json > t.json
grep '"keys"' t.json | $py -c 'import json,sys; [print(k) for l in sys.stdin for k in json.loads(l)["keys"]]' > train.keys
cat > same.py <<'EOF'
import torch, ballast
ds = ballast.WeightedDataset("man", size=32, seed=5, batch_size=8, draws=320, keys=True)
one = [(b[0], b[4]) for b in ds]
two = [(b[0], b[4]) for b in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)]
three = [(b[0], b[4]) for b in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=3)]
assert len(one) == 40 and all(len(k) == 8 for _, k in one)
for other in (two, three):
    assert len(other) == 40
    for (a, ka), (b, kb) in zip(one, other):
        assert ka == kb and torch.equal(a, b)
# pixel means of the first batch, as train's placeholder step prints them
mean = (one[0][0].double() / 255).mean(dim=(2, 3)).mean(dim=0)
print(" ".join("%.4f" % v for v in mean.tolist()))
EOF
cat > keys.py <<'EOF'
import sys, ballast
ds = ballast.WeightedDataset(sys.argv[1], decode=False, seed=int(sys.argv[2]), draws=int(sys.argv[3]),
                             rank=int(sys.argv[4]), world=int(sys.argv[5]), keys=True)
for image, caption, labels, weight, key in ds:
    print(key)
EOF
run $py same.py
if [ "$rc" -eq 0 ]; then
	ok "2 and 3 DataLoader workers give the single-process batches, pixels and all"
	want=$(grep '"step": 1,' t.json | sed 's/.*"mean": \[\([^]]*\)\].*/\1/' | tr -d ,)
	[ "$out" = "$want" ] && ok "first batch's pixel means equal train's ($out)" || bad "pixel means equal train's" "python '$out', train '$want'"
else
	bad "DataLoader workers keep the order" "$(tail -5 err.txt)"
fi
$py keys.py man 5 320 0 1 > py.keys 2> keys.err
cmp -s py.keys train.keys && ok "the dataset draws exactly train's sequence (320 keys, seed 5)" ||
	bad "the dataset draws train's sequence" "$(diff py.keys train.keys | head -3) $(tail -2 keys.err)"
$py keys.py man 5 160 0 2 > r0.keys && $py keys.py man 5 160 1 2 > r1.keys
paste -d '\n' r0.keys r1.keys > both.keys
cmp -s both.keys train.keys && ok "ranks 0 and 1 of 2 interleave into the world-1 sequence" || bad "ranks interleave"

# --- resume, both ways ---------------------------------------------------------
cat > resume.py <<'EOF'
import sys, ballast
ds = ballast.WeightedDataset("man", decode=False, seed=5, batch_size=8, draws=15 * 8, keys=True)
first = [k for b in ds for k in b[4]]
state = ds.state_after(15)
open("py-state.json", "w").write(state)
ds2 = ballast.WeightedDataset("man", decode=False, batch_size=8, draws=25 * 8, resume=state, keys=True)
rest = [k for b in ds2 for k in b[4]]
full = [k for b in ballast.WeightedDataset("man", decode=False, seed=5, batch_size=8, draws=40 * 8,
                                           keys=True) for k in b[4]]
assert first + rest == full, "resume differs"
print(len(full))
EOF
run $py resume.py
[ "$rc" -eq 0 ] && ok "state_after(15) + resume = 40 batches uninterrupted" || bad "python resume" "$(tail -3 err.txt)"
run "$B" train man --mode full --steps 25 --batch 8 --size 32 --resume py-state.json --json
grep '"keys"' out.txt | $py -c 'import json,sys; [print(k) for l in sys.stdin for k in json.loads(l)["keys"]]' > tr.keys
tail -n 200 train.keys | cmp -s - tr.keys && ok "ballast train --resume continues the python dataset's state" ||
	bad "train resumes a python state" "$(head -c 300 err.txt)"
# the state's seed is the one drawn from: a seed= that is not it is refused
# (the manifest's seed is 1, the state's 5)
cat > resume_seed.py <<'EOF'
import ballast
state = open("py-state.json").read()
ds = ballast.WeightedDataset("man", decode=False, batch_size=8, draws=8, resume=state)
assert ds.seed == 5, ds.seed
assert ballast.WeightedDataset("man", decode=False, seed=5, resume=state).seed == 5
try:
    ballast.WeightedDataset("man", decode=False, seed=999, resume=state)
except ballast.BallastError as e:
    assert "saved with seed 5, this dataset has seed=999" in str(e), e
else:
    raise AssertionError("seed=999 with a seed-5 state was accepted")
print("ok")
EOF
run $py resume_seed.py
[ "$rc" -eq 0 ] && ok "resume=: the state's seed, and another seed= refused" || bad "python resume seed" "$(tail -3 err.txt)"
# a manifest whose lines do not match manifest.json is refused here too
cp -r man cut && head -n 10 man/shards/00001.jsonl > cut/shards/00001.jsonl
run $py -c 'import ballast; ballast.Manifest("cut")'
[ "$rc" -ne 0 ] && grep -q "BallastError: manifest 'cut' is refused: 'cut/shards/00001.jsonl' holds 10 entries" err.txt &&
	ok "a cut manifest is refused by the python package" || bad "python: cut manifest" "$(tail -3 err.txt)"

# --- WeightedRandomSampler over the MapDataset -----------------------------------
cat > wrs.py <<'EOF'
import json, sys, torch, ballast
ds = ballast.MapDataset(sys.argv[1], size=32)
m = ballast.Manifest(sys.argv[1])
g = torch.Generator().manual_seed(3)
idx = list(torch.utils.data.WeightedRandomSampler(ds.weights, 20000, replacement=True, generator=g))
labels, none = {}, 0
for i in idx:
    lab = m[i].labels
    none += not lab
    for l in lab:
        labels[l] = labels.get(l, 0) + 1
json.dump({"labels": labels, "unlabelled": none, "samples": len(idx)}, open(sys.argv[2], "w"))
img, cap, lab, w = ds[idx[0]]
assert img.shape == (3, 32, 32) and img.dtype == torch.uint8 and w == m.weights[idx[0]]
dl = torch.utils.data.DataLoader(ds, batch_size=4, sampler=idx[:8], num_workers=2,
                                 collate_fn=ballast.collate)
assert sum(len(b[1]) for b in dl) == 8
EOF
if $py wrs.py up wrs.json && $py "$TOP/tests/cli/tvd.py" up wrs.json > tvd.txt; then
	ok "WeightedRandomSampler(Manifest.weights) over MapDataset: 20k draws within the bound ($(cat tvd.txt))"
else
	bad "WeightedRandomSampler over MapDataset" "$(cat tvd.txt)"
fi

# --- the README's training loop, exactly as printed --------------------------------
# (a small set: the loop decodes at 256 px)
"$B" mkshards small --shards 1 --per-shard 160 --seed 4 --image-size 48 >/dev/null
"$B" scan small/00000.tar -o small.db -q >/dev/null
# 160 samples: the deskew plan fails cells, share and shift, accepted here
# so that the loop runs as printed (it would be refused otherwise)
{ cat "$TOP/manifests/policies/deskew-sexualisation.policy"
  printf 'accept cells >= 1\naccept sample share 0.05\naccept shift 0.05\n'; } > deskew-160.policy
"$B" rebalance small.db -p deskew-160.policy -o out -q >/dev/null
sed -n '/<!-- ballast-pytorch-loop -->/,/^```$/p' "$TOP/README.md" | sed '1,2d;$d' > loop.py
if [ "$(wc -l < loop.py)" -ge 5 ] && [ "$(wc -l < loop.py)" -le 12 ]; then
	ok "the README has a training loop of $(wc -l < loop.py) lines"
else
	bad "the README has a ten-line training loop" "$(wc -l < loop.py) lines"
fi
run $py loop.py
[ "$rc" -eq 0 ] && [ -s ckpt.pt ] && ok "the README's loop runs over a manifest and checkpoints" || bad "the README's loop runs" "$(tail -5 err.txt)"

# --- the shards against the manifest, as `ballast train` checks them ---------------
# a shard replaced after rebalance (the same keys and sizes, other
# captions): drawn under the manifest's labels with no word, before
"$B" mkshards small2 --shards 1 --per-shard 160 --seed 5 --image-size 48 >/dev/null
cp small/00000.tar small-saved.tar
cp small2/00000.tar small/00000.tar
cat > shards.py <<'PY'
import os, sys, warnings, torch, ballast
want = "manifest 'out': refusing to read the shards: 1 of 1 shards do not match the manifest: shard "
for make in (lambda **kw: ballast.Manifest("out", **kw),
             lambda **kw: ballast.WeightedDataset("out", size=16, decode=False, draws=20, **kw),
             lambda **kw: ballast.MapDataset("out", size=16, decode=False, **kw)):
    for level in ({}, {"check_shards": "auto"}, {"check_shards": "quick"}, {"check_shards": "full"}):
        try:
            make(**level)
            sys.exit("a changed shard was read with %r" % level)
        except ballast.BallastError as e:
            assert want in str(e) and "small/00000.tar" in str(e) and "check_shards='none'" in str(e), e
# none: read as it is (what --no-check-shards does)
ds = ballast.WeightedDataset("out", size=16, decode=False, draws=20, check_shards="none")
assert sum(1 for _ in ds) == 20
# a shard that cannot be read at all: every draw fails, and the iteration
# raises instead of ending empty (it warned each draw and yielded nothing)
with open("small/00000.tar", "wb") as f:
    f.write(bytes(4096))
for bs in (None, 4):
    ds = ballast.WeightedDataset("out", size=16, decode=False, draws=20, batch_size=bs, check_shards="none")
    got = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            for x in ds:
                got.append(x)
            sys.exit("an iteration where every read failed ended quietly (batch_size=%r)" % bs)
        except ballast.BallastError as e:
            assert "every one of the 20 samples drawn failed to load (the first: " in str(e), e
    assert got == [], "yielded %d before raising" % len(got)
    assert ds.failed == 20, ds.failed
try:
    ballast.Manifest("out")
    sys.exit("a shard of zeros was read")
except ballast.BallastError as e:
    assert "small/00000.tar': 4096 bytes on disk" in str(e), e
print("checked")
PY
run $py shards.py
[ "$rc" -eq 0 ] && [ "$out" = checked ] &&
	ok "a changed shard is refused by Manifest, WeightedDataset and MapDataset (check_shards), and an iteration of failed reads raises" ||
	bad "the package checks the shards" "$(tail -5 err.txt)"
cp -p small-saved.tar small/00000.tar
cat > back.py <<'PY'
import torch, ballast
ds = ballast.WeightedDataset("out", size=16, decode=False, draws=24, batch_size=4)
dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
assert sum(len(b[1]) for b in dl) == 24
print("ok")
PY
run $py back.py
[ "$rc" -eq 0 ] && ok "the shard back: drawn again, with workers" || bad "the shard back" "$(tail -3 err.txt)"
