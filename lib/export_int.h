/*
 * export_int.h - what lib/export.c shares with lib/verify.c: the walk of
 * a manifest's entries against its shards.
 */
#ifndef BL_EXPORT_INT_H
#define BL_EXPORT_INT_H

#include "ballast.h"

/*
 * Called for each entry of a loaded manifest, in (shard, ordinal) order,
 * whatever the order of the lines: smp is the sample standing at the
 * entry's ordinal (its key and offset may differ from the entry's: the
 * callback judges), or NULL when there is none, and then why says what
 * went wrong ("no sample 7", the reader's message, "not a regular
 * file").  idx is the entry's index in the sampler.  Return BL_OK or
 * BL_FAILED (an item: the walk goes on), anything else stops the walk and
 * is returned (the callback sets the message).
 */
typedef int (*bl_walk_fn)(void *ctx, size_t idx, const bl_entry *e,
			  const bl_sample *smp, const char *why);

/*
 * Walk the entries of s: each shard is opened once (only regular files:
 * "-", FIFOs and devices are refused for every entry of theirs) and read
 * as one stream with load flags `load` (BL_LOAD_*) and limits lim (NULL:
 * defaults).  The same sample may be listed more than once.  Returns
 * BL_OK, BL_ENOMEM (message in err), or what a callback returned to stop.
 */
int bl_export_walk(const bl_sampler *s, unsigned load, const bl_limits *lim,
		   bl_walk_fn fn, void *ctx, char *err, size_t errlen);

/* ---- what lib/export.c and lib/export_write.c share --------------------- */

#define BL_EXPORT_MARKER "ballast.json" /* in every output; --force looks for it */

/* An entry's place in the walk's order: (shard, ordinal, index). */
struct bl_export_ord {
	uint64_t ordinal;
	uint32_t shard;
	size_t idx;
};
int bl_export_cmp_ord(const void *a, const void *b);

/* A set of strings (open addressing; the strings are copied), compared
 * ASCII case-insensitively when fold. */
struct bl_nameset {
	char **slot;
	size_t cap, n;
	int fold;
};
int bl_export_nameset_has(const struct bl_nameset *ns, const char *s);
int bl_export_nameset_add(struct bl_nameset *ns, const char *s); /* BL_OK, BL_ENOMEM */
void bl_export_nameset_free(struct bl_nameset *ns);
/* name, or name_dN with the smallest N >= 1 in neither taken nor avoid
 * (may be NULL), into out and added to taken; *renamed when suffixed.
 * BL_OK, BL_ENOMEM. */
int bl_export_unique_name(struct bl_nameset *taken, const struct bl_nameset *avoid,
			  const char *name, bl_buf *out, int *renamed);

/* One export run: its options, totals, error slot and progress. */
struct bl_export_ctx {
	const bl_sampler *s;
	const bl_export_options *opt;
	bl_export_totals *tot;
	char *err;
	size_t errlen;
	uint64_t done, total; /* progress */
};
/* An entry not written: counted by reason (as failed unless rounded
 * away), reported through opt->on_error. */
void bl_export_item_error(struct bl_export_ctx *x, int reason, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));
/* One more item done of phase: opt->on_progress every 256 and at the end. */
void bl_export_progress(struct bl_export_ctx *x, const char *phase);
/* 1 when a walked entry's sample can be copied (found, same key, a safe
 * key, every member whole); else the item error is reported and 0. */
int bl_export_usable(struct bl_export_ctx *x, const bl_entry *e, const bl_sample *smp,
		     const char *why);
/* The reader limits for copying: members whole, up to 1 GiB. */
void bl_export_copy_limits(const bl_export_options *opt, bl_limits *lim);
/* The seed: opt's when given, else the manifest's, else 0. */
uint64_t bl_export_seed(const bl_sampler *s, const bl_export_options *opt);
/* OUTDIR/ballast.json (in d->tmp): the totals, skips by reason. */
int bl_export_record(const bl_file_dir *d, const char *command, const char *to,
		     const bl_sampler *s, uint64_t seed, const bl_export_totals *t, char *err,
		     size_t errlen);

#endif
