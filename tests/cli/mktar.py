"""Write a plain tar of captions, one key.txt member a caption, for the
tests' hand-made shards.

  python3 mktar.py OUT.tar [PREFIX] < CAPTIONS

CAPTIONS: one JSON string a line (so a caption may hold tabs, newlines
and control bytes).  Keys are PREFIX followed by the line's 0-based
number in six digits.  As a module: write(path, captions, prefix="").
"""
import io
import json
import sys
import tarfile


def write(path, captions, prefix=""):
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        for i, cap in enumerate(captions):
            data = cap.encode("utf-8")
            ti = tarfile.TarInfo("%s%06d.txt" % (prefix, i))
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    write(sys.argv[1], [json.loads(l) for l in sys.stdin if l.strip()],
          sys.argv[2] if len(sys.argv) > 2 else "")
