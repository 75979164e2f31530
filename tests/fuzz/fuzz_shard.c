/*
 * fuzz_shard.c - fuzz target: arbitrary bytes as a shard.  Reads every
 * sample with every member loaded, probes and decode-checks the images,
 * and tags each sample with a small rule set that reads captions, JSON
 * fields and image facts, so the reader, the image probe, the JSON access
 * and the tagger all see hostile input.  Built for libFuzzer by 'make
 * fuzz'; tests/fuzz/replay.c runs the saved corpus on every 'make test'.
 */
#include "ballast.h"

#include <stdlib.h>

static const char rules[] =
	"label sexual.explicit\n  match \\b(?:nude|naked)\\b\n  unless \\bnude\\s+heels\\b\n"
	"label gender.female\n  match \\bwom[ae]n\\b\n  when gender == \"f\"\n"
	"label age.minor\n  match \\bminorterm\\b\n"
	"label meta.unsafe\n  when punsafe >= 0.5 or NSFW == \"NSFW\"\n"
	"label image.small\n  when width < 64 or corrupt\n";

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	static bl_ruleset *rs;
	static bl_tagger *t;
	static bl_image *im;
	static bl_reader *r;
	const bl_sample *s;
	bl_limits lim = {0};
	bl_image_limits il = {0};
	int rc, guard = 0;

	if (!rs) {
		rs = bl_ruleset_new();
		if (!rs || bl_ruleset_load_string(rs, "fuzz.rules", rules, sizeof rules - 1) != BL_OK ||
		    bl_ruleset_compile(rs) != BL_OK)
			abort(); /* the fixed rules must load: a bug in the harness */
		t = bl_tagger_new(rs);
		il.max_pixels = 1 << 22;
		im = bl_image_new(&il);
		r = bl_reader_new();
		lim.max_member = 1 << 20;
		lim.max_members = 16;
		if (!t || !im || !r || bl_reader_set_limits(r, &lim) != BL_OK ||
		    bl_reader_set_load(r, BL_LOAD_ALL) != BL_OK)
			abort();
	}
	if (bl_reader_open_memory(r, data, len, "fuzz") != BL_OK)
		return 0;
	while ((rc = bl_reader_next(r, &s)) != BL_END && guard++ < 100000) {
		bl_tag_input in = {0};
		bl_image_info info;
		bl_labelset ls;
		if (rc != BL_OK && rc != BL_WARN) {
			if (rc == BL_FATAL)
				break;
			continue;
		}
		if (s->caption && s->caption->data) {
			in.caption = (const char *)s->caption->data;
			in.caption_len = s->caption->len;
		}
		if (s->json && s->json->data) {
			in.json = (const char *)s->json->data;
			in.json_len = s->json->len;
		}
		if (s->image && s->image->data) {
			bl_image_check(im, s->image->data, s->image->len, &info);
			in.image = &info;
		}
		bl_tagger_tag(t, &in, &ls);
	}
	bl_reader_close(r);
	return 0;
}
