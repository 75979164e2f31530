/*
 * cmd_write.c - "ballast write": a manifest materialised as new WebDataset
 * shards, for trainers that read shards and know nothing of weights.
 */
#include "tools.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_write[] =
	"usage: ballast write MANIFEST -o OUTDIR [--per-shard N] [--seed S]\n"
	"                     [--rating-tags] [--force] [--check-shards auto|full|quick|none]\n"
	"                     [--no-check-shards] [--allow-failed-plan] [-q]\n"
	"\n"
	"Write the samples a manifest keeps as new WebDataset shards\n"
	"OUTDIR/00000.tar, 00001.tar ..., with OUTDIR/shards.txt (their names,\n"
	"one a line), OUTDIR/shards.json (per shard: url relative to OUTDIR,\n"
	"samples, weight) and OUTDIR/ballast.json (what was written and skipped,\n"
	"by reason).  Every member is copied whole from the original shards\n"
	"(read in one streaming pass each); a sample that cannot be copied whole\n"
	"is an item error, never written in part.  Tar format: pax (ustar\n"
	"headers, an extended header only for what ustar cannot hold: names over\n"
	"100 bytes or not ASCII).\n"
	"\n"
	"Weights.  With integer repeat counts (a policy with `realise upsample` or\n"
	"`downsample`) a sample with count N is written N times, as KEY, KEY_r1,\n"
	"... KEY_r(N-1).  The copies are spread evenly over the whole output (copy\n"
	"k of N at position (k + u) / N, u a seeded, stratified phase), not\n"
	"side by side: no shard or window is crowded by one heavy sample (when\n"
	"nothing repeats, samples keep the manifest's shard order).  With\n"
	"fractional weights (`realise weights`) every sample is written ONCE and\n"
	"its json member gets \"ballast_weight\": W (a json member is added when\n"
	"there is none); a sample whose json is not an object is skipped.  Either\n"
	"way, reading the output as below gives the manifest's weighted set.\n"
	"\n"
	"Keys stay unique: a key already in the output (the same key in two input\n"
	"shards, an entry listed twice) is written as KEY_dN, and copies whose\n"
	"name is taken as KEY_dN_rK; `ballast ls --summary OUTDIR/*.tar` counts\n"
	"exactly the samples this command reports.\n"
	"\n"
	"Reading the output with webdataset (copies are in the shards; a\n"
	"fractional ballast_weight w keeps a sample floor(w) or ceil(w) times,\n"
	"at random, so its expected count is w; the shuffle buffer spreads those\n"
	"repeats: keep it well above batch size x the largest weight):\n"
	"\n"
	"      import json, os, random, webdataset as wds\n"
	"      d = \"OUTDIR\"\n"
	"      urls = [os.path.join(d, u) for u in open(os.path.join(d, \"shards.txt\")).read().split()]\n"
	"      IMAGE = (\"jpg\", \"jpeg\", \"png\", \"webp\")\n"
	"      def weighted(src, rng=random.Random(0)):\n"
	"          for s in src:  # ballast_weight w: kept floor(w) or ceil(w) times\n"
	"              w = json.loads(s[\"json\"]).get(\"ballast_weight\", 1) if \"json\" in s else 1\n"
	"              for _ in range(int(w) + (rng.random() < w % 1)):\n"
	"                  yield s\n"
	"      def fields(s):  # (image, caption, json)\n"
	"          img = next(s[e] for e in IMAGE if e in s)\n"
	"          return img, s.get(\"txt\", \"\"), s.get(\"json\", {})\n"
	"      ds = wds.DataPipeline(wds.ResampledShards(urls), wds.tarfile_to_samples(),\n"
	"                            weighted, wds.select(lambda s: any(e in s for e in IMAGE)),\n"
	"                            wds.shuffle(5000), wds.decode(\"pil\"), wds.map(fields))\n"
	"\n"
	"Samples without an image are left out; a missing caption or json gives\n"
	"\"\" or {}.\n"
	"\n"
	"  -o OUTDIR       output directory, built as OUTDIR.tmp-XXXXXX and renamed\n"
	"                  when complete (a killed run leaves no OUTDIR)\n"
	"  --per-shard N   samples per output shard, copies included (10000)\n"
	"  --seed S        seed of the placement (default: the manifest's)\n"
	"  --rating-tags   append a rating token to the caption of samples\n"
	"                  labelled sexual.explicit (\"nsfw\") or sexual.suggestive\n"
	"                  (\"suggestive\"), so a model can be steered away from them\n"
	"  --force         replace an existing OUTDIR whole (only an earlier output\n"
	"                  of ballast, with its ballast.json, or an empty directory)\n"
	"  --check-shards L  before reading, check each shard against the manifest's\n"
	"                  record: full (size and SHA-256; the default), quick (size\n"
	"                  and mtime; SHA-256 when the mtime changed), auto (full up\n"
	"                  to 1 GiB of shards, quick above), none.  A shard that\n"
	"                  changed since the manifest was written is refused\n"
	"  --no-check-shards  the same as --check-shards none.  '-', FIFOs and\n"
	"                  devices are refused whatever the level\n"
	"  --allow-failed-plan  write a manifest whose plan failed its checks\n"
	"                  (rebalance said PLAN FAILED and exited 1; a check in\n"
	"                  manifest.json has status \"failed\"), with a WARNING\n"
	"                  naming them at the top of the output and on stderr.\n"
	"                  Without it such a manifest is refused (exit 3): fix the\n"
	"                  policy or its input and rebalance again, or accept a\n"
	"                  risk taken knowingly with the policy's `accept` line.\n"
	"                  A summary whose \"ok\" disagrees with its checks was\n"
	"                  edited: it is refused whatever this says\n"
	"  -q              do not print item errors\n"
	"\n"
	"Keys that would leave OUTDIR (absolute, '..', backslashes, control\n"
	"characters) are item errors and are not written.  The same manifest and\n"
	"seed give byte-identical shards.\n"
	"Exit status: 0 all good, 1 some entries were not written, 2 usage,\n"
	"3 fatal (nothing written; e.g. a shard changed since the manifest, or\n"
	"its plan failed without --allow-failed-plan).\n";

int cmd_write(int argc, char **argv)
{
	static const struct option opts[] = {
		{"per-shard", required_argument, NULL, 'p'},
		{"rating-tags", no_argument, NULL, 'R'},
		{"force", no_argument, NULL, 'F'},
		{"seed", required_argument, NULL, 's'},
		{"check-shards", required_argument, NULL, 'C'},
		{"no-check-shards", no_argument, NULL, 'N'},
		{"allow-failed-plan", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	bl_export_options eo;
	bl_export_totals tot;
	bl_sampler *s = NULL;
	const char *out = NULL;
	int quiet = 0, allow_failed = 0, c, rc = EXIT_FATAL, level = BL_CHECK_FULL;
	char err[1024];

	memset(&eo, 0, sizeof eo);
	while ((c = getopt_long(argc, argv, "o:q", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'q': quiet = 1; break;
		case 'R': eo.rating_tags = 1; break;
		case 'F': eo.force = 1; break;
		case 'N': level = BL_CHECK_NONE; break;
		case 'A': allow_failed = 1; break;
		case 'C':
			if ((level = tool_check_level(optarg)) < 0) {
				rc = tool_usage_error(usage_write, "--check-shards wants full, quick or none");
				goto out;
			}
			break;
		case 's':
			if (tool_parse_u64(optarg, &eo.seed) != BL_OK) {
				rc = tool_usage_error(usage_write, "--seed wants an integer 0..2^64-1");
				goto out;
			}
			eo.seed_set = 1;
			break;
		case 'p':
			if (tool_parse_u64(optarg, &eo.per_shard) != BL_OK || eo.per_shard < 1) {
				rc = tool_usage_error(usage_write, "--per-shard wants a positive integer");
				goto out;
			}
			break;
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
	if (tool_check_plan(argv[optind], s, allow_failed, stdout) != BL_OK)
		goto out;
	if (tool_check_shards(argv[optind], s, level, quiet) != BL_OK)
		goto out;
	eo.on_error = tool_item_error;
	eo.on_progress = tool_progress;
	eo.arg = &quiet;
	if (bl_export_write(s, out, &eo, &tot, err, sizeof err) != BL_OK) {
		tool_err("%s", err);
		goto out;
	}
	printf("entries  %" PRIu64 "\nsamples  %" PRIu64 " written (%" PRIu64
	       " extra copies, %" PRIu64 " with a fractional ballast_weight)\n"
	       "shards   %" PRIu64 " in %s\nfailed   %" PRIu64 "\n",
	       tot.entries, tot.samples, tot.copies, tot.weighted, tot.files,
	       tool_esc(out), tot.failed);
	tool_print_skipped(&tot);
	if (eo.rating_tags)
		printf("rated    %" PRIu64 " captions given a rating tag\n", tot.rated);
	if (tot.failed)
		tool_err("%" PRIu64 " of %" PRIu64 " entries were not written (reasons above)",
			 tot.failed, tot.entries);
	rc = tot.failed ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
out:
	bl_sampler_free(s);
	return rc == EXIT_USAGE ? rc : tool_finish(rc);
}
