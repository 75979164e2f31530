/*
 * report_html.c - the HTML rendering of a gathered report: one
 * self-contained page (inline CSS and SVG; no scripts, fonts, images or
 * links to fetch) that a person can open from a cluster's scratch disk or
 * attach to a data card.
 *
 * It shows the headline numbers, the skew table as a lift chart (log
 * scale, a reference line at 1, 95% whiskers, small cells hollow) and as
 * numbers, the label and family shares as a bar chart with Wilson
 * whiskers, the optional --given and --by tables, and per-shard counts.
 * Every string that comes from the index (paths, label names, error
 * kinds) goes through bl_report_html_escape.  The page carries no time
 * stamp, so the same index gives the same bytes.
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
	"footer{margin-top:40px;color:#5b6576;font-size:13px;max-width:900px}";

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

/* ---- the lift chart ------------------------------------------------------ */

static double clampd(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static void lift_chart(const struct bl_report *r, bl_buf *o, int *rc)
{
	const double W = 1040, L = 330, R = 860, top = 34, rowh = 22;
	double lmin = 0.5, lmax = 2, xl, xr;
	size_t n = 0;

	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *s = &r->skew[i];
		if (!isfinite(s->lift) || s->lift <= 0)
			continue;
		n++;
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
	PUTF(o, rc,
	     "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#5b6576\">"
	     "lift (log scale): rate of sexual wording in the cell / rate in its "
	     "gender</text>",
	     L, top + rowh * (double)n + 28);
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
	    "<th>n</th><th>events</th><th>rate</th><th>95% CI</th><th>base rate</th>"
	    "<th>lift</th><th>95% CI</th><th>odds ratio</th><th>95% CI</th>"
	    "<th>attire rate</th><th>attire lift</th><th class=\"l\"></th></tr>");
	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *s = &r->skew[i];
		char v[12][40];
		const char *cls = s->small ? "small"
				  : s->lift_lo > 1 ? "hi"
				  : s->lift_hi < 1 ? "lo"
						   : "";
		fmtnum(v[0], 40, F_G6, s->events);
		fmtnum(v[1], 40, F_PCT2, s->rate);
		fmtnum(v[2], 40, F_PCT2_BARE, s->rate_lo);
		fmtnum(v[3], 40, F_PCT2, s->rate_hi);
		fmtnum(v[4], 40, F_PCT2, s->base_rate);
		fmtnum(v[5], 40, F_FIX2, s->lift);
		fmtnum(v[6], 40, F_FIX2, s->lift_lo);
		fmtnum(v[7], 40, F_FIX2, s->lift_hi);
		fmtnum(v[8], 40, F_FIX2, s->odds_ratio);
		fmtnum(v[9], 40, F_FIX2, s->or_lo);
		fmtnum(v[10], 40, F_FIX2, s->or_hi);
		fmtnum(v[11], 40, F_PCT2, s->rate2);
		PUTF(o, rc, "<tr class=\"%s\"><td class=\"l\">", cls);
		esc(o, rc, s->group);
		put(o, rc, "</td><td class=\"l\">");
		esc(o, rc, s->gender ? s->gender : "all");
		PUTF(o, rc,
		     "</td><td>%llu</td><td>%s</td><td>%s</td><td>%s&#8211;%s</td><td>%s</td>"
		     "<td class=\"lift\">%s</td><td>%s&#8211;%s</td><td>%s</td>"
		     "<td>%s&#8211;%s</td><td>%s</td>",
		     (unsigned long long)s->rows, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
		     v[8], v[9], v[10], v[11]);
		fmtnum(v[0], 40, F_FIX2, s->lift2);
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

static void share_chart(const struct bl_report *r, bl_buf *o, int *rc)
{
	const double W = 1040, L = 300, R = 820, top = 30, rowh = 21;
	int nn = bl_stats_nnodes(r->all);
	double smax = 0.0, scale;

	for (int n = 0; n < nn; n++) {
		bl_stats_count k;
		bl_stats_node(r->all, n, &k);
		if (k.hi > smax)
			smax = k.hi;
	}
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

/* ---- the page ------------------------------------------------------------ */

int bl_report_html(const struct bl_report *r, bl_buf *o)
{
	int rc = BL_OK;
	const char *title = r->opt->title ? r->opt->title : r->path;
	const bl_stats_skew *top = NULL;
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

	/* the headline: the strongest association that is not a small cell,
	 * within a gender when there is one (a group's rate over all samples
	 * mixes in its gender balance) */
	for (int pass = 0; pass < 2 && !top; pass++)
		for (size_t i = 0; i < r->nskew && !top; i++)
			if (!r->skew[i].small && (pass || r->skew[i].gender) &&
			    isfinite(r->skew[i].lift_lo) && r->skew[i].lift_lo > 1)
				top = &r->skew[i];
	put(o, &rc, "<h2>Sexualised wording by group and gender</h2>");
	if (top) {
		char a[32], b[32], c[32], d[32], e[32];
		fmtnum(a, sizeof a, F_FIX2, top->lift);
		fmtnum(b, sizeof b, F_FIX2, top->lift_lo);
		fmtnum(c, sizeof c, F_FIX2, top->lift_hi);
		fmtnum(d, sizeof d, F_PCT1, top->rate);
		fmtnum(e, sizeof e, F_PCT1, top->base_rate);
		put(o, &rc, "<div class=\"finding\">Captions labelled <b>");
		esc(o, &rc, top->group);
		if (top->gender) {
			put(o, &rc, " &#215; ");
			esc(o, &rc, top->gender);
		}
		PUTF(o, &rc,
		     "</b> carry sexual wording <b>%s&#215;</b> as often as %s (95%% CI "
		     "%s&#8211;%s): %s against %s, over %llu samples.</div>",
		     a, top->gender ? "other captions of that gender" : "captions overall", b, c,
		     d, e, (unsigned long long)top->rows);
	}
	put(o, &rc,
	    "<p class=\"note\">Each row is a group label (or roll-up), alone or crossed with a "
	    "gender label. Lift is the rate of any <code>sexual.*</code> label in the cell "
	    "divided by the rate among all samples of that gender (all samples for the "
	    "group alone). Red: the whole 95% interval is above 1; blue: below 1; hollow: "
	    "a small cell (fewer than the minimum samples or events), not to be read "
	    "alone.</p>");
	lift_chart(r, o, &rc);
	skew_table(r, o, &rc);

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
	    "part of its base. Odds ratios compare the cell with the rest of its gender "
	    "(Woolf log interval; 0.5 added to every cell of a table with a zero). With "
	    "weights, counts are sums of weights and interval widths use Kish's effective "
	    "sample size. Labels come from caption text only (see TAXONOMY.md); a label "
	    "rate is a rate of wording, not of images.</p>"
	    "<p>Samples labelled <code>safety.minor_sexual</code> are never written to a "
	    "manifest, whatever the policy.</p></footer>\n</main></body></html>\n");
	return rc;
}

/* ---- the before/after page of a manifest ---------------------------------- */

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
	const double W = 1040, top = 34, rowh = 30;
	struct liftaxis ax = {330, 840, 0, 0};
	double lmin = 0.5, lmax = 2;
	size_t n = 0;

	for (size_t i = 0; i < r->nskew; i++) {
		const bl_stats_skew *b = &r->skew[i];
		if (!isfinite(b->lift) || b->lift <= 0)
			continue;
		n++;
		widen(&lmin, &lmax, b);
		widen(&lmin, &lmax, bl_report_mf_after(mf, b));
	}
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
	const double W = 1040, L = 300, R = 820, top = 30, rowh = 26;
	int nn = bl_stats_nnodes(bs);
	double smax = 0.0, scale;

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
		rc = bl_report_mf_problems_html(mf, o);
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

	/* the headline: the strongest skew before, and where it went */
	for (int pass = 0; pass < 2 && !top; pass++)
		for (size_t i = 0; i < r->nskew && !top; i++)
			if (!r->skew[i].small && (pass || r->skew[i].gender) &&
			    isfinite(r->skew[i].lift_lo) && r->skew[i].lift_lo > 1)
				top = &r->skew[i];
	topa = bl_report_mf_after(mf, top);
	put(o, &rc, "<h2>Sexualised wording by group and gender</h2>");
	if (top && topa) {
		char a[32], b[32], c[32], d[32];
		fmtnum(a, sizeof a, F_FIX2, top->lift);
		fmtnum(b, sizeof b, F_FIX2, topa->lift);
		fmtnum(c, sizeof c, F_FIX2, topa->lift_lo);
		fmtnum(d, sizeof d, F_FIX2, topa->lift_hi);
		PUTF(o, &rc, "<div class=\"%s\">Captions labelled <b>",
		     topa->lift_lo > 1 ? "finding" : "good");
		esc(o, &rc, top->group);
		if (top->gender) {
			put(o, &rc, " &#215; ");
			esc(o, &rc, top->gender);
		}
		PUTF(o, &rc,
		     "</b> carried sexual wording <b>%s&#215;</b> as often as %s before; in the "
		     "manifest, <b>%s&#215;</b> (95%% CI %s&#8211;%s).</div>",
		     a, top->gender ? "other captions of that gender" : "captions overall", b, c,
		     d);
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
	    "<p>Samples labelled <code>safety.minor_sexual</code> are never written to a "
	    "manifest, whatever the policy.</p></footer>\n</main></body></html>\n");
	return rc;
}
