#!/bin/sh
# tests/eval/run.sh - precision and recall of the shipped filters and of
# the naive keyword baseline (baseline.rules) on the labelled dev set,
# side by side per family.  "make eval" runs it as
#   sh tests/eval/run.sh /abs/path/to/ballast
# The labelled set lives in ../shared/data/labels/ (or
# $BALLAST_SHARED_DATA/labels); without it the script says so and exits 0.
set -u
B=${1:?usage: run.sh /path/to/ballast}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
data=${BALLAST_SHARED_DATA:-$top/../shared/data}
dev=$data/labels/dev.tsv
if [ ! -f "$dev" ]; then
	echo "eval: skipped: $dev is absent (set BALLAST_SHARED_DATA)"
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ballast-eval-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

"$B" eval -r "$top/filters" "$dev" > "$tmp/filters.txt" || { echo "eval: ballast eval failed on the filters"; exit 1; }
"$B" eval -r "$here/baseline.rules" "$dev" > "$tmp/baseline.txt" || { echo "eval: ballast eval failed on the baseline"; exit 1; }

echo "precision / recall on $dev ($(grep -c '' "$dev") lines)"
echo
awk '
	FNR == 1 { file++ }
	$1 == "family" { p[file, $2] = $3; r[file, $2] = $4; s[$2] = $5; if (file == 1) order[++n] = $2 }
	END {
		printf "%-8s %8s   %-17s %-17s\n", "family", "support", "filters  P     R", "baseline P     R"
		for (i = 1; i <= n; i++) {
			f = order[i]
			printf "%-8s %8s   %-6s %-6s     %-6s %-6s\n", f, s[f], p[1, f], r[1, f], p[2, f], r[2, f]
		}
	}' "$tmp/filters.txt" "$tmp/baseline.txt"
echo
echo "per label (shipped filters):"
grep '^label' "$tmp/filters.txt" | awk '{ printf "  %-26s P %-6s R %-6s support %s\n", $2, $3, $4, $5 }'
