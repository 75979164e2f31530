/*
 * alloc.c - overflow-checked array growth (bl_alloc_*, lib/alloc_int.h).
 */
#include "alloc_int.h"
#include "ballast.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int bl_alloc_mult(size_t a, size_t b, size_t *out)
{
	if (b && a > SIZE_MAX / b)
		return BL_ENOMEM;
	*out = a * b;
	return BL_OK;
}

int bl_alloc_grow(void *arrp, size_t *alloc, size_t n, size_t size)
{
	size_t na, bytes;
	void *old, *p;

	if (!arrp || !alloc || !size)
		return BL_EUSAGE;
	if (n <= *alloc)
		return BL_OK;
	na = *alloc > SIZE_MAX / 2 ? SIZE_MAX : *alloc * 2;
	if (na < 16)
		na = 16;
	if (na < n)
		na = n;
	/* twice the room may not fit where n items do: then n exactly.  No
	 * object may be larger than PTRDIFF_MAX bytes (pointer differences
	 * inside it would overflow; malloc refuses it too). */
	if (bl_alloc_mult(na, size, &bytes) != BL_OK || bytes > PTRDIFF_MAX) {
		na = n;
		if (bl_alloc_mult(na, size, &bytes) != BL_OK || bytes > PTRDIFF_MAX)
			return BL_ENOMEM;
	}
	/* the caller's pointer is read and written as bytes: it may be of
	 * any object pointer type */
	memcpy(&old, arrp, sizeof old);
	p = realloc(old, bytes);
	if (!p)
		return BL_ENOMEM;
	memcpy(arrp, &p, sizeof p);
	*alloc = na;
	return BL_OK;
}
