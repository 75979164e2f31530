# tests/cli/report.sh - "ballast report": usage and exit codes, every
# format on a scanned synthetic set with a planted skew, the planted lift
# found again (against mkshards.json, the generator's own truth), the
# coverage of the lift interval over several seeds, and the HTML page
# rendered by headless Chromium when it is installed.
# tier: full (slow: `make check` skips it)
. "$TOP/tests/cli/lib.sh"

run "$B" report
expect_rc 2 report-no-index-is-usage
run "$B" report --help
expect_rc 0 report-help
expect_out '^usage: ballast report' report-help-text
run "$B" report x.db --format pdf
expect_rc 2 report-bad-format-is-usage
run "$B" report does-not-exist.db
expect_rc 3 report-missing-index-is-fatal
expect_err 'ballast report: .*does-not-exist.db' report-missing-index-message

# ---- a skewed synthetic set ---------------------------------------------
run "$B" mkshards D --shards 4 --per-shard 2500 --skew east_asian:female=3 --seed 7
expect_rc 0 report-mkshards
run "$B" scan 'D/*.tar' -o ix.db -q
expect_rc 0 report-scan
if [ ! -s ix.db ]; then
	bad report-index "scan wrote no index; the rest is skipped"
	exit 0
fi

run "$B" report ix.db
expect_rc 0 report-text
expect_out '^  samples +10000$' report-text-samples
expect_out 'group\.asian\.east +gender\.female +430 ' report-text-skew-row

run "$B" report ix.db --format csv -o r.csv
expect_rc 0 report-csv
check report-csv-header sh -c 'head -1 r.csv | grep -q "^table,shard,name,gender,rows,n,count,share,lo,hi,base,lift,lift_lo,lift_hi,odds_ratio,or_lo,or_hi,small,rest,rate_ratio,rr_lo,rr_hi,note$"'
check report-csv-rectangular sh -c 'awk -F, "{print NF}" r.csv | sort -u | grep -qx 23 && [ $(awk -F, "{print NF}" r.csv | sort -u | wc -l) -eq 1 ]'
check report-csv-per-shard sh -c '[ $(grep -c "^shard,D/0000[0-3].tar,samples," r.csv) -eq 4 ]'
check report-no-tmp-left sh -c '! ls ./*.tmp 2>/dev/null | grep -q .'

run "$B" report ix.db --format json --by group --given gender.female -o r.json
expect_rc 0 report-json
if python3 - r.json D/mkshards.json > py.out 2>&1 <<'EOF'
import json, math, sys
r = json.load(open(sys.argv[1]))
truth = json.load(open(sys.argv[2]))
for k in ("samples", "shards", "errors", "labels", "families", "skew", "per_shard", "blocked",
          "given", "by"):
    assert k in r, k
assert r["samples"] == 10000 and r["shards"] == 4, (r["samples"], r["shards"])
assert sum(s["samples"] for s in r["per_shard"]) == 10000
assert r["labels"]["gender.female"] <= r["families"]["gender"]
lifts = [s["lift"] for s in r["skew"] if s["lift"] is not None]
assert lifts == sorted(lifts, reverse=True), "skew not sorted by lift"
cell = [s for s in r["skew"] if s["group"] == "group.asian.east" and s["gender"] == "gender.female"]
assert len(cell) == 1
c = cell[0]
# the generator's realised truth for this set: rate in the cell / rate
# among all women (suggestive or explicit wording)
cells = truth["cells"]
def agg(f):
    n = sum(x["n"] for x in cells if f(x))
    e = sum(x["suggestive"] + x["explicit"] for x in cells if f(x))
    return n, e
n, e = agg(lambda x: x["gender"] == "female")
n2, e2 = agg(lambda x: x["gender"] == "female" and x["group"] == "east_asian")
true_lift = (e2 / n2) / (e / n)
print("planted 3, realised %.3f, measured %.3f [%.3f, %.3f], OR %.2f [%.2f, %.2f], n %d"
      % (true_lift, c["lift"], c["lift_lo"], c["lift_hi"], c["odds_ratio"], c["or_lo"],
         c["or_hi"], c["n"]))
assert abs(c["lift"] - true_lift) / true_lift < 0.05, "measured lift far from the truth"
assert c["lift_lo"] <= true_lift <= c["lift_hi"], "interval misses the realised lift"
assert 2.5 < c["lift"] < 4.0, "lift not near the planted 3"
assert c["lift_lo"] > 1 and c["or_lo"] > 1 and not c["small"]
assert r["skew"][0]["group"].startswith("group.asian")
assert r["given"]["samples"] == r["labels"]["gender.female"]
EOF
then ok report-json-planted-lift; cat py.out; else bad report-json-planted-lift "$(cat py.out)"; fi

# The interval's calibration: over ten seeds the planted factor 3 must lie
# inside the 95% lift interval nearly every time (>= 8 of 10; for a
# well-calibrated interval P(<= 7 of 10) is about 1%).  Seed 7 above is one
# of the unlucky draws: its realised lift is 3.51 and [3.05, 4.00] does not
# hold 3, which is why the check there is against the realised truth.
hits=0
for s in 1 2 3 4 5 6 8 9 10 11; do
	"$B" mkshards S$s --shards 2 --per-shard 2500 --skew east_asian:female=3 --seed $s >/dev/null 2>&1 &&
	"$B" scan "S$s/*.tar" -o s$s.db -q >/dev/null 2>&1 &&
	"$B" report s$s.db --format json -o s$s.json 2>/dev/null &&
	python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
c = [s for s in r["skew"] if s["group"] == "group.asian.east" and s["gender"] == "gender.female"][0]
sys.exit(0 if c["lift_lo"] <= 3 <= c["lift_hi"] else 1)' s$s.json && hits=$((hits + 1))
	rm -rf S$s
done
if [ $hits -ge 8 ]; then ok "report-lift-interval-covers-3 ($hits/10)"; else bad report-lift-interval-covers-3 "only $hits of 10 intervals hold 3"; fi

run "$B" report ix.db --given gender.female,no.such.label
expect_rc 2 report-unknown-given-is-usage
expect_err "no.such.label" report-unknown-given-message
run "$B" report ix.db --by nosuchfamily
expect_rc 2 report-unknown-by-is-usage

# ---- HTML ----------------------------------------------------------------
run "$B" report ix.db --format html -o r.html --title 'Synthetic <set> & co'
expect_rc 0 report-html
check report-html-one-file sh -c '[ -s r.html ] && [ $(ls r.html* | wc -l) -eq 1 ]'
check report-html-svg grep -q '<svg' r.html
check report-html-no-external sh -c '! grep -Eiq "(src|href)[[:space:]]*=|<script|<link|@import|url\(" r.html'
check report-html-escapes-title grep -q 'Synthetic &lt;set&gt; &amp; co' r.html
check report-html-skew-row grep -q 'group.asian.east</td><td class="l">gender.female' r.html
run "$B" report ix.db --format html -o r2.html --title 'Synthetic <set> & co'
check report-html-deterministic cmp -s r.html r2.html

if [ -x /usr/bin/chromium ]; then
	prof=$(mktemp -d)
	timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu \
		--disable-background-networking --disable-component-update --disable-sync \
		--no-first-run --user-data-dir="$prof" --screenshot="$PWD/shot.png" \
		--window-size=1200,2000 "file://$PWD/r.html" > chromium.log 2>&1
	rm -rf "$prof"
	# a PNG, and not a blank page: a blank 1200x2000 PNG is a few KB
	if [ -s shot.png ] && head -c 8 shot.png | od -An -c | grep -q 'P   N   G' &&
	   [ $(wc -c < shot.png) -gt 50000 ]; then
		ok report-html-renders-in-chromium
	else
		bad report-html-renders-in-chromium "no or trivial screenshot: $(tail -3 chromium.log)"
	fi
else
	skip report-html-renders-in-chromium "/usr/bin/chromium is not installed"
fi

# ---- issue 11: the headline compares with the OTHER captions of the gender --
if python3 - r.json r.html > head.out 2>&1 <<'EOF2'
import json, re, sys
r = json.load(open(sys.argv[1]))
html = open(sys.argv[2]).read()
c = [s for s in r["skew"] if s["group"] == "group.asian.east" and s["gender"] == "gender.female"][0]
# the rest of the women: all women minus the cell
assert abs(c["rate"] / c["rest_rate"] - c["rate_ratio"]) < 1e-3 * c["rate_ratio"]
assert c["rest_rate"] < c["base_rate"] and c["rate_ratio"] > c["lift"]
m = re.search(r"carry sexual wording <b>([0-9.]+)&#215;</b> as often as the other captions "
              r"of that gender \(95% CI [0-9.]+&#8211;[0-9.]+\): ([0-9.]+)% against ([0-9.]+)%", html)
assert m, "no headline"
print("headline %s x, %s%% against %s%%; JSON rate ratio %.4f, lift %.4f" %
      (m.group(1), m.group(2), m.group(3), c["rate_ratio"], c["lift"]))
lead = max((s for s in r["skew"] if s["gender"] and not s["small"] and s["rr_lo"] > 1),
           key=lambda s: s["rate_ratio"])
assert abs(float(m.group(1)) - lead["rate_ratio"]) < 0.006
assert abs(float(m.group(3)) - 100 * lead["rest_rate"]) < 0.06
EOF2
then ok report-headline-against-the-rest; cat head.out; else bad report-headline-against-the-rest "$(cat head.out)"; fi

# every cell small: the headline says so instead of nothing
run "$B" report ix.db --format html -o small.html --min-cell 1000000
check report-headline-all-small grep -q '<b>No finding: every one of the [0-9]* group cells is too small to read alone</b>' small.html

# ---- issue 12: shard names that are formulas or carry control bytes ------------
mkdir -p evil
cp D/00000.tar 'evil/=HYPERLINK("x.example","y").tar'
esc=$(printf '\033[31mred\t.tar')
cp D/00001.tar "evil/$esc"
(cd evil && "$B" scan '=HYPERLINK("x.example","y").tar' "$esc" -o ../evil.db -q) > /dev/null 2>&1
run "$B" report evil.db --format csv -o evil.csv
check report-csv-formula-neutralised grep -q "^shard,\"'=HYPERLINK(\"\"x.example\"\",\"\"y\"\").tar\",samples," evil.csv
check report-csv-no-formula-cell sh -c '! grep -q "^shard,=" evil.csv && ! grep -q ",\"=" evil.csv'
check report-csv-still-rectangular sh -c 'python3 -c "
import csv,sys
rows=list(csv.reader(open(\"evil.csv\")))
sys.exit(0 if len({len(r) for r in rows})==1 and len(rows[0])==23 else 1)"'
run "$B" report evil.db --format html -o evil.html
check report-html-control-bytes-shown sh -c '! grep -q "$(printf "\033")" evil.html && grep -q "\\\\x1b\[31mred" evil.html && grep -q "=HYPERLINK(&quot;x.example&quot;" evil.html'
run "$B" report evil.db --format json -o evil.json
check report-json-control-bytes-escaped sh -c '! grep -q "$(printf "\033")" evil.json && python3 -c "import json; json.load(open(\"evil.json\"))"'
cp evil.db "$esc.db"
run "$B" report "$esc.db"
check report-text-no-raw-escape sh -c '! grep -q "$(printf "\033")" out.txt && grep -q "^ballast report of \\\\x1b\[31mred\\\\x09.tar.db" out.txt'
run "$B" report "$esc-missing.db"
check report-error-no-raw-escape sh -c '! grep -q "$(printf "\033")" err.txt && grep -q "x1b" err.txt'

# ---- issue 11: captions the filters could not read (any caption.* label) -------
cat > unread.rules <<'EOF2'
# test rules: caption.* labels for captions the other rules cannot judge
label caption.other_language
  match \b(?:der|und|una|les)\b
label caption.too_short
  match ^\S+$
label gender.female
  match \bwoman\b
EOF2
printf 'a woman\nder Hund und die Katze\nuna casa\nhello\nanother woman smiling\n' > unread.txt
python3 - <<'EOF2'
import io, tarfile
lines = open("unread.txt").read().splitlines()
with tarfile.open("unread.tar", "w", format=tarfile.USTAR_FORMAT) as t:
    for i, c in enumerate(lines):
        d = c.encode(); ti = tarfile.TarInfo("u%02d.txt" % i); ti.size = len(d)
        t.addfile(ti, io.BytesIO(d))
EOF2
run "$B" scan unread.tar -o unread.db -r unread.rules -q
run "$B" report unread.db --format html -o unread.html
check report-html-unread-headline grep -q '<b>60.0% of captions (3) could not be read by the filters</b>: 40.0% of captions are in languages the filters do not cover (<code>caption.other_language</code>); 20.0% of captions are too short to judge' unread.html
run "$B" report unread.db
expect_out '^unread: 60.00% of captions \(3\) carry a caption\.\* label' report-text-unread

# ---- issue 13: a round trip of a weighted manifest reports the AFTER shares --------
run "$B" rebalance ix.db -p "$TOP/manifests/policies/deskew-sexualisation.policy" -o rb --seed 3
expect_rc 0 report-weighted-rebalance
run "$B" write rb -o rbw -q
expect_rc 0 report-weighted-write
run "$B" scan 'rbw/*.tar' -o rbw.db -q
expect_rc 0 report-weighted-scan
run "$B" report rbw.db --format json -o rbw.json
run "$B" report --manifest rb ix.db --format json -o rbm.json
if python3 - rbw.json rbm.json > w.out 2>&1 <<'EOF2'
import json, sys
got = json.load(open(sys.argv[1]))
mf = json.load(open(sys.argv[2]))
assert got["weighted"] is True, "not weighted"
assert any("weighted by ballast_weight" in n for n in got["notes"])
after, before = mf["after"]["shares"], mf["before"]["shares"]
worst = 0
for name, s in after.items():
    g = got["shares"].get(name, {"share": 0})["share"]
    worst = max(worst, abs(g - s["share"]))
def lift(side):
    return [x for x in side if x["group"] == "group.asian.east" and x["gender"] == "gender.female"][0]["lift"]
l_got, l_after, l_before = lift(got["skew"]), lift(mf["after"]["skew"]), lift(mf["before"]["skew"])
print("largest share difference from the manifest's after: %.2g; east-asian women's lift: "
      "report of the written shards %.4f, manifest after %.4f, before %.4f" % (worst, l_got, l_after, l_before))
assert worst < 2e-5, worst
assert abs(l_got - l_after) < 1e-4 and abs(l_before - l_after) > 1, "lift not the after one"
EOF2
then ok report-weighted-round-trip-equals-after; cat w.out; else bad report-weighted-round-trip-equals-after "$(cat w.out)"; fi
run "$B" report rbw.db
expect_out '^NOTE: weighted by ballast_weight' report-weighted-text-note

# a bad ballast_weight is an item error with weight 1
python3 - <<'EOF2'
import io, json, tarfile
with tarfile.open("badw.tar", "w", format=tarfile.USTAR_FORMAT) as t:
    for i, w in enumerate([2.0, -1, "x", 1e400, 0.5]):
        for ext, d in (("txt", b"a woman"), ("json", ('{"ballast_weight": %s}' % (json.dumps(w) if w != 1e400 else "1e400")).encode())):
            ti = tarfile.TarInfo("b%02d.%s" % (i, ext)); ti.size = len(d)
            t.addfile(ti, io.BytesIO(d))
EOF2
run "$B" scan badw.tar -o badw.db
expect_rc 1 report-bad-weight-is-item-error
expect_err "field 'ballast_weight' is .*\\(ignored\\)" report-bad-weight-message
check report-bad-weight-count sh -c '[ $(grep -c "field .ballast_weight. is" err.txt) -eq 3 ]'
check report-weights-stored sh -c '[ "$(sqlite3 badw.db "select group_concat(ifnull(weight,1)) from (select weight from samples order by ordinal)")" = "2.0,1,1,1,0.5" ]'

# ---- chart labels stay inside the SVG, measured with a real font ----------------
cat > long.rules <<'EOF2'
label gender.female_described_with_a_rather_long_label_name
  match \bwoman\b
label group.an_extraordinarily_long_group_label_name_that_goes_on_and_on
  match \bzorblan\b
label group.w
  match \bwug\b
label sexual.s
  match \bsultry\b
EOF2
python3 - <<'EOF2'
import io, tarfile
caps = ["a zorblan woman"] * 40 + ["a sultry zorblan woman"] * 12 + ["a wug woman"] * 40 + ["a sultry wug woman"] * 3
with tarfile.open("long.tar", "w", format=tarfile.USTAR_FORMAT) as t:
    for i, c in enumerate(caps):
        d = c.encode(); ti = tarfile.TarInfo("l%03d.txt" % i); ti.size = len(d)
        t.addfile(ti, io.BytesIO(d))
EOF2
run "$B" scan long.tar -o long.db -r long.rules -q
run "$B" report long.db --format html -o long.html
py=$(find_python 'from PIL import ImageFont; ImageFont.truetype("DejaVuSans-Bold.ttf", 13)')
if [ -z "$py" ]; then
	skip report-html-labels-inside-svg "no python3 with PIL and the DejaVu fonts"
elif $py - long.html r.html > fit.out 2>&1 <<'EOF2'
import html, re, sys
from PIL import ImageFont
fonts = {}
def width(text, size, bold):
    # the widest of the fonts a browser may pick here, bold or not
    w = 0
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        key = (name, size)
        if key not in fonts:
            fonts[key] = ImageFont.truetype(name, size)
        w = max(w, fonts[key].getlength(text))
    return w
n = bad = 0
for path in sys.argv[1:]:
    doc = open(path).read()
    for svg in re.finditer(r'<svg width="([0-9.]+)"(.*?)</svg>', doc, re.S):
        W = float(svg.group(1))
        for t in re.finditer(r'<text x="([0-9.]+)"([^>]*)>(.*?)</text>', svg.group(2), re.S):
            x, attrs = float(t.group(1)), t.group(2)
            size = float(re.search(r'font-size="([0-9.]+)"', attrs).group(1))
            text = html.unescape(re.sub(r"<[^>]+>", "", t.group(3)))
            w = width(text, int(round(size)), "font-weight" in attrs)
            if 'text-anchor="end"' in attrs:
                lo, hi = x - w, x
            elif 'text-anchor="middle"' in attrs:
                lo, hi = x - w / 2, x + w / 2
            else:
                lo, hi = x, x + w
            n += 1
            if lo < 0 or hi > W:
                bad += 1
                print("outside: %r [%.0f, %.0f] in width %.0f (%s)" % (text, lo, hi, W, path))
print("%d texts measured in DejaVu Sans, %d outside their SVG" % (n, bad))
sys.exit(1 if bad or n < 50 else 0)
EOF2
then ok report-html-labels-inside-svg; tail -1 fit.out; else bad report-html-labels-inside-svg "$(tail -5 fit.out)"; fi
