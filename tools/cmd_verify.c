/*
 * cmd_verify.c - "ballast verify": check a manifest against its shards
 * (bl_verify_manifest) before training on it.
 */
#include "tools.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

const char usage_verify[] =
	"usage: ballast verify OUTDIR [--no-digest] [-q]\n"
	"\n"
	"Check a manifest (a 'ballast rebalance' OUTDIR) against the shards it\n"
	"points into: every shard exists with the size and SHA-256 recorded when\n"
	"the manifest was written, and every entry's key stands at its ordinal and\n"
	"byte offset.  Run it before a long training job, or after moving shards.\n"
	"\n"
	"  --no-digest   skip the SHA-256 of each shard (it rereads every byte)\n"
	"  -q            do not print each mismatch\n"
	"\n"
	"Exit status: 0 all match, 1 some shards or entries do not, 2 usage,\n"
	"3 the manifest cannot be read.\n";

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"no-digest", no_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	bl_verify_options vo;
	bl_verify_totals t;
	int quiet = 0, c, rc;
	char err[1024];

	memset(&vo, 0, sizeof vo);
	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
		switch (c) {
		case 'D': vo.no_digest = 1; break;
		case 'q': quiet = 1; break;
		default: return tool_usage_error(usage_verify, NULL);
		}
	}
	if (optind + 1 != argc)
		return tool_usage_error(usage_verify, "want exactly one manifest directory");
	vo.on_error = tool_item_error;
	vo.arg = &quiet;
	rc = bl_verify_manifest(argv[optind], &vo, &t, err, sizeof err);
	if (rc == BL_FATAL || rc == BL_EUSAGE) {
		tool_err("%s", err);
		return tool_finish(EXIT_FATAL);
	}
	printf("shards   %llu (%llu do not match; %llu SHA-256 checked)\n",
	       (unsigned long long)t.shards, (unsigned long long)t.shards_bad,
	       (unsigned long long)t.digests);
	printf("entries  %llu (%llu do not match)\n", (unsigned long long)t.entries,
	       (unsigned long long)t.entries_bad);
	if (rc != BL_OK)
		tool_err("%s", err);
	return tool_finish(rc == BL_OK ? EXIT_ALL_GOOD : EXIT_ITEMS_FAILED);
}
