/*
 * test_index.c - the index's queries for the rest of the library
 * (index_int.h): cursors over samples with the columns asked for (order,
 * scope, NULLs, an index that predates the weight and member columns),
 * shard rows, error totals, and the errors of a cursor on a damaged
 * index.  The index is made by hand with SQL through bl_index_db.
 */
#include "test.h"
#include "index_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

static int sql(bl_index *ix, const char *q)
{
	char *msg = NULL;
	int rc = sqlite3_exec(bl_index_db(ix), q, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "    sql: %s: %s\n", q, msg ? msg : "?");
		sqlite3_free(msg);
	}
	return rc == SQLITE_OK;
}

/*
 * Two shards (ids 1 and 2) and a third row for a planned shard (3, no
 * samples, size NULL); samples inserted out of order, with NULLs in the
 * members' columns of some and weights on others; item errors of two
 * kinds, counted (error_counts) for shard 1 and as rows only for shard 2.
 */
static bl_index *fixture(const char *name)
{
	char path[512], err[256];
	bl_index *ix;
	int ok;

	snprintf(path, sizeof path, "%s/index-%s.db", bl_test_tmpdir(), name);
	remove(path);
	ix = bl_index_open(path, BL_INDEX_CREATE, err, sizeof err);
	if (!ix)
		return NULL;
	ok = sql(ix, "BEGIN;"
		 "INSERT INTO labels VALUES (0, 'gender.female'), (1, 'sexual.x');"
		 "INSERT INTO shards(id, path, size, mtime, complete) VALUES"
		 " (1, 'a.tar', 100, 7, 1), (2, 'b.tar', 200, NULL, 1), (3, 'c.tar', NULL, NULL, 0);"
		 "INSERT INTO samples(shard_id, ordinal, key, offset, labels, bits, caption,"
		 " image_offset, image_size, image_ext, problems, caption_data, caption_size,"
		 " image_data, json_data, json_size, weight) VALUES"
		 " (2, 1, 'b1', 1536, ',sexual.x,', x'02', 'cap b1', NULL, NULL, NULL, 0,"
		 "  NULL, NULL, NULL, NULL, NULL, 2.5),"
		 " (1, 1, 'a1', 512, ',gender.female,sexual.x,', x'03', 'cap a1', 1024, 64, 'jpg', 4,"
		 "  600, 10, 1024, 2048, 30, NULL),"
		 " (2, 0, 'b0', 0, ',', NULL, NULL, 700, 5, 'png', 0,"
		 "  NULL, NULL, 700, NULL, NULL, 0.5),"
		 " (1, 0, 'a0', 0, ',gender.female,', x'01', 'cap a0', NULL, NULL, NULL, 0,"
		 "  100, 7, NULL, 200, 9, NULL);"
		 "INSERT INTO errors(shard_id, ordinal, kind, offset, message) VALUES"
		 " (1, 0, 'bad_json', 5, 'm'), (2, NULL, 'truncated', 9, 'm'),"
		 " (2, 1, 'bad_json', 11, 'm');"
		 "INSERT INTO error_counts VALUES (1, 'bad_json', 3);"
		 "COMMIT");
	if (!ok) {
		bl_index_close(ix);
		return NULL;
	}
	return ix;
}

BL_TEST(index_cursor_all_in_key_order)
{
	bl_index *ix = fixture("all");
	bl_index_cursor *c;
	const struct bl_index_sample *r;
	static const char *const keys[] = {"a0", "a1", "b0", "b1"};
	int n = 0, rc;

	REQUIRE(ix);
	c = bl_index_cursor_new(ix, BL_IXC_SHARD | BL_IXC_ORDINAL | BL_IXC_KEY | BL_IXC_BITS |
					    BL_IXC_PROBLEMS | BL_IXC_WEIGHT);
	REQUIRE(c);
	REQUIRE(bl_index_cursor_all(c) == BL_OK);
	while ((rc = bl_index_cursor_next(c, &r)) == BL_OK && n < 4) {
		CHECK_EQ_STR(r->key, keys[n]);
		CHECK_EQ_INT(r->key_len, 2);
		CHECK_EQ_INT(r->shard_id, n < 2 ? 1 : 2);
		CHECK_EQ_INT(r->ordinal, n % 2);
		/* a column not asked for stays unread */
		CHECK(r->labels == NULL && r->caption == NULL && r->path == NULL);
		n++;
		if (n == 2) {
			/* a1: problems, bits 0b11, weight NULL reads as 1 */
			CHECK_EQ_INT(r->problems, 4);
			CHECK(r->nbits == 1 && r->bits && r->bits[0] == 3);
			CHECK(r->weight == 1);
		}
		if (n == 3) {
			/* b0: bits NULL, weight 0.5 */
			CHECK(r->bits == NULL && r->nbits == 0);
			CHECK(r->weight == 0.5);
		}
		if (n == 4)
			CHECK(r->weight == 2.5);
	}
	CHECK_EQ_INT(rc, BL_END);
	CHECK_EQ_INT(n, 4);
	/* positioned again, it starts over */
	REQUIRE(bl_index_cursor_all(c) == BL_OK);
	REQUIRE(bl_index_cursor_next(c, &r) == BL_OK);
	CHECK_EQ_STR(r->key, "a0");
	bl_index_cursor_free(c);
	bl_index_cursor_free(NULL);
	bl_index_close(ix);
}

BL_TEST(index_cursor_shard_members_and_nulls)
{
	bl_index *ix = fixture("shard");
	bl_index_cursor *c;
	const struct bl_index_sample *r;

	REQUIRE(ix);
	c = bl_index_cursor_new(ix, BL_IXC_ORDINAL | BL_IXC_LABELS | BL_IXC_MEMBERS);
	REQUIRE(c);
	REQUIRE(bl_index_cursor_shard(c, 2) == BL_OK);
	REQUIRE(bl_index_cursor_next(c, &r) == BL_OK);
	/* b0: image data only; the rest NULL */
	CHECK_EQ_INT(r->ordinal, 0);
	CHECK_EQ_STR(r->labels, ",");
	CHECK_EQ_INT(r->labels_len, 1);
	CHECK_EQ_INT(r->image_data, 700);
	CHECK_EQ_INT(r->image_size, 5);
	CHECK_EQ_STR(r->image_ext, "png");
	CHECK_EQ_INT(r->nulls, BL_IXN_CAPTION_DATA | BL_IXN_CAPTION_SIZE | BL_IXN_JSON_DATA |
				       BL_IXN_JSON_SIZE);
	REQUIRE(bl_index_cursor_next(c, &r) == BL_OK);
	CHECK_EQ_INT(r->ordinal, 1);
	CHECK_EQ_INT(r->nulls, BL_IXN_IMAGE_SIZE | BL_IXN_CAPTION_DATA | BL_IXN_CAPTION_SIZE |
				       BL_IXN_IMAGE_DATA | BL_IXN_JSON_DATA | BL_IXN_JSON_SIZE);
	CHECK(r->image_ext == NULL);
	CHECK_EQ_INT(bl_index_cursor_next(c, &r), BL_END);
	/* another shard through the same cursor */
	REQUIRE(bl_index_cursor_shard(c, 1) == BL_OK);
	REQUIRE(bl_index_cursor_next(c, &r) == BL_OK);
	CHECK_EQ_INT(r->caption_data, 100);
	CHECK_EQ_INT(r->caption_size, 7);
	CHECK_EQ_INT(r->json_data, 200);
	CHECK_EQ_INT(r->json_size, 9);
	CHECK_EQ_INT(r->nulls, BL_IXN_IMAGE_SIZE | BL_IXN_IMAGE_DATA);
	REQUIRE(bl_index_cursor_next(c, &r) == BL_OK);
	CHECK_EQ_INT(r->nulls, 0);
	CHECK_EQ_INT(bl_index_cursor_next(c, &r), BL_END);
	/* a shard without samples */
	REQUIRE(bl_index_cursor_shard(c, 3) == BL_OK);
	CHECK_EQ_INT(bl_index_cursor_next(c, &r), BL_END);
	bl_index_cursor_free(c);
	bl_index_close(ix);
}

BL_TEST(index_cursor_one_with_its_path)
{
	bl_index *ix = fixture("one");
	bl_index_cursor *c;
	const struct bl_index_sample *r;

	REQUIRE(ix);
	c = bl_index_cursor_new(ix, BL_IXC_KEY | BL_IXC_CAPTION | BL_IXC_IMAGE | BL_IXC_PATH);
	REQUIRE(c);
	REQUIRE(bl_index_cursor_one(c, 1, 1) == BL_OK);
	REQUIRE(bl_index_cursor_next(c, &r) == BL_OK);
	CHECK_EQ_STR(r->key, "a1");
	CHECK_EQ_INT(r->offset, 512);
	CHECK_EQ_STR(r->caption, "cap a1");
	CHECK_EQ_STR(r->path, "a.tar");
	CHECK_EQ_INT(r->image_offset, 1024);
	CHECK_EQ_INT(r->nulls, 0);
	CHECK_EQ_INT(bl_index_cursor_next(c, &r), BL_END);
	REQUIRE(bl_index_cursor_one(c, 2, 0) == BL_OK);
	REQUIRE(bl_index_cursor_next(c, &r) == BL_OK);
	CHECK(r->caption == NULL);
	CHECK_EQ_STR(r->path, "b.tar");
	REQUIRE(bl_index_cursor_one(c, 1, 9) == BL_OK);
	CHECK_EQ_INT(bl_index_cursor_next(c, &r), BL_END);
	/* misuse */
	CHECK_EQ_INT(bl_index_cursor_all(NULL), BL_EUSAGE);
	CHECK_EQ_INT(bl_index_cursor_next(NULL, &r), BL_EUSAGE);
	bl_index_cursor_free(c);
	c = bl_index_cursor_new(ix, BL_IXC_KEY);
	REQUIRE(c);
	CHECK_EQ_INT(bl_index_cursor_next(c, &r), BL_EUSAGE); /* not positioned */
	bl_index_cursor_free(c);
	bl_index_close(ix);
}

BL_TEST(index_cursor_reads_an_index_without_the_newer_columns)
{
	bl_index *ix = fixture("old");
	bl_index_cursor *c;
	const struct bl_index_sample *r;
	char path[512], err[256];
	int n = 0, rc;

	REQUIRE(ix);
	/* samples as the first schema-2 indexes had it: no member columns,
	 * no weight */
	REQUIRE(sql(ix, "CREATE TABLE t AS SELECT shard_id, ordinal, key, offset, labels, bits,"
			" caption, caption_offset, image_offset, image_size, image_ext, width,"
			" height, punsafe, pwatermark, status, problems FROM samples;"
			" DROP TABLE samples; CREATE TABLE samples(shard_id INTEGER NOT NULL,"
			" ordinal INTEGER NOT NULL, key TEXT NOT NULL, offset INTEGER, labels TEXT"
			" NOT NULL, bits BLOB, caption TEXT, caption_offset INTEGER, image_offset"
			" INTEGER, image_size INTEGER, image_ext TEXT, width INTEGER, height"
			" INTEGER, punsafe REAL, pwatermark REAL, status TEXT, problems INTEGER NOT"
			" NULL DEFAULT 0, PRIMARY KEY(shard_id, ordinal)) WITHOUT ROWID;"
			" INSERT INTO samples SELECT * FROM t; DROP TABLE t"));
	snprintf(path, sizeof path, "%s", ix->path);
	bl_index_close(ix);
	ix = bl_index_open(path, BL_INDEX_READ, err, sizeof err);
	REQUIRE(ix);
	c = bl_index_cursor_new(ix, BL_IXC_BITS | BL_IXC_WEIGHT | BL_IXC_MEMBERS);
	REQUIRE(c);
	REQUIRE(bl_index_cursor_all(c) == BL_OK);
	while ((rc = bl_index_cursor_next(c, &r)) == BL_OK) {
		unsigned absent = BL_IXN_CAPTION_DATA | BL_IXN_CAPTION_SIZE | BL_IXN_IMAGE_DATA |
				  BL_IXN_JSON_DATA | BL_IXN_JSON_SIZE;
		/* the weights of the fixture (0.5, 2.5) are gone with the column */
		CHECK(r->weight == 1);
		CHECK_EQ_INT(r->nulls & absent, absent);
		n++;
	}
	CHECK_EQ_INT(rc, BL_END);
	CHECK_EQ_INT(n, 4);
	bl_index_cursor_free(c);
	bl_index_close(ix);
}

BL_TEST(index_shard_rows_and_error_totals)
{
	bl_index *ix = fixture("shards");
	struct bl_index_shard_row *rows = NULL;
	struct bl_index_error_total *t = NULL;
	uint64_t complete, damaged, not_stored;
	int64_t count;
	size_t n;

	REQUIRE(ix);
	REQUIRE(bl_index_shard_rows(ix, 1, &rows, &n) == BL_OK);
	REQUIRE(n == 3);
	CHECK_EQ_STR(rows[0].path, "a.tar");
	CHECK_EQ_INT(rows[0].size, 100);
	CHECK_EQ_INT(rows[0].mtime, 7);
	CHECK_EQ_INT(rows[0].samples, 2);
	CHECK_EQ_INT(rows[1].mtime, -1);
	CHECK_EQ_INT(rows[2].size, -1);
	CHECK_EQ_INT(rows[2].complete, 0);
	CHECK_EQ_INT(rows[2].samples, 0);
	bl_index_shard_rows_free(rows, n);
	REQUIRE(bl_index_shard_rows(ix, 0, &rows, &n) == BL_OK);
	CHECK(n == 3 && rows[0].samples == -1 && rows[2].id == 3);
	bl_index_shard_rows_free(rows, n);
	REQUIRE(bl_index_shard_count(ix, &count) == BL_OK);
	CHECK_EQ_INT(count, 3);
	REQUIRE(bl_index_complete_totals(ix, &complete, &damaged, &not_stored) == BL_OK);
	CHECK_EQ_INT(complete, 2);
	CHECK_EQ_INT(damaged, 0);
	CHECK_EQ_INT(not_stored, 0);

	/* by kind: shard 1 from its counts (3), shard 2 from its rows (1 + 1) */
	REQUIRE(bl_index_error_totals(ix, BL_IX_BY_KIND, &t, &n) == BL_OK);
	REQUIRE(n == 2);
	CHECK_EQ_STR(t[0].kind, "bad_json");
	CHECK_EQ_INT(t[0].n, 4);
	CHECK_EQ_STR(t[1].kind, "truncated");
	CHECK_EQ_INT(t[1].n, 1);
	bl_index_error_totals_free(t, n);
	REQUIRE(bl_index_error_totals(ix, BL_IX_BY_SHARD, &t, &n) == BL_OK);
	REQUIRE(n == 2);
	CHECK(t[0].shard_id == 1 && t[0].n == 3 && t[0].kind == NULL);
	CHECK(t[1].shard_id == 2 && t[1].n == 2);
	bl_index_error_totals_free(t, n);
	bl_index_close(ix);
}

BL_TEST(index_cursor_failure_names_the_index)
{
	bl_index *ix = fixture("fail");
	bl_index_cursor *c;

	REQUIRE(ix);
	REQUIRE(sql(ix, "DROP TABLE samples"));
	c = bl_index_cursor_new(ix, BL_IXC_BITS);
	REQUIRE(c);
	CHECK_EQ_INT(bl_index_cursor_all(c), BL_FAILED);
	CHECK_CONTAINS(bl_index_errmsg(ix), "reading samples");
	CHECK_CONTAINS(bl_index_errmsg(ix), "index-fail.db");
	bl_index_cursor_free(c);
	bl_index_close(ix);
}
