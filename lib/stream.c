/*
 * stream.c - the bytes of a shard, decompressed, with an exact account of
 * where the good data ends.
 *
 * libarchive could decompress shards on its own, but its filters drop the
 * output block they were filling when the input goes bad after it (a
 * .tar.zst or .tar.xz with junk appended loses up to the last 128 KiB of
 * tar, which on a small shard is every sample), and its gzip and bzip2
 * filters stop at junk without a word.  So shards compressed with gzip,
 * bzip2, xz or zstd are decompressed here, with zlib, libbz2, liblzma and
 * libzstd, and libarchive reads the tar from this stream: every byte
 * decoded before a problem is handed on, and the problem (junk after the
 * last member, a corrupt member, input cut short) is kept with its
 * compressed offset for the reader to report.  Several members (pigz,
 * pbzip2, concatenated streams and frames) follow one another; zero bytes
 * after the last member are padding, not junk.
 *
 * Anything else (a plain tar, or a compression this file does not know)
 * passes through untouched; libarchive's own filters still see it.
 * Limits: an xz stream may not ask for more than 256 MiB of decoder
 * memory, a zstd frame for a window over 128 MiB: both are corrupt input
 * here, never an allocation spiral.
 */
#include "error_int.h"
#include "shard_int.h"

#include <bzlib.h>
#include <errno.h>
#include <limits.h>
#include <lzma.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IN_BLOCK ((size_t)128 << 10)
/* The first read of a source asks for this much, each next one for twice
 * as much up to IN_BLOCK: a tar entered at one sample (random access)
 * does not read 128 KiB for a sample of a few KB, and a pass through a
 * shard is at full blocks after four reads. */
#define IN_FIRST ((size_t)16 << 10)
#define OUT_BLOCK ((size_t)128 << 10)
#define XZ_MEMLIMIT ((uint64_t)256 << 20)
#define ZSTD_WINDOW_LOG_MAX 27

enum { ST_RUN, ST_DONE };

struct bl_stream {
	int fmt;
	int state;
	/* source: a file descriptor (borrowed) or memory (borrowed) */
	int fd;
	int fd_seekable;
	unsigned char *inbuf;
	const unsigned char *in; /* unconsumed input */
	size_t in_avail;
	int in_eof;              /* nothing more to read from the source */
	size_t in_chunk;         /* bytes the next read asks for */
	int64_t in_pos;          /* source bytes consumed: offset of in[0] */
	/* decoder */
	int member_open;
	int members;
	z_stream z;
	int z_init;
	lzma_stream x;
	bz_stream b;
	int b_init;
	ZSTD_DStream *zd;
	unsigned char *out;
	/* outcome */
	int err;
	int64_t err_offset, junk_bytes;
	char msg[256];
};

static const char *const fmt_names[] = {"none", "gzip", "bzip2", "xz", "zstd"};

const char *bl_stream_format_name(int fmt)
{
	return fmt >= 0 && fmt <= BL_Z_ZSTD ? fmt_names[fmt] : "unknown";
}

bl_stream *bl_stream_new(void)
{
	bl_stream *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->fd = -1;
	return s;
}

static void decoder_end(bl_stream *s)
{
	if (s->z_init)
		inflateEnd(&s->z);
	s->z_init = 0;
	lzma_end(&s->x);
	if (s->b_init)
		BZ2_bzDecompressEnd(&s->b);
	s->b_init = 0;
}

void bl_stream_close(bl_stream *s)
{
	if (!s)
		return;
	decoder_end(s);
	s->fd = -1;
	s->in = NULL;
	s->in_avail = 0;
	s->state = ST_DONE;
}

void bl_stream_free(bl_stream *s)
{
	if (!s)
		return;
	bl_stream_close(s);
	if (s->zd)
		ZSTD_freeDStream(s->zd);
	free(s->inbuf);
	free(s->out);
	free(s);
}

static void set_error(bl_stream *s, int err, int64_t offset, const char *fmt, ...)
	__attribute__((format(__printf__, 4, 5)));

static void set_error(bl_stream *s, int err, int64_t offset, const char *fmt, ...)
{
	va_list ap;
	s->err = err;
	s->err_offset = offset;
	va_start(ap, fmt);
	bl_error_vset(s->msg, sizeof s->msg, fmt, ap);
	va_end(ap);
	s->state = ST_DONE;
}

static void consume(bl_stream *s, size_t n)
{
	s->in += n;
	s->in_avail -= n;
	s->in_pos += (int64_t)n;
}

/* Make at least k bytes available when the source has them (k is small:
 * a magic number).  Returns 1 when in_avail >= k afterwards. */
static int need(bl_stream *s, size_t k)
{
	while (s->in_avail < k && !s->in_eof) {
		size_t want;
		ssize_t n;
		if (s->in_avail && s->in != s->inbuf)
			memmove(s->inbuf, s->in, s->in_avail);
		s->in = s->inbuf;
		want = IN_BLOCK - s->in_avail < s->in_chunk ? IN_BLOCK - s->in_avail : s->in_chunk;
		if (s->in_chunk < IN_BLOCK)
			s->in_chunk *= 2;
		n = read(s->fd, s->inbuf + s->in_avail, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_error(s, BL_STREAM_IO, s->in_pos, "read error: %s", strerror(errno));
			s->in_eof = 1;
			return 0;
		}
		if (n == 0)
			s->in_eof = 1;
		s->in_avail += (size_t)n;
	}
	return s->in_avail >= k;
}

static int detect(const unsigned char *p, size_t n)
{
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return BL_Z_GZIP;
	if (n >= 4 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h' && p[3] >= '1' && p[3] <= '9')
		return BL_Z_BZIP2;
	if (n >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6))
		return BL_Z_XZ;
	if (n >= 4) {
		uint32_t m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			     (uint32_t)p[3] << 24;
		if (m == ZSTD_MAGICNUMBER || (m & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START)
			return BL_Z_ZSTD;
	}
	return BL_Z_NONE;
}

static int start(bl_stream *s, int detect_format)
{
	decoder_end(s);
	s->state = ST_RUN;
	s->member_open = 0;
	s->members = 0;
	s->err = BL_STREAM_OK;
	s->err_offset = -1;
	s->junk_bytes = 0;
	s->msg[0] = '\0';
	s->in_pos = 0;
	memset(&s->x, 0, sizeof s->x);
	s->x = (lzma_stream)LZMA_STREAM_INIT;
	if (!s->out && !(s->out = malloc(OUT_BLOCK)))
		return BL_ENOMEM;
	/* what the first bytes say (a short source is whatever it is) */
	s->fmt = BL_Z_NONE;
	if (detect_format) {
		need(s, 6);
		s->fmt = detect(s->in, s->in_avail);
	}
	return BL_OK;
}

static int open_fd(bl_stream *s, int fd, int detect_format)
{
	struct stat st;

	if (!s || fd < 0)
		return BL_EUSAGE;
	bl_stream_close(s);
	if (!s->inbuf && !(s->inbuf = malloc(IN_BLOCK)))
		return BL_ENOMEM;
	s->fd = fd;
	s->fd_seekable = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
			 lseek(fd, 0, SEEK_CUR) >= 0;
	s->in = s->inbuf;
	s->in_avail = 0;
	s->in_eof = 0;
	s->in_chunk = IN_FIRST;
	return start(s, detect_format);
}

int bl_stream_open_fd(bl_stream *s, int fd)
{
	return open_fd(s, fd, 1);
}

int bl_stream_open_fd_plain(bl_stream *s, int fd)
{
	return open_fd(s, fd, 0);
}

int bl_stream_open_memory(bl_stream *s, const void *data, size_t len)
{
	if (!s || (!data && len))
		return BL_EUSAGE;
	bl_stream_close(s);
	s->fd = -1;
	s->fd_seekable = 0;
	s->in = data;
	s->in_avail = len;
	s->in_eof = 1;
	return start(s, 1);
}

int bl_stream_format(const bl_stream *s)
{
	return s ? s->fmt : BL_Z_NONE;
}

int64_t bl_stream_in_bytes(const bl_stream *s)
{
	return s ? s->in_pos : 0;
}

int bl_stream_error(const bl_stream *s, int64_t *offset, int64_t *junk, const char **msg)
{
	if (!s)
		return BL_STREAM_OK;
	if (offset)
		*offset = s->err_offset;
	if (junk)
		*junk = s->junk_bytes;
	if (msg)
		*msg = s->msg;
	return s->err;
}

/* Open the next member, or decide what the bytes after the last one
 * are: nothing, zero padding, or junk. */
static int next_member(bl_stream *s)
{
	int64_t at = s->in_pos, nonzero = -1;

	if (!need(s, 1)) {
		s->state = ST_DONE;
		return 0;
	}
	need(s, 6);
	if (detect(s->in, s->in_avail) == s->fmt) {
		int ok = 1;
		switch (s->fmt) {
		case BL_Z_GZIP:
			if (!s->z_init) {
				memset(&s->z, 0, sizeof s->z);
				ok = inflateInit2(&s->z, 15 + 16) == Z_OK;
				s->z_init = ok;
			} else {
				ok = inflateReset(&s->z) == Z_OK;
			}
			break;
		case BL_Z_BZIP2:
			if (s->b_init)
				BZ2_bzDecompressEnd(&s->b);
			memset(&s->b, 0, sizeof s->b);
			ok = BZ2_bzDecompressInit(&s->b, 0, 0) == BZ_OK;
			s->b_init = ok;
			break;
		case BL_Z_XZ:
			ok = lzma_stream_decoder(&s->x, XZ_MEMLIMIT, 0) == LZMA_OK;
			break;
		case BL_Z_ZSTD:
			if (!s->zd) {
				s->zd = ZSTD_createDStream();
				ok = s->zd && !ZSTD_isError(ZSTD_DCtx_setParameter(
					      s->zd, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX));
			}
			ok = ok && !ZSTD_isError(ZSTD_DCtx_reset(s->zd, ZSTD_reset_session_only));
			break;
		default:
			ok = 0;
		}
		if (!ok) {
			set_error(s, BL_STREAM_NOMEM, at, "%s: cannot start the decoder (out of memory)",
				  fmt_names[s->fmt]);
			return -1;
		}
		s->member_open = 1;
		s->members++;
		return 1;
	}
	/* not another member: zero padding is fine, anything else is junk
	 * (counted to the end of the source) */
	for (;;) {
		for (size_t i = 0; i < s->in_avail; i++)
			if (s->in[i]) {
				nonzero = s->in_pos + (int64_t)i;
				break;
			}
		if (nonzero >= 0)
			break;
		consume(s, s->in_avail);
		if (!need(s, 1))
			break;
	}
	if (nonzero >= 0) {
		do
			consume(s, s->in_avail);
		while (need(s, 1));
		s->junk_bytes = s->in_pos - nonzero;
		set_error(s, BL_STREAM_JUNK, nonzero,
			  "%lld bytes of junk after the %s data, at compressed offset %lld",
			  (long long)s->junk_bytes, fmt_names[s->fmt], (long long)nonzero);
		return -1;
	}
	s->state = ST_DONE;
	return 0;
}

/* Decode from the input into out[*produced..OUT_BLOCK).  Returns 1 when
 * the member ended, 0 to go on, -1 on an error (set). */
static int decode(bl_stream *s, size_t *produced)
{
	size_t room = OUT_BLOCK - *produced, in_n = s->in_avail, out_n = 0, used = 0;
	int finish = s->in_eof && s->in_avail == 0, ended = 0, bad = 0;
	const char *why = NULL;
	char zwhy[128];

	if (in_n > UINT_MAX)
		in_n = UINT_MAX;
	switch (s->fmt) {
	case BL_Z_GZIP: {
		int zr;
		s->z.next_in = (Bytef *)(uintptr_t)s->in;
		s->z.avail_in = (uInt)in_n;
		s->z.next_out = s->out + *produced;
		s->z.avail_out = (uInt)room;
		zr = inflate(&s->z, Z_NO_FLUSH);
		used = in_n - s->z.avail_in;
		out_n = room - s->z.avail_out;
		if (zr == Z_STREAM_END)
			ended = 1;
		else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			bad = 1;
			snprintf(zwhy, sizeof zwhy, "%s", s->z.msg ? s->z.msg : "invalid data");
			why = zwhy;
		}
		break;
	}
	case BL_Z_BZIP2: {
		int br;
		s->b.next_in = (char *)(uintptr_t)s->in;
		s->b.avail_in = (unsigned)in_n;
		s->b.next_out = (char *)s->out + *produced;
		s->b.avail_out = (unsigned)room;
		br = BZ2_bzDecompress(&s->b);
		used = in_n - s->b.avail_in;
		out_n = room - s->b.avail_out;
		if (br == BZ_STREAM_END)
			ended = 1;
		else if (br != BZ_OK) {
			bad = 1;
			why = br == BZ_MEM_ERROR ? "out of memory" : "invalid data";
		}
		break;
	}
	case BL_Z_XZ: {
		lzma_ret xr;
		s->x.next_in = s->in;
		s->x.avail_in = in_n;
		s->x.next_out = s->out + *produced;
		s->x.avail_out = room;
		xr = lzma_code(&s->x, finish ? LZMA_FINISH : LZMA_RUN);
		used = in_n - s->x.avail_in;
		out_n = room - s->x.avail_out;
		if (xr == LZMA_STREAM_END)
			ended = 1;
		else if (xr != LZMA_OK && !(xr == LZMA_BUF_ERROR && !finish)) {
			bad = 1;
			why = xr == LZMA_MEMLIMIT_ERROR ? "the stream needs more decoder memory than the 256 MiB limit"
			      : xr == LZMA_MEM_ERROR	? "out of memory"
			      : xr == LZMA_BUF_ERROR	? "input cut short"
							: "corrupt data";
		}
		break;
	}
	case BL_Z_ZSTD: {
		ZSTD_inBuffer zi = {s->in, in_n, 0};
		ZSTD_outBuffer zo = {s->out + *produced, room, 0};
		size_t zr = ZSTD_decompressStream(s->zd, &zo, &zi);
		used = zi.pos;
		out_n = zo.pos;
		if (ZSTD_isError(zr)) {
			bad = 1;
			why = ZSTD_getErrorName(zr);
		} else if (zr == 0) {
			ended = 1;
		}
		break;
	}
	default:
		break;
	}
	consume(s, used);
	*produced += out_n;
	if (bad) {
		set_error(s, BL_STREAM_CORRUPT, s->in_pos, "%s: %s (at compressed offset %lld)",
			  fmt_names[s->fmt], why, (long long)s->in_pos);
		return -1;
	}
	if (ended) {
		s->member_open = 0;
		return 1;
	}
	if (!used && !out_n && finish) {
		set_error(s, BL_STREAM_TRUNCATED, s->in_pos,
			  "%s data cut short at compressed offset %lld", fmt_names[s->fmt],
			  (long long)s->in_pos);
		return -1;
	}
	return 0;
}

ssize_t bl_stream_read(bl_stream *s, const void **p)
{
	size_t produced = 0;

	*p = NULL;
	if (!s || s->state == ST_DONE)
		return 0;
	if (s->fmt == BL_Z_NONE) {
		ssize_t n;
		if (!need(s, 1)) {
			s->state = ST_DONE;
			return 0;
		}
		*p = s->in;
		n = (ssize_t)s->in_avail;
		consume(s, s->in_avail);
		return n;
	}
	while (produced < OUT_BLOCK && s->state == ST_RUN) {
		if (!s->member_open) {
			if (next_member(s) <= 0)
				break;
			continue;
		}
		if (!s->in_avail && !s->in_eof && !need(s, 1) && s->state == ST_DONE)
			break;
		if (decode(s, &produced) < 0)
			break;
	}
	*p = s->out;
	return (ssize_t)produced;
}

int64_t bl_stream_skip(bl_stream *s, int64_t n)
{
	int64_t done = 0;
	if (!s || s->fmt != BL_Z_NONE || n <= 0)
		return 0;
	if ((int64_t)s->in_avail >= n) {
		consume(s, (size_t)n);
		return n;
	}
	done = (int64_t)s->in_avail;
	consume(s, s->in_avail);
	if (s->fd >= 0 && s->fd_seekable && !s->in_eof) {
		struct stat st;
		off_t cur = lseek(s->fd, 0, SEEK_CUR);
		int64_t want = n - done;
		/* never seek past the end: what is not there is not skipped */
		if (cur >= 0 && fstat(s->fd, &st) == 0) {
			if ((int64_t)cur + want > (int64_t)st.st_size)
				want = (int64_t)st.st_size - (int64_t)cur;
			if (want > 0 && lseek(s->fd, (off_t)want, SEEK_CUR) >= 0) {
				s->in_pos += want;
				done += want;
			}
		}
	}
	return done;
}

int bl_stream_inflate(const void *data, size_t len, bl_buf *out, size_t cap, char *err,
		      size_t errlen)
{
	bl_stream *s = bl_stream_new();
	const void *p;
	ssize_t n;
	int rc = BL_FAILED;

	bl_buf_reset(out);
	if (!s || bl_stream_open_memory(s, data, len) != BL_OK) {
		bl_error_set(err, errlen, "out of memory");
		bl_stream_free(s);
		return BL_ENOMEM;
	}
	if (s->fmt == BL_Z_NONE) {
		bl_error_set(err, errlen, "not compressed data (no gzip, bzip2, xz or zstd header)");
		goto out;
	}
	while ((n = bl_stream_read(s, &p)) > 0) {
		if (out->len + (size_t)n > cap) {
			bl_error_set(err, errlen, "decompresses to more than the %zu-byte limit", cap);
			rc = BL_STREAM_TOOBIG;
			goto out;
		}
		if (bl_buf_add(out, p, (size_t)n) != BL_OK) {
			bl_error_set(err, errlen, "out of memory");
			rc = BL_ENOMEM;
			goto out;
		}
	}
	if (s->err != BL_STREAM_OK) {
		bl_error_set(err, errlen, "%s", s->msg);
		goto out;
	}
	rc = BL_OK;
out:
	if (rc != BL_OK)
		bl_buf_reset(out);
	bl_stream_free(s);
	return rc;
}
