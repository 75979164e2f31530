# tests/cli/probe.sh - "ballast probe": usage, exit codes, one line per
# file, and a single --check run over every file of the shared jpeg/ folder
# (photos, variants, fuzz crashers, bombs) that must not crash or hang.
. "$TOP/tests/cli/lib.sh"

# ---- without shared data ------------------------------------------------
run "$B" probe
expect_rc 2 probe-no-files-is-usage
run "$B" probe --bogus x
expect_rc 2 probe-bad-option-is-usage
run "$B" probe --max-pixels -5 x
expect_rc 2 probe-bad-max-pixels-is-usage
run "$B" probe --help
expect_rc 0 probe-help
expect_out '^usage: ballast probe' probe-help-text

run "$B" probe does-not-exist.jpg
expect_rc 1 probe-missing-file-is-item-failure
expect_out '^does-not-exist.jpg	.*error: cannot open: No such file' probe-missing-file-line

# a PNG header under a .jpg name: format from the bytes
printf '\211PNG\r\n\032\n\000\000\000\015IHDR\000\000\000\006\000\000\000\006\010\002\000\000\000' > fake.jpg
: > empty.jpg
run "$B" probe fake.jpg
expect_rc 0 probe-png-ok
expect_out '^fake.jpg	png	6x6	3	' probe-png-line
run "$B" probe --json fake.jpg empty.jpg
expect_rc 1 probe-json-empty-fails
if python3 -c 'import json,sys
rows=[json.loads(l) for l in open("out.txt")]
assert len(rows)==2, rows
assert rows[0]["format"]=="png" and rows[0]["width"]==6 and rows[0]["ok"] is True
assert rows[1]["ok"] is False and rows[1]["error"]=="empty file" and rows[1]["corrupt"] is True
' 2>err.py; then ok probe-json-lines; else bad probe-json-lines "$(cat err.py)"; fi

# ---- the shared jpeg/ folder ------------------------------------------
d=$(shared jpeg)
if [ -z "$d" ]; then
	skip probe-shared-jpeg "shared data folder jpeg/ is absent (set BALLAST_SHARED_DATA)"
	exit 0
fi
find "$d" -type f | LC_ALL=C sort > files.txt
nfiles=$(wc -l < files.txt)
# one run over every file; the names hold no blanks (checked here)
if grep -q '[[:space:]]' files.txt; then
	bad probe-shared-names "a file name under $d has blanks"
	exit 0
fi
# shellcheck disable=SC2046
run timeout 300 "$B" probe --check $(cat files.txt)
if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then
	ok probe-shared-no-crash
else
	bad probe-shared-no-crash "exit $rc (>= 124: timeout or signal); stderr: $(head -c 400 err.txt)"
fi
nlines=$(wc -l < out.txt)
if [ "$nlines" -eq "$nfiles" ]; then
	ok probe-shared-one-line-per-file
else
	bad probe-shared-one-line-per-file "$nlines lines for $nfiles files"
fi
# the lines come in argument order, each naming its file
if cut -f1 out.txt | cmp -s - files.txt; then
	ok probe-shared-lines-in-order
else
	bad probe-shared-lines-in-order "first column differs from the file list"
fi
# every line ends with ok or an error with a reason
if awk -F'\t' 'NF != 8 || ($8 != "ok" && $8 !~ /^error: ./) { exit 1 }' out.txt; then
	ok probe-shared-every-line-judged
else
	bad probe-shared-every-line-judged "$(awk -F'\t' 'NF != 8 || ($8 != "ok" && $8 !~ /^error: ./)' out.txt | head -3)"
fi
# the declared 65535x65535 bombs are refused by the limit, never decoded
nbomb=$(grep -c '	65535x65535	' out.txt)
nrefused=$(grep -c '	65535x65535	.*error: 65535x65535 exceeds the 67108864-pixel limit$' out.txt)
if [ "$nbomb" -ge 1 ] && [ "$nbomb" -eq "$nrefused" ]; then
	ok probe-shared-bombs-refused
else
	bad probe-shared-bombs-refused "$nrefused of $nbomb 65535x65535 files refused"
fi
expect_out 'jpg-size-6x6.jpg	png	6x6	' probe-shared-png-named-jpg
expect_out 'monkey12.jpg	jpeg	149x227	3	.*error: 12-bit JPEG: not supported by libjpeg-turbo 2.1$' probe-shared-12bit-reason
expect_out 'empty.jpg	unknown	0x0	.*error: empty file$' probe-shared-empty-file
# real photos all pass the decode check
grep '/photos/.*\.jpg	' out.txt > photos.txt
if [ ! -s photos.txt ]; then
	bad probe-shared-photos-ok "no photos/*.jpg lines in the output"
elif grep -qv '	ok$' photos.txt; then
	bad probe-shared-photos-ok "$(grep -v '	ok$' photos.txt | head -3)"
else
	ok probe-shared-photos-ok
fi
