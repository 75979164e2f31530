/*
 * report.c - the report of an index: the text, CSV and JSON renderings of
 * the gathered numbers (report_gather.c), and the entry points, which
 * hand HTML to report_html.c.
 *
 * Every rendering is a pure function of the gathered numbers, with fixed
 * orders (labels by id, nodes by name, the skew table by lift then name)
 * and numbers printed with "%.6g", so the same index gives the same
 * bytes.  Output goes to a caller's bl_buf or FILE*, or atomically to a
 * file; nothing is printed on its own.
 */
#include "error_int.h"
#include "report_int.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bl_report_format_parse(const char *name)
{
	static const char *const names[] = {"text", "csv", "json", "html"};
	for (int i = 0; name && i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* ---- text ---------------------------------------------------------------- */

static int text_counts(const struct bl_report *r, const bl_stats *st, int given_node,
		       bl_buf *out, int nodes)
{
	struct bl_report_table t = {.ncol = 4};
	char c[32], s[32], ci[48];

	bl_report_tb_row(&t, "", "count", "share", "95% CI", (char *)NULL);
	if (!nodes) {
		for (int id = 0; id < bl_stats_nlabels(st); id++) {
			bl_stats_count k;
			if (given_node >= 0)
				bl_stats_cond(st, given_node, id, &k);
			else
				bl_stats_label(st, id, &k);
			snprintf(c, sizeof c, "%llu", (unsigned long long)k.rows);
			bl_report_pct(s, sizeof s, k.share);
			bl_report_ci_pct(ci, sizeof ci, k.lo, k.hi);
			bl_report_tb_row(&t, bl_stats_label_name(st, id), c, s, ci, (char *)NULL);
		}
	} else {
		for (int n = 0; n < bl_stats_nnodes(st); n++) {
			bl_stats_count k;
			if (!bl_stats_node_is_family(st, n))
				continue;
			bl_stats_node(st, n, &k);
			snprintf(c, sizeof c, "%llu", (unsigned long long)k.rows);
			bl_report_pct(s, sizeof s, k.share);
			bl_report_ci_pct(ci, sizeof ci, k.lo, k.hi);
			bl_report_tb_row(&t, bl_stats_node_name(st, n), c, s, ci, (char *)NULL);
		}
	}
	(void)r;
	return bl_report_tb_print(&t, out, "  ");
}

/* "N% of captions ..." lines for the caption.* labels (text form). */
static int text_unread(const struct bl_report *r, bl_buf *out)
{
	bl_stats_count k;
	int rc;

	if (r->unread_node < 0)
		return BL_OK;
	bl_stats_node(r->all, r->unread_node, &k);
	rc = bl_buf_addf(out, "unread: %.2f%% of captions (%llu) carry a caption.* label: the "
			      "tagger could not read them, and every rate below counts them as "
			      "captions without the labels they may hold\n",
			 100 * k.share, (unsigned long long)k.rows);
	for (int id = 0; id < r->nl && rc == BL_OK; id++) {
		const char *name = bl_stats_label_name(r->all, id);
		char say[128];
		if (!bl_label_in_family(name, "caption"))
			continue;
		bl_stats_label(r->all, id, &k);
		rc = bl_buf_addf(out, "  %.2f%% of captions (%llu) are %s (", 100 * k.share,
				 (unsigned long long)k.rows,
				 bl_report_unread_phrase(name, say, sizeof say));
		if (rc == BL_OK)
			rc = bl_report_text_escape(out, name);
		if (rc == BL_OK)
			rc = bl_buf_adds(out, ")\n");
	}
	return rc;
}

static void fix_cells(const bl_audit_fix *f, int pct, char *v, size_t vn, char *ci, size_t cn)
{
	if (pct) {
		bl_report_pct(v, vn, f->est);
		bl_report_ci_pct(ci, cn, f->lo, f->hi);
	} else {
		bl_report_fix(v, vn, f->est);
		bl_report_ci_fix(ci, cn, f->lo, f->hi);
	}
}

/* The audit's estimates and the corrected skew table (text form). */
static int text_audit(const struct bl_report *r, bl_buf *out)
{
	const bl_audit *a = r->opt->audit;
	struct bl_report_table t = {.ncol = 10, .left = 1u << 9};
	char v[10][64];
	int rc;

	rc = bl_buf_adds(out, "\naudit: how far to trust the tags (");
	if (rc == BL_OK)
		rc = bl_report_text_escape(out, bl_audit_path(a));
	if (rc == BL_OK)
		rc = bl_buf_adds(out, ")\n  corrected share = Rogan-Gladen (observed + Sp - 1) / "
				      "(Se + Sp - 1) with Se, Sp measured by the audit; 95% "
				      "intervals from seeded draws that include the audit's own "
				      "uncertainty\n");
	bl_report_tb_row(&t, "node", "judged", "precision", "95% CI", "recall (Se)", "95% CI",
			 "specificity", "observed", "corrected share [95% CI]", "", (char *)NULL);
	for (size_t i = 0; i < bl_audit_nnodes(a); i++) {
		const bl_audit_est *e = bl_audit_node(a, i);
		int n = bl_stats_node_find(r->all, e->node);
		const bl_audit_fix *f = n >= 0 && r->nfix ? &r->nfix[n] : NULL;
		bl_stats_count k;
		char c1[24], c2[36];
		snprintf(v[0], 64, "%llu+%llu",
			 (unsigned long long)e->judged_tagged, (unsigned long long)e->judged_untagged);
		bl_report_pct(v[1], 64, e->precision);
		bl_report_ci_pct(v[2], 64, e->precision_lo, e->precision_hi);
		bl_report_pct(v[3], 64, e->sensitivity);
		bl_report_ci_pct(v[4], 64, e->se_lo, e->se_hi);
		bl_report_pct(v[5], 64, e->specificity);
		if (n >= 0) {
			bl_stats_node(r->all, n, &k);
			bl_report_pct(v[6], 64, k.share);
		} else {
			snprintf(v[6], 64, "-");
		}
		if (f && isfinite(f->est)) {
			fix_cells(f, 1, c1, sizeof c1, c2, sizeof c2);
			snprintf(v[7], 64, "%s %s", c1, c2);
		} else {
			snprintf(v[7], 64, "-");
		}
		bl_report_tb_row(&t, e->node, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
				 f ? bl_audit_status_name(f->status) : "not in this index",
				 (char *)NULL);
	}
	if (rc == BL_OK)
		rc = bl_report_tb_print(&t, out, "  ");
	else
		bl_report_tb_print(&t, out, "  ");
	if (rc != BL_OK || r->audit_outcome < 0)
		return rc;
	rc = bl_buf_adds(out,
			 "\nskew corrected for the tagger's measured errors in " BL_REPORT_OUTCOME
			 ".* (assumed the same in every cell; cells are still the tagger's group "
			 "and gender labels)\n");
	t = (struct bl_report_table){.ncol = 11, .left = 1u << 1 | 1u << 10};
	bl_report_tb_row(&t, "group", "gender", "raw rate", "corrected", "95% CI", "rest",
			 "RR", "95% CI", "lift", "95% CI", "", (char *)NULL);
	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *s = &r->skew[i];
		const struct bl_report_fix *f = &r->fix[i];
		int st = f->rate.status > f->rr.status ? f->rate.status : f->rr.status;
		bl_report_pct(v[0], 64, s->rate);
		fix_cells(&f->rate, 1, v[1], 64, v[2], 64);
		bl_report_pct(v[3], 64, f->rest.est);
		fix_cells(&f->rr, 0, v[4], 64, v[5], 64);
		fix_cells(&f->lift, 0, v[6], 64, v[7], 64);
		bl_report_tb_row(&t, s->group, s->gender ? s->gender : "-", v[0], v[1], v[2], v[3],
				 v[4], v[5], v[6], v[7], bl_audit_status_name(st), (char *)NULL);
	}
	return bl_report_tb_print(&t, out, "  ");
}

static int render_text(const struct bl_report *r, bl_buf *out)
{
	struct bl_report_table t = {.ncol = 2};
	char a[64], b[64], c[64], d[64], e[64], f[64], g[64], h[64], i_[64], j[64], k_[64],
		l_[64], m_[64];
	int rc;

	rc = bl_buf_adds(out, "ballast report of ");
	if (rc == BL_OK)
		rc = bl_report_text_escape(out, r->path);
	if (rc == BL_OK)
		rc = bl_buf_adds(out, "\n\n");
	if (rc == BL_OK)
		rc = bl_report_text_lines(out, "WARNING: ", &r->warnings);
	if (rc == BL_OK)
		rc = bl_report_text_lines(out, "NOTE: ", &r->notes);
	if (rc == BL_OK)
		rc = text_unread(r, out);
	if (rc == BL_OK && (r->warnings.n || r->notes.n || r->unread_node >= 0))
		rc = bl_buf_addch(out, '\n');
	if (r->shards_damaged)
		snprintf(a, sizeof a, "%zu (%llu complete, %llu of them not read whole)",
			 r->nshards, (unsigned long long)r->shards_complete,
			 (unsigned long long)r->shards_damaged);
	else
		snprintf(a, sizeof a, "%zu (%llu complete)", r->nshards,
			 (unsigned long long)r->shards_complete);
	bl_report_tb_row(&t, "shards", a, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)r->samples);
	bl_report_tb_row(&t, "samples", a, (char *)NULL);
	if (r->weighted) {
		bl_stats_totals tot;
		bl_stats_totals_get(r->all, &tot);
		snprintf(a, sizeof a, "%.6g (Kish ESS %.6g)", tot.w, tot.ess);
		bl_report_tb_row(&t, "sum of ballast_weight", a, (char *)NULL);
	}
	snprintf(a, sizeof a, "%llu", (unsigned long long)r->samples_with_errors);
	bl_report_tb_row(&t, "samples with problems", a, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)r->blocked);
	bl_report_tb_row(&t, "blocked (" BL_LABEL_MINOR_SEXUAL ")", a, (char *)NULL);
	for (size_t k = 0; k < r->nerrors; k++) {
		char name[96];
		snprintf(name, sizeof name, "errors: %s", r->errors[k].kind);
		snprintf(a, sizeof a, "%llu", (unsigned long long)r->errors[k].count);
		bl_report_tb_row(&t, name, a, (char *)NULL);
	}
	if (rc == BL_OK)
		rc = bl_report_tb_print(&t, out, "  ");
	else
		bl_report_tb_print(&t, out, "  ");
	if (rc == BL_OK)
		rc = bl_buf_adds(out, "\nlabels\n");
	if (rc == BL_OK)
		rc = text_counts(r, r->all, -1, out, 0);
	if (rc == BL_OK)
		rc = bl_buf_adds(out, "\nfamilies (a sample counts once in each family it has a "
				      "label of)\n");
	if (rc == BL_OK)
		rc = text_counts(r, r->all, -1, out, 1);
	if (rc == BL_OK)
		rc = bl_buf_adds(out,
				 "\nskew: rate of sexual.* by group x gender, sorted by lift\n"
				 "  base = rate among ALL samples of the gender, the cell included "
				 "(all samples when gender is '-'); lift = rate / base;\n"
				 "  rest = rate among the OTHER samples of the gender (the cell "
				 "excluded); RR = rate / rest (\"n times as often as the other "
				 "captions\");\n"
				 "  OR = odds in the cell / odds in the rest, n/a when a cell of its "
				 "2x2 table is empty; 95% intervals; 'small': too few samples or "
				 "events\n");
	t = (struct bl_report_table){.ncol = 16, .left = 1u << 1 | 1u << 15};
	bl_report_tb_row(&t, "group", "gender", "n", "events", "rate", "95% CI", "base", "lift",
			 "95% CI", "rest", "RR", "95% CI", "OR", "95% CI", "attire", "",
			 (char *)NULL);
	for (size_t k = 0; k < r->nskew; k++) {
		const bl_stats_skew *s = &r->skew[k];
		snprintf(a, sizeof a, "%llu", (unsigned long long)s->rows);
		bl_report_num(b, sizeof b, s->events);
		bl_report_pct(c, sizeof c, s->rate);
		bl_report_ci_pct(d, sizeof d, s->rate_lo, s->rate_hi);
		bl_report_pct(e, sizeof e, s->base_rate);
		bl_report_fix(f, sizeof f, s->lift);
		bl_report_ci_fix(g, sizeof g, s->lift_lo, s->lift_hi);
		bl_report_pct(k_, sizeof k_, s->rest_rate);
		bl_report_fix(l_, sizeof l_, s->rate_ratio);
		bl_report_ci_fix(m_, sizeof m_, s->rr_lo, s->rr_hi);
		if (s->or_note)
			snprintf(h, sizeof h, "n/a (%s)", s->or_note);
		else
			bl_report_fix(h, sizeof h, s->odds_ratio);
		bl_report_ci_fix(i_, sizeof i_, s->or_lo, s->or_hi);
		bl_report_pct(j, sizeof j, s->rate2);
		bl_report_tb_row(&t, s->group, s->gender ? s->gender : "-", a, b, c, d, e, f, g, k_,
				 l_, m_, h, i_, j, s->small ? "small" : "", (char *)NULL);
	}
	if (rc == BL_OK)
		rc = bl_report_tb_print(&t, out, "  ");
	else
		bl_report_tb_print(&t, out, "  ");
	if (rc == BL_OK && r->opt->audit)
		rc = text_audit(r, out);
	if (rc == BL_OK && r->given) {
		bl_stats_totals tot;
		bl_stats_totals_get(r->given, &tot);
		rc = bl_buf_adds(out, "\nrates given");
		for (size_t k = 0; k < r->given_labels.n && rc == BL_OK; k++) {
			rc = bl_buf_adds(out, k ? " & " : " ");
			if (rc == BL_OK)
				rc = bl_report_text_escape(out, r->given_labels.items[k]);
		}
		if (rc == BL_OK)
			rc = bl_buf_addf(out, " (%llu samples)\n", (unsigned long long)tot.rows);
		if (rc == BL_OK)
			rc = text_counts(r, r->given, -1, out, 0);
	}
	for (int n = 0; r->by_node >= 0 && n < bl_stats_nnodes(r->all) && rc == BL_OK; n++) {
		bl_stats_count k;
		if (!bl_report_by_row(r, n))
			continue;
		bl_stats_node(r->all, n, &k);
		rc = bl_buf_adds(out, "\nlabels among samples with ");
		if (rc == BL_OK)
			rc = bl_report_text_escape(out, bl_stats_node_name(r->all, n));
		if (rc == BL_OK)
			rc = bl_buf_addf(out, " (%llu samples)\n", (unsigned long long)k.rows);
		if (rc == BL_OK)
			rc = text_counts(r, r->all, n, out, 0);
	}
	return rc;
}

/* ---- CSV ----------------------------------------------------------------- */

/* The numeric columns of a CSV row; NAN prints as an empty field. */
struct csv_nums {
	double v[17]; /* rows n count share lo hi base lift lift_lo lift_hi
		       * odds_ratio or_lo or_hi | rest rate_ratio rr_lo rr_hi */
	const char *note;
};
enum { C_ROWS, C_N, C_COUNT, C_SHARE, C_LO, C_HI, C_BASE, C_LIFT, C_LIFT_LO,
       C_LIFT_HI, C_OR, C_OR_LO, C_OR_HI, C_REST, C_RR, C_RR_LO, C_RR_HI, C_NCOL };

static struct csv_nums csv_blank(void)
{
	struct csv_nums c;
	for (int i = 0; i < C_NCOL; i++)
		c.v[i] = NAN;
	c.note = NULL;
	return c;
}

/* small: 0/1, or -1 for an empty field */
static int csv_row(bl_buf *out, const char *table, const char *shard, const char *name,
		   const char *gender, const struct csv_nums *c, int small)
{
	int rc = bl_buf_adds(out, table);
	const char *f[3] = {shard, name, gender};
	char b[64];

	for (int k = 0; k < 3 && rc == BL_OK; k++) {
		rc = bl_buf_addch(out, ',');
		if (rc == BL_OK)
			rc = bl_report_csv_escape(out, f[k]);
	}
	for (int k = 0; k <= C_OR_HI && rc == BL_OK; k++) {
		bl_report_num(b, sizeof b, c->v[k]);
		rc = bl_buf_addf(out, ",%s", b);
	}
	if (rc == BL_OK)
		rc = bl_buf_addf(out, ",%s", small < 0 ? "" : small ? "1" : "0");
	for (int k = C_REST; k < C_NCOL && rc == BL_OK; k++) {
		bl_report_num(b, sizeof b, c->v[k]);
		rc = bl_buf_addf(out, ",%s", b);
	}
	if (rc == BL_OK)
		rc = bl_buf_addch(out, ',');
	if (rc == BL_OK)
		rc = bl_report_csv_escape(out, c->note);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '\n');
	return rc;
}

static int csv_count(bl_buf *out, const char *table, const char *shard, const char *name,
		     double count)
{
	struct csv_nums c = csv_blank();
	c.v[C_COUNT] = count;
	return csv_row(out, table, shard, name, NULL, &c, -1);
}

static int csv_share(bl_buf *out, const char *table, const char *given,
		     const bl_stats_count *k, const char *name)
{
	struct csv_nums c = csv_blank();
	c.v[C_N] = k->w;
	c.v[C_COUNT] = (double)k->rows;
	c.v[C_SHARE] = k->share;
	c.v[C_LO] = k->lo;
	c.v[C_HI] = k->hi;
	return csv_row(out, table, NULL, name, given, &c, -1);
}

/* A corrected number as a CSV row: share, lo, hi and the status. */
static int csv_fix(bl_buf *out, const char *table, const char *name, const char *gender,
		   const bl_audit_fix *f, double count)
{
	struct csv_nums c = csv_blank();
	c.v[C_COUNT] = count;
	c.v[C_SHARE] = f->est;
	c.v[C_LO] = f->lo;
	c.v[C_HI] = f->hi;
	c.note = bl_audit_status_name(f->status);
	return csv_row(out, table, NULL, name, gender, &c, -1);
}

static int csv_audit(const struct bl_report *r, bl_buf *out)
{
	const bl_audit *a = r->opt->audit;
	int rc = BL_OK;

	for (size_t i = 0; i < bl_audit_nnodes(a) && rc == BL_OK; i++) {
		const bl_audit_est *e = bl_audit_node(a, i);
		bl_audit_fix v[4] = {
			{e->precision, e->precision_lo, e->precision_hi, BL_FIX_OK},
			{e->npv, e->npv_lo, e->npv_hi, BL_FIX_OK},
			{e->sensitivity, e->se_lo, e->se_hi, e->status},
			{e->specificity, e->sp_lo, e->sp_hi, e->status},
		};
		static const char *const tab[4] = {"audit_precision", "audit_npv",
						   "audit_sensitivity", "audit_specificity"};
		for (int k = 0; k < 4 && rc == BL_OK; k++)
			rc = csv_fix(out, tab[k], e->node, NULL, &v[k],
				     (double)(k == 0 ? e->judged_tagged
					      : k == 1 ? e->judged_untagged
						       : e->judged_tagged + e->judged_untagged));
	}
	for (int n = 0; n < bl_stats_nnodes(r->all) && rc == BL_OK; n++) {
		if (r->nfix[n].status == BL_FIX_NONE)
			continue;
		rc = csv_fix(out, bl_stats_node_is_family(r->all, n) ? "family_corrected"
								     : "label_corrected",
			     bl_stats_node_name(r->all, n), NULL, &r->nfix[n], NAN);
	}
	for (size_t i = 0; r->audit_outcome >= 0 && i < r->nskew && rc == BL_OK; i++) {
		const bl_stats_skew *s = &r->skew[i];
		const struct bl_report_fix *f = &r->fix[i];
		struct csv_nums c = csv_blank();
		int st = f->rate.status > f->rr.status ? f->rate.status : f->rr.status;
		c.v[C_ROWS] = (double)s->rows;
		c.v[C_N] = s->n;
		c.v[C_SHARE] = f->rate.est;
		c.v[C_LO] = f->rate.lo;
		c.v[C_HI] = f->rate.hi;
		c.v[C_BASE] = f->base.est;
		c.v[C_LIFT] = f->lift.est;
		c.v[C_LIFT_LO] = f->lift.lo;
		c.v[C_LIFT_HI] = f->lift.hi;
		c.v[C_REST] = f->rest.est;
		c.v[C_RR] = f->rr.est;
		c.v[C_RR_LO] = f->rr.lo;
		c.v[C_RR_HI] = f->rr.hi;
		c.note = bl_audit_status_name(st);
		rc = csv_row(out, "skew_corrected", NULL, s->group, s->gender, &c, s->small);
	}
	return rc;
}

static int render_csv(const struct bl_report *r, bl_buf *out)
{
	bl_stats_count k;
	int rc;

	rc = bl_buf_adds(out, "table,shard,name,gender,rows,n,count,share,lo,hi,base,lift,"
			      "lift_lo,lift_hi,odds_ratio,or_lo,or_hi,small,rest,rate_ratio,"
			      "rr_lo,rr_hi,note\n");
	for (size_t i = 0; i < r->warnings.n && rc == BL_OK; i++) {
		struct csv_nums c = csv_blank();
		c.note = r->warnings.items[i];
		rc = csv_row(out, "warning", NULL, NULL, NULL, &c, -1);
	}
	for (size_t i = 0; i < r->notes.n && rc == BL_OK; i++) {
		struct csv_nums c = csv_blank();
		c.note = r->notes.items[i];
		rc = csv_row(out, "note", NULL, NULL, NULL, &c, -1);
	}
	if (rc == BL_OK)
		rc = csv_count(out, "total", NULL, "shards", (double)r->nshards);
	if (rc == BL_OK)
		rc = csv_count(out, "total", NULL, "samples", (double)r->samples);
	if (rc == BL_OK && r->weighted)
		rc = csv_count(out, "total", NULL, "weight_sum", r->weight_sum);
	if (rc == BL_OK)
		rc = csv_count(out, "total", NULL, "samples_with_errors",
			       (double)r->samples_with_errors);
	if (rc == BL_OK)
		rc = csv_count(out, "total", NULL, "blocked", (double)r->blocked);
	for (size_t i = 0; i < r->nerrors && rc == BL_OK; i++)
		rc = csv_count(out, "error", NULL, r->errors[i].kind, (double)r->errors[i].count);
	for (int id = 0; id < r->nl && rc == BL_OK; id++) {
		bl_stats_label(r->all, id, &k);
		rc = csv_share(out, "label", NULL, &k, bl_stats_label_name(r->all, id));
	}
	for (int n = 0; n < bl_stats_nnodes(r->all) && rc == BL_OK; n++) {
		if (!bl_stats_node_is_family(r->all, n))
			continue;
		bl_stats_node(r->all, n, &k);
		rc = csv_share(out, "family", NULL, &k, bl_stats_node_name(r->all, n));
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->nskew && rc == BL_OK; i++) {
			const bl_stats_skew *s = &r->skew[i];
			struct csv_nums c = csv_blank();
			c.v[C_ROWS] = (double)s->rows;
			c.v[C_N] = s->n;
			c.v[C_COUNT] = pass ? s->events2 : s->events;
			c.v[C_SHARE] = pass ? s->rate2 : s->rate;
			c.v[C_LO] = pass ? s->rate2_lo : s->rate_lo;
			c.v[C_HI] = pass ? s->rate2_hi : s->rate_hi;
			c.v[C_LIFT] = pass ? s->lift2 : s->lift;
			if (!pass) {
				c.v[C_BASE] = s->base_rate;
				c.v[C_LIFT_LO] = s->lift_lo;
				c.v[C_LIFT_HI] = s->lift_hi;
				c.v[C_OR] = s->odds_ratio;
				c.v[C_OR_LO] = s->or_lo;
				c.v[C_OR_HI] = s->or_hi;
				c.v[C_REST] = s->rest_rate;
				c.v[C_RR] = s->rate_ratio;
				c.v[C_RR_LO] = s->rr_lo;
				c.v[C_RR_HI] = s->rr_hi;
				c.note = s->or_note ? s->or_note : NULL;
			}
			rc = csv_row(out, pass ? "skew_attire" : "skew", NULL, s->group,
				     s->gender, &c, pass ? -1 : s->small);
		}
	if (rc == BL_OK && r->unread_node >= 0) {
		bl_stats_node(r->all, r->unread_node, &k);
		rc = csv_share(out, "unread", NULL, &k, "caption");
		for (int id = 0; id < r->nl && rc == BL_OK; id++) {
			if (!bl_label_in_family(bl_stats_label_name(r->all, id), "caption"))
				continue;
			bl_stats_label(r->all, id, &k);
			rc = csv_share(out, "unread", NULL, &k, bl_stats_label_name(r->all, id));
		}
	}
	if (rc == BL_OK && r->opt->audit)
		rc = csv_audit(r, out);
	if (r->given && rc == BL_OK) {
		bl_buf g;
		bl_buf_init(&g, 0);
		for (size_t i = 0; i < r->given_labels.n && rc == BL_OK; i++)
			rc = bl_buf_addf(&g, "%s%s", i ? "&" : "", r->given_labels.items[i]);
		for (int id = 0; id < r->nl && rc == BL_OK; id++) {
			bl_stats_label(r->given, id, &k);
			rc = csv_share(out, "given", g.buf, &k, bl_stats_label_name(r->all, id));
		}
		bl_buf_release(&g);
	}
	for (int n = 0; r->by_node >= 0 && n < bl_stats_nnodes(r->all) && rc == BL_OK; n++) {
		if (!bl_report_by_row(r, n))
			continue;
		for (int id = 0; id < r->nl && rc == BL_OK; id++) {
			bl_stats_cond(r->all, n, id, &k);
			rc = csv_share(out, "by", bl_stats_node_name(r->all, n), &k,
				       bl_stats_label_name(r->all, id));
		}
	}
	for (size_t i = 0; i < r->nshards && rc == BL_OK; i++) {
		const struct bl_report_shard *sh = &r->shards[i];
		rc = csv_count(out, "shard", sh->path, "samples", (double)sh->samples);
		if (rc == BL_OK)
			rc = csv_count(out, "shard", sh->path, "errors", (double)sh->errors);
		if (rc == BL_OK)
			rc = csv_count(out, "shard", sh->path, "blocked", (double)sh->blocked);
		for (int id = 0; id < r->nl && rc == BL_OK; id++) {
			struct csv_nums c = csv_blank();
			c.v[C_ROWS] = (double)sh->samples;
			c.v[C_COUNT] = (double)sh->labels[id];
			if (sh->samples)
				c.v[C_SHARE] = (double)sh->labels[id] / (double)sh->samples;
			rc = csv_row(out, "shard", sh->path, bl_stats_label_name(r->all, id), NULL,
				     &c, -1);
		}
	}
	return rc;
}

/* ---- JSON ---------------------------------------------------------------- */

static cJSON *jfix(cJSON *obj, const char *key, const bl_audit_fix *f)
{
	cJSON *o = cJSON_AddObjectToObject(obj, key);
	if (o) {
		bl_report_jnum(o, "value", f->est);
		bl_report_jnum(o, "lo", f->lo);
		bl_report_jnum(o, "hi", f->hi);
		cJSON_AddStringToObject(o, "status", bl_audit_status_name(f->status));
	}
	return o;
}

/* "audit": what the sheet says, and the corrected shares and skew rows. */
static void json_audit(const struct bl_report *r, cJSON *root, cJSON *skew)
{
	const bl_audit *a = r->opt->audit;
	cJSON *o = cJSON_AddObjectToObject(root, "audit"), *nodes, *shares;
	uint64_t rows, judged;

	if (!o)
		return;
	bl_audit_totals(a, &rows, &judged, NULL);
	cJSON_AddStringToObject(o, "sheet", bl_audit_path(a));
	bl_report_jnum(o, "rows", (double)rows);
	bl_report_jnum(o, "judged", (double)judged);
	cJSON_AddStringToObject(o, "outcome", BL_REPORT_OUTCOME);
	cJSON_AddBoolToObject(o, "skew_corrected", r->audit_outcome >= 0);
	nodes = cJSON_AddObjectToObject(o, "nodes");
	for (size_t i = 0; nodes && i < bl_audit_nnodes(a); i++) {
		const bl_audit_est *e = bl_audit_node(a, i);
		cJSON *n = cJSON_AddObjectToObject(nodes, e->node);
		bl_audit_fix v;
		if (!n)
			continue;
		bl_report_jnum(n, "tagged", e->size_tagged);
		bl_report_jnum(n, "untagged", e->size_untagged);
		bl_report_jnum(n, "judged_tagged", (double)e->judged_tagged);
		bl_report_jnum(n, "judged_untagged", (double)e->judged_untagged);
		v = (bl_audit_fix){e->precision, e->precision_lo, e->precision_hi, BL_FIX_OK};
		jfix(n, "precision", &v);
		v = (bl_audit_fix){e->npv, e->npv_lo, e->npv_hi, BL_FIX_OK};
		jfix(n, "npv", &v);
		v = (bl_audit_fix){e->sensitivity, e->se_lo, e->se_hi, e->status};
		jfix(n, "sensitivity", &v);
		v = (bl_audit_fix){e->specificity, e->sp_lo, e->sp_hi, e->status};
		jfix(n, "specificity", &v);
	}
	shares = cJSON_AddObjectToObject(o, "shares");
	for (int n = 0; shares && n < bl_stats_nnodes(r->all); n++)
		if (r->nfix[n].status != BL_FIX_NONE)
			jfix(shares, bl_stats_node_name(r->all, n), &r->nfix[n]);
	for (size_t i = 0; r->audit_outcome >= 0 && i < r->nskew; i++) {
		cJSON *row = cJSON_GetArrayItem(skew, (int)i), *c;
		const struct bl_report_fix *f = &r->fix[i];
		if (!row)
			continue;
		c = cJSON_AddObjectToObject(row, "corrected");
		if (!c)
			continue;
		jfix(c, "rate", &f->rate);
		jfix(c, "rest_rate", &f->rest);
		jfix(c, "base_rate", &f->base);
		jfix(c, "rate_ratio", &f->rr);
		jfix(c, "lift", &f->lift);
	}
}

static cJSON *json_report(const struct bl_report *r)
{
	cJSON *root = cJSON_CreateObject(), *o, *a;
	bl_stats_count k;

	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "report", "ballast");
	bl_report_jnum(root, "schema", 1);
	cJSON_AddStringToObject(root, "index", r->path);
	bl_report_jnum(root, "samples", (double)r->samples);
	bl_report_jnum(root, "shards", (double)r->nshards);
	bl_report_jnum(root, "shards_complete", (double)r->shards_complete);
	bl_report_jnum(root, "shards_damaged", (double)r->shards_damaged);
	bl_report_jnum(root, "samples_with_errors", (double)r->samples_with_errors);
	cJSON_AddBoolToObject(root, "weighted", r->weighted);
	bl_report_jnum(root, "weight_sum", r->weight_sum);
	a = cJSON_AddArrayToObject(root, "warnings");
	for (size_t i = 0; a && i < r->warnings.n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->warnings.items[i]));
	a = cJSON_AddArrayToObject(root, "notes");
	for (size_t i = 0; a && i < r->notes.n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->notes.items[i]));
	o = cJSON_AddObjectToObject(root, "errors");
	for (size_t i = 0; o && i < r->nerrors; i++)
		bl_report_jnum(o, r->errors[i].kind, (double)r->errors[i].count);
	bl_report_jnum(root, "blocked", (double)r->blocked);
	o = cJSON_AddObjectToObject(root, "labels");
	for (int id = 0; o && id < r->nl; id++) {
		bl_stats_label(r->all, id, &k);
		bl_report_jnum(o, bl_stats_label_name(r->all, id), (double)k.rows);
	}
	o = cJSON_AddObjectToObject(root, "families");
	for (int n = 0; o && n < bl_stats_nnodes(r->all); n++) {
		if (!bl_stats_node_is_family(r->all, n))
			continue;
		bl_stats_node(r->all, n, &k);
		bl_report_jnum(o, bl_stats_node_name(r->all, n), (double)k.rows);
	}
	o = cJSON_AddObjectToObject(root, "shares");
	for (int n = 0; o && n < bl_stats_nnodes(r->all); n++) {
		bl_stats_node(r->all, n, &k);
		cJSON_AddItemToObject(o, bl_stats_node_name(r->all, n), bl_report_jcount(&k));
	}
	a = cJSON_AddArrayToObject(root, "skew");
	for (size_t i = 0; a && i < r->nskew; i++)
		cJSON_AddItemToArray(a, bl_report_jskew(&r->skew[i]));
	if (r->unread_node >= 0) {
		cJSON *u = cJSON_AddObjectToObject(root, "unread"), *l;
		bl_stats_node(r->all, r->unread_node, &k);
		if (u) {
			bl_report_jnum(u, "count", (double)k.rows);
			bl_report_jnum(u, "share", k.share);
		}
		l = u ? cJSON_AddObjectToObject(u, "labels") : NULL;
		for (int id = 0; l && id < r->nl; id++) {
			const char *name = bl_stats_label_name(r->all, id);
			if (!bl_label_in_family(name, "caption"))
				continue;
			bl_stats_label(r->all, id, &k);
			cJSON_AddItemToObject(l, name, bl_report_jcount(&k));
		}
	}
	if (a && r->opt->audit)
		json_audit(r, root, a);
	if (r->given) {
		bl_stats_totals tot;
		cJSON *g = cJSON_AddObjectToObject(root, "given"), *l, *rt;
		bl_stats_totals_get(r->given, &tot);
		l = g ? cJSON_AddArrayToObject(g, "labels") : NULL;
		for (size_t i = 0; l && i < r->given_labels.n; i++)
			cJSON_AddItemToArray(l, cJSON_CreateString(r->given_labels.items[i]));
		if (g)
			bl_report_jnum(g, "samples", (double)tot.rows);
		rt = g ? cJSON_AddObjectToObject(g, "rates") : NULL;
		for (int id = 0; rt && id < r->nl; id++) {
			bl_stats_label(r->given, id, &k);
			cJSON_AddItemToObject(rt, bl_stats_label_name(r->all, id), bl_report_jcount(&k));
		}
	}
	if (r->by_node >= 0) {
		cJSON *b = cJSON_AddObjectToObject(root, "by"), *rows;
		if (b)
			cJSON_AddStringToObject(b, "family",
						bl_stats_node_name(r->all, r->by_node));
		rows = b ? cJSON_AddObjectToObject(b, "rows") : NULL;
		for (int n = 0; rows && n < bl_stats_nnodes(r->all); n++) {
			cJSON *row, *rt;
			if (!bl_report_by_row(r, n))
				continue;
			row = cJSON_AddObjectToObject(rows, bl_stats_node_name(r->all, n));
			bl_stats_node(r->all, n, &k);
			if (row)
				bl_report_jnum(row, "samples", (double)k.rows);
			rt = row ? cJSON_AddObjectToObject(row, "rates") : NULL;
			for (int id = 0; rt && id < r->nl; id++) {
				bl_stats_cond(r->all, n, id, &k);
				cJSON_AddItemToObject(rt, bl_stats_label_name(r->all, id),
						      bl_report_jcount(&k));
			}
		}
	}
	a = cJSON_AddArrayToObject(root, "per_shard");
	for (size_t i = 0; a && i < r->nshards; i++) {
		const struct bl_report_shard *sh = &r->shards[i];
		cJSON *c = cJSON_CreateObject(), *l;
		if (!c)
			break;
		bl_report_jnum(c, "id", (double)sh->id);
		cJSON_AddStringToObject(c, "path", sh->path);
		cJSON_AddBoolToObject(c, "complete", sh->complete);
		bl_report_jnum(c, "samples", (double)sh->samples);
		bl_report_jnum(c, "errors", (double)sh->errors);
		bl_report_jnum(c, "blocked", (double)sh->blocked);
		l = cJSON_AddObjectToObject(c, "labels");
		for (int id = 0; l && id < r->nl; id++)
			if (sh->labels[id])
				bl_report_jnum(l, bl_stats_label_name(r->all, id), (double)sh->labels[id]);
		cJSON_AddItemToArray(a, c);
	}
	return root;
}

/* cJSON shows an allocation failure only by leaving items out; the last
 * array built, per_shard, is complete only if nothing failed before it
 * ran out, so its length is checked (a failure inside an item can still
 * slip through; the print itself is checked). */
static int render_json(const struct bl_report *r, bl_buf *out)
{
	cJSON *root = json_report(r);
	char *text = NULL;
	int rc = BL_ENOMEM;
	cJSON *shards;

	if (!root)
		goto out;
	shards = cJSON_GetObjectItemCaseSensitive(root, "per_shard");
	if (!shards || (size_t)cJSON_GetArraySize(shards) != r->nshards)
		goto out;
	text = cJSON_Print(root);
	if (!text)
		goto out;
	/* paths, warnings and names are bytes: valid UTF-8 all the same */
	rc = bl_utf8_json_escape(out, text, strlen(text), BL_JSON_TEXT);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '\n');
out:
	free(text);
	cJSON_Delete(root);
	return rc;
}

/* ---- entry points -------------------------------------------------------- */

int bl_report_buf(bl_index *ix, const bl_report_options *opt, bl_buf *out, char *err,
		  size_t errlen)
{
	struct bl_report r;
	bl_report_options defaults;
	size_t len0;
	char dummy[1];
	int rc = BL_EUSAGE;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	memset(&r, 0, sizeof r);
	bl_strlist_init(&r.given_labels);
	if (!ix || !out) {
		bl_error_set(err, errlen, "no index or no output buffer");
		return BL_EUSAGE;
	}
	if (!opt) {
		memset(&defaults, 0, sizeof defaults);
		opt = &defaults;
	}
	len0 = out->len;
	if (opt->format < BL_REPORT_TEXT || opt->format > BL_REPORT_HTML) {
		bl_error_set(err, errlen, "unknown report format %d", opt->format);
		goto out;
	}
	rc = bl_report_gather(&r, ix, opt, err, errlen);
	if (rc != BL_OK)
		goto out;
	switch (opt->format) {
	case BL_REPORT_CSV: rc = render_csv(&r, out); break;
	case BL_REPORT_JSON: rc = render_json(&r, out); break;
	case BL_REPORT_HTML: rc = bl_report_html(&r, out); break;
	default: rc = render_text(&r, out); break;
	}
	if (rc != BL_OK)
		bl_error_set(err, errlen, "%s", rc == BL_ENOMEM ? "out of memory"
							    : "report larger than the output cap");
out:
	if (rc != BL_OK && out->len > len0) {
		out->len = len0;
		out->buf[len0] = '\0';
	}
	bl_report_release(&r);
	return rc;
}

int bl_report_save(bl_index *ix, const bl_report_options *opt, const char *path,
		   char *err, size_t errlen)
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
	rc = bl_report_buf(ix, opt, &b, err, errlen);
	if (rc == BL_OK)
		rc = bl_file_write_atomic(path, b.buf, b.len, err, errlen);
	bl_buf_release(&b);
	return rc;
}
