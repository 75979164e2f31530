/*
 * cmd_tag.c - "ballast tag": tag captions read from standard input, one a
 * line, and write one line per input line in the same order: the label
 * names, sorted and comma separated, or an empty line.  With --json each
 * input line is a JSON object with a "caption" field; the whole line is
 * the sample's JSON for metadata predicates.  A tool for trying rules by
 * hand and for scripts; scans of shards use "ballast scan".
 */
#include "tools.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_tag[] =
	"usage: ballast tag [-r RULES]... [--json] [--view] < captions\n"
	"\n"
	"Reads captions from standard input, one a line, and writes for each\n"
	"line the labels its caption gets: sorted names, comma separated, an\n"
	"empty line when none.\n"
	"\n"
	"  -r, --rules RULES  a rule file or a directory of *.rules files\n"
	"                     (repeatable; default: the shipped filters)\n"
	"  --json             each line is a JSON object; its \"caption\" field\n"
	"                     is tagged and its other fields feed metadata\n"
	"                     predicates (punsafe >= 0.5, status != \"success\")\n"
	"  --view             also write, after a tab, the caption's normalised\n"
	"                     view: the text the rules matched (HTML entities\n"
	"                     and escapes decoded, hashtags, CamelCase and\n"
	"                     slugs split, masked spellings read, ALL-CAPS\n"
	"                     title-cased, invalid UTF-8 as U+FFFD)\n"
	"\n"
	"Exit status: 0 all lines tagged, 1 some line had a problem (bad JSON,\n"
	"invalid UTF-8, a pattern hit its match limit; reported on stderr),\n"
	"2 usage, 3 fatal (bad rule file, write error).\n";

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int cmd_tag(int argc, char **argv)
{
	bl_strlist rules;
	bl_ruleset *rs = NULL;
	bl_tagger *tg = NULL;
	const char **names = NULL;
	int *order = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	int json = 0, view = 0, nl, problems = 0;
	int rc = EXIT_FATAL;

	bl_strlist_init(&rules);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-r") || !strcmp(a, "--rules")) {
			if (i + 1 >= argc) {
				rc = tool_usage_error(usage_tag, "%s needs a file or directory", a);
				goto out;
			}
			if (bl_strlist_add(&rules, argv[++i]) != BL_OK) {
				tool_err("out of memory");
				goto out;
			}
		} else if (!strncmp(a, "--rules=", 8)) {
			if (bl_strlist_add(&rules, a + 8) != BL_OK) {
				tool_err("out of memory");
				goto out;
			}
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--view")) {
			view = 1;
		} else {
			rc = tool_usage_error(usage_tag, "unexpected argument '%s'", a);
			goto out;
		}
	}
	rs = tool_load_rules(&rules);
	if (!rs)
		goto out;
	tg = bl_tagger_new(rs);
	nl = bl_ruleset_nlabels(rs);
	names = malloc((size_t)nl * sizeof *names);
	order = malloc((size_t)nl * sizeof *order);
	if (!tg || !names || !order) {
		tool_err("out of memory");
		goto out;
	}
	/* sorted label order, computed once */
	for (int i = 0; i < nl; i++)
		names[i] = bl_ruleset_label(rs, i);
	qsort(names, (size_t)nl, sizeof *names, cmp_names);
	for (int i = 0; i < nl; i++)
		order[i] = bl_ruleset_label_index(rs, names[i]);

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		bl_tag_input in;
		bl_labelset ls;
		cJSON *doc = NULL;
		int first = 1, trc;

		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		memset(&in, 0, sizeof in);
		if (json) {
			const cJSON *c;
			in.json = line;
			in.json_len = (size_t)n;
			doc = cJSON_ParseWithLength(line, (size_t)n);
			c = doc ? cJSON_GetObjectItemCaseSensitive(doc, "caption") : NULL;
			if (cJSON_IsString(c) && c->valuestring) {
				in.caption = c->valuestring;
				in.caption_len = strlen(c->valuestring);
			} else if (n > 0) {
				tool_err("line %lu: %s", lineno,
					 doc ? "no \"caption\" string field"
					     : "not a JSON object");
				problems = 1;
			}
		} else {
			in.caption = line;
			in.caption_len = (size_t)n;
		}
		trc = bl_tagger_tag(tg, &in, &ls);
		if (trc == BL_WARN) {
			tool_err("line %lu: %s", lineno, bl_tagger_errmsg(tg));
			problems = 1;
		} else if (trc != BL_OK) {
			tool_err("line %lu: tagging failed", lineno);
			problems = 1;
		}
		for (int i = 0; i < nl; i++) {
			if (!bl_labelset_has(&ls, order[i]))
				continue;
			if (!first)
				putchar(',');
			fputs(names[i], stdout);
			first = 0;
		}
		if (view) {
			size_t vlen;
			const char *v = bl_tagger_view(tg, &vlen);
			putchar('\t');
			if (v)
				fwrite(v, 1, vlen, stdout);
		}
		putchar('\n');
		cJSON_Delete(doc);
	}
	if (ferror(stdin)) {
		tool_err("error reading standard input");
		goto out;
	}
	rc = problems ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
out:
	free(line);
	free(names);
	free(order);
	bl_tagger_free(tg);
	bl_ruleset_free(rs);
	bl_strlist_release(&rules);
	return rc == EXIT_FATAL || rc == EXIT_USAGE ? rc : tool_finish(rc);
}
