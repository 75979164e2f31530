/*
 * sha256.c - SHA-256 for the digests that manifests and the index record:
 * rule files, policies and shards.
 *
 * Backed by nettle (Debian's nettle-dev), whose x86-64 build picks the
 * SHA-NI instructions at run time where the CPU has them: about 1.4 GB/s
 * on one core here against 0.24 GB/s for the portable C this file used to
 * hold, which is what hashing every shard of a rebalance costs.  nettle's
 * context is a plain struct, so bl_sha256 holds it by value and a copy
 * forks the hash (rules.c finalises a copy to read a running digest).
 */
#include "ballast.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct sha256_ctx) <= sizeof(((bl_sha256 *)0)->ctx.bytes),
	       "bl_sha256 is too small for nettle's sha256_ctx");
_Static_assert(_Alignof(struct sha256_ctx) <= _Alignof(uint64_t),
	       "bl_sha256 is not aligned enough for nettle's sha256_ctx");

#define CTX(c) ((struct sha256_ctx *)(void *)(c)->ctx.bytes)

/* a file is read in pieces this large */
#define FILE_CHUNK ((size_t)1 << 20)

void bl_sha256_init(bl_sha256 *c)
{
	memset(c, 0, sizeof *c);
	sha256_init(CTX(c));
}

void bl_sha256_update(bl_sha256 *c, const void *data, size_t len)
{
	sha256_update(CTX(c), len, data);
}

void bl_sha256_final(bl_sha256 *c, unsigned char out[32])
{
	sha256_digest(CTX(c), SHA256_DIGEST_SIZE, out);
}

void bl_sha256_final_hex(bl_sha256 *c, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char d[32];

	bl_sha256_final(c, d);
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[64] = '\0';
}

void bl_sha256_hex(const void *data, size_t len, char hex[65])
{
	bl_sha256 c;
	bl_sha256_init(&c);
	bl_sha256_update(&c, data, len);
	bl_sha256_final_hex(&c, hex);
}

int bl_sha256_file(const char *path, char hex[65])
{
	unsigned char *buf = NULL;
	bl_sha256 c;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = BL_FAILED, saved;

	if (fd < 0)
		return BL_FAILED;
	if (!(buf = malloc(FILE_CHUNK))) {
		errno = ENOMEM;
		goto out;
	}
#ifdef POSIX_FADV_SEQUENTIAL
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	bl_sha256_init(&c);
	while ((n = read(fd, buf, FILE_CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		bl_sha256_update(&c, buf, (size_t)n);
	}
	bl_sha256_final_hex(&c, hex);
	rc = BL_OK;
out:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return rc;
}
