#!/bin/sh
# tools/demo.sh - the whole chain on a synthetic, deliberately skewed set.
# Called by 'make demo' with the path of the ballast binary.
set -eu
B=${1:?usage: demo.sh PATH/TO/ballast [OUTDIR]}
top=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$top/demo-out}
rm -rf "$out"
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "1. synthetic shards: captions naming East Asian women carry sexualised wording 3x as often as women's captions overall"
"$B" mkshards "$out/shards" --shards 8 --per-shard 2500 --seed 1 \
	--skew east_asian:female=3 --image-size 96 -j 2
"$B" ls --summary "$out/shards/{00000..00007}.tar"

step "2. scan: tag every sample with the shipped filters, write the index"
"$B" scan "$out/shards/*.tar" -o "$out/index.db" -j 2 -q > "$out/scan.txt"
head -n 4 "$out/scan.txt"

if "$B" help report >/dev/null 2>&1; then
	step "3. report: label shares and the skew table"
	# the whole text report: shares first, the skew table last
	"$B" report "$out/index.db" --format text -o "$out/report.txt"
	cat "$out/report.txt"
	"$B" report "$out/index.db" --format html -o "$out/report.html"
	"$B" report "$out/index.db" --format json -o "$out/report.json"
fi

if "$B" help rebalance >/dev/null 2>&1; then
	step "4. rebalance: make sexualised wording independent of group within gender"
	"$B" rebalance "$out/index.db" -p "$top/manifests/policies/deskew-sexualisation.policy" \
		-o "$out/manifest" --seed 1
fi

if "$B" help train >/dev/null 2>&1 && [ -d "$out/manifest" ]; then
	step "5. train (reference consumer): draw weighted batches from the manifest"
	"$B" train "$out/manifest" --mode lora --steps 20 --batch 16 --size 64 -j 2 | tail -n 12
fi

step "done"
[ -f "$out/report.html" ] && echo "report:   $out/report.html (text: $out/report.txt)"
echo "index:    $out/index.db"
[ -d "$out/manifest" ] && echo "manifest: $out/manifest/manifest.json"
exit 0
