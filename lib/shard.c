/*
 * shard.c - the streaming shard reader: WebDataset tar shards in, samples
 * out.
 *
 * A sample is the run of consecutive tar members that share a key: the
 * member path up to the first dot of its basename ("d/0001.jpg" has key
 * "d/0001" and extension "jpg").  libarchive reads the tar; shards
 * compressed with gzip, bzip2, xz or zstd reach it through lib/stream.c,
 * which hands on every byte decoded before a problem and says where the
 * problem is.  This module groups members, loads only the bytes the
 * caller asked for (the rest are skipped, by seeking where the file allows
 * it), checks the limits, and turns every problem into an item error that
 * names shard, member and byte offset.  Storage for members is reused from
 * sample to sample and the duplicate-key set holds 8-byte hashes up to a
 * limit, so memory stays flat however long the shard.
 *
 * What counts as damage:
 *  - a header that fails its checksum: libarchive skips to the next valid
 *    header (GNU tar does the same); the skip is an item error with its
 *    offset and length, the samples on both sides carry the problem (their
 *    members may be among the lost), and the shard goes on;
 *  - member data or headers cut short, or a compressed stream that stops
 *    decoding: the samples before are delivered; the sample being
 *    assembled is not (members of it may be lost, and a partial sample
 *    must never pass for a whole one); the shard ends with BL_FATAL;
 *  - junk after the compressed data or after the end-of-archive blocks:
 *    every sample is delivered, then one item error says where the junk
 *    starts and how long it is.
 * Directory members are skipped silently (tar writes them for every
 * folder); other non-regular members (links, devices, fifos) are errors.
 *
 * An uncompressed regular file is mapped into memory (skipping an image
 * is a pointer move); a SIGBUS from a shard truncated meanwhile by another
 * process is caught around every access (see shard_int.h) and ends the
 * shard like any other truncation, and so does a sample whose bytes lie
 * past the shard's new end in its last page (they read as zeros).
 *
 * Random access (bl_reader_seek) reads a sample where a streaming pass
 * found it, with the same code: a plain tar is entered at the offset (a
 * fresh libarchive reader on the bytes from there, told the format; its
 * positions are shifted by that base), a compressed one is read on, sample
 * by sample with nothing loaded, from where the reader stands or again
 * from its start.  Loaders, exports and the audit sheet read tar only
 * through here.
 *
 * Names.  A member's name is its bytes as the archive holds them, whatever
 * the process locale, as Python's tarfile and webdataset read them (keys
 * must agree with theirs).  libarchive converts a pax header's UTF-8 path
 * to the locale's charset: to Latin-1 in a Latin-1 locale, to NFC in a
 * UTF-8 one ("cafe\u0301" became "caf\u00e9"); in the C locale the
 * conversion fails for any name that is not ASCII, and libarchive keeps
 * the name as held, with a warning.  So headers are read with the calling
 * thread in the C locale (uselocale: the process locale is left alone),
 * and that warning is no damage.
 */
#include "error_int.h"
#include "shard_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
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
#define DEF_MAX_KEYS ((size_t)1 << 20)
#define MAX_PROBLEMS 32
/* bytes after the end-of-archive blocks of a mapped tar looked at for
 * junk (tar pads to its record size with zeros) */
#define TAIL_CHECK ((size_t)1 << 20)

enum { ST_CLOSED, ST_OPEN, ST_TAIL, ST_ENDED };

/* One reusable member slot. */
struct slot {
	bl_buf name;
	bl_buf ext;
	bl_buf data;
};

/* Hashes of the keys seen in the current shard (open addressing; 0 is
 * the empty slot, so a hash of 0 is stored as 1).  A false "seen" needs
 * two keys of one shard with the same 64-bit hash. */
struct keyset {
	uint64_t *h;
	size_t cap, n;
};

struct problem {
	bl_errkind kind;
	int64_t offset;
	size_t msg; /* offset into problem_text */
};

struct bl_reader {
	bl_limits lim;
	unsigned load;
	int no_map;          /* bl_reader_set_mapping(r, 0) */
	int state;
	struct archive *a;
	char *path;
	int seekable;
	int fd;              /* the file read through the stream, or -1 */
	void *map;           /* the shard mapped into memory, or NULL */
	size_t map_len;
	size_t map_released; /* bytes at the start given back (MADV_DONTNEED) */
	const unsigned char *mem; /* an uncompressed tar in memory (mapped or
				   * the caller's), for the tail check */
	size_t mem_len;
	bl_stream *stream;
	int via_stream;      /* libarchive reads from the stream */
	const void *src;     /* the shard in memory (mapped or the caller's),
			      * or NULL when it is read from fd */
	size_t src_len;
	int plain;           /* an uncompressed tar: entered at an offset */
	int restartable;     /* can be read again from its start */
	int64_t base;        /* where libarchive started: 0, or the header a
			      * plain tar was entered at (bl_reader_seek);
			      * libarchive's positions are relative to it */
	int ordinal_known;   /* ordinals count from the start of the shard */
	int jumped;          /* a plain tar was entered out of order */

	/* bytes of the tar stream used up to the end of the last member's
	 * data, rounded to the 512-byte block: at the end of a whole archive
	 * at least two zero blocks follow it */
	int64_t data_end;

	/* header read ahead that belongs to the next sample */
	struct archive_entry *pending;
	/* a damaged stretch skipped before the header just read */
	int64_t skip_from, skip_to;
	/* the next new sample follows damage at this offset (-1: no) */
	int64_t after_damage;
	bl_buf hdr_warn;     /* libarchive's warning on the header just read */

	/* the sample being assembled */
	struct slot *slots;
	bl_member *members;
	size_t nmembers;
	size_t over_members; /* members past max_members, skipped */
	int64_t over_offset;
	bl_buf key;
	bl_sample sample;
	uint64_t ordinal;
	bl_problems problems;
	struct problem prob[MAX_PROBLEMS];
	size_t nprob, prob_more;
	bl_buf prob_text;
	bl_buf scratch;

	/* a key rejected as a duplicate: its members are skipped */
	bl_buf skip_key;

	struct keyset seen;
	int keys_full;

	bl_errkind errkind;
	int64_t erroffset;
	bl_buf errmsg;
};

/* Positions in the shard (the decompressed stream of a compressed one):
 * where libarchive has read to, and where the header it read last
 * starts. */
static int64_t pos_now(const bl_reader *r)
{
	return r->base + archive_filter_bytes(r->a, 0);
}

static int64_t pos_header(const bl_reader *r)
{
	return r->base + archive_read_header_position(r->a);
}

/* ---- key set ---------------------------------------------------------- */

static uint64_t key_hash(const char *key, size_t len)
{
	uint64_t h = bl_hash_bytes(key, len);
	return h ? h : 1;
}

static size_t keyset_slot(const struct keyset *k, uint64_t h)
{
	size_t i = (size_t)(h ^ (h >> 29)) & (k->cap - 1);
	while (k->h[i] && k->h[i] != h)
		i = (i + 1) & (k->cap - 1);
	return i;
}

static int keyset_contains(const struct keyset *k, uint64_t h)
{
	return k->cap && k->h[keyset_slot(k, h)] == h;
}

/* BL_OK, BL_ENOMEM, or BL_FAILED when max keys are held already. */
static int keyset_add(struct keyset *k, uint64_t h, size_t max)
{
	if (k->n >= max)
		return BL_FAILED;
	if ((k->n + 1) * 2 > k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 1024;
		uint64_t *nh = calloc(ncap, sizeof *nh), *old = k->h;
		size_t ocap = k->cap;
		if (!nh)
			return BL_ENOMEM;
		k->h = nh;
		k->cap = ncap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i])
				k->h[keyset_slot(k, old[i])] = old[i];
		free(old);
	}
	k->h[keyset_slot(k, h)] = h;
	k->n++;
	return BL_OK;
}

static void keyset_clear(struct keyset *k)
{
	/* a shard with many keys does not keep its big table for the next */
	if (k->cap > 4096) {
		free(k->h);
		k->h = NULL;
		k->cap = 0;
	} else if (k->h) {
		memset(k->h, 0, k->cap * sizeof *k->h);
	}
	k->n = 0;
}

/* ---- errors ----------------------------------------------------------- */

static void vformat_msg(bl_buf *b, const char *shard, const char *member,
			int64_t offset, const char *fmt, va_list ap)
	__attribute__((format(__printf__, 5, 0)));
static void vformat_msg(bl_buf *b, const char *shard, const char *member,
			int64_t offset, const char *fmt, va_list ap)
{
	char tail[BL_ERROR_MAX];
	bl_error_vset(tail, sizeof tail, fmt, ap);
	bl_buf_addf(b, "shard '%s'", shard ? shard : "(none)");
	if (member)
		bl_buf_addf(b, " member '%s'", member);
	if (offset >= 0)
		bl_buf_addf(b, " at offset %lld", (long long)offset);
	bl_buf_addf(b, ": %s", tail);
}

static void set_err(bl_reader *r, bl_errkind kind, const char *member,
		    int64_t offset, const char *fmt, ...)
	__attribute__((format(__printf__, 5, 6)));

static void set_err(bl_reader *r, bl_errkind kind, const char *member,
		    int64_t offset, const char *fmt, ...)
{
	va_list ap;
	r->errkind = kind;
	r->erroffset = offset;
	bl_buf_reset(&r->errmsg);
	va_start(ap, fmt);
	vformat_msg(&r->errmsg, r->path, member, offset, fmt, ap);
	va_end(ap);
}

/* A problem of the sample under assembly; every one is kept (up to
 * MAX_PROBLEMS, then counted), the first also gives errkind/errmsg. */
static void add_problem(bl_reader *r, bl_errkind kind, const char *member,
			int64_t offset, const char *fmt, ...)
	__attribute__((format(__printf__, 5, 6)));

static void add_problem(bl_reader *r, bl_errkind kind, const char *member,
			int64_t offset, const char *fmt, ...)
{
	va_list ap;
	r->problems |= BL_PROBLEM(kind);
	if (r->nprob == MAX_PROBLEMS) {
		r->prob_more++;
		return;
	}
	r->prob[r->nprob].kind = kind;
	r->prob[r->nprob].offset = offset;
	r->prob[r->nprob].msg = r->prob_text.len;
	va_start(ap, fmt);
	vformat_msg(&r->prob_text, r->path, member, offset, fmt, ap);
	va_end(ap);
	if (bl_buf_addch(&r->prob_text, '\0') != BL_OK) {
		r->prob_more++;
		return;
	}
	r->nprob++;
}

static const char *archive_msg(struct archive *a)
{
	const char *m = archive_error_string(a);
	return m && *m ? m : "unreadable archive";
}

/* What the decompressing stream has to add to a message about damage:
 * "" or " (xz: corrupt data (at compressed offset 123))". */
static const char *stream_detail(bl_reader *r, char *buf, size_t len)
{
	const char *msg;
	buf[0] = '\0';
	if (r->via_stream && bl_stream_error(r->stream, NULL, NULL, &msg) != BL_STREAM_OK)
		snprintf(buf, len, " (%s)", msg);
	return buf;
}

/* ---- SIGBUS on a mapped shard ------------------------------------------ */

struct busguard {
	sigjmp_buf jb;
	const char *lo, *hi;
};

static _Thread_local struct busguard *cur_guard;
static _Thread_local const char *bus_addr;
static struct sigaction old_bus;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

static void bus_handler(int sig, siginfo_t *si, void *ctx)
{
	struct busguard *g = cur_guard;
	const char *addr = si ? (const char *)si->si_addr : NULL;

	if (g && addr >= g->lo && addr < g->hi) {
		bus_addr = addr;
		cur_guard = NULL;
		siglongjmp(g->jb, 1);
	}
	/* not a fault on a guarded shard: whatever was there before */
	if ((old_bus.sa_flags & SA_SIGINFO) && old_bus.sa_sigaction) {
		old_bus.sa_sigaction(sig, si, ctx);
		return;
	}
	if (old_bus.sa_handler == SIG_IGN)
		return;
	if (old_bus.sa_handler != SIG_DFL) {
		old_bus.sa_handler(sig);
		return;
	}
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

static void bus_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = bus_handler;
	/* SA_NODEFER: the jump out of the handler must not leave SIGBUS
	 * blocked, and sigsetjmp(, 0) saves no mask (no system call) */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
}

/* Nothing more is read from the shard (errmsg says why): the sample
 * under assembly is dropped, and bl_reader_next returns BL_END. */
static int shard_over(bl_reader *r, int rc)
{
	r->nmembers = 0;
	r->pending = NULL;
	r->state = ST_ENDED;
	return rc;
}

/* The shard was cut under the mapping: it ends here. */
static int shard_shrank(bl_reader *r, int64_t at)
{
	struct stat st;
	long long now = (r->fd >= 0 ? fstat(r->fd, &st) : stat(r->path, &st)) == 0
				? (long long)st.st_size
				: -1;

	set_err(r, BL_ERR_TRUNCATED, NULL, at,
		"the shard shrank to %lld bytes while being read (another process "
		"truncated or rewrote it); the samples before this point are delivered", now);
	return shard_over(r, BL_FATAL);
}

static int bus_fault(bl_reader *r)
{
	return shard_shrank(r, bus_addr ? (int64_t)(bus_addr - (const char *)r->map) : -1);
}

/*
 * Whether a mapped shard is now shorter than the bytes of the sample under
 * assembly: past the new end, the rest of its last page reads as zeros
 * instead of faulting, and zeros must not pass for a sample's bytes (nor
 * for the end of the archive).  Checked before a sample is handed out.
 * (A compressed shard needs no check: zeros do not decode, and the stream
 * reports them.)
 */
static int map_cut(const bl_reader *r, int64_t *size)
{
	struct stat st;
	int64_t end = 0;

	if (!r->map || !r->mem || r->fd < 0 || fstat(r->fd, &st) != 0)
		return 0;
	for (size_t i = 0; i < r->nmembers; i++)
		if (r->members[i].data_offset + r->members[i].size > end)
			end = r->members[i].data_offset + r->members[i].size;
	*size = (int64_t)st.st_size;
	return *size < end;
}

int bl_reader_guarded(bl_reader *r, int (*fn)(void *arg), void *arg)
{
	struct busguard g;
	struct busguard *prev;
	int rc;

	if (!r || !fn)
		return BL_EUSAGE;
	if (!r->map)
		return fn(arg);
	prev = cur_guard;
	g.lo = r->map;
	g.hi = (const char *)r->map + r->map_len;
	if (sigsetjmp(g.jb, 0)) {
		cur_guard = prev;
		return bus_fault(r);
	}
	cur_guard = &g;
	rc = fn(arg);
	cur_guard = prev;
	return rc;
}

/* ---- lifecycle -------------------------------------------------------- */

bl_reader *bl_reader_new(void)
{
	bl_reader *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->load = BL_LOAD_TEXT;
	r->fd = -1;
	bl_reader_set_limits(r, NULL);
	bl_buf_init(&r->key, DEF_MAX_PATH + 1);
	bl_buf_init(&r->skip_key, DEF_MAX_PATH + 1);
	bl_buf_init(&r->errmsg, 8192);
	bl_buf_init(&r->prob_text, (size_t)MAX_PROBLEMS * 2048);
	bl_buf_init(&r->hdr_warn, 1024);
	bl_buf_init(&r->scratch, 0);
	r->stream = bl_stream_new();
	r->state = ST_CLOSED;
	if (!r->stream) {
		free(r);
		return NULL;
	}
	return r;
}

static void free_slots(bl_reader *r)
{
	if (!r->slots)
		return;
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
	if (d.max_keys == 0)
		d.max_keys = DEF_MAX_KEYS;
	/* slots are sized by max_members: drop them, they are made on open */
	free_slots(r);
	r->lim = d;
	return BL_OK;
}

int bl_reader_set_mapping(bl_reader *r, int map)
{
	if (!r)
		return BL_EUSAGE;
	r->no_map = !map;
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
	bl_stream_close(r->stream);
	if (r->map) {
		munmap(r->map, r->map_len);
		r->map = NULL;
	}
	if (r->fd >= 0 && r->fd != STDIN_FILENO)
		close(r->fd);
	r->fd = -1;
	r->mem = NULL;
	r->mem_len = 0;
	r->via_stream = 0;
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
	free_slots(r);
	bl_buf_release(&r->key);
	bl_buf_release(&r->skip_key);
	bl_buf_release(&r->errmsg);
	bl_buf_release(&r->prob_text);
	bl_buf_release(&r->hdr_warn);
	bl_buf_release(&r->scratch);
	bl_stream_free(r->stream);
	free(r->seen.h);
	free(r);
}

/*
 * A libarchive reader for a shard read from its start, or (plain) for a
 * plain tar entered at a member's header.  That one is told the format
 * instead of guessing it: no compression filter (a member name may begin
 * like a magic number), and no format bid, which is stricter about the
 * header's fields than the tar reader itself (a header the stream
 * accepts must be accepted where it starts, too).
 */
static struct archive *new_archive(int plain)
{
	struct archive *a = archive_read_new();
	if (!a)
		return NULL;
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (plain) {
		if (archive_read_set_format(a, ARCHIVE_FORMAT_TAR) != ARCHIVE_OK) {
			archive_read_free(a);
			return NULL;
		}
		return a;
	}
	/* compressions lib/stream.c does not know (lz4, lzip, ...) */
	archive_read_support_filter_all(a);
	archive_read_support_format_empty(a);
	return a;
}

/* The sample state of a fresh start, libarchive reading from byte at
 * (0: the start of the shard; bl_reader_seek: a header of a plain tar). */
static void restart_state(bl_reader *r, int64_t at)
{
	r->base = at;
	r->ordinal = 0;
	r->ordinal_known = at == 0;
	r->keys_full = 0;
	r->after_damage = -1;
	r->skip_from = -1;
	bl_buf_reset(&r->skip_key);
	bl_buf_reset(&r->hdr_warn);
	r->data_end = 0;
	r->pending = NULL;
	r->nmembers = 0;
	keyset_clear(&r->seen);
}

/* Common start of the open calls: a fresh state and archive handle. */
static int open_begin(bl_reader *r, const char *name)
{
	bl_reader_close(r);
	r->path = strdup(name);
	r->seekable = 0;
	r->plain = 0;
	r->restartable = 0;
	r->jumped = 0;
	r->src = NULL;
	r->src_len = 0;
	restart_state(r, 0);
	if (!r->path || make_slots(r) != BL_OK) {
		r->errkind = BL_ERR_NOMEM;
		bl_buf_reset(&r->errmsg);
		bl_buf_adds(&r->errmsg, "out of memory");
		return BL_ENOMEM;
	}
	r->a = new_archive(0);
	if (!r->a) {
		set_err(r, BL_ERR_NOMEM, NULL, -1, "out of memory");
		r->state = ST_ENDED;
		return BL_FATAL;
	}
	return BL_OK;
}

static la_ssize_t stream_read_cb(struct archive *a, void *arg, const void **buf)
{
	(void)a;
	return bl_stream_read(((bl_reader *)arg)->stream, buf);
}

static la_int64_t stream_skip_cb(struct archive *a, void *arg, la_int64_t n)
{
	(void)a;
	return bl_stream_skip(((bl_reader *)arg)->stream, n);
}

static int open_via_stream(bl_reader *r)
{
	r->via_stream = 1;
	archive_read_set_read_callback(r->a, stream_read_cb);
	archive_read_set_skip_callback(r->a, stream_skip_cb);
	archive_read_set_callback_data(r->a, r);
	return archive_read_open1(r->a);
}

/* An archive held in memory (mapped or the caller's): plain tars are read
 * in place; compressed ones through the stream. */
struct open_mem {
	bl_reader *r;
	const void *data;
	size_t len;
};

static int open_memory_fn(void *arg)
{
	struct open_mem *o = arg;
	bl_reader *r = o->r;

	r->src = o->data;
	r->src_len = o->len;
	if (bl_stream_open_memory(r->stream, o->data, o->len) != BL_OK)
		return ARCHIVE_FATAL;
	if (bl_stream_format(r->stream) != BL_Z_NONE)
		return open_via_stream(r);
	bl_stream_close(r->stream);
	if (archive_read_open_memory(r->a, o->data, o->len) != ARCHIVE_OK)
		return ARCHIVE_FATAL;
	if (archive_filter_count(r->a) <= 1) {
		r->mem = o->data;
		r->mem_len = o->len;
	}
	return ARCHIVE_OK;
}

static int open_memory_guarded(bl_reader *r, const void *data, size_t len)
{
	struct open_mem o = {r, data, len};
	int rc = bl_reader_guarded(r, open_memory_fn, &o);
	if (rc == BL_FATAL && r->state == ST_ENDED)
		return BL_FATAL; /* cut while opening: errmsg says so */
	if (rc != ARCHIVE_OK) {
		set_err(r, BL_ERR_OPEN, NULL, -1, "%s", archive_msg(r->a));
		r->state = ST_ENDED;
		return BL_FATAL;
	}
	r->state = ST_OPEN;
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
	rc = open_memory_guarded(r, data, len);
	r->plain = r->mem != NULL;
	r->restartable = 1;
	return rc;
}

/*
 * Open a shard file.  A regular file is mapped into memory: skipping an
 * image is then a pointer move, and no byte of it is copied or even
 * faulted in (on shards of 27 KB JPEGs this reads the captions in half
 * the time of 64 KiB read() blocks, which carry the images along).
 * BALLAST_NO_MMAP=1 reads with read() instead.  Anything else (standard
 * input, a pipe) is read through the stream.
 */
int bl_reader_open(bl_reader *r, const char *path)
{
	const char *nommap = getenv("BALLAST_NO_MMAP");
	struct stat st;
	int rc, fd;

	if (!r || !path)
		return BL_EUSAGE;
	if ((rc = open_begin(r, path)) != BL_OK)
		return rc;
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0) {
			set_err(r, BL_ERR_OPEN, NULL, -1, "cannot open: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			r->state = ST_ENDED;
			return BL_FATAL;
		}
		if (S_ISDIR(st.st_mode)) {
			close(fd);
			set_err(r, BL_ERR_OPEN, NULL, -1, "is a directory");
			r->state = ST_ENDED;
			return BL_FATAL;
		}
		if (S_ISREG(st.st_mode) && st.st_size > 0 && !(nommap && *nommap) && !r->no_map &&
		    (uint64_t)st.st_size <= (uint64_t)SIZE_MAX) {
			void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
			if (p != MAP_FAILED) {
				r->fd = fd; /* kept for map_cut */
				pthread_once(&bus_once, bus_install);
				madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
				r->map = p;
				r->map_len = (size_t)st.st_size;
				r->map_released = 0;
				rc = open_memory_guarded(r, p, r->map_len);
				r->seekable = rc == BL_OK && r->mem != NULL;
				r->plain = r->mem != NULL;
				r->restartable = 1;
				return rc;
			}
		}
		r->seekable = S_ISREG(st.st_mode);
	}
	r->fd = fd;
	if (bl_stream_open_fd(r->stream, fd) != BL_OK || open_via_stream(r) != ARCHIVE_OK) {
		char d[300];
		set_err(r, BL_ERR_OPEN, NULL, -1, "%s%s", archive_msg(r->a),
			stream_detail(r, d, sizeof d));
		r->state = ST_ENDED;
		return BL_FATAL;
	}
	r->restartable = r->seekable;
	if (bl_stream_format(r->stream) != BL_Z_NONE || archive_filter_count(r->a) > 1)
		r->seekable = 0;
	r->plain = r->seekable;
	r->state = ST_OPEN;
	return BL_OK;
}

/* ---- samples ---------------------------------------------------------- */

enum { CLASS_TEXT, CLASS_IMAGE, CLASS_OTHER };

/* "txt", "json" and their gzip-compressed forms carry text. */
static int ext_class(const char *ext)
{
	if (!strcmp(ext, "txt") || !strcmp(ext, "json") || !strcmp(ext, "txt.gz") ||
	    !strcmp(ext, "json.gz"))
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
	r->over_members = 0;
	r->problems = 0;
	r->nprob = r->prob_more = 0;
	bl_buf_reset(&r->prob_text);
	bl_buf_reset(&r->key);
}

/* The member of a text kind, plain ("txt") or compressed ("txt.gz"):
 * place_member keeps one of the two. */
static const bl_member *find_text(const bl_reader *r, const char *plain, const char *gz)
{
	const bl_member *alt = NULL;
	for (size_t i = 0; i < r->nmembers; i++) {
		if (!strcmp(r->members[i].ext, plain))
			return &r->members[i];
		if (!alt && !strcmp(r->members[i].ext, gz))
			alt = &r->members[i];
	}
	return alt;
}

/* Finish the sample: fill the public struct. */
static int sample_deliver(bl_reader *r, const bl_sample **out)
{
	bl_sample *s = &r->sample;
	int64_t size;

	if (map_cut(r, &size))
		return shard_shrank(r, size);
	memset(s, 0, sizeof *s);
	s->shard = r->path;
	s->ordinal = r->ordinal_known ? r->ordinal++ : BL_ORDINAL_UNKNOWN;
	s->key = r->key.buf;
	s->nmembers = r->nmembers;
	s->members = r->members;
	s->offset = r->nmembers ? r->members[0].offset : 0;
	s->caption = find_text(r, "txt", "txt.gz");
	s->json = find_text(r, "json", "json.gz");
	for (size_t i = 0; i < r->nmembers && !s->image; i++)
		if (ext_class(r->members[i].ext) == CLASS_IMAGE)
			s->image = &r->members[i];
	if (r->over_members)
		add_problem(r, BL_ERR_TOO_MANY, NULL, r->over_offset,
			    "%zu members over the limit of %zu in sample '%s' (skipped)",
			    r->over_members, r->lim.max_members, s->key);
	if (!s->caption)
		add_problem(r, BL_ERR_NO_CAPTION, NULL, s->offset,
			    "sample '%s' has no caption (no .txt member)", s->key);
	if (s->caption && s->caption->data) {
		const char *c = (const char *)s->caption->data, *nul;
		size_t bad;
		if (!bl_utf8_valid(c, s->caption->len, &bad))
			add_problem(r, BL_ERR_BAD_UTF8, s->caption->name, s->caption->offset,
				    "caption is not valid UTF-8 at byte %zu", bad);
		if ((nul = memchr(c, '\0', s->caption->len)) != NULL)
			add_problem(r, BL_ERR_NUL, s->caption->name, s->caption->offset,
				    "caption holds a NUL byte at byte %zu",
				    (size_t)(nul - c));
	}
	s->problems = r->problems;
	*out = s;
	if (r->problems) {
		bl_buf_reset(&r->errmsg);
		if (r->nprob) {
			r->errkind = r->prob[0].kind;
			r->erroffset = r->prob[0].offset;
			bl_buf_adds(&r->errmsg, r->prob_text.buf + r->prob[0].msg);
		} else {
			r->errkind = (bl_errkind)__builtin_ctz(r->problems);
			r->erroffset = s->offset;
			bl_buf_addf(&r->errmsg, "shard '%s': sample '%s' has problems",
				    r->path, s->key);
		}
		return BL_WARN;
	}
	r->errkind = BL_ERR_NONE;
	return BL_OK;
}

/* ---- member data ------------------------------------------------------- */

static void mark_data_end(bl_reader *r)
{
	int64_t end = (pos_now(r) + 511) & ~(int64_t)511;
	if (end > r->data_end)
		r->data_end = end;
}

/* Go on reading the current entry into data until it holds size bytes.
 * BL_OK, BL_ENOMEM (errmsg set), BL_FATAL (damage, errmsg set). */
static int read_more(bl_reader *r, bl_buf *data, int64_t size,
		     const char *name, int64_t offset)
{
	char d[300];
	if (bl_buf_grow(data, (size_t)(size - (int64_t)data->len)) != BL_OK) {
		set_err(r, BL_ERR_NOMEM, name, offset, "out of memory");
		return BL_ENOMEM;
	}
	while ((int64_t)data->len < size) {
		la_ssize_t n = archive_read_data(r->a, data->buf + data->len,
						 (size_t)(size - (int64_t)data->len));
		if (n < 0) {
			set_err(r, BL_ERR_TRUNCATED, name, offset, "%s%s", archive_msg(r->a),
				stream_detail(r, d, sizeof d));
			return BL_FATAL;
		}
		if (n == 0)
			break;
		data->len += (size_t)n;
	}
	data->buf[data->len] = '\0';
	if ((int64_t)data->len != size) {
		set_err(r, BL_ERR_TRUNCATED, name, offset,
			"member data cut short: %zu of %lld bytes%s", data->len, (long long)size,
			stream_detail(r, d, sizeof d));
		return BL_FATAL;
	}
	mark_data_end(r);
	return BL_OK;
}

/* Skip the data of the current entry; BL_OK or BL_FATAL (damage). */
static int skip_data(bl_reader *r, const char *name, int64_t offset)
{
	if (archive_read_data_skip(r->a) != ARCHIVE_OK) {
		char d[300];
		set_err(r, BL_ERR_TRUNCATED, name, offset, "%s%s", archive_msg(r->a),
			stream_detail(r, d, sizeof d));
		return BL_FATAL;
	}
	mark_data_end(r);
	return BL_OK;
}

/*
 * Load the head of an image for a probe.  A mapped, uncompressed shard
 * hands out the member's bytes as one block of the map: point into it
 * and copy nothing.  Returns as read_more; a head that cannot be loaded
 * otherwise is a problem of the sample (m->data stays NULL).
 */
static int load_image_head(bl_reader *r, struct slot *sl, bl_member *m)
{
	int64_t head = m->size < BL_IMAGE_HEAD ? m->size : BL_IMAGE_HEAD;
	const void *blk;
	size_t bsz;
	la_int64_t boff;
	int rc;

	bl_buf_reset(&sl->data);
	if (r->map && r->mem && head > 0) {
		if (archive_read_data_block(r->a, &blk, &bsz, &boff) != ARCHIVE_OK) {
			set_err(r, BL_ERR_TRUNCATED, m->name, m->offset, "%s", archive_msg(r->a));
			return BL_FATAL;
		}
		if (boff == 0 && (const char *)blk >= (const char *)r->map &&
		    (const char *)blk + bsz <= (const char *)r->map + r->map_len &&
		    (int64_t)bsz >= head) {
			if ((rc = skip_data(r, m->name, m->offset)) != BL_OK)
				return rc;
			m->data = blk;
			m->len = (size_t)head;
			return BL_OK;
		}
		/* not one block after all: copy it, read the rest */
		if (boff != 0 || bl_buf_add(&sl->data, blk, bsz < (size_t)head ? bsz
										: (size_t)head) != BL_OK) {
			add_problem(r, BL_ERR_TOO_BIG, m->name, m->offset, "image head does not fit");
			return skip_data(r, m->name, m->offset);
		}
	}
	rc = read_more(r, &sl->data, head, m->name, m->offset);
	if (rc == BL_OK && head < m->size)
		rc = skip_data(r, m->name, m->offset);
	if (rc == BL_ENOMEM) {
		add_problem(r, BL_ERR_NOMEM, m->name, m->offset, "out of memory for the image head");
		return skip_data(r, m->name, m->offset);
	}
	if (rc == BL_OK) {
		m->data = (const unsigned char *)sl->data.buf;
		m->len = sl->data.len;
	}
	return rc;
}

/* A txt.gz / json.gz member: its bytes decompressed, within the limit of
 * what it stands for. */
static void inflate_member(bl_reader *r, struct slot *sl, bl_member *m)
{
	size_t cap = (size_t)(!strncmp(m->ext, "txt", 3) ? r->lim.max_caption
							 : r->lim.max_member);
	char why[300];
	int rc = bl_stream_inflate(sl->data.buf, sl->data.len, &r->scratch, cap, why, sizeof why);

	bl_buf_reset(&sl->data);
	if (rc == BL_OK && bl_buf_add(&sl->data, r->scratch.buf, r->scratch.len) != BL_OK)
		rc = BL_ENOMEM;
	if (rc != BL_OK) {
		add_problem(r, rc == BL_STREAM_TOOBIG ? BL_ERR_TOO_BIG
			       : rc == BL_ENOMEM     ? BL_ERR_NOMEM
						     : BL_ERR_DAMAGED,
			    m->name, m->offset, "compressed member: %s (not loaded)", why);
		m->data = NULL;
		m->len = 0;
		return;
	}
	m->data = (const unsigned char *)sl->data.buf;
	m->len = sl->data.len;
}

/* Load or skip the data of member m (the last one added) as the load
 * flags and limits say.  BL_OK (problems are the sample's) or BL_FATAL. */
static int load_member(bl_reader *r, struct slot *sl, bl_member *m)
{
	int cls = ext_class(m->ext), rc;
	int64_t limit;

	if (cls == CLASS_IMAGE && !(r->load & BL_LOAD_IMAGE) && (r->load & BL_LOAD_IMAGE_HEAD))
		return load_image_head(r, sl, m);
	if (!(r->load & class_flag(cls)))
		return skip_data(r, m->name, m->offset);
	/* a compressed caption is held to max_caption once decompressed */
	limit = !strcmp(m->ext, "txt") ? r->lim.max_caption : r->lim.max_member;
	if (m->size > limit) {
		add_problem(r, BL_ERR_TOO_BIG, m->name, m->offset,
			    "%lld bytes is over the %lld-byte limit (not loaded)",
			    (long long)m->size, (long long)limit);
		return skip_data(r, m->name, m->offset);
	}
	bl_buf_reset(&sl->data);
	rc = read_more(r, &sl->data, m->size, m->name, m->offset);
	if (rc == BL_ENOMEM) {
		add_problem(r, BL_ERR_NOMEM, m->name, m->offset, "out of memory (not loaded)");
		return skip_data(r, m->name, m->offset);
	}
	if (rc != BL_OK)
		return rc;
	m->data = (const unsigned char *)sl->data.buf;
	m->len = sl->data.len;
	if (cls == CLASS_TEXT && strchr(m->ext, '.'))
		inflate_member(r, sl, m);
	return BL_OK;
}

/* ---- headers ----------------------------------------------------------- */

/*
 * Fetch the next header: the pending one, or a new one.  A header that
 * fails its checksum makes libarchive return ARCHIVE_RETRY after moving
 * one block on; every retry is taken (each consumes a block, so this
 * ends), and the stretch skipped is recorded in skip_from/skip_to for the
 * caller to report.  A warning on a header is kept in hdr_warn.
 */
static locale_t c_locale;
static pthread_once_t c_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
}

/* libarchive's warning when a pax name (or user, group, link name) is
 * not ASCII, read in the C locale: the name is kept as the archive holds
 * it. */
static int charset_warning(const char *msg)
{
	return msg && strstr(msg, "can't be converted from UTF-8");
}

/* The next header, read in the C locale (see "Names" above). */
static int next_header(bl_reader *r, struct archive_entry **e)
{
	locale_t old = (locale_t)0;
	int rc;

	pthread_once(&c_once, c_locale_init);
	if (c_locale)
		old = uselocale(c_locale);
	rc = archive_read_next_header(r->a, e);
	if (c_locale)
		uselocale(old);
	return rc;
}

static int read_header(bl_reader *r, struct archive_entry **e)
{
	int64_t before;
	int rc;

	/* a pending header keeps its warning and the damage before it */
	if (r->pending) {
		*e = r->pending;
		r->pending = NULL;
		return ARCHIVE_OK;
	}
	bl_buf_reset(&r->hdr_warn);
	r->skip_from = -1;
	for (;;) {
		before = pos_now(r);
		rc = next_header(r, e);
		if (rc != ARCHIVE_RETRY)
			break;
		if (pos_now(r) <= before) {
			rc = ARCHIVE_FATAL; /* no progress: give up */
			break;
		}
		/* the first bad block, just consumed (libarchive consumes what
		 * is left of the last member only when it reads on) */
		if (r->skip_from < 0)
			r->skip_from = pos_now(r) - 512;
	}
	if (r->skip_from >= 0)
		r->skip_to = rc == ARCHIVE_OK || rc == ARCHIVE_WARN ? pos_header(r) : pos_now(r);
	if (rc == ARCHIVE_WARN) {
		/* a name kept as the archive holds it is no damage */
		if (!charset_warning(archive_msg(r->a)))
			bl_buf_adds(&r->hdr_warn, archive_msg(r->a));
		rc = ARCHIVE_OK;
	}
	return rc;
}

/*
 * The shard is damaged beyond repair (errkind/errmsg describe it).  The
 * sample under assembly is dropped: its members are consecutive, so the
 * damage may have cut members of it that we never saw.
 */
static int damaged(bl_reader *r)
{
	return shard_over(r, BL_FATAL);
}

/* After the end of the archive: junk after it, or after the compressed
 * data, is one item error.  BL_FAILED with errmsg, or BL_END. */
static int check_tail(bl_reader *r)
{
	int64_t end = pos_now(r), junk_at = -1, junk = 0, off;
	const char *msg;
	int serr;

	r->state = ST_ENDED;
	if (r->mem) {
		/* a mapped tar: the bytes after the end blocks should be the
		 * zeros of tar's record padding */
		size_t from = (size_t)end < r->mem_len ? (size_t)end : r->mem_len;
		size_t to = r->mem_len - from > TAIL_CHECK ? from + TAIL_CHECK : r->mem_len;
		for (size_t i = from; i < to && junk_at < 0; i++)
			if (r->mem[i])
				junk_at = (int64_t)i;
		if (junk_at < 0 && to < r->mem_len)
			junk_at = (int64_t)to;
		junk = junk_at >= 0 ? (int64_t)r->mem_len - junk_at : 0;
	} else if (r->via_stream) {
		/* what the stream holds past what libarchive took */
		const void *p;
		ssize_t n;
		while ((n = bl_stream_read(r->stream, &p)) > 0) {
			for (ssize_t i = 0; i < n && junk_at < 0; i++)
				if (((const unsigned char *)p)[i])
					junk_at = end;
			if (junk_at >= 0)
				junk += n;
		}
	}
	if (junk_at >= 0) {
		set_err(r, BL_ERR_DAMAGED, NULL, junk_at,
			"%lld bytes after the end of the tar archive that are not tar "
			"members (ignored)", (long long)junk);
		return BL_FAILED;
	}
	if (r->via_stream && (serr = bl_stream_error(r->stream, &off, &junk, &msg)) != BL_STREAM_OK) {
		set_err(r, BL_ERR_DAMAGED, NULL, -1, "after the end of the tar archive: %s%s",
			msg, serr == BL_STREAM_JUNK ? " (ignored: every sample before it was read)"
						    : "");
		r->erroffset = off;
		return BL_FAILED;
	}
	return BL_END;
}

/* ---- members into samples ---------------------------------------------- */

enum { NEXT_MEMBER, DELIVER, ITEM_FAILED, SHARD_OVER };

/* A member that cannot join a sample (no key, not a regular file, a key
 * already used): skip its data and say why.  Returns ITEM_FAILED or
 * SHARD_OVER (damage while skipping). */
static int reject(bl_reader *r, bl_errkind kind, const char *path, int64_t offset,
		  const char *why)
{
	if (skip_data(r, path, offset) != BL_OK)
		return SHARD_OVER;
	set_err(r, kind, path, offset, "%s", why);
	return ITEM_FAILED;
}

/* A damaged stretch was skipped before the header just read (whose
 * member is path): the samples on both sides may have lost members. */
static int note_skip(bl_reader *r, struct archive_entry *e)
{
	char what[256];
	int64_t from = r->skip_from;

	snprintf(what, sizeof what,
		 "damaged tar header: %lld bytes skipped to the next valid header at "
		 "offset %lld; members there are lost",
		 (long long)(r->skip_to - from), (long long)r->skip_to);
	r->skip_from = -1;
	r->after_damage = from;
	if (r->nmembers) {
		const char *path = archive_entry_pathname(e);
		size_t keylen;
		const char *ext;
		add_problem(r, BL_ERR_DAMAGED, NULL, from, "%s", what);
		/* the sample goes on after the damage: the stretch lost was
		 * its own, not the next sample's */
		if (path && split_key(path, &keylen, &ext) && keylen == r->key.len &&
		    !memcmp(path, r->key.buf, keylen))
			r->after_damage = -1;
		return NEXT_MEMBER;
	}
	/* no sample open: an item error of its own, the header kept */
	r->pending = e;
	set_err(r, BL_ERR_DAMAGED, NULL, from, "%s", what);
	return ITEM_FAILED;
}

/* "txt" and "txt.gz" (or "json" and "json.gz"), in either order: two
 * captions (or two json members) of one sample, which a reader would
 * pick between differently. */
static int same_text(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > lb)
		return same_text(b, a);
	return (!strcmp(a, "txt") || !strcmp(a, "json")) && lb == la + 3 &&
	       !strncmp(a, b, la) && !strcmp(b + la, ".gz");
}

/* Place the member whose header is e: the sample under assembly goes on,
 * ends (e is kept for the next one), or the member is rejected. */
static int place_member(bl_reader *r, struct archive_entry *e)
{
	const char *path, *ext = NULL;
	size_t keylen = 0, pathlen;
	int64_t offset = pos_header(r);
	struct slot *sl;
	bl_member *m;

	path = archive_entry_pathname(e);
	if (!path)
		path = archive_entry_pathname_utf8(e);
	if (archive_entry_filetype(e) == AE_IFDIR)
		return skip_data(r, path, offset) == BL_OK ? NEXT_MEMBER : SHARD_OVER;
	pathlen = path ? strlen(path) : 0;
	if (!path || pathlen > r->lim.max_path || !split_key(path, &keylen, &ext))
		keylen = 0;

	/* a member with another key (or none) ends the sample under
	 * assembly: keep its header for the next call */
	if (r->nmembers && (!keylen || r->key.len != keylen ||
			    memcmp(r->key.buf, path, keylen) != 0)) {
		r->pending = e;
		return DELIVER;
	}
	if (!keylen)
		return reject(r, BL_ERR_BAD_PATH, path, offset,
			      !path || !*path		   ? "member without a path name (skipped)"
			      : pathlen > r->lim.max_path ? "member path longer than the limit (skipped)"
							   : "member path has no key.extension form (skipped)");
	if (archive_entry_filetype(e) != AE_IFREG) {
		if (!r->nmembers)
			return reject(r, BL_ERR_NOT_REGULAR, path, offset,
				      "not a regular file (skipped)");
		add_problem(r, BL_ERR_NOT_REGULAR, path, offset, "not a regular file (skipped)");
		return skip_data(r, path, offset) == BL_OK ? NEXT_MEMBER : SHARD_OVER;
	}

	/* a member of a key rejected as duplicate: skip it too */
	if (!r->nmembers && r->skip_key.len == keylen &&
	    memcmp(r->skip_key.buf, path, keylen) == 0)
		return skip_data(r, path, offset) == BL_OK ? NEXT_MEMBER : SHARD_OVER;
	bl_buf_reset(&r->skip_key);

	if (!r->nmembers) {
		/* a new sample: its key must not have been seen */
		uint64_t h = key_hash(path, keylen);
		bl_buf_add(&r->key, path, keylen);
		if (keyset_contains(&r->seen, h)) {
			char why[600];
			bl_buf_add(&r->skip_key, path, keylen);
			snprintf(why, sizeof why, "key '%s' already seen earlier in this shard "
				 "(members skipped)", r->key.buf);
			bl_buf_reset(&r->key);
			return reject(r, BL_ERR_DUP_KEY, path, offset, why);
		}
		switch (keyset_add(&r->seen, h, r->lim.max_keys)) {
		case BL_OK:
			break;
		case BL_FAILED:
			if (!r->keys_full)
				add_problem(r, BL_ERR_LIMIT, path, offset,
					    "more than %zu keys in this shard: the duplicate-key "
					    "check stops here (limit max_keys)", r->lim.max_keys);
			r->keys_full = 1;
			break;
		default:
			add_problem(r, BL_ERR_NOMEM, path, offset,
				    "out of memory for the duplicate-key check");
			break;
		}
		if (r->after_damage >= 0) {
			add_problem(r, BL_ERR_DAMAGED, path, offset,
				    "follows damage at offset %lld: members of this sample may "
				    "be lost", (long long)r->after_damage);
			r->after_damage = -1;
		}
	}

	if (r->nmembers >= r->lim.max_members) {
		if (!r->over_members++)
			r->over_offset = offset;
		return skip_data(r, path, offset) == BL_OK ? NEXT_MEMBER : SHARD_OVER;
	}
	sl = &r->slots[r->nmembers];
	bl_buf_reset(&sl->name);
	bl_buf_reset(&sl->ext);
	bl_buf_add(&sl->name, path, pathlen);
	for (const char *p = ext; *p; p++)
		bl_buf_addch(&sl->ext, (char)tolower((unsigned char)*p));
	for (size_t i = 0; i < r->nmembers; i++) {
		if (!strcmp(r->members[i].ext, sl->ext.buf)) {
			add_problem(r, BL_ERR_DUP_KEY, path, offset,
				    "another '.%s' member in sample '%s' (the first one kept)",
				    sl->ext.buf, r->key.buf);
			return skip_data(r, path, offset) == BL_OK ? NEXT_MEMBER : SHARD_OVER;
		}
		if (same_text(r->members[i].ext, sl->ext.buf)) {
			add_problem(r, BL_ERR_DUP_KEY, path, offset,
				    "a second %s member in sample '%s': '.%s' beside '.%s' (the "
				    "first one kept)", sl->ext.buf[0] == 't' ? "caption" : "json",
				    r->key.buf, sl->ext.buf, r->members[i].ext);
			return skip_data(r, path, offset) == BL_OK ? NEXT_MEMBER : SHARD_OVER;
		}
	}
	m = &r->members[r->nmembers++];
	memset(m, 0, sizeof *m);
	m->name = sl->name.buf;
	m->ext = sl->ext.buf;
	m->offset = offset;
	m->data_offset = pos_now(r); /* past its headers */
	m->size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	if (r->hdr_warn.len)
		add_problem(r, BL_ERR_DAMAGED, path, offset, "header: %s", r->hdr_warn.buf);
	return load_member(r, sl, m) == BL_OK ? NEXT_MEMBER : SHARD_OVER;
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
	done = (size_t)(r->base + archive_filter_bytes(r->a, -1));
	if (done > r->map_len)
		done = r->map_len;
	done -= done % (size_t)page;
	if (done < r->map_released + ((size_t)8 << 20))
		return;
	len = done - r->map_released;
	madvise((char *)r->map + r->map_released, len, MADV_DONTNEED);
	r->map_released = done;
}

/* The end of the archive as libarchive saw it. */
static int at_eof(bl_reader *r, const bl_sample **out)
{
	if (!r->data_end && !r->base && pos_now(r) < 1024) {
		char d[300];
		/* libarchive takes an empty input for an empty archive; GNU
		 * tar does not ("does not look like a tar archive"), and an
		 * empty shard is a shard lost (a copy that failed, a disk that
		 * filled): even an archive of no members has its end blocks */
		set_err(r, BL_ERR_TRUNCATED, NULL, 0, "no tar archive: %lld bytes of tar data, less than "
			"the end-of-archive blocks of an empty archive%s", (long long)pos_now(r),
			stream_detail(r, d, sizeof d));
		return damaged(r);
	}
	if (r->data_end && pos_now(r) < r->data_end + 1024) {
		char d[300];
		/* libarchive accepts a stream that stops at a member boundary;
		 * a tar cut there has lost members unseen */
		set_err(r, BL_ERR_TRUNCATED, NULL, pos_now(r),
			"archive ends without its end-of-archive blocks "
			"(cut short at a member boundary?)%s", stream_detail(r, d, sizeof d));
		return damaged(r);
	}
	if (r->nmembers) {
		r->state = ST_TAIL;
		return sample_deliver(r, out);
	}
	return check_tail(r);
}

struct next_args {
	bl_reader *r;
	const bl_sample **out;
};

static int next_sample(void *arg)
{
	struct next_args *na = arg;
	bl_reader *r = na->r;
	struct archive_entry *e;

	if (r->state == ST_TAIL)
		return check_tail(r);
	release_map(r);
	sample_reset(r);
	for (;;) {
		int rc = read_header(r, &e);
		if (rc == ARCHIVE_EOF)
			return at_eof(r, na->out);
		if (rc != ARCHIVE_OK) {
			char d[300];
			/* where the next header should have been */
			set_err(r, BL_ERR_TRUNCATED, NULL, pos_now(r), "%s%s",
				archive_msg(r->a), stream_detail(r, d, sizeof d));
			return damaged(r);
		}
		if (r->skip_from >= 0 && note_skip(r, e) == ITEM_FAILED)
			return BL_FAILED;
		switch (place_member(r, e)) {
		case NEXT_MEMBER:
			continue;
		case DELIVER:
			return sample_deliver(r, na->out);
		case ITEM_FAILED:
			return BL_FAILED;
		default:
			return damaged(r);
		}
	}
}

int bl_reader_next(bl_reader *r, const bl_sample **out)
{
	struct next_args na = {r, out};

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
	return bl_reader_guarded(r, next_sample, &na);
}

/* ---- random access ------------------------------------------------------ */

/* Give back the mapped pages read since the tar was last entered (random
 * reads over a big shard must not keep it all resident). */
static void release_entered(bl_reader *r)
{
	long page = sysconf(_SC_PAGESIZE);
	int64_t lo, hi;

	if (!r->map || !r->a || page <= 0)
		return;
	lo = r->base - r->base % page;
	hi = pos_now(r);
	hi -= hi % page;
	if (hi > (int64_t)r->map_len)
		hi = (int64_t)r->map_len - (int64_t)r->map_len % page;
	if (hi > lo)
		madvise((char *)r->map + lo, (size_t)(hi - lo), MADV_DONTNEED);
}

/* The open shard has no sample starting at `at`. */
static int no_member_at(bl_reader *r, int64_t at, const char *why)
{
	set_err(r, BL_ERR_TRUNCATED, NULL, at,
		"no tar member starts at this offset (%s): the shard changed since it was "
		"indexed, or the offset is wrong", why);
	return shard_over(r, BL_FAILED);
}

/* Enter a plain tar at the header at `at`: a fresh libarchive reader on
 * the bytes from there.  BL_OK, BL_FAILED (no header there), BL_FATAL. */
static int enter_at(bl_reader *r, int64_t at)
{
	int64_t size = (int64_t)r->src_len;
	struct archive_entry *e;
	struct stat st;
	int ok;

	release_entered(r);
	if (r->map && !r->jumped) {
		/* out of order from now on: no more aggressive read-ahead */
		madvise(r->map, r->map_len, MADV_NORMAL);
		r->jumped = 1;
	}
	archive_read_free(r->a);
	r->a = new_archive(1);
	restart_state(r, at);
	r->state = ST_ENDED;
	if (!r->a) {
		set_err(r, BL_ERR_NOMEM, NULL, at, "out of memory");
		return BL_FATAL;
	}
	if (!r->src)
		size = fstat(r->fd, &st) == 0 ? (int64_t)st.st_size : -1;
	if (size >= 0 && at >= size) {
		char why[64];
		snprintf(why, sizeof why, "the shard has %lld bytes", (long long)size);
		return no_member_at(r, at, why);
	}
	if (r->src)
		ok = archive_read_open_memory(r->a, (const char *)r->src + at,
					      r->src_len - (size_t)at) == ARCHIVE_OK;
	else
		ok = lseek(r->fd, (off_t)at, SEEK_SET) == (off_t)at &&
		     bl_stream_open_fd_plain(r->stream, r->fd) == BL_OK &&
		     open_via_stream(r) == ARCHIVE_OK;
	/* the header there, read ahead: it must be whole and valid (the tar
	 * reader would skip a damaged one to the next) */
	if (!ok || read_header(r, &e) != ARCHIVE_OK || r->skip_from >= 0 || pos_header(r) != at)
		return no_member_at(r, at, "not a tar header");
	r->pending = e;
	r->state = ST_OPEN;
	return BL_OK;
}

/* Read a shard that cannot be entered in the middle again from its start,
 * as bl_reader_open did.  BL_OK or BL_FATAL. */
static int restart(bl_reader *r)
{
	char d[300];
	int rc;

	archive_read_free(r->a);
	r->a = new_archive(0);
	restart_state(r, 0);
	r->state = ST_ENDED;
	if (!r->a) {
		set_err(r, BL_ERR_NOMEM, NULL, -1, "out of memory");
		return BL_FATAL;
	}
	if (r->src) {
		struct open_mem o = {r, r->src, r->src_len};
		rc = open_memory_fn(&o);
	} else {
		rc = lseek(r->fd, 0, SEEK_SET) == 0 && bl_stream_open_fd(r->stream, r->fd) == BL_OK
			     ? open_via_stream(r)
			     : ARCHIVE_FATAL;
	}
	if (rc != ARCHIVE_OK) {
		set_err(r, BL_ERR_OPEN, NULL, -1, "cannot read it again from the start: %s%s",
			archive_msg(r->a), stream_detail(r, d, sizeof d));
		return BL_FATAL;
	}
	r->state = ST_OPEN;
	return BL_OK;
}

/*
 * Read on, sample by sample with no member loaded, until the header read
 * ahead is the one at `at`: the state is then exactly the streaming
 * reader's there (ordinals, the duplicate-key check, damage before).
 * BL_OK, BL_FAILED (no sample starts there), BL_FATAL (damage on the way).
 */
static int read_on(bl_reader *r, int64_t at)
{
	const bl_sample *smp;
	struct next_args na = {r, &smp};
	struct archive_entry *e;
	int rc;

	for (;;) {
		if (r->state != ST_OPEN)
			return no_member_at(r, at, "not found reading on");
		if (!r->pending) {
			rc = read_header(r, &e);
			if (rc == ARCHIVE_EOF)
				return no_member_at(r, at, "the shard ends before it");
			if (rc != ARCHIVE_OK) {
				char d[300];
				set_err(r, BL_ERR_TRUNCATED, NULL, pos_now(r), "%s%s", archive_msg(r->a),
					stream_detail(r, d, sizeof d));
				return damaged(r);
			}
			r->pending = e;
		}
		if (pos_header(r) == at) {
			/* damage just before it: said once, as the stream does;
			 * the sample then carries it */
			if (r->skip_from >= 0)
				note_skip(r, r->pending);
			return BL_OK;
		}
		if (pos_header(r) > at)
			return no_member_at(r, at, "not a sample's first header");
		r->load = 0; /* bl_reader_seek restores it, even after a fault */
		rc = next_sample(&na);
		if (rc == BL_FATAL)
			return rc;
	}
}

struct seek_args {
	bl_reader *r;
	int64_t at;
};

static int seek_fn(void *arg)
{
	struct seek_args *sa = arg;
	bl_reader *r = sa->r;
	int64_t at = sa->at;
	int rc;

	if (r->plain) {
		/* already there (reading in order): nothing to do */
		if (r->state == ST_OPEN && r->pending && r->skip_from < 0 && pos_header(r) == at)
			return BL_OK;
		return enter_at(r, at);
	}
	if (r->state != ST_OPEN || (r->pending ? pos_header(r) : pos_now(r)) > at) {
		if (!r->restartable) {
			set_err(r, BL_ERR_OPEN, NULL, at,
				"cannot go back in a shard read from a pipe or standard input");
			return BL_FAILED;
		}
		if ((rc = restart(r)) != BL_OK)
			return rc;
	}
	return read_on(r, at);
}

int bl_reader_seek(bl_reader *r, int64_t offset)
{
	struct seek_args sa = {r, offset};
	unsigned load;
	int rc;

	/* no shard, or one that did not open */
	if (!r || offset < 0 || r->state == ST_CLOSED || (r->fd < 0 && !r->src))
		return BL_EUSAGE;
	load = r->load;
	rc = bl_reader_guarded(r, seek_fn, &sa);
	r->load = load;
	return rc;
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

size_t bl_reader_nproblems(const bl_reader *r)
{
	return r ? r->nprob : 0;
}

size_t bl_reader_problems_unlisted(const bl_reader *r)
{
	return r ? r->prob_more : 0;
}

int bl_reader_problem(const bl_reader *r, size_t i, bl_errkind *kind,
		      int64_t *offset, const char **msg)
{
	if (!r || i >= r->nprob)
		return BL_EUSAGE;
	if (kind)
		*kind = r->prob[i].kind;
	if (offset)
		*offset = r->prob[i].offset;
	if (msg)
		*msg = r->prob_text.buf + r->prob[i].msg;
	return BL_OK;
}

int64_t bl_reader_bytes_read(const bl_reader *r)
{
	if (!r || !r->a)
		return 0;
	if (r->via_stream)
		return r->base + bl_stream_in_bytes(r->stream);
	return r->base + archive_filter_bytes(r->a, -1);
}

int bl_reader_seekable(const bl_reader *r)
{
	return r && r->seekable;
}

const char *bl_reader_compression(const bl_reader *r)
{
	int fmt;
	if (!r || !r->a || r->state == ST_CLOSED)
		return NULL;
	fmt = r->stream ? bl_stream_format(r->stream) : BL_Z_NONE;
	if (fmt != BL_Z_NONE)
		return bl_stream_format_name(fmt);
	/* a filter only libarchive decodes (lz4, lzip ...): filter 0 is
	 * the outermost, the last one reads the file */
	return archive_filter_count(r->a) > 1 ? archive_filter_name(r->a, 0) : "none";
}
