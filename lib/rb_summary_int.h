/*
 * rb_summary_int.h - the rebalance summary as a cJSON tree, for the
 * modules that put it in or take it out of manifest.json (lib/manifest.c)
 * without going through text, and the checks of a plan (lib/rb_check.c)
 * for the rebalancer.  Not part of the public interface.
 */
#ifndef BL_RB_SUMMARY_INT_H
#define BL_RB_SUMMARY_INT_H

#include "ballast.h"

#include <cJSON.h>

/* The summary as a new cJSON object (the caller deletes it), or NULL
 * without memory. */
cJSON *bl_rb_summary_cjson(const bl_rb_summary *s);
/* Read a summary from a cJSON object (as bl_rb_summary_parse). */
int bl_rb_summary_from_cjson(bl_rb_summary *s, const cJSON *o, char *err,
			     size_t errlen);

/*
 * Run the checks of a plan (lib/rb_check.c) on a filled summary and its
 * policy: append one bl_rb_check per finding and per check (the worst
 * case when it passes) and set s->ok.  BL_OK, BL_ENOMEM, BL_EUSAGE.
 */
int bl_rb_check_plan(bl_rb_summary *s, const bl_policy *p);
/*
 * Append a failed "index" check (BL_CHECK_INDEX) per sentence of problems
 * (bl_index_warnings of the index the plan read) and set s->ok.  Called
 * before bl_rb_check_plan, so that they come first.  BL_OK, BL_ENOMEM,
 * BL_EUSAGE.
 */
int bl_rb_check_index(bl_rb_summary *s, const bl_strlist *problems);

#endif
