/*
 * cmd_ls.c - "ballast ls": one line per sample, or a summary of shards.
 *
 * The first command on the chain, and the quickest way to see what a set
 * of shards holds and what is wrong with it.  Item errors go to stderr as
 * they happen; the summary counts them by kind.
 */
#include "tools.h"

#include <cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_ls[] =
	"usage: ballast ls [--summary] [--json] [--all] [-q] SHARD...\n"
	"\n"
	"List the samples of WebDataset shards: shard, ordinal, key, byte offset\n"
	"and each member as ext:size, tab-separated; in names, tab, newline,\n"
	"backslash, control characters and bytes that are not UTF-8 are escaped\n"
	"(\\t \\n \\\\ \\xHH \\uHHHH, as in messages).  SHARD may be a path\n"
	"(.tar .tar.gz .tgz .tar.zst .tar.xz), '-' for stdin, a glob, a brace\n"
	"range such as 'shards/{00000..00099}.tar', or @FILE with one spec per\n"
	"line.  The same file under two names (a symlink, '-' twice) is read\n"
	"once, under its first name; the others are duplicate_shard errors, as\n"
	"in `ballast scan`.\n"
	"\n"
	"  --summary   print counts instead: shards, samples, samples without a\n"
	"              caption, members by extension, errors by kind\n"
	"  --json      print the summary as one JSON object (valid UTF-8: a byte\n"
	"              of a name that is not UTF-8 is written \\udcXX)\n"
	"  --all       read every member's bytes (verifies image data too)\n"
	"  -q          do not print item errors on stderr\n"
	"\n"
	"Exit status: 0 all good (samples without a caption are counted, not\n"
	"failures), 1 some items or shards failed, 2 usage, 3 fatal.\n";

#define MAX_EXTS 64

struct summary {
	uint64_t shards, shards_failed, samples, no_caption, members, bytes;
	uint64_t errors[BL_ERR__COUNT];
	struct {
		char name[32];
		uint64_t n;
	} ext[MAX_EXTS];
	int next;
	uint64_t ext_other;
};

static void count_ext(struct summary *s, const char *ext)
{
	for (int i = 0; i < s->next; i++)
		if (!strcmp(s->ext[i].name, ext)) {
			s->ext[i].n++;
			return;
		}
	if (s->next < MAX_EXTS && strlen(ext) < sizeof s->ext[0].name) {
		snprintf(s->ext[s->next].name, sizeof s->ext[0].name, "%s", ext);
		s->ext[s->next++].n = 1;
		return;
	}
	s->ext_other++;
}

static int cmp_ext(const void *a, const void *b)
{
	return strcmp(((const char *)a), ((const char *)b));
}

static void print_summary(struct summary *s, int json)
{
	uint64_t nerr = 0;

	qsort(s->ext, (size_t)s->next, sizeof s->ext[0], cmp_ext);
	nerr = tool_failed_items(s->errors);
	if (json) {
		cJSON *o = cJSON_CreateObject(), *e, *x;
		char *text;
		cJSON_AddNumberToObject(o, "shards", (double)s->shards);
		cJSON_AddNumberToObject(o, "shards_failed", (double)s->shards_failed);
		cJSON_AddNumberToObject(o, "samples", (double)s->samples);
		cJSON_AddNumberToObject(o, "samples_without_caption", (double)s->no_caption);
		cJSON_AddNumberToObject(o, "members", (double)s->members);
		x = cJSON_AddObjectToObject(o, "extensions");
		for (int i = 0; i < s->next; i++)
			cJSON_AddNumberToObject(x, s->ext[i].name, (double)s->ext[i].n);
		cJSON_AddNumberToObject(o, "errors_total", (double)nerr);
		e = cJSON_AddObjectToObject(o, "errors");
		for (int k = 1; k < BL_ERR__COUNT; k++)
			if (k != BL_ERR_NO_CAPTION)
				cJSON_AddNumberToObject(e, bl_errkind_name((bl_errkind)k),
							(double)s->errors[k]);
		text = cJSON_PrintUnformatted(o);
		tool_put_json(text);
		free(text);
		cJSON_Delete(o);
		return;
	}
	printf("shards                   %llu", (unsigned long long)s->shards);
	if (s->shards_failed)
		printf(" (%llu damaged or unreadable)", (unsigned long long)s->shards_failed);
	printf("\nsamples                  %llu\n", (unsigned long long)s->samples);
	printf("samples without caption  %llu\n", (unsigned long long)s->no_caption);
	printf("members                  %llu", (unsigned long long)s->members);
	for (int i = 0; i < s->next; i++)
		printf("%s%s %llu", i ? ", " : " (", tool_esc(s->ext[i].name),
		       (unsigned long long)s->ext[i].n);
	printf("%s\n", s->next ? ")" : "");
	printf("errors                   %llu\n", (unsigned long long)nerr);
	for (int k = 1; k < BL_ERR__COUNT; k++)
		if (k != BL_ERR_NO_CAPTION && s->errors[k])
			printf("  %-22s %llu\n", bl_errkind_name((bl_errkind)k),
			       (unsigned long long)s->errors[k]);
}

/* Item errors shown per shard: at most BL_INDEX_MAX_ERRORS of each kind
 * (as the index stores them); the rest are counted. */
struct shown {
	uint64_t n[BL_ERR__COUNT];
	uint64_t hidden;
};

static void show(struct shown *sh, int quiet, bl_errkind kind, const char *msg)
{
	if (quiet)
		return;
	if (sh->n[kind]++ >= BL_INDEX_MAX_ERRORS) {
		sh->hidden++;
		return;
	}
	tool_err("%s", msg);
}

int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{"summary", no_argument, NULL, 's'},
		{"json", no_argument, NULL, 'J'},
		{"all", no_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	int summary = 0, json = 0, all = 0, quiet = 0, c, rc = EXIT_FATAL;
	bl_strlist shards;
	size_t *first = NULL;
	bl_reader *r = NULL;
	struct summary sum;
	struct shown shown;
	bl_buf line;

	memset(&sum, 0, sizeof sum);
	bl_strlist_init(&shards);
	bl_buf_init(&line, 0);
	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
		switch (c) {
		case 's': summary = 1; break;
		case 'J': json = summary = 1; break;
		case 'a': all = 1; break;
		case 'q': quiet = 1; break;
		default: return tool_usage_error(usage_ls, NULL);
		}
	}
	if (optind >= argc)
		return tool_usage_error(usage_ls, "no shard given");
	if (tool_expand_specs(argc - optind, argv + optind, &shards) != BL_OK) {
		rc = EXIT_USAGE;
		goto out;
	}
	r = bl_reader_new();
	first = malloc((shards.n ? shards.n : 1) * sizeof *first);
	if (!r || !first || bl_reader_set_load(r, all ? BL_LOAD_ALL : BL_LOAD_TEXT) != BL_OK ||
	    bl_spec_same_files((const char *const *)shards.items, shards.n, first) != BL_OK) {
		tool_err("out of memory");
		goto out;
	}
	for (size_t i = 0; i < shards.n; i++) {
		const bl_sample *s;
		int res;

		if (first[i] != i) { /* read once, under its first name, as scan does */
			sum.errors[BL_ERR_DUP_SHARD]++;
			if (!quiet && !strcmp(shards.items[i], "-"))
				tool_err("shard '-': standard input is given more than once (read once)");
			else if (!quiet)
				tool_err("shard '%s' is the same file as '%s' (device and inode): read "
					 "once, counted once", shards.items[i], shards.items[first[i]]);
			continue;
		}
		sum.shards++;
		if (bl_reader_open(r, shards.items[i]) != BL_OK) {
			sum.shards_failed++;
			sum.errors[bl_reader_errkind(r)]++;
			if (!quiet)
				tool_err("%s", bl_reader_errmsg(r));
			continue;
		}
		memset(&shown, 0, sizeof shown);
		while ((res = bl_reader_next(r, &s)) != BL_END) {
			if (res == BL_FAILED || res == BL_FATAL) {
				sum.errors[bl_reader_errkind(r)]++;
				sum.shards_failed += res == BL_FATAL;
				show(&shown, quiet, bl_reader_errkind(r), bl_reader_errmsg(r));
				if (res == BL_FATAL)
					break;
				continue;
			}
			if (res < 0 && res != BL_WARN) {
				tool_err("%s", bl_reader_errmsg(r));
				goto out;
			}
			sum.samples++;
			if (s->problems & BL_PROBLEM(BL_ERR_NO_CAPTION))
				sum.no_caption++;
			/* every problem of the sample, each counted */
			for (size_t p = 0; res == BL_WARN && p < bl_reader_nproblems(r); p++) {
				bl_errkind kind;
				const char *msg;
				bl_reader_problem(r, p, &kind, NULL, &msg);
				sum.errors[kind]++;
				if (kind != BL_ERR_NO_CAPTION)
					show(&shown, quiet, kind, msg);
			}
			if (res == BL_WARN && bl_reader_problems_unlisted(r)) {
				sum.errors[bl_reader_errkind(r)] += bl_reader_problems_unlisted(r);
				if (!quiet)
					tool_err("shard '%s' sample '%s': %zu more problems",
						 s->shard, s->key, bl_reader_problems_unlisted(r));
			}
			for (size_t m = 0; m < s->nmembers; m++) {
				sum.members++;
				count_ext(&sum, s->members[m].ext);
			}
			if (summary)
				continue;
			/* names are bytes: escaped as TSV (a key cannot split a
			 * line or drive the terminal) */
			bl_buf_reset(&line);
			tool_escape(&line, s->shard, strlen(s->shard), TOOL_ESC_TSV);
			bl_buf_addf(&line, "\t%llu\t", (unsigned long long)s->ordinal);
			tool_escape(&line, s->key, strlen(s->key), TOOL_ESC_TSV);
			bl_buf_addf(&line, "\t%lld\t", (long long)s->offset);
			for (size_t m = 0; m < s->nmembers; m++) {
				bl_buf_adds(&line, m ? "," : "");
				tool_escape(&line, s->members[m].ext, strlen(s->members[m].ext),
					    TOOL_ESC_TSV);
				bl_buf_addf(&line, ":%lld", (long long)s->members[m].size);
			}
			puts(line.buf);
		}
		if (shown.hidden && !quiet)
			tool_err("shard '%s': %llu more item errors not shown (the first %d of "
				 "each kind are; the counts are complete)", shards.items[i],
				 (unsigned long long)shown.hidden, BL_INDEX_MAX_ERRORS);
		bl_reader_close(r);
	}
	if (summary)
		print_summary(&sum, json);
	rc = tool_failed_items(sum.errors) ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
out:
	bl_reader_free(r);
	free(first);
	bl_strlist_release(&shards);
	bl_buf_release(&line);
	return tool_finish(rc);
}
