/*
 * cmd_mkshards.c - "ballast mkshards": synthetic img2dataset-style shards
 * with a planted skew (lib/synth.c), written with lib/writer.c.  Besides
 * the shards it writes OUTDIR/mkshards.json: the parameters and the true
 * counts per (gender, group) cell, so that tests can check the tagger and
 * the report against the truth.
 */
#include "tools.h"

#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char usage_mkshards[] =
	"usage: ballast mkshards OUTDIR [--shards N] [--per-shard M] [--seed S]\n"
	"                        [--skew GROUP[:GENDER]=FACTOR]... [--image-size PX]\n"
	"                        [--noise F] [--quality Q] [--compress none|gz|zst|xz]\n"
	"                        [--base-female P] [--base-male P] [-j THREADS]\n"
	"\n"
	"Write N synthetic WebDataset shards of M samples each (key.jpg, key.txt,\n"
	"key.json as img2dataset writes them) to OUTDIR/00000.tar ... and the truth\n"
	"table to OUTDIR/mkshards.json.  The same arguments give the same bytes.\n"
	"\n"
	"  --shards N          number of shards (default 4)\n"
	"  --per-shard M       samples per shard (default 1000)\n"
	"  --seed S            seed of every random choice (default 1)\n"
	"  --skew G[:X]=K      captions naming people of group G (and gender X:\n"
	"                      female or male; both when omitted) carry sexualised\n"
	"                      wording K times as often as all captions of that\n"
	"                      gender; the other groups are lowered to keep the\n"
	"                      gender's overall rate.  Groups: east_asian,\n"
	"                      southeast_asian, south_asian, black, white, latino,\n"
	"                      middle_eastern.  Example: --skew east_asian:female=3\n"
	"  --base-female P     base rate of sexualised wording for women (0.08)\n"
	"  --base-male P       base rate for men (0.03)\n"
	"  --image-size PX     JPEG side in pixels (64)\n"
	"  --noise F           image detail 0..1; more detail, larger JPEGs (0.1)\n"
	"  --quality Q         JPEG quality (85)\n"
	"  --compress C        none (.tar), gz (.tar.gz), zst (.tar.zst), xz (.tar.xz)\n"
	"  -j THREADS          shards written in parallel (default 1)\n";

struct cell {
	uint64_t n, suggestive, explicit_, swimwear;
};

/* truth per shard: [gender 0..2][group] plus minors and objects */
struct truth {
	struct cell c[3][BL_SYN_NGROUPS];
	uint64_t minors, objects, samples;
};

struct job {
	const bl_synth_config *cfg;
	const char *outdir;
	const char *suffix;
	uint64_t nshards, per_shard;
	struct truth *truth; /* one per shard */
	pthread_mutex_t lock;
	uint64_t next_shard, done;
	int failed;
	char err[1024];
};

static int write_shard(struct job *jb, bl_synth *syn, bl_writer *w, uint64_t shard)
{
	char path[4096];
	struct truth *t = &jb->truth[shard];
	bl_synth_sample s;

	snprintf(path, sizeof path, "%s/%05llu%s", jb->outdir,
		 (unsigned long long)shard, jb->suffix);
	if (bl_writer_open(w, path) != BL_OK)
		goto werr;
	for (uint64_t i = 0; i < jb->per_shard; i++) {
		if (bl_synth_make(syn, shard, i, &s) != BL_OK) {
			pthread_mutex_lock(&jb->lock);
			snprintf(jb->err, sizeof jb->err, "%s", bl_synth_errmsg(syn));
			pthread_mutex_unlock(&jb->lock);
			return -1;
		}
		if (bl_writer_add(w, s.key, "jpg", s.jpeg, s.jpeg_len) != BL_OK ||
		    bl_writer_add(w, s.key, "txt", s.caption, strlen(s.caption)) != BL_OK ||
		    bl_writer_add(w, s.key, "json", s.json, s.json_len) != BL_OK)
			goto werr;
		t->samples++;
		if (!s.truth.person) {
			t->objects++;
		} else if (s.truth.minor) {
			t->minors++;
		} else {
			struct cell *c = &t->c[s.truth.gender][s.truth.group];
			c->n++;
			c->suggestive += s.truth.sexual == BL_SYN_SUGGESTIVE;
			c->explicit_ += s.truth.sexual == BL_SYN_EXPLICIT;
			c->swimwear += (uint64_t)s.truth.swimwear;
		}
	}
	if (bl_writer_close(w) != BL_OK)
		goto werr;
	return 0;
werr:
	pthread_mutex_lock(&jb->lock);
	snprintf(jb->err, sizeof jb->err, "%s", bl_writer_errmsg(w));
	pthread_mutex_unlock(&jb->lock);
	return -1;
}

static void *worker(void *arg)
{
	struct job *jb = arg;
	char err[512];
	bl_synth *syn = bl_synth_new(jb->cfg, err, sizeof err);
	bl_writer *w = bl_writer_new();

	if (!syn || !w) {
		pthread_mutex_lock(&jb->lock);
		jb->failed = 1;
		snprintf(jb->err, sizeof jb->err, "%s", syn ? "out of memory" : err);
		pthread_mutex_unlock(&jb->lock);
		goto out;
	}
	for (;;) {
		uint64_t shard;
		pthread_mutex_lock(&jb->lock);
		shard = jb->failed ? jb->nshards : jb->next_shard++;
		pthread_mutex_unlock(&jb->lock);
		if (shard >= jb->nshards)
			break;
		if (write_shard(jb, syn, w, shard) != 0) {
			pthread_mutex_lock(&jb->lock);
			jb->failed = 1;
			pthread_mutex_unlock(&jb->lock);
			break;
		}
		/* progress on a terminal (tool_progress is quiet otherwise) */
		pthread_mutex_lock(&jb->lock);
		jb->done++;
		tool_progress(NULL, "shards written", jb->done, jb->nshards);
		pthread_mutex_unlock(&jb->lock);
	}
out:
	bl_synth_free(syn);
	bl_writer_free(w);
	return NULL;
}

static int parse_skew(const char *arg, bl_synth_config *cfg)
{
	char name[64];
	const char *eq = strchr(arg, '='), *colon;
	char *end;
	int gender = BL_SYN_NONE, group;
	double k;

	if (!eq || (size_t)(eq - arg) >= sizeof name)
		return -1;
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	colon = strchr(name, ':');
	if (colon) {
		if (!strcmp(colon + 1, "female"))
			gender = BL_SYN_FEMALE;
		else if (!strcmp(colon + 1, "male"))
			gender = BL_SYN_MALE;
		else
			return -1;
		name[colon - name] = '\0';
	}
	group = bl_synth_group_parse(name);
	errno = 0;
	k = strtod(eq + 1, &end);
	if (group < 0 || errno || *end || k < 0 || cfg->nskews >= BL_SYN_MAX_SKEWS)
		return -1;
	cfg->skews[cfg->nskews].group = group;
	cfg->skews[cfg->nskews].gender = gender;
	cfg->skews[cfg->nskews].factor = k;
	cfg->nskews++;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || !*s || *s == '-')
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	return errno || *end || !*s ? -1 : 0;
}

static int write_truth(const char *outdir, const bl_synth_config *cfg,
		       const struct job *jb)
{
	struct truth tot;
	cJSON *root = cJSON_CreateObject(), *params, *skews, *cells;
	char path[4096];
	char *text = NULL;
	int rc = -1;

	memset(&tot, 0, sizeof tot);
	for (uint64_t s = 0; s < jb->nshards; s++) {
		const struct truth *t = &jb->truth[s];
		tot.samples += t->samples;
		tot.minors += t->minors;
		tot.objects += t->objects;
		for (int g = 0; g < 3; g++)
			for (int k = 0; k < BL_SYN_NGROUPS; k++) {
				tot.c[g][k].n += t->c[g][k].n;
				tot.c[g][k].suggestive += t->c[g][k].suggestive;
				tot.c[g][k].explicit_ += t->c[g][k].explicit_;
				tot.c[g][k].swimwear += t->c[g][k].swimwear;
			}
	}
	if (!root)
		goto out;
	params = cJSON_AddObjectToObject(root, "params");
	cJSON_AddStringToObject(root, "generator", "ballast mkshards " BALLAST_VERSION);
	cJSON_AddNumberToObject(params, "seed", (double)cfg->seed);
	cJSON_AddNumberToObject(params, "shards", (double)jb->nshards);
	cJSON_AddNumberToObject(params, "per_shard", (double)jb->per_shard);
	cJSON_AddNumberToObject(params, "base_female", cfg->sexual_female);
	cJSON_AddNumberToObject(params, "base_male", cfg->sexual_male);
	cJSON_AddNumberToObject(params, "image_size", cfg->image_size);
	skews = cJSON_AddArrayToObject(params, "skews");
	for (int i = 0; i < cfg->nskews; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "group", bl_synth_group_name(cfg->skews[i].group));
		cJSON_AddStringToObject(o, "gender", cfg->skews[i].gender == BL_SYN_FEMALE ? "female"
						     : cfg->skews[i].gender == BL_SYN_MALE ? "male" : "any");
		cJSON_AddNumberToObject(o, "factor", cfg->skews[i].factor);
		cJSON_AddItemToArray(skews, o);
	}
	cJSON_AddNumberToObject(root, "samples", (double)tot.samples);
	cJSON_AddNumberToObject(root, "objects", (double)tot.objects);
	cJSON_AddNumberToObject(root, "minors", (double)tot.minors);
	cells = cJSON_AddArrayToObject(root, "cells");
	for (int g = 0; g < 3; g++)
		for (int k = 0; k < BL_SYN_NGROUPS; k++) {
			const struct cell *c = &tot.c[g][k];
			cJSON *o;
			if (!c->n)
				continue;
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "gender", g == BL_SYN_FEMALE ? "female"
							     : g == BL_SYN_MALE ? "male" : "none");
			cJSON_AddStringToObject(o, "group", bl_synth_group_name(k));
			cJSON_AddNumberToObject(o, "n", (double)c->n);
			cJSON_AddNumberToObject(o, "suggestive", (double)c->suggestive);
			cJSON_AddNumberToObject(o, "explicit", (double)c->explicit_);
			cJSON_AddNumberToObject(o, "swimwear", (double)c->swimwear);
			cJSON_AddItemToArray(cells, o);
		}
	text = cJSON_Print(root);
	if (!text)
		goto out;
	snprintf(path, sizeof path, "%s/mkshards.json", outdir);
	{
		char err[1024];
		bl_buf b;
		int wrc;
		bl_buf_init(&b, 0);
		wrc = bl_buf_adds(&b, text) == BL_OK && bl_buf_addch(&b, '\n') == BL_OK
			      ? bl_file_write_atomic(path, b.buf, b.len, err, sizeof err)
			      : BL_ENOMEM;
		bl_buf_release(&b);
		if (wrc != BL_OK) {
			tool_err("%s", wrc == BL_ENOMEM ? "out of memory" : err);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0)
		tool_err("cannot write the truth table in '%s'", outdir);
	free(text);
	cJSON_Delete(root);
	return rc;
}

int cmd_mkshards(int argc, char **argv)
{
	static const struct option opts[] = {
		{"shards", required_argument, NULL, 'n'},
		{"per-shard", required_argument, NULL, 'm'},
		{"seed", required_argument, NULL, 's'},
		{"skew", required_argument, NULL, 'k'},
		{"image-size", required_argument, NULL, 'i'},
		{"noise", required_argument, NULL, 'z'},
		{"quality", required_argument, NULL, 'q'},
		{"compress", required_argument, NULL, 'c'},
		{"base-female", required_argument, NULL, 'F'},
		{"base-male", required_argument, NULL, 'M'},
		{NULL, 0, NULL, 0},
	};
	bl_synth_config cfg;
	struct job jb;
	uint64_t nthreads = 1, v;
	const char *outdir;
	pthread_t *th = NULL;
	char err[512];
	bl_synth *probe;
	int c, rc = EXIT_FATAL;

	memset(&cfg, 0, sizeof cfg);
	memset(&jb, 0, sizeof jb);
	cfg.seed = 1;
	cfg.noise = 0.1;
	jb.nshards = 4;
	jb.per_shard = 1000;
	jb.suffix = ".tar";
	while ((c = getopt_long(argc, argv, "j:", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_u64(optarg, &jb.nshards) || jb.nshards == 0 || jb.nshards > 99999)
				return tool_usage_error(usage_mkshards, "--shards wants 1..99999");
			break;
		case 'm':
			if (parse_u64(optarg, &jb.per_shard) || jb.per_shard == 0 || jb.per_shard > 1000000)
				return tool_usage_error(usage_mkshards, "--per-shard wants 1..1000000");
			break;
		case 's':
			if (parse_u64(optarg, &cfg.seed))
				return tool_usage_error(usage_mkshards, "--seed wants an unsigned integer");
			break;
		case 'k':
			if (parse_skew(optarg, &cfg))
				return tool_usage_error(usage_mkshards, "cannot read --skew '%s'", optarg);
			break;
		case 'i':
			if (parse_u64(optarg, &v) || v < 8 || v > 4096)
				return tool_usage_error(usage_mkshards, "--image-size wants 8..4096");
			cfg.image_size = (int)v;
			break;
		case 'q':
			if (parse_u64(optarg, &v) || v < 1 || v > 100)
				return tool_usage_error(usage_mkshards, "--quality wants 1..100");
			cfg.jpeg_quality = (int)v;
			break;
		case 'z':
			if (parse_double(optarg, &cfg.noise) || cfg.noise < 0 || cfg.noise > 1)
				return tool_usage_error(usage_mkshards, "--noise wants 0..1");
			break;
		case 'F':
			if (parse_double(optarg, &cfg.sexual_female) || cfg.sexual_female <= 0 || cfg.sexual_female >= 1)
				return tool_usage_error(usage_mkshards, "--base-female wants a rate in (0, 1)");
			break;
		case 'M':
			if (parse_double(optarg, &cfg.sexual_male) || cfg.sexual_male <= 0 || cfg.sexual_male >= 1)
				return tool_usage_error(usage_mkshards, "--base-male wants a rate in (0, 1)");
			break;
		case 'c':
			if (!strcmp(optarg, "none"))
				jb.suffix = ".tar";
			else if (!strcmp(optarg, "gz"))
				jb.suffix = ".tar.gz";
			else if (!strcmp(optarg, "zst"))
				jb.suffix = ".tar.zst";
			else if (!strcmp(optarg, "xz"))
				jb.suffix = ".tar.xz";
			else
				return tool_usage_error(usage_mkshards, "--compress wants none, gz, zst or xz");
			break;
		case 'j':
			if (parse_u64(optarg, &nthreads) || nthreads < 1 || nthreads > 256)
				return tool_usage_error(usage_mkshards, "-j wants 1..256");
			break;
		default:
			return tool_usage_error(usage_mkshards, NULL);
		}
	}
	if (optind + 1 != argc)
		return tool_usage_error(usage_mkshards, "want exactly one OUTDIR");
	outdir = argv[optind];
	probe = bl_synth_new(&cfg, err, sizeof err);
	if (!probe)
		return tool_usage_error(usage_mkshards, "%s", err);
	bl_synth_free(probe);
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
		tool_err("cannot create '%s': %s", outdir, strerror(errno));
		return EXIT_FATAL;
	}
	jb.cfg = &cfg;
	jb.outdir = outdir;
	jb.truth = calloc(jb.nshards, sizeof *jb.truth);
	th = calloc(nthreads, sizeof *th);
	if (!jb.truth || !th) {
		tool_err("out of memory");
		goto out;
	}
	pthread_mutex_init(&jb.lock, NULL);
	if (nthreads > jb.nshards)
		nthreads = jb.nshards;
	for (uint64_t i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, worker, &jb) != 0) {
			tool_err("cannot start a thread");
			jb.failed = 1;
			nthreads = i;
			break;
		}
	for (uint64_t i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&jb.lock);
	if (jb.failed) {
		tool_err("%s", jb.err);
		goto out;
	}
	if (write_truth(outdir, &cfg, &jb) != 0)
		goto out;
	rc = EXIT_ALL_GOOD;
out:
	free(th);
	free(jb.truth);
	return tool_finish(rc);
}
