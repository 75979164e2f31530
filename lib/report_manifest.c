/*
 * report_manifest.c - the before/after report of a manifest: the index as
 * it is (before) against the manifest's weighted samples (after), with the
 * cost the policy paid, in text, CSV and JSON (the HTML is in
 * report_html.c).  The "after" side streams the manifest's JSON lines into
 * a weighted bl_stats accumulator, so memory does not grow with the set;
 * every number of manifest.json's summary that can be recomputed from the
 * lines is, and disagreements are shown, not hidden: first, with the
 * checks of the plan that did not pass (the summary's bl_rb_check list),
 * and the report returns BL_WARN so that the command exits 1.
 */
#include "report_int.h"
#include "index_int.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- before and after: the report of a manifest -------------------------- */

/*
 * The before side is the ordinary gathering of the index; the after side
 * streams the manifest's JSON lines into a second accumulator over the
 * same label ids (names are looked up in a sorted copy of the index's
 * label table), so memory stays flat in the number of lines.  The cost
 * and the distance from the policy's targets come from manifest.json's
 * summary; whatever can be recomputed from the index and the lines is,
 * and each disagreement becomes a failed check in the output.
 */

struct name_id {
	const char *name;
	size_t id;
};

static int name_id_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_id *)a)->name, ((const struct name_id *)b)->name);
}

static const cJSON *jget(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static double jd(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A copy of string member k of o ("" when absent); NULL only without
 * memory. */
static char *jstrdup(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);
	return strdup(cJSON_IsString(v) ? v->valuestring : "");
}

/* A field of manifest.json parsed as JSON (objects and arrays), or NULL. */
static cJSON *mf_json(const bl_manifest *m, const char *field)
{
	const char *t = bl_manifest_get(m, field);
	return t ? cJSON_Parse(t) : NULL;
}

static void mf_release(struct bl_report_mf *mf)
{
	bl_report_release(&mf->before);
	bl_stats_free(mf->after);
	free(mf->policy_path);
	free(mf->policy_text);
	free(mf->policy_sha);
	free(mf->realise);
	free(mf->seed);
	bl_rb_summary_release(&mf->sum);
	bl_strlist_release(&mf->notes);
}

static int mf_note(struct bl_report_mf *mf, const char *fmt, ...)
	__attribute__((format(__printf__, 2, 3)));

static int mf_note(struct bl_report_mf *mf, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return bl_strlist_add(&mf->notes, msg);
}

/* Record a check; rel is the relative tolerance (0: exact). */
static void mf_check(struct bl_report_mf *mf, const char *name, double manifest,
		     double recomputed, double rel)
{
	struct bl_report_check *c;
	double scale = fmax(1.0, fmax(fabs(manifest), fabs(recomputed)));

	if (mf->nchecks >= BL_REPORT_MAX_CHECKS)
		return;
	c = &mf->checks[mf->nchecks++];
	c->name = name;
	c->manifest = manifest;
	c->recomputed = recomputed;
	if (isnan(manifest)) /* a largest gap: recomputed is the gap */
		c->agree = recomputed <= rel;
	else
		c->agree = fabs(manifest - recomputed) <= rel * scale;
	if (!c->agree)
		mf->agree = 0;
}

const bl_stats_skew *bl_report_mf_after(const struct bl_report_mf *mf,
					const bl_stats_skew *b)
{
	const bl_stats_skew *hit = NULL;

	for (size_t i = 0; b && !hit && i < mf->nskew; i++) {
		const bl_stats_skew *a = &mf->skew[i];
		if (strcmp(a->group, b->group) == 0 &&
		    (a->gender == b->gender ||
		     (a->gender && b->gender && strcmp(a->gender, b->gender) == 0)))
			hit = a;
	}
	return hit;
}

/* Largest gap between the summary's after-side (shares and lifts, as
 * bl_rebalance_finish computed them from the realised weights) and the
 * same recomputed from the lines. */
static void mf_check_dists(struct bl_report_mf *mf)
{
	const bl_rb_summary *sum = &mf->sum;
	double gap = 0;

	for (size_t i = 0; i < sum->nshares[1]; i++) {
		const bl_rb_share *v = &sum->shares[1][i];
		int node = bl_stats_node_find(mf->after, v->name);
		bl_stats_count k;
		if (!isfinite(v->share))
			continue;
		if (node < 0) {
			gap = fmax(gap, fabs(v->share));
			continue;
		}
		bl_stats_node(mf->after, node, &k);
		gap = fmax(gap, fabs(k.share - v->share));
	}
	if (sum->nshares[1])
		mf_check(mf, "shares after: largest difference", NAN, gap, 1e-6);
	gap = 0;
	for (size_t i = 0; i < sum->nskew[1]; i++) {
		const bl_rb_skew_row *v = &sum->skew[1][i];
		bl_stats_skew key;
		const bl_stats_skew *a;
		double lift = v->lift;
		memset(&key, 0, sizeof key);
		key.group = v->group;
		key.gender = v->gender;
		a = bl_report_mf_after(mf, &key);
		if (!a)
			gap = INFINITY;
		else if (isfinite(lift) && isfinite(a->lift))
			gap = fmax(gap, fabs(a->lift - lift) / fmax(1.0, lift));
		else if (isfinite(lift) != isfinite(a->lift))
			gap = INFINITY;
	}
	if (sum->nskew[1])
		mf_check(mf, "lifts after: largest relative difference", NAN, gap, 1e-5);
}

/* Stream the JSON lines into mf->after.  shard_lines[i] counts the lines
 * of mf->before.shards[i]. */
static int mf_read_lines(struct bl_report_mf *mf, bl_manifest *m, bl_index *ix,
			 const struct name_id *labels, size_t nl, const struct name_id *paths,
			 uint64_t *shard_lines, char *err, size_t errlen)
{
	const bl_manifest_entry *e;
	size_t last = SIZE_MAX;
	int rc, upsample = strcmp(mf->realise, "upsample") == 0;
	double sw = 0, sw2 = 0;

	mf->min_w_re = INFINITY;
	mf->max_w_re = 0;
	while ((rc = bl_manifest_next(m, &e)) == BL_OK) {
		bl_labelset ls;
		const char *p = e->labels;
		bl_labelset_clear(&ls);
		if (last == SIZE_MAX || strcmp(mf->before.shards[last].path, e->shard) != 0) {
			struct name_id key = {e->shard, 0}, *hit;
			hit = bsearch(&key, paths, mf->before.nshards, sizeof *paths, name_id_cmp);
			if (!hit) {
				snprintf(err, errlen,
					 "manifest '%s': sample '%s' of shard '%s' is not in the "
					 "index '%s' (a manifest of another index?)",
					 mf->name, e->key, e->shard, ix->path);
				rc = BL_FAILED;
				goto out;
			}
			last = hit->id;
		}
		shard_lines[last]++;
		while (*p) { /* ",a,b," */
			const char *end;
			char name[256];
			struct name_id key = {name, 0}, *hit;
			p += *p == ',';
			end = strchr(p, ',');
			if (!end)
				end = p + strlen(p);
			if (end == p)
				continue;
			snprintf(name, sizeof name, "%.*s", (int)(end - p), p);
			hit = bsearch(&key, labels, nl, sizeof *labels, name_id_cmp);
			if (!hit || (size_t)(end - p) >= sizeof name) {
				snprintf(err, errlen,
					 "manifest '%s': sample '%s' of shard '%s' has label '%s', "
					 "which the index '%s' does not know",
					 mf->name, e->key, e->shard, name, ix->path);
				rc = BL_FAILED;
				goto out;
			}
			bl_labelset_set(&ls, (int)hit->id);
			p = end;
		}
		if (!isfinite(e->weight) || bl_stats_add(mf->after, &ls, e->weight) != BL_OK) {
			snprintf(err, errlen, "manifest '%s': sample '%s' of shard '%s': bad weight",
				 mf->name, e->key, e->shard);
			rc = BL_FAILED;
			goto out;
		}
		mf->lines++;
		sw += e->weight;
		sw2 += e->weight * e->weight;
		mf->max_w_re = fmax(mf->max_w_re, e->weight);
		mf->min_w_re = fmin(mf->min_w_re, e->weight);
		if (upsample && e->weight >= 2) {
			mf->repeated_re++;
			mf->copies_re += e->weight - 1;
		}
	}
	if (rc == BL_END) {
		rc = BL_OK;
	} else {
		snprintf(err, errlen, "manifest '%s' is damaged: %s", mf->name,
			 bl_manifest_errmsg(m));
		rc = BL_FAILED;
	}
	if (!mf->lines)
		mf->min_w_re = NAN;
out:
	return rc;
}

static int gather_manifest(struct bl_report_mf *mf, bl_index *ix, bl_manifest *m,
			   char *err, size_t errlen)
{
	cJSON *pol = NULL, *inputs = NULL, *mlabels = NULL;
	struct name_id *labels = NULL, *paths = NULL;
	uint64_t *shard_lines = NULL;
	const cJSON *v;
	char *digest = NULL;
	const char *s;
	size_t nl;
	int rc = BL_ENOMEM;
	bl_stats_totals tb, ta;

	mf->agree = 1;
	mf->bopt = *mf->opt;
	mf->bopt.by = NULL;
	mf->bopt.given = NULL;
	rc = bl_report_gather(&mf->before, ix, &mf->bopt, err, errlen);
	if (rc != BL_OK)
		goto out;
	rc = BL_ENOMEM;
	snprintf(err, errlen, "out of memory");
	pol = mf_json(m, "policy");
	inputs = mf_json(m, "inputs");
	mlabels = mf_json(m, "labels");
	if (!cJSON_IsObject(pol) || !cJSON_IsArray(inputs)) {
		snprintf(err, errlen, "'%s/manifest.json': policy or inputs damaged", mf->name);
		rc = BL_FAILED;
		goto out;
	}
	{
		char why[512];
		rc = bl_manifest_summary(m, &mf->sum, why, sizeof why);
		if (rc != BL_OK) {
			snprintf(err, errlen, "'%s/manifest.json': %s", mf->name, why);
			goto out;
		}
		rc = BL_ENOMEM;
		snprintf(err, errlen, "out of memory");
	}
	mf->policy_path = jstrdup(pol, "path");
	mf->policy_text = jstrdup(pol, "text");
	mf->policy_sha = jstrdup(pol, "sha256");
	s = bl_manifest_get(m, "realise");
	mf->realise = strdup(s ? s : "");
	s = bl_manifest_get(m, "seed");
	mf->seed = strdup(s ? s : "");
	mf->after = bl_stats_new_index(ix);
	if (!mf->policy_path || !mf->policy_text || !mf->policy_sha || !mf->realise ||
	    !mf->seed || !mf->after)
		goto out;

	/* lookup tables: label names and shard paths of the index */
	nl = (size_t)bl_index_nlabels(ix);
	labels = calloc(nl + 1, sizeof *labels);
	paths = calloc(mf->before.nshards + 1, sizeof *paths);
	shard_lines = calloc(mf->before.nshards + 1, sizeof *shard_lines);
	if (!labels || !paths || !shard_lines)
		goto out;
	for (size_t i = 0; i < nl; i++)
		labels[i] = (struct name_id){bl_index_label(ix, (int)i), i};
	qsort(labels, nl, sizeof *labels, name_id_cmp);
	for (size_t i = 0; i < mf->before.nshards; i++)
		paths[i] = (struct name_id){mf->before.shards[i].path, i};
	qsort(paths, mf->before.nshards, sizeof *paths, name_id_cmp);

	/* every input shard must be one of the index */
	cJSON_ArrayForEach(v, inputs) {
		const cJSON *p = jget(v, "path");
		struct name_id key = {cJSON_IsString(p) ? p->valuestring : "", 0};
		if (!bsearch(&key, paths, mf->before.nshards, sizeof *paths, name_id_cmp)) {
			snprintf(err, errlen,
				 "manifest '%s': shard '%s' is not in the index '%s' (a manifest "
				 "of another index? give its INDEX.db)",
				 mf->name, key.name, ix->path);
			rc = BL_FAILED;
			goto out;
		}
	}
	cJSON_ArrayForEach(v, mlabels)
		if (cJSON_IsString(v) && bl_index_label_id(ix, v->valuestring) < 0 &&
		    mf_note(mf, "label '%s' of the manifest is not in the index", v->valuestring) !=
			    BL_OK)
			goto out;
	s = bl_manifest_get(m, "rules_digest");
	digest = bl_index_meta_get(ix, NULL, "rules_digest");
	if (s && digest && strcmp(s, digest) != 0 &&
	    mf_note(mf, "the index was scanned with other rules (%.12s) than the manifest's "
			"(%.12s): before and after may not label alike", digest, s) != BL_OK)
		goto out;

	rc = mf_read_lines(mf, m, ix, labels, nl, paths, shard_lines, err, errlen);
	if (rc != BL_OK)
		goto out;
	rc = BL_ENOMEM;
	snprintf(err, errlen, "out of memory");
	if (bl_stats_skew_table(mf->after, mf->opt->min_rows, mf->opt->min_events, &mf->skew,
				&mf->nskew) != BL_OK)
		goto out;

	/* the cross-checks */
	bl_stats_totals_get(mf->before.all, &tb);
	bl_stats_totals_get(mf->after, &ta);
	{
		double want = 0, got = 0;
		int per_shard_ok = 1;
		cJSON_ArrayForEach(v, inputs) {
			const cJSON *p = jget(v, "path");
			struct name_id key = {p->valuestring, 0}, *hit;
			hit = bsearch(&key, paths, mf->before.nshards, sizeof *paths, name_id_cmp);
			want += jd(v, "written");
			got += (double)shard_lines[hit->id];
			if (jd(v, "written") != (double)shard_lines[hit->id])
				per_shard_ok = 0;
		}
		mf_check(mf, "samples in the index", (double)mf->sum.samples, (double)mf->before.samples, 0);
		mf_check(mf, "written (lines)", (double)mf->sum.written, (double)mf->lines, 0);
		if (!per_shard_ok && got == want)
			got = NAN; /* same total, different shards */
		mf_check(mf, "written per shard (inputs)", want, got, 0);
	}
	mf_check(mf, "not written", (double)mf->sum.excluded, (double)mf->before.samples - (double)mf->lines, 0);
	mf_check(mf, "weight sum", mf->sum.weight_sum, ta.w, 1e-6);
	mf_check(mf, "largest weight", mf->sum.largest_weight, mf->max_w_re, 1e-6);
	mf_check(mf, "smallest weight", mf->sum.smallest_weight, mf->min_w_re, 1e-6);
	mf_check(mf, "ESS before", mf->sum.ess_before, tb.ess, 1e-9);
	mf_check(mf, "ESS after", mf->sum.ess_after, ta.ess, 1e-6);
	if (strcmp(mf->realise, "upsample") == 0) {
		mf_check(mf, "repeated", (double)mf->sum.repeated, (double)mf->repeated_re, 0);
		mf_check(mf, "copies added", (double)mf->sum.copies, mf->copies_re, 0);
	}
	mf_check_dists(mf);
	rc = BL_OK;
out:
	free(digest);
	free(labels);
	free(paths);
	free(shard_lines);
	cJSON_Delete(pol);
	cJSON_Delete(inputs);
	cJSON_Delete(mlabels);
	return rc;
}

/* ---- before and after: text ---------------------------------------------- */

static void arrow(char *b, size_t n, const char *x, const char *y)
{
	snprintf(b, n, "%s -> %s", x, y);
}

static int mtext_shares(const struct bl_report_mf *mf, bl_buf *out, int families)
{
	struct table t = {.ncol = 7};
	const bl_stats *bs = mf->before.all;

	bl_report_tb_row(&t, "", "before", "share", "after (weighted)", "share", "change", "after 95% CI",
	       (char *)NULL);
	for (int n = 0; n < bl_stats_nnodes(bs); n++) {
		bl_stats_count kb, ka;
		char c1[32], s1[32], c2[32], s2[32], d[32], ci[48];
		const char *name = bl_stats_node_name(bs, n);
		int fam = bl_stats_node_is_family(bs, n);
		if (fam != families)
			continue;
		bl_stats_node(bs, n, &kb);
		bl_stats_node(mf->after, bl_stats_node_find(mf->after, name), &ka);
		snprintf(c1, sizeof c1, "%llu", (unsigned long long)kb.rows);
		bl_report_pct(s1, sizeof s1, kb.share);
		snprintf(c2, sizeof c2, "%.1f", ka.w);
		bl_report_pct(s2, sizeof s2, ka.share);
		snprintf(d, sizeof d, "%+.2f pp", 100 * (ka.share - kb.share));
		bl_report_ci_pct(ci, sizeof ci, ka.lo, ka.hi);
		bl_report_tb_row(&t, name, c1, s1, c2, s2, d, ci, (char *)NULL);
	}
	return bl_report_tb_print(&t, out, "  ");
}

static int mtext_skew(const struct bl_report_mf *mf, bl_buf *out)
{
	struct table t = {.ncol = 11, .left = 1u << 1 | 1u << 10};
	const struct bl_report *r = &mf->before;

	bl_report_tb_row(&t, "group", "gender", "n", "rate", "", "lift before", "95% CI", "lift after",
	       "95% CI", "OR", "", (char *)NULL);
	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *b = &r->skew[i], *a = bl_report_mf_after(mf, b);
		char n[48], x[32], y[32], rate[80], lb[32], lbc[48], la[32], lac[48], orr[80];
		snprintf(n, sizeof n, "%llu -> %.0f", (unsigned long long)b->rows, a ? a->n : 0.0);
		bl_report_pct(x, sizeof x, b->rate);
		bl_report_pct(y, sizeof y, a ? a->rate : NAN);
		arrow(rate, sizeof rate, x, y);
		bl_report_fix(lb, sizeof lb, b->lift);
		bl_report_ci_fix(lbc, sizeof lbc, b->lift_lo, b->lift_hi);
		bl_report_fix(la, sizeof la, a ? a->lift : NAN);
		bl_report_ci_fix(lac, sizeof lac, a ? a->lift_lo : NAN, a ? a->lift_hi : NAN);
		bl_report_fix(x, sizeof x, b->odds_ratio);
		bl_report_fix(y, sizeof y, a ? a->odds_ratio : NAN);
		/* a side with no event: its lift is 0 by construction and its odds
		 * ratio only the zero-cell correction; neither is a finding */
		if (!(b->events > 0)) {
			snprintf(lb, sizeof lb, "0 events");
			lbc[0] = '\0';
			snprintf(x, sizeof x, "0 events");
		}
		if (a && !(a->events > 0)) {
			snprintf(la, sizeof la, "0 events");
			lac[0] = '\0';
			snprintf(y, sizeof y, "0 events");
		}
		arrow(orr, sizeof orr, x, y);
		bl_report_tb_row(&t, b->group, b->gender ? b->gender : "-", n, rate, "", lb, lbc, la, lac,
		       orr, b->small || (a && a->small) ? "small" : "", (char *)NULL);
	}
	return bl_report_tb_print(&t, out, "  ");
}

static int mtext_rules(const struct bl_report_mf *mf, bl_buf *out)
{
	int rc = BL_OK;

	for (size_t i = 0; i < mf->sum.nrules && rc == BL_OK; i++) {
		const bl_rb_rule_result *x = &mf->sum.rules[i];
		char a[32], b[32];
		rc = bl_buf_addf(out, "  line %d: %s\n", x->line, x->text);
		if (rc == BL_OK && isfinite(x->max_rate_gap_before)) {
			bl_report_fix(a, sizeof a, 100 * x->max_rate_gap_before);
			bl_report_fix(b, sizeof b, 100 * x->max_rate_gap_after);
			rc = bl_buf_addf(out, "    largest rate gap between rows: %s -> %s pp\n", a,
					 b);
		}
		if (rc == BL_OK && x->kind == BL_RULE_DROP)
			rc = bl_buf_addf(out, "    samples dropped: %llu\n",
					 (unsigned long long)x->samples);
		if (rc == BL_OK && (isfinite(x->tv_distance) || isfinite(x->max_abs_error)))
			rc = bl_buf_addf(out, "    TV distance %.4g, largest |achieved - declared| "
					      "%.4g\n", isfinite(x->tv_distance) ? x->tv_distance : 0.0,
					 isfinite(x->max_abs_error) ? x->max_abs_error : 0.0);
		if (rc == BL_OK && x->nlabels) {
			struct table t = {.ncol = 5};
			bl_report_tb_row(&t, "label", "declared", "before", "after", "error", (char *)NULL);
			for (size_t k = 0; k < x->nlabels; k++) {
				char d[32], bb[32], aa[32], e[32];
				bl_report_pct(d, sizeof d, x->labels[k].target);
				bl_report_pct(bb, sizeof bb, x->labels[k].before);
				bl_report_pct(aa, sizeof aa, x->labels[k].after);
				double er = x->labels[k].error;
				/* no "-0.000" for a rounding residue */
				snprintf(e, sizeof e, "%+.3f pp", fabs(er) < 5e-6 ? 0.0 : 100 * er);
				bl_report_tb_row(&t, x->labels[k].label, d, bb, aa, isfinite(x->labels[k].error) ? e : "-",
				       (char *)NULL);
			}
			rc = bl_report_tb_print(&t, out, "    ");
		}
	}
	return rc;
}

/* ---- problems: the plan's checks and the cross-checks, at the top ------- */

int bl_report_mf_ok(const struct bl_report_mf *mf)
{
	return mf->agree && mf->sum.ok;
}

/* Plan problems (failed first, then accepted, then warnings), then the
 * disagreements, as text lines. */
static int mtext_problems(const struct bl_report_mf *mf, bl_buf *out)
{
	static const int order[] = {BL_CHECK_FAILED, BL_CHECK_ACCEPTED, BL_CHECK_WARNING};
	size_t failed = bl_rb_summary_count(&mf->sum, BL_CHECK_FAILED);
	int rc = BL_OK;

	if (failed)
		rc = bl_buf_addf(out, "PLAN FAILED %zu check%s when it was made: the manifest does "
				      "not do what its policy asked without side effects\n", failed,
				 failed == 1 ? "" : "s");
	else if (bl_rb_summary_count(&mf->sum, BL_CHECK_WARNING))
		rc = bl_buf_adds(out, "plan checks: passed, with what the policy accepts and "
				      "warnings below\n");
	for (size_t o = 0; o < sizeof order / sizeof order[0]; o++)
		for (size_t i = 0; i < mf->sum.nchecks && rc == BL_OK; i++) {
			const bl_rb_check *c = &mf->sum.checks[i];
			if (c->status != order[o])
				continue;
			rc = bl_buf_addf(out, "  %-8s %-6s %s\n", c->status == BL_CHECK_FAILED ?
					 "FAILED" : bl_check_status_name(c->status),
					 bl_check_name(c->check), c->message);
		}
	if (rc == BL_OK && !mf->agree)
		rc = bl_buf_adds(out, "DISAGREEMENT: manifest.json's summary does not match the "
				      "manifest's lines or the index (checks at the end):\n");
	for (size_t i = 0; i < mf->nchecks && rc == BL_OK; i++) {
		const struct bl_report_check *k = &mf->checks[i];
		if (k->agree)
			continue;
		if (isnan(k->manifest))
			rc = bl_buf_addf(out, "  DIFF     %s: %.10g\n", k->name, k->recomputed);
		else
			rc = bl_buf_addf(out, "  DIFF     %s: manifest %.10g, recomputed %.10g\n",
					 k->name, k->manifest, k->recomputed);
	}
	if (rc == BL_OK && (!bl_report_mf_ok(mf) || bl_rb_summary_count(&mf->sum, BL_CHECK_WARNING)))
		rc = bl_buf_addch(out, '\n');
	return rc;
}

int bl_report_mf_problems_html(const struct bl_report_mf *mf, bl_buf *o)
{
	size_t failed = bl_rb_summary_count(&mf->sum, BL_CHECK_FAILED);
	size_t shown = bl_rb_summary_count(&mf->sum, BL_CHECK_WARNING);
	int rc = BL_OK;

	if (!shown && mf->agree)
		return BL_OK;
	rc = bl_buf_addf(o, "<div class=\"finding\"><b>%s</b><ul>",
			 failed ? "The plan failed its checks: this manifest does not do what "
				  "its policy asked without side effects." :
			 shown ? "Plan checks: passed, with what the policy accepts and warnings." :
				 "The manifest's summary disagrees with its own lines or with the "
				 "index.");
	for (size_t i = 0; i < mf->sum.nchecks && rc == BL_OK; i++) {
		const bl_rb_check *c = &mf->sum.checks[i];
		if (c->status == BL_CHECK_OK)
			continue;
		rc = bl_buf_addf(o, "<li><b>%s</b> %s: ", c->status == BL_CHECK_FAILED ? "FAILED" :
				 bl_check_status_name(c->status), bl_check_name(c->check));
		if (rc == BL_OK)
			rc = bl_report_html_escape(o, c->message);
		if (rc == BL_OK)
			rc = bl_buf_adds(o, "</li>");
	}
	for (size_t i = 0; i < mf->nchecks && rc == BL_OK; i++) {
		const struct bl_report_check *k = &mf->checks[i];
		if (!k->agree)
			rc = bl_buf_addf(o, "<li><b>DISAGREEMENT</b> %s: manifest %.6g, recomputed "
					    "%.6g</li>", k->name, k->manifest, k->recomputed);
	}
	if (rc == BL_OK)
		rc = bl_buf_adds(o, "</ul></div>\n");
	return rc;
}

static int render_mtext(const struct bl_report_mf *mf, bl_buf *out)
{
	struct table t = {.ncol = 2, .left = 1u << 1};
	char a[64], b[64], c[128];
	int rc;
	bl_stats_totals tb, ta;

	bl_stats_totals_get(mf->before.all, &tb);
	bl_stats_totals_get(mf->after, &ta);
	rc = bl_buf_addf(out, "ballast report of manifest %s (index %s)\n\n", mf->name,
			 mf->before.path);
	if (rc == BL_OK)
		rc = mtext_problems(mf, out);
	bl_report_tb_row(&t, "policy", mf->policy_path, (char *)NULL);
	snprintf(c, sizeof c, "%.12s", mf->policy_sha);
	bl_report_tb_row(&t, "policy sha256", c, (char *)NULL);
	bl_report_tb_row(&t, "seed", mf->seed, (char *)NULL);
	bl_report_tb_row(&t, "realisation", mf->realise, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)mf->before.samples);
	bl_report_tb_row(&t, "samples in index", a, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)mf->lines);
	bl_report_tb_row(&t, "written", a, (char *)NULL);
	snprintf(a, sizeof a, "%.0f (drop rules %.0f, safety %.0f)", (double)mf->sum.excluded,
		 (double)mf->sum.dropped_rule, (double)mf->sum.blocked);
	bl_report_tb_row(&t, "dropped (not written)", a, (char *)NULL);
	snprintf(a, sizeof a, "%.0f (extra copies %.0f)", (double)mf->sum.repeated, (double)mf->sum.copies);
	bl_report_tb_row(&t, "repeated", a, (char *)NULL);
	snprintf(a, sizeof a, "%.4g (smallest %.4g)", mf->sum.largest_weight, mf->sum.smallest_weight);
	bl_report_tb_row(&t, "largest weight", a, (char *)NULL);
	snprintf(a, sizeof a, "%.1f -> %.1f (%.1f%% kept)", mf->sum.ess_before, mf->sum.ess_after,
		 100 * mf->sum.ess_after / mf->sum.ess_before);
	bl_report_tb_row(&t, "effective sample size", a, (char *)NULL);
	snprintf(b, sizeof b, "TV %.4g, max abs share error %.4g", mf->sum.tv_distance, mf->sum.max_abs_share_error);
	bl_report_tb_row(&t, "distance from target", b, (char *)NULL);
	if (isfinite(mf->sum.clip_weight)) {
		snprintf(c, sizeof c, "%g times the mean (lowered %llu samples)",
			 mf->sum.clip_weight, (unsigned long long)mf->sum.clipped_samples);
		bl_report_tb_row(&t, "clip weight", c, (char *)NULL);
	}
	if (isfinite(mf->sum.ess_floor)) {
		snprintf(c, sizeof c, "%g (%.1f%% uniform weight mixed in)", mf->sum.ess_floor,
			 100 * mf->sum.ess_floor_mix);
		bl_report_tb_row(&t, "floor ess", c, (char *)NULL);
	}
	if (rc == BL_OK)
		rc = bl_report_tb_print(&t, out, "  ");
	if (rc == BL_OK && mf->sum.nrules)
		rc = bl_buf_adds(out, "\npolicy lines: what each declared and what was achieved\n");
	if (rc == BL_OK)
		rc = mtext_rules(mf, out);
	if (rc == BL_OK)
		rc = bl_buf_adds(out, "\nlabels: share before -> after (after = share of the "
				      "manifest's weight)\n");
	if (rc == BL_OK)
		rc = mtext_shares(mf, out, 0);
	if (rc == BL_OK)
		rc = bl_buf_adds(out, "\nfamilies\n");
	if (rc == BL_OK)
		rc = mtext_shares(mf, out, 1);
	if (rc == BL_OK)
		rc = bl_buf_adds(out,
				 "\nskew: rate of sexual.* by group x gender, before -> after, "
				 "sorted by lift before\n"
				 "  lift = rate / rate among all samples of the gender; 95% "
				 "intervals (after: at Kish's effective n)\n");
	if (rc == BL_OK)
		rc = mtext_skew(mf, out);
	if (rc == BL_OK)
		rc = bl_buf_addf(out, "\nchecks: manifest.json's summary against the index and "
				      "the JSON lines: %s\n",
				 mf->agree ? "all agree" : "DISAGREEMENT");
	for (size_t i = 0; i < mf->nchecks && rc == BL_OK; i++) {
		const struct bl_report_check *k = &mf->checks[i];
		char x[32], y[32];
		snprintf(x, sizeof x, "%.10g", k->manifest);
		snprintf(y, sizeof y, "%.10g", k->recomputed);
		if (isnan(k->manifest))
			rc = bl_buf_addf(out, "  %-4s %-42s %s\n", k->agree ? "ok" : "DIFF",
					 k->name, y);
		else
			rc = bl_buf_addf(out, "  %-4s %-42s manifest %s, recomputed %s\n",
					 k->agree ? "ok" : "DIFF", k->name, x, y);
	}
	for (size_t i = 0; i < mf->notes.n && rc == BL_OK; i++)
		rc = bl_buf_addf(out, "note: %s\n", mf->notes.items[i]);
	return rc;
}

/* ---- before and after: CSV ----------------------------------------------- */

static int mcsv_row(bl_buf *out, const char *table, const char *name, const char *gender,
		    const double v[6])
{
	int rc = bl_buf_adds(out, table);
	char b[64];

	if (rc == BL_OK)
		rc = bl_buf_addch(out, ',');
	if (rc == BL_OK)
		rc = bl_report_csv_field(out, name);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, ',');
	if (rc == BL_OK)
		rc = bl_report_csv_field(out, gender);
	for (int k = 0; k < 6 && rc == BL_OK; k++) {
		bl_report_num(b, sizeof b, v[k]);
		rc = bl_buf_addf(out, ",%s", b);
	}
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '\n');
	return rc;
}

static int render_mcsv(const struct bl_report_mf *mf, bl_buf *out)
{
	const bl_stats *bs = mf->before.all;
	int rc = bl_buf_adds(out, "table,name,gender,before,before_lo,before_hi,after,after_lo,"
				  "after_hi\n");
	struct {
		const char *name;
		double b, a;
	} cost[] = {
		{"samples", (double)mf->before.samples, (double)mf->lines},
		{"ess", mf->sum.ess_before, mf->sum.ess_after},
		{"dropped", NAN, (double)mf->sum.excluded},
		{"repeated", NAN, (double)mf->sum.repeated},
		{"max_weight", 1, mf->sum.largest_weight},
		{"tv_distance", NAN, mf->sum.tv_distance},
		{"max_share_error", NAN, mf->sum.max_abs_share_error},
	};

	/* the plan's problems first: name is the check, gender its status,
	 * before the value, after the limit */
	for (size_t i = 0; i < mf->sum.nchecks && rc == BL_OK; i++) {
		const bl_rb_check *k = &mf->sum.checks[i];
		double v[6] = {k->value, NAN, NAN, k->limit, NAN, NAN};
		if (k->status != BL_CHECK_OK)
			rc = mcsv_row(out, "plan_check", bl_check_name(k->check),
				      bl_check_status_name(k->status), v);
	}
	for (size_t i = 0; i < sizeof cost / sizeof cost[0] && rc == BL_OK; i++) {
		double v[6] = {cost[i].b, NAN, NAN, cost[i].a, NAN, NAN};
		rc = mcsv_row(out, "cost", cost[i].name, NULL, v);
	}
	for (int n = 0; n < bl_stats_nnodes(bs) && rc == BL_OK; n++) {
		bl_stats_count kb, ka;
		const char *name = bl_stats_node_name(bs, n);
		bl_stats_node(bs, n, &kb);
		bl_stats_node(mf->after, bl_stats_node_find(mf->after, name), &ka);
		double v[6] = {kb.share, kb.lo, kb.hi, ka.share, ka.lo, ka.hi};
		rc = mcsv_row(out, bl_stats_node_is_family(bs, n) ? "family" : "label", name,
			      NULL, v);
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < mf->before.nskew && rc == BL_OK; i++) {
			const bl_stats_skew *b = &mf->before.skew[i], *a = bl_report_mf_after(mf, b);
			double v[6] = {pass ? b->rate : b->lift, pass ? b->rate_lo : b->lift_lo,
				       pass ? b->rate_hi : b->lift_hi, NAN, NAN, NAN};
			if (a) {
				v[3] = pass ? a->rate : a->lift;
				v[4] = pass ? a->rate_lo : a->lift_lo;
				v[5] = pass ? a->rate_hi : a->lift_hi;
			}
			rc = mcsv_row(out, pass ? "skew_rate" : "skew_lift", b->group, b->gender, v);
		}
	for (size_t i = 0; i < mf->nchecks && rc == BL_OK; i++) {
		double v[6] = {mf->checks[i].manifest, NAN, NAN, mf->checks[i].recomputed, NAN,
			       (double)mf->checks[i].agree};
		rc = mcsv_row(out, "check", mf->checks[i].name, NULL, v);
	}
	return rc;
}

/* ---- before and after: JSON ---------------------------------------------- */

/* labels, families, shares and skew of one side; counts are sums of
 * weights (= samples before) */
static cJSON *json_side(const bl_stats *st, const bl_stats_skew *skew, size_t nskew)
{
	cJSON *side = cJSON_CreateObject(), *o, *a;
	bl_stats_count k;
	bl_stats_totals tot;

	if (!side)
		return NULL;
	bl_stats_totals_get(st, &tot);
	bl_report_jnum(side, "samples", (double)tot.rows);
	bl_report_jnum(side, "weight", tot.w);
	bl_report_jnum(side, "ess", tot.ess);
	o = cJSON_AddObjectToObject(side, "labels");
	for (int id = 0; o && id < bl_stats_nlabels(st); id++) {
		bl_stats_label(st, id, &k);
		bl_report_jnum(o, bl_stats_label_name(st, id), k.w);
	}
	o = cJSON_AddObjectToObject(side, "families");
	for (int n = 0; o && n < bl_stats_nnodes(st); n++) {
		if (!bl_stats_node_is_family(st, n))
			continue;
		bl_stats_node(st, n, &k);
		bl_report_jnum(o, bl_stats_node_name(st, n), k.w);
	}
	o = cJSON_AddObjectToObject(side, "shares");
	for (int n = 0; o && n < bl_stats_nnodes(st); n++) {
		cJSON *c;
		bl_stats_node(st, n, &k);
		c = bl_report_jcount(&k);
		if (c) {
			cJSON_ReplaceItemInObjectCaseSensitive(c, "count",
							       cJSON_CreateNumber(bl_report_round6(k.w)));
			bl_report_jnum(c, "samples", (double)k.rows);
		}
		cJSON_AddItemToObject(o, bl_stats_node_name(st, n), c);
	}
	a = cJSON_AddArrayToObject(side, "skew");
	for (size_t i = 0; a && i < nskew; i++) {
		cJSON *c = bl_report_jskew(&skew[i]);
		if (c)
			bl_report_jnum(c, "samples", (double)skew[i].rows);
		cJSON_AddItemToArray(a, c);
	}
	return side;
}

static int render_mjson(const struct bl_report_mf *mf, bl_buf *out)
{
	cJSON *root = cJSON_CreateObject(), *o, *a;
	char *text = NULL;
	int rc = BL_ENOMEM;

	if (!root)
		goto out;
	cJSON_AddStringToObject(root, "report", "ballast-manifest");
	bl_report_jnum(root, "schema", 1);
	cJSON_AddBoolToObject(root, "ok", bl_report_mf_ok(mf));
	a = cJSON_AddArrayToObject(root, "problems");
	for (size_t i = 0; a && i < mf->sum.nchecks; i++) {
		const bl_rb_check *k = &mf->sum.checks[i];
		cJSON *c;
		if (k->status == BL_CHECK_OK || !(c = cJSON_CreateObject()))
			continue;
		cJSON_AddStringToObject(c, "source", "plan");
		cJSON_AddStringToObject(c, "check", bl_check_name(k->check));
		cJSON_AddStringToObject(c, "status", bl_check_status_name(k->status));
		bl_report_jnum(c, "line", k->line);
		if (k->subject)
			cJSON_AddStringToObject(c, "subject", k->subject);
		bl_report_jnum(c, "value", k->value);
		bl_report_jnum(c, "limit", k->limit);
		cJSON_AddStringToObject(c, "message", k->message);
		cJSON_AddItemToArray(a, c);
	}
	for (size_t i = 0; a && i < mf->nchecks; i++) {
		cJSON *c;
		if (mf->checks[i].agree || !(c = cJSON_CreateObject()))
			continue;
		cJSON_AddStringToObject(c, "source", "summary");
		cJSON_AddStringToObject(c, "check", mf->checks[i].name);
		cJSON_AddStringToObject(c, "status", "disagrees");
		bl_report_jnum(c, "manifest", mf->checks[i].manifest);
		bl_report_jnum(c, "recomputed", mf->checks[i].recomputed);
		cJSON_AddItemToArray(a, c);
	}
	cJSON_AddStringToObject(root, "manifest", mf->name);
	cJSON_AddStringToObject(root, "index", mf->before.path);
	o = cJSON_AddObjectToObject(root, "policy");
	if (o) {
		cJSON_AddStringToObject(o, "path", mf->policy_path);
		cJSON_AddStringToObject(o, "sha256", mf->policy_sha);
		cJSON_AddStringToObject(o, "seed", mf->seed);
		cJSON_AddStringToObject(o, "realise", mf->realise);
		cJSON_AddStringToObject(o, "text", mf->policy_text);
	}
	o = cJSON_AddObjectToObject(root, "cost");
	if (o) {
		bl_report_jnum(o, "samples", (double)mf->before.samples);
		bl_report_jnum(o, "written", (double)mf->lines);
		bl_report_jnum(o, "ess_before", mf->sum.ess_before);
		bl_report_jnum(o, "ess_after", mf->sum.ess_after);
		bl_report_jnum(o, "ess_ratio", mf->sum.ess_after / mf->sum.ess_before);
		bl_report_jnum(o, "dropped", (double)mf->sum.excluded);
		bl_report_jnum(o, "dropped_by_rule", (double)mf->sum.dropped_rule);
		bl_report_jnum(o, "blocked", (double)mf->sum.blocked);
		bl_report_jnum(o, "repeated", (double)mf->sum.repeated);
		bl_report_jnum(o, "copies_added", (double)mf->sum.copies);
		bl_report_jnum(o, "max_weight", mf->sum.largest_weight);
		bl_report_jnum(o, "min_weight", mf->sum.smallest_weight);
		bl_report_jnum(o, "weight_sum", mf->sum.weight_sum);
		bl_report_jnum(o, "tv_distance", mf->sum.tv_distance);
		bl_report_jnum(o, "max_share_error", mf->sum.max_abs_share_error);
	}
	a = cJSON_AddArrayToObject(root, "rules");
	for (size_t i = 0; a && i < mf->sum.nrules; i++) {
		const bl_rb_rule_result *x = &mf->sum.rules[i];
		cJSON *c = cJSON_CreateObject(), *t;
		if (!c)
			break;
		bl_report_jnum(c, "line", x->line);
		cJSON_AddStringToObject(c, "kind", bl_rule_kind_name(x->kind));
		cJSON_AddStringToObject(c, "text", x->text);
		if (x->kind == BL_RULE_DROP)
			bl_report_jnum(c, "samples", (double)x->samples);
		if (isfinite(x->max_rate_gap_before)) {
			bl_report_jnum(c, "max_rate_gap_before", x->max_rate_gap_before);
			bl_report_jnum(c, "max_rate_gap_after", x->max_rate_gap_after);
		}
		if (isfinite(x->tv_distance))
			bl_report_jnum(c, "tv_distance", x->tv_distance);
		if (isfinite(x->max_abs_error))
			bl_report_jnum(c, "max_abs_error", x->max_abs_error);
		t = x->nlabels ? cJSON_AddArrayToObject(c, "labels") : NULL;
		for (size_t k = 0; t && k < x->nlabels; k++) {
			cJSON *l = cJSON_CreateObject();
			if (!l)
				break;
			cJSON_AddStringToObject(l, "label", x->labels[k].label);
			bl_report_jnum(l, "target", x->labels[k].target);
			bl_report_jnum(l, "before", x->labels[k].before);
			bl_report_jnum(l, "after", x->labels[k].after);
			bl_report_jnum(l, "error", x->labels[k].error);
			cJSON_AddItemToArray(t, l);
		}
		cJSON_AddItemToArray(a, c);
	}
	cJSON_AddItemToObject(root, "before",
			      json_side(mf->before.all, mf->before.skew, mf->before.nskew));
	cJSON_AddItemToObject(root, "after", json_side(mf->after, mf->skew, mf->nskew));
	cJSON_AddBoolToObject(root, "agree", mf->agree);
	a = cJSON_AddArrayToObject(root, "checks");
	for (size_t i = 0; a && i < mf->nchecks; i++) {
		cJSON *c = cJSON_CreateObject();
		if (!c)
			break;
		cJSON_AddStringToObject(c, "name", mf->checks[i].name);
		bl_report_jnum(c, "manifest", mf->checks[i].manifest);
		bl_report_jnum(c, "recomputed", mf->checks[i].recomputed);
		cJSON_AddBoolToObject(c, "agree", mf->checks[i].agree);
		cJSON_AddItemToArray(a, c);
	}
	a = cJSON_AddArrayToObject(root, "notes");
	for (size_t i = 0; a && i < mf->notes.n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(mf->notes.items[i]));
	/* the last array is complete only if nothing failed before it */
	if (!a || (size_t)cJSON_GetArraySize(a) != mf->notes.n ||
	    !cJSON_GetObjectItemCaseSensitive(root, "after"))
		goto out;
	text = cJSON_Print(root);
	if (!text)
		goto out;
	rc = bl_buf_adds(out, text);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '\n');
out:
	free(text);
	cJSON_Delete(root);
	return rc;
}


int bl_report_manifest_buf(bl_index *ix, bl_manifest *m, const char *name,
			   const bl_report_options *opt, bl_buf *out, char *err,
			   size_t errlen)
{
	struct bl_report_mf mf;
	bl_report_options defaults;
	size_t len0 = out ? out->len : 0;
	char dummy[64];
	int rc = BL_EUSAGE;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	memset(&mf, 0, sizeof mf);
	bl_strlist_init(&mf.before.given_labels);
	bl_strlist_init(&mf.notes);
	if (!ix || !m || !out) {
		snprintf(err, errlen, "no index, no manifest or no output buffer");
		goto out;
	}
	if (!opt) {
		memset(&defaults, 0, sizeof defaults);
		opt = &defaults;
	}
	if (opt->format < BL_REPORT_TEXT || opt->format > BL_REPORT_HTML) {
		snprintf(err, errlen, "unknown report format %d", opt->format);
		goto out;
	}
	mf.name = name ? name : "manifest";
	mf.opt = opt;
	rc = gather_manifest(&mf, ix, m, err, errlen);
	if (rc != BL_OK)
		goto out;
	switch (opt->format) {
	case BL_REPORT_CSV: rc = render_mcsv(&mf, out); break;
	case BL_REPORT_JSON: rc = render_mjson(&mf, out); break;
	case BL_REPORT_HTML: rc = bl_report_html_manifest(&mf, out); break;
	default: rc = render_mtext(&mf, out); break;
	}
	if (rc != BL_OK) {
		snprintf(err, errlen, "%s", rc == BL_ENOMEM ? "out of memory"
							    : "report larger than the output cap");
	} else if (!bl_report_mf_ok(&mf)) {
		size_t failed = bl_rb_summary_count(&mf.sum, BL_CHECK_FAILED);
		snprintf(err, errlen, "manifest '%s': %s%s%s", mf.name,
			 failed ? "its plan failed checks" : "",
			 failed && !mf.agree ? "; " : "",
			 mf.agree ? "" : "its summary disagrees with its lines or the index");
		rc = BL_WARN;
	}
out:
	if (rc != BL_OK && rc != BL_WARN && out && out->len > len0) {
		out->len = len0;
		out->buf[len0] = '\0';
	}
	mf_release(&mf);
	return rc;
}

int bl_report_manifest_write(bl_index *ix, bl_manifest *m, const char *name,
			     const bl_report_options *opt, FILE *f, char *err,
			     size_t errlen)
{
	bl_buf b;
	int rc;

	if (!f)
		return BL_EUSAGE;
	bl_buf_init(&b, 0);
	rc = bl_report_manifest_buf(ix, m, name, opt, &b, err, errlen);
	if (rc == BL_OK || rc == BL_WARN) {
		char werr[1024];
		int w = bl_report_write_stream(&b, f, werr, sizeof werr);
		if (w != BL_OK) {
			snprintf(err, errlen, "%s", werr);
			rc = w;
		}
	}
	bl_buf_release(&b);
	return rc;
}

int bl_report_manifest_save(bl_index *ix, bl_manifest *m, const char *name,
			    const bl_report_options *opt, const char *path, char *err,
			    size_t errlen)
{
	bl_buf b;
	int rc;
	char dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!path)
		return BL_EUSAGE;
	bl_buf_init(&b, 0);
	rc = bl_report_manifest_buf(ix, m, name, opt, &b, err, errlen);
	if (rc == BL_OK || rc == BL_WARN) {
		char werr[1024];
		int w = bl_file_write_atomic(path, b.buf, b.len, werr, sizeof werr);
		if (w != BL_OK) {
			snprintf(err, errlen, "%s", werr);
			rc = w;
		}
	}
	bl_buf_release(&b);
	return rc;
}

