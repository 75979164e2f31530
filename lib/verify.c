/*
 * verify.c - check a manifest against the shards it points into, before
 * anything consumes it.
 *
 * Two checks.  The shards (bl_verify_shards): every shard the manifest
 * reads is a regular file ("-" or a FIFO would hang a reader) with the
 * size, modification time and SHA-256 the manifest recorded, so that a
 * shard replaced after rebalancing is refused instead of being read under
 * the old labels.  write, export and train call it before reading; verify
 * calls it too.  The entries (bl_verify_manifest): the lines are those
 * manifest.json records (bl_sampler_open_checked: as many in each file as
 * it says were written, no sample listed twice, weights of the form its
 * "realise" says; the consumers' bl_sampler_open refuses what this
 * reports), and every entry's key stands at its recorded ordinal and
 * offset.
 *
 * Paths and order are those of every consumer: the manifest is loaded by
 * bl_sampler_open (relative shard paths resolved as it resolves them, so
 * verify succeeds from any directory where train and write do), and the
 * entries are walked in (shard, ordinal) order by the exports' walk, so
 * the order of the lines does not matter.  Each shard is read once, as a
 * stream.
 */
#include "sampler_int.h"
#include "error_int.h"
#include "ballast.h"
#include "export_int.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct vctx {
	const bl_verify_options *o;
	bl_verify_totals *t;
	char msg[2048];
};

static void problem(struct vctx *v, const char *fmt, ...) __attribute__((format(__printf__, 2, 3)));

static void problem(struct vctx *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bl_error_vset(v->msg, sizeof v->msg, fmt, ap);
	va_end(ap);
	if (v->o && v->o->on_error)
		v->o->on_error(v->o->arg, v->msg);
}

/* What manifest.json recorded of one shard. */
struct record {
	const char *path;    /* resolved, as the sampler has it */
	double size;         /* -1: not recorded */
	int64_t mtime_ns;    /* -1: not recorded */
	const char *sha256;  /* NULL: not recorded */
};

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct record *)a)->path, ((const struct record *)b)->path);
}

/* Check one shard; 1 when it may be read. */
static int check_one(struct vctx *v, const char *path, const struct record *rec, int level)
{
	struct stat st;
	char hex[65];
	int64_t mt;

	if (!strcmp(path, "-")) {
		problem(v, "shard '-': standard input cannot be a manifest's shard (refused)");
		return 0;
	}
	if (stat(path, &st) != 0) {
		problem(v, "shard '%s': %s", path, strerror(errno));
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		problem(v, "shard '%s' is not a regular file (a FIFO, device or directory "
			"is not read; refused)", path);
		return 0;
	}
	if (level == BL_CHECK_NONE || !rec)
		return 1;
	if (rec->size >= 0 && (double)st.st_size != rec->size) {
		problem(v, "shard '%s': %lld bytes on disk, %.0f in the manifest (the shard "
			"changed since the manifest was written)", path, (long long)st.st_size,
			rec->size);
		return 0;
	}
	mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	/* quick: an unchanged mtime is trusted; a changed one is settled by
	 * the digest (a copy or a touch keeps the bytes) */
	if (level == BL_CHECK_QUICK && rec->mtime_ns >= 0 && mt == rec->mtime_ns)
		return 1;
	if (!rec->sha256) {
		if (rec->mtime_ns >= 0 && mt != rec->mtime_ns) {
			problem(v, "shard '%s' was modified since the manifest was written "
				"(mtime), and the manifest has no SHA-256 to tell whether its "
				"bytes changed", path);
			return 0;
		}
		return 1;
	}
	v->t->digests++;
	if (bl_sha256_file(path, hex) != BL_OK) {
		problem(v, "shard '%s': cannot read: %s", path, strerror(errno));
		return 0;
	}
	if (strcmp(hex, rec->sha256) != 0) {
		problem(v, "shard '%s': SHA-256 %.16s… differs from the manifest's %.16s… "
			"(the shard changed since the manifest was written)", path, hex,
			rec->sha256);
		return 0;
	}
	return 1;
}

/* BL_CHECK_AUTO: the digest where it is cheap, up to 1 GiB of shards. */
static int auto_level(const bl_sampler *s)
{
	double total = 0;
	struct stat st;

	for (size_t i = 0; i < bl_sampler_nshards(s); i++)
		if (stat(bl_sampler_shard(s, i), &st) == 0)
			total += (double)st.st_size;
	return total <= (double)(1 << 30) ? BL_CHECK_FULL : BL_CHECK_QUICK;
}

int bl_verify_shards(const char *manifest, const bl_sampler *s, int level,
		     const bl_verify_options *opts, bl_verify_totals *totals, char *err,
		     size_t errlen)
{
	struct vctx v;
	bl_verify_totals t;
	bl_manifest *m = NULL;
	cJSON *in = NULL, *e;
	struct record *recs = NULL;
	size_t nrec = 0, ns;
	bl_buf res;
	const char *text;
	char dummy[1];
	int rc = BL_ENOMEM;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!manifest || !s || level < BL_CHECK_FULL || level > BL_CHECK_AUTO)
		return BL_EUSAGE;
	if (level == BL_CHECK_AUTO)
		level = auto_level(s);
	memset(&t, 0, sizeof t);
	memset(&v, 0, sizeof v);
	v.o = opts;
	v.t = &t;
	bl_buf_init(&res, 0);
	ns = bl_sampler_nshards(s);
	/* the records of manifest.json (none for a bare .jsonl) */
	m = bl_manifest_open(manifest, err, errlen);
	if (!m) {
		rc = BL_FATAL;
		goto out;
	}
	text = bl_manifest_get(m, "inputs");
	in = text ? cJSON_Parse(text) : NULL;
	recs = calloc((size_t)cJSON_GetArraySize(in) + 1, sizeof *recs);
	if (!recs) {
		bl_error_set(err, errlen, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(e, in) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path");
		const cJSON *sz = cJSON_GetObjectItemCaseSensitive(e, "size");
		const cJSON *mt = cJSON_GetObjectItemCaseSensitive(e, "mtime_ns");
		const cJSON *dg = cJSON_GetObjectItemCaseSensitive(e, "sha256");
		char *path;
		if (!cJSON_IsString(p))
			continue;
		if (bl_sampler_resolve_shard(manifest, p->valuestring, &res) != BL_OK ||
		    !(path = strdup(res.buf))) {
			bl_error_set(err, errlen, "out of memory");
			goto out;
		}
		recs[nrec].path = path;
		recs[nrec].size = cJSON_IsNumber(sz) ? sz->valuedouble : -1;
		recs[nrec].mtime_ns = cJSON_IsString(mt) ? strtoll(mt->valuestring, NULL, 10) : -1;
		recs[nrec].sha256 = cJSON_IsString(dg) ? dg->valuestring : NULL;
		nrec++;
	}
	qsort(recs, nrec, sizeof *recs, cmp_path);
	/* every shard the manifest reads, against its one record (a manifest
	 * whose lines name a shard with none, or with two, was edited:
	 * bl_sampler_open refuses it, and so does this) */
	for (size_t i = 0; i < ns; i++) {
		struct record key = {bl_sampler_shard(s, i), 0, 0, NULL};
		const struct record *rec = bsearch(&key, recs, nrec, sizeof *recs, cmp_path);
		t.shards++;
		if (in && !rec) {
			problem(&v, "shard '%s' has no input record in manifest.json (its size "
				"and digest were never recorded: the manifest was edited; refused)",
				key.path);
			t.shards_bad++;
		} else if (rec && ((rec > recs && !cmp_path(rec - 1, rec)) ||
				   (rec + 1 < recs + nrec && !cmp_path(rec + 1, rec)))) {
			problem(&v, "shard '%s' has more than one input record in manifest.json "
				"(the manifest was edited; refused)", key.path);
			t.shards_bad++;
		} else if (!check_one(&v, key.path, rec, level)) {
			t.shards_bad++;
		}
	}
	rc = t.shards_bad ? BL_FAILED : BL_OK;
	if (rc == BL_FAILED)
		bl_error_set(err, errlen, "%" PRIu64 " of %" PRIu64 " shards do not match the "
			 "manifest", t.shards_bad, t.shards);
out:
	for (size_t i = 0; recs && i < nrec; i++)
		free((char *)recs[i].path);
	free(recs);
	cJSON_Delete(in);
	bl_manifest_free(m);
	bl_buf_release(&res);
	if (totals) {
		totals->shards = t.shards;
		totals->shards_bad = t.shards_bad;
		totals->digests = t.digests;
	}
	return rc;
}

/* An entry against the sample at its ordinal. */
static int check_entry(void *ctx, size_t idx, const bl_entry *e, const bl_sample *smp,
		       const char *why)
{
	struct vctx *v = ctx;

	(void)idx;
	v->t->entries++;
	if (!smp) {
		problem(v, "%s, where the manifest has key '%s'", why, e->key);
	} else if (strcmp(smp->key, e->key) != 0 || smp->offset != e->offset) {
		problem(v, "shard '%s' sample %" PRIu64 ": key '%s' at offset %" PRId64 ", the "
			"manifest says '%s' at %" PRId64, e->shard, e->ordinal, smp->key,
			smp->offset, e->key, e->offset);
	} else {
		return BL_OK;
	}
	v->t->entries_bad++;
	return BL_FAILED;
}

/* A problem of the manifest's own lines (bl_sampler_open_checked). */
static void line_problem(void *ctx, const char *msg)
{
	problem(ctx, "%s", msg);
}

int bl_verify_manifest(const char *dir, const bl_verify_options *opts,
		       bl_verify_totals *totals, char *err, size_t errlen)
{
	struct vctx v;
	bl_sampler *s = NULL;
	uint64_t nlines_bad = 0;
	char dummy[1];
	int rc;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!dir || !totals)
		return BL_EUSAGE;
	memset(totals, 0, sizeof *totals);
	memset(&v, 0, sizeof v);
	v.o = opts;
	v.t = totals;
	s = bl_sampler_open_checked(dir, line_problem, &v, &nlines_bad, err, errlen);
	if (!s)
		return BL_FATAL;
	totals->manifest_bad = nlines_bad;
	if (opts && opts->on_plan_failed && bl_sampler_plan_failed(s))
		opts->on_plan_failed(opts->arg, bl_sampler_plan_failed(s));
	rc = bl_verify_shards(dir, s, opts && opts->no_digest ? BL_CHECK_QUICK : BL_CHECK_FULL,
			      opts, totals, err, errlen);
	if (rc != BL_OK && rc != BL_FAILED)
		goto out;
	rc = bl_export_walk(s, 0, NULL, check_entry, &v, err, errlen);
	if (rc != BL_OK)
		goto out;
	rc = totals->shards_bad || totals->entries_bad || totals->manifest_bad ? BL_FAILED
									       : BL_OK;
	if (rc == BL_FAILED && totals->manifest_bad)
		bl_error_set(err, errlen, "the manifest's lines do not match manifest.json (%"
			     PRIu64 " problem%s), and %" PRIu64 " of %" PRIu64 " shards and %"
			     PRIu64 " of %" PRIu64 " entries do not match their shards",
			     totals->manifest_bad, totals->manifest_bad == 1 ? "" : "s",
			     totals->shards_bad, totals->shards,
			     totals->entries_bad, totals->entries);
	else if (rc == BL_FAILED)
		bl_error_set(err, errlen, "%" PRIu64 " of %" PRIu64 " shards and %" PRIu64 " of %"
			 PRIu64 " entries do not match", totals->shards_bad, totals->shards,
			 totals->entries_bad, totals->entries);
out:
	bl_sampler_free(s);
	return rc == BL_OK || rc == BL_FAILED || rc == BL_FATAL ? rc : BL_FATAL;
}
