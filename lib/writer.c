/*
 * writer.c - writes WebDataset tar shards, reproducibly and atomically.
 *
 * Format: POSIX pax, restricted: a plain ustar header for every member
 * whose name and size fit (as GNU tar, Python's tarfile and webdataset
 * read it), an extended header only for what ustar cannot hold: names
 * over 100 bytes (keys are unbounded), names that are not ASCII (kept as
 * bytes, hdrcharset=BINARY, which libarchive and Python read back as
 * written; GNU tar warns about the keyword and reads them too), sizes of
 * 8 GiB and more.
 * Reproducible: every header carries the same mtime, owner and mode, and
 * the gzip filter writes no timestamp, so the same members in the same
 * order give the same bytes.  Atomic: the archive goes to a temporary
 * file beside PATH (lib/file.c: unpredictable name, O_EXCL), which is
 * fsynced and renamed over PATH only when everything was written (git's
 * lockfile.h discipline); a failure or a free without close removes it.
 */
#include "error_int.h"
#include "ballast.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BL_WRITER_MTIME 1700000000 /* fixed: 2023-11-14, any constant will do */

struct bl_writer {
	struct archive *a;
	struct archive_entry *e;
	bl_file_out out;
	int open;          /* out holds a file */
	char *path;
	bl_buf name;
	bl_buf errmsg;
};

static void werr(bl_writer *w, const char *fmt, ...) __attribute__((format(__printf__, 2, 3)));

static void werr(bl_writer *w, const char *fmt, ...)
{
	va_list ap;
	char tail[1024];
	va_start(ap, fmt);
	bl_error_vset(tail, sizeof tail, fmt, ap);
	va_end(ap);
	bl_error_buf(&w->errmsg, BL_FAILED, "shard '%s': %s", w->path ? w->path : "(none)", tail);
}

bl_writer *bl_writer_new(void)
{
	bl_writer *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	bl_buf_init(&w->name, 0);
	bl_buf_init(&w->errmsg, 4096);
	return w;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void abandon(bl_writer *w)
{
	if (w->a) {
		archive_write_free(w->a); /* may flush to fd; the file goes anyway */
		w->a = NULL;
	}
	if (w->open) {
		bl_file_out_abort(&w->out);
		w->open = 0;
	}
	free(w->path);
	w->path = NULL;
}

int bl_writer_open(bl_writer *w, const char *path)
{
	int rc = BL_FAILED;
	char msg[1024];

	if (!w || !path)
		return BL_EUSAGE;
	abandon(w);
	w->path = strdup(path);
	if (!w->path) {
		werr(w, "out of memory");
		goto out;
	}
	if (bl_file_out_open(&w->out, path, 0, msg, sizeof msg) != BL_OK) {
		werr(w, "%s", msg);
		goto out;
	}
	w->open = 1;
	w->a = archive_write_new();
	if (!w->e)
		w->e = archive_entry_new();
	if (!w->a || !w->e) {
		werr(w, "out of memory");
		goto out;
	}
	if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK)
		goto arch;
	if (ends_with(path, ".gz") || ends_with(path, ".tgz")) {
		if (archive_write_add_filter_gzip(w->a) != ARCHIVE_OK ||
		    archive_write_set_filter_option(w->a, "gzip", "timestamp", NULL) < ARCHIVE_WARN)
			goto arch;
	} else if (ends_with(path, ".zst")) {
		if (archive_write_add_filter_zstd(w->a) != ARCHIVE_OK)
			goto arch;
	} else if (ends_with(path, ".xz")) {
		if (archive_write_add_filter_xz(w->a) != ARCHIVE_OK)
			goto arch;
	}
	/* no padding of the last block beyond the tar standard */
	archive_write_set_bytes_in_last_block(w->a, 1);
	if (archive_write_open_fd(w->a, w->out.fd) != ARCHIVE_OK)
		goto arch;
	rc = BL_OK;
	goto out;
arch:
	werr(w, "%s", archive_error_string(w->a) ? archive_error_string(w->a)
						  : "cannot set up the archive writer");
out:
	if (rc != BL_OK)
		abandon(w);
	return rc;
}

int bl_writer_add(bl_writer *w, const char *key, const char *ext,
		  const void *data, size_t len)
{
	la_ssize_t n;

	if (!w || !w->a || !key || !ext)
		return BL_EUSAGE;
	bl_buf_reset(&w->name);
	if (bl_buf_addf(&w->name, "%s.%s", key, ext) != BL_OK) {
		werr(w, "member name too long");
		return BL_FAILED;
	}
	archive_entry_clear(w->e);
	archive_entry_set_pathname(w->e, w->name.buf);
	archive_entry_set_filetype(w->e, AE_IFREG);
	archive_entry_set_perm(w->e, 0644);
	archive_entry_set_size(w->e, (la_int64_t)len);
	archive_entry_set_mtime(w->e, BL_WRITER_MTIME, 0);
	archive_entry_set_uid(w->e, 0);
	archive_entry_set_gid(w->e, 0);
	archive_entry_set_uname(w->e, "ballast");
	archive_entry_set_gname(w->e, "ballast");
	/* ARCHIVE_WARN: written, e.g. a name that is not UTF-8 stored as
	 * binary (hdrcharset=BINARY), as the reader will read it back */
	if (archive_write_header(w->a, w->e) < ARCHIVE_WARN) {
		werr(w, "member '%s': %s", w->name.buf, archive_error_string(w->a));
		return BL_FAILED;
	}
	n = len ? archive_write_data(w->a, data, len) : 0;
	if (n < 0 || (size_t)n != len) {
		werr(w, "member '%s': %s", w->name.buf,
		     archive_error_string(w->a) ? archive_error_string(w->a) : "short write");
		return BL_FAILED;
	}
	return BL_OK;
}

int bl_writer_close(bl_writer *w)
{
	int rc = BL_FAILED;
	char msg[1024];

	if (!w || !w->a)
		return BL_EUSAGE;
	if (archive_write_close(w->a) != ARCHIVE_OK) {
		werr(w, "%s", archive_error_string(w->a));
		goto out;
	}
	archive_write_free(w->a);
	w->a = NULL;
	w->open = 0;
	if (bl_file_out_commit(&w->out, msg, sizeof msg) != BL_OK) {
		werr(w, "%s", msg);
		goto out;
	}
	rc = BL_OK;
out:
	abandon(w);
	return rc;
}

const char *bl_writer_errmsg(const bl_writer *w)
{
	return w && w->errmsg.len ? w->errmsg.buf : "no error";
}

void bl_writer_free(bl_writer *w)
{
	if (!w)
		return;
	abandon(w);
	if (w->e)
		archive_entry_free(w->e);
	bl_buf_release(&w->name);
	bl_buf_release(&w->errmsg);
	free(w);
}
