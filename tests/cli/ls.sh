# CLI tests for ballast ls, mkshards and the shard specs, on generated
# shards and (when present) the real shards in ../shared/data.
. "$TOP/tests/cli/lib.sh"

run "$B" help
expect_rc 0 "help exits 0"
expect_out "mkshards" "help lists commands"
run "$B" help ls
h1=$out
run "$B" ls --help
if [ "$h1" = "$out" ] && [ -n "$out" ]; then ok "help ls equals ls --help"; else bad "help ls equals ls --help"; fi
run "$B" nosuchcommand
expect_rc 2 "unknown command exits 2"
run "$B" ls
expect_rc 2 "ls without shards is a usage error"
expect_err "no shard given" "usage error says what is missing"

run "$B" mkshards gen --shards 3 --per-shard 50 --seed 5 --image-size 16
expect_rc 0 "mkshards writes shards"
check "mkshards writes the truth table" test -s gen/mkshards.json
run "$B" mkshards gen2 --shards 3 --per-shard 50 --seed 5 --image-size 16 -j 3
check "mkshards is reproducible whatever the thread count" cmp -s gen/00002.tar gen2/00002.tar
run "$B" mkshards gen3 --shards 1 --per-shard 50 --seed 6 --image-size 16
if cmp -s gen/00000.tar gen3/00000.tar; then bad "another seed gives other bytes"; else ok "another seed gives other bytes"; fi
run "$B" mkshards bad --skew east_asian:female=40
expect_rc 2 "an unplantable skew is a usage error"
expect_err "cannot be planted" "and says why"
run "$B" mkshards bad --skew martian=2
expect_rc 2 "an unknown group is a usage error"

run "$B" ls --summary 'gen/{00000..00002}.tar'
expect_rc 0 "ls --summary on brace range"
expect_out "^samples +150$" "150 samples"
expect_out "jpg 150, json 150, txt 150" "every sample has jpg, txt, json"
printf 'gen/00000.tar\n# comment\n\ngen/00001.tar\n' > list.txt
run "$B" ls --summary @list.txt
expect_out "^samples +100$" "@list reads two shards"
run sh -c "cat gen/00001.tar | '$B' ls --summary -"
expect_out "^samples +50$" "reads a shard from stdin"
run "$B" ls gen/00000.tar
n=$(wc -l < out.txt)
[ "$n" -eq 50 ] && ok "ls prints one line per sample" || bad "ls prints one line per sample" "$n lines"
expect_out "^gen/00000.tar	0	000000000	0	jpg:[0-9]+,txt:[0-9]+,json:[0-9]+$" "ls line format"

for c in gz zst xz; do
	run "$B" mkshards "c$c" --shards 1 --per-shard 40 --seed 5 --image-size 16 --compress $c
	run "$B" ls --summary "c$c/*"
	expect_out "^samples +40$" "reads .tar.$c"
done

# a truncated shard: the samples before the cut, an error with the offset
head -c 20000 gen/00000.tar > cut.tar
run "$B" ls cut.tar
expect_rc 1 "a truncated shard exits 1"
expect_err "shard 'cut.tar'.* at offset [0-9]+" "the error names shard and offset"
n=$(wc -l < out.txt)
[ "$n" -gt 0 ] && [ "$n" -lt 50 ] && ok "samples before the cut are listed ($n)" || bad "samples before the cut are listed" "$n"
# an empty file is no tar archive (GNU tar: "does not look like a tar
# archive"), compressed or not; an empty list names no shard
: > zero.tar
: > zero.tar.gz
for z in zero.tar zero.tar.gz; do
	run "$B" ls --summary $z
	expect_rc 1 "$z (0 bytes) exits 1"
	expect_err "shard '$z' at offset 0: no tar archive: 0 bytes" "$z: the error says there is no archive"
	expect_out "^  truncated +1$" "$z: counted as truncated"
done
gzip -c < /dev/null > empty-data.tar.gz
run "$B" ls empty-data.tar.gz
expect_rc 1 "a gzip stream of no bytes exits 1"
head -c 1024 /dev/zero > end-blocks.tar
run "$B" ls --summary end-blocks.tar
expect_rc 0 "an archive of only its end blocks is an empty archive (exit 0)"
: > empty.lst
printf '# nothing\n\n' > comments.lst
for l in empty.lst comments.lst; do
	run "$B" ls @$l
	expect_rc 2 "@$l: a list without a shard is a usage error"
	expect_err "list '$l' names no shard" "@$l: and says so"
done
run "$B" ls --summary gen/00000.tar nonexistent.tar gen/00001.tar
expect_rc 1 "a missing shard does not stop the others"
expect_out "^samples +100$" "both good shards counted"
expect_err "nonexistent.tar" "the missing shard is named"
run "$B" ls --summary 'nomatch/*.tar'
expect_rc 2 "a glob matching nothing is a usage error"

# real shards
cc12m=$(shared shards/torchtitan_cc12m/cc12m-train-0000.tar)
if [ -n "$cc12m" ]; then
	run "$B" ls --summary "$cc12m"
	expect_rc 0 "cc12m shard reads clean"
	expect_out "^samples +32$" "cc12m: 32 samples"
	expect_out "jpg 32, json 32, txt 32" "cc12m: all with jpg, txt, json"
	expect_out "^samples without caption +0$" "cc12m: no sample without caption"
	run "$B" ls --summary "$(shared shards/clip_retrieval_test_tars)/*.tar"
	expect_out "^samples without caption +11$" "clip-retrieval: 11 samples without caption"
	run "$B" ls --summary "$(shared shards/webdataset_testdata/sample.tgz)"
	expect_rc 0 "sample.tgz reads"
	expect_out "^samples +90$" "sample.tgz: the gzip stream gives 90 samples"
	expect_out "cls 90, png 90" "sample.tgz: png + cls"
	run "$B" ls --summary "$(shared shards/webdataset_testdata/compressed.tar)"
	expect_out "^samples +3$" "compressed.tar: directory member skipped, 3 samples"
	head -c 1500000 "$cc12m" > cc12m-cut.tar
	run "$B" ls cc12m-cut.tar
	expect_rc 1 "truncated cc12m exits 1"
	n=$(wc -l < out.txt)
	[ "$n" -ge 10 ] && [ "$n" -lt 32 ] && ok "truncated cc12m: $n samples before the cut" || bad "truncated cc12m" "$n samples"
	expect_err "cc12m-cut.tar' member '[0-9]+\.jpg' at offset [0-9]+: Truncated" "truncated cc12m: error names member and offset"
	run "$B" ls --json --summary "$(shared shards)/*/*"
	expect_rc 0 "every real shard reads without item errors"
else
	skip "real shards" "../shared/data is absent"
fi

# pax tars with UTF-8 names, as GNU tar --format=pax, Python's tarfile and
# webdataset's TarWriter write them: read whole, whatever LC_ALL says, and
# keyed as Python reads them (NFD kept, not normalised)
mkdir -p paxsrc && printf 'a caf\303\251 photo' > "paxsrc/caf$(printf '\303\251').txt" && echo '{}' > "paxsrc/caf$(printf '\303\251').json"
(cd paxsrc && tar --format=pax -cf ../gnupax.tar ./*)
python3 - pypax.tar <<'PY'
import io, sys, tarfile, unicodedata
with tarfile.open(sys.argv[1], "w") as t:   # PAX_FORMAT, Python's default
    for name in ("na\u00efve/\u00e9t\u00e9", unicodedata.normalize("NFD", "caf\u00e9")):
        for ext in ("txt", "json"):
            i = tarfile.TarInfo(name + "." + ext); i.size = 2; t.addfile(i, io.BytesIO(b"{}"))
PY
for loc in C C.UTF-8; do
	run env LC_ALL=$loc "$B" ls gnupax.tar pypax.tar
	expect_rc 0 "pax UTF-8 names (LC_ALL=$loc): no error"
	keys=$(cut -f3 out.txt | tr '\n' ' ')
	want=$(python3 -c 'import tarfile, sys
ks = []
for p in sys.argv[1:]:
    for m in tarfile.open(p):
        k = m.name.rsplit("/", 1)[-1].split(".")[0]
        k = (m.name.rsplit("/", 1)[0] + "/" + k) if "/" in m.name else k
        if k not in ks: ks.append(k)
sys.stdout.write(" ".join(ks) + " ")' gnupax.tar pypax.tar)
	[ "$keys" = "$want" ] && ok "pax UTF-8 names (LC_ALL=$loc): keys as Python's tarfile reads them" || bad "pax keys (LC_ALL=$loc)" "got '$keys' want '$want'"
done

# a caption twice (.txt and .txt.gz), a json twice (.json.gz and .json):
# the second is a duplicate_key item error naming shard, member and
# offset; the first is kept, whichever form it has
python3 - twotext.tar <<'PY'
import gzip, io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as t:
    def add(n, d):
        i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
    add("a.txt", b"plain caption"); add("a.txt.gz", gzip.compress(b"hidden caption"))
    add("b.json.gz", gzip.compress(b"{}")); add("b.json", b"{}"); add("b.txt", b"x")
    add("c.txt.gz", gzip.compress(b"first")); add("c.txt", b"second")
PY
run "$B" ls twotext.tar
expect_rc 1 "a sample with .txt and .txt.gz exits 1"
expect_err "shard 'twotext.tar' member 'a.txt.gz' at offset 1024: a second caption member in sample 'a'" "the .txt.gz beside a .txt named with shard, member and offset"
expect_err "member 'b.json' at offset [0-9]+: a second json member in sample 'b'" "the .json beside a .json.gz named"
expect_err "member 'c.txt' at offset [0-9]+: a second caption member in sample 'c'" "the .txt after a .txt.gz named"
expect_out "^twotext.tar	0	a	0	txt:13$" "sample a keeps its first caption only"
expect_out "^twotext.tar	2	c	[0-9]+	txt.gz:[0-9]+$" "sample c keeps its first caption (.txt.gz) only"

# the same shard twice (the same path, another path, a symlink) is read
# once, as scan reads it, and each extra name is a duplicate_shard error
ln -sf gen/00000.tar link.tar
run "$B" ls --summary gen/00000.tar gen/00000.tar ./gen/00000.tar link.tar gen/00001.tar
expect_rc 1 "ls: a shard given twice exits 1"
expect_out "^shards +2$" "ls: the same file under four names is one shard"
expect_out "^samples +100$" "ls: its samples counted once"
expect_out "^  duplicate_shard +3$" "ls: three duplicate_shard errors"
expect_err "shard 'link.tar' is the same file as 'gen/00000.tar'" "ls: the extra name and the first named"
run "$B" ls gen/00000.tar link.tar
[ "$(wc -l < out.txt)" -eq 50 ] && ok "ls: samples of a shard given twice listed once" || bad "ls: samples listed once" "$(wc -l < out.txt) lines"
