/*
 * report_manifest.c - the before/after report of a manifest: the index as
 * it is (before) against the manifest's weighted samples (after), with the
 * cost the policy paid, in text, CSV and JSON, and the entry points (the
 * numbers are gathered by report_gather.c, the HTML page is in
 * report_html.c).  Every number of manifest.json's summary that can be
 * recomputed from the lines is, and disagreements are shown, not hidden:
 * first, with the checks of the plan that did not pass (the summary's
 * bl_rb_check list), and the report returns BL_WARN so that the command
 * exits 1.
 */
#include "error_int.h"
#include "report_int.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- before and after: text ---------------------------------------------- */

static void arrow(char *b, size_t n, const char *x, const char *y)
{
	snprintf(b, n, "%s -> %s", x, y);
}

static int mtext_shares(const struct bl_report_mf *mf, bl_buf *out, int families)
{
	struct bl_report_table t = {.ncol = 7};
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
	struct bl_report_table t = {.ncol = 11, .left = 1u << 1 | 1u << 10};
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
			struct bl_report_table t = {.ncol = 5};
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

/* Plan problems (failed first, then accepted, then warnings), then the
 * disagreements, as text lines. */
static int mtext_problems(const struct bl_report_mf *mf, bl_buf *out)
{
	static const int order[] = {BL_CHECK_FAILED, BL_CHECK_ACCEPTED, BL_CHECK_WARNING};
	size_t failed = bl_rb_summary_count(&mf->sum, BL_CHECK_FAILED);
	int rc = bl_report_text_lines(out, "WARNING: ", &mf->warnings);

	if (failed && rc == BL_OK)
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

static int render_mtext(const struct bl_report_mf *mf, bl_buf *out)
{
	struct bl_report_table t = {.ncol = 2, .left = 1u << 1};
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
		rc = bl_report_csv_escape(out, name);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, ',');
	if (rc == BL_OK)
		rc = bl_report_csv_escape(out, gender);
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

	/* warnings first (name: the sentence), then the plan's problems:
	 * name is the check, gender its status, before the value, after the
	 * limit */
	for (size_t i = 0; i < mf->warnings.n && rc == BL_OK; i++) {
		double v[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
		rc = mcsv_row(out, "warning", mf->warnings.items[i], NULL, v);
	}
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
	a = cJSON_AddArrayToObject(root, "warnings");
	for (size_t i = 0; a && i < mf->warnings.n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(mf->warnings.items[i]));
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
	/* paths and names are bytes: valid UTF-8 all the same */
	rc = bl_utf8_json_escape(out, text, strlen(text), BL_JSON_TEXT);
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
	bl_strlist_init(&mf.warnings);
	bl_strlist_init(&mf.notes);
	if (!ix || !m || !out) {
		bl_error_set(err, errlen, "no index, no manifest or no output buffer");
		goto out;
	}
	if (!opt) {
		memset(&defaults, 0, sizeof defaults);
		opt = &defaults;
	}
	if (opt->format < BL_REPORT_TEXT || opt->format > BL_REPORT_HTML) {
		bl_error_set(err, errlen, "unknown report format %d", opt->format);
		goto out;
	}
	mf.name = name ? name : "manifest";
	mf.opt = opt;
	rc = bl_report_mf_gather(&mf, ix, m, err, errlen);
	if (rc != BL_OK)
		goto out;
	switch (opt->format) {
	case BL_REPORT_CSV: rc = render_mcsv(&mf, out); break;
	case BL_REPORT_JSON: rc = render_mjson(&mf, out); break;
	case BL_REPORT_HTML: rc = bl_report_html_manifest(&mf, out); break;
	default: rc = render_mtext(&mf, out); break;
	}
	if (rc != BL_OK) {
		bl_error_set(err, errlen, "%s", rc == BL_ENOMEM ? "out of memory"
							    : "report larger than the output cap");
	} else if (!bl_report_mf_ok(&mf)) {
		size_t failed = bl_rb_summary_count(&mf.sum, BL_CHECK_FAILED);
		bl_error_set(err, errlen, "manifest '%s': %s%s%s%s%s", mf.name,
			 mf.warnings.n ? "WARNING: before and after are not comparable" : "",
			 mf.warnings.n && (failed || !mf.agree) ? "; " : "",
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
	bl_report_mf_release(&mf);
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
			bl_error_set(err, errlen, "%s", werr);
			rc = w;
		}
	}
	bl_buf_release(&b);
	return rc;
}
