/* Unit tests for buf.c, util.c (UTF-8, PRNG) and sha256.c. */
#include "test.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

BL_TEST(buf_grows_and_caps)
{
	bl_buf b;
	bl_buf_init(&b, 16);
	CHECK_EQ_STR(b.buf, "");
	CHECK_EQ_INT(bl_buf_adds(&b, "hello "), BL_OK);
	CHECK_EQ_INT(bl_buf_addf(&b, "%d-%s", 42, "x"), BL_OK);
	CHECK_EQ_STR(b.buf, "hello 42-x");
	/* over the cap: refused, buffer unchanged */
	CHECK_EQ_INT(bl_buf_adds(&b, "0123456789"), BL_FAILED);
	CHECK_EQ_STR(b.buf, "hello 42-x");
	CHECK_EQ_INT(bl_buf_addf(&b, "%s", "0123456789"), BL_FAILED);
	CHECK_EQ_STR(b.buf, "hello 42-x");
	CHECK_EQ_INT(b.len, 10);
	size_t len;
	char *p = bl_buf_detach(&b, &len);
	CHECK_EQ_STR(p, "hello 42-x");
	CHECK_EQ_INT(len, 10);
	CHECK_EQ_INT(b.len, 0);
	free(p);
	bl_buf_release(&b);
}

BL_TEST(buf_addf_long)
{
	bl_buf b;
	bl_buf_init(&b, 0);
	for (int i = 0; i < 1000; i++)
		REQUIRE(bl_buf_addf(&b, "%04d,", i) == BL_OK);
	CHECK_EQ_INT(b.len, 5000);
	CHECK(memcmp(b.buf + 4995, "0999,", 5) == 0);
	bl_buf_release(&b);
}

BL_TEST(utf8_validation)
{
	size_t at;
	CHECK(bl_utf8_valid("plain ascii", 11, &at));
	CHECK(bl_utf8_valid("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", 17, &at));
	CHECK(!bl_utf8_valid("ab\xff", 3, &at));
	CHECK_EQ_INT(at, 2);
	CHECK(!bl_utf8_valid("\xc0\xaf", 2, &at));         /* overlong '/' */
	CHECK(!bl_utf8_valid("\xed\xa0\x80", 3, &at));     /* surrogate */
	CHECK(!bl_utf8_valid("x\xe6\x97", 3, &at));        /* cut short */
	CHECK_EQ_INT(at, 1);
	CHECK(!bl_utf8_valid("\xf4\x90\x80\x80", 4, &at)); /* > U+10FFFF */
}

/* The JSON escape of bytes: a string's body, and cJSON's text made
 * valid UTF-8 (keys too) without changing what it says. */
BL_TEST(utf8_json_escape_string_and_text)
{
	static const char body[] = "a\"\\\x1b\n\xc3\xa9\xff\xc3\xe6\x97\x85";
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	bl_buf b;

	REQUIRE(o);
	bl_buf_init(&b, 0);
	CHECK_EQ_INT(bl_utf8_json_escape(&b, body, sizeof body - 1, 0), BL_OK);
	CHECK_EQ_STR(b.buf, "a\\\"\\\\\\u001b\\u000a\xc3\xa9\\udcff\\udcc3\xe6\x97\x85");
	/* the same bytes through cJSON, in a value and in a key */
	cJSON_AddStringToObject(o, "k\xfe", "v\xff\x1b\"");
	text = cJSON_PrintUnformatted(o);
	REQUIRE(text);
	CHECK(!bl_utf8_valid(text, strlen(text), NULL));
	bl_buf_reset(&b);
	CHECK_EQ_INT(bl_utf8_json_escape(&b, text, strlen(text), BL_JSON_TEXT), BL_OK);
	CHECK_EQ_STR(b.buf, "{\"k\\udcfe\":\"v\\udcff\\u001b\\\"\"}");
	CHECK(bl_utf8_valid(b.buf, b.len, NULL));
	/* valid text is unchanged, byte for byte */
	bl_buf_reset(&b);
	CHECK_EQ_INT(bl_utf8_json_escape(&b, "{\"\xc3\xa9\":1}", 9, BL_JSON_TEXT), BL_OK);
	CHECK_EQ_STR(b.buf, "{\"\xc3\xa9\":1}");
	CHECK_EQ_INT(bl_utf8_json_escape(NULL, "x", 1, 0), BL_EUSAGE);
	CHECK_EQ_INT(bl_utf8_json_escape(&b, NULL, 1, 0), BL_EUSAGE);
	free(text);
	cJSON_Delete(o);
	bl_buf_release(&b);
}

/* FNV-1a's published 64-bit vectors */
BL_TEST(hash_bytes_fnv1a)
{
	CHECK(bl_hash_bytes("", 0) == UINT64_C(0xcbf29ce484222325));
	CHECK(bl_hash_bytes("a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
	CHECK(bl_hash_bytes("foobar", 6) == UINT64_C(0x85944171f73967e8));
	CHECK(bl_hash_bytes("a\0b", 3) != bl_hash_bytes("a\0c", 3));
}

BL_TEST(rng_deterministic_and_uniform)
{
	bl_rng a, b, c;
	bl_rng_seed(&a, 7);
	bl_rng_seed(&b, 7);
	bl_rng_seed(&c, 8);
	int same = 1, differ = 0;
	for (int i = 0; i < 100; i++) {
		uint64_t x = bl_rng_next(&a), y = bl_rng_next(&b), z = bl_rng_next(&c);
		same &= x == y;
		differ |= x != z;
	}
	CHECK(same);
	CHECK(differ);
	int counts[10] = {0};
	for (int i = 0; i < 100000; i++) {
		uint64_t k = bl_rng_below(&a, 10);
		REQUIRE(k < 10);
		counts[k]++;
	}
	for (int i = 0; i < 10; i++)
		CHECK(counts[i] > 9500 && counts[i] < 10500);
	double sum = 0;
	for (int i = 0; i < 100000; i++) {
		double d = bl_rng_double(&a);
		REQUIRE(d >= 0 && d < 1);
		sum += d;
	}
	CHECK(sum / 100000 > 0.49 && sum / 100000 < 0.51);
	bl_rng s1, s2;
	bl_rng_seed2(&s1, 1, 0);
	bl_rng_seed2(&s2, 1, 1);
	CHECK(bl_rng_next(&s1) != bl_rng_next(&s2));
}

BL_TEST(sha256_known_vectors)
{
	char hex[65];
	bl_sha256_hex("", 0, hex);
	CHECK_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	bl_sha256_hex("abc", 3, hex);
	CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	bl_sha256_hex(m, strlen(m), hex);
	CHECK_EQ_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* streaming in odd pieces equals one shot */
	bl_sha256 c;
	char hex2[65];
	bl_sha256_init(&c);
	for (size_t i = 0; i < strlen(m); i += 7)
		bl_sha256_update(&c, m + i, strlen(m) - i < 7 ? strlen(m) - i : 7);
	bl_sha256_final_hex(&c, hex2);
	CHECK_EQ_STR(hex2, hex);
}

BL_TEST(file_write_atomic)
{
	char path[1024], tmp[1100], bad[1100], buf[64];
	char err[256];
	FILE *f;
	snprintf(path, sizeof path, "%s/atomic.txt", bl_test_tmpdir());
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	REQUIRE(bl_file_write_atomic(path, "first\n", 6, err, sizeof err) == BL_OK);
	REQUIRE(bl_file_write_atomic(path, "second\n", 7, NULL, 0) == BL_OK);
	f = fopen(path, "r");
	REQUIRE(f);
	CHECK(fgets(buf, sizeof buf, f) != NULL);
	fclose(f);
	CHECK_EQ_STR(buf, "second\n");
	CHECK(access(tmp, F_OK) != 0); /* no temporary left behind */
	snprintf(bad, sizeof bad, "%s/no/such/dir/x.txt", bl_test_tmpdir());
	CHECK_EQ_INT(bl_file_write_atomic(bad, "x", 1, err, sizeof err), BL_FAILED);
	CHECK_CONTAINS(err, "cannot create");
	CHECK_EQ_INT(bl_file_write_atomic(NULL, "x", 1, err, sizeof err), BL_EUSAGE);
}

BL_TEST(sha256_of_a_file)
{
	char path[1024], hex[65];
	snprintf(path, sizeof path, "%s/abc.txt", bl_test_tmpdir());
	REQUIRE(bl_file_write_atomic(path, "abc", 3, NULL, 0) == BL_OK);
	REQUIRE(bl_sha256_file(path, hex) == BL_OK);
	CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	snprintf(path, sizeof path, "%s/missing.txt", bl_test_tmpdir());
	CHECK_EQ_INT(bl_sha256_file(path, hex), BL_FAILED);
}
