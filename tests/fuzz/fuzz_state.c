/*
 * fuzz_state.c - fuzz target: arbitrary bytes as a sampler state (what
 * `ballast train --resume` and the Python dataset read).  The sampler is a
 * fixed manifest of five entries; the text "@digest@" in the input is
 * replaced by that manifest's digest, so that inputs can reach past the
 * digest check.  A restored state must then draw.  Built for libFuzzer by
 * 'make fuzz'; tests/fuzz/replay.c runs the saved corpus on every 'make
 * test'.
 */
#include "ballast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

static const char manifest[] =
	"{\"key\":\"a\",\"shard\":\"x.tar\",\"ordinal\":0,\"offset\":0,\"weight\":1,\"labels\":[\"p\"]}\n"
	"{\"key\":\"b\",\"shard\":\"x.tar\",\"ordinal\":1,\"offset\":1024,\"weight\":2.5,\"labels\":[]}\n"
	"{\"key\":\"c\",\"shard\":\"x.tar\",\"ordinal\":2,\"offset\":2048,\"weight\":600,\"labels\":[\"q\"]}\n"
	"{\"key\":\"d\",\"shard\":\"x.tar\",\"ordinal\":3,\"offset\":3072,\"weight\":0.25,\"labels\":[\"p\",\"q\"]}\n"
	"{\"key\":\"e\",\"shard\":\"x.tar\",\"ordinal\":4,\"offset\":4096,\"weight\":1,\"labels\":[]}\n";

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	static bl_sampler *s;
	char err[512];
	bl_buf text;
	uint64_t steps = 0, pos;
	size_t e;

	if (!s) {
		char dir[256], path[300];
		const char *t = getenv("TMPDIR");
		FILE *f;
		snprintf(dir, sizeof dir, "%s/fuzz-state-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof path, "%s/m.jsonl", dir);
		if (!(f = fopen(path, "wb")) || fwrite(manifest, 1, sizeof manifest - 1, f) !=
		    sizeof manifest - 1 || fclose(f) != 0)
			abort();
		if (!(s = bl_sampler_open(path, err, sizeof err)))
			abort(); /* the fixed manifest must load: a bug in the harness */
		unlink(path);
		rmdir(dir);
	}
	bl_buf_init(&text, 0);
	for (size_t i = 0; i < len;) {
		if (len - i >= 8 && !memcmp(data + i, "@digest@", 8)) {
			bl_buf_adds(&text, bl_sampler_digest(s));
			i += 8;
		} else {
			bl_buf_addch(&text, (char)data[i++]);
		}
	}
	bl_sampler_start(s, 1, len ? data[0] & 1 : 0, 2); /* "{" is odd: rank 1 */
	bl_sampler_seek(s, 5);
	if (bl_sampler_state_restore(s, text.buf, text.len, &steps, err, sizeof err) == BL_OK) {
		pos = bl_sampler_position(s);
		for (int k = 0; k < 64; k++)
			if (bl_sampler_next(s, &e, NULL) != BL_OK || e >= bl_sampler_nentries(s))
				break;
		(void)pos;
	} else if (bl_sampler_position(s) != 5) {
		abort(); /* a refused state must leave the sampler as it was */
	}
	bl_buf_release(&text);
	return 0;
}
