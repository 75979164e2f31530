/*
 * prefilter.c - the literal prefilter of the tagger (bl_prefilter_*): which
 * regexes can be skipped for a caption because it lacks a literal they need.
 *
 * Two halves.  The extractor reads a rule pattern (PCRE2 source, {NAME}s
 * expanded) and proves what any match needs: a conjunction of clauses,
 * each a set of lower-case ASCII literals of which the subject must
 * contain at least one (caselessly).  It understands the regex subset the
 * rule files use and gives up - "no gate", the pattern always runs - on
 * anything it cannot prove; giving up is always correct, claiming a
 * literal that a match can do without never is.  The matcher is an
 * Aho-Corasick automaton over all clauses of a rule set, compiled to a DFA
 * over byte classes that fold ASCII case, so one pass over the caption
 * says which clauses are hit.  It is built once (bl_ruleset_compile) and
 * read-only afterwards, so threads share it.
 *
 * The extractor assumes what rules.c compiles with: caseless UTF-8
 * without PCRE2_EXTENDED.  Caseless UTF matching also lets two non-ASCII
 * characters match ASCII letters - U+017F (long s) and U+212A (Kelvin
 * sign) - so a caption holding either must bypass the gates; rules.c
 * registers both as the literals of clause 0 for that.
 */
#include "alloc_int.h"
#include "rules_int.h"

#include <stdlib.h>
#include <string.h>

/* Most strings a run of literal characters and small classes expands to
 * ("m[ae]n" is two); past it the run is cut. */
#define RUN_MAX 32
/* Most distinct characters of a class that expands into a run. */
#define CLASS_EXPAND_MAX 8
/* Clauses kept per pattern (the best ones), and the nesting depth
 * analysed. */
#define CLAUSES_MAX 4
#define DEPTH_MAX 64

/* ------------------------------------------------------------------ */
/* Literal sets and triggers                                          */
/* ------------------------------------------------------------------ */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int set_has(const bl_strlist *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i], str) == 0)
			return 1;
	return 0;
}

/* Add str unless present.  BL_OK or BL_ENOMEM. */
static int set_add(bl_strlist *s, const char *str)
{
	return set_has(s, str) ? BL_OK : bl_strlist_add(s, str);
}

static size_t set_minlen(const bl_strlist *s)
{
	size_t m = (size_t)-1;
	for (size_t i = 0; i < s->n; i++) {
		size_t n = strlen(s->items[i]);
		if (n < m)
			m = n;
	}
	return s->n ? m : 0;
}

/* How often a clause may be hit: the sum over its literals of 27^-length,
 * the chance of meeting the literal at a place of a text of random
 * letters and blanks.  Each letter makes a literal rarer, and a clause
 * of many long words ("african", "kenyan", ... "zulu") passes fewer
 * captions than one of a few short ones ("ian", "man"). */
static double clause_rate(const bl_strlist *s)
{
	double r = 0;
	for (size_t i = 0; i < s->n; i++) {
		double p = 1;
		for (size_t n = strlen(s->items[i]); n > 0 && p > 1e-12; n--)
			p /= 27;
		r += p;
	}
	return r;
}

/* Whether clause a is a better filter than b: rarer (clause_rate), then
 * a longer shortest literal, then fewer literals. */
static int better(const bl_strlist *a, const bl_strlist *b)
{
	double ra = clause_rate(a), rb = clause_rate(b);
	size_t ma = set_minlen(a), mb = set_minlen(b);
	if (ra < rb * 0.999 || rb < ra * 0.999)
		return ra < rb;
	return ma != mb ? ma > mb : a->n < b->n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void bl_trigger_init(bl_trigger *tr)
{
	tr->cl = NULL;
	tr->n = tr->a = 0;
}

void bl_trigger_release(bl_trigger *tr)
{
	for (size_t i = 0; i < tr->n; i++)
		bl_strlist_release(&tr->cl[i]);
	free(tr->cl);
	bl_trigger_init(tr);
}

/* Move clause *c (taken over, left empty) into tr.  BL_OK / BL_ENOMEM. */
static int trigger_take(bl_trigger *tr, bl_strlist *c)
{
	if (BL_ALLOC_GROW(tr->cl, tr->n + 1, tr->a) != BL_OK)
		return BL_ENOMEM;
	tr->cl[tr->n++] = *c;
	bl_strlist_init(c);
	return BL_OK;
}

/* Append every clause of src to dst (src is emptied). */
static int trigger_concat(bl_trigger *dst, bl_trigger *src)
{
	int rc = BL_OK;
	for (size_t i = 0; i < src->n && rc == BL_OK; i++)
		rc = trigger_take(dst, &src->cl[i]);
	bl_trigger_release(src);
	return rc;
}

/* Index of the best clause, or -1 when there is none. */
static long trigger_best(const bl_trigger *tr)
{
	long b = -1;
	for (size_t i = 0; i < tr->n; i++)
		if (b < 0 || better(&tr->cl[i], &tr->cl[b]))
			b = (long)i;
	return b;
}

/* ------------------------------------------------------------------ */
/* The extractor                                                       */
/* ------------------------------------------------------------------ */

/* What the big groups of earlier patterns proved, by their text. */
typedef struct pfmemo pfmemo;

typedef struct px {
	const char *p, *end;
	int fail;  /* a construct it does not analyse: no gate at all */
	int nomem;
	int depth;
	pfmemo *memo; /* NULL: no memory between patterns */
} px;

/* What one item of a sequence is. */
enum { IT_ZW, IT_NONLIT, IT_CHARS, IT_GROUP, IT_BOUNDARY };

/* A word boundary (\b) inside a literal: the scan feeds this byte where
 * the caption passes between a word character ([A-Za-z0-9_]) and a
 * non-word one, so "\bman\b" needs the whole word, not "woman" or
 * "many".  Captions' views hold no control characters. */
#define BOUNDARY '\x01'

/*
 * What a sequence, an alternation or a group proves: its clauses, and
 * when known (has_pre) the strings one of which every match of it starts
 * with ("j(?:ackets?|eans)" starts with "jacket" or "jeans"), so that a
 * literal run before a group extends into it.
 */
typedef struct ares {
	bl_trigger cl;
	bl_strlist pre;
	int has_pre;
} ares;

typedef struct item {
	int kind;
	unsigned char chars[CLASS_EXPAND_MAX]; /* IT_CHARS, lower case */
	int nchars;
	ares group; /* IT_GROUP */
} item;

static void ares_init(ares *a)
{
	bl_trigger_init(&a->cl);
	bl_strlist_init(&a->pre);
	a->has_pre = 0;
}

static void ares_release(ares *a)
{
	bl_trigger_release(&a->cl);
	bl_strlist_release(&a->pre);
	a->has_pre = 0;
}

static int at(const px *x, size_t k)
{
	return x->p + k < x->end ? (unsigned char)x->p[k] : -1;
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Skip past the next `close` (for \x{..}, \p{..}, \g<..>, (?#..)); fail
 * when there is none. */
static void skip_to(px *x, char close)
{
	const char *q = memchr(x->p, close, (size_t)(x->end - x->p));
	if (!q) {
		x->fail = 1;
		x->p = x->end;
	} else {
		x->p = q + 1;
	}
}

/* Skip the rest of a UTF-8 character whose lead byte was just read. */
static void skip_utf8_tail(px *x)
{
	while (x->p < x->end && ((unsigned char)*x->p & 0xc0) == 0x80)
		x->p++;
}

/*
 * A backslash escape outside a class, x->p just past the backslash.
 * Sets it->kind (and the character for escaped punctuation).
 */
static void parse_escape(px *x, item *it)
{
	int c = at(x, 0);

	it->kind = IT_NONLIT;
	if (c < 0) {
		x->fail = 1;
		return;
	}
	x->p++;
	if (c >= 0x80) { /* an escaped non-ASCII character */
		skip_utf8_tail(x);
		return;
	}
	if (!is_alnum(c)) { /* escaped punctuation or blank: itself */
		it->kind = IT_CHARS;
		it->chars[0] = (unsigned char)c;
		it->nchars = 1;
		return;
	}
	switch (c) {
	case 'b':
		it->kind = IT_BOUNDARY;
		break;
	case 'B': case 'A': case 'z': case 'Z': case 'G': case 'K':
	case 'E': /* \E without \Q is ignored */
		it->kind = IT_ZW;
		break;
	case 'd': case 'D': case 's': case 'S': case 'w': case 'W':
	case 'h': case 'H': case 'v': case 'V': case 'R': case 'X': case 'C':
	case 'e': case 'f': case 'n': case 'r': case 't': case 'a':
		break;
	case 'N': /* \N{U+...} or \N followed by a {n} quantifier */
		if (at(x, 0) == '{')
			x->fail = 1;
		break;
	case 'p': case 'P':
		if (at(x, 0) == '{')
			skip_to(x, '}');
		else if (x->p < x->end)
			x->p++;
		break;
	case 'x':
		if (at(x, 0) == '{') {
			skip_to(x, '}');
		} else {
			for (int k = 0; k < 2 && is_hex(at(x, 0)); k++)
				x->p++;
		}
		break;
	case 'o':
		if (at(x, 0) == '{')
			skip_to(x, '}');
		else
			x->fail = 1;
		break;
	case 'c':
		if (x->p < x->end)
			x->p++;
		else
			x->fail = 1;
		break;
	case 'Q': { /* quoted text up to \E: one unanalysed item */
		const char *q = x->p;
		while (q + 1 < x->end && !(q[0] == '\\' && q[1] == 'E'))
			q++;
		x->p = q + 1 < x->end ? q + 2 : x->end;
		break;
	}
	case 'g': /* back-reference; \g<..> \g'..' are subroutine calls */
		if (at(x, 0) == '{') {
			skip_to(x, '}');
		} else if (at(x, 0) == '<' || at(x, 0) == '\'') {
			x->fail = 1;
		} else {
			if (at(x, 0) == '-' || at(x, 0) == '+')
				x->p++;
			while (is_digit(at(x, 0)))
				x->p++;
		}
		break;
	case 'k':
		if (at(x, 0) == '<')
			skip_to(x, '>');
		else if (at(x, 0) == '\'') {
			x->p++;
			skip_to(x, '\'');
		} else if (at(x, 0) == '{')
			skip_to(x, '}');
		else
			x->fail = 1;
		break;
	default:
		if (is_digit(c)) { /* back-reference or octal: not a literal */
			while (is_digit(at(x, 0)))
				x->p++;
		} else {
			x->fail = 1; /* \u \L \i ...: not analysed */
		}
		break;
	}
}

/* Add ASCII character c (folded) to a class's expansion; 0 when the
 * class grows past CLASS_EXPAND_MAX. */
static int class_add(item *it, int c)
{
	c = lower(c);
	for (int i = 0; i < it->nchars; i++)
		if (it->chars[i] == c)
			return 1;
	if (it->nchars == CLASS_EXPAND_MAX)
		return 0;
	it->chars[it->nchars++] = (unsigned char)c;
	return 1;
}

/*
 * A character class, x->p just past the '['.  A class of a few plain
 * ASCII characters ("[ae]", "[- ]") becomes IT_CHARS and extends a
 * literal run; any other class is IT_NONLIT.
 */
static void parse_class(px *x, item *it)
{
	int expand = 1, first = 1, prev = -1;

	it->kind = IT_NONLIT;
	it->nchars = 0;
	if (at(x, 0) == '^') {
		expand = 0;
		x->p++;
	}
	for (;;) {
		int c = at(x, 0), lit = -1;
		if (c < 0) {
			x->fail = 1;
			return;
		}
		if (c == ']' && !first) {
			x->p++;
			break;
		}
		first = 0;
		x->p++;
		if (c == '[' && (at(x, 0) == ':' || at(x, 0) == '.' || at(x, 0) == '=')) {
			/* POSIX class [:alpha:] */
			char kind = (char)at(x, 0);
			const char *q = x->p + 1;
			while (q + 1 < x->end && !(q[0] == kind && q[1] == ']'))
				q++;
			if (q + 1 >= x->end) {
				x->fail = 1;
				return;
			}
			x->p = q + 2;
			expand = 0;
			prev = -1;
			continue;
		}
		if (c == '\\') {
			int e = at(x, 0);
			if (e < 0) {
				x->fail = 1;
				return;
			}
			x->p++;
			if (e < 0x80 && !is_alnum(e)) {
				lit = e;
			} else {
				expand = 0;
				if (e >= 0x80)
					skip_utf8_tail(x);
				else if ((e == 'x' || e == 'o' || e == 'p' || e == 'P') &&
					 at(x, 0) == '{')
					skip_to(x, '}');
				else if (e == 'p' || e == 'P' || e == 'c')
					x->p += x->p < x->end;
				else if (e == 'Q' || e == 'E' || e == 'N')
					x->fail = 1;
				/* \xhh and octal digits are hex/octal digits,
				 * never ']': the loop skips them as members */
			}
		} else if (c >= 0x80) {
			expand = 0;
			skip_utf8_tail(x);
		} else if (c == '-' && prev >= 0 && at(x, 0) >= 0 && at(x, 0) != ']') {
			/* a range prev-hi */
			int hi = at(x, 0);
			x->p++;
			if (hi == '\\' || hi == '[' || hi >= 0x80 || hi < prev) {
				/* an escape or class as the end: leave it to
				 * PCRE2, analyse nothing */
				x->fail = 1;
				return;
			}
			for (int k = prev + 1; k <= hi && expand; k++)
				expand = class_add(it, k);
			prev = -1;
			continue;
		} else {
			lit = c;
		}
		prev = lit;
		if (lit >= 0 && expand)
			expand = class_add(it, lit);
	}
	if (expand && it->nchars > 0)
		it->kind = IT_CHARS;
}

/* A quantifier after an item: *min_out gets its minimum (1 when there is
 * none), *max_out its maximum (-1: unbounded).  Returns 1 when there was
 * one. */
static int parse_quant(px *x, long *min_out, long *max_out)
{
	int c = at(x, 0);
	int got = 0;

	*min_out = 1;
	*max_out = 1;
	if (c == '*' || c == '?') {
		*min_out = 0;
		*max_out = c == '?' ? 1 : -1;
		x->p++;
		got = 1;
	} else if (c == '+') {
		*max_out = -1;
		x->p++;
		got = 1;
	} else if (c == '{') {
		/* {n} {n,} {n,m} {,m}: digits, commas and blanks only */
		const char *q = x->p + 1;
		int digits = 0;
		while (q < x->end && (is_digit((unsigned char)*q) || *q == ',' || *q == ' '))
			digits += is_digit((unsigned char)*q++);
		if (q < x->end && *q == '}' && digits) {
			const char *d = x->p + 1;
			long m = 0;
			while (*d == ' ')
				d++;
			while (is_digit((unsigned char)*d) && m < 100000)
				m = m * 10 + (*d++ - '0');
			*min_out = m;
			*max_out = -1;
			while (*d == ' ')
				d++;
			if (*d == '}') {
				*max_out = m;
			} else if (*d == ',') {
				long mx = 0;
				int any = 0;
				d++;
				while (*d == ' ')
					d++;
				while (is_digit((unsigned char)*d) && mx < 100000) {
					mx = mx * 10 + (*d++ - '0');
					any = 1;
				}
				if (any)
					*max_out = mx;
			}
			x->p = q + 1;
			got = 1;
		}
	}
	if (got && (at(x, 0) == '?' || at(x, 0) == '+'))
		x->p++; /* lazy or possessive */
	return got;
}

static void parse_alt(px *x, ares *out);

/* Group contents up to and including ')'. */
/* Groups shorter than this are read again each time: cheap enough. */
#define MEMO_MIN 256

typedef struct memo_ent {
	uint64_t hash;
	size_t len;
	char *text; /* the group's body */
	ares res;
} memo_ent;

struct pfmemo {
	memo_ent *v;
	size_t n, a;
};

static uint64_t text_hash(const char *s, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037);
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * UINT64_C(1099511628211);
	return h;
}

/* The end of the group body starting at s (its ')'), or NULL: escapes,
 * classes and nested groups are stepped over. */
static const char *group_end(const char *s, const char *end)
{
	int depth = 0;
	while (s < end) {
		if (*s == '\\') {
			s += 2;
			continue;
		}
		if (*s == '[') {
			s++;
			if (s < end && *s == '^')
				s++;
			if (s < end && *s == ']')
				s++;
			while (s < end && *s != ']')
				s += *s == '\\' ? 2 : 1;
			s++;
			continue;
		}
		if (*s == '(')
			depth++;
		else if (*s == ')' && depth-- == 0)
			return s;
		s++;
	}
	return NULL;
}

/* Copy src into dst (empty).  BL_OK or BL_ENOMEM. */
static int strlist_copy(bl_strlist *dst, const bl_strlist *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (bl_strlist_add(dst, src->items[i]) != BL_OK)
			return BL_ENOMEM;
	return BL_OK;
}

static int ares_copy(ares *dst, const ares *src)
{
	dst->has_pre = src->has_pre;
	if (strlist_copy(&dst->pre, &src->pre) != BL_OK)
		return BL_ENOMEM;
	for (size_t i = 0; i < src->cl.n; i++) {
		bl_strlist c;
		bl_strlist_init(&c);
		if (strlist_copy(&c, &src->cl.cl[i]) != BL_OK ||
		    trigger_take(&dst->cl, &c) != BL_OK) {
			bl_strlist_release(&c);
			return BL_ENOMEM;
		}
	}
	return BL_OK;
}

static memo_ent *memo_find(const pfmemo *m, const char *s, size_t n, uint64_t h)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].hash == h && m->v[i].len == n && memcmp(m->v[i].text, s, n) == 0)
			return &m->v[i];
	return NULL;
}

/* Remember what body s[0..n) proved (a copy); out of memory is no error:
 * it is just not remembered. */
static void memo_put(pfmemo *m, const char *s, size_t n, uint64_t h, const ares *res)
{
	memo_ent *e;
	if (BL_ALLOC_GROW(m->v, m->n + 1, m->a) != BL_OK)
		return;
	e = &m->v[m->n];
	e->text = malloc(n);
	if (!e->text)
		return;
	memcpy(e->text, s, n);
	e->hash = h;
	e->len = n;
	ares_init(&e->res);
	if (ares_copy(&e->res, res) != BL_OK) {
		ares_release(&e->res);
		free(e->text);
		return;
	}
	m->n++;
}

static void memo_free(pfmemo *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].text);
		ares_release(&m->v[i].res);
	}
	free(m->v);
	free(m);
}

static void parse_group_body(px *x, ares *out)
{
	const char *start = x->p, *close = NULL;
	uint64_t h = 0;

	if (x->memo && (close = group_end(x->p, x->end)) != NULL &&
	    (size_t)(close - start) >= MEMO_MIN) {
		const memo_ent *e;
		h = text_hash(start, (size_t)(close - start));
		e = memo_find(x->memo, start, (size_t)(close - start), h);
		if (e) {
			if (ares_copy(out, &e->res) != BL_OK)
				x->nomem = 1;
			x->p = close + 1;
			return;
		}
	} else {
		close = NULL;
	}
	parse_alt(x, out);
	if (at(x, 0) == ')')
		x->p++;
	else
		x->fail = 1;
	if (close && x->p == close + 1 && !x->fail && !x->nomem)
		memo_put(x->memo, start, (size_t)(close - start), h, out);
}

/* A group, x->p just past the '('. */
static void parse_group(px *x, item *it)
{
	ares scratch;
	int c = at(x, 0);

	it->kind = IT_GROUP;
	if (c == '*') { /* (*VERB), (*pla:...): not analysed */
		x->fail = 1;
		return;
	}
	if (c != '?') { /* capturing group */
		parse_group_body(x, &it->group);
		return;
	}
	x->p++;
	c = at(x, 0);
	if (c == '#') {
		it->kind = IT_ZW;
		skip_to(x, ')');
		return;
	}
	if (c == '=' || c == '!' ||
	    (c == '<' && (at(x, 1) == '=' || at(x, 1) == '!'))) {
		/* lookaround: zero width, its contents prove nothing here */
		x->p += c == '<' ? 2 : 1;
		ares_init(&scratch);
		parse_group_body(x, &scratch);
		ares_release(&scratch);
		it->kind = IT_ZW;
		return;
	}
	if (c == ':' || c == '>' || c == '|') {
		x->p++;
		parse_group_body(x, &it->group);
		return;
	}
	if (c == '<' || c == '\'' || (c == 'P' && at(x, 1) == '<')) {
		/* named group */
		char close = c == '\'' ? '\'' : '>';
		x->p += c == 'P' ? 2 : 1;
		skip_to(x, close);
		if (!x->fail)
			parse_group_body(x, &it->group);
		return;
	}
	/* option letters: (?i) (?-i) (?s-i: ... ); x changes the syntax */
	while (x->p < x->end) {
		c = at(x, 0);
		if (c == 'i' || c == 'm' || c == 's' || c == 'n' || c == 'U' ||
		    c == 'J' || c == '-' || c == '^') {
			x->p++;
			continue;
		}
		break;
	}
	if (c == ':') {
		x->p++;
		parse_group_body(x, &it->group);
	} else if (c == ')') {
		x->p++;
		it->kind = IT_ZW;
	} else {
		x->fail = 1; /* (?x) (?( (?R) (?1) (?&n) (?P=n) (?C ... */
	}
}

/* One atom at x->p (not '|' or ')'). */
static void parse_atom(px *x, item *it)
{
	int c = at(x, 0);

	it->kind = IT_NONLIT;
	it->nchars = 0;
	x->p++;
	switch (c) {
	case '(':
		if (++x->depth > DEPTH_MAX)
			x->fail = 1;
		else
			parse_group(x, it);
		x->depth--;
		break;
	case '[':
		parse_class(x, it);
		break;
	case '\\':
		parse_escape(x, it);
		break;
	case '^': case '$':
		it->kind = IT_ZW;
		break;
	case '.': case '{':
		break;
	case '*': case '+': case '?':
		x->fail = 1; /* a quantifier with nothing before it */
		break;
	default:
		if (c >= 0x80) {
			skip_utf8_tail(x);
		} else {
			it->kind = IT_CHARS;
			it->chars[0] = (unsigned char)lower(c);
			it->nchars = 1;
		}
		break;
	}
}

/* A sequence being read: the literal run being built (every string it
 * may spell), and whether it began where the sequence's matches begin. */
typedef struct seqst {
	bl_strlist run;
	int pre_open;  /* nothing consumed before the run */
	ares *res;
} seqst;

static int cmp_len(const void *a, const void *b)
{
	size_t la = strlen(*(const char *const *)a), lb = strlen(*(const char *const *)b);
	return la != lb ? (la < lb ? -1 : 1) : strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Drop the strings of s that another string of s makes redundant: one
 * that contains it (as_prefix 0; for clauses) or starts with it
 * (as_prefix 1; for prefix sets); duplicates too.  The order of what
 * stays changes (sets are compared sorted).  Sorted first, so that a
 * prefix set of hundreds of words costs one pass, and a clause compares
 * each string only with the shorter ones kept.
 */
static void prune(bl_strlist *s, int as_prefix)
{
	size_t k = 0;

	if (s->n < 2)
		return;
	qsort(s->items, s->n, sizeof *s->items, as_prefix ? cmp_str : cmp_len);
	for (size_t i = 0; i < s->n; i++) {
		char *a = s->items[i];
		int drop = 0;
		if (as_prefix) { /* sorted: a kept prefix of a is the last kept */
			drop = k > 0 && strncmp(a, s->items[k - 1],
						strlen(s->items[k - 1])) == 0;
		} else {
			/* a kept string can be in a only if its first byte is */
			uint64_t has[4] = {0, 0, 0, 0};
			for (const unsigned char *c = (const unsigned char *)a; *c; c++)
				has[*c >> 6] |= UINT64_C(1) << (*c & 63);
			for (size_t j = 0; j < k && !drop; j++) {
				unsigned char f = (unsigned char)s->items[j][0];
				drop = (has[f >> 6] >> (f & 63) & 1) &&
				       strstr(a, s->items[j]) != NULL;
			}
		}
		if (drop)
			free(a);
		else
			s->items[k++] = a;
	}
	s->n = k;
}

/* Sort s and drop its duplicates. */
static void dedupe(bl_strlist *s)
{
	size_t k = 0;

	if (s->n < 2)
		return;
	qsort(s->items, s->n, sizeof *s->items, cmp_str);
	for (size_t i = 0; i < s->n; i++) {
		if (k > 0 && strcmp(s->items[i], s->items[k - 1]) == 0)
			free(s->items[i]);
		else
			s->items[k++] = s->items[i];
	}
	s->n = k;
}

/* End the run: it becomes a clause, and the sequence's prefix set when
 * it started the sequence.  A run that may spell "" (only optional
 * characters) proves nothing. */
static int only_boundaries(const char *s)
{
	for (; *s; s++)
		if (*s != BOUNDARY)
			return 0;
	return 1;
}

static void run_flush(px *x, seqst *st)
{
	int bare = 0;

	/* a run of boundaries alone proves nothing either */
	for (size_t i = 0; i < st->run.n && !bare; i++)
		bare = only_boundaries(st->run.items[i]);
	if (st->run.n > 0 && (set_minlen(&st->run) == 0 || bare)) {
		st->pre_open = 0;
	} else if (st->run.n > 0) {
		if (st->pre_open && !st->res->has_pre) {
			for (size_t i = 0; i < st->run.n && !x->nomem; i++)
				if (set_add(&st->res->pre, st->run.items[i]) != BL_OK)
					x->nomem = 1;
			prune(&st->res->pre, 1);
			st->res->has_pre = 1;
		}
		st->pre_open = 0;
		prune(&st->run, 0);
		if (trigger_take(&st->res->cl, &st->run) != BL_OK)
			x->nomem = 1;
	}
	bl_strlist_release(&st->run);
}

/* Whether the run holds only word boundaries (and something). */
static int bare_run(const bl_strlist *run)
{
	for (size_t i = 0; i < run->n; i++)
		if (!only_boundaries(run->items[i]) || !run->items[i][0])
			return 0;
	return run->n > 0;
}

/* The clause of the boundaries of the run followed by each of pre's
 * strings; the run ends. */
static void boundary_clause(px *x, seqst *st, const bl_strlist *pre)
{
	bl_strlist c;

	bl_strlist_init(&c);
	for (size_t i = 0; i < st->run.n && !x->nomem; i++) {
		size_t hn = strlen(st->run.items[i]);
		for (size_t k = 0; k < pre->n && !x->nomem; k++) {
			size_t tn = strlen(pre->items[k]);
			char *str = malloc(hn + tn + 1);
			if (!str) {
				x->nomem = 1;
				break;
			}
			memcpy(str, st->run.items[i], hn);
			memcpy(str + hn, pre->items[k], tn + 1);
			if (bl_strlist_add(&c, str) != BL_OK)
				x->nomem = 1;
			free(str);
		}
	}
	if (!x->nomem && c.n > 0) {
		prune(&c, 0);
		if (trigger_take(&st->res->cl, &c) != BL_OK)
			x->nomem = 1;
	}
	bl_strlist_release(&c);
	bl_strlist_release(&st->run);
	st->pre_open = 0;
}

/* Extend the run by one of v[0..n) (the cross product); a run that
 * would grow past RUN_MAX strings is ended and a new one started. */
static void run_cross(px *x, seqst *st, char *const *v, size_t n)
{
	bl_strlist next;

	if (st->run.n * n > RUN_MAX)
		run_flush(x, st);
	if (n > RUN_MAX)
		return; /* too many to follow: the run stays ended */
	bl_strlist_init(&next);
	for (size_t i = 0; i < (st->run.n ? st->run.n : 1) && !x->nomem; i++) {
		const char *head = st->run.n ? st->run.items[i] : "";
		size_t hn = strlen(head);
		for (size_t k = 0; k < n && !x->nomem; k++) {
			size_t tn = strlen(v[k]);
			char *str = malloc(hn + tn + 1);
			if (!str) {
				x->nomem = 1;
				break;
			}
			memcpy(str, head, hn);
			memcpy(str + hn, v[k], tn + 1);
			if (set_add(&next, str) != BL_OK)
				x->nomem = 1;
			free(str);
		}
	}
	bl_strlist_release(&st->run);
	st->run = next;
}

/* Extend the run by one of it->chars, or by nothing too when optional. */
static void run_chars(px *x, seqst *st, const item *it, int optional)
{
	char buf[CLASS_EXPAND_MAX + 1][2];
	char *v[CLASS_EXPAND_MAX + 1];
	int n = 0;

	for (int k = 0; k < it->nchars; k++) {
		buf[n][0] = (char)it->chars[k];
		buf[n][1] = '\0';
		v[n] = buf[n];
		n++;
	}
	if (optional) {
		buf[n][0] = '\0';
		v[n] = buf[n];
		n++;
	}
	run_cross(x, st, v, (size_t)n);
}

/* A sequence up to '|', ')' or the end: the clauses of its required
 * items, each literal run being one clause; a required group's prefix
 * set extends the run before it. */
static void parse_seq(px *x, ares *out)
{
	seqst st;

	bl_strlist_init(&st.run);
	st.pre_open = 1;
	st.res = out;
	while (x->p < x->end && *x->p != '|' && *x->p != ')' && !x->fail && !x->nomem) {
		item it;
		long qmin, qmax;
		int q;

		memset(&it, 0, sizeof it);
		ares_init(&it.group);
		parse_atom(x, &it);
		q = x->fail ? 0 : parse_quant(x, &qmin, &qmax);
		if (!q)
			qmin = qmax = 1;
		switch (it.kind) {
		case IT_CHARS:
			if (qmin == 0 && qmax == 1) { /* "s?": with or without */
				run_chars(x, &st, &it, 1);
			} else if (qmin == 0) {
				run_flush(x, &st);
				st.pre_open = 0;
			} else {
				run_chars(x, &st, &it, 0);
				if (q) { /* "s+", "s{2}": once, then the run ends */
					run_flush(x, &st);
					st.pre_open = 0;
				}
			}
			break;
		case IT_GROUP:
			if (qmin > 0 && it.group.has_pre && bare_run(&st.run) &&
			    st.run.n * it.group.pre.n > RUN_MAX) {
				/* "\b" before a big alternation: too many
				 * strings to follow, but each of its prefixes
				 * starts at a word boundary - one clause */
				boundary_clause(x, &st, &it.group.pre);
			} else if (qmin > 0 && it.group.has_pre) {
				run_cross(x, &st, it.group.pre.items, it.group.pre.n);
			}
			run_flush(x, &st);
			st.pre_open = 0;
			if (qmin > 0 && trigger_concat(&out->cl, &it.group.cl) != BL_OK)
				x->nomem = 1;
			break;
		case IT_ZW: /* consumes nothing: a run ends, a prefix goes on */
			run_flush(x, &st);
			break;
		case IT_BOUNDARY: { /* zero-width, but the scan sees it */
			static char b[2] = {BOUNDARY, '\0'};
			char *v[1] = {b};
			if (q && qmin == 0)
				run_flush(x, &st); /* "\b?" proves nothing */
			else
				run_cross(x, &st, v, 1);
			break;
		}
		default: /* not a literal: the run ends */
			run_flush(x, &st);
			st.pre_open = 0;
			break;
		}
		ares_release(&it.group);
	}
	run_flush(x, &st);
	bl_strlist_release(&st.run);
}

/* Alternatives up to ')' or the end.  One alternative: its clauses.
 * Several: one clause, the union of each alternative's best one (none
 * when an alternative has none); the prefix set is the union too. */
static void parse_alt(px *x, ares *out)
{
	ares alt;
	bl_strlist uni;
	int open = 1, pre = 1;

	parse_seq(x, out);
	if (at(x, 0) != '|' || x->fail || x->nomem)
		return;
	bl_strlist_init(&uni);
	alt = *out;
	ares_init(out);
	for (;;) {
		long b = trigger_best(&alt.cl);
		if (b < 0)
			open = 0;
		/* duplicates go after the loop, in one sort */
		for (size_t i = 0; open && b >= 0 && i < alt.cl.cl[b].n; i++)
			if (bl_strlist_add(&uni, alt.cl.cl[b].items[i]) != BL_OK)
				x->nomem = 1;
		if (!alt.has_pre)
			pre = 0;
		for (size_t i = 0; pre && i < alt.pre.n; i++)
			if (bl_strlist_add(&out->pre, alt.pre.items[i]) != BL_OK)
				x->nomem = 1;
		ares_release(&alt);
		if (at(x, 0) != '|' || x->fail || x->nomem)
			break;
		x->p++;
		parse_seq(x, &alt);
	}
	dedupe(&uni);
	if (open && uni.n > 0 && trigger_take(&out->cl, &uni) != BL_OK)
		x->nomem = 1;
	out->has_pre = pre;
	if (!pre)
		bl_strlist_release(&out->pre);
	else
		dedupe(&out->pre);
	bl_strlist_release(&uni);
}

static int clause_cmp(const void *a, const void *b)
{
	const bl_strlist *ca = a, *cb = b;
	if (better(ca, cb))
		return -1;
	if (better(cb, ca))
		return 1;
	return 0;
}

/* Whether a caption hitting clause b always hits clause a too: every
 * literal of b contains one of a. */
static int implies(const bl_strlist *b, const bl_strlist *a)
{
	for (size_t i = 0; i < b->n; i++) {
		int any = 0;
		for (size_t j = 0; j < a->n && !any; j++)
			any = strstr(b->items[i], a->items[j]) != NULL;
		if (!any)
			return 0;
	}
	return 1;
}

static int extract(pfmemo *memo, const char *pat, size_t len, bl_trigger *out);

int bl_prefilter_extract(const char *pat, size_t len, bl_trigger *out)
{
	return extract(NULL, pat, len, out);
}

static int extract(pfmemo *memo, const char *pat, size_t len, bl_trigger *out)
{
	px x;
	ares res;
	size_t k = 0;

	memset(&x, 0, sizeof x);
	x.memo = memo;
	x.p = pat;
	x.end = pat + len;
	ares_init(&res);
	parse_alt(&x, &res);
	*out = res.cl;
	bl_strlist_release(&res.pre);
	if (x.p != x.end)
		x.fail = 1; /* a stray ')' */
	if (x.nomem || x.fail) {
		bl_trigger_release(out);
		return x.nomem ? BL_ENOMEM : 0;
	}
	/* single characters filter nothing; a clause that another implies
	 * adds nothing; the best CLAUSES_MAX stay, literals sorted */
	for (size_t i = 0; i < out->n; i++) {
		prune(&out->cl[i], 0);
		if (out->cl[i].n > 1)
			qsort(out->cl[i].items, out->cl[i].n,
			      sizeof *out->cl[i].items, cmp_str);
	}
	for (size_t i = 0; i < out->n; i++) {
		bl_strlist *c = &out->cl[i];
		int drop = set_minlen(c) < 2;
		for (size_t j = 0; j < out->n && !drop; j++)
			if (j != i && out->cl[j].n > 0 && set_minlen(&out->cl[j]) >= 2)
				/* of two equivalent clauses the first stays */
				drop = implies(&out->cl[j], c) &&
				       (j < i || !implies(c, &out->cl[j]));
		if (drop)
			bl_strlist_release(c);
	}
	for (size_t i = 0; i < out->n; i++)
		if (out->cl[i].n > 0)
			out->cl[k++] = out->cl[i];
	out->n = k;
	if (out->n > 1)
		qsort(out->cl, out->n, sizeof *out->cl, clause_cmp);
	while (out->n > CLAUSES_MAX)
		bl_strlist_release(&out->cl[--out->n]);
	if (out->n == 0)
		bl_trigger_release(out);
	return out->n > 0;
}

int bl_prefilter_describe(const char *pat, size_t len, bl_buf *out)
{
	bl_trigger tr;
	int rc = bl_prefilter_extract(pat, len, &tr);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < tr.n && rc >= 0; i++) {
		if (i && bl_buf_adds(out, " & ") != BL_OK)
			rc = BL_ENOMEM;
		if (rc >= 0 && bl_buf_addch(out, '{') != BL_OK)
			rc = BL_ENOMEM;
		for (size_t j = 0; j < tr.cl[i].n && rc >= 0; j++) {
			if (j && bl_buf_addch(out, ',') != BL_OK)
				rc = BL_ENOMEM;
			for (const char *c = tr.cl[i].items[j]; *c && rc >= 0; c++)
				if ((*c == BOUNDARY ? bl_buf_adds(out, "\\b")
						    : bl_buf_addch(out, *c)) != BL_OK)
					rc = BL_ENOMEM;
		}
		if (rc >= 0 && bl_buf_addch(out, '}') != BL_OK)
			rc = BL_ENOMEM;
	}
	bl_trigger_release(&tr);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The matcher: Aho-Corasick as a DFA over byte classes               */
/* ------------------------------------------------------------------ */

/* A literal waiting for bl_prefilter_build. */
typedef struct plit {
	char *s;
	size_t len;
	int id;
} plit;

struct bl_prefilter {
	plit *lits;
	size_t nlits, alits;
	int nids;           /* clause ids are 0..nids-1 */
	int built;
	unsigned char cls[256]; /* byte -> class; 0 is "in no literal" */
	int ncls;
	int bcls;               /* class of BOUNDARY, 0 when no literal has one */
	uint32_t nstates;
	/* delta[state * ncls + class] = next state * 2 + (1 if it has
	 * outputs) */
	uint32_t *delta;
	uint32_t *out_off; /* outputs of state s: out_ids[out_off[s] ..
			    * out_off[s + 1]) */
	uint32_t *out_ids;
	pfmemo *memo; /* what big groups proved, until built */
};

bl_prefilter *bl_prefilter_new(void)
{
	return calloc(1, sizeof(bl_prefilter));
}

void bl_prefilter_free(bl_prefilter *pf)
{
	if (!pf)
		return;
	for (size_t i = 0; i < pf->nlits; i++)
		free(pf->lits[i].s);
	free(pf->lits);
	free(pf->delta);
	free(pf->out_off);
	free(pf->out_ids);
	memo_free(pf->memo);
	free(pf);
}

int bl_prefilter_extract_in(bl_prefilter *pf, const char *pat, size_t len,
			    bl_trigger *out)
{
	if (pf && !pf->built && !pf->memo)
		pf->memo = calloc(1, sizeof *pf->memo); /* NULL: no memory kept */
	return extract(pf && !pf->built ? pf->memo : NULL, pat, len, out);
}

/* Whether byte c is a word character for \b: ASCII letters, digits, _. */
static int word_byte(unsigned c)
{
	return (c | 0x20) - 'a' < 26u || c - '0' < 10u || c == '_';
}

int bl_prefilter_add(bl_prefilter *pf, const char *lit, size_t len, int id)
{
	plit *l;

	if (!pf || !lit || len == 0 || id < 0 || pf->built)
		return BL_EUSAGE;
	if (BL_ALLOC_GROW(pf->lits, pf->nlits + 1, pf->alits) != BL_OK)
		return BL_ENOMEM;
	l = &pf->lits[pf->nlits];
	/* the scan sees a boundary wherever the text passes between word
	 * and non-word bytes, so the literal must hold one there too */
	l->s = malloc(2 * len + 1);
	if (!l->s)
		return BL_ENOMEM;
	l->len = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)lower((unsigned char)lit[i]);
		if (c != BOUNDARY && l->len > 0) {
			unsigned char prev = (unsigned char)l->s[l->len - 1];
			if (prev != BOUNDARY && word_byte(prev) != word_byte(c))
				l->s[l->len++] = BOUNDARY;
		}
		if (c == BOUNDARY && l->len > 0 && l->s[l->len - 1] == BOUNDARY)
			continue;
		l->s[l->len++] = (char)c;
	}
	l->id = id;
	pf->nlits++;
	if (id >= pf->nids)
		pf->nids = id + 1;
	return BL_OK;
}

int bl_prefilter_nids(const bl_prefilter *pf)
{
	return pf ? pf->nids : 0;
}

/* Outputs of one trie node while building. */
typedef struct outl {
	uint32_t *v;
	size_t n, a;
} outl;

static int outl_add(outl *o, uint32_t id)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i] == id)
			return BL_OK;
	if (BL_ALLOC_GROW(o->v, o->n + 1, o->a) != BL_OK)
		return BL_ENOMEM;
	o->v[o->n++] = id;
	return BL_OK;
}

int bl_prefilter_build(bl_prefilter *pf)
{
	uint32_t *go = NULL, *fail = NULL, *queue = NULL;
	outl *outs = NULL;
	size_t maxstates = 1, nout = 0;
	uint32_t n = 1;
	int rc = BL_ENOMEM;

	if (!pf || pf->built)
		return BL_EUSAGE;
	/* byte classes: one per byte some literal holds; upper-case ASCII
	 * shares its lower-case letter's class */
	memset(pf->cls, 0, sizeof pf->cls);
	pf->ncls = 1;
	for (size_t i = 0; i < pf->nlits; i++) {
		maxstates += pf->lits[i].len;
		for (size_t k = 0; k < pf->lits[i].len; k++) {
			unsigned char b = (unsigned char)pf->lits[i].s[k];
			if (!pf->cls[b])
				pf->cls[b] = (unsigned char)pf->ncls++;
		}
	}
	for (int c = 'A'; c <= 'Z'; c++)
		pf->cls[c] = pf->cls[c + ('a' - 'A')];
	pf->bcls = pf->cls[(unsigned char)BOUNDARY];
	if (maxstates > UINT32_MAX / 2 / (size_t)pf->ncls) {
		rc = BL_FAILED;
		goto out;
	}
	/* the trie; go[] is 0 for "no edge" (the root is nobody's child) */
	go = calloc(maxstates * (size_t)pf->ncls, sizeof *go);
	outs = calloc(maxstates, sizeof *outs);
	fail = calloc(maxstates, sizeof *fail);
	queue = malloc(maxstates * sizeof *queue);
	if (!go || !outs || !fail || !queue)
		goto out;
	for (size_t i = 0; i < pf->nlits; i++) {
		uint32_t s = 0;
		for (size_t k = 0; k < pf->lits[i].len; k++) {
			uint32_t *e = &go[(size_t)s * pf->ncls +
					  pf->cls[(unsigned char)pf->lits[i].s[k]]];
			if (!*e)
				*e = n++;
			s = *e;
		}
		if (outl_add(&outs[s], (uint32_t)pf->lits[i].id) != BL_OK)
			goto out;
	}
	/* breadth first: failure links, inherited outputs, and the missing
	 * edges filled in, which turns the trie into a DFA */
	{
		size_t qh = 0, qt = 0;
		queue[qt++] = 0;
		while (qh < qt) {
			uint32_t u = queue[qh++];
			for (int c = 0; c < pf->ncls; c++) {
				uint32_t *e = &go[(size_t)u * pf->ncls + c];
				if (*e && (u != 0 || *e != 0)) {
					uint32_t v = *e;
					uint32_t f = u == 0 ? 0 : go[(size_t)fail[u] * pf->ncls + c];
					fail[v] = f;
					for (size_t k = 0; k < outs[f].n; k++)
						if (outl_add(&outs[v], outs[f].v[k]) != BL_OK)
							goto out;
					queue[qt++] = v;
				} else {
					*e = u == 0 ? 0 : go[(size_t)fail[u] * pf->ncls + c];
				}
			}
		}
	}
	pf->nstates = n;
	pf->delta = malloc((size_t)n * pf->ncls * sizeof *pf->delta);
	pf->out_off = malloc(((size_t)n + 1) * sizeof *pf->out_off);
	for (uint32_t s = 0; s < n; s++)
		nout += outs[s].n;
	pf->out_ids = malloc((nout ? nout : 1) * sizeof *pf->out_ids);
	if (!pf->delta || !pf->out_off || !pf->out_ids)
		goto out;
	nout = 0;
	for (uint32_t s = 0; s < n; s++) {
		pf->out_off[s] = (uint32_t)nout;
		for (size_t k = 0; k < outs[s].n; k++)
			pf->out_ids[nout++] = outs[s].v[k];
		for (int c = 0; c < pf->ncls; c++) {
			uint32_t v = go[(size_t)s * pf->ncls + c];
			pf->delta[(size_t)s * pf->ncls + c] =
				(uint32_t)(v * 2u + (outs[v].n > 0));
		}
	}
	pf->out_off[n] = (uint32_t)nout;
	pf->built = 1;
	memo_free(pf->memo); /* every pattern has been read */
	pf->memo = NULL;
	rc = BL_OK;
out:
	if (rc != BL_OK) {
		free(pf->delta);
		free(pf->out_off);
		free(pf->out_ids);
		pf->delta = pf->out_off = pf->out_ids = NULL;
	}
	if (outs)
		for (size_t i = 0; i < maxstates; i++)
			free(outs[i].v);
	free(outs);
	free(go);
	free(fail);
	free(queue);
	return rc;
}

size_t bl_prefilter_nstates(const bl_prefilter *pf)
{
	return pf ? pf->nstates : 0;
}

void bl_prefilter_scan(const bl_prefilter *pf, const char *text, size_t len,
		       uint64_t *hits)
{
	const unsigned char *p = (const unsigned char *)text;
	const uint32_t *delta = pf->delta;
	const int ncls = pf->ncls;
	uint32_t e = 0;
	int prevw = 0;

	memset(hits, 0, BL_PF_WORDS(pf->nids) * sizeof *hits);
	if (!pf->built)
		return;
	for (size_t i = 0; i <= len; i++) {
		if (pf->bcls) {
			/* between a word byte and a non-word one (or an end) */
			int w = i < len && word_byte(p[i]);
			if (w != prevw) {
				e = delta[(size_t)(e >> 1) * ncls + pf->bcls];
				if (e & 1) {
					uint32_t s = e >> 1;
					for (uint32_t k = pf->out_off[s]; k < pf->out_off[s + 1]; k++)
						hits[pf->out_ids[k] >> 6] |= UINT64_C(1) << (pf->out_ids[k] & 63);
				}
			}
			prevw = w;
		}
		if (i == len)
			break;
		e = delta[(size_t)(e >> 1) * ncls + pf->cls[p[i]]];
		if (e & 1) {
			uint32_t s = e >> 1;
			for (uint32_t k = pf->out_off[s]; k < pf->out_off[s + 1]; k++)
				hits[pf->out_ids[k] >> 6] |= UINT64_C(1) << (pf->out_ids[k] & 63);
		}
	}
}
