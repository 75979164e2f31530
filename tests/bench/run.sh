#!/bin/sh
# tests/bench/run.sh - 'make bench': how fast ballast tags, next to the floor
# (reading the bytes) and to the Python loop users run today.  Not part of
# 'make test': timings belong here, written down in BENCHMARKS.md.
#
#   sh tests/bench/run.sh /abs/path/to/ballast
#
# The set: 8 synthetic shards x 10,000 samples, 224 px JPEGs of ~27 KB
# (about 2.2 GB), generated once into bench-out/ and reused.
set -eu
B=${1:?usage: run.sh PATH/TO/ballast}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/bench-out
set_dir=$out/set
mkdir -p "$out"
runs=${BENCH_RUNS:-5}
# BENCHMARKS.md is rewritten; what follows its "<!-- by hand -->" line
# (measurements no script repeats) is kept and put back at the end
hand=$(mktemp); trap 'rm -f "$hand"' EXIT
sed -n '/^<!-- by hand/,$p' "$top/BENCHMARKS.md" > "$hand" 2>/dev/null || true

need() { command -v "$1" >/dev/null 2>&1; }
if ! need hyperfine; then
	if [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
	else
		echo "bench: hyperfine is missing: sudo apt-get install hyperfine"; exit 1
	fi
fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if [ "$(id -u)" = 0 ] && ! /usr/bin/python3 -c "import PIL" 2>/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pil >/dev/null 2>&1 || true
fi

if [ ! -f "$set_dir/mkshards.json" ]; then
	echo "== generating the bench set (once)"
	"$B" mkshards "$set_dir" --shards 8 --per-shard 10000 --image-size 224 \
		--noise 0.22 --seed 1 --skew east_asian:female=3 -j 2 > /dev/null
fi
shards="$set_dir/*.tar"
bytes=$(cat $shards | wc -c)
samples=80000
cat $shards > /dev/null   # page cache

h() { # name, command...: median seconds
	name=$1; shift
	hyperfine -N --style none --warmup 1 --runs "$runs" --export-json "$out/$name.json" "$@" > /dev/null 2>&1 ||
		hyperfine --style none --warmup 1 --runs "$runs" --export-json "$out/$name.json" "$@" > /dev/null
	$py -c "import json,sys; print('%.3f' % json.load(open(sys.argv[1]))['results'][0]['median'])" "$out/$name.json"
}
hp() { # like h, with a prepare command
	name=$1 prep=$2; shift 2
	hyperfine --style none --warmup 1 --runs "$runs" --prepare "$prep" --export-json "$out/$name.json" "$@" > /dev/null
	$py -c "import json,sys; print('%.3f' % json.load(open(sys.argv[1]))['results'][0]['median'])" "$out/$name.json"
}

echo "== timing (median of $runs runs, page cache warm)"
t_cat=$(h cat "sh -c 'cat $shards > /dev/null'")
t_tar=$(h tar "sh -c 'for f in $shards; do tar -tf \$f; done > /dev/null'")
t_floor=$(h floor "$B ls --summary -q '$shards'")
t_scan1=$(hp scan1 "rm -f $out/i1.db $out/i1.db-wal $out/i1.db-shm" "$B scan '$shards' -q -j 1 -o $out/i1.db")
t_scan2=$(hp scan2 "rm -f $out/i2.db $out/i2.db-wal $out/i2.db-shm" "$B scan '$shards' -q -j 2 -o $out/i2.db")
t_capt1=$(hp capt1 "rm -f $out/c1.db $out/c1.db-wal $out/c1.db-shm" "$B scan '$shards' -q -j 1 --no-image -o $out/c1.db")
t_capt2=$(hp capt2 "rm -f $out/c2.db $out/c2.db-wal $out/c2.db-shm" "$B scan '$shards' -q -j 2 --no-image -o $out/c2.db")
echo "== python baseline (3 runs, one shard, scaled to the set)"
runs_saved=$runs; runs=3
t_py1=$(h python "$py $top/tests/bench/baseline.py $top/filters $set_dir/00000.tar")
runs=$runs_saved
t_py=$($py -c "print('%.3f' % ($t_py1 * 8))")

echo "== peak RSS: 1 shard vs 100 shards (1,000 samples each)"
if [ ! -f "$out/rss/mkshards.json" ]; then
	"$B" mkshards "$out/rss" --shards 100 --per-shard 1000 --image-size 32 --seed 2 -j 2 > /dev/null
fi
rm -f "$out"/r*.db*
rss1=$( { /usr/bin/time -f %M "$B" scan "$out/rss/00000.tar" -q -o "$out/r1.db" > /dev/null; } 2>&1 | tail -n 1)
rss100=$( { /usr/bin/time -f %M "$B" scan "$out/rss/*.tar" -q -o "$out/r100.db" > /dev/null; } 2>&1 | tail -n 1)
rss100j=$( { /usr/bin/time -f %M "$B" scan "$out/rss/*.tar" -q -j 2 -o "$out/r100j.db" > /dev/null; } 2>&1 | tail -n 1)

t_reb="n/a"; reb_n=0
if "$B" help rebalance > /dev/null 2>&1; then
	echo "== rebalance of a 1M-sample index (the 80k index copied 13 times)"
	big=$out/big.db
	if [ ! -f "$big" ]; then
		cp "$out/i1.db" "$big"
		sqlite3 "$big" "PRAGMA wal_checkpoint;" > /dev/null 2>&1 || true
		# every column but the keys, whatever the schema version holds
		scols=$(sqlite3 "$big" "select group_concat(name, ', ') from pragma_table_info('samples') where name != 'shard_id'")
		hcols=$(sqlite3 "$big" "select group_concat(name, ', ') from pragma_table_info('shards') where name not in ('id', 'path')")
		for k in $(seq 1 12); do
			sqlite3 "$big" "BEGIN;
			  INSERT INTO shards(path, $hcols)
			    SELECT path || '#$k', $hcols FROM shards WHERE path NOT LIKE '%#%';
			  INSERT INTO samples(shard_id, $scols) SELECT (SELECT n.id FROM shards n JOIN shards o ON n.path = o.path || '#$k' WHERE o.id = s.shard_id),
			    $scols FROM samples s WHERE shard_id <= 8;
			  COMMIT;"
		done
	fi
	reb_n=$(sqlite3 "$big" "select count(*) from samples")
	t_reb=$(hp rebalance "rm -rf $out/manifest" "$B rebalance $big -p $top/manifests/policies/deskew-sexualisation.policy -o $out/manifest --no-digest")
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
mem=$(free -g | awk '/Mem:/ {print $2 " GiB"}')
$py - "$top/BENCHMARKS.md" <<PY
import sys
samples = $samples; mb = $bytes / 1e6
t = dict(cat=$t_cat, tar=$t_tar, floor=$t_floor, scan1=$t_scan1, scan2=$t_scan2,
         capt1=$t_capt1, capt2=$t_capt2, py=$t_py)
reb = "$t_reb"; reb_n = $reb_n
rate = lambda s: samples / s
lines = []
w = lines.append
w("# Benchmarks")
w("")
w("Written by \`make bench\` (tests/bench/run.sh); numbers from one run.")
w("")
w("Machine: $cpu, $(nproc) cores, $mem; Debian $(cat /etc/debian_version); ballast $("$B" --version | cut -d' ' -f2).")
w("")
w("Set: 8 synthetic shards x 10,000 samples (jpg + txt + json), 224 px JPEGs, %.0f MB, page cache warm." % mb)
w("Medians of $runs runs (hyperfine); the Python baseline: 3 runs on one shard, times 8.")
w("")
w("| what | seconds | samples/s | MB/s |")
w("|---|---:|---:|---:|")
names = [("cat", "cat > /dev/null"), ("tar", "tar -tf, each shard"),
         ("floor", "reader floor: ballast ls --summary (reads captions + JSON, skips images)"),
         ("scan1", "ballast scan -o, shipped filters, 1 thread"),
         ("scan2", "ballast scan -o, shipped filters, 2 threads"),
         ("capt1", "ballast scan -o --no-image (captions + JSON only), 1 thread"),
         ("capt2", "ballast scan -o --no-image, 2 threads"),
         ("py", "Python baseline: tarfile + re + json (tests/bench/baseline.py)")]
for k, desc in names:
    w("| %s | %.3f | %.0f | %.0f |" % (desc, t[k], rate(t[k]), mb / t[k]))
w("")
w("## Ratios (the issue's targets)")
w("")
w("| ratio | value | target |")
w("|---|---:|---|")
w("| scan 1 thread vs Python, samples/s | %.1fx | >= 10x |" % (t["py"] / t["scan1"]))
w("| scan 1 thread time / reader floor time | %.2f | <= 2 |" % (t["scan1"] / t["floor"]))
w("| scan 2 threads speed-up over 1 thread | %.2fx | >= 1.8x |" % (t["scan1"] / t["scan2"]))
w("| scan 2 threads time / cat time | %.2f | <= 1 |" % (t["scan2"] / t["cat"]))
w("| caption-only scan (2 threads) time / tar -tf time | %.2f | < 1 |" % (t["capt2"] / t["tar"]))
w("| caption-only scan (1 thread) time / tar -tf time | %.2f | < 1 |" % (t["capt1"] / t["tar"]))
w("| peak RSS, scan of 1 shard / 100 shards / 100 shards -j2 | $rss1 / $rss100 / $rss100j KB | flat, <= 64 MB |")
if reb != "n/a":
    scan_1m = t["scan1"] / samples * reb_n
    w("| rebalance of %d samples: seconds, and share of their scan time (1 thread, extrapolated) | %s s, %.1f%% | <= 10%% |" % (reb_n, reb, 100 * float(reb) / scan_1m))
w("")
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY

# the trainer's loader next to PIL (real photos from ../shared/data)
if [ -d "${BALLAST_SHARED_DATA:-$top/../shared/data}/jpeg/photos" ] && [ -x /usr/bin/python3 ] &&
	/usr/bin/python3 -c "import PIL" 2>/dev/null; then
	echo "== loader: decode + resize + crop, ballast train vs PIL"
	lt=$(sh "$top/tests/bench/loader.sh" "$B")
	echo "$lt"
	{
		echo "## Loader: decode + resize + centre crop (ballast train vs PIL)"
		echo ""
		echo "tests/bench/loader.sh: the real photos of ../shared/data/jpeg/photos in one shard;"
		echo "ballast reads each sample from the shard by offset and decodes at the smallest"
		echo "DCT scale >= the size; PIL (Debian's python3-pil) decodes from memory with draft()."
		echo ""
		echo '```'
		echo "$lt"
		echo '```'
	} >> "$top/BENCHMARKS.md"
else
	echo "== loader benchmark skipped: needs ../shared/data and Debian's python3-pil"
fi
if [ -s "$hand" ]; then
	echo "" >> "$top/BENCHMARKS.md"
	cat "$hand" >> "$top/BENCHMARKS.md"
fi
