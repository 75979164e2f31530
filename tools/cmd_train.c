/*
 * cmd_train.c - "ballast train": the reference consumer of a manifest.
 *
 * It does what the data side of a LoRA or full fine-tuning run does --
 * weighted, seeded, resumable draws split over ranks (lib/sampler.c),
 * samples read from the original shards, decoded, resized and cropped on
 * a worker pool (lib/loader.c) -- and shows what the model would have
 * seen: the realised label distribution next to the manifest's target.
 * The optimiser step is a named placeholder (per-channel pixel mean and
 * standard deviation of the batch); which parameters a real step would
 * update is worked out for a declared model shape, the attention
 * projections of an SD-1.5 UNet (table below).
 */
#include "tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const char usage_train[] =
	"usage: ballast train MANIFEST --mode lora|full [--lora-rank R] [--steps N]\n"
	"                     [--epochs E] [--batch B] [--seed S] [--rank R --world W]\n"
	"                     [--resume STATE] [--save-state FILE] [--size PX] [-j N]\n"
	"                     [--dump DIR] [--dump-batches N] [--json]\n"
	"                     [--allow-failed-plan] [-q]\n"
	"\n"
	"The reference consumer of a manifest (a `ballast rebalance` OUTDIR).  It\n"
	"draws samples by the manifest's weights, reads them from the original\n"
	"shards, decodes, resizes and crops them, and feeds batches to a training\n"
	"step.  THE STEP IS A PLACEHOLDER: it trains nothing; it computes each\n"
	"batch's per-channel pixel mean and standard deviation, so that the data\n"
	"path can be run, timed and checked end to end.  At the end it prints the\n"
	"label distribution of what was consumed next to the manifest's target.\n"
	"Draws spread an entry's copies over the epoch (a weight-600 sample comes\n"
	"about every N/600 draws), so heavy samples do not pile up in one batch.\n"
	"Progress goes to stderr when it is a terminal.\n"
	"\n"
	"  --mode lora|full  which parameters a step would update, for a declared\n"
	"                    model shape: the attention projections (to_q, to_k,\n"
	"                    to_v, to_out.0) of the 16 transformer blocks of an\n"
	"                    SD-1.5 UNet (widths 320/640/1280, text context 768).\n"
	"                    full: those projections, 93,536,640 parameters;\n"
	"                    lora: rank-R A and B matrices beside each, R x 199,296\n"
	"  --lora-rank R     LoRA rank (default 4)\n"
	"  --steps N         steps to run (default: one epoch's worth, or --epochs)\n"
	"  --epochs E        stop after E epochs of the global sequence; an epoch is\n"
	"                    round(sum of weights) draws: integer weights give\n"
	"                    exactly that many copies, fractional ones floor or ceil\n"
	"  --batch B         draws per step and rank (default 4); a sample that\n"
	"                    cannot be read or decoded is skipped and counted, so a\n"
	"                    batch may come out smaller\n"
	"  --seed S          seed of the draws, 0 to 2^64-1 (default: the\n"
	"                    manifest's, else 0; with --resume, the state's)\n"
	"  --rank R --world W  this process is rank R of W: it takes positions\n"
	"                    R, R+W, ... of the global sequence (the ranks together\n"
	"                    consume exactly the --world 1 sequence)\n"
	"  --save-state FILE write the sampler state at the end (atomic)\n"
	"  --resume STATE    continue from a saved state: the next batch is the one\n"
	"                    an uninterrupted run would have drawn (the summary\n"
	"                    covers this run only).  The draws go on with the\n"
	"                    state's seed: a --seed that is not it is refused\n"
	"                    (exit 3), like another --rank or --world\n"
	"  --size PX         output side (default 512): a JPEG is decoded at the\n"
	"                    smallest DCT scale keeping the shorter side >= PX, a PNG\n"
	"                    in full (alpha on white), the central square resampled\n"
	"                    to PX x PX (area averaging when shrinking, bilinear when\n"
	"                    enlarging); other formats (WebP, GIF) are skipped\n"
	"  -j N              decoding threads (default 2; 0 decodes inline)\n"
	"  --dump DIR        write the first batches as PPM images (with .txt\n"
	"                    captions) to DIR; --dump-batches N (default 2)\n"
	"  --json            one JSON object a line: a header, one per step (step,\n"
	"                    epoch, samples, failed, keys, mean, std, images_per_s),\n"
	"                    and a summary last (samples, failed, labels {label:\n"
	"                    count consumed}, unlabelled (samples without labels),\n"
	"                    target and realised shares, tvd)\n"
	"  --allow-failed-plan  train on a manifest whose plan failed its checks\n"
	"                    (rebalance said PLAN FAILED and exited 1; a check in\n"
	"                    manifest.json has status \"failed\"), with a WARNING\n"
	"                    naming them at the top of the output and on stderr\n"
	"                    (--json: the header's \"plan_failed\").  Without it\n"
	"                    such a manifest is refused (exit 3): fix the policy or\n"
	"                    its input and rebalance again, or accept a risk taken\n"
	"                    knowingly with the policy's `accept` line.  A summary\n"
	"                    whose \"ok\" disagrees with its checks was edited: it\n"
	"                    is refused whatever this says\n"
	"  -q                no per-step lines, and skipped samples counted rather\n"
	"                    than listed (their totals by kind still end the run)\n"
	"  --check-shards L  before reading, check each shard against the manifest's\n"
	"                    record (ballast verify's check): full (size and\n"
	"                    SHA-256), quick (size and mtime; SHA-256 when the mtime\n"
	"                    changed), auto (the default: full up to 1 GiB of\n"
	"                    shards, quick above), none.  A shard that changed since\n"
	"                    the manifest was written is refused (exit 3);\n"
	"                    --no-check-shards is none.  '-', FIFOs and devices are\n"
	"                    refused whatever the level\n"
	"\n"
	"Shares: for each label, the fraction of the manifest's weight carrying it\n"
	"(target) and of consumed samples carrying it (realised).  tvd is the total\n"
	"variation distance between the two label distributions (each label\n"
	"occurrence one unit, samples without labels as '(none)').\n"
	"\n"
	"Exit status: 0 all good, 1 some samples were skipped, 2 usage, 3 fatal\n"
	"(e.g. the plan failed without --allow-failed-plan).\n";

/* ---- the declared model: SD-1.5 UNet attention projections ---------- */

/*
 * The 16 transformer blocks of the SD-1.5 UNet (diffusers names), each
 * with attn1 (self-attention: q, k, v, out all width x width) and attn2
 * (cross-attention: k and v read the 768-wide CLIP text context).
 * to_q/to_k/to_v have no bias; to_out.0 has one.
 */
static const struct {
	const char *prefix;
	int width;
} unet_blocks[] = {
	{"down_blocks.0.attentions.0", 320}, {"down_blocks.0.attentions.1", 320},
	{"down_blocks.1.attentions.0", 640}, {"down_blocks.1.attentions.1", 640},
	{"down_blocks.2.attentions.0", 1280}, {"down_blocks.2.attentions.1", 1280},
	{"mid_block.attentions.0", 1280},
	{"up_blocks.1.attentions.0", 1280}, {"up_blocks.1.attentions.1", 1280},
	{"up_blocks.1.attentions.2", 1280},
	{"up_blocks.2.attentions.0", 640}, {"up_blocks.2.attentions.1", 640},
	{"up_blocks.2.attentions.2", 640},
	{"up_blocks.3.attentions.0", 320}, {"up_blocks.3.attentions.1", 320},
	{"up_blocks.3.attentions.2", 320},
};
#define NBLOCKS (sizeof unet_blocks / sizeof unet_blocks[0])
#define TEXT_CONTEXT 768

struct params {
	int modules;        /* projections */
	uint64_t base;      /* their weights and biases */
	uint64_t trainable; /* updated by a step */
};

static void count_params(int lora, int r, struct params *p)
{
	memset(p, 0, sizeof *p);
	for (size_t b = 0; b < NBLOCKS; b++) {
		uint64_t d = (uint64_t)unet_blocks[b].width;
		for (int attn = 1; attn <= 2; attn++) {
			uint64_t kv_in = attn == 1 ? d : TEXT_CONTEXT;
			/* in, out, bias of q, k, v, out */
			uint64_t in[4] = {d, kv_in, kv_in, d}, bias[4] = {0, 0, 0, 1};
			for (int k = 0; k < 4; k++) {
				uint64_t n = in[k] * d + bias[k] * d;
				p->modules++;
				p->base += n;
				p->trainable += lora ? (uint64_t)r * (in[k] + d) : n;
			}
		}
	}
}

/* ---- options ------------------------------------------------------------ */

struct topts {
	const char *manifest, *mode, *resume, *save, *dump;
	uint64_t lrank, steps, epochs, batch, seed, rank, world, size, threads, dumpn;
	int have_seed, have_steps, json, quiet;
	int allow_failed; /* --allow-failed-plan */
	int check; /* shards against the manifest: BL_CHECK_* */
};

static int parse_u64(const char *s, uint64_t *v)
{
	return bl_seed_parse(s, v) == BL_OK;
}

/* EXIT_ALL_GOOD, or the usage error printed and EXIT_USAGE. */
static int parse_args(int argc, char **argv, struct topts *o)
{
	static const struct option opts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"lora-rank", required_argument, NULL, 'L'},
		{"steps", required_argument, NULL, 'n'},
		{"epochs", required_argument, NULL, 'E'},
		{"batch", required_argument, NULL, 'b'},
		{"seed", required_argument, NULL, 's'},
		{"rank", required_argument, NULL, 'R'},
		{"world", required_argument, NULL, 'W'},
		{"resume", required_argument, NULL, 'r'},
		{"save-state", required_argument, NULL, 'S'},
		{"size", required_argument, NULL, 'z'},
		{"dump", required_argument, NULL, 'd'},
		{"dump-batches", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'J'},
		{"check-shards", required_argument, NULL, 'C'},
		{"no-check-shards", no_argument, NULL, 'N'},
		{"allow-failed-plan", no_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof *o);
	o->lrank = 4;
	o->batch = 4;
	o->world = 1;
	o->size = 512;
	o->threads = 2;
	o->dumpn = 2;
	o->check = BL_CHECK_AUTO;
	while ((c = getopt_long(argc, argv, "j:q", opts, NULL)) != -1) {
		const char *bad = NULL;
		switch (c) {
		case 'm': o->mode = optarg; break;
		case 'r': o->resume = optarg; break;
		case 'S': o->save = optarg; break;
		case 'd': o->dump = optarg; break;
		case 'J': o->json = 1; break;
		case 'q': o->quiet = 1; break;
		case 'L': if (!parse_u64(optarg, &o->lrank) || o->lrank < 1 || o->lrank > 4096) bad = "--lora-rank wants 1..4096"; break;
		case 'n': if (!parse_u64(optarg, &o->steps) || o->steps < 1) bad = "--steps wants a positive integer"; o->have_steps = 1; break;
		case 'E': if (!parse_u64(optarg, &o->epochs) || o->epochs < 1) bad = "--epochs wants a positive integer"; break;
		case 'b': if (!parse_u64(optarg, &o->batch) || o->batch < 1 || o->batch > 65536) bad = "--batch wants 1..65536"; break;
		case 's': if (!parse_u64(optarg, &o->seed)) bad = "--seed wants an integer from 0 to 18446744073709551615"; o->have_seed = 1; break;
		case 'R': if (!parse_u64(optarg, &o->rank) || o->rank >= UINT32_MAX) bad = "--rank wants a non-negative integer"; break;
		case 'W': if (!parse_u64(optarg, &o->world) || o->world < 1 || o->world > 1u << 20) bad = "--world wants 1..1048576"; break;
		case 'z': if (!parse_u64(optarg, &o->size) || o->size < 8 || o->size > 8192) bad = "--size wants 8..8192"; break;
		case 'j': if (!parse_u64(optarg, &o->threads) || o->threads > 256) bad = "-j wants 0..256"; break;
		case 'D': if (!parse_u64(optarg, &o->dumpn)) bad = "--dump-batches wants a non-negative integer"; break;
		case 'C': if ((o->check = tool_check_level(optarg)) < 0) bad = "--check-shards wants auto, full, quick or none"; break;
		case 'N': o->check = BL_CHECK_NONE; break;
		case 'A': o->allow_failed = 1; break;
		default:
			return tool_usage_error(usage_train, NULL);
		}
		if (bad)
			return tool_usage_error(usage_train, "%s", bad);
	}
	if (optind + 1 != argc)
		return tool_usage_error(usage_train, optind >= argc ? "no manifest given"
					: "one manifest only");
	o->manifest = argv[optind];
	if (!o->mode || (strcmp(o->mode, "lora") && strcmp(o->mode, "full")))
		return tool_usage_error(usage_train, "--mode lora or --mode full is required");
	if (o->rank >= o->world)
		return tool_usage_error(usage_train, "--rank must be below --world");
	return EXIT_ALL_GOOD;
}

/* ---- the run ------------------------------------------------------------ */

struct run {
	const struct topts *o;
	bl_sampler *s;
	bl_loader *ld;
	int *order;         /* label ids sorted by name */
	uint64_t *lcount;   /* per label id, consumed */
	uint64_t none;      /* consumed samples without labels */
	uint64_t consumed, failed;
	uint64_t fail_kind[BL_ERR__COUNT];
	uint64_t seed, step0, start_pos, total, pushed, popped;
	int progress;       /* stderr is a terminal */
	double t0, shown;   /* start, last progress line */
};

/* One step's batch, as the placeholder step sees it. */
struct batch {
	uint64_t got, failed, epoch;
	double sum[3], sum2[3];
	bl_buf keys;        /* --json: the keys, as JSON strings */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void json_str(FILE *f, const char *s)
{
	bl_buf b;

	bl_buf_init(&b, 0);
	bl_manifest_json_str(&b, s, strlen(s));
	fwrite(b.buf, 1, b.len, f);
	bl_buf_release(&b);
}

static int write_ppm(const char *dir, uint64_t step, int i, const bl_loaded *ld)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof path, "%s/step%06" PRIu64 "_%02d.ppm", dir, step, i);
	f = fopen(path, "wb");
	if (!f)
		return 0;
	fprintf(f, "P6\n%d %d\n255\n", ld->size, ld->size);
	ok = fwrite(ld->rgb, 3, (size_t)ld->size * (size_t)ld->size, f) ==
	     (size_t)ld->size * (size_t)ld->size;
	ok = fclose(f) == 0 && ok;
	snprintf(path, sizeof path, "%s/step%06" PRIu64 "_%02d.txt", dir, step, i);
	f = fopen(path, "w");
	if (!f)
		return 0;
	fprintf(f, "%s\n", ld->caption);
	return fclose(f) == 0 && ok;
}

static const bl_sampler *sort_sampler; /* for cmp_label (qsort has no context) */

static int cmp_label(const void *a, const void *b)
{
	return strcmp(bl_sampler_label(sort_sampler, *(const int *)a),
		      bl_sampler_label(sort_sampler, *(const int *)b));
}

/*
 * The manifest, its seed and the state to resume from.  The seed is
 * --seed, else the manifest's (exactly: a seed that does not parse is an
 * error, never a quiet 0), else 0; resumed, the state's (a --seed that
 * is not it is refused).  EXIT_ALL_GOOD or EXIT_FATAL (said).
 */
static int open_manifest(struct run *r)
{
	const struct topts *o = r->o;
	const char *seedtxt;
	char err[1024];
	int nl;

	r->s = bl_sampler_open(o->manifest, err, sizeof err);
	if (!r->s) {
		tool_err("%s", err);
		return EXIT_FATAL;
	}
	if (tool_check_plan(o->manifest, r->s, o->allow_failed, o->json ? NULL : stdout) != BL_OK)
		return EXIT_FATAL;
	if (tool_check_shards(o->manifest, r->s, o->check, o->quiet) != BL_OK)
		return EXIT_FATAL;
	r->seed = o->seed;
	if (!o->have_seed && (seedtxt = bl_sampler_meta(r->s, "seed")) &&
	    bl_seed_parse(seedtxt, &r->seed) != BL_OK) {
		tool_err("manifest '%s': seed '%s' is not an integer from 0 to 2^64-1 "
			 "(give --seed)", o->manifest, seedtxt);
		return EXIT_FATAL;
	}
	bl_sampler_start(r->s, r->seed, (uint32_t)o->rank, (uint32_t)o->world);
	if (o->resume &&
	    bl_sampler_load_state(r->s, o->resume, &r->step0, err, sizeof err) != BL_OK) {
		tool_err("%s", err);
		return EXIT_FATAL;
	}
	/* a resumed run goes on with the state's seed: one given with it
	 * must be that one, and the seed printed is the one drawn from */
	if (o->resume && o->have_seed && bl_sampler_seed(r->s) != o->seed) {
		tool_err("state '%s': saved with seed %" PRIu64 ", this run has --seed %" PRIu64
			 " (the draws go on with the state's seed: drop --seed, or start "
			 "without --resume)", o->resume, bl_sampler_seed(r->s), o->seed);
		return EXIT_FATAL;
	}
	r->seed = bl_sampler_seed(r->s);
	nl = bl_sampler_nlabels(r->s);
	r->lcount = calloc((size_t)nl + 1, sizeof *r->lcount);
	r->order = calloc((size_t)nl + 1, sizeof *r->order);
	if (!r->lcount || !r->order) {
		tool_err("out of memory");
		return EXIT_FATAL;
	}
	for (int k = 0; k < nl; k++)
		r->order[k] = k;
	sort_sampler = r->s;
	qsort(r->order, (size_t)nl, sizeof *r->order, cmp_label);
	return EXIT_ALL_GOOD;
}

/*
 * How many draws this run makes: --steps x --batch, at most what is left
 * of --epochs (default one epoch when no --steps) for this rank.  Every
 * product is checked: 0 with a message when it passes 2^64.
 */
static int plan_draws(struct run *r)
{
	const struct topts *o = r->o;
	uint64_t N = bl_sampler_epoch_size(r->s), lim = UINT64_MAX;

	r->start_pos = bl_sampler_position(r->s);
	if (o->epochs || !o->have_steps) {
		uint64_t e = o->epochs ? o->epochs : 1, g, mine;
		if (e > UINT64_MAX / N) {
			tool_err("--epochs %" PRIu64 " x %" PRIu64 " draws an epoch passes 2^64 draws",
				 e, N);
			return EXIT_USAGE;
		}
		g = e * N; /* global positions */
		mine = g > o->rank ? (g - o->rank - 1) / o->world + 1 : 0;
		lim = mine > r->start_pos ? mine - r->start_pos : 0;
	}
	if (o->have_steps && o->steps > UINT64_MAX / o->batch) {
		tool_err("--steps %" PRIu64 " x --batch %" PRIu64 " passes 2^64 draws", o->steps,
			 o->batch);
		return EXIT_USAGE;
	}
	r->total = o->have_steps ? o->steps * o->batch : lim;
	if (r->total > lim)
		r->total = lim;
	return EXIT_ALL_GOOD;
}

static void print_header(const struct run *r, const struct params *par)
{
	const struct topts *o = r->o;
	int lora = !strcmp(o->mode, "lora");

	if (o->json) {
		printf("{\"mode\": \"%s\", \"lora_rank\": %" PRIu64 ", \"model\": \"sd15-unet-attention\", "
		       "\"modules\": %d, \"model_params\": %" PRIu64 ", \"trainable_params\": %" PRIu64 ", "
		       "\"step\": \"placeholder: per-channel pixel mean/std, nothing is trained\", "
		       "\"entries\": %zu, \"epoch_size\": %" PRIu64 ", \"seed\": %" PRIu64
		       ", \"rank\": %" PRIu64 ", \"world\": %" PRIu64 ", \"start_position\": %" PRIu64
		       ", \"draws\": %" PRIu64,
		       o->mode, lora ? o->lrank : 0, par->modules, par->base, par->trainable,
		       bl_sampler_nentries(r->s), bl_sampler_epoch_size(r->s), r->seed, o->rank,
		       o->world, r->start_pos, r->total);
		/* taken with --allow-failed-plan: the verdict goes with the run */
		if (bl_sampler_plan_failed(r->s)) {
			printf(", \"plan_failed\": ");
			json_str(stdout, bl_sampler_plan_failed(r->s));
		}
		printf("}\n");
		return;
	}
	printf("model    SD-1.5 UNet attention projections (to_q, to_k, to_v, to_out.0):\n"
	       "         %d modules in 16 transformer blocks, %" PRIu64 " parameters\n",
	       par->modules, par->base);
	if (lora)
		printf("mode     lora, rank %" PRIu64 ": %" PRIu64 " trainable parameters "
		       "(A: R x in, B: out x R per module); the %" PRIu64 " base parameters frozen\n",
		       o->lrank, par->trainable, par->base);
	else
		printf("mode     full: all %" PRIu64 " projection parameters trainable\n",
		       par->trainable);
	printf("step     PLACEHOLDER: computes the batch's per-channel pixel mean/std; nothing is trained\n"
	       "manifest %zu entries, epoch %" PRIu64 " draws, seed %" PRIu64 ", rank %" PRIu64
	       " of %" PRIu64 ", from position %" PRIu64 ", %" PRIu64 " draws\n",
	       bl_sampler_nentries(r->s), bl_sampler_epoch_size(r->s), r->seed, o->rank, o->world,
	       r->start_pos, r->total);
}

/* Progress on stderr (a terminal only): the first step, then twice a
 * second at most, and once at the end (last). */
static void show_progress(struct run *r, uint64_t step, int last)
{
	double t;

	if (!r->progress)
		return;
	t = now();
	if (last) {
		if (r->shown > 0)
			fputs("\r\033[K", stderr);
		return;
	}
	if (r->shown > 0 && t - r->shown < 0.5)
		return;
	fprintf(stderr, "\rtrain: step %" PRIu64 ", %" PRIu64 "/%" PRIu64 " draws (%.0f%%), "
		"%" PRIu64 " skipped, %.1f images/s\033[K", step, r->popped, r->total,
		r->total ? 100.0 * (double)r->popped / (double)r->total : 100.0, r->failed,
		t > r->t0 ? (double)r->consumed / (t - r->t0) : 0);
	fflush(stderr);
	r->shown = t;
}

/* A sample that could not be read: counted by kind; said at once unless
 * -q (the totals come at the end either way). */
static void skipped(struct run *r, const bl_loaded *it)
{
	r->failed++;
	r->fail_kind[it->errkind < BL_ERR__COUNT ? it->errkind : BL_ERR_NONE]++;
	if (r->o->quiet)
		return;
	if (r->progress && r->shown > 0)
		fputs("\r\033[K", stderr);
	tool_err("skipped: %s", it->errmsg);
}

/* The placeholder step: per-channel pixel sums of one image. */
static void pixel_stats(const bl_loaded *it, struct batch *b)
{
	size_t npx = (size_t)it->size * (size_t)it->size;
	uint64_t s1[3] = {0}, s2[3] = {0};

	/* by rows in 32 bits: 8192 x 255^2 still fits */
	for (int y = 0; y < it->size; y++) {
		const unsigned char *p = it->rgb + (size_t)y * (size_t)it->size * 3;
		uint32_t a0 = 0, a1 = 0, a2 = 0, q0 = 0, q1 = 0, q2 = 0;
		for (int x = 0; x < it->size; x++, p += 3) {
			a0 += p[0];
			a1 += p[1];
			a2 += p[2];
			q0 += (uint32_t)p[0] * p[0];
			q1 += (uint32_t)p[1] * p[1];
			q2 += (uint32_t)p[2] * p[2];
		}
		s1[0] += a0, s1[1] += a1, s1[2] += a2;
		s2[0] += q0, s2[1] += q1, s2[2] += q2;
	}
	for (int ch = 0; ch < 3; ch++) {
		b->sum[ch] += (double)s1[ch] / (255.0 * (double)npx);
		b->sum2[ch] += (double)s2[ch] / (255.0 * 255.0 * (double)npx);
	}
}

/* Keep the pool busy: queue draws ahead, in sampler order. */
static int fill_queue(struct run *r)
{
	while (r->pushed < r->total && bl_loader_room(r->ld) > 0) {
		size_t ent;
		const bl_entry *e;
		int rc = bl_sampler_next(r->s, &ent, NULL);
		if (rc != BL_OK) {
			tool_err(rc == BL_ENOMEM ? "out of memory" : "the position passed 2^64 draws");
			return EXIT_FATAL;
		}
		e = bl_sampler_entry(r->s, ent);
		bl_loader_push(r->ld, e->shard, e->offset, e->key, ent);
		r->pushed++;
	}
	return EXIT_ALL_GOOD;
}

/* One step: up to --batch samples popped and put through the placeholder
 * step; its line printed unless -q. */
static int run_step(struct run *r, uint64_t step, double *tstep)
{
	const struct topts *o = r->o;
	uint64_t want = r->total - r->popped < o->batch ? r->total - r->popped : o->batch;
	struct batch b;
	double t;
	int rc = EXIT_ALL_GOOD;

	memset(&b, 0, sizeof b);
	bl_buf_init(&b.keys, 0);
	for (uint64_t i = 0; i < want; i++) {
		const bl_loaded *it;
		const bl_entry *e;
		if ((rc = fill_queue(r)) != EXIT_ALL_GOOD)
			goto out;
		if (bl_loader_pop(r->ld, &it) != BL_OK)
			break;
		r->popped++;
		e = bl_sampler_entry(r->s, it->tag);
		b.epoch = ((r->start_pos + r->popped - 1) * o->world + o->rank) /
			  bl_sampler_epoch_size(r->s);
		if (it->status != BL_OK) {
			b.failed++;
			skipped(r, it);
			continue;
		}
		b.got++;
		r->consumed++;
		if (e->nlabels == 0)
			r->none++;
		for (int k = 0; k < e->nlabels; k++)
			r->lcount[e->labels[k]]++;
		if (o->json) {
			if (b.keys.len)
				bl_buf_adds(&b.keys, ", ");
			bl_manifest_json_str(&b.keys, e->key, strlen(e->key));
		}
		pixel_stats(it, &b);
		if (o->dump && step - r->step0 <= o->dumpn && !write_ppm(o->dump, step, (int)i, it))
			tool_err("cannot write to '%s'", o->dump);
	}
	t = now();
	if (!o->quiet) {
		double mean[3], sd[3], ips = t > *tstep ? (double)b.got / (t - *tstep) : 0;
		for (int ch = 0; ch < 3; ch++) {
			mean[ch] = b.got ? b.sum[ch] / (double)b.got : 0;
			sd[ch] = b.got ? sqrt(fmax(0, b.sum2[ch] / (double)b.got - mean[ch] * mean[ch])) : 0;
		}
		if (r->progress && r->shown > 0)
			fputs("\r\033[K", stderr);
		if (o->json)
			printf("{\"step\": %" PRIu64 ", \"epoch\": %" PRIu64 ", \"samples\": %" PRIu64
			       ", \"failed\": %" PRIu64 ", \"keys\": [%s], \"mean\": [%.4f, %.4f, %.4f]"
			       ", \"std\": [%.4f, %.4f, %.4f], \"images_per_s\": %.1f}\n",
			       step, b.epoch, b.got, b.failed, b.keys.buf, mean[0], mean[1], mean[2],
			       sd[0], sd[1], sd[2], ips);
		else
			printf("step %6" PRIu64 "  epoch %" PRIu64 "  samples %3" PRIu64
			       "  skipped %" PRIu64 "  mean %.3f %.3f %.3f  std %.3f %.3f %.3f"
			       "  %.1f img/s\n", step, b.epoch, b.got, b.failed, mean[0], mean[1],
			       mean[2], sd[0], sd[1], sd[2], ips);
		if (r->progress)
			fflush(stdout);
	}
	*tstep = t;
	show_progress(r, step, 0);
out:
	bl_buf_release(&b.keys);
	return rc;
}

/* The realised vs target table (to f, unless NULL), and the TVD. */
static double summarise(const struct run *r, FILE *f)
{
	int nl = bl_sampler_nlabels(r->s);
	double wtot = 0, ctot = (double)r->none, tvd = 0, wnone = 0;
	double W = bl_sampler_weight(r->s);

	for (size_t i = 0; i < bl_sampler_nentries(r->s); i++) {
		const bl_entry *e = bl_sampler_entry(r->s, i);
		if (e->nlabels == 0)
			wnone += e->weight;
	}
	wtot = wnone;
	for (int l = 0; l < nl; l++) {
		wtot += bl_sampler_label_weight(r->s, l);
		ctot += (double)r->lcount[l];
	}
	for (int l = 0; l <= nl; l++) {
		double wl = l < nl ? bl_sampler_label_weight(r->s, l) : wnone;
		double cl = l < nl ? (double)r->lcount[l] : (double)r->none;
		tvd += fabs((wtot > 0 ? wl / wtot : 0) - (ctot > 0 ? cl / ctot : 0));
	}
	tvd /= 2;
	if (f) {
		fprintf(f, "\n%-32s %10s %9s %9s %8s\n", "label", "consumed", "target",
			"realised", "diff");
		for (int k = 0; k <= nl; k++) {
			int l = k < nl ? r->order[k] : nl;
			const char *name = l < nl ? bl_sampler_label(r->s, l) : "(none)";
			double wl = l < nl ? bl_sampler_label_weight(r->s, l) : wnone;
			uint64_t cl = l < nl ? r->lcount[l] : r->none;
			double t = W > 0 ? wl / W : 0;
			double q = r->consumed ? (double)cl / (double)r->consumed : 0;
			fprintf(f, "%-32s %10" PRIu64 " %8.3f%% %8.3f%% %+7.3f%%\n", name, cl,
				100 * t, 100 * q, 100 * (q - t));
		}
	}
	return tvd;
}

/* label: value pairs of the summary's objects, labels sorted by name. */
static void json_labels(const struct run *r, const char *name, int what)
{
	int nl = bl_sampler_nlabels(r->s);
	double W = bl_sampler_weight(r->s);

	printf(", \"%s\": {", name);
	for (int k = 0; k < nl; k++) {
		int l = r->order[k];
		printf(k ? ", " : "");
		json_str(stdout, bl_sampler_label(r->s, l));
		if (what == 0)
			printf(": %" PRIu64, r->lcount[l]);
		else if (what == 1)
			printf(": %.6f", W > 0 ? bl_sampler_label_weight(r->s, l) / W : 0);
		else
			printf(": %.6f", r->consumed ? (double)r->lcount[l] / (double)r->consumed : 0);
	}
	printf("}");
}

/* Skipped samples by kind, on stderr: always (also with -q), so that a
 * run that lost samples says so at its end. */
static void report_skips(const struct run *r)
{
	bl_buf b;

	if (!r->failed)
		return;
	bl_buf_init(&b, 0);
	for (int k = 0; k < BL_ERR__COUNT; k++)
		if (r->fail_kind[k])
			bl_buf_addf(&b, "%s%s %" PRIu64, b.len ? ", " : "", bl_errkind_name((bl_errkind)k),
				    r->fail_kind[k]);
	tool_err("%" PRIu64 " of %" PRIu64 " samples could not be read and were skipped (%s)%s",
		 r->failed, r->popped, b.buf, r->o->quiet ? "; run without -q to see each" : "");
	bl_buf_release(&b);
}

static int finish(struct run *r, const struct params *par, uint64_t steps_done)
{
	const struct topts *o = r->o;
	double secs = now() - r->t0, tvd = summarise(r, o->json ? NULL : stdout);
	double ips = secs > 0 ? (double)r->consumed / secs : 0;
	char err[1024];

	show_progress(r, 0, 1);
	if (o->save) {
		bl_sampler_seek(r->s, r->start_pos + r->popped);
		if (bl_sampler_save_state(r->s, o->save, steps_done, err, sizeof err) != BL_OK) {
			tool_err("%s", err);
			return EXIT_FATAL;
		}
	}
	if (o->json) {
		printf("{\"summary\": true, \"mode\": \"%s\", \"trainable_params\": %" PRIu64
		       ", \"steps\": %" PRIu64 ", \"draws\": %" PRIu64 ", \"samples\": %" PRIu64
		       ", \"failed\": %" PRIu64 ", \"seconds\": %.3f, \"images_per_s\": %.1f"
		       ", \"position\": %" PRIu64 ", \"tvd\": %.6f, \"unlabelled\": %" PRIu64,
		       o->mode, par->trainable, steps_done - r->step0, r->popped, r->consumed,
		       r->failed, secs, ips, r->start_pos + r->popped, tvd, r->none);
		json_labels(r, "labels", 0);
		json_labels(r, "target", 1);
		json_labels(r, "realised", 2);
		printf("}\n");
	} else {
		printf("\nconsumed %" PRIu64 " samples in %" PRIu64 " steps (%" PRIu64
		       " skipped), %.2f s, %.1f images/s\n"
		       "total variation distance, realised vs target label distribution: %.4f\n",
		       r->consumed, steps_done - r->step0, r->failed, secs, ips, tvd);
		if (o->save)
			printf("state saved to %s (position %" PRIu64 ")\n", o->save,
			       r->start_pos + r->popped);
	}
	report_skips(r);
	return r->failed ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
}

int cmd_train(int argc, char **argv)
{
	struct topts o;
	struct run r;
	struct params par;
	bl_loader_options lo;
	uint64_t step;
	double tstep;
	int rc;

	memset(&r, 0, sizeof r);
	if ((rc = parse_args(argc, argv, &o)) != EXIT_ALL_GOOD)
		return rc;
	r.o = &o;
	r.progress = tool_progress_wanted();
	if ((rc = open_manifest(&r)) != EXIT_ALL_GOOD)
		goto out;
	if (o.dump && mkdir(o.dump, 0777) != 0 && errno != EEXIST) {
		tool_err("cannot create '%s': %s", o.dump, strerror(errno));
		rc = EXIT_FATAL;
		goto out;
	}
	if ((rc = plan_draws(&r)) != EXIT_ALL_GOOD)
		goto out;
	memset(&lo, 0, sizeof lo);
	lo.size = (int)o.size;
	lo.threads = (int)o.threads;
	lo.depth = (size_t)(o.batch * 2 > 16 ? o.batch * 2 : 16);
	if (!(r.ld = bl_loader_new(&lo))) {
		tool_err("out of memory");
		rc = EXIT_FATAL;
		goto out;
	}
	count_params(!strcmp(o.mode, "lora"), (int)o.lrank, &par);
	print_header(&r, &par);
	r.t0 = tstep = now();
	for (step = r.step0 + 1; r.popped < r.total; step++)
		if ((rc = run_step(&r, step, &tstep)) != EXIT_ALL_GOOD)
			goto out;
	rc = finish(&r, &par, step - 1);
out:
	bl_loader_free(r.ld);
	bl_sampler_free(r.s);
	free(r.lcount);
	free(r.order);
	return rc == EXIT_USAGE ? rc : tool_finish(rc);
}
