#!/usr/bin/env python3
"""tests/eval/agree.py - agreement between two annotations of the same
captions: raw agreement and Cohen's kappa per family, and the rows where
the two differ.

  python3 tests/eval/agree.py FIRST.tsv SECOND.tsv [--list]

FIRST and SECOND are labelled TSVs (source, row, caption, labels, note);
the rows of SECOND are looked up in FIRST (same source and row, same
caption, or it is an error).  Each family is one nominal decision per
caption, as `ballast eval` scores it:
  sexual   any sexual.* label (yes / no)
  group    the set of group labels rolled up to the six parents
           (none, {asian}, {black, white}, ...)
  gender   the set of gender.female / gender.male (none, F, M, F+M)
  age      age.minor (yes / no)
  attire   any attire.* label (yes / no)
Cohen's kappa = (po - pe) / (1 - pe), po the observed agreement, pe the
agreement expected by chance from each annotator's own category shares.
With --list, every row where any family differs is printed as
source, row, FIRST labels, SECOND labels, caption (tab separated).
Rows are split into "real" (a caption file) and "hard" (source hard).
"""
import argparse
import collections
import sys

PARENTS = ("group.asian", "group.black", "group.white", "group.latino",
           "group.middle_eastern", "group.indigenous")


def read(path):
    rows = collections.OrderedDict()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fld = line.rstrip("\n").split("\t")
            if n == 1:
                continue
            if len(fld) != 5:
                sys.exit("%s:%d: %d columns, not 5" % (path, n, len(fld)))
            rows[(fld[0], fld[1])] = (fld[2], {x for x in fld[3].split(",") if x})
    return rows


def families(labels):
    group = set()
    for lab in labels:
        for p in PARENTS:
            if lab == p or lab.startswith(p + "."):
                group.add(p[len("group."):])
    return {
        "sexual": any(x.startswith("sexual.") for x in labels),
        "group": ",".join(sorted(group)) or "-",
        "gender": ",".join(sorted(x[len("gender."):] for x in labels
                                  if x in ("gender.female", "gender.male"))) or "-",
        "age": "age.minor" in labels,
        "attire": any(x.startswith("attire.") for x in labels),
    }


def kappa(pairs):
    """(po, kappa) of a list of (a, b) category pairs; kappa is None when
    chance agreement is 1 (both annotators used one category only)."""
    n = len(pairs)
    po = sum(a == b for a, b in pairs) / n
    ca = collections.Counter(a for a, _ in pairs)
    cb = collections.Counter(b for _, b in pairs)
    pe = sum(ca[k] * cb[k] for k in ca) / (n * n)
    return po, (None if pe == 1 else (po - pe) / (1 - pe))


def positive(v):
    return v not in (False, "-")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    first, second = read(a.first), read(a.second)
    fams = ("sexual", "group", "gender", "age", "attire")
    parts = {"all": [], "real": [], "hard": []}
    diffs = []
    for k, (cap, lab2) in second.items():
        if k not in first:
            sys.exit("%s: %s row %s is not in %s" % (a.second, k[0], k[1], a.first))
        cap1, lab1 = first[k]
        if cap1 != cap:
            sys.exit("%s: %s row %s: caption differs from %s" % (a.second, k[0], k[1], a.first))
        f1, f2 = families(lab1), families(lab2)
        for p in ("all", "hard" if k[0] == "hard" else "real"):
            parts[p].append((f1, f2))
        if f1 != f2:
            diffs.append((k, lab1, lab2, cap))
    print("# %s vs %s: %d captions (%d real, %d hard); %d differ in some family"
          % (a.first, a.second, len(parts["all"]), len(parts["real"]),
             len(parts["hard"]), len(diffs)))
    print("# part family captions agree kappa first_yes second_yes first_only second_only")
    for p in ("all", "real", "hard"):
        rows = parts[p]
        if not rows:
            continue
        for fam in fams:
            pairs = [(f1[fam], f2[fam]) for f1, f2 in rows]
            po, kap = kappa(pairs)
            y1 = sum(positive(x) for x, _ in pairs)
            y2 = sum(positive(y) for _, y in pairs)
            only1 = sum(x != y and positive(x) and not positive(y) for x, y in pairs)
            only2 = sum(x != y and positive(y) and not positive(x) for x, y in pairs)
            print("%-4s %-6s %4d %.3f %6s %4d %4d %4d %4d" % (
                p, fam, len(pairs), po, "-" if kap is None else "%.3f" % kap,
                y1, y2, only1, only2))
    if a.list:
        for (s, r), lab1, lab2, cap in diffs:
            print("diff\t%s\t%s\t%s\t%s\t%s" % (s, r, ",".join(sorted(lab1)) or "-",
                                                ",".join(sorted(lab2)) or "-", cap))


if __name__ == "__main__":
    main()
