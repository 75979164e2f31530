/*
 * scan.c - the map over shards: read, tag, and hand rows to the index.
 *
 * Worker threads take shards in order from a shared cursor; each has its
 * own reader, tagger and image handle, and turns a shard into chunks of
 * rows, item errors and a string arena (struct bl_index_shard).  The
 * calling thread owns the index: it writes each chunk and reports errors
 * and progress through the caller's callbacks, so the callbacks never run
 * concurrently.  At most `threads` finished chunks wait to be written,
 * and a chunk holds at most CHUNK_ROWS rows and about CHUNK_BYTES of
 * strings, so memory is bounded by the thread count, not by the number
 * of shards or their size: a shard bigger than a chunk is staged by the
 * index chunk by chunk and committed whole with its last chunk.  Item
 * errors are stored up to MAX_STORED of each kind per shard; every one is
 * counted (per kind, in the index's error_counts) whether stored or not.
 *
 * A worker works in batches: it reads, probes and files up to BATCH_MAX
 * samples (their captions and JSON copied), then tags them one after
 * another, so that each phase runs long enough to keep its code and tables
 * in the caches: the reader, TurboJPEG and the kernel on one side, the
 * JIT programs, the prefilter automaton and cJSON on the other.  On the
 * bench set this made a 1-thread scan 11% faster than tagging each sample
 * as it is read.  A sample's item errors are all reported when its batch
 * is tagged, in the order they always had.
 *
 * Captions are tagged whatever their bytes: one with invalid UTF-8 or a
 * NUL is tagged (and stored) as a copy where each invalid sequence and
 * each NUL is U+FFFD, and the problem is an item error, so the safety
 * block never depends on clean input.
 *
 * Resume: before any work, every shard gets its row in the index (ids in
 * the order given; the same file under another path, or twice in the
 * list, is one shard: found by device and inode); a shard whose row is
 * complete with the same size, mtime, rules digest and image options is
 * skipped.  A shard interrupted mid-way never committed, so it is simply
 * scanned again.
 */
#include "error_int.h"
#include "alloc_int.h"
#include "index_int.h"
#include "shard_int.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* bytes of an image tried first by the header probe */
#define PROBE_FIRST 4096
/* samples read before they are tagged, and the bytes of JSON they may
 * hold (a batch is tagged sooner when its JSON passes that) */
#define BATCH_MAX 4096
#define BATCH_BYTES ((size_t)1 << 20)
/* a chunk is handed to the index writer at this many rows or bytes of
 * strings (captions above all) */
#define CHUNK_ROWS 16384
#define CHUNK_BYTES ((size_t)4 << 20)

struct work {
	const char *path;     /* as given (the reader's name for it) */
	char *name;           /* as stored in the index, when not path */
	int64_t id;
	int64_t size, mtime, dev, ino;
	int skip;
	const char *same_as;  /* the shard this one is a duplicate of */
	int alias;            /* name is this file's path in the index */
};

struct scan {
	const bl_scan_options *o;
	const bl_ruleset *rs;
	unsigned load;
	int probe, check, minor_sexual;
	const char *options;       /* image options, recorded per shard */
	struct work *work;
	size_t nwork;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t next;               /* next work item to take */
	struct bl_index_shard **done; /* finished chunks, waiting to be written */
	size_t ndone, done_cap;
	int running;               /* workers still running */
	int stop;
	char fatal[512];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void chunk_free(struct bl_index_shard *ch)
{
	if (!ch)
		return;
	free(ch->rows);
	free(ch->errs);
	bl_buf_release(&ch->arena);
	free(ch);
}

static struct bl_index_shard *chunk_new(const struct scan *sc, const struct work *wk)
{
	struct bl_index_shard *ch = calloc(1, sizeof *ch);
	if (!ch)
		return NULL;
	bl_buf_init(&ch->arena, 0);
	ch->id = wk->id;
	ch->path = wk->name ? wk->name : wk->path;
	ch->size = wk->size;
	ch->mtime = wk->mtime;
	ch->dev = wk->dev;
	ch->ino = wk->ino;
	ch->options = sc->options;
	return ch;
}

/* Append a string to the arena; BL_NO_STR when it does not fit. */
static size_t arena_add(struct bl_index_shard *ch, const char *s, size_t len)
{
	size_t off = ch->arena.len;
	if (bl_buf_add(&ch->arena, s, len) != BL_OK || bl_buf_addch(&ch->arena, '\0') != BL_OK) {
		ch->arena.len = off;
		return BL_NO_STR;
	}
	return off;
}

/* A sample read and probed, waiting to be tagged.  Offsets into the
 * batch's strings (BL_NO_STR: none); its caption is the row's. */
struct pending {
	size_t row;            /* index in the chunk's rows */
	size_t cap_len;
	size_t json, json_len, json_name;
	int64_t json_offset;
	size_t warn;           /* the reader's problems: first of nwarn */
	size_t nwarn;
	size_t image_msg;      /* the probe's complaint */
	int64_t image_offset;
	int have_info;
	bl_image_info info;
};

/* A reader problem copied into the batch. */
struct warn {
	bl_errkind kind;
	int64_t offset;
	size_t msg;
};

struct worker {
	struct scan *sc;
	bl_reader *r;
	bl_tagger *t;
	bl_image *im;
	struct pending *batch;   /* BATCH_MAX */
	int nbatch;
	struct warn *warns;
	size_t nwarns, warns_alloc;
	bl_buf strs;           /* the batch's JSON, names and messages */
	const char *shard;     /* the shard as given (the reader names it so) */
	const struct work *wk;
	struct bl_index_shard *ch; /* the chunk being filled */
	/* the shard so far */
	uint64_t samples, errors, not_stored;
	uint64_t counts[BL_ERR__COUNT];
	int fatal;
	bl_buf fatal_text;     /* the error that ended the shard */
};

/* Copy n bytes of s (and a NUL) into the batch's strings; BL_NO_STR when
 * out of memory. */
static size_t batch_str(struct worker *w, const char *s, size_t n)
{
	size_t off = w->strs.len;
	if (bl_buf_add(&w->strs, s, n) != BL_OK || bl_buf_addch(&w->strs, '\0') != BL_OK) {
		w->strs.len = off;
		return BL_NO_STR;
	}
	return off;
}

/* Count an item error of the shard; keep it while its kind has fewer than
 * BL_INDEX_MAX_ERRORS kept.  BL_OK or BL_ENOMEM. */
static int add_err(struct worker *w, int64_t ordinal, bl_errkind kind, int64_t offset,
		   const char *msg)
{
	struct bl_index_shard *ch = w->ch;
	struct bl_index_err *e;

	w->errors++;
	if (w->counts[kind]++ >= BL_INDEX_MAX_ERRORS) {
		w->not_stored++;
		return BL_OK;
	}
	if (BL_ALLOC_GROW(ch->errs, ch->nerrs + 1, ch->errs_alloc) != BL_OK)
		return BL_ENOMEM;
	e = &ch->errs[ch->nerrs];
	e->ordinal = ordinal;
	e->kind = kind;
	e->offset = offset;
	e->msg = arena_add(ch, msg, strlen(msg));
	if (e->msg == BL_NO_STR)
		return BL_ENOMEM;
	ch->nerrs++;
	return BL_OK;
}

static struct bl_index_row *add_row(struct bl_index_shard *ch)
{
	if (BL_ALLOC_GROW(ch->rows, ch->nrows + 1, ch->rows_alloc) != BL_OK)
		return NULL;
	return &ch->rows[ch->nrows++];
}

/* A field with a range that does not hold it: a bad_json item error. */
static void bad_field(struct worker *w, struct bl_index_row *row, const struct pending *p,
		      const char *field, const char *why)
{
	char msg[1200];
	row->problems |= BL_PROBLEM(BL_ERR_JSON);
	snprintf(msg, sizeof msg, "shard '%s' member '%s' at offset %lld: field '%s' %s",
		 w->shard, w->strs.buf + p->json_name, (long long)p->json_offset, field, why);
	add_err(w, (int64_t)row->ordinal, BL_ERR_JSON, p->json_offset, msg);
}

/* A number field of the JSON: 1 and *v when present and within [lo, hi],
 * 0 when absent or null; a value of another type, not finite, or out of
 * range is reported. */
static int num_field(struct worker *w, struct bl_index_row *row, const struct pending *p,
		     const char *field, double lo, double hi, double *v)
{
	const char *str;
	char why[160];
	switch (bl_tagger_field(w->t, field, v, &str)) {
	case 1:
		if (isfinite(*v) && *v >= lo && *v <= hi)
			return 1;
		snprintf(why, sizeof why, "is %g: not a number in [%g, %g] (ignored)", *v, lo, hi);
		bad_field(w, row, p, field, why);
		return 0;
	case 2:
		snprintf(why, sizeof why, "is the string \"%.40s\", not a number (ignored)", str);
		bad_field(w, row, p, field, why);
		return 0;
	case 3:
		snprintf(why, sizeof why, "is not a finite number in [%g, %g] (ignored)", lo, hi);
		bad_field(w, row, p, field, why);
		return 0;
	default:
		return 0;
	}
}

/* The typed JSON fields the index keeps, from the tagger's parse.
 * Returns 1 when the JSON does not parse at all. */
static int json_fields(struct worker *w, struct bl_index_row *row, const struct pending *p)
{
	double v;
	const char *str;

	switch (bl_tagger_field(w->t, "status", &v, &str)) {
	case BL_FAILED:
		return 1;
	case 2:
		row->status = arena_add(w->ch, str, strlen(str));
		break;
	default:
		break;
	}
	if (num_field(w, row, p, "width", 1, 1e9, &v))
		row->width = (int)v;
	if (num_field(w, row, p, "height", 1, 1e9, &v))
		row->height = (int)v;
	if (num_field(w, row, p, "punsafe", 0, 1, &v))
		row->punsafe = v;
	if (num_field(w, row, p, "pwatermark", 0, 1, &v))
		row->pwatermark = v;
	/* the weight "ballast write" gives a sample: reports honour it (a
	 * bad one is reported and the sample weighs 1) */
	if (num_field(w, row, p, "ballast_weight", 0, 1e6, &v))
		row->weight = v;
	return 0;
}

/* Tag the samples of the batch, fill in what tagging gives their rows and
 * report their item errors, sample by sample. */
static void flush_batch(struct worker *w)
{
	struct bl_index_shard *ch = w->ch;

	for (int i = 0; i < w->nbatch; i++) {
		const struct pending *p = &w->batch[i];
		struct bl_index_row *row = &ch->rows[p->row];
		int64_t ord = (int64_t)row->ordinal;
		bl_tag_input in;
		int trc, pw, ph;

		for (size_t k = 0; k < p->nwarn; k++) {
			const struct warn *wa = &w->warns[p->warn + k];
			add_err(w, ord, wa->kind, wa->offset, w->strs.buf + wa->msg);
		}
		if (p->image_msg != BL_NO_STR)
			add_err(w, ord, BL_ERR_IMAGE, p->image_offset, w->strs.buf + p->image_msg);
		memset(&in, 0, sizeof in);
		if (row->caption != BL_NO_STR) {
			in.caption = ch->arena.buf + row->caption;
			in.caption_len = p->cap_len;
		}
		if (p->json != BL_NO_STR) {
			in.json = w->strs.buf + p->json;
			in.json_len = p->json_len;
		}
		in.image = p->have_info ? &p->info : NULL;
		trc = bl_tagger_tag(w->t, &in, &row->labels);
		/* probed sizes win over the JSON's */
		pw = row->width;
		ph = row->height;
		if (p->json != BL_NO_STR && json_fields(w, row, p) && trc == BL_OK) {
			char msg[1024];
			row->problems |= BL_PROBLEM(BL_ERR_JSON);
			snprintf(msg, sizeof msg, "shard '%s' member '%s' at offset %lld: "
				 "not a JSON object", w->shard, w->strs.buf + p->json_name,
				 (long long)p->json_offset);
			add_err(w, ord, BL_ERR_JSON, p->json_offset, msg);
		}
		if (pw > 0 && ph > 0) {
			row->width = pw;
			row->height = ph;
		}
		if (trc != BL_OK) {
			char msg[1200];
			bl_errkind k = bl_tagger_errkind(w->t);
			row->problems |= BL_PROBLEM(k);
			snprintf(msg, sizeof msg, "shard '%s' sample '%s' at offset %lld: %s",
				 w->shard, row->key != BL_NO_STR ? ch->arena.buf + row->key : "?",
				 (long long)row->offset, bl_tagger_errmsg(w->t));
			add_err(w, ord, k, row->offset, msg);
		}
	}
	w->nbatch = 0;
	w->nwarns = 0;
	bl_buf_reset(&w->strs);
}

/*
 * Copy a caption into the arena as valid UTF-8 without NULs: each invalid
 * sequence (the longest prefix of a valid one, or one byte) and each NUL
 * becomes U+FFFD.  *len gets the bytes written.
 */
static size_t arena_add_lossy(struct bl_index_shard *ch, const char *s, size_t n, size_t *len)
{
	size_t off = ch->arena.len, i = 0, bad;
	static const char fffd[] = "\xef\xbf\xbd";

	while (i < n) {
		size_t run = n - i;
		const char *nul = memchr(s + i, '\0', run);
		if (nul)
			run = (size_t)(nul - (s + i));
		if (!bl_utf8_valid(s + i, run, &bad))
			run = bad;
		if (bl_buf_add(&ch->arena, s + i, run) != BL_OK)
			goto fail;
		i += run;
		if (i >= n)
			break;
		if (bl_buf_add(&ch->arena, fffd, 3) != BL_OK)
			goto fail;
		if (s[i] == '\0') {
			i++;
			continue;
		}
		/* skip the invalid sequence: a lead byte and the continuation
		 * bytes that follow it */
		i++;
		while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80 && i - off < 3)
			i++;
	}
	if (bl_buf_addch(&ch->arena, '\0') != BL_OK)
		goto fail;
	*len = ch->arena.len - off - 1;
	return off;
fail:
	ch->arena.len = off;
	return BL_NO_STR;
}

/* The probe of an image head, run under the reader's guard (the head may
 * point into a mapped shard another process can cut). */
struct probe_args {
	struct scan *sc;
	struct worker *w;
	const bl_member *img;
	bl_image_info *info;
	int rc;
};

static int probe_fn(void *arg)
{
	struct probe_args *a = arg;
	const bl_member *img = a->img;

	if (a->sc->check) {
		a->rc = bl_image_check(a->w->im, img->data, img->len, a->info);
	} else {
		/* the frame header is nearly always in the first few KB:
		 * probe those, and the whole head only when that was not
		 * enough (the walk reads to the end of what it is given) */
		size_t first = img->len < PROBE_FIRST ? img->len : PROBE_FIRST;
		a->rc = bl_image_probe(a->w->im, img->data, first, a->info);
		if (a->rc != BL_OK && a->rc != BL_WARN && first < img->len)
			a->rc = bl_image_probe(a->w->im, img->data, img->len, a->info);
	}
	return BL_OK;
}

/* Probe the sample's image; BL_OK, or BL_FATAL when the shard was cut
 * under the probe. */
static int probe_image(struct scan *sc, struct worker *w, const bl_sample *s,
		       struct bl_index_row *row, struct pending *p)
{
	struct probe_args a = {sc, w, s->image, &p->info, BL_OK};

	if (bl_reader_guarded(w->r, probe_fn, &a) == BL_FATAL)
		return BL_FATAL;
	p->have_info = 1;
	if (a.rc != BL_OK && a.rc != BL_WARN && s->image->len < (size_t)s->image->size) {
		/* only the head was read and the frame header is not in it:
		 * the facts are unknown, not wrong */
		p->have_info = 0;
		a.rc = BL_OK;
	}
	if (p->have_info && p->info.width > 0 && p->info.height > 0) {
		row->width = p->info.width;
		row->height = p->info.height;
	}
	if (a.rc != BL_OK && a.rc != BL_WARN) {
		char msg[1024];
		row->problems |= BL_PROBLEM(BL_ERR_IMAGE);
		snprintf(msg, sizeof msg, "shard '%s' member '%s' at offset %lld: %s",
			 s->shard, s->image->name, (long long)s->image->offset,
			 bl_image_errmsg(w->im));
		p->image_msg = batch_str(w, msg, strlen(msg));
		p->image_offset = s->image->offset;
	}
	return BL_OK;
}

/* Keep the reader's problems with the sample (all of them, each an item
 * error when its batch is tagged).  BL_OK or BL_ENOMEM. */
static int keep_problems(struct worker *w, struct pending *p)
{
	size_t n = bl_reader_nproblems(w->r);

	p->warn = w->nwarns;
	p->nwarn = 0;
	if (BL_ALLOC_GROW(w->warns, w->nwarns + n + 1, w->warns_alloc) != BL_OK)
		return BL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct warn *wa = &w->warns[w->nwarns];
		const char *msg;
		bl_reader_problem(w->r, i, &wa->kind, &wa->offset, &msg);
		if ((wa->msg = batch_str(w, msg, strlen(msg))) == BL_NO_STR)
			return BL_ENOMEM;
		w->nwarns++;
		p->nwarn++;
	}
	if (bl_reader_problems_unlisted(w->r)) {
		struct warn *wa = &w->warns[w->nwarns];
		char msg[256];
		snprintf(msg, sizeof msg, "shard '%s': %zu more problems in this sample (not listed)",
			 w->shard, bl_reader_problems_unlisted(w->r));
		wa->kind = w->warns[p->warn + p->nwarn - 1].kind;
		wa->offset = -1;
		if ((wa->msg = batch_str(w, msg, strlen(msg))) == BL_NO_STR)
			return BL_ENOMEM;
		w->nwarns++;
		p->nwarn++;
	}
	return BL_OK;
}

/* Read-time work on a sample: its row, the probe, and its place in the
 * batch (tagged by flush_batch).  BL_OK, BL_FATAL (the shard was cut
 * under the probe: the row stays, the shard ends), BL_ENOMEM. */
static int scan_sample(struct scan *sc, struct worker *w, const bl_sample *s, int rc)
{
	struct bl_index_shard *ch = w->ch;
	struct bl_index_row *row = add_row(ch);
	struct pending *p = &w->batch[w->nbatch];
	int prc = BL_OK;

	if (!row)
		return BL_ENOMEM;
	memset(row, 0, sizeof *row);
	row->ordinal = s->ordinal;
	row->offset = s->offset;
	row->caption = row->image_ext = row->status = BL_NO_STR;
	row->caption_offset = row->image_offset = -1;
	row->caption_data = row->caption_size = row->image_data = -1;
	row->json_data = row->json_size = -1;
	row->width = row->height = -1;
	row->punsafe = row->pwatermark = NAN;
	row->weight = 1;
	row->problems = s->problems;
	p->row = (size_t)(row - ch->rows);
	p->cap_len = 0;
	p->json = p->json_name = p->image_msg = BL_NO_STR;
	p->nwarn = 0;
	p->have_info = 0;

	w->samples++;
	if ((row->key = arena_add(ch, s->key, strlen(s->key))) == BL_NO_STR)
		return BL_ENOMEM;
	if (rc == BL_WARN && keep_problems(w, p) != BL_OK)
		return BL_ENOMEM;

	if (s->caption) {
		row->caption_offset = s->caption->offset;
		row->caption_data = s->caption->data_offset;
		row->caption_size = s->caption->size;
		if (s->caption->data) {
			if (s->problems & (BL_PROBLEM(BL_ERR_BAD_UTF8) | BL_PROBLEM(BL_ERR_NUL)))
				row->caption = arena_add_lossy(ch, (const char *)s->caption->data,
							       s->caption->len, &p->cap_len);
			else if ((row->caption = arena_add(ch, (const char *)s->caption->data,
							   s->caption->len)) != BL_NO_STR)
				p->cap_len = s->caption->len;
			if (row->caption == BL_NO_STR)
				return BL_ENOMEM;
		}
	}
	if (s->json) {
		row->json_data = s->json->data_offset;
		row->json_size = s->json->size;
	}
	if (s->json && s->json->data) {
		p->json = batch_str(w, (const char *)s->json->data, s->json->len);
		p->json_len = s->json->len;
		p->json_name = batch_str(w, s->json->name, strlen(s->json->name));
		p->json_offset = s->json->offset;
		if (p->json == BL_NO_STR || p->json_name == BL_NO_STR)
			return BL_ENOMEM;
	}
	if (s->image) {
		row->image_offset = s->image->offset;
		row->image_size = s->image->size;
		row->image_data = s->image->data_offset;
		row->image_ext = arena_add(ch, s->image->ext, strlen(s->image->ext));
		if (sc->probe && s->image->data)
			prc = probe_image(sc, w, s, row, p);
	}
	w->nbatch++;
	if (w->nbatch == BATCH_MAX || w->strs.len >= BATCH_BYTES)
		flush_batch(w);
	return prc;
}

/* Hand a chunk to the index writer, waiting for room.  BL_OK, or
 * BL_FAILED when the scan is stopping (the chunk is freed). */
static int submit(struct scan *sc, struct bl_index_shard *ch)
{
	pthread_mutex_lock(&sc->lock);
	while (sc->ndone >= sc->done_cap && !sc->stop)
		pthread_cond_wait(&sc->cond, &sc->lock);
	if (sc->stop) {
		pthread_mutex_unlock(&sc->lock);
		chunk_free(ch);
		return BL_FAILED;
	}
	sc->done[sc->ndone++] = ch;
	pthread_cond_broadcast(&sc->cond);
	pthread_mutex_unlock(&sc->lock);
	return BL_OK;
}

/* The chunk is full: tag what is pending and pass it on. */
static int next_chunk(struct scan *sc, struct worker *w)
{
	struct bl_index_shard *ch;

	flush_batch(w);
	if (!(ch = chunk_new(sc, w->wk)))
		return BL_ENOMEM;
	if (submit(sc, w->ch) != BL_OK) {
		w->ch = NULL;
		chunk_free(ch);
		return BL_FAILED;
	}
	w->ch = ch;
	return BL_OK;
}

/* The last chunk of a shard carries its totals. */
static int last_chunk(struct scan *sc, struct worker *w)
{
	struct bl_index_shard *ch = w->ch;

	flush_batch(w);
	ch->last = 1;
	ch->fatal = w->fatal;
	if (w->fatal && (ch->fatal_msg = arena_add(ch, w->fatal_text.buf, w->fatal_text.len)) ==
				BL_NO_STR) {
		chunk_free(ch);
		w->ch = NULL;
		return BL_ENOMEM;
	}
	ch->samples = w->samples;
	ch->errors = w->errors;
	ch->not_stored = w->not_stored;
	memcpy(ch->counts, w->counts, sizeof ch->counts);
	w->ch = NULL;
	return submit(sc, ch);
}

/* An error that ends the shard: it is also the shard's "fatal" text. */
static int shard_fatal(struct worker *w, bl_errkind kind, int64_t offset, const char *msg)
{
	w->fatal = 1;
	bl_buf_reset(&w->fatal_text);
	if (bl_buf_adds(&w->fatal_text, msg) != BL_OK)
		return BL_ENOMEM;
	return add_err(w, -1, kind, offset, msg);
}

/* Read one shard into chunks.  BL_OK, BL_ENOMEM, BL_FAILED (stopping). */
static int scan_shard(struct scan *sc, struct worker *w, const struct work *wk)
{
	const bl_sample *s;
	int rc;

	if (wk->same_as)
		return BL_OK; /* reported by the writer: read once, as the first */
	w->wk = wk;
	w->samples = w->errors = w->not_stored = 0;
	w->fatal = 0;
	bl_buf_reset(&w->fatal_text);
	memset(w->counts, 0, sizeof w->counts);
	if (!(w->ch = chunk_new(sc, wk)))
		return BL_ENOMEM;
	w->ch->first = 1;
	w->shard = wk->path;
	if (bl_reader_open(w->r, wk->path) != BL_OK) {
		rc = shard_fatal(w, bl_reader_errkind(w->r), -1, bl_reader_errmsg(w->r));
		if (rc != BL_OK)
			goto fail;
		return last_chunk(sc, w);
	}
	while ((rc = bl_reader_next(w->r, &s)) != BL_END) {
		if (rc == BL_OK || rc == BL_WARN) {
			rc = scan_sample(sc, w, s, rc);
			if (rc == BL_FATAL)
				rc = shard_fatal(w, bl_reader_errkind(w->r), bl_reader_erroffset(w->r),
						 bl_reader_errmsg(w->r));
			if (rc != BL_OK)
				goto fail;
		} else if (rc == BL_FAILED || rc == BL_FATAL) {
			flush_batch(w); /* their errors come first */
			if ((rc == BL_FATAL ? shard_fatal(w, bl_reader_errkind(w->r),
							  bl_reader_erroffset(w->r),
							  bl_reader_errmsg(w->r))
					    : add_err(w, -1, bl_reader_errkind(w->r),
						      bl_reader_erroffset(w->r),
						      bl_reader_errmsg(w->r))) != BL_OK) {
				rc = BL_ENOMEM;
				goto fail;
			}
		} else {
			rc = BL_ENOMEM;
			goto fail;
		}
		if (sc->stop) {
			rc = BL_FAILED;
			goto fail;
		}
		if ((w->ch->nrows >= CHUNK_ROWS || w->ch->arena.len >= CHUNK_BYTES) &&
		    (rc = next_chunk(sc, w)) != BL_OK)
			goto fail;
	}
	rc = last_chunk(sc, w);
	bl_reader_close(w->r);
	return rc;
fail:
	w->nbatch = 0;
	w->nwarns = 0;
	bl_buf_reset(&w->strs);
	bl_reader_close(w->r);
	chunk_free(w->ch);
	w->ch = NULL;
	return rc;
}

static void *worker_main(void *arg)
{
	struct scan *sc = arg;
	struct worker w;

	memset(&w, 0, sizeof w);
	w.sc = sc;
	bl_buf_init(&w.strs, 0);
	bl_buf_init(&w.fatal_text, 4096);
	w.batch = malloc(BATCH_MAX * sizeof *w.batch);
	w.r = bl_reader_new();
	w.t = bl_tagger_new(sc->rs);
	w.im = sc->probe ? bl_image_new(NULL) : NULL;
	pthread_mutex_lock(&sc->lock);
	if (!w.batch || !w.r || !w.t || (sc->probe && !w.im) ||
	    bl_reader_set_limits(w.r, &sc->o->limits) != BL_OK ||
	    bl_reader_set_load(w.r, sc->load) != BL_OK) {
		sc->stop = 1;
		snprintf(sc->fatal, sizeof sc->fatal, "out of memory starting a worker");
		goto out;
	}
	for (;;) {
		size_t k;
		int rc;
		while (!sc->stop && sc->next < sc->nwork && sc->work[sc->next].skip)
			sc->next++;
		if (sc->stop || sc->next >= sc->nwork)
			break;
		k = sc->next++;
		pthread_mutex_unlock(&sc->lock);
		rc = scan_shard(sc, &w, &sc->work[k]);
		pthread_mutex_lock(&sc->lock);
		if (rc == BL_ENOMEM) {
			sc->stop = 1;
			snprintf(sc->fatal, sizeof sc->fatal,
				 "out of memory scanning '%s'", sc->work[k].path);
			pthread_cond_broadcast(&sc->cond);
		}
		if (rc != BL_OK)
			break;
	}
out:
	sc->running--;
	pthread_cond_broadcast(&sc->cond);
	pthread_mutex_unlock(&sc->lock);
	bl_reader_free(w.r);
	bl_tagger_free(w.t);
	bl_image_free(w.im);
	bl_buf_release(&w.strs);
	bl_buf_release(&w.fatal_text);
	free(w.batch);
	free(w.warns);
	return NULL;
}

static void count_labels(struct scan *sc, const bl_labelset *ls, bl_scan_totals *tot)
{
	int n = bl_ruleset_nlabels(sc->rs);
	for (int w = 0; w < BL_MAX_LABELS / 64; w++) {
		uint64_t bits = ls->w[w];
		while (bits) {
			int id = w * 64 + __builtin_ctzll(bits);
			if (id < n)
				tot->labels[id]++;
			bits &= bits - 1;
		}
	}
	if (sc->minor_sexual >= 0 && bl_labelset_has(ls, sc->minor_sexual))
		tot->blocked++;
}

static void count_chunk(struct scan *sc, const struct bl_index_shard *ch,
			bl_scan_totals *tot)
{
	tot->samples += ch->nrows;
	for (size_t i = 0; i < ch->nrows; i++)
		count_labels(sc, &ch->rows[i].labels, tot);
	if (!ch->last)
		return;
	tot->shards++;
	tot->shards_failed += ch->fatal ? 1 : 0;
	tot->errors_not_stored += ch->not_stored;
	for (int k = 0; k < BL_ERR__COUNT; k++)
		tot->errors[k] += ch->counts[k];
}

/* ---- the plan ---------------------------------------------------------- */

/* The same file twice in the list (another path, a symlink, "-" twice):
 * the later ones point at the first (bl_spec_same_files). */
static int find_duplicates(struct scan *sc, const bl_strlist *shards, size_t lo)
{
	size_t *first = malloc((sc->nwork ? sc->nwork : 1) * sizeof *first);

	if (!first || bl_spec_same_files((const char *const *)shards->items + lo, sc->nwork,
					 first) != BL_OK) {
		free(first);
		return BL_ENOMEM;
	}
	for (size_t i = 0; i < sc->nwork; i++)
		if (first[i] != i)
			sc->work[i].same_as = sc->work[first[i]].path;
	free(first);
	return BL_OK;
}

/* SHA-256 of the whole shard list, in order: which scan a part is of. */
static void plan_digest(const bl_strlist *shards, char hex[65])
{
	bl_sha256 c;
	bl_sha256_init(&c);
	for (size_t i = 0; i < shards->n; i++)
		bl_sha256_update(&c, shards->items[i], strlen(shards->items[i]) + 1);
	bl_sha256_final_hex(&c, hex);
}

static int record_plan(struct scan *sc, const bl_strlist *shards, bl_index *ix)
{
	char hex[65], num[32];
	int tasks = sc->o->tasks > 1 ? sc->o->tasks : 0;

	plan_digest(shards, hex);
	snprintf(num, sizeof num, "%zu", shards->n);
	if (bl_index_meta_set(ix, "plan_sha256", hex) != BL_OK ||
	    bl_index_meta_set(ix, "plan_shards", num) != BL_OK)
		return BL_FAILED;
	snprintf(num, sizeof num, "%d", tasks);
	if (bl_index_meta_set(ix, "tasks", tasks ? num : NULL) != BL_OK)
		return BL_FAILED;
	snprintf(num, sizeof num, "%d", sc->o->task);
	if (bl_index_meta_set(ix, "task", tasks ? num : NULL) != BL_OK ||
	    bl_index_meta_set(ix, "tasks_merged", NULL) != BL_OK)
		return BL_FAILED;
	return BL_OK;
}

/* Find or add a shard's row and decide whether to skip it. */
static int plan_shard(struct scan *sc, bl_index *ix, struct work *wk, const char *digest,
		      int64_t run)
{
	struct bl_index_shard_state state;

	if (!strcmp(wk->path, "-")) {
		/* every run's standard input is a shard of its own */
		char name[64];
		snprintf(name, sizeof name, "stdin:run-%lld", (long long)run);
		if (!(wk->name = strdup(name)))
			return BL_ENOMEM;
	} else if (wk->dev >= 0) {
		/* the same file under another path in the index is that shard */
		int64_t id;
		int rc = bl_index_shard_by_ident(ix, wk->dev, wk->ino, wk->size, wk->mtime, &id,
						 &state);
		if (rc < 0)
			return BL_FAILED;
		if (rc == 1 && strcmp(state.path, wk->path) != 0) {
			wk->name = state.path;
			wk->alias = 1;
		} else if (rc == 1) {
			free(state.path);
		}
	}
	if (bl_index_shard_id(ix, wk->name ? wk->name : wk->path, &wk->id, &state) != BL_OK)
		return BL_FAILED;
	wk->skip = !(sc->o->flags & BL_SCAN_FORCE) && state.complete && wk->size >= 0 &&
		   state.size == wk->size && state.mtime == wk->mtime &&
		   strcmp(state.rules_digest, digest) == 0 &&
		   (!state.options[0] || strcmp(state.options, sc->options) == 0);
	return BL_OK;
}

/* Stat each shard, find or add its row, decide whether to skip it. */
static int plan(struct scan *sc, const bl_strlist *shards, bl_index *ix,
		const char *digest, int64_t run, char *err, size_t errlen)
{
	size_t lo = 0, hi = shards->n;
	int rc = BL_FAILED;

	if (sc->o->tasks > 1) {
		/* contiguous blocks, so that parts merged in order keep the
		 * single-scan order of shards */
		lo = shards->n * (size_t)sc->o->task / (size_t)sc->o->tasks;
		hi = shards->n * (size_t)(sc->o->task + 1) / (size_t)sc->o->tasks;
	}
	sc->nwork = hi - lo;
	sc->work = calloc(sc->nwork ? sc->nwork : 1, sizeof *sc->work);
	if (!sc->work) {
		bl_error_set(err, errlen, "out of memory");
		return BL_ENOMEM;
	}
	for (size_t i = 0; i < sc->nwork; i++) {
		struct work *wk = &sc->work[i];
		struct stat st;
		wk->path = shards->items[lo + i];
		wk->size = wk->mtime = wk->dev = wk->ino = -1;
		wk->id = (int64_t)(lo + i) + 1;
		if (strcmp(wk->path, "-") != 0 && stat(wk->path, &st) == 0) {
			wk->size = (int64_t)st.st_size;
			wk->mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
			if (S_ISREG(st.st_mode)) {
				wk->dev = (int64_t)st.st_dev;
				wk->ino = (int64_t)st.st_ino;
			}
		}
	}
	if (find_duplicates(sc, shards, lo) != BL_OK) {
		bl_error_set(err, errlen, "out of memory");
		return BL_ENOMEM;
	}
	if (!ix)
		return BL_OK;
	if (bl_index_writer_prepare(ix) != BL_OK || bl_index_begin(ix) != BL_OK ||
	    record_plan(sc, shards, ix) != BL_OK) {
		bl_error_set(err, errlen, "%s", bl_index_errmsg(ix));
		rc = BL_FATAL;
		goto out;
	}
	for (size_t i = 0; i < sc->nwork; i++) {
		struct work *wk = &sc->work[i];
		if (wk->same_as)
			continue;
		if ((rc = plan_shard(sc, ix, wk, digest, run)) != BL_OK) {
			bl_error_set(err, errlen, "%s", rc == BL_ENOMEM ? "out of memory"
								     : bl_index_errmsg(ix));
			rc = BL_FATAL;
			goto out;
		}
	}
	rc = BL_OK;
out:
	if (rc != BL_OK) {
		bl_index_rollback(ix);
	} else if (bl_index_commit(ix) != BL_OK) {
		bl_error_set(err, errlen, "%s", bl_index_errmsg(ix));
		rc = BL_FATAL;
	}
	return rc;
}

static int run_finish(bl_index *ix, int64_t run, const bl_scan_totals *t, const char *digest)
{
	if (bl_index_run_finish(ix, run, t->shards, t->shards_skipped) != BL_OK)
		return BL_FAILED;
	return bl_index_meta_set(ix, "rules_digest", digest);
}

/* ---- the writer -------------------------------------------------------- */

struct writer {
	struct scan *sc;
	bl_index *ix;
	bl_scan_totals *tot;
	const int *map;
	const char *digest;
	int64_t *failed;     /* shards whose write failed: their chunks go */
	size_t nfailed, failed_alloc;
	bl_scan_progress prog;
	double t0;
};

static int shard_failed(const struct writer *wr, int64_t id)
{
	for (size_t i = 0; i < wr->nfailed; i++)
		if (wr->failed[i] == id)
			return 1;
	return 0;
}

static void report(const bl_scan_options *o, bl_errkind kind, const char *msg)
{
	if (o->on_error)
		o->on_error(o->arg, kind, msg);
}

/* Write one chunk; report its errors.  BL_OK, BL_FAILED (strict), or
 * BL_FATAL with err set. */
static int write_chunk(struct writer *wr, struct bl_index_shard *ch, char *err, size_t errlen)
{
	const bl_scan_options *o = wr->sc->o;
	int rc = BL_OK;

	if (shard_failed(wr, ch->id))
		return BL_OK;
	for (size_t i = 0; i < ch->nerrs; i++)
		report(o, ch->errs[i].kind, ch->arena.buf + ch->errs[i].msg);
	if (ch->last && ch->not_stored) {
		char msg[600];
		snprintf(msg, sizeof msg, "shard '%s': %llu more item errors not shown or stored "
			 "(the first %d of each kind are; the counts are complete)", ch->path,
			 (unsigned long long)ch->not_stored, BL_INDEX_MAX_ERRORS);
		report(o, BL_ERR_LIMIT, msg);
	}
	if (wr->ix) {
		rc = bl_index_write_chunk(wr->ix, ch, wr->sc->rs, wr->map, wr->digest);
		if (rc == BL_FATAL) {
			bl_error_set(err, errlen, "%s", bl_index_errmsg(wr->ix));
			return BL_FATAL;
		}
		if (rc == BL_FAILED) {
			/* this shard only: the scan goes on with the others */
			if (BL_ALLOC_GROW(wr->failed, wr->nfailed + 1, wr->failed_alloc) != BL_OK) {
				bl_error_set(err, errlen, "out of memory");
				return BL_FATAL;
			}
			wr->failed[wr->nfailed++] = ch->id;
			report(o, BL_ERR_INDEX, bl_index_errmsg(wr->ix));
			wr->tot->errors[BL_ERR_INDEX]++;
			wr->tot->shards_failed++;
			wr->tot->shards_unwritten++;
			return BL_OK;
		}
	}
	count_chunk(wr->sc, ch, wr->tot);
	wr->prog.samples += ch->nrows;
	if (ch->last) {
		wr->prog.shards_done++;
		wr->prog.bytes += ch->size > 0 ? (uint64_t)ch->size : 0;
		wr->prog.seconds = now_s() - wr->t0;
		if (o->on_progress)
			o->on_progress(o->arg, &wr->prog);
	}
	if ((o->flags & BL_SCAN_STRICT) && ch->nerrs) {
		bl_error_set(err, errlen, "stopped at the first item error (--strict): %s",
			 ch->arena.buf + ch->errs[0].msg);
		return BL_FAILED;
	}
	return BL_OK;
}

/* Duplicates of a shard in the list are item errors, told first. */
static void report_duplicates(struct scan *sc, bl_scan_totals *tot)
{
	for (size_t i = 0; i < sc->nwork; i++) {
		const struct work *wk = &sc->work[i];
		char msg[1200];
		if (wk->alias) {
			snprintf(msg, sizeof msg, "shard '%s' is the same file as '%s' in the "
				 "index (device and inode): counted once, under that name",
				 wk->path, wk->name);
			report(sc->o, BL_ERR_DUP_SHARD, msg);
			tot->errors[BL_ERR_DUP_SHARD]++;
			continue;
		}
		if (!wk->same_as)
			continue;
		if (!strcmp(wk->path, "-"))
			snprintf(msg, sizeof msg, "shard '-': standard input is given more than "
				 "once (read once)");
		else
			snprintf(msg, sizeof msg, "shard '%s' is the same file as '%s' (device "
				 "and inode): scanned once, counted once", wk->path, wk->same_as);
		report(sc->o, BL_ERR_DUP_SHARD, msg);
		tot->errors[BL_ERR_DUP_SHARD]++;
	}
}

int bl_scan_run(const bl_scan_options *opts, const bl_ruleset *rs,
		const bl_strlist *shards, bl_index *ix, bl_scan_totals *totals,
		char *err, size_t errlen)
{
	struct scan sc;
	struct writer wr;
	bl_scan_options defaults;
	pthread_t *th = NULL;
	int threads, rc = BL_FATAL, started = 0, map[BL_MAX_LABELS];
	int64_t run = -1;
	char dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	if (!rs || !shards || !totals)
		return BL_EUSAGE;
	if (opts && opts->tasks > 1 && (opts->task < 0 || opts->task >= opts->tasks)) {
		bl_error_set(err, errlen, "task %d is outside 0..%d", opts->task, opts->tasks - 1);
		return BL_EUSAGE;
	}
	if (!opts) {
		memset(&defaults, 0, sizeof defaults);
		opts = &defaults;
	}
	memset(totals, 0, sizeof *totals);
	memset(&sc, 0, sizeof sc);
	memset(&wr, 0, sizeof wr);
	sc.o = opts;
	sc.rs = rs;
	sc.probe = !(opts->flags & BL_SCAN_NO_IMAGE) &&
		   ((opts->flags & (BL_SCAN_PROBE | BL_SCAN_CHECK)) || bl_ruleset_uses_image(rs));
	sc.check = sc.probe && (opts->flags & BL_SCAN_CHECK) != 0;
	sc.options = sc.check ? "image=check" : sc.probe ? "image=probe" : "image=none";
	/* a header probe needs only the head of each image; a decode check
	 * needs all of it */
	sc.load = BL_LOAD_TEXT | (sc.check ? BL_LOAD_IMAGE : sc.probe ? BL_LOAD_IMAGE_HEAD : 0);
	sc.minor_sexual = bl_ruleset_label_index(rs, BL_LABEL_MINOR_SEXUAL);
	wr.digest = bl_ruleset_digest(rs);
	threads = opts->threads > 0 ? opts->threads : 1;
	if (threads > 256)
		threads = 256;
	pthread_mutex_init(&sc.lock, NULL);
	pthread_cond_init(&sc.cond, NULL);

	if (ix) {
		if (bl_index_begin(ix) != BL_OK || bl_index_map_labels(ix, rs, map) != BL_OK ||
		    bl_index_commit(ix) != BL_OK) {
			bl_error_set(err, errlen, "%s", bl_index_errmsg(ix));
			bl_index_rollback(ix);
			goto out;
		}
		run = bl_index_run_start(ix, opts->argv, threads);
	}
	if ((rc = plan(&sc, shards, ix, wr.digest, run, err, errlen)) != BL_OK)
		goto out;
	rc = BL_FATAL;
	for (size_t i = 0; i < sc.nwork; i++) {
		if (sc.work[i].skip)
			totals->shards_skipped++;
		if (!sc.work[i].same_as)
			wr.prog.shards_total++;
	}
	wr.prog.shards_skipped = totals->shards_skipped;
	report_duplicates(&sc, totals);

	sc.done_cap = (size_t)threads;
	sc.done = calloc(sc.done_cap, sizeof *sc.done);
	th = calloc((size_t)threads, sizeof *th);
	if (!sc.done || !th) {
		bl_error_set(err, errlen, "out of memory");
		goto out;
	}
	sc.running = threads;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&th[i], NULL, worker_main, &sc) != 0) {
			pthread_mutex_lock(&sc.lock);
			sc.running -= threads - i;
			sc.stop = 1;
			snprintf(sc.fatal, sizeof sc.fatal, "cannot start a thread");
			pthread_mutex_unlock(&sc.lock);
			break;
		}
		started++;
	}

	/* the index writer: this thread */
	wr.sc = &sc;
	wr.ix = ix;
	wr.tot = totals;
	wr.map = map;
	wr.t0 = now_s();
	rc = BL_OK;
	pthread_mutex_lock(&sc.lock);
	for (;;) {
		struct bl_index_shard *ch;
		while (sc.ndone == 0 && sc.running > 0)
			pthread_cond_wait(&sc.cond, &sc.lock);
		if (sc.ndone == 0)
			break;
		ch = sc.done[0];
		memmove(sc.done, sc.done + 1, (sc.ndone - 1) * sizeof *sc.done);
		sc.ndone--;
		pthread_cond_broadcast(&sc.cond);
		pthread_mutex_unlock(&sc.lock);
		if (rc == BL_OK)
			rc = write_chunk(&wr, ch, err, errlen);
		chunk_free(ch);
		pthread_mutex_lock(&sc.lock);
		if (rc != BL_OK) {
			sc.stop = 1;
			pthread_cond_broadcast(&sc.cond);
		}
	}
	if (sc.fatal[0] && rc == BL_OK) {
		bl_error_set(err, errlen, "%s", sc.fatal);
		rc = BL_FATAL;
	}
	pthread_mutex_unlock(&sc.lock);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; ix && i < wr.nfailed; i++)
		bl_index_drop_staged(ix, wr.failed[i]);
	if (ix && run >= 0 && rc == BL_OK && run_finish(ix, run, totals, wr.digest) != BL_OK) {
		bl_error_set(err, errlen, "%s", "cannot record the run in the index");
		rc = BL_FATAL;
	}
out:
	for (size_t i = 0; i < sc.ndone; i++)
		chunk_free(sc.done[i]);
	for (size_t i = 0; sc.work && i < sc.nwork; i++)
		free(sc.work[i].name);
	free(sc.done);
	free(sc.work);
	free(wr.failed);
	free(th);
	pthread_cond_destroy(&sc.cond);
	pthread_mutex_destroy(&sc.lock);
	return rc;
}

int bl_scan_index_totals(bl_index *ix, const bl_ruleset *rs, bl_scan_totals *t,
			 char *err, size_t errlen)
{
	struct bl_index_error_total *kinds = NULL;
	const struct bl_index_sample *row;
	bl_index_cursor *cur = NULL;
	int remap[BL_MAX_LABELS], rc = BL_FAILED, r;
	size_t nkinds = 0;
	struct scan sc;

	if (!ix || !rs || !t)
		return BL_EUSAGE;
	memset(t, 0, sizeof *t);
	memset(&sc, 0, sizeof sc);
	sc.rs = rs;
	sc.minor_sexual = bl_ruleset_label_index(rs, BL_LABEL_MINOR_SEXUAL);
	for (int i = 0; i < ix->nlabels; i++)
		remap[i] = bl_ruleset_label_index(rs, ix->labels[i]);
	if (bl_index_complete_totals(ix, &t->shards, &t->shards_failed, &t->errors_not_stored) !=
		    BL_OK ||
	    bl_index_error_totals(ix, BL_IX_BY_KIND, &kinds, &nkinds) != BL_OK)
		goto out;
	for (size_t k = 0; k < nkinds; k++)
		for (int i = 1; kinds[k].kind && i < BL_ERR__COUNT; i++)
			if (!strcmp(kinds[k].kind, bl_errkind_name((bl_errkind)i)))
				t->errors[i] += kinds[k].n;
	if (!(cur = bl_index_cursor_new(ix, BL_IXC_BITS)) || bl_index_cursor_all(cur) != BL_OK)
		goto out;
	while ((r = bl_index_cursor_next(cur, &row)) == BL_OK) {
		const unsigned char *b = row->bits;
		int n = (int)row->nbits;
		bl_labelset ls;
		bl_labelset_clear(&ls);
		for (int i = 0; b && i < n * 8 && i < ix->nlabels; i++)
			if ((b[i >> 3] >> (i & 7) & 1) && remap[i] >= 0)
				bl_labelset_set(&ls, remap[i]);
		t->samples++;
		count_labels(&sc, &ls, t);
	}
	if (r == BL_END)
		rc = BL_OK;
out:
	if (rc != BL_OK)
		bl_error_set(err, errlen, "%s", bl_index_errmsg(ix));
	bl_index_cursor_free(cur);
	bl_index_error_totals_free(kinds, nkinds);
	return rc;
}
