# What the consumers get from outside: hostile manifests and states (huge
# weights, numbers that do not fit, NUL bytes, long lines), shard names and
# keys that are not UTF-8 (scan -> rebalance -> train finds every sample),
# PNG samples, seeds that do not fit a double, heavy weights that must not
# clump in a batch, and how train reports skips (-q) and progress.
. "$TOP/tests/cli/lib.sh"

py=python3
"$B" mkshards gen --shards 4 --per-shard 500 --seed 3 --image-size 48 --skew east_asian:female=3 -j 2 >/dev/null
"$B" scan 'gen/*.tar' -o ix.db -j 2 -q >/dev/null
# 2000 samples leave some rows under the plan check's 30: accepted knowingly
{ cat "$TOP/manifests/policies/deskew-sexualisation.policy"; echo 'accept cells >= 1'; } > deskew.policy
run "$B" rebalance ix.db -p deskew.policy -o man -q
expect_rc 0 "rebalance writes the manifest"
line1=$(head -n 1 man/shards/00000.jsonl | sed 's/,"members":{[^}]*}//')

# --- numbers from a manifest are checked, the line is named -----------------
i=0
for bad in '"weight":4611686018427388928' '"weight":1e300' '"weight":1e999' '"weight":1000001' \
	   '"weight":-1' '"weight":"2"' '"ordinal":1e300' '"ordinal":-1' '"ordinal":1.5' \
	   '"offset":18446744073709551616' '"offset":-512' '"members":{"jpg":[1e300,5]}' \
	   '"members":{"txt":[0]}'; do
	i=$((i + 1))
	field=${bad%%:*}
	{ echo "$line1"; echo "$line1" | sed "s/$field:[^,}]*/$bad/"; } > hostile$i.jsonl
	# a members object the line does not have is added
	grep -q "$bad" hostile$i.jsonl || { echo "$line1"; echo "$line1" | sed "s/}\$/,$bad}/"; } > hostile$i.jsonl
	run "$B" train hostile$i.jsonl --mode full --steps 1 --size 16
	if [ "$rc" -eq 3 ] && grep -q "hostile$i.jsonl' line 2" err.txt; then
		ok "train refuses $bad, naming the file and line"
	else
		bad "train refuses $bad" "exit $rc: $(head -c 300 err.txt)"
	fi
done
run "$B" export hostile1.jsonl --to webdataset -o hx
[ "$rc" -ne 0 ] && grep -q "line 2" err.txt && ok "export reads manifests through the same checks" || bad "export refuses a huge weight" "exit $rc"
printf '%s\n' "$line1" | sed 's/"key":"/"key":"a\\u0000/' > nul.jsonl
run "$B" train nul.jsonl --mode full --steps 1 --size 16
expect_rc 3 "a \\u0000 in a key is refused (it would cut the key short)"
{ echo "$line1"; printf '{"key":"%0*d"}\n' 1100000 0; } > long.jsonl
run "$B" train long.jsonl --mode full --steps 1 --size 16
[ "$rc" -eq 3 ] && grep -q "line 2: longer than" err.txt && ok "an over-long line is refused by number" || bad "over-long line" "$(head -c 200 err.txt)"
# 2000 weight-1e6 entries: 2e9 draws an epoch, nothing allocated per draw
cat man/shards/*.jsonl | sed 's/"weight":[^,]*/"weight":1000000/' > heavy-epoch.jsonl
[ "$(wc -l < heavy-epoch.jsonl)" -eq 2000 ] || bad "heavy-epoch.jsonl holds 2000 entries"
run "$B" train heavy-epoch.jsonl --mode full --steps 2 --batch 2 --size 16 --json
[ "$rc" -eq 0 ] && grep -q '"epoch_size": 2000000000' out.txt && ok "an epoch of 2e9 draws costs no memory per draw" || bad "2e9-draw epoch" "exit $rc $(head -c 300 err.txt)"
run "$B" train heavy-epoch.jsonl --mode full --epochs 9223372036854775807 --size 16
expect_rc 2 "--epochs x epoch size past 2^64 is refused"
run "$B" train man --mode full --steps 4611686018427387904 --batch 8 --size 16
expect_rc 2 "--steps x --batch past 2^64 is refused"

# --- hostile state files --------------------------------------------------------
"$B" train man --mode full --steps 1 --size 16 --save-state st.json >/dev/null
dig=$(sed 's/.*"manifest_sha256": "\([0-9a-f]*\)".*/\1/' st.json)
i=0
for st in '"position": 1e300' '"position": -1' '"world": 0' '"seed": "-1"' '"seed": 1.5' \
	  '"position": "18446744073709551615"' '"version": 2' '"steps": "x"'; do
	i=$((i + 1))
	key=${st%%:*}
	sed "s/$key: [^,}]*/$st/" st.json > st$i.json
	run "$B" train man --mode full --steps 1 --size 16 --resume st$i.json
	[ "$rc" -eq 3 ] && grep -q "state 'st$i.json'" err.txt && ok "a state with $st is refused" ||
		bad "a state with $st is refused" "exit $rc $(head -c 200 err.txt)"
done

# --- keys and shard names that are not UTF-8 ------------------------------------
mkdir -p bytes
$py - <<'EOF'
import io, os, tarfile
src = tarfile.open("gen/00000.tar")
out = tarfile.open(os.fsdecode(b"bytes/shard-\xe9\xff.tar"), "w", format=tarfile.USTAR_FORMAT,
                   encoding="utf-8", errors="surrogateescape")
for m in src.getmembers()[:300]:
    key, ext = m.name.split(".", 1)
    k = b"caf\xe9-" + key.encode() + (b"\x80\xc3" if int(key) % 2 else "é".encode())
    data = src.extractfile(m).read()
    ti = tarfile.TarInfo(os.fsdecode(k) + "." + ext)
    ti.size, ti.mtime = len(data), 0
    out.addfile(ti, io.BytesIO(data))
out.close()
EOF
"$B" scan 'bytes/*.tar' -o bytes.db -q >/dev/null
# 300 samples: the plan's checks are accepted knowingly (this is about bytes)
{ cat deskew.policy; echo 'accept sample share 0.05'; echo 'accept shift 0.05'; } > bytes.policy
run "$B" rebalance bytes.db -p bytes.policy -o bman -q
expect_rc 0 "rebalance of a shard whose name and keys are not UTF-8"
if $py - <<'EOF'
import glob, json, os, tarfile
# every file of the manifest is strict UTF-8 JSON
m = json.load(open("bman/manifest.json", encoding="utf-8"))
path = m["inputs"][0]["path"]
assert os.fsencode(path) == b"bytes/shard-\xe9\xff.tar", path
lines = [json.loads(l) for f in glob.glob("bman/shards/*.jsonl") for l in open(f, encoding="utf-8")]
names = {os.fsencode(n.rsplit(".", 1)[0]) for n in tarfile.open(os.fsdecode(b"bytes/shard-\xe9\xff.tar"),
         encoding="utf-8", errors="surrogateescape").getnames()}
keys = {os.fsencode(l["key"]) for l in lines}
assert keys == names and len(keys) == 100, (len(keys), len(names))
EOF
then ok "manifest.json and the lines are valid UTF-8; keys and path come back as the same bytes (\\udcXX)"; else bad "bytes round-trip through the manifest"; fi
run "$B" train bman --mode full --epochs 1 --size 16 --json -q
[ "$rc" -eq 0 ] && tail -n 1 out.txt | grep -q '"samples": 100, "failed": 0' &&
	ok "train finds every one of those samples" || bad "train finds the non-UTF-8 samples" "exit $rc $(tail -n 1 out.txt | head -c 200) $(head -c 300 err.txt)"
run "$B" verify bman
expect_rc 0 "verify finds them at their offsets"

# --- PNG samples: decoded (alpha on white), other formats skipped by name -------
$py - <<'EOF'
import io, struct, tarfile, zlib
def png(w, h, ctype, depth, rows, plte=None):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    if plte:
        out += chunk(b"PLTE", plte)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
W, H = 40, 30
imgs = {
    "red": png(W, H, 2, 8, [b"\xff\x00\x00" * W] * H),                       # RGB
    "clear": png(W, H, 6, 8, [b"\x00\x00\xff\x00" * W] * H),                 # RGBA, transparent
    "grey": png(W, H, 0, 8, [b"\x80" * W] * H),                              # grey
    "deep": png(W, H, 2, 16, [b"\x00\x00\xff\xff\x00\x00" * W] * H),         # 16-bit green
    "pal": png(W, H, 3, 8, [b"\x01" * W] * H, plte=b"\x00\x00\x00\x00\x00\xff"),  # palette blue
}
t = tarfile.open("png.tar", "w", format=tarfile.USTAR_FORMAT)
def add(name, data):
    ti = tarfile.TarInfo(name); ti.size = len(data); ti.mtime = 0
    t.addfile(ti, io.BytesIO(data))
for k, data in imgs.items():
    add(k + ".png", data)
    add(k + ".txt", ("a %s square" % k).encode())
add("web.webp", b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")
add("web.txt", b"a webp")
t.close()
EOF
"$B" scan png.tar -o png.db -q >/dev/null
printf 'drop meta.failed\n' > none.policy
"$B" rebalance png.db -p none.policy -o pman -q >/dev/null
run "$B" train pman --mode full --epochs 1 --batch 6 --size 8 -j 0 --dump dump
[ "$rc" -eq 1 ] && grep -q "web.*a webp image: the loader decodes JPEG and PNG only" err.txt &&
	[ "$(grep -c "skipped:" err.txt)" -eq 1 ] &&
	ok "PNG samples load; the WebP is skipped, saying why" || bad "PNG loads, WebP skipped by name" "exit $rc $(head -c 400 err.txt)"
if $py - <<'EOF'
import glob
want = {"red": (255, 0, 0), "clear": (255, 255, 255), "grey": (128, 128, 128), "deep": (0, 255, 0),
        "pal": (0, 0, 255)}
seen = set()
for f in glob.glob("dump/*.ppm"):
    cap = open(f[:-4] + ".txt").read().split()[1]
    data = open(f, "rb").read().split(b"\n", 3)[3]
    px = {tuple(data[i:i + 3]) for i in range(0, len(data), 3)}
    assert px == {want[cap]}, (cap, px)
    seen.add(cap)
assert seen == set(want), seen
EOF
then ok "RGB, RGBA (on white), grey, 16-bit and palette PNGs decode to their colours"; else bad "PNG pixels"; fi

# --- -q keeps the skips to one line; progress on a terminal only -----------------
run "$B" train pman --mode full --epochs 1 --batch 6 --size 8 -q
[ "$rc" -eq 1 ] && ! grep -q "skipped:" err.txt && [ "$(wc -l < err.txt)" -eq 1 ] &&
	grep -q "1 of 6 samples could not be read and were skipped (bad_image 1)" err.txt &&
	ok "train -q: no skip lines, one total by kind" || bad "train -q" "$(cat err.txt)"
if grep -qE '^step +[0-9]' out.txt; then bad "train -q: no step lines" "$(head -3 out.txt)"; else ok "train -q: no step lines"; fi
run "$B" train man --mode full --steps 30 --batch 4 --size 16 -q
! grep -q "train: step" err.txt && ok "no progress when stderr is not a terminal" || bad "progress off a terminal"
if command -v script >/dev/null; then
	script -qec "$B train man --mode full --steps 30 --batch 4 --size 16 -q" /dev/null > tty.txt 2>&1
	grep -q "train: step [0-9]*, [0-9]*/120 draws" tty.txt && ok "progress on stderr when it is a terminal" ||
		bad "progress on a terminal" "$(head -c 300 tty.txt)"
else
	skip "progress on a terminal" "script(1) is not installed"
fi

# --- seeds go through the manifest exactly ---------------------------------------
# 2000 samples leave rows under 30 (the cells check): accepted, as the
# consumers refuse a failed plan and these checks are about seeds
printf 'independent sexual group within gender\nrealise upsample\naccept cells >= 1\n' > up.policy
for s in 9007199254740993 18446744073709551615; do
	"$B" rebalance ix.db -p up.policy -o up-$s --seed $s -q >/dev/null
	grep -q "\"seed\":[[:space:]]*\"$s\"" up-$s/manifest.json && ok "manifest.json records seed $s exactly" || bad "seed $s in manifest.json" "$(grep seed up-$s/manifest.json | head -2)"
	run "$B" train up-$s --mode full --steps 20 --batch 8 --size 16 --json
	head -n 1 out.txt | grep -q "\"seed\": $s," && ok "train draws with the manifest's seed $s" || bad "train takes seed $s" "$(head -c 300 out.txt)"
	grep '"keys"' out.txt | sed 's/, "images_per_s".*//' > seq-default-$s
	"$B" train up-$s --mode full --steps 20 --batch 8 --size 16 --json --seed $s | grep '"keys"' |
		sed 's/, "images_per_s".*//' > seq-given-$s
	cmp -s seq-default-$s seq-given-$s && ok "the same draws as --seed $s" || bad "manifest seed = --seed $s"
done
"$B" train up-9007199254740993 --mode full --steps 20 --batch 8 --size 16 --json --seed 9007199254740992 |
	grep '"keys"' | sed 's/, "images_per_s".*//' > seq-992
cmp -s seq-992 seq-given-9007199254740993 && bad "seeds 2^53 and 2^53+1 draw differently" || ok "seeds 2^53 and 2^53+1 draw differently"
for s in 18446744073709551616 -1 12abc '' 0x10; do
	run "$B" train man --mode full --steps 1 --size 16 --seed "$s"
	expect_rc 2 "--seed '$s' is a usage error"
done
run "$B" train man --mode full --steps 1 --size 16 --seed 0 --json
head -n 1 out.txt | grep -q '"seed": 0,' && ok "--seed 0 is a seed like any other" || bad "--seed 0"

# --- a heavy sample does not pile up in a batch ------------------------------------
# 2000 entries, one with weight 600: an epoch of 2599 draws holds its 600
# copies, 14.8 expected in a batch of 64
cat man/shards/*.jsonl | sed 's/"weight":[^,]*/"weight":1/' > flat.jsonl
heavy=$(sed -n 777p flat.jsonl | sed 's/.*"key":"\([^"]*\)".*/\1/')
sed '777s/"weight":1/"weight":600/' flat.jsonl > clump.jsonl
for seed in 1 2 3; do
	"$B" train clump.jsonl --mode full --epochs 1 --batch 64 --size 8 --seed $seed --json > c$seed.json
done
if $py - "$heavy" c1.json c2.json c3.json <<'EOF'
import json, math, sys
heavy = sys.argv[1]
worst = 0
for f in sys.argv[2:]:
    seq = [k for l in open(f) if '"keys"' in l for k in json.loads(l)["keys"]]
    assert len(seq) == 2599 and seq.count(heavy) == 600
    hit = [k == heavy for k in seq]
    win = max(sum(hit[i:i + 64]) for i in range(len(hit) - 63))
    worst = max(worst, win)
exp = 64 * 600 / 2599
print("max %d copies in any 64 consecutive draws, %.1f expected" % (worst, exp))
assert worst <= math.ceil(exp) + 2, worst
EOF
then ok "a weight-600 sample: at most ceil(expected)+2 copies in any window of 64 draws"; else bad "heavy weights clump"; fi
