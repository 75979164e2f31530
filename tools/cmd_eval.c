/*
 * cmd_eval.c - "ballast eval": precision and recall of rule files on a
 * hand-labelled caption set (shared/data/labels/dev.tsv and its kin).
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
 * plus attire (swimwear, underwear) for information.  Precision is "-"
 * when nothing was predicted, recall "-" when nothing was expected.
 */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_eval[] =
	"usage: ballast eval [-r RULES]... [--json] [--errors] LABELLED.tsv\n"
	"\n"
	"Tags the captions of a labelled TSV (columns source, row, caption,\n"
	"labels, note; a header line) and prints precision, recall and support\n"
	"per label and per family (sexual: any sexual.* per caption; group:\n"
	"rolled up to group.asian/black/white/latino/middle_eastern/indigenous;\n"
	"gender: female, male; age: age.minor; attire).\n"
	"\n"
	"  -r, --rules RULES  a rule file or a directory (repeatable; default:\n"
	"                     the shipped filters)\n"
	"  --json             print the scores as one JSON object\n"
	"  --errors           also list the captions whose labels differ\n"
	"\n"
	"Table lines read: kind name precision recall support tp fp fn, kind\n"
	"being 'label' or 'family'.\n";

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
	if (t->n == t->a) {
		size_t na = t->a ? t->a * 2 : 32;
		score *v = realloc(t->v, na * sizeof *v);
		if (!v)
			return NULL;
		t->v = v;
		t->a = na;
	}
	memset(&t->v[t->n], 0, sizeof t->v[t->n]);
	snprintf(t->v[t->n].name, KEY_LEN, "%s", name);
	return &t->v[t->n++];
}

static int cmp_score(const void *a, const void *b)
{
	return strcmp(((const score *)a)->name, ((const score *)b)->name);
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

static int has_prefix(const char *name, const char *fam)
{
	size_t n = strlen(fam);
	return strncmp(name, fam, n) == 0 && (name[n] == '\0' || name[n] == '.');
}

/* The family key a label scores under, written to key; 0 when none. */
static int family_key(const char *fam, const char *name, char key[KEY_LEN])
{
	if (!strcmp(fam, "sexual")) {
		if (!has_prefix(name, "sexual"))
			return 0;
		snprintf(key, KEY_LEN, "sexual");
		return 1;
	}
	if (!strcmp(fam, "group")) {
		const char *dot;
		if (!has_prefix(name, "group") || !name[5])
			return 0;
		dot = strchr(name + 6, '.');
		snprintf(key, KEY_LEN, "%.*s",
			 (int)(dot ? (size_t)(dot - name) : strlen(name)), name);
		return 1;
	}
	if (!strcmp(fam, "gender")) {
		if (has_prefix(name, "gender.female"))
			snprintf(key, KEY_LEN, "gender.female");
		else if (has_prefix(name, "gender.male"))
			snprintf(key, KEY_LEN, "gender.male");
		else
			return 0;
		return 1;
	}
	if (!strcmp(fam, "age")) {
		if (!has_prefix(name, "age.minor"))
			return 0;
		snprintf(key, KEY_LEN, "age.minor");
		return 1;
	}
	if (!strcmp(fam, "attire")) {
		if (!has_prefix(name, "attire") || !name[6])
			return 0;
		snprintf(key, KEY_LEN, "%s", name);
		return 1;
	}
	return 0;
}

/* Labelled files list matched labels only; the derived label follows from
 * them exactly as the tagger derives it. */
static void derive_minor_sexual(nameset *gold)
{
	int minor = 0, sexual = 0;
	for (int i = 0; i < gold->n; i++) {
		minor |= has_prefix(gold->v[i], "age.minor");
		sexual |= has_prefix(gold->v[i], "sexual");
	}
	if (minor && sexual)
		ns_add(gold, "safety.minor_sexual");
}

static const char *const families[] = {"sexual", "group", "gender", "age", "attire"};
#define NFAM (sizeof families / sizeof families[0])

static void fmt_ratio(char *out, size_t n, long num, long den)
{
	if (den == 0)
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%.3f", (double)num / (double)den);
}

static void print_row(const char *kind, const score *s, int json, int *first)
{
	char p[16], r[16];
	fmt_ratio(p, sizeof p, s->tp, s->tp + s->fp);
	fmt_ratio(r, sizeof r, s->tp, s->tp + s->fn);
	if (json) {
		printf("%s\n    \"%s\": {\"precision\": %s, \"recall\": %s, "
		       "\"support\": %ld, \"tp\": %ld, \"fp\": %ld, \"fn\": %ld}",
		       *first ? "" : ",", s->name, p[0] == '-' ? "null" : p,
		       r[0] == '-' ? "null" : r, s->tp + s->fn, s->tp, s->fp, s->fn);
		*first = 0;
	} else {
		printf("%-7s %-28s %-9s %-9s %7ld %5ld %5ld %5ld\n", kind, s->name,
		       p, r, s->tp + s->fn, s->tp, s->fp, s->fn);
	}
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
	unsigned long lineno = 0, ncaptions = 0;
	int json = 0, errors = 0, problems = 0;
	table labels = {0}, fams[NFAM];
	int rc = EXIT_FATAL;

	/* a filled audit sheet (ballast audit) is scored by cmd_audit.c */
	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-' && bl_audit_sniff(argv[i]))
			return cmd_audit_eval(argc, argv);
	memset(fams, 0, sizeof fams);
	bl_strlist_init(&rules);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-r") || !strcmp(a, "--rules")) {
			if (i + 1 >= argc) {
				rc = tool_usage_error(usage_eval, "%s needs a file or directory", a);
				goto out;
			}
			if (bl_strlist_add(&rules, argv[++i]) != BL_OK)
				goto nomem;
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
	if (!tg)
		goto nomem;

	while ((n = getline(&line, &cap, f)) >= 0) {
		char *fld[5] = {0};
		nameset gold, pred;
		bl_tag_input in;
		bl_labelset ls;
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
		ncaptions++;
		parse_labels(fld[3], &gold);
		derive_minor_sexual(&gold);
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

		/* per label, exact names */
		for (int i = 0; i < pred.n; i++) {
			score *s = table_get(&labels, pred.v[i]);
			if (!s)
				goto nomem;
			if (ns_has(&gold, pred.v[i]))
				s->tp++;
			else
				s->fp++;
		}
		for (int i = 0; i < gold.n; i++) {
			score *s;
			if (ns_has(&pred, gold.v[i]))
				continue;
			s = table_get(&labels, gold.v[i]);
			if (!s)
				goto nomem;
			s->fn++;
		}
		/* per family, rolled up */
		for (size_t fi = 0; fi < NFAM; fi++) {
			nameset gk, pk;
			char key[KEY_LEN];
			gk.n = pk.n = 0;
			for (int i = 0; i < gold.n; i++)
				if (family_key(families[fi], gold.v[i], key))
					ns_add(&gk, key);
			for (int i = 0; i < pred.n; i++)
				if (family_key(families[fi], pred.v[i], key))
					ns_add(&pk, key);
			for (int i = 0; i < pk.n; i++) {
				score *s = table_get(&fams[fi], pk.v[i]);
				if (!s)
					goto nomem;
				if (ns_has(&gk, pk.v[i]))
					s->tp++;
				else
					s->fp++;
			}
			for (int i = 0; i < gk.n; i++) {
				score *s;
				if (ns_has(&pk, gk.v[i]))
					continue;
				s = table_get(&fams[fi], gk.v[i]);
				if (!s)
					goto nomem;
				s->fn++;
			}
		}
		if (errors && !json) {
			int diff = 0;
			for (int i = 0; i < pred.n && !diff; i++)
				diff = !ns_has(&gold, pred.v[i]);
			for (int i = 0; i < gold.n && !diff; i++)
				diff = !ns_has(&pred, gold.v[i]);
			if (diff) {
				printf("error   %s:%s\t", fld[0], fld[1]);
				for (int i = 0, c = 0; i < gold.n; i++)
					if (!ns_has(&pred, gold.v[i]))
						printf("%s-%s", c++ ? "," : "", gold.v[i]);
				putchar(' ');
				for (int i = 0, c = 0; i < pred.n; i++)
					if (!ns_has(&gold, pred.v[i]))
						printf("%s+%s", c++ ? "," : "", pred.v[i]);
				printf("\t%s\n", fld[2]);
			}
		}
	}
	if (ferror(f)) {
		tool_err("error reading '%s'", path);
		goto out;
	}

	qsort(labels.v, labels.n, sizeof *labels.v, cmp_score);
	if (json) {
		int first = 1;
		printf("{\n  \"file\": \"%s\",\n  \"captions\": %lu,\n  \"rules_digest\": \"%s\",\n  \"labels\": {",
		       path, ncaptions, bl_ruleset_digest(rs));
		for (size_t i = 0; i < labels.n; i++)
			print_row("label", &labels.v[i], 1, &first);
		printf("\n  },\n  \"families\": {");
		first = 1;
	} else {
		printf("# %lu captions from %s; rules %.16s\n", ncaptions, path,
		       bl_ruleset_digest(rs));
		printf("%-7s %-28s %-9s %-9s %7s %5s %5s %5s\n", "kind", "name",
		       "precision", "recall", "support", "tp", "fp", "fn");
		for (size_t i = 0; i < labels.n; i++)
			print_row("label", &labels.v[i], 0, NULL);
	}
	{
		int first = 1;
		for (size_t fi = 0; fi < NFAM; fi++) {
			score tot;
			memset(&tot, 0, sizeof tot);
			snprintf(tot.name, KEY_LEN, "%s", families[fi]);
			for (size_t i = 0; i < fams[fi].n; i++) {
				tot.tp += fams[fi].v[i].tp;
				tot.fp += fams[fi].v[i].fp;
				tot.fn += fams[fi].v[i].fn;
			}
			print_row("family", &tot, json, &first);
		}
		if (json)
			printf("\n  }\n}\n");
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
	free(labels.v);
	for (size_t fi = 0; fi < NFAM; fi++)
		free(fams[fi].v);
	bl_tagger_free(tg);
	bl_ruleset_free(rs);
	bl_strlist_release(&rules);
	return rc == EXIT_FATAL || rc == EXIT_USAGE ? rc : tool_finish(rc);
}
