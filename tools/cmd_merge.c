/*
 * cmd_merge.c - "ballast merge": fold partial indexes (one per array task)
 * into one, with bl_index_merge.
 */
#include "tools.h"

#include <stdio.h>
#include <string.h>

const char usage_merge[] =
	"usage: ballast merge INDEX.db PART.db...\n"
	"\n"
	"Merge partial indexes written by 'ballast scan --task I --tasks N' into\n"
	"INDEX.db (created when missing).  Give the parts in task order: the result\n"
	"then equals one scan of the whole shard list.  Labels are matched by name;\n"
	"parts scanned with other rules are refused.\n";

int cmd_merge(int argc, char **argv)
{
	bl_index *ix = NULL;
	char err[1024];
	int rc = EXIT_FATAL;

	if (argc < 3)
		return tool_usage_error(usage_merge, "want INDEX.db and at least one part");
	ix = bl_index_open(argv[1], BL_INDEX_CREATE, err, sizeof err);
	if (!ix) {
		tool_err("%s", err);
		goto out;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], argv[1]) == 0) {
			tool_err("'%s' is the output itself", argv[i]);
			goto out;
		}
		if (bl_index_merge(ix, argv[i]) != BL_OK) {
			tool_err("%s", bl_index_errmsg(ix));
			goto out;
		}
	}
	rc = EXIT_ALL_GOOD;
out:
	if (bl_index_close(ix) != BL_OK && rc == EXIT_ALL_GOOD) {
		tool_err("cannot close '%s'", argv[1]);
		rc = EXIT_FATAL;
	}
	return tool_finish(rc);
}
