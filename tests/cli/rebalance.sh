# tests/cli/rebalance.sh - "ballast rebalance": the deskew policy on a
# skewed synthetic set (rates checked from the manifest's own weights),
# reproducibility, seeds, policy errors with line and column, impossible
# targets, --force, --json, and the example manifest against the schema
# rules of manifests/FORMAT.md.
# tier: full (slow: `make check` skips it)
. "$TOP/tests/cli/lib.sh"
P="$TOP/manifests/policies"

run "$B" rebalance
expect_rc 2 rebalance-no-index-is-usage
run "$B" rebalance x.db
expect_rc 2 rebalance-no-policy-is-usage
run "$B" rebalance --help
expect_rc 0 rebalance-help
expect_out '^usage: ballast rebalance' rebalance-help-text

# ---- bad policies: FILE:LINE:COL -------------------------------------
printf '# ok\ncap lots per group\n' > bad1.policy
run "$B" rebalance x.db -p bad1.policy
expect_rc 2 rebalance-bad-policy-exit
expect_err 'bad1.policy:2:5: expected a positive integer N' rebalance-bad-policy-line-col
printf 'drop sexual.explicit & (group.black\n' > bad2.policy
run "$B" rebalance x.db -p bad2.policy
expect_err "bad2.policy:1:24: unclosed '\\('" rebalance-bad-expr-line-col
printf 'seed 1\ntarget group group.black=0.6 group.white=0.6\n' > bad3.policy
run "$B" rebalance x.db -p bad3.policy
expect_err 'bad3.policy:2:14: the label shares sum to 1.2' rebalance-bad-shares-line-col
for f in "$P"/*.policy; do
	run "$B" rebalance does-not-exist.db -p "$f"
	# the policy parses (the failure is the missing index, exit 3)
	expect_rc 3 "rebalance-shipped-$(basename "$f" .policy)-parses"
done

# ---- a skewed synthetic set --------------------------------------------
run "$B" mkshards sh --shards 4 --per-shard 5000 --skew east_asian:female=3 --seed 11
expect_rc 0 rebalance-mkshards
run "$B" scan 'sh/*.tar' -o ix.db
if [ "$rc" -ne 0 ] || [ ! -s ix.db ]; then
	bad rebalance-scan "scan failed: $(head -c 300 err.txt)"
	exit 0
fi

run "$B" rebalance ix.db -p "$P/deskew-sexualisation.policy" -o out1
expect_rc 0 rebalance-deskew-runs
expect_out '^effective sample size +20000.0 -> ' rebalance-deskew-prints-ess
if python3 - out1 > py.txt 2>&1 <<'PY'
import json, sys, glob
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
def rate(rows, cond):
    w = sum(r["weight"] for r in rows if cond(r))
    s = sum(r["weight"] for r in rows if cond(r) and any(l.startswith("sexual.") for l in r["labels"]))
    return s / w
rows = [json.loads(l) for f in sorted(glob.glob(d + "/shards/*.jsonl")) for l in open(f)]
raw = lambda c: (sum(1 for r in rows if c(r) and any(l.startswith("sexual.") for l in r["labels"])) / sum(1 for r in rows if c(r)))
fem = lambda r: "gender.female" in r["labels"]
ea = lambda r: fem(r) and "group.asian.east" in r["labels"]
before = (raw(ea), raw(fem))
after = (rate(rows, ea), rate(rows, fem))
print("before: east-asian women %.4f, all women %.4f" % before)
print("after:  east-asian women %.4f, all women %.4f" % after)
s = m["summary"]
print("ESS %.1f -> %.1f" % (s["ess_before"], s["ess_after"]))
assert before[0] > before[1] + 0.05, before        # the planted skew is there
assert abs(after[0] - after[1]) < 0.01, after       # and gone after weighting
assert s["ess_after"] < s["ess_before"] and s["ess_after"] > 0.8 * s["ess_before"]
assert len(rows) == s["written"] and abs(sum(r["weight"] for r in rows) - s["weight_sum"]) < 1e-3 * s["written"]
assert m["policy"]["sha256"] and len(m["inputs"]) == 4 and all(len(i["sha256"]) == 64 for i in m["inputs"])
PY
then ok rebalance-deskew-rates; cat py.txt; else bad rebalance-deskew-rates "$(cat py.txt)"; fi

# reruns are byte-identical; weights do not depend on the seed
run "$B" rebalance ix.db -p "$P/deskew-sexualisation.policy" -o out2
check rebalance-rerun-identical diff -r out1 out2
run "$B" rebalance ix.db -p "$P/deskew-sexualisation.policy" -o out3 --seed 99
check rebalance-weights-seed-free diff -r out1/shards out3/shards
run "$B" rebalance ix.db -p "$P/deskew-sexualisation.policy" -o out1
expect_rc 3 rebalance-existing-out-refused
expect_err "exists" rebalance-existing-out-message
run "$B" rebalance ix.db -p "$P/deskew-sexualisation.policy" -o out1 --force --no-digest
expect_rc 0 rebalance-force-replaces
if grep -q '"sha256":	null' out1/manifest.json; then ok rebalance-no-digest-null; else bad rebalance-no-digest-null "no null digest"; fi
ls -d out1.tmp-* > /dev/null 2>&1 && bad rebalance-no-temp-left "temporary directory left" || ok rebalance-no-temp-left

# sampled realisations: same seed identical, another seed differs
sed 's/^realise weights/realise upsample/' "$P/deskew-sexualisation.policy" > up.policy
run "$B" rebalance ix.db -p up.policy -o up1 --seed 4
run "$B" rebalance ix.db -p up.policy -o up2 --seed 4
check rebalance-upsample-same-seed diff -r up1 up2
run "$B" rebalance ix.db -p up.policy -o up3 --seed 5
if diff -rq up1/shards up3/shards > /dev/null; then bad rebalance-upsample-seed-matters "seeds 4 and 5 gave the same draws"; else ok rebalance-upsample-seed-matters; fi
expect_out '^repeated ' rebalance-upsample-prints-repeats

# impossible target: a plan that cannot be made (exit 1) and a message
# naming the policy line
printf 'target group group.indigenous=0.2\n' > imp.policy
run "$B" rebalance ix.db -p imp.policy
expect_rc 1 rebalance-impossible-target-exit
expect_err "imp.policy:1: impossible target: label 'group.indigenous'" rebalance-impossible-target-message

# --json prints the summary
run "$B" rebalance ix.db -p "$P/metaclip-cap.policy" --json
expect_rc 0 rebalance-json-runs
if python3 -c 'import json; s=json.load(open("out.txt")); assert s["realise"]=="downsample" and s["rules"][0]["kind"]=="cap"' 2> err.py
then ok rebalance-json-parses; else bad rebalance-json-parses "$(cat err.py)"; fi

# ---- the example manifest follows the schema's rules -------------------
if python3 - "$TOP/manifests/examples/tiny" "$TOP/manifests/manifest.schema.json" > py.txt 2>&1 <<'PY'
import json, sys, glob
d, schema = sys.argv[1], json.load(open(sys.argv[2]))
m = json.load(open(d + "/manifest.json"))
types = {"string": str, "integer": int, "number": (int, float), "array": list, "object": dict, "null": type(None), "boolean": bool}
def check(obj, sch, where):
    for k in sch.get("required", []):
        assert k in obj, "%s: missing %s" % (where, k)
    for k, sub in sch.get("properties", {}).items():
        if k not in obj:
            continue
        t = sub.get("type")
        if t:
            ts = t if isinstance(t, list) else [t]
            ok = any(isinstance(obj[k], types[x]) and not (x in ("integer", "number") and isinstance(obj[k], bool)) for x in ts)
            if "integer" in ts and isinstance(obj[k], float):
                ok = obj[k] == int(obj[k])
            assert ok, "%s.%s: %r is not %s" % (where, k, obj[k], t)
        if "const" in sub:
            assert obj[k] == sub["const"], (where, k)
        if "enum" in sub:
            assert obj[k] in sub["enum"], (where, k)
        if isinstance(obj[k], dict):
            check(obj[k], sub, where + "." + k)
        if isinstance(obj[k], list) and isinstance(sub.get("items"), dict):
            for i, it in enumerate(obj[k]):
                if isinstance(it, dict):
                    check(it, sub["items"], "%s.%s[%d]" % (where, k, i))
check(m, schema, "manifest")
n = 0
for inp in m["inputs"]:
    for line in open(d + "/" + inp["list"]):
        e = json.loads(line)
        check(e, schema["$defs"]["entry"], inp["list"])
        assert e["weight"] > 0
        n += 1
    assert n > 0
print("ok", n, "entries")
PY
then ok rebalance-example-schema; else bad rebalance-example-schema "$(cat py.txt)"; fi

# keys that need escaping survive into the JSON lines
python3 - <<'PY'
import io, tarfile
with tarfile.open("odd.tar", "w", format=tarfile.PAX_FORMAT) as t:
    for k, cap in [('q"uote', "a woman"), ("back\\slash", "a man"), ("tab\there", "a woman"), ("plain", "a man")]:
        for ext, data in (("txt", cap.encode()), ("json", b"{}")):
            i = tarfile.TarInfo(k + "." + ext); i.size = len(data); t.addfile(i, io.BytesIO(data))
PY
"$B" scan odd.tar -q -o odd.db > /dev/null
printf 'independent sexual group within gender\nrealise weights\n' > odd.policy
run "$B" rebalance odd.db -p odd.policy -o odd-out
if python3 - odd-out <<'PY'
import glob, json, sys
keys = sorted(json.loads(l)["key"] for f in glob.glob(sys.argv[1] + "/shards/*.jsonl") for l in open(f))
assert keys == sorted(['q"uote', "back\\slash", "tab\there", "plain"]), keys
PY
then ok "keys with quotes, backslashes and tabs round-trip through the JSON lines"; else bad "keys with quotes, backslashes and tabs round-trip through the JSON lines"; fi
