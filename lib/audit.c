/*
 * audit.c - how far to trust the tags on a user's own data: review sheets
 * drawn from an index, read back once a person has judged them, and the
 * corrections they allow (Rogan-Gladen).
 *
 * The design is a stratified one.  For each audited node (a label, or a
 * family such as "sexual": any label below it), the index splits into two
 * strata: samples the tagger gave the node ("tagged", N1 of them) and the
 * rest ("untagged", N0).  A simple random sample without replacement is
 * drawn in each stratum (selection sampling, one seeded stream per
 * stratum, in primary-key order, so the draw does not depend on threads
 * or on anything but the index and the seed).  A person judges each
 * drawn caption: does the label apply?  The judged tagged rows estimate
 * the precision (PPV), the judged untagged rows the false omission rate
 * FOR = 1 - NPV; with the strata sizes recorded on every row, the true
 * count is N1 PPV + N0 FOR, hence
 *
 *   sensitivity Se = N1 PPV / (N1 PPV + N0 FOR)
 *   specificity Sp = N0 (1 - FOR) / (N0 (1 - FOR) + N1 (1 - PPV))
 *   prevalence  pi = (N1 PPV + N0 FOR) / (N1 + N0)
 *
 * which is also what Rogan-Gladen, pi = (p + Sp - 1) / (Se + Sp - 1),
 * gives from the observed share p = N1 / N.  A rare label needs the
 * untagged stratum: without it only precision can be said.  The "simple"
 * design draws samples from the whole index and judges every audited
 * node on each; its rows are post-stratified the same way (their strata
 * sizes are known from the index), so one estimator serves both.
 *
 * Uncertainty: PPV and FOR get Jeffreys Beta(k + 1/2, n - k + 1/2)
 * distributions, narrowed by the finite-population factor (a stratum
 * drawn whole is known exactly); Se, Sp, pi and every corrected rate of a
 * report are computed on BL_AUDIT_DRAWS seeded draws of them (and of the
 * report's own observed rate, Beta at its effective size), and the 95%
 * interval is the 2.5% and 97.5% percentiles.  That is a parametric
 * bootstrap; it carries the audit's own uncertainty into every corrected
 * number, and the correlation between a cell's rate and the rest's (the
 * same Se, Sp draws serve both).  Seeds are fixed, so the same sheet and
 * index give the same bytes.
 *
 * A sheet is a TSV: an optional comment line (what was drawn, how to
 * fill it in), a header naming the columns (read by name, so a
 * spreadsheet may reorder them) and one row per judgement.  Rows of one
 * sample stay together; samples are shuffled, so the order tells a
 * reviewer nothing, and the tagger's decision sits in the "stratum"
 * column at the end, away from the caption.  The HTML page shows the
 * captions (and, from plain tars, the images, except for samples tagged
 * age.* or safety.*) without the tagger's decision.  Nothing here prints.
 */
#include "error_int.h"
#include "alloc_int.h"
#include "index_int.h"
#include "report_fmt_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_PER_STRATUM 25
#define DEFAULT_SIMPLE 200
#define MAX_NODES 64
#define MAX_IMAGE (512 * 1024)
#define SEED_DRAWS 0x61756469745345ULL /* the report's draws: fixed */

static const char *const design_names[] = {"stratified", "tagged", "simple"};

const char *bl_audit_design_name(int design)
{
	return design >= 0 && design < 3 ? design_names[design] : "unknown";
}

const char *bl_audit_status_name(int status)
{
	switch (status) {
	case BL_FIX_OK: return "corrected";
	case BL_FIX_CLIPPED: return "clipped to [0, 1]";
	case BL_FIX_UNDEFINED: return "undefined (Se + Sp <= 1)";
	case BL_FIX_TOO_SMALL: return "audit too small";
	default: return "not audited";
	}
}

/* ---- random draws ---------------------------------------------------------- */

static double std_normal(bl_rng *r)
{
	/* Marsaglia's polar method; one of the pair is dropped, so that a
	 * draw never depends on an earlier call */
	double u, v, s;
	do {
		u = 2 * bl_rng_double(r) - 1;
		v = 2 * bl_rng_double(r) - 1;
		s = u * u + v * v;
	} while (s >= 1 || s == 0);
	return u * sqrt(-2 * log(s) / s);
}

/* Gamma(shape, 1): Marsaglia and Tsang; shape < 1 by boosting. */
static double gamma_draw(bl_rng *r, double a)
{
	double boost = 1, d, c;

	if (a < 1) {
		double u = bl_rng_double(r);
		boost = pow(u > 0 ? u : 1e-300, 1 / a);
		a += 1;
	}
	d = a - 1.0 / 3;
	c = 1 / sqrt(9 * d);
	for (;;) {
		double x = std_normal(r), v = 1 + c * x, u;
		if (v <= 0)
			continue;
		v = v * v * v;
		u = bl_rng_double(r);
		if (u < 1 - 0.0331 * x * x * x * x ||
		    (u > 0 && log(u) < 0.5 * x * x + d * (1 - v + log(v))))
			return boost * d * v;
	}
}

static double beta_draw(bl_rng *r, double a, double b)
{
	double x = gamma_draw(r, a), y = gamma_draw(r, b);
	return x + y > 0 ? x / (x + y) : 0.5;
}

/*
 * A draw of a proportion judged k of n in a stratum of N: Jeffreys, its
 * variance narrowed by the finite-population factor 1 - n/N (pseudo
 * counts scaled by 1 / (1 - n/N)); the point value when the whole
 * stratum was judged.
 */
static double prop_draw(bl_rng *r, double k, double n, double N)
{
	double f, m;

	if (n <= 0)
		return NAN;
	f = N > 0 ? n / N : 0;
	if (f >= 1)
		return k / n;
	m = 1 / (1 - f);
	return beta_draw(r, (k + 0.5) * m, (n - k + 0.5) * m);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	/* NAN last */
	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	return x < y ? -1 : x > y;
}

/* 2.5% and 97.5% percentiles of v[0..n) (sorted in place; NAN last and
 * counted as unbounded). */
static void percentiles(double *v, size_t n, double *lo, double *hi)
{
	size_t ilo = (size_t)floor(0.025 * (double)n), ihi = (size_t)ceil(0.975 * (double)n);

	qsort(v, n, sizeof *v, cmp_double);
	if (ihi > 0)
		ihi--;
	*lo = n ? v[ilo] : NAN;
	*hi = n ? v[ihi] : NAN;
	if (!isfinite(*lo))
		*lo = NAN;
	if (!isfinite(*hi))
		*hi = NAN;
}

/* ---- a sheet read back ------------------------------------------------------ */

struct stratum {
	double size;        /* N_h as recorded (NAN: not yet seen) */
	double said;        /* stratum_drawn as recorded */
	uint64_t drawn, judged, yes;
};

struct node {
	char *name;
	int design;
	struct stratum s[2];  /* 0 untagged, 1 tagged */
	/* derived */
	bl_audit_est est;
	double *se, *sp;      /* BL_AUDIT_DRAWS draws, or NULL */
	double bad_draws;     /* share of draws with Se + Sp <= 1 */
};

struct bl_audit {
	char *path;
	struct node *nodes;
	size_t nnodes, anodes;
	uint64_t rows, judged;
	bl_strlist problems;
	bl_strlist comment;   /* the sheet's "# " lines */
	int design;
	double index_samples; /* from the comment line, or NAN */
	char rules[24];       /* the rules digest (prefix) the comment line
			       * records, or "" */
	int has_comment;      /* the sheet's "# ballast audit sheet" line */
	int other_index;      /* bound to another index than the audited
			       * one (bl_audit_bind): no finite-population
			       * factor */
	char *warning;        /* why the corrections do not hold, or NULL */
};

void bl_audit_free(bl_audit *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nnodes; i++) {
		free(a->nodes[i].name);
		free(a->nodes[i].se);
		free(a->nodes[i].sp);
	}
	free(a->nodes);
	free(a->path);
	free(a->warning);
	bl_strlist_release(&a->problems);
	bl_strlist_release(&a->comment);
	free(a);
}

static struct node *node_get(bl_audit *a, const char *name)
{
	struct node *v;

	for (size_t i = 0; i < a->nnodes; i++)
		if (strcmp(a->nodes[i].name, name) == 0)
			return &a->nodes[i];
	if (a->nnodes >= 4096)
		return NULL;
	if (BL_ALLOC_GROW(a->nodes, a->nnodes + 1, a->anodes) != BL_OK)
		return NULL;
	v = &a->nodes[a->nnodes];
	memset(v, 0, sizeof *v);
	v->name = strdup(name);
	if (!v->name)
		return NULL;
	v->s[0].size = v->s[1].size = NAN;
	v->design = -1;
	a->nnodes++;
	return v;
}

/*
 * The rows a sheet has had so far, by identity (a hash of the audit_row,
 * or of shard, ordinal and label), for the rows a spreadsheet pasted
 * twice.  Open addressing; hash 0 marks an empty slot.
 */
struct seen {
	uint64_t *h;
	unsigned long *line;
	size_t n, cap;
};

static void seen_release(struct seen *t)
{
	free(t->h);
	free(t->line);
	memset(t, 0, sizeof *t);
}

/* The line that had hash h first, 0 when none (h is then recorded as
 * line's); BL_ENOMEM as (unsigned long)-1. */
static unsigned long seen_add(struct seen *t, uint64_t h, unsigned long line)
{
	size_t i;

	h += !h;
	if (2 * (t->n + 1) > t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		uint64_t *nh = calloc(cap, sizeof *nh);
		unsigned long *nl = calloc(cap, sizeof *nl);
		if (!nh || !nl) {
			free(nh);
			free(nl);
			return (unsigned long)-1;
		}
		for (size_t k = 0; k < t->cap; k++) {
			if (!t->h[k])
				continue;
			for (i = t->h[k] & (cap - 1); nh[i]; i = (i + 1) & (cap - 1))
				;
			nh[i] = t->h[k];
			nl[i] = t->line[k];
		}
		free(t->h);
		free(t->line);
		t->h = nh;
		t->line = nl;
		t->cap = cap;
	}
	for (i = h & (t->cap - 1); t->h[i]; i = (i + 1) & (t->cap - 1))
		if (t->h[i] == h)
			return t->line[i];
	t->h[i] = h;
	t->line[i] = line;
	t->n++;
	return 0;
}

/* A hash of n strings (each with its NUL, so "a","bc" is not "ab","c"). */
static uint64_t hash_fields(const char *const *f, int n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < n; i++)
		h = (h ^ bl_hash_bytes(f[i], strlen(f[i]) + 1)) * 0x100000001b3ULL;
	return h;
}

/* Split a TSV line (modified in place) into at most max fields; a field
 * a spreadsheet quoted ("a ""b""") is unquoted.  Returns the count. */
static int split_tsv(char *line, char **f, int max)
{
	int n = 0;
	char *p = line;

	while (n < max) {
		char *end = strchr(p, '\t');
		if (end)
			*end = '\0';
		if (p[0] == '"' && strlen(p) >= 2 && p[strlen(p) - 1] == '"') {
			char *w = p;
			p[strlen(p) - 1] = '\0';
			for (char *r = p + 1; *r; r++) {
				if (r[0] == '"' && r[1] == '"')
					r++;
				*w++ = *r;
			}
			*w = '\0';
		}
		f[n++] = p;
		if (!end)
			break;
		p = end + 1;
	}
	return n;
}

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	if (*s == ' ') {
		size_t k = strspn(s, " ");
		memmove(s, s + k, strlen(s + k) + 1);
	}
}

/* 1 yes, 0 no, -1 not judged, -2 not understood. */
static int judgement(const char *s)
{
	static const char *const yes[] = {"y", "yes", "1", "true", "t"};
	static const char *const no[] = {"n", "no", "0", "false", "f"};
	static const char *const skip[] = {"", "?", "-", "skip", "unsure", "na", "n/a"};

	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
		if (strcasecmp(s, skip[i]) == 0)
			return -1;
	return -2;
}

static int problem(bl_audit *a, unsigned long line, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));
static int problem(bl_audit *a, unsigned long line, const char *fmt, ...)
{
	char msg[512], what[400];
	va_list ap;
	va_start(ap, fmt);
	bl_error_vset(what, sizeof what, fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof msg, "%s:%lu: %s", a->path, line, what);
	return bl_strlist_add(&a->problems, msg);
}

/* Skip a UTF-8 byte order mark and a spreadsheet's quotes around a
 * comment line; 1 when the line is a comment. */
static int comment_line(char *line, char **text)
{
	char *p = line;
	if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
	    (unsigned char)p[2] == 0xbf)
		p += 3;
	if (*p == '"')
		p++;
	if (*p != '#')
		return 0;
	*text = p;
	return 1;
}

int bl_audit_sniff(const char *path)
{
	FILE *f = path ? fopen(path, "r") : NULL;
	char *line = NULL;
	size_t cap = 0;
	int found = 0, n = 0;

	if (!f)
		return 0;
	while (n++ < 8 && getline(&line, &cap, f) >= 0) {
		char *c;
		if (comment_line(line, &c)) {
			if (strncmp(c, "# ballast audit sheet", 21) == 0) {
				found = 1;
				break;
			}
			continue;
		}
		found = strncmp(line + (strncmp(line, "\xef\xbb\xbf", 3) ? 0 : 3), "audit_row\t",
				10) == 0;
		break;
	}
	free(line);
	fclose(f);
	return found;
}

/* Read "samples N" and "rules DIGEST" from the sheet's comment line. */
static void comment_facts(bl_audit *a, const char *c)
{
	const char *p = strstr(c, "| samples ");
	size_t n;

	if (p)
		a->index_samples = strtod(p + 10, NULL);
	p = strstr(c, "| rules ");
	if (p) {
		p += 8;
		n = strspn(p, "0123456789abcdef");
		if (n >= sizeof a->rules)
			n = sizeof a->rules - 1;
		memcpy(a->rules, p, n);
		a->rules[n] = '\0';
	}
}

static int estimate_node(bl_audit *a, size_t i);

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct node *)a)->name, ((const struct node *)b)->name);
}

enum { C_ROW, C_LABEL, C_JUDGE, C_STRATUM, C_SIZE, C_DRAWN, C_DESIGN, C_N };

bl_audit *bl_audit_read(const char *path, char *err, size_t errlen)
{
	static const char *const want[C_N] = {"audit_row", "label", "judgement", "stratum",
					      "stratum_size", "stratum_drawn", "design"};
	bl_audit *a = calloc(1, sizeof *a);
	FILE *f = NULL;
	char *line = NULL, *fld[64];
	size_t cap = 0;
	int col[C_N], have_header = 0, col_shard = -1, col_ord = -1;
	struct seen by_row = {0}, by_sample = {0};
	unsigned long lineno = 0;
	ssize_t got;
	char dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!a || !path || !(a->path = strdup(path))) {
		bl_error_set(err, errlen, path ? "out of memory" : "no sheet given");
		goto fail;
	}
	bl_strlist_init(&a->problems);
	bl_strlist_init(&a->comment);
	a->design = -1;
	a->index_samples = NAN;
	f = fopen(path, "r");
	if (!f) {
		bl_error_set(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		goto fail;
	}
	while ((got = getline(&line, &cap, f)) >= 0) {
		char *c;
		int n;
		struct node *nd;
		struct stratum *st;
		double size, drawn;
		int j, h;
		char *end;

		lineno++;
		if (memchr(line, '\0', (size_t)got)) {
			bl_error_set(err, errlen, "%s:%lu: a NUL byte: not a text sheet", path, lineno);
			goto fail;
		}
		trim(line);
		if (comment_line(line, &c)) {
			char *tab = strchr(c, '\t');
			if (tab)
				*tab = '\0';
			trim(c);
			if (c[strlen(c) - 1] == '"')
				c[strlen(c) - 1] = '\0';
			if (bl_strlist_add(&a->comment, c) != BL_OK)
				goto nomem;
			if (strncmp(c, "# ballast audit sheet", 21) == 0)
				a->has_comment = 1;
			comment_facts(a, c);
			continue;
		}
		if (!line[strspn(line, "\t ")])
			continue;
		n = split_tsv(line, fld, 64);
		if (!have_header) {
			char *h0 = fld[0];
			if (strncmp(h0, "\xef\xbb\xbf", 3) == 0)
				h0 += 3;
			fld[0] = h0;
			for (int k = 0; k < C_N; k++) {
				col[k] = -1;
				for (int i = 0; i < n; i++)
					if (strcmp(fld[i], want[k]) == 0)
						col[k] = i;
			}
			if (col[C_ROW] != 0) {
				snprintf(err, errlen,
					 "%s:%lu: not an audit sheet (the header must start with "
					 "'audit_row'; draw one with ballast audit)", path, lineno);
				goto fail;
			}
			for (int i = 0; i < n; i++) {
				if (strcmp(fld[i], "shard") == 0)
					col_shard = i;
				if (strcmp(fld[i], "ordinal") == 0)
					col_ord = i;
			}
			for (int k = 0; k < C_N; k++)
				if (col[k] < 0) {
					bl_error_set(err, errlen, "%s:%lu: the header lacks the column '%s'",
						 path, lineno, want[k]);
					goto fail;
				}
			have_header = 1;
			continue;
		}
		a->rows++;
		{
			int need = 0;
			for (int k = 0; k < C_N; k++)
				if (col[k] >= need)
					need = col[k] + 1;
			if (n < need) {
				if (problem(a, lineno, "%s", "too few columns; row not counted") != BL_OK)
					goto nomem;
				continue;
			}
		}
		trim(fld[col[C_LABEL]]);
		trim(fld[col[C_JUDGE]]);
		h = strcmp(fld[col[C_STRATUM]], "tagged") == 0     ? 1
		    : strcmp(fld[col[C_STRATUM]], "untagged") == 0 ? 0
								   : -1;
		size = strtod(fld[col[C_SIZE]], &end);
		if (h < 0 || *end || !(size >= 1) || size > 1e15) {
			if (problem(a, lineno, "%s",
				    "stratum must be 'tagged' or 'untagged' with a stratum_size "
				    ">= 1; row not counted") != BL_OK)
				goto nomem;
			continue;
		}
		drawn = strtod(fld[col[C_DRAWN]], &end);
		if (*end || !(drawn >= 1) || drawn > size) {
			if (problem(a, lineno, "%s",
				    "stratum_drawn must be a count from 1 to stratum_size; row "
				    "not counted") != BL_OK)
				goto nomem;
			continue;
		}
		if (!fld[col[C_LABEL]][0]) {
			if (problem(a, lineno, "%s", "no label; row not counted") != BL_OK)
				goto nomem;
			continue;
		}
		/* a row twice (a spreadsheet's paste, a copied line) would
		 * count one judgement twice: the first stands */
		{
			const char *id[3];
			unsigned long first;
			trim(fld[0]);
			id[0] = fld[0];
			id[1] = fld[col[C_LABEL]];
			first = id[0][0] ? seen_add(&by_row, hash_fields(id, 1), lineno) : 0;
			if (first == (unsigned long)-1)
				goto nomem;
			if (first) {
				if (problem(a, lineno, "audit_row %s repeats line %lu (a row pasted "
					    "twice?); row not counted", id[0], first) != BL_OK)
					goto nomem;
				continue;
			}
			if (col_shard >= 0 && col_ord >= 0 && n > col_shard && n > col_ord &&
			    fld[col_shard][0] && fld[col_ord][0]) {
				id[0] = fld[col_shard];
				id[2] = fld[col_ord];
				first = seen_add(&by_sample, hash_fields(id, 3), lineno);
				if (first == (unsigned long)-1)
					goto nomem;
				if (first) {
					if (problem(a, lineno, "shard '%s' ordinal %s with label '%s' "
						    "repeats line %lu (a row pasted twice?); row not "
						    "counted", id[0], id[2], id[1], first) != BL_OK)
						goto nomem;
					continue;
				}
			}
		}
		nd = node_get(a, fld[col[C_LABEL]]);
		if (!nd)
			goto nomem;
		st = &nd->s[h];
		if (!isnan(st->size) && (st->size != size || st->said != drawn)) {
			if (problem(a, lineno, "stratum_size or stratum_drawn of '%s' differs from "
				    "an earlier row: two sheets pasted together? row not counted",
				    nd->name) != BL_OK)
				goto nomem;
			continue;
		}
		st->size = size;
		st->said = drawn;
		if ((double)st->drawn + 1 > drawn) {
			if (problem(a, lineno, "more rows of '%s' in the %s stratum than its "
				    "stratum_drawn (%.0f); row not counted", nd->name,
				    h ? "tagged" : "untagged", drawn) != BL_OK)
				goto nomem;
			continue;
		}
		{
			int d = -1;
			for (int k = 0; k < 3; k++)
				if (strcmp(fld[col[C_DESIGN]], design_names[k]) == 0)
					d = k;
			if (d >= 0) {
				nd->design = d;
				a->design = a->design < 0 || a->design == d ? d : 3;
			}
		}
		st->drawn++;
		j = judgement(fld[col[C_JUDGE]]);
		if (j == -2) {
			if (problem(a, lineno, "judgement '%s' is not y or n (nor empty); row not "
				    "counted", fld[col[C_JUDGE]]) != BL_OK)
				goto nomem;
			continue;
		}
		if (j >= 0) {
			st->judged++;
			st->yes += (uint64_t)j;
			a->judged++;
		}
	}
	if (ferror(f)) {
		bl_error_set(err, errlen, "error reading '%s'", path);
		goto fail;
	}
	if (!have_header) {
		bl_error_set(err, errlen, "%s: no header line: not an audit sheet", path);
		goto fail;
	}
	fclose(f);
	free(line);
	seen_release(&by_row);
	seen_release(&by_sample);
	/* by name, whatever order the rows came in */
	qsort(a->nodes, a->nnodes, sizeof *a->nodes, cmp_node);
	for (size_t i = 0; i < a->nnodes; i++)
		if (estimate_node(a, i) != BL_OK) {
			bl_error_set(err, errlen, "out of memory");
			bl_audit_free(a);
			return NULL;
		}
	return a;
nomem:
	bl_error_set(err, errlen, "out of memory");
fail:
	if (f)
		fclose(f);
	free(line);
	seen_release(&by_row);
	seen_release(&by_sample);
	bl_audit_free(a);
	return NULL;
}

/* Se and Sp from PPV and FOR and the strata sizes. */
static void se_sp(double N1, double N0, double ppv, double fo, double *se, double *sp)
{
	double tp = N1 * ppv, fn = N0 * fo, fp = N1 * (1 - ppv), tn = N0 * (1 - fo);
	*se = tp + fn > 0 ? tp / (tp + fn) : NAN;
	*sp = tn + fp > 0 ? tn / (tn + fp) : NAN;
}

/* Rogan-Gladen, unclipped; NAN when Se + Sp <= 1. */
double bl_audit_rogan_gladen(double p, double se, double sp)
{
	double j = se + sp - 1;
	return j > 0 ? (p + sp - 1) / j : NAN;
}

static double clip01(double x)
{
	return x < 0 ? 0 : x > 1 ? 1 : x;
}

static int estimate_node(bl_audit *a, size_t i)
{
	struct node *nd = &a->nodes[i];
	bl_audit_est *e = &nd->est;
	struct stratum *t = &nd->s[1], *u = &nd->s[0];
	double N1 = isnan(t->size) ? NAN : t->size, N0 = isnan(u->size) ? NAN : u->size;
	double *pv = NULL;
	bl_rng rng;
	int bad = 0;

	memset(e, 0, sizeof *e);
	e->node = nd->name;
	e->design = nd->design;
	e->size_tagged = N1;
	e->size_untagged = N0;
	e->drawn_tagged = t->drawn;
	e->drawn_untagged = u->drawn;
	e->judged_tagged = t->judged;
	e->judged_untagged = u->judged;
	e->yes_tagged = t->yes;
	e->yes_untagged = u->yes;
	e->precision = e->precision_lo = e->precision_hi = NAN;
	e->npv = e->npv_lo = e->npv_hi = NAN;
	e->sensitivity = e->se_lo = e->se_hi = NAN;
	e->specificity = e->sp_lo = e->sp_hi = NAN;
	e->prevalence = e->prev_lo = e->prev_hi = NAN;
	e->observed = N1 + N0 > 0 ? N1 / (N1 + N0) : NAN;
	e->status = BL_FIX_NONE;
	if (t->judged) {
		e->precision = (double)t->yes / (double)t->judged;
		bl_stats_wilson(e->precision, (double)t->judged, 0, &e->precision_lo,
				&e->precision_hi);
	}
	if (u->judged) {
		e->npv = 1 - (double)u->yes / (double)u->judged;
		bl_stats_wilson(e->npv, (double)u->judged, 0, &e->npv_lo, &e->npv_hi);
	}
	if (!t->judged || !u->judged || isnan(N1) || isnan(N0))
		return BL_OK; /* precision only: no untagged rows (or no tagged) */
	se_sp(N1, N0, e->precision, 1 - e->npv, &e->sensitivity, &e->specificity);
	free(nd->se);
	free(nd->sp);
	nd->se = malloc(BL_AUDIT_DRAWS * sizeof *nd->se);
	nd->sp = malloc(BL_AUDIT_DRAWS * sizeof *nd->sp);
	pv = malloc(3 * BL_AUDIT_DRAWS * sizeof *pv);
	if (!nd->se || !nd->sp || !pv) {
		free(pv);
		return BL_ENOMEM;
	}
	bl_rng_seed2(&rng, SEED_DRAWS, bl_hash_bytes(nd->name, strlen(nd->name)));
	for (size_t b = 0; b < BL_AUDIT_DRAWS; b++) {
		/* the audited index's strata are finite populations; for
		 * another index they are samples of how the tagger errs */
		double ppv = prop_draw(&rng, (double)t->yes, (double)t->judged,
				       a->other_index ? 0 : N1);
		double fo = prop_draw(&rng, (double)u->yes, (double)u->judged,
				      a->other_index ? 0 : N0);
		se_sp(N1, N0, ppv, fo, &nd->se[b], &nd->sp[b]);
		pv[b] = nd->se[b];
		pv[BL_AUDIT_DRAWS + b] = nd->sp[b];
		pv[2 * BL_AUDIT_DRAWS + b] = (N1 * ppv + N0 * fo) / (N1 + N0);
		bad += !(nd->se[b] + nd->sp[b] > 1);
	}
	nd->bad_draws = (double)bad / BL_AUDIT_DRAWS;
	percentiles(pv, BL_AUDIT_DRAWS, &e->se_lo, &e->se_hi);
	percentiles(pv + BL_AUDIT_DRAWS, BL_AUDIT_DRAWS, &e->sp_lo, &e->sp_hi);
	percentiles(pv + 2 * BL_AUDIT_DRAWS, BL_AUDIT_DRAWS, &e->prev_lo, &e->prev_hi);
	free(pv);
	e->prevalence = (N1 * e->precision + N0 * (1 - e->npv)) / (N1 + N0);
	/* the estimate itself first: tags that carry no information are
	 * not a matter of audit size */
	e->status = !(e->sensitivity + e->specificity > 1) ? BL_FIX_UNDEFINED
		    : t->judged < BL_AUDIT_MIN_JUDGED || u->judged < BL_AUDIT_MIN_JUDGED ||
				    nd->bad_draws > 0.025
			    ? BL_FIX_TOO_SMALL
			    : BL_FIX_OK;
	return BL_OK;
}

size_t bl_audit_nnodes(const bl_audit *a)
{
	return a ? a->nnodes : 0;
}

int bl_audit_find(const bl_audit *a, const char *node)
{
	for (size_t i = 0; a && node && i < a->nnodes; i++)
		if (strcmp(a->nodes[i].name, node) == 0)
			return (int)i;
	return -1;
}

const bl_audit_est *bl_audit_node(const bl_audit *a, size_t i)
{
	return a && i < a->nnodes ? &a->nodes[i].est : NULL;
}

void bl_audit_totals(const bl_audit *a, uint64_t *rows, uint64_t *judged,
		     double *index_samples)
{
	if (rows)
		*rows = a ? a->rows : 0;
	if (judged)
		*judged = a ? a->judged : 0;
	if (index_samples)
		*index_samples = a ? a->index_samples : NAN;
}

size_t bl_audit_nproblems(const bl_audit *a)
{
	return a ? a->problems.n : 0;
}

const char *bl_audit_problem(const bl_audit *a, size_t i)
{
	return a && i < a->problems.n ? a->problems.items[i] : NULL;
}

const char *bl_audit_comment(const bl_audit *a)
{
	return a && a->comment.n ? a->comment.items[0] : NULL;
}

const char *bl_audit_path(const bl_audit *a)
{
	return a ? a->path : NULL;
}

int bl_audit_bind(bl_audit *a, bl_index *ix, char *err, size_t errlen)
{
	bl_index_status st;
	char *rules;
	int other, rc;
	char dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!a || !ix)
		return BL_EUSAGE;
	rc = bl_index_get_status(ix, &st);
	if (rc != BL_OK) {
		bl_error_set(err, errlen, "%s", bl_index_errmsg(ix));
		return rc;
	}
	other = isfinite(a->index_samples) && a->index_samples != (double)st.samples;
	if (other != a->other_index) {
		a->other_index = other;
		for (size_t i = 0; i < a->nnodes; i++) {
			rc = estimate_node(a, i);
			if (rc != BL_OK)
				return rc;
		}
	}
	free(a->warning);
	a->warning = NULL;
	rules = bl_index_meta_get(ix, NULL, "rules_digest");
	if (a->rules[0] && rules && strncmp(rules, a->rules, strlen(a->rules)) != 0) {
		char msg[400];
		snprintf(msg, sizeof msg,
			 "the audit judged the tags of other rules (%s) than this index's "
			 "(%.16s): its precision, Se and Sp describe another tagger, so rates "
			 "corrected with it do not hold; draw and judge a new sheet "
			 "(ballast audit)",
			 a->rules, rules);
		a->warning = strdup(msg);
		bl_error_set(err, errlen, "%s", msg);
		rc = a->warning ? BL_WARN : BL_ENOMEM;
	} else if (!a->rules[0] && rules) {
		/* a sheet that does not say which tagger it judged cannot
		 * be held against this one's */
		char msg[400];
		snprintf(msg, sizeof msg,
			 "the audit sheet does not record the rules whose tags it judged (%s): "
			 "it cannot be checked against this index's (%.16s), so rates corrected "
			 "with it may describe another tagger; use the sheet as ballast audit "
			 "wrote it, or draw and judge a new one",
			 a->has_comment ? "its first line has no rules digest"
					: "its first line, '# ballast audit sheet ...', is missing",
			 rules);
		a->warning = strdup(msg);
		bl_error_set(err, errlen, "%s", msg);
		rc = a->warning ? BL_WARN : BL_ENOMEM;
	}
	free(rules);
	return rc;
}

const char *bl_audit_warning(const bl_audit *a)
{
	return a ? a->warning : NULL;
}

/* ---- corrections ------------------------------------------------------------ */

static void fix_init(bl_audit_fix *f)
{
	f->est = f->lo = f->hi = NAN;
	f->status = BL_FIX_NONE;
}

/* The status of a corrected value x (unclipped) from node nd. */
static int fix_status(const struct node *nd, double x)
{
	if (isnan(x) || nd->est.status == BL_FIX_UNDEFINED)
		return BL_FIX_UNDEFINED;
	if (nd->est.status == BL_FIX_TOO_SMALL)
		return BL_FIX_TOO_SMALL;
	return x < 0 || x > 1 ? BL_FIX_CLIPPED : BL_FIX_OK;
}

int bl_audit_correct_pair(const bl_audit *a, int node, double e1, double n1, double e2,
			  double n2, uint64_t stream, bl_audit_fix *r1, bl_audit_fix *r2,
			  bl_audit_fix *ratio)
{
	const struct node *nd;
	bl_audit_fix f1, f2, fr;
	double *v = NULL, x1, x2;
	bl_rng rng;
	int two = r2 || ratio, rc = BL_OK;

	fix_init(&f1);
	fix_init(&f2);
	fix_init(&fr);
	if (!a || node < 0 || (size_t)node >= a->nnodes) {
		rc = BL_EUSAGE;
		goto out;
	}
	nd = &a->nodes[node];
	if (!nd->se || !(n1 > 0) || (two && !(n2 > 0)))
		goto out;
	x1 = bl_audit_rogan_gladen(e1 / n1, nd->est.sensitivity, nd->est.specificity);
	x2 = two ? bl_audit_rogan_gladen(e2 / n2, nd->est.sensitivity, nd->est.specificity)
		 : NAN;
	f1.status = fix_status(nd, x1);
	f1.est = isnan(x1) ? NAN : clip01(x1);
	if (two) {
		f2.status = fix_status(nd, x2);
		f2.est = isnan(x2) ? NAN : clip01(x2);
		fr.status = f1.status > f2.status ? f1.status : f2.status;
		if (fr.status == BL_FIX_CLIPPED)
			fr.status = BL_FIX_OK; /* a ratio of clipped rates is still a ratio */
		fr.est = f2.est > 0 ? f1.est / f2.est : NAN;
	}
	v = malloc(3 * BL_AUDIT_DRAWS * sizeof *v);
	if (!v) {
		rc = BL_ENOMEM;
		goto out;
	}
	bl_rng_seed2(&rng, SEED_DRAWS ^ 0x5bd1e995u, stream);
	for (size_t b = 0; b < BL_AUDIT_DRAWS; b++) {
		double p1 = beta_draw(&rng, e1 + 0.5, n1 - e1 + 0.5), p2;
		double y1 = bl_audit_rogan_gladen(p1, nd->se[b], nd->sp[b]), y2 = NAN;
		if (two) {
			p2 = beta_draw(&rng, e2 + 0.5, n2 - e2 + 0.5);
			y2 = bl_audit_rogan_gladen(p2, nd->se[b], nd->sp[b]);
		}
		y1 = isnan(y1) ? NAN : clip01(y1);
		y2 = isnan(y2) ? NAN : clip01(y2);
		v[b] = y1;
		v[BL_AUDIT_DRAWS + b] = y2;
		v[2 * BL_AUDIT_DRAWS + b] = y2 > 0 ? y1 / y2 : y1 > 0 ? INFINITY : NAN;
	}
	percentiles(v, BL_AUDIT_DRAWS, &f1.lo, &f1.hi);
	if (two) {
		percentiles(v + BL_AUDIT_DRAWS, BL_AUDIT_DRAWS, &f2.lo, &f2.hi);
		percentiles(v + 2 * BL_AUDIT_DRAWS, BL_AUDIT_DRAWS, &fr.lo, &fr.hi);
	}
	free(v);
out:
	if (r1)
		*r1 = f1;
	if (r2)
		*r2 = f2;
	if (ratio)
		*ratio = fr;
	return rc;
}

int bl_audit_correct(const bl_audit *a, int node, double events, double n, uint64_t stream,
		     bl_audit_fix *rate)
{
	return bl_audit_correct_pair(a, node, events, n, 0, 0, stream, rate, NULL, NULL);
}

/* ---- drawing a sheet ---------------------------------------------------------- */

struct pick {
	int64_t shard;
	int64_t ordinal;
	int node;      /* index into the audited nodes */
	int tagged;
	uint64_t unit; /* shuffle position of its sample */
};

struct draw {
	bl_index *ix;
	const bl_audit_options *opt;
	int nnodes;
	char *nodes[MAX_NODES];
	bl_labelset mask[MAX_NODES];
	double N[MAX_NODES][2];        /* strata sizes */
	double want[MAX_NODES][2];     /* rows to draw per stratum */
	double drawn[MAX_NODES][2];
	double total;                  /* samples in the index */
	struct pick *picks;
	size_t npicks, apicks;
	char *err;
	size_t errlen;
};

static int add_node(struct draw *d, const char *name)
{
	bl_labelset m;
	int any = 0;

	for (int i = 0; i < d->nnodes; i++)
		if (strcmp(d->nodes[i], name) == 0)
			return BL_OK;
	bl_labelset_clear(&m);
	for (int l = 0; l < bl_index_nlabels(d->ix); l++)
		if (bl_label_in_family(bl_index_label(d->ix, l), name)) {
			bl_labelset_set(&m, l);
			any = 1;
		}
	if (!any) {
		snprintf(d->err, d->errlen, "'%s': no label of the index is that label or below it",
			 name);
		return BL_FAILED;
	}
	if (d->nnodes >= MAX_NODES) {
		snprintf(d->err, d->errlen, "more than %d labels to audit at once", MAX_NODES);
		return BL_FAILED;
	}
	d->nodes[d->nnodes] = strdup(name);
	if (!d->nodes[d->nnodes]) {
		snprintf(d->err, d->errlen, "out of memory");
		return BL_ENOMEM;
	}
	d->mask[d->nnodes++] = m;
	return BL_OK;
}

/* The audited nodes: opt->nodes, or the skew table's families. */
static int choose_nodes(struct draw *d)
{
	const char *list = d->opt->nodes;
	int rc = BL_OK;

	if (list && *list) {
		char *copy = strdup(list), *save = NULL;
		if (!copy) {
			snprintf(d->err, d->errlen, "out of memory");
			return BL_ENOMEM;
		}
		for (char *t = strtok_r(copy, ",", &save); t && rc == BL_OK;
		     t = strtok_r(NULL, ",", &save)) {
			trim(t);
			if (*t)
				rc = add_node(d, t);
		}
		free(copy);
		if (rc == BL_OK && d->nnodes == 0) {
			snprintf(d->err, d->errlen, "no label to audit");
			rc = BL_FAILED;
		}
		return rc;
	}
	/* default: the outcome family as a whole, then every gender and
	 * group label (the skew table rests on these) */
	for (int l = 0; l < bl_index_nlabels(d->ix); l++)
		if (bl_label_in_family(bl_index_label(d->ix, l), "sexual")) {
			rc = add_node(d, "sexual");
			break;
		}
	for (int pass = 0; pass < 2 && rc == BL_OK; pass++)
		for (int l = 0; l < bl_index_nlabels(d->ix) && rc == BL_OK; l++) {
			const char *name = bl_index_label(d->ix, l);
			if (bl_label_in_family(name, pass ? "group" : "gender"))
				rc = add_node(d, name);
		}
	if (rc == BL_OK && d->nnodes == 0) {
		snprintf(d->err, d->errlen, "the index has no sexual, gender or group label: "
			 "name the labels to audit with --label");
		rc = BL_FAILED;
	}
	return rc;
}

static void bits_to_set(const unsigned char *bits, size_t len, bl_labelset *ls)
{
	bl_labelset_clear(ls);
	if (len > BL_MAX_LABELS / 8)
		len = BL_MAX_LABELS / 8;
	for (size_t i = 0; bits && i < len; i++)
		ls->w[i / 8] |= (uint64_t)bits[i] << (8 * (i % 8));
}

static int intersects(const bl_labelset *a, const bl_labelset *b)
{
	for (size_t i = 0; i < BL_MAX_LABELS / 64; i++)
		if (a->w[i] & b->w[i])
			return 1;
	return 0;
}

static int add_pick(struct draw *d, int64_t shard, int64_t ord, int node, int tagged)
{
	if (BL_ALLOC_GROW(d->picks, d->npicks + 1, d->apicks) != BL_OK)
		return BL_ENOMEM;
	d->picks[d->npicks++] = (struct pick){shard, ord, node, tagged, 0};
	return BL_OK;
}

/* Two passes over samples in key order: strata sizes, then selection
 * sampling (Knuth's algorithm S) in each stratum, or over all samples. */
static int select_rows(struct draw *d)
{
	bl_index_cursor *cur =
		bl_index_cursor_new(d->ix, BL_IXC_SHARD | BL_IXC_ORDINAL | BL_IXC_BITS);
	const struct bl_index_sample *row;
	bl_rng rng[MAX_NODES][2], all;
	double seen[MAX_NODES][2], seen_all = 0, want_all = 0;
	int design = d->opt->design, rc = BL_FAILED;
	uint64_t per = d->opt->per_stratum ? d->opt->per_stratum : DEFAULT_PER_STRATUM;

	memset(seen, 0, sizeof seen);
	for (int pass = 0; pass < 2; pass++) {
		int s;
		if (!cur || bl_index_cursor_all(cur) != BL_OK)
			goto sqlerr;
		while ((s = bl_index_cursor_next(cur, &row)) == BL_OK) {
			bl_labelset ls;
			int64_t sh = row->shard_id, ord = row->ordinal;
			int take_all = 0;
			bits_to_set(row->bits, row->nbits, &ls);
			if (pass == 0) {
				d->total++;
				for (int k = 0; k < d->nnodes; k++)
					d->N[k][intersects(&ls, &d->mask[k])]++;
				continue;
			}
			if (design == BL_AUDIT_SIMPLE) {
				double left = d->total - seen_all;
				take_all = bl_rng_double(&all) * left < want_all;
				seen_all++;
				if (take_all)
					want_all--;
			}
			for (int k = 0; k < d->nnodes; k++) {
				int h = intersects(&ls, &d->mask[k]);
				int take;
				if (design == BL_AUDIT_SIMPLE) {
					take = take_all;
				} else {
					double left = d->N[k][h] - seen[k][h];
					take = bl_rng_double(&rng[k][h]) * left < d->want[k][h];
					seen[k][h]++;
					if (take)
						d->want[k][h]--;
				}
				if (take) {
					d->drawn[k][h]++;
					if (add_pick(d, sh, ord, k, h) != BL_OK) {
						snprintf(d->err, d->errlen, "out of memory");
						rc = BL_ENOMEM;
						goto out;
					}
				}
			}
		}
		if (s != BL_END)
			goto sqlerr;
		if (pass == 0) {
			if (d->total == 0) {
				snprintf(d->err, d->errlen, "the index holds no samples");
				goto out;
			}
			for (int k = 0; k < d->nnodes; k++)
				for (int h = 0; h < 2; h++) {
					bl_rng_seed2(&rng[k][h], d->opt->seed,
						     bl_hash_bytes(d->nodes[k], strlen(d->nodes[k])) * 2 +
							     (uint64_t)h);
					d->want[k][h] = design == BL_AUDIT_TAGGED && !h ? 0
						       : fmin((double)per, d->N[k][h]);
					/* a default label the tagger never gave has
					 * nothing to audit */
					if (!(d->opt->nodes && *d->opt->nodes) && d->N[k][1] == 0)
						d->want[k][h] = 0;
				}
			bl_rng_seed2(&all, d->opt->seed, 0x73696d706c65ULL);
			want_all = fmin((double)(d->opt->samples ? d->opt->samples : DEFAULT_SIMPLE),
					d->total);
		}
	}
	rc = BL_OK;
	goto out;
sqlerr:
	snprintf(d->err, d->errlen, "%s", bl_index_errmsg(d->ix));
out:
	bl_index_cursor_free(cur);
	return rc;
}

static int cmp_pick(const void *pa, const void *pb)
{
	const struct pick *a = pa, *b = pb;
	if (a->unit != b->unit)
		return a->unit < b->unit ? -1 : 1;
	if (a->node != b->node)
		return a->node - b->node;
	return a->tagged - b->tagged;
}

static int cmp_pick_key(const void *pa, const void *pb)
{
	const struct pick *a = pa, *b = pb;
	if (a->shard != b->shard)
		return a->shard < b->shard ? -1 : 1;
	if (a->ordinal != b->ordinal)
		return a->ordinal < b->ordinal ? -1 : 1;
	return a->node - b->node;
}

/* Samples in a seeded random order; a sample's rows stay together. */
static int shuffle(struct draw *d)
{
	size_t nu = 0;
	uint64_t *order;
	bl_rng rng;

	qsort(d->picks, d->npicks, sizeof *d->picks, cmp_pick_key);
	for (size_t i = 0; i < d->npicks; i++) {
		if (i && d->picks[i].shard == d->picks[i - 1].shard &&
		    d->picks[i].ordinal == d->picks[i - 1].ordinal)
			d->picks[i].unit = d->picks[i - 1].unit;
		else
			d->picks[i].unit = nu++;
	}
	order = malloc((nu ? nu : 1) * sizeof *order);
	if (!order)
		return BL_ENOMEM;
	for (size_t i = 0; i < nu; i++)
		order[i] = i;
	bl_rng_seed2(&rng, d->opt->seed, 0x73687566666c65ULL);
	for (size_t i = nu; i > 1; i--) {
		size_t j = (size_t)bl_rng_below(&rng, i);
		uint64_t t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < d->npicks; i++)
		d->picks[i].unit = order[d->picks[i].unit];
	free(order);
	qsort(d->picks, d->npicks, sizeof *d->picks, cmp_pick);
	return BL_OK;
}

/* A TSV field (bl_report_tsv_escape): no tab, newline, control byte or
 * byte that is not UTF-8 (\t \n \r \xNN, a backslash as \\), and a
 * leading = + - @ neutralised with an apostrophe, since sheets are opened
 * in spreadsheets. */
static int tsv_field(bl_buf *o, const char *s)
{
	return bl_report_tsv_escape(o, s);
}

static void base64(bl_buf *o, int *rc, const unsigned char *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n && *rc == BL_OK; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		char q[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63],
			     i + 1 < n ? tab[v >> 6 & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
		*rc = bl_buf_add(o, q, 4);
	}
}

static const char *mime_of(const char *ext)
{
	if (!ext)
		return NULL;
	if (!strcmp(ext, "jpg") || !strcmp(ext, "jpeg"))
		return "image/jpeg";
	if (!strcmp(ext, "png"))
		return "image/png";
	if (!strcmp(ext, "webp"))
		return "image/webp";
	return NULL;
}

/* The image of a sample as an <img> with a data: URI, when its shard is a
 * plain tar and the image is small; nothing otherwise.  The shard reader
 * enters the tar at the image member's header: that member opens the
 * sample it delivers. */
static void html_image(bl_buf *o, int *rc, const char *shard, int64_t offset, int64_t size,
		       const char *ext)
{
	const char *mime = mime_of(ext);
	bl_limits lim = {.max_member = MAX_IMAGE};
	bl_reader *r;
	const bl_sample *smp = NULL;
	const bl_member *m;
	int got;

	if (!mime || offset < 0 || size <= 0 || size > MAX_IMAGE || *rc != BL_OK)
		return;
	r = bl_reader_new();
	got = r && bl_reader_set_limits(r, &lim) == BL_OK &&
	      bl_reader_set_load(r, BL_LOAD_IMAGE) == BL_OK && bl_reader_open(r, shard) == BL_OK &&
	      bl_reader_seekable(r) && bl_reader_seek(r, offset) == BL_OK;
	if (got) {
		got = bl_reader_next(r, &smp);
		got = got == BL_OK || got == BL_WARN;
	}
	m = got ? &smp->members[0] : NULL;
	if (m && m->offset == offset && m->data && m->len > 0 && m->len <= MAX_IMAGE) {
		*rc = bl_buf_addf(o, "<img alt=\"\" src=\"data:%s;base64,", mime);
		base64(o, rc, m->data, m->len);
		if (*rc == BL_OK)
			*rc = bl_buf_adds(o, "\">");
	}
	bl_reader_free(r);
}

static const char html_css[] =
	"body{margin:0;background:#f5f6f8;color:#1d2430;"
	"font:15px/1.45 -apple-system,'Segoe UI',Roboto,Arial,sans-serif}"
	"main{max-width:1100px;margin:0 auto;padding:24px}"
	"h1{font-size:24px;margin:0 0 6px}p.note{color:#5b6576;max-width:900px}"
	"table{border-collapse:collapse;background:#fff;width:100%}"
	"td,th{border-bottom:1px solid #e6e9ee;padding:8px;vertical-align:top;text-align:left}"
	"th{background:#eef1f5}td.id{font-family:monospace;white-space:nowrap}"
	"td.cap{max-width:520px;word-break:break-word}td.lab{white-space:nowrap}"
	"td.img img{max-width:220px;max-height:220px}"
	"td.box{width:90px;border-left:1px solid #e6e9ee}";

static int write_sheet(struct draw *d, bl_buf *tsv, bl_buf *html)
{
	bl_index_cursor *cur = NULL;
	int rc = BL_OK;
	const bl_audit_options *opt = d->opt;
	const char *dname = bl_audit_design_name(opt->design);
	char digest[80] = "", *rules = bl_index_meta_get(d->ix, NULL, "rules_digest");

	if (rules)
		snprintf(digest, sizeof digest, "%.16s", rules);
	free(rules);
	if (tsv) {
		rc = bl_buf_adds(tsv, "# ballast audit sheet 1 | index ");
		if (rc == BL_OK)
			rc = tsv_field(tsv, d->ix->path);
		if (rc == BL_OK)
			rc = bl_buf_addf(tsv,
					 " | samples %.0f | rules %s | seed %llu | design %s | "
					 "Judge each caption against its label (TAXONOMY.md): write y "
					 "(the label applies) or n (it does not) in the judgement "
					 "column, leave it empty to skip; keep every other column as it "
					 "is. The stratum column holds the tagger's decision: do not "
					 "look at it while judging. Score with: ballast eval THIS.tsv\n",
					 d->total, digest[0] ? digest : "-",
					 (unsigned long long)opt->seed, dname);
		if (rc == BL_OK)
			rc = bl_buf_addf(tsv, "%s\n", BL_AUDIT_HEADER);
	}
	if (html && rc == BL_OK) {
		rc = bl_buf_adds(html, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
				       "charset=\"utf-8\"><title>ballast audit sheet: ");
		if (rc == BL_OK)
			rc = bl_report_html_escape(html, opt->title ? opt->title : d->ix->path);
		if (rc == BL_OK)
			rc = bl_buf_addf(html, "</title><style>%s</style></head>\n<body><main><h1>"
					       "Audit sheet</h1><p class=\"note\">", html_css);
		if (rc == BL_OK)
			rc = bl_report_html_escape(html, opt->title ? opt->title : d->ix->path);
		if (rc == BL_OK)
			rc = bl_buf_addf(html,
					 " &#183; %zu judgements, seed %llu, design %s.</p><p "
					 "class=\"note\">For each row: does the label apply to the "
					 "caption, as TAXONOMY.md defines it? Write <b>y</b> or "
					 "<b>n</b> in the <code>judgement</code> column of the TSV "
					 "sheet, on the row with the same number (leave it empty when "
					 "you cannot tell). Judge the caption's words; the image is "
					 "context. The tagger's own decision is not shown.</p><table>"
					 "<tr><th>row</th><th>label</th><th>caption</th><th>image</th>"
					 "<th>y / n</th></tr>\n",
					 d->npicks, (unsigned long long)opt->seed, dname);
	}
	if (rc != BL_OK)
		return rc;
	if (!(cur = bl_index_cursor_new(d->ix, BL_IXC_KEY | BL_IXC_CAPTION | BL_IXC_IMAGE |
						       BL_IXC_PATH | BL_IXC_LABELS))) {
		snprintf(d->err, d->errlen, "%s", bl_index_errmsg(d->ix));
		return BL_FAILED;
	}
	for (size_t i = 0; i < d->npicks && rc == BL_OK; i++) {
		const struct pick *p = &d->picks[i];
		const struct bl_index_sample *row;
		const char *key = NULL, *cap = NULL, *path = NULL, *ext = NULL, *labels = NULL;
		int64_t ioff = -1, isize = -1;
		int first = i == 0 || p->unit != d->picks[i - 1].unit;
		size_t nrows = 1;

		for (size_t k = i + 1; first && k < d->npicks && d->picks[k].unit == p->unit; k++)
			nrows++;
		if (bl_index_cursor_one(cur, p->shard, p->ordinal) == BL_OK &&
		    bl_index_cursor_next(cur, &row) == BL_OK) {
			key = row->key;
			cap = row->caption;
			if (!(row->nulls & BL_IXN_IMAGE_OFFSET)) {
				ioff = row->image_offset;
				isize = row->image_size;
			}
			ext = row->image_ext;
			path = row->path;
			labels = row->labels;
		}
		if (tsv) {
			rc = bl_buf_addf(tsv, "%zu\t", i + 1);
			if (rc == BL_OK)
				rc = tsv_field(tsv, d->nodes[p->node]);
			if (rc == BL_OK)
				rc = bl_buf_addch(tsv, '\t');
			if (rc == BL_OK)
				rc = tsv_field(tsv, cap ? cap : "");
			if (rc == BL_OK)
				rc = bl_buf_adds(tsv, "\t\t\t");
			if (rc == BL_OK)
				rc = tsv_field(tsv, path ? path : "");
			if (rc == BL_OK)
				rc = bl_buf_addf(tsv, "\t%lld\t", (long long)p->ordinal);
			if (rc == BL_OK)
				rc = tsv_field(tsv, key ? key : "");
			if (rc == BL_OK)
				rc = bl_buf_addf(tsv, "\t%s\t%.0f\t%.0f\t%s\n",
						 p->tagged ? "tagged" : "untagged",
						 d->N[p->node][p->tagged], d->drawn[p->node][p->tagged],
						 dname);
		}
		if (html && rc == BL_OK) {
			rc = bl_buf_addf(html, "<tr><td class=\"id\">%zu</td><td class=\"lab\">",
					 i + 1);
			if (rc == BL_OK)
				rc = bl_report_html_escape(html, d->nodes[p->node]);
			if (rc == BL_OK && first) {
				rc = bl_buf_addf(html, "</td><td class=\"cap\" rowspan=\"%zu\">",
						 nrows);
				if (rc == BL_OK)
					rc = bl_report_html_escape(html, cap ? cap : "(no caption)");
				if (rc == BL_OK)
					rc = bl_buf_addf(html, "</td><td class=\"img\" rowspan=\"%zu\">",
							 nrows);
				/* never an image of a sample the tagger saw a minor in */
				if (opt->images && path && labels && !strstr(labels, ",age.") &&
				    !strstr(labels, ",safety."))
					html_image(html, &rc, path, ioff, isize, ext);
			}
			if (rc == BL_OK)
				rc = bl_buf_adds(html, "</td><td class=\"box\"></td></tr>\n");
		}
	}
	bl_index_cursor_free(cur);
	if (html && rc == BL_OK)
		rc = bl_buf_adds(html, "</table></main></body></html>\n");
	return rc;
}

int bl_audit_draw(bl_index *ix, const bl_audit_options *opt, bl_buf *tsv, bl_buf *html,
		  char *err, size_t errlen)
{
	struct draw d;
	bl_audit_options defaults;
	size_t t0 = tsv ? tsv->len : 0, h0 = html ? html->len : 0;
	char dummy[1];
	int rc;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!ix || (!tsv && !html)) {
		bl_error_set(err, errlen, "no index or no output");
		return BL_EUSAGE;
	}
	if (!opt) {
		memset(&defaults, 0, sizeof defaults);
		opt = &defaults;
	}
	if (opt->design < BL_AUDIT_STRATIFIED || opt->design > BL_AUDIT_SIMPLE) {
		bl_error_set(err, errlen, "unknown design %d", opt->design);
		return BL_EUSAGE;
	}
	err[0] = '\0';
	memset(&d, 0, sizeof d);
	d.ix = ix;
	d.opt = opt;
	d.err = err;
	d.errlen = errlen;
	rc = choose_nodes(&d);
	if (rc == BL_OK)
		rc = select_rows(&d);
	if (rc == BL_OK && shuffle(&d) != BL_OK) {
		bl_error_set(err, errlen, "out of memory");
		rc = BL_ENOMEM;
	}
	if (rc == BL_OK) {
		rc = write_sheet(&d, tsv, html);
		if (rc != BL_OK && !err[0])
			bl_error_set(err, errlen, "%s", rc == BL_ENOMEM ? "out of memory"
								    : "sheet larger than the output cap");
	}
	if (rc != BL_OK) {
		if (tsv && tsv->len > t0) {
			tsv->len = t0;
			tsv->buf[t0] = '\0';
		}
		if (html && html->len > h0) {
			html->len = h0;
			html->buf[h0] = '\0';
		}
	}
	for (int k = 0; k < d.nnodes; k++)
		free(d.nodes[k]);
	free(d.picks);
	return rc;
}
