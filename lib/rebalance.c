/*
 * rebalance.c - from a policy and an index to one weight per cell.
 *
 * The rebalancer is a reduce followed by a map.  The reduce
 * (bl_rebalance_plan) reads every sample's label bits through one index
 * cursor and counts the distinct label sets ("full cells", in an open-
 * addressing hash map: no allocation per row).  Projecting each full cell
 * on the labels the policy reads gives the policy cells, and every method
 * of the policy is a computation on the policy cells' weighted counts
 * alone: safety and drop zero a cell, cap multiplies it by a keep
 * probability, independent by Kamiran-Calders' P(a)P(b)/P(a,b), targets
 * rake the cells until every declared share holds.  A cell's weight is
 * therefore a function of global counts and the cell, nothing else, which
 * is what lets the work split over machines: merge the cell counts, plan
 * once, map each shard anywhere.
 *
 * The map (bl_rebalance_next) turns a sample's cell weight into what the
 * manifest holds: the weight itself, an integer number of copies
 * (stochastic rounding) or a keep/skip draw.  Each draw comes from a PRNG
 * stream seeded by (seed, shard id, ordinal), so results depend on
 * neither thread count nor order.  Before/after statistics (shares, skew
 * table, Kish ESS) come from lib/stats.c accumulators fed per sample.
 *
 * Assumes label ids of the index are stable (they are: schema 1) and that
 * the index does not change between plan and map.
 */
#include "rebalance_int.h"
#include "error_int.h"
#include "alloc_int.h"
#include "index_int.h"
#include "rb_summary_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NW (BL_MAX_LABELS / 64)
#define DEFAULT_MAX_REPEAT 100.0
#define RAKE_MAX_ITER 2000
#define RAKE_TOL 1e-12

/* A distinct full label set of the index. */
struct fcell {
	bl_labelset key;
	uint64_t n;
	uint32_t pc;        /* its policy cell */
	uint64_t written;
	double sum_w, sum_w2; /* of the written rows; they feed the "after"
			       * statistics once, in bl_rebalance_finish */
};

/* Open-addressing map from a label set to an index into some array. */
struct lsmap {
	uint32_t *slot; /* index + 1; 0 = empty */
	size_t cap;     /* power of two */
	size_t n;
};

/* What a rule needs at plan and report time. */
struct rinfo {
	bl_labelset fam[3];         /* family masks */
	bl_labelset tmask[BL_POLICY_MAX_TARGETS]; /* target: per listed label */
	double rest;                /* target: effective rest share */
	int has_rest_samples;
	uint64_t dropped;           /* drop: samples */
	int unbound;                /* drop: names matching no label */
	/* cap: expected share of each label of the family right after it */
	double cap_share[BL_MAX_LABELS];
	double cap_count[BL_MAX_LABELS];
};

struct bl_rebalance {
	const bl_policy *p;
	uint64_t seed;
	int planned, finished;
	bl_buf errmsg;
	int nlabels;
	const char *labels[BL_MAX_LABELS]; /* = label_store, as const */
	char *label_store[BL_MAX_LABELS];  /* copies of the index's names */
	bl_labelset mask;      /* the labels of the safety rule */
	bl_labelset safety[3]; /* [b]: labels on side 1 << b (bl_label_safety) */
	struct fcell *fc;
	size_t nfc, fc_alloc;
	struct lsmap fmap, pmap;
	bl_rb_cell *pc;
	size_t npc, pc_alloc;
	struct rinfo *ri;
	int nri;
	int realise;
	double max_repeat, scale;
	uint64_t clipped;
	bl_rb_totals t;
	bl_stats *before, *after;
	bl_rb_summary sum;   /* after bl_rebalance_finish */
	char *summary;       /* sum as JSON */
	uint64_t clipped_samples; /* `clip weight`: samples it lowered */
	bl_strlist index_problems; /* bl_index_warnings of the planned index */
	double floor_mix;    /* `floor ess`: uniform weight mixed in */
	/* last lookup, for runs of equal label sets */
	bl_labelset last_key;
	struct fcell *last;
};

/* ---- small helpers ----------------------------------------------------- */

static int ls_any(const bl_labelset *a, const bl_labelset *m)
{
	for (int i = 0; i < NW; i++)
		if (a->w[i] & m->w[i])
			return 1;
	return 0;
}

static int ls_eq(const bl_labelset *a, const bl_labelset *b)
{
	return memcmp(a->w, b->w, sizeof a->w) == 0;
}

static void ls_and(bl_labelset *out, const bl_labelset *a, const bl_labelset *m)
{
	for (int i = 0; i < NW; i++)
		out->w[i] = a->w[i] & m->w[i];
}

static void ls_or(bl_labelset *a, const bl_labelset *b)
{
	for (int i = 0; i < NW; i++)
		a->w[i] |= b->w[i];
}

static int ls_empty(const bl_labelset *a)
{
	for (int i = 0; i < NW; i++)
		if (a->w[i])
			return 0;
	return 1;
}

static uint64_t ls_hash(const bl_labelset *k)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < NW; i++) {
		h ^= k->w[i];
		h *= 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	return h;
}

/* Bits of samples.bits into a label set (bytes past BL_MAX_LABELS/8 are
 * ignored). */
static void ls_from_bits(bl_labelset *ls, const void *bits, size_t n)
{
	const unsigned char *b = bits;
	bl_labelset_clear(ls);
	if (n > BL_MAX_LABELS / 8)
		n = BL_MAX_LABELS / 8;
	for (size_t i = 0; i < n; i++)
		ls->w[i >> 3] |= (uint64_t)b[i] << (8 * (i & 7));
}

/* The family mask: ids of index labels in family f. */
static void family_mask(const bl_rebalance *rb, const char *f, bl_labelset *m)
{
	bl_labelset_clear(m);
	for (int id = 0; id < rb->nlabels; id++)
		if (bl_label_in_family(rb->labels[id], f))
			bl_labelset_set(m, id);
}

/* The child-safety rule on a cell's labels (bl_label_blocked). */
_Static_assert(BL_SAFETY_MINOR == 1 << 0 && BL_SAFETY_SEXUAL == 1 << 1 &&
		       BL_SAFETY_BLOCKED == 1 << 2,
	       "rb->safety[b] holds the labels on side 1 << b");
static int cell_blocked(const bl_rebalance *rb, const bl_labelset *ls)
{
	int sides = 0;
	for (int b = 0; b < 3; b++)
		if (ls_any(ls, &rb->safety[b]))
			sides |= 1 << b;
	return bl_label_blocked(sides);
}

static void lsmap_free(struct lsmap *m)
{
	free(m->slot);
	memset(m, 0, sizeof *m);
}

/*
 * Find key in m, where keys[i] is the key of entry i (stride bytes apart).
 * Returns the entry index, or -1 with *slot_out the empty slot to fill.
 */
static long lsmap_find(const struct lsmap *m, const bl_labelset *key,
		       const void *base, size_t stride, size_t *slot_out)
{
	size_t i = (size_t)ls_hash(key) & (m->cap - 1);
	for (;;) {
		uint32_t v = m->slot[i];
		if (!v) {
			*slot_out = i;
			return -1;
		}
		const bl_labelset *k = (const bl_labelset *)((const char *)base +
							     (size_t)(v - 1) * stride);
		if (ls_eq(k, key))
			return (long)(v - 1);
		i = (i + 1) & (m->cap - 1);
	}
}

/* Make room for one more entry (rehash at half load). */
static int lsmap_reserve(struct lsmap *m, const void *base, size_t stride)
{
	size_t ncap;
	uint32_t *ns;

	if (m->cap && (m->n + 1) * 2 <= m->cap)
		return BL_OK;
	ncap = m->cap ? m->cap * 2 : 1024;
	ns = calloc(ncap, sizeof *ns);
	if (!ns)
		return BL_ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		uint32_t v = m->slot[i];
		if (!v)
			continue;
		const bl_labelset *k = (const bl_labelset *)((const char *)base +
							     (size_t)(v - 1) * stride);
		size_t j = (size_t)ls_hash(k) & (ncap - 1);
		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = v;
	}
	free(m->slot);
	m->slot = ns;
	m->cap = ncap;
	return BL_OK;
}

/* Find or add the full cell of key. */
static struct fcell *fcell_get(bl_rebalance *rb, const bl_labelset *key, int add)
{
	size_t slot;
	long i;

	if (rb->last && ls_eq(&rb->last_key, key))
		return rb->last;
	if (!rb->fmap.cap)
		return NULL;
	i = lsmap_find(&rb->fmap, key, rb->fc, sizeof *rb->fc, &slot);
	if (i < 0) {
		if (!add || rb->nfc >= UINT32_MAX - 1)
			return NULL;
		if (BL_ALLOC_GROW(rb->fc, rb->nfc + 1, rb->fc_alloc) != BL_OK)
			return NULL;
		if (rb->fmap.cap && (rb->fmap.n + 1) * 2 > rb->fmap.cap) {
			if (lsmap_reserve(&rb->fmap, rb->fc, sizeof *rb->fc) != BL_OK)
				return NULL;
			lsmap_find(&rb->fmap, key, rb->fc, sizeof *rb->fc, &slot);
		}
		memset(&rb->fc[rb->nfc], 0, sizeof rb->fc[0]);
		rb->fc[rb->nfc].key = *key;
		rb->fmap.slot[slot] = (uint32_t)(rb->nfc + 1);
		rb->fmap.n++;
		i = (long)rb->nfc++;
	}
	rb->last = &rb->fc[i];
	rb->last_key = *key;
	return rb->last;
}

/* ",a,b," of the labels of ls, in id order. */
static char *names_of(const bl_rebalance *rb, const bl_labelset *ls)
{
	bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addch(&b, ',');
	for (int id = 0; id < rb->nlabels; id++)
		if (bl_labelset_has(ls, id)) {
			bl_buf_adds(&b, rb->labels[id]);
			bl_buf_addch(&b, ',');
		}
	return bl_buf_detach(&b, NULL);
}

/* ---- lifecycle --------------------------------------------------------- */

bl_rebalance *bl_rebalance_new(const bl_policy *p)
{
	bl_rebalance *rb;
	if (!p)
		return NULL;
	rb = calloc(1, sizeof *rb);
	if (!rb)
		return NULL;
	rb->p = p;
	bl_policy_seed(p, &rb->seed);
	bl_buf_init(&rb->errmsg, 4096);
	bl_strlist_init(&rb->index_problems);
	rb->realise = bl_policy_realise(p);
	rb->max_repeat = bl_policy_max_repeat(p) > 0 ? bl_policy_max_repeat(p) : DEFAULT_MAX_REPEAT;
	return rb;
}

static void rb_clear_plan(bl_rebalance *rb)
{
	for (size_t i = 0; i < rb->npc; i++)
		free((char *)rb->pc[i].names);
	free(rb->pc);
	rb->pc = NULL;
	rb->npc = rb->pc_alloc = 0;
	free(rb->fc);
	rb->fc = NULL;
	rb->nfc = rb->fc_alloc = 0;
	lsmap_free(&rb->fmap);
	lsmap_free(&rb->pmap);
	free(rb->ri);
	rb->ri = NULL;
	for (int i = 0; i < rb->nlabels; i++)
		free(rb->label_store[i]);
	rb->nlabels = 0;
	bl_stats_free(rb->before);
	bl_stats_free(rb->after);
	rb->before = rb->after = NULL;
	free(rb->summary);
	rb->summary = NULL;
	bl_rb_summary_release(&rb->sum);
	rb->last = NULL;
	bl_strlist_release(&rb->index_problems);
	rb->planned = rb->finished = 0;
}

void bl_rebalance_free(bl_rebalance *rb)
{
	if (!rb)
		return;
	rb_clear_plan(rb);
	bl_buf_release(&rb->errmsg);
	free(rb);
}

int bl_rebalance_set_seed(bl_rebalance *rb, uint64_t seed)
{
	if (!rb)
		return BL_EUSAGE;
	rb->seed = seed;
	return BL_OK;
}

uint64_t bl_rebalance_seed(const bl_rebalance *rb)
{
	return rb ? rb->seed : 0;
}

const char *bl_rebalance_errmsg(const bl_rebalance *rb)
{
	return rb && rb->errmsg.len ? rb->errmsg.buf : "no error";
}

const bl_policy *bl_rebalance_policy(const bl_rebalance *rb)
{
	return rb ? rb->p : NULL;
}

size_t bl_rebalance_ncells(const bl_rebalance *rb)
{
	return rb ? rb->npc : 0;
}

const bl_rb_cell *bl_rebalance_cell(const bl_rebalance *rb, size_t i)
{
	return rb && i < rb->npc ? &rb->pc[i] : NULL;
}

const bl_rb_totals *bl_rebalance_totals(const bl_rebalance *rb)
{
	return rb ? &rb->t : NULL;
}

const bl_rb_summary *bl_rebalance_summary(const bl_rebalance *rb)
{
	return rb && rb->summary ? &rb->sum : NULL;
}

const char *bl_rebalance_summary_json(const bl_rebalance *rb)
{
	return rb && rb->summary ? rb->summary : "{}";
}

/* ---- the plan ---------------------------------------------------------- */

/* Weighted mass of the policy cells matching mask (any label). */
static double mass_any(const bl_rebalance *rb, const bl_labelset *m)
{
	double s = 0;
	for (size_t i = 0; i < rb->npc; i++)
		if (ls_any(&rb->pc[i].labels, m))
			s += (double)rb->pc[i].n * rb->pc[i].weight;
	return s;
}

static double mass_all(const bl_rebalance *rb)
{
	double s = 0;
	for (size_t i = 0; i < rb->npc; i++)
		s += (double)rb->pc[i].n * rb->pc[i].weight;
	return s;
}

static int plan_cap(bl_rebalance *rb, const bl_policy_rule *r, struct rinfo *ri)
{
	double p[BL_MAX_LABELS], total;

	for (int id = 0; id < rb->nlabels; id++) {
		p[id] = 1;
		if (!bl_labelset_has(&ri->fam[0], id))
			continue;
		bl_labelset one;
		bl_labelset_clear(&one);
		bl_labelset_set(&one, id);
		double c = mass_any(rb, &one);
		p[id] = c > r->cap ? r->cap / c : 1;
	}
	for (size_t i = 0; i < rb->npc; i++) {
		bl_rb_cell *c = &rb->pc[i];
		double miss = 1;
		int any = 0;
		for (int id = 0; id < rb->nlabels; id++)
			if (bl_labelset_has(&ri->fam[0], id) && bl_labelset_has(&c->labels, id)) {
				miss *= 1 - p[id];
				any = 1;
			}
		if (any)
			c->weight *= 1 - miss;
	}
	total = mass_all(rb);
	for (int id = 0; id < rb->nlabels; id++) {
		if (!bl_labelset_has(&ri->fam[0], id))
			continue;
		bl_labelset one;
		bl_labelset_clear(&one);
		bl_labelset_set(&one, id);
		ri->cap_count[id] = mass_any(rb, &one);
		ri->cap_share[id] = total > 0 ? ri->cap_count[id] / total : 0;
	}
	return BL_OK;
}

/* Weighted sums over projections: a tiny map of label set -> double. */
struct psum {
	bl_labelset *keys;
	double *w;
	size_t n, alloc;
	struct lsmap m;
};

static long psum_add(struct psum *s, const bl_labelset *key, double w)
{
	size_t slot;
	long i = s->m.cap ? lsmap_find(&s->m, key, s->keys, sizeof *s->keys, &slot) : -1;
	if (i < 0) {
		size_t a1 = s->alloc, a2 = s->alloc;
		if (BL_ALLOC_GROW(s->keys, s->n + 1, a1) != BL_OK ||
		    BL_ALLOC_GROW(s->w, s->n + 1, a2) != BL_OK)
			return -1;
		s->alloc = a1 < a2 ? a1 : a2;
		if (lsmap_reserve(&s->m, s->keys, sizeof *s->keys) != BL_OK)
			return -1;
		lsmap_find(&s->m, key, s->keys, sizeof *s->keys, &slot);
		s->keys[s->n] = *key;
		s->w[s->n] = 0;
		s->m.slot[slot] = (uint32_t)(s->n + 1);
		s->m.n++;
		i = (long)s->n++;
	}
	s->w[i] += w;
	return i;
}

static double psum_get(const struct psum *s, const bl_labelset *key)
{
	size_t slot;
	long i = s->m.cap ? lsmap_find(&s->m, key, s->keys, sizeof *s->keys, &slot) : -1;
	return i < 0 ? 0 : s->w[i];
}

static void psum_free(struct psum *s)
{
	free(s->keys);
	free(s->w);
	lsmap_free(&s->m);
}

static int plan_independent(bl_rebalance *rb, const bl_policy_rule *r, struct rinfo *ri)
{
	struct psum ac = {0}, bc = {0}, cc = {0}, abc = {0};
	bl_labelset mac = ri->fam[0], mbc = ri->fam[1], mabc = ri->fam[0];
	int rc = BL_ENOMEM;

	ls_or(&mac, &ri->fam[2]);
	ls_or(&mbc, &ri->fam[2]);
	ls_or(&mabc, &ri->fam[1]);
	ls_or(&mabc, &ri->fam[2]);
	for (size_t i = 0; i < rb->npc; i++) {
		const bl_rb_cell *c = &rb->pc[i];
		double w = (double)c->n * c->weight;
		bl_labelset k;
		if (w <= 0)
			continue;
		ls_and(&k, &c->labels, &mac);
		if (psum_add(&ac, &k, w) < 0)
			goto out;
		ls_and(&k, &c->labels, &mbc);
		if (psum_add(&bc, &k, w) < 0)
			goto out;
		ls_and(&k, &c->labels, &ri->fam[2]);
		if (psum_add(&cc, &k, w) < 0)
			goto out;
		ls_and(&k, &c->labels, &mabc);
		if (psum_add(&abc, &k, w) < 0)
			goto out;
	}
	for (size_t i = 0; i < rb->npc; i++) {
		bl_rb_cell *c = &rb->pc[i];
		bl_labelset k;
		double wac, wbc, wc, wabc;
		if (c->weight <= 0 || c->n == 0)
			continue;
		ls_and(&k, &c->labels, &mac);
		wac = psum_get(&ac, &k);
		ls_and(&k, &c->labels, &mbc);
		wbc = psum_get(&bc, &k);
		ls_and(&k, &c->labels, &ri->fam[2]);
		wc = psum_get(&cc, &k);
		ls_and(&k, &c->labels, &mabc);
		wabc = psum_get(&abc, &k);
		if (wc > 0 && wabc > 0)
			c->weight *= wac * wbc / (wc * wabc);
	}
	rc = BL_OK;
out:
	psum_free(&ac);
	psum_free(&bc);
	psum_free(&cc);
	psum_free(&abc);
	if (rc != BL_OK)
		bl_error_buf(&rb->errmsg, rc, "out of memory");
	return rc;
}

/* One raking step towards share t for the cells matching m (none_of: the
 * cells matching no listed label of the rule).  Returns |share - t|. */
static double rake_step(bl_rebalance *rb, const struct rinfo *ri, int ntargets,
			int idx, double t)
{
	double in = 0, all = 0, s, fin, fout;

	for (size_t i = 0; i < rb->npc; i++) {
		const bl_rb_cell *c = &rb->pc[i];
		double w = (double)c->n * c->weight;
		int hit;
		if (w <= 0)
			continue;
		if (idx >= 0) {
			hit = ls_any(&c->labels, &ri->tmask[idx]);
		} else {
			hit = 1;
			for (int k = 0; k < ntargets && hit; k++)
				hit = !ls_any(&c->labels, &ri->tmask[k]);
		}
		all += w;
		if (hit)
			in += w;
	}
	if (all <= 0)
		return 0;
	s = in / all;
	fin = s > 0 ? t / s : 1;
	fout = s < 1 ? (1 - t) / (1 - s) : 1;
	for (size_t i = 0; i < rb->npc; i++) {
		bl_rb_cell *c = &rb->pc[i];
		int hit;
		if (c->weight <= 0)
			continue;
		if (idx >= 0) {
			hit = ls_any(&c->labels, &ri->tmask[idx]);
		} else {
			hit = 1;
			for (int k = 0; k < ntargets && hit; k++)
				hit = !ls_any(&c->labels, &ri->tmask[k]);
		}
		c->weight *= hit ? fin : fout;
	}
	return fabs(s - t);
}

static int plan_targets(bl_rebalance *rb)
{
	const bl_policy *p = rb->p;
	double err = 0;
	int any = 0;

	/* feasibility: every listed label with a positive share needs samples
	 * left after the earlier methods; so does a positive rest */
	for (int k = 0; k < rb->nri; k++) {
		const bl_policy_rule *r = bl_policy_rule_at(p, k);
		struct rinfo *ri = &rb->ri[k];
		double sum = 0, rest_mass;
		if (r->kind != BL_RULE_TARGET)
			continue;
		any = 1;
		for (int j = 0; j < r->ntargets; j++) {
			sum += r->target_share[j];
			if (r->target_share[j] > 0 && mass_any(rb, &ri->tmask[j]) <= 0)
				return bl_error_buf(&rb->errmsg, BL_FAILED, "%s:%d: impossible target: label '%s' "
					      "has no samples%s", bl_policy_name(p), r->line,
					      r->target_label[j],
					      ls_empty(&ri->tmask[j]) ? " (no label of the index is in it)"
					      : " left after the earlier rules");
		}
		rest_mass = 0;
		for (size_t i = 0; i < rb->npc; i++) {
			const bl_rb_cell *c = &rb->pc[i];
			int none = 1;
			for (int j = 0; j < r->ntargets && none; j++)
				none = !ls_any(&c->labels, &ri->tmask[j]);
			if (none)
				rest_mass += (double)c->n * c->weight;
		}
		ri->has_rest_samples = rest_mass > 0;
		ri->rest = r->rest; /* -1: free */
		(void)sum;
		if (ri->rest > 0 && !ri->has_rest_samples)
			return bl_error_buf(&rb->errmsg, BL_FAILED, "%s:%d: impossible target: rest=%.6g of the "
				      "set must carry none of the listed labels, but every sample "
				      "carries one", bl_policy_name(p), r->line, ri->rest);
	}
	if (!any)
		return BL_OK;
	for (int it = 0; it < RAKE_MAX_ITER; it++) {
		err = 0;
		for (int k = 0; k < rb->nri; k++) {
			const bl_policy_rule *r = bl_policy_rule_at(p, k);
			struct rinfo *ri = &rb->ri[k];
			if (r->kind != BL_RULE_TARGET)
				continue;
			for (int j = 0; j < r->ntargets; j++) {
				double e = rake_step(rb, ri, r->ntargets, j, r->target_share[j]);
				if (e > err)
					err = e;
			}
			if (ri->rest >= 0) {
				double e = rake_step(rb, ri, r->ntargets, -1, ri->rest);
				if (e > err)
					err = e;
			}
		}
		if (err < RAKE_TOL)
			return BL_OK;
	}
	if (err < 1e-7)
		return BL_OK;
	return bl_error_buf(&rb->errmsg, BL_FAILED, "%s: the targets cannot be met together: after %d raking "
		      "rounds a share is still off by %.3g (do two target lines contradict "
		      "each other, or do labels overlap in the samples?)",
		      bl_policy_name(p), RAKE_MAX_ITER, err);
}

static int prepare_rules(bl_rebalance *rb)
{
	const bl_policy *p = rb->p;
	int n = bl_policy_nrules(p);

	rb->ri = calloc((size_t)(n ? n : 1), sizeof *rb->ri);
	if (!rb->ri)
		return bl_error_buf(&rb->errmsg, BL_ENOMEM, "out of memory");
	rb->nri = n;
	bl_labelset_clear(&rb->mask);
	for (int id = 0; id < rb->nlabels; id++) {
		int side = bl_label_safety(rb->labels[id]);
		for (int b = 0; b < 3; b++)
			if (side & (1 << b))
				bl_labelset_set(&rb->safety[b], id);
		if (side)
			bl_labelset_set(&rb->mask, id);
	}
	for (int k = 0; k < n; k++) {
		const bl_policy_rule *r = bl_policy_rule_at(p, k);
		struct rinfo *ri = &rb->ri[k];
		int nf = r->kind == BL_RULE_INDEPENDENT ? (r->family[2] ? 3 : 2) :
			 r->kind == BL_RULE_DROP ? 0 : 1;

		for (int f = 0; f < nf; f++) {
			family_mask(rb, r->family[f], &ri->fam[f]);
			if (ls_empty(&ri->fam[f]))
				return bl_error_buf(&rb->errmsg, BL_FAILED, "%s:%d: family '%s' matches no label "
					      "of the index", bl_policy_name(p), r->line,
					      r->family[f]);
			ls_or(&rb->mask, &ri->fam[f]);
		}
		if (r->kind == BL_RULE_DROP) {
			int u = bl_expr_bind(r->expr, rb->labels, rb->nlabels, &rb->mask);
			if (u < 0)
				return bl_error_buf(&rb->errmsg, u, "out of memory");
			ri->unbound = u;
			/* a name no label of the index is in is a typo or rules
			 * other than the scan's: nothing would be dropped */
			for (int i = 0; i < bl_expr_nnames(r->expr); i++) {
				const char *nm = bl_expr_name(r->expr, i);
				bl_labelset m;
				family_mask(rb, nm, &m);
				if (ls_empty(&m))
					return bl_error_buf(&rb->errmsg, BL_FAILED, "%s:%d: drop: '%s' is not a label "
						      "of the index (no rule file of its scan defines it; "
						      "'ballast report' lists the labels)",
						      bl_policy_name(p), r->line, nm);
			}
		}
		if (r->kind == BL_RULE_TARGET) {
			for (int j = 0; j < r->ntargets; j++) {
				family_mask(rb, r->target_label[j], &ri->tmask[j]);
				if (ls_empty(&ri->tmask[j]) && r->target_share[j] > 0)
					return bl_error_buf(&rb->errmsg, BL_FAILED, "%s:%d: impossible target: label "
						      "'%s' is not a label of the index",
						      bl_policy_name(p), r->line, r->target_label[j]);
			}
		}
	}
	return BL_OK;
}

/* An `accept shift FAMILY` that names no label of the index. */
static int check_accepts(bl_rebalance *rb)
{
	for (int i = 0; i < bl_policy_naccepts(rb->p); i++) {
		const bl_policy_accept *a = bl_policy_accept_at(rb->p, i);
		bl_labelset m;
		if (!a->family)
			continue;
		family_mask(rb, a->family, &m);
		if (ls_empty(&m))
			return bl_error_buf(&rb->errmsg, BL_FAILED, "%s:%d: accept shift: '%s' is not a label "
				      "of the index", bl_policy_name(rb->p), a->line, a->family);
	}
	return BL_OK;
}

/*
 * 4b: `clip weight W` lowers every weight above W times the mean (over
 * the samples with a weight) to it, again until none is above (the mean
 * falls as weights are clipped); then `floor ess F` mixes the weights
 * with uniform ones, w' = (1 - m) w / mean + m, with the smallest m that
 * brings Kish's ESS to F of the samples: with u = w / mean, n samples and
 * S = sum u^2, sum w'^2 = (1 - m)^2 (S - n) + n, so
 * m = 1 - sqrt(n (1/F - 1) / (S - n)).
 */
static int plan_adjust(bl_rebalance *rb)
{
	double cw = bl_policy_clip_weight(rb->p, NULL), fe = bl_policy_floor_ess(rb->p, NULL);
	double n, sw, sw2;
	double *orig = NULL;

	rb->clipped_samples = 0;
	rb->floor_mix = 0;
	if (cw > 0) {
		if (!(orig = malloc((rb->npc ? rb->npc : 1) * sizeof *orig)))
			return bl_error_buf(&rb->errmsg, BL_ENOMEM, "out of memory");
		for (size_t i = 0; i < rb->npc; i++)
			orig[i] = rb->pc[i].weight;
		for (int it = 0; it < 10000; it++) {
			int any = 0;
			n = sw = 0;
			for (size_t i = 0; i < rb->npc; i++)
				if (rb->pc[i].weight > 0) {
					n += (double)rb->pc[i].n;
					sw += (double)rb->pc[i].n * rb->pc[i].weight;
				}
			if (n <= 0)
				break;
			for (size_t i = 0; i < rb->npc; i++)
				if (rb->pc[i].weight > cw * sw / n * (1 + 1e-12)) {
					rb->pc[i].weight = cw * sw / n;
					any = 1;
				}
			if (!any)
				break;
		}
		for (size_t i = 0; i < rb->npc; i++)
			if (rb->pc[i].weight < orig[i])
				rb->clipped_samples += rb->pc[i].n;
		free(orig);
	}
	if (fe > 0) {
		n = sw = sw2 = 0;
		for (size_t i = 0; i < rb->npc; i++) {
			double w = rb->pc[i].weight, k = (double)rb->pc[i].n;
			if (w <= 0)
				continue;
			n += k;
			sw += k * w;
			sw2 += k * w * w;
		}
		if (n > 0 && sw * sw / sw2 < fe * n * (1 - 1e-12)) {
			double mean = sw / n, S = sw2 / (mean * mean);
			double m = S > n ? 1 - sqrt(n * (1 / fe - 1) / (S - n)) : 0;
			if (m < 0)
				m = 0;
			if (m > 1)
				m = 1;
			for (size_t i = 0; i < rb->npc; i++)
				if (rb->pc[i].weight > 0)
					rb->pc[i].weight = (1 - m) * rb->pc[i].weight / mean + m;
			rb->floor_mix = m;
		}
	}
	return BL_OK;
}

int bl_rebalance_plan(bl_rebalance *rb, bl_index *ix)
{
	bl_index_cursor *cur = NULL;
	const struct bl_index_sample *row;
	int rc = BL_FAILED, src;
	double w_pos = 0, w_sum = 0, wmin = INFINITY, wmax = 0;
	uint64_t n_pos = 0;

	if (!rb || !ix)
		return BL_EUSAGE;
	rb_clear_plan(rb);
	memset(&rb->t, 0, sizeof rb->t);
	bl_buf_reset(&rb->errmsg);
	rb->nlabels = bl_index_nlabels(ix);
	for (int i = 0; i < rb->nlabels; i++) {
		rb->label_store[i] = strdup(bl_index_label(ix, i));
		if (!rb->label_store[i]) {
			rb->nlabels = i;
			rc = bl_error_buf(&rb->errmsg, BL_ENOMEM, "out of memory");
			goto out;
		}
		rb->labels[i] = rb->label_store[i];
	}
	if ((rc = prepare_rules(rb)) != BL_OK || (rc = check_accepts(rb)) != BL_OK)
		goto out;
	/* an index of mixed rules or of shards not read whole is planned all
	 * the same (the manifest may still be wanted) and fails the plan's
	 * "index" check */
	if ((src = bl_index_warnings(ix, &rb->index_problems)) < 0) {
		rc = bl_error_buf(&rb->errmsg, src == BL_ENOMEM ? BL_ENOMEM : BL_FATAL, "%s",
				  bl_index_errmsg(ix));
		goto out;
	}
	rc = BL_ENOMEM;
	if (!(rb->before = bl_stats_new_index(ix)) || !(rb->after = bl_stats_new_index(ix)) ||
	    lsmap_reserve(&rb->fmap, rb->fc, sizeof *rb->fc) != BL_OK) {
		bl_error_buf(&rb->errmsg, rc, "out of memory");
		goto out;
	}

	/* the reduce: count full cells (an index SQLite cannot read is fatal,
	 * not a plan that failed) */
	rc = BL_FATAL;
	if (!(cur = bl_index_cursor_new(ix, BL_IXC_BITS)) || bl_index_cursor_all(cur) != BL_OK) {
		bl_error_buf(&rb->errmsg, rc, "%s", bl_index_errmsg(ix));
		goto out;
	}
	while ((src = bl_index_cursor_next(cur, &row)) == BL_OK) {
		bl_labelset ls;
		struct fcell *f;
		ls_from_bits(&ls, row->bits, row->nbits);
		if (!(f = fcell_get(rb, &ls, 1))) {
			rc = bl_error_buf(&rb->errmsg, BL_ENOMEM, "out of memory");
			goto out;
		}
		f->n++;
		rb->t.samples++;
	}
	if (src != BL_END) {
		bl_error_buf(&rb->errmsg, rc, "%s", bl_index_errmsg(ix));
		goto out;
	}

	/* project on the policy's labels */
	for (size_t i = 0; i < rb->nfc; i++) {
		struct fcell *f = &rb->fc[i];
		bl_labelset k;
		size_t slot;
		long j;
		ls_and(&k, &f->key, &rb->mask);
		if (lsmap_reserve(&rb->pmap, rb->pc, sizeof *rb->pc) != BL_OK) {
			rc = bl_error_buf(&rb->errmsg, BL_ENOMEM, "out of memory");
			goto out;
		}
		j = lsmap_find(&rb->pmap, &k, rb->pc, sizeof *rb->pc, &slot);
		if (j < 0) {
			if (BL_ALLOC_GROW(rb->pc, rb->npc + 1, rb->pc_alloc) != BL_OK) {
				rc = bl_error_buf(&rb->errmsg, BL_ENOMEM, "out of memory");
				goto out;
			}
			memset(&rb->pc[rb->npc], 0, sizeof rb->pc[0]);
			rb->pc[rb->npc].labels = k;
			rb->pc[rb->npc].weight = 1;
			rb->pmap.slot[slot] = (uint32_t)(rb->npc + 1);
			rb->pmap.n++;
			j = (long)rb->npc++;
		}
		rb->pc[j].n += f->n;
		f->pc = (uint32_t)j;
	}
	/* the before side: a label set at a time, n rows of weight 1 (exact:
	 * sums of ones) */
	for (size_t i = 0; i < rb->nfc; i++) {
		double n = (double)rb->fc[i].n;
		if (rb->fc[i].n &&
		    bl_stats_add_n(rb->before, &rb->fc[i].key, rb->fc[i].n, n, n) != BL_OK) {
			rc = bl_error_buf(&rb->errmsg, BL_FAILED, "statistics failed");
			goto out;
		}
	}

	/* 0: safety, 1: drop */
	for (size_t i = 0; i < rb->npc; i++) {
		bl_rb_cell *c = &rb->pc[i];
		if (cell_blocked(rb, &c->labels)) {
			c->status = BL_CELL_SAFETY;
			c->weight = 0;
			rb->t.blocked += c->n;
			continue;
		}
		for (int k = 0; k < rb->nri; k++) {
			const bl_policy_rule *r = bl_policy_rule_at(rb->p, k);
			if (r->kind == BL_RULE_DROP && bl_expr_eval(r->expr, &c->labels)) {
				if (c->status != BL_CELL_DROPPED)
					rb->t.dropped_rule += c->n;
				c->status = BL_CELL_DROPPED;
				c->weight = 0;
				rb->ri[k].dropped += c->n;
			}
		}
	}
	/* 2: cap, 3: independent, 4: target */
	for (int k = 0; k < rb->nri; k++) {
		const bl_policy_rule *r = bl_policy_rule_at(rb->p, k);
		if (r->kind == BL_RULE_CAP && (rc = plan_cap(rb, r, &rb->ri[k])) != BL_OK)
			goto out;
	}
	for (int k = 0; k < rb->nri; k++) {
		const bl_policy_rule *r = bl_policy_rule_at(rb->p, k);
		if (r->kind == BL_RULE_INDEPENDENT &&
		    (rc = plan_independent(rb, r, &rb->ri[k])) != BL_OK)
			goto out;
	}
	if ((rc = plan_targets(rb)) != BL_OK || (rc = plan_adjust(rb)) != BL_OK)
		goto out;

	/* 5: the realisation's scale */
	for (size_t i = 0; i < rb->npc; i++) {
		const bl_rb_cell *c = &rb->pc[i];
		if (c->weight <= 0 || c->n == 0)
			continue;
		n_pos += c->n;
		w_pos += (double)c->n * c->weight;
		if (c->weight < wmin)
			wmin = c->weight;
		if (c->weight > wmax)
			wmax = c->weight;
	}
	(void)w_sum;
	if (n_pos == 0) {
		rc = bl_error_buf(&rb->errmsg, BL_FAILED, "%s: the policy leaves no sample with a positive "
			    "weight", bl_policy_name(rb->p));
		goto out;
	}
	switch (rb->realise) {
	case BL_REALISE_UPSAMPLE:
		rb->scale = 1 / wmin;
		break;
	case BL_REALISE_DOWNSAMPLE:
		rb->scale = 1 / wmax;
		break;
	default:
		rb->scale = (double)n_pos / w_pos;
		break;
	}
	for (size_t i = 0; i < rb->npc; i++) {
		bl_rb_cell *c = &rb->pc[i];
		c->scaled = c->weight > 0 ? c->weight * rb->scale : 0;
		if (rb->realise == BL_REALISE_UPSAMPLE && c->scaled > rb->max_repeat) {
			c->scaled = rb->max_repeat;
			rb->clipped++;
		}
		if (rb->realise == BL_REALISE_DOWNSAMPLE && c->scaled > 1)
			c->scaled = 1; /* rounding only */
	}
	for (size_t i = 0; i < rb->npc; i++) {
		char *nm = names_of(rb, &rb->pc[i].labels);
		if (!nm) {
			rc = bl_error_buf(&rb->errmsg, BL_ENOMEM, "out of memory");
			goto out;
		}
		rb->pc[i].names = nm;
	}
	rb->t.min_weight = INFINITY;
	rb->planned = 1;
	rc = BL_OK;
out:
	bl_index_cursor_free(cur);
	if (rc != BL_OK && rb->errmsg.len == 0)
		bl_error_buf(&rb->errmsg, rc, "out of memory");
	return rc;
}

/* ---- the map ----------------------------------------------------------- */

void bl_rebalance_reset(bl_rebalance *rb)
{
	if (!rb)
		return;
	for (size_t i = 0; i < rb->nfc; i++) {
		rb->fc[i].written = 0;
		rb->fc[i].sum_w = rb->fc[i].sum_w2 = 0;
	}
	for (size_t i = 0; i < rb->npc; i++) {
		rb->pc[i].written = 0;
		rb->pc[i].sum_w = rb->pc[i].sum_w2 = 0;
	}
	uint64_t samples = rb->t.samples, blocked = rb->t.blocked, dr = rb->t.dropped_rule;
	memset(&rb->t, 0, sizeof rb->t);
	rb->t.samples = samples;
	rb->t.blocked = blocked;
	rb->t.dropped_rule = dr;
	rb->t.min_weight = INFINITY;
	if (rb->after) {
		bl_stats *fresh = NULL;
		const char *names[BL_MAX_LABELS];
		for (int i = 0; i < rb->nlabels; i++)
			names[i] = rb->labels[i];
		fresh = bl_stats_new(rb->nlabels, names);
		if (fresh) {
			bl_stats_free(rb->after);
			rb->after = fresh;
		}
	}
	free(rb->summary);
	rb->summary = NULL;
	bl_rb_summary_release(&rb->sum);
	rb->finished = 0;
}

int bl_rebalance_next(bl_rebalance *rb, const void *bits, size_t nbits,
		      int64_t shard_id, uint64_t ordinal, double *weight)
{
	bl_labelset ls;
	struct fcell *f;
	bl_rb_cell *c;
	double x, w = 0;

	if (weight)
		*weight = 0;
	if (!rb || !rb->planned || !weight || (!bits && nbits))
		return BL_EUSAGE;
	ls_from_bits(&ls, bits, nbits);
	f = fcell_get(rb, &ls, 0);
	if (!f)
		return bl_error_buf(&rb->errmsg, BL_FAILED, "a sample (shard %lld, ordinal %llu) has a label set "
			      "the plan has not seen: did the index change?",
			      (long long)shard_id, (unsigned long long)ordinal);
	c = &rb->pc[f->pc];
	x = c->scaled;
	if (x > 0) {
		if (rb->realise == BL_REALISE_WEIGHTS) {
			w = x;
		} else {
			double fl = floor(x), frac = x - fl;
			w = fl;
			if (frac > 0) {
				bl_rng r;
				bl_rng_seed2(&r, rb->seed,
					     BL_RNG_STREAM_SAMPLE(shard_id, ordinal));
				if (bl_rng_double(&r) < frac)
					w += 1;
			}
		}
	}
	*weight = w;
	if (w > 0) {
		f->written++;
		f->sum_w += w;
		f->sum_w2 += w * w;
		c->written++;
		c->sum_w += w;
		c->sum_w2 += w * w;
		rb->t.written++;
		rb->t.sum_w += w;
		rb->t.sum_w2 += w * w;
		if (w > rb->t.max_weight)
			rb->t.max_weight = w;
		if (w < rb->t.min_weight)
			rb->t.min_weight = w;
		if (rb->realise == BL_REALISE_UPSAMPLE && w >= 2) {
			rb->t.repeated++;
			rb->t.copies += (uint64_t)w - 1;
		}
	} else {
		rb->t.excluded++;
	}
	return BL_OK;
}

/* ---- the summary ------------------------------------------------------- */

/*
 * bl_rebalance_finish fills rb->sum (a bl_rb_summary) from the plan and
 * the realised weights; lib/rb_summary.c renders it.  A failed allocation
 * while filling sets fill->nomem and the summary is given up.
 */
struct fill {
	bl_rebalance *rb;
	int nomem;
};

static char *fdup(struct fill *f, const char *s)
{
	char *r = strdup(s ? s : "");
	if (!r)
		f->nomem = 1;
	return r;
}

static void *fcalloc(struct fill *f, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		f->nomem = 1;
	return p;
}

/* Realised (after) or raw (before) mass of full cells matching m; m NULL:
 * all. */
static double fmass(const bl_rebalance *rb, const bl_labelset *m, int after)
{
	double s = 0;
	for (size_t i = 0; i < rb->nfc; i++) {
		const struct fcell *f = &rb->fc[i];
		if (m && !ls_any(&f->key, m))
			continue;
		s += after ? f->sum_w : (double)f->n;
	}
	return s;
}

/* The same for the full cells matching none of the first nt target masks. */
static double fmass_none(const bl_rebalance *rb, const struct rinfo *ri, int nt, int after)
{
	double s = 0;
	for (size_t i = 0; i < rb->nfc; i++) {
		const struct fcell *f = &rb->fc[i];
		int none = 1;
		for (int j = 0; j < nt && none; j++)
			none = !ls_any(&f->key, &ri->tmask[j]);
		if (none)
			s += after ? f->sum_w : (double)f->n;
	}
	return s;
}

static double safe_div(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

static void note_error(bl_rebalance *rb, double e)
{
	if (isfinite(e) && e > rb->t.max_abs_share_error)
		rb->t.max_abs_share_error = e;
}

static void fill_target(struct fill *fl, const bl_policy_rule *r, const struct rinfo *ri,
			bl_rb_rule_result *x)
{
	bl_rebalance *rb = fl->rb;
	double tb = fmass(rb, NULL, 0), ta = fmass(rb, NULL, 1), maxe = 0, tv = 0, tv0 = 0;

	x->family[0] = fdup(fl, r->family[0]);
	x->labels = fcalloc(fl, (size_t)r->ntargets + 1, sizeof *x->labels);
	for (int j = 0; x->labels && j <= r->ntargets; j++) {
		bl_rb_label_row *e = &x->labels[x->nlabels++];
		int rest = j == r->ntargets;
		double t = rest ? (ri->rest >= 0 ? ri->rest : NAN) : r->target_share[j];
		double b = safe_div(rest ? fmass_none(rb, ri, r->ntargets, 0) :
				    fmass(rb, &ri->tmask[j], 0), tb);
		double a = safe_div(rest ? fmass_none(rb, ri, r->ntargets, 1) :
				    fmass(rb, &ri->tmask[j], 1), ta);
		e->label = fdup(fl, rest ? "rest" : r->target_label[j]);
		e->target = t;
		e->before = b;
		e->after = a;
		e->error = a - t;
		e->count_before = e->count_expected = e->weight_after = NAN;
		if (isfinite(t) && isfinite(b))
			tv0 += fabs(b - t);
		if (!isfinite(t) || !isfinite(a))
			continue; /* a free rest */
		if (fabs(a - t) > maxe)
			maxe = fabs(a - t);
		tv += fabs(a - t);
	}
	tv /= 2;
	x->max_abs_error = maxe;
	x->tv_distance = tv;
	x->tv_distance_before = tv0 / 2;
	note_error(rb, maxe);
	if (tv > rb->t.tv_distance)
		rb->t.tv_distance = tv;
}

static void fill_cap(struct fill *fl, const bl_policy_rule *r, const struct rinfo *ri,
		     bl_rb_rule_result *x)
{
	bl_rebalance *rb = fl->rb;
	double ta = fmass(rb, NULL, 1), maxe = 0;

	x->family[0] = fdup(fl, r->family[0]);
	x->cap = r->cap;
	x->labels = fcalloc(fl, (size_t)rb->nlabels, sizeof *x->labels);
	for (int id = 0; x->labels && id < rb->nlabels; id++) {
		bl_labelset one;
		bl_rb_label_row *e;
		double a, sa;
		if (!bl_labelset_has(&ri->fam[0], id))
			continue;
		bl_labelset_clear(&one);
		bl_labelset_set(&one, id);
		a = fmass(rb, &one, 1);
		sa = safe_div(a, ta);
		e = &x->labels[x->nlabels++];
		e->label = fdup(fl, rb->labels[id]);
		e->count_before = fmass(rb, &one, 0);
		e->count_expected = ri->cap_count[id];
		e->target = ri->cap_share[id];
		e->before = NAN;
		e->after = sa;
		e->error = sa - e->target;
		e->weight_after = a;
		if (isfinite(sa) && fabs(sa - ri->cap_share[id]) > maxe)
			maxe = fabs(sa - ri->cap_share[id]);
	}
	x->max_abs_error = maxe;
	note_error(rb, maxe);
}

/*
 * Distance of the index (after 0) or the manifest (after 1) from A and B
 * independent within C: (1 / 2T) sum over levels c, combinations a of A
 * and b of B of |m(a,b,c) - m(a,c) m(b,c) / m(c)|, with m the (weighted)
 * counts and T their total.  Every combination of a level counts, those
 * with no sample included: a cell independence needs but the data lacks
 * is part of the distance, however small.
 */
static double indep_tv(struct fill *fl, const struct rinfo *ri, int after)
{
	const bl_rebalance *rb = fl->rb;
	struct psum c = {0}, ac = {0}, bc = {0}, abc = {0};
	bl_labelset ma = ri->fam[0], mb = ri->fam[1], mab = ri->fam[0];
	double total = 0, sum = 0;

	ls_or(&ma, &ri->fam[2]);
	ls_or(&mb, &ri->fam[2]);
	ls_or(&mab, &ri->fam[1]);
	ls_or(&mab, &ri->fam[2]);
	for (size_t i = 0; i < rb->nfc; i++) {
		const struct fcell *f = &rb->fc[i];
		double w = after ? f->sum_w : (double)f->n;
		bl_labelset k;
		if (w <= 0)
			continue;
		total += w;
		ls_and(&k, &f->key, &ri->fam[2]);
		if (psum_add(&c, &k, w) < 0)
			fl->nomem = 1;
		ls_and(&k, &f->key, &ma);
		if (psum_add(&ac, &k, w) < 0)
			fl->nomem = 1;
		ls_and(&k, &f->key, &mb);
		if (psum_add(&bc, &k, w) < 0)
			fl->nomem = 1;
		ls_and(&k, &f->key, &mab);
		if (psum_add(&abc, &k, w) < 0)
			fl->nomem = 1;
	}
	for (size_t l = 0; !fl->nomem && l < c.n; l++) {
		for (size_t i = 0; i < ac.n; i++) {
			bl_labelset k;
			ls_and(&k, &ac.keys[i], &ri->fam[2]);
			if (!ls_eq(&k, &c.keys[l]))
				continue;
			for (size_t j = 0; j < bc.n; j++) {
				bl_labelset kab = ac.keys[i];
				ls_and(&k, &bc.keys[j], &ri->fam[2]);
				if (!ls_eq(&k, &c.keys[l]))
					continue;
				ls_or(&kab, &bc.keys[j]);
				sum += fabs(psum_get(&abc, &kab) - ac.w[i] * bc.w[j] / c.w[l]);
			}
		}
	}
	psum_free(&c);
	psum_free(&ac);
	psum_free(&bc);
	psum_free(&abc);
	return total > 0 ? sum / (2 * total) : NAN;
}

/* Rates of any-A among samples with B label `id` within each C level. */
static void fill_independent(struct fill *fl, const bl_policy_rule *r, const struct rinfo *ri,
			     bl_rb_rule_result *x)
{
	bl_rebalance *rb = fl->rb;
	struct psum lv = {0};
	double gap[2] = {0, 0};

	for (int f = 0; f < 3 && r->family[f]; f++)
		x->family[f] = fdup(fl, r->family[f]);
	for (size_t i = 0; i < rb->nfc; i++) {
		bl_labelset k;
		ls_and(&k, &rb->fc[i].key, &ri->fam[2]);
		if (psum_add(&lv, &k, (double)rb->fc[i].n) < 0)
			fl->nomem = 1;
	}
	x->rows = fcalloc(fl, lv.n * (size_t)rb->nlabels, sizeof *x->rows);
	for (size_t l = 0; x->rows && l < lv.n; l++) {
		for (int id = 0; id < rb->nlabels; id++) {
			/* [after][in B][has A] */
			double m[2][2][2] = {{{0}}};
			uint64_t nb = 0;
			bl_rb_indep_row *e;
			if (!bl_labelset_has(&ri->fam[1], id))
				continue;
			for (size_t i = 0; i < rb->nfc; i++) {
				const struct fcell *f = &rb->fc[i];
				bl_labelset k;
				ls_and(&k, &f->key, &ri->fam[2]);
				if (!ls_eq(&k, &lv.keys[l]))
					continue;
				int b = bl_labelset_has(&f->key, id), a = ls_any(&f->key, &ri->fam[0]);
				m[0][b][a] += (double)f->n;
				m[1][b][a] += f->sum_w;
				if (b)
					nb += f->n;
			}
			if (nb == 0)
				continue;
			e = &x->rows[x->nrows++];
			if (!(e->within = names_of(rb, &lv.keys[l])))
				fl->nomem = 1;
			e->label = fdup(fl, rb->labels[id]);
			e->samples = nb;
			for (int s = 0; s < 2; s++) {
				double rate = safe_div(m[s][1][1], m[s][1][1] + m[s][1][0]);
				double base = safe_div(m[s][1][1] + m[s][0][1],
						       m[s][1][1] + m[s][1][0] + m[s][0][1] + m[s][0][0]);
				e->rate[s] = rate;
				e->rate_within[s] = base;
				e->odds_ratio[s] = bl_stats_odds_ratio(m[s][1][1], m[s][1][0], m[s][0][1],
								       m[s][0][0], 1.96, NULL, NULL);
				if (isfinite(rate) && isfinite(base) && fabs(rate - base) > gap[s])
					gap[s] = fabs(rate - base);
			}
		}
	}
	x->max_rate_gap_before = gap[0];
	x->max_rate_gap_after = gap[1];
	x->max_abs_error = gap[1];
	x->tv_distance_before = indep_tv(fl, ri, 0);
	x->tv_distance = indep_tv(fl, ri, 1);
	note_error(rb, gap[1]);
	if (isfinite(x->tv_distance) && x->tv_distance > rb->t.tv_distance)
		rb->t.tv_distance = x->tv_distance;
	psum_free(&lv);
}

static void fill_shares(struct fill *fl, bl_stats *st, bl_rb_share **out, size_t *nout)
{
	int nn = bl_stats_nnodes(st);

	*out = fcalloc(fl, (size_t)(nn > 0 ? nn : 1), sizeof **out);
	for (int i = 0; *out && i < nn; i++) {
		bl_stats_count c;
		if (bl_stats_node(st, i, &c) != BL_OK || c.rows == 0)
			continue;
		(*out)[*nout].name = fdup(fl, bl_stats_node_name(st, i));
		(*out)[(*nout)++].share = c.share;
	}
}

/* Shares of the same nodes as before (names[i]) among the samples that
 * safety and drop lines leave, weight 1: what the weighting started
 * from. */
static void fill_kept(struct fill *fl, const bl_rb_share *before, size_t n, bl_rb_share **out,
		      size_t *nout)
{
	bl_rebalance *rb = fl->rb;
	double total = 0;

	for (size_t i = 0; i < rb->nfc; i++)
		if (rb->pc[rb->fc[i].pc].status == BL_CELL_KEPT)
			total += (double)rb->fc[i].n;
	*out = fcalloc(fl, n, sizeof **out);
	for (size_t j = 0; *out && j < n; j++) {
		bl_labelset m;
		double in = 0;
		family_mask(rb, before[j].name, &m);
		for (size_t i = 0; i < rb->nfc; i++)
			if (rb->pc[rb->fc[i].pc].status == BL_CELL_KEPT && ls_any(&rb->fc[i].key, &m))
				in += (double)rb->fc[i].n;
		(*out)[*nout].name = fdup(fl, before[j].name);
		(*out)[(*nout)++].share = safe_div(in, total);
	}
}

static void fill_skew(struct fill *fl, bl_stats *st, bl_rb_skew_row **out, size_t *nout)
{
	const bl_stats_skew *rows = NULL;
	size_t n = 0;

	if (bl_stats_skew_table(st, 0, 0, &rows, &n) != BL_OK)
		n = 0;
	*out = fcalloc(fl, n, sizeof **out);
	for (size_t i = 0; *out && i < n; i++) {
		const bl_stats_skew *s = &rows[i];
		bl_rb_skew_row *e = &(*out)[(*nout)++];
		e->group = fdup(fl, s->group);
		e->gender = s->gender ? fdup(fl, s->gender) : NULL;
		e->rows = s->rows;
		e->n = s->n;
		e->ess = s->ess;
		e->events = s->events;
		e->rate = s->rate;
		e->rate_lo = s->rate_lo;
		e->rate_hi = s->rate_hi;
		e->base_rate = s->base_rate;
		e->lift = s->lift;
		e->odds_ratio = s->odds_ratio;
		e->small = s->small;
	}
}

static void fill_summary(struct fill *fl)
{
	bl_rebalance *rb = fl->rb;
	bl_rb_summary *s = &rb->sum;
	double cw = bl_policy_clip_weight(rb->p, NULL), fe = bl_policy_floor_ess(rb->p, NULL);
	double mean = safe_div(rb->t.sum_w, (double)rb->t.written);

	s->realise = rb->realise;
	s->samples = rb->t.samples;
	s->blocked = rb->t.blocked;
	s->dropped_rule = rb->t.dropped_rule;
	s->excluded = rb->t.excluded;
	s->written = rb->t.written;
	s->repeated = rb->t.repeated;
	s->copies = rb->t.copies;
	s->weight_sum = rb->t.sum_w;
	s->largest_weight = rb->t.max_weight;
	s->smallest_weight = rb->t.min_weight;
	s->ess_before = rb->t.ess_before;
	s->ess_after = rb->t.ess_after;
	s->ess_ratio = safe_div(rb->t.ess_after, rb->t.ess_before);
	s->scale = rb->scale;
	s->max_repeat = rb->realise == BL_REALISE_UPSAMPLE ? rb->max_repeat : NAN;
	s->clipped_cells = rb->realise == BL_REALISE_UPSAMPLE ? rb->clipped : 0;
	s->clip_weight = cw > 0 ? cw : NAN;
	s->clipped_samples = rb->clipped_samples;
	s->ess_floor = fe > 0 ? fe : NAN;
	s->ess_floor_mix = fe > 0 ? rb->floor_mix : NAN;
	s->weight_ratio = safe_div(rb->t.max_weight, mean);
	s->largest_sample_share = safe_div(rb->t.max_weight, rb->t.sum_w);
	s->ess_written_ratio = safe_div(rb->t.ess_after, (double)rb->t.written);
	s->rules = fcalloc(fl, (size_t)rb->nri, sizeof *s->rules);
	for (int k = 0; s->rules && k < rb->nri; k++) {
		const bl_policy_rule *r = bl_policy_rule_at(rb->p, k);
		const struct rinfo *ri = &rb->ri[k];
		bl_rb_rule_result *x = &s->rules[s->nrules++];
		x->line = r->line;
		x->kind = r->kind;
		x->text = fdup(fl, r->text);
		x->cap = x->max_abs_error = x->tv_distance = x->tv_distance_before = NAN;
		x->max_rate_gap_before = x->max_rate_gap_after = NAN;
		switch (r->kind) {
		case BL_RULE_TARGET: fill_target(fl, r, ri, x); break;
		case BL_RULE_CAP: fill_cap(fl, r, ri, x); break;
		case BL_RULE_INDEPENDENT: fill_independent(fl, r, ri, x); break;
		default: x->samples = ri->dropped; break;
		}
	}
	s->max_abs_share_error = rb->t.max_abs_share_error;
	s->tv_distance = rb->t.tv_distance;
	fill_shares(fl, rb->before, &s->shares[0], &s->nshares[0]);
	fill_shares(fl, rb->after, &s->shares[1], &s->nshares[1]);
	fill_kept(fl, s->shares[0], s->nshares[0], &s->shares[2], &s->nshares[2]);
	fill_skew(fl, rb->before, &s->skew[0], &s->nskew[0]);
	fill_skew(fl, rb->after, &s->skew[1], &s->nskew[1]);
	if (!fl->nomem && (bl_rb_check_index(s, &rb->index_problems) != BL_OK ||
			   bl_rb_check_plan(s, rb->p) != BL_OK))
		fl->nomem = 1;
}

int bl_rebalance_finish(bl_rebalance *rb)
{
	struct fill fl = {rb, 0};

	if (!rb || !rb->planned)
		return BL_EUSAGE;
	/* the written rows, a label set at a time (in plan order) */
	for (size_t i = 0; i < rb->nfc && !rb->finished; i++) {
		const struct fcell *f = &rb->fc[i];
		if (f->written &&
		    bl_stats_add_n(rb->after, &f->key, f->written, f->sum_w,
				   f->sum_w2) != BL_OK)
			return bl_error_buf(&rb->errmsg, BL_FAILED, "statistics failed");
	}
	rb->finished = 1;
	free(rb->summary);
	rb->summary = NULL;
	bl_rb_summary_release(&rb->sum);
	rb->t.max_abs_share_error = 0;
	rb->t.tv_distance = 0;
	rb->t.ess_before = (double)rb->t.samples;
	rb->t.ess_after = bl_stats_kish(rb->t.sum_w, rb->t.sum_w2);
	if (!isfinite(rb->t.min_weight))
		rb->t.min_weight = 0;
	fill_summary(&fl);
	if (fl.nomem || !(rb->summary = bl_rb_summary_json(&rb->sum))) {
		bl_rb_summary_release(&rb->sum);
		return bl_error_buf(&rb->errmsg, BL_ENOMEM, "out of memory");
	}
	return BL_OK;
}
