/*
 * cmd_rebalance.c - "ballast rebalance": a policy file applied to an index,
 * a weighted manifest out, and the price of it on stdout.
 *
 * The library plans (bl_rebalance_plan), realises and writes
 * (bl_manifest_write); this file parses argv and renders the summary the
 * library fills (bl_rb_summary): as text for people, or as its JSON with
 * --json.
 */
#include "tools.h"

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
	"Samples labelled both " BL_LABEL_MINOR " and " BL_LABEL_SEXUAL ".* are never written,\n"
	"whatever the policy; the summary counts them.\n"
	"\n"
	"Every plan is checked (manifests/FORMAT.md, \"Checks\"): rows too small\n"
	"to estimate (under 30 samples), Kish's ESS under 30% of the samples\n"
	"written, a weight over 10 times the mean, one sample over 1% of the\n"
	"weight, a label no line names moving by more than max(0.5 pp, a quarter\n"
	"of its share), a line that does not reduce its own gap, a target share\n"
	"missed by more than max(0.5 pp, a quarter of the share) (as when\n"
	"'realise upsample max N' clips the weights that meet it), an index that\n"
	"is not one set (shards scanned with different rules, shards not read\n"
	"whole: the 'index' check, which no line accepts).  Problems are\n"
	"printed first; a failed check exits 1 unless the policy accepts it\n"
	"('accept ess >= 0.2', 'accept max weight 20', 'accept sample share 0.05',\n"
	"'accept shift sexual 0.05', 'accept cells >= 10', 'accept gap',\n"
	"'accept target 0.05'); the manifest is written all the same and\n"
	"records the checks.\n"
	"'clip weight W' and 'floor ess F' lines trade distance from the target\n"
	"for a sounder set; the summary reports both.\n"
	"\n"
	"Exit status: 0 done, 1 the plan failed a check (the index check\n"
	"included), the policy cannot be met\n"
	"on this index (an unknown label, an impossible target) or the index is\n"
	"incomplete (see --allow-partial), 2 usage or a bad policy, 3 fatal (the\n"
	"index cannot be read, the output cannot be written).\n";

/* Progress on a terminal: the manifest's lines, then each shard's
 * SHA-256 (the slow part: every byte of every shard is read). */
struct prog {
	int digest;      /* shards are hashed */
	uint64_t samples;
	uint64_t bytes_done, bytes_total;
};

static void progress_line(const struct prog *p, uint64_t done, uint64_t total)
{
	if (p->digest)
		fprintf(stderr, "\rwriting the manifest and hashing shards %llu/%llu, "
			"%.1f GB/%.1f GB, %llu samples   ", (unsigned long long)done,
			(unsigned long long)total, p->bytes_done / 1e9, p->bytes_total / 1e9,
			(unsigned long long)p->samples);
	else
		fprintf(stderr, "\rwriting the manifest: shards %llu/%llu, %llu samples   ",
			(unsigned long long)done, (unsigned long long)total,
			(unsigned long long)p->samples);
	if (done == total)
		fputc('\n', stderr);
}

static void progress(void *arg, uint64_t done, uint64_t total, uint64_t samples)
{
	struct prog *p = arg;
	p->samples = samples;
	progress_line(p, done, total);
}

static void progress_digest(void *arg, uint64_t done, uint64_t total, uint64_t bytes,
			    uint64_t bytes_total)
{
	struct prog *p = arg;
	p->bytes_done = bytes;
	p->bytes_total = bytes_total;
	/* the line is printed by progress(), right after */
	(void)done;
	(void)total;
}

static void print_rule(const bl_rb_rule_result *r)
{
	printf("  line %d: %s\n", r->line, r->text);
	if (r->kind == BL_RULE_DROP) {
		printf("    dropped %llu samples\n", (unsigned long long)r->samples);
	} else if (r->kind == BL_RULE_TARGET) {
		printf("    %-28s %8s %8s %8s\n", "label", "target", "before", "after");
		for (size_t i = 0; i < r->nlabels; i++) {
			const bl_rb_label_row *x = &r->labels[i];
			if (isnan(x->target))
				printf("    %-28s %8s %8.4f %8.4f\n", x->label, "free", x->before,
				       x->after);
			else
				printf("    %-28s %8.4f %8.4f %8.4f\n", x->label, x->target,
				       x->before, x->after);
		}
		printf("    max abs share error %.3g, total variation distance %.3g (before: %.3g)\n",
		       r->max_abs_error, r->tv_distance, r->tv_distance_before);
	} else if (r->kind == BL_RULE_CAP) {
		printf("    %-28s %10s %10s %9s %9s\n", "label", "count", "expected",
		       "share exp", "share now");
		for (size_t i = 0; i < r->nlabels; i++) {
			const bl_rb_label_row *x = &r->labels[i];
			printf("    %-28s %10.0f %10.1f %9.4f %9.4f\n", x->label, x->count_before,
			       x->count_expected, x->target, x->after);
		}
		printf("    max abs share error %.3g\n", r->max_abs_error);
	} else if (r->kind == BL_RULE_INDEPENDENT) {
		printf("    %-22s %-24s %7s %15s %15s\n", "within", "label", "samples",
		       "rate before", "rate after");
		for (size_t i = 0; i < r->nrows; i++) {
			const bl_rb_indep_row *x = &r->rows[i];
			if (x->samples < 30)
				continue;
			printf("    %-22s %-24s %7llu %6.3f (%6.3f) %6.3f (%6.3f)\n", x->within,
			       x->label, (unsigned long long)x->samples, x->rate[0],
			       x->rate_within[0], x->rate[1], x->rate_within[1]);
		}
		printf("    (rate: share with the first family among the row's samples;\n"
		       "     in brackets, among all samples of the 'within' level;\n"
		       "     rows under 30 samples not shown)\n");
		printf("    largest rate gap: before %.4f, after %.4f\n", r->max_rate_gap_before,
		       r->max_rate_gap_after);
		printf("    distance from independence (TV, every cell counted): before %.4g, "
		       "after %.4g\n", r->tv_distance_before, r->tv_distance);
	}
}

/* The problems of a plan, at the top of the output: failed checks first,
 * then accepted ones, then warnings. */
static void print_problems(const bl_rb_summary *s)
{
	static const int order[] = {BL_CHECK_FAILED, BL_CHECK_ACCEPTED, BL_CHECK_WARNING};
	size_t failed = bl_rb_summary_count(s, BL_CHECK_FAILED), acceptable = 0;

	for (size_t i = 0; i < s->nchecks; i++)
		acceptable += s->checks[i].status == BL_CHECK_FAILED &&
			      s->checks[i].check != BL_CHECK_INDEX;
	if (!bl_rb_summary_count(s, BL_CHECK_WARNING))
		return;
	if (failed)
		printf("PLAN FAILED %zu check%s: the manifest does not do what the policy asked "
		       "without side effects (exit status 1)\n", failed, failed == 1 ? "" : "s");
	else
		printf("plan checks: passed, with what the policy accepts and warnings below\n");
	for (size_t o = 0; o < sizeof order / sizeof order[0]; o++)
		for (size_t i = 0; i < s->nchecks; i++) {
			const bl_rb_check *c = &s->checks[i];
			if (c->status != order[o])
				continue;
			printf("  %-8s %-6s %s", c->status == BL_CHECK_FAILED ? "FAILED" :
			       bl_check_status_name(c->status), bl_check_name(c->check), c->message);
			if (c->status == BL_CHECK_ACCEPTED)
				printf(" [policy line %d]", c->accept_line);
			printf("\n");
		}
	if (acceptable)
		printf("  to take such a risk knowingly, add the matching 'accept' line to the "
		       "policy (manifests/FORMAT.md, \"Checks\")\n");
	printf("\n");
}

static void print_text(const bl_rb_summary *s, const char *outdir)
{
	double before = s->ess_before, after = s->ess_after;

	printf("realisation              %s\n", bl_realise_name(s->realise));
	printf("samples in index         %llu\n", (unsigned long long)s->samples);
	printf("blocked (minor+sexual)   %llu\n", (unsigned long long)s->blocked);
	printf("dropped by drop rules    %llu\n", (unsigned long long)s->dropped_rule);
	printf("not written (all causes) %llu\n", (unsigned long long)s->excluded);
	printf("written                  %llu\n", (unsigned long long)s->written);
	if (s->realise == BL_REALISE_UPSAMPLE)
		printf("repeated                 %llu samples, %llu extra copies\n",
		       (unsigned long long)s->repeated, (unsigned long long)s->copies);
	printf("weight sum               %.1f\n", s->weight_sum);
	printf("largest weight           %.4g (smallest %.4g)\n", s->largest_weight,
	       s->smallest_weight);
	printf("effective sample size    %.1f -> %.1f (%.1f%%)\n", before, after,
	       before > 0 ? 100 * after / before : 0);
	printf("distance from target     max abs share error %.3g, TV distance %.3g\n",
	       s->max_abs_share_error, s->tv_distance);
	if (isfinite(s->clip_weight))
		printf("clip weight              %g times the mean (lowered %llu samples)\n",
		       s->clip_weight, (unsigned long long)s->clipped_samples);
	if (isfinite(s->ess_floor))
		printf("floor ess                %g (%.1f%% uniform weight mixed in)\n",
		       s->ess_floor, 100 * s->ess_floor_mix);
	printf("rules:\n");
	for (size_t i = 0; i < s->nrules; i++)
		print_rule(&s->rules[i]);
	printf("checks:\n");
	for (size_t i = 0; i < s->nchecks; i++)
		printf("  %-8s %-6s %s\n", bl_check_status_name(s->checks[i].status),
		       bl_check_name(s->checks[i].check), s->checks[i].message);
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
	uint64_t seed = 0;
	bl_manifest_options mo = {0};
	bl_policy *pol = NULL;
	bl_rebalance *rb = NULL;
	bl_index *ix = NULL;
	const bl_rb_summary *sum;
	struct prog prog = {0};
	char err[1024];
	int r;

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
		case 'S':
			if (bl_seed_parse(optarg, &seed) != BL_OK)
				return tool_usage_error(usage_rebalance,
							"--seed wants an integer from 0 to "
							"18446744073709551615, got '%s'", optarg);
			have_seed = 1;
			break;
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
	if ((r = bl_rebalance_plan(rb, ix)) != BL_OK) {
		tool_err("%s", bl_rebalance_errmsg(rb));
		/* a policy this index cannot meet is a plan that failed; the
		 * index unreadable is fatal */
		if (r == BL_FAILED)
			rc = EXIT_ITEMS_FAILED;
		goto out;
	}
	if (!quiet && tool_progress_wanted()) {
		prog.digest = !mo.no_digest && outdir;
		mo.on_progress = progress;
		mo.on_digest = progress_digest;
		mo.arg = &prog;
	}
	if (bl_manifest_write(rb, ix, outdir, &mo, err, sizeof err) != BL_OK) {
		tool_err("%s", err);
		goto out;
	}
	sum = bl_rebalance_summary(rb);
	if (json) {
		printf("%s\n", bl_rebalance_summary_json(rb));
	} else {
		print_problems(sum);
		printf("policy                   %s (sha256 %.12s)\n", policy_path,
		       bl_policy_digest(pol));
		printf("seed                     %llu\n",
		       (unsigned long long)bl_rebalance_seed(rb));
		print_text(sum, outdir);
	}
	rc = EXIT_ALL_GOOD;
	if (!sum->ok) {
		size_t n = bl_rb_summary_count(sum, BL_CHECK_FAILED);
		tool_err("the plan failed %zu check%s (%s); %s", n, n == 1 ? "" : "s",
			 json ? "\"checks\" in the JSON" : "listed at the top of the output",
			 outdir ? "the manifest was written and records them" : "nothing was written");
		rc = EXIT_ITEMS_FAILED;
	}
out:
	bl_rebalance_free(rb);
	bl_policy_free(pol);
	if (ix)
		bl_index_close(ix);
	return rc == EXIT_ALL_GOOD || rc == EXIT_ITEMS_FAILED ? tool_finish(rc) : rc;
}
