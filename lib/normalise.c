/*
 * normalise.c - the view of a caption that rules match, and facts about
 * the caption that rule conditions read (bl_normalise_*).
 *
 * Web alt-text hides words from regexes in many ways: HTML entities
 * ("Women&#39;s"), backslash escapes left by scrapers ("Boy\'s"), tags
 * and URLs pasted into the text, hashtags and slugs ("#asiangirl",
 * "asian_girl", "AsianGirl"), letters swapped for digits or stars
 * ("s3xy", "n*de"), ALL-CAPS text that case-sensitive guards were not
 * written for, letters with diacritics that end an ASCII \b word in the
 * middle ("Aufnäher" holds "her"), and bytes that are not UTF-8 at all.
 * The tagger matches a view of the caption with these undone; the
 * original caption is what the index keeps.
 *
 * The view is total: every byte string has one.  Invalid UTF-8 becomes
 * U+FFFD, NUL and control characters become spaces, so the view is
 * always valid UTF-8 and every caption is tagged.
 *
 * Most captions need none of this: one pass over the bytes with a class
 * table (the fast path) proves that, and the view is then the caption
 * itself, not a copy.  Otherwise two passes build it:
 *  1. decode: HTML entities (twice-encoded ones too), backslash escapes
 *     (\' \" \\ \/ \n \t \r \uXXXX), UTF-8 repair, and folding - Latin
 *     letters with diacritics to ASCII (ä a, ß ss, œ oe), typographic
 *     quotes, dashes and spaces to ASCII, fullwidth forms to ASCII,
 *     zero-width characters and combining marks dropped;
 *  2. structure: HTML tags and URLs become a space, '_' a space, a
 *     lower-case letter followed by an upper-case one gets a space between
 *     (AsianGirl), a token mixing letters with 0 1 3 4 5 7 @ $ * (and a
 *     '!' between letters) becomes the one word of the unmasking
 *     dictionary it can spell (s3xy sexy, n*de nude, b!kini bikini), a
 *     word spelt out in lone letters ("N U D E", "N.S.F.W.") becomes that
 *     word when a dictionary holds it, a lower-case hashtag is split into
 *     words of the splitting dictionary when they cover it exactly
 *     (#asiangirl "asian girl"), and when most words of the caption are
 *     ALL-CAPS every all-caps word is title-cased (NUDE WOMAN -> Nude
 *     Woman; the short words a title writes in lower case in lower case:
 *     "PORTRAIT OF A PIPER" -> Portrait of a Piper), so that
 *     case-sensitive patterns read it as they read title case.
 * The dictionaries come from the rule set (lib/rules.c adds the literal
 * words its patterns need), so the view splits and unmasks exactly the
 * words some rule looks for.
 */
#include "alloc_int.h"
#include "rules_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Byte classes of the fast path. */
enum {
	C_LO = 1,     /* a-z */
	C_UP = 2,     /* A-Z */
	C_DIG = 4,    /* 0-9 */
	C_SLOW = 8,   /* needs the slow path: non-ASCII, & \ < ` NUL, controls */
	C_HASH = 16,  /* # */
	C_LEET = 32,  /* * @ $ */
	C_US = 64,    /* _ */
	C_PUNCT = 128 /* : . (URLs) ! (b!kini) */
};

static const unsigned char ctab[256] = {
	  8,   8,   8,   8,   8,   8,   8,   8,   8,   0,   0,   8,   8,   0,   8,   8,
	  8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,
	  0, 128,   0,  16,  32,   0,   8,   0,   0,   0,  32,   0,   0,   0, 128,   0,
	  4,   4,   4,   4,   4,   4,   4,   4,   4,   4, 128,   0,   8,   0,   0,   0,
	 32,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,
	  2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   0,   8,   0,   0,  64,
	  8,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,
	  1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   1,   0,   0,   0,   0,   8,
	  8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,
	  8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,
	  8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,
	  8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,
	  8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,
	  8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,
	  8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,
	  8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,   8,
};

#define IS_LETTER(k) ((k) & (C_LO | C_UP))
#define IS_ALNUM(k) ((k) & (C_LO | C_UP | C_DIG))

/* Words shorter than this are not in the dictionaries (too easy to find
 * inside other words), nor longer than WORD_MAX. */
#define WORD_MIN 3
#define WORD_MAX 24
/* Tokens longer than these are not unmasked / split. */
#define LEET_MAX 24
#define SPLIT_MAX 48
/* An HTML tag longer than this is not a tag. */
#define TAG_MAX 512

typedef struct nzword {
	char *w; /* lower case */
	size_t len;
	int flags; /* BL_NZ_* */
} nzword;

struct bl_normaliser {
	nzword *v;
	size_t n, a;
	int built;
	/* while words are added: an open-addressing table of indexes into
	 * v + 1 (0 empty), so that a word met again only adds its flags */
	size_t *slot;
	size_t nslot;
};

static uint64_t word_hash(const char *w, size_t len)
{
	uint64_t h = UINT64_C(14695981039346656037);
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)w[i]) * UINT64_C(1099511628211);
	return h;
}

/* The slot of lower-case word w[0..len): where it is, or the empty slot
 * where it goes. */
static size_t *word_slot(const bl_normaliser *nz, const char *w, size_t len)
{
	size_t h = (size_t)word_hash(w, len) & (nz->nslot - 1);
	while (nz->slot[h]) {
		const nzword *e = &nz->v[nz->slot[h] - 1];
		if (e->len == len && memcmp(e->w, w, len) == 0)
			break;
		h = (h + 1) & (nz->nslot - 1);
	}
	return &nz->slot[h];
}

/* Make room for one more word in the table (kept at most half full).
 * BL_OK or BL_ENOMEM. */
static int slots_grow(bl_normaliser *nz)
{
	size_t *old = nz->slot, nold = nz->nslot;
	if (nz->slot && 2 * (nz->n + 1) <= nz->nslot)
		return BL_OK;
	nz->nslot = nold ? 2 * nold : 1024;
	nz->slot = calloc(nz->nslot, sizeof *nz->slot);
	if (!nz->slot) {
		nz->slot = old;
		nz->nslot = nold;
		return BL_ENOMEM;
	}
	for (size_t i = 0; i < nz->n; i++)
		*word_slot(nz, nz->v[i].w, nz->v[i].len) = i + 1;
	free(old);
	return BL_OK;
}

bl_normaliser *bl_normalise_new(void)
{
	return calloc(1, sizeof(bl_normaliser));
}

void bl_normalise_free(bl_normaliser *nz)
{
	if (!nz)
		return;
	for (size_t i = 0; i < nz->n; i++)
		free(nz->v[i].w);
	free(nz->v);
	free(nz->slot);
	free(nz);
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int bl_normalise_add_word(bl_normaliser *nz, const char *w, size_t len, int flags)
{
	char *copy;

	if (!nz || !w || nz->built)
		return BL_EUSAGE;
	if (len < WORD_MIN || len > WORD_MAX)
		return BL_OK;
	char low[WORD_MAX];
	size_t *sl;

	for (size_t i = 0; i < len; i++) {
		if (!IS_LETTER(ctab[(unsigned char)w[i]]))
			return BL_OK;
		low[i] = (char)lower((unsigned char)w[i]);
	}
	if (slots_grow(nz) != BL_OK)
		return BL_ENOMEM;
	sl = word_slot(nz, low, len);
	if (*sl) { /* met before */
		nz->v[*sl - 1].flags |= flags;
		return BL_OK;
	}
	if (BL_ALLOC_GROW(nz->v, nz->n + 1, nz->a) != BL_OK)
		return BL_ENOMEM;
	copy = malloc(len + 1);
	if (!copy)
		return BL_ENOMEM;
	for (size_t i = 0; i < len; i++)
		copy[i] = (char)lower((unsigned char)w[i]);
	copy[len] = '\0';
	nz->v[nz->n].w = copy;
	nz->v[nz->n].len = len;
	nz->v[nz->n].flags = flags;
	nz->n++;
	*sl = nz->n;
	return BL_OK;
}

static int cmp_word(const void *a, const void *b)
{
	return strcmp(((const nzword *)a)->w, ((const nzword *)b)->w);
}

int bl_normalise_build(bl_normaliser *nz)
{
	size_t k = 0;

	if (!nz || nz->built)
		return BL_EUSAGE;
	if (nz->n)
		qsort(nz->v, nz->n, sizeof *nz->v, cmp_word);
	for (size_t i = 0; i < nz->n; i++) {
		if (k > 0 && strcmp(nz->v[k - 1].w, nz->v[i].w) == 0) {
			nz->v[k - 1].flags |= nz->v[i].flags;
			free(nz->v[i].w);
			continue;
		}
		nz->v[k++] = nz->v[i];
	}
	nz->n = k;
	nz->built = 1;
	free(nz->slot); /* looked up by binary search from now on */
	nz->slot = NULL;
	nz->nslot = 0;
	return BL_OK;
}

size_t bl_normalise_nwords(const bl_normaliser *nz, int flags)
{
	size_t c = 0;
	if (!nz)
		return 0;
	for (size_t i = 0; i < nz->n; i++)
		c += (nz->v[i].flags & flags) != 0;
	return c;
}

/* Whether s[0..len) (any case) is a word with one of flags. */
static int lookup(const bl_normaliser *nz, const char *s, size_t len, int flags)
{
	size_t lo = 0, hi;
	char key[WORD_MAX + 1];

	if (!nz || len < WORD_MIN || len > WORD_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		key[i] = (char)lower((unsigned char)s[i]);
	key[len] = '\0';
	hi = nz->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(nz->v[mid].w, key);
		if (c == 0)
			return (nz->v[mid].flags & flags) != 0;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The fast path                                                       */
/* ------------------------------------------------------------------ */

static int caps_mode(const char *s, size_t len);

/* Whether s[i] is a letter standing alone: no letter or digit touches it
 * on either side. */
static int lone_letter(const char *s, size_t len, size_t i)
{
	return IS_LETTER(ctab[(unsigned char)s[i]]) &&
	       (i == 0 || !IS_ALNUM(ctab[(unsigned char)s[i - 1]])) &&
	       (i + 1 >= len || !IS_ALNUM(ctab[(unsigned char)s[i + 1]]));
}

/* The number of letters of a word spelt out from s[i] on: lone letters
 * each followed by the same blank or dot ("N U D E", "N.S.F.W."); 0 when
 * s[i] does not start one. */
static size_t spelt_at(const char *s, size_t len, size_t i)
{
	size_t n = 0;
	char sep;

	if (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '.') && i > 1 &&
	    lone_letter(s, len, i - 2))
		return 0; /* inside a run, not at its start */
	if (i + 1 >= len || (s[i + 1] != ' ' && s[i + 1] != '.'))
		return 0;
	sep = s[i + 1];
	while (i < len && lone_letter(s, len, i) && n < WORD_MAX) {
		n++;
		if (i + 1 >= len || s[i + 1] != sep)
			break;
		i += 2;
	}
	return n;
}

/* Whether s[i] is a '!' inside a word, a masked i ("b!kini"), not the
 * end of a sentence ("Wow!"). */
static int bang_at(const char *s, size_t len, size_t i)
{
	return s[i] == '!' && i > 0 && i + 1 < len &&
	       IS_LETTER(ctab[(unsigned char)s[i - 1]]) &&
	       IS_LETTER(ctab[(unsigned char)s[i + 1]]);
}

/*
 * Whether s[0..len) reads the same as its view: pure ASCII with nothing
 * that pass 1 or 2 would change.  Runs of lower-case letters and plain
 * punctuation cost one table look-up a byte; the other bytes look at
 * their neighbours, and the caps test runs only for a caption with a few
 * upper-case letters.
 */
static int plain(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t nup = 0, i = 0;

	for (;;) {
		unsigned k;
		while (i < len && ctab[p[i]] <= C_LO)
			i++;
		if (i >= len)
			break;
		k = ctab[p[i]];
		if (k & (C_SLOW | C_US))
			return 0;
		if (k & C_UP) {
			/* camelCase, or a digit or symbol before it */
			if (i > 0 && (ctab[p[i - 1]] & (C_LO | C_DIG | C_LEET)))
				return 0;
			/* a word spelt out in capitals: "N U D E" */
			if (spelt_at(s, len, i) >= 3)
				return 0;
			nup++;
		} else if (k & (C_DIG | C_LEET)) {
			/* a digit or symbol touching a letter */
			if ((i > 0 && IS_LETTER(ctab[p[i - 1]])) ||
			    (i + 1 < len && IS_LETTER(ctab[p[i + 1]])))
				return 0;
		} else if (k & C_HASH) {
			if (i + 1 < len && IS_LETTER(ctab[p[i + 1]]))
				return 0;
		} else if (k & C_PUNCT) {
			/* letters with dots: "N.S.F.W." */
			if (p[i] == '.' && i > 0 && IS_LETTER(ctab[p[i - 1]]) &&
			    spelt_at(s, len, i - 1) >= 3)
				return 0;
			if (p[i] == ':' && i + 2 < len && p[i + 1] == '/' && p[i + 2] == '/')
				return 0;
			if (bang_at(s, len, i))
				return 0;
			if (p[i] == '.' && i >= 3 && lower(p[i - 1]) == 'w' &&
			    lower(p[i - 2]) == 'w' && lower(p[i - 3]) == 'w')
				return 0;
		}
		i++;
	}
	return nup < 4 || !caps_mode(s, len);
}

/* ------------------------------------------------------------------ */
/* Pass 1: decode and fold                                             */
/* ------------------------------------------------------------------ */

/* ASCII for U+00C0..U+017F: '.' keeps the character, '*' is in multi[]. */
static const char latin_fold[] =
	"AAAAAA*CEEEEIIIIDNOOOOO.OUUUUY**aaaaaa*ceeeeiiiidnooooo.ouuuuy*y"
	"AaAaAaCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi**JjKkkLlLlLlLlL"
	"lLlNnNnNnnNnOoOoOo**RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";

static const struct {
	unsigned cp;
	const char *s;
} multi[] = {
	{0xC6, "AE"}, {0xDE, "TH"}, {0xDF, "ss"}, {0xE6, "ae"}, {0xFE, "th"},
	{0x132, "IJ"}, {0x133, "ij"}, {0x152, "OE"}, {0x153, "oe"},
};

static int put_utf8(bl_buf *o, unsigned cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return bl_buf_add(o, b, n);
}

/* Append the folded form of code point cp. */
static int put_cp(bl_buf *o, unsigned cp)
{
	if (cp < 0x80) {
		if (cp == 0x7F || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r'))
			cp = ' ';
		else if (cp == '`')
			cp = '\'';
		return bl_buf_addch(o, (char)cp);
	}
	if (cp >= 0xC0 && cp <= 0x17F) {
		char c = latin_fold[cp - 0xC0];
		if (c == '*') {
			for (size_t i = 0; i < sizeof multi / sizeof *multi; i++)
				if (multi[i].cp == cp)
					return bl_buf_adds(o, multi[i].s);
		}
		if (c != '.' && c != '*')
			return bl_buf_addch(o, c);
		return put_utf8(o, cp);
	}
	if (cp >= 0x300 && cp <= 0x36F) /* combining marks */
		return BL_OK;
	if (cp >= 0xFF01 && cp <= 0xFF5E) /* fullwidth ASCII */
		return put_cp(o, cp - 0xFEE0);
	switch (cp) {
	case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202F: case 0x205F: case 0x3000:
		return bl_buf_addch(o, ' ');
	case 0xAD: case 0x200B: case 0x200C: case 0x200D: case 0x2060:
	case 0xFEFF:
		return BL_OK;
	case 0xB4: case 0x2018: case 0x2019: case 0x201A: case 0x201B:
	case 0x2032: case 0x02BC:
		return bl_buf_addch(o, '\'');
	case 0xAB: case 0xBB: case 0x201C: case 0x201D: case 0x201E:
	case 0x201F: case 0x2033:
		return bl_buf_addch(o, '"');
	case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014:
	case 0x2015: case 0x2212:
		return bl_buf_addch(o, '-');
	case 0x2026:
		return bl_buf_adds(o, "...");
	case 0x212A: /* Kelvin sign: PCRE2 folds it to k */
		return bl_buf_addch(o, 'k');
	default:
		break;
	}
	if (cp < 0xA0) /* C1 controls */
		return bl_buf_addch(o, ' ');
	if (cp >= 0x2000 && cp <= 0x200A)
		return bl_buf_addch(o, ' ');
	if (cp >= 0xFE00 && cp <= 0xFE0F) /* variation selectors */
		return BL_OK;
	return put_utf8(o, cp);
}

/*
 * Decode one UTF-8 character at s[i..len): its code point in *cp and its
 * length, or 0 when the bytes there are not a valid character (overlong,
 * surrogate, past U+10FFFF, truncated).
 */
static size_t utf8_at(const unsigned char *s, size_t len, size_t i, unsigned *cp)
{
	unsigned c = s[i], v, min;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		v = c & 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		v = c & 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (i + n > len)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[i + k] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i + k] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

static const struct {
	const char *name;
	unsigned cp;
} entities[] = {
	{"aacute", 0xE1}, {"acute", 0xB4}, {"agrave", 0xE0}, {"amp", '&'},
	{"apos", '\''}, {"auml", 0xE4}, {"bull", 0x2022}, {"ccedil", 0xE7},
	{"copy", 0xA9}, {"eacute", 0xE9}, {"egrave", 0xE8}, {"gt", '>'},
	{"hellip", 0x2026}, {"iacute", 0xED}, {"laquo", 0xAB}, {"ldquo", 0x201C},
	{"lsquo", 0x2018}, {"lt", '<'}, {"mdash", 0x2014}, {"middot", 0xB7},
	{"nbsp", 0xA0}, {"ndash", 0x2013}, {"ntilde", 0xF1}, {"oacute", 0xF3},
	{"ouml", 0xF6}, {"quot", '"'}, {"raquo", 0xBB}, {"rdquo", 0x201D},
	{"reg", 0xAE}, {"rsquo", 0x2019}, {"szlig", 0xDF}, {"times", 0xD7},
	{"trade", 0x2122}, {"uacute", 0xFA}, {"uuml", 0xFC},
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode an entity body s[b..e) (between '&' and ';'): 1 and *cp, or 0. */
static int entity_body(const char *s, size_t b, size_t e, unsigned *cp)
{
	unsigned v = 0;

	if (e <= b)
		return 0;
	if (s[b] == '#') {
		size_t k = b + 1;
		int hex = k < e && (s[k] == 'x' || s[k] == 'X');
		if (hex)
			k++;
		if (k == e)
			return 0;
		for (; k < e; k++) {
			int d = hex ? hexval((unsigned char)s[k])
				    : (s[k] >= '0' && s[k] <= '9' ? s[k] - '0' : -1);
			if (d < 0)
				return 0;
			if (v <= 0x10FFFF)
				v = v * (hex ? 16u : 10u) + (unsigned)d;
		}
		if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
			v = 0xFFFD;
		*cp = v;
		return 1;
	}
	for (size_t i = 0; i < sizeof entities / sizeof *entities; i++)
		if (strlen(entities[i].name) == e - b &&
		    memcmp(entities[i].name, s + b, e - b) == 0) {
			*cp = entities[i].cp;
			return 1;
		}
	return 0;
}

/* The ';' ending an entity body that starts at s[b], or 0. */
static size_t entity_end(const char *s, size_t len, size_t b)
{
	for (size_t j = b; j < len && j - b <= 10; j++) {
		if (s[j] == ';')
			return j > b ? j : 0;
		if (!IS_ALNUM(ctab[(unsigned char)s[j]]) && s[j] != '#')
			return 0;
	}
	return 0;
}

/*
 * An HTML entity at s[i] ('&'): the offset after it, with its code point
 * in *cp, or 0 when there is none.  "&amp;" right before another entity
 * body is that entity encoded twice ("&amp;#39;"), up to three levels.
 */
static size_t entity_at(const char *s, size_t len, size_t i, unsigned *cp)
{
	size_t e = entity_end(s, len, i + 1), next = 0;

	if (!e || !entity_body(s, i + 1, e, cp))
		return 0;
	next = e + 1;
	for (int depth = 0; depth < 3 && *cp == '&'; depth++) {
		size_t e2 = entity_end(s, len, next);
		unsigned inner;
		if (!e2 || !entity_body(s, next, e2, &inner))
			break;
		*cp = inner;
		next = e2 + 1;
	}
	return next;
}

/* Four hex digits at s[i..]: their value, or -1. */
static long hex4(const char *s, size_t len, size_t i)
{
	long v = 0;
	if (i + 4 > len)
		return -1;
	for (size_t k = 0; k < 4; k++) {
		int d = hexval((unsigned char)s[i + k]);
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * A backslash escape at s[i] ('\\'): the offset after it, with the code
 * point it stands for in *cp, or 0 when the backslash is a plain one.
 */
static size_t escape_at(const char *s, size_t len, size_t i, unsigned *cp)
{
	long v, lo;

	if (i + 1 >= len)
		return 0;
	switch (s[i + 1]) {
	case '\'': case '"': case '\\': case '/':
		*cp = (unsigned char)s[i + 1];
		return i + 2;
	case 'n': case 't': case 'r':
		*cp = ' ';
		return i + 2;
	case 'u':
		v = hex4(s, len, i + 2);
		if (v < 0)
			return 0;
		if (v >= 0xD800 && v <= 0xDBFF && i + 12 <= len &&
		    s[i + 6] == '\\' && s[i + 7] == 'u' &&
		    (lo = hex4(s, len, i + 8)) >= 0xDC00 && lo <= 0xDFFF) {
			*cp = 0x10000 + (((unsigned)v - 0xD800) << 10) + ((unsigned)lo - 0xDC00);
			return i + 12;
		}
		*cp = (v == 0 || (v >= 0xD800 && v <= 0xDFFF)) ? 0xFFFD : (unsigned)v;
		return i + 6;
	default:
		return 0;
	}
}

/* Pass 1: s[0..len) decoded and folded into o (reset first); *bad gets
 * the offset of the first byte that is not UTF-8 (or stays as it was). */
static int decode(const char *s, size_t len, bl_buf *o, size_t *bad)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	int rc = BL_OK;

	bl_buf_reset(o);
	while (i < len && rc == BL_OK) {
		unsigned cp;
		size_t n;
		if (u[i] == '&' && (n = entity_at(s, len, i, &cp)) != 0) {
			rc = put_cp(o, cp);
			i = n;
		} else if (u[i] == '\\' && (n = escape_at(s, len, i, &cp)) != 0) {
			rc = put_cp(o, cp);
			i = n;
		} else if (u[i] < 0x80) {
			rc = put_cp(o, u[i]);
			i++;
		} else if ((n = utf8_at(u, len, i, &cp)) != 0) {
			rc = put_cp(o, cp);
			i += n;
		} else {
			if (*bad == (size_t)-1)
				*bad = i;
			rc = put_utf8(o, 0xFFFD);
			i++;
		}
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Pass 2: structure                                                   */
/* ------------------------------------------------------------------ */

/* Whether most words of 2+ letters in s[0..len) are ALL-CAPS (and at
 * least two are).  Letters touching a digit are a code ("L2350DW"),
 * not a word. */
static int caps_mode(const char *s, size_t len)
{
	size_t caps = 0, words2 = 0, nlet = 0, nlow = 0;
	int digit = 0;

	for (size_t i = 0; i <= len; i++) {
		unsigned k = i < len ? ctab[(unsigned char)s[i]] : 0;
		if (IS_LETTER(k)) {
			nlet++;
			nlow += k & C_LO;
		} else {
			if (nlet && !digit && !(k & C_DIG)) {
				words2 += nlet >= 2;
				caps += nlet >= 2 && nlow == 0;
			}
			nlet = nlow = 0;
			digit = (k & C_DIG) != 0;
		}
	}
	return caps >= 2 && 2 * caps >= words2;
}

static uint64_t pack(const char *w, size_t n);
static int key_kind_of(uint64_t k);
static void keys_ready(void);

/* Whether o holds a letter already (the word to come is not the first). */
static int has_letter(const bl_buf *o)
{
	for (size_t i = 0; i < o->len; i++)
		if (IS_LETTER(ctab[(unsigned char)o->buf[i]]))
			return 1;
	return 0;
}

/* Whether the ALL-CAPS word t[0..n) is one that title case leaves in
 * lower case ("OF", "THE", "AT", and "A"), when a word came before it. */
static int caps_minor(const bl_buf *o, const char *t, size_t n)
{
	char w[8];

	if (n > sizeof w || !has_letter(o))
		return 0;
	if (n == 1)
		return t[0] == 'A';
	for (size_t i = 0; i < n; i++)
		w[i] = (char)lower((unsigned char)t[i]);
	return (key_kind_of(pack(w, n)) & 4) != 0;
}

/* Append t[0..n), title-casing it when caps says so and it is an
 * all-caps word (the short words of a title in lower case: "PORTRAIT OF
 * A PIPER AT DUNDEE" reads "Portrait of a Piper at Dundee", as a title
 * is written), with a space before each upper-case letter that follows a
 * lower-case one. */
static int put_word(bl_buf *o, const char *t, size_t n, int caps)
{
	int allcaps = 0, rc = BL_OK;

	if (caps && caps_minor(o, t, n)) {
		for (size_t k = 0; k < n && rc == BL_OK; k++)
			rc = bl_buf_addch(o, (char)lower((unsigned char)t[k]));
		return rc;
	}

	if (caps) {
		size_t up = 0, lo = 0;
		for (size_t k = 0; k < n; k++) {
			unsigned c = ctab[(unsigned char)t[k]];
			up += (c & C_UP) != 0;
			lo += (c & C_LO) != 0;
		}
		allcaps = up >= 2 && lo == 0;
		for (size_t k = 0; k < n && allcaps; k++)
			allcaps = !(ctab[(unsigned char)t[k]] & C_DIG); /* a code */
	}
	for (size_t k = 0; k < n && rc == BL_OK; k++) {
		unsigned c = ctab[(unsigned char)t[k]];
		unsigned p = k ? ctab[(unsigned char)t[k - 1]] : 0;
		if ((c & C_UP) && (p & C_LO))
			rc = bl_buf_addch(o, ' ');
		if (rc != BL_OK)
			break;
		if (allcaps && (c & C_UP) && IS_LETTER(p))
			rc = bl_buf_addch(o, (char)lower((unsigned char)t[k]));
		else
			rc = bl_buf_addch(o, t[k]);
	}
	return rc;
}

/* What each masking character may stand for. */
static const char *leet_options(int c)
{
	switch (c) {
	case '0': return "o";
	case '1': return "il";
	case '3': return "e";
	case '4': return "a";
	case '5': return "s";
	case '7': return "t";
	case '@': return "a";
	case '$': return "s";
	case '*': return "aeiou";
	case '!': return "i";
	default: return NULL;
	}
}

/*
 * The one unmasking word token t[0..n) can spell with its masking
 * characters read as letters (also with a plural s), copied to word
 * (lower case); 0 when it spells none or more than one.
 */
static size_t unmask(const bl_normaliser *nz, const char *t, size_t n, char *word)
{
	const char *opt[LEET_MAX];
	size_t pos[3], npos = 0, letters = 0, combos = 1, hits = 0;
	char cand[LEET_MAX + 1];

	if (n > LEET_MAX)
		return 0;
	for (size_t k = 0; k < n; k++) {
		unsigned c = ctab[(unsigned char)t[k]];
		if (IS_LETTER(c)) {
			letters++;
			cand[k] = (char)lower((unsigned char)t[k]);
			continue;
		}
		opt[k] = leet_options((unsigned char)t[k]);
		if (!opt[k] || npos == 3)
			return 0;
		pos[npos++] = k;
		combos *= strlen(opt[k]);
	}
	if (letters < 2 || npos == 0)
		return 0;
	for (size_t m = 0; m < combos; m++) {
		size_t r = m;
		for (size_t q = 0; q < npos; q++) {
			size_t no = strlen(opt[pos[q]]);
			cand[pos[q]] = opt[pos[q]][r % no];
			r /= no;
		}
		cand[n] = '\0';
		if (lookup(nz, cand, n, BL_NZ_UNMASK) ||
		    (n > WORD_MIN && cand[n - 1] == 's' &&
		     lookup(nz, cand, n - 1, BL_NZ_UNMASK))) {
			if (hits && strcmp(word, cand) != 0)
				return 0; /* two readings: leave it */
			memcpy(word, cand, n + 1);
			hits++;
		}
	}
	return hits ? n : 0;
}

/*
 * Split t[0..n) (letters only) into splitting words that cover it
 * exactly, fewest words first; cut[] gets the k-1 inner cut offsets.
 * Returns k (>= 2), or 0 when there is no such split.
 */
static size_t split_words(const bl_normaliser *nz, const char *t, size_t n,
			  size_t *cut)
{
	unsigned char best[SPLIT_MAX + 1];
	unsigned char from[SPLIT_MAX + 1];
	size_t k, j;

	if (n > SPLIT_MAX || n < 2 * WORD_MIN)
		return 0;
	best[0] = 0;
	for (j = 1; j <= n; j++) {
		best[j] = 255;
		for (size_t i = j >= WORD_MAX ? j - WORD_MAX : 0; i + WORD_MIN <= j; i++) {
			if (best[i] == 255 || best[i] + 1 >= best[j])
				continue;
			if (lookup(nz, t + i, j - i, BL_NZ_SPLIT) ||
			    (j - i > WORD_MIN && lower((unsigned char)t[j - 1]) == 's' &&
			     lookup(nz, t + i, j - i - 1, BL_NZ_SPLIT))) {
				best[j] = (unsigned char)(best[i] + 1);
				from[j] = (unsigned char)i;
			}
		}
	}
	if (best[n] == 255 || best[n] < 2)
		return 0;
	k = best[n];
	j = n;
	for (size_t q = k - 1; q > 0; q--) {
		j = from[j];
		cut[q - 1] = j;
	}
	return k;
}

/* Append token t[0..n) (letters, digits, * @ $) of the decoded text;
 * hashtag: it follows a '#'. */
static int put_token(const bl_normaliser *nz, bl_buf *o, const char *t,
		     size_t n, int hashtag, int caps)
{
	size_t letters = 0, others = 0, camel = 0;
	char word[LEET_MAX + 1];

	for (size_t k = 0; k < n; k++) {
		unsigned c = ctab[(unsigned char)t[k]];
		letters += IS_LETTER(c) != 0;
		others += !IS_LETTER(c);
		camel += k && (c & C_UP) && (ctab[(unsigned char)t[k - 1]] & C_LO);
	}
	if (others && letters >= 2 && nz && unmask(nz, t, n, word))
		return bl_buf_add(o, word, n);
	if (hashtag && !others && !camel && nz) {
		size_t cut[SPLIT_MAX], k = split_words(nz, t, n, cut), at = 0;
		int rc = BL_OK;
		for (size_t q = 0; q < k && rc == BL_OK; q++) {
			size_t end = q + 1 < k ? cut[q] : n;
			if (q)
				rc = bl_buf_addch(o, ' ');
			if (rc == BL_OK)
				rc = put_word(o, t + at, end - at, caps);
			at = end;
		}
		if (k)
			return rc;
	}
	return put_word(o, t, n, caps);
}

/* Whether s[i..] starts a URL: http://, https:// or www. (any case). */
static size_t url_len(const char *s, size_t len, size_t i)
{
	static const char *const heads[] = {"http://", "https://", "www."};
	for (size_t h = 0; h < 3; h++) {
		size_t n = strlen(heads[h]), k;
		if (i + n > len)
			continue;
		for (k = 0; k < n && lower((unsigned char)s[i + k]) == heads[h][k]; k++)
			;
		if (k == n) {
			size_t j = i + n;
			while (j < len && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' &&
			       s[j] != '\r' && s[j] != '"' && s[j] != '\'' && s[j] != '<')
				j++;
			return j - i;
		}
	}
	return 0;
}

/* The length of an HTML tag at s[i] ('<'), or 0. */
static size_t tag_len(const char *s, size_t len, size_t i)
{
	size_t j = i + 1;

	if (j < len && s[j] == '/')
		j++;
	if (j >= len || !(IS_LETTER(ctab[(unsigned char)s[j]]) || s[j] == '!'))
		return 0;
	for (; j < len && j - i < TAG_MAX; j++) {
		if (s[j] == '>')
			return j + 1 - i;
		if (s[j] == '<' || s[j] == '\n')
			return 0;
	}
	return 0;
}

/* When the n letters spelt out from s[i] ("N U D E") make a word of the
 * dictionaries, append it in lower case (*rc: the append's result) and
 * return 1; else 0. */
static int spelt_word(const bl_normaliser *nz, const char *s, size_t i, size_t n,
		      bl_buf *o, int *rc)
{
	char w[WORD_MAX + 1];

	for (size_t k = 0; k < n; k++)
		w[k] = (char)lower((unsigned char)s[i + 2 * k]);
	w[n] = '\0';
	if (!lookup(nz, w, n, BL_NZ_SPLIT | BL_NZ_UNMASK))
		return 0;
	*rc = bl_buf_add(o, w, n);
	return 1;
}

/* Pass 2: the decoded text s[0..len) restructured into o (reset first). */
static int restructure(const bl_normaliser *nz, const char *s, size_t len,
		       bl_buf *o)
{
	int caps = caps_mode(s, len), rc = BL_OK;
	size_t i = 0;

	if (caps)
		keys_ready(); /* caps_minor's list */
	bl_buf_reset(o);
	while (i < len && rc == BL_OK) {
		unsigned k = ctab[(unsigned char)s[i]];
		int start = i == 0 || !IS_ALNUM(ctab[(unsigned char)s[i - 1]]);
		size_t n;
		if (s[i] == '<' && (n = tag_len(s, len, i)) != 0) {
			rc = bl_buf_addch(o, ' ');
			i += n;
		} else if (start && (s[i] == 'h' || s[i] == 'H' || s[i] == 'w' ||
				     s[i] == 'W') && (n = url_len(s, len, i)) != 0) {
			rc = bl_buf_addch(o, ' ');
			i += n;
		} else if (s[i] == '_') {
			rc = bl_buf_addch(o, ' ');
			i++;
		} else if (start && IS_LETTER(k) && nz && (n = spelt_at(s, len, i)) >= 3 &&
			   spelt_word(nz, s, i, n, o, &rc)) {
			/* the letters and their separators, a dot after the last */
			i += 2 * n - 1;
			if (i < len && s[i] == '.')
				i++;
		} else if (IS_ALNUM(k) || (k & C_LEET)) {
			size_t j = i;
			while (j < len && (IS_ALNUM(ctab[(unsigned char)s[j]]) ||
					   (ctab[(unsigned char)s[j]] & C_LEET) ||
					   bang_at(s, len, j)))
				j++;
			rc = put_token(nz, o, s + i, j - i, i > 0 && s[i - 1] == '#', caps);
			i = j;
		} else {
			rc = bl_buf_addch(o, s[i]);
			i++;
		}
	}
	return rc;
}

int bl_normalise_fold_pattern(const char *p, size_t len, bl_buf *out)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0;
	int rc = BL_OK;

	while (i < len && rc == BL_OK) {
		unsigned cp;
		size_t n;
		if (u[i] < 0x80) {
			rc = bl_buf_addch(out, u[i] == '`' ? '\'' : (char)u[i]);
			i++;
		} else if ((n = utf8_at(u, len, i, &cp)) != 0) {
			rc = put_cp(out, cp);
			i += n;
		} else {
			rc = bl_buf_addch(out, (char)u[i]); /* PCRE2 will say */
			i++;
		}
	}
	return rc;
}

int bl_normalise_view(const bl_normaliser *nz, const char *s, size_t len,
		      bl_buf *a, bl_buf *b, const char **view, size_t *vlen,
		      size_t *bad_at)
{
	size_t bad = (size_t)-1;
	int rc;

	if (bad_at)
		*bad_at = (size_t)-1;
	if (!view || !vlen || !a || !b)
		return BL_EUSAGE;
	*view = s;
	*vlen = s ? len : 0;
	if (!s || plain(s, len))
		return BL_OK;
	rc = decode(s, len, a, &bad);
	if (bad_at)
		*bad_at = bad;
	if (rc == BL_OK)
		rc = restructure(nz, a->buf, a->len, b);
	if (rc != BL_OK)
		return rc == BL_ENOMEM ? BL_ENOMEM : BL_FAILED;
	*view = b->buf;
	*vlen = b->len;
	return BL_OK;
}

/* ------------------------------------------------------------------ */
/* Facts                                                               */
/* ------------------------------------------------------------------ */

/* Common function words of English, and of the other languages most
 * frequent on the web that write with Latin letters (Spanish, French,
 * German, Italian, Portuguese, Dutch, Indonesian, the Scandinavian
 * languages, Turkish, Polish) that are not English words too ("die",
 * "den", "van", "per", "am" are left out).  Sorted. */
static const char *const english_words[] = {
	"after", "and", "are", "at", "be", "been", "before", "being", "but", "by",
	"can", "did", "does", "for", "from", "had", "has", "have", "her", "him",
	"his", "how", "into", "is", "it", "its", "my", "near", "not", "of", "or",
	"our", "over", "she", "that", "the", "their", "them", "these", "they",
	"this", "those", "to", "was", "we", "were", "what", "when", "where",
	"which", "while", "who", "will", "with", "you", "your",
};

static const char *const foreign_words[] = {
	"akan", "al", "alla", "anche", "ao", "att", "au", "auch", "auf", "aus",
	"aux", "av", "avec", "bei", "bij", "bir", "bu", "ce", "che", "como",
	"con", "da", "dan", "dans", "dari", "das", "de", "degli", "dei", "del",
	"della", "delle", "dem", "dengan", "der", "des", "det", "deze", "di",
	"dos", "du", "een", "ein", "eine", "einen", "el", "em", "en", "es", "est",
	"et", "ett", "gli", "het", "ich", "icin", "ikke", "il", "ile", "im",
	"ini", "ist", "itu", "je", "jeg", "jest", "ke", "la", "las", "le", "les",
	"lo", "los", "mas", "med", "mit", "muy", "na", "nach", "nao", "nel",
	"nella", "nicht", "nie", "niet", "nous", "och", "og", "ook", "oraz", "os",
	"ou", "pada", "para", "pas", "pela", "pelo", "por", "pour", "que",
	"questo", "qui", "se", "seu", "sie", "som", "sono", "su", "sua", "sur",
	"sus", "tidak", "til", "uma", "una", "und", "une", "untuk", "ve", "voce",
	"von", "voor", "vous", "wat", "wir", "yang", "zijn", "zu", "zum", "zur",
};

/* Short words title case leaves in lower case ("The Girl of the Year",
 * "Pride and Prejudice"), English and the particles of names: not counted
 * by bl_normalise_case, so that a title reads as all capitals.  Sorted. */
static const char *const minor_words[] = {
	"an", "and", "as", "at", "but", "by", "da", "de", "del", "della",
	"der", "des", "di", "du", "et", "for", "from", "in", "into", "la", "le",
	"les", "nor", "of", "on", "onto", "or", "per", "the", "to", "und",
	"upon", "van", "via", "von", "vs", "with",
};

/* The lists in one hash table of 64-bit keys (a word of up to 8 letters
 * packed into one integer; 0 is an empty slot), built once per process:
 * a word is looked up with a multiply, a shift and a probe or two. */
#define LIST_N(l) (sizeof l / sizeof *l)
#define KEYS_BITS 9
#define KEYS_SIZE (1u << KEYS_BITS)
static uint64_t key_slot[KEYS_SIZE];
static unsigned char key_kind[KEYS_SIZE]; /* bits: 1 English, 2 foreign,
					    * 4 minor (title case) */
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static uint64_t pack(const char *w, size_t n)
{
	uint64_t k = 0;
	for (size_t i = 0; i < n && i < 8; i++)
		k = k << 8 | (unsigned char)w[i];
	return k;
}

static unsigned key_hash(uint64_t k)
{
	return (unsigned)((k * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - KEYS_BITS));
}

static void keys_put(const char *w, unsigned char kind)
{
	uint64_t k = pack(w, strlen(w));
	unsigned h = key_hash(k);
	while (key_slot[h] && key_slot[h] != k)
		h = (h + 1) & (KEYS_SIZE - 1);
	key_slot[h] = k;
	key_kind[h] |= kind;
}

static void keys_build(void)
{
	for (size_t i = 0; i < LIST_N(english_words); i++)
		keys_put(english_words[i], 1);
	for (size_t i = 0; i < LIST_N(foreign_words); i++)
		keys_put(foreign_words[i], 2);
	for (size_t i = 0; i < LIST_N(minor_words); i++)
		keys_put(minor_words[i], 4);
}

/* The lists, built once per process. */
static void keys_ready(void)
{
	pthread_once(&keys_once, keys_build);
}

/* The kind bits of a packed word (0: in no list). */
static int key_kind_of(uint64_t k)
{
	unsigned h = key_hash(k);
	while (key_slot[h]) {
		if (key_slot[h] == k)
			return key_kind[h];
		h = (h + 1) & (KEYS_SIZE - 1);
	}
	return 0;
}

/* Letters of other scripts than Latin: Greek, Cyrillic, Hebrew, Arabic,
 * the Indic scripts, Thai, CJK, kana, Hangul ...: everything from U+0370
 * on that is not punctuation, symbols, emoji, private use or a Latin
 * block. */
static int other_script(unsigned cp)
{
	if (cp < 0x370)
		return 0;
	if ((cp >= 0x1E00 && cp <= 0x1EFF) || (cp >= 0x2000 && cp <= 0x2BFF) ||
	    (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xD800 && cp <= 0xF8FF) ||
	    (cp >= 0xFE00 && cp <= 0xFE6F) || (cp >= 0xFF00 && cp <= 0xFFFF) ||
	    cp >= 0x1F000)
		return 0;
	return 1;
}

/* A Latin letter with a diacritic (or a Latin ligature). */
static int latin_accented(unsigned cp)
{
	return (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) ||
	       (cp >= 0x1E00 && cp <= 0x1EFF);
}

/* End of a word: count it, and look it up when it is short ASCII. */
static void word_done(bl_caption_facts *f, const char *w, size_t n, int ascii,
		      int accent)
{
	f->words++;
	if (accent) {
		f->foreign++;
	} else if (ascii && n <= 6) {
		int kind = key_kind_of(pack(w, n));
		f->english += (kind & 1) != 0;
		f->foreign += (kind & 2) != 0;
	}
}

void bl_normalise_facts(const char *s, size_t len, bl_caption_facts *f)
{
	const unsigned char *u = (const unsigned char *)s;
	char w[8];
	size_t i = 0, wn = 0;
	int in_word = 0, has_letter = 0, ascii = 1, accent = 0;

	memset(f, 0, sizeof *f);
	if (!s)
		return;
	pthread_once(&keys_once, keys_build);
	while (i < len) {
		unsigned cp = u[i], k;
		int wordch;
		if (cp < 0x80) {
			/* ASCII: one table look-up */
			k = ctab[cp];
			i++;
			if (IS_ALNUM(k)) {
				in_word = 1;
				if (IS_LETTER(k)) {
					has_letter = 1;
					f->letters++;
				}
				if (wn < sizeof w)
					w[wn] = (char)(cp | ((k & C_UP) ? 0x20 : 0));
				wn++;
				continue;
			}
		} else {
			size_t n = utf8_at(u, len, i, &cp);
			i += n ? n : 1; /* an invalid byte separates words */
			wordch = 0;
			if (n && latin_accented(cp)) {
				wordch = 1;
				accent = 1;
			} else if (n && other_script(cp)) {
				wordch = 1;
				f->nonlatin++;
			}
			if (wordch) {
				in_word = has_letter = 1;
				ascii = 0;
				f->letters++;
				continue;
			}
		}
		if (in_word && has_letter)
			word_done(f, w, wn, ascii && wn <= sizeof w, accent);
		in_word = has_letter = accent = 0;
		ascii = 1;
		wn = 0;
	}
	if (in_word && has_letter)
		word_done(f, w, wn, ascii && wn <= sizeof w, accent);
}

void bl_normalise_case(const char *view, size_t len, bl_caption_facts *f)
{
	const unsigned char *u = (const unsigned char *)view;
	size_t i = 0;

	f->cased = f->capital = 0;
	if (!view)
		return;
	pthread_once(&keys_once, keys_build);
	while (i < len) {
		uint64_t key = 0;
		size_t letters = 0;
		int up = 0, plain = 1;
		unsigned k;
		/* to the next letter or digit */
		while (i < len && !IS_ALNUM(ctab[u[i]]))
			i++;
		if (i == len)
			break;
		if (ctab[u[i]] & C_DIG) {
			/* a word that begins with a digit is not counted */
			while (i < len && (IS_ALNUM(k = ctab[u[i]]) || u[i] == '\'' || u[i] == '-'))
				i++;
			continue;
		}
		while (i < len && (IS_ALNUM(k = ctab[u[i]]) || u[i] == '\'' || u[i] == '-')) {
			if (IS_LETTER(k)) {
				up |= k & C_UP;
				if (++letters <= 7)
					key = key << 8 | (uint64_t)(u[i] | 0x20);
			} else {
				plain = 0; /* an apostrophe, a hyphen, a digit */
			}
			i++;
		}
		if (letters < 2 || (plain && letters <= 7 && (key_kind_of(key) & 4)))
			continue;
		f->cased++;
		f->capital += up != 0;
	}
}
