# tests/cli/hostile.py - shards that broke write and export, for the CLI
# tests (write.sh, export.sh).  Usage:
#   python3 hostile.py SRC.tar OUTDIR          shards OUTDIR/a.tar, b.tar
#   python3 hostile.py --manifest INDEX.db OUT.jsonl [KEY=WEIGHT ...]
# The first takes real JPEGs from SRC.tar (a mkshards shard).  The second
# writes a bare manifest (.jsonl) of every sample of an index, weight 1
# unless KEY=WEIGHT says otherwise (for every sample with that key).
import io
import json
import os
import sqlite3
import sys
import tarfile


def member(t, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 1700000000
    t.addfile(ti, io.BytesIO(data))


def sample(t, key, caption, img, ext="jpg", js=None):
    member(t, key + "." + ext, img)
    if caption is not None:
        member(t, key + ".txt", caption)
    member(t, key + ".json", js if js is not None else json.dumps({"key": key}).encode())


LONG = "k" * 150                                   # a key over ustar's 100 bytes
DEEP = "dir/" + "x" * 120 + "/" + "y" * 90         # a long path of three components
WIDE = "w" * 300                                   # a file name over NAME_MAX (255)


def shards(src, out):
    with tarfile.open(src) as s:
        jpg = [s.extractfile(m).read() for m in s.getmembers() if m.name.endswith(".jpg")]
    os.makedirs(out, exist_ok=True)
    with tarfile.open(os.path.join(out, "a.tar"), "w", format=tarfile.PAX_FORMAT) as t:
        sample(t, LONG, b"a long key", jpg[0])
        sample(t, DEEP, b"a long path", jpg[1])
        sample(t, "big", b"w" * 100000, jpg[2])     # over the old 64 KiB caption limit
        sample(t, "dup", b"first dup", jpg[3])
        sample(t, "dup_r1", b"a key like a copy", jpg[4])
        sample(t, "d/x", b"slash", jpg[5])
        sample(t, "d_x", b"underscore", jpg[6])
        sample(t, "noimage", b"a caption without image", b"{}", ext="cls")
        sample(t, "nocap", None, jpg[7])            # image only
        sample(t, "blank", b"\n\n  \n", jpg[8])     # a caption of blank lines
        sample(t, "lines", b"\nfirst line\nsecond line\n", jpg[9])
        sample(t, "latin1", b"caf\xe9 au lait", jpg[10])
        sample(t, "./dot", b"a key starting with a dot", jpg[11])
        sample(t, WIDE, b"a wide name", jpg[12])
    with tarfile.open(os.path.join(out, "b.tar"), "w", format=tarfile.PAX_FORMAT) as t:
        sample(t, "dup", b"second dup", jpg[13])
        sample(t, LONG, b"the long key again", jpg[14])
        sample(t, "Case", b"upper", jpg[15])
        sample(t, "case", b"lower", jpg[16])
        sample(t, "dup_d1", b"a key like a renamed one", jpg[17])


def manifest(index, out, weights):
    db = sqlite3.connect(index)
    rows = db.execute("SELECT shards.path, ordinal, key, offset, labels FROM samples "
                      "JOIN shards ON shards.id = samples.shard_id ORDER BY shards.id, ordinal")
    with open(out, "w") as f:
        for path, ordinal, key, offset, labels in rows:
            w = weights.get(key, 1)
            labs = [l for l in (labels or "").split(",") if l]
            f.write(json.dumps({"key": key, "shard": path, "ordinal": ordinal, "offset": offset,
                                "weight": w, "labels": labs}) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "--manifest":
        w = {}
        for a in sys.argv[4:]:
            k, v = a.rsplit("=", 1)
            w[k] = float(v) if "." in v else int(v)
        manifest(sys.argv[2], sys.argv[3], w)
    else:
        shards(sys.argv[1], sys.argv[2])
