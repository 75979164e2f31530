# tests/cli/tag_eval.sh - how "ballast eval" scores labels the labelled
# file does not use: attire rolls up to TAXONOMY.md's swimwear and
# underwear (a narrower attire.lingerie, implying attire.underwear, is
# neither right nor wrong), facts such as text.* and caption.* are listed
# as not scored, and --errors leaves them out.
. "$TOP/tests/cli/lib.sh"

cat > e.rules <<'R'
label attire.lingerie
  match \bthong\b
  implies attire.underwear
label attire.underwear
  match \bbra\b
label attire.swimwear
  match \bbikini\b
label text.listing
  match \bsize\b
label gender.female
  match \bwoman\b
R
# attire.underwear: tp 2 (r1 r2), fp 1 (r3), fn 1 (r4); swimwear tp 1 (r5)
# attire.lingerie fires on r1 and r3 and is no label of TAXONOMY.md nor
# of the file: not scored.  text.listing fires on r6: not scored.
printf 'source\trow\tcaption\tlabels\tnote\n' > e.tsv
printf '%s\t%s\t%s\t%s\t\n' \
	S r1 'a thong' attire.underwear \
	S r2 'a bra' attire.underwear \
	S r3 'thong sandals' '' \
	S r4 'a corset' attire.underwear \
	S r5 'a bikini' attire.swimwear \
	S r6 'a woman, size 8' gender.female >> e.tsv
run "$B" eval -r e.rules --errors e.tsv
expect_rc 0 "eval with unscored labels exits 0"
row() { awk -v k="$1" -v n="$2" '$1 == k && $2 == n && $NF == "*" { $1 = $1; print }' out.txt; }
want() {
	got=$(row "$1" "$2")
	if [ "$got" = "$3" ]; then ok "eval $1 $2: $4"; else bad "eval $1 $2: $4" "got '$got', wanted '$3'"; fi
}
# attire family: underwear 2/3 and 2/3, swimwear 1/1 -> tp 3 fp 1 fn 1
want family attire 'family attire 0.750 0.750 4 3 1 1 0.301 0.954 0.301 0.954 *' "rolls up to swimwear and underwear, lingerie not counted"
want label attire.underwear 'label attire.underwear 0.667 0.667 3 2 1 1 0.208 0.939 0.208 0.939 *' "the implied label is scored"
if grep -q '^label *attire.lingerie' out.txt; then
	bad "eval: attire.lingerie has no line of its own" "$(grep lingerie out.txt)"
else
	ok "eval: attire.lingerie has no line of its own"
fi
if grep -q '^# not scored.* attire.lingerie=2 .*text.listing=1' out.txt; then
	ok "eval lists attire.lingerie and text.listing as not scored, with counts"
else
	bad "eval lists attire.lingerie and text.listing as not scored, with counts" "$(grep '^#' out.txt)"
fi
# --errors: r3 (+attire.underwear) and r4 (-attire.underwear); r1 differs
# only by the unscored attire.lingerie and r6 only by text.listing
if [ "$(grep -c '^error' out.txt)" -eq 2 ] && grep -q '^error *S:r3	 +attire.underwear	thong sandals$' out.txt &&
	grep -q '^error *S:r4	-attire.underwear 	a corset$' out.txt; then
	ok "eval --errors lists scored differences only"
else
	bad "eval --errors lists scored differences only" "$(grep '^error' out.txt)"
fi

# a file that labels text.listing itself has it scored
printf 'source\trow\tcaption\tlabels\tnote\n' > f.tsv
printf '%s\t%s\t%s\t%s\t\n' S r1 'size 8' text.listing S r2 'a size chart' '' >> f.tsv
run "$B" eval -r e.rules f.tsv
want label text.listing 'label text.listing 0.500 1.000 1 1 1 0 0.095 0.905 0.207 1.000 *' "a label the file uses is scored"
