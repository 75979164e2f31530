# tests/cli/eval.sh - "ballast eval" on labelled sets: the counts and the
# Wilson 95% intervals on a tiny hand-made file whose answers are worked
# out below, the per-source breakdown, labels the file does not score,
# that the accuracy reached on the held-back web alt-text of
# tests/eval/labels/heldout.tsv and heldout2.tsv (never tuned on) does not
# fall back, and that report --audit's corrections hold on real errors
# (tests/eval/crosscheck.py).
. "$TOP/tests/cli/lib.sh"

# Floors, per family, on held-back web alt-text: the point estimates the
# shipped filters reach (round 3: sexual 0.886/0.838, group 0.875/0.840,
# gender 0.810/0.862, age 0.800/0.727; round 4 moved group to
# 0.878/0.867, round 5 sexual to 0.889/0.865), less about one caption of
# slack.
# They guard against a rule change that trades held-back accuracy away.
# They are NOT the target: issue 11 asks P >= 0.90 and R >= 0.85 per
# family, not met yet; "make eval" prints how far off each family is.
# Raise a floor when the rules improve; never lower one to pass.
targets='sexual 0.86 0.83
group 0.85 0.85
gender 0.80 0.85
age 0.77 0.72'
# The same on heldout2.tsv (round 4's fresh held-back split, real
# img2dataset rows only; round 4: sexual 1.00/0.50 of 4, group 0.80/0.50
# of 8, gender 0.804/0.788 of 104, age 0.846/0.647 of 17), one caption of
# slack each; with supports this small a floor is a tripwire, not a
# measurement.
targets2='sexual 0.66 0.50
group 0.66 0.37
gender 0.79 0.77
age 0.78 0.58'
# The same on all held-back REAL web alt-text, the headline of make eval
# (img2dataset rows of heldout and heldout2, 1,634 captions; round 5:
# sexual 0.905/0.826 of 23, group 0.727/0.571 of 28, gender 0.794/0.802
# of 187, age 0.778/0.700 of 30), one true positive less each.
targets_real='sexual 0.90 0.78
group 0.71 0.53
gender 0.79 0.79
age 0.76 0.66'

# ---- a tiny labelled file with known counts --------------------------
cat > t.rules <<'R'
label gender.female
  match \bwoman\b
label sexual.explicit
  match \bnude\b
label caption.other_language
  match \bhola\b
label stereotype.exoticising
  match \bexotic\b
R
# gender (female): tp 3 (a1 a2 b1), fp 1 (a3), fn 2 (b2 b3)
# sexual: tp 1 (a4), fp 0, fn 1 (b4)
# caption.other_language fires on b5: no label of family caption in the
# file, so it is not scored; stereotype is used by the file (a5), so its
# fp on b6 counts.
printf 'source\trow\tcaption\tlabels\tnote\n' > t.tsv
printf '%s\t%s\t%s\t%s\t\n' \
	A a1 'a woman' gender.female \
	A a2 'a woman walks' gender.female \
	A a3 'woman of the year award' '' \
	A a4 'a nude figure study' sexual.explicit \
	A a5 'an exotic look' stereotype.exoticising \
	B b1 'woman at a desk' gender.female \
	B b2 'a lady at a desk' gender.female \
	B b3 'her hat' gender.female \
	B b4 'a naked man' sexual.explicit \
	B b5 'hola amigos' '' \
	B b6 'exotic fruit' '' >> t.tsv

run "$B" eval -r t.rules --by source t.tsv
expect_rc 0 "eval --by source exits 0"
cp out.txt tiny.txt
# Wilson 95% by hand (z = 1.96, z2 = 3.8416):
#   3/4: centre (0.75 + z2/8) / (1 + z2/4) = 0.62753, half
#        z sqrt(0.75*0.25/4 + z2/64) / (1 + z2/4) = 0.32689 -> [0.301, 0.954]
#   3/5: centre 0.55655, half 0.32583                 -> [0.231, 0.882]
#   1/1: [0.207, 1.000]; 1/2: centre 0.5, half 0.40532 -> [0.095, 0.905]
#   2/3: centre 0.56122, half 0.35267                 -> [0.208, 0.939]
#   0/1: [0.000, 0.793]; 2/2: [0.342, 1.000]; 1/3: [0.061, 0.792]
row() { awk -v k="$1" -v n="$2" -v s="$3" '$1 == k && $2 == n && $NF == s { $1 = $1; print }' tiny.txt; }
want() {
	got=$(row "$1" "$2" "$3")
	if [ "$got" = "$4" ]; then ok "eval $1 $2 ($3): $5"; else bad "eval $1 $2 ($3): $5" "got '$got', wanted '$4'"; fi
}
want family gender '*' 'family gender 0.750 0.600 5 3 1 2 0.301 0.954 0.231 0.882 *' "P 3/4, R 3/5 with Wilson intervals"
want family sexual '*' 'family sexual 1.000 0.500 2 1 0 1 0.207 1.000 0.095 0.905 *' "P 1/1, R 1/2 with Wilson intervals"
want family gender A 'family gender 0.667 1.000 2 2 1 0 0.208 0.939 0.342 1.000 A' "per source A"
want family gender B 'family gender 1.000 0.333 3 1 0 2 0.207 1.000 0.061 0.792 B' "per source B"
want family age '*' 'family age - - 0 0 0 0 - - - - *' "nothing predicted or expected prints '-'"
want label stereotype.exoticising '*' 'label stereotype.exoticising 0.500 1.000 1 1 1 0 0.095 0.905 0.207 1.000 *' "a family the file uses is scored"
want label stereotype.exoticising B 'label stereotype.exoticising 0.000 - 0 0 1 0 0.000 0.793 - - B' "precision 0/1, recall undefined"
if grep -q '^label *caption' tiny.txt; then
	bad "eval does not score caption.* (no such labels in the file)" "$(grep caption tiny.txt)"
else
	ok "eval does not score caption.* (no such labels in the file)"
fi
if grep -q '^# not scored.*caption.other_language=1' tiny.txt; then
	ok "eval lists the unscored label with its count"
else
	bad "eval lists the unscored label with its count" "$(head -4 tiny.txt)"
fi

# without --by the table is the whole file only (tests/cli/tag.sh and
# tests/eval/run.sh read "family NAME P R" lines)
run "$B" eval -r t.rules t.tsv
if [ "$(awk '$1 == "family" && $2 == "gender"' out.txt | wc -l)" -eq 1 ]; then
	ok "eval without --by: one row per family"
else
	bad "eval without --by: one row per family" "$(grep '^family' out.txt)"
fi

run "$B" eval -r t.rules --by source --json t.tsv
expect_rc 0 "eval --json exits 0"
py=$(find_python 'import json')
if [ -z "$py" ]; then
	skip "eval --json: counts, intervals, sources, unscored" "no python3 to read the JSON"
elif "$py" - out.txt <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
g = d["families"]["gender"]
assert (g["tp"], g["fp"], g["fn"]) == (3, 1, 2), g
assert [round(x, 3) for x in g["precision_ci"]] == [0.301, 0.954], g
assert [round(x, 3) for x in g["recall_ci"]] == [0.231, 0.882], g
assert d["families"]["age"]["precision"] is None
assert d["unscored"] == {"caption.other_language": 1}, d["unscored"]
assert "caption.other_language" not in d["labels"]
b = d["sources"]["B"]["families"]["gender"]
assert (b["tp"], b["fn"], d["sources"]["B"]["captions"]) == (1, 2, 6), b
PY
then ok "eval --json: counts, intervals, sources, unscored"; else bad "eval --json: counts, intervals, sources, unscored" "$(head -c 400 out.txt)"; fi

run "$B" eval --by nothing t.tsv
expect_rc 2 "eval --by takes only 'source'"

# ---- held-back web alt-text: no falling back below the floors --------
# floors NAME LABELLED FLOORS: every family of FLOORS at or above its floor
floors() {
	run "$B" eval "$2"
	expect_rc 0 "eval on $1 exits 0"
	cp out.txt web.txt
	echo "$3" | while read -r fam pmin rmin; do
		line=$(awk -v f="$fam" '$1 == "family" && $2 == f && $NF == "*" {
			printf "P %s [%s, %s] R %s [%s, %s] support %s", $3, $9, $10, $4, $11, $12, $5 }' web.txt)
		if awk -v f="$fam" -v pm="$pmin" -v rm="$rmin" '$1 == "family" && $2 == f && $NF == "*" {
			found = 1; if ($3 != "-" && $4 != "-" && $3 + 0 >= pm + 0 && $4 + 0 >= rm + 0) pass = 1 }
			END { exit !(found && pass) }' web.txt; then
			ok "$1 $fam at or above its floor P>=$pmin R>=$rmin ($line)"
		else
			bad "$1 $fam at or above its floor P>=$pmin R>=$rmin" "$line"
		fi
	done
}
held=$TOP/tests/eval/labels/heldout.tsv
awk -F'\t' 'NR == 1 || $1 ~ /^img2dataset/ || ($1 == "hard" && $2 ~ /^w/)' "$held" > web.tsv
floors "held-back web alt-text (heldout)" web.tsv "$targets"
floors "held-back web alt-text (heldout2)" "$TOP/tests/eval/labels/heldout2.tsv" "$targets2"
{ awk -F'\t' 'NR == 1 || $1 ~ /^img2dataset/' "$held"
  awk -F'\t' 'NR > 1 && $1 ~ /^img2dataset/' "$TOP/tests/eval/labels/heldout2.tsv"; } > real.tsv
floors "held-back real web alt-text (heldout + heldout2 img2dataset rows)" real.tsv "$targets_real"

# ---- the error-aware report on real errors (tests/eval/crosscheck.py) --
# heldout's img2dataset rows, judged by their labels, audit the shipped
# filters; report --audit corrects the shares of heldout2's rows.  The
# corrected intervals must hold heldout2's true shares.  This is no
# planted number: if a rule change breaks it, the correction no longer
# holds on real web text, and that is worth knowing before it ships.
run python3 "$TOP/tests/eval/crosscheck.py" "$B" --json
expect_rc 0 "crosscheck.py runs"
cp out.txt cross.json
if python3 - <<'PY'
import json, sys
r = json.load(open("cross.json"))
f = r["families"]
ok = r["audit_rows"] > 700 and r["data_rows"] > 900 and sorted(f) == ["age", "gender", "group", "sexual"]
bad = [k for k, e in f.items() if not e["corrected_covers"]]
print("corrected shares:", ", ".join("%s %.4f [%.4f, %.4f] true %.4f" % (k, e["corrected"], e["corrected_lo"], e["corrected_hi"], e["true"]) for k, e in sorted(f.items())))
sys.exit(0 if ok and not bad else 1)
PY
then ok "report --audit: on real web text the corrected shares' intervals hold the true ones"
else bad "report --audit: on real web text the corrected shares' intervals hold the true ones" "$(cat cross.json | head -c 600)"
fi
