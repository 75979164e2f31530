/*
 * manifest.c - writing and reading weighted manifests.
 *
 * A manifest is a directory (format in manifests/FORMAT.md):
 * manifest.json says what was done (policy text and digest, seed, index
 * rules digest, inputs with their digests, cells with counts and weights,
 * the before/after summary), and shards/NNNNN.jsonl lists, one JSON line
 * each, the samples of input shard NNNNN that made it in, in shard order,
 * with their weight.
 *
 * Writing is the map half of the rebalancer: shard by shard, each sample's
 * label bits go through bl_rebalance_next.  The whole directory is built
 * as OUTDIR.tmp-XXXXXX, every file fsynced, then renamed into place (with
 * --force, the old OUTDIR is moved aside first and removed after), so a
 * reader never sees half a manifest.  Nothing in the output depends on the
 * clock, the thread count or the order of work: the same index, policy and
 * seed give the same bytes.  JSON lines are formatted by hand (one reused
 * buffer, no allocation per row); a row's weight and label array are
 * formatted once per distinct value (a rebalanced set has a weight per
 * cell and a few hundred label combinations) and copied after, and the
 * shard's path once per shard.  manifest.json goes through cJSON.
 *
 * Reading (bl_manifest_open/next) is for consumers and tests: it checks
 * manifest.json's required fields and walks the JSON lines in order.
 */
#define _XOPEN_SOURCE 700
#include "index_int.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Append s as a JSON string.  Bytes that are not valid UTF-8 are written as
 * \u00XX (read as Latin-1): lossy, but the line stays valid JSON. */
static int json_str(bl_buf *b, const char *s, size_t len)
{
	size_t i = 0, good = 0;
	int rc = bl_buf_addch(b, '"');

	bl_utf8_valid(s, len, &good);
	while (rc == BL_OK && i < len) {
		unsigned char c = (unsigned char)s[i];
		if (i >= good && c >= 0x80) {
			size_t more;
			rc = bl_buf_addf(b, "\\u%04x", c);
			i++;
			/* find the next invalid byte after this one */
			if (bl_utf8_valid(s + i, len - i, &more))
				good = len;
			else
				good = i + more;
			continue;
		}
		if (c == '"' || c == '\\') {
			rc = bl_buf_addch(b, '\\') == BL_OK ? bl_buf_addch(b, (char)c) : BL_ENOMEM;
			i++;
		} else if (c < 0x20) {
			rc = bl_buf_addf(b, "\\u%04x", c);
			i++;
		} else {
			/* a run of bytes that need no escape, in one append */
			size_t j = i + 1, end = good < len ? good : len;
			while (j < end && (unsigned char)s[j] >= 0x20 && s[j] != '"' && s[j] != '\\')
				j++;
			rc = bl_buf_add(b, s + i, j - i);
			i = j;
		}
	}
	if (rc == BL_OK)
		rc = bl_buf_addch(b, '"');
	return rc;
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

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return -1;
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = -1;
	close(fd);
	return rc;
}

/* Write data to path, fsync, close. */
static int write_file(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "wb");
	int ok;
	if (!f) {
		snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
		return BL_FAILED;
	}
	ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
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

static int load_shards(sqlite3 *db, struct in_shard **out, size_t *nout, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct in_shard *s = NULL, *ns;
	size_t n = 0, alloc = 0;
	int rc = BL_FAILED, src;

	if (sqlite3_prepare_v2(db, "SELECT id, path, size, (SELECT count(*) FROM samples "
			       "WHERE shard_id = shards.id), mtime FROM shards ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "reading shards: %s", sqlite3_errmsg(db));
		goto out;
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			if (!(ns = realloc(s, alloc * sizeof *s))) {
				snprintf(err, errlen, "out of memory");
				rc = BL_ENOMEM;
				goto out;
			}
			s = ns;
		}
		memset(&s[n], 0, sizeof s[n]);
		s[n].id = sqlite3_column_int64(st, 0);
		s[n].path = strdup((const char *)sqlite3_column_text(st, 1) ?
				   (const char *)sqlite3_column_text(st, 1) : "");
		s[n].size = sqlite3_column_type(st, 2) == SQLITE_NULL ? -1 :
			    sqlite3_column_int64(st, 2);
		s[n].samples = sqlite3_column_int64(st, 3);
		s[n].mtime_ns = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 :
				sqlite3_column_int64(st, 4);
		if (!s[n].path) {
			snprintf(err, errlen, "out of memory");
			rc = BL_ENOMEM;
			n++;
			goto out;
		}
		n++;
	}
	if (src != SQLITE_DONE) {
		snprintf(err, errlen, "reading shards: %s", sqlite3_errmsg(db));
		goto out;
	}
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	if (rc != BL_OK) {
		free_shards(s, n);
		s = NULL;
		n = 0;
	}
	*out = s;
	*nout = n;
	return rc;
}

static char *meta_value(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = NULL;
	char *v = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			v = strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return v;
}

/* ---- manifest.json ----------------------------------------------------- */

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
			cJSON_AddItemToArray(l, cJSON_CreateString(nm));
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
	sqlite3 *db = bl_index_db(ix);
	cJSON *o = cJSON_CreateObject(), *x, *arr;
	char *rules = meta_value(db, "rules_digest"), *out = NULL, name[48];

	if (!o)
		goto out;
	cJSON_AddStringToObject(o, "format", "ballast-manifest");
	cJSON_AddNumberToObject(o, "format_version", BL_MANIFEST_FORMAT);
	cJSON_AddStringToObject(o, "tool", "ballast " BALLAST_VERSION);
	{
		/* the index it was made from, absolute, so that 'ballast report
		 * --manifest' finds it from anywhere */
		char *abs = realpath(ix->path, NULL);
		cJSON_AddStringToObject(o, "index", abs ? abs : ix->path);
		free(abs);
	}
	x = cJSON_AddObjectToObject(o, "policy");
	cJSON_AddStringToObject(x, "path", bl_policy_name(p));
	cJSON_AddStringToObject(x, "sha256", bl_policy_digest(p));
	cJSON_AddStringToObject(x, "text", bl_policy_text(p));
	cJSON_AddNumberToObject(o, "seed", (double)bl_rebalance_seed(rb));
	cJSON_AddStringToObject(o, "realise", bl_realise_name(bl_policy_realise(p)));
	if (rules)
		cJSON_AddStringToObject(o, "rules_digest", rules);
	else
		cJSON_AddNullToObject(o, "rules_digest");
	arr = cJSON_AddArrayToObject(o, "labels");
	for (int i = 0; i < bl_index_nlabels(ix); i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(bl_index_label(ix, i)));
	arr = cJSON_AddArrayToObject(o, "inputs");
	for (size_t i = 0; i < nsh; i++) {
		cJSON *e = cJSON_CreateObject();
		snprintf(name, sizeof name, "shards/%05zu.jsonl", i);
		cJSON_AddNumberToObject(e, "shard", (double)i);
		cJSON_AddStringToObject(e, "path", sh[i].path);
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
	x = cJSON_Parse(bl_rebalance_summary_json(rb));
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

int bl_manifest_write(bl_rebalance *rb, bl_index *ix, const char *outdir,
		      const bl_manifest_options *opts, char *err, size_t errlen)
{
	bl_manifest_options none = {0};
	struct in_shard *sh = NULL;
	size_t nsh = 0;
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	bl_buf tmp, line, path, old, shfrag;
	memo *weights = calloc(1, sizeof *weights), *labelsets = calloc(1, sizeof *labelsets);
	FILE *f = NULL;
	char *json = NULL, dummy[1];
	uint64_t done_samples = 0;
	int rc = BL_FAILED, src, made_tmp = 0, moved_old = 0;
	struct stat sb;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	bl_buf_init(&tmp, 8192);
	bl_buf_init(&path, 8192);
	bl_buf_init(&old, 8192);
	bl_buf_init(&line, 1 << 20);
	bl_buf_init(&shfrag, 256);
	if (!opts)
		opts = &none;
	if (!rb || !ix || !(db = bl_index_db(ix))) {
		snprintf(err, errlen, "bad arguments");
		rc = BL_EUSAGE;
		goto out;
	}
	if (outdir) {
		if (stat(outdir, &sb) == 0 && !opts->force) {
			snprintf(err, errlen, "'%s' exists (use --force to replace it)", outdir);
			goto out;
		}
		if (bl_buf_addf(&tmp, "%s.tmp-XXXXXX", outdir) != BL_OK)
			goto nomem;
		if (!mkdtemp(tmp.buf)) {
			snprintf(err, errlen, "cannot create '%s': %s", tmp.buf, strerror(errno));
			goto out;
		}
		made_tmp = 1;
		{
			/* mkdtemp makes it 0700; a manifest is as readable as
			 * any file the user creates */
			mode_t um = umask(0);
			umask(um);
			chmod(tmp.buf, 0777 & ~um);
		}
		bl_buf_reset(&path);
		bl_buf_addf(&path, "%s/shards", tmp.buf);
		if (mkdir(path.buf, 0777) != 0) {
			snprintf(err, errlen, "cannot create '%s': %s", path.buf, strerror(errno));
			goto out;
		}
	}
	if ((rc = load_shards(db, &sh, &nsh, err, errlen)) != BL_OK)
		goto out;
	rc = BL_FAILED;
	bl_rebalance_reset(rb);
	if (sqlite3_prepare_v2(db, "SELECT ordinal, key, offset, labels, bits FROM samples "
			       "WHERE shard_id = ?1 ORDER BY ordinal", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "reading samples: %s", sqlite3_errmsg(db));
		goto out;
	}
	for (size_t i = 0; i < nsh; i++) {
		if (outdir) {
			bl_buf_reset(&path);
			bl_buf_addf(&path, "%s/shards/%05zu.jsonl", tmp.buf, i);
			if (!(f = fopen(path.buf, "wb"))) {
				snprintf(err, errlen, "cannot create '%s': %s", path.buf,
					 strerror(errno));
				goto out;
			}
		}
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, sh[i].id);
		bl_buf_reset(&line);
		bl_buf_reset(&shfrag);
		bl_buf_adds(&shfrag, ",\"shard\":");
		json_str(&shfrag, sh[i].path, strlen(sh[i].path));
		bl_buf_adds(&shfrag, ",\"ordinal\":");
		while ((src = sqlite3_step(st)) == SQLITE_ROW) {
			uint64_t ord = (uint64_t)sqlite3_column_int64(st, 0);
			const char *key = (const char *)sqlite3_column_text(st, 1);
			int klen = sqlite3_column_bytes(st, 1);
			int64_t off = sqlite3_column_int64(st, 2);
			const char *labels = (const char *)sqlite3_column_text(st, 3);
			int llen = sqlite3_column_bytes(st, 3);
			const void *bits = sqlite3_column_blob(st, 4);
			size_t nb = (size_t)sqlite3_column_bytes(st, 4);
			double w;
			int r = bl_rebalance_next(rb, bits, nb, sh[i].id, ord, &w);

			done_samples++;
			if (r != BL_OK) {
				snprintf(err, errlen, "%s", bl_rebalance_errmsg(rb));
				goto out;
			}
			if (w <= 0)
				continue;
			sh[i].written++;
			if (!outdir)
				continue;
			bl_buf_adds(&line, "{\"key\":");
			json_str(&line, key ? key : "", key ? (size_t)klen : 0);
			bl_buf_add(&line, shfrag.buf, shfrag.len);
			add_u64(&line, ord);
			bl_buf_adds(&line, ",\"offset\":");
			add_i64(&line, off);
			bl_buf_adds(&line, ",\"weight\":");
			add_memo(weights, &line, &w, sizeof w, fmt_weight);
			bl_buf_adds(&line, ",\"labels\":");
			add_memo(labelsets, &line, labels ? labels : "",
				 labels ? (size_t)llen : 0, fmt_labels);
			if (bl_buf_adds(&line, "}\n") != BL_OK)
				goto nomem;
			if (line.len > (1 << 19)) {
				if (fwrite(line.buf, 1, line.len, f) != line.len)
					goto write_err;
				bl_buf_reset(&line);
			}
		}
		if (src != SQLITE_DONE) {
			snprintf(err, errlen, "reading samples: %s", sqlite3_errmsg(db));
			goto out;
		}
		if (outdir) {
			if (fwrite(line.buf, 1, line.len, f) != line.len || fflush(f) != 0 ||
			    fsync(fileno(f)) != 0)
				goto write_err;
			int c = fclose(f);
			f = NULL;
			if (c != 0)
				goto write_err;
		}
		if (!opts->no_digest && sh[i].path[0])
			sh[i].has_digest = bl_sha256_file(sh[i].path, sh[i].digest) == BL_OK;
		if (opts->on_progress)
			opts->on_progress(opts->arg, i + 1, nsh, done_samples);
	}
	if ((rc = bl_rebalance_finish(rb)) != BL_OK) {
		snprintf(err, errlen, "%s", bl_rebalance_errmsg(rb));
		goto out;
	}
	rc = BL_FAILED;
	if (!outdir) {
		rc = BL_OK;
		goto out;
	}
	if (!(json = manifest_json(rb, ix, sh, nsh, opts->no_digest)))
		goto nomem;
	bl_buf_reset(&path);
	bl_buf_addf(&path, "%s/manifest.json", tmp.buf);
	if (write_file(path.buf, json, strlen(json), err, errlen) != BL_OK)
		goto out;
	bl_buf_reset(&path);
	bl_buf_addf(&path, "%s/shards", tmp.buf);
	if (fsync_path(path.buf) != 0 || fsync_path(tmp.buf) != 0) {
		snprintf(err, errlen, "cannot sync '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	/* swap into place: move an old OUTDIR aside, rename, remove the old */
	if (stat(outdir, &sb) == 0) {
		if (bl_buf_addf(&old, "%s.old", tmp.buf) != BL_OK)
			goto nomem;
		if (rename(outdir, old.buf) != 0) {
			snprintf(err, errlen, "cannot move '%s' aside: %s", outdir, strerror(errno));
			goto out;
		}
		moved_old = 1;
	}
	if (rename(tmp.buf, outdir) != 0) {
		snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp.buf, outdir,
			 strerror(errno));
		if (moved_old && rename(old.buf, outdir) == 0)
			moved_old = 0;
		goto out;
	}
	made_tmp = 0;
	if (moved_old)
		rm_tree(old.buf);
	moved_old = 0;
	{
		/* the rename is durable once the parent directory is synced */
		char *slash = strrchr(outdir, '/');
		bl_buf_reset(&path);
		if (slash)
			bl_buf_add(&path, outdir, slash == outdir ? 1 : (size_t)(slash - outdir));
		else
			bl_buf_addch(&path, '.');
		fsync_path(path.buf);
	}
	rc = BL_OK;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
	rc = BL_ENOMEM;
	goto out;
write_err:
	snprintf(err, errlen, "cannot write '%s': %s", path.buf, strerror(errno));
	rc = BL_FAILED;
out:
	if (f)
		fclose(f);
	sqlite3_finalize(st);
	if (made_tmp && rc != BL_OK)
		rm_tree(tmp.buf);
	free(json);
	free_shards(sh, nsh);
	bl_buf_release(&tmp);
	bl_buf_release(&path);
	bl_buf_release(&old);
	bl_buf_release(&line);
	bl_buf_release(&shfrag);
	memo_free(weights);
	memo_free(labelsets);
	return rc;
}

/* ---- reading ----------------------------------------------------------- */

/* a manifest line longer than this is damage, not an entry */
#define BL_MANIFEST_MAX_LINE ((size_t)1 << 20)

struct bl_manifest {
	char *dir;
	cJSON *root;
	bl_strlist lists;   /* jsonl paths, in shard order */
	size_t cur;
	FILE *f;
	uint64_t lineno;
	char *linebuf;
	size_t linecap;
	cJSON *row;
	int bare;           /* a bare .jsonl: no manifest.json, labels optional */
	bl_manifest_entry e;
	bl_buf labels, errmsg, field;
};

static int m_err(bl_manifest *m, int rc, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));

static int m_err(bl_manifest *m, int rc, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	bl_buf_reset(&m->errmsg);
	bl_buf_adds(&m->errmsg, msg);
	return rc;
}

void bl_manifest_free(bl_manifest *m)
{
	if (!m)
		return;
	if (m->f)
		fclose(m->f);
	cJSON_Delete(m->root);
	cJSON_Delete(m->row);
	bl_strlist_release(&m->lists);
	free(m->linebuf);
	free(m->dir);
	bl_buf_release(&m->labels);
	bl_buf_release(&m->errmsg);
	bl_buf_release(&m->field);
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
	bl_buf_init(&path, 8192);
	if (!m || !dir || !(m->dir = strdup(dir))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	bl_strlist_init(&m->lists);
	bl_buf_init(&m->labels, 0);
	bl_buf_init(&m->errmsg, 4096);
	bl_buf_init(&m->field, 0);
	{
		struct stat st;
		if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) {
			/* a bare list of entries: a manifest without manifest.json */
			m->bare = 1;
			if (!(m->root = cJSON_CreateObject()) ||
			    bl_strlist_add(&m->lists, dir) != BL_OK) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			ok = 1;
			goto out;
		}
	}
	bl_buf_addf(&path, "%s/manifest.json", dir);
	if (!(f = fopen(path.buf, "rb"))) {
		snprintf(err, errlen, "cannot open '%s': %s", path.buf, strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (bl_buf_add(&text, chunk, n) != BL_OK) {
			snprintf(err, errlen, "'%s' is too large", path.buf);
			goto out;
		}
	if (!(m->root = cJSON_ParseWithLength(text.buf, text.len))) {
		snprintf(err, errlen, "'%s' is not valid JSON", path.buf);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(m->root, "format_version");
	if (!cJSON_IsNumber(v) || v->valuedouble != BL_MANIFEST_FORMAT) {
		snprintf(err, errlen, "'%s': format_version is not %d", path.buf, BL_MANIFEST_FORMAT);
		goto out;
	}
	static const char *const required[] = {"format", "tool", "policy", "seed", "realise",
					       "inputs", "cells", "summary", "labels"};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (!cJSON_GetObjectItemCaseSensitive(m->root, required[i])) {
			snprintf(err, errlen, "'%s': missing field '%s'", path.buf, required[i]);
			goto out;
		}
	in = cJSON_GetObjectItemCaseSensitive(m->root, "inputs");
	if (!cJSON_IsArray(in)) {
		snprintf(err, errlen, "'%s': inputs is not an array", path.buf);
		goto out;
	}
	cJSON_ArrayForEach(e, in) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(e, "list");
		if (!cJSON_IsString(l) || strstr(l->valuestring, "..") || l->valuestring[0] == '/') {
			snprintf(err, errlen, "'%s': an input has no valid 'list'", path.buf);
			goto out;
		}
		bl_buf_reset(&path);
		bl_buf_addf(&path, "%s/%s", dir, l->valuestring);
		if (bl_strlist_add(&m->lists, path.buf) != BL_OK) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	ok = 1;
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

int bl_manifest_next(bl_manifest *m, const bl_manifest_entry **out)
{
	ssize_t got;
	const cJSON *k, *s, *o, *off, *w, *l, *x;

	if (!m || !out)
		return BL_EUSAGE;
	*out = NULL;
	for (;;) {
		if (!m->f) {
			if (m->cur >= m->lists.n)
				return BL_END;
			if (!(m->f = fopen(m->lists.items[m->cur], "rb")))
				return m_err(m, BL_FATAL, "cannot open '%s': %s",
					     m->lists.items[m->cur], strerror(errno));
			m->lineno = 0;
		}
		got = getline(&m->linebuf, &m->linecap, m->f);
		if (got >= 0) {
			m->lineno++;
			if (got > 1 || (got == 1 && m->linebuf[0] != '\n'))
				break;
			continue; /* blank lines are no entries */
		}
		fclose(m->f);
		m->f = NULL;
		m->cur++;
	}
	if ((size_t)got > BL_MANIFEST_MAX_LINE)
		return m_err(m, BL_FAILED, "'%s' line %llu: longer than %zu bytes",
			     m->lists.items[m->cur], (unsigned long long)m->lineno,
			     (size_t)BL_MANIFEST_MAX_LINE);
	cJSON_Delete(m->row);
	m->row = cJSON_ParseWithLength(m->linebuf, (size_t)got);
	k = cJSON_GetObjectItemCaseSensitive(m->row, "key");
	s = cJSON_GetObjectItemCaseSensitive(m->row, "shard");
	o = cJSON_GetObjectItemCaseSensitive(m->row, "ordinal");
	off = cJSON_GetObjectItemCaseSensitive(m->row, "offset");
	w = cJSON_GetObjectItemCaseSensitive(m->row, "weight");
	l = cJSON_GetObjectItemCaseSensitive(m->row, "labels");
	if (!m->row || !cJSON_IsString(k) || !cJSON_IsString(s) || !cJSON_IsNumber(o) ||
	    o->valuedouble < 0 || !cJSON_IsNumber(off) || !cJSON_IsNumber(w) ||
	    !(w->valuedouble >= 0) || !(cJSON_IsArray(l) || (m->bare && !l)))
		return m_err(m, BL_FAILED, "'%s' line %llu: not a manifest entry (needs key, "
			     "shard, ordinal, offset, weight >= 0, labels)",
			     m->lists.items[m->cur], (unsigned long long)m->lineno);
	bl_buf_reset(&m->labels);
	bl_buf_addch(&m->labels, ',');
	cJSON_ArrayForEach(x, l) {
		if (!cJSON_IsString(x))
			return m_err(m, BL_FAILED, "'%s' line %llu: a label is not a string",
				     m->lists.items[m->cur], (unsigned long long)m->lineno);
		bl_buf_adds(&m->labels, x->valuestring);
		bl_buf_addch(&m->labels, ',');
	}
	m->e.key = k->valuestring;
	m->e.shard = s->valuestring;
	m->e.ordinal = (uint64_t)o->valuedouble;
	m->e.offset = (int64_t)off->valuedouble;
	m->e.weight = w->valuedouble;
	m->e.labels = m->labels.buf;
	*out = &m->e;
	return BL_OK;
}

const char *bl_manifest_get(const bl_manifest *m, const char *field)
{
	const cJSON *v;
	bl_manifest *mm = (bl_manifest *)m;

	if (!m || !field || !(v = cJSON_GetObjectItemCaseSensitive(m->root, field)))
		return NULL;
	bl_buf_reset(&mm->field);
	if (cJSON_IsString(v))
		bl_buf_adds(&mm->field, v->valuestring);
	else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
		 fabs(v->valuedouble) < 9007199254740992.0)
		bl_buf_addf(&mm->field, "%.0f", v->valuedouble);
	else if (cJSON_IsNumber(v))
		bl_buf_addf(&mm->field, "%.17g", v->valuedouble);
	else {
		char *t = cJSON_PrintUnformatted(v);
		if (!t)
			return NULL;
		bl_buf_adds(&mm->field, t);
		free(t);
	}
	return mm->field.buf;
}

const char *bl_manifest_errmsg(const bl_manifest *m)
{
	return m && m->errmsg.len ? m->errmsg.buf : "no error";
}
