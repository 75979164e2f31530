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

#endif
