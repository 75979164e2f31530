# CLI tests for ballast scan and the index: counts, resume after kill -9,
# reruns that add nothing, retagging when the rules change.
# tier: full (slow: `make check` skips it)
. "$TOP/tests/cli/lib.sh"

"$B" mkshards gen --shards 6 --per-shard 400 --seed 3 --image-size 16 --skew east_asian:female=3 -j 2 >/dev/null
run "$B" scan 'gen/*.tar' -o ix.db -j 2
expect_rc 0 "scan writes an index"
expect_out "^samples +2400$" "scan counts every sample"
n=$(sqlite3 ix.db "select count(*) from samples" 2>/dev/null || echo none)
if [ "$n" = none ]; then skip "index rows" "sqlite3 shell absent"; elif [ "$n" -eq 2400 ]; then ok "index has one row per sample"; else bad "index has one row per sample" "$n"; fi
run "$B" scan 'gen/*.tar' -o ix.db -j 2
expect_out "0 scanned, 6 skipped" "rerun skips complete shards"
run "$B" scan 'gen/*.tar' -o one.db -j 1 --json
j1=$(cat out.txt)
run "$B" scan 'gen/*.tar' -o two.db -j 2 --json
[ "$j1" = "$(cat out.txt)" ] && ok "same counts with 1 and 2 threads" || bad "same counts with 1 and 2 threads"
if command -v sqlite3 >/dev/null; then
	q="select s.path, x.ordinal, x.key, x.labels from samples x join shards s on s.id=x.shard_id order by 1,2"
	[ "$(sqlite3 one.db "$q" | md5sum)" = "$(sqlite3 two.db "$q" | md5sum)" ] && ok "same index rows with 1 and 2 threads" || bad "same index rows with 1 and 2 threads"
fi

# a shard longer than a worker's batch (4096 samples are read before they
# are tagged), with bad JSON, bad UTF-8 and bad images among them: every
# sample tagged once, item errors in sample order
if command -v sqlite3 >/dev/null; then
	python3 - gen/00000.tar long.tar <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    jpg = next(t.extractfile(m).read() for m in t if m.name.endswith(".jpg"))
with tarfile.open(sys.argv[2], "w", format=tarfile.USTAR_FORMAT) as t:
    for n in range(9000):
        cap = b"bad \xff utf8 woman" if n % 997 == 5 else b"a photo of a woman"
        js = b"{bad json" if n % 1499 == 7 else b'{"status": "success"}'
        img = b"not a jpeg" if n % 2003 == 11 else jpg
        for ext, b in (("jpg", img), ("txt", cap), ("json", js)):
            i = tarfile.TarInfo("%06d.%s" % (n, ext)); i.size = len(b)
            t.addfile(i, io.BytesIO(b))
PY
	run "$B" scan long.tar -q -o long.db
	expect_rc 1 "a long shard with bad items: exit 1"
	got=$(sqlite3 long.db "select count(*), sum(labels like '%,gender.female,%') from samples")
	# bad UTF-8 captions are tagged too (as a U+FFFD copy): all 9000
	[ "$got" = "9000|9000" ] && ok "every sample of a long shard indexed and tagged once" || bad "every sample of a long shard indexed and tagged once" "$got"
	got=$(sqlite3 long.db "select kind, count(*) from errors group by kind order by kind" | tr '\n' ' ')
	[ "$got" = "bad_image|5 bad_json|6 bad_utf8|10 " ] && ok "its item errors, by kind" || bad "its item errors, by kind" "$got"
	sqlite3 long.db "select ordinal from errors order by rowid" > ords.txt
	sort -n ords.txt | cmp -s - ords.txt && ok "its item errors in sample order" || bad "its item errors in sample order"
fi

# changed rules retag
printf 'label test.word\n  match \\bwoman\\b\n' > one.rules
run "$B" scan 'gen/*.tar' -o ix.db -r one.rules
expect_out "^shards +6 scanned" "changed rules rescan every shard"
if command -v sqlite3 >/dev/null; then
	n=$(sqlite3 ix.db "select count(*) from samples where labels like '%,gender.%'")
	[ "$n" -eq 0 ] && ok "retagged rows carry only the new rules' labels" || bad "retagged rows carry only the new rules' labels" "$n"
fi

# kill -9 in the middle, resume: the same counts as an uninterrupted scan.
# kill_resume NAME SPEC [scan options]: full scan, killed scan, resumed scan.
kill_resume() {
	name=$1 spec=$2
	shift 2
	"$B" scan "$spec" -o "$name-full.db" -q "$@" > /dev/null 2>&1
	"$B" scan "$spec" -o "$name-part.db" -q -j 1 "$@" > /dev/null 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 400 ]; do
		d=$(sqlite3 "$name-part.db" "select count(*) from shards where complete=1" 2>/dev/null || echo 0)
		[ "${d:-0}" -ge 2 ] && break
		sleep 0.02
		i=$((i + 1))
	done
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	partial=$(sqlite3 "$name-part.db" "select count(*) from shards where complete=1" 2>/dev/null || echo 0)
	total=$(sqlite3 "$name-full.db" "select count(*) from shards")
	if [ "$partial" -ge 1 ] && [ "$partial" -lt "$total" ]; then
		ok "$name: killed mid-scan with $partial/$total shards complete"
	else
		bad "$name: killed mid-scan" "$partial/$total complete at the kill"
	fi
	run "$B" scan "$spec" -o "$name-part.db" -q "$@"
	expect_out "^shards +$((total - partial)) scanned, $partial skipped" "$name: resume scans only the unfinished shards"
	q="select labels, count(*) from samples group by labels order by 1"
	[ "$(sqlite3 "$name-full.db" "$q")" = "$(sqlite3 "$name-part.db" "$q")" ] && ok "$name: resumed per-label counts equal an uninterrupted scan" || bad "$name: resumed per-label counts equal"
	q="select count(*), count(distinct shard_id || ':' || ordinal) from samples"
	[ "$(sqlite3 "$name-full.db" "$q")" = "$(sqlite3 "$name-part.db" "$q")" ] && ok "$name: every sample exactly once" || bad "$name: every sample exactly once"
}
if command -v sqlite3 >/dev/null; then
	"$B" mkshards big --shards 20 --per-shard 10000 --seed 9 --image-size 8 -j 2 >/dev/null
	kill_resume synthetic-200k 'big/*.tar'
	rm -rf big
	real=$(shared shards)
	if [ -n "$real" ]; then
		# 60 names for the real shards, so that a scan takes long enough to kill
		mkdir real
		for i in $(seq 10 69); do
			for f in "$real"/*/*; do ln -s "$f" "real/$i-$(basename "$f")"; done
		done
		kill_resume real-shards 'real/*' --check
	else
		skip "real shards: kill and resume" "../shared/data is absent"
	fi
else
	skip "kill and resume" "sqlite3 shell absent"
fi

# item errors do not stop a scan
head -c 30000 gen/00000.tar > cut.tar
run "$B" scan cut.tar gen/00001.tar -o cut.db
expect_rc 1 "a damaged shard exits 1"
expect_err "cut.tar.*at offset" "the damage is named"
expect_out "1 damaged" "summary counts the damaged shard"
run "$B" scan cut.tar gen/00001.tar --strict
expect_rc 1 "--strict stops with exit 1"
run "$B" scan gen/00000.tar -r /nonexistent.rules
expect_rc 3 "a missing rule file is fatal"

# every file of the shared JPEG corpus (variants, corrupt files, bombs) as
# the image of a sample, scanned with --check: the scan finishes, each bad
# image is an item error in the index, and every sample is indexed once
jpegs=$(shared jpeg)
if [ -n "$jpegs" ] && command -v sqlite3 >/dev/null; then
	python3 - "$jpegs" corpus.tar > /dev/null <<'PY'
import io, os, sys, tarfile
root, out = sys.argv[1], sys.argv[2]
n = 0
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
    for d, _, fs in sorted(os.walk(root)):
        for f in sorted(fs):
            if not f.lower().endswith((".jpg", ".jpeg")):
                continue
            data = open(os.path.join(d, f), "rb").read()
            for ext, b in (("jpg", data), ("txt", b"a photo of a woman"), ("json", b"{}")):
                i = tarfile.TarInfo("%06d.%s" % (n, ext)); i.size = len(b)
                t.addfile(i, io.BytesIO(b))
            n += 1
print(n)
PY
	n=$(tar -tf corpus.tar | grep -c '\.jpg$')
	run "$B" scan corpus.tar --check -q -o corpus.db
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then ok "scan --check of $n corpus JPEGs finishes"; else bad "scan --check of the JPEG corpus" "exit $rc"; fi
	[ "$(sqlite3 corpus.db 'select count(*) from samples')" -eq "$n" ] && ok "every corpus sample indexed once" || bad "every corpus sample indexed once"
	bad_n=$(sqlite3 corpus.db "select count(*) from errors where kind='bad_image'")
	[ "$bad_n" -gt 50 ] && [ "$bad_n" -lt "$n" ] && ok "bad images are item errors ($bad_n of $n)" || bad "bad images are item errors" "$bad_n of $n"
	[ "$(sqlite3 corpus.db "select count(*) from samples where labels like '%,gender.female,%'")" -eq "$n" ] && ok "captions still tagged when the image is bad" || bad "captions still tagged when the image is bad"
else
	skip "JPEG corpus scan" "../shared/data or sqlite3 is absent"
fi

# an empty shard is a shard lost, not one of no samples; an empty list is
# a command line without a shard
: > zero.tar
run "$B" scan zero.tar -o zero.db
expect_rc 1 "scan of a 0-byte shard exits 1"
expect_err "shard 'zero.tar' at offset 0: no tar archive: 0 bytes" "and names the shard"
expect_out "^errors +1 \(truncated 1\)" "counted as truncated"
: > empty.lst
run "$B" scan @empty.lst -o empty.db
expect_rc 2 "scan of an empty @list is a usage error, as scan without a shard"
expect_err "list 'empty.lst' names no shard" "and says so"

# two captions in one sample (.txt and .txt.gz): an item error, and the
# sample tagged from the first one only
python3 - twocap.tar <<'PY'
import gzip, io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as t:
    def add(n, d):
        i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
    add("a.txt", b"a photo of a street"); add("a.txt.gz", gzip.compress(b"a photo of a woman"))
PY
run "$B" scan twocap.tar -o twocap.db
expect_rc 1 "scan: a second caption member exits 1"
expect_out "^errors +1 \(duplicate_key 1\)" "scan: counted as duplicate_key"
expect_err "member 'a.txt.gz' at offset 1024: a second caption member" "scan: named with member and offset"
if command -v sqlite3 >/dev/null; then
	[ "$(sqlite3 twocap.db "select caption from samples")" = "a photo of a street" ] && ok "scan: the first caption is the one stored and tagged" || bad "scan: the first caption kept"
fi
