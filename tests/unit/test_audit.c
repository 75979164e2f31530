/*
 * test_audit.c - lib/audit.c: the estimators on sheets written by hand
 * (numbers worked out below), Rogan-Gladen and its statuses, the seeded
 * intervals (deterministic, covering, exact for a census), and drawing a
 * sheet from a small index (strata sizes, per-stratum counts, seeds), and
 * binding a sheet to the index it corrects (exact on its own index, an
 * interval on another; a warning when the rules differ).
 */
#include "test.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); \
	if (!(fabs(a_ - b_) <= (tol))) bl_test_failf(__FILE__, __LINE__, "%s ~ %s (%.9g != %.9g)", #a, #b, a_, b_); } while (0)

/* Write a sheet: for node, `jt` judged tagged rows of which `yt` yes
 * (stratum N1, drawn dt) and `ju` judged untagged of which `yu` yes (N0,
 * du), plus `skip` unjudged tagged rows.  Returns the path. */
static const char *sheet(const char *name, const char *node, int N1, int dt, int jt, int yt,
			 int N0, int du, int ju, int yu, int skip)
{
	static char path[512];
	FILE *f;
	int row = 1;

	snprintf(path, sizeof path, "%s/%s.tsv", bl_test_tmpdir(), name);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fprintf(f, "# ballast audit sheet 1 | index x.db | samples %d | rules - | seed 1 | "
		   "design stratified | by hand\n%s\n", N1 + N0, BL_AUDIT_HEADER);
	for (int i = 0; i < jt + skip; i++)
		fprintf(f, "%d\t%s\tcap\t%s\t\ts.tar\t%d\tk%d\ttagged\t%d\t%d\tstratified\n", row++,
			node, i >= jt ? "" : i < yt ? "y" : "n", i, i, N1, dt);
	for (int i = 0; i < ju; i++)
		fprintf(f, "%d\t%s\tcap\t%s\t\ts.tar\t%d\tk%d\tuntagged\t%d\t%d\tstratified\n",
			row++, node, i < yu ? "Yes" : "NO", 1000 + i, 1000 + i, N0, du);
	fclose(f);
	return path;
}

BL_TEST(audit_rogan_gladen)
{
	/* Se 0.8, Sp 0.9: p = 0.8 pi + 0.1 (1 - pi); pi = 0.25 -> p = 0.275 */
	CHECK_NEAR(bl_audit_rogan_gladen(0.275, 0.8, 0.9), 0.25, 1e-12);
	/* below the false-positive floor: negative (the caller clips) */
	CHECK(bl_audit_rogan_gladen(0.05, 0.8, 0.9) < 0);
	CHECK(isnan(bl_audit_rogan_gladen(0.3, 0.5, 0.5)));
	CHECK(isnan(bl_audit_rogan_gladen(0.3, 0.2, 0.3)));
	CHECK_EQ_STR(bl_audit_status_name(BL_FIX_CLIPPED), "clipped to [0, 1]");
	CHECK_EQ_STR(bl_audit_design_name(BL_AUDIT_SIMPLE), "simple");
}

BL_TEST(audit_estimates_by_hand)
{
	/*
	 * N1 = 100 tagged, 20 judged, 15 yes: PPV 0.75; N0 = 900 untagged,
	 * 30 judged, 3 yes: FOR 0.1, NPV 0.9.  True positives 75, missed 90,
	 * false fires 25, true negatives 810:
	 *   Se = 75 / 165 = 0.454545, Sp = 810 / 835 = 0.970060,
	 *   prevalence = 165 / 1000 = 0.165 (observed 0.1), which is also
	 *   Rogan-Gladen: (0.1 + Sp - 1) / (Se + Sp - 1).
	 * PPV's Wilson interval (15 of 20): [0.531299, 0.888138].
	 */
	const char *p = sheet("hand", "sexual", 100, 25, 20, 15, 900, 30, 30, 3, 5);
	char err[256];
	bl_audit *a = bl_audit_read(p, err, sizeof err), *b;
	const bl_audit_est *e, *e2;
	uint64_t rows, judged;
	double drawn_from;

	REQUIRE(a);
	CHECK_EQ_INT(bl_audit_nnodes(a), 1);
	CHECK_EQ_INT(bl_audit_nproblems(a), 0);
	bl_audit_totals(a, &rows, &judged, &drawn_from);
	CHECK_EQ_INT(rows, 55);
	CHECK_EQ_INT(judged, 50);
	CHECK_NEAR(drawn_from, 1000, 0);
	e = bl_audit_node(a, 0);
	REQUIRE(e);
	CHECK_EQ_STR(e->node, "sexual");
	CHECK_EQ_INT(e->design, BL_AUDIT_STRATIFIED);
	CHECK_EQ_INT(e->drawn_tagged, 25);
	CHECK_EQ_INT(e->judged_tagged, 20);
	CHECK_EQ_INT(e->yes_tagged, 15);
	CHECK_EQ_INT(e->judged_untagged, 30);
	CHECK_EQ_INT(e->yes_untagged, 3);
	CHECK_NEAR(e->precision, 0.75, 1e-12);
	CHECK_NEAR(e->precision_lo, 0.53129944, 1e-6);
	CHECK_NEAR(e->precision_hi, 0.88813783, 1e-6);
	CHECK_NEAR(e->npv, 0.9, 1e-12);
	CHECK_NEAR(e->sensitivity, 75.0 / 165, 1e-12);
	CHECK_NEAR(e->specificity, 810.0 / 835, 1e-12);
	CHECK_NEAR(e->observed, 0.1, 1e-12);
	CHECK_NEAR(e->prevalence, 0.165, 1e-12);
	CHECK_NEAR(bl_audit_rogan_gladen(0.1, e->sensitivity, e->specificity), e->prevalence,
		   1e-12);
	/* the intervals hold the estimates, and are wide: 30 untagged rows
	 * say little about 900 */
	CHECK(e->se_lo < e->sensitivity && e->sensitivity < e->se_hi);
	CHECK(e->sp_lo < e->specificity && e->specificity < e->sp_hi);
	CHECK(e->prev_lo < 0.165 && 0.165 < e->prev_hi);
	CHECK(e->se_hi - e->se_lo > 0.3);
	CHECK_EQ_INT(e->status, BL_FIX_OK);
	/* read again: the same numbers to the bit (seeded draws) */
	b = bl_audit_read(p, err, sizeof err);
	REQUIRE(b);
	e2 = bl_audit_node(b, 0);
	CHECK(e2->se_lo == e->se_lo && e2->se_hi == e->se_hi && e2->prev_lo == e->prev_lo);
	bl_audit_free(b);
	CHECK_EQ_INT(bl_audit_find(a, "sexual"), 0);
	CHECK_EQ_INT(bl_audit_find(a, "gender"), -1);
	bl_audit_free(a);
	bl_audit_free(NULL);
}

BL_TEST(audit_census_is_exact)
{
	/* every sample judged: no sampling error, the intervals are points */
	const char *p = sheet("census", "gender.female", 40, 40, 40, 30, 60, 60, 60, 6, 0);
	char err[256];
	bl_audit *a = bl_audit_read(p, err, sizeof err);
	const bl_audit_est *e;
	bl_audit_fix r1, r2, rr;

	REQUIRE(a);
	e = bl_audit_node(a, 0);
	/* TP 30, FP 10, FN 6, TN 54: Se 30/36, Sp 54/64, prevalence 0.36 */
	CHECK_NEAR(e->sensitivity, 30.0 / 36, 1e-12);
	CHECK_NEAR(e->se_lo, 30.0 / 36, 1e-12);
	CHECK_NEAR(e->se_hi, 30.0 / 36, 1e-12);
	CHECK_NEAR(e->prev_lo, 0.36, 1e-12);
	CHECK_NEAR(e->prev_hi, 0.36, 1e-12);
	/* a cell rate of 0.4 over an effective 10000: RG = (0.4 + Sp - 1) /
	 * (Se + Sp - 1) = (0.4 - 0.15625) / 0.677083 = 0.36; a rest rate of
	 * 0.2: (0.04375) / 0.677083 = 0.0646154; ratio 5.571429 */
	CHECK(bl_audit_correct_pair(a, 0, 4000, 10000, 2000, 10000, 7, &r1, &r2, &rr) == BL_OK);
	CHECK_NEAR(r1.est, 0.36, 1e-9);
	CHECK_NEAR(r2.est, 0.04375 / (30.0 / 36 + 54.0 / 64 - 1), 1e-9);
	CHECK_NEAR(rr.est, r1.est / r2.est, 1e-9);
	CHECK(r1.lo < 0.36 && 0.36 < r1.hi && r1.hi - r1.lo < 0.03);
	CHECK(rr.lo < rr.est && rr.est < rr.hi);
	CHECK_EQ_INT(r1.status, BL_FIX_OK);
	/* below the false-positive floor: clipped to 0 */
	CHECK(bl_audit_correct(a, 0, 100, 10000, 1, &r1) == BL_OK);
	CHECK_EQ_INT(r1.status, BL_FIX_CLIPPED);
	CHECK_NEAR(r1.est, 0, 0);
	CHECK(bl_audit_correct(a, 5, 100, 10000, 1, &r1) == BL_EUSAGE);
	CHECK(bl_audit_correct(NULL, 0, 100, 10000, 1, &r1) == BL_EUSAGE);
	bl_audit_free(a);
}

BL_TEST(audit_statuses)
{
	char err[256];
	bl_audit *a;
	bl_audit_fix f;

	/* 5 judged per stratum: too small to correct */
	a = bl_audit_read(sheet("small", "sexual", 100, 5, 5, 4, 900, 5, 5, 0, 0), err,
			  sizeof err);
	REQUIRE(a);
	CHECK_EQ_INT(bl_audit_node(a, 0)->status, BL_FIX_TOO_SMALL);
	CHECK(bl_audit_correct(a, 0, 30, 100, 1, &f) == BL_OK);
	CHECK_EQ_INT(f.status, BL_FIX_TOO_SMALL);
	bl_audit_free(a);
	/* tags against the truth: Se + Sp <= 1, no correction exists */
	a = bl_audit_read(sheet("inverted", "sexual", 100, 30, 30, 3, 900, 30, 30, 27, 0), err,
			  sizeof err);
	REQUIRE(a);
	CHECK_EQ_INT(bl_audit_node(a, 0)->status, BL_FIX_UNDEFINED);
	CHECK(bl_audit_correct(a, 0, 30, 100, 1, &f) == BL_OK);
	CHECK_EQ_INT(f.status, BL_FIX_UNDEFINED);
	CHECK(isnan(f.est));
	bl_audit_free(a);
	/* tagged rows only: precision, and nothing to correct with */
	a = bl_audit_read(sheet("tagged", "group.p", 100, 30, 30, 24, 900, 0, 0, 0, 0), err,
			  sizeof err);
	REQUIRE(a);
	CHECK_NEAR(bl_audit_node(a, 0)->precision, 0.8, 1e-12);
	CHECK(isnan(bl_audit_node(a, 0)->sensitivity));
	CHECK_EQ_INT(bl_audit_node(a, 0)->status, BL_FIX_NONE);
	CHECK(bl_audit_correct(a, 0, 30, 100, 1, &f) == BL_OK);
	CHECK_EQ_INT(f.status, BL_FIX_NONE);
	bl_audit_free(a);
}

BL_TEST(audit_bad_sheets)
{
	char path[512], err[256];
	FILE *f;
	bl_audit *a;

	snprintf(path, sizeof path, "%s/bad.tsv", bl_test_tmpdir());
	f = fopen(path, "w");
	REQUIRE(f);
	fprintf(f, "source\trow\tcaption\tlabels\tnote\n");
	fclose(f);
	CHECK(!bl_audit_sniff(path));
	a = bl_audit_read(path, err, sizeof err);
	CHECK(!a);
	CHECK_CONTAINS(err, "not an audit sheet");
	CHECK(!bl_audit_read("/no/such/sheet.tsv", err, sizeof err));
	CHECK_CONTAINS(err, "cannot open");
	/* a header without a needed column */
	f = fopen(path, "w");
	REQUIRE(f);
	fprintf(f, "audit_row\tlabel\tjudgement\n1\tsexual\ty\n");
	fclose(f);
	CHECK(bl_audit_sniff(path));
	CHECK(!bl_audit_read(path, err, sizeof err));
	CHECK_CONTAINS(err, "lacks the column 'stratum'");
	/* rows that cannot be used are named, the rest is read */
	f = fopen(path, "w");
	REQUIRE(f);
	fprintf(f, "%s\n", BL_AUDIT_HEADER);
	fprintf(f, "1\tsexual\tc\ty\t\ts\t1\tk\ttagged\t10\t3\tstratified\n");
	fprintf(f, "2\tsexual\tc\tperhaps\t\ts\t2\tk\ttagged\t10\t3\tstratified\n");
	fprintf(f, "3\tsexual\tc\tn\t\ts\t3\tk\tsideways\t10\t3\tstratified\n");
	fprintf(f, "4\tsexual\tc\tn\n");
	fclose(f);
	a = bl_audit_read(path, err, sizeof err);
	REQUIRE(a);
	CHECK_EQ_INT(bl_audit_nproblems(a), 3);
	CHECK_CONTAINS(bl_audit_problem(a, 0), "bad.tsv:3: judgement 'perhaps'");
	CHECK_CONTAINS(bl_audit_problem(a, 1), "bad.tsv:4: stratum must be");
	CHECK_CONTAINS(bl_audit_problem(a, 2), "bad.tsv:5: too few columns");
	CHECK_EQ_INT(bl_audit_node(a, 0)->judged_tagged, 1);
	bl_audit_free(a);
}

/* An index of n samples: sample i has label 0 ("sexual.x") when i % 10 <
 * 3, label 1 ("gender.female") when i is even. */
static bl_index *draw_index(const char *name, int n)
{
	char path[512], err[256];
	bl_index *ix;
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int ok;

	snprintf(path, sizeof path, "%s/%s.db", bl_test_tmpdir(), name);
	remove(path);
	ix = bl_index_open(path, BL_INDEX_CREATE, err, sizeof err);
	if (!ix)
		return NULL;
	db = bl_index_db(ix);
	ok = sqlite3_exec(db, "BEGIN; INSERT INTO labels VALUES (0, 'sexual.x'), "
			      "(1, 'gender.female'); INSERT INTO shards(id, path, complete) "
			      "VALUES (1, 'a.tar', 1)", NULL, NULL, NULL) == SQLITE_OK;
	ok = ok && sqlite3_prepare_v2(db, "INSERT INTO samples(shard_id, ordinal, key, labels, "
				      "bits, caption) VALUES (1, ?1, ?2, ',', ?3, ?4)", -1, &st,
				      NULL) == SQLITE_OK;
	for (int i = 0; ok && i < n; i++) {
		unsigned char bits = (unsigned char)((i % 10 < 3) | (i % 2 == 0) << 1);
		char key[32], cap[64];
		snprintf(key, sizeof key, "k%05d", i);
		snprintf(cap, sizeof cap, "caption %d\twith a tab", i);
		sqlite3_bind_int(st, 1, i);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 3, &bits, 1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, cap, -1, SQLITE_TRANSIENT);
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
	bl_index_close(ix);
	return ok ? bl_index_open(path, BL_INDEX_READ, err, sizeof err) : NULL;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

BL_TEST(audit_draw)
{
	bl_index *ix = draw_index("draw", 1000);
	bl_audit_options o;
	bl_buf a, b, h;
	char err[256];

	REQUIRE(ix);
	memset(&o, 0, sizeof o);
	o.nodes = "sexual";
	o.per_stratum = 40;
	o.seed = 9;
	bl_buf_init(&a, 0);
	bl_buf_init(&b, 0);
	bl_buf_init(&h, 0);
	REQUIRE(bl_audit_draw(ix, &o, &a, &h, err, sizeof err) == BL_OK);
	/* 300 tagged, 700 untagged; 40 drawn from each */
	CHECK_EQ_INT(count(a.buf, "\ttagged\t300\t40\tstratified\n"), 40);
	CHECK_EQ_INT(count(a.buf, "\tuntagged\t700\t40\tstratified\n"), 40);
	CHECK_CONTAINS(a.buf, "caption 1");
	CHECK_CONTAINS(a.buf, "\\twith a tab"); /* the caption's tab, escaped */
	CHECK_CONTAINS(h.buf, "<table>");
	CHECK(!strstr(h.buf, "untagged"));
	/* the same seed, the same bytes */
	REQUIRE(bl_audit_draw(ix, &o, &b, NULL, err, sizeof err) == BL_OK);
	CHECK_EQ_STR(a.buf, b.buf);
	bl_buf_reset(&b);
	o.seed = 10;
	REQUIRE(bl_audit_draw(ix, &o, &b, NULL, err, sizeof err) == BL_OK);
	CHECK(strcmp(a.buf, b.buf) != 0);
	/* a stratum smaller than asked is drawn whole */
	bl_buf_reset(&b);
	o.per_stratum = 500;
	REQUIRE(bl_audit_draw(ix, &o, &b, NULL, err, sizeof err) == BL_OK);
	CHECK_EQ_INT(count(b.buf, "\ttagged\t300\t300\t"), 300);
	CHECK_EQ_INT(count(b.buf, "\tuntagged\t700\t500\t"), 500);
	/* the default nodes: sexual and every gender and group label */
	bl_buf_reset(&b);
	o.nodes = NULL;
	o.per_stratum = 5;
	REQUIRE(bl_audit_draw(ix, &o, &b, NULL, err, sizeof err) == BL_OK);
	CHECK_EQ_INT(count(b.buf, "\tgender.female\t"), 10);
	CHECK_EQ_INT(count(b.buf, "\tsexual\t"), 10);
	/* misuse and unknown labels leave the buffer alone */
	bl_buf_reset(&b);
	o.nodes = "group.none";
	CHECK(bl_audit_draw(ix, &o, &b, NULL, err, sizeof err) == BL_FAILED);
	CHECK_CONTAINS(err, "'group.none'");
	CHECK_EQ_INT(b.len, 0);
	CHECK(bl_audit_draw(NULL, &o, &b, NULL, err, sizeof err) == BL_EUSAGE);
	CHECK(bl_audit_draw(ix, &o, NULL, NULL, err, sizeof err) == BL_EUSAGE);
	bl_buf_release(&a);
	bl_buf_release(&b);
	bl_buf_release(&h);
	bl_index_close(ix);
}

/* A census of 1000 samples (every sample judged) whose comment line
 * names the rules it judged; the index of draw_index has 1000 samples. */
static const char *census_sheet(const char *rules)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/census.tsv", bl_test_tmpdir());
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fprintf(f, "# ballast audit sheet 1 | index x.db | samples 1000 | rules %s | seed 1 | "
		   "design stratified | by hand\n%s\n", rules, BL_AUDIT_HEADER);
	/* tagged 300, all judged, 240 yes; untagged 700, all judged, 70 yes */
	for (int i = 0; i < 300; i++)
		fprintf(f, "%d\tsexual\tcap\t%s\t\ts.tar\t%d\tk%d\ttagged\t300\t300\tstratified\n",
			i + 1, i < 240 ? "y" : "n", i, i);
	for (int i = 0; i < 700; i++)
		fprintf(f, "%d\tsexual\tcap\t%s\t\ts.tar\t%d\tk%d\tuntagged\t700\t700\tstratified\n",
			301 + i, i < 70 ? "y" : "n", 300 + i, 300 + i);
	fclose(f);
	return path;
}

/* Set the rules digest an index records, through a connection of its own. */
static int set_rules_digest(const char *name, const char *digest)
{
	char path[512], sql[256];
	sqlite3 *db;
	int ok;

	snprintf(path, sizeof path, "%s/%s.db", bl_test_tmpdir(), name);
	snprintf(sql, sizeof sql,
		 "INSERT OR REPLACE INTO meta(key, value) VALUES ('rules_digest', '%s')", digest);
	if (sqlite3_open(path, &db) != SQLITE_OK) {
		sqlite3_close(db);
		return 0;
	}
	ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	return ok;
}

BL_TEST(audit_bind)
{
	bl_index *ix = draw_index("bind", 1000), *other = draw_index("bind2", 500);
	bl_audit *a;
	const bl_audit_est *e;
	char err[400];

	REQUIRE(ix && other);
	a = bl_audit_read(census_sheet("abcdef0123456789"), err, sizeof err);
	REQUIRE(a);
	/* Se = 240 / 310; its own index: known exactly */
	REQUIRE(bl_audit_bind(a, ix, err, sizeof err) == BL_OK);
	e = bl_audit_node(a, 0);
	CHECK_NEAR(e->sensitivity, 240.0 / 310, 1e-12);
	CHECK(e->se_lo == e->se_hi);
	CHECK(!bl_audit_warning(a));
	/* another index: a sample of how the tagger errs, with an interval
	 * about as wide as Jeffreys' on 240 of 310 */
	REQUIRE(bl_audit_bind(a, other, err, sizeof err) == BL_OK);
	e = bl_audit_node(a, 0);
	CHECK_NEAR(e->sensitivity, 240.0 / 310, 1e-12);
	CHECK(e->se_lo < e->sensitivity - 0.03 && e->se_hi > e->sensitivity + 0.03);
	/* and back: exact again */
	REQUIRE(bl_audit_bind(a, ix, err, sizeof err) == BL_OK);
	CHECK(bl_audit_node(a, 0)->se_lo == bl_audit_node(a, 0)->se_hi);
	/* the index was scanned with other rules: BL_WARN, said */
	REQUIRE(set_rules_digest("bind", "0123456789abcdef0123"));
	CHECK(bl_audit_bind(a, ix, err, sizeof err) == BL_WARN);
	CHECK_CONTAINS(err, "other rules (abcdef0123456789)");
	CHECK_CONTAINS(bl_audit_warning(a), "(0123456789abcdef)");
	/* the same rules (the sheet records a prefix of the digest): fine */
	REQUIRE(set_rules_digest("bind", "abcdef0123456789ffff"));
	CHECK(bl_audit_bind(a, ix, err, sizeof err) == BL_OK);
	CHECK(!bl_audit_warning(a));
	CHECK(bl_audit_bind(NULL, ix, err, sizeof err) == BL_EUSAGE);
	CHECK(bl_audit_bind(a, NULL, NULL, 0) == BL_EUSAGE);
	bl_audit_free(a);
	bl_index_close(ix);
	bl_index_close(other);
}
