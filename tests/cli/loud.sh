# tests/cli/loud.sh - an index, a plan or a report that is not what the
# user asked for says so first and exits 1, never as a quiet number:
#   - an index whose shards were scanned with different rules (some shards
#     rescanned with other rules): scan, report (text, JSON, CSV, HTML) and
#     rebalance put a WARNING / a failed "index" check at the top, exit 1;
#   - an index holding shards not read whole (a truncated tar, a file that
#     is no archive): report and rebalance name them at the top, exit 1,
#     and still write their outputs;
#   - an incomplete index (a part of an array job, a scan stopped): report
#     puts its WARNING at the top of every format, not only on stderr;
#   - report --manifest after the index was rescanned with other rules:
#     "before" and "after" come from two taggers, a WARNING at the top;
#   - `realise upsample max N` clipping the weights that meet a target:
#     the plan's "target" check fails (exit 1) where it used to pass;
#   - the manifest of a failed plan: write, export, train and the Python
#     package refuse it (exit 3) naming the checks, unless
#     --allow-failed-plan (allow_failed_plan=True), which takes it with a
#     WARNING at the top; verify puts a WARNING at its top.
. "$TOP/tests/cli/lib.sh"
P="$TOP/manifests/policies"
top3() { sed -n "${2:-1},${3:-3}p" "$1"; }

run "$B" mkshards g --shards 4 --per-shard 500 --seed 9 --skew east_asian:female=3 --image-size 16
expect_rc 0 loud-mkshards
"$B" scan 'g/*.tar' -o one.db -q >/dev/null 2>&1
cp one.db mixed.db

# ---- one rule set: nothing to say ---------------------------------------
run "$B" report one.db
expect_rc 0 loud-one-rule-set-report-exit-0
check loud-one-rule-set-no-warning sh -c '! grep -q WARNING out.txt'

# ---- rules that tag no sexual.suggestive, for two of the four shards ------
mkdir rules
cp "$TOP"/filters/*.rules rules/
awk '/^label sexual.suggestive/{s=1} s&&/^  match/{next}{print}' "$TOP/filters/sexual.rules" > rules/sexual.rules
run "$B" scan g/00000.tar g/00001.tar -r rules -o mixed.db -q
expect_rc 1 loud-scan-mixed-exit-1
check loud-scan-mixed-warning-first sh -c 'head -1 out.txt | grep -q "^WARNING: the index holds shards scanned with 2 different rule sets"'
expect_out 'g/00000.tar, g/00001.tar.*g/00002.tar, g/00003.tar' loud-scan-mixed-names-the-shards
expect_err 'WARNING: the index holds shards scanned with 2 different rule sets.*\(exit 1\)' loud-scan-mixed-stderr
run "$B" scan g/00000.tar -r rules -o mixed.db -q --json
expect_rc 1 loud-scan-mixed-nothing-to-do-exit-1
if python3 -c 'import json,sys; d=json.load(open("out.txt")); w=d["warnings"]; assert len(w)==1 and "2 different rule sets" in w[0], w' 2>py.err
then ok loud-scan-mixed-json-warnings; else bad loud-scan-mixed-json-warnings "$(cat py.err)"; fi

run "$B" report mixed.db
expect_rc 1 loud-report-mixed-exit-1
check loud-report-mixed-warning-on-top sh -c 'sed -n 3p out.txt | grep -q "^WARNING: the index holds shards scanned with 2 different rule sets"'
expect_err 'WARNING: the index holds shards .* \(exit 1\)' loud-report-mixed-stderr
run "$B" report mixed.db --format json
expect_rc 1 loud-report-mixed-json-exit-1
if python3 -c 'import json; d=json.load(open("out.txt")); assert any("2 different rule sets" in w for w in d["warnings"]), d["warnings"]' 2>py.err
then ok loud-report-mixed-json-warnings; else bad loud-report-mixed-json-warnings "$(cat py.err)"; fi
run "$B" report mixed.db --format csv
check loud-report-mixed-csv-warning-row sh -c 'sed -n 2p out.txt | grep -q "^warning,.*2 different rule sets"'
run "$B" report mixed.db --format html -o mixed.html
expect_rc 1 loud-report-mixed-html-exit-1
check loud-report-mixed-html-warning sh -c 'grep -q "<strong>WARNING:</strong> the index holds shards scanned with 2 different rule sets" mixed.html'

run "$B" rebalance mixed.db -p "$P/deskew-sexualisation.policy" -o m-mixed -q
expect_rc 1 loud-rebalance-mixed-exit-1
check loud-rebalance-mixed-failed-first sh -c 'head -2 out.txt | grep -q "^  FAILED   index  the index: the index holds shards scanned with 2 different rule sets"'
check loud-rebalance-mixed-no-accept-advice sh -c '! grep -q "add the matching .accept. line" out.txt'
check loud-rebalance-mixed-manifest-written test -s m-mixed/manifest.json
if python3 -c '
import json; s=json.load(open("m-mixed/manifest.json"))["summary"]
assert s["ok"] is False
assert [c["check"] for c in s["checks"] if c["status"] == "failed"] == ["index"], s["checks"]' 2>py.err
then ok loud-rebalance-mixed-manifest-records-it; else bad loud-rebalance-mixed-manifest-records-it "$(cat py.err)"; fi
run "$B" report --manifest m-mixed
expect_rc 1 loud-report-manifest-of-mixed-plan-exit-1
run "$B" rebalance one.db -p "$P/deskew-sexualisation.policy" -q
expect_rc 0 loud-rebalance-one-rule-set-exit-0

# ---- an incomplete index: the report says so at its top -------------------
# A part of an array job, and a scan stopped after two of four shards
# (what Ctrl-C leaves: shards planned, not committed): the WARNING goes
# to the top of every format (JSON "warnings"), not only to stderr;
# --allow-partial keeps it there and exits 0.  rebalance still writes
# nothing without --allow-partial.
"$B" scan 'g/*.tar' -q --task 0 --tasks 2 -o part.db >/dev/null 2>&1
cp one.db stopped.db
sqlite3 stopped.db "update shards set complete = 0 where id > 2"
run "$B" report part.db
expect_rc 1 loud-report-part-exit-1
check loud-report-part-warning-on-top sh -c 'sed -n 3p out.txt | grep -q "^WARNING: index .part.db. is incomplete: it is the part of array task 0 of 2 (its 2 shards of the 4 the scan planned)"'
expect_err 'WARNING: index .part.db. is incomplete' loud-report-part-stderr
run "$B" report part.db --format json -o part.json
expect_rc 1 loud-report-part-json-exit-1
if python3 -c '
import json; d=json.load(open("part.json"))
assert len(d["warnings"]) == 1 and "incomplete" in d["warnings"][0] and "4 the scan planned" in d["warnings"][0], d["warnings"]' 2>py.err
then ok loud-report-part-json-warnings; else bad loud-report-part-json-warnings "$(cat py.err)"; fi
run "$B" report part.db --format csv -o part.csv
check loud-report-part-csv-warning-row sh -c 'sed -n 2p part.csv | grep -q "^warning,.*is incomplete"'
run "$B" report part.db --format html -o part.html
check loud-report-part-html-warning grep -q "<strong>WARNING:</strong> index &#39;part.db&#39; is incomplete" part.html
run "$B" report part.db --allow-partial --format json -o parta.json
expect_rc 0 loud-report-part-allowed-exit-0
if python3 -c '
import json; d=json.load(open("parta.json")); assert "incomplete" in d["warnings"][0], d["warnings"]' 2>py.err
then ok loud-report-part-allowed-still-warns; else bad loud-report-part-allowed-still-warns "$(cat py.err)"; fi
run "$B" report stopped.db --format json -o stopped.json
expect_rc 1 loud-report-stopped-exit-1
if python3 -c '
import json; d=json.load(open("stopped.json"))
assert d["shards"] == 4 and d["shards_complete"] == 2, (d["shards"], d["shards_complete"])
assert len(d["warnings"]) == 1 and "2 of its 4 shards were never committed" in d["warnings"][0], d["warnings"]' 2>py.err
then ok loud-report-stopped-json-warnings-and-counts; else bad loud-report-stopped-json-warnings-and-counts "$(cat py.err)"; fi
run "$B" report stopped.db
check loud-report-stopped-warning-on-top sh -c 'sed -n 3p out.txt | grep -q "^WARNING: index .stopped.db. is incomplete: 2 of its 4 shards"'
run "$B" rebalance part.db -p "$P/deskew-sexualisation.policy" -o m-part -q
expect_rc 1 loud-rebalance-part-exit-1
check loud-rebalance-part-writes-nothing test ! -e m-part

# ---- report --manifest after the index was rescanned with other rules ------
cp one.db later.db
run "$B" rebalance later.db -p "$P/deskew-sexualisation.policy" -o m-later -q
expect_rc 0 loud-manifest-made
run "$B" report --manifest m-later
expect_rc 0 loud-report-manifest-same-rules-exit-0
"$B" scan 'g/*.tar' -r rules -o later.db -q >/dev/null 2>&1
run "$B" report --manifest m-later
expect_rc 1 loud-report-manifest-other-rules-exit-1
check loud-report-manifest-other-rules-on-top sh -c 'sed -n 3p out.txt | grep -q "^WARNING: the index was scanned with other rules .* than the manifest was made from"'
expect_err "manifest 'm-later': WARNING: before and after are not comparable" loud-report-manifest-other-rules-stderr
run "$B" report --manifest m-later --format json
expect_rc 1 loud-report-manifest-other-rules-json-exit-1
if python3 -c 'import json; d=json.load(open("out.txt")); assert d["ok"] is False and list(d)[:4] == ["report", "schema", "ok", "warnings"] and "other rules" in d["warnings"][0], d["warnings"]' 2>py.err
then ok loud-report-manifest-other-rules-json; else bad loud-report-manifest-other-rules-json "$(cat py.err)"; fi
run "$B" report --manifest m-later --format csv
check loud-report-manifest-other-rules-csv sh -c 'sed -n 2p out.txt | grep -q "^warning,.*other rules"'
run "$B" report --manifest m-later --format html -o later.html
expect_rc 1 loud-report-manifest-other-rules-html-exit-1
check loud-report-manifest-other-rules-html sh -c 'grep -q "<strong>WARNING:</strong> the index was scanned with other rules" later.html'

# ---- shards not read whole -------------------------------------------------
"$B" mkshards t --shards 3 --per-shard 300 --seed 3 --image-size 16 >/dev/null 2>&1
truncate -s 30K t/00002.tar
echo 'not a tar' > t/00003.tar
run "$B" scan 't/*.tar' -o cut.db -q
expect_rc 1 loud-scan-cut-exit-1
expect_out '^WARNING: 2 of the 4 shards of the index were not read whole' loud-scan-cut-warning
run "$B" report cut.db
expect_rc 1 loud-report-cut-exit-1
check loud-report-cut-warning-on-top sh -c 'sed -n 3p out.txt | grep -q "^WARNING: 2 of the 4 shards of the index were not read whole"'
expect_out 't/00002.tar \(member .* Truncated tar archive\); t/00003.tar \(Unrecognized archive format\)' loud-report-cut-names-them
expect_out '^  shards +4 \(4 complete, 2 of them not read whole\)' loud-report-cut-totals-agree
run "$B" report cut.db --format json
if python3 -c 'import json; d=json.load(open("out.txt")); assert "not read whole" in d["warnings"][0] and d["shards_damaged"] == 2, (d["warnings"], d.get("shards_damaged"))' 2>py.err
then ok loud-report-cut-json-warnings; else bad loud-report-cut-json-warnings "$(cat py.err)"; fi
run "$B" rebalance cut.db -p "$P/drop-explicit.policy" -o m-cut -q
expect_rc 1 loud-rebalance-cut-exit-1
check loud-rebalance-cut-failed-first sh -c 'head -2 out.txt | grep -q "FAILED   index  the index: 2 of the 4 shards of the index were not read whole"'
check loud-rebalance-cut-manifest-still-written test -s m-cut/manifest.json
run "$B" rebalance cut.db -p "$P/drop-explicit.policy" -q --json
if python3 -c 'import json; s=json.load(open("out.txt")); assert s["ok"] is False and s["checks"][0]["check"] == "index" and s["checks"][0]["status"] == "failed", s["checks"][:1]' 2>py.err
then ok loud-rebalance-cut-json; else bad loud-rebalance-cut-json "$(cat py.err)"; fi

# ---- realise upsample max N that clips a target away -------------------------
printf 'target gender gender.male=0.6\nrealise upsample max 2\n' > up2.policy
run "$B" rebalance one.db -p up2.policy
expect_rc 1 loud-upsample-clipped-target-exit-1
check loud-upsample-clipped-target-first sh -c 'head -1 out.txt | grep -q "^PLAN FAILED"'
expect_out "^  FAILED +target line 1 .*the target is not met: gender.male 4[0-9.]+% of the set against the 60% declared .*'realise upsample max 2' clipped the weights of [1-9][0-9]* cells" loud-upsample-clipped-target-named
run "$B" rebalance one.db -p up2.policy --json
if python3 -c 'import json; s=json.load(open("out.txt")); c=[c for c in s["checks"] if c["check"] == "target"]; assert s["ok"] is False and c[0]["status"] == "failed" and s["clipped_cells"] > 0, c' 2>py.err
then ok loud-upsample-clipped-target-json; else bad loud-upsample-clipped-target-json "$(cat py.err)"; fi
# a smaller miss is loud too: max 3 leaves ~55% against 60%, more than
# the draws of 2,000 samples move a share (3 standard errors: 3.3 pp),
# though within a quarter of the share
printf 'target gender gender.male=0.6\nrealise upsample max 3\n' > up3.policy
run "$B" rebalance one.db -p up3.policy --json
if python3 -c 'import json; s=json.load(open("out.txt")); c=[c for c in s["checks"] if c["check"] == "target"]; assert s["written"] >= 1000 and 0.02 < c[0]["value"] < 0.15 and c[0]["status"] == "failed" and c[0]["limit"] < 0.05, c' 2>py.err
then ok loud-upsample-small-miss-failed; else bad loud-upsample-small-miss-failed "$(cat py.err)"; fi
printf 'target gender gender.male=0.6\nrealise upsample\n' > up100.policy
run "$B" rebalance one.db -p up100.policy --json
if python3 -c 'import json; s=json.load(open("out.txt")); c=[c for c in s["checks"] if c["check"] == "target"]; assert s["clipped_cells"] == 0 and c[0]["status"] == "ok" and c[0]["value"] < 0.01, c' 2>py.err
then ok loud-upsample-unclipped-target-met; else bad loud-upsample-unclipped-target-met "$(cat py.err)"; fi
printf 'target gender gender.male=0.6\nrealise upsample max 2\naccept target 0.2\n' > up2a.policy
run "$B" rebalance one.db -p up2a.policy
expect_out '^  accepted target line 1 .* \[policy line 3\]' loud-upsample-target-accepted
check loud-upsample-target-accepted-not-failed sh -c '! grep -q "FAILED +target" out.txt'
printf 'target gender gender.male=0.6\nrealise weights\n' > w.policy
run "$B" rebalance one.db -p w.policy --json
if python3 -c 'import json; s=json.load(open("out.txt")); c=[c for c in s["checks"] if c["check"] == "target"]; assert c[0]["status"] == "ok" and c[0]["value"] < 1e-9, c' 2>py.err
then ok loud-weights-target-met-exactly; else bad loud-weights-target-met-exactly "$(cat py.err)"; fi
printf 'accept target 2\n' > bad.policy
run "$B" rebalance one.db -p bad.policy
expect_rc 2 loud-accept-target-out-of-range-is-usage

# ---- consumers of a plan that failed its checks ------------------------------
# rebalance still writes the manifest of a failed plan (for inspection);
# write, export, train and the Python package refuse it (exit 3, naming
# the checks and what to do) unless --allow-failed-plan, which takes it
# with a WARNING at the top; verify says so and keeps its exit status; an
# ok plan and a bare .jsonl (no verdict) are taken as they are.
"$B" rebalance one.db -p "$P/drop-explicit.policy" -o m-ok -q >/dev/null 2>&1
"$B" rebalance one.db -p up2.policy -o m-up2 -q >/dev/null 2>&1
refused="its plan failed 1 check when it was made: index: the index: 2 of the 4 shards of the index were not read whole"
for c in "write m-cut -o w-cut" "export m-cut --to webdataset -o x-cut" "export m-cut --to kohya -o k-cut" \
	 "train m-cut --mode lora --steps 2 --size 16"; do
	name=$(echo "$c" | cut -d' ' -f1,3,4 | sed 's/ m-cut//; s/ --to / /; s/ -o.*//; s/ --mode//' | tr ' ' -)
	run "$B" $c -q
	expect_rc 3 "failed-plan-$name-refused-exit-3"
	expect_err "^ballast [a-z]+: manifest 'm-cut' is refused: $refused" "failed-plan-$name-names-the-check"
	expect_err "rebalance again.*the policy's .accept. line.*pass --allow-failed-plan to use it anyway\)$" "failed-plan-$name-says-what-to-do"
	check "failed-plan-$name-nothing-written" sh -c '[ ! -e w-cut ] && [ ! -e x-cut ] && [ ! -e k-cut ]'
	run "$B" $c --allow-failed-plan -q
	expect_rc 0 "failed-plan-$name-allowed-exit-0"
	check "failed-plan-$name-allowed-warning-on-top" sh -c "head -1 out.txt | grep -q \"^WARNING: manifest 'm-cut': $refused.*(used anyway: --allow-failed-plan)\$\""
	expect_err "^ballast [a-z]+: WARNING: manifest 'm-cut': its plan failed 1 check" "failed-plan-$name-allowed-warning-stderr"
	rm -rf w-cut x-cut k-cut
done
run "$B" write m-up2 -o w-up2 -q
expect_rc 3 failed-plan-target-refused-exit-3
expect_err "manifest 'm-up2' is refused: its plan failed 1 check when it was made: target gender.male: line 1 \(target gender gender.male=0.6\)" failed-plan-target-named
run "$B" train m-cut --mode lora --steps 2 --size 16 --json --allow-failed-plan -q
expect_rc 0 failed-plan-train-json-allowed-exit-0
if python3 -c 'import json; h=json.loads(open("out.txt").readline()); assert h["plan_failed"].startswith("its plan failed 1 check when it was made: index: "), h' 2>py.err
then ok failed-plan-train-json-header-says-so; else bad failed-plan-train-json-header-says-so "$(cat py.err)"; fi
expect_err "WARNING: manifest 'm-cut': its plan failed" failed-plan-train-json-warning-stderr
run "$B" verify m-cut
expect_rc 0 failed-plan-verify-exit-status-kept
check failed-plan-verify-warning-on-top sh -c "head -1 out.txt | grep -q \"^WARNING: manifest 'm-cut': $refused.*(write, export and train refuse it without --allow-failed-plan)\$\""
expect_err "^ballast verify: WARNING: manifest 'm-cut': its plan failed 1 check" failed-plan-verify-warning-stderr
# the first two failed checks in full, the names of the others
cp -r m-ok m-three
python3 - m-three/manifest.json <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); s = d["summary"]
s["ok"] = False
for c in s["checks"]:
    if c["check"] in ("ess", "weight", "share"):
        c["status"] = "failed"
json.dump(d, open(p, "w"))
PY
run "$B" export m-three --to webdataset -o x-three
expect_rc 3 failed-plan-three-refused
expect_err "its plan failed 3 checks when it was made: ess: the manifest's weights are worth .*; weight: the largest weight is .*; and 1 more: share \(fix the policy" failed-plan-three-first-two-in-full
# the verdict is the checks': "ok" edited to true over them, or deleted,
# is damage that no --allow-failed-plan takes (it took the edited "ok"
# as the verdict and read the plan as passed)
sed -i 's/"ok": *false/"ok": true/' m-three/manifest.json
run "$B" export m-three --to webdataset -o x-three -q --allow-failed-plan
expect_rc 3 failed-plan-ok-edited-to-true-refused
expect_err "^ballast export: manifest 'm-three' is refused: 'm-three/manifest.json': summary \"ok\" is true, but 3 of its checks have status \"failed\" \(the verdict was edited; the plan failed\)" failed-plan-ok-edited-to-true-named
edit_summary() { # DIR PYTHON-STATEMENT on the summary s
	rm -rf "$1" && cp -r m-cut "$1" && python3 - "$1/manifest.json" "$2" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); s = d["summary"]
exec(sys.argv[2])
json.dump(d, open(p, "w"))
PY
}
edit_summary m-true 's["ok"] = True'
edit_summary m-nook 'del s["ok"]'
edit_summary m-nochecks 'del s["ok"]; del s["checks"]'
edit_summary m-okfalse 's["ok"] = False; [c.update(status="ok") for c in s["checks"] if c["status"] == "failed"]'
for d in m-true m-nook m-nochecks m-okfalse; do
	case $d in
	m-true) why='summary "ok" is true, but 1 of its checks has status "failed"' ;;
	m-nook) why='its summary records no verdict on the plan \(no "ok"' ;;
	m-nochecks) why='its summary records no verdict on the plan \(no "ok"' ;;
	m-okfalse) why='summary "ok" is false, but none of its checks has status "failed"' ;;
	esac
	for c in "write $d -o w-$d" "export $d --to kohya -o k-$d" "train $d --mode lora --steps 2 --size 16"; do
		run "$B" $c -q --allow-failed-plan
		[ "$rc" -eq 3 ] && head -n 1 err.txt | grep -qE "^ballast [a-z]+: manifest '$d' is refused: '$d/manifest.json': $why" &&
			ok "failed-plan-$d-${c%% *}-refused-named" || bad "failed-plan-$d-${c%% *}-refused-named" "exit $rc $(head -c 300 err.txt)"
	done
	check "failed-plan-$d-nothing-written" sh -c "[ ! -e w-$d ] && [ ! -e k-$d ]"
	run "$B" verify $d
	expect_rc 1 "failed-plan-$d-verify-mismatch"
	expect_err "'$d/manifest.json': $why" "failed-plan-$d-verify-names-it"
done
# an ok plan and a bare .jsonl: as before, no word
for c in "write m-ok -o w-ok" "export m-ok --to kohya -o k-ok" "train m-ok --mode lora --steps 2 --size 16" \
	 "write m-cut/shards/00000.jsonl -o w-bare" "verify m-ok"; do
	run "$B" $c -q
	expect_rc 0 "failed-plan-not-$(echo "$c" | cut -d' ' -f1-2 | tr ' /' '--')-exit-0"
	check "failed-plan-not-$(echo "$c" | cut -d' ' -f1-2 | tr ' /' '--')-no-warning" sh -c '! grep -q "WARNING\|plan failed" out.txt err.txt'
done
# the Python package (its Manifest needs no torch): refused, allowed, ok
pyenv() {
	BALLAST_LIB="$(dirname "$B")/libballast.so" PYTHONPATH="$TOP/tools/python" "$@"
}
case "${BALLAST_BUILD_SAN:-}" in
*address*) pyasan="$(cc -print-file-name=libasan.so)" ;;
*) pyasan= ;;
esac
# a python with torch checks the datasets too
pyt=$(find_python 'import torch')
if [ -e "$(dirname "$B")/libballast.so" ]; then
	cat > plan.py <<'PY'
import sys, warnings, ballast
try:
    ballast.Manifest("m-cut")
    sys.exit("a failed plan was read")
except ballast.BallastError as e:
    msg = str(e)
    assert msg.startswith("manifest 'm-cut' is refused: its plan failed 1 check when it was made: index: "), msg
    assert msg.endswith("or pass allow_failed_plan=True to use it anyway)"), msg
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    m = ballast.Manifest("m-cut", allow_failed_plan=True)
    assert len(m) > 0 and m.plan_failed.startswith("its plan failed 1 check"), m.plan_failed
    assert len(w) == 1 and "WARNING: manifest 'm-cut': its plan failed 1 check" in str(w[0].message), [str(x.message) for x in w]
for d, why in (("m-true", "summary \"ok\" is true, but 1 of its checks"), ("m-nook", "records no verdict")):
    try:
        ballast.Manifest(d, allow_failed_plan=True)
        sys.exit("an edited verdict was read: " + d)
    except ballast.BallastError as e:
        assert "manifest '%s' is refused: '%s/manifest.json': " % (d, d) in str(e) and why in str(e), e
with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert ballast.Manifest("m-ok").plan_failed is None
    assert ballast.Manifest("m-cut/shards/00000.jsonl").plan_failed is None
if ballast.torch is not None:
    for cls in (ballast.WeightedDataset, ballast.MapDataset):
        try:
            cls("m-cut", size=16)
            sys.exit("%s read a failed plan" % cls.__name__)
        except ballast.BallastError as e:
            assert "is refused: its plan failed 1 check" in str(e), e
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            cls("m-cut", size=16, allow_failed_plan=True)
            assert len(w) == 1, [str(x.message) for x in w]
    ds = ballast.WeightedDataset("m-cut", size=16, decode=False, draws=5, allow_failed_plan=True)
    assert len(list(ds)) == 5
    print("torch")
PY
	if pyenv env ${pyasan:+LD_PRELOAD=$pyasan ASAN_OPTIONS=detect_leaks=0} ${pyt:-python3} plan.py > py.out 2> py.err; then
		ok "failed-plan-python-refused-allowed-ok$(grep -q torch py.out && echo ' (and the torch datasets)')"
	else
		bad failed-plan-python-refused-allowed-ok "$(tail -3 py.err)"
	fi
else
	skip failed-plan-python "no $(dirname "$B")/libballast.so"
fi
