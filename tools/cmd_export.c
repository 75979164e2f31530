/*
 * cmd_export.c - "ballast export": a manifest in the layouts real trainers
 * read (webdataset pipelines, kohya-ss sd-scripts, Hugging Face
 * imagefolder).
 */
#include "tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_export[] =
	"usage: ballast export MANIFEST --to webdataset|kohya|hf -o PATH\n"
	"                      [--seed S] [--repeat-scale X|auto] [--resolution PX]\n"
	"                      [--force] [--check-shards auto|full|quick|none]\n"
	"                      [--no-check-shards] [--allow-failed-plan] [-q]\n"
	"\n"
	"PATH is built as PATH.tmp-XXXXXX and renamed when complete; it always\n"
	"holds PATH/ballast.json: what was written and what was skipped, by\n"
	"reason (the same counts are printed).\n"
	"\n"
	"  --to webdataset  PATH/shards.txt (the original shards, absolute paths,\n"
	"                   one a line), PATH/weights.jsonl ({\"url\", \"key\",\n"
	"                   \"weight\"} a line) and PATH/shards.json (per shard: url,\n"
	"                   samples kept, their weight and its share; information\n"
	"                   only: mixing whole shards by it does NOT weight the\n"
	"                   samples inside).  Nothing is copied.  The weights\n"
	"                   arrive by per-sample resampling: shards are drawn\n"
	"                   uniformly and a sample of weight x is kept floor(x) or\n"
	"                   ceil(x) times at random (samples the manifest does not\n"
	"                   keep, never), so its expected count is x.  A zstd\n"
	"                   (lz4, lzip) shard's url is a pipe: URL through\n"
	"                   `zstd -dc` (Python's tarfile reads gzip, bzip2 and xz\n"
	"                   itself).  Samples without an image are left out; a\n"
	"                   missing caption or json gives \"\" or {}.  In Python:\n"
	"\n"
	"      import json, random, webdataset as wds\n"
	"      d = \"PATH\"\n"
	"      urls = open(d + \"/shards.txt\").read().split(\"\\n\")[:-1]\n"
	"      w = {}\n"
	"      for line in open(d + \"/weights.jsonl\"):\n"
	"          o = json.loads(line)\n"
	"          w[o[\"url\"], o[\"key\"]] = o[\"weight\"]\n"
	"      IMAGE = (\"jpg\", \"jpeg\", \"png\", \"webp\")\n"
	"      def reweight(src, rng=random.Random(0)):\n"
	"          for s in src:  # weight x: kept floor(x) or ceil(x) times\n"
	"              x = w.get((s[\"__url__\"], s[\"__key__\"]), 0.0)\n"
	"              for _ in range(int(x) + (rng.random() < x % 1)):\n"
	"                  yield s\n"
	"      def fields(s):  # (image, caption, json)\n"
	"          img = next(s[e] for e in IMAGE if e in s)\n"
	"          return img, s.get(\"txt\", \"\"), s.get(\"json\", {})\n"
	"      ds = wds.DataPipeline(wds.ResampledShards(urls), wds.tarfile_to_samples(),\n"
	"                            reweight, wds.select(lambda s: any(e in s for e in IMAGE)),\n"
	"                            wds.shuffle(5000), wds.decode(\"pil\"), wds.map(fields))\n"
	"\n"
	"                   The repeats of one sample come out together: the\n"
	"                   shuffle buffer spreads them, so keep it well above\n"
	"                   batch size x the largest weight.  A shard holding\n"
	"                   members ballast rejected as duplicates (a key seen\n"
	"                   before in it, a second member of one extension or\n"
	"                   caption) is left out, its entries item errors\n"
	"                   (duplicate_key): a reader would weight those members\n"
	"                   by another sample's (url, key).  For shards with the\n"
	"                   copies already in place (and spread), see `ballast\n"
	"                   write --help`.\n"
	"  --to kohya       images and .txt captions extracted to PATH/rN/ by repeat\n"
	"                   count N, and PATH/dataset.toml for sd-scripts\n"
	"                   (train_network.py --dataset_config PATH/dataset.toml):\n"
	"                   one [[datasets.subsets]] per N with num_repeats = N.\n"
	"                   N = weight x the repeat scale, rounded to floor or ceil\n"
	"                   at random so that its expectation is exact (seeded:\n"
	"                   --seed, default the manifest's seed; the stream of a\n"
	"                   sample is (seed, shard << 40 ^ ordinal)).  A sample\n"
	"                   rounded to 0 is left out and counted (rounded_to_zero);\n"
	"                   --repeat-scale auto multiplies every weight by\n"
	"                   1 / the smallest, so none is.  kohya reads one line of\n"
	"                   caption and stops at an empty caption file: line breaks\n"
	"                   become spaces, and samples without a caption are\n"
	"                   skipped (no_caption)\n"
	"  --to hf          images extracted to PATH/ and PATH/metadata.jsonl with\n"
	"                   file_name, text, weight (a float), key (Hugging Face\n"
	"                   imagefolder: load_dataset(\"imagefolder\", data_dir=\"PATH\"));\n"
	"                   the weight column is for a weighted sampler or loss\n"
	"  --seed S         seed of kohya's rounding (0 is a seed like any other)\n"
	"  --repeat-scale X kohya: multiply weights by X > 0 before rounding (1), or\n"
	"                   auto (1 / the smallest weight)\n"
	"  --resolution PX  kohya: the dataset's resolution (512)\n"
	"  --force          replace an existing PATH whole (only an earlier output\n"
	"                   of ballast, with its ballast.json, or an empty directory)\n"
	"  --check-shards L before reading, check each shard against the manifest's\n"
	"                   record: full (size and SHA-256; the default for kohya and\n"
	"                   hf), quick (size and mtime, SHA-256 when the mtime\n"
	"                   changed), auto (full up to 1 GiB of shards, quick above;\n"
	"                   the default for webdataset, which copies nothing), none.\n"
	"                   A shard that changed since the manifest is refused\n"
	"  --no-check-shards  the same as --check-shards none ('-', FIFOs and\n"
	"                   devices are refused whatever the level)\n"
	"  --allow-failed-plan  export a manifest whose plan failed its checks\n"
	"                   (rebalance said PLAN FAILED and exited 1; a check in\n"
	"                   manifest.json has status \"failed\"), with a WARNING\n"
	"                   naming them at the top of the output and on stderr.\n"
	"                   Without it such a manifest is refused (exit 3): fix\n"
	"                   the policy or its input and rebalance again, or accept\n"
	"                   a risk taken knowingly with the policy's `accept` line.\n"
	"                   A summary whose \"ok\" disagrees with its checks was\n"
	"                   edited: it is refused whatever this says\n"
	"  -q               do not print item errors\n"
	"\n"
	"File names are the keys with '/' turned into '_' (a leading '.' too, so\n"
	"no file is hidden), cut to 200 bytes plus '~' and a hash when longer, and\n"
	"unique ignoring case (_dN added, counted as renamed).  Keys that would\n"
	"leave PATH are item errors.  Only the first image member of a sample is\n"
	"extracted; samples without one are item errors.  Captions with bytes that\n"
	"are not UTF-8 get U+FFFD for them (counted).\n"
	"Exit status: 0 all good, 1 some entries were not written (rounded_to_zero\n"
	"is not a failure), 2 usage, 3 fatal (nothing written; e.g. the plan\n"
	"failed without --allow-failed-plan).\n";

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{"to", required_argument, NULL, 't'},
		{"seed", required_argument, NULL, 's'},
		{"repeat-scale", required_argument, NULL, 'x'},
		{"resolution", required_argument, NULL, 'r'},
		{"force", no_argument, NULL, 'F'},
		{"check-shards", required_argument, NULL, 'C'},
		{"no-check-shards", no_argument, NULL, 'N'},
		{"allow-failed-plan", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	bl_export_options eo;
	bl_export_totals tot;
	bl_sampler *s = NULL;
	const char *out = NULL, *to = NULL;
	int quiet = 0, allow_failed = 0, kind, c, rc = EXIT_FATAL, level = -1;
	char err[1024], *end;

	memset(&eo, 0, sizeof eo);
	while ((c = getopt_long(argc, argv, "o:q", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 't': to = optarg; break;
		case 'q': quiet = 1; break;
		case 'F': eo.force = 1; break;
		case 'N': level = BL_CHECK_NONE; break;
		case 'A': allow_failed = 1; break;
		case 'C':
			if ((level = tool_check_level(optarg)) < 0) {
				rc = tool_usage_error(usage_export, "--check-shards wants full, quick or none");
				goto out;
			}
			break;
		case 's':
			if (tool_parse_u64(optarg, &eo.seed) != BL_OK) {
				rc = tool_usage_error(usage_export, "--seed wants an integer 0..2^64-1");
				goto out;
			}
			eo.seed_set = 1;
			break;
		case 'x':
			if (!strcmp(optarg, "auto")) {
				eo.repeat_scale = -1;
				break;
			}
			errno = 0;
			eo.repeat_scale = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(eo.repeat_scale > 0) ||
			    !isfinite(eo.repeat_scale) || eo.repeat_scale > 1e6) {
				rc = tool_usage_error(usage_export, "--repeat-scale wants a number in "
						      "(0, 1e6] or auto");
				goto out;
			}
			break;
		case 'r':
			eo.resolution = (int)strtol(optarg, &end, 10);
			if (*end || eo.resolution < 64 || eo.resolution > 8192) {
				rc = tool_usage_error(usage_export, "--resolution wants 64..8192");
				goto out;
			}
			break;
		default:
			rc = tool_usage_error(usage_export, NULL);
			goto out;
		}
	}
	if (optind + 1 != argc || !out || !to) {
		rc = tool_usage_error(usage_export, !to ? "--to is required" : !out
				      ? "-o PATH is required" : "one manifest is required");
		goto out;
	}
	kind = bl_export_kind_parse(to);
	if (kind < 0) {
		rc = tool_usage_error(usage_export, "--to '%s': want webdataset, kohya or hf", to);
		goto out;
	}
	s = bl_sampler_open(argv[optind], err, sizeof err);
	if (!s) {
		tool_err("%s", err);
		goto out;
	}
	if (tool_check_plan(argv[optind], s, allow_failed, stdout) != BL_OK)
		goto out;
	if (level < 0)
		level = kind == BL_EXPORT_WEBDATASET ? BL_CHECK_AUTO : BL_CHECK_FULL;
	if (tool_check_shards(argv[optind], s, level, quiet) != BL_OK)
		goto out;
	eo.on_error = tool_item_error;
	eo.on_progress = tool_progress;
	eo.arg = &quiet;
	if (bl_export_to(s, kind, out, &eo, &tot, err, sizeof err) != BL_OK) {
		tool_err("%s", err);
		goto out;
	}
	printf("entries  %" PRIu64 "\nsamples  %" PRIu64 " (%" PRIu64 " as extra repeats)\n"
	       "files    %" PRIu64 " written under %s\nfailed   %" PRIu64 "\n",
	       tot.entries, tot.samples, tot.copies, tot.files, tool_esc(out), tot.failed);
	tool_print_skipped(&tot);
	if (tot.repaired)
		printf("repaired %" PRIu64 " captions (bytes that are not UTF-8 became U+FFFD)\n",
		       tot.repaired);
	if (tot.joined)
		printf("joined   %" PRIu64 " captions of several lines into one\n", tot.joined);
	if (tot.skipped[BL_SKIP_ROUNDED_AWAY])
		tool_err("%" PRIu64 " of %" PRIu64 " samples rounded to 0 repeats and are not in "
			 "the dataset (the rounding keeps each weight in expectation); "
			 "--repeat-scale auto keeps every sample", tot.skipped[BL_SKIP_ROUNDED_AWAY],
			 tot.entries);
	if (tot.failed)
		tool_err("%" PRIu64 " of %" PRIu64 " entries were not written (reasons above)",
			 tot.failed, tot.entries);
	rc = tot.failed ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
out:
	bl_sampler_free(s);
	return rc == EXIT_USAGE ? rc : tool_finish(rc);
}
