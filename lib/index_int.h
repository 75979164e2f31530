/*
 * index_int.h - what lib/index.c shares with the other modules of the
 * library (scan, merge, stats, report, rebalance, manifest, audit): the
 * index handle's insides, the row format the scanner hands over, and the
 * index's queries: cursors over samples with the columns a caller asks
 * for, shard rows, error totals, runs, meta, transactions, and the copy
 * of a merged part.  Every SQL statement of the library is in index.c, so
 * a schema change is an edit of index.c (and ballast.h's description);
 * this header names no table and no column, and does not include
 * sqlite3.h.  Not part of the public interface.
 */
#ifndef BL_INDEX_INT_H
#define BL_INDEX_INT_H

#include "ballast.h"

struct sqlite3;
struct sqlite3_stmt;

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
	struct sqlite3 *db;
	char *path;
	int writer;         /* opened with BL_INDEX_CREATE */
	int lock_fd;        /* flock'ed while a writer is open, or -1 */
	int upgraded;       /* the open upgraded an older schema */
	bl_buf errmsg;
	int nlabels;
	char *labels[BL_MAX_LABELS];
	struct sqlite3_stmt *stmt[IX_NSTMT];
	struct sqlite3_stmt *stage[IX_NSTAGE];
	int has_weight;     /* samples has the weight column: 1, 0, -1 not
			     * looked at yet */
	int has_members;    /* ... the members' data columns */
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

/* ---- transactions ------------------------------------------------------ */

/* BEGIN IMMEDIATE / COMMIT: BL_OK, or BL_FAILED with errmsg on ix. */
int bl_index_begin(bl_index *ix);
int bl_index_commit(bl_index *ix);
/* Roll back the open transaction, if any; errmsg is left as it was (it
 * holds the failure that led here). */
void bl_index_rollback(bl_index *ix);

/* ---- writing ------------------------------------------------------------ */

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
/* A scan's row in runs: its id (started now), or -1 when it cannot be
 * written (a scan goes on without it). */
int64_t bl_index_run_start(bl_index *ix, const char *argv, int threads);
/* The run's end: finished now, with its shard counts.  BL_OK/BL_FAILED. */
int bl_index_run_finish(bl_index *ix, int64_t run, uint64_t scanned, uint64_t skipped);

/* ---- reading: samples ---------------------------------------------------- */

/* Columns a cursor reads (or'ed): only these are fetched, row by row. */
enum {
	BL_IXC_SHARD = 1 << 0,    /* shard_id */
	BL_IXC_ORDINAL = 1 << 1,  /* ordinal */
	BL_IXC_KEY = 1 << 2,      /* key, offset */
	BL_IXC_LABELS = 1 << 3,   /* labels (",a,b," text) */
	BL_IXC_BITS = 1 << 4,     /* bits */
	BL_IXC_CAPTION = 1 << 5,  /* caption */
	BL_IXC_IMAGE = 1 << 6,    /* image_offset, image_size, image_ext */
	BL_IXC_MEMBERS = 1 << 7,  /* the members' data: caption_data,
				   * caption_size, image_data, image_size,
				   * json_data, json_size, image_ext */
	BL_IXC_PROBLEMS = 1 << 8, /* problems */
	BL_IXC_WEIGHT = 1 << 9,   /* weight */
	BL_IXC_PATH = 1 << 10,    /* the shard's path (shards.path) */
};

/* Numeric columns that can be NULL: bits of bl_index_sample.nulls. */
enum {
	BL_IXN_IMAGE_OFFSET = 1 << 0,
	BL_IXN_IMAGE_SIZE = 1 << 1,
	BL_IXN_CAPTION_DATA = 1 << 2,
	BL_IXN_CAPTION_SIZE = 1 << 3,
	BL_IXN_IMAGE_DATA = 1 << 4,
	BL_IXN_JSON_DATA = 1 << 5,
	BL_IXN_JSON_SIZE = 1 << 6,
};

/*
 * One sample as a cursor reads it: the columns asked for, the others 0 /
 * NULL (weight 1).  Strings and bits are borrowed until the next call on the cursor;
 * a NULL string column is a NULL pointer (length 0).  A NULL number reads
 * as 0 with its bit set in nulls.  weight is 1 when NULL, and when the
 * index predates the column; the members' columns of such an index read
 * as NULL.
 */
struct bl_index_sample {
	int64_t shard_id, ordinal;
	const char *key;
	size_t key_len;
	int64_t offset;
	const char *labels;
	size_t labels_len;
	const unsigned char *bits;
	size_t nbits;               /* bytes */
	const char *caption;
	int64_t image_offset, image_size;
	const char *image_ext;
	int64_t caption_data, caption_size, image_data, json_data, json_size;
	int64_t problems;
	double weight;
	const char *path;
	unsigned nulls;             /* BL_IXN_* */
};

typedef struct bl_index_cursor bl_index_cursor;

/* A cursor over samples reading the columns cols (BL_IXC_*).  NULL when
 * out of memory (errmsg on ix).  Free it before closing the index. */
bl_index_cursor *bl_index_cursor_new(bl_index *ix, unsigned cols);
/* Where the next rows come from: every sample in (shard_id, ordinal)
 * order; the samples of one shard in ordinal order; the one sample
 * (shard_id, ordinal), or none.  Each call starts over.  BL_OK; BL_FAILED
 * or BL_ENOMEM with errmsg on the index. */
int bl_index_cursor_all(bl_index_cursor *c);
int bl_index_cursor_shard(bl_index_cursor *c, int64_t shard_id);
int bl_index_cursor_one(bl_index_cursor *c, int64_t shard_id, int64_t ordinal);
/* The next row: BL_OK and *row (borrowed: see bl_index_sample), BL_END,
 * or BL_FAILED with errmsg on the index. */
int bl_index_cursor_next(bl_index_cursor *c, const struct bl_index_sample **row);
/* NULL: no-op. */
void bl_index_cursor_free(bl_index_cursor *c);

/* ---- reading: shards, errors, meta --------------------------------------- */

/* A row of shards, in id order. */
struct bl_index_shard_row {
	int64_t id;
	char *path;          /* malloc'ed; "" for NULL */
	int64_t size, mtime; /* -1: NULL */
	int complete;
	int64_t samples;     /* its rows in samples (counted); -1 when not
			      * asked for */
};

/* Every shard row, with its samples counted when count_samples (a pass
 * over samples: only for callers that need it).  *rows is malloc'ed (free
 * with bl_index_shard_rows_free).  BL_OK; BL_FAILED (errmsg on ix);
 * BL_ENOMEM. */
int bl_index_shard_rows(bl_index *ix, int count_samples, struct bl_index_shard_row **rows,
			size_t *n);
void bl_index_shard_rows_free(struct bl_index_shard_row *rows, size_t n);
/* Number of shard rows: BL_OK / BL_FAILED. */
int bl_index_shard_count(bl_index *ix, int64_t *n);

/* The complete shards: how many, how many ended in damage, and the item
 * errors of theirs that have no row in errors.  BL_OK / BL_FAILED. */
int bl_index_complete_totals(bl_index *ix, uint64_t *shards, uint64_t *damaged,
			     uint64_t *not_stored);

/* Item errors counted (error_totals), by kind (kind order; shard_id -1)
 * or by shard (shard_id order; kind NULL). */
enum { BL_IX_BY_KIND, BL_IX_BY_SHARD };
struct bl_index_error_total {
	int64_t shard_id;
	char *kind;          /* malloc'ed; NULL for a NULL kind */
	uint64_t n;
};
/* *out malloc'ed (free with bl_index_error_totals_free).  BL_OK;
 * BL_FAILED (errmsg on ix); BL_ENOMEM. */
int bl_index_error_totals(bl_index *ix, int by, struct bl_index_error_total **out,
			  size_t *n);
void bl_index_error_totals_free(struct bl_index_error_total *v, size_t n);

/* ---- merging a part (lib/merge.c decides, index.c copies) ---------------- */

/* Attach the database at uri (read-only by URI) as schema "part" / detach
 * it (best effort).  BL_OK, or BL_FAILED with errmsg. */
int bl_index_part_attach(bl_index *ix, const char *uri);
void bl_index_part_detach(bl_index *ix);
/* The part's schema version (user_version).  BL_OK / BL_FAILED. */
int bl_index_part_version(bl_index *ix, int64_t *version);
/* The part's labels mapped to ours by name, new names appended to the
 * index: map[part id] = index id, *n = the part's largest id + 1.  BL_OK
 * or BL_FAILED (errmsg: a damaged label table names part_path). */
int bl_index_part_map_labels(bl_index *ix, const char *part_path, int map[BL_MAX_LABELS],
			     int *n);
/* Every shard row of the part, in its order; the rows of its complete
 * shards replace ours (their bits remapped with map), an incomplete one
 * is planned here too.  In the caller's transaction.  BL_OK/BL_FAILED. */
int bl_index_part_copy(bl_index *ix, const int *map, int n);

/* ---- the label table ------------------------------------------ */

/* Number of labels and their names (by id), as stored in the index. */
int bl_index_nlabels(const bl_index *ix);
const char *bl_index_label(const bl_index *ix, int id);
/* Label id by name, or -1. */
int bl_index_label_id(const bl_index *ix, const char *name);

#endif
