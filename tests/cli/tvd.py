"""The realised label distribution of n draws against a manifest's target,
and the bound it must stay within: one criterion for `ballast train`
(tests/cli/train.sh) and the Python dataset (tests/cli/python.sh).

Distribution (train's definition): each label occurrence is one unit,
draws without labels count as '(none)'; the target share of label l is
W_l / sum_k W_k, W_l the manifest weight of the entries carrying l (read
here from the manifest's JSON lines, not through the library).

Bound: were the n draws independent, the count of draws carrying l would
be n p_l +- sqrt(n p_l (1 - p_l)) (p_l = W_l / W, W the total weight), and
its share error that over n k (k = sum_l p_l units a draw).  TV = 1/2
sum_l |error_l| stays below 1/2 sum_l 4 sqrt(p_l (1 - p_l) / n) / k but
with a probability under 1e-4 a label (4 sigma).  The sampler stratifies
(every epoch holds each entry its systematic count of copies), so its
error is smaller still: the bound is what 20k independent draws allow.

  python3 tvd.py MANIFEST COUNTS.json
COUNTS.json: {"labels": {label: count}, "unlabelled": count, "samples": n}.
Prints "tvd X bound Y"; exits 1 when X > Y.
"""

import glob
import json
import math
import os
import sys


def target(manifest):
    """{label: W_l} with '(none)', and W (total weight)."""
    files = sorted(glob.glob(os.path.join(manifest, "shards", "*.jsonl"))) \
        if os.path.isdir(manifest) else [manifest]
    w, total = {}, 0.0
    for f in files:
        with open(f, encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                if not line.strip():
                    continue
                o = json.loads(line)
                total += o["weight"]
                for l in o.get("labels") or ["(none)"]:
                    w[l] = w.get(l, 0.0) + o["weight"]
    return w, total


def tvd(counts, unlabelled, w):
    units = sum(counts.values()) + unlabelled
    wt = sum(w.values())
    got = dict(counts)
    got["(none)"] = unlabelled
    return 0.5 * sum(abs(got.get(l, 0) / units - w.get(l, 0) / wt) for l in set(w) | set(got))


def bound(w, total, n):
    p = {l: v / total for l, v in w.items()}
    k = sum(p.values())
    return 0.5 * sum(4 * math.sqrt(q * (1 - q) / n) for q in p.values()) / k


def main():
    w, total = target(sys.argv[1])
    c = json.load(open(sys.argv[2]))
    x, b = tvd(c["labels"], c["unlabelled"], w), bound(w, total, c["samples"])
    print("tvd %.6f bound %.6f (%d draws)" % (x, b, c["samples"]))
    return 0 if x <= b else 1


if __name__ == "__main__":
    sys.exit(main())
