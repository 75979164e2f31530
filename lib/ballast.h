/*
 * ballast.h - the public interface of libballast, and its manual.
 *
 * libballast measures and corrects skew in image-caption training sets kept
 * as WebDataset tar shards.  The chain is
 *
 *   shard specs -> bl_reader (samples) -> bl_tagger (labels) -> index ->
 *   report / rebalance -> manifests
 *
 * Contents, in the order of the chain (each section names its files):
 *
 *   Return codes and error kinds     BL_OK ... BL_ENOMEM, bl_errkind
 *   bl_buf                           growable byte buffer
 *   Small utilities                  UTF-8, hashing, files written whole,
 *                                    PRNG, seeds, SHA-256
 *   Shard specs                      bl_spec_expand, bl_strlist
 *   The shard reader                 bl_reader: tar, tgz, tar.zst, tar.xz
 *   Image probe and decode           bl_image (TurboJPEG)
 *   Labels                           bl_labelset, families, the
 *                                    child-safety rule
 *   Rules and tagging                bl_ruleset, bl_tagger
 *   The index                        bl_index (SQLite)
 *   Scanning                         shards -> tags -> index
 *   Audits                           how far to trust the tags
 *   Statistics and reports           bl_stats, bl_report_*
 *   Policies, rebalancing and        bl_policy, bl_rebalance, bl_manifest,
 *   manifests                        verification
 *   Reports of a manifest            before and after a rebalance
 *   The shard writer                 bl_writer (ballast write)
 *   Synthetic samples                bl_synth (mkshards)
 *   Consumers                        bl_sampler, bl_loader, bl_export
 *
 * Internal helpers are declared in the lib/..._int.h headers, not here.
 *
 * Conventions that hold for every function below (see STYLE.md):
 *
 *  - Handles are opaque: new -> configure -> open -> next -> close -> free.
 *    *_free(NULL) is a no-op.
 *  - Return codes: BL_OK (0) success, BL_END (1) end of stream, negative
 *    codes in three tiers: BL_WARN (the item was delivered but has a
 *    problem), BL_FAILED (this item failed, the stream goes on), BL_FATAL
 *    (this stream cannot go on; earlier items stay valid).  BL_EUSAGE marks
 *    API misuse (a NULL handle, a call out of order).
 *  - Errors, one convention.  A method (a call on a handle that has a
 *    bl_X_errmsg) keeps its error on that handle: bl_X_errmsg() returns a
 *    message that names the shard, member and byte offset where there is
 *    one, e.g.
 *      shard 'a.tar' member 'x/1.jpg' at offset 81920: Damaged tar archive
 *    The string is owned by the handle and valid until the next call on it.
 *    Constructors that can fail for more than want of memory, and calls
 *    without a handle of their own (a scan, a report, a manifest, an
 *    export, a verification: they read handles to make something else, and
 *    leave their inputs' messages alone), take `char *err, size_t errlen`:
 *    the message is written there, truncated to errlen and always
 *    NUL-terminated; err may be NULL.  Constructors that fail only for
 *    want of memory or on a NULL or bad argument return NULL and take none.
 *    Exceptions, kept so that the public interface (and the Python
 *    wrapper, which binds the sampler's) does not change:
 *    bl_manifest_summary takes err/errlen although bl_manifest has an
 *    errmsg; bl_sampler and bl_audit have no errmsg, so bl_sampler_*_state
 *    and bl_sampler_state_restore take err/errlen; bl_file_out_commit and
 *    bl_file_dir_commit take err/errlen on caller-owned structs;
 *    bl_sha256_file says why in errno; the loader reports an item's error
 *    in its result (bl_loaded's errmsg).
 *  - Returned pointers are borrowed from the handle until the next call on
 *    the same handle unless a comment says otherwise.
 *  - The library never prints, never exits and never aborts on bad input.
 *    Every reader takes explicit limits; exceeding one is an item error.
 *  - Threads: a handle is used by one thread at a time unless its section
 *    says otherwise (a compiled bl_ruleset is shared read-only by many
 *    taggers).  Process-wide state, all set up once and thread-safe: the
 *    first bl_tagger installs cJSON allocation hooks (cJSON_InitHooks)
 *    that parse a sample's JSON into the tagger's arena and are plain
 *    malloc/free everywhere else, so other cJSON users in the process are
 *    unaffected - but a program that installs cJSON hooks of its own
 *    after that breaks the tagger's parses; and the shard reader installs
 *    a SIGBUS handler that turns a fault inside a shard it has mapped
 *    into an item error and passes every other SIGBUS on to the handler
 *    that was there before.
 */
#ifndef BALLAST_H
#define BALLAST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BALLAST_VERSION "0.1.0"
/* The same as numbers, for #if: BALLAST_VERSION_NUMBER is
 * major * 10000 + minor * 100 + patch. */
#define BALLAST_VERSION_MAJOR 0
#define BALLAST_VERSION_MINOR 1
#define BALLAST_VERSION_PATCH 0
#define BALLAST_VERSION_NUMBER                                             \
	(BALLAST_VERSION_MAJOR * 10000 + BALLAST_VERSION_MINOR * 100 +     \
	 BALLAST_VERSION_PATCH)

/* ------------------------------------------------------------------ */
/* Return codes and error kinds                                        */
/* ------------------------------------------------------------------ */

enum {
	BL_OK = 0,
	BL_END = 1,
	BL_WARN = -1,   /* item delivered, but with a problem (see errmsg) */
	BL_FAILED = -2, /* this item failed; call next again */
	BL_FATAL = -3,  /* this stream is finished; earlier items stay valid */
	BL_EUSAGE = -4, /* API misuse */
	BL_ENOMEM = -5  /* allocation failed; the handle is unchanged */
};

/*
 * What went wrong with an item.  Used to count problems by kind; each has a
 * stable lower-case name (bl_errkind_name) used in reports and indexes.
 */
typedef enum bl_errkind {
	BL_ERR_NONE = 0,
	BL_ERR_OPEN,        /* shard cannot be opened / is not an archive */
	BL_ERR_TRUNCATED,   /* archive damaged or cut short */
	BL_ERR_NOT_REGULAR, /* member is a directory, link, device ... */
	BL_ERR_DUP_KEY,     /* key seen before in the same shard, not adjacent;
			     * a second member of one extension in a sample,
			     * or a second caption (txt, txt.gz) or json */
	BL_ERR_NO_CAPTION,  /* sample has no txt member */
	BL_ERR_TOO_BIG,     /* member over the size limit (bytes not loaded) */
	BL_ERR_BAD_UTF8,    /* caption is not valid UTF-8 */
	BL_ERR_BAD_PATH,    /* member path empty, too long, or without a key */
	BL_ERR_TOO_MANY,    /* too many members in one sample */
	BL_ERR_JSON,        /* json member does not parse */
	BL_ERR_IMAGE,       /* image cannot be probed or decoded */
	BL_ERR_MATCH_LIMIT, /* a regex hit its match/depth limit */
	BL_ERR_NOMEM,       /* out of memory for this item */
	BL_ERR_DAMAGED,     /* damage the shard goes on after: a damaged member
			     * header skipped, junk after the compressed data
			     * or after the end of the archive, a compressed
			     * member (txt.gz) that does not decompress */
	BL_ERR_NUL,         /* caption holds a NUL byte (kept, NUL replaced) */
	BL_ERR_DUP_SHARD,   /* the same file given twice (scanned once) */
	BL_ERR_LIMIT,       /* a per-shard limit was reached (named) */
	BL_ERR_INDEX,       /* the index could not take a shard's rows */
	BL_ERR__COUNT
} bl_errkind;

/* Stable name of an error kind ("truncated", "no_caption", ...). Never NULL. */
const char *bl_errkind_name(bl_errkind kind);

/* ------------------------------------------------------------------ */
/* bl_buf: growable byte buffer with a cap (lib/buf.c)                 */
/* ------------------------------------------------------------------ */

/*
 * Invariants: buf is never NULL after bl_buf_init (it points at a static
 * empty string until the first growth); buf[len] == '\0' always; len never
 * exceeds cap.  An append that would pass cap fails with BL_FAILED and
 * leaves the buffer unchanged (curl's DYNBUF "toobig").
 */
typedef struct bl_buf {
	char *buf;
	size_t len;
	size_t alloc;
	size_t cap;
} bl_buf;

/* Initialise an empty buffer that may hold at most cap bytes (0: 1 GiB). */
void bl_buf_init(bl_buf *b, size_t cap);
/* Free the storage and reinitialise with the same cap. */
void bl_buf_release(bl_buf *b);
/* Make the buffer empty, keeping its storage. */
void bl_buf_reset(bl_buf *b);
/* Ensure room for extra more bytes. BL_OK, BL_FAILED (cap), BL_ENOMEM. */
int bl_buf_grow(bl_buf *b, size_t extra);
/* Append bytes. Returns as bl_buf_grow. */
int bl_buf_add(bl_buf *b, const void *data, size_t len);
int bl_buf_adds(bl_buf *b, const char *s);
int bl_buf_addch(bl_buf *b, char c);
/* printf-style append. Returns as bl_buf_grow. */
int bl_buf_addf(bl_buf *b, const char *fmt, ...)
	__attribute__((format(__printf__, 2, 3)));
/* Hand the storage to the caller (free() it); the buffer is reinitialised.
 * Returns NULL on allocation failure for an empty buffer. */
char *bl_buf_detach(bl_buf *b, size_t *len);

/* ------------------------------------------------------------------ */
/* Small utilities                                                     */
/* ------------------------------------------------------------------ */

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates), else 0;
 * *bad_at (may be NULL) gets the offset of the first invalid byte. */
int bl_utf8_valid(const char *s, size_t len, size_t *bad_at);

/*
 * JSON holds text and ballast's strings are bytes.  Append s[0..len) to
 * out with every byte that is not part of valid UTF-8 written as the
 * escape \udcXX (XX its value, 80..ff: the lone low surrogates of
 * Python's "surrogateescape", which valid UTF-8 never holds, so the
 * escape is unambiguous; the manifests' escape, bl_manifest_json_str),
 * valid UTF-8 kept, and:
 *   flags 0             '"', '\\' and control characters escaped too:
 *                       the body of a JSON string literal;
 *   flags BL_JSON_TEXT  s is JSON text already (cJSON's output, which
 *                       copies a string's bytes as they are, valid or
 *                       not): only the invalid bytes are escaped.  They
 *                       can only be inside its strings and keys, so the
 *                       result is the same JSON, valid UTF-8.
 * Every JSON file and line the library and the tools write goes through
 * one or the other.  Returns as bl_buf_add; BL_EUSAGE when out is NULL,
 * or s is NULL and len is not 0.
 */
enum { BL_JSON_TEXT = 1 };
int bl_utf8_json_escape(bl_buf *out, const char *s, size_t len, unsigned flags);

/* 64-bit FNV-1a of p[0..n), for hash tables: the same on every platform
 * and run, not for security. */
uint64_t bl_hash_bytes(const void *p, size_t n);

/* ---- files and directories written whole (lib/file.c) ------------ */

/*
 * Write len bytes to path atomically: a new temporary file beside it
 * (".NAME.XXXXXX", created with O_EXCL, so no planted symlink is
 * followed), fsync, rename over path.  A path that is a character device,
 * FIFO or socket, or lies under /dev or /proc (/dev/null, /dev/stdout), is
 * written in place, never replaced; a directory is an error.  BL_OK;
 * BL_FAILED with a message in err (may be NULL) and path untouched;
 * BL_EUSAGE on a NULL path.
 */
int bl_file_write_atomic(const char *path, const void *data, size_t len, char *err,
			 size_t errlen);

/*
 * One output file written as bl_file_write_atomic does, for writers that
 * stream (bl_writer): open, write to o->fd, then commit (fsync unless
 * BL_FILE_NOSYNC, rename) or abort (the temporary file is removed, path
 * untouched).  o->direct is 1 when path itself is being written (a device
 * or FIFO: nothing to rename).  open: BL_OK, BL_FAILED / BL_EUSAGE with a
 * message in err (may be NULL), BL_ENOMEM; o needs no cleanup on failure.
 * commit: BL_OK or BL_FAILED with a message; either way o is released.
 * abort: always succeeds; NULL is a no-op.
 */
enum { BL_FILE_NOSYNC = 1 };
typedef struct bl_file_out {
	int fd;          /* write here */
	int direct;      /* 1: writing path itself */
	unsigned flags;
	char *path, *tmp;
} bl_file_out;
int bl_file_out_open(bl_file_out *o, const char *path, unsigned flags, char *err,
		     size_t errlen);
int bl_file_out_commit(bl_file_out *o, char *err, size_t errlen);
void bl_file_out_abort(bl_file_out *o);

/* Create path, which must not exist (O_EXCL, O_NOFOLLOW), and write len
 * bytes, without fsync: for files inside a directory being built with
 * bl_file_dir, which is synced once.  BL_OK; BL_FAILED with a message
 * (the file is removed); BL_EUSAGE. */
int bl_file_write_new(const char *path, const void *data, size_t len, char *err,
		      size_t errlen);

/*
 * One output directory built beside its place and published whole:
 * begin makes d->tmp = OUTDIR.tmp-XXXXXX (mode as mkdir with the umask)
 * and d->abs, the absolute path OUTDIR will have (for files that must
 * name it).  An existing OUTDIR is an error unless force; with force,
 * only a directory that is empty or holds a file named marker (NULL: any
 * directory) will be replaced, so that --force never deletes a directory
 * this command did not write.  commit syncs the tree once (syncfs), then
 * renames d->tmp to OUTDIR (an old OUTDIR is swapped out atomically with
 * RENAME_EXCHANGE where the file system allows, then removed) and syncs
 * the parent.  release removes d->tmp unless committed.  A reader sees no
 * OUTDIR, the old one, or the new one complete; never a mix.
 * begin: BL_OK, BL_FAILED / BL_EUSAGE with a message in err, BL_ENOMEM;
 * commit: BL_OK or BL_FAILED with a message (release still needed).
 */
typedef struct bl_file_dir {
	char *path;  /* OUTDIR as given, trailing slashes removed */
	char *tmp;   /* build here */
	char *abs;   /* absolute OUTDIR */
} bl_file_dir;
int bl_file_dir_begin(bl_file_dir *d, const char *outdir, int force, const char *marker,
		      char *err, size_t errlen);
int bl_file_dir_commit(bl_file_dir *d, int force, char *err, size_t errlen);
void bl_file_dir_release(bl_file_dir *d);

/* Deterministic PRNG (xoshiro256**), seeded with splitmix64. */
typedef struct bl_rng {
	uint64_t s[4];
} bl_rng;
void bl_rng_seed(bl_rng *r, uint64_t seed);
/* Seed from a base seed and a stream id, e.g. (seed, shard index): the
 * streams are independent and do not depend on thread scheduling. */
void bl_rng_seed2(bl_rng *r, uint64_t seed, uint64_t stream);
uint64_t bl_rng_next(bl_rng *r);
/* Uniform double in [0, 1). */
double bl_rng_double(bl_rng *r);
/* Uniform integer in [0, n); n == 0 returns 0. */
uint64_t bl_rng_below(bl_rng *r, uint64_t n);

/*
 * Seeds and streams.  A seed is a uint64_t, given by users as a decimal
 * integer from 0 to 2^64 - 1 and parsed by bl_seed_parse only (0 is a seed
 * like any other, not "unset").  In JSON it is written exactly: as a
 * number up to 2^53, as a decimal string above (JSON readers hold numbers
 * as doubles); readers take either.  Every random choice of ballast draws
 * from bl_rng_seed2(seed, stream) with one of these stream ids, so that no
 * two purposes share a stream and no draw depends on thread scheduling:
 *   BL_RNG_STREAM_SAMPLE(shard, ordinal)  a sample's own draws: the
 *       rebalancer's stochastic rounding and Bernoulli keep, an export's
 *       rounding of a fractional weight (shard: the index's shard id or
 *       the manifest's input number, below 2^22; ordinal below 2^40)
 *   BL_RNG_STREAM_EPOCH(e)  the sampler's epoch e (below 2^62)
 *   BL_RNG_STREAM_PLACE  where `ballast write` places the copies of
 *       repeated samples
 */
#define BL_RNG_STREAM_SAMPLE(shard, ordinal)                               \
	(((uint64_t)(shard) << 40) ^ (uint64_t)(ordinal))
#define BL_RNG_STREAM_EPOCH(e) ((UINT64_C(1) << 62) | (uint64_t)(e))
#define BL_RNG_STREAM_PLACE (UINT64_C(1) << 63 | 1)

/* Parse a seed: decimal digits only (no sign, blank, prefix or suffix),
 * at most 2^64 - 1.  BL_OK and *seed set; BL_FAILED (junk, empty,
 * overflow: *seed untouched); BL_EUSAGE on NULL. */
int bl_seed_parse(const char *text, uint64_t *seed);

/* BALLAST_VERSION_NUMBER of the library actually linked (the header's
 * may differ from an older or newer shared library). */
int bl_version_number(void);

/* SHA-256 (lib/sha256.c, backed by nettle: the SHA-NI instructions where
 * the CPU has them), for digests of rule files, policies and shards.  The
 * context is plain bytes: copying it by value forks the hash. */
typedef struct bl_sha256 {
	union {
		uint64_t align;
		unsigned char bytes[128];
	} ctx;
} bl_sha256;
void bl_sha256_init(bl_sha256 *c);
void bl_sha256_update(bl_sha256 *c, const void *data, size_t len);
void bl_sha256_final(bl_sha256 *c, unsigned char out[32]);
/* Lower-case hex of the digest of data into hex[65]. */
void bl_sha256_hex(const void *data, size_t len, char hex[65]);
void bl_sha256_final_hex(bl_sha256 *c, char hex[65]);
/* SHA-256 hex of a whole file.  BL_OK, or BL_FAILED (errno tells why). */
int bl_sha256_file(const char *path, char hex[65]);

/* ------------------------------------------------------------------ */
/* Shard specs (lib/spec.c)                                            */
/* ------------------------------------------------------------------ */

/*
 * A list of strings, owned by the list.
 */
typedef struct bl_strlist {
	char **items;
	size_t n;
	size_t alloc;
} bl_strlist;

void bl_strlist_init(bl_strlist *l);
void bl_strlist_release(bl_strlist *l);
/* Append a copy of s. BL_OK or BL_ENOMEM. */
int bl_strlist_add(bl_strlist *l, const char *s);

/*
 * Expand one shard spec as users write them and append the shard paths to
 * out, in order:
 *   "-"                    standard input (kept as "-")
 *   "@list.txt"            one spec per line; blank lines and '#' comments
 *                          skipped; "@-" reads the list from stdin; a list
 *                          without a spec is an error
 *   "a/{00000..00099}.tar" brace ranges, zero padding kept from the width of
 *                          the first bound; several ranges multiply
 *   "a/{x,y}.tar"          brace alternatives
 *   "a/x*.tar"             glob(3) patterns, sorted; a pattern that matches
 *                          nothing is an error
 *   anything else          kept as written (existence is checked on open)
 * Expansion is capped at max_items paths (0: 10 million).
 * Returns BL_OK, or BL_FAILED with a message in err[errlen].
 */
int bl_spec_expand(const char *spec, bl_strlist *out, size_t max_items,
		   char *err, size_t errlen);
/*
 * The same shard under several names: for each of paths[0..n-1],
 * first[i] is the index of the first path naming the same file (the same
 * device and inode: another path, a symlink, a hard link; "-" given
 * again), or i when it is the first.  Paths that are not regular files
 * (or cannot be stat'ed, FIFOs and devices aside from "-") are their
 * own first.  `ballast scan` and `ballast ls` read such a shard once,
 * under its first name, and report the others (BL_ERR_DUP_SHARD).
 * Returns BL_OK, BL_ENOMEM, BL_EUSAGE (NULL with n > 0).
 */
int bl_spec_same_files(const char *const *paths, size_t n, size_t *first);

/* ------------------------------------------------------------------ */
/* The shard reader (lib/shard.c)                                      */
/* ------------------------------------------------------------------ */

/* Limits on untrusted input.  Zero fields take the defaults shown. */
typedef struct bl_limits {
	int64_t max_member;   /* bytes loaded for one member: 64 MiB */
	int64_t max_caption;  /* bytes of one caption: 64 KiB */
	size_t max_path;      /* member path length: 4096 */
	size_t max_members;   /* members in one sample: 64 */
	size_t max_keys;      /* keys remembered per shard for the duplicate-
			       * key check (8 bytes each): 1 Mi; past it the
			       * check stops, reported once (BL_ERR_LIMIT) */
} bl_limits;

/* Which member bytes the reader loads; the rest are skipped unread. */
enum {
	BL_LOAD_TEXT = 1 << 0,  /* txt and json members */
	BL_LOAD_IMAGE = 1 << 1, /* jpg, jpeg, png, webp members */
	BL_LOAD_OTHER = 1 << 2, /* every other member */
	BL_LOAD_ALL = 7,
	/* Image members: load only their first BL_IMAGE_HEAD bytes (enough
	 * for a header probe: on real photos the JPEG frame header comes
	 * within 21 KB) and skip the rest; member->len < member->size then. */
	BL_LOAD_IMAGE_HEAD = 1 << 3
};
#define BL_IMAGE_HEAD (64 * 1024)

typedef struct bl_member {
	const char *name;          /* full member path */
	const char *ext;           /* extension, lower-cased: "jpg", "txt.gz" */
	int64_t offset;            /* byte offset of its tar header */
	int64_t size;              /* size from the header */
	int64_t data_offset;       /* byte offset of its data (after every
				    * header block of the member); in the
				    * decompressed stream for compressed
				    * shards, like offset */
	const unsigned char *data; /* loaded bytes, or NULL if not loaded */
	size_t len;                /* bytes in data */
} bl_member;

/* Problems a sample carries (bit i set: bl_errkind i occurred). */
typedef uint32_t bl_problems;
#define BL_PROBLEM(kind) ((bl_problems)1u << (kind))

typedef struct bl_sample {
	const char *shard;      /* the shard path as given */
	uint64_t ordinal;       /* 0-based index of the sample in its shard;
				 * BL_ORDINAL_UNKNOWN after a bl_reader_seek
				 * into a plain tar (see there) */
	const char *key;        /* WebDataset key: path up to the basename's first dot */
	int64_t offset;         /* byte offset of the first member's header */
	size_t nmembers;
	const bl_member *members;
	const bl_member *caption; /* the txt or txt.gz member (its data
				   * decompressed), or NULL; a sample has one
				   * (a second is BL_ERR_DUP_KEY, skipped) */
	const bl_member *json;    /* the json (or json.gz) member, or NULL */
	const bl_member *image;   /* first jpg/jpeg/png/webp member, or NULL */
	bl_problems problems;     /* BL_PROBLEM(BL_ERR_NO_CAPTION) etc. */
} bl_sample;

/* bl_sample.ordinal of a sample read where the reader cannot count. */
#define BL_ORDINAL_UNKNOWN UINT64_MAX

typedef struct bl_reader bl_reader;

/* A new reader, or NULL when out of memory.  Loads BL_LOAD_TEXT by default. */
bl_reader *bl_reader_new(void);
/* Set limits (NULL: defaults). Only between open calls. */
int bl_reader_set_limits(bl_reader *r, const bl_limits *lim);
/* Choose which member bytes are loaded (BL_LOAD_* flags). */
int bl_reader_set_load(bl_reader *r, unsigned flags);
/*
 * Open a shard ("-" is standard input).  Compression (gzip, zstd, xz, bzip2)
 * is detected from the bytes, not the name, and decoded by the reader
 * (lib/stream.c) so that every byte before bad input is read and the bad
 * input located; others libarchive knows (lz4, lzip ...) pass to it.  An
 * uncompressed regular file is mapped (BALLAST_NO_MMAP=1: read()); a
 * SIGBUS from the file being cut meanwhile is caught and ends the shard
 * with BL_ERR_TRUNCATED.  Closes any shard still open.
 * Returns BL_OK, or BL_FATAL with errmsg naming the shard.
 */
int bl_reader_open(bl_reader *r, const char *path);
/*
 * Open a shard held in memory (data must stay valid until close); name is
 * used in messages.  Returns as bl_reader_open.
 */
int bl_reader_open_memory(bl_reader *r, const void *data, size_t len,
			  const char *name);
/*
 * Deliver the next sample in *out (borrowed until the next call).
 *   BL_OK     a sample without problems
 *   BL_WARN   a sample with problems: (*out)->problems says which, errmsg
 *             describes the first, bl_reader_problem lists them all; the
 *             sample is valid (a sample next to a damaged header skipped
 *             carries BL_ERR_DAMAGED: members of it may be lost)
 *   BL_FAILED a member or sample was rejected (not a regular file,
 *             duplicated key, bad path), a damaged header was skipped
 *             with no sample open (BL_ERR_DAMAGED, offset and bytes
 *             skipped), or, after the last sample, junk follows the
 *             archive or the compressed data (BL_ERR_DAMAGED); *out is
 *             NULL; errkind/errmsg say why; call again
 *   BL_FATAL  the shard is damaged or unreadable; every complete sample
 *             before the damage has been delivered; the next call returns
 *             BL_END
 *   BL_END    no more samples
 * The sample being assembled when damage is found is not delivered: some
 * of its members may be lost, and a partial sample must not pass for a
 * whole one.
 */
int bl_reader_next(bl_reader *r, const bl_sample **out);
/* Kind and message of the last non-OK result. */
bl_errkind bl_reader_errkind(const bl_reader *r);
const char *bl_reader_errmsg(const bl_reader *r);
/*
 * Every problem of the sample last delivered with BL_WARN, in the order
 * found (bl_reader_errkind/errmsg give the first): count, and problem i
 * (kind, byte offset or -1, message naming shard and member; borrowed
 * until the next call).  At most 32 are listed; bl_reader_problems_unlisted
 * counts the rest.  bl_reader_problem returns BL_OK or BL_EUSAGE (i out of
 * range); any out pointer may be NULL.
 */
size_t bl_reader_nproblems(const bl_reader *r);
size_t bl_reader_problems_unlisted(const bl_reader *r);
int bl_reader_problem(const bl_reader *r, size_t i, bl_errkind *kind,
		      int64_t *offset, const char **msg);
/* Byte offset the last non-OK result refers to, or -1 when none applies. */
int64_t bl_reader_erroffset(const bl_reader *r);
/*
 * Random access: make the next bl_reader_next deliver the sample whose
 * first member's header is at offset (bl_sample.offset as a streaming
 * pass recorded it), with the same limits, key rules, load flags,
 * problems and messages.
 *   Plain tars (mapped, a regular file, or memory) are entered at offset
 *   directly: the sample is the one the streaming reader delivers there,
 *   except for what depends on the bytes before it: its ordinal is
 *   BL_ORDINAL_UNKNOWN (unless offset is 0, or the reader was already
 *   there reading in order), and the duplicate-key check and the note
 *   that a sample follows damage start afresh.  The offset of a later
 *   member of a sample enters there too (that member and the ones of its
 *   key after it make the sample).
 *   Compressed shards (and anything not entered in the middle) are read
 *   on from where the reader stands when that is before offset, else
 *   again from the start, skipping member bytes: the sample is exactly
 *   the streaming reader's, ordinal included.  Samples in shard order
 *   cost one pass; random order a pass each (materialise compressed sets
 *   with `ballast write` first).
 * Returns BL_OK; BL_FAILED when no valid member header starts at offset
 * (compressed: no sample's first header; errkind BL_ERR_TRUNCATED, errmsg
 * names shard and offset; bl_reader_next then
 * returns BL_END until the next seek) or a pipe would have to go back
 * (the reader stays where it was); BL_FATAL when damage, a read error or
 * a cut under the map (BL_ERR_TRUNCATED) ends the shard on the way;
 * BL_EUSAGE for no open shard (or one that failed to open) or offset < 0.
 * A seek to where the reader stands, reading in order, costs nothing.
 */
int bl_reader_seek(bl_reader *r, int64_t offset);
/* Bytes of the shard file consumed so far (compressed side), for progress. */
int64_t bl_reader_bytes_read(const bl_reader *r);
/* 1 if the open shard is an uncompressed regular file that supports seeks. */
int bl_reader_seekable(const bl_reader *r);
/*
 * The compression of the open shard, as detected from its bytes: "none",
 * "gzip", "bzip2", "xz", "zstd", or the name libarchive gives a filter
 * only it decodes ("lz4", "lzip" ...).  Static; NULL when no shard is open.
 */
const char *bl_reader_compression(const bl_reader *r);
/* Close the shard. BL_OK. */
int bl_reader_close(bl_reader *r);
void bl_reader_free(bl_reader *r);

/* ------------------------------------------------------------------ */
/* Image probe and decode (lib/image.c)                                */
/* ------------------------------------------------------------------ */

/*
 * Images are untrusted bytes.  The format comes from the magic bytes, never
 * the name.  JPEGs are decoded with libjpeg-turbo 2.1 (TurboJPEG 2.x API);
 * PNG, GIF and WebP are recognised and sized from their header but not
 * decoded.  Before libjpeg sees a JPEG, our own bounded marker walk reads
 * its dimensions and counts its scans, so the limits below are enforced
 * before any pixel memory is allocated: a file declaring 65535x65535 is
 * refused ("65535x65535 exceeds the 67108864-pixel limit"), never decoded.
 */
typedef struct bl_image_limits {
	uint64_t max_pixels;   /* width*height refused above this: 64 Mpx */
	size_t max_bytes;      /* compressed size refused above this: 64 MiB */
	int max_scans;         /* scans (SOS markers) before refusal: 500.
				* libjpeg-turbo also stops at 500 on its own
				* (TJFLAG_LIMITSCANS), so larger values do
				* not raise that */
} bl_image_limits;

enum { BL_IMG_UNKNOWN = 0, BL_IMG_JPEG, BL_IMG_PNG, BL_IMG_WEBP, BL_IMG_GIF };

typedef struct bl_image_info {
	int format;        /* BL_IMG_* from the magic bytes, not the name */
	int width, height; /* 0 when unknown */
	int components;    /* 1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK; 0 unknown.
			    * PNG: 1 gray, 2 gray+alpha, 3 RGB/palette, 4 RGBA */
	int subsamp;       /* TJSAMP_* for JPEG, -1 unknown or no TJSAMP for
			    * it (4:1:0, odd factors) */
	int colorspace;    /* TJCS_* for JPEG, -1 unknown */
	int progressive;   /* 1 if SOF2/SOF6/SOF10/SOF14 */
	int arithmetic;    /* 1 if arithmetic coded (SOF9..SOF15) */
	int lossless;      /* 1 if SOF3/SOF7/SOF11/SOF15 */
	int precision;     /* sample precision in bits (8, 12, 16); PNG: bit
			    * depth; 0 unknown */
	int corrupt;       /* 1 if the data is damaged or not an image: the
			    * probe or the decode check failed on it */
	int sof;           /* JPEG: n of its SOFn marker (0 baseline,
			    * 1 extended, 2 progressive ...); -1 otherwise */
	int scans;         /* JPEG: number of SOS markers (scans); a header
			    * probe (bl_image_probe) of a sequential frame
			    * stops at the first, so says 1; the decode
			    * checks count them all */
	int unsupported;   /* 1 if valid but not decodable by libjpeg-turbo
			    * 2.1: 12-bit, lossless, hierarchical */
	int refused;       /* 1 if over a limit (pixels, bytes, scans): not
			    * decoded, may well be a valid image */
} bl_image_info;

typedef struct bl_image bl_image;

/*
 * A decoder handle for one thread, with limits copied from lim (NULL or
 * zero fields: the defaults above).  Returns NULL when out of memory.
 * Free it with bl_image_free.
 */
bl_image *bl_image_new(const bl_image_limits *lim);
/*
 * Probe the header of an image held in memory (no pixel decode).  data is
 * borrowed for the call only.  *info is always reset and filled with
 * whatever could be learnt, even on failure (a 12-bit JPEG reports its
 * size); info may be NULL.  Returns
 *   BL_OK      a recognised image within the limits that, for JPEG, this
 *              build can decode
 *   BL_FAILED  with a reason in errmsg and one of info->corrupt ("empty
 *              file", "unknown format (not JPEG, PNG, GIF or WebP)",
 *              "truncated marker 0xC4 segment ...", "no SOS marker ..."),
 *              info->unsupported ("12-bit JPEG: not supported by
 *              libjpeg-turbo 2.1", "lossless JPEG (SOF3, 16-bit): ...") or
 *              info->refused ("65535x65535 exceeds the 67108864-pixel
 *              limit", "... bytes exceed the ...-byte limit")
 *   BL_EUSAGE  im is NULL, or data is NULL with len > 0
 * Damage inside the entropy-coded data is not seen here: see check.
 */
int bl_image_probe(bl_image *im, const unsigned char *data, size_t len,
		   bl_image_info *info);
/*
 * Full decode check: probe, then for a JPEG decode every scan at 1/8 scale
 * (DCT scaling: the entropy decoding, where damage shows, is complete; the
 * IDCT is nearly free) and stop at the first libjpeg warning or error.
 * Images over the limits are refused by the probe before any decode.  PNG,
 * GIF and WebP have no decoder here: their check is the header probe and
 * returns BL_OK when that succeeds.  info may be NULL.  Returns BL_OK,
 * BL_FAILED with info->corrupt = 1 and the libjpeg message in errmsg
 * ("Premature end of JPEG file", "Corrupt JPEG data: ..."), any failure of
 * bl_image_probe, or BL_ENOMEM.  Invalidates the pixels of the last
 * bl_image_decode_rgb.
 */
int bl_image_check(bl_image *im, const unsigned char *data, size_t len,
		   bl_image_info *info);
/*
 * Decode a JPEG to packed RGB (3 bytes a pixel, rows top to bottom, no
 * padding) using the smallest DCT scaling factor (1/8 .. 1) whose output
 * has both sides >= min_w x min_h; 0 for a side means no constraint, 0,0
 * (or a minimum larger than the image) gives the full size; never
 * upscales.  Grayscale is expanded to RGB; CMYK and YCCK are converted
 * here (Adobe files taken as inverted), since libjpeg-turbo 2.1 cannot.
 * *out points into the handle's buffer, which is reused across calls (no
 * allocation when sizes repeat): borrowed until the next call on im.
 * *w, *h get the output size.  Returns
 *   BL_OK      pixels in *out
 *   BL_WARN    libjpeg warned (e.g. "Premature end of JPEG file"): pixels
 *              are in *out but part may be grey fill; errmsg says why
 *   BL_FAILED  nothing decoded (*out NULL, *w = *h = 0): probe failure,
 *              a non-JPEG format, or a libjpeg error
 *   BL_ENOMEM  no memory for the pixels; the handle is unchanged
 *   BL_EUSAGE  im, out, w or h NULL, or a negative minimum
 */
int bl_image_decode_rgb(bl_image *im, const unsigned char *data, size_t len,
			int min_w, int min_h, const unsigned char **out,
			int *w, int *h);
/* Reason for the last non-OK result, "" after success; owned by im, valid
 * until the next call on it.  Never NULL (a NULL im gives a fixed text). */
const char *bl_image_errmsg(const bl_image *im);
/* Stable lower-case names for reports: "jpeg", "png", "webp", "gif",
 * "unknown"; "4:2:0", "4:4:4", "4:2:2", "4:4:0", "4:1:1", "gray", "other"
 * (any other value, including -1).  Static strings, never NULL. */
const char *bl_image_format_name(int format);
const char *bl_image_subsamp_name(int subsamp);
/* Free the handle and its buffers.  NULL is a no-op. */
void bl_image_free(bl_image *im);

/* ------------------------------------------------------------------ */
/* Labels                                                              */
/* ------------------------------------------------------------------ */

#define BL_MAX_LABELS 256

/* A set of label indexes (into a bl_ruleset's label table). */
typedef struct bl_labelset {
	uint64_t w[BL_MAX_LABELS / 64];
} bl_labelset;

static inline void bl_labelset_clear(bl_labelset *s)
{
	for (size_t i = 0; i < BL_MAX_LABELS / 64; i++)
		s->w[i] = 0;
}
static inline void bl_labelset_set(bl_labelset *s, int i)
{
	s->w[i >> 6] |= (uint64_t)1 << (i & 63);
}
static inline int bl_labelset_has(const bl_labelset *s, int i)
{
	return (int)((s->w[i >> 6] >> (i & 63)) & 1);
}

/* (lib/label.c) */
/* 1 if label belongs to family: equal to it, or below it ("group" and
 * "group.asian" both hold "group.asian.east"; "group.asia" does not). */
int bl_label_in_family(const char *label, const char *family);

/*
 * The child-safety rule, stated once (TAXONOMY.md, filters/FORMAT.md): a
 * sample that carries age.minor (or an age.minor.* label) together with
 * any sexual.* label (or sexual itself) gets the derived label
 * BL_LABEL_MINOR_SEXUAL, which rule files cannot declare.  Such a sample
 * is blocked: the tagger always sets the label (whatever the caption's
 * bytes), every policy excludes it (it is never written to a manifest nor
 * weighted up), and reports count it as blocked.
 */
#define BL_LABEL_MINOR_SEXUAL "safety.minor_sexual"
#define BL_LABEL_MINOR "age.minor" /* the family on the minor side */
#define BL_LABEL_SEXUAL "sexual"   /* the family on the sexual side */
/* The side of the rule a label name is on. */
#define BL_SAFETY_MINOR 1   /* age.minor, age.minor.* */
#define BL_SAFETY_SEXUAL 2  /* sexual, sexual.* */
#define BL_SAFETY_BLOCKED 4 /* safety.minor_sexual (and below it) */
/* BL_SAFETY_MINOR, BL_SAFETY_SEXUAL or BL_SAFETY_BLOCKED for a label name
 * on that side of the rule, 0 for any other name and for NULL. */
int bl_label_safety(const char *label);
/* The predicate: 1 when a sample whose labels' sides (bl_label_safety)
 * OR together to sides is blocked (it carries safety.minor_sexual, or a
 * minor label together with a sexual one), else 0. */
int bl_label_blocked(int sides);

/* ------------------------------------------------------------------ */
/* Rules and tagging (lib/rules.c, lib/tagger.c)                       */
/* ------------------------------------------------------------------ */

/*
 * A rule set: the labels declared by one or more rule files (format in
 * filters/FORMAT.md), compiled once.  Read-only after bl_ruleset_compile,
 * so one rule set may be shared by many threads, each with its own
 * bl_tagger.
 *
 * A label is set when one of its "match" regexes matches the caption where
 * no "unless" regex match overlaps it, or when one of its "when" conditions
 * on JSON fields / image facts / caption facts holds and no "unless" regex
 * matches anywhere (a condition covers the whole caption), unless a label
 * its "except" names is set; then the labels it "implies" are set.  The regexes
 * match the caption's normalised view (entities and escapes decoded,
 * hashtags, CamelCase and slugs split, masked spellings read, invalid
 * UTF-8 as U+FFFD: filters/FORMAT.md), never the stored caption.
 * Regexes are PCRE2, caseless and UTF-8, JIT-compiled: one program per
 * match pattern and one per unless pattern.  A literal
 * prefilter (Aho-Corasick over words each pattern provably needs) decides
 * which programs run at all, so most captions run few or none; tags are the
 * same with it off (BALLAST_NO_PREFILTER=1, read by bl_tagger_new).
 */
typedef struct bl_ruleset bl_ruleset;

/* An empty rule set (holding only safety.minor_sexual), or NULL when out
 * of memory. */
bl_ruleset *bl_ruleset_new(void);
/*
 * Add rules from a file / every *.rules file in a directory (sorted by
 * name) / a string (name is used in messages).  A label may be declared
 * once across everything loaded.  On a syntax error returns BL_FAILED and
 * errmsg reads "file:line:col: message" (PCRE2's message for a bad regex);
 * a failed load leaves the set as it was (a directory loads all or
 * nothing).  A file (or string) that declares no label is an error
 * (BL_FAILED, "name: declares no labels ...").  BL_EUSAGE after
 * bl_ruleset_compile, BL_ENOMEM.
 */
int bl_ruleset_load_file(bl_ruleset *rs, const char *path);
int bl_ruleset_load_dir(bl_ruleset *rs, const char *dir);
int bl_ruleset_load_string(bl_ruleset *rs, const char *name,
			   const char *text, size_t len);
/* Compile every label's patterns (PCRE2 with JIT), resolve "implies" and
 * "except" and freeze the set.  After this no more loads are accepted.
 * BL_OK / BL_FAILED with errmsg (an "implies" or "except" naming an
 * unknown label, or an "except" cycle, says where; a set with no label
 * declared is an error too). */
int bl_ruleset_compile(bl_ruleset *rs);
/* The last error; owned by rs. Never NULL. */
const char *bl_ruleset_errmsg(const bl_ruleset *rs);
/* Labels, indexed 0..n-1; index 0 is the derived "safety.minor_sexual"
 * (set when age.minor or age.minor.* and any sexual.* label are set),
 * always present; declared labels follow in load order. At most
 * BL_MAX_LABELS in all. Names are owned by rs; NULL for a bad index.
 * Once rs is compiled, "internal" labels (helper facts that are never
 * set on a sample: filters/FORMAT.md) are not counted nor named here. */
int bl_ruleset_nlabels(const bl_ruleset *rs);
const char *bl_ruleset_label(const bl_ruleset *rs, int i);
/* Index of a label name, or -1 (also for an internal label of a
 * compiled rs). */
int bl_ruleset_label_index(const bl_ruleset *rs, const char *name);
/* SHA-256 hex of the rule texts as loaded (order included); owned by rs. */
const char *bl_ruleset_digest(const bl_ruleset *rs);
/* Whether any rule reads JSON fields / image facts, so callers can skip
 * loading and probing what no rule needs (valid after compile). */
int bl_ruleset_uses_json(const bl_ruleset *rs);
int bl_ruleset_uses_image(const bl_ruleset *rs);
void bl_ruleset_free(bl_ruleset *rs);

/* What a sample offers the tagger.  Any pointer may be NULL: a NULL
 * caption matches nothing, a NULL json has no fields, a NULL image makes
 * every image predicate false. */
typedef struct bl_tag_input {
	const char *caption;
	size_t caption_len;
	const char *json; /* the sample's JSON text */
	size_t json_len;
	const bl_image_info *image; /* probe result, or NULL if not probed */
} bl_tag_input;

typedef struct bl_tagger bl_tagger;

/* A tagger for one thread over a compiled rule set (which must outlive
 * it).  NULL when rs is NULL or not compiled, or out of memory.  Holds the
 * match data, limits and JIT stack, so tagging allocates nothing (except
 * the JSON tree, parsed only when some rule reads a field). */
bl_tagger *bl_tagger_new(const bl_ruleset *rs);
/*
 * Tag one sample: *out gets the label set.  Returns BL_OK, BL_EUSAGE for
 * NULL arguments, or BL_WARN when the sample had a problem; errkind says
 * which (the first one), errmsg describes it, and every label that could
 * be decided is still set:
 *   BL_ERR_MATCH_LIMIT  a pattern hit its match/depth limit; that label is
 *                       left unset (the message names it)
 *   BL_ERR_JSON         the JSON does not parse; its fields count as missing
 *   BL_ERR_BAD_UTF8     the caption is not valid UTF-8; it was tagged with
 *                       U+FFFD for each invalid byte (any bytes, NULs
 *                       included, are accepted: the minor+sexual block
 *                       never depends on clean input)
 *   BL_ERR_NOMEM        PCRE2 ran out of memory for one pattern
 */
int bl_tagger_tag(bl_tagger *t, const bl_tag_input *in, bl_labelset *out);
/*
 * A field of the JSON of the sample last given to bl_tagger_tag, so that
 * callers need not parse it again (it is parsed at most once per sample;
 * the input's json text must stay valid until the next tag call).
 * Returns 1 and *num for a number or boolean, 2 and *str (borrowed until
 * the next tag call) for a string, 3 for a value that is neither (an
 * array, an object, a number that is not finite or outside the range of
 * a known field, see lib/meta.c), 0 when the field is missing or null or
 * the sample had no JSON, BL_FAILED when the JSON does not parse (it must
 * be one object, with nothing but white space after it), BL_EUSAGE on
 * NULL arguments.
 */
int bl_tagger_field(bl_tagger *t, const char *path, double *num, const char **str);
/*
 * The normalised view of the caption last given to bl_tagger_tag: the text
 * the rules matched (filters/FORMAT.md, "The caption's view"): HTML
 * entities and escapes decoded, tags, URLs, hashtags and CamelCase split,
 * masked spellings read, invalid UTF-8 as U+FFFD.  Borrowed until the next
 * tag call: the caption itself when it needed no change.  *len (may be
 * NULL) gets its length.  NULL (and 0) before any caption, for a NULL
 * caption, or for t NULL.
 */
const char *bl_tagger_view(const bl_tagger *t, size_t *len);
bl_errkind bl_tagger_errkind(const bl_tagger *t);
const char *bl_tagger_errmsg(const bl_tagger *t);
void bl_tagger_free(bl_tagger *t);

/* ------------------------------------------------------------------ */
/* The index (lib/index.c): SQLite, one row per sample                 */
/* ------------------------------------------------------------------ */

/*
 * Schema version 2 (PRAGMA user_version = 2).  Readers may rely on it;
 * any change bumps the version.
 *
 *   meta(key TEXT PRIMARY KEY, value TEXT)
 *       'schema' = '2', 'tool' = 'ballast 0.1.0', 'rules_digest' = SHA-256
 *       of the rule set of the last scan, 'created' (ISO time);
 *       'plan_sha256' = SHA-256 of the last scan's whole shard list (every
 *       path followed by a NUL, in order) and 'plan_shards' its length;
 *       for array tasks 'tasks' = N and 'task' = I (a part), and in an
 *       index merged from parts 'tasks' = N and 'tasks_merged' = the task
 *       numbers merged so far ("0,1,2").
 *   labels(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)
 *       id = bit position in samples.bits; ids are stable within an index
 *       (new labels are appended, none is renumbered).
 *   shards(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, size INTEGER,
 *          mtime INTEGER, rules_digest TEXT, complete INTEGER NOT NULL
 *          DEFAULT 0, samples INTEGER, errors INTEGER, fatal TEXT,
 *          scanned_at TEXT, options TEXT, errors_not_stored INTEGER NOT
 *          NULL DEFAULT 0, dev INTEGER, ino INTEGER)
 *       one row per shard, in the order shards were first given (a scan
 *       adds the rows of its whole list before it reads any); complete
 *       = 1 once its samples are committed (one transaction per shard), so
 *       a row with complete = 0 is a shard planned and not (yet) indexed.
 *       errors: every item error of the shard; errors_not_stored: how many
 *       of them have no row in errors (see BL_INDEX_MAX_ERRORS); options:
 *       the image mode it was scanned with ("image=none", "image=probe",
 *       "image=check"; a different mode rescans it); dev, ino: the file's
 *       identity (the same file under another path is the same shard).
 *       Standard input is stored as "stdin:run-N" (N = runs.id).
 *   samples(shard_id INTEGER, ordinal INTEGER, key TEXT, offset INTEGER,
 *           labels TEXT, bits BLOB, caption TEXT, caption_offset INTEGER,
 *           image_offset INTEGER, image_size INTEGER, image_ext TEXT,
 *           width INTEGER, height INTEGER, punsafe REAL, pwatermark REAL,
 *           status TEXT, problems INTEGER, caption_data INTEGER,
 *           caption_size INTEGER, image_data INTEGER, json_data INTEGER,
 *           json_size INTEGER, weight REAL,
 *           PRIMARY KEY(shard_id, ordinal)) WITHOUT ROWID
 *       labels: the sorted label names joined by ',' with a leading and
 *       trailing ',' (",gender.female,sexual.suggestive,") so that
 *       "labels LIKE '%,sexual.%'" works in plain SQL; bits: the same set
 *       as a little-endian bitset over labels.id (BL_MAX_LABELS/8 bytes at
 *       most, trailing zero bytes trimmed); caption: as tagged (invalid
 *       UTF-8 sequences and NULs replaced by U+FFFD); width/height from
 *       the probed image when probed, else from the JSON; NULL when
 *       unknown; punsafe, pwatermark only when finite and in [0, 1].
 *       problems: bl_problems bitmask.  caption_data/_size,
 *       image_data (size: image_size), json_data/_size: where the bytes
 *       of the caption, image and json members start (past their tar
 *       headers) and how many there are, for manifests (offsets into the
 *       decompressed stream for compressed shards); NULL in rows scanned
 *       before these columns existed.
 *       weight: the "ballast_weight" of the sample's JSON (shards
 *       written by "ballast write" carry one), NULL when absent (reads
 *       as 1); a value that is not a finite number in [0, 1e6] is a
 *       bad_json item error and stays NULL.
 *   errors(shard_id INTEGER, ordinal INTEGER, kind TEXT, offset INTEGER,
 *          message TEXT)
 *       one row per item error (ordinal NULL when no sample was
 *       delivered), at most BL_INDEX_MAX_ERRORS of each kind per shard.
 *   error_counts(shard_id INTEGER, kind TEXT, n INTEGER,
 *                PRIMARY KEY(shard_id, kind)) WITHOUT ROWID
 *       every item error counted by kind, stored or not.
 *   error_totals(shard_id, kind, n)  a view: error_counts, and for a shard
 *       without counts (rows inserted by hand) its rows of errors counted.
 *   runs(id INTEGER PRIMARY KEY, started TEXT, finished TEXT, argv TEXT,
 *        threads INTEGER, shards_scanned INTEGER, shards_skipped INTEGER)
 *
 * An index of schema 1 is upgraded in place when opened for writing
 * (BL_INDEX_CREATE: scan, merge): its rows are kept and its error counts
 * taken from its errors table.  Opened read-only it is refused with a
 * message saying how to upgrade it.
 */
#define BL_INDEX_SCHEMA 2
/* Item errors kept as rows of errors, per kind and shard. */
#define BL_INDEX_MAX_ERRORS 1000

typedef struct bl_index bl_index;

enum { BL_INDEX_READ = 0, BL_INDEX_CREATE = 1 };

/*
 * Open an index.  BL_INDEX_READ opens it read-only (and leaves no file
 * behind; on a read-only filesystem in SQLite's immutable mode).
 * BL_INDEX_CREATE creates it, or upgrades an older schema in place, for
 * writing; one writer at a time: a second writer open, from this process
 * or another, fails at once with a message saying that another scan or
 * merge holds the index.  Returns the handle, or NULL with a message in
 * err that names the cause (missing file, not an SQLite database, not a
 * ballast index, a newer or older schema, a read-only filesystem, held by
 * another writer).
 */
bl_index *bl_index_open(const char *path, int flags, char *err, size_t errlen);
/* 1 when the open upgraded the index from an older schema. */
int bl_index_upgraded(const bl_index *ix);
/* Close; returns BL_OK or BL_FAILED when SQLite reports an error.  A
 * writer's index goes back to a rollback journal (no -wal, -shm files). */
int bl_index_close(bl_index *ix);
const char *bl_index_errmsg(const bl_index *ix);
/* The SQLite connection (a sqlite3 *), for callers who want their own
 * queries (the library's modules go through lib/index.c).  Owned by the
 * index. */
void *bl_index_db(bl_index *ix);

/* What an index holds, and whether it is whole. */
typedef struct bl_index_status {
	uint64_t shards;            /* shard rows: every shard ever planned */
	uint64_t shards_complete;   /* of them, committed */
	uint64_t shards_damaged;    /* complete, but ended in damage */
	uint64_t samples;
	uint64_t errors;            /* item errors, all (error_counts) */
	uint64_t errors_not_stored; /* of them, without a row in errors */
	int tasks;                  /* array tasks of the plan (0: none) */
	int task;                   /* this part's task, or -1 */
	int tasks_merged;           /* distinct tasks merged into it */
	int partial;                /* 1 when incomplete: a shard not
				     * committed, a part of an array job, or
				     * a merge that lacks some parts */
} bl_index_status;

/* Fill *st.  BL_OK, BL_FAILED (SQLite error, errmsg), BL_EUSAGE. */
int bl_index_get_status(bl_index *ix, bl_index_status *st);
/*
 * Whether the index is incomplete, for commands that must not take a part
 * for the whole (report, rebalance): 1 with a sentence in msg saying what
 * is missing and how to finish it (a part of an array job: how many of
 * the shards the scan planned it holds), 0 when complete (msg ""),
 * BL_FAILED (msg: the error), BL_EUSAGE.  A report puts it first among
 * its warnings, at the top of every format; not bl_index_warnings',
 * since a part is what a scan with --task is asked to leave.
 */
int bl_index_partial_reason(bl_index *ix, char *msg, size_t len);
/*
 * What makes the numbers of a whole index wrong, for the commands that
 * read it as a set (scan when it leaves one, report, rebalance): complete
 * shards scanned with different rule sets (shards.rules_digest differs:
 * a label does not mean the same in all of them; rule sets are named by
 * the first 12 hex digits of their digest, with the shards that carry
 * each) and complete shards whose reading ended in damage (shards.fatal:
 * a truncated or unreadable archive; named, with the reason).  Appends
 * one sentence a problem to out (for a WARNING at the top of an output)
 * and returns how many (0: none); BL_FAILED (errmsg), BL_ENOMEM,
 * BL_EUSAGE.  An incomplete index is bl_index_partial_reason's.
 */
int bl_index_warnings(bl_index *ix, bl_strlist *out);

/*
 * Merge the index at part_path (a partial index written by one array task)
 * into ix: labels are matched by name, each complete shard of the part
 * replaces that shard's rows in ix, in the part's shard order.  Both must
 * have been scanned with the same rules.  One transaction; on failure ix
 * is unchanged.  BL_OK, or BL_FAILED with errmsg on ix.
 */
int bl_index_merge(bl_index *ix, const char *part_path);

/* ------------------------------------------------------------------ */
/* Scanning (lib/scan.c): shards -> tags -> index                      */
/* ------------------------------------------------------------------ */

enum {
	BL_SCAN_PROBE = 1 << 0,  /* probe image headers (first 64 KiB); on by
				    default when a rule reads image facts */
	BL_SCAN_CHECK = 1 << 1,  /* full decode check of images */
	BL_SCAN_STRICT = 1 << 2, /* stop at the first item error */
	BL_SCAN_FORCE = 1 << 3,  /* rescan shards already complete */
	BL_SCAN_NO_IMAGE = 1 << 4 /* never read image bytes: captions and JSON
				    only; image predicates are false */
};

typedef struct bl_scan_progress {
	uint64_t shards_done, shards_total, shards_skipped;
	uint64_t samples, bytes;
	double seconds;
} bl_scan_progress;

typedef struct bl_scan_options {
	int threads;          /* worker threads (default 1) */
	unsigned flags;       /* BL_SCAN_* */
	bl_limits limits;     /* reader limits (zeros: defaults) */
	/* Called from the scanning thread that owns the index, never
	 * concurrently: every item error (message names shard, member and
	 * offset), and progress after each shard.  Either may be NULL. */
	void (*on_error)(void *arg, bl_errkind kind, const char *msg);
	void (*on_progress)(void *arg, const bl_scan_progress *p);
	void *arg;
	const char *argv;     /* recorded in runs.argv */
	/* Array tasks (Slurm and the like): with tasks > 1, scan only block
	 * `task` (0-based) of `tasks` contiguous blocks of the shard list, so
	 * that merging the parts in task order (bl_index_merge) gives exactly
	 * the index of one scan over the whole list. */
	int task, tasks;
} bl_scan_options;

typedef struct bl_scan_totals {
	uint64_t shards, shards_skipped, shards_failed;
	uint64_t shards_unwritten; /* of the failed, those the index could not
				    * take (left incomplete, BL_ERR_INDEX) */
	uint64_t samples;     /* samples tagged in this run */
	uint64_t errors[BL_ERR__COUNT]; /* every item error, by kind */
	uint64_t errors_not_stored; /* of them, not stored in the index */
	uint64_t labels[BL_MAX_LABELS]; /* per rule-set label index */
	uint64_t blocked;     /* samples with safety.minor_sexual */
} bl_scan_totals;

/*
 * Read, tag and (when ix is not NULL) index every shard in order, with
 * opts->threads workers.  Shards complete in the index with the same size,
 * mtime, rules digest and image options are skipped unless BL_SCAN_FORCE.
 * The same file given twice (another path, a symlink, "-" twice) or
 * already in the index under another path is one shard: read once, and
 * each extra name is a BL_ERR_DUP_SHARD item error.  Each shard is
 * committed in one transaction, so an interrupted scan resumes where it
 * stopped and a rerun adds nothing twice.  Memory is bounded by the thread
 * count (a shard larger than one chunk of rows is staged by the index
 * chunk by chunk), whatever the number and size of shards.  A shard the
 * index refuses (a row it cannot store) is an item error naming the shard
 * and sample (BL_ERR_INDEX), left incomplete, and later shards go on.
 * Returns BL_OK (every shard read, maybe with item errors), BL_FAILED
 * (BL_SCAN_STRICT and an item error), BL_FATAL (the index could not be
 * written at all); err gets the message.
 */
int bl_scan_run(const bl_scan_options *opts, const bl_ruleset *rs,
		const bl_strlist *shards, bl_index *ix, bl_scan_totals *totals,
		char *err, size_t errlen);
/*
 * The totals of what ix holds (complete shards: samples, damaged shards,
 * errors by kind, labels by rs's indexes, blocked), for a scan that found
 * nothing to do.  BL_OK, BL_FAILED with err, BL_EUSAGE.
 */
int bl_scan_index_totals(bl_index *ix, const bl_ruleset *rs, bl_scan_totals *t,
			 char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Audits: how far to trust the tags (lib/audit.c)                     */
/* ------------------------------------------------------------------ */

/*
 * A tagger's labels are only as good as its rules on the data at hand.
 * An audit measures that on the user's own index: bl_audit_draw writes a
 * review sheet of captions drawn at random, a person marks on each
 * whether its label applies, bl_audit_read reads the filled sheet back
 * and estimates, per audited label or family ("node"), precision, NPV,
 * sensitivity, specificity and the corrected share; bl_audit_correct*
 * turn any rate the tagger observed into a Rogan-Gladen corrected rate
 * with an interval that carries the audit's own uncertainty.
 *
 * Designs (one row per judgement; every row records its stratum, the
 * stratum's size in the index and how many rows were drawn from it, so
 * the estimator can reweight):
 *   BL_AUDIT_STRATIFIED  per node, up to per_stratum samples the tagger
 *       gave the node ("tagged") and up to per_stratum it did not
 *       ("untagged"): precision and NPV, hence Se, Sp and the corrected
 *       share even for rare labels (the default);
 *   BL_AUDIT_TAGGED      the tagged stratum only: precision, nothing else;
 *   BL_AUDIT_SIMPLE      `samples` samples from the whole index, every
 *       node judged on each (post-stratified by the tagger's decision).
 * Each stratum is a simple random sample without replacement, drawn by
 * selection sampling over samples in key order from a stream seeded by
 * (seed, node, stratum): the same index and seed give the same sheet.
 * Samples are shuffled (seeded) so that the order tells the reviewer
 * nothing; a sample's rows stay together.
 *
 * The sheet (TSV, UTF-8): a comment line "# ballast audit sheet 1 |
 * index PATH | samples N | rules DIGEST | seed S | design D | ...", then
 * the header BL_AUDIT_HEADER and one row per judgement.  Text fields
 * have tabs, newlines, control bytes and bytes that are not UTF-8
 * escaped (\t \n \r \xNN, \\: a field unescapes to the index's bytes)
 * and a leading = + - @ neutralised with an apostrophe (sheets are
 * opened in spreadsheets).  judgement: y/yes/1/true, n/no/0/false, or
 * empty/?/skip (not judged: rows not judged are left out, as if not
 * drawn, which assumes they are missing at random within their stratum).
 * The HTML page shows each row's number, label, caption and (from plain
 * tars, when images is set, never for samples tagged age.* or safety.*)
 * the image, as a data: URI; not the tagger's decision.
 */
enum { BL_AUDIT_STRATIFIED = 0, BL_AUDIT_TAGGED = 1, BL_AUDIT_SIMPLE = 2 };

#define BL_AUDIT_HEADER "audit_row\tlabel\tcaption\tjudgement\tnote\tshard" \
	"\tordinal\tkey\tstratum\tstratum_size\tstratum_drawn\tdesign"
/* Judged rows a stratum needs before its node corrects anything. */
#define BL_AUDIT_MIN_JUDGED 10
/* Seeded draws behind every audit interval. */
#define BL_AUDIT_DRAWS 4000

typedef struct bl_audit_options {
	int design;            /* BL_AUDIT_* */
	const char *nodes;     /* labels or families to audit, comma
				* separated ("sexual,gender.female"); NULL
				* or "": the family "sexual" as a whole and
				* every gender.* and group.* label */
	uint64_t per_stratum;  /* rows per stratum (0: 25) */
	uint64_t samples;      /* BL_AUDIT_SIMPLE: samples drawn (0: 200) */
	uint64_t seed;
	int images;            /* 1: images of plain-tar shards in the HTML */
	const char *title;     /* HTML title (NULL: the index path) */
} bl_audit_options;

/*
 * Draw a review sheet from ix and append it as TSV to tsv and/or as an
 * HTML page to html (either may be NULL, not both).  BL_OK; BL_FAILED
 * with a message in err (a node with no label of the index, an empty
 * index, an SQLite error, the buffer cap); BL_EUSAGE; BL_ENOMEM.  The
 * buffers are unchanged on failure.  Memory grows with the rows drawn,
 * not with the index.
 */
int bl_audit_draw(bl_index *ix, const bl_audit_options *opt, bl_buf *tsv,
		  bl_buf *html, char *err, size_t errlen);
/* "stratified", "tagged", "simple" (or "unknown"). */
const char *bl_audit_design_name(int design);

/* A filled sheet, read back. */
typedef struct bl_audit bl_audit;

/*
 * What the judgements of one node say.  Counts are of the sheet's rows;
 * sizes are the strata in the index when the sheet was drawn.  NAN where
 * the sheet cannot say (no untagged rows: only precision).
 */
typedef struct bl_audit_est {
	const char *node;                    /* owned by the audit */
	int design;                          /* BL_AUDIT_*, -1 unknown */
	double size_tagged, size_untagged;   /* N1, N0 */
	uint64_t drawn_tagged, drawn_untagged;
	uint64_t judged_tagged, judged_untagged;
	uint64_t yes_tagged, yes_untagged;   /* judged: the label applies */
	double precision, precision_lo, precision_hi; /* PPV, Wilson 95% */
	double npv, npv_lo, npv_hi;          /* 1 - false omission rate */
	double sensitivity, se_lo, se_hi;    /* recall: N1 PPV / true count */
	double specificity, sp_lo, sp_hi;
	double observed;                     /* N1 / (N1 + N0) */
	double prevalence, prev_lo, prev_hi; /* (N1 PPV + N0 FOR) / N */
	int status;                          /* BL_FIX_* of the prevalence */
} bl_audit_est;

/* What became of a corrected number. */
enum {
	BL_FIX_OK = 0,        /* corrected */
	BL_FIX_CLIPPED,       /* Rogan-Gladen fell outside [0, 1]: clipped */
	BL_FIX_UNDEFINED,     /* Se + Sp <= 1: no correction exists */
	BL_FIX_TOO_SMALL,     /* a stratum has < BL_AUDIT_MIN_JUDGED judged
			       * rows, or > 2.5% of the draws have
			       * Se + Sp <= 1: the interval is unbounded */
	BL_FIX_NONE           /* not audited (no such node, or no rows of
			       * one of its strata) */
};
/* "corrected", "clipped to [0, 1]", ... (static text). */
const char *bl_audit_status_name(int status);

typedef struct bl_audit_fix {
	double est, lo, hi;   /* NAN when not known */
	int status;           /* BL_FIX_* */
} bl_audit_fix;

/* 1 when path starts like an audit sheet (its comment line, or a header
 * starting "audit_row"), else 0. */
int bl_audit_sniff(const char *path);
/*
 * Read a filled sheet.  Rows that cannot be used (a judgement that is
 * neither y nor n nor empty, a stratum size or stratum_drawn that
 * disagrees with an earlier row of the same stratum, more rows of a
 * stratum than its stratum_drawn, missing columns, a row twice: the
 * audit_row of an earlier row, or its shard, ordinal and label, where
 * the first stands and the repeat names its line) are left out and
 * listed by bl_audit_problem with file and line; the rest is read.
 * A caller that uses the estimates says so at the top of its output
 * (eval, report --audit: a WARNING and exit 1).
 * Returns the audit, or NULL with a message in err when the file cannot
 * be read or is not a sheet (no header).  Free with bl_audit_free.
 */
bl_audit *bl_audit_read(const char *path, char *err, size_t errlen);
void bl_audit_free(bl_audit *a);
/* Nodes in the order first seen; their estimates (borrowed). */
size_t bl_audit_nnodes(const bl_audit *a);
const bl_audit_est *bl_audit_node(const bl_audit *a, size_t i);
/* Node index by name, or -1. */
int bl_audit_find(const bl_audit *a, const char *node);
/* Rows read, rows judged, and the index's sample count the comment line
 * records (NAN when absent).  Pointers may be NULL. */
void bl_audit_totals(const bl_audit *a, uint64_t *rows, uint64_t *judged,
		     double *index_samples);
size_t bl_audit_nproblems(const bl_audit *a);
const char *bl_audit_problem(const bl_audit *a, size_t i);
/* The sheet's first comment line, or NULL; the path it was read from. */
const char *bl_audit_comment(const bl_audit *a);
const char *bl_audit_path(const bl_audit *a);
/*
 * Bind a read sheet to the index whose rates it is to correct (call it
 * before bl_report_* with the audit).  When ix is not the index the sheet
 * was drawn from (its sample count differs from the comment line's), the
 * strata the sheet judged are no longer a finite population of this
 * index but a sample of how the tagger errs: Se and Sp lose the
 * finite-population factor, so an audit that judged every sample of a
 * small index does not claim to know the tagger's errors elsewhere
 * exactly.  When the sheet judged the tags of other rules than ix was
 * scanned with (the comment line's digest), its estimates describe
 * another tagger: BL_WARN, with the reason in err and in
 * bl_audit_warning (the report puts it at its top).  A sheet that does
 * not say which rules it judged (its "# ballast audit sheet" line
 * deleted, or without a digest) cannot be checked against ix's: BL_WARN
 * alike.  BL_OK; BL_FAILED
 * (SQLite); BL_EUSAGE; BL_ENOMEM.
 */
int bl_audit_bind(bl_audit *a, bl_index *ix, char *err, size_t errlen);
/* The reason the last bl_audit_bind gave for BL_WARN, or NULL. */
const char *bl_audit_warning(const bl_audit *a);

/* Rogan-Gladen (p + Sp - 1) / (Se + Sp - 1), unclipped; NAN when
 * Se + Sp <= 1. */
double bl_audit_rogan_gladen(double p, double se, double sp);
/*
 * Correct an observed rate, events / n (effective counts), for node's
 * measured Se and Sp: est = Rogan-Gladen clipped to [0, 1]; lo, hi the
 * 2.5% and 97.5% percentiles over BL_AUDIT_DRAWS draws of (Se, Sp) from
 * the audit and of the rate from Beta(events + 1/2, n - events + 1/2).
 * stream seeds the rate's draws (give each cell its own, e.g. a hash of
 * its name): the result is a pure function of the inputs.
 * bl_audit_correct_pair does two rates (e.g. a cell and the rest of its
 * gender) on the same (Se, Sp) draws, and their ratio r1 / r2.  Any out
 * pointer may be NULL.  BL_OK (statuses say what could be done),
 * BL_EUSAGE (no audit, node out of range), BL_ENOMEM.
 */
int bl_audit_correct(const bl_audit *a, int node, double events, double n,
		     uint64_t stream, bl_audit_fix *rate);
int bl_audit_correct_pair(const bl_audit *a, int node, double e1, double n1,
			  double e2, double n2, uint64_t stream,
			  bl_audit_fix *r1, bl_audit_fix *r2, bl_audit_fix *ratio);

/* ------------------------------------------------------------------ */
/* Statistics and reports (lib/stats.c, lib/report.c)                  */
/* ------------------------------------------------------------------ */

/*
 * Interval helpers, usable on their own.  z is the normal quantile (1.96
 * for 95%; z <= 0 means 1.96).  n may be fractional: with weighted data
 * pass Kish's effective sample size, not the sum of weights.
 */
/* Wilson score interval of a proportion p observed over n trials.  n <= 0
 * gives [0, 1]; p is clamped to [0, 1].  lo and hi may be NULL. */
void bl_stats_wilson(double p, double n, double z, double *lo, double *hi);
/*
 * Odds ratio of a 2x2 table and its Woolf (log) interval:
 *              event   no event
 *   exposed      a        b
 *   rest         c        d
 * OR = (a d) / (b c), CI = exp(ln OR +- z sqrt(1/a + 1/b + 1/c + 1/d)).
 * When any cell is zero, 0.5 is added to every cell first (Haldane),
 * for the estimate and the interval alike.  Negative cells count as 0.
 * Returns OR (NAN when a row or a column is empty); lo and hi may be NULL.
 */
double bl_stats_odds_ratio(double a, double b, double c, double d, double z,
			   double *lo, double *hi);
/* Kish's effective sample size (sum w)^2 / sum w^2; 0 when sum_w2 <= 0. */
double bl_stats_kish(double sum_w, double sum_w2);

/*
 * bl_stats: a weighted accumulator over label sets, in constant memory
 * (independent of the number of rows).  Feed it one row per sample: a
 * label set plus a weight (1.0 for the raw index; manifest weights for
 * "after").  It keeps, weighted and unweighted:
 *
 *  - per label, and per family roll-up ("group.asian" covers
 *    "group.asian.east", see bl_label_in_family): samples having it;
 *  - Sum w, Sum w^2 (Kish effective n), rows;
 *  - the co-occurrence of every node (label or roll-up) with every label,
 *    for conditional rates ("--by", "--given");
 *  - the skew table's cells: for every node below the group family
 *    (default "group") alone and crossed with every label of the gender
 *    family (default "gender"): samples, samples with any label of the
 *    outcome family (default "sexual") and of the second outcome family
 *    (default "attire"), with their Sum w^2.
 *
 * Label ids are positions in the names array given to bl_stats_new; for
 * an index they are labels.id, the bit positions of samples.bits.
 * Not thread-safe; use one per thread and bl_stats_merge.
 */
typedef struct bl_stats bl_stats;

/* A new accumulator over n labels (names are copied; n <= BL_MAX_LABELS).
 * NULL when out of memory or n is out of range. */
bl_stats *bl_stats_new(int n, const char *const *names);
/* One over the labels of an open index (ids = labels.id). */
bl_stats *bl_stats_new_index(const bl_index *ix);
void bl_stats_free(bl_stats *st);
/*
 * Choose the families of the skew table (NULL keeps the default:
 * "group", "gender", "sexual", "attire").  Only before the first row.
 * BL_OK, BL_EUSAGE after rows were added, BL_ENOMEM.
 */
int bl_stats_set_skew(bl_stats *st, const char *group, const char *gender,
		      const char *outcome, const char *outcome2);
/*
 * Feed one row.  weight must be finite and >= 0 (0 counts the row in
 * rows but adds nothing weighted).  Ids >= n are ignored.
 * BL_OK, BL_EUSAGE (NULL, bad weight).
 */
int bl_stats_add(bl_stats *st, const bl_labelset *labels, double weight);
/* n (>= 1) rows of the same labels at once, whose weights sum to w and
 * whose squared weights sum to w2: n calls of bl_stats_add but for
 * rounding.  BL_OK, BL_EUSAGE. */
int bl_stats_add_n(bl_stats *st, const bl_labelset *labels, uint64_t n,
		   double w, double w2);
/* The same from a little-endian bitset (samples.bits): bit i of byte i/8
 * is label i.  bits may be NULL with len 0 (no labels). */
int bl_stats_add_bits(bl_stats *st, const void *bits, size_t len,
		      double weight);
/* dst += src; both over the same names and settings.  BL_OK / BL_EUSAGE. */
int bl_stats_merge(bl_stats *dst, const bl_stats *src);

typedef struct bl_stats_totals {
	uint64_t rows;    /* rows counted */
	uint64_t skipped; /* rows left out by the filter */
	double w, w2;     /* Sum w, Sum w^2 over counted rows */
	double ess;       /* Kish effective sample size */
} bl_stats_totals;
void bl_stats_totals_get(const bl_stats *st, bl_stats_totals *out);

/* Labels and nodes.  Nodes are the labels plus every roll-up family
 * (each proper dotted prefix of a label, "group", "group.asian"), sorted
 * by name; node ids are 0..bl_stats_nnodes-1. */
int bl_stats_nlabels(const bl_stats *st);
const char *bl_stats_label_name(const bl_stats *st, int id);
int bl_stats_nnodes(const bl_stats *st);
const char *bl_stats_node_name(const bl_stats *st, int node);
/* Node id of a name, or -1. */
int bl_stats_node_find(const bl_stats *st, const char *name);
/* 1 when the node is a roll-up: some label lies strictly below it. */
int bl_stats_node_is_family(const bl_stats *st, int node);

/* A count with its share of the whole. */
typedef struct bl_stats_count {
	uint64_t rows;   /* samples (unweighted) */
	double w, w2;    /* Sum w and Sum w^2 over those samples */
	double share;    /* w / total w (0 when the total is 0) */
	double lo, hi;   /* 95% Wilson interval of share, n = total ESS */
} bl_stats_count;
/* Samples having label id / any label of node.  BL_OK or BL_EUSAGE. */
int bl_stats_label(const bl_stats *st, int id, bl_stats_count *out);
int bl_stats_node(const bl_stats *st, int node, bl_stats_count *out);
/*
 * Conditional rate: among samples having node `given`, those that also
 * have label id; share = w(given and id) / w(given), its Wilson interval
 * at the ESS of the given samples (out->w2 is NAN: not kept for pairs).
 * BL_OK or BL_EUSAGE.
 */
int bl_stats_cond(const bl_stats *st, int given, int id, bl_stats_count *out);

/* One cell of the skew table. */
typedef struct bl_stats_skew {
	const char *group;   /* node name, "group.asian.east" (borrowed) */
	const char *gender;  /* label name, "gender.female", or NULL: all */
	uint64_t rows;       /* samples in the cell, unweighted */
	double n, ess;       /* Sum w in the cell, Kish effective n */
	double events;       /* Sum w of cell samples with an outcome label */
	double rate, rate_lo, rate_hi; /* events / n, 95% Wilson at ess */
	double base_rate;    /* outcome rate among all samples of the gender
			      * (all samples when gender is NULL) */
	double lift;         /* rate / base_rate (NAN when base_rate is 0) */
	double lift_lo, lift_hi; /* 95% delta-method interval of log lift,
			      * allowing for the cell being part of the base:
			      * Var = (1-p)/e - (1+q-2p)/E, p,e cell rate and
			      * events, q,E base rate and events (effective) */
	double odds_ratio, or_lo, or_hi; /* odds of the outcome in the cell
			      * vs the odds in the rest of the gender (of all
			      * samples), Woolf 95%; computed on effective
			      * counts (each row of the 2x2 table scaled by
			      * its ESS / Sum w: 1 when unweighted).  NAN, with
			      * or_note saying why, when a cell of the 2x2
			      * table is empty (the sample odds ratio is then
			      * 0 or infinite; no +0.5 correction, which can
			      * turn a cell without events into an odds ratio
			      * above 1) */
	double events2, rate2, rate2_lo, rate2_hi, lift2; /* the second
			      * outcome family (attire), likewise */
	int small;           /* rows < min_rows or events (unweighted
			      * rows with the outcome) < min_events */
	/* Added after the fields above (they keep their meaning): */
	double rest_rate;    /* outcome rate among the OTHER samples of the
			      * gender (the cell excluded; all other samples
			      * when gender is NULL); NAN when there are none */
	double rate_ratio, rr_lo, rr_hi; /* rate / rest_rate ("n times as
			      * often as the other captions of that gender"),
			      * 95% delta-method interval on the log,
			      * Var = (1-p1)/e1 + (1-p2)/e2 on effective
			      * events; with no event on a side, the ratio of
			      * the Wilson bounds (NAN: unbounded) */
	const char *or_note; /* NULL, or why odds_ratio is NAN: "0 events",
			      * "every sample has an event", "0 events in
			      * the rest", "every other sample has an event",
			      * "no other samples" (static text) */
	double base_n, base_ess; /* Sum w and Kish effective n of the gender
			      * (all samples when gender is NULL) */
	double rest_n, rest_ess; /* the same of the rest (base minus cell) */
} bl_stats_skew;

/*
 * Compute the skew table: every node below the group family (the family
 * itself excluded), alone and crossed with each label of the gender
 * family, that has at least one row.  Sorted by lift to nine decimals,
 * descending (NAN last), ties by group then gender (NULL first), so
 * output is deterministic and does not hang on rounding.  min_rows <= 0 means 30, min_events <= 0 means 5.
 * *rows points into st, valid until the next call on st.  BL_OK,
 * BL_ENOMEM, BL_EUSAGE.
 */
int bl_stats_skew_table(bl_stats *st, double min_rows, double min_events,
			const bl_stats_skew **rows, size_t *nrows);

/*
 * Reports of an index: totals (shards, samples, errors by kind, blocked =
 * samples labelled safety.minor_sexual), label and family counts with
 * shares and 95% Wilson intervals, the skew table, optional conditional
 * tables, and per-shard counts.  One pass over samples (in primary key
 * order), so memory grows with shards x labels, never with samples.
 * Samples count with their samples.weight (ballast_weight): when any is
 * not 1, shares and rates are weighted and every format says so at the
 * top (a note).  Labels under "caption." (captions the filters could not
 * read) are summed up at the top of every format.  With opt->audit, the
 * shares of audited nodes and (when the audit judged "sexual") the skew
 * table's rates, rate ratios and lifts are also given corrected for the
 * tagger's measured errors (bl_audit_correct), beside the raw ones.
 * Strings from data are escaped for each sink: text with
 * bl_report_text_escape, CSV with bl_report_csv_escape, HTML with
 * bl_report_html_escape, JSON by cJSON with every byte that is not
 * UTF-8 as \udcXX (bl_utf8_json_escape): the JSON is valid UTF-8.
 *
 * Formats:
 *   BL_REPORT_TEXT  aligned tables for a terminal.
 *   BL_REPORT_CSV   one tidy table, header
 *       table,shard,name,gender,rows,n,count,share,lo,hi,base,lift,
 *       lift_lo,lift_hi,odds_ratio,or_lo,or_hi,small,rest,rate_ratio,
 *       rr_lo,rr_hi,note
 *     table is one of warning, note, total, error, label, family, skew,
 *     skew_attire, unread, given, by, shard, and with an audit
 *     audit_precision, audit_npv, audit_sensitivity, audit_specificity,
 *     label_corrected, family_corrected, skew_corrected (note: the
 *     correction's status; skew rows: why the odds ratio is empty); for
 *     given and by rows the gender column holds the condition (the given
 *     labels joined by '&', the --by node); n is the sum of weights;
 *     fields that do not apply are empty.
 *   BL_REPORT_JSON  one object, keys in this order (stable; new keys may
 *     be added, none removed or renamed within schema 1):
 *       "report": "ballast", "schema": 1,
 *       "index": path, "samples": N, "shards": N, "shards_complete": N,
 *       "shards_damaged": N (complete, but not read whole),
 *       "samples_with_errors": N, "weighted": bool, "weight_sum": W,
 *       "warnings": [text] (what makes numbers of the report wrong:
 *         an incomplete index, bl_index_partial_reason, first; shards
 *         of different rules or not read whole, bl_index_warnings; an
 *         audit that judged other rules or does not say which,
 *         bl_audit_bind; rows of the sheet left out, bl_audit_problem),
 *       "notes": [text], "errors": {kind: N},
 *       "blocked": N,
 *       "labels": {label: N}, "families": {family: N},
 *       "shares": {name: {"count", "share", "lo", "hi"}}  (labels and
 *         families, Wilson 95%),
 *       "skew": [{"group", "gender" (null: all), "n", "events", "rate",
 *         "rate_lo", "rate_hi", "base_rate", "lift", "lift_lo",
 *         "lift_hi", "odds_ratio", "or_lo", "or_hi", "attire_events",
 *         "attire_rate", "attire_lo", "attire_hi", "attire_lift",
 *         "small", "rest_rate", "rate_ratio", "rr_lo", "rr_hi",
 *         "or_note" (null, or why odds_ratio is null), and with an audit
 *         "corrected": {"rate", "rest_rate", "base_rate", "rate_ratio",
 *         "lift": {"value", "lo", "hi", "status"}}}] sorted by lift,
 *       "unread" (when the index has caption.* labels): {"count",
 *         "share", "labels": {label: {"count", "share", "lo", "hi"}}},
 *       "audit" (with an audit): {"sheet", "rows", "judged", "outcome",
 *         "skew_corrected", "nodes": {node: {"tagged", "untagged",
 *         "judged_tagged", "judged_untagged", "precision", "npv",
 *         "sensitivity", "specificity"}}, "shares": {node: {"value",
 *         "lo", "hi", "status"}}},
 *       "given" (with a filter): {"labels": [...], "samples": N,
 *         "rates": {label: {"count", "share", "lo", "hi"}}},
 *       "by" (with a family): {"family": F, "rows": {node: {"samples": N,
 *         "rates": {label: {"count", "share", "lo", "hi"}}}}},
 *       "per_shard": [{"id", "path", "complete", "samples", "errors",
 *         "blocked", "labels": {label: N}}]   (labels with N > 0).
 *     Numbers are printed with at most 6 significant digits; NAN and
 *     infinities as null.
 *   BL_REPORT_HTML  one self-contained page (no scripts, no external
 *     assets): headline numbers, SVG bar charts of label shares with
 *     Wilson whiskers, the skew table as a lift chart (log scale,
 *     reference line at 1, interval whiskers) and as numbers.
 */
enum { BL_REPORT_TEXT = 0, BL_REPORT_CSV, BL_REPORT_JSON, BL_REPORT_HTML };

typedef struct bl_report_options {
	int format;          /* BL_REPORT_* */
	const char *by;      /* family for the "by" table, or NULL */
	const char *given;   /* comma-separated labels for the "given"
			      * table, or NULL */
	double min_rows;     /* skew cells under this many samples are
			      * flagged small (0: 30) */
	double min_events;   /* ... or under this many events (0: 5) */
	const char *title;   /* page title for HTML (NULL: the index path) */
	/* Added later (zero keeps the old behaviour): */
	const bl_audit *audit; /* a filled audit sheet: rates corrected for
			      * the tagger's measured errors are shown
			      * beside the raw ones (NULL: none) */
} bl_report_options;

/* Parse "text", "csv", "json", "html"; -1 when unknown. */
int bl_report_format_parse(const char *name);
/*
 * Compute the report of ix and append it to out.  BL_OK, BL_FAILED (an
 * unknown --by family or --given label, an SQLite error, the buffer cap)
 * with a message in err, BL_ENOMEM.  out is unchanged on failure.
 */
int bl_report_buf(bl_index *ix, const bl_report_options *opt, bl_buf *out,
		  char *err, size_t errlen);
/* The same, written to path atomically: path.tmp, fsync, rename.  On
 * failure path is untouched and path.tmp removed. */
int bl_report_save(bl_index *ix, const bl_report_options *opt,
		   const char *path, char *err, size_t errlen);
/* Append s to out with HTML escaping of & < > " ' (for any string that
 * comes from data); control bytes but TAB, LF and CR, C1 controls and
 * bytes that are not valid UTF-8 are written as the text \xNN (as
 * bl_report_text_escape), so the page stays UTF-8.  Returns as
 * bl_buf_add. */
int bl_report_html_escape(bl_buf *out, const char *s);
/* Append s to out for a terminal or a text file: every control byte (C0,
 * DEL), C1 control (U+0080-U+009F) and byte that is not valid UTF-8 is
 * written as \xNN, so no escape sequence in data reaches the terminal
 * raw.  Returns as bl_buf_add. */
int bl_report_text_escape(bl_buf *out, const char *s);
/* Append s to out as one CSV field: escaped as bl_report_text_escape
 * does (so no control byte, CR and LF included, and no byte that is not
 * UTF-8 is left raw), then quoted (with "" for ") when it holds , or ";
 * a field starting with = + - @ (a formula to a spreadsheet) gets a
 * leading apostrophe and quotes.  NULL: empty. */
int bl_report_csv_escape(bl_buf *out, const char *s);

/* ------------------------------------------------------------------ */
/* Policies, rebalancing and manifests                                 */
/* (lib/policy.c, lib/rebalance.c, lib/manifest.c)                     */
/* ------------------------------------------------------------------ */

/*
 * A policy file (format in manifests/FORMAT.md) declares what a set should
 * look like; the rebalancer turns it into one weight per *cell* (the
 * combination of labels, from the families the policy names, that a
 * sample carries) from the global cell counts alone, then applies the
 * weights shard by shard.  Methods are applied in this order, whatever
 * the order of the lines:
 *
 *   0. safety    samples with safety.minor_sexual (or age.minor together
 *                with any sexual.*) are excluded by every policy
 *   1. drop      every `drop EXPR` line (a sample matching any is out)
 *   2. cap       `cap N per FAMILY` lines, in file order
 *   3. independent  `independent A B [within C]` lines, in file order
 *   4. target    `target FAMILY a=s ...` lines, in file order, then
 *                raked together until every target holds
 *   5. realise   weights (mean 1 over written samples), upsample
 *                (smallest weight 1, integer repeats by seeded stochastic
 *                rounding) or downsample (largest weight 1, seeded
 *                Bernoulli keep)
 */

/* A boolean expression over label names: NAME, !E, E & F, E | F, (E).
 * A NAME (or NAME.*) matches that label and every label below it. */
typedef struct bl_expr bl_expr;

/*
 * Parse text[0..len).  On success *out gets the expression (free it with
 * bl_expr_free) and BL_OK is returned.  On a syntax error returns
 * BL_FAILED, *errcol (may be NULL) gets the 0-based byte offset of the
 * error in text and err[errlen] the message; BL_ENOMEM when out of memory.
 */
int bl_expr_parse(const char *text, size_t len, bl_expr **out,
		  size_t *errcol, char *err, size_t errlen);
/*
 * Resolve the names against a label table (names[i] is label id i, as in
 * an index).  used (may be NULL) gets every label id the expression reads
 * added.  Returns the number of names that match no label (such a name
 * is false), or BL_EUSAGE.
 */
int bl_expr_bind(bl_expr *e, const char *const *names, int nnames,
		 bl_labelset *used);
/* Evaluate a bound expression on a label set over the same ids: 1 or 0. */
int bl_expr_eval(const bl_expr *e, const bl_labelset *ls);
/* The i-th name as written (without a trailing ".*"), or NULL. */
const char *bl_expr_name(const bl_expr *e, int i);
int bl_expr_nnames(const bl_expr *e);
void bl_expr_free(bl_expr *e);

enum {
	BL_RULE_DROP = 1,
	BL_RULE_CAP,
	BL_RULE_INDEPENDENT,
	BL_RULE_TARGET
};

enum {
	BL_REALISE_WEIGHTS = 0,
	BL_REALISE_UPSAMPLE,
	BL_REALISE_DOWNSAMPLE
};

#define BL_POLICY_MAX_TARGETS 32

/* One method line of a policy, as parsed.  Strings are owned by the
 * policy; the struct is read-only to callers. */
typedef struct bl_policy_rule {
	int kind;          /* BL_RULE_* */
	int line;          /* 1-based line in the policy text */
	const char *text;  /* the line as written, comment and blanks trimmed */
	bl_expr *expr;     /* drop: the expression (unbound) */
	double cap;        /* cap: N */
	const char *family[3]; /* cap, target: [0]; independent: A, B and C
				* (C NULL without "within") */
	int ntargets;      /* target: listed labels */
	const char *target_label[BL_POLICY_MAX_TARGETS];
	double target_share[BL_POLICY_MAX_TARGETS];
	double rest;       /* target: share of samples with none of them;
			    * -1 when not given (then 1 - sum of shares) */
} bl_policy_rule;

typedef struct bl_policy bl_policy;

bl_policy *bl_policy_new(void);
/*
 * Parse a policy from text (name is used in messages) or from a file.
 * Only one parse per handle.  Returns BL_OK; BL_FAILED with errmsg
 * "NAME:LINE:COL: message" on the first error (a policy without any
 * method line, drop, cap, target or independent, is an error too: it
 * would change nothing); BL_ENOMEM; BL_EUSAGE when the handle was parsed
 * before.
 */
int bl_policy_parse(bl_policy *p, const char *name, const char *text,
		    size_t len);
int bl_policy_load_file(bl_policy *p, const char *path);
const char *bl_policy_errmsg(const bl_policy *p);
int bl_policy_nrules(const bl_policy *p);
/* Rule i (0-based, in file order), or NULL. */
const bl_policy_rule *bl_policy_rule_at(const bl_policy *p, int i);
/* BL_REALISE_*; weights when the policy says nothing. */
int bl_policy_realise(const bl_policy *p);
/* upsample: most copies of one sample ("realise upsample max N"); 0 when
 * not given (the rebalancer's default, 100, applies). */
double bl_policy_max_repeat(const bl_policy *p);
/* 1 and *seed set when the policy has a "seed" line, else 0. */
int bl_policy_seed(const bl_policy *p, uint64_t *seed);

/*
 * The checks a plan is held to (lib/rb_check.c; manifests/FORMAT.md,
 * "Checks"): a plan that fails one is reported at the top of every output
 * and `ballast rebalance` exits 1, unless an `accept` line of the policy
 * sets a limit the plan meets (it is then reported as accepted).
 */
enum {
	BL_CHECK_CELLS = 0, /* a weighting line rests on rows with too few
			     * samples: `accept cells >= N` (default 30) */
	BL_CHECK_ESS,       /* Kish ESS / samples written under a floor:
			     * `accept ess >= F` (default 0.3) */
	BL_CHECK_WEIGHT,    /* largest weight / mean weight over a cap:
			     * `accept max weight W` (default 10) */
	BL_CHECK_SHARE,     /* one sample's share of the weight over a bound:
			     * `accept sample share S` (default 0.01) */
	BL_CHECK_SHIFT,     /* a label no line names moves its share:
			     * `accept shift [FAMILY] D` (default: more than
			     * max(0.005, a quarter of its share)) */
	BL_CHECK_GAP,       /* a line does not reduce the distance it was
			     * asked to reduce: `accept gap` */
	BL_CHECK_DROP,      /* a drop name no sample carries (a warning) */
	BL_CHECK_TARGET,    /* a target line's share missed by more than
			     * the draws move it (3 standard errors over the
			     * written samples, within [0.005, a quarter of
			     * the share]), as when
			     * `realise upsample max N` clips the weights
			     * that meet it: `accept target D` */
	BL_CHECK_INDEX,     /* the index is not one set: shards scanned with
			     * other rules, shards not read whole
			     * (bl_index_warnings); no accept line */
	BL_NCHECKS
};

/* One `accept` line. */
typedef struct bl_policy_accept {
	int check;           /* BL_CHECK_* */
	const char *family;  /* shift: the family it covers, NULL: all */
	double limit;        /* cells: N; ess: F; weight: W; share: S;
			      * shift, target: D; gap: unused */
	int line;
} bl_policy_accept;

int bl_policy_naccepts(const bl_policy *p);
/* Accept line i (in file order), or NULL. */
const bl_policy_accept *bl_policy_accept_at(const bl_policy *p, int i);
/* `clip weight W`: no sample weighs more than W times the mean (0: no
 * clip); *line (may be NULL) gets its line. */
double bl_policy_clip_weight(const bl_policy *p, int *line);
/* `floor ess F`: weights are pulled towards uniform until Kish's ESS is
 * at least F of the samples written (0: no floor). */
double bl_policy_floor_ess(const bl_policy *p, int *line);
/* "cells", "ess", "weight", "share", "shift", "gap", "drop", "target",
 * "index". */
const char *bl_check_name(int check);
/* The text as parsed, its name, and the SHA-256 hex of the text. */
const char *bl_policy_text(const bl_policy *p);
const char *bl_policy_name(const bl_policy *p);
const char *bl_policy_digest(const bl_policy *p);
/* "drop", "cap", ... / "weights", "upsample", "downsample". */
const char *bl_rule_kind_name(int kind);
const char *bl_realise_name(int mode);
void bl_policy_free(bl_policy *p);

/* Why a cell is out of the manifest. */
enum { BL_CELL_KEPT = 0, BL_CELL_SAFETY, BL_CELL_DROPPED };

/* A cell as the rebalancer sees it (read-only to callers). */
typedef struct bl_rb_cell {
	bl_labelset labels;  /* the policy's labels carried by its samples */
	const char *names;   /* the same as ",a,b," text (owned) */
	uint64_t n;          /* samples of the index in the cell */
	int status;          /* BL_CELL_* */
	double weight;       /* planned weight a sample, before realisation
			      * scaling (relative) */
	double scaled;       /* expected weight a sample in the manifest */
	/* realised, after bl_rebalance_next calls: */
	uint64_t written;    /* samples written (with weight > 0) */
	double sum_w, sum_w2;
} bl_rb_cell;

/* Totals before and after. */
typedef struct bl_rb_totals {
	uint64_t samples;      /* rows read from the index */
	uint64_t blocked;      /* excluded for safety.minor_sexual */
	uint64_t dropped_rule; /* excluded by drop lines */
	uint64_t excluded;     /* not written at all (blocked, dropped,
				* capped, weight 0, not drawn) */
	uint64_t written;      /* samples in the manifest */
	uint64_t repeated;     /* upsample: samples written with count >= 2 */
	uint64_t copies;       /* upsample: extra copies (sum of count - 1) */
	double sum_w, sum_w2;  /* of the manifest weights */
	double max_weight, min_weight; /* over written samples */
	double ess_before, ess_after;  /* Kish: (sum w)^2 / sum w^2 */
	double max_abs_share_error;    /* over target and cap rules */
	double tv_distance;            /* largest total variation distance
					* of a target rule */
} bl_rb_totals;

/*
 * The summary of a rebalance (lib/rb_summary.c): what each policy line
 * declared and achieved, and what the plan cost.  bl_rebalance_finish
 * fills one; bl_rb_summary_json renders it (it is manifest.json's
 * "summary" and what `ballast rebalance --json` prints, key by key in
 * manifests/FORMAT.md); bl_manifest_summary and bl_rb_summary_parse read
 * it back.  The summary owns every string and array in it (released by
 * bl_rb_summary_release).  A real number that is not known is NAN (null
 * in JSON).  "Before" is the index, every sample weight 1; "after" is the
 * manifest's realised weights.
 */

/* One label of a target or cap line. */
typedef struct bl_rb_label_row {
	char *label;          /* a label of the line's family, or "rest"
			       * (target: samples with none of the listed) */
	double target;        /* target: the declared share (NAN: a free
			       * rest); cap: the share expected right after
			       * the cap */
	double before;        /* target: the share in the index; cap: NAN */
	double after;         /* share of the manifest's weight */
	double error;         /* after - target */
	double count_before;  /* cap: samples with the label in the index */
	double count_expected;/* cap: their weighted count expected after the
			       * cap (target: NAN, like count_before) */
	double weight_after;  /* cap: their realised weight (target: NAN) */
} bl_rb_label_row;

/* One row of an `independent A B [within C]` line: the samples with label
 * `label` of B within one level of C.  [0] is before, [1] after. */
typedef struct bl_rb_indep_row {
	char *within;         /* the level: labels of C as ",a,b," ("," for
			       * none, and always without `within`) */
	char *label;          /* a label of B */
	uint64_t samples;     /* samples of the index in the row */
	double rate[2];       /* weighted share of the row's samples with any
			       * label of A */
	double rate_within[2];/* the same among all samples of the level */
	double odds_ratio[2]; /* A in the row vs A in the rest of the level */
} bl_rb_indep_row;

/* What one policy line did, in file order. */
typedef struct bl_rb_rule_result {
	int line;             /* 1-based line in the policy */
	int kind;             /* BL_RULE_* */
	char *text;           /* the line as written */
	uint64_t samples;     /* drop: samples it excluded */
	char *family[3];      /* cap, target: [0]; independent: A, B and C
			       * (NULL without `within`); others NULL */
	double cap;           /* cap: N (else NAN) */
	bl_rb_label_row *labels; /* target, cap: one row per label */
	size_t nlabels;
	bl_rb_indep_row *rows;   /* independent: one row per B label and C
				  * level with samples */
	size_t nrows;
	double max_abs_error; /* target, cap: largest |after - target|;
			       * independent: max_rate_gap_after */
	double tv_distance;   /* target: 1/2 sum |after - target|;
			       * independent: the distance from independence,
			       * sum over levels c of P(c) 1/2 sum over
			       * combinations a of A and b of B of
			       * |P(a,b|c) - P(a|c) P(b|c)|, every combination
			       * counted, however small, empty ones included */
	double tv_distance_before; /* the same for the index */
	double max_rate_gap_before, max_rate_gap_after; /* independent:
			       * largest |rate - rate_within| over the rows */
} bl_rb_rule_result;

/* A label's or roll-up family's share (weighted after). */
typedef struct bl_rb_share {
	char *name;
	double share;
} bl_rb_share;

/* One row of the skew table (lib/stats.c): sexual.* rate by group x
 * gender. */
typedef struct bl_rb_skew_row {
	char *group;          /* a group label or roll-up */
	char *gender;         /* a gender label, or NULL: all samples */
	uint64_t rows;        /* samples in the cell, unweighted */
	double n, ess;        /* sum of weights in the cell, Kish's n */
	double events;        /* sum of weights with sexual.* (0: the rates,
			       * lift and odds ratio rest on no event) */
	double rate, rate_lo, rate_hi; /* with its 95% Wilson interval */
	double base_rate;     /* the gender's rate */
	double lift;          /* rate / base_rate */
	double odds_ratio;
	int small;            /* under the skew table's minimum */
} bl_rb_skew_row;

/* The outcome of one check (BL_CHECK_*) of a plan. */
enum {
	BL_CHECK_OK = 0,      /* within the limit */
	BL_CHECK_WARNING,     /* worth knowing, does not fail the plan */
	BL_CHECK_ACCEPTED,    /* over the default limit, within the limit of
			       * an accept line of the policy */
	BL_CHECK_FAILED       /* over the limit: the plan failed */
};

typedef struct bl_rb_check {
	int check;            /* BL_CHECK_* */
	int status;           /* BL_CHECK_OK ... BL_CHECK_FAILED */
	int line;             /* the policy line it concerns, 0: the plan */
	char *subject;        /* the label or family concerned, or NULL */
	double value;         /* what the plan got */
	double limit;         /* the limit it was held to (NAN: none) */
	double default_limit; /* the limit without accept lines */
	int accept_line;      /* the accept line that set limit, or 0 */
	char *message;        /* one sentence for people */
} bl_rb_check;

typedef struct bl_rb_summary {
	int ok;               /* no check failed */
	bl_rb_check *checks;  /* every check, the worst case of each kind
			       * and line first; problems (status > OK) are
			       * printed first by every output */
	size_t nchecks;
	int realise;          /* BL_REALISE_* */
	uint64_t samples;     /* in the index */
	uint64_t blocked;     /* excluded by the safety rule */
	uint64_t dropped_rule;/* excluded by drop lines */
	uint64_t excluded;    /* not written, all causes */
	uint64_t written;     /* lines of the manifest */
	uint64_t repeated;    /* upsample: samples written with count >= 2 */
	uint64_t copies;      /* upsample: sum of (count - 1) */
	double weight_sum;    /* sum of the manifest's weights */
	double largest_weight, smallest_weight; /* over written samples */
	double ess_before, ess_after, ess_ratio; /* Kish (sum w)^2 / sum w^2 */
	double scale;         /* from relative to manifest weights */
	double max_repeat;    /* upsample: the clip (else NAN) */
	uint64_t clipped_cells; /* upsample: cells clipped at max_repeat */
	double clip_weight;   /* `clip weight W`: W (else NAN) */
	uint64_t clipped_samples; /* samples whose weight it lowered */
	double ess_floor;     /* `floor ess F`: F (else NAN) */
	double ess_floor_mix; /* the share of uniform weight mixed in to
			       * meet it (0: none needed; NAN: no floor) */
	double weight_ratio;  /* largest / mean weight of the manifest */
	double largest_sample_share; /* largest weight / weight sum */
	double ess_written_ratio; /* ess_after / written */
	bl_rb_rule_result *rules;
	size_t nrules;
	double max_abs_share_error; /* largest |achieved - declared| share
				     * over target and cap lines, and the
				     * largest rate gap left by an
				     * independent line */
	double tv_distance;   /* largest tv_distance of a target or
			       * independent line */
	bl_rb_share *shares[3]; /* [0] before, [1] after, [2] kept (after
				 * safety and drop lines, weight 1): every
				 * label and roll-up with samples, in stats
				 * order */
	size_t nshares[3];
	bl_rb_skew_row *skew[2];
	size_t nskew[2];
} bl_rb_summary;

/* Free everything a summary holds and zero it.  NULL is a no-op. */
void bl_rb_summary_release(bl_rb_summary *s);
/* "ok", "warning", "accepted", "failed". */
const char *bl_check_status_name(int status);
/* Checks with status >= min_status (BL_CHECK_WARNING: every problem). */
size_t bl_rb_summary_count(const bl_rb_summary *s, int min_status);
/* The summary as one line of JSON (the keys of manifests/FORMAT.md, in
 * that order).  Returns a string the caller frees, or NULL without
 * memory. */
char *bl_rb_summary_json(const bl_rb_summary *s);
/*
 * Read a summary from JSON text (as bl_rb_summary_json writes it).  *s is
 * overwritten (release it before reuse).  Returns BL_OK; BL_FAILED with a
 * message in err when the text is not a JSON object or a count is missing
 * or not a count (*s is then empty); BL_ENOMEM.
 */
int bl_rb_summary_parse(bl_rb_summary *s, const char *text, size_t len,
			char *err, size_t errlen);

typedef struct bl_rebalance bl_rebalance;

/* A rebalancer for a parsed policy (which must outlive it), or NULL. */
bl_rebalance *bl_rebalance_new(const bl_policy *p);
/* The seed of every random draw (default: the policy's, else 0). */
int bl_rebalance_set_seed(bl_rebalance *rb, uint64_t seed);
uint64_t bl_rebalance_seed(const bl_rebalance *rb);
/*
 * The reduce: read every sample's labels from the index (one SELECT),
 * count the cells and compute the weights.  Returns BL_OK; BL_FAILED with
 * errmsg when the policy cannot be met on this index (a family or drop
 * name no label of the index belongs to, a listed label with no samples,
 * a share that no sample can fill, targets that contradict each other);
 * BL_FATAL when SQLite cannot read the index; BL_ENOMEM.  Whether the plan
 * is sound (checks) is known after bl_rebalance_finish: the summary's ok
 * and checks.
 */
int bl_rebalance_plan(bl_rebalance *rb, bl_index *ix);
/* The summary after bl_rebalance_finish (borrowed until the next plan,
 * reset or free of the handle), or NULL before it. */
const bl_rb_summary *bl_rebalance_summary(const bl_rebalance *rb);
/* The same as one line of JSON (owned by the handle), "{}" before
 * bl_rebalance_finish. */
const char *bl_rebalance_summary_json(const bl_rebalance *rb);
const bl_rb_totals *bl_rebalance_totals(const bl_rebalance *rb);
const char *bl_rebalance_errmsg(const bl_rebalance *rb);
void bl_rebalance_free(bl_rebalance *rb);

/* ---- manifests (lib/manifest.c) ---------------------------------- */

#define BL_MANIFEST_FORMAT 1

typedef struct bl_manifest_options {
	int no_digest;   /* do not hash the shard files (digest: null) */
	int force;       /* replace an existing OUTDIR */
	/* progress after each shard; may be NULL */
	void (*on_progress)(void *arg, uint64_t shards_done,
			    uint64_t shards_total, uint64_t samples);
	void *arg;
	/* after each shard's SHA-256 (not with no_digest): bytes hashed so
	 * far and in all (the shard sizes the index records); may be NULL */
	void (*on_digest)(void *arg, uint64_t shards_done, uint64_t shards_total,
			  uint64_t bytes_done, uint64_t bytes_total);
} bl_manifest_options;

/*
 * Realise a planned rebalancer over every sample of the index, shard by
 * shard, and write OUTDIR/manifest.json and OUTDIR/shards/NNNNN.jsonl
 * (format in manifests/FORMAT.md; each entry records where its members'
 * data bytes are when the index has them, see bl_members).  The directory
 * is built as OUTDIR.tmp-XXXXXX and published whole (bl_file_dir), so
 * OUTDIR is either absent, the old one, or complete.  An existing OUTDIR
 * is an error unless opts->force, and even then only an empty directory
 * or an earlier manifest (one holding manifest.json) is replaced.  outdir NULL: a dry run that realises
 * and summarises but writes nothing.  Calls bl_rebalance_finish.
 * Returns BL_OK, BL_FAILED with a message in err, BL_ENOMEM.
 */
int bl_manifest_write(bl_rebalance *rb, bl_index *ix, const char *outdir,
		      const bl_manifest_options *opts, char *err,
		      size_t errlen);

/* The data bytes of one member: offset (past its tar headers) and size;
 * offset -1 when unknown.  For a plain tar, reading size bytes at offset
 * of the file gives the member exactly; for a compressed shard the offset
 * counts bytes of the decompressed stream (the file cannot be entered
 * there: read it from the start, or `ballast write` it to plain tars). */
typedef struct bl_span {
	int64_t offset, size;
} bl_span;

/* Where a sample's caption, image and json bytes are (manifest entries'
 * "members"; any may be unknown). */
typedef struct bl_members {
	bl_span caption;        /* the txt member */
	bl_span image;          /* the first jpg/jpeg/png/webp member */
	bl_span json;           /* the json member */
	const char *image_ext;  /* "jpg", "png" ...; NULL when unknown */
} bl_members;

/* Limits of the manifest reader: a weight above BL_MANIFEST_MAX_WEIGHT,
 * an ordinal, offset or size that is not an integer in [0, 2^53), or a
 * line longer than BL_MANIFEST_MAX_LINE bytes is an error naming the
 * file and line. */
#define BL_MANIFEST_MAX_WEIGHT 1e6
#define BL_MANIFEST_MAX_LINE ((size_t)1 << 20)

/* One entry of a manifest, as read back. */
typedef struct bl_manifest_entry {
	const char *shard;   /* shard path */
	const char *key;
	uint64_t ordinal;
	int64_t offset;
	double weight;
	const char *labels;  /* ",a,b," */
	const bl_members *members; /* NULL when the line records none */
} bl_manifest_entry;

typedef struct bl_manifest bl_manifest;

/*
 * Open a manifest directory for reading: checks manifest.json (format
 * version, required fields) and lists its shard files.  dir may also name
 * a bare .jsonl of entries (a hand-made subset): then there is no
 * manifest.json (bl_manifest_get returns NULL) and "labels" is optional.
 * Blank lines are skipped.  Returns the handle, or NULL with a message in
 * err.
 *
 * Strings (keys, shard paths, labels) are bytes: a byte that is not part
 * of valid UTF-8 is written as the escape \udcXX (XX its value, 80..ff:
 * the lone low surrogates Python's "surrogateescape" uses), which the
 * reader turns back into the byte, so any key or path comes back exactly
 * and every file stays valid JSON (and ASCII where the data is).  Valid
 * UTF-8 cannot hold a surrogate, so the escape is unambiguous.
 */
bl_manifest *bl_manifest_open(const char *dir, char *err, size_t errlen);
/* Next entry in shard order (borrowed until the next call).  BL_OK,
 * BL_END, BL_FAILED (a line that breaks the format or a limit above:
 * errmsg names the file and line; the next call goes on). */
int bl_manifest_next(bl_manifest *m, const bl_manifest_entry **out);
/* Fields of manifest.json: "seed", "policy_sha256", ... as text, or NULL.
 * Strings come back unescaped, integers exactly (the seed too, written
 * as a number or a decimal string), other numbers with 17 digits, objects
 * and arrays as compact JSON. */
const char *bl_manifest_get(const bl_manifest *m, const char *field);
/* Append s[0..len) to out as a JSON string literal, quotes included, with
 * the manifest's escapes (above): '"', '\\' and control characters
 * escaped, valid UTF-8 kept, every other byte as \udcXX.  Returns as
 * bl_buf_add. */
int bl_manifest_json_str(bl_buf *out, const char *s, size_t len);
/* manifest.json's "summary" read into *out (see bl_rb_summary_parse; the
 * caller releases it).  BL_OK; BL_FAILED with a message in err when the
 * manifest has no summary (a bare .jsonl) or it is damaged; BL_ENOMEM. */
int bl_manifest_summary(const bl_manifest *m, bl_rb_summary *out, char *err,
			size_t errlen);
const char *bl_manifest_errmsg(const bl_manifest *m);
void bl_manifest_free(bl_manifest *m);

/*
 * Checking a manifest against its shards (lib/verify.c).  Paths are
 * resolved and the manifest read as bl_sampler_open does, so verify,
 * train, write and export agree on which file each entry names.
 */
typedef struct bl_verify_options {
	int no_digest;  /* bl_verify_manifest: BL_CHECK_QUICK instead of FULL */
	void (*on_error)(void *arg, const char *msg);
	void *arg;
	/* bl_verify_manifest: called once (with arg) when the manifest's
	 * plan failed its checks, with the sentence of
	 * bl_sampler_plan_failed, once the manifest is loaded (after the
	 * problems of its lines, before the shards are checked); NULL: not
	 * told.  It does not change the return value */
	void (*on_plan_failed)(void *arg, const char *msg);
} bl_verify_options;

typedef struct bl_verify_totals {
	uint64_t shards, shards_bad, digests, entries, entries_bad;
	uint64_t manifest_bad; /* bl_verify_manifest: problems of the lines
				* against manifest.json (see bl_sampler_open) */
} bl_verify_totals;

/* How much of manifest.json's record of a shard is checked. */
enum {
	BL_CHECK_FULL = 0, /* size, and the SHA-256 (the shard is read) */
	BL_CHECK_QUICK,    /* size, and the mtime; the SHA-256 only when the
			    * mtime differs from the record (or none was
			    * recorded): a copy or a touch keeps the bytes */
	BL_CHECK_NONE,     /* nothing recorded; still a regular file */
	BL_CHECK_AUTO      /* FULL up to 1 GiB of shards in all, QUICK above
			    * (what ballast train and export --to webdataset
			    * do by default, and the Python package) */
};

/*
 * Before consuming a manifest: every shard s reads (bl_sampler_shard) is
 * a regular file ("-", FIFOs, devices and directories are refused at any
 * level: a reader would block on them), and matches what manifest.json
 * recorded for it at level (its "inputs": size, mtime_ns, sha256; a field
 * not recorded is not checked; a bare .jsonl records nothing).  In a
 * manifest directory each shard must have exactly one input record (a
 * shard with none, or with two, is a mismatch at every level: what
 * bl_sampler_open refuses, seen again should manifest.json change under
 * s).  BL_CHECK_AUTO is FULL or QUICK by the shards' total size.
 * manifest is the path s was opened from.  Each mismatch goes to opts->on_error
 * (opts may be NULL), naming the shard and what differs.  totals (may be
 * NULL) gets shards, shards_bad and digests.  Returns BL_OK when all may
 * be read; BL_FAILED when some may not (err says how many); BL_FATAL when
 * manifest.json cannot be read (err says why); BL_ENOMEM; BL_EUSAGE.
 */
typedef struct bl_sampler bl_sampler; /* see Consumers below */
int bl_verify_shards(const char *manifest, const bl_sampler *s, int level,
		     const bl_verify_options *opts, bl_verify_totals *totals,
		     char *err, size_t errlen);

/*
 * Verify a manifest: its lines against manifest.json's record of them
 * (what bl_sampler_open refuses: a file with fewer or more entries than
 * it says were written, a sample listed twice, weights that do not have
 * the form "realise" says; each a problem, counted in manifest_bad, the
 * manifest still checked), bl_verify_shards (FULL, or QUICK with
 * no_digest), then each entry's key stands at its recorded ordinal and
 * offset, whatever the order of the manifest's lines.  A plan that failed
 * its checks goes to on_plan_failed first (it is no mismatch).  Every problem and
 * mismatch goes to on_error (names the file, or the shard, sample and
 * offsets).  BL_OK when all match; BL_FAILED when some do not (err says
 * how many); BL_FATAL when the manifest cannot be loaded (err says why,
 * e.g. a damaged line); BL_EUSAGE.
 */
int bl_verify_manifest(const char *dir, const bl_verify_options *opts,
		       bl_verify_totals *totals, char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Reports of a manifest (lib/report_manifest.c)                      */
/* ------------------------------------------------------------------ */

/*
 * Before and after a rebalance: the report of manifest m (see
 * bl_manifest_open) against the index ix it was written from.  Before is
 * the index (every sample, weight 1); after is the manifest, read line by
 * line with bl_manifest_next (memory does not grow with lines), each
 * sample's labels counted with its weight.  Label names of the lines are
 * mapped to ix's label ids.  Shown side by side: label and family shares,
 * the skew table (lift with 95% intervals, the after side at Kish's
 * effective n), and the cost and distance from the policy's targets as
 * manifest.json's summary records them (ESS before and after, samples not
 * written, repeated, largest weight, TV distance, largest share error,
 * each policy line's declared and achieved numbers), with the policy's
 * path, SHA-256, seed and text.  Every summary number that can be
 * recomputed from the index and the lines is (written, weight sum, largest
 * and smallest weight, ESS, per-shard counts, repeats, shares and lifts
 * after) and each comparison is shown as a check.  The plan's problems
 * (the summary's checks that did not pass) and every disagreement come
 * first, in every format.
 *
 * name is the manifest's directory as the user gave it (for titles; NULL:
 * "manifest").  m must be fresh (no bl_manifest_next yet); it is read to
 * its end either way.  opt: format, min_rows, min_events and title as for
 * bl_report_buf; by and given are ignored.
 *
 * Formats:
 *   BL_REPORT_TEXT  aligned tables, before -> after.
 *   BL_REPORT_CSV   header table,name,gender,before,before_lo,before_hi,
 *     after,after_lo,after_hi; table is warning (first: name is the
 *     text), plan_check (next: a check of the
 *     plan that did not pass; gender = its status, before = value, after
 *     = limit), cost, label, family, skew_lift, skew_rate or check (check:
 *     before = manifest, after = recomputed, after_hi = 1 when they
 *     agree).
 *   BL_REPORT_JSON  one object, keys in this order (stable, schema 1):
 *       "report": "ballast-manifest", "schema": 1,
 *       "ok": false when the plan failed a check, a check disagrees or
 *         there is a warning,
 *       "warnings": [text] (what makes before against after wrong: the
 *         index's bl_index_warnings, an index scanned with other rules
 *         than the manifest's; also first in text, CSV and HTML),
 *       "problems": [{"source": "plan", "check", "status" (failed,
 *         accepted, warning), "line", "subject" (when there is one),
 *         "value", "limit", "message"} and {"source": "summary", "check",
 *         "status": "disagrees", "manifest", "recomputed"}],
 *       "manifest": name,
 *       "index": path,
 *       "policy": {"path", "sha256", "seed" (text), "realise", "text"},
 *       "cost": {"samples", "written", "ess_before", "ess_after",
 *         "ess_ratio", "dropped" (samples not written, all causes),
 *         "dropped_by_rule", "blocked", "repeated", "copies_added",
 *         "max_weight", "min_weight", "weight_sum", "tv_distance",
 *         "max_share_error"}  (from manifest.json's summary),
 *       "rules": [{"line", "kind", "text", and as they apply "samples",
 *         "max_rate_gap_before", "max_rate_gap_after", "tv_distance",
 *         "max_abs_error", "labels": [{"label", "target", "before",
 *         "after", "error"}]}],
 *       "before", "after": {"samples" (rows), "weight", "ess",
 *         "labels": {label: W}, "families": {family: W}, "shares": {name:
 *         {"count": W, "share", "lo", "hi", "samples"}}, "skew": [as in
 *         bl_report_buf's "skew", plus "samples"] sorted by that side's
 *         lift}, where W is the sum of weights (the sample count before),
 *       "agree": true when every check agrees,
 *       "checks": [{"name", "manifest", "recomputed", "agree"}],
 *       "notes": [text]  (labels of the manifest the index lacks).
 *     Numbers have at most 6 significant digits; NAN is null.
 *   BL_REPORT_HTML  one self-contained page: cost cards, the policy, the
 *     lift chart with a before (hollow) and an after (filled) dot per
 *     cell with 95% whiskers, paired share bars, the numbers, the checks.
 *
 * Returns BL_OK; BL_WARN when the report is complete in out but the plan
 * failed a check, the summary disagrees or there is a warning (err says
 * which); BL_FAILED
 * with a message in err when a line of the manifest is damaged (file and
 * line named), when manifest.json lacks its summary, policy or inputs (or
 * the summary is damaged), or when a shard or label of the manifest is
 * not in ix (a manifest of another index); BL_ENOMEM.  out is unchanged
 * on failure.
 */
int bl_report_manifest_buf(bl_index *ix, bl_manifest *m, const char *name,
			   const bl_report_options *opt, bl_buf *out, char *err,
			   size_t errlen);
/* The same, written to path atomically (as bl_report_save); BL_WARN
 * after writing it. */
int bl_report_manifest_save(bl_index *ix, bl_manifest *m, const char *name,
			    const bl_report_options *opt, const char *path, char *err,
			    size_t errlen);

/* ------------------------------------------------------------------ */
/* The shard writer (lib/writer.c)                                     */
/* ------------------------------------------------------------------ */

/*
 * Writes WebDataset tar shards with libarchive, reproducibly (fixed
 * mtime, owner and mode, so the same members give the same bytes) and
 * atomically (PATH.tmp, fsync, rename on close).  Compression follows the
 * name: .tar, .tar.gz/.tgz, .tar.zst, .tar.xz.
 */
typedef struct bl_writer bl_writer;

bl_writer *bl_writer_new(void);
/* Start writing path (through path.tmp).  BL_OK / BL_FAILED with errmsg. */
int bl_writer_open(bl_writer *w, const char *path);
/* Add member "KEY.EXT" with the given bytes.  BL_OK / BL_FAILED. */
int bl_writer_add(bl_writer *w, const char *key, const char *ext,
		  const void *data, size_t len);
/* Finish the archive, fsync, and rename path.tmp to path.  BL_OK /
 * BL_FAILED (the temporary file is removed and path is untouched). */
int bl_writer_close(bl_writer *w);
const char *bl_writer_errmsg(const bl_writer *w);
/* Free; a shard still open is abandoned and its temporary file removed. */
void bl_writer_free(bl_writer *w);

/* ------------------------------------------------------------------ */
/* Synthetic samples (lib/synth.c)                                     */
/* ------------------------------------------------------------------ */

/*
 * Generates img2dataset-style samples (caption, JSON, JPEG) from a small
 * caption grammar, with a planted, documented skew: for each skew entry,
 * captions naming people of GROUP (and GENDER) carry sexualised wording
 * FACTOR times as often as captions naming people of that gender overall.
 * The rate for the other groups is lowered to keep the gender's overall
 * rate at its base rate, so the expected lift of the planted cell over
 * its gender is exactly FACTOR.  Every sample depends only on (seed,
 * shard, index), so shards can be generated in any order or in parallel.
 */
enum {
	BL_SYN_NONE = 0,
	/* groups */
	BL_SYN_EAST_ASIAN = 1, BL_SYN_SOUTHEAST_ASIAN, BL_SYN_SOUTH_ASIAN,
	BL_SYN_BLACK, BL_SYN_WHITE, BL_SYN_LATINO, BL_SYN_MIDDLE_EASTERN,
	BL_SYN_NGROUPS,
	/* genders */
	BL_SYN_FEMALE = 1, BL_SYN_MALE = 2,
	/* sexual wording */
	BL_SYN_SUGGESTIVE = 1, BL_SYN_EXPLICIT = 2
};

#define BL_SYN_MAX_SKEWS 8

typedef struct bl_synth_config {
	uint64_t seed;
	int image_size;          /* side of the JPEG in pixels (default 64) */
	int jpeg_quality;        /* default 85 */
	double noise;            /* 0..1, image detail; more = bigger JPEGs */
	double sexual_female;    /* base rate of sexual wording, women: 0.08 */
	double sexual_male;      /* base rate, men: 0.03 */
	int nskews;
	struct {
		int group;       /* BL_SYN_EAST_ASIAN ... */
		int gender;      /* BL_SYN_FEMALE / MALE / NONE (both) */
		double factor;
	} skews[BL_SYN_MAX_SKEWS];
} bl_synth_config;

/* Ground truth of one generated sample. */
typedef struct bl_synth_truth {
	int person;  /* 1 when the caption describes a person */
	int gender;  /* BL_SYN_FEMALE / MALE / NONE */
	int group;   /* BL_SYN_* group or NONE */
	int sexual;  /* BL_SYN_SUGGESTIVE / EXPLICIT / NONE */
	int minor;   /* 1 for a child (never combined with sexual wording) */
	int swimwear;
} bl_synth_truth;

typedef struct bl_synth_sample {
	const char *key;     /* "SSSSSIIII" as img2dataset names them */
	const char *caption;
	const char *json;
	size_t json_len;
	const unsigned char *jpeg;
	size_t jpeg_len;
	bl_synth_truth truth;
} bl_synth_sample;

typedef struct bl_synth bl_synth;

/* Validate cfg (zero fields take defaults) and make a generator; NULL with
 * a message in err when the skew cannot be planted (the factors times
 * their groups' shares must stay below 1). */
bl_synth *bl_synth_new(const bl_synth_config *cfg, char *err, size_t errlen);
/* Generate sample (shard, index) into *out (borrowed until the next call).
 * BL_OK / BL_FAILED (JPEG encoder failure, message in errmsg). */
int bl_synth_make(bl_synth *s, uint64_t shard, uint64_t index,
		  bl_synth_sample *out);
const char *bl_synth_errmsg(const bl_synth *s);
/* Names: "east_asian" ... / "female", "male" / "suggestive", "explicit";
 * parse returns -1 for an unknown name. */
const char *bl_synth_group_name(int group);
int bl_synth_group_parse(const char *name);
void bl_synth_free(bl_synth *s);

/* ------------------------------------------------------------------ */
/* Consumers (lib/sampler.c, lib/loader.c, lib/export.c)               */
/* ------------------------------------------------------------------ */

/*
 * What reads a manifest: a weighted, seeded, resumable sampler with a
 * rank/world split; a loader that reads samples straight from the
 * original shards (by seeking to the recorded offsets), decodes, resizes
 * and crops them on a worker pool and hands them back in the order they
 * were asked for; and exports of a manifest to new shards and to the
 * layouts real trainers read.
 */

/* One manifest entry, as loaded by bl_sampler_open (read-only). */
typedef struct bl_entry {
	const char *shard;    /* shard path, resolved (see bl_sampler_open) */
	const char *key;
	uint64_t ordinal;     /* sample ordinal in its shard */
	int64_t offset;       /* byte offset of the sample's first header */
	double weight;        /* > 0, at most BL_MANIFEST_MAX_WEIGHT */
	uint32_t shard_index; /* into bl_sampler_shard() */
	int nlabels;
	const int *labels;    /* label ids into bl_sampler_label() */
	const bl_members *members; /* where its members' bytes are, or NULL
			       * (see bl_members) */
} bl_entry;

/*
 * bl_sampler: the entries of a manifest held in memory, and draws from
 * them.  An epoch is a weighted draw of N = round(sum of weights) entry
 * positions: each entry gets c = floor or ceil of N*w/sum(w) copies by
 * systematic sampling with one uniform offset (integer weights that sum
 * to N give exactly w copies).  The copies are then spread over the
 * epoch, not shuffled at random: copy j of an entry with c copies gets
 * the time (j + u) / c, u uniform per entry and epoch, and the epoch is
 * the copies in time order (ties by entry index).  Entries drawn once
 * come in uniformly random order; an entry drawn c times appears about
 * every N/c draws, so a heavy sample never piles up in one batch (any
 * window of B draws holds about B*c/N of its copies, give or take 2).
 * Memory is per entry, never per draw, whatever N; a draw costs
 * O(log entries).
 *
 * Epoch e draws from bl_rng_seed2(seed, BL_RNG_STREAM_EPOCH(e)) only, so
 * the global sequence depends on (manifest, seed) and nothing else.
 * With world W, rank r gets global positions r, r+W, r+2W, ... : ranks
 * are disjoint, equally sized to within one, and together the world-1
 * stream.  A position counts draws of this rank; saving it and seeking
 * back to it continues the same sequence.  Not thread-safe: one handle a
 * thread (bl_sampler_split shares a rank's stream out to workers).
 */
typedef struct bl_sampler bl_sampler;

/*
 * Load a manifest: dir is OUTDIR of bl_manifest_write (read with
 * bl_manifest_open/next) or one .jsonl file of entries in the same
 * format (a hand-made subset).  Entries with weight 0 are skipped.  A
 * relative shard path is taken as written when it exists from the
 * working directory, else relative to the manifest directory, else to
 * its parent.
 * Returns the handle, or NULL with a message in err ("manifest 'm':
 * 'm/shards/00001.jsonl' line 7: not a manifest entry ...").  Every
 * limit of the manifest reader applies; at most 2^32 - 2 entries.
 *
 * The lines must be the ones manifest.json records, or the manifest is
 * refused ("manifest 'm' is refused: 'm/shards/00001.jsonl' holds 100
 * entries, manifest.json records 198 written for it ..."): each shards/
 * file holds as many entries as its input's "written" (a file cut at a
 * line boundary or emptied reads as a valid, smaller manifest
 * otherwise), the entries in all summary.written and their weights sum
 * to summary.weight_sum (to 1e-6), every weight is an integer under
 * realise "upsample" and 1 under "downsample" (an edited "realise" would
 * round fractional weights), and no (shard, key) is listed twice, in a
 * bare .jsonl too (a duplicated line would be drawn, and written, twice).
 * A field manifest.json does not record is not checked.
 */
bl_sampler *bl_sampler_open(const char *dir, char *err, size_t errlen);
/* (bl_sampler_open, continued.)  The record itself must hold together:
 * every line of inputs[i].list names inputs[i].path as its shard (the
 * record a shard is checked against by bl_verify_shards: a line naming
 * a shard with none, or another's, would be read unchecked), every input
 * records a path and no two the same one, and the summary's "ok" agrees
 * with its "checks" (a summary without either, or a check whose status
 * is not ok, warning, accepted or failed, was edited or predates the
 * checks).  Each is refused as the rest ("manifest 'm' is refused:
 * 'm/manifest.json': summary "ok" is true, but 1 of its checks has
 * status "failed" ..."); no option takes it. */
void bl_sampler_free(bl_sampler *s);
size_t bl_sampler_nentries(const bl_sampler *s);
/* Entry i (borrowed from s), or NULL out of range. */
const bl_entry *bl_sampler_entry(const bl_sampler *s, size_t i);
size_t bl_sampler_nshards(const bl_sampler *s);
const char *bl_sampler_shard(const bl_sampler *s, size_t i);
int bl_sampler_nlabels(const bl_sampler *s);
const char *bl_sampler_label(const bl_sampler *s, int id);
/* Sum of weights, and of weights of entries carrying label id. */
double bl_sampler_weight(const bl_sampler *s);
double bl_sampler_label_weight(const bl_sampler *s, int id);
/* 1 when the weights are integer repeat counts (manifest.json says
 * "upsample" or "downsample", or, when it says nothing, every weight is
 * an integer); 0 when they are fractional weights. */
int bl_sampler_repeats(const bl_sampler *s);
/* SHA-256 hex of the loaded entries (shard, key, ordinal, offset,
 * weight): a resumed run checks it against its state file. */
const char *bl_sampler_digest(const bl_sampler *s);
/* A top-level scalar of manifest.json as text ("seed", "format"...), or
 * NULL (absent, not a scalar, or a bare .jsonl).  The seed comes back
 * exactly (see bl_seed_parse). */
const char *bl_sampler_meta(const bl_sampler *s, const char *field);
/*
 * The plan's verdict, as manifest.json records it: the plan failed when
 * any check of its summary has status "failed", whatever "ok" says (an
 * "ok" that disagrees is damage bl_sampler_open refuses), or when "ok"
 * is false.  NULL when it did not (and for a bare .jsonl, which records
 * no verdict), else one sentence naming the
 * checks that failed when `ballast rebalance` made the plan, the first
 * two with their messages: "its plan failed 2 checks when it was made:
 * index: the index: 1 of the 3 shards ...; target gender: ...; and 1
 * more: ess".  bl_sampler_open loads such a manifest (it can be
 * inspected); a consumer that trains on it or writes it out refuses it
 * unless told to take it (ballast write, export and train exit 3 without
 * --allow-failed-plan; the Python package raises without
 * allow_failed_plan=True).  Borrowed from s until bl_sampler_free; NULL
 * for a NULL s.
 */
const char *bl_sampler_plan_failed(const bl_sampler *s);
/* Draws per epoch, N = round(sum of weights) (at least 1). */
uint64_t bl_sampler_epoch_size(const bl_sampler *s);

/* Choose seed and split, and go to position 0 (a worker split set by
 * bl_sampler_split stays).  BL_OK / BL_EUSAGE (world 0, rank >= world). */
int bl_sampler_start(bl_sampler *s, uint64_t seed, uint32_t rank,
		     uint32_t world);
/*
 * Share this rank's stream out to data-loader workers: the handle then
 * draws only the positions p of the rank with (p / block) % nworkers ==
 * worker, in order (blocks of `block` consecutive positions dealt round
 * robin, so that worker k's n-th block is batch k + n*nworkers when block
 * is the batch size and the loader takes batches from workers in turn,
 * as PyTorch's DataLoader does: the batches come out in the order of the
 * rank's stream whatever the number of workers).  nworkers 1 (the
 * default) takes every position.  Positions stay rank positions: a draw
 * at position p is the same entry whichever handle makes it.
 * BL_OK / BL_EUSAGE (nworkers 0, worker >= nworkers, block 0).
 */
int bl_sampler_split(bl_sampler *s, uint32_t worker, uint32_t nworkers,
		     uint32_t block);
/* The seed of the draws: bl_sampler_start's, or a restored state's
 * (0 for a NULL s). */
uint64_t bl_sampler_seed(const bl_sampler *s);
/* Go to position pos of this rank's stream (the next draw is at pos, or
 * at this worker's first position after it).  BL_OK, BL_EUSAGE. */
int bl_sampler_seek(bl_sampler *s, uint64_t pos);
/* Position (in the rank's stream) of the next draw's search start: the
 * number of rank draws before it. */
uint64_t bl_sampler_position(const bl_sampler *s);
/* Next draw of this handle: *entry gets the entry index, *epoch (may be
 * NULL) its epoch.  BL_OK; BL_ENOMEM (position unchanged); BL_FAILED
 * when the global position would pass 2^64 - 1. */
int bl_sampler_next(bl_sampler *s, size_t *entry, uint64_t *epoch);
/*
 * Sampler states: one JSON object {"format": "ballast-sampler-state",
 * "version": 1, "manifest_sha256", "seed" (decimal string), "rank",
 * "world", "position", "steps"}.  steps is the caller's (optimizer steps
 * done).  bl_sampler_state_text writes it to out[outlen] (NUL-terminated,
 * snprintf-style: returns the length it needs, so a return >= outlen
 * means truncated; 0 for a NULL s; 512 bytes always suffice).
 * bl_sampler_state_restore reads text[0..len) (untrusted: every field is
 * checked, at most 64 KiB), checks the digest and the split against the
 * one set by bl_sampler_start, then starts s at the saved seed and
 * position (the worker split stays); *steps (may be NULL) gets the saved
 * steps.  BL_OK, BL_FAILED with a message in err (s unchanged).
 * save_state / load_state do the same through a file (written
 * atomically, path.tmp, fsync, rename).
 *
 * The state's seed replaces bl_sampler_start's: a resumed run goes on
 * with the seed it was saved with.  A caller that was given a seed of its
 * own (ballast train --seed, the Python package's seed=) compares it with
 * bl_sampler_seed after the restore and refuses one that differs, as the
 * restore refuses another rank or world.
 */
size_t bl_sampler_state_text(const bl_sampler *s, uint64_t steps, char *out,
			     size_t outlen);
int bl_sampler_state_restore(bl_sampler *s, const char *text, size_t len,
			     uint64_t *steps, char *err, size_t errlen);
int bl_sampler_save_state(const bl_sampler *s, const char *path,
			  uint64_t steps, char *err, size_t errlen);
int bl_sampler_load_state(bl_sampler *s, const char *path, uint64_t *steps,
			  char *err, size_t errlen);

/*
 * bl_loader: reads samples (image and caption) from their shards and
 * hands back pixels.  JPEGs are decoded with TurboJPEG at the smallest
 * DCT scale whose shorter side is still >= size, PNGs with libpng (8-bit
 * RGB, alpha composited on white); the central square is resized to
 * size x size (area averaging when shrinking, bilinear when enlarging)
 * and handed back as packed RGB.  Other formats (WebP, GIF) are item
 * failures that say so.  With opt->raw nothing is decoded: the image
 * member's bytes come back as stored.  Samples are read through the
 * shard reader (bl_reader_seek to the recorded offset, with opt->limits,
 * its key rules and its messages): uncompressed shards are entered at
 * the offset; compressed ones are read on from where a worker's reader
 * stands (each worker keeps its place, so entries in shard order cost one
 * pass; random order costs a pass per sample: materialise compressed sets
 * with `ballast write` first).  The sample there must have the key
 * pushed, an image and, when it has a caption, its bytes (a member over
 * a limit fails the sample with the reader's message).  With
 * threads > 0 a pool of workers, each with its own file and decoder
 * handles, works ahead; results come back in push order whatever the
 * thread count.  A sample that cannot be read or decoded is an item
 * failure (status BL_FAILED), never fatal.
 */
typedef struct bl_loader bl_loader;

typedef struct bl_loader_options {
	int size;          /* output side in pixels (default 512) */
	int threads;       /* worker threads; 0 decodes in bl_loader_pop */
	size_t depth;      /* samples in flight (default 64) */
	bl_limits limits;  /* tar member limits (zeros: defaults) */
	bl_image_limits image_limits; /* (zeros: defaults) */
	int raw;           /* 1: hand back the image bytes, decode nothing */
} bl_loader_options;

/* One loaded sample, borrowed until the next bl_loader_pop. */
typedef struct bl_loaded {
	size_t tag;                /* as pushed */
	int status;                /* BL_OK or BL_FAILED */
	bl_errkind errkind;        /* BL_ERR_IMAGE, BL_ERR_TRUNCATED ... */
	const char *errmsg;        /* "" when status is BL_OK */
	const unsigned char *rgb;  /* size*size*3 bytes, NULL on failure
				    * and in raw mode */
	int size;
	int src_width, src_height; /* image as stored (0 in raw mode) */
	int dec_width, dec_height; /* after DCT scaling */
	const char *caption;       /* "" when the sample has none */
	size_t caption_len;        /* bytes in caption */
	const unsigned char *image; /* raw mode: the image member's bytes,
				    * else NULL */
	size_t image_len;
	const char *image_ext;     /* the image member's extension, lower
				    * case ("jpg", "png"); "" on failure */
} bl_loaded;

/* Start a loader (and its threads).  NULL when out of memory or a thread
 * cannot start. */
bl_loader *bl_loader_new(const bl_loader_options *opt);
/* Free spaces in the queue: bl_loader_push succeeds that many times
 * before a bl_loader_pop is needed. */
size_t bl_loader_room(const bl_loader *ld);
/* Samples pushed and not yet popped. */
size_t bl_loader_pending(const bl_loader *ld);
/* Queue a sample: shard and key are borrowed and must stay valid until
 * it is popped.  BL_OK, BL_FAILED when the queue is full. */
int bl_loader_push(bl_loader *ld, const char *shard, int64_t offset,
		   const char *key, size_t tag);
/* The oldest pushed sample, waiting for it.  BL_OK (see (*out)->status),
 * BL_END when nothing is pending. */
int bl_loader_pop(bl_loader *ld, const bl_loaded **out);
/* Stop the workers and free everything. NULL is a no-op. */
void bl_loader_free(bl_loader *ld);
/*
 * The resize used by the loader, on its own: the central square of
 * src (w x h packed RGB) to dst (size x size packed RGB).  BL_OK,
 * BL_EUSAGE, BL_ENOMEM.
 */
int bl_loader_resize_crop(const unsigned char *src, int w, int h,
			  unsigned char *dst, int size);

/*
 * Exports (lib/export.c, lib/export_write.c).  Every path written is
 * OUTDIR or below it: keys that are absolute, hold a ".." component, a
 * backslash or a control character are item errors, never written.  Shard files are read in
 * (shard, ordinal) order, whatever the order of the manifest's lines, one
 * streaming pass per shard; only regular files are read ("-", FIFOs and
 * devices are item errors).  Members are read whole (up to 1 GiB each
 * unless opt->limits says otherwise): a sample that cannot be copied
 * whole is an item error, never written in part.
 *
 * OUTDIR is built as OUTDIR.tmp-XXXXXX beside it and renamed into place
 * when complete (bl_file_dir): a killed run leaves no OUTDIR, an existing
 * OUTDIR is an error unless opt->force, and force replaces it whole (only
 * a directory holding ballast.json, or an empty one).  Every output holds
 * OUTDIR/ballast.json: {"format": "ballast-output", "version": 1, "tool",
 * "command", "to", "manifest_sha256", "seed" (text), "entries",
 * "samples", "copies", "files", "failed", "renamed", "captions_repaired",
 * "captions_joined", "skipped": {reason: N}}.
 *
 * Names stay unique: a key seen before in the output (the same key in two
 * shards, an entry listed twice) becomes KEY_dN; copies are KEY_rK (or
 * KEY_dN_rK); file names (keys with '/' turned into '_', a leading '.'
 * into '_', bytes that are not UTF-8 into '_', cut to 200 bytes plus '~'
 * and a hash) are unique ignoring case, with _dN.  Renames are counted.
 */
enum { BL_EXPORT_WEBDATASET = 1, BL_EXPORT_KOHYA, BL_EXPORT_HF };

/* Why an entry was not written (bl_export_totals.skipped). */
typedef enum bl_export_skip {
	BL_SKIP_MISSING = 0,   /* no sample at its ordinal, or its shard cannot be
				* read (missing, not a regular file, damaged) */
	BL_SKIP_KEY_CHANGED,   /* another key stands there: the shard changed */
	BL_SKIP_UNSAFE_KEY,    /* absolute, "..", backslash, control characters */
	BL_SKIP_INCOMPLETE,    /* a member could not be read whole, or the
				* reader dropped one */
	BL_SKIP_BAD_JSON,      /* write, fractional weights: the json member is
				* not a JSON object, so the weight has no place */
	BL_SKIP_NAME_TOO_LONG, /* write: a member name would pass 4096 bytes */
	BL_SKIP_NO_IMAGE,      /* kohya, hf: no jpg/jpeg/png/webp member */
	BL_SKIP_NO_CAPTION,    /* kohya: no caption, or a blank one (kohya
				* stops at an empty caption file) */
	BL_SKIP_ROUNDED_AWAY,  /* kohya: the weight rounded to 0 repeats (the
				* rounding realises the weights; not a failure) */
	BL_SKIP_TOO_HEAVY,     /* write, kohya: the weight asks for more than
				* BL_EXPORT_MAX_COPIES copies or repeats */
	BL_SKIP_DUP_KEY,       /* webdataset: the entry's shard holds members
				* the reader rejected as duplicates (a key seen
				* before, a second member of one extension or
				* caption): a reader of (url, key) weights would
				* weight them too, so the shard is left out */
	BL_SKIP__COUNT
} bl_export_skip;
/* "missing", "key_changed", "unsafe_key", "incomplete", "bad_json",
 * "name_too_long", "no_image", "no_caption", "rounded_to_zero",
 * "too_heavy", "duplicate_key"; "unknown" otherwise.  Static, never NULL. */
#define BL_EXPORT_MAX_COPIES 1000000 /* copies (write) or repeats (kohya) of one sample */
const char *bl_export_skip_name(int reason);

typedef struct bl_export_options {
	uint64_t per_shard;  /* write: samples per output shard (10000) */
	int rating_tags;     /* write: add "nsfw"/"suggestive" to captions of
			      * sexual.explicit / sexual.suggestive samples */
	int force;           /* replace an existing OUTDIR (see above) */
	uint64_t seed;       /* write: placement; kohya: stochastic rounding */
	int resolution;      /* kohya: dataset resolution (512) */
	bl_limits limits;    /* reader limits (zeros: members whole up to 1 GiB,
			      * captions alike, 1024 members a sample) */
	/* each item error (message names shard, key and offset); may be NULL */
	void (*on_error)(void *arg, const char *msg);
	void *arg;
	int seed_set;        /* seed is given (0 is a seed like any other);
			      * else the manifest's seed, else 0 */
	double repeat_scale; /* kohya: repeats = weight x this, rounded at
			      * random (0: 1; < 0: 1 / the smallest weight,
			      * so that no sample rounds to 0) */
	/* progress: phase ("reading", "writing", "extracting"), done of
	 * total, every 256 items and at the end; may be NULL */
	void (*on_progress)(void *arg, const char *phase, uint64_t done,
			    uint64_t total);
} bl_export_options;

typedef struct bl_export_totals {
	uint64_t entries;    /* manifest entries read */
	uint64_t samples;    /* samples written (copies included; kohya:
			      * images x repeats) */
	uint64_t copies;     /* of them, extra copies (KEY_rN; kohya repeats) */
	uint64_t weighted;   /* samples written with a fractional weight */
	uint64_t files;      /* write: output shards; export: files written */
	uint64_t failed;     /* entries not written, all reasons but
			      * rounded_to_zero */
	uint64_t rated;      /* captions given a rating tag */
	uint64_t renamed;    /* keys or file names changed to stay unique */
	uint64_t skipped[BL_SKIP__COUNT]; /* entries not written, by reason */
	uint64_t repaired;   /* kohya, hf: captions whose bytes that are not
			      * UTF-8 were replaced by U+FFFD */
	uint64_t joined;     /* kohya: captions of several lines joined into
			      * one (kohya reads the first line only) */
} bl_export_totals;

/*
 * ballast write: the manifest as new shards OUTDIR/00000.tar ... plus
 * OUTDIR/shards.txt (the shard names, one a line, relative to OUTDIR) and
 * OUTDIR/shards.json ({"format": "ballast-shards", "version": 1,
 * "manifest_sha256", "seed", "weights": "copies" | "ballast_weight",
 * "samples", "total_weight", "shards": [{"url" (relative), "samples",
 * "weight"}]}).  An entry with repeat count n (see bl_sampler_repeats) is
 * written n times, as KEY, KEY_r1 ... KEY_r(n-1); with fractional weights
 * each entry is written once and its json member gets "ballast_weight":
 * w (a json member is created when there is none; repeats set a stale
 * one to 1).  Placement, when some sample has copies: copy k of a
 * sample with n copies goes at position (k + u) / n of the output, u =
 * (stratum + v) / entries, the strata a permutation of the entries and v
 * uniform, all from bl_rng_seed2(seed, 2^63 + 1) in manifest order; so
 * copies are spread evenly over shards and positions, and every sample's
 * place is seeded.  When none has copies, samples are written in
 * (shard, ordinal) order, as read (one pass, no spool).
 * Members keep their names' extensions as written.  The same manifest
 * and seed give byte-identical shards.
 * Returns BL_OK (totals->failed may be > 0), BL_FAILED with a message in
 * err when an output cannot be written, BL_ENOMEM, BL_EUSAGE.
 */
int bl_export_write(const bl_sampler *s, const char *outdir,
		    const bl_export_options *opt, bl_export_totals *totals,
		    char *err, size_t errlen);
/*
 * Exports to trainers' layouts, under outdir:
 *  BL_EXPORT_WEBDATASET  shards.txt (absolute shard paths, one a line)
 *      and weights.jsonl ({"url", "key", "weight"} a line), for per-sample
 *      resampling in a webdataset pipeline; shards.json (format
 *      "ballast-webdataset", version 2: per shard url, samples, weight =
 *      sum of its entries', share), for information only: mixing whole
 *      shards by these weights does not weight the samples inside them.
 *      Nothing copied.
 *  BL_EXPORT_KOHYA  images and captions extracted to outdir/rN/ by
 *      integer repeat count N and outdir/dataset.toml for kohya-ss
 *      sd-scripts (--dataset_config), one subset per N with num_repeats
 *      = N, caption_extension ".txt".  N = weight x repeat_scale rounded
 *      stochastically: floor, plus one with probability of the fraction,
 *      drawn from bl_rng_seed2(seed, shard << 40 ^ ordinal) (shard: the
 *      entry's shard index in the sampler); 0 leaves the sample out
 *      (skipped, rounded_to_zero).  Captions are one line (line breaks
 *      become spaces); a sample without a caption is skipped.
 *  BL_EXPORT_HF  images extracted to outdir/ and outdir/metadata.jsonl
 *      with file_name, text, weight (always a float), key (the Hugging
 *      Face imagefolder layout; every file listed once).
 * Returns as bl_export_write.
 */
int bl_export_to(const bl_sampler *s, int kind, const char *outdir,
		 const bl_export_options *opt, bl_export_totals *totals,
		 char *err, size_t errlen);
/* "webdataset", "kohya", "hf" -> BL_EXPORT_*, -1 when unknown. */
int bl_export_kind_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* BALLAST_H */
