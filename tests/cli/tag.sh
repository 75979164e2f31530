# tests/cli/tag.sh - "ballast tag" and "ballast eval": output order and
# empty lines, --json metadata, rule-file errors, and the accuracy bar of
# the shipped filters on the labelled dev set.
. "$TOP/tests/cli/lib.sh"

cat > t.rules <<'R'
label gender.female
  match \bwom[ae]n\b
label group.black
  match \bblack\b
  unless \bblack\s+dress\b
label meta.unsafe
  when punsafe >= 0.5 or NSFW == "NSFW"
R

printf 'a black woman\n\nplain words\na black dress\n' > in.txt
run "$B" tag -r t.rules < in.txt
expect_rc 0 "tag exits 0"
if [ "$(cat out.txt)" = "$(printf 'gender.female,group.black\n\n\n')" ] && [ "$(wc -l < out.txt)" -eq 4 ]; then
	ok "tag keeps order, one line per input line, empty lines"
else
	bad "tag keeps order, one line per input line, empty lines" "$(cat out.txt | od -c | head -5)"
fi

# a long line (1 MiB) is one line too
awk 'BEGIN { s = "a woman "; while (length(s) < 1048576) s = s s; print s; print "black" }' > long.txt
run "$B" tag -r t.rules < long.txt
expect_rc 0 "tag reads a 1 MiB line"
if [ "$(sed -n 1p out.txt)" = "gender.female" ] && [ "$(sed -n 2p out.txt)" = "group.black" ]; then ok "tag long line labels"; else bad "tag long line labels" "$(head -c 200 out.txt)"; fi

printf '%s\n' '{"caption": "a woman", "punsafe": 0.7}' '{"caption": "x", "NSFW": "NSFW"}' '{"caption": "a black woman", "punsafe": "0.1"}' > in.jsonl
run "$B" tag -r t.rules --json < in.jsonl
expect_rc 0 "tag --json exits 0"
if [ "$(cat out.txt)" = "$(printf 'gender.female,meta.unsafe\nmeta.unsafe\ngender.female,group.black\n')" ]; then ok "tag --json uses metadata"; else bad "tag --json uses metadata" "$(cat out.txt)"; fi

printf '{"caption": "a woman"\n' > bad.jsonl
run "$B" tag -r t.rules --json < bad.jsonl
expect_rc 1 "tag --json bad line exits 1"
expect_err 'line 1' "tag --json bad line names the line"

printf 'label x\n  match (ab\n' > bad.rules
run "$B" tag -r bad.rules < in.txt
expect_rc 3 "tag bad rule file exits 3"
expect_err 'bad.rules:2:12: bad pattern: missing closing parenthesis' "tag bad rule file message"

printf 'label x\n  frobnicate y\n' > bad2.rules
run "$B" tag -r bad2.rules < in.txt
expect_rc 3 "tag unknown keyword exits 3"
expect_err "bad2.rules:2:3: unknown keyword 'frobnicate'" "tag unknown keyword message"

run "$B" tag -r t.rules -r t.rules < in.txt
expect_rc 3 "tag same label twice exits 3"
expect_err "already defined at" "tag same label twice message"

run "$B" tag --bogus < in.txt
expect_rc 2 "tag bad option exits 2"

# a rule file or directory that declares no label is an error, not a run
# that tags nothing
: > empty.rules
run "$B" tag -r empty.rules < in.txt
expect_rc 3 "tag empty rule file exits 3"
expect_err "empty.rules: declares no labels" "tag empty rule file says so"
mkdir -p nolabels && printf '# only comments\n\n' > nolabels/a.rules
run "$B" tag -r nolabels < in.txt
expect_rc 3 "tag rule directory without labels exits 3"
expect_err "a.rules: declares no labels" "tag rule directory without labels says so"

# --view prints the normalised view the rules matched
printf '%s\n' "Women&#39;s #asianwoman s3xy" 'caf\xc3\xa9' > view.txt
printf 'label w\n  match \\b(?:asian|woman)\\b\nlabel sexual.s\n  match \\bsexy\\b\n' > v.rules
run "$B" tag -r v.rules --view < view.txt
expect_rc 0 "tag --view exits 0"
if [ "$(sed -n 1p out.txt)" = "$(printf 'sexual.s,w\tWomen'"'"'s #asian woman sexy')" ]; then
	ok "tag --view: labels, a tab, the view"
else
	bad "tag --view: labels, a tab, the view" "$(sed -n 1p out.txt | od -c | head -3)"
fi

# a caption with invalid UTF-8 is tagged (U+FFFD in its view) and reported
printf 'a woman \377 sexy\n' > badutf.txt
run "$B" tag -r v.rules --view < badutf.txt
expect_rc 1 "tag invalid UTF-8 exits 1"
if [ "$(cat out.txt)" = "$(printf 'sexual.s,w\ta woman \357\277\275 sexy')" ]; then
	ok "tag invalid UTF-8 still tags the caption"
else
	bad "tag invalid UTF-8 still tags the caption" "$(od -c out.txt | head -3)"
fi
expect_err "line 1: caption is not valid UTF-8 at byte 8" "tag invalid UTF-8 names line and byte"

run "$B" tag < in.txt
expect_rc 0 "tag with the shipped filters"
expect_out '^gender.female,group.black$' "tag with the shipped filters labels"

# the accuracy bar on the labelled dev set
dev=$(shared labels/dev.tsv)
if [ -z "$dev" ]; then
	skip "eval bar on dev.tsv" "shared data absent"
else
	run "$B" eval "$dev"
	expect_rc 0 "eval exits 0"
	cp out.txt filters.txt
	run "$B" eval -r "$TOP/tests/eval/baseline.rules" "$dev"
	cp out.txt baseline.txt
	for fam in sexual group gender age; do
		line=$(awk -v f="$fam" '$1 == "family" && $2 == f { print $3, $4 }' filters.txt)
		base=$(awk -v f="$fam" '$1 == "family" && $2 == f { print $3 }' baseline.txt)
		if echo "$line $base" | awk '{ exit !($1 != "-" && $1 >= 0.95 && $2 >= 0.90 && $1 > $3) }'; then
			ok "eval $fam P>=0.95 R>=0.90 above baseline ($line; baseline P $base)"
		else
			bad "eval $fam P>=0.95 R>=0.90 above baseline" "filters P R: $line; baseline P: $base"
		fi
	done
	run "$B" eval --errors --json "$dev"
	expect_rc 0 "eval --json exits 0"
	expect_out '"families"' "eval --json output"
fi
