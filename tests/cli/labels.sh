# tests/cli/labels.sh - the labelled splits and their tools
# (tests/eval/draw.py, tests/eval/agree.py, tests/eval/labels/):
# Cohen's kappa on a tiny pair of annotations worked out by hand; every
# labelled file well formed, no row combining age.minor with a sexual
# label; with the shared data, each split is exactly its seeded draw, the
# partition holds (tune, tune2 and tune3 even rows, heldout and heldout2
# odd, no row in two splits, no dev row), each second annotation is
# exactly its seeded sample, and every row where heldout's still differs
# from heldout is adjudicated.
. "$TOP/tests/cli/lib.sh"

ev=$TOP/tests/eval
labels=$ev/labels
py=$(find_python 'import hashlib, json, argparse')
if [ -z "$py" ]; then
	skip "labelled splits" "no python3"
	exit 0
fi

# ---- agree.py on a hand-made pair ------------------------------------
# sexual: (y,y) (n,y) (n,n) (n,n): po 3/4, pe (1*2 + 3*2)/16 = 1/2,
#   kappa (3/4 - 1/2) / (1/2) = 0.500
# gender: (-,-) x3, (female, female+male): po 3/4, pe 9/16,
#   kappa (3/4 - 9/16) / (7/16) = 0.429
# group: nobody uses it: agreement 1, kappa undefined ('-')
printf 'source\trow\tcaption\tlabels\tnote\n' > first.tsv
printf 'source\trow\tcaption\tlabels\tnote\n' > second.tsv
printf '%s\t%s\t%s\t%s\t\n' A 1 'c one' sexual.explicit A 2 'c two' '' \
	A 3 'c three' '' A 4 'c four' gender.female >> first.tsv
printf '%s\t%s\t%s\t%s\t\n' A 1 'c one' sexual.suggestive A 2 'c two' sexual.explicit \
	A 3 'c three' '' A 4 'c four' gender.female,gender.male >> second.tsv
run "$py" "$ev/agree.py" --list first.tsv second.tsv
expect_rc 0 "agree.py exits 0"
fam() { awk -v f="$1" '$1 == "all" && $2 == f { print $3, $4, $5 }' out.txt; }
want() {
	got=$(fam "$1")
	if [ "$got" = "$2" ]; then ok "agree.py $1: $3"; else bad "agree.py $1: $3" "got '$got', wanted '$2'"; fi
}
want sexual "4 0.750 0.500" "po 3/4, kappa 0.500"
want gender "4 0.750 0.429" "po 3/4, kappa 0.429 (female vs female+male differ)"
want group "4 1.000 -" "a family nobody uses: kappa undefined"
if [ "$(grep -c '^diff' out.txt)" -eq 2 ] && grep -q '^diff	A	2	' out.txt &&
	grep -q '^diff	A	4	' out.txt; then
	ok "agree.py --list: the two differing rows, not the one differing only inside a family"
else
	bad "agree.py --list: the two differing rows" "$(grep '^diff' out.txt)"
fi
sed 's/c four/c 4/' second.tsv > second-bad.tsv
run "$py" "$ev/agree.py" first.tsv second-bad.tsv
expect_rc 1 "agree.py refuses a row whose caption differs"
printf '%s\t%s\t%s\t%s\t\n' A 9 'c nine' '' >> second.tsv
run "$py" "$ev/agree.py" first.tsv second.tsv
expect_rc 1 "agree.py refuses a row the first file lacks"

# ---- every labelled file ---------------------------------------------
for f in tune.tsv tune2.tsv tune3.tsv heldout.tsv heldout2.tsv heldout.second.tsv heldout2.second.tsv; do
	run "$py" - "$labels/$f" <<'PY'
import sys
bad = []
with open(sys.argv[1], encoding="utf-8") as fh:
    for n, line in enumerate(fh, 1):
        fld = line.rstrip("\n").split("\t")
        if n == 1:
            if fld != ["source", "row", "caption", "labels", "note"]:
                bad.append("bad header")
            continue
        if len(fld) != 5:
            bad.append("line %d: %d columns" % (n, len(fld)))
            continue
        labs = [x for x in fld[3].split(",") if x]
        if labs != sorted(set(labs)):
            bad.append("line %d: labels not sorted and unique" % n)
        if "age.minor" in labs and any(x.startswith("sexual.") for x in labs):
            bad.append("line %d: age.minor with a sexual label" % n)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
	expect_rc 0 "$f: header, 5 columns, sorted labels, no age.minor with sexual.*"
done

# ---- against the caption files (shared data) -------------------------
data=$(shared captions)
if [ -z "$data" ] || [ -z "$(shared labels/dev.tsv)" ]; then
	skip "labelled splits are their seeded draws" "no shared data (set BALLAST_SHARED_DATA)"
	exit 0
fi
data=${data%/captions}
for s in tune tune2 tune3 heldout heldout2; do
	run "$py" "$ev/draw.py" --data "$data" "$s" --check "$labels/$s.tsv"
	expect_rc 0 "$s.tsv is exactly the $s draw"
done

run "$py" - "$ev" "$data" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import draw
data = sys.argv[2]
dev = draw.dev_rows(data)
splits = (("tune", 0), ("tune2", 0), ("tune3", 0), ("heldout", 1), ("heldout2", 1))
rows = {s: [(src, r) for src, r, _, _ in draw.draw(data, s)[0]] for s, _ in splits}
bad = []
for s, want in splits:
    bad += ["%s: %s row %d has the wrong parity" % (s, src, r) for src, r in rows[s] if r % 2 != want]
    bad += ["%s: %s row %d is in dev" % (s, src, r) for src, r in rows[s] if (src, r) in dev]
names = [s for s, _ in splits]
for i, a in enumerate(names):
    for b in names[i + 1:]:
        bad += ["%s repeats %s's %s row %d" % ((b, a) + k) for k in set(rows[a]) & set(rows[b])]
for s in rows:
    if len(rows[s]) != len(set(rows[s])):
        bad.append("%s draws a row twice" % s)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
expect_rc 0 "partition: tune, tune2, tune3 even, heldout, heldout2 odd, all disjoint, no dev row"

for s in heldout heldout2; do
	run "$py" "$ev/draw.py" --data "$data" $s --second "$labels/$s.tsv"
	if [ "$rc" -eq 0 ] && [ "$(cut -f1-3 "$labels/$s.second.tsv" | tail -n +2)" = "$out" ]; then
		ok "$s.second.tsv holds exactly the seeded second-annotation sample, in order"
	else
		bad "$s.second.tsv holds exactly the seeded second-annotation sample" "exit $rc"
	fi
done

# every row where the two annotations still differ is adjudicated as "no
# change", and every adjudicated change is in heldout.tsv
run "$py" - "$labels" <<'PY'
import sys
d = sys.argv[1]
def read(name):
    with open("%s/%s" % (d, name), encoding="utf-8") as f:
        rows = [l.rstrip("\n").split("\t") for l in f][1:]
    return rows
first = {(r[0], r[1]): r[3] for r in read("heldout.tsv")}
second = {(r[0], r[1]): r[3] for r in read("heldout.second.tsv")}
adj = {(r[0], r[1]): r for r in read("adjudication.tsv")}
bad = []
for k, lab in second.items():
    if first[k] != lab and (k not in adj or adj[k][5] != "no"):
        bad.append("%s row %s differs and is not adjudicated as kept" % k)
for k, r in adj.items():
    if len(r) != 7 or r[5] not in ("yes", "no") or not r[6]:
        bad.append("%s row %s: adjudication line malformed" % k)
    elif first.get(k) != r[4]:
        bad.append("%s row %s: heldout.tsv does not hold the adjudicated labels" % k)
    elif (r[5] == "yes") != (r[2] != r[4]):
        bad.append("%s row %s: 'changed' does not match first vs final" % k)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
expect_rc 0 "adjudication.tsv covers every remaining difference and heldout.tsv holds its decisions"
