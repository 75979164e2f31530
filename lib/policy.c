/*
 * policy.c - policy files and boolean label expressions.
 *
 * A policy is a small line-based text (manifests/FORMAT.md): one method a
 * line (drop, cap, target, independent), plus `realise` and `seed`, with
 * '#' comments.  This module only parses and checks what can be checked
 * without data: names are well formed, numbers are numbers, shares lie in
 * [0, 1] and sum to at most 1, target labels belong to their family, the
 * families of an `independent` line are disjoint.  Whether a policy can be
 * met on a given index is the rebalancer's question (lib/rebalance.c).
 * Every error names NAME:LINE:COL, 1-based, the column pointing at the
 * offending word.
 *
 * Expressions are parsed by recursive descent into a node array; names
 * are bound to label ids later (bl_expr_bind), so the same policy works on
 * any index.  Evaluation is per cell, not per sample, so it need not be
 * fast.
 */
#include "error_int.h"
#include "alloc_int.h"
#include "ballast.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- expressions ------------------------------------------------------- */

enum { EX_NAME, EX_NOT, EX_AND, EX_OR };

struct ex_node {
	int op;
	int a, b;   /* children (node indexes); EX_NAME: a = name index */
};

#define EX_MAX_NODES 256
#define EX_MAX_DEPTH 64

struct bl_expr {
	struct ex_node *nodes;
	int nnodes, root;
	char **names;
	int nnames;
	size_t anames;
	bl_labelset *masks; /* per name, after bind */
	int bound;
};

struct ex_parser {
	const char *s;
	size_t len, pos;
	bl_expr *e;
	size_t errcol;
	char *err;
	size_t errlen;
	int failed; /* BL_FAILED or BL_ENOMEM once something went wrong */
	int depth;
};

static int name_char(int c)
{
	return isalnum(c) || c == '_' || c == '-';
}

static void ex_skip(struct ex_parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
		p->pos++;
}

static int ex_fail(struct ex_parser *p, size_t col, const char *msg, const char *near)
{
	if (!p->failed) {
		p->failed = BL_FAILED;
		p->errcol = col;
		if (near)
			snprintf(p->err, p->errlen, "%s '%s'", msg, near);
		else
			snprintf(p->err, p->errlen, "%s", msg);
	}
	return -1;
}

static int ex_node(struct ex_parser *p, int op, int a, int b)
{
	if (p->e->nnodes >= EX_MAX_NODES)
		return ex_fail(p, p->pos, "expression too long", NULL);
	p->e->nodes[p->e->nnodes] = (struct ex_node){op, a, b};
	return p->e->nnodes++;
}

/*
 * A label name: dotted words of [A-Za-z0-9_-], optionally ending in ".*".
 * Returns the length consumed (0 when s does not start a name) and in
 * *keep the length of the name without ".*".  A malformed name (empty
 * part, trailing dot) sets *bad to the offset of the fault.
 */
static size_t scan_name(const char *s, size_t len, size_t *keep, size_t *bad)
{
	size_t i = 0;

	*bad = SIZE_MAX;
	*keep = 0;
	if (i >= len || !name_char((unsigned char)s[i]))
		return 0;
	for (;;) {
		size_t start = i;
		while (i < len && name_char((unsigned char)s[i]))
			i++;
		if (i == start) {
			*bad = i;
			return i;
		}
		*keep = i;
		if (i < len && s[i] == '.') {
			i++;
			if (i < len && s[i] == '*') {
				i++;
				if (i < len && (name_char((unsigned char)s[i]) || s[i] == '.' || s[i] == '*'))
					*bad = i;
				return i;
			}
			continue;
		}
		return i;
	}
}

static int ex_or(struct ex_parser *p);

static int ex_name(struct ex_parser *p)
{
	size_t keep, bad, n = scan_name(p->s + p->pos, p->len - p->pos, &keep, &bad);
	char **names, *name;
	int idx;

	if (n == 0) {
		char near[32];
		if (p->pos >= p->len)
			return ex_fail(p, p->pos, "expected a label name at the end of the expression", NULL);
		snprintf(near, sizeof near, "%.*s", (int)(p->len - p->pos > 16 ? 16 : p->len - p->pos),
			 p->s + p->pos);
		return ex_fail(p, p->pos, "expected a label name, '!' or '(' at", near);
	}
	if (bad != SIZE_MAX)
		return ex_fail(p, p->pos + bad, "malformed label name", NULL);
	name = strndup(p->s + p->pos, keep);
	if (!name || BL_ALLOC_GROW(p->e->names, (size_t)p->e->nnames + 1, p->e->anames) != BL_OK) {
		free(name);
		p->failed = BL_ENOMEM;
		snprintf(p->err, p->errlen, "out of memory");
		return -1;
	}
	names = p->e->names;
	idx = p->e->nnames;
	names[p->e->nnames++] = name;
	p->pos += n;
	return ex_node(p, EX_NAME, idx, -1);
}

static int ex_unary(struct ex_parser *p)
{
	int r;

	ex_skip(p);
	if (++p->depth > EX_MAX_DEPTH)
		return ex_fail(p, p->pos, "expression nested too deeply", NULL);
	if (p->pos < p->len && p->s[p->pos] == '!') {
		p->pos++;
		r = ex_unary(p);
		if (r >= 0)
			r = ex_node(p, EX_NOT, r, -1);
	} else if (p->pos < p->len && p->s[p->pos] == '(') {
		size_t open = p->pos++;
		r = ex_or(p);
		ex_skip(p);
		if (r >= 0 && (p->pos >= p->len || p->s[p->pos] != ')'))
			r = ex_fail(p, p->pos < p->len ? p->pos : open,
				    p->pos < p->len ? "expected ')'" : "unclosed '('", NULL);
		else if (r >= 0)
			p->pos++;
	} else {
		r = ex_name(p);
	}
	p->depth--;
	return r;
}

static int ex_and(struct ex_parser *p)
{
	int l = ex_unary(p);
	while (l >= 0) {
		ex_skip(p);
		if (p->pos >= p->len || p->s[p->pos] != '&')
			break;
		p->pos++;
		if (p->pos < p->len && p->s[p->pos] == '&')
			p->pos++; /* "&&" is accepted as "&" */
		int r = ex_unary(p);
		l = r < 0 ? r : ex_node(p, EX_AND, l, r);
	}
	return l;
}

static int ex_or(struct ex_parser *p)
{
	int l = ex_and(p);
	while (l >= 0) {
		ex_skip(p);
		if (p->pos >= p->len || p->s[p->pos] != '|')
			break;
		p->pos++;
		if (p->pos < p->len && p->s[p->pos] == '|')
			p->pos++;
		int r = ex_and(p);
		l = r < 0 ? r : ex_node(p, EX_OR, l, r);
	}
	return l;
}

void bl_expr_free(bl_expr *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->nnames; i++)
		free(e->names[i]);
	free(e->names);
	free(e->nodes);
	free(e->masks);
	free(e);
}

int bl_expr_parse(const char *text, size_t len, bl_expr **out,
		  size_t *errcol, char *err, size_t errlen)
{
	struct ex_parser p = {0};
	char dummy[1];
	int rc = BL_ENOMEM;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	if (!out || (!text && len))
		return BL_EUSAGE;
	*out = NULL;
	p.s = text;
	p.len = len;
	p.err = err;
	p.errlen = errlen;
	p.e = calloc(1, sizeof *p.e);
	if (!p.e || !(p.e->nodes = malloc(EX_MAX_NODES * sizeof *p.e->nodes))) {
		bl_error_set(err, errlen, "out of memory");
		goto out;
	}
	p.e->root = ex_or(&p);
	ex_skip(&p);
	if (!p.failed && p.pos < p.len)
		ex_fail(&p, p.pos, p.s[p.pos] == ')' ? "unmatched ')'" :
			"expected '&', '|' or the end of the expression", NULL);
	if (p.failed) {
		rc = p.failed;
		if (errcol)
			*errcol = p.errcol;
		goto out;
	}
	*out = p.e;
	p.e = NULL;
	rc = BL_OK;
out:
	bl_expr_free(p.e);
	return rc;
}

int bl_expr_bind(bl_expr *e, const char *const *names, int nnames,
		 bl_labelset *used)
{
	int unbound = 0;

	if (!e || (nnames > 0 && !names) || nnames > BL_MAX_LABELS)
		return BL_EUSAGE;
	if (!e->masks) {
		e->masks = calloc((size_t)(e->nnames ? e->nnames : 1), sizeof *e->masks);
		if (!e->masks)
			return BL_ENOMEM;
	}
	for (int i = 0; i < e->nnames; i++) {
		int any = 0;
		bl_labelset_clear(&e->masks[i]);
		for (int id = 0; id < nnames; id++) {
			if (names[id] && bl_label_in_family(names[id], e->names[i])) {
				bl_labelset_set(&e->masks[i], id);
				if (used)
					bl_labelset_set(used, id);
				any = 1;
			}
		}
		if (!any)
			unbound++;
	}
	e->bound = 1;
	return unbound;
}

static int ex_eval(const bl_expr *e, int n, const bl_labelset *ls)
{
	const struct ex_node *x = &e->nodes[n];
	switch (x->op) {
	case EX_NAME:
		for (size_t i = 0; i < BL_MAX_LABELS / 64; i++)
			if (e->masks[x->a].w[i] & ls->w[i])
				return 1;
		return 0;
	case EX_NOT:
		return !ex_eval(e, x->a, ls);
	case EX_AND:
		return ex_eval(e, x->a, ls) && ex_eval(e, x->b, ls);
	default:
		return ex_eval(e, x->a, ls) || ex_eval(e, x->b, ls);
	}
}

int bl_expr_eval(const bl_expr *e, const bl_labelset *ls)
{
	if (!e || !ls || !e->bound)
		return 0;
	return ex_eval(e, e->root, ls);
}

const char *bl_expr_name(const bl_expr *e, int i)
{
	return e && i >= 0 && i < e->nnames ? e->names[i] : NULL;
}

int bl_expr_nnames(const bl_expr *e)
{
	return e ? e->nnames : 0;
}

/* ---- policies ---------------------------------------------------------- */

#define POLICY_MAX_RULES 256
#define POLICY_MAX_TEXT ((size_t)1 << 20)
#define POLICY_MAX_ACCEPTS 64

struct bl_policy {
	char *name;
	char *text;
	char digest[65];
	bl_buf errmsg;
	bl_policy_rule rules[POLICY_MAX_RULES];
	int nrules;
	int parsed;
	int realise, realise_line;
	double max_repeat;
	int has_seed;
	uint64_t seed;
	bl_policy_accept accepts[POLICY_MAX_ACCEPTS];
	int naccepts;
	double clip_weight, floor_ess;
	int clip_line, floor_line;
	bl_strlist strings; /* every string the rules point at */
};

/* One whitespace-separated word of a line, with its 0-based column. */
struct word {
	const char *s;
	size_t len, col;
};

#define MAX_WORDS (BL_POLICY_MAX_TARGETS + 8)

struct line_ctx {
	bl_policy *p;
	int lineno;
	const char *line;  /* the line, comment stripped */
	size_t len;
	struct word w[MAX_WORDS];
	int nw;
};

static int perr(struct line_ctx *c, size_t col, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));

static int perr(struct line_ctx *c, size_t col, const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	bl_error_vset(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return bl_error_buf(&c->p->errmsg, BL_FAILED, "%s:%d:%zu: %s", c->p->name, c->lineno,
			    col + 1, msg);
}

static const char *keep_str(bl_policy *p, const char *s, size_t len)
{
	char *dup = strndup(s, len);
	const char *r = NULL;
	if (dup && bl_strlist_add(&p->strings, dup) == BL_OK)
		r = p->strings.items[p->strings.n - 1];
	free(dup);
	return r;
}

static int wordeq(const struct word *w, const char *s)
{
	return w->len == strlen(s) && strncmp(w->s, s, w->len) == 0;
}

/* A family or label name word: returns it without ".*", or NULL after an
 * error. */
static const char *name_word(struct line_ctx *c, const struct word *w, const char *what)
{
	size_t keep, bad, n = scan_name(w->s, w->len, &keep, &bad);
	const char *r;

	if (n != w->len || n == 0) {
		perr(c, w->col + (n < w->len ? n : 0), "expected a %s name, got '%.*s'",
		     what, (int)w->len, w->s);
		return NULL;
	}
	if (bad != SIZE_MAX) {
		perr(c, w->col + bad, "malformed %s name '%.*s'", what, (int)w->len, w->s);
		return NULL;
	}
	r = keep_str(c->p, w->s, keep);
	if (!r)
		perr(c, w->col, "out of memory");
	return r;
}

/* A finite number in [lo, hi]; integer when asked. */
static int number_word(struct line_ctx *c, const char *s, size_t len, size_t col,
		       double lo, double hi, int integer, const char *what, double *out)
{
	char tmp[64], *end;
	double v;

	if (len == 0 || len >= sizeof tmp)
		return perr(c, col, "expected %s, got '%.*s'", what, (int)len, s);
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	v = strtod(tmp, &end);
	if (*end || errno || !isfinite(v) || isspace((unsigned char)tmp[0]))
		return perr(c, col + (size_t)(end - tmp), "expected %s, got '%s'", what, tmp);
	if (integer && v != floor(v))
		return perr(c, col, "expected %s, got '%s' (not an integer)", what, tmp);
	if (v < lo || v > hi)
		return perr(c, col, "%s must lie in [%g, %g], got %s", what, lo, hi, tmp);
	*out = v;
	return BL_OK;
}

static int parse_drop(struct line_ctx *c, bl_policy_rule *r)
{
	size_t start = c->w[1].col, errcol = 0;
	char msg[256];
	int rc = bl_expr_parse(c->line + start, c->len - start, &r->expr, &errcol,
			       msg, sizeof msg);
	if (rc == BL_ENOMEM)
		return perr(c, start, "out of memory");
	if (rc != BL_OK)
		return perr(c, start + errcol, "%s", msg);
	return BL_OK;
}

static int parse_cap(struct line_ctx *c, bl_policy_rule *r)
{
	if (c->nw != 4 || !wordeq(&c->w[2], "per"))
		return perr(c, c->nw > 2 ? c->w[2].col : c->len,
			    "expected 'cap N per FAMILY'");
	if (number_word(c, c->w[1].s, c->w[1].len, c->w[1].col, 1, 1e15, 1,
			"a positive integer N", &r->cap) != BL_OK)
		return BL_FAILED;
	if (!(r->family[0] = name_word(c, &c->w[3], "family")))
		return BL_FAILED;
	return BL_OK;
}

static int parse_independent(struct line_ctx *c, bl_policy_rule *r)
{
	int nf = 2;

	if (c->nw == 5 && wordeq(&c->w[3], "within"))
		nf = 3;
	else if (c->nw != 3)
		return perr(c, c->nw > 3 ? c->w[3].col : c->len,
			    "expected 'independent FAMILY_A FAMILY_B [within FAMILY_C]'");
	for (int i = 0; i < nf; i++) {
		const struct word *w = &c->w[i < 2 ? i + 1 : 4];
		if (!(r->family[i] = name_word(c, w, "family")))
			return BL_FAILED;
		for (int j = 0; j < i; j++)
			if (bl_label_in_family(r->family[i], r->family[j]) ||
			    bl_label_in_family(r->family[j], r->family[i]))
				return perr(c, w->col, "families '%s' and '%s' overlap; "
					    "independence needs disjoint families",
					    r->family[j], r->family[i]);
	}
	return BL_OK;
}

static int parse_target(struct line_ctx *c, bl_policy_rule *r)
{
	double sum = 0;

	if (c->nw < 3)
		return perr(c, c->len, "expected 'target FAMILY label=share ... [rest=share]'");
	if (!(r->family[0] = name_word(c, &c->w[1], "family")))
		return BL_FAILED;
	r->rest = -1;
	for (int i = 2; i < c->nw; i++) {
		const struct word *w = &c->w[i];
		const char *eq = memchr(w->s, '=', w->len);
		struct word nw;
		double v;

		if (!eq)
			return perr(c, w->col, "expected label=share, got '%.*s'",
				    (int)w->len, w->s);
		nw = (struct word){w->s, (size_t)(eq - w->s), w->col};
		if (number_word(c, eq + 1, w->len - nw.len - 1, w->col + nw.len + 1, 0, 1, 0,
				"a share", &v) != BL_OK)
			return BL_FAILED;
		if (wordeq(&nw, "rest")) {
			if (r->rest >= 0)
				return perr(c, w->col, "'rest' given twice");
			r->rest = v;
			sum += v;
			continue;
		}
		if (r->ntargets >= BL_POLICY_MAX_TARGETS)
			return perr(c, w->col, "more than %d labels in one target",
				    BL_POLICY_MAX_TARGETS);
		const char *name = name_word(c, &nw, "label");
		if (!name)
			return BL_FAILED;
		if (!bl_label_in_family(name, r->family[0]))
			return perr(c, w->col, "label '%s' is not in family '%s'", name,
				    r->family[0]);
		for (int j = 0; j < r->ntargets; j++) {
			const char *o = r->target_label[j];
			if (bl_label_in_family(name, o) || bl_label_in_family(o, name))
				return perr(c, w->col, strcmp(o, name) ? "labels '%s' and '%s' overlap "
					    "(one holds the other); list disjoint labels" :
					    "label '%s' listed twice%.0s", o, name);
		}
		r->target_label[r->ntargets] = name;
		r->target_share[r->ntargets++] = v;
		sum += v;
	}
	if (r->ntargets == 0)
		return perr(c, c->w[2].col, "a target needs at least one label=share");
	if (sum - (r->rest > 0 ? r->rest : 0) > 1 + 1e-9)
		return perr(c, c->w[2].col, "the label shares sum to %.6g, more than 1",
			    sum - (r->rest > 0 ? r->rest : 0));
	/* the listed labels and the rest cover every sample: with overlaps
	 * the shares may sum past 1, but never stay under it */
	if (r->rest >= 0 && sum < 1 - 1e-9)
		return perr(c, c->w[2].col, "shares with 'rest' sum to %.6g; with 'rest' they "
			    "must sum to at least 1 (leave 'rest' out to leave it free)", sum);
	return BL_OK;
}

/* A number word w in [lo, hi] into *out. */
static int number_at(struct line_ctx *c, int i, double lo, double hi, int integer,
		     const char *what, double *out)
{
	return number_word(c, c->w[i].s, c->w[i].len, c->w[i].col, lo, hi, integer, what, out);
}

/*
 *   accept ess >= F         accept max weight W     accept sample share S
 *   accept shift [FAMILY] D accept cells >= N       accept gap
 *   accept target D
 */
static int parse_accept(struct line_ctx *c)
{
	bl_policy *p = c->p;
	bl_policy_accept a = {0};
	int nw = c->nw, rc = BL_OK;

	a.line = c->lineno;
	if (nw >= 2 && wordeq(&c->w[1], "ess")) {
		a.check = BL_CHECK_ESS;
		if (nw != 4 || !wordeq(&c->w[2], ">="))
			return perr(c, c->w[1].col, "expected 'accept ess >= F' (F from 0 to 1: the "
				    "smallest effective sample size, as a share of the samples written)");
		rc = number_at(c, 3, 0, 1, 0, "a share of the samples", &a.limit);
	} else if (nw >= 2 && wordeq(&c->w[1], "cells")) {
		a.check = BL_CHECK_CELLS;
		if (nw != 4 || !wordeq(&c->w[2], ">="))
			return perr(c, c->w[1].col, "expected 'accept cells >= N' (N: the fewest "
				    "samples a weighted row may have)");
		rc = number_at(c, 3, 1, 1e15, 1, "a positive integer N", &a.limit);
	} else if (nw >= 2 && wordeq(&c->w[1], "max")) {
		a.check = BL_CHECK_WEIGHT;
		if (nw != 4 || !wordeq(&c->w[2], "weight"))
			return perr(c, c->w[1].col, "expected 'accept max weight W' (W: the largest "
				    "weight, in times the mean weight)");
		rc = number_at(c, 3, 1, 1e15, 0, "a weight of at least 1", &a.limit);
	} else if (nw >= 2 && wordeq(&c->w[1], "sample")) {
		a.check = BL_CHECK_SHARE;
		if (nw != 4 || !wordeq(&c->w[2], "share"))
			return perr(c, c->w[1].col, "expected 'accept sample share S' (S: the largest "
				    "share of the weight one sample may carry)");
		rc = number_at(c, 3, 0, 1, 0, "a share", &a.limit);
	} else if (nw >= 2 && wordeq(&c->w[1], "shift")) {
		a.check = BL_CHECK_SHIFT;
		if (nw != 3 && nw != 4)
			return perr(c, c->w[1].col, "expected 'accept shift [FAMILY] D' (D: how far, "
				    "as a share of the set, a label no line names may move)");
		if (nw == 4 && !(a.family = name_word(c, &c->w[2], "family")))
			return BL_FAILED;
		rc = number_at(c, nw - 1, 0, 1, 0, "a share", &a.limit);
	} else if (nw >= 2 && wordeq(&c->w[1], "target")) {
		a.check = BL_CHECK_TARGET;
		if (nw != 3)
			return perr(c, c->w[1].col, "expected 'accept target D' (D: how far, as a "
				    "share of the set, a target line's share may end from the "
				    "declared one)");
		rc = number_at(c, 2, 0, 1, 0, "a share", &a.limit);
	} else if (nw >= 2 && wordeq(&c->w[1], "gap")) {
		a.check = BL_CHECK_GAP;
		if (nw != 2)
			return perr(c, c->w[2].col, "unexpected words after 'accept gap'");
	} else {
		return perr(c, nw >= 2 ? c->w[1].col : c->len,
			    "expected 'accept ess >= F', 'accept max weight W', 'accept sample "
			    "share S', 'accept shift [FAMILY] D', 'accept cells >= N', "
			    "'accept target D' or 'accept gap'");
	}
	if (rc != BL_OK)
		return rc;
	for (int i = 0; i < p->naccepts; i++) {
		const bl_policy_accept *o = &p->accepts[i];
		if (o->check == a.check && (a.check != BL_CHECK_SHIFT ||
		    (!o->family && !a.family) ||
		    (o->family && a.family && strcmp(o->family, a.family) == 0)))
			return perr(c, c->w[1].col, "'accept %s%s%s' given twice (first on line %d)",
				    bl_check_name(a.check), a.family ? " " : "",
				    a.family ? a.family : "", o->line);
	}
	if (p->naccepts >= POLICY_MAX_ACCEPTS)
		return perr(c, c->w[0].col, "more than %d accept lines", POLICY_MAX_ACCEPTS);
	p->accepts[p->naccepts++] = a;
	return BL_OK;
}

/* clip weight W / floor ess F */
static int parse_adjust(struct line_ctx *c, int clip)
{
	bl_policy *p = c->p;
	int *line = clip ? &p->clip_line : &p->floor_line;

	if (*line)
		return perr(c, c->w[0].col, "'%s' given twice (first on line %d)",
			    clip ? "clip weight" : "floor ess", *line);
	if (c->nw != 3 || !wordeq(&c->w[1], clip ? "weight" : "ess"))
		return perr(c, c->nw > 1 ? c->w[1].col : c->len, clip ?
			    "expected 'clip weight W' (W: the largest weight, in times the mean)" :
			    "expected 'floor ess F' (F from 0 to 1: the smallest effective sample "
			    "size, as a share of the samples written)");
	if (clip ? number_at(c, 2, 1, 1e15, 0, "a weight of at least 1", &p->clip_weight) :
		   number_at(c, 2, 1e-6, 1, 0, "a share above 0", &p->floor_ess))
		return BL_FAILED;
	*line = c->lineno;
	return BL_OK;
}

static int parse_line(struct line_ctx *c)
{
	bl_policy *p = c->p;
	bl_policy_rule *r;
	const struct word *m = &c->w[0];
	int rc;

	if (wordeq(m, "seed")) {
		char num[32];
		if (p->has_seed)
			return perr(c, m->col, "'seed' given twice");
		if (c->nw != 2)
			return perr(c, c->nw > 2 ? c->w[2].col : c->len, "expected 'seed N'");
		/* one seed parser for every seed ballast takes (bl_seed_parse) */
		if (c->w[1].len >= sizeof num ||
		    (memcpy(num, c->w[1].s, c->w[1].len), num[c->w[1].len] = '\0',
		     bl_seed_parse(num, &p->seed) != BL_OK))
			return perr(c, c->w[1].col, "expected a seed (an integer from 0 to "
				    "18446744073709551615), got '%.*s'", (int)c->w[1].len, c->w[1].s);
		p->has_seed = 1;
		return BL_OK;
	}
	if (wordeq(m, "realise") || wordeq(m, "realize")) {
		if (p->realise_line)
			return perr(c, m->col, "'realise' given twice (first on line %d)",
				    p->realise_line);
		if (c->nw < 2)
			return perr(c, c->len, "expected 'realise weights|upsample|downsample'");
		if (wordeq(&c->w[1], "weights"))
			p->realise = BL_REALISE_WEIGHTS;
		else if (wordeq(&c->w[1], "upsample"))
			p->realise = BL_REALISE_UPSAMPLE;
		else if (wordeq(&c->w[1], "downsample"))
			p->realise = BL_REALISE_DOWNSAMPLE;
		else
			return perr(c, c->w[1].col, "unknown realisation '%.*s' (expected weights, "
				    "upsample or downsample)", (int)c->w[1].len, c->w[1].s);
		if (p->realise == BL_REALISE_UPSAMPLE && c->nw == 4 && wordeq(&c->w[2], "max")) {
			if (number_word(c, c->w[3].s, c->w[3].len, c->w[3].col, 1, 1e6, 1,
					"a maximum repeat count", &p->max_repeat) != BL_OK)
				return BL_FAILED;
		} else if (c->nw != 2) {
			return perr(c, c->w[2].col, p->realise == BL_REALISE_UPSAMPLE ?
				    "expected 'realise upsample [max N]'" :
				    "unexpected words after the realisation");
		}
		p->realise_line = c->lineno;
		return BL_OK;
	}
	if (wordeq(m, "accept"))
		return parse_accept(c);
	if (wordeq(m, "clip") || wordeq(m, "floor"))
		return parse_adjust(c, wordeq(m, "clip"));
	if (p->nrules >= POLICY_MAX_RULES)
		return perr(c, m->col, "more than %d rules", POLICY_MAX_RULES);
	r = &p->rules[p->nrules];
	memset(r, 0, sizeof *r);
	r->line = c->lineno;
	if (wordeq(m, "drop")) {
		r->kind = BL_RULE_DROP;
		rc = c->nw < 2 ? perr(c, c->len, "expected 'drop EXPRESSION'") : parse_drop(c, r);
	} else if (wordeq(m, "cap")) {
		r->kind = BL_RULE_CAP;
		rc = parse_cap(c, r);
	} else if (wordeq(m, "independent")) {
		r->kind = BL_RULE_INDEPENDENT;
		rc = parse_independent(c, r);
	} else if (wordeq(m, "target")) {
		r->kind = BL_RULE_TARGET;
		rc = parse_target(c, r);
	} else {
		return perr(c, m->col, "unknown method '%.*s' (expected drop, cap, target, "
			    "independent, realise, seed, clip, floor or accept)", (int)m->len, m->s);
	}
	if (rc == BL_OK && !(r->text = keep_str(p, c->line + m->col, c->len - m->col)))
		rc = perr(c, m->col, "out of memory");
	if (rc != BL_OK) {
		bl_expr_free(r->expr);
		r->expr = NULL;
		return rc;
	}
	p->nrules++;
	return BL_OK;
}

bl_policy *bl_policy_new(void)
{
	bl_policy *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	bl_buf_init(&p->errmsg, 4096);
	bl_strlist_init(&p->strings);
	return p;
}

int bl_policy_parse(bl_policy *p, const char *name, const char *text, size_t len)
{
	struct line_ctx c = {0};
	size_t pos = 0;
	int rc = BL_FAILED;

	if (!p || (!text && len) || p->parsed)
		return BL_EUSAGE;
	p->parsed = 1;
	bl_buf_reset(&p->errmsg);
	c.p = p;
	p->name = strdup(name ? name : "<policy>");
	p->text = strndup(text ? text : "", len);
	if (!p->name || !p->text) {
		bl_buf_adds(&p->errmsg, "out of memory");
		rc = BL_ENOMEM;
		goto out;
	}
	if (strlen(p->text) != len) {
		c.lineno = 1;
		for (const char *q = text; q < text + len && *q; q++)
			c.lineno += *q == '\n';
		rc = perr(&c, 0, "NUL byte in the policy");
		goto out;
	}
	if (!bl_utf8_valid(text, len, NULL)) {
		c.lineno = 1;
		rc = perr(&c, 0, "the policy is not valid UTF-8");
		goto out;
	}
	bl_sha256_hex(text, len, p->digest);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len, i;
		const char *hash;

		c.lineno++;
		c.line = text + pos;
		c.len = end - pos;
		if (c.len && c.line[c.len - 1] == '\r')
			c.len--;
		hash = memchr(c.line, '#', c.len);
		if (hash)
			c.len = (size_t)(hash - c.line);
		while (c.len && isspace((unsigned char)c.line[c.len - 1]))
			c.len--;
		c.nw = 0;
		i = 0;
		while (i < c.len) {
			while (i < c.len && isspace((unsigned char)c.line[i]))
				i++;
			if (i >= c.len)
				break;
			if (c.nw == MAX_WORDS) {
				rc = perr(&c, i, "too many words on one line");
				goto out;
			}
			c.w[c.nw].s = c.line + i;
			c.w[c.nw].col = i;
			while (i < c.len && !isspace((unsigned char)c.line[i]))
				i++;
			c.w[c.nw].len = (size_t)(c.line + i - c.w[c.nw].s);
			c.nw++;
		}
		pos = end + 1;
		if (c.nw == 0)
			continue;
		if ((rc = parse_line(&c)) != BL_OK)
			goto out;
	}
	if (p->nrules == 0) {
		bl_buf_reset(&p->errmsg);
		bl_buf_addf(&p->errmsg, "%s: no method line (drop, cap, target or independent): "
			    "the policy would change nothing", p->name);
		rc = BL_FAILED;
		goto out;
	}
	rc = BL_OK;
out:
	return rc;
}

int bl_policy_load_file(bl_policy *p, const char *path)
{
	FILE *f = NULL;
	bl_buf text;
	char chunk[8192];
	size_t n;
	int rc = BL_FAILED;

	bl_buf_init(&text, POLICY_MAX_TEXT);
	if (!p || !path)
		return BL_EUSAGE;
	if (!(f = fopen(path, "rb"))) {
		bl_buf_reset(&p->errmsg);
		bl_buf_addf(&p->errmsg, "cannot open policy '%s': %s", path, strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (bl_buf_add(&text, chunk, n) != BL_OK) {
			bl_buf_reset(&p->errmsg);
			bl_buf_addf(&p->errmsg, "policy '%s' is larger than %zu bytes", path,
				    POLICY_MAX_TEXT);
			goto out;
		}
	}
	if (ferror(f)) {
		bl_buf_reset(&p->errmsg);
		bl_buf_addf(&p->errmsg, "cannot read policy '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = bl_policy_parse(p, path, text.buf, text.len);
out:
	if (f)
		fclose(f);
	bl_buf_release(&text);
	return rc;
}

const char *bl_policy_errmsg(const bl_policy *p)
{
	return p && p->errmsg.len ? p->errmsg.buf : "no error";
}

int bl_policy_nrules(const bl_policy *p)
{
	return p ? p->nrules : 0;
}

const bl_policy_rule *bl_policy_rule_at(const bl_policy *p, int i)
{
	return p && i >= 0 && i < p->nrules ? &p->rules[i] : NULL;
}

int bl_policy_realise(const bl_policy *p)
{
	return p ? p->realise : BL_REALISE_WEIGHTS;
}

double bl_policy_max_repeat(const bl_policy *p)
{
	return p ? p->max_repeat : 0;
}

int bl_policy_seed(const bl_policy *p, uint64_t *seed)
{
	if (!p || !p->has_seed)
		return 0;
	if (seed)
		*seed = p->seed;
	return 1;
}

int bl_policy_naccepts(const bl_policy *p)
{
	return p ? p->naccepts : 0;
}

const bl_policy_accept *bl_policy_accept_at(const bl_policy *p, int i)
{
	return p && i >= 0 && i < p->naccepts ? &p->accepts[i] : NULL;
}

double bl_policy_clip_weight(const bl_policy *p, int *line)
{
	if (line)
		*line = p ? p->clip_line : 0;
	return p && p->clip_line ? p->clip_weight : 0;
}

double bl_policy_floor_ess(const bl_policy *p, int *line)
{
	if (line)
		*line = p ? p->floor_line : 0;
	return p && p->floor_line ? p->floor_ess : 0;
}

const char *bl_check_name(int check)
{
	static const char *const names[BL_NCHECKS] = {
		"cells", "ess", "weight", "share", "shift", "gap", "drop", "target", "index",
	};
	return check >= 0 && check < BL_NCHECKS ? names[check] : "unknown";
}

const char *bl_policy_text(const bl_policy *p)
{
	return p && p->text ? p->text : "";
}

const char *bl_policy_name(const bl_policy *p)
{
	return p && p->name ? p->name : "";
}

const char *bl_policy_digest(const bl_policy *p)
{
	return p ? p->digest : "";
}

const char *bl_rule_kind_name(int kind)
{
	switch (kind) {
	case BL_RULE_DROP: return "drop";
	case BL_RULE_CAP: return "cap";
	case BL_RULE_INDEPENDENT: return "independent";
	case BL_RULE_TARGET: return "target";
	default: return "unknown";
	}
}

const char *bl_realise_name(int mode)
{
	switch (mode) {
	case BL_REALISE_WEIGHTS: return "weights";
	case BL_REALISE_UPSAMPLE: return "upsample";
	case BL_REALISE_DOWNSAMPLE: return "downsample";
	default: return "unknown";
	}
}

void bl_policy_free(bl_policy *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nrules; i++)
		bl_expr_free(p->rules[i].expr);
	bl_strlist_release(&p->strings);
	bl_buf_release(&p->errmsg);
	free(p->name);
	free(p->text);
	free(p);
}
