/*
 * export_write.c - `ballast write`: a manifest as new WebDataset shards.
 *
 * Two passes.  The first walks the source shards (bl_export_walk, one
 * stream a shard) and appends every usable sample, as it will be written
 * (json with its weight, caption with its rating tag), to a spool file
 * inside the output directory, unlinked at once so that no run leaves it
 * behind.  The second writes the output shards in placement order,
 * reading each sample back from the spool: copy k of a sample with n
 * copies goes at position (k + phase) / n of the output, the phases
 * stratified over the entries by a seeded permutation, so that the
 * copies of a heavy sample are spread evenly over shards and positions
 * and the samples between two of them come in even numbers.  A min-heap
 * over the entries yields that order with one slot per entry in memory.
 * When no sample has copies there is nothing to spread: each sample is
 * written as it is read, in (shard, ordinal) order, without a spool.
 *
 * Names: every entry keeps its key unless an earlier one has it (then
 * KEY_dN); copies are KEY_rK, or KEY_dN_rK when a key of the output is
 * already KEY_rK.  What `ballast ls` reads back is exactly what the
 * totals report.
 */
#include "error_int.h"
#include "alloc_int.h"
#include "ballast.h"
#include "export_int.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEF_PER_SHARD 10000
#define READ_MAX_PATH 4096 /* the reader's default path limit: names stay under it */

/* "nsfw" / "suggestive" / NULL for an entry's labels. */
static const char *rating_of(const bl_sampler *s, const bl_entry *e)
{
	const char *r = NULL;
	for (int k = 0; k < e->nlabels; k++) {
		const char *l = bl_sampler_label(s, e->labels[k]);
		if (!strcmp(l, "sexual.explicit"))
			return "nsfw";
		if (!strcmp(l, "sexual.suggestive"))
			r = "suggestive";
	}
	return r;
}

/*
 * Per entry: its output key when it had to change, its copies, the phase
 * of their placement, and where its members sit in the spool.
 */
struct went {
	char *key;       /* NULL: the entry's own key */
	char *cbase;     /* copies are CBASE_rK; NULL: KEY_rK */
	uint32_t copies; /* 0: not written */
	double phase;    /* in [0, 1) */
	int64_t at;      /* spool offset, -1 when not spooled */
	uint64_t len;
};

struct wctx {
	struct bl_export_ctx x;
	struct went *we;
	int repeats;
	int direct;      /* no entry has copies: no spool, no placement */
	int spool;
	int64_t spool_end;
	bl_buf rec, json, cap, key;
	/* output */
	const char *dir;
	bl_writer *wr;
	uint64_t in_shard, nshard, per_shard;
	uint64_t *shard_samples;
	double *shard_weight;
	size_t shard_alloc;
};

static int rec_u32(bl_buf *b, uint32_t v)
{
	return bl_buf_add(b, &v, sizeof v);
}

static int rec_u64(bl_buf *b, uint64_t v)
{
	return bl_buf_add(b, &v, sizeof v);
}

/* A member into the spool record: ext (as in the member name), bytes. */
static int rec_member(bl_buf *b, const char *ext, const void *data, size_t len)
{
	size_t el = strlen(ext);
	if (rec_u32(b, (uint32_t)el) != BL_OK || bl_buf_add(b, ext, el) != BL_OK ||
	    rec_u64(b, len) != BL_OK || bl_buf_add(b, data, len) != BL_OK)
		return BL_ENOMEM;
	return BL_OK;
}

/* The json member as written: the original with "ballast_weight".
 * BL_OK, BL_FAILED (does not parse as an object), BL_ENOMEM. */
static int weighted_json(const bl_sample *smp, double w, bl_buf *out)
{
	cJSON *o = NULL;
	char *txt;
	int rc = BL_FAILED;

	bl_buf_reset(out);
	if (smp->json)
		o = cJSON_ParseWithLength((const char *)smp->json->data, smp->json->len);
	else
		o = cJSON_CreateObject();
	if (!cJSON_IsObject(o))
		goto out;
	rc = BL_ENOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(o, "ballast_weight");
	if (!cJSON_AddNumberToObject(o, "ballast_weight", w) || !(txt = cJSON_PrintUnformatted(o)))
		goto out;
	rc = bl_buf_adds(out, txt);
	free(txt);
out:
	cJSON_Delete(o);
	return rc;
}

static int emit(struct wctx *c, size_t idx, uint32_t k);

static int spool_one(void *ctx, size_t idx, const bl_entry *e, const bl_sample *smp,
		     const char *why)
{
	struct wctx *c = ctx;
	struct went *we = &c->we[idx];
	const char *rating = c->x.opt->rating_tags ? rating_of(c->x.s, e) : NULL;
	const char *key = we->key ? we->key : e->key;
	size_t keylen = smp ? strlen(smp->key) : 0;
	uint32_t nm = 0;
	int rc;

	bl_export_progress(&c->x, "reading");
	if (!we->copies) {
		bl_export_item_error(&c->x, BL_SKIP_TOO_HEAVY, "shard '%s' key '%s': weight %g asks "
				     "for more than %d copies; not written", e->shard, e->key,
				     e->weight, BL_EXPORT_MAX_COPIES);
		return BL_FAILED;
	}
	if (!bl_export_usable(&c->x, e, smp, why))
		return BL_FAILED;
	/* fractional weights travel in the json member */
	bl_buf_reset(&c->json);
	if (!c->repeats || (smp->json && memmem(smp->json->data, smp->json->len,
						 "\"ballast_weight\"", 16))) {
		rc = weighted_json(smp, c->repeats ? 1.0 : e->weight, &c->json);
		if (rc == BL_ENOMEM)
			goto nomem;
		if (rc != BL_OK) {
			bl_export_item_error(&c->x, BL_SKIP_BAD_JSON,
					     "shard '%s' key '%s' at offset %" PRId64 ": json member "
					     "is not a JSON object, so the weight cannot be stored; "
					     "not written", e->shard, e->key, smp->offset);
			return BL_FAILED;
		}
	}
	/* the longest name written: the last copy's */
	size_t longest = strlen(key);
	if (we->copies > 1)
		longest = strlen(we->cbase ? we->cbase : key) + 2 +
			  (size_t)snprintf(NULL, 0, "%" PRIu32, we->copies - 1);
	for (size_t m = 0; m < smp->nmembers; m++) {
		const char *ext = smp->members[m].name + keylen + 1;
		if (longest + 1 + strlen(ext) > READ_MAX_PATH) {
			bl_export_item_error(&c->x, BL_SKIP_NAME_TOO_LONG,
					     "shard '%s' key '%s': member names would be over %d "
					     "bytes, more than a reader takes; not written",
					     e->shard, e->key, READ_MAX_PATH);
			return BL_FAILED;
		}
	}
	bl_buf_reset(&c->rec);
	rec_u32(&c->rec, 0); /* member count, set below */
	for (size_t m = 0; m < smp->nmembers; m++) {
		const bl_member *mb = &smp->members[m];
		const char *ext = mb->name + keylen + 1; /* as named, case kept */
		const void *data = mb->data ? (const void *)mb->data : "";
		size_t len = mb->len;
		if (mb == smp->json && c->json.len) {
			data = c->json.buf;
			len = c->json.len;
		} else if (mb == smp->caption && rating) {
			bl_buf_reset(&c->cap);
			bl_buf_add(&c->cap, data, len);
			while (c->cap.len && strchr(" \t\r\n", c->cap.buf[c->cap.len - 1]))
				c->cap.buf[--c->cap.len] = '\0';
			bl_buf_addf(&c->cap, "%s%s", c->cap.len ? ", " : "", rating);
			data = c->cap.buf;
			len = c->cap.len;
			c->x.tot->rated++;
		}
		if (rec_member(&c->rec, ext, data, len) != BL_OK)
			goto nomem;
		nm++;
	}
	if (!smp->json && c->json.len) {
		if (rec_member(&c->rec, "json", c->json.buf, c->json.len) != BL_OK)
			goto nomem;
		nm++;
	}
	memcpy(c->rec.buf, &nm, sizeof nm);
	if (c->direct) {
		/* nothing repeats: written as read, in (shard, ordinal) order */
		if (!c->repeats)
			c->x.tot->weighted++;
		we->at = 0;
		return emit(c, idx, 0);
	}
	for (size_t off = 0; off < c->rec.len;) {
		ssize_t n = pwrite(c->spool, c->rec.buf + off, c->rec.len - off,
				   (off_t)(c->spool_end + (int64_t)off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			bl_error_set(c->x.err, c->x.errlen, "cannot write the spool file in "
					 "'%s': %s", c->dir, strerror(errno));
			return BL_FATAL;
		}
		off += (size_t)n;
	}
	we->at = c->spool_end;
	we->len = c->rec.len;
	c->spool_end += (int64_t)c->rec.len;
	if (!c->repeats)
		c->x.tot->weighted++;
	return BL_OK;
nomem:
	bl_error_set(c->x.err, c->x.errlen, "out of memory");
	return BL_ENOMEM;
}

/* Placement: a min-heap of (position, entry, copy); copy k of an entry
 * with n copies sits at (k + phase) / n of the output. */
struct slot {
	double pos;
	size_t idx;
	uint32_t k;
};

static int slot_less(const struct slot *a, const struct slot *b)
{
	if (a->pos != b->pos)
		return a->pos < b->pos;
	if (a->idx != b->idx)
		return a->idx < b->idx;
	return a->k < b->k;
}

static void heap_push(struct slot *h, size_t *n, struct slot v)
{
	size_t i = (*n)++;
	while (i > 0 && slot_less(&v, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = v;
}

static struct slot heap_pop(struct slot *h, size_t *n)
{
	struct slot top = h[0], last = h[--*n];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		const struct slot *best = &last;
		if (l < *n && slot_less(&h[l], best))
			best = &h[m = l];
		if (l + 1 < *n && slot_less(&h[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = last;
	return top;
}

static int next_output(struct wctx *c)
{
	bl_buf p;
	int rc = BL_FATAL;

	if (c->in_shard < c->per_shard && c->nshard > 0)
		return BL_OK;
	bl_buf_init(&p, 0);
	if (c->nshard > 0 && bl_writer_close(c->wr) != BL_OK) {
		bl_error_set(c->x.err, c->x.errlen, "%s", bl_writer_errmsg(c->wr));
		goto out;
	}
	if (c->nshard == c->shard_alloc) {
		/* two arrays of one room: it is the smaller of theirs */
		size_t a1 = c->shard_alloc, a2 = c->shard_alloc;
		int g1 = BL_ALLOC_GROW(c->shard_samples, c->nshard + 1, a1);
		int g2 = g1 == BL_OK ? BL_ALLOC_GROW(c->shard_weight, c->nshard + 1, a2) : g1;
		c->shard_alloc = a1 < a2 ? a1 : a2;
		if (g2 != BL_OK) {
			bl_error_set(c->x.err, c->x.errlen, "out of memory");
			rc = BL_ENOMEM;
			goto out;
		}
	}
	bl_buf_addf(&p, "%s/%05" PRIu64 ".tar", c->dir, c->nshard);
	if (bl_writer_open(c->wr, p.buf) != BL_OK) {
		bl_error_set(c->x.err, c->x.errlen, "%s", bl_writer_errmsg(c->wr));
		goto out;
	}
	c->shard_samples[c->nshard] = 0;
	c->shard_weight[c->nshard] = 0;
	c->x.tot->files++;
	c->nshard++;
	c->in_shard = 0;
	rc = BL_OK;
out:
	bl_buf_release(&p);
	return rc;
}

/* Copy k of entry idx into the output, read back from the spool. */
/* Copy k of entry idx, as recorded in c->rec, into the output. */
static int emit(struct wctx *c, size_t idx, uint32_t k)
{
	const bl_entry *e = bl_sampler_entry(c->x.s, idx);
	const struct went *we = &c->we[idx];
	const char *p, *end;
	uint32_t nm;
	int rc;

	if ((rc = next_output(c)) != BL_OK)
		return rc;
	/* the name: the key (made unique), BASE_rK for copy K */
	bl_buf_reset(&c->key);
	if (k == 0)
		bl_buf_adds(&c->key, we->key ? we->key : e->key);
	else
		bl_buf_addf(&c->key, "%s_r%" PRIu32, we->cbase ? we->cbase : we->key ? we->key
			    : e->key, k);
	p = c->rec.buf;
	end = p + c->rec.len;
	memcpy(&nm, p, sizeof nm);
	p += sizeof nm;
	for (uint32_t m = 0; m < nm; m++) {
		uint32_t el;
		uint64_t dl;
		char ext[READ_MAX_PATH + 1];
		memcpy(&el, p, sizeof el);
		p += sizeof el;
		if (el > READ_MAX_PATH || p + el + sizeof dl > end) {
			bl_error_set(c->x.err, c->x.errlen, "spool file damaged");
			return BL_FATAL;
		}
		memcpy(ext, p, el);
		ext[el] = '\0';
		p += el;
		memcpy(&dl, p, sizeof dl);
		p += sizeof dl;
		if (bl_writer_add(c->wr, c->key.buf, ext, p, (size_t)dl) != BL_OK) {
			bl_error_set(c->x.err, c->x.errlen, "%s", bl_writer_errmsg(c->wr));
			return BL_FATAL;
		}
		p += dl;
	}
	c->in_shard++;
	c->shard_samples[c->nshard - 1]++;
	c->shard_weight[c->nshard - 1] += c->repeats ? 1.0 : e->weight;
	c->x.tot->samples++;
	if (k > 0)
		c->x.tot->copies++;
	return BL_OK;
}

/* Copy k of entry idx into the output, read back from the spool. */
static int write_copy(struct wctx *c, size_t idx, uint32_t k)
{
	const struct went *we = &c->we[idx];

	bl_buf_reset(&c->rec);
	if (bl_buf_grow(&c->rec, we->len) != BL_OK) {
		bl_error_set(c->x.err, c->x.errlen, "out of memory");
		return BL_ENOMEM;
	}
	for (uint64_t off = 0; off < we->len;) {
		ssize_t n = pread(c->spool, c->rec.buf + off, we->len - off,
				  (off_t)(we->at + (int64_t)off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			bl_error_set(c->x.err, c->x.errlen, "cannot read the spool file: %s",
					 n ? strerror(errno) : "short read");
			return BL_FATAL;
		}
		off += (uint64_t)n;
	}
	c->rec.len = we->len;
	return emit(c, idx, k);
}

/*
 * Output keys: every entry keeps its key unless an earlier entry (in
 * shard, ordinal order) has it; then KEY_dN, avoiding every key of the
 * manifest.  Copies are KEY_rK, or KEY_dN_rK when a key of the output
 * is already KEY_rK (fix_copy_names).  Unique decomposition (the last
 * _r<digits>) keeps the copies of different keys apart.
 */
static int assign_keys(struct wctx *c, struct bl_nameset *taken)
{
	const bl_sampler *s = c->x.s;
	size_t n = bl_sampler_nentries(s);
	struct bl_nameset all = {0};
	struct bl_export_ord *ord = malloc((n ? n : 1) * sizeof *ord);
	bl_buf b;
	int rc = BL_ENOMEM, renamed;

	bl_buf_init(&b, 0);
	if (!ord)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const bl_entry *e = bl_sampler_entry(s, i);
		ord[i] = (struct bl_export_ord){e->ordinal, e->shard_index, i};
		if (!bl_export_nameset_has(&all, e->key) && bl_export_nameset_add(&all, e->key) != BL_OK)
			goto out;
	}
	qsort(ord, n, sizeof *ord, bl_export_cmp_ord);
	for (size_t j = 0; j < n; j++) {
		const bl_entry *e = bl_sampler_entry(s, ord[j].idx);
		if (!bl_export_nameset_has(taken, e->key)) {
			if (bl_export_nameset_add(taken, e->key) != BL_OK)
				goto out;
			continue;
		}
		if (bl_export_unique_name(taken, &all, e->key, &b, &renamed) != BL_OK ||
		    !(c->we[ord[j].idx].key = strdup(b.buf)))
			goto out;
	}
	rc = BL_OK;
out:
	free(ord);
	bl_export_nameset_free(&all);
	bl_buf_release(&b);
	return rc;
}

/* Copies named KEY_rK that a key of the output already has would
 * collide: such an entry's copies get a base of their own, KEY_dN (a
 * name no key of the output has), and are KEY_dN_rK; copy 0 keeps KEY. */
static int fix_copy_names(struct wctx *c, struct bl_nameset *taken)
{
	size_t n = bl_sampler_nentries(c->x.s);
	bl_buf b, k;
	int rc = BL_ENOMEM, renamed;

	bl_buf_init(&b, 0);
	bl_buf_init(&k, 0);
	for (size_t i = 0; i < n; i++) {
		struct went *we = &c->we[i];
		const char *key = we->key ? we->key : bl_sampler_entry(c->x.s, i)->key;
		const char *base = key;
		for (int clash = 1; clash;) {
			clash = 0;
			for (uint32_t r = 1; r < we->copies && !clash; r++) {
				bl_buf_reset(&k);
				bl_buf_addf(&k, "%s_r%" PRIu32, base, r);
				clash = bl_export_nameset_has(taken, k.buf);
			}
			if (clash) {
				if (bl_export_unique_name(taken, NULL, key, &b, &renamed) != BL_OK)
					goto out;
				base = b.buf;
			}
		}
		if (base != key) {
			if (!(we->cbase = strdup(base)))
				goto out;
			c->x.tot->renamed += we->key == NULL;
		}
	}
	rc = BL_OK;
out:
	bl_buf_release(&b);
	bl_buf_release(&k);
	return rc;
}

/* shards.txt and shards.json of write's output, for webdataset users. */
static int write_shard_lists(struct wctx *c, const bl_file_dir *d, uint64_t seed)
{
	bl_buf txt, js, p;
	double W = 0;
	int rc = BL_ENOMEM;

	bl_buf_init(&txt, 0);
	bl_buf_init(&js, 0);
	bl_buf_init(&p, 0);
	for (uint64_t i = 0; i < c->nshard; i++)
		W += c->shard_weight[i];
	bl_buf_addf(&js, "{\"format\": \"ballast-shards\", \"version\": 1, \"manifest_sha256\": "
		    "\"%s\", \"seed\": \"%" PRIu64 "\", \"weights\": \"%s\", \"samples\": %" PRIu64
		    ", \"total_weight\": %.10g,\n \"shards\": [", bl_sampler_digest(c->x.s), seed,
		    c->repeats ? "copies" : "ballast_weight", c->x.tot->samples, W);
	for (uint64_t i = 0; i < c->nshard; i++) {
		bl_buf_addf(&txt, "%05" PRIu64 ".tar\n", i);
		bl_buf_addf(&js, "%s\n  {\"url\": \"%05" PRIu64 ".tar\", \"samples\": %" PRIu64
			    ", \"weight\": %.10g}", i ? "," : "", i, c->shard_samples[i],
			    c->shard_weight[i]);
	}
	if (bl_buf_adds(&js, "\n]}\n") != BL_OK)
		goto out;
	rc = BL_FAILED;
	bl_buf_addf(&p, "%s/shards.txt", d->tmp);
	if (bl_file_write_new(p.buf, txt.buf, txt.len, c->x.err, c->x.errlen) != BL_OK)
		goto out;
	bl_buf_reset(&p);
	bl_buf_addf(&p, "%s/shards.json", d->tmp);
	if (bl_file_write_new(p.buf, js.buf, js.len, c->x.err, c->x.errlen) != BL_OK)
		goto out;
	rc = BL_OK;
out:
	if (rc == BL_ENOMEM)
		bl_error_set(c->x.err, c->x.errlen, "out of memory");
	bl_buf_release(&txt);
	bl_buf_release(&js);
	bl_buf_release(&p);
	return rc;
}

int bl_export_write(const bl_sampler *s, const char *outdir,
		    const bl_export_options *opt, bl_export_totals *totals,
		    char *err, size_t errlen)
{
	bl_export_options dflt;
	bl_export_totals tot;
	bl_file_dir d = {0};
	struct bl_nameset taken = {0};
	struct wctx c;
	struct slot *heap = NULL;
	bl_limits lim;
	bl_rng rng;
	bl_buf p;
	size_t n = 0, nh = 0;
	uint64_t seed;
	int rc = BL_EUSAGE;

	memset(&c, 0, sizeof c);
	memset(&tot, 0, sizeof tot);
	c.spool = -1;
	bl_buf_init(&c.rec, 0);
	bl_buf_init(&c.json, 0);
	bl_buf_init(&c.cap, 0);
	bl_buf_init(&c.key, 0);
	bl_buf_init(&p, 0);
	if (!opt) {
		memset(&dflt, 0, sizeof dflt);
		opt = &dflt;
	}
	if (!s)
		goto out;
	n = bl_sampler_nentries(s);
	c.x = (struct bl_export_ctx){s, opt, &tot, err, errlen, 0, n};
	c.repeats = bl_sampler_repeats(s);
	c.per_shard = opt->per_shard ? opt->per_shard : DEF_PER_SHARD;
	seed = bl_export_seed(s, opt);
	rc = bl_file_dir_begin(&d, outdir, opt->force, BL_EXPORT_MARKER, err, errlen);
	if (rc != BL_OK)
		goto out;
	c.dir = d.tmp;
	rc = BL_ENOMEM;
	c.we = calloc(n ? n : 1, sizeof *c.we);
	heap = malloc((n ? n : 1) * sizeof *heap);
	c.wr = bl_writer_new();
	if (!c.we || !heap || !c.wr)
		goto nomem;
	/* copies, and placement phases: stratified, entry i in stratum
	 * strat[i] of n (a seeded permutation), so that between two copies of
	 * one sample the others come in even numbers, not in Poisson clumps */
	bl_rng_seed2(&rng, seed, BL_RNG_STREAM_PLACE);
	for (size_t i = 0; i < n; i++)
		heap[i].idx = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)bl_rng_below(&rng, i);
		size_t t = heap[i - 1].idx;
		heap[i - 1].idx = heap[j].idx;
		heap[j].idx = t;
	}
	for (size_t i = 0; i < n; i++) {
		const bl_entry *e = bl_sampler_entry(s, i);
		double r = c.repeats ? floor(e->weight + 0.5) : 1;
		/* over the limit: 0 copies, refused by spool_one */
		c.we[i].copies = r < 1 ? 1 : r > BL_EXPORT_MAX_COPIES ? 0 : (uint32_t)r;
		c.we[i].phase = ((double)heap[i].idx + bl_rng_double(&rng)) / (double)n;
		c.we[i].at = -1;
	}
	if (assign_keys(&c, &taken) != BL_OK)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		tot.renamed += c.we[i].key != NULL;
	if (fix_copy_names(&c, &taken) != BL_OK)
		goto nomem;
	c.direct = 1;
	for (size_t i = 0; i < n && c.direct; i++)
		c.direct = c.we[i].copies == 1;
	/* the spool: beside the output, gone however the run ends */
	bl_buf_addf(&p, "%s/.spool-XXXXXX", d.tmp);
	if (!c.direct && (c.spool = mkostemp(p.buf, O_CLOEXEC)) < 0) {
		bl_error_set(err, errlen, "cannot create '%s': %s", p.buf, strerror(errno));
		rc = BL_FAILED;
		goto out;
	}
	if (!c.direct)
		unlink(p.buf);
	bl_export_copy_limits(opt, &lim);
	rc = bl_export_walk(s, BL_LOAD_ALL, &lim, spool_one, &c, err, errlen);
	tot.entries = n;
	if (rc != BL_OK)
		goto out;
	/* write in placement order */
	c.x.done = 0;
	c.x.total = 0;
	for (size_t i = 0; i < n && !c.direct; i++)
		if (c.we[i].at >= 0) {
			heap_push(heap, &nh, (struct slot){c.we[i].phase / c.we[i].copies, i, 0});
			c.x.total += c.we[i].copies;
		}
	while (nh) {
		struct slot sl = heap_pop(heap, &nh);
		const struct went *we = &c.we[sl.idx];
		if ((rc = write_copy(&c, sl.idx, sl.k)) != BL_OK)
			goto out;
		bl_export_progress(&c.x, "writing");
		if (sl.k + 1 < we->copies)
			heap_push(heap, &nh, (struct slot){(sl.k + 1 + we->phase) / we->copies,
							   sl.idx, sl.k + 1});
	}
	if (c.nshard > 0 && bl_writer_close(c.wr) != BL_OK) {
		bl_error_set(err, errlen, "%s", bl_writer_errmsg(c.wr));
		rc = BL_FAILED;
		goto out;
	}
	if (c.spool >= 0)
		close(c.spool);
	c.spool = -1;
	if ((rc = write_shard_lists(&c, &d, seed)) != BL_OK ||
	    (rc = bl_export_record(&d, "write", "shards", s, seed, &tot, err, errlen)) != BL_OK ||
	    (rc = bl_file_dir_commit(&d, opt->force, err, errlen)) != BL_OK)
		goto out;
	rc = BL_OK;
	goto out;
nomem:
	bl_error_set(err, errlen, "out of memory");
	rc = BL_ENOMEM;
out:
	if (c.spool >= 0)
		close(c.spool);
	bl_writer_free(c.wr);
	bl_file_dir_release(&d);
	for (size_t i = 0; c.we && i < n; i++) {
		free(c.we[i].key);
		free(c.we[i].cbase);
	}
	free(c.we);
	free(heap);
	free(c.shard_samples);
	free(c.shard_weight);
	bl_export_nameset_free(&taken);
	bl_buf_release(&c.rec);
	bl_buf_release(&c.json);
	bl_buf_release(&c.cap);
	bl_buf_release(&c.key);
	bl_buf_release(&p);
	if (totals)
		*totals = tot;
	return rc != BL_OK && rc != BL_EUSAGE && rc != BL_ENOMEM ? BL_FAILED : rc;
}
