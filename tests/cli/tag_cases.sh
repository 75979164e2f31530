# tests/cli/tag_cases.sh - the shipped filters against the hard cases in
# tag_cases.tsv (one case a line: class, families compared, caption,
# expected labels).  One result line per class; a failure lists each
# caption whose labels differ, with what it got.
. "$TOP/tests/cli/lib.sh"

cases="$TOP/tests/cli/tag_cases.tsv"
# the cases without comments: class, families, caption, expected
awk -F'\t' '!/^#/ && NF >= 3 { print }' "$cases" > cases.tsv
cut -f3 cases.tsv > in.txt
run "$B" tag < in.txt
if [ "$(wc -l < out.txt)" -ne "$(wc -l < cases.tsv)" ]; then
	bad "tag_cases: one output line per case" "$(wc -l < out.txt) lines for $(wc -l < cases.tsv) cases; stderr: $(head -c 400 err.txt)"
	exit 0
fi
paste cases.tsv out.txt | awk -F'\t' '
	# keep the labels of got that fall in one of the families fams
	function pick(got, fams,    n, g, m, f, i, k, out, sep) {
		n = split(got, g, ",")
		m = split(fams, f, ",")
		out = ""; sep = ""
		for (i = 1; i <= n; i++)
			for (k = 1; k <= m; k++)
				if (f[k] == "*" || g[i] == f[k] || index(g[i], f[k] ".") == 1) {
					out = out sep g[i]; sep = ","
					break
				}
		return out
	}
	{
		cls = $1; total[cls]++
		if (!(cls in seen)) { seen[cls] = 1; order[++nc] = cls }
		got = pick($5, $2)
		if (got != $4) {
			wrong[cls]++
			detail[cls] = detail[cls] sprintf("     \"%s\": got [%s], want [%s]\n", $3, got, $4)
		}
	}
	END {
		for (i = 1; i <= nc; i++) {
			c = order[i]
			if (wrong[c]) {
				printf "FAIL tag_cases class %s: %d of %d cases wrong\n%s", c, wrong[c], total[c], detail[c]
			} else {
				printf "ok   tag_cases class %s (%d cases)\n", c, total[c]
			}
		}
	}'
