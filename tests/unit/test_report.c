/*
 * test_report.c - bl_stats (counts, roll-ups, weights, the skew table,
 * the interval helpers) and bl_report over a small index built by hand
 * with SQL, checked against numbers worked out by hand below and against
 * direct SQL counts.
 */
#include "test.h"
#include "report_fmt_int.h"

#include <cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); \
	if (!NEAR(a_, b_, tol)) bl_test_failf(__FILE__, __LINE__, "%s ~ %s (%.9g != %.9g)", #a, #b, a_, b_); } while (0)

/* Label ids of the hand-made index (= bit positions in samples.bits). */
enum { L_SAFETY, L_FEMALE, L_MALE, L_EAST, L_BLACK, L_SUGG, L_SWIM, L_MINOR, NL };
static const char *const names[NL] = {
	"safety.minor_sexual", "gender.female", "gender.male", "group.asian.east",
	"group.black", "sexual.suggestive", "attire.swimwear", "age.minor",
};

static int sql(sqlite3 *db, const char *q)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, q, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "    sql: %s: %s\n", q, msg ? msg : "?");
		sqlite3_free(msg);
	}
	return rc == SQLITE_OK;
}

/* Add `count` samples with the labels in mask to shard_id, starting at
 * *ordinal, with problems set on the first `bad` of them. */
static int add_rows(sqlite3 *db, int shard_id, int *ordinal, unsigned mask, int count,
		    int bad)
{
	sqlite3_stmt *st = NULL;
	int ok = 1;
	char text[512];
	unsigned char bits[1];
	size_t tl = 0;
	/* names sorted as the index stores them */
	const char *sorted[NL];
	int ns = 0;

	for (int i = 0; i < NL; i++)
		if (mask >> i & 1)
			sorted[ns++] = names[i];
	for (int i = 1; i < ns; i++)
		for (int j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
			const char *t = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	tl += (size_t)snprintf(text, sizeof text, ",");
	for (int i = 0; i < ns; i++)
		tl += (size_t)snprintf(text + tl, sizeof text - tl, "%s,", sorted[i]);
	bits[0] = (unsigned char)mask;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO samples(shard_id, ordinal, key, labels, bits, problems)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	for (int i = 0; i < count && ok; i++) {
		char key[32];
		snprintf(key, sizeof key, "%05d", *ordinal);
		sqlite3_bind_int(st, 1, shard_id);
		sqlite3_bind_int(st, 2, *ordinal);
		sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, ns ? text : ",", -1, SQLITE_TRANSIENT);
		if (mask)
			sqlite3_bind_blob(st, 5, bits, 1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 5);
		sqlite3_bind_int(st, 6, i < bad ? 1 << BL_ERR_NO_CAPTION : 0);
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_reset(st);
		(*ordinal)++;
	}
	sqlite3_finalize(st);
	return ok;
}

#define B(x) (1u << (x))

/*
 * The small case, in two shards:
 *   female & group.asian.east          10, 4 of them sexual.suggestive
 *   female & group.black               10, 1 sexual
 *   female alone                       20, 1 sexual (and 3 in swimwear)
 *   male & group.asian.east            10, none sexual
 *   male alone                         10, 1 sexual
 *   age.minor & sexual & safety        1 (blocked), no gender
 *   no labels                          4 (2 with problems)
 * 65 samples; errors: 2 truncated, 1 no_caption.
 */
static bl_index *make_index(const char *path)
{
	char err[256];
	bl_index *ix = bl_index_open(path, BL_INDEX_CREATE, err, sizeof err);
	sqlite3 *db;
	int o = 0, ok = 1;

	if (!ix) {
		fprintf(stderr, "    %s\n", err);
		return NULL;
	}
	db = bl_index_db(ix);
	ok = sql(db, "BEGIN");
	for (int i = 0; i < NL && ok; i++) {
		char q[256];
		snprintf(q, sizeof q, "INSERT INTO labels(id, name) VALUES (%d, '%s')", i, names[i]);
		ok = sql(db, q);
	}
	ok = ok && sql(db, "INSERT INTO shards(id, path, complete) VALUES (1, 'a/00000.tar', 1),"
			   " (2, 'a/<b>&\"x''.tar', 1)");
	ok = ok && add_rows(db, 1, &o, B(L_FEMALE) | B(L_EAST) | B(L_SUGG), 4, 0);
	ok = ok && add_rows(db, 1, &o, B(L_FEMALE) | B(L_EAST), 6, 0);
	ok = ok && add_rows(db, 1, &o, B(L_FEMALE) | B(L_BLACK) | B(L_SUGG), 1, 0);
	ok = ok && add_rows(db, 1, &o, B(L_FEMALE) | B(L_BLACK), 9, 0);
	o = 0;
	ok = ok && add_rows(db, 2, &o, B(L_FEMALE) | B(L_SUGG), 1, 0);
	ok = ok && add_rows(db, 2, &o, B(L_FEMALE) | B(L_SWIM), 3, 0);
	ok = ok && add_rows(db, 2, &o, B(L_FEMALE), 16, 0);
	ok = ok && add_rows(db, 2, &o, B(L_MALE) | B(L_EAST), 10, 0);
	ok = ok && add_rows(db, 2, &o, B(L_MALE) | B(L_SUGG), 1, 0);
	ok = ok && add_rows(db, 2, &o, B(L_MALE), 9, 0);
	ok = ok && add_rows(db, 2, &o, B(L_MINOR) | B(L_SUGG) | B(L_SAFETY), 1, 0);
	ok = ok && add_rows(db, 2, &o, 0, 4, 2);
	ok = ok && sql(db, "INSERT INTO errors(shard_id, ordinal, kind, offset, message) VALUES"
			   " (1, NULL, 'truncated', 0, 'x'), (2, NULL, 'truncated', 0, 'y'),"
			   " (2, 60, 'no_caption', 0, 'z')");
	ok = ok && sql(db, "COMMIT");
	bl_index_close(ix);
	if (!ok)
		return NULL;
	/* reopen so that the label table is read as a reader sees it */
	ix = bl_index_open(path, BL_INDEX_READ, err, sizeof err);
	if (!ix)
		fprintf(stderr, "    %s\n", err);
	return ix;
}

static bl_index *fixture(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.db", bl_test_tmpdir(), name);
	remove(path);
	return make_index(path);
}

static const bl_stats_skew *find_cell(const bl_stats_skew *v, size_t n, const char *group,
				      const char *gender)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].group, group) &&
		    (gender ? v[i].gender && !strcmp(v[i].gender, gender) : !v[i].gender))
			return &v[i];
	return NULL;
}

BL_TEST(report_interval_helpers)
{
	double lo, hi, or_;

	/* Wilson, p = 0.4, n = 10, z = 1.959964: z^2 = 3.841459;
	 * den = 1 + z^2/n = 1.3841459; mid = (0.4 + z^2/20) / den = 0.427755;
	 * half = z sqrt(0.024 + z^2/400) / den = 0.259573
	 * -> [0.168180, 0.687326] */
	bl_stats_wilson(0.4, 10, 0, &lo, &hi);
	CHECK_NEAR(lo, 0.16818033, 1e-7);
	CHECK_NEAR(hi, 0.68732623, 1e-7);
	bl_stats_wilson(0, 10, 1.959963984540054, &lo, &hi);
	CHECK(lo == 0);
	CHECK(hi > 0.27 && hi < 0.28); /* 3.84/13.84 = 0.2775 */
	bl_stats_wilson(0.5, 0, 0, &lo, &hi);
	CHECK(lo == 0 && hi == 1);
	/* Woolf: a=4 b=6 c=2 d=28: OR = 112/12 = 9.3333;
	 * se = sqrt(1/4 + 1/6 + 1/2 + 1/28) = 0.975900;
	 * CI = 9.3333 exp(-+1.959964 * 0.9759) = [1.37832, 63.2011] */
	or_ = bl_stats_odds_ratio(4, 6, 2, 28, 0, &lo, &hi);
	CHECK_NEAR(or_, 9.3333333, 1e-6);
	CHECK_NEAR(lo, 1.37831705, 1e-6);
	CHECK_NEAR(hi, 63.2010691, 1e-5);
	/* Haldane: a=0 b=10 c=1 d=9 -> (0.5 9.5) / (10.5 1.5) = 0.301587 */
	or_ = bl_stats_odds_ratio(0, 10, 1, 9, 0, &lo, &hi);
	CHECK_NEAR(or_, 0.30158730, 1e-7);
	CHECK_NEAR(lo, 0.01091686, 1e-7);
	CHECK_NEAR(hi, 8.33159694, 1e-6);
	/* no information: an empty column */
	CHECK(isnan(bl_stats_odds_ratio(0, 10, 0, 9, 0, NULL, NULL)));
	CHECK_NEAR(bl_stats_kish(8, 12), 64.0 / 12, 1e-12);
	CHECK(bl_stats_kish(0, 0) == 0);
}

BL_TEST(report_skew_by_hand)
{
	bl_index *ix = fixture("skew");
	bl_stats *st;
	sqlite3_stmt *q = NULL;
	const bl_stats_skew *v, *c;
	size_t n;

	REQUIRE(ix);
	st = bl_stats_new_index(ix);
	REQUIRE(st);
	REQUIRE(sqlite3_prepare_v2(bl_index_db(ix), "SELECT bits FROM samples", -1, &q, NULL) ==
		SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW)
		CHECK(bl_stats_add_bits(st, sqlite3_column_blob(q, 0),
					(size_t)sqlite3_column_bytes(q, 0), 1.0) == BL_OK);
	sqlite3_finalize(q);
	REQUIRE(bl_stats_skew_table(st, 0, 0, &v, &n) == BL_OK);
	/* cells: east (all, female, male), its roll-up group.asian (the
	 * same three), black (all, female) */
	CHECK_EQ_INT(n, 8);

	/* female x group.asian.east: n = 10, events 4, rate 0.4.  Female
	 * samples: 40, of which sexual 4 + 1 + 1 = 6: base 0.15.
	 * lift = 0.4 / 0.15 = 2.6667.  Log-lift variance
	 * (1-p)/e - (1+q-2p)/E = 0.6/4 - 0.35/6 = 0.091667, se 0.302765:
	 * [2.6667 exp(-1.96 se), 2.6667 exp(1.96 se)] = [1.47318, 4.82706].
	 * OR against the rest of the women: a=4 b=6, c=6-4=2 d=30-2=28 ->
	 * 9.3333 [1.37832, 63.2011] (see the helper test). */
	c = find_cell(v, n, "group.asian.east", "gender.female");
	REQUIRE(c);
	CHECK_EQ_INT(c->rows, 10);
	CHECK_NEAR(c->n, 10, 1e-12);
	CHECK_NEAR(c->events, 4, 1e-12);
	CHECK_NEAR(c->rate, 0.4, 1e-12);
	CHECK_NEAR(c->rate_lo, 0.16818033, 1e-7);
	CHECK_NEAR(c->rate_hi, 0.68732623, 1e-7);
	CHECK_NEAR(c->base_rate, 0.15, 1e-12);
	CHECK_NEAR(c->lift, 2.6666667, 1e-6);
	CHECK_NEAR(c->lift_lo, 1.47317611, 1e-6);
	CHECK_NEAR(c->lift_hi, 4.82706112, 1e-6);
	CHECK_NEAR(c->odds_ratio, 9.3333333, 1e-6);
	CHECK_NEAR(c->or_lo, 1.37831705, 1e-6);
	CHECK_NEAR(c->or_hi, 63.2010691, 1e-5);
	CHECK(c->small); /* 10 < 30 samples, 4 < 5 events */
	CHECK_NEAR(c->rate2, 0, 1e-12);

	/* Lift is against all women (the cell included), the rate ratio
	 * against the OTHER women: 30, with 2 sexual: 0.0667; rr = 6.
	 * Var log rr = 0.6/4 + (1-1/15)/2 = 0.616667, se 0.785281:
	 * [6 exp(-1.96 se), 6 exp(1.96 se)] = [1.28742, 27.9630]. */
	CHECK_NEAR(c->rest_rate, 2.0 / 30, 1e-12);
	CHECK_NEAR(c->rate_ratio, 6, 1e-9);
	CHECK_NEAR(c->rr_lo, 1.28741518, 1e-6);
	CHECK_NEAR(c->rr_hi, 27.9630073, 1e-5);
	CHECK(c->or_note == NULL);

	/* male x east: 0 of 10; men: 20 with 1 sexual, base 0.05; the rest
	 * of the men: 1 of 10.  No event in the cell: the odds ratio is 0
	 * in the sample and undefined on the log scale; Haldane's +0.5 would
	 * say 0.30 here, and above 1 when the rest is small, against a lift
	 * of 0.  So it is not given, and the rate ratio (0) carries the
	 * information, bounded by the Wilson bounds: hi = 0.277533 (0 of 10)
	 * / 0.017876 (1 of 10) = 15.5253. */
	c = find_cell(v, n, "group.asian.east", "gender.male");
	REQUIRE(c);
	CHECK_NEAR(c->rate, 0, 1e-12);
	CHECK_NEAR(c->base_rate, 0.05, 1e-12);
	CHECK_NEAR(c->lift, 0, 1e-12);
	CHECK(isnan(c->odds_ratio) && isnan(c->or_lo) && isnan(c->or_hi));
	CHECK_EQ_STR(c->or_note, "0 events");
	CHECK_NEAR(c->rest_rate, 0.1, 1e-12);
	CHECK_NEAR(c->rate_ratio, 0, 1e-12);
	CHECK_NEAR(c->rr_lo, 0, 1e-12);
	CHECK_NEAR(c->rr_hi, 15.5252569, 1e-5);

	/* east, all genders: 4 of 20 = 0.2; all samples: 65 with 4+1+1+1+1 =
	 * 8 sexual; base 8/65 = 0.123077, lift 1.625 */
	c = find_cell(v, n, "group.asian.east", NULL);
	REQUIRE(c);
	CHECK_NEAR(c->rate, 0.2, 1e-12);
	CHECK_NEAR(c->base_rate, 8.0 / 65, 1e-12);
	CHECK_NEAR(c->lift, 1.625, 1e-9);

	/* sorted by lift, descending: female x group.asian and female x east
	 * (2.67 both; ties by name) first */
	CHECK_EQ_STR(v[0].group, "group.asian");
	CHECK_EQ_STR(v[0].gender, "gender.female");
	CHECK_EQ_STR(v[1].group, "group.asian.east");
	CHECK_EQ_STR(v[1].gender, "gender.female");
	CHECK_NEAR(v[0].lift, v[1].lift, 0);
	for (size_t i = 1; i < n; i++)
		CHECK(!(v[i].lift > v[i - 1].lift));
	bl_stats_free(st);
	bl_index_close(ix);
}

BL_TEST(report_rollups)
{
	const char *nm[] = {"group.asian.east", "group.asian.south", "group.black",
			    "group.asian", "sexual.explicit"};
	bl_stats *st = bl_stats_new(5, nm);
	bl_labelset a, b;
	bl_stats_count k;
	int node;

	REQUIRE(st);
	/* nodes: the labels plus "group" and "sexual" (group.asian is both) */
	CHECK_EQ_INT(bl_stats_nnodes(st), 7);
	CHECK_EQ_STR(bl_stats_node_name(st, 0), "group");
	CHECK(bl_stats_node_is_family(st, bl_stats_node_find(st, "group.asian")));
	CHECK(!bl_stats_node_is_family(st, bl_stats_node_find(st, "group.black")));
	CHECK(bl_stats_node_find(st, "group.asia") < 0);
	/* one sample with two Asian labels counts once in group.asian */
	bl_labelset_clear(&a);
	bl_labelset_set(&a, 0);
	bl_labelset_set(&a, 1);
	bl_labelset_clear(&b);
	bl_labelset_set(&b, 3); /* plain "Asian" */
	bl_labelset_set(&b, 4);
	CHECK(bl_stats_add(st, &a, 1.0) == BL_OK);
	CHECK(bl_stats_add(st, &b, 1.0) == BL_OK);
	CHECK(bl_stats_add(st, &b, -1.0) == BL_EUSAGE);
	CHECK(bl_stats_add(st, &b, NAN) == BL_EUSAGE);
	node = bl_stats_node_find(st, "group.asian");
	CHECK(bl_stats_node(st, node, &k) == BL_OK);
	CHECK_EQ_INT(k.rows, 2);
	CHECK(bl_stats_label(st, 3, &k) == BL_OK);
	CHECK_EQ_INT(k.rows, 1); /* the label itself, not the roll-up */
	CHECK(bl_stats_node(st, bl_stats_node_find(st, "group"), &k) == BL_OK);
	CHECK_EQ_INT(k.rows, 2);
	CHECK_NEAR(k.share, 1.0, 1e-12);
	/* conditional: among group.asian samples, half have sexual.explicit */
	CHECK(bl_stats_cond(st, node, 4, &k) == BL_OK);
	CHECK_EQ_INT(k.rows, 1);
	CHECK_NEAR(k.share, 0.5, 1e-12);
	/* settings are fixed once rows arrived */
	CHECK(bl_stats_set_skew(st, "group", NULL, NULL, NULL) == BL_EUSAGE);
	bl_stats_free(st);
	bl_stats_free(NULL);
}

BL_TEST(report_weighted)
{
	const char *nm[] = {"gender.female", "group.asian.east", "sexual.suggestive"};
	bl_stats *st = bl_stats_new(3, nm), *half1 = bl_stats_new(3, nm),
		 *half2 = bl_stats_new(3, nm);
	bl_labelset fes, fe, f, fs;
	bl_stats_totals t;
	bl_stats_count k;
	const bl_stats_skew *v, *c;
	size_t n;

	REQUIRE(st && half1 && half2);
	bl_labelset_clear(&f);
	bl_labelset_set(&f, 0);
	fe = f;
	bl_labelset_set(&fe, 1);
	fes = fe;
	bl_labelset_set(&fes, 2);
	fs = f;
	bl_labelset_set(&fs, 2);
	/*
	 * female & east & sexual  w=2
	 * female & east           w=2, w=1
	 * female & sexual         w=1
	 * female                  w=1, w=1
	 * Sum w = 8, Sum w^2 = 4+4+1+1+1+1 = 12, ESS = 64/12 = 5.3333.
	 * cell female x east: W = 5, events 2, rate 0.4, Sum w^2 = 9,
	 * ESS = 25/9 = 2.7778; Wilson(0.4, 2.7778) = [0.080342, 0.835727].
	 * women: W = 8, events 3: base 0.375, lift 0.4/0.375 = 1.066667.
	 * OR on effective counts: cell row scaled by 2.7778/5 = 0.5556:
	 * a = 1.1111, b = 1.6667; rest (3 rows of weight 1): c = 1, d = 2;
	 * OR = (1.1111 2) / (1.6667 1) = 1.3333 [0.044732, 39.7432].
	 * sexual.suggestive share: 3/8 = 0.375, Wilson at n = 5.3333:
	 * [0.109735, 0.744940].
	 */
	CHECK(bl_stats_add(half1, &fes, 2) == BL_OK);
	CHECK(bl_stats_add(half1, &fe, 2) == BL_OK);
	CHECK(bl_stats_add(half1, &fe, 1) == BL_OK);
	CHECK(bl_stats_add(half2, &fs, 1) == BL_OK);
	CHECK(bl_stats_add(half2, &f, 1) == BL_OK);
	CHECK(bl_stats_add(half2, &f, 1) == BL_OK);
	/* merging two halves equals feeding the whole */
	CHECK(bl_stats_merge(st, half1) == BL_OK);
	CHECK(bl_stats_merge(st, half2) == BL_OK);
	bl_stats_totals_get(st, &t);
	CHECK_EQ_INT(t.rows, 6);
	CHECK_NEAR(t.w, 8, 1e-12);
	CHECK_NEAR(t.w2, 12, 1e-12);
	CHECK_NEAR(t.ess, 64.0 / 12, 1e-12);
	CHECK(bl_stats_label(st, 2, &k) == BL_OK);
	CHECK_NEAR(k.w, 3, 1e-12);
	CHECK_NEAR(k.share, 0.375, 1e-12);
	CHECK_NEAR(k.lo, 0.10973470, 1e-7);
	CHECK_NEAR(k.hi, 0.74493957, 1e-7);
	REQUIRE(bl_stats_skew_table(st, 0, 0, &v, &n) == BL_OK);
	c = find_cell(v, n, "group.asian.east", "gender.female");
	REQUIRE(c);
	CHECK_EQ_INT(c->rows, 3);
	CHECK_NEAR(c->n, 5, 1e-12);
	CHECK_NEAR(c->ess, 25.0 / 9, 1e-12);
	CHECK_NEAR(c->rate, 0.4, 1e-12);
	CHECK_NEAR(c->rate_lo, 0.08034246, 1e-7);
	CHECK_NEAR(c->rate_hi, 0.83572709, 1e-7);
	CHECK_NEAR(c->base_rate, 0.375, 1e-12);
	CHECK_NEAR(c->lift, 0.4 / 0.375, 1e-12);
	CHECK_NEAR(c->odds_ratio, 1.3333333, 1e-6);
	CHECK_NEAR(c->or_lo, 0.04473160, 1e-6);
	CHECK_NEAR(c->or_hi, 39.7432206, 1e-4);
	/* the same rows fed a label set at a time (bl_stats_add_n) */
	{
		const char *lnames[] = {"gender.female", "group.asian.east",
				       "sexual.suggestive"};
		bl_stats *g = bl_stats_new(3, lnames);
		const bl_stats_skew *gv = NULL, *gc;
		size_t gn = 0;
		REQUIRE(g);
		CHECK(bl_stats_add_n(g, &fes, 1, 2, 4) == BL_OK);
		CHECK(bl_stats_add_n(g, &fe, 2, 3, 5) == BL_OK);
		CHECK(bl_stats_add_n(g, &fs, 1, 1, 1) == BL_OK);
		CHECK(bl_stats_add_n(g, &f, 2, 2, 2) == BL_OK);
		CHECK(bl_stats_add_n(g, &f, 0, 0, 0) == BL_EUSAGE);
		CHECK(bl_stats_add_n(g, &f, 1, 1, NAN) == BL_EUSAGE);
		bl_stats_totals_get(g, &t);
		CHECK_EQ_INT(t.rows, 6);
		CHECK_NEAR(t.w, 8, 1e-12);
		CHECK_NEAR(t.w2, 12, 1e-12);
		CHECK(bl_stats_label(g, 2, &k) == BL_OK);
		CHECK_EQ_INT(k.rows, 2);
		CHECK_NEAR(k.share, 0.375, 1e-12);
		REQUIRE(bl_stats_skew_table(g, 0, 0, &gv, &gn) == BL_OK);
		gc = find_cell(gv, gn, "group.asian.east", "gender.female");
		REQUIRE(gc);
		CHECK_EQ_INT(gc->rows, 3);
		CHECK_NEAR(gc->ess, 25.0 / 9, 1e-12);
		CHECK_NEAR(gc->lift, 0.4 / 0.375, 1e-12);
		CHECK_NEAR(gc->or_hi, 39.7432206, 1e-4);
		bl_stats_free(g);
	}
	bl_stats_free(st);
	bl_stats_free(half1);
	bl_stats_free(half2);
}

static char *report(bl_index *ix, int format, const char *by, const char *given, int *rc)
{
	bl_report_options o;
	bl_buf b;
	char err[256];

	memset(&o, 0, sizeof o);
	o.format = format;
	o.by = by;
	o.given = given;
	bl_buf_init(&b, 0);
	*rc = bl_report_buf(ix, &o, &b, err, sizeof err);
	if (*rc != BL_OK) {
		bl_buf_release(&b);
		return strdup(err);
	}
	return bl_buf_detach(&b, NULL);
}

static double jget(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

BL_TEST(report_json_matches_sql)
{
	bl_index *ix = fixture("json");
	char *text;
	cJSON *root = NULL, *labels, *errors, *skew, *first, *shards;
	int rc;

	REQUIRE(ix);
	text = report(ix, BL_REPORT_JSON, NULL, NULL, &rc);
	REQUIRE(text);
	CHECK(rc == BL_OK);
	root = cJSON_Parse(text);
	REQUIRE(root);
	CHECK_NEAR(jget(root, "samples"), 65, 0);
	CHECK_NEAR(jget(root, "shards"), 2, 0);
	CHECK_NEAR(jget(root, "blocked"), 1, 0);
	CHECK_NEAR(jget(root, "samples_with_errors"), 2, 0);
	errors = cJSON_GetObjectItemCaseSensitive(root, "errors");
	CHECK_NEAR(jget(errors, "truncated"), 2, 0);
	CHECK_NEAR(jget(errors, "no_caption"), 1, 0);
	/* every label count equals a direct count in SQL */
	labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
	REQUIRE(labels);
	CHECK_EQ_INT(cJSON_GetArraySize(labels), NL);
	for (int i = 0; i < NL; i++) {
		sqlite3_stmt *q = NULL;
		char like[128];
		snprintf(like, sizeof like, "%%,%s,%%", names[i]);
		REQUIRE(sqlite3_prepare_v2(bl_index_db(ix),
					   "SELECT count(*) FROM samples WHERE labels LIKE ?1", -1,
					   &q, NULL) == SQLITE_OK);
		sqlite3_bind_text(q, 1, like, -1, SQLITE_TRANSIENT);
		REQUIRE(sqlite3_step(q) == SQLITE_ROW);
		CHECK_NEAR(jget(labels, names[i]), sqlite3_column_int(q, 0), 0);
		sqlite3_finalize(q);
	}
	CHECK_NEAR(jget(cJSON_GetObjectItemCaseSensitive(root, "families"), "group"), 30, 0);
	CHECK_NEAR(jget(cJSON_GetObjectItemCaseSensitive(root, "families"), "gender"), 60, 0);
	skew = cJSON_GetObjectItemCaseSensitive(root, "skew");
	REQUIRE(cJSON_IsArray(skew));
	first = cJSON_GetArrayItem(skew, 0);
	REQUIRE(first);
	CHECK_EQ_STR(cJSON_GetObjectItemCaseSensitive(first, "group")->valuestring,
		     "group.asian");
	CHECK_EQ_STR(cJSON_GetObjectItemCaseSensitive(first, "gender")->valuestring,
		     "gender.female");
	CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(skew, 2), "gender")));
	CHECK_NEAR(jget(first, "lift"), 2.66667, 1e-9); /* 6 significant digits */
	CHECK_NEAR(jget(first, "rate_lo"), 0.16818, 1e-9);
	CHECK_NEAR(jget(first, "or_hi"), 63.2011, 1e-9);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(first, "small")));
	shards = cJSON_GetObjectItemCaseSensitive(root, "per_shard");
	CHECK_EQ_INT(cJSON_GetArraySize(shards), 2);
	CHECK_NEAR(jget(cJSON_GetArrayItem(shards, 0), "samples"), 20, 0);
	CHECK_NEAR(jget(cJSON_GetArrayItem(shards, 1), "samples"), 45, 0);
	CHECK_NEAR(jget(cJSON_GetArrayItem(shards, 1), "blocked"), 1, 0);
	CHECK_NEAR(jget(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(shards, 0), "labels"),
			"group.asian.east"), 10, 0);
	cJSON_Delete(root);
	free(text);

	/* --given and --by */
	text = report(ix, BL_REPORT_JSON, "group", "gender.female,sexual.suggestive", &rc);
	REQUIRE(text);
	CHECK(rc == BL_OK);
	root = cJSON_Parse(text);
	REQUIRE(root);
	{
		cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "given");
		cJSON *rt = cJSON_GetObjectItemCaseSensitive(g, "rates");
		cJSON *by = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(root, "by"), "rows");
		cJSON *black = cJSON_GetObjectItemCaseSensitive(by, "group.black");
		/* women with sexual wording: 6, 4 of them East Asian */
		CHECK_NEAR(jget(g, "samples"), 6, 0);
		CHECK_NEAR(jget(cJSON_GetObjectItemCaseSensitive(rt, "group.asian.east"), "count"),
			   4, 0);
		CHECK_NEAR(jget(cJSON_GetObjectItemCaseSensitive(rt, "group.asian.east"), "share"),
			   0.666667, 1e-9);
		/* by group: group.asian (roll-up) and group.black */
		CHECK(cJSON_GetObjectItemCaseSensitive(by, "group.asian") != NULL);
		CHECK_NEAR(jget(black, "samples"), 10, 0);
		CHECK_NEAR(jget(cJSON_GetObjectItemCaseSensitive(
					cJSON_GetObjectItemCaseSensitive(black, "rates"),
					"sexual.suggestive"),
				"share"),
			   0.1, 1e-9);
	}
	cJSON_Delete(root);
	free(text);

	text = report(ix, BL_REPORT_JSON, NULL, "gender.female,no.such", &rc);
	CHECK(rc == BL_FAILED);
	CHECK_CONTAINS(text, "no.such");
	free(text);
	text = report(ix, BL_REPORT_TEXT, "nosuchfamily", NULL, &rc);
	CHECK(rc == BL_FAILED);
	CHECK_CONTAINS(text, "nosuchfamily");
	free(text);
	bl_index_close(ix);
}

BL_TEST(report_formats_deterministic)
{
	bl_index *ix = fixture("det");
	REQUIRE(ix);
	for (int f = BL_REPORT_TEXT; f <= BL_REPORT_HTML; f++) {
		int rc1, rc2;
		char *a = report(ix, f, "group", "gender.female", &rc1);
		char *b = report(ix, f, "group", "gender.female", &rc2);
		CHECK(rc1 == BL_OK && rc2 == BL_OK);
		CHECK(a && b && strcmp(a, b) == 0);
		CHECK(a && strlen(a) > 200);
		if (f == BL_REPORT_HTML && a) {
			/* data strings are escaped: the shard path a/<b>&"x'.tar */
			CHECK_CONTAINS(a, "a/&lt;b&gt;&amp;&quot;x&#39;.tar");
			CHECK(!strstr(a, "<b>&"));
			CHECK_CONTAINS(a, "<svg");
			CHECK(!strstr(a, "<script"));
			CHECK(!strstr(a, "src="));
			CHECK(!strstr(a, "href="));
		}
		if (f == BL_REPORT_CSV && a) {
			/* the same path is quoted in CSV */
			CHECK_CONTAINS(a, "\nshard,\"a/<b>&\"\"x'.tar\",samples,,,,45,");
			CHECK_CONTAINS(a, "\nskew,,group.asian.east,gender.female,10,10,4,0.4,");
		}
		if (f == BL_REPORT_TEXT && a) {
			CHECK_CONTAINS(a, "group.asian.east");
			CHECK_CONTAINS(a, "2.67");
		}
		free(a);
		free(b);
	}
	bl_index_close(ix);
}

BL_TEST(report_save_atomic)
{
	bl_index *ix = fixture("save");
	bl_report_options o;
	char path[512], tmp[600], err[256];
	FILE *f;
	long size;

	REQUIRE(ix);
	memset(&o, 0, sizeof o);
	o.format = BL_REPORT_HTML;
	snprintf(path, sizeof path, "%s/report.html", bl_test_tmpdir());
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	CHECK(bl_report_save(ix, &o, path, err, sizeof err) == BL_OK);
	f = fopen(path, "rb");
	REQUIRE(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	CHECK(size > 1000);
	CHECK(access(tmp, F_OK) != 0);
	/* a directory that does not exist: failure, nothing left behind */
	snprintf(path, sizeof path, "%s/no/such/dir/r.html", bl_test_tmpdir());
	CHECK(bl_report_save(ix, &o, path, err, sizeof err) == BL_FAILED);
	CHECK_CONTAINS(err, "cannot create");
	bl_index_close(ix);
}

/* ---- before and after a rebalance ---------------------------------------- */

/* Rebalance the fixture with the deskew policy into DIR/name; 1 on success. */
static int deskew_manifest(bl_index *ix, const char *dir)
{
	/* 65 samples: every row is under the rebalancer's minimum and one
	 * sample carries more than 1% of the weight; accepted */
	static const char text[] = "independent sexual group within gender\naccept cells >= 1\n"
		"accept sample share 0.1\n";
	bl_policy *p = bl_policy_new();
	bl_rebalance *rb = NULL;
	bl_manifest_options mo;
	char err[256];
	int ok = 0;

	memset(&mo, 0, sizeof mo);
	mo.no_digest = 1;
	mo.force = 1;
	if (!p || bl_policy_parse(p, "deskew", text, sizeof text - 1) != BL_OK)
		goto out;
	rb = bl_rebalance_new(p);
	if (!rb || bl_rebalance_plan(rb, ix) != BL_OK)
		goto out;
	ok = bl_manifest_write(rb, ix, dir, &mo, err, sizeof err) == BL_OK;
	if (!ok)
		fprintf(stderr, "    %s\n", err);
out:
	bl_rebalance_free(rb);
	bl_policy_free(p);
	return ok;
}

static char *mreport(bl_index *ix, const char *dir, int format, int *rc, char *err,
		     size_t errlen)
{
	bl_report_options o;
	bl_manifest *m = bl_manifest_open(dir, err, errlen);
	bl_buf b;

	memset(&o, 0, sizeof o);
	o.format = format;
	bl_buf_init(&b, 0);
	*rc = m ? bl_report_manifest_buf(ix, m, dir, &o, &b, err, errlen) : BL_FAILED;
	bl_manifest_free(m);
	if (*rc != BL_OK) {
		bl_buf_release(&b);
		return NULL;
	}
	return bl_buf_detach(&b, NULL);
}

static const cJSON *skew_cell(const cJSON *side, const char *group, const char *gender)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(side, "skew")) {
		const cJSON *g = cJSON_GetObjectItemCaseSensitive(c, "group");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "gender");
		if (cJSON_IsString(g) && !strcmp(g->valuestring, group) && cJSON_IsString(s) &&
		    !strcmp(s->valuestring, gender))
			return c;
	}
	return NULL;
}

BL_TEST(report_manifest_before_after)
{
	bl_index *ix = fixture("mf");
	char dir[512], err[512];
	char *text = NULL;
	cJSON *root = NULL;
	const cJSON *before, *after, *cb, *ca, *cost;
	bl_manifest *m;
	const bl_manifest_entry *e;
	double wf = 0, w2 = 0, sw = 0;
	int rc;

	REQUIRE(ix);
	snprintf(dir, sizeof dir, "%s/mf-out", bl_test_tmpdir());
	REQUIRE(deskew_manifest(ix, dir));
	/* the weighted sums, straight from the lines */
	m = bl_manifest_open(dir, err, sizeof err);
	REQUIRE(m);
	while (bl_manifest_next(m, &e) == BL_OK) {
		if (strstr(e->labels, ",gender.female,"))
			wf += e->weight;
		sw += e->weight;
		w2 += e->weight * e->weight;
	}
	bl_manifest_free(m);

	text = mreport(ix, dir, BL_REPORT_JSON, &rc, err, sizeof err);
	CHECK_EQ_INT(rc, BL_OK);
	REQUIRE(text);
	root = cJSON_Parse(text);
	REQUIRE(root);
	before = cJSON_GetObjectItemCaseSensitive(root, "before");
	after = cJSON_GetObjectItemCaseSensitive(root, "after");
	cost = cJSON_GetObjectItemCaseSensitive(root, "cost");
	/* 64 samples written: the blocked one is not */
	CHECK_NEAR(jget(after, "samples"), 64, 0);
	CHECK_NEAR(jget(before, "samples"), 65, 0);
	CHECK_NEAR(jget(cost, "dropped"), 1, 0);
	CHECK_NEAR(jget(cost, "blocked"), 1, 0);
	CHECK_NEAR(jget(cJSON_GetObjectItemCaseSensitive(after, "labels"), "gender.female"), wf,
		   1e-5 * wf);
	CHECK_NEAR(jget(cost, "ess_after"), sw * sw / w2, 1e-5 * sw);
	CHECK_NEAR(jget(cost, "ess_before"), 65, 0);
	/* 0.4 / (6 / 40) before; independence within gender makes it 1 */
	cb = skew_cell(before, "group.asian.east", "gender.female");
	ca = skew_cell(after, "group.asian.east", "gender.female");
	REQUIRE(cb && ca);
	CHECK_NEAR(jget(cb, "lift"), 0.4 / (6.0 / 40), 1e-5);
	CHECK_NEAR(jget(ca, "lift"), 1, 1e-5);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "agree")));
	CHECK_EQ_STR(cJSON_GetObjectItemCaseSensitive(
			     cJSON_GetObjectItemCaseSensitive(root, "policy"), "text")->valuestring,
		     "independent sexual group within gender\naccept cells >= 1\n"
		     "accept sample share 0.1\n");
	cJSON_Delete(root);
	free(text);

	/* every format, the same bytes twice */
	for (int f = BL_REPORT_TEXT; f <= BL_REPORT_HTML; f++) {
		char *a = mreport(ix, dir, f, &rc, err, sizeof err);
		char *b = mreport(ix, dir, f, &rc, err, sizeof err);
		CHECK(a && b && strcmp(a, b) == 0);
		if (a && f == BL_REPORT_HTML) {
			CHECK_CONTAINS(a, "<svg");
			CHECK(!strstr(a, "src=") && !strstr(a, "href=") && !strstr(a, "<script"));
		}
		if (a && f == BL_REPORT_TEXT)
			CHECK_CONTAINS(a, "group.asian.east  gender.female");
		free(a);
		free(b);
	}
	bl_index_close(ix);
}

BL_TEST(report_manifest_other_index)
{
	bl_index *ix = fixture("mf2"), *other = NULL;
	char dir[512], path[512], err[512];
	bl_buf b;
	bl_manifest *m;
	int rc;

	REQUIRE(ix);
	snprintf(dir, sizeof dir, "%s/mf2-out", bl_test_tmpdir());
	REQUIRE(deskew_manifest(ix, dir));
	/* an index with other shard paths */
	snprintf(path, sizeof path, "%s/mf2-other.db", bl_test_tmpdir());
	remove(path);
	other = bl_index_open(path, BL_INDEX_CREATE, err, sizeof err);
	REQUIRE(other);
	CHECK(sql(bl_index_db(other), "INSERT INTO shards(id, path, complete) VALUES (1, 'z.tar', 1)"));
	m = bl_manifest_open(dir, err, sizeof err);
	REQUIRE(m);
	bl_buf_init(&b, 0);
	bl_buf_adds(&b, "keep");
	rc = bl_report_manifest_buf(other, m, dir, NULL, &b, err, sizeof err);
	CHECK_EQ_INT(rc, BL_FAILED);
	CHECK_CONTAINS(err, "shard 'a/00000.tar' is not in the index");
	CHECK_EQ_STR(b.buf, "keep");
	bl_buf_release(&b);
	bl_manifest_free(m);
	/* misuse */
	CHECK_EQ_INT(bl_report_manifest_buf(ix, NULL, dir, NULL, NULL, err, sizeof err),
		     BL_EUSAGE);
	bl_index_close(other);
	bl_index_close(ix);
}

/* ---- issues 11, 12, 13: honest headlines, escaping, weights ---------------- */

#include "report_int.h"

/* A hand-made index over the given label names; rows: per entry, a label
 * mask (bit i: names[i]), a count and a weight (1: NULL in the column). */
struct spec {
	unsigned mask;
	int count;
	double weight;
};

static bl_index *index_of(const char *file, const char *shard, int nl, const char *const *nm,
			  const struct spec *rows, size_t nrows)
{
	char path[512], err[256];
	bl_index *ix;
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int ok, o = 0;

	snprintf(path, sizeof path, "%s/%s.db", bl_test_tmpdir(), file);
	remove(path);
	ix = bl_index_open(path, BL_INDEX_CREATE, err, sizeof err);
	if (!ix)
		return NULL;
	db = bl_index_db(ix);
	ok = sql(db, "BEGIN");
	for (int i = 0; i < nl && ok; i++) {
		sqlite3_stmt *q = NULL;
		ok = sqlite3_prepare_v2(db, "INSERT INTO labels(id, name) VALUES (?1, ?2)", -1, &q,
					NULL) == SQLITE_OK;
		if (ok) {
			sqlite3_bind_int(q, 1, i);
			sqlite3_bind_text(q, 2, nm[i], -1, SQLITE_TRANSIENT);
			ok = sqlite3_step(q) == SQLITE_DONE;
		}
		sqlite3_finalize(q);
	}
	ok = ok && sqlite3_prepare_v2(db, "INSERT INTO shards(id, path, complete) VALUES (1, ?1, 1)",
				      -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_text(st, 1, shard, -1, SQLITE_TRANSIENT);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	st = NULL;
	ok = ok && sqlite3_prepare_v2(db, "INSERT INTO samples(shard_id, ordinal, key, labels, bits,"
				      " weight) VALUES (1, ?1, 'k', ',', ?2, ?3)", -1, &st,
				      NULL) == SQLITE_OK;
	for (size_t r = 0; ok && r < nrows; r++)
		for (int i = 0; ok && i < rows[r].count; i++) {
			unsigned char bits[4] = {(unsigned char)rows[r].mask,
						 (unsigned char)(rows[r].mask >> 8),
						 (unsigned char)(rows[r].mask >> 16), 0};
			sqlite3_bind_int(st, 1, o++);
			sqlite3_bind_blob(st, 2, bits, 3, SQLITE_TRANSIENT);
			if (rows[r].weight != 1)
				sqlite3_bind_double(st, 3, rows[r].weight);
			else
				sqlite3_bind_null(st, 3);
			ok = sqlite3_step(st) == SQLITE_DONE;
			sqlite3_reset(st);
		}
	sqlite3_finalize(st);
	ok = ok && sql(db, "COMMIT");
	bl_index_close(ix);
	return ok ? bl_index_open(path, BL_INDEX_READ, err, sizeof err) : NULL;
}

static char *report_opt(bl_index *ix, const bl_report_options *o)
{
	bl_buf b;
	char err[256];
	bl_buf_init(&b, 0);
	if (bl_report_buf(ix, o, &b, err, sizeof err) != BL_OK) {
		fprintf(stderr, "    %s\n", err);
		bl_buf_release(&b);
		return NULL;
	}
	return bl_buf_detach(&b, NULL);
}

BL_TEST(report_zero_event_odds_ratio)
{
	/* 2 women of group.x, neither with sexual wording; 1000 other women,
	 * 1 with.  Haldane's +0.5 would report (0.5 1000.5) / (2.5 1.5) =
	 * 133 for a cell whose lift is 0. */
	static const char *const nm[] = {"gender.female", "group.x", "sexual.s"};
	static const struct spec rows[] = {{3, 2, 1}, {5, 1, 1}, {1, 999, 1}};
	bl_index *ix = index_of("zero", "z.tar", 3, nm, rows, 3);
	bl_report_options o;
	char *text;
	cJSON *root;

	REQUIRE(ix);
	CHECK(bl_stats_odds_ratio(0, 2, 1, 999, 0, NULL, NULL) > 100);
	memset(&o, 0, sizeof o);
	o.format = BL_REPORT_JSON;
	text = report_opt(ix, &o);
	REQUIRE(text);
	root = cJSON_Parse(text);
	REQUIRE(root);
	{
		const cJSON *s;
		int found = 0;
		cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "skew")) {
			const cJSON *g = cJSON_GetObjectItemCaseSensitive(s, "gender");
			if (!cJSON_IsString(g))
				continue;
			found = 1;
			CHECK_NEAR(jget(s, "lift"), 0, 0);
			CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(s, "odds_ratio")));
			CHECK_EQ_STR(cJSON_GetObjectItemCaseSensitive(s, "or_note")->valuestring,
				     "0 events");
			CHECK_NEAR(jget(s, "rate_ratio"), 0, 0);
		}
		CHECK(found);
	}
	cJSON_Delete(root);
	free(text);
	o.format = BL_REPORT_TEXT;
	text = report_opt(ix, &o);
	CHECK_CONTAINS(text, "n/a (0 events)");
	free(text);
	o.format = BL_REPORT_CSV;
	text = report_opt(ix, &o);
	CHECK_CONTAINS(text, ",0 events\n");
	free(text);
	bl_index_close(ix);
}

BL_TEST(report_escapes_each_sink)
{
	static const char *const nm[] = {"gender.female", "group.x", "sexual.s"};
	static const struct spec rows[] = {{3, 40, 1}, {7, 10, 1}, {1, 100, 1}, {5, 5, 1}};
	const char *shard = "=HYPERLINK(\"http://x\")\x1b[31m\tred\n.tar";
	bl_index *ix = index_of("esc\x1b[31m", shard, 3, nm, rows, 4);
	bl_report_options o;
	bl_buf b;
	char *text;

	REQUIRE(ix);
	/* the helpers */
	bl_buf_init(&b, 0);
	bl_report_text_escape(&b, "a\x1b[2Jb \xc3\xa9 \xc2\x9b \xff \x7f");
	CHECK_EQ_STR(b.buf, "a\\x1b[2Jb \xc3\xa9 \\xc2\\x9b \\xff \\x7f");
	bl_buf_reset(&b);
	bl_report_csv_escape(&b, "=1+2");
	bl_report_csv_escape(&b, "|-5");
	bl_report_csv_escape(&b, "-5");
	bl_report_csv_escape(&b, "@x,y");
	bl_report_csv_escape(&b, "plain");
	CHECK_EQ_STR(b.buf, "\"'=1+2\"|-5\"'-5\"\"'@x,y\"plain");
	bl_buf_reset(&b);
	bl_report_html_escape(&b, "<a href='x'>\x1b");
	CHECK_EQ_STR(b.buf, "&lt;a href=&#39;x&#39;&gt;\\x1b");
	/* bytes that are not UTF-8 and C1 controls as in text, white space
	 * kept in HTML; CSV escapes as text, then quotes */
	bl_buf_reset(&b);
	bl_report_html_escape(&b, "a\tb\n\xff\xc2\x85&\xc3\xa9");
	CHECK_EQ_STR(b.buf, "a\tb\n\\xff\\xc2\\x85&amp;\xc3\xa9");
	bl_buf_reset(&b);
	bl_report_csv_escape(&b, "s\xff\x1b,\"q\"\n");
	bl_report_csv_escape(&b, "\tx");
	bl_report_csv_escape(&b, NULL);
	CHECK_EQ_STR(b.buf, "\"s\\xff\\x1b,\"\"q\"\"\\x0a\"\\x09x");
	/* the audit sheet's TSV field: exact to unescape, formula-safe */
	bl_buf_reset(&b);
	bl_report_tsv_escape(&b, "-a\tb\\c\n\r\x1b\xff\xc3\xa9");
	CHECK_EQ_STR(b.buf, "'-a\\tb\\\\c\\n\\r\\x1b\\xff\xc3\xa9");
	bl_buf_reset(&b);
	CHECK_EQ_INT(bl_report_tsv_escape(&b, NULL), BL_OK);
	CHECK_EQ_STR(b.buf, "");
	bl_buf_release(&b);
	/* every format of a report of that shard */
	memset(&o, 0, sizeof o);
	for (int f = BL_REPORT_TEXT; f <= BL_REPORT_HTML; f++) {
		o.format = f;
		text = report_opt(ix, &o);
		REQUIRE(text);
		/* no raw ESC in any format (JSON escapes it as \u001b, the
		 * others as \x1b) */
		CHECK(!strchr(text, 0x1b));
		if (f == BL_REPORT_CSV) {
			CHECK_CONTAINS(text, "\nshard,\"'=HYPERLINK(\"\"http://x\"\")"
					     "\\x1b[31m\\x09red\\x0a.tar\",");
			CHECK(!strstr(text, "\nshard,=HYPERLINK"));
		}
		if (f == BL_REPORT_TEXT)
			CHECK_CONTAINS(text, "esc\\x1b[31m.db\n");
		if (f == BL_REPORT_HTML) {
			CHECK_CONTAINS(text, "=HYPERLINK(&quot;http://x&quot;)\\x1b[31m");
			CHECK(!strstr(text, "HYPERLINK(\""));
		}
		free(text);
	}
	bl_index_close(ix);
}

BL_TEST(report_headline_against_the_rest)
{
	bl_index *ix = fixture("head");
	bl_report_options o;
	char *text;

	REQUIRE(ix);
	memset(&o, 0, sizeof o);
	o.format = BL_REPORT_HTML;
	/* every cell of the fixture is small at the defaults: said, not hidden */
	text = report_opt(ix, &o);
	REQUIRE(text);
	CHECK_CONTAINS(text, "<b>No finding: every one of the 8 group cells is too small to read "
			     "alone</b> (fewer than 30 samples, or fewer than 5 with sexual "
			     "wording)");
	free(text);
	/* with smaller thresholds, female x east (and its roll-up group.asian,
	 * first by name) leads: 4 of 10 against 2 of the 30 other women, 6x
	 * (not 0.4 / 0.15 = 2.67x against all women) */
	o.min_rows = 5;
	o.min_events = 1;
	text = report_opt(ix, &o);
	REQUIRE(text);
	CHECK_CONTAINS(text, "<b>The tagger says:</b> captions labelled <b>group.asian "
			     "&#215; gender.female</b> carry sexual wording <b>6.00&#215;</b> as "
			     "often as the other captions of that gender (95% CI 1.29&#8211;27.96): "
			     "40.0% against 6.7% (15.0% among all captions of that gender), over 10 "
			     "samples.");
	free(text);
	/* nothing above 1 among large cells: said so */
	o.min_rows = 15;
	o.min_events = 1;
	text = report_opt(ix, &o);
	REQUIRE(text);
	CHECK_CONTAINS(text, "No group cell large enough to read carries sexual wording more "
			     "often than the other captions of its gender");
	free(text);
	bl_index_close(ix);
}

/* Decode the few entities the report writes, for measuring. */
static void decode(char *s)
{
	static const struct {
		const char *ent, *utf8;
	} ents[] = {{"&#215;", "\xc3\x97"}, {"&#8211;", "\xe2\x80\x93"}, {"&#8594;", "\xe2\x86\x92"},
		    {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}};
	char *w = s;
	for (char *r = s; *r;) {
		size_t k;
		for (k = 0; k < sizeof ents / sizeof ents[0]; k++)
			if (!strncmp(r, ents[k].ent, strlen(ents[k].ent)))
				break;
		if (k < sizeof ents / sizeof ents[0]) {
			memcpy(w, ents[k].utf8, strlen(ents[k].utf8));
			w += strlen(ents[k].utf8);
			r += strlen(ents[k].ent);
		} else if (*r == '<') {
			r = strchr(r, '>') ? strchr(r, '>') + 1 : r + strlen(r); /* a tspan */
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/* Every <text> of every <svg> of html lies within its svg's width, by the
 * report's own conservative measure.  Returns the number of texts. */
static int texts_inside(const char *html, double *widest_svg)
{
	int n = 0;
	*widest_svg = 0;
	for (const char *svg = strstr(html, "<svg width=\""); svg;
	     svg = strstr(svg + 1, "<svg width=\"")) {
		double W = strtod(svg + 12, NULL);
		const char *end = strstr(svg, "</svg>");
		*widest_svg = fmax(*widest_svg, W);
		for (const char *t = strstr(svg, "<text x=\""); t && end && t < end;
		     t = strstr(t + 1, "<text x=\"")) {
			double x = strtod(t + 9, NULL), fs = 13, w;
			const char *open_end = strchr(t, '>'), *close = strstr(t, "</text>");
			const char *f = strstr(t, "font-size=\"");
			int anchor_end = 0, mid = 0;
			char buf[1024];
			if (!open_end || !close)
				break;
			if (f && f < open_end)
				fs = strtod(f + 11, NULL);
			anchor_end = strstr(t, "text-anchor=\"end\"") &&
				     strstr(t, "text-anchor=\"end\"") < open_end;
			mid = strstr(t, "text-anchor=\"middle\"") &&
			      strstr(t, "text-anchor=\"middle\"") < open_end;
			snprintf(buf, sizeof buf, "%.*s", (int)(close - open_end - 1), open_end + 1);
			decode(buf);
			w = bl_report_text_width(buf, fs);
			if (anchor_end ? x - w < 0 : mid ? x - w / 2 < 0 || x + w / 2 > W : x + w > W)
				bl_test_failf(__FILE__, __LINE__, "text '%s' (x %.0f, ~%.0f px) leaves "
					      "its svg (width %.0f)", buf, x, w, W);
			n++;
		}
	}
	return n;
}

BL_TEST(report_chart_labels_inside_svg)
{
	static const char *const nm[] = {
		"gender.female_described_with_a_rather_long_label",
		"group.an_extraordinarily_long_group_label_name_that_goes_on",
		"group.w", "sexual.s",
		"caption.other_language",
	};
	static const struct spec rows[] = {{3, 60, 1}, {11, 40, 1}, {1, 400, 1}, {9, 20, 1},
					   {5, 40, 1}, {16, 7, 1}, {4, 30, 1}};
	bl_index *ix = index_of("wide", "w.tar", 5, nm, rows, 7);
	bl_report_options o;
	double widest;
	char *text;

	REQUIRE(ix);
	memset(&o, 0, sizeof o);
	o.format = BL_REPORT_HTML;
	text = report_opt(ix, &o);
	REQUIRE(text);
	CHECK(texts_inside(text, &widest) > 20);
	/* the long names made the charts wider than the usual 1040 */
	CHECK(widest > 1040);
	/* the width measure is conservative: wide letters count wide */
	CHECK(bl_report_text_width("mmmmmmmmmm", 10) >= 100);
	CHECK(bl_report_text_width("iiiiiiiiii", 10) >= 30);
	CHECK(bl_report_text_width("\xe4\xb8\xad\xe6\x96\x87", 10) >= 20); /* two CJK: 1 em each */
	free(text);
	/* the short fixture stays at the usual width, and inside too */
	bl_index_close(ix);
	ix = fixture("narrow");
	REQUIRE(ix);
	o.min_rows = 5;
	o.min_events = 1;
	text = report_opt(ix, &o);
	REQUIRE(text);
	CHECK(texts_inside(text, &widest) > 20);
	CHECK_NEAR(widest, 1040, 0);
	free(text);
	bl_index_close(ix);
}

BL_TEST(report_unread_captions)
{
	/* caption.* labels, whatever their names: the headline says how much
	 * of the set the filters could not read */
	static const char *const nm[] = {"gender.female", "caption.other_language",
					 "caption.too_short", "caption.mystery"};
	static const struct spec rows[] = {{1, 70, 1}, {2, 20, 1}, {4, 6, 1}, {8, 4, 1}};
	bl_index *ix = index_of("unread", "u.tar", 4, nm, rows, 4);
	bl_report_options o;
	char *text;
	cJSON *root;

	REQUIRE(ix);
	memset(&o, 0, sizeof o);
	o.format = BL_REPORT_HTML;
	text = report_opt(ix, &o);
	REQUIRE(text);
	CHECK_CONTAINS(text, "<b>30.0% of captions (30) could not be read by the filters</b>: "
			     "20.0% of captions are in languages the filters do not cover "
			     "(<code>caption.other_language</code>); 6.0% of captions are too "
			     "short to judge (<code>caption.too_short</code>); 4.0% of captions "
			     "are labelled caption.mystery");
	free(text);
	o.format = BL_REPORT_TEXT;
	text = report_opt(ix, &o);
	CHECK_CONTAINS(text, "unread: 30.00% of captions (30) carry a caption.* label");
	free(text);
	o.format = BL_REPORT_JSON;
	text = report_opt(ix, &o);
	root = text ? cJSON_Parse(text) : NULL;
	REQUIRE(root);
	CHECK_NEAR(jget(cJSON_GetObjectItemCaseSensitive(root, "unread"), "share"), 0.3, 1e-9);
	cJSON_Delete(root);
	free(text);
	bl_index_close(ix);
	/* without caption.* labels, nothing is said */
	ix = fixture("readall");
	REQUIRE(ix);
	o.format = BL_REPORT_HTML;
	text = report_opt(ix, &o);
	CHECK(text && !strstr(text, "could not be read"));
	free(text);
	bl_index_close(ix);
}

BL_TEST(report_weighted_by_ballast_weight)
{
	/* 2 samples of weight 3 with sexual.s, 2 of weight 1 without: the
	 * share is 6 / 8, not 2 / 4 */
	static const char *const nm[] = {"gender.female", "sexual.s"};
	static const struct spec rows[] = {{3, 2, 3.0}, {1, 2, 1.0}};
	bl_index *ix = index_of("weighted", "w.tar", 2, nm, rows, 2);
	bl_report_options o;
	char *text;
	cJSON *root;

	REQUIRE(ix);
	memset(&o, 0, sizeof o);
	o.format = BL_REPORT_JSON;
	text = report_opt(ix, &o);
	root = text ? cJSON_Parse(text) : NULL;
	REQUIRE(root);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "weighted")));
	CHECK_NEAR(jget(root, "weight_sum"), 8, 0);
	CHECK_NEAR(jget(cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(root, "shares"), "sexual.s"),
			"share"),
		   0.75, 1e-9);
	CHECK_NEAR(jget(root, "samples"), 4, 0);
	cJSON_Delete(root);
	free(text);
	o.format = BL_REPORT_TEXT;
	text = report_opt(ix, &o);
	CHECK_CONTAINS(text, "\n\nNOTE: weighted by ballast_weight");
	free(text);
	o.format = BL_REPORT_HTML;
	text = report_opt(ix, &o);
	CHECK_CONTAINS(text, "<p class=\"warnnote\">weighted by ballast_weight");
	free(text);
	o.format = BL_REPORT_CSV;
	text = report_opt(ix, &o);
	CHECK_CONTAINS(text, "\nnote,,,,,,,,,,,,,,,,,,,,,,weighted by ballast_weight");
	free(text);
	bl_index_close(ix);
	/* unweighted: no note */
	ix = fixture("unweighted");
	REQUIRE(ix);
	o.format = BL_REPORT_TEXT;
	text = report_opt(ix, &o);
	CHECK(text && !strstr(text, "ballast_weight"));
	free(text);
	bl_index_close(ix);
}

BL_TEST(report_index_without_weight_column)
{
	/* an index without samples.weight reads as weight 1 */
	char path[512], err[256];
	bl_index *ix = fixture("old");
	sqlite3 *db = NULL;
	char *text;
	bl_report_options o;

	REQUIRE(ix);
	bl_index_close(ix);
	snprintf(path, sizeof path, "%s/old.db", bl_test_tmpdir());
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sql(db, "ALTER TABLE samples DROP COLUMN weight"));
	sqlite3_close(db);
	ix = bl_index_open(path, BL_INDEX_READ, err, sizeof err);
	REQUIRE(ix);
	memset(&o, 0, sizeof o);
	text = report_opt(ix, &o);
	CHECK_CONTAINS(text, "\n  samples                                    65\n");
	CHECK_CONTAINS(text, "\n  sexual.suggestive        8  12.31%");
	free(text);
	bl_index_close(ix);
	/* (a schema-1 index gets the column with the rest of schema 2 when
	 * it is opened for writing: upgrade_1_2 in lib/index.c) */
}
