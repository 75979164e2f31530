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
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
double bl_report_round6(double x)
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
		char ctl[8];
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			/* a control byte is shown, not passed on */
			if (((unsigned char)*s < 0x20 && !strchr("\t\n\r", *s)) || *s == 0x7f) {
				snprintf(ctl, sizeof ctl, "\\x%02x", (unsigned char)*s);
				rep = ctl;
			}
			break;
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

int bl_report_text_escape(bl_buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run = p;
	int rc = BL_OK;

	if (!out)
		return BL_EUSAGE;
	while (p && *p && rc == BL_OK) {
		size_t n = 0, bad = 0;
		if (*p >= 0x20 && *p < 0x7f) {
			p++;
			continue;
		}
		if (*p >= 0x80) {
			/* one UTF-8 character, if it is one */
			n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 0;
			for (size_t k = 1; k < n; k++)
				if ((p[k] & 0xc0) != 0x80)
					n = 0;
			if (n && bl_utf8_valid((const char *)p, n, &bad) &&
			    !(p[0] == 0xc2 && p[1] < 0xa0)) {
				p += n;
				continue;
			}
		}
		rc = bl_buf_add(out, run, (size_t)(p - run));
		if (rc == BL_OK)
			rc = bl_buf_addf(out, "\\x%02x", *p);
		run = ++p;
	}
	if (rc == BL_OK && p)
		rc = bl_buf_add(out, run, (size_t)(p - run));
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

void bl_report_release(struct bl_report *r)
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
	free(r->fix);
	free(r->nfix);
	bl_strlist_release(&r->notes);
}

/* A failure of the index, in err. */
static int index_fail(bl_index *ix, int rc, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", rc == BL_ENOMEM ? "out of memory" : bl_index_errmsg(ix));
	return rc;
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

static int read_shards(struct bl_report *r, bl_index *ix, char *err, size_t errlen)
{
	struct bl_index_shard_row *rows = NULL;
	struct bl_index_error_total *tot = NULL;
	size_t nrows = 0, ntot = 0, hint = 0;
	int rc;

	if ((rc = bl_index_shard_rows(ix, 0, &rows, &nrows)) != BL_OK) {
		rc = index_fail(ix, rc, err, errlen);
		goto out;
	}
	rc = BL_ENOMEM;
	if (!(r->shards = calloc(nrows ? nrows : 1, sizeof *r->shards)))
		goto nomem;
	for (size_t i = 0; i < nrows; i++) {
		struct bl_report_shard *sh = &r->shards[r->nshards];
		sh->id = rows[i].id;
		sh->complete = rows[i].complete != 0;
		sh->path = rows[i].path; /* taken over */
		rows[i].path = NULL;
		sh->labels = calloc((size_t)r->nl + 1, sizeof *sh->labels);
		r->nshards++;
		if (!sh->labels)
			goto nomem;
		r->shards_complete += (uint64_t)sh->complete;
	}
	/* errors by kind, and by shard */
	if ((rc = bl_index_error_totals(ix, BL_IX_BY_KIND, &tot, &ntot)) != BL_OK) {
		rc = index_fail(ix, rc, err, errlen);
		goto out;
	}
	rc = BL_ENOMEM;
	if (!(r->errors = calloc(ntot ? ntot : 1, sizeof *r->errors)))
		goto nomem;
	for (size_t i = 0; i < ntot; i++) {
		r->errors[r->nerrors].kind = strdup(tot[i].kind ? tot[i].kind : "unknown");
		r->errors[r->nerrors].count = tot[i].n;
		if (!r->errors[r->nerrors++].kind)
			goto nomem;
	}
	bl_index_error_totals_free(tot, ntot);
	tot = NULL;
	ntot = 0;
	if ((rc = bl_index_error_totals(ix, BL_IX_BY_SHARD, &tot, &ntot)) != BL_OK) {
		rc = index_fail(ix, rc, err, errlen);
		goto out;
	}
	for (size_t i = 0; i < ntot; i++) {
		struct bl_report_shard *sh = find_shard(r, tot[i].shard_id, &hint);
		if (sh)
			sh->errors = tot[i].n;
	}
	rc = BL_OK;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
	rc = BL_ENOMEM;
out:
	bl_index_shard_rows_free(rows, nrows);
	bl_index_error_totals_free(tot, ntot);
	return rc;
}

static int read_samples(struct bl_report *r, bl_index *ix, char *err, size_t errlen)
{
	bl_index_cursor *cur;
	const struct bl_index_sample *row;
	size_t hint = 0;
	int rc = BL_FAILED, s, blocked = bl_index_label_id(ix, "safety.minor_sexual");

	/* an index written before samples.weight reads as weight 1 */
	cur = bl_index_cursor_new(ix, BL_IXC_BITS | BL_IXC_PROBLEMS | BL_IXC_WEIGHT);
	if (!cur || bl_index_cursor_all(cur) != BL_OK) {
		rc = index_fail(ix, BL_FAILED, err, errlen);
		goto out;
	}
	while ((s = bl_index_cursor_next(cur, &row)) == BL_OK) {
		const unsigned char *bits = row->bits;
		size_t len = row->nbits;
		struct bl_report_shard *sh = find_shard(r, row->shard_id, &hint);
		int isblocked = 0;
		/* the scan checked it; a hand-edited index may not have */
		double w = isfinite(row->weight) && row->weight >= 0 ? row->weight : 1.0;

		if (len > BL_MAX_LABELS / 8)
			len = BL_MAX_LABELS / 8;
		if (w != 1.0)
			r->weighted = 1;
		r->weight_sum += w;
		rc = bl_stats_add_bits(r->all, bits, len, w);
		if (rc == BL_OK && r->given)
			rc = bl_stats_add_bits(r->given, bits, len, w);
		if (rc != BL_OK) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		rc = BL_FAILED;
		r->samples++;
		if (row->problems != 0)
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
	if (s != BL_END) {
		rc = index_fail(ix, BL_FAILED, err, errlen);
		goto out;
	}
	rc = BL_OK;
out:
	bl_index_cursor_free(cur);
	return rc;
}

/* A stream id for a cell's draws: its names, not its place in the table. */
static uint64_t cell_stream(const bl_stats_skew *s)
{
	uint64_t h = bl_hash_bytes(s->group, strlen(s->group));
	if (s->gender)
		h = h * 1099511628211ULL ^ bl_hash_bytes(s->gender, strlen(s->gender));
	return h;
}

int bl_report_notef(bl_strlist *notes, const char *fmt, ...)
{
	char b[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	return bl_strlist_add(notes, b);
}

/*
 * The corrections an audit allows: every node of the index the audit
 * judged gets its share corrected; when the audit judged the outcome
 * family as a whole, every skew row gets its rate, the rest's rate, the
 * base rate, the rate ratio and the lift corrected (the outcome's Se and
 * Sp are taken to be the same in every cell; cell membership, from the
 * group and gender labels, is the tagger's and is not corrected).
 */
static int apply_audit(struct bl_report *r)
{
	const bl_audit *a = r->opt->audit;
	int nn = bl_stats_nnodes(r->all), rc = BL_OK;
	bl_stats_totals tot;
	uint64_t rows, judged;
	double drawn_from;

	bl_stats_totals_get(r->all, &tot);
	r->nfix = calloc((size_t)nn + 1, sizeof *r->nfix);
	r->fix = calloc(r->nskew + 1, sizeof *r->fix);
	if (!r->nfix || !r->fix)
		return BL_ENOMEM;
	bl_audit_totals(a, &rows, &judged, &drawn_from);
	for (int n = 0; n < nn && rc == BL_OK; n++) {
		int k = bl_audit_find(a, bl_stats_node_name(r->all, n));
		bl_stats_count c;
		r->nfix[n].status = BL_FIX_NONE;
		r->nfix[n].est = r->nfix[n].lo = r->nfix[n].hi = NAN;
		if (k < 0)
			continue;
		bl_stats_node(r->all, n, &c);
		rc = bl_audit_correct(a, k, c.share * tot.ess, tot.ess,
				      bl_hash_bytes(bl_stats_node_name(r->all, n),
						    strlen(bl_stats_node_name(r->all, n))),
				      &r->nfix[n]);
	}
	for (size_t i = 0; i < bl_audit_nnodes(a) && rc == BL_OK; i++) {
		const bl_audit_est *e = bl_audit_node(a, i);
		if (bl_stats_node_find(r->all, e->node) < 0)
			rc = bl_report_notef(&r->notes, "the audit judged '%s', which no label of "
					     "this index is: not used", e->node);
	}
	r->audit_outcome = bl_audit_find(a, BL_REPORT_OUTCOME);
	if (rc == BL_OK && r->audit_outcome < 0)
		rc = bl_report_notef(&r->notes, "the audit has no judgements of '%s' (any %s.* "
				     "label): the skew table is not corrected; draw a sheet with "
				     "--label %s", BL_REPORT_OUTCOME, BL_REPORT_OUTCOME,
				     BL_REPORT_OUTCOME);
	if (rc == BL_OK && isfinite(drawn_from) && drawn_from != (double)r->samples)
		rc = bl_report_notef(&r->notes, "the audit was drawn from an index of %.0f "
				     "samples; this one has %llu: the correction assumes the "
				     "tagger errs here as it did there", drawn_from,
				     (unsigned long long)r->samples);
	if (rc == BL_OK && bl_audit_nproblems(a))
		rc = bl_report_notef(&r->notes, "%zu rows of the audit sheet could not be used "
				     "(ballast eval lists them)", bl_audit_nproblems(a));
	for (size_t i = 0; r->audit_outcome >= 0 && i < r->nskew && rc == BL_OK; i++) {
		const bl_stats_skew *s = &r->skew[i];
		struct bl_report_fix *f = &r->fix[i];
		double sc = s->n > 0 ? s->ess / s->n : 0;
		double sr = s->rest_n > 0 ? s->rest_ess / s->rest_n : 0;
		double sb = s->base_n > 0 ? s->base_ess / s->base_n : 0;
		uint64_t h = cell_stream(s);
		rc = bl_audit_correct_pair(a, r->audit_outcome, s->events * sc, s->ess,
					   s->rest_rate * s->rest_n * sr, s->rest_ess, h, &f->rate,
					   &f->rest, &f->rr);
		if (rc == BL_OK)
			rc = bl_audit_correct_pair(a, r->audit_outcome, s->events * sc, s->ess,
						   s->base_rate * s->base_n * sb, s->base_ess,
						   h ^ 0x9e3779b97f4a7c15ULL, NULL, &f->base,
						   &f->lift);
		if (rc == BL_EUSAGE)
			rc = BL_OK;
	}
	return rc;
}

int bl_report_gather(struct bl_report *r, bl_index *ix, const bl_report_options *opt,
		  char *err, size_t errlen)
{
	int rc = BL_FAILED;

	r->opt = opt;
	r->path = ix->path;
	r->by_node = -1;
	r->unread_node = -1;
	r->audit_outcome = -1;
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
	rc = read_shards(r, ix, err, errlen);
	if (rc == BL_OK)
		rc = read_samples(r, ix, err, errlen);
	if (rc == BL_OK &&
	    bl_stats_skew_table(r->all, opt->min_rows, opt->min_events, &r->skew, &r->nskew) !=
		    BL_OK) {
		snprintf(err, errlen, "out of memory");
		rc = BL_ENOMEM;
	}
	if (rc == BL_OK) {
		int k = bl_stats_node_find(r->all, "caption");
		if (k >= 0 && bl_stats_node_is_family(r->all, k))
			r->unread_node = k;
	}
	if (rc == BL_OK && r->weighted &&
	    bl_strlist_add(&r->notes, "weighted by ballast_weight: shares and rates are sums of "
				      "the weights that 'ballast write' gave the samples (counts "
				      "stay counts of samples)") != BL_OK)
		rc = BL_ENOMEM;
	if (rc == BL_OK && opt->audit)
		rc = apply_audit(r);
	if (rc == BL_ENOMEM)
		snprintf(err, errlen, "out of memory");
out:
	return rc;
}

/* ---- text ---------------------------------------------------------------- */

/* A table of strings, aligned on output: column 0 left, the rest right
 * unless marked left. */


void bl_report_tb_row(struct table *t, ...)
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
		bl_buf e;
		char *d;
		/* cells hold data (shard paths, label names): no control byte
		 * reaches a terminal */
		bl_buf_init(&e, 0);
		d = bl_report_text_escape(&e, s ? s : "") == BL_OK ? bl_buf_detach(&e, NULL) : NULL;
		bl_buf_release(&e);
		if (!d)
			t->failed = 1;
		t->cells[t->nrow * t->ncol + c] = d;
	}
	va_end(ap);
	t->nrow++;
}

int bl_report_tb_print(struct table *t, bl_buf *out, const char *indent)
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

void bl_report_pct(char *b, size_t n, double x)
{
	if (!isfinite(x))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.2f%%", 100 * x);
}

void bl_report_ci_pct(char *b, size_t n, double lo, double hi)
{
	if (!isfinite(lo) || !isfinite(hi))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "[%.2f, %.2f]%%", 100 * lo, 100 * hi);
}

void bl_report_fix(char *b, size_t n, double x)
{
	if (!isfinite(x))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.2f", x);
}

void bl_report_ci_fix(char *b, size_t n, double lo, double hi)
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

	bl_report_tb_row(&t, "", "count", "share", "95% CI", (char *)NULL);
	if (!nodes) {
		for (int id = 0; id < bl_stats_nlabels(st); id++) {
			bl_stats_count k;
			if (given_node >= 0)
				bl_stats_cond(st, given_node, id, &k);
			else
				bl_stats_label(st, id, &k);
			snprintf(c, sizeof c, "%llu", (unsigned long long)k.rows);
			bl_report_pct(s, sizeof s, k.share);
			bl_report_ci_pct(ci, sizeof ci, k.lo, k.hi);
			bl_report_tb_row(&t, bl_stats_label_name(st, id), c, s, ci, (char *)NULL);
		}
	} else {
		for (int n = 0; n < bl_stats_nnodes(st); n++) {
			bl_stats_count k;
			if (!bl_stats_node_is_family(st, n))
				continue;
			bl_stats_node(st, n, &k);
			snprintf(c, sizeof c, "%llu", (unsigned long long)k.rows);
			bl_report_pct(s, sizeof s, k.share);
			bl_report_ci_pct(ci, sizeof ci, k.lo, k.hi);
			bl_report_tb_row(&t, bl_stats_node_name(st, n), c, s, ci, (char *)NULL);
		}
	}
	(void)r;
	return bl_report_tb_print(&t, out, "  ");
}

const char *bl_report_unread_phrase(const char *label, char *b, size_t n)
{
	static const struct {
		const char *leaf, *say;
	} known[] = {
		{"other_language", "in languages the filters do not cover"},
		{"lang_other", "in languages the filters do not cover"},
		{"too_short", "too short to judge"},
		{"uncovered", "not covered by the filters"},
		{"empty", "empty"},
		{"unreadable", "unreadable"},
	};
	const char *leaf = strrchr(label, '.');

	leaf = leaf ? leaf + 1 : label;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(leaf, known[i].leaf) == 0) {
			snprintf(b, n, "%s", known[i].say);
			return b;
		}
	snprintf(b, n, "labelled %s", label);
	return b;
}

/* "N% of captions ..." lines for the caption.* labels (text form). */
static int text_unread(const struct bl_report *r, bl_buf *out)
{
	bl_stats_count k;
	int rc;

	if (r->unread_node < 0)
		return BL_OK;
	bl_stats_node(r->all, r->unread_node, &k);
	rc = bl_buf_addf(out, "unread: %.2f%% of captions (%llu) carry a caption.* label: the "
			      "tagger could not read them, and every rate below counts them as "
			      "captions without the labels they may hold\n",
			 100 * k.share, (unsigned long long)k.rows);
	for (int id = 0; id < r->nl && rc == BL_OK; id++) {
		const char *name = bl_stats_label_name(r->all, id);
		char say[128];
		if (!bl_label_in_family(name, "caption"))
			continue;
		bl_stats_label(r->all, id, &k);
		rc = bl_buf_addf(out, "  %.2f%% of captions (%llu) are %s (", 100 * k.share,
				 (unsigned long long)k.rows,
				 bl_report_unread_phrase(name, say, sizeof say));
		if (rc == BL_OK)
			rc = bl_report_text_escape(out, name);
		if (rc == BL_OK)
			rc = bl_buf_adds(out, ")\n");
	}
	return rc;
}

static void fix_cells(const bl_audit_fix *f, int pct, char *v, size_t vn, char *ci, size_t cn)
{
	if (pct) {
		bl_report_pct(v, vn, f->est);
		bl_report_ci_pct(ci, cn, f->lo, f->hi);
	} else {
		bl_report_fix(v, vn, f->est);
		bl_report_ci_fix(ci, cn, f->lo, f->hi);
	}
}

/* The audit's estimates and the corrected skew table (text form). */
static int text_audit(const struct bl_report *r, bl_buf *out)
{
	const bl_audit *a = r->opt->audit;
	struct table t = {.ncol = 10, .left = 1u << 9};
	char v[10][64];
	int rc;

	rc = bl_buf_adds(out, "\naudit: how far to trust the tags (");
	if (rc == BL_OK)
		rc = bl_report_text_escape(out, bl_audit_path(a));
	if (rc == BL_OK)
		rc = bl_buf_adds(out, ")\n  corrected share = Rogan-Gladen (observed + Sp - 1) / "
				      "(Se + Sp - 1) with Se, Sp measured by the audit; 95% "
				      "intervals from seeded draws that include the audit's own "
				      "uncertainty\n");
	bl_report_tb_row(&t, "node", "judged", "precision", "95% CI", "recall (Se)", "95% CI",
			 "specificity", "observed", "corrected share [95% CI]", "", (char *)NULL);
	for (size_t i = 0; i < bl_audit_nnodes(a); i++) {
		const bl_audit_est *e = bl_audit_node(a, i);
		int n = bl_stats_node_find(r->all, e->node);
		const bl_audit_fix *f = n >= 0 && r->nfix ? &r->nfix[n] : NULL;
		bl_stats_count k;
		char c1[24], c2[36];
		snprintf(v[0], 64, "%llu+%llu",
			 (unsigned long long)e->judged_tagged, (unsigned long long)e->judged_untagged);
		bl_report_pct(v[1], 64, e->precision);
		bl_report_ci_pct(v[2], 64, e->precision_lo, e->precision_hi);
		bl_report_pct(v[3], 64, e->sensitivity);
		bl_report_ci_pct(v[4], 64, e->se_lo, e->se_hi);
		bl_report_pct(v[5], 64, e->specificity);
		if (n >= 0) {
			bl_stats_node(r->all, n, &k);
			bl_report_pct(v[6], 64, k.share);
		} else {
			snprintf(v[6], 64, "-");
		}
		if (f && isfinite(f->est)) {
			fix_cells(f, 1, c1, sizeof c1, c2, sizeof c2);
			snprintf(v[7], 64, "%s %s", c1, c2);
		} else {
			snprintf(v[7], 64, "-");
		}
		bl_report_tb_row(&t, e->node, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
				 f ? bl_audit_status_name(f->status) : "not in this index",
				 (char *)NULL);
	}
	if (rc == BL_OK)
		rc = bl_report_tb_print(&t, out, "  ");
	else
		bl_report_tb_print(&t, out, "  ");
	if (rc != BL_OK || r->audit_outcome < 0)
		return rc;
	rc = bl_buf_adds(out,
			 "\nskew corrected for the tagger's measured errors in " BL_REPORT_OUTCOME
			 ".* (assumed the same in every cell; cells are still the tagger's group "
			 "and gender labels)\n");
	t = (struct table){.ncol = 11, .left = 1u << 1 | 1u << 10};
	bl_report_tb_row(&t, "group", "gender", "raw rate", "corrected", "95% CI", "rest",
			 "RR", "95% CI", "lift", "95% CI", "", (char *)NULL);
	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *s = &r->skew[i];
		const struct bl_report_fix *f = &r->fix[i];
		int st = f->rate.status > f->rr.status ? f->rate.status : f->rr.status;
		bl_report_pct(v[0], 64, s->rate);
		fix_cells(&f->rate, 1, v[1], 64, v[2], 64);
		bl_report_pct(v[3], 64, f->rest.est);
		fix_cells(&f->rr, 0, v[4], 64, v[5], 64);
		fix_cells(&f->lift, 0, v[6], 64, v[7], 64);
		bl_report_tb_row(&t, s->group, s->gender ? s->gender : "-", v[0], v[1], v[2], v[3],
				 v[4], v[5], v[6], v[7], bl_audit_status_name(st), (char *)NULL);
	}
	return bl_report_tb_print(&t, out, "  ");
}

static int render_text(const struct bl_report *r, bl_buf *out)
{
	struct table t = {.ncol = 2};
	char a[64], b[64], c[64], d[64], e[64], f[64], g[64], h[64], i_[64], j[64], k_[64],
		l_[64], m_[64];
	int rc;

	rc = bl_buf_adds(out, "ballast report of ");
	if (rc == BL_OK)
		rc = bl_report_text_escape(out, r->path);
	if (rc == BL_OK)
		rc = bl_buf_adds(out, "\n\n");
	for (size_t k = 0; k < r->notes.n && rc == BL_OK; k++) {
		rc = bl_buf_adds(out, "NOTE: ");
		if (rc == BL_OK)
			rc = bl_report_text_escape(out, r->notes.items[k]);
		if (rc == BL_OK)
			rc = bl_buf_addch(out, '\n');
	}
	if (rc == BL_OK)
		rc = text_unread(r, out);
	if (rc == BL_OK && (r->notes.n || r->unread_node >= 0))
		rc = bl_buf_addch(out, '\n');
	snprintf(a, sizeof a, "%zu (%llu complete)", r->nshards,
		 (unsigned long long)r->shards_complete);
	bl_report_tb_row(&t, "shards", a, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)r->samples);
	bl_report_tb_row(&t, "samples", a, (char *)NULL);
	if (r->weighted) {
		bl_stats_totals tot;
		bl_stats_totals_get(r->all, &tot);
		snprintf(a, sizeof a, "%.6g (Kish ESS %.6g)", tot.w, tot.ess);
		bl_report_tb_row(&t, "sum of ballast_weight", a, (char *)NULL);
	}
	snprintf(a, sizeof a, "%llu", (unsigned long long)r->samples_with_errors);
	bl_report_tb_row(&t, "samples with problems", a, (char *)NULL);
	snprintf(a, sizeof a, "%llu", (unsigned long long)r->blocked);
	bl_report_tb_row(&t, "blocked (safety.minor_sexual)", a, (char *)NULL);
	for (size_t k = 0; k < r->nerrors; k++) {
		char name[96];
		snprintf(name, sizeof name, "errors: %s", r->errors[k].kind);
		snprintf(a, sizeof a, "%llu", (unsigned long long)r->errors[k].count);
		bl_report_tb_row(&t, name, a, (char *)NULL);
	}
	if (rc == BL_OK)
		rc = bl_report_tb_print(&t, out, "  ");
	else
		bl_report_tb_print(&t, out, "  ");
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
				 "  base = rate among ALL samples of the gender, the cell included "
				 "(all samples when gender is '-'); lift = rate / base;\n"
				 "  rest = rate among the OTHER samples of the gender (the cell "
				 "excluded); RR = rate / rest (\"n times as often as the other "
				 "captions\");\n"
				 "  OR = odds in the cell / odds in the rest, n/a when a cell of its "
				 "2x2 table is empty; 95% intervals; 'small': too few samples or "
				 "events\n");
	t = (struct table){.ncol = 16, .left = 1u << 1 | 1u << 15};
	bl_report_tb_row(&t, "group", "gender", "n", "events", "rate", "95% CI", "base", "lift",
			 "95% CI", "rest", "RR", "95% CI", "OR", "95% CI", "attire", "",
			 (char *)NULL);
	for (size_t k = 0; k < r->nskew; k++) {
		const bl_stats_skew *s = &r->skew[k];
		snprintf(a, sizeof a, "%llu", (unsigned long long)s->rows);
		bl_report_num(b, sizeof b, s->events);
		bl_report_pct(c, sizeof c, s->rate);
		bl_report_ci_pct(d, sizeof d, s->rate_lo, s->rate_hi);
		bl_report_pct(e, sizeof e, s->base_rate);
		bl_report_fix(f, sizeof f, s->lift);
		bl_report_ci_fix(g, sizeof g, s->lift_lo, s->lift_hi);
		bl_report_pct(k_, sizeof k_, s->rest_rate);
		bl_report_fix(l_, sizeof l_, s->rate_ratio);
		bl_report_ci_fix(m_, sizeof m_, s->rr_lo, s->rr_hi);
		if (s->or_note)
			snprintf(h, sizeof h, "n/a (%s)", s->or_note);
		else
			bl_report_fix(h, sizeof h, s->odds_ratio);
		bl_report_ci_fix(i_, sizeof i_, s->or_lo, s->or_hi);
		bl_report_pct(j, sizeof j, s->rate2);
		bl_report_tb_row(&t, s->group, s->gender ? s->gender : "-", a, b, c, d, e, f, g, k_,
				 l_, m_, h, i_, j, s->small ? "small" : "", (char *)NULL);
	}
	if (rc == BL_OK)
		rc = bl_report_tb_print(&t, out, "  ");
	else
		bl_report_tb_print(&t, out, "  ");
	if (rc == BL_OK && r->opt->audit)
		rc = text_audit(r, out);
	if (rc == BL_OK && r->given) {
		bl_stats_totals tot;
		bl_stats_totals_get(r->given, &tot);
		rc = bl_buf_adds(out, "\nrates given");
		for (size_t k = 0; k < r->given_labels.n && rc == BL_OK; k++) {
			rc = bl_buf_adds(out, k ? " & " : " ");
			if (rc == BL_OK)
				rc = bl_report_text_escape(out, r->given_labels.items[k]);
		}
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
		rc = bl_buf_adds(out, "\nlabels among samples with ");
		if (rc == BL_OK)
			rc = bl_report_text_escape(out, bl_stats_node_name(r->all, n));
		if (rc == BL_OK)
			rc = bl_buf_addf(out, " (%llu samples)\n", (unsigned long long)k.rows);
		if (rc == BL_OK)
			rc = text_counts(r, r->all, n, out, 0);
	}
	return rc;
}

/* ---- CSV ----------------------------------------------------------------- */

int bl_report_csv_escape(bl_buf *out, const char *s)
{
	int rc, formula = s && *s && strchr("=+-@\t\r", *s);
	if (!out)
		return BL_EUSAGE;
	if (!s || (!formula && !strpbrk(s, ",\"\n\r")))
		return bl_buf_adds(out, s ? s : "");
	rc = bl_buf_addch(out, '"');
	if (rc == BL_OK && formula)
		rc = bl_buf_addch(out, '\'');
	for (; *s && rc == BL_OK; s++)
		rc = *s == '"' ? bl_buf_adds(out, "\"\"") : bl_buf_addch(out, *s);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '"');
	return rc;
}

int bl_report_csv_field(bl_buf *out, const char *s)
{
	return bl_report_csv_escape(out, s);
}

/* The numeric columns of a CSV row; NAN prints as an empty field. */
struct csv_nums {
	double v[17]; /* rows n count share lo hi base lift lift_lo lift_hi
		       * odds_ratio or_lo or_hi | rest rate_ratio rr_lo rr_hi */
	const char *note;
};
enum { C_ROWS, C_N, C_COUNT, C_SHARE, C_LO, C_HI, C_BASE, C_LIFT, C_LIFT_LO,
       C_LIFT_HI, C_OR, C_OR_LO, C_OR_HI, C_REST, C_RR, C_RR_LO, C_RR_HI, C_NCOL };

static struct csv_nums csv_blank(void)
{
	struct csv_nums c;
	for (int i = 0; i < C_NCOL; i++)
		c.v[i] = NAN;
	c.note = NULL;
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
			rc = bl_report_csv_field(out, f[k]);
	}
	for (int k = 0; k <= C_OR_HI && rc == BL_OK; k++) {
		bl_report_num(b, sizeof b, c->v[k]);
		rc = bl_buf_addf(out, ",%s", b);
	}
	if (rc == BL_OK)
		rc = bl_buf_addf(out, ",%s", small < 0 ? "" : small ? "1" : "0");
	for (int k = C_REST; k < C_NCOL && rc == BL_OK; k++) {
		bl_report_num(b, sizeof b, c->v[k]);
		rc = bl_buf_addf(out, ",%s", b);
	}
	if (rc == BL_OK)
		rc = bl_buf_addch(out, ',');
	if (rc == BL_OK)
		rc = bl_report_csv_field(out, c->note);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '\n');
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
	c.v[C_N] = k->w;
	c.v[C_COUNT] = (double)k->rows;
	c.v[C_SHARE] = k->share;
	c.v[C_LO] = k->lo;
	c.v[C_HI] = k->hi;
	return csv_row(out, table, NULL, name, given, &c, -1);
}

/* A corrected number as a CSV row: share, lo, hi and the status. */
static int csv_fix(bl_buf *out, const char *table, const char *name, const char *gender,
		   const bl_audit_fix *f, double count)
{
	struct csv_nums c = csv_blank();
	c.v[C_COUNT] = count;
	c.v[C_SHARE] = f->est;
	c.v[C_LO] = f->lo;
	c.v[C_HI] = f->hi;
	c.note = bl_audit_status_name(f->status);
	return csv_row(out, table, NULL, name, gender, &c, -1);
}

static int csv_audit(const struct bl_report *r, bl_buf *out)
{
	const bl_audit *a = r->opt->audit;
	int rc = BL_OK;

	for (size_t i = 0; i < bl_audit_nnodes(a) && rc == BL_OK; i++) {
		const bl_audit_est *e = bl_audit_node(a, i);
		bl_audit_fix v[4] = {
			{e->precision, e->precision_lo, e->precision_hi, BL_FIX_OK},
			{e->npv, e->npv_lo, e->npv_hi, BL_FIX_OK},
			{e->sensitivity, e->se_lo, e->se_hi, e->status},
			{e->specificity, e->sp_lo, e->sp_hi, e->status},
		};
		static const char *const tab[4] = {"audit_precision", "audit_npv",
						   "audit_sensitivity", "audit_specificity"};
		for (int k = 0; k < 4 && rc == BL_OK; k++)
			rc = csv_fix(out, tab[k], e->node, NULL, &v[k],
				     (double)(k == 0 ? e->judged_tagged
					      : k == 1 ? e->judged_untagged
						       : e->judged_tagged + e->judged_untagged));
	}
	for (int n = 0; n < bl_stats_nnodes(r->all) && rc == BL_OK; n++) {
		if (r->nfix[n].status == BL_FIX_NONE)
			continue;
		rc = csv_fix(out, bl_stats_node_is_family(r->all, n) ? "family_corrected"
								     : "label_corrected",
			     bl_stats_node_name(r->all, n), NULL, &r->nfix[n], NAN);
	}
	for (size_t i = 0; r->audit_outcome >= 0 && i < r->nskew && rc == BL_OK; i++) {
		const bl_stats_skew *s = &r->skew[i];
		const struct bl_report_fix *f = &r->fix[i];
		struct csv_nums c = csv_blank();
		int st = f->rate.status > f->rr.status ? f->rate.status : f->rr.status;
		c.v[C_ROWS] = (double)s->rows;
		c.v[C_N] = s->n;
		c.v[C_SHARE] = f->rate.est;
		c.v[C_LO] = f->rate.lo;
		c.v[C_HI] = f->rate.hi;
		c.v[C_BASE] = f->base.est;
		c.v[C_LIFT] = f->lift.est;
		c.v[C_LIFT_LO] = f->lift.lo;
		c.v[C_LIFT_HI] = f->lift.hi;
		c.v[C_REST] = f->rest.est;
		c.v[C_RR] = f->rr.est;
		c.v[C_RR_LO] = f->rr.lo;
		c.v[C_RR_HI] = f->rr.hi;
		c.note = bl_audit_status_name(st);
		rc = csv_row(out, "skew_corrected", NULL, s->group, s->gender, &c, s->small);
	}
	return rc;
}

static int render_csv(const struct bl_report *r, bl_buf *out)
{
	bl_stats_count k;
	int rc;

	rc = bl_buf_adds(out, "table,shard,name,gender,rows,n,count,share,lo,hi,base,lift,"
			      "lift_lo,lift_hi,odds_ratio,or_lo,or_hi,small,rest,rate_ratio,"
			      "rr_lo,rr_hi,note\n");
	for (size_t i = 0; i < r->notes.n && rc == BL_OK; i++) {
		struct csv_nums c = csv_blank();
		c.note = r->notes.items[i];
		rc = csv_row(out, "note", NULL, NULL, NULL, &c, -1);
	}
	if (rc == BL_OK)
		rc = csv_count(out, "total", NULL, "shards", (double)r->nshards);
	if (rc == BL_OK)
		rc = csv_count(out, "total", NULL, "samples", (double)r->samples);
	if (rc == BL_OK && r->weighted)
		rc = csv_count(out, "total", NULL, "weight_sum", r->weight_sum);
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
				c.v[C_REST] = s->rest_rate;
				c.v[C_RR] = s->rate_ratio;
				c.v[C_RR_LO] = s->rr_lo;
				c.v[C_RR_HI] = s->rr_hi;
				c.note = s->or_note ? s->or_note : NULL;
			}
			rc = csv_row(out, pass ? "skew_attire" : "skew", NULL, s->group,
				     s->gender, &c, pass ? -1 : s->small);
		}
	if (rc == BL_OK && r->unread_node >= 0) {
		bl_stats_node(r->all, r->unread_node, &k);
		rc = csv_share(out, "unread", NULL, &k, "caption");
		for (int id = 0; id < r->nl && rc == BL_OK; id++) {
			if (!bl_label_in_family(bl_stats_label_name(r->all, id), "caption"))
				continue;
			bl_stats_label(r->all, id, &k);
			rc = csv_share(out, "unread", NULL, &k, bl_stats_label_name(r->all, id));
		}
	}
	if (rc == BL_OK && r->opt->audit)
		rc = csv_audit(r, out);
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

cJSON *bl_report_jnum(cJSON *obj, const char *key, double x)
{
	return cJSON_AddNumberToObject(obj, key, bl_report_round6(x));
}

cJSON *bl_report_jcount(const bl_stats_count *k)
{
	cJSON *o = cJSON_CreateObject();
	if (o) {
		bl_report_jnum(o, "count", (double)k->rows);
		bl_report_jnum(o, "share", k->share);
		bl_report_jnum(o, "lo", k->lo);
		bl_report_jnum(o, "hi", k->hi);
	}
	return o;
}

/* One row of a skew table (as in the report's "skew" array). */
cJSON *bl_report_jskew(const bl_stats_skew *s)
{
	cJSON *c = cJSON_CreateObject();

	if (!c)
		return NULL;
	cJSON_AddStringToObject(c, "group", s->group);
	if (s->gender)
		cJSON_AddStringToObject(c, "gender", s->gender);
	else
		cJSON_AddNullToObject(c, "gender");
	bl_report_jnum(c, "n", s->n);
	bl_report_jnum(c, "events", s->events);
	bl_report_jnum(c, "rate", s->rate);
	bl_report_jnum(c, "rate_lo", s->rate_lo);
	bl_report_jnum(c, "rate_hi", s->rate_hi);
	bl_report_jnum(c, "base_rate", s->base_rate);
	bl_report_jnum(c, "lift", s->lift);
	bl_report_jnum(c, "lift_lo", s->lift_lo);
	bl_report_jnum(c, "lift_hi", s->lift_hi);
	bl_report_jnum(c, "odds_ratio", s->odds_ratio);
	bl_report_jnum(c, "or_lo", s->or_lo);
	bl_report_jnum(c, "or_hi", s->or_hi);
	bl_report_jnum(c, "attire_events", s->events2);
	bl_report_jnum(c, "attire_rate", s->rate2);
	bl_report_jnum(c, "attire_lo", s->rate2_lo);
	bl_report_jnum(c, "attire_hi", s->rate2_hi);
	bl_report_jnum(c, "attire_lift", s->lift2);
	cJSON_AddBoolToObject(c, "small", s->small);
	bl_report_jnum(c, "rest_rate", s->rest_rate);
	bl_report_jnum(c, "rate_ratio", s->rate_ratio);
	bl_report_jnum(c, "rr_lo", s->rr_lo);
	bl_report_jnum(c, "rr_hi", s->rr_hi);
	if (s->or_note)
		cJSON_AddStringToObject(c, "or_note", s->or_note);
	else
		cJSON_AddNullToObject(c, "or_note");
	return c;
}

static cJSON *jfix(cJSON *obj, const char *key, const bl_audit_fix *f)
{
	cJSON *o = cJSON_AddObjectToObject(obj, key);
	if (o) {
		bl_report_jnum(o, "value", f->est);
		bl_report_jnum(o, "lo", f->lo);
		bl_report_jnum(o, "hi", f->hi);
		cJSON_AddStringToObject(o, "status", bl_audit_status_name(f->status));
	}
	return o;
}

/* "audit": what the sheet says, and the corrected shares and skew rows. */
static void json_audit(const struct bl_report *r, cJSON *root, cJSON *skew)
{
	const bl_audit *a = r->opt->audit;
	cJSON *o = cJSON_AddObjectToObject(root, "audit"), *nodes, *shares;
	uint64_t rows, judged;

	if (!o)
		return;
	bl_audit_totals(a, &rows, &judged, NULL);
	cJSON_AddStringToObject(o, "sheet", bl_audit_path(a));
	bl_report_jnum(o, "rows", (double)rows);
	bl_report_jnum(o, "judged", (double)judged);
	cJSON_AddStringToObject(o, "outcome", BL_REPORT_OUTCOME);
	cJSON_AddBoolToObject(o, "skew_corrected", r->audit_outcome >= 0);
	nodes = cJSON_AddObjectToObject(o, "nodes");
	for (size_t i = 0; nodes && i < bl_audit_nnodes(a); i++) {
		const bl_audit_est *e = bl_audit_node(a, i);
		cJSON *n = cJSON_AddObjectToObject(nodes, e->node);
		bl_audit_fix v;
		if (!n)
			continue;
		bl_report_jnum(n, "tagged", e->size_tagged);
		bl_report_jnum(n, "untagged", e->size_untagged);
		bl_report_jnum(n, "judged_tagged", (double)e->judged_tagged);
		bl_report_jnum(n, "judged_untagged", (double)e->judged_untagged);
		v = (bl_audit_fix){e->precision, e->precision_lo, e->precision_hi, BL_FIX_OK};
		jfix(n, "precision", &v);
		v = (bl_audit_fix){e->npv, e->npv_lo, e->npv_hi, BL_FIX_OK};
		jfix(n, "npv", &v);
		v = (bl_audit_fix){e->sensitivity, e->se_lo, e->se_hi, e->status};
		jfix(n, "sensitivity", &v);
		v = (bl_audit_fix){e->specificity, e->sp_lo, e->sp_hi, e->status};
		jfix(n, "specificity", &v);
	}
	shares = cJSON_AddObjectToObject(o, "shares");
	for (int n = 0; shares && n < bl_stats_nnodes(r->all); n++)
		if (r->nfix[n].status != BL_FIX_NONE)
			jfix(shares, bl_stats_node_name(r->all, n), &r->nfix[n]);
	for (size_t i = 0; r->audit_outcome >= 0 && i < r->nskew; i++) {
		cJSON *row = cJSON_GetArrayItem(skew, (int)i), *c;
		const struct bl_report_fix *f = &r->fix[i];
		if (!row)
			continue;
		c = cJSON_AddObjectToObject(row, "corrected");
		if (!c)
			continue;
		jfix(c, "rate", &f->rate);
		jfix(c, "rest_rate", &f->rest);
		jfix(c, "base_rate", &f->base);
		jfix(c, "rate_ratio", &f->rr);
		jfix(c, "lift", &f->lift);
	}
}

static cJSON *json_report(const struct bl_report *r)
{
	cJSON *root = cJSON_CreateObject(), *o, *a;
	bl_stats_count k;

	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "report", "ballast");
	bl_report_jnum(root, "schema", 1);
	cJSON_AddStringToObject(root, "index", r->path);
	bl_report_jnum(root, "samples", (double)r->samples);
	bl_report_jnum(root, "shards", (double)r->nshards);
	bl_report_jnum(root, "shards_complete", (double)r->shards_complete);
	bl_report_jnum(root, "samples_with_errors", (double)r->samples_with_errors);
	cJSON_AddBoolToObject(root, "weighted", r->weighted);
	bl_report_jnum(root, "weight_sum", r->weight_sum);
	a = cJSON_AddArrayToObject(root, "notes");
	for (size_t i = 0; a && i < r->notes.n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->notes.items[i]));
	o = cJSON_AddObjectToObject(root, "errors");
	for (size_t i = 0; o && i < r->nerrors; i++)
		bl_report_jnum(o, r->errors[i].kind, (double)r->errors[i].count);
	bl_report_jnum(root, "blocked", (double)r->blocked);
	o = cJSON_AddObjectToObject(root, "labels");
	for (int id = 0; o && id < r->nl; id++) {
		bl_stats_label(r->all, id, &k);
		bl_report_jnum(o, bl_stats_label_name(r->all, id), (double)k.rows);
	}
	o = cJSON_AddObjectToObject(root, "families");
	for (int n = 0; o && n < bl_stats_nnodes(r->all); n++) {
		if (!bl_stats_node_is_family(r->all, n))
			continue;
		bl_stats_node(r->all, n, &k);
		bl_report_jnum(o, bl_stats_node_name(r->all, n), (double)k.rows);
	}
	o = cJSON_AddObjectToObject(root, "shares");
	for (int n = 0; o && n < bl_stats_nnodes(r->all); n++) {
		bl_stats_node(r->all, n, &k);
		cJSON_AddItemToObject(o, bl_stats_node_name(r->all, n), bl_report_jcount(&k));
	}
	a = cJSON_AddArrayToObject(root, "skew");
	for (size_t i = 0; a && i < r->nskew; i++)
		cJSON_AddItemToArray(a, bl_report_jskew(&r->skew[i]));
	if (r->unread_node >= 0) {
		cJSON *u = cJSON_AddObjectToObject(root, "unread"), *l;
		bl_stats_node(r->all, r->unread_node, &k);
		if (u) {
			bl_report_jnum(u, "count", (double)k.rows);
			bl_report_jnum(u, "share", k.share);
		}
		l = u ? cJSON_AddObjectToObject(u, "labels") : NULL;
		for (int id = 0; l && id < r->nl; id++) {
			const char *name = bl_stats_label_name(r->all, id);
			if (!bl_label_in_family(name, "caption"))
				continue;
			bl_stats_label(r->all, id, &k);
			cJSON_AddItemToObject(l, name, bl_report_jcount(&k));
		}
	}
	if (a && r->opt->audit)
		json_audit(r, root, a);
	if (r->given) {
		bl_stats_totals tot;
		cJSON *g = cJSON_AddObjectToObject(root, "given"), *l, *rt;
		bl_stats_totals_get(r->given, &tot);
		l = g ? cJSON_AddArrayToObject(g, "labels") : NULL;
		for (size_t i = 0; l && i < r->given_labels.n; i++)
			cJSON_AddItemToArray(l, cJSON_CreateString(r->given_labels.items[i]));
		if (g)
			bl_report_jnum(g, "samples", (double)tot.rows);
		rt = g ? cJSON_AddObjectToObject(g, "rates") : NULL;
		for (int id = 0; rt && id < r->nl; id++) {
			bl_stats_label(r->given, id, &k);
			cJSON_AddItemToObject(rt, bl_stats_label_name(r->all, id), bl_report_jcount(&k));
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
				bl_report_jnum(row, "samples", (double)k.rows);
			rt = row ? cJSON_AddObjectToObject(row, "rates") : NULL;
			for (int id = 0; rt && id < r->nl; id++) {
				bl_stats_cond(r->all, n, id, &k);
				cJSON_AddItemToObject(rt, bl_stats_label_name(r->all, id),
						      bl_report_jcount(&k));
			}
		}
	}
	a = cJSON_AddArrayToObject(root, "per_shard");
	for (size_t i = 0; a && i < r->nshards; i++) {
		const struct bl_report_shard *sh = &r->shards[i];
		cJSON *c = cJSON_CreateObject(), *l;
		if (!c)
			break;
		bl_report_jnum(c, "id", (double)sh->id);
		cJSON_AddStringToObject(c, "path", sh->path);
		cJSON_AddBoolToObject(c, "complete", sh->complete);
		bl_report_jnum(c, "samples", (double)sh->samples);
		bl_report_jnum(c, "errors", (double)sh->errors);
		bl_report_jnum(c, "blocked", (double)sh->blocked);
		l = cJSON_AddObjectToObject(c, "labels");
		for (int id = 0; l && id < r->nl; id++)
			if (sh->labels[id])
				bl_report_jnum(l, bl_stats_label_name(r->all, id), (double)sh->labels[id]);
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
	rc = bl_report_gather(&r, ix, opt, err, errlen);
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
	bl_report_release(&r);
	return rc;
}

/* Write a rendered report to the caller's stream. */
int bl_report_write_stream(const bl_buf *b, FILE *f, char *err, size_t errlen)
{
	int rc = BL_OK;

	if (b->len && fwrite(b->buf, 1, b->len, f) != b->len) {
		if (err && errlen)
			snprintf(err, errlen, "write error: %s", strerror(errno));
		rc = BL_FAILED;
	}
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
		rc = bl_report_write_stream(&b, f, err, errlen);
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
		rc = bl_file_write_atomic(path, b.buf, b.len, err, errlen);
	bl_buf_release(&b);
	return rc;
}
