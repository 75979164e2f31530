/*
 * test.h - the unit-test harness.
 *
 * A test is a function defined with BL_TEST(name) in tests/unit/test_*.c;
 * the Makefile collects the names into a generated list, so adding a test
 * needs no registration.  CHECK records a failure with file and line and
 * goes on; REQUIRE returns from the test.  bl_test_skip("why") marks a test
 * skipped (used when ../shared/data is absent).
 *
 * Helpers: bl_test_tmpdir() is a fresh directory for this run;
 * bl_test_shared() is the path of ../shared/data or NULL.
 */
#ifndef BL_TEST_H
#define BL_TEST_H
#include "ballast.h"
#include <string.h>

#define BL_TEST(name) void bl_test_##name(void); void bl_test_##name(void)

void bl_test_fail(const char *file, int line, const char *expr);
void bl_test_failf(const char *file, int line, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));
void bl_test_skip(const char *why);
const char *bl_test_tmpdir(void);
const char *bl_test_shared(void);
/* Path of a file under the shared data folder, or NULL (and the test is
 * marked skipped) when that folder is absent. */
const char *bl_test_data(const char *rel);

#define CHECK(e) do { if (!(e)) bl_test_fail(__FILE__, __LINE__, #e); } while (0)
#define REQUIRE(e) do { if (!(e)) { bl_test_fail(__FILE__, __LINE__, #e); return; } } while (0)
#define CHECK_EQ_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) bl_test_failf(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, a_, b_); } while (0)
#define CHECK_EQ_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) bl_test_failf(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)
#define CHECK_CONTAINS(hay, needle) do { const char *h_ = (hay); \
	if (!h_ || !strstr(h_, (needle))) bl_test_failf(__FILE__, __LINE__, "'%s' contains '%s'", h_ ? h_ : "(null)", (needle)); } while (0)

#endif
