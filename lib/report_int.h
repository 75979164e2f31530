/*
 * report_int.h - what lib/report.c (gathering, text, CSV, JSON) shares
 * with lib/report_html.c: the gathered report.  Not part of the public
 * interface.
 */
#ifndef BL_REPORT_INT_H
#define BL_REPORT_INT_H

#include "ballast.h"

struct bl_report_shard {
	int64_t id;
	char *path;
	int complete;
	uint64_t samples, errors, blocked;
	uint64_t *labels; /* per index label id */
};

struct bl_report_errkind {
	char *kind;
	uint64_t count;
};

struct bl_report {
	const bl_report_options *opt;
	const char *path;           /* index path (for titles) */
	bl_stats *all;              /* every sample, weight 1 */
	bl_stats *given;            /* samples with every --given label, or NULL */
	bl_strlist given_labels;
	int by_node;                /* node of --by in all, or -1 */
	int nl;
	struct bl_report_shard *shards;
	size_t nshards;
	uint64_t shards_complete;
	uint64_t samples, samples_with_errors, blocked, orphans;
	struct bl_report_errkind *errors;
	size_t nerrors;
	const bl_stats_skew *skew;
	size_t nskew;
};

/* 1 when node is a row of the --by table: a node strictly below the
 * family, or the family itself when nothing lies below it. */
int bl_report_by_row(const struct bl_report *r, int node);
/* "%.6g", or "" for NAN / infinities. */
void bl_report_num(char *out, size_t len, double x);

int bl_report_html(const struct bl_report *r, bl_buf *out);

#endif
