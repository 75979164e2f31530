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
 */
#include "index_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
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

/* The columns of samples, in one place for the index and the staging
 * table. */
#define SAMPLE_COLS                                                                 \
	"shard_id, ordinal, key, offset, labels, bits, caption, caption_offset,"    \
	" image_offset, image_size, image_ext, width, height, punsafe, pwatermark," \
	" status, problems, caption_data, caption_size, image_data, json_data,"    \
	" json_size, weight"
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

static void rollback(bl_index *ix)
{
	if (!sqlite3_get_autocommit(ix->db))
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
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
		bl_buf_reset(&ix->errmsg);
		bl_buf_addf(&ix->errmsg, "index '%s': cannot write it: %s", ix->path,
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
		bl_buf_reset(&ix->errmsg);
		bl_buf_addf(&ix->errmsg, "'%s' is an SQLite database but not a ballast index",
			    ix->path);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	bl_index_now(now);
	if (bl_index_exec(ix, schema_sql) != BL_OK ||
	    bl_index_exec(ix, "PRAGMA user_version = " BL_STR(BL_INDEX_SCHEMA)) != BL_OK)
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

	if (bl_index_exec(ix, "BEGIN IMMEDIATE") != BL_OK)
		return BL_FAILED;
	if (read_version(ix, &version) != BL_OK) {
		open_err(ix);
		goto fail;
	}
	if (version > BL_INDEX_SCHEMA) {
		bl_buf_reset(&ix->errmsg);
		bl_buf_addf(&ix->errmsg, "index '%s' has schema %d; this ballast reads up to %d",
			    ix->path, version, BL_INDEX_SCHEMA);
		goto fail;
	}
	if (version == 0 && create_schema(ix) != BL_OK)
		goto fail;
	if (version == 1) {
		if (bl_index_exec(ix, upgrade_1_2) != BL_OK)
			goto fail;
		ix->upgraded = 1;
	}
	if (bl_index_exec(ix, "COMMIT") != BL_OK)
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
		snprintf(err, errlen, path ? "out of memory" : "no index path");
		free(ix);
		return NULL;
	}
	ix->lock_fd = -1;
	ix->writer = (flags & BL_INDEX_CREATE) != 0;
	bl_buf_init(&ix->errmsg, 4096);
	if (ix->writer) {
		if (take_lock(ix) != BL_OK || open_db(ix, flags) != BL_OK ||
		    writer_schema(ix) != BL_OK)
			goto fail;
		/* WAL + NORMAL: a commit survives a killed process (not a power
		 * cut mid-transaction, which costs at most the last shard,
		 * rescanned on the next run) */
		if (bl_index_exec(ix, "PRAGMA journal_mode=WAL") != BL_OK ||
		    bl_index_exec(ix, "PRAGMA synchronous=NORMAL") != BL_OK)
			goto fail;
	} else {
		if (access(path, F_OK) != 0) {
			bl_buf_reset(&ix->errmsg);
			bl_buf_addf(&ix->errmsg, "index '%s': cannot open it: %s", path,
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
	snprintf(err, errlen, "%s", ix->errmsg.len ? ix->errmsg.buf : "cannot open the index");
	bl_index_close(ix);
	return NULL;
}

int bl_index_upgraded(const bl_index *ix)
{
	return ix ? ix->upgraded : 0;
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
	if (s.tasks > 1 && s.task >= 0 && used < len)
		used += (size_t)snprintf(msg + used, len - used,
					 " it is the part of array task %d of %d: merge the %d "
					 "parts with 'ballast merge';", s.task, s.tasks, s.tasks);
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
	if (bl_index_exec(ix, "CREATE TEMP TABLE IF NOT EXISTS stage_samples AS"
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
	bl_buf_reset(&ix->errmsg);
	bl_buf_addf(&ix->errmsg, "index '%s': cannot write shard '%s'", ix->path, ch->path);
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
			bl_buf_reset(&ix->errmsg);
			bl_buf_addf(&ix->errmsg, "index '%s': out of memory", ix->path);
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
	bl_index_now(now);
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
	if (bl_index_exec(ix, "BEGIN IMMEDIATE") != BL_OK)
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
	if (bl_index_exec(ix, "COMMIT") != BL_OK) {
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
