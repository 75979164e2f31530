/*
 * Unit tests for sha256.c (nettle underneath): FIPS 180-4 vectors, a file
 * read across the reader's 1 MiB pieces, and a context copied by value
 * (rules.c finalises a copy to read a running digest).
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

BL_TEST(sha256_vectors_and_forks)
{
	char hex[65], hex2[65];
	bl_sha256 c, fork;
	static char a[1000];

	bl_sha256_hex("abc", 3, hex);
	CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* one million 'a', fed in pieces of 1000 */
	memset(a, 'a', sizeof a);
	bl_sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		bl_sha256_update(&c, a, sizeof a);
	bl_sha256_final_hex(&c, hex);
	CHECK_EQ_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* a copy forks: finishing it leaves the original running */
	bl_sha256_init(&c);
	bl_sha256_update(&c, "ab", 2);
	fork = c;
	bl_sha256_final_hex(&fork, hex2);
	bl_sha256_hex("ab", 2, hex);
	CHECK_EQ_STR(hex2, hex);
	bl_sha256_update(&c, "c", 1);
	bl_sha256_final_hex(&c, hex);
	CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BL_TEST(sha256_file_across_pieces)
{
	size_t n = (3u << 20) + 5; /* three pieces of the reader and a tail */
	unsigned char *buf = malloc(n);
	char path[512], want[65], got[65];
	FILE *f;

	REQUIRE(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	snprintf(path, sizeof path, "%s/sha-big.bin", bl_test_tmpdir());
	f = fopen(path, "wb");
	REQUIRE(f);
	CHECK(fwrite(buf, 1, n, f) == n);
	fclose(f);
	bl_sha256_hex(buf, n, want);
	CHECK_EQ_INT(bl_sha256_file(path, got), BL_OK);
	CHECK_EQ_STR(got, want);
	snprintf(path, sizeof path, "%s/sha-missing.bin", bl_test_tmpdir());
	CHECK_EQ_INT(bl_sha256_file(path, got), BL_FAILED);
	free(buf);
}
