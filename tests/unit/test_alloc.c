/* test_alloc.c - overflow-checked array growth (lib/alloc_int.h). */
#include "test.h"
#include "alloc_int.h"

#include <stdint.h>
#include <stdlib.h>

BL_TEST(alloc_grow_holds_n_items)
{
	int *v = NULL;
	size_t n = 0, a = 0;
	for (int i = 0; i < 1000; i++) {
		REQUIRE(BL_ALLOC_GROW(v, n + 1, a) == BL_OK);
		CHECK(a >= n + 1);
		v[n++] = i;
	}
	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(v[i], i);
	/* room enough: nothing moves, nothing changes */
	{
		int *before = v;
		size_t abefore = a;
		CHECK(BL_ALLOC_GROW(v, a, a) == BL_OK);
		CHECK(v == before);
		CHECK_EQ_INT(a, abefore);
	}
	/* a jump past twice the room gets the room asked for */
	CHECK(BL_ALLOC_GROW(v, a * 5 + 3, a) == BL_OK);
	CHECK(a >= 5000 + 3);
	CHECK_EQ_INT(v[999], 999);
	free(v);
}

BL_TEST(alloc_grow_overflow_is_an_error)
{
	double *v = NULL;
	size_t a = 0, n = 0;
	REQUIRE(BL_ALLOC_GROW(v, 4, a) == BL_OK);
	v[0] = 1.5;
	n = a;
	/* n * size would wrap: an error, the array and its room unchanged */
	{
		double *before = v;
		CHECK(BL_ALLOC_GROW(v, SIZE_MAX / sizeof *v + 1, a) == BL_ENOMEM);
		CHECK(v == before);
		CHECK_EQ_INT(a, n);
		CHECK(BL_ALLOC_GROW(v, SIZE_MAX, a) == BL_ENOMEM);
		CHECK(v == before);
		CHECK_EQ_INT(a, n);
		CHECK(v[0] == 1.5);
	}
	/* bytes that fit a size_t but exceed PTRDIFF_MAX are refused before
	 * any allocation is asked for */
	{
		char *c = NULL;
		size_t ac = 0;
		CHECK(BL_ALLOC_GROW(c, SIZE_MAX, ac) == BL_ENOMEM);
		CHECK(BL_ALLOC_GROW(c, (size_t)PTRDIFF_MAX + 1, ac) == BL_ENOMEM);
		CHECK(c == NULL);
		CHECK_EQ_INT(ac, 0);
		/* and a small array still grows past where doubling would not fit */
		CHECK(BL_ALLOC_GROW(c, 100, ac) == BL_OK);
		CHECK(ac >= 100);
		free(c);
	}
	CHECK(bl_alloc_grow(&v, &a, 8, 0) == BL_EUSAGE);
	CHECK(bl_alloc_grow(NULL, &a, 8, 8) == BL_EUSAGE);
	free(v);
}

BL_TEST(alloc_mult_checks_overflow)
{
	size_t out = 7;
	CHECK(bl_alloc_mult(3, 4, &out) == BL_OK);
	CHECK_EQ_INT(out, 12);
	CHECK(bl_alloc_mult(0, SIZE_MAX, &out) == BL_OK);
	CHECK_EQ_INT(out, 0);
	CHECK(bl_alloc_mult(SIZE_MAX, 1, &out) == BL_OK);
	CHECK(out == SIZE_MAX);
	out = 7;
	CHECK(bl_alloc_mult(SIZE_MAX / 2 + 1, 2, &out) == BL_ENOMEM);
	CHECK_EQ_INT(out, 7);
	CHECK(bl_alloc_mult((size_t)1 << 40, (size_t)1 << 30, &out) == BL_ENOMEM);
	CHECK_EQ_INT(out, 7);
}
