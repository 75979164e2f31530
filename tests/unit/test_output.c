/*
 * Unit tests for the outputs: lib/file.c (atomic files and directories),
 * lib/writer.c (names of any length), lib/export.c (nothing emptied,
 * merged or lost) and lib/verify.c (the shard check).  Shards are made
 * here with bl_synth and bl_writer; manifests are bare .jsonl files.
 */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tpath(const char *rel)
{
	static char p[4][1200];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/output/%s", bl_test_tmpdir(), rel);
	return p[k];
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A shard of n synthetic samples; keys are bl_synth's unless key0 is
 * given for sample 0.  BL_OK or not. */
static int make_shard(const char *path, int n, const char *key0)
{
	bl_synth_config cfg;
	bl_synth *sy;
	bl_writer *w = bl_writer_new();
	char err[256];
	int ok;

	memset(&cfg, 0, sizeof cfg);
	cfg.seed = 3;
	cfg.image_size = 16;
	sy = bl_synth_new(&cfg, err, sizeof err);
	ok = sy && w && bl_writer_open(w, path) == BL_OK;
	for (int i = 0; ok && i < n; i++) {
		bl_synth_sample s;
		ok = bl_synth_make(sy, 0, (uint64_t)i, &s) == BL_OK;
		const char *key = i == 0 && key0 ? key0 : s.key;
		ok = ok && bl_writer_add(w, key, "jpg", s.jpeg, s.jpeg_len) == BL_OK &&
		     bl_writer_add(w, key, "txt", s.caption, strlen(s.caption)) == BL_OK &&
		     bl_writer_add(w, key, "json", s.json, s.json_len) == BL_OK;
	}
	ok = ok && bl_writer_close(w) == BL_OK;
	bl_writer_free(w);
	bl_synth_free(sy);
	return ok ? BL_OK : BL_FAILED;
}

/* A bare manifest of every sample of shard, weight w each, the lines in
 * reverse order and each listed `times` times. */
static int make_manifest(const char *jsonl, const char *shard, double w, int times)
{
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	char lines[64][512];
	int n = 0;
	FILE *f;

	if (!r || bl_reader_open(r, shard) != BL_OK)
		return BL_FAILED;
	while (n < 64 && bl_reader_next(r, &s) == BL_OK)
		snprintf(lines[n++], sizeof lines[0], "{\"key\": \"%s\", \"shard\": \"%s\", "
			 "\"ordinal\": %llu, \"offset\": %lld, \"weight\": %g, \"labels\": []}\n", s->key, shard,
			 (unsigned long long)s->ordinal, (long long)s->offset, w);
	bl_reader_free(r);
	f = fopen(jsonl, "w");
	if (!f)
		return BL_FAILED;
	for (int i = n - 1; i >= 0; i--)
		for (int t = 0; t < times; t++)
			fputs(lines[i], f);
	fclose(f);
	return BL_OK;
}

static void setup(void)
{
	mkdir(tpath(""), 0777);
}

BL_TEST(file_atomic_never_follows_or_replaces_what_it_should_not)
{
	char buf[256], err[256];
	struct stat st;

	setup();
	/* a symlink where the old writer's NAME.tmp was, and one at NAME */
	spit(tpath("victim"), "precious");
	CHECK(symlink(tpath("victim"), tpath("out.txt.tmp")) == 0);
	CHECK_EQ_INT(bl_file_write_atomic(tpath("out.txt"), "new", 3, err, sizeof err), BL_OK);
	slurp(tpath("victim"), buf, sizeof buf);
	CHECK_EQ_STR(buf, "precious");
	slurp(tpath("out.txt"), buf, sizeof buf);
	CHECK_EQ_STR(buf, "new");
	CHECK(symlink(tpath("victim"), tpath("link.txt")) == 0);
	CHECK_EQ_INT(bl_file_write_atomic(tpath("link.txt"), "over", 4, err, sizeof err), BL_OK);
	CHECK(lstat(tpath("link.txt"), &st) == 0 && S_ISREG(st.st_mode));
	slurp(tpath("victim"), buf, sizeof buf);
	CHECK_EQ_STR(buf, "precious");
	/* a directory is an error; the file mode follows the umask */
	CHECK_EQ_INT(bl_file_write_atomic(tpath(""), "x", 1, err, sizeof err), BL_FAILED);
	{
		mode_t um = umask(0);
		umask(um);
		CHECK(stat(tpath("out.txt"), &st) == 0 && (st.st_mode & 0777) == (0666 & ~um));
	}
	/* a device is written in place */
	if (access("/dev/null", W_OK) == 0) {
		CHECK_EQ_INT(bl_file_write_atomic("/dev/null", "x", 1, err, sizeof err), BL_OK);
		CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
	}
	/* an aborted stream leaves nothing */
	bl_file_out o;
	REQUIRE(bl_file_out_open(&o, tpath("aborted.txt"), 0, err, sizeof err) == BL_OK);
	CHECK(write(o.fd, "half", 4) == 4);
	bl_file_out_abort(&o);
	CHECK(access(tpath("aborted.txt"), F_OK) != 0);
}

BL_TEST(file_dir_published_whole_and_replaced_only_when_ours)
{
	bl_file_dir d;
	char err[512], buf[64];

	setup();
	REQUIRE(bl_file_dir_begin(&d, tpath("pub"), 0, "mark", err, sizeof err) == BL_OK);
	CHECK(access(tpath("pub"), F_OK) != 0); /* nothing there while building */
	CHECK(d.abs && d.abs[0] == '/' && strstr(d.abs, "/output/pub"));
	char p[1300];
	snprintf(p, sizeof p, "%s/old", d.tmp);
	CHECK_EQ_INT(bl_file_write_new(p, "1", 1, err, sizeof err), BL_OK);
	CHECK_EQ_INT(bl_file_write_new(p, "2", 1, err, sizeof err), BL_FAILED); /* O_EXCL */
	snprintf(p, sizeof p, "%s/mark", d.tmp);
	CHECK_EQ_INT(bl_file_write_new(p, "", 0, err, sizeof err), BL_OK);
	CHECK_EQ_INT(bl_file_dir_commit(&d, 0, err, sizeof err), BL_OK);
	bl_file_dir_release(&d);
	CHECK(access(tpath("pub/old"), F_OK) == 0);
	/* again: refused without force; with force, the new tree replaces
	 * the old one whole */
	CHECK_EQ_INT(bl_file_dir_begin(&d, tpath("pub"), 0, "mark", err, sizeof err), BL_FAILED);
	CHECK_CONTAINS(err, "exists");
	REQUIRE(bl_file_dir_begin(&d, tpath("pub/"), 1, "mark", err, sizeof err) == BL_OK);
	snprintf(p, sizeof p, "%s/new", d.tmp);
	CHECK_EQ_INT(bl_file_write_new(p, "n", 1, err, sizeof err), BL_OK);
	CHECK_EQ_INT(bl_file_dir_commit(&d, 1, err, sizeof err), BL_OK);
	bl_file_dir_release(&d);
	CHECK(access(tpath("pub/old"), F_OK) != 0);
	slurp(tpath("pub/new"), buf, sizeof buf);
	CHECK_EQ_STR(buf, "n");
	/* a directory without the marker is not ours: --force refuses it */
	mkdir(tpath("theirs"), 0777);
	spit(tpath("theirs/notes"), "keep");
	CHECK_EQ_INT(bl_file_dir_begin(&d, tpath("theirs"), 1, "mark", err, sizeof err), BL_FAILED);
	CHECK_CONTAINS(err, "will not replace");
	/* released before commit: nothing published, nothing left */
	REQUIRE(bl_file_dir_begin(&d, tpath("never"), 0, "mark", err, sizeof err) == BL_OK);
	snprintf(p, sizeof p, "%s", d.tmp);
	bl_file_dir_release(&d);
	CHECK(access(p, F_OK) != 0);
	CHECK(access(tpath("never"), F_OK) != 0);
}

BL_TEST(writer_names_of_any_length_read_back)
{
	char key[400];
	bl_reader *r = bl_reader_new();
	const bl_sample *s;

	setup();
	memset(key, 'k', 300);
	memcpy(key + 100, "/sub/", 5);
	key[300] = '\0';
	REQUIRE(make_shard(tpath("long.tar"), 3, key) == BL_OK);
	REQUIRE(r && bl_reader_open(r, tpath("long.tar")) == BL_OK);
	REQUIRE(bl_reader_next(r, &s) == BL_OK);
	CHECK_EQ_STR(s->key, key);
	CHECK_EQ_INT(s->nmembers, 3);
	bl_reader_free(r);
}

static void count_err(void *arg, const char *msg)
{
	(void)msg;
	(*(int *)arg)++;
}

BL_TEST(export_never_writes_an_emptied_member)
{
	bl_sampler *s;
	bl_export_options eo;
	bl_export_totals t;
	char err[512];
	int nerr = 0;

	setup();
	REQUIRE(make_shard(tpath("small.tar"), 4, NULL) == BL_OK);
	REQUIRE(make_manifest(tpath("small.jsonl"), tpath("small.tar"), 1, 1) == BL_OK);
	s = bl_sampler_open(tpath("small.jsonl"), err, sizeof err);
	REQUIRE(s);
	memset(&eo, 0, sizeof eo);
	eo.limits.max_member = 100; /* smaller than every JPEG */
	eo.on_error = count_err;
	eo.arg = &nerr;
	CHECK_EQ_INT(bl_export_write(s, tpath("w-small"), &eo, &t, err, sizeof err), BL_OK);
	CHECK_EQ_INT(t.samples, 0);
	CHECK_EQ_INT(t.skipped[BL_SKIP_INCOMPLETE], 4);
	CHECK_EQ_INT(t.failed, 4);
	CHECK_EQ_INT(nerr, 4);
	CHECK_EQ_INT(bl_export_to(s, BL_EXPORT_HF, tpath("hf-small"), &eo, &t, err, sizeof err), BL_OK);
	CHECK_EQ_INT(t.skipped[BL_SKIP_INCOMPLETE], 4);
	bl_sampler_free(s);
}

/* Append file src to dst. */
static int append_file(const char *dst, const char *src)
{
	char buf[4096];
	size_t n;
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "ab");
	int ok = in && out;

	while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
		ok = fwrite(buf, 1, n, out) == n;
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		ok = 0;
	return ok ? BL_OK : BL_FAILED;
}

BL_TEST(export_keys_of_two_shards_are_not_merged)
{
	bl_sampler *s;
	bl_export_options eo;
	bl_export_totals t;
	bl_reader *r = bl_reader_new();
	const bl_sample *smp;
	struct stat st;
	char err[512], prev[256] = "";
	uint64_t got = 0;
	int rc;

	setup();
	/* two shards with the same 5 keys, reverse order, weight 2: 5 x 2 x 2
	 * samples */
	REQUIRE(make_shard(tpath("twice.tar"), 5, NULL) == BL_OK);
	REQUIRE(make_shard(tpath("twice2.tar"), 5, NULL) == BL_OK);
	REQUIRE(make_manifest(tpath("twice.jsonl"), tpath("twice.tar"), 2, 1) == BL_OK);
	REQUIRE(make_manifest(tpath("twice2.jsonl"), tpath("twice2.tar"), 2, 1) == BL_OK);
	REQUIRE(append_file(tpath("twice.jsonl"), tpath("twice2.jsonl")) == BL_OK);
	s = bl_sampler_open(tpath("twice.jsonl"), err, sizeof err);
	REQUIRE(s && r);
	memset(&eo, 0, sizeof eo);
	REQUIRE(bl_export_write(s, tpath("w-twice"), &eo, &t, err, sizeof err) == BL_OK);
	CHECK_EQ_INT(t.samples, 20);
	CHECK_EQ_INT(t.failed, 0);
	CHECK_EQ_INT(t.renamed, 5);
	REQUIRE(bl_reader_open(r, tpath("w-twice/00000.tar")) == BL_OK);
	while ((rc = bl_reader_next(r, &smp)) == BL_OK) {
		got++;
		CHECK(strcmp(prev, smp->key) != 0);
		snprintf(prev, sizeof prev, "%s", smp->key);
	}
	CHECK_EQ_INT(rc, BL_END); /* no duplicate key, nothing merged */
	CHECK_EQ_INT(got, 20);
	CHECK(stat(tpath("w-twice/ballast.json"), &st) == 0);
	/* kohya and hf: one file per entry, names unique */
	REQUIRE(bl_export_to(s, BL_EXPORT_HF, tpath("hf-twice"), &eo, &t, err, sizeof err) == BL_OK);
	CHECK_EQ_INT(t.samples, 10);
	CHECK_EQ_INT(t.renamed, 5);
	bl_reader_free(r);
	bl_sampler_free(s);
}

BL_TEST(sampler_refuses_a_sample_listed_twice)
{
	char err[512];

	setup();
	REQUIRE(make_shard(tpath("dup.tar"), 5, NULL) == BL_OK);
	/* every line twice: the same (shard, key) would be drawn and written
	 * twice as often as its weight says */
	REQUIRE(make_manifest(tpath("dup.jsonl"), tpath("dup.tar"), 1, 2) == BL_OK);
	CHECK(bl_sampler_open(tpath("dup.jsonl"), err, sizeof err) == NULL);
	CHECK(strstr(err, "dup.jsonl' line 2: shard '") != NULL);
	CHECK(strstr(err, "is listed twice") != NULL);
	CHECK(strstr(err, "and 4 more problems") != NULL);
}

BL_TEST(verify_shards_refuses_changed_and_unreadable_shards)
{
	bl_sampler *s;
	bl_verify_totals t;
	char err[512], man[1300];
	FILE *f;

	setup();
	REQUIRE(make_shard(tpath("v.tar"), 3, NULL) == BL_OK);
	/* a manifest directory recording a wrong size for its shard */
	mkdir(tpath("vman"), 0777);
	mkdir(tpath("vman/shards"), 0777);
	REQUIRE(make_manifest(tpath("vman/shards/00000.jsonl"), tpath("v.tar"), 1, 1) == BL_OK);
	snprintf(man, sizeof man, "%s", tpath("vman/manifest.json"));
	f = fopen(man, "w");
	REQUIRE(f);
	fprintf(f, "{\"format\": \"ballast-manifest\", \"format_version\": 1, \"tool\": \"t\", "
		"\"policy\": {}, \"seed\": 1, \"realise\": \"weights\", \"cells\": [], "
		"\"summary\": {\"ok\": true, \"checks\": []}, \"labels\": [], \"inputs\": "
		"[{\"shard\": 0, \"path\": \"%s\", "
		"\"size\": 12, \"list\": \"shards/00000.jsonl\"}]}\n", tpath("v.tar"));
	fclose(f);
	s = bl_sampler_open(tpath("vman"), err, sizeof err);
	REQUIRE(s);
	CHECK_EQ_INT(bl_verify_shards(tpath("vman"), s, BL_CHECK_QUICK, NULL, &t, err, sizeof err),
		     BL_FAILED);
	CHECK_EQ_INT(t.shards_bad, 1);
	/* none: sizes are not looked at, but the shard must be a file */
	CHECK_EQ_INT(bl_verify_shards(tpath("vman"), s, BL_CHECK_NONE, NULL, &t, err, sizeof err),
		     BL_OK);
	bl_sampler_free(s);
	/* '-' is refused at every level */
	spit(tpath("dash.jsonl"), "{\"key\": \"a\", \"shard\": \"-\", \"ordinal\": 0, \"offset\": 0, "
	     "\"weight\": 1}\n");
	s = bl_sampler_open(tpath("dash.jsonl"), err, sizeof err);
	REQUIRE(s);
	CHECK_EQ_INT(bl_verify_shards(tpath("dash.jsonl"), s, BL_CHECK_NONE, NULL, &t, err,
				      sizeof err), BL_FAILED);
	bl_sampler_free(s);
}

/* manifest.json of tpath(dir) with inputs and summary as given (each @
 * of inputs names the shard v.tar), over the shard v.tar's lines. */
static void write_record(const char *dir, const char *inputs, const char *summary)
{
	char path[1300], in[4096];
	size_t n = 0;
	FILE *f;

	for (const char *p = inputs; *p && n + 1100 < sizeof in; p++)
		n += (size_t)snprintf(in + n, sizeof in - n, *p == '@' ? "%s" : "%.1s",
				      *p == '@' ? tpath("v.tar") : p);
	snprintf(path, sizeof path, "%s/manifest.json", tpath(dir));
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "{\"format\": \"ballast-manifest\", \"format_version\": 1, \"tool\": \"t\", "
		"\"policy\": {}, \"seed\": 1, \"realise\": \"weights\", \"cells\": [], "
		"\"summary\": %s, \"labels\": [], \"inputs\": %s}\n", summary, in);
	fclose(f);
}

BL_TEST(sampler_refuses_an_edited_verdict)
{
	static const char one[] = "[{\"shard\": 0, \"path\": \"@\", \"list\": \"shards/00000.jsonl\"}]";
	static const char failed[] = "{\"check\": \"cells\", \"status\": \"failed\", \"message\": \"few\"}";
	char err[1024], sum[512];
	bl_sampler *s;

	setup();
	REQUIRE(make_shard(tpath("v.tar"), 3, NULL) == BL_OK);
	mkdir(tpath("rec"), 0777);
	mkdir(tpath("rec/shards"), 0777);
	REQUIRE(make_manifest(tpath("rec/shards/00000.jsonl"), tpath("v.tar"), 1, 1) == BL_OK);
	/* a plan that passed, and one that failed, as rebalance writes them */
	write_record("rec", one, "{\"ok\": true, \"checks\": [{\"check\": \"ess\", \"status\": \"ok\"}]}");
	s = bl_sampler_open(tpath("rec"), err, sizeof err);
	REQUIRE(s);
	CHECK(bl_sampler_plan_failed(s) == NULL);
	bl_sampler_free(s);
	snprintf(sum, sizeof sum, "{\"ok\": false, \"checks\": [%s]}", failed);
	write_record("rec", one, sum);
	s = bl_sampler_open(tpath("rec"), err, sizeof err);
	REQUIRE(s);
	CHECK(bl_sampler_plan_failed(s) && strstr(bl_sampler_plan_failed(s), "cells: few"));
	bl_sampler_free(s);
	/* "ok" set to true, or deleted, over a failed check: the verdict is
	 * the checks', and the disagreement is damage (no override) */
	snprintf(sum, sizeof sum, "{\"ok\": true, \"checks\": [%s]}", failed);
	write_record("rec", one, sum);
	CHECK(bl_sampler_open(tpath("rec"), err, sizeof err) == NULL);
	CHECK(strstr(err, "summary \"ok\" is true, but 1 of its checks has status \"failed\""));
	snprintf(sum, sizeof sum, "{\"checks\": [%s]}", failed);
	write_record("rec", one, sum);
	CHECK(bl_sampler_open(tpath("rec"), err, sizeof err) == NULL);
	CHECK(strstr(err, "records no verdict on the plan (no \"ok\""));
	/* no verdict at all, a false one over passed checks, a status that is
	 * none of the four */
	write_record("rec", one, "{}");
	CHECK(bl_sampler_open(tpath("rec"), err, sizeof err) == NULL);
	CHECK(strstr(err, "records no verdict"));
	write_record("rec", one, "{\"ok\": true}");
	CHECK(bl_sampler_open(tpath("rec"), err, sizeof err) == NULL);
	CHECK(strstr(err, "no \"checks\" list"));
	write_record("rec", one, "{\"ok\": false, \"checks\": [{\"status\": \"ok\"}]}");
	CHECK(bl_sampler_open(tpath("rec"), err, sizeof err) == NULL);
	CHECK(strstr(err, "none of its checks has status \"failed\""));
	write_record("rec", one, "{\"ok\": true, \"checks\": [{\"status\": \"fine\"}]}");
	CHECK(bl_sampler_open(tpath("rec"), err, sizeof err) == NULL);
	CHECK(strstr(err, "summary check 1 has no status"));
	/* a bare .jsonl records no verdict and is read as ever */
	s = bl_sampler_open(tpath("rec/shards/00000.jsonl"), err, sizeof err);
	CHECK(s && !bl_sampler_plan_failed(s));
	bl_sampler_free(s);
}

BL_TEST(sampler_refuses_lines_without_their_input_record)
{
	static const char ok[] = "{\"ok\": true, \"checks\": []}";
	char err[1024];
	bl_sampler *s;
	bl_verify_totals t;

	setup();
	REQUIRE(make_shard(tpath("v.tar"), 3, NULL) == BL_OK);
	mkdir(tpath("inrec"), 0777);
	mkdir(tpath("inrec/shards"), 0777);
	REQUIRE(make_manifest(tpath("inrec/shards/00000.jsonl"), tpath("v.tar"), 1, 1) == BL_OK);
	spit(tpath("inrec/shards/00001.jsonl"), "");
	write_record("inrec", "[{\"shard\": 0, \"path\": \"@\", \"list\": \"shards/00000.jsonl\"}, "
		     "{\"shard\": 1, \"path\": \"w.tar\", \"list\": \"shards/00001.jsonl\"}]", ok);
	s = bl_sampler_open(tpath("inrec"), err, sizeof err);
	REQUIRE(s);
	CHECK_EQ_INT(bl_verify_shards(tpath("inrec"), s, BL_CHECK_AUTO, NULL, &t, err, sizeof err),
		     BL_OK);
	CHECK_EQ_INT(t.digests, 0); /* nothing recorded to check */
	/* the record edited under an open sampler: its shard has none */
	write_record("inrec", "[{\"shard\": 0, \"path\": \"w.tar\", \"list\": \"shards/00000.jsonl\"}, "
		     "{\"shard\": 1, \"path\": \"w2.tar\", \"list\": \"shards/00001.jsonl\"}]", ok);
	CHECK_EQ_INT(bl_verify_shards(tpath("inrec"), s, BL_CHECK_NONE, NULL, &t, err, sizeof err),
		     BL_FAILED);
	CHECK_EQ_INT(t.shards_bad, 1);
	bl_sampler_free(s);
	/* so the lines name a shard that is not their input's */
	CHECK(bl_sampler_open(tpath("inrec"), err, sizeof err) == NULL);
	CHECK(strstr(err, "00000.jsonl' line 1 names shard '") &&
	      strstr(err, "but its input in manifest.json records 'w.tar' (3 lines"));
	/* two records for one shard */
	write_record("inrec", "[{\"shard\": 0, \"path\": \"@\", \"list\": \"shards/00000.jsonl\"}, "
		     "{\"shard\": 1, \"path\": \"@\", \"list\": \"shards/00001.jsonl\"}]", ok);
	CHECK(bl_sampler_open(tpath("inrec"), err, sizeof err) == NULL);
	CHECK(strstr(err, "has more than one input record"));
	/* an input without a path */
	write_record("inrec", "[{\"shard\": 0, \"list\": \"shards/00000.jsonl\"}, "
		     "{\"shard\": 1, \"path\": \"w.tar\", \"list\": \"shards/00001.jsonl\"}]", ok);
	CHECK(bl_sampler_open(tpath("inrec"), err, sizeof err) == NULL);
	CHECK(strstr(err, "input 0 (list '") && strstr(err, "records no shard path"));
}
