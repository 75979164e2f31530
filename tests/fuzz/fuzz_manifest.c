/*
 * fuzz_manifest.c - fuzz target: arbitrary bytes as a manifest, read by
 * the manifest reader and loaded into a sampler, which then draws (the
 * epoch counts, the spread heap and a seek by bisection all see the
 * hostile weights), saves its state and restores it.
 *
 * Input: the bytes of a bare .jsonl of entries; or, when the first byte is
 * 'D', a manifest directory: the bytes after it up to the first 0x1e are
 * manifest.json, the rest shards/00000.jsonl.  Files go to a directory
 * made once per process.  Built for libFuzzer by 'make fuzz';
 * tests/fuzz/replay.c runs the saved corpus on every 'make test'.
 */
#include "ballast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

static char dir[256];

static void put(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		abort(); /* the harness's own directory: a bug in the harness */
	if (n && fwrite(p, 1, n, f) != n)
		abort();
	fclose(f);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	char path[512], err[512], state[512];
	const char *open_path;
	bl_sampler *s;
	uint64_t seed = 0, steps;
	size_t e, n;

	if (!dir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/fuzz-manifest-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof path, "%s/m", dir);
		mkdir(path, 0700);
		snprintf(path, sizeof path, "%s/m/shards", dir);
		mkdir(path, 0700);
	}
	if (len && data[0] == 'D') {
		const unsigned char *sep = memchr(data + 1, 0x1e, len - 1);
		size_t mlen = sep ? (size_t)(sep - data - 1) : len - 1;
		snprintf(path, sizeof path, "%s/m/manifest.json", dir);
		put(path, data + 1, mlen);
		snprintf(path, sizeof path, "%s/m/shards/00000.jsonl", dir);
		put(path, sep ? sep + 1 : data, sep ? len - mlen - 2 : 0);
		snprintf(path, sizeof path, "%s/m", dir);
	} else {
		snprintf(path, sizeof path, "%s/bare.jsonl", dir);
		put(path, data, len);
	}
	open_path = path;
	s = bl_sampler_open(open_path, err, sizeof err);
	if (!s)
		return 0;
	for (size_t i = 0; i < len && i < 8; i++)
		seed = seed << 8 | data[i];
	bl_sampler_meta(s, "seed");
	bl_sampler_meta(s, "policy.realise");
	if (bl_sampler_start(s, seed, 1, 3) != BL_OK)
		abort();
	bl_sampler_split(s, 1, 2, 3);
	for (int k = 0; k < 200; k++)
		if (bl_sampler_next(s, &e, NULL) != BL_OK || e >= bl_sampler_nentries(s))
			break;
	/* far into the stream: a seek by bisection */
	bl_sampler_seek(s, seed % (3 * bl_sampler_epoch_size(s) + 1));
	for (int k = 0; k < 20; k++)
		if (bl_sampler_next(s, &e, NULL) != BL_OK || e >= bl_sampler_nentries(s))
			break;
	n = bl_sampler_state_text(s, 7, state, sizeof state);
	if (n >= sizeof state ||
	    bl_sampler_state_restore(s, state, n, &steps, err, sizeof err) != BL_OK || steps != 7)
		abort(); /* a state the sampler wrote must read back */
	for (size_t i = 0; i < bl_sampler_nentries(s) && i < 50; i++) {
		const bl_entry *x = bl_sampler_entry(s, i);
		if (!x || !x->key || !x->shard || !(x->weight > 0))
			abort();
	}
	bl_sampler_free(s);
	return 0;
}
