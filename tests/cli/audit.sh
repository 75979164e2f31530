# tests/cli/audit.sh - "ballast audit", "ballast eval SHEET" and
# "ballast report --audit": usage, the sheet (strata sizes against SQL,
# reproducible from the seed, escaped, self-contained HTML), scoring
# (problems named by line, spreadsheet round trips), and the point of it
# all: a tagger whose errors are planted (rules that miss 30% of the
# sexual captions and fire on 4% of the others) gives raw rates that miss
# the planted truth, and the rates corrected with an audit filled from
# the truth recover it.
# tier: full (slow: `make check` skips it)
. "$TOP/tests/cli/lib.sh"

run "$B" audit
expect_rc 2 audit-no-index-is-usage
run "$B" audit --help
expect_rc 0 audit-help
expect_out '^usage: ballast audit' audit-help-text
check audit-help-same-as-help-audit sh -c '"$0" help audit | cmp -s - out.txt' "$B"
run "$B" audit x.db --design nosuch
expect_rc 2 audit-bad-design-is-usage
run "$B" audit does-not-exist.db
expect_rc 3 audit-missing-index-is-fatal

# ---- a set whose truth is known --------------------------------------------
# Two groups of women: group.p with sexual wording in 20% of captions,
# group.q (and women of no group) in 5%.  The tagger's rule finds the word
# "sultry" only: 70% of the sexual captions use it, the other 30% say
# "smouldering" (missed: Se = 0.70), and 4% of the other captions say
# "sultry summer evening" (a false fire: Sp = 0.96).  truth.tsv has the
# truth per key.
cat > t.rules <<'EOF'
# test rules: a tagger with planted errors (see audit.sh)
label gender.female
  match \bwoman\b
label group.p
  match \bzorblan\b
label group.q
  match \bquillan\b
label sexual.suggestive
  match \bsultry\b
label age.minor
  match \bminorterm\b
EOF
if ! python3 - > gen.out 2>&1 <<'EOF'
import io, json, tarfile
cells = [("zorblan", 4000, 0.20), ("quillan", 8000, 0.05), ("", 4000, 0.05)]
truth = open("truth.tsv", "w")
rows = []
for word, n, rate in cells:
    k = round(n * rate)
    for i in range(n):
        sexual = i < k
        if sexual:
            # 7 in 10 of the sexual captions use the word the rule knows
            adj = "sultry" if (i % 10) < 7 else "smouldering"
            cap = "a %s %s woman posing" % (adj, word)
        else:
            j = i - k
            extra = " on a sultry summer evening" if j % 25 == 0 else ""
            cap = "a %s woman reading%s" % (word, extra)
        rows.append((" ".join(cap.split()), sexual))
# interleave the cells so that every shard holds all of them
rows = [rows[i] for i in sorted(range(len(rows)), key=lambda i: (i * 7919) % len(rows))]
per = len(rows) // 4
for s in range(4):
    with tarfile.open("p%d.tar" % s, "w", format=tarfile.USTAR_FORMAT) as t:
        for i, (cap, sexual) in enumerate(rows[s * per:(s + 1) * per]):
            key = "%d%05d" % (s, i)
            truth.write("%s\t%d\n" % (key, sexual))
            for ext, data in (("txt", cap.encode()), ("json", json.dumps({"key": key}).encode())):
                ti = tarfile.TarInfo("%s.%s" % (key, ext))
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
EOF
then
	bad audit-generate "$(tail -3 gen.out)"
	exit 0
fi
run "$B" scan 'p*.tar' -o ix.db -r t.rules -q
expect_rc 0 audit-scan
run "$B" audit ix.db --label sexual --per-stratum 600 --seed 11 -o sheet.tsv --html sheet.html
expect_rc 0 audit-draw
check audit-sheet-header sh -c 'sed -n 2p sheet.tsv | grep -qx "audit_row	label	caption	judgement	note	shard	ordinal	key	stratum	stratum_size	stratum_drawn	design"'
check audit-sheet-comment grep -q '^# ballast audit sheet 1 | index ix.db | samples 16000 |' sheet.tsv
check audit-sheet-1200-rows sh -c '[ $(tail -n +3 sheet.tsv | wc -l) -eq 1200 ]'
# every row's stratum size is the count SQL gives
tagged=$(sqlite3 ix.db "select count(*) from samples where labels like '%,sexual.%'")
check audit-sheet-strata-sizes sh -c "tail -n +3 sheet.tsv | awk -F'\t' '\$9==\"tagged\"{print \$10}' | sort -u | grep -qx $tagged &&
	tail -n +3 sheet.tsv | awk -F'\t' '\$9==\"untagged\"{print \$10}' | sort -u | grep -qx $((16000 - tagged))"
check audit-sheet-600-per-stratum sh -c "[ \$(awk -F'\t' '\$9==\"tagged\"' sheet.tsv | wc -l) -eq 600 ] && awk -F'\t' 'NR>2{print \$11}' sheet.tsv | sort -u | grep -qx 600"
# every drawn sample is in its stratum, and no sample twice in one stratum
sqlite3 -separator '	' ix.db "select s.key, (labels like '%,sexual.%') from samples s" | sort > tags.tsv
check audit-sheet-rows-in-their-stratum sh -c "tail -n +3 sheet.tsv | awk -F'\t' '{print \$8 \"\t\" (\$9==\"tagged\")}' | sort > drawn.tsv && [ \$(comm -13 tags.tsv drawn.tsv | wc -l) -eq 0 ] && [ \$(sort -u drawn.tsv | wc -l) -eq 1200 ]"
# the same seed, the same sheet; another seed, another one
run "$B" audit ix.db --label sexual --per-stratum 600 --seed 11 -o sheet2.tsv
check audit-sheet-reproducible cmp -s sheet.tsv sheet2.tsv
run "$B" audit ix.db --label sexual --per-stratum 600 --seed 12 -o sheet3.tsv
check audit-sheet-seed-matters sh -c '! cmp -s sheet.tsv sheet3.tsv'
check audit-html-self-contained sh -c '[ -s sheet.html ] && ! grep -Eiq "<script|<link|@import|url\(|https?:" sheet.html'
check audit-html-hides-tagger sh -c '! grep -q "untagged" sheet.html'

# ---- fill it from the truth and score it --------------------------------------
fill() { # fill SHEET OUT: judgement = the truth of each row's key
	awk -F'\t' 'BEGIN{OFS="\t"} NR==FNR{t[$1]=$2; next} /^#/ || $1=="audit_row" {print; next}
		{ $4 = t[$8] ? "y" : "n"; print }' truth.tsv "$1" > "$2"
}
fill sheet.tsv filled.tsv
run "$B" eval filled.tsv --json
expect_rc 0 audit-eval-runs
cp out.txt eval.json
run "$B" eval filled.tsv
expect_out '^sexual ' audit-eval-text
run "$B" report ix.db --audit filled.tsv --format json -o ra.json
expect_rc 0 audit-report-json
run "$B" report ix.db --format json -o raw.json
if python3 - eval.json ra.json raw.json > planted.out 2>&1 <<'EOF'
import json, sys
ev = json.load(open(sys.argv[1]))["labels"]["sexual"]
r = json.load(open(sys.argv[2]))
raw = json.load(open(sys.argv[3]))
se, sp = ev["recall"], ev["specificity"]
print("planted Se 0.70, Sp 0.96; measured Se %.3f [%.3f, %.3f], Sp %.4f [%.4f, %.4f]"
      % (se["value"], se["lo"], se["hi"], sp["value"], sp["lo"], sp["hi"]))
assert se["lo"] <= 0.70 <= se["hi"], "Se interval misses the planted 0.70"
assert sp["lo"] <= 0.96 <= sp["hi"], "Sp interval misses the planted 0.96"
# the true share of sexual captions: (800 + 400 + 200) / 16000
share = ev["corrected_share"]
assert share["lo"] <= 1400 / 16000 <= share["hi"], share
assert not (r["shares"]["sexual"]["lo"] <= 1400 / 16000 <= r["shares"]["sexual"]["hi"])
def cell(rep, g):
    return [s for s in rep["skew"] if s["group"] == g and s["gender"] == "gender.female"][0]
ok = True
for g, truth, rest in (("group.p", 0.20, 0.05), ("group.q", 0.05, (800 + 200) / 8000)):
    c, c0 = cell(r, g), cell(raw, g)
    k = c["corrected"]
    print("%s x female: planted %.3f; raw %.4f [%.4f, %.4f]; corrected %.4f [%.4f, %.4f] (%s)"
          % (g, truth, c0["rate"], c0["rate_lo"], c0["rate_hi"], k["rate"]["value"],
             k["rate"]["lo"], k["rate"]["hi"], k["rate"]["status"]))
    rr = truth / rest
    print("   rate ratio vs the other women: planted %.3f; raw %.3f [%.3f, %.3f]; corrected %.3f [%.3f, %.3f]"
          % (rr, c0["rate_ratio"], c0["rr_lo"], c0["rr_hi"], k["rate_ratio"]["value"],
             k["rate_ratio"]["lo"], k["rate_ratio"]["hi"]))
    assert c0 == {x: y for x, y in c.items() if x != "corrected"}, "raw numbers changed"
    assert not (c0["rate_lo"] <= truth <= c0["rate_hi"]), "the raw interval holds the truth: no test"
    assert k["rate"]["lo"] <= truth <= k["rate"]["hi"], "corrected interval misses the truth"
    assert not (c0["rr_lo"] <= rr <= c0["rr_hi"]), "the raw ratio interval holds the truth"
    assert k["rate_ratio"]["lo"] <= rr <= k["rate_ratio"]["hi"], "corrected ratio misses the truth"
    assert k["rate"]["status"] == "corrected"
assert r["audit"]["skew_corrected"] is True
EOF
then ok audit-corrected-rates-recover-planted; cat planted.out
else bad audit-corrected-rates-recover-planted "$(cat planted.out)"; fi

# The intervals' calibration: over six more seeds of the audit the planted
# rates and ratios lie inside the corrected 95% intervals nearly every
# time (>= 5 of 6 for each; for a calibrated interval P(<= 4 of 6) ~ 0.2%).
for s in 21 22 23 24 25 26; do
	"$B" audit ix.db --label sexual --per-stratum 600 --seed $s -o c$s.tsv 2>/dev/null
	fill c$s.tsv cf$s.tsv
	"$B" report ix.db --audit cf$s.tsv --format json -o cj$s.json 2>/dev/null
done
if python3 - cj2[1-6].json > calib.out 2>&1 <<'EOF'
import json, sys
hits = {}
for f in sys.argv[1:]:
    r = json.load(open(f))
    for g, t, rr in (("group.p", 0.20, 4.0), ("group.q", 0.05, 0.4)):
        c = [x for x in r["skew"] if x["group"] == g and x["gender"] == "gender.female"][0]["corrected"]
        for k, v in (("rate", t), ("rate_ratio", rr)):
            hits[g + " " + k] = hits.get(g + " " + k, 0) + (c[k]["lo"] <= v <= c[k]["hi"])
print(", ".join("%s %d/%d" % (k, v, len(sys.argv) - 1) for k, v in sorted(hits.items())))
sys.exit(0 if len(sys.argv) == 7 and min(hits.values()) >= 5 else 1)
EOF
then ok audit-corrected-intervals-calibrated; cat calib.out
else bad audit-corrected-intervals-calibrated "$(cat calib.out)"; fi

run "$B" report ix.db --audit filled.tsv --format html -o ra.html
expect_rc 0 audit-report-html
check audit-html-headline-tagger-and-data sh -c 'grep -q "<b>The tagger says:</b>" ra.html && grep -q "<b>The data says</b>" ra.html'
check audit-html-says-what-is-corrected grep -q '<b>Not corrected</b>: which cell a caption is in' ra.html
run "$B" report ix.db --format html -o plain.html
check audit-html-without-audit-says-tagger sh -c 'grep -q "<b>The tagger says:</b>" plain.html && ! grep -q "The data says</b>" plain.html'
run "$B" report ix.db --audit filled.tsv
expect_out '^skew corrected for the tagger' audit-report-text
run "$B" report ix.db --audit filled.tsv --format csv -o ra.csv
check audit-report-csv-rows sh -c 'grep -q "^skew_corrected,,group.p,gender.female," ra.csv && grep -q "^audit_sensitivity,,sexual," ra.csv'
check audit-report-csv-rectangular sh -c '[ $(awk -F, "{print NF}" ra.csv | sort -u | wc -l) -eq 1 ]'
run "$B" report ix.db --audit filled.tsv --format json -o ra2.json
check audit-report-deterministic cmp -s ra.json ra2.json

# a spreadsheet round trip: rows shuffled, columns moved, CRLF, quotes
python3 - filled.tsv shuffled.tsv <<'EOF'
import random, sys
lines = open(sys.argv[1]).read().splitlines()
head, rows = lines[:2], lines[2:]
random.Random(5).shuffle(rows)
def move(l):
    f = l.split("\t")
    f = f[3:4] + f[:3] + f[4:]          # judgement first but one
    f = [f[1], f[0]] + f[2:]             # audit_row stays first
    return "\t".join('"%s"' % x if i == 2 else x for i, x in enumerate(f))
out = ['"' + head[0] + '"\t\t'] + [move(l) for l in [head[1]] + rows]
open(sys.argv[2], "w", newline="").write("\r\n".join(out) + "\r\n")
EOF
run "$B" eval shuffled.tsv --json
check audit-eval-spreadsheet-round-trip sh -c 'python3 -c "
import json,sys
a=json.load(open(\"eval.json\"))[\"labels\"]; b=json.load(open(\"out.txt\"))[\"labels\"]
sys.exit(0 if a==b else 1)"'

# ---- problems are named, not silent -----------------------------------------------
awk -F'\t' 'BEGIN{OFS="\t"} NR==5{$4="maybe"} NR==7{$10="12"} NR==40{$10="99999"} {print}' filled.tsv > broken.tsv
run "$B" eval broken.tsv
expect_rc 1 audit-eval-bad-rows-exit-1
expect_err "broken.tsv:5: judgement 'maybe' is not y or n" audit-eval-bad-judgement-named
expect_err 'broken.tsv:7: stratum_drawn must be a count from 1 to stratum_size' audit-eval-bad-drawn-named
expect_err 'broken.tsv:40: stratum_size or stratum_drawn of .sexual. differs from an earlier row' audit-eval-bad-size-named
# unjudged rows are left out, not counted as "no"
awk -F'\t' 'BEGIN{OFS="\t"} NR>2 && NR%2==0{$4=""} {print}' filled.tsv > half.tsv
run "$B" eval half.tsv --json
check audit-eval-unjudged-left-out sh -c 'python3 -c "
import json,sys
e=json.load(open(\"out.txt\"))[\"labels\"][\"sexual\"]
sys.exit(0 if e[\"judged_tagged\"]+e[\"judged_untagged\"]==600 else 1)"'
printf 'not\ta sheet\n' > notasheet.tsv
run "$B" report ix.db --audit notasheet.tsv
expect_rc 3 audit-report-not-a-sheet-is-fatal
expect_err 'not an audit sheet' audit-report-not-a-sheet-message

# A row twice counts one judgement twice: the repeat (the same audit_row,
# or the same shard, ordinal and label under another audit_row) is left
# out and named with both lines; eval and report --audit say so at the
# top of the output and exit 1.  Rows past a stratum's stratum_drawn are
# named as such, not as "two sheets pasted together".
python3 - filled.tsv <<'EOF2'
import sys
L = open(sys.argv[1]).read().split("\n")
hdr, rows = L[:2], [l.split("\t") for l in L[2:] if l]
t = [i for i, r in enumerate(rows) if r[8] == "tagged"]
def write(name, rs):
    open(name, "w").write("\n".join(hdr + ["\t".join(r) for r in rs]) + "\n")
# the reviewer's sheet: a tagged row overwritten by a copy of another
d = [list(r) for r in rows]
d[t[1]][3] = "n" if d[t[1]][3] == "y" else "y"
d[t[0]] = list(d[t[1]])
write("dup.tsv", d)
# the same without the overwritten row: what dup.tsv must score
write("dupref.tsv", [r for i, r in enumerate(d) if i != t[0]])
# a row pasted again at the end under a new audit_row
e = [list(r) for r in rows] + [list(rows[t[2]])]
e[-1][0] = str(len(rows) + 1)
write("dup2.tsv", e)
# two rows more than stratum_drawn in the tagged stratum (other samples)
f = [list(r) for r in rows]
for k in (1, 2):
    x = list(rows[t[3]]); x[0] = str(len(rows) + k); x[6] = str(900000 + k); f.append(x)
write("extra.tsv", f)
EOF2
dupline=$(awk -F'\t' 'NR>2 && $9=="tagged" {n++; if (n==1) print NR}' filled.tsv)
twinline=$(awk -F'\t' 'NR>2 && $9=="tagged" {n++; if (n==2) print NR}' filled.tsv)
run "$B" eval dup.tsv --json
expect_rc 1 audit-dup-eval-exit-1
n1=$(( dupline > twinline ? twinline : dupline )); n2=$(( dupline > twinline ? dupline : twinline ))
expect_err "dup.tsv:$n2: audit_row [0-9]+ repeats line $n1 \(a row pasted twice\?\); row not counted" audit-dup-eval-names-both-lines
cp out.txt dup.json
"$B" eval dupref.tsv --json > dupref.json 2>/dev/null
check audit-dup-eval-counts-the-row-once python3 -c '
import json, sys
a, b = json.load(open("dup.json")), json.load(open("dupref.json"))
sys.exit(0 if a["labels"] == b["labels"] and b["judged"] == a["judged"] and len(a["warnings"]) == 1
         and "repeats line" in a["warnings"][0] and b["warnings"] == [] else 1)'
run "$B" eval dup.tsv
check audit-dup-eval-warning-on-top sh -c 'head -1 out.txt | grep -q "^WARNING: 1 row of the sheet could not be used"'
run "$B" eval dup2.tsv
expect_rc 1 audit-dup-same-sample-exit-1
expect_err 'dup2.tsv:[0-9]+: shard .* ordinal [0-9]+ with label .sexual. repeats line [0-9]+' audit-dup-same-sample-named
run "$B" eval extra.tsv
expect_rc 1 audit-extra-rows-exit-1
check audit-extra-rows-named-as-extra sh -c '[ $(grep -c "more rows of .sexual. in the tagged stratum than its stratum_drawn (600); row not counted" err.txt) -eq 2 ] && ! grep -q "pasted together" err.txt'
run "$B" report ix.db --audit dup.tsv
expect_rc 1 audit-dup-report-exit-1
check audit-dup-report-warning-on-top sh -c 'sed -n 3p out.txt | grep -q "^WARNING: 1 row of the audit sheet could not be used and is left out of the corrections (first: dup.tsv:[0-9]*: audit_row"'
expect_err 'WARNING: 1 row of the audit sheet could not be used \(exit 1' audit-dup-report-stderr
run "$B" report ix.db --audit dup.tsv --format json -o dupr.json
expect_rc 1 audit-dup-report-json-exit-1
check audit-dup-report-json-warnings python3 -c '
import json, sys
w = json.load(open("dupr.json"))["warnings"]
sys.exit(0 if len(w) == 1 and "repeats line" in w[0] else 1)'
run "$B" report ix.db --audit broken.tsv --format csv -o br.csv
expect_rc 1 audit-bad-rows-report-exit-1
check audit-bad-rows-report-csv-warning grep -q '^warning,.*3 rows of the audit sheet could not be used' br.csv

# A sheet whose first line (the rules digest) was deleted cannot be held
# against the index's rules: a WARNING at the top and exit 1, as for a
# sheet of other rules - with the index's own rules too, since nothing
# says so.
grep -v '^# ballast audit sheet' filled.tsv > nohead.tsv
run "$B" report ix.db --audit nohead.tsv
expect_rc 1 audit-no-rules-line-exit-1
check audit-no-rules-line-warning-on-top sh -c 'sed -n 3p out.txt | grep -q "^WARNING: the audit sheet does not record the rules whose tags it judged"'
expect_err 'WARNING: the audit sheet does not record the rules .* \(exit 1\)' audit-no-rules-line-stderr
run "$B" report ix.db --audit nohead.tsv --format json -o nh.json
check audit-no-rules-line-json-warnings python3 -c '
import json, sys
w = json.load(open("nh.json"))["warnings"]
sys.exit(0 if len(w) == 1 and "does not record the rules" in w[0] else 1)'
run "$B" report ix.db --audit nohead.tsv --format html -o nh.html
check audit-no-rules-line-html sh -c 'grep -q "<strong>WARNING:</strong> the audit sheet does not record the rules" nh.html && grep -q "What the data says is not known here" nh.html'
sed 's/| rules [0-9a-f]* |/| rules - |/' filled.tsv > nodigest.tsv
run "$B" report ix.db --audit nodigest.tsv
expect_rc 1 audit-no-digest-exit-1
expect_out '^WARNING: the audit sheet does not record the rules whose tags it judged \(its first line has no rules digest\)' audit-no-digest-warning
run "$B" eval nohead.tsv
expect_rc 0 audit-no-rules-line-eval-scores-it

# too small, and labels the audit did not judge
"$B" audit ix.db --label sexual --per-stratum 4 --seed 1 -o tiny.tsv 2>/dev/null
fill tiny.tsv tinyf.tsv
run "$B" report ix.db --audit tinyf.tsv --format json -o tiny.json
check audit-too-small-is-said sh -c 'python3 -c "
import json,sys
r=json.load(open(\"tiny.json\"))
c=[s for s in r[\"skew\"] if s[\"group\"]==\"group.p\" and s[\"gender\"]==\"gender.female\"][0]
sys.exit(0 if c[\"corrected\"][\"rate\"][\"status\"]==\"audit too small\" else 1)"'
"$B" audit ix.db --label gender.female --per-stratum 30 --seed 1 -o gf.tsv 2>/dev/null
fill gf.tsv gff.tsv
run "$B" report ix.db --audit gff.tsv
expect_out 'NOTE: the audit has no judgements of .sexual.' audit-without-outcome-says-so
# a tagger with no information (Se + Sp <= 1): undefined, not a number
awk -F'\t' 'BEGIN{OFS="\t"} /^#/||$1=="audit_row"{print;next} {$4=($9=="tagged")?"n":"y"; print}' sheet.tsv > inverted.tsv
run "$B" eval inverted.tsv --json
check audit-undefined-when-se-sp-below-1 sh -c 'python3 -c "
import json,sys
e=json.load(open(\"out.txt\"))[\"labels\"][\"sexual\"]
sys.exit(0 if e[\"status\"]==\"undefined (Se + Sp <= 1)\" and e[\"corrected_share\"][\"value\"] is not None else 1)"'

# ---- the audit bound to the index it corrects ---------------------------------------
# A sheet drawn from an index scanned with other rules judged another
# tagger: the report puts a WARNING at its top (text, JSON, CSV) and
# exits 1; with the same rules, none.
{ cat t.rules; printf 'label stereotype.exoticising\n  match \\bexotic\\b\n'; } > t2.rules
run "$B" scan 'p*.tar' -o ix2.db -r t2.rules -q
run "$B" report ix2.db --audit filled.tsv
expect_rc 1 audit-other-rules-exit-1
expect_err 'WARNING: the audit judged the tags of other rules .* \(exit 1\)' audit-other-rules-stderr
check audit-other-rules-warning-on-top sh -c 'sed -n 3p out.txt | grep -q "^WARNING: the audit judged the tags of other rules"'
run "$B" report ix2.db --audit filled.tsv --format json -o w.json
expect_rc 1 audit-other-rules-json-exit-1
check audit-other-rules-json-warnings python3 -c '
import json, sys
r = json.load(open("w.json"))
sys.exit(0 if len(r["warnings"]) == 1 and "other rules" in r["warnings"][0] else 1)'
run "$B" report ix2.db --audit filled.tsv --format html -o w.html
check audit-other-rules-html-headline-says-so sh -c 'grep -q "<strong>WARNING:</strong> the audit judged the tags of other rules" w.html && grep -q "What the data says is not known here" w.html && ! grep -q "The data says" w.html'
run "$B" report ix2.db --audit filled.tsv --format csv -o w.csv
check audit-other-rules-csv-warning grep -q '^warning,.*other rules' w.csv
run "$B" report ix.db --audit filled.tsv --format json -o nw.json
expect_rc 0 audit-same-rules-exit-0
check audit-same-rules-no-warning python3 -c '
import json, sys
sys.exit(0 if json.load(open("nw.json"))["warnings"] == [] else 1)'
# A census (every sample judged) knows its own index exactly, but for
# another index it is a sample of how the tagger errs: there Se and Sp
# get an interval and the note says so.
# census captions: sultry (tagged and true), smouldering (missed), reading
census() { awk -v lo="$1" -v n="$2" 'BEGIN { for (i = lo; i < lo + n; i++)
	print (i % 5 == 0) ? "\"a sultry woman posing\"" : (i % 7 == 0) ? "\"a smouldering woman\"" : "\"a woman reading\"" }'; }
census 0 300 | python3 "$TOP/tests/cli/mktar.py" c1.tar
census 400 350 | python3 "$TOP/tests/cli/mktar.py" c2.tar
"$B" scan c1.tar -o c1.db -r t.rules -q >/dev/null 2>&1
"$B" scan c2.tar -o c2.db -r t.rules -q >/dev/null 2>&1
"$B" audit c1.db --label sexual --design simple --samples 300 -o census.tsv 2>/dev/null
awk -F'\t' 'BEGIN{OFS="\t"} /^#/ || $1=="audit_row" {print; next} {$4 = ($3 ~ /sultry|smouldering/) ? "y" : "n"; print}' census.tsv > censusf.tsv
run "$B" report c1.db --audit censusf.tsv --format json -o c1.json
expect_rc 0 audit-census-same-index
run "$B" report c2.db --audit censusf.tsv --format json -o c2.json
expect_rc 0 audit-census-other-index
check audit-census-exact-on-its-index-interval-elsewhere python3 -c '
import json, sys
a = json.load(open("c1.json"))["audit"]["nodes"]["sexual"]["sensitivity"]
b = json.load(open("c2.json"))["audit"]["nodes"]["sexual"]["sensitivity"]
ok = a["lo"] == a["hi"] == a["value"] and b["lo"] < b["value"] - 0.03 and b["hi"] > b["value"] + 0.03
sys.exit(0 if ok else 1)'
check audit-census-other-index-noted python3 -c '
import json, sys
sys.exit(0 if any("drawn from an index of 300" in n for n in json.load(open("c2.json"))["notes"]) else 1)'

# ---- the other designs --------------------------------------------------------------
run "$B" audit ix.db --label sexual,group.p --design tagged --per-stratum 20 --seed 2 -o tag.tsv
expect_rc 0 audit-design-tagged
check audit-design-tagged-only-tagged sh -c '! grep -q "	untagged	" tag.tsv && [ $(tail -n +3 tag.tsv | wc -l) -eq 40 ]'
fill tag.tsv tagf.tsv
run "$B" eval tagf.tsv
expect_out 'precision only \(no untagged rows\)' audit-design-tagged-precision-only
run "$B" audit ix.db --label sexual,gender.female --design simple --samples 50 --seed 2 -o simple.tsv
expect_rc 0 audit-design-simple
check audit-design-simple-every-label-per-sample sh -c "[ \$(tail -n +3 simple.tsv | wc -l) -eq 100 ] && [ \$(tail -n +3 simple.tsv | cut -f6,7 | sort -u | wc -l) -eq 50 ]"
run "$B" audit ix.db --label no.such.label
expect_rc 2 audit-unknown-label-is-usage
expect_err "no.such.label" audit-unknown-label-named

# ---- hostile captions: escaped for the TSV, the HTML and the terminal ------------------
python3 "$TOP/tests/cli/mktar.py" h.tar h <<'EOF'
"=HYPERLINK(\"http://x\")\tand a tab"
"<script>alert(1)</script> a sultry woman"
"line one\nline two sultry"
"esc \u001b[31m red sultry"
EOF
"$B" scan h.tar -o h.db -r t.rules -q >/dev/null 2>&1
run "$B" audit h.db --label sexual --per-stratum 10 -o h.tsv --html h.html
expect_rc 0 audit-hostile-draw
check audit-tsv-one-line-per-row sh -c '[ $(wc -l < h.tsv) -eq 6 ] && [ $(awk -F"\t" "{print NF}" h.tsv | sed -n "2,\$p" | sort -u) = 12 ]'
check audit-tsv-formula-neutralised grep -q "	'=HYPERLINK" h.tsv
check audit-tsv-no-raw-control sh -c '! tr -d "\t\n" < h.tsv | grep -q "[[:cntrl:]]"'
check audit-html-escapes-caption sh -c 'grep -q "&lt;script&gt;alert(1)&lt;/script&gt;" h.html && ! grep -q "<script>" h.html'

# ---- images on the HTML page: from plain tars, never for samples tagged age.* -----
run "$B" mkshards M --shards 1 --per-shard 400 --seed 2
run "$B" scan 'M/*.tar' -o m.db -q
run "$B" audit m.db --label gender.female --design tagged --per-stratum 15 -o mf.tsv --html mf.html
expect_rc 0 audit-images-draw
check audit-html-embeds-images sh -c '[ $(grep -o "data:image/jpeg;base64," mf.html | wc -l) -ge 10 ]'
check audit-html-image-is-a-jpeg python3 -c '
import base64, re, sys
m = re.search(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", open("mf.html").read())
sys.exit(0 if m and base64.b64decode(m.group(1))[:3] == b"\xff\xd8\xff" else 1)'
run "$B" audit m.db --label age.minor --design tagged --per-stratum 15 -o ma.tsv --html ma.html
check audit-html-no-image-of-minors sh -c '[ $(tail -n +3 ma.tsv | wc -l) -ge 5 ] && ! grep -q "data:image" ma.html'
run "$B" audit m.db --label gender.female --design tagged --per-stratum 15 -o mn.tsv --html mn.html --no-images
check audit-html-no-images-option sh -c '! grep -q "data:image" mn.html && cmp -s mf.tsv mn.tsv'
