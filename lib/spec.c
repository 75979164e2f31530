/*
 * spec.c - shard specs as users write them, expanded into shard paths.
 *
 * WebDataset users name shards with brace ranges ("{00000..00099}.tar",
 * the syntax of Python's braceexpand), shell globs, and list files; this
 * module turns one such spec into paths, in a stable order: brace
 * expansion left to right, glob matches sorted, list files in file order.
 * Expansion is capped so that a typo like {0..999999999} fails fast
 * instead of allocating without bound.
 */
#include "alloc_int.h"
#include "ballast.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BL_SPEC_DEFAULT_MAX 10000000
#define BL_SPEC_MAX_DEPTH 4

void bl_strlist_init(bl_strlist *l)
{
	l->items = NULL;
	l->n = 0;
	l->alloc = 0;
}

void bl_strlist_release(bl_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	bl_strlist_init(l);
}

int bl_strlist_add(bl_strlist *l, const char *s)
{
	char *copy;

	if (BL_ALLOC_GROW(l->items, l->n + 1, l->alloc) != BL_OK)
		return BL_ENOMEM;
	copy = strdup(s);
	if (!copy)
		return BL_ENOMEM;
	l->items[l->n++] = copy;
	return BL_OK;
}

struct expand {
	bl_strlist *out;
	size_t max;
	char *err;
	size_t errlen;
	int depth;
};

static int expand_spec(struct expand *x, const char *spec);

static int too_many(struct expand *x)
{
	snprintf(x->err, x->errlen, "shard spec expands to more than %zu paths",
		 x->max);
	return BL_FAILED;
}

/* A path after brace expansion: glob it if it has glob characters. */
static int add_path(struct expand *x, const char *path)
{
	glob_t g;
	int rc = BL_FAILED, grc;

	if (!strpbrk(path, "*?[")) {
		if (x->out->n >= x->max)
			return too_many(x);
		if (bl_strlist_add(x->out, path) != BL_OK) {
			snprintf(x->err, x->errlen, "out of memory");
			return BL_ENOMEM;
		}
		return BL_OK;
	}
	memset(&g, 0, sizeof g);
	grc = glob(path, 0, NULL, &g);
	if (grc == GLOB_NOMATCH) {
		snprintf(x->err, x->errlen, "'%s' matches no file", path);
		goto out;
	}
	if (grc != 0) {
		snprintf(x->err, x->errlen, "cannot expand '%s': %s", path,
			 grc == GLOB_NOSPACE ? "out of memory" : strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		if (x->out->n >= x->max) {
			too_many(x);
			goto out;
		}
		if (bl_strlist_add(x->out, g.gl_pathv[i]) != BL_OK) {
			snprintf(x->err, x->errlen, "out of memory");
			goto out;
		}
	}
	rc = BL_OK;
out:
	globfree(&g);
	return rc;
}

/* Parse "A..B" with optional sign; returns 1 and the bounds when it is one. */
static int parse_range(const char *s, size_t len, long long *a, long long *b,
		       int *width)
{
	char tmp[64], *dots, *end;

	if (len == 0 || len >= sizeof tmp)
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	dots = strstr(tmp, "..");
	if (!dots || dots == tmp || !dots[2])
		return 0;
	*dots = '\0';
	for (const char *p = tmp; *p; p++)
		if (!isdigit((unsigned char)*p) && !(p == tmp && *p == '-'))
			return 0;
	for (const char *p = dots + 2; *p; p++)
		if (!isdigit((unsigned char)*p) && !(p == dots + 2 && *p == '-'))
			return 0;
	errno = 0;
	*a = strtoll(tmp, &end, 10);
	if (errno)
		return 0;
	*b = strtoll(dots + 2, &end, 10);
	if (errno)
		return 0;
	/* zero padding as braceexpand does: a leading zero fixes the width */
	*width = 0;
	if ((tmp[0] == '0' && tmp[1]) || (dots[2] == '0' && dots[3]))
		*width = (int)(strlen(tmp) > strlen(dots + 2) ? strlen(tmp) : strlen(dots + 2));
	return 1;
}

/* Expand the first brace group of s (prefix already expanded). */
static int expand_braces(struct expand *x, const char *s)
{
	const char *open = strchr(s, '{'), *close;
	bl_buf b;
	int rc = BL_FAILED;
	long long lo, hi;
	int width;

	if (!open)
		return add_path(x, s);
	close = strchr(open, '}');
	if (!close) {
		snprintf(x->err, x->errlen, "unmatched '{' in shard spec '%s'", s);
		return BL_FAILED;
	}
	bl_buf_init(&b, 1 << 16);
	if (parse_range(open + 1, (size_t)(close - open - 1), &lo, &hi, &width)) {
		long long step = lo <= hi ? 1 : -1;
		unsigned long long count = (unsigned long long)(lo <= hi ? hi - lo : lo - hi) + 1;
		if (count > x->max - x->out->n) {
			rc = too_many(x);
			goto out;
		}
		for (long long v = lo;; v += step) {
			bl_buf_reset(&b);
			if (bl_buf_add(&b, s, (size_t)(open - s)) ||
			    bl_buf_addf(&b, "%0*lld", width, v) ||
			    bl_buf_adds(&b, close + 1)) {
				snprintf(x->err, x->errlen, "shard spec too long");
				goto out;
			}
			if ((rc = expand_braces(x, b.buf)) != BL_OK)
				goto out;
			if (v == hi)
				break;
		}
		rc = BL_OK;
		goto out;
	}
	if (memchr(open + 1, ',', (size_t)(close - open - 1))) {
		const char *p = open + 1;
		for (;;) {
			const char *comma = memchr(p, ',', (size_t)(close - p));
			const char *end = comma ? comma : close;
			bl_buf_reset(&b);
			if (bl_buf_add(&b, s, (size_t)(open - s)) ||
			    bl_buf_add(&b, p, (size_t)(end - p)) ||
			    bl_buf_adds(&b, close + 1)) {
				snprintf(x->err, x->errlen, "shard spec too long");
				goto out;
			}
			if ((rc = expand_braces(x, b.buf)) != BL_OK)
				goto out;
			if (!comma)
				break;
			p = comma + 1;
		}
		rc = BL_OK;
		goto out;
	}
	snprintf(x->err, x->errlen,
		 "cannot read brace group '%.*s' in '%s': want {A..B} or {a,b}",
		 (int)(close - open + 1), open, s);
out:
	bl_buf_release(&b);
	return rc;
}

static int expand_list(struct expand *x, const char *listpath)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = BL_FAILED;
	unsigned long lineno = 0, specs = 0;

	if (x->depth >= BL_SPEC_MAX_DEPTH) {
		snprintf(x->err, x->errlen, "list files nested too deep at '@%s'",
			 listpath);
		return BL_FAILED;
	}
	f = strcmp(listpath, "-") == 0 ? stdin : fopen(listpath, "r");
	if (!f) {
		snprintf(x->err, x->errlen, "cannot open list '%s': %s", listpath,
			 strerror(errno));
		return BL_FAILED;
	}
	x->depth++;
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *s = line, *e;
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!*s || *s == '#')
			continue;
		specs++;
		if (expand_spec(x, s) != BL_OK) {
			size_t l = strlen(x->err);
			snprintf(x->err + l, x->errlen - l, " (list '%s' line %lu)",
				 listpath, lineno);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(x->err, x->errlen, "cannot read list '%s': %s", listpath,
			 strerror(errno));
		goto out;
	}
	/* as a command line without a shard: a list emptied by a job
	 * that failed must not pass for a set of no samples */
	if (!specs) {
		snprintf(x->err, x->errlen, "list '%s' names no shard (it is empty or "
			 "holds only comments)", listpath);
		goto out;
	}
	rc = BL_OK;
out:
	x->depth--;
	free(line);
	if (f != stdin)
		fclose(f);
	return rc;
}

static int expand_spec(struct expand *x, const char *spec)
{
	if (!*spec) {
		snprintf(x->err, x->errlen, "empty shard spec");
		return BL_FAILED;
	}
	if (strcmp(spec, "-") == 0)
		return add_path(x, spec);
	if (spec[0] == '@')
		return expand_list(x, spec + 1);
	return expand_braces(x, spec);
}

int bl_spec_expand(const char *spec, bl_strlist *out, size_t max_items,
		   char *err, size_t errlen)
{
	struct expand x;
	char dummy[1];
	size_t before;
	int rc;

	if (!spec || !out)
		return BL_EUSAGE;
	x.out = out;
	x.max = max_items ? max_items : BL_SPEC_DEFAULT_MAX;
	x.err = err && errlen ? err : dummy;
	x.errlen = err && errlen ? errlen : sizeof dummy;
	x.err[0] = '\0';
	x.depth = 0;
	before = out->n;
	rc = expand_spec(&x, spec);
	if (rc != BL_OK) {
		/* a failed call leaves the list as it was */
		while (out->n > before)
			free(out->items[--out->n]);
	}
	return rc;
}

/* ---- the same file under two names ---------------------------------------- */

struct file_id {
	uint64_t dev, ino;
	size_t i;
};

static int cmp_file_id(const void *a, const void *b)
{
	const struct file_id *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

int bl_spec_same_files(const char *const *paths, size_t n, size_t *first)
{
	struct file_id *ids;
	size_t m = 0, first_stdin = SIZE_MAX;

	if ((!paths || !first) && n)
		return BL_EUSAGE;
	ids = malloc((n ? n : 1) * sizeof *ids);
	if (!ids)
		return BL_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		first[i] = i;
		if (!strcmp(paths[i], "-")) {
			if (first_stdin == SIZE_MAX)
				first_stdin = i;
			else
				first[i] = first_stdin;
		} else if (stat(paths[i], &st) == 0 && S_ISREG(st.st_mode)) {
			ids[m++] = (struct file_id){(uint64_t)st.st_dev, (uint64_t)st.st_ino, i};
		}
	}
	qsort(ids, m, sizeof *ids, cmp_file_id);
	for (size_t k = 1; k < m; k++)
		if (ids[k].dev == ids[k - 1].dev && ids[k].ino == ids[k - 1].ino)
			first[ids[k].i] = first[ids[k - 1].i];
	free(ids);
	return BL_OK;
}
