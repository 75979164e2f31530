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

#endif
