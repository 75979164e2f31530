/*
 * index_int.h - what lib/index.c shares with the other modules of the
 * library (scan, stats, report, rebalance): the index handle's insides,
 * its prepared statements, and the row format the scanner hands over.
 * Not part of the public interface.
 */
#ifndef BL_INDEX_INT_H
#define BL_INDEX_INT_H

#include "ballast.h"

#include <sqlite3.h>

enum {
	IX_SHARD_GET,
	IX_SHARD_ADD,
	IX_SHARD_DONE,
	IX_DEL_SAMPLES,
	IX_DEL_ERRORS,
	IX_ADD_SAMPLE,
	IX_ADD_ERROR,
	IX_NSTMT
};

struct bl_index {
	sqlite3 *db;
	char *path;
	bl_buf errmsg;
	int nlabels;
	char *labels[BL_MAX_LABELS];
	sqlite3_stmt *stmt[IX_NSTMT];
};

/* What the index remembers of a shard, to decide whether to rescan it. */
struct bl_index_shard_state {
	int64_t size, mtime;
	char rules_digest[65];
	int complete;
};

/* One sample's row, as the scanner builds it.  Strings are offsets into
 * the shard result's arena (so the arena may grow); -1 / NAN = unknown. */
struct bl_index_row {
	uint64_t ordinal;
	int64_t offset, caption_offset, image_offset, image_size;
	/* members' data bytes (for manifests): offset and size, -1 unknown */
	int64_t caption_data, caption_size, image_data, json_data, json_size;
	size_t key, caption, image_ext, status; /* arena offsets; SIZE_MAX = NULL */
	int width, height;
	double punsafe, pwatermark;
	double weight;      /* the JSON's ballast_weight; 1 when absent */
	bl_problems problems;
	bl_labelset labels; /* rule-set label indexes */
};

struct bl_index_err {
	int64_t ordinal; /* -1: no sample */
	bl_errkind kind;
	int64_t offset;
	size_t msg; /* arena offset */
};

/* Everything one shard produced; filled by a scan worker, written by the
 * thread that owns the index. */
struct bl_index_shard {
	int64_t id;
	const char *path;
	int64_t size, mtime;
	struct bl_index_row *rows;
	size_t nrows, rows_alloc;
	struct bl_index_err *errs;
	size_t nerrs, errs_alloc;
	bl_buf arena;
	int fatal;          /* the shard ended in damage */
	size_t fatal_msg;   /* arena offset, when fatal */
};

#define BL_NO_STR ((size_t)-1)

int bl_index_exec(bl_index *ix, const char *sql);
/* 1 when samples has the weight column (indexes written before it: 0). */
int bl_index_has_weight(bl_index *ix);
void bl_index_now(char out[32]);
int bl_index_writer_prepare(bl_index *ix);
void bl_index_writer_release(bl_index *ix);
/* Find or add a shard row; fills its stored state. */
int bl_index_shard_id(bl_index *ix, const char *path, int64_t *id,
		      struct bl_index_shard_state *state);
/* Map rule-set label indexes to index label ids (adding new names). */
int bl_index_map_labels(bl_index *ix, const bl_ruleset *rs, int *map);
/* Write one shard's rows in one transaction, replacing what was there. */
int bl_index_write_shard(bl_index *ix, const struct bl_index_shard *sh,
			 const bl_ruleset *rs, const int *map,
			 const char *rules_digest);

#endif
