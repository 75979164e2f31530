/*
 * meta.c - access to the fields of a sample's JSON member (cJSON).
 *
 * img2dataset writes one JSON object per sample (status, width, height,
 * punsafe, pwatermark, NSFW, ...); rule predicates read its fields by
 * name.  This file hides cJSON behind a few calls so that the tagger does
 * not depend on its types.  A document is parsed only when some rule reads
 * a JSON field (bl_ruleset_uses_json).
 *
 * cJSON makes one malloc per item and per string, and freeing the tree is
 * one free each: a third of its parse time on img2dataset's small objects.
 * So a tree is built in an arena owned by the tagger: cJSON's allocation
 * hooks (installed once for the process) take memory from the arena of
 * the parse running on the calling thread, and from malloc otherwise or
 * when the arena is full; freeing a tree that fits is a reset.
 */
#include "rules_int.h"

#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_SIZE ((size_t)16 << 10)

struct bl_meta_arena {
	size_t used;
	size_t spilled;   /* allocations of the live tree made by malloc */
	const void *live; /* the tree built here, until bl_meta_free */
	_Alignas(16) unsigned char buf[ARENA_SIZE];
};

/* The arena of the parse or free running on this thread, if any. */
static _Thread_local bl_meta_arena *cur_arena;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static int in_arena(const bl_meta_arena *a, const void *p)
{
	const unsigned char *c = p;
	return c >= a->buf && c < a->buf + ARENA_SIZE;
}

static void *hook_malloc(size_t n)
{
	bl_meta_arena *a = cur_arena;

	if (a) {
		size_t need = (n + 15) & ~(size_t)15;
		if (need >= n && need <= ARENA_SIZE - a->used) {
			void *p = a->buf + a->used;
			a->used += need;
			return p;
		}
		a->spilled++;
	}
	return malloc(n);
}

static void hook_free(void *p)
{
	bl_meta_arena *a = cur_arena;

	if (a && in_arena(a, p))
		return;
	free(p);
}

/* Outside an arena scope the hooks are malloc and free, so cJSON used
 * anywhere else in the process behaves as without them. */
static void install_hooks(void)
{
	cJSON_Hooks h = {hook_malloc, hook_free};
	cJSON_InitHooks(&h);
}

bl_meta_arena *bl_meta_arena_new(void)
{
	bl_meta_arena *a = malloc(sizeof *a);

	if (!a)
		return NULL;
	a->used = a->spilled = 0;
	a->live = NULL;
	pthread_once(&hooks_once, install_hooks);
	return a;
}

void bl_meta_arena_free(bl_meta_arena *a)
{
	free(a);
}

/* bl_meta is never defined: a bl_meta pointer is the cJSON root. */

/* A sample's JSON is one object and nothing else: cJSON stops at the end
 * of the first value, so what follows it must be white space only (a NUL
 * ends the text as it ends cJSON's parse). */
static int whole_object(const cJSON *root, const char *text, size_t len, const char *end)
{
	if (!cJSON_IsObject(root) || !end)
		return 0;
	for (const char *p = end; p < text + len && *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			return 0;
	return 1;
}

static cJSON *parse(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);

	if (root && !whole_object(root, text, len, end)) {
		cJSON_Delete(root);
		root = NULL;
	}
	return root;
}

bl_meta *bl_meta_parse(bl_meta_arena *a, const char *text, size_t len)
{
	cJSON *root;

	if (!text)
		return NULL;
	if (!a || a->live) /* a tree lives there: this one goes to malloc */
		return (bl_meta *)parse(text, len);
	a->used = a->spilled = 0;
	cur_arena = a;
	root = parse(text, len);
	cur_arena = NULL;
	/* a refused tree was freed into the arena: it is empty again */
	a->live = root;
	if (!root)
		a->used = a->spilled = 0;
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

/* Fields img2dataset writes whose values have a range: a value outside
 * it is damage, not data, and counts as no number at all. */
static const struct {
	const char *name;
	double lo, hi;
} ranged[] = {
	{"punsafe", 0, 1},        {"pwatermark", 0, 1},
	{"width", 1, 1e9},        {"height", 1, 1e9},
	{"original_width", 1, 1e9}, {"original_height", 1, 1e9},
};

static int in_range(const char *path, double v)
{
	for (size_t i = 0; i < sizeof ranged / sizeof ranged[0]; i++)
		if (path[0] == ranged[i].name[0] && !strcmp(path, ranged[i].name))
			return v >= ranged[i].lo && v <= ranged[i].hi;
	return 1;
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
		/* 1e999 parses as infinity: not a number anyone wrote */
		if (!isfinite(it->valuedouble) || !in_range(path, it->valuedouble))
			return BL_VAL_OTHER;
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

void bl_meta_free(bl_meta_arena *a, bl_meta *doc)
{
	if (!doc)
		return;
	if (!a || a->live != doc) {
		cJSON_Delete((cJSON *)doc);
		return;
	}
	/* what spilled to malloc is freed; the rest goes with the reset */
	if (a->spilled) {
		cur_arena = a;
		cJSON_Delete((cJSON *)doc);
		cur_arena = NULL;
	}
	a->live = NULL;
	a->used = a->spilled = 0;
}
