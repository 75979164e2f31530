/*
 * tagger.c - per-thread tagging of samples against a compiled rule set
 * (bl_tagger_*).
 *
 * A tagger holds what matching needs and must not share between threads:
 * one PCRE2 match-data block, match contexts carrying the match, depth
 * and heap limits, a JIT stack, the prefilter's hit set, the match and
 * unless bookkeeping and an arena for the JSON tree.  All are allocated
 * once in bl_tagger_new; tagging a caption allocates nothing (a JSON
 * member, parsed only when some rule or bl_tagger_field reads a field,
 * is built in the arena unless it is too big for it).
 *
 * A label is set when one of its match patterns matches somewhere that no
 * unless match overlaps, or when one of its "when" conditions holds and no
 * unless pattern matches anywhere (a condition is about the whole
 * caption); then the labels it implies are set, and finally the derived
 * safety.minor_sexual.
 *
 * Most programs never run: one pass of the prefilter automaton over the
 * caption says which literals it holds, and a program whose gate names
 * literals the caption lacks cannot match (lib/prefilter.c proves it), so
 * it is skipped as if it had not matched.  A caption holding U+017F or
 * U+212A (which fold caselessly to ASCII s and k) bypasses the gates, and
 * BALLAST_NO_PREFILTER set (non-empty) in the environment when a tagger
 * is made turns them off, to check that they change nothing.
 *
 * Each match pattern is its own program behind its own gate, so a
 * caption runs only the patterns whose literals it holds, and a small
 * program lets PCRE2 find where a match could start quickly (one joined
 * alternation per label made tagging the bench captions 1.5 times
 * slower).
 * The occurrences of a label's open patterns are judged in order of their
 * start, merged across patterns (ties: the earlier pattern first).
 *
 * Unless spans are found lazily, pattern by pattern, only for a label
 * with an occurrence, and only as far as the occurrence being judged:
 * occurrences and spans both come in increasing start order, so an
 * unless pattern's search stops at its first span starting past the
 * occurrence, or (PCRE2's offset limit) at the occurrence's last
 * character, and resumes there for a later one.  A pattern that hits a
 * limit leaves its label unset and turns the result into BL_WARN; the
 * other labels are still decided.
 */
#include "rules_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Unless matches remembered per label and match occurrence (spans that
 * end before the occurrence are dropped when the table is full); spans
 * that find no room are not counted. */
#define SPAN_MAX 64

/* Where an unless pattern's search stands for the current label. */
enum { U_IDLE = 0, U_PENDING, U_DONE };

typedef struct useek {
	int state;     /* U_* */
	size_t next;   /* where its next search starts */
	size_t ps, pe; /* U_PENDING: a span found past the occurrence */
} useek;

/* The next occurrence of a match pattern for the current label. */
typedef struct mseek {
	int live;      /* 0: the pattern has no more occurrences */
	size_t s, e;
} mseek;

struct bl_tagger {
	const bl_ruleset *rs;
	pcre2_match_data *md;
	pcre2_match_context *mctx; /* for match programs */
	pcre2_match_context *uctx; /* for unless programs: with an offset limit */
	pcre2_jit_stack *jit;
	bl_errkind kind;
	char msg[512];
	int no_prefilter;  /* BALLAST_NO_PREFILTER: run every program */
	int gated;         /* this caption's gates apply */
	uint64_t *hits;    /* prefilter clauses the caption hit */
	size_t nwords;     /* words of hits */
	useek *useek;      /* rs->max_unless */
	mseek *mseek;      /* rs->max_match */
	int nspans;
	size_t span_s[SPAN_MAX], span_e[SPAN_MAX];
	/* the last sample's JSON, parsed at most once (for the rules, or on
	 * demand by bl_tagger_field) and kept until the next sample */
	const char *json;
	size_t json_len;
	bl_meta *doc;
	bl_meta_arena *arena; /* where doc is built */
	int doc_state; /* 0 not parsed yet, 1 parsed (doc may be NULL: bad) */
	/* the caption's view (lib/normalise.c): the caption itself or vb */
	bl_buf va, vb;
	const char *view;
	size_t view_len;
	const char *cap; /* the caption as given, for its facts */
	size_t cap_len;
	bl_caption_facts facts;
	int facts_state; /* bits: 1 the caption's facts, 2 the view's,
			  * computed for this caption */
	/* internal labels of this caption: decided, and set; and the labels
	 * set so far (bl_tagger_tag's out) */
	bl_labelset idone, iset;
	const bl_labelset *out;
	/* PCRE2_NO_UTF_CHECK when the subject is the view (valid UTF-8, so
	 * PCRE2 need not check it again on every match), else 0 */
	uint32_t match_opts;
};

bl_tagger *bl_tagger_new(const bl_ruleset *rs)
{
	const char *nopf = getenv("BALLAST_NO_PREFILTER");
	bl_tagger *t;

	if (!rs || !rs->compiled)
		return NULL;
	t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->rs = rs;
	t->no_prefilter = nopf && *nopf;
	t->md = pcre2_match_data_create(1, NULL);
	t->mctx = pcre2_match_context_create(NULL);
	t->uctx = pcre2_match_context_create(NULL);
	t->jit = pcre2_jit_stack_create(32 * 1024, BL_JIT_STACK_MAX, NULL);
	t->nwords = BL_PF_WORDS(bl_prefilter_nids(rs->pf));
	t->hits = calloc(t->nwords + 1, sizeof *t->hits);
	t->useek = calloc((size_t)rs->max_unless + 1, sizeof *t->useek);
	t->mseek = calloc((size_t)rs->max_match + 1, sizeof *t->mseek);
	t->arena = bl_meta_arena_new();
	bl_buf_init(&t->va, 0);
	bl_buf_init(&t->vb, 0);
	if (!t->md || !t->mctx || !t->uctx || !t->jit || !t->hits ||
	    !t->useek || !t->mseek || !t->arena) {
		bl_tagger_free(t);
		return NULL;
	}
	for (int i = 0; i < 2; i++) {
		pcre2_match_context *c = i ? t->uctx : t->mctx;
		pcre2_set_match_limit(c, BL_MATCH_LIMIT);
		pcre2_set_depth_limit(c, BL_DEPTH_LIMIT);
		pcre2_set_heap_limit(c, BL_HEAP_LIMIT);
		pcre2_jit_stack_assign(c, NULL, t->jit);
	}
	return t;
}

void bl_tagger_free(bl_tagger *t)
{
	if (!t)
		return;
	pcre2_match_data_free(t->md);
	pcre2_match_context_free(t->mctx);
	pcre2_match_context_free(t->uctx);
	pcre2_jit_stack_free(t->jit);
	bl_meta_free(t->arena, t->doc);
	bl_meta_arena_free(t->arena);
	free(t->hits);
	free(t->useek);
	free(t->mseek);
	bl_buf_release(&t->va);
	bl_buf_release(&t->vb);
	free(t);
}

const char *bl_tagger_view(const bl_tagger *t, size_t *len)
{
	if (len)
		*len = t && t->view ? t->view_len : 0;
	return t ? t->view : NULL;
}

bl_errkind bl_tagger_errkind(const bl_tagger *t)
{
	return t ? t->kind : BL_ERR_NONE;
}

const char *bl_tagger_errmsg(const bl_tagger *t)
{
	return t ? t->msg : "no tagger";
}

/* Record a problem; the first one of a sample is the one reported. */
static void note(bl_tagger *t, bl_errkind kind, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));

static void note(bl_tagger *t, bl_errkind kind, const char *fmt, ...)
{
	va_list ap;
	if (t->kind != BL_ERR_NONE)
		return;
	t->kind = kind;
	va_start(ap, fmt);
	vsnprintf(t->msg, sizeof t->msg, fmt, ap);
	va_end(ap);
}

/* One match from start under match context ctx: 1 (span in *s, *e), 0
 * none, or a PCRE2 error. */
static int run(bl_tagger *t, const pcre2_code *code,
	       pcre2_match_context *ctx, const char *subj, size_t len,
	       size_t start, size_t *s, size_t *e)
{
	int rc = pcre2_match(code, (PCRE2_SPTR)subj, len, start, t->match_opts,
			     t->md, ctx);
	const PCRE2_SIZE *ov;

	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0)
		return rc;
	ov = pcre2_get_ovector_pointer(t->md);
	*s = ov[0];
	*e = ov[1] >= ov[0] ? ov[1] : ov[0]; /* \K can invert the span */
	return 1;
}

/* The offset of the character after the one at i. */
static size_t next_char(const char *s, size_t len, size_t i)
{
	i++;
	while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
		i++;
	return i;
}

/* Whether the caption may match a program behind gate g: every clause
 * of some term was hit (or the gates are off). */
static int gate_open(const bl_tagger *t, const bl_gate *g)
{
	size_t i = 0;

	if (!t->gated || g->len == 0)
		return 1;
	while (i < g->len) {
		int n = g->code[i++], k = 0;
		while (k < n && (t->hits[g->code[i + (size_t)k] >> 6] >>
				 (g->code[i + (size_t)k] & 63) & 1))
			k++;
		if (k == n)
			return 1;
		i += (size_t)n;
	}
	return 0;
}

/* Whether the caption may open a gate of one of l's match patterns. */
static int label_open(const bl_tagger *t, const bl_rlabel *l)
{
	if (!t->gated || !l->mfirst)
		return 1;
	for (int k = 0; k < l->nmfirst; k++) {
		int w = l->mfirst_at[k];
		if (t->hits[w] & l->mfirst[w])
			return 1;
	}
	return 0;
}

/* The last position [s, e) touches (an empty span: where it sits). */
static size_t last_of(size_t s, size_t e)
{
	return e > s ? e - 1 : s;
}

/* Remember an unless span; when the table is full, first forget those
 * that end before `from` (no later occurrence starts that early). */
static void add_span(bl_tagger *t, size_t from, size_t s, size_t e)
{
	if (t->nspans == SPAN_MAX) {
		int k = 0;
		for (int i = 0; i < t->nspans; i++)
			if (last_of(t->span_s[i], t->span_e[i]) >= from) {
				t->span_s[k] = t->span_s[i];
				t->span_e[k] = t->span_e[i];
				k++;
			}
		t->nspans = k;
	}
	if (t->nspans < SPAN_MAX) {
		t->span_s[t->nspans] = s;
		t->span_e[t->nspans] = e;
		t->nspans++;
	}
}

/* Start the unless searches of label l for a caption. */
static void unless_reset(bl_tagger *t, const bl_rlabel *l)
{
	t->nspans = 0;
	for (int k = 0; k < l->nunless; k++) {
		t->useek[k].state = gate_open(t, &l->ugate[k]) ? U_IDLE : U_DONE;
		t->useek[k].next = 0;
	}
}

/*
 * Find the spans of every unless pattern of l that start at or before the
 * last position of the match occurrence [s, e).  0, or a PCRE2 error.
 */
static int unless_advance(bl_tagger *t, const bl_rlabel *l, const char *subj,
			  size_t len, size_t s, size_t e)
{
	size_t last = last_of(s, e);

	for (int k = 0; k < l->nunless; k++) {
		useek *u = &t->useek[k];
		while (u->state != U_DONE) {
			size_t us, ue;
			int r;
			if (u->state == U_PENDING) {
				if (u->ps > last)
					break;
				add_span(t, s, u->ps, u->pe);
				u->state = u->next <= len ? U_IDLE : U_DONE;
				continue;
			}
			/* a span must start by the occurrence's last
			 * character to overlap it */
			if (u->next > last)
				break;
			pcre2_set_offset_limit(t->uctx, last);
			r = run(t, l->unless[k], t->uctx, subj, len, u->next,
				&us, &ue);
			if (r < 0)
				return r;
			if (r == 0) {
				/* none starts by last: go on after it */
				u->next = next_char(subj, len, last);
				if (u->next > len)
					u->state = U_DONE;
				break;
			}
			/* from the next character, so that overlapping
			 * contexts ("black and white photo of a black man")
			 * are all seen */
			u->next = next_char(subj, len, us);
			u->ps = us;
			u->pe = ue;
			u->state = U_PENDING;
		}
	}
	return 0;
}

/* Whether [s, e) overlaps an unless span (empty spans count as the one
 * position they sit at). */
static int covered(const bl_tagger *t, size_t s, size_t e)
{
	size_t last = last_of(s, e);
	for (int i = 0; i < t->nspans; i++) {
		size_t us = t->span_s[i];
		if (us <= last && s <= last_of(us, t->span_e[i]))
			return 1;
	}
	return 0;
}

/*
 * 1 when one of the label's match patterns matches clear of every unless
 * span, 0 when none does, a negative PCRE2 error code when a limit was
 * hit.  Each open pattern keeps its next occurrence; the earliest is
 * judged, and when covered, its pattern searches again from the next
 * character.
 */
static int match_label(bl_tagger *t, const bl_rlabel *l, const char *subj,
		       size_t len)
{
	mseek *ms = t->mseek;
	int nlive = 0, started = 0;

	for (int k = 0; k < l->nmatch; k++) {
		int r = 0;
		if (gate_open(t, &l->mgate[k]))
			r = run(t, l->match[k], t->mctx, subj, len, 0, &ms[k].s,
				&ms[k].e);
		if (r < 0)
			return r;
		ms[k].live = r;
		nlive += r;
	}
	while (nlive > 0) {
		int k = -1, r;
		size_t s, e;
		for (int i = 0; i < l->nmatch; i++)
			if (ms[i].live && (k < 0 || ms[i].s < ms[k].s))
				k = i;
		s = ms[k].s;
		e = ms[k].e;
		if (!started) {
			unless_reset(t, l);
			started = 1;
		}
		r = unless_advance(t, l, subj, len, s, e);
		if (r < 0)
			return r;
		if (!covered(t, s, e))
			return 1;
		s = next_char(subj, len, s);
		r = s <= len ? run(t, l->match[k], t->mctx, subj, len, s,
				   &ms[k].s, &ms[k].e)
			     : 0;
		if (r < 0)
			return r;
		if (r == 0) {
			ms[k].live = 0;
			nlive--;
		}
	}
	return 0;
}

/*
 * 1 when one of l's unless patterns matches anywhere in the caption (a
 * "when" condition holds for the whole caption, so any unless match
 * overlaps it), 0 when none does, a negative PCRE2 error code when a
 * limit was hit.
 */
static int unless_anywhere(bl_tagger *t, const bl_rlabel *l, const char *subj,
			   size_t len)
{
	for (int k = 0; k < l->nunless; k++) {
		size_t s, e;
		int r;
		if (!gate_open(t, &l->ugate[k]))
			continue;
		r = run(t, l->unless[k], t->mctx, subj, len, 0, &s, &e);
		if (r != 0)
			return r;
	}
	return 0;
}

static void pcre2_problem(bl_tagger *t, const bl_rlabel *l, int code)
{
	PCRE2_UCHAR msg[256];

	if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
		snprintf((char *)msg, sizeof msg, "error %d", code);
	note(t, code == PCRE2_ERROR_NOMEMORY ? BL_ERR_NOMEM : BL_ERR_MATCH_LIMIT,
	     "label '%s' (%s:%d) left undecided: %s", l->name, l->file,
	     l->line, (const char *)msg);
}

/* ---- predicates ---------------------------------------------------- */

/* A caption fact: BL_VAL_NUM, or BL_VAL_NONE when the sample has no
 * caption (or no letters, for the share of non-Latin ones; no cased
 * word, for the share of capitals). */
static int caption_fact(bl_tagger *t, int fact, double *num)
{
	const bl_caption_facts *f = &t->facts;

	if (!t->cap)
		return BL_VAL_NONE;
	if (fact == BL_CFACT_CAPITALISED) {
		if (!(t->facts_state & 2)) {
			bl_normalise_case(t->view, t->view_len, &t->facts);
			/* one token (a slug, a file name) is no title */
			if (!memchr(t->cap, ' ', t->cap_len))
				t->facts.cased = t->facts.capital = 0;
			t->facts_state |= 2;
		}
		if (f->cased == 0)
			return BL_VAL_NONE;
		*num = (double)f->capital / (double)f->cased;
		return BL_VAL_NUM;
	}
	if (!(t->facts_state & 1)) {
		int cased = f->cased, capital = f->capital;
		bl_normalise_facts(t->cap, t->cap_len, &t->facts);
		t->facts.cased = cased;
		t->facts.capital = capital;
		t->facts_state |= 1;
	}
	switch (fact) {
	case BL_CFACT_WORDS: *num = f->words; break;
	case BL_CFACT_LETTERS: *num = f->letters; break;
	case BL_CFACT_NONLATIN:
		if (f->letters == 0)
			return BL_VAL_NONE;
		*num = (double)f->nonlatin / (double)f->letters;
		break;
	case BL_CFACT_ENGLISH: *num = f->english; break;
	case BL_CFACT_FOREIGN: *num = f->foreign; break;
	default: return BL_VAL_NONE;
	}
	return BL_VAL_NUM;
}

static int pred_value(bl_tagger *t, const bl_pred *p, const bl_meta *doc,
		      const bl_image_info *img, double *num, const char **str)
{
	if (p->src == BL_SRC_JSON)
		return bl_meta_get(doc, p->path, num, str);
	if (p->src == BL_SRC_CAPTION)
		return caption_fact(t, p->fact, num);
	if (!img)
		return BL_VAL_NONE;
	switch (p->fact) {
	case BL_FACT_WIDTH:
		if (img->width <= 0)
			return BL_VAL_NONE;
		*num = img->width;
		break;
	case BL_FACT_HEIGHT:
		if (img->height <= 0)
			return BL_VAL_NONE;
		*num = img->height;
		break;
	case BL_FACT_ASPECT:
		if (img->width <= 0 || img->height <= 0)
			return BL_VAL_NONE;
		*num = (double)img->width / (double)img->height;
		break;
	case BL_FACT_PIXELS:
		if (img->width <= 0 || img->height <= 0)
			return BL_VAL_NONE;
		*num = (double)img->width * (double)img->height;
		break;
	case BL_FACT_PROGRESSIVE:
		*num = img->progressive ? 1 : 0;
		break;
	case BL_FACT_COMPONENTS:
		if (img->components <= 0)
			return BL_VAL_NONE;
		*num = img->components;
		break;
	case BL_FACT_CORRUPT:
		*num = img->corrupt ? 1 : 0;
		break;
	default:
		return BL_VAL_NONE;
	}
	return BL_VAL_NUM;
}

static int cmp_holds(int op, int c)
{
	switch (op) {
	case BL_OP_EQ: return c == 0;
	case BL_OP_NE: return c != 0;
	case BL_OP_LT: return c < 0;
	case BL_OP_LE: return c <= 0;
	case BL_OP_GT: return c > 0;
	case BL_OP_GE: return c >= 0;
	default: return 0;
	}
}

static int pred_eval(bl_tagger *t, const bl_pred *p, const bl_meta *doc,
		     const bl_image_info *img)
{
	double num = 0;
	const char *str = NULL;
	int vt = pred_value(t, p, doc, img, &num, &str);
	int r = 0;

	switch (p->op) {
	case BL_OP_MISSING:
		r = vt == BL_VAL_NONE;
		break;
	case BL_OP_EXISTS:
		r = vt != BL_VAL_NONE;
		break;
	case BL_OP_TRUTHY:
		r = (vt == BL_VAL_NUM && num != 0) ||
		    (vt == BL_VAL_STR && str[0]) || vt == BL_VAL_OTHER;
		break;
	default:
		if (p->vtype == BL_VAL_NULL) {
			r = p->op == BL_OP_EQ ? vt == BL_VAL_NULL
					      : vt != BL_VAL_NONE && vt != BL_VAL_NULL;
			break;
		}
		if (p->vtype == BL_VAL_STR) {
			if (vt == BL_VAL_STR)
				r = cmp_holds(p->op, strcmp(str, p->str));
			break;
		}
		if (vt == BL_VAL_STR) { /* "0.73" compares as 0.73 */
			char *end;
			num = strtod(str, &end);
			if (end == str || *end != '\0' || !isfinite(num))
				break;
			vt = BL_VAL_NUM;
		}
		if (vt != BL_VAL_NUM || isnan(num))
			break;
		r = cmp_holds(p->op, num < p->num ? -1 : num > p->num ? 1 : 0);
		break;
	}
	return p->negate ? !r : r;
}

/* Conditions are conjunctions joined by "or" (and by separate lines). */
static int conds_hold(bl_tagger *t, const bl_rlabel *l, const bl_meta *doc,
		      const bl_image_info *img)
{
	int cur = 0;

	for (size_t k = 0; k < l->npreds; k++) {
		const bl_pred *p = &l->preds[k];
		if (p->conj_start) {
			if (k > 0 && cur)
				return 1;
			cur = 1;
		}
		if (cur)
			cur = pred_eval(t, p, doc, img);
	}
	return cur;
}

static int intersects(const bl_labelset *a, const bl_labelset *b)
{
	for (size_t w = 0; w < BL_MAX_LABELS / 64; w++)
		if (a->w[w] & b->w[w])
			return 1;
	return 0;
}

/* Whether l's own matches or conditions set it (its except aside); a
 * limit hit is reported and counts as not set. */
static int label_holds(bl_tagger *t, const bl_rlabel *l, const char *cap,
		       size_t clen, const bl_meta *doc, const bl_image_info *img)
{
	int hit = 0;

	if (l->nmatch && cap && label_open(t, l)) {
		int r = match_label(t, l, cap, clen);
		if (r > 0)
			hit = 1;
		else if (r < 0)
			pcre2_problem(t, l, r);
	}
	if (!hit && l->npreds && conds_hold(t, l, doc, img)) {
		int r = l->nunless && cap ? unless_anywhere(t, l, cap, clen) : 0;
		if (r < 0)
			pcre2_problem(t, l, r);
		hit = r == 0;
	}
	return hit;
}

/* Whether internal label j is set for this caption: decided once, on the
 * first request.  Its except names labels decided before it (the
 * evaluation order), or internal ones, decided here in turn. */
static int internal_except(bl_tagger *t, const bl_rlabel *l, const char *cap,
			   size_t clen, const bl_meta *doc, const bl_image_info *img);

static int decide_internal(bl_tagger *t, int j, const char *cap, size_t clen,
			   const bl_meta *doc, const bl_image_info *img)
{
	const bl_rlabel *l = &t->rs->labels[j];
	int hit;

	if (bl_labelset_has(&t->idone, j))
		return bl_labelset_has(&t->iset, j);
	bl_labelset_set(&t->idone, j);
	if (l->has_except && intersects(t->out, &l->except_mask))
		return 0;
	hit = label_holds(t, l, cap, clen, doc, img);
	if (hit && l->except_internal && internal_except(t, l, cap, clen, doc, img))
		hit = 0;
	if (hit)
		bl_labelset_set(&t->iset, j);
	return hit;
}

/* Whether an internal label l's except names is set. */
static int internal_except(bl_tagger *t, const bl_rlabel *l, const char *cap,
			   size_t clen, const bl_meta *doc, const bl_image_info *img)
{
	const bl_ruleset *rs = t->rs;

	for (int j = 1; j < rs->nlabels; j++)
		if (rs->labels[j].internal && bl_labelset_has(&l->except_mask, j) &&
		    decide_internal(t, j, cap, clen, doc, img))
			return 1;
	return 0;
}

int bl_tagger_tag(bl_tagger *t, const bl_tag_input *in, bl_labelset *out)
{
	const bl_ruleset *rs;
	const char *cap;
	size_t clen, bad, off;
	bl_meta *doc = NULL;

	if (!t || !in || !out)
		return BL_EUSAGE;
	rs = t->rs;
	bl_meta_free(t->arena, t->doc);
	t->doc = NULL;
	t->doc_state = 0;
	t->json = in->json;
	t->json_len = in->json ? in->json_len : 0;
	bl_labelset_clear(out);
	t->kind = BL_ERR_NONE;
	t->msg[0] = '\0';
	t->cap = in->caption;
	t->cap_len = in->caption ? in->caption_len : 0;
	t->facts_state = 0;
	/* the rules match the caption's view: always valid UTF-8 (invalid
	 * bytes read as U+FFFD), entities decoded, tags split ... */
	if (bl_normalise_view(rs->nz, t->cap, t->cap_len, &t->va, &t->vb,
			      &t->view, &t->view_len, &bad) != BL_OK) {
		/* out of memory (or past a buffer's cap): tag the caption as
		 * it is, invalid bytes never matching */
		note(t, BL_ERR_NOMEM, "no memory for the caption's normalised "
				      "view; the caption was tagged as it is");
		t->view = t->cap;
		t->view_len = t->cap_len;
		bad = (size_t)-1;
		if (t->cap && !bl_utf8_valid(t->cap, t->cap_len, &off))
			bad = off;
	}
	t->match_opts = t->view == t->cap && bad != (size_t)-1 ? 0 : PCRE2_NO_UTF_CHECK;
	if (bad != (size_t)-1)
		note(t, BL_ERR_BAD_UTF8, "caption is not valid UTF-8 at byte %zu; "
					 "tagged with U+FFFD for each invalid byte", bad);
	cap = t->view;
	clen = t->view_len;
	if (rs->uses_json && in->json && in->json_len) {
		doc = t->doc = bl_meta_parse(t->arena, in->json, in->json_len);
		t->doc_state = 1;
		if (!doc)
			note(t, BL_ERR_JSON, "the JSON does not parse; "
					     "its fields count as missing");
	}
	t->gated = 0;
	if (cap && !t->no_prefilter) {
		bl_prefilter_scan(rs->pf, cap, clen, t->hits);
		t->gated = !(t->hits[BL_PF_BYPASS >> 6] >> (BL_PF_BYPASS & 63) & 1);
	}
	bl_labelset_clear(&t->idone);
	bl_labelset_clear(&t->iset);
	t->out = out;
	/* in evaluation order: a label with "except" after the labels it
	 * names, which are set with what they imply as soon as decided;
	 * internal labels are decided when a label they except would be
	 * set (decide_internal) */
	for (int k = 0; k < rs->nlabels; k++) {
		const bl_rlabel *l = rs->eval[k];
		int i = l->index, hit;
		if (l->internal)
			continue;
		if (rs->any_implies && bl_labelset_has(out, i))
			continue; /* implied already */
		if (l->has_except && intersects(out, &l->except_mask))
			continue;
		hit = label_holds(t, l, cap, clen, doc, in->image);
		if (hit && l->except_internal && internal_except(t, l, cap, clen, doc, in->image))
			hit = 0;
		if (!hit)
			continue;
		if (l->has_closure)
			for (size_t w = 0; w < BL_MAX_LABELS / 64; w++)
				out->w[w] |= l->closure.w[w];
		else
			bl_labelset_set(out, i);
	}
	/* the child-safety rule (label.c), over the sides' masks */
	if (bl_label_blocked((intersects(out, &rs->minor_mask) ? BL_SAFETY_MINOR : 0) |
			     (intersects(out, &rs->sexual_mask) ? BL_SAFETY_SEXUAL : 0)))
		bl_labelset_set(out, rs->minor_sexual);
	return t->kind == BL_ERR_NONE ? BL_OK : BL_WARN;
}

int bl_tagger_field(bl_tagger *t, const char *path, double *num, const char **str)
{
	if (!t || !path || !num || !str)
		return BL_EUSAGE;
	if (!t->doc_state) {
		t->doc = t->json_len ? bl_meta_parse(t->arena, t->json, t->json_len) : NULL;
		t->doc_state = 1;
	}
	if (!t->doc)
		return t->json_len ? BL_FAILED : 0;
	switch (bl_meta_get(t->doc, path, num, str)) {
	case BL_VAL_NUM:
		return 1;
	case BL_VAL_STR:
		return 2;
	case BL_VAL_OTHER:
		return 3;
	default:
		return 0;
	}
}
