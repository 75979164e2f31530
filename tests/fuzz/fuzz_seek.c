/*
 * fuzz_seek.c - fuzz target: arbitrary bytes as a shard, read twice: a
 * streaming pass, then every sample again through bl_reader_seek at its
 * offset, last first (so that a compressed shard is read again from its
 * start and read on), and seeks to offsets taken from the input itself.
 * A sample read at its offset that is not the streamed one (key, member
 * names, offsets, sizes and bytes) aborts: random access must give the
 * samples the stream gives.  Problems are not compared: a plain tar
 * entered at an offset cannot know the damage before it (ballast.h).
 * Replayed over tests/fuzz/corpus/seek (the shard corpus) by every 'make
 * test'; 'make fuzz' runs it under libFuzzer.
 */
#include "ballast.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES 512

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

/* What must be the same, wherever a sample is read from. */
static uint64_t digest(const bl_sample *s)
{
	uint64_t h = bl_hash_bytes(s->key, strlen(s->key)) ^ (uint64_t)s->nmembers;
	for (size_t i = 0; i < s->nmembers; i++) {
		const bl_member *m = &s->members[i];
		int64_t f[4] = {m->offset, m->size, m->data_offset, (int64_t)m->len};
		h = h * 1099511628211u ^ bl_hash_bytes(m->name, strlen(m->name));
		h = h * 1099511628211u ^ bl_hash_bytes(f, sizeof f);
		if (m->data)
			h = h * 1099511628211u ^ bl_hash_bytes(m->data, m->len);
	}
	return h;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	static bl_reader *r;
	static int64_t off[MAX_SAMPLES];
	static uint64_t dig[MAX_SAMPLES];
	const bl_sample *s;
	bl_limits lim = {0};
	size_t n = 0;
	int rc, guard = 0;

	if (!r) {
		r = bl_reader_new();
		lim.max_member = 1 << 20;
		lim.max_members = 16;
		if (!r || bl_reader_set_limits(r, &lim) != BL_OK ||
		    bl_reader_set_load(r, BL_LOAD_ALL) != BL_OK)
			abort();
	}
	if (bl_reader_open_memory(r, data, len, "fuzz") != BL_OK)
		return 0;
	while ((rc = bl_reader_next(r, &s)) != BL_END && guard++ < 100000) {
		if (rc == BL_FATAL)
			break;
		if ((rc == BL_OK || rc == BL_WARN) && n < MAX_SAMPLES) {
			off[n] = s->offset;
			dig[n++] = digest(s);
		}
	}
	for (size_t i = n; i-- > 0;) {
		if (bl_reader_seek(r, off[i]) != BL_OK)
			abort(); /* a sample the stream delivered is not found */
		rc = bl_reader_next(r, &s);
		if ((rc != BL_OK && rc != BL_WARN) || s->offset != off[i] || digest(s) != dig[i])
			abort();
	}
	/* offsets from the input: anything may come back, nothing may break */
	for (size_t i = 0; i + 4 <= len && i < 64; i += 4) {
		int64_t at = (int64_t)(((uint32_t)data[i] << 24 | (uint32_t)data[i + 1] << 16 |
					(uint32_t)data[i + 2] << 8 | data[i + 3]) %
				       (uint32_t)(len + 1024));
		if (bl_reader_seek(r, at) == BL_OK)
			while ((rc = bl_reader_next(r, &s)) != BL_END && rc != BL_FATAL &&
			       guard++ < 200000)
				;
	}
	bl_reader_close(r);
	return 0;
}
