/*
 * cmd_rebalance.c - "ballast rebalance": a policy file applied to an index,
 * a weighted manifest out, and the price of it on stdout.
 *
 * The library plans (bl_rebalance_plan), realises and writes
 * (bl_manifest_write); this file parses argv and renders the summary the
 * library returns as JSON: as text for people, or as the JSON itself
 * with --json.
 */
#include "tools.h"

#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_rebalance[] =
	"usage: ballast rebalance INDEX -p POLICY [-o OUTDIR] [--seed N] [--json]\n"
	"                         [--no-digest] [--force] [-q]\n"
	"\n"
	"Compute per-sample weights that move the samples of INDEX (made by\n"
	"'ballast scan') to the target declared in POLICY (format in\n"
	"manifests/FORMAT.md; examples in manifests/policies/), write them as a\n"
	"manifest, and print what it cost: samples dropped and repeated, largest\n"
	"weight, Kish effective sample size before and after, and how far the\n"
	"result is from the declared target.\n"
	"\n"
	"  -p, --policy FILE  the policy (required)\n"
	"  -o, --out DIR      write DIR/manifest.json and DIR/shards/NNNNN.jsonl\n"
	"                     (built as DIR.tmp-XXXXXX, then renamed); without\n"
	"                     -o nothing is written (a dry run)\n"
	"  --seed N           seed of every random draw (default: the policy's\n"
	"                     'seed' line, else 0)\n"
	"  --json             print the summary as one JSON object\n"
	"  --no-digest        do not hash the shard files (their digest is null)\n"
	"  --force            replace an existing DIR\n"
	"  -q                 no progress on stderr\n"
	"  --allow-partial    write from an incomplete index (a scan that did not\n"
	"                     finish, a merge missing parts); without it such an\n"
	"                     index is refused with exit 1\n"
	"\n"
	"Samples labelled both age.minor and sexual.* are never written,\n"
	"whatever the policy; the summary counts them.\n"
	"\n"
	"Exit status: 0 done, 1 an incomplete index (see --allow-partial), 2 usage\n"
	"or a bad policy, 3 fatal (the index cannot\n"
	"be read, the policy cannot be met on it, the output cannot be written).\n";

static void progress(void *arg, uint64_t done, uint64_t total, uint64_t samples)
{
	(void)arg;
	fprintf(stderr, "\r%llu/%llu shards, %llu samples", (unsigned long long)done,
		(unsigned long long)total, (unsigned long long)samples);
	if (done == total)
		fputc('\n', stderr);
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static void print_rule(const cJSON *r)
{
	const char *kind = jstr(r, "kind");
	const cJSON *x;

	printf("  line %.0f: %s\n", jnum(r, "line"), jstr(r, "text"));
	if (!strcmp(kind, "drop")) {
		printf("    dropped %.0f samples\n", jnum(r, "samples"));
	} else if (!strcmp(kind, "target")) {
		printf("    %-28s %8s %8s %8s\n", "label", "target", "before", "after");
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "labels")) {
			if (isnan(jnum(x, "target")))
				printf("    %-28s %8s %8.4f %8.4f\n", jstr(x, "label"), "free",
				       jnum(x, "before"), jnum(x, "after"));
			else
				printf("    %-28s %8.4f %8.4f %8.4f\n", jstr(x, "label"),
				       jnum(x, "target"), jnum(x, "before"), jnum(x, "after"));
		}
		printf("    max abs share error %.3g, total variation distance %.3g\n",
		       jnum(r, "max_abs_error"), jnum(r, "tv_distance"));
	} else if (!strcmp(kind, "cap")) {
		printf("    %-28s %10s %10s %9s %9s\n", "label", "count", "expected",
		       "share exp", "share now");
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "labels"))
			printf("    %-28s %10.0f %10.1f %9.4f %9.4f\n", jstr(x, "label"),
			       jnum(x, "count_before"), jnum(x, "count_expected"),
			       jnum(x, "share_expected"), jnum(x, "share_after"));
		printf("    max abs share error %.3g\n", jnum(r, "max_abs_error"));
	} else if (!strcmp(kind, "independent")) {
		printf("    %-22s %-24s %7s %15s %15s\n", "within", "label", "samples",
		       "rate before", "rate after");
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r, "rows")) {
			if (jnum(x, "samples") < 30)
				continue;
			printf("    %-22s %-24s %7.0f %6.3f (%6.3f) %6.3f (%6.3f)\n",
			       jstr(x, "within"), jstr(x, "label"), jnum(x, "samples"),
			       jnum(x, "rate_before"), jnum(x, "rate_within_before"),
			       jnum(x, "rate_after"), jnum(x, "rate_within_after"));
		}
		printf("    (rate: share with the first family among the row's samples;\n"
		       "     in brackets, among all samples of the 'within' level;\n"
		       "     rows under 30 samples not shown)\n");
		printf("    largest rate gap: before %.4f, after %.4f\n",
		       jnum(r, "max_rate_gap_before"), jnum(r, "max_rate_gap_after"));
	}
}

static void print_text(const cJSON *s, const char *outdir)
{
	const cJSON *x;
	double before = jnum(s, "ess_before"), after = jnum(s, "ess_after");

	printf("realisation              %s\n", jstr(s, "realise"));
	printf("samples in index         %.0f\n", jnum(s, "samples"));
	printf("blocked (minor+sexual)   %.0f\n", jnum(s, "blocked_minor_sexual"));
	printf("dropped by drop rules    %.0f\n", jnum(s, "dropped_by_rule"));
	printf("not written (all causes) %.0f\n", jnum(s, "excluded"));
	printf("written                  %.0f\n", jnum(s, "written"));
	if (!strcmp(jstr(s, "realise"), "upsample"))
		printf("repeated                 %.0f samples, %.0f extra copies\n",
		       jnum(s, "repeated"), jnum(s, "copies_added"));
	printf("weight sum               %.1f\n", jnum(s, "weight_sum"));
	printf("largest weight           %.4g (smallest %.4g)\n", jnum(s, "largest_weight"),
	       jnum(s, "smallest_weight"));
	printf("effective sample size    %.1f -> %.1f (%.1f%%)\n", before, after,
	       before > 0 ? 100 * after / before : 0);
	printf("distance from target     max abs share error %.3g, TV distance %.3g\n",
	       jnum(s, "max_abs_share_error"), jnum(s, "tv_distance"));
	printf("rules:\n");
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(s, "rules"))
		print_rule(x);
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(s, "warnings"))
		if (cJSON_IsString(x))
			printf("warning: %s\n", x->valuestring);
	if (outdir)
		printf("manifest                 %s/manifest.json\n", outdir);
}

int cmd_rebalance(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"out", required_argument, NULL, 'o'},
		{"seed", required_argument, NULL, 'S'},
		{"json", no_argument, NULL, 'J'},
		{"no-digest", no_argument, NULL, 'D'},
		{"force", no_argument, NULL, 'F'},
		{"allow-partial", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0}
	};
	const char *policy_path = NULL, *outdir = NULL;
	int json = 0, quiet = 0, have_seed = 0, c, rc = EXIT_FATAL, allow_partial = 0;
	unsigned long long seed = 0;
	bl_manifest_options mo = {0};
	bl_policy *pol = NULL;
	bl_rebalance *rb = NULL;
	bl_index *ix = NULL;
	cJSON *sum = NULL;
	char err[1024];

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:q", opts, NULL)) != -1) {
		switch (c) {
		case 'p': policy_path = optarg; break;
		case 'o': outdir = optarg; break;
		case 'q': quiet = 1; break;
		case 'J': json = 1; break;
		case 'D': mo.no_digest = 1; break;
		case 'F': mo.force = 1; break;
		case 'A': allow_partial = 1; break;
		case 'S': {
			char *end;
			errno = 0;
			seed = strtoull(optarg, &end, 10);
			if (!*optarg || *end || errno || optarg[0] == '-')
				return tool_usage_error(usage_rebalance,
							"--seed wants a non-negative integer, got '%s'",
							optarg);
			have_seed = 1;
			break;
		}
		default:
			return tool_usage_error(usage_rebalance, NULL);
		}
	}
	if (optind != argc - 1)
		return tool_usage_error(usage_rebalance, optind >= argc ? "no index given" :
					"one index only");
	if (!policy_path)
		return tool_usage_error(usage_rebalance, "no policy given (-p POLICY)");
	if (!(pol = bl_policy_new())) {
		tool_err("out of memory");
		goto out;
	}
	if (bl_policy_load_file(pol, policy_path) != BL_OK) {
		tool_err("%s", bl_policy_errmsg(pol));
		rc = EXIT_USAGE;
		goto out;
	}
	if (!(ix = bl_index_open(argv[optind], BL_INDEX_READ, err, sizeof err))) {
		tool_err("%s", err);
		goto out;
	}
	if (bl_index_partial_reason(ix, err, sizeof err) == 1) {
		tool_err("WARNING: %s%s", err, allow_partial ? "" : "; nothing written (exit 1): "
					   "--allow-partial writes it anyway");
		if (!allow_partial) {
			rc = EXIT_ITEMS_FAILED;
			goto out;
		}
	}
	if (!(rb = bl_rebalance_new(pol))) {
		tool_err("out of memory");
		goto out;
	}
	if (have_seed)
		bl_rebalance_set_seed(rb, (uint64_t)seed);
	if (bl_rebalance_plan(rb, ix) != BL_OK) {
		tool_err("%s", bl_rebalance_errmsg(rb));
		goto out;
	}
	if (!quiet && tool_progress_wanted())
		mo.on_progress = progress;
	if (bl_manifest_write(rb, ix, outdir, &mo, err, sizeof err) != BL_OK) {
		tool_err("%s", err);
		goto out;
	}
	if (json) {
		printf("%s\n", bl_rebalance_summary_json(rb));
	} else {
		if (!(sum = cJSON_Parse(bl_rebalance_summary_json(rb)))) {
			tool_err("out of memory");
			goto out;
		}
		printf("policy                   %s (sha256 %.12s)\n", policy_path,
		       bl_policy_digest(pol));
		printf("seed                     %llu\n",
		       (unsigned long long)bl_rebalance_seed(rb));
		print_text(sum, outdir);
	}
	rc = EXIT_ALL_GOOD;
out:
	cJSON_Delete(sum);
	bl_rebalance_free(rb);
	bl_policy_free(pol);
	if (ix)
		bl_index_close(ix);
	return rc == EXIT_ALL_GOOD ? tool_finish(rc) : rc;
}
