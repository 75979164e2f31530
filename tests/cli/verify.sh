# CLI tests for ballast verify: a manifest checked against its shards.
. "$TOP/tests/cli/lib.sh"

"$B" mkshards gen --shards 3 --per-shard 200 --seed 8 --image-size 16 --skew east_asian:female=3 > /dev/null
"$B" scan 'gen/*.tar' -q -o ix.db > /dev/null
# 600 samples are too few for the deskew policy's cells and shift checks:
# accepted here (a plan that failed them is refused by the consumers,
# and these checks are about shards and lines, not the plan; loud.sh
# holds the failed plan's)
{ cat "$TOP/manifests/policies/deskew-sexualisation.policy"; printf 'accept cells >= 1\naccept shift 0.05\n'; } > deskew-small.policy
"$B" rebalance ix.db -p deskew-small.policy -o man > /dev/null
run "$B" verify man
expect_rc 0 "a fresh manifest verifies"
expect_out "^shards +3 \(0 do not match; 3 SHA-256 checked\)" "every shard's size and digest checked"
expect_out "^entries +600 \(0 do not match\)" "every entry checked"
run "$B" verify man --no-digest
expect_out "0 SHA-256 checked" "--no-digest skips the digests"

# a shard changed in place (same size): the digest catches it
cp gen/00001.tar saved.tar
python3 - gen/00001.tar <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.index(b".txt") + 600      # inside a caption's data block
b[i] = b[i] ^ 0x20
open(p, "wb").write(bytes(b))
PY
run "$B" verify man
expect_rc 1 "a changed shard fails verification"
expect_err "gen/00001.tar': SHA-256 .* differs" "and is named"

# the same samples under other keys: keys no longer where the
# manifest says, which --no-digest still sees
python3 - saved.tar gen/00001.tar <<'PY'
import sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as a, tarfile.open(dst, "w", format=a.format) as b:
    for m in a:
        data = a.extractfile(m)
        m.name = "9" + m.name[1:]      # 000010007.jpg -> 900010007.jpg
        b.addfile(m, data)
PY
run "$B" verify man --no-digest
expect_rc 1 "a shard with other samples fails"
expect_err "gen/00001.tar' sample [0-9]+: key '[0-9]+' at offset [0-9]+, the manifest says" "the mismatch names sample, key and offset"
mv gen/00001.tar moved.tar
run "$B" verify man
expect_rc 1 "a missing shard fails"
expect_err "gen/00001.tar': No such file" "the missing shard is named"
cp saved.tar gen/00001.tar
run "$B" verify man
expect_rc 0 "the original shard back: verifies again"
run "$B" verify nonexistent
expect_rc 3 "no manifest there is fatal"

# --- order and paths: verify agrees with write, train and export -------------
# two lines swapped: still every key at its place
sed -n '2p;1p;3,$p' man/shards/00000.jsonl > swapped.jsonl
run "$B" verify swapped.jsonl
expect_rc 0 "lines out of order verify (as write reads them)"
run "$B" write swapped.jsonl -o w-swapped
expect_rc 0 "and write accepts them"
# from another directory: relative shard paths resolve as train resolves them
mkdir -p elsewhere
(cd elsewhere && "$B" verify ../man > ../out.txt 2> ../err.txt); rc=$?
expect_rc 0 "verify from another directory than the scan's"
(cd elsewhere && "$B" train ../man --mode lora --steps 1 --size 16 -q > /dev/null 2>&1); rc=$?
expect_rc 0 "train from there too"

# --- a shard replaced after rebalance: every consumer refuses it ---------------
"$B" mkshards other --shards 3 --per-shard 200 --seed 99 --image-size 16 > /dev/null
cmp -s other/00001.tar gen/00001.tar && bad "the replacement differs" || ok "a replacement shard: same keys and layout, other bytes"
cp gen/00001.tar saved.tar
cp other/00001.tar gen/00001.tar
for c in "write man -o w-changed" "export man --to kohya -o k-changed" \
	 "export man --to webdataset -o x-changed" "train man --mode lora --steps 1 --size 16"; do
	name=$(echo "$c" | sed 's/ -o .*//; s/ --mode.*//; s/ man / /; s/ man$//')
	run "$B" $c
	expect_rc 3 "$name: a shard changed since rebalance is refused"
	expect_err "gen/00001.tar'.*(SHA-256|mtime|bytes)" "$name: the changed shard is named"
done
[ ! -e w-changed ] && [ ! -e k-changed ] && ok "nothing written from a changed shard" || bad "nothing written from a changed shard"
run "$B" write man -o w-forced --no-check-shards
expect_rc 0 "--no-check-shards reads it anyway (same keys and offsets)"
# the same size and the recorded mtime back: only the digest can tell
touch -r saved.tar gen/00001.tar
run "$B" write man -o w-same-mtime
expect_rc 3 "same size, same mtime, other bytes: write's full check refuses"
run "$B" train man --mode lora --steps 1 --size 16
expect_rc 3 "and train's default check (full below 1 GiB of shards)"
cp -p saved.tar gen/00001.tar
touch -r saved.tar gen/00001.tar
run "$B" write man -o w-back
expect_rc 0 "the original bytes back: accepted"
touch gen/00002.tar
run "$B" train man --mode lora --steps 1 --size 16 --check-shards quick
expect_rc 0 "quick check: a touched shard whose digest matches is accepted"

# --- '-' and FIFOs as shards: refused by every consumer, never read ------------
sed 's#"shard":"[^"]*"#"shard":"-"#' man/shards/00000.jsonl | head -n 3 > dash.jsonl
mkfifo pipe.tar
sed 's#"shard":"[^"]*"#"shard":"pipe.tar"#' man/shards/00000.jsonl | head -n 3 > fifo.jsonl
for m in dash fifo; do
	run timeout 20 "$B" verify $m.jsonl
	expect_rc 1 "verify: a $m shard is a mismatch, not a hang"
	run timeout 20 "$B" train $m.jsonl --mode lora --steps 1 --size 16 --no-check-shards
	expect_rc 3 "train: a $m shard is refused even with --no-check-shards"
	run timeout 20 "$B" export $m.jsonl --to hf -o hf-$m
	expect_rc 3 "export: a $m shard is refused"
done

# --- the lines against manifest.json: a cut, emptied or edited manifest ---------
# reads as a valid, smaller (or heavier) one unless its record is checked:
# verify lists the problems (exit 1), every consumer refuses (exit 3), the
# first problem on the first line of stderr, naming the file
run "$B" verify man
expect_out "^manifest +0 problems" "a fresh manifest's lines match manifest.json"
refused() { # NAME DIR PATTERN: verify fails, write, export and train refuse
	run "$B" verify "$2"
	expect_rc 1 "verify: $1 is a mismatch"
	expect_out "^manifest +[1-9][0-9]* problems?" "verify: $1 is counted"
	expect_err "$3" "verify: $1 is named"
	for c in "write $2 -o w-$2" "export $2 --to kohya -o k-$2" "train $2 --mode lora --steps 1 --size 16 --no-check-shards"; do
		run "$B" $c
		[ "$rc" -eq 3 ] && head -n 1 err.txt | grep -qE "^ballast [a-z]+: manifest '$2' is refused: .*$3" &&
			ok "${c%% *}: $1 is refused, named first" || bad "${c%% *}: $1 refused" "exit $rc $(head -c 300 err.txt)"
	done
	[ ! -e "w-$2" ] && [ ! -e "k-$2" ] && ok "nothing written from $1" || bad "nothing written from $1"
}
cp -r man cut && head -n 100 man/shards/00001.jsonl > cut/shards/00001.jsonl
refused "a file cut at a line boundary" cut "'cut/shards/00001.jsonl' holds 100 entries, manifest.json records [0-9]+ written"
cp -r man emptied && : > emptied/shards/00002.jsonl
refused "an emptied file" emptied "'emptied/shards/00002.jsonl' holds 0 entries"
cp -r man twice && sed -n 5p man/shards/00000.jsonl >> twice/shards/00000.jsonl
refused "a duplicated line" twice "'twice/shards/00000.jsonl' line [0-9]+: shard 'gen/00000.tar' key '[0-9]+' is listed twice"
run "$B" verify twice
expect_out "^manifest +2 problems" "verify: and its file's count is off too"
expect_err "'twice/shards/00000.jsonl' holds [0-9]+ entries" "both named"
# weights: man's are fractional (deskew); realise edited to upsample would
# have write round them
cp -r man upsampled && sed -i 's/"realise":\([[:space:]]*\)"weights"/"realise":\1"upsample"/' upsampled/manifest.json
refused "realise edited over fractional weights" upsampled "says realise \"upsample\" \(integer copy counts\), but [0-9]+ entries have a fractional weight, the first 'upsampled/shards/00000.jsonl' line 1"
python3 - man/manifest.json header/manifest.json <<'PY'
import json, os, sys
m = json.load(open(sys.argv[1]))
m["realise"] = "downsample"
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
json.dump(m, open(sys.argv[2], "w"))
PY
cp -r man/shards header/
refused "realise edited in the header only" header "says realise \"downsample\", its summary \"weights\""
cp -r man heavier && sed -i '3s/"weight":[0-9.e+-]*/"weight":7/' heavier/shards/00001.jsonl
refused "an edited weight" heavier "'heavier/manifest.json': summary.weight_sum is [0-9.]+, the entries' weights sum to"
# a bare .jsonl records nothing, but a line twice is still twice
{ cat man/shards/00000.jsonl; sed -n 7p man/shards/00000.jsonl; } > twice.jsonl
run "$B" verify twice.jsonl
expect_rc 1 "verify: a bare .jsonl with a line twice is a mismatch"
run "$B" write twice.jsonl -o w-twice-jsonl
expect_rc 3 "write: and refuses it"
expect_err "twice.jsonl' line 201: shard 'gen/00000.tar' key '[0-9]+' is listed twice" "naming the line"

# --- every shard the lines name has one input record --------------------------
# the record is what the shard is checked against: a line naming a shard
# with none (or another's) was read unchecked (an input's path edited to
# another's: verify exit 0, train read the changed shard)
python3 - man/manifest.json rec-moved/manifest.json <<'PY'
import json, os, sys
m = json.load(open(sys.argv[1]))
m["inputs"][0]["path"] = m["inputs"][1]["path"]
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
json.dump(m, open(sys.argv[2], "w"))
PY
cp -r man/shards rec-moved/
refused "an input's path edited to another's" rec-moved "'rec-moved/shards/00000.jsonl' line 1 names shard 'gen/00000.tar', but its input in manifest.json records 'gen/00001.tar' \(200 lines"
run "$B" verify rec-moved
expect_err "'rec-moved/manifest.json': shard 'gen/00001.tar' has more than one input record" "verify: the shard recorded twice is named"
expect_err "shard 'gen/00000.tar' has no input record in manifest.json" "verify: the shard with no record is not checked as a match"
expect_out "^shards +3 \(2 do not match" "verify: both shards counted as mismatches"
# and with that shard changed, train refuses the edited manifest as the
# unedited one (it read the changed shard with exit 0)
cp gen/00000.tar saved0.tar
cp other/00000.tar gen/00000.tar
run "$B" train rec-moved --mode lora --steps 1 --size 16 -q
expect_rc 3 "train: an edited record over a changed shard is refused"
run "$B" train man --mode lora --steps 1 --size 16 -q
expect_rc 3 "train: the changed shard under the unedited manifest too"
# a line naming another shard than its file's input (the lines edited)
cp -r man line-moved && sed -i '2s#"shard":"gen/00001.tar"#"shard":"gen/00002.tar"#' line-moved/shards/00001.jsonl
refused "a line naming another shard" line-moved "'line-moved/shards/00001.jsonl' line 2 names shard 'gen/00002.tar', but its input in manifest.json records 'gen/00001.tar' \(1 line"

# the Python package's Manifest (no torch needed) checks the shards as
# train does: the changed shard, and a missing one, raise BallastError
if [ -e "$(dirname "$B")/libballast.so" ]; then
	case "${BALLAST_BUILD_SAN:-}" in
	*address*) pyasan="$(cc -print-file-name=libasan.so)" ;;
	*) pyasan= ;;
	esac
	cat > shards.py <<'PY'
import os, shutil, sys, ballast
def refused(want, **kw):
    try:
        ballast.Manifest("man", **kw)
    except ballast.BallastError as e:
        assert "manifest 'man': refusing to read the shards: 1 of 3 shards do not match the manifest: " in str(e) and want in str(e), e
        return
    sys.exit("read a manifest whose shard changed: %r" % kw)
refused("shard 'gen/00000.tar': SHA-256")
refused("shard 'gen/00000.tar': SHA-256", check_shards="full")
m = ballast.Manifest("man", check_shards="none")      # the size is the same
assert len(m) == 600
try:
    ballast.Manifest("man", check_shards="some")
    sys.exit("a bad check_shards was taken")
except ValueError:
    pass
try:
    ballast.Manifest("rec-moved", check_shards="none")
    sys.exit("an edited record was read")
except ballast.BallastError as e:
    assert "names shard 'gen/00000.tar', but its input" in str(e), e
os.rename("gen/00000.tar", "gone.tar")
refused("shard 'gen/00000.tar': No such file", check_shards="none")
os.rename("gone.tar", "gen/00000.tar")
shutil.copy2("saved0.tar", "gen/00000.tar")
assert len(ballast.Manifest("man")) == 600
print("checked")
PY
	if BALLAST_LIB="$(dirname "$B")/libballast.so" PYTHONPATH="$TOP/tools/python" \
	   env ${pyasan:+LD_PRELOAD=$pyasan ASAN_OPTIONS=detect_leaks=0} python3 shards.py > py.out 2> py.err &&
	   grep -q checked py.out; then
		ok "python: Manifest refuses a changed or missing shard (check_shards), reads it back"
	else
		bad "python: Manifest checks the shards" "$(tail -3 py.err)"
	fi
else
	skip "python: Manifest checks the shards" "no $(dirname "$B")/libballast.so"
fi
cp saved0.tar gen/00000.tar
