/*
 * report_fmt_int.h - the report toolkit (lib/report_fmt.c): number
 * formats, notes, aligned text tables, JSON numbers and the stream writer
 * that every rendering of a report uses.  The escapers for each sink are
 * public (ballast.h: bl_report_text_escape, bl_report_csv_escape,
 * bl_report_html_escape).  This header knows no report: report_int.h
 * builds on it, never the other way.  Not part of the public interface.
 */
#ifndef BL_REPORT_FMT_INT_H
#define BL_REPORT_FMT_INT_H

#include "ballast.h"

#include <cJSON.h>
#include <stdio.h>

/* ---- strings ---- */

/* Append s to out as one TSV field (the audit sheet): TAB, LF, CR and a
 * backslash as \t \n \r \\, every other control byte, C1 control and
 * byte that is not valid UTF-8 as \xNN (as bl_report_text_escape), so a
 * field can be unescaped exactly; a leading = + - @ (a formula to a
 * spreadsheet) gets an apostrophe.  NULL: nothing.  Returns as
 * bl_buf_add. */
int bl_report_tsv_escape(bl_buf *out, const char *s);

/* The lines of l, each as PREFIX, the line escaped, a newline (text:
 * "WARNING: ", "NOTE: "), or each as <p class="warnnote">, <strong>PREFIX
 * </strong> when prefix is not empty, the line escaped, </p> (HTML): the
 * warnings at the top of every report, of an index or of a manifest.
 * Returns as bl_buf_add. */
int bl_report_text_lines(bl_buf *out, const char *prefix, const bl_strlist *l);
int bl_report_html_lines(bl_buf *out, const char *prefix, const bl_strlist *l);

/* ---- numbers: into the caller's buffer b of n bytes ---- */

/* "%.6g", or "" for NAN / infinities (CSV). */
void bl_report_num(char *out, size_t len, double x);
/* x rounded to 6 significant digits, as JSON prints it (NAN stays). */
double bl_report_round6(double x);
/* "12.34%" / "[1.23, 4.56]%" / "1.23" / "[1.23, 4.56]"; "-" when a
 * number is NAN or infinite (text). */
void bl_report_pct(char *b, size_t n, double x);
void bl_report_ci_pct(char *b, size_t n, double lo, double hi);
void bl_report_fix(char *b, size_t n, double x);
void bl_report_ci_fix(char *b, size_t n, double lo, double hi);

/* ---- words ---- */

/* Append a formatted note (at most 1023 bytes) to notes: BL_OK/BL_ENOMEM. */
int bl_report_notef(bl_strlist *notes, const char *fmt, ...)
	__attribute__((format(__printf__, 2, 3)));
/* What a caption.* label says a caption is, for headlines: "in languages
 * the filters do not cover"; the generic "labelled caption.x" otherwise.
 * Writes into b. */
const char *bl_report_unread_phrase(const char *label, char *b, size_t n);

/* ---- text tables ---- */

/* A text table with aligned columns: column 0 left-aligned, the others
 * right-aligned unless their bit is set in left.  Zero it, set ncol (at
 * most 32 are aligned) and left, add rows, print. */
struct bl_report_table {
	size_t ncol, nrow, alloc;
	char **cells;
	unsigned left; /* bit c: column c left-aligned */
	int failed;
};

/* Add a row of ncol strings (NULL: ""), then (char *)NULL.  Each cell is
 * escaped for a terminal (bl_report_text_escape).  Out of memory is kept
 * in t->failed and reported by bl_report_tb_print. */
void bl_report_tb_row(struct bl_report_table *t, ...) __attribute__((sentinel));
/* Append the rows to out, each line starting with indent, trailing blanks
 * trimmed, and release the table (always).  BL_OK, BL_ENOMEM, or as
 * bl_buf_add. */
int bl_report_tb_print(struct bl_report_table *t, bl_buf *out, const char *indent);

/* ---- JSON (cJSON; an item is left out when out of memory) ---- */

/* Add number x to obj under key, rounded by bl_report_round6. */
cJSON *bl_report_jnum(cJSON *obj, const char *key, double x);
/* {"count", "share", "lo", "hi"} of a count. */
cJSON *bl_report_jcount(const bl_stats_count *k);
/* One row of a skew table (as in the report's "skew" array). */
cJSON *bl_report_jskew(const bl_stats_skew *s);

/* ---- output ---- */

/* Write a rendered report to the caller's stream: BL_OK, or BL_FAILED
 * with "write error: ..." in err. */

#endif
