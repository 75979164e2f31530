/*
 * index.c - the SQLite index: one row per sample, one transaction per
 * shard.
 *
 * The schema is documented in ballast.h (version BL_INDEX_SCHEMA).  This
 * module creates and opens it, keeps the label table (ids are bit
 * positions in samples.bits and never change within an index), and
 * writes a shard's rows in one transaction with prepared statements.  It
 * is used from one thread: the scanner funnels every shard's rows to the
 * thread that owns the index.
 */
#include "index_int.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE IF NOT EXISTS labels(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
	"CREATE TABLE IF NOT EXISTS shards(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL,"
	" size INTEGER, mtime INTEGER, rules_digest TEXT, complete INTEGER NOT NULL DEFAULT 0,"
	" samples INTEGER, errors INTEGER, fatal TEXT, scanned_at TEXT);"
	"CREATE TABLE IF NOT EXISTS samples(shard_id INTEGER NOT NULL, ordinal INTEGER NOT NULL,"
	" key TEXT NOT NULL, offset INTEGER, labels TEXT NOT NULL, bits BLOB, caption TEXT,"
	" caption_offset INTEGER, image_offset INTEGER, image_size INTEGER, image_ext TEXT,"
	" width INTEGER, height INTEGER, punsafe REAL, pwatermark REAL, status TEXT,"
	" problems INTEGER NOT NULL DEFAULT 0,"
	" caption_data INTEGER, caption_size INTEGER, image_data INTEGER,"
	" json_data INTEGER, json_size INTEGER, weight REAL,"
	" PRIMARY KEY(shard_id, ordinal)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS errors(shard_id INTEGER, ordinal INTEGER, kind TEXT,"
	" offset INTEGER, message TEXT);"
	"CREATE INDEX IF NOT EXISTS errors_shard ON errors(shard_id);"
	"CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, started TEXT, finished TEXT,"
	" argv TEXT, threads INTEGER, shards_scanned INTEGER, shards_skipped INTEGER);";

static void ix_err(bl_index *ix, const char *what)
{
	bl_buf_reset(&ix->errmsg);
	bl_buf_addf(&ix->errmsg, "index '%s': %s: %s", ix->path, what,
		    ix->db ? sqlite3_errmsg(ix->db) : "cannot open");
}

int bl_index_exec(bl_index *ix, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(ix->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		bl_buf_reset(&ix->errmsg);
		bl_buf_addf(&ix->errmsg, "index '%s': %s", ix->path,
			    msg ? msg : sqlite3_errmsg(ix->db));
		sqlite3_free(msg);
		return BL_FAILED;
	}
	return BL_OK;
}

void bl_index_now(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int load_labels(bl_index *ix)
{
	sqlite3_stmt *st = NULL;
	int rc = BL_FAILED;

	for (int i = 0; i < ix->nlabels; i++)
		free(ix->labels[i]);
	ix->nlabels = 0;
	if (sqlite3_prepare_v2(ix->db, "SELECT id, name FROM labels ORDER BY id", -1,
			       &st, NULL) != SQLITE_OK) {
		ix_err(ix, "reading labels");
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		int id = sqlite3_column_int(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (id != ix->nlabels || id >= BL_MAX_LABELS || !name) {
			bl_buf_reset(&ix->errmsg);
			bl_buf_addf(&ix->errmsg, "index '%s': label table is damaged at id %d",
				    ix->path, id);
			goto out;
		}
		ix->labels[ix->nlabels] = strdup(name);
		if (!ix->labels[ix->nlabels])
			goto out;
		ix->nlabels++;
	}
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

bl_index *bl_index_open(const char *path, int flags, char *err, size_t errlen)
{
	bl_index *ix = calloc(1, sizeof *ix);
	sqlite3_stmt *st = NULL;
	int version = 0, oflags;
	char now[32], dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!ix || !(ix->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		free(ix);
		return NULL;
	}
	bl_buf_init(&ix->errmsg, 4096);
	oflags = flags & BL_INDEX_CREATE ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
					 : SQLITE_OPEN_READONLY;
	if (sqlite3_open_v2(path, &ix->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		ix_err(ix, "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(ix->db, 10000);
	if (sqlite3_prepare_v2(ix->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		ix_err(ix, "not an SQLite database");
		goto fail;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > BL_INDEX_SCHEMA) {
		bl_buf_reset(&ix->errmsg);
		bl_buf_addf(&ix->errmsg,
			    "index '%s' has schema %d; this ballast reads up to %d",
			    path, version, BL_INDEX_SCHEMA);
		goto fail;
	}
	if (version == 0) {
		if (!(flags & BL_INDEX_CREATE)) {
			bl_buf_reset(&ix->errmsg);
			bl_buf_addf(&ix->errmsg, "index '%s' is empty or not a ballast index",
				    path);
			goto fail;
		}
		/* a table that is not ours means this is some other database */
		if (sqlite3_prepare_v2(ix->db,
				       "SELECT count(*) FROM sqlite_master WHERE name NOT IN "
				       "('meta','labels','shards','samples','errors','runs','errors_shard')",
				       -1, &st, NULL) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW) {
			ix_err(ix, "not an SQLite database");
			goto fail;
		}
		if (sqlite3_column_int(st, 0) > 0) {
			bl_buf_reset(&ix->errmsg);
			bl_buf_addf(&ix->errmsg,
				    "'%s' is an SQLite database but not a ballast index", path);
			goto fail;
		}
		sqlite3_finalize(st);
		st = NULL;
		bl_index_now(now);
		if (bl_index_exec(ix, "PRAGMA journal_mode=WAL") != BL_OK ||
		    bl_index_exec(ix, "BEGIN") != BL_OK ||
		    bl_index_exec(ix, schema_sql) != BL_OK ||
		    bl_index_exec(ix, "PRAGMA user_version = 1") != BL_OK)
			goto fail;
		if (sqlite3_prepare_v2(ix->db,
				       "INSERT OR REPLACE INTO meta(key, value) VALUES "
				       "('schema','1'),('tool','ballast " BALLAST_VERSION "'),"
				       "('created',?1)", -1, &st, NULL) != SQLITE_OK) {
			ix_err(ix, "writing meta");
			goto fail;
		}
		sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE) {
			ix_err(ix, "writing meta");
			goto fail;
		}
		sqlite3_finalize(st);
		st = NULL;
		if (bl_index_exec(ix, "COMMIT") != BL_OK)
			goto fail;
	}
	if (flags & BL_INDEX_CREATE) {
		/* WAL + NORMAL: a commit survives a killed process (not a
		 * power cut mid-transaction, which costs at most the last
		 * shard, rescanned on the next run) */
		if (bl_index_exec(ix, "PRAGMA synchronous=NORMAL") != BL_OK)
			goto fail;
		/* members' data columns (manifests) came later: add them to
		 * an older index; its rows keep NULL until rescanned */
		if (sqlite3_prepare_v2(ix->db, "SELECT count(*) FROM pragma_table_info('samples')"
				       " WHERE name = 'caption_data'", -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0 &&
		    bl_index_exec(ix, "ALTER TABLE samples ADD COLUMN caption_data INTEGER;"
				  "ALTER TABLE samples ADD COLUMN caption_size INTEGER;"
				  "ALTER TABLE samples ADD COLUMN image_data INTEGER;"
				  "ALTER TABLE samples ADD COLUMN json_data INTEGER;"
				  "ALTER TABLE samples ADD COLUMN json_size INTEGER;") != BL_OK)
			goto fail;
		sqlite3_finalize(st);
		st = NULL;
		/* samples.weight came after those: add it last, so that an
		 * upgraded index has a new one's column order (NULL reads as 1) */
		if (!bl_index_has_weight(ix) &&
		    bl_index_exec(ix, "ALTER TABLE samples ADD COLUMN weight REAL") != BL_OK)
			goto fail;
	}
	if (load_labels(ix) != BL_OK)
		goto fail;
	return ix;
fail:
	snprintf(err, errlen, "%s", ix->errmsg.len ? ix->errmsg.buf : "cannot open the index");
	sqlite3_finalize(st);
	bl_index_close(ix);
	return NULL;
}

int bl_index_has_weight(bl_index *ix)
{
	sqlite3_stmt *st = NULL;
	int has = 0;

	if (sqlite3_prepare_v2(ix->db, "SELECT 1 FROM pragma_table_info('samples')"
			       " WHERE name = 'weight'", -1, &st, NULL) == SQLITE_OK)
		has = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return has;
}

int bl_index_close(bl_index *ix)
{
	int rc = BL_OK;
	if (!ix)
		return BL_OK;
	bl_index_writer_release(ix);
	if (ix->db && sqlite3_close(ix->db) != SQLITE_OK)
		rc = BL_FAILED;
	for (int i = 0; i < ix->nlabels; i++)
		free(ix->labels[i]);
	bl_buf_release(&ix->errmsg);
	free(ix->path);
	free(ix);
	return rc;
}

const char *bl_index_errmsg(const bl_index *ix)
{
	return ix && ix->errmsg.len ? ix->errmsg.buf : "no error";
}

void *bl_index_db(bl_index *ix)
{
	return ix ? ix->db : NULL;
}

int bl_index_nlabels(const bl_index *ix)
{
	return ix ? ix->nlabels : 0;
}

const char *bl_index_label(const bl_index *ix, int id)
{
	if (!ix || id < 0 || id >= ix->nlabels)
		return NULL;
	return ix->labels[id];
}

int bl_index_label_id(const bl_index *ix, const char *name)
{
	if (!ix || !name)
		return -1;
	for (int i = 0; i < ix->nlabels; i++)
		if (strcmp(ix->labels[i], name) == 0)
			return i;
	return -1;
}

/* ---- writing ---------------------------------------------------------- */

int bl_index_map_labels(bl_index *ix, const bl_ruleset *rs, int *map)
{
	sqlite3_stmt *st = NULL;
	int rc = BL_FAILED, n = bl_ruleset_nlabels(rs);

	for (int i = 0; i < n; i++) {
		const char *name = bl_ruleset_label(rs, i);
		int id = bl_index_label_id(ix, name);
		if (id < 0) {
			if (ix->nlabels >= BL_MAX_LABELS) {
				bl_buf_reset(&ix->errmsg);
				bl_buf_addf(&ix->errmsg,
					    "index '%s': more than %d labels over its life",
					    ix->path, BL_MAX_LABELS);
				goto out;
			}
			if (!st && sqlite3_prepare_v2(ix->db,
						      "INSERT INTO labels(id, name) VALUES (?1, ?2)",
						      -1, &st, NULL) != SQLITE_OK) {
				ix_err(ix, "adding labels");
				goto out;
			}
			sqlite3_reset(st);
			sqlite3_bind_int(st, 1, ix->nlabels);
			sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(st) != SQLITE_DONE) {
				ix_err(ix, "adding labels");
				goto out;
			}
			id = ix->nlabels;
			ix->labels[id] = strdup(name);
			if (!ix->labels[id])
				goto out;
			ix->nlabels++;
		}
		map[i] = id;
	}
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

static const char *const writer_sql[IX_NSTMT] = {
	[IX_SHARD_GET] = "SELECT id, size, mtime, rules_digest, complete FROM shards WHERE path = ?1",
	[IX_SHARD_ADD] = "INSERT INTO shards(path, complete) VALUES (?1, 0)",
	[IX_SHARD_DONE] = "UPDATE shards SET size=?2, mtime=?3, rules_digest=?4, complete=1,"
			  " samples=?5, errors=?6, fatal=?7, scanned_at=?8 WHERE id=?1",
	[IX_DEL_SAMPLES] = "DELETE FROM samples WHERE shard_id = ?1",
	[IX_DEL_ERRORS] = "DELETE FROM errors WHERE shard_id = ?1",
	[IX_ADD_SAMPLE] = "INSERT INTO samples(shard_id, ordinal, key, offset, labels, bits,"
			  " caption, caption_offset, image_offset, image_size, image_ext,"
			  " width, height, punsafe, pwatermark, status, problems,"
			  " caption_data, caption_size, image_data, json_data, json_size, weight)"
			  " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,"
			  "?18,?19,?20,?21,?22,?23)",
	[IX_ADD_ERROR] = "INSERT INTO errors(shard_id, ordinal, kind, offset, message)"
			 " VALUES (?1,?2,?3,?4,?5)",
};

int bl_index_writer_prepare(bl_index *ix)
{
	for (int i = 0; i < IX_NSTMT; i++) {
		if (ix->stmt[i])
			continue;
		if (sqlite3_prepare_v2(ix->db, writer_sql[i], -1, &ix->stmt[i], NULL) != SQLITE_OK) {
			ix_err(ix, "preparing statements");
			return BL_FAILED;
		}
	}
	return BL_OK;
}

void bl_index_writer_release(bl_index *ix)
{
	for (int i = 0; i < IX_NSTMT; i++) {
		sqlite3_finalize(ix->stmt[i]);
		ix->stmt[i] = NULL;
	}
}

int bl_index_shard_id(bl_index *ix, const char *path, int64_t *id,
		      struct bl_index_shard_state *state)
{
	sqlite3_stmt *st = ix->stmt[IX_SHARD_GET];
	int rc;

	memset(state, 0, sizeof *state);
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);
		*id = sqlite3_column_int64(st, 0);
		state->size = sqlite3_column_int64(st, 1);
		state->mtime = sqlite3_column_int64(st, 2);
		snprintf(state->rules_digest, sizeof state->rules_digest, "%s", d ? d : "");
		state->complete = sqlite3_column_int(st, 4);
		sqlite3_reset(st);
		return BL_OK;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		ix_err(ix, "reading shards");
		return BL_FAILED;
	}
	st = ix->stmt[IX_SHARD_ADD];
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ix_err(ix, "adding a shard");
		sqlite3_reset(st);
		return BL_FAILED;
	}
	sqlite3_reset(st);
	*id = sqlite3_last_insert_rowid(ix->db);
	return BL_OK;
}

/* ",a,b," from a label set, names sorted; bits over index ids. */
static int labels_text(const bl_ruleset *rs, const int *map, const int *order,
		       int n, const bl_labelset *ls, bl_buf *text,
		       unsigned char bits[BL_MAX_LABELS / 8], int *nbits)
{
	int top = 0;
	bl_buf_reset(text);
	if (bl_buf_addch(text, ',') != BL_OK)
		return BL_FAILED;
	memset(bits, 0, BL_MAX_LABELS / 8);
	for (int k = 0; k < n; k++) {
		int i = order[k];
		if (!bl_labelset_has(ls, i))
			continue;
		if (bl_buf_adds(text, bl_ruleset_label(rs, i)) != BL_OK ||
		    bl_buf_addch(text, ',') != BL_OK)
			return BL_FAILED;
		bits[map[i] >> 3] |= (unsigned char)(1u << (map[i] & 7));
		if (map[i] / 8 + 1 > top)
			top = map[i] / 8 + 1;
	}
	*nbits = top;
	return BL_OK;
}

static int cmp_label(const void *a, const void *b, void *rs)
{
	return strcmp(bl_ruleset_label(rs, *(const int *)a),
		      bl_ruleset_label(rs, *(const int *)b));
}

static void bind_str(sqlite3_stmt *st, int col, const bl_buf *arena, size_t off)
{
	if (off == BL_NO_STR)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_text(st, col, arena->buf + off, -1, SQLITE_STATIC);
}

int bl_index_write_shard(bl_index *ix, const struct bl_index_shard *sh,
			 const bl_ruleset *rs, const int *map,
			 const char *rules_digest)
{
	int order[BL_MAX_LABELS], n = bl_ruleset_nlabels(rs), nbits;
	unsigned char bits[BL_MAX_LABELS / 8];
	bl_buf text;
	sqlite3_stmt *st;
	char now[32];
	int rc = BL_FAILED, in_tx = 0;

	bl_buf_init(&text, 0);
	for (int i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, (size_t)n, sizeof order[0], cmp_label, (void *)(uintptr_t)rs);

	if (bl_index_writer_prepare(ix) != BL_OK || bl_index_exec(ix, "BEGIN") != BL_OK)
		goto out;
	in_tx = 1;
	for (int k = IX_DEL_SAMPLES; k <= IX_DEL_ERRORS; k++) {
		st = ix->stmt[k];
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, sh->id);
		if (sqlite3_step(st) != SQLITE_DONE) {
			ix_err(ix, "clearing a shard");
			goto out;
		}
	}
	st = ix->stmt[IX_ADD_SAMPLE];
	for (size_t i = 0; i < sh->nrows; i++) {
		const struct bl_index_row *r = &sh->rows[i];
		if (labels_text(rs, map, order, n, &r->labels, &text, bits, &nbits) != BL_OK) {
			bl_buf_reset(&ix->errmsg);
			bl_buf_adds(&ix->errmsg, "out of memory");
			goto out;
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, sh->id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)r->ordinal);
		bind_str(st, 3, &sh->arena, r->key);
		sqlite3_bind_int64(st, 4, r->offset);
		sqlite3_bind_text(st, 5, text.buf, (int)text.len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 6, bits, nbits, SQLITE_STATIC);
		bind_str(st, 7, &sh->arena, r->caption);
		if (r->caption_offset >= 0)
			sqlite3_bind_int64(st, 8, r->caption_offset);
		if (r->image_offset >= 0) {
			sqlite3_bind_int64(st, 9, r->image_offset);
			sqlite3_bind_int64(st, 10, r->image_size);
		}
		bind_str(st, 11, &sh->arena, r->image_ext);
		if (r->width > 0)
			sqlite3_bind_int(st, 12, r->width);
		if (r->height > 0)
			sqlite3_bind_int(st, 13, r->height);
		if (r->punsafe == r->punsafe)
			sqlite3_bind_double(st, 14, r->punsafe);
		if (r->pwatermark == r->pwatermark)
			sqlite3_bind_double(st, 15, r->pwatermark);
		bind_str(st, 16, &sh->arena, r->status);
		sqlite3_bind_int64(st, 17, (sqlite3_int64)r->problems);
		{
			/* members' data offsets and sizes, for manifests */
			const int64_t md[5] = {r->caption_data, r->caption_size, r->image_data,
					       r->json_data, r->json_size};
			for (int k = 0; k < 5; k++)
				if (md[k] >= 0)
					sqlite3_bind_int64(st, 18 + k, md[k]);
		}
		if (r->weight != 1)
			sqlite3_bind_double(st, 23, r->weight);
		if (sqlite3_step(st) != SQLITE_DONE) {
			ix_err(ix, "writing samples");
			goto out;
		}
	}
	st = ix->stmt[IX_ADD_ERROR];
	for (size_t i = 0; i < sh->nerrs; i++) {
		const struct bl_index_err *e = &sh->errs[i];
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, sh->id);
		if (e->ordinal >= 0)
			sqlite3_bind_int64(st, 2, e->ordinal);
		sqlite3_bind_text(st, 3, bl_errkind_name(e->kind), -1, SQLITE_STATIC);
		if (e->offset >= 0)
			sqlite3_bind_int64(st, 4, e->offset);
		bind_str(st, 5, &sh->arena, e->msg);
		if (sqlite3_step(st) != SQLITE_DONE) {
			ix_err(ix, "writing errors");
			goto out;
		}
	}
	bl_index_now(now);
	st = ix->stmt[IX_SHARD_DONE];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int64(st, 1, sh->id);
	sqlite3_bind_int64(st, 2, sh->size);
	sqlite3_bind_int64(st, 3, sh->mtime);
	sqlite3_bind_text(st, 4, rules_digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)sh->nrows);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)sh->nerrs);
	if (sh->fatal)
		bind_str(st, 7, &sh->arena, sh->fatal_msg);
	sqlite3_bind_text(st, 8, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ix_err(ix, "finishing a shard");
		goto out;
	}
	if (bl_index_exec(ix, "COMMIT") != BL_OK)
		goto out;
	in_tx = 0;
	rc = BL_OK;
out:
	if (in_tx) {
		char *m = NULL;
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, &m);
		sqlite3_free(m);
	}
	bl_buf_release(&text);
	return rc;
}
