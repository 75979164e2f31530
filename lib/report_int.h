/*
 * report_int.h - the gathered numbers of a report (lib/report_gather.c)
 * and what the renderings share: report.c (the index's report in text,
 * CSV and JSON), report_manifest.c (a manifest's before and after) and
 * report_html.c (the HTML page of both) render these structures and call
 * report_gather.c and report_fmt.c (the toolkit), never each other but
 * for the HTML entry points.  Not part of the public interface.
 */
#ifndef BL_REPORT_INT_H
#define BL_REPORT_INT_H

#include "report_fmt_int.h"

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

/* A skew row corrected for the tagger's measured errors (an audit). */
struct bl_report_fix {
	bl_audit_fix rate, rest, rr, base, lift;
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
	uint64_t shards_damaged;    /* complete, but not read whole */
	uint64_t samples, samples_with_errors, blocked, orphans;
	struct bl_report_errkind *errors;
	size_t nerrors;
	const bl_stats_skew *skew;
	size_t nskew;
	/* samples.weight (ballast_weight of shards "ballast write" made) */
	int weighted;               /* some sample has a weight other than 1 */
	double weight_sum;
	/* captions the tagger could not read: labels under "caption." */
	int unread_node;            /* node "caption" of all, or -1 */
	/* the audit (opt->audit), when given */
	int audit_outcome;          /* audit node of the outcome family, or -1 */
	struct bl_report_fix *fix;  /* per skew row, when audit_outcome >= 0 */
	bl_audit_fix *nfix;         /* per node of all (status NONE: not audited) */
	bl_strlist notes;           /* what the reader must know (audit, weights) */
	bl_strlist warnings;        /* what makes numbers of it wrong: the
				     * index incomplete (first, when partial),
				     * bl_index_warnings, an audit that cannot
				     * be bound or left rows out */
	int partial;                /* warnings.items[0] says the index is
				     * incomplete (bl_index_partial_reason) */
};

/* The outcome family of the skew table, as the audit names it. */
#define BL_REPORT_OUTCOME "sexual"

/* ---- the before/after report of a manifest (bl_report_manifest_*) ---- */

/* A number of manifest.json's summary against the same number recomputed
 * from the index and the JSON lines.  manifest is NAN for checks that
 * compare whole distributions (recomputed is then the largest gap). */
struct bl_report_check {
	const char *name;   /* static text */
	double manifest, recomputed;
	int agree;
};

#define BL_REPORT_MAX_CHECKS 16

struct bl_report_mf {
	const char *name;            /* the manifest directory, for titles */
	const bl_report_options *opt;
	bl_report_options bopt;      /* opt without --by and --given */
	struct bl_report before;     /* the index, every sample weight 1 */
	bl_stats *after;             /* the manifest lines, weighted */
	const bl_stats_skew *skew;   /* after's skew table */
	size_t nskew;
	char *policy_path, *policy_text, *policy_sha, *realise, *seed;
	bl_rb_summary sum;           /* manifest.json's summary */
	/* recomputed from the JSON lines */
	uint64_t lines, repeated_re;
	double copies_re, max_w_re, min_w_re;
	struct bl_report_check checks[BL_REPORT_MAX_CHECKS];
	size_t nchecks;
	int agree;                   /* every check agrees */
	bl_strlist warnings;         /* what makes before against after wrong:
				      * the index's own (bl_index_warnings),
				      * an index rescanned with other rules
				      * than the manifest's; each fails it */
	bl_strlist notes;            /* labels the index lacks, ... */
};

/* ---- gathering (lib/report_gather.c) ---- */

/* Gather the report of ix under opt into r (zeroed, given_labels
 * initialised by the caller).  BL_OK; BL_FAILED (an unknown --by family or
 * --given label, an index error) or BL_ENOMEM, with a message in err.
 * Release r with bl_report_release either way. */
int bl_report_gather(struct bl_report *r, bl_index *ix, const bl_report_options *opt,
		     char *err, size_t errlen);
void bl_report_release(struct bl_report *r);
/* 1 when node is a row of the --by table: a node strictly below the
 * family, or the family itself when nothing lies below it. */
int bl_report_by_row(const struct bl_report *r, int node);
/* The cell a headline leads with: not small, within a gender when one
 * is, the largest rate ratio whose 95% interval lies above 1; NULL when
 * none.  *at (may be NULL) gets its index. */
const bl_stats_skew *bl_report_top_cell(const bl_stats_skew *v, size_t n, size_t *at);

/* Gather the before/after report of manifest m against ix into mf (zeroed,
 * its strlists initialised, name and opt set by the caller).  BL_OK;
 * BL_FAILED with a message in err (a damaged manifest, one of another
 * index); BL_ENOMEM.  Release mf with bl_report_mf_release either way. */
int bl_report_mf_gather(struct bl_report_mf *mf, bl_index *ix, bl_manifest *m, char *err,
			size_t errlen);
void bl_report_mf_release(struct bl_report_mf *mf);
/* The after row of the same cell as a before row, or NULL. */
const bl_stats_skew *bl_report_mf_after(const struct bl_report_mf *mf,
					const bl_stats_skew *before);
/* 1 when the manifest's plan passed its checks, its summary agrees with
 * its lines and the index, and nothing makes before and after disagree
 * (no warning). */
int bl_report_mf_ok(const struct bl_report_mf *mf);

/* ---- HTML (lib/report_html.c) ---- */

/* The page of a gathered report / of a manifest's before and after,
 * appended to out.  BL_OK, BL_ENOMEM, or as bl_buf_add. */
int bl_report_html(const struct bl_report *r, bl_buf *out);
int bl_report_html_manifest(const struct bl_report_mf *mf, bl_buf *out);
/* A conservative width in pixels of s set in a sans-serif font of px
 * pixels (DejaVu Sans Bold advances; a full em for non-ASCII). */
double bl_report_text_width(const char *s, double px);

#endif
