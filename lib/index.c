/*
 * index.c - the SQLite index: one row per sample, one transaction per
 * shard.
 *
 * The schema is documented in ballast.h (version BL_INDEX_SCHEMA).  This
 * module creates, opens and upgrades it, keeps the label table (ids are
 * bit positions in samples.bits and never change within an index), and
 * writes a shard's rows with prepared statements.  It is used from one
 * thread: the scanner funnels every shard's rows to the thread that owns
 * the index.
 *
 * Writers and readers:
 *  - one writer at a time: a writer open takes an flock on the index file
 *    (held until close) and a second writer is refused with a message
 *    naming the cause, never a "database is locked" halfway through;
 *    writes use BEGIN IMMEDIATE and a busy timeout, so readers at work do
 *    not make a writer fail;
 *  - the index is in WAL mode while a writer has it open (readers go on
 *    reading), and goes back to a rollback journal when the writer closes,
 *    so that read-only opens leave no -wal and -shm files behind;
 *  - read-only opens are read-only; on a read-only filesystem they fall
 *    back to SQLite's immutable mode (nobody can be writing there).
 *
 * A shard larger than one chunk of rows (see lib/scan.c) is staged in
 * temporary tables chunk by chunk and moved into the index in the
 * transaction of its last chunk, so the index holds whole shards only and
 * the scanner's memory does not grow with the shard.
 *
 * This is the one file of the library that speaks SQL: the other modules
 * read and write the index through index_int.h (cursors over samples with
 * the columns they ask for, shard rows, error totals, runs, meta,
 * transactions, the copy of a merged part), so a change of the schema is
 * an edit of this file (tests/cli/layers.sh checks that no other file
 * holds a statement or calls SQLite).
 */
#include "error_int.h"
#include "alloc_int.h"
#include "index_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define BUSY_MS 10000
#define BL_STR_(x) #x
#define BL_STR(x) BL_STR_(x)

/* The columns of samples, in one place for the index, the staging table
 * and the copy of a merged part (which reads the columns around bits as
 * they are and remaps bits). */
#define SAMPLE_COLS_HEAD "ordinal, key, offset, labels"
#define SAMPLE_COLS_TAIL                                                             \
	"caption, caption_offset, image_offset, image_size, image_ext, width, height," \
	" punsafe, pwatermark, status, problems, caption_data, caption_size,"          \
	" image_data, json_data, json_size, weight"
#define SAMPLE_COLS "shard_id, " SAMPLE_COLS_HEAD ", bits, " SAMPLE_COLS_TAIL
#define SAMPLE_VALS                                                         \
	"?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20," \
	"?21,?22,?23"

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE IF NOT EXISTS labels(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
	"CREATE TABLE IF NOT EXISTS shards(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL,"
	" size INTEGER, mtime INTEGER, rules_digest TEXT, complete INTEGER NOT NULL DEFAULT 0,"
	" samples INTEGER, errors INTEGER, fatal TEXT, scanned_at TEXT,"
	" options TEXT, errors_not_stored INTEGER NOT NULL DEFAULT 0, dev INTEGER, ino INTEGER);"
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
	"CREATE TABLE IF NOT EXISTS error_counts(shard_id INTEGER NOT NULL, kind TEXT NOT NULL,"
	" n INTEGER NOT NULL, PRIMARY KEY(shard_id, kind)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, started TEXT, finished TEXT,"
	" argv TEXT, threads INTEGER, shards_scanned INTEGER, shards_skipped INTEGER);"
	"CREATE INDEX IF NOT EXISTS shards_ident ON shards(dev, ino);"
	"CREATE VIEW IF NOT EXISTS error_totals(shard_id, kind, n) AS"
	" SELECT shard_id, kind, n FROM error_counts UNION ALL"
	" SELECT shard_id, kind, count(*) FROM errors WHERE shard_id NOT IN"
	" (SELECT shard_id FROM error_counts) GROUP BY shard_id, kind;";

/* Schema 1 -> 2: item errors counted by kind (stored ones are capped per
 * shard), scan options and file identity per shard, where the members'
 * data bytes are (NULL in old rows until rescanned), the weight a sample's
 * JSON gives it (NULL: 1).  Counts of an
 * upgraded index come from its stored errors, which schema 1 kept all. */
static const char upgrade_1_2[] =
	"ALTER TABLE samples ADD COLUMN caption_data INTEGER;"
	"ALTER TABLE samples ADD COLUMN caption_size INTEGER;"
	"ALTER TABLE samples ADD COLUMN image_data INTEGER;"
	"ALTER TABLE samples ADD COLUMN json_data INTEGER;"
	"ALTER TABLE samples ADD COLUMN json_size INTEGER;"
	"ALTER TABLE samples ADD COLUMN weight REAL;"
	"ALTER TABLE shards ADD COLUMN options TEXT;"
	"ALTER TABLE shards ADD COLUMN errors_not_stored INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE shards ADD COLUMN dev INTEGER;"
	"ALTER TABLE shards ADD COLUMN ino INTEGER;"
	"CREATE TABLE error_counts(shard_id INTEGER NOT NULL, kind TEXT NOT NULL,"
	" n INTEGER NOT NULL, PRIMARY KEY(shard_id, kind)) WITHOUT ROWID;"
	"INSERT INTO error_counts SELECT shard_id, kind, count(*) FROM errors"
	" WHERE shard_id IS NOT NULL AND kind IS NOT NULL GROUP BY shard_id, kind;"
	"UPDATE shards SET errors = (SELECT count(*) FROM errors e WHERE e.shard_id = shards.id)"
	" WHERE complete = 1;"
	"CREATE INDEX IF NOT EXISTS shards_ident ON shards(dev, ino);"
	"CREATE VIEW IF NOT EXISTS error_totals(shard_id, kind, n) AS"
	" SELECT shard_id, kind, n FROM error_counts UNION ALL"
	" SELECT shard_id, kind, count(*) FROM errors WHERE shard_id NOT IN"
	" (SELECT shard_id FROM error_counts) GROUP BY shard_id, kind;"
	"INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', '2');"
	"PRAGMA user_version = 2;";

static void ix_err(bl_index *ix, const char *what)
{
	bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s': %s: %s", ix->path, what,
		    ix->db ? sqlite3_errmsg(ix->db) : "cannot open");
}

static int ix_nomem(bl_index *ix)
{
	bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s': out of memory", ix->path);
	return BL_ENOMEM;
}

static int exec_sql(bl_index *ix, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(ix->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s': %s", ix->path,
			    msg ? msg : sqlite3_errmsg(ix->db));
		sqlite3_free(msg);
		return BL_FAILED;
	}
	return BL_OK;
}

static void rollback(bl_index *ix)
{
	if (!sqlite3_get_autocommit(ix->db))
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
}

int bl_index_begin(bl_index *ix)
{
	return exec_sql(ix, "BEGIN IMMEDIATE");
}

int bl_index_commit(bl_index *ix)
{
	return exec_sql(ix, "COMMIT");
}

void bl_index_rollback(bl_index *ix)
{
	rollback(ix);
}

static void now_iso(char out[32])
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
			bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s': label table is damaged at id %d",
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

/* Why SQLite could not read the file, in words that point at the cause. */
static void open_err(bl_index *ix)
{
	int ec = ix->db ? sqlite3_extended_errcode(ix->db) : SQLITE_CANTOPEN;
	int sys = ix->db ? sqlite3_system_errno(ix->db) : 0;

	bl_buf_reset(&ix->errmsg);
	switch (ec & 0xff) {
	case SQLITE_NOTADB:
		bl_buf_addf(&ix->errmsg, "'%s' is not an SQLite database (not a ballast index)",
			    ix->path);
		break;
	case SQLITE_CORRUPT:
		bl_buf_addf(&ix->errmsg, "index '%s' is damaged: %s", ix->path,
			    sqlite3_errmsg(ix->db));
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		bl_buf_addf(&ix->errmsg, "index '%s' is locked by another process: %s",
			    ix->path, sqlite3_errmsg(ix->db));
		break;
	default:
		bl_buf_addf(&ix->errmsg, "index '%s': cannot read it: %s%s%s", ix->path,
			    ix->db ? sqlite3_errmsg(ix->db) : "cannot open",
			    sys ? ": " : "", sys ? strerror(sys) : "");
		break;
	}
}

static int dir_read_only(const char *path)
{
	struct statvfs vfs;
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)((slash - path) ? (slash - path) : 1), path);
	return statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
}

/* The writer's lock: an flock on the index file itself, independent of
 * SQLite's own POSIX locks.  It must stay open until after sqlite3_close
 * (closing any descriptor of the file would drop SQLite's POSIX locks). */
static int take_lock(bl_index *ix)
{
	ix->lock_fd = open(ix->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (ix->lock_fd < 0) {
		bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s': cannot write it: %s", ix->path,
			    errno == EROFS ? "the filesystem is read-only" : strerror(errno));
		return BL_FAILED;
	}
	if (flock(ix->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		bl_buf_reset(&ix->errmsg);
		if (errno == EWOULDBLOCK)
			bl_buf_addf(&ix->errmsg,
				    "index '%s' is being written by another ballast process (a "
				    "scan or a merge): wait for it to finish, or scan into "
				    "another index and merge the two", ix->path);
		else
			bl_buf_addf(&ix->errmsg, "index '%s': cannot lock it: %s", ix->path,
				    strerror(errno));
		return BL_FAILED;
	}
	return BL_OK;
}

static int read_version(bl_index *ix, int *version)
{
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(ix->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
		 sqlite3_step(st) == SQLITE_ROW;
	if (ok)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return ok ? BL_OK : BL_FAILED;
}

/* A new index: the schema and meta, in one transaction. */
static int create_schema(bl_index *ix)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc = BL_FAILED;

	/* a table that is not ours means this is some other database */
	if (sqlite3_prepare_v2(ix->db,
			       "SELECT count(*) FROM sqlite_master WHERE name NOT IN "
			       "('meta','labels','shards','samples','errors','runs','errors_shard',"
			       "'error_counts','shards_ident','error_totals')",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		open_err(ix);
		goto out;
	}
	if (sqlite3_column_int(st, 0) > 0) {
		bl_error_buf(&ix->errmsg, BL_FAILED, "'%s' is an SQLite database but not a ballast index",
			    ix->path);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	now_iso(now);
	if (exec_sql(ix, schema_sql) != BL_OK ||
	    exec_sql(ix, "PRAGMA user_version = " BL_STR(BL_INDEX_SCHEMA)) != BL_OK)
		goto out;
	if (sqlite3_prepare_v2(ix->db,
			       "INSERT OR REPLACE INTO meta(key, value) VALUES "
			       "('schema'," "'" BL_STR(BL_INDEX_SCHEMA) "'" "),"
			       "('tool','ballast " BALLAST_VERSION "'),('created',?1)",
			       -1, &st, NULL) != SQLITE_OK) {
		ix_err(ix, "writing meta");
		goto out;
	}
	sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ix_err(ix, "writing meta");
		goto out;
	}
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Create, upgrade or just check the schema of a writer's index. */
static int writer_schema(bl_index *ix)
{
	int version = 0;

	if (exec_sql(ix, "BEGIN IMMEDIATE") != BL_OK)
		return BL_FAILED;
	if (read_version(ix, &version) != BL_OK) {
		open_err(ix);
		goto fail;
	}
	if (version > BL_INDEX_SCHEMA) {
		bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s' has schema %d; this ballast reads up to %d",
			    ix->path, version, BL_INDEX_SCHEMA);
		goto fail;
	}
	if (version == 0 && create_schema(ix) != BL_OK)
		goto fail;
	if (version == 1) {
		if (exec_sql(ix, upgrade_1_2) != BL_OK)
			goto fail;
		ix->upgraded = 1;
	}
	if (exec_sql(ix, "COMMIT") != BL_OK)
		goto fail;
	return BL_OK;
fail:
	rollback(ix);
	return BL_FAILED;
}

static int reader_schema(bl_index *ix)
{
	int version = 0;

	if (read_version(ix, &version) != BL_OK) {
		open_err(ix);
		return BL_FAILED;
	}
	bl_buf_reset(&ix->errmsg);
	if (version > BL_INDEX_SCHEMA)
		bl_buf_addf(&ix->errmsg, "index '%s' has schema %d; this ballast reads up to %d",
			    ix->path, version, BL_INDEX_SCHEMA);
	else if (version == 0)
		bl_buf_addf(&ix->errmsg, "index '%s' is empty or not a ballast index", ix->path);
	else if (version < BL_INDEX_SCHEMA)
		bl_buf_addf(&ix->errmsg,
			    "index '%s' has schema %d, from an older ballast: upgrade it in "
			    "place with 'ballast merge %s' (every row is kept, nothing is "
			    "rescanned)", ix->path, version, ix->path);
	return ix->errmsg.len ? BL_FAILED : BL_OK;
}

static int open_db(bl_index *ix, int flags)
{
	/* URI names on: a merge attaches its parts read-only by URI */
	int oflags = flags & BL_INDEX_CREATE
			     ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI
			     : SQLITE_OPEN_READONLY;

	if (sqlite3_open_v2(ix->path, &ix->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		open_err(ix);
		return BL_FAILED;
	}
	sqlite3_extended_result_codes(ix->db, 1);
	sqlite3_busy_timeout(ix->db, BUSY_MS);
	return BL_OK;
}

/* A read-only filesystem cannot hold the -shm file a WAL index needs:
 * nobody can be writing there, so read it as immutable. */
static int reopen_immutable(bl_index *ix)
{
	char *uri = sqlite3_mprintf("file:%s?immutable=1", ix->path);
	int ok;

	if (!uri)
		return BL_FAILED;
	sqlite3_close(ix->db);
	ix->db = NULL;
	ok = sqlite3_open_v2(uri, &ix->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
				 SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK;
	sqlite3_free(uri);
	if (!ok) {
		open_err(ix);
		return BL_FAILED;
	}
	return BL_OK;
}

bl_index *bl_index_open(const char *path, int flags, char *err, size_t errlen)
{
	bl_index *ix = calloc(1, sizeof *ix);
	char dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!ix || !path || !(ix->path = strdup(path))) {
		bl_error_set(err, errlen, path ? "out of memory" : "no index path");
		free(ix);
		return NULL;
	}
	ix->lock_fd = -1;
	ix->has_weight = ix->has_members = -1;
	ix->writer = (flags & BL_INDEX_CREATE) != 0;
	bl_buf_init(&ix->errmsg, 4096);
	if (ix->writer) {
		if (take_lock(ix) != BL_OK || open_db(ix, flags) != BL_OK ||
		    writer_schema(ix) != BL_OK)
			goto fail;
		/* WAL + NORMAL: a commit survives a killed process (not a power
		 * cut mid-transaction, which costs at most the last shard,
		 * rescanned on the next run) */
		if (exec_sql(ix, "PRAGMA journal_mode=WAL") != BL_OK ||
		    exec_sql(ix, "PRAGMA synchronous=NORMAL") != BL_OK)
			goto fail;
	} else {
		if (access(path, F_OK) != 0) {
			bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s': cannot open it: %s", path,
				    strerror(errno));
			goto fail;
		}
		if (open_db(ix, flags) != BL_OK)
			goto fail;
		if (reader_schema(ix) != BL_OK) {
			int ec = sqlite3_extended_errcode(ix->db) & 0xff;
			if (!(ec == SQLITE_CANTOPEN || ec == SQLITE_READONLY || ec == SQLITE_IOERR) ||
			    !dir_read_only(path) || reopen_immutable(ix) != BL_OK ||
			    reader_schema(ix) != BL_OK)
				goto fail;
		}
	}
	if (load_labels(ix) != BL_OK)
		goto fail;
	return ix;
fail:
	bl_error_set(err, errlen, "%s", ix->errmsg.len ? ix->errmsg.buf : "cannot open the index");
	bl_index_close(ix);
	return NULL;
}

int bl_index_upgraded(const bl_index *ix)
{
	return ix ? ix->upgraded : 0;
}

int bl_index_close(bl_index *ix)
{
	int rc = BL_OK;
	if (!ix)
		return BL_OK;
	bl_index_writer_release(ix);
	if (ix->db && ix->writer) {
		/* back to a rollback journal: the WAL is checkpointed and its
		 * files go (this fails, harmlessly, while readers are in) */
		sqlite3_exec(ix->db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	}
	if (ix->db && sqlite3_close(ix->db) != SQLITE_OK)
		rc = BL_FAILED;
	if (ix->lock_fd >= 0)
		close(ix->lock_fd); /* after sqlite3_close: see take_lock */
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

/* ---- meta and status --------------------------------------------------- */

int bl_index_meta_set(bl_index *ix, const char *key, const char *value)
{
	sqlite3_stmt *st = NULL;
	int ok;
	ok = sqlite3_prepare_v2(ix->db, value ? "INSERT OR REPLACE INTO main.meta(key, value)"
						" VALUES (?1, ?2)"
					      : "DELETE FROM main.meta WHERE key = ?1",
				-1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		if (value)
			sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	if (!ok)
		ix_err(ix, "writing meta");
	sqlite3_finalize(st);
	return ok ? BL_OK : BL_FAILED;
}

char *bl_index_meta_get(bl_index *ix, const char *schema, const char *key)
{
	sqlite3_stmt *st = NULL;
	char *out = NULL, *sql = sqlite3_mprintf("SELECT value FROM \"%w\".meta WHERE key = ?1",
						   schema ? schema : "main");
	if (sql && sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			out = strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return out;
}

static int64_t query_int(bl_index *ix, const char *sql, int *ok)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;
	if (sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		*ok = 0;
	sqlite3_finalize(st);
	return v;
}

/* Array tasks named in a comma list ("0,2,3"): how many distinct. */
static int count_tasks(const char *list, int tasks, char *missing, size_t mlen)
{
	int n = 0;
	size_t used = 0;
	char *seen = calloc((size_t)tasks + 1, 1);

	if (!seen)
		return 0;
	for (const char *p = list; p && *p;) {
		char *end;
		long t = strtol(p, &end, 10);
		if (end == p)
			break;
		if (t >= 0 && t < tasks && !seen[t]) {
			seen[t] = 1;
			n++;
		}
		p = *end == ',' ? end + 1 : end;
	}
	if (missing && mlen) {
		missing[0] = '\0';
		for (int t = 0; t < tasks && used + 16 < mlen; t++)
			if (!seen[t])
				used += (size_t)snprintf(missing + used, mlen - used, "%s%d",
							 used ? ", " : "", t);
	}
	free(seen);
	return n;
}

int bl_index_get_status(bl_index *ix, bl_index_status *s)
{
	char *v;
	int ok = 1;

	if (!ix || !s)
		return BL_EUSAGE;
	memset(s, 0, sizeof *s);
	s->task = -1;
	s->shards = (uint64_t)query_int(ix, "SELECT count(*) FROM shards", &ok);
	s->shards_complete =
		(uint64_t)query_int(ix, "SELECT count(*) FROM shards WHERE complete = 1", &ok);
	s->shards_damaged = (uint64_t)query_int(
		ix, "SELECT count(*) FROM shards WHERE complete = 1 AND fatal IS NOT NULL", &ok);
	s->samples = (uint64_t)query_int(ix, "SELECT count(*) FROM samples", &ok);
	s->errors = (uint64_t)query_int(ix, "SELECT coalesce(sum(n), 0) FROM error_totals", &ok);
	s->errors_not_stored = (uint64_t)query_int(
		ix, "SELECT coalesce(sum(errors_not_stored), 0) FROM shards", &ok);
	if (!ok) {
		ix_err(ix, "reading the status");
		return BL_FAILED;
	}
	if ((v = bl_index_meta_get(ix, NULL, "tasks")) != NULL) {
		s->tasks = atoi(v);
		free(v);
	}
	if ((v = bl_index_meta_get(ix, NULL, "task")) != NULL) {
		s->task = atoi(v);
		free(v);
	}
	v = bl_index_meta_get(ix, NULL, "tasks_merged");
	if (s->tasks > 1)
		s->tasks_merged = count_tasks(v, s->tasks, NULL, 0);
	free(v);
	s->partial = s->shards_complete < s->shards ||
		     (s->tasks > 1 && s->task >= 0) ||
		     (s->tasks > 1 && s->task < 0 && s->tasks_merged < s->tasks);
	return BL_OK;
}

int bl_index_partial_reason(bl_index *ix, char *msg, size_t len)
{
	bl_index_status s;
	size_t used = 0;

	if (!msg || !len)
		return BL_EUSAGE;
	msg[0] = '\0';
	if (bl_index_get_status(ix, &s) != BL_OK) {
		snprintf(msg, len, "%s", bl_index_errmsg(ix));
		return BL_FAILED;
	}
	if (!s.partial)
		return 0;
	used += (size_t)snprintf(msg, len, "index '%s' is incomplete:", ix->path);
	if (s.shards_complete < s.shards && used < len)
		used += (size_t)snprintf(msg + used, len - used,
					 " %llu of its %llu shards were never committed (a scan "
					 "was stopped, or a shard could not be written): run the "
					 "scan again to finish them;",
					 (unsigned long long)(s.shards - s.shards_complete),
					 (unsigned long long)s.shards);
	if (s.tasks > 1 && s.task >= 0 && used < len) {
		/* the shards of the other tasks are in no row of this part:
		 * say how many the scan planned */
		char *v = bl_index_meta_get(ix, NULL, "plan_shards");
		long long planned = v ? atoll(v) : 0;
		free(v);
		used += (size_t)snprintf(msg + used, len - used,
					 " it is the part of array task %d of %d", s.task, s.tasks);
		if (planned > (long long)s.shards && used < len)
			used += (size_t)snprintf(msg + used, len - used,
						 " (its %llu shards of the %lld the scan planned)",
						 (unsigned long long)s.shards, planned);
		if (used < len)
			used += (size_t)snprintf(msg + used, len - used,
						 ": merge the %d parts with 'ballast merge';",
						 s.tasks);
	}
	if (s.tasks > 1 && s.task < 0 && s.tasks_merged < s.tasks && used < len) {
		char missing[256];
		char *v = bl_index_meta_get(ix, NULL, "tasks_merged");
		count_tasks(v, s.tasks, missing, sizeof missing);
		free(v);
		used += (size_t)snprintf(msg + used, len - used,
					 " %d of the %d array tasks are merged (missing: %s);",
					 s.tasks_merged, s.tasks, missing);
	}
	if (used > 0 && used < len && msg[used - 1] == ';')
		msg[used - 1] = '\0';
	return 1;
}

/* ---- what makes a whole index's numbers wrong --------------------------- */

/* Shards named in a warning, at most; the rest are counted. */
#define WARN_NAMES 4

/* Append ", PATH" (the first without the comma) to b, escaping nothing:
 * the renderings escape for their output. */
static int warn_name(bl_buf *b, int first, const char *path)
{
	return bl_buf_addf(b, "%s%s", first ? "" : ", ", path ? path : "?");
}

/*
 * Complete shards scanned with more than one rule set: one sentence
 * naming each rule set (digest), how many shards carry it and the first
 * of them.  0 when they agree.
 */
static int warn_rules(bl_index *ix, bl_strlist *out)
{
	sqlite3_stmt *st = NULL;
	bl_buf b;
	char *last = bl_index_meta_get(ix, NULL, "rules_digest");
	char cur[65] = "";
	int rc = BL_OK, sets = 0, step = SQLITE_DONE;
	int64_t in_set = 0, named = 0;

	bl_buf_init(&b, 0);
	/* the rule sets in the order their first shard was given */
	if (sqlite3_prepare_v2(ix->db,
			       "SELECT s.rules_digest, s.path, g.n, (SELECT count(DISTINCT rules_digest)"
			       " FROM shards WHERE complete = 1 AND rules_digest <> '')"
			       " FROM shards s JOIN (SELECT rules_digest AS d, count(*) AS n,"
			       " min(id) AS first FROM shards WHERE complete = 1 AND rules_digest <> ''"
			       " GROUP BY rules_digest) g ON g.d = s.rules_digest"
			       " WHERE s.complete = 1 ORDER BY g.first, s.id",
			       -1, &st, NULL) != SQLITE_OK)
		goto sql;
	while (rc == BL_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 0);
		const char *path = (const char *)sqlite3_column_text(st, 1);
		int64_t n = sqlite3_column_int64(st, 2), nsets = sqlite3_column_int64(st, 3);
		if (nsets < 2 || !d)
			break; /* one rule set: nothing to say */
		if (strcmp(d, cur) != 0) {
			if (sets && in_set > named)
				rc = bl_buf_addf(&b, " and %lld more", (long long)(in_set - named));
			if (rc == BL_OK && !sets)
				rc = bl_buf_addf(&b, "the index holds shards scanned with %lld "
						 "different rule sets, so a label does not mean the "
						 "same in all of them:", (long long)nsets);
			if (rc == BL_OK)
				rc = bl_buf_addf(&b, "%s %lld shard%s with rules %.12s%s (",
						 sets ? ");" : "", (long long)n, n == 1 ? "" : "s", d,
						 last && !strcmp(last, d) ? ", the last scan's" : "");
			snprintf(cur, sizeof cur, "%s", d);
			sets++;
			named = 0;
			in_set = n;
		}
		if (rc == BL_OK && named < WARN_NAMES)
			rc = warn_name(&b, !named++, path);
	}
	if (rc != BL_OK)
		goto nomem;
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		goto sql;
	if (sets) {
		if (in_set > named)
			rc = bl_buf_addf(&b, " and %lld more", (long long)(in_set - named));
		if (rc == BL_OK)
			rc = bl_buf_adds(&b, "); scan every shard again with one rule set "
					     "(ballast scan -r RULES rescans the shards of other rules)");
		if (rc == BL_OK)
			rc = bl_strlist_add(out, b.buf);
		if (rc != BL_OK)
			goto nomem;
	}
	rc = sets ? 1 : 0;
	goto out;
nomem:
	rc = ix_nomem(ix);
	goto out;
sql:
	ix_err(ix, "reading the shards' rules");
	rc = BL_FAILED;
out:
	sqlite3_finalize(st);
	bl_buf_release(&b);
	free(last);
	return rc;
}

/* The reason of a shard's "fatal" text without the shard's own name in
 * front ("shard 'PATH': " or "shard 'PATH' "), which the warning gives. */
static const char *fatal_reason(const char *fatal, const char *path)
{
	size_t n = strlen(path);

	if (strncmp(fatal, "shard '", 7) == 0 && strncmp(fatal + 7, path, n) == 0 &&
	    fatal[7 + n] == '\'') {
		fatal += 8 + n;
		fatal += *fatal == ':';
		fatal += *fatal == ' ';
	}
	return fatal;
}

/* Complete shards whose reading ended in damage (shards.fatal): one
 * sentence naming them.  0 when there is none. */
static int warn_fatal(bl_index *ix, bl_strlist *out)
{
	sqlite3_stmt *st = NULL;
	bl_buf b;
	int rc = BL_OK, step = SQLITE_DONE;
	int64_t n = 0, all = 0;

	bl_buf_init(&b, 0);
	if (sqlite3_prepare_v2(ix->db,
			       "SELECT path, fatal, count(*) OVER (),"
			       " (SELECT count(*) FROM shards WHERE complete = 1)"
			       " FROM shards WHERE complete = 1 AND fatal IS NOT NULL ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		goto sql;
	while (rc == BL_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(st, 0);
		const char *fatal = (const char *)sqlite3_column_text(st, 1);
		if (!n) {
			all = sqlite3_column_int64(st, 2);
			rc = bl_buf_addf(&b, "%lld of the %lld shards of the index %s not read whole "
					 "(a truncated or unreadable archive: what lay past the damage "
					 "is counted nowhere): ", (long long)all,
					 (long long)sqlite3_column_int64(st, 3),
					 all == 1 ? "was" : "were");
		}
		if (rc == BL_OK && n < WARN_NAMES)
			rc = bl_buf_addf(&b, "%s%s (%s)", n ? "; " : "", path ? path : "?",
					 path && fatal ? fatal_reason(fatal, path) : "");
		n++;
	}
	if (rc != BL_OK)
		goto nomem;
	if (step != SQLITE_DONE)
		goto sql;
	if (n > WARN_NAMES)
		rc = bl_buf_addf(&b, "; and %lld more (shards.fatal)", (long long)(n - WARN_NAMES));
	if (rc == BL_OK && n)
		rc = bl_buf_addf(&b, "; scan %s again once %s whole", n == 1 ? "it" : "them",
				 n == 1 ? "it is" : "they are");
	if (rc == BL_OK && n)
		rc = bl_strlist_add(out, b.buf);
	if (rc != BL_OK)
		goto nomem;
	rc = n ? 1 : 0;
	goto out;
nomem:
	rc = ix_nomem(ix);
	goto out;
sql:
	ix_err(ix, "reading the shards");
	rc = BL_FAILED;
out:
	sqlite3_finalize(st);
	bl_buf_release(&b);
	return rc;
}

int bl_index_warnings(bl_index *ix, bl_strlist *out)
{
	int a, b;

	if (!ix || !out)
		return BL_EUSAGE;
	if ((a = warn_rules(ix, out)) < 0)
		return a;
	if ((b = warn_fatal(ix, out)) < 0)
		return b;
	return a + b;
}

/* ---- writing ---------------------------------------------------------- */

/* Append a label (its row, and the table in memory) under the next id:
 * LABEL_OK, LABEL_FULL (BL_MAX_LABELS taken), LABEL_SQL (errmsg not set),
 * LABEL_NOMEM.  *st: the insert, prepared on first use. */
enum { LABEL_OK, LABEL_FULL, LABEL_SQL, LABEL_NOMEM };

static int add_label(bl_index *ix, sqlite3_stmt **st, const char *name, int *id)
{
	if (ix->nlabels >= BL_MAX_LABELS)
		return LABEL_FULL;
	if (!*st && sqlite3_prepare_v2(ix->db, "INSERT INTO main.labels(id, name) VALUES (?1, ?2)",
				       -1, st, NULL) != SQLITE_OK)
		return LABEL_SQL;
	sqlite3_reset(*st);
	sqlite3_bind_int(*st, 1, ix->nlabels);
	sqlite3_bind_text(*st, 2, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(*st) != SQLITE_DONE)
		return LABEL_SQL;
	if (!(ix->labels[ix->nlabels] = strdup(name)))
		return LABEL_NOMEM;
	*id = ix->nlabels++;
	return LABEL_OK;
}

int bl_index_map_labels(bl_index *ix, const bl_ruleset *rs, int *map)
{
	sqlite3_stmt *st = NULL;
	int rc = BL_FAILED, n = bl_ruleset_nlabels(rs);

	for (int i = 0; i < n; i++) {
		const char *name = bl_ruleset_label(rs, i);
		int id = bl_index_label_id(ix, name);
		if (id < 0) {
			int r = add_label(ix, &st, name, &id);
			if (r == LABEL_FULL) {
				bl_error_buf(&ix->errmsg, BL_FAILED,
					    "index '%s': more than %d labels over its life",
					    ix->path, BL_MAX_LABELS);
			} else if (r == LABEL_SQL) {
				ix_err(ix, "adding labels");
			}
			if (r != LABEL_OK)
				goto out;
		}
		map[i] = id;
	}
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

static const char *const writer_sql[IX_NSTMT] = {
	[IX_SHARD_GET] = "SELECT id, size, mtime, rules_digest, complete, options FROM shards"
			 " WHERE path = ?1",
	[IX_SHARD_BY_IDENT] = "SELECT id, size, mtime, rules_digest, complete, options, path"
			      " FROM shards WHERE dev = ?1 AND ino = ?2 AND size = ?3 AND"
			      " mtime = ?4 ORDER BY id LIMIT 1",
	[IX_SHARD_ADD] = "INSERT INTO shards(path, complete) VALUES (?1, 0)",
	[IX_SHARD_DONE] = "UPDATE shards SET size=?2, mtime=?3, rules_digest=?4, complete=1,"
			  " samples=?5, errors=?6, fatal=?7, scanned_at=?8, options=?9,"
			  " errors_not_stored=?10, dev=?11, ino=?12 WHERE id=?1",
	[IX_DEL_SAMPLES] = "DELETE FROM samples WHERE shard_id = ?1",
	[IX_DEL_ERRORS] = "DELETE FROM errors WHERE shard_id = ?1",
	[IX_DEL_COUNTS] = "DELETE FROM error_counts WHERE shard_id = ?1",
	[IX_ADD_SAMPLE] = "INSERT INTO main.samples(" SAMPLE_COLS ") VALUES (" SAMPLE_VALS ")",
	[IX_ADD_ERROR] = "INSERT INTO main.errors(shard_id, ordinal, kind, offset, message)"
			 " VALUES (?1,?2,?3,?4,?5)",
	[IX_ADD_COUNT] = "INSERT INTO main.error_counts(shard_id, kind, n) VALUES (?1,?2,?3)",
};

static const char *const stage_sql[IX_NSTAGE] = {
	[IX_STAGE_SAMPLE] = "INSERT INTO temp.stage_samples(" SAMPLE_COLS ") VALUES ("
			    SAMPLE_VALS ")",
	[IX_STAGE_ERROR] = "INSERT INTO temp.stage_errors(shard_id, ordinal, kind, offset,"
			   " message) VALUES (?1,?2,?3,?4,?5)",
	[IX_STAGE_COPY_SAMPLES] = "INSERT INTO main.samples SELECT * FROM temp.stage_samples"
				  " WHERE shard_id = ?1 ORDER BY ordinal",
	[IX_STAGE_COPY_ERRORS] = "INSERT INTO main.errors SELECT * FROM temp.stage_errors"
				 " WHERE shard_id = ?1 ORDER BY rowid",
	[IX_STAGE_DEL_SAMPLES] = "DELETE FROM temp.stage_samples WHERE shard_id = ?1",
	[IX_STAGE_DEL_ERRORS] = "DELETE FROM temp.stage_errors WHERE shard_id = ?1",
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

/* The staging tables mirror samples and errors (whatever their columns). */
static int stage_prepare(bl_index *ix)
{
	if (ix->stage[0])
		return BL_OK;
	if (exec_sql(ix, "CREATE TEMP TABLE IF NOT EXISTS stage_samples AS"
			  " SELECT * FROM main.samples WHERE 0;"
			  "CREATE INDEX IF NOT EXISTS temp.stage_samples_shard ON"
			  " stage_samples(shard_id, ordinal);"
			  "CREATE TEMP TABLE IF NOT EXISTS stage_errors AS"
			  " SELECT * FROM main.errors WHERE 0;"
			  "CREATE INDEX IF NOT EXISTS temp.stage_errors_shard ON"
			  " stage_errors(shard_id);") != BL_OK)
		return BL_FAILED;
	for (int i = 0; i < IX_NSTAGE; i++) {
		if (sqlite3_prepare_v2(ix->db, stage_sql[i], -1, &ix->stage[i], NULL) != SQLITE_OK) {
			ix_err(ix, "preparing the staging tables");
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
	for (int i = 0; i < IX_NSTAGE; i++) {
		sqlite3_finalize(ix->stage[i]);
		ix->stage[i] = NULL;
	}
}

static void read_state(sqlite3_stmt *st, int64_t *id, struct bl_index_shard_state *state)
{
	const char *d = (const char *)sqlite3_column_text(st, 3);
	const char *o = (const char *)sqlite3_column_text(st, 5);
	*id = sqlite3_column_int64(st, 0);
	state->size = sqlite3_column_int64(st, 1);
	state->mtime = sqlite3_column_int64(st, 2);
	snprintf(state->rules_digest, sizeof state->rules_digest, "%s", d ? d : "");
	snprintf(state->options, sizeof state->options, "%s", o ? o : "");
	state->complete = sqlite3_column_int(st, 4);
	state->found = 1;
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
		read_state(st, id, state);
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

int bl_index_shard_by_ident(bl_index *ix, int64_t dev, int64_t ino, int64_t size,
			    int64_t mtime, int64_t *id, struct bl_index_shard_state *state)
{
	sqlite3_stmt *st = ix->stmt[IX_SHARD_BY_IDENT];
	int rc;

	memset(state, 0, sizeof *state);
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, dev);
	sqlite3_bind_int64(st, 2, ino);
	sqlite3_bind_int64(st, 3, size);
	sqlite3_bind_int64(st, 4, mtime);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 6);
		read_state(st, id, state);
		state->path = strdup(p ? p : "");
		sqlite3_reset(st);
		return state->path ? 1 : BL_FAILED;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		ix_err(ix, "reading shards");
		return BL_FAILED;
	}
	return 0;
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

/* Is this failure the shard's (a row the index refuses) or the index's
 * (it cannot be written at all)? */
static int failure_tier(bl_index *ix)
{
	switch (sqlite3_errcode(ix->db) & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_TOOBIG:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return BL_FAILED;
	default:
		return BL_FATAL;
	}
}

/* Name the shard (and the sample) a write failed on. */
static int chunk_err(bl_index *ix, const struct bl_index_shard *ch,
		     const struct bl_index_row *row, const char *what)
{
	int tier = failure_tier(ix);
	bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s': cannot write shard '%s'", ix->path, ch->path);
	if (row)
		bl_buf_addf(&ix->errmsg, " sample '%s' (ordinal %llu, offset %lld)",
			    row->key != BL_NO_STR ? ch->arena.buf + row->key : "(no key)",
			    (unsigned long long)row->ordinal, (long long)row->offset);
	bl_buf_addf(&ix->errmsg, ": %s: %s%s", what, sqlite3_errmsg(ix->db),
		    tier == BL_FATAL ? "" : " (the shard is left out; the scan goes on)");
	return tier;
}

static int step_id(bl_index *ix, sqlite3_stmt *st, int64_t id)
{
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	return sqlite3_step(st) == SQLITE_DONE ? BL_OK : BL_FAILED;
}

/* Insert the chunk's rows and errors with the given statements. */
static int insert_rows(bl_index *ix, const struct bl_index_shard *ch, const bl_ruleset *rs,
		       const int *map, sqlite3_stmt *st, sqlite3_stmt *est)
{
	int order[BL_MAX_LABELS], n = bl_ruleset_nlabels(rs), nbits, rc = BL_FAILED;
	unsigned char bits[BL_MAX_LABELS / 8];
	bl_buf text;

	bl_buf_init(&text, 0);
	for (int i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, (size_t)n, sizeof order[0], cmp_label, (void *)(uintptr_t)rs);
	for (size_t i = 0; i < ch->nrows; i++) {
		const struct bl_index_row *r = &ch->rows[i];
		if (labels_text(rs, map, order, n, &r->labels, &text, bits, &nbits) != BL_OK) {
			bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s': out of memory", ix->path);
			rc = BL_FATAL;
			goto out;
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, ch->id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)r->ordinal);
		bind_str(st, 3, &ch->arena, r->key);
		sqlite3_bind_int64(st, 4, r->offset);
		sqlite3_bind_text(st, 5, text.buf, (int)text.len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 6, bits, nbits, SQLITE_STATIC);
		bind_str(st, 7, &ch->arena, r->caption);
		if (r->caption_offset >= 0)
			sqlite3_bind_int64(st, 8, r->caption_offset);
		if (r->image_offset >= 0) {
			sqlite3_bind_int64(st, 9, r->image_offset);
			sqlite3_bind_int64(st, 10, r->image_size);
		}
		bind_str(st, 11, &ch->arena, r->image_ext);
		if (r->width > 0)
			sqlite3_bind_int(st, 12, r->width);
		if (r->height > 0)
			sqlite3_bind_int(st, 13, r->height);
		if (r->punsafe == r->punsafe)
			sqlite3_bind_double(st, 14, r->punsafe);
		if (r->pwatermark == r->pwatermark)
			sqlite3_bind_double(st, 15, r->pwatermark);
		bind_str(st, 16, &ch->arena, r->status);
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
			rc = chunk_err(ix, ch, r, "writing samples");
			goto out;
		}
	}
	for (size_t i = 0; i < ch->nerrs; i++) {
		const struct bl_index_err *e = &ch->errs[i];
		sqlite3_reset(est);
		sqlite3_clear_bindings(est);
		sqlite3_bind_int64(est, 1, ch->id);
		if (e->ordinal >= 0)
			sqlite3_bind_int64(est, 2, e->ordinal);
		sqlite3_bind_text(est, 3, bl_errkind_name(e->kind), -1, SQLITE_STATIC);
		if (e->offset >= 0)
			sqlite3_bind_int64(est, 4, e->offset);
		bind_str(est, 5, &ch->arena, e->msg);
		if (sqlite3_step(est) != SQLITE_DONE) {
			rc = chunk_err(ix, ch, NULL, "writing item errors");
			goto out;
		}
	}
	rc = BL_OK;
out:
	bl_buf_release(&text);
	return rc;
}

/* The shard's row: committed, with its totals. */
static int finish_shard(bl_index *ix, const struct bl_index_shard *ch, const char *digest)
{
	sqlite3_stmt *st = ix->stmt[IX_ADD_COUNT];
	char now[32];

	if (step_id(ix, ix->stmt[IX_DEL_COUNTS], ch->id) != BL_OK)
		return chunk_err(ix, ch, NULL, "clearing error counts");
	for (int k = 1; k < BL_ERR__COUNT; k++) {
		if (!ch->counts[k])
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, ch->id);
		sqlite3_bind_text(st, 2, bl_errkind_name((bl_errkind)k), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)ch->counts[k]);
		if (sqlite3_step(st) != SQLITE_DONE)
			return chunk_err(ix, ch, NULL, "writing error counts");
	}
	now_iso(now);
	st = ix->stmt[IX_SHARD_DONE];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int64(st, 1, ch->id);
	sqlite3_bind_int64(st, 2, ch->size);
	sqlite3_bind_int64(st, 3, ch->mtime);
	sqlite3_bind_text(st, 4, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)ch->samples);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)ch->errors);
	if (ch->fatal)
		bind_str(st, 7, &ch->arena, ch->fatal_msg);
	sqlite3_bind_text(st, 8, now, -1, SQLITE_STATIC);
	if (ch->options)
		sqlite3_bind_text(st, 9, ch->options, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)ch->not_stored);
	if (ch->dev >= 0) {
		sqlite3_bind_int64(st, 11, ch->dev);
		sqlite3_bind_int64(st, 12, ch->ino);
	}
	if (sqlite3_step(st) != SQLITE_DONE)
		return chunk_err(ix, ch, NULL, "finishing a shard");
	return BL_OK;
}

int bl_index_write_chunk(bl_index *ix, const struct bl_index_shard *ch,
			 const bl_ruleset *rs, const int *map, const char *digest)
{
	int rc = BL_FATAL, whole = ch->first && ch->last;

	if (bl_index_writer_prepare(ix) != BL_OK || (!whole && stage_prepare(ix) != BL_OK))
		return BL_FATAL;
	if (exec_sql(ix, "BEGIN IMMEDIATE") != BL_OK)
		return BL_FATAL;
	if (!ch->last) {
		/* stage it: the index itself holds whole shards only */
		if (ch->first && (step_id(ix, ix->stage[IX_STAGE_DEL_SAMPLES], ch->id) != BL_OK ||
				  step_id(ix, ix->stage[IX_STAGE_DEL_ERRORS], ch->id) != BL_OK)) {
			rc = chunk_err(ix, ch, NULL, "clearing the staging tables");
			goto out;
		}
		if ((rc = insert_rows(ix, ch, rs, map, ix->stage[IX_STAGE_SAMPLE],
				      ix->stage[IX_STAGE_ERROR])) != BL_OK)
			goto out;
	} else {
		if (step_id(ix, ix->stmt[IX_DEL_SAMPLES], ch->id) != BL_OK ||
		    step_id(ix, ix->stmt[IX_DEL_ERRORS], ch->id) != BL_OK) {
			rc = chunk_err(ix, ch, NULL, "clearing a shard");
			goto out;
		}
		if (!whole &&
		    (step_id(ix, ix->stage[IX_STAGE_COPY_SAMPLES], ch->id) != BL_OK ||
		     step_id(ix, ix->stage[IX_STAGE_COPY_ERRORS], ch->id) != BL_OK ||
		     step_id(ix, ix->stage[IX_STAGE_DEL_SAMPLES], ch->id) != BL_OK ||
		     step_id(ix, ix->stage[IX_STAGE_DEL_ERRORS], ch->id) != BL_OK)) {
			rc = chunk_err(ix, ch, NULL, "moving staged rows");
			goto out;
		}
		if ((rc = insert_rows(ix, ch, rs, map, ix->stmt[IX_ADD_SAMPLE],
				      ix->stmt[IX_ADD_ERROR])) != BL_OK ||
		    (rc = finish_shard(ix, ch, digest)) != BL_OK)
			goto out;
	}
	if (exec_sql(ix, "COMMIT") != BL_OK) {
		rc = BL_FATAL;
		goto out;
	}
	return BL_OK;
out:
	rollback(ix);
	if (rc == BL_FAILED && !whole)
		bl_index_drop_staged(ix, ch->id);
	return rc;
}

void bl_index_drop_staged(bl_index *ix, int64_t shard_id)
{
	if (!ix->stage[0])
		return;
	if (sqlite3_exec(ix->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return;
	step_id(ix, ix->stage[IX_STAGE_DEL_SAMPLES], shard_id);
	step_id(ix, ix->stage[IX_STAGE_DEL_ERRORS], shard_id);
	if (sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rollback(ix);
}

/* ---- runs ---------------------------------------------------------------- */

int64_t bl_index_run_start(bl_index *ix, const char *argv, int threads)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int64_t id = -1;

	now_iso(now);
	if (sqlite3_prepare_v2(ix->db, "INSERT INTO runs(started, argv, threads) VALUES (?1,?2,?3)",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, argv ? argv : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 3, threads);
		if (sqlite3_step(st) == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(ix->db);
	}
	sqlite3_finalize(st);
	return id;
}

int bl_index_run_finish(bl_index *ix, int64_t run, uint64_t scanned, uint64_t skipped)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int ok = 0;

	now_iso(now);
	if (sqlite3_prepare_v2(ix->db, "UPDATE runs SET finished=?1, shards_scanned=?2,"
			       " shards_skipped=?3 WHERE id=?4", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)scanned);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)skipped);
		sqlite3_bind_int64(st, 4, run);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	if (!ok)
		ix_err(ix, "recording the run");
	sqlite3_finalize(st);
	return ok ? BL_OK : BL_FAILED;
}

/* ---- reading: cursors over samples ---------------------------------------- */

/* Which columns samples has beyond its first schema-2 form: an index
 * written before them reads NULL there. */
static void probe_columns(bl_index *ix)
{
	sqlite3_stmt *st = NULL;

	if (ix->has_weight >= 0)
		return;
	ix->has_weight = ix->has_members = 0;
	if (sqlite3_prepare_v2(ix->db, "SELECT name FROM pragma_table_info('samples') WHERE"
			       " name IN ('weight', 'json_size')", -1, &st, NULL) == SQLITE_OK)
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *n = (const char *)sqlite3_column_text(st, 0);
			if (n && strcmp(n, "weight") == 0)
				ix->has_weight = 1;
			else if (n)
				ix->has_members = 1;
		}
	sqlite3_finalize(st);
}

/* The fields of struct bl_index_sample: their columns, what reads them,
 * and how a row is read into them. */
enum { NEED_NONE, NEED_WEIGHT, NEED_MEMBERS };
enum { K_INT, K_NULLABLE, K_TEXT, K_BLOB, K_WEIGHT };

#define FIELD_AT(f) offsetof(struct bl_index_sample, f)
#define NO_LEN ((size_t)-1)

static const struct {
	const char *sql;  /* the column (samples s, shards sh) */
	unsigned cols;    /* read when any of these BL_IXC_* is asked for */
	int need;         /* a column an older index may lack */
	int kind;         /* K_* */
	size_t at, len;   /* where it goes in the row (len: its length, or NO_LEN) */
	unsigned null;    /* K_NULLABLE: its bit in nulls */
} fields[] = {
	{"s.shard_id", BL_IXC_SHARD, NEED_NONE, K_INT, FIELD_AT(shard_id), NO_LEN, 0},
	{"s.ordinal", BL_IXC_ORDINAL, NEED_NONE, K_INT, FIELD_AT(ordinal), NO_LEN, 0},
	{"s.key", BL_IXC_KEY, NEED_NONE, K_TEXT, FIELD_AT(key), FIELD_AT(key_len), 0},
	{"s.offset", BL_IXC_KEY, NEED_NONE, K_INT, FIELD_AT(offset), NO_LEN, 0},
	{"s.labels", BL_IXC_LABELS, NEED_NONE, K_TEXT, FIELD_AT(labels), FIELD_AT(labels_len), 0},
	{"s.bits", BL_IXC_BITS, NEED_NONE, K_BLOB, FIELD_AT(bits), FIELD_AT(nbits), 0},
	{"s.caption", BL_IXC_CAPTION, NEED_NONE, K_TEXT, FIELD_AT(caption), NO_LEN, 0},
	{"s.image_offset", BL_IXC_IMAGE, NEED_NONE, K_NULLABLE, FIELD_AT(image_offset), NO_LEN,
	 BL_IXN_IMAGE_OFFSET},
	{"s.image_size", BL_IXC_IMAGE | BL_IXC_MEMBERS, NEED_NONE, K_NULLABLE, FIELD_AT(image_size),
	 NO_LEN, BL_IXN_IMAGE_SIZE},
	{"s.image_ext", BL_IXC_IMAGE | BL_IXC_MEMBERS, NEED_NONE, K_TEXT, FIELD_AT(image_ext),
	 NO_LEN, 0},
	{"s.caption_data", BL_IXC_MEMBERS, NEED_MEMBERS, K_NULLABLE, FIELD_AT(caption_data), NO_LEN,
	 BL_IXN_CAPTION_DATA},
	{"s.caption_size", BL_IXC_MEMBERS, NEED_MEMBERS, K_NULLABLE, FIELD_AT(caption_size), NO_LEN,
	 BL_IXN_CAPTION_SIZE},
	{"s.image_data", BL_IXC_MEMBERS, NEED_MEMBERS, K_NULLABLE, FIELD_AT(image_data), NO_LEN,
	 BL_IXN_IMAGE_DATA},
	{"s.json_data", BL_IXC_MEMBERS, NEED_MEMBERS, K_NULLABLE, FIELD_AT(json_data), NO_LEN,
	 BL_IXN_JSON_DATA},
	{"s.json_size", BL_IXC_MEMBERS, NEED_MEMBERS, K_NULLABLE, FIELD_AT(json_size), NO_LEN,
	 BL_IXN_JSON_SIZE},
	{"s.problems", BL_IXC_PROBLEMS, NEED_NONE, K_INT, FIELD_AT(problems), NO_LEN, 0},
	{"s.weight", BL_IXC_WEIGHT, NEED_WEIGHT, K_WEIGHT, FIELD_AT(weight), NO_LEN, 0},
	{"sh.path", BL_IXC_PATH, NEED_NONE, K_TEXT, FIELD_AT(path), NO_LEN, 0},
};

#define NFIELDS (sizeof fields / sizeof fields[0])

enum { SCOPE_ALL, SCOPE_SHARD, SCOPE_ONE, SCOPE_N };

/* One result column read into the row: by kind, so that a row is a few
 * tight loops. */
struct getter {
	int col;
	void *dst, *len;  /* into the cursor's row; len may be NULL */
	unsigned null;
};

struct bl_index_cursor {
	bl_index *ix;
	unsigned cols;
	sqlite3_stmt *st[SCOPE_N]; /* made on first use */
	sqlite3_stmt *cur;         /* the positioned one */
	int field[NFIELDS];        /* result column k holds fields[field[k]] */
	int nfield;
	struct getter get[K_WEIGHT + 1][NFIELDS];
	int nget[K_WEIGHT + 1];
	struct bl_index_sample row;
};

bl_index_cursor *bl_index_cursor_new(bl_index *ix, unsigned cols)
{
	bl_index_cursor *c;

	if (!ix)
		return NULL;
	if (!(c = calloc(1, sizeof *c))) {
		ix_nomem(ix);
		return NULL;
	}
	c->ix = ix;
	c->cols = cols;
	c->row.weight = 1;
	for (size_t f = 0; f < NFIELDS; f++) {
		struct getter *g;
		if (!(fields[f].cols & cols))
			continue;
		g = &c->get[fields[f].kind][c->nget[fields[f].kind]++];
		g->col = c->nfield;
		g->dst = (char *)&c->row + fields[f].at;
		g->len = fields[f].len == NO_LEN ? NULL : (char *)&c->row + fields[f].len;
		g->null = fields[f].null;
		c->field[c->nfield++] = (int)f;
	}
	return c;
}

/* The cursor's statement for a scope: made once, then reset. */
static int cursor_at(bl_index_cursor *c, int scope)
{
	static const char *const where[SCOPE_N] = {
		[SCOPE_ALL] = " ORDER BY s.shard_id, s.ordinal",
		[SCOPE_SHARD] = " WHERE s.shard_id = ?1 ORDER BY s.ordinal",
		[SCOPE_ONE] = " WHERE s.shard_id = ?1 AND s.ordinal = ?2",
	};
	bl_index *ix = c->ix;
	bl_buf sql;
	int rc = BL_OK;

	c->cur = NULL;
	if (c->st[scope]) {
		sqlite3_reset(c->st[scope]);
		sqlite3_clear_bindings(c->st[scope]);
		c->cur = c->st[scope];
		return BL_OK;
	}
	probe_columns(ix);
	bl_buf_init(&sql, 0);
	bl_buf_adds(&sql, "SELECT ");
	for (int k = 0; k < c->nfield; k++) {
		int f = c->field[k];
		int absent = (fields[f].need == NEED_WEIGHT && !ix->has_weight) ||
			     (fields[f].need == NEED_MEMBERS && !ix->has_members);
		bl_buf_addf(&sql, "%s%s", k ? ", " : "", absent ? "NULL" : fields[f].sql);
	}
	if (!c->nfield)
		bl_buf_adds(&sql, "NULL");
	bl_buf_adds(&sql, " FROM samples s");
	if (c->cols & BL_IXC_PATH)
		bl_buf_adds(&sql, " LEFT JOIN shards sh ON sh.id = s.shard_id");
	if (bl_buf_adds(&sql, where[scope]) != BL_OK)
		rc = ix_nomem(ix);
	else if (sqlite3_prepare_v2(ix->db, sql.buf, -1, &c->st[scope], NULL) != SQLITE_OK) {
		ix_err(ix, "reading samples");
		rc = BL_FAILED;
	} else {
		c->cur = c->st[scope];
	}
	bl_buf_release(&sql);
	return rc;
}

int bl_index_cursor_all(bl_index_cursor *c)
{
	if (!c)
		return BL_EUSAGE;
	return cursor_at(c, SCOPE_ALL);
}

int bl_index_cursor_shard(bl_index_cursor *c, int64_t shard_id)
{
	if (!c)
		return BL_EUSAGE;
	if (cursor_at(c, SCOPE_SHARD) != BL_OK)
		return BL_FAILED;
	sqlite3_bind_int64(c->cur, 1, shard_id);
	return BL_OK;
}

int bl_index_cursor_one(bl_index_cursor *c, int64_t shard_id, int64_t ordinal)
{
	if (!c)
		return BL_EUSAGE;
	if (cursor_at(c, SCOPE_ONE) != BL_OK)
		return BL_FAILED;
	sqlite3_bind_int64(c->cur, 1, shard_id);
	sqlite3_bind_int64(c->cur, 2, ordinal);
	return BL_OK;
}

int bl_index_cursor_next(bl_index_cursor *c, const struct bl_index_sample **row)
{
	const struct getter *g;
	sqlite3_stmt *st;
	int s;

	if (!c || !c->cur || !row)
		return BL_EUSAGE;
	st = c->cur;
	s = sqlite3_step(st);
	if (s == SQLITE_DONE)
		return BL_END;
	if (s != SQLITE_ROW) {
		ix_err(c->ix, "reading samples");
		return BL_FAILED;
	}
	/* the fields asked for are set on every row; the others stay as made */
	c->row.nulls = 0;
	g = c->get[K_INT];
	for (int k = 0; k < c->nget[K_INT]; k++, g++)
		*(int64_t *)g->dst = sqlite3_column_int64(st, g->col);
	g = c->get[K_NULLABLE];
	for (int k = 0; k < c->nget[K_NULLABLE]; k++, g++) {
		if (sqlite3_column_type(st, g->col) == SQLITE_NULL)
			c->row.nulls |= g->null;
		*(int64_t *)g->dst = sqlite3_column_int64(st, g->col);
	}
	g = c->get[K_TEXT];
	for (int k = 0; k < c->nget[K_TEXT]; k++, g++) {
		*(const char **)g->dst = (const char *)sqlite3_column_text(st, g->col);
		if (g->len)
			*(size_t *)g->len = (size_t)sqlite3_column_bytes(st, g->col);
	}
	if (c->nget[K_BLOB]) {
		g = c->get[K_BLOB];
		c->row.bits = sqlite3_column_blob(st, g->col);
		c->row.nbits = c->row.bits ? (size_t)sqlite3_column_bytes(st, g->col) : 0;
	}
	if (c->nget[K_WEIGHT]) {
		g = c->get[K_WEIGHT];
		c->row.weight = sqlite3_column_type(st, g->col) == SQLITE_NULL
					? 1
					: sqlite3_column_double(st, g->col);
	}
	*row = &c->row;
	return BL_OK;
}

void bl_index_cursor_free(bl_index_cursor *c)
{
	if (!c)
		return;
	for (int i = 0; i < SCOPE_N; i++)
		sqlite3_finalize(c->st[i]);
	free(c);
}

/* ---- reading: shards, errors --------------------------------------------- */

void bl_index_shard_rows_free(struct bl_index_shard_row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		free(rows[i].path);
	free(rows);
}

int bl_index_shard_rows(bl_index *ix, int count_samples, struct bl_index_shard_row **rows,
			size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct bl_index_shard_row *v = NULL;
	size_t nv = 0, alloc = 0;
	int rc = BL_FAILED, s;

	*rows = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(ix->db, count_samples
					       ? "SELECT id, path, size, mtime, complete, (SELECT "
						 "count(*) FROM samples WHERE shard_id = shards.id)"
						 " FROM shards ORDER BY id"
					       : "SELECT id, path, size, mtime, complete, -1"
						 " FROM shards ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK) {
		ix_err(ix, "reading shards");
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		struct bl_index_shard_row *r;
		const char *p = (const char *)sqlite3_column_text(st, 1);
		if (BL_ALLOC_GROW(v, nv + 1, alloc) != BL_OK)
			goto nomem;
		r = &v[nv];
		r->id = sqlite3_column_int64(st, 0);
		r->path = strdup(p ? p : "");
		r->size = sqlite3_column_type(st, 2) == SQLITE_NULL ? -1
							: sqlite3_column_int64(st, 2);
		r->mtime = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1
							 : sqlite3_column_int64(st, 3);
		r->complete = sqlite3_column_int(st, 4);
		r->samples = sqlite3_column_int64(st, 5);
		nv++;
		if (!r->path)
			goto nomem;
	}
	if (s != SQLITE_DONE) {
		ix_err(ix, "reading shards");
		goto out;
	}
	rc = BL_OK;
	goto out;
nomem:
	rc = ix_nomem(ix);
out:
	sqlite3_finalize(st);
	if (rc != BL_OK) {
		bl_index_shard_rows_free(v, nv);
		v = NULL;
		nv = 0;
	}
	*rows = v;
	*n = nv;
	return rc;
}

int bl_index_shard_count(bl_index *ix, int64_t *n)
{
	int ok = 1;

	*n = query_int(ix, "SELECT count(*) FROM main.shards", &ok);
	if (!ok)
		ix_err(ix, "reading shards");
	return ok ? BL_OK : BL_FAILED;
}

int bl_index_complete_totals(bl_index *ix, uint64_t *shards, uint64_t *damaged,
			     uint64_t *not_stored)
{
	sqlite3_stmt *st = NULL;
	int ok;

	ok = sqlite3_prepare_v2(ix->db, "SELECT count(*), coalesce(sum(fatal IS NOT NULL), 0),"
				" coalesce(sum(errors_not_stored), 0) FROM shards"
				" WHERE complete = 1", -1, &st, NULL) == SQLITE_OK &&
	     sqlite3_step(st) == SQLITE_ROW;
	if (ok) {
		*shards = (uint64_t)sqlite3_column_int64(st, 0);
		*damaged = (uint64_t)sqlite3_column_int64(st, 1);
		*not_stored = (uint64_t)sqlite3_column_int64(st, 2);
	} else {
		ix_err(ix, "reading shards");
	}
	sqlite3_finalize(st);
	return ok ? BL_OK : BL_FAILED;
}

void bl_index_error_totals_free(struct bl_index_error_total *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].kind);
	free(v);
}

int bl_index_error_totals(bl_index *ix, int by, struct bl_index_error_total **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct bl_index_error_total *v = NULL;
	size_t nv = 0, alloc = 0;
	int rc = BL_FAILED, s;

	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(ix->db, by == BL_IX_BY_SHARD
					       ? "SELECT shard_id, NULL, sum(n) FROM error_totals"
						 " GROUP BY shard_id ORDER BY shard_id"
					       : "SELECT -1, kind, sum(n) FROM error_totals"
						 " GROUP BY kind ORDER BY kind",
			       -1, &st, NULL) != SQLITE_OK) {
		ix_err(ix, "reading errors");
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 1);
		if (BL_ALLOC_GROW(v, nv + 1, alloc) != BL_OK)
			goto nomem;
		v[nv].shard_id = sqlite3_column_int64(st, 0);
		v[nv].n = (uint64_t)sqlite3_column_int64(st, 2);
		v[nv].kind = NULL;
		if (k && !(v[nv].kind = strdup(k)))
			goto nomem;
		nv++;
	}
	if (s != SQLITE_DONE) {
		ix_err(ix, "reading errors");
		goto out;
	}
	rc = BL_OK;
	goto out;
nomem:
	rc = ix_nomem(ix);
out:
	sqlite3_finalize(st);
	if (rc != BL_OK) {
		bl_index_error_totals_free(v, nv);
		v = NULL;
		nv = 0;
	}
	*out = v;
	*n = nv;
	return rc;
}

/* ---- merging a part -------------------------------------------------------- */

/* A merge's failure, with SQLite's word for it. */
static int part_err(bl_index *ix, const char *what)
{
	bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s': merge: %s: %s", ix->path, what,
		    sqlite3_errmsg(ix->db));
	return BL_FAILED;
}

int bl_index_part_attach(bl_index *ix, const char *uri)
{
	sqlite3_stmt *st = NULL;
	int rc = BL_FAILED;

	if (sqlite3_prepare_v2(ix->db, "ATTACH DATABASE ?1 AS part", -1, &st, NULL) != SQLITE_OK) {
		part_err(ix, "attach");
		goto out;
	}
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		part_err(ix, "cannot open the part");
		goto out;
	}
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

void bl_index_part_detach(bl_index *ix)
{
	sqlite3_exec(ix->db, "DETACH DATABASE part", NULL, NULL, NULL);
}

int bl_index_part_version(bl_index *ix, int64_t *version)
{
	int ok = 1;

	*version = query_int(ix, "PRAGMA part.user_version", &ok);
	return ok ? BL_OK : part_err(ix, "reading the part");
}

int bl_index_part_map_labels(bl_index *ix, const char *part_path, int map[BL_MAX_LABELS],
			     int *n)
{
	sqlite3_stmt *st = NULL, *add = NULL;
	int rc = BL_FAILED;

	*n = 0;
	if (sqlite3_prepare_v2(ix->db, "SELECT id, name FROM part.labels ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK) {
		part_err(ix, "reading the part's labels");
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		int pid = sqlite3_column_int(st, 0), id;
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (pid < 0 || pid >= BL_MAX_LABELS || !name) {
			bl_error_buf(&ix->errmsg, BL_FAILED, "'%s': damaged label table", part_path);
			goto out;
		}
		id = bl_index_label_id(ix, name);
		if (id < 0) {
			int r = add_label(ix, &add, name, &id);
			if (r == LABEL_FULL) {
				bl_error_buf(&ix->errmsg, BL_FAILED, "index '%s': too many labels", ix->path);
			} else if (r == LABEL_SQL) {
				part_err(ix, "adding labels");
			}
			if (r != LABEL_OK)
				goto out;
		}
		map[pid] = id;
		if (pid + 1 > *n)
			*n = pid + 1;
	}
	rc = BL_OK;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(add);
	return rc;
}

struct remap {
	const int *map; /* part label id -> index label id */
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

enum { CP_SHARDS, CP_SAMPLES, CP_ERRORS, CP_COUNTS, CP_DONE, CP_N };

int bl_index_part_copy(bl_index *ix, const int *map, int n)
{
	static const char *const sql[CP_N] = {
		[CP_SHARDS] = "SELECT id, path, size, mtime, rules_digest, samples, errors, fatal,"
			      " scanned_at, options, errors_not_stored, dev, ino, complete"
			      " FROM part.shards ORDER BY id",
		[CP_SAMPLES] = "INSERT INTO main.samples(" SAMPLE_COLS ") SELECT ?1, "
			       SAMPLE_COLS_HEAD ", bl_remap(bits), " SAMPLE_COLS_TAIL
			       " FROM part.samples WHERE shard_id = ?2",
		[CP_ERRORS] = "INSERT INTO main.errors SELECT ?1, ordinal, kind, offset, message"
			      " FROM part.errors WHERE shard_id = ?2 ORDER BY rowid",
		[CP_COUNTS] = "INSERT INTO main.error_counts SELECT ?1, kind, n"
			      " FROM part.error_counts WHERE shard_id = ?2",
		[CP_DONE] = "UPDATE main.shards SET size=?2, mtime=?3, rules_digest=?4, complete=1,"
			    " samples=?5, errors=?6, fatal=?7, scanned_at=?8, options=?9,"
			    " errors_not_stored=?10, dev=?11, ino=?12 WHERE id=?1",
	};
	struct remap rm = {map, n};
	sqlite3_stmt *st[CP_N] = {NULL};
	int rc = BL_FAILED;

	if (sqlite3_create_function(ix->db, "bl_remap", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    &rm, remap_fn, NULL, NULL) != SQLITE_OK)
		return part_err(ix, "registering bl_remap");
	if (bl_index_writer_prepare(ix) != BL_OK)
		goto out;
	for (int i = 0; i < CP_N; i++)
		if (sqlite3_prepare_v2(ix->db, sql[i], -1, &st[i], NULL) != SQLITE_OK) {
			part_err(ix, "preparing");
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
				part_err(ix, "clearing a shard");
				goto out;
			}
		}
		for (int k = CP_SAMPLES; k <= CP_COUNTS; k++) {
			sqlite3_reset(st[k]);
			sqlite3_bind_int64(st[k], 1, id);
			sqlite3_bind_int64(st[k], 2, pid);
			if (sqlite3_step(st[k]) != SQLITE_DONE) {
				part_err(ix, "copying rows");
				goto out;
			}
		}
		sqlite3_reset(st[CP_DONE]);
		sqlite3_bind_int64(st[CP_DONE], 1, id);
		for (int c = 2; c <= 12; c++)
			sqlite3_bind_value(st[CP_DONE], c, sqlite3_column_value(st[CP_SHARDS], c));
		if (sqlite3_step(st[CP_DONE]) != SQLITE_DONE) {
			part_err(ix, "updating a shard");
			goto out;
		}
	}
	rc = BL_OK;
out:
	for (int i = 0; i < CP_N; i++)
		sqlite3_finalize(st[i]);
	/* the statements on the part go before it is detached, and the
	 * function before rm goes out of scope */
	bl_index_writer_release(ix);
	sqlite3_create_function(ix->db, "bl_remap", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL);
	return rc;
}
