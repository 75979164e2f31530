/*
 * index_int.h - what lib/index.c shares with the other modules of the
 * library (scan, merge, stats, report, rebalance): the index handle's
 * insides, its prepared statements, and the row format the scanner hands
 * over.  Not part of the public interface.
 */
#ifndef BL_INDEX_INT_H
#define BL_INDEX_INT_H

#include "ballast.h"

#include <sqlite3.h>

enum {
	IX_SHARD_GET,
	IX_SHARD_BY_IDENT,
	IX_SHARD_ADD,
	IX_SHARD_DONE,
	IX_DEL_SAMPLES,
	IX_DEL_ERRORS,
	IX_DEL_COUNTS,
	IX_ADD_SAMPLE,
	IX_ADD_ERROR,
	IX_ADD_COUNT,
	IX_NSTMT
};

/* Statements on the staging tables (temp schema), made on first use. */
enum {
	IX_STAGE_SAMPLE,
	IX_STAGE_ERROR,
	IX_STAGE_COPY_SAMPLES,
	IX_STAGE_COPY_ERRORS,
	IX_STAGE_DEL_SAMPLES,
	IX_STAGE_DEL_ERRORS,
	IX_NSTAGE
};

struct bl_index {
	sqlite3 *db;
	char *path;
	int writer;         /* opened with BL_INDEX_CREATE */
	int lock_fd;        /* flock'ed while a writer is open, or -1 */
	int upgraded;       /* the open upgraded an older schema */
	bl_buf errmsg;
	int nlabels;
	char *labels[BL_MAX_LABELS];
	sqlite3_stmt *stmt[IX_NSTMT];
	sqlite3_stmt *stage[IX_NSTAGE];
};

/* What the index remembers of a shard, to decide whether to rescan it. */
struct bl_index_shard_state {
	int64_t size, mtime;
	char rules_digest[65];
	char options[64];   /* "" when not recorded (an upgraded index) */
	int complete;
	int found;          /* the row existed before this call */
	char *path;         /* bl_index_shard_by_ident: the row's path
			     * (malloc'ed, the caller frees) */
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

/*
 * A chunk of one shard's results, filled by a scan worker and written by
 * the thread that owns the index.  A shard comes as one chunk (first and
 * last) when it is small, else as a run of chunks in sample order: the
 * first ones are staged in temporary tables, the last one moves the whole
 * shard into the index in one transaction.  The totals fields are set on
 * the last chunk only.
 */
struct bl_index_shard {
	int64_t id;
	const char *path;
	int64_t size, mtime, dev, ino;
	const char *options;
	int first, last;
	struct bl_index_row *rows;
	size_t nrows, rows_alloc;
	struct bl_index_err *errs;
	size_t nerrs, errs_alloc;
	bl_buf arena;
	/* last chunk: */
	int fatal;          /* the shard ended in damage */
	size_t fatal_msg;   /* arena offset, when fatal */
	uint64_t samples;   /* rows of the whole shard */
	uint64_t errors;    /* item errors of the whole shard */
	uint64_t not_stored; /* of them, not kept as rows of errors */
	uint64_t counts[BL_ERR__COUNT];
};

#define BL_NO_STR ((size_t)-1)

int bl_index_exec(bl_index *ix, const char *sql);
/* 1 when samples has the weight column (indexes written before it: 0). */
int bl_index_has_weight(bl_index *ix);
void bl_index_now(char out[32]);
int bl_index_writer_prepare(bl_index *ix);
void bl_index_writer_release(bl_index *ix);
/* Find or add a shard row by path; fills its stored state. */
int bl_index_shard_id(bl_index *ix, const char *path, int64_t *id,
		      struct bl_index_shard_state *state);
/* Find a shard row for the same file (device, inode, size and mtime) under
 * another path: 1 and *id/state (state->path set), 0 none, BL_FAILED. */
int bl_index_shard_by_ident(bl_index *ix, int64_t dev, int64_t ino, int64_t size,
			    int64_t mtime, int64_t *id,
			    struct bl_index_shard_state *state);
/* Map rule-set label indexes to index label ids (adding new names). */
int bl_index_map_labels(bl_index *ix, const bl_ruleset *rs, int *map);
/* Set / read a meta value (NULL value deletes).  BL_OK / BL_FAILED. */
int bl_index_meta_set(bl_index *ix, const char *key, const char *value);
/* The value as a malloc'ed string, or NULL (absent or out of memory). */
char *bl_index_meta_get(bl_index *ix, const char *schema, const char *key);
/*
 * Write one chunk of a shard (see struct bl_index_shard).  Returns BL_OK;
 * BL_FAILED when this shard cannot be written (errmsg names the shard and
 * the sample; staged rows of the shard are dropped, its row stays
 * incomplete, later shards can still be written); BL_FATAL when the index
 * cannot be written at all (disk full, I/O error, locked, damaged).
 */
int bl_index_write_chunk(bl_index *ix, const struct bl_index_shard *ch,
			 const bl_ruleset *rs, const int *map,
			 const char *rules_digest);
/* Forget the staged chunks of a shard (after a failure).  Best effort. */
void bl_index_drop_staged(bl_index *ix, int64_t shard_id);

#endif
