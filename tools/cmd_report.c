/*
 * cmd_report.c - "ballast report": the distributions, conditional rates
 * and skew table of an index, as a terminal table, CSV, JSON or a
 * self-contained HTML page, or (--manifest) the same before and after a
 * rebalance.  All the work is in lib/report.c; this file
 * parses the command line and picks the output (stdout, or a file written
 * atomically with -o).
 */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_report[] =
	"usage: ballast report INDEX.db [--format text|csv|json|html] [-o FILE]\n"
	"                      [--by FAMILY] [--given LABELS] [--min-cell N]\n"
	"                      [--min-events N] [--title TEXT] [--audit SHEET]\n"
	"       ballast report --manifest OUTDIR [INDEX.db] [--format F] [-o FILE]\n"
	"                      [--min-cell N] [--min-events N] [--title TEXT]\n"
	"\n"
	"Reports what an index holds: totals (shards, samples, errors by kind,\n"
	"samples blocked as " BL_LABEL_MINOR_SEXUAL "), the count and share of every\n"
	"label and family roll-up with 95% Wilson intervals, and the skew table:\n"
	"for each group label and roll-up, alone and crossed with each gender\n"
	"label, the rate of any sexual.* label (and of attire.*), its lift over\n"
	"the rate among all samples of that gender, and the odds ratio against\n"
	"the rest of that gender, with 95% intervals; sorted by lift, small\n"
	"cells flagged.  What each ratio is relative to:\n"
	"  lift        rate in the cell / rate among ALL samples of the gender\n"
	"              (the cell included; all samples for a group alone)\n"
	"  rate ratio  rate in the cell / rate among the OTHER samples of the\n"
	"              gender (the cell excluded): \"n times as often as the other\n"
	"              captions\", which is what the HTML headline says\n"
	"  odds ratio  odds in the cell / odds among those other samples (Woolf\n"
	"              interval).  When a cell of its 2x2 table is empty (no event\n"
	"              in the cell, say) the sample odds ratio is 0 or infinite: it\n"
	"              is reported as n/a with the reason (\"n/a (0 events)\"; JSON\n"
	"              null and or_note), never with a +0.5 correction that could\n"
	"              put it above 1 while the lift is 0; the rate ratio and its\n"
	"              interval still say how large the cell's rate may be.\n"
	"Samples with a ballast_weight in their JSON (shards 'ballast write'\n"
	"made) count with that weight: shares and rates are then weighted, and\n"
	"every format says so at the top.  Labels under caption.* (captions the\n"
	"filters could not read: other languages, too short) are summed up at\n"
	"the top: every other rate counts those captions as unlabelled.\n"
	"\n"
	"  -f, --format F    text (default), csv, json or html\n"
	"  -o, --output FILE write FILE (through FILE.tmp, fsync, rename)\n"
	"                    instead of standard output\n"
	"  --by FAMILY       also the label rates among samples of each label\n"
	"                    directly below FAMILY (e.g. --by group)\n"
	"  --given LABELS    also the label rates among samples having every\n"
	"                    one of LABELS (comma separated)\n"
	"  --min-cell N      skew cells with fewer samples are 'small' (30)\n"
	"  --min-events N    ... or with fewer events (5)\n"
	"  --title TEXT      title of the HTML page (default: the index path)\n"
	"  --allow-partial   an incomplete index (a scan that did not finish, a\n"
	"                    part of an array job, a merge missing parts) is\n"
	"                    reported with its WARNING at the top and exit 0\n"
	"                    instead of exit 1\n"
	"  --audit SHEET     a review sheet filled in by a person (ballast audit):\n"
	"                    beside the raw numbers, the shares of the audited labels\n"
	"                    and, when the sheet judged 'sexual', the skew table's\n"
	"                    rates, rate ratios and lifts corrected for the tagger's\n"
	"                    measured sensitivity and specificity (Rogan-Gladen;\n"
	"                    95% intervals that include the audit's uncertainty;\n"
	"                    clipped, undefined and too-small cases are marked).\n"
	"                    Cell membership (group, gender) is not corrected.\n"
	"                    A sheet drawn from an index scanned with other rules\n"
	"                    judged another tagger: the report says so at its top\n"
	"                    and the exit status is 1; so does a sheet that does\n"
	"                    not record its rules (its first line deleted), and\n"
	"                    one with rows that could not be used (a row twice, a\n"
	"                    judgement not y or n: ballast eval names them), which\n"
	"                    are left out.  A sheet drawn from another\n"
	"                    index (other sample count) is used as a sample of how\n"
	"                    the tagger errs, with a note.\n"
	"  --manifest OUTDIR before and after a rebalance: the index (INDEX.db;\n"
	"                    default: the index manifest.json records, if any)\n"
	"                    against the manifest OUTDIR written from it, each\n"
	"                    line counted with its weight: label shares, the skew\n"
	"                    table, effective sample size, samples dropped and\n"
	"                    repeated, largest weight, distance from the policy's\n"
	"                    targets, and checks of manifest.json's summary\n"
	"                    against the lines\n"
	"\n"
	"JSON (stable, schema 1): an object with keys report, schema, index,\n"
	"samples, shards, shards_complete, samples_with_errors, errors {kind: N},\n"
	"blocked, labels {label: N}, families {family: N}, shares {name: {count,\n"
	"share, lo, hi}}, skew [{group, gender (null: all), n, events, rate,\n"
	"rate_lo, rate_hi, base_rate, lift, lift_lo, lift_hi, odds_ratio, or_lo,\n"
	"or_hi, attire_events, attire_rate, attire_lo, attire_hi, attire_lift,\n"
	"small, rest_rate, rate_ratio, rr_lo, rr_hi, or_note}], given {labels,\n"
	"samples, rates} and by {family, rows} when asked, per_shard [{id, path,\n"
	"complete, samples, errors, blocked, labels}]; also weighted, weight_sum,\n"
	"notes [text], unread {count, share, labels} (caption.* labels), and with\n"
	"--audit an audit object {sheet, rows, judged, outcome, skew_corrected,\n"
	"nodes {label: {precision, npv, sensitivity, specificity, ...}}, shares\n"
	"{label: {value, lo, hi, status}}} and per skew row corrected {rate,\n"
	"rest_rate, base_rate, rate_ratio, lift}.\n"
	"Numbers have at most 6 significant digits; undefined ones are null.\n"
	"CSV: one tidy table, header table,shard,name,gender,rows,n,count,share,\n"
	"lo,hi,base,lift,lift_lo,lift_hi,odds_ratio,or_lo,or_hi,small,rest,\n"
	"rate_ratio,rr_lo,rr_hi,note; table is note, total, error, label, family,\n"
	"skew, skew_attire, unread, given, by or shard (for given and by the gender\n"
	"column holds the condition), and with --audit audit_precision, audit_npv,\n"
	"audit_sensitivity, audit_specificity, label_corrected, family_corrected,\n"
	"skew_corrected (note: the correction's status).  Text fields have\n"
	"control bytes and bytes that are not UTF-8 as \\xHH, as in the text\n"
	"report; those starting with = + - @ get a leading apostrophe (no\n"
	"formulas).  JSON is valid UTF-8: a byte of a path or name that is not\n"
	"UTF-8 is written \\udcXX, as in manifests.\n"
	"With --manifest, JSON keys are report (\"ballast-manifest\"), schema,\n"
	"ok, warnings [text] (what makes before against after wrong: the index's\n"
	"warnings, an index rescanned with other rules), problems [{source,\n"
	"check, status, ...}] (the plan's checks that did\n"
	"not pass and the disagreements, also first in text, CSV and HTML),\n"
	"manifest, index, policy {path, sha256, seed, realise, text}, cost\n"
	"{samples, written, ess_before, ess_after, ess_ratio, dropped,\n"
	"dropped_by_rule, blocked, repeated, copies_added, max_weight, min_weight,\n"
	"weight_sum, tv_distance, max_share_error}, rules [{line, kind, text, ...}],\n"
	"before and after {samples, weight, ess, labels, families, shares, skew}\n"
	"(after: sums of weights), agree, checks [{name, manifest, recomputed,\n"
	"agree}], notes; CSV columns are table,name,gender,before,before_lo,\n"
	"before_hi,after,after_lo,after_hi, warnings first (table warning, name\n"
	"the text; see lib/ballast.h).\n"
	"\n"
	"An incomplete index (see --allow-partial), an index whose shards were\n"
	"scanned with different rules, or one that holds shards not read whole\n"
	"(a truncated or unreadable archive), is reported with a WARNING at the\n"
	"top naming them (JSON \"warnings\", CSV table warning) and exit 1\n"
	"(an incomplete index with --allow-partial: the WARNING, exit 0).\n"
	"\n"
	"Exit status: 0 written, 1 written, but from an incomplete index, an\n"
	"index of mixed rules or of shards not read whole, or (--manifest) the\n"
	"plan failed its checks, manifest.json's summary disagrees with the\n"
	"lines or the index, or the index was rescanned with other rules than\n"
	"the manifest was made from (all listed at the top of the\n"
	"report), 2 usage (unknown format, family or label),\n"
	"3 fatal (unreadable index or audit sheet, missing or damaged manifest, a\n"
	"manifest of another index, write error).\n";

/* A library message on stderr, with any control byte from a path or a
 * shard name shown as \xNN instead of reaching the terminal. */
static void err_clean_sfx(const char *prefix, const char *msg, const char *suffix)
{
	bl_buf b;
	bl_buf_init(&b, 0);
	if (bl_report_text_escape(&b, msg) == BL_OK)
		tool_err("%s%s%s", prefix, b.buf, suffix);
	else
		tool_err("%s%s%s", prefix, "(message lost: out of memory)", suffix);
	bl_buf_release(&b);
}

static void err_clean(const char *prefix, const char *msg)
{
	err_clean_sfx(prefix, msg, "");
}

static int parse_num(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (!*s || *end || !(v >= 0) || v > 1e15)
		return -1;
	*out = v;
	return 0;
}

/* The index a manifest was written from, as manifest.json records it
 * ("index": path, or {"path": ...}), or NULL. */
static const char *manifest_index(const bl_manifest *m)
{
	const char *v = bl_manifest_get(m, "index");
	static char path[4096];
	const char *p;

	if (!v || v[0] != '{')
		return v && *v ? v : NULL;
	/* an object: its "path" string (no escapes expected in a path) */
	p = strstr(v, "\"path\":\"");
	if (!p)
		return NULL;
	p += 8;
	snprintf(path, sizeof path, "%.*s", (int)strcspn(p, "\""), p);
	return path[0] ? path : NULL;
}

int cmd_report(int argc, char **argv)
{
	bl_report_options opt;
	bl_index *ix = NULL;
	bl_manifest *m = NULL;
	const char *index = NULL, *output = NULL, *manifest = NULL, *audit_path = NULL;
	bl_audit *audit = NULL;
	bl_buf text;
	bl_strlist warnings;
	char err[1024], name[64], why[1024];
	int rc = EXIT_FATAL, r, allow_partial = 0, warned = 0; /* a WARNING that exits 1 */

	bl_buf_init(&text, 0);
	bl_strlist_init(&warnings);
	memset(&opt, 0, sizeof opt);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int takes = !strcmp(a, "-f") || !strcmp(a, "--format") || !strcmp(a, "-o") ||
			    !strcmp(a, "--output") || !strcmp(a, "--by") ||
			    !strcmp(a, "--given") || !strcmp(a, "--min-cell") ||
			    !strcmp(a, "--min-events") || !strcmp(a, "--title") ||
			    !strcmp(a, "--manifest") || !strcmp(a, "--audit");
		if (takes) {
			if (i + 1 >= argc) {
				rc = tool_usage_error(usage_report, "%s needs a value", a);
				goto out;
			}
			v = argv[++i];
		} else if (!strncmp(a, "--", 2) && strchr(a, '=')) {
			/* --name=value */
			size_t n = (size_t)(strchr(a, '=') - a);
			if (n >= sizeof name) {
				rc = tool_usage_error(usage_report, "unknown option '%s'", a);
				goto out;
			}
			memcpy(name, a, n);
			name[n] = '\0';
			v = a + n + 1;
			a = name;
		}
		if (v && (!strcmp(a, "-f") || !strcmp(a, "--format"))) {
			opt.format = bl_report_format_parse(v);
			if (opt.format < 0) {
				rc = tool_usage_error(usage_report,
						      "unknown format '%s' (text, csv, json, html)",
						      v);
				goto out;
			}
		} else if (v && (!strcmp(a, "-o") || !strcmp(a, "--output"))) {
			output = v;
		} else if (v && !strcmp(a, "--by")) {
			opt.by = v;
		} else if (v && !strcmp(a, "--given")) {
			opt.given = v;
		} else if (v && !strcmp(a, "--manifest")) {
			manifest = v;
		} else if (v && !strcmp(a, "--title")) {
			opt.title = v;
		} else if (v && !strcmp(a, "--audit")) {
			audit_path = v;
		} else if (v && (!strcmp(a, "--min-cell") || !strcmp(a, "--min-events"))) {
			double *dst = !strcmp(a, "--min-cell") ? &opt.min_rows : &opt.min_events;
			if (parse_num(v, dst) != 0) {
				rc = tool_usage_error(usage_report, "%s: '%s' is not a count", a, v);
				goto out;
			}
		} else if (!strcmp(a, "--allow-partial")) {
			allow_partial = 1;
		} else if (a[0] == '-' && a[1]) {
			rc = tool_usage_error(usage_report, "unknown option '%s'", a);
			goto out;
		} else if (!index) {
			index = a;
		} else {
			rc = tool_usage_error(usage_report, "unexpected argument '%s'", a);
			goto out;
		}
	}
	if (manifest && (opt.by || opt.given || audit_path)) {
		rc = tool_usage_error(usage_report,
				      "--by, --given and --audit do not go with --manifest");
		goto out;
	}
	if (audit_path) {
		audit = bl_audit_read(audit_path, err, sizeof err);
		if (!audit) {
			err_clean("--audit: ", err);
			goto out;
		}
		opt.audit = audit;
	}
	if (manifest) {
		m = bl_manifest_open(manifest, err, sizeof err);
		if (!m) {
			err_clean("manifest: ", err);
			goto out;
		}
		if (!index)
			index = manifest_index(m);
		if (!index) {
			rc = tool_usage_error(usage_report,
					      "'%s/manifest.json' does not record its index: give "
					      "INDEX.db", manifest);
			goto out;
		}
	}
	if (!index) {
		rc = tool_usage_error(usage_report, "no index given");
		goto out;
	}
	ix = bl_index_open(index, BL_INDEX_READ, err, sizeof err);
	if (!ix) {
		err_clean("", err);
		goto out;
	}
	/* the report says it at its top too (bl_report_buf); --manifest
	 * leaves it to this line */
	if (bl_index_partial_reason(ix, why, sizeof why) == 1) {
		tool_err("WARNING: %s%s", why, allow_partial ? "" : " (exit 1; --allow-partial "
					   "accepts it)");
		warned = !allow_partial;
	}
	/* mixed rules, shards not read whole: the report says so at its top
	 * (bl_report_buf puts the same sentences there) and exits 1 */
	if ((r = bl_index_warnings(ix, &warnings)) < 0) {
		err_clean("", bl_index_errmsg(ix));
		goto out;
	}
	for (size_t i = 0; i < warnings.n; i++)
		err_clean_sfx("WARNING: ", warnings.items[i], " (exit 1)");
	warned |= warnings.n > 0;
	if (audit) {
		r = bl_audit_bind(audit, ix, err, sizeof err);
		if (r == BL_WARN) {
			tool_err("WARNING: %s (exit 1)", err);
			warned = 1;
		} else if (r != BL_OK) {
			err_clean("--audit: ", err);
			goto out;
		}
		/* rows left out of the sheet (a row twice, a judgement that is
		 * not y or n): the report says so at its top */
		if (bl_audit_nproblems(audit)) {
			tool_err("WARNING: %zu row%s of the audit sheet could not be used "
				 "(exit 1; ballast eval %s lists them)", bl_audit_nproblems(audit),
				 bl_audit_nproblems(audit) == 1 ? "" : "s", audit_path);
			warned = 1;
		}
	}
	if (m && output)
		r = bl_report_manifest_save(ix, m, manifest, &opt, output, err, sizeof err);
	else if (output)
		r = bl_report_save(ix, &opt, output, err, sizeof err);
	else {
		/* standard output: the library renders, the tool prints */
		r = m ? bl_report_manifest_buf(ix, m, manifest, &opt, &text, err, sizeof err)
		      : bl_report_buf(ix, &opt, &text, err, sizeof err);
		if ((r == BL_OK || r == BL_WARN) && tool_write_stdout(&text) != 0) {
			rc = EXIT_FATAL;
			goto out;
		}
	}
	if (r == BL_WARN) {
		/* --manifest: the report is out, with its problems at the top */
		tool_err("%s (listed at the top of the report)", err);
		rc = tool_finish(EXIT_ITEMS_FAILED);
		goto out;
	}
	if (r != BL_OK) {
		err_clean("", err);
		/* an unknown --by family or --given label is a usage error */
		rc = (strncmp(err, "--by", 4) == 0 || strncmp(err, "--given", 7) == 0)
			     ? EXIT_USAGE
			     : EXIT_FATAL;
		goto out;
	}
	rc = tool_finish(warned ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD);
out:
	bl_buf_release(&text);
	bl_strlist_release(&warnings);
	bl_manifest_free(m);
	bl_index_close(ix);
	bl_audit_free(audit);
	return rc;
}
