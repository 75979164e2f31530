# CLI tests for ballast verify: a manifest checked against its shards.
. "$TOP/tests/cli/lib.sh"

"$B" mkshards gen --shards 3 --per-shard 200 --seed 8 --image-size 16 --skew east_asian:female=3 > /dev/null
"$B" scan 'gen/*.tar' -q -o ix.db > /dev/null
"$B" rebalance ix.db -p "$TOP/manifests/policies/deskew-sexualisation.policy" -o man > /dev/null
run "$B" verify man
expect_rc 0 "a fresh manifest verifies"
expect_out "^shards +3 \(0 do not match; 3 SHA-256 checked\)" "every shard's size and digest checked"
expect_out "^entries +600 \(0 do not match\)" "every entry checked"
run "$B" verify man --no-digest
expect_out "0 SHA-256 checked" "--no-digest skips the digests"

# a shard changed in place (same size): the digest catches it
cp gen/00001.tar saved.tar
python3 - gen/00001.tar <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.index(b".txt") + 600      # inside a caption's data block
b[i] = b[i] ^ 0x20
open(p, "wb").write(bytes(b))
PY
run "$B" verify man
expect_rc 1 "a changed shard fails verification"
expect_err "gen/00001.tar': SHA-256 .* differs" "and is named"

# the same samples under other keys: keys no longer where the
# manifest says, which --no-digest still sees
python3 - saved.tar gen/00001.tar <<'PY'
import sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as a, tarfile.open(dst, "w", format=a.format) as b:
    for m in a:
        data = a.extractfile(m)
        m.name = "9" + m.name[1:]      # 000010007.jpg -> 900010007.jpg
        b.addfile(m, data)
PY
run "$B" verify man --no-digest
expect_rc 1 "a shard with other samples fails"
expect_err "gen/00001.tar' sample [0-9]+: key '[0-9]+' at offset [0-9]+, the manifest says" "the mismatch names sample, key and offset"
mv gen/00001.tar moved.tar
run "$B" verify man
expect_rc 1 "a missing shard fails"
expect_err "gen/00001.tar': No such file" "the missing shard is named"
cp saved.tar gen/00001.tar
run "$B" verify man
expect_rc 0 "the original shard back: verifies again"
run "$B" verify nonexistent
expect_rc 3 "no manifest there is fatal"
