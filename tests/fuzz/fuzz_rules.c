/*
 * fuzz_rules.c - fuzz target: arbitrary bytes as a rule file.  Loads and
 * compiles them; when they compile, tags a few captions (some exercising
 * every step of the normalised view) and JSON objects with them.  A rule file is trusted more than a shard, but a typo must
 * still give an error, never a crash.
 */
#include "ballast.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	static const char *const caps[] = {
		"a nude woman in a black dress", "Women's shoes, size 38",
		"\xff\xfe broken utf-8 caption", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", "",
		/* the normalised view: entities, escapes, hashtags, CamelCase,
		 * masked spellings, ALL-CAPS, other scripts */
		"Women&#39;s &amp;amp;#39; Boy\\'s #asiangirl AsianGirl_x s3xy n*de P0RN",
		"NUDE WOMAN POSING \xe5\xa5\xb3\xe6\x80\xa7 Sch\xc3\xb6ne Frau mit Hut und Brille",
	};
	static const char json[] = "{\"punsafe\": 0.7, \"status\": \"success\", \"a\": {\"b\": 1}}";
	bl_ruleset *rs = bl_ruleset_new();
	bl_tagger *t = NULL;

	if (!rs)
		return 0;
	if (bl_ruleset_load_string(rs, "fuzz.rules", (const char *)data, len) == BL_OK &&
	    bl_ruleset_compile(rs) == BL_OK && (t = bl_tagger_new(rs)) != NULL) {
		for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
			bl_tag_input in = {0};
			bl_labelset ls;
			in.caption = caps[i];
			in.caption_len = strlen(caps[i]);
			in.json = json;
			in.json_len = sizeof json - 1;
			bl_tagger_tag(t, &in, &ls);
		}
	}
	bl_tagger_free(t);
	bl_ruleset_free(rs);
	return 0;
}
