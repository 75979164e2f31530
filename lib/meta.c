/*
 * meta.c - access to the fields of a sample's JSON member (cJSON).
 *
 * img2dataset writes one JSON object per sample (status, width, height,
 * punsafe, pwatermark, NSFW, ...); rule predicates read its fields by
 * name.  This file hides cJSON behind three calls so that the tagger does
 * not depend on its types.  A document is parsed only when some rule reads
 * a JSON field (bl_ruleset_uses_json).
 */
#include "rules_int.h"

#include <cJSON.h>
#include <string.h>

/* bl_meta is never defined: a bl_meta pointer is the cJSON root. */

bl_meta *bl_meta_parse(const char *text, size_t len)
{
	cJSON *root;

	if (!text)
		return NULL;
	root = cJSON_ParseWithLength(text, len);
	if (!root)
		return NULL;
	/* the handle is the tree itself: no allocation of our own */
	return (bl_meta *)root;
}

static const cJSON *find(const cJSON *obj, const char *path)
{
	const cJSON *it;
	const char *dot;
	char key[256];
	size_t n;

	if (!cJSON_IsObject(obj))
		return NULL;
	it = cJSON_GetObjectItemCaseSensitive(obj, path);
	if (it)
		return it;
	dot = strchr(path, '.');
	if (!dot)
		return NULL;
	n = (size_t)(dot - path);
	if (n == 0 || n >= sizeof key)
		return NULL;
	memcpy(key, path, n);
	key[n] = '\0';
	it = cJSON_GetObjectItemCaseSensitive(obj, key);
	return it ? find(it, dot + 1) : NULL;
}

int bl_meta_get(const bl_meta *doc, const char *path, double *num,
		const char **str)
{
	const cJSON *it;

	if (!doc || !path)
		return BL_VAL_NONE;
	it = find((const cJSON *)doc, path);
	if (!it)
		return BL_VAL_NONE;
	if (cJSON_IsNumber(it)) {
		*num = it->valuedouble;
		return BL_VAL_NUM;
	}
	if (cJSON_IsBool(it)) {
		*num = cJSON_IsTrue(it) ? 1.0 : 0.0;
		return BL_VAL_NUM;
	}
	if (cJSON_IsString(it)) {
		*str = it->valuestring ? it->valuestring : "";
		return BL_VAL_STR;
	}
	if (cJSON_IsNull(it))
		return BL_VAL_NULL;
	return BL_VAL_OTHER;
}

void bl_meta_free(bl_meta *doc)
{
	if (doc)
		cJSON_Delete((cJSON *)doc);
}
