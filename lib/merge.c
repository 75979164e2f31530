/*
 * merge.c - combine partial indexes written by array tasks.
 *
 * Past one machine, a shard list is split into contiguous blocks, one per
 * task (bl_scan_options.task/tasks); each task writes its own index; this
 * module folds the parts into one.  Merging the parts in task order gives
 * the same shard ids, label ids and rows as one scan of the whole list,
 * because a scan numbers shards in list order and labels in rule order.
 * Labels are matched by name all the same, so parts written by indexes of
 * different histories still merge correctly (their bits are remapped).
 *
 * A part is refused, and the index left as it was, when it is missing (it
 * is attached read-only, so a typo never creates an empty file), is not a
 * ballast index of this schema, was scanned with other rules, or belongs
 * to another scan than what the index already holds (its plan: the digest
 * of the whole shard list, recorded by every scan).  The index records
 * which tasks it holds, so an index missing a part knows it is partial.
 */
#include "error_int.h"
#include "index_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Attach the part read-only: it must exist, and is never written. */
static int attach(bl_index *ix, const char *part_path)
{
	struct stat ps, is;
	bl_buf uri;
	int rc;

	if (stat(part_path, &ps) != 0)
		return bl_error_buf(&ix->errmsg, BL_FAILED, "cannot open part '%s': %s", part_path, strerror(errno));
	if (!S_ISREG(ps.st_mode))
		return bl_error_buf(&ix->errmsg, BL_FAILED, "part '%s' is not a file", part_path);
	if (stat(ix->path, &is) == 0 && is.st_dev == ps.st_dev && is.st_ino == ps.st_ino)
		return bl_error_buf(&ix->errmsg, BL_FAILED, "part '%s' is the index itself", part_path);
	/* a URI, so that mode=ro holds: '%', '?' and '#' escaped */
	bl_buf_init(&uri, 0);
	bl_buf_adds(&uri, "file:");
	for (const char *p = part_path; *p; p++)
		bl_buf_addf(&uri, strchr("?#%", *p) ? "%%%02X" : "%c", (unsigned char)*p);
	if (bl_buf_adds(&uri, "?mode=ro") != BL_OK)
		rc = bl_error_buf(&ix->errmsg, BL_FAILED, "out of memory");
	else
		rc = bl_index_part_attach(ix, uri.buf);
	bl_buf_release(&uri);
	return rc;
}

static int same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/*
 * Is the part one the index can take?  Same schema, same rules, and the
 * same plan as what the index holds (an empty index takes any).  *adopt
 * is set when the index is empty and takes the part's plan.
 */
static int check_part(bl_index *ix, const char *part_path, int *adopt)
{
	char *mine = NULL, *theirs = NULL, *plan = NULL, *their_plan = NULL, *task = NULL;
	int64_t version, shards;
	int rc = BL_FAILED;

	if (bl_index_part_version(ix, &version) != BL_OK)
		goto out;
	if (version != BL_INDEX_SCHEMA) {
		bl_error_buf(&ix->errmsg, BL_FAILED, version == 0 ? "'%s' is not a ballast index"
			   : version < BL_INDEX_SCHEMA
				   ? "part '%s' has an older schema: upgrade it first with "
				     "'ballast merge PART' (its rows are kept)"
				   : "part '%s' has a newer schema than this ballast reads",
		       part_path);
		goto out;
	}
	if (bl_index_shard_count(ix, &shards) != BL_OK)
		goto out;
	mine = bl_index_meta_get(ix, "main", "rules_digest");
	theirs = bl_index_meta_get(ix, "part", "rules_digest");
	if (mine && theirs && strcmp(mine, theirs) != 0) {
		bl_error_buf(&ix->errmsg, BL_FAILED, "'%s' was scanned with other rules (digest %.12s, index %.12s): "
			   "rescan it with the same rules", part_path, theirs, mine);
		goto out;
	}
	plan = bl_index_meta_get(ix, "main", "plan_sha256");
	their_plan = bl_index_meta_get(ix, "part", "plan_sha256");
	task = bl_index_meta_get(ix, "main", "task");
	if (task) {
		bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s' is itself the part of array task %s: merge the parts "
			   "into a new index", ix->path, task);
		goto out;
	}
	*adopt = shards == 0;
	if (shards > 0 && !same(plan, their_plan)) {
		bl_error_buf(&ix->errmsg, BL_FAILED, "part '%s' is not of the scan that wrote index '%s' (their shard "
			   "lists differ): merge the parts of one array job into a new index",
		       part_path, ix->path);
		goto out;
	}
	rc = BL_OK;
out:
	free(mine);
	free(theirs);
	free(plan);
	free(their_plan);
	free(task);
	return rc;
}

/* The plan and tasks the index now holds. */
static int record_part(bl_index *ix, int adopt)
{
	static const char *const keys[] = {"rules_digest", "plan_sha256", "plan_shards", "tasks"};
	char *task = bl_index_meta_get(ix, "part", "task");
	char *merged = bl_index_meta_get(ix, "main", "tasks_merged");
	int rc = BL_FAILED;
	bl_buf list;

	bl_buf_init(&list, 1 << 20);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char *v = bl_index_meta_get(ix, "part", keys[i]);
		int set = v && (adopt || i == 0) ? bl_index_meta_set(ix, keys[i], v) : BL_OK;
		free(v);
		if (set != BL_OK)
			goto out;
	}
	if (task) {
		/* the task list, each once */
		int dup = 0;
		for (const char *p = merged; p && *p;) {
			size_t n = strcspn(p, ",");
			dup |= strlen(task) == n && !strncmp(p, task, n);
			p += n + (p[n] == ',');
		}
		bl_buf_adds(&list, merged && !adopt ? merged : "");
		if (!dup || adopt)
			bl_buf_addf(&list, "%s%s", list.len ? "," : "", task);
		if (bl_index_meta_set(ix, "tasks_merged", list.buf) != BL_OK)
			goto out;
	}
	rc = BL_OK;
out:
	bl_buf_release(&list);
	free(task);
	free(merged);
	return rc;
}

int bl_index_merge(bl_index *ix, const char *part_path)
{
	int map[BL_MAX_LABELS], nmap = 0;
	int rc = BL_FAILED, attached = 0, in_tx = 0, adopt = 0;
	int labels_before;

	if (!ix || !part_path)
		return BL_EUSAGE;
	memset(map, 0, sizeof map);
	labels_before = ix->nlabels;
	if (attach(ix, part_path) != BL_OK)
		goto out;
	attached = 1;
	if (bl_index_begin(ix) != BL_OK)
		goto out;
	in_tx = 1;
	if (check_part(ix, part_path, &adopt) != BL_OK ||
	    bl_index_part_map_labels(ix, part_path, map, &nmap) != BL_OK ||
	    bl_index_part_copy(ix, map, nmap) != BL_OK || record_part(ix, adopt) != BL_OK)
		goto out;
	if (bl_index_commit(ix) != BL_OK)
		goto out;
	in_tx = 0;
	labels_before = ix->nlabels;
	rc = BL_OK;
out:
	if (in_tx) {
		bl_index_rollback(ix);
		/* forget labels added by the rolled-back transaction */
		while (ix->nlabels > labels_before)
			free(ix->labels[--ix->nlabels]);
	}
	if (attached)
		bl_index_part_detach(ix);
	return rc;
}
