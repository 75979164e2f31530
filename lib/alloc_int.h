/*
 * alloc_int.h - overflow-checked array growth, the one way lib/ and
 * tools/ grow an array (git's ALLOC_GROW with st_mult).  Not part of the
 * public interface.
 */
#ifndef BL_ALLOC_INT_H
#define BL_ALLOC_INT_H

#include <stddef.h>

/*
 * Make room for n items of size bytes in the array *arrp points to (a
 * pointer to the array's pointer, which may be NULL), whose room is
 * *alloc items.  When n > *alloc the array is reallocated to the larger
 * of n and twice *alloc (at least 16 items) and *alloc updated; new items
 * are not initialised.  BL_OK, or BL_ENOMEM when out of memory or when
 * the room in bytes would not fit a size_t or exceed PTRDIFF_MAX (the
 * array and *alloc are unchanged then, never wrapped).  size 0 is
 * BL_EUSAGE.
 */
int bl_alloc_grow(void *arrp, size_t *alloc, size_t n, size_t size);
#define BL_ALLOC_GROW(arr, n, alloc) \
	bl_alloc_grow(&(arr), &(alloc), (n), sizeof *(arr))
/* *out = a * b and BL_OK, or BL_ENOMEM (*out unchanged) when it would
 * overflow a size_t. */
int bl_alloc_mult(size_t a, size_t b, size_t *out);

#endif
