/*
 * shard_int.h - what the shard reader (lib/shard.c) shares with the rest
 * of the library: the decompressed byte stream under it (lib/stream.c)
 * and the guard that turns a fault on a mapped shard into an error.  Not
 * part of the public interface.
 */
#ifndef BL_SHARD_INT_H
#define BL_SHARD_INT_H

#include "ballast.h"

#include <sys/types.h>

/* ---- lib/stream.c: a shard's bytes, decompressed ---------------------- */

enum { BL_Z_NONE = 0, BL_Z_GZIP, BL_Z_BZIP2, BL_Z_XZ, BL_Z_ZSTD };

/* How a stream ended (bl_stream_error). */
enum {
	BL_STREAM_OK = 0,    /* clean end (zero padding after the data is fine) */
	BL_STREAM_JUNK,      /* bytes after the last member that are not one */
	BL_STREAM_CORRUPT,   /* the decoder refused the data */
	BL_STREAM_TRUNCATED, /* the source ended inside a member */
	BL_STREAM_IO,        /* read error */
	BL_STREAM_NOMEM
};
/* bl_stream_inflate: the output passed its cap */
#define BL_STREAM_TOOBIG (-10)

typedef struct bl_stream bl_stream;

bl_stream *bl_stream_new(void);
void bl_stream_free(bl_stream *s);
/* Start reading fd (borrowed, read from its current position) or data
 * (borrowed until close); the format comes from the first bytes.
 * BL_OK, BL_ENOMEM, BL_EUSAGE. */
int bl_stream_open_fd(bl_stream *s, int fd);
int bl_stream_open_memory(bl_stream *s, const void *data, size_t len);
/* As bl_stream_open_fd, for bytes known to be uncompressed (a tar entered
 * at a member's header, whose name may begin like a magic number): no
 * format is looked for. */
int bl_stream_open_fd_plain(bl_stream *s, int fd);
/* Forget the source (the handle can be opened again). */
void bl_stream_close(bl_stream *s);
/* BL_Z_* of the open stream, and its name ("none", "gzip", ...). */
int bl_stream_format(const bl_stream *s);
const char *bl_stream_format_name(int fmt);
/* The next block of decompressed bytes in *p (borrowed until the next
 * call): > 0 its length, 0 at the end (then see bl_stream_error).  Every
 * byte decoded before a problem is delivered first. */
ssize_t bl_stream_read(bl_stream *s, const void **p);
/* Skip n bytes of an uncompressed stream (by seeking a regular file);
 * returns the bytes skipped (fewer at the end of the source, 0 when
 * compressed). */
int64_t bl_stream_skip(bl_stream *s, int64_t n);
/* Bytes of the source consumed so far (the compressed side). */
int64_t bl_stream_in_bytes(const bl_stream *s);
/* BL_STREAM_*; *offset the source offset it refers to, *junk the bytes of
 * junk, *msg the description (owned by s).  Any pointer may be NULL. */
int bl_stream_error(const bl_stream *s, int64_t *offset, int64_t *junk,
		    const char **msg);
/*
 * Decompress a whole buffer (gzip, bzip2, xz or zstd, found from its
 * bytes) into out, at most cap bytes.  BL_OK; BL_STREAM_TOOBIG when the
 * output passes cap; BL_FAILED (not compressed, corrupt, junk after it,
 * cut short); BL_ENOMEM.  err gets the reason; out is empty on failure.
 */
int bl_stream_inflate(const void *data, size_t len, bl_buf *out, size_t cap,
		      char *err, size_t errlen);

/* ---- lib/shard.c: faults on a mapped shard --------------------------- */

/*
 * A shard that is an uncompressed regular file is mapped into memory.
 * When another process truncates it meanwhile, touching the pages past
 * the new end raises SIGBUS.  The reader catches that around every access
 * it makes (a process-wide handler, installed once, that jumps back only
 * when the faulting address lies in the mapping the calling thread is
 * guarding, and otherwise hands the signal to the handler installed
 * before, or to the default action).
 *
 * bl_reader_guarded calls fn(arg) the same way, for callers that read
 * sample bytes which point into the map (an image head loaded with
 * BL_LOAD_IMAGE_HEAD): it returns fn's result, or BL_FATAL when the shard
 * was cut under it (bl_reader_errmsg says so, and the reader's shard is
 * over: the next bl_reader_next returns BL_END).  Without a mapped shard
 * it just calls fn.
 */
int bl_reader_guarded(bl_reader *r, int (*fn)(void *arg), void *arg);

/* ---- lib/shard.c: reading by offsets -------------------------- */

/*
 * Whether the uncompressed regular files opened next are mapped into
 * memory (map 1, the default: reading a shard through, skipping an image
 * is a pointer move) or read with read() from the offsets asked (map 0:
 * for samples scattered over many shards, bl_reader_seek, where mapping
 * and unmapping a shard per sample costs more in page tables than the
 * copy).  BALLAST_NO_MMAP=1 turns mapping off for every reader.  From the
 * next bl_reader_open on.  BL_OK; BL_EUSAGE when r is NULL.
 */
int bl_reader_set_mapping(bl_reader *r, int map);

#endif
