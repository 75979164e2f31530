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
#include "index_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* the members' data columns (manifests), after problems */
#define MEMBER_COLS " caption_data, caption_size, image_data, json_data, json_size"

struct remap {
	int map[BL_MAX_LABELS]; /* part label id -> index label id */
	int n;
};

/* SQL function bl_remap(bits): the bitset with part ids turned into ours. */
static void remap_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct remap *rm = sqlite3_user_data(ctx);
	const unsigned char *in = sqlite3_value_blob(argv[0]);
	int n = sqlite3_value_bytes(argv[0]), top = 0;
	unsigned char out[BL_MAX_LABELS / 8];

	(void)argc;
	if (!in) {
		sqlite3_result_null(ctx);
		return;
	}
	memset(out, 0, sizeof out);
	for (int i = 0; i < n * 8 && i < rm->n; i++) {
		if (in[i >> 3] & (1u << (i & 7))) {
			int j = rm->map[i];
			out[j >> 3] |= (unsigned char)(1u << (j & 7));
			if (j / 8 + 1 > top)
				top = j / 8 + 1;
		}
	}
	sqlite3_result_blob(ctx, out, top, SQLITE_TRANSIENT);
}

static int fail(bl_index *ix, const char *what)
{
	bl_buf_reset(&ix->errmsg);
	bl_buf_addf(&ix->errmsg, "index '%s': merge: %s: %s", ix->path, what,
		    sqlite3_errmsg(ix->db));
	return BL_FAILED;
}

static int refuse(bl_index *ix, const char *fmt, ...) __attribute__((format(__printf__, 2, 3)));

static int refuse(bl_index *ix, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	bl_buf_reset(&ix->errmsg);
	bl_buf_adds(&ix->errmsg, msg);
	return BL_FAILED;
}

/* Attach the part read-only: it must exist, and is never written. */
static int attach(bl_index *ix, const char *part_path)
{
	sqlite3_stmt *st = NULL;
	struct stat ps, is;
	bl_buf esc;
	char *uri;
	int rc = BL_FAILED;

	if (stat(part_path, &ps) != 0)
		return refuse(ix, "cannot open part '%s': %s", part_path, strerror(errno));
	if (!S_ISREG(ps.st_mode))
		return refuse(ix, "part '%s' is not a file", part_path);
	if (stat(ix->path, &is) == 0 && is.st_dev == ps.st_dev && is.st_ino == ps.st_ino)
		return refuse(ix, "part '%s' is the index itself", part_path);
	/* a URI, so that mode=ro holds: '%', '?' and '#' escaped */
	bl_buf_init(&esc, 0);
	for (const char *p = part_path; *p; p++)
		bl_buf_addf(&esc, strchr("?#%", *p) ? "%%%02X" : "%c", (unsigned char)*p);
	uri = sqlite3_mprintf("file:%s?mode=ro", esc.buf);
	bl_buf_release(&esc);
	if (!uri)
		return refuse(ix, "out of memory");
	if (sqlite3_prepare_v2(ix->db, "ATTACH DATABASE ?1 AS part", -1, &st, NULL) != SQLITE_OK) {
		fail(ix, "attach");
		goto out;
	}
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		fail(ix, "cannot open the part");
		goto out;
	}
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	sqlite3_free(uri);
	return rc;
}

static int64_t scalar(bl_index *ix, const char *sql, int *ok)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	*ok = sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL) == SQLITE_OK &&
	      sqlite3_step(st) == SQLITE_ROW;
	if (*ok)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
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
	int ok, rc = BL_FAILED;

	version = scalar(ix, "PRAGMA part.user_version", &ok);
	if (!ok) {
		fail(ix, "reading the part");
		goto out;
	}
	if (version != BL_INDEX_SCHEMA) {
		refuse(ix, version == 0 ? "'%s' is not a ballast index"
			   : version < BL_INDEX_SCHEMA
				   ? "part '%s' has an older schema: upgrade it first with "
				     "'ballast merge PART' (its rows are kept)"
				   : "part '%s' has a newer schema than this ballast reads",
		       part_path);
		goto out;
	}
	shards = scalar(ix, "SELECT count(*) FROM main.shards", &ok);
	if (!ok) {
		fail(ix, "reading the index");
		goto out;
	}
	mine = bl_index_meta_get(ix, "main", "rules_digest");
	theirs = bl_index_meta_get(ix, "part", "rules_digest");
	if (mine && theirs && strcmp(mine, theirs) != 0) {
		refuse(ix, "'%s' was scanned with other rules (digest %.12s, index %.12s): "
			   "rescan it with the same rules", part_path, theirs, mine);
		goto out;
	}
	plan = bl_index_meta_get(ix, "main", "plan_sha256");
	their_plan = bl_index_meta_get(ix, "part", "plan_sha256");
	task = bl_index_meta_get(ix, "main", "task");
	if (task) {
		refuse(ix, "index '%s' is itself the part of array task %s: merge the parts "
			   "into a new index", ix->path, task);
		goto out;
	}
	*adopt = shards == 0;
	if (shards > 0 && !same(plan, their_plan)) {
		refuse(ix, "part '%s' is not of the scan that wrote index '%s' (their shard "
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

/* Labels by name: the part's ids mapped to ours (new names appended). */
static int map_labels(bl_index *ix, const char *part_path, struct remap *rm)
{
	sqlite3_stmt *st = NULL, *add = NULL;
	int rc = BL_FAILED;

	if (sqlite3_prepare_v2(ix->db, "SELECT id, name FROM part.labels ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ix->db, "INSERT INTO main.labels(id, name) VALUES (?1, ?2)", -1,
			       &add, NULL) != SQLITE_OK) {
		fail(ix, "reading the part's labels");
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		int pid = sqlite3_column_int(st, 0), id;
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (pid < 0 || pid >= BL_MAX_LABELS || !name) {
			refuse(ix, "'%s': damaged label table", part_path);
			goto out;
		}
		id = bl_index_label_id(ix, name);
		if (id < 0) {
			if (ix->nlabels >= BL_MAX_LABELS) {
				refuse(ix, "index '%s': too many labels", ix->path);
				goto out;
			}
			sqlite3_reset(add);
			sqlite3_bind_int(add, 1, ix->nlabels);
			sqlite3_bind_text(add, 2, name, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(add) != SQLITE_DONE) {
				fail(ix, "adding labels");
				goto out;
			}
			id = ix->nlabels;
			if (!(ix->labels[id] = strdup(name)))
				goto out;
			ix->nlabels++;
		}
		rm->map[pid] = id;
		if (pid + 1 > rm->n)
			rm->n = pid + 1;
	}
	if (sqlite3_create_function(ix->db, "bl_remap", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    rm, remap_fn, NULL, NULL) != SQLITE_OK) {
		fail(ix, "registering bl_remap");
		goto out;
	}
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(add);
	return rc;
}

enum { CP_SHARDS, CP_SAMPLES, CP_ERRORS, CP_COUNTS, CP_DONE, CP_N };

/* Every shard row of the part, in its order; the rows of its complete
 * shards replace ours (an incomplete one is planned here too). */
static int copy_shards(bl_index *ix)
{
	static const char *const sql[CP_N] = {
		[CP_SHARDS] = "SELECT id, path, size, mtime, rules_digest, samples, errors, fatal,"
			      " scanned_at, options, errors_not_stored, dev, ino, complete"
			      " FROM part.shards ORDER BY id",
		[CP_SAMPLES] = "INSERT INTO main.samples SELECT ?1, ordinal, key, offset, labels,"
			       " bl_remap(bits), caption, caption_offset, image_offset, image_size,"
			       " image_ext, width, height, punsafe, pwatermark, status, problems,"
			       MEMBER_COLS ", weight FROM part.samples WHERE shard_id = ?2",
		[CP_ERRORS] = "INSERT INTO main.errors SELECT ?1, ordinal, kind, offset, message"
			      " FROM part.errors WHERE shard_id = ?2 ORDER BY rowid",
		[CP_COUNTS] = "INSERT INTO main.error_counts SELECT ?1, kind, n"
			      " FROM part.error_counts WHERE shard_id = ?2",
		[CP_DONE] = "UPDATE main.shards SET size=?2, mtime=?3, rules_digest=?4, complete=1,"
			    " samples=?5, errors=?6, fatal=?7, scanned_at=?8, options=?9,"
			    " errors_not_stored=?10, dev=?11, ino=?12 WHERE id=?1",
	};
	sqlite3_stmt *st[CP_N] = {NULL};
	int rc = BL_FAILED;

	for (int i = 0; i < CP_N; i++)
		if (sqlite3_prepare_v2(ix->db, sql[i], -1, &st[i], NULL) != SQLITE_OK) {
			fail(ix, "preparing");
			goto out;
		}
	while (sqlite3_step(st[CP_SHARDS]) == SQLITE_ROW) {
		struct bl_index_shard_state state;
		int64_t pid = sqlite3_column_int64(st[CP_SHARDS], 0), id;
		const char *path = (const char *)sqlite3_column_text(st[CP_SHARDS], 1);
		if (bl_index_shard_id(ix, path ? path : "", &id, &state) != BL_OK)
			goto out;
		if (!sqlite3_column_int(st[CP_SHARDS], 13))
			continue; /* planned there, not indexed: planned here */
		for (int k = IX_DEL_SAMPLES; k <= IX_DEL_COUNTS; k++) {
			sqlite3_reset(ix->stmt[k]);
			sqlite3_bind_int64(ix->stmt[k], 1, id);
			if (sqlite3_step(ix->stmt[k]) != SQLITE_DONE) {
				fail(ix, "clearing a shard");
				goto out;
			}
		}
		for (int k = CP_SAMPLES; k <= CP_COUNTS; k++) {
			sqlite3_reset(st[k]);
			sqlite3_bind_int64(st[k], 1, id);
			sqlite3_bind_int64(st[k], 2, pid);
			if (sqlite3_step(st[k]) != SQLITE_DONE) {
				fail(ix, "copying rows");
				goto out;
			}
		}
		sqlite3_reset(st[CP_DONE]);
		sqlite3_bind_int64(st[CP_DONE], 1, id);
		for (int c = 2; c <= 12; c++)
			sqlite3_bind_value(st[CP_DONE], c, sqlite3_column_value(st[CP_SHARDS], c));
		if (sqlite3_step(st[CP_DONE]) != SQLITE_DONE) {
			fail(ix, "updating a shard");
			goto out;
		}
	}
	rc = BL_OK;
out:
	for (int i = 0; i < CP_N; i++)
		sqlite3_finalize(st[i]);
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
	struct remap rm;
	int rc = BL_FAILED, attached = 0, in_tx = 0, adopt = 0;
	int labels_before;

	if (!ix || !part_path)
		return BL_EUSAGE;
	memset(&rm, 0, sizeof rm);
	labels_before = ix->nlabels;
	if (attach(ix, part_path) != BL_OK)
		goto out;
	attached = 1;
	if (bl_index_exec(ix, "BEGIN IMMEDIATE") != BL_OK)
		goto out;
	in_tx = 1;
	if (check_part(ix, part_path, &adopt) != BL_OK || map_labels(ix, part_path, &rm) != BL_OK ||
	    bl_index_writer_prepare(ix) != BL_OK || copy_shards(ix) != BL_OK ||
	    record_part(ix, adopt) != BL_OK)
		goto out;
	if (bl_index_exec(ix, "COMMIT") != BL_OK)
		goto out;
	in_tx = 0;
	labels_before = ix->nlabels;
	rc = BL_OK;
out:
	if (in_tx) {
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
		/* forget labels added by the rolled-back transaction */
		while (ix->nlabels > labels_before)
			free(ix->labels[--ix->nlabels]);
	}
	/* statements on the attached schema must be gone before DETACH */
	bl_index_writer_release(ix);
	if (attached)
		sqlite3_exec(ix->db, "DETACH DATABASE part", NULL, NULL, NULL);
	return rc;
}
