/*
 * export.c - a manifest out to where trainers read: new WebDataset shards
 * (`ballast write`), and the layouts of webdataset pipelines, kohya-ss
 * sd-scripts and Hugging Face imagefolder (`ballast export`).
 *
 * Every export that needs sample bytes walks the source shards in
 * manifest order, one streaming pass a shard (bl_reader with every member
 * loaded), and matches the samples it wants by ordinal, checking the key:
 * compressed shards cost no more than plain ones, and memory stays at one
 * sample.  An entry that cannot be found, or whose key would put a file
 * outside the output (absolute, "..", backslash, control characters), is
 * an item failure: reported through opt->on_error, counted, skipped.
 * Output shards go through bl_writer (atomic per shard); other files are
 * written as NAME.tmp and renamed.
 */
#include "ballast.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEF_PER_SHARD 10000

struct walk {
	const bl_sampler *s;
	const bl_export_options *opt;
	bl_export_totals *tot;
	char *err;
	size_t errlen;
	int fatal; /* an output failed: stop */
};

/* Called for each entry found: return BL_OK, BL_FAILED (item), or
 * BL_FATAL (stop the walk; w->err set). */
typedef int (*walk_fn)(struct walk *w, void *ctx, size_t idx, const bl_entry *e,
		       const bl_sample *smp);

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

static void item_error(struct walk *w, const char *fmt, ...)
	__attribute__((format(__printf__, 2, 3)));
static void item_error(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	char msg[2048];
	w->tot->failed++;
	if (!w->opt || !w->opt->on_error)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	w->opt->on_error(w->opt->arg, msg);
}

/* 1 when key is safe to use below an output directory. */
static int key_safe(const char *key)
{
	const char *p = key;
	if (!*key || *key == '/')
		return 0;
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '\\' || *p == 0x7f)
			return 0;
	for (p = key; p; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (!strncmp(p, "..", 2) && (p[2] == '/' || !p[2]))
			return 0;
		if (!*p || *p == '/') /* empty component */
			return 0;
	}
	return 1;
}

/* Entry indices ordered by (shard, ordinal). */
static const bl_sampler *sort_s;
static int cmp_entry(const void *a, const void *b)
{
	const bl_entry *x = bl_sampler_entry(sort_s, *(const size_t *)a);
	const bl_entry *y = bl_sampler_entry(sort_s, *(const size_t *)b);
	if (x->shard_index != y->shard_index)
		return x->shard_index < y->shard_index ? -1 : 1;
	if (x->ordinal != y->ordinal)
		return x->ordinal < y->ordinal ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static int walk(struct walk *w, walk_fn fn, void *ctx)
{
	size_t n = bl_sampler_nentries(w->s), *ord = NULL, i = 0;
	bl_reader *r = NULL;
	int rc = BL_ENOMEM;

	ord = malloc((n ? n : 1) * sizeof *ord);
	r = bl_reader_new();
	if (!ord || !r) {
		seterr(w->err, w->errlen, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++)
		ord[k] = k;
	sort_s = w->s; /* qsort has no context argument; callers are serial */
	qsort(ord, n, sizeof *ord, cmp_entry);
	bl_reader_set_load(r, BL_LOAD_ALL);
	bl_reader_set_limits(r, &w->opt->limits);
	while (i < n) {
		const bl_entry *e = bl_sampler_entry(w->s, ord[i]);
		uint32_t sh = e->shard_index;
		const bl_sample *smp;
		int rr = BL_END;

		if (bl_reader_open(r, e->shard) != BL_OK) {
			for (; i < n && bl_sampler_entry(w->s, ord[i])->shard_index == sh; i++)
				item_error(w, "%s (entry key '%s')", bl_reader_errmsg(r),
					   bl_sampler_entry(w->s, ord[i])->key);
			continue;
		}
		while (i < n && (e = bl_sampler_entry(w->s, ord[i]))->shard_index == sh) {
			rr = bl_reader_next(r, &smp);
			if (rr == BL_FAILED)
				continue;
			if (rr != BL_OK && rr != BL_WARN)
				break;
			while (i < n && e->shard_index == sh && e->ordinal < smp->ordinal) {
				item_error(w, "shard '%s': no sample %" PRIu64 " (key '%s')",
					   e->shard, e->ordinal, e->key);
				if (++i < n)
					e = bl_sampler_entry(w->s, ord[i]);
			}
			/* the same sample may be listed more than once */
			while (i < n && e->shard_index == sh && e->ordinal == smp->ordinal) {
				int fr;
				if (!key_safe(e->key))
					item_error(w, "shard '%s' at offset %" PRId64 ": key '%s' would "
						   "write outside the output; skipped", e->shard,
						   smp->offset, e->key);
				else if (strcmp(e->key, smp->key))
					item_error(w, "shard '%s' sample %" PRIu64 " at offset %" PRId64
						   ": key is '%s', the manifest says '%s' (shard changed?)",
						   e->shard, e->ordinal, smp->offset, smp->key, e->key);
				else if ((fr = fn(w, ctx, ord[i], e, smp)) == BL_FATAL) {
					rc = BL_FAILED;
					goto out;
				} else if (fr != BL_OK)
					w->tot->failed++;
				if (++i < n)
					e = bl_sampler_entry(w->s, ord[i]);
			}
		}
		if (rr == BL_FATAL)
			item_error(w, "%s", bl_reader_errmsg(r));
		for (; i < n && bl_sampler_entry(w->s, ord[i])->shard_index == sh; i++)
			item_error(w, "shard '%s': no sample %" PRIu64 " (key '%s')",
				   bl_sampler_entry(w->s, ord[i])->shard,
				   bl_sampler_entry(w->s, ord[i])->ordinal,
				   bl_sampler_entry(w->s, ord[i])->key);
		bl_reader_close(r);
	}
	rc = BL_OK;
out:
	free(ord);
	bl_reader_free(r);
	return rc;
}

/* mkdir -p for one level below an existing parent, or the path itself. */
static int make_dir(const char *path)
{
	char tmp[PATH_MAX];
	struct stat st;

	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return -1;
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
		return -1;
	return stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}


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

/* ---- ballast write -------------------------------------------------- */

struct wctx {
	const char *outdir;
	bl_writer *wr;
	uint64_t in_shard, nshard, per_shard;
	int repeats;
	bl_buf key, cap, json;
};

static int next_output(struct walk *w, struct wctx *c)
{
	char path[PATH_MAX];

	if (c->in_shard < c->per_shard && c->nshard > 0)
		return BL_OK;
	if (c->nshard > 0 && bl_writer_close(c->wr) != BL_OK) {
		seterr(w->err, w->errlen, "%s", bl_writer_errmsg(c->wr));
		return BL_FATAL;
	}
	snprintf(path, sizeof path, "%s/%05" PRIu64 ".tar", c->outdir, c->nshard);
	if (bl_writer_open(c->wr, path) != BL_OK) {
		seterr(w->err, w->errlen, "%s", bl_writer_errmsg(c->wr));
		return BL_FATAL;
	}
	w->tot->files++;
	c->nshard++;
	c->in_shard = 0;
	return BL_OK;
}

static int write_one(struct walk *w, void *ctx, size_t idx, const bl_entry *e,
		     const bl_sample *smp)
{
	struct wctx *c = ctx;
	uint64_t copies = 1;
	const char *rating = w->opt->rating_tags ? rating_of(w->s, e) : NULL;
	int has_json = 0, rc = BL_FAILED;

	(void)idx;
	w->tot->entries++;
	if (c->repeats) {
		double n = floor(e->weight + 0.5);
		copies = n < 1 ? 1 : (uint64_t)n;
	}
	/* the json member, with the weight when it is fractional */
	bl_buf_reset(&c->json);
	for (size_t m = 0; m < smp->nmembers; m++)
		if (smp->json == &smp->members[m])
			has_json = 1;
	if (!c->repeats) {
		cJSON *o = NULL;
		char *txt;
		if (has_json && smp->json->data)
			o = cJSON_ParseWithLength((const char *)smp->json->data, smp->json->len);
		if (has_json && !cJSON_IsObject(o)) {
			item_error(w, "shard '%s' key '%s': json member does not parse; "
				   "written without ballast_weight", e->shard, e->key);
			cJSON_Delete(o);
			o = NULL;
		} else {
			if (!o)
				o = cJSON_CreateObject();
			cJSON_DeleteItemFromObjectCaseSensitive(o, "ballast_weight");
			if (!o || !cJSON_AddNumberToObject(o, "ballast_weight", e->weight) ||
			    !(txt = cJSON_PrintUnformatted(o))) {
				cJSON_Delete(o);
				seterr(w->err, w->errlen, "out of memory");
				return BL_FATAL;
			}
			bl_buf_adds(&c->json, txt);
			free(txt);
			cJSON_Delete(o);
			w->tot->weighted++;
		}
	}
	for (uint64_t k = 0; k < copies; k++) {
		int r = next_output(w, c);
		if (r != BL_OK)
			return r;
		bl_buf_reset(&c->key);
		if (k == 0)
			bl_buf_adds(&c->key, e->key);
		else
			bl_buf_addf(&c->key, "%s_r%" PRIu64, e->key, k);
		for (size_t m = 0; m < smp->nmembers; m++) {
			const bl_member *mb = &smp->members[m];
			const void *data = mb->data ? (const void *)mb->data : "";
			size_t len = mb->data ? mb->len : 0;
			if (mb == smp->json && c->json.len) {
				data = c->json.buf;
				len = c->json.len;
			} else if (mb == smp->caption && rating) {
				bl_buf_reset(&c->cap);
				bl_buf_add(&c->cap, data, len);
				while (c->cap.len && (c->cap.buf[c->cap.len - 1] == '\n' ||
						      c->cap.buf[c->cap.len - 1] == ' '))
					c->cap.buf[--c->cap.len] = '\0';
				bl_buf_addf(&c->cap, "%s%s", c->cap.len ? ", " : "", rating);
				data = c->cap.buf;
				len = c->cap.len;
				if (k == 0)
					w->tot->rated++;
			}
			if (bl_writer_add(c->wr, c->key.buf, mb->ext, data, len) != BL_OK) {
				seterr(w->err, w->errlen, "%s", bl_writer_errmsg(c->wr));
				return BL_FATAL;
			}
		}
		if (!has_json && c->json.len &&
		    bl_writer_add(c->wr, c->key.buf, "json", c->json.buf, c->json.len) != BL_OK) {
			seterr(w->err, w->errlen, "%s", bl_writer_errmsg(c->wr));
			return BL_FATAL;
		}
		c->in_shard++;
		w->tot->samples++;
		if (k > 0)
			w->tot->copies++;
	}
	rc = BL_OK;
	return rc;
}

static int prepare_outdir(const char *outdir, int force, char *err, size_t errlen)
{
	struct stat st;

	if (!outdir || !*outdir) {
		seterr(err, errlen, "no output directory");
		return BL_FAILED;
	}
	if (stat(outdir, &st) == 0 && !force) {
		seterr(err, errlen, "'%s' exists (use --force to write into it)", outdir);
		return BL_FAILED;
	}
	if (make_dir(outdir) != 0) {
		seterr(err, errlen, "cannot create '%s': %s", outdir, strerror(errno));
		return BL_FAILED;
	}
	return BL_OK;
}

int bl_export_write(const bl_sampler *s, const char *outdir,
		    const bl_export_options *opt, bl_export_totals *totals,
		    char *err, size_t errlen)
{
	bl_export_options dflt;
	bl_export_totals tot;
	struct wctx c;
	struct walk w;
	int rc = BL_EUSAGE;

	memset(&c, 0, sizeof c);
	memset(&tot, 0, sizeof tot);
	bl_buf_init(&c.key, 0);
	bl_buf_init(&c.cap, 0);
	bl_buf_init(&c.json, 0);
	if (!opt) {
		memset(&dflt, 0, sizeof dflt);
		opt = &dflt;
	}
	if (!s)
		goto out;
	rc = prepare_outdir(outdir, opt->force, err, errlen);
	if (rc != BL_OK)
		goto out;
	c.outdir = outdir;
	c.per_shard = opt->per_shard ? opt->per_shard : DEF_PER_SHARD;
	c.repeats = bl_sampler_repeats(s);
	c.wr = bl_writer_new();
	if (!c.wr) {
		rc = BL_ENOMEM;
		goto out;
	}
	w = (struct walk){s, opt, &tot, err, errlen, 0};
	rc = walk(&w, write_one, &c);
	if (rc == BL_OK && c.nshard > 0 && bl_writer_close(c.wr) != BL_OK) {
		seterr(err, errlen, "%s", bl_writer_errmsg(c.wr));
		rc = BL_FAILED;
	}
out:
	bl_writer_free(c.wr);
	bl_buf_release(&c.key);
	bl_buf_release(&c.cap);
	bl_buf_release(&c.json);
	if (totals)
		*totals = tot;
	return rc;
}

/* ---- exports to trainers' layouts ------------------------------------ */

struct xctx {
	int kind;
	const char *outdir;
	int prefix;       /* file names carry the shard index (keys collide) */
	int repeats;
	uint64_t seed;
	bl_buf path, line, meta;
	struct {
		uint64_t n, files;
	} *rep;           /* kohya: repeat counts seen */
	size_t nrep, arep;
};

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* File stem of a key: '/' becomes '_'; unique across the manifest when
 * no two keys flatten alike, else prefixed with the shard index. */
static void stem_of(struct xctx *c, const bl_entry *e, bl_buf *out)
{
	bl_buf_reset(out);
	if (c->prefix)
		bl_buf_addf(out, "s%05" PRIu32 "_", e->shard_index);
	for (const char *p = e->key; *p; p++)
		bl_buf_addch(out, *p == '/' ? '_' : *p);
}

static int keys_collide(const bl_sampler *s, int *collide)
{
	size_t n = bl_sampler_nentries(s);
	char **v = calloc(n ? n : 1, sizeof *v);
	int rc = BL_ENOMEM;

	*collide = 0;
	if (!v)
		return rc;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(bl_sampler_entry(s, i)->key);
		if (!v[i])
			goto out;
		for (char *p = v[i]; *p; p++)
			if (*p == '/')
				*p = '_';
	}
	qsort(v, n, sizeof *v, cmp_cstr);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(v[i - 1], v[i]))
			*collide = 1;
	rc = BL_OK;
out:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return rc;
}

/* The caption without trailing white space. */
static void caption_of(const bl_sample *smp, bl_buf *out)
{
	bl_buf_reset(out);
	if (smp->caption && smp->caption->data)
		bl_buf_add(out, smp->caption->data, smp->caption->len);
	while (out->len && strchr(" \t\r\n", out->buf[out->len - 1]))
		out->buf[--out->len] = '\0';
}

static int extract_one(struct walk *w, void *ctx, size_t idx, const bl_entry *e,
		       const bl_sample *smp)
{
	struct xctx *c = ctx;
	bl_buf stem, cap;
	uint64_t n = 1;
	int rc = BL_FAILED;

	bl_buf_init(&stem, 0);
	bl_buf_init(&cap, 0);
	w->tot->entries++;
	if (!smp->image || !smp->image->data) {
		item_error(w, "shard '%s' key '%s' at offset %" PRId64 ": no image member",
			   e->shard, e->key, smp->offset);
		rc = BL_OK; /* counted already */
		goto out;
	}
	stem_of(c, e, &stem);
	caption_of(smp, &cap);
	if (c->kind == BL_EXPORT_KOHYA) {
		if (c->repeats) {
			double r = floor(e->weight + 0.5);
			n = r < 1 ? 1 : (uint64_t)r;
		} else {
			bl_rng rng;
			double f = floor(e->weight);
			bl_rng_seed2(&rng, c->seed, idx);
			n = (uint64_t)f + (bl_rng_double(&rng) < e->weight - f);
			if (n == 0) {
				rc = BL_OK; /* rounded away */
				goto out;
			}
		}
		size_t k;
		for (k = 0; k < c->nrep && c->rep[k].n != n; k++)
			;
		if (k == c->nrep) {
			if (c->nrep == c->arep) {
				size_t na = c->arep ? c->arep * 2 : 16;
				void *nr = realloc(c->rep, na * sizeof *c->rep);
				if (!nr)
					goto nomem;
				c->rep = nr;
				c->arep = na;
			}
			c->rep[c->nrep].n = n;
			c->rep[c->nrep++].files = 0;
			bl_buf_reset(&c->path);
			bl_buf_addf(&c->path, "%s/r%" PRIu64, c->outdir, n);
			if (make_dir(c->path.buf) != 0) {
				seterr(w->err, w->errlen, "cannot create '%s': %s", c->path.buf,
				       strerror(errno));
				rc = BL_FATAL;
				goto out;
			}
		}
		c->rep[k].files++;
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s/r%" PRIu64 "/%s.txt", c->outdir, n, stem.buf);
		if (bl_file_write_atomic(c->path.buf, cap.buf, cap.len, NULL, 0) != BL_OK)
			goto ioerr;
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s/r%" PRIu64 "/%s.%s", c->outdir, n, stem.buf,
			    smp->image->ext);
		w->tot->files++;
		w->tot->samples += n;
		w->tot->copies += n - 1;
	} else {
		cJSON *o = cJSON_CreateObject();
		char *txt;
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s.%s", stem.buf, smp->image->ext);
		if (!o || !cJSON_AddStringToObject(o, "file_name", c->path.buf) ||
		    !cJSON_AddStringToObject(o, "text", cap.buf) ||
		    !cJSON_AddNumberToObject(o, "weight", e->weight) ||
		    !(txt = cJSON_PrintUnformatted(o))) {
			cJSON_Delete(o);
			goto nomem;
		}
		bl_buf_adds(&c->meta, txt);
		bl_buf_addch(&c->meta, '\n');
		free(txt);
		cJSON_Delete(o);
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s/%s.%s", c->outdir, stem.buf, smp->image->ext);
		w->tot->samples++;
		if (e->weight != floor(e->weight))
			w->tot->weighted++;
	}
	if (bl_file_write_atomic(c->path.buf, smp->image->data, smp->image->len, NULL, 0) != BL_OK)
		goto ioerr;
	w->tot->files++;
	rc = BL_OK;
	goto out;
ioerr:
	seterr(w->err, w->errlen, "cannot write '%s': %s", c->path.buf, strerror(errno));
	rc = BL_FATAL;
	goto out;
nomem:
	seterr(w->err, w->errlen, "out of memory");
	rc = BL_FATAL;
out:
	bl_buf_release(&stem);
	bl_buf_release(&cap);
	return rc;
}

/* A TOML basic string. */
static void toml_str(bl_buf *b, const char *s)
{
	bl_buf_addch(b, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			bl_buf_addf(b, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			bl_buf_addf(b, "\\u%04x", ch);
		else
			bl_buf_addch(b, (char)ch);
	}
	bl_buf_addch(b, '"');
}

static int cmp_rep(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int kohya_toml(struct xctx *c, const bl_export_options *opt, char *err,
		      size_t errlen)
{
	char abs[PATH_MAX];
	bl_buf t;
	int rc = BL_FAILED;

	bl_buf_init(&t, 0);
	if (!realpath(c->outdir, abs)) {
		seterr(err, errlen, "'%s': %s", c->outdir, strerror(errno));
		goto out;
	}
	qsort(c->rep, c->nrep, sizeof *c->rep, cmp_rep);
	bl_buf_addf(&t,
		    "# kohya-ss sd-scripts dataset config, written by ballast export\n"
		    "# train_network.py --dataset_config THIS_FILE ...\n"
		    "# One subset per repeat count: the images of rN/ are seen N times an\n"
		    "# epoch, which realises the manifest's weights.\n\n"
		    "[general]\n"
		    "caption_extension = \".txt\"\n"
		    "shuffle_caption = false\n"
		    "keep_tokens = 0\n\n"
		    "[[datasets]]\n"
		    "resolution = %d\n"
		    "batch_size = 1\n",
		    opt->resolution > 0 ? opt->resolution : 512);
	for (size_t k = 0; k < c->nrep; k++) {
		bl_buf_addf(&t, "\n  [[datasets.subsets]]\n  image_dir = ");
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s/r%" PRIu64, abs, c->rep[k].n);
		toml_str(&t, c->path.buf);
		bl_buf_addf(&t, "\n  num_repeats = %" PRIu64 "\n  caption_extension = \".txt\"\n"
			    "  # %" PRIu64 " images\n", c->rep[k].n, c->rep[k].files);
	}
	bl_buf_reset(&c->path);
	bl_buf_addf(&c->path, "%s/dataset.toml", c->outdir);
	if (bl_file_write_atomic(c->path.buf, t.buf, t.len, NULL, 0) != BL_OK) {
		seterr(err, errlen, "cannot write '%s': %s", c->path.buf, strerror(errno));
		goto out;
	}
	rc = BL_OK;
out:
	bl_buf_release(&t);
	return rc;
}

static int export_webdataset(const bl_sampler *s, const char *outdir,
			     bl_export_totals *tot, char *err, size_t errlen)
{
	size_t ns = bl_sampler_nshards(s), n = bl_sampler_nentries(s);
	double *w = calloc(ns ? ns : 1, sizeof *w), W = bl_sampler_weight(s);
	uint64_t *cnt = calloc(ns ? ns : 1, sizeof *cnt);
	char **url = calloc(ns ? ns : 1, sizeof *url);
	bl_buf txt, js, tsv, path;
	int rc = BL_ENOMEM;

	bl_buf_init(&txt, 0);
	bl_buf_init(&js, 0);
	bl_buf_init(&tsv, 0);
	bl_buf_init(&path, 0);
	if (!w || !cnt || !url)
		goto out;
	for (size_t i = 0; i < ns; i++) {
		char abs[PATH_MAX];
		const char *p = bl_sampler_shard(s, i);
		url[i] = strdup(realpath(p, abs) ? abs : p);
		if (!url[i])
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const bl_entry *e = bl_sampler_entry(s, i);
		w[e->shard_index] += e->weight;
		cnt[e->shard_index]++;
		bl_buf_addf(&tsv, "%s\t%s\t%.9g\n", url[e->shard_index], e->key, e->weight);
		tot->entries++;
	}
	bl_buf_addf(&js, "{\"format\": \"ballast-webdataset\", \"version\": 1, "
		    "\"manifest_sha256\": \"%s\", \"total_weight\": %.9g, \"shards\": [",
		    bl_sampler_digest(s), W);
	for (size_t i = 0; i < ns; i++) {
		cJSON *u = cJSON_CreateString(url[i]);
		char *q = u ? cJSON_PrintUnformatted(u) : NULL;
		cJSON_Delete(u);
		if (!q)
			goto out;
		bl_buf_addf(&txt, "%s\n", url[i]);
		bl_buf_addf(&js, "%s\n  {\"url\": %s, \"samples\": %" PRIu64
			    ", \"weight\": %.9g, \"share\": %.9g}", i ? "," : "", q, cnt[i],
			    w[i], W > 0 ? w[i] / W : 0);
		free(q);
	}
	bl_buf_adds(&js, "\n]}\n");
	rc = BL_FAILED;
	const char *names[3] = {"shards.txt", "shards.json", "weights.tsv"};
	bl_buf *bufs[3] = {&txt, &js, &tsv};
	for (int k = 0; k < 3; k++) {
		bl_buf_reset(&path);
		bl_buf_addf(&path, "%s/%s", outdir, names[k]);
		if (bl_file_write_atomic(path.buf, bufs[k]->buf, bufs[k]->len, NULL, 0) != BL_OK) {
			seterr(err, errlen, "cannot write '%s': %s", path.buf, strerror(errno));
			goto out;
		}
		tot->files++;
	}
	tot->samples = n;
	rc = BL_OK;
out:
	if (rc == BL_ENOMEM)
		seterr(err, errlen, "out of memory");
	for (size_t i = 0; url && i < ns; i++)
		free(url[i]);
	free(url);
	free(w);
	free(cnt);
	bl_buf_release(&txt);
	bl_buf_release(&js);
	bl_buf_release(&tsv);
	bl_buf_release(&path);
	return rc;
}

int bl_export_to(const bl_sampler *s, int kind, const char *outdir,
		 const bl_export_options *opt, bl_export_totals *totals,
		 char *err, size_t errlen)
{
	bl_export_options dflt;
	bl_export_totals tot;
	struct xctx c;
	struct walk w;
	const char *seed;
	int rc = BL_EUSAGE;

	memset(&c, 0, sizeof c);
	memset(&tot, 0, sizeof tot);
	bl_buf_init(&c.path, 0);
	bl_buf_init(&c.line, 0);
	bl_buf_init(&c.meta, 0);
	if (!opt) {
		memset(&dflt, 0, sizeof dflt);
		opt = &dflt;
	}
	if (!s || kind < BL_EXPORT_WEBDATASET || kind > BL_EXPORT_HF)
		goto out;
	rc = prepare_outdir(outdir, opt->force, err, errlen);
	if (rc != BL_OK)
		goto out;
	if (kind == BL_EXPORT_WEBDATASET) {
		rc = export_webdataset(s, outdir, &tot, err, errlen);
		goto out;
	}
	c.kind = kind;
	c.outdir = outdir;
	c.repeats = bl_sampler_repeats(s);
	c.seed = opt->seed;
	if (!c.seed && (seed = bl_sampler_meta(s, "seed")))
		c.seed = strtoull(seed, NULL, 10);
	rc = keys_collide(s, &c.prefix);
	if (rc != BL_OK)
		goto out;
	w = (struct walk){s, opt, &tot, err, errlen, 0};
	rc = walk(&w, extract_one, &c);
	if (rc != BL_OK)
		goto out;
	if (kind == BL_EXPORT_KOHYA) {
		rc = kohya_toml(&c, opt, err, errlen);
	} else {
		bl_buf_reset(&c.path);
		bl_buf_addf(&c.path, "%s/metadata.jsonl", outdir);
		if (bl_file_write_atomic(c.path.buf, c.meta.buf, c.meta.len, NULL, 0) != BL_OK) {
			seterr(err, errlen, "cannot write '%s': %s", c.path.buf, strerror(errno));
			rc = BL_FAILED;
		}
	}
	if (rc == BL_OK)
		tot.files++;
out:
	free(c.rep);
	bl_buf_release(&c.path);
	bl_buf_release(&c.line);
	bl_buf_release(&c.meta);
	if (totals)
		*totals = tot;
	return rc;
}

int bl_export_kind_parse(const char *name)
{
	if (!name)
		return -1;
	if (!strcmp(name, "webdataset") || !strcmp(name, "wds"))
		return BL_EXPORT_WEBDATASET;
	if (!strcmp(name, "kohya"))
		return BL_EXPORT_KOHYA;
	if (!strcmp(name, "hf") || !strcmp(name, "imagefolder"))
		return BL_EXPORT_HF;
	return -1;
}
