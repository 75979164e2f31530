/*
 * cmd_eval.c - "ballast eval": precision and recall of rule files on a
 * hand-labelled caption set (shared/data/labels/dev.tsv, the splits in
 * tests/eval/labels/ and their kin).
 *
 * The labelled file is a TSV with a header line and the columns source,
 * row, caption, labels (comma separated, sorted, empty for none), note.
 * Every caption is tagged and compared with its labels two ways: per label
 * (exact names) and per family, scored as the labelled set's README says:
 *   sexual  one decision per caption: any sexual.* label
 *   group   labels rolled up to group.asian / black / white / latino /
 *           middle_eastern / indigenous (group.asian.east counts as asian)
 *   gender  gender.female and gender.male
 *   age     age.minor
 *   attire  attire.swimwear and attire.underwear (for information)
 * Labels roll up to the family's keys by name (group.asian.east is
 * group.asian, attire.underwear.x is attire.underwear); a label under none
 * of them (attire.lingerie, which implies attire.underwear) does not count
 * in the family.  Every precision and recall comes with its Wilson 95%
 * interval; "-" when nothing was predicted (precision) or expected
 * (recall).  With --by source the same table follows for each value of
 * the source column.
 *
 * A label the file cannot judge is not scored: a predicted label has a
 * line of its own when it is one of TAXONOMY.md's labels (taxonomy[]
 * below, which every labelled file judges), when the file's labels use
 * that exact name somewhere, or when its family is none of TAXONOMY.md's
 * and the file's labels use that family.  Others (text.* and caption.*
 * facts, attire.lingerie) are listed as not scored, with the number of
 * captions they fired on, and count as neither right nor wrong; --errors
 * leaves them out too.
 */
#include "alloc_int.h"
#include "tools.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_eval[] =
	"usage: ballast eval [-r RULES]... [--by source] [--json] [--errors] LABELLED.tsv\n"
	"\n"
	"Tags the captions of a labelled TSV (columns source, row, caption,\n"
	"labels, note; a header line) and prints precision and recall, each with\n"
	"its Wilson 95% interval, and support per label and per family (sexual:\n"
	"any sexual.* per caption; group: rolled up to group.asian/black/white/\n"
	"latino/middle_eastern/indigenous; gender: female, male; age: age.minor;\n"
	"attire: swimwear, underwear).  A label has a line of its own when it is\n"
	"one of TAXONOMY.md's or the file uses it; others (text.*, caption.*,\n"
	"attire.lingerie) are listed as not scored, and --errors leaves them out.\n"
	"\n"
	"  -r, --rules RULES  a rule file or a directory (repeatable; default:\n"
	"                     the shipped filters)\n"
	"  --by source        also print the table for each source (first column)\n"
	"  --json             print the scores as one JSON object\n"
	"  --errors           also list the captions whose labels differ\n"
	"\n"
	"Table lines read: kind name precision recall support tp fp fn p_lo p_hi\n"
	"r_lo r_hi source, kind being 'label' or 'family', source '*' for the\n"
	"whole file.\n";

#define MAX_NAMES 64
#define KEY_LEN 64

typedef struct score {
	char name[KEY_LEN];
	long tp, fp, fn;
} score;

typedef struct table {
	score *v;
	size_t n, a;
} table;

static score *table_get(table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	if (BL_ALLOC_GROW(t->v, t->n + 1, t->a) != BL_OK)
		return NULL;
	memset(&t->v[t->n], 0, sizeof t->v[t->n]);
	snprintf(t->v[t->n].name, KEY_LEN, "%s", name);
	return &t->v[t->n++];
}

static int cmp_score(const void *a, const void *b)
{
	return strcmp(((const score *)a)->name, ((const score *)b)->name);
}

/* Sort a table by name (an empty table may have no array at all). */
static void table_sort(table *t)
{
	if (t->n > 1)
		qsort(t->v, t->n, sizeof *t->v, cmp_score);
}

/* A small set of short names. */
typedef struct nameset {
	char v[MAX_NAMES][KEY_LEN];
	int n;
} nameset;

static int ns_has(const nameset *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return 1;
	return 0;
}

static void ns_add(nameset *s, const char *name)
{
	if (!name || ns_has(s, name) || s->n >= MAX_NAMES)
		return;
	snprintf(s->v[s->n++], KEY_LEN, "%s", name);
}

/* The family key a label scores under, written to key; 0 when none. */
static int family_key(const char *fam, const char *name, char key[KEY_LEN])
{
	if (!strcmp(fam, "sexual")) {
		if (!bl_label_in_family(name, "sexual"))
			return 0;
		snprintf(key, KEY_LEN, "sexual");
		return 1;
	}
	if (!strcmp(fam, "group")) {
		const char *dot;
		if (!bl_label_in_family(name, "group") || !name[5])
			return 0;
		dot = strchr(name + 6, '.');
		snprintf(key, KEY_LEN, "%.*s",
			 (int)(dot ? (size_t)(dot - name) : strlen(name)), name);
		return 1;
	}
	if (!strcmp(fam, "gender")) {
		if (bl_label_in_family(name, "gender.female"))
			snprintf(key, KEY_LEN, "gender.female");
		else if (bl_label_in_family(name, "gender.male"))
			snprintf(key, KEY_LEN, "gender.male");
		else
			return 0;
		return 1;
	}
	if (!strcmp(fam, "age")) {
		if (!bl_label_in_family(name, BL_LABEL_MINOR))
			return 0;
		snprintf(key, KEY_LEN, BL_LABEL_MINOR);
		return 1;
	}
	if (!strcmp(fam, "attire")) {
		if (bl_label_in_family(name, "attire.swimwear"))
			snprintf(key, KEY_LEN, "attire.swimwear");
		else if (bl_label_in_family(name, "attire.underwear"))
			snprintf(key, KEY_LEN, "attire.underwear");
		else
			return 0;
		return 1;
	}
	return 0;
}

/* Labelled files list matched labels only; the derived label follows from
 * them exactly as the tagger derives it. */
static void derive_minor_sexual(nameset *gold)
{
	int sides = 0;
	for (int i = 0; i < gold->n; i++)
		sides |= bl_label_safety(gold->v[i]);
	if (bl_label_blocked(sides & ~BL_SAFETY_BLOCKED))
		ns_add(gold, BL_LABEL_MINOR_SEXUAL);
}

static const char *const families[] = {"sexual", "group", "gender", "age", "attire"};
#define NFAM (sizeof families / sizeof families[0])

/* The labels of TAXONOMY.md (v1): every labelled file judges them. */
static const char *const taxonomy[] = {
	"sexual.explicit", "sexual.suggestive", "attire.swimwear",
	"attire.underwear", "gender.female", "gender.male", BL_LABEL_MINOR,
	"group.asian", "group.asian.east", "group.asian.southeast",
	"group.asian.south", "group.black", "group.white", "group.latino",
	"group.middle_eastern", "group.indigenous", "skin.dark", "skin.light",
	"stereotype.exoticising", BL_LABEL_MINOR_SEXUAL,
};
#define NTAXONOMY (sizeof taxonomy / sizeof taxonomy[0])

/* The top-level family of a label: its name up to the first dot. */
static void top_family(const char *name, char out[KEY_LEN])
{
	const char *dot = strchr(name, '.');
	snprintf(out, KEY_LEN, "%.*s", (int)(dot ? (size_t)(dot - name) : strlen(name)), name);
}

/* Whether name is one of TAXONOMY.md's labels; with fam set, whether
 * name's family is one of theirs. */
static int in_taxonomy(const char *name, int fam)
{
	char top[KEY_LEN], t[KEY_LEN];
	if (fam)
		top_family(name, top);
	for (size_t i = 0; i < NTAXONOMY; i++) {
		if (!fam && !strcmp(name, taxonomy[i]))
			return 1;
		if (fam) {
			top_family(taxonomy[i], t);
			if (!strcmp(top, t))
				return 1;
		}
	}
	return 0;
}

/* What the labelled file uses: its labels and their families. */
typedef struct gold_use {
	nameset names;
	nameset tops;
} gold_use;

/* The scores of one source (or of the whole file, name "*"). */
typedef struct tally {
	char name[KEY_LEN];
	unsigned long ncaptions;
	table labels;
	table fams[NFAM];
} tally;

typedef struct tallies {
	tally *v;
	size_t n, a;
} tallies;

static tally *tally_get(tallies *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	if (BL_ALLOC_GROW(t->v, t->n + 1, t->a) != BL_OK)
		return NULL;
	memset(&t->v[t->n], 0, sizeof t->v[t->n]);
	snprintf(t->v[t->n].name, KEY_LEN, "%s", name);
	return &t->v[t->n++];
}

static int cmp_tally(const void *a, const void *b)
{
	return strcmp(((const tally *)a)->name, ((const tally *)b)->name);
}

static void tallies_free(tallies *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].labels.v);
		for (size_t fi = 0; fi < NFAM; fi++)
			free(t->v[i].fams[fi].v);
	}
	free(t->v);
}

/* Count pred against gold into t: tp for each predicted name that is
 * expected, fp for the others, fn for each expected name not predicted.
 * BL_OK or BL_ENOMEM. */
static int count_sets(table *t, const nameset *gold, const nameset *pred)
{
	for (int i = 0; i < pred->n; i++) {
		score *s = table_get(t, pred->v[i]);
		if (!s)
			return BL_ENOMEM;
		if (ns_has(gold, pred->v[i]))
			s->tp++;
		else
			s->fp++;
	}
	for (int i = 0; i < gold->n; i++) {
		score *s;
		if (ns_has(pred, gold->v[i]))
			continue;
		s = table_get(t, gold->v[i]);
		if (!s)
			return BL_ENOMEM;
		s->fn++;
	}
	return BL_OK;
}

/* Score one caption's labels into a tally, per label and per family. */
static int tally_add(tally *ta, const nameset *gold, const nameset *pred)
{
	ta->ncaptions++;
	if (count_sets(&ta->labels, gold, pred) != BL_OK)
		return BL_ENOMEM;
	for (size_t fi = 0; fi < NFAM; fi++) {
		nameset gk, pk;
		char key[KEY_LEN];
		gk.n = pk.n = 0;
		for (int i = 0; i < gold->n; i++)
			if (family_key(families[fi], gold->v[i], key))
				ns_add(&gk, key);
		for (int i = 0; i < pred->n; i++)
			if (family_key(families[fi], pred->v[i], key))
				ns_add(&pk, key);
		if (count_sets(&ta->fams[fi], &gk, &pk) != BL_OK)
			return BL_ENOMEM;
	}
	return BL_OK;
}

/* A ratio and its Wilson 95% interval; ok = 0 when den is 0. */
typedef struct ratio {
	int ok;
	double v, lo, hi;
} ratio;

static ratio ratio_of(long num, long den)
{
	ratio r = {0, 0, 0, 0};
	if (den > 0) {
		r.ok = 1;
		r.v = (double)num / (double)den;
		bl_stats_wilson(r.v, (double)den, 1.96, &r.lo, &r.hi);
	}
	return r;
}

static void fmt3(char *out, size_t n, int ok, double v)
{
	if (ok)
		snprintf(out, n, "%.3f", v);
	else
		snprintf(out, n, "-");
}

static void print_row(const char *kind, const score *s, const char *source)
{
	ratio p = ratio_of(s->tp, s->tp + s->fp), r = ratio_of(s->tp, s->tp + s->fn);
	char c[6][16];
	fmt3(c[0], sizeof c[0], p.ok, p.v);
	fmt3(c[1], sizeof c[1], r.ok, r.v);
	fmt3(c[2], sizeof c[2], p.ok, p.lo);
	fmt3(c[3], sizeof c[3], p.ok, p.hi);
	fmt3(c[4], sizeof c[4], r.ok, r.lo);
	fmt3(c[5], sizeof c[5], r.ok, r.hi);
	printf("%-7s %-28s %-9s %-9s %7ld %5ld %5ld %5ld %-5s %-5s %-5s %-5s %s\n", kind,
	       s->name, c[0], c[1], s->tp + s->fn, s->tp, s->fp, s->fn, c[2], c[3], c[4], c[5],
	       source);
}

static cJSON *json_row(const score *s)
{
	ratio p = ratio_of(s->tp, s->tp + s->fp), r = ratio_of(s->tp, s->tp + s->fn);
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	if (p.ok) {
		double ci[2] = {p.lo, p.hi};
		cJSON_AddNumberToObject(o, "precision", p.v);
		cJSON_AddItemToObject(o, "precision_ci", cJSON_CreateDoubleArray(ci, 2));
	} else {
		cJSON_AddNullToObject(o, "precision");
		cJSON_AddNullToObject(o, "precision_ci");
	}
	if (r.ok) {
		double ci[2] = {r.lo, r.hi};
		cJSON_AddNumberToObject(o, "recall", r.v);
		cJSON_AddItemToObject(o, "recall_ci", cJSON_CreateDoubleArray(ci, 2));
	} else {
		cJSON_AddNullToObject(o, "recall");
		cJSON_AddNullToObject(o, "recall_ci");
	}
	cJSON_AddNumberToObject(o, "support", (double)(s->tp + s->fn));
	cJSON_AddNumberToObject(o, "tp", (double)s->tp);
	cJSON_AddNumberToObject(o, "fp", (double)s->fp);
	cJSON_AddNumberToObject(o, "fn", (double)s->fn);
	return o;
}

/* The family totals of a tally, in the order of families[]. */
static void family_totals(const tally *ta, score tot[NFAM])
{
	for (size_t fi = 0; fi < NFAM; fi++) {
		memset(&tot[fi], 0, sizeof tot[fi]);
		snprintf(tot[fi].name, KEY_LEN, "%s", families[fi]);
		for (size_t i = 0; i < ta->fams[fi].n; i++) {
			tot[fi].tp += ta->fams[fi].v[i].tp;
			tot[fi].fp += ta->fams[fi].v[i].fp;
			tot[fi].fn += ta->fams[fi].v[i].fn;
		}
	}
}

/* Whether a label's row is scored, given the labels the file uses. */
static int label_scored(const char *name, const gold_use *g)
{
	char top[KEY_LEN];
	if (in_taxonomy(name, 0) || ns_has(&g->names, name))
		return 1;
	top_family(name, top);
	return !in_taxonomy(name, 1) && ns_has(&g->tops, top);
}

static void print_tally(tally *ta, const gold_use *gold_tops)
{
	score tot[NFAM];
	table_sort(&ta->labels);
	for (size_t i = 0; i < ta->labels.n; i++)
		if (label_scored(ta->labels.v[i].name, gold_tops))
			print_row("label", &ta->labels.v[i], ta->name);
	family_totals(ta, tot);
	for (size_t fi = 0; fi < NFAM; fi++)
		print_row("family", &tot[fi], ta->name);
}

/* {"captions": n, "labels": {...}, "families": {...}} of a tally. */
static cJSON *json_tally(tally *ta, const gold_use *gold_tops)
{
	cJSON *o = cJSON_CreateObject(), *l, *f;
	score tot[NFAM];
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "captions", (double)ta->ncaptions);
	l = cJSON_AddObjectToObject(o, "labels");
	f = cJSON_AddObjectToObject(o, "families");
	if (!l || !f) {
		cJSON_Delete(o);
		return NULL;
	}
	table_sort(&ta->labels);
	for (size_t i = 0; i < ta->labels.n; i++)
		if (label_scored(ta->labels.v[i].name, gold_tops))
			cJSON_AddItemToObject(l, ta->labels.v[i].name, json_row(&ta->labels.v[i]));
	family_totals(ta, tot);
	for (size_t fi = 0; fi < NFAM; fi++)
		cJSON_AddItemToObject(f, tot[fi].name, json_row(&tot[fi]));
	return o;
}

/* Split a comma-separated label list (modified in place) into a set. */
static void parse_labels(char *s, nameset *out)
{
	char *tok, *save = NULL;
	out->n = 0;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (*tok)
			ns_add(out, tok);
	}
}

/* Join a set's names with commas into out (at most n bytes). */
static void join_names(const nameset *ns, char *out, size_t n)
{
	size_t k = 0;
	out[0] = '\0';
	for (int i = 0; i < ns->n && k < n; i++)
		k += (size_t)snprintf(out + k, n - k, "%s%s", i ? "," : "", ns->v[i]);
}

/* Remember a caption whose labels differ from the file's (errors[],
 * printed once the file's labels are all known): "source:row", the
 * labels expected, those predicted, the caption, tab separated.
 * BL_OK or BL_ENOMEM. */
static int keep_error(bl_strlist *errors, const char *src, const char *row,
		      const char *caption, const nameset *gold, const nameset *pred)
{
	char g[MAX_NAMES * KEY_LEN], p[MAX_NAMES * KEY_LEN];
	bl_buf b;
	int rc, diff = 0;

	for (int i = 0; i < pred->n && !diff; i++)
		diff = !ns_has(gold, pred->v[i]);
	for (int i = 0; i < gold->n && !diff; i++)
		diff = !ns_has(pred, gold->v[i]);
	if (!diff)
		return BL_OK;
	join_names(gold, g, sizeof g);
	join_names(pred, p, sizeof p);
	bl_buf_init(&b, 0);
	rc = bl_buf_addf(&b, "%s:%s\t%s\t%s\t%s", src, row, g, p, caption);
	if (rc == BL_OK)
		rc = bl_strlist_add(errors, b.buf);
	bl_buf_release(&b);
	return rc == BL_OK ? BL_OK : BL_ENOMEM;
}

/* Print a kept error: "error SOURCE:ROW<TAB>-missing +extra<TAB>caption",
 * leaving out the labels the file does not score; nothing when only
 * those differ. */
static void print_error(char *rec, const gold_use *g)
{
	char *f[4] = {rec, NULL, NULL, NULL};
	nameset gold, pred;
	int c = 0;

	for (int k = 1; k < 4; k++) {
		f[k] = strchr(f[k - 1], '\t');
		if (!f[k])
			return;
		*f[k]++ = '\0';
	}
	parse_labels(f[1], &gold);
	parse_labels(f[2], &pred);
	for (int i = 0; i < gold.n; i++)
		c += !ns_has(&pred, gold.v[i]);
	for (int i = 0; i < pred.n; i++)
		c += !ns_has(&gold, pred.v[i]) && label_scored(pred.v[i], g);
	if (!c)
		return;
	printf("error   %s\t", f[0]);
	c = 0;
	for (int i = 0; i < gold.n; i++)
		if (!ns_has(&pred, gold.v[i]))
			printf("%s-%s", c++ ? "," : "", gold.v[i]);
	putchar(' ');
	c = 0;
	for (int i = 0; i < pred.n; i++)
		if (!ns_has(&gold, pred.v[i]) && label_scored(pred.v[i], g))
			printf("%s+%s", c++ ? "," : "", pred.v[i]);
	printf("\t%s\n", f[3]);
}

int cmd_eval(int argc, char **argv)
{
	bl_strlist rules;
	bl_ruleset *rs = NULL;
	bl_tagger *tg = NULL;
	const char *path = NULL;
	FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	int json = 0, errors = 0, by_source = 0, problems = 0;
	tallies ts = {0};
	gold_use gold_tops = {.names.n = 0, .tops.n = 0};
	bl_strlist errs;
	table unscored = {0};
	int rc = EXIT_FATAL;

	/* a filled audit sheet (ballast audit) is scored by cmd_audit.c */
	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-' && bl_audit_sniff(argv[i]))
			return cmd_audit_eval(argc, argv);
	bl_strlist_init(&rules);
	bl_strlist_init(&errs);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-r") || !strcmp(a, "--rules")) {
			if (i + 1 >= argc) {
				rc = tool_usage_error(usage_eval, "%s needs a file or directory", a);
				goto out;
			}
			if (bl_strlist_add(&rules, argv[++i]) != BL_OK)
				goto nomem;
		} else if (!strcmp(a, "--by")) {
			if (i + 1 >= argc || strcmp(argv[i + 1], "source")) {
				rc = tool_usage_error(usage_eval, "--by takes 'source'");
				goto out;
			}
			by_source = 1;
			i++;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--errors")) {
			errors = 1;
		} else if (a[0] == '-' && a[1]) {
			rc = tool_usage_error(usage_eval, "unknown option '%s'", a);
			goto out;
		} else if (!path) {
			path = a;
		} else {
			rc = tool_usage_error(usage_eval, "one labelled file only");
			goto out;
		}
	}
	if (!path) {
		rc = tool_usage_error(usage_eval, "which labelled file?");
		goto out;
	}
	f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f) {
		tool_err("cannot open '%s': %m", path);
		goto out;
	}
	rs = tool_load_rules(&rules);
	if (!rs)
		goto out;
	tg = bl_tagger_new(rs);
	if (!tg || !tally_get(&ts, "*"))
		goto nomem;

	while ((n = getline(&line, &cap, f)) >= 0) {
		char *fld[5] = {0};
		nameset gold, pred;
		bl_tag_input in;
		bl_labelset ls;
		tally *src;
		int k = 0, trc;
		char *p = line;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (lineno == 1 && !strncmp(line, "source\t", 7))
			continue;
		if (n == 0)
			continue;
		fld[k++] = p;
		while (k < 5 && (p = strchr(p, '\t')) != NULL) {
			*p++ = '\0';
			fld[k++] = p;
		}
		if (k < 4) {
			tool_err("%s:%lu: expected source, row, caption, labels, note",
				 path, lineno);
			problems = 1;
			continue;
		}
		parse_labels(fld[3], &gold);
		derive_minor_sexual(&gold);
		for (int i = 0; i < gold.n; i++) {
			char top[KEY_LEN];
			top_family(gold.v[i], top);
			ns_add(&gold_tops.tops, top);
			ns_add(&gold_tops.names, gold.v[i]);
		}
		memset(&in, 0, sizeof in);
		in.caption = fld[2];
		in.caption_len = strlen(fld[2]);
		trc = bl_tagger_tag(tg, &in, &ls);
		if (trc != BL_OK) {
			tool_err("%s:%lu: %s", path, lineno, bl_tagger_errmsg(tg));
			problems = 1;
		}
		pred.n = 0;
		for (int i = 0; i < bl_ruleset_nlabels(rs); i++)
			if (bl_labelset_has(&ls, i))
				ns_add(&pred, bl_ruleset_label(rs, i));

		if (tally_add(&ts.v[0], &gold, &pred) != BL_OK)
			goto nomem;
		if (by_source) {
			src = tally_get(&ts, fld[0]);
			if (!src || tally_add(src, &gold, &pred) != BL_OK)
				goto nomem;
		}
		if (errors && !json &&
		    keep_error(&errs, fld[0], fld[1], fld[2], &gold, &pred) != BL_OK)
			goto nomem;
	}
	if (ferror(f)) {
		tool_err("error reading '%s'", path);
		goto out;
	}

	for (size_t i = 0; i < errs.n; i++)
		print_error(errs.items[i], &gold_tops);

	/* predicted labels the file does not judge */
	for (size_t i = 0; i < ts.v[0].labels.n; i++) {
		const score *s = &ts.v[0].labels.v[i];
		score *u;
		if (label_scored(s->name, &gold_tops))
			continue;
		u = table_get(&unscored, s->name);
		if (!u)
			goto nomem;
		u->fp = s->fp;
	}
	table_sort(&unscored);
	if (ts.n > 2)
		qsort(ts.v + 1, ts.n - 1, sizeof *ts.v, cmp_tally);

	if (json) {
		cJSON *o = cJSON_CreateObject(), *x, *u;
		char *txt;
		if (!o)
			goto nomem;
		cJSON_AddStringToObject(o, "file", path);
		cJSON_AddNumberToObject(o, "captions", (double)ts.v[0].ncaptions);
		cJSON_AddStringToObject(o, "rules_digest", bl_ruleset_digest(rs));
		x = json_tally(&ts.v[0], &gold_tops);
		if (!x) {
			cJSON_Delete(o);
			goto nomem;
		}
		cJSON_AddItemToObject(o, "labels", cJSON_DetachItemFromObject(x, "labels"));
		cJSON_AddItemToObject(o, "families", cJSON_DetachItemFromObject(x, "families"));
		cJSON_Delete(x);
		u = cJSON_AddObjectToObject(o, "unscored");
		for (size_t i = 0; u && i < unscored.n; i++)
			cJSON_AddNumberToObject(u, unscored.v[i].name, (double)unscored.v[i].fp);
		if (by_source) {
			cJSON *srcs = cJSON_AddObjectToObject(o, "sources");
			for (size_t i = 1; srcs && i < ts.n; i++)
				cJSON_AddItemToObject(srcs, ts.v[i].name,
						      json_tally(&ts.v[i], &gold_tops));
		}
		txt = cJSON_Print(o);
		cJSON_Delete(o);
		if (tool_put_json(txt) != BL_OK) {
			cJSON_free(txt);
			goto nomem;
		}
		cJSON_free(txt);
	} else {
		printf("# %lu captions from %s; rules %.16s\n", ts.v[0].ncaptions, path,
		       bl_ruleset_digest(rs));
		printf("# intervals: Wilson 95%%; '-' where nothing was predicted (precision) "
		       "or expected (recall)\n");
		if (unscored.n) {
			printf("# not scored (labels the file does not judge):");
			for (size_t i = 0; i < unscored.n; i++)
				printf(" %s=%ld", unscored.v[i].name, unscored.v[i].fp);
			printf("\n");
		}
		printf("%-7s %-28s %-9s %-9s %7s %5s %5s %5s %-5s %-5s %-5s %-5s %s\n", "kind",
		       "name", "precision", "recall", "support", "tp", "fp", "fn", "p_lo", "p_hi",
		       "r_lo", "r_hi", "source");
		for (size_t i = 0; i < ts.n; i++) {
			if (i > 0)
				printf("# source %s: %lu captions\n", ts.v[i].name,
				       ts.v[i].ncaptions);
			print_tally(&ts.v[i], &gold_tops);
		}
	}
	rc = problems ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD;
	goto out;
nomem:
	tool_err("out of memory");
	rc = EXIT_FATAL;
out:
	if (f && f != stdin)
		fclose(f);
	free(line);
	free(unscored.v);
	tallies_free(&ts);
	bl_tagger_free(tg);
	bl_ruleset_free(rs);
	bl_strlist_release(&rules);
	bl_strlist_release(&errs);
	return rc == EXIT_FATAL || rc == EXIT_USAGE ? rc : tool_finish(rc);
}
