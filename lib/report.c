/*
 * report.c - the report of an index: gathering and the text, CSV and JSON
 * renderings (HTML is in report_html.c).
 *
 * Gathering reads the index with SQL: the shards and errors tables (small)
 * and one pass over samples in primary-key order (shard_id, ordinal), fed
 * to a bl_stats accumulator (and a second one for --given), with
 * per-shard label counts on the side.  Memory is bounded by shards x
 * labels, never by samples.  Every rendering is a pure function of the
 * gathered numbers, with fixed orders (labels by id, nodes by name, the
 * skew table by lift then name) and numbers printed with "%.6g", so the
 * same index gives the same bytes.  Output goes to a caller's bl_buf or
 * FILE*, or atomically to a file; nothing is printed on its own.
 */
#include "report_int.h"
#include "index_int.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bl_report_format_parse(const char *name)
{
	static const char *const names[] = {"text", "csv", "json", "html"};
	for (int i = 0; name && i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

void bl_report_num(char *out, size_t len, double x)
{
	if (!isfinite(x))
		snprintf(out, len, "%s", "");
	else
		snprintf(out, len, "%.6g", x == 0 ? 0.0 : x); /* no "-0" */
}

/* x rounded to 6 significant digits, as JSON prints it */
static double round6(double x)
{
	char b[64];
	if (!isfinite(x))
		return x;
	snprintf(b, sizeof b, "%.6g", x);
	x = strtod(b, NULL);
	return x == 0 ? 0.0 : x;
}

int bl_report_html_escape(bl_buf *out, const char *s)
{
	int rc = BL_OK;
	const char *run = s;

	if (!out)
		return BL_EUSAGE;
	for (; s && *s && rc == BL_OK; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: break;
		}
		if (!rep)
			continue;
		rc = bl_buf_add(out, run, (size_t)(s - run));
		if (rc == BL_OK)
			rc = bl_buf_adds(out, rep);
		run = s + 1;
	}
	if (rc == BL_OK && s)
		rc = bl_buf_add(out, run, (size_t)(s - run));
	return rc;
}

int bl_report_by_row(const struct bl_report *r, int node)
{
	const char *fam, *name;
	int k;

	if (r->by_node < 0 || node < 0)
		return 0;
	fam = bl_stats_node_name(r->all, r->by_node);
	name = bl_stats_node_name(r->all, node);
	if (node == r->by_node)
		return !bl_stats_node_is_family(r->all, node);
	/* only direct children, so that a deep tree stays readable */
	if (!bl_label_in_family(name, fam))
		return 0;
	k = (int)strlen(fam);
	return strchr(name + k + 1, '.') == NULL;
}

/* ---- gathering ----------------------------------------------------------- */

static void report_release(struct bl_report *r)
{
	for (size_t i = 0; i < r->nshards; i++) {
		free(r->shards[i].path);
		free(r->shards[i].labels);
	}
	free(r->shards);
	for (size_t i = 0; i < r->nerrors; i++)
		free(r->errors[i].kind);
	free(r->errors);
	bl_stats_free(r->all);
	bl_stats_free(r->given);
	bl_strlist_release(&r->given_labels);
}

static int sql_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "reading %s: %s", what, sqlite3_errmsg(db));
	return BL_FAILED;
}

static struct bl_report_shard *find_shard(struct bl_report *r, int64_t id, size_t *hint)
{
	size_t lo = 0, hi = r->nshards;

	if (*hint < r->nshards && r->shards[*hint].id == id)
		return &r->shards[*hint];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->shards[mid].id == id) {
			*hint = mid;
			return &r->shards[mid];
		}
		if (r->shards[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int read_shards(struct bl_report *r, sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	size_t alloc = 0, hint = 0;
	int rc = BL_FAILED, s;

	if (sqlite3_prepare_v2(db, "SELECT id, path, complete FROM shards ORDER BY id", -1,
			       &st, NULL) != SQLITE_OK) {
		rc = sql_fail(db, "shards", err, errlen);
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_report_shard *sh;
		const char *p = (const char *)sqlite3_column_text(st, 1);
		if (r->nshards == alloc) {
			size_t n = alloc ? alloc * 2 : 16;
			void *q = realloc(r->shards, n * sizeof *r->shards);
			if (!q)
				goto nomem;
			r->shards = q;
			alloc = n;
		}
		sh = &r->shards[r->nshards];
		memset(sh, 0, sizeof *sh);
		sh->id = sqlite3_column_int64(st, 0);
		sh->complete = sqlite3_column_int(st, 2) != 0;
		sh->path = strdup(p ? p : "");
		sh->labels = calloc((size_t)r->nl + 1, sizeof *sh->labels);
		r->nshards++;
		if (!sh->path || !sh->labels)
			goto nomem;
		r->shards_complete += (uint64_t)sh->complete;
	}
	if (s != SQLITE_DONE) {
		rc = sql_fail(db, "shards", err, errlen);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* errors by kind, and by shard */
	if (sqlite3_prepare_v2(db,
			       "SELECT kind, count(*) FROM errors GROUP BY kind ORDER BY kind",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = sql_fail(db, "errors", err, errlen);
		goto out;
	}
	alloc = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		if (r->nerrors == alloc) {
			size_t n = alloc ? alloc * 2 : 16;
			void *q = realloc(r->errors, n * sizeof *r->errors);
			if (!q)
				goto nomem;
			r->errors = q;
			alloc = n;
		}
		r->errors[r->nerrors].kind = strdup(k ? k : "unknown");
		r->errors[r->nerrors].count = (uint64_t)sqlite3_column_int64(st, 1);
		if (!r->errors[r->nerrors++].kind)
			goto nomem;
	}
	if (s != SQLITE_DONE) {
		rc = sql_fail(db, "errors", err, errlen);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT shard_id, count(*) FROM errors GROUP BY shard_id",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = sql_fail(db, "errors", err, errlen);
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_report_shard *sh = find_shard(r, sqlite3_column_int64(st, 0), &hint);
		if (sh)
			sh->errors = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (s != SQLITE_DONE) {
		rc = sql_fail(db, "errors", err, errlen);
		goto out;
	}
	rc = BL_OK;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
	rc = BL_ENOMEM;
out:
	sqlite3_finalize(st);
	return rc;
}

static int read_samples(struct bl_report *r, bl_index *ix, sqlite3 *db, char *err,
			size_t errlen)
{
	sqlite3_stmt *st = NULL;
	size_t hint = 0;
	int rc = BL_FAILED, s, blocked = bl_index_label_id(ix, "safety.minor_sexual");

	if (sqlite3_prepare_v2(db,
			       "SELECT shard_id, bits, problems FROM samples"
			       " ORDER BY shard_id, ordinal",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = sql_fail(db, "samples", err, errlen);
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *bits = sqlite3_column_blob(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		struct bl_report_shard *sh = find_shard(r, sqlite3_column_int64(st, 0), &hint);
		int isblocked = 0;

		if (!bits)
			len = 0;
		if (len > BL_MAX_LABELS / 8)
			len = BL_MAX_LABELS / 8;
		rc = bl_stats_add_bits(r->all, bits, len, 1.0);
		if (rc == BL_OK && r->given)
			rc = bl_stats_add_bits(r->given, bits, len, 1.0);
		if (rc != BL_OK) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		rc = BL_FAILED;
		r->samples++;
		if (sqlite3_column_int64(st, 2) != 0)
			r->samples_with_errors++;
		if (blocked >= 0 && (size_t)blocked / 8 < len &&
		    (bits[blocked / 8] >> (blocked % 8) & 1)) {
			isblocked = 1;
			r->blocked++;
		}
		if (!sh) {
			r->orphans++;
			continue;
		}
		sh->samples++;
		sh->blocked += (uint64_t)isblocked;
		for (size_t i = 0; i < len; i++) {
			if (!bits[i])
				continue;
			for (int b = 0; b < 8; b++)
				if (bits[i] >> b & 1 && (int)(i * 8) + b < r->nl)
					sh->labels[i * 8 + (size_t)b]++;
		}
	}
	if (s != SQLITE_DONE) {
		rc = sql_fail(db, "samples", err, errlen);
		goto out;
	}
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

static int gather(struct bl_report *r, bl_index *ix, const bl_report_options *opt,
		  char *err, size_t errlen)
{
	sqlite3 *db = bl_index_db(ix);
	int rc = BL_FAILED;

	r->opt = opt;
	r->path = ix->path;
	r->by_node = -1;
	r->nl = bl_index_nlabels(ix);
	r->all = bl_stats_new_index(ix);
	if (!r->all) {
		snprintf(err, errlen, "out of memory");
		rc = BL_ENOMEM;
		goto out;
	}
	if (opt->by && *opt->by) {
		r->by_node = bl_stats_node_find(r->all, opt->by);
		if (r->by_node < 0) {
			snprintf(err, errlen, "--by '%s': no label of the index is in that family",
				 opt->by);
			goto out;
		}
	}
	if (opt->given && *opt->given) {
		bl_labelset ls;
		char *copy = strdup(opt->given), *save = NULL;
		bl_labelset_clear(&ls);
		r->given = bl_stats_new_index(ix);
		if (!copy || !r->given) {
			free(copy);
			snprintf(err, errlen, "out of memory");
			rc = BL_ENOMEM;
			goto out;
		}
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			int id;
			while (*t == ' ')
				t++;
			if (!*t)
				continue;
			id = bl_index_label_id(ix, t);
			if (id < 0) {
				snprintf(err, errlen, "--given '%s': no such label in the index", t);
				free(copy);
				goto out;
			}
			bl_labelset_set(&ls, id);
			if (bl_strlist_add(&r->given_labels, t) != BL_OK) {
				free(copy);
				snprintf(err, errlen, "out of memory");
				rc = BL_ENOMEM;
				goto out;
			}
		}
		free(copy);
		bl_stats_set_filter(r->given, &ls);
	}
	rc = read_shards(r, db, err, errlen);
	if (rc == BL_OK)
		rc = read_samples(r, ix, db, err, errlen);
	if (rc == BL_OK &&
	    bl_stats_skew_table(r->all, opt->min_rows, opt->min_events, &r->skew, &r->nskew) !=
		    BL_OK) {
		snprintf(err, errlen, "out of memory");
		rc = BL_ENOMEM;
	}
out:
	return rc;
}

/* ---- text ---------------------------------------------------------------- */

/* A table of strings, aligned on output: column 0 left, the rest right
 * unless marked left. */
struct table {
	size_t ncol, nrow, alloc;
	char **cells;
	unsigned left; /* bit c: column c left-aligned */
	int failed;
};

static void tb_row(struct table *t, ...) __attribute__((sentinel));

static void tb_row(struct table *t, ...)
{
	va_list ap;
	if (t->failed)
		return;
	if ((t->nrow + 1) * t->ncol > t->alloc) {
		size_t n = t->alloc ? t->alloc * 2 : t->ncol * 16;
		void *q;
		while (n < (t->nrow + 1) * t->ncol)
			n *= 2;
		q = realloc(t->cells, n * sizeof *t->cells);
		if (!q) {
			t->failed = 1;
			return;
		}
		t->cells = q;
		t->alloc = n;
	}
	va_start(ap, t);
	for (size_t c = 0; c < t->ncol; c++) {
		const char *s = va_arg(ap, const char *);
		char *d = strdup(s ? s : "");
		if (!d)
			t->failed = 1;
		t->cells[t->nrow * t->ncol + c] = d;
	}
	va_end(ap);
	t->nrow++;
}

static int tb_print(struct table *t, bl_buf *out, const char *indent)
{
	size_t w[32] = {0};
	int rc = t->failed ? BL_ENOMEM : BL_OK;

	for (size_t i = 0; i < t->nrow * t->ncol && rc == BL_OK; i++) {
		size_t c = i % t->ncol, n = t->cells[i] ? strlen(t->cells[i]) : 0;
		if (c < 32 && n > w[c])
			w[c] = n;
	}
	for (size_t r = 0; r < t->nrow && rc == BL_OK; r++) {
		bl_buf line;
		bl_buf_init(&line, 0);
		rc = bl_buf_adds(&line, indent);
		for (size_t c = 0; c < t->ncol && rc == BL_OK; c++) {
			const char *s = t->cells[r * t->ncol + c];
			int left = c == 0 || (t->left >> c & 1);
			rc = bl_buf_addf(&line, "%s%*s%s", c ? "  " : "",
					 left ? 0 : (int)(w[c] - strlen(s)), "", s);
			if (rc == BL_OK && left && c + 1 < t->ncol)
				rc = bl_buf_addf(&line, "%*s", (int)(w[c] - strlen(s)), "");
		}
		while (line.len && line.buf[line.len - 1] == ' ')
			line.buf[--line.len] = '\0';
		if (rc == BL_OK)
			rc = bl_buf_addf(out, "%s\n", line.buf);
		bl_buf_release(&line);
	}
	for (size_t i = 0; i < t->nrow * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof *t);
	return rc;
}

static void pct(char *b, size_t n, double x)
{
	if (!isfinite(x))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.2f%%", 100 * x);
}

static void ci_pct(char *b, size_t n, double lo, double hi)
{
	if (!isfinite(lo) || !isfinite(hi))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "[%.2f, %.2f]%%", 100 * lo, 100 * hi);
}

static void fix(char *b, size_t n, double x)
{
	if (!isfinite(x))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.2f", x);
}

static void ci_fix(char *b, size_t n, double lo, double hi)
{
	if (!isfinite(lo) || !isfinite(hi))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "[%.2f, %.2f]", lo, hi);
}

static int text_counts(const struct bl_report *r, const bl_stats *st, int given_node,
		       bl_buf *out, int nodes)
{
	struct table t = {.ncol = 4};
	char c[32], s[32], ci[48];

	tb_row(&t, "", "count", "share", "95% CI", (char *)NULL);
	if (!nodes) {
		for (int id = 0; id < bl_stats_nlabels(st); id++) {
			bl_stats_count k;
			if (given_node >= 0)
				bl_stats_cond(st, given_node, id, &k);
			else
				bl_stats_label(st, id, &k);
			snprintf(c, sizeof c, "%llu", (unsigned long long)k.rows);
			pct(s, sizeof s, k.share);
			ci_pct(ci, sizeof ci, k.lo, k.hi);
			tb_row(&t, bl_stats_label_name(st, id), c, s, ci, (char *)NULL);
		}
	} else {
		for (int n = 0; n < bl_stats_nnodes(st); n++) {
			bl_stats_count k;
			if (!bl_stats_node_is_family(st, n))
				continue;
			bl_stats_node(st, n, &k);
			snprintf(c, sizeof c, "%llu", (unsigned long long)k.rows);
			pct(s, sizeof s, k.share);
			ci_pct(ci, sizeof ci, k.lo, k.hi);
			tb_row(&t, bl_stats_node_name(st, n), c, s, ci, (char *)NULL);
		}
	}
	(void)r;
	return tb_print(&t, out, "  ");
}

static int render_text(const struct bl_report *r, bl_buf *out)
{
	struct table t = {.ncol = 2};
	char a[64], b[64], c[64], d[64], e[64], f[64], g[64], h[64], i_[64], j[64];
	int rc;

	rc = bl_buf_addf(out, "ballast report of %s\n\n", r->path);
	snprintf(a, sizeof a, "%zu (%llu complete)", r->nshards,
		 (unsigned long long)r->shards_complete);
	tb_row(&t, "shards", a, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)r->samples);
	tb_row(&t, "samples", a, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)r->samples_with_errors);
	tb_row(&t, "samples with problems", a, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)r->blocked);
	tb_row(&t, "blocked (safety.minor_sexual)", a, (char *)NULL);
	for (size_t k = 0; k < r->nerrors; k++) {
		char name[96];
		snprintf(name, sizeof name, "errors: %s", r->errors[k].kind);
		snprintf(a, sizeof a, "%llu", (unsigned long long)r->errors[k].count);
		tb_row(&t, name, a, (char *)NULL);
	}
	if (rc == BL_OK)
		rc = tb_print(&t, out, "  ");
	if (rc == BL_OK)
		rc = bl_buf_adds(out, "\nlabels\n");
	if (rc == BL_OK)
		rc = text_counts(r, r->all, -1, out, 0);
	if (rc == BL_OK)
		rc = bl_buf_adds(out, "\nfamilies (a sample counts once in each family it has a "
				      "label of)\n");
	if (rc == BL_OK)
		rc = text_counts(r, r->all, -1, out, 1);
	if (rc == BL_OK)
		rc = bl_buf_adds(out,
				 "\nskew: rate of sexual.* by group x gender, sorted by lift\n"
				 "  lift = rate / rate among all samples of the gender (all "
				 "samples when gender is '-');\n"
				 "  OR = odds ratio vs the rest of the gender; 95% intervals; "
				 "'small': too few samples or events\n");
	t = (struct table){.ncol = 13, .left = 1u << 1 | 1u << 12};
	tb_row(&t, "group", "gender", "n", "events", "rate", "95% CI", "base", "lift",
	       "95% CI", "OR", "95% CI", "attire", "", (char *)NULL);
	for (size_t k = 0; k < r->nskew; k++) {
		const bl_stats_skew *s = &r->skew[k];
		snprintf(a, sizeof a, "%llu", (unsigned long long)s->rows);
		bl_report_num(b, sizeof b, s->events);
		pct(c, sizeof c, s->rate);
		ci_pct(d, sizeof d, s->rate_lo, s->rate_hi);
		pct(e, sizeof e, s->base_rate);
		fix(f, sizeof f, s->lift);
		ci_fix(g, sizeof g, s->lift_lo, s->lift_hi);
		fix(h, sizeof h, s->odds_ratio);
		ci_fix(i_, sizeof i_, s->or_lo, s->or_hi);
		pct(j, sizeof j, s->rate2);
		tb_row(&t, s->group, s->gender ? s->gender : "-", a, b, c, d, e, f, g, h, i_, j,
		       s->small ? "small" : "", (char *)NULL);
	}
	if (rc == BL_OK)
		rc = tb_print(&t, out, "  ");
	if (rc == BL_OK && r->given) {
		bl_stats_totals tot;
		bl_stats_totals_get(r->given, &tot);
		rc = bl_buf_adds(out, "\nrates given");
		for (size_t k = 0; k < r->given_labels.n && rc == BL_OK; k++)
			rc = bl_buf_addf(out, "%s%s", k ? " & " : " ", r->given_labels.items[k]);
		if (rc == BL_OK)
			rc = bl_buf_addf(out, " (%llu samples)\n", (unsigned long long)tot.rows);
		if (rc == BL_OK)
			rc = text_counts(r, r->given, -1, out, 0);
	}
	for (int n = 0; r->by_node >= 0 && n < bl_stats_nnodes(r->all) && rc == BL_OK; n++) {
		bl_stats_count k;
		if (!bl_report_by_row(r, n))
			continue;
		bl_stats_node(r->all, n, &k);
		rc = bl_buf_addf(out, "\nlabels among samples with %s (%llu samples)\n",
				 bl_stats_node_name(r->all, n), (unsigned long long)k.rows);
		if (rc == BL_OK)
			rc = text_counts(r, r->all, n, out, 0);
	}
	return rc;
}

/* ---- CSV ----------------------------------------------------------------- */

static int csv_field(bl_buf *out, const char *s)
{
	int rc;
	if (!s || !strpbrk(s, ",\"\n\r"))
		return bl_buf_adds(out, s ? s : "");
	rc = bl_buf_addch(out, '"');
	for (; *s && rc == BL_OK; s++)
		rc = *s == '"' ? bl_buf_adds(out, "\"\"") : bl_buf_addch(out, *s);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '"');
	return rc;
}

/* The numeric columns of a CSV row; NAN prints as an empty field. */
struct csv_nums {
	double v[13]; /* rows n count share lo hi base lift lift_lo lift_hi
		       * odds_ratio or_lo or_hi */
};
enum { C_ROWS, C_N, C_COUNT, C_SHARE, C_LO, C_HI, C_BASE, C_LIFT, C_LIFT_LO,
       C_LIFT_HI, C_OR, C_OR_LO, C_OR_HI };

static struct csv_nums csv_blank(void)
{
	struct csv_nums c;
	for (int i = 0; i < 13; i++)
		c.v[i] = NAN;
	return c;
}

/* small: 0/1, or -1 for an empty field */
static int csv_row(bl_buf *out, const char *table, const char *shard, const char *name,
		   const char *gender, const struct csv_nums *c, int small)
{
	int rc = bl_buf_adds(out, table);
	const char *f[3] = {shard, name, gender};
	char b[64];

	for (int k = 0; k < 3 && rc == BL_OK; k++) {
		rc = bl_buf_addch(out, ',');
		if (rc == BL_OK)
			rc = csv_field(out, f[k]);
	}
	for (int k = 0; k < 13 && rc == BL_OK; k++) {
		bl_report_num(b, sizeof b, c->v[k]);
		rc = bl_buf_addf(out, ",%s", b);
	}
	if (rc == BL_OK)
		rc = bl_buf_addf(out, ",%s\n", small < 0 ? "" : small ? "1" : "0");
	return rc;
}

static int csv_count(bl_buf *out, const char *table, const char *shard, const char *name,
		     double count)
{
	struct csv_nums c = csv_blank();
	c.v[C_COUNT] = count;
	return csv_row(out, table, shard, name, NULL, &c, -1);
}

static int csv_share(bl_buf *out, const char *table, const char *given,
		     const bl_stats_count *k, const char *name)
{
	struct csv_nums c = csv_blank();
	c.v[C_COUNT] = (double)k->rows;
	c.v[C_SHARE] = k->share;
	c.v[C_LO] = k->lo;
	c.v[C_HI] = k->hi;
	return csv_row(out, table, NULL, name, given, &c, -1);
}

static int render_csv(const struct bl_report *r, bl_buf *out)
{
	bl_stats_count k;
	int rc;

	rc = bl_buf_adds(out, "table,shard,name,gender,rows,n,count,share,lo,hi,base,lift,"
			      "lift_lo,lift_hi,odds_ratio,or_lo,or_hi,small\n");
	if (rc == BL_OK)
		rc = csv_count(out, "total", NULL, "shards", (double)r->nshards);
	if (rc == BL_OK)
		rc = csv_count(out, "total", NULL, "samples", (double)r->samples);
	if (rc == BL_OK)
		rc = csv_count(out, "total", NULL, "samples_with_errors",
			       (double)r->samples_with_errors);
	if (rc == BL_OK)
		rc = csv_count(out, "total", NULL, "blocked", (double)r->blocked);
	for (size_t i = 0; i < r->nerrors && rc == BL_OK; i++)
		rc = csv_count(out, "error", NULL, r->errors[i].kind, (double)r->errors[i].count);
	for (int id = 0; id < r->nl && rc == BL_OK; id++) {
		bl_stats_label(r->all, id, &k);
		rc = csv_share(out, "label", NULL, &k, bl_stats_label_name(r->all, id));
	}
	for (int n = 0; n < bl_stats_nnodes(r->all) && rc == BL_OK; n++) {
		if (!bl_stats_node_is_family(r->all, n))
			continue;
		bl_stats_node(r->all, n, &k);
		rc = csv_share(out, "family", NULL, &k, bl_stats_node_name(r->all, n));
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->nskew && rc == BL_OK; i++) {
			const bl_stats_skew *s = &r->skew[i];
			struct csv_nums c = csv_blank();
			c.v[C_ROWS] = (double)s->rows;
			c.v[C_N] = s->n;
			c.v[C_COUNT] = pass ? s->events2 : s->events;
			c.v[C_SHARE] = pass ? s->rate2 : s->rate;
			c.v[C_LO] = pass ? s->rate2_lo : s->rate_lo;
			c.v[C_HI] = pass ? s->rate2_hi : s->rate_hi;
			c.v[C_LIFT] = pass ? s->lift2 : s->lift;
			if (!pass) {
				c.v[C_BASE] = s->base_rate;
				c.v[C_LIFT_LO] = s->lift_lo;
				c.v[C_LIFT_HI] = s->lift_hi;
				c.v[C_OR] = s->odds_ratio;
				c.v[C_OR_LO] = s->or_lo;
				c.v[C_OR_HI] = s->or_hi;
			}
			rc = csv_row(out, pass ? "skew_attire" : "skew", NULL, s->group,
				     s->gender, &c, pass ? -1 : s->small);
		}
	if (r->given && rc == BL_OK) {
		bl_buf g;
		bl_buf_init(&g, 0);
		for (size_t i = 0; i < r->given_labels.n && rc == BL_OK; i++)
			rc = bl_buf_addf(&g, "%s%s", i ? "&" : "", r->given_labels.items[i]);
		for (int id = 0; id < r->nl && rc == BL_OK; id++) {
			bl_stats_label(r->given, id, &k);
			rc = csv_share(out, "given", g.buf, &k, bl_stats_label_name(r->all, id));
		}
		bl_buf_release(&g);
	}
	for (int n = 0; r->by_node >= 0 && n < bl_stats_nnodes(r->all) && rc == BL_OK; n++) {
		if (!bl_report_by_row(r, n))
			continue;
		for (int id = 0; id < r->nl && rc == BL_OK; id++) {
			bl_stats_cond(r->all, n, id, &k);
			rc = csv_share(out, "by", bl_stats_node_name(r->all, n), &k,
				       bl_stats_label_name(r->all, id));
		}
	}
	for (size_t i = 0; i < r->nshards && rc == BL_OK; i++) {
		const struct bl_report_shard *sh = &r->shards[i];
		rc = csv_count(out, "shard", sh->path, "samples", (double)sh->samples);
		if (rc == BL_OK)
			rc = csv_count(out, "shard", sh->path, "errors", (double)sh->errors);
		if (rc == BL_OK)
			rc = csv_count(out, "shard", sh->path, "blocked", (double)sh->blocked);
		for (int id = 0; id < r->nl && rc == BL_OK; id++) {
			struct csv_nums c = csv_blank();
			c.v[C_ROWS] = (double)sh->samples;
			c.v[C_COUNT] = (double)sh->labels[id];
			if (sh->samples)
				c.v[C_SHARE] = (double)sh->labels[id] / (double)sh->samples;
			rc = csv_row(out, "shard", sh->path, bl_stats_label_name(r->all, id), NULL,
				     &c, -1);
		}
	}
	return rc;
}

/* ---- JSON ---------------------------------------------------------------- */

static cJSON *jnum(cJSON *obj, const char *key, double x)
{
	return cJSON_AddNumberToObject(obj, key, round6(x));
}

static cJSON *jcount(const bl_stats_count *k)
{
	cJSON *o = cJSON_CreateObject();
	if (o) {
		jnum(o, "count", (double)k->rows);
		jnum(o, "share", k->share);
		jnum(o, "lo", k->lo);
		jnum(o, "hi", k->hi);
	}
	return o;
}

/* One row of a skew table (as in the report's "skew" array). */
static cJSON *jskew(const bl_stats_skew *s)
{
	cJSON *c = cJSON_CreateObject();

	if (!c)
		return NULL;
	cJSON_AddStringToObject(c, "group", s->group);
	if (s->gender)
		cJSON_AddStringToObject(c, "gender", s->gender);
	else
		cJSON_AddNullToObject(c, "gender");
	jnum(c, "n", s->n);
	jnum(c, "events", s->events);
	jnum(c, "rate", s->rate);
	jnum(c, "rate_lo", s->rate_lo);
	jnum(c, "rate_hi", s->rate_hi);
	jnum(c, "base_rate", s->base_rate);
	jnum(c, "lift", s->lift);
	jnum(c, "lift_lo", s->lift_lo);
	jnum(c, "lift_hi", s->lift_hi);
	jnum(c, "odds_ratio", s->odds_ratio);
	jnum(c, "or_lo", s->or_lo);
	jnum(c, "or_hi", s->or_hi);
	jnum(c, "attire_events", s->events2);
	jnum(c, "attire_rate", s->rate2);
	jnum(c, "attire_lo", s->rate2_lo);
	jnum(c, "attire_hi", s->rate2_hi);
	jnum(c, "attire_lift", s->lift2);
	cJSON_AddBoolToObject(c, "small", s->small);
	return c;
}

static cJSON *json_report(const struct bl_report *r)
{
	cJSON *root = cJSON_CreateObject(), *o, *a;
	bl_stats_count k;

	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "report", "ballast");
	jnum(root, "schema", 1);
	cJSON_AddStringToObject(root, "index", r->path);
	jnum(root, "samples", (double)r->samples);
	jnum(root, "shards", (double)r->nshards);
	jnum(root, "shards_complete", (double)r->shards_complete);
	jnum(root, "samples_with_errors", (double)r->samples_with_errors);
	o = cJSON_AddObjectToObject(root, "errors");
	for (size_t i = 0; o && i < r->nerrors; i++)
		jnum(o, r->errors[i].kind, (double)r->errors[i].count);
	jnum(root, "blocked", (double)r->blocked);
	o = cJSON_AddObjectToObject(root, "labels");
	for (int id = 0; o && id < r->nl; id++) {
		bl_stats_label(r->all, id, &k);
		jnum(o, bl_stats_label_name(r->all, id), (double)k.rows);
	}
	o = cJSON_AddObjectToObject(root, "families");
	for (int n = 0; o && n < bl_stats_nnodes(r->all); n++) {
		if (!bl_stats_node_is_family(r->all, n))
			continue;
		bl_stats_node(r->all, n, &k);
		jnum(o, bl_stats_node_name(r->all, n), (double)k.rows);
	}
	o = cJSON_AddObjectToObject(root, "shares");
	for (int n = 0; o && n < bl_stats_nnodes(r->all); n++) {
		bl_stats_node(r->all, n, &k);
		cJSON_AddItemToObject(o, bl_stats_node_name(r->all, n), jcount(&k));
	}
	a = cJSON_AddArrayToObject(root, "skew");
	for (size_t i = 0; a && i < r->nskew; i++)
		cJSON_AddItemToArray(a, jskew(&r->skew[i]));
	if (r->given) {
		bl_stats_totals tot;
		cJSON *g = cJSON_AddObjectToObject(root, "given"), *l, *rt;
		bl_stats_totals_get(r->given, &tot);
		l = g ? cJSON_AddArrayToObject(g, "labels") : NULL;
		for (size_t i = 0; l && i < r->given_labels.n; i++)
			cJSON_AddItemToArray(l, cJSON_CreateString(r->given_labels.items[i]));
		if (g)
			jnum(g, "samples", (double)tot.rows);
		rt = g ? cJSON_AddObjectToObject(g, "rates") : NULL;
		for (int id = 0; rt && id < r->nl; id++) {
			bl_stats_label(r->given, id, &k);
			cJSON_AddItemToObject(rt, bl_stats_label_name(r->all, id), jcount(&k));
		}
	}
	if (r->by_node >= 0) {
		cJSON *b = cJSON_AddObjectToObject(root, "by"), *rows;
		if (b)
			cJSON_AddStringToObject(b, "family",
						bl_stats_node_name(r->all, r->by_node));
		rows = b ? cJSON_AddObjectToObject(b, "rows") : NULL;
		for (int n = 0; rows && n < bl_stats_nnodes(r->all); n++) {
			cJSON *row, *rt;
			if (!bl_report_by_row(r, n))
				continue;
			row = cJSON_AddObjectToObject(rows, bl_stats_node_name(r->all, n));
			bl_stats_node(r->all, n, &k);
			if (row)
				jnum(row, "samples", (double)k.rows);
			rt = row ? cJSON_AddObjectToObject(row, "rates") : NULL;
			for (int id = 0; rt && id < r->nl; id++) {
				bl_stats_cond(r->all, n, id, &k);
				cJSON_AddItemToObject(rt, bl_stats_label_name(r->all, id),
						      jcount(&k));
			}
		}
	}
	a = cJSON_AddArrayToObject(root, "per_shard");
	for (size_t i = 0; a && i < r->nshards; i++) {
		const struct bl_report_shard *sh = &r->shards[i];
		cJSON *c = cJSON_CreateObject(), *l;
		if (!c)
			break;
		jnum(c, "id", (double)sh->id);
		cJSON_AddStringToObject(c, "path", sh->path);
		cJSON_AddBoolToObject(c, "complete", sh->complete);
		jnum(c, "samples", (double)sh->samples);
		jnum(c, "errors", (double)sh->errors);
		jnum(c, "blocked", (double)sh->blocked);
		l = cJSON_AddObjectToObject(c, "labels");
		for (int id = 0; l && id < r->nl; id++)
			if (sh->labels[id])
				jnum(l, bl_stats_label_name(r->all, id), (double)sh->labels[id]);
		cJSON_AddItemToArray(a, c);
	}
	return root;
}

/* cJSON shows an allocation failure only by leaving items out; the last
 * array built, per_shard, is complete only if nothing failed before it
 * ran out, so its length is checked (a failure inside an item can still
 * slip through; the print itself is checked). */
static int render_json(const struct bl_report *r, bl_buf *out)
{
	cJSON *root = json_report(r);
	char *text = NULL;
	int rc = BL_ENOMEM;
	cJSON *shards;

	if (!root)
		goto out;
	shards = cJSON_GetObjectItemCaseSensitive(root, "per_shard");
	if (!shards || (size_t)cJSON_GetArraySize(shards) != r->nshards)
		goto out;
	text = cJSON_Print(root);
	if (!text)
		goto out;
	rc = bl_buf_adds(out, text);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '\n');
out:
	free(text);
	cJSON_Delete(root);
	return rc;
}

/* ---- before and after: the report of a manifest -------------------------- */

/*
 * The before side is the ordinary gathering of the index; the after side
 * streams the manifest's JSON lines into a second accumulator over the
 * same label ids (names are looked up in a sorted copy of the index's
 * label table), so memory stays flat in the number of lines.  The cost
 * and the distance from the policy's targets come from manifest.json's
 * summary; whatever can be recomputed from the index and the lines is,
 * and each disagreement becomes a failed check in the output.
 */

struct name_id {
	const char *name;
	size_t id;
};

static int name_id_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_id *)a)->name, ((const struct name_id *)b)->name);
}

static const cJSON *jget(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static double jd(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A copy of string member k of o ("" when absent); NULL only without
 * memory. */
static char *jstrdup(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);
	return strdup(cJSON_IsString(v) ? v->valuestring : "");
}

/* A field of manifest.json parsed as JSON (objects and arrays), or NULL. */
static cJSON *mf_json(const bl_manifest *m, const char *field)
{
	const char *t = bl_manifest_get(m, field);
	return t ? cJSON_Parse(t) : NULL;
}

static void mf_release(struct bl_report_mf *mf)
{
	report_release(&mf->before);
	bl_stats_free(mf->after);
	free(mf->policy_path);
	free(mf->policy_text);
	free(mf->policy_sha);
	free(mf->realise);
	free(mf->seed);
	for (size_t i = 0; i < mf->nrules; i++) {
		for (size_t k = 0; k < mf->rules[i].nt; k++)
			free(mf->rules[i].t[k].label);
		free(mf->rules[i].t);
		free(mf->rules[i].kind);
		free(mf->rules[i].text);
	}
	free(mf->rules);
	bl_strlist_release(&mf->notes);
}

static int mf_note(struct bl_report_mf *mf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int mf_note(struct bl_report_mf *mf, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return bl_strlist_add(&mf->notes, msg);
}

/* Record a check; rel is the relative tolerance (0: exact). */
static void mf_check(struct bl_report_mf *mf, const char *name, double manifest,
		     double recomputed, double rel)
{
	struct bl_report_check *c;
	double scale = fmax(1.0, fmax(fabs(manifest), fabs(recomputed)));

	if (mf->nchecks >= BL_REPORT_MAX_CHECKS)
		return;
	c = &mf->checks[mf->nchecks++];
	c->name = name;
	c->manifest = manifest;
	c->recomputed = recomputed;
	if (isnan(manifest)) /* a largest gap: recomputed is the gap */
		c->agree = recomputed <= rel;
	else
		c->agree = fabs(manifest - recomputed) <= rel * scale;
	if (!c->agree)
		mf->agree = 0;
}

const bl_stats_skew *bl_report_mf_after(const struct bl_report_mf *mf,
					const bl_stats_skew *b)
{
	const bl_stats_skew *hit = NULL;

	for (size_t i = 0; b && !hit && i < mf->nskew; i++) {
		const bl_stats_skew *a = &mf->skew[i];
		if (strcmp(a->group, b->group) == 0 &&
		    (a->gender == b->gender ||
		     (a->gender && b->gender && strcmp(a->gender, b->gender) == 0)))
			hit = a;
	}
	return hit;
}

/* The policy lines of the summary, with what each declared and got. */
static int mf_rules(struct bl_report_mf *mf, const cJSON *rules)
{
	const cJSON *r;
	size_t n = 0;
	int rc = BL_ENOMEM;

	if (!cJSON_IsArray(rules))
		return BL_OK;
	mf->rules = calloc((size_t)cJSON_GetArraySize(rules) + 1, sizeof *mf->rules);
	if (!mf->rules)
		goto out;
	cJSON_ArrayForEach(r, rules) {
		struct bl_report_rule *x = &mf->rules[n];
		const cJSON *labels = jget(r, "labels"), *l;
		int cap;
		mf->nrules = ++n;
		x->line = (int)jd(r, "line");
		x->kind = jstrdup(r, "kind");
		x->text = jstrdup(r, "text");
		if (!x->kind || !x->text)
			goto out;
		cap = strcmp(x->kind, "cap") == 0;
		x->tv = jd(r, "tv_distance");
		x->max_err = jd(r, "max_abs_error");
		x->gap_before = jd(r, "max_rate_gap_before");
		x->gap_after = jd(r, "max_rate_gap_after");
		x->samples = jd(r, "samples");
		if (!cJSON_IsArray(labels))
			continue;
		x->t = calloc((size_t)cJSON_GetArraySize(labels) + 1, sizeof *x->t);
		if (!x->t)
			goto out;
		cJSON_ArrayForEach(l, labels) {
			struct bl_report_target *t = &x->t[x->nt++];
			t->label = jstrdup(l, "label");
			if (!t->label)
				goto out;
			/* cap: the expected share is the target */
			t->target = jd(l, cap ? "share_expected" : "target");
			t->before = cap ? NAN : jd(l, "before");
			t->after = jd(l, cap ? "share_after" : "after");
			t->error = cap ? t->after - t->target : jd(l, "error");
		}
	}
	rc = BL_OK;
out:
	return rc;
}

/* Largest gap between the summary's after-side (shares and lifts, as
 * bl_rebalance_finish computed them from the realised weights) and the
 * same recomputed from the lines. */
static void mf_check_dists(struct bl_report_mf *mf, const cJSON *sum)
{
	const cJSON *sh = jget(jget(sum, "shares"), "after"), *sk = jget(jget(sum, "skew"), "after");
	const cJSON *v;
	double gap = 0;
	int seen = 0;

	for (v = cJSON_IsObject(sh) ? sh->child : NULL; v; v = v->next) {
		int node = bl_stats_node_find(mf->after, v->string);
		bl_stats_count k;
		if (!cJSON_IsNumber(v))
			continue;
		seen = 1;
		if (node < 0) {
			gap = fmax(gap, fabs(v->valuedouble));
			continue;
		}
		bl_stats_node(mf->after, node, &k);
		gap = fmax(gap, fabs(k.share - v->valuedouble));
	}
	if (seen)
		mf_check(mf, "shares after: largest difference", NAN, gap, 1e-6);
	gap = 0;
	seen = 0;
	for (v = cJSON_IsArray(sk) ? sk->child : NULL; v; v = v->next) {
		bl_stats_skew key;
		const bl_stats_skew *a;
		const cJSON *g = jget(v, "group"), *s = jget(v, "gender");
		double lift = jd(v, "lift");
		if (!cJSON_IsString(g))
			continue;
		memset(&key, 0, sizeof key);
		key.group = g->valuestring;
		key.gender = cJSON_IsString(s) ? s->valuestring : NULL;
		a = bl_report_mf_after(mf, &key);
		seen = 1;
		if (!a)
			gap = INFINITY;
		else if (isfinite(lift) && isfinite(a->lift))
			gap = fmax(gap, fabs(a->lift - lift) / fmax(1.0, lift));
		else if (isfinite(lift) != isfinite(a->lift))
			gap = INFINITY;
	}
	if (seen)
		mf_check(mf, "lifts after: largest relative difference", NAN, gap, 1e-5);
}

static char *meta_rules_digest(bl_index *ix)
{
	sqlite3_stmt *st = NULL;
	char *out = NULL;

	if (sqlite3_prepare_v2(bl_index_db(ix), "SELECT value FROM meta WHERE key='rules_digest'",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

/* Stream the JSON lines into mf->after.  shard_lines[i] counts the lines
 * of mf->before.shards[i]. */
static int mf_read_lines(struct bl_report_mf *mf, bl_manifest *m, bl_index *ix,
			 const struct name_id *labels, size_t nl, const struct name_id *paths,
			 uint64_t *shard_lines, char *err, size_t errlen)
{
	const bl_manifest_entry *e;
	size_t last = SIZE_MAX;
	int rc, upsample = strcmp(mf->realise, "upsample") == 0;
	double sw = 0, sw2 = 0;

	mf->min_w_re = INFINITY;
	mf->max_w_re = 0;
	while ((rc = bl_manifest_next(m, &e)) == BL_OK) {
		bl_labelset ls;
		const char *p = e->labels;
		bl_labelset_clear(&ls);
		if (last == SIZE_MAX || strcmp(mf->before.shards[last].path, e->shard) != 0) {
			struct name_id key = {e->shard, 0}, *hit;
			hit = bsearch(&key, paths, mf->before.nshards, sizeof *paths, name_id_cmp);
			if (!hit) {
				snprintf(err, errlen,
					 "manifest '%s': sample '%s' of shard '%s' is not in the "
					 "index '%s' (a manifest of another index?)",
					 mf->name, e->key, e->shard, ix->path);
				rc = BL_FAILED;
				goto out;
			}
			last = hit->id;
		}
		shard_lines[last]++;
		while (*p) { /* ",a,b," */
			const char *end;
			char name[256];
			struct name_id key = {name, 0}, *hit;
			p += *p == ',';
			end = strchr(p, ',');
			if (!end)
				end = p + strlen(p);
			if (end == p)
				continue;
			snprintf(name, sizeof name, "%.*s", (int)(end - p), p);
			hit = bsearch(&key, labels, nl, sizeof *labels, name_id_cmp);
			if (!hit || (size_t)(end - p) >= sizeof name) {
				snprintf(err, errlen,
					 "manifest '%s': sample '%s' of shard '%s' has label '%s', "
					 "which the index '%s' does not know",
					 mf->name, e->key, e->shard, name, ix->path);
				rc = BL_FAILED;
				goto out;
			}
			bl_labelset_set(&ls, (int)hit->id);
			p = end;
		}
		if (!isfinite(e->weight) || bl_stats_add(mf->after, &ls, e->weight) != BL_OK) {
			snprintf(err, errlen, "manifest '%s': sample '%s' of shard '%s': bad weight",
				 mf->name, e->key, e->shard);
			rc = BL_FAILED;
			goto out;
		}
		mf->lines++;
		sw += e->weight;
		sw2 += e->weight * e->weight;
		mf->max_w_re = fmax(mf->max_w_re, e->weight);
		mf->min_w_re = fmin(mf->min_w_re, e->weight);
		if (upsample && e->weight >= 2) {
			mf->repeated_re++;
			mf->copies_re += e->weight - 1;
		}
	}
	if (rc == BL_END) {
		rc = BL_OK;
	} else {
		snprintf(err, errlen, "manifest '%s' is damaged: %s", mf->name,
			 bl_manifest_errmsg(m));
		rc = BL_FAILED;
	}
	if (!mf->lines)
		mf->min_w_re = NAN;
out:
	return rc;
}

static int gather_manifest(struct bl_report_mf *mf, bl_index *ix, bl_manifest *m,
			   char *err, size_t errlen)
{
	cJSON *sum = NULL, *pol = NULL, *inputs = NULL, *mlabels = NULL;
	struct name_id *labels = NULL, *paths = NULL;
	uint64_t *shard_lines = NULL;
	const cJSON *v;
	char *digest = NULL;
	const char *s;
	size_t nl;
	int rc = BL_ENOMEM;
	bl_stats_totals tb, ta;

	mf->agree = 1;
	mf->bopt = *mf->opt;
	mf->bopt.by = NULL;
	mf->bopt.given = NULL;
	rc = gather(&mf->before, ix, &mf->bopt, err, errlen);
	if (rc != BL_OK)
		goto out;
	rc = BL_ENOMEM;
	snprintf(err, errlen, "out of memory");
	sum = mf_json(m, "summary");
	pol = mf_json(m, "policy");
	inputs = mf_json(m, "inputs");
	mlabels = mf_json(m, "labels");
	if (!cJSON_IsObject(sum) || !cJSON_IsObject(pol) || !cJSON_IsArray(inputs)) {
		snprintf(err, errlen, "'%s/manifest.json': summary, policy or inputs damaged",
			 mf->name);
		rc = BL_FAILED;
		goto out;
	}
	mf->policy_path = jstrdup(pol, "path");
	mf->policy_text = jstrdup(pol, "text");
	mf->policy_sha = jstrdup(pol, "sha256");
	s = bl_manifest_get(m, "realise");
	mf->realise = strdup(s ? s : "");
	s = bl_manifest_get(m, "seed");
	mf->seed = strdup(s ? s : "");
	mf->after = bl_stats_new_index(ix);
	if (!mf->policy_path || !mf->policy_text || !mf->policy_sha || !mf->realise ||
	    !mf->seed || !mf->after)
		goto out;
	mf->samples = jd(sum, "samples");
	mf->written = jd(sum, "written");
	mf->excluded = jd(sum, "excluded");
	mf->dropped_rule = jd(sum, "dropped_by_rule");
	mf->blocked = jd(sum, "blocked_minor_sexual");
	mf->repeated = jd(sum, "repeated");
	mf->copies = jd(sum, "copies_added");
	mf->weight_sum = jd(sum, "weight_sum");
	mf->max_w = jd(sum, "largest_weight");
	mf->min_w = jd(sum, "smallest_weight");
	mf->ess_before = jd(sum, "ess_before");
	mf->ess_after = jd(sum, "ess_after");
	mf->tv = jd(sum, "tv_distance");
	mf->max_err = jd(sum, "max_abs_share_error");
	if (mf_rules(mf, jget(sum, "rules")) != BL_OK)
		goto out;
	cJSON_ArrayForEach(v, jget(sum, "warnings"))
		if (cJSON_IsString(v) && mf_note(mf, "rebalance: %s", v->valuestring) != BL_OK)
			goto out;

	/* lookup tables: label names and shard paths of the index */
	nl = (size_t)bl_index_nlabels(ix);
	labels = calloc(nl + 1, sizeof *labels);
	paths = calloc(mf->before.nshards + 1, sizeof *paths);
	shard_lines = calloc(mf->before.nshards + 1, sizeof *shard_lines);
	if (!labels || !paths || !shard_lines)
		goto out;
	for (size_t i = 0; i < nl; i++)
		labels[i] = (struct name_id){bl_index_label(ix, (int)i), i};
	qsort(labels, nl, sizeof *labels, name_id_cmp);
	for (size_t i = 0; i < mf->before.nshards; i++)
		paths[i] = (struct name_id){mf->before.shards[i].path, i};
	qsort(paths, mf->before.nshards, sizeof *paths, name_id_cmp);

	/* every input shard must be one of the index */
	cJSON_ArrayForEach(v, inputs) {
		const cJSON *p = jget(v, "path");
		struct name_id key = {cJSON_IsString(p) ? p->valuestring : "", 0};
		if (!bsearch(&key, paths, mf->before.nshards, sizeof *paths, name_id_cmp)) {
			snprintf(err, errlen,
				 "manifest '%s': shard '%s' is not in the index '%s' (a manifest "
				 "of another index? give its INDEX.db)",
				 mf->name, key.name, ix->path);
			rc = BL_FAILED;
			goto out;
		}
	}
	cJSON_ArrayForEach(v, mlabels)
		if (cJSON_IsString(v) && bl_index_label_id(ix, v->valuestring) < 0 &&
		    mf_note(mf, "label '%s' of the manifest is not in the index", v->valuestring) !=
			    BL_OK)
			goto out;
	s = bl_manifest_get(m, "rules_digest");
	digest = meta_rules_digest(ix);
	if (s && digest && strcmp(s, digest) != 0 &&
	    mf_note(mf, "the index was scanned with other rules (%.12s) than the manifest's "
			"(%.12s): before and after may not label alike", digest, s) != BL_OK)
		goto out;

	rc = mf_read_lines(mf, m, ix, labels, nl, paths, shard_lines, err, errlen);
	if (rc != BL_OK)
		goto out;
	rc = BL_ENOMEM;
	snprintf(err, errlen, "out of memory");
	if (bl_stats_skew_table(mf->after, mf->opt->min_rows, mf->opt->min_events, &mf->skew,
				&mf->nskew) != BL_OK)
		goto out;

	/* the cross-checks */
	bl_stats_totals_get(mf->before.all, &tb);
	bl_stats_totals_get(mf->after, &ta);
	{
		double want = 0, got = 0;
		int per_shard_ok = 1;
		cJSON_ArrayForEach(v, inputs) {
			const cJSON *p = jget(v, "path");
			struct name_id key = {p->valuestring, 0}, *hit;
			hit = bsearch(&key, paths, mf->before.nshards, sizeof *paths, name_id_cmp);
			want += jd(v, "written");
			got += (double)shard_lines[hit->id];
			if (jd(v, "written") != (double)shard_lines[hit->id])
				per_shard_ok = 0;
		}
		mf_check(mf, "samples in the index", mf->samples, (double)mf->before.samples, 0);
		mf_check(mf, "written (lines)", mf->written, (double)mf->lines, 0);
		if (!per_shard_ok && got == want)
			got = NAN; /* same total, different shards */
		mf_check(mf, "written per shard (inputs)", want, got, 0);
	}
	mf_check(mf, "not written", mf->excluded, (double)mf->before.samples - (double)mf->lines, 0);
	mf_check(mf, "weight sum", mf->weight_sum, ta.w, 1e-6);
	mf_check(mf, "largest weight", mf->max_w, mf->max_w_re, 1e-6);
	mf_check(mf, "smallest weight", mf->min_w, mf->min_w_re, 1e-6);
	mf_check(mf, "ESS before", mf->ess_before, tb.ess, 1e-9);
	mf_check(mf, "ESS after", mf->ess_after, ta.ess, 1e-6);
	if (strcmp(mf->realise, "upsample") == 0) {
		mf_check(mf, "repeated", mf->repeated, (double)mf->repeated_re, 0);
		mf_check(mf, "copies added", mf->copies, mf->copies_re, 0);
	}
	mf_check_dists(mf, sum);
	rc = BL_OK;
out:
	free(digest);
	free(labels);
	free(paths);
	free(shard_lines);
	cJSON_Delete(sum);
	cJSON_Delete(pol);
	cJSON_Delete(inputs);
	cJSON_Delete(mlabels);
	return rc;
}

/* ---- before and after: text ---------------------------------------------- */

static void arrow(char *b, size_t n, const char *x, const char *y)
{
	snprintf(b, n, "%s -> %s", x, y);
}

static int mtext_shares(const struct bl_report_mf *mf, bl_buf *out, int families)
{
	struct table t = {.ncol = 7};
	const bl_stats *bs = mf->before.all;

	tb_row(&t, "", "before", "share", "after (weighted)", "share", "change", "after 95% CI",
	       (char *)NULL);
	for (int n = 0; n < bl_stats_nnodes(bs); n++) {
		bl_stats_count kb, ka;
		char c1[32], s1[32], c2[32], s2[32], d[32], ci[48];
		const char *name = bl_stats_node_name(bs, n);
		int fam = bl_stats_node_is_family(bs, n);
		if (fam != families)
			continue;
		bl_stats_node(bs, n, &kb);
		bl_stats_node(mf->after, bl_stats_node_find(mf->after, name), &ka);
		snprintf(c1, sizeof c1, "%llu", (unsigned long long)kb.rows);
		pct(s1, sizeof s1, kb.share);
		snprintf(c2, sizeof c2, "%.1f", ka.w);
		pct(s2, sizeof s2, ka.share);
		snprintf(d, sizeof d, "%+.2f pp", 100 * (ka.share - kb.share));
		ci_pct(ci, sizeof ci, ka.lo, ka.hi);
		tb_row(&t, name, c1, s1, c2, s2, d, ci, (char *)NULL);
	}
	return tb_print(&t, out, "  ");
}

static int mtext_skew(const struct bl_report_mf *mf, bl_buf *out)
{
	struct table t = {.ncol = 11, .left = 1u << 1 | 1u << 10};
	const struct bl_report *r = &mf->before;

	tb_row(&t, "group", "gender", "n", "rate", "", "lift before", "95% CI", "lift after",
	       "95% CI", "OR", "", (char *)NULL);
	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *b = &r->skew[i], *a = bl_report_mf_after(mf, b);
		char n[48], x[32], y[32], rate[80], lb[32], lbc[48], la[32], lac[48], orr[80];
		snprintf(n, sizeof n, "%llu -> %.0f", (unsigned long long)b->rows, a ? a->n : 0.0);
		pct(x, sizeof x, b->rate);
		pct(y, sizeof y, a ? a->rate : NAN);
		arrow(rate, sizeof rate, x, y);
		fix(lb, sizeof lb, b->lift);
		ci_fix(lbc, sizeof lbc, b->lift_lo, b->lift_hi);
		fix(la, sizeof la, a ? a->lift : NAN);
		ci_fix(lac, sizeof lac, a ? a->lift_lo : NAN, a ? a->lift_hi : NAN);
		fix(x, sizeof x, b->odds_ratio);
		fix(y, sizeof y, a ? a->odds_ratio : NAN);
		arrow(orr, sizeof orr, x, y);
		tb_row(&t, b->group, b->gender ? b->gender : "-", n, rate, "", lb, lbc, la, lac,
		       orr, b->small || (a && a->small) ? "small" : "", (char *)NULL);
	}
	return tb_print(&t, out, "  ");
}

static int mtext_rules(const struct bl_report_mf *mf, bl_buf *out)
{
	int rc = BL_OK;

	for (size_t i = 0; i < mf->nrules && rc == BL_OK; i++) {
		const struct bl_report_rule *x = &mf->rules[i];
		char a[32], b[32];
		rc = bl_buf_addf(out, "  line %d: %s\n", x->line, x->text);
		if (rc == BL_OK && isfinite(x->gap_before)) {
			fix(a, sizeof a, 100 * x->gap_before);
			fix(b, sizeof b, 100 * x->gap_after);
			rc = bl_buf_addf(out, "    largest rate gap between rows: %s -> %s pp\n", a,
					 b);
		}
		if (rc == BL_OK && isfinite(x->samples) && strcmp(x->kind, "drop") == 0)
			rc = bl_buf_addf(out, "    samples dropped: %.0f\n", x->samples);
		if (rc == BL_OK && (isfinite(x->tv) || isfinite(x->max_err)))
			rc = bl_buf_addf(out, "    TV distance %.4g, largest |achieved - declared| "
					      "%.4g\n", isfinite(x->tv) ? x->tv : 0.0,
					 isfinite(x->max_err) ? x->max_err : 0.0);
		if (rc == BL_OK && x->nt) {
			struct table t = {.ncol = 5};
			tb_row(&t, "label", "declared", "before", "after", "error", (char *)NULL);
			for (size_t k = 0; k < x->nt; k++) {
				char d[32], bb[32], aa[32], e[32];
				pct(d, sizeof d, x->t[k].target);
				pct(bb, sizeof bb, x->t[k].before);
				pct(aa, sizeof aa, x->t[k].after);
				double er = x->t[k].error;
				/* no "-0.000" for a rounding residue */
				snprintf(e, sizeof e, "%+.3f pp", fabs(er) < 5e-6 ? 0.0 : 100 * er);
				tb_row(&t, x->t[k].label, d, bb, aa, isfinite(x->t[k].error) ? e : "-",
				       (char *)NULL);
			}
			rc = tb_print(&t, out, "    ");
		}
	}
	return rc;
}

static int render_mtext(const struct bl_report_mf *mf, bl_buf *out)
{
	struct table t = {.ncol = 2, .left = 1u << 1};
	char a[64], b[64], c[128];
	int rc;
	bl_stats_totals tb, ta;

	bl_stats_totals_get(mf->before.all, &tb);
	bl_stats_totals_get(mf->after, &ta);
	rc = bl_buf_addf(out, "ballast report of manifest %s (index %s)\n\n", mf->name,
			 mf->before.path);
	tb_row(&t, "policy", mf->policy_path, (char *)NULL);
	snprintf(c, sizeof c, "%.12s", mf->policy_sha);
	tb_row(&t, "policy sha256", c, (char *)NULL);
	tb_row(&t, "seed", mf->seed, (char *)NULL);
	tb_row(&t, "realisation", mf->realise, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)mf->before.samples);
	tb_row(&t, "samples in index", a, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)mf->lines);
	tb_row(&t, "written", a, (char *)NULL);
	snprintf(a, sizeof a, "%.0f (drop rules %.0f, safety %.0f)", mf->excluded,
		 mf->dropped_rule, mf->blocked);
	tb_row(&t, "dropped (not written)", a, (char *)NULL);
	snprintf(a, sizeof a, "%.0f (extra copies %.0f)", mf->repeated, mf->copies);
	tb_row(&t, "repeated", a, (char *)NULL);
	snprintf(a, sizeof a, "%.4g (smallest %.4g)", mf->max_w, mf->min_w);
	tb_row(&t, "largest weight", a, (char *)NULL);
	snprintf(a, sizeof a, "%.1f -> %.1f (%.1f%% kept)", mf->ess_before, mf->ess_after,
		 100 * mf->ess_after / mf->ess_before);
	tb_row(&t, "effective sample size", a, (char *)NULL);
	snprintf(b, sizeof b, "TV %.4g, max abs share error %.4g", mf->tv, mf->max_err);
	tb_row(&t, "distance from target", b, (char *)NULL);
	if (rc == BL_OK)
		rc = tb_print(&t, out, "  ");
	if (rc == BL_OK && mf->nrules)
		rc = bl_buf_adds(out, "\npolicy lines: what each declared and what was achieved\n");
	if (rc == BL_OK)
		rc = mtext_rules(mf, out);
	if (rc == BL_OK)
		rc = bl_buf_adds(out, "\nlabels: share before -> after (after = share of the "
				      "manifest's weight)\n");
	if (rc == BL_OK)
		rc = mtext_shares(mf, out, 0);
	if (rc == BL_OK)
		rc = bl_buf_adds(out, "\nfamilies\n");
	if (rc == BL_OK)
		rc = mtext_shares(mf, out, 1);
	if (rc == BL_OK)
		rc = bl_buf_adds(out,
				 "\nskew: rate of sexual.* by group x gender, before -> after, "
				 "sorted by lift before\n"
				 "  lift = rate / rate among all samples of the gender; 95% "
				 "intervals (after: at Kish's effective n)\n");
	if (rc == BL_OK)
		rc = mtext_skew(mf, out);
	if (rc == BL_OK)
		rc = bl_buf_addf(out, "\nchecks: manifest.json's summary against the index and "
				      "the JSON lines: %s\n",
				 mf->agree ? "all agree" : "DISAGREEMENT");
	for (size_t i = 0; i < mf->nchecks && rc == BL_OK; i++) {
		const struct bl_report_check *k = &mf->checks[i];
		char x[32], y[32];
		snprintf(x, sizeof x, "%.10g", k->manifest);
		snprintf(y, sizeof y, "%.10g", k->recomputed);
		if (isnan(k->manifest))
			rc = bl_buf_addf(out, "  %-4s %-42s %s\n", k->agree ? "ok" : "DIFF",
					 k->name, y);
		else
			rc = bl_buf_addf(out, "  %-4s %-42s manifest %s, recomputed %s\n",
					 k->agree ? "ok" : "DIFF", k->name, x, y);
	}
	for (size_t i = 0; i < mf->notes.n && rc == BL_OK; i++)
		rc = bl_buf_addf(out, "note: %s\n", mf->notes.items[i]);
	return rc;
}

/* ---- before and after: CSV ----------------------------------------------- */

static int mcsv_row(bl_buf *out, const char *table, const char *name, const char *gender,
		    const double v[6])
{
	int rc = bl_buf_adds(out, table);
	char b[64];

	if (rc == BL_OK)
		rc = bl_buf_addch(out, ',');
	if (rc == BL_OK)
		rc = csv_field(out, name);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, ',');
	if (rc == BL_OK)
		rc = csv_field(out, gender);
	for (int k = 0; k < 6 && rc == BL_OK; k++) {
		bl_report_num(b, sizeof b, v[k]);
		rc = bl_buf_addf(out, ",%s", b);
	}
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '\n');
	return rc;
}

static int render_mcsv(const struct bl_report_mf *mf, bl_buf *out)
{
	const bl_stats *bs = mf->before.all;
	int rc = bl_buf_adds(out, "table,name,gender,before,before_lo,before_hi,after,after_lo,"
				  "after_hi\n");
	struct {
		const char *name;
		double b, a;
	} cost[] = {
		{"samples", (double)mf->before.samples, (double)mf->lines},
		{"ess", mf->ess_before, mf->ess_after},
		{"dropped", NAN, mf->excluded},
		{"repeated", NAN, mf->repeated},
		{"max_weight", 1, mf->max_w},
		{"tv_distance", NAN, mf->tv},
		{"max_share_error", NAN, mf->max_err},
	};

	for (size_t i = 0; i < sizeof cost / sizeof cost[0] && rc == BL_OK; i++) {
		double v[6] = {cost[i].b, NAN, NAN, cost[i].a, NAN, NAN};
		rc = mcsv_row(out, "cost", cost[i].name, NULL, v);
	}
	for (int n = 0; n < bl_stats_nnodes(bs) && rc == BL_OK; n++) {
		bl_stats_count kb, ka;
		const char *name = bl_stats_node_name(bs, n);
		bl_stats_node(bs, n, &kb);
		bl_stats_node(mf->after, bl_stats_node_find(mf->after, name), &ka);
		double v[6] = {kb.share, kb.lo, kb.hi, ka.share, ka.lo, ka.hi};
		rc = mcsv_row(out, bl_stats_node_is_family(bs, n) ? "family" : "label", name,
			      NULL, v);
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < mf->before.nskew && rc == BL_OK; i++) {
			const bl_stats_skew *b = &mf->before.skew[i], *a = bl_report_mf_after(mf, b);
			double v[6] = {pass ? b->rate : b->lift, pass ? b->rate_lo : b->lift_lo,
				       pass ? b->rate_hi : b->lift_hi, NAN, NAN, NAN};
			if (a) {
				v[3] = pass ? a->rate : a->lift;
				v[4] = pass ? a->rate_lo : a->lift_lo;
				v[5] = pass ? a->rate_hi : a->lift_hi;
			}
			rc = mcsv_row(out, pass ? "skew_rate" : "skew_lift", b->group, b->gender, v);
		}
	for (size_t i = 0; i < mf->nchecks && rc == BL_OK; i++) {
		double v[6] = {mf->checks[i].manifest, NAN, NAN, mf->checks[i].recomputed, NAN,
			       (double)mf->checks[i].agree};
		rc = mcsv_row(out, "check", mf->checks[i].name, NULL, v);
	}
	return rc;
}

/* ---- before and after: JSON ---------------------------------------------- */

/* labels, families, shares and skew of one side; counts are sums of
 * weights (= samples before) */
static cJSON *json_side(const bl_stats *st, const bl_stats_skew *skew, size_t nskew)
{
	cJSON *side = cJSON_CreateObject(), *o, *a;
	bl_stats_count k;
	bl_stats_totals tot;

	if (!side)
		return NULL;
	bl_stats_totals_get(st, &tot);
	jnum(side, "samples", (double)tot.rows);
	jnum(side, "weight", tot.w);
	jnum(side, "ess", tot.ess);
	o = cJSON_AddObjectToObject(side, "labels");
	for (int id = 0; o && id < bl_stats_nlabels(st); id++) {
		bl_stats_label(st, id, &k);
		jnum(o, bl_stats_label_name(st, id), k.w);
	}
	o = cJSON_AddObjectToObject(side, "families");
	for (int n = 0; o && n < bl_stats_nnodes(st); n++) {
		if (!bl_stats_node_is_family(st, n))
			continue;
		bl_stats_node(st, n, &k);
		jnum(o, bl_stats_node_name(st, n), k.w);
	}
	o = cJSON_AddObjectToObject(side, "shares");
	for (int n = 0; o && n < bl_stats_nnodes(st); n++) {
		cJSON *c;
		bl_stats_node(st, n, &k);
		c = jcount(&k);
		if (c) {
			cJSON_ReplaceItemInObjectCaseSensitive(c, "count",
							       cJSON_CreateNumber(round6(k.w)));
			jnum(c, "samples", (double)k.rows);
		}
		cJSON_AddItemToObject(o, bl_stats_node_name(st, n), c);
	}
	a = cJSON_AddArrayToObject(side, "skew");
	for (size_t i = 0; a && i < nskew; i++) {
		cJSON *c = jskew(&skew[i]);
		if (c)
			jnum(c, "samples", (double)skew[i].rows);
		cJSON_AddItemToArray(a, c);
	}
	return side;
}

static int render_mjson(const struct bl_report_mf *mf, bl_buf *out)
{
	cJSON *root = cJSON_CreateObject(), *o, *a;
	char *text = NULL;
	int rc = BL_ENOMEM;

	if (!root)
		goto out;
	cJSON_AddStringToObject(root, "report", "ballast-manifest");
	jnum(root, "schema", 1);
	cJSON_AddStringToObject(root, "manifest", mf->name);
	cJSON_AddStringToObject(root, "index", mf->before.path);
	o = cJSON_AddObjectToObject(root, "policy");
	if (o) {
		cJSON_AddStringToObject(o, "path", mf->policy_path);
		cJSON_AddStringToObject(o, "sha256", mf->policy_sha);
		cJSON_AddStringToObject(o, "seed", mf->seed);
		cJSON_AddStringToObject(o, "realise", mf->realise);
		cJSON_AddStringToObject(o, "text", mf->policy_text);
	}
	o = cJSON_AddObjectToObject(root, "cost");
	if (o) {
		jnum(o, "samples", (double)mf->before.samples);
		jnum(o, "written", (double)mf->lines);
		jnum(o, "ess_before", mf->ess_before);
		jnum(o, "ess_after", mf->ess_after);
		jnum(o, "ess_ratio", mf->ess_after / mf->ess_before);
		jnum(o, "dropped", mf->excluded);
		jnum(o, "dropped_by_rule", mf->dropped_rule);
		jnum(o, "blocked", mf->blocked);
		jnum(o, "repeated", mf->repeated);
		jnum(o, "copies_added", mf->copies);
		jnum(o, "max_weight", mf->max_w);
		jnum(o, "min_weight", mf->min_w);
		jnum(o, "weight_sum", mf->weight_sum);
		jnum(o, "tv_distance", mf->tv);
		jnum(o, "max_share_error", mf->max_err);
	}
	a = cJSON_AddArrayToObject(root, "rules");
	for (size_t i = 0; a && i < mf->nrules; i++) {
		const struct bl_report_rule *x = &mf->rules[i];
		cJSON *c = cJSON_CreateObject(), *t;
		if (!c)
			break;
		jnum(c, "line", x->line);
		cJSON_AddStringToObject(c, "kind", x->kind);
		cJSON_AddStringToObject(c, "text", x->text);
		if (isfinite(x->samples))
			jnum(c, "samples", x->samples);
		if (isfinite(x->gap_before)) {
			jnum(c, "max_rate_gap_before", x->gap_before);
			jnum(c, "max_rate_gap_after", x->gap_after);
		}
		if (isfinite(x->tv))
			jnum(c, "tv_distance", x->tv);
		if (isfinite(x->max_err))
			jnum(c, "max_abs_error", x->max_err);
		t = x->nt ? cJSON_AddArrayToObject(c, "labels") : NULL;
		for (size_t k = 0; t && k < x->nt; k++) {
			cJSON *l = cJSON_CreateObject();
			if (!l)
				break;
			cJSON_AddStringToObject(l, "label", x->t[k].label);
			jnum(l, "target", x->t[k].target);
			jnum(l, "before", x->t[k].before);
			jnum(l, "after", x->t[k].after);
			jnum(l, "error", x->t[k].error);
			cJSON_AddItemToArray(t, l);
		}
		cJSON_AddItemToArray(a, c);
	}
	cJSON_AddItemToObject(root, "before",
			      json_side(mf->before.all, mf->before.skew, mf->before.nskew));
	cJSON_AddItemToObject(root, "after", json_side(mf->after, mf->skew, mf->nskew));
	cJSON_AddBoolToObject(root, "agree", mf->agree);
	a = cJSON_AddArrayToObject(root, "checks");
	for (size_t i = 0; a && i < mf->nchecks; i++) {
		cJSON *c = cJSON_CreateObject();
		if (!c)
			break;
		cJSON_AddStringToObject(c, "name", mf->checks[i].name);
		jnum(c, "manifest", mf->checks[i].manifest);
		jnum(c, "recomputed", mf->checks[i].recomputed);
		cJSON_AddBoolToObject(c, "agree", mf->checks[i].agree);
		cJSON_AddItemToArray(a, c);
	}
	a = cJSON_AddArrayToObject(root, "notes");
	for (size_t i = 0; a && i < mf->notes.n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(mf->notes.items[i]));
	/* the last array is complete only if nothing failed before it */
	if (!a || (size_t)cJSON_GetArraySize(a) != mf->notes.n ||
	    !cJSON_GetObjectItemCaseSensitive(root, "after"))
		goto out;
	text = cJSON_Print(root);
	if (!text)
		goto out;
	rc = bl_buf_adds(out, text);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '\n');
out:
	free(text);
	cJSON_Delete(root);
	return rc;
}

/* ---- entry points -------------------------------------------------------- */

int bl_report_buf(bl_index *ix, const bl_report_options *opt, bl_buf *out, char *err,
		  size_t errlen)
{
	struct bl_report r;
	bl_report_options defaults;
	size_t len0;
	char dummy[1];
	int rc = BL_EUSAGE;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	memset(&r, 0, sizeof r);
	bl_strlist_init(&r.given_labels);
	if (!ix || !out) {
		snprintf(err, errlen, "no index or no output buffer");
		return BL_EUSAGE;
	}
	if (!opt) {
		memset(&defaults, 0, sizeof defaults);
		opt = &defaults;
	}
	len0 = out->len;
	if (opt->format < BL_REPORT_TEXT || opt->format > BL_REPORT_HTML) {
		snprintf(err, errlen, "unknown report format %d", opt->format);
		goto out;
	}
	rc = gather(&r, ix, opt, err, errlen);
	if (rc != BL_OK)
		goto out;
	switch (opt->format) {
	case BL_REPORT_CSV: rc = render_csv(&r, out); break;
	case BL_REPORT_JSON: rc = render_json(&r, out); break;
	case BL_REPORT_HTML: rc = bl_report_html(&r, out); break;
	default: rc = render_text(&r, out); break;
	}
	if (rc != BL_OK)
		snprintf(err, errlen, "%s", rc == BL_ENOMEM ? "out of memory"
							    : "report larger than the output cap");
out:
	if (rc != BL_OK && out->len > len0) {
		out->len = len0;
		out->buf[len0] = '\0';
	}
	report_release(&r);
	return rc;
}

/* Write a rendered report to the caller's stream. */
static int write_stream(const bl_buf *b, FILE *f, char *err, size_t errlen)
{
	int rc = BL_OK;

	if (b->len && fwrite(b->buf, 1, b->len, f) != b->len) {
		if (err && errlen)
			snprintf(err, errlen, "write error: %s", strerror(errno));
		rc = BL_FAILED;
	}
	return rc;
}

/* Write a rendered report to path atomically: path.tmp, fsync, rename. */
static int save_atomic(const bl_buf *b, const char *path, char *err, size_t errlen)
{
	bl_buf tmp;
	int fd = -1, rc;

	bl_buf_init(&tmp, 0);
	rc = bl_buf_addf(&tmp, "%s.tmp", path);
	if (rc != BL_OK) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = BL_FAILED;
	fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	for (size_t off = 0; off < b->len;) {
		ssize_t n = write(fd, b->buf + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cannot write '%s': %s", tmp.buf, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "cannot sync '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errlen, "cannot close '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp.buf, path) != 0) {
		snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp.buf, path,
			 strerror(errno));
		goto out;
	}
	rc = BL_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc != BL_OK && tmp.len)
		unlink(tmp.buf);
	bl_buf_release(&tmp);
	return rc;
}

int bl_report_write(bl_index *ix, const bl_report_options *opt, FILE *f, char *err,
		    size_t errlen)
{
	bl_buf b;
	int rc;

	if (!f)
		return BL_EUSAGE;
	bl_buf_init(&b, 0);
	rc = bl_report_buf(ix, opt, &b, err, errlen);
	if (rc == BL_OK)
		rc = write_stream(&b, f, err, errlen);
	bl_buf_release(&b);
	return rc;
}

int bl_report_save(bl_index *ix, const bl_report_options *opt, const char *path,
		   char *err, size_t errlen)
{
	bl_buf b;
	int rc;
	char dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!path)
		return BL_EUSAGE;
	bl_buf_init(&b, 0);
	rc = bl_report_buf(ix, opt, &b, err, errlen);
	if (rc == BL_OK)
		rc = save_atomic(&b, path, err, errlen);
	bl_buf_release(&b);
	return rc;
}

int bl_report_manifest_buf(bl_index *ix, bl_manifest *m, const char *name,
			   const bl_report_options *opt, bl_buf *out, char *err,
			   size_t errlen)
{
	struct bl_report_mf mf;
	bl_report_options defaults;
	size_t len0 = out ? out->len : 0;
	char dummy[64];
	int rc = BL_EUSAGE;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	memset(&mf, 0, sizeof mf);
	bl_strlist_init(&mf.before.given_labels);
	bl_strlist_init(&mf.notes);
	if (!ix || !m || !out) {
		snprintf(err, errlen, "no index, no manifest or no output buffer");
		goto out;
	}
	if (!opt) {
		memset(&defaults, 0, sizeof defaults);
		opt = &defaults;
	}
	if (opt->format < BL_REPORT_TEXT || opt->format > BL_REPORT_HTML) {
		snprintf(err, errlen, "unknown report format %d", opt->format);
		goto out;
	}
	mf.name = name ? name : "manifest";
	mf.opt = opt;
	rc = gather_manifest(&mf, ix, m, err, errlen);
	if (rc != BL_OK)
		goto out;
	switch (opt->format) {
	case BL_REPORT_CSV: rc = render_mcsv(&mf, out); break;
	case BL_REPORT_JSON: rc = render_mjson(&mf, out); break;
	case BL_REPORT_HTML: rc = bl_report_html_manifest(&mf, out); break;
	default: rc = render_mtext(&mf, out); break;
	}
	if (rc != BL_OK)
		snprintf(err, errlen, "%s", rc == BL_ENOMEM ? "out of memory"
							    : "report larger than the output cap");
out:
	if (rc != BL_OK && out && out->len > len0) {
		out->len = len0;
		out->buf[len0] = '\0';
	}
	mf_release(&mf);
	return rc;
}

int bl_report_manifest_write(bl_index *ix, bl_manifest *m, const char *name,
			     const bl_report_options *opt, FILE *f, char *err,
			     size_t errlen)
{
	bl_buf b;
	int rc;

	if (!f)
		return BL_EUSAGE;
	bl_buf_init(&b, 0);
	rc = bl_report_manifest_buf(ix, m, name, opt, &b, err, errlen);
	if (rc == BL_OK)
		rc = write_stream(&b, f, err, errlen);
	bl_buf_release(&b);
	return rc;
}

int bl_report_manifest_save(bl_index *ix, bl_manifest *m, const char *name,
			    const bl_report_options *opt, const char *path, char *err,
			    size_t errlen)
{
	bl_buf b;
	int rc;
	char dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!path)
		return BL_EUSAGE;
	bl_buf_init(&b, 0);
	rc = bl_report_manifest_buf(ix, m, name, opt, &b, err, errlen);
	if (rc == BL_OK)
		rc = save_atomic(&b, path, err, errlen);
	bl_buf_release(&b);
	return rc;
}
