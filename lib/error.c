/*
 * error.c - the one error formatter (bl_error_*, lib/error_int.h).
 */
#include "error_int.h"

#include <stdio.h>

void bl_error_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

void bl_error_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bl_error_vset(err, errlen, fmt, ap);
	va_end(ap);
}

int bl_error_vbuf(bl_buf *b, int rc, const char *fmt, va_list ap)
{
	char msg[BL_ERROR_MAX];
	bl_error_vset(msg, sizeof msg, fmt, ap);
	if (b) {
		bl_buf_reset(b);
		bl_buf_adds(b, msg);
	}
	return rc;
}

int bl_error_buf(bl_buf *b, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bl_error_vbuf(b, rc, fmt, ap);
	va_end(ap);
	return rc;
}
