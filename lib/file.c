/*
 * file.c - writing a whole file atomically (git's lockfile discipline):
 * the bytes go to PATH.tmp, which is fsynced and renamed over PATH only
 * when everything was written; on any failure PATH is untouched and the
 * temporary file is removed.  Reports, trainer states, exports and the
 * synthetic truth tables all write through here.  Whole directories
 * (manifests) are built beside their place and swapped in
 * (bl_file_dir_begin / bl_file_dir_publish).
 */
#define _XOPEN_SOURCE 700
#include "ballast.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* ---- directories published whole (manifests; exports may use them) --- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void bl_file_dir_remove(const char *path)
{
	if (path && *path)
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return -1;
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = -1;
	close(fd);
	return rc;
}

int bl_file_dir_begin(const char *path, bl_buf *tmp, char *err, size_t errlen)
{
	size_t at;
	mode_t um;
	char dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!path || !tmp)
		return BL_EUSAGE;
	at = tmp->len;
	if (bl_buf_addf(tmp, "%s.tmp-XXXXXX", path) != BL_OK) {
		snprintf(err, errlen, "out of memory");
		return BL_FAILED;
	}
	if (!mkdtemp(tmp->buf + at)) {
		snprintf(err, errlen, "cannot create '%s': %s", tmp->buf + at, strerror(errno));
		tmp->len = at;
		tmp->buf[at] = '\0';
		return BL_FAILED;
	}
	/* mkdtemp makes it 0700; the output is as readable as any file the
	 * user creates */
	um = umask(0);
	umask(um);
	chmod(tmp->buf + at, 0777 & ~um);
	return BL_OK;
}

int bl_file_dir_publish(const char *tmp, const char *path, int replace,
			char *err, size_t errlen)
{
	struct stat sb;
	bl_buf old, parent;
	const char *slash;
	int rc = BL_FAILED, moved = 0;
	char dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!tmp || !path)
		return BL_EUSAGE;
	bl_buf_init(&old, 0);
	bl_buf_init(&parent, 0);
	if (fsync_path(tmp) != 0) {
		snprintf(err, errlen, "cannot sync '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (lstat(path, &sb) == 0) {
		if (!replace) {
			snprintf(err, errlen, "'%s' exists (use --force to replace it)", path);
			goto out;
		}
		if (bl_buf_addf(&old, "%s.old", tmp) != BL_OK) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		if (rename(path, old.buf) != 0) {
			snprintf(err, errlen, "cannot move '%s' aside: %s", path, strerror(errno));
			goto out;
		}
		moved = 1;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		if (moved && rename(old.buf, path) == 0)
			moved = 0;
		goto out;
	}
	if (moved)
		bl_file_dir_remove(old.buf);
	moved = 0;
	/* the rename is durable once the parent directory is synced */
	slash = strrchr(path, '/');
	if (slash)
		bl_buf_add(&parent, path, slash == path ? 1 : (size_t)(slash - path));
	else
		bl_buf_addch(&parent, '.');
	fsync_path(parent.buf);
	rc = BL_OK;
out:
	bl_buf_release(&old);
	bl_buf_release(&parent);
	return rc;
}
