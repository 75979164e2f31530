/*
 * Unit tests of the sampler's draws (spread copies, seeks, worker split,
 * states) and of the manifest reader's escapes and limits.  Manifests are
 * bare .jsonl files written here: the sampler never opens the shards.
 */
#include "test.h"
#include "manifest_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tpath(const char *name)
{
	static char p[4][1024];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", bl_test_tmpdir(), name);
	return p[k];
}

/* n entries, entry i of weight w(i); returns the path. */
static const char *write_jsonl(const char *name, size_t n, double (*w)(size_t))
{
	const char *p = tpath(name);
	FILE *f = fopen(p, "w");
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "{\"key\":\"k%05zu\",\"shard\":\"s.tar\",\"ordinal\":%zu,\"offset\":%zu,"
			"\"weight\":%.10g,\"labels\":[\"%s\"]}\n", i, i, i * 1024, w(i),
			i % 3 ? "a" : "b");
	fclose(f);
	return p;
}

static double w_mixed(size_t i)
{
	return i == 7 ? 400 : i % 4 == 0 ? 2.5 : i % 5 == 0 ? 0.3 : 1 + (double)(i % 3);
}

static double w_heavy(size_t i)
{
	return i == 777 ? 600 : 1;
}

static bl_sampler *open_jsonl(const char *p)
{
	char err[512];
	bl_sampler *s = bl_sampler_open(p, err, sizeof err);
	if (!s)
		fprintf(stderr, "%s: %s\n", p, err);
	return s;
}

/* Every epoch holds each entry floor or ceil of its expected copies. */
BL_TEST(sampler_epoch_counts)
{
	bl_sampler *s = open_jsonl(write_jsonl("mixed.jsonl", 60, w_mixed));
	REQUIRE(s);
	uint64_t N = bl_sampler_epoch_size(s);
	double W = bl_sampler_weight(s);
	size_t n = bl_sampler_nentries(s);
	uint64_t *cnt = calloc(n, sizeof *cnt);
	REQUIRE(cnt);
	CHECK_EQ_INT(N, (uint64_t)llround(W));
	bl_sampler_start(s, 12, 0, 1);
	for (int ep = 0; ep < 3; ep++) {
		int bad = 0;
		memset(cnt, 0, n * sizeof *cnt);
		for (uint64_t k = 0; k < N; k++) {
			size_t e;
			uint64_t epoch;
			REQUIRE(bl_sampler_next(s, &e, &epoch) == BL_OK);
			CHECK_EQ_INT(epoch, (uint64_t)ep);
			cnt[e]++;
		}
		for (size_t i = 0; i < n; i++) {
			double x = bl_sampler_entry(s, i)->weight * (double)N / W;
			bad += (double)cnt[i] < floor(x) - 1e-9 || (double)cnt[i] > ceil(x) + 1e-9;
		}
		CHECK_EQ_INT(bad, 0);
	}
	free(cnt);
	bl_sampler_free(s);
}

/* A seek anywhere (by bisection far from the start) gives the draw the
 * sequence has there, for every rank of a world. */
BL_TEST(sampler_seek_equals_sequence)
{
	bl_sampler *s = open_jsonl(write_jsonl("mixed.jsonl", 60, w_mixed));
	REQUIRE(s);
	uint64_t N = bl_sampler_epoch_size(s), total = 3 * N;
	size_t *seq = malloc(total * sizeof *seq);
	bl_rng r;
	int bad = 0;
	REQUIRE(seq);
	REQUIRE(N > 4 * 60); /* so that seeks inside an epoch bisect */
	bl_sampler_start(s, 99, 0, 1);
	for (uint64_t k = 0; k < total; k++)
		REQUIRE(bl_sampler_next(s, &seq[k], NULL) == BL_OK);
	bl_rng_seed(&r, 5);
	for (int t = 0; t < 300; t++) {
		uint32_t world = 1 + (uint32_t)bl_rng_below(&r, 4);
		uint32_t rank = (uint32_t)bl_rng_below(&r, world);
		uint64_t pos = bl_rng_below(&r, (total - rank) / world);
		size_t e;
		bl_sampler_start(s, 99, rank, world);
		bl_sampler_seek(s, pos);
		REQUIRE(bl_sampler_next(s, &e, NULL) == BL_OK);
		bad += e != seq[pos * world + rank];
		/* and the draws after it go on from there */
		if (pos + 1 < (total - rank) / world) {
			REQUIRE(bl_sampler_next(s, &e, NULL) == BL_OK);
			bad += e != seq[(pos + 1) * world + rank];
		}
	}
	CHECK_EQ_INT(bad, 0);
	free(seq);
	bl_sampler_free(s);
}

/* Workers dealt blocks in turn draw, together, exactly the rank's stream. */
BL_TEST(sampler_worker_split)
{
	enum { TOTAL = 700, K = 3, BLOCK = 5 };
	bl_sampler *s = open_jsonl(write_jsonl("mixed.jsonl", 60, w_mixed));
	size_t seq[TOTAL], got[TOTAL];
	int seen[TOTAL] = {0}, bad = 0;
	REQUIRE(s);
	bl_sampler_start(s, 3, 1, 2);
	for (int k = 0; k < TOTAL; k++)
		REQUIRE(bl_sampler_next(s, &seq[k], NULL) == BL_OK);
	CHECK(bl_sampler_split(s, 3, 3, 5) == BL_EUSAGE);
	CHECK(bl_sampler_split(s, 0, 0, 5) == BL_EUSAGE);
	CHECK(bl_sampler_split(s, 0, 1, 0) == BL_EUSAGE);
	for (uint32_t w = 0; w < K; w++) {
		REQUIRE(bl_sampler_split(s, w, K, BLOCK) == BL_OK);
		bl_sampler_start(s, 3, 1, 2);
		for (;;) {
			size_t e;
			REQUIRE(bl_sampler_next(s, &e, NULL) == BL_OK);
			uint64_t p = bl_sampler_position(s) - 1;
			if (p >= TOTAL)
				break;
			bad += (p / BLOCK) % K != w || seen[p]++;
			got[p] = e;
		}
	}
	for (int k = 0; k < TOTAL; k++)
		bad += !seen[k] || got[k] != seq[k];
	CHECK_EQ_INT(bad, 0);
	bl_sampler_free(s);
}

/* A weight-600 entry among 20,000 of weight 1: its copies spread, at most
 * ceil(expected) + 1 in any window of 64 draws (a Fisher-Yates shuffle
 * puts 7 to 10 there, 1.9 expected). */
BL_TEST(sampler_heavy_weight_spreads)
{
	bl_sampler *s = open_jsonl(write_jsonl("heavy.jsonl", 20000, w_heavy));
	REQUIRE(s);
	uint64_t N = bl_sampler_epoch_size(s), n = 2 * N;
	unsigned char *hit = malloc(n);
	REQUIRE(hit);
	for (uint64_t seed = 1; seed <= 4; seed++) {
		int cur = 0, mx = 0, total = 0;
		bl_sampler_start(s, seed, 0, 1);
		for (uint64_t k = 0; k < n; k++) {
			size_t e;
			REQUIRE(bl_sampler_next(s, &e, NULL) == BL_OK);
			hit[k] = e == 777;
			total += hit[k];
			cur += hit[k] - (k >= 64 ? hit[k - 64] : 0);
			if (cur > mx)
				mx = cur;
		}
		CHECK_EQ_INT(total, 1200);
		if (mx > (int)ceil(64.0 * 600 / (double)N) + 1)
			bl_test_failf(__FILE__, __LINE__, "seed %llu: %d copies in 64 draws",
				      (unsigned long long)seed, mx);
	}
	free(hit);
	bl_sampler_free(s);
}

BL_TEST(sampler_state_text_and_hostile_states)
{
	bl_sampler *s = open_jsonl(write_jsonl("mixed.jsonl", 60, w_mixed));
	char text[512], err[256], bad[600];
	uint64_t steps = 0;
	size_t n, a, b;
	REQUIRE(s);
	bl_sampler_start(s, UINT64_MAX, 0, 1);
	for (int k = 0; k < 37; k++)
		REQUIRE(bl_sampler_next(s, &a, NULL) == BL_OK);
	n = bl_sampler_state_text(s, 9, text, sizeof text);
	REQUIRE(n > 0 && n < sizeof text);
	CHECK_CONTAINS(text, "\"seed\": \"18446744073709551615\"");
	CHECK_EQ_INT(bl_sampler_state_text(s, 9, NULL, 0), n);
	CHECK(bl_sampler_state_text(s, 9, bad, 10) == n && strlen(bad) == 9);
	REQUIRE(bl_sampler_next(s, &a, NULL) == BL_OK);
	bl_sampler_start(s, 0, 0, 1);
	REQUIRE(bl_sampler_state_restore(s, text, n, &steps, err, sizeof err) == BL_OK);
	CHECK_EQ_INT(steps, 9);
	CHECK_EQ_INT(bl_sampler_position(s), 37);
	REQUIRE(bl_sampler_next(s, &b, NULL) == BL_OK);
	CHECK_EQ_INT(a, b);
	static const char *const hostile[] = {
		"", "{", "[]", "null", "{\"format\": \"ballast-sampler-state\"}",
		"\"position\": 1e300", "\"position\": -1", "\"position\": 1.5",
		"\"position\": \"18446744073709551615\"", "\"world\": 0", "\"world\": 2",
		"\"rank\": 4294967296", "\"seed\": \"18446744073709551616\"", "\"seed\": \"-1\"",
		"\"seed\": 9007199254740993", "\"version\": 2", "\"manifest_sha256\": 5",
		"\"steps\": -3",
	};
	for (size_t k = 0; k < sizeof hostile / sizeof hostile[0]; k++) {
		const char *h = hostile[k];
		if (h[0] == '"') {
			/* the good state with one field replaced */
			char key[64];
			const char *colon = strchr(h, ':'), *at, *end;
			snprintf(key, sizeof key, "%.*s", (int)(colon - h), h);
			at = strstr(text, key);
			REQUIRE(at);
			end = at + strcspn(at, ",}");
			snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - text), text, h, end);
			h = bad;
		}
		bl_sampler_start(s, 4, 0, 1);
		bl_sampler_seek(s, 11);
		if (bl_sampler_state_restore(s, h, strlen(h), NULL, err, sizeof err) != BL_FAILED)
			bl_test_failf(__FILE__, __LINE__, "accepted: %s", h);
		CHECK_EQ_INT(bl_sampler_position(s), 11); /* unchanged */
	}
	bl_sampler_free(s);
}

BL_TEST(seed_parse)
{
	uint64_t v = 7;
	CHECK(bl_seed_parse("0", &v) == BL_OK && v == 0);
	CHECK(bl_seed_parse("9007199254740993", &v) == BL_OK && v == 9007199254740993ULL);
	CHECK(bl_seed_parse("18446744073709551615", &v) == BL_OK && v == UINT64_MAX);
	static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "12abc",
					  "18446744073709551616", "99999999999999999999"};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		v = 5;
		CHECK(bl_seed_parse(bad[k], &v) == BL_FAILED && v == 5);
	}
	CHECK(bl_seed_parse(NULL, &v) == BL_EUSAGE);
	CHECK(bl_version_number() == BALLAST_VERSION_NUMBER);
}

/* Bytes that are not UTF-8 round-trip through a manifest line; valid
 * UTF-8 and escapes that only look alike are left alone. */
BL_TEST(manifest_bytes_round_trip)
{
	static const char key[] = "k\xff\xe9-\xc3\xa9-\xf0\x9f\x98\x80-\xed\xa0\x80-\x80\"\\\n\x01";
	bl_buf b;
	char err[512];
	const bl_manifest_entry *e;
	bl_manifest *m;
	FILE *f;
	const char *p = tpath("bytes.jsonl");

	bl_buf_init(&b, 0);
	REQUIRE(bl_manifest_json_str(&b, key, sizeof key - 1) == BL_OK);
	CHECK_EQ_STR(b.buf, "\"k\\udcff\\udce9-\xc3\xa9-\xf0\x9f\x98\x80-\\udced\\udca0\\udc80-"
			    "\\udc80\\\"\\\\\\u000a\\u0001\"");
	f = fopen(p, "w");
	REQUIRE(f);
	fprintf(f, "{\"key\":%s,\"shard\":\"s\\udcff.tar\",\"ordinal\":1,\"offset\":0,\"weight\":1}\n",
		b.buf);
	/* a real pair of surrogate escapes (U+1F600) and an escaped
	 * backslash before "udc80" are not bytes */
	fprintf(f, "{\"key\":\"\\ud83d\\ude00\\\\udc80\",\"shard\":\"s\",\"ordinal\":2,\"offset\":0,"
		"\"weight\":1}\n");
	fclose(f);
	m = bl_manifest_open(p, err, sizeof err);
	REQUIRE(m);
	REQUIRE(bl_manifest_next(m, &e) == BL_OK);
	CHECK(strlen(e->key) == sizeof key - 1 && memcmp(e->key, key, sizeof key - 1) == 0);
	CHECK_EQ_STR(e->shard, "s\xff.tar");
	REQUIRE(bl_manifest_next(m, &e) == BL_OK);
	CHECK_EQ_STR(e->key, "\xf0\x9f\x98\x80\\udc80");
	CHECK(bl_manifest_next(m, &e) == BL_END);
	bl_manifest_free(m);
	bl_buf_release(&b);
	/* in place, and a NUL refused */
	char t1[] = "{\"a\":\"x\\udc80y\"}", t2[] = "{\"a\":\"x\\u0000y\"}";
	size_t n1 = bl_manifest_unescape(t1, strlen(t1));
	CHECK(n1 == 11 && memcmp(t1, "{\"a\":\"x\x80y\"}", 11) == 0);
	CHECK(bl_manifest_unescape(t2, strlen(t2)) == (size_t)-1);
}

/* The reader's limits: each bad line is an error naming file and line,
 * and the next call goes on. */
BL_TEST(manifest_reader_limits)
{
	static const char *const lines[] = {
		"{\"key\":\"a\",\"shard\":\"s\",\"ordinal\":0,\"offset\":0,\"weight\":1000000}",
		"{\"key\":\"a\",\"shard\":\"s\",\"ordinal\":0,\"offset\":0,\"weight\":1000000.5}",
		"{\"key\":\"a\",\"shard\":\"s\",\"ordinal\":9007199254740992,\"offset\":0,\"weight\":1}",
		"{\"key\":\"a\",\"shard\":\"s\",\"ordinal\":0,\"offset\":0.5,\"weight\":1}",
		"{\"key\":\"\",\"shard\":\"s\",\"ordinal\":0,\"offset\":0,\"weight\":1}",
		"{\"key\":\"a\",\"shard\":\"s\",\"ordinal\":0,\"offset\":0,\"weight\":1,\"labels\":[\"x,y\"]}",
		"{\"key\":\"a\",\"shard\":\"s\",\"ordinal\":0,\"offset\":0,\"weight\":1,"
		"\"members\":{\"png\":[1024,7],\"txt\":[2048,3],\"cls\":[1,1]}}",
		"{\"key\":\"a\",\"shard\":\"s\",\"ordinal\":0,\"offset\":0,\"weight\":1,\"members\":[1]}",
		"{\"key\":\"a\",\"shard\":\"s\",\"ordinal\":0,\"offset\":0,\"weight\":1,"
		"\"members\":{\"jpg\":[1,-2]}}",
	};
	static const int good[] = {1, 0, 0, 0, 0, 0, 1, 0, 0};
	const char *p = tpath("limits.jsonl");
	FILE *f = fopen(p, "w");
	char err[512];
	const bl_manifest_entry *e;
	bl_manifest *m;
	REQUIRE(f);
	for (size_t k = 0; k < sizeof lines / sizeof lines[0]; k++)
		fprintf(f, "%s\n", lines[k]);
	fputs("{\"key\":\"a\",\"shard\":\"s\",\"ordinal\":0,\"offset\":0,\"weight\":1}\n", f);
	fwrite("{\"key\":\"b\0\"}\n", 1, 13, f);
	fclose(f);
	m = bl_manifest_open(p, err, sizeof err);
	REQUIRE(m);
	for (size_t k = 0; k < sizeof lines / sizeof lines[0]; k++) {
		char want[64];
		int rc = bl_manifest_next(m, &e);
		if (rc != (good[k] ? BL_OK : BL_FAILED)) {
			bl_test_failf(__FILE__, __LINE__, "line %zu: rc %d (%s)", k + 1, rc,
				      bl_manifest_errmsg(m));
			continue;
		}
		snprintf(want, sizeof want, "line %zu", k + 1);
		if (!good[k])
			CHECK_CONTAINS(bl_manifest_errmsg(m), want);
	}
	REQUIRE(bl_manifest_next(m, &e) == BL_OK); /* the reader goes on */
	CHECK(e->members == NULL);
	/* a NUL byte inside a line: refused, not a key cut short */
	CHECK(bl_manifest_next(m, &e) == BL_FAILED);
	CHECK_CONTAINS(bl_manifest_errmsg(m), "NUL");
	{
		int rc = bl_manifest_next(m, &e);
		if (rc != BL_END)
			bl_test_failf(__FILE__, __LINE__, "rc %d: %s", rc, bl_manifest_errmsg(m));
	}
	bl_manifest_free(m);
	/* the members of line 7, read back */
	m = bl_manifest_open(p, err, sizeof err);
	REQUIRE(m);
	for (int k = 0; k < 7; k++)
		bl_manifest_next(m, &e);
	REQUIRE(e->members);
	CHECK_EQ_STR(e->members->image_ext, "png");
	CHECK(e->members->image.offset == 1024 && e->members->image.size == 7);
	CHECK(e->members->caption.offset == 2048 && e->members->json.offset == -1);
	bl_manifest_free(m);
}

BL_TEST(file_dir_publish)
{
	bl_buf tmp;
	char err[512], path[1100];
	const char *out = tpath("pubdir");
	struct stat st;

	bl_buf_init(&tmp, 0);
	REQUIRE(bl_file_dir_begin(out, &tmp, err, sizeof err) == BL_OK);
	snprintf(path, sizeof path, "%s/a", tmp.buf);
	REQUIRE(bl_file_write_atomic(path, "1", 1, err, sizeof err) == BL_OK);
	REQUIRE(bl_file_dir_publish(tmp.buf, out, 0, err, sizeof err) == BL_OK);
	CHECK(stat(tmp.buf, &st) != 0);
	snprintf(path, sizeof path, "%s/a", out);
	CHECK(stat(path, &st) == 0);
	/* a second one: refused without replace, swapped in with it */
	bl_buf_reset(&tmp);
	REQUIRE(bl_file_dir_begin(out, &tmp, err, sizeof err) == BL_OK);
	CHECK(bl_file_dir_publish(tmp.buf, out, 0, err, sizeof err) == BL_FAILED);
	CHECK_CONTAINS(err, "exists");
	CHECK(stat(path, &st) == 0);
	REQUIRE(bl_file_dir_publish(tmp.buf, out, 1, err, sizeof err) == BL_OK);
	CHECK(stat(path, &st) != 0); /* the new, empty one */
	CHECK(stat(out, &st) == 0 && S_ISDIR(st.st_mode));
	bl_file_dir_remove(out);
	CHECK(stat(out, &st) != 0);
	bl_buf_release(&tmp);
}
