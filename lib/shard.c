/*
 * shard.c - the streaming shard reader: WebDataset tar shards in, samples
 * out.
 *
 * A sample is the run of consecutive tar members that share a key: the
 * member path up to the first dot of its basename ("d/0001.jpg" has key
 * "d/0001" and extension "jpg").  libarchive does the reading and the
 * decompression (gzip, zstd, xz, bzip2 are detected from the bytes); this
 * module groups members, loads only the bytes the caller asked for (the
 * rest are skipped, by seeking where the file allows it), checks the
 * limits, and turns every problem into an item error that names shard,
 * member and byte offset.  Storage for members is reused from sample to
 * sample, so memory stays flat however long the shard.
 *
 * What counts as damage: a header that libarchive cannot read, or member
 * data cut short.  The samples before the damage are delivered; the sample
 * being assembled when the damage is found is not (members of it may have
 * been lost, and a partial sample must never pass for a whole one); the
 * shard then ends with BL_FATAL.
 * Directory members are skipped silently (tar writes them for every
 * folder); other non-regular members (links, devices, fifos) are errors.
 */
#include "ballast.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEF_MAX_MEMBER ((int64_t)64 << 20)
#define DEF_MAX_CAPTION ((int64_t)64 << 10)
#define DEF_MAX_PATH 4096
#define DEF_MAX_MEMBERS 64
#define READ_BLOCK (1 << 16)

enum { ST_CLOSED, ST_OPEN, ST_ENDED };

/* One reusable member slot. */
struct slot {
	bl_buf name;
	bl_buf ext;
	bl_buf data;
};

/* Set of keys seen in the current shard (open addressing, offsets into
 * an arena so that the arena may grow). */
struct keyset {
	size_t *off; /* 0 = empty, else offset+1 into arena */
	size_t cap, n;
	bl_buf arena;
};

struct bl_reader {
	bl_limits lim;
	unsigned load;
	int state;
	struct archive *a;
	char *path;
	int seekable;
	void *map;        /* the shard mapped into memory, or NULL */
	size_t map_len;
	size_t map_released; /* bytes at the start given back (MADV_DONTNEED) */

	/* bytes of the tar stream used up to the end of the last member's
	 * data, rounded to the 512-byte block: at the end of a whole archive
	 * at least two zero blocks follow it */
	int64_t data_end;

	/* header read ahead that belongs to the next sample */
	struct archive_entry *pending;

	/* the sample being assembled */
	struct slot *slots;
	bl_member *members;
	size_t nmembers;
	bl_buf key;
	bl_sample sample;
	uint64_t ordinal;
	bl_problems problems;
	bl_buf problem_msg; /* message of the first problem */

	/* a key rejected as a duplicate: its members are skipped */
	bl_buf skip_key;

	struct keyset seen;

	bl_errkind errkind;
	int64_t erroffset;
	bl_buf errmsg;
};

/* ---- key set ---------------------------------------------------------- */

static void keyset_clear(struct keyset *k)
{
	if (k->off)
		memset(k->off, 0, k->cap * sizeof *k->off);
	k->n = 0;
	bl_buf_reset(&k->arena);
}

static void keyset_release(struct keyset *k)
{
	free(k->off);
	k->off = NULL;
	k->cap = k->n = 0;
	bl_buf_release(&k->arena);
}

static size_t *keyset_find(struct keyset *k, const char *key, size_t len)
{
	size_t i = (size_t)bl_hash_bytes(key, len) & (k->cap - 1);
	for (;;) {
		size_t o = k->off[i];
		if (!o)
			return &k->off[i];
		if (strcmp(k->arena.buf + o - 1, key) == 0)
			return &k->off[i];
		i = (i + 1) & (k->cap - 1);
	}
}

static int keyset_contains(struct keyset *k, const char *key, size_t len)
{
	return k->cap && *keyset_find(k, key, len) != 0;
}

static int keyset_add(struct keyset *k, const char *key, size_t len)
{
	size_t *slot, off;

	if ((k->n + 1) * 2 > k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 1024;
		size_t *noff = calloc(ncap, sizeof *noff);
		size_t *old = k->off, ocap = k->cap;
		if (!noff)
			return BL_ENOMEM;
		k->off = noff;
		k->cap = ncap;
		for (size_t i = 0; i < ocap; i++) {
			if (old[i]) {
				const char *s = k->arena.buf + old[i] - 1;
				*keyset_find(k, s, strlen(s)) = old[i];
			}
		}
		free(old);
	}
	slot = keyset_find(k, key, len);
	if (*slot)
		return BL_OK;
	off = k->arena.len;
	if (bl_buf_add(&k->arena, key, len + 1) != BL_OK)
		return BL_ENOMEM;
	*slot = off + 1;
	k->n++;
	return BL_OK;
}

/* ---- errors ----------------------------------------------------------- */

static void set_err(bl_reader *r, bl_errkind kind, const char *member,
		    int64_t offset, const char *fmt, ...)
	__attribute__((format(__printf__, 5, 6)));

static void vformat_msg(bl_buf *b, const char *shard, const char *member,
			int64_t offset, const char *fmt, va_list ap)
{
	char tail[1024];
	vsnprintf(tail, sizeof tail, fmt, ap);
	bl_buf_reset(b);
	bl_buf_addf(b, "shard '%s'", shard ? shard : "(none)");
	if (member)
		bl_buf_addf(b, " member '%s'", member);
	if (offset >= 0)
		bl_buf_addf(b, " at offset %lld", (long long)offset);
	bl_buf_addf(b, ": %s", tail);
}

static void set_err(bl_reader *r, bl_errkind kind, const char *member,
		    int64_t offset, const char *fmt, ...)
{
	va_list ap;
	r->errkind = kind;
	r->erroffset = offset;
	va_start(ap, fmt);
	vformat_msg(&r->errmsg, r->path, member, offset, fmt, ap);
	va_end(ap);
}

static void add_problem(bl_reader *r, bl_errkind kind, const char *member,
			int64_t offset, const char *fmt, ...)
	__attribute__((format(__printf__, 5, 6)));

static void add_problem(bl_reader *r, bl_errkind kind, const char *member,
			int64_t offset, const char *fmt, ...)
{
	va_list ap;
	if (!r->problems) {
		va_start(ap, fmt);
		vformat_msg(&r->problem_msg, r->path, member, offset, fmt, ap);
		va_end(ap);
		r->errkind = kind;
		r->erroffset = offset;
	}
	r->problems |= BL_PROBLEM(kind);
}

static const char *archive_msg(struct archive *a)
{
	const char *m = archive_error_string(a);
	return m && *m ? m : "unreadable archive";
}

/* ---- lifecycle -------------------------------------------------------- */

bl_reader *bl_reader_new(void)
{
	bl_reader *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->load = BL_LOAD_TEXT;
	bl_reader_set_limits(r, NULL);
	bl_buf_init(&r->key, DEF_MAX_PATH + 1);
	bl_buf_init(&r->skip_key, DEF_MAX_PATH + 1);
	bl_buf_init(&r->errmsg, 8192);
	bl_buf_init(&r->problem_msg, 8192);
	bl_buf_init(&r->seen.arena, 0);
	r->state = ST_CLOSED;
	return r;
}

int bl_reader_set_limits(bl_reader *r, const bl_limits *lim)
{
	bl_limits d = {0};
	if (!r)
		return BL_EUSAGE;
	if (r->state != ST_CLOSED && r->slots)
		return BL_EUSAGE;
	if (lim)
		d = *lim;
	if (d.max_member <= 0)
		d.max_member = DEF_MAX_MEMBER;
	if (d.max_caption <= 0)
		d.max_caption = DEF_MAX_CAPTION;
	if (d.max_path == 0)
		d.max_path = DEF_MAX_PATH;
	if (d.max_members == 0)
		d.max_members = DEF_MAX_MEMBERS;
	/* slots are sized by max_members: drop them, they are made on open */
	if (r->slots) {
		for (size_t i = 0; i < r->lim.max_members; i++) {
			bl_buf_release(&r->slots[i].name);
			bl_buf_release(&r->slots[i].ext);
			bl_buf_release(&r->slots[i].data);
		}
		free(r->slots);
		free(r->members);
		r->slots = NULL;
		r->members = NULL;
	}
	r->lim = d;
	return BL_OK;
}

int bl_reader_set_load(bl_reader *r, unsigned flags)
{
	if (!r)
		return BL_EUSAGE;
	r->load = flags & (BL_LOAD_ALL | BL_LOAD_IMAGE_HEAD);
	return BL_OK;
}

static int make_slots(bl_reader *r)
{
	size_t n = r->lim.max_members;
	if (r->slots)
		return BL_OK;
	r->slots = calloc(n, sizeof *r->slots);
	r->members = calloc(n, sizeof *r->members);
	if (!r->slots || !r->members) {
		free(r->slots);
		free(r->members);
		r->slots = NULL;
		r->members = NULL;
		return BL_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		bl_buf_init(&r->slots[i].name, r->lim.max_path + 1);
		bl_buf_init(&r->slots[i].ext, r->lim.max_path + 1);
		bl_buf_init(&r->slots[i].data, (size_t)r->lim.max_member + 1);
	}
	return BL_OK;
}

int bl_reader_close(bl_reader *r)
{
	if (!r)
		return BL_EUSAGE;
	if (r->a) {
		archive_read_free(r->a);
		r->a = NULL;
	}
	if (r->map) {
		munmap(r->map, r->map_len);
		r->map = NULL;
	}
	free(r->path);
	r->path = NULL;
	r->pending = NULL;
	r->nmembers = 0;
	r->state = ST_CLOSED;
	keyset_clear(&r->seen);
	return BL_OK;
}

void bl_reader_free(bl_reader *r)
{
	if (!r)
		return;
	bl_reader_close(r);
	bl_reader_set_limits(r, &r->lim); /* releases the slots */
	bl_buf_release(&r->key);
	bl_buf_release(&r->skip_key);
	bl_buf_release(&r->errmsg);
	bl_buf_release(&r->problem_msg);
	keyset_release(&r->seen);
	free(r);
}

static struct archive *new_archive(void)
{
	struct archive *a = archive_read_new();
	if (!a)
		return NULL;
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_read_support_format_empty(a);
	return a;
}

/*
 * Open a shard file.  A regular file is mapped into memory and read with
 * archive_read_open_memory: skipping an image is then a pointer move, and
 * no byte of it is copied or even faulted in (on shards of 27 KB JPEGs
 * this reads the captions in half the time of 64 KiB read() blocks, which
 * carry the images along).  The price: a shard truncated by another
 * process while it is being read makes the process take SIGBUS.  Set
 * BALLAST_NO_MMAP=1 to read with read() instead.
 */
static int open_file(bl_reader *r, const char *path, const struct stat *st)
{
	const char *nommap = getenv("BALLAST_NO_MMAP");
	int fd;
	void *p;

	if (!S_ISREG(st->st_mode) || st->st_size <= 0 || (nommap && *nommap) ||
	    (uint64_t)st->st_size > (uint64_t)SIZE_MAX)
		return archive_read_open_filename(r->a, path, READ_BLOCK);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return archive_read_open_filename(r->a, path, READ_BLOCK);
	p = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return archive_read_open_filename(r->a, path, READ_BLOCK);
	madvise(p, (size_t)st->st_size, MADV_SEQUENTIAL);
	r->map = p;
	r->map_len = (size_t)st->st_size;
	r->map_released = 0;
	return archive_read_open_memory(r->a, p, r->map_len);
}

/* Common start of the open calls: a fresh state and archive handle. */
static int open_begin(bl_reader *r, const char *name)
{
	bl_reader_close(r);
	r->path = strdup(name);
	r->ordinal = 0;
	r->seekable = 0;
	bl_buf_reset(&r->skip_key);
	r->data_end = 0;
	if (!r->path || make_slots(r) != BL_OK) {
		r->errkind = BL_ERR_NOMEM;
		bl_buf_reset(&r->errmsg);
		bl_buf_adds(&r->errmsg, "out of memory");
		return BL_ENOMEM;
	}
	r->a = new_archive();
	if (!r->a) {
		set_err(r, BL_ERR_NOMEM, NULL, -1, "out of memory");
		r->state = ST_ENDED;
		return BL_FATAL;
	}
	return BL_OK;
}

int bl_reader_open_memory(bl_reader *r, const void *data, size_t len,
			  const char *name)
{
	int rc;

	if (!r || (!data && len))
		return BL_EUSAGE;
	if ((rc = open_begin(r, name ? name : "(memory)")) != BL_OK)
		return rc;
	if (archive_read_open_memory(r->a, data, len) != ARCHIVE_OK) {
		set_err(r, BL_ERR_OPEN, NULL, -1, "%s", archive_msg(r->a));
		r->state = ST_ENDED;
		return BL_FATAL;
	}
	r->state = ST_OPEN;
	return BL_OK;
}

int bl_reader_open(bl_reader *r, const char *path)
{
	struct stat st;
	int rc;

	if (!r || !path)
		return BL_EUSAGE;
	if ((rc = open_begin(r, path)) != BL_OK)
		return rc;
	if (strcmp(path, "-") == 0) {
		rc = archive_read_open_fd(r->a, STDIN_FILENO, READ_BLOCK);
	} else {
		if (stat(path, &st) != 0) {
			set_err(r, BL_ERR_OPEN, NULL, -1, "cannot open: %s",
				strerror(errno));
			r->state = ST_ENDED;
			return BL_FATAL;
		}
		if (S_ISDIR(st.st_mode)) {
			set_err(r, BL_ERR_OPEN, NULL, -1, "is a directory");
			r->state = ST_ENDED;
			return BL_FATAL;
		}
		rc = open_file(r, path, &st);
		if (rc == ARCHIVE_OK && S_ISREG(st.st_mode) &&
		    archive_filter_count(r->a) <= 1) {
			r->seekable = 1;
		}
	}
	if (rc != ARCHIVE_OK) {
		set_err(r, BL_ERR_OPEN, NULL, -1, "%s", archive_msg(r->a));
		r->state = ST_ENDED;
		return BL_FATAL;
	}
	r->state = ST_OPEN;
	return BL_OK;
}

/* ---- reading ---------------------------------------------------------- */

enum { CLASS_TEXT, CLASS_IMAGE, CLASS_OTHER };

static int ext_class(const char *ext)
{
	if (!strcmp(ext, "txt") || !strcmp(ext, "json"))
		return CLASS_TEXT;
	if (!strcmp(ext, "jpg") || !strcmp(ext, "jpeg") || !strcmp(ext, "png") ||
	    !strcmp(ext, "webp"))
		return CLASS_IMAGE;
	return CLASS_OTHER;
}

static unsigned class_flag(int cls)
{
	return cls == CLASS_TEXT ? BL_LOAD_TEXT
	       : cls == CLASS_IMAGE ? BL_LOAD_IMAGE
				    : BL_LOAD_OTHER;
}

/*
 * Split a member path into key and extension.  Returns 0 when the path has
 * no usable key (empty basename before the dot, no dot at all).
 */
static int split_key(const char *path, size_t *keylen, const char **ext)
{
	const char *base = strrchr(path, '/');
	const char *dot;

	base = base ? base + 1 : path;
	dot = strchr(base, '.');
	if (!dot || dot == base || !dot[1])
		return 0;
	*keylen = (size_t)(dot - path);
	*ext = dot + 1;
	return 1;
}

/* Reset the sample under assembly. */
static void sample_reset(bl_reader *r)
{
	r->nmembers = 0;
	r->problems = 0;
	bl_buf_reset(&r->key);
}

/* Finish the sample: fill the public struct. */
static int sample_deliver(bl_reader *r, const bl_sample **out)
{
	bl_sample *s = &r->sample;

	memset(s, 0, sizeof *s);
	s->shard = r->path;
	s->ordinal = r->ordinal++;
	s->key = r->key.buf;
	s->nmembers = r->nmembers;
	s->members = r->members;
	for (size_t i = 0; i < r->nmembers; i++) {
		const bl_member *m = &r->members[i];
		if (i == 0)
			s->offset = m->offset;
		if (!strcmp(m->ext, "txt") && !s->caption)
			s->caption = m;
		else if (!strcmp(m->ext, "json") && !s->json)
			s->json = m;
		else if (ext_class(m->ext) == CLASS_IMAGE && !s->image)
			s->image = m;
	}
	if (!s->caption)
		add_problem(r, BL_ERR_NO_CAPTION, NULL, s->offset,
			    "sample '%s' has no caption (no .txt member)", s->key);
	if (s->caption && s->caption->data) {
		size_t bad;
		if (!bl_utf8_valid((const char *)s->caption->data,
				   s->caption->len, &bad))
			add_problem(r, BL_ERR_BAD_UTF8, s->caption->name,
				    s->caption->offset,
				    "caption is not valid UTF-8 at byte %zu", bad);
	}
	s->problems = r->problems;
	*out = s;
	if (r->problems) {
		bl_buf_reset(&r->errmsg);
		bl_buf_add(&r->errmsg, r->problem_msg.buf, r->problem_msg.len);
		return BL_WARN;
	}
	r->errkind = BL_ERR_NONE;
	return BL_OK;
}

/* Go on reading the current entry into data until it holds size bytes. */
static int read_more(bl_reader *r, bl_buf *data, int64_t size,
		     const char *name, int64_t offset)
{
	if (bl_buf_grow(data, (size_t)(size - (int64_t)data->len)) != BL_OK) {
		set_err(r, BL_ERR_NOMEM, name, offset, "out of memory");
		return BL_ENOMEM;
	}
	while ((int64_t)data->len < size) {
		la_ssize_t n = archive_read_data(r->a, data->buf + data->len,
						 (size_t)(size - (int64_t)data->len));
		if (n < 0) {
			set_err(r, BL_ERR_TRUNCATED, name, offset, "%s", archive_msg(r->a));
			return BL_FATAL;
		}
		if (n == 0)
			break;
		data->len += (size_t)n;
	}
	data->buf[data->len] = '\0';
	if ((int64_t)data->len != size) {
		set_err(r, BL_ERR_TRUNCATED, name, offset,
			"member data cut short: %zu of %lld bytes", data->len, (long long)size);
		return BL_FATAL;
	}
	return BL_OK;
}

/* Read the data of the current entry (size bytes, already checked against
 * the limits) into data. */
static int read_data(bl_reader *r, bl_buf *data, int64_t size,
		     const char *name, int64_t offset)
{
	bl_buf_reset(data);
	return read_more(r, data, size, name, offset);
}

/* Fetch the next header, either the pending one or a new one. */
static int next_header(bl_reader *r, struct archive_entry **e)
{
	int rc;

	if (r->pending) {
		*e = r->pending;
		r->pending = NULL;
		return ARCHIVE_OK;
	}
	for (int tries = 0; tries < 8; tries++) {
		rc = archive_read_next_header(r->a, e);
		if (rc != ARCHIVE_RETRY)
			return rc == ARCHIVE_WARN ? ARCHIVE_OK : rc;
	}
	return ARCHIVE_FATAL;
}

/*
 * The shard is damaged (errkind/errmsg describe it).  The sample under
 * assembly is dropped: its members are consecutive, so the damage may
 * have cut members of it that we never saw.
 */
static int damaged(bl_reader *r)
{
	r->nmembers = 0;
	r->state = ST_ENDED;
	return BL_FATAL;
}

/* Skip the data of the current entry; BL_OK or BL_FATAL (damage). */
static void mark_data_end(bl_reader *r)
{
	int64_t end = (archive_filter_bytes(r->a, 0) + 511) & ~(int64_t)511;
	if (end > r->data_end)
		r->data_end = end;
}

static int skip_data(bl_reader *r, const char *name, int64_t offset)
{
	if (archive_read_data_skip(r->a) != ARCHIVE_OK) {
		set_err(r, BL_ERR_TRUNCATED, name, offset, "%s", archive_msg(r->a));
		return BL_FATAL;
	}
	mark_data_end(r);
	return BL_OK;
}

/*
 * Give back the mapped pages already read, every 8 MiB, so that the
 * resident set stays small however large the shard (the page cache keeps
 * them; only this process's mapping of them goes).
 */
static void release_map(bl_reader *r)
{
	size_t done, len;
	long page = sysconf(_SC_PAGESIZE);

	if (!r->map || !r->a || page <= 0)
		return;
	done = (size_t)archive_filter_bytes(r->a, -1);
	if (done > r->map_len)
		done = r->map_len;
	done -= done % (size_t)page;
	if (done < r->map_released + ((size_t)8 << 20))
		return;
	len = done - r->map_released;
	madvise((char *)r->map + r->map_released, len, MADV_DONTNEED);
	r->map_released = done;
}

int bl_reader_next(bl_reader *r, const bl_sample **out)
{
	struct archive_entry *e;
	int rc;

	if (!r || !out)
		return BL_EUSAGE;
	*out = NULL;
	switch (r->state) {
	case ST_CLOSED:
		return BL_EUSAGE;
	case ST_ENDED:
		return BL_END;
	default:
		break;
	}
	release_map(r);
	sample_reset(r);

	for (;;) {
		const char *path, *ext;
		size_t keylen, pathlen;
		int64_t offset, size;
		int cls;
		bl_member *m;
		struct slot *sl;

		rc = next_header(r, &e);
		if (rc == ARCHIVE_EOF && r->data_end &&
		    archive_filter_bytes(r->a, 0) < r->data_end + 1024) {
			/* libarchive accepts a stream that stops at a member
			 * boundary; a tar cut there has lost members unseen */
			set_err(r, BL_ERR_TRUNCATED, NULL, archive_filter_bytes(r->a, 0),
				"archive ends without its end-of-archive blocks "
				"(cut short at a member boundary?)");
			return damaged(r);
		}
		if (rc == ARCHIVE_EOF) {
			r->state = ST_ENDED;
			return r->nmembers ? sample_deliver(r, out) : BL_END;
		}
		if (rc != ARCHIVE_OK) {
			/* where the next header should have been */
			set_err(r, BL_ERR_TRUNCATED, NULL,
				archive_filter_bytes(r->a, 0), "%s",
				archive_msg(r->a));
			return damaged(r);
		}
		offset = archive_read_header_position(r->a);
		path = archive_entry_pathname(e);
		if (!path)
			path = archive_entry_pathname_utf8(e);

		if (archive_entry_filetype(e) == AE_IFDIR) {
			if (skip_data(r, path, offset) != BL_OK)
				return damaged(r);
			continue;
		}
		pathlen = path ? strlen(path) : 0;
		if (!path || pathlen > r->lim.max_path || !split_key(path, &keylen, &ext))
			keylen = 0;

		/* a member with another key (or none) ends the sample under
		 * assembly: keep its header for the next call */
		if (r->nmembers && (!keylen || r->key.len != keylen ||
				    memcmp(r->key.buf, path, keylen) != 0)) {
			r->pending = e;
			return sample_deliver(r, out);
		}

		if (!keylen) {
			const char *why = !path || !*path ? "member without a path name"
					  : pathlen > r->lim.max_path
						  ? "member path longer than the limit"
						  : "member path has no key.extension form";
			if (skip_data(r, path, offset) != BL_OK)
				return damaged(r);
			set_err(r, BL_ERR_BAD_PATH, path, offset, "%s (skipped)", why);
			return BL_FAILED;
		}
		if (archive_entry_filetype(e) != AE_IFREG) {
			if (skip_data(r, path, offset) != BL_OK)
				return damaged(r);
			if (r->nmembers) {
				add_problem(r, BL_ERR_NOT_REGULAR, path, offset,
					    "not a regular file (skipped)");
				continue;
			}
			set_err(r, BL_ERR_NOT_REGULAR, path, offset,
				"not a regular file (skipped)");
			return BL_FAILED;
		}

		/* a member of a key rejected as duplicate: skip it too */
		if (r->skip_key.len == keylen &&
		    memcmp(r->skip_key.buf, path, keylen) == 0 && !r->nmembers) {
			if (skip_data(r, path, offset) != BL_OK)
				return damaged(r);
			continue;
		}
		bl_buf_reset(&r->skip_key);

		if (!r->nmembers) {
			/* a new sample: its key must not have been seen */
			bl_buf_add(&r->key, path, keylen);
			if (keyset_contains(&r->seen, r->key.buf, keylen)) {
				bl_buf_reset(&r->skip_key);
				bl_buf_add(&r->skip_key, path, keylen);
				if (skip_data(r, path, offset) != BL_OK)
					return damaged(r);
				set_err(r, BL_ERR_DUP_KEY, path, offset,
					"key '%s' already seen earlier in this shard "
					"(members skipped)", r->key.buf);
				bl_buf_reset(&r->key);
				return BL_FAILED;
			}
			if (keyset_add(&r->seen, r->key.buf, keylen) != BL_OK) {
				set_err(r, BL_ERR_NOMEM, path, offset, "out of memory");
				return BL_FAILED;
			}
		}

		if (r->nmembers >= r->lim.max_members) {
			if (skip_data(r, path, offset) != BL_OK)
				return damaged(r);
			add_problem(r, BL_ERR_TOO_MANY, path, offset,
				    "more than %zu members in one sample (skipped)",
				    r->lim.max_members);
			continue;
		}

		sl = &r->slots[r->nmembers];
		m = &r->members[r->nmembers];
		bl_buf_reset(&sl->name);
		bl_buf_reset(&sl->ext);
		bl_buf_add(&sl->name, path, pathlen);
		for (const char *p = ext; *p; p++)
			bl_buf_addch(&sl->ext, (char)tolower((unsigned char)*p));
		size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
		memset(m, 0, sizeof *m);
		m->name = sl->name.buf;
		m->ext = sl->ext.buf;
		m->offset = offset;
		m->data_offset = archive_filter_bytes(r->a, 0); /* past its headers */
		m->size = size;
		r->nmembers++;

		for (size_t i = 0; i + 1 < r->nmembers; i++) {
			if (!strcmp(r->members[i].ext, m->ext)) {
				add_problem(r, BL_ERR_DUP_KEY, path, offset,
					    "second '.%s' member in sample '%s' "
					    "(first one kept)", m->ext, r->key.buf);
				r->nmembers--;
				if (skip_data(r, path, offset) != BL_OK)
					return damaged(r);
				goto next_member;
			}
		}

		cls = ext_class(m->ext);
		if (cls == CLASS_IMAGE && !(r->load & BL_LOAD_IMAGE) &&
		    (r->load & BL_LOAD_IMAGE_HEAD)) {
			int64_t head = size < BL_IMAGE_HEAD ? size : BL_IMAGE_HEAD;
			const void *blk;
			size_t bsz;
			la_int64_t boff;
			/* a mapped, uncompressed shard: point into the map and
			 * copy nothing (libarchive hands out the member's bytes
			 * as one block of the mapped memory) */
			if (r->map && head > 0 && archive_filter_count(r->a) <= 1) {
				int brc = archive_read_data_block(r->a, &blk, &bsz, &boff);
				if (brc != ARCHIVE_OK) {
					set_err(r, BL_ERR_TRUNCATED, path, offset, "%s",
						archive_msg(r->a));
					return damaged(r);
				}
				if (boff == 0 && (const char *)blk >= (const char *)r->map &&
				    (const char *)blk + bsz <= (const char *)r->map + r->map_len &&
				    (int64_t)bsz >= head) {
					if (skip_data(r, path, offset) != BL_OK)
						return damaged(r);
					m->data = blk;
					m->len = (size_t)head;
					continue;
				}
				/* not one block after all: copy it, read the rest */
				bl_buf_reset(&sl->data);
				if (boff != 0 || bl_buf_add(&sl->data, blk,
							    bsz < (size_t)head ? bsz : (size_t)head) != BL_OK) {
					set_err(r, BL_ERR_TOO_BIG, path, offset,
						"image head does not fit");
					add_problem(r, BL_ERR_TOO_BIG, NULL, -1, "%s", r->errmsg.buf);
					if (skip_data(r, path, offset) != BL_OK)
						return damaged(r);
					continue;
				}
				rc = read_more(r, &sl->data, head, path, offset);
			} else {
				rc = read_data(r, &sl->data, head, path, offset);
			}
			if (rc == BL_OK && head < size)
				rc = skip_data(r, path, offset);
			else if (rc == BL_OK)
				mark_data_end(r);
			if (rc == BL_FATAL)
				return damaged(r);
			if (rc != BL_OK) {
				add_problem(r, r->errkind, NULL, -1, "%s", r->errmsg.buf);
				continue;
			}
			m->data = (const unsigned char *)sl->data.buf;
			m->len = sl->data.len;
			continue;
		}
		if (!(r->load & class_flag(cls))) {
			if (skip_data(r, path, offset) != BL_OK)
				return damaged(r);
			continue;
		}
		if (size > r->lim.max_member ||
		    (!strcmp(m->ext, "txt") && size > r->lim.max_caption)) {
			if (skip_data(r, path, offset) != BL_OK)
				return damaged(r);
			add_problem(r, BL_ERR_TOO_BIG, path, offset,
				    "%lld bytes is over the %lld-byte limit (not loaded)",
				    (long long)size,
				    (long long)(!strcmp(m->ext, "txt") ? r->lim.max_caption
								     : r->lim.max_member));
			continue;
		}
		rc = read_data(r, &sl->data, size, path, offset);
		if (rc == BL_FATAL)
			return damaged(r);
		if (rc != BL_OK) {
			add_problem(r, r->errkind, NULL, -1, "%s", r->errmsg.buf);
			continue;
		}
		mark_data_end(r);
		m->data = (const unsigned char *)sl->data.buf;
		m->len = sl->data.len;
	next_member:;
	}
}

bl_errkind bl_reader_errkind(const bl_reader *r)
{
	return r ? r->errkind : BL_ERR_NONE;
}

int64_t bl_reader_erroffset(const bl_reader *r)
{
	return r ? r->erroffset : -1;
}

const char *bl_reader_errmsg(const bl_reader *r)
{
	if (!r)
		return "no reader";
	return r->errmsg.len ? r->errmsg.buf : "no error";
}

int64_t bl_reader_bytes_read(const bl_reader *r)
{
	if (!r || !r->a)
		return 0;
	return archive_filter_bytes(r->a, -1);
}

int bl_reader_seekable(const bl_reader *r)
{
	return r && r->seekable;
}

int bl_shard_read_member_at(const char *path, int64_t offset,
			    const bl_limits *lim, bl_buf *name, bl_buf *out,
			    char *err, size_t errlen)
{
	struct archive *a = NULL;
	struct archive_entry *e;
	int fd = -1, rc = BL_FAILED;
	int64_t max = lim && lim->max_member > 0 ? lim->max_member : DEF_MAX_MEMBER;
	int64_t size;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "shard '%s': cannot open: %s", path,
			 strerror(errno));
		goto out;
	}
	if (lseek(fd, (off_t)offset, SEEK_SET) != (off_t)offset) {
		snprintf(err, errlen, "shard '%s' at offset %lld: cannot seek: %s",
			 path, (long long)offset, strerror(errno));
		goto out;
	}
	a = archive_read_new();
	if (!a) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (archive_read_open_fd(a, fd, READ_BLOCK) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		snprintf(err, errlen, "shard '%s' at offset %lld: no member there: %s",
			 path, (long long)offset, archive_msg(a));
		goto out;
	}
	size = archive_entry_size(e);
	if (size > max) {
		snprintf(err, errlen,
			 "shard '%s' member '%s' at offset %lld: %lld bytes is over the limit",
			 path, archive_entry_pathname(e), (long long)offset,
			 (long long)size);
		goto out;
	}
	if (name) {
		bl_buf_reset(name);
		if (archive_entry_pathname(e))
			bl_buf_adds(name, archive_entry_pathname(e));
	}
	bl_buf_reset(out);
	if (bl_buf_grow(out, (size_t)size) != BL_OK) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while ((int64_t)out->len < size) {
		la_ssize_t n = archive_read_data(a, out->buf + out->len,
						 (size_t)(size - (int64_t)out->len));
		if (n <= 0) {
			snprintf(err, errlen,
				 "shard '%s' member '%s' at offset %lld: data cut short",
				 path, archive_entry_pathname(e), (long long)offset);
			goto out;
		}
		out->len += (size_t)n;
	}
	out->buf[out->len] = '\0';
	rc = BL_OK;
out:
	if (a)
		archive_read_free(a);
	if (fd >= 0)
		close(fd);
	return rc;
}
