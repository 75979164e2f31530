/*
 * stats.c - bl_stats, the weighted accumulator behind reports and the
 * rebalancer's before/after tables, and the interval helpers (Wilson,
 * Woolf odds ratio, Kish effective sample size).
 *
 * The accumulator sees one row per sample: a label set and a weight.  It
 * keeps everything the report needs in arrays sized by the number of
 * labels (at most BL_MAX_LABELS) and of roll-up nodes derived from their
 * dotted names, so its memory never depends on the number of rows and two
 * accumulators fed disjoint rows merge by addition (threads, shards,
 * array tasks).  Weighted counts are sums of weights; every interval uses
 * Kish's effective sample size (Sum w)^2 / Sum w^2 in place of n, which
 * is exact for equal weights and the usual design-effect approximation
 * otherwise.  Nothing here reads files or prints.
 */
#include "index_int.h"
#include "stats_int.h"
#include "ballast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define Z95 1.959963984540054

/* ---- interval helpers ---------------------------------------------------- */

void bl_stats_wilson(double p, double n, double z, double *lo, double *hi)
{
	double l = 0.0, h = 1.0;

	if (z <= 0)
		z = Z95;
	if (!(p >= 0))
		p = 0;
	if (p > 1)
		p = 1;
	if (n > 0) {
		double z2 = z * z;
		double den = 1 + z2 / n;
		double mid = (p + z2 / (2 * n)) / den;
		double half = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den;
		l = mid - half;
		h = mid + half;
		if (l < 0)
			l = 0;
		if (h > 1)
			h = 1;
		/* exact at the boundaries, whatever the rounding */
		if (p == 0)
			l = 0;
		if (p == 1)
			h = 1;
	}
	if (lo)
		*lo = l;
	if (hi)
		*hi = h;
}

double bl_stats_odds_ratio(double a, double b, double c, double d, double z,
			   double *lo, double *hi)
{
	double or_ = NAN, l = NAN, h = NAN;

	if (z <= 0)
		z = Z95;
	if (!(a > 0))
		a = 0;
	if (!(b > 0))
		b = 0;
	if (!(c > 0))
		c = 0;
	if (!(d > 0))
		d = 0;
	/* an empty row or column carries no information about association */
	if (a + b > 0 && c + d > 0 && a + c > 0 && b + d > 0) {
		double se;
		if (a == 0 || b == 0 || c == 0 || d == 0) {
			a += 0.5;
			b += 0.5;
			c += 0.5;
			d += 0.5;
		}
		or_ = (a * d) / (b * c);
		se = sqrt(1 / a + 1 / b + 1 / c + 1 / d);
		l = exp(log(or_) - z * se);
		h = exp(log(or_) + z * se);
	}
	if (lo)
		*lo = l;
	if (hi)
		*hi = h;
	return or_;
}

double bl_stats_kish(double sum_w, double sum_w2)
{
	return sum_w2 > 0 ? sum_w * sum_w / sum_w2 : 0.0;
}

/* ---- the accumulator ----------------------------------------------------- */

/* A skew cell or a gender margin. */
struct cell {
	uint64_t rows, ev_rows, ev2_rows;
	double w, w2, ev, ev2;
};

struct bl_stats {
	int nl;                 /* labels */
	char *names[BL_MAX_LABELS];
	int nn;                 /* nodes: labels and roll-ups, sorted */
	char **nodes;
	unsigned char *is_family;
	int *anc_off, *anc;     /* label l's nodes: anc[anc_off[l]..anc_off[l+1]) */

	/* settings, fixed once rows arrive */
	char *fam[4];           /* group, gender, outcome, outcome2 */
	bl_labelset filter;
	int has_filter;
	int started;

	/* derived from the settings at the first row */
	int ng;                 /* group nodes */
	int *gnode;             /* node id of group node i */
	int *node_gi;           /* node id -> group index or -1 */
	int ngd;                /* gender labels */
	int gender[BL_MAX_LABELS];
	int label_gdi[BL_MAX_LABELS]; /* label -> gender index or -1 */
	bl_labelset out1, out2;

	/* counts */
	uint64_t rows, skipped;
	double w, w2;
	uint64_t lab_rows[BL_MAX_LABELS];
	double lab_w[BL_MAX_LABELS], lab_w2[BL_MAX_LABELS];
	uint64_t *node_rows;
	double *node_w, *node_w2;
	uint64_t *co_rows;      /* nn x nl */
	double *co_w;
	struct cell *cells;     /* ng x (ngd + 1); column 0: all genders */
	struct cell base[BL_MAX_LABELS + 1];

	/* per-row scratch */
	uint64_t stamp;
	uint64_t *node_stamp;
	int *hit;

	/* skew table result */
	bl_stats_skew *skew;
	size_t nskew;
};

static const char *const default_fam[4] = {"group", "gender", "sexual", "attire"};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void bl_stats_free(bl_stats *st)
{
	if (!st)
		return;
	for (int i = 0; i < st->nl; i++)
		free(st->names[i]);
	for (int i = 0; i < st->nn; i++)
		free(st->nodes[i]);
	for (int i = 0; i < 4; i++)
		free(st->fam[i]);
	free(st->nodes);
	free(st->is_family);
	free(st->anc_off);
	free(st->anc);
	free(st->gnode);
	free(st->node_gi);
	free(st->node_rows);
	free(st->node_w);
	free(st->node_w2);
	free(st->co_rows);
	free(st->co_w);
	free(st->cells);
	free(st->node_stamp);
	free(st->hit);
	free(st->skew);
	free(st);
}

/* Collect the labels and all their proper dotted prefixes, sorted, unique. */
static int build_nodes(bl_stats *st)
{
	size_t cap = 0, n = 0;
	char **v = NULL;
	int rc = BL_ENOMEM;

	for (int i = 0; i < st->nl; i++)
		cap += 1 + strlen(st->names[i]); /* at most one node per dot */
	v = calloc(cap ? cap : 1, sizeof *v);
	if (!v)
		goto out;
	for (int i = 0; i < st->nl; i++) {
		const char *s = st->names[i];
		if (!(v[n++] = strdup(s)))
			goto out;
		for (const char *p = strchr(s, '.'); p; p = strchr(p + 1, '.'))
			if (!(v[n++] = strndup(s, (size_t)(p - s))))
				goto out;
	}
	qsort(v, n, sizeof *v, cmp_str);
	st->nodes = calloc(n ? n : 1, sizeof *st->nodes);
	if (!st->nodes)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (st->nn > 0 && strcmp(st->nodes[st->nn - 1], v[i]) == 0) {
			free(v[i]);
		} else {
			st->nodes[st->nn++] = v[i];
		}
		v[i] = NULL;
	}
	rc = BL_OK;
out:
	if (v)
		for (size_t i = 0; i < n; i++)
			free(v[i]);
	free(v);
	return rc;
}

bl_stats *bl_stats_new(int n, const char *const *names)
{
	bl_stats *st;
	size_t total = 0;

	if (n < 0 || n > BL_MAX_LABELS || (n > 0 && !names))
		return NULL;
	st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	for (int i = 0; i < n; i++) {
		st->names[i] = strdup(names[i] ? names[i] : "");
		if (!st->names[i])
			goto fail;
		st->nl = i + 1;
	}
	if (build_nodes(st) != BL_OK)
		goto fail;
	st->is_family = calloc((size_t)st->nn + 1, 1);
	st->anc_off = calloc((size_t)st->nl + 1, sizeof *st->anc_off);
	if (!st->is_family || !st->anc_off)
		goto fail;
	for (int l = 0; l < st->nl; l++)
		for (int k = 0; k < st->nn; k++)
			if (bl_label_in_family(st->names[l], st->nodes[k])) {
				total++;
				if (strcmp(st->names[l], st->nodes[k]) != 0)
					st->is_family[k] = 1;
			}
	st->anc = calloc(total ? total : 1, sizeof *st->anc);
	st->node_rows = calloc((size_t)st->nn + 1, sizeof *st->node_rows);
	st->node_w = calloc((size_t)st->nn + 1, sizeof *st->node_w);
	st->node_w2 = calloc((size_t)st->nn + 1, sizeof *st->node_w2);
	st->co_rows = calloc((size_t)st->nn * (size_t)st->nl + 1, sizeof *st->co_rows);
	st->co_w = calloc((size_t)st->nn * (size_t)st->nl + 1, sizeof *st->co_w);
	st->node_stamp = calloc((size_t)st->nn + 1, sizeof *st->node_stamp);
	st->hit = calloc((size_t)st->nn + 1, sizeof *st->hit);
	st->node_gi = calloc((size_t)st->nn + 1, sizeof *st->node_gi);
	if (!st->anc || !st->node_rows || !st->node_w || !st->node_w2 || !st->co_rows ||
	    !st->co_w || !st->node_stamp || !st->hit || !st->node_gi)
		goto fail;
	total = 0;
	for (int l = 0; l < st->nl; l++) {
		st->anc_off[l] = (int)total;
		for (int k = 0; k < st->nn; k++)
			if (bl_label_in_family(st->names[l], st->nodes[k]))
				st->anc[total++] = k;
	}
	st->anc_off[st->nl] = (int)total;
	return st;
fail:
	bl_stats_free(st);
	return NULL;
}

bl_stats *bl_stats_new_index(const bl_index *ix)
{
	const char *names[BL_MAX_LABELS];
	int n = bl_index_nlabels(ix);

	if (!ix || n < 0 || n > BL_MAX_LABELS)
		return NULL;
	for (int i = 0; i < n; i++)
		names[i] = bl_index_label(ix, i);
	return bl_stats_new(n, names);
}

int bl_stats_set_skew(bl_stats *st, const char *group, const char *gender,
		      const char *outcome, const char *outcome2)
{
	const char *v[4] = {group, gender, outcome, outcome2};
	char *c[4] = {NULL, NULL, NULL, NULL};
	int rc = BL_ENOMEM;

	if (!st || st->started)
		return BL_EUSAGE;
	for (int i = 0; i < 4; i++)
		if (v[i] && !(c[i] = strdup(v[i])))
			goto out;
	for (int i = 0; i < 4; i++) {
		if (!c[i])
			continue;
		free(st->fam[i]);
		st->fam[i] = c[i];
		c[i] = NULL;
	}
	rc = BL_OK;
out:
	for (int i = 0; i < 4; i++)
		free(c[i]);
	return rc;
}

int bl_stats_set_filter(bl_stats *st, const bl_labelset *all_of)
{
	if (!st || st->started)
		return BL_EUSAGE;
	st->has_filter = 0;
	bl_labelset_clear(&st->filter);
	if (all_of)
		for (size_t i = 0; i < BL_MAX_LABELS / 64; i++) {
			st->filter.w[i] = all_of->w[i];
			if (all_of->w[i])
				st->has_filter = 1;
		}
	return BL_OK;
}

static const char *fam(const bl_stats *st, int i)
{
	return st->fam[i] ? st->fam[i] : default_fam[i];
}

/* Fix the skew table's shape from the settings, at the first row. */
static int start(bl_stats *st)
{
	const char *gfam = fam(st, 0);

	st->ng = 0;
	st->gnode = calloc((size_t)st->nn + 1, sizeof *st->gnode);
	if (!st->gnode)
		return BL_ENOMEM;
	for (int k = 0; k < st->nn; k++) {
		st->node_gi[k] = -1;
		if (strcmp(st->nodes[k], gfam) != 0 &&
		    bl_label_in_family(st->nodes[k], gfam)) {
			st->node_gi[k] = st->ng;
			st->gnode[st->ng++] = k;
		}
	}
	st->ngd = 0;
	bl_labelset_clear(&st->out1);
	bl_labelset_clear(&st->out2);
	for (int l = 0; l < st->nl; l++) {
		st->label_gdi[l] = -1;
		if (bl_label_in_family(st->names[l], fam(st, 1))) {
			st->label_gdi[l] = st->ngd;
			st->gender[st->ngd++] = l;
		}
		if (bl_label_in_family(st->names[l], fam(st, 2)))
			bl_labelset_set(&st->out1, l);
		if (bl_label_in_family(st->names[l], fam(st, 3)))
			bl_labelset_set(&st->out2, l);
	}
	st->cells = calloc((size_t)st->ng * (size_t)(st->ngd + 1) + 1, sizeof *st->cells);
	if (!st->cells)
		return BL_ENOMEM;
	st->started = 1;
	return BL_OK;
}

/* n rows whose weights sum to w, their squares to w2. */
static void cell_add(struct cell *c, uint64_t n, double w, double w2, int e1,
		     int e2)
{
	c->rows += n;
	c->w += w;
	c->w2 += w2;
	if (e1) {
		c->ev_rows += n;
		c->ev += w;
	}
	if (e2) {
		c->ev2_rows += n;
		c->ev2 += w;
	}
}

static int intersects(const bl_labelset *a, const bl_labelset *b)
{
	for (size_t i = 0; i < BL_MAX_LABELS / 64; i++)
		if (a->w[i] & b->w[i])
			return 1;
	return 0;
}

int bl_stats_add(bl_stats *st, const bl_labelset *labels, double weight)
{
	return bl_stats_add_n(st, labels, 1, weight, weight * weight);
}

int bl_stats_add_n(bl_stats *st, const bl_labelset *labels, uint64_t n,
		   double weight, double w2)
{
	int set[BL_MAX_LABELS], nset = 0, nhit = 0, gd[BL_MAX_LABELS], ngd = 0;
	bl_labelset ls;
	int e1, e2;
	size_t nw = ((size_t)BL_MAX_LABELS) / 64;

	if (!st || !labels || n == 0 || !(weight >= 0) || !isfinite(weight) ||
	    !(w2 >= 0))
		return BL_EUSAGE;
	if (!st->started && start(st) != BL_OK)
		return BL_ENOMEM;
	/* labels beyond the known ids are ignored */
	bl_labelset_clear(&ls);
	for (int l = 0; l < st->nl; l++)
		if (bl_labelset_has(labels, l))
			bl_labelset_set(&ls, l);
	if (st->has_filter)
		for (size_t i = 0; i < nw; i++)
			if ((ls.w[i] & st->filter.w[i]) != st->filter.w[i]) {
				st->skipped += n;
				return BL_OK;
			}
	st->rows += n;
	st->w += weight;
	st->w2 += w2;
	st->stamp++;
	for (int l = 0; l < st->nl; l++) {
		if (!bl_labelset_has(&ls, l))
			continue;
		set[nset++] = l;
		st->lab_rows[l] += n;
		st->lab_w[l] += weight;
		st->lab_w2[l] += w2;
		if (st->label_gdi[l] >= 0)
			gd[ngd++] = st->label_gdi[l];
		for (int k = st->anc_off[l]; k < st->anc_off[l + 1]; k++) {
			int node = st->anc[k];
			if (st->node_stamp[node] != st->stamp) {
				st->node_stamp[node] = st->stamp;
				st->hit[nhit++] = node;
			}
		}
	}
	e1 = intersects(&ls, &st->out1);
	e2 = intersects(&ls, &st->out2);
	cell_add(&st->base[0], n, weight, w2, e1, e2);
	for (int g = 0; g < ngd; g++)
		cell_add(&st->base[1 + gd[g]], n, weight, w2, e1, e2);
	for (int h = 0; h < nhit; h++) {
		int node = st->hit[h], gi = st->node_gi[node];
		size_t row = (size_t)node * (size_t)st->nl;
		st->node_rows[node] += n;
		st->node_w[node] += weight;
		st->node_w2[node] += w2;
		for (int s = 0; s < nset; s++) {
			st->co_rows[row + (size_t)set[s]] += n;
			st->co_w[row + (size_t)set[s]] += weight;
		}
		if (gi >= 0) {
			struct cell *c = &st->cells[(size_t)gi * (size_t)(st->ngd + 1)];
			cell_add(&c[0], n, weight, w2, e1, e2);
			for (int g = 0; g < ngd; g++)
				cell_add(&c[1 + gd[g]], n, weight, w2, e1, e2);
		}
	}
	return BL_OK;
}

int bl_stats_add_bits(bl_stats *st, const void *bits, size_t len, double weight)
{
	const unsigned char *p = bits;
	bl_labelset ls;

	if (!st || (!bits && len))
		return BL_EUSAGE;
	bl_labelset_clear(&ls);
	if (len > BL_MAX_LABELS / 8)
		len = BL_MAX_LABELS / 8;
	for (size_t i = 0; i < len; i++)
		ls.w[i / 8] |= (uint64_t)p[i] << (8 * (i % 8));
	return bl_stats_add(st, &ls, weight);
}

static void cell_merge(struct cell *d, const struct cell *s)
{
	d->rows += s->rows;
	d->ev_rows += s->ev_rows;
	d->ev2_rows += s->ev2_rows;
	d->w += s->w;
	d->w2 += s->w2;
	d->ev += s->ev;
	d->ev2 += s->ev2;
}

int bl_stats_merge(bl_stats *dst, const bl_stats *src)
{
	size_t nco;

	if (!dst || !src || dst->nl != src->nl || dst->nn != src->nn)
		return BL_EUSAGE;
	for (int l = 0; l < dst->nl; l++)
		if (strcmp(dst->names[l], src->names[l]) != 0)
			return BL_EUSAGE;
	for (int i = 0; i < 4; i++)
		if (strcmp(fam(dst, i), fam(src, i)) != 0)
			return BL_EUSAGE;
	if (dst->has_filter != src->has_filter ||
	    memcmp(&dst->filter, &src->filter, sizeof dst->filter) != 0)
		return BL_EUSAGE;
	if (!src->started)
		return BL_OK;
	if (!dst->started && start(dst) != BL_OK)
		return BL_ENOMEM;
	dst->rows += src->rows;
	dst->skipped += src->skipped;
	dst->w += src->w;
	dst->w2 += src->w2;
	for (int l = 0; l < dst->nl; l++) {
		dst->lab_rows[l] += src->lab_rows[l];
		dst->lab_w[l] += src->lab_w[l];
		dst->lab_w2[l] += src->lab_w2[l];
	}
	for (int k = 0; k < dst->nn; k++) {
		dst->node_rows[k] += src->node_rows[k];
		dst->node_w[k] += src->node_w[k];
		dst->node_w2[k] += src->node_w2[k];
	}
	nco = (size_t)dst->nn * (size_t)dst->nl;
	for (size_t i = 0; i < nco; i++) {
		dst->co_rows[i] += src->co_rows[i];
		dst->co_w[i] += src->co_w[i];
	}
	for (size_t i = 0; i < (size_t)dst->ng * (size_t)(dst->ngd + 1); i++)
		cell_merge(&dst->cells[i], &src->cells[i]);
	for (int g = 0; g <= dst->ngd; g++)
		cell_merge(&dst->base[g], &src->base[g]);
	return BL_OK;
}

void bl_stats_totals_get(const bl_stats *st, bl_stats_totals *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	if (!st)
		return;
	out->rows = st->rows;
	out->skipped = st->skipped;
	out->w = st->w;
	out->w2 = st->w2;
	out->ess = bl_stats_kish(st->w, st->w2);
}

int bl_stats_nlabels(const bl_stats *st)
{
	return st ? st->nl : 0;
}

const char *bl_stats_label_name(const bl_stats *st, int id)
{
	return st && id >= 0 && id < st->nl ? st->names[id] : NULL;
}

int bl_stats_nnodes(const bl_stats *st)
{
	return st ? st->nn : 0;
}

const char *bl_stats_node_name(const bl_stats *st, int node)
{
	return st && node >= 0 && node < st->nn ? st->nodes[node] : NULL;
}

int bl_stats_node_find(const bl_stats *st, const char *name)
{
	int lo = 0, hi;

	if (!st || !name)
		return -1;
	hi = st->nn - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2, c = strcmp(st->nodes[mid], name);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

int bl_stats_node_is_family(const bl_stats *st, int node)
{
	return st && node >= 0 && node < st->nn ? st->is_family[node] : 0;
}

static void fill_count(bl_stats_count *out, uint64_t rows, double w, double w2,
		       double tot_w, double tot_w2)
{
	out->rows = rows;
	out->w = w;
	out->w2 = w2;
	out->share = tot_w > 0 ? w / tot_w : 0.0;
	bl_stats_wilson(out->share, bl_stats_kish(tot_w, tot_w2), Z95, &out->lo, &out->hi);
}

int bl_stats_label(const bl_stats *st, int id, bl_stats_count *out)
{
	if (!st || !out || id < 0 || id >= st->nl)
		return BL_EUSAGE;
	fill_count(out, st->lab_rows[id], st->lab_w[id], st->lab_w2[id], st->w, st->w2);
	return BL_OK;
}

int bl_stats_node(const bl_stats *st, int node, bl_stats_count *out)
{
	if (!st || !out || node < 0 || node >= st->nn)
		return BL_EUSAGE;
	fill_count(out, st->node_rows[node], st->node_w[node], st->node_w2[node], st->w,
		   st->w2);
	return BL_OK;
}

int bl_stats_cond(const bl_stats *st, int given, int id, bl_stats_count *out)
{
	size_t i;

	if (!st || !out || given < 0 || given >= st->nn || id < 0 || id >= st->nl)
		return BL_EUSAGE;
	i = (size_t)given * (size_t)st->nl + (size_t)id;
	/* Sum w^2 of the joint cell is not kept; only its share matters */
	fill_count(out, st->co_rows[i], st->co_w[i], NAN, st->node_w[given],
		   st->node_w2[given]);
	return BL_OK;
}

/* ---- the skew table ------------------------------------------------------ */

/* Lifts compare to nine decimals: equal lifts summed in another order
 * (rows one by one, or a label set at a time) must not swap places. */
static double lift_key(double lift)
{
	return nearbyint(lift * 1e9);
}

static int cmp_skew(const void *pa, const void *pb)
{
	const bl_stats_skew *a = pa, *b = pb;
	int an = isnan(a->lift), bn = isnan(b->lift), c;

	if (an != bn)
		return an - bn;
	if (!an && lift_key(a->lift) != lift_key(b->lift))
		return lift_key(a->lift) > lift_key(b->lift) ? -1 : 1;
	c = strcmp(a->group, b->group);
	if (c)
		return c;
	if (!a->gender || !b->gender)
		return (a->gender != NULL) - (b->gender != NULL);
	return strcmp(a->gender, b->gender);
}

/* Rate, Wilson interval and lift of one outcome in a cell. */
static void outcome(const struct cell *c, const struct cell *b, double ev, double bev,
		    double *rate, double *lo, double *hi, double *lift)
{
	double ess = bl_stats_kish(c->w, c->w2);
	double base = b->w > 0 ? bev / b->w : NAN;

	*rate = c->w > 0 ? ev / c->w : NAN;
	bl_stats_wilson(c->w > 0 ? *rate : 0, ess, Z95, lo, hi);
	*lift = base > 0 && c->w > 0 ? *rate / base : NAN;
}

/* Why the odds ratio of a 2x2 table with effective cells a b / c d is not
 * given, or NULL when every cell holds something.  A zero cell makes the
 * sample odds ratio 0 or infinite; Haldane's +0.5 would give a finite
 * number that can even point the other way (a cell with no event at all
 * reported with an odds ratio above 1 when the rest of its gender is
 * small), so the skew table gives none and says why. */
static const char *or_undefined(double a, double b, double c, double d)
{
	if (!(c + d > 0))
		return "no other samples";
	if (!(a > 0))
		return "0 events";
	if (!(b > 0))
		return "every sample has an event";
	if (!(c > 0))
		return "0 events in the rest";
	if (!(d > 0))
		return "every other sample has an event";
	return NULL;
}

/* Rate ratio p1/p2 of two proportions with effective events e1, e2 over
 * effective sizes n1, n2 and its 95% interval: the delta method on the
 * log, Var = (1-p1)/e1 + (1-p2)/e2; with no event on a side, the ratio
 * of the Wilson bounds instead (unbounded: NAN). */
static void rate_ratio(double e1, double n1, double e2, double n2, double *rr, double *lo,
		       double *hi)
{
	double p1 = n1 > 0 ? e1 / n1 : NAN, p2 = n2 > 0 ? e2 / n2 : NAN;

	*rr = *lo = *hi = NAN;
	if (!(n1 > 0) || !(n2 > 0))
		return;
	*rr = p2 > 0 ? p1 / p2 : NAN;
	if (e1 > 0 && e2 > 0) {
		double var = (1 - p1) / e1 + (1 - p2) / e2;
		double se = var > 0 ? sqrt(var) : 0;
		*lo = *rr * exp(-Z95 * se);
		*hi = *rr * exp(Z95 * se);
	} else {
		double l1, h1, l2, h2;
		bl_stats_wilson(p1, n1, Z95, &l1, &h1);
		bl_stats_wilson(p2, n2, Z95, &l2, &h2);
		*lo = h2 > 0 ? l1 / h2 : NAN;
		*hi = l2 > 0 ? h1 / l2 : NAN;
	}
}

static void skew_row(const bl_stats *st, const struct cell *c, const struct cell *b,
		     double min_rows, double min_events, bl_stats_skew *r)
{
	double ess = bl_stats_kish(c->w, c->w2), bess = bl_stats_kish(b->w, b->w2);
	double rest_w = b->w - c->w, rest_w2 = b->w2 - c->w2, rest_ev = b->ev - c->ev;
	double rest_ess, sc, sr, a4[4];

	r->rows = c->rows;
	r->n = c->w;
	r->ess = ess;
	r->events = c->ev;
	outcome(c, b, c->ev, b->ev, &r->rate, &r->rate_lo, &r->rate_hi, &r->lift);
	r->base_rate = b->w > 0 ? b->ev / b->w : NAN;
	r->lift_lo = r->lift_hi = NAN;
	if (isfinite(r->lift)) {
		/* effective events of the cell and of its base */
		double e = c->ev * (ess / c->w), E = b->ev * (bess / b->w);
		double p = r->rate, q = r->base_rate;
		if (e > 0 && E > 0) {
			double var = (1 - p) / e - (1 + q - 2 * p) / E;
			double se = var > 0 ? sqrt(var) : 0;
			r->lift_lo = r->lift * exp(-Z95 * se);
			r->lift_hi = r->lift * exp(Z95 * se);
		} else {
			r->lift_lo = 0;
			r->lift_hi = r->rate_hi / q;
		}
	}
	/* rounding can leave tiny negatives when the cell is the whole base */
	if (rest_w < 0)
		rest_w = 0;
	if (rest_w2 < 0)
		rest_w2 = 0;
	if (rest_ev < 0)
		rest_ev = 0;
	if (rest_ev > rest_w)
		rest_ev = rest_w;
	/* the cell's events can exceed the base's by rounding alone */
	if (rest_w < 1e-9 * (b->w > 0 ? b->w : 1))
		rest_w = rest_w2 = rest_ev = 0;
	rest_ess = bl_stats_kish(rest_w, rest_w2);
	sc = c->w > 0 ? ess / c->w : 0;
	sr = rest_w > 0 ? rest_ess / rest_w : 0;
	r->rest_rate = rest_w > 0 ? rest_ev / rest_w : NAN;
	r->base_n = b->w;
	r->base_ess = bess;
	r->rest_n = rest_w;
	r->rest_ess = rest_ess;
	rate_ratio(c->ev * sc, ess, rest_ev * sr, rest_ess, &r->rate_ratio, &r->rr_lo,
		   &r->rr_hi);
	a4[0] = c->ev * sc;
	a4[1] = (c->w - c->ev) * sc;
	a4[2] = rest_ev * sr;
	a4[3] = (rest_w - rest_ev) * sr;
	r->or_note = or_undefined(a4[0], a4[1], a4[2], a4[3]);
	if (r->or_note)
		r->odds_ratio = r->or_lo = r->or_hi = NAN;
	else
		r->odds_ratio = bl_stats_odds_ratio(a4[0], a4[1], a4[2], a4[3], Z95, &r->or_lo,
						    &r->or_hi);
	r->events2 = c->ev2;
	outcome(c, b, c->ev2, b->ev2, &r->rate2, &r->rate2_lo, &r->rate2_hi, &r->lift2);
	r->small = (double)c->rows < min_rows || (double)c->ev_rows < min_events;
}

int bl_stats_skew_table(bl_stats *st, double min_rows, double min_events,
			const bl_stats_skew **rows, size_t *nrows)
{
	size_t n = 0, cap;
	bl_stats_skew *v;

	if (!st || !rows || !nrows)
		return BL_EUSAGE;
	*rows = NULL;
	*nrows = 0;
	if (min_rows <= 0)
		min_rows = 30;
	if (min_events <= 0)
		min_events = 5;
	if (!st->started && start(st) != BL_OK)
		return BL_ENOMEM;
	cap = (size_t)st->ng * (size_t)(st->ngd + 1);
	v = calloc(cap ? cap : 1, sizeof *v);
	if (!v)
		return BL_ENOMEM;
	for (int gi = 0; gi < st->ng; gi++) {
		const struct cell *c = &st->cells[(size_t)gi * (size_t)(st->ngd + 1)];
		for (int j = 0; j <= st->ngd; j++) {
			bl_stats_skew *r;
			if (c[j].rows == 0)
				continue;
			r = &v[n++];
			r->group = st->nodes[st->gnode[gi]];
			r->gender = j ? st->names[st->gender[j - 1]] : NULL;
			skew_row(st, &c[j], &st->base[j], min_rows, min_events, r);
		}
	}
	qsort(v, n, sizeof *v, cmp_skew);
	free(st->skew);
	st->skew = v;
	st->nskew = n;
	*rows = v;
	*nrows = n;
	return BL_OK;
}
