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
	"Check a manifest (a 'ballast rebalance' OUTDIR, or a .jsonl of entries)\n"
	"before training on it.  Its lines are the ones manifest.json records:\n"
	"each shards/ file holds as many entries as it says were written, the\n"
	"weights sum as recorded and have the form 'realise' says (integer copy\n"
	"counts for upsample, 1 for downsample), no sample is listed twice, each\n"
	"line names its file's input shard (one input record a shard: the record\n"
	"it is checked against), and the summary's \"ok\" agrees with its checks.\n"
	"They match the shards they point into: every shard read is a regular\n"
	"file with the size and SHA-256 recorded when the manifest was written,\n"
	"and every entry's key stands at its ordinal and byte offset, whatever the\n"
	"order of the lines.  Shard paths are resolved as train, write and export\n"
	"resolve them (as written when that exists, else relative to the manifest\n"
	"directory, else to its parent), so verify agrees with them from any\n"
	"directory.  write, export and train make the shard check themselves,\n"
	"and refuse a manifest whose lines do not match manifest.json (they name\n"
	"the first problem; verify lists them all).\n"
	"\n"
	"A manifest whose plan failed its checks (`ballast rebalance` said PLAN\n"
	"FAILED and exited 1; a check in manifest.json has status \"failed\") gets\n"
	"a WARNING naming them at the top of the output and on stderr; write,\n"
	"export and train refuse it without --allow-failed-plan.  verify checks\n"
	"bytes: the WARNING does not change its exit status.\n"
	"\n"
	"  --no-digest   trust a shard whose size and mtime match the record; the\n"
	"                SHA-256 is computed only when the mtime changed\n"
	"  -q            do not print each mismatch\n"
	"\n"
	"Exit status: 0 all match, 1 the lines do not match manifest.json or some\n"
	"shards or entries do not match, 2 usage, 3 the manifest cannot be read\n"
	"(a damaged line is named).\n";

/* The plan's verdict: said at once on stderr, kept for the top of stdout. */
struct vtool {
	const char *manifest;
	int quiet;
	bl_buf plan;
};

static void on_error(void *arg, const char *msg)
{
	struct vtool *v = arg;
	tool_item_error(&v->quiet, msg);
}

static void on_plan_failed(void *arg, const char *msg)
{
	struct vtool *v = arg;

	tool_err("WARNING: manifest '%s': %s (write, export and train refuse it without "
		 "--allow-failed-plan)", v->manifest, msg);
	bl_buf_reset(&v->plan);
	if (bl_buf_adds(&v->plan, msg) != BL_OK)
		bl_buf_reset(&v->plan);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"no-digest", no_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	bl_verify_options vo;
	bl_verify_totals t;
	struct vtool v;
	int c, rc;
	char err[1024];

	memset(&vo, 0, sizeof vo);
	memset(&v, 0, sizeof v);
	bl_buf_init(&v.plan, 0);
	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
		switch (c) {
		case 'D': vo.no_digest = 1; break;
		case 'q': v.quiet = 1; break;
		default: return tool_usage_error(usage_verify, NULL);
		}
	}
	if (optind + 1 != argc)
		return tool_usage_error(usage_verify, "want exactly one manifest directory");
	vo.on_error = on_error;
	vo.on_plan_failed = on_plan_failed;
	v.manifest = argv[optind];
	vo.arg = &v;
	rc = bl_verify_manifest(argv[optind], &vo, &t, err, sizeof err);
	if (rc == BL_FATAL || rc == BL_EUSAGE) {
		tool_err("%s", err);
		bl_buf_release(&v.plan);
		return tool_finish(EXIT_FATAL);
	}
	if (v.plan.len) {
		printf("WARNING: manifest '%s': ", tool_esc(argv[optind]));
		printf("%s (write, export and train refuse it without --allow-failed-plan)\n",
		       tool_esc(v.plan.buf));
	}
	bl_buf_release(&v.plan);
	printf("manifest %llu problem%s (its lines against manifest.json)\n",
	       (unsigned long long)t.manifest_bad, t.manifest_bad == 1 ? "" : "s");
	printf("shards   %llu (%llu do not match; %llu SHA-256 checked)\n",
	       (unsigned long long)t.shards, (unsigned long long)t.shards_bad,
	       (unsigned long long)t.digests);
	printf("entries  %llu (%llu do not match)\n", (unsigned long long)t.entries,
	       (unsigned long long)t.entries_bad);
	if (rc != BL_OK)
		tool_err("%s", err);
	return tool_finish(rc == BL_OK ? EXIT_ALL_GOOD : EXIT_ITEMS_FAILED);
}
