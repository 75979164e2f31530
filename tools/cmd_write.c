/*
 * cmd_write.c - "ballast write": a manifest materialised as new WebDataset
 * shards, for trainers that read shards and know nothing of weights.
 */
#include "tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_write[] =
	"usage: ballast write MANIFEST -o OUTDIR [--per-shard N] [--rating-tags]\n"
	"                     [--force] [-q]\n"
	"\n"
	"Write the samples a manifest keeps as new WebDataset shards\n"
	"OUTDIR/00000.tar, 00001.tar ... (each written atomically), copying every\n"
	"member from the original shards (read in one streaming pass each).\n"
	"\n"
	"Weights.  With integer repeat counts (a policy with `realise upsample` or\n"
	"`downsample`) a sample with count N is written N times, as KEY, KEY_r1,\n"
	"... KEY_r(N-1), one after the other (shuffle when reading).  With\n"
	"fractional weights (`realise weights`) every sample is written ONCE and\n"
	"its json member gets \"ballast_weight\": W (a json member is added when\n"
	"there is none): the weight is only honoured by a trainer that reads it\n"
	"(e.g. as a loss weight).  For copies instead, rebalance with upsample.\n"
	"\n"
	"  -o OUTDIR       output directory (must not exist unless --force)\n"
	"  --per-shard N   samples per output shard, copies included (10000)\n"
	"  --rating-tags   append a rating token to the caption of samples\n"
	"                  labelled sexual.explicit (\"nsfw\") or sexual.suggestive\n"
	"                  (\"suggestive\"), so a model can be steered away from them\n"
	"  --force         write into an existing OUTDIR\n"
	"  -q              do not print item errors\n"
	"\n"
	"Keys that would leave OUTDIR (absolute, '..', backslashes, control\n"
	"characters) are item errors and are not written.\n"
	"Exit status: 0 all good, 1 some entries failed, 2 usage, 3 fatal.\n";

int cmd_write(int argc, char **argv)
{
	static const struct option opts[] = {
		{"per-shard", required_argument, NULL, 'p'},
		{"rating-tags", no_argument, NULL, 'R'},
		{"force", no_argument, NULL, 'F'},
		{NULL, 0, NULL, 0},
	};
	bl_export_options eo;
	bl_export_totals tot;
	bl_sampler *s = NULL;
	const char *out = NULL;
	int quiet = 0, c, rc = EXIT_FATAL;
	char err[1024];

	memset(&eo, 0, sizeof eo);
	while ((c = getopt_long(argc, argv, "o:q", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'q': quiet = 1; break;
		case 'R': eo.rating_tags = 1; break;
		case 'F': eo.force = 1; break;
		case 'p': {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno || *end || v < 1 || optarg[0] == '-') {
				rc = tool_usage_error(usage_write, "--per-shard wants a positive integer");
				goto out;
			}
			eo.per_shard = v;
			break;
		}
		default:
			rc = tool_usage_error(usage_write, NULL);
			goto out;
		}
	}
	if (optind + 1 != argc || !out) {
		rc = tool_usage_error(usage_write, !out ? "-o OUTDIR is required"
				      : "one manifest is required");
		goto out;
	}
	s = bl_sampler_open(argv[optind], err, sizeof err);
	if (!s) {
		tool_err("%s", err);
		goto out;
	}
	eo.on_error = tool_item_error;
	eo.arg = &quiet;
	if (bl_export_write(s, out, &eo, &tot, err, sizeof err) != BL_OK) {
		tool_err("%s", err);
		goto out;
	}
	printf("entries  %" PRIu64 "\nsamples  %" PRIu64 " written (%" PRIu64
	       " extra copies, %" PRIu64 " with a fractional ballast_weight)\n"
	       "shards   %" PRIu64 " in %s\nfailed   %" PRIu64 "\n",
	       tot.entries, tot.samples, tot.copies, tot.weighted, tot.files, out, tot.failed);
	if (eo.rating_tags)
		printf("rated    %" PRIu64 " captions given a rating tag\n", tot.rated);
	rc = tot.failed ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
out:
	bl_sampler_free(s);
	return rc == EXIT_USAGE ? rc : tool_finish(rc);
}
