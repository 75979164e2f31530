/*
 * Unit tests for rules.c, tagger.c and meta.c: the rule-file parser and its
 * errors, unless, predicates, image facts, implication, the derived
 * safety.minor_sexual, match limits, invalid UTF-8, and a few captions per
 * shipped family (hard negatives included).
 *
 * The minor/sexual derivation is tested with abstract placeholder words
 * only ("minorterm", "sexterm"): test data never describes minors in any
 * sexual way.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A compiled rule set from a string, or NULL (with the error printed). */
static bl_ruleset *rules(const char *text)
{
	bl_ruleset *rs = bl_ruleset_new();
	if (!rs)
		return NULL;
	if (bl_ruleset_load_string(rs, "t.rules", text, strlen(text)) != BL_OK ||
	    bl_ruleset_compile(rs) != BL_OK) {
		fprintf(stderr, "    %s\n", bl_ruleset_errmsg(rs));
		bl_ruleset_free(rs);
		return NULL;
	}
	return rs;
}

/* The error a text gives when loaded (and compiled). */
static const char *load_error(const char *text)
{
	static char msg[1024];
	bl_ruleset *rs = bl_ruleset_new();
	int rc = bl_ruleset_load_string(rs, "t.rules", text, strlen(text));
	if (rc == BL_OK)
		rc = bl_ruleset_compile(rs);
	snprintf(msg, sizeof msg, "%s", rc == BL_OK ? "(no error)" : bl_ruleset_errmsg(rs));
	bl_ruleset_free(rs);
	return msg;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Tag with everything; the sorted label names, comma separated. */
static const char *tag_full(bl_ruleset *rs, const char *cap, size_t caplen,
			    const char *json, const bl_image_info *img, int *rc)
{
	static char out[4096];
	const char *names[BL_MAX_LABELS];
	bl_tag_input in;
	bl_labelset ls;
	bl_tagger *t = bl_tagger_new(rs);
	int n = 0, r;

	out[0] = '\0';
	if (!t)
		return "(no tagger)";
	memset(&in, 0, sizeof in);
	in.caption = cap;
	in.caption_len = caplen;
	in.json = json;
	in.json_len = json ? strlen(json) : 0;
	in.image = img;
	r = bl_tagger_tag(t, &in, &ls);
	if (rc)
		*rc = r;
	for (int i = 0; i < bl_ruleset_nlabels(rs); i++)
		if (bl_labelset_has(&ls, i))
			names[n++] = bl_ruleset_label(rs, i);
	qsort(names, (size_t)n, sizeof *names, cmp_str);
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strncat(out, names[i], sizeof out - strlen(out) - 1);
	}
	bl_tagger_free(t);
	return out;
}

static const char *tag(bl_ruleset *rs, const char *cap)
{
	return tag_full(rs, cap, strlen(cap), NULL, NULL, NULL);
}

/* A sample without a caption: only its JSON is read. */
static const char *tag_json(bl_ruleset *rs, const char *json)
{
	return tag_full(rs, NULL, 0, json, NULL, NULL);
}

/* ---- the parser ------------------------------------------------------ */

BL_TEST(rules_bad_regex_names_file_line_col)
{
	const char *e = load_error("label a.b\n  match \\bok\\b\n  match (ab\n");
	CHECK_CONTAINS(e, "t.rules:3:12: bad pattern: ");
	CHECK_CONTAINS(e, "missing closing parenthesis");
	e = load_error("label a\nmatch x[\n");
	CHECK_CONTAINS(e, "t.rules:2:9:");
	CHECK_CONTAINS(e, "missing terminating ]");
}

BL_TEST(rules_unknown_keyword)
{
	CHECK_CONTAINS(load_error("# c\n\nlabel a\n  matches x\n"),
		       "t.rules:4:3: unknown keyword 'matches'");
	CHECK_CONTAINS(load_error("match x\n"), "t.rules:1:1: 'match' before any 'label'");
	CHECK_CONTAINS(load_error("label Bad.Name\n"), "t.rules:1:7: bad label name");
	CHECK_CONTAINS(load_error("label a.\n"), "bad label name");
	CHECK_CONTAINS(load_error("label safety.minor_sexual\n"), "derived");
	CHECK_CONTAINS(load_error("label a\n  match\n"), "missing pattern");
}

BL_TEST(rules_label_defined_twice_across_files)
{
	char a[512], b[512];
	FILE *f;
	bl_ruleset *rs = bl_ruleset_new();

	snprintf(a, sizeof a, "%s/one.rules", bl_test_tmpdir());
	snprintf(b, sizeof b, "%s/two.rules", bl_test_tmpdir());
	f = fopen(a, "w");
	REQUIRE(f);
	fputs("label x.y\n  match foo\nlabel gender.female\n  match woman\n", f);
	fclose(f);
	f = fopen(b, "w");
	REQUIRE(f);
	fputs("# other\nlabel z\n  match bar\nlabel gender.female\n  match lady\n", f);
	fclose(f);
	CHECK_EQ_INT(bl_ruleset_load_file(rs, a), BL_OK);
	CHECK_EQ_INT(bl_ruleset_nlabels(rs), 3);
	CHECK_EQ_INT(bl_ruleset_load_file(rs, b), BL_FAILED);
	CHECK_CONTAINS(bl_ruleset_errmsg(rs), "two.rules:4:7: label 'gender.female' is already defined at ");
	CHECK_CONTAINS(bl_ruleset_errmsg(rs), "one.rules:3");
	/* the failed load left the set as it was: z was not added */
	CHECK_EQ_INT(bl_ruleset_nlabels(rs), 3);
	CHECK_EQ_INT(bl_ruleset_label_index(rs, "z"), -1);
	CHECK_EQ_INT(bl_ruleset_compile(rs), BL_OK);
	CHECK_EQ_INT(bl_ruleset_load_file(rs, b), BL_EUSAGE); /* frozen */
	bl_ruleset_free(rs);
	/* twice in one file */
	CHECK_CONTAINS(load_error("label a\nlabel a\n"), "t.rules:2:7: label 'a' is already defined at t.rules:1");
}

BL_TEST(rules_missing_file_and_dir)
{
	bl_ruleset *rs = bl_ruleset_new();
	CHECK_EQ_INT(bl_ruleset_load_file(rs, "/nonexistent/x.rules"), BL_FAILED);
	CHECK_CONTAINS(bl_ruleset_errmsg(rs), "cannot open '/nonexistent/x.rules'");
	CHECK_EQ_INT(bl_ruleset_load_dir(rs, "/nonexistent"), BL_FAILED);
	{
		char d[512];
		snprintf(d, sizeof d, "%s/empty", bl_test_tmpdir());
		REQUIRE(mkdir(d, 0700) == 0);
		CHECK_EQ_INT(bl_ruleset_load_dir(rs, d), BL_FAILED);
		CHECK_CONTAINS(bl_ruleset_errmsg(rs), "no *.rules files in");
	}
	CHECK_EQ_INT(bl_ruleset_nlabels(rs), 1);
	bl_ruleset_free(rs);
}

BL_TEST(rules_bad_predicate)
{
	CHECK_CONTAINS(load_error("label a\n  when punsafe = 0.5\n"),
		       "t.rules:2:16: unknown operator");
	CHECK_CONTAINS(load_error("label a\n  when punsafe >= \n"), "t.rules:2:18: expected a number");
	CHECK_CONTAINS(load_error("label a\n  when status == \"oops\n"), "unterminated string");
	CHECK_CONTAINS(load_error("label a\n  when width > \"big\"\n"), "image facts are numbers");
	CHECK_CONTAINS(load_error("label a\n  when image.colour > 1\n"), "unknown image fact");
	CHECK_CONTAINS(load_error("label a\n  when a > 1 b > 2\n"), "t.rules:2:14: expected an operator, 'and', 'or'");
	CHECK_CONTAINS(load_error("label a\n  when\n"), "missing condition");
	CHECK_CONTAINS(load_error("label a\n  when x == null and y < null\n"), "null compares only");
	CHECK_CONTAINS(load_error("label a\n  implies nowhere.label\n"), "t.rules:2:11: 'implies' names an unknown label 'nowhere.label'");
	CHECK_CONTAINS(load_error("label a\n  match {NOPE}x\n"), "t.rules:2:9: {NOPE} is not defined");
}

BL_TEST(rules_digest_and_uses)
{
	bl_ruleset *a = rules("label a\n  match x\n");
	bl_ruleset *b = rules("label a\n  match y\n");
	bl_ruleset *c = rules("label a\n  when punsafe > 1\nlabel b\n  when width < 3\n");
	REQUIRE(a && b && c);
	CHECK_EQ_INT(strlen(bl_ruleset_digest(a)), 64);
	CHECK(strcmp(bl_ruleset_digest(a), bl_ruleset_digest(b)) != 0);
	CHECK_EQ_INT(bl_ruleset_uses_json(a), 0);
	CHECK_EQ_INT(bl_ruleset_uses_image(a), 0);
	CHECK_EQ_INT(bl_ruleset_uses_json(c), 1);
	CHECK_EQ_INT(bl_ruleset_uses_image(c), 1);
	CHECK_EQ_STR(bl_ruleset_label(a, 0), "safety.minor_sexual");
	CHECK_EQ_INT(bl_ruleset_label_index(a, "a"), 1);
	CHECK(bl_ruleset_label(a, 99) == NULL);
	bl_ruleset_free(a);
	bl_ruleset_free(b);
	bl_ruleset_free(c);
}

/* ---- matching ------------------------------------------------------- */

BL_TEST(rules_match_unless_define)
{
	bl_ruleset *rs = rules(
		"define THING (?:dress|dog|background)s?\n"
		"label group.black\n"
		"  match \\bblack\\b\n"
		"  unless \\bblack\\s+{THING}\\b\n"
		"label x.case\n"
		"  match (?-i:\\bNASA\\b)\n"
		"  match \\{NOTADEFINE}\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "a black dress"), "");
	CHECK_EQ_STR(tag(rs, "two black dogs on a white background"), "");
	/* unless cancels only the occurrence it overlaps */
	CHECK_EQ_STR(tag(rs, "a BLACK woman in a black dress"), "group.black");
	CHECK_EQ_STR(tag(rs, "a black dress on a black model"), "group.black");
	CHECK_EQ_STR(tag(rs, "nasa"), "");
	CHECK_EQ_STR(tag(rs, "NASA"), "x.case");
	CHECK_EQ_STR(tag(rs, "{NOTADEFINE}"), "x.case");
	CHECK_EQ_STR(tag(rs, ""), "");
	bl_ruleset_free(rs);
}

/* Every unless pattern counts on its own: a shorter match of one at the
 * same place does not hide a longer match of another, and occurrences
 * later in the caption see spans found past earlier ones. */
BL_TEST(rules_unless_each_pattern)
{
	bl_ruleset *rs = rules(
		"label x.dress\n"
		"  match \\bdress\\b\n"
		"  unless \\bred\\b\n"
		"  unless \\bred dress\\b\n"
		"label x.man\n"
		"  match \\bm[ae]n\\b\n"
		"  unless \\biron man\\b\n"
		"  unless \\bmen's\\b\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "a red dress"), "");
	CHECK_EQ_STR(tag(rs, "a red hat and a dress"), "x.dress");
	CHECK_EQ_STR(tag(rs, "a red dress and a blue dress"), "x.dress");
	CHECK_EQ_STR(tag(rs, "iron man, men's shoes"), "");
	CHECK_EQ_STR(tag(rs, "iron man, men's shoes, a man"), "x.man");
	CHECK_EQ_STR(tag(rs, "a man, iron man"), "x.man");
	CHECK_EQ_STR(tag(rs, "men's iron man"), "");
	bl_ruleset_free(rs);
}

/* Each match pattern is a program of its own: numbered groups count
 * from 1 in every pattern, and occurrences of all patterns are judged in
 * caption order, whichever pattern finds them. */
BL_TEST(rules_match_each_pattern)
{
	bl_ruleset *rs = rules(
		"label x.pet\n"
		"  match \\b(dog)\\b\n"
		"  match \\bcat\\b\n"
		"  match \\b(\\w)\\1\\1\\b\n"
		"  unless \\bcat food\\b\n"
		"  unless \\bhot dog\\b\n"
		"  unless \\bzzz sleep\\b\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "zzz"), "x.pet");
	CHECK_EQ_STR(tag(rs, "a dog"), "x.pet");
	CHECK_EQ_STR(tag(rs, "dogdog"), "");
	CHECK_EQ_STR(tag(rs, "cat food and a hot dog"), "");
	CHECK_EQ_STR(tag(rs, "hot dog, cat food, zzz sleep"), "");
	CHECK_EQ_STR(tag(rs, "cat food, a dog"), "x.pet");
	CHECK_EQ_STR(tag(rs, "a cat, hot dog"), "x.pet");
	CHECK_EQ_STR(tag(rs, "hot dog, cat food, zzz"), "x.pet");
	CHECK_EQ_STR(tag(rs, "zzz sleep: hot dog, cat"), "x.pet");
	bl_ruleset_free(rs);
}

BL_TEST(rules_predicates)
{
	bl_ruleset *rs = rules(
		"label m.ge\n  when punsafe >= 0.5\n"
		"label m.gt\n  when punsafe > 0.5\n"
		"label m.lt\n  when punsafe < 0.5\n"
		"label m.le\n  when punsafe <= 0.5\n"
		"label m.eq\n  when NSFW == \"NSFW\"\n"
		"label m.ne\n  when status != \"success\"\n"
		"label m.missing\n  when status missing\n"
		"label m.exists\n  when status exists\n"
		"label m.not\n  when not punsafe >= 0.5\n"
		"label m.and\n  when punsafe > 0.1 and NSFW == \"UNSURE\" or flag == true\n"
		"label m.null\n  when caption == null\n"
		"label m.nested\n  when a.b >= 2\n"
		"label m.truthy\n  when flag\n"
		"label m.strlt\n  when NSFW < \"O\"\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag_json(rs, "{\"punsafe\": 0.5}"),
		     "m.ge,m.le,m.missing");
	CHECK_EQ_STR(tag_json(rs, "{\"punsafe\": 0.9, \"status\": \"success\"}"),
		     "m.exists,m.ge,m.gt");
	CHECK_EQ_STR(tag_json(rs, "{\"punsafe\": 0.2, \"status\": \"failed_to_download\"}"),
		     "m.exists,m.le,m.lt,m.ne,m.not");
	/* a number written as a string compares as a number */
	CHECK_EQ_STR(tag_json(rs, "{\"punsafe\": \"0.73\"}"), "m.ge,m.gt,m.missing");
	/* a string that is not a number does not compare with numbers */
	CHECK_EQ_STR(tag_json(rs, "{\"punsafe\": \"high\"}"), "m.missing,m.not");
	CHECK_EQ_STR(tag_json(rs, "{\"NSFW\": \"NSFW\"}"), "m.eq,m.missing,m.not,m.strlt");
	CHECK_EQ_STR(tag_json(rs, "{\"NSFW\": \"UNSURE\", \"punsafe\": 0.3}"),
		     "m.and,m.le,m.lt,m.missing,m.not");
	CHECK_EQ_STR(tag_json(rs, "{\"flag\": true, \"caption\": null}"),
		     "m.and,m.missing,m.not,m.null,m.truthy");
	CHECK_EQ_STR(tag_json(rs, "{\"flag\": 0, \"a\": {\"b\": 3}}"),
		     "m.missing,m.nested,m.not");
	/* no JSON: every comparison false, missing true */
	CHECK_EQ_STR(tag(rs, "anything"), "m.missing,m.not");
	bl_ruleset_free(rs);
}

/* One tagger, many JSON members: small ones, ones too big for the
 * tagger's arena (a long string; many items), bad ones; each sample sees
 * its own fields only (ASan checks the memory). */
BL_TEST(rules_json_many_samples_one_tagger)
{
	bl_ruleset *rs = rules("label m.unsafe\n  when punsafe >= 0.5\n"
			       "label m.tail\n  when tail == \"end\"\n");
	bl_tagger *t = NULL;
	bl_buf big;
	int bad = 0;

	REQUIRE(rs);
	t = bl_tagger_new(rs);
	REQUIRE(t);
	bl_buf_init(&big, 0);
	for (int i = 0; i < 60; i++) {
		bl_tag_input in;
		bl_labelset ls;
		double num = 0;
		const char *str = NULL;
		int want_unsafe = i % 2, want_tail = 0, r;
		bl_buf_reset(&big);
		bl_buf_addf(&big, "{\"punsafe\": %s", want_unsafe ? "0.9" : "0.1");
		if (i % 5 == 1) { /* a 40 KB string */
			bl_buf_adds(&big, ", \"pad\": \"");
			for (int k = 0; k < 40000; k++)
				bl_buf_addch(&big, (char)('a' + k % 26));
			bl_buf_adds(&big, "\"");
		} else if (i % 5 == 2) { /* 3000 items */
			bl_buf_adds(&big, ", \"list\": [");
			for (int k = 0; k < 3000; k++)
				bl_buf_addf(&big, "%s{\"k\": %d}", k ? "," : "", k);
			bl_buf_adds(&big, "]");
		}
		if (i % 3 == 0) {
			bl_buf_adds(&big, ", \"tail\": \"end\"");
			want_tail = 1;
		}
		bl_buf_adds(&big, i % 7 == 3 ? ", oops}" : "}");
		if (i % 7 == 3)
			want_unsafe = want_tail = 0;
		memset(&in, 0, sizeof in);
		in.json = big.buf;
		in.json_len = big.len;
		r = bl_tagger_tag(t, &in, &ls);
		if (r != (i % 7 == 3 ? BL_WARN : BL_OK) ||
		    bl_labelset_has(&ls, bl_ruleset_label_index(rs, "m.unsafe")) != want_unsafe ||
		    bl_labelset_has(&ls, bl_ruleset_label_index(rs, "m.tail")) != want_tail)
			bad++;
		r = bl_tagger_field(t, "punsafe", &num, &str);
		if (i % 7 == 3 ? r != BL_FAILED
			       : r != 1 || num != (want_unsafe ? 0.9 : 0.1))
			bad++;
		r = bl_tagger_field(t, "pad", &num, &str);
		if (r != (i % 7 == 3 ? BL_FAILED : i % 5 == 1 ? 2 : 0) ||
		    (r == 2 && strlen(str) != 40000))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	bl_buf_release(&big);
	bl_tagger_free(t);
	bl_ruleset_free(rs);
}

BL_TEST(rules_bad_json_warns)
{
	bl_ruleset *rs = rules("label m.unsafe\n  when punsafe >= 0.5\nlabel w\n  match word\n");
	bl_tagger *t;
	bl_tag_input in;
	bl_labelset ls;
	REQUIRE(rs);
	t = bl_tagger_new(rs);
	REQUIRE(t);
	memset(&in, 0, sizeof in);
	in.caption = "a word";
	in.caption_len = 6;
	in.json = "{\"punsafe\": 0.9";
	in.json_len = strlen(in.json);
	CHECK_EQ_INT(bl_tagger_tag(t, &in, &ls), BL_WARN);
	CHECK_EQ_INT(bl_tagger_errkind(t), BL_ERR_JSON);
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "w")), 1);
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "m.unsafe")), 0);
	in.json = "{\"punsafe\": 0.9}";
	in.json_len = strlen(in.json);
	CHECK_EQ_INT(bl_tagger_tag(t, &in, &ls), BL_OK);
	CHECK_EQ_INT(bl_tagger_errkind(t), BL_ERR_NONE);
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "m.unsafe")), 1);
	bl_tagger_free(t);
	bl_ruleset_free(rs);
}

BL_TEST(rules_image_predicates)
{
	bl_ruleset *rs = rules(
		"label image.small\n  when width < 256 or height < 256\n"
		"label image.extreme_aspect\n  when aspect > 3 or aspect < 0.3333\n"
		"label image.big\n  when pixels >= 1000000\n"
		"label image.progressive\n  when progressive\n"
		"label image.gray\n  when components == 1\n"
		"label image.corrupt\n  when corrupt == 1\n"
		"label image.unprobed\n  when width missing\n"
		"label json.width\n  when json.width > 10\n");
	bl_image_info info;
	REQUIRE(rs);
	memset(&info, 0, sizeof info);
	info.width = 1000;
	info.height = 200;
	info.components = 3;
	CHECK_EQ_STR(tag_full(rs, "x", 1, NULL, &info, NULL), "image.extreme_aspect,image.small");
	info.width = 1000;
	info.height = 1000;
	info.progressive = 1;
	info.components = 1;
	CHECK_EQ_STR(tag_full(rs, "x", 1, NULL, &info, NULL), "image.big,image.gray,image.progressive");
	memset(&info, 0, sizeof info);
	info.corrupt = 1; /* size unknown: size predicates are false */
	CHECK_EQ_STR(tag_full(rs, "x", 1, NULL, &info, NULL), "image.corrupt,image.unprobed");
	/* not probed: image predicates false; json.width reads the JSON */
	CHECK_EQ_STR(tag_full(rs, "x", 1, "{\"width\": 20}", NULL, NULL), "image.unprobed,json.width");
	bl_ruleset_free(rs);
}

BL_TEST(rules_implies)
{
	bl_ruleset *rs = rules(
		"label attire.underwear\n  match \\blingerie\\b\n  implies sexual.suggestive\n"
		"label sexual.suggestive\n  match \\bsexy\\b\n  implies x.flag, y.flag\n"
		"label x.flag\nlabel y.flag\n  implies z.flag\nlabel z.flag\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "lingerie set"),
		     "attire.underwear,sexual.suggestive,x.flag,y.flag,z.flag");
	CHECK_EQ_STR(tag(rs, "sexy"), "sexual.suggestive,x.flag,y.flag,z.flag");
	CHECK_EQ_STR(tag(rs, "plain"), "");
	bl_ruleset_free(rs);
}

BL_TEST(rules_minor_sexual_derived)
{
	/* placeholder words only */
	bl_ruleset *rs = rules(
		"label age.minor\n  match \\bminorterm\\b\n"
		"label sexual.explicit\n  match \\bsexterm\\b\n"
		"label sexual.suggestive\n  match \\bsuggestterm\\b\n"
		"label other\n  match \\bplainterm\\b\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "minorterm plainterm"), "age.minor,other");
	CHECK_EQ_STR(tag(rs, "sexterm"), "sexual.explicit");
	CHECK_EQ_STR(tag(rs, "minorterm sexterm"),
		     "age.minor,safety.minor_sexual,sexual.explicit");
	CHECK_EQ_STR(tag(rs, "suggestterm and minorterm"),
		     "age.minor,safety.minor_sexual,sexual.suggestive");
	bl_ruleset_free(rs);
	/* present even when no rule names age or sexual labels */
	rs = rules("label a\n  match a\n");
	REQUIRE(rs);
	CHECK_EQ_INT(bl_ruleset_label_index(rs, "safety.minor_sexual"), 0);
	bl_ruleset_free(rs);
}

BL_TEST(rules_match_limit)
{
	bl_ruleset *rs = rules("label evil\n  match (a+)+$\nlabel good\n  match \\bfine\\b\n"
			       "label also.good\n  when punsafe > 0.5\n");
	bl_tagger *t;
	bl_tag_input in;
	bl_labelset ls;
	char *cap;
	size_t n = 5000;

	REQUIRE(rs);
	cap = malloc(n + 16);
	REQUIRE(cap);
	memcpy(cap, "fine ", 5);
	memset(cap + 5, 'a', n);
	memcpy(cap + 5 + n, "!", 2);
	t = bl_tagger_new(rs);
	REQUIRE(t);
	memset(&in, 0, sizeof in);
	in.caption = cap;
	in.caption_len = strlen(cap);
	in.json = "{\"punsafe\": 0.9}";
	in.json_len = strlen(in.json);
	CHECK_EQ_INT(bl_tagger_tag(t, &in, &ls), BL_WARN);
	CHECK_EQ_INT(bl_tagger_errkind(t), BL_ERR_MATCH_LIMIT);
	CHECK_CONTAINS(bl_tagger_errmsg(t), "label 'evil'");
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "evil")), 0);
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "good")), 1);
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "also.good")), 1);
	/* the tagger is fine for the next caption */
	in.caption = "fine aaa";
	in.caption_len = 8;
	CHECK_EQ_INT(bl_tagger_tag(t, &in, &ls), BL_OK);
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "evil")), 1);
	free(cap);
	bl_tagger_free(t);
	bl_ruleset_free(rs);
}

BL_TEST(rules_invalid_utf8)
{
	bl_ruleset *rs = rules("label w\n  match \\bwoman\\b\nlabel any\n  match .\\xff\n"
			       "label e\n  match é\n");
	static const char bad[] = "a woman \xff\xfe caf\xc3 \xed\xa0\x80 \xc3\xa9";
	bl_tagger *t;
	bl_tag_input in;
	bl_labelset ls;
	REQUIRE(rs);
	t = bl_tagger_new(rs);
	REQUIRE(t);
	memset(&in, 0, sizeof in);
	in.caption = bad;
	in.caption_len = sizeof bad - 1;
	CHECK_EQ_INT(bl_tagger_tag(t, &in, &ls), BL_WARN);
	CHECK_EQ_INT(bl_tagger_errkind(t), BL_ERR_BAD_UTF8);
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "w")), 1);
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "any")), 0);
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "e")), 1);
	/* a lone continuation byte and a truncated sequence at the end */
	in.caption = "\x80";
	in.caption_len = 1;
	CHECK_EQ_INT(bl_tagger_tag(t, &in, &ls), BL_WARN);
	in.caption = "woman \xe2\x82";
	in.caption_len = 8;
	CHECK_EQ_INT(bl_tagger_tag(t, &in, &ls), BL_WARN);
	CHECK_EQ_INT(bl_labelset_has(&ls, bl_ruleset_label_index(rs, "w")), 1);
	/* NULL caption: nothing matches, no crash */
	in.caption = NULL;
	in.caption_len = 5;
	CHECK_EQ_INT(bl_tagger_tag(t, &in, &ls), BL_OK);
	CHECK_EQ_INT(bl_tagger_tag(NULL, &in, &ls), BL_EUSAGE);
	bl_tagger_free(t);
	bl_ruleset_free(rs);
	CHECK(bl_tagger_new(NULL) == NULL);
	bl_tagger_free(NULL);
	bl_ruleset_free(NULL);
}

/* ---- the shipped filters ------------------------------------------- */

static bl_ruleset *shipped(void)
{
	bl_ruleset *rs = bl_ruleset_new();
	if (bl_ruleset_load_dir(rs, "filters") != BL_OK ||
	    bl_ruleset_compile(rs) != BL_OK) {
		fprintf(stderr, "    %s\n", bl_ruleset_errmsg(rs));
		bl_ruleset_free(rs);
		return NULL;
	}
	return rs;
}

/* Whether caption gets label (exactly, or a sub-label of it). */
static int has(bl_ruleset *rs, const char *caption, const char *label)
{
	const char *got = tag(rs, caption);
	size_t n = strlen(label);
	for (const char *p = got; (p = strstr(p, label)) != NULL; p += n)
		if ((p == got || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == '.'))
			return 1;
	return 0;
}

#define YES(cap, label) do { if (!has(rs, cap, label)) bl_test_failf(__FILE__, __LINE__, "'%s' should get %s (got '%s')", cap, label, tag(rs, cap)); } while (0)
#define NO(cap, label) do { if (has(rs, cap, label)) bl_test_failf(__FILE__, __LINE__, "'%s' should not get %s (got '%s')", cap, label, tag(rs, cap)); } while (0)

BL_TEST(rules_shipped_sexual)
{
	bl_ruleset *rs = shipped();
	REQUIRE(rs);
	YES("A naked woman kneels on the rocks", "sexual.explicit");
	YES("amateur porn video", "sexual.explicit");
	YES("nude figure study in charcoal", "sexual.explicit");
	YES("sexy blonde posing on a bed", "sexual.suggestive");
	YES("hot latina model", "sexual.suggestive");
	YES("black lace lingerie set", "sexual.suggestive");
	NO("nude heels with ankle strap", "sexual");
	NO("nude lipstick swatches", "sexual");
	NO("An almost naked man on a stage", "sexual");
	NO("hot sale! summer shoes", "sexual");
	NO("a woman holding a hot dog", "sexual");
	NO("hot weather in the city", "sexual");
	NO("2014 Sexy Mini Prom Lace Girls Party Gowns", "sexual");
	NO("Bikini Bottom welcome sign from SpongeBob", "sexual");
	NO("flip flop thong sandals", "sexual");
	bl_ruleset_free(rs);
}

BL_TEST(rules_shipped_attire)
{
	bl_ruleset *rs = shipped();
	REQUIRE(rs);
	YES("A woman in a bikini is running", "attire.swimwear");
	YES("a man in red swim trunks", "attire.swimwear");
	YES("boys in underwear play in the water", "attire.underwear");
	YES("sports bra and leggings", "attire.underwear");
	NO("Welcome to Bikini Bottom", "attire.swimwear");
	NO("A surfer in a full wetsuit", "attire.swimwear");
	NO("legal briefs filed on monday", "attire.underwear");
	bl_ruleset_free(rs);
}

BL_TEST(rules_shipped_gender)
{
	bl_ruleset *rs = shipped();
	REQUIRE(rs);
	YES("A woman sits on a bench", "gender.female");
	YES("a zombie businesswoman", "gender.female");
	YES("a girl in a red dress rides her bike", "gender.female");
	YES("A person has a knife in his hand", "gender.male");
	YES("Boy riding a horse", "gender.male");
	NO("Women's leather jacket with laces", "gender");
	NO("Nike Men's and Women's Shoes", "gender");
	NO("man-made lake at dusk", "gender.male");
	NO("Pac-Man arcade cabinet", "gender.male");
	NO("Iron Man helmet replica", "gender.male");
	NO("A zebra next to water which shows his reflection", "gender.male");
	NO("usb cable male to female", "gender");
	bl_ruleset_free(rs);
}

BL_TEST(rules_shipped_age)
{
	bl_ruleset *rs = shipped();
	REQUIRE(rs);
	YES("A little girl in a pink bathing suit", "age.minor");
	YES("two toddlers on the floor", "age.minor");
	YES("with whom she has two boys, Kingson, 7, and Zuma, 5.", "age.minor");
	YES("Three young boys jump into a pool", "age.minor");
	NO("A girl sits on a swing", "age.minor");
	NO("Boy in midair on bicycle", "age.minor");
	NO("A young woman on a tennis court", "age.minor");
	NO("baby girls short sleeve tee shirt", "age.minor");
	NO("Elephant Baby Shower Favours", "age.minor");
	NO("a brown and white baby cow", "age.minor");
	NO("TEEN WOLF - Season 1", "age.minor");
	bl_ruleset_free(rs);
}

BL_TEST(rules_shipped_group)
{
	bl_ruleset *rs = shipped();
	REQUIRE(rs);
	YES("A black woman in a pink bikini", "group.black");
	YES("Two Asian women eating chili dogs", "group.asian");
	YES("a Korean actress at an awards show", "group.asian.east");
	YES("An Indian man and woman by a river", "group.asian.south");
	YES("Filipina model on a runway", "group.asian.southeast");
	YES("a white woman with a surf board", "group.white");
	YES("A middle eastern family is walking", "group.middle_eastern");
	YES("hot latina", "group.latino");
	NO("a black dress on a mannequin", "group");
	NO("isolated on white background", "group");
	NO("Chinese restaurant on main street", "group");
	NO("sunset over the Indian Ocean", "group");
	NO("French fries with ketchup", "group");
	NO("Asian food market", "group");
	NO("White haired man in a hat", "group");
	NO("Black and white photograph of women", "group");
	NO("German Shepherd jumping through a hoop", "group");
	CHECK(!has(rs, "Southeast Asian woman", "group.asian.east"));
	CHECK_EQ_STR(tag(rs, "a Southeast Asian woman"), "gender.female,group.asian.southeast");
	bl_ruleset_free(rs);
}

BL_TEST(rules_shipped_skin_stereotype_meta_image)
{
	bl_ruleset *rs = shipped();
	bl_image_info info;
	REQUIRE(rs);
	YES("portrait of a dark-skinned woman", "skin.dark");
	YES("pale skin and red hair", "skin.light");
	NO("a dark room with light curtains", "skin");
	NO("Millie Bobby Brown at the premiere", "skin");
	YES("exotic asian beauty", "stereotype.exoticising");
	YES("sexy geisha costume", "stereotype.exoticising");
	NO("a performer wearing an exotic outfit", "stereotype");
	NO("exotic fruit at the market", "stereotype");
	CHECK_EQ_STR(tag_json(rs, "{\"punsafe\": 0.8, \"pwatermark\": 0.1, \"status\": \"success\"}"), "meta.unsafe");
	CHECK_EQ_STR(tag_json(rs, "{\"NSFW\": \"NSFW\", \"pwatermark\": 0.9}"), "meta.unsafe,meta.watermark");
	CHECK_EQ_STR(tag_json(rs, "{\"status\": \"failed_to_download\"}"), "meta.failed");
	CHECK_EQ_STR(tag_json(rs, "{\"NSFW\": \"UNLIKELY\", \"punsafe\": 0.1}"), "");
	memset(&info, 0, sizeof info);
	info.width = 100;
	info.height = 1000;
	CHECK_EQ_STR(tag_full(rs, NULL, 0, NULL, &info, NULL), "image.extreme_aspect,image.small");
	info.width = 800;
	info.height = 600;
	CHECK_EQ_STR(tag_full(rs, NULL, 0, NULL, &info, NULL), "");
	/* an empty caption is too short to judge; no caption is not judged */
	CHECK_EQ_STR(tag_full(rs, "", 0, NULL, &info, NULL), "caption.too_short");
	CHECK_EQ_INT(bl_ruleset_uses_json(rs), 1);
	CHECK_EQ_INT(bl_ruleset_uses_image(rs), 1);
	bl_ruleset_free(rs);
}

/* ---- except, global, caption facts, empty rule sets ------------------ */

BL_TEST(rules_empty_rule_set_is_an_error)
{
	char d[512], f[600];
	FILE *fp;
	bl_ruleset *rs = bl_ruleset_new();

	REQUIRE(rs);
	CHECK_CONTAINS(load_error(""), "t.rules: declares no labels");
	CHECK_CONTAINS(load_error("# only a comment\n\n"), "declares no labels");
	CHECK_CONTAINS(load_error("define X a\n"), "declares no labels");
	/* a rule set with nothing loaded does not compile */
	CHECK_EQ_INT(bl_ruleset_compile(rs), BL_FAILED);
	CHECK_CONTAINS(bl_ruleset_errmsg(rs), "declares no labels");
	bl_ruleset_free(rs);
	/* a directory whose one file is empty */
	snprintf(d, sizeof d, "%s/emptyfile", bl_test_tmpdir());
	REQUIRE(mkdir(d, 0700) == 0);
	snprintf(f, sizeof f, "%s/a.rules", d);
	fp = fopen(f, "w");
	REQUIRE(fp);
	fputs("# nothing here\n", fp);
	fclose(fp);
	rs = bl_ruleset_new();
	CHECK_EQ_INT(bl_ruleset_load_dir(rs, d), BL_FAILED);
	CHECK_CONTAINS(bl_ruleset_errmsg(rs), "a.rules: declares no labels");
	bl_ruleset_free(rs);
}

BL_TEST(rules_except_label_and_family)
{
	/* kind.listing decides once; both families use it; implication
	 * still sets an excepted label */
	bl_ruleset *rs = rules("label p.a\n  match \\bwoman\\b\n  except kind\n"
			       "label p.b\n  match \\bman\\b\n  except kind.listing\n"
			       "label kind.listing\n  match \\bsize\\s+\\d\n"
			       "label q\n  match \\bqq\\b\n  implies p.a\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "a woman and a man"), "p.a,p.b");
	CHECK_EQ_STR(tag(rs, "woman man size 8"), "kind.listing");
	CHECK_EQ_STR(tag(rs, "woman size 8 qq"), "kind.listing,p.a,q");
	bl_ruleset_free(rs);
	/* evaluation order does not depend on load order */
	rs = rules("label kind.listing\n  match \\bsize\\s+\\d\nlabel p\n  match x\n  except kind\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "x size 8"), "kind.listing");
	bl_ruleset_free(rs);
	CHECK_CONTAINS(load_error("label a\n  match x\n  except nowhere\n"),
		       "t.rules:3:10: 'except' names an unknown label or family 'nowhere'");
	CHECK_CONTAINS(load_error("label a\n  match x\n  except b\nlabel b\n  match y\n  except a\n"),
		       "makes a cycle");
	CHECK_CONTAINS(load_error("label a\n  match x\n  except a\n"), "makes a cycle");
	CHECK_CONTAINS(load_error("label a\n  match x\n  implies b\n  except b\nlabel b\n  match y\n"),
		       "makes a cycle");
	CHECK_CONTAINS(load_error("label a\n  except\n"), "missing label name after 'except'");
}

BL_TEST(rules_global_defines)
{
	bl_ruleset *rs = bl_ruleset_new();
	static const char v[] = "# words\nglobal WORD (?:cat|dog)\n";
	static const char a[] = "define PET \\b{WORD}s?\\b\nlabel pet\n  match {PET}\n";
	REQUIRE(rs);
	CHECK_EQ_INT(bl_ruleset_load_string(rs, "v.rules", v, strlen(v)), BL_OK);
	CHECK_EQ_INT(bl_ruleset_load_string(rs, "a.rules", a, strlen(a)), BL_OK);
	REQUIRE(bl_ruleset_compile(rs) == BL_OK);
	CHECK_EQ_STR(tag(rs, "two dogs"), "pet");
	CHECK_EQ_STR(tag(rs, "a bird"), "");
	bl_ruleset_free(rs);
	/* a define may not shadow a global, nor a global another */
	rs = bl_ruleset_new();
	REQUIRE(rs);
	CHECK_EQ_INT(bl_ruleset_load_string(rs, "v.rules", v, strlen(v)), BL_OK);
	CHECK_EQ_INT(bl_ruleset_load_string(rs, "b.rules", "define WORD x\nlabel b\n  match y\n", 30), BL_FAILED);
	CHECK_CONTAINS(bl_ruleset_errmsg(rs), "b.rules:1:8: 'WORD' is already defined");
	/* a failed load adds no global */
	CHECK_EQ_INT(bl_ruleset_load_string(rs, "c.rules", "global NEW x\nlabel c\n  match (\n", 31), BL_FAILED);
	CHECK_EQ_INT(bl_ruleset_load_string(rs, "d.rules", "label d\n  match {NEW}\n", 22), BL_FAILED);
	CHECK_CONTAINS(bl_ruleset_errmsg(rs), "{NEW} is not defined");
	bl_ruleset_free(rs);
	/* defines stay file-local */
	rs = bl_ruleset_new();
	REQUIRE(rs);
	CHECK_EQ_INT(bl_ruleset_load_string(rs, "a.rules", "define L x\nlabel a\n  match {L}\n", 30), BL_OK);
	CHECK_EQ_INT(bl_ruleset_load_string(rs, "b.rules", "label b\n  match {L}\n", 20), BL_FAILED);
	bl_ruleset_free(rs);
}

BL_TEST(rules_caption_facts)
{
	bl_ruleset *rs = rules("label short\n  when caption.words < 3\n"
			       "label other\n  when caption.nonlatin >= 0.5\n"
			       "  when caption.foreign >= 2 and caption.english == 0\n");
	REQUIRE(rs);
	CHECK_EQ_INT(bl_ruleset_uses_json(rs), 0);
	CHECK_EQ_STR(tag(rs, "IMG_2034"), "short");
	CHECK_EQ_STR(tag(rs, ""), "short");
	CHECK_EQ_STR(tag(rs, "a dog on a beach"), "");
	CHECK_EQ_STR(tag(rs, "Портрет молодой женщины в шляпе"), "other");
	CHECK_EQ_STR(tag(rs, "perro grande con collar en la playa"), "other");
	CHECK_EQ_STR(tag(rs, "the dog and the cat en la playa"), "");
	/* no caption at all: caption facts are missing */
	CHECK_EQ_STR(tag_full(rs, NULL, 0, NULL, NULL, NULL), "");
	bl_ruleset_free(rs);
	CHECK_CONTAINS(load_error("label a\n  when caption.colour > 1\n"), "unknown caption fact 'colour'");
	/* the share of capitals is read from the view: ALL-CAPS text is
	 * title-cased there, HTML is gone; a caption of one token (a slug)
	 * has none */
	rs = rules("label name\n  when caption.capitalised >= 0.85 and caption.words >= 3\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "Harry Potter and the Cursed Child"), "name");
	CHECK_EQ_STR(tag(rs, "HARRY POTTER AND THE CURSED CHILD"), "name");
	CHECK_EQ_STR(tag(rs, "<b>Ice</b> <i>Queen</i> Costume"), "name");
	CHECK_EQ_STR(tag(rs, "a child reads Harry Potter"), "");
	CHECK_EQ_STR(tag(rs, "Bride_Mehndi_Ceremony"), "");
	CHECK_EQ_STR(tag(rs, "Sad Man"), "");
	CHECK_EQ_STR(tag(rs, "2016 2017 2018"), "");
	bl_ruleset_free(rs);
	CHECK_CONTAINS(load_error("label a\n  when caption.words == \"x\"\n"), "caption facts are numbers");
}

BL_TEST(rules_unless_cancels_conditions)
{
	/* a condition is about the whole caption: an unless match anywhere
	 * cancels it; match occurrences are still judged locally */
	bl_ruleset *rs = rules("label name\n  when caption.words >= 3\n"
			       "  unless (?-i:\\bis\\b)\n"
			       "label dog\n  match \\bdog\\b\n  when caption.words > 8\n"
			       "  unless \\bhot\\s+dog\\b\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "The Big Sleep"), "name");
	CHECK_EQ_STR(tag(rs, "the sky is blue"), "");
	CHECK_EQ_STR(tag(rs, "Sky Is Blue"), "name");
	CHECK_EQ_STR(tag(rs, "a dog"), "dog");
	CHECK_EQ_STR(tag(rs, "a hot dog and a dog"), "dog,name");
	CHECK_EQ_STR(tag(rs, "a hot dog"), "name");
	/* more than eight words: the condition holds, but "hot dog" is
	 * somewhere in the caption */
	CHECK_EQ_STR(tag(rs, "one two three four five six seven hot dog"), "name");
	CHECK_EQ_STR(tag(rs, "one two three four five six seven eight nine"), "dog,name");
	bl_ruleset_free(rs);
}

BL_TEST(rules_internal_labels)
{
	/* an internal label is never set on a sample; it is decided for the
	 * labels that except it, and only when they would be set */
	bl_ruleset *rs = rules("label kind.person\n  internal\n  match \\bwoman\\b\n"
			       "label kind.listing\n  match \\bsize\\s+\\d\n  except kind.person\n"
			       "label p\n  match \\bwoman\\b\n  except kind.listing\n"
			       "label q\n  when caption.words > 3\n  except kind.person\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "size 8"), "kind.listing");
	CHECK_EQ_STR(tag(rs, "a woman in size 8 jeans"), "p");
	CHECK_EQ_STR(tag(rs, "a woman"), "p");
	CHECK_EQ_STR(tag(rs, "one two three four"), "q");
	CHECK_EQ_STR(tag(rs, "one two three woman"), "p");
	bl_ruleset_free(rs);
	/* an internal label may except another internal one */
	rs = rules("label a\n  internal\n  match x\n"
		   "label b\n  internal\n  match y\n  except a\n"
		   "label c\n  match z\n  except b\n");
	REQUIRE(rs);
	CHECK_EQ_STR(tag(rs, "z"), "c");
	CHECK_EQ_STR(tag(rs, "z y"), "");
	CHECK_EQ_STR(tag(rs, "z y x"), "c");
	bl_ruleset_free(rs);
	/* never set, so it neither implies nor is implied */
	CHECK_CONTAINS(load_error("label a\n  internal\n  match x\n  implies b\nlabel b\n  match y\n"),
		       "an internal label is never set");
	CHECK_CONTAINS(load_error("label a\n  match x\n  implies b\nlabel b\n  internal\n  match y\n"),
		       "('b' is internal)");
	CHECK_CONTAINS(load_error("internal\n"), "'internal' before any 'label' line");
	CHECK_CONTAINS(load_error("label a\n  internal yes\n  match x\n"), "unexpected text after 'internal'");
}

BL_TEST(rules_view_is_tagged_and_total)
{
	/* the rules see the normalised view; a NUL or invalid byte never
	 * stops the minor+sexual block (placeholder words only) */
	bl_ruleset *rs = rules("label age.minor\n  match \\bminorterm\\b\n"
			       "label sexual.explicit\n  match \\bsexterm\\b\n"
			       "label w\n  match \\bwomen's\\b\n");
	static const char nul[] = "minorterm\0sexterm";
	static const char bad[] = "minorterm \xff\xfe sexterm";
	bl_tagger *t;
	bl_tag_input in;
	bl_labelset ls;
	size_t vlen;
	int rc;
	REQUIRE(rs);
	CHECK_EQ_STR(tag_full(rs, nul, sizeof nul - 1, NULL, NULL, &rc),
		     "age.minor,safety.minor_sexual,sexual.explicit");
	CHECK_EQ_INT(rc, BL_OK);
	CHECK_EQ_STR(tag_full(rs, bad, sizeof bad - 1, NULL, NULL, &rc),
		     "age.minor,safety.minor_sexual,sexual.explicit");
	CHECK_EQ_INT(rc, BL_WARN);
	CHECK_EQ_STR(tag(rs, "MINORTERM &amp; SEXTERM"), "age.minor,safety.minor_sexual,sexual.explicit");
	CHECK_EQ_STR(tag(rs, "Women&#39;s"), "w");
	t = bl_tagger_new(rs);
	REQUIRE(t);
	CHECK(bl_tagger_view(t, &vlen) == NULL);
	memset(&in, 0, sizeof in);
	in.caption = "Women&#39;s\\'";
	in.caption_len = strlen(in.caption);
	CHECK_EQ_INT(bl_tagger_tag(t, &in, &ls), BL_OK);
	CHECK_EQ_STR(bl_tagger_view(t, &vlen), "Women's'");
	CHECK_EQ_INT(vlen, 8);
	in.caption = "plain words";
	in.caption_len = strlen(in.caption);
	CHECK_EQ_INT(bl_tagger_tag(t, &in, &ls), BL_OK);
	CHECK(bl_tagger_view(t, &vlen) == in.caption); /* no copy */
	bl_tagger_free(t);
	CHECK(bl_tagger_view(NULL, &vlen) == NULL);
	bl_ruleset_free(rs);
}

/* The view's dictionaries hold whole words of the patterns only: the
 * alternatives of a suffix group ("fetish(?:es|ist)?") are not words, so
 * a masked-looking token is never read as one ("1st" stays 1st). */
static const char *view_of(bl_tagger *t, const char *caption)
{
	static char out[256];
	bl_tag_input in;
	bl_labelset ls;
	size_t vlen;
	const char *v;
	memset(&in, 0, sizeof in);
	in.caption = caption;
	in.caption_len = strlen(caption);
	if (bl_tagger_tag(t, &in, &ls) < 0 || !(v = bl_tagger_view(t, &vlen)) || vlen >= sizeof out)
		return "(error)";
	memcpy(out, v, vlen);
	out[vlen] = '\0';
	return out;
}

BL_TEST(rules_view_dictionary_has_whole_words_only)
{
	bl_ruleset *rs = rules("label sexual.x\n  match \\bfetish(?:es|ist)?\\b\n"
			       "  match \\bcolou?r\\b\n");
	bl_tagger *t;
	REQUIRE(rs);
	t = bl_tagger_new(rs);
	REQUIRE(t);
	CHECK_EQ_STR(view_of(t, "my 1st f3tish"), "my 1st fetish");
	CHECK_EQ_STR(tag(rs, "my 1st f3tish"), "sexual.x");
	CHECK_EQ_STR(view_of(t, "a 1st colou?r"), "a 1st colou?r");
	CHECK_EQ_STR(tag(rs, "the 1st"), "");
	bl_tagger_free(t);
	bl_ruleset_free(rs);
}
