#!/usr/bin/env python3
"""tests/eval/crosscheck.py - the error-aware report on real errors.

  python3 tests/eval/crosscheck.py BALLAST [--json]

tests/cli/audit.sh shows that `report --audit` recovers a rate from a
tagger whose errors were planted.  This does the same with the shipped
filters' real errors on real web alt-text, through the commands a user
runs, and with no number planted:

  1. heldout.tsv's img2dataset rows become a shard, are scanned, and
     `ballast audit --design simple` draws every one of them for the
     families sexual, gender, group and age; the judgements are filled
     in from the labels the annotators gave (y when a caption has a label
     of the family).  That is an audit of the tagger, a census of 722
     captions.
  2. heldout2.tsv's rows (912 others, never tuned on) become another
     shard and index: the data.
  3. `ballast report DATA.db --audit SHEET --format json` corrects the
     data's shares with the audit's Se and Sp; heldout2's own labels give
     the true shares, which the report never sees.

Printed per family: the true share, the observed (the tagger's) share
with its Wilson interval, the corrected share with the interval that
carries the audit's uncertainty, and whether each interval holds the
truth.  The observed interval only carries sampling error, so it says
nothing of the tagger's.  Both splits are held back: nothing here reads
a caption, and the rules are not tuned on what it prints.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
import mktar  # noqa: E402  (tests/cli/mktar.py: keys 000000, 000001, ...)

LABELS = os.path.join(HERE, "labels")
FAMILIES = ["sexual", "gender", "group", "age"]


def rows_of(path, source=None):
    """(caption, labels) of a labelled split, optionally of one source."""
    out = []
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            p = line.rstrip("\n").split("\t")
            if source is None or p[0] == source:
                out.append((p[2], [x for x in p[3].split(",") if x]))
    return out


def has(labels, family):
    """A caption holds the family: any label of it (age: age.minor)."""
    want = "age.minor" if family == "age" else family
    return any(x == want or x.startswith(want + ".") for x in labels)


def run(cmd, ok=(0,)):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode not in ok:
        sys.exit("crosscheck: %s failed (exit %d): %s" % (" ".join(cmd), p.returncode,
                                                          p.stderr.strip()[:400]))
    return p


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ballast = sys.argv[1]
    as_json = "--json" in sys.argv[2:]
    audit_rows = rows_of(os.path.join(LABELS, "heldout.tsv"), "img2dataset-test-10000.tsv")
    data_rows = rows_of(os.path.join(LABELS, "heldout2.tsv"))
    with tempfile.TemporaryDirectory(prefix="ballast-crosscheck-") as tmp:
        a_tar, d_tar = os.path.join(tmp, "audit.tar"), os.path.join(tmp, "data.tar")
        a_db, d_db = os.path.join(tmp, "audit.db"), os.path.join(tmp, "data.db")
        sheet, filled = os.path.join(tmp, "sheet.tsv"), os.path.join(tmp, "filled.tsv")
        rep = os.path.join(tmp, "report.json")
        mktar.write(a_tar, [cap for cap, _ in audit_rows])
        mktar.write(d_tar, [cap for cap, _ in data_rows])
        run([ballast, "scan", a_tar, "-o", a_db, "-q"])
        run([ballast, "scan", d_tar, "-o", d_db, "-q"])
        run([ballast, "audit", a_db, "--design", "simple", "--samples", str(len(audit_rows)),
             "--label", ",".join(FAMILIES), "-o", sheet])
        # the judgements: the annotators' labels of each row's caption
        with open(sheet, encoding="utf-8") as f, open(filled, "w", encoding="utf-8") as g:
            head = None
            for line in f:
                if line.startswith("#"):
                    g.write(line)
                    continue
                p = line.rstrip("\n").split("\t")
                if head is None:
                    head = {name: i for i, name in enumerate(p)}
                    g.write(line)
                    continue
                labels = audit_rows[int(p[head["key"]])][1]
                p[head["judgement"]] = "y" if has(labels, p[head["label"]]) else "n"
                g.write("\t".join(p) + "\n")
        run([ballast, "report", d_db, "--audit", filled, "--format", "json", "-o", rep])
        with open(rep, encoding="utf-8") as f:
            r = json.load(f)
    n = len(data_rows)
    out = {"audit_rows": len(audit_rows), "data_rows": n, "families": {}}
    for fam in FAMILIES:
        true = sum(has(labels, fam) for _, labels in data_rows)
        obs = r["shares"].get(fam, {"count": 0, "share": 0.0, "lo": 0.0, "hi": 0.0})
        cor = r["audit"]["shares"][fam]
        t = true / n
        out["families"][fam] = {
            "true": t, "true_count": true,
            "observed": obs["share"], "observed_lo": obs["lo"], "observed_hi": obs["hi"],
            "corrected": cor["value"], "corrected_lo": cor["lo"], "corrected_hi": cor["hi"],
            "status": cor["status"],
            "observed_covers": obs["lo"] <= t <= obs["hi"],
            "corrected_covers": cor["lo"] is not None and cor["lo"] <= t <= cor["hi"],
        }
    if as_json:
        json.dump(out, sys.stdout, indent=1)
        print()
        return
    pct = lambda x: "%.2f%%" % (100 * x)
    print("    %-7s %-13s %-30s %-30s %s" % ("family", "true", "observed [95%]",
                                              "corrected [95%]", "holds the truth"))
    for fam in FAMILIES:
        e = out["families"][fam]
        o = "%s [%s, %s]" % (pct(e["observed"]), pct(e["observed_lo"]), pct(e["observed_hi"]))
        c = "%s [%s, %s]" % (pct(e["corrected"]), pct(e["corrected_lo"]), pct(e["corrected_hi"]))
        if e["status"] != "corrected":
            c += " (%s)" % e["status"]
        print("    %-7s %-13s %-30s %-30s observed %s, corrected %s" % (
            fam, "%s (%d)" % (pct(e["true"]), e["true_count"]), o, c,
            "yes" if e["observed_covers"] else "NO", "yes" if e["corrected_covers"] else "NO"))


if __name__ == "__main__":
    main()
