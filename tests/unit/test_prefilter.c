/*
 * Unit tests for prefilter.c: the required-literal extractor (patterns to
 * literal sets or "no gate"), the Aho-Corasick matcher, and the promise
 * that gates change no tag: every caption of the shipped caption files and
 * of a synthetic set tagged with the gates on and forced off
 * (BALLAST_NO_PREFILTER) gets the same labels.
 */
#include "test.h"
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The extractor's verdict on a pattern: "{a,b} & {c}", or "" for no gate. */
static const char *lits(const char *pat)
{
	static char out[4096];
	bl_buf b;

	bl_buf_init(&b, 0);
	if (bl_prefilter_describe(pat, strlen(pat), &b) < 0)
		snprintf(out, sizeof out, "(error)");
	else
		snprintf(out, sizeof out, "%s", b.buf);
	bl_buf_release(&b);
	return out;
}

BL_TEST(prefilter_extract_literals)
{
	CHECK_EQ_STR(lits("\\bnude\\b"), "{\\bnude\\b}");
	CHECK_EQ_STR(lits("NuDe"), "{nude}");
	CHECK_EQ_STR(lits("\\b(?:nude|naked|topless)\\b"), "{\\bnaked,\\bnude,\\btopless}");
	/* \b is part of a literal: the scan sees word boundaries, so
	 * "\bman\b" needs the word, not "woman" or "many" */
	/* a class of a few letters spells out; a quantified char ends a run */
	CHECK_EQ_STR(lits("\\bm[ae]n\\b"), "{\\bman\\b,\\bmen\\b}");
	CHECK_EQ_STR(lits("wom[ae]n\\b"), "{woman\\b,women\\b}");
	CHECK_EQ_STR(lits("\\bgirls?\\b"), "{\\bgirl\\b,\\bgirls\\b}");
	CHECK_EQ_STR(lits("colou?r"), "{color,colour}");
	CHECK_EQ_STR(lits("ab+cd"), "{ab} & {cd}");
	CHECK_EQ_STR(lits("abc{2}de"), "{abc} & {de}");
	CHECK_EQ_STR(lits("abc*de"), "{ab} & {de}");
	CHECK_EQ_STR(lits("ab{0,3}cd"), "{cd}");
	/* the best clauses come first: longest shortest literal */
	CHECK_EQ_STR(lits("\\bblack\\s+dress\\b"), "{\\bblack} & {dress\\b}");
	CHECK_EQ_STR(lits("\\bmother\\s*(?:'s|’s)?\\s*day\\b"), "{\\bmother} & {day\\b}");
	/* a group's prefixes extend the run before it */
	CHECK_EQ_STR(lits("j(?:ackets?|eans)|c(?:oats?|aps?)"),
		     "{cap,coat,jacket,jeans}");
	CHECK_EQ_STR(lits("grand(?:ma|pa)s?"), "{grandma,grandpa}");
	/* optional items, lookarounds and zero-width items are skipped */
	CHECK_EQ_STR(lits("(?:school|cow)?girls?"), "{girl}");
	CHECK_EQ_STR(lits("(?<=foo)bar"), "{bar}");
	CHECK_EQ_STR(lits("(?<!foo)bar(?!baz)(?=qux)"), "{bar}");
	CHECK_EQ_STR(lits("(?s)^.*\\b(?:action figures?|figurines?)\\b.*$"),
		     "{\\baction figure,\\bfigurine}");
	CHECK_EQ_STR(lits("(?-i:\\bThe Naked [A-Z])"), "{\\bthe naked }");
	CHECK_EQ_STR(lits("(?i)foo(?#comment)"), "{foo}");
	CHECK_EQ_STR(lits("(?<name>abc)|(?P<n2>def)"), "{abc,def}");
	/* escaped punctuation is a literal; \Q..\E and classes are not */
	CHECK_EQ_STR(lits("\\bmr\\.\\s+smith"), "{smith} & {\\bmr.}");
	CHECK_EQ_STR(lits("rock\\s*\\&\\s*roll"), "{rock} & {roll}");
	CHECK_EQ_STR(lits("rock\\&roll"), "{rock&roll}");
	CHECK_EQ_STR(lits("ab\\Qcd\\Eef"), "{ab} & {ef}");
	CHECK_EQ_STR(lits("[a-z]+ing\\b"), "{ing\\b}");
	CHECK_EQ_STR(lits("\\d+\\s*kg\\b"), "{kg\\b}");
	/* non-ASCII ends a run: caseless UTF-8 may match other forms */
	CHECK_EQ_STR(lits("\\bfianc[ée]e?s?\\b"), "{\\bfianc}");
	CHECK_EQ_STR(lits("caf\xc3\xa9s"), "{caf}");
	CHECK_EQ_STR(lits("\xc3\xa9t\xc3\xa9"), "");
}

BL_TEST(prefilter_extract_no_gate)
{
	/* nothing literal, or every literal optional */
	CHECK_EQ_STR(lits("\\w+"), "");
	CHECK_EQ_STR(lits("[a-z]{3}"), "");
	CHECK_EQ_STR(lits("(?:abc)?"), "");
	CHECK_EQ_STR(lits("x"), ""); /* one character filters nothing */
	CHECK_EQ_STR(lits("foo|\\w+"), "");
	CHECK_EQ_STR(lits("foo|"), "");
	CHECK_EQ_STR(lits("(?:foo|bar)*z?"), "");
	/* constructs it does not analyse */
	CHECK_EQ_STR(lits("(?x) f o o"), "");
	CHECK_EQ_STR(lits("(*ACCEPT)foo"), "");
	CHECK_EQ_STR(lits("(?(1)foo|bar)"), "");
	CHECK_EQ_STR(lits("(foo)(?1)"), "");
	CHECK_EQ_STR(lits("\\x66o"), "");
	CHECK_EQ_STR(lits("\\x{66}oo"), "{oo}");
	CHECK_EQ_STR(lits("(?C1)foo"), "");
	CHECK_EQ_STR(lits("\\N{U+66}oo"), "");
	/* a back-reference is not a literal; the rest still counts */
	CHECK_EQ_STR(lits("(ab)\\g{-1}cd"), "{ab} & {cd}");
	CHECK_EQ_STR(lits("(ab)\\1cd"), "{ab} & {cd}");
}

/* Scan text; "1,3" lists the ids hit. */
static const char *scan(const bl_prefilter *pf, const char *text)
{
	static char out[256];
	uint64_t hits[4];
	size_t n = 0;

	bl_prefilter_scan(pf, text, strlen(text), hits);
	out[0] = '\0';
	for (int id = 0; id < bl_prefilter_nids(pf); id++)
		if (hits[id >> 6] >> (id & 63) & 1)
			n += (size_t)snprintf(out + n, sizeof out - n, "%s%d",
					      n ? "," : "", id);
	return out;
}

BL_TEST(prefilter_automaton)
{
	bl_prefilter *pf = bl_prefilter_new();
	REQUIRE(pf);
	CHECK_EQ_INT(bl_prefilter_add(pf, "he", 2, 1), BL_OK);
	CHECK_EQ_INT(bl_prefilter_add(pf, "she", 3, 2), BL_OK);
	CHECK_EQ_INT(bl_prefilter_add(pf, "his", 3, 3), BL_OK);
	CHECK_EQ_INT(bl_prefilter_add(pf, "hers", 4, 4), BL_OK);
	CHECK_EQ_INT(bl_prefilter_add(pf, "man", 3, 5), BL_OK);
	CHECK_EQ_INT(bl_prefilter_add(pf, "woman", 5, 6), BL_OK);
	CHECK_EQ_INT(bl_prefilter_add(pf, "WOMEN", 5, 6), BL_OK);
	CHECK_EQ_INT(bl_prefilter_add(pf, "\xc5\xbf", 2, 0), BL_OK);
	CHECK_EQ_INT(bl_prefilter_add(pf, "", 0, 7), BL_EUSAGE);
	REQUIRE(bl_prefilter_build(pf) == BL_OK);
	CHECK_EQ_INT(bl_prefilter_add(pf, "x", 1, 1), BL_EUSAGE);
	CHECK_EQ_INT(bl_prefilter_nids(pf), 7);
	CHECK_EQ_STR(scan(pf, ""), "");
	CHECK_EQ_STR(scan(pf, "nothing to see"), "");
	/* overlapping: ushers holds she, he and hers */
	CHECK_EQ_STR(scan(pf, "ushers"), "1,2,4");
	/* a literal that is a suffix of another: woman holds man */
	CHECK_EQ_STR(scan(pf, "a woman"), "5,6");
	CHECK_EQ_STR(scan(pf, "A WoMaN"), "5,6");
	CHECK_EQ_STR(scan(pf, "two women"), "6");
	CHECK_EQ_STR(scan(pf, "this"), "3");
	CHECK_EQ_STR(scan(pf, "\xc5\xbf"), "0");
	CHECK_EQ_STR(scan(pf, "\xc5"), "");
	bl_prefilter_free(pf);
	bl_prefilter_free(NULL);

	/* no literals at all: scans hit nothing */
	pf = bl_prefilter_new();
	REQUIRE(pf);
	REQUIRE(bl_prefilter_build(pf) == BL_OK);
	CHECK_EQ_STR(scan(pf, "anything"), "");
	bl_prefilter_free(pf);
}

/* Tag every line of f with t; compare with u.  Returns mismatches. */
static long compare_file(bl_tagger *on, bl_tagger *off, const char *path,
			 int field, long *lines)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long bad = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while ((n = getline(&line, &cap, f)) > 0) {
		char *cap0 = line, *tab;
		bl_tag_input in;
		bl_labelset a, b;
		for (int k = 0; k < field && cap0; k++) {
			tab = strchr(cap0, '\t');
			cap0 = tab ? tab + 1 : NULL;
		}
		if (!cap0)
			continue;
		tab = strpbrk(cap0, "\t\n");
		memset(&in, 0, sizeof in);
		in.caption = cap0;
		in.caption_len = tab ? (size_t)(tab - cap0) : strlen(cap0);
		bl_tagger_tag(on, &in, &a);
		bl_tagger_tag(off, &in, &b);
		(*lines)++;
		if (memcmp(&a, &b, sizeof a) != 0) {
			if (bad < 5)
				fprintf(stderr, "    gate changes the tags of: %.*s\n",
					(int)in.caption_len, in.caption);
			bad++;
		}
	}
	free(line);
	fclose(f);
	return bad;
}

static bl_ruleset *shipped(void)
{
	bl_ruleset *rs = bl_ruleset_new();
	if (rs && (bl_ruleset_load_dir(rs, "filters") != BL_OK ||
		   bl_ruleset_compile(rs) != BL_OK)) {
		fprintf(stderr, "    %s\n", bl_ruleset_errmsg(rs));
		bl_ruleset_free(rs);
		rs = NULL;
	}
	return rs;
}

/* Two taggers over rs: gates on, gates off. */
static int taggers(const bl_ruleset *rs, bl_tagger **on, bl_tagger **off)
{
	const char *old = getenv("BALLAST_NO_PREFILTER");
	char *saved = old ? strdup(old) : NULL;

	unsetenv("BALLAST_NO_PREFILTER");
	*on = bl_tagger_new(rs);
	setenv("BALLAST_NO_PREFILTER", "1", 1);
	*off = bl_tagger_new(rs);
	if (saved)
		setenv("BALLAST_NO_PREFILTER", saved, 1);
	else
		unsetenv("BALLAST_NO_PREFILTER");
	free(saved);
	return *on && *off;
}

BL_TEST(prefilter_same_tags_synthetic)
{
	/* the gates' edge cases, and captions built from the shipped rules'
	 * words with case changes and the characters that fold to ASCII */
	static const char *const caps[] = {
		"", "a", "A WOMAN IN A BLACK DRESS", "a black woman in a black dress",
		"Women's jacket", "Men Leather Wingtip Oxfords",
		"Rings For Women Men Child", "baby girls short sleeve tee",
		"a girl in a red dress", "Pac-Man and Iron Man", "female dog",
		"a zebra grooms its coat", "a zebra and his reflection",
		"action figure of a man", "nude heels", "The Naked Tiger",
		"naked", "NAKED", "topleſs model", "\xe2\x84\xaaid in a park",
		("a \xe2\x84\xaa" "id"), "two mi\xc5\xbf\xc5\xbf", "GIRL\xc5\xbf",
		"bikini bottom", "Welcome to Bikini Bottom", "a 5-year-old boy",
		"boys aged 7", "Zuma, 5, and her sister", "little leaguer",
		"sexy woman in a red dress", "Sexy Mini Prom Lace Girls Party Gowns",
		"hot chocolate", "hot blonde", "an exotic beauty", "exotic cars",
		"asian woman", "Chinese restaurant", "black and white photo of women",
		"dark-skinned woman", "\xff\xfe broken \xc3 utf8 woman",
		"a man\x00 and a woman", "he", "she", "his hers",
	};
	bl_ruleset *rs = shipped();
	bl_tagger *on = NULL, *off = NULL;
	long bad = 0;

	REQUIRE(rs);
	REQUIRE(rs->gated_match > 0);
	if (!taggers(rs, &on, &off)) {
		bl_test_fail(__FILE__, __LINE__, "taggers");
		goto out;
	}
	for (size_t i = 0; i < sizeof caps / sizeof *caps; i++) {
		bl_tag_input in;
		bl_labelset a, b;
		size_t len = strlen(caps[i]);
		if (strcmp(caps[i], "a man") == 0)
			len = 18; /* with the NUL and the rest */
		memset(&in, 0, sizeof in);
		in.caption = caps[i];
		in.caption_len = len;
		bl_tagger_tag(on, &in, &a);
		bl_tagger_tag(off, &in, &b);
		if (memcmp(&a, &b, sizeof a) != 0) {
			fprintf(stderr, "    gate changes the tags of: %s\n", caps[i]);
			bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
	/* generated captions, as they are, upper-cased, and with every s and
	 * k spelt U+017F and U+212A */
	{
		bl_synth_config cfg;
		char err[256];
		bl_synth *sy;
		memset(&cfg, 0, sizeof cfg);
		cfg.seed = 42;
		cfg.image_size = 8;
		sy = bl_synth_new(&cfg, err, sizeof err);
		REQUIRE(sy);
		bad = 0;
		for (uint64_t i = 0; i < 3000 && bad < 5; i++) {
			bl_synth_sample smp;
			char buf[3][2048];
			if (bl_synth_make(sy, 0, i, &smp) != BL_OK ||
			    strlen(smp.caption) >= 600)
				continue;
			for (int v = 0; v < 3; v++) {
				const char *c = smp.caption;
				size_t n = 0;
				bl_tag_input in;
				bl_labelset a, b;
				for (; *c; c++) {
					if (v == 2 && (*c == 's' || *c == 'S')) {
						memcpy(buf[v] + n, "\xc5\xbf", 2);
						n += 2;
					} else if (v == 2 && (*c == 'k' || *c == 'K')) {
						memcpy(buf[v] + n, "\xe2\x84\xaa", 3);
						n += 3;
					} else {
						buf[v][n++] = v == 1 && *c >= 'a' && *c <= 'z'
							      ? (char)(*c - 'a' + 'A') : *c;
					}
				}
				memset(&in, 0, sizeof in);
				in.caption = buf[v];
				in.caption_len = n;
				bl_tagger_tag(on, &in, &a);
				bl_tagger_tag(off, &in, &b);
				if (memcmp(&a, &b, sizeof a) != 0) {
					fprintf(stderr, "    gate changes the tags of: %.*s\n",
						(int)n, buf[v]);
					bad++;
				}
			}
		}
		bl_synth_free(sy);
		CHECK_EQ_INT(bad, 0);
	}
	/* the folding characters bypass the gates: "milkman" with a Kelvin
	 * sign, "mistresses" with long s match without their literals */
	{
		bl_tag_input in;
		bl_labelset a;
		memset(&in, 0, sizeof in);
		in.caption = "a mil\xe2\x84\xaa""man";
		in.caption_len = strlen(in.caption);
		bl_tagger_tag(on, &in, &a);
		CHECK(bl_labelset_has(&a, bl_ruleset_label_index(rs, "gender.male")));
		in.caption = "two mi\xc5\xbftre\xc5\xbf\xc5\xbf""es";
		in.caption_len = strlen(in.caption);
		bl_tagger_tag(on, &in, &a);
		CHECK(bl_labelset_has(&a, bl_ruleset_label_index(rs, "gender.female")));
	}
out:
	bl_tagger_free(on);
	bl_tagger_free(off);
	bl_ruleset_free(rs);
}

BL_TEST(prefilter_same_tags_real)
{
	static const struct {
		const char *rel;
		int field; /* tab-separated field of the caption */
	} files[] = {
		{"captions/img2dataset-test-10000.tsv", 0},
		{"captions/cc3m-validation.tsv", 0},
		{"captions/flickr8k-token.txt", 1},
		{"labels/dev.tsv", 2},
	};
	bl_ruleset *rs;
	bl_tagger *on = NULL, *off = NULL;
	long bad = 0, lines = 0;

	if (!bl_test_shared()) {
		bl_test_skip("no ../shared/data");
		return;
	}
	rs = shipped();
	REQUIRE(rs);
	if (!taggers(rs, &on, &off)) {
		bl_test_fail(__FILE__, __LINE__, "taggers");
		goto out;
	}
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		const char *path = bl_test_data(files[i].rel);
		long r;
		if (!path)
			continue;
		r = compare_file(on, off, path, files[i].field, &lines);
		if (r < 0)
			bl_test_failf(__FILE__, __LINE__, "cannot read %s", path);
		else
			bad += r;
	}
	CHECK(lines > 10000);
	CHECK_EQ_INT(bad, 0);
out:
	bl_tagger_free(on);
	bl_tagger_free(off);
	bl_ruleset_free(rs);
}
