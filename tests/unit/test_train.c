/*
 * Unit tests for the consumers: the sampler (lib/sampler.c), the loader
 * (lib/loader.c) and the exports (lib/export.c).  Shards are generated
 * here (bl_synth + bl_writer, 2 x 120 samples of 48 px JPEGs) and a
 * manifest is written by hand in the FORMAT.md layout: weights and labels
 * follow the ordinal, so every expected count is known exactly.
 */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define NSHARDS 2
#define PER_SHARD 120

static char fixture[1024]; /* directory with shards and manifests */

static const char *fpath(const char *rel)
{
	static char p[4][1200];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", fixture, rel);
	return p[k];
}

/* Weight and labels by (shard, ordinal): ints 1..3, or fractional. */
static double weight_of(int sh, int i, int frac)
{
	int w = (i % 5 == 0) ? 3 : (i % 3 == 0 ? 2 : 1);
	(void)sh;
	return frac ? w * 0.75 + (i % 2) * 0.1 : w;
}

static void labels_of(int i, char *out, size_t n)
{
	snprintf(out, n, "[%s%s%s]", i % 2 ? "\"odd\"" : "\"even\"",
		 i % 7 == 0 ? ", \"seven\"" : "", i % 5 == 0 ? ", \"five\"" : "");
}

/* Shards (plain, and a gzip copy of shard 1), then three manifests:
 * int/ (upsample), frac/ (weights), gz/ (int, over the gzip shard). */
static int make_fixture(void)
{
	bl_synth_config cfg;
	bl_synth *sy;
	bl_reader *r;
	char err[256];
	int ok = 1;

	if (fixture[0])
		return 1;
	snprintf(fixture, sizeof fixture, "%s/train", bl_test_tmpdir());
	mkdir(fixture, 0777);
	memset(&cfg, 0, sizeof cfg);
	cfg.seed = 5;
	cfg.image_size = 48;
	sy = bl_synth_new(&cfg, err, sizeof err);
	r = bl_reader_new();
	if (!sy || !r)
		return 0;
	for (int sh = 0; sh < NSHARDS + 1 && ok; sh++) {
		bl_writer *w = bl_writer_new();
		char name[64];
		snprintf(name, sizeof name, sh < NSHARDS ? "%05d.tar" : "gz.tar.gz", sh);
		ok = w && bl_writer_open(w, fpath(name)) == BL_OK;
		for (int i = 0; ok && i < PER_SHARD; i++) {
			bl_synth_sample s;
			ok = bl_synth_make(sy, (uint64_t)(sh < NSHARDS ? sh : 1), (uint64_t)i, &s) == BL_OK &&
			     bl_writer_add(w, s.key, "jpg", s.jpeg, s.jpeg_len) == BL_OK &&
			     bl_writer_add(w, s.key, "txt", s.caption, strlen(s.caption)) == BL_OK &&
			     bl_writer_add(w, s.key, "json", s.json, s.json_len) == BL_OK;
		}
		ok = ok && bl_writer_close(w) == BL_OK;
		bl_writer_free(w);
	}
	const char *mans[3] = {"int", "frac", "gz"};
	for (int m = 0; m < 3 && ok; m++) {
		char d[1200];
		snprintf(d, sizeof d, "%s/%s", fixture, mans[m]);
		mkdir(d, 0777);
		snprintf(d, sizeof d, "%s/%s/shards", fixture, mans[m]);
		mkdir(d, 0777);
		FILE *mf = fopen(fpath(m == 1 ? "frac/manifest.json" : m == 0 ? "int/manifest.json"
				       : "gz/manifest.json"), "w");
		if (!mf)
			return 0;
		/* the fields bl_manifest_open requires, each input's shard (the
		 * one its lines name) and a plan that passed (no failed check) */
		fprintf(mf, "{\"format\": \"ballast-manifest\", \"format_version\": 1, "
			"\"tool\": \"test\", \"policy\": {}, \"seed\": 11, \"realise\": \"%s\", "
			"\"inputs\": [%s{\"shard\": 1, \"path\": \"%s\", "
			"\"list\": \"shards/00001.jsonl\"}], \"cells\": [], "
			"\"summary\": {\"ok\": true, \"checks\": []}, \"labels\": []}\n",
			m == 1 ? "weights" : "upsample",
			m == 2 ? "" : "{\"shard\": 0, \"path\": \"00000.tar\", "
				      "\"list\": \"shards/00000.jsonl\"}, ",
			m == 2 ? "gz.tar.gz" : "00001.tar");
		fclose(mf);
		for (int sh = 0; sh < NSHARDS && ok; sh++) {
			char jl[1300], shard[64], labs[128];
			const bl_sample *smp;
			FILE *f;
			if (m == 2 && sh == 0)
				continue;
			snprintf(shard, sizeof shard, m == 2 ? "gz.tar.gz" : "%05d.tar", sh);
			snprintf(jl, sizeof jl, "%s/%s/shards/%05d.jsonl", fixture, mans[m], sh);
			f = fopen(jl, "w");
			ok = f && bl_reader_open(r, fpath(shard)) == BL_OK;
			/* shard paths relative: resolved against the manifest's parent */
			for (int i = 0; ok && bl_reader_next(r, &smp) == BL_OK; i++) {
				labels_of(i, labs, sizeof labs);
				fprintf(f, "{\"key\": \"%s\", \"shard\": \"%s\", \"ordinal\": %d, "
					"\"offset\": %lld, \"weight\": %.10g, \"labels\": %s}\n",
					smp->key, shard, i, (long long)smp->offset,
					weight_of(sh, i, m == 1), labs);
			}
			if (f)
				fclose(f);
			bl_reader_close(r);
		}
	}
	bl_reader_free(r);
	bl_synth_free(sy);
	return ok;
}

static bl_sampler *open_man(const char *which)
{
	char err[512];
	bl_sampler *s;
	if (!make_fixture())
		return NULL;
	s = bl_sampler_open(fpath(which), err, sizeof err);
	if (!s)
		fprintf(stderr, "open %s: %s\n", which, err);
	return s;
}

BL_TEST(train_sampler_loads_manifest)
{
	bl_sampler *s = open_man("int");
	REQUIRE(s);
	CHECK_EQ_INT(bl_sampler_nentries(s), NSHARDS * PER_SHARD);
	CHECK_EQ_INT(bl_sampler_nshards(s), NSHARDS);
	CHECK(bl_sampler_repeats(s));
	CHECK_EQ_STR(bl_sampler_meta(s, "seed"), "11");
	CHECK_EQ_STR(bl_sampler_meta(s, "realise"), "upsample");
	CHECK(access(bl_sampler_entry(s, 0)->shard, R_OK) == 0);
	bl_sampler_free(s);
	s = open_man("frac");
	REQUIRE(s);
	CHECK(!bl_sampler_repeats(s));
	bl_sampler_free(s);
	/* a broken line names the file and line */
	char err[512];
	FILE *f = fopen(fpath("bad.jsonl"), "w");
	REQUIRE(f);
	fputs("{\"key\": \"a\", \"shard\": \"x.tar\", \"ordinal\": 0, \"offset\": 0, \"weight\": 1}\n"
	      "{\"key\": \"b\", \"shard\": \"x.tar\"}\n", f);
	fclose(f);
	CHECK(bl_sampler_open(fpath("bad.jsonl"), err, sizeof err) == NULL);
	CHECK_CONTAINS(err, "line 2");
}

/* Integer weights: one epoch holds every entry exactly weight times. */
BL_TEST(train_sampler_epoch_is_exact_for_repeats)
{
	bl_sampler *s = open_man("int");
	REQUIRE(s);
	size_t n = bl_sampler_nentries(s);
	uint64_t N = bl_sampler_epoch_size(s);
	uint64_t *cnt = calloc(n, sizeof *cnt);
	double W = 0;
	REQUIRE(cnt);
	for (size_t i = 0; i < n; i++)
		W += bl_sampler_entry(s, i)->weight;
	CHECK_EQ_INT(N, (uint64_t)W);
	REQUIRE(bl_sampler_start(s, 3, 0, 1) == BL_OK);
	for (uint64_t k = 0; k < N; k++) {
		size_t e;
		uint64_t ep;
		REQUIRE(bl_sampler_next(s, &e, &ep) == BL_OK);
		CHECK_EQ_INT(ep, 0);
		cnt[e]++;
	}
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += cnt[i] != (uint64_t)bl_sampler_entry(s, i)->weight;
	CHECK_EQ_INT(bad, 0);
	free(cnt);
	bl_sampler_free(s);
}

/* 20k draws realise the weighted label distribution (TVD < 0.02). */
BL_TEST(train_sampler_tvd_20k)
{
	const char *which[2] = {"int", "frac"};
	for (int m = 0; m < 2; m++) {
		bl_sampler *s = open_man(which[m]);
		REQUIRE(s);
		int nl = bl_sampler_nlabels(s);
		double got[8] = {0}, want[8] = {0}, gt = 0, wt = 0, tvd = 0;
		REQUIRE(nl <= 8);
		bl_sampler_start(s, 99, 0, 1);
		for (int k = 0; k < 20000; k++) {
			size_t e;
			REQUIRE(bl_sampler_next(s, &e, NULL) == BL_OK);
			const bl_entry *en = bl_sampler_entry(s, e);
			for (int j = 0; j < en->nlabels; j++)
				got[en->labels[j]]++, gt++;
		}
		for (int l = 0; l < nl; l++)
			want[l] = bl_sampler_label_weight(s, l), wt += want[l];
		for (int l = 0; l < nl; l++)
			tvd += fabs(got[l] / gt - want[l] / wt) / 2;
		if (tvd >= 0.02)
			bl_test_failf(__FILE__, __LINE__, "%s: tvd %g", which[m], tvd);
		bl_sampler_free(s);
	}
}

static void draw(bl_sampler *s, size_t *out, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (bl_sampler_next(s, &out[k], NULL) != BL_OK)
			out[k] = (size_t)-1;
}

BL_TEST(train_sampler_seeded_ranks_and_resume)
{
	enum { N = 1500 };
	static size_t a[N], b[N], r0[N / 2], r1[N / 2], c[N];
	bl_sampler *s = open_man("frac");
	char err[512];
	uint64_t steps = 0;
	REQUIRE(s);
	bl_sampler_start(s, 7, 0, 1);
	draw(s, a, N);
	bl_sampler_start(s, 7, 0, 1);
	draw(s, b, N);
	CHECK(!memcmp(a, b, sizeof a));
	bl_sampler_start(s, 8, 0, 1);
	draw(s, b, N);
	CHECK(memcmp(a, b, sizeof a) != 0);
	/* ranks: r0[k] = a[2k], r1[k] = a[2k+1] */
	bl_sampler_start(s, 7, 0, 2);
	draw(s, r0, N / 2);
	bl_sampler_start(s, 7, 1, 2);
	draw(s, r1, N / 2);
	int bad = 0;
	for (int k = 0; k < N / 2; k++)
		bad += r0[k] != a[2 * k] || r1[k] != a[2 * k + 1];
	CHECK_EQ_INT(bad, 0);
	/* resume: save after 600, a fresh sampler continues */
	bl_sampler_start(s, 7, 0, 1);
	draw(s, c, 600);
	REQUIRE(bl_sampler_save_state(s, fpath("state.json"), 42, err, sizeof err) == BL_OK);
	bl_sampler_free(s);
	s = open_man("frac");
	REQUIRE(s);
	bl_sampler_start(s, 0, 0, 1);
	REQUIRE(bl_sampler_load_state(s, fpath("state.json"), &steps, err, sizeof err) == BL_OK);
	CHECK_EQ_INT(steps, 42);
	draw(s, c + 600, N - 600);
	CHECK(!memcmp(a, c, sizeof a));
	/* another split or another manifest refuses the state */
	bl_sampler_start(s, 0, 1, 2);
	CHECK(bl_sampler_load_state(s, fpath("state.json"), NULL, err, sizeof err) == BL_FAILED);
	CHECK_CONTAINS(err, "rank");
	bl_sampler_free(s);
	s = open_man("int");
	REQUIRE(s);
	CHECK(bl_sampler_load_state(s, fpath("state.json"), NULL, err, sizeof err) == BL_FAILED);
	CHECK_CONTAINS(err, "another manifest");
	bl_sampler_free(s);
}

BL_TEST(train_loader_resize_crop)
{
	unsigned char src[40 * 20 * 3], dst[10 * 10 * 3], big[30 * 30 * 3];
	/* left half of the square black, right white; outside the central
	 * square (x < 10, x >= 30) red, which the crop must drop */
	for (int y = 0; y < 20; y++)
		for (int x = 0; x < 40; x++) {
			unsigned char *p = src + (y * 40 + x) * 3;
			int out = x < 10 || x >= 30;
			p[0] = out ? 255 : (x < 20 ? 0 : 255);
			p[1] = p[2] = out ? 0 : (x < 20 ? 0 : 255);
		}
	REQUIRE(bl_loader_resize_crop(src, 40, 20, dst, 10) == BL_OK);
	CHECK_EQ_INT(dst[0], 0);
	CHECK_EQ_INT(dst[(5 * 10 + 9) * 3 + 1], 255); /* no red bleeds in */
	CHECK_EQ_INT(dst[(5 * 10 + 4) * 3], 0);
	CHECK_EQ_INT(dst[(5 * 10 + 5) * 3], 255);
	/* area averaging of a 1-px checkerboard is mid grey */
	for (int i = 0; i < 40 * 20; i++)
		memset(src + i * 3, ((i % 40) + (i / 40)) % 2 ? 255 : 0, 3);
	REQUIRE(bl_loader_resize_crop(src, 40, 20, dst, 10) == BL_OK);
	CHECK(abs(dst[3 * 33] - 128) <= 1);
	/* enlarging a flat image keeps it flat */
	memset(src, 77, sizeof src);
	REQUIRE(bl_loader_resize_crop(src, 40, 20, big, 30) == BL_OK);
	int bad = 0;
	for (size_t i = 0; i < sizeof big; i++)
		bad += big[i] != 77;
	CHECK_EQ_INT(bad, 0);
	CHECK(bl_loader_resize_crop(NULL, 4, 4, dst, 2) == BL_EUSAGE);
}

/* Load every entry of a manifest with the given threads: a digest of
 * tags, captions and pixels, in pop order. */
static int load_all(bl_sampler *s, int threads, int size, char hex[65], int *failed,
		    int reverse)
{
	bl_loader_options o;
	bl_loader *ld;
	bl_sha256 h;
	size_t n = bl_sampler_nentries(s), pushed = 0;
	const bl_loaded *it;
	int popped = 0;

	memset(&o, 0, sizeof o);
	o.size = size;
	o.threads = threads;
	o.depth = 8;
	ld = bl_loader_new(&o);
	if (!ld)
		return -1;
	bl_sha256_init(&h);
	*failed = 0;
	for (;;) {
		while (pushed < n && bl_loader_room(ld) > 0) {
			size_t i = reverse ? n - 1 - pushed : pushed;
			const bl_entry *e = bl_sampler_entry(s, i);
			bl_loader_push(ld, e->shard, e->offset, e->key, i);
			pushed++;
		}
		if (bl_loader_pop(ld, &it) != BL_OK)
			break;
		popped++;
		bl_sha256_update(&h, &it->tag, sizeof it->tag);
		if (it->status != BL_OK) {
			(*failed)++;
			continue;
		}
		bl_sha256_update(&h, it->caption, strlen(it->caption));
		bl_sha256_update(&h, it->rgb, (size_t)size * (size_t)size * 3);
	}
	bl_sha256_final_hex(&h, hex);
	bl_loader_free(ld);
	return popped;
}

BL_TEST(train_loader_order_threads_and_compressed)
{
	bl_sampler *s = open_man("int");
	char h0[65], h2[65], hz[65], hr[65];
	int f0, f2, fz, fr;
	REQUIRE(s);
	CHECK_EQ_INT(load_all(s, 0, 32, h0, &f0, 0), NSHARDS * PER_SHARD);
	CHECK_EQ_INT(load_all(s, 2, 32, h2, &f2, 0), NSHARDS * PER_SHARD);
	CHECK_EQ_STR(h0, h2);
	CHECK_EQ_INT(f0, 0);
	CHECK_EQ_INT(f2, 0);
	bl_sampler_free(s);
	/* the gzip shard holds shard 1's samples: same pixels, by streaming,
	 * in order and in reverse order (each worker restarts the stream) */
	s = open_man("gz");
	REQUIRE(s);
	CHECK_EQ_INT(load_all(s, 2, 32, hz, &fz, 0), PER_SHARD);
	CHECK_EQ_INT(fz, 0);
	CHECK_EQ_INT(load_all(s, 1, 32, hr, &fr, 1), PER_SHARD);
	CHECK_EQ_INT(fr, 0);
	bl_sampler_free(s);
}

BL_TEST(train_loader_bad_samples_are_skipped)
{
	bl_loader_options o;
	bl_loader *ld;
	const bl_loaded *it;
	bl_sampler *s = open_man("int");
	REQUIRE(s);
	const bl_entry *e = bl_sampler_entry(s, 3);
	memset(&o, 0, sizeof o);
	o.size = 24;
	o.threads = 1;
	ld = bl_loader_new(&o);
	REQUIRE(ld);
	CHECK(bl_loader_push(ld, e->shard, e->offset + 512, e->key, 0) == BL_OK); /* mid-member */
	CHECK(bl_loader_push(ld, fpath("missing.tar"), 0, "x", 1) == BL_OK);
	CHECK(bl_loader_push(ld, e->shard, e->offset, "wrongkey", 2) == BL_OK);
	CHECK(bl_loader_push(ld, e->shard, e->offset, e->key, 3) == BL_OK);
	for (int k = 0; k < 3; k++) {
		REQUIRE(bl_loader_pop(ld, &it) == BL_OK);
		CHECK_EQ_INT(it->tag, (size_t)k);
		CHECK_EQ_INT(it->status, BL_FAILED);
		CHECK(it->rgb == NULL);
		CHECK(it->errmsg[0] != '\0');
	}
	REQUIRE(bl_loader_pop(ld, &it) == BL_OK);
	CHECK_EQ_INT(it->status, BL_OK);
	CHECK_EQ_INT(it->src_width, 48);
	CHECK(it->caption[0] != '\0');
	CHECK(bl_loader_pop(ld, &it) == BL_END);
	bl_loader_free(ld);
	bl_sampler_free(s);
}

static void count_err(void *arg, const char *msg)
{
	(void)msg;
	(*(int *)arg)++;
}

/* write: repeats become KEY_rN samples; a re-read counts them exactly;
 * a key that would leave OUTDIR is refused. */
BL_TEST(train_export_write_repeats_and_safety)
{
	bl_sampler *s = open_man("int");
	bl_export_options eo;
	bl_export_totals t;
	bl_reader *r = bl_reader_new();
	const bl_sample *smp;
	char err[512], out[1200];
	uint64_t want = 0, got = 0, r2 = 0;
	int nerr = 0;
	REQUIRE(s && r);
	for (size_t i = 0; i < bl_sampler_nentries(s); i++)
		want += (uint64_t)bl_sampler_entry(s, i)->weight;
	memset(&eo, 0, sizeof eo);
	eo.per_shard = 100;
	snprintf(out, sizeof out, "%s/written", fixture);
	REQUIRE(bl_export_write(s, out, &eo, &t, err, sizeof err) == BL_OK);
	CHECK_EQ_INT(t.samples, want);
	CHECK_EQ_INT(t.failed, 0);
	CHECK_EQ_INT(t.files, (want + 99) / 100);
	for (uint64_t k = 0; k < t.files; k++) {
		char p[1300];
		snprintf(p, sizeof p, "%s/%05llu.tar", out, (unsigned long long)k);
		REQUIRE(bl_reader_open(r, p) == BL_OK);
		while (bl_reader_next(r, &smp) == BL_OK) {
			got++;
			r2 += strstr(smp->key, "_r2") != NULL;
		}
	}
	CHECK_EQ_INT(got, want);
	CHECK(r2 > 0);
	/* the existing directory is refused without force */
	CHECK(bl_export_write(s, out, &eo, &t, err, sizeof err) == BL_FAILED);
	bl_sampler_free(s);
	/* unsafe keys */
	FILE *f = fopen(fpath("evil.jsonl"), "w");
	REQUIRE(f);
	fprintf(f, "{\"key\": \"../evil\", \"shard\": \"00000.tar\", \"ordinal\": 0, \"offset\": 0, \"weight\": 1}\n");
	fclose(f);
	s = bl_sampler_open(fpath("evil.jsonl"), err, sizeof err);
	REQUIRE(s);
	eo.on_error = count_err;
	eo.arg = &nerr;
	snprintf(out, sizeof out, "%s/evil-out", fixture);
	REQUIRE(bl_export_write(s, out, &eo, &t, err, sizeof err) == BL_OK);
	CHECK_EQ_INT(t.failed, 1);
	CHECK_EQ_INT(t.samples, 0);
	CHECK_EQ_INT(nerr, 1);
	bl_sampler_free(s);
	bl_reader_free(r);
}

/* ---- a shard cut by another process while it is read (issue 12) ------- */

static int truncate_in_child(const char *path, off_t size)
{
	pid_t pid = fork();
	int status = 0;
	if (pid == 0)
		_exit(truncate(path, size) == 0 ? 0 : 1);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static long file_size(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* A plain shard of n synthetic samples at path, and a bare .jsonl
 * manifest of them all (weight 1) at man; the offsets into off. */
static int make_cut_fixture(const char *path, const char *man, int n, int64_t *off)
{
	bl_synth_config cfg;
	bl_synth *sy;
	bl_writer *w = bl_writer_new();
	bl_reader *r = bl_reader_new();
	const bl_sample *smp;
	char err[256];
	FILE *f;
	int ok, i = 0;

	memset(&cfg, 0, sizeof cfg);
	cfg.seed = 9;
	cfg.image_size = 48;
	sy = bl_synth_new(&cfg, err, sizeof err);
	ok = sy && w && r && bl_writer_open(w, path) == BL_OK;
	for (int k = 0; ok && k < n; k++) {
		bl_synth_sample s;
		ok = bl_synth_make(sy, 0, (uint64_t)k, &s) == BL_OK &&
		     bl_writer_add(w, s.key, "jpg", s.jpeg, s.jpeg_len) == BL_OK &&
		     bl_writer_add(w, s.key, "txt", s.caption, strlen(s.caption)) == BL_OK &&
		     bl_writer_add(w, s.key, "json", s.json, s.json_len) == BL_OK;
	}
	ok = w && bl_writer_close(w) == BL_OK && ok;
	f = ok ? fopen(man, "w") : NULL;
	ok = f && bl_reader_open(r, path) == BL_OK;
	for (; ok && i < n && bl_reader_next(r, &smp) == BL_OK; i++) {
		off[i] = smp->offset;
		fprintf(f, "{\"key\": \"%s\", \"shard\": \"%s\", \"ordinal\": %d, \"offset\": %lld, "
			"\"weight\": 1, \"labels\": []}\n", smp->key, path, i, (long long)smp->offset);
	}
	if (f)
		ok = fclose(f) == 0 && ok && i == n;
	bl_reader_free(r);
	bl_writer_free(w);
	bl_synth_free(sy);
	return ok;
}

/*
 * `ballast train`: the loader reads a shard that another process cuts to
 * two thirds meanwhile (its readers use read(), not a map: see
 * loader.c; a mapped shard cut under bl_reader_seek is
 * shard_cut_inside_the_last_page_is_not_read_as_zeros).  Every sample
 * before the cut loads; every one after is an item failure, a truncation
 * whose message names the shard, and the run goes on to the end.
 */
BL_TEST(train_loader_shard_cut_while_read_is_an_item_error)
{
	enum { N = 300 };
	static int64_t off[N];
	char shard[1200], man[1200];

	REQUIRE(make_fixture());
	snprintf(shard, sizeof shard, "%s", fpath("cut-train.tar"));
	snprintf(man, sizeof man, "%s", fpath("cut-train.jsonl"));
	for (int threads = 0; threads <= 2; threads += 2) {
		bl_loader_options o;
		bl_loader *ld;
		const bl_loaded *it;
		bl_sampler *s;
		char err[512];
		long cut;
		int pushed = 0, popped = 0, ok = 0, failed = 0, named = 0, late_ok = 0;

		REQUIRE(make_cut_fixture(shard, man, N, off));
		cut = file_size(shard) * 2 / 3;
		REQUIRE((s = bl_sampler_open(man, err, sizeof err)) != NULL);
		memset(&o, 0, sizeof o);
		o.size = 16;
		o.threads = threads;
		o.depth = 4;
		REQUIRE((ld = bl_loader_new(&o)) != NULL);
		for (;;) {
			while (pushed < N && bl_loader_room(ld) > 0) {
				const bl_entry *e = bl_sampler_entry(s, (size_t)pushed);
				bl_loader_push(ld, e->shard, e->offset, e->key, (size_t)pushed);
				pushed++;
			}
			if (bl_loader_pop(ld, &it) != BL_OK)
				break;
			popped++;
			if (popped == 20)
				REQUIRE(truncate_in_child(shard, (off_t)cut));
			if (it->status == BL_OK) {
				ok++;
				late_ok += off[it->tag] > cut;
				continue;
			}
			failed++;
			named += strstr(it->errmsg, "cut-train.tar") != NULL;
			if (it->errkind != BL_ERR_TRUNCATED)
				bl_test_failf(__FILE__, __LINE__, "threads %d: %s, not a truncation: %s",
					      threads, bl_errkind_name(it->errkind), it->errmsg);
			CHECK(off[it->tag] + 4096 > cut); /* nothing whole before the cut fails */
		}
		bl_loader_free(ld);
		bl_sampler_free(s);
		CHECK_EQ_INT(popped, N);
		CHECK_EQ_INT(late_ok, 0);
		CHECK(failed > N / 4 && failed < N / 2);
		CHECK_EQ_INT(named, failed);
		CHECK_EQ_INT(ok + failed, N);
	}
}

static void progress_cut(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	const char **a = arg;
	(void)total;
	if (!strcmp(phase, "reading") && done >= 256 && a[1] == NULL) {
		a[1] = truncate_in_child(a[0], (off_t)(file_size(a[0]) * 2 / 3)) ? "cut" : "failed";
	}
}

struct cut_errs {
	const char *paths[2]; /* shard, and "cut" once it is cut (progress_cut's) */
	int n, named, shrank;
};

static void count_cut_err(void *arg, const char *msg)
{
	struct cut_errs *c = arg;
	c->n++;
	c->named += strstr(msg, "cut-write.tar") != NULL;
	c->shrank += strstr(msg, "shrank") != NULL;
}

static void progress_cut_errs(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	progress_cut(((struct cut_errs *)arg)->paths, phase, done, total);
}

/*
 * `ballast write`: the source shard is cut to two thirds by another
 * process while the walk reads it (from the progress callback, after 256
 * samples).  The samples before the cut are written, every one after is
 * an item error naming the shard, and the output reads back whole.
 */
BL_TEST(train_export_write_shard_cut_while_read_is_an_item_error)
{
	enum { N = 600 };
	static int64_t off[N];
	char shard[1200], man[1200];
	struct cut_errs c;
	bl_export_options eo;
	bl_export_totals t;
	bl_sampler *s;
	bl_reader *r = bl_reader_new();
	const bl_sample *smp;
	char err[512], out[1200];
	uint64_t back = 0;
	long cut;

	REQUIRE(r && make_fixture());
	snprintf(shard, sizeof shard, "%s", fpath("cut-write.tar"));
	snprintf(man, sizeof man, "%s", fpath("cut-write.jsonl"));
	REQUIRE(make_cut_fixture(shard, man, N, off));
	cut = file_size(shard) * 2 / 3;
	REQUIRE((s = bl_sampler_open(man, err, sizeof err)) != NULL);
	memset(&c, 0, sizeof c);
	c.paths[0] = shard;
	memset(&eo, 0, sizeof eo);
	eo.per_shard = 1000;
	eo.on_error = count_cut_err;
	eo.on_progress = progress_cut_errs;
	eo.arg = &c;
	snprintf(out, sizeof out, "%s/cut-written", fixture);
	REQUIRE(bl_export_write(s, out, &eo, &t, err, sizeof err) == BL_OK);
	REQUIRE(c.paths[1] && !strcmp(c.paths[1], "cut"));
	CHECK(t.failed > N / 4 && t.failed < N / 2);
	CHECK_EQ_INT(t.samples + t.failed, N);
	CHECK_EQ_INT((uint64_t)c.n, t.failed);
	CHECK_EQ_INT(c.named, c.n);
	if (!getenv("BALLAST_NO_MMAP"))
		CHECK(c.shrank >= 1);
	for (int i = 0; i < N; i++)
		if (off[i] + 8192 < cut && i >= (int)t.samples)
			bl_test_failf(__FILE__, __LINE__, "sample %d (offset %lld, before the cut at %ld) "
				      "not written", i, (long long)off[i], cut);
	REQUIRE(bl_reader_open(r, fpath("cut-written/00000.tar")) == BL_OK);
	while (bl_reader_next(r, &smp) == BL_OK)
		back++;
	CHECK_EQ_INT(back, t.samples);
	bl_reader_free(r);
	bl_sampler_free(s);
}

/* ---- the loader reads through the shard reader ------------------------ */

/* A gzip member's bytes for s (zlib's gzip wrapper). */
static size_t gzip_bytes(const char *s, unsigned char *out, size_t cap)
{
	z_stream z;
	size_t n = 0;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	z.next_in = (unsigned char *)(uintptr_t)s;
	z.avail_in = (uInt)strlen(s);
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) == Z_STREAM_END)
		n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

/* The loader (raw mode: bytes, no decoding) over a plain shard with a
 * damaged header, and over the same samples zstd-compressed: the reader's
 * limits, extension rules (case, .txt.gz captions) and messages apply,
 * and every sample the reader delivers loads, in push order. */
BL_TEST(train_loader_uses_the_readers_limits_and_rules)
{
	static const struct {
		const char *key;
		int status;       /* plain shard */
		int status_zst;   /* zstd shard */
		const char *want; /* caption, or a piece of the message */
	} ex[] = {
		{"k0", BL_OK, BL_OK, "cap 0"},
		{"k1", BL_FAILED, BL_FAILED, "over the 4000-byte limit"},
		{"k2", BL_FAILED, BL_FAILED, "over the 200-byte limit"},
		{"k3", BL_OK, BL_OK, "cap 3"},
		{"k4", BL_OK, BL_OK, "zipped caption"},
		{"k5", BL_FAILED, BL_FAILED, "no image member"},
		{"k6", BL_FAILED, BL_OK, "no image member"}, /* its image header damaged */
		{"k7", BL_OK, BL_OK, "cap 7"},
	};
	static unsigned char img[5000], gz[256];
	char big[300], plain[1200], zst[1200];
	size_t gzlen = gzip_bytes("zipped caption", gz, sizeof gz);
	int64_t dmg = -1;

	REQUIRE(make_fixture() && gzlen > 0);
	snprintf(plain, sizeof plain, "%s", fpath("rules.tar"));
	snprintf(zst, sizeof zst, "%s", fpath("rules.tar.zst"));
	memset(img, 0xd8, sizeof img);
	memset(big, 'b', sizeof big);
	for (int v = 0; v < 2; v++) {
		bl_writer *w = bl_writer_new();
		char cap[32];
		REQUIRE(w && bl_writer_open(w, v ? zst : plain) == BL_OK);
		for (int i = 0; i < 8; i++) {
			const char *k = ex[i].key;
			snprintf(cap, sizeof cap, "cap %d", i);
			if (i != 5)
				REQUIRE(bl_writer_add(w, k, i == 3 ? "JPG" : "jpg", img,
						      i == 1 ? 5000 : 600 + (size_t)i) == BL_OK);
			if (i == 4)
				REQUIRE(bl_writer_add(w, k, "txt.gz", gz, gzlen) == BL_OK);
			else
				REQUIRE(bl_writer_add(w, k, "txt", i == 2 ? big : cap,
						      i == 2 ? sizeof big : strlen(cap)) == BL_OK);
			REQUIRE(bl_writer_add(w, k, "json", "{}", 2) == BL_OK);
		}
		REQUIRE(bl_writer_close(w) == BL_OK);
		bl_writer_free(w);
	}
	/* damage the header of k6's image in the plain shard */
	{
		bl_reader *r = bl_reader_new();
		const bl_sample *s;
		FILE *f;
		REQUIRE(r && bl_reader_open(r, plain) == BL_OK);
		while (dmg < 0 && bl_reader_next(r, &s) != BL_END)
			if (s && !strcmp(s->key, "k6"))
				dmg = s->offset;
		bl_reader_free(r);
		REQUIRE(dmg > 0 && (f = fopen(plain, "r+b")) != NULL);
		REQUIRE(fseek(f, (long)dmg + 1, SEEK_SET) == 0 && fputc('#', f) != EOF);
		REQUIRE(fclose(f) == 0);
	}
	for (int v = 0; v < 2; v++) {
		bl_reader *r = bl_reader_new();
		bl_limits lim = {.max_member = 4000, .max_caption = 200};
		bl_loader_options o;
		bl_loader *ld;
		const bl_sample *s;
		const bl_loaded *it;
		struct {
			char key[8];
			int64_t off;
		} ent[16];
		int n = 0, rc;
		/* the entries as a streaming pass sees them */
		REQUIRE(r && bl_reader_open(r, v ? zst : plain) == BL_OK);
		while ((rc = bl_reader_next(r, &s)) != BL_END && n < 16)
			if (rc == BL_OK || rc == BL_WARN) {
				snprintf(ent[n].key, sizeof ent[n].key, "%s", s->key);
				ent[n++].off = s->offset;
			}
		bl_reader_free(r);
		REQUIRE(n == 8);
		memset(&o, 0, sizeof o);
		o.raw = 1;
		o.threads = v;
		o.depth = 3;
		o.limits = lim;
		REQUIRE((ld = bl_loader_new(&o)) != NULL);
		/* in reverse: the zstd shard is read again from its start */
		for (int k = 0, popped = 0; popped < n + 1;) {
			while (k < n + 1 && bl_loader_room(ld) > 0) {
				int i = n - 1 - k;
				if (k == n) /* a key the shard does not hold there */
					bl_loader_push(ld, v ? zst : plain, ent[0].off, "k9", 99);
				else
					bl_loader_push(ld, v ? zst : plain, ent[i].off, ent[i].key,
						       (size_t)i);
				k++;
			}
			REQUIRE(bl_loader_pop(ld, &it) == BL_OK);
			popped++;
			if (it->tag == 99) {
				CHECK_EQ_INT(it->status, BL_FAILED);
				CHECK_EQ_INT(it->errkind, BL_ERR_BAD_PATH);
				CHECK_CONTAINS(it->errmsg, "key 'k9'");
				continue;
			}
			REQUIRE(it->tag < 8);
			if (it->status != (v ? ex[it->tag].status_zst : ex[it->tag].status)) {
				bl_test_failf(__FILE__, __LINE__, "%s %s: status %d (%s)", v ? "zst" : "plain",
					      ex[it->tag].key, it->status, it->errmsg);
				continue;
			}
			if (it->status == BL_OK) {
				CHECK_EQ_STR(it->caption, v && it->tag == 6 ? "cap 6" : ex[it->tag].want);
				CHECK_EQ_STR(it->image_ext, "jpg");
				CHECK_EQ_INT(it->image_len, 600 + it->tag);
			} else {
				CHECK_CONTAINS(it->errmsg, ex[it->tag].want);
				CHECK_CONTAINS(it->errmsg, v ? "rules.tar.zst" : "rules.tar");
				CHECK_CONTAINS(it->errmsg, ex[it->tag].key);
				CHECK(it->image == NULL);
			}
		}
		CHECK(bl_loader_pop(ld, &it) == BL_END);
		bl_loader_free(ld);
	}
}

/* What cannot be read at an offset fails at once, saying so, instead of
 * blocking: a FIFO, standard input, a directory; and a negative offset. */
BL_TEST(train_loader_refuses_what_it_cannot_seek)
{
	bl_loader_options o;
	bl_loader *ld;
	const bl_loaded *it;
	char fifo[1200], dir[1200];
	bl_sampler *s = open_man("int");
	const bl_entry *e;

	REQUIRE(s);
	e = bl_sampler_entry(s, 2);
	snprintf(fifo, sizeof fifo, "%s", fpath("loader.fifo"));
	snprintf(dir, sizeof dir, "%s", fpath("int"));
	unlink(fifo);
	REQUIRE(mkfifo(fifo, 0600) == 0);
	memset(&o, 0, sizeof o);
	o.size = 16;
	o.threads = 1;
	REQUIRE((ld = bl_loader_new(&o)) != NULL);
	CHECK(bl_loader_push(ld, fifo, 0, "x", 0) == BL_OK);
	CHECK(bl_loader_push(ld, "-", 0, "x", 1) == BL_OK);
	CHECK(bl_loader_push(ld, dir, 0, "x", 2) == BL_OK);
	CHECK(bl_loader_push(ld, e->shard, -512, e->key, 3) == BL_OK);
	CHECK(bl_loader_push(ld, e->shard, e->offset, e->key, 4) == BL_OK);
	for (int k = 0; k < 4; k++) {
		REQUIRE(bl_loader_pop(ld, &it) == BL_OK);
		CHECK_EQ_INT(it->tag, (size_t)k);
		CHECK_EQ_INT(it->status, BL_FAILED);
		CHECK_CONTAINS(it->errmsg, k == 3 ? "negative offset" : "not a regular file");
	}
	REQUIRE(bl_loader_pop(ld, &it) == BL_OK);
	CHECK_EQ_INT(it->status, BL_OK);
	bl_loader_free(ld);
	bl_sampler_free(s);
	unlink(fifo);
}
