/*
 * label.c - what label names mean wherever they are read (bl_label_*):
 * families, and the child-safety rule.
 *
 * The child-safety rule is written here and nowhere else: a sample that
 * carries age.minor (or an age.minor.* label) together with any sexual.*
 * label (or sexual itself) gets the derived label safety.minor_sexual,
 * and such a sample is blocked.  The tagger derives the label through the
 * masks rules.c builds with bl_label_safety; the rebalancer, eval and the
 * reports ask the same two functions.
 */
#include "ballast.h"

#include <string.h>

int bl_label_in_family(const char *label, const char *family)
{
	size_t n;
	if (!label || !family)
		return 0;
	n = strlen(family);
	return strncmp(label, family, n) == 0 && (label[n] == '\0' || label[n] == '.');
}

int bl_label_safety(const char *label)
{
	if (!label)
		return 0;
	if (bl_label_in_family(label, BL_LABEL_MINOR_SEXUAL))
		return BL_SAFETY_BLOCKED;
	if (bl_label_in_family(label, BL_LABEL_MINOR))
		return BL_SAFETY_MINOR;
	if (bl_label_in_family(label, BL_LABEL_SEXUAL))
		return BL_SAFETY_SEXUAL;
	return 0;
}

int bl_label_blocked(int sides)
{
	return (sides & BL_SAFETY_BLOCKED) ||
	       ((sides & BL_SAFETY_MINOR) && (sides & BL_SAFETY_SEXUAL));
}
