/*
 * manifest.c - writing and reading weighted manifests.
 *
 * A manifest is a directory (format in manifests/FORMAT.md):
 * manifest.json says what was done (policy text and digest, seed, index
 * rules digest, inputs with their digests, cells with counts and weights,
 * the before/after summary), and shards/NNNNN.jsonl lists, one JSON line
 * each, the samples of input shard NNNNN that made it in, in shard order,
 * with their weight and, when the index knows them, where the bytes of
 * their caption, image and json members are.
 *
 * Writing is the map half of the rebalancer: shard by shard, each sample's
 * label bits go through bl_rebalance_next.  The whole directory is built
 * beside OUTDIR and swapped in whole (bl_file_dir, lib/file.c), so a
 * reader never sees half a manifest.  Nothing in the output depends on the
 * clock, the thread count or the order of work: the same index, policy and
 * seed give the same bytes.  JSON lines are formatted by hand (one reused
 * buffer, no allocation per row); a row's weight and label array are
 * formatted once per distinct value (a rebalanced set has a weight per
 * cell and a few hundred label combinations) and copied after, and the
 * shard's path once per shard.  manifest.json goes through cJSON.
 *
 * Strings are bytes.  JSON holds text, so a byte that is not part of
 * valid UTF-8 is written as \udcXX (Python's "surrogateescape": valid
 * UTF-8 never holds a surrogate, so the escape is unambiguous) and the
 * reader turns it back into the byte before cJSON sees the line (cJSON
 * refuses lone surrogates).  Keys and shard paths come back exactly.
 *
 * Reading (bl_manifest_open/next) is for consumers and tests: it checks
 * manifest.json's required fields and walks the JSON lines in order,
 * checking every number against the reader's limits (a weight, ordinal
 * or offset from a file is never trusted to fit).  It counts what it read
 * (entries per file, their weights' sum and form), and bl_manifest_check
 * holds that against manifest.json's record: a file cut at a line
 * boundary, emptied or edited reads as a valid manifest line by line, and
 * only the record tells it from the one that was written.
 */
#define _XOPEN_SOURCE 700
#include "rebalance_int.h"
#include "error_int.h"
#include "index_int.h"
#include "manifest_int.h"
#include "rb_summary_int.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* integers a JSON number (a double) holds exactly */
#define EXACT_MAX 9007199254740992.0 /* 2^53 */

struct in_shard {
	int64_t id;
	char *path;
	int64_t size, samples;
	int64_t mtime_ns;    /* as the scan saw it; -1 unknown */
	uint64_t written;
	char digest[65];
	int has_digest;
};

/* ---- small helpers ----------------------------------------------------- */

int bl_manifest_json_str(bl_buf *b, const char *s, size_t len)
{
	int rc;

	if (!b || (!s && len))
		return BL_EUSAGE;
	rc = bl_buf_addch(b, '"');
	if (rc == BL_OK)
		rc = bl_utf8_json_escape(b, s, len, 0);
	if (rc == BL_OK)
		rc = bl_buf_addch(b, '"');
	return rc;
}

static int json_str(bl_buf *b, const char *s, size_t len)
{
	return bl_manifest_json_str(b, s, len);
}

static void add_weight(bl_buf *b, double w)
{
	if (w == floor(w) && w < 1e15)
		bl_buf_addf(b, "%.0f", w);
	else
		bl_buf_addf(b, "%.10g", w);
}

static void add_u64(bl_buf *b, uint64_t v)
{
	char d[24];
	size_t n = 0;

	do {
		d[sizeof d - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	bl_buf_add(b, d + sizeof d - n, n);
}

static void add_i64(bl_buf *b, int64_t v)
{
	if (v < 0) {
		bl_buf_addch(b, '-');
		add_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		add_u64(b, (uint64_t)v);
	}
}

/* A label list "a,b" (empty names skipped) as the JSON array ["a","b"]. */
static void add_labels(bl_buf *b, const char *labels, size_t len)
{
	const char *p = labels, *end = labels + len, *q;
	int first = 1;

	bl_buf_addch(b, '[');
	for (; p < end; p = q + 1) {
		q = memchr(p, ',', (size_t)(end - p));
		if (!q)
			q = end;
		if (q == p)
			continue;
		if (!first)
			bl_buf_addch(b, ',');
		first = 0;
		json_str(b, p, (size_t)(q - p));
	}
	bl_buf_addch(b, ']');
}

/*
 * Formatted text by the bytes it was made from: a direct-mapped table,
 * a slot taken over by the newest key.  Out of memory, it remembers less.
 */
#define MEMO_SLOTS 1024

typedef struct memo {
	struct {
		char *key, *val;
		size_t klen, vlen;
	} e[MEMO_SLOTS];
} memo;

static size_t memo_slot(const void *key, size_t klen)
{
	uint64_t h = bl_hash_bytes(key, klen);
	return (size_t)(h ^ (h >> 29)) % MEMO_SLOTS;
}

/* Append the text remembered for key to b: 1, or 0 when there is none. */
static int memo_add(const memo *m, const void *key, size_t klen, bl_buf *b)
{
	size_t k = memo_slot(key, klen);

	if (!m->e[k].key || m->e[k].klen != klen || memcmp(m->e[k].key, key, klen) != 0)
		return 0;
	bl_buf_add(b, m->e[k].val, m->e[k].vlen);
	return 1;
}

static void memo_put(memo *m, const void *key, size_t klen, const char *val, size_t vlen)
{
	size_t k = memo_slot(key, klen);
	char *nk = malloc(klen + 1), *nv = malloc(vlen + 1);

	if (!nk || !nv) {
		free(nk);
		free(nv);
		return;
	}
	memcpy(nk, key, klen);
	memcpy(nv, val, vlen);
	free(m->e[k].key);
	free(m->e[k].val);
	m->e[k].key = nk;
	m->e[k].val = nv;
	m->e[k].klen = klen;
	m->e[k].vlen = vlen;
}

static void memo_free(memo *m)
{
	if (!m)
		return;
	for (size_t k = 0; k < MEMO_SLOTS; k++) {
		free(m->e[k].key);
		free(m->e[k].val);
	}
	free(m);
}

/* Append what fmt makes of key[0..klen) to b, through the memo. */
static void add_memo(memo *m, bl_buf *b, const void *key, size_t klen,
		     void (*fmt)(bl_buf *, const void *, size_t))
{
	size_t at = b->len;

	if (m && memo_add(m, key, klen, b))
		return;
	fmt(b, key, klen);
	if (m && b->len > at)
		memo_put(m, key, klen, b->buf + at, b->len - at);
}

static void fmt_weight(bl_buf *b, const void *key, size_t klen)
{
	double w;
	(void)klen;
	memcpy(&w, key, sizeof w);
	add_weight(b, w);
}

static void fmt_labels(bl_buf *b, const void *key, size_t klen)
{
	add_labels(b, key, klen);
}

/* Write data to path, fsync, close. */
static int write_file(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "wb");
	int ok;
	if (!f) {
		bl_error_set(err, errlen, "cannot create '%s': %s", path, strerror(errno));
		return BL_FAILED;
	}
	ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		bl_error_set(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		return BL_FAILED;
	}
	return BL_OK;
}

static void free_shards(struct in_shard *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].path);
	free(s);
}

static int load_shards(bl_index *ix, struct in_shard **out, size_t *nout, char *err,
		       size_t errlen)
{
	struct bl_index_shard_row *rows = NULL;
	struct in_shard *s = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	rc = bl_index_shard_rows(ix, 1, &rows, &n);
	if (rc != BL_OK) {
		bl_error_set(err, errlen, "%s", bl_index_errmsg(ix));
		return rc;
	}
	if (!(s = calloc(n ? n : 1, sizeof *s))) {
		bl_index_shard_rows_free(rows, n);
		bl_error_set(err, errlen, "out of memory");
		return BL_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		s[i].id = rows[i].id;
		s[i].path = rows[i].path; /* taken over */
		rows[i].path = NULL;
		s[i].size = rows[i].size;
		s[i].samples = rows[i].samples;
		s[i].mtime_ns = rows[i].mtime;
	}
	bl_index_shard_rows_free(rows, n);
	*out = s;
	*nout = n;
	return BL_OK;
}

/* ---- manifest.json ----------------------------------------------------- */

/* A string item for text from data (paths, labels), which may not be
 * UTF-8: cJSON's own string when it is (the same bytes as ever), else
 * the manifest's escaped literal as a raw item. */
static cJSON *str_item(const char *s)
{
	bl_buf b;
	cJSON *it = NULL;

	if (!s)
		return cJSON_CreateNull();
	if (bl_utf8_valid(s, strlen(s), NULL))
		return cJSON_CreateString(s);
	bl_buf_init(&b, 0);
	if (json_str(&b, s, strlen(s)) == BL_OK)
		it = cJSON_CreateRaw(b.buf);
	bl_buf_release(&b);
	return it;
}

static void add_str(cJSON *o, const char *name, const char *s)
{
	cJSON_AddItemToObject(o, name, str_item(s));
}

/* The seed exactly: a number up to 2^53 (every JSON reader holds it), a
 * decimal string above. */
static cJSON *seed_item(uint64_t seed)
{
	char num[24];

	if (seed <= ((uint64_t)1 << 53))
		return cJSON_CreateNumber((double)seed);
	snprintf(num, sizeof num, "%llu", (unsigned long long)seed);
	return cJSON_CreateString(num);
}

static cJSON *cell_json(const bl_rb_cell *c)
{
	static const char *const status[] = {"kept", "safety", "dropped"};
	cJSON *o = cJSON_CreateObject(), *l = cJSON_AddArrayToObject(o, "labels");
	const char *p = c->names ? c->names : ",";

	while (*p) {
		const char *q;
		if (*p == ',') {
			p++;
			continue;
		}
		q = strchr(p, ',');
		if (!q)
			q = p + strlen(p);
		char *nm = strndup(p, (size_t)(q - p));
		if (nm)
			cJSON_AddItemToArray(l, str_item(nm));
		free(nm);
		p = q;
	}
	cJSON_AddNumberToObject(o, "samples", (double)c->n);
	cJSON_AddStringToObject(o, "status", status[c->status >= 0 && c->status <= 2 ? c->status : 0]);
	cJSON_AddNumberToObject(o, "weight", c->scaled);
	cJSON_AddNumberToObject(o, "written", (double)c->written);
	cJSON_AddNumberToObject(o, "weight_sum", c->sum_w);
	return o;
}

static char *manifest_json(bl_rebalance *rb, bl_index *ix, const struct in_shard *sh,
			   size_t nsh, int no_digest)
{
	const bl_policy *p = bl_rebalance_policy(rb);
	cJSON *o = cJSON_CreateObject(), *x, *arr;
	char *rules = bl_index_meta_get(ix, NULL, "rules_digest"), *out = NULL, name[48];

	if (!o)
		goto out;
	cJSON_AddStringToObject(o, "format", "ballast-manifest");
	cJSON_AddNumberToObject(o, "format_version", BL_MANIFEST_FORMAT);
	cJSON_AddStringToObject(o, "tool", "ballast " BALLAST_VERSION);
	{
		/* the index it was made from, absolute, so that 'ballast report
		 * --manifest' finds it from anywhere */
		char *abs = realpath(ix->path, NULL);
		add_str(o, "index", abs ? abs : ix->path);
		free(abs);
	}
	x = cJSON_AddObjectToObject(o, "policy");
	add_str(x, "path", bl_policy_name(p));
	cJSON_AddStringToObject(x, "sha256", bl_policy_digest(p));
	add_str(x, "text", bl_policy_text(p));
	cJSON_AddItemToObject(o, "seed", seed_item(bl_rebalance_seed(rb)));
	cJSON_AddStringToObject(o, "realise", bl_realise_name(bl_policy_realise(p)));
	if (rules)
		cJSON_AddStringToObject(o, "rules_digest", rules);
	else
		cJSON_AddNullToObject(o, "rules_digest");
	arr = cJSON_AddArrayToObject(o, "labels");
	for (int i = 0; i < bl_index_nlabels(ix); i++)
		cJSON_AddItemToArray(arr, str_item(bl_index_label(ix, i)));
	arr = cJSON_AddArrayToObject(o, "inputs");
	for (size_t i = 0; i < nsh; i++) {
		cJSON *e = cJSON_CreateObject();
		snprintf(name, sizeof name, "shards/%05zu.jsonl", i);
		cJSON_AddNumberToObject(e, "shard", (double)i);
		add_str(e, "path", sh[i].path);
		if (sh[i].size >= 0)
			cJSON_AddNumberToObject(e, "size", (double)sh[i].size);
		else
			cJSON_AddNullToObject(e, "size");
		cJSON_AddNumberToObject(e, "samples", (double)sh[i].samples);
		if (sh[i].mtime_ns >= 0) {
			/* text: nanoseconds do not fit a double; write/export/train
			 * compare it before trusting the shard (lib/verify.c) */
			char mt[32];
			snprintf(mt, sizeof mt, "%lld", (long long)sh[i].mtime_ns);
			cJSON_AddStringToObject(e, "mtime_ns", mt);
		}
		if (sh[i].has_digest)
			cJSON_AddStringToObject(e, "sha256", sh[i].digest);
		else
			cJSON_AddNullToObject(e, "sha256");
		if (!no_digest && !sh[i].has_digest)
			cJSON_AddStringToObject(e, "digest_error", "cannot read the shard file");
		cJSON_AddStringToObject(e, "list", name);
		cJSON_AddNumberToObject(e, "written", (double)sh[i].written);
		cJSON_AddItemToArray(arr, e);
	}
	arr = cJSON_AddArrayToObject(o, "cells");
	for (size_t i = 0; i < bl_rebalance_ncells(rb); i++)
		cJSON_AddItemToArray(arr, cell_json(bl_rebalance_cell(rb, i)));
	x = bl_rb_summary_cjson(bl_rebalance_summary(rb));
	if (!x)
		goto out;
	cJSON_AddItemToObject(o, "summary", x);
	out = cJSON_Print(o);
out:
	cJSON_Delete(o);
	free(rules);
	return out;
}

/* ---- writing ----------------------------------------------------------- */

/* One manifest being written. */
struct mwrite {
	bl_rebalance *rb;
	bl_index *ix;
	bl_index_cursor *cur; /* the samples of a shard */
	const char *outdir;  /* NULL: a dry run */
	bl_file_dir dir;     /* dir.tmp: the directory being built beside outdir */
	bl_buf path, line, shfrag;
	memo *weights, *labelsets;
	char *err;
	size_t errlen;
};

/* ,"members":{"jpg":[o,n],"txt":[o,n],"json":[o,n]} for the members whose
 * data offset and size the row has (an index that predates these columns
 * has none). */
static void add_members(bl_buf *b, const struct bl_index_sample *r)
{
	const struct {
		int64_t off, size;
		unsigned null; /* either NULL: not written */
		const char *ext;
	} m[3] = {
		{r->image_data, r->image_size, BL_IXN_IMAGE_DATA | BL_IXN_IMAGE_SIZE, r->image_ext},
		{r->caption_data, r->caption_size, BL_IXN_CAPTION_DATA | BL_IXN_CAPTION_SIZE, "txt"},
		{r->json_data, r->json_size, BL_IXN_JSON_DATA | BL_IXN_JSON_SIZE, "json"},
	};
	int first = 1;

	for (int k = 0; k < 3; k++) {
		const char *ext = m[k].ext;
		if (!ext || (r->nulls & m[k].null))
			continue;
		bl_buf_adds(b, first ? ",\"members\":{" : ",");
		first = 0;
		json_str(b, ext, strlen(ext));
		bl_buf_addch(b, ':');
		bl_buf_addch(b, '[');
		add_i64(b, m[k].off);
		bl_buf_addch(b, ',');
		add_i64(b, m[k].size);
		bl_buf_addch(b, ']');
	}
	if (!first)
		bl_buf_addch(b, '}');
}

/* Realise the samples of input shard i through the rebalancer and write
 * their lines to shards/NNNNN.jsonl.  BL_OK or an error in w->err. */
static int write_shard(struct mwrite *w, struct in_shard *sh, size_t i, uint64_t *done)
{
	const struct bl_index_sample *row;
	FILE *f = NULL;
	int rc = BL_FAILED, src;

	if (w->outdir) {
		bl_buf_reset(&w->path);
		bl_buf_addf(&w->path, "%s/shards/%05zu.jsonl", w->dir.tmp, i);
		if (!(f = fopen(w->path.buf, "wb"))) {
			snprintf(w->err, w->errlen, "cannot create '%s': %s", w->path.buf,
				 strerror(errno));
			goto out;
		}
	}
	if (bl_index_cursor_shard(w->cur, sh->id) != BL_OK) {
		snprintf(w->err, w->errlen, "%s", bl_index_errmsg(w->ix));
		goto out;
	}
	bl_buf_reset(&w->line);
	bl_buf_reset(&w->shfrag);
	bl_buf_adds(&w->shfrag, ",\"shard\":");
	json_str(&w->shfrag, sh->path, strlen(sh->path));
	bl_buf_adds(&w->shfrag, ",\"ordinal\":");
	while ((src = bl_index_cursor_next(w->cur, &row)) == BL_OK) {
		uint64_t ord = (uint64_t)row->ordinal;
		double wt;
		int r = bl_rebalance_next(w->rb, row->bits, row->nbits, sh->id, ord, &wt);

		(*done)++;
		if (r != BL_OK) {
			snprintf(w->err, w->errlen, "%s", bl_rebalance_errmsg(w->rb));
			goto out;
		}
		if (wt <= 0)
			continue;
		sh->written++;
		if (!f)
			continue;
		bl_buf_adds(&w->line, "{\"key\":");
		json_str(&w->line, row->key ? row->key : "", row->key_len);
		bl_buf_add(&w->line, w->shfrag.buf, w->shfrag.len);
		add_u64(&w->line, ord);
		bl_buf_adds(&w->line, ",\"offset\":");
		add_i64(&w->line, row->offset);
		bl_buf_adds(&w->line, ",\"weight\":");
		add_memo(w->weights, &w->line, &wt, sizeof wt, fmt_weight);
		bl_buf_adds(&w->line, ",\"labels\":");
		add_memo(w->labelsets, &w->line, row->labels ? row->labels : "", row->labels_len,
			 fmt_labels);
		add_members(&w->line, row);
		if (bl_buf_adds(&w->line, "}\n") != BL_OK) {
			snprintf(w->err, w->errlen, "out of memory");
			rc = BL_ENOMEM;
			goto out;
		}
		if (w->line.len > (1 << 19)) {
			if (fwrite(w->line.buf, 1, w->line.len, f) != w->line.len)
				goto write_err;
			bl_buf_reset(&w->line);
		}
	}
	if (src != BL_END) {
		snprintf(w->err, w->errlen, "%s", bl_index_errmsg(w->ix));
		goto out;
	}
	if (f) {
		int c;
		if (fwrite(w->line.buf, 1, w->line.len, f) != w->line.len || fflush(f) != 0 ||
		    fsync(fileno(f)) != 0)
			goto write_err;
		c = fclose(f);
		f = NULL;
		if (c != 0)
			goto write_err;
	}
	rc = BL_OK;
	goto out;
write_err:
	snprintf(w->err, w->errlen, "cannot write '%s': %s", w->path.buf, strerror(errno));
out:
	if (f)
		fclose(f);
	return rc;
}

int bl_manifest_write(bl_rebalance *rb, bl_index *ix, const char *outdir,
		      const bl_manifest_options *opts, char *err, size_t errlen)
{
	bl_manifest_options none = {0};
	struct in_shard *sh = NULL;
	size_t nsh = 0;
	struct mwrite w;
	char *json = NULL, dummy[1];
	uint64_t done_samples = 0, bytes_done = 0, bytes_total = 0;
	int rc = BL_FAILED;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	memset(&w, 0, sizeof w);
	w.rb = rb;
	w.outdir = outdir;
	w.err = err;
	w.errlen = errlen;
	w.weights = calloc(1, sizeof *w.weights);
	w.labelsets = calloc(1, sizeof *w.labelsets);
	bl_buf_init(&w.path, 8192);
	bl_buf_init(&w.line, 1 << 20);
	bl_buf_init(&w.shfrag, 0);
	if (!opts)
		opts = &none;
	w.ix = ix;
	if (!rb || !ix) {
		bl_error_set(err, errlen, "bad arguments");
		rc = BL_EUSAGE;
		goto out;
	}
	if (outdir) {
		/* --force replaces an empty directory or an earlier manifest,
		 * never a directory this command did not write */
		if ((rc = bl_file_dir_begin(&w.dir, outdir, opts->force, "manifest.json", err,
					    errlen)) != BL_OK)
			goto out;
		rc = BL_FAILED;
		bl_buf_reset(&w.path);
		bl_buf_addf(&w.path, "%s/shards", w.dir.tmp);
		if (mkdir(w.path.buf, 0777) != 0) {
			bl_error_set(err, errlen, "cannot create '%s': %s", w.path.buf, strerror(errno));
			goto out;
		}
	}
	if ((rc = load_shards(ix, &sh, &nsh, err, errlen)) != BL_OK)
		goto out;
	for (size_t i = 0; i < nsh; i++)
		bytes_total += sh[i].size > 0 ? (uint64_t)sh[i].size : 0;
	rc = BL_FAILED;
	bl_rebalance_reset(rb);
	/* a dry run reads what the rebalancer needs, no more */
	if (!(w.cur = bl_index_cursor_new(ix, BL_IXC_ORDINAL | BL_IXC_BITS |
						      (outdir ? BL_IXC_KEY | BL_IXC_LABELS |
									BL_IXC_MEMBERS
							      : 0)))) {
		bl_error_set(err, errlen, "%s", bl_index_errmsg(ix));
		goto out;
	}
	for (size_t i = 0; i < nsh; i++) {
		if ((rc = write_shard(&w, &sh[i], i, &done_samples)) != BL_OK)
			goto out;
		rc = BL_FAILED;
		/* only a manifest written records digests: a dry run hashes nothing */
		if (outdir && !opts->no_digest && sh[i].path[0]) {
			sh[i].has_digest = bl_sha256_file(sh[i].path, sh[i].digest) == BL_OK;
			bytes_done += sh[i].size > 0 ? (uint64_t)sh[i].size : 0;
			if (opts->on_digest)
				opts->on_digest(opts->arg, i + 1, nsh, bytes_done, bytes_total);
		}
		if (opts->on_progress)
			opts->on_progress(opts->arg, i + 1, nsh, done_samples);
	}
	if ((rc = bl_rebalance_finish(rb)) != BL_OK) {
		bl_error_set(err, errlen, "%s", bl_rebalance_errmsg(rb));
		goto out;
	}
	rc = BL_FAILED;
	if (!outdir) {
		rc = BL_OK;
		goto out;
	}
	if (!(json = manifest_json(rb, ix, sh, nsh, opts->no_digest))) {
		bl_error_set(err, errlen, "out of memory");
		rc = BL_ENOMEM;
		goto out;
	}
	bl_buf_reset(&w.path);
	bl_buf_addf(&w.path, "%s/manifest.json", w.dir.tmp);
	if (write_file(w.path.buf, json, strlen(json), err, errlen) != BL_OK)
		goto out;
	if (bl_file_dir_commit(&w.dir, opts->force, err, errlen) != BL_OK)
		goto out;
	rc = BL_OK;
out:
	bl_index_cursor_free(w.cur);
	bl_file_dir_release(&w.dir); /* removes the temporary directory unless published */
	free(json);
	free_shards(sh, nsh);
	bl_buf_release(&w.path);
	bl_buf_release(&w.line);
	bl_buf_release(&w.shfrag);
	memo_free(w.weights);
	memo_free(w.labelsets);
	return rc;
}

/* ---- reading ----------------------------------------------------------- */

struct bl_manifest {
	char *dir;
	cJSON *root;
	bl_strlist lists;   /* jsonl paths, in shard order */
	size_t cur;
	FILE *f;
	uint64_t lineno;
	char *chunk;        /* read buffer of f */
	size_t chunk_pos, chunk_len;
	bl_buf line;        /* the current line, capped */
	cJSON *row;
	int bare;           /* a bare .jsonl: no manifest.json, labels optional */
	bl_manifest_entry e;
	bl_members members;
	bl_buf labels, errmsg, field, ext;
	/* what the lines held, for bl_manifest_check */
	uint64_t *nlines;   /* entries read from each list file */
	uint64_t nread;     /* from all of them */
	double wsum;        /* their weights' sum */
	uint64_t nonint, notone; /* weights not an integer; other than 1 */
	bl_buf first_nonint, first_notone; /* "'file' line N (weight w)" */
	struct list_input *in; /* per list file: its input record (not bare) */
	int ended;          /* bl_manifest_next returned BL_END */
};

/* What a list file's lines must name: the shard path of its input
 * record, and the lines that name another. */
struct list_input {
	const char *path;    /* inputs[i].path (borrowed from root), NULL: none */
	uint64_t nforeign;   /* lines naming another shard */
	uint64_t first_line; /* the first of them */
	char *first_shard;   /* and the shard it names */
};

#define CHUNK 65536

/* The next line of m->f (without its newline) into m->line: 1, or 0 at
 * the end of the file.  A line over the cap is read to its end but not
 * kept: *toolong is set. */
static int read_line(bl_manifest *m, int *toolong)
{
	int any = 0;

	*toolong = 0;
	bl_buf_reset(&m->line);
	for (;;) {
		const char *nl;
		size_t end;
		if (m->chunk_pos == m->chunk_len) {
			m->chunk_len = fread(m->chunk, 1, CHUNK, m->f);
			m->chunk_pos = 0;
			if (m->chunk_len == 0)
				return any;
		}
		any = 1;
		nl = memchr(m->chunk + m->chunk_pos, '\n', m->chunk_len - m->chunk_pos);
		end = nl ? (size_t)(nl - m->chunk) : m->chunk_len;
		if (!*toolong && bl_buf_add(&m->line, m->chunk + m->chunk_pos,
					    end - m->chunk_pos) != BL_OK)
			*toolong = 1;
		m->chunk_pos = nl ? end + 1 : end;
		if (nl)
			return 1;
	}
}

/* Value of 4 hex digits at s (n bytes available), or -1. */
static long hex4(const char *s, size_t n)
{
	long v = 0;

	if (n < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		int c = (unsigned char)s[k], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

size_t bl_manifest_unescape(char *s, size_t len)
{
	size_t i = 0, o = 0;
	int in_str = 0;

	while (i < len) {
		char c = s[i];
		long v, w;

		if (!in_str || c == '"') {
			in_str ^= c == '"';
			s[o++] = s[i++];
			continue;
		}
		if (c != '\\' || i + 1 >= len) {
			s[o++] = s[i++];
			continue;
		}
		if (s[i + 1] != 'u') { /* \" \\ \n ...: two characters as they are */
			s[o++] = s[i++];
			s[o++] = s[i++];
			continue;
		}
		v = hex4(s + i + 2, len - i - 2);
		if (v == 0)
			return (size_t)-1; /* a NUL would cut the string short */
		if (v >= 0xd800 && v <= 0xdbff && i + 12 <= len && s[i + 6] == '\\' &&
		    s[i + 7] == 'u' && (w = hex4(s + i + 8, len - i - 8)) >= 0xdc00 &&
		    w <= 0xdfff) {
			/* a surrogate pair: a character above U+FFFF, for cJSON */
			memmove(s + o, s + i, 12);
			o += 12;
			i += 12;
			continue;
		}
		if (v >= 0xdc80 && v <= 0xdcff) {
			s[o++] = (char)(v & 0xff);
			i += 6;
			continue;
		}
		s[o++] = s[i++];
		s[o++] = s[i++];
	}
	return o;
}

/* Parse JSON text (modified in place) after undoing the byte escapes. */
static cJSON *parse_text(char *text, size_t len)
{
	size_t n = bl_manifest_unescape(text, len);
	return n == (size_t)-1 ? NULL : cJSON_ParseWithLength(text, n);
}

void bl_manifest_free(bl_manifest *m)
{
	if (!m)
		return;
	if (m->f)
		fclose(m->f);
	for (size_t i = 0; m->in && i < m->lists.n; i++)
		free(m->in[i].first_shard);
	cJSON_Delete(m->root);
	cJSON_Delete(m->row);
	bl_strlist_release(&m->lists);
	free(m->chunk);
	bl_buf_release(&m->line);
	free(m->dir);
	bl_buf_release(&m->labels);
	bl_buf_release(&m->errmsg);
	bl_buf_release(&m->field);
	bl_buf_release(&m->ext);
	bl_buf_release(&m->first_nonint);
	bl_buf_release(&m->first_notone);
	free(m->nlines);
	free(m->in);
	free(m);
}

bl_manifest *bl_manifest_open(const char *dir, char *err, size_t errlen)
{
	bl_manifest *m = calloc(1, sizeof *m);
	bl_buf text, path;
	FILE *f = NULL;
	char chunk[65536], dummy[1];
	size_t n;
	const cJSON *v, *in, *e;
	int ok = 0;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	bl_buf_init(&text, (size_t)1 << 30);
	bl_buf_init(&path, 0);
	if (!m || !dir || !(m->dir = strdup(dir))) {
		bl_error_set(err, errlen, "out of memory");
		goto out;
	}
	bl_strlist_init(&m->lists);
	bl_buf_init(&m->labels, 0);
	bl_buf_init(&m->errmsg, 4096);
	bl_buf_init(&m->field, 0);
	bl_buf_init(&m->ext, 64);
	bl_buf_init(&m->first_nonint, 0);
	bl_buf_init(&m->first_notone, 0);
	bl_buf_init(&m->line, BL_MANIFEST_MAX_LINE);
	if (!(m->chunk = malloc(CHUNK))) {
		bl_error_set(err, errlen, "out of memory");
		goto out;
	}
	{
		struct stat st;
		if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) {
			/* a bare list of entries: a manifest without manifest.json */
			m->bare = 1;
			if (!(m->root = cJSON_CreateObject()) ||
			    bl_strlist_add(&m->lists, dir) != BL_OK) {
				bl_error_set(err, errlen, "out of memory");
				goto out;
			}
			ok = 1;
			goto counts;
		}
	}
	bl_buf_addf(&path, "%s/manifest.json", dir);
	if (!(f = fopen(path.buf, "rb"))) {
		bl_error_set(err, errlen, "cannot open '%s': %s", path.buf, strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (bl_buf_add(&text, chunk, n) != BL_OK) {
			bl_error_set(err, errlen, "'%s' is too large", path.buf);
			goto out;
		}
	if (!(m->root = parse_text(text.buf, text.len)) || !cJSON_IsObject(m->root)) {
		bl_error_set(err, errlen, "'%s' is not a JSON object", path.buf);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(m->root, "format_version");
	if (!cJSON_IsNumber(v) || v->valuedouble != BL_MANIFEST_FORMAT) {
		bl_error_set(err, errlen, "'%s': format_version is not %d", path.buf, BL_MANIFEST_FORMAT);
		goto out;
	}
	static const char *const required[] = {"format", "tool", "policy", "seed", "realise",
					       "inputs", "cells", "summary", "labels"};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (!cJSON_GetObjectItemCaseSensitive(m->root, required[i])) {
			bl_error_set(err, errlen, "'%s': missing field '%s'", path.buf, required[i]);
			goto out;
		}
	in = cJSON_GetObjectItemCaseSensitive(m->root, "inputs");
	if (!cJSON_IsArray(in)) {
		bl_error_set(err, errlen, "'%s': inputs is not an array", path.buf);
		goto out;
	}
	cJSON_ArrayForEach(e, in) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(e, "list");
		if (!cJSON_IsString(l) || strstr(l->valuestring, "..") || l->valuestring[0] == '/') {
			bl_error_set(err, errlen, "'%s': an input has no valid 'list'", path.buf);
			goto out;
		}
		bl_buf_reset(&path);
		bl_buf_addf(&path, "%s/%s", dir, l->valuestring);
		if (bl_strlist_add(&m->lists, path.buf) != BL_OK) {
			bl_error_set(err, errlen, "out of memory");
			goto out;
		}
	}
	/* the shard each list file's lines must name */
	if (!(m->in = calloc(m->lists.n + 1, sizeof *m->in))) {
		bl_error_set(err, errlen, "out of memory");
		goto out;
	}
	n = 0;
	cJSON_ArrayForEach(e, in) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path");
		m->in[n++].path = cJSON_IsString(p) && p->valuestring[0] ? p->valuestring : NULL;
	}
	ok = 1;
counts:
	if (!(m->nlines = calloc(m->lists.n + 1, sizeof *m->nlines))) {
		bl_error_set(err, errlen, "out of memory");
		ok = 0;
	}
out:
	if (f)
		fclose(f);
	bl_buf_release(&text);
	bl_buf_release(&path);
	if (!ok) {
		bl_manifest_free(m);
		m = NULL;
	}
	return m;
}

/* An integer JSON number in [0, 2^53) (exact in a double): 1 and *v. */
static int get_count(const cJSON *x, int64_t *v)
{
	if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0) || x->valuedouble >= EXACT_MAX ||
	    x->valuedouble != floor(x->valuedouble))
		return 0;
	*v = (int64_t)x->valuedouble;
	return 1;
}

/* "members": {EXT: [offset, size], ...}: the caption (txt), the json and
 * the image (jpg, jpeg, png, webp); other names are skipped.  NULL with
 * *why set when the object breaks the format. */
static const bl_members *get_members(bl_manifest *m, const cJSON *o, const char **why)
{
	static const char *const images[] = {"jpg", "jpeg", "png", "webp"};
	const cJSON *x;

	*why = NULL;
	if (!o)
		return NULL;
	if (!cJSON_IsObject(o)) {
		*why = "members is not an object";
		return NULL;
	}
	m->members.caption.offset = m->members.image.offset = m->members.json.offset = -1;
	m->members.caption.size = m->members.image.size = m->members.json.size = 0;
	m->members.image_ext = NULL;
	bl_buf_reset(&m->ext);
	cJSON_ArrayForEach(x, o) {
		bl_span *sp = NULL;
		int64_t off, size;
		if (!strcmp(x->string, "txt"))
			sp = &m->members.caption;
		else if (!strcmp(x->string, "json"))
			sp = &m->members.json;
		for (size_t k = 0; !sp && k < sizeof images / sizeof images[0]; k++)
			if (!strcmp(x->string, images[k]) && m->members.image.offset < 0) {
				sp = &m->members.image;
				bl_buf_adds(&m->ext, images[k]);
				m->members.image_ext = m->ext.buf;
			}
		if (!sp)
			continue;
		if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != 2 ||
		    !get_count(cJSON_GetArrayItem(x, 0), &off) ||
		    !get_count(cJSON_GetArrayItem(x, 1), &size)) {
			*why = "a member is not [offset, size] (integers from 0 to 2^53)";
			return NULL;
		}
		sp->offset = off;
		sp->size = size;
	}
	return &m->members;
}

int bl_manifest_next(bl_manifest *m, const bl_manifest_entry **out)
{
	int toolong = 0;
	const cJSON *k, *s, *o, *off, *w, *l, *x;
	const char *file, *why = NULL;
	unsigned long long line;
	int64_t ord, offset;

	if (!m || !out)
		return BL_EUSAGE;
	*out = NULL;
	for (;;) {
		if (!m->f) {
			if (m->cur >= m->lists.n) {
				m->ended = 1;
				return BL_END;
			}
			if (!(m->f = fopen(m->lists.items[m->cur], "rb")))
				return bl_error_buf(&m->errmsg, BL_FATAL, "cannot open '%s': %s",
					     m->lists.items[m->cur], strerror(errno));
			m->lineno = 0;
			m->chunk_pos = m->chunk_len = 0;
		}
		if (read_line(m, &toolong)) {
			m->lineno++;
			if (m->line.len || toolong)
				break;
			continue; /* blank lines are no entries */
		}
		fclose(m->f);
		m->f = NULL;
		m->cur++;
	}
	file = m->lists.items[m->cur];
	line = (unsigned long long)m->lineno;
	if (toolong)
		return bl_error_buf(&m->errmsg, BL_FAILED, "'%s' line %llu: longer than %zu bytes", file, line,
			     (size_t)BL_MANIFEST_MAX_LINE);
	if (memchr(m->line.buf, '\0', m->line.len))
		return bl_error_buf(&m->errmsg, BL_FAILED, "'%s' line %llu: holds a NUL byte", file, line);
	cJSON_Delete(m->row);
	m->row = parse_text(m->line.buf, m->line.len);
	k = cJSON_GetObjectItemCaseSensitive(m->row, "key");
	s = cJSON_GetObjectItemCaseSensitive(m->row, "shard");
	o = cJSON_GetObjectItemCaseSensitive(m->row, "ordinal");
	off = cJSON_GetObjectItemCaseSensitive(m->row, "offset");
	w = cJSON_GetObjectItemCaseSensitive(m->row, "weight");
	l = cJSON_GetObjectItemCaseSensitive(m->row, "labels");
	if (!m->row || !cJSON_IsString(k) || !cJSON_IsString(s) || !cJSON_IsNumber(o) ||
	    !cJSON_IsNumber(off) || !cJSON_IsNumber(w) || !(cJSON_IsArray(l) || (m->bare && !l)))
		return bl_error_buf(&m->errmsg, BL_FAILED, "'%s' line %llu: not a manifest entry (needs key, "
			     "shard, ordinal, offset, weight >= 0, labels)", file, line);
	if (!get_count(o, &ord) || !get_count(off, &offset))
		return bl_error_buf(&m->errmsg, BL_FAILED, "'%s' line %llu: ordinal and offset must be integers "
			     "from 0 to 2^53", file, line);
	if (!(w->valuedouble >= 0) || !(w->valuedouble <= BL_MANIFEST_MAX_WEIGHT))
		return bl_error_buf(&m->errmsg, BL_FAILED, "'%s' line %llu: weight %g is out of range (0 to %g)",
			     file, line, w->valuedouble, BL_MANIFEST_MAX_WEIGHT);
	if (!k->valuestring[0] || !s->valuestring[0])
		return bl_error_buf(&m->errmsg, BL_FAILED, "'%s' line %llu: empty key or shard", file, line);
	m->e.members = get_members(m, cJSON_GetObjectItemCaseSensitive(m->row, "members"), &why);
	if (why)
		return bl_error_buf(&m->errmsg, BL_FAILED, "'%s' line %llu: %s", file, line, why);
	bl_buf_reset(&m->labels);
	bl_buf_addch(&m->labels, ',');
	cJSON_ArrayForEach(x, l) {
		if (!cJSON_IsString(x) || !x->valuestring[0] || strchr(x->valuestring, ','))
			return bl_error_buf(&m->errmsg, BL_FAILED, "'%s' line %llu: a label is not a name",
				     file, line);
		bl_buf_adds(&m->labels, x->valuestring);
		if (bl_buf_addch(&m->labels, ',') != BL_OK)
			return bl_error_buf(&m->errmsg, BL_FAILED, "out of memory");
	}
	m->e.key = k->valuestring;
	m->e.shard = s->valuestring;
	m->e.ordinal = (uint64_t)ord;
	m->e.offset = offset;
	m->e.weight = w->valuedouble;
	m->e.labels = m->labels.buf;
	if (m->in && (!m->in[m->cur].path || strcmp(m->in[m->cur].path, m->e.shard)) &&
	    !m->in[m->cur].nforeign++) {
		m->in[m->cur].first_line = line;
		if (!(m->in[m->cur].first_shard = strdup(m->e.shard)))
			return bl_error_buf(&m->errmsg, BL_FATAL, "out of memory");
	}
	m->nlines[m->cur]++;
	m->nread++;
	m->wsum += m->e.weight;
	if (m->e.weight != floor(m->e.weight) && !m->nonint++)
		bl_buf_addf(&m->first_nonint, "'%s' line %llu (weight %.10g)", file, line, m->e.weight);
	if (m->e.weight != 1 && !m->notone++)
		bl_buf_addf(&m->first_notone, "'%s' line %llu (weight %.10g)", file, line, m->e.weight);
	*out = &m->e;
	return BL_OK;
}

const char *bl_manifest_where(const bl_manifest *m, uint64_t *line)
{
	if (!m || m->cur >= m->lists.n)
		return NULL;
	if (line)
		*line = m->lineno;
	return m->lists.items[m->cur];
}

/* A recorded count: an integer JSON number in [0, 2^53), else -1. */
static double recorded_count(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
	int64_t n;

	return v && get_count(v, &n) ? (double)n : -1;
}

static void check_problem(bl_manifest *m, int *nprob, char *err, size_t errlen,
			  void (*on_problem)(void *arg, const char *msg), void *arg,
			  const char *fmt, ...) __attribute__((format(__printf__, 7, 8)));

static void check_problem(bl_manifest *m, int *nprob, char *err, size_t errlen,
			  void (*on_problem)(void *arg, const char *msg), void *arg,
			  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bl_error_vbuf(&m->errmsg, BL_FAILED, fmt, ap);
	va_end(ap);
	if (!(*nprob)++)
		bl_error_set(err, errlen, "%s", m->errmsg.buf);
	if (on_problem)
		on_problem(arg, m->errmsg.buf);
}

static int cmp_input_path(const void *a, const void *b)
{
	const struct list_input *x = *(const struct list_input *const *)a;
	const struct list_input *y = *(const struct list_input *const *)b;
	int c = strcmp(x->path, y->path);
	return c ? c : (x < y ? -1 : x > y);
}

/* Each shard one input record, and each list file's lines naming its
 * input's shard: the record of a shard is what write, export and train
 * check it against (lib/verify.c), so a line naming a shard that has none,
 * or another's, would be read unchecked. */
static int check_inputs(bl_manifest *m, int *nprob, char *err, size_t errlen,
			void (*on_problem)(void *arg, const char *msg), void *arg)
{
	const struct list_input **by = calloc(m->lists.n + 1, sizeof *by);
	size_t n = 0;

	if (!by)
		return BL_ENOMEM;
	for (size_t i = 0; i < m->lists.n; i++) {
		const struct list_input *in = &m->in[i];
		if (in->path)
			by[n++] = in;
		else
			check_problem(m, nprob, err, errlen, on_problem, arg,
				      "'%s/manifest.json': input %zu (list '%s') records no shard "
				      "path (the record was edited; rerun ballast rebalance)",
				      m->dir, i, m->lists.items[i]);
		if (!in->nforeign)
			continue;
		check_problem(m, nprob, err, errlen, on_problem, arg,
			      "'%s' line %llu names shard '%s', but its input in manifest.json "
			      "records %s%s%s (%llu line%s of the file name another shard: the "
			      "record or the file was edited, and the shard would be read "
			      "without its record's check; rerun ballast rebalance)",
			      m->lists.items[i], (unsigned long long)in->first_line,
			      in->first_shard, in->path ? "'" : "", in->path ? in->path : "none",
			      in->path ? "'" : "", (unsigned long long)in->nforeign,
			      in->nforeign == 1 ? "" : "s");
	}
	qsort(by, n, sizeof *by, cmp_input_path);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(by[i]->path, by[i - 1]->path) &&
		    (i < 2 || strcmp(by[i]->path, by[i - 2]->path)))
			check_problem(m, nprob, err, errlen, on_problem, arg,
				      "'%s/manifest.json': shard '%s' has more than one input "
				      "record (lists '%s' and '%s'; a shard has one: the record "
				      "was edited; rerun ballast rebalance)", m->dir, by[i]->path,
				      m->lists.items[by[i - 1] - m->in],
				      m->lists.items[by[i] - m->in]);
	free(by);
	return BL_OK;
}

/* The plan's verdict against its checks: rebalance writes "ok" as "no
 * check failed" beside every check, so a summary without them, or whose
 * "ok" disagrees with them, was edited (bl_manifest_plan_failed goes by
 * the checks). */
static void check_verdict(bl_manifest *m, int *nprob, char *err, size_t errlen,
			  void (*on_problem)(void *arg, const char *msg), void *arg)
{
	const cJSON *sum = cJSON_GetObjectItemCaseSensitive(m->root, "summary");
	const cJSON *ok = cJSON_IsObject(sum) ? cJSON_GetObjectItemCaseSensitive(sum, "ok") : NULL;
	const cJSON *checks = cJSON_IsObject(sum) ? cJSON_GetObjectItemCaseSensitive(sum, "checks")
						  : NULL;
	const cJSON *c;
	size_t nfailed = 0, i = 0;

	if (!cJSON_IsBool(ok) || !cJSON_IsArray(checks)) {
		check_problem(m, nprob, err, errlen, on_problem, arg,
			      "'%s/manifest.json': its summary records no verdict on the plan "
			      "(%s; ballast rebalance writes \"ok\" and every check: the summary "
			      "was edited, or predates the checks; rerun ballast rebalance)",
			      m->dir, !cJSON_IsObject(sum) ? "the summary is not an object"
			      : !ok ? "no \"ok\"" : !cJSON_IsBool(ok) ? "\"ok\" is not true or false"
			      : "no \"checks\" list");
		return;
	}
	cJSON_ArrayForEach(c, checks) {
		const cJSON *st = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "status")
						    : NULL;
		const char *v = cJSON_IsString(st) ? st->valuestring : NULL;
		if (!v || (strcmp(v, "ok") && strcmp(v, "warning") && strcmp(v, "accepted") &&
			   strcmp(v, "failed")))
			check_problem(m, nprob, err, errlen, on_problem, arg,
				      "'%s/manifest.json': summary check %zu has no status ok, "
				      "warning, accepted or failed (the summary was edited; rerun "
				      "ballast rebalance)", m->dir, i + 1);
		else if (!strcmp(v, "failed"))
			nfailed++;
		i++;
	}
	if (cJSON_IsTrue(ok) && nfailed)
		check_problem(m, nprob, err, errlen, on_problem, arg,
			      "'%s/manifest.json': summary \"ok\" is true, but %zu of its checks "
			      "ha%s status \"failed\" (the verdict was edited; the plan failed)",
			      m->dir, nfailed, nfailed == 1 ? "s" : "ve");
	else if (cJSON_IsFalse(ok) && !nfailed)
		check_problem(m, nprob, err, errlen, on_problem, arg,
			      "'%s/manifest.json': summary \"ok\" is false, but none of its checks "
			      "has status \"failed\" (the summary was edited; rerun ballast "
			      "rebalance)", m->dir);
}

int bl_manifest_check(bl_manifest *m, void (*on_problem)(void *arg, const char *msg),
		      void *arg, char *err, size_t errlen)
{
	const cJSON *in, *e, *sum;
	const char *mode;
	char dummy[1], *smode;
	double rec;
	size_t i = 0;
	int nprob = 0;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!m || !m->ended)
		return BL_EUSAGE;
	if (m->bare)
		return BL_OK;
	/* each list file against its input's "written" */
	in = cJSON_GetObjectItemCaseSensitive(m->root, "inputs");
	cJSON_ArrayForEach(e, in) {
		if (i >= m->lists.n)
			break;
		if ((rec = recorded_count(e, "written")) >= 0 && (double)m->nlines[i] != rec)
			check_problem(m, &nprob, err, errlen, on_problem, arg,
				      "'%s' holds %llu entries, manifest.json records %.0f written "
				      "for it (the file was cut short, emptied or edited; rerun "
				      "ballast rebalance)", m->lists.items[i],
				      (unsigned long long)m->nlines[i], rec);
		i++;
	}
	/* the summary's totals: the count when the files had nothing to say,
	 * the weights when the count holds */
	sum = cJSON_GetObjectItemCaseSensitive(m->root, "summary");
	if (!nprob && (rec = recorded_count(sum, "written")) >= 0 && (double)m->nread != rec) {
		check_problem(m, &nprob, err, errlen, on_problem, arg,
			      "'%s/manifest.json': summary.written is %.0f, the shard files hold "
			      "%llu entries (a file or the summary was edited)", m->dir, rec,
			      (unsigned long long)m->nread);
	}
	if (!nprob && cJSON_IsObject(sum)) {
		const cJSON *ws = cJSON_GetObjectItemCaseSensitive(sum, "weight_sum");
		/* weights are written with 10 significant digits: their sum
		 * agrees with the exact one to far better than 1e-6 */
		if (cJSON_IsNumber(ws) &&
		    !(fabs(m->wsum - ws->valuedouble) <= 1e-6 * fabs(ws->valuedouble) + 1e-9))
			check_problem(m, &nprob, err, errlen, on_problem, arg,
				      "'%s/manifest.json': summary.weight_sum is %.10g, the entries' "
				      "weights sum to %.10g (a weight was edited)", m->dir,
				      ws->valuedouble, m->wsum);
	}
	/* "realise" against the summary's record of it, and the weights'
	 * form against it */
	mode = bl_manifest_scalar(m, "summary.realise");
	if (mode && !(mode = strdup(mode))) {
		bl_error_set(err, errlen, "out of memory");
		return BL_ENOMEM;
	}
	smode = (char *)mode;
	mode = bl_manifest_scalar(m, "realise");
	if (mode && smode && strcmp(mode, smode))
		check_problem(m, &nprob, err, errlen, on_problem, arg,
			      "'%s/manifest.json' says realise \"%s\", its summary \"%s\" (the "
			      "header was edited)", m->dir, mode, smode);
	free(smode);
	if (mode && !strcmp(mode, "upsample") && m->nonint)
		check_problem(m, &nprob, err, errlen, on_problem, arg,
			      "'%s/manifest.json' says realise \"upsample\" (integer copy counts), "
			      "but %llu entries have a fractional weight, the first %s: they would "
			      "be rounded", m->dir, (unsigned long long)m->nonint,
			      m->first_nonint.buf);
	else if (mode && !strcmp(mode, "downsample") && m->notone)
		check_problem(m, &nprob, err, errlen, on_problem, arg,
			      "'%s/manifest.json' says realise \"downsample\" (every weight 1), "
			      "but %llu entries weigh otherwise, the first %s", m->dir,
			      (unsigned long long)m->notone, m->first_notone.buf);
	else if (mode && strcmp(mode, "upsample") && strcmp(mode, "downsample") &&
		 strcmp(mode, "weights"))
		check_problem(m, &nprob, err, errlen, on_problem, arg,
			      "'%s/manifest.json': realise \"%s\" is not weights, upsample or "
			      "downsample", m->dir, mode);
	if (check_inputs(m, &nprob, err, errlen, on_problem, arg) != BL_OK) {
		bl_error_set(err, errlen, "out of memory");
		return BL_ENOMEM;
	}
	check_verdict(m, &nprob, err, errlen, on_problem, arg);
	if (nprob > 1)
		bl_error_set(err + strlen(err), errlen - strlen(err), " (and %d more problems)",
			     nprob - 1);
	bl_buf_reset(&m->errmsg);
	return nprob ? BL_FAILED : BL_OK;
}

/* The JSON value of a top-level field, or of "a.b" one level down. */
static const cJSON *field_item(const bl_manifest *m, const char *field)
{
	const char *dot = strchr(field, '.');
	const cJSON *v;
	char head[64];

	if (!dot)
		return cJSON_GetObjectItemCaseSensitive(m->root, field);
	if ((size_t)(dot - field) >= sizeof head)
		return NULL;
	memcpy(head, field, (size_t)(dot - field));
	head[dot - field] = '\0';
	v = cJSON_GetObjectItemCaseSensitive(m->root, head);
	return cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, dot + 1) : NULL;
}

static const char *field_text(bl_manifest *m, const cJSON *v)
{
	bl_buf_reset(&m->field);
	if (cJSON_IsString(v))
		bl_buf_adds(&m->field, v->valuestring);
	else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
		 fabs(v->valuedouble) <= EXACT_MAX)
		bl_buf_addf(&m->field, "%.0f", v->valuedouble);
	else if (cJSON_IsNumber(v))
		bl_buf_addf(&m->field, "%.17g", v->valuedouble);
	else {
		char *t = cJSON_PrintUnformatted(v);
		if (!t)
			return NULL;
		bl_buf_adds(&m->field, t);
		free(t);
	}
	return m->field.buf;
}

const char *bl_manifest_get(const bl_manifest *m, const char *field)
{
	const cJSON *v;

	if (!m || !field || !(v = cJSON_GetObjectItemCaseSensitive(m->root, field)))
		return NULL;
	return field_text((bl_manifest *)m, v);
}

const char *bl_manifest_scalar(const bl_manifest *m, const char *field)
{
	const cJSON *v;

	if (!m || !field || !(v = field_item(m, field)))
		return NULL;
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (!cJSON_IsString(v) && !cJSON_IsNumber(v))
		return NULL;
	return field_text((bl_manifest *)m, v);
}

int bl_manifest_summary(const bl_manifest *m, bl_rb_summary *out, char *err, size_t errlen)
{
	const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m->root, "summary") : NULL;

	if (!m || !out)
		return BL_EUSAGE;
	if (!v) {
		memset(out, 0, sizeof *out);
		if (err && errlen)
			bl_error_set(err, errlen, "'%s' has no summary", m->dir);
		return BL_FAILED;
	}
	return bl_rb_summary_from_cjson(out, v, err, errlen);
}

/* One failed check as "name subject: message", the message cut at
 * PLAN_MSG_MAX bytes (on a character boundary). */
#define PLAN_MSG_MAX 400

static int add_failed_check(bl_buf *out, const cJSON *c)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "check");
	const cJSON *subj = cJSON_GetObjectItemCaseSensitive(c, "subject");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c, "message");
	size_t n;
	int rc = bl_buf_adds(out, cJSON_IsString(name) ? name->valuestring : "(unnamed)");

	if (rc == BL_OK && cJSON_IsString(subj) && *subj->valuestring)
		rc = bl_buf_addf(out, " %s", subj->valuestring);
	if (rc != BL_OK || !cJSON_IsString(msg) || !*msg->valuestring)
		return rc;
	n = strlen(msg->valuestring);
	if (n <= PLAN_MSG_MAX)
		return bl_buf_addf(out, ": %s", msg->valuestring);
	n = PLAN_MSG_MAX;
	while (n && ((unsigned char)msg->valuestring[n] & 0xC0) == 0x80)
		n--;
	return bl_buf_addf(out, ": %.*s...", (int)n, msg->valuestring);
}

int bl_manifest_plan_failed(const bl_manifest *m, bl_buf *out)
{
	const cJSON *sum, *ok, *checks, *c;
	size_t nfailed = 0, k = 0;
	int rc = BL_OK;

	bl_buf_reset(out);
	if (!m || m->bare || !cJSON_IsObject(sum = cJSON_GetObjectItemCaseSensitive(m->root, "summary")))
		return BL_OK;
	/* the checks decide, whatever "ok" says (bl_manifest_check calls a
	 * disagreement damage) */
	ok = cJSON_GetObjectItemCaseSensitive(sum, "ok");
	checks = cJSON_GetObjectItemCaseSensitive(sum, "checks");
	if (!cJSON_IsArray(checks))
		checks = NULL;
	cJSON_ArrayForEach(c, checks) {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(c, "status");
		if (cJSON_IsString(st) && !strcmp(st->valuestring, "failed"))
			nfailed++;
	}
	if (!nfailed)
		return cJSON_IsFalse(ok)
		       ? bl_buf_adds(out, "its plan failed when it was made (manifest.json records "
				     "summary \"ok\": false, and names no failed check)")
		       : BL_OK;
	rc = bl_buf_addf(out, "its plan failed %zu check%s when it was made: ", nfailed,
			 nfailed == 1 ? "" : "s");
	/* the first two in full, the names of the rest */
	cJSON_ArrayForEach(c, checks) {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(c, "status");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "check");
		if (rc != BL_OK || !cJSON_IsString(st) || strcmp(st->valuestring, "failed"))
			continue;
		if (k < 2)
			rc = k ? bl_buf_adds(out, "; ") : BL_OK;
		else if (k == 2)
			rc = bl_buf_addf(out, "; and %zu more: ", nfailed - 2);
		else
			rc = bl_buf_adds(out, ", ");
		if (rc == BL_OK && k < 2)
			rc = add_failed_check(out, c);
		else if (rc == BL_OK)
			rc = bl_buf_adds(out, cJSON_IsString(name) ? name->valuestring : "(unnamed)");
		k++;
	}
	return rc;
}

const char *bl_manifest_errmsg(const bl_manifest *m)
{
	return m && m->errmsg.len ? m->errmsg.buf : "no error";
}
