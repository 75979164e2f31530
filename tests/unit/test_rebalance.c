/*
 * Unit tests for policy.c, rebalance.c and manifest.c.
 *
 * Indexes are built by hand (bl_index_open + SQL inserts) from a seeded
 * generator, so a 100k-sample set costs well under a second and needs no
 * images: groups, genders, sexual wording with a planted skew for East
 * Asian women, and a few minors (some with sexual wording, which every
 * policy must block).
 */
#include "test.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const lab[] = {
	"safety.minor_sexual", "age.minor", "gender.female", "gender.male",
	"group.asian.east", "group.black", "group.white", "group.latino",
	"sexual.explicit", "sexual.suggestive", "attire.swimwear",
};
enum { L_SAFETY, L_MINOR, L_F, L_M, L_EAST, L_BLACK, L_WHITE, L_LATINO, L_EXPL, L_SUGG, L_SWIM, NLAB };

/* A synthetic sample's label set (bit i = lab[i]). */
static unsigned gen_labels(bl_rng *r)
{
	unsigned s = 0;
	double u = bl_rng_double(r);
	int female = 0, east = 0, person = 0;

	if (u < 0.45) {
		s |= 1u << L_F;
		female = person = 1;
	} else if (u < 0.8) {
		s |= 1u << L_M;
		person = 1;
	}
	u = bl_rng_double(r);
	if (person) {
		if (u < 0.08) {
			s |= 1u << L_EAST;
			east = 1;
		} else if (u < 0.16) {
			s |= 1u << L_BLACK;
		} else if (u < 0.30) {
			s |= 1u << L_WHITE;
		} else if (u < 0.36) {
			s |= 1u << L_LATINO;
		}
		if (bl_rng_double(r) < 0.01)
			s |= 1u << L_BLACK; /* a few two-group captions */
	}
	/* sexual wording: women 8% base, East Asian women 3x */
	double rate = female ? (east ? 0.24 : 0.065) : person ? 0.03 : 0.01;
	if (bl_rng_double(r) < rate)
		s |= 1u << (bl_rng_double(r) < 0.3 ? L_EXPL : L_SUGG);
	if (bl_rng_double(r) < 0.05)
		s |= 1u << L_SWIM;
	if (bl_rng_double(r) < 0.03) {
		s |= 1u << L_MINOR;
		if (s & ((1u << L_EXPL) | (1u << L_SUGG)))
			s |= 1u << L_SAFETY;
	}
	return s;
}

/* Build an index of n samples over nshards shards at path. */
static int make_index(const char *path, int nshards, int per_shard, uint64_t seed)
{
	char err[256], labels[512];
	bl_index *ix;
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	bl_rng r;
	int ok = 1;

	remove(path);
	ix = bl_index_open(path, BL_INDEX_CREATE, err, sizeof err);
	if (!ix)
		return 0;
	db = bl_index_db(ix);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (int i = 0; i < NLAB; i++) {
		char sql[128];
		snprintf(sql, sizeof sql, "INSERT INTO labels(id, name) VALUES (%d, '%s')", i, lab[i]);
		ok &= sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
	}
	for (int s = 0; s < nshards; s++) {
		char sql[256];
		snprintf(sql, sizeof sql, "INSERT INTO shards(id, path, size, complete, samples) "
			 "VALUES (%d, 'shard-%05d.tar', %d, 1, %d)", s + 1, s, 1000 + s, per_shard);
		ok &= sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
	}
	ok &= sqlite3_prepare_v2(db, "INSERT INTO samples(shard_id, ordinal, key, offset, labels, bits)"
				 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &st, NULL) == SQLITE_OK;
	bl_rng_seed(&r, seed);
	for (int s = 0; ok && s < nshards; s++) {
		for (int i = 0; i < per_shard; i++) {
			unsigned set = gen_labels(&r);
			unsigned char bits[2] = {(unsigned char)(set & 0xff), (unsigned char)(set >> 8)};
			char key[32];
			size_t len = 1;
			/* labels text: sorted names */
			const char *names[NLAB];
			int nn = 0;
			for (int k = 0; k < NLAB; k++)
				if (set & (1u << k))
					names[nn++] = lab[k];
			for (int a = 1; a < nn; a++)
				for (int b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
					const char *t = names[b];
					names[b] = names[b - 1];
					names[b - 1] = t;
				}
			labels[0] = ',';
			labels[1] = '\0';
			for (int k = 0; k < nn; k++) {
				strcat(labels, names[k]);
				strcat(labels, ",");
			}
			(void)len;
			snprintf(key, sizeof key, "%05d%04d", s, i);
			sqlite3_reset(st);
			sqlite3_bind_int(st, 1, s + 1);
			sqlite3_bind_int(st, 2, i);
			sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 4, (sqlite3_int64)i * 2048);
			sqlite3_bind_text(st, 5, labels, -1, SQLITE_TRANSIENT);
			sqlite3_bind_blob(st, 6, bits, bits[1] ? 2 : 1, SQLITE_TRANSIENT);
			ok &= sqlite3_step(st) == SQLITE_DONE;
		}
	}
	sqlite3_finalize(st);
	ok &= sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
	bl_index_close(ix);
	return ok;
}

static const char *ix100k(void)
{
	static char path[512];
	if (!path[0]) {
		snprintf(path, sizeof path, "%s/rb100k.db", bl_test_tmpdir());
		if (!make_index(path, 10, 10000, 7))
			path[0] = '\0';
	}
	return path[0] ? path : NULL;
}

/* Weighted sums over the manifest of samples matching all of `all` and
 * none of `none` (label names, ",a,b," text tested with strstr). */
struct msum {
	double w, w2;
	uint64_t lines;
};

static int has(const char *labels, const char *name)
{
	char pat[64];
	snprintf(pat, sizeof pat, ",%s", name);
	return strstr(labels, pat) != NULL;
}

static bl_policy *policy(const char *text)
{
	bl_policy *p = bl_policy_new();
	if (p && bl_policy_parse(p, "t.policy", text, strlen(text)) != BL_OK) {
		fprintf(stderr, "    policy: %s\n", bl_policy_errmsg(p));
		bl_policy_free(p);
		p = NULL;
	}
	return p;
}

/* Plan and write (or dry-run, outdir NULL) a policy on an index. */
static bl_rebalance *run(const char *ixpath, bl_policy *p, const char *outdir, uint64_t seed)
{
	char err[512];
	bl_index *ix = bl_index_open(ixpath, BL_INDEX_READ, err, sizeof err);
	bl_rebalance *rb = bl_rebalance_new(p);
	bl_manifest_options mo = {.no_digest = 1, .force = 1};
	int ok = ix && rb;
	if (ok) {
		bl_rebalance_set_seed(rb, seed);
		ok = bl_rebalance_plan(rb, ix) == BL_OK;
		if (!ok)
			fprintf(stderr, "    plan: %s\n", bl_rebalance_errmsg(rb));
	}
	if (ok) {
		ok = bl_manifest_write(rb, ix, outdir, &mo, err, sizeof err) == BL_OK;
		if (!ok)
			fprintf(stderr, "    write: %s\n", err);
	}
	bl_index_close(ix);
	if (!ok) {
		bl_rebalance_free(rb);
		rb = NULL;
	}
	return rb;
}

/* Read a manifest back: totals of samples having `with` (NULL: all). */
static int read_manifest(const char *dir, const char *with, const char *given,
			 struct msum *out, struct msum *all)
{
	char err[256];
	bl_manifest *m = bl_manifest_open(dir, err, sizeof err);
	const bl_manifest_entry *e;
	int rc;
	memset(out, 0, sizeof *out);
	memset(all, 0, sizeof *all);
	if (!m) {
		fprintf(stderr, "    %s\n", err);
		return 0;
	}
	while ((rc = bl_manifest_next(m, &e)) == BL_OK) {
		if (given && !has(e->labels, given))
			continue;
		all->w += e->weight;
		all->w2 += e->weight * e->weight;
		all->lines++;
		if (!with || has(e->labels, with)) {
			out->w += e->weight;
			out->w2 += e->weight * e->weight;
			out->lines++;
		}
	}
	bl_manifest_free(m);
	return rc == BL_END;
}

/* ---- policies ---------------------------------------------------------- */

BL_TEST(policy_parses)
{
	const char *text =
		"# a comment\n"
		"seed 42\n"
		"drop sexual.explicit | (meta.unsafe & !group.*)   # trailing\n"
		"cap 1000 per group\n"
		"target gender gender.female=0.5 gender.male=0.3 rest=0.2\n"
		"independent sexual group within gender\n"
		"realise upsample max 7\n";
	bl_policy *p = policy(text);
	uint64_t seed = 0;
	REQUIRE(p);
	CHECK_EQ_INT(bl_policy_nrules(p), 4);
	CHECK(bl_policy_seed(p, &seed) && seed == 42);
	CHECK_EQ_INT(bl_policy_realise(p), BL_REALISE_UPSAMPLE);
	CHECK(bl_policy_max_repeat(p) == 7);
	const bl_policy_rule *r = bl_policy_rule_at(p, 0);
	CHECK_EQ_INT(r->kind, BL_RULE_DROP);
	CHECK_EQ_INT(r->line, 3);
	CHECK_EQ_STR(r->text, "drop sexual.explicit | (meta.unsafe & !group.*)");
	CHECK_EQ_STR(bl_expr_name(r->expr, 2), "group");
	r = bl_policy_rule_at(p, 2);
	CHECK_EQ_INT(r->ntargets, 2);
	CHECK(fabs(r->rest - 0.2) < 1e-12);
	r = bl_policy_rule_at(p, 3);
	CHECK_EQ_STR(r->family[2], "gender");
	char hex[65];
	bl_sha256_hex(text, strlen(text), hex);
	CHECK_EQ_STR(bl_policy_digest(p), hex);
	bl_policy_free(p);
}

BL_TEST(policy_errors_have_line_and_column)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{"targt group a=1\n", "t.policy:1:1: unknown method 'targt'"},
		{"# x\ncap many per group\n", "t.policy:2:5: expected a positive integer N"},
		{"cap 10 for group\n", "t.policy:1:8: expected 'cap N per FAMILY'"},
		{"\n\ntarget group group.black=0.7 group.white=0.5\n", "t.policy:3:14: the label shares sum to 1.2"},
		{"target group gender.female=0.5\n", "t.policy:1:14: label 'gender.female' is not in family 'group'"},
		{"target group group.black=x\n", "t.policy:1:26: expected a share"},
		{"target group group.black=1.5\n", "t.policy:1:26: a share must lie in [0, 1]"},
		{"target group group.asian=0.2 group.asian.east=0.1\n", "t.policy:1:30: labels 'group.asian' and 'group.asian.east' overlap"},
		{"drop a & (b | c\n", "t.policy:1:10: unclosed '('"},
		{"drop a & | b\n", "t.policy:1:10: expected a label name"},
		{"drop a b\n", "t.policy:1:8: expected '&', '|' or the end"},
		{"drop a..b\n", "t.policy:1:8: malformed label name"},
		{"independent sexual sexual.explicit\n", "t.policy:1:20: families 'sexual' and 'sexual.explicit' overlap"},
		{"realise sometimes\n", "t.policy:1:9: unknown realisation 'sometimes'"},
		{"seed 1\nseed 2\n", "t.policy:2:1: 'seed' given twice"},
		{"target group group.black=0.3 rest=0.3\n", "t.policy:1:14: shares with 'rest' sum to 0.6"},
		{"# nothing\nrealise weights\nseed 1\n", "t.policy: no method line"},
		{"drop a\naccept ess 0.5\n", "t.policy:2:8: expected 'accept ess >= F'"},
		{"drop a\naccept ess >= 1.5\n", "t.policy:2:15: a share of the samples must lie in [0, 1]"},
		{"drop a\naccept max weight 0.5\n", "t.policy:2:19: a weight of at least 1 must lie"},
		{"drop a\naccept sample share x\n", "t.policy:2:21: expected a share"},
		{"drop a\naccept shift sexual\n", "t.policy:2:14: expected a share, got 'sexual'"},
		{"drop a\naccept shift se..x 0.1\n", "t.policy:2:17: expected a family name, got 'se..x'"},
		{"drop a\naccept cells >= 0\n", "t.policy:2:17: a positive integer N must lie"},
		{"drop a\naccept gap now\n", "t.policy:2:12: unexpected words after 'accept gap'"},
		{"drop a\naccept anything\n", "t.policy:2:8: expected 'accept ess >= F'"},
		{"drop a\naccept shift sexual 0.1\naccept shift sexual 0.2\n", "t.policy:3:8: 'accept shift sexual' given twice (first on line 2)"},
		{"drop a\nclip weight 20\nclip weight 30\n", "t.policy:3:1: 'clip weight' given twice (first on line 2)"},
		{"drop a\nclip 20\n", "t.policy:2:6: expected 'clip weight W'"},
		{"drop a\nfloor ess 0\n", "t.policy:2:11: a share above 0 must lie"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bl_policy *p = bl_policy_new();
		REQUIRE(p);
		CHECK_EQ_INT(bl_policy_parse(p, "t.policy", cases[i].text, strlen(cases[i].text)),
			     BL_FAILED);
		CHECK_CONTAINS(bl_policy_errmsg(p), cases[i].msg);
		bl_policy_free(p);
	}
}

BL_TEST(policy_accept_clip_floor)
{
	bl_policy *p = policy("independent sexual group within gender\n"
			      "accept ess >= 0.2\n"
			      "accept max weight 20\n"
			      "accept sample share 0.05\n"
			      "accept shift sexual 0.05\n"
			      "accept shift 0.02\n"
			      "accept cells >= 10\n"
			      "accept gap\n"
			      "clip weight 15\n"
			      "floor ess 0.4\n");
	static const struct {
		int check;
		double limit;
		const char *family;
	} want[] = {
		{BL_CHECK_ESS, 0.2, NULL}, {BL_CHECK_WEIGHT, 20, NULL}, {BL_CHECK_SHARE, 0.05, NULL},
		{BL_CHECK_SHIFT, 0.05, "sexual"}, {BL_CHECK_SHIFT, 0.02, NULL},
		{BL_CHECK_CELLS, 10, NULL}, {BL_CHECK_GAP, 0, NULL},
	};
	int line = 0;
	REQUIRE(p);
	CHECK_EQ_INT(bl_policy_nrules(p), 1);
	REQUIRE(bl_policy_naccepts(p) == 7);
	for (int i = 0; i < 7; i++) {
		const bl_policy_accept *a = bl_policy_accept_at(p, i);
		CHECK_EQ_INT(a->check, want[i].check);
		CHECK(a->limit == want[i].limit);
		CHECK_EQ_INT(a->line, i + 2);
		if (want[i].family)
			CHECK_EQ_STR(a->family, want[i].family);
		else
			CHECK(a->family == NULL);
	}
	CHECK(bl_policy_accept_at(p, 7) == NULL);
	CHECK(bl_policy_clip_weight(p, &line) == 15 && line == 9);
	CHECK(bl_policy_floor_ess(p, &line) == 0.4 && line == 10);
	CHECK_EQ_STR(bl_check_name(BL_CHECK_SHIFT), "shift");
	CHECK_EQ_STR(bl_check_status_name(BL_CHECK_ACCEPTED), "accepted");
	bl_policy_free(p);
	p = policy("drop sexual.explicit\n");
	REQUIRE(p);
	CHECK(bl_policy_clip_weight(p, &line) == 0 && line == 0);
	CHECK(bl_policy_floor_ess(p, NULL) == 0);
	CHECK_EQ_INT(bl_policy_naccepts(p), 0);
	bl_policy_free(p);
}

/* The checks on the 100k set: a target that lifts a 7% group to 60% costs
 * weight and ESS; its accept lines make it pass, reported as accepted;
 * clip and floor bring the plan within their limits and leave a distance
 * from the target, reported. */
BL_TEST(rebalance_checks_and_adjustments)
{
	const char *ix = ix100k();
	REQUIRE(ix);
	static const char *const texts[] = {
		"target group group.latino=0.6\n",
		("target group group.latino=0.6\naccept ess >= 0.05\naccept max weight 40\n"
		 "accept shift 0.5\n"),
		"target group group.latino=0.6\nclip weight 5\nfloor ess 0.6\naccept shift 0.5\n",
	};
	for (int t = 0; t < 3; t++) {
		bl_policy *p = policy(texts[t]);
		REQUIRE(p);
		bl_rebalance *rb = run(ix, p, NULL, 1);
		REQUIRE(rb);
		const bl_rb_summary *s = bl_rebalance_summary(rb);
		REQUIRE(s);
		int st[BL_NCHECKS];
		for (int k = 0; k < BL_NCHECKS; k++)
			st[k] = -1;
		for (size_t i = 0; i < s->nchecks; i++)
			if (s->checks[i].status > st[s->checks[i].check])
				st[s->checks[i].check] = s->checks[i].status;
		fprintf(stderr, "    checks %d: weight ratio %.3g, ESS %.3g of written, TV %.3g, ok %d\n",
			t, s->weight_ratio, s->ess_written_ratio, s->tv_distance, s->ok);
		if (t == 0) {
			CHECK(!s->ok);
			CHECK_EQ_INT(st[BL_CHECK_WEIGHT], BL_CHECK_FAILED);
			CHECK_EQ_INT(st[BL_CHECK_ESS], BL_CHECK_FAILED);
			CHECK_EQ_INT(st[BL_CHECK_CELLS], BL_CHECK_OK);
			CHECK_EQ_INT(st[BL_CHECK_GAP], BL_CHECK_OK);
			CHECK(bl_rb_summary_count(s, BL_CHECK_FAILED) >= 2);
			CHECK(s->tv_distance < 1e-9);
		} else if (t == 1) {
			CHECK(s->ok);
			CHECK_EQ_INT(st[BL_CHECK_WEIGHT], BL_CHECK_ACCEPTED);
			CHECK_EQ_INT(st[BL_CHECK_ESS], BL_CHECK_ACCEPTED);
			for (size_t i = 0; i < s->nchecks; i++)
				if (s->checks[i].status == BL_CHECK_ACCEPTED)
					CHECK(s->checks[i].accept_line >= 2);
		} else {
			CHECK(s->ok);
			CHECK(s->weight_ratio <= 5 * (1 + 1e-9));
			CHECK(s->ess_written_ratio >= 0.6 * (1 - 1e-9));
			CHECK(s->clipped_samples > 0);
			CHECK(s->clip_weight == 5 && s->ess_floor == 0.6);
			CHECK(s->tv_distance > 0.01); /* the price of the clip */
			CHECK(s->rules[0].labels[0].after < 0.6);
			CHECK(s->rules[0].labels[0].after > s->rules[0].labels[0].before);
		}
		bl_rebalance_free(rb);
		bl_policy_free(p);
	}
}

BL_TEST(expr_evaluates_with_rollup)
{
	const char *names[] = {"group.asian.east", "group.black", "meta.unsafe", "sexual.explicit"};
	bl_expr *e = NULL;
	bl_labelset ls, used;
	char err[128];
	size_t col = 0;

	REQUIRE(bl_expr_parse("meta.unsafe & !group.*", 22, &e, &col, err, sizeof err) == BL_OK);
	bl_labelset_clear(&used);
	CHECK_EQ_INT(bl_expr_bind(e, names, 4, &used), 0);
	CHECK(bl_labelset_has(&used, 0) && bl_labelset_has(&used, 2) && !bl_labelset_has(&used, 3));
	bl_labelset_clear(&ls);
	bl_labelset_set(&ls, 2);
	CHECK_EQ_INT(bl_expr_eval(e, &ls), 1);
	bl_labelset_set(&ls, 0);
	CHECK_EQ_INT(bl_expr_eval(e, &ls), 0);
	bl_expr_free(e);

	REQUIRE(bl_expr_parse("group.asian | (sexual & !nothing.here)", 38, &e, NULL, NULL, 0) == BL_OK);
	CHECK_EQ_INT(bl_expr_bind(e, names, 4, NULL), 1); /* nothing.here unbound */
	bl_labelset_clear(&ls);
	bl_labelset_set(&ls, 3);
	CHECK_EQ_INT(bl_expr_eval(e, &ls), 1);
	bl_labelset_clear(&ls);
	bl_labelset_set(&ls, 1);
	CHECK_EQ_INT(bl_expr_eval(e, &ls), 0);
	bl_expr_free(e);

	CHECK_EQ_INT(bl_expr_parse("(a", 2, &e, &col, err, sizeof err), BL_FAILED);
	CHECK(e == NULL);
}

/* ---- rebalancing ------------------------------------------------------- */

BL_TEST(rebalance_deskew_independence)
{
	const char *ix = ix100k();
	char out[512];
	struct msum east, fem, tot;
	REQUIRE(ix);
	bl_policy *p = policy("independent sexual group within gender\n");
	REQUIRE(p);
	snprintf(out, sizeof out, "%s/deskew", bl_test_tmpdir());
	bl_rebalance *rb = run(ix, p, out, 1);
	REQUIRE(rb);
	/* rate of sexual.* among East Asian women vs all women, from the
	 * manifest's weights; and sexual among women overall */
	double rate_e, rate_f;
	struct msum se, sf;
	REQUIRE(read_manifest(out, "sexual.", "group.asian.east", &se, &tot));
	REQUIRE(read_manifest(out, NULL, "group.asian.east", &east, &tot));
	REQUIRE(read_manifest(out, "sexual.", "gender.female", &sf, &tot));
	REQUIRE(read_manifest(out, NULL, "gender.female", &fem, &tot));
	/* only women in the East Asian rows */
	{
		char err[256];
		bl_manifest *m = bl_manifest_open(out, err, sizeof err);
		const bl_manifest_entry *e;
		double ew = 0, esw = 0;
		REQUIRE(m);
		while (bl_manifest_next(m, &e) == BL_OK) {
			if (!has(e->labels, "gender.female") || !has(e->labels, "group.asian.east"))
				continue;
			ew += e->weight;
			if (has(e->labels, "sexual."))
				esw += e->weight;
		}
		bl_manifest_free(m);
		rate_e = esw / ew;
	}
	rate_f = sf.w / fem.w;
	CHECK(fabs(rate_e - rate_f) < 0.01);
	const bl_rb_totals *t = bl_rebalance_totals(rb);
	CHECK(t->ess_after < t->ess_before);
	CHECK(t->ess_after > 0.5 * t->ess_before);
	CHECK(t->blocked > 0);
	CHECK_CONTAINS(bl_rebalance_summary_json(rb), "\"max_rate_gap_after\"");
	fprintf(stderr, "    deskew: rate east-asian women %.4f vs women %.4f, ESS %.0f -> %.0f, blocked %llu\n",
		rate_e, rate_f, t->ess_before, t->ess_after, (unsigned long long)t->blocked);
	bl_rebalance_free(rb);
	bl_policy_free(p);
}

/* Target shares hold exactly for weights, within a few SE otherwise. */
BL_TEST(rebalance_target_each_mode)
{
	static const char *const modes[] = {"weights", "upsample", "downsample"};
	const char *ix = ix100k();
	REQUIRE(ix);
	for (int m = 0; m < 3; m++) {
		char text[256], out[512];
		struct msum sel, tot;
		snprintf(text, sizeof text,
			 "target group group.asian.east=0.2 group.black=0.2 group.white=0.2\n"
			 "realise %s\nseed 5\n", modes[m]);
		bl_policy *p = policy(text);
		REQUIRE(p);
		snprintf(out, sizeof out, "%s/target-%s", bl_test_tmpdir(), modes[m]);
		bl_rebalance *rb = run(ix, p, out, 5);
		REQUIRE(rb);
		static const char *const lbl[] = {"group.asian.east", "group.black", "group.white"};
		for (int k = 0; k < 3; k++) {
			REQUIRE(read_manifest(out, lbl[k], NULL, &sel, &tot));
			double share = sel.w / tot.w;
			/* the SE of a share from ~n Bernoulli/rounding draws */
			double n = (double)tot.lines, se = sqrt(0.2 * 0.8 / n);
			if (m == 0)
				CHECK(fabs(share - 0.2) < 1e-6);
			else
				CHECK(fabs(share - 0.2) < 5 * se + 0.002);
			if (k == 0)
				fprintf(stderr, "    target %s: share %s %.5f (target 0.2), lines %llu\n",
					modes[m], lbl[k], share, (unsigned long long)tot.lines);
		}
		if (m == 0)
			CHECK(bl_rebalance_totals(rb)->max_abs_share_error < 1e-6);
		bl_rebalance_free(rb);
		bl_policy_free(p);
	}
}

/* cap N per FAMILY: shares as expected; downsample keeps ~N of a label. */
BL_TEST(rebalance_cap_each_mode)
{
	static const char *const modes[] = {"weights", "upsample", "downsample"};
	const char *ix = ix100k();
	REQUIRE(ix);
	for (int m = 0; m < 3; m++) {
		char text[256], out[512];
		struct msum sel, tot;
		snprintf(text, sizeof text, "cap 2000 per group\nrealise %s\n", modes[m]);
		bl_policy *p = policy(text);
		REQUIRE(p);
		snprintf(out, sizeof out, "%s/cap-%s", bl_test_tmpdir(), modes[m]);
		bl_rebalance *rb = run(ix, p, out, 3);
		REQUIRE(rb);
		REQUIRE(read_manifest(out, "group.white", NULL, &sel, &tot));
		/* white: ~11k samples in the index, expected share after the cap
		 * from the summary; downsample: ~2000 kept (+ two-group extras) */
		const char *js = bl_rebalance_summary_json(rb);
		const char *at = strstr(js, "\"label\":\"group.white\"");
		REQUIRE(at);
		const char *se = strstr(at, "\"share_expected\":");
		const char *ce = strstr(at, "\"count_expected\":");
		REQUIRE(se && ce);
		double want = atof(se + 17), cnt = atof(ce + 17);
		double share = sel.w / tot.w, sd = sqrt(want * (1 - want) / (double)tot.lines);
		if (m == 0)
			CHECK(fabs(share - want) < 1e-6);
		else
			CHECK(fabs(share - want) < 5 * sd + 0.002);
		if (m == 2) {
			CHECK(fabs((double)sel.lines - cnt) < 5 * sqrt(cnt));
			CHECK(cnt > 1990 && cnt < 2100);
		}
		fprintf(stderr, "    cap %s: white share %.5f (expected %.5f), kept lines %llu (expected %.0f in downsample)\n",
			modes[m], share, want, (unsigned long long)sel.lines, cnt);
		bl_rebalance_free(rb);
		bl_policy_free(p);
	}
}

BL_TEST(rebalance_safety_and_drop)
{
	const char *ix = ix100k();
	char err[256], out[512];
	REQUIRE(ix);
	bl_policy *p = policy("drop sexual.explicit\n");
	REQUIRE(p);
	snprintf(out, sizeof out, "%s/drop", bl_test_tmpdir());
	bl_rebalance *rb = run(ix, p, out, 0);
	REQUIRE(rb);
	bl_manifest *m = bl_manifest_open(out, err, sizeof err);
	const bl_manifest_entry *e;
	uint64_t bad = 0, n = 0;
	REQUIRE(m);
	while (bl_manifest_next(m, &e) == BL_OK) {
		n++;
		if (has(e->labels, "sexual.explicit") ||
		    (has(e->labels, "age.minor") && has(e->labels, "sexual.")) ||
		    has(e->labels, "safety.") || e->weight != 1)
			bad++;
	}
	bl_manifest_free(m);
	CHECK_EQ_INT(bad, 0);
	const bl_rb_totals *t = bl_rebalance_totals(rb);
	CHECK_EQ_INT(n, t->written);
	CHECK_EQ_INT(t->samples, 100000);
	CHECK(t->dropped_rule > 1000);
	CHECK(t->blocked > 0);
	CHECK_EQ_INT(t->written + t->blocked + t->dropped_rule, t->samples);
	bl_rebalance_free(rb);
	bl_policy_free(p);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	bl_buf b;
	char chunk[65536];
	size_t n;
	if (!f)
		return NULL;
	bl_buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		bl_buf_add(&b, chunk, n);
	fclose(f);
	return bl_buf_detach(&b, len);
}

/* 1 when every file of the two manifests is byte-identical. */
static int same_manifest(const char *a, const char *b, int nshards)
{
	char pa[600], pb[600];
	int same = 1;
	for (int i = -1; i < nshards && same; i++) {
		size_t la = 0, lb = 0;
		if (i < 0) {
			snprintf(pa, sizeof pa, "%s/manifest.json", a);
			snprintf(pb, sizeof pb, "%s/manifest.json", b);
		} else {
			snprintf(pa, sizeof pa, "%s/shards/%05d.jsonl", a, i);
			snprintf(pb, sizeof pb, "%s/shards/%05d.jsonl", b, i);
		}
		char *x = slurp(pa, &la), *y = slurp(pb, &lb);
		same = x && y && la == lb && memcmp(x, y, la) == 0;
		free(x);
		free(y);
	}
	return same;
}

BL_TEST(rebalance_reproducible)
{
	const char *ix = ix100k();
	char d[4][512];
	REQUIRE(ix);
	for (int mode = 0; mode < 3; mode++) {
		static const char *const pol[] = {
			"independent sexual group within gender\nrealise weights\n",
			"independent sexual group within gender\nrealise upsample\n",
			"cap 2000 per group\nrealise downsample\n",
		};
		bl_policy *p = policy(pol[mode]);
		REQUIRE(p);
		for (int k = 0; k < 3; k++) {
			snprintf(d[k], sizeof d[k], "%s/repro-%d-%d", bl_test_tmpdir(), mode, k);
			bl_rebalance *rb = run(ix, p, d[k], k < 2 ? 11 : 12);
			REQUIRE(rb);
			bl_rebalance_free(rb);
		}
		CHECK(same_manifest(d[0], d[1], 10));
		/* the policy's shards: weights never depend on the seed; the
		 * sampled modes do (manifest.json records the seed, so compare
		 * the jsonl only) */
		char a[600], b[600];
		size_t la, lb;
		snprintf(a, sizeof a, "%s/shards/00003.jsonl", d[0]);
		snprintf(b, sizeof b, "%s/shards/00003.jsonl", d[2]);
		char *x = slurp(a, &la), *y = slurp(b, &lb);
		REQUIRE(x && y);
		int same = la == lb && memcmp(x, y, la) == 0;
		if (mode == 0)
			CHECK(same);
		else
			CHECK(!same);
		free(x);
		free(y);
		bl_policy_free(p);
	}
}

BL_TEST(rebalance_impossible_targets)
{
	const char *ix = ix100k();
	char err[256];
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{"target group group.indigenous=0.1\n", "t.policy:1: impossible target: label 'group.indigenous'"},
		{"cap 10 per stereotype\n", "t.policy:1: family 'stereotype' matches no label of the index"},
		{"independent sexual skin\n", "family 'skin' matches no label"},
		{"target gender gender.female=0.9\ntarget gender gender.female=0.1\n", "the targets cannot be met together"},
		{"drop !group.black\ntarget group group.black=0.5 rest=0.5\n", "rest=0.5 of the set must carry none of the listed labels"},
		{"drop group.black\ntarget group group.black=0.3\n", "label 'group.black' has no samples left"},
		{"drop sexual | !sexual\n", "leaves no sample with a positive weight"},
		{"drop sexual.explicit | sexual.explicti\n", "t.policy:1: drop: 'sexual.explicti' is not a label of the index"},
		{"independent sexual group\naccept shift sexaul 0.1\n", "t.policy:2: accept shift: 'sexaul' is not a label of the index"},
	};
	REQUIRE(ix);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bl_policy *p = policy(cases[i].text);
		bl_index *x = bl_index_open(ix, BL_INDEX_READ, err, sizeof err);
		bl_rebalance *rb = bl_rebalance_new(p);
		REQUIRE(p && x && rb);
		CHECK_EQ_INT(bl_rebalance_plan(rb, x), BL_FAILED);
		CHECK_CONTAINS(bl_rebalance_errmsg(rb), cases[i].msg);
		bl_rebalance_free(rb);
		bl_index_close(x);
		bl_policy_free(p);
	}
}

/* The example manifest kept in the repository follows the entry rules. */
BL_TEST(manifest_example)
{
	char err[256];
	bl_manifest *m = bl_manifest_open("manifests/examples/tiny", err, sizeof err);
	const bl_manifest_entry *e;
	int rc, n = 0;
	if (!m) {
		fprintf(stderr, "    %s\n", err);
		CHECK(m != NULL);
		return;
	}
	while ((rc = bl_manifest_next(m, &e)) == BL_OK) {
		n++;
		CHECK(e->key[0] != '\0');
		CHECK(e->weight > 0);
		CHECK(e->labels[0] == ',');
	}
	CHECK_EQ_INT(rc, BL_END);
	CHECK(n > 0);
	CHECK_EQ_STR(bl_manifest_get(m, "format"), "ballast-manifest");
	CHECK(bl_manifest_get(m, "seed") != NULL);
	bl_manifest_free(m);
}

/* The summary struct round-trips: what the rebalancer fills, the JSON it
 * renders, what manifest.json holds and what bl_manifest_summary and
 * bl_rb_summary_parse read back are the same, for every kind of line. */
BL_TEST(rebalance_summary_round_trip)
{
	const char *ix = ix100k();
	char out[512], err[256];
	REQUIRE(ix);
	bl_policy *p = policy("drop sexual.explicit | attire.swimwear\n"
			      "cap 9000 per group\n"
			      "independent sexual group within gender\n"
			      "target gender gender.female=0.4 gender.male=0.4\n"
			      "realise upsample max 50\n");
	REQUIRE(p);
	snprintf(out, sizeof out, "%s/summary", bl_test_tmpdir());
	bl_rebalance *rb = run(ix, p, out, 3);
	REQUIRE(rb);
	const bl_rb_summary *s = bl_rebalance_summary(rb);
	REQUIRE(s);
	const bl_rb_totals *t = bl_rebalance_totals(rb);
	CHECK_EQ_INT(s->samples, t->samples);
	CHECK_EQ_INT(s->written, t->written);
	CHECK_EQ_INT(s->nrules, 4);
	CHECK_EQ_INT(s->rules[0].kind, BL_RULE_DROP);
	CHECK_EQ_INT(s->rules[0].samples, t->dropped_rule);
	CHECK_EQ_INT(s->rules[1].kind, BL_RULE_CAP);
	CHECK(s->rules[1].nlabels == 4 && s->rules[1].cap == 9000);
	CHECK_EQ_INT(s->rules[2].kind, BL_RULE_INDEPENDENT);
	CHECK(s->rules[2].nrows > 0 && s->rules[2].family[2] != NULL);
	CHECK_EQ_INT(s->rules[3].kind, BL_RULE_TARGET);
	CHECK_EQ_INT(s->rules[3].nlabels, 3); /* two labels and the rest */
	CHECK(isnan(s->rules[3].labels[2].target)); /* a free rest */
	CHECK(s->max_repeat == 50);
	CHECK(s->nchecks > 0);
	CHECK(s->nshares[0] > 0 && s->nskew[0] > 0 && s->nskew[1] > 0);

	/* text -> struct -> text is the identity */
	const char *js = bl_rebalance_summary_json(rb);
	bl_rb_summary back;
	REQUIRE(bl_rb_summary_parse(&back, js, strlen(js), err, sizeof err) == BL_OK);
	char *again = bl_rb_summary_json(&back);
	CHECK_EQ_STR(again, js);
	free(again);
	bl_rb_summary_release(&back);

	/* manifest.json holds the same summary */
	bl_manifest *m = bl_manifest_open(out, err, sizeof err);
	REQUIRE(m);
	REQUIRE(bl_manifest_summary(m, &back, err, sizeof err) == BL_OK);
	again = bl_rb_summary_json(&back);
	CHECK_EQ_STR(again, js);
	CHECK_EQ_STR(back.rules[3].labels[0].label, "gender.female");
	free(again);
	bl_rb_summary_release(&back);
	bl_manifest_free(m);

	/* damage is named, not read as zero */
	static const char *const bad[] = {
		"[1]", "{\"realise\":\"weights\"}",
		"{\"realise\":\"weights\",\"samples\":-1,\"blocked_minor_sexual\":0,"
		"\"dropped_by_rule\":0,\"excluded\":0,\"written\":0,\"repeated\":0,"
		"\"copies_added\":0}",
		"{\"realise\":\"often\"}", "{\"samples\": ",
	};
	static const char *const why[] = {
		"not a JSON object", "'samples' is missing", "'samples' is not a count",
		"unknown realisation 'often'", "not valid JSON",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_EQ_INT(bl_rb_summary_parse(&back, bad[i], strlen(bad[i]), err, sizeof err),
			     BL_FAILED);
		CHECK_CONTAINS(err, why[i]);
		CHECK(back.nrules == 0 && back.rules == NULL);
	}
	bl_rebalance_free(rb);
	bl_policy_free(p);
}
