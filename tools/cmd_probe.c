/*
 * cmd_probe.c - "ballast probe": what each image file is, and with --check
 * whether it decodes.  One line per file on stdout, always, so that the
 * output lines up with the arguments; the work is bl_image_probe/_check.
 * A file that cannot be read is an item failure like a corrupt one.
 */
#include "tools.h"

#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char usage_probe[] =
	"usage: ballast probe [--check] [--json] [--max-pixels N] FILE...\n"
	"\n"
	"Probe image files: format from the magic bytes, size, components,\n"
	"and for JPEG the chroma subsampling, coding and sample precision.\n"
	"One line per file, tab-separated:\n"
	"  PATH FORMAT WxH COMPONENTS SUBSAMP CODING PRECISION ok|error: REASON\n"
	"(tab, newline, backslash, control characters and bytes that are not\n"
	"UTF-8 in PATH escaped as \\t \\n \\\\ \\xHH \\uHHHH).\n"
	"CODING is baseline, extended, progressive, lossless or hierarchical\n"
	"(+arith when arithmetic coded), '-' for other formats.\n"
	"\n"
	"  --check         also decode each JPEG (at 1/8 scale) to find damage\n"
	"                  the header does not show\n"
	"  --json          one JSON object per line instead (valid UTF-8: a byte\n"
	"                  of PATH that is not UTF-8 is written \\udcXX)\n"
	"  --max-pixels N  refuse images over N pixels (default 67108864)\n"
	"\n"
	"Files over 64 MiB are refused unread.\n"
	"exit: 0 all ok, 1 some files failed, 2 usage, 3 fatal\n";

#define PROBE_MAX_BYTES ((size_t)64 << 20)

/*
 * Read a whole file into b (reset first), refusing files over cap without
 * reading them.  BL_OK, or BL_FAILED with a reason in err.
 */
static int read_file(const char *path, bl_buf *b, size_t cap, char *err,
		     size_t errlen)
{
	FILE *f = NULL;
	struct stat st;
	char chunk[65536];
	size_t n;
	int rc = BL_FAILED;

	bl_buf_reset(b);
	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "is a directory");
			goto out;
		}
		if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > cap) {
			snprintf(err, errlen,
				 "%jd bytes exceed the %zu-byte limit",
				 (intmax_t)st.st_size, cap);
			goto out;
		}
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		int r = bl_buf_add(b, chunk, n);
		if (r == BL_FAILED) {
			snprintf(err, errlen, "more than %zu bytes (limit)",
				 cap);
			goto out;
		}
		if (r != BL_OK) {
			snprintf(err, errlen, "out of memory");
			rc = BL_ENOMEM;
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		goto out;
	}
	rc = BL_OK;
out:
	if (f)
		fclose(f);
	return rc;
}

static const char *coding_name(const bl_image_info *in)
{
	static const char *names[][2] = {
		{"baseline", "baseline"}, /* SOF0 cannot be arithmetic */
		{"extended", "extended+arith"},
		{"progressive", "progressive+arith"},
		{"lossless", "lossless+arith"},
		{"hierarchical", "hierarchical+arith"},
	};
	int s = in->sof, k;

	if (in->format != BL_IMG_JPEG || s < 0)
		return "-";
	if (in->lossless)
		k = 3;
	else if (s == 5 || s == 6 || s == 13 || s == 14)
		k = 4;
	else if (in->progressive)
		k = 2;
	else
		k = s == 0 ? 0 : 1;
	return names[k][in->arithmetic];
}

static void print_text(const char *path, const bl_image_info *in,
		       const char *err)
{
	bl_buf esc;

	/* a file name is bytes: escaped as TSV, as ls does */
	bl_buf_init(&esc, 0);
	tool_escape(&esc, path, strlen(path), TOOL_ESC_TSV);
	printf("%s\t%s\t%dx%d\t%d\t%s\t%s\t%d\t", esc.buf,
	       bl_image_format_name(in->format), in->width, in->height,
	       in->components,
	       in->format == BL_IMG_JPEG ? bl_image_subsamp_name(in->subsamp)
					 : "-",
	       coding_name(in), in->precision);
	if (err)
		printf("error: %s\n", tool_esc(err));
	else
		fputs("ok\n", stdout);
	bl_buf_release(&esc);
}

/* BL_OK or BL_ENOMEM. */
static int print_json(const char *path, const bl_image_info *in,
		      const char *err)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;
	int rc = BL_ENOMEM;

	if (!o)
		goto out;
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddStringToObject(o, "format", bl_image_format_name(in->format));
	cJSON_AddNumberToObject(o, "width", in->width);
	cJSON_AddNumberToObject(o, "height", in->height);
	cJSON_AddNumberToObject(o, "components", in->components);
	cJSON_AddNumberToObject(o, "precision", in->precision);
	if (in->format == BL_IMG_JPEG) {
		cJSON_AddStringToObject(o, "subsamp",
					bl_image_subsamp_name(in->subsamp));
		cJSON_AddStringToObject(o, "coding", coding_name(in));
		cJSON_AddNumberToObject(o, "sof", in->sof);
		cJSON_AddNumberToObject(o, "scans", in->scans);
		cJSON_AddBoolToObject(o, "progressive", in->progressive);
		cJSON_AddBoolToObject(o, "arithmetic", in->arithmetic);
		cJSON_AddBoolToObject(o, "lossless", in->lossless);
	}
	cJSON_AddBoolToObject(o, "ok", err == NULL);
	if (err) {
		cJSON_AddStringToObject(o, "error", err);
		cJSON_AddBoolToObject(o, "corrupt", in->corrupt);
		cJSON_AddBoolToObject(o, "unsupported", in->unsupported);
		cJSON_AddBoolToObject(o, "refused", in->refused);
	}
	s = cJSON_PrintUnformatted(o);
	rc = tool_put_json(s);
out:
	cJSON_free(s);
	cJSON_Delete(o);
	return rc;
}

int cmd_probe(int argc, char **argv)
{
	static const struct option opts[] = {
		{"check", no_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"max-pixels", required_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	bl_image_limits lim = {0, PROBE_MAX_BYTES, 0};
	bl_image *im = NULL;
	bl_buf data;
	int check = 0, json = 0, failed = 0, opt;
	int rc = EXIT_FATAL;

	bl_buf_init(&data, PROBE_MAX_BYTES);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (opt) {
		case 'c':
			check = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'p':
			errno = 0;
			lim.max_pixels = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-' ||
			    lim.max_pixels == 0) {
				rc = tool_usage_error(usage_probe,
					"--max-pixels wants a positive "
					"number, not '%s'", optarg);
				goto out;
			}
			break;
		default:
			rc = tool_usage_error(usage_probe, NULL);
			goto out;
		}
	}
	if (optind >= argc) {
		rc = tool_usage_error(usage_probe, "no files given");
		goto out;
	}
	im = bl_image_new(&lim);
	if (!im) {
		tool_err("out of memory");
		goto out;
	}
	for (int i = optind; i < argc; i++) {
		const char *path = argv[i];
		bl_image_info info;
		char err[512];
		const char *why = NULL;
		int r = read_file(path, &data, PROBE_MAX_BYTES, err,
				  sizeof err);

		memset(&info, 0, sizeof info);
		info.subsamp = info.colorspace = info.sof = -1;
		if (r == BL_ENOMEM) {
			tool_err("out of memory reading '%s'", path);
			goto out;
		}
		if (r == BL_OK) {
			const unsigned char *p =
				(const unsigned char *)data.buf;
			r = check ? bl_image_check(im, p, data.len, &info)
				  : bl_image_probe(im, p, data.len, &info);
			if (r == BL_ENOMEM) {
				tool_err("out of memory on '%s'", path);
				goto out;
			}
			if (r != BL_OK)
				why = bl_image_errmsg(im);
		} else {
			why = err;
		}
		if (why)
			failed++;
		if (json) {
			if (print_json(path, &info, why) != BL_OK) {
				tool_err("out of memory");
				goto out;
			}
		} else {
			print_text(path, &info, why);
		}
	}
	rc = tool_finish(failed ? EXIT_ITEMS_FAILED : EXIT_ALL_GOOD);
out:
	bl_image_free(im);
	bl_buf_release(&data);
	return rc;
}
