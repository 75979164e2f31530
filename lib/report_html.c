/*
 * report_html.c - the HTML rendering of a gathered report: one
 * self-contained page (inline CSS and SVG; no scripts, fonts, images or
 * links to fetch) that a person can open from a cluster's scratch disk or
 * attach to a data card.
 *
 * It shows the headline numbers, the skew table as a lift chart (log
 * scale, a reference line at 1, 95% whiskers, small cells hollow) and as
 * numbers, the label and family shares as a bar chart with Wilson
 * whiskers, the optional --given and --by tables, and per-shard counts;
 * and the before/after page of a manifest (bl_report_html_manifest).
 * Both pages render what report_gather.c gathered and use the toolkit of
 * report_fmt.c; nothing here calls report.c or report_manifest.c, whose
 * entry points call this file for HTML.  Every string that comes from
 * the index (paths, label names, error kinds) goes through
 * bl_report_html_escape.  The page carries no time stamp, so the same
 * index gives the same bytes.
 */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_SHARD_ROWS 200

/* An escaped string; the buffer's error is kept in *rc. */
static void esc(bl_buf *o, int *rc, const char *s)
{
	if (*rc == BL_OK)
		*rc = bl_report_html_escape(o, s ? s : "");
}

static void put(bl_buf *o, int *rc, const char *s)
{
	if (*rc == BL_OK)
		*rc = bl_buf_adds(o, s);
}

#define PUTF(o, rc, ...)                                                        \
	do {                                                                    \
		if (*(rc) == BL_OK)                                             \
			*(rc) = bl_buf_addf((o), __VA_ARGS__);                  \
	} while (0)

static const char css[] =
	"*{box-sizing:border-box}"
	"body{margin:0;background:#f5f6f8;color:#1d2430;"
	"font:15px/1.45 -apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}"
	"main{max-width:1120px;margin:0 auto;padding:28px 28px 60px}"
	"h1{font-size:26px;margin:0 0 4px}"
	"h2{font-size:19px;margin:36px 0 6px;padding-top:8px;border-top:1px solid #dde1e7}"
	"p.sub{color:#5b6576;margin:0 0 18px;word-break:break-all}"
	"p.note{color:#5b6576;margin:4px 0 12px;max-width:900px}"
	".cards{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}"
	".card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px 16px;"
	"min-width:160px}"
	".card .v{font-size:26px;font-weight:600;font-variant-numeric:tabular-nums}"
	".card .k{color:#5b6576;font-size:13px}"
	".card.warn .v{color:#b0302a}"
	".finding{background:#fff4f2;border:1px solid #f0c4bd;border-left:5px solid #c0392b;"
	"border-radius:6px;padding:12px 16px;margin:14px 0;max-width:900px}"
	".chart{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:8px;"
	"overflow-x:auto}"
	"svg text{font-family:inherit}"
	"table{border-collapse:collapse;background:#fff;font-size:13px;margin:8px 0;"
	"font-variant-numeric:tabular-nums}"
	"th,td{padding:4px 9px;border-bottom:1px solid #e6e9ee;text-align:right;"
	"white-space:nowrap}"
	"th{background:#eef1f5;font-weight:600;position:sticky;top:0}"
	"td.l,th.l{text-align:left}"
	"tr.small td{color:#8a93a3}"
	"tr.hi td.lift{color:#b0302a;font-weight:600}"
	"tr.lo td.lift{color:#2e6da4;font-weight:600}"
	".wrap{overflow-x:auto}"
	"footer{margin-top:40px;color:#5b6576;font-size:13px;max-width:900px}"
	"p.warnnote{color:#b0302a;font-weight:600;margin:6px 0;max-width:900px}"
	".good{background:#f1f8f4;border:1px solid #bfe0cc;border-left:5px solid #1e7d4f;"
	"border-radius:6px;padding:12px 16px;margin:14px 0;max-width:900px}";

/* Number formats of the page; undefined numbers print as an en dash. */
enum { F_FIX2, F_PCT2, F_PCT2_BARE, F_PCT1, F_G6 };

static void fmtnum(char *b, size_t n, int kind, double x)
{
	if (!isfinite(x)) {
		snprintf(b, n, "&#8211;");
		return;
	}
	switch (kind) {
	case F_PCT2: snprintf(b, n, "%.2f%%", 100 * x); break;
	case F_PCT2_BARE: snprintf(b, n, "%.2f", 100 * x); break;
	case F_PCT1: snprintf(b, n, "%.1f%%", 100 * x); break;
	case F_G6: snprintf(b, n, "%.6g", x); break;
	default: snprintf(b, n, "%.2f", x); break;
	}
}

static void card(bl_buf *o, int *rc, const char *label, unsigned long long v, int warn)
{
	PUTF(o, rc, "<div class=\"card%s\"><div class=\"v\">%llu</div><div class=\"k\">",
	     warn ? " warn" : "", v);
	esc(o, rc, label);
	put(o, rc, "</div></div>");
}

/* ---- text widths ------------------------------------------------------------ */

/*
 * Advance widths of printable ASCII (32..126) in DejaVu Sans Bold, in
 * thousandths of an em: the widest common sans-serif a page falls back
 * to, in bold, so that a label measured with it fits whatever font the
 * browser picks (Helvetica, Roboto, Segoe UI are narrower).  Any other
 * character counts a full em (CJK glyphs are one em wide).
 */
static const unsigned short ascii_width[95] = {
	348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365,
	696, 696, 696, 696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580,
	1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850,
	733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500,
	500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687,
	716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838,
};

double bl_report_text_width(const char *s, double px)
{
	double em = 0;

	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p >= 32 && *p < 127)
			em += ascii_width[*p - 32] / 1000.0;
		else if (*p < 0x80 || *p >= 0xc0)
			em += 1.0; /* a control byte, or the lead byte of a character */
	}
	return em * px;
}

/* The width of "group × gender (rows)", a cell's label on the charts. */
static double cell_label_width(const bl_stats_skew *s, double px)
{
	char n[32];
	double w = bl_report_text_width(s->group, px);
	if (s->gender)
		w += bl_report_text_width(" \xc3\x97 ", px) + bl_report_text_width(s->gender, px);
	snprintf(n, sizeof n, " (%llu)", (unsigned long long)s->rows);
	return w + bl_report_text_width(n, px);
}

/* ---- the lift chart ------------------------------------------------------ */

static double clampd(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/* The right-hand text of a lift chart row: "2.50 [1.20, 3.40] small". */
static void lift_note(char *b, size_t n, const bl_stats_skew *s)
{
	char a[32], c[32], d[32];
	fmtnum(a, sizeof a, F_FIX2, s->lift);
	fmtnum(c, sizeof c, F_FIX2, s->lift_lo);
	fmtnum(d, sizeof d, F_FIX2, s->lift_hi);
	snprintf(b, n, "%s [%s, %s]%s", a, c, d, s->small ? " small" : "");
}

static void lift_chart(const struct bl_report *r, bl_buf *o, int *rc)
{
	const double top = 34, rowh = 22;
	static const char axis[] = "lift (log scale): rate of sexual wording in the cell / rate "
				   "in its gender";
	double W = 1040, L = 330, R = 860, lmin = 0.5, lmax = 2, xl, xr, lw = 0, rw = 0;
	size_t n = 0;

	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *s = &r->skew[i];
		char note[160];
		if (!isfinite(s->lift) || s->lift <= 0)
			continue;
		n++;
		/* the labels decide the margins: nothing is drawn outside */
		lw = fmax(lw, cell_label_width(s, 13));
		lift_note(note, sizeof note, s);
		rw = fmax(rw, bl_report_text_width(note, 13));
		if (s->lift < lmin)
			lmin = s->lift;
		if (s->lift > lmax)
			lmax = s->lift;
		if (isfinite(s->lift_lo) && s->lift_lo > 0 && s->lift_lo < lmin)
			lmin = s->lift_lo;
		if (isfinite(s->lift_hi) && s->lift_hi > lmax)
			lmax = s->lift_hi;
	}
	if (n == 0) {
		put(o, rc, "<p class=\"note\">No group cell has a defined lift (no group "
			   "labels, or no outcome label anywhere).</p>");
		return;
	}
	L = fmax(L, ceil(lw) + 24);
	R = L + 530;
	W = fmax(W, fmax(R + 14 + ceil(rw) + 12, L + bl_report_text_width(axis, 12) + 12));
	/* whole powers of two, at most 1/16 .. 64 */
	xl = floor(log2(clampd(lmin, 1.0 / 16, 1)));
	xr = ceil(log2(clampd(lmax, 1, 64)));
	if (xr - xl < 2)
		xr = xl + 2;
#define X(v) (L + (R - L) * (log2(clampd((v), pow(2, xl), pow(2, xr))) - xl) / (xr - xl))
	PUTF(o, rc,
	     "<div class=\"chart\"><svg width=\"%.0f\" "
	     "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
	     "aria-label=\"lift of each group cell with 95%% intervals\">",
	     W, top + rowh * (double)n + 40, W, top + rowh * (double)n + 40);
	/* grid and axis */
	for (double e = xl; e <= xr; e++) {
		double x = L + (R - L) * (e - xl) / (xr - xl), v = pow(2, e);
		char lab[32];
		if (v >= 1)
			snprintf(lab, sizeof lab, "%g\xc3\x97", v);
		else
			snprintf(lab, sizeof lab, "1/%g", 1 / v);
		PUTF(o, rc,
		     "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"%s\" "
		     "stroke-width=\"%s\"%s/>"
		     "<text x=\"%.1f\" y=\"%.0f\" font-size=\"12\" fill=\"#5b6576\" "
		     "text-anchor=\"middle\">%s</text>",
		     x, top - 8, x, top + rowh * (double)n, e == 0 ? "#1d2430" : "#e1e5eb",
		     e == 0 ? "1.5" : "1", e == 0 ? " stroke-dasharray=\"5 3\"" : "", x,
		     top - 14, lab);
	}
	PUTF(o, rc, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#5b6576\">%s</text>",
	     L, top + rowh * (double)n + 28, axis);
	PUTF(o, rc,
	     "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#5b6576\" "
	     "text-anchor=\"end\">cell (n)</text>"
	     "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#5b6576\">lift [95%% CI]</text>",
	     L - 40, top - 14, R + 14, top - 14);
	n = 0;
	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *s = &r->skew[i];
		double y, lo, hi;
		const char *col;
		char a[32], b[32], c[32];
		if (!isfinite(s->lift) || s->lift <= 0)
			continue;
		y = top + rowh * (double)n + rowh / 2;
		lo = isfinite(s->lift_lo) && s->lift_lo > 0 ? s->lift_lo : pow(2, xl);
		hi = isfinite(s->lift_hi) ? s->lift_hi : pow(2, xr);
		col = s->small ? "#8a93a3"
		      : s->lift_lo > 1 ? "#c0392b"
		      : s->lift_hi < 1 ? "#2e6da4"
				       : "#56606f";
		if (n % 2 == 0)
			PUTF(o, rc,
			     "<rect x=\"0\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" "
			     "fill=\"#f7f8fa\"/>",
			     y - rowh / 2, W, rowh);
		PUTF(o, rc, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"end\" "
			    "fill=\"%s\">", L - 12, y + 4.5, s->small ? "#8a93a3" : "#1d2430");
		esc(o, rc, s->group);
		if (s->gender) {
			put(o, rc, " \xc3\x97 ");
			esc(o, rc, s->gender);
		}
		PUTF(o, rc, " (%llu)</text>", (unsigned long long)s->rows);
		PUTF(o, rc,
		     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
		     "stroke-width=\"2\"%s/>"
		     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
		     "stroke-width=\"2\"/>"
		     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
		     "stroke-width=\"2\"/>"
		     "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\" stroke=\"%s\" "
		     "stroke-width=\"2\"/>",
		     X(lo), y, X(hi), y, col, s->small ? " stroke-dasharray=\"3 2\"" : "", X(lo),
		     y - 5, X(lo), y + 5, col, X(hi), y - 5, X(hi), y + 5, col, X(s->lift), y,
		     s->small ? "#fff" : col, col);
		fmtnum(a, sizeof a, F_FIX2, s->lift);
		fmtnum(b, sizeof b, F_FIX2, s->lift_lo);
		fmtnum(c, sizeof c, F_FIX2, s->lift_hi);
		PUTF(o, rc,
		     "<text x=\"%.0f\" y=\"%.1f\" font-size=\"13\" fill=\"%s\">%s "
		     "<tspan fill=\"#8a93a3\">[%s, %s]%s</tspan></text>",
		     R + 14, y + 4.5, col, a, b, c, s->small ? " small" : "");
		n++;
	}
	put(o, rc, "</svg></div>");
#undef X
}

/* ---- tables -------------------------------------------------------------- */

static void skew_table(const struct bl_report *r, bl_buf *o, int *rc)
{
	put(o, rc,
	    "<div class=\"wrap\"><table><tr><th class=\"l\">group</th><th class=\"l\">gender</th>"
	    "<th>n</th><th>events</th><th>rate</th><th>95% CI</th>"
	    "<th title=\"all captions of the gender, the cell included\">base rate</th>"
	    "<th>lift (vs base)</th><th>95% CI</th>"
	    "<th title=\"the other captions of the gender, the cell excluded\">rest rate</th>"
	    "<th>rate ratio (vs rest)</th><th>95% CI</th>"
	    "<th>odds ratio (vs rest)</th><th>95% CI</th>"
	    "<th>attire rate</th><th>attire lift</th><th class=\"l\"></th></tr>");
	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *s = &r->skew[i];
		char v[16][48];
		const char *cls = s->small ? "small"
				  : s->lift_lo > 1 ? "hi"
				  : s->lift_hi < 1 ? "lo"
						   : "";
		fmtnum(v[0], 48, F_G6, s->events);
		fmtnum(v[1], 48, F_PCT2, s->rate);
		fmtnum(v[2], 48, F_PCT2_BARE, s->rate_lo);
		fmtnum(v[3], 48, F_PCT2, s->rate_hi);
		fmtnum(v[4], 48, F_PCT2, s->base_rate);
		fmtnum(v[5], 48, F_FIX2, s->lift);
		fmtnum(v[6], 48, F_FIX2, s->lift_lo);
		fmtnum(v[7], 48, F_FIX2, s->lift_hi);
		fmtnum(v[8], 48, F_PCT2, s->rest_rate);
		fmtnum(v[9], 48, F_FIX2, s->rate_ratio);
		fmtnum(v[10], 48, F_FIX2, s->rr_lo);
		fmtnum(v[11], 48, F_FIX2, s->rr_hi);
		if (s->or_note)
			snprintf(v[12], 48, "n/a (%s)", s->or_note);
		else
			fmtnum(v[12], 48, F_FIX2, s->odds_ratio);
		fmtnum(v[13], 48, F_FIX2, s->or_lo);
		fmtnum(v[14], 48, F_FIX2, s->or_hi);
		fmtnum(v[15], 48, F_PCT2, s->rate2);
		PUTF(o, rc, "<tr class=\"%s\"><td class=\"l\">", cls);
		esc(o, rc, s->group);
		put(o, rc, "</td><td class=\"l\">");
		esc(o, rc, s->gender ? s->gender : "all");
		PUTF(o, rc,
		     "</td><td>%llu</td><td>%s</td><td>%s</td><td>%s&#8211;%s</td><td>%s</td>"
		     "<td class=\"lift\">%s</td><td>%s&#8211;%s</td><td>%s</td><td>%s</td>"
		     "<td>%s&#8211;%s</td><td>%s</td><td>%s&#8211;%s</td><td>%s</td>",
		     (unsigned long long)s->rows, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
		     v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]);
		fmtnum(v[0], 48, F_FIX2, s->lift2);
		PUTF(o, rc, "<td>%s</td><td class=\"l\">%s</td></tr>", v[0],
		     s->small ? "small" : "");
	}
	put(o, rc, "</table></div>");
}

/* Rates of every label among some samples (given, or by node). */
static void rate_table(const struct bl_report *r, const bl_stats *st, int given_node,
		       bl_buf *o, int *rc)
{
	put(o, rc, "<div class=\"wrap\"><table><tr><th class=\"l\">label</th><th>count</th>"
		   "<th>share</th><th>95% CI</th></tr>");
	for (int id = 0; id < r->nl; id++) {
		bl_stats_count k;
		char a[40], b[40], c[40];
		if (given_node >= 0)
			bl_stats_cond(st, given_node, id, &k);
		else
			bl_stats_label(st, id, &k);
		if (!k.rows)
			continue;
		fmtnum(a, sizeof a, F_PCT2, k.share);
		fmtnum(b, sizeof b, F_PCT2_BARE, k.lo);
		fmtnum(c, sizeof c, F_PCT2, k.hi);
		put(o, rc, "<tr><td class=\"l\">");
		esc(o, rc, bl_stats_label_name(st, id));
		PUTF(o, rc, "</td><td>%llu</td><td>%s</td><td>%s&#8211;%s</td></tr>",
		     (unsigned long long)k.rows, a, b, c);
	}
	put(o, rc, "</table></div>");
}

/* ---- the share chart ----------------------------------------------------- */

static const char *family_colour(const char *name)
{
	static const struct {
		const char *fam, *col;
	} pal[] = {
		{"sexual", "#c0392b"}, {"attire", "#d35400"}, {"gender", "#8e44ad"},
		{"group", "#2e6da4"},  {"age", "#16a085"},    {"safety", "#7b241c"},
		{"stereotype", "#b9770e"}, {"skin", "#6e4b3a"},
	};
	for (size_t i = 0; i < sizeof pal / sizeof pal[0]; i++)
		if (bl_label_in_family(name, pal[i].fam))
			return pal[i].col;
	return "#56606f";
}

/*
 * Open a share chart: the <svg> of width W for a plot area from x = L to R
 * and y = top to top + height, and its 0..scale axis in five steps, scale
 * being smax rounded up to the next 10% (or 1% under 10%).  Returns scale.
 */
static double share_axis(bl_buf *o, int *rc, double smax, double W, double L, double R,
			 double top, double height, const char *aria)
{
	double scale = smax > 0.1 ? ceil(smax * 10) / 10 : ceil(smax * 100) / 100;

	PUTF(o, rc,
	     "<div class=\"chart\"><svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
	     "role=\"img\" aria-label=\"",
	     W, top + height + 16, W, top + height + 16);
	put(o, rc, aria);
	put(o, rc, "\">");
	for (int t = 0; t <= 5; t++) {
		double v = scale * t / 5, x = L + (R - L) * t / 5;
		PUTF(o, rc,
		     "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#e1e5eb\"/>"
		     "<text x=\"%.1f\" y=\"%.0f\" font-size=\"12\" fill=\"#5b6576\" "
		     "text-anchor=\"middle\">%.*f%%</text>",
		     x, top - 6, x, top + height, x, top - 12, scale < 0.1 ? 1 : 0, 100 * v);
	}
	return scale;
}

/* Where a share chart's bars start (after the widest indented name) and
 * the width of its right-hand texts, from the names and the counts. */
static double share_label_right(const bl_stats *st)
{
	double x = 0;
	for (int n = 0; n < bl_stats_nnodes(st); n++) {
		const char *name = bl_stats_node_name(st, n);
		int depth = 0;
		for (const char *p = name; *p; p++)
			depth += *p == '.';
		x = fmax(x, 12.0 + 16 * depth + bl_report_text_width(name, 13));
	}
	return x;
}

static void share_chart(const struct bl_report *r, bl_buf *o, int *rc)
{
	const double top = 30, rowh = 21;
	int nn = bl_stats_nnodes(r->all);
	double W = 1040, L = 300, R = 820, smax = 0.0, scale, rw = 0;

	for (int n = 0; n < nn; n++) {
		bl_stats_count k;
		char b[64];
		bl_stats_node(r->all, n, &k);
		if (k.hi > smax)
			smax = k.hi;
		snprintf(b, sizeof b, "%.2f%% (%llu)", 100 * k.share, (unsigned long long)k.rows);
		rw = fmax(rw, bl_report_text_width(b, 12));
	}
	L = fmax(L, ceil(share_label_right(r->all)) + 12);
	R = L + 520;
	W = fmax(W, R + 12 + ceil(rw) + 12);
	if (nn == 0 || smax <= 0) {
		put(o, rc, "<p class=\"note\">No labels.</p>");
		return;
	}
	scale = share_axis(o, rc, smax, W, L, R, top, rowh * nn,
			   "share of samples per label with 95% intervals");
	for (int n = 0; n < nn; n++) {
		bl_stats_count k;
		const char *name = bl_stats_node_name(r->all, n), *col = family_colour(name);
		int depth = 0, fam = bl_stats_node_is_family(r->all, n);
		double y = top + rowh * n, w, xlo, xhi;
		for (const char *p = name; *p; p++)
			depth += *p == '.';
		bl_stats_node(r->all, n, &k);
		w = (R - L) * k.share / scale;
		xlo = L + (R - L) * k.lo / scale;
		xhi = L + (R - L) * k.hi / scale;
		PUTF(o, rc,
		     "<text x=\"%.0f\" y=\"%.1f\" font-size=\"13\" fill=\"#1d2430\"%s>",
		     12.0 + 16 * depth, y + 15, fam ? " font-weight=\"600\"" : "");
		esc(o, rc, name);
		put(o, rc, "</text>");
		PUTF(o, rc,
		     "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"14\" rx=\"2\" "
		     "fill=\"%s\" fill-opacity=\"%s\"/>"
		     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1d2430\" "
		     "stroke-width=\"1.2\"/>"
		     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1d2430\" "
		     "stroke-width=\"1.2\"/>"
		     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1d2430\" "
		     "stroke-width=\"1.2\"/>"
		     "<text x=\"%.0f\" y=\"%.1f\" font-size=\"12\" fill=\"#3a4352\">"
		     "%.2f%% <tspan fill=\"#8a93a3\">(%llu)</tspan></text>",
		     L, y + 3.5, w, col, fam ? "0.45" : "0.85", xlo, y + 10.5, xhi, y + 10.5,
		     xlo, y + 6.5, xlo, y + 14.5, xhi, y + 6.5, xhi, y + 14.5, R + 12, y + 15,
		     100 * k.share, (unsigned long long)k.rows);
	}
	put(o, rc, "</svg></div>");
}

/* ---- the headline -------------------------------------------------------- */

/* "group.x × gender.y" in bold. */
static void cell_name(bl_buf *o, int *rc, const bl_stats_skew *s)
{
	put(o, rc, "<b>");
	esc(o, rc, s->group);
	if (s->gender) {
		put(o, rc, " &#215; ");
		esc(o, rc, s->gender);
	}
	put(o, rc, "</b>");
}

static void headline(const struct bl_report *r, bl_buf *o, int *rc)
{
	size_t nsmall = 0, at = 0;
	const bl_stats_skew *top = bl_report_top_cell(r->skew, r->nskew, &at);
	double min_rows = r->opt->min_rows > 0 ? r->opt->min_rows : 30;
	double min_ev = r->opt->min_events > 0 ? r->opt->min_events : 5;
	char a[32], b[32], c[32], d[32], e[32], f[32];

	for (size_t i = 0; i < r->nskew; i++)
		nsmall += (size_t)r->skew[i].small;
	if (r->nskew == 0)
		return; /* the chart says why */
	if (nsmall == r->nskew) {
		PUTF(o, rc,
		     "<div class=\"finding\"><b>No finding: every one of the %zu group cells is "
		     "too small to read alone</b> (fewer than %g samples, or fewer than %g with "
		     "sexual wording). The numbers are below, hollow and grey; a difference "
		     "between such cells is mostly noise. Scan more data, or lower "
		     "<code>--min-cell</code> / <code>--min-events</code> knowing this.</div>",
		     r->nskew, min_rows, min_ev);
		return;
	}
	if (!top) {
		put(o, rc, "<div class=\"good\">No group cell large enough to read carries "
			   "sexual wording more often than the other captions of its gender: "
			   "every 95% interval of the rate ratio reaches 1 or lies below it");
		if (nsmall)
			PUTF(o, rc, " (%zu small cells are not read)", nsmall);
		put(o, rc, ".</div>");
		return;
	}
	fmtnum(a, sizeof a, F_FIX2, top->rate_ratio);
	fmtnum(b, sizeof b, F_FIX2, top->rr_lo);
	fmtnum(c, sizeof c, F_FIX2, top->rr_hi);
	fmtnum(d, sizeof d, F_PCT1, top->rate);
	fmtnum(e, sizeof e, F_PCT1, top->rest_rate);
	fmtnum(f, sizeof f, F_PCT1, top->base_rate);
	put(o, rc, "<div class=\"finding\"><b>The tagger says:</b> captions labelled ");
	cell_name(o, rc, top);
	PUTF(o, rc,
	     " carry sexual wording <b>%s&#215;</b> as often as %s (95%% CI %s&#8211;%s): %s "
	     "against %s (%s among all %s), over %llu samples.",
	     a, top->gender ? "the other captions of that gender" : "the other captions", b, c,
	     d, e, f, top->gender ? "captions of that gender" : "captions",
	     (unsigned long long)top->rows);
	if (r->opt->audit && bl_audit_warning(r->opt->audit)) {
		put(o, rc, "<br><b>What the data says is not known here:</b> the audit cannot "
			   "be held against this set's tagger (the warning at the top), so its "
			   "corrections do not hold for this set.");
	} else if (r->opt->audit && r->audit_outcome >= 0) {
		const struct bl_report_fix *x = &r->fix[at];
		uint64_t judged;
		bl_audit_totals(r->opt->audit, NULL, &judged, NULL);
		put(o, rc, "<br><b>The data says</b> (corrected for the tagger's errors as the "
			   "audit measured them");
		PUTF(o, rc, ", %llu judgements): ", (unsigned long long)judged);
		if (isfinite(x->rr.est) &&
		    (x->rr.status == BL_FIX_OK || x->rr.status == BL_FIX_CLIPPED)) {
			fmtnum(a, sizeof a, F_FIX2, x->rr.est);
			fmtnum(b, sizeof b, F_FIX2, x->rr.lo);
			fmtnum(c, sizeof c, F_FIX2, x->rr.hi);
			fmtnum(d, sizeof d, F_PCT1, x->rate.est);
			fmtnum(e, sizeof e, F_PCT1, x->rest.est);
			PUTF(o, rc, "<b>%s&#215;</b> (95%% CI %s&#8211;%s): %s against %s", a, b, c,
			     d, e);
			if (x->rate.status == BL_FIX_CLIPPED || x->rest.status == BL_FIX_CLIPPED)
				put(o, rc, " (a corrected rate was clipped to [0, 1])");
			put(o, rc, ".");
		} else {
			PUTF(o, rc, "cannot be told: %s.", bl_audit_status_name(x->rr.status));
		}
	} else if (r->opt->audit) {
		put(o, rc, "<br>The audit has no judgements of <code>sexual</code> as a whole, so "
			   "this is not corrected for the tagger's errors.");
	} else {
		put(o, rc, "<br>That is what the tagger says; how far it is right on this set is "
			   "not measured here (<code>ballast audit</code>, then <code>ballast "
			   "report --audit SHEET</code>, says what the data says).");
	}
	put(o, rc, "</div>");
}

/* How much of the set the tagger could not read: the caption.* labels. */
static void unread(const struct bl_report *r, bl_buf *o, int *rc)
{
	bl_stats_count k;
	int first = 1;

	if (r->unread_node < 0)
		return;
	bl_stats_node(r->all, r->unread_node, &k);
	PUTF(o, rc, "<div class=\"finding\"><b>%.1f%% of captions (%llu) could not be read "
		    "by the filters</b>: ", 100 * k.share, (unsigned long long)k.rows);
	for (int id = 0; id < r->nl; id++) {
		const char *name = bl_stats_label_name(r->all, id);
		char say[128];
		if (!bl_label_in_family(name, "caption"))
			continue;
		bl_stats_label(r->all, id, &k);
		PUTF(o, rc, "%s%.1f%% of captions are %s (<code>", first ? "" : "; ",
		     100 * k.share, bl_report_unread_phrase(name, say, sizeof say));
		esc(o, rc, name);
		put(o, rc, "</code>)");
		first = 0;
	}
	put(o, rc, ". Every rate below counts them as captions without the labels they may "
		   "hold, so rates of what they say are undercounted.</div>");
}

/* ---- the audit ------------------------------------------------------------ */

static void fixcell(bl_buf *o, int *rc, const bl_audit_fix *f, int kind)
{
	char a[40], b[40], c[40];
	fmtnum(a, sizeof a, kind, f->est);
	fmtnum(b, sizeof b, kind == F_PCT2 ? F_PCT2_BARE : kind, f->lo);
	fmtnum(c, sizeof c, kind, f->hi);
	PUTF(o, rc, "<td>%s</td><td>%s&#8211;%s</td>", a, b, c);
}

static void audit_section(const struct bl_report *r, bl_buf *o, int *rc)
{
	const bl_audit *a = r->opt->audit;
	uint64_t rows, judged;

	bl_audit_totals(a, &rows, &judged, NULL);
	put(o, rc, "<h2>How far to trust the tags</h2><p class=\"note\">From the audit sheet ");
	esc(o, rc, bl_audit_path(a));
	PUTF(o, rc,
	     " (%llu rows, %llu judged): for each label a person judged, the share of "
	     "tagged captions it really applies to (precision), the share of captions it "
	     "applies to that the tagger found (recall, sensitivity), the share of the "
	     "others it left alone (specificity), and the share corrected for both "
	     "(Rogan&#8211;Gladen: (observed + Sp &#8722; 1) / (Se + Sp &#8722; 1)). "
	     "Intervals: 95%%, from %d seeded draws that include the audit's own "
	     "uncertainty.</p>",
	     (unsigned long long)rows, (unsigned long long)judged, BL_AUDIT_DRAWS);
	put(o, rc, "<div class=\"wrap\"><table><tr><th class=\"l\">label</th><th>judged "
		   "(tagged + not)</th><th>precision</th><th>95% CI</th><th>recall</th>"
		   "<th>95% CI</th><th>specificity</th><th>95% CI</th><th>observed share</th>"
		   "<th>corrected share</th><th>95% CI</th><th class=\"l\"></th></tr>");
	for (size_t i = 0; i < bl_audit_nnodes(a); i++) {
		const bl_audit_est *e = bl_audit_node(a, i);
		int n = bl_stats_node_find(r->all, e->node);
		bl_audit_fix v;
		char obs[40];
		put(o, rc, "<tr><td class=\"l\">");
		esc(o, rc, e->node);
		PUTF(o, rc, "</td><td>%llu + %llu</td>", (unsigned long long)e->judged_tagged,
		     (unsigned long long)e->judged_untagged);
		v = (bl_audit_fix){e->precision, e->precision_lo, e->precision_hi, 0};
		fixcell(o, rc, &v, F_PCT2);
		v = (bl_audit_fix){e->sensitivity, e->se_lo, e->se_hi, 0};
		fixcell(o, rc, &v, F_PCT2);
		v = (bl_audit_fix){e->specificity, e->sp_lo, e->sp_hi, 0};
		fixcell(o, rc, &v, F_PCT2);
		if (n >= 0) {
			bl_stats_count k;
			bl_stats_node(r->all, n, &k);
			fmtnum(obs, sizeof obs, F_PCT2, k.share);
			PUTF(o, rc, "<td>%s</td>", obs);
			fixcell(o, rc, &r->nfix[n], F_PCT2);
			PUTF(o, rc, "<td class=\"l\">%s</td></tr>",
			     bl_audit_status_name(r->nfix[n].status));
		} else {
			put(o, rc, "<td>&#8211;</td><td>&#8211;</td><td>&#8211;</td><td class=\"l\">"
				   "not in this index</td></tr>");
		}
	}
	put(o, rc, "</table></div>");
	if (r->audit_outcome < 0)
		return;
	put(o, rc,
	    "<h2>Sexualised wording, corrected for the tagger's errors</h2><p class=\"note\">"
	    "<b>Corrected</b>: the rate of <code>sexual.*</code> in each cell, in the rest of "
	    "its gender and in the whole gender, and the rate ratio and lift built from them, "
	    "using the sensitivity and specificity the audit measured for <code>sexual</code>. "
	    "<b>Not corrected</b>: which cell a caption is in (its group and gender labels "
	    "are the tagger's) and every count. The correction takes the tagger's errors on "
	    "sexual wording to be the same in every cell. <i>Clipped</i>: the correction fell "
	    "outside [0, 1]; <i>undefined</i>: Se + Sp &#8804; 1, the tags carry no "
	    "information to correct; <i>audit too small</i>: fewer than ");
	PUTF(o, rc, "%d judged rows in a stratum, or an interval the audit cannot bound.</p>",
	     BL_AUDIT_MIN_JUDGED);
	put(o, rc, "<div class=\"wrap\"><table><tr><th class=\"l\">group</th><th class=\"l\">"
		   "gender</th><th>n</th><th>tagger's rate</th><th>corrected rate</th>"
		   "<th>95% CI</th><th>corrected rest</th><th>tagger's rate ratio</th>"
		   "<th>corrected ratio</th><th>95% CI</th><th>corrected lift</th><th>95% CI</th>"
		   "<th class=\"l\"></th></tr>");
	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *s = &r->skew[i];
		const struct bl_report_fix *x = &r->fix[i];
		int st = x->rate.status > x->rr.status ? x->rate.status : x->rr.status;
		char v[3][40];
		fmtnum(v[0], 40, F_PCT2, s->rate);
		fmtnum(v[1], 40, F_PCT2, x->rest.est);
		fmtnum(v[2], 40, F_FIX2, s->rate_ratio);
		PUTF(o, rc, "<tr class=\"%s\"><td class=\"l\">", s->small ? "small" : "");
		esc(o, rc, s->group);
		put(o, rc, "</td><td class=\"l\">");
		esc(o, rc, s->gender ? s->gender : "all");
		PUTF(o, rc, "</td><td>%llu</td><td>%s</td>", (unsigned long long)s->rows, v[0]);
		fixcell(o, rc, &x->rate, F_PCT2);
		PUTF(o, rc, "<td>%s</td><td>%s</td>", v[1], v[2]);
		fixcell(o, rc, &x->rr, F_FIX2);
		fixcell(o, rc, &x->lift, F_FIX2);
		PUTF(o, rc, "<td class=\"l\">%s%s</td></tr>", bl_audit_status_name(st),
		     s->small ? ", small" : "");
	}
	put(o, rc, "</table></div>");
}

/* ---- the page ------------------------------------------------------------ */

int bl_report_html(const struct bl_report *r, bl_buf *o)
{
	int rc = BL_OK;
	const char *title = r->opt->title ? r->opt->title : r->path;
	bl_stats_totals tot;

	bl_stats_totals_get(r->all, &tot);
	put(o, &rc, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
		    "<title>ballast report: ");
	esc(o, &rc, title);
	PUTF(o, &rc, "</title><style>%s</style></head>\n<body><main>\n", css);
	put(o, &rc, "<h1>Caption skew report</h1><p class=\"sub\">");
	esc(o, &rc, title);
	put(o, &rc, " &#183; ballast " BALLAST_VERSION "</p>\n<div class=\"cards\">");
	card(o, &rc, "samples", (unsigned long long)r->samples, 0);
	card(o, &rc, "shards", (unsigned long long)r->nshards, 0);
	card(o, &rc, "blocked: minor + sexual", (unsigned long long)r->blocked,
	     r->blocked > 0);
	card(o, &rc, "samples with problems", (unsigned long long)r->samples_with_errors, 0);
	for (size_t i = 0; i < r->nerrors; i++) {
		char k[128];
		snprintf(k, sizeof k, "errors: %s", r->errors[i].kind);
		card(o, &rc, k, (unsigned long long)r->errors[i].count, 0);
	}
	put(o, &rc, "</div>\n");
	if (r->nshards > r->shards_complete)
		PUTF(o, &rc,
		     "<p class=\"note\">%llu of %zu shards are not completely scanned; their "
		     "samples are not all counted.</p>",
		     (unsigned long long)(r->nshards - r->shards_complete), r->nshards);

	if (rc == BL_OK)
		rc = bl_report_html_lines(o, "WARNING:", &r->warnings);
	if (rc == BL_OK)
		rc = bl_report_html_lines(o, "", &r->notes);
	unread(r, o, &rc);
	put(o, &rc, "<h2>Sexualised wording by group and gender</h2>");
	headline(r, o, &rc);
	put(o, &rc,
	    "<p class=\"note\">Each row is a group label (or roll-up), alone or crossed with a "
	    "gender label. Lift is the rate of any <code>sexual.*</code> label in the cell "
	    "divided by the rate among <em>all</em> samples of that gender, the cell included "
	    "(all samples for the group alone); the rate ratio divides by the rate among the "
	    "<em>other</em> samples of the gender (the cell excluded), and the odds ratio "
	    "compares the odds with those same other samples. Red: the whole 95% interval of "
	    "the lift is above 1; blue: below 1; hollow: a small cell (fewer than the minimum "
	    "samples or events), not to be read alone.</p>");
	lift_chart(r, o, &rc);
	skew_table(r, o, &rc);
	if (r->opt->audit)
		audit_section(r, o, &rc);

	put(o, &rc, "<h2>Labels and families</h2><p class=\"note\">Share of samples with "
		    "each label; bold rows are roll-ups (a sample counts once in a family "
		    "however many of its labels it has). Whiskers: 95% Wilson intervals.</p>");
	share_chart(r, o, &rc);

	if (r->given) {
		bl_stats_totals g;
		bl_stats_totals_get(r->given, &g);
		put(o, &rc, "<h2>Rates given ");
		for (size_t i = 0; i < r->given_labels.n; i++) {
			if (i)
				put(o, &rc, " &amp; ");
			esc(o, &rc, r->given_labels.items[i]);
		}
		PUTF(o, &rc, "</h2><p class=\"note\">%llu samples have every given label.</p>",
		     (unsigned long long)g.rows);
		rate_table(r, r->given, -1, o, &rc);
	}
	for (int n = 0; r->by_node >= 0 && n < bl_stats_nnodes(r->all); n++) {
		bl_stats_count k;
		if (!bl_report_by_row(r, n))
			continue;
		bl_stats_node(r->all, n, &k);
		put(o, &rc, "<h2>Labels among samples with ");
		esc(o, &rc, bl_stats_node_name(r->all, n));
		PUTF(o, &rc, "</h2><p class=\"note\">%llu samples.</p>",
		     (unsigned long long)k.rows);
		rate_table(r, r->all, n, o, &rc);
	}

	put(o, &rc, "<h2>Shards</h2>");
	if (r->nshards > MAX_SHARD_ROWS)
		PUTF(o, &rc, "<p class=\"note\">The first %d of %zu shards; the CSV and JSON "
			     "reports list all.</p>", MAX_SHARD_ROWS, r->nshards);
	put(o, &rc, "<div class=\"wrap\"><table><tr><th class=\"l\">shard</th><th>samples</th>"
		    "<th>errors</th><th>blocked</th><th class=\"l\">complete</th></tr>");
	for (size_t i = 0; i < r->nshards && i < MAX_SHARD_ROWS; i++) {
		const struct bl_report_shard *sh = &r->shards[i];
		put(o, &rc, "<tr><td class=\"l\">");
		esc(o, &rc, sh->path);
		PUTF(o, &rc, "</td><td>%llu</td><td>%llu</td><td>%llu</td><td class=\"l\">%s</td>"
			     "</tr>", (unsigned long long)sh->samples,
		     (unsigned long long)sh->errors, (unsigned long long)sh->blocked,
		     sh->complete ? "yes" : "no");
	}
	put(o, &rc, "</table></div>");
	put(o, &rc,
	    "<footer><p><b>Method.</b> Shares and rates carry 95% Wilson score intervals. "
	    "Lift intervals use the delta method on log lift, allowing for the cell being "
	    "part of its base; rate ratios (the headline's &#8220;n&#215; as often&#8221;) "
	    "compare the cell's rate with the rate among the other captions of its gender, "
	    "delta method on the log. Odds ratios compare the same two groups (Woolf log "
	    "interval); when a cell of the 2&#215;2 table is empty the odds ratio is 0 or "
	    "infinite and is shown as n/a with the reason, not smoothed. With "
	    "weights, counts are sums of weights and interval widths use Kish's effective "
	    "sample size. Labels come from caption text only (see TAXONOMY.md); a label "
	    "rate is a rate of wording, not of images.</p>"
	    "<p>Samples labelled <code>" BL_LABEL_MINOR_SEXUAL "</code> are never written to a "
	    "manifest, whatever the policy.</p></footer>\n</main></body></html>\n");
	return rc;
}

/* ---- the before/after page of a manifest ---------------------------------- */

/* The plan's problems and the disagreements as a box (nothing when there
 * are none), for the top of the page. */
static int problems(const struct bl_report_mf *mf, bl_buf *o)
{
	size_t failed = bl_rb_summary_count(&mf->sum, BL_CHECK_FAILED);
	size_t shown = bl_rb_summary_count(&mf->sum, BL_CHECK_WARNING);
	int rc = bl_report_html_lines(o, "WARNING:", &mf->warnings);

	if (rc != BL_OK || (!shown && mf->agree))
		return rc;
	rc = bl_buf_addf(o, "<div class=\"finding\"><b>%s</b><ul>",
			 failed ? "The plan failed its checks: this manifest does not do what "
				  "its policy asked without side effects." :
			 shown ? "Plan checks: passed, with what the policy accepts and warnings." :
				 "The manifest's summary disagrees with its own lines or with the "
				 "index.");
	for (size_t i = 0; i < mf->sum.nchecks && rc == BL_OK; i++) {
		const bl_rb_check *c = &mf->sum.checks[i];
		if (c->status == BL_CHECK_OK)
			continue;
		rc = bl_buf_addf(o, "<li><b>%s</b> %s: ", c->status == BL_CHECK_FAILED ? "FAILED" :
				 bl_check_status_name(c->status), bl_check_name(c->check));
		if (rc == BL_OK)
			rc = bl_report_html_escape(o, c->message);
		if (rc == BL_OK)
			rc = bl_buf_adds(o, "</li>");
	}
	for (size_t i = 0; i < mf->nchecks && rc == BL_OK; i++) {
		const struct bl_report_check *k = &mf->checks[i];
		if (!k->agree)
			rc = bl_buf_addf(o, "<li><b>DISAGREEMENT</b> %s: manifest %.6g, recomputed "
					    "%.6g</li>", k->name, k->manifest, k->recomputed);
	}
	if (rc == BL_OK)
		rc = bl_buf_adds(o, "</ul></div>\n");
	return rc;
}

static void card_text(bl_buf *o, int *rc, const char *label, const char *value,
		      const char *sub, int warn)
{
	PUTF(o, rc, "<div class=\"card%s\"><div class=\"v\">%s</div><div class=\"k\">",
	     warn ? " warn" : "", value);
	esc(o, rc, label);
	if (sub)
		PUTF(o, rc, "<br><span class=\"s\">%s</span>", sub);
	put(o, rc, "</div></div>");
}

static const char css_mf[] =
	".card .s{color:#8a93a3;font-size:12px}"
	".card .v .arr{color:#8a93a3;font-weight:400;padding:0 4px}"
	"pre.policy{background:#fff;border:1px solid #dde1e7;border-radius:8px;"
	"padding:10px 14px;font-size:12.5px;overflow-x:auto;max-width:1060px;"
	"white-space:pre-wrap}"
	".ok{color:#1e7d4f;font-weight:600}.bad{color:#b0302a;font-weight:600}"
	".legend{font-size:13px;color:#3a4352;margin:6px 0}"
	".good{background:#f1f8f4;border:1px solid #bfe0cc;border-left:5px solid #1e7d4f;"
	"border-radius:6px;padding:12px 16px;margin:14px 0;max-width:900px}"
	"td.dn{color:#1e7d4f}td.up{color:#b0302a}";

/* the x position of a lift on the chart's log axis */
struct liftaxis {
	double L, R, xl, xr;
};

static double lx(const struct liftaxis *a, double v)
{
	double t = log2(clampd(v, pow(2, a->xl), pow(2, a->xr)));
	return a->L + (a->R - a->L) * (t - a->xl) / (a->xr - a->xl);
}

static void widen(double *lmin, double *lmax, const bl_stats_skew *s)
{
	if (!s || !isfinite(s->lift) || s->lift <= 0)
		return;
	*lmin = fmin(*lmin, s->lift);
	*lmax = fmax(*lmax, s->lift);
	if (isfinite(s->lift_lo) && s->lift_lo > 0)
		*lmin = fmin(*lmin, s->lift_lo);
	if (isfinite(s->lift_hi))
		*lmax = fmax(*lmax, s->lift_hi);
}

/* One dot with its whisker at height y; hollow for before. */
static void dot(bl_buf *o, int *rc, const struct liftaxis *a, const bl_stats_skew *s, double y,
		const char *col, int hollow)
{
	double lo, hi;

	if (!s || !isfinite(s->lift) || s->lift <= 0)
		return;
	lo = isfinite(s->lift_lo) && s->lift_lo > 0 ? s->lift_lo : pow(2, a->xl);
	hi = isfinite(s->lift_hi) ? s->lift_hi : pow(2, a->xr);
	PUTF(o, rc,
	     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
	     "stroke-width=\"1.6\"%s/>"
	     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.6\"/>"
	     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.6\"/>"
	     "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"%s\" stroke=\"%s\" "
	     "stroke-width=\"2\"/>",
	     lx(a, lo), y, lx(a, hi), y, col, hollow ? " stroke-dasharray=\"4 2\"" : "",
	     lx(a, lo), y - 4, lx(a, lo), y + 4, col, lx(a, hi), y - 4, lx(a, hi), y + 4, col,
	     lx(a, s->lift), y, hollow ? "#fff" : col, col);
}

static const char *lift_colour(const bl_stats_skew *s)
{
	if (!s || s->small)
		return "#8a93a3";
	return s->lift_lo > 1 ? "#c0392b" : s->lift_hi < 1 ? "#2e6da4" : "#56606f";
}

static void mf_lift_chart(const struct bl_report_mf *mf, bl_buf *o, int *rc)
{
	const struct bl_report *r = &mf->before;
	const double top = 34, rowh = 30;
	struct liftaxis ax = {330, 840, 0, 0};
	double W = 1040, lmin = 0.5, lmax = 2, lw = 0;
	size_t n = 0;

	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *b = &r->skew[i];
		if (!isfinite(b->lift) || b->lift <= 0)
			continue;
		n++;
		widen(&lmin, &lmax, b);
		widen(&lmin, &lmax, bl_report_mf_after(mf, b));
		lw = fmax(lw, cell_label_width(b, 13));
	}
	/* "9.99 -> 9.99 small" on the right, the cell's name on the left */
	ax.L = fmax(ax.L, ceil(lw) + 24);
	ax.R = ax.L + 510;
	W = fmax(W, ax.R + 14 + bl_report_text_width("&#8211; &#8594; &#8211; small", 13) + 12);
	if (n == 0) {
		put(o, rc, "<p class=\"note\">No group cell has a defined lift before the "
			   "rebalance.</p>");
		return;
	}
	ax.xl = floor(log2(clampd(lmin, 1.0 / 16, 1)));
	ax.xr = ceil(log2(clampd(lmax, 1, 64)));
	if (ax.xr - ax.xl < 2)
		ax.xr = ax.xl + 2;
	PUTF(o, rc,
	     "<div class=\"chart\"><svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
	     "role=\"img\" aria-label=\"lift of each group cell before (hollow) and after "
	     "(filled) the rebalance, with 95%% intervals\">",
	     W, top + rowh * (double)n + 40, W, top + rowh * (double)n + 40);
	for (double e = ax.xl; e <= ax.xr; e++) {
		double x = lx(&ax, pow(2, e)), v = pow(2, e);
		char lab[32];
		if (v >= 1)
			snprintf(lab, sizeof lab, "%g\xc3\x97", v);
		else
			snprintf(lab, sizeof lab, "1/%g", 1 / v);
		PUTF(o, rc,
		     "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"%s\" "
		     "stroke-width=\"%s\"%s/><text x=\"%.1f\" y=\"%.0f\" font-size=\"12\" "
		     "fill=\"#5b6576\" text-anchor=\"middle\">%s</text>",
		     x, top - 8, x, top + rowh * (double)n, e == 0 ? "#1d2430" : "#e1e5eb",
		     e == 0 ? "1.5" : "1", e == 0 ? " stroke-dasharray=\"5 3\"" : "", x, top - 14,
		     lab);
	}
	PUTF(o, rc,
	     "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#5b6576\">lift (log scale): "
	     "rate of sexual wording in the cell / rate in its gender</text>"
	     "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#5b6576\" "
	     "text-anchor=\"end\">cell (samples)</text>"
	     "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#5b6576\">lift before "
	     "&#8594; after</text>",
	     ax.L, top + rowh * (double)n + 28, ax.L - 40, top - 14, ax.R + 14, top - 14);
	n = 0;
	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *b = &r->skew[i], *a = bl_report_mf_after(mf, b);
		double y = top + rowh * (double)n + rowh / 2;
		char x1[32], x2[32];
		if (!isfinite(b->lift) || b->lift <= 0)
			continue;
		if (n % 2 == 0)
			PUTF(o, rc,
			     "<rect x=\"0\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" "
			     "fill=\"#f7f8fa\"/>",
			     y - rowh / 2, W, rowh);
		PUTF(o, rc, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"end\" "
			    "fill=\"%s\">", ax.L - 12, y + 4.5, b->small ? "#8a93a3" : "#1d2430");
		esc(o, rc, b->group);
		if (b->gender) {
			put(o, rc, " \xc3\x97 ");
			esc(o, rc, b->gender);
		}
		PUTF(o, rc, " (%llu)</text>", (unsigned long long)b->rows);
		if (a && isfinite(a->lift) && a->lift > 0)
			PUTF(o, rc,
			     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			     "stroke=\"#b8c0cc\" stroke-width=\"1\"/>",
			     lx(&ax, b->lift), y - 6, lx(&ax, a->lift), y + 6);
		dot(o, rc, &ax, b, y - 6, lift_colour(b), 1);
		dot(o, rc, &ax, a, y + 6, lift_colour(a), 0);
		fmtnum(x1, sizeof x1, F_FIX2, b->lift);
		fmtnum(x2, sizeof x2, F_FIX2, a ? a->lift : NAN);
		PUTF(o, rc,
		     "<text x=\"%.0f\" y=\"%.1f\" font-size=\"13\" fill=\"%s\">%s "
		     "<tspan fill=\"#8a93a3\">&#8594;</tspan> <tspan fill=\"%s\" "
		     "font-weight=\"600\">%s</tspan>%s</text>",
		     ax.R + 14, y + 4.5, lift_colour(b), x1, lift_colour(a), x2,
		     b->small ? "<tspan fill=\"#8a93a3\"> small</tspan>" : "");
		n++;
	}
	put(o, rc, "</svg></div>");
}

static void mf_skew_table(const struct bl_report_mf *mf, bl_buf *o, int *rc)
{
	const struct bl_report *r = &mf->before;

	put(o, rc,
	    "<div class=\"wrap\"><table><tr><th class=\"l\">group</th><th class=\"l\">gender</th>"
	    "<th>n before</th><th>n after</th><th>rate before</th><th>rate after</th>"
	    "<th>lift before</th><th>95% CI</th><th>lift after</th><th>95% CI</th>"
	    "<th>odds ratio before</th><th>after</th><th class=\"l\"></th></tr>");
	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *b = &r->skew[i], *a = bl_report_mf_after(mf, b);
		char v[12][40];
		double nan = NAN;
		fmtnum(v[0], 40, F_FIX2, a ? a->n : nan);
		fmtnum(v[1], 40, F_PCT2, b->rate);
		fmtnum(v[2], 40, F_PCT2, a ? a->rate : nan);
		fmtnum(v[3], 40, F_FIX2, b->lift);
		fmtnum(v[4], 40, F_FIX2, b->lift_lo);
		fmtnum(v[5], 40, F_FIX2, b->lift_hi);
		fmtnum(v[6], 40, F_FIX2, a ? a->lift : nan);
		fmtnum(v[7], 40, F_FIX2, a ? a->lift_lo : nan);
		fmtnum(v[8], 40, F_FIX2, a ? a->lift_hi : nan);
		fmtnum(v[9], 40, F_FIX2, b->odds_ratio);
		fmtnum(v[10], 40, F_FIX2, a ? a->odds_ratio : nan);
		PUTF(o, rc, "<tr class=\"%s\"><td class=\"l\">", b->small ? "small" : "");
		esc(o, rc, b->group);
		put(o, rc, "</td><td class=\"l\">");
		esc(o, rc, b->gender ? b->gender : "all");
		PUTF(o, rc,
		     "</td><td>%llu</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
		     "<td>%s&#8211;%s</td><td><b>%s</b></td><td>%s&#8211;%s</td><td>%s</td>"
		     "<td>%s</td><td class=\"l\">%s</td></tr>",
		     (unsigned long long)b->rows, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
		     v[8], v[9], v[10], b->small ? "small" : "");
	}
	put(o, rc, "</table></div>");
}

/* Paired bars: before (light) above after (solid), per label and family. */
static void mf_share_chart(const struct bl_report_mf *mf, bl_buf *o, int *rc)
{
	const bl_stats *bs = mf->before.all;
	const double top = 30, rowh = 26;
	int nn = bl_stats_nnodes(bs);
	double W = 1040, L = 300, R = 820, smax = 0.0, scale;

	L = fmax(L, ceil(share_label_right(bs)) + 12);
	R = L + 520;
	W = fmax(W, R + 12 + bl_report_text_width("100.00% &#8594; 100.00%", 12) + 12);

	for (int n = 0; n < nn; n++) {
		bl_stats_count kb, ka;
		bl_stats_node(bs, n, &kb);
		bl_stats_node(mf->after, bl_stats_node_find(mf->after, bl_stats_node_name(bs, n)),
			      &ka);
		smax = fmax(smax, fmax(kb.hi, ka.hi));
	}
	if (nn == 0 || smax <= 0) {
		put(o, rc, "<p class=\"note\">No labels.</p>");
		return;
	}
	scale = share_axis(o, rc, smax, W, L, R, top, rowh * nn,
			   "share of each label before and after");
	for (int n = 0; n < nn; n++) {
		bl_stats_count kb, ka;
		const char *name = bl_stats_node_name(bs, n), *col = family_colour(name);
		int depth = 0, fam = bl_stats_node_is_family(bs, n);
		double y = top + rowh * n;
		for (const char *p = name; *p; p++)
			depth += *p == '.';
		bl_stats_node(bs, n, &kb);
		bl_stats_node(mf->after, bl_stats_node_find(mf->after, name), &ka);
		PUTF(o, rc, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"13\" fill=\"#1d2430\"%s>",
		     12.0 + 16 * depth, y + 17, fam ? " font-weight=\"600\"" : "");
		esc(o, rc, name);
		put(o, rc, "</text>");
		PUTF(o, rc,
		     "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"9\" rx=\"2\" fill=\"%s\" "
		     "fill-opacity=\"0.25\" stroke=\"%s\" stroke-opacity=\"0.6\"/>"
		     "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"9\" rx=\"2\" fill=\"%s\" "
		     "fill-opacity=\"%s\"/>"
		     "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1d2430\" "
		     "stroke-width=\"1.2\"/>"
		     "<text x=\"%.0f\" y=\"%.1f\" font-size=\"12\" fill=\"#3a4352\">%.2f%% "
		     "<tspan fill=\"#8a93a3\">&#8594;</tspan> %.2f%%</text>",
		     L, y + 3, (R - L) * kb.share / scale, col, col, L, y + 13,
		     (R - L) * ka.share / scale, col, fam ? "0.55" : "0.9",
		     L + (R - L) * ka.lo / scale, y + 17.5, L + (R - L) * ka.hi / scale, y + 17.5,
		     R + 12, y + 17, 100 * kb.share, 100 * ka.share);
	}
	put(o, rc, "</svg></div>");
}

static void mf_rules(const struct bl_report_mf *mf, bl_buf *o, int *rc)
{
	for (size_t i = 0; i < mf->sum.nrules; i++) {
		const bl_rb_rule_result *x = &mf->sum.rules[i];
		char a[40], b[40];
		PUTF(o, rc, "<p class=\"legend\"><b>line %d</b> <code>", x->line);
		esc(o, rc, x->text);
		put(o, rc, "</code>");
		if (isfinite(x->max_rate_gap_before)) {
			fmtnum(a, sizeof a, F_PCT2, x->max_rate_gap_before);
			fmtnum(b, sizeof b, F_PCT2, x->max_rate_gap_after);
			PUTF(o, rc, " &#183; largest gap in the rate between rows: %s &#8594; "
				    "<b>%s</b>", a, b);
		}
		if (x->kind == BL_RULE_DROP)
			PUTF(o, rc, " &#183; %llu samples dropped", (unsigned long long)x->samples);
		if (isfinite(x->tv_distance)) {
			fmtnum(a, sizeof a, F_G6, x->tv_distance);
			PUTF(o, rc, " &#183; TV distance %s", a);
		}
		if (isfinite(x->max_abs_error)) {
			fmtnum(a, sizeof a, F_G6, x->max_abs_error);
			PUTF(o, rc, " &#183; largest share error %s", a);
		}
		put(o, rc, "</p>");
		if (!x->nlabels)
			continue;
		put(o, rc, "<div class=\"wrap\"><table><tr><th class=\"l\">label</th>"
			   "<th>declared</th><th>before</th><th>after</th><th>error</th></tr>");
		for (size_t k = 0; k < x->nlabels; k++) {
			char v[4][40];
			fmtnum(v[0], 40, F_PCT2, x->labels[k].target);
			fmtnum(v[1], 40, F_PCT2, x->labels[k].before);
			fmtnum(v[2], 40, F_PCT2, x->labels[k].after);
			fmtnum(v[3], 40, F_G6, x->labels[k].error);
			put(o, rc, "<tr><td class=\"l\">");
			esc(o, rc, x->labels[k].label);
			PUTF(o, rc, "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>", v[0],
			     v[1], v[2], v[3]);
		}
		put(o, rc, "</table></div>");
	}
}

int bl_report_html_manifest(const struct bl_report_mf *mf, bl_buf *o)
{
	int rc = BL_OK;
	const struct bl_report *r = &mf->before;
	const char *title = mf->opt->title ? mf->opt->title : mf->name;
	const bl_stats_skew *top = NULL, *topa;
	char v[64], s[128];

	put(o, &rc, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
		    "<title>ballast rebalance report: ");
	esc(o, &rc, title);
	PUTF(o, &rc, "</title><style>%s%s</style></head>\n<body><main>\n", css, css_mf);
	put(o, &rc, "<h1>Before and after the rebalance</h1><p class=\"sub\">manifest ");
	esc(o, &rc, title);
	put(o, &rc, " &#183; index ");
	esc(o, &rc, r->path);
	put(o, &rc, " &#183; ballast " BALLAST_VERSION "</p>\n");
	if (rc == BL_OK)
		rc = problems(mf, o);
	put(o, &rc, "<div class=\"cards\">");
	snprintf(v, sizeof v, "%.0f<span class=\"arr\">&#8594;</span>%.0f", mf->sum.ess_before,
		 mf->sum.ess_after);
	snprintf(s, sizeof s, "%.1f%% kept", 100 * mf->sum.ess_after / mf->sum.ess_before);
	card_text(o, &rc, "effective sample size (Kish)", v, s,
		  mf->sum.ess_after < 0.5 * mf->sum.ess_before);
	snprintf(v, sizeof v, "%llu", (unsigned long long)mf->lines);
	snprintf(s, sizeof s, "of %llu in the index", (unsigned long long)r->samples);
	card_text(o, &rc, "samples written", v, s, 0);
	snprintf(v, sizeof v, "%.0f", (double)mf->sum.excluded);
	snprintf(s, sizeof s, "drop rules %.0f &#183; safety %.0f", (double)mf->sum.dropped_rule,
		 (double)mf->sum.blocked);
	card_text(o, &rc, "samples dropped", v, s, 0);
	snprintf(v, sizeof v, "%.0f", (double)mf->sum.repeated);
	snprintf(s, sizeof s, "%.0f extra copies", (double)mf->sum.copies);
	card_text(o, &rc, "samples repeated", v, s, 0);
	snprintf(v, sizeof v, "%.3g", mf->sum.largest_weight);
	snprintf(s, sizeof s, "smallest %.3g", mf->sum.smallest_weight);
	card_text(o, &rc, "largest weight", v, s, mf->sum.largest_weight > 10);
	snprintf(v, sizeof v, "%.3g", mf->sum.tv_distance);
	snprintf(s, sizeof s, "largest share error %.3g", mf->sum.max_abs_share_error);
	card_text(o, &rc, "distance from target (TV)", v, s, mf->sum.max_abs_share_error > 0.01);
	put(o, &rc, "</div>\n");

	/* the headline: the strongest skew before (against the other
	 * captions of the gender), and where it went */
	top = bl_report_top_cell(r->skew, r->nskew, NULL);
	topa = bl_report_mf_after(mf, top);
	put(o, &rc, "<h2>Sexualised wording by group and gender</h2>");
	if (top && topa) {
		char a[32], b[32], c[32], d[32];
		fmtnum(a, sizeof a, F_FIX2, top->rate_ratio);
		fmtnum(b, sizeof b, F_FIX2, topa->rate_ratio);
		fmtnum(c, sizeof c, F_FIX2, topa->rr_lo);
		fmtnum(d, sizeof d, F_FIX2, topa->rr_hi);
		PUTF(o, &rc, "<div class=\"%s\">Captions labelled <b>",
		     topa->rr_lo > 1 ? "finding" : "good");
		esc(o, &rc, top->group);
		if (top->gender) {
			put(o, &rc, " &#215; ");
			esc(o, &rc, top->gender);
		}
		PUTF(o, &rc,
		     "</b> carried sexual wording <b>%s&#215;</b> as often as %s before; in the "
		     "manifest, <b>%s&#215;</b> (95%% CI %s&#8211;%s).</div>",
		     a, top->gender ? "the other captions of that gender" : "the other captions",
		     b, c, d);
	}
	put(o, &rc,
	    "<p class=\"note\">Each row is a group label (or roll-up), alone or crossed with a "
	    "gender label. Lift is the rate of any <code>sexual.*</code> label in the cell "
	    "divided by the rate among all samples of that gender. Sorted by the lift "
	    "before.</p><p class=\"legend\"><svg width=\"250\" height=\"14\" "
	    "aria-hidden=\"true\"><circle cx=\"8\" cy=\"7\" r=\"4.5\" fill=\"#fff\" "
	    "stroke=\"#56606f\" stroke-width=\"2\"/><text x=\"18\" y=\"11\" "
	    "font-size=\"12\">before (index)</text><circle cx=\"128\" cy=\"7\" r=\"4.5\" "
	    "fill=\"#56606f\" stroke=\"#56606f\" stroke-width=\"2\"/><text x=\"138\" y=\"11\" "
	    "font-size=\"12\">after (manifest)</text></svg> whiskers: 95% intervals (after: "
	    "at Kish's effective n). Red: the whole interval above 1; blue: below 1; grey: "
	    "includes 1, or a small cell.</p>");
	mf_lift_chart(mf, o, &rc);
	mf_skew_table(mf, o, &rc);

	put(o, &rc, "<h2>The price</h2><p class=\"note\">Reweighting spreads the weights: "
		    "the effective sample size (Kish: (&#931;w)&#178;/&#931;w&#178;) says how "
		    "many unweighted samples the manifest is worth. These numbers come from "
		    "<code>manifest.json</code>; every one that can be recomputed from the "
		    "lines is, below.</p><div class=\"wrap\"><table>");
	{
		struct {
			const char *k;
			double b, a;
			int f;
		} rows[] = {
			{"samples", (double)r->samples, (double)mf->lines, F_G6},
			{"effective sample size", mf->sum.ess_before, mf->sum.ess_after, F_FIX2},
			{"sum of weights", (double)r->samples, mf->sum.weight_sum, F_FIX2},
			{"largest weight", 1, mf->sum.largest_weight, F_G6},
			{"smallest weight", 1, mf->sum.smallest_weight, F_G6},
			{"samples dropped", 0, (double)mf->sum.excluded, F_G6},
			{"samples repeated", 0, (double)mf->sum.repeated, F_G6},
			{"TV distance from target", NAN, mf->sum.tv_distance, F_G6},
			{"largest share error", NAN, mf->sum.max_abs_share_error, F_G6},
		};
		put(o, &rc, "<tr><th class=\"l\"></th><th>before</th><th>after</th></tr>");
		for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
			char a[40], b[40];
			fmtnum(a, sizeof a, rows[i].f, rows[i].b);
			fmtnum(b, sizeof b, rows[i].f, rows[i].a);
			PUTF(o, &rc, "<tr><td class=\"l\">%s</td><td>%s</td><td>%s</td></tr>",
			     rows[i].k, a, b);
		}
	}
	put(o, &rc, "</table></div>");

	put(o, &rc, "<h2>The policy</h2><p class=\"note\">");
	esc(o, &rc, mf->policy_path);
	put(o, &rc, " &#183; sha256 <code>");
	esc(o, &rc, mf->policy_sha);
	put(o, &rc, "</code> &#183; seed ");
	esc(o, &rc, mf->seed);
	put(o, &rc, " &#183; realised as ");
	esc(o, &rc, mf->realise);
	put(o, &rc, "</p>");
	mf_rules(mf, o, &rc);
	put(o, &rc, "<pre class=\"policy\">");
	esc(o, &rc, mf->policy_text);
	put(o, &rc, "</pre>");

	put(o, &rc, "<h2>Labels and families</h2><p class=\"note\">Share of samples with each "
		    "label, before (light bar, outlined) and after (solid bar, share of the "
		    "manifest's weight, 95% whisker). Bold rows are roll-ups.</p>");
	mf_share_chart(mf, o, &rc);

	put(o, &rc, "<h2>Checks</h2><p class=\"note\">Each number of the manifest's summary "
		    "recomputed from the index and the manifest's lines.</p>"
		    "<div class=\"wrap\"><table><tr><th class=\"l\">check</th><th>manifest</th>"
		    "<th>recomputed</th><th class=\"l\"></th></tr>");
	for (size_t i = 0; i < mf->nchecks; i++) {
		const struct bl_report_check *k = &mf->checks[i];
		char a[40], b[40];
		fmtnum(a, sizeof a, F_G6, k->manifest);
		fmtnum(b, sizeof b, F_G6, k->recomputed);
		PUTF(o, &rc, "<tr><td class=\"l\">%s</td><td>%s</td><td>%s</td>"
			     "<td class=\"l %s\">%s</td></tr>",
		     k->name, a, b, k->agree ? "ok" : "bad", k->agree ? "agrees" : "DIFFERS");
	}
	put(o, &rc, "</table></div>");
	for (size_t i = 0; i < mf->notes.n; i++) {
		put(o, &rc, "<p class=\"note\">Note: ");
		esc(o, &rc, mf->notes.items[i]);
		put(o, &rc, "</p>");
	}
	put(o, &rc,
	    "<footer><p><b>Method.</b> Before counts every sample of the index once; after "
	    "counts every line of the manifest with its weight. Shares and rates carry 95% "
	    "Wilson intervals, lift intervals the delta method on log lift; with weights, "
	    "interval widths use Kish's effective sample size. Labels come from caption "
	    "text only; a label rate is a rate of wording, not of images.</p>"
	    "<p>Samples labelled <code>" BL_LABEL_MINOR_SEXUAL "</code> are never written to a "
	    "manifest, whatever the policy.</p></footer>\n</main></body></html>\n");
	return rc;
}
