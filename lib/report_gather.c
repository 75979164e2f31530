/*
 * report_gather.c - the numbers of a report, before any rendering: the
 * report of an index (bl_report_gather) and the before/after report of a
 * manifest against its index (bl_report_mf_gather), with the queries the
 * renderings ask of them (rows of the --by table, the headline's cell,
 * the after row of a cell, whether a manifest is sound).
 *
 * The index is read through index.c's cursors: the shards and the error
 * totals (small), and one pass over samples in primary-key order
 * (shard_id, ordinal), fed to a bl_stats accumulator (and a second one for
 * --given), with per-shard label counts on the side.  Memory is bounded by
 * shards x labels, never by samples.  The renderings (report.c and
 * report_manifest.c for text, CSV and JSON, report_html.c for HTML) are
 * pure functions of what is gathered here; this file calls none of them.
 */
#include "rebalance_int.h"
#include "stats_int.h"
#include "error_int.h"
#include "report_int.h"
#include "index_int.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the report of an index ---------------------------------------------- */

int bl_report_by_row(const struct bl_report *r, int node)
{
	const char *fam, *name;
	int k;

	if (r->by_node < 0 || node < 0)
		return 0;
	fam = bl_stats_node_name(r->all, r->by_node);
	name = bl_stats_node_name(r->all, node);
	if (node == r->by_node)
		return !bl_stats_node_is_family(r->all, node);
	/* only direct children, so that a deep tree stays readable */
	if (!bl_label_in_family(name, fam))
		return 0;
	k = (int)strlen(fam);
	return strchr(name + k + 1, '.') == NULL;
}

/*
 * The cell to lead with: among cells that are not small, within a gender
 * when there is one (a group's rate over all samples mixes in its gender
 * balance), the largest rate ratio whose interval lies above 1.
 */
const bl_stats_skew *bl_report_top_cell(const bl_stats_skew *v, size_t n, size_t *at)
{
	const bl_stats_skew *top = NULL;

	for (int pass = 0; pass < 2 && !top; pass++)
		for (size_t i = 0; i < n; i++) {
			const bl_stats_skew *s = &v[i];
			if (s->small || (!pass && !s->gender) || !(s->rr_lo > 1))
				continue;
			if (!top || s->rate_ratio > top->rate_ratio) {
				top = s;
				if (at)
					*at = i;
			}
		}
	return top;
}

void bl_report_release(struct bl_report *r)
{
	for (size_t i = 0; i < r->nshards; i++) {
		free(r->shards[i].path);
		free(r->shards[i].labels);
	}
	free(r->shards);
	for (size_t i = 0; i < r->nerrors; i++)
		free(r->errors[i].kind);
	free(r->errors);
	bl_stats_free(r->all);
	bl_stats_free(r->given);
	bl_strlist_release(&r->given_labels);
	free(r->fix);
	free(r->nfix);
	bl_strlist_release(&r->notes);
	bl_strlist_release(&r->warnings);
}

/* A failure of the index, in err. */
static int index_fail(bl_index *ix, int rc, char *err, size_t errlen)
{
	bl_error_set(err, errlen, "%s", rc == BL_ENOMEM ? "out of memory" : bl_index_errmsg(ix));
	return rc;
}

static struct bl_report_shard *find_shard(struct bl_report *r, int64_t id, size_t *hint)
{
	size_t lo = 0, hi = r->nshards;

	if (*hint < r->nshards && r->shards[*hint].id == id)
		return &r->shards[*hint];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->shards[mid].id == id) {
			*hint = mid;
			return &r->shards[mid];
		}
		if (r->shards[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int read_shards(struct bl_report *r, bl_index *ix, char *err, size_t errlen)
{
	struct bl_index_shard_row *rows = NULL;
	struct bl_index_error_total *tot = NULL;
	size_t nrows = 0, ntot = 0, hint = 0;
	int rc;

	if ((rc = bl_index_shard_rows(ix, 0, &rows, &nrows)) != BL_OK) {
		rc = index_fail(ix, rc, err, errlen);
		goto out;
	}
	rc = BL_ENOMEM;
	if (!(r->shards = calloc(nrows ? nrows : 1, sizeof *r->shards)))
		goto nomem;
	for (size_t i = 0; i < nrows; i++) {
		struct bl_report_shard *sh = &r->shards[r->nshards];
		sh->id = rows[i].id;
		sh->complete = rows[i].complete != 0;
		sh->path = rows[i].path; /* taken over */
		rows[i].path = NULL;
		sh->labels = calloc((size_t)r->nl + 1, sizeof *sh->labels);
		r->nshards++;
		if (!sh->labels)
			goto nomem;
		r->shards_complete += (uint64_t)sh->complete;
	}
	{
		bl_index_status st;
		if (bl_index_get_status(ix, &st) == BL_OK)
			r->shards_damaged = st.shards_damaged;
	}
	/* errors by kind, and by shard */
	if ((rc = bl_index_error_totals(ix, BL_IX_BY_KIND, &tot, &ntot)) != BL_OK) {
		rc = index_fail(ix, rc, err, errlen);
		goto out;
	}
	rc = BL_ENOMEM;
	if (!(r->errors = calloc(ntot ? ntot : 1, sizeof *r->errors)))
		goto nomem;
	for (size_t i = 0; i < ntot; i++) {
		r->errors[r->nerrors].kind = strdup(tot[i].kind ? tot[i].kind : "unknown");
		r->errors[r->nerrors].count = tot[i].n;
		if (!r->errors[r->nerrors++].kind)
			goto nomem;
	}
	bl_index_error_totals_free(tot, ntot);
	tot = NULL;
	ntot = 0;
	if ((rc = bl_index_error_totals(ix, BL_IX_BY_SHARD, &tot, &ntot)) != BL_OK) {
		rc = index_fail(ix, rc, err, errlen);
		goto out;
	}
	for (size_t i = 0; i < ntot; i++) {
		struct bl_report_shard *sh = find_shard(r, tot[i].shard_id, &hint);
		if (sh)
			sh->errors = tot[i].n;
	}
	rc = BL_OK;
	goto out;
nomem:
	bl_error_set(err, errlen, "out of memory");
	rc = BL_ENOMEM;
out:
	bl_index_shard_rows_free(rows, nrows);
	bl_index_error_totals_free(tot, ntot);
	return rc;
}

static int read_samples(struct bl_report *r, bl_index *ix, char *err, size_t errlen)
{
	bl_index_cursor *cur;
	const struct bl_index_sample *row;
	size_t hint = 0;
	int rc = BL_FAILED, s, blocked = bl_index_label_id(ix, BL_LABEL_MINOR_SEXUAL);

	/* an index written before samples.weight reads as weight 1 */
	cur = bl_index_cursor_new(ix, BL_IXC_SHARD | BL_IXC_BITS | BL_IXC_PROBLEMS |
					  BL_IXC_WEIGHT);
	if (!cur || bl_index_cursor_all(cur) != BL_OK) {
		rc = index_fail(ix, BL_FAILED, err, errlen);
		goto out;
	}
	while ((s = bl_index_cursor_next(cur, &row)) == BL_OK) {
		const unsigned char *bits = row->bits;
		size_t len = row->nbits;
		struct bl_report_shard *sh = find_shard(r, row->shard_id, &hint);
		int isblocked = 0;
		/* the scan checked it; a hand-edited index may not have */
		double w = isfinite(row->weight) && row->weight >= 0 ? row->weight : 1.0;

		if (len > BL_MAX_LABELS / 8)
			len = BL_MAX_LABELS / 8;
		if (w != 1.0)
			r->weighted = 1;
		r->weight_sum += w;
		rc = bl_stats_add_bits(r->all, bits, len, w);
		if (rc == BL_OK && r->given)
			rc = bl_stats_add_bits(r->given, bits, len, w);
		if (rc != BL_OK) {
			bl_error_set(err, errlen, "out of memory");
			goto out;
		}
		rc = BL_FAILED;
		r->samples++;
		if (row->problems != 0)
			r->samples_with_errors++;
		if (blocked >= 0 && (size_t)blocked / 8 < len &&
		    (bits[blocked / 8] >> (blocked % 8) & 1)) {
			isblocked = 1;
			r->blocked++;
		}
		if (!sh) {
			r->orphans++;
			continue;
		}
		sh->samples++;
		sh->blocked += (uint64_t)isblocked;
		for (size_t i = 0; i < len; i++) {
			if (!bits[i])
				continue;
			for (int b = 0; b < 8; b++)
				if (bits[i] >> b & 1 && (int)(i * 8) + b < r->nl)
					sh->labels[i * 8 + (size_t)b]++;
		}
	}
	if (s != BL_END) {
		rc = index_fail(ix, BL_FAILED, err, errlen);
		goto out;
	}
	rc = BL_OK;
out:
	bl_index_cursor_free(cur);
	return rc;
}

/* A stream id for a cell's draws: its names, not its place in the table. */
static uint64_t cell_stream(const bl_stats_skew *s)
{
	uint64_t h = bl_hash_bytes(s->group, strlen(s->group));
	if (s->gender)
		h = h * 1099511628211ULL ^ bl_hash_bytes(s->gender, strlen(s->gender));
	return h;
}

/*
 * The corrections an audit allows: every node of the index the audit
 * judged gets its share corrected; when the audit judged the outcome
 * family as a whole, every skew row gets its rate, the rest's rate, the
 * base rate, the rate ratio and the lift corrected (the outcome's Se and
 * Sp are taken to be the same in every cell; cell membership, from the
 * group and gender labels, is the tagger's and is not corrected).
 */
static int apply_audit(struct bl_report *r)
{
	const bl_audit *a = r->opt->audit;
	int nn = bl_stats_nnodes(r->all), rc = BL_OK;
	bl_stats_totals tot;
	uint64_t rows, judged;
	double drawn_from;

	if (bl_audit_warning(a) && bl_strlist_add(&r->warnings, bl_audit_warning(a)) != BL_OK)
		return BL_ENOMEM;
	bl_stats_totals_get(r->all, &tot);
	r->nfix = calloc((size_t)nn + 1, sizeof *r->nfix);
	r->fix = calloc(r->nskew + 1, sizeof *r->fix);
	if (!r->nfix || !r->fix)
		return BL_ENOMEM;
	bl_audit_totals(a, &rows, &judged, &drawn_from);
	for (int n = 0; n < nn && rc == BL_OK; n++) {
		int k = bl_audit_find(a, bl_stats_node_name(r->all, n));
		bl_stats_count c;
		r->nfix[n].status = BL_FIX_NONE;
		r->nfix[n].est = r->nfix[n].lo = r->nfix[n].hi = NAN;
		if (k < 0)
			continue;
		bl_stats_node(r->all, n, &c);
		rc = bl_audit_correct(a, k, c.share * tot.ess, tot.ess,
				      bl_hash_bytes(bl_stats_node_name(r->all, n),
						    strlen(bl_stats_node_name(r->all, n))),
				      &r->nfix[n]);
	}
	for (size_t i = 0; i < bl_audit_nnodes(a) && rc == BL_OK; i++) {
		const bl_audit_est *e = bl_audit_node(a, i);
		if (bl_stats_node_find(r->all, e->node) < 0)
			rc = bl_report_notef(&r->notes, "the audit judged '%s', which no label of "
					     "this index is: not used", e->node);
	}
	r->audit_outcome = bl_audit_find(a, BL_REPORT_OUTCOME);
	if (rc == BL_OK && r->audit_outcome < 0)
		rc = bl_report_notef(&r->notes, "the audit has no judgements of '%s' (any %s.* "
				     "label): the skew table is not corrected; draw a sheet with "
				     "--label %s", BL_REPORT_OUTCOME, BL_REPORT_OUTCOME,
				     BL_REPORT_OUTCOME);
	if (rc == BL_OK && isfinite(drawn_from) && drawn_from != (double)r->samples)
		rc = bl_report_notef(&r->notes, "the audit was drawn from an index of %.0f "
				     "samples; this one has %llu: the correction assumes the "
				     "tagger errs here as it did there", drawn_from,
				     (unsigned long long)r->samples);
	/* rows of the sheet left out (a row twice, a judgement that is
	 * not y or n, another sheet's row): the corrections rest on fewer
	 * judgements than the sheet holds */
	if (rc == BL_OK && bl_audit_nproblems(a))
		rc = bl_report_notef(&r->warnings, "%zu row%s of the audit sheet could not be "
				     "used and %s left out of the corrections (first: %s%s); "
				     "ballast eval lists them", bl_audit_nproblems(a),
				     bl_audit_nproblems(a) == 1 ? "" : "s",
				     bl_audit_nproblems(a) == 1 ? "is" : "are",
				     bl_audit_problem(a, 0),
				     bl_audit_nproblems(a) > 1 ? "; ..." : "");
	for (size_t i = 0; r->audit_outcome >= 0 && i < r->nskew && rc == BL_OK; i++) {
		const bl_stats_skew *s = &r->skew[i];
		struct bl_report_fix *f = &r->fix[i];
		double sc = s->n > 0 ? s->ess / s->n : 0;
		double sr = s->rest_n > 0 ? s->rest_ess / s->rest_n : 0;
		double sb = s->base_n > 0 ? s->base_ess / s->base_n : 0;
		uint64_t h = cell_stream(s);
		rc = bl_audit_correct_pair(a, r->audit_outcome, s->events * sc, s->ess,
					   s->rest_rate * s->rest_n * sr, s->rest_ess, h, &f->rate,
					   &f->rest, &f->rr);
		if (rc == BL_OK)
			rc = bl_audit_correct_pair(a, r->audit_outcome, s->events * sc, s->ess,
						   s->base_rate * s->base_n * sb, s->base_ess,
						   h ^ 0x9e3779b97f4a7c15ULL, NULL, &f->base,
						   &f->lift);
		if (rc == BL_EUSAGE)
			rc = BL_OK;
	}
	return rc;
}

int bl_report_gather(struct bl_report *r, bl_index *ix, const bl_report_options *opt,
		     char *err, size_t errlen)
{
	int rc = BL_FAILED;

	r->opt = opt;
	r->path = ix->path;
	r->by_node = -1;
	r->unread_node = -1;
	r->audit_outcome = -1;
	r->nl = bl_index_nlabels(ix);
	r->all = bl_stats_new_index(ix);
	if (!r->all) {
		bl_error_set(err, errlen, "out of memory");
		rc = BL_ENOMEM;
		goto out;
	}
	if (opt->by && *opt->by) {
		r->by_node = bl_stats_node_find(r->all, opt->by);
		if (r->by_node < 0) {
			bl_error_set(err, errlen, "--by '%s': no label of the index is in that family",
				 opt->by);
			goto out;
		}
	}
	if (opt->given && *opt->given) {
		bl_labelset ls;
		char *copy = strdup(opt->given), *save = NULL;
		bl_labelset_clear(&ls);
		r->given = bl_stats_new_index(ix);
		if (!copy || !r->given) {
			free(copy);
			bl_error_set(err, errlen, "out of memory");
			rc = BL_ENOMEM;
			goto out;
		}
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			int id;
			while (*t == ' ')
				t++;
			if (!*t)
				continue;
			id = bl_index_label_id(ix, t);
			if (id < 0) {
				bl_error_set(err, errlen, "--given '%s': no such label in the index", t);
				free(copy);
				goto out;
			}
			bl_labelset_set(&ls, id);
			if (bl_strlist_add(&r->given_labels, t) != BL_OK) {
				free(copy);
				bl_error_set(err, errlen, "out of memory");
				rc = BL_ENOMEM;
				goto out;
			}
		}
		free(copy);
		bl_stats_set_filter(r->given, &ls);
	}
	rc = read_shards(r, ix, err, errlen);
	/* an incomplete index, an index of mixed rules or of shards not
	 * read whole: its numbers are not what they seem, said at the top of
	 * every format (whether that fails the run is the caller's:
	 * report --allow-partial) */
	if (rc == BL_OK) {
		char why[1024];
		int p = bl_index_partial_reason(ix, why, sizeof why);
		if (p < 0)
			rc = index_fail(ix, p, err, errlen);
		else if (p == 1 && bl_strlist_add(&r->warnings, why) != BL_OK)
			rc = BL_ENOMEM;
		else
			r->partial = p == 1;
	}
	if (rc == BL_OK) {
		int w = bl_index_warnings(ix, &r->warnings);
		if (w < 0)
			rc = index_fail(ix, w, err, errlen);
	}
	if (rc == BL_OK)
		rc = read_samples(r, ix, err, errlen);
	if (rc == BL_OK &&
	    bl_stats_skew_table(r->all, opt->min_rows, opt->min_events, &r->skew, &r->nskew) !=
		    BL_OK) {
		bl_error_set(err, errlen, "out of memory");
		rc = BL_ENOMEM;
	}
	if (rc == BL_OK) {
		int k = bl_stats_node_find(r->all, "caption");
		if (k >= 0 && bl_stats_node_is_family(r->all, k))
			r->unread_node = k;
	}
	if (rc == BL_OK && r->weighted &&
	    bl_strlist_add(&r->notes, "weighted by ballast_weight: shares and rates are sums of "
				      "the weights that 'ballast write' gave the samples (counts "
				      "stay counts of samples)") != BL_OK)
		rc = BL_ENOMEM;
	if (rc == BL_OK && opt->audit)
		rc = apply_audit(r);
	if (rc == BL_ENOMEM)
		bl_error_set(err, errlen, "out of memory");
out:
	return rc;
}

/* ---- before and after: the report of a manifest ------------------------- */

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

void bl_report_mf_release(struct bl_report_mf *mf)
{
	bl_report_release(&mf->before);
	bl_stats_free(mf->after);
	free(mf->policy_path);
	free(mf->policy_text);
	free(mf->policy_sha);
	free(mf->realise);
	free(mf->seed);
	bl_rb_summary_release(&mf->sum);
	bl_strlist_release(&mf->warnings);
	bl_strlist_release(&mf->notes);
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

int bl_report_mf_ok(const struct bl_report_mf *mf)
{
	return mf->agree && mf->sum.ok && mf->warnings.n == 0;
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
			bl_error_set(err, errlen, "manifest '%s': sample '%s' of shard '%s': bad weight",
				 mf->name, e->key, e->shard);
			rc = BL_FAILED;
			goto out;
		}
		mf->lines++;
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
		bl_error_set(err, errlen, "manifest '%s' is damaged: %s", mf->name,
			 bl_manifest_errmsg(m));
		rc = BL_FAILED;
	}
	if (!mf->lines)
		mf->min_w_re = NAN;
out:
	return rc;
}

int bl_report_mf_gather(struct bl_report_mf *mf, bl_index *ix, bl_manifest *m, char *err,
			size_t errlen)
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
	bl_error_set(err, errlen, "out of memory");
	pol = mf_json(m, "policy");
	inputs = mf_json(m, "inputs");
	mlabels = mf_json(m, "labels");
	if (!cJSON_IsObject(pol) || !cJSON_IsArray(inputs)) {
		bl_error_set(err, errlen, "'%s/manifest.json': policy or inputs damaged", mf->name);
		rc = BL_FAILED;
		goto out;
	}
	{
		char why[512];
		rc = bl_manifest_summary(m, &mf->sum, why, sizeof why);
		if (rc != BL_OK) {
			bl_error_set(err, errlen, "'%s/manifest.json': %s", mf->name, why);
			goto out;
		}
		rc = BL_ENOMEM;
		bl_error_set(err, errlen, "out of memory");
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
		    bl_report_notef(&mf->notes, "label '%s' of the manifest is not in the index", v->valuestring) !=
			    BL_OK)
			goto out;
	/* before is the index as it is now, after the labels the lines
	 * carry from when the manifest was made: with other rules between
	 * them, the change is the tagger's as much as the plan's.  An
	 * incomplete index is the caller's to judge (report --allow-partial):
	 * a manifest made from it with rebalance --allow-partial compares
	 * like with like */
	for (size_t i = (size_t)mf->before.partial; i < mf->before.warnings.n; i++)
		if (bl_strlist_add(&mf->warnings, mf->before.warnings.items[i]) != BL_OK)
			goto out;
	s = bl_manifest_get(m, "rules_digest");
	digest = bl_index_meta_get(ix, NULL, "rules_digest");
	if (s && digest && strcmp(s, digest) != 0 &&
	    bl_report_notef(&mf->warnings, "the index was scanned with other rules (%.12s) than "
			    "the manifest was made from (%.12s): 'before' counts the labels of "
			    "the rules the index has now and 'after' those the manifest's lines "
			    "carry, so before -> after is not what the plan did; rebalance the "
			    "index again, or report on the manifest with an index of its rules",
			    digest, s) != BL_OK)
		goto out;

	rc = mf_read_lines(mf, m, ix, labels, nl, paths, shard_lines, err, errlen);
	if (rc != BL_OK)
		goto out;
	rc = BL_ENOMEM;
	bl_error_set(err, errlen, "out of memory");
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
