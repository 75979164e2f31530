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
	"                     [--dump DIR] [--dump-batches N] [--json] [-q]\n"
	"\n"
	"The reference consumer of a manifest (a `ballast rebalance` OUTDIR).  It\n"
	"draws samples by the manifest's weights, reads them from the original\n"
	"shards, decodes, resizes and crops them, and feeds batches to a training\n"
	"step.  THE STEP IS A PLACEHOLDER: it trains nothing; it computes each\n"
	"batch's per-channel pixel mean and standard deviation, so that the data\n"
	"path can be run, timed and checked end to end.  At the end it prints the\n"
	"label distribution of what was consumed next to the manifest's target.\n"
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
	"  --seed S          seed of the draws (default: the manifest's, else 0)\n"
	"  --rank R --world W  this process is rank R of W: it takes positions\n"
	"                    R, R+W, ... of the global sequence (the ranks together\n"
	"                    consume exactly the --world 1 sequence)\n"
	"  --save-state FILE write the sampler state at the end (atomic)\n"
	"  --resume STATE    continue from a saved state: the next batch is the one\n"
	"                    an uninterrupted run would have drawn (the summary\n"
	"                    covers this run only)\n"
	"  --size PX         output side (default 512): the JPEG is decoded at the\n"
	"                    smallest DCT scale keeping the shorter side >= PX, its\n"
	"                    central square resampled to PX x PX (area averaging\n"
	"                    when shrinking, bilinear when enlarging)\n"
	"  -j N              decoding threads (default 2; 0 decodes inline)\n"
	"  --dump DIR        write the first batches as PPM images (with .txt\n"
	"                    captions) to DIR; --dump-batches N (default 2)\n"
	"  --json            one JSON object a line: a header, one per step (step,\n"
	"                    epoch, samples, failed, keys, mean, std, images_per_s),\n"
	"                    and a summary last (samples, failed, labels {label:\n"
	"                    count consumed}, target and realised shares, tvd)\n"
	"  -q                no per-step lines\n"
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
	"Exit status: 0 all good, 1 some samples were skipped, 2 usage, 3 fatal.\n";

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

/* ---- helpers ---------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
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

struct run {
	bl_sampler *s;
	int *order;         /* label ids sorted by name */
	int json, quiet;
	uint64_t *lcount;   /* per label id, consumed */
	uint64_t none;      /* consumed samples without labels */
	uint64_t consumed, failed;
};

static const bl_sampler *sort_sampler; /* for cmp_label (qsort has no context) */

static int cmp_label(const void *a, const void *b)
{
	return strcmp(bl_sampler_label(sort_sampler, *(const int *)a),
		      bl_sampler_label(sort_sampler, *(const int *)b));
}

/* The realised vs target table, and the TVD. */
static double summarise(struct run *r, FILE *f)
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

int cmd_train(int argc, char **argv)
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
		{NULL, 0, NULL, 0},
	};
	int check = TOOL_CHECK_AUTO; /* shards against the manifest (lib/verify.c) */
	const char *mode = NULL, *resume = NULL, *save = NULL, *dump = NULL, *seedtxt;
	uint64_t lrank = 4, steps = 0, epochs = 0, batch = 4, seed = 0, rank = 0,
		 world = 1, size = 512, threads = 2, dumpn = 2, v, step0 = 0;
	int have_seed = 0, have_steps = 0, c, rc = EXIT_FATAL;
	bl_loader_options lo;
	bl_loader *ld = NULL;
	struct run r;
	struct params par;
	char err[1024];
	double t0, tstep;
	uint64_t start_pos, total_draws, pushed = 0, popped = 0, step;

	memset(&r, 0, sizeof r);
	while ((c = getopt_long(argc, argv, "j:q", opts, NULL)) != -1) {
		const char *bad = NULL;
		switch (c) {
		case 'm': mode = optarg; break;
		case 'r': resume = optarg; break;
		case 'S': save = optarg; break;
		case 'd': dump = optarg; break;
		case 'J': r.json = 1; break;
		case 'q': r.quiet = 1; break;
		case 'L': if (!parse_u64(optarg, &lrank) || lrank < 1 || lrank > 4096) bad = "--lora-rank wants 1..4096"; break;
		case 'n': if (!parse_u64(optarg, &steps) || steps < 1) bad = "--steps wants a positive integer"; have_steps = 1; break;
		case 'E': if (!parse_u64(optarg, &epochs) || epochs < 1) bad = "--epochs wants a positive integer"; break;
		case 'b': if (!parse_u64(optarg, &batch) || batch < 1 || batch > 65536) bad = "--batch wants 1..65536"; break;
		case 's': if (!parse_u64(optarg, &seed)) bad = "--seed wants a non-negative integer"; have_seed = 1; break;
		case 'R': if (!parse_u64(optarg, &rank)) bad = "--rank wants a non-negative integer"; break;
		case 'W': if (!parse_u64(optarg, &world) || world < 1 || world > 1u << 20) bad = "--world wants 1..1048576"; break;
		case 'z': if (!parse_u64(optarg, &size) || size < 8 || size > 8192) bad = "--size wants 8..8192"; break;
		case 'j': if (!parse_u64(optarg, &threads) || threads > 256) bad = "-j wants 0..256"; break;
		case 'D': if (!parse_u64(optarg, &dumpn)) bad = "--dump-batches wants a non-negative integer"; break;
		case 'C': if ((check = tool_check_level(optarg)) < 0) bad = "--check-shards wants full, quick or none"; break;
		case 'N': check = BL_CHECK_NONE; break;
		default:
			rc = tool_usage_error(usage_train, NULL);
			goto out;
		}
		if (bad) {
			rc = tool_usage_error(usage_train, "%s", bad);
			goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = tool_usage_error(usage_train, optind >= argc ? "no manifest given"
				      : "one manifest only");
		goto out;
	}
	if (!mode || (strcmp(mode, "lora") && strcmp(mode, "full"))) {
		rc = tool_usage_error(usage_train, "--mode lora or --mode full is required");
		goto out;
	}
	if (rank >= world) {
		rc = tool_usage_error(usage_train, "--rank must be below --world");
		goto out;
	}
	r.s = bl_sampler_open(argv[optind], err, sizeof err);
	if (!r.s) {
		tool_err("%s", err);
		goto out;
	}
	if (tool_check_shards(argv[optind], r.s, check, r.quiet) != BL_OK)
		goto out;
	if (!have_seed && (seedtxt = bl_sampler_meta(r.s, "seed")) && parse_u64(seedtxt, &v))
		seed = v;
	bl_sampler_start(r.s, seed, (uint32_t)rank, (uint32_t)world);
	if (resume) {
		if (bl_sampler_load_state(r.s, resume, &step0, err, sizeof err) != BL_OK) {
			tool_err("%s", err);
			goto out;
		}
	}
	r.lcount = calloc((size_t)bl_sampler_nlabels(r.s) + 1, sizeof *r.lcount);
	r.order = calloc((size_t)bl_sampler_nlabels(r.s) + 1, sizeof *r.order);
	if (!r.lcount || !r.order)
		goto nomem;
	for (int k = 0; k < bl_sampler_nlabels(r.s); k++)
		r.order[k] = k;
	sort_sampler = r.s;
	qsort(r.order, (size_t)bl_sampler_nlabels(r.s), sizeof *r.order, cmp_label);
	if (dump && mkdir(dump, 0777) != 0 && errno != EEXIST) {
		tool_err("cannot create '%s': %s", dump, strerror(errno));
		goto out;
	}
	/* how many draws this run makes */
	start_pos = bl_sampler_position(r.s);
	{
		uint64_t N = bl_sampler_epoch_size(r.s);
		uint64_t lim = UINT64_MAX;
		if (epochs || !have_steps) {
			uint64_t g = (epochs ? epochs : 1) * N; /* global positions */
			uint64_t mine = g > rank ? (g - rank + world - 1) / world : 0;
			lim = mine > start_pos ? mine - start_pos : 0;
		}
		total_draws = have_steps ? steps * batch : lim;
		if (total_draws > lim)
			total_draws = lim;
	}
	memset(&lo, 0, sizeof lo);
	lo.size = (int)size;
	lo.threads = (int)threads;
	lo.depth = (size_t)(batch * 2 > 16 ? batch * 2 : 16);
	ld = bl_loader_new(&lo);
	if (!ld)
		goto nomem;
	count_params(!strcmp(mode, "lora"), (int)lrank, &par);
	if (r.json) {
		printf("{\"mode\": \"%s\", \"lora_rank\": %" PRIu64 ", \"model\": \"sd15-unet-attention\", "
		       "\"modules\": %d, \"model_params\": %" PRIu64 ", \"trainable_params\": %" PRIu64 ", "
		       "\"step\": \"placeholder: per-channel pixel mean/std, nothing is trained\", "
		       "\"entries\": %zu, \"epoch_size\": %" PRIu64 ", \"seed\": %" PRIu64
		       ", \"rank\": %" PRIu64 ", \"world\": %" PRIu64 ", \"start_position\": %" PRIu64
		       ", \"draws\": %" PRIu64 "}\n",
		       mode, !strcmp(mode, "lora") ? lrank : 0, par.modules, par.base,
		       par.trainable, bl_sampler_nentries(r.s), bl_sampler_epoch_size(r.s),
		       seed, rank, world, start_pos, total_draws);
	} else {
		printf("model    SD-1.5 UNet attention projections (to_q, to_k, to_v, to_out.0):\n"
		       "         %d modules in 16 transformer blocks, %" PRIu64 " parameters\n",
		       par.modules, par.base);
		if (!strcmp(mode, "lora"))
			printf("mode     lora, rank %" PRIu64 ": %" PRIu64 " trainable parameters "
			       "(A: R x in, B: out x R per module); the %" PRIu64 " base parameters frozen\n",
			       lrank, par.trainable, par.base);
		else
			printf("mode     full: all %" PRIu64 " projection parameters trainable\n",
			       par.trainable);
		printf("step     PLACEHOLDER: computes the batch's per-channel pixel mean/std; nothing is trained\n"
		       "manifest %zu entries, epoch %" PRIu64 " draws, seed %" PRIu64 ", rank %" PRIu64
		       " of %" PRIu64 ", from position %" PRIu64 ", %" PRIu64 " draws\n",
		       bl_sampler_nentries(r.s), bl_sampler_epoch_size(r.s), seed, rank, world,
		       start_pos, total_draws);
	}
	t0 = tstep = now();
	for (step = step0 + 1; popped < total_draws; step++) {
		uint64_t want = total_draws - popped < batch ? total_draws - popped : batch;
		uint64_t got = 0, bfail = 0, ep = 0;
		double sum[3] = {0}, sum2[3] = {0}, t;
		bl_buf keys;

		bl_buf_init(&keys, 0);
		for (uint64_t i = 0; i < want; i++) {
			const bl_loaded *it;
			const bl_entry *e;
			/* keep the pool busy: queue draws ahead, in sampler order */
			while (pushed < total_draws && bl_loader_room(ld) > 0) {
				size_t ent;
				if (bl_sampler_next(r.s, &ent, NULL) != BL_OK) {
					bl_buf_release(&keys);
					goto nomem;
				}
				e = bl_sampler_entry(r.s, ent);
				bl_loader_push(ld, e->shard, e->offset, e->key, ent);
				pushed++;
			}
			if (bl_loader_pop(ld, &it) != BL_OK)
				break;
			popped++;
			e = bl_sampler_entry(r.s, it->tag);
			ep = (start_pos + popped - 1) * world + rank;
			ep /= bl_sampler_epoch_size(r.s);
			if (it->status != BL_OK) {
				bfail++;
				r.failed++;
				tool_err("skipped: %s", it->errmsg);
				continue;
			}
			got++;
			r.consumed++;
			if (e->nlabels == 0)
				r.none++;
			for (int k = 0; k < e->nlabels; k++)
				r.lcount[e->labels[k]]++;
			if (r.json) {
				bl_buf_adds(&keys, keys.len ? ", \"" : "\"");
				for (const char *p = e->key; *p; p++) {
					if (*p == '"' || *p == '\\')
						bl_buf_addch(&keys, '\\');
					if ((unsigned char)*p >= 0x20)
						bl_buf_addch(&keys, *p);
				}
				bl_buf_addch(&keys, '"');
			}
			/* the placeholder step: pixel statistics */
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
					sum[ch] += (double)s1[ch] / (255.0 * (double)npx);
					sum2[ch] += (double)s2[ch] / (255.0 * 255.0 * (double)npx);
				}
			}
			if (dump && step - step0 <= dumpn && !write_ppm(dump, step, (int)i, it))
				tool_err("cannot write to '%s'", dump);
		}
		t = now();
		if (!r.quiet) {
			double mean[3], sd[3];
			for (int ch = 0; ch < 3; ch++) {
				mean[ch] = got ? sum[ch] / (double)got : 0;
				sd[ch] = got ? sqrt(fmax(0, sum2[ch] / (double)got - mean[ch] * mean[ch])) : 0;
			}
			if (r.json)
				printf("{\"step\": %" PRIu64 ", \"epoch\": %" PRIu64 ", \"samples\": %" PRIu64
				       ", \"failed\": %" PRIu64 ", \"keys\": [%s], \"mean\": [%.4f, %.4f, %.4f]"
				       ", \"std\": [%.4f, %.4f, %.4f], \"images_per_s\": %.1f}\n",
				       step, ep, got, bfail, keys.buf, mean[0], mean[1], mean[2],
				       sd[0], sd[1], sd[2], t > tstep ? (double)got / (t - tstep) : 0);
			else
				printf("step %6" PRIu64 "  epoch %" PRIu64 "  samples %3" PRIu64
				       "  skipped %" PRIu64 "  mean %.3f %.3f %.3f  std %.3f %.3f %.3f"
				       "  %.1f img/s\n", step, ep, got, bfail, mean[0], mean[1], mean[2],
				       sd[0], sd[1], sd[2], t > tstep ? (double)got / (t - tstep) : 0);
		}
		tstep = t;
		bl_buf_release(&keys);
	}
	{
		double secs = now() - t0, tvd = summarise(&r, r.json ? NULL : stdout);
		double ips = secs > 0 ? (double)r.consumed / secs : 0;
		uint64_t steps_done = step - 1;
		if (save) {
			bl_sampler_seek(r.s, start_pos + popped);
			if (bl_sampler_save_state(r.s, save, steps_done, err, sizeof err) != BL_OK) {
				tool_err("%s", err);
				goto out;
			}
		}
		if (r.json) {
			int nl = bl_sampler_nlabels(r.s);
			double W = bl_sampler_weight(r.s);
			printf("{\"summary\": true, \"mode\": \"%s\", \"trainable_params\": %" PRIu64
			       ", \"steps\": %" PRIu64 ", \"draws\": %" PRIu64 ", \"samples\": %" PRIu64
			       ", \"failed\": %" PRIu64 ", \"seconds\": %.3f, \"images_per_s\": %.1f"
			       ", \"position\": %" PRIu64 ", \"tvd\": %.6f, \"labels\": {",
			       mode, par.trainable, steps_done - step0, popped, r.consumed, r.failed,
			       secs, ips, start_pos + popped, tvd);
			for (int k = 0; k < nl; k++) {
				int l = r.order[k];
				printf(k ? ", " : "");
				json_str(stdout, bl_sampler_label(r.s, l));
				printf(": %" PRIu64, r.lcount[l]);
			}
			printf("}, \"target\": {");
			for (int k = 0; k < nl; k++) {
				int l = r.order[k];
				printf(k ? ", " : "");
				json_str(stdout, bl_sampler_label(r.s, l));
				printf(": %.6f", W > 0 ? bl_sampler_label_weight(r.s, l) / W : 0);
			}
			printf("}, \"realised\": {");
			for (int k = 0; k < nl; k++) {
				int l = r.order[k];
				printf(k ? ", " : "");
				json_str(stdout, bl_sampler_label(r.s, l));
				printf(": %.6f", r.consumed ? (double)r.lcount[l] / (double)r.consumed : 0);
			}
			printf("}}\n");
		} else {
			printf("\nconsumed %" PRIu64 " samples in %" PRIu64 " steps (%" PRIu64
			       " skipped), %.2f s, %.1f images/s\n"
			       "total variation distance, realised vs target label distribution: %.4f\n",
			       r.consumed, steps_done - step0, r.failed, secs, ips, tvd);
			if (save)
				printf("state saved to %s (position %" PRIu64 ")\n", save, start_pos + popped);
		}
	}
	rc = r.failed ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
	goto out;
nomem:
	tool_err("out of memory");
	rc = EXIT_FATAL;
out:
	bl_loader_free(ld);
	bl_sampler_free(r.s);
	free(r.lcount);
	free(r.order);
	return rc == EXIT_USAGE ? rc : tool_finish(rc);
}
