/*
 * rules_int.h - what lib/rules.c (the rule-file parser and compiler),
 * lib/tagger.c (per-thread matching) and lib/meta.c (JSON field access)
 * share.  Not part of the public interface: everything here may change.
 *
 * A compiled rule set is a table of labels.  Each label owns at most two
 * PCRE2 programs - its match patterns joined by alternation and its unless
 * patterns joined likewise - plus a list of metadata predicates grouped
 * into conjunctions, plus the closure of the labels it implies.
 */
#ifndef BL_RULES_INT_H
#define BL_RULES_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ballast.h"

/* Where a predicate reads its value. */
enum { BL_SRC_JSON = 0, BL_SRC_IMAGE };

/* Image facts (bl_image_info) a predicate may name. */
enum {
	BL_FACT_WIDTH = 0,
	BL_FACT_HEIGHT,
	BL_FACT_ASPECT, /* width / height */
	BL_FACT_PIXELS, /* width * height */
	BL_FACT_PROGRESSIVE,
	BL_FACT_COMPONENTS,
	BL_FACT_CORRUPT,
	BL_FACT__COUNT
};

/* Predicate operators. */
enum {
	BL_OP_EQ = 0,
	BL_OP_NE,
	BL_OP_LT,
	BL_OP_LE,
	BL_OP_GT,
	BL_OP_GE,
	BL_OP_TRUTHY,  /* bare operand: present and not 0/false/""/null */
	BL_OP_MISSING, /* FIELD missing */
	BL_OP_EXISTS   /* FIELD exists */
};

/* Types of a literal in a predicate and of a value read from a sample. */
enum { BL_VAL_NONE = 0, BL_VAL_NUM, BL_VAL_STR, BL_VAL_NULL, BL_VAL_OTHER };

typedef struct bl_pred {
	int src;        /* BL_SRC_* */
	int fact;       /* BL_FACT_* when src is BL_SRC_IMAGE */
	char *path;     /* JSON field path ("a.b" descends) when BL_SRC_JSON */
	int op;         /* BL_OP_* */
	int negate;     /* "not" in front */
	int conj_start; /* 1 on the first predicate of each conjunction */
	int vtype;      /* BL_VAL_NUM / BL_VAL_STR / BL_VAL_NONE (no literal) */
	double num;
	char *str;
} bl_pred;

/* A name used by "implies", kept with its place until it is resolved. */
typedef struct bl_implied {
	char *name;
	int line, col;
} bl_implied;

typedef struct bl_rlabel {
	char *name;
	char *file;    /* the file (or string name) that declared it */
	int line;      /* line of the "label" keyword */
	bl_buf match_src;  /* "(?:p1)|(?:p2)|..." */
	bl_buf unless_src;
	int nmatch, nunless;
	pcre2_code *match;  /* NULL when the label has no match pattern */
	pcre2_code *unless; /* NULL when it has no unless pattern */
	bl_pred *preds;
	size_t npreds, apreds;
	bl_implied *implies;
	size_t nimplies, aimplies;
	bl_labelset closure; /* labels set when this one is (itself included) */
	int has_closure;     /* it implies at least one other label */
} bl_rlabel;

struct bl_ruleset {
	bl_rlabel *labels;  /* [0] is the derived safety.minor_sexual */
	int nlabels;
	int alabels;
	int compiled;
	int uses_json, uses_image;
	int minor_sexual;       /* index of safety.minor_sexual */
	bl_labelset minor_mask;  /* age.minor and age.minor.* */
	bl_labelset sexual_mask; /* sexual and sexual.* */
	int *implying;          /* labels with has_closure, in order */
	int nimplying;
	bl_sha256 sha;
	char digest[65];
	char errmsg[1024];
};

/* Limits applied to every match (see bl_tagger_new). */
#define BL_MATCH_LIMIT 1000000u
#define BL_DEPTH_LIMIT 5000u
#define BL_HEAP_LIMIT 20000u /* KiB, for the interpreter fallback */
#define BL_JIT_STACK_MAX (1024 * 1024)

/* ---- lib/meta.c: JSON fields of a sample ---------------------------- */

/* A parsed JSON document (opaque cJSON tree). */
typedef struct bl_meta bl_meta;

/* Parse text[0..len); NULL when it does not parse or memory ran out. */
bl_meta *bl_meta_parse(const char *text, size_t len);
/*
 * Look up a field by path ("a.b" descends into objects; a key that itself
 * contains dots is found as a whole first).  Fills *num or *str (borrowed
 * from the document) and returns BL_VAL_NUM (numbers and booleans, true
 * being 1), BL_VAL_STR, BL_VAL_NULL, BL_VAL_OTHER (arrays, objects) or
 * BL_VAL_NONE when the field is missing (or doc is NULL).
 */
int bl_meta_get(const bl_meta *doc, const char *path, double *num,
		const char **str);
void bl_meta_free(bl_meta *doc);

#endif
