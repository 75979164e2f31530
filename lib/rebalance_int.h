/*
 * rebalance_int.h - the rebalancer's map and its cells, for the writer of
 * manifests (lib/manifest.c) and the report (lib/report_gather.c): the
 * public interface plans (bl_rebalance_plan) and writes
 * (bl_manifest_write).  Not part of the public interface.
 */
#ifndef BL_REBALANCE_INT_H
#define BL_REBALANCE_INT_H

#include "ballast.h"

/*
 * The map, for one sample: bits/nbits as in samples.bits, and its shard id
 * and ordinal (the random stream is (seed, shard_id, ordinal), so the
 * result never depends on order or threads).  *weight gets the manifest
 * weight: the fractional weight, the integer count (upsample) or 1
 * (downsample); 0 means the sample is not written.  The realised totals
 * are accumulated in the handle (one thread per handle).
 * Returns BL_OK or BL_EUSAGE (before a successful plan).
 */
int bl_rebalance_next(bl_rebalance *rb, const void *bits, size_t nbits,
		      int64_t shard_id, uint64_t ordinal, double *weight);
/* Forget the realised totals (to run the map again). */
void bl_rebalance_reset(bl_rebalance *rb);
/*
 * Close the realisation: compute the after-side of the summary.  Returns
 * BL_OK, BL_ENOMEM.  The summary (owned by the handle) holds totals,
 * label shares and the skew table before and after, and per rule its
 * declared target and what was achieved; see manifests/FORMAT.md.
 */
int bl_rebalance_finish(bl_rebalance *rb);
/* The cells of the plan, and its policy. */
size_t bl_rebalance_ncells(const bl_rebalance *rb);
const bl_rb_cell *bl_rebalance_cell(const bl_rebalance *rb, size_t i);
const bl_policy *bl_rebalance_policy(const bl_rebalance *rb);

#endif
