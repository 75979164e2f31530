/*
 * rules.c - rule files: the parser, the compiler and the label table
 * (bl_ruleset_*).  The format is documented in filters/FORMAT.md.
 *
 * A rule set is built in two phases.  Loading parses text line by line
 * into labels; each pattern is compiled on its own right away, so that an
 * error can name the file, line and column PCRE2 points at, and is then
 * thrown away.  A load that fails leaves the rule set as it was: labels
 * are parsed into a pending list and committed only when the whole file
 * (or directory) parsed.  bl_ruleset_compile then compiles every match
 * and unless pattern on its own with JIT, gives each of these programs
 * a prefilter gate (the literals it cannot match without, found by
 * lib/prefilter.c, all in one automaton), resolves "implies" into a
 * closure per label and freezes the set, which is read-only from then on
 * and may be shared by threads (each with its own bl_tagger).
 *
 * Label 0 is always the derived "safety.minor_sexual" (age.minor together
 * with any sexual.* label); rule files cannot declare it.
 */
#include "error_int.h"
#include "alloc_int.h"
#include "rules_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULES_MAX_FILE ((size_t)64 << 20)

/* PCRE2 options of every pattern: caseless and UTF-8, and invalid UTF-8 in
 * a subject never matches instead of failing the match.  \b \w \d stay
 * ASCII (no PCRE2_UCP): Unicode properties cost a third of the scan time
 * and the shipped rules are about English words. */
#define RULE_PCRE2_OPTIONS                                                \
	(PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF)

static const char *const cfact_names[BL_CFACT__COUNT] = {
	[BL_CFACT_WORDS] = "words",
	[BL_CFACT_LETTERS] = "letters",
	[BL_CFACT_NONLATIN] = "nonlatin",
	[BL_CFACT_ENGLISH] = "english",
	[BL_CFACT_FOREIGN] = "foreign",
	[BL_CFACT_CAPITALISED] = "capitalised",
};

static const char *const fact_names[BL_FACT__COUNT] = {
	[BL_FACT_WIDTH] = "width",
	[BL_FACT_HEIGHT] = "height",
	[BL_FACT_ASPECT] = "aspect",
	[BL_FACT_PIXELS] = "pixels",
	[BL_FACT_PROGRESSIVE] = "progressive",
	[BL_FACT_COMPONENTS] = "components",
	[BL_FACT_CORRUPT] = "corrupt",
};

/* Labels and globals parsed but not yet committed, plus the digest they
 * would give. */
typedef struct pending {
	bl_rlabel *v;
	int n;
	size_t a;
	bl_rdefine *g;
	size_t ng, ag;
	bl_sha256 sha;
} pending;

typedef bl_rdefine define;

/* The parser's position, for messages, and the file's defines. */
typedef struct pctx {
	bl_ruleset *rs;
	pending *pd;
	const char *file;
	int line;
	const char *lstart; /* first byte of the current line */
	define *defs;
	size_t ndefs, adefs;
} pctx;

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* Free n programs and their gates. */
static void programs_free(pcre2_code ***progs, bl_gate **gates, int n)
{
	for (int k = 0; k < n; k++) {
		if (*progs)
			pcre2_code_free((*progs)[k]);
		if (*gates)
			free((*gates)[k].code);
	}
	free(*progs);
	free(*gates);
	*progs = NULL;
	*gates = NULL;
}

/* Drop what bl_ruleset_compile made of a label: programs and gates. */
static void label_uncompile(bl_rlabel *l)
{
	programs_free(&l->match, &l->mgate, l->nmatch);
	programs_free(&l->unless, &l->ugate, l->nunless);
	free(l->mfirst);
	l->mfirst = NULL;
	free(l->mfirst_at);
	l->mfirst_at = NULL;
	l->nmfirst = 0;
}

/* The first clause of every term of every match gate of l, so that the
 * tagger can pass over a label whose gates a caption cannot open with one
 * test.  Left NULL when a pattern is ungated.  BL_OK or BL_ENOMEM. */
static int label_first_clauses(bl_rlabel *l, int nids)
{
	for (int k = 0; k < l->nmatch; k++)
		if (l->mgate[k].len == 0)
			return BL_OK;
	l->mfirst = calloc(BL_PF_WORDS(nids) + 1, sizeof *l->mfirst);
	if (!l->mfirst)
		return BL_ENOMEM;
	for (int k = 0; k < l->nmatch; k++) {
		const bl_gate *g = &l->mgate[k];
		for (size_t i = 0; i < g->len; i += (size_t)g->code[i] + 1) {
			int id;
			if (g->code[i] == 0) { /* a term of no clause: always open */
				free(l->mfirst);
				l->mfirst = NULL;
				return BL_OK;
			}
			id = g->code[i + 1];
			l->mfirst[id >> 6] |= (uint64_t)1 << (id & 63);
		}
	}
	/* the tagger tests only the words that are not 0 */
	l->mfirst_at = malloc((BL_PF_WORDS(nids) + 1) * sizeof *l->mfirst_at);
	if (!l->mfirst_at) {
		free(l->mfirst);
		l->mfirst = NULL;
		return BL_ENOMEM;
	}
	for (size_t w = 0; w < BL_PF_WORDS(nids); w++)
		if (l->mfirst[w])
			l->mfirst_at[l->nmfirst++] = (int)w;
	return BL_OK;
}

static void label_release(bl_rlabel *l)
{
	for (int k = 0; l->match_pre && k < l->nmatch; k++)
		pcre2_code_free(l->match_pre[k]);
	for (int k = 0; l->unless_pre && k < l->nunless; k++)
		pcre2_code_free(l->unless_pre[k]);
	free(l->match_pre);
	free(l->unless_pre);
	free(l->name);
	free(l->file);
	bl_strlist_release(&l->match_pats);
	bl_strlist_release(&l->unless_pats);
	label_uncompile(l);
	for (size_t i = 0; i < l->npreds; i++) {
		free(l->preds[i].path);
		free(l->preds[i].str);
	}
	free(l->preds);
	for (size_t i = 0; i < l->nimplies; i++)
		free(l->implies[i].name);
	free(l->implies);
	for (size_t i = 0; i < l->nexcept; i++)
		free(l->except[i].name);
	free(l->except);
	memset(l, 0, sizeof *l);
}

static void label_init(bl_rlabel *l)
{
	memset(l, 0, sizeof *l);
	bl_strlist_init(&l->match_pats);
	bl_strlist_init(&l->unless_pats);
}

static void defines_free(define *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].pat);
	}
	free(v);
}

static void pending_release(pending *pd)
{
	for (int i = 0; i < pd->n; i++)
		label_release(&pd->v[i]);
	free(pd->v);
	pd->v = NULL;
	pd->n = pd->a = 0;
	defines_free(pd->g, pd->ng);
	pd->g = NULL;
	pd->ng = pd->ag = 0;
}

/* The define called name[0..n) visible in the file being parsed: its
 * own, then the globals pending and loaded; NULL when none. */
static const define *find_define(const pctx *c, const char *name, size_t n)
{
	const define *lists[3] = {c->defs, c->pd->g, c->rs->globals};
	size_t counts[3] = {c->ndefs, c->pd->ng, c->rs->nglobals};

	for (int l = 0; l < 3; l++)
		for (size_t i = 0; i < counts[l]; i++)
			if (strlen(lists[l][i].name) == n &&
			    memcmp(lists[l][i].name, name, n) == 0)
				return &lists[l][i];
	return NULL;
}

/* Column (1-based) of p on the current line. */
static int col_of(const pctx *c, const char *p)
{
	return (int)(p - c->lstart) + 1;
}

static void perr(const pctx *c, const char *at, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));

static void perr(const pctx *c, const char *at, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	bl_error_vset(msg, sizeof msg, fmt, ap);
	va_end(ap);
	bl_error_set(c->rs->errmsg, sizeof c->rs->errmsg, "%s:%d:%d: %s", c->file, c->line,
		     col_of(c, at), msg);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

static void update_digest(bl_ruleset *rs)
{
	bl_sha256 copy = rs->sha;
	bl_sha256_final_hex(&copy, rs->digest);
}

bl_ruleset *bl_ruleset_new(void)
{
	bl_ruleset *rs = calloc(1, sizeof *rs);
	if (!rs)
		return NULL;
	rs->alabels = 16;
	rs->labels = calloc((size_t)rs->alabels, sizeof *rs->labels);
	if (!rs->labels)
		goto fail;
	label_init(&rs->labels[0]);
	rs->labels[0].name = dup_n(BL_LABEL_MINOR_SEXUAL, strlen(BL_LABEL_MINOR_SEXUAL));
	rs->labels[0].file = dup_n("(derived)", 9);
	if (!rs->labels[0].name || !rs->labels[0].file)
		goto fail;
	rs->nlabels = 1;
	rs->minor_sexual = 0;
	bl_sha256_init(&rs->sha);
	update_digest(rs);
	return rs;
fail:
	bl_ruleset_free(rs);
	return NULL;
}

void bl_ruleset_free(bl_ruleset *rs)
{
	if (!rs)
		return;
	if (rs->labels)
		for (int i = 0; i < rs->nlabels; i++)
			label_release(&rs->labels[i]);
	free(rs->labels);
	free(rs->order);
	free(rs->eval);
	defines_free(rs->globals, rs->nglobals);
	bl_prefilter_free(rs->pf);
	bl_normalise_free(rs->nz);
	free(rs);
}

const char *bl_ruleset_errmsg(const bl_ruleset *rs)
{
	return rs ? rs->errmsg : "no rule set";
}

/* The labels the public interface shows: all but the internal ones
 * (after them, once compiled). */
static int public_labels(const bl_ruleset *rs)
{
	return rs->compiled ? rs->npublic : rs->nlabels;
}

int bl_ruleset_nlabels(const bl_ruleset *rs)
{
	return rs ? public_labels(rs) : 0;
}

const char *bl_ruleset_label(const bl_ruleset *rs, int i)
{
	if (!rs || i < 0 || i >= public_labels(rs))
		return NULL;
	return rs->labels[i].name;
}

/* Index of any label, internal ones too, or -1. */
static int label_find(const bl_ruleset *rs, const char *name)
{
	for (int i = 0; i < rs->nlabels; i++)
		if (strcmp(rs->labels[i].name, name) == 0)
			return i;
	return -1;
}

int bl_ruleset_label_index(const bl_ruleset *rs, const char *name)
{
	int i;
	if (!rs || !name)
		return -1;
	i = label_find(rs, name);
	return i < public_labels(rs) ? i : -1;
}

const char *bl_ruleset_digest(const bl_ruleset *rs)
{
	return rs ? rs->digest : "";
}

int bl_ruleset_uses_json(const bl_ruleset *rs)
{
	return rs ? rs->uses_json : 0;
}

int bl_ruleset_uses_image(const bl_ruleset *rs)
{
	return rs ? rs->uses_image : 0;
}

/* ------------------------------------------------------------------ */
/* The parser                                                          */
/* ------------------------------------------------------------------ */

static int is_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\v' || ch == '\f';
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && is_space((unsigned char)*p))
		p++;
	return p;
}

/* Length of a valid label name at p ([a-z0-9_]+ separated by dots), or 0. */
static size_t label_name_len(const char *p, const char *end)
{
	const char *s = p;
	int seg = 0;

	while (p < end) {
		unsigned char ch = (unsigned char)*p;
		if (islower(ch) || isdigit(ch) || ch == '_') {
			seg++;
		} else if (ch == '.' && seg > 0) {
			seg = 0;
		} else {
			break;
		}
		p++;
	}
	if (p > s && seg == 0) /* ends with a dot */
		return 0;
	return (size_t)(p - s);
}

static bl_rlabel *find_label(bl_ruleset *rs, pending *pd, const char *name,
			     size_t n)
{
	for (int i = 0; i < rs->nlabels; i++)
		if (strlen(rs->labels[i].name) == n &&
		    memcmp(rs->labels[i].name, name, n) == 0)
			return &rs->labels[i];
	for (int i = 0; i < pd->n; i++)
		if (strlen(pd->v[i].name) == n &&
		    memcmp(pd->v[i].name, name, n) == 0)
			return &pd->v[i];
	return NULL;
}

static int do_label(pctx *c, const char *p, const char *end)
{
	const bl_rlabel *old;
	bl_rlabel *l;
	size_t n;

	p = skip_ws(p, end);
	if (p == end) {
		perr(c, p, "missing label name after 'label'");
		return BL_FAILED;
	}
	n = label_name_len(p, end);
	if (n == 0 || (p + n < end && !is_space((unsigned char)p[n]))) {
		perr(c, p, "bad label name: use lower-case words joined by "
			   "dots, e.g. sexual.explicit");
		return BL_FAILED;
	}
	if (skip_ws(p + n, end) != end) {
		perr(c, skip_ws(p + n, end), "unexpected text after the label name");
		return BL_FAILED;
	}
	if (n == strlen(BL_LABEL_MINOR_SEXUAL) && memcmp(p, BL_LABEL_MINOR_SEXUAL, n) == 0) {
		perr(c, p, "'%s' is derived (age.minor with any sexual.* "
			   "label) and cannot be declared", BL_LABEL_MINOR_SEXUAL);
		return BL_FAILED;
	}
	old = find_label(c->rs, c->pd, p, n);
	if (old) {
		perr(c, p, "label '%.*s' is already defined at %s:%d", (int)n,
		     p, old->file, old->line);
		return BL_FAILED;
	}
	if (BL_ALLOC_GROW(c->pd->v, (size_t)c->pd->n + 1, c->pd->a) != BL_OK)
		goto nomem;
	l = &c->pd->v[c->pd->n];
	label_init(l);
	l->name = dup_n(p, n);
	l->file = dup_n(c->file, strlen(c->file));
	l->line = c->line;
	if (!l->name || !l->file) {
		label_release(l);
		goto nomem;
	}
	c->pd->n++;
	return BL_OK;
nomem:
	bl_error_set(c->rs->errmsg, sizeof c->rs->errmsg, "out of memory");
	return BL_ENOMEM;
}

static bl_rlabel *cur_label(pctx *c, const char *kw_at, const char *kw)
{
	if (c->pd->n == 0) {
		perr(c, kw_at, "'%s' before any 'label' line", kw);
		return NULL;
	}
	return &c->pd->v[c->pd->n - 1];
}

/* Length of a define name at p ([A-Z][A-Z0-9_]*), or 0. */
static size_t define_name_len(const char *p, const char *end)
{
	const char *s = p;
	if (p == end || !isupper((unsigned char)*p))
		return 0;
	while (p < end && (isupper((unsigned char)*p) || isdigit((unsigned char)*p) ||
			   *p == '_'))
		p++;
	return (size_t)(p - s);
}

/*
 * Copy the pattern p..end to out, replacing each {NAME} of an earlier
 * define with "(?:its pattern)".  *first_at gets the offset in out of the
 * first replacement (out->len when there was none), so that PCRE2 error
 * offsets before it still point into the line.
 */
static int expand(pctx *c, const char *p, const char *end, bl_buf *out,
		  size_t *first_at)
{
	const char *s = p;
	int rc = BL_OK;

	*first_at = (size_t)-1;
	while (p < end && rc == BL_OK) {
		size_t n, bs = 0;
		const define *d = NULL;
		if (*p != '{') {
			rc = bl_buf_addch(out, *p++);
			continue;
		}
		while (p - bs > s && p[-1 - (ptrdiff_t)bs] == '\\')
			bs++;
		n = define_name_len(p + 1, end);
		if ((bs & 1) || n == 0 || p + 1 + n >= end || p[1 + n] != '}') {
			rc = bl_buf_addch(out, *p++);
			continue;
		}
		d = find_define(c, p + 1, n);
		if (!d) {
			perr(c, p, "{%.*s} is not defined (define NAME PATTERN "
				   "earlier in the same file, or global NAME "
				   "PATTERN in a file loaded before)", (int)n, p + 1);
			return BL_FAILED;
		}
		if (*first_at == (size_t)-1)
			*first_at = out->len;
		rc = bl_buf_adds(out, "(?:");
		if (rc == BL_OK)
			rc = bl_buf_adds(out, d->pat);
		if (rc == BL_OK)
			rc = bl_buf_adds(out, ")");
		p += n + 2;
	}
	if (rc != BL_OK) {
		bl_error_set(c->rs->errmsg, sizeof c->rs->errmsg, "out of memory");
		return BL_ENOMEM;
	}
	if (*first_at == (size_t)-1)
		*first_at = out->len;
	return BL_OK;
}

/* Fold the characters of pattern b as the caption's view folds them
 * (lib/normalise.c): a pattern written "fiancée" matches the view's
 * "fiancee".  Only patterns holding non-ASCII bytes or '`' change. */
static int fold(bl_buf *b)
{
	bl_buf f;
	int rc = BL_OK;
	size_t i;

	for (i = 0; i < b->len; i++)
		if ((unsigned char)b->buf[i] >= 0x80 || b->buf[i] == '`')
			break;
	if (i == b->len)
		return BL_OK;
	bl_buf_init(&f, 0);
	rc = bl_normalise_fold_pattern(b->buf, b->len, &f);
	if (rc == BL_OK) {
		bl_buf_reset(b);
		rc = bl_buf_add(b, f.buf, f.len);
	}
	bl_buf_release(&f);
	return rc;
}

/* Expand and compile one pattern on its own, to report errors where they
 * are; the expanded (and folded) text is left in out. */
static int check_pattern(pctx *c, const char *kw, const char *p,
			 const char *end, bl_buf *out, uint32_t extra,
			 pcre2_code **keep)
{
	pcre2_code *code;
	PCRE2_SIZE erroff;
	size_t first_at;
	int errcode, rc;

	p = skip_ws(p, end);
	if (p == end) {
		perr(c, p, "missing pattern after '%s'", kw);
		return BL_FAILED;
	}
	rc = expand(c, p, end, out, &first_at);
	if (rc != BL_OK)
		return rc;
	rc = fold(out);
	if (rc != BL_OK) {
		bl_error_set(c->rs->errmsg, sizeof c->rs->errmsg, "out of memory");
		return BL_ENOMEM;
	}
	code = pcre2_compile((PCRE2_SPTR)out->buf, out->len, RULE_PCRE2_OPTIONS | extra,
			     &errcode, &erroff, NULL);
	if (!code) {
		PCRE2_UCHAR msg[256];
		if (pcre2_get_error_message(errcode, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", errcode);
		if (erroff <= first_at && erroff <= (PCRE2_SIZE)(end - p))
			perr(c, p + erroff, "bad pattern: %s", (const char *)msg);
		else
			perr(c, p, "bad pattern (at offset %zu of it with its "
				   "{NAME}s expanded): %s",
			     (size_t)erroff, (const char *)msg);
		return BL_FAILED;
	}
	if (keep)
		*keep = code;
	else
		pcre2_code_free(code);
	return BL_OK;
}

/* "define NAME PATTERN" (global: "global NAME PATTERN"). */
static int do_define(pctx *c, const char *p, const char *end, int global)
{
	define **v = global ? &c->pd->g : &c->defs;
	size_t *nv = global ? &c->pd->ng : &c->ndefs;
	size_t *av = global ? &c->pd->ag : &c->adefs;
	const char *kw = global ? "global" : "define";
	bl_buf pat;
	size_t n;
	int rc;

	p = skip_ws(p, end);
	n = define_name_len(p, end);
	if (n == 0 || (p + n < end && !is_space((unsigned char)p[n]))) {
		perr(c, p, "bad %s name: use upper-case letters, digits "
			   "and _, e.g. PERSON", kw);
		return BL_FAILED;
	}
	if (find_define(c, p, n)) {
		perr(c, p, "'%.*s' is already defined (in this file or as a "
			   "global)", (int)n, p);
		return BL_FAILED;
	}
	bl_buf_init(&pat, 0);
	rc = check_pattern(c, kw, p + n, end, &pat, 0, NULL);
	if (rc != BL_OK)
		goto out;
	if (BL_ALLOC_GROW(*v, *nv + 1, *av) != BL_OK)
		goto nomem;
	(*v)[*nv].name = dup_n(p, n);
	if (!(*v)[*nv].name)
		goto nomem;
	(*v)[*nv].pat = bl_buf_detach(&pat, NULL);
	if (!(*v)[*nv].pat) {
		free((*v)[*nv].name);
		goto nomem;
	}
	(*nv)++;
	rc = BL_OK;
	goto out;
nomem:
	bl_error_set(c->rs->errmsg, sizeof c->rs->errmsg, "out of memory");
	rc = BL_ENOMEM;
out:
	bl_buf_release(&pat);
	return rc;
}

static int do_pattern(pctx *c, const char *kw_at, const char *kw,
		      const char *p, const char *end, int is_unless)
{
	bl_rlabel *l = cur_label(c, kw_at, kw);
	pcre2_code *code = NULL, ***pre;
	size_t *room;
	int *n;
	bl_buf pat;
	int rc;

	if (!l)
		return BL_FAILED;
	bl_buf_init(&pat, 0);
	rc = check_pattern(c, kw, p, end, &pat,
			   is_unless ? PCRE2_USE_OFFSET_LIMIT : 0, &code);
	if (rc != BL_OK)
		goto out;
	pre = is_unless ? &l->unless_pre : &l->match_pre;
	n = is_unless ? &l->nunless : &l->nmatch;
	room = is_unless ? &l->aunless_pre : &l->amatch_pre;
	if (BL_ALLOC_GROW(*pre, (size_t)*n + 1, *room) != BL_OK)
		goto nomem;
	rc = bl_strlist_add(is_unless ? &l->unless_pats : &l->match_pats, pat.buf);
	if (rc != BL_OK)
		goto nomem;
	(*pre)[(*n)++] = code;
	code = NULL;
out:
	pcre2_code_free(code);
	bl_buf_release(&pat);
	return rc;
nomem:
	bl_error_set(c->rs->errmsg, sizeof c->rs->errmsg, "out of memory");
	rc = BL_ENOMEM;
	goto out;
}

/* ---- predicates ---------------------------------------------------- */

enum { T_END, T_IDENT, T_NUM, T_STR, T_OP, T_BAD };

typedef struct token {
	int kind;
	const char *at;
	size_t len;
	int op;
	double num;
} token;

static int ident_char(int ch, int first)
{
	return isalpha(ch) || ch == '_' || (!first && (isdigit(ch) || ch == '.' || ch == '-'));
}

static const char *next_token(const char *p, const char *end, token *t)
{
	unsigned char ch;

	p = skip_ws(p, end);
	t->at = p;
	t->len = 0;
	if (p == end) {
		t->kind = T_END;
		return p;
	}
	ch = (unsigned char)*p;
	if (ident_char(ch, 1)) {
		const char *s = p;
		while (p < end && ident_char((unsigned char)*p, 0))
			p++;
		t->kind = T_IDENT;
		t->len = (size_t)(p - s);
		return p;
	}
	if (isdigit(ch) || ch == '-' || ch == '+' || ch == '.') {
		char buf[64];
		char *e;
		size_t n = 0;
		while (p + n < end && n < sizeof buf - 1 &&
		       (isalnum((unsigned char)p[n]) || p[n] == '.' ||
			p[n] == '-' || p[n] == '+'))
			n++;
		memcpy(buf, p, n);
		buf[n] = '\0';
		t->num = strtod(buf, &e);
		t->len = n;
		t->kind = (e == buf + n && n > 0 && isfinite(t->num)) ? T_NUM : T_BAD;
		return p + n;
	}
	if (ch == '"') {
		const char *s = ++p;
		while (p < end && *p != '"') {
			if (*p == '\\' && p + 1 < end)
				p++;
			p++;
		}
		if (p == end) {
			t->kind = T_BAD;
			t->len = (size_t)(end - t->at);
			return end;
		}
		t->kind = T_STR;
		t->len = (size_t)(p - s);
		return p + 1;
	}
	{
		static const struct {
			const char *s;
			int op;
		} ops[] = {{"==", BL_OP_EQ}, {"!=", BL_OP_NE}, {"<=", BL_OP_LE},
			   {">=", BL_OP_GE}, {"<", BL_OP_LT},  {">", BL_OP_GT}};
		for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
			size_t n = strlen(ops[i].s);
			if ((size_t)(end - p) >= n && memcmp(p, ops[i].s, n) == 0) {
				t->kind = T_OP;
				t->op = ops[i].op;
				t->len = n;
				return p + n;
			}
		}
	}
	t->kind = T_BAD;
	t->len = 1;
	return p + 1;
}

static int tok_is(const token *t, const char *word)
{
	return t->kind == T_IDENT && t->len == strlen(word) &&
	       memcmp(t->at, word, t->len) == 0;
}

/* Copy a string literal body, resolving \" \\ \n \t. */
static char *unescape(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '\\' && i + 1 < n) {
			ch = s[++i];
			if (ch == 'n')
				ch = '\n';
			else if (ch == 't')
				ch = '\t';
		}
		*o++ = ch;
	}
	*o = '\0';
	return out;
}

static int add_pred(pctx *c, bl_rlabel *l, bl_pred *pr)
{
	if (BL_ALLOC_GROW(l->preds, l->npreds + 1, l->apreds) != BL_OK) {
		bl_error_set(c->rs->errmsg, sizeof c->rs->errmsg, "out of memory");
		return BL_ENOMEM;
	}
	l->preds[l->npreds++] = *pr;
	return BL_OK;
}

/*
 * EXPR := CONJ ('or' CONJ)* ; CONJ := PRED ('and' PRED)*
 * PRED := ['not'] OPERAND [ OP VALUE | 'missing' | 'exists' ]
 */
static int do_when(pctx *c, const char *kw_at, const char *p, const char *end)
{
	bl_rlabel *l = cur_label(c, kw_at, "when");
	int conj_start = 1;
	token t;
	int rc;

	if (!l)
		return BL_FAILED;
	p = next_token(p, end, &t);
	if (t.kind == T_END) {
		perr(c, t.at, "missing condition after 'when'");
		return BL_FAILED;
	}
	for (;;) {
		bl_pred pr;
		memset(&pr, 0, sizeof pr);
		pr.conj_start = conj_start;
		pr.op = BL_OP_TRUTHY;
		if (tok_is(&t, "not")) {
			pr.negate = 1;
			p = next_token(p, end, &t);
		}
		if (t.kind != T_IDENT || tok_is(&t, "and") || tok_is(&t, "or") ||
		    tok_is(&t, "not")) {
			perr(c, t.at, "expected a field name or image fact");
			return BL_FAILED;
		}
		pr.src = BL_SRC_JSON;
		{
			const char *name = t.at;
			size_t n = t.len;
			int explicit_json = 0;
			if (n > 5 && memcmp(name, "json.", 5) == 0) {
				name += 5;
				n -= 5;
				explicit_json = 1;
			} else if (n > 6 && memcmp(name, "image.", 6) == 0) {
				name += 6;
				n -= 6;
				pr.src = BL_SRC_IMAGE;
			} else if (n > 8 && memcmp(name, "caption.", 8) == 0) {
				pr.src = BL_SRC_CAPTION;
				pr.fact = -1;
				for (int f = 0; f < BL_CFACT__COUNT; f++)
					if (strlen(cfact_names[f]) == n - 8 &&
					    memcmp(cfact_names[f], name + 8, n - 8) == 0)
						pr.fact = f;
				if (pr.fact < 0) {
					perr(c, t.at, "unknown caption fact '%.*s' (words, "
						      "letters, nonlatin, english, foreign, "
						      "capitalised)",
					     (int)(n - 8), name + 8);
					return BL_FAILED;
				}
			}
			if (pr.src != BL_SRC_CAPTION)
				pr.fact = -1;
			if (pr.src != BL_SRC_CAPTION && !explicit_json)
				for (int f = 0; f < BL_FACT__COUNT; f++)
					if (strlen(fact_names[f]) == n &&
					    memcmp(fact_names[f], name, n) == 0)
						pr.fact = f;
			if (pr.src == BL_SRC_IMAGE && pr.fact < 0) {
				perr(c, t.at, "unknown image fact '%.*s' (width, "
					      "height, aspect, pixels, progressive, "
					      "components, corrupt)", (int)n, name);
				return BL_FAILED;
			}
			if (pr.src == BL_SRC_CAPTION) {
				/* a caption fact */
			} else if (pr.fact >= 0) {
				pr.src = BL_SRC_IMAGE;
			} else {
				pr.path = dup_n(name, n);
				if (!pr.path) {
					bl_error_set(c->rs->errmsg, sizeof c->rs->errmsg, "out of memory");
					return BL_ENOMEM;
				}
			}
		}
		p = next_token(p, end, &t);
		if (t.kind == T_OP) {
			const token op = t;
			pr.op = t.op;
			p = next_token(p, end, &t);
			if (t.kind == T_NUM) {
				pr.vtype = BL_VAL_NUM;
				pr.num = t.num;
			} else if (tok_is(&t, "true") || tok_is(&t, "false")) {
				pr.vtype = BL_VAL_NUM;
				pr.num = tok_is(&t, "true") ? 1.0 : 0.0;
			} else if (tok_is(&t, "null")) {
				pr.vtype = BL_VAL_NULL;
				if (pr.op != BL_OP_EQ && pr.op != BL_OP_NE) {
					free(pr.path);
					perr(c, op.at, "null compares only with == and !=");
					return BL_FAILED;
				}
			} else if (t.kind == T_STR) {
				pr.vtype = BL_VAL_STR;
				pr.str = unescape(t.at + 1, t.len);
				if (!pr.str) {
					free(pr.path);
					bl_error_set(c->rs->errmsg, sizeof c->rs->errmsg, "out of memory");
					return BL_ENOMEM;
				}
			} else {
				free(pr.path);
				if (t.kind == T_BAD && *t.at == '"')
					perr(c, t.at, "unterminated string");
				else
					perr(c, t.at, "expected a number, a \"string\", "
						      "true, false or null after '%.*s'",
					     (int)op.len, op.at);
				return BL_FAILED;
			}
			if (pr.src != BL_SRC_JSON && pr.vtype != BL_VAL_NUM) {
				free(pr.str);
				perr(c, t.at, "%s facts are numbers",
				     pr.src == BL_SRC_IMAGE ? "image" : "caption");
				return BL_FAILED;
			}
			p = next_token(p, end, &t);
		} else if (tok_is(&t, "missing") || tok_is(&t, "exists")) {
			pr.op = tok_is(&t, "missing") ? BL_OP_MISSING : BL_OP_EXISTS;
			p = next_token(p, end, &t);
		} else if (t.kind == T_BAD && *t.at == '=') {
			free(pr.path);
			perr(c, t.at, "unknown operator: use ==, !=, <, <=, > or >=");
			return BL_FAILED;
		}
		rc = add_pred(c, l, &pr);
		if (rc != BL_OK) {
			free(pr.path);
			free(pr.str);
			return rc;
		}
		if (t.kind == T_END)
			break;
		if (tok_is(&t, "and")) {
			conj_start = 0;
		} else if (tok_is(&t, "or")) {
			conj_start = 1;
		} else {
			if (t.kind == T_BAD)
				perr(c, t.at, "unexpected character in condition");
			else
				perr(c, t.at, "expected an operator, 'and', 'or' "
					      "or the end of the line");
			return BL_FAILED;
		}
		p = next_token(p, end, &t);
	}
	return BL_OK;
}

/* A list of label names after keyword kw ("implies", "except") of the
 * current label, separated by blanks or commas, appended to *v (n, a). */
static int do_names(pctx *c, const char *kw, const char *p, const char *end,
		    bl_implied **v, size_t *n, size_t *a)
{
	int any = 0;

	for (;;) {
		size_t len;
		p = skip_ws(p, end);
		if (p < end && *p == ',' && any)
			p = skip_ws(p + 1, end);
		if (p == end)
			break;
		len = label_name_len(p, end);
		if (len == 0 || (p + len < end && !is_space((unsigned char)p[len]) &&
				 p[len] != ',')) {
			perr(c, p, "bad label name after '%s'", kw);
			return BL_FAILED;
		}
		if (BL_ALLOC_GROW(*v, *n + 1, *a) != BL_OK)
			goto nomem;
		(*v)[*n].name = dup_n(p, len);
		if (!(*v)[*n].name)
			goto nomem;
		(*v)[*n].line = c->line;
		(*v)[*n].col = col_of(c, p);
		(*n)++;
		any = 1;
		p += len;
	}
	if (!any) {
		perr(c, p, "missing label name after '%s'", kw);
		return BL_FAILED;
	}
	return BL_OK;
nomem:
	bl_error_set(c->rs->errmsg, sizeof c->rs->errmsg, "out of memory");
	return BL_ENOMEM;
}

static int parse_line(pctx *c, const char *p, const char *end)
{
	const char *kw;
	size_t n;

	p = skip_ws(p, end);
	if (p == end || *p == '#')
		return BL_OK;
	kw = p;
	while (p < end && !is_space((unsigned char)*p))
		p++;
	n = (size_t)(p - kw);
#define KW(s) (n == sizeof(s) - 1 && memcmp(kw, s, n) == 0)
	if (KW("label"))
		return do_label(c, p, end);
	if (KW("match"))
		return do_pattern(c, kw, "match", p, end, 0);
	if (KW("unless"))
		return do_pattern(c, kw, "unless", p, end, 1);
	if (KW("when"))
		return do_when(c, kw, p, end);
	if (KW("implies") || KW("except")) {
		bl_rlabel *l = cur_label(c, kw, KW("implies") ? "implies" : "except");
		if (!l)
			return BL_FAILED;
		if (KW("implies"))
			return do_names(c, "implies", p, end, &l->implies,
					&l->nimplies, &l->aimplies);
		return do_names(c, "except", p, end, &l->except, &l->nexcept,
				&l->aexcept);
	}
	if (KW("define") || KW("global"))
		return do_define(c, p, end, KW("global"));
	if (KW("internal")) {
		bl_rlabel *l = cur_label(c, kw, "internal");
		if (!l)
			return BL_FAILED;
		if (skip_ws(p, end) != end) {
			perr(c, skip_ws(p, end), "unexpected text after 'internal'");
			return BL_FAILED;
		}
		l->internal = 1;
		l->line_internal = c->line;
		return BL_OK;
	}
#undef KW
	perr(c, kw, "unknown keyword '%.*s' (expected label, match, unless, "
		    "when, implies, except, internal, define or global)",
	     (int)(n > 40 ? 40 : n), kw);
	return BL_FAILED;
}

static int parse_text(bl_ruleset *rs, pending *pd, const char *name,
		      const char *text, size_t len)
{
	pctx c;
	const char *p = text, *end = text + len;
	uint64_t n64 = len;
	int nbefore, rc = BL_FAILED;
	size_t gbefore;

	memset(&c, 0, sizeof c);
	c.rs = rs;
	c.pd = pd;
	c.file = name;
	if (memchr(text, '\0', len)) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "%s: contains a NUL byte; not a rule file", name);
		goto out;
	}
	nbefore = pd->n;
	gbefore = pd->ng;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		c.line++;
		c.lstart = p;
		while (le > p && (le[-1] == '\r' || is_space((unsigned char)le[-1])))
			le--;
		rc = parse_line(&c, p, le);
		if (rc != BL_OK)
			goto out;
		p = nl ? nl + 1 : end;
	}
	if (pd->n == nbefore && pd->ng == gbefore) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "%s: declares no labels: a rule file that tags "
			    "nothing is a mistake (add a 'label' line)", name);
		rc = BL_FAILED;
		goto out;
	}
	/* the digest covers the texts with their lengths, in load order */
	bl_sha256_update(&pd->sha, &n64, sizeof n64);
	bl_sha256_update(&pd->sha, text, len);
	rc = BL_OK;
out:
	defines_free(c.defs, c.ndefs);
	return rc;
}

static int commit(bl_ruleset *rs, pending *pd)
{
	int need = rs->nlabels + pd->n;

	if (need > BL_MAX_LABELS) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "too many labels: %d (at most %d, with %s)", need,
			BL_MAX_LABELS, BL_LABEL_MINOR_SEXUAL);
		return BL_FAILED;
	}
	if (BL_ALLOC_GROW(rs->labels, (size_t)need, rs->alabels) != BL_OK) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "out of memory");
		return BL_ENOMEM;
	}
	if (BL_ALLOC_GROW(rs->globals, rs->nglobals + pd->ng, rs->aglobals) != BL_OK) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "out of memory");
		return BL_ENOMEM;
	}
	if (pd->ng)
		memcpy(rs->globals + rs->nglobals, pd->g, pd->ng * sizeof *pd->g);
	rs->nglobals += pd->ng;
	free(pd->g);
	pd->g = NULL;
	pd->ng = pd->ag = 0;
	if (pd->n) /* a file of globals declares no label: pd->v is NULL */
		memcpy(rs->labels + rs->nlabels, pd->v, (size_t)pd->n * sizeof *pd->v);
	rs->nlabels = need;
	free(pd->v);
	pd->v = NULL;
	pd->n = pd->a = 0;
	rs->sha = pd->sha;
	update_digest(rs);
	return BL_OK;
}

static int check_open(bl_ruleset *rs)
{
	if (!rs)
		return BL_EUSAGE;
	if (rs->compiled) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "rule set already compiled; no more rules can be loaded");
		return BL_EUSAGE;
	}
	return BL_OK;
}

int bl_ruleset_load_string(bl_ruleset *rs, const char *name, const char *text,
			   size_t len)
{
	pending pd = {0};
	int rc = check_open(rs);

	if (rc != BL_OK)
		return rc;
	if (!text && len) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "%s: no text", name ? name : "(string)");
		return BL_EUSAGE;
	}
	pd.sha = rs->sha;
	rc = parse_text(rs, &pd, name ? name : "(string)", text ? text : "", len);
	if (rc == BL_OK)
		rc = commit(rs, &pd);
	pending_release(&pd);
	return rc;
}

static int read_file(bl_ruleset *rs, const char *path, bl_buf *out)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	int rc = BL_FAILED;
	size_t n;

	if (!f) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "cannot open '%s': %s", path, strerror(errno));
		return BL_FAILED;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		int arc = bl_buf_add(out, chunk, n);
		if (arc != BL_OK) {
			bl_error_set(rs->errmsg, sizeof rs->errmsg, arc == BL_ENOMEM ? "out of memory reading '%s'"
						     : "'%s' is too big for a rule file",
				path);
			rc = arc;
			goto out;
		}
	}
	if (ferror(f)) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = BL_OK;
out:
	fclose(f);
	return rc;
}

static int load_one(bl_ruleset *rs, pending *pd, const char *path)
{
	bl_buf text;
	int rc;

	bl_buf_init(&text, RULES_MAX_FILE);
	rc = read_file(rs, path, &text);
	if (rc == BL_OK)
		rc = parse_text(rs, pd, path, text.buf, text.len);
	bl_buf_release(&text);
	return rc;
}

int bl_ruleset_load_file(bl_ruleset *rs, const char *path)
{
	pending pd = {0};
	int rc = check_open(rs);

	if (rc != BL_OK)
		return rc;
	if (!path) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "no file name");
		return BL_EUSAGE;
	}
	pd.sha = rs->sha;
	rc = load_one(rs, &pd, path);
	if (rc == BL_OK)
		rc = commit(rs, &pd);
	pending_release(&pd);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int bl_ruleset_load_dir(bl_ruleset *rs, const char *dir)
{
	pending pd = {0};
	bl_strlist names;
	DIR *d = NULL;
	struct dirent *de;
	bl_buf path;
	int rc = check_open(rs);

	if (rc != BL_OK)
		return rc;
	bl_strlist_init(&names);
	bl_buf_init(&path, 0);
	pd.sha = rs->sha;
	rc = BL_FAILED;
	if (!dir) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "no directory name");
		rc = BL_EUSAGE;
		goto out;
	}
	d = opendir(dir);
	if (!d) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "cannot open directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n < 7 ||
		    strcmp(de->d_name + n - 6, ".rules") != 0)
			continue;
		if (bl_strlist_add(&names, de->d_name) != BL_OK) {
			bl_error_set(rs->errmsg, sizeof rs->errmsg, "out of memory");
			rc = BL_ENOMEM;
			goto out;
		}
	}
	if (names.n == 0) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "no *.rules files in '%s'", dir);
		goto out;
	}
	qsort(names.items, names.n, sizeof *names.items, cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		bl_buf_reset(&path);
		if (bl_buf_addf(&path, "%s/%s", dir, names.items[i]) != BL_OK) {
			bl_error_set(rs->errmsg, sizeof rs->errmsg, "out of memory");
			rc = BL_ENOMEM;
			goto out;
		}
		rc = load_one(rs, &pd, path.buf);
		if (rc != BL_OK)
			goto out;
	}
	rc = commit(rs, &pd);
out:
	if (d)
		closedir(d);
	pending_release(&pd);
	bl_strlist_release(&names);
	bl_buf_release(&path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Compilation                                                         */
/* ------------------------------------------------------------------ */

static int compile_program(bl_ruleset *rs, const bl_rlabel *l,
			   const char *src, size_t len, const char *what,
			   uint32_t extra, pcre2_code **pre, pcre2_code **out)
{
	PCRE2_SIZE erroff;
	int errcode;
	pcre2_code *code = pre ? *pre : NULL;

	if (code) /* compiled when it was checked: taken over */
		*pre = NULL;
	else
		code = pcre2_compile((PCRE2_SPTR)src, len, RULE_PCRE2_OPTIONS | extra,
				     &errcode, &erroff, NULL);
	if (!code) {
		PCRE2_UCHAR msg[256];
		if (pcre2_get_error_message(errcode, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", errcode);
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "%s:%d:1: label '%s': one of its %s does not "
			    "compile: %s",
			l->file, l->line, l->name, what, (const char *)msg);
		return BL_FAILED;
	}
	/* JIT is an optimisation: when it is unavailable the interpreter
	 * runs the same program under the same limits. */
	(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	*out = code;
	return BL_OK;
}

/* ---- prefilter gates ---------------------------------------------- */

/* The clauses registered in the rule set's automaton so far; equal
 * clauses of different patterns share an id. */
typedef struct clauses {
	bl_strlist *v; /* v[id - 1]; id BL_PF_BYPASS is the bypass */
	size_t n, a;
} clauses;

static void clauses_release(clauses *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		bl_strlist_release(&cs->v[i]);
	free(cs->v);
	memset(cs, 0, sizeof *cs);
}

static int same_clause(const bl_strlist *a, const bl_strlist *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->items[i], b->items[i]) != 0)
			return 0;
	return 1;
}

/* The id of clause c (taken over when new) in pf; BL_ENOMEM. */
static int clause_id(bl_prefilter *pf, clauses *cs, bl_strlist *c)
{
	int id;

	for (size_t i = 0; i < cs->n; i++)
		if (same_clause(&cs->v[i], c))
			return (int)i + 1;
	if (BL_ALLOC_GROW(cs->v, cs->n + 1, cs->a) != BL_OK)
		return BL_ENOMEM;
	id = (int)cs->n + 1;
	for (size_t i = 0; i < c->n; i++)
		if (bl_prefilter_add(pf, c->items[i], strlen(c->items[i]), id) != BL_OK)
			return BL_ENOMEM;
	cs->v[cs->n++] = *c;
	bl_strlist_init(c);
	return id;
}

static int gate_push(bl_gate *g, size_t *alloc, int v)
{
	if (BL_ALLOC_GROW(g->code, g->len + 1, *alloc) != BL_OK)
		return BL_ENOMEM;
	g->code[g->len++] = v;
	return BL_OK;
}

/* The words of the literals in tr (split at non-letters) into the
 * normaliser's dictionaries, with flags. */
static int dictionary_add(bl_normaliser *nz, int flags, const bl_trigger *tr)
{
	for (size_t k = 0; k < tr->n; k++)
		for (size_t i = 0; i < tr->cl[k].n; i++) {
			const char *w = tr->cl[k].items[i];
			while (*w) {
				size_t n = 0;
				int rc;
				while (w[n] >= 'a' && w[n] <= 'z')
					n++;
				rc = bl_normalise_add_word(nz, w, n, flags);
				if (rc != BL_OK)
					return rc;
				w += n;
				while (*w && !(*w >= 'a' && *w <= 'z'))
					w++;
			}
		}
	return BL_OK;
}

/* 1 when q starts a quantifier that a letter follows: the run before it
 * goes on after it ("colou?r"), so it is a piece of a word. */
static int quantified_inside(const char *q)
{
	if (*q == '{') {
		while (*q && *q != '}')
			q++;
		if (*q)
			q++;
	} else if (*q == '?' || *q == '*' || *q == '+') {
		q++;
		if (*q == '?' || *q == '+') /* lazy or possessive */
			q++;
	} else
		return 0;
	return (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z');
}

/* The words spelt out in pattern pat (runs of ASCII letters, escapes
 * skipped) into the normaliser's dictionaries: the extractor's clauses
 * miss words of alternatives it did not keep.  Only whole words: a run
 * joined to a class or a group ("wom[ae]n", "fetish(?:es|ist)?"), a run
 * inside a group that is joined to what comes before it (the "es" and
 * "ist" there), and a run whose last letter is quantified while letters
 * follow ("colou?r") are pieces of words, and a masked token must never
 * be read as one ("1st" is not "ist"); "girls?" gives girls and girl. */
static int dictionary_add_text(bl_normaliser *nz, int flags, const char *pat)
{
	const char *p = pat;
	unsigned long long joined = 0; /* bit d: the group at depth d+1 is joined */
	int depth = 0, last = 0;       /* last: 1 a letter run, 2 a class or group;
					 * a group joined to a letter run holds suffixes */

	while (*p) {
		size_t n = 0;
		int rc, in_joined = depth > 0 && depth <= 64 && (joined >> (depth - 1) & 1);
		if (*p == '\\') {
			p += p[1] ? 2 : 1;
			last = 0;
			continue;
		}
		if (*p == '[') { /* a class spells no word: skip it */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']')
				p += (*p == '\\' && p[1]) ? 2 : 1;
			if (*p)
				p++;
			last = 2;
			continue;
		}
		if (*p == '(') {
			if (depth < 64) {
				if (last == 1 || in_joined)
					joined |= 1ULL << depth;
				else
					joined &= ~(1ULL << depth);
			}
			depth++;
			p++;
			last = 0;
			continue;
		}
		if (*p == ')') {
			if (depth > 0)
				depth--;
			p++;
			last = 2;
			continue;
		}
		while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z'))
			n++;
		if (n == 0) {
			p++;
			last = 0;
			continue;
		}
		if (!(last == 2 || in_joined || p[n] == '[' || p[n] == '(' || quantified_inside(p + n))) {
			rc = bl_normalise_add_word(nz, p, n, flags);
			/* "girls?": girls, and girl */
			if (rc == BL_OK && (p[n] == '?' || p[n] == '*') && n > 1)
				rc = bl_normalise_add_word(nz, p, n - 1, flags);
			if (rc != BL_OK)
				return rc;
		}
		p += n;
		last = 1;
	}
	return BL_OK;
}

/*
 * The gate of the program of pattern pat: one term, the clauses the
 * extractor proved.  A pattern it proves nothing about leaves the program
 * ungated (g->len 0).  BL_OK or BL_ENOMEM.
 */
static int gate_build(bl_prefilter *pf, clauses *cs, bl_normaliser *nz,
		      int nzflags, const char *pat, bl_gate *g)
{
	size_t alloc = 0;
	bl_trigger tr;
	int rc = bl_prefilter_extract_in(pf, pat, strlen(pat), &tr);

	g->code = NULL;
	g->len = 0;
	if (rc >= 0) {
		int drc = dictionary_add_text(nz, nzflags, pat);
		if (drc != BL_OK) {
			bl_trigger_release(&tr);
			return drc;
		}
	}
	if (rc <= 0)
		return rc < 0 ? rc : BL_OK;
	rc = dictionary_add(nz, nzflags, &tr);
	if (rc == BL_OK)
		rc = gate_push(g, &alloc, (int)tr.n);
	for (size_t k = 0; k < tr.n && rc == BL_OK; k++) {
		int id = clause_id(pf, cs, &tr.cl[k]);
		rc = id < 0 ? id : gate_push(g, &alloc, id);
	}
	bl_trigger_release(&tr);
	if (rc != BL_OK) {
		free(g->code);
		g->code = NULL;
		g->len = 0;
	}
	return rc;
}

/* Compile n patterns into one program and one gate each, with the extra
 * PCRE2 options; *ngated counts the gated ones. */
static int programs_compile(bl_ruleset *rs, const bl_rlabel *l,
			    clauses *cs, const bl_strlist *pats, int n,
			    const char *what, uint32_t extra, int nzflags,
			    pcre2_code **pre, pcre2_code ***progs, bl_gate **gates,
			    int *ngated)
{
	int rc;

	if (n == 0)
		return BL_OK;
	*progs = calloc((size_t)n, sizeof **progs);
	*gates = calloc((size_t)n, sizeof **gates);
	if (!*progs || !*gates)
		goto nomem;
	for (int k = 0; k < n; k++) {
		const char *p = pats->items[k];
		rc = compile_program(rs, l, p, strlen(p), what, extra,
				     pre ? &pre[k] : NULL, &(*progs)[k]);
		if (rc != BL_OK)
			return rc;
		rc = gate_build(rs->pf, cs, rs->nz, nzflags, p, &(*gates)[k]);
		if (rc != BL_OK)
			goto nomem;
		*ngated += (*gates)[k].len > 0;
	}
	return BL_OK;
nomem:
	bl_error_set(rs->errmsg, sizeof rs->errmsg, "out of memory");
	return BL_ENOMEM;
}

/* Compile a label's programs and build their gates. */
static int label_compile(bl_ruleset *rs, bl_rlabel *l, clauses *cs)
{
	/* masked spellings are read as words of the sexual vocabulary and of
	 * revealing clothing ("l!ngerie", "b1kini") */
	int masked = bl_label_in_family(l->name, BL_LABEL_SEXUAL) ||
		     bl_label_in_family(l->name, "attire");
	int mflags = BL_NZ_SPLIT | (masked ? BL_NZ_UNMASK : 0);
	int rc = programs_compile(rs, l, cs, &l->match_pats, l->nmatch,
				  "match patterns", 0, mflags, l->match_pre, &l->match,
				  &l->mgate, &rs->gated_match);
	if (rc != BL_OK)
		return rc;
	if (l->nmatch > rs->max_match)
		rs->max_match = l->nmatch;
	if (l->nunless > rs->max_unless)
		rs->max_unless = l->nunless;
	/* an unless search is bounded by the occurrence it judges */
	return programs_compile(rs, l, cs, &l->unless_pats, l->nunless,
				"unless patterns", PCRE2_USE_OFFSET_LIMIT,
				BL_NZ_SPLIT, l->unless_pre, &l->unless, &l->ugate,
				&rs->gated_unless);
}

/* The automaton of every gate, with the bypass literals as clause
 * BL_PF_BYPASS. */
static int prefilter_start(bl_ruleset *rs)
{
	static const char *const bypass[] = {"\xc5\xbf", "\xe2\x84\xaa"};

	rs->pf = bl_prefilter_new();
	rs->nz = bl_normalise_new();
	if (!rs->pf || !rs->nz)
		return BL_ENOMEM;
	for (size_t i = 0; i < sizeof bypass / sizeof *bypass; i++)
		if (bl_prefilter_add(rs->pf, bypass[i], strlen(bypass[i]),
				     BL_PF_BYPASS) != BL_OK)
			return BL_ENOMEM;
	return BL_OK;
}

/* Resolve each "except" name of every label into except_mask: the label
 * of that name and every label of that family. */
static int except_resolve(bl_ruleset *rs)
{
	for (int i = 1; i < rs->nlabels; i++) {
		bl_rlabel *l = &rs->labels[i];
		bl_labelset_clear(&l->except_mask);
		l->has_except = l->nexcept > 0;
		l->except_internal = 0;
		for (size_t k = 0; k < l->nexcept; k++) {
			int any = 0;
			for (int j = 1; j < rs->nlabels; j++)
				if (bl_label_in_family(rs->labels[j].name, l->except[k].name)) {
					bl_labelset_set(&l->except_mask, j);
					l->except_internal |= rs->labels[j].internal;
					any = 1;
				}
			if (!any) {
				bl_error_set(rs->errmsg, sizeof rs->errmsg, "%s:%d:%d: 'except' names an unknown label "
					    "or family '%s'", l->file, l->except[k].line,
					l->except[k].col, l->except[k].name);
				return BL_FAILED;
			}
		}
	}
	return BL_OK;
}

/*
 * The evaluation order: a label with "except" comes after every label
 * its names cover and every label implying one of those (they decide
 * whether it is set); otherwise load order.  A label that must come
 * after itself is an error.
 */
static int order_build(bl_ruleset *rs)
{
	int n = rs->nlabels, rc = BL_FAILED;
	bl_labelset *need = calloc((size_t)n, sizeof *need);
	bl_labelset done;
	int placed = 0;

	rs->order = malloc((size_t)n * sizeof *rs->order);
	rs->eval = malloc((size_t)n * sizeof *rs->eval);
	if (!need || !rs->order || !rs->eval) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "out of memory");
		rc = BL_ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const bl_rlabel *l = &rs->labels[i];
		if (!l->has_except)
			continue;
		for (int y = 0; y < n; y++)
			for (size_t w = 0; w < BL_MAX_LABELS / 64; w++)
				if (rs->labels[y].closure.w[w] & l->except_mask.w[w]) {
					bl_labelset_set(&need[i], y);
					break;
				}
	}
	bl_labelset_clear(&done);
	while (placed < n) {
		int pick = -1;
		for (int i = 0; i < n && pick < 0; i++) {
			int ready = !bl_labelset_has(&done, i);
			for (size_t w = 0; ready && w < BL_MAX_LABELS / 64; w++)
				if (need[i].w[w] & ~done.w[w])
					ready = 0;
			if (ready)
				pick = i;
		}
		if (pick < 0) {
			for (int i = 0; i < n; i++)
				if (!bl_labelset_has(&done, i) && rs->labels[i].has_except) {
					const bl_rlabel *l = &rs->labels[i];
					bl_error_set(rs->errmsg, sizeof rs->errmsg, "%s:%d:%d: 'except' of label '%s' makes a "
						    "cycle: it waits for a label that waits "
						    "for it (or that it implies)",
						l->file, l->except[0].line, l->except[0].col,
						l->name);
					break;
				}
			goto out;
		}
		bl_labelset_set(&done, pick);
		rs->order[placed++] = pick;
	}
	for (int k = 0; k < n; k++) {
		rs->labels[k].index = k;
		rs->eval[k] = &rs->labels[rs->order[k]];
	}
	rc = BL_OK;
out:
	free(need);
	return rc;
}

int bl_ruleset_compile(bl_ruleset *rs)
{
	clauses cs = {0};
	int rc = check_open(rs);
	int changed;

	if (rc != BL_OK)
		return rc;
	if (rs->nlabels <= 1) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "the rule set declares no labels: it would tag "
			    "nothing (load a rule file with 'label' lines)");
		return BL_FAILED;
	}
	/* internal labels go last, so that the labels the interface shows
	 * are 0 .. npublic-1 and a label set never holds an internal one */
	{
		int k = 1;
		bl_rlabel tmp;
		for (int i = 1; i < rs->nlabels; i++)
			if (!rs->labels[i].internal) {
				tmp = rs->labels[i];
				memmove(&rs->labels[k + 1], &rs->labels[k],
					(size_t)(i - k) * sizeof tmp);
				rs->labels[k++] = tmp;
			}
		rs->npublic = k;
	}
	rc = prefilter_start(rs);
	if (rc != BL_OK) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "out of memory");
		goto out;
	}
	rc = BL_FAILED;
	for (int i = 0; i < rs->nlabels; i++) {
		bl_rlabel *l = &rs->labels[i];
		int lrc;
		bl_labelset_clear(&l->closure);
		bl_labelset_set(&l->closure, i);
		lrc = label_compile(rs, l, &cs);
		if (lrc != BL_OK) {
			rc = lrc;
			goto out;
		}
		for (size_t k = 0; k < l->npreds; k++) {
			if (l->preds[k].src == BL_SRC_IMAGE)
				rs->uses_image = 1;
			else if (l->preds[k].src == BL_SRC_CAPTION)
				rs->uses_caption_facts = 1;
			else
				rs->uses_json = 1;
		}
		for (size_t k = 0; k < l->nimplies; k++) {
			int j = label_find(rs, l->implies[k].name);
			if (j < 0) {
				bl_error_set(rs->errmsg, sizeof rs->errmsg, "%s:%d:%d: 'implies' names an unknown "
					    "label '%s'",
					l->file, l->implies[k].line,
					l->implies[k].col, l->implies[k].name);
				goto out;
			}
			if (l->internal || rs->labels[j].internal) {
				bl_error_set(rs->errmsg, sizeof rs->errmsg, "%s:%d:%d: 'implies' of label '%s': an internal "
					    "label is never set, so it neither implies "
					    "nor is implied ('%s' is internal)",
					l->file, l->implies[k].line, l->implies[k].col,
					l->name, l->internal ? l->name : l->implies[k].name);
				goto out;
			}
			bl_labelset_set(&l->closure, j);
		}
		switch (bl_label_safety(l->name)) {
		case BL_SAFETY_MINOR:
			bl_labelset_set(&rs->minor_mask, i);
			break;
		case BL_SAFETY_SEXUAL:
			bl_labelset_set(&rs->sexual_mask, i);
			break;
		}
	}
	/* transitive closure of "implies"; at most nlabels rounds */
	do {
		changed = 0;
		for (int i = 0; i < rs->nlabels; i++) {
			bl_labelset *ci = &rs->labels[i].closure;
			for (int j = 0; j < rs->nlabels; j++) {
				if (j == i || !bl_labelset_has(ci, j))
					continue;
				for (size_t w = 0; w < BL_MAX_LABELS / 64; w++) {
					uint64_t nw = ci->w[w] | rs->labels[j].closure.w[w];
					if (nw != ci->w[w]) {
						ci->w[w] = nw;
						changed = 1;
					}
				}
			}
		}
	} while (changed);
	rc = except_resolve(rs);
	if (rc == BL_OK)
		rc = order_build(rs);
	if (rc != BL_OK)
		goto out;
	rc = bl_normalise_build(rs->nz);
	if (rc != BL_OK) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, "out of memory");
		goto out;
	}
	for (int i = 0; i < rs->nlabels; i++) {
		bl_labelset self;
		bl_labelset_clear(&self);
		bl_labelset_set(&self, i);
		rs->labels[i].has_closure =
			memcmp(&self, &rs->labels[i].closure, sizeof self) != 0;
		rs->any_implies |= rs->labels[i].has_closure;
	}
	rc = bl_prefilter_build(rs->pf);
	if (rc != BL_OK) {
		bl_error_set(rs->errmsg, sizeof rs->errmsg, rc == BL_ENOMEM ? "out of memory"
					    : "the prefilter automaton is too big");
		goto out;
	}
	for (int i = 0; i < rs->nlabels; i++) {
		rc = label_first_clauses(&rs->labels[i], bl_prefilter_nids(rs->pf));
		if (rc != BL_OK) {
			bl_error_set(rs->errmsg, sizeof rs->errmsg, "out of memory");
			goto out;
		}
	}
	rs->compiled = 1;
	rc = BL_OK;
out:
	clauses_release(&cs);
	if (rc != BL_OK) {
		/* leave the set loadable and compilable again */
		for (int i = 0; i < rs->nlabels; i++)
			label_uncompile(&rs->labels[i]);
		bl_prefilter_free(rs->pf);
		rs->pf = NULL;
		bl_normalise_free(rs->nz);
		rs->nz = NULL;
		free(rs->order);
		rs->order = NULL;
		free(rs->eval);
		rs->eval = NULL;
		rs->any_implies = 0;
		rs->uses_caption_facts = 0;
		rs->max_match = rs->max_unless = 0;
		rs->gated_match = rs->gated_unless = 0;
		bl_labelset_clear(&rs->minor_mask);
		bl_labelset_clear(&rs->sexual_mask);
		rs->uses_json = rs->uses_image = 0;
	}
	return rc;
}
