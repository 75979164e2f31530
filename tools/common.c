/*
 * common.c - helpers shared by the subcommands: messages (escaped for the
 * terminal), the filters directory, rule loading, shard-spec expansion
 * with error messages, progress lines, and the check of a manifest's
 * shards that every consumer makes before reading them.
 */
#include "tools.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tool_cmd = "ballast";

/* ---- escaping ---------------------------------------------------------- */

/* Code point of the UTF-8 sequence at s (n bytes, valid), *len its bytes. */
static unsigned utf8_cp(const unsigned char *s, size_t *len)
{
	if (s[0] < 0xe0) {
		*len = 2;
		return (unsigned)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
	}
	if (s[0] < 0xf0) {
		*len = 3;
		return (unsigned)(s[0] & 0x0f) << 12 | (unsigned)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
	}
	*len = 4;
	return (unsigned)(s[0] & 0x07) << 18 | (unsigned)(s[1] & 0x3f) << 12 |
	       (unsigned)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
}

/* Characters a terminal acts on or a reader of lines and columns splits
 * on: C0 and C1 controls, DEL, line and paragraph separators, and the
 * bidirectional overrides and isolates (which reorder what is shown). */
static int unsafe_cp(unsigned cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
	       cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

int tool_escape(bl_buf *out, const char *str, size_t len, unsigned flags)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	int rc = BL_OK;

	while (i < len && rc == BL_OK) {
		size_t n = 1, bad;
		unsigned c = s[i], cp = c;
		if (c >= 0x80) {
			/* a valid sequence is kept unless it is a control */
			if (!bl_utf8_valid((const char *)s + i, len - i < 4 ? len - i : 4, &bad) &&
			    bad == 0) {
				rc = bl_buf_addf(out, "\\x%02x", c);
				i++;
				continue;
			}
			cp = utf8_cp(s + i, &n);
		}
		if (c == '\\' && (flags & TOOL_ESC_TSV))
			rc = bl_buf_adds(out, "\\\\");
		else if (c == '\t')
			rc = bl_buf_adds(out, "\\t");
		else if (c == '\n')
			rc = bl_buf_adds(out, "\\n");
		else if (c == '\r')
			rc = bl_buf_adds(out, "\\r");
		else if (cp < 0x80 && unsafe_cp(cp))
			rc = bl_buf_addf(out, "\\x%02x", c);
		else if (unsafe_cp(cp))
			rc = bl_buf_addf(out, "\\u%04x", cp);
		else
			rc = bl_buf_add(out, s + i, n);
		i += n;
	}
	return rc;
}

const char *tool_esc(const char *s)
{
	static bl_buf ring[8];
	static int k;
	bl_buf *b = &ring[k = (k + 1) % 8];

	if (!b->buf)
		bl_buf_init(b, 1 << 20);
	bl_buf_reset(b);
	if (!s || tool_escape(b, s, strlen(s), 0) != BL_OK)
		return s ? "(too long to show)" : "(null)";
	return b->buf;
}

int tool_put_json(const char *text)
{
	bl_buf b;
	int rc;

	if (!text)
		return BL_ENOMEM;
	bl_buf_init(&b, 0);
	rc = bl_utf8_json_escape(&b, text, strlen(text), BL_JSON_TEXT);
	if (rc == BL_OK)
		rc = bl_buf_addch(&b, '\n');
	if (rc == BL_OK)
		fwrite(b.buf, 1, b.len, stdout);
	bl_buf_release(&b);
	return rc;
}

/* A message to stderr with every byte a terminal could act on escaped. */
static void put_escaped(const char *fmt, va_list ap) __attribute__((format(__printf__, 1, 0)));
static void put_escaped(const char *fmt, va_list ap)
{
	char small[2048];
	bl_buf msg, out;
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(small, sizeof small, fmt, aq);
	va_end(aq);
	bl_buf_init(&msg, 0);
	bl_buf_init(&out, 0);
	if (n >= (int)sizeof small) {
		char *big = malloc((size_t)n + 1);
		if (big) {
			vsnprintf(big, (size_t)n + 1, fmt, ap);
			bl_buf_add(&msg, big, (size_t)n);
			free(big);
		}
	} else if (n > 0) {
		bl_buf_add(&msg, small, (size_t)n);
	}
	tool_escape(&out, msg.buf, msg.len, 0);
	fprintf(stderr, "ballast %s: %s\n", tool_cmd, out.buf);
	bl_buf_release(&msg);
	bl_buf_release(&out);
}

void tool_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	put_escaped(fmt, ap);
	va_end(ap);
}

int tool_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	if (fmt) {
		va_start(ap, fmt);
		put_escaped(fmt, ap);
		va_end(ap);
	}
	/* one line that says where the whole usage is, not the whole usage
	 * after the error (the error would scroll away) */
	(void)usage;
	fprintf(stderr, "see 'ballast %s --help'\n", tool_cmd);
	return EXIT_USAGE;
}

uint64_t tool_failed_items(const uint64_t errors[BL_ERR__COUNT])
{
	uint64_t n = 0;
	for (int k = 1; k < BL_ERR__COUNT; k++)
		if (k != BL_ERR_NO_CAPTION)
			n += errors[k];
	return n;
}

void tool_item_error(void *quiet, const char *msg)
{
	if (!quiet || !*(int *)quiet)
		tool_err("%s", msg);
}

int tool_write_stdout(const bl_buf *b)
{
	if (b->len && fwrite(b->buf, 1, b->len, stdout) != b->len) {
		tool_err("write error on standard output: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int tool_finish(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		tool_err("write error on standard output: %s", strerror(errno));
		return EXIT_FATAL;
	}
	if (fclose(stdout) != 0) {
		tool_err("cannot close standard output: %s", strerror(errno));
		return EXIT_FATAL;
	}
	return rc;
}

int tool_progress_wanted(void)
{
	return isatty(STDERR_FILENO);
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *tool_filters_dir(void)
{
	static char dir[PATH_MAX + 32];
	const char *env = getenv("BALLAST_FILTERS");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		char *slash;
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(dir, sizeof dir, "%s/../filters", exe);
			if (is_dir(dir))
				return dir;
		}
	}
	return "filters";
}

bl_ruleset *tool_load_rules(const bl_strlist *paths)
{
	bl_ruleset *rs = bl_ruleset_new();
	int rc = BL_OK;

	if (!rs) {
		tool_err("out of memory");
		return NULL;
	}
	if (!paths || paths->n == 0) {
		rc = bl_ruleset_load_dir(rs, tool_filters_dir());
	} else {
		for (size_t i = 0; i < paths->n && rc == BL_OK; i++)
			rc = is_dir(paths->items[i])
				     ? bl_ruleset_load_dir(rs, paths->items[i])
				     : bl_ruleset_load_file(rs, paths->items[i]);
	}
	if (rc == BL_OK)
		rc = bl_ruleset_compile(rs);
	if (rc != BL_OK) {
		tool_err("%s", bl_ruleset_errmsg(rs));
		bl_ruleset_free(rs);
		return NULL;
	}
	return rs;
}

int tool_expand_specs(int n, char **specs, bl_strlist *out)
{
	char err[512];
	for (int i = 0; i < n; i++) {
		if (bl_spec_expand(specs[i], out, 0, err, sizeof err) != BL_OK) {
			tool_err("%s", err);
			return BL_FAILED;
		}
	}
	return BL_OK;
}

/* ---- progress ---------------------------------------------------------- */

void tool_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	(void)arg;
	if (!tool_progress_wanted())
		return;
	/* one line, rewritten in place; a newline when the phase is done */
	fprintf(stderr, "\rballast %s: %s %llu of %llu\033[K%s", tool_cmd, phase,
		(unsigned long long)done, (unsigned long long)total, done < total ? "" : "\n");
	fflush(stderr);
}

/* ---- numbers and the shard check ----------------------------------------- */

int tool_parse_u64(const char *s, uint64_t *out)
{
	return bl_seed_parse(s, out);
}

int tool_check_level(const char *name)
{
	if (!name)
		return -1;
	if (!strcmp(name, "auto"))
		return BL_CHECK_AUTO;
	if (!strcmp(name, "full"))
		return BL_CHECK_FULL;
	if (!strcmp(name, "quick"))
		return BL_CHECK_QUICK;
	if (!strcmp(name, "none"))
		return BL_CHECK_NONE;
	return -1;
}

int tool_check_shards(const char *manifest, const bl_sampler *s, int level, int quiet)
{
	bl_verify_options vo;
	bl_verify_totals t;
	char err[1024];
	int rc;

	memset(&vo, 0, sizeof vo);
	vo.on_error = tool_item_error;
	vo.arg = &quiet;
	rc = bl_verify_shards(manifest, s, level, &vo, &t, err, sizeof err);
	if (rc == BL_OK)
		return BL_OK;
	if (rc == BL_FAILED)
		tool_err("refusing to read the shards: %s (rerun scan and rebalance, or "
			 "--no-check-shards to read them as they are)", err);
	else
		tool_err("%s", err);
	return BL_FAILED;
}

int tool_check_plan(const char *manifest, const bl_sampler *s, int allow, FILE *top)
{
	const char *why = bl_sampler_plan_failed(s);

	if (!why)
		return BL_OK;
	if (!allow) {
		tool_err("manifest '%s' is refused: %s (fix the policy or its input and "
			 "rebalance again; or, for a risk taken knowingly, add the policy's "
			 "`accept` line for the check, which makes the plan ok; or pass "
			 "--allow-failed-plan to use it anyway)", manifest, why);
		return BL_FAILED;
	}
	tool_err("WARNING: manifest '%s': %s (used anyway: --allow-failed-plan)", manifest, why);
	if (top) {
		fprintf(top, "WARNING: manifest '%s': ", tool_esc(manifest));
		fprintf(top, "%s (used anyway: --allow-failed-plan)\n", tool_esc(why));
	}
	return BL_OK;
}

void tool_print_skipped(const bl_export_totals *t)
{
	for (int k = 0; k < BL_SKIP__COUNT; k++)
		if (t->skipped[k])
			printf("skipped  %" PRIu64 " %s\n", t->skipped[k], bl_export_skip_name(k));
	if (t->renamed)
		printf("renamed  %" PRIu64 " (names made unique with _dN)\n", t->renamed);
}
