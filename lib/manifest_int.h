/*
 * manifest_int.h - what lib/manifest.c shares with the other modules of
 * the library that read manifests (lib/sampler.c, lib/verify.c) and with its fuzz
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

/* The list file of the entry bl_manifest_next returned last, and its
 * line in *line (may be NULL); NULL past the end. */
const char *bl_manifest_where(const bl_manifest *m, uint64_t *line);

/*
 * After bl_manifest_next has returned BL_END: the entries read against
 * what manifest.json records of them.  Each list file's entries against
 * its input's "written" (a file cut short at a line boundary, emptied or
 * given extra lines); when those agree, the entries in all against
 * summary.written and their weights' sum against summary.weight_sum (to
 * 1e-6 of it: an edited weight); their form against "realise"
 * (upsample: integer copy counts, downsample: every weight 1, nothing
 * else known); each list file's lines against its input's "path" (every
 * line names it; every input has one, no two the same); and the
 * summary's "ok" against its "checks" (both present, each status one of
 * ok, warning, accepted, failed, "ok" true exactly when none failed).  A
 * count not recorded is not checked; a bare .jsonl records nothing.  Each problem goes to on_problem (may be NULL), its
 * message naming the file (and the line, for a weight).  Returns BL_OK;
 * BL_FAILED with the first problem in err (and how many more);
 * BL_EUSAGE before the end.
 */
int bl_manifest_check(bl_manifest *m, void (*on_problem)(void *arg, const char *msg),
		      void *arg, char *err, size_t errlen);

/*
 * The plan's verdict as manifest.json records it (the checks with status
 * "failed", whatever summary.ok says; summary.ok false with none): out
 * is emptied when the plan did not fail (a bare .jsonl records no
 * verdict), else it gets one sentence,
 * "its plan failed N checks when it was made: " and the first two failed
 * checks in full ("target gender: gender.male ends at ..."; a message
 * cut at 400 bytes), then the names of the others.  BL_OK, BL_ENOMEM.
 */
int bl_manifest_plan_failed(const bl_manifest *m, bl_buf *out);

#endif
