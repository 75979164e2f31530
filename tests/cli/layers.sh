# tests/cli/layers.sh - the library's modules depend on one another one way,
# and the index owns its SQL.
#
#   the call graph between lib/*.c has no cycle: module A calls module B
#     when A's object has an undefined symbol that B's object defines
#     (nm, on the objects the binary under test was linked from);
#   the include graph of lib/ ('#include "..."') has no cycle;
#   no object of lib/ refers to stdout, stderr, printf, exit or abort (the
#     library never prints or ends the process; tools/ do);
#   every SQL statement is in lib/index.c, and no other file of lib/
#     calls SQLite or includes sqlite3.h (index_int.h gives the others
#     cursors and queries, so a schema change is an edit of index.c).
#
# The cycle finder is checked on a made-up graph with a cycle first, so a
# broken finder cannot pass the real graph.
. "$TOP/tests/cli/lib.sh"

lib="$TOP/lib"
objdir=$(dirname "$B")/lib

# cycles EDGES: EDGES has lines "FROM TO WHY"; prints each cycle found as
# "a -(why)-> b -(why)-> a" and exits 1 when there is one.
cycles() {
	sort -u "$1" | awk '
	function dfs(u,   list, nl, i, v, j, path) {
		color[u] = 1
		stack[++sp] = u
		nl = split(adj[u], list, " ")
		for (i = 1; i <= nl; i++) {
			v = list[i]
			if (color[v] == 1) {
				for (j = 1; j <= sp && stack[j] != v; j++)
					;
				path = ""
				for (; j <= sp; j++)
					path = path stack[j] " -(" why[stack[j], (j < sp ? stack[j + 1] : v)] ")-> "
				print "cycle: " path v
				found = 1
			} else if (!color[v]) {
				dfs(v)
			}
		}
		color[u] = 2
		sp--
	}
	$1 != $2 {
		if (!(($1, $2) in why)) {
			why[$1, $2] = $3
			adj[$1] = adj[$1] " " $2
		}
		if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
		if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
	}
	END {
		for (k = 1; k <= n; k++)
			if (!color[order[k]])
				dfs(order[k])
		exit found
	}'
}

# edges of the call graph from nm's view of the objects in $1
call_edges() {
	for o in "$1"/*.o; do
		m=$(basename "$o" .o)
		nm -g --defined-only "$o" | awk -v m="$m" 'NF == 3 { print "D", m, $3 }'
		nm -u "$o" | awk -v m="$m" '{ print "U", m, $NF }'
	done | awk '$1 == "D" { def[$3] = $2 } $1 == "U" { u[++n] = $2; s[n] = $3 }
		END { for (i = 1; i <= n; i++) if ((s[i] in def) && def[s[i]] != u[i]) print u[i], def[s[i]], s[i] }'
}

# the finder finds a cycle when there is one, and none when there is not
printf 'a b f\nb c g\nc a h\n' > cyc.txt
printf 'a b f\nb c g\na c h\n' > dag.txt
if cycles cyc.txt > cyc.out; then
	bad "the cycle finder finds a made-up cycle"
else
	grep -q 'cycle: a -(f)-> b -(g)-> c -(h)-> a' cyc.out && ok "the cycle finder finds a made-up cycle" ||
		bad "the cycle finder names the made-up cycle" "$(cat cyc.out)"
fi
cycles dag.txt > dag.out && ok "the cycle finder passes a made-up graph without one" ||
	bad "the cycle finder passes a made-up graph without one" "$(cat dag.out)"

if ! command -v nm > /dev/null; then
	skip "call graph of lib/" "nm is not installed (binutils)"
elif ! ls "$objdir"/*.o > /dev/null 2>&1; then
	skip "call graph of lib/" "no objects beside the binary under test ($objdir)"
else
	call_edges "$objdir" > calls.txt
	# the finder sees the graph: report.c calls stats.c in any build
	grep -q '^report[a-z_]* stats ' calls.txt && ok "the call graph of lib/ is read from the objects" ||
		bad "the call graph of lib/ is read from the objects" "$(head -c 400 calls.txt)"
	cycles calls.txt > calls.out && ok "the call graph between lib/*.c has no cycle" ||
		bad "the call graph between lib/*.c has no cycle" "$(cat calls.out)"
	# the library never prints, exits or aborts: no object of lib/ refers
	# to the standard streams or to a function that writes to them or
	# ends the process (fwrite to a file it opened is fine).  The filter
	# is tried on a made-up reference first, so a broken one cannot pass.
	speaks() { awk '$1 == "U" && $3 ~ /^(printf|vprintf|puts|putchar|perror|fprintf|vfprintf|fputs|fputc|putc|stdout|stderr|exit|_exit|_Exit|abort|__printf_chk|__fprintf_chk|__vfprintf_chk|__vprintf_chk)$/ { print $2 ": " $3 }' "$1"; }
	echo "U scan stderr" > fake.txt
	[ -n "$(speaks fake.txt)" ] && ok "the filter for printing finds a made-up reference to stderr" ||
		bad "the filter for printing finds a made-up reference to stderr"
	for o in "$objdir"/*.o; do
		nm -u "$o" | awk -v m="$(basename "$o" .o)" '{ print "U", m, $NF }'
	done > undef.txt
	speaks undef.txt > speaks.txt
	[ -s undef.txt ] && [ ! -s speaks.txt ] && ok "lib/ never prints, exits or aborts (no stdout, stderr, printf, exit, abort)" ||
		bad "lib/ never prints, exits or aborts (no stdout, stderr, printf, exit, abort)" "$(head -c 400 speaks.txt)"
fi

for f in "$lib"/*.c "$lib"/*.h; do
	sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | while read -r h; do
		[ -f "$lib/$h" ] && echo "$(basename "$f") $h include"
	done
done > includes.txt
[ -s includes.txt ] && cycles includes.txt > includes.out && ok "the include graph of lib/ has no cycle" ||
	bad "the include graph of lib/ has no cycle" "$(cat includes.out 2>/dev/null)"

# SQL: statements, SQLite calls and sqlite3.h in lib/index.c only
(cd "$lib" && grep -nE 'SELECT|INSERT|UPDATE|DELETE|CREATE' *.c | grep -v '^index\.c:') > sql.txt
[ ! -s sql.txt ] && ok "SQL statements are in lib/index.c only" ||
	bad "SQL statements are in lib/index.c only" "$(head -c 400 sql.txt)"
(cd "$lib" && grep -nE 'sqlite3_[a-z0-9_]+ *\(|<sqlite3\.h>' *.c *.h | grep -v '^index\.c:') > sqlite.txt
[ ! -s sqlite.txt ] && ok "only lib/index.c calls SQLite" ||
	bad "only lib/index.c calls SQLite" "$(head -c 400 sqlite.txt)"
