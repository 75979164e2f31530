#!/bin/sh
# tests/bench/loader.sh - the loader's decode + resize + crop throughput
# next to PIL's draft + resize on the same JPEGs.  Not part of 'make test'.
#
#   sh tests/bench/loader.sh /abs/path/to/ballast
#
# The JPEGs: the real photos of ../shared/data/jpeg/photos (122 files,
# mostly 640x480 .. 768x512; COCO, Open Images, CC12M), packed into one
# uncompressed shard (key.jpg + key.txt) with a hand-made manifest (a bare
# .jsonl of entries) of weight 1 each.  ballast: `ballast train --mode lora --epochs E` (every
# sample read from the shard by offset, decoded at the smallest n/8 DCT
# scale with shorter side >= SIZE, central square resampled: area
# averaging shrinking, bilinear enlarging; plus the placeholder step's
# pixel statistics).  PIL: tests/bench/pil_loader.py (bytes preloaded in
# memory; draft() offers 1/2, 1/4, 1/8 only; BILINEAR resize of the
# central square).  Debian's python3-pil, /usr/bin/python3.
set -eu
B=${1:?usage: loader.sh PATH/TO/ballast}
top=$(cd "$(dirname "$0")/../.." && pwd)
photos=${BALLAST_SHARED_DATA:-$top/../shared/data}/jpeg/photos
py=/usr/bin/python3
epochs=${BENCH_EPOCHS:-10}
[ -d "$photos" ] || { echo "bench: $photos is absent"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ballast-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# one shard of the photos, and a manifest over it
$py - "$photos" "$work/photos.tar" <<'PY'
import glob, io, sys, tarfile
fs = sorted(glob.glob(sys.argv[1] + "/**/*.jpg", recursive=True))
with tarfile.open(sys.argv[2], "w", format=tarfile.USTAR_FORMAT) as t:
    for i, f in enumerate(fs):
        for ext, data in (("jpg", open(f, "rb").read()), ("txt", f.encode())):
            ti = tarfile.TarInfo("%06d.%s" % (i, ext)); ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
PY
"$B" ls "$work/photos.tar" | awk -F'\t' '{printf "{\"key\": \"%s\", \"shard\": \"%s\", \"ordinal\": %s, \"offset\": %s, \"weight\": 1, \"labels\": []}\n", $3, $1, $2, $4}' > "$work/man.jsonl"
n=$(wc -l < "$work/man.jsonl")
echo "== $n real JPEGs x $epochs epochs, $(nproc) cores"
printf '%-8s %-34s %12s\n' size tool images/s
for size in 512 256 128; do
	for j in 0 2; do
		r=$("$B" train "$work/man.jsonl" --mode lora --size $size --epochs "$epochs" --batch 16 -j $j --json -q | tail -n 1)
		ips=$(echo "$r" | sed 's/.*"images_per_s": \([0-9.]*\).*/\1/')
		desc="ballast -j $j"
		[ $j = 0 ] && desc="ballast -j 0 (one thread)"
		printf '%-8s %-34s %12s\n' "$size" "$desc" "$ips"
	done
	for p in 1 2; do
		r=$($py "$top/tests/bench/pil_loader.py" "$work/photos.tar" --size $size --epochs "$epochs" --procs $p)
		ips=$(echo "$r" | sed 's/.*"images_per_s": \([0-9.]*\).*/\1/')
		printf '%-8s %-34s %12s\n' "$size" "PIL draft+resize, $p process(es)" "$ips"
	done
done
