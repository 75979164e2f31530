# CLI tests for the atomic writer every output goes through (lib/file.c),
# seen through `ballast report -o`: no predictable temporary name to
# plant a symlink on, a symlink at the destination replaced rather than
# written through, and devices, FIFOs and /dev/stdout written in place,
# never replaced by a regular file.
. "$TOP/tests/cli/lib.sh"

"$B" mkshards gen --shards 1 --per-shard 50 --seed 2 --image-size 16 > /dev/null
"$B" scan gen/00000.tar -o ix.db -q > /dev/null

# a symlink planted where the old writer put its temporary file
echo precious > victim
ln -s "$PWD/victim" report.txt.tmp
run "$B" report ix.db -o report.txt
expect_rc 0 "report -o with a symlink planted at NAME.tmp"
[ "$(cat victim)" = precious ] && ok "the symlink's target is untouched" || bad "the symlink's target is untouched"
grep -q . report.txt && [ ! -L report.txt ] && ok "the report is written as a regular file" || bad "the report is written"
ls -a | grep -q '^\.report\.txt\.' && bad "no temporary file left behind" || ok "no temporary file left behind"

# a symlink at the destination itself: replaced, its target untouched
ln -s "$PWD/victim" link.txt
run "$B" report ix.db -o link.txt
expect_rc 0 "report -o onto a symlink"
[ "$(cat victim)" = precious ] && [ ! -L link.txt ] && ok "the link is replaced, its target untouched" || bad "the link is replaced, its target untouched"

# devices and FIFOs are written in place
if [ -c /dev/null ] && [ -w /dev/null ]; then
	run "$B" report ix.db -o /dev/null
	expect_rc 0 "report -o /dev/null"
	[ -c /dev/null ] && ok "/dev/null is still a character device" || bad "/dev/null is still a character device"
else
	skip "report -o /dev/null" "no writable /dev/null"
fi
"$B" report ix.db -o /dev/stdout > via-stdout.txt 2> err.txt; rc=$?
expect_rc 0 "report -o /dev/stdout"
cmp -s via-stdout.txt report.txt && ok "/dev/stdout gets the report (stdout was a file)" || bad "/dev/stdout gets the report"
[ -L /dev/stdout ] || [ -c /dev/stdout ] || [ ! -e /dev/stdout ] && ok "/dev/stdout is not replaced" || bad "/dev/stdout is not replaced"
mkfifo fifo
cat fifo > from-fifo.txt &
run "$B" report ix.db -o fifo
wait
expect_rc 0 "report -o FIFO"
[ -p fifo ] && cmp -s from-fifo.txt report.txt && ok "a FIFO is written in place and stays a FIFO" || bad "a FIFO is written in place"
mkdir adir
run "$B" report ix.db -o adir
expect_rc 3 "report -o DIRECTORY fails"
expect_err "is a directory" "and says why"
