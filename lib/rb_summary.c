/*
 * rb_summary.c - the rebalance summary (bl_rb_summary) to JSON and back.
 *
 * The rebalancer fills a bl_rb_summary (lib/rebalance.c); this module is
 * the one place that knows its JSON form: the keys and their order
 * (manifests/FORMAT.md), null for a number that is not known, and which
 * keys belong to which kind of policy line.  manifest.json's "summary",
 * `ballast rebalance --json` and everything that reads a manifest's
 * summary back (bl_manifest_summary, the before/after report) go through
 * here, so a key is named once.
 *
 * Reading is strict where a wrong value would mislead (the top-level
 * counts must be there and be counts) and lenient elsewhere (an absent
 * number is NAN), so that a summary edited by hand is still reported,
 * with the report's cross-checks showing what no longer adds up.
 */
#include "error_int.h"
#include "rb_summary_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- release ----------------------------------------------------------- */

static void rule_release(bl_rb_rule_result *r)
{
	free(r->text);
	for (int f = 0; f < 3; f++)
		free(r->family[f]);
	for (size_t i = 0; i < r->nlabels; i++)
		free(r->labels[i].label);
	free(r->labels);
	for (size_t i = 0; i < r->nrows; i++) {
		free(r->rows[i].within);
		free(r->rows[i].label);
	}
	free(r->rows);
}

void bl_rb_summary_release(bl_rb_summary *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nchecks; i++) {
		free(s->checks[i].subject);
		free(s->checks[i].message);
	}
	free(s->checks);
	for (size_t i = 0; i < s->nrules; i++)
		rule_release(&s->rules[i]);
	free(s->rules);
	for (int side = 0; side < 3; side++) {
		for (size_t i = 0; i < s->nshares[side]; i++)
			free(s->shares[side][i].name);
		free(s->shares[side]);
	}
	for (int side = 0; side < 2; side++) {
		for (size_t i = 0; i < s->nskew[side]; i++) {
			free(s->skew[side][i].group);
			free(s->skew[side][i].gender);
		}
		free(s->skew[side]);
	}
	memset(s, 0, sizeof *s);
}

static const char *const status_names[] = {"ok", "warning", "accepted", "failed"};

const char *bl_check_status_name(int status)
{
	return status >= BL_CHECK_OK && status <= BL_CHECK_FAILED ? status_names[status] : "unknown";
}

size_t bl_rb_summary_count(const bl_rb_summary *s, int min_status)
{
	size_t n = 0;
	for (size_t i = 0; s && i < s->nchecks; i++)
		n += s->checks[i].status >= min_status;
	return n;
}

/* ---- to JSON ----------------------------------------------------------- */

static void add_num(cJSON *o, const char *k, double v)
{
	cJSON_AddItemToObject(o, k, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

static const char *const side_key[3] = {"before", "after", "kept"};

static cJSON *label_rows_json(const bl_rb_rule_result *r)
{
	cJSON *arr = cJSON_CreateArray();
	int cap = r->kind == BL_RULE_CAP;

	for (size_t j = 0; arr && j < r->nlabels; j++) {
		const bl_rb_label_row *l = &r->labels[j];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "label", l->label);
		if (cap) {
			add_num(e, "count_before", l->count_before);
			add_num(e, "count_expected", l->count_expected);
			add_num(e, "share_expected", l->target);
			add_num(e, "share_after", l->after);
			add_num(e, "weight_after", l->weight_after);
		} else {
			add_num(e, "target", l->target);
			add_num(e, "before", l->before);
			add_num(e, "after", l->after);
			add_num(e, "error", l->error);
		}
		cJSON_AddItemToArray(arr, e);
	}
	return arr;
}

static cJSON *indep_rows_json(const bl_rb_rule_result *r)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t j = 0; arr && j < r->nrows; j++) {
		const bl_rb_indep_row *x = &r->rows[j];
		cJSON *e = cJSON_CreateObject();
		char k[32];
		cJSON_AddStringToObject(e, "within", x->within);
		cJSON_AddStringToObject(e, "label", x->label);
		add_num(e, "samples", (double)x->samples);
		for (int s = 0; s < 2; s++) {
			snprintf(k, sizeof k, "rate_%s", side_key[s]);
			add_num(e, k, x->rate[s]);
			snprintf(k, sizeof k, "rate_within_%s", side_key[s]);
			add_num(e, k, x->rate_within[s]);
			snprintf(k, sizeof k, "odds_ratio_%s", side_key[s]);
			add_num(e, k, x->odds_ratio[s]);
		}
		cJSON_AddItemToArray(arr, e);
	}
	return arr;
}

static cJSON *check_json(const bl_rb_check *c)
{
	cJSON *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "check", bl_check_name(c->check));
	cJSON_AddStringToObject(e, "status", bl_check_status_name(c->status));
	cJSON_AddItemToObject(e, "line", cJSON_CreateNumber(c->line));
	if (c->subject)
		cJSON_AddStringToObject(e, "subject", c->subject);
	else
		cJSON_AddNullToObject(e, "subject");
	add_num(e, "value", c->value);
	add_num(e, "limit", c->limit);
	add_num(e, "default", c->default_limit);
	cJSON_AddItemToObject(e, "accept_line", cJSON_CreateNumber(c->accept_line));
	cJSON_AddStringToObject(e, "message", c->message ? c->message : "");
	return e;
}

static cJSON *rule_json(const bl_rb_rule_result *r)
{
	cJSON *o = cJSON_CreateObject();

	switch (r->kind) {
	case BL_RULE_TARGET:
		cJSON_AddItemToObject(o, "labels", label_rows_json(r));
		cJSON_AddStringToObject(o, "family", r->family[0] ? r->family[0] : "");
		add_num(o, "max_abs_error", r->max_abs_error);
		add_num(o, "tv_distance_before", r->tv_distance_before);
		add_num(o, "tv_distance", r->tv_distance);
		break;
	case BL_RULE_CAP:
		cJSON_AddStringToObject(o, "family", r->family[0] ? r->family[0] : "");
		add_num(o, "cap", r->cap);
		cJSON_AddItemToObject(o, "labels", label_rows_json(r));
		add_num(o, "max_abs_error", r->max_abs_error);
		break;
	case BL_RULE_INDEPENDENT: {
		cJSON *fams = cJSON_AddArrayToObject(o, "families");
		for (int f = 0; f < 3 && r->family[f]; f++)
			cJSON_AddItemToArray(fams, cJSON_CreateString(r->family[f]));
		cJSON_AddItemToObject(o, "rows", indep_rows_json(r));
		add_num(o, "max_rate_gap_before", r->max_rate_gap_before);
		add_num(o, "max_rate_gap_after", r->max_rate_gap_after);
		add_num(o, "tv_distance_before", r->tv_distance_before);
		add_num(o, "tv_distance", r->tv_distance);
		break;
	}
	default:
		add_num(o, "samples", (double)r->samples);
		break;
	}
	cJSON_AddItemToObject(o, "line", cJSON_CreateNumber(r->line));
	cJSON_AddStringToObject(o, "kind", bl_rule_kind_name(r->kind));
	cJSON_AddStringToObject(o, "text", r->text ? r->text : "");
	return o;
}

static cJSON *skew_json(const bl_rb_skew_row *rows, size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < n; i++) {
		const bl_rb_skew_row *s = &rows[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "group", s->group);
		if (s->gender)
			cJSON_AddStringToObject(e, "gender", s->gender);
		else
			cJSON_AddNullToObject(e, "gender");
		add_num(e, "rows", (double)s->rows);
		add_num(e, "n", s->n);
		add_num(e, "ess", s->ess);
		add_num(e, "events", s->events);
		add_num(e, "rate", s->rate);
		add_num(e, "rate_lo", s->rate_lo);
		add_num(e, "rate_hi", s->rate_hi);
		add_num(e, "base_rate", s->base_rate);
		add_num(e, "lift", s->lift);
		add_num(e, "odds_ratio", s->odds_ratio);
		cJSON_AddBoolToObject(e, "small", s->small);
		cJSON_AddItemToArray(arr, e);
	}
	return arr;
}

/* cJSON's builders ignore a NULL parent or item, so one check of the
 * complete tree at the end (every top-level key present) is enough. */
cJSON *bl_rb_summary_cjson(const bl_rb_summary *s)
{
	cJSON *o, *rules, *x;

	if (!s || !(o = cJSON_CreateObject()))
		return NULL;
	cJSON_AddBoolToObject(o, "ok", s->ok);
	x = cJSON_AddArrayToObject(o, "checks");
	for (size_t i = 0; x && i < s->nchecks; i++)
		cJSON_AddItemToArray(x, check_json(&s->checks[i]));
	cJSON_AddStringToObject(o, "realise", bl_realise_name(s->realise));
	add_num(o, "samples", (double)s->samples);
	add_num(o, "blocked_minor_sexual", (double)s->blocked);
	add_num(o, "dropped_by_rule", (double)s->dropped_rule);
	add_num(o, "excluded", (double)s->excluded);
	add_num(o, "written", (double)s->written);
	add_num(o, "repeated", (double)s->repeated);
	add_num(o, "copies_added", (double)s->copies);
	add_num(o, "weight_sum", s->weight_sum);
	add_num(o, "largest_weight", s->largest_weight);
	add_num(o, "smallest_weight", s->smallest_weight);
	add_num(o, "ess_before", s->ess_before);
	add_num(o, "ess_after", s->ess_after);
	add_num(o, "ess_ratio", s->ess_ratio);
	add_num(o, "scale", s->scale);
	if (s->realise == BL_REALISE_UPSAMPLE) {
		add_num(o, "max_repeat", s->max_repeat);
		add_num(o, "clipped_cells", (double)s->clipped_cells);
	}
	add_num(o, "clip_weight", s->clip_weight);
	add_num(o, "clipped_samples", (double)s->clipped_samples);
	add_num(o, "ess_floor", s->ess_floor);
	add_num(o, "ess_floor_mix", s->ess_floor_mix);
	add_num(o, "weight_ratio", s->weight_ratio);
	add_num(o, "largest_sample_share", s->largest_sample_share);
	add_num(o, "ess_written_ratio", s->ess_written_ratio);
	rules = cJSON_AddArrayToObject(o, "rules");
	for (size_t k = 0; rules && k < s->nrules; k++)
		cJSON_AddItemToArray(rules, rule_json(&s->rules[k]));
	add_num(o, "max_abs_share_error", s->max_abs_share_error);
	add_num(o, "tv_distance", s->tv_distance);
	x = cJSON_AddObjectToObject(o, "shares");
	for (int side = 0; x && side < 3; side++) {
		cJSON *sh = cJSON_CreateObject();
		for (size_t i = 0; sh && i < s->nshares[side]; i++)
			add_num(sh, s->shares[side][i].name, s->shares[side][i].share);
		cJSON_AddItemToObject(x, side_key[side], sh);
	}
	x = cJSON_AddObjectToObject(o, "skew");
	for (int side = 0; x && side < 2; side++)
		cJSON_AddItemToObject(x, side_key[side], skew_json(s->skew[side], s->nskew[side]));
	if (!x || cJSON_GetArraySize(x) != 2) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

char *bl_rb_summary_json(const bl_rb_summary *s)
{
	cJSON *o = bl_rb_summary_cjson(s);
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	return text;
}

/* ---- from JSON --------------------------------------------------------- */

struct rd {
	char *err;
	size_t errlen;
	int rc; /* BL_OK until something fails */
};

static const cJSON *jget(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static double jd(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* An int member (a line number); 0 when absent or out of range. */
static int jint(const cJSON *o, const char *k)
{
	double x = jd(o, k);
	return x >= 0 && x <= 1e9 ? (int)x : 0;
}

/* A count: a number in [0, 2^53] with no fraction.  Absent and not
 * required: 0. */
static uint64_t jcount(struct rd *d, const cJSON *o, const char *k, int required)
{
	const cJSON *v = jget(o, k);
	double x;

	if (!v && !required)
		return 0;
	x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	if (!(x >= 0 && x <= 9007199254740992.0 && x == floor(x))) {
		if (d->rc == BL_OK) {
			d->rc = BL_FAILED;
			snprintf(d->err, d->errlen, "summary: '%s' is %s", k,
				 v ? "not a count" : "missing");
		}
		return 0;
	}
	return (uint64_t)x;
}

/* A copy of string member k ("" when absent; NULL kept NULL when
 * null_ok and the member is null or absent). */
static char *jstr(struct rd *d, const cJSON *o, const char *k, int null_ok)
{
	const cJSON *v = jget(o, k);
	char *r;

	if (null_ok && !cJSON_IsString(v))
		return NULL;
	r = strdup(cJSON_IsString(v) ? v->valuestring : "");
	if (!r && d->rc == BL_OK) {
		d->rc = BL_ENOMEM;
		snprintf(d->err, d->errlen, "out of memory");
	}
	return r;
}

static void *jalloc(struct rd *d, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p && d->rc == BL_OK) {
		d->rc = BL_ENOMEM;
		snprintf(d->err, d->errlen, "out of memory");
	}
	return p;
}

static int kind_of(const char *name)
{
	for (int k = BL_RULE_DROP; k <= BL_RULE_TARGET; k++)
		if (strcmp(name, bl_rule_kind_name(k)) == 0)
			return k;
	return 0;
}

static void read_rule(struct rd *d, bl_rb_rule_result *r, const cJSON *o)
{
	const cJSON *v, *arr;
	char *kind = jstr(d, o, "kind", 0);

	r->line = jint(o, "line");
	r->kind = kind ? kind_of(kind) : 0;
	if (kind && !r->kind && d->rc == BL_OK) {
		d->rc = BL_FAILED;
		snprintf(d->err, d->errlen, "summary: unknown rule kind '%.64s'", kind);
	}
	free(kind);
	r->text = jstr(d, o, "text", 0);
	r->cap = jd(o, "cap");
	r->max_abs_error = jd(o, "max_abs_error");
	r->tv_distance = jd(o, "tv_distance");
	r->tv_distance_before = jd(o, "tv_distance_before");
	r->max_rate_gap_before = jd(o, "max_rate_gap_before");
	r->max_rate_gap_after = jd(o, "max_rate_gap_after");
	if (r->kind == BL_RULE_DROP)
		r->samples = jcount(d, o, "samples", 0);
	if (r->kind == BL_RULE_INDEPENDENT) {
		int f = 0;
		cJSON_ArrayForEach(v, jget(o, "families"))
			if (f < 3 && cJSON_IsString(v) && !(r->family[f++] = strdup(v->valuestring)))
				d->rc = BL_ENOMEM;
	} else if (r->kind == BL_RULE_CAP || r->kind == BL_RULE_TARGET) {
		r->family[0] = jstr(d, o, "family", 0);
	}
	arr = jget(o, "labels");
	if (cJSON_IsArray(arr) && (r->kind == BL_RULE_CAP || r->kind == BL_RULE_TARGET)) {
		int cap = r->kind == BL_RULE_CAP;
		r->labels = jalloc(d, (size_t)cJSON_GetArraySize(arr), sizeof *r->labels);
		cJSON_ArrayForEach(v, arr) {
			bl_rb_label_row *l;
			if (!r->labels)
				break;
			l = &r->labels[r->nlabels++];
			l->label = jstr(d, v, "label", 0);
			l->target = jd(v, cap ? "share_expected" : "target");
			l->before = cap ? NAN : jd(v, "before");
			l->after = jd(v, cap ? "share_after" : "after");
			l->error = cap ? l->after - l->target : jd(v, "error");
			l->count_before = cap ? jd(v, "count_before") : NAN;
			l->count_expected = cap ? jd(v, "count_expected") : NAN;
			l->weight_after = cap ? jd(v, "weight_after") : NAN;
		}
	}
	arr = jget(o, "rows");
	if (cJSON_IsArray(arr) && r->kind == BL_RULE_INDEPENDENT) {
		r->rows = jalloc(d, (size_t)cJSON_GetArraySize(arr), sizeof *r->rows);
		cJSON_ArrayForEach(v, arr) {
			bl_rb_indep_row *x;
			char k[32];
			if (!r->rows)
				break;
			x = &r->rows[r->nrows++];
			x->within = jstr(d, v, "within", 0);
			x->label = jstr(d, v, "label", 0);
			x->samples = jcount(d, v, "samples", 0);
			for (int s = 0; s < 2; s++) {
				snprintf(k, sizeof k, "rate_%s", side_key[s]);
				x->rate[s] = jd(v, k);
				snprintf(k, sizeof k, "rate_within_%s", side_key[s]);
				x->rate_within[s] = jd(v, k);
				snprintf(k, sizeof k, "odds_ratio_%s", side_key[s]);
				x->odds_ratio[s] = jd(v, k);
			}
		}
	}
	if (d->rc == BL_ENOMEM)
		snprintf(d->err, d->errlen, "out of memory");
}

static void read_side(struct rd *d, bl_rb_summary *s, const cJSON *o, int side)
{
	const cJSON *sh = jget(jget(o, "shares"), side_key[side]);
	const cJSON *sk = side < 2 ? jget(jget(o, "skew"), side_key[side]) : NULL, *v;

	if (cJSON_IsObject(sh)) {
		s->shares[side] = jalloc(d, (size_t)cJSON_GetArraySize(sh), sizeof **s->shares);
		for (v = sh->child; v && s->shares[side]; v = v->next) {
			bl_rb_share *x = &s->shares[side][s->nshares[side]++];
			x->share = cJSON_IsNumber(v) ? v->valuedouble : NAN;
			if (!(x->name = strdup(v->string ? v->string : "")))
				d->rc = BL_ENOMEM;
		}
	}
	if (cJSON_IsArray(sk)) {
		s->skew[side] = jalloc(d, (size_t)cJSON_GetArraySize(sk), sizeof **s->skew);
		cJSON_ArrayForEach(v, sk) {
			bl_rb_skew_row *x;
			if (!s->skew[side])
				break;
			x = &s->skew[side][s->nskew[side]++];
			x->group = jstr(d, v, "group", 0);
			x->gender = jstr(d, v, "gender", 1);
			x->rows = jcount(d, v, "rows", 0);
			x->n = jd(v, "n");
			x->ess = jd(v, "ess");
			x->events = jd(v, "events");
			x->rate = jd(v, "rate");
			x->rate_lo = jd(v, "rate_lo");
			x->rate_hi = jd(v, "rate_hi");
			x->base_rate = jd(v, "base_rate");
			x->lift = jd(v, "lift");
			x->odds_ratio = jd(v, "odds_ratio");
			x->small = cJSON_IsTrue(jget(v, "small"));
		}
	}
	if (d->rc == BL_ENOMEM)
		snprintf(d->err, d->errlen, "out of memory");
}

static int check_of(const char *name)
{
	for (int k = 0; k < BL_NCHECKS; k++)
		if (strcmp(name, bl_check_name(k)) == 0)
			return k;
	return -1;
}

static void read_checks(struct rd *d, bl_rb_summary *s, const cJSON *arr)
{
	const cJSON *v;

	if (!cJSON_IsArray(arr) || d->rc != BL_OK)
		return;
	s->checks = jalloc(d, (size_t)cJSON_GetArraySize(arr), sizeof *s->checks);
	cJSON_ArrayForEach(v, arr) {
		bl_rb_check *c;
		const cJSON *k = jget(v, "check"), *st = jget(v, "status");
		int status = BL_CHECK_FAILED;
		if (!s->checks || d->rc != BL_OK)
			break;
		c = &s->checks[s->nchecks++];
		c->check = check_of(cJSON_IsString(k) ? k->valuestring : "");
		for (int i = BL_CHECK_OK; i <= BL_CHECK_FAILED; i++)
			if (cJSON_IsString(st) && strcmp(st->valuestring, status_names[i]) == 0)
				status = i;
		/* an unknown check or status is read as failed: never as fine */
		c->status = c->check < 0 ? BL_CHECK_FAILED : status;
		c->line = jint(v, "line");
		c->subject = jstr(d, v, "subject", 1);
		c->value = jd(v, "value");
		c->limit = jd(v, "limit");
		c->default_limit = jd(v, "default");
		c->accept_line = jint(v, "accept_line");
		c->message = jstr(d, v, "message", 0);
	}
}

int bl_rb_summary_from_cjson(bl_rb_summary *s, const cJSON *o, char *err, size_t errlen)
{
	char dummy[1];
	struct rd d = {err, errlen, BL_OK};
	const cJSON *v, *rules;
	const char *realise;

	if (!err || !errlen) {
		d.err = dummy;
		d.errlen = sizeof dummy;
	}
	if (!s)
		return BL_EUSAGE;
	memset(s, 0, sizeof *s);
	if (!cJSON_IsObject(o)) {
		snprintf(d.err, d.errlen, "summary: not a JSON object");
		return BL_FAILED;
	}
	v = jget(o, "realise");
	realise = cJSON_IsString(v) ? v->valuestring : "";
	for (s->realise = BL_REALISE_WEIGHTS; s->realise <= BL_REALISE_DOWNSAMPLE; s->realise++)
		if (strcmp(realise, bl_realise_name(s->realise)) == 0)
			break;
	if (s->realise > BL_REALISE_DOWNSAMPLE) {
		d.rc = BL_FAILED;
		snprintf(d.err, d.errlen, "summary: unknown realisation '%.64s'", realise);
	}
	s->samples = jcount(&d, o, "samples", 1);
	s->blocked = jcount(&d, o, "blocked_minor_sexual", 1);
	s->dropped_rule = jcount(&d, o, "dropped_by_rule", 1);
	s->excluded = jcount(&d, o, "excluded", 1);
	s->written = jcount(&d, o, "written", 1);
	s->repeated = jcount(&d, o, "repeated", 1);
	s->copies = jcount(&d, o, "copies_added", 1);
	s->weight_sum = jd(o, "weight_sum");
	s->largest_weight = jd(o, "largest_weight");
	s->smallest_weight = jd(o, "smallest_weight");
	s->ess_before = jd(o, "ess_before");
	s->ess_after = jd(o, "ess_after");
	s->ess_ratio = jd(o, "ess_ratio");
	s->scale = jd(o, "scale");
	s->max_repeat = jd(o, "max_repeat");
	s->clipped_cells = jcount(&d, o, "clipped_cells", 0);
	s->clip_weight = jd(o, "clip_weight");
	s->clipped_samples = jcount(&d, o, "clipped_samples", 0);
	s->ess_floor = jd(o, "ess_floor");
	s->ess_floor_mix = jd(o, "ess_floor_mix");
	s->weight_ratio = jd(o, "weight_ratio");
	s->largest_sample_share = jd(o, "largest_sample_share");
	s->ess_written_ratio = jd(o, "ess_written_ratio");
	s->max_abs_share_error = jd(o, "max_abs_share_error");
	s->tv_distance = jd(o, "tv_distance");
	rules = jget(o, "rules");
	if (cJSON_IsArray(rules) && d.rc == BL_OK) {
		s->rules = jalloc(&d, (size_t)cJSON_GetArraySize(rules), sizeof *s->rules);
		cJSON_ArrayForEach(v, rules) {
			if (!s->rules || d.rc != BL_OK)
				break;
			read_rule(&d, &s->rules[s->nrules++], v);
		}
	}
	for (int side = 0; side < 3 && d.rc == BL_OK; side++)
		read_side(&d, s, o, side);
	read_checks(&d, s, jget(o, "checks"));
	v = jget(o, "ok");
	/* a summary written before the checks existed has no "ok" */
	s->ok = v ? cJSON_IsTrue(v) : 1;
	if (s->ok && bl_rb_summary_count(s, BL_CHECK_FAILED))
		s->ok = 0; /* "ok" edited by hand does not hide a failed check */
	if (d.rc != BL_OK)
		bl_rb_summary_release(s);
	return d.rc;
}

int bl_rb_summary_parse(bl_rb_summary *s, const char *text, size_t len, char *err,
			size_t errlen)
{
	cJSON *o;
	int rc;

	if (!s || (!text && len))
		return BL_EUSAGE;
	memset(s, 0, sizeof *s);
	if (!(o = cJSON_ParseWithLength(text ? text : "", len))) {
		if (err && errlen)
			bl_error_set(err, errlen, "summary: not valid JSON");
		return BL_FAILED;
	}
	rc = bl_rb_summary_from_cjson(s, o, err, errlen);
	cJSON_Delete(o);
	return rc;
}
