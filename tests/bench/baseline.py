#!/usr/bin/env python3
"""The job ballast scan does, done the way a user would in Python today:
tarfile over each shard, json for the metadata, re for the caption patterns.

It reads the same rule files (filters/*.rules): every label's match and
unless patterns (with {DEFINE} and {GLOBAL} expansion), caseless, and
counts labels; except lines and the normalised view are left out.
JSON and image predicates are evaluated only for the simple numeric/string
comparisons; that is less work than ballast does, so the comparison
flatters the baseline.

usage: baseline.py RULES_DIR SHARD...
"""
import json
import os
import re
import sys
import tarfile


def load_rules(d):
    labels = []  # (name, [match re], [unless re], [when (field, op, value)])
    globals_ = {}  # 'global NAME pattern': seen by the files loaded after it
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".rules"):
            continue
        defines = dict(globals_)
        cur = None
        for line in open(os.path.join(d, fn), encoding="utf-8"):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            kw, _, rest = line.partition(" ")
            rest = rest.strip()

            def expand(p):
                return re.sub(r"(?<!\\)\{([A-Z][A-Z0-9_]*)\}",
                              lambda m: "(?:" + defines[m.group(1)] + ")", p)
            if kw in ("define", "global"):
                name, _, pat = rest.partition(" ")
                defines[name] = expand(pat.strip())
                if kw == "global":
                    globals_[name] = defines[name]
            elif kw == "label":
                cur = (rest, [], [], [])
                labels.append(cur)
            elif kw in ("match", "unless") and cur is not None:
                try:
                    rx = re.compile(expand(rest), re.I)
                except re.error:
                    continue
                (cur[1] if kw == "match" else cur[2]).append(rx)
            elif kw == "when" and cur is not None:
                m = re.match(r'(\w+)\s*(==|!=|>=|<=|<|>)\s*(?:"([^"]*)"|(-?[0-9.]+))$', rest)
                if m:
                    is_str = m.group(3) is not None
                    cur[3].append((m.group(1), m.group(2),
                                   m.group(3) if is_str else float(m.group(4)), is_str))
    return labels


OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b,
       ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
       ">": lambda a, b: a > b, "<": lambda a, b: a < b}


def tag(labels, caption, meta):
    out = []
    for name, matches, unless, whens in labels:
        hit = False
        for rx in matches:
            for m in rx.finditer(caption):
                if not any(u.search(caption, max(0, m.start() - 40), m.end() + 40) for u in unless):
                    hit = True
                    break
            if hit:
                break
        if not hit:
            for field, op, val, is_str in whens:
                v = meta.get(field)
                if v is None:
                    continue
                try:
                    if OPS[op](v, val):
                        hit = True
                        break
                except TypeError:
                    pass
        if hit:
            out.append(name)
    return out


def main():
    labels = load_rules(sys.argv[1])
    counts = {}
    samples = 0
    for path in sys.argv[2:]:
        with tarfile.open(path) as tf:
            key, cap, meta = None, None, {}

            def flush():
                nonlocal samples
                if key is None:
                    return
                samples += 1
                for l in tag(labels, cap or "", meta):
                    counts[l] = counts.get(l, 0) + 1
            for m in tf:
                if not m.isfile():
                    continue
                base = os.path.basename(m.name)
                k = os.path.join(os.path.dirname(m.name), base.split(".", 1)[0])
                ext = base.split(".", 1)[1] if "." in base else ""
                if k != key:
                    flush()
                    key, cap, meta = k, None, {}
                if ext == "txt":
                    cap = tf.extractfile(m).read().decode("utf-8", "replace")
                elif ext == "json":
                    try:
                        meta = json.loads(tf.extractfile(m).read())
                    except ValueError:
                        meta = {}
            flush()
    print(json.dumps({"samples": samples, "labels": dict(sorted(counts.items()))}))


if __name__ == "__main__":
    main()
