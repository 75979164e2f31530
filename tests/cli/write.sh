# CLI tests for ballast write: nothing is lost or merged (long keys and
# names, big members, keys repeated across shards, copy names that are
# taken), what ls reads back is what write reported, outputs are whole
# and replaced whole, copies of heavy samples are spread, inputs that
# would hang a reader are refused, and messages are escaped.
# tier: full (slow: `make check` skips it)
. "$TOP/tests/cli/lib.sh"

py=python3
H="$TOP/tests/cli/hostile.py"
"$B" mkshards gen --shards 2 --per-shard 1000 --seed 4 --image-size 16 -j 2 >/dev/null
$py "$H" gen/00000.tar h
"$B" scan 'h/*.tar' -o h.db -q >/dev/null
$py "$H" --manifest h.db h.jsonl dup=3 big=2

# --- hostile keys and members: written whole, named uniquely -------------------
run "$B" write h.jsonl -o w
expect_rc 0 "write of long keys, a 100 KB caption, repeated keys"
reported=$(sed -n 's/^samples *\([0-9]*\) written.*/\1/p' out.txt)
"$B" ls --summary --json 'w/*.tar' > ls.json 2>/dev/null
"$B" ls 'w/*.tar' > ls.tsv 2>/dev/null
if $py - "$reported" ls.json <<'EOF'
import json, sys
want, s = int(sys.argv[1]), json.load(open(sys.argv[2]))
assert s["samples"] == want, (s["samples"], want)
bad = {k: v for k, v in s["errors"].items() if v and k not in ("too_big", "bad_utf8")}
assert not bad, bad        # only the reader's own limits, no lost or merged sample
EOF
then ok "ls --summary reads back exactly the samples write reported ($reported)"; else bad "ls --summary reads back exactly the samples write reported"; fi
[ -z "$(cut -f3 ls.tsv | sort | uniq -d)" ] && ok "every key in the output is unique" || bad "every key in the output is unique" "$(cut -f3 ls.tsv | sort | uniq -d | head -3)"
if $py - h.jsonl w <<'EOF'
import collections, glob, json, sys, tarfile
want = collections.Counter()
srcs = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    with tarfile.open(o["shard"]) as t:
        for m in t.getmembers():
            if m.name == o["key"] + ".txt":
                want[t.extractfile(m).read()] += int(o["weight"])
got = collections.Counter()
names = []
for p in sorted(glob.glob(sys.argv[2] + "/*.tar")):
    with tarfile.open(p) as t:
        for m in t.getmembers():
            names.append(m.name)
            if m.name.endswith(".txt"):
                got[t.extractfile(m).read()] += 1
assert got == want, (sorted(got.items())[:3], sorted(want.items())[:3])
assert max(len(n) for n in names) > 255, "no long member name"
assert any(len(c) == 100000 for c in got), "the 100 KB caption is not whole"
EOF
then ok "every caption written whole, once per copy (long names, 100 KB caption)"; else bad "every caption written whole, once per copy"; fi
expect_out "^renamed +[1-9]" "renames are reported"
[ -f w/ballast.json ] && [ -f w/shards.txt ] && [ -f w/shards.json ] && ok "ballast.json, shards.txt and shards.json beside the shards" || bad "output record files"
[ "$(ls -d w.tmp-* 2>/dev/null | wc -l)" -eq 0 ] && ok "no temporary directory left behind" || bad "no temporary directory left behind"

# --- members over the reader's limits are not emptied: a too-small limit
# is an item error, checked in the unit tests; here, a sample that cannot be
# read whole (a damaged member) is never written in part
$py - <<'EOF'
import tarfile
with tarfile.open("gen/00001.tar") as t:
    ms = t.getmembers()[:9]
    with tarfile.open("cut.tar", "w") as o:
        for m in ms:
            o.addfile(m, t.extractfile(m))
with tarfile.open("cut.tar") as t:
    third = [m for m in t.getmembers() if m.name.endswith(".jpg")][2]
b = open("cut.tar", "rb").read()
open("cut.tar", "wb").write(b[:third.offset_data + 100])  # inside the third image
EOF
"$B" scan gen/00001.tar -o cut.db -q >/dev/null 2>&1
$py - cut.db cut.jsonl <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
with open(sys.argv[2], "w") as f:
    for k, o, off in db.execute("SELECT key, ordinal, offset FROM samples WHERE ordinal < 3"):
        f.write(json.dumps({"key": k, "shard": "cut.tar", "ordinal": o, "offset": off, "weight": 1}) + "\n")
EOF
run "$B" write cut.jsonl -o wcut --no-check-shards
expect_rc 1 "a shard cut inside a sample: exit 1"
n=$("$B" ls --summary --json 'wcut/*.tar' 2>/dev/null | $py -c 'import json,sys; print(json.load(sys.stdin)["samples"])')
[ "$n" = 2 ] && ok "the samples before the damage are written, the damaged one is not" || bad "damaged sample" "$n samples"

# --- --force rebuilds; it never mixes, and never replaces what it did not write
"$B" write h.jsonl -o wf --per-shard 2 >/dev/null 2>&1
many=$(ls wf/*.tar | wc -l)
run "$B" write h.jsonl -o wf --per-shard 100 --force
expect_rc 0 "write --force over an earlier output"
[ "$many" -gt 1 ] && [ "$(ls wf/*.tar | wc -l)" -eq 1 ] && ok "--force leaves no stale shard of the earlier run" || bad "--force leaves no stale shard" "$many then $(ls wf/*.tar | wc -l)"
run "$B" write h.jsonl -o wf
expect_rc 3 "an existing OUTDIR without --force is refused"
mkdir mine && echo precious > mine/notes.txt
run "$B" write h.jsonl -o mine --force
expect_rc 3 "--force refuses a directory that is not an output of ballast"
[ "$(cat mine/notes.txt)" = precious ] && ok "and leaves it alone" || bad "and leaves it alone"

# --- a killed write leaves no OUTDIR ----------------------------------------------
$py "$H" --manifest h.db slow.jsonl >/dev/null
"$B" scan 'gen/*.tar' -o gen.db -q >/dev/null
$py - gen.db slow.jsonl <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
with open(sys.argv[2], "w") as f:
    for p, k, o, off in db.execute("SELECT shards.path, key, ordinal, offset FROM samples JOIN shards ON shards.id = shard_id"):
        f.write(json.dumps({"key": k, "shard": p, "ordinal": o, "offset": off, "weight": 60}) + "\n")
EOF
"$B" write slow.jsonl -o killed -q >/dev/null 2>&1 &
pid=$!
i=0
while [ $i -lt 2000 ] && ! ls -d killed.tmp-* >/dev/null 2>&1 && kill -0 $pid 2>/dev/null; do i=$((i + 1)); sleep 0.01; done
if ls -d killed.tmp-* >/dev/null 2>&1 && [ ! -e killed ]; then
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	[ ! -e killed ] && ok "a write killed midway leaves no OUTDIR (only killed.tmp-*)" || bad "a killed write leaves no OUTDIR"
else
	wait $pid 2>/dev/null
	skip "a killed write leaves no OUTDIR" "the write finished before it could be killed"
fi
rm -rf killed.tmp-*

# --- copies of a heavy sample are spread, not side by side ---------------------------
$py - gen.db heavy.jsonl <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
with open(sys.argv[2], "w") as f:
    for i, (p, k, o, off) in enumerate(db.execute("SELECT shards.path, key, ordinal, offset FROM samples JOIN shards ON shards.id = shard_id ORDER BY shard_id, ordinal")):
        f.write(json.dumps({"key": k, "shard": p, "ordinal": o, "offset": off, "weight": 600 if i == 777 else 1}) + "\n")
EOF
run "$B" write heavy.jsonl -o wh --per-shard 500
expect_rc 0 "write of a manifest with one weight-600 sample"
if $py - wh <<'EOF'
import json, math, sys, tarfile
d = sys.argv[1]
seq = []
for u in open(d + "/shards.txt").read().split():
    with tarfile.open(d + "/" + u) as t:
        for m in t.getmembers():
            if m.name.endswith(".json"):
                seq.append(json.loads(t.extractfile(m).read())["key"])
T, heavy = len(seq), max(set(seq), key=seq.count)
n = seq.count(heavy)
assert n == 600 and T == 2599, (n, T)
exp = 64 * n / T
worst = max(seq[i:i + 64].count(heavy) for i in range(T - 63))
print("copies of the heavy sample in a window of 64: at most", worst, "expected", round(exp, 2))
assert worst <= math.ceil(exp) + 2, (worst, exp)
EOF
then ok "a weight-600 sample fills no window of 64 beyond its expectation (+2)"; else bad "a weight-600 sample is spread"; fi
[ "$(for t in wh/*.tar; do tar tf "$t" | grep -c '_r[0-9]*\.json$'; done | grep -c '^0$')" -eq 0 ] && ok "its copies are in every output shard" || bad "its copies are in every output shard"

# --- reproducible: same manifest and seed, same bytes; the seed moves samples
"$B" write heavy.jsonl -o wh2 --per-shard 500 -q >/dev/null
"$B" write heavy.jsonl -o wh3 --per-shard 500 --seed 99 -q >/dev/null
same=1; for t in wh/*.tar; do cmp -s "$t" "wh2/$(basename "$t")" || same=0; done
[ $same = 1 ] && cmp -s wh/shards.json wh2/shards.json && ok "same manifest and seed: byte-identical shards" || bad "same manifest and seed: byte-identical shards"
cmp -s wh/00000.tar wh3/00000.tar && bad "another --seed places the samples elsewhere" || ok "another --seed places the samples elsewhere"
run "$B" write heavy.jsonl -o x --seed 1x
expect_rc 2 "--seed with junk is a usage error"

# --- shards that would hang a reader are refused, never read ------------------------
head -n 1 heavy.jsonl | sed 's/"shard": "[^"]*"/"shard": "-"/' > dash.jsonl
run timeout 20 "$B" write dash.jsonl -o wdash
expect_rc 3 "a manifest naming shard '-' is refused (not read from stdin)"
expect_err "standard input" "and says why"
mkfifo fifo.tar
head -n 1 heavy.jsonl | sed 's/"shard": "[^"]*"/"shard": "fifo.tar"/' > fifo.jsonl
run timeout 20 "$B" write fifo.jsonl -o wfifo --no-check-shards
expect_rc 3 "a FIFO shard is refused even with --no-check-shards"
expect_err "not a regular file" "and named as such"

# --- fractional weights travel in the json; a json that cannot hold one is skipped
head -n 3 heavy.jsonl | sed 's/"weight": 1/"weight": 0.5/; s/"weight": 600/"weight": 2.5/' > frac.jsonl
run "$B" write frac.jsonl -o wfrac
expect_rc 0 "fractional weights: written once each"
if $py - wfrac <<'EOF'
import json, sys, tarfile
ws = []
with tarfile.open(sys.argv[1] + "/00000.tar") as t:
    for m in t.getmembers():
        if m.name.endswith(".json"):
            ws.append(json.loads(t.extractfile(m).read())["ballast_weight"])
assert sorted(ws) == [0.5, 0.5, 0.5], ws
EOF
then ok "each json member carries its ballast_weight"; else bad "ballast_weight in the json"; fi

# --- messages are escaped: a key cannot drive the terminal or forge lines ----------
printf '{"key": "evil\\u001b[31m\\nforged", "shard": "gen/00000.tar", "ordinal": 0, "offset": 0, "weight": 1}\n' > esc.jsonl
run "$B" write esc.jsonl -o wesc
expect_rc 1 "a key with ESC and a newline is an item error"
if grep -q "$(printf '\033')" err.txt; then bad "no raw ESC reaches stderr"; else ok "no raw ESC reaches stderr"; fi
expect_err 'evil\\x1b\[31m\\nforged' "the key is shown escaped, on one line"

# --- progress on stderr only when it is a terminal --------------------------------
run "$B" write heavy.jsonl -o wquiet
if grep -q 'reading\|writing' err.txt; then bad "no progress lines when stderr is not a terminal"; else ok "no progress lines when stderr is not a terminal"; fi
if command -v script > /dev/null 2>&1; then
	script -qec "\"$B\" write heavy.jsonl -o wtty" /dev/null > tty.txt 2>&1
	grep -q 'writing 2599 of 2599' tty.txt && ok "progress on a terminal: reading, then writing N of M" || bad "progress on a terminal" "$(tr '\r' '\n' < tty.txt | tail -3)"
else
	skip "progress on a terminal" "no script(1) to give write a terminal"
fi

# --- a weight no output can hold: refused by the manifest reader, naming the
# line, before a byte is written (weights above 1e6 are out of range) -------------
head -n 2 heavy.jsonl | sed '1s/"weight": 1/"weight": 4611686018427388928/' > huge.jsonl
run timeout 60 "$B" write huge.jsonl -o whuge
expect_rc 3 "a weight of 2^62 copies is refused (exit 3), not a disk filled"
expect_err "huge.jsonl' line 1: weight .* out of range" "the refusal names file and line"
[ ! -e whuge ] && ok "nothing was written" || bad "nothing was written" "whuge exists"
run timeout 60 "$B" export huge.jsonl --to kohya -o khuge
expect_rc 3 "kohya: the same weight is refused too"
