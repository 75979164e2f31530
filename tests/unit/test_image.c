/*
 * Unit tests for image.c: the probe on JPEGs made here with tjCompress2
 * (every sampling, gray, progressive, CMYK), on cut, mutated and hand-made
 * hostile bytes, DCT-scaled decoding, and a walk over every file of the
 * shared jpeg/ folder checked against its MANIFEST.source.csv (matched by
 * SHA-256, since the folder layout differs from the manifest's paths).
 */
#include "test.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <turbojpeg.h>

/* A w x h JPEG of a gradient in pixel format pf.  Returns a tjAlloc'd
 * buffer (tjFree it) or NULL. */
static unsigned char *make_jpeg(int w, int h, int pf, int subsamp, int flags,
				unsigned long *len)
{
	tjhandle tj = tjInitCompress();
	int ps = tjPixelSize[pf];
	unsigned char *src = malloc((size_t)w * h * ps), *jpeg = NULL;

	*len = 0;
	if (!tj || !src)
		goto out;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < ps; c++)
				src[((size_t)y * w + x) * ps + c] =
					(unsigned char)((x * 255 / w + y * 255 / h * c) & 255);
	if (tjCompress2(tj, src, w, 0, h, pf, &jpeg, len, subsamp, 90,
			flags) != 0) {
		tjFree(jpeg);
		jpeg = NULL;
	}
out:
	free(src);
	if (tj)
		tjDestroy(tj);
	return jpeg;
}

BL_TEST(image_probe_generated)
{
	static const struct {
		int pf, samp, flags, comps, progressive;
	} cases[] = {
		{TJPF_RGB, TJSAMP_420, 0, 3, 0},
		{TJPF_RGB, TJSAMP_444, 0, 3, 0},
		{TJPF_RGB, TJSAMP_422, 0, 3, 0},
		{TJPF_RGB, TJSAMP_440, 0, 3, 0},
		{TJPF_RGB, TJSAMP_411, 0, 3, 0},
		{TJPF_GRAY, TJSAMP_GRAY, 0, 1, 0},
		{TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE, 3, 1},
		{TJPF_GRAY, TJSAMP_GRAY, TJFLAG_PROGRESSIVE, 1, 1},
	};
	bl_image *im = bl_image_new(NULL);
	REQUIRE(im);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned long len;
		unsigned char *j = make_jpeg(77, 45, cases[i].pf, cases[i].samp,
					     cases[i].flags, &len);
		bl_image_info info;
		const unsigned char *px;
		int w, h;

		REQUIRE(j);
		CHECK_EQ_INT(bl_image_probe(im, j, len, &info), BL_OK);
		CHECK_EQ_STR(bl_image_errmsg(im), "");
		CHECK_EQ_INT(info.format, BL_IMG_JPEG);
		CHECK_EQ_INT(info.width, 77);
		CHECK_EQ_INT(info.height, 45);
		CHECK_EQ_INT(info.components, cases[i].comps);
		CHECK_EQ_INT(info.subsamp, cases[i].samp);
		CHECK_EQ_INT(info.colorspace,
			     cases[i].comps == 1 ? TJCS_GRAY : TJCS_YCbCr);
		CHECK_EQ_INT(info.progressive, cases[i].progressive);
		CHECK_EQ_INT(info.sof, cases[i].progressive ? 2 : 0);
		CHECK(cases[i].progressive ? info.scans > 1 : info.scans == 1);
		CHECK_EQ_INT(info.arithmetic, 0);
		CHECK_EQ_INT(info.lossless, 0);
		CHECK_EQ_INT(info.precision, 8);
		CHECK_EQ_INT(info.corrupt, 0);
		CHECK_EQ_STR(bl_image_subsamp_name(info.subsamp),
			     bl_image_subsamp_name(cases[i].samp));

		CHECK_EQ_INT(bl_image_check(im, j, len, &info), BL_OK);
		CHECK_EQ_INT(info.corrupt, 0);
		CHECK_EQ_INT(bl_image_decode_rgb(im, j, len, 0, 0, &px, &w, &h),
			     BL_OK);
		CHECK(px != NULL);
		CHECK_EQ_INT(w, 77);
		CHECK_EQ_INT(h, 45);
		if (px && cases[i].comps == 1) {
			/* gray is expanded: R == G == B */
			CHECK(px[3 * 50] == px[3 * 50 + 1] &&
			      px[3 * 50 + 1] == px[3 * 50 + 2]);
		}
		tjFree(j);
	}
	CHECK_EQ_STR(bl_image_format_name(BL_IMG_JPEG), "jpeg");
	CHECK_EQ_STR(bl_image_subsamp_name(-1), "other");
	bl_image_free(im);
}

/* Every prefix of a valid JPEG: never a crash, every failure explained;
 * cut inside the image data, the probe may pass but the check must not. */
BL_TEST(image_truncated)
{
	unsigned long len;
	unsigned char *j = make_jpeg(40, 40, TJPF_RGB, TJSAMP_420,
				     TJFLAG_PROGRESSIVE, &len);
	bl_image *im = bl_image_new(NULL);
	int probe_ok = 0;

	REQUIRE(j && im);
	for (size_t cut = 0; cut < len; cut++) {
		bl_image_info info;
		const unsigned char *px;
		int w, h, rc;

		rc = bl_image_probe(im, j, cut, &info);
		CHECK(rc == BL_OK || rc == BL_FAILED);
		if (rc == BL_OK)
			probe_ok++;
		else
			CHECK(bl_image_errmsg(im)[0] != '\0');
		rc = bl_image_check(im, j, cut, &info);
		if (rc != BL_FAILED)
			bl_test_failf(__FILE__, __LINE__,
				      "check of %zu/%lu bytes: rc %d", cut, len,
				      rc);
		CHECK_EQ_INT(info.corrupt, 1);
		CHECK(bl_image_errmsg(im)[0] != '\0');
		rc = bl_image_decode_rgb(im, j, cut, 0, 0, &px, &w, &h);
		CHECK(rc == BL_WARN || rc == BL_FAILED);
		CHECK(rc == BL_WARN ? px != NULL && w == 40 : px == NULL && w == 0);
	}
	/* the header ends early in the file: most cuts pass the probe */
	CHECK(probe_ok > (int)len / 2);
	/* a cut in the middle of the data: the libjpeg message comes back */
	CHECK_EQ_INT(bl_image_check(im, j, len - 40, NULL), BL_FAILED);
	CHECK_CONTAINS(bl_image_errmsg(im), "Premature end of JPEG file");
	/* and the whole file still passes on the same handle */
	CHECK_EQ_INT(bl_image_check(im, j, len, NULL), BL_OK);
	tjFree(j);
	bl_image_free(im);
}

BL_TEST(image_garbage_and_empty)
{
	bl_image *im = bl_image_new(NULL);
	unsigned char buf[4096];
	bl_image_info info;
	bl_rng r;
	const unsigned char *px = (const unsigned char *)"x";
	int w = 1, h = 1;

	REQUIRE(im);
	CHECK_EQ_INT(bl_image_probe(im, buf, 0, &info), BL_FAILED);
	CHECK_EQ_STR(bl_image_errmsg(im), "empty file");
	CHECK_EQ_INT(info.corrupt, 1);
	CHECK_EQ_INT(info.format, BL_IMG_UNKNOWN);
	CHECK_EQ_INT(bl_image_probe(im, NULL, 0, &info), BL_FAILED);
	CHECK_EQ_INT(bl_image_check(im, buf, 0, NULL), BL_FAILED);
	CHECK_EQ_INT(bl_image_decode_rgb(im, buf, 0, 0, 0, &px, &w, &h),
		     BL_FAILED);
	CHECK(px == NULL && w == 0 && h == 0);
	/* misuse */
	CHECK_EQ_INT(bl_image_probe(NULL, buf, 1, &info), BL_EUSAGE);
	CHECK_EQ_INT(bl_image_probe(im, NULL, 10, &info), BL_EUSAGE);
	CHECK_EQ_INT(bl_image_decode_rgb(im, buf, 1, -1, 0, &px, &w, &h),
		     BL_EUSAGE);
	CHECK_EQ_INT(bl_image_decode_rgb(im, buf, 1, 0, 0, NULL, &w, &h),
		     BL_EUSAGE);
	CHECK(bl_image_errmsg(NULL) != NULL);
	bl_image_free(NULL);

	/* random bytes, and random bytes after a JPEG SOI */
	bl_rng_seed(&r, 20240601);
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + bl_rng_below(&r, sizeof buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)bl_rng_next(&r);
		if (round & 1 && n >= 2) {
			buf[0] = 0xFF;
			buf[1] = 0xD8;
		}
		int rc = bl_image_check(im, buf, n, &info);
		CHECK(rc == BL_FAILED);
		CHECK(bl_image_errmsg(im)[0] != '\0');
	}
	CHECK_EQ_INT(bl_image_probe(im, (const unsigned char *)"hello", 5,
				    &info), BL_FAILED);
	CHECK_CONTAINS(bl_image_errmsg(im), "unknown format");
	bl_image_free(im);
}

/* Seeded byte mutations of a valid JPEG: a small fuzzer on every run. */
BL_TEST(image_mutations)
{
	unsigned long len;
	unsigned char *j = make_jpeg(64, 48, TJPF_RGB, TJSAMP_420, 0, &len);
	unsigned char *m = j ? malloc(len) : NULL;
	bl_image *im = bl_image_new(NULL);
	bl_rng r;
	int counts[3] = {0, 0, 0};

	REQUIRE(j && m && im);
	bl_rng_seed(&r, 7);
	for (int round = 0; round < 500; round++) {
		const unsigned char *px;
		int w, h, rc;

		memcpy(m, j, len);
		for (int k = 0, n = 1 + (int)bl_rng_below(&r, 8); k < n; k++)
			m[bl_rng_below(&r, len)] = (unsigned char)bl_rng_next(&r);
		rc = bl_image_check(im, m, len, NULL);
		CHECK(rc == BL_OK || rc == BL_FAILED);
		if (rc != BL_OK)
			CHECK(bl_image_errmsg(im)[0] != '\0');
		rc = bl_image_decode_rgb(im, m, len, 16, 16, &px, &w, &h);
		CHECK(rc == BL_OK || rc == BL_WARN || rc == BL_FAILED);
		counts[rc == BL_OK ? 0 : rc == BL_WARN ? 1 : 2]++;
		if (rc == BL_OK || rc == BL_WARN)
			CHECK(px && w >= 16 && h >= 16);
	}
	/* the mutations do reach the decoder, not only the header checks */
	CHECK(counts[0] > 0);
	CHECK(counts[1] + counts[2] > 0);
	free(m);
	tjFree(j);
	bl_image_free(im);
}

/* SOI, SOF0 declaring w x h with 3 components, a bare SOS, EOI. */
static size_t make_sof(unsigned char *b, int w, int h)
{
	static const unsigned char sos[] = {0xFF, 0xDA, 0x00, 0x0C, 0x03,
					    0x01, 0x00, 0x02, 0x11, 0x03,
					    0x11, 0x00, 0x3F, 0x00};
	size_t n = 0;

	b[n++] = 0xFF; b[n++] = 0xD8;
	b[n++] = 0xFF; b[n++] = 0xC0; b[n++] = 0x00; b[n++] = 17;
	b[n++] = 8;
	b[n++] = (unsigned char)(h >> 8); b[n++] = (unsigned char)h;
	b[n++] = (unsigned char)(w >> 8); b[n++] = (unsigned char)w;
	b[n++] = 3;
	b[n++] = 1; b[n++] = 0x22; b[n++] = 0;
	b[n++] = 2; b[n++] = 0x11; b[n++] = 1;
	b[n++] = 3; b[n++] = 0x11; b[n++] = 1;
	memcpy(b + n, sos, sizeof sos);
	n += sizeof sos;
	b[n++] = 0x12; b[n++] = 0x34;
	b[n++] = 0xFF; b[n++] = 0xD9;
	return n;
}

BL_TEST(image_bomb_refused)
{
	unsigned char b[64];
	size_t n = make_sof(b, 65535, 65535);
	bl_image *im = bl_image_new(NULL);
	bl_image_limits small = {5000, 0, 0};
	bl_image *ims = bl_image_new(&small);
	bl_image_info info;
	const unsigned char *px;
	int w, h;

	REQUIRE(im && ims);
	CHECK_EQ_INT(bl_image_probe(im, b, n, &info), BL_FAILED);
	CHECK_EQ_STR(bl_image_errmsg(im),
		     "65535x65535 exceeds the 67108864-pixel limit");
	CHECK_EQ_INT(info.width, 65535);
	CHECK_EQ_INT(info.height, 65535);
	CHECK_EQ_INT(info.refused, 1);
	CHECK_EQ_INT(info.corrupt, 0);
	CHECK_EQ_INT(bl_image_check(im, b, n, &info), BL_FAILED);
	CHECK_EQ_INT(info.refused, 1);
	CHECK_EQ_INT(bl_image_decode_rgb(im, b, n, 0, 0, &px, &w, &h),
		     BL_FAILED);
	CHECK_CONTAINS(bl_image_errmsg(im), "exceeds the 67108864-pixel limit");

	/* just under a custom cap passes the limit (and then fails on the
	 * missing tables); just over it is refused */
	n = make_sof(b, 100, 50);
	CHECK(bl_image_probe(ims, b, n, &info) != BL_OK ||
	      info.refused == 0);
	CHECK_EQ_INT(info.refused, 0);
	n = make_sof(b, 100, 51);
	CHECK_EQ_INT(bl_image_probe(ims, b, n, &info), BL_FAILED);
	CHECK_EQ_STR(bl_image_errmsg(ims),
		     "100x51 exceeds the 5000-pixel limit");

	/* byte cap */
	{
		bl_image_limits tiny = {0, 10, 0};
		bl_image *imt = bl_image_new(&tiny);
		REQUIRE(imt);
		CHECK_EQ_INT(bl_image_probe(imt, b, n, &info), BL_FAILED);
		CHECK_EQ_INT(info.refused, 1);
		CHECK_CONTAINS(bl_image_errmsg(imt), "10-byte limit");
		bl_image_free(imt);
	}
	bl_image_free(im);
	bl_image_free(ims);
}

/* 12-bit and lossless frames report their size but are refused. */
BL_TEST(image_unsupported_frames)
{
	unsigned char b[64];
	size_t n = make_sof(b, 300, 200);
	bl_image *im = bl_image_new(NULL);
	bl_image_info info;

	REQUIRE(im);
	b[6] = 12;
	CHECK_EQ_INT(bl_image_probe(im, b, n, &info), BL_FAILED);
	CHECK_EQ_STR(bl_image_errmsg(im),
		     "12-bit JPEG: not supported by libjpeg-turbo 2.1");
	CHECK_EQ_INT(info.width, 300);
	CHECK_EQ_INT(info.height, 200);
	CHECK_EQ_INT(info.precision, 12);
	CHECK_EQ_INT(info.unsupported, 1);
	CHECK_EQ_INT(info.corrupt, 0);
	b[3] = 0xC3; /* lossless */
	b[6] = 16;
	CHECK_EQ_INT(bl_image_probe(im, b, n, &info), BL_FAILED);
	CHECK_CONTAINS(bl_image_errmsg(im), "lossless JPEG (SOF3, 16-bit)");
	CHECK_EQ_INT(info.lossless, 1);
	CHECK_EQ_INT(info.sof, 3);
	b[3] = 0xCA; /* progressive, arithmetic: supported */
	b[6] = 8;
	bl_image_probe(im, b, n, &info);
	CHECK_EQ_INT(info.progressive, 1);
	CHECK_EQ_INT(info.arithmetic, 1);
	CHECK_EQ_INT(info.unsupported, 0);
	bl_image_free(im);
}

BL_TEST(image_scaled_decode)
{
	unsigned long len;
	unsigned char *j = make_jpeg(640, 480, TJPF_RGB, TJSAMP_420, 0, &len);
	bl_image *im = bl_image_new(NULL);
	static const int want[][4] = {
		/* min_w, min_h -> w, h */
		{0, 0, 640, 480},
		{1, 1, 80, 60},     /* 1/8 */
		{80, 60, 80, 60},
		{81, 0, 160, 120},  /* 1/4 */
		{0, 121, 240, 180}, /* 3/8 */
		{100, 100, 160, 120},
		{300, 0, 320, 240}, /* 1/2 */
		{600, 10, 640, 480},
		{5000, 5000, 640, 480}, /* never upscaled */
	};
	const unsigned char *px, *first = NULL;
	int w, h;

	REQUIRE(j && im);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		CHECK_EQ_INT(bl_image_decode_rgb(im, j, len, want[i][0],
						 want[i][1], &px, &w, &h),
			     BL_OK);
		CHECK_EQ_INT(w, want[i][2]);
		CHECK_EQ_INT(h, want[i][3]);
	}
	/* the buffer is reused: same size, same storage */
	CHECK_EQ_INT(bl_image_decode_rgb(im, j, len, 0, 0, &first, &w, &h),
		     BL_OK);
	CHECK_EQ_INT(bl_image_decode_rgb(im, j, len, 100, 100, &px, &w, &h),
		     BL_OK);
	CHECK(px == first);
	CHECK_EQ_INT(bl_image_decode_rgb(im, j, len, 0, 0, &px, &w, &h),
		     BL_OK);
	CHECK(px == first);
	/* the gradient survives: left dark, right bright in red */
	CHECK(px[0] < 40);
	CHECK(px[3 * 639] > 215);
	tjFree(j);
	bl_image_free(im);
}

/* CMYK JPEGs (TurboJPEG writes them as Adobe YCCK) decode to RGB. */
BL_TEST(image_cmyk_to_rgb)
{
	tjhandle tj = tjInitCompress();
	unsigned char src[32 * 32 * 4], *j = NULL;
	unsigned long len = 0;
	bl_image *im = bl_image_new(NULL);
	bl_image_info info;
	const unsigned char *px;
	int w, h;

	REQUIRE(tj && im);
	/* Adobe convention, inverted: 255 = no ink.  Full magenta and
	 * yellow, no cyan, no black: red */
	for (int i = 0; i < 32 * 32; i++) {
		src[4 * i] = 255;
		src[4 * i + 1] = 0;
		src[4 * i + 2] = 0;
		src[4 * i + 3] = 255;
	}
	REQUIRE(tjCompress2(tj, src, 32, 0, 32, TJPF_CMYK, &j, &len,
			    TJSAMP_444, 95, 0) == 0);
	CHECK_EQ_INT(bl_image_probe(im, j, len, &info), BL_OK);
	CHECK_EQ_INT(info.components, 4);
	CHECK_EQ_INT(info.colorspace, TJCS_YCCK);
	CHECK_EQ_INT(bl_image_check(im, j, len, &info), BL_OK);
	CHECK_EQ_INT(bl_image_decode_rgb(im, j, len, 0, 0, &px, &w, &h),
		     BL_OK);
	CHECK_EQ_INT(w, 32);
	CHECK(px[0] > 240 && px[1] < 15 && px[2] < 15);
	tjFree(j);
	tjDestroy(tj);
	bl_image_free(im);
}

/*
 * TurboJPEG 2.1 leaves its handle broken after a failed header read; the
 * next good image on the same bl_image must still pass.
 */
BL_TEST(image_handle_survives_errors)
{
	unsigned long len;
	unsigned char *j = make_jpeg(32, 32, TJPF_RGB, TJSAMP_444, 0, &len);
	unsigned char *bad = j ? malloc(len) : NULL;
	bl_image *im = bl_image_new(NULL);
	size_t dht = 0;

	REQUIRE(j && bad && im);
	memcpy(bad, j, len);
	for (size_t i = 2; i + 4 < len; i++)
		if (bad[i] == 0xFF && bad[i + 1] == 0xC4) {
			dht = i;
			break;
		}
	REQUIRE(dht);
	/* code counts adding up to far more than 256 */
	memset(bad + dht + 5, 0xFF, 16);
	CHECK_EQ_INT(bl_image_probe(im, bad, len, NULL), BL_FAILED);
	CHECK_CONTAINS(bl_image_errmsg(im), "Huffman");
	CHECK_EQ_INT(bl_image_probe(im, j, len, NULL), BL_OK);
	CHECK_EQ_INT(bl_image_check(im, bad, len, NULL), BL_FAILED);
	CHECK_EQ_INT(bl_image_check(im, j, len, NULL), BL_OK);
	free(bad);
	tjFree(j);
	bl_image_free(im);
}

BL_TEST(image_other_formats)
{
	static const unsigned char png[] = {
		0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
		0, 0, 0, 13, 'I', 'H', 'D', 'R',
		0, 0, 0x01, 0x2c, 0, 0, 0, 0xc8, 8, 6, 0, 0, 0,
		0, 0, 0, 0};
	static const unsigned char gif[] = "GIF89a\x40\x01\xf0\x00\x00\x00";
	static const unsigned char webp[] = {
		'R', 'I', 'F', 'F', 30, 0, 0, 0, 'W', 'E', 'B', 'P',
		'V', 'P', '8', 'L', 10, 0, 0, 0, 0x2f,
		/* 14 bits width-1 = 99, 14 bits height-1 = 49, alpha 1 */
		0x63, 0x40, 0x0c, 0x10, 0, 0, 0, 0, 0};
	bl_image *im = bl_image_new(NULL);
	bl_image_info info;
	const unsigned char *px;
	int w, h;

	REQUIRE(im);
	CHECK_EQ_INT(bl_image_probe(im, png, sizeof png, &info), BL_OK);
	CHECK_EQ_INT(info.format, BL_IMG_PNG);
	CHECK_EQ_INT(info.width, 300);
	CHECK_EQ_INT(info.height, 200);
	CHECK_EQ_INT(info.components, 4);
	CHECK_EQ_INT(info.precision, 8);
	CHECK_EQ_INT(info.sof, -1);
	/* no decoder: check is the probe; decode says so */
	CHECK_EQ_INT(bl_image_check(im, png, sizeof png, &info), BL_OK);
	CHECK_EQ_INT(bl_image_decode_rgb(im, png, sizeof png, 0, 0, &px, &w,
					 &h), BL_FAILED);
	CHECK_CONTAINS(bl_image_errmsg(im), "png: no decoder");
	CHECK_EQ_INT(bl_image_probe(im, png, 20, &info), BL_FAILED);
	CHECK_EQ_INT(info.format, BL_IMG_PNG);
	CHECK_EQ_INT(info.corrupt, 1);

	CHECK_EQ_INT(bl_image_probe(im, gif, sizeof gif - 1, &info), BL_OK);
	CHECK_EQ_INT(info.format, BL_IMG_GIF);
	CHECK_EQ_INT(info.width, 320);
	CHECK_EQ_INT(info.height, 240);

	CHECK_EQ_INT(bl_image_probe(im, webp, sizeof webp, &info), BL_OK);
	CHECK_EQ_INT(info.format, BL_IMG_WEBP);
	CHECK_EQ_INT(info.width, 100);
	CHECK_EQ_INT(info.height, 50);
	CHECK_EQ_INT(info.components, 4);
	bl_image_free(im);
}

/* ---- the shared jpeg/ folder ----------------------------------------- */

struct mrow {
	char sha[65];
	int width, height, components, precision;
	int clean; /* no parse error */
};

static struct {
	struct mrow *rows;
	size_t n;
	bl_image *im;
	bl_buf data;
	int files, probe_ok, check_ok, compared, matched, no_reason;
	int decode_ok, decode_warn;
	int png6;
} walk;

/* Split a CSV line without quoted fields (the manifest has none). */
static int csv_fields(char *line, char **f, int max)
{
	int n = 0;
	char *p = line;
	while (n < max) {
		f[n++] = p;
		p = strchr(p, ',');
		if (!p)
			break;
		*p++ = '\0';
	}
	return n;
}

static int load_manifest(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	char *fld[16];
	int col_w = -1, col_h = -1, col_c = -1, col_p = -1, col_e = -1,
	    col_s = -1, n;

	if (!f)
		return -1;
	if (!fgets(line, sizeof line, f)) {
		fclose(f);
		return -1;
	}
	line[strcspn(line, "\r\n")] = '\0';
	n = csv_fields(line, fld, 16);
	for (int i = 0; i < n; i++) {
		if (!strcmp(fld[i], "width")) col_w = i;
		if (!strcmp(fld[i], "height")) col_h = i;
		if (!strcmp(fld[i], "components")) col_c = i;
		if (!strcmp(fld[i], "precision")) col_p = i;
		if (!strcmp(fld[i], "parse_error")) col_e = i;
		if (!strcmp(fld[i], "sha256")) col_s = i;
	}
	if (col_w < 0 || col_h < 0 || col_c < 0 || col_p < 0 || col_e < 0 ||
	    col_s < 0) {
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		struct mrow *r, *grown;
		line[strcspn(line, "\r\n")] = '\0';
		if (csv_fields(line, fld, 16) <= col_s)
			continue;
		grown = realloc(walk.rows, (walk.n + 1) * sizeof *walk.rows);
		if (!grown)
			break;
		walk.rows = grown;
		r = &walk.rows[walk.n++];
		snprintf(r->sha, sizeof r->sha, "%s", fld[col_s]);
		r->width = atoi(fld[col_w]);
		r->height = atoi(fld[col_h]);
		r->components = atoi(fld[col_c]);
		r->precision = atoi(fld[col_p]);
		r->clean = fld[col_e][0] == '\0';
	}
	fclose(f);
	return 0;
}

static const struct mrow *find_row(const char *sha)
{
	for (size_t i = 0; i < walk.n; i++)
		if (!strcmp(walk.rows[i].sha, sha))
			return &walk.rows[i];
	return NULL;
}

static int visit(const char *path, const struct stat *st, int type,
		 struct FTW *ftw)
{
	FILE *f;
	char chunk[65536], sha[65];
	size_t n;
	bl_image_info info;
	const struct mrow *row;
	int rc;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	bl_buf_reset(&walk.data);
	f = fopen(path, "rb");
	if (!f) {
		bl_test_failf(__FILE__, __LINE__, "cannot open %s", path);
		return 0;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (bl_buf_add(&walk.data, chunk, n) != BL_OK)
			break;
	fclose(f);
	walk.files++;

	rc = bl_image_probe(walk.im, (const unsigned char *)walk.data.buf,
			    walk.data.len, &info);
	if (rc == BL_OK) {
		walk.probe_ok++;
	} else if (rc != BL_FAILED || bl_image_errmsg(walk.im)[0] == '\0') {
		walk.no_reason++;
		bl_test_failf(__FILE__, __LINE__, "%s: probe rc %d, reason '%s'",
			      path, rc, bl_image_errmsg(walk.im));
	}
	if (strstr(path, "jpg-size-6x6.jpg")) {
		walk.png6 = 1;
		CHECK_EQ_INT(rc, BL_OK);
		CHECK_EQ_INT(info.format, BL_IMG_PNG);
		CHECK_EQ_INT(info.width, 6);
		CHECK_EQ_INT(info.height, 6);
	}
	if (strstr(path, "max_size.jpg")) {
		CHECK_EQ_INT(rc, BL_FAILED);
		CHECK_EQ_INT(info.refused, 1);
	}

	bl_sha256_hex(walk.data.buf, walk.data.len, sha);
	row = find_row(sha);
	if (row && row->clean && row->precision == 8 &&
	    info.format == BL_IMG_JPEG) {
		walk.compared++;
		if (info.width == row->width && info.height == row->height &&
		    info.components == row->components)
			walk.matched++;
		else
			bl_test_failf(__FILE__, __LINE__,
				      "%s: probe %dx%d/%d, manifest %dx%d/%d",
				      path, info.width, info.height,
				      info.components, row->width, row->height,
				      row->components);
	}

	rc = bl_image_check(walk.im, (const unsigned char *)walk.data.buf,
			    walk.data.len, &info);
	if (rc == BL_OK)
		walk.check_ok++;
	else if (rc != BL_FAILED || bl_image_errmsg(walk.im)[0] == '\0')
		bl_test_failf(__FILE__, __LINE__, "%s: check rc %d, reason '%s'",
			      path, rc, bl_image_errmsg(walk.im));

	/* as a data loader would: scaled to at least 224 a side */
	{
		const unsigned char *px;
		int w, h, checked = rc == BL_OK && info.format == BL_IMG_JPEG;

		rc = bl_image_decode_rgb(walk.im,
					 (const unsigned char *)walk.data.buf,
					 walk.data.len, 224, 224, &px, &w, &h);
		if (rc == BL_OK || rc == BL_WARN) {
			walk.decode_ok += rc == BL_OK;
			walk.decode_warn += rc == BL_WARN;
			CHECK(px != NULL && w > 0 && h > 0);
			CHECK(w <= info.width && h <= info.height);
			CHECK(w >= 224 || w == info.width);
			CHECK(h >= 224 || h == info.height);
			/* touch every byte: ASan sees a short buffer */
			unsigned sum = 0;
			for (size_t i = 0; i < (size_t)w * h * 3; i++)
				sum += px[i];
			(void)sum;
		} else if (rc != BL_FAILED) {
			bl_test_failf(__FILE__, __LINE__, "%s: decode rc %d",
				      path, rc);
		}
		if (checked && rc != BL_OK)
			bl_test_failf(__FILE__, __LINE__,
				      "%s: passes check, decode rc %d: %s",
				      path, rc, bl_image_errmsg(walk.im));
	}
	return 0;
}

BL_TEST(image_shared_corpus)
{
	const char *dir = bl_test_data("jpeg");
	char manifest[8192];
	struct stat st;

	if (!dir)
		return;
	if (stat(dir, &st) != 0) {
		bl_test_skip("jpeg/ is absent from the shared data");
		return;
	}
	snprintf(manifest, sizeof manifest, "%s/MANIFEST.source.csv", dir);
	memset(&walk, 0, sizeof walk);
	REQUIRE(load_manifest(manifest) == 0);
	walk.im = bl_image_new(NULL);
	bl_buf_init(&walk.data, (size_t)64 << 20);
	REQUIRE(walk.im);
	CHECK_EQ_INT(nftw(dir, visit, 16, FTW_PHYS), 0);
	fprintf(stderr,
		"    %d files: probe ok %d, check ok %d, decode ok %d (+%d "
		"with warnings); %d/%d compared with the manifest match\n",
		walk.files, walk.probe_ok, walk.check_ok, walk.decode_ok,
		walk.decode_warn, walk.matched, walk.compared);
	CHECK(walk.files > 600);
	CHECK(walk.compared > 250);
	CHECK_EQ_INT(walk.matched, walk.compared);
	CHECK_EQ_INT(walk.no_reason, 0);
	CHECK(walk.png6);
	bl_image_free(walk.im);
	bl_buf_release(&walk.data);
	free(walk.rows);
}
