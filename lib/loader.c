/*
 * loader.c - reads samples for training: straight from the original
 * shards, decoded, resized and centre-cropped, on a pool of workers, and
 * handed back in the order they were asked for.
 *
 * Reading.  Tar is read in one place, the shard reader (lib/shard.c):
 * each worker keeps a bl_reader open on the shard of its last sample and
 * asks it for the sample at the recorded offset (bl_reader_seek, then
 * bl_reader_next), so the loader gets the reader's key rules, extension
 * classes, limits, problems and messages.  A plain tar is entered at the
 * offset and read with read() (bl_reader_set_mapping 0): samples drawn
 * at random hop between shards, and mapping and unmapping a shard per
 * sample cost more in page tables than the copy (a 3x slower train on 4
 * shards in a VM); a shard cut meanwhile then reads short, an item
 * failure like any truncation.  A compressed shard is read on from where
 * the worker's reader stands, or again from the start when the sample
 * lies behind it.  The sample found there must carry the key asked for, an
 * image and, when it has a caption, the caption's bytes (a member over a
 * limit is not loaded: the sample fails, saying which limit).
 *
 * Pixels.  A JPEG is decoded with bl_image_decode_rgb at the smallest
 * DCT scale (n/8) whose shorter side is still >= size; a PNG with
 * libpng's simplified API (any bit depth, palette or grey, to 8-bit RGB,
 * alpha composited on white: a transparent background must not turn
 * black), at full size, after the probe has checked the pixel limit.
 * The central square of the result is then resampled to size x size,
 * separably: area averaging (a box filter with fractional coverage, the
 * exact mean of the source pixels under each output pixel) when
 * shrinking, bilinear when enlarging.  The square is taken before
 * resampling, so cropped pixels are never resampled; rows are combined
 * first, then columns.  Other formats (WebP, GIF) are item failures that
 * name the format.  In raw mode nothing is decoded: the image member's
 * bytes are handed back as they are stored.
 *
 * Order and threads.  Samples sit in a ring of `depth` slots.  Workers
 * take queued slots in ring order and fill them, each with its own shard
 * reader and TurboJPEG handle (nothing is shared but the ring, under
 * one mutex); bl_loader_pop returns the oldest slot once it is done, so
 * the output order is the push order whatever the thread count and
 * timing.  A failure is recorded in its slot and never stops the pool.
 */
#include "shard_int.h"
#include "error_int.h"
#include "alloc_int.h"
#include "ballast.h"

#include <math.h>
#include <png.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEF_SIZE 512
#define DEF_DEPTH 64
#define MAX_SIZE 8192

enum { SLOT_FREE = 0, SLOT_QUEUED, SLOT_TAKEN, SLOT_DONE };

struct slot {
	int state;
	const char *shard, *key;
	int64_t offset;
	size_t tag;
	/* results */
	int status;
	bl_errkind kind;
	bl_buf errmsg, caption;
	bl_buf raw;         /* raw mode: the image bytes */
	char ext[16];       /* the image member's extension */
	unsigned char *rgb;
	int sw, sh, dw, dh;
};

/* What one worker owns. */
struct worker {
	bl_loader *ld;
	bl_image *im;
	bl_reader *r;       /* the shard reader */
	bl_buf path;        /* the shard r has open, "" when none */
	unsigned char *png;  /* decoded PNG pixels */
	size_t png_len;
	float *tmp;         /* resampling scratch */
	size_t tmp_len;
	pthread_t th;
	int started;
};

struct bl_loader {
	int size, nthreads, raw;
	bl_limits lim;
	bl_image_limits ilim;
	struct slot *ring;
	size_t depth, head, tail, count, take;
	int held; /* the slot at head-1 was popped and is still borrowed */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	int stop;
	struct worker *w;
	bl_loaded out;
};

/* ---- resampling ----------------------------------------------------- */

struct taps {
	int *start, *n;
	float *w;
	int maxn;
};

static void taps_free(struct taps *t)
{
	free(t->start);
	free(t->n);
	free(t->w);
}

/*
 * Taps mapping the source interval [x0, x0+len) of a line of srcn pixels
 * onto dstn pixels: area averaging when shrinking, bilinear when
 * enlarging.  Indices are clamped to the line.
 */
static int taps_make(struct taps *t, double x0, double len, int srcn, int dstn)
{
	double f = len / dstn;
	int rc = BL_ENOMEM;

	t->maxn = f >= 1 ? (int)ceil(f) + 2 : 2;
	t->start = malloc((size_t)dstn * sizeof *t->start);
	t->n = malloc((size_t)dstn * sizeof *t->n);
	t->w = malloc((size_t)dstn * (size_t)t->maxn * sizeof *t->w);
	if (!t->start || !t->n || !t->w)
		goto out;
	for (int j = 0; j < dstn; j++) {
		float *w = t->w + (size_t)j * (size_t)t->maxn;
		int k0, cnt = 0;
		if (f >= 1) {
			double a = x0 + j * f, b = a + f, sum = 0;
			k0 = (int)floor(a);
			for (int k = k0; k < b && cnt < t->maxn; k++) {
				double lo = a > k ? a : k, hi = b < k + 1 ? b : k + 1;
				w[cnt++] = (float)(hi > lo ? hi - lo : 0);
				sum += hi > lo ? hi - lo : 0;
			}
			for (int i = 0; i < cnt; i++)
				w[i] = (float)(w[i] / sum);
		} else {
			double c = x0 + (j + 0.5) * f - 0.5, fr;
			k0 = (int)floor(c);
			fr = c - k0;
			w[0] = (float)(1 - fr);
			w[1] = (float)fr;
			cnt = 2;
		}
		/* clamp: fold taps outside the line onto its ends */
		if (k0 < 0 || k0 + cnt > srcn) {
			float fold[64] = {0};
			int lo = k0 < 0 ? 0 : k0;
			int hi = k0 + cnt > srcn ? srcn : k0 + cnt;
			if (hi <= lo || hi - lo > 64) {
				lo = k0 < 0 ? 0 : srcn - 1;
				hi = lo + 1;
			}
			for (int i = 0; i < cnt; i++) {
				int k = k0 + i;
				k = k < lo ? lo : (k >= hi ? hi - 1 : k);
				fold[k - lo] += w[i];
			}
			k0 = lo;
			cnt = hi - lo;
			for (int i = 0; i < cnt; i++)
				w[i] = fold[i];
		}
		t->start[j] = k0;
		t->n[j] = cnt;
	}
	rc = BL_OK;
out:
	return rc;
}

/* The weights are >= 0 and sum to 1, so v is in [0, 255] up to rounding:
 * only the top needs a (branchless) clamp. */
static inline unsigned char clamp_u8(float v)
{
	v += 0.5f;
	return (unsigned char)(v < 255.0f ? v : 255.0f);
}

/* acc = wt * row, acc += wt * row: unrolled by 8 so that GCC's SLP pass
 * vectorises them at -O2 (its loop vectoriser's -O2 cost model will not). */
static void rows_first(float *restrict acc, const unsigned char *restrict r,
		       float wt, size_t n)
{
	size_t x = 0;
	for (; x + 8 <= n; x += 8) {
		acc[x] = wt * r[x];
		acc[x + 1] = wt * r[x + 1];
		acc[x + 2] = wt * r[x + 2];
		acc[x + 3] = wt * r[x + 3];
		acc[x + 4] = wt * r[x + 4];
		acc[x + 5] = wt * r[x + 5];
		acc[x + 6] = wt * r[x + 6];
		acc[x + 7] = wt * r[x + 7];
	}
	for (; x < n; x++)
		acc[x] = wt * r[x];
}

static void rows_add(float *restrict acc, const unsigned char *restrict r,
		     float wt, size_t n)
{
	size_t x = 0;
	for (; x + 8 <= n; x += 8) {
		acc[x] += wt * r[x];
		acc[x + 1] += wt * r[x + 1];
		acc[x + 2] += wt * r[x + 2];
		acc[x + 3] += wt * r[x + 3];
		acc[x + 4] += wt * r[x + 4];
		acc[x + 5] += wt * r[x + 5];
		acc[x + 6] += wt * r[x + 6];
		acc[x + 7] += wt * r[x + 7];
	}
	for (; x < n; x++)
		acc[x] += wt * r[x];
}

/*
 * Resample with a caller-provided scratch row (grown as needed).  Rows
 * first: each output row is the weighted sum of a few source rows over
 * the needed columns (contiguous, so the compiler vectorises it), then
 * each output pixel of that row the weighted sum of a few of its columns.
 */
static int resize_crop(const unsigned char *src, int w, int h,
		       unsigned char *dst, int size, float **tmp, size_t *tmp_len)
{
	struct taps tx = {0}, ty = {0};
	int side = w < h ? w : h, c0, c1, rc = BL_EUSAGE;
	size_t cw;

	if (!src || !dst || w <= 0 || h <= 0 || size <= 0 || size > MAX_SIZE)
		goto out;
	rc = BL_ENOMEM;
	if (taps_make(&tx, (w - side) / 2.0, side, w, size) != BL_OK ||
	    taps_make(&ty, (h - side) / 2.0, side, h, size) != BL_OK)
		goto out;
	c0 = tx.start[0];
	c1 = tx.start[0] + tx.n[0];
	for (int k = 1; k < size; k++) {
		if (tx.start[k] < c0)
			c0 = tx.start[k];
		if (tx.start[k] + tx.n[k] > c1)
			c1 = tx.start[k] + tx.n[k];
	}
	cw = (size_t)(c1 - c0) * 3;
	if (BL_ALLOC_GROW(*tmp, cw, *tmp_len) != BL_OK)
		goto out;
	for (int j = 0; j < size; j++) {
		const float *wy = ty.w + (size_t)j * (size_t)ty.maxn;
		float *acc = *tmp;
		unsigned char *o = dst + (size_t)j * (size_t)size * 3;
		const unsigned char *r = src + ((size_t)ty.start[j] * (size_t)w + (size_t)c0) * 3;
		rows_first(acc, r, wy[0], cw);
		for (int i = 1; i < ty.n[j]; i++)
			rows_add(acc, r + (size_t)i * (size_t)w * 3, wy[i], cw);
		for (int k = 0; k < size; k++) {
			const float *wt = tx.w + (size_t)k * (size_t)tx.maxn;
			const float *p = acc + (size_t)(tx.start[k] - c0) * 3;
			float rr = 0, g = 0, b = 0;
			for (int i = 0; i < tx.n[k]; i++, p += 3) {
				rr += wt[i] * p[0];
				g += wt[i] * p[1];
				b += wt[i] * p[2];
			}
			o[3 * k] = clamp_u8(rr);
			o[3 * k + 1] = clamp_u8(g);
			o[3 * k + 2] = clamp_u8(b);
		}
	}
	rc = BL_OK;
out:
	taps_free(&tx);
	taps_free(&ty);
	return rc;
}

int bl_loader_resize_crop(const unsigned char *src, int w, int h,
			  unsigned char *dst, int size)
{
	float *tmp = NULL;
	size_t len = 0;
	int rc = resize_crop(src, w, h, dst, size, &tmp, &len);
	free(tmp);
	return rc;
}

/* ---- reading a sample ---------------------------------------------- */

static void slot_err(struct slot *s, bl_errkind kind, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));
static void slot_err(struct slot *s, bl_errkind kind, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];
	va_start(ap, fmt);
	bl_error_vset(msg, sizeof msg, fmt, ap);
	va_end(ap);
	bl_error_buf(&s->errmsg, BL_FAILED, "shard '%s' key '%s' at offset %lld: %s", s->shard,
		     s->key, (long long)s->offset, msg);
	s->status = BL_FAILED;
	s->kind = kind;
}

/* A failure the shard reader reported ("shard 'x' member 'y' at offset
 * N: why"), for this sample: the key goes in after the shard. */
static void slot_reader_err(struct slot *s, bl_errkind kind, const char *msg)
{
	size_t n = strlen(s->shard);

	bl_buf_reset(&s->errmsg);
	if (!strncmp(msg, "shard '", 7) && !strncmp(msg + 7, s->shard, n) && msg[7 + n] == '\'')
		bl_buf_addf(&s->errmsg, "%.*s key '%s'%s", (int)n + 8, msg, s->key, msg + n + 8);
	else
		bl_buf_addf(&s->errmsg, "%s (key '%s')", msg, s->key);
	s->status = BL_FAILED;
	s->kind = kind;
}

/* A member of the sample the reader did not load (over a limit, out of
 * memory): fail with the reader's word on it. */
static void slot_not_loaded(struct slot *s, const bl_reader *r, const bl_member *m)
{
	bl_errkind kind;
	int64_t off;
	const char *msg;

	for (size_t i = 0; i < bl_reader_nproblems(r); i++)
		if (bl_reader_problem(r, i, &kind, &off, &msg) == BL_OK && off == m->offset &&
		    kind != BL_ERR_DAMAGED) {
			slot_reader_err(s, kind, msg);
			return;
		}
	slot_err(s, BL_ERR_TOO_BIG, "member '%s' was not loaded", m->name);
}

/*
 * The sample at s->offset, through the worker's shard reader: it keeps
 * its shard open for the next sample (a compressed one is then read on
 * from where it stands).  BL_OK with *out (borrowed until the reader's
 * next call), or BL_FAILED with the reason in s.
 */
static int read_sample(struct worker *w, struct slot *s, const bl_sample **out)
{
	bl_reader *r = w->r;
	const bl_sample *smp = NULL;
	int rc;

	if (strcmp(w->path.buf, s->shard) != 0) {
		struct stat st;
		bl_buf_reset(&w->path);
		bl_reader_close(r);
		/* a FIFO or standard input would block, and cannot be entered
		 * at an offset */
		if (!strcmp(s->shard, "-") || (stat(s->shard, &st) == 0 && !S_ISREG(st.st_mode))) {
			slot_err(s, BL_ERR_OPEN, "not a regular file (standard input, a FIFO, a "
				 "device or a directory is not read at an offset)");
			return BL_FAILED;
		}
		if (bl_reader_open(r, s->shard) != BL_OK) {
			slot_reader_err(s, bl_reader_errkind(r), bl_reader_errmsg(r));
			bl_reader_close(r);
			return BL_FAILED;
		}
		if (bl_buf_adds(&w->path, s->shard) != BL_OK) {
			bl_reader_close(r);
			bl_buf_reset(&w->path);
			slot_err(s, BL_ERR_NOMEM, "out of memory");
			return BL_FAILED;
		}
	}
	if (s->offset < 0) {
		slot_err(s, BL_ERR_TRUNCATED, "no sample at a negative offset");
		return BL_FAILED;
	}
	rc = bl_reader_seek(r, s->offset);
	if (rc == BL_OK)
		rc = bl_reader_next(r, &smp);
	if (rc == BL_END) {
		slot_err(s, BL_ERR_TRUNCATED, "no sample there (the shard ends)");
		return BL_FAILED;
	}
	if (rc != BL_OK && rc != BL_WARN) {
		slot_reader_err(s, bl_reader_errkind(r), bl_reader_errmsg(r));
		if (rc == BL_FATAL) {
			/* damaged or cut: look at the file afresh next time */
			bl_reader_close(r);
			bl_buf_reset(&w->path);
		}
		return BL_FAILED;
	}
	if (strcmp(smp->key, s->key) != 0 || smp->offset != s->offset) {
		slot_err(s, BL_ERR_BAD_PATH, "the sample there is '%s', not this key "
			 "(shard changed since the manifest was written?)", smp->key);
		return BL_FAILED;
	}
	if (!smp->image) {
		slot_err(s, BL_ERR_IMAGE, "sample has no image member");
		return BL_FAILED;
	}
	if (!smp->image->data) {
		slot_not_loaded(s, r, smp->image);
		return BL_FAILED;
	}
	if (smp->caption && !smp->caption->data) {
		slot_not_loaded(s, r, smp->caption);
		return BL_FAILED;
	}
	snprintf(s->ext, sizeof s->ext, "%s", smp->image->ext);
	*out = smp;
	return BL_OK;
}

/* ---- one sample, start to finish ------------------------------------ */

/* A PNG to 8-bit RGB in w->png (alpha composited on white).  The probe
 * has checked the pixel limit.  BL_OK, or BL_FAILED with the reason in s. */
static int decode_png(struct worker *w, struct slot *s, const bl_member *m,
		      const bl_image_info *info)
{
	static const png_color white = {255, 255, 255};
	png_image img;
	size_t need;

	memset(&img, 0, sizeof img);
	img.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&img, m->data, m->len)) {
		slot_err(s, BL_ERR_IMAGE, "png: %s", img.message);
		return BL_FAILED;
	}
	img.format = PNG_FORMAT_RGB;
	if (img.width != (png_uint_32)info->width || img.height != (png_uint_32)info->height) {
		png_image_free(&img);
		slot_err(s, BL_ERR_IMAGE, "png: header says %ux%u, probe %dx%d", img.width,
			 img.height, info->width, info->height);
		return BL_FAILED;
	}
	need = (size_t)img.width * (size_t)img.height * 3;
	if (BL_ALLOC_GROW(w->png, need, w->png_len) != BL_OK) {
		png_image_free(&img);
		slot_err(s, BL_ERR_NOMEM, "out of memory for %ux%u pixels", img.width,
			 img.height);
		return BL_FAILED;
	}
	memset(w->png, 255, need);
	if (!png_image_finish_read(&img, &white, w->png, 0, NULL)) {
		slot_err(s, BL_ERR_IMAGE, "png: %s", img.message);
		png_image_free(&img);
		return BL_FAILED;
	}
	return BL_OK;
}

static void process(struct worker *w, struct slot *s)
{
	bl_loader *ld = w->ld;
	const bl_sample *smp;
	const bl_member *m;
	bl_image_info info;
	const unsigned char *pix;
	int pw, ph, r;

	s->status = BL_OK;
	s->kind = BL_ERR_NONE;
	s->sw = s->sh = s->dw = s->dh = 0;
	s->ext[0] = '\0';
	bl_buf_reset(&s->errmsg);
	bl_buf_reset(&s->caption);
	bl_buf_reset(&s->raw);
	if (read_sample(w, s, &smp) != BL_OK)
		return;
	m = smp->image;
	if (smp->caption &&
	    bl_buf_add(&s->caption, smp->caption->data, smp->caption->len) != BL_OK) {
		slot_err(s, BL_ERR_NOMEM, "out of memory");
		return;
	}
	if (ld->raw) {
		if (bl_buf_add(&s->raw, m->data, m->len) != BL_OK)
			slot_err(s, BL_ERR_NOMEM, "out of memory");
		return;
	}
	r = bl_image_probe(w->im, m->data, m->len, &info);
	if (r != BL_OK) {
		slot_err(s, BL_ERR_IMAGE, "%s", bl_image_errmsg(w->im));
		return;
	}
	s->sw = info.width;
	s->sh = info.height;
	if (info.format == BL_IMG_PNG) {
		if (decode_png(w, s, m, &info) != BL_OK)
			return;
		pix = w->png;
		pw = info.width;
		ph = info.height;
	} else if (info.format != BL_IMG_JPEG) {
		slot_err(s, BL_ERR_IMAGE, "a %s image: the loader decodes JPEG and PNG only",
			 bl_image_format_name(info.format));
		return;
	} else {
		/* the shorter side must stay >= size after DCT scaling */
		r = bl_image_decode_rgb(w->im, m->data, m->len,
					info.width <= info.height ? ld->size : 0,
					info.width <= info.height ? 0 : ld->size, &pix, &pw, &ph);
		if (r != BL_OK) {
			/* BL_WARN too: grey fill must not pass for a picture */
			slot_err(s, r == BL_ENOMEM ? BL_ERR_NOMEM : BL_ERR_IMAGE, "%s",
				 bl_image_errmsg(w->im));
			return;
		}
	}
	s->dw = pw;
	s->dh = ph;
	if (resize_crop(pix, pw, ph, s->rgb, ld->size, &w->tmp, &w->tmp_len) != BL_OK)
		slot_err(s, BL_ERR_NOMEM, "out of memory");
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	bl_loader *ld = w->ld;

	pthread_mutex_lock(&ld->mu);
	for (;;) {
		struct slot *s;
		while (!ld->stop && ld->ring[ld->take].state != SLOT_QUEUED)
			pthread_cond_wait(&ld->work, &ld->mu);
		if (ld->stop)
			break;
		s = &ld->ring[ld->take];
		s->state = SLOT_TAKEN;
		ld->take = (ld->take + 1) % ld->depth;
		pthread_mutex_unlock(&ld->mu);
		process(w, s);
		pthread_mutex_lock(&ld->mu);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&ld->done);
	}
	pthread_mutex_unlock(&ld->mu);
	return NULL;
}

/*
 * Give a buffer storage of its own: bl_buf_reset on a buffer that never
 * grew writes the terminator into the one static empty string that every
 * such buffer shares, which is a data race between workers.
 */
static int buf_own(bl_buf *b, size_t cap)
{
	bl_buf_init(b, cap);
	return bl_buf_grow(b, 1);
}

static int worker_init(struct worker *w, bl_loader *ld)
{
	w->ld = ld;
	if (buf_own(&w->path, 0) != BL_OK)
		return BL_ENOMEM;
	w->im = bl_image_new(&ld->ilim);
	w->r = bl_reader_new();
	if (!w->im || !w->r || bl_reader_set_limits(w->r, &ld->lim) != BL_OK ||
	    bl_reader_set_load(w->r, BL_LOAD_TEXT | BL_LOAD_IMAGE) != BL_OK ||
	    bl_reader_set_mapping(w->r, 0) != BL_OK)
		return BL_ENOMEM;
	return BL_OK;
}

static void worker_release(struct worker *w)
{
	bl_reader_free(w->r);
	bl_image_free(w->im);
	bl_buf_release(&w->path);
	free(w->png);
	free(w->tmp);
}

bl_loader *bl_loader_new(const bl_loader_options *opt)
{
	bl_loader *ld = calloc(1, sizeof *ld), *ret = NULL;
	int nw;

	if (!ld)
		goto out;
	pthread_mutex_init(&ld->mu, NULL);
	pthread_cond_init(&ld->work, NULL);
	pthread_cond_init(&ld->done, NULL);
	ld->size = opt && opt->size > 0 ? opt->size : DEF_SIZE;
	ld->nthreads = opt && opt->threads > 0 ? opt->threads : 0;
	ld->raw = opt && opt->raw;
	ld->depth = opt && opt->depth > 0 ? opt->depth : DEF_DEPTH;
	if (opt) {
		ld->lim = opt->limits;
		ld->ilim = opt->image_limits;
	}
	if (ld->size > MAX_SIZE || ld->nthreads > 256)
		goto out;
	ld->ring = calloc(ld->depth, sizeof *ld->ring);
	nw = ld->nthreads ? ld->nthreads : 1;
	ld->w = calloc((size_t)nw, sizeof *ld->w);
	if (!ld->ring || !ld->w)
		goto out;
	for (size_t i = 0; i < ld->depth; i++) {
		struct slot *s = &ld->ring[i];
		s->rgb = ld->raw ? NULL : malloc((size_t)ld->size * (size_t)ld->size * 3);
		if (buf_own(&s->errmsg, 0) != BL_OK || buf_own(&s->caption, 0) != BL_OK ||
		    buf_own(&s->raw, 0) != BL_OK || (!ld->raw && !s->rgb))
			goto out;
	}
	for (int i = 0; i < nw; i++)
		if (worker_init(&ld->w[i], ld) != BL_OK)
			goto out;
	for (int i = 0; i < ld->nthreads; i++) {
		if (pthread_create(&ld->w[i].th, NULL, worker_main, &ld->w[i]) != 0)
			goto out;
		ld->w[i].started = 1;
	}
	ret = ld;
	ld = NULL;
out:
	bl_loader_free(ld);
	return ret;
}

size_t bl_loader_room(const bl_loader *ld)
{
	return ld ? ld->depth - ld->count : 0;
}

size_t bl_loader_pending(const bl_loader *ld)
{
	return ld ? ld->count - (size_t)ld->held : 0;
}

int bl_loader_push(bl_loader *ld, const char *shard, int64_t offset,
		   const char *key, size_t tag)
{
	struct slot *s;
	int rc = BL_EUSAGE;

	if (!ld || !shard || !key)
		goto out;
	rc = BL_FAILED;
	if (ld->count == ld->depth)
		goto out;
	pthread_mutex_lock(&ld->mu);
	s = &ld->ring[ld->tail];
	s->shard = shard;
	s->key = key;
	s->offset = offset;
	s->tag = tag;
	s->state = SLOT_QUEUED;
	ld->tail = (ld->tail + 1) % ld->depth;
	ld->count++;
	pthread_cond_signal(&ld->work);
	pthread_mutex_unlock(&ld->mu);
	rc = BL_OK;
out:
	return rc;
}

int bl_loader_pop(bl_loader *ld, const bl_loaded **out)
{
	struct slot *s;
	int rc = BL_EUSAGE;

	if (!ld || !out)
		goto out;
	*out = NULL;
	pthread_mutex_lock(&ld->mu);
	if (ld->held) { /* release the slot handed out last time */
		ld->ring[(ld->head + ld->depth - 1) % ld->depth].state = SLOT_FREE;
		ld->held = 0;
		ld->count--;
	}
	if (ld->count == 0) {
		pthread_mutex_unlock(&ld->mu);
		rc = BL_END;
		goto out;
	}
	s = &ld->ring[ld->head];
	if (!ld->nthreads && s->state == SLOT_QUEUED) {
		s->state = SLOT_TAKEN;
		ld->take = (ld->take + 1) % ld->depth;
		pthread_mutex_unlock(&ld->mu);
		process(&ld->w[0], s);
		pthread_mutex_lock(&ld->mu);
		s->state = SLOT_DONE;
	}
	while (s->state != SLOT_DONE)
		pthread_cond_wait(&ld->done, &ld->mu);
	ld->head = (ld->head + 1) % ld->depth;
	ld->held = 1;
	pthread_mutex_unlock(&ld->mu);
	memset(&ld->out, 0, sizeof ld->out);
	ld->out.tag = s->tag;
	ld->out.status = s->status;
	ld->out.errkind = s->kind;
	ld->out.errmsg = s->errmsg.buf;
	ld->out.rgb = s->status == BL_OK && !ld->raw ? s->rgb : NULL;
	ld->out.size = ld->size;
	ld->out.src_width = s->sw;
	ld->out.src_height = s->sh;
	ld->out.dec_width = s->dw;
	ld->out.dec_height = s->dh;
	ld->out.caption = s->caption.buf;
	ld->out.caption_len = s->caption.len;
	ld->out.image = s->status == BL_OK && ld->raw ? (const unsigned char *)s->raw.buf : NULL;
	ld->out.image_len = s->status == BL_OK && ld->raw ? s->raw.len : 0;
	ld->out.image_ext = s->status == BL_OK ? s->ext : "";
	*out = &ld->out;
	rc = BL_OK;
out:
	return rc;
}

void bl_loader_free(bl_loader *ld)
{
	int nw;

	if (!ld)
		return;
	nw = ld->nthreads ? ld->nthreads : 1;
	if (ld->w && ld->ring) {
		pthread_mutex_lock(&ld->mu);
		ld->stop = 1;
		pthread_cond_broadcast(&ld->work);
		pthread_mutex_unlock(&ld->mu);
		for (int i = 0; i < ld->nthreads; i++)
			if (ld->w[i].started)
				pthread_join(ld->w[i].th, NULL);
	}
	if (ld->w)
		for (int i = 0; i < nw; i++)
			worker_release(&ld->w[i]);
	if (ld->ring)
		for (size_t i = 0; i < ld->depth; i++) {
			bl_buf_release(&ld->ring[i].errmsg);
			bl_buf_release(&ld->ring[i].caption);
			bl_buf_release(&ld->ring[i].raw);
			free(ld->ring[i].rgb);
		}
	free(ld->ring);
	free(ld->w);
	pthread_mutex_destroy(&ld->mu);
	pthread_cond_destroy(&ld->work);
	pthread_cond_destroy(&ld->done);
	free(ld);
}
