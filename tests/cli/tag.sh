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
