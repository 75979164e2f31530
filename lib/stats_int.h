/*
 * stats_int.h - what lib/stats.c offers the report alone.  Not part of the
 * public interface.
 */
#ifndef BL_STATS_INT_H
#define BL_STATS_INT_H

#include "ballast.h"

/* Count only rows having every label of all_of (NULL or empty: every
 * row); rows without are counted in bl_stats_totals.skipped only.  Only
 * before the first row.  BL_OK or BL_EUSAGE. */
int bl_stats_set_filter(bl_stats *st, const bl_labelset *all_of);

#endif
