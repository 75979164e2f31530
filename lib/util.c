/*
 * util.c - small helpers shared by every module: error-kind names, UTF-8
 * validation and the JSON escape of bytes that are not UTF-8, the hash of the hash tables, and the seeded PRNG that every
 * random choice goes through.
 *
 * The PRNG is xoshiro256** seeded by splitmix64 (Blackman & Vigna).  It is
 * not for cryptography; it is fast, has a 2^256 period, and its streams can
 * be derived from (seed, stream id) so that results never depend on which
 * thread drew first.
 */
#include "ballast.h"

#include <string.h>

static const char *const errkind_names[BL_ERR__COUNT] = {
	[BL_ERR_NONE] = "none",
	[BL_ERR_OPEN] = "open",
	[BL_ERR_TRUNCATED] = "truncated",
	[BL_ERR_NOT_REGULAR] = "not_regular",
	[BL_ERR_DUP_KEY] = "duplicate_key",
	[BL_ERR_NO_CAPTION] = "no_caption",
	[BL_ERR_TOO_BIG] = "too_big",
	[BL_ERR_BAD_UTF8] = "bad_utf8",
	[BL_ERR_BAD_PATH] = "bad_path",
	[BL_ERR_TOO_MANY] = "too_many_members",
	[BL_ERR_JSON] = "bad_json",
	[BL_ERR_IMAGE] = "bad_image",
	[BL_ERR_MATCH_LIMIT] = "match_limit",
	[BL_ERR_NOMEM] = "out_of_memory",
	[BL_ERR_DAMAGED] = "damaged",
	[BL_ERR_NUL] = "nul_byte",
	[BL_ERR_DUP_SHARD] = "duplicate_shard",
	[BL_ERR_LIMIT] = "limit",
	[BL_ERR_INDEX] = "index_write",
};

const char *bl_errkind_name(bl_errkind kind)
{
	if ((int)kind < 0 || kind >= BL_ERR__COUNT || !errkind_names[kind])
		return "unknown";
	return errkind_names[kind];
}

uint64_t bl_hash_bytes(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * UINT64_C(1099511628211);
	return h;
}

int bl_utf8_valid(const char *str, size_t len, size_t *bad_at)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		unsigned cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1; cp = c & 0x1f; min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2; cp = c & 0x0f; min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			goto bad;
		}
		if (len - i <= n)
			goto bad;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		i += n + 1;
	}
	if (bad_at)
		*bad_at = len;
	return 1;
bad:
	if (bad_at)
		*bad_at = i;
	return 0;
}

int bl_utf8_json_escape(bl_buf *b, const char *s, size_t len, unsigned flags)
{
	size_t i = 0, good = 0;
	int rc = BL_OK, text = (flags & BL_JSON_TEXT) != 0;

	if (!b || (!s && len))
		return BL_EUSAGE;
	bl_utf8_valid(s, len, &good);
	while (rc == BL_OK && i < len) {
		unsigned char c = (unsigned char)s[i];
		if (i >= good && c >= 0x80) {
			size_t more;
			/* a byte outside valid UTF-8: the surrogate escape */
			rc = bl_buf_addf(b, "\\udc%02x", c);
			i++;
			/* find the next invalid byte after this one */
			if (bl_utf8_valid(s + i, len - i, &more))
				good = len;
			else
				good = i + more;
			continue;
		}
		if (!text && (c == '"' || c == '\\')) {
			rc = bl_buf_addch(b, '\\') == BL_OK ? bl_buf_addch(b, (char)c) : BL_ENOMEM;
			i++;
		} else if (!text && c < 0x20) {
			rc = bl_buf_addf(b, "\\u%04x", c);
			i++;
		} else {
			/* a run of bytes that need no escape, in one append */
			size_t j = i + 1, end = good < len ? good : len;
			while (j < end && (text || ((unsigned char)s[j] >= 0x20 && s[j] != '"' &&
						    s[j] != '\\')))
				j++;
			rc = bl_buf_add(b, s + i, j - i);
			i = j;
		}
	}
	return rc;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void bl_rng_seed(bl_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

void bl_rng_seed2(bl_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed;
	uint64_t mixed = splitmix64(&x) ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
	bl_rng_seed(r, mixed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t bl_rng_next(bl_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double bl_rng_double(bl_rng *r)
{
	return (double)(bl_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t bl_rng_below(bl_rng *r, uint64_t n)
{
	uint64_t x, lim;
	if (n == 0)
		return 0;
	/* rejection sampling: no modulo bias */
	lim = UINT64_MAX - UINT64_MAX % n;
	do
		x = bl_rng_next(r);
	while (x >= lim);
	return x % n;
}

/* ---- seeds and version (consumers) ----------------------------------- */

int bl_seed_parse(const char *text, uint64_t *seed)
{
	uint64_t v = 0;

	if (!text || !seed)
		return BL_EUSAGE;
	if (!*text)
		return BL_FAILED;
	for (const char *p = text; *p; p++) {
		unsigned d = (unsigned)(unsigned char)*p - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return BL_FAILED;
		v = v * 10 + d;
	}
	*seed = v;
	return BL_OK;
}

int bl_version_number(void)
{
	return BALLAST_VERSION_NUMBER;
}
