/*
 * manifest_int.h - what lib/manifest.c shares with the other modules of
 * the library that read manifests (lib/sampler.c) and with its fuzz
 * target; not part of the public interface.
 */
#ifndef BL_MANIFEST_INT_H
#define BL_MANIFEST_INT_H

#include "ballast.h"

/*
 * Undo the manifest's byte escapes in JSON text s[0..len), in place: each
 * \udcXX (XX 80..ff) inside a string becomes the byte XX, a surrogate
 * pair stays as it is (cJSON reads it as one character), nothing else
 * changes.  Returns the new length, or (size_t)-1 when the text holds a
 * \u0000 escape (a NUL would cut a C string short).
 */
size_t bl_manifest_unescape(char *s, size_t len);

/* A scalar field of manifest.json as text (a string unescaped, an
 * integer exactly, true/false), or of "object.field" one level down;
 * NULL when absent, an object, an array or null.  Borrowed until the
 * next call on m. */
const char *bl_manifest_scalar(const bl_manifest *m, const char *field);

#endif
