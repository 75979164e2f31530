/*
 * sampler.c - a manifest held in memory, and weighted, seeded, resumable
 * draws from it with a rank/world split.
 *
 * Loading goes through the manifest reader of lib/manifest.c
 * (bl_manifest_open/next: manifest.json checked, then shards/NNNNN.jsonl,
 * one JSON object a kept sample, in shard order; manifests/FORMAT.md),
 * plus the scalars of manifest.json for bl_sampler_meta.  A bare .jsonl
 * file of entries (hand-made subsets, benchmarks) is read here with cJSON.  Entries live in one array; keys,
 * shard paths and label names are interned, so memory is about 80 bytes
 * an entry plus its key.
 *
 * Draws.  An epoch is N = round(sum w) positions.  Systematic sampling
 * (one uniform offset u, points u, u+1, ..., u+N-1 laid over the
 * cumulative scaled weights N*w/sum w) gives every entry floor or ceil of
 * its expected count, the sum exactly N, and integer weights summing to N
 * exactly their count; Fisher-Yates then shuffles the N positions.  The
 * whole epoch comes from bl_rng_seed2(seed, epoch), so no draw depends on
 * threads, batch size or rank: rank r of W takes global positions
 * r, r+W, ..., and a saved position resumes the same stream.  One epoch's
 * permutation (4 bytes a draw) is kept at a time.
 */
#include "ballast.h"

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

#define MAX_META ((size_t)64 << 20)  /* manifest.json */
#define STATE_FORMAT "ballast-sampler-state"

/* String interning: open addressing over indexes into a strlist. */
struct intern {
	bl_strlist s;
	size_t *slot; /* 0 empty, else index + 1 */
	size_t cap;
};

struct bl_sampler {
	bl_entry *e;
	size_t n, alloc;
	struct intern keys, shards, labels;
	int *lab;     /* label ids of all entries, entry by entry */
	size_t nlab, alab;
	double wsum;
	double *lweight; /* per label id */
	int repeats;
	char digest[65];
	bl_strlist meta; /* name, value, name, value ... */
	/* draws */
	uint64_t seed, pos, N;
	uint32_t rank, world;
	uint32_t *perm;
	uint64_t perm_epoch; /* UINT64_MAX: none */
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

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Read a whole file into b (capped).  BL_OK / BL_FAILED (errno set). */
static int slurp(const char *path, bl_buf *b)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int rc = BL_FAILED;

	if (!f)
		return BL_FAILED;
	bl_buf_reset(b);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (bl_buf_add(b, chunk, n) != BL_OK) {
			errno = EFBIG;
			goto out;
		}
	if (!ferror(f))
		rc = BL_OK;
out:
	fclose(f);
	return rc;
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The scalars of manifest.json become name/value pairs. */
static int load_meta(bl_sampler *s, const char *text)
{
	cJSON *root = cJSON_Parse(text), *it;
	char num[64];
	int rc = BL_FAILED;

	if (!root || !cJSON_IsObject(root))
		goto out;
	cJSON_ArrayForEach(it, root) {
		const char *v = NULL;
		if (!it->string)
			continue;
		if (cJSON_IsString(it))
			v = it->valuestring;
		else if (cJSON_IsNumber(it)) {
			double d = it->valuedouble;
			if (d == floor(d) && fabs(d) < 9e15)
				snprintf(num, sizeof num, "%.0f", d);
			else
				snprintf(num, sizeof num, "%.17g", d);
			v = num;
		} else if (cJSON_IsBool(it))
			v = cJSON_IsTrue(it) ? "true" : "false";
		else if (cJSON_IsObject(it) && !strcmp(it->string, "policy")) {
			/* the realisation may sit inside the policy object */
			cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "realise");
			if (cJSON_IsString(r) &&
			    (bl_strlist_add(&s->meta, "policy.realise") != BL_OK ||
			     bl_strlist_add(&s->meta, r->valuestring) != BL_OK))
				goto out;
		}
		if (v && (bl_strlist_add(&s->meta, it->string) != BL_OK ||
			  bl_strlist_add(&s->meta, v) != BL_OK))
			goto out;
	}
	rc = BL_OK;
out:
	cJSON_Delete(root);
	return rc;
}

const char *bl_sampler_meta(const bl_sampler *s, const char *field)
{
	if (!s || !field)
		return NULL;
	for (size_t i = 0; i + 1 < s->meta.n; i += 2)
		if (!strcmp(s->meta.items[i], field))
			return s->meta.items[i + 1];
	return NULL;
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
	if (s->nlab == s->alab) {
		size_t na = s->alab ? s->alab * 2 : 1024;
		int *nl = realloc(s->lab, na * sizeof *nl);
		if (!nl)
			return BL_ENOMEM;
		s->lab = nl;
		s->alab = na;
	}
	s->lab[s->nlab++] = (int)id;
	return BL_OK;
}

/* Add one kept entry; labels as ",a,b," (NULL: none).  BL_OK, BL_END
 * (weight 0: not kept), BL_FAILED / BL_ENOMEM with a message. */
static int add_entry(bl_sampler *s, const char *key, const char *shard,
		     double ord, double off, double w, const char *labels,
		     const char *base, bl_buf *tmp, char *msg, size_t msglen)
{
	bl_entry *e;
	long si, ki;

	if (!(w >= 0) || !isfinite(w) || ord < 0 || off < 0) {
		seterr(msg, msglen, "negative or non-finite number");
		return BL_FAILED;
	}
	if (w == 0)
		return BL_END;
	if (s->n == s->alloc) {
		size_t na = s->alloc ? s->alloc * 2 : 1024;
		bl_entry *ne = realloc(s->e, na * sizeof *ne);
		if (!ne)
			goto nomem;
		s->e = ne;
		s->alloc = na;
	}
	if (resolve_shard(shard, base, tmp) != BL_OK ||
	    (si = intern_add(&s->shards, tmp->buf)) < 0 ||
	    (ki = intern_add(&s->keys, key)) < 0)
		goto nomem;
	e = &s->e[s->n];
	memset(e, 0, sizeof *e);
	e->shard_index = (uint32_t)si;
	e->key = (const char *)(uintptr_t)ki; /* fixed up after loading */
	e->ordinal = (uint64_t)ord;
	e->offset = (int64_t)off;
	e->weight = w;
	e->labels = (const int *)(uintptr_t)s->nlab; /* likewise */
	for (const char *p = labels ? labels : ""; *p;) {
		const char *q = strchr(p, ',');
		size_t len = q ? (size_t)(q - p) : strlen(p);
		if (len) {
			bl_buf_reset(tmp);
			if (bl_buf_add(tmp, p, len) != BL_OK || add_label(s, tmp->buf) != BL_OK) {
				seterr(msg, msglen, "too many labels (at most %d)", BL_MAX_LABELS);
				return BL_FAILED;
			}
			e->nlabels++;
		}
		p += len + (q ? 1 : 0);
	}
	s->n++;
	s->wsum += w;
	return BL_OK;
nomem:
	seterr(msg, msglen, "out of memory");
	return BL_ENOMEM;
}

/* A manifest directory or a bare .jsonl, through the reader of
 * lib/manifest.c; relative shard paths are taken from base. */
static int load_manifest(bl_sampler *s, const char *dir, const char *base, char *err,
			 size_t errlen)
{
	bl_manifest *m = bl_manifest_open(dir, err, errlen);
	const bl_manifest_entry *e;
	bl_buf tmp;
	char msg[256];
	int r, rc = BL_FAILED;

	bl_buf_init(&tmp, 0);
	if (!m)
		goto out;
	while ((r = bl_manifest_next(m, &e)) == BL_OK) {
		r = add_entry(s, e->key, e->shard, (double)e->ordinal, (double)e->offset,
			      e->weight, e->labels, base, &tmp, msg, sizeof msg);
		if (r != BL_OK && r != BL_END) {
			seterr(err, errlen, "manifest '%s' key '%s': %s", dir, e->key, msg);
			goto out;
		}
	}
	if (r != BL_END) {
		seterr(err, errlen, "manifest '%s': %s", dir, bl_manifest_errmsg(m));
		goto out;
	}
	rc = BL_OK;
out:
	bl_manifest_free(m);
	bl_buf_release(&tmp);
	return rc;
}

/* Pointers fixed up, label weights, digest, repeat mode. */
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
	s->N = (uint64_t)llround(s->wsum);
	if (s->N < 1)
		s->N = 1;
	return BL_OK;
}

bl_sampler *bl_sampler_open(const char *dir, char *err, size_t errlen)
{
	bl_sampler *s = calloc(1, sizeof *s), *ret = NULL;
	bl_buf path, text;

	bl_buf_init(&path, 0);
	bl_buf_init(&text, MAX_META);
	if (!s || !dir) {
		seterr(err, errlen, s ? "no manifest given" : "out of memory");
		goto out;
	}
	bl_strlist_init(&s->keys.s);
	bl_strlist_init(&s->shards.s);
	bl_strlist_init(&s->labels.s);
	bl_strlist_init(&s->meta);
	s->perm_epoch = UINT64_MAX;
	s->world = 1;
	if (!is_dir(dir)) {
		/* a bare .jsonl: shard paths relative to its directory */
		char *base = strdup(dir), *slash;
		if (!base) {
			seterr(err, errlen, "out of memory");
			goto out;
		}
		slash = strrchr(base, '/');
		if (slash)
			*slash = '\0';
		int r = load_manifest(s, dir, slash ? base : ".", err, errlen);
		free(base);
		if (r != BL_OK)
			goto out;
	} else {
		/* the scalars for bl_sampler_meta; bl_manifest_open checks
		 * the format */
		bl_buf_addf(&path, "%s/manifest.json", dir);
		if (slurp(path.buf, &text) == BL_OK)
			load_meta(s, text.buf); /* a bad file fails in the next call */
		if (load_manifest(s, dir, dir, err, errlen) != BL_OK)
			goto out;
	}
	if (s->n == 0) {
		seterr(err, errlen, "manifest '%s': no entries with a weight above 0", dir);
		goto out;
	}
	if (s->n >= UINT32_MAX) {
		seterr(err, errlen, "manifest '%s': too many entries", dir);
		goto out;
	}
	if (finish_load(s) != BL_OK) {
		seterr(err, errlen, "out of memory");
		goto out;
	}
	ret = s;
	s = NULL;
out:
	bl_buf_release(&path);
	bl_buf_release(&text);
	bl_sampler_free(s);
	return ret;
}

void bl_sampler_free(bl_sampler *s)
{
	if (!s)
		return;
	free(s->e);
	free(s->lab);
	free(s->lweight);
	free(s->perm);
	intern_release(&s->keys);
	intern_release(&s->shards);
	intern_release(&s->labels);
	bl_strlist_release(&s->meta);
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
	s->perm_epoch = UINT64_MAX;
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

/* The permutation of epoch ep: systematic sampling, then Fisher-Yates. */
static int build_epoch(bl_sampler *s, uint64_t ep)
{
	bl_rng rng;
	uint64_t k = 0, N = s->N;
	double scale, cum = 0, u;

	if (!s->perm) {
		s->perm = malloc(N * sizeof *s->perm);
		if (!s->perm)
			return BL_ENOMEM;
	}
	bl_rng_seed2(&rng, s->seed, ep);
	u = bl_rng_double(&rng);
	/* exact when the weights are integers summing to N */
	scale = s->wsum == (double)N ? 1.0 : (double)N / s->wsum;
	for (size_t i = 0; i < s->n && k < N; i++) {
		cum += s->e[i].weight * scale;
		while (k < N && (double)k + u < cum)
			s->perm[k++] = (uint32_t)i;
	}
	while (k < N) /* rounding left the last point unplaced */
		s->perm[k++] = (uint32_t)(s->n - 1);
	for (uint64_t i = N - 1; i > 0; i--) {
		uint64_t j = bl_rng_below(&rng, i + 1);
		uint32_t t = s->perm[i];
		s->perm[i] = s->perm[j];
		s->perm[j] = t;
	}
	s->perm_epoch = ep;
	return BL_OK;
}

int bl_sampler_next(bl_sampler *s, size_t *entry, uint64_t *epoch)
{
	uint64_t g, ep;
	int rc = BL_EUSAGE;

	if (!s || !entry)
		goto out;
	g = s->pos * s->world + s->rank;
	ep = g / s->N;
	if (ep != s->perm_epoch) {
		rc = build_epoch(s, ep);
		if (rc != BL_OK)
			goto out;
	}
	*entry = s->perm[g % s->N];
	if (epoch)
		*epoch = ep;
	s->pos++;
	rc = BL_OK;
out:
	return rc;
}

int bl_sampler_save_state(const bl_sampler *s, const char *path,
			  uint64_t steps, char *err, size_t errlen)
{
	bl_buf text;
	int rc = BL_FAILED;

	bl_buf_init(&text, 0);
	if (!s || !path) {
		seterr(err, errlen, "no sampler or path");
		goto out;
	}
	bl_buf_addf(&text,
		    "{\"format\": \"%s\", \"version\": 1, \"manifest_sha256\": \"%s\", "
		    "\"seed\": \"%" PRIu64 "\", \"rank\": %" PRIu32 ", \"world\": %" PRIu32
		    ", \"position\": %" PRIu64 ", \"steps\": %" PRIu64 "}\n",
		    STATE_FORMAT, s->digest, s->seed, s->rank, s->world, s->pos, steps);
	if (bl_file_write_atomic(path, text.buf, text.len, err, errlen) != BL_OK)
		goto out;
	rc = BL_OK;
out:
	bl_buf_release(&text);
	return rc;
}

/* A non-negative integer field given as a number or a decimal string. */
static int get_u64(cJSON *o, const char *name, uint64_t *v)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
	char *end;

	if (cJSON_IsNumber(it) && it->valuedouble >= 0) {
		*v = (uint64_t)it->valuedouble;
		return 1;
	}
	if (cJSON_IsString(it) && it->valuestring[0] >= '0' && it->valuestring[0] <= '9') {
		errno = 0;
		*v = strtoull(it->valuestring, &end, 10);
		return errno == 0 && *end == '\0';
	}
	return 0;
}

int bl_sampler_load_state(bl_sampler *s, const char *path, uint64_t *steps,
			  char *err, size_t errlen)
{
	bl_buf text;
	cJSON *o = NULL, *fmt, *dig;
	uint64_t seed, rank, world, pos, st = 0;
	int rc = BL_FAILED;

	bl_buf_init(&text, 1 << 20);
	if (!s || !path) {
		seterr(err, errlen, "no sampler or path");
		goto out;
	}
	if (slurp(path, &text) != BL_OK) {
		seterr(err, errlen, "state '%s': cannot read: %s", path, strerror(errno));
		goto out;
	}
	o = cJSON_Parse(text.buf);
	fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
	dig = cJSON_GetObjectItemCaseSensitive(o, "manifest_sha256");
	if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, STATE_FORMAT) ||
	    !cJSON_IsString(dig) || !get_u64(o, "seed", &seed) ||
	    !get_u64(o, "rank", &rank) || !get_u64(o, "world", &world) ||
	    !get_u64(o, "position", &pos)) {
		seterr(err, errlen, "state '%s': not a ballast sampler state", path);
		goto out;
	}
	get_u64(o, "steps", &st);
	if (strcmp(dig->valuestring, s->digest)) {
		seterr(err, errlen, "state '%s': saved for another manifest (sha256 %.12s..., this one %.12s...)",
		       path, dig->valuestring, s->digest);
		goto out;
	}
	if (world != s->world || rank != s->rank) {
		seterr(err, errlen, "state '%s': saved for rank %" PRIu64 " of %" PRIu64
		       ", this run is rank %" PRIu32 " of %" PRIu32, path, rank, world,
		       s->rank, s->world);
		goto out;
	}
	bl_sampler_start(s, seed, (uint32_t)rank, (uint32_t)world);
	s->pos = pos;
	if (steps)
		*steps = st;
	rc = BL_OK;
out:
	cJSON_Delete(o);
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
