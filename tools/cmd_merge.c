/*
 * cmd_merge.c - "ballast merge": fold partial indexes (one per array task)
 * into one, with bl_index_merge.
 */
#include "tools.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char usage_merge[] =
	"usage: ballast merge -o INDEX.db PART.db...\n"
	"       ballast merge INDEX.db PART.db...\n"
	"       ballast merge INDEX.db\n"
	"\n"
	"Merge partial indexes written by 'ballast scan --task I --tasks N' into\n"
	"INDEX.db (created when missing).  Give the parts in task order: the result\n"
	"then equals one scan of the whole shard list.  Labels are matched by name.\n"
	"Refused, with INDEX.db left as it was: a part that does not exist (parts\n"
	"are opened read-only, never created), a part scanned with other rules, a\n"
	"part of another scan than the one INDEX.db already holds.  INDEX.db records\n"
	"which tasks it holds: 'ballast report' and 'ballast rebalance' warn while\n"
	"some are missing.  With no part, upgrade INDEX.db from an older schema in\n"
	"place (every row kept).\n"
	"\n"
	"  -o, --output INDEX.db   the index to merge into\n"
	"\n"
	"Exit status: 0 merged, 2 usage, 3 a part was refused or the index could\n"
	"not be written.\n";

int cmd_merge(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	bl_index *ix = NULL;
	char err[1024];
	int rc = EXIT_FATAL, c, first;
	struct stat st;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': fputs(usage_merge, stdout); return tool_finish(EXIT_ALL_GOOD);
		default: return tool_usage_error(usage_merge, NULL);
		}
	}
	first = optind;
	if (!out) {
		if (first >= argc)
			return tool_usage_error(usage_merge, "no index given");
		out = argv[first++];
	}
	if (first >= argc && stat(out, &st) != 0)
		return tool_usage_error(usage_merge, "no part given (and '%s' does not exist "
				       "to be upgraded)", out);
	/* every part must be there before the index is touched */
	for (int i = first; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			tool_err("cannot open part '%s': %s", argv[i], strerror(errno));
			return tool_finish(EXIT_FATAL);
		}
		if (strcmp(argv[i], out) == 0) {
			tool_err("'%s' is the output itself", argv[i]);
			return tool_finish(EXIT_FATAL);
		}
	}
	ix = bl_index_open(out, BL_INDEX_CREATE, err, sizeof err);
	if (!ix) {
		tool_err("%s", err);
		goto out;
	}
	if (bl_index_upgraded(ix))
		tool_err("index '%s' upgraded to schema %d (its rows are kept)", out,
			 BL_INDEX_SCHEMA);
	for (int i = first; i < argc; i++) {
		if (bl_index_merge(ix, argv[i]) != BL_OK) {
			tool_err("%s", bl_index_errmsg(ix));
			goto out;
		}
	}
	rc = EXIT_ALL_GOOD;
out:
	if (bl_index_close(ix) != BL_OK && rc == EXIT_ALL_GOOD) {
		tool_err("cannot close '%s'", out);
		rc = EXIT_FATAL;
	}
	return tool_finish(rc);
}
