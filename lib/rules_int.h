/*
 * rules_int.h - what lib/rules.c (the rule-file parser and compiler),
 * lib/tagger.c (per-thread matching) and lib/meta.c (JSON field access)
 * share.  Not part of the public interface: everything here may change.
 *
 * A compiled rule set is a table of labels.  Each label owns one PCRE2
 * program per match pattern and one per unless pattern, a prefilter gate
 * for each of them (lib/prefilter.c), a list of
 * metadata predicates grouped into conjunctions, and the closure of the
 * labels it implies.
 */
#ifndef BL_RULES_INT_H
#define BL_RULES_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ballast.h"

/* The literal prefilter (lib/prefilter.c, below). */
typedef struct bl_prefilter bl_prefilter;
/* The caption normaliser (lib/normalise.c, below). */
typedef struct bl_normaliser bl_normaliser;

/* Where a predicate reads its value. */
enum { BL_SRC_JSON = 0, BL_SRC_IMAGE, BL_SRC_CAPTION };

/* Facts about the caption text (bl_caption_facts) a predicate may name
 * as caption.NAME. */
enum {
	BL_CFACT_WORDS = 0, /* words holding a letter */
	BL_CFACT_LETTERS,   /* letters, any script */
	BL_CFACT_NONLATIN,  /* share of the letters not in Latin script (0..1) */
	BL_CFACT_ENGLISH,   /* English function words */
	BL_CFACT_FOREIGN,   /* function words of other Latin-script languages,
			     * and words holding a letter with a diacritic */
	BL_CFACT_CAPITALISED, /* share of the view's cased words written with
			       * a capital (0..1): title case, names */
	BL_CFACT__COUNT
};

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
	int fact;       /* BL_FACT_* (image) or BL_CFACT_* (caption) */
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

/*
 * A prefilter gate: when the caption lacks the literals it names, the
 * program it guards cannot match and is not run.  code holds an OR of
 * terms, each "n, id1 .. idn": the term holds when the caption hit every
 * clause id1..idn (bl_prefilter_scan).  len 0: no gate, always run.
 */
typedef struct bl_gate {
	int *code;
	size_t len;
} bl_gate;

/* A named sub-pattern: "define" (one file) or "global" (every file
 * loaded after it). */
typedef struct bl_rdefine {
	char *name;
	char *pat; /* expanded */
} bl_rdefine;

typedef struct bl_rlabel {
	char *name;
	char *file;    /* the file (or string name) that declared it */
	int line;      /* line of the "label" keyword */
	bl_strlist match_pats;  /* each match pattern, {NAME}s expanded */
	bl_strlist unless_pats; /* each unless pattern, likewise */
	int nmatch, nunless;
	pcre2_code **match;  /* nmatch programs, one per pattern */
	pcre2_code **unless; /* nunless programs, one per pattern */
	/* the programs compiled when the patterns were checked at load,
	 * taken over (without their JIT code) when the set is compiled */
	pcre2_code **match_pre, **unless_pre;
	size_t amatch_pre, aunless_pre; /* their room */
	bl_gate *mgate;      /* one per match pattern */
	bl_gate *ugate;      /* one per unless pattern */
	/* a clause of every match gate (BL_PF_WORDS(nids) words): a caption
	 * that hit none opens none; NULL when some match pattern is ungated */
	uint64_t *mfirst;
	int *mfirst_at;      /* the words of mfirst that are not 0 */
	int nmfirst;
	bl_pred *preds;
	size_t npreds, apreds;
	bl_implied *implies;
	size_t nimplies, aimplies;
	bl_labelset closure; /* labels set when this one is (itself included) */
	int has_closure;     /* it implies at least one other label */
	bl_implied *except;  /* "except" names (labels or families) */
	size_t nexcept, aexcept;
	bl_labelset except_mask; /* the labels they name, resolved */
	int has_except;
	int internal;        /* "internal": a helper fact, never set on a
			      * sample, decided only when a label's except
			      * needs it */
	int line_internal;   /* the line of that keyword, for errors */
	int except_internal; /* except_mask holds an internal label */
	int index;           /* its place in the label table */
} bl_rlabel;

struct bl_ruleset {
	bl_rlabel *labels;  /* [0] is the derived safety.minor_sexual */
	int nlabels;
	int npublic;        /* once compiled: the labels before the internal
			     * ones, which compile moves to the end */
	size_t alabels;
	int compiled;
	int uses_json, uses_image;
	int minor_sexual;       /* index of safety.minor_sexual */
	bl_labelset minor_mask;  /* age.minor and age.minor.* */
	bl_labelset sexual_mask; /* sexual and sexual.* */
	int *order;             /* evaluation order: a label after those that
				 * its "except" names (and all that imply
				 * them); load order otherwise */
	const bl_rlabel **eval; /* &labels[order[k]] */
	int any_implies;        /* some label implies another */
	int uses_caption_facts; /* some predicate reads caption.* */
	bl_normaliser *nz;      /* the view's dictionaries */
	bl_rdefine *globals;    /* "global" defines loaded so far */
	size_t nglobals, aglobals;
	int max_match;          /* most match patterns of one label */
	int max_unless;         /* most unless patterns of one label */
	bl_prefilter *pf;       /* the literals of every gate */
	int gated_match, gated_unless; /* programs with a gate (for tests) */
	bl_sha256 sha;
	char digest[65];
	char errmsg[1024];
};

/* ---- lib/prefilter.c: literal prefilter ---------------------------- */

/*
 * What a pattern needs to match, as proved by bl_prefilter_extract: an
 * AND of clauses, each an OR of literals (lower-case ASCII, matched
 * caselessly as substrings of the caption).  n == 0: nothing proved.
 */
typedef struct bl_trigger {
	bl_strlist *cl;
	size_t n, a;
} bl_trigger;

void bl_trigger_init(bl_trigger *tr);
void bl_trigger_release(bl_trigger *tr);

/*
 * Analyse one pattern (PCRE2 syntax, caseless, UTF-8, not extended;
 * pat[0..len)).  Returns 1 with *out (initialised here; release it)
 * holding at most a few clauses, such that the pattern cannot match a
 * subject that lacks every literal of any one clause - unless the subject
 * holds U+017F or U+212A, which fold to ASCII "s" and "k"; 0 when it can
 * prove nothing ("no gate"; *out empty), BL_ENOMEM.
 */
int bl_prefilter_extract(const char *pat, size_t len, bl_trigger *out);
/* The same, remembering in pf (not built yet) what its big groups prove,
 * so that a word list shared by many patterns ({PERSON}, {PRODUCT}) is
 * read once per rule set.  Same results as bl_prefilter_extract. */
int bl_prefilter_extract_in(bl_prefilter *pf, const char *pat, size_t len,
			    bl_trigger *out);
/* The same as text appended to out, "{a,b} & {c}" ("" for no gate), for
 * tests and diagnostics.  Returns as bl_prefilter_extract. */
int bl_prefilter_describe(const char *pat, size_t len, bl_buf *out);

/* A multi-literal matcher: literals tagged with clause ids, compiled into
 * one automaton.  Read-only after bl_prefilter_build. */

#define BL_PF_WORDS(nids) (((size_t)(nids) + 63) / 64)

bl_prefilter *bl_prefilter_new(void);
/* Add literal lit[0..len) (any bytes; ASCII letters match either case)
 * for clause id (>= 0).  BL_OK, BL_ENOMEM, BL_EUSAGE (empty, after
 * build). */
int bl_prefilter_add(bl_prefilter *pf, const char *lit, size_t len, int id);
/* Compile the automaton.  BL_OK, BL_ENOMEM, BL_FAILED (too big),
 * BL_EUSAGE (built already).  With no literals every scan hits nothing. */
int bl_prefilter_build(bl_prefilter *pf);
/* 1 + the largest clause id added (0 for none); hit sets of a scan have
 * BL_PF_WORDS(nids) words. */
int bl_prefilter_nids(const bl_prefilter *pf);
/* States of the built automaton (for tests and diagnostics). */
size_t bl_prefilter_nstates(const bl_prefilter *pf);
/* Set bit id of hits[] for every clause id one of whose literals occurs
 * in text[0..len); hits is cleared first.  Thread-safe on a built pf. */
void bl_prefilter_scan(const bl_prefilter *pf, const char *text, size_t len,
		       uint64_t *hits);
void bl_prefilter_free(bl_prefilter *pf);

/* Clause id of the literals that make a caption bypass every gate:
 * U+017F and U+212A, which PCRE2 folds caselessly to ASCII s and k. */
#define BL_PF_BYPASS 0

/* Limits applied to every match (see bl_tagger_new). */
#define BL_MATCH_LIMIT 1000000u
#define BL_DEPTH_LIMIT 5000u
#define BL_HEAP_LIMIT 20000u /* KiB, for the interpreter fallback */
#define BL_JIT_STACK_MAX (1024 * 1024)

/* ---- lib/normalise.c: the view of a caption that rules match ------- */

/* What a dictionary word is for: splitting hashtags into words, and
 * reading masked spellings (s3xy, n*de) as words. */
#define BL_NZ_SPLIT 1
#define BL_NZ_UNMASK 2

/* Empty dictionaries; NULL when out of memory. */
bl_normaliser *bl_normalise_new(void);
/* Add word w[0..len) with BL_NZ_* flags.  Only ASCII letters count; a
 * word of other characters, or shorter than 3 or longer than 24 letters,
 * is ignored (BL_OK).  BL_ENOMEM; BL_EUSAGE after build. */
int bl_normalise_add_word(bl_normaliser *nz, const char *w, size_t len,
			  int flags);
/* Freeze the dictionaries (read-only, shareable by threads afterwards). */
int bl_normalise_build(bl_normaliser *nz);
/* Words with any of flags (for tests and diagnostics). */
size_t bl_normalise_nwords(const bl_normaliser *nz, int flags);
void bl_normalise_free(bl_normaliser *nz);

/*
 * The view of caption s[0..len) (any bytes), always valid UTF-8: *view is
 * s itself when the caption needs no change (the fast path: it is then
 * ASCII), else the text built in b (a is scratch; both are the caller's,
 * reused from call to call).  nz (built) supplies the dictionaries; NULL:
 * no hashtag splitting nor unmasking.  *bad_at (may be NULL) gets the
 * offset of the first byte of s that is not UTF-8, or (size_t)-1.  s NULL
 * gives *view NULL, *vlen 0.  BL_OK, BL_ENOMEM, BL_FAILED (a buffer's
 * cap), BL_EUSAGE.
 */
int bl_normalise_view(const bl_normaliser *nz, const char *s, size_t len,
		      bl_buf *a, bl_buf *b, const char **view, size_t *vlen,
		      size_t *bad_at);

/* Append pattern p[0..len) to out with its characters folded as the view
 * folds them (é e, ’ ', ` '), so that a pattern written with them still
 * matches.  Bytes that are not UTF-8 are copied.  Returns as bl_buf_add. */
int bl_normalise_fold_pattern(const char *p, size_t len, bl_buf *out);

/* Facts about a caption for caption.* conditions: the first five read
 * from the caption as it is (bl_normalise_facts; s NULL: all zero), the
 * last two from its view (bl_normalise_case). */
typedef struct bl_caption_facts {
	int words;    /* runs of letters and digits holding a letter */
	int letters;
	int nonlatin; /* letters of scripts other than Latin */
	int english;  /* English function words */
	int foreign;  /* other languages' function words + accented words */
	int cased;    /* view words of two or more ASCII letters that are not
		       * a short word title case leaves in lower case ("of",
		       * "the", "and", "in" ...) nor begin with a digit */
	int capital;  /* of those, the words holding an upper-case letter */
} bl_caption_facts;

void bl_normalise_facts(const char *s, size_t len, bl_caption_facts *f);
/* Count f->cased and f->capital over view[0..len) (the caption's view:
 * valid UTF-8, Latin letters folded to ASCII).  A word is a run of ASCII
 * letters, digits, apostrophes and hyphens ("E-canvas", "Women's"); other
 * bytes end it.  view NULL: both 0. */
void bl_normalise_case(const char *view, size_t len, bl_caption_facts *f);

/* ---- lib/meta.c: JSON fields of a sample ---------------------------- */

/* A parsed JSON document (opaque cJSON tree). */
typedef struct bl_meta bl_meta;

/* Memory for one live document at a time (a tagger owns one); its
 * documents are used and freed on the thread that parsed them. */
typedef struct bl_meta_arena bl_meta_arena;

/* NULL when out of memory.  The first call installs cJSON allocation
 * hooks for the process; outside an arena they are malloc and free. */
bl_meta_arena *bl_meta_arena_new(void);
void bl_meta_arena_free(bl_meta_arena *a);

/* Parse text[0..len) into a's memory (into malloc's when a is NULL or
 * holds a live document); NULL when it does not parse or memory ran out. */
bl_meta *bl_meta_parse(bl_meta_arena *a, const char *text, size_t len);
/*
 * Look up a field by path ("a.b" descends into objects; a key that itself
 * contains dots is found as a whole first).  Fills *num or *str (borrowed
 * from the document) and returns BL_VAL_NUM (numbers and booleans, true
 * being 1), BL_VAL_STR, BL_VAL_NULL, BL_VAL_OTHER (arrays, objects) or
 * BL_VAL_NONE when the field is missing (or doc is NULL).
 */
int bl_meta_get(const bl_meta *doc, const char *path, double *num,
		const char **str);
/* Free doc, parsed with the same arena a (or NULL). */
void bl_meta_free(bl_meta_arena *a, bl_meta *doc);

#endif
