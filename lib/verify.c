/*
 * verify.c - check a manifest against the shards it points into, before a
 * long training run finds out the hard way: every input shard exists with
 * the size (and, unless skipped, the SHA-256) the manifest recorded, and
 * every entry's key stands at its recorded ordinal and byte offset.  Each
 * shard is read once, as a stream, in step with its entries (entries are
 * in shard order), so any shard the reader opens can be verified, and
 * memory stays flat.
 */
#include "ballast.h"

#include <cJSON.h>
#include <errno.h>
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
	vsnprintf(v->msg, sizeof v->msg, fmt, ap);
	va_end(ap);
	if (v->o && v->o->on_error)
		v->o->on_error(v->o->arg, v->msg);
}

/* The shards: they exist, with the recorded size and digest. */
static void check_inputs(struct vctx *v, const bl_manifest *m)
{
	const char *text = bl_manifest_get(m, "inputs");
	cJSON *in = text ? cJSON_Parse(text) : NULL, *e;

	cJSON_ArrayForEach(e, in) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path");
		const cJSON *sz = cJSON_GetObjectItemCaseSensitive(e, "size");
		const cJSON *dg = cJSON_GetObjectItemCaseSensitive(e, "sha256");
		struct stat st;
		char hex[65];
		int bad = 0;

		if (!cJSON_IsString(p))
			continue;
		v->t->shards++;
		if (stat(p->valuestring, &st) != 0) {
			problem(v, "shard '%s': %s", p->valuestring, strerror(errno));
			v->t->shards_bad++;
			continue;
		}
		if (cJSON_IsNumber(sz) && (double)st.st_size != sz->valuedouble) {
			problem(v, "shard '%s': %lld bytes on disk, %.0f in the manifest",
				p->valuestring, (long long)st.st_size, sz->valuedouble);
			bad = 1;
		}
		if (!bad && cJSON_IsString(dg) && !(v->o && v->o->no_digest)) {
			v->t->digests++;
			if (bl_sha256_file(p->valuestring, hex) != BL_OK) {
				problem(v, "shard '%s': cannot read: %s", p->valuestring,
					strerror(errno));
				bad = 1;
			} else if (strcmp(hex, dg->valuestring) != 0) {
				problem(v, "shard '%s': SHA-256 %.16s… differs from the "
					"manifest's %.16s… (the shard changed since the scan)",
					p->valuestring, hex, dg->valuestring);
				bad = 1;
			}
		}
		v->t->shards_bad += (uint64_t)bad;
	}
	cJSON_Delete(in);
}

/* Advance the reader to the sample of ordinal `want`; the sample or NULL. */
static const bl_sample *seek_ordinal(bl_reader *r, int *open_ok, uint64_t want)
{
	const bl_sample *s;
	int rc;

	while (*open_ok && (rc = bl_reader_next(r, &s)) != BL_END) {
		if (rc == BL_OK || rc == BL_WARN) {
			if (s->ordinal == want)
				return s;
			if (s->ordinal > want)
				return NULL;
		} else if (rc == BL_FATAL || rc < BL_FATAL) {
			*open_ok = 0;
		}
	}
	return NULL;
}

int bl_verify_manifest(const char *dir, const bl_verify_options *opts,
		       bl_verify_totals *totals, char *err, size_t errlen)
{
	struct vctx v;
	bl_manifest *m;
	bl_reader *r = NULL;
	const bl_manifest_entry *e;
	char *cur = NULL;
	int rc = BL_FATAL, open_ok = 0, mrc;
	char dummy[1];

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
	m = bl_manifest_open(dir, err, errlen);
	if (!m)
		return BL_FATAL;
	r = bl_reader_new();
	if (!r || bl_reader_set_load(r, 0) != BL_OK) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	check_inputs(&v, m);
	while ((mrc = bl_manifest_next(m, &e)) != BL_END) {
		const bl_sample *s;
		if (mrc != BL_OK) {
			problem(&v, "%s", bl_manifest_errmsg(m));
			totals->entries_bad++;
			continue;
		}
		totals->entries++;
		if (!cur || strcmp(cur, e->shard) != 0) {
			free(cur);
			cur = strdup(e->shard);
			if (!cur) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			open_ok = bl_reader_open(r, e->shard) == BL_OK;
			if (!open_ok)
				problem(&v, "%s", bl_reader_errmsg(r));
		}
		s = seek_ordinal(r, &open_ok, e->ordinal);
		if (!s) {
			problem(&v, "shard '%s': no sample %llu (key '%s') where the manifest "
				"says", e->shard, (unsigned long long)e->ordinal, e->key);
			totals->entries_bad++;
		} else if (strcmp(s->key, e->key) != 0 || s->offset != e->offset) {
			problem(&v, "shard '%s' sample %llu: key '%s' at offset %lld, the "
				"manifest says '%s' at %lld", e->shard,
				(unsigned long long)e->ordinal, s->key, (long long)s->offset,
				e->key, (long long)e->offset);
			totals->entries_bad++;
		}
	}
	rc = totals->shards_bad || totals->entries_bad ? BL_FAILED : BL_OK;
	if (rc == BL_FAILED)
		snprintf(err, errlen, "%llu of %llu shards and %llu of %llu entries do not match",
			 (unsigned long long)totals->shards_bad, (unsigned long long)totals->shards,
			 (unsigned long long)totals->entries_bad,
			 (unsigned long long)totals->entries);
out:
	free(cur);
	bl_reader_free(r);
	bl_manifest_free(m);
	return rc;
}
