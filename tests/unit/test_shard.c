/*
 * Unit tests for the shard reader (lib/shard.c), shard specs (lib/spec.c),
 * the writer (lib/writer.c) and the synthetic generator (lib/synth.c).
 * Tars with bad input are built here with libarchive's writer, so every
 * bad-input case has a test that does not depend on shared data.
 */
#include "test.h"
#include "shard_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct ent {
	const char *name;
	int type;        /* AE_IFREG (0 means regular), AE_IFLNK, AE_IFDIR */
	const char *data; /* NUL-terminated unless len is set */
	size_t len;
};

static const char *tpath(const char *name)
{
	static char p[4][1024];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", bl_test_tmpdir(), name);
	return p[k];
}

static int make_tar(const char *path, const struct ent *e, size_t n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *en = archive_entry_new();
	int ok = 1;
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		ok = 0;
	for (size_t i = 0; ok && i < n; i++) {
		size_t len = e[i].len ? e[i].len : (e[i].data ? strlen(e[i].data) : 0);
		int type = e[i].type ? e[i].type : (int)AE_IFREG;
		archive_entry_clear(en);
		archive_entry_set_pathname(en, e[i].name);
		archive_entry_set_filetype(en, (unsigned)type);
		archive_entry_set_perm(en, 0644);
		if (type == AE_IFLNK) {
			archive_entry_set_symlink(en, "target");
			len = 0;
		}
		archive_entry_set_size(en, type == AE_IFREG ? (la_int64_t)len : 0);
		if (archive_write_header(a, en) != ARCHIVE_OK)
			ok = 0;
		if (ok && type == AE_IFREG && len &&
		    archive_write_data(a, e[i].data, len) != (la_ssize_t)len)
			ok = 0;
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		ok = 0;
	archive_write_free(a);
	archive_entry_free(en);
	return ok;
}

/* Read a whole shard; record results as a compact string like
 * "a:OK b:WARN(no_caption) FAILED(not_regular) FATAL(truncated)". */
static int read_all(bl_reader *r, const char *path, bl_buf *log, bl_buf *lastmsg)
{
	const bl_sample *s;
	int rc, n = 0;
	bl_buf_reset(log);
	if (bl_reader_open(r, path) != BL_OK) {
		bl_buf_addf(log, "OPEN(%s)", bl_errkind_name(bl_reader_errkind(r)));
		if (lastmsg) {
			bl_buf_reset(lastmsg);
			bl_buf_adds(lastmsg, bl_reader_errmsg(r));
		}
		return 0;
	}
	while ((rc = bl_reader_next(r, &s)) != BL_END) {
		if (log->len)
			bl_buf_addch(log, ' ');
		if (rc == BL_OK) {
			bl_buf_addf(log, "%s:OK", s->key);
			n++;
		} else if (rc == BL_WARN) {
			bl_buf_addf(log, "%s:WARN(%s)", s->key,
				    bl_errkind_name(bl_reader_errkind(r)));
			n++;
		} else {
			bl_buf_addf(log, "%s(%s)", rc == BL_FAILED ? "FAILED" : "FATAL",
				    bl_errkind_name(bl_reader_errkind(r)));
		}
		if (rc != BL_OK && lastmsg) {
			bl_buf_reset(lastmsg);
			bl_buf_adds(lastmsg, bl_reader_errmsg(r));
		}
		if (rc == BL_FATAL) {
			/* after FATAL the shard is over */
			CHECK_EQ_INT(bl_reader_next(r, &s), BL_END);
			break;
		}
	}
	bl_reader_close(r);
	return n;
}

BL_TEST(shard_groups_members_by_key)
{
	static const unsigned char jpg[] = {0xff, 0xd8, 0xff, 0xd9};
	struct ent e[] = {
		{"a.jpg", 0, (const char *)jpg, sizeof jpg},
		{"a.txt", 0, "a caption", 0},
		{"a.json", 0, "{\"x\":1}", 0},
		{"dir/b.TXT", 0, "second", 0},
		{"dir/b.seg.0.cls", 0, "7", 0},
		{"c.txt.gz", 0, "zz", 0},
	};
	const char *p = tpath("group.tar");
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	REQUIRE(make_tar(p, e, sizeof e / sizeof e[0]));
	REQUIRE(r);
	REQUIRE(bl_reader_open(r, p) == BL_OK);

	REQUIRE(bl_reader_next(r, &s) == BL_OK);
	CHECK_EQ_STR(s->key, "a");
	CHECK_EQ_INT(s->ordinal, 0);
	CHECK_EQ_INT(s->offset, 0);
	CHECK_EQ_INT(s->nmembers, 3);
	REQUIRE(s->caption && s->json && s->image);
	CHECK_EQ_STR((const char *)s->caption->data, "a caption");
	CHECK_EQ_INT(s->caption->len, 9);
	CHECK_EQ_STR((const char *)s->json->data, "{\"x\":1}");
	/* images are not loaded by default: size known, bytes skipped */
	CHECK(s->image->data == NULL);
	CHECK_EQ_INT(s->image->size, 4);
	CHECK_EQ_STR(s->image->ext, "jpg");

	REQUIRE(bl_reader_next(r, &s) == BL_OK);
	CHECK_EQ_STR(s->key, "dir/b");
	CHECK_EQ_INT(s->ordinal, 1);
	CHECK(s->offset > 0);
	CHECK_EQ_INT(s->nmembers, 2);
	CHECK_EQ_STR(s->members[0].ext, "txt"); /* lower-cased */
	CHECK_EQ_STR(s->members[1].ext, "seg.0.cls");
	REQUIRE(s->caption);
	CHECK_EQ_STR((const char *)s->caption->data, "second");

	/* a txt.gz that is not gzip: its caption is damaged, not loaded */
	CHECK_EQ_INT(bl_reader_next(r, &s), BL_WARN);
	CHECK_EQ_STR(s->key, "c");
	REQUIRE(s->caption);
	CHECK(s->caption->data == NULL);
	CHECK(s->problems & BL_PROBLEM(BL_ERR_DAMAGED));
	CHECK_EQ_INT(bl_reader_errkind(r), BL_ERR_DAMAGED);
	CHECK_CONTAINS(bl_reader_errmsg(r), "member 'c.txt.gz'");
	CHECK_CONTAINS(bl_reader_errmsg(r), "not compressed data");
	CHECK_EQ_INT(bl_reader_next(r, &s), BL_END);
	CHECK_EQ_INT(bl_reader_next(r, &s), BL_END);

	/* with every member loaded the image bytes are there */
	REQUIRE(bl_reader_set_load(r, BL_LOAD_ALL) == BL_OK);
	REQUIRE(bl_reader_open(r, p) == BL_OK);
	REQUIRE(bl_reader_next(r, &s) == BL_OK);
	REQUIRE(s->image && s->image->data);
	CHECK(memcmp(s->image->data, jpg, 4) == 0);
	bl_reader_free(r);
	bl_reader_free(NULL);
}

BL_TEST(shard_not_regular_members)
{
	struct ent e[] = {
		{"d", AE_IFDIR, NULL, 0},      /* directories: skipped silently */
		{"d/a.txt", 0, "x", 0},
		{"d/a.lnk", AE_IFLNK, NULL, 0}, /* inside a sample: a problem */
		{"b.lnk", AE_IFLNK, NULL, 0},   /* alone: a failed item */
		{"c.txt", 0, "y", 0},
	};
	const char *p = tpath("links.tar");
	bl_reader *r = bl_reader_new();
	bl_buf log, msg;
	bl_buf_init(&log, 0);
	bl_buf_init(&msg, 0);
	REQUIRE(make_tar(p, e, sizeof e / sizeof e[0]));
	CHECK_EQ_INT(read_all(r, p, &log, &msg), 2);
	CHECK_EQ_STR(log.buf, "d/a:WARN(not_regular) FAILED(not_regular) c:OK");
	CHECK_CONTAINS(msg.buf, "member 'b.lnk' at offset ");
	CHECK_CONTAINS(msg.buf, "not a regular file");
	CHECK_CONTAINS(msg.buf, "links.tar");
	bl_reader_free(r);
	bl_buf_release(&log);
	bl_buf_release(&msg);
}

BL_TEST(shard_duplicate_keys)
{
	struct ent e[] = {
		{"a.txt", 0, "one", 0},
		{"b.txt", 0, "two", 0},
		{"a.json", 0, "{}", 0},  /* a again, not adjacent */
		{"a.jpg", 0, "zz", 0},   /* ... and its next member */
		{"c.txt", 0, "three", 0},
		{"c.txt", 0, "again", 0}, /* same member twice in a row */
	};
	const char *p = tpath("dup.tar");
	bl_reader *r = bl_reader_new();
	bl_buf log, msg;
	const bl_sample *s;
	bl_buf_init(&log, 0);
	bl_buf_init(&msg, 0);
	REQUIRE(make_tar(p, e, sizeof e / sizeof e[0]));
	CHECK_EQ_INT(read_all(r, p, &log, &msg), 3);
	CHECK_EQ_STR(log.buf, "a:OK b:OK FAILED(duplicate_key) c:WARN(duplicate_key)");
	/* the first caption of c is the one kept */
	REQUIRE(bl_reader_open(r, p) == BL_OK);
	for (int i = 0; i < 3; i++)
		bl_reader_next(r, &s);
	REQUIRE(bl_reader_next(r, &s) == BL_WARN);
	CHECK_EQ_STR((const char *)s->caption->data, "three");
	CHECK_EQ_INT(s->nmembers, 1);
	bl_reader_free(r);
	bl_buf_release(&log);
	bl_buf_release(&msg);
}

BL_TEST(shard_dup_key_message_names_member)
{
	struct ent e[] = {
		{"a.txt", 0, "one", 0},
		{"b.txt", 0, "two", 0},
		{"a.json", 0, "{}", 0},
	};
	const char *p = tpath("dup2.tar");
	bl_reader *r = bl_reader_new();
	bl_buf log, msg;
	bl_buf_init(&log, 0);
	bl_buf_init(&msg, 0);
	REQUIRE(make_tar(p, e, 3));
	read_all(r, p, &log, &msg);
	CHECK_CONTAINS(msg.buf, "member 'a.json' at offset ");
	CHECK_CONTAINS(msg.buf, "already seen");
	bl_reader_free(r);
	bl_buf_release(&log);
	bl_buf_release(&msg);
}

BL_TEST(shard_limits_and_bad_text)
{
	struct ent e[] = {
		{"a.txt", 0, "a caption far longer than twenty bytes", 0},
		{"b.txt", 0, "ok", 0},
		{"c.txt", 0, "bad \xff byte", 0},
		{"d.jpg", 0, "0123456789abcdefghij", 0},
		{"d.txt", 0, "fine", 0},
		{"e.1", 0, "1", 0},
		{"e.2", 0, "2", 0},
		{"e.3", 0, "3", 0},
		{"e.txt", 0, "4", 0},
	};
	const char *p = tpath("limits.tar");
	bl_limits lim = {0};
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	REQUIRE(make_tar(p, e, sizeof e / sizeof e[0]));
	lim.max_caption = 20;
	lim.max_member = 16;
	lim.max_members = 3;
	REQUIRE(bl_reader_set_limits(r, &lim) == BL_OK);
	REQUIRE(bl_reader_set_load(r, BL_LOAD_ALL) == BL_OK);
	REQUIRE(bl_reader_open(r, p) == BL_OK);

	REQUIRE(bl_reader_next(r, &s) == BL_WARN);
	CHECK_EQ_STR(s->key, "a");
	CHECK(s->problems & BL_PROBLEM(BL_ERR_TOO_BIG));
	CHECK(s->caption && s->caption->data == NULL);
	CHECK_CONTAINS(bl_reader_errmsg(r), "over the 20-byte limit");
	CHECK_CONTAINS(bl_reader_errmsg(r), "member 'a.txt'");

	REQUIRE(bl_reader_next(r, &s) == BL_OK);
	CHECK_EQ_STR(s->key, "b");

	REQUIRE(bl_reader_next(r, &s) == BL_WARN);
	CHECK_EQ_STR(s->key, "c");
	CHECK(s->problems & BL_PROBLEM(BL_ERR_BAD_UTF8));
	CHECK_CONTAINS(bl_reader_errmsg(r), "not valid UTF-8 at byte 4");

	REQUIRE(bl_reader_next(r, &s) == BL_WARN);
	CHECK_EQ_STR(s->key, "d");
	CHECK(s->problems & BL_PROBLEM(BL_ERR_TOO_BIG));
	CHECK(s->image && s->image->data == NULL && s->image->size == 20);
	CHECK_EQ_STR((const char *)s->caption->data, "fine");

	REQUIRE(bl_reader_next(r, &s) == BL_WARN);
	CHECK_EQ_STR(s->key, "e");
	CHECK(s->problems & BL_PROBLEM(BL_ERR_TOO_MANY));
	CHECK_EQ_INT(s->nmembers, 3);
	CHECK_EQ_INT(bl_reader_next(r, &s), BL_END);
	bl_reader_free(r);
}

BL_TEST(shard_bad_paths)
{
	char longname[300];
	memset(longname, 'x', sizeof longname);
	memcpy(longname + sizeof longname - 5, ".txt", 5);
	struct ent e[] = {
		{"noextension", 0, "x", 0},
		{"dir/.hidden", 0, "x", 0},
		{longname, 0, "x", 0},
		{"ok.txt", 0, "fine", 0},
	};
	const char *p = tpath("paths.tar");
	bl_limits lim = {0};
	bl_reader *r = bl_reader_new();
	bl_buf log, msg;
	bl_buf_init(&log, 0);
	bl_buf_init(&msg, 0);
	REQUIRE(make_tar(p, e, 4));
	lim.max_path = 200;
	REQUIRE(bl_reader_set_limits(r, &lim) == BL_OK);
	CHECK_EQ_INT(read_all(r, p, &log, &msg), 1);
	CHECK_EQ_STR(log.buf, "FAILED(bad_path) FAILED(bad_path) FAILED(bad_path) ok:OK");
	bl_reader_free(r);
	bl_buf_release(&log);
	bl_buf_release(&msg);
}

BL_TEST(shard_open_errors)
{
	bl_reader *r = bl_reader_new();
	bl_buf log, msg;
	const char *junk = tpath("junk.tar"), *empty = tpath("empty.tar");
	FILE *f;
	bl_buf_init(&log, 0);
	bl_buf_init(&msg, 0);
	read_all(r, tpath("does-not-exist.tar"), &log, &msg);
	CHECK_EQ_STR(log.buf, "OPEN(open)");
	CHECK_CONTAINS(msg.buf, "does-not-exist.tar");
	CHECK_CONTAINS(msg.buf, "No such file");
	read_all(r, bl_test_tmpdir(), &log, &msg);
	CHECK_EQ_STR(log.buf, "OPEN(open)");
	CHECK_CONTAINS(msg.buf, "is a directory");
	f = fopen(junk, "w");
	REQUIRE(f);
	for (int i = 0; i < 4000; i++)
		fputc("not a tar archive\n"[i % 18], f);
	fclose(f);
	CHECK_EQ_INT(read_all(r, junk, &log, &msg), 0);
	CHECK(strstr(log.buf, "open") || strstr(log.buf, "truncated"));
	f = fopen(empty, "w");
	REQUIRE(f);
	fclose(f);
	/* an empty file is no archive (GNU tar: "does not look like a tar
	 * archive"), nor is less than the end blocks of an empty one; 1024
	 * zero bytes are an empty archive */
	CHECK_EQ_INT(read_all(r, empty, &log, &msg), 0);
	CHECK_EQ_STR(log.buf, "FATAL(truncated)");
	CHECK_CONTAINS(msg.buf, "empty.tar");
	CHECK_CONTAINS(msg.buf, "no tar archive: 0 bytes");
	f = fopen(empty, "w");
	REQUIRE(f);
	for (int i = 0; i < 512; i++)
		fputc(0, f);
	fclose(f);
	CHECK_EQ_INT(read_all(r, empty, &log, &msg), 0);
	CHECK_EQ_STR(log.buf, "FATAL(truncated)");
	f = fopen(empty, "w");
	REQUIRE(f);
	for (int i = 0; i < 1024; i++)
		fputc(0, f);
	fclose(f);
	CHECK_EQ_INT(read_all(r, empty, &log, &msg), 0);
	CHECK_EQ_STR(log.buf, "");
	/* misuse */
	const bl_sample *s;
	CHECK_EQ_INT(bl_reader_next(r, &s), BL_EUSAGE);
	CHECK_EQ_INT(bl_reader_next(NULL, &s), BL_EUSAGE);
	bl_reader_free(r);
	bl_buf_release(&log);
	bl_buf_release(&msg);
}

/*
 * Truncation at every cut point: the samples delivered are exactly those
 * known to be whole before the cut (the next sample's header was read),
 * each delivered once and intact, and the shard ends with BL_FATAL naming
 * an offset.
 */
BL_TEST(shard_truncated_every_cut)
{
	enum { N = 6 };
	struct ent e[2 * N];
	char names[2 * N][32], caps[N][32];
	static char img[1500];
	const char *full = tpath("full.tar"), *cut = tpath("cut.tar");
	int64_t ends[N], starts[N];
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	FILE *f;
	char *bytes;
	long size;

	memset(img, 'i', sizeof img);
	for (int i = 0; i < N; i++) {
		snprintf(names[2 * i], 32, "k%d.jpg", i);
		snprintf(names[2 * i + 1], 32, "k%d.txt", i);
		snprintf(caps[i], 32, "caption number %d", i);
		e[2 * i] = (struct ent){names[2 * i], 0, img, sizeof img};
		e[2 * i + 1] = (struct ent){names[2 * i + 1], 0, caps[i], 0};
	}
	REQUIRE(make_tar(full, e, 2 * N));
	/* where each sample's last byte of data ends, from the reader itself */
	REQUIRE(bl_reader_open(r, full) == BL_OK);
	for (int i = 0; i < N; i++) {
		REQUIRE(bl_reader_next(r, &s) == BL_OK);
		const bl_member *last = &s->members[s->nmembers - 1];
		/* pax_restricted writes plain ustar headers here: 512 bytes */
		ends[i] = last->offset + 512 + last->size;
		starts[i] = s->offset;
	}
	CHECK_EQ_INT(bl_reader_next(r, &s), BL_END);
	f = fopen(full, "rb");
	REQUIRE(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	bytes = malloc((size_t)size);
	REQUIRE(bytes && fread(bytes, 1, (size_t)size, f) == (size_t)size);
	fclose(f);

	for (unsigned load = BL_LOAD_TEXT; load <= BL_LOAD_ALL; load += BL_LOAD_ALL - BL_LOAD_TEXT) {
		REQUIRE(bl_reader_set_load(r, load) == BL_OK);
		for (long c = 1; c < ends[N - 1]; c += 97) {
			int want = 0, got = 0, rc, fatal = 0;
			/* a sample is delivered once the next sample's header has
			 * been read whole: before that it may still be missing
			 * members */
			for (int i = 0; i + 1 < N; i++)
				want += starts[i + 1] + 512 <= c;
			f = fopen(cut, "wb");
			REQUIRE(f);
			fwrite(bytes, 1, (size_t)c, f);
			fclose(f);
			if (bl_reader_open(r, cut) != BL_OK) {
				/* cut inside the first header: not even a tar yet */
				CHECK(c < 1024);
				CHECK_EQ_INT(want, 0);
				continue;
			}
			while ((rc = bl_reader_next(r, &s)) != BL_END) {
				if (rc == BL_FATAL) {
					fatal = 1;
					CHECK_CONTAINS(bl_reader_errmsg(r), "at offset");
					CHECK_EQ_INT(bl_reader_errkind(r), BL_ERR_TRUNCATED);
					continue;
				}
				if (rc != BL_OK) {
					bl_test_failf(__FILE__, __LINE__, "cut at %ld: rc %d: %s",
						      c, rc, bl_reader_errmsg(r));
					break;
				}
				char key[16];
				snprintf(key, sizeof key, "k%d", got);
				CHECK_EQ_STR(s->key, key);
				REQUIRE(s->caption && s->caption->data);
				CHECK_EQ_STR((const char *)s->caption->data, caps[got]);
				got++;
			}
			if (got != want || !fatal)
				bl_test_failf(__FILE__, __LINE__,
					      "cut at %ld (load %u): %d samples (want %d), fatal %d",
					      c, load, got, want, fatal);
		}
	}
	free(bytes);
	bl_reader_free(r);
}

static void write_samples(const char *path, int n)
{
	bl_writer *w = bl_writer_new();
	char key[32], cap[64];
	REQUIRE(w);
	REQUIRE(bl_writer_open(w, path) == BL_OK);
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof key, "%06d", i);
		snprintf(cap, sizeof cap, "caption %d", i);
		REQUIRE(bl_writer_add(w, key, "txt", cap, strlen(cap)) == BL_OK);
		REQUIRE(bl_writer_add(w, key, "json", "{}", 2) == BL_OK);
	}
	REQUIRE(bl_writer_close(w) == BL_OK);
	bl_writer_free(w);
}

static long file_size(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

BL_TEST(shard_compressed_formats)
{
	static const char *const names[] = {"c.tar", "c.tar.gz", "c.tgz", "c.tar.zst", "c.tar.xz"};
	bl_reader *r = bl_reader_new();
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		const char *p = tpath(names[k]);
		const bl_sample *s;
		int n = 0, rc;
		write_samples(p, 50);
		REQUIRE(bl_reader_open(r, p) == BL_OK);
		CHECK_EQ_INT(bl_reader_seekable(r), k == 0);
		while ((rc = bl_reader_next(r, &s)) == BL_OK) {
			char cap[64];
			snprintf(cap, sizeof cap, "caption %d", n);
			CHECK_EQ_STR((const char *)s->caption->data, cap);
			n++;
		}
		CHECK_EQ_INT(rc, BL_END);
		CHECK_EQ_INT(n, 50);
		CHECK(bl_reader_bytes_read(r) == file_size(p));
		bl_reader_close(r);
	}
	/* compressed files are smaller than the tar: the filter did run */
	CHECK(file_size(tpath("c.tar.zst")) < file_size(tpath("c.tar")) / 4);
	bl_reader_free(r);
}

BL_TEST(shard_truncated_gzip)
{
	const char *p = tpath("t.tar.gz"), *cut = tpath("t-cut.tar.gz");
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	long size;
	int rc, n = 0, fatal = 0;
	char cmd[2048];
	write_samples(p, 3000);
	size = file_size(p);
	REQUIRE(size > 1000);
	snprintf(cmd, sizeof cmd, "head -c %ld '%s' > '%s'", size / 2, p, cut);
	REQUIRE(system(cmd) == 0);
	REQUIRE(bl_reader_open(r, cut) == BL_OK);
	while ((rc = bl_reader_next(r, &s)) != BL_END) {
		if (rc == BL_FATAL) {
			fatal = 1;
			CHECK_CONTAINS(bl_reader_errmsg(r), "t-cut.tar.gz");
			continue;
		}
		REQUIRE(rc == BL_OK);
		char cap[64];
		snprintf(cap, sizeof cap, "caption %d", n);
		CHECK_EQ_STR((const char *)s->caption->data, cap);
		n++;
	}
	CHECK(fatal);
	CHECK(n > 100 && n < 3000);
	bl_reader_free(r);
}

/* A member's offset enters a plain tar there: the sample delivered
 * starts with that member; an offset inside a member is no header. */
BL_TEST(shard_seek_to_a_member_offset)
{
	const char *p = tpath("seek.tar");
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	int64_t off = -1;
	write_samples(p, 20);
	REQUIRE(bl_reader_open(r, p) == BL_OK);
	for (int i = 0; i < 8; i++)
		REQUIRE(bl_reader_next(r, &s) == BL_OK);
	off = s->caption->offset;
	REQUIRE(bl_reader_seek(r, off) == BL_OK);
	REQUIRE(bl_reader_next(r, &s) == BL_OK || bl_reader_errkind(r) == BL_ERR_NO_CAPTION);
	CHECK_EQ_STR(s->members[0].name, "000007.txt");
	CHECK(s->caption && s->caption->data && !strcmp((const char *)s->caption->data, "caption 7"));
	CHECK(s->ordinal == BL_ORDINAL_UNKNOWN);
	CHECK_EQ_INT(bl_reader_seek(r, off + 3), BL_FAILED);
	CHECK_EQ_INT(bl_reader_errkind(r), BL_ERR_TRUNCATED);
	CHECK_CONTAINS(bl_reader_errmsg(r), "seek.tar");
	CHECK_EQ_INT(bl_reader_next(r, &s), BL_END);
	CHECK_EQ_INT(bl_reader_seek(r, -1), BL_EUSAGE);
	CHECK_EQ_INT(bl_reader_seek(r, (int64_t)1 << 40), BL_FAILED);
	CHECK_CONTAINS(bl_reader_errmsg(r), "bytes");
	/* offset 0 counts ordinals again */
	REQUIRE(bl_reader_seek(r, 0) == BL_OK);
	REQUIRE(bl_reader_next(r, &s) == BL_OK);
	CHECK_EQ_INT(s->ordinal, 0);
	bl_reader_close(r);
	CHECK_EQ_INT(bl_reader_seek(r, 0), BL_EUSAGE);
	bl_reader_free(r);
}

BL_TEST(writer_is_reproducible_and_atomic)
{
	const char *names[][2] = {{"w1.tar", "w2.tar"}, {"w1.tar.gz", "w2.tar.gz"}};
	for (int k = 0; k < 2; k++) {
		char cmd[2048];
		write_samples(tpath(names[k][0]), 30);
		sleep(k == 0 ? 1 : 0); /* a different wall clock must not matter */
		write_samples(tpath(names[k][1]), 30);
		snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", tpath(names[k][0]), tpath(names[k][1]));
		CHECK(system(cmd) == 0);
	}
	/* freeing without close leaves nothing behind */
	bl_writer *w = bl_writer_new();
	const char *p = tpath("abandoned.tar");
	char tmp[1100];
	REQUIRE(bl_writer_open(w, p) == BL_OK);
	REQUIRE(bl_writer_add(w, "k", "txt", "x", 1) == BL_OK);
	bl_writer_free(w);
	snprintf(tmp, sizeof tmp, "%s.tmp", p);
	CHECK(access(p, F_OK) != 0);
	CHECK(access(tmp, F_OK) != 0);
	/* a directory that does not exist is an error, not a crash */
	w = bl_writer_new();
	CHECK_EQ_INT(bl_writer_open(w, tpath("no/such/dir/x.tar")), BL_FAILED);
	CHECK_CONTAINS(bl_writer_errmsg(w), "cannot create");
	bl_writer_free(w);
}

BL_TEST(spec_expansion)
{
	bl_strlist l;
	char err[256];
	bl_strlist_init(&l);
	REQUIRE(bl_spec_expand("s/{00008..00011}.tar", &l, 0, err, sizeof err) == BL_OK);
	REQUIRE(l.n == 4);
	CHECK_EQ_STR(l.items[0], "s/00008.tar");
	CHECK_EQ_STR(l.items[3], "s/00011.tar");
	bl_strlist_release(&l);

	REQUIRE(bl_spec_expand("{a,b}/{1..2}.tar", &l, 0, err, sizeof err) == BL_OK);
	REQUIRE(l.n == 4);
	CHECK_EQ_STR(l.items[0], "a/1.tar");
	CHECK_EQ_STR(l.items[1], "a/2.tar");
	CHECK_EQ_STR(l.items[3], "b/2.tar");
	bl_strlist_release(&l);

	REQUIRE(bl_spec_expand("x/{3..1}.tar", &l, 0, err, sizeof err) == BL_OK);
	REQUIRE(l.n == 3);
	CHECK_EQ_STR(l.items[0], "x/3.tar");
	bl_strlist_release(&l);

	REQUIRE(bl_spec_expand("-", &l, 0, err, sizeof err) == BL_OK);
	CHECK_EQ_STR(l.items[0], "-");
	bl_strlist_release(&l);

	/* errors leave the list as it was */
	REQUIRE(bl_strlist_add(&l, "keep") == BL_OK);
	CHECK_EQ_INT(bl_spec_expand("s/{0..1000}.tar", &l, 100, err, sizeof err), BL_FAILED);
	CHECK_CONTAINS(err, "more than 100");
	CHECK_EQ_INT(bl_spec_expand("s/{0..3.tar", &l, 0, err, sizeof err), BL_FAILED);
	CHECK_CONTAINS(err, "unmatched");
	CHECK_EQ_INT(bl_spec_expand("s/{abc}.tar", &l, 0, err, sizeof err), BL_FAILED);
	CHECK_EQ_INT(bl_spec_expand("/nonexistent-dir-xyz/*.tar", &l, 0, err, sizeof err), BL_FAILED);
	CHECK_CONTAINS(err, "matches no file");
	CHECK_EQ_INT(bl_spec_expand("", &l, 0, err, sizeof err), BL_FAILED);
	CHECK_EQ_INT(l.n, 1);
	bl_strlist_release(&l);
}

BL_TEST(spec_glob_and_list)
{
	const char *d = bl_test_tmpdir();
	char p[1024], list[1024], spec[1100];
	bl_strlist l;
	char err[256];
	FILE *f;
	bl_strlist_init(&l);
	snprintf(p, sizeof p, "%s/globs", d);
	mkdir(p, 0755);
	for (int i = 3; i >= 0; i--) {
		char q[1100];
		snprintf(q, sizeof q, "%s/globs/%05d.tar", d, i);
		f = fopen(q, "w");
		REQUIRE(f);
		fclose(f);
	}
	snprintf(spec, sizeof spec, "%s/globs/*.tar", d);
	REQUIRE(bl_spec_expand(spec, &l, 0, err, sizeof err) == BL_OK);
	REQUIRE(l.n == 4);
	CHECK(strstr(l.items[0], "00000.tar") && strstr(l.items[3], "00003.tar"));
	bl_strlist_release(&l);

	snprintf(list, sizeof list, "%s/list.txt", d);
	f = fopen(list, "w");
	REQUIRE(f);
	fprintf(f, "# shards for run 7\n\n  %s/globs/00002.tar  \nother/{1..2}.tar\n", d);
	fclose(f);
	snprintf(spec, sizeof spec, "@%s", list);
	REQUIRE(bl_spec_expand(spec, &l, 0, err, sizeof err) == BL_OK);
	REQUIRE(l.n == 3);
	CHECK(strstr(l.items[0], "globs/00002.tar") != NULL);
	CHECK_EQ_STR(l.items[2], "other/2.tar");
	bl_strlist_release(&l);
	CHECK_EQ_INT(bl_spec_expand("@/nonexistent/list", &l, 0, err, sizeof err), BL_FAILED);
	CHECK_CONTAINS(err, "cannot open list");
}

BL_TEST(synth_is_deterministic_and_plants_the_skew)
{
	bl_synth_config cfg;
	bl_synth *a, *b;
	bl_synth_sample s;
	char err[256], cap[512];
	long n[3][BL_SYN_NGROUPS] = {{0}}, sx[3][BL_SYN_NGROUPS] = {{0}};
	long minors_sexual = 0;

	memset(&cfg, 0, sizeof cfg);
	cfg.seed = 42;
	cfg.image_size = 16;
	cfg.nskews = 1;
	cfg.skews[0].group = BL_SYN_EAST_ASIAN;
	cfg.skews[0].gender = BL_SYN_FEMALE;
	cfg.skews[0].factor = 3;
	a = bl_synth_new(&cfg, err, sizeof err);
	b = bl_synth_new(&cfg, err, sizeof err);
	REQUIRE(a && b);
	/* the same (shard, index) gives the same sample, whatever came before */
	REQUIRE(bl_synth_make(a, 3, 17, &s) == BL_OK);
	snprintf(cap, sizeof cap, "%s", s.caption);
	REQUIRE(bl_synth_make(b, 0, 0, &s) == BL_OK);
	REQUIRE(bl_synth_make(b, 3, 17, &s) == BL_OK);
	CHECK_EQ_STR(s.caption, cap);
	CHECK_EQ_STR(s.key, "000030017");
	CHECK(s.jpeg_len > 100 && s.jpeg[0] == 0xff && s.jpeg[1] == 0xd8);

	for (int i = 0; i < 200000; i++) {
		REQUIRE(bl_synth_make(a, (uint64_t)(i / 10000), (uint64_t)(i % 10000), &s) == BL_OK);
		if (s.truth.minor) {
			minors_sexual += s.truth.sexual != 0;
			continue;
		}
		n[s.truth.gender][s.truth.group]++;
		sx[s.truth.gender][s.truth.group] += s.truth.sexual != 0;
	}
	CHECK_EQ_INT(minors_sexual, 0);
	long nf = 0, sf = 0;
	for (int g = 0; g < BL_SYN_NGROUPS; g++) {
		nf += n[BL_SYN_FEMALE][g];
		sf += sx[BL_SYN_FEMALE][g];
	}
	double rate_f = (double)sf / (double)nf;
	double rate_ea = (double)sx[BL_SYN_FEMALE][BL_SYN_EAST_ASIAN] / (double)n[BL_SYN_FEMALE][BL_SYN_EAST_ASIAN];
	double rate_bl = (double)sx[BL_SYN_FEMALE][BL_SYN_BLACK] / (double)n[BL_SYN_FEMALE][BL_SYN_BLACK];
	/* overall female rate stays at the base; the planted lift is 3 */
	CHECK(rate_f > 0.074 && rate_f < 0.086);
	CHECK(rate_ea / rate_f > 2.7 && rate_ea / rate_f < 3.3);
	CHECK(rate_bl / rate_f < 0.9);
	bl_synth_free(a);
	bl_synth_free(b);

	/* a skew that cannot be planted is refused with a reason */
	cfg.skews[0].factor = 20;
	a = bl_synth_new(&cfg, err, sizeof err);
	CHECK(a == NULL);
	CHECK_CONTAINS(err, "cannot be planted");
}

BL_TEST(shard_image_head_only)
{
	static char big[100000];
	struct ent e[] = {
		{"a.jpg", 0, big, sizeof big},
		{"a.txt", 0, "first", 0},
		{"b.png", 0, "tiny", 0},
		{"b.txt", 0, "second", 0},
	};
	const char *p = tpath("head.tar");
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7);
	REQUIRE(make_tar(p, e, 4));
	REQUIRE(bl_reader_set_load(r, BL_LOAD_TEXT | BL_LOAD_IMAGE_HEAD) == BL_OK);
	/* twice: mapped (zero copy) and with read() */
	for (int pass = 0; pass < 2; pass++) {
	if (pass)
		setenv("BALLAST_NO_MMAP", "1", 1);
	REQUIRE(bl_reader_open(r, p) == BL_OK);
	REQUIRE(bl_reader_next(r, &s) == BL_OK);
	REQUIRE(s->image && s->image->data);
	CHECK_EQ_INT(s->image->len, BL_IMAGE_HEAD);
	CHECK_EQ_INT(s->image->size, sizeof big);
	CHECK(memcmp(s->image->data, big, BL_IMAGE_HEAD) == 0);
	CHECK_EQ_STR((const char *)s->caption->data, "first");
	REQUIRE(bl_reader_next(r, &s) == BL_OK);
	REQUIRE(s->image && s->image->data);
	CHECK_EQ_INT(s->image->len, 4); /* smaller than the head: all of it */
	CHECK_EQ_STR((const char *)s->caption->data, "second");
	CHECK_EQ_INT(bl_reader_next(r, &s), BL_END);
	}
	unsetenv("BALLAST_NO_MMAP");
	bl_reader_free(r);
}

BL_TEST(shard_open_memory)
{
	const char *p = tpath("mem.tar");
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	FILE *f;
	char *bytes;
	long size;
	int n = 0, rc;
	write_samples(p, 25);
	f = fopen(p, "rb");
	REQUIRE(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	bytes = malloc((size_t)size);
	REQUIRE(bytes && fread(bytes, 1, (size_t)size, f) == (size_t)size);
	fclose(f);
	REQUIRE(bl_reader_open_memory(r, bytes, (size_t)size, "in-memory") == BL_OK);
	while ((rc = bl_reader_next(r, &s)) == BL_OK) {
		char cap[64];
		snprintf(cap, sizeof cap, "caption %d", n++);
		CHECK_EQ_STR((const char *)s->caption->data, cap);
		CHECK_EQ_STR(s->shard, "in-memory");
	}
	CHECK_EQ_INT(rc, BL_END);
	CHECK_EQ_INT(n, 25);
	/* cut in the middle: damage named with the given name */
	REQUIRE(bl_reader_open_memory(r, bytes, (size_t)size / 2, "half") == BL_OK);
	while ((rc = bl_reader_next(r, &s)) == BL_OK)
		;
	CHECK_EQ_INT(rc, BL_FATAL);
	CHECK_CONTAINS(bl_reader_errmsg(r), "shard 'half'");
	CHECK_EQ_INT(bl_reader_open_memory(r, NULL, 5, "x"), BL_EUSAGE);
	bl_reader_free(r);
	free(bytes);
}

/* ---- hostile input (issue 12) ------------------------------------------ */

static long slurp(const char *p, char **out)
{
	FILE *f = fopen(p, "rb");
	long n;
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*out = malloc((size_t)n + 1);
	if (!*out || fread(*out, 1, (size_t)n, f) != (size_t)n)
		n = -1;
	fclose(f);
	return n;
}

static int spit(const char *p, const void *data, size_t n)
{
	FILE *f = fopen(p, "wb");
	int ok = f && fwrite(data, 1, n, f) == n;
	if (f)
		ok &= fclose(f) == 0;
	return ok;
}

/*
 * A header that fails its checksum (one flipped bit) is skipped to the
 * next valid header, as GNU tar does: an item error with its offset and
 * length, the samples around it flagged, every other sample delivered.
 * Whatever member it hits, even one whose data spans many blocks.
 */
BL_TEST(shard_damaged_header_is_an_item_error)
{
	static char img[6000];
	struct ent e[30];
	char names[30][32];
	const char *full = tpath("dmg.tar"), *flip = tpath("dmg-flip.tar");
	bl_reader *r = bl_reader_new();
	long offs[64], n;
	char *data = NULL;
	int nh;

	memset(img, 'j', sizeof img);
	for (int i = 0; i < 10; i++) {
		snprintf(names[3 * i], 32, "k%d.jpg", i);
		snprintf(names[3 * i + 1], 32, "k%d.txt", i);
		snprintf(names[3 * i + 2], 32, "k%d.json", i);
		e[3 * i] = (struct ent){names[3 * i], 0, img, sizeof img};
		e[3 * i + 1] = (struct ent){names[3 * i + 1], 0, "a caption", 0};
		e[3 * i + 2] = (struct ent){names[3 * i + 2], 0, "{}", 0};
	}
	REQUIRE(make_tar(full, e, 30));
	n = slurp(full, &data);
	REQUIRE(n > 0);
	/* where each member's header is, as the reader says */
	nh = 0;
	REQUIRE(bl_reader_open(r, full) == BL_OK);
	for (int i = 0; i < 10; i++) {
		const bl_sample *s;
		REQUIRE(bl_reader_next(r, &s) == BL_OK && s->nmembers == 3);
		for (int k = 0; k < 3; k++)
			offs[nh++] = (long)s->members[k].offset;
	}
	bl_reader_close(r);
	/* each member of sample k4 in turn: the jpg (12 data blocks), the
	 * txt, the json */
	for (int m = 12; m < 15; m++) {
		const bl_sample *s;
		int rc, samples = 0, damaged = 0, flagged = 0, failed = 0;
		char *copy = malloc((size_t)n);
		REQUIRE(copy);
		memcpy(copy, data, (size_t)n);
		copy[offs[m] + 2] ^= 0x08;
		REQUIRE(spit(flip, copy, (size_t)n));
		free(copy);
		REQUIRE(bl_reader_open(r, flip) == BL_OK);
		while ((rc = bl_reader_next(r, &s)) != BL_END) {
			if (rc == BL_FATAL) {
				bl_test_failf(__FILE__, __LINE__, "member %d: fatal: %s", m,
					      bl_reader_errmsg(r));
				break;
			}
			if (rc == BL_FAILED) {
				failed++;
				CHECK_EQ_INT(bl_reader_errkind(r), BL_ERR_DAMAGED);
				continue;
			}
			samples++;
			for (size_t p = 0; p < bl_reader_nproblems(r); p++) {
				bl_errkind kind;
				int64_t off;
				const char *msg;
				REQUIRE(bl_reader_problem(r, p, &kind, &off, &msg) == BL_OK);
				if (kind != BL_ERR_DAMAGED)
					continue;
				if (strstr(msg, "skipped")) {
					damaged++;
					CHECK_EQ_INT(off, offs[m]);
					CHECK_CONTAINS(msg, "dmg-flip.tar");
				} else {
					flagged++;
				}
			}
		}
		CHECK_EQ_INT(samples, 10);
		CHECK_EQ_INT(damaged + failed, 1);
		/* a damaged first member flags the sample before it too */
		CHECK(flagged <= 1);
		bl_reader_close(r);
	}
	free(data);
	bl_reader_free(r);
}

/*
 * Junk after the compressed data (or after the end of a plain tar):
 * every sample before it is delivered (on a small shard libarchive's own
 * filters lost them all), then one item error says where the junk is.
 * Zero padding after the data is not junk.
 */
BL_TEST(shard_junk_after_the_data)
{
	static const char *const names[] = {"j.tar", "j.tar.gz", "j.tar.bz2", "j.tar.xz", "j.tar.zst"};
	static const unsigned char junk[] = "this is not compressed data, it is junk at the end";
	bl_reader *r = bl_reader_new();

	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		const char *p = tpath(names[k]);
		char path[1100], cmd[2300], *data = NULL;
		long n;
		int pad;
		if (k == 2) {
			/* bzip2: compress the plain tar with the bzip2 tool */
			snprintf(cmd, sizeof cmd, "bzip2 -c '%s' > '%s' 2>/dev/null", tpath("j.tar"), p);
			if (system(cmd) != 0) {
				bl_test_skip("bzip2 is not installed");
				continue;
			}
		} else {
			write_samples(p, 40);
		}
		n = slurp(p, &data);
		REQUIRE(n > 0);
		for (pad = 0; pad < 2; pad++) {
			const bl_sample *s;
			int rc, got = 0, junked = 0;
			snprintf(path, sizeof path, "%s.%s", p, pad ? "pad" : "junk");
			{
				FILE *f = fopen(path, "wb");
				REQUIRE(f);
				fwrite(data, 1, (size_t)n, f);
				if (pad)
					for (int i = 0; i < 4096; i++)
						fputc(0, f);
				else
					fwrite(junk, 1, sizeof junk - 1, f);
				fclose(f);
			}
			REQUIRE(bl_reader_open(r, path) == BL_OK);
			while ((rc = bl_reader_next(r, &s)) != BL_END) {
				if (rc == BL_OK) {
					got++;
					continue;
				}
				CHECK_EQ_INT(rc, BL_FAILED);
				CHECK_EQ_INT(bl_reader_errkind(r), BL_ERR_DAMAGED);
				CHECK_EQ_INT(bl_reader_erroffset(r), k == 0 ? n : n);
				junked++;
			}
			if (got != 40 || junked != !pad)
				bl_test_failf(__FILE__, __LINE__, "%s: %d samples, %d junk errors (%s)",
					      path, got, junked, bl_reader_errmsg(r));
			bl_reader_close(r);
		}
		free(data);
	}
	bl_reader_free(r);
}

/* Damage inside the compressed data: the samples decoded before it are
 * delivered in order, and the shard ends naming the decoder's complaint.
 * (What the decoder puts out between the damage and its checksum is
 * garbage; tar headers in it fail their checksums and are skipped as
 * damage.) */
BL_TEST(shard_corrupt_compressed_data)
{
	const char *p = tpath("c.tar.xz"), *bad = tpath("c-bad.tar.xz");
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	char *data = NULL;
	long n;
	int rc, got = 0, fatal = 0, clean = 1;

	write_samples(p, 3000);
	n = slurp(p, &data);
	REQUIRE(n > 2000);
	for (long i = n / 2; i < n / 2 + 64; i++)
		data[i] ^= 0x5a;
	REQUIRE(spit(bad, data, (size_t)n));
	REQUIRE(bl_reader_open(r, bad) == BL_OK);
	while ((rc = bl_reader_next(r, &s)) != BL_END) {
		if (rc == BL_FATAL) {
			fatal = 1;
			CHECK_EQ_INT(bl_reader_errkind(r), BL_ERR_TRUNCATED);
			CHECK_CONTAINS(bl_reader_errmsg(r), "xz:");
			continue;
		}
		if (rc != BL_OK)
			clean = 0;
		if (!clean)
			continue;
		char cap[64];
		snprintf(cap, sizeof cap, "caption %d", got);
		CHECK_EQ_STR((const char *)s->caption->data, cap);
		got++;
	}
	CHECK(fatal);
	CHECK(got > 100 && got < 3000);
	free(data);
	bl_reader_free(r);
}

/*
 * A mapped shard cut by another process while it is read: SIGBUS is
 * caught, the samples before the cut are delivered, and the shard ends
 * with a truncation error instead of killing the process.  The same for
 * an image head handed out as a pointer into the map and read later
 * (bl_reader_guarded).
 */
static int truncate_in_child(const char *path, off_t size)
{
	pid_t pid = fork();
	int status = 0;
	if (pid == 0)
		_exit(truncate(path, size) == 0 ? 0 : 1);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int read_first_byte(void *arg)
{
	const bl_member *m = arg;
	volatile unsigned char c = m->data[m->len - 1];
	(void)c;
	return BL_OK;
}

BL_TEST(shard_cut_while_mapped_is_an_error_not_sigbus)
{
	static char img[40000];
	struct ent e[200];
	char names[200][32];
	const char *p = tpath("cutme.tar");
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	int rc, got = 0, fatal = 0;

	if (getenv("BALLAST_NO_MMAP")) {
		bl_test_skip("BALLAST_NO_MMAP is set");
		bl_reader_free(r);
		return;
	}
	memset(img, 'x', sizeof img);
	for (int i = 0; i < 100; i++) {
		snprintf(names[2 * i], 32, "s%03d.jpg", i);
		snprintf(names[2 * i + 1], 32, "s%03d.txt", i);
		e[2 * i] = (struct ent){names[2 * i], 0, img, sizeof img};
		e[2 * i + 1] = (struct ent){names[2 * i + 1], 0, "caption", 0};
	}
	REQUIRE(make_tar(p, e, 200));
	REQUIRE(bl_reader_open(r, p) == BL_OK);
	for (int i = 0; i < 10; i++) {
		REQUIRE(bl_reader_next(r, &s) == BL_OK);
		got++;
	}
	/* another process cuts the shard to a third of its size */
	REQUIRE(truncate_in_child(p, (off_t)(100 * 41000 / 3)));
	while ((rc = bl_reader_next(r, &s)) != BL_END) {
		if (rc == BL_FATAL) {
			fatal = 1;
			CHECK_EQ_INT(bl_reader_errkind(r), BL_ERR_TRUNCATED);
			CHECK_CONTAINS(bl_reader_errmsg(r), "cutme.tar");
			continue;
		}
		REQUIRE(rc == BL_OK);
		got++;
	}
	CHECK(fatal);
	CHECK(got >= 10 && got < 40);
	bl_reader_close(r);

	/* an image head pointing into the map, read after the cut */
	REQUIRE(make_tar(p, e, 200));
	REQUIRE(bl_reader_set_load(r, BL_LOAD_TEXT | BL_LOAD_IMAGE_HEAD) == BL_OK);
	REQUIRE(bl_reader_open(r, p) == BL_OK);
	for (int i = 0; i < 60; i++)
		REQUIRE(bl_reader_next(r, &s) == BL_OK);
	REQUIRE(s->image && s->image->data && s->image->len == sizeof img);
	CHECK_EQ_INT(bl_reader_guarded(r, read_first_byte, (void *)s->image), BL_OK);
	REQUIRE(truncate_in_child(p, 4096));
	CHECK_EQ_INT(bl_reader_guarded(r, read_first_byte, (void *)s->image), BL_FATAL);
	CHECK_CONTAINS(bl_reader_errmsg(r), "shrank");
	CHECK_EQ_INT(bl_reader_next(r, &s), BL_END);
	bl_reader_free(r);
}

/*
 * The same cut, where the bytes lost lie in the last page still mapped:
 * there they read as zeros instead of faulting, and libarchive takes the
 * zero blocks after them for the end of the archive.  The sample whose
 * bytes were cut must not be delivered (zeros passing for its bytes):
 * the shard ends with the truncation error, on a streaming pass and at
 * the sample's offset.
 */
BL_TEST(shard_cut_inside_the_last_page_is_not_read_as_zeros)
{
	static char data[600];
	struct ent e[80];
	char names[80][32];
	const char *p = tpath("cutpage.tar");
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	int64_t off[40], doff[40], cut = -1;
	int victim = -1, rc, got = 0, fatal = 0;

	if (getenv("BALLAST_NO_MMAP")) {
		bl_test_skip("BALLAST_NO_MMAP is set");
		bl_reader_free(r);
		return;
	}
	memset(data, 'c', sizeof data);
	for (int i = 0; i < 40; i++) {
		snprintf(names[2 * i], 32, "s%03d.txt", i);
		snprintf(names[2 * i + 1], 32, "s%03d.json", i);
		e[2 * i] = (struct ent){names[2 * i], 0, data, sizeof data};
		e[2 * i + 1] = (struct ent){names[2 * i + 1], 0, "{}", 0};
	}
	REQUIRE(make_tar(p, e, 80));
	REQUIRE(bl_reader_open(r, p) == BL_OK);
	for (int i = 0; i < 40; i++) {
		REQUIRE(bl_reader_next(r, &s) == BL_OK);
		off[i] = s->offset;
		doff[i] = s->members[0].data_offset;
		/* its caption and the blocks after it in one page */
		if (victim < 0 && i >= 10 && doff[i] % 4096 <= 1024)
			victim = i;
	}
	REQUIRE(victim > 0);
	cut = doff[victim] + 100;
	for (int pass = 0; pass < 2; pass++) {
		REQUIRE(make_tar(p, e, 80));
		REQUIRE(bl_reader_open(r, p) == BL_OK);
		if (pass == 0) {
			for (int i = 0; i < 5; i++)
				REQUIRE(bl_reader_next(r, &s) == BL_OK);
			got = 5;
		}
		REQUIRE(truncate_in_child(p, (off_t)cut));
		if (pass == 1) {
			/* the map is older than the cut: seek to the victim */
			REQUIRE(bl_reader_seek(r, off[victim]) == BL_OK);
			got = victim;
		}
		fatal = 0;
		while ((rc = bl_reader_next(r, &s)) != BL_END) {
			if (rc == BL_FATAL) {
				fatal = 1;
				CHECK_EQ_INT(bl_reader_errkind(r), BL_ERR_TRUNCATED);
				CHECK_CONTAINS(bl_reader_errmsg(r), "shrank");
				continue;
			}
			REQUIRE(rc == BL_OK);
			CHECK(s->offset < off[victim]);
			got++;
		}
		CHECK(fatal);
		CHECK_EQ_INT(got, victim);
	}
	bl_reader_free(r);
}

/* Every problem of a sample is listed, not only the first: a third and
 * a second duplicate extension, a NUL in the caption. */
BL_TEST(shard_every_problem_is_listed)
{
	static const char cap[] = "a caption\0with a NUL";
	struct ent e[] = {
		{"a.txt", 0, cap, sizeof cap - 1},
		{"a.txt", 0, "second", 0},
		{"a.txt", 0, "third", 0},
		{"a.json", 0, "{}", 0},
		{"a.json", 0, "{}", 0},
	};
	const char *p = tpath("probs.tar");
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	int dup = 0, nul = 0;

	REQUIRE(make_tar(p, e, 5));
	REQUIRE(bl_reader_open(r, p) == BL_OK);
	REQUIRE(bl_reader_next(r, &s) == BL_WARN);
	CHECK_EQ_INT(s->caption->len, sizeof cap - 1); /* kept whole */
	for (size_t i = 0; i < bl_reader_nproblems(r); i++) {
		bl_errkind kind;
		const char *msg;
		int64_t off;
		REQUIRE(bl_reader_problem(r, i, &kind, &off, &msg) == BL_OK);
		dup += kind == BL_ERR_DUP_KEY;
		nul += kind == BL_ERR_NUL;
		CHECK(off >= 0);
	}
	CHECK_EQ_INT(dup, 3);
	CHECK_EQ_INT(nul, 1);
	CHECK(s->problems & BL_PROBLEM(BL_ERR_NUL));
	CHECK_EQ_INT(bl_reader_problem(r, 99, NULL, NULL, NULL), BL_EUSAGE);
	bl_reader_free(r);
}

/* gzip-compressed captions and JSON (.txt.gz, .json.gz) are read, within
 * the caption limit once decompressed (a gzip bomb is an item error). */
BL_TEST(shard_gzip_members)
{
	const char *p = tpath("gzm.tar"), *raw = tpath("gzm-cap.txt");
	char cmd[2300], *gz = NULL, *bomb = NULL;
	long ngz, nbomb;
	bl_limits lim = {0};
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	FILE *f;

	f = fopen(raw, "w");
	REQUIRE(f);
	fputs("a photo of a woman", f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s.gz' && head -c 300000 /dev/zero | gzip -c > '%s.bomb'",
		 raw, raw, raw);
	REQUIRE(system(cmd) == 0);
	snprintf(cmd, sizeof cmd, "%s.gz", raw);
	ngz = slurp(cmd, &gz);
	snprintf(cmd, sizeof cmd, "%s.bomb", raw);
	nbomb = slurp(cmd, &bomb);
	REQUIRE(ngz > 0 && nbomb > 0);
	{
		struct ent e[] = {
			{"a.txt.gz", 0, gz, (size_t)ngz},
			{"a.json.gz", 0, gz, (size_t)ngz},
			{"b.txt.gz", 0, bomb, (size_t)nbomb},
			{"c.txt", 0, "plain", 0},
			{"c.txt.gz", 0, gz, (size_t)ngz},
		};
		REQUIRE(make_tar(p, e, 5));
	}
	lim.max_caption = 1000;
	REQUIRE(bl_reader_set_limits(r, &lim) == BL_OK);
	REQUIRE(bl_reader_open(r, p) == BL_OK);
	REQUIRE(bl_reader_next(r, &s) == BL_OK);
	REQUIRE(s->caption && s->caption->data);
	CHECK_EQ_STR((const char *)s->caption->data, "a photo of a woman");
	CHECK_EQ_STR(s->caption->ext, "txt.gz");
	REQUIRE(s->json && s->json->data);
	CHECK_EQ_INT(s->json->len, 18);
	REQUIRE(bl_reader_next(r, &s) == BL_WARN);
	CHECK(s->problems & BL_PROBLEM(BL_ERR_TOO_BIG));
	CHECK(s->caption && !s->caption->data);
	CHECK_CONTAINS(bl_reader_errmsg(r), "1000-byte limit");
	/* a caption and its compressed twin: the first is kept, the second
	 * is a duplicate member named with its offset */
	REQUIRE(bl_reader_next(r, &s) == BL_WARN);
	CHECK_EQ_STR((const char *)s->caption->data, "plain");
	CHECK_EQ_INT(s->nmembers, 1);
	CHECK_EQ_INT(bl_reader_errkind(r), BL_ERR_DUP_KEY);
	CHECK_CONTAINS(bl_reader_errmsg(r), "member 'c.txt.gz' at offset");
	CHECK_CONTAINS(bl_reader_errmsg(r), "a second caption member");
	CHECK_EQ_INT(bl_reader_next(r, &s), BL_END);
	free(gz);
	free(bomb);
	bl_reader_free(r);
}

/* The duplicate-key set is bounded: past max_keys the check stops, and
 * that is said once. */
BL_TEST(shard_key_set_is_bounded)
{
	const char *p = tpath("keys.tar");
	bl_limits lim = {0};
	bl_reader *r = bl_reader_new();
	const bl_sample *s;
	int rc, n = 0, limit = 0;

	write_samples(p, 50);
	lim.max_keys = 20;
	REQUIRE(bl_reader_set_limits(r, &lim) == BL_OK);
	REQUIRE(bl_reader_open(r, p) == BL_OK);
	while ((rc = bl_reader_next(r, &s)) != BL_END) {
		REQUIRE(rc == BL_OK || rc == BL_WARN);
		n++;
		if (rc == BL_WARN) {
			CHECK_EQ_INT(bl_reader_errkind(r), BL_ERR_LIMIT);
			CHECK_CONTAINS(bl_reader_errmsg(r), "more than 20 keys");
			limit++;
		}
	}
	CHECK_EQ_INT(n, 50);
	CHECK_EQ_INT(limit, 1);
	bl_reader_free(r);
}

/* One ustar header block: name, size, type flag; checksum filled in. */
static void ustar_block(unsigned char *b, const char *name, size_t size, char type)
{
	unsigned sum = 0;
	memset(b, 0, 512);
	snprintf((char *)b, 100, "%s", name);
	memcpy(b + 100, "0000644", 7);
	memcpy(b + 108, "0000000", 7);
	memcpy(b + 116, "0000000", 7);
	snprintf((char *)b + 124, 12, "%011zo", size);
	memcpy(b + 136, "00000000000", 11);
	b[156] = (unsigned char)type;
	memcpy(b + 257, "ustar", 6);
	memcpy(b + 263, "00", 2);
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
}

/* A pax tar (as Python's tarfile and GNU tar --format=pax write) whose
 * member names are UTF-8 in a pax "path" record. */
static int make_pax_utf8(const char *path, const char *const *names, size_t n)
{
	FILE *f = fopen(path, "wb");
	unsigned char b[512];
	int ok = f != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		char rec[300], body[512] = "x";
		size_t len = strlen(names[i]) + strlen(" path=\n"), digits = 2;
		while (snprintf(NULL, 0, "%zu", len + digits) != (int)digits)
			digits++;
		snprintf(rec, sizeof rec, "%zu path=%s\n", len + digits, names[i]);
		ustar_block(b, "PaxHeaders/x", strlen(rec), 'x');
		ok = fwrite(b, 1, 512, f) == 512;
		memset(body, 0, sizeof body);
		memcpy(body, rec, strlen(rec));
		ok = ok && fwrite(body, 1, 512, f) == 512;
		ustar_block(b, "ascii-fallback.txt", 1, '0');
		ok = ok && fwrite(b, 1, 512, f) == 512;
		memset(body, 0, sizeof body);
		body[0] = 'x';
		ok = ok && fwrite(body, 1, 512, f) == 512;
	}
	memset(b, 0, 512);
	for (int k = 0; ok && k < 2; k++)
		ok = fwrite(b, 1, 512, f) == 512;
	if (f && fclose(f) != 0)
		ok = 0;
	return ok;
}

/*
 * UTF-8 names in pax headers are read as the archive holds them, whatever
 * the process locale: no item error (in the C locale libarchive cannot
 * convert them and said so, which read as damage), no NFC normalisation
 * (a UTF-8 locale made "cafe\u0301" "caf\u00e9"), no Latin-1.
 */
BL_TEST(shard_pax_utf8_names_any_locale)
{
	static const char *const names[] = {"cafe\xcc\x81.txt", "cafe\xcc\x81.json",
					    "na\xc3\xafve/\xc3\xa9t\xc3\xa9.txt"};
	static const char *const locales[] = {"C", "C.UTF-8", "en_US.ISO-8859-1"};
	const char *p = tpath("pax-utf8.tar");
	char *saved = strdup(setlocale(LC_CTYPE, NULL));
	bl_reader *r = bl_reader_new();
	bl_buf log;

	bl_buf_init(&log, 0);
	REQUIRE(r && saved);
	REQUIRE(make_pax_utf8(p, names, 3));
	for (size_t i = 0; i < sizeof locales / sizeof locales[0]; i++) {
		if (!setlocale(LC_CTYPE, locales[i]))
			continue; /* not installed */
		CHECK_EQ_INT(read_all(r, p, &log, NULL), 2);
		CHECK_EQ_STR(log.buf, "cafe\xcc\x81:OK na\xc3\xafve/\xc3\xa9t\xc3\xa9:OK");
	}
	setlocale(LC_CTYPE, saved);
	free(saved);
	bl_reader_free(r);
	bl_buf_release(&log);
}
