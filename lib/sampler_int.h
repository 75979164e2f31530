/*
 * sampler_int.h - what lib/sampler.c shares with lib/verify.c.  Not part
 * of the public interface.  "The rule above" is bl_sampler_open's, in
 * lib/ballast.h.
 */
#ifndef BL_SAMPLER_INT_H
#define BL_SAMPLER_INT_H

#include "ballast.h"

/* The path bl_sampler_open would read for a shard path as written in the
 * manifest at dir (the rule above), into out.  BL_OK, BL_ENOMEM. */
int bl_sampler_resolve_shard(const char *dir, const char *path, bl_buf *out);

/* bl_sampler_open, but a manifest whose lines do not match its record
 * (bl_manifest_check, or a shard and key listed twice) still opens: each
 * problem goes to on_problem and *nproblems (may be NULL) counts them
 * (ballast verify reports them with the rest).  on_problem NULL: the
 * first problem fails the open, as bl_sampler_open does. */
bl_sampler *bl_sampler_open_checked(const char *dir,
				    void (*on_problem)(void *arg, const char *msg), void *arg,
				    uint64_t *nproblems, char *err, size_t errlen);

#endif
