/*
 * buf.c - bl_buf, the one growable byte buffer of the library.
 *
 * Modelled on git's strbuf and curl's dynbuf: the buffer is always
 * NUL-terminated, never NULL after init, and has a cap so that untrusted
 * input cannot make it grow without bound.  A failed append leaves the
 * buffer exactly as it was.
 */
#include "alloc_int.h"
#include "ballast.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char bl_buf_empty[1];

#define BL_BUF_DEFAULT_CAP ((size_t)1 << 30)

void bl_buf_init(bl_buf *b, size_t cap)
{
	b->buf = bl_buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap ? cap : BL_BUF_DEFAULT_CAP;
}

void bl_buf_release(bl_buf *b)
{
	if (b->alloc)
		free(b->buf);
	bl_buf_init(b, b->cap);
}

void bl_buf_reset(bl_buf *b)
{
	b->len = 0;
	/* never write into the shared static empty string: buffers in other
	 * threads point at it too */
	if (b->alloc)
		b->buf[0] = '\0';
}

int bl_buf_grow(bl_buf *b, size_t extra)
{
	size_t need;
	char *p;

	if (extra > b->cap || b->len > b->cap - extra)
		return BL_FAILED;
	need = b->len + extra + 1;
	if (need <= b->alloc)
		return BL_OK;
	/* the static empty string is not ours to reallocate */
	p = b->alloc ? b->buf : NULL;
	if (bl_alloc_grow(&p, &b->alloc, need, 1) != BL_OK)
		return BL_ENOMEM;
	if (b->buf == bl_buf_empty)
		p[0] = '\0';
	b->buf = p;
	return BL_OK;
}

int bl_buf_add(bl_buf *b, const void *data, size_t len)
{
	int rc = bl_buf_grow(b, len);
	if (rc != BL_OK)
		return rc;
	if (len)
		memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return BL_OK;
}

int bl_buf_adds(bl_buf *b, const char *s)
{
	return bl_buf_add(b, s, strlen(s));
}

int bl_buf_addch(bl_buf *b, char c)
{
	if (b->alloc && b->len + 2 <= b->alloc && b->len < b->cap) {
		/* the common case: room already there */
		b->buf[b->len++] = c;
		b->buf[b->len] = '\0';
		return BL_OK;
	}
	return bl_buf_add(b, &c, 1);
}

int bl_buf_addf(bl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(b->buf + b->len, b->alloc ? b->alloc - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return BL_FAILED;
	if (b->alloc && (size_t)n < b->alloc - b->len) {
		if ((size_t)n > b->cap - b->len) {
			b->buf[b->len] = '\0';
			return BL_FAILED;
		}
		b->len += (size_t)n;
		return BL_OK;
	}
	rc = bl_buf_grow(b, (size_t)n);
	if (rc != BL_OK) {
		if (b->alloc)
			b->buf[b->len] = '\0';
		return rc;
	}
	va_start(ap, fmt);
	vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return BL_OK;
}

char *bl_buf_detach(bl_buf *b, size_t *len)
{
	char *p;

	if (len)
		*len = b->len;
	if (!b->alloc) {
		p = malloc(1);
		if (p)
			p[0] = '\0';
	} else {
		p = b->buf;
	}
	bl_buf_init(b, b->cap);
	return p;
}
