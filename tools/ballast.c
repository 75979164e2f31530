/*
 * ballast.c - the command-line front end: a table of subcommands (git's
 * git.c), each in its own tools/cmd_NAME.c.  "ballast help CMD" and
 * "ballast CMD --help" print the same usage on stdout.
 */
#include "tools.h"

#include <stdio.h>
#include <string.h>

static const struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
	const char *summary;
} commands[] = {
	{"ls", cmd_ls, usage_ls, "list the samples of shards, or summarise them"},
	{"tag", cmd_tag, usage_tag, "tag captions read from stdin with rule files"},
	{"scan", cmd_scan, usage_scan, "tag shards, write the index, print label counts"},
	{"merge", cmd_merge, usage_merge, "merge partial indexes written by array tasks"},
	{"eval", cmd_eval, usage_eval, "precision and recall of rules on a labelled set"},
	{"audit", cmd_audit, usage_audit, "draw a review sheet: how far to trust the tags on your data"},
	{"probe", cmd_probe, usage_probe, "probe image files (JPEG header, decode check)"},
	{"report", cmd_report, usage_report, "distributions, co-occurrence and the skew table of an index"},
	{"rebalance", cmd_rebalance, usage_rebalance, "weights that move an index to a declared target; writes manifests"},
	{"mkshards", cmd_mkshards, usage_mkshards, "write synthetic shards with a planted skew"},
	{"train", cmd_train, usage_train, "reference consumer: weighted draws, loader, placeholder step"},
	{"write", cmd_write, usage_write, "write a manifest out as new shards (repeats, weights)"},
	{"export", cmd_export, usage_export, "export a manifest for webdataset, kohya-ss or HF imagefolder"},
	{"verify", cmd_verify, usage_verify, "check a manifest against its shards (sizes, SHA-256, keys at offsets)"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void list_commands(FILE *f)
{
	fputs("usage: ballast COMMAND [ARGS]\n\n"
	      "ballast measures and corrects skew in image-caption shards.\n\n"
	      "commands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\n'ballast help COMMAND' or 'ballast COMMAND --help' for details.\n"
	      "exit codes: 0 all good, 1 finished but some items failed, 2 usage, 3 fatal\n", f);
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		list_commands(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("ballast %s\n", BALLAST_VERSION);
		return tool_finish(EXIT_ALL_GOOD);
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc > 2 && strcmp(argv[1], "help") == 0 && strcmp(argv[2], "help") != 0) {
			c = find(argv[2]);
			if (!c) {
				fprintf(stderr, "ballast: '%s' is not a ballast command\n", argv[2]);
				return EXIT_USAGE;
			}
			fputs(c->usage, stdout);
			return tool_finish(EXIT_ALL_GOOD);
		}
		list_commands(stdout);
		return tool_finish(EXIT_ALL_GOOD);
	}
	c = find(argv[1]);
	if (!c) {
		fprintf(stderr, "ballast: '%s' is not a ballast command; see 'ballast help'\n", argv[1]);
		return EXIT_USAGE;
	}
	tool_cmd = c->name;
	/* getopt's own messages then read "ballast scan: unrecognized option" */
	{
		static char name[64];
		snprintf(name, sizeof name, "ballast %s", c->name);
		argv[1] = name;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(c->usage, stdout);
			return tool_finish(EXIT_ALL_GOOD);
		}
	}
	return c->fn(argc - 1, argv + 1);
}
