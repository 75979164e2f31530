/*
 * Unit tests for scanning into the index (lib/scan.c, lib/index.c,
 * lib/merge.c) on hostile input: captions with bad bytes still reach the
 * safety block, shards larger than a chunk, error floods, an index that
 * refuses a row, two writers, an index of an older schema, the same file
 * under several names, JSON that is not one object, and what the index
 * knows of its own completeness.  Shards are written with bl_writer.
 *
 * Test data never describes minors in any sexual way: the safety block is
 * exercised with the placeholder words "minorterm" and "sexualterm".
 */
#include "test.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *spath(const char *name)
{
	static char p[16][1024];
	static int k;
	k = (k + 1) % 16;
	snprintf(p[k], sizeof p[k], "%s/scan-%s", bl_test_tmpdir(), name);
	return p[k];
}

static const char test_rules[] =
	"label age.minor\n  match \\bminorterm\\b\n"
	"label sexual.explicit\n  match \\bsexualterm\\b\n"
	"label gender.female\n  match \\bwoman\\b\n"
	"label meta.unsafe\n  when punsafe >= 0.5\n";

static bl_ruleset *rules(void)
{
	bl_ruleset *rs = bl_ruleset_new();
	if (!rs || bl_ruleset_load_string(rs, "t.rules", test_rules, sizeof test_rules - 1) != BL_OK ||
	    bl_ruleset_compile(rs) != BL_OK) {
		bl_ruleset_free(rs);
		return NULL;
	}
	return rs;
}

struct member {
	const char *key, *ext;
	const char *data;
	size_t len; /* 0: strlen */
};

static int write_shard(const char *path, const struct member *m, size_t n)
{
	bl_writer *w = bl_writer_new();
	int ok = w && bl_writer_open(w, path) == BL_OK;
	for (size_t i = 0; ok && i < n; i++)
		ok = bl_writer_add(w, m[i].key, m[i].ext, m[i].data,
				   m[i].len ? m[i].len : strlen(m[i].data)) == BL_OK;
	ok = ok && bl_writer_close(w) == BL_OK;
	bl_writer_free(w);
	return ok;
}

struct errlog {
	int n;
	uint64_t kinds[BL_ERR__COUNT];
	char last[2048];
};

static void on_error(void *arg, bl_errkind kind, const char *msg)
{
	struct errlog *l = arg;
	l->n++;
	l->kinds[kind]++;
	snprintf(l->last, sizeof l->last, "%s", msg);
}

/* Scan paths into a new or existing index; returns bl_scan_run's code. */
static int scan(const char *ixpath, const char *const *paths, size_t n, const bl_ruleset *rs,
		bl_scan_options *so, bl_scan_totals *tot, struct errlog *log)
{
	bl_strlist l;
	char err[1024];
	bl_index *ix = ixpath ? bl_index_open(ixpath, BL_INDEX_CREATE, err, sizeof err) : NULL;
	bl_scan_options def;
	int rc;

	if (ixpath && !ix) {
		bl_test_failf(__FILE__, __LINE__, "open: %s", err);
		return BL_FATAL;
	}
	if (!so) {
		memset(&def, 0, sizeof def);
		so = &def;
	}
	so->on_error = on_error;
	so->arg = log;
	bl_strlist_init(&l);
	for (size_t i = 0; i < n; i++)
		bl_strlist_add(&l, paths[i]);
	rc = bl_scan_run(so, rs, &l, ix, tot, err, sizeof err);
	if (rc != BL_OK && rc != BL_FAILED)
		bl_test_failf(__FILE__, __LINE__, "scan: %s", err);
	bl_strlist_release(&l);
	if (ix && bl_index_close(ix) != BL_OK)
		bl_test_failf(__FILE__, __LINE__, "close failed");
	return rc;
}

/* One integer (or text, into out) from an SQL query on an index file. */
static long long q1(const char *ixpath, const char *sql, char *out, size_t outlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;
	if (sqlite3_open_v2(ixpath, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		v = sqlite3_column_int64(st, 0);
		if (out)
			snprintf(out, outlen, "%s",
				 sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
	} else if (out) {
		snprintf(out, outlen, "(sql: %s)", db ? sqlite3_errmsg(db) : "open");
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int sql_exec(const char *ixpath, const char *sql)
{
	sqlite3 *db = NULL;
	int ok = sqlite3_open(ixpath, &db) == SQLITE_OK &&
		 sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	return ok;
}

/*
 * A caption with an invalid UTF-8 byte, or a NUL, is tagged all the same
 * (as a copy with U+FFFD), so both labels and the safety block hold; the
 * problem is an item error and the caption is kept whole.
 */
BL_TEST(scan_bad_caption_bytes_still_tagged_and_blocked)
{
	static const char nul[] = "minorterm\0 sexualterm woman";
	struct member m[] = {
		{"a", "txt", "minorterm \xff\xfe sexualterm", 0},
		{"b", "txt", nul, sizeof nul - 1},
		{"c", "txt", "sexualterm \xc3 minorterm", 0},
	};
	const char *p = spath("badtext.tar"), *ix = spath("badtext.db");
	bl_ruleset *rs = rules();
	bl_scan_totals tot;
	struct errlog log = {0};
	char text[256];

	REQUIRE(rs && write_shard(p, m, 3));
	CHECK_EQ_INT(scan(ix, &p, 1, rs, NULL, &tot, &log), BL_OK);
	CHECK_EQ_INT(tot.samples, 3);
	CHECK_EQ_INT(tot.blocked, 3);
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM samples WHERE labels LIKE "
			"'%,safety.minor_sexual,%' AND labels LIKE '%,age.minor,%' AND labels "
			"LIKE '%,sexual.explicit,%'", NULL, 0), 3);
	CHECK_EQ_INT(tot.errors[BL_ERR_BAD_UTF8], 2);
	CHECK_EQ_INT(tot.errors[BL_ERR_NUL], 1);
	/* kept whole, NUL and bad bytes as U+FFFD */
	q1(ix, "SELECT caption FROM samples WHERE key = 'b'", text, sizeof text);
	CHECK_EQ_STR(text, "minorterm\xef\xbf\xbd sexualterm woman");
	q1(ix, "SELECT caption FROM samples WHERE key = 'a'", text, sizeof text);
	CHECK_EQ_STR(text, "minorterm \xef\xbf\xbd\xef\xbf\xbd sexualterm");
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM errors WHERE kind = 'nul_byte'", NULL, 0), 1);
	bl_ruleset_free(rs);
}

/*
 * A shard larger than a chunk (captions of 60 KB, more bytes than a
 * chunk holds, and more rows than a chunk holds) reaches the index whole,
 * once, in order, with every caption: memory holds a chunk, not the
 * shard.  With two threads and two such shards the chunks interleave.
 */
BL_TEST(scan_shard_larger_than_a_chunk)
{
	enum { BIG = 150, MANY = 20000 };
	const char *big = spath("big.tar"), *many = spath("many.tar"), *ix = spath("big.db");
	const char *paths[2] = {big, many};
	char *cap = malloc(60001), key[32];
	bl_ruleset *rs = rules();
	bl_writer *w = bl_writer_new();
	bl_scan_options so;
	bl_scan_totals tot;
	struct errlog log = {0};

	REQUIRE(cap && rs && w);
	for (int i = 0; i < 60000; i++)
		cap[i] = "a woman "[i % 8];
	cap[60000] = '\0';
	REQUIRE(bl_writer_open(w, big) == BL_OK);
	for (int i = 0; i < BIG; i++) {
		snprintf(key, sizeof key, "%06d", i);
		REQUIRE(bl_writer_add(w, key, "txt", cap, 60000) == BL_OK);
	}
	REQUIRE(bl_writer_close(w) == BL_OK);
	REQUIRE(bl_writer_open(w, many) == BL_OK);
	for (int i = 0; i < MANY; i++) {
		snprintf(key, sizeof key, "%06d", i);
		REQUIRE(bl_writer_add(w, key, "txt", "a woman", 7) == BL_OK);
	}
	REQUIRE(bl_writer_close(w) == BL_OK);
	memset(&so, 0, sizeof so);
	so.threads = 2;
	CHECK_EQ_INT(scan(ix, paths, 2, rs, &so, &tot, &log), BL_OK);
	CHECK_EQ_INT(log.n, 0);
	CHECK_EQ_INT(tot.samples, BIG + MANY);
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM samples WHERE shard_id = 1 AND "
			"length(caption) = 60000 AND labels LIKE '%,gender.female,%'", NULL, 0), BIG);
	CHECK_EQ_INT(q1(ix, "SELECT count(DISTINCT ordinal) FROM samples WHERE shard_id = 2 AND "
			"labels LIKE '%,gender.female,%'", NULL, 0), MANY);
	CHECK_EQ_INT(q1(ix, "SELECT max(ordinal) - min(ordinal) + 1 FROM samples WHERE shard_id = 2",
			NULL, 0), MANY);
	CHECK_EQ_INT(q1(ix, "SELECT sum(complete) FROM shards", NULL, 0), 2);
	/* a rerun adds nothing: both are complete */
	CHECK_EQ_INT(scan(ix, paths, 2, rs, &so, &tot, &log), BL_OK);
	CHECK_EQ_INT(tot.shards_skipped, 2);
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM samples", NULL, 0), BIG + MANY);
	bl_writer_free(w);
	bl_ruleset_free(rs);
	free(cap);
}

/*
 * An error flood: every error is counted, at most BL_INDEX_MAX_ERRORS of
 * a kind are stored per shard, and the index says how many were not.
 */
BL_TEST(scan_error_flood_is_counted_not_stored)
{
	enum { N = 3000 };
	const char *p = spath("flood.tar"), *ix = spath("flood.db");
	bl_ruleset *rs = rules();
	bl_writer *w = bl_writer_new();
	bl_scan_totals tot;
	struct errlog log = {0};
	char key[32];
	bl_index *x;
	bl_index_status st;
	char err[256];

	REQUIRE(rs && w && bl_writer_open(w, p) == BL_OK);
	REQUIRE(bl_writer_add(w, "good", "txt", "a woman", 7) == BL_OK);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "bad%05d", i);
		REQUIRE(bl_writer_add(w, key, "", "x", 1) == BL_OK); /* "bad00001." */
	}
	REQUIRE(bl_writer_close(w) == BL_OK);
	CHECK_EQ_INT(scan(ix, &p, 1, rs, NULL, &tot, &log), BL_OK);
	CHECK_EQ_INT(tot.errors[BL_ERR_BAD_PATH], N);
	CHECK_EQ_INT(tot.errors_not_stored, N - BL_INDEX_MAX_ERRORS);
	CHECK_EQ_INT(log.kinds[BL_ERR_BAD_PATH], BL_INDEX_MAX_ERRORS);
	CHECK_CONTAINS(log.last, "more item errors not shown or stored");
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM errors", NULL, 0), BL_INDEX_MAX_ERRORS);
	CHECK_EQ_INT(q1(ix, "SELECT n FROM error_counts WHERE kind = 'bad_path'", NULL, 0), N);
	CHECK_EQ_INT(q1(ix, "SELECT errors_not_stored FROM shards", NULL, 0), N - BL_INDEX_MAX_ERRORS);
	x = bl_index_open(ix, BL_INDEX_READ, err, sizeof err);
	REQUIRE(x);
	REQUIRE(bl_index_get_status(x, &st) == BL_OK);
	CHECK_EQ_INT(st.errors, N);
	CHECK_EQ_INT(st.errors_not_stored, N - BL_INDEX_MAX_ERRORS);
	CHECK_EQ_INT(st.partial, 0);
	bl_index_close(x);
	bl_writer_free(w);
	bl_ruleset_free(rs);
}

/*
 * A row the index refuses (here a trigger, standing for any constraint)
 * is an item error that names the shard and the sample; that shard stays
 * incomplete, the shards after it are indexed, and the index knows it is
 * partial.
 */
BL_TEST(scan_index_refusal_names_the_shard_and_goes_on)
{
	struct member m1[] = {{"ok1", "txt", "a woman", 0}, {"boom", "txt", "x", 0}};
	struct member m2[] = {{"ok2", "txt", "a woman", 0}};
	const char *a = spath("refused.tar"), *b = spath("after.tar"), *ix = spath("refused.db");
	const char *paths[2] = {a, b};
	bl_ruleset *rs = rules();
	bl_scan_totals tot;
	struct errlog log = {0};
	char err[1024], why[1024];
	bl_index *x;

	REQUIRE(rs && write_shard(a, m1, 2) && write_shard(b, m2, 1));
	x = bl_index_open(ix, BL_INDEX_CREATE, err, sizeof err);
	REQUIRE(x);
	bl_index_close(x);
	REQUIRE(sql_exec(ix, "CREATE TRIGGER boom BEFORE INSERT ON samples WHEN NEW.key = 'boom'"
			 " BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END;"));
	CHECK_EQ_INT(scan(ix, paths, 2, rs, NULL, &tot, &log), BL_OK);
	CHECK_EQ_INT(tot.shards_unwritten, 1);
	CHECK_EQ_INT(tot.errors[BL_ERR_INDEX], 1);
	CHECK_CONTAINS(log.last, "refused.tar");
	CHECK_CONTAINS(log.last, "sample 'boom'");
	CHECK_CONTAINS(log.last, "refused by a test trigger");
	CHECK_EQ_INT(q1(ix, "SELECT complete FROM shards WHERE path LIKE '%refused.tar'", NULL, 0), 0);
	CHECK_EQ_INT(q1(ix, "SELECT complete FROM shards WHERE path LIKE '%after.tar'", NULL, 0), 1);
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM samples", NULL, 0), 1);
	x = bl_index_open(ix, BL_INDEX_READ, err, sizeof err);
	REQUIRE(x);
	CHECK_EQ_INT(bl_index_partial_reason(x, why, sizeof why), 1);
	CHECK_CONTAINS(why, "1 of its 2 shards were never committed");
	bl_index_close(x);
	bl_ruleset_free(rs);
}

/* One writer at a time, said plainly; readers are not writers. */
BL_TEST(index_one_writer_at_a_time)
{
	const char *ix = spath("lock.db");
	char err[1024];
	bl_index *a = bl_index_open(ix, BL_INDEX_CREATE, err, sizeof err), *b, *r;

	REQUIRE(a);
	b = bl_index_open(ix, BL_INDEX_CREATE, err, sizeof err);
	CHECK(b == NULL);
	CHECK_CONTAINS(err, "being written by another ballast process");
	r = bl_index_open(ix, BL_INDEX_READ, err, sizeof err);
	CHECK(r != NULL);
	bl_index_close(r);
	bl_index_close(a);
	b = bl_index_open(ix, BL_INDEX_CREATE, err, sizeof err);
	CHECK(b != NULL);
	bl_index_close(b);
	/* a writer closed leaves no -wal or -shm file behind */
	{
		char wal[1100];
		snprintf(wal, sizeof wal, "%s-wal", ix);
		CHECK(access(wal, F_OK) != 0);
		snprintf(wal, sizeof wal, "%s-shm", ix);
		CHECK(access(wal, F_OK) != 0);
	}
	/* the messages name the cause */
	CHECK(bl_index_open(spath("nothere.db"), BL_INDEX_READ, err, sizeof err) == NULL);
	CHECK_CONTAINS(err, "No such file");
	{
		FILE *f = fopen(spath("junk.db"), "w");
		REQUIRE(f);
		for (int i = 0; i < 300; i++)
			fputs("not a database at all ", f);
		fclose(f);
	}
	CHECK(bl_index_open(spath("junk.db"), BL_INDEX_READ, err, sizeof err) == NULL);
	CHECK_CONTAINS(err, "not an SQLite database");
}

/* An index of schema 1 is refused read-only with a way out, and
 * upgraded in place by a writer, rows and error counts kept. */
BL_TEST(index_schema_1_is_upgraded)
{
	const char *ix = spath("v1.db");
	char err[1024];
	bl_index *x;

	REQUIRE(sql_exec(ix,
		"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
		"CREATE TABLE labels(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
		"CREATE TABLE shards(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL,"
		" size INTEGER, mtime INTEGER, rules_digest TEXT, complete INTEGER NOT NULL DEFAULT 0,"
		" samples INTEGER, errors INTEGER, fatal TEXT, scanned_at TEXT);"
		"CREATE TABLE samples(shard_id INTEGER NOT NULL, ordinal INTEGER NOT NULL,"
		" key TEXT NOT NULL, offset INTEGER, labels TEXT NOT NULL, bits BLOB, caption TEXT,"
		" caption_offset INTEGER, image_offset INTEGER, image_size INTEGER, image_ext TEXT,"
		" width INTEGER, height INTEGER, punsafe REAL, pwatermark REAL, status TEXT,"
		" problems INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(shard_id, ordinal)) WITHOUT ROWID;"
		"CREATE TABLE errors(shard_id INTEGER, ordinal INTEGER, kind TEXT, offset INTEGER,"
		" message TEXT);"
		"CREATE TABLE runs(id INTEGER PRIMARY KEY, started TEXT, finished TEXT, argv TEXT,"
		" threads INTEGER, shards_scanned INTEGER, shards_skipped INTEGER);"
		"INSERT INTO meta VALUES ('schema', '1');"
		"INSERT INTO shards(id, path, complete, samples, errors) VALUES (1, 'a.tar', 1, 1, 2);"
		"INSERT INTO samples(shard_id, ordinal, key, labels) VALUES (1, 0, 'k', ',');"
		"INSERT INTO errors VALUES (1, 0, 'bad_json', 5, 'm'), (1, NULL, 'truncated', 9, 'm');"
		"PRAGMA user_version = 1;"));
	x = bl_index_open(ix, BL_INDEX_READ, err, sizeof err);
	CHECK(x == NULL);
	CHECK_CONTAINS(err, "schema 1");
	CHECK_CONTAINS(err, "ballast merge");
	x = bl_index_open(ix, BL_INDEX_CREATE, err, sizeof err);
	REQUIRE(x);
	CHECK_EQ_INT(bl_index_upgraded(x), 1);
	bl_index_close(x);
	CHECK_EQ_INT(q1(ix, "PRAGMA user_version", NULL, 0), BL_INDEX_SCHEMA);
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM samples", NULL, 0), 1);
	CHECK_EQ_INT(q1(ix, "SELECT sum(n) FROM error_counts", NULL, 0), 2);
	/* schema 2's sample columns, in a new index's order */
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM pragma_table_info('samples') WHERE name IN"
			" ('caption_data', 'caption_size', 'image_data', 'json_data', 'json_size',"
			" 'weight')", NULL, 0), 6);
	CHECK_EQ_INT(q1(ix, "SELECT cid FROM pragma_table_info('samples') WHERE name = 'weight'",
			NULL, 0), 22);
	x = bl_index_open(ix, BL_INDEX_READ, err, sizeof err);
	CHECK(x != NULL);
	bl_index_close(x);
}

/*
 * JSON that is not one object, or has trailing garbage, is bad_json;
 * numbers that are not finite or outside their range are reported and
 * not stored; a non-finite string does not satisfy a numeric predicate.
 */
BL_TEST(scan_json_must_be_one_object_with_sane_numbers)
{
	struct member m[] = {
		{"a", "txt", "x", 0}, {"a", "json", "[1, 2]", 0},
		{"b", "txt", "x", 0}, {"b", "json", "{\"punsafe\": 0.9} trailing", 0},
		{"c", "txt", "x", 0}, {"c", "json", "{\"punsafe\": 1e999}", 0},
		{"d", "txt", "x", 0}, {"d", "json", "{\"punsafe\": \"inf\"}", 0},
		{"e", "txt", "x", 0}, {"e", "json", "{\"punsafe\": 7, \"width\": -3}", 0},
		{"f", "txt", "x", 0}, {"f", "json", "{\"punsafe\": 0.75, \"width\": 64} \n", 0},
	};
	const char *p = spath("json.tar"), *ix = spath("json.db");
	bl_ruleset *rs = rules();
	bl_scan_totals tot;
	struct errlog log = {0};

	REQUIRE(rs && write_shard(p, m, 12));
	CHECK_EQ_INT(scan(ix, &p, 1, rs, NULL, &tot, &log), BL_OK);
	/* a, b: not one object; c, d: punsafe; e: punsafe and width */
	CHECK_EQ_INT(tot.errors[BL_ERR_JSON], 6);
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM samples WHERE punsafe IS NOT NULL", NULL, 0), 1);
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM samples WHERE labels LIKE '%,meta.unsafe,%'",
			NULL, 0), 1);
	CHECK_EQ_INT(q1(ix, "SELECT width FROM samples WHERE key = 'f'", NULL, 0), 64);
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM errors WHERE message LIKE '%field ''width''%'",
			NULL, 0), 1);
	bl_ruleset_free(rs);
}

/*
 * The same file under several names (another spelling, an absolute path,
 * a symlink) is one shard, scanned and counted once; each extra name is a
 * duplicate_shard item error, in the run and across runs.
 */
BL_TEST(scan_same_file_is_one_shard)
{
	struct member m[] = {{"k", "txt", "a woman", 0}};
	const char *p = spath("same.tar"), *ix = spath("same.db"), *link = spath("link.tar");
	char abs[2048], dot[2048], cwd[1024];
	const char *paths[4];
	bl_ruleset *rs = rules();
	bl_scan_totals tot;
	struct errlog log = {0};

	REQUIRE(rs && write_shard(p, m, 1));
	REQUIRE(symlink(p, link) == 0);
	REQUIRE(getcwd(cwd, sizeof cwd));
	snprintf(abs, sizeof abs, "%s", p);
	snprintf(dot, sizeof dot, "%s/./%s", bl_test_tmpdir(), strrchr(p, '/') + 1);
	paths[0] = abs;
	paths[1] = dot;
	paths[2] = link;
	CHECK_EQ_INT(scan(ix, paths, 3, rs, NULL, &tot, &log), BL_OK);
	CHECK_EQ_INT(tot.samples, 1);
	CHECK_EQ_INT(tot.errors[BL_ERR_DUP_SHARD], 2);
	CHECK_CONTAINS(log.last, "same file");
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM shards", NULL, 0), 1);
	/* another run under another name: the shard already there */
	memset(&log, 0, sizeof log);
	CHECK_EQ_INT(scan(ix, paths + 2, 1, rs, NULL, &tot, &log), BL_OK);
	CHECK_EQ_INT(tot.samples, 0);
	CHECK_EQ_INT(tot.shards_skipped, 1);
	CHECK_EQ_INT(tot.errors[BL_ERR_DUP_SHARD], 1);
	CHECK_EQ_INT(q1(ix, "SELECT count(*) FROM samples", NULL, 0), 1);
	bl_ruleset_free(rs);
}

/* Shards scanned with other image options are scanned again: a --check
 * after a plain scan checks. */
BL_TEST(scan_other_image_options_rescan)
{
	struct member m[] = {{"k", "txt", "a woman", 0}, {"k", "jpg", "not a jpeg", 0}};
	const char *p = spath("opts.tar"), *ix = spath("opts.db");
	bl_ruleset *rs = rules();
	bl_scan_options so;
	bl_scan_totals tot;
	struct errlog log = {0};
	char text[64];

	REQUIRE(rs && write_shard(p, m, 2));
	CHECK_EQ_INT(scan(ix, &p, 1, rs, NULL, &tot, &log), BL_OK);
	CHECK_EQ_INT(tot.errors[BL_ERR_IMAGE], 0);
	memset(&so, 0, sizeof so);
	so.flags = BL_SCAN_CHECK;
	CHECK_EQ_INT(scan(ix, &p, 1, rs, &so, &tot, &log), BL_OK);
	CHECK_EQ_INT(tot.shards, 1);
	CHECK_EQ_INT(tot.errors[BL_ERR_IMAGE], 1);
	q1(ix, "SELECT options FROM shards", text, sizeof text);
	CHECK_EQ_STR(text, "image=check");
	memset(&so, 0, sizeof so);
	so.flags = BL_SCAN_CHECK;
	CHECK_EQ_INT(scan(ix, &p, 1, rs, &so, &tot, &log), BL_OK);
	CHECK_EQ_INT(tot.shards_skipped, 1);
	bl_ruleset_free(rs);
}

/*
 * The index knows when it is not whole: a planned shard not committed, a
 * part of an array job, a merge that lacks parts; and a merge refuses a
 * missing part (creating nothing) and a part of another scan.
 */
BL_TEST(index_knows_it_is_partial)
{
	struct member m[] = {{"k", "txt", "a woman", 0}};
	const char *a = spath("pa.tar"), *b = spath("pb.tar"), *c = spath("pc.tar");
	const char *paths[3] = {a, b, c};
	const char *p0 = spath("part0.db"), *p1 = spath("part1.db"), *whole = spath("whole.db");
	const char *merged = spath("merged.db"), *other = spath("other.db");
	bl_ruleset *rs = rules();
	bl_scan_options so;
	bl_scan_totals tot;
	struct errlog log = {0};
	char err[1024], why[1024];
	bl_index *x;

	REQUIRE(rs && write_shard(a, m, 1) && write_shard(b, m, 1) && write_shard(c, m, 1));
	memset(&so, 0, sizeof so);
	so.tasks = 2;
	so.task = 0;
	scan(p0, paths, 3, rs, &so, &tot, &log);
	so.task = 1;
	scan(p1, paths, 3, rs, &so, &tot, &log);
	scan(whole, paths, 3, rs, NULL, &tot, &log);
	scan(other, paths, 2, rs, NULL, &tot, &log);

	x = bl_index_open(p0, BL_INDEX_READ, err, sizeof err);
	REQUIRE(x);
	CHECK_EQ_INT(bl_index_partial_reason(x, why, sizeof why), 1);
	CHECK_CONTAINS(why, "array task 0 of 2");
	bl_index_close(x);

	x = bl_index_open(merged, BL_INDEX_CREATE, err, sizeof err);
	REQUIRE(x);
	CHECK_EQ_INT(bl_index_merge(x, spath("no-such-part.db")), BL_FAILED);
	CHECK_CONTAINS(bl_index_errmsg(x), "No such file");
	CHECK(access(spath("no-such-part.db"), F_OK) != 0);
	CHECK_EQ_INT(bl_index_merge(x, p0), BL_OK);
	CHECK_EQ_INT(bl_index_partial_reason(x, why, sizeof why), 1);
	CHECK_CONTAINS(why, "1 of the 2 array tasks are merged (missing: 1)");
	CHECK_EQ_INT(bl_index_merge(x, other), BL_FAILED);
	CHECK_CONTAINS(bl_index_errmsg(x), "not of the scan");
	CHECK_EQ_INT(bl_index_merge(x, p1), BL_OK);
	CHECK_EQ_INT(bl_index_partial_reason(x, why, sizeof why), 0);
	bl_index_close(x);

	/* an unrelated complete index is not a merge target for these parts */
	x = bl_index_open(other, BL_INDEX_CREATE, err, sizeof err);
	REQUIRE(x);
	CHECK_EQ_INT(bl_index_merge(x, p1), BL_FAILED);
	bl_index_close(x);

	/* a killed scan: shards planned, not committed */
	REQUIRE(sql_exec(whole, "UPDATE shards SET complete = 0 WHERE id = 3;"
			 "DELETE FROM samples WHERE shard_id = 3"));
	x = bl_index_open(whole, BL_INDEX_READ, err, sizeof err);
	REQUIRE(x);
	CHECK_EQ_INT(bl_index_partial_reason(x, why, sizeof why), 1);
	CHECK_CONTAINS(why, "1 of its 3 shards were never committed");
	bl_index_close(x);
	bl_ruleset_free(rs);
}
