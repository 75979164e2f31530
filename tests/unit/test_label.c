/* test_label.c - label families and the child-safety predicate.  Abstract
 * label names only. */
#include "test.h"

BL_TEST(label_in_family)
{
	CHECK(bl_label_in_family("group.asian.east", "group"));
	CHECK(bl_label_in_family("group.asian.east", "group.asian"));
	CHECK(bl_label_in_family("group", "group"));
	CHECK(!bl_label_in_family("group.asian", "group.asia"));
	CHECK(!bl_label_in_family("groups", "group"));
	CHECK(!bl_label_in_family(NULL, "group"));
	CHECK(!bl_label_in_family("group", NULL));
}

BL_TEST(label_safety_sides)
{
	CHECK_EQ_INT(bl_label_safety(BL_LABEL_MINOR), BL_SAFETY_MINOR);
	CHECK_EQ_INT(bl_label_safety("age.minor.test"), BL_SAFETY_MINOR);
	CHECK_EQ_INT(bl_label_safety("age.minority"), 0);
	CHECK_EQ_INT(bl_label_safety("age.adult"), 0);
	CHECK_EQ_INT(bl_label_safety("age"), 0);
	CHECK_EQ_INT(bl_label_safety(BL_LABEL_SEXUAL), BL_SAFETY_SEXUAL);
	CHECK_EQ_INT(bl_label_safety("sexual.explicit"), BL_SAFETY_SEXUAL);
	CHECK_EQ_INT(bl_label_safety("sexualised"), 0);
	CHECK_EQ_INT(bl_label_safety(BL_LABEL_MINOR_SEXUAL), BL_SAFETY_BLOCKED);
	CHECK_EQ_INT(bl_label_safety("safety.other"), 0);
	CHECK_EQ_INT(bl_label_safety("attire.swimwear"), 0);
	CHECK_EQ_INT(bl_label_safety(NULL), 0);
	CHECK_EQ_STR(BL_LABEL_MINOR_SEXUAL, "safety.minor_sexual");
	CHECK_EQ_STR(BL_LABEL_MINOR, "age.minor");
}

BL_TEST(label_blocked_predicate)
{
	/* every combination of the three sides */
	for (int sides = 0; sides < 8; sides++) {
		int want = (sides & BL_SAFETY_BLOCKED) ||
			   ((sides & BL_SAFETY_MINOR) && (sides & BL_SAFETY_SEXUAL));
		CHECK_EQ_INT(bl_label_blocked(sides), want);
	}
	CHECK(!bl_label_blocked(0));
	CHECK(!bl_label_blocked(BL_SAFETY_MINOR));
	CHECK(!bl_label_blocked(BL_SAFETY_SEXUAL));
	CHECK(bl_label_blocked(BL_SAFETY_MINOR | BL_SAFETY_SEXUAL));
	CHECK(bl_label_blocked(BL_SAFETY_BLOCKED));
	/* through the names, as eval and the rebalancer use it */
	{
		const char *set1[] = {"age.minor.test", "sexual.suggestive", "group.test"};
		const char *set2[] = {"age.minor", "attire.swimwear", "gender.female"};
		int s1 = 0, s2 = 0;
		for (int i = 0; i < 3; i++) {
			s1 |= bl_label_safety(set1[i]);
			s2 |= bl_label_safety(set2[i]);
		}
		CHECK(bl_label_blocked(s1));
		CHECK(!bl_label_blocked(s2));
	}
}

/* The tagger derives the label with the same rule: a test rule set that
 * tags placeholder words as age.minor and sexual.test. */
BL_TEST(label_blocked_matches_tagger)
{
	static const char rules[] =
		"label age.minor\n  match \\bminorterm\\b\n"
		"label sexual.test\n  match \\bsexterm\\b\n"
		"label other.test\n  match \\bplain\\b\n";
	static const char *const caps[] = {"minorterm sexterm", "minorterm plain",
					   "sexterm plain", "plain", ""};
	bl_ruleset *rs = bl_ruleset_new();
	bl_tagger *t;
	REQUIRE(rs);
	REQUIRE(bl_ruleset_load_string(rs, "t", rules, sizeof rules - 1) == BL_OK);
	REQUIRE(bl_ruleset_compile(rs) == BL_OK);
	t = bl_tagger_new(rs);
	REQUIRE(t);
	for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
		bl_tag_input in = {caps[c], strlen(caps[c]), NULL, 0, NULL};
		bl_labelset ls;
		int sides = 0, derived;
		CHECK(bl_tagger_tag(t, &in, &ls) == BL_OK);
		for (int i = 1; i < bl_ruleset_nlabels(rs); i++)
			if (bl_labelset_has(&ls, i))
				sides |= bl_label_safety(bl_ruleset_label(rs, i));
		derived = bl_labelset_has(&ls, bl_ruleset_label_index(rs, BL_LABEL_MINOR_SEXUAL));
		CHECK_EQ_INT(derived, bl_label_blocked(sides));
		CHECK_EQ_INT(derived, c == 0);
	}
	bl_tagger_free(t);
	bl_ruleset_free(rs);
}
