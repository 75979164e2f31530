/*
 * image.c - bl_image: probe image headers and decode JPEGs, safely.
 *
 * Images in a shard are untrusted bytes.  This module tells what they are
 * (format from the magic bytes, never the name; size; for JPEG the SOF type,
 * precision, components, sampling and colour space) and decodes JPEGs with
 * TurboJPEG, never letting a hostile file decide how much memory or time
 * is spent.
 *
 * It assumes libjpeg-turbo 2.1 (Debian 12), whose TurboJPEG 2.x API has no
 * pixel limit (no TJPARAM_MAXPIXELS) and cannot decode 12/16-bit or
 * lossless JPEGs.  So every JPEG is first walked by a small marker parser of
 * our own (jpeg_walk): it is linear in the input, allocates nothing, and
 * gives the dimensions and the number of scans BEFORE libjpeg sees the data.
 * The pixel, byte and scan limits are enforced on that, and files libjpeg
 * cannot decode are refused with a reason while their size is still
 * reported.  Only then does TurboJPEG read the header (a second opinion)
 * and, in check/decode, the pixels, with TJFLAG_LIMITSCANS as a second
 * guard against progressive "scan bombs".
 *
 * PNG, GIF and WebP are recognised and their size read from the header;
 * there is no decoder for them here.
 *
 * Every libjpeg error and warning is copied into the handle at once
 * (bl_image_errmsg); nothing is printed.  A handle is for one thread.
 * TurboJPEG 2.1 leaves a handle unusable after a failed header read, so
 * such a handle is replaced (tj_reset).
 *
 * Functions that can fail take one exit path (rc pessimistic, goto out);
 * pure lookups and the byte scanner return from where they find the answer.
 */
#include "error_int.h"
#include "ballast.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#define BL_IMG_DEFAULT_PIXELS ((uint64_t)64 << 20)
#define BL_IMG_DEFAULT_BYTES ((size_t)64 << 20)
#define BL_IMG_DEFAULT_SCANS 500

struct bl_image {
	bl_image_limits lim; /* with defaults filled in */
	tjhandle tj;
	unsigned char *pix;  /* decode buffer, reused across calls */
	size_t pix_alloc;
	char err[256];
};

/* What our marker walk learns about a JPEG. */
struct jpeg_hdr {
	int sof;         /* n of SOFn, -1 if none seen */
	int precision;
	int width, height;
	int ncomp;
	int hs[4], vs[4];  /* sampling factors of the first 4 components */
	int ids[4];        /* component ids */
	int scans;         /* SOS markers seen */
	int jfif;          /* APP0 JFIF seen */
	int adobe;         /* APP14 Adobe seen */
	int transform;     /* its colour transform byte */
	int eoi;           /* EOI reached */
};

bl_image *bl_image_new(const bl_image_limits *lim)
{
	bl_image *im = calloc(1, sizeof *im);

	if (!im)
		goto out;
	if (lim)
		im->lim = *lim;
	if (im->lim.max_pixels == 0)
		im->lim.max_pixels = BL_IMG_DEFAULT_PIXELS;
	if (im->lim.max_bytes == 0)
		im->lim.max_bytes = BL_IMG_DEFAULT_BYTES;
	if (im->lim.max_scans <= 0)
		im->lim.max_scans = BL_IMG_DEFAULT_SCANS;
	/* TurboJPEG takes the size as unsigned long; keep within it. */
	if (im->lim.max_bytes > (size_t)ULONG_MAX)
		im->lim.max_bytes = (size_t)ULONG_MAX;
	im->tj = tjInitDecompress();
	if (!im->tj) {
		free(im);
		im = NULL;
	}
out:
	return im;
}

void bl_image_free(bl_image *im)
{
	if (!im)
		return;
	if (im->tj)
		tjDestroy(im->tj);
	free(im->pix);
	free(im);
}

const char *bl_image_errmsg(const bl_image *im)
{
	if (!im)
		return "no image handle";
	return im->err;
}

const char *bl_image_format_name(int format)
{
	switch (format) {
	case BL_IMG_JPEG: return "jpeg";
	case BL_IMG_PNG: return "png";
	case BL_IMG_WEBP: return "webp";
	case BL_IMG_GIF: return "gif";
	default: return "unknown";
	}
}

const char *bl_image_subsamp_name(int subsamp)
{
	switch (subsamp) {
	case TJSAMP_444: return "4:4:4";
	case TJSAMP_422: return "4:2:2";
	case TJSAMP_420: return "4:2:0";
	case TJSAMP_GRAY: return "gray";
	case TJSAMP_440: return "4:4:0";
	case TJSAMP_411: return "4:1:1";
	default: return "other";
	}
}

static unsigned be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static unsigned le16(const unsigned char *p)
{
	return p[0] | (unsigned)p[1] << 8;
}

static uint32_t le24(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static uint32_t le32(const unsigned char *p)
{
	return le24(p) | (uint32_t)p[3] << 24;
}

static void info_clear(bl_image_info *info)
{
	memset(info, 0, sizeof *info);
	info->subsamp = -1;
	info->colorspace = -1;
	info->sof = -1;
}

/*
 * The refusals a header can earn before any decode: too many pixels or too
 * many scans.  Zero dimensions are corruption, not a limit.
 */
static int check_limits(bl_image *im, bl_image_info *info)
{
	uint64_t px = (uint64_t)info->width * (uint64_t)info->height;
	int rc = BL_FAILED;

	if (info->width <= 0 || info->height <= 0) {
		bl_error_set(im->err, sizeof im->err, "invalid dimensions %dx%d", info->width,
			info->height);
		info->corrupt = 1;
		goto out;
	}
	if (px > im->lim.max_pixels) {
		bl_error_set(im->err, sizeof im->err, "%dx%d exceeds the %llu-pixel limit", info->width,
			info->height, (unsigned long long)im->lim.max_pixels);
		info->refused = 1;
		goto out;
	}
	if (info->scans > im->lim.max_scans) {
		bl_error_set(im->err, sizeof im->err, "%d scans exceed the %d-scan limit", info->scans,
			im->lim.max_scans);
		info->refused = 1;
		goto out;
	}
	rc = BL_OK;
out:
	return rc;
}

/* ---- non-JPEG headers ------------------------------------------------ */

static int probe_png(bl_image *im, const unsigned char *d, size_t len,
		     bl_image_info *info)
{
	static const int comps[7] = {1, 0, 3, 3, 2, 0, 4};
	uint32_t w, h;
	int rc = BL_FAILED;

	/* signature, IHDR length, "IHDR", 13 bytes of IHDR data */
	if (len < 8 + 8 + 13 || memcmp(d + 12, "IHDR", 4) != 0) {
		bl_error_set(im->err, sizeof im->err, "PNG: truncated or missing IHDR");
		info->corrupt = 1;
		goto out;
	}
	w = be32(d + 16);
	h = be32(d + 20);
	if (w > INT_MAX || h > INT_MAX) {
		bl_error_set(im->err, sizeof im->err, "PNG: invalid dimensions %lux%lu", (unsigned long)w,
			(unsigned long)h);
		info->corrupt = 1;
		goto out;
	}
	info->width = (int)w;
	info->height = (int)h;
	info->precision = d[24];
	info->components = d[25] < 7 ? comps[d[25]] : 0;
	rc = check_limits(im, info);
out:
	return rc;
}

static int probe_gif(bl_image *im, const unsigned char *d, size_t len,
		     bl_image_info *info)
{
	int rc = BL_FAILED;

	if (len < 10) {
		bl_error_set(im->err, sizeof im->err, "GIF: truncated header");
		info->corrupt = 1;
		goto out;
	}
	info->width = (int)le16(d + 6);
	info->height = (int)le16(d + 8);
	info->components = 3; /* palette entries are RGB */
	info->precision = 8;
	rc = check_limits(im, info);
out:
	return rc;
}

static int probe_webp(bl_image *im, const unsigned char *d, size_t len,
		      bl_image_info *info)
{
	int rc;

	/* RIFF header (12) + chunk header (8) + what each chunk needs */
	if (len >= 30 && memcmp(d + 12, "VP8 ", 4) == 0 &&
	    d[23] == 0x9d && d[24] == 0x01 && d[25] == 0x2a) {
		info->width = (int)(le16(d + 26) & 0x3fff);
		info->height = (int)(le16(d + 28) & 0x3fff);
		info->components = 3;
	} else if (len >= 25 && memcmp(d + 12, "VP8L", 4) == 0 &&
		   d[20] == 0x2f) {
		uint32_t b = le32(d + 21);
		info->width = (int)(b & 0x3fff) + 1;
		info->height = (int)((b >> 14) & 0x3fff) + 1;
		info->components = (b >> 28) & 1 ? 4 : 3;
	} else if (len >= 30 && memcmp(d + 12, "VP8X", 4) == 0) {
		info->width = (int)le24(d + 24) + 1;
		info->height = (int)le24(d + 27) + 1;
		info->components = d[20] & 0x10 ? 4 : 3;
	} else {
		bl_error_set(im->err, sizeof im->err, "WebP: truncated or unknown first chunk");
		info->corrupt = 1;
		rc = BL_FAILED;
		goto out;
	}
	info->precision = 8;
	rc = check_limits(im, info);
out:
	return rc;
}

/* ---- the JPEG marker walk ------------------------------------------- */

/*
 * Skip entropy-coded data starting at pos: return the offset of the next
 * marker (an 0xFF that is not a stuffed 0xFF00, a restart marker or fill),
 * or len.  memchr keeps this fast on large scans.
 */
static size_t skip_entropy(const unsigned char *d, size_t len, size_t pos)
{
	while (pos < len) {
		const unsigned char *p = memchr(d + pos, 0xFF, len - pos);
		size_t q;

		if (!p)
			return len;
		q = (size_t)(p - d) + 1;
		while (q < len && d[q] == 0xFF)
			q++;
		if (q >= len)
			return len;
		if (d[q] == 0x00 || (d[q] >= 0xD0 && d[q] <= 0xD7)) {
			pos = q + 1;
			continue;
		}
		return q - 1;
	}
	return len;
}

static int parse_sof(bl_image *im, struct jpeg_hdr *h, int m,
		     const unsigned char *s, size_t slen, size_t at)
{
	int nf, rc = BL_FAILED;

	if (h->sof >= 0) {
		bl_error_set(im->err, sizeof im->err, "two SOF markers (second at offset %zu)", at);
		goto out;
	}
	nf = slen >= 6 ? s[5] : 0;
	if (nf < 1 || slen < 6 + 3 * (size_t)nf) {
		bl_error_set(im->err, sizeof im->err, "SOF%d segment with %d components is %zu bytes "
			    "at offset %zu", m - 0xC0, nf, slen, at);
		goto out;
	}
	h->sof = m - 0xC0;
	h->precision = s[0];
	h->height = (int)be16(s + 1);
	h->width = (int)be16(s + 3);
	h->ncomp = nf;
	for (int i = 0; i < nf && i < 4; i++) {
		const unsigned char *c = s + 6 + 3 * i;
		h->ids[i] = c[0];
		h->hs[i] = c[1] >> 4;
		h->vs[i] = c[1] & 15;
		if (h->hs[i] < 1 || h->hs[i] > 4 || h->vs[i] < 1 ||
		    h->vs[i] > 4) {
			bl_error_set(im->err, sizeof im->err, "bogus sampling factors %dx%d in SOF%d",
				h->hs[i], h->vs[i], h->sof);
			goto out;
		}
	}
	rc = BL_OK;
out:
	return rc;
}

/*
 * Walk the markers from SOI to EOI (or the end of the data).  Fails on what
 * makes the header unreadable: no SOI, a segment cut short, a second SOF,
 * SOS before SOF, no SOF or no SOS at all.  Damage inside the entropy-coded
 * data is left to the decoder.  Every step advances, so it cannot loop.
 */
static int jpeg_walk(bl_image *im, const unsigned char *d, size_t len,
		     struct jpeg_hdr *h, int header_only)
{
	size_t pos = 2;
	int rc = BL_FAILED;

	memset(h, 0, sizeof *h);
	h->sof = -1;
	while (pos < len) {
		size_t at, seglen;
		int m;

		if (d[pos] != 0xFF) {
			/* libjpeg skips junk before a marker with a warning;
			 * so do we, else we would refuse what it decodes */
			const unsigned char *p =
				memchr(d + pos, 0xFF, len - pos);
			if (!p)
				break;
			pos = (size_t)(p - d);
		}
		while (pos < len && d[pos] == 0xFF)
			pos++;
		if (pos >= len)
			break;
		at = pos - 1;
		m = d[pos++];
		if (m == 0xD9) {
			h->eoi = 1;
			break;
		}
		if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7))
			continue; /* standalone: TEM, RSTn, stray 0xFF00 */
		if (m == 0xD8) {
			bl_error_set(im->err, sizeof im->err, "second SOI marker at offset %zu", at);
			goto out;
		}
		if (len - pos < 2) {
			bl_error_set(im->err, sizeof im->err, "truncated marker 0x%02X at offset %zu", m,
				at);
			goto out;
		}
		seglen = be16(d + pos);
		if (seglen < 2 || seglen > len - pos) {
			bl_error_set(im->err, sizeof im->err, "%s marker 0x%02X segment (%zu bytes) at "
				    "offset %zu",
				seglen < 2 ? "bogus" : "truncated", m, seglen,
				at);
			goto out;
		}
		if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 &&
		    m != 0xCC) {
			if (parse_sof(im, h, m, d + pos + 2, seglen - 2, at))
				goto out;
		} else if (m == 0xE0 && seglen >= 7 &&
			   memcmp(d + pos + 2, "JFIF", 5) == 0) {
			h->jfif = 1;
		} else if (m == 0xEE && seglen >= 14 &&
			   memcmp(d + pos + 2, "Adobe", 5) == 0) {
			h->adobe = 1;
			h->transform = d[pos + 13];
		} else if (m == 0xDA) {
			if (h->sof < 0) {
				bl_error_set(im->err, sizeof im->err, "SOS before SOF at offset %zu", at);
				goto out;
			}
			h->scans++;
			/* a header probe of a sequential frame is done at its
			 * first scan: only progressive frames can be scan
			 * bombs, and walking the entropy data is most of the
			 * cost of a probe */
			if (header_only && h->sof != 2 && h->sof != 6 &&
			    h->sof != 10 && h->sof != 14)
				break;
			pos = skip_entropy(d, len, pos + seglen);
			continue;
		}
		pos += seglen;
	}
	if (h->sof < 0) {
		bl_error_set(im->err, sizeof im->err, "no SOF marker");
		goto out;
	}
	if (h->scans == 0) {
		bl_error_set(im->err, sizeof im->err, "no SOS marker (no image data)");
		goto out;
	}
	rc = BL_OK;
out:
	return rc;
}

/* The TJSAMP_* of the frame, as TurboJPEG would name it; -1 if none fits. */
static int jpeg_subsamp(const struct jpeg_hdr *h)
{
	static const int hv[][3] = {
		{TJSAMP_444, 1, 1}, {TJSAMP_422, 2, 1}, {TJSAMP_420, 2, 2},
		{TJSAMP_440, 1, 2}, {TJSAMP_411, 4, 1},
	};

	/* with one component the factors do not change the pixels */
	if (h->ncomp == 1)
		return TJSAMP_GRAY;
	if (h->ncomp != 3 && h->ncomp != 4)
		return -1;
	for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++) {
		int ok = h->hs[0] == hv[i][1] && h->vs[0] == hv[i][2];
		for (int k = 1; k < h->ncomp && ok; k++) {
			/* the K of CMYK/YCCK is sampled like the first */
			int ref = k == 3;
			ok = h->hs[k] == (ref ? h->hs[0] : 1) &&
			     h->vs[k] == (ref ? h->vs[0] : 1);
		}
		if (ok)
			return hv[i][0];
	}
	/* all components sampled alike is 4:4:4 whatever the factors */
	for (int k = 1; k < h->ncomp; k++)
		if (h->hs[k] != h->hs[0] || h->vs[k] != h->vs[0])
			return -1;
	return TJSAMP_444;
}

/* The colour space libjpeg will assume (jdapimin.c default_decompress_parms). */
static int jpeg_colorspace(const struct jpeg_hdr *h)
{
	switch (h->ncomp) {
	case 1:
		return TJCS_GRAY;
	case 3:
		if (h->jfif)
			return TJCS_YCbCr;
		if (h->adobe)
			return h->transform == 0 ? TJCS_RGB : TJCS_YCbCr;
		if (h->ids[0] == 'R' && h->ids[1] == 'G' && h->ids[2] == 'B')
			return TJCS_RGB;
		return TJCS_YCbCr;
	case 4:
		return h->adobe && h->transform == 2 ? TJCS_YCCK : TJCS_CMYK;
	default:
		return -1;
	}
}

/*
 * A TurboJPEG 2.1 handle whose tjDecompressHeader3 failed is left mid-header
 * (no jpeg_abort on that path) and fails every later call with the same
 * message; tjDecompress2 cleans up after itself.  So after a header failure
 * the handle is replaced.  If that allocation fails, im->tj stays NULL and
 * tj_ready reports BL_ENOMEM at the next use.
 */
static void tj_reset(bl_image *im)
{
	if (im->tj)
		tjDestroy(im->tj);
	im->tj = tjInitDecompress();
}

static int tj_ready(bl_image *im)
{
	int rc = BL_OK;

	if (!im->tj)
		im->tj = tjInitDecompress();
	if (!im->tj) {
		bl_error_set(im->err, sizeof im->err, "out of memory for a TurboJPEG handle");
		rc = BL_ENOMEM;
	}
	return rc;
}

static int probe_jpeg(bl_image *im, const unsigned char *d, size_t len,
		      bl_image_info *info, int header_only)
{
	struct jpeg_hdr h;
	int w = 0, ht = 0, ss = -1, cs = -1;
	int s = 0, rc = BL_FAILED;

	if (jpeg_walk(im, d, len, &h, header_only) != BL_OK) {
		info->corrupt = 1;
		/* what was learnt before the damage is still reported */
		if (h.sof >= 0) {
			info->sof = h.sof;
			info->width = h.width;
			info->height = h.height;
			info->components = h.ncomp;
			info->precision = h.precision;
		}
		goto out;
	}
	s = h.sof;
	info->sof = s;
	info->width = h.width;
	info->height = h.height;
	info->components = h.ncomp;
	info->precision = h.precision;
	info->scans = h.scans;
	info->progressive = s == 2 || s == 6 || s == 10 || s == 14;
	info->arithmetic = s >= 9;
	info->lossless = s == 3 || s == 7 || s == 11 || s == 15;
	info->subsamp = jpeg_subsamp(&h);
	info->colorspace = jpeg_colorspace(&h);

	if (h.height == 0 && h.width > 0) {
		/* a DNL marker would give the height; libjpeg has none */
		bl_error_set(im->err, sizeof im->err, "height 0 in SOF%d (DNL): not supported", s);
		info->corrupt = 1;
		goto out;
	}
	if (check_limits(im, info) != BL_OK)
		goto out;
	if (info->lossless) {
		bl_error_set(im->err, sizeof im->err, "lossless JPEG (SOF%d, %d-bit): not supported by "
			    "libjpeg-turbo 2.1", s, h.precision);
		info->unsupported = 1;
		goto out;
	}
	if (s == 5 || s == 6 || s == 13 || s == 14) {
		bl_error_set(im->err, sizeof im->err, "hierarchical JPEG (SOF%d): not supported", s);
		info->unsupported = 1;
		goto out;
	}
	if (h.precision != 8) {
		if (h.precision == 12) {
			bl_error_set(im->err, sizeof im->err, "12-bit JPEG: not supported by "
				    "libjpeg-turbo 2.1");
			info->unsupported = 1;
		} else {
			bl_error_set(im->err, sizeof im->err, "invalid sample precision %d", h.precision);
			info->corrupt = 1;
		}
		goto out;
	}
	if (h.ncomp != 1 && h.ncomp != 3 && h.ncomp != 4) {
		bl_error_set(im->err, sizeof im->err, "%d components: not supported", h.ncomp);
		info->unsupported = 1;
		goto out;
	}
	/*
	 * libjpeg's own header parse as a second opinion (SOS contents,
	 * table ids ...).  TurboJPEG 2.1 also fails there on samplings it has
	 * no TJSAMP for (4:1:0, 2x2 gray); those still decode, so that one
	 * complaint is not a failure.  Nor is a warning ("extraneous bytes
	 * before marker"): the header was read; bl_image_check judges the
	 * data.
	 */
	if (tj_ready(im) != BL_OK) {
		rc = BL_ENOMEM;
		goto out;
	}
	if (tjDecompressHeader3(im->tj, d, (unsigned long)len, &w, &ht, &ss,
				&cs) != 0) {
		int fatal = tjGetErrorCode(im->tj) != TJERR_WARNING &&
			    !strstr(tjGetErrorStr2(im->tj), "subsampling type");
		if (fatal) {
			bl_error_set(im->err, sizeof im->err, "%s", tjGetErrorStr2(im->tj));
			info->corrupt = 1;
		}
		tj_reset(im);
		if (fatal)
			goto out;
	} else {
		info->subsamp = ss;
		info->colorspace = cs;
	}
	rc = BL_OK;
out:
	return rc;
}

/* The probe; header_only stops a sequential JPEG's walk at its first scan
 * (bl_image_probe), the decoders walk every scan first (scan bombs). */
static int probe_image(bl_image *im, const unsigned char *data, size_t len,
		       bl_image_info *info, int header_only)
{
	bl_image_info scratch;
	int rc = BL_FAILED;

	if (!info)
		info = &scratch;
	info_clear(info);
	if (!im) {
		rc = BL_EUSAGE;
		goto out;
	}
	im->err[0] = '\0';
	if (!data && len > 0) {
		bl_error_set(im->err, sizeof im->err, "NULL data");
		rc = BL_EUSAGE;
		goto out;
	}
	if (len == 0) {
		bl_error_set(im->err, sizeof im->err, "empty file");
		info->corrupt = 1;
		goto out;
	}
	if (len > im->lim.max_bytes) {
		bl_error_set(im->err, sizeof im->err, "%zu bytes exceed the %zu-byte limit", len,
			im->lim.max_bytes);
		info->refused = 1;
		goto out;
	}
	/* only SOI: libjpeg also skips junk after it (with a warning) */
	if (len >= 2 && data[0] == 0xFF && data[1] == 0xD8) {
		info->format = BL_IMG_JPEG;
		rc = probe_jpeg(im, data, len, info, header_only);
	} else if (len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) {
		info->format = BL_IMG_PNG;
		rc = probe_png(im, data, len, info);
	} else if (len >= 6 && (memcmp(data, "GIF87a", 6) == 0 ||
				memcmp(data, "GIF89a", 6) == 0)) {
		info->format = BL_IMG_GIF;
		rc = probe_gif(im, data, len, info);
	} else if (len >= 12 && memcmp(data, "RIFF", 4) == 0 &&
		   memcmp(data + 8, "WEBP", 4) == 0) {
		info->format = BL_IMG_WEBP;
		rc = probe_webp(im, data, len, info);
	} else {
		bl_error_set(im->err, sizeof im->err, len < 4 ? "too short to be an image (%zu bytes)"
				    : "unknown format (not JPEG, PNG, GIF or "
				      "WebP)", len);
		info->corrupt = 1;
	}
out:
	return rc;
}

int bl_image_probe(bl_image *im, const unsigned char *data, size_t len,
		   bl_image_info *info)
{
	return probe_image(im, data, len, info, 1);
}

/* ---- decoding -------------------------------------------------------- */

/* Make the decode buffer hold n bytes; on failure it is left as it was. */
static int pix_reserve(bl_image *im, size_t n)
{
	unsigned char *p;
	int rc = BL_OK;

	if (n <= im->pix_alloc)
		goto out;
	/* old contents are not needed: no realloc copy */
	p = malloc(n);
	if (!p) {
		bl_error_set(im->err, sizeof im->err, "out of memory for a %zu-byte image", n);
		rc = BL_ENOMEM;
		goto out;
	}
	free(im->pix);
	im->pix = p;
	im->pix_alloc = n;
out:
	return rc;
}

/*
 * Decode into im->pix at (sw x sh) in pixel format pf.  Returns BL_OK,
 * BL_WARN (libjpeg warned, pixels delivered, message kept) or BL_FAILED.
 */
static int tj_decode(bl_image *im, const unsigned char *d, size_t len,
		     int sw, int sh, int pf, int flags)
{
	size_t need = (size_t)sw * (size_t)sh * (size_t)tjPixelSize[pf];
	int rc = tj_ready(im);

	if (rc == BL_OK)
		rc = pix_reserve(im, need);
	if (rc != BL_OK)
		goto out;
	if (tjDecompress2(im->tj, d, (unsigned long)len, im->pix, sw, 0, sh,
			  pf, flags | TJFLAG_LIMITSCANS) != 0) {
		bl_error_set(im->err, sizeof im->err, "%s", tjGetErrorStr2(im->tj));
		rc = tjGetErrorCode(im->tj) == TJERR_WARNING ? BL_WARN
							     : BL_FAILED;
	}
out:
	return rc;
}

/*
 * CMYK to RGB in place (3 bytes out for 4 in, so the write never passes
 * the read).  Adobe files store the inks inverted (Photoshop convention,
 * as in Pillow and browsers); others store them plain.
 */
static void cmyk_to_rgb(unsigned char *p, size_t npix, int inverted)
{
	for (size_t i = 0; i < npix; i++) {
		unsigned c = p[4 * i], m = p[4 * i + 1], y = p[4 * i + 2],
			 k = p[4 * i + 3];
		if (!inverted) {
			c = 255 - c;
			m = 255 - m;
			y = 255 - y;
			k = 255 - k;
		}
		p[3 * i] = (unsigned char)((c * k + 127) / 255);
		p[3 * i + 1] = (unsigned char)((m * k + 127) / 255);
		p[3 * i + 2] = (unsigned char)((y * k + 127) / 255);
	}
}

/* Whether the JPEG carries an Adobe APP14 marker (needed for CMYK). */
static int jpeg_has_adobe(bl_image *im, const unsigned char *d, size_t len)
{
	struct jpeg_hdr h;
	char keep[sizeof im->err];
	int adobe;

	memcpy(keep, im->err, sizeof keep);
	adobe = jpeg_walk(im, d, len, &h, 1) == BL_OK && h.adobe;
	memcpy(im->err, keep, sizeof keep);
	return adobe;
}

/*
 * The smallest DCT scaling (<= 1) whose output has both sides >= the
 * wanted ones; full size when none is small enough or nothing is wanted.
 */
static void pick_scale(int w, int h, int min_w, int min_h, int *sw, int *sh)
{
	int n = 0;
	tjscalingfactor *sf = tjGetScalingFactors(&n);

	*sw = w;
	*sh = h;
	if (!sf || (min_w <= 0 && min_h <= 0))
		return;
	for (int i = 0; i < n; i++) {
		int x, y;
		if (sf[i].num > sf[i].denom)
			continue; /* no upscaling: it adds nothing */
		x = TJSCALED(w, sf[i]);
		y = TJSCALED(h, sf[i]);
		if (x >= min_w && y >= min_h && (uint64_t)x * (uint64_t)y <
						(uint64_t)*sw * (uint64_t)*sh) {
			*sw = x;
			*sh = y;
		}
	}
}

int bl_image_check(bl_image *im, const unsigned char *data, size_t len,
		   bl_image_info *info)
{
	static const tjscalingfactor eighth = {1, 8};
	bl_image_info scratch;
	int rc, pf;

	if (!info)
		info = &scratch;
	rc = probe_image(im, data, len, info, 0);
	if (rc != BL_OK || info->format != BL_IMG_JPEG)
		goto out;
	pf = info->components == 1 ? TJPF_GRAY
	     : info->components == 4 ? TJPF_CMYK : TJPF_RGB;
	/* 1/8 scaling turns the IDCT into a DC-only pass; every bit of the
	 * entropy-coded data is still decoded, which is where damage shows */
	rc = tj_decode(im, data, len, TJSCALED(info->width, eighth),
		       TJSCALED(info->height, eighth), pf,
		       TJFLAG_STOPONWARNING);
	if (rc == BL_WARN)
		rc = BL_FAILED;
	if (rc == BL_FAILED)
		info->corrupt = 1;
out:
	return rc;
}

int bl_image_decode_rgb(bl_image *im, const unsigned char *data, size_t len,
			int min_w, int min_h, const unsigned char **out,
			int *w, int *h)
{
	bl_image_info info;
	int rc = BL_EUSAGE, sw, sh, cmyk;

	if (out)
		*out = NULL;
	if (w)
		*w = 0;
	if (h)
		*h = 0;
	if (!im || !out || !w || !h)
		goto out;
	if (min_w < 0 || min_h < 0) {
		bl_error_set(im->err, sizeof im->err, "negative minimum size %dx%d", min_w, min_h);
		goto out;
	}
	rc = probe_image(im, data, len, &info, 0);
	if (rc != BL_OK)
		goto out;
	if (info.format != BL_IMG_JPEG) {
		bl_error_set(im->err, sizeof im->err, "%s: no decoder for this format (JPEG only)",
			bl_image_format_name(info.format));
		rc = BL_FAILED;
		goto out;
	}
	pick_scale(info.width, info.height, min_w, min_h, &sw, &sh);
	/* libjpeg-turbo 2.1 has no CMYK->RGB conversion: decode CMYK and
	 * convert here */
	cmyk = info.components == 4;
	rc = tj_decode(im, data, len, sw, sh, cmyk ? TJPF_CMYK : TJPF_RGB, 0);
	if (rc != BL_OK && rc != BL_WARN)
		goto out;
	if (cmyk)
		cmyk_to_rgb(im->pix, (size_t)sw * (size_t)sh,
			    jpeg_has_adobe(im, data, len));
	*out = im->pix;
	*w = sw;
	*h = sh;
out:
	return rc;
}
