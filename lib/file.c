/*
 * file.c - writing a whole file atomically (git's lockfile discipline):
 * the bytes go to PATH.tmp, which is fsynced and renamed over PATH only
 * when everything was written; on any failure PATH is untouched and the
 * temporary file is removed.  Reports, trainer states, exports and the
 * synthetic truth tables all write through here.
 */
#include "ballast.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int bl_file_write_atomic(const char *path, const void *data, size_t len, char *err,
			 size_t errlen)
{
	bl_buf tmp;
	char dummy[1];
	int fd = -1, rc;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!path || (!data && len))
		return BL_EUSAGE;

	bl_buf_init(&tmp, 0);
	rc = bl_buf_addf(&tmp, "%s.tmp", path);
	if (rc != BL_OK) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = BL_FAILED;
	fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cannot write '%s': %s", tmp.buf, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "cannot sync '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errlen, "cannot close '%s': %s", tmp.buf, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp.buf, path) != 0) {
		snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp.buf, path,
			 strerror(errno));
		goto out;
	}
	rc = BL_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc != BL_OK && tmp.len)
		unlink(tmp.buf);
	bl_buf_release(&tmp);
	return rc;
}
