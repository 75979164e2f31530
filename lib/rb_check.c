/*
 * rb_check.c - is a plan what the policy asked for?  The checks of a
 * rebalance, from its summary and its policy alone.
 *
 * A plan can meet every declared share and still be a bad set: weights
 * estimated from a handful of samples, one caption carrying a large part
 * of the set, an effective sample size of a few percent, a family the
 * policy never named moving tenfold, or a line that makes worse the very
 * gap it was written to close.  Each such finding is a check in the
 * summary (bl_rb_check) with the value the plan got and the limit it was
 * held to: the built-in default, or the limit of an `accept` line of the
 * policy.  Over the limit the check fails (the summary's ok is 0 and
 * `ballast rebalance` exits 1); over the default but within an accept
 * line it is "accepted", and still printed.  Defaults are in
 * manifests/FORMAT.md ("Checks") and in ballast.h (BL_CHECK_*).
 *
 * Everything here reads the summary (lib/rb_summary.c) and the policy, so
 * the same checks can be rerun on a manifest read back from disk.
 */
#include "alloc_int.h"
#include "rb_summary_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_CELLS 30.0
#define DEF_CELLS_SHARE 0.10 /* of a line's samples in small rows: fails */
#define DEF_ESS 0.3
#define DEF_WEIGHT 10.0
#define DEF_SHARE 0.01
#define DEF_SHIFT_ABS 0.005  /* half a percentage point ... */
#define DEF_SHIFT_REL 0.25   /* ... or a quarter of the share, if larger */
#define GAP_EPS 1e-9

struct ck {
	bl_rb_summary *s;
	const bl_policy *p;
	size_t alloc;
	int nomem;
};

/* The limit of a check: an accept line's, else the default.  `clip
 * weight W` and `floor ess F` say what the policy accepts too: they are
 * the limits of the weight and ess checks when no accept line is. */
static double limit_of(const bl_policy *p, int check, double def, int *line)
{
	double v;

	*line = 0;
	for (int i = 0; i < bl_policy_naccepts(p); i++) {
		const bl_policy_accept *a = bl_policy_accept_at(p, i);
		if (a->check == check && !a->family) {
			*line = a->line;
			return a->limit;
		}
	}
	if (check == BL_CHECK_WEIGHT && (v = bl_policy_clip_weight(p, line)) > 0)
		return v;
	if (check == BL_CHECK_ESS && (v = bl_policy_floor_ess(p, line)) > 0)
		return v;
	*line = 0;
	return def;
}

static void add(struct ck *k, int check, int status, int line, const char *subject,
		double value, double limit, double def, int accept_line, const char *fmt, ...)
	__attribute__((format(__printf__, 10, 11)));

static void add(struct ck *k, int check, int status, int line, const char *subject,
		double value, double limit, double def, int accept_line, const char *fmt, ...)
{
	bl_rb_summary *s = k->s;
	bl_rb_check *c;
	char msg[1024];
	va_list ap;

	if (k->nomem)
		return;
	if (BL_ALLOC_GROW(s->checks, s->nchecks + 1, k->alloc) != BL_OK) {
		k->nomem = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c = &s->checks[s->nchecks];
	memset(c, 0, sizeof *c);
	c->check = check;
	c->status = status;
	c->line = line;
	c->value = value;
	c->limit = limit;
	c->default_limit = def;
	c->accept_line = accept_line;
	c->subject = subject ? strdup(subject) : NULL;
	c->message = strdup(msg);
	if ((subject && !c->subject) || !c->message) {
		free(c->subject);
		free(c->message);
		k->nomem = 1;
		return;
	}
	s->nchecks++;
}

/* Status of a value against an upper (upper = 1) or lower bound. */
static int judge(double value, double limit, double def, int upper)
{
	/* a clipped weight lands on its limit give or take rounding */
	const double e = 1e-9;
	int over_limit = upper ? value > limit * (1 + e) : value < limit * (1 - e);
	int over_def = upper ? value > def * (1 + e) : value < def * (1 - e);

	if (!isfinite(value))
		return BL_CHECK_OK;
	return over_limit ? BL_CHECK_FAILED : over_def ? BL_CHECK_ACCEPTED : BL_CHECK_OK;
}

static const char *pct(char *b, size_t n, double x)
{
	snprintf(b, n, "%.3g%%", 100 * x);
	return b;
}

/* A drop name that matches labels of the index none of whose samples
 * carry: the line removes nothing for it (a warning). */
static void check_drops(struct ck *k)
{
	const bl_rb_summary *s = k->s;

	for (int i = 0; i < bl_policy_nrules(k->p); i++) {
		const bl_policy_rule *r = bl_policy_rule_at(k->p, i);
		if (r->kind != BL_RULE_DROP)
			continue;
		for (int j = 0; j < bl_expr_nnames(r->expr); j++) {
			const char *nm = bl_expr_name(r->expr, j);
			int carried = 0;
			for (size_t n = 0; n < s->nshares[0] && !carried; n++)
				carried = s->shares[0][n].share > 0 &&
					  bl_label_in_family(s->shares[0][n].name, nm);
			if (!carried)
				add(k, BL_CHECK_DROP, BL_CHECK_WARNING, r->line, nm, 0, NAN, NAN, 0,
				    "line %d: drop: no sample of the index carries '%s' (a label "
				    "of its rules): the line drops nothing for it", r->line, nm);
		}
	}
}

/* "LABEL within a,b" for a row of an independent line; the level with no
 * label of C is "no C label", and without `within`, "all samples". */
static void within_text(char *b, size_t n, const bl_rb_rule_result *r, const bl_rb_indep_row *x)
{
	const char *w = x->within;
	size_t len = strlen(w);

	if (!r->family[2])
		snprintf(b, n, "%s among all samples", x->label);
	else if (len <= 2)
		snprintf(b, n, "%s with no %s label", x->label, r->family[2]);
	else
		snprintf(b, n, "%s within %.*s", x->label, (int)(len - 2), w + 1);
}

/* Weighted rows with too few samples to estimate what their weight
 * corrects: an independent line's rows in levels where A occurs, a target
 * line's listed labels. */
static void check_cells(struct ck *k)
{
	const bl_rb_summary *s = k->s;
	int al;
	double lim = limit_of(k->p, BL_CHECK_CELLS, DEF_CELLS, &al);

	for (size_t i = 0; i < s->nrules; i++) {
		const bl_rb_rule_result *r = &s->rules[i];
		double least = INFINITY, all = 0, small = 0; /* samples in rows */
		size_t nrows = 0, nsmall = 0;
		char subject[512] = "";
		int st;
		for (size_t j = 0; j < (r->kind == BL_RULE_INDEPENDENT ? r->nrows : r->nlabels); j++) {
			double n;
			if (r->kind == BL_RULE_INDEPENDENT) {
				const bl_rb_indep_row *x = &r->rows[j];
				if (!(x->rate_within[0] > 0))
					continue; /* no A in the level: weights stay 1 */
				n = (double)x->samples;
				if (n < least)
					within_text(subject, sizeof subject, r, x);
			} else if (r->kind == BL_RULE_TARGET) {
				const bl_rb_label_row *x = &r->labels[j];
				n = round(x->before * (double)s->samples);
				if (!strcmp(x->label, "rest") || !(x->target > 0) || !isfinite(n))
					continue;
				if (n < least)
					snprintf(subject, sizeof subject, "%s", x->label);
			} else {
				break;
			}
			nrows++;
			all += n;
			least = fmin(least, n);
			if (n < DEF_CELLS * (1 - 1e-9)) {
				nsmall++;
				small += n;
			}
		}
		if (!nrows)
			continue;
		st = judge(least, lim, DEF_CELLS, 0);
		/* a few small rows in a line that rests on large ones are worth a
		 * warning; a line that rests on small rows fails */
		if (st == BL_CHECK_FAILED && small < DEF_CELLS_SHARE * all)
			st = BL_CHECK_WARNING;
		if (st == BL_CHECK_OK)
			add(k, BL_CHECK_CELLS, st, r->line, subject, least, lim, DEF_CELLS, al,
			    "line %d: every weighted row has at least %g samples (smallest: %s, "
			    "%.0f)", r->line, lim, subject, least);
		else
			add(k, BL_CHECK_CELLS, st, r->line, subject, least, lim, DEF_CELLS, al,
			    "line %d: %zu of %zu weighted rows (%.3g%% of their samples) have fewer "
			    "than %g samples (smallest: %s, %.0f): their %s cannot be estimated from "
			    "so few, so the weights that correct them are noise%s", r->line, nsmall,
			    nrows, 100 * small / all, DEF_CELLS, subject, least,
			    r->kind == BL_RULE_TARGET ? "shares" : "rates",
			    st == BL_CHECK_ACCEPTED ? " (accepted)" :
			    st == BL_CHECK_WARNING ? " (a warning: they hold under 10% of the "
			    "line's samples)" : "");
	}
}

/* 1 when after is not below before (a rounding residue is not a
 * reduction; nothing to reduce is fine when nothing is added). */
static int not_reduced(double before, double after)
{
	if (before <= GAP_EPS)
		return after > GAP_EPS;
	return after >= before * (1 - 1e-6);
}

/* A line that does not bring its distance down. */
static void check_gaps(struct ck *k)
{
	const bl_rb_summary *s = k->s;
	int al;
	double lim = limit_of(k->p, BL_CHECK_GAP, 0, &al);

	(void)lim;
	for (size_t i = 0; i < s->nrules; i++) {
		const bl_rb_rule_result *r = &s->rules[i];
		double b, a, tb = r->tv_distance_before, ta = r->tv_distance;
		int worse, st;
		if (r->kind == BL_RULE_INDEPENDENT) {
			b = r->max_rate_gap_before;
			a = r->max_rate_gap_after;
			worse = not_reduced(b, a) || (isfinite(tb) && isfinite(ta) && not_reduced(tb, ta));
		} else if (r->kind == BL_RULE_TARGET) {
			b = tb;
			a = ta;
			worse = not_reduced(b, a);
		} else {
			continue;
		}
		if (!isfinite(a) || !isfinite(b))
			continue;
		st = !worse ? BL_CHECK_OK : al ? BL_CHECK_ACCEPTED : BL_CHECK_FAILED;
		if (r->kind == BL_RULE_INDEPENDENT)
			add(k, BL_CHECK_GAP, st, r->line, NULL, a, b, b, st == BL_CHECK_ACCEPTED ? al : 0,
			    "line %d (%s): the largest rate gap between rows goes from %.4g to %.4g "
			    "and the distance from independence from %.4g to %.4g%s", r->line,
			    r->text, b, a, tb, ta,
			    !worse ? "" : st == BL_CHECK_ACCEPTED ? ": not reduced (accepted)" :
			    ": the line does not reduce what it was asked to reduce");
		else
			add(k, BL_CHECK_GAP, st, r->line, NULL, a, b, b, st == BL_CHECK_ACCEPTED ? al : 0,
			    "line %d (%s): the TV distance from the target goes from %.4g to %.4g%s",
			    r->line, r->text, b, a,
			    !worse ? "" : st == BL_CHECK_ACCEPTED ? ": not reduced (accepted)" :
			    ": the line does not reduce what it was asked to reduce");
	}
}

/* How far a target line's share may end from the declared one: what the
 * draws of upsample and downsample move it by, three binomial standard
 * errors over the written samples, but never less than 0.5 pp nor more
 * than the shift check's quarter of the share.  A 60% target met at 55%
 * in a set of 2,000 fails (3 SE: 3.3 pp); in a set of 100 it does not
 * (the draws alone move it that far). */
static double target_tolerance(double share, uint64_t written)
{
	double se = written ? sqrt(share * (1 - share) / (double)written) : 1;
	return fmax(DEF_SHIFT_ABS, fmin(DEF_SHIFT_REL * share, 3 * se));
}

/*
 * A target line's declared shares against what the manifest holds.  The
 * raking meets them to 1e-12; what moves them after is `realise upsample
 * max N` clipping the weights that met them, the draws of upsample and
 * downsample, and `clip weight` / `floor ess`, which trade distance for a
 * sounder set by the policy's own say (a miss is then accepted, with that
 * line).  The tolerance is target_tolerance's, or an `accept target D`
 * line's D.  One check a line: its worst label.
 */
static void check_targets(struct ck *k)
{
	const bl_rb_summary *s = k->s;
	int al, cl = 0, fl = 0, trade;

	bl_policy_clip_weight(k->p, &cl);
	bl_policy_floor_ess(k->p, &fl);
	trade = cl ? cl : fl;
	for (size_t i = 0; i < s->nrules; i++) {
		const bl_rb_rule_result *r = &s->rules[i];
		const bl_rb_label_row *worst = NULL;
		double wratio = -1, wd = 0, wlim = 0, wdef = 0;
		int st;
		char a[32], b[32], why[256] = "";
		if (r->kind != BL_RULE_TARGET)
			continue;
		for (size_t j = 0; j < r->nlabels; j++) {
			const bl_rb_label_row *x = &r->labels[j];
			double d, def, lim;
			if (!isfinite(x->target) || !isfinite(x->after))
				continue; /* a free rest */
			d = fabs(x->after - x->target);
			def = target_tolerance(x->target, s->written);
			lim = limit_of(k->p, BL_CHECK_TARGET, def, &al);
			if (d / lim > wratio) {
				wratio = d / lim;
				worst = x;
				wd = d;
				wlim = lim;
				wdef = def;
			}
		}
		if (!worst)
			continue;
		limit_of(k->p, BL_CHECK_TARGET, wdef, &al);
		st = judge(wd, wlim, wdef, 1);
		if (st == BL_CHECK_FAILED && trade) {
			st = BL_CHECK_ACCEPTED;
			al = trade;
		}
		if (st != BL_CHECK_OK && s->realise == BL_REALISE_UPSAMPLE && s->clipped_cells > 0)
			snprintf(why, sizeof why, ": 'realise upsample max %g' clipped the weights of "
				 "%llu cells that meet it (raise N)", s->max_repeat,
				 (unsigned long long)s->clipped_cells);
		else if (st == BL_CHECK_ACCEPTED && al == trade)
			snprintf(why, sizeof why, " (accepted: the '%s' line trades distance from the "
				 "target for a sounder set)", cl ? "clip weight" : "floor ess");
		if (st == BL_CHECK_ACCEPTED && al != trade)
			snprintf(why + strlen(why), sizeof why - strlen(why), " (accepted)");
		add(k, BL_CHECK_TARGET, st, r->line, worst->label, wd, wlim, wdef,
		    st == BL_CHECK_ACCEPTED ? al : 0,
		    "line %d (%s): %s %s %s of the set against the %s declared (off by %.3g pp; "
		    "tolerance %.3g pp)%s", r->line, r->text, st == BL_CHECK_OK ? "closest to its "
		    "limit:" : "the target is not met:", worst->label, pct(a, sizeof a, worst->after),
		    pct(b, sizeof b, worst->target), 100 * wd, 100 * wlim, why);
	}
}

/* The price of the weights: ESS, largest weight, one sample's share. */
static void check_cost(struct ck *k)
{
	const bl_rb_summary *s = k->s;
	int al, st;
	double lim, v;
	char a[32], b[32];

	lim = limit_of(k->p, BL_CHECK_ESS, DEF_ESS, &al);
	v = s->ess_written_ratio;
	st = judge(v, lim, DEF_ESS, 0);
	add(k, BL_CHECK_ESS, st, 0, NULL, v, lim, DEF_ESS, al,
	    "the manifest's weights are worth %s of its %llu samples (Kish's effective "
	    "sample size %.1f; limit %s)%s", pct(a, sizeof a, v), (unsigned long long)s->written,
	    s->ess_after, pct(b, sizeof b, lim),
	    st == BL_CHECK_FAILED ? ": 'floor ess F' trades distance from the target for it" :
	    st == BL_CHECK_ACCEPTED ? " (accepted)" : "");

	lim = limit_of(k->p, BL_CHECK_WEIGHT, DEF_WEIGHT, &al);
	v = s->weight_ratio;
	st = judge(v, lim, DEF_WEIGHT, 1);
	add(k, BL_CHECK_WEIGHT, st, 0, NULL, v, lim, DEF_WEIGHT, al,
	    "the largest weight is %.4g times the mean weight: one sample counts as %.4g "
	    "(limit %g)%s", v, v, lim,
	    st == BL_CHECK_FAILED ? ": 'clip weight W' caps it" :
	    st == BL_CHECK_ACCEPTED ? " (accepted)" : "");

	lim = limit_of(k->p, BL_CHECK_SHARE, DEF_SHARE, &al);
	v = s->largest_sample_share;
	/* a sample that weighs no more than the mean is not pushed up, however
	 * small the set */
	st = s->weight_ratio > 1 + 1e-9 ? judge(v, lim, DEF_SHARE, 1) : BL_CHECK_OK;
	add(k, BL_CHECK_SHARE, st, 0, NULL, v, lim, DEF_SHARE, al,
	    "the heaviest sample carries %s of the manifest's weight (limit %s)%s",
	    pct(a, sizeof a, v), pct(b, sizeof b, lim),
	    st == BL_CHECK_ACCEPTED ? " (accepted)" : "");
}

/* 1 when a policy line names node (or a family within or around it). */
static int related(const bl_policy *p, const char *node)
{
	for (int i = 0; i < bl_policy_nrules(p); i++) {
		const bl_policy_rule *r = bl_policy_rule_at(p, i);
		for (int f = 0; f < 3; f++)
			if (r->family[f] && (bl_label_in_family(node, r->family[f]) ||
					     bl_label_in_family(r->family[f], node)))
				return 1;
		for (int j = 0; r->kind == BL_RULE_DROP && j < bl_expr_nnames(r->expr); j++) {
			const char *nm = bl_expr_name(r->expr, j);
			if (bl_label_in_family(node, nm) || bl_label_in_family(nm, node))
				return 1;
		}
	}
	return 0;
}

/* The tolerance of a node: the most specific `accept shift FAMILY D`
 * covering it, else `accept shift D`, else the default. */
static double shift_limit(const bl_policy *p, const char *node, double def, int *line)
{
	size_t best = 0;
	double lim = def;

	*line = 0;
	for (int i = 0; i < bl_policy_naccepts(p); i++) {
		const bl_policy_accept *a = bl_policy_accept_at(p, i);
		size_t len;
		if (a->check != BL_CHECK_SHIFT)
			continue;
		len = a->family ? strlen(a->family) + 1 : 1;
		if ((!a->family || bl_label_in_family(node, a->family) ||
		     bl_label_in_family(a->family, node)) && len > best) {
			best = len;
			lim = a->limit;
			*line = a->line;
		}
	}
	return lim;
}

/* Labels and families no policy line names must stay where the safety
 * and drop lines left them (kept), within a tolerance. */
static void check_shifts(struct ck *k)
{
	const bl_rb_summary *s = k->s;
	double worst = -1;
	const bl_rb_share *wn = NULL;
	double wd = 0, wl = 0, wdef = 0, wa = 0;
	int wline = 0, any = 0;

	for (size_t i = 0; i < s->nshares[2]; i++) {
		const bl_rb_share *kept = &s->shares[2][i];
		double after = 0, d, def, lim;
		int al, st;
		char a[32], b[32];
		if (!isfinite(kept->share) || related(k->p, kept->name))
			continue;
		for (size_t j = 0; j < s->nshares[1]; j++)
			if (!strcmp(s->shares[1][j].name, kept->name))
				after = s->shares[1][j].share;
		d = fabs(after - kept->share);
		def = fmax(DEF_SHIFT_ABS, DEF_SHIFT_REL * kept->share);
		lim = shift_limit(k->p, kept->name, def, &al);
		st = judge(d, lim, def, 1);
		if (st != BL_CHECK_OK) {
			any = 1;
			add(k, BL_CHECK_SHIFT, st, 0, kept->name, d, lim, def, al,
			    "%s, which no policy line names, moves from %s to %s of the set "
			    "(by %.3g pp; tolerance %.3g pp)%s", kept->name,
			    pct(a, sizeof a, kept->share), pct(b, sizeof b, after), 100 * d,
			    100 * lim, st == BL_CHECK_ACCEPTED ? " (accepted)" : "");
		}
		if (lim > 0 && d / lim > worst) {
			worst = d / lim;
			wn = kept;
			wd = d;
			wl = lim;
			wdef = def;
			wline = al;
			wa = after;
		}
	}
	if (!any && wn) {
		char a[32], b[32];
		add(k, BL_CHECK_SHIFT, BL_CHECK_OK, 0, wn->name, wd, wl, wdef, wline,
		    "labels no policy line names stay within their tolerance (closest: %s, %s "
		    "-> %s)", wn->name, pct(a, sizeof a, wn->share), pct(b, sizeof b, wa));
	}
}

int bl_rb_check_index(bl_rb_summary *s, const bl_strlist *problems)
{
	struct ck k = {s, NULL, 0, 0};

	if (!s || !problems)
		return BL_EUSAGE;
	k.alloc = s->nchecks;
	for (size_t i = 0; i < problems->n; i++)
		add(&k, BL_CHECK_INDEX, BL_CHECK_FAILED, 0, NULL, NAN, NAN, NAN, 0,
		    "the index: %s", problems->items[i]);
	s->ok = bl_rb_summary_count(s, BL_CHECK_FAILED) == 0;
	return k.nomem ? BL_ENOMEM : BL_OK;
}

int bl_rb_check_plan(bl_rb_summary *s, const bl_policy *p)
{
	struct ck k = {s, p, 0, 0};

	if (!s || !p)
		return BL_EUSAGE;
	k.alloc = s->nchecks;
	check_drops(&k);
	check_cells(&k);
	check_gaps(&k);
	check_targets(&k);
	check_cost(&k);
	check_shifts(&k);
	s->ok = bl_rb_summary_count(s, BL_CHECK_FAILED) == 0;
	return k.nomem ? BL_ENOMEM : BL_OK;
}
