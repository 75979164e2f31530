/*
 * cmd_scan.c - "ballast scan": read and tag shards, write the index, print
 * label counts.  All the work is bl_scan_run (lib/scan.c); this file parses
 * arguments, prints errors and progress, and formats the counts.
 */
#include "tools.h"

#include <cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_scan[] =
	"usage: ballast scan SHARD... [-o INDEX.db] [-r RULES]... [-j THREADS]\n"
	"                    [--probe | --check | --no-image] [--strict] [--force]\n"
	"                    [--json] [-q] [--task I --tasks N]\n"
	"\n"
	"Read and tag every sample of the shards and print how often each label\n"
	"occurs.  With -o, write one row per sample to an SQLite index (schema in\n"
	"lib/ballast.h), one transaction per shard: an interrupted scan resumes\n"
	"where it stopped, and shards already complete (same file, size, mtime,\n"
	"rules and image mode) are skipped.  The same file under two names is one\n"
	"shard (the extra name is an item error).  One scan writes an index at a\n"
	"time; a second is refused.  SHARD specs as for 'ballast ls'.\n"
	"\n"
	"  -o INDEX.db   write (or resume) the index\n"
	"  -r RULES      rule file or directory (repeatable; default: shipped filters/)\n"
	"  -j THREADS    shards read in parallel (default 1)\n"
	"  --probe       probe every image header (on when a rule reads image facts)\n"
	"  --check       fully decode every image to find corrupt ones (slower)\n"
	"  --no-image    never read image bytes (fastest: captions and JSON only;\n"
	"                image predicates such as 'width < 256' are then false)\n"
	"  --strict      stop at the first item error\n"
	"  --force       rescan shards even when complete in the index\n"
	"  --json        print the counts as one JSON object\n"
	"  -q            do not print item errors on stderr\n"
	"  --task I --tasks N  (both, or neither)\n"
	"                scan only block I (0-based) of N contiguous blocks of the\n"
	"                shard list: one array task of a cluster job; combine the\n"
	"                parts with 'ballast merge' (tools/slurm/scan-array.sbatch)\n"
	"\n"
	"The index left must be one set: when its shards were scanned with\n"
	"different rules (some rescanned with other rule files) or some were not\n"
	"read whole, a WARNING naming them comes first (--json: \"warnings\") and\n"
	"the exit status is 1; report and rebalance say the same.\n"
	"\n"
	"Exit status: 0 all good (samples without a caption are counted, not\n"
	"failures), 1 some items failed or the index is not one set, 2 usage,\n"
	"3 fatal.\n";

struct ctx {
	int quiet;
	int progress;
	uint64_t shown;
};

static void on_error(void *arg, bl_errkind kind, const char *msg)
{
	struct ctx *c = arg;
	if (c->quiet || kind == BL_ERR_NO_CAPTION)
		return;
	if (c->progress)
		fputs("\r\033[K", stderr);
	tool_err("%s", msg);
}

static void on_progress(void *arg, const bl_scan_progress *p)
{
	struct ctx *c = arg;
	double rate, eta;
	uint64_t todo, done;
	if (!c->progress)
		return;
	todo = p->shards_total - p->shards_skipped;
	done = p->shards_done;
	rate = p->seconds > 0 ? (double)p->samples / p->seconds : 0;
	eta = done ? p->seconds * (double)(todo - done) / (double)done : 0;
	fprintf(stderr, "\rshards %llu/%llu  %llu samples  %.0f samples/s  %.1f MB/s  ETA %.0fs\033[K",
		(unsigned long long)done, (unsigned long long)todo,
		(unsigned long long)p->samples, rate,
		p->seconds > 0 ? (double)p->bytes / 1e6 / p->seconds : 0, eta);
	c->shown = 1;
}

static int cmp_name(const void *a, const void *b, void *rs)
{
	return strcmp(bl_ruleset_label(rs, *(const int *)a), bl_ruleset_label(rs, *(const int *)b));
}

static void print_counts(const bl_ruleset *rs, const bl_scan_totals *t, const bl_strlist *warn,
			 int json)
{
	int n = bl_ruleset_nlabels(rs), order[BL_MAX_LABELS];
	uint64_t nerr = 0;
	for (int i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, (size_t)n, sizeof order[0], cmp_name, (void *)(uintptr_t)rs);
	nerr = tool_failed_items(t->errors);
	if (json) {
		cJSON *o = cJSON_CreateObject(), *l, *e;
		char *text;
		l = cJSON_AddArrayToObject(o, "warnings");
		for (size_t i = 0; l && i < warn->n; i++)
			cJSON_AddItemToArray(l, cJSON_CreateString(warn->items[i]));
		cJSON_AddNumberToObject(o, "shards", (double)t->shards);
		cJSON_AddNumberToObject(o, "shards_skipped", (double)t->shards_skipped);
		cJSON_AddNumberToObject(o, "shards_failed", (double)t->shards_failed);
		cJSON_AddNumberToObject(o, "samples", (double)t->samples);
		cJSON_AddNumberToObject(o, "blocked", (double)t->blocked);
		cJSON_AddNumberToObject(o, "errors_not_stored", (double)t->errors_not_stored);
		l = cJSON_AddObjectToObject(o, "labels");
		for (int k = 0; k < n; k++)
			cJSON_AddNumberToObject(l, bl_ruleset_label(rs, order[k]),
						(double)t->labels[order[k]]);
		e = cJSON_AddObjectToObject(o, "errors");
		for (int k = 1; k < BL_ERR__COUNT; k++)
			if (t->errors[k])
				cJSON_AddNumberToObject(e, bl_errkind_name((bl_errkind)k),
							(double)t->errors[k]);
		text = cJSON_PrintUnformatted(o);
		tool_put_json(text);
		free(text);
		cJSON_Delete(o);
		return;
	}
	for (size_t i = 0; i < warn->n; i++)
		printf("WARNING: %s\n", tool_esc(warn->items[i]));
	if (warn->n)
		fputs("\n", stdout);
	printf("shards   %llu scanned, %llu skipped (complete in the index), %llu damaged\n",
	       (unsigned long long)t->shards, (unsigned long long)t->shards_skipped,
	       (unsigned long long)t->shards_failed);
	printf("samples  %llu\n", (unsigned long long)t->samples);
	printf("blocked  %llu (" BL_LABEL_MINOR_SEXUAL ": never written to a manifest)\n",
	       (unsigned long long)t->blocked);
	printf("errors   %llu", (unsigned long long)nerr);
	for (int k = 1, first = 1; k < BL_ERR__COUNT; k++)
		if (t->errors[k]) {
			printf("%s%s %llu", first ? " (" : ", ", bl_errkind_name((bl_errkind)k),
			       (unsigned long long)t->errors[k]);
			first = 0;
		}
	for (int k = 1; k < BL_ERR__COUNT; k++)
		if (t->errors[k]) {
			printf(")");
			break;
		}
	if (t->errors_not_stored)
		printf("; %llu more not stored in the index (at most %d of each kind per "
		       "shard are)", (unsigned long long)t->errors_not_stored, BL_INDEX_MAX_ERRORS);
	printf("\n\n%-32s %10s %8s\n", "label", "samples", "share");
	for (int k = 0; k < n; k++) {
		int i = order[k];
		printf("%-32s %10llu %7.2f%%\n", bl_ruleset_label(rs, i),
		       (unsigned long long)t->labels[i],
		       t->samples ? 100.0 * (double)t->labels[i] / (double)t->samples : 0.0);
	}
}

int cmd_scan(int argc, char **argv)
{
	static const struct option opts[] = {
		{"probe", no_argument, NULL, 'P'},
		{"check", no_argument, NULL, 'C'},
		{"strict", no_argument, NULL, 'S'},
		{"force", no_argument, NULL, 'F'},
		{"no-image", no_argument, NULL, 'N'},
		{"task", required_argument, NULL, 'T'},
		{"tasks", required_argument, NULL, 'K'},
		{"json", no_argument, NULL, 'J'},
		{NULL, 0, NULL, 0},
	};
	bl_strlist rules, shards, warn;
	bl_scan_options so;
	bl_scan_totals *tot = NULL;
	bl_ruleset *rs = NULL;
	bl_index *ix = NULL;
	const char *out = NULL;
	struct ctx ctx = {0};
	int json = 0, c, rc = EXIT_FATAL, have_task = 0, have_tasks = 0, failed = 0;
	char err[1024];
	bl_buf args;

	memset(&so, 0, sizeof so);
	so.threads = 1;
	bl_strlist_init(&rules);
	bl_strlist_init(&shards);
	bl_strlist_init(&warn);
	bl_buf_init(&args, 1 << 16);
	while ((c = getopt_long(argc, argv, "o:r:j:q", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'r':
			if (bl_strlist_add(&rules, optarg) != BL_OK)
				goto nomem;
			break;
		case 'j': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 256) {
				rc = tool_usage_error(usage_scan, "-j wants 1..256");
				goto out;
			}
			so.threads = (int)v;
			break;
		}
		case 'P': so.flags |= BL_SCAN_PROBE; break;
		case 'C': so.flags |= BL_SCAN_CHECK; break;
		case 'S': so.flags |= BL_SCAN_STRICT; break;
		case 'F': so.flags |= BL_SCAN_FORCE; break;
		case 'N': so.flags |= BL_SCAN_NO_IMAGE; break;
		case 'T':
		case 'K': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || !*optarg || v < 0 || v > 1000000) {
				rc = tool_usage_error(usage_scan, "--task/--tasks want a number");
				goto out;
			}
			if (c == 'T') {
				so.task = (int)v;
				have_task = 1;
			} else {
				so.tasks = (int)v;
				have_tasks = 1;
			}
			break;
		}
		case 'J': json = 1; break;
		case 'q': ctx.quiet = 1; break;
		default:
			rc = tool_usage_error(usage_scan, NULL);
			goto out;
		}
	}
	if (optind >= argc) {
		rc = tool_usage_error(usage_scan, "no shard given");
		goto out;
	}
	if (have_task != have_tasks) {
		rc = tool_usage_error(usage_scan, have_task ? "--task needs --tasks N"
							   : "--tasks needs --task I");
		goto out;
	}
	if (have_tasks && so.tasks < 1) {
		rc = tool_usage_error(usage_scan, "--tasks wants 1 or more");
		goto out;
	}
	if (have_tasks && so.task >= so.tasks) {
		rc = tool_usage_error(usage_scan, "--task must be below --tasks");
		goto out;
	}
	if (tool_expand_specs(argc - optind, argv + optind, &shards) != BL_OK) {
		rc = EXIT_USAGE;
		goto out;
	}
	rs = tool_load_rules(&rules);
	if (!rs)
		goto out;
	if (out) {
		ix = bl_index_open(out, BL_INDEX_CREATE, err, sizeof err);
		if (!ix) {
			tool_err("%s", err);
			goto out;
		}
		if (bl_index_upgraded(ix))
			tool_err("index '%s' upgraded to schema %d (its rows are kept)", out,
				 BL_INDEX_SCHEMA);
	}
	for (int i = 0; i < argc; i++)
		bl_buf_addf(&args, "%s%s", i ? " " : "ballast ", argv[i]);
	so.argv = args.buf;
	ctx.progress = tool_progress_wanted();
	so.on_error = on_error;
	so.on_progress = on_progress;
	so.arg = &ctx;
	tot = calloc(1, sizeof *tot);
	if (!tot)
		goto nomem;
	c = bl_scan_run(&so, rs, &shards, ix, tot, err, sizeof err);
	if (ctx.shown)
		fputs("\r\033[K", stderr);
	if (c == BL_FATAL || c == BL_EUSAGE) {
		tool_err("%s", err);
		goto out;
	}
	if (c == BL_FAILED)
		tool_err("%s", err);
	failed = tool_failed_items(tot->errors) != 0;
	if (tot->shards_unwritten)
		tool_err("%llu shards could not be written to the index (named above): they "
			 "are left incomplete; run the scan again once the cause is fixed",
			 (unsigned long long)tot->shards_unwritten);
	if (ix && c == BL_OK && tot->shards == 0 && tot->shards_skipped > 0) {
		/* nothing to do: show what the index holds, not a table of zeros */
		uint64_t skipped = tot->shards_skipped;
		failed = tool_failed_items(tot->errors) != 0;
		tool_err("%llu shards already complete in the index, nothing to do; what "
			 "the index holds follows", (unsigned long long)skipped);
		if (bl_scan_index_totals(ix, rs, tot, err, sizeof err) != BL_OK) {
			tool_err("%s", err);
			goto out;
		}
		tot->shards = 0;
		tot->shards_skipped = skipped;
	}
	/* an index left of mixed rules (some shards rescanned with other
	 * rules) or with shards not read whole: said first, exit 1 */
	if (ix && bl_index_warnings(ix, &warn) < 0) {
		tool_err("%s", bl_index_errmsg(ix));
		goto out;
	}
	for (size_t i = 0; i < warn.n; i++)
		tool_err("WARNING: %s (exit 1)", warn.items[i]);
	if (ix && bl_index_close(ix) != BL_OK) {
		ix = NULL;
		tool_err("cannot close the index '%s'", out);
		goto out;
	}
	ix = NULL;
	print_counts(rs, tot, &warn, json);
	rc = failed || warn.n || c == BL_FAILED ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
	goto out;
nomem:
	tool_err("out of memory");
out:
	free(tot);
	bl_index_close(ix);
	bl_ruleset_free(rs);
	bl_strlist_release(&rules);
	bl_strlist_release(&shards);
	bl_strlist_release(&warn);
	bl_buf_release(&args);
	return tool_finish(rc);
}
