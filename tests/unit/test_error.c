/* test_error.c - the one error formatter (lib/error_int.h). */
#include "test.h"
#include "error_int.h"

BL_TEST(error_set_formats_and_truncates)
{
	char err[8];
	memset(err, 'x', sizeof err);
	bl_error_set(err, sizeof err, "shard '%s' at %d", "a.tar", 42);
	CHECK_EQ_STR(err, "shard '");
	bl_error_set(err, sizeof err, "%d", 7);
	CHECK_EQ_STR(err, "7");
	/* no buffer: nothing written, no crash */
	bl_error_set(NULL, 16, "%s", "x");
	err[0] = 'q';
	bl_error_set(err, 0, "%s", "x");
	CHECK(err[0] == 'q');
}

BL_TEST(error_buf_replaces_and_returns_rc)
{
	bl_buf b;
	char big[BL_ERROR_MAX * 2];
	bl_buf_init(&b, 0);
	bl_buf_adds(&b, "old text");
	CHECK_EQ_INT(bl_error_buf(&b, BL_FAILED, "index '%s': %s", "x.db", "locked"), BL_FAILED);
	CHECK_EQ_STR(b.buf, "index 'x.db': locked");
	CHECK_EQ_INT(bl_error_buf(&b, BL_ENOMEM, "out of memory"), BL_ENOMEM);
	CHECK_EQ_STR(b.buf, "out of memory");
	/* a message longer than BL_ERROR_MAX is cut, terminated */
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	bl_error_buf(&b, BL_FAILED, "%s", big);
	CHECK_EQ_INT(b.len, BL_ERROR_MAX - 1);
	CHECK_EQ_INT(strlen(b.buf), BL_ERROR_MAX - 1);
	CHECK_EQ_INT(bl_error_buf(NULL, BL_FATAL, "x"), BL_FATAL);
	bl_buf_release(&b);
}
