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
 */
#include "index_int.h"

#include <stdlib.h>
#include <string.h>

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

static const char *meta_digest(bl_index *ix, const char *schema, char out[65])
{
	sqlite3_stmt *st = NULL;
	char sql[128];
	out[0] = '\0';
	snprintf(sql, sizeof sql, "SELECT value FROM %s.meta WHERE key='rules_digest'", schema);
	if (sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, 65, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

int bl_index_merge(bl_index *ix, const char *part_path)
{
	sqlite3_stmt *st = NULL, *shards = NULL, *ins = NULL, *err = NULL, *upd = NULL;
	struct remap rm;
	char mine[65], theirs[65];
	int rc = BL_FAILED, attached = 0, in_tx = 0, identity = 1, version;
	int labels_before;

	if (!ix || !part_path)
		return BL_EUSAGE;
	memset(&rm, 0, sizeof rm);
	if (sqlite3_prepare_v2(ix->db, "ATTACH DATABASE ?1 AS part", -1, &st, NULL) != SQLITE_OK)
		return fail(ix, "attach");
	sqlite3_bind_text(st, 1, part_path, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		fail(ix, "cannot open the part");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	attached = 1;
	if (sqlite3_prepare_v2(ix->db, "PRAGMA part.user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		fail(ix, "reading the part");
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version != BL_INDEX_SCHEMA) {
		bl_buf_reset(&ix->errmsg);
		bl_buf_addf(&ix->errmsg, "'%s' is not a ballast index of schema %d", part_path,
			    BL_INDEX_SCHEMA);
		goto out;
	}
	meta_digest(ix, "main", mine);
	meta_digest(ix, "part", theirs);
	if (mine[0] && theirs[0] && strcmp(mine, theirs) != 0) {
		bl_buf_reset(&ix->errmsg);
		bl_buf_addf(&ix->errmsg, "'%s' was scanned with other rules (digest %.12s, "
			    "index %.12s): rescan it with the same rules", part_path, theirs, mine);
		goto out;
	}

	if (bl_index_exec(ix, "BEGIN") != BL_OK)
		goto out;
	in_tx = 1;
	labels_before = ix->nlabels;
	/* labels by name */
	if (sqlite3_prepare_v2(ix->db, "SELECT id, name FROM part.labels ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK) {
		fail(ix, "reading the part's labels");
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		int pid = sqlite3_column_int(st, 0), id;
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (pid < 0 || pid >= BL_MAX_LABELS || !name) {
			bl_buf_reset(&ix->errmsg);
			bl_buf_addf(&ix->errmsg, "'%s': damaged label table", part_path);
			goto out;
		}
		id = bl_index_label_id(ix, name);
		if (id < 0) {
			sqlite3_stmt *add = NULL;
			if (ix->nlabels >= BL_MAX_LABELS) {
				bl_buf_reset(&ix->errmsg);
				bl_buf_addf(&ix->errmsg, "index '%s': too many labels", ix->path);
				goto out;
			}
			if (sqlite3_prepare_v2(ix->db, "INSERT INTO main.labels(id, name) VALUES (?1, ?2)",
					       -1, &add, NULL) != SQLITE_OK) {
				fail(ix, "adding labels");
				goto out;
			}
			sqlite3_bind_int(add, 1, ix->nlabels);
			sqlite3_bind_text(add, 2, name, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(add) != SQLITE_DONE) {
				sqlite3_finalize(add);
				fail(ix, "adding labels");
				goto out;
			}
			sqlite3_finalize(add);
			id = ix->nlabels;
			ix->labels[id] = strdup(name);
			if (!ix->labels[id])
				goto out;
			ix->nlabels++;
		}
		rm.map[pid] = id;
		identity &= id == pid;
		if (pid + 1 > rm.n)
			rm.n = pid + 1;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_create_function(ix->db, "bl_remap", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    &rm, remap_fn, NULL, NULL) != SQLITE_OK) {
		fail(ix, "registering bl_remap");
		goto out;
	}

	if (bl_index_writer_prepare(ix) != BL_OK)
		goto out;
	if (sqlite3_prepare_v2(ix->db, "SELECT id, path, size, mtime, rules_digest, samples, errors,"
			       " fatal, scanned_at FROM part.shards WHERE complete = 1 ORDER BY id",
			       -1, &shards, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ix->db, identity
			       ? "INSERT INTO main.samples SELECT ?1, ordinal, key, offset, labels, bits,"
				 " caption, caption_offset, image_offset, image_size, image_ext, width,"
				 " height, punsafe, pwatermark, status, problems," MEMBER_COLS
				 ", weight FROM part.samples WHERE shard_id = ?2"
			       : "INSERT INTO main.samples SELECT ?1, ordinal, key, offset, labels,"
				 " bl_remap(bits), caption, caption_offset, image_offset, image_size,"
				 " image_ext, width, height, punsafe, pwatermark, status, problems,"
				 MEMBER_COLS ", weight FROM part.samples WHERE shard_id = ?2",
			       -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ix->db, "INSERT INTO main.errors SELECT ?1, ordinal, kind, offset,"
			       " message FROM part.errors WHERE shard_id = ?2", -1, &err,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ix->db, "UPDATE main.shards SET size=?2, mtime=?3, rules_digest=?4,"
			       " complete=1, samples=?5, errors=?6, fatal=?7, scanned_at=?8"
			       " WHERE id=?1", -1, &upd, NULL) != SQLITE_OK) {
		fail(ix, "preparing");
		goto out;
	}
	while (sqlite3_step(shards) == SQLITE_ROW) {
		struct bl_index_shard_state state;
		int64_t pid = sqlite3_column_int64(shards, 0), id;
		const char *path = (const char *)sqlite3_column_text(shards, 1);
		if (bl_index_shard_id(ix, path, &id, &state) != BL_OK)
			goto out;
		for (int k = IX_DEL_SAMPLES; k <= IX_DEL_ERRORS; k++) {
			sqlite3_reset(ix->stmt[k]);
			sqlite3_bind_int64(ix->stmt[k], 1, id);
			if (sqlite3_step(ix->stmt[k]) != SQLITE_DONE) {
				fail(ix, "clearing a shard");
				goto out;
			}
		}
		sqlite3_stmt *both[2] = {ins, err};
		for (int k = 0; k < 2; k++) {
			sqlite3_reset(both[k]);
			sqlite3_bind_int64(both[k], 1, id);
			sqlite3_bind_int64(both[k], 2, pid);
			if (sqlite3_step(both[k]) != SQLITE_DONE) {
				fail(ix, "copying rows");
				goto out;
			}
		}
		sqlite3_reset(upd);
		sqlite3_bind_int64(upd, 1, id);
		for (int c = 2; c <= 8; c++)
			sqlite3_bind_value(upd, c, sqlite3_column_value(shards, c));
		if (sqlite3_step(upd) != SQLITE_DONE) {
			fail(ix, "updating a shard");
			goto out;
		}
	}
	if (theirs[0]) {
		if (sqlite3_prepare_v2(ix->db, "INSERT OR REPLACE INTO main.meta(key, value)"
				       " VALUES ('rules_digest', ?1)", -1, &st, NULL) != SQLITE_OK) {
			fail(ix, "meta");
			goto out;
		}
		sqlite3_bind_text(st, 1, theirs, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE) {
			fail(ix, "meta");
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (bl_index_exec(ix, "COMMIT") != BL_OK)
		goto out;
	in_tx = 0;
	labels_before = ix->nlabels;
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(shards);
	sqlite3_finalize(ins);
	sqlite3_finalize(err);
	sqlite3_finalize(upd);
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
