/*
 * cmd_export.c - "ballast export": a manifest in the layouts real trainers
 * read (webdataset pipelines, kohya-ss sd-scripts, Hugging Face
 * imagefolder).
 */
#include "tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_export[] =
	"usage: ballast export MANIFEST --to webdataset|kohya|hf -o PATH\n"
	"                      [--seed S] [--resolution PX] [--force] [-q]\n"
	"\n"
	"  --to webdataset  PATH/shards.txt (one shard URL a line), PATH/shards.json\n"
	"                   (per shard: url, samples kept, weight = sum of their\n"
	"                   weights, share) and PATH/weights.tsv (url, key, weight).\n"
	"                   Nothing is copied.  In Python:\n"
	"\n"
	"      import random, webdataset as wds\n"
	"      urls = open(\"PATH/shards.txt\").read().split()\n"
	"      w = {}\n"
	"      for line in open(\"PATH/weights.tsv\"):\n"
	"          url, key, x = line.rstrip(\"\\n\").split(\"\\t\")\n"
	"          w[url, key] = float(x)\n"
	"      def reweight(src, rng=random.Random(0)):\n"
	"          for s in src:     # a sample of weight x is kept floor(x) or ceil(x) times\n"
	"              x = w.get((s[\"__url__\"], s[\"__key__\"]), 0.0)\n"
	"              for _ in range(int(x) + (rng.random() < x % 1)):\n"
	"                  yield s\n"
	"      ds = wds.DataPipeline(wds.ResampledShards(urls), wds.tarfile_to_samples(),\n"
	"                            reweight, wds.shuffle(1000), wds.decode(\"pil\"),\n"
	"                            wds.to_tuple(\"jpg\", \"txt\"))\n"
	"\n"
	"                   ResampledShards draws shards uniformly, so the per-sample\n"
	"                   filter realises the weights exactly.  To mix shards by\n"
	"                   shard-level weight (shards from `ballast write`, where the\n"
	"                   weights are already baked in), use shards.json:\n"
	"                     m = json.load(open(\"PATH/shards.json\"))[\"shards\"]\n"
	"                     ds = wds.RandomMix([wds.WebDataset(s[\"url\"], resampled=True)\n"
	"                                         for s in m], [s[\"weight\"] for s in m])\n"
	"  --to kohya       images and .txt captions extracted to PATH/rN/ by repeat\n"
	"                   count N, and PATH/dataset.toml for sd-scripts\n"
	"                   (train_network.py --dataset_config PATH/dataset.toml):\n"
	"                   one [[datasets.subsets]] per N with num_repeats = N.\n"
	"                   Fractional weights are rounded to floor or ceil at random\n"
	"                   (seeded: --seed, default the manifest's), 0 drops the image\n"
	"  --to hf          images extracted to PATH/ and PATH/metadata.jsonl with\n"
	"                   file_name, text, weight (Hugging Face imagefolder:\n"
	"                   load_dataset(\"imagefolder\", data_dir=\"PATH\")); the weight\n"
	"                   column is for a weighted sampler or loss\n"
	"  --resolution PX  kohya: the dataset's resolution (512)\n"
	"  --force          write into an existing PATH\n"
	"  -q               do not print item errors\n"
	"\n"
	"File names are the keys with '/' turned into '_' (prefixed with sNNNNN_,\n"
	"the shard's index, when two keys would collide).  Keys that would leave\n"
	"PATH are item errors.  Only the first image member of a sample is\n"
	"extracted; samples without one are item errors.\n"
	"Exit status: 0 all good, 1 some entries failed, 2 usage, 3 fatal.\n";

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{"to", required_argument, NULL, 't'},
		{"seed", required_argument, NULL, 's'},
		{"resolution", required_argument, NULL, 'r'},
		{"force", no_argument, NULL, 'F'},
		{NULL, 0, NULL, 0},
	};
	bl_export_options eo;
	bl_export_totals tot;
	bl_sampler *s = NULL;
	const char *out = NULL, *to = NULL;
	int quiet = 0, kind, c, rc = EXIT_FATAL;
	char err[1024], *end;

	memset(&eo, 0, sizeof eo);
	while ((c = getopt_long(argc, argv, "o:q", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 't': to = optarg; break;
		case 'q': quiet = 1; break;
		case 'F': eo.force = 1; break;
		case 's':
			errno = 0;
			eo.seed = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-') {
				rc = tool_usage_error(usage_export, "--seed wants a non-negative integer");
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
	eo.on_error = tool_item_error;
	eo.arg = &quiet;
	if (bl_export_to(s, kind, out, &eo, &tot, err, sizeof err) != BL_OK) {
		tool_err("%s", err);
		goto out;
	}
	printf("entries  %" PRIu64 "\nsamples  %" PRIu64 " (%" PRIu64 " as extra repeats)\n"
	       "files    %" PRIu64 " written under %s\nfailed   %" PRIu64 "\n",
	       tot.entries, tot.samples, tot.copies, tot.files, out, tot.failed);
	rc = tot.failed ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
out:
	bl_sampler_free(s);
	return rc == EXIT_USAGE ? rc : tool_finish(rc);
}
