# CLI tests for names that are bytes in every output: a key, extension,
# shard or index name holding ESC, a newline, a tab or a byte that is not
# UTF-8.  Text and TSV escape them as messages do (\t \n \\ \xHH: no raw
# control byte reaches a terminal, no name splits a line), JSON stays
# valid UTF-8 (a byte that is not UTF-8 as \udcXX, the manifests'
# escape), CSV and HTML escape as the text report does, and the audit
# sheet's shard and key columns unescape to the index's bytes, so eval
# and report --audit read the sheet they wrote.
. "$TOP/tests/cli/lib.sh"

command -v python3 >/dev/null || { skip "escape" "python3 absent"; exit 0; }

python3 - <<'PY'
import io, tarfile
t = tarfile.open('esc.tar', 'w', format=tarfile.GNU_FORMAT)
for n, d in ((b'\x1b[31mred\nforged.txt', b'a woman'), (b'k2.t\xffx', b'1'),
             (b'k2.txt', b'b'), (b'back\\sl\tash.txt', b'c')):
    ti = tarfile.TarInfo(n.decode('utf-8', 'surrogateescape'))
    ti.size = len(d)
    t.addfile(ti, io.BytesIO(d))
t.close()
PY

# raw BYTESFILE: no ESC, no other control byte but TAB and LF, valid UTF-8
raw() {
	python3 - "$1" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
b.decode('utf-8')
assert not [c for c in b if (c < 0x20 and c not in (9, 10)) or c == 0x7f], 'raw control byte'
PY
}
# unesc: the TSV escape undone (\t \n \r \\ \xHH), as bytes
cat > unesc.py <<'PY'
import re
def unesc(s):
    m = {b't': b'\t', b'n': b'\n', b'r': b'\r', b'\\': b'\\'}
    return re.sub(rb'\\(x[0-9a-f]{2}|[tnr\\])',
                  lambda x: bytes([int(x.group(1)[1:], 16)]) if x.group(1)[:1] == b'x'
                  else m[x.group(1)], s)
PY

# ---- ls -------------------------------------------------------------------
run "$B" ls esc.tar
expect_rc 0 "ls of names with ESC, newline, tab and 0xff exits 0"
check "ls prints no raw control byte and valid UTF-8" raw out.txt
check "ls prints one line per sample (a key's newline does not split it)" \
	test "$(wc -l < out.txt)" -eq 3
check "ls escapes the key and the extension as messages do" \
	grep -qF 'esc.tar	0	\x1b[31mred\nforged	0	txt:7' out.txt
check "ls escapes a byte that is not UTF-8 in an extension" grep -qF 't\xffx:1,txt:1' out.txt
check "ls keys unescape to the archive's bytes (tab and backslash too)" python3 -c '
exec(open("unesc.py").read())
keys = [unesc(l.split(b"\t")[2]) for l in open("out.txt", "rb").read().splitlines()]
assert keys == [b"\x1b[31mred\nforged", b"k2", b"back\\sl\tash"], keys'
run "$B" ls --summary esc.tar
check "ls --summary prints no raw byte of an extension" raw out.txt
check "ls --summary escapes the extension" grep -qF 't\xffx 1' out.txt
run "$B" ls --summary --json esc.tar
check "ls --summary --json is valid UTF-8 JSON, the byte as \\udcff" python3 -c '
import json
d = json.loads(open("out.txt", "rb").read().decode("utf-8"))
assert d["extensions"] == {"t\udcffx": 1, "txt": 3}, d["extensions"]'

# ---- probe ----------------------------------------------------------------
tab_esc=$(printf 'x\ty\033[31m.jpg')
ff=$(printf 'n\377.jpg')
cp esc.tar "$tab_esc"
cp esc.tar "$ff"
run "$B" probe "$tab_esc" "$ff"
expect_rc 1 "probe of files that are no images exits 1"
check "probe prints no raw control byte and valid UTF-8" raw out.txt
check "probe escapes the path's tab, ESC and 0xff" sh -c '
	grep -qF "x\\ty\\x1b[31m.jpg	unknown" out.txt && grep -qF "n\\xff.jpg	unknown" out.txt &&
	test "$(wc -l < out.txt)" -eq 2'
run "$B" probe --json "$ff" "$tab_esc"
check "probe --json is valid UTF-8 JSON, a byte of the path as \\udcXX" python3 -c '
import json
p = [json.loads(l)["path"] for l in open("out.txt", "rb").read().decode("utf-8").splitlines()]
assert p == ["n\udcff.jpg", "x\ty\x1b[31m.jpg"], p'

# ---- report ---------------------------------------------------------------
shard=$(printf 's\377\033.tar')
idx=$(printf 'idx\377.db')
cp esc.tar "$shard"
run "$B" scan -q "$shard" -o "$idx"
expect_rc 0 "scan of a shard named with 0xff and ESC"
run "$B" report "$idx" -f json -o r.json
expect_rc 0 "report --format json of it"
check "report JSON is valid UTF-8: shard path and index as \\udcXX" python3 -c '
import json
d = json.loads(open("r.json", "rb").read().decode("utf-8"))
assert [s["path"] for s in d["per_shard"]] == ["s\udcff\x1b.tar"], d["per_shard"]
assert d["index"].endswith("idx\udcff.db"), d["index"]'
run "$B" report "$idx" -f csv -o r.csv
check "report CSV holds no raw control byte and is valid UTF-8" raw r.csv
check "report CSV escapes the shard as the text report does" grep -qF 'shard,s\xff\x1b.tar,samples,' r.csv
run "$B" report "$idx" -f html -o r.html
check "report HTML holds no raw control byte and is valid UTF-8" raw r.html
check "report HTML shows the shard's bytes escaped" grep -qF 's\xff\x1b.tar' r.html
run "$B" report "$idx"
check "report text holds no raw control byte and is valid UTF-8" raw out.txt

# ---- audit: the sheet's names unescape to the index's, and it reads back --
run "$B" audit "$idx" -o a.tsv --html a.html
expect_rc 0 "audit of it"
check "audit sheet holds no raw control byte and is valid UTF-8" raw a.tsv
check "audit HTML is valid UTF-8" raw a.html
check "audit sheet escapes 0xff as \\xff in the shard column and the index" sh -c '
	grep -qF "	s\\xff\\x1b.tar	" a.tsv && grep -qF "| index idx\\xff.db |" a.tsv'
check "audit sheet shard and key columns unescape to the index's bytes" python3 -c '
import sqlite3
exec(open("unesc.py").read())
db = sqlite3.connect("file:" + "idx\udcff.db" + "?mode=ro", uri=True)
db.text_factory = bytes
want = set(db.execute("select sh.path, s.key from samples s join shards sh on sh.id = s.shard_id"))
rows = [l.split(b"\t") for l in open("a.tsv", "rb").read().splitlines() if not l.startswith(b"#")]
head, rows = rows[0], rows[1:]
si, ki = head.index(b"shard"), head.index(b"key")
got = {(unesc(r[si]), unesc(r[ki])) for r in rows}
assert rows and got <= want, (got, want)'
python3 -c '
rows = open("a.tsv", "rb").read().split(b"\n")
out = []
for l in rows:
    f = l.split(b"\t")
    if len(f) > 3 and not l.startswith(b"#") and f[0] != b"audit_row":
        f[3] = b"y"
    out.append(b"\t".join(f))
open("j.tsv", "wb").write(b"\n".join(out))'
run "$B" eval j.tsv
check "eval reads the escaped sheet back (exit 0 or 1)" test "$rc" -le 1
check "eval output holds no raw control byte" raw out.txt
run "$B" eval --json j.tsv
check "eval --json is valid UTF-8 JSON" python3 -c '
import json; json.loads(open("out.txt", "rb").read().decode("utf-8"))'
run "$B" report "$idx" --audit j.tsv -f json -o ra.json
check "report --audit reads the escaped sheet back (exit 0 or 1)" test "$rc" -le 1
check "report --audit JSON is valid UTF-8 JSON with the audit" python3 -c '
import json
d = json.loads(open("ra.json", "rb").read().decode("utf-8"))
assert d["audit"]["sheet"] == "j.tsv" and d["audit"]["nodes"], d.get("audit")'
