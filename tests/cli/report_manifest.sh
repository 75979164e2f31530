# tests/cli/report_manifest.sh - "ballast report --manifest": before and
# after the deskew policy on a set with a planted 3x skew.  The after-lift
# of East Asian women must be ~1 where the before-lift is > 2; the cost
# must be manifest.json's; the weighted label counts must be what python
# sums from the JSON lines; every format runs; the page is self-contained;
# a missing, damaged or foreign manifest is fatal (exit 3).
. "$TOP/tests/cli/lib.sh"
P="$TOP/manifests/policies"

run "$B" report --manifest does-not-exist ix.db
expect_rc 3 rmf-missing-manifest-is-fatal
expect_err "does-not-exist/manifest.json" rmf-missing-manifest-names-file

run "$B" mkshards D --shards 4 --per-shard 2500 --skew east_asian:female=3 --seed 3 --image-size 16
expect_rc 0 rmf-mkshards
run "$B" scan 'D/*.tar' -o ix.db -q
expect_rc 0 rmf-scan
run "$B" rebalance ix.db -p "$P/deskew-sexualisation.policy" -o out
expect_rc 0 rmf-rebalance
if [ ! -s out/manifest.json ]; then
	bad rmf-manifest "rebalance wrote no manifest; the rest is skipped"
	exit 0
fi

run "$B" report --manifest out
expect_rc 0 rmf-uses-the-index-the-manifest-records
expect_out "index .*ix.db" rmf-names-the-recorded-index
# a manifest that does not say where its index is needs INDEX.db
cp -r out noidx
python3 -c "import json,sys; p=sys.argv[1]; d=json.load(open(p)); d.pop('index'); json.dump(d, open(p,'w'))" noidx/manifest.json
run "$B" report --manifest noidx
expect_rc 2 rmf-no-index-recorded-is-usage
expect_err "does not record its index" rmf-no-index-message
run "$B" report --manifest out ix.db --by group
expect_rc 2 rmf-by-is-usage

run "$B" report --manifest out ix.db
expect_rc 0 rmf-text
expect_out '^  effective sample size +10000.0 -> 98' rmf-text-ess
expect_out '^  group.asian.east +gender.female +474 -> 474 ' rmf-text-skew-row
expect_out 'all agree$' rmf-text-checks-agree

run "$B" report --manifest out ix.db --format csv -o m.csv
expect_rc 0 rmf-csv
check rmf-csv-header sh -c 'head -1 m.csv | grep -qx "table,name,gender,before,before_lo,before_hi,after,after_lo,after_hi"'
check rmf-csv-rectangular sh -c '[ $(awk -F, "{print NF}" m.csv | sort -u | wc -l) -eq 1 ]'

run "$B" report --manifest out ix.db --format json -o m.json
expect_rc 0 rmf-json
if python3 - m.json out > py.out 2>&1 <<'PY'
import json, sys, glob
r = json.load(open(sys.argv[1]))
d = sys.argv[2]
m = json.load(open(d + "/manifest.json"))
s = m["summary"]
def g6(x):
    return float("%.6g" % x)
for k in ("before", "after", "cost", "policy", "checks", "agree"):
    assert k in r, k
for k in ("ess_before", "ess_after", "dropped", "repeated", "max_weight", "tv_distance",
          "max_share_error"):
    assert k in r["cost"], k
def cell(side):
    c = [x for x in r[side]["skew"] if x["group"] == "group.asian.east" and x["gender"] == "gender.female"]
    assert len(c) == 1, side
    return c[0]
b, a = cell("before"), cell("after")
print("east-asian women: lift %.3f [%.3f, %.3f] -> %.3f [%.3f, %.3f]"
      % (b["lift"], b["lift_lo"], b["lift_hi"], a["lift"], a["lift_lo"], a["lift_hi"]))
assert b["lift"] > 2, b
assert 0.9 <= a["lift"] <= 1.1, a
assert a["lift_lo"] <= 1 <= a["lift_hi"], a
# the cost is the manifest's
c = r["cost"]
print("ESS %s -> %s, max weight %s, dropped %s" % (c["ess_before"], c["ess_after"], c["max_weight"], c["dropped"]))
assert c["ess_after"] == g6(s["ess_after"]), (c["ess_after"], s["ess_after"])
assert c["ess_before"] == g6(s["ess_before"])
assert c["max_weight"] == g6(s["largest_weight"])
assert c["dropped"] == s["excluded"] and c["repeated"] == s["repeated"]
assert c["tv_distance"] == g6(s["tv_distance"]) and c["max_share_error"] == g6(s["max_abs_share_error"])
assert r["policy"]["sha256"] == m["policy"]["sha256"] and r["policy"]["text"] == m["policy"]["text"]
assert r["policy"]["seed"] == str(m["seed"])
# after counts are the weighted sums of the JSON lines
w = {}
n = 0
for f in sorted(glob.glob(d + "/shards/*.jsonl")):
    for line in open(f):
        e = json.loads(line)
        n += 1
        for l in e["labels"]:
            w[l] = w.get(l, 0.0) + e["weight"]
assert r["after"]["samples"] == n == s["written"]
for l, v in r["after"]["labels"].items():
    want = w.get(l, 0.0)
    assert abs(v - want) <= 1e-5 * max(1.0, want), (l, v, want)
for l in w:
    assert l in r["after"]["labels"], l
# before counts are the index's (unweighted)
assert sum(1 for _ in open(d + "/shards/00000.jsonl")) > 0
assert r["before"]["samples"] == 10000 and r["before"]["labels"]["gender.female"] == int(r["before"]["labels"]["gender.female"])
assert r["agree"] is True and all(k["agree"] for k in r["checks"]), r["checks"]
PY
then ok rmf-json-before-after; cat py.out; else bad rmf-json-before-after "$(cat py.out)"; fi

run "$B" report --manifest out ix.db --format html -o m.html --title 'deskew <run> & co'
expect_rc 0 rmf-html
check rmf-html-svg grep -q '<svg' m.html
check rmf-html-no-external sh -c '! grep -Eiq "(src|href)[[:space:]]*=|<script|<link|@import|url\(" m.html'
check rmf-html-escapes-title grep -q 'deskew &lt;run&gt; &amp; co' m.html
check rmf-html-hollow-and-filled sh -c 'grep -q "fill=\"#fff\" stroke=" m.html && grep -q "before (index)" m.html'
run "$B" report --manifest out ix.db --format html -o m2.html --title 'deskew <run> & co'
check rmf-html-deterministic cmp -s m.html m2.html

# a disagreement between the summary and the lines: the report is out,
# the disagreement at its top, exit 1
cp -r out bent
python3 - bent/manifest.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["summary"]["ess_after"] += 50
json.dump(m, open(sys.argv[1], "w"), indent="\t")
PY
run "$B" report --manifest bent ix.db
expect_rc 1 rmf-disagreement-exits-1
expect_out '^  DIFF ESS after' rmf-disagreement-shown
check rmf-disagreement-at-the-top sh -c 'sed -n 3p out.txt | grep -q "^DISAGREEMENT: " && sed -n 4p out.txt | grep -q "DIFF *ESS after: manifest"'
expect_err "summary disagrees" rmf-disagreement-on-stderr
run "$B" report --manifest bent ix.db --format json -o bent.json
expect_rc 1 rmf-disagreement-json-exits-1
if python3 -c 'import json,sys; r=json.load(open("bent.json")); k=list(r); assert r["ok"] is False and k.index("problems") < k.index("cost"), k; assert any(p["check"]=="ESS after" and p["status"]=="disagrees" for p in r["problems"]), r["problems"]' 2> py.err
then ok rmf-disagreement-json-top; else bad rmf-disagreement-json-top "$(cat py.err)"; fi
run "$B" report --manifest bent ix.db --format html -o bent.html
expect_rc 1 rmf-disagreement-html-exits-1
check rmf-disagreement-html-before-cards python3 -c 'import sys; h=open("bent.html").read(); d=h.find("DISAGREEMENT"); sys.exit(not (0 <= d < h.find("class=\"cards\"")))'

# damaged manifests: exit 3 with the file named
cp -r out broken1
printf '{"format_version": 1, "summary": ' > broken1/manifest.json
run "$B" report --manifest broken1 ix.db
expect_rc 3 rmf-bad-json-is-fatal
expect_err "broken1/manifest.json" rmf-bad-json-names-file
cp -r out broken2
sed -i '3s/.*/{"key": 7}/' broken2/shards/00001.jsonl
run "$B" report --manifest broken2 ix.db
expect_rc 3 rmf-bad-line-is-fatal
expect_err "broken2/shards/00001.jsonl' line 3" rmf-bad-line-names-file-and-line
rm -f broken2/shards/00002.jsonl
run "$B" report --manifest broken2 ix.db
expect_rc 3 rmf-missing-list-is-fatal

# a manifest of another index
run "$B" mkshards E --shards 1 --per-shard 200 --seed 5 --image-size 16
run "$B" scan 'E/*.tar' -o other.db -q
run "$B" report --manifest out other.db
expect_rc 3 rmf-foreign-index-is-fatal
expect_err "shard 'D/00000.tar' is not in the index 'other.db'" rmf-foreign-index-message

# upsampling: repeats are counted and checked
sed 's/^realise weights/realise upsample/' "$P/deskew-sexualisation.policy" > up.policy
run "$B" rebalance ix.db -p up.policy -o up --seed 4
run "$B" report --manifest up ix.db --format json -o up.json
expect_rc 0 rmf-upsample
if python3 - up.json up/manifest.json > py.out 2>&1 <<'PY'
import json, sys
r, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert r["cost"]["repeated"] == m["summary"]["repeated"] > 0
names = [k["name"] for k in r["checks"]]
assert "repeated" in names and r["agree"], r["checks"]
print("upsample: %d repeated, max weight %s" % (r["cost"]["repeated"], r["cost"]["max_weight"]))
PY
then ok rmf-upsample-repeats; cat py.out; else bad rmf-upsample-repeats "$(cat py.out)"; fi
