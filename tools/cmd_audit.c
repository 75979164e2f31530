/*
 * cmd_audit.c - "ballast audit": draw a review sheet from an index, and
 * (through "ballast eval SHEET", which hands a filled sheet here) score
 * it: how far to trust the tags on the user's own data.  The sampling,
 * the sheet format and the estimators are in lib/audit.c.
 */
#include "tools.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_audit[] =
	"usage: ballast audit INDEX.db [-o SHEET.tsv] [--html SHEET.html]\n"
	"                     [--label LABELS]... [--design stratified|tagged|simple]\n"
	"                     [--per-stratum N] [--samples N] [--seed S] [--no-images]\n"
	"                     [--title TEXT]\n"
	"       ballast eval SHEET.tsv [--json]      (score a filled sheet)\n"
	"\n"
	"How far to trust the tags on YOUR data.  Draws a seeded random sample\n"
	"of captions from an index and writes a review sheet: a TSV with one row\n"
	"per judgement (a caption and the label to judge) and an empty\n"
	"'judgement' column, and optionally a self-contained HTML page showing\n"
	"the same rows with their captions (and images, from plain tar shards).\n"
	"A person writes y (the label applies, as TAXONOMY.md defines it) or n\n"
	"in each judgement cell, or leaves it empty; 'ballast eval SHEET.tsv'\n"
	"then gives, per label, precision, recall (sensitivity), specificity\n"
	"and the share corrected for them, with 95% intervals; 'ballast report\n"
	"INDEX.db --audit SHEET.tsv' shows every rate it can correct beside the\n"
	"raw one.\n"
	"\n"
	"Designs:\n"
	"  stratified (default)  for each label, up to N samples it was given\n"
	"                    ('tagged') and up to N it was not ('untagged'):\n"
	"                    precision from the first, missed labels from the\n"
	"                    second; the strata sizes are on every row, so recall,\n"
	"                    specificity and the true share follow even for rare\n"
	"                    labels.  Rare labels need many untagged rows: the\n"
	"                    interval says how many were enough.\n"
	"  tagged            the tagged stratum only: precision, nothing else.\n"
	"  simple            --samples samples from the whole index, each judged\n"
	"                    for every label (recall straight from the sample).\n"
	"Samples are shuffled (seeded) and the tagger's decision is only in the\n"
	"'stratum' column at the end (not on the HTML page): judge before\n"
	"looking at it.  Rows left empty count as not drawn.\n"
	"\n"
	"  -o, --output FILE  the TSV sheet (through FILE.tmp, fsync, rename);\n"
	"                     default standard output\n"
	"  --html FILE        also the HTML page for reading the rows\n"
	"  --label LABELS     labels or families to audit, comma separated,\n"
	"                     repeatable ('sexual' is any sexual.* label).\n"
	"                     Default: sexual, and every gender.* and group.*\n"
	"                     label (what the skew table rests on)\n"
	"  --design D         stratified, tagged or simple (see above)\n"
	"  --per-stratum N    rows per stratum (25)\n"
	"  --samples N        simple design: samples drawn (200)\n"
	"  --seed S           the draw's seed (0); the same index and seed give\n"
	"                     the same sheet\n"
	"  --no-images        no images on the HTML page (images are never shown\n"
	"                     for samples tagged age.* or safety.*)\n"
	"  --title TEXT       title of the HTML page\n"
	"\n"
	"Scoring (ballast eval SHEET.tsv, recognised from its first lines): per\n"
	"label, rows judged tagged and untagged, precision (Wilson 95%), NPV,\n"
	"recall and specificity, the observed and the corrected share\n"
	"(Rogan-Gladen), with 95% intervals from 4000 seeded draws (Jeffreys\n"
	"Beta per stratum, finite-population corrected).  'too small' means a\n"
	"stratum has fewer than 10 judged rows or the interval is unbounded;\n"
	"'undefined' means Se + Sp <= 1.  --json prints one object.\n"
	"Rows that cannot be used are left out, each named on stderr with its\n"
	"line, and a WARNING at the top of the output counts them (JSON\n"
	"\"warnings\"): a judgement that is not y or n, a stratum_size or\n"
	"stratum_drawn unlike an earlier row's, more rows of a stratum than its\n"
	"stratum_drawn, a row twice (the audit_row of an earlier row, or its\n"
	"shard, ordinal and label: the first stands).  Keep the sheet's first\n"
	"line: 'report --audit' checks the rules it records against the index's\n"
	"(without it: a WARNING and exit 1).\n"
	"\n"
	"Exit status: 0 written (or scored), 1 scored but some rows could not\n"
	"be used, 2 usage, 3 fatal.\n";

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end || errno)
		return -1;
	*out = v;
	return 0;
}

static int write_out(const char *path, const bl_buf *b)
{
	char err[512];

	if (!path || !strcmp(path, "-"))
		return tool_write_stdout(b);
	if (bl_file_write_atomic(path, b->buf, b->len, err, sizeof err) != BL_OK) {
		tool_err("%s", err);
		return -1;
	}
	return 0;
}

int cmd_audit(int argc, char **argv)
{
	bl_audit_options opt;
	bl_index *ix = NULL;
	bl_buf tsv, html, labels;
	const char *index = NULL, *output = NULL, *html_path = NULL;
	char err[1024];
	int rc = EXIT_FATAL;

	memset(&opt, 0, sizeof opt);
	opt.images = 1;
	bl_buf_init(&tsv, 0);
	bl_buf_init(&html, 0);
	bl_buf_init(&labels, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int takes = !strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--html") ||
			    !strcmp(a, "--label") || !strcmp(a, "--design") ||
			    !strcmp(a, "--per-stratum") || !strcmp(a, "--samples") ||
			    !strcmp(a, "--seed") || !strcmp(a, "--title");
		const char *v = NULL;
		if (takes) {
			if (i + 1 >= argc) {
				rc = tool_usage_error(usage_audit, "%s needs a value", a);
				goto out;
			}
			v = argv[++i];
		}
		if (v && (!strcmp(a, "-o") || !strcmp(a, "--output"))) {
			output = v;
		} else if (v && !strcmp(a, "--html")) {
			html_path = v;
		} else if (v && !strcmp(a, "--label")) {
			if (bl_buf_addf(&labels, "%s%s", labels.len ? "," : "", v) != BL_OK)
				goto nomem;
		} else if (v && !strcmp(a, "--design")) {
			opt.design = -1;
			for (int d = BL_AUDIT_STRATIFIED; d <= BL_AUDIT_SIMPLE; d++)
				if (!strcmp(v, bl_audit_design_name(d)))
					opt.design = d;
			if (opt.design < 0) {
				rc = tool_usage_error(usage_audit,
						      "unknown design '%s' (stratified, tagged, simple)",
						      v);
				goto out;
			}
		} else if (v && (!strcmp(a, "--per-stratum") || !strcmp(a, "--samples"))) {
			uint64_t *dst = !strcmp(a, "--samples") ? &opt.samples : &opt.per_stratum;
			if (parse_u64(v, dst) != 0 || *dst == 0 || *dst > 1000000) {
				rc = tool_usage_error(usage_audit, "%s: '%s' is not a count from 1 to "
						      "1000000", a, v);
				goto out;
			}
		} else if (v && !strcmp(a, "--seed")) {
			if (parse_u64(v, &opt.seed) != 0) {
				rc = tool_usage_error(usage_audit, "--seed: '%s' is not a number", v);
				goto out;
			}
		} else if (v && !strcmp(a, "--title")) {
			opt.title = v;
		} else if (!strcmp(a, "--no-images")) {
			opt.images = 0;
		} else if (a[0] == '-' && a[1]) {
			rc = tool_usage_error(usage_audit, "unknown option '%s'", a);
			goto out;
		} else if (!index) {
			index = a;
		} else {
			rc = tool_usage_error(usage_audit, "unexpected argument '%s'", a);
			goto out;
		}
	}
	if (!index) {
		rc = tool_usage_error(usage_audit, "no index given");
		goto out;
	}
	opt.nodes = labels.len ? labels.buf : NULL;
	ix = bl_index_open(index, BL_INDEX_READ, err, sizeof err);
	if (!ix) {
		tool_err("%s", err);
		goto out;
	}
	if (bl_audit_draw(ix, &opt, &tsv, html_path ? &html : NULL, err, sizeof err) != BL_OK) {
		tool_err("%s", err);
		/* a label the index does not know is the user's to fix */
		rc = err[0] == '\'' ? EXIT_USAGE : EXIT_FATAL;
		goto out;
	}
	if (write_out(output, &tsv) != 0 || (html_path && write_out(html_path, &html) != 0))
		goto out;
	rc = tool_finish(EXIT_ALL_GOOD);
	goto out;
nomem:
	tool_err("out of memory");
out:
	bl_index_close(ix);
	bl_buf_release(&tsv);
	bl_buf_release(&html);
	bl_buf_release(&labels);
	return rc;
}

/* ---- scoring a filled sheet ---------------------------------------------- */

/* "12.34%" or "-". */
static void pct(char *b, size_t n, double x)
{
	if (isfinite(x))
		snprintf(b, n, "%.1f%%", 100 * x);
	else
		snprintf(b, n, "-");
}

static void ci(char *b, size_t n, double lo, double hi)
{
	if (isfinite(lo) && isfinite(hi))
		snprintf(b, n, "[%.1f, %.1f]", 100 * lo, 100 * hi);
	else
		snprintf(b, n, "-");
}

static void jnum(cJSON *o, const char *k, double x)
{
	char b[32];
	if (!isfinite(x)) {
		cJSON_AddNullToObject(o, k);
		return;
	}
	snprintf(b, sizeof b, "%.6g", x);
	cJSON_AddNumberToObject(o, k, strtod(b, NULL));
}

static void jest(cJSON *o, const char *k, double v, double lo, double hi)
{
	cJSON *e = cJSON_AddObjectToObject(o, k);
	if (e) {
		jnum(e, "value", v);
		jnum(e, "lo", lo);
		jnum(e, "hi", hi);
	}
}

/* A name from the sheet, safe for a terminal. */
static const char *clean(bl_buf *b, const char *s)
{
	bl_buf_reset(b);
	if (bl_report_text_escape(b, s) != BL_OK)
		return "?";
	return b->buf;
}

int cmd_audit_eval(int argc, char **argv)
{
	const char *path = NULL;
	int json = 0, rc = EXIT_FATAL;
	bl_audit *a = NULL;
	bl_buf nm;
	char err[1024], warning[1024] = "";
	uint64_t rows, judged;

	bl_buf_init(&nm, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (argv[i][0] == '-' && argv[i][1]) {
			rc = tool_usage_error(usage_audit, "an audit sheet takes only --json ('%s')",
					      argv[i]);
			goto out;
		} else if (!path)
			path = argv[i];
		else {
			rc = tool_usage_error(usage_audit, "one sheet at a time");
			goto out;
		}
	}
	a = bl_audit_read(path, err, sizeof err);
	if (!a) {
		tool_err("%s", err);
		goto out;
	}
	for (size_t i = 0; i < bl_audit_nproblems(a); i++)
		tool_err("%s", clean(&nm, bl_audit_problem(a, i)));
	bl_audit_totals(a, &rows, &judged, NULL);
	/* rows left out are said at the top of the output, as a report's
	 * warnings are (the list is on standard error) */
	if (bl_audit_nproblems(a)) {
		size_t n = bl_audit_nproblems(a);
		snprintf(warning, sizeof warning,
			 "%zu row%s of the sheet could not be used and %s not counted (first: "
			 "%.600s%s)", n, n == 1 ? "" : "s", n == 1 ? "is" : "are",
			 bl_audit_problem(a, 0), n > 1 ? "; the rest on standard error" : "");
	}
	if (json) {
		cJSON *root = cJSON_CreateObject(), *nodes;
		char *text;
		if (!root)
			goto nomem;
		cJSON_AddStringToObject(root, "sheet", path);
		jnum(root, "rows", (double)rows);
		jnum(root, "judged", (double)judged);
		jnum(root, "problems", (double)bl_audit_nproblems(a));
		{
			cJSON *w = cJSON_AddArrayToObject(root, "warnings");
			if (w && warning[0])
				cJSON_AddItemToArray(w, cJSON_CreateString(warning));
		}
		nodes = cJSON_AddObjectToObject(root, "labels");
		for (size_t i = 0; nodes && i < bl_audit_nnodes(a); i++) {
			const bl_audit_est *e = bl_audit_node(a, i);
			cJSON *o = cJSON_AddObjectToObject(nodes, e->node);
			if (!o)
				continue;
			cJSON_AddStringToObject(o, "design", bl_audit_design_name(e->design));
			jnum(o, "tagged", e->size_tagged);
			jnum(o, "untagged", e->size_untagged);
			jnum(o, "judged_tagged", (double)e->judged_tagged);
			jnum(o, "yes_tagged", (double)e->yes_tagged);
			jnum(o, "judged_untagged", (double)e->judged_untagged);
			jnum(o, "yes_untagged", (double)e->yes_untagged);
			jest(o, "precision", e->precision, e->precision_lo, e->precision_hi);
			jest(o, "npv", e->npv, e->npv_lo, e->npv_hi);
			jest(o, "recall", e->sensitivity, e->se_lo, e->se_hi);
			jest(o, "specificity", e->specificity, e->sp_lo, e->sp_hi);
			jnum(o, "observed_share", e->observed);
			jest(o, "corrected_share", e->prevalence, e->prev_lo, e->prev_hi);
			cJSON_AddStringToObject(o, "status", bl_audit_status_name(e->status));
		}
		text = cJSON_Print(root);
		cJSON_Delete(root);
		if (tool_put_json(text) != BL_OK) {
			free(text);
			goto nomem;
		}
		free(text);
	} else {
		const char *c = bl_audit_comment(a);
		if (warning[0])
			printf("WARNING: %s\n", clean(&nm, warning));
		printf("# audit sheet %s: %llu rows, %llu judged\n", clean(&nm, path),
		       (unsigned long long)rows, (unsigned long long)judged);
		if (c)
			printf("# %s\n", clean(&nm, c + (c[0] == '#' ? 1 + (c[1] == ' ') : 0)));
		printf("%-24s %8s %8s  %-7s %-15s %-7s %-15s %-7s %-15s %-8s %-7s %-15s %s\n",
		       "label", "tagged", "untagged", "prec", "95% CI", "recall", "95% CI", "spec",
		       "95% CI", "observed", "share", "95% CI", "status");
		for (size_t i = 0; i < bl_audit_nnodes(a); i++) {
			const bl_audit_est *e = bl_audit_node(a, i);
			char v[9][40], t1[48], t0[48];
			snprintf(t1, sizeof t1, "%llu/%llu", (unsigned long long)e->yes_tagged,
				 (unsigned long long)e->judged_tagged);
			snprintf(t0, sizeof t0, "%llu/%llu", (unsigned long long)e->yes_untagged,
				 (unsigned long long)e->judged_untagged);
			pct(v[0], 40, e->precision);
			ci(v[1], 40, e->precision_lo, e->precision_hi);
			pct(v[2], 40, e->sensitivity);
			ci(v[3], 40, e->se_lo, e->se_hi);
			pct(v[4], 40, e->specificity);
			ci(v[5], 40, e->sp_lo, e->sp_hi);
			pct(v[6], 40, e->observed);
			pct(v[7], 40, e->prevalence);
			ci(v[8], 40, e->prev_lo, e->prev_hi);
			printf("%-24s %8s %8s  %-7s %-15s %-7s %-15s %-7s %-15s %-8s %-7s %-15s %s\n",
			       clean(&nm, e->node), t1, t0, v[0], v[1], v[2], v[3], v[4], v[5], v[6],
			       v[7], v[8],
			       e->judged_untagged ? bl_audit_status_name(e->status)
						  : "precision only (no untagged rows)");
		}
		printf("# tagged, untagged: judged rows where the label applies / judged rows "
		       "in that stratum; intervals 95%%\n");
	}
	rc = bl_audit_nproblems(a) ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
	goto out;
nomem:
	tool_err("out of memory");
	rc = EXIT_FATAL;
out:
	bl_audit_free(a);
	bl_buf_release(&nm);
	return rc == EXIT_FATAL || rc == EXIT_USAGE ? rc : tool_finish(rc);
}
