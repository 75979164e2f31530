/*
 * common.c - helpers shared by the subcommands: messages, the filters
 * directory, rule loading and shard-spec expansion with error messages.
 */
#include "tools.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tool_cmd = "ballast";

void tool_err(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ballast %s: ", tool_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tool_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	if (fmt) {
		fprintf(stderr, "ballast %s: ", tool_cmd);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fputs(usage, stderr);
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
