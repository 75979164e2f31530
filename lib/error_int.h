/*
 * error_int.h - the one error formatter of lib/ (bl_error_*).  Not part of
 * the public interface; the convention it serves is stated at the top of
 * lib/ballast.h.
 *
 * Every message is formatted printf-style into at most errlen (or, into a
 * bl_buf, BL_ERROR_MAX) bytes, NUL included, truncated safely (always terminated, never past the
 * buffer).  Two sinks: the caller's err/errlen buffer, for constructors
 * and calls without a handle, or a handle's bl_buf, for methods (read back
 * with bl_*_errmsg); the second returns rc, so that a failing method reads
 * `return bl_error_buf(&h->errmsg, BL_FAILED, "...", ...);`.  Wrappers
 * that add context (a file:line:col, a shard and offset, an error kind)
 * format their part with bl_error_vset and hand the rest to these.
 */
#ifndef BL_ERROR_INT_H
#define BL_ERROR_INT_H

#include "ballast.h"

#include <stdarg.h>
#include <stddef.h>

#define BL_ERROR_MAX 4096

/* Format into err[errlen]; nothing when err is NULL or errlen is 0. */
void bl_error_set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));
void bl_error_vset(char *err, size_t errlen, const char *fmt, va_list ap)
	__attribute__((format(__printf__, 3, 0)));
/* Replace the text of b with the message (at most BL_ERROR_MAX - 1
 * bytes; b is left empty when out of memory) and return rc.  b may be
 * NULL. */
int bl_error_buf(bl_buf *b, int rc, const char *fmt, ...)
	__attribute__((format(__printf__, 3, 4)));
int bl_error_vbuf(bl_buf *b, int rc, const char *fmt, va_list ap)
	__attribute__((format(__printf__, 3, 0)));

#endif
