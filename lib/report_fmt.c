/*
 * report_fmt.c - the report toolkit: what every rendering of every report
 * (the index's, a manifest's before and after, in text, CSV, JSON and
 * HTML) and the audit sheet use to write numbers and strings: the
 * escapers for each sink (public, ballast.h), the number formats, the
 * notes a report leads with, aligned text tables, cJSON numbers at six
 * significant digits, and the stream writer.
 *
 * It sits beneath the reports and knows none of them: it includes
 * report_fmt_int.h only, and calls nothing of report*.c or audit.c (the
 * include/call graph of lib/ has no cycle: tests/cli/layers.sh).  Every
 * function is a pure function of its arguments; nothing is printed.
 */
#include "error_int.h"
#include "alloc_int.h"
#include "report_fmt_int.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- escaping for each sink --------------------------------------------- */

enum { ESC_TSV = 1, ESC_WS = 2 };

static int escape_text(bl_buf *out, const char *s, unsigned flags);

int bl_report_html_escape(bl_buf *out, const char *str)
{
	bl_buf e;
	const char *s, *run;
	int rc;

	if (!out)
		return BL_EUSAGE;
	/* control bytes (but TAB, LF, CR) and bytes that are not UTF-8 as in
	 * the text report: shown, not passed on, and the page stays UTF-8 */
	bl_buf_init(&e, 0);
	rc = escape_text(&e, str, ESC_WS);
	for (s = run = e.buf; *s && rc == BL_OK; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		rc = bl_buf_add(out, run, (size_t)(s - run));
		if (rc == BL_OK)
			rc = bl_buf_adds(out, rep);
		run = s + 1;
	}
	if (rc == BL_OK)
		rc = bl_buf_add(out, run, (size_t)(s - run));
	bl_buf_release(&e);
	return rc;
}

/* The text escape: every control byte, C1 control and byte that is not
 * UTF-8 as \xNN.  ESC_TSV: TAB, LF and CR as \t \n \r and a backslash
 * as \\ instead, so that a field can be unescaped exactly; ESC_WS: TAB,
 * LF and CR kept (HTML shows them as white space). */
static int escape_text(bl_buf *out, const char *s, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s, *run = p;
	int rc = BL_OK;

	if (!out)
		return BL_EUSAGE;
	while (p && *p && rc == BL_OK) {
		size_t n = 0, bad = 0;
		const char *name = NULL;
		if (flags & ESC_TSV)
			name = *p == '\t' ? "\\t" : *p == '\n' ? "\\n" : *p == '\r' ? "\\r"
			     : *p == '\\' ? "\\\\" : NULL;
		if (name) {
			rc = bl_buf_add(out, run, (size_t)(p - run));
			if (rc == BL_OK)
				rc = bl_buf_adds(out, name);
			run = ++p;
			continue;
		}
		if ((*p >= 0x20 && *p < 0x7f) ||
		    ((flags & ESC_WS) && (*p == '\t' || *p == '\n' || *p == '\r'))) {
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

int bl_report_text_escape(bl_buf *out, const char *s)
{
	return escape_text(out, s, 0);
}

int bl_report_tsv_escape(bl_buf *out, const char *s)
{
	int rc = BL_OK;

	if (!out)
		return BL_EUSAGE;
	if (s && *s && strchr("=+-@", *s))
		rc = bl_buf_addch(out, '\'');
	return rc == BL_OK ? escape_text(out, s, ESC_TSV) : rc;
}

int bl_report_text_lines(bl_buf *out, const char *prefix, const bl_strlist *l)
{
	int rc = BL_OK;

	for (size_t k = 0; k < l->n && rc == BL_OK; k++) {
		rc = bl_buf_adds(out, prefix);
		if (rc == BL_OK)
			rc = bl_report_text_escape(out, l->items[k]);
		if (rc == BL_OK)
			rc = bl_buf_addch(out, '\n');
	}
	return rc;
}

int bl_report_html_lines(bl_buf *out, const char *prefix, const bl_strlist *l)
{
	int rc = BL_OK;

	for (size_t k = 0; k < l->n && rc == BL_OK; k++) {
		rc = bl_buf_adds(out, "<p class=\"warnnote\">");
		if (rc == BL_OK && *prefix)
			rc = bl_buf_addf(out, "<strong>%s</strong> ", prefix);
		if (rc == BL_OK)
			rc = bl_report_html_escape(out, l->items[k]);
		if (rc == BL_OK)
			rc = bl_buf_adds(out, "</p>\n");
	}
	return rc;
}

int bl_report_csv_escape(bl_buf *out, const char *str)
{
	bl_buf e;
	const char *s;
	int rc, formula;

	if (!out)
		return BL_EUSAGE;
	/* control bytes and bytes that are not UTF-8 as in the text report:
	 * none reaches a terminal or a spreadsheet raw */
	bl_buf_init(&e, 0);
	rc = escape_text(&e, str, 0);
	s = e.buf;
	formula = *s && strchr("=+-@", *s);
	if (rc != BL_OK || (!formula && !strpbrk(s, ",\""))) {
		if (rc == BL_OK)
			rc = bl_buf_add(out, e.buf, e.len);
		goto out;
	}
	rc = bl_buf_addch(out, '"');
	if (rc == BL_OK && formula)
		rc = bl_buf_addch(out, '\'');
	for (; *s && rc == BL_OK; s++)
		rc = *s == '"' ? bl_buf_adds(out, "\"\"") : bl_buf_addch(out, *s);
	if (rc == BL_OK)
		rc = bl_buf_addch(out, '"');
out:
	bl_buf_release(&e);
	return rc;
}

/* ---- numbers ------------------------------------------------------------ */

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

/* ---- words -------------------------------------------------------------- */

int bl_report_notef(bl_strlist *notes, const char *fmt, ...)
{
	char b[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	return bl_strlist_add(notes, b);
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

/* ---- text tables -------------------------------------------------------- */

void bl_report_tb_row(struct bl_report_table *t, ...)
{
	va_list ap;
	size_t need;
	if (t->failed)
		return;
	if (bl_alloc_mult(t->nrow + 1, t->ncol, &need) != BL_OK ||
	    BL_ALLOC_GROW(t->cells, need, t->alloc) != BL_OK) {
		t->failed = 1;
		return;
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

int bl_report_tb_print(struct bl_report_table *t, bl_buf *out, const char *indent)
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

/* ---- JSON --------------------------------------------------------------- */

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
