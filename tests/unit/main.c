/*
 * main.c - runs every BL_TEST (or those named on the command line) and
 * prints one line per test and a closing "N passed, N failed, N skipped".
 * Exit status 0 only when nothing failed.
 */
#include "test.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define X(name) void bl_test_##name(void);
#include "list.h"
#undef X

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
#define X(name) {#name, bl_test_##name},
#include "list.h"
#undef X
};

static int cur_failed, cur_skipped;
static char tmpdir[256];
static char shared[4096];
static int shared_checked;

void bl_test_fail(const char *file, int line, const char *expr)
{
	bl_test_failf(file, line, "%s", expr);
}

void bl_test_failf(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "    %s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cur_failed++;
}

void bl_test_skip(const char *why)
{
	if (!cur_skipped)
		fprintf(stderr, "    skipped: %s\n", why);
	cur_skipped = 1;
}

const char *bl_test_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir, sizeof tmpdir, "%s/ballast-unit-XXXXXX",
			 base && *base ? base : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(3);
		}
	}
	return tmpdir;
}

const char *bl_test_shared(void)
{
	if (!shared_checked) {
		const char *env = getenv("BALLAST_SHARED_DATA");
		struct stat st;
		shared_checked = 1;
		snprintf(shared, sizeof shared, "%s",
			 env && *env ? env : "../shared/data");
		if (stat(shared, &st) != 0 || !S_ISDIR(st.st_mode))
			shared[0] = '\0';
	}
	return shared[0] ? shared : NULL;
}

const char *bl_test_data(const char *rel)
{
	static char path[8192];
	const char *s = bl_test_shared();
	if (!s) {
		bl_test_skip("../shared/data is absent (set BALLAST_SHARED_DATA)");
		return NULL;
	}
	snprintf(path, sizeof path, "%s/%s", s, rel);
	return path;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	size_t n = sizeof tests / sizeof tests[0];
	for (size_t i = 0; i < n; i++) {
		if (argc > 1) {
			int want = 0;
			for (int a = 1; a < argc; a++)
				if (strstr(tests[i].name, argv[a]))
					want = 1;
			if (!want)
				continue;
		}
		cur_failed = cur_skipped = 0;
		tests[i].fn();
		if (cur_failed) {
			printf("FAIL %s\n", tests[i].name);
			failed++;
		} else if (cur_skipped) {
			printf("skip %s\n", tests[i].name);
			skipped++;
		} else {
			printf("ok   %s\n", tests[i].name);
			passed++;
		}
		fflush(stdout);
	}
	if (tmpdir[0]) {
		char cmd[512];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
