#!/bin/sh
# tests/eval/run.sh - precision and recall, with Wilson 95% intervals, of
# the shipped filters and of the naive keyword baseline (baseline.rules)
# on every labelled split, per family and per source, side by side.
# "make eval" runs it as
#   sh tests/eval/run.sh /abs/path/to/ballast
#
# Splits (tests/eval/labels/README.md says how each was drawn):
#   heldout2 tests/eval/labels/heldout2.tsv NEVER tuned on (round 4, real web alt-text)
#   heldout  tests/eval/labels/heldout.tsv  NEVER tuned on: the accuracy
#   tune     tests/eval/labels/tune.tsv     tuned on: not an accuracy figure
#   tune2    tests/eval/labels/tune2.tsv    tuned on (round 2): not an accuracy figure
#   tune3    tests/eval/labels/tune3.tsv    tuned on (round 4): not an accuracy figure
#   dev      ../shared/data/labels/dev.tsv  tuned on: not an accuracy figure
# The headline comes first: held-back real web alt-text (heldout and
# heldout2 rows from img2dataset), per family, together and per split,
# then with heldout's web-style hard cases (rows hard:w*); then the
# error-aware report checked on real errors (crosscheck.py).
# dev lives outside the project ($BALLAST_SHARED_DATA/labels or
# ../shared/data/labels); without it that part is skipped with a message.
set -u
B=${1:?usage: run.sh /path/to/ballast}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
data=${BALLAST_SHARED_DATA:-$top/../shared/data}
labels=$here/labels
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ballast-eval-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT PIPE TERM

# evaluate FILE TAG: filters and baseline scores of FILE, per source, into
# $tmp/TAG.filters and $tmp/TAG.baseline
evaluate() {
	"$B" eval --by source -r "$top/filters" "$1" > "$tmp/$2.filters" ||
		{ echo "eval: ballast eval failed on the filters ($1)"; exit 1; }
	"$B" eval --by source -r "$here/baseline.rules" "$1" > "$tmp/$2.baseline" ||
		{ echo "eval: ballast eval failed on the baseline ($1)"; exit 1; }
}

# table TAG SOURCE: the family rows of one source ('*': all) of TAG,
# filters and baseline side by side
table() {
	awk -v want="$2" '
		FNR == 1 { file++ }
		$1 == "family" && $NF == want {
			ci = ($3 == "-") ? "-" : sprintf("%.2f [%.2f, %.2f]", $3, $9, $10)
			cr = ($4 == "-") ? "-" : sprintf("%.2f [%.2f, %.2f]", $4, $11, $12)
			p[file, $2] = ci; r[file, $2] = cr; s[$2] = $5
			if (file == 1) order[++n] = $2
		}
		END {
			printf "    %-7s %7s   %-18s %-18s   %-18s %-18s\n", "family", "support",
				"filters P", "R", "baseline P", "R"
			for (i = 1; i <= n; i++) {
				f = order[i]
				printf "    %-7s %7s   %-18s %-18s   %-18s %-18s\n", f, s[f],
					p[1, f], r[1, f], p[2, f], r[2, f]
			}
		}' "$tmp/$1.filters" "$tmp/$1.baseline"
}

# sources TAG: the sources of TAG, in the order eval printed them
sources() {
	awk '$1 == "#" && $2 == "source" { sub(":$", "", $3); print $3 }' "$tmp/$1.filters"
}

# report TAG TITLE: the whole file, then each source
report() {
	echo "== $2"
	echo "  all sources ($(awk '/^# [0-9]+ captions/ { print $2; exit }' "$tmp/$1.filters") captions)"
	table "$1" '*'
	for s in $(sources "$1"); do
		echo "  $s ($(awk -v s="$s" '$1 == "#" && $3 == s ":" { print $4; exit }' "$tmp/$1.filters") captions)"
		table "$1" "$s"
	done
	echo
}

heldout=$labels/heldout.tsv
heldout2=$labels/heldout2.tsv
tune=$labels/tune.tsv
tune2=$labels/tune2.tsv
tune3=$labels/tune3.tsv
for f in "$heldout" "$heldout2" "$tune" "$tune2" "$tune3"; do
	[ -f "$f" ] || { echo "eval: $f is missing"; exit 1; }
done

# target TAG: one line per family saying whether TAG meets the target the
# project set itself (issue 11): P >= 0.90 and R >= 0.85, on the way to
# 0.95 / 0.90.  tests/cli/eval.sh guards the figures reached so far
# against falling back; this says how far off the target they still are.
target() {
	awk '$1 == "family" && $NF == "*" && $2 ~ /^(sexual|group|gender|age)$/ {
		met = ($3 != "-" && $4 != "-" && $3 + 0 >= 0.90 && $4 + 0 >= 0.85)
		printf "  target P >= 0.90, R >= 0.85: %-7s %s\n", $2, met ? "met" : sprintf("NOT MET (P %s, R %s)", $3, $4)
	}' "$tmp/$1.filters"
}

# the headline: held-back REAL web alt-text, the img2dataset rows of the
# two held-back splits, together and per split; then the same with
# heldout's web-style hard cases (written by the annotator, not found on
# the web: they flatter the filters, which handle such traps well)
awk -F'\t' 'NR == 1 || $1 ~ /^img2dataset/' "$heldout" > "$tmp/real1.tsv"
awk -F'\t' 'NR == 1 || $1 ~ /^img2dataset/' "$heldout2" > "$tmp/web2.tsv"
{ cat "$tmp/real1.tsv"; tail -n +2 "$tmp/web2.tsv"; } > "$tmp/real.tsv"
awk -F'\t' 'NR == 1 || $1 ~ /^img2dataset/ || ($1 == "hard" && $2 ~ /^w/)' "$heldout" > "$tmp/web1.tsv"
{ cat "$tmp/web1.tsv"; tail -n +2 "$tmp/web2.tsv"; } > "$tmp/web.tsv"
evaluate "$tmp/real.tsv" real
evaluate "$tmp/real1.tsv" real1
evaluate "$tmp/web2.tsv" web2
evaluate "$tmp/web.tsv" web
n() { echo $(($(grep -c '' "$1") - 1)); }
echo "HEADLINE - held-back real web alt-text, never tuned on: img2dataset rows"
echo "  of heldout.tsv and heldout2.tsv ($(n "$tmp/real.tsv") captions)"
echo "  P, R: precision, recall [Wilson 95% interval]; '-': nothing predicted / expected"
table real '*'
target real
echo "  heldout2.tsv: drawn in round 4, its rows never looked at while writing rules"
echo "  ($(n "$tmp/web2.tsv") captions)"
table web2 '*'
target web2
echo "  heldout.tsv's img2dataset rows: its aggregate figures were read after each"
echo "  round ($(n "$tmp/real1.tsv") captions)"
table real1 '*'
target real1
echo "  with heldout's web-style hard cases (written by the annotator to probe traps;"
echo "  the filters do well on them, so they raise every figure): $(n "$tmp/web.tsv") captions"
table web '*'
target web
echo

echo "== error-aware report on real errors (tests/eval/crosscheck.py): heldout's"
echo "  $(n "$tmp/real1.tsv") img2dataset rows, judged by their labels, are the audit (ballast audit"
echo "  --design simple, every row); heldout2's $(n "$tmp/web2.tsv") rows are the data; ballast report"
echo "  --audit corrects their shares, and heldout2's labels give the true ones"
python3 "$here/crosscheck.py" "$B" || echo "eval: crosscheck.py failed"
echo

evaluate "$heldout2" heldout2
report heldout2 "heldout2: NEVER tuned on (round 4's fresh held-back split)"

evaluate "$heldout" heldout
report heldout "heldout: NEVER tuned on (the accuracy figures of rounds 1-3)"

evaluate "$tune" tune
report tune "tune: TUNED ON (the rules were developed on it) - not an accuracy figure"

evaluate "$tune2" tune2
report tune2 "tune2: TUNED ON (round 2 of the rules was developed on it) - not an accuracy figure"

evaluate "$tune3" tune3
report tune3 "tune3: TUNED ON (round 4 of the rules was developed on it) - not an accuracy figure"

dev=$data/labels/dev.tsv
if [ -f "$dev" ]; then
	evaluate "$dev" dev
	report dev "dev: TUNED ON (the shipped rules were tuned on it) - not an accuracy figure"
else
	echo "== dev: skipped: $dev is absent (set BALLAST_SHARED_DATA)"
	echo
fi

echo "per label on held-back real web alt-text (shipped filters; labels with support):"
awk '$1 == "label" && $NF == "*" && $5 > 0 {
	printf "  %-26s support %4s  P %-5s [%s, %s]  R %-5s [%s, %s]\n", $2, $5, $3, $9, $10, $4, $11, $12
}' "$tmp/real.filters"
grep '^# not scored' "$tmp/real.filters" | sed 's/^# /  /'
exit 0
