/*
 * fuzz_policy.c - fuzz target: arbitrary bytes as a policy file, and as a
 * rebalance summary (what bl_manifest_summary reads from a manifest.json
 * someone else wrote).  A policy that parses is walked like the
 * rebalancer walks it: every rule, every accept line, its drop
 * expressions bound to a small label table and evaluated on a few label
 * sets.  A summary that parses is rendered and parsed again, and the two
 * renderings must agree.  Any input must give a result or an error, never
 * a crash, a leak or a read out of bounds.
 */
#include "ballast.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

static void walk_policy(const unsigned char *data, size_t len)
{
	static const char *const names[] = {
		"gender.female", "gender.male", "group.asian.east", "group.black",
		"sexual.explicit", "sexual.suggestive", "age.minor", "meta.unsafe",
	};
	bl_policy *p = bl_policy_new();
	uint64_t seed;
	int line;

	if (!p)
		return;
	if (bl_policy_parse(p, "fuzz.policy", (const char *)data, len) == BL_OK) {
		for (int i = 0; i < bl_policy_nrules(p); i++) {
			const bl_policy_rule *r = bl_policy_rule_at(p, i);
			(void)bl_rule_kind_name(r->kind);
			for (int f = 0; f < 3; f++)
				if (r->family[f])
					(void)strlen(r->family[f]);
			for (int t = 0; t < r->ntargets; t++)
				(void)strlen(r->target_label[t]);
			if (r->expr) {
				bl_labelset ls, used;
				bl_labelset_clear(&used);
				bl_expr_bind(r->expr, names, 8, &used);
				for (int k = 0; k < 16; k++) {
					bl_labelset_clear(&ls);
					for (int b = 0; b < 8; b++)
						if ((k * 37 + b) % 3 == 0)
							bl_labelset_set(&ls, b);
					(void)bl_expr_eval(r->expr, &ls);
				}
				for (int n = 0; n < bl_expr_nnames(r->expr); n++)
					(void)strlen(bl_expr_name(r->expr, n));
			}
		}
		for (int i = 0; i < bl_policy_naccepts(p); i++) {
			const bl_policy_accept *a = bl_policy_accept_at(p, i);
			(void)bl_check_name(a->check);
			if (a->family)
				(void)strlen(a->family);
		}
		(void)bl_policy_clip_weight(p, &line);
		(void)bl_policy_floor_ess(p, &line);
		(void)bl_policy_seed(p, &seed);
		(void)bl_realise_name(bl_policy_realise(p));
		(void)strlen(bl_policy_digest(p));
	} else {
		(void)strlen(bl_policy_errmsg(p));
	}
	bl_policy_free(p);
}

static void walk_summary(const unsigned char *data, size_t len)
{
	bl_rb_summary s, t;
	char err[256];
	char *a, *b;

	if (bl_rb_summary_parse(&s, (const char *)data, len, err, sizeof err) != BL_OK)
		return;
	(void)bl_rb_summary_count(&s, BL_CHECK_WARNING);
	a = bl_rb_summary_json(&s);
	if (a && bl_rb_summary_parse(&t, a, strlen(a), err, sizeof err) == BL_OK) {
		b = bl_rb_summary_json(&t);
		if (b && strcmp(a, b) != 0)
			abort(); /* what the reader reads, the writer writes back */
		free(b);
		bl_rb_summary_release(&t);
	}
	free(a);
	bl_rb_summary_release(&s);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	walk_policy(data, len);
	walk_summary(data, len);
	return 0;
}
