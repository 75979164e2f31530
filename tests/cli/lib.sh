# tests/cli/lib.sh - helpers for CLI test scripts (sourced).
#   run CMD...        runs CMD, keeping stdout in $out, stderr in $err and
#                     the exit status in $rc
#   expect_rc N NAME  checks $rc
#   expect_out PATTERN NAME / expect_err PATTERN NAME   grep -E on $out/$err
#   check NAME CMD... passes when CMD succeeds
#   skip NAME WHY
#   shared REL        path under the shared data folder, or "" if absent
#   find_python CODE  a python3 that runs CODE, or ""
set -u
B=${BALLAST:?}
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; [ $# -gt 1 ] && echo "     $2"; return 0; }
skip() { echo "skip $1: $2"; }
run() { "$@" > out.txt 2> err.txt; rc=$?; out=$(cat out.txt); err=$(cat err.txt); }
expect_rc() { if [ "$rc" -eq "$1" ]; then ok "$2"; else bad "$2" "exit $rc, wanted $1; stderr: $(head -c 400 err.txt)"; fi; }
expect_out() { if grep -qE -- "$1" out.txt; then ok "$2"; else bad "$2" "stdout lacks /$1/: $(head -c 400 out.txt)"; fi; }
expect_err() { if grep -qE -- "$1" err.txt; then ok "$2"; else bad "$2" "stderr lacks /$1/: $(head -c 400 err.txt)"; fi; }
check() { n=$1; shift; if "$@"; then ok "$n"; else bad "$n" "command failed: $*"; fi; }
# find_python CODE: the first of python3, /usr/bin/python3 that runs CODE
# (e.g. 'import torch'), or "" (Debian's packaged modules are for
# /usr/bin/python3; a python3 on PATH may be another build)
find_python() { for p in python3 /usr/bin/python3; do if command -v "$p" >/dev/null && "$p" -c "$1" 2>/dev/null; then echo "$p"; return; fi; done; echo ""; }
shared() { d=${BALLAST_SHARED_DATA:-}; if [ -n "$d" ] && [ -e "$d/$1" ]; then echo "$d/$1"; else echo ""; fi; }
