/*
 * sampler.c - a manifest held in memory, and weighted, seeded, resumable
 * draws from it with a rank/world split.
 *
 * Loading goes through the manifest reader of lib/manifest.c
 * (bl_manifest_open/next: manifest.json checked, then shards/NNNNN.jsonl,
 * one JSON object a kept sample, in shard order; manifests/FORMAT.md), a
 * bare .jsonl of entries (hand-made subsets, benchmarks) alike; the handle
 * stays open for the scalars of manifest.json (bl_sampler_meta).  A
 * manifest whose lines do not match manifest.json (bl_manifest_check), or
 * that lists a (shard, key) twice, is refused: every consumer opens one
 * through here.  Entries live in one array; keys, shard paths and label
 * names are interned, so memory is about 80 bytes an entry plus its key
 * (and 56 more when the manifest records where its members are; 4 more
 * a key while loading, to find a sample listed twice).
 *
 * Draws.  An epoch is N = round(sum w) positions.  Systematic sampling
 * (one uniform offset, points u, u+1, ..., u+N-1 laid over the cumulative
 * scaled weights N*w/sum w) gives every entry c = floor or ceil of its
 * expected count, the sum exactly N, and integer weights summing to N
 * exactly their count.  The copies are then spread, not shuffled: copy j
 * of entry i gets the time (j + u_i) / c_i, and the epoch lists the
 * copies in (time, entry) order.  The phases u_i are stratified within
 * each class of entries with the same c (a random order of the class over
 * [0, 1), jittered), so every class, the entries drawn once included, is
 * spread evenly over the epoch.  A Fisher-Yates shuffle of the N copies
 * lets a weight-600 sample pile up by chance (10 copies in 64 draws where
 * 1.9 are expected); spread, its copies are N/c apart and the draws
 * between them are as many as its weight says.  Within a class the order
 * is random and is the same in each of its c rounds.
 *
 * The order is generated, never stored: a binary heap holds each entry's
 * next copy, so memory is per entry (28 bytes), whatever N, and a draw
 * costs O(log n).  A position far ahead (a resume, a worker's share) is
 * reached by bisection on the time: the number of copies with time <= t
 * is a sum over entries computed in O(n), so the state at any position
 * is rebuilt in about 60 passes instead of N draws.  Times are doubles
 * computed by one expression (key_of) everywhere, so the heap and the
 * bisection agree to the bit.
 *
 * The whole epoch comes from bl_rng_seed2(seed, BL_RNG_STREAM_EPOCH(e)),
 * so no draw depends on threads, batch size or rank: rank r of W takes
 * global positions r, r+W, ..., and a saved position resumes the same
 * stream.
 */
#include "sampler_int.h"
#include "error_int.h"
#include "alloc_int.h"
#include "ballast.h"
#include "manifest_int.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FORMAT "ballast-sampler-state"
#define MAX_STATE ((size_t)64 << 10)
#define MAX_ENTRIES ((size_t)UINT32_MAX - 1)

/* String interning: open addressing over indexes into a strlist. */
struct intern {
	bl_strlist s;
	size_t *slot; /* 0 empty, else index + 1 */
	size_t cap;
};

/* An entry's next copy in the epoch: its time and who it is. */
struct node {
	double key;
	uint32_t i; /* entry */
	uint32_t j; /* copy */
};

/* Open addressing over (shard, key) pairs, stored + 1 (0 is empty). */
struct pairset {
	uint64_t *slot;
	size_t n, cap;
};

/* How a load reports a manifest's problems (bl_manifest_check's and
 * duplicated lines): to on_problem, counted, or (on_problem NULL) the
 * first kept for the error of bl_sampler_open. */
struct problems {
	void (*on_problem)(void *arg, const char *msg);
	void *arg;
	uint64_t n;
	char first[1024];
};

struct bl_sampler {
	bl_manifest *m;  /* kept open for bl_sampler_meta */
	bl_entry *e;
	size_t n, alloc;
	bl_members *mem; /* per entry when the manifest has members */
	size_t amem;
	struct intern keys, shards, labels, exts;
	int *lab;     /* label ids of all entries, entry by entry */
	size_t nlab, alab;
	double wsum;
	/* loading: the shard of each key's first entry (KEY_SHARDS: entries
	 * of several shards have it, and their pairs are in multi) */
	uint32_t *kshard;
	size_t akshard;
	struct pairset multi;
	double *lweight; /* per label id */
	int repeats;
	char *plan_failed; /* bl_sampler_plan_failed, or NULL */
	char digest[65];
	/* draws */
	uint64_t seed, pos, N;
	uint32_t rank, world;
	uint32_t worker, nworkers, block;
	/* the epoch being generated */
	uint64_t ep;      /* UINT64_MAX: none */
	uint64_t next_q;  /* epoch offset of the heap's top */
	uint32_t *cnt;    /* copies of each entry this epoch */
	double *u;        /* phase of each entry this epoch */
	struct node *heap;
	size_t nheap;
};

static void intern_release(struct intern *t)
{
	bl_strlist_release(&t->s);
	free(t->slot);
	t->slot = NULL;
	t->cap = 0;
}

/* Index of s in t, adding it when new; -1 when out of memory. */
static long intern_add(struct intern *t, const char *s)
{
	size_t i;

	if ((t->s.n + 1) * 2 > t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 256;
		size_t *ns = calloc(ncap, sizeof *ns);
		if (!ns)
			return -1;
		for (size_t k = 0; k < t->s.n; k++) {
			i = bl_hash_bytes(t->s.items[k], strlen(t->s.items[k])) & (ncap - 1);
			while (ns[i])
				i = (i + 1) & (ncap - 1);
			ns[i] = k + 1;
		}
		free(t->slot);
		t->slot = ns;
		t->cap = ncap;
	}
	i = bl_hash_bytes(s, strlen(s)) & (t->cap - 1);
	while (t->slot[i]) {
		if (!strcmp(t->s.items[t->slot[i] - 1], s))
			return (long)(t->slot[i] - 1);
		i = (i + 1) & (t->cap - 1);
	}
	if (bl_strlist_add(&t->s, s) != BL_OK)
		return -1;
	t->slot[i] = t->s.n;
	return (long)(t->s.n - 1);
}

#define KEY_SHARDS UINT32_MAX

/* Add pair v to t: 1 when new, 0 when it was there, -1 out of memory. */
static int pairset_add(struct pairset *t, uint64_t v)
{
	size_t i;

	v++; /* shard and key ids are below 2^32 - 1: never wraps to 0 */
	if ((t->n + 1) * 2 > t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		uint64_t *ns = calloc(ncap, sizeof *ns);
		if (!ns)
			return -1;
		for (size_t k = 0; k < t->cap; k++) {
			if (!t->slot[k])
				continue;
			i = bl_hash_bytes(&t->slot[k], sizeof t->slot[k]) & (ncap - 1);
			while (ns[i])
				i = (i + 1) & (ncap - 1);
			ns[i] = t->slot[k];
		}
		free(t->slot);
		t->slot = ns;
		t->cap = ncap;
	}
	i = bl_hash_bytes(&v, sizeof v) & (t->cap - 1);
	while (t->slot[i]) {
		if (t->slot[i] == v)
			return 0;
		i = (i + 1) & (t->cap - 1);
	}
	t->slot[i] = v;
	t->n++;
	return 1;
}

static void problem(struct problems *p, const char *fmt, ...)
	__attribute__((format(__printf__, 2, 3)));

static void problem(struct problems *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	bl_error_vset(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!p->n++)
		memcpy(p->first, msg, sizeof msg);
	if (p->on_problem)
		p->on_problem(p->arg, msg);
}

/*
 * Whether entry (si, ki) was listed before: every key remembers the shard
 * of its first entry, so only keys that several shards share (rare: a
 * shard's keys are unique, and most sets number them across shards) need
 * a set of pairs.  1 listed before, 0 not, -1 out of memory.
 */
static int seen_before(bl_sampler *s, uint32_t si, uint32_t ki, int fresh)
{
	uint32_t first;
	int r;

	if (fresh) {
		if (BL_ALLOC_GROW(s->kshard, (size_t)ki + 1, s->akshard) != BL_OK)
			return -1;
		s->kshard[ki] = si;
		return 0;
	}
	first = s->kshard[ki];
	if (first == si)
		return 1;
	if (first != KEY_SHARDS) {
		if (pairset_add(&s->multi, (uint64_t)first << 32 | ki) < 0)
			return -1;
		s->kshard[ki] = KEY_SHARDS;
	}
	r = pairset_add(&s->multi, (uint64_t)si << 32 | ki);
	return r < 0 ? -1 : !r;
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *bl_sampler_meta(const bl_sampler *s, const char *field)
{
	if (!s || !field)
		return NULL;
	return bl_manifest_scalar(s->m, field);
}

/* Resolve a shard path: as written when it exists, else below the
 * manifest directory, else below its parent (where `ballast scan` ran
 * when OUTDIR sits beside the shards), else as written. */
static int resolve_shard(const char *path, const char *base, bl_buf *out)
{
	bl_buf_reset(out);
	if (path[0] != '/' && base && access(path, F_OK) != 0) {
		bl_buf_addf(out, "%s/%s", base, path);
		if (access(out->buf, F_OK) == 0)
			return BL_OK;
		bl_buf_reset(out);
		bl_buf_addf(out, "%s/../%s", base, path);
		if (access(out->buf, F_OK) == 0)
			return BL_OK;
		bl_buf_reset(out);
	}
	return bl_buf_adds(out, path);
}

static int add_label(bl_sampler *s, const char *name)
{
	long id = intern_add(&s->labels, name);
	if (id < 0 || id >= BL_MAX_LABELS)
		return BL_FAILED;
	if (BL_ALLOC_GROW(s->lab, s->nlab + 1, s->alab) != BL_OK)
		return BL_ENOMEM;
	s->lab[s->nlab++] = (int)id;
	return BL_OK;
}

/* Keep the members of entry s->n (the one being added). */
static int add_members(bl_sampler *s, const bl_members *mb)
{
	bl_members *d;
	long ext = -1;

	if (s->amem <= s->n) {
		size_t old = s->amem;
		if (BL_ALLOC_GROW(s->mem, s->n + 1, s->amem) != BL_OK)
			return BL_ENOMEM;
		/* entries before the first with members have none */
		for (size_t k = old; k < s->amem; k++)
			s->mem[k].caption.offset = s->mem[k].image.offset =
				s->mem[k].json.offset = -2;
	}
	if (mb->image_ext && (ext = intern_add(&s->exts, mb->image_ext)) < 0)
		return BL_ENOMEM;
	d = &s->mem[s->n];
	*d = *mb;
	d->image_ext = (const char *)(uintptr_t)(ext + 1); /* fixed up after loading */
	return BL_OK;
}

/* Add one kept entry.  BL_OK, BL_END (weight 0: not kept), BL_FAILED /
 * BL_ENOMEM with a message. */
static int add_entry(bl_sampler *s, const bl_manifest_entry *me, const char *base,
		     bl_buf *tmp, struct problems *pr, char *msg, size_t msglen)
{
	bl_entry *e;
	long si, ki;
	size_t nkeys = s->keys.s.n;
	int dup;

	if (me->weight == 0)
		return BL_END;
	if (s->n >= MAX_ENTRIES) {
		bl_error_set(msg, msglen, "more than %zu entries", MAX_ENTRIES);
		return BL_FAILED;
	}
	if (BL_ALLOC_GROW(s->e, s->n + 1, s->alloc) != BL_OK)
		goto nomem;
	if (resolve_shard(me->shard, base, tmp) != BL_OK ||
	    (si = intern_add(&s->shards, tmp->buf)) < 0 ||
	    (ki = intern_add(&s->keys, me->key)) < 0 ||
	    (dup = seen_before(s, (uint32_t)si, (uint32_t)ki, s->keys.s.n > nkeys)) < 0)
		goto nomem;
	if (dup) {
		/* another line for the same sample: written as KEY_d1 and
		 * drawn as often again */
		uint64_t line = 0;
		const char *file = bl_manifest_where(s->m, &line);
		problem(pr, "'%s' line %llu: shard '%s' key '%s' is listed twice (a "
			"duplicated line)", file ? file : "?", (unsigned long long)line,
			me->shard, me->key);
	}
	if ((me->members || s->mem) &&
	    add_members(s, me->members ? me->members : &(bl_members){{-2, 0}, {-2, 0}, {-2, 0}, NULL}) != BL_OK)
		goto nomem;
	e = &s->e[s->n];
	memset(e, 0, sizeof *e);
	e->shard_index = (uint32_t)si;
	e->key = (const char *)(uintptr_t)ki; /* fixed up after loading */
	e->ordinal = me->ordinal;
	e->offset = me->offset;
	e->weight = me->weight;
	e->labels = (const int *)(uintptr_t)s->nlab; /* likewise */
	for (const char *p = me->labels ? me->labels : ""; *p;) {
		const char *q = strchr(p, ',');
		size_t len = q ? (size_t)(q - p) : strlen(p);
		if (len) {
			bl_buf_reset(tmp);
			if (bl_buf_add(tmp, p, len) != BL_OK || add_label(s, tmp->buf) != BL_OK) {
				bl_error_set(msg, msglen, "too many labels (at most %d)", BL_MAX_LABELS);
				return BL_FAILED;
			}
			e->nlabels++;
		}
		p += len + (q ? 1 : 0);
	}
	s->n++;
	s->wsum += me->weight;
	return BL_OK;
nomem:
	bl_error_set(msg, msglen, "out of memory");
	return BL_ENOMEM;
}

/* A problem bl_manifest_check found, counted with the others. */
static void check_problem(void *arg, const char *msg)
{
	problem(arg, "%s", msg);
}

/* A manifest directory or a bare .jsonl, through the reader of
 * lib/manifest.c; relative shard paths are taken from base.  Problems of
 * the lines against manifest.json go to pr; without pr->on_problem the
 * first fails the load. */
static int load_manifest(bl_sampler *s, const char *dir, const char *base,
			 struct problems *pr, char *err, size_t errlen)
{
	const bl_manifest_entry *e;
	bl_buf tmp;
	char msg[256];
	int r, rc = BL_FAILED;

	bl_buf_init(&tmp, 0);
	if (!(s->m = bl_manifest_open(dir, err, errlen)))
		goto out;
	while ((r = bl_manifest_next(s->m, &e)) == BL_OK) {
		r = add_entry(s, e, base, &tmp, pr, msg, sizeof msg);
		if (r != BL_OK && r != BL_END) {
			bl_error_set(err, errlen, "manifest '%s' key '%s': %s", dir, e->key, msg);
			goto out;
		}
	}
	if (r != BL_END) {
		bl_error_set(err, errlen, "manifest '%s': %s", dir, bl_manifest_errmsg(s->m));
		goto out;
	}
	/* the lines against what manifest.json records of them */
	if (bl_manifest_check(s->m, check_problem, pr, msg, sizeof msg) == BL_ENOMEM) {
		bl_error_set(err, errlen, "out of memory");
		goto out;
	}
	if (pr->n && !pr->on_problem) {
		if (pr->n > 1)
			bl_error_set(err, errlen, "manifest '%s' is refused: %s; and %llu more "
				     "problem%s (ballast verify lists them)", dir, pr->first,
				     (unsigned long long)(pr->n - 1), pr->n == 2 ? "" : "s");
		else
			bl_error_set(err, errlen, "manifest '%s' is refused: %s", dir, pr->first);
		goto out;
	}
	rc = BL_OK;
out:
	free(s->kshard);
	s->kshard = NULL;
	s->akshard = 0;
	free(s->multi.slot);
	memset(&s->multi, 0, sizeof s->multi);
	bl_buf_release(&tmp);
	return rc;
}

/* Pointers fixed up, label weights, digest, repeat mode, epoch size. */
static int finish_load(bl_sampler *s)
{
	bl_sha256 h;
	char line[64];
	const char *mode;
	int all_int = 1;

	s->lweight = calloc((size_t)s->labels.s.n + 1, sizeof *s->lweight);
	if (!s->lweight)
		return BL_ENOMEM;
	bl_sha256_init(&h);
	for (size_t i = 0; i < s->n; i++) {
		bl_entry *e = &s->e[i];
		e->key = s->keys.s.items[(uintptr_t)e->key];
		e->labels = s->lab ? s->lab + (uintptr_t)e->labels : NULL;
		e->shard = s->shards.s.items[e->shard_index];
		if (s->mem && i < s->amem && s->mem[i].caption.offset != -2) {
			uintptr_t x = (uintptr_t)s->mem[i].image_ext;
			s->mem[i].image_ext = x ? s->exts.s.items[x - 1] : NULL;
			e->members = &s->mem[i];
		}
		for (int k = 0; k < e->nlabels; k++)
			s->lweight[e->labels[k]] += e->weight;
		if (e->weight != floor(e->weight))
			all_int = 0;
		bl_sha256_update(&h, e->shard, strlen(e->shard) + 1);
		bl_sha256_update(&h, e->key, strlen(e->key) + 1);
		snprintf(line, sizeof line, "%" PRIu64 " %" PRId64 " %.17g\n",
			 e->ordinal, e->offset, e->weight);
		bl_sha256_update(&h, line, strlen(line));
	}
	bl_sha256_final_hex(&h, s->digest);
	mode = bl_sampler_meta(s, "realise");
	if (!mode)
		mode = bl_sampler_meta(s, "policy.realise");
	if (mode)
		s->repeats = !strcmp(mode, "upsample") || !strcmp(mode, "downsample");
	else
		s->repeats = all_int;
	/* weights <= BL_MANIFEST_MAX_WEIGHT and n < 2^32 keep the sum below
	 * 2^53: exact for integer weights, and a valid uint64 */
	s->N = (uint64_t)llround(s->wsum);
	if (s->N < 1)
		s->N = 1;
	s->cnt = malloc(s->n * sizeof *s->cnt);
	s->u = malloc(s->n * sizeof *s->u);
	s->heap = malloc(s->n * sizeof *s->heap);
	return s->cnt && s->u && s->heap ? BL_OK : BL_ENOMEM;
}

/* manifest.json's verdict on the plan, kept for bl_sampler_plan_failed. */
static int plan_verdict(bl_sampler *s)
{
	bl_buf b;
	int rc;

	bl_buf_init(&b, 0);
	rc = bl_manifest_plan_failed(s->m, &b);
	if (rc == BL_OK && b.len && !(s->plan_failed = bl_buf_detach(&b, NULL)))
		rc = BL_ENOMEM;
	bl_buf_release(&b);
	return rc;
}

const char *bl_sampler_plan_failed(const bl_sampler *s)
{
	return s ? s->plan_failed : NULL;
}

bl_sampler *bl_sampler_open(const char *dir, char *err, size_t errlen)
{
	return bl_sampler_open_checked(dir, NULL, NULL, NULL, err, errlen);
}

bl_sampler *bl_sampler_open_checked(const char *dir,
				    void (*on_problem)(void *arg, const char *msg), void *arg,
				    uint64_t *nproblems, char *err, size_t errlen)
{
	bl_sampler *s = calloc(1, sizeof *s), *ret = NULL;
	char *base = NULL;
	struct problems pr;

	memset(&pr, 0, sizeof pr);
	pr.on_problem = on_problem;
	pr.arg = arg;
	if (nproblems)
		*nproblems = 0;

	if (!s || !dir) {
		bl_error_set(err, errlen, s ? "no manifest given" : "out of memory");
		goto out;
	}
	bl_strlist_init(&s->keys.s);
	bl_strlist_init(&s->shards.s);
	bl_strlist_init(&s->labels.s);
	bl_strlist_init(&s->exts.s);
	s->ep = UINT64_MAX;
	s->world = s->nworkers = s->block = 1;
	if (!is_dir(dir)) {
		/* a bare .jsonl: shard paths relative to its directory */
		char *slash;
		if (!(base = strdup(dir))) {
			bl_error_set(err, errlen, "out of memory");
			goto out;
		}
		slash = strrchr(base, '/');
		if (slash)
			*slash = '\0';
		if (load_manifest(s, dir, slash ? base : ".", &pr, err, errlen) != BL_OK)
			goto out;
	} else if (load_manifest(s, dir, dir, &pr, err, errlen) != BL_OK) {
		goto out;
	}
	if (nproblems)
		*nproblems = pr.n;
	if (s->n == 0) {
		bl_error_set(err, errlen, "manifest '%s': no entries with a weight above 0", dir);
		goto out;
	}
	if (finish_load(s) != BL_OK || plan_verdict(s) != BL_OK) {
		bl_error_set(err, errlen, "out of memory");
		goto out;
	}
	ret = s;
	s = NULL;
out:
	free(base);
	bl_sampler_free(s);
	return ret;
}

void bl_sampler_free(bl_sampler *s)
{
	if (!s)
		return;
	bl_manifest_free(s->m);
	free(s->plan_failed);
	free(s->e);
	free(s->mem);
	free(s->lab);
	free(s->lweight);
	free(s->cnt);
	free(s->u);
	free(s->heap);
	free(s->kshard);
	free(s->multi.slot);
	intern_release(&s->keys);
	intern_release(&s->shards);
	intern_release(&s->labels);
	intern_release(&s->exts);
	free(s);
}

size_t bl_sampler_nentries(const bl_sampler *s)
{
	return s ? s->n : 0;
}

const bl_entry *bl_sampler_entry(const bl_sampler *s, size_t i)
{
	return s && i < s->n ? &s->e[i] : NULL;
}

size_t bl_sampler_nshards(const bl_sampler *s)
{
	return s ? s->shards.s.n : 0;
}

const char *bl_sampler_shard(const bl_sampler *s, size_t i)
{
	return s && i < s->shards.s.n ? s->shards.s.items[i] : NULL;
}

int bl_sampler_nlabels(const bl_sampler *s)
{
	return s ? (int)s->labels.s.n : 0;
}

const char *bl_sampler_label(const bl_sampler *s, int id)
{
	return s && id >= 0 && (size_t)id < s->labels.s.n ? s->labels.s.items[id] : NULL;
}

double bl_sampler_weight(const bl_sampler *s)
{
	return s ? s->wsum : 0;
}

double bl_sampler_label_weight(const bl_sampler *s, int id)
{
	return s && id >= 0 && (size_t)id < s->labels.s.n ? s->lweight[id] : 0;
}

int bl_sampler_repeats(const bl_sampler *s)
{
	return s ? s->repeats : 0;
}

const char *bl_sampler_digest(const bl_sampler *s)
{
	return s ? s->digest : NULL;
}

uint64_t bl_sampler_seed(const bl_sampler *s)
{
	return s ? s->seed : 0;
}

uint64_t bl_sampler_epoch_size(const bl_sampler *s)
{
	return s ? s->N : 0;
}

int bl_sampler_start(bl_sampler *s, uint64_t seed, uint32_t rank,
		     uint32_t world)
{
	if (!s || world == 0 || rank >= world)
		return BL_EUSAGE;
	s->seed = seed;
	s->rank = rank;
	s->world = world;
	s->pos = 0;
	s->ep = UINT64_MAX;
	return BL_OK;
}

int bl_sampler_split(bl_sampler *s, uint32_t worker, uint32_t nworkers,
		     uint32_t block)
{
	if (!s || nworkers == 0 || worker >= nworkers || block == 0)
		return BL_EUSAGE;
	s->worker = worker;
	s->nworkers = nworkers;
	s->block = block;
	return BL_OK;
}

int bl_sampler_seek(bl_sampler *s, uint64_t pos)
{
	if (!s)
		return BL_EUSAGE;
	s->pos = pos;
	return BL_OK;
}

uint64_t bl_sampler_position(const bl_sampler *s)
{
	return s ? s->pos : 0;
}

/* ---- the epoch order ------------------------------------------------ */

/* The time of copy j of an entry with phase u and c copies.  The one
 * expression for it: the heap and the bisection must agree to the bit. */
static inline double key_of(uint64_t j, double u, uint32_t c)
{
	return ((double)j + u) / (double)c;
}

static inline int node_less(const struct node *a, const struct node *b)
{
	return a->key < b->key || (a->key == b->key && a->i < b->i);
}

static void sift_down(struct node *h, size_t n, size_t k)
{
	struct node x = h[k];

	for (;;) {
		size_t c = 2 * k + 1;
		if (c >= n)
			break;
		if (c + 1 < n && node_less(&h[c + 1], &h[c]))
			c++;
		if (!node_less(&h[c], &x))
			break;
		h[k] = h[c];
		k = c;
	}
	h[k] = x;
}

static void heapify(bl_sampler *s)
{
	for (size_t k = s->nheap / 2; k-- > 0;)
		sift_down(s->heap, s->nheap, k);
}

/* An entry to place in its class: (copies << 32 | random) and itself. */
struct placing {
	uint64_t key;
	uint32_t i;
};

static int cmp_placing(const void *a, const void *b)
{
	const struct placing *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Phases of epoch ep, stratified by class: the n_c entries drawn c times
 * this epoch take the slots r = 0 .. n_c-1 of [0, 1) in a random order,
 * u = (r + v) / n_c with v uniform, so each class is spread evenly over
 * the epoch (independent phases would leave Poisson gaps between the
 * light entries, and a heavy one would bunch in them).  BL_OK, BL_ENOMEM.
 */
static int epoch_phases(bl_sampler *s, bl_rng *rng)
{
	struct placing *p = malloc(s->n * sizeof *p);
	size_t m = 0;

	if (!p)
		return BL_ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		s->u[i] = bl_rng_double(rng); /* v, for now */
		if (s->cnt[i])
			p[m++] = (struct placing){((uint64_t)s->cnt[i] << 32) | (bl_rng_next(rng) >> 32),
						  (uint32_t)i};
	}
	qsort(p, m, sizeof *p, cmp_placing);
	for (size_t a = 0, b; a < m; a = b) {
		for (b = a + 1; b < m && p[b].key >> 32 == p[a].key >> 32;)
			b++;
		for (size_t r = a; r < b; r++)
			s->u[p[r].i] = ((double)(r - a) + s->u[p[r].i]) / (double)(b - a);
	}
	free(p);
	return BL_OK;
}

/* Copies and phases of epoch ep.  BL_OK, BL_ENOMEM. */
static int epoch_counts(bl_sampler *s, uint64_t ep)
{
	bl_rng rng;
	uint64_t N = s->N, prev = 0;
	double scale, cum = 0, u0;

	bl_rng_seed2(&rng, s->seed, BL_RNG_STREAM_EPOCH(ep));
	u0 = bl_rng_double(&rng);
	/* exact when the weights are integers summing to N */
	scale = s->wsum == (double)N ? 1.0 : (double)N / s->wsum;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t k;
		double x;
		cum += s->e[i].weight * scale;
		/* points k = 0.. with k + u0 < cum: ceil(cum - u0) of them;
		 * the last entry takes what rounding left */
		x = ceil(cum - u0);
		k = i + 1 == s->n ? N : x <= 0 ? 0 : x >= (double)N ? N : (uint64_t)x;
		if (k < prev)
			k = prev;
		s->cnt[i] = (uint32_t)(k - prev);
		prev = k;
	}
	return epoch_phases(s, &rng);
}

/* Copies of entry i with time <= t. */
static uint64_t count_le(const bl_sampler *s, size_t i, double t)
{
	uint32_t c = s->cnt[i];
	double u = s->u[i], x;
	int64_t j;

	if (c == 0)
		return 0;
	/* an estimate of the last j, then made exact with key_of */
	x = floor(t * (double)c - u);
	j = x < -1 ? -1 : x > (double)c - 1 ? (int64_t)c - 1 : (int64_t)x;
	while (j + 1 < (int64_t)c && key_of((uint64_t)(j + 1), u, c) <= t)
		j++;
	while (j >= 0 && key_of((uint64_t)j, u, c) > t)
		j--;
	return (uint64_t)(j + 1);
}

static uint64_t total_le(const bl_sampler *s, double t)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += count_le(s, i, t);
	return sum;
}

static double bits_double(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof d);
	return d;
}

/*
 * Heap at epoch offset q: the copies before the q-th (0-based, in (time,
 * entry) order) consumed.  Near the start the heap is built at 0 and
 * popped forward; further on, the time T of the q-th copy is found by
 * bisection over the bit patterns of non-negative doubles (ordered like
 * the doubles), then each entry resumes at its first copy after
 * (T, entry of the q-th copy).
 */
static void epoch_heap_at(bl_sampler *s, uint64_t q);

static void pop_one(bl_sampler *s, size_t *entry)
{
	struct node *top = &s->heap[0];
	uint32_t i = top->i;

	*entry = i;
	if (++top->j < s->cnt[i]) {
		top->key = key_of(top->j, s->u[i], s->cnt[i]);
	} else {
		s->heap[0] = s->heap[--s->nheap];
	}
	if (s->nheap)
		sift_down(s->heap, s->nheap, 0);
	s->next_q++;
}

static void epoch_heap_at(bl_sampler *s, uint64_t q)
{
	s->nheap = 0;
	if (q <= 4 * (uint64_t)s->n) {
		size_t dummy;
		for (size_t i = 0; i < s->n; i++)
			if (s->cnt[i])
				s->heap[s->nheap++] = (struct node){key_of(0, s->u[i], s->cnt[i]),
								    (uint32_t)i, 0};
		heapify(s);
		s->next_q = 0;
		while (s->next_q < q)
			pop_one(s, &dummy);
		return;
	}
	{
		uint64_t lo = 0, hi, before, want;
		double two = 2.0, T, Tprev;
		size_t iq = 0;

		memcpy(&hi, &two, sizeof hi); /* every time is below 2 */
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;
			if (total_le(s, bits_double(mid)) > q)
				hi = mid;
			else
				lo = mid + 1;
		}
		T = bits_double(lo);
		Tprev = lo ? bits_double(lo - 1) : -1.0;
		before = lo ? total_le(s, Tprev) : 0;
		/* the q-th copy is the (q - before)-th of those at time T, by
		 * entry index */
		want = q - before;
		for (size_t i = 0; i < s->n; i++) {
			uint64_t a = lo ? count_le(s, i, Tprev) : 0;
			if (count_le(s, i, T) > a) {
				if (want == 0) {
					iq = i;
					break;
				}
				want--;
			}
		}
		for (size_t i = 0; i < s->n; i++) {
			uint64_t j = lo ? count_le(s, i, Tprev) : 0;
			if (i < iq && count_le(s, i, T) > j)
				j++; /* its copy at T comes before the q-th */
			if (j < s->cnt[i])
				s->heap[s->nheap++] = (struct node){
					key_of(j, s->u[i], s->cnt[i]), (uint32_t)i, (uint32_t)j};
		}
		heapify(s);
		s->next_q = q;
	}
}

/* The entry at global position g.  BL_OK, BL_ENOMEM. */
static int draw_global(bl_sampler *s, uint64_t g, size_t *entry, uint64_t *epoch)
{
	uint64_t ep = g / s->N, q = g % s->N;

	if (ep != s->ep) {
		s->ep = UINT64_MAX;
		if (epoch_counts(s, ep) != BL_OK)
			return BL_ENOMEM;
		s->ep = ep;
		epoch_heap_at(s, q);
	} else if (q < s->next_q || q - s->next_q > 4 * (uint64_t)s->n) {
		epoch_heap_at(s, q);
	}
	while (s->next_q < q) {
		size_t skip;
		pop_one(s, &skip);
	}
	pop_one(s, entry);
	if (epoch)
		*epoch = ep;
	return BL_OK;
}

int bl_sampler_next(bl_sampler *s, size_t *entry, uint64_t *epoch)
{
	uint64_t p, blk;

	if (!s || !entry)
		return BL_EUSAGE;
	/* this worker's next position at or after pos */
	p = s->pos;
	blk = p / s->block;
	if (blk % s->nworkers != s->worker) {
		uint64_t ahead = (s->worker + s->nworkers - blk % s->nworkers) % s->nworkers;
		if (blk > UINT64_MAX - ahead || blk + ahead > UINT64_MAX / s->block)
			return BL_FAILED;
		p = (blk + ahead) * s->block;
	}
	if (p == UINT64_MAX || p > (UINT64_MAX - s->rank) / s->world)
		return BL_FAILED; /* beyond 2^64 global draws */
	if (draw_global(s, p * s->world + s->rank, entry, epoch) != BL_OK)
		return BL_ENOMEM;
	s->pos = p + 1;
	return BL_OK;
}

/* ---- states ------------------------------------------------------------ */

size_t bl_sampler_state_text(const bl_sampler *s, uint64_t steps, char *out,
			     size_t outlen)
{
	int n;

	if (!s)
		return 0;
	n = snprintf(out, out ? outlen : 0,
		     "{\"format\": \"%s\", \"version\": 1, \"manifest_sha256\": \"%s\", "
		     "\"seed\": \"%" PRIu64 "\", \"rank\": %" PRIu32 ", \"world\": %" PRIu32
		     ", \"position\": %" PRIu64 ", \"steps\": %" PRIu64 "}\n",
		     STATE_FORMAT, s->digest, s->seed, s->rank, s->world, s->pos, steps);
	return n < 0 ? 0 : (size_t)n;
}

int bl_sampler_save_state(const bl_sampler *s, const char *path,
			  uint64_t steps, char *err, size_t errlen)
{
	char text[512];
	size_t n;

	if (!s || !path) {
		bl_error_set(err, errlen, "no sampler or path");
		return BL_FAILED;
	}
	n = bl_sampler_state_text(s, steps, text, sizeof text);
	if (n >= sizeof text)
		return BL_FAILED;
	return bl_file_write_atomic(path, text, n, err, errlen) == BL_OK ? BL_OK : BL_FAILED;
}

/* A non-negative integer field: a JSON number that holds it exactly
 * (below 2^53) or a decimal string (up to 2^64 - 1). */
static int get_u64(const cJSON *o, const char *name, uint64_t *v)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsNumber(it) && it->valuedouble >= 0 &&
	    it->valuedouble < 9007199254740992.0 && it->valuedouble == floor(it->valuedouble)) {
		*v = (uint64_t)it->valuedouble;
		return 1;
	}
	return cJSON_IsString(it) && bl_seed_parse(it->valuestring, v) == BL_OK;
}

int bl_sampler_state_restore(bl_sampler *s, const char *text, size_t len,
			     uint64_t *steps, char *err, size_t errlen)
{
	cJSON *o = NULL;
	const cJSON *fmt, *dig, *ver;
	uint64_t seed, rank, world, pos, st = 0;
	int rc = BL_FAILED;

	if (!s || (!text && len)) {
		bl_error_set(err, errlen, "no sampler or state");
		return BL_EUSAGE;
	}
	if (len > MAX_STATE) {
		bl_error_set(err, errlen, "not a ballast sampler state (%zu bytes)", len);
		goto out;
	}
	o = cJSON_ParseWithLength(text, len);
	fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
	ver = cJSON_GetObjectItemCaseSensitive(o, "version");
	dig = cJSON_GetObjectItemCaseSensitive(o, "manifest_sha256");
	if (!cJSON_IsObject(o) || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, STATE_FORMAT) ||
	    !cJSON_IsNumber(ver) || ver->valuedouble != 1 ||
	    !cJSON_IsString(dig) || !get_u64(o, "seed", &seed) ||
	    !get_u64(o, "rank", &rank) || !get_u64(o, "world", &world) ||
	    !get_u64(o, "position", &pos) ||
	    (cJSON_GetObjectItemCaseSensitive(o, "steps") && !get_u64(o, "steps", &st))) {
		bl_error_set(err, errlen, "not a ballast sampler state (format, version 1, "
		       "manifest_sha256, seed, rank, world, position, steps)");
		goto out;
	}
	if (strcmp(dig->valuestring, s->digest)) {
		bl_error_set(err, errlen, "saved for another manifest (sha256 %.12s..., this one %.12s...)",
		       dig->valuestring, s->digest);
		goto out;
	}
	if (world != s->world || rank != s->rank) {
		bl_error_set(err, errlen, "saved for rank %" PRIu64 " of %" PRIu64
		       ", this run is rank %" PRIu32 " of %" PRIu32, rank, world,
		       s->rank, s->world);
		goto out;
	}
	if (pos == UINT64_MAX || pos > (UINT64_MAX - rank) / world) {
		bl_error_set(err, errlen, "position %" PRIu64 " is beyond 2^64 draws", pos);
		goto out;
	}
	bl_sampler_start(s, seed, (uint32_t)rank, (uint32_t)world);
	s->pos = pos;
	if (steps)
		*steps = st;
	rc = BL_OK;
out:
	cJSON_Delete(o);
	return rc;
}

int bl_sampler_load_state(bl_sampler *s, const char *path, uint64_t *steps,
			  char *err, size_t errlen)
{
	bl_buf text;
	FILE *f = NULL;
	char chunk[4096], msg[512];
	size_t n;
	int rc = BL_FAILED;

	bl_buf_init(&text, MAX_STATE + 1);
	if (!s || !path) {
		bl_error_set(err, errlen, "no sampler or path");
		goto out;
	}
	if (!(f = fopen(path, "rb"))) {
		bl_error_set(err, errlen, "state '%s': cannot read: %s", path, strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (bl_buf_add(&text, chunk, n) != BL_OK) {
			bl_error_set(err, errlen, "state '%s': not a ballast sampler state (over %zu bytes)",
			       path, MAX_STATE);
			goto out;
		}
	if (ferror(f)) {
		bl_error_set(err, errlen, "state '%s': cannot read: %s", path, strerror(errno));
		goto out;
	}
	rc = bl_sampler_state_restore(s, text.buf, text.len, steps, msg, sizeof msg);
	if (rc != BL_OK)
		bl_error_set(err, errlen, "state '%s': %s", path, msg);
out:
	if (f)
		fclose(f);
	bl_buf_release(&text);
	return rc;
}

int bl_sampler_resolve_shard(const char *dir, const char *path, bl_buf *out)
{
	bl_buf base;
	int rc;

	if (!dir || !path || !out)
		return BL_EUSAGE;
	/* the base bl_sampler_open uses: the directory, or a bare .jsonl's */
	bl_buf_init(&base, 0);
	if (is_dir(dir)) {
		rc = bl_buf_adds(&base, dir);
	} else {
		const char *slash = strrchr(dir, '/');
		rc = slash ? bl_buf_add(&base, dir, (size_t)(slash - dir)) : bl_buf_addch(&base, '.');
	}
	if (rc == BL_OK)
		rc = resolve_shard(path, base.buf, out);
	bl_buf_release(&base);
	return rc == BL_OK ? BL_OK : BL_ENOMEM;
}
