/*
 * export.c - a manifest out to where trainers read: the layouts of
 * webdataset pipelines, kohya-ss sd-scripts and Hugging Face imagefolder
 * (`ballast export`), and what `ballast write` shares with them.
 *
 * Reading.  Every export that needs sample bytes walks the source shards
 * in (shard, ordinal) order, whatever the order of the manifest's lines:
 * one streaming pass a shard (bl_reader), matching the samples it wants
 * by ordinal and checking the key, so compressed shards cost no more than
 * plain ones.  Members are read whole, up to 1 GiB each: a sample that
 * was not (a member over the limit, more members than the limit, a
 * member the reader dropped) is never written in part; it is an item
 * error.  Only regular files are read: a manifest naming "-" or a FIFO
 * would otherwise hang on a stream that never ends.
 *
 * Writing.  Every output is a directory built beside its place and
 * published whole (bl_file_dir): a killed run leaves nothing a reader
 * takes for output, and --force replaces an earlier output instead of
 * mixing with it.  Files inside are written once, without a sync each;
 * the tree is synced once at the end.  Each output holds ballast.json,
 * the record of what was written and skipped, by reason.
 *
 * Names.  Keys repeated across shards (or listed twice), repeats of one
 * sample, and file names that collide once '/' is flattened or case is
 * ignored are disambiguated with a suffix (_dN), never merged: what
 * `ballast ls` reads back is exactly what the totals report.
 *
 * `ballast write` itself is in lib/export_write.c; this file holds the
 * walk and what every export shares, and the trainers' layouts.
 */
#include "error_int.h"
#include "alloc_int.h"
#include "ballast.h"
#include "export_int.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_MAX_MEMBER ((int64_t)1 << 30)   /* bytes of one member, copied whole */
#define COPY_MAX_MEMBERS 1024
#define STEM_MAX 200         /* bytes of a file stem; NAME_MAX is 255 */

static const char *const skip_names[BL_SKIP__COUNT] = {
	[BL_SKIP_MISSING] = "missing",
	[BL_SKIP_KEY_CHANGED] = "key_changed",
	[BL_SKIP_UNSAFE_KEY] = "unsafe_key",
	[BL_SKIP_INCOMPLETE] = "incomplete",
	[BL_SKIP_BAD_JSON] = "bad_json",
	[BL_SKIP_NAME_TOO_LONG] = "name_too_long",
	[BL_SKIP_NO_IMAGE] = "no_image",
	[BL_SKIP_NO_CAPTION] = "no_caption",
	[BL_SKIP_ROUNDED_AWAY] = "rounded_to_zero",
	[BL_SKIP_TOO_HEAVY] = "too_heavy",
	[BL_SKIP_DUP_KEY] = "duplicate_key",
};

const char *bl_export_skip_name(int reason)
{
	return reason >= 0 && reason < BL_SKIP__COUNT ? skip_names[reason] : "unknown";
}


/* ---- the walk ------------------------------------------------------------ */

int bl_export_cmp_ord(const void *a, const void *b)
{
	const struct bl_export_ord *x = a, *y = b;
	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	if (x->ordinal != y->ordinal)
		return x->ordinal < y->ordinal ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Why a shard path cannot be read as a shard, or NULL. */
static const char *not_a_shard(const char *path, char *buf, size_t len)
{
	struct stat st;
	if (!strcmp(path, "-"))
		return "'-' (standard input) cannot be a manifest's shard";
	if (stat(path, &st) != 0) {
		snprintf(buf, len, "shard '%s': %s", path, strerror(errno));
		return buf;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(buf, len, "shard '%s' is not a regular file (a FIFO, device or "
			 "directory is not read)", path);
		return buf;
	}
	return NULL;
}

int bl_export_walk(const bl_sampler *s, unsigned load, const bl_limits *lim,
		   bl_walk_fn fn, void *ctx, char *err, size_t errlen)
{
	size_t n = bl_sampler_nentries(s), i = 0;
	struct bl_export_ord *ord = NULL;
	bl_reader *r = NULL;
	char why[2048];
	int rc = BL_ENOMEM, fr;

	if (!s || !fn)
		return BL_EUSAGE;
	ord = malloc((n ? n : 1) * sizeof *ord);
	r = bl_reader_new();
	if (!ord || !r) {
		bl_error_set(err, errlen, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		const bl_entry *e = bl_sampler_entry(s, k);
		ord[k] = (struct bl_export_ord){e->ordinal, e->shard_index, k};
	}
	qsort(ord, n, sizeof *ord, bl_export_cmp_ord);
	bl_reader_set_load(r, load);
	bl_reader_set_limits(r, lim);
#define ENTRY(j) bl_sampler_entry(s, ord[j].idx)
#define CALL(smp, w)                                                          \
	do {                                                                  \
		fr = fn(ctx, ord[i].idx, ENTRY(i), smp, w);                   \
		if (fr != BL_OK && fr != BL_FAILED) {                         \
			rc = fr;                                              \
			goto out;                                             \
		}                                                             \
	} while (0)
	while (i < n) {
		uint32_t sh = ord[i].shard;
		const char *path = ENTRY(i)->shard, *bad = not_a_shard(path, why, sizeof why);
		const bl_sample *smp;
		int rr = BL_END;

		if (!bad && bl_reader_open(r, path) != BL_OK) {
			snprintf(why, sizeof why, "%s", bl_reader_errmsg(r));
			bad = why;
		}
		if (bad) {
			for (; i < n && ord[i].shard == sh; i++)
				CALL(NULL, bad);
			continue;
		}
		while (i < n && ord[i].shard == sh) {
			rr = bl_reader_next(r, &smp);
			if (rr == BL_FAILED)
				continue;
			if (rr != BL_OK && rr != BL_WARN)
				break;
			for (; i < n && ord[i].shard == sh && ord[i].ordinal < smp->ordinal; i++) {
				snprintf(why, sizeof why, "shard '%s': no sample %" PRIu64, path,
					 ord[i].ordinal);
				CALL(NULL, why);
			}
			/* the same sample may be listed more than once */
			for (; i < n && ord[i].shard == sh && ord[i].ordinal == smp->ordinal; i++)
				CALL(smp, NULL);
		}
		if (rr == BL_FATAL)
			snprintf(why, sizeof why, "%s", bl_reader_errmsg(r));
		for (; i < n && ord[i].shard == sh; i++) {
			if (rr != BL_FATAL)
				snprintf(why, sizeof why, "shard '%s': no sample %" PRIu64, path,
					 ord[i].ordinal);
			CALL(NULL, why);
		}
		bl_reader_close(r);
	}
#undef CALL
#undef ENTRY
	rc = BL_OK;
out:
	free(ord);
	bl_reader_free(r);
	return rc;
}

/* ---- what every export shares ------------------------------------------- */

static uint64_t name_hash(const struct bl_nameset *ns, const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);
	for (; *s; s++)
		h = (h ^ (unsigned char)(ns->fold ? tolower((unsigned char)*s) : *s)) *
		    UINT64_C(1099511628211);
	return h;
}

static int name_eq(const struct bl_nameset *ns, const char *a, const char *b)
{
	return ns->fold ? !strcasecmp(a, b) : !strcmp(a, b);
}

int bl_export_nameset_has(const struct bl_nameset *ns, const char *s)
{
	if (!ns->cap)
		return 0;
	for (size_t i = name_hash(ns, s) & (ns->cap - 1); ns->slot[i]; i = (i + 1) & (ns->cap - 1))
		if (name_eq(ns, ns->slot[i], s))
			return 1;
	return 0;
}

/* Add s (a copy); BL_OK, BL_ENOMEM. */
int bl_export_nameset_add(struct bl_nameset *ns, const char *s)
{
	size_t i;
	char *c;

	if ((ns->n + 1) * 2 > ns->cap) {
		size_t ncap = ns->cap ? ns->cap * 2 : 1024;
		char **nslot = calloc(ncap, sizeof *nslot);
		if (!nslot)
			return BL_ENOMEM;
		for (size_t k = 0; k < ns->cap; k++)
			if (ns->slot[k]) {
				for (i = name_hash(ns, ns->slot[k]) & (ncap - 1); nslot[i];
				     i = (i + 1) & (ncap - 1))
					;
				nslot[i] = ns->slot[k];
			}
		free(ns->slot);
		ns->slot = nslot;
		ns->cap = ncap;
	}
	if (!(c = strdup(s)))
		return BL_ENOMEM;
	for (i = name_hash(ns, s) & (ns->cap - 1); ns->slot[i]; i = (i + 1) & (ns->cap - 1))
		;
	ns->slot[i] = c;
	ns->n++;
	return BL_OK;
}

void bl_export_nameset_free(struct bl_nameset *ns)
{
	for (size_t i = 0; i < ns->cap; i++)
		free(ns->slot[i]);
	free(ns->slot);
	memset(ns, 0, sizeof *ns);
}

/*
 * name, or name_dN with the smallest N >= 1 such that the result is in
 * neither taken nor avoid (avoid may be NULL), into out; the result is
 * added to taken.  *renamed is set when a suffix was needed.
 */
int bl_export_unique_name(struct bl_nameset *taken, const struct bl_nameset *avoid, const char *name,
		       bl_buf *out, int *renamed)
{
	size_t base;
	bl_buf_reset(out);
	if (bl_buf_adds(out, name) != BL_OK)
		return BL_ENOMEM;
	base = out->len;
	*renamed = 0;
	for (uint64_t k = 1; bl_export_nameset_has(taken, out->buf) || (avoid && bl_export_nameset_has(avoid, out->buf));
	     k++) {
		out->len = base;
		out->buf[base] = '\0';
		if (bl_buf_addf(out, "_d%" PRIu64, k) != BL_OK)
			return BL_ENOMEM;
		*renamed = 1;
	}
	return bl_export_nameset_add(taken, out->buf);
}

/* 1 when key is safe to use below an output directory or as a member. */
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

/* Why a sample cannot be copied whole, or NULL. */
static const char *incomplete(const bl_sample *smp, char *buf, size_t len)
{
	if (smp->problems & BL_PROBLEM(BL_ERR_TOO_MANY))
		return "it has more members than the reader takes";
	if (smp->problems & (BL_PROBLEM(BL_ERR_DUP_KEY) | BL_PROBLEM(BL_ERR_NOT_REGULAR)))
		return "the reader dropped one of its members (a second member with "
		       "the same extension, or one that is not a regular file)";
	for (size_t m = 0; m < smp->nmembers; m++) {
		const bl_member *mb = &smp->members[m];
		if ((mb->size > 0 && !mb->data) || (int64_t)mb->len != mb->size) {
			snprintf(buf, len, "member '%s' (%" PRId64 " bytes) could not be read "
				 "whole", mb->name, mb->size);
			return buf;
		}
	}
	return NULL;
}

void bl_export_item_error(struct bl_export_ctx *x, int reason, const char *fmt, ...)
{
	va_list ap;
	char msg[2048];
	x->tot->skipped[reason]++;
	if (reason != BL_SKIP_ROUNDED_AWAY)
		x->tot->failed++;
	if (!x->opt->on_error)
		return;
	va_start(ap, fmt);
	bl_error_vset(msg, sizeof msg, fmt, ap);
	va_end(ap);
	x->opt->on_error(x->opt->arg, msg);
}

void bl_export_progress(struct bl_export_ctx *x, const char *phase)
{
	x->done++;
	if (x->opt->on_progress && (x->done % 256 == 0 || x->done == x->total))
		x->opt->on_progress(x->opt->arg, phase, x->done, x->total);
}

/*
 * The checks every copying export makes of a found entry: returns 1 when
 * the sample can be used, else reports the item error and returns 0.
 */
int bl_export_usable(struct bl_export_ctx *x, const bl_entry *e, const bl_sample *smp, const char *why)
{
	char buf[1024];
	const char *inc;

	if (!smp) {
		bl_export_item_error(x, BL_SKIP_MISSING, "%s (entry key '%s'; not written)", why, e->key);
		return 0;
	}
	if (!key_safe(e->key)) {
		bl_export_item_error(x, BL_SKIP_UNSAFE_KEY, "shard '%s' at offset %" PRId64 ": key '%s' "
				     "would write outside the output; not written", e->shard, smp->offset,
				     e->key);
		return 0;
	}
	if (strcmp(e->key, smp->key)) {
		bl_export_item_error(x, BL_SKIP_KEY_CHANGED, "shard '%s' sample %" PRIu64 " at offset %" PRId64
				     ": key is '%s', the manifest says '%s' (shard changed?); not written",
				     e->shard, e->ordinal, smp->offset, smp->key, e->key);
		return 0;
	}
	if ((inc = incomplete(smp, buf, sizeof buf))) {
		bl_export_item_error(x, BL_SKIP_INCOMPLETE, "shard '%s' key '%s' at offset %" PRId64
				     ": %s; not written (no sample is copied in part)", e->shard, e->key,
				     smp->offset, inc);
		return 0;
	}
	return 1;
}

/* Reader limits for copying: members whole, up to COPY_MAX_MEMBER. */
void bl_export_copy_limits(const bl_export_options *opt, bl_limits *lim)
{
	*lim = opt->limits;
	if (lim->max_member <= 0)
		lim->max_member = COPY_MAX_MEMBER;
	if (lim->max_caption <= 0 || lim->max_caption < lim->max_member)
		lim->max_caption = lim->max_member;
	if (!lim->max_members)
		lim->max_members = COPY_MAX_MEMBERS;
}

/* The seed: the option when given, else the manifest's, else 0. */
uint64_t bl_export_seed(const bl_sampler *s, const bl_export_options *opt)
{
	const char *m;
	if (opt->seed_set)
		return opt->seed;
	m = bl_sampler_meta(s, "seed");
	return m ? strtoull(m, NULL, 10) : 0;
}

/* A JSON string (escaped by cJSON, a byte that is not UTF-8 as \udcXX) appended to b. */
static int add_json_str(bl_buf *b, const char *s)
{
	cJSON *j = cJSON_CreateString(s);
	char *t = j ? cJSON_PrintUnformatted(j) : NULL;
	int rc = t ? bl_utf8_json_escape(b, t, strlen(t), BL_JSON_TEXT) : BL_ENOMEM;
	free(t);
	cJSON_Delete(j);
	return rc;
}

/* A number that reads back as a float in every JSON reader ("1.0", not
 * "1", so a column of weights has one type). */
static int add_json_float(bl_buf *b, double v)
{
	char num[64];
	snprintf(num, sizeof num, "%.10g", v);
	if (!strpbrk(num, ".eEn"))
		strcat(num, ".0");
	return bl_buf_adds(b, num);
}

/* OUTDIR/ballast.json: what was written and skipped, by reason. */
int bl_export_record(const bl_file_dir *d, const char *command, const char *to,
			const bl_sampler *s, uint64_t seed, const bl_export_totals *t,
			char *err, size_t errlen)
{
	bl_buf b, p;
	int rc;

	bl_buf_init(&b, 0);
	bl_buf_init(&p, 0);
	bl_buf_addf(&b, "{\"format\": \"ballast-output\", \"version\": 1, \"tool\": "
		    "\"ballast " BALLAST_VERSION "\",\n \"command\": \"%s\", \"to\": \"%s\", "
		    "\"manifest_sha256\": \"%s\", \"seed\": \"%" PRIu64 "\",\n \"entries\": %"
		    PRIu64 ", \"samples\": %" PRIu64 ", \"copies\": %" PRIu64 ", \"files\": %"
		    PRIu64 ", \"failed\": %" PRIu64 ", \"renamed\": %" PRIu64 ",\n"
		    " \"captions_repaired\": %" PRIu64 ", \"captions_joined\": %" PRIu64 ",\n"
		    " \"skipped\": {", command, to, bl_sampler_digest(s), seed, t->entries,
		    t->samples, t->copies, t->files, t->failed, t->renamed, t->repaired, t->joined);
	for (int k = 0; k < BL_SKIP__COUNT; k++)
		bl_buf_addf(&b, "%s\"%s\": %" PRIu64, k ? ", " : "", skip_names[k], t->skipped[k]);
	bl_buf_adds(&b, "}}\n");
	bl_buf_addf(&p, "%s/" BL_EXPORT_MARKER, d->tmp);
	rc = bl_file_write_new(p.buf, b.buf, b.len, err, errlen);
	bl_buf_release(&b);
	bl_buf_release(&p);
	return rc;
}

/* ---- exports to trainers' layouts ---------------------------------------- */

struct xctx {
	struct bl_export_ctx x;
	int kind;
	int repeats;
	uint64_t seed;
	double scale;         /* kohya: repeats = round(scale * weight) */
	const bl_file_dir *d;
	struct bl_nameset stems; /* case-folded: unique on any file system */
	bl_buf path, stem, cap, meta;
	struct {
		uint64_t n, files;
	} *rep;               /* kohya: repeat counts seen */
	size_t nrep, arep;
};

/*
 * The file stem of a key: '/' becomes '_', a leading '.' (a hidden file,
 * which kohya's glob skips) becomes '_', a stem over STEM_MAX bytes is
 * cut at a character boundary and ends in '~' and a hash of the key; then
 * made unique (ignoring case) with _dN.
 */
static int stem_of(struct xctx *c, const char *key, bl_buf *out)
{
	bl_buf raw;
	int renamed = 0, rc;

	bl_buf_init(&raw, 0);
	for (const char *p = key; *p;) {
		size_t len = strlen(p), bad;
		if (bl_utf8_valid(p, len, &bad))
			bad = len;
		for (size_t i = 0; i < bad; i++)
			bl_buf_addch(&raw, p[i] == '/' ? '_' : p[i]);
		p += bad;
		if (*p) { /* a byte that is not UTF-8: file names stay UTF-8 */
			bl_buf_addch(&raw, '_');
			p++;
		}
	}
	if (raw.buf[0] == '.')
		raw.buf[0] = '_';
	if (raw.len > STEM_MAX) {
		size_t cut = STEM_MAX - 18;
		while (cut > 0 && ((unsigned char)raw.buf[cut] & 0xc0) == 0x80)
			cut--;
		raw.len = cut;
		raw.buf[cut] = '\0';
		bl_buf_addf(&raw, "~%016" PRIx64, bl_hash_bytes(key, strlen(key)));
	}
	rc = bl_export_unique_name(&c->stems, NULL, raw.buf, out, &renamed);
	if (renamed)
		c->x.tot->renamed++;
	bl_buf_release(&raw);
	return rc;
}

/*
 * The caption as a trainer reads it: trailing white space trimmed; bytes
 * that are not UTF-8 replaced by U+FFFD (counted); for kohya, which reads
 * only a caption file's first line, line breaks joined into spaces
 * (counted).
 */
static void caption_of(struct xctx *c, const bl_sample *smp, bl_buf *out)
{
	const char *s = smp->caption && smp->caption->data ? (const char *)smp->caption->data : "";
	size_t len = smp->caption && smp->caption->data ? smp->caption->len : 0, bad, i = 0;
	int joined = 0;

	bl_buf_reset(out);
	if (!bl_utf8_valid(s, len, &bad)) {
		c->x.tot->repaired++;
		while (i < len) {
			if (bl_utf8_valid(s + i, len - i, &bad)) {
				bl_buf_add(out, s + i, len - i);
				break;
			}
			bl_buf_add(out, s + i, bad);
			bl_buf_adds(out, "\xef\xbf\xbd");
			i += bad + 1;
			/* skip the rest of a broken sequence */
			while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
				i++;
		}
	} else {
		bl_buf_add(out, s, len);
	}
	if (c->kind == BL_EXPORT_KOHYA) {
		size_t w = 0;
		/* leading white space too: a caption file starting with a blank
		 * line reads as empty */
		for (size_t r = 0; r < out->len; r++) {
			char ch = out->buf[r];
			if (ch == '\r' || ch == '\n') {
				if (w && r + 1 < out->len)
					joined = 1;
				ch = ' ';
			}
			if (ch == ' ' && (!w || out->buf[w - 1] == ' '))
				continue;
			out->buf[w++] = ch;
		}
		out->len = w;
		out->buf[w] = '\0';
		if (joined)
			c->x.tot->joined++;
	}
	while (out->len && strchr(" \t\r\n", out->buf[out->len - 1]))
		out->buf[--out->len] = '\0';
}

static int kohya_dir(struct xctx *c, uint64_t n, size_t *slot)
{
	size_t k;
	for (k = 0; k < c->nrep && c->rep[k].n != n; k++)
		;
	if (k == c->nrep) {
		if (BL_ALLOC_GROW(c->rep, c->nrep + 1, c->arep) != BL_OK)
			return BL_ENOMEM;
		c->rep[c->nrep].n = n;
		c->rep[c->nrep++].files = 0;
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s/r%" PRIu64, c->d->tmp, n);
		if (mkdir(c->path.buf, 0777) != 0) {
			bl_error_set(c->x.err, c->x.errlen, "cannot create '%s': %s", c->path.buf,
					 strerror(errno));
			return BL_FATAL;
		}
	}
	*slot = k;
	return BL_OK;
}

static int extract_one(void *ctx, size_t idx, const bl_entry *e, const bl_sample *smp,
		       const char *why)
{
	struct xctx *c = ctx;
	uint64_t n = 1;
	size_t k = 0;
	int rc;

	(void)idx;
	bl_export_progress(&c->x, "extracting");
	if (!bl_export_usable(&c->x, e, smp, why))
		return BL_FAILED;
	if (!smp->image) {
		bl_export_item_error(&c->x, BL_SKIP_NO_IMAGE, "shard '%s' key '%s' at offset %" PRId64
				     ": no image member (jpg, jpeg, png, webp); not written", e->shard,
				     e->key, smp->offset);
		return BL_FAILED;
	}
	caption_of(c, smp, &c->cap);
	if (c->kind == BL_EXPORT_KOHYA) {
		bl_rng rng;
		double x = e->weight * c->scale, f = floor(x);
		if (!c->cap.len) {
			bl_export_item_error(&c->x, BL_SKIP_NO_CAPTION, "shard '%s' key '%s' at offset %"
					     PRId64 ": no caption (kohya stops at an empty caption file); not "
					     "written", e->shard, e->key, smp->offset);
			return BL_FAILED;
		}
		/* seeded stochastic rounding, one stream a sample as the
		 * rebalancer draws: (seed, shard << 40 ^ ordinal) */
		bl_rng_seed2(&rng, c->seed, BL_RNG_STREAM_SAMPLE(e->shard_index, e->ordinal));
		n = (uint64_t)f + (x > f && bl_rng_double(&rng) < x - f);
		if (n == 0) {
			bl_export_item_error(&c->x, BL_SKIP_ROUNDED_AWAY, "shard '%s' key '%s': weight %.4g "
					     "rounded to 0 repeats; not in the dataset", e->shard, e->key,
					     e->weight);
			return BL_OK;
		}
		if (x > BL_EXPORT_MAX_COPIES) {
			bl_export_item_error(&c->x, BL_SKIP_TOO_HEAVY, "shard '%s' key '%s': weight %g "
					     "asks for more than %d repeats; not written", e->shard,
					     e->key, e->weight, BL_EXPORT_MAX_COPIES);
			return BL_FAILED;
		}
		if ((rc = kohya_dir(c, n, &k)) != BL_OK) {
			if (rc == BL_ENOMEM)
				bl_error_set(c->x.err, c->x.errlen, "out of memory");
			return rc;
		}
	}
	if (stem_of(c, e->key, &c->stem) != BL_OK) {
		bl_error_set(c->x.err, c->x.errlen, "out of memory");
		return BL_ENOMEM;
	}
	if (c->kind == BL_EXPORT_KOHYA) {
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s/r%" PRIu64 "/%s.txt", c->d->tmp, n, c->stem.buf);
		if (bl_file_write_new(c->path.buf, c->cap.buf, c->cap.len, c->x.err,
				      c->x.errlen) != BL_OK)
			return BL_FATAL;
		c->rep[k].files++;
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s/r%" PRIu64 "/%s.%s", c->d->tmp, n, c->stem.buf,
			    smp->image->ext);
		c->x.tot->files++;
		c->x.tot->samples += n;
		c->x.tot->copies += n - 1;
	} else {
		/* one metadata line a file; every column of one type */
		bl_buf_adds(&c->meta, "{\"file_name\":");
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s.%s", c->stem.buf, smp->image->ext);
		add_json_str(&c->meta, c->path.buf);
		bl_buf_adds(&c->meta, ",\"text\":");
		add_json_str(&c->meta, c->cap.buf);
		bl_buf_adds(&c->meta, ",\"weight\":");
		add_json_float(&c->meta, e->weight);
		bl_buf_adds(&c->meta, ",\"key\":");
		add_json_str(&c->meta, bl_utf8_valid(e->key, strlen(e->key), NULL) ? e->key : "");
		if (bl_buf_adds(&c->meta, "}\n") != BL_OK) {
			bl_error_set(c->x.err, c->x.errlen, "out of memory");
			return BL_ENOMEM;
		}
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s/%s.%s", c->d->tmp, c->stem.buf, smp->image->ext);
		c->x.tot->samples++;
		if (e->weight != floor(e->weight))
			c->x.tot->weighted++;
	}
	if (bl_file_write_new(c->path.buf, smp->image->data, smp->image->len, c->x.err,
			      c->x.errlen) != BL_OK)
		return BL_FATAL;
	c->x.tot->files++;
	return BL_OK;
}

/* A TOML basic string; BL_FAILED when s is not UTF-8 (TOML must be). */
static int toml_str(bl_buf *b, const char *s)
{
	if (!bl_utf8_valid(s, strlen(s), NULL))
		return BL_FAILED;
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
	return bl_buf_addch(b, '"');
}

static int cmp_rep(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int kohya_toml(struct xctx *c, const bl_export_options *opt)
{
	bl_buf t;
	int rc = BL_FAILED;

	bl_buf_init(&t, 0);
	if (c->nrep) /* nothing exported: c->rep is NULL, which qsort may not take */
		qsort(c->rep, c->nrep, sizeof *c->rep, cmp_rep);
	bl_buf_addf(&t,
		    "# kohya-ss sd-scripts dataset config, written by ballast export\n"
		    "# train_network.py --dataset_config THIS_FILE ...\n"
		    "# One subset per repeat count: the images of rN/ are seen N times an\n"
		    "# epoch, which realises the manifest's weights (x %.6g, rounded at\n"
		    "# random with seed %" PRIu64 "; see ballast.json for what was skipped).\n\n"
		    "[general]\n"
		    "caption_extension = \".txt\"\n"
		    "shuffle_caption = false\n"
		    "keep_tokens = 0\n\n"
		    "[[datasets]]\n"
		    "resolution = %d\n"
		    "batch_size = 1\n",
		    c->scale, c->seed, opt->resolution > 0 ? opt->resolution : 512);
	for (size_t k = 0; k < c->nrep; k++) {
		bl_buf_addf(&t, "\n  [[datasets.subsets]]\n  image_dir = ");
		bl_buf_reset(&c->path);
		bl_buf_addf(&c->path, "%s/r%" PRIu64, c->d->abs, c->rep[k].n);
		if (toml_str(&t, c->path.buf) != BL_OK) {
			bl_error_set(c->x.err, c->x.errlen, "'%s' is not UTF-8: a TOML file cannot name "
					 "it; choose another output path", c->d->abs);
			goto out;
		}
		bl_buf_addf(&t, "\n  num_repeats = %" PRIu64 "\n  caption_extension = \".txt\"\n"
			    "  # %" PRIu64 " images\n", c->rep[k].n, c->rep[k].files);
	}
	bl_buf_reset(&c->path);
	bl_buf_addf(&c->path, "%s/dataset.toml", c->d->tmp);
	if (bl_file_write_new(c->path.buf, t.buf, t.len, c->x.err, c->x.errlen) != BL_OK)
		goto out;
	rc = BL_OK;
out:
	bl_buf_release(&t);
	return rc;
}

/* A path quoted for the shell (webdataset runs pipe: URLs with sh). */
static int add_sh_quoted(bl_buf *b, const char *s)
{
	bl_buf_addch(b, '\'');
	for (; *s; s++)
		if (*s == '\'')
			bl_buf_adds(b, "'\\''");
		else
			bl_buf_addch(b, *s);
	return bl_buf_addch(b, '\'');
}

/*
 * What a webdataset reader makes of one shard, read through once (no
 * member bytes loaded): *url is the URL to give it, and the return says
 * whether its samples can be weighted by (url, key).
 *   Python's tarfile (webdataset's reader) decodes gzip, bzip2 and xz
 *   itself, not zstd: a zstd shard's URL is a pipe through `zstd -dc`
 *   (webdataset's pipe: URLs), lz4 and lzip alike; another compression
 *   only libarchive knows leaves the shard out (BL_SKIP_MISSING).
 *   A member the reader rejected as a duplicate (a key seen before in the
 *   shard, a second member of one extension or caption) is never tagged,
 *   but a reader of the shard sees it, under a key whose (url, key)
 *   weight belongs to another sample: the shard is left out
 *   (BL_SKIP_DUP_KEY), with the first such member named.
 * Returns BL_OK, BL_FAILED (*reason and why say why the shard is left
 * out), BL_ENOMEM.
 */
static int wds_shard(bl_reader *r, const char *path, const char *abs, bl_buf *url,
		     int *reason, bl_buf *why)
{
	static const struct {
		const char *name, *cmd;
	} pipes[] = {{"zstd", "zstd -dc -- "}, {"lz4", "lz4 -dc -- "}, {"lzip", "lzip -dc -- "}};
	const char *comp, *msg;
	const bl_sample *smp;
	uint64_t dups = 0;
	int rr;

	bl_buf_reset(url);
	bl_buf_reset(why);
	if (bl_reader_open(r, path) != BL_OK) /* the check of shards says why */
		return bl_buf_adds(url, abs) == BL_OK ? BL_OK : BL_ENOMEM;
	comp = bl_reader_compression(r);
	if (!strcmp(comp, "none") || !strcmp(comp, "gzip") || !strcmp(comp, "bzip2") ||
	    !strcmp(comp, "xz")) {
		rr = bl_buf_adds(url, abs);
	} else {
		size_t k;
		for (k = 0; k < sizeof pipes / sizeof pipes[0] && strcmp(comp, pipes[k].name); k++)
			;
		if (k == sizeof pipes / sizeof pipes[0]) {
			*reason = BL_SKIP_MISSING;
			bl_buf_addf(why, "shard '%s' is compressed with %s, which webdataset's "
				    "reader (Python's tarfile) cannot read and ballast knows no "
				    "command for: decompress it, or `ballast write` new shards",
				    path, comp);
			bl_reader_close(r);
			return BL_FAILED;
		}
		bl_buf_addf(url, "pipe:%s", pipes[k].cmd);
		rr = add_sh_quoted(url, abs);
	}
	if (rr != BL_OK) {
		bl_reader_close(r);
		return BL_ENOMEM;
	}
	while ((rr = bl_reader_next(r, &smp)) != BL_END && rr != BL_FATAL) {
		const char *first = NULL;
		if (rr == BL_FAILED && bl_reader_errkind(r) == BL_ERR_DUP_KEY)
			first = bl_reader_errmsg(r);
		else if (rr == BL_WARN && (smp->problems & BL_PROBLEM(BL_ERR_DUP_KEY)))
			for (size_t i = 0; i < bl_reader_nproblems(r) && !first; i++) {
				bl_errkind kind;
				if (bl_reader_problem(r, i, &kind, NULL, &msg) == BL_OK &&
				    kind == BL_ERR_DUP_KEY)
					first = msg;
			}
		else if (rr < 0 && rr != BL_WARN && rr != BL_FAILED)
			break;
		if (first && !dups++)
			bl_buf_adds(why, first);
	}
	bl_reader_close(r);
	if (dups) {
		*reason = BL_SKIP_DUP_KEY;
		bl_buf_addf(why, "%s; the shard holds %" PRIu64 " member%s or sample%s rejected "
			    "as duplicates, which a webdataset reader would read and weight "
			    "by the (url, key) of another sample: the shard is left out "
			    "(`ballast write` makes shards without them)",
			    dups > 1 ? " and more" : "", dups, dups > 1 ? "s" : "",
			    dups > 1 ? "s" : "");
		return BL_FAILED;
	}
	return BL_OK;
}

/* webdataset: shards.txt (absolute paths, or pipe: URLs), weights.jsonl
 * and shards.json, nothing copied; shards a reader of them would weight
 * wrongly (see wds_shard) left out, their entries item errors. */
static int export_webdataset(struct bl_export_ctx *x, const bl_file_dir *d)
{
	const bl_sampler *s = x->s;
	bl_export_totals *tot = x->tot;
	char *err = x->err;
	size_t errlen = x->errlen;
	size_t ns = bl_sampler_nshards(s), n = bl_sampler_nentries(s);
	char **url = calloc(ns ? ns : 1, sizeof *url);
	double *w = calloc(ns ? ns : 1, sizeof *w), W = 0;
	uint64_t *cnt = calloc(ns ? ns : 1, sizeof *cnt);
	int *out = calloc(ns ? ns : 1, sizeof *out); /* reason + 1 a shard is left out */
	char **note = calloc(ns ? ns : 1, sizeof *note); /* and why */
	bl_reader *r = bl_reader_new();
	bl_buf txt, wl, js, path, u, why;
	int rc = BL_ENOMEM, first;

	bl_buf_init(&txt, 0);
	bl_buf_init(&wl, 0);
	bl_buf_init(&js, 0);
	bl_buf_init(&path, 0);
	bl_buf_init(&u, 0);
	bl_buf_init(&why, 0);
	if (!url || !w || !cnt || !out || !note || !r)
		goto out;
	bl_reader_set_load(r, 0);
	for (size_t i = 0; i < ns; i++) {
		char abs[PATH_MAX];
		const char *p = bl_sampler_shard(s, i);
		int reason = 0, sr = wds_shard(r, p, realpath(p, abs) ? abs : p, &u, &reason, &why);
		if (sr == BL_ENOMEM)
			goto out;
		if (sr != BL_OK) {
			out[i] = reason + 1;
			if (!(note[i] = strdup(why.buf)))
				goto out;
			continue;
		}
		if (!(url[i] = strdup(u.buf)))
			goto out;
		bl_buf_addf(&txt, "%s\n", url[i]);
	}
	for (size_t i = 0; i < n; i++) {
		const bl_entry *e = bl_sampler_entry(s, i);
		if (out[e->shard_index]) {
			cnt[e->shard_index]++;
			continue;
		}
		w[e->shard_index] += e->weight;
		W += e->weight;
		cnt[e->shard_index]++;
		bl_buf_adds(&wl, "{\"url\":");
		add_json_str(&wl, url[e->shard_index]);
		bl_buf_adds(&wl, ",\"key\":");
		add_json_str(&wl, e->key);
		bl_buf_adds(&wl, ",\"weight\":");
		add_json_float(&wl, e->weight);
		if (bl_buf_adds(&wl, "}\n") != BL_OK)
			goto out;
		tot->samples++;
	}
	tot->entries = n;
	/* the shards left out: one message each, every entry of theirs counted */
	for (size_t i = 0; i < ns; i++) {
		if (!out[i] || !cnt[i])
			continue;
		bl_export_item_error(x, out[i] - 1, "%s; %" PRIu64 " entr%s not written",
				     note[i], cnt[i], cnt[i] == 1 ? "y" : "ies");
		tot->skipped[out[i] - 1] += cnt[i] - 1;
		tot->failed += cnt[i] - 1;
	}
	/* per shard, for information: mixing shards by these weights does
	 * not weight the samples inside them (weights.jsonl does) */
	bl_buf_addf(&js, "{\"format\": \"ballast-webdataset\", \"version\": 2, "
		    "\"manifest_sha256\": \"%s\", \"total_weight\": %.9g, \"shards\": [",
		    bl_sampler_digest(s), W);
	first = 1;
	for (size_t i = 0; i < ns; i++) {
		if (out[i])
			continue;
		bl_buf_addf(&js, "%s\n  {\"url\": ", first ? "" : ",");
		first = 0;
		add_json_str(&js, url[i]);
		bl_buf_addf(&js, ", \"samples\": %" PRIu64 ", \"weight\": %.9g, \"share\": %.9g}",
			    cnt[i], w[i], W > 0 ? w[i] / W : 0);
	}
	if (bl_buf_adds(&js, "\n]}\n") != BL_OK)
		goto out;
	rc = BL_FAILED;
	const char *names[3] = {"shards.txt", "weights.jsonl", "shards.json"};
	bl_buf *bufs[3] = {&txt, &wl, &js};
	for (int k = 0; k < 3; k++) {
		bl_buf_reset(&path);
		bl_buf_addf(&path, "%s/%s", d->tmp, names[k]);
		if (bl_file_write_new(path.buf, bufs[k]->buf, bufs[k]->len, err, errlen) != BL_OK)
			goto out;
		tot->files++;
	}
	rc = BL_OK;
out:
	if (rc == BL_ENOMEM)
		bl_error_set(err, errlen, "out of memory");
	for (size_t i = 0; i < ns; i++) {
		if (url)
			free(url[i]);
		if (note)
			free(note[i]);
	}
	free(url);
	free(note);
	free(w);
	free(cnt);
	free(out);
	bl_reader_free(r);
	bl_buf_release(&txt);
	bl_buf_release(&wl);
	bl_buf_release(&js);
	bl_buf_release(&path);
	bl_buf_release(&u);
	bl_buf_release(&why);
	return rc;
}

int bl_export_to(const bl_sampler *s, int kind, const char *outdir,
		 const bl_export_options *opt, bl_export_totals *totals,
		 char *err, size_t errlen)
{
	static const char *const kinds[] = {"", "webdataset", "kohya", "hf"};
	bl_export_options dflt;
	bl_export_totals tot;
	bl_file_dir d = {0};
	bl_limits lim;
	struct xctx c;
	int rc = BL_EUSAGE;

	memset(&c, 0, sizeof c);
	memset(&tot, 0, sizeof tot);
	bl_buf_init(&c.path, 0);
	bl_buf_init(&c.stem, 0);
	bl_buf_init(&c.cap, 0);
	bl_buf_init(&c.meta, 0);
	if (!opt) {
		memset(&dflt, 0, sizeof dflt);
		opt = &dflt;
	}
	if (!s || kind < BL_EXPORT_WEBDATASET || kind > BL_EXPORT_HF)
		goto out;
	c.x = (struct bl_export_ctx){s, opt, &tot, err, errlen, 0, bl_sampler_nentries(s)};
	c.kind = kind;
	c.repeats = bl_sampler_repeats(s);
	c.seed = bl_export_seed(s, opt);
	c.scale = opt->repeat_scale > 0 ? opt->repeat_scale : 1;
	if (opt->repeat_scale < 0) {
		/* every sample at least once: the smallest weight becomes 1 */
		double lo = INFINITY;
		for (size_t i = 0; i < bl_sampler_nentries(s); i++)
			if (bl_sampler_entry(s, i)->weight < lo)
				lo = bl_sampler_entry(s, i)->weight;
		/* a hair above, so that lo x scale is not 0.999... */
		c.scale = lo > 0 && lo < 1 ? (1 / lo) * (1 + 1e-12) : 1;
	}
	c.stems.fold = 1;
	c.d = &d;
	rc = bl_file_dir_begin(&d, outdir, opt->force, BL_EXPORT_MARKER, err, errlen);
	if (rc != BL_OK)
		goto out;
	if (kind == BL_EXPORT_WEBDATASET) {
		rc = export_webdataset(&c.x, &d);
	} else {
		bl_export_copy_limits(opt, &lim);
		rc = bl_export_walk(s, BL_LOAD_ALL, &lim, extract_one, &c, err, errlen);
		tot.entries = bl_sampler_nentries(s);
		if (rc == BL_OK && kind == BL_EXPORT_KOHYA) {
			rc = kohya_toml(&c, opt);
		} else if (rc == BL_OK) {
			bl_buf_reset(&c.path);
			bl_buf_addf(&c.path, "%s/metadata.jsonl", d.tmp);
			rc = bl_file_write_new(c.path.buf, c.meta.buf, c.meta.len, err, errlen);
		}
		if (rc == BL_OK)
			tot.files++;
	}
	if (rc == BL_OK)
		rc = bl_export_record(&d, "export", kinds[kind], s, c.seed, &tot, err, errlen);
	if (rc == BL_OK)
		rc = bl_file_dir_commit(&d, opt->force, err, errlen);
out:
	bl_file_dir_release(&d);
	bl_export_nameset_free(&c.stems);
	free(c.rep);
	bl_buf_release(&c.path);
	bl_buf_release(&c.stem);
	bl_buf_release(&c.cap);
	bl_buf_release(&c.meta);
	if (totals)
		*totals = tot;
	return rc != BL_OK && rc != BL_EUSAGE && rc != BL_ENOMEM ? BL_FAILED : rc;
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
