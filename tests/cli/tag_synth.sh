# tests/cli/tag_synth.sh - the shipped filters on the synthetic demo's
# captions (ballast mkshards): every count of its truth table is found
# (gendered people, each group, minors, sexualised wording), and a caption
# that describes a person is never read as a listing, a title or a name.
# The only captions read as listings are its object scenes that are ones
# ("hot sale: summer sandals 50% off", "nude heels on sale, size 38").
. "$TOP/tests/cli/lib.sh"

run "$B" mkshards syn --shards 1 --per-shard 4000 --image-size 16 --seed 7
expect_rc 0 "mkshards for the tag check"
mkdir -p ex && tar -xf syn/00000.tar -C ex
# captions in key order, one a line (they hold no line breaks)
for f in ex/*.txt; do cat "$f"; echo; done > caps.txt
run "$B" tag < caps.txt
expect_rc 0 "tag the synthetic captions"
paste -d'\t' out.txt caps.txt > tagged.txt

# text.* labels only on the object scenes that are listings
bad=$(awk -F'\t' '$1 ~ /text\./ && $2 != "hot sale: summer sandals 50% off" && $2 != "nude heels on sale, size 38"' tagged.txt | head -5)
if [ -z "$bad" ]; then ok "no person caption is a listing, title or name"; else bad "no person caption is a listing, title or name" "$bad"; fi
n=$(awk -F'\t' '$2 == "hot sale: summer sandals 50% off" || $2 == "nude heels on sale, size 38"' tagged.txt | wc -l)
m=$(awk -F'\t' '($2 == "hot sale: summer sandals 50% off" || $2 == "nude heels on sale, size 38") && $1 ~ /text\.listing/' tagged.txt | wc -l)
if [ "$n" -gt 0 ] && [ "$n" -eq "$m" ]; then ok "the listing scenes are listings ($m)"; else bad "the listing scenes are listings" "$m of $n"; fi

# the truth table's counts
py=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import json' 2>/dev/null; then py=$p; break; fi
done
if [ -z "$py" ]; then
	skip "tags count the truth table" "no python3 to read mkshards.json"
	exit 0
fi
if "$py" - syn/mkshards.json tagged.txt > cmp.txt <<'PY'
import json, sys
truth = json.load(open(sys.argv[1]))
want = {"gender.female": 0, "gender.male": 0, "age.minor": truth["minors"],
        "sexual.suggestive": 0, "sexual.explicit": 0}
groups = {"east_asian": "group.asian.east", "southeast_asian": "group.asian.southeast",
          "south_asian": "group.asian.south", "black": "group.black", "white": "group.white",
          "latino": "group.latino", "middle_eastern": "group.middle_eastern"}
for c in truth["cells"]:
    if c["gender"] != "none":
        want["gender." + c["gender"]] += c["n"]
    if c["group"] in groups:
        want[groups[c["group"]]] = want.get(groups[c["group"]], 0) + c["n"]
    want["sexual.suggestive"] += c["suggestive"]
    want["sexual.explicit"] += c["explicit"]
got = {}
for line in open(sys.argv[2]):
    for l in line.split("\t")[0].split(","):
        got[l] = got.get(l, 0) + 1
bad = [f"{k}: tagged {got.get(k, 0)}, truth {v}" for k, v in sorted(want.items()) if got.get(k, 0) != v]
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
then ok "tags count the truth table (gender, groups, minors, sexual wording)"
else bad "tags count the truth table (gender, groups, minors, sexual wording)" "$(cat cmp.txt)"; fi
