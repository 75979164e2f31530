/*
 * file.c - writing files and directories so that a reader never sees half
 * of one, and a planted name never redirects a write.
 *
 * One file (bl_file_out, git's lockfile discipline): the bytes go to a new
 * temporary file beside NAME, ".NAME.XXXXXX", made by mkostemp (O_EXCL:
 * a symlink planted under a predictable name is never followed, because
 * the name is not predictable and an existing one is never opened), which
 * is fsynced and renamed over NAME only when everything was written.  On
 * any failure NAME is untouched and the temporary file removed.  A NAME
 * that is a character device, FIFO or socket (/dev/null, /dev/stdout on a
 * pipe or terminal), and any NAME under /dev or /proc, is written in place
 * and never replaced: renaming over /dev/null would turn the device into
 * a regular file.  A symlink NAME pointing at a regular file is replaced
 * (the link, not its target).
 *
 * One directory (bl_file_dir): built as OUTDIR.tmp-XXXXXX beside OUTDIR,
 * synced once (syncfs: one flush for every file in it, not one fsync per
 * file), then renamed into place; an old OUTDIR is swapped out in one
 * renameat2(RENAME_EXCHANGE) and removed.  A reader sees the old
 * directory or the new one, never a mix, and a killed run leaves only the
 * temporary directory, under a name no reader looks for.
 */
#include "file_int.h"
#include "error_int.h"
#include "ballast.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* The directory part of path ("." when none) into out. */
static int dir_of(const char *path, bl_buf *out)
{
	const char *slash = strrchr(path, '/');
	bl_buf_reset(out);
	if (!slash)
		return bl_buf_addch(out, '.');
	return bl_buf_add(out, path, slash == path ? 1 : (size_t)(slash - path));
}

/* 1 when path lies under /dev or /proc (after resolving its directory):
 * places of devices and of the process's own descriptors, never of files
 * to be replaced. */
static int special_place(const char *path)
{
	bl_buf d;
	char real[PATH_MAX];
	int special = 0;

	bl_buf_init(&d, 0);
	if (dir_of(path, &d) == BL_OK && realpath(d.buf, real))
		special = !strcmp(real, "/dev") || !strncmp(real, "/dev/", 5) ||
			  !strcmp(real, "/proc") || !strncmp(real, "/proc/", 6);
	bl_buf_release(&d);
	return special;
}

static int write_all(int fd, const void *data, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
	int rc;
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* ---- one file ---------------------------------------------------------- */

static void out_clear(bl_file_out *o)
{
	free(o->path);
	free(o->tmp);
	o->path = o->tmp = NULL;
	o->fd = -1;
	o->direct = 0;
}

int bl_file_out_open(bl_file_out *o, const char *path, unsigned flags, char *err,
		     size_t errlen)
{
	struct stat lst, st;
	bl_buf t;
	const char *base;
	int rc = BL_FAILED;

	if (!o)
		return BL_EUSAGE;
	memset(o, 0, sizeof *o);
	o->fd = -1;
	if (!path || !*path) {
		bl_error_set(err, errlen, "no output file name");
		return BL_EUSAGE;
	}
	o->flags = flags;
	bl_buf_init(&t, 0);
	if (!(o->path = strdup(path)))
		goto nomem;
	if (lstat(path, &lst) == 0) {
		int follows = S_ISLNK(lst.st_mode) && stat(path, &st) == 0;
		const struct stat *s = follows ? &st : &lst;
		if (S_ISDIR(s->st_mode)) {
			bl_error_set(err, errlen, "'%s' is a directory", path);
			goto out;
		}
		if (S_ISCHR(s->st_mode) || S_ISFIFO(s->st_mode) || S_ISSOCK(s->st_mode) ||
		    S_ISBLK(s->st_mode) || special_place(path)) {
			/* write in place: never rename over a device or FIFO */
			o->fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC |
					   (S_ISREG(s->st_mode) ? O_TRUNC : 0));
			if (o->fd < 0) {
				bl_error_set(err, errlen, "cannot open '%s': %s", path, strerror(errno));
				goto out;
			}
			o->direct = 1;
			rc = BL_OK;
			goto out;
		}
	} else if (errno != ENOENT) {
		bl_error_set(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	} else if (special_place(path)) {
		bl_error_set(err, errlen, "will not create '%s' under /dev or /proc", path);
		goto out;
	}
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!*base) {
		bl_error_set(err, errlen, "'%s' names a directory", path);
		goto out;
	}
	if (bl_buf_add(&t, path, (size_t)(base - path)) != BL_OK ||
	    bl_buf_addf(&t, ".%s.XXXXXX", base) != BL_OK)
		goto nomem;
	o->fd = mkostemp(t.buf, O_CLOEXEC);
	if (o->fd < 0) {
		bl_error_set(err, errlen, "cannot create a temporary file beside '%s': %s", path,
		     strerror(errno));
		goto out;
	}
	{
		/* mkostemp makes 0600; the file gets what open(0666) would */
		mode_t um = umask(0);
		umask(um);
		if (fchmod(o->fd, 0666 & ~um) != 0) {
			bl_error_set(err, errlen, "cannot set the mode of '%s': %s", t.buf, strerror(errno));
			close(o->fd);
			o->fd = -1;
			unlink(t.buf);
			goto out;
		}
	}
	o->tmp = bl_buf_detach(&t, NULL);
	if (!o->tmp) {
		close(o->fd);
		o->fd = -1;
		unlink(t.buf);
		goto nomem;
	}
	rc = BL_OK;
	goto out;
nomem:
	bl_error_set(err, errlen, "out of memory");
	rc = BL_ENOMEM;
out:
	bl_buf_release(&t);
	if (rc != BL_OK)
		out_clear(o);
	return rc;
}

int bl_file_out_commit(bl_file_out *o, char *err, size_t errlen)
{
	int rc = BL_FAILED;

	if (!o || o->fd < 0 || !o->path)
		return BL_EUSAGE;
	if (o->direct) {
		if (close(o->fd) != 0) {
			o->fd = -1;
			bl_error_set(err, errlen, "cannot close '%s': %s", o->path, strerror(errno));
			goto out;
		}
		o->fd = -1;
		rc = BL_OK;
		goto out;
	}
	if (!(o->flags & BL_FILE_NOSYNC) && fsync(o->fd) != 0) {
		bl_error_set(err, errlen, "cannot sync '%s': %s", o->tmp, strerror(errno));
		goto out;
	}
	if (close(o->fd) != 0) {
		o->fd = -1;
		bl_error_set(err, errlen, "cannot close '%s': %s", o->tmp, strerror(errno));
		goto out;
	}
	o->fd = -1;
	{
		/* the name may have become a device or directory meanwhile */
		struct stat st;
		if (lstat(o->path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			bl_error_set(err, errlen, "'%s' is no longer a regular file; not replaced", o->path);
			goto out;
		}
	}
	if (rename(o->tmp, o->path) != 0) {
		bl_error_set(err, errlen, "cannot rename '%s' to '%s': %s", o->tmp, o->path,
		     strerror(errno));
		goto out;
	}
	free(o->tmp);
	o->tmp = NULL;
	rc = BL_OK;
out:
	bl_file_out_abort(o);
	return rc;
}

void bl_file_out_abort(bl_file_out *o)
{
	if (!o)
		return;
	if (o->fd >= 0)
		close(o->fd);
	if (o->tmp)
		unlink(o->tmp);
	out_clear(o);
}

int bl_file_write_atomic(const char *path, const void *data, size_t len, char *err,
			 size_t errlen)
{
	bl_file_out o;
	int rc;

	if (!path || (!data && len))
		return BL_EUSAGE;
	rc = bl_file_out_open(&o, path, 0, err, errlen);
	if (rc != BL_OK)
		return rc == BL_EUSAGE ? BL_FAILED : rc;
	if (write_all(o.fd, data, len) != 0) {
		bl_error_set(err, errlen, "cannot write '%s': %s", o.tmp ? o.tmp : path, strerror(errno));
		bl_file_out_abort(&o);
		return BL_FAILED;
	}
	return bl_file_out_commit(&o, err, errlen);
}

int bl_file_write_new(const char *path, const void *data, size_t len, char *err,
		      size_t errlen)
{
	int fd;

	if (!path || (!data && len))
		return BL_EUSAGE;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0) {
		bl_error_set(err, errlen, "cannot create '%s': %s", path, strerror(errno));
		return BL_FAILED;
	}
	if (write_all(fd, data, len) != 0) {
		bl_error_set(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return BL_FAILED;
	}
	if (close(fd) != 0) {
		bl_error_set(err, errlen, "cannot close '%s': %s", path, strerror(errno));
		unlink(path);
		return BL_FAILED;
	}
	return BL_OK;
}

/* ---- trees ------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int bl_file_remove_tree(const char *path)
{
	if (!path)
		return BL_EUSAGE;
	/* FTW_PHYS: a symlink inside is removed, never followed */
	return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 ? BL_OK : BL_FAILED;
}

static int sync_dir_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? fsync_path(path) : 0;
}

int bl_file_sync_tree(const char *dir)
{
	int fd, rc;

	if (!dir)
		return BL_EUSAGE;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return BL_FAILED;
	/* one flush of the file system for every file written below dir */
	rc = syncfs(fd);
	close(fd);
	if (rc != 0)
		return BL_FAILED;
	/* the directory entries, in case the file system's syncfs skips them */
	return nftw(dir, sync_dir_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 ? BL_OK
										: BL_FAILED;
}

/* ---- one directory ----------------------------------------------------- */

static void dir_clear(bl_file_dir *d)
{
	free(d->path);
	free(d->tmp);
	free(d->abs);
	d->path = d->tmp = d->abs = NULL;
}

int bl_file_dir_is_empty(const char *dir)
{
	DIR *dp = dir ? opendir(dir) : NULL;
	struct dirent *de;
	int empty = 1;

	if (!dp)
		return BL_FAILED;
	while ((de = readdir(dp)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(dp);
	return empty;
}

int bl_file_dir_begin(bl_file_dir *d, const char *outdir, int force, const char *marker,
		      char *err, size_t errlen)
{
	struct stat st;
	bl_buf t;
	char real[PATH_MAX];
	const char *base;
	int rc = BL_FAILED;

	if (!d)
		return BL_EUSAGE;
	memset(d, 0, sizeof *d);
	if (!outdir || !*outdir) {
		bl_error_set(err, errlen, "no output directory");
		return BL_EUSAGE;
	}
	bl_buf_init(&t, 0);
	if (!(d->path = strdup(outdir)))
		goto nomem;
	/* trailing slashes would put the temporary directory inside */
	for (size_t n = strlen(d->path); n > 1 && d->path[n - 1] == '/'; n--)
		d->path[n - 1] = '\0';
	if (lstat(d->path, &st) == 0) {
		if (!force) {
			bl_error_set(err, errlen, "'%s' exists (use --force to replace it)", d->path);
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			bl_error_set(err, errlen, "'%s' exists and is not a directory; not replaced", d->path);
			goto out;
		}
		if (marker) {
			bl_buf_addf(&t, "%s/%s", d->path, marker);
			if (lstat(t.buf, &st) != 0 && bl_file_dir_is_empty(d->path) != 1) {
				bl_error_set(err, errlen, "'%s' is not empty and holds no '%s': not an output "
				     "of this command, so --force will not replace it", d->path, marker);
				goto out;
			}
			bl_buf_reset(&t);
		}
	} else if (errno != ENOENT) {
		bl_error_set(err, errlen, "'%s': %s", d->path, strerror(errno));
		goto out;
	}
	/* the absolute name OUTDIR will have, for files that must name it
	 * (missing parents are made, as mkdir -p would) */
	if (dir_of(d->path, &t) != BL_OK)
		goto nomem;
	if (!realpath(t.buf, real) && errno == ENOENT) {
		for (char *q = t.buf + 1; *q; q++)
			if (*q == '/') {
				int made;
				*q = '\0';
				made = mkdir(t.buf, 0777) == 0 || errno == EEXIST;
				*q = '/';
				if (!made)
					break;
			}
		mkdir(t.buf, 0777);
	}
	if (!realpath(t.buf, real)) {
		bl_error_set(err, errlen, "'%s': %s", t.buf, strerror(errno));
		goto out;
	}
	base = strrchr(d->path, '/');
	base = base ? base + 1 : d->path;
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		bl_error_set(err, errlen, "'%s': name a new directory", d->path);
		goto out;
	}
	bl_buf_reset(&t);
	if (bl_buf_addf(&t, "%s%s%s", real, strcmp(real, "/") ? "/" : "", base) != BL_OK ||
	    !(d->abs = bl_buf_detach(&t, NULL)))
		goto nomem;
	if (bl_buf_addf(&t, "%s.tmp-XXXXXX", d->path) != BL_OK)
		goto nomem;
	if (!mkdtemp(t.buf)) {
		bl_error_set(err, errlen, "cannot create '%s': %s", t.buf, strerror(errno));
		goto out;
	}
	{
		/* mkdtemp makes 0700; the output is as readable as any
		 * directory the user creates */
		mode_t um = umask(0);
		umask(um);
		chmod(t.buf, 0777 & ~um);
	}
	if (!(d->tmp = bl_buf_detach(&t, NULL)))
		goto nomem;
	rc = BL_OK;
	goto out;
nomem:
	bl_error_set(err, errlen, "out of memory");
	rc = BL_ENOMEM;
out:
	bl_buf_release(&t);
	if (rc != BL_OK)
		dir_clear(d);
	return rc;
}

int bl_file_dir_commit(bl_file_dir *d, int force, char *err, size_t errlen)
{
	struct stat st;
	bl_buf p;
	int rc = BL_FAILED;

	if (!d || !d->tmp || !d->path)
		return BL_EUSAGE;
	bl_buf_init(&p, 0);
	if (bl_file_sync_tree(d->tmp) != BL_OK) {
		bl_error_set(err, errlen, "cannot sync '%s': %s", d->tmp, strerror(errno));
		goto out;
	}
	if (lstat(d->path, &st) == 0) {
		if (!force) {
			bl_error_set(err, errlen, "'%s' appeared while it was being written; the new "
			     "output stays in '%s'", d->path, d->tmp);
			free(d->tmp); /* keep it: it is the only copy */
			d->tmp = NULL;
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			bl_error_set(err, errlen, "'%s' is not a directory; not replaced", d->path);
			goto out;
		}
		/* one atomic swap; the old one is then at d->tmp */
		if (renameat2(AT_FDCWD, d->tmp, AT_FDCWD, d->path, RENAME_EXCHANGE) == 0) {
			bl_file_remove_tree(d->tmp);
		} else {
			/* no RENAME_EXCHANGE here: move aside, rename, remove */
			if (bl_buf_addf(&p, "%s.old", d->tmp) != BL_OK) {
				bl_error_set(err, errlen, "out of memory");
				goto out;
			}
			if (rename(d->path, p.buf) != 0) {
				bl_error_set(err, errlen, "cannot move '%s' aside: %s", d->path, strerror(errno));
				goto out;
			}
			if (rename(d->tmp, d->path) != 0) {
				bl_error_set(err, errlen, "cannot rename '%s' to '%s': %s", d->tmp, d->path,
				     strerror(errno));
				rename(p.buf, d->path);
				goto out;
			}
			bl_file_remove_tree(p.buf);
		}
	} else if (renameat2(AT_FDCWD, d->tmp, AT_FDCWD, d->path, RENAME_NOREPLACE) != 0) {
		if ((errno != EINVAL && errno != ENOSYS) || rename(d->tmp, d->path) != 0) {
			bl_error_set(err, errlen, "cannot rename '%s' to '%s': %s", d->tmp, d->path,
			     strerror(errno));
			goto out;
		}
	}
	free(d->tmp);
	d->tmp = NULL;
	/* the rename is durable once the parent directory is synced */
	if (dir_of(d->path, &p) == BL_OK)
		fsync_path(p.buf);
	rc = BL_OK;
out:
	bl_buf_release(&p);
	return rc;
}

void bl_file_dir_release(bl_file_dir *d)
{
	if (!d)
		return;
	if (d->tmp)
		bl_file_remove_tree(d->tmp);
	dir_clear(d);
}
