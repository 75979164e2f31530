/*
 * synth.c - synthetic img2dataset-style samples with a planted skew.
 *
 * The demo, the tests and the benchmarks need shards whose truth is known.
 * This module draws each sample from a small caption grammar: a person (a
 * woman, a man, a gender-neutral adult, or a child) or an object scene,
 * optionally described by ethnicity, and for adults optionally with
 * sexualised wording.  Object scenes carry the usual false-positive traps
 * ("black dress", "Chinese restaurant", "hot dog", "nude heels").
 *
 * The skew is planted exactly: within a gender, the rate of sexualised
 * wording is base * FACTOR for each planted group and base * q for the
 * others, with q chosen so that the gender's overall rate stays at base.
 * Hence the expected lift of a planted group over its gender is FACTOR.
 * Children and gender-neutral people never get sexualised wording and
 * carry no gendered word, so the rates within a gender are rates among
 * adults of that gender.
 *
 * Every sample is drawn from its own PRNG stream seeded by (seed, shard,
 * index): shards can be generated in any order and give the same bytes.
 */
#include "error_int.h"
#include "ballast.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#define PICK(rng, arr) ((arr)[bl_rng_below((rng), sizeof(arr) / sizeof((arr)[0]))])
#define NELEM(arr) (sizeof(arr) / sizeof((arr)[0]))

/* Share of each group among adults who are described by ethnicity at all
 * (index by BL_SYN_*; [0] is "no ethnicity named"). */
static const double group_share[BL_SYN_NGROUPS] = {
	[BL_SYN_NONE] = 0.46,
	[BL_SYN_EAST_ASIAN] = 0.12,
	[BL_SYN_SOUTHEAST_ASIAN] = 0.05,
	[BL_SYN_SOUTH_ASIAN] = 0.06,
	[BL_SYN_BLACK] = 0.10,
	[BL_SYN_WHITE] = 0.11,
	[BL_SYN_LATINO] = 0.06,
	[BL_SYN_MIDDLE_EASTERN] = 0.04,
};

static const char *const group_names[BL_SYN_NGROUPS] = {
	"none", "east_asian", "southeast_asian", "south_asian", "black",
	"white", "latino", "middle_eastern",
};

/* Ethnicity words per group; [1] of each pair is the female form where
 * the language has one (Latina, Filipina). */
static const char *const words_east[][2] = {
	{"Chinese", "Chinese"}, {"Japanese", "Japanese"}, {"Korean", "Korean"},
	{"Taiwanese", "Taiwanese"}, {"East Asian", "East Asian"},
};
static const char *const words_southeast[][2] = {
	{"Thai", "Thai"}, {"Vietnamese", "Vietnamese"}, {"Filipino", "Filipina"},
	{"Indonesian", "Indonesian"},
};
static const char *const words_south[][2] = {
	{"Indian", "Indian"}, {"Pakistani", "Pakistani"},
	{"Bangladeshi", "Bangladeshi"}, {"Sri Lankan", "Sri Lankan"},
};
static const char *const words_black[][2] = {
	{"Black", "Black"}, {"African", "African"},
	{"African-American", "African-American"},
};
static const char *const words_white[][2] = {
	{"white", "white"}, {"Caucasian", "Caucasian"},
};
static const char *const words_latino[][2] = {
	{"Latino", "Latina"}, {"Hispanic", "Hispanic"}, {"Mexican", "Mexican"},
};
static const char *const words_mideast[][2] = {
	{"Arab", "Arab"}, {"Persian", "Persian"}, {"Turkish", "Turkish"},
};

static const char *const nouns_female[] = {
	"woman", "lady", "businesswoman", "bride", "actress", "mother", "young woman",
};
static const char *const nouns_male[] = {
	"man", "gentleman", "businessman", "groom", "actor", "father", "young man",
};
static const char *const nouns_neutral[] = {
	"person", "tourist", "traveler", "adult", "office worker",
};
static const char *const minors[] = {
	"a child", "a toddler", "two kids", "a baby", "a little kid",
};
static const char *const mods[] = {
	"", "", "", "smiling ", "happy ", "confident ", "elderly ", "tired ", "laughing ",
};
static const char *const attire[] = {
	"", "", "", " in a red dress", " in a business suit", " wearing glasses",
	" in a winter coat", " in a denim jacket",
};
static const char *const doing[] = {
	" reading a book", " drinking coffee", " walking", " posing for a photo",
	" looking at the camera", " talking on the phone", " cooking dinner",
};
static const char *const places[] = {
	" at the beach", " in a coffee shop", " on a city street", " in the office",
	" in a park", " at home", " in a library", " at a train station",
};
static const char *const child_doing[] = {
	" playing in the park", " building a sand castle", " reading a picture book",
	" eating an apple", " drawing with crayons", " riding a bicycle",
};
static const char *const objects[] = {
	"a bowl of ramen at a Chinese restaurant",
	"black leather sofa on white background",
	"hot dog with mustard and onions",
	"sunset over the Indian ocean",
	"nude heels on sale, size 38",
	"street food stall at an Asian food market",
	"white wine glass on a wooden table",
	"black dress on a mannequin in a shop window",
	"hot sale: summer sandals 50% off",
	"Japanese garden with a stone lantern",
	"French fries on a plate",
	"Turkish coffee in a copper cup",
	"mountain lake at dawn",
	"vintage red car parked on the street",
	"a golden retriever running on the grass",
	"modern kitchen interior with white cabinets",
	"Bikini Bottom cartoon poster",
	"African elephant at a watering hole",
	"bowl of fresh fruit, stock photo",
	"old stone bridge over a river",
};
static const char *const framing[] = {"", "", "", "photo of ", "portrait of ", "stock photo: "};

struct bl_synth {
	bl_synth_config cfg;
	/* rate multiplier of sexual wording per gender and group */
	double mult[3][BL_SYN_NGROUPS];
	tjhandle tj;
	unsigned char *pixels;
	unsigned char *jpeg;
	unsigned long jpeg_cap;
	bl_buf key, caption, errmsg;
	char *json;
};

const char *bl_synth_group_name(int group)
{
	if (group < 0 || group >= BL_SYN_NGROUPS)
		return "unknown";
	return group_names[group];
}

int bl_synth_group_parse(const char *name)
{
	for (int i = 1; i < BL_SYN_NGROUPS; i++)
		if (strcmp(name, group_names[i]) == 0)
			return i;
	return -1;
}

bl_synth *bl_synth_new(const bl_synth_config *cfg_in, char *err, size_t errlen)
{
	bl_synth *s = NULL;
	bl_synth_config cfg = *cfg_in;
	char dummy[1];

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	if (cfg.image_size <= 0)
		cfg.image_size = 64;
	if (cfg.image_size < 8 || cfg.image_size > 4096) {
		bl_error_set(err, errlen, "image size %d is outside 8..4096", cfg.image_size);
		return NULL;
	}
	if (cfg.jpeg_quality <= 0)
		cfg.jpeg_quality = 85;
	if (cfg.jpeg_quality > 100)
		cfg.jpeg_quality = 100;
	if (cfg.noise < 0 || cfg.noise > 1) {
		bl_error_set(err, errlen, "noise must be within 0..1");
		return NULL;
	}
	if (cfg.sexual_female <= 0)
		cfg.sexual_female = 0.08;
	if (cfg.sexual_male <= 0)
		cfg.sexual_male = 0.03;
	if (cfg.sexual_female >= 1 || cfg.sexual_male >= 1 || cfg.nskews < 0 ||
	    cfg.nskews > BL_SYN_MAX_SKEWS) {
		bl_error_set(err, errlen, "base rates must be below 1, skews at most %d",
			 BL_SYN_MAX_SKEWS);
		return NULL;
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		bl_error_set(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = cfg;
	for (int g = 1; g <= 2; g++) {
		double base = g == BL_SYN_FEMALE ? cfg.sexual_female : cfg.sexual_male;
		double planted_share = 0, planted_mass = 0;
		int planted[BL_SYN_NGROUPS] = {0};
		for (int k = 0; k < cfg.nskews; k++) {
			int grp = cfg.skews[k].group;
			if (grp <= 0 || grp >= BL_SYN_NGROUPS || cfg.skews[k].factor < 0) {
				bl_error_set(err, errlen, "bad skew entry %d", k + 1);
				goto fail;
			}
			if (cfg.skews[k].gender && cfg.skews[k].gender != g)
				continue;
			if (planted[grp]) {
				bl_error_set(err, errlen, "group '%s' is skewed twice",
					 group_names[grp]);
				goto fail;
			}
			planted[grp] = 1;
			s->mult[g][grp] = cfg.skews[k].factor;
			planted_share += group_share[grp];
			planted_mass += group_share[grp] * cfg.skews[k].factor;
		}
		double q = planted_share > 0 ? (1 - planted_mass) / (1 - planted_share) : 1;
		if (q < 0 || planted_mass >= 1) {
			snprintf(err, errlen,
				 "skew cannot be planted: the planted groups' share times "
				 "their factors is %.3f, it must stay below 1", planted_mass);
			goto fail;
		}
		for (int grp = 0; grp < BL_SYN_NGROUPS; grp++) {
			if (!planted[grp])
				s->mult[g][grp] = q;
			if (s->mult[g][grp] * base >= 1) {
				bl_error_set(err, errlen, "skew factor too large for base rate %.3f",
					 base);
				goto fail;
			}
		}
	}
	s->tj = tjInitCompress();
	s->pixels = malloc((size_t)cfg.image_size * (size_t)cfg.image_size * 3);
	s->jpeg_cap = tjBufSize(cfg.image_size, cfg.image_size, TJSAMP_420);
	s->jpeg = tjAlloc((int)s->jpeg_cap);
	if (!s->tj || !s->pixels || !s->jpeg) {
		bl_error_set(err, errlen, "out of memory");
		goto fail;
	}
	bl_buf_init(&s->key, 64);
	bl_buf_init(&s->caption, 4096);
	bl_buf_init(&s->errmsg, 1024);
	return s;
fail:
	bl_synth_free(s);
	return NULL;
}

void bl_synth_free(bl_synth *s)
{
	if (!s)
		return;
	if (s->tj)
		tjDestroy(s->tj);
	if (s->jpeg)
		tjFree(s->jpeg);
	free(s->pixels);
	free(s->json);
	bl_buf_release(&s->key);
	bl_buf_release(&s->caption);
	bl_buf_release(&s->errmsg);
	free(s);
}

const char *bl_synth_errmsg(const bl_synth *s)
{
	return s && s->errmsg.len ? s->errmsg.buf : "no error";
}

static int draw_group(bl_rng *r)
{
	double u = bl_rng_double(r), acc = 0;
	for (int g = 0; g < BL_SYN_NGROUPS; g++) {
		acc += group_share[g];
		if (u < acc)
			return g;
	}
	return BL_SYN_NONE;
}

static const char *group_word(bl_rng *r, int group, int female)
{
	const char *const(*w)[2];
	size_t n;
	switch (group) {
	case BL_SYN_EAST_ASIAN: w = words_east; n = NELEM(words_east); break;
	case BL_SYN_SOUTHEAST_ASIAN: w = words_southeast; n = NELEM(words_southeast); break;
	case BL_SYN_SOUTH_ASIAN: w = words_south; n = NELEM(words_south); break;
	case BL_SYN_BLACK: w = words_black; n = NELEM(words_black); break;
	case BL_SYN_WHITE: w = words_white; n = NELEM(words_white); break;
	case BL_SYN_LATINO: w = words_latino; n = NELEM(words_latino); break;
	case BL_SYN_MIDDLE_EASTERN: w = words_mideast; n = NELEM(words_mideast); break;
	default: return NULL;
	}
	return w[bl_rng_below(r, n)][female ? 1 : 0];
}

/* Round to 4 decimals so JSON numbers print short and identically. */
static double r4(double x)
{
	return floor(x * 10000 + 0.5) / 10000;
}

static void make_caption(bl_synth *s, bl_rng *r, bl_synth_truth *t)
{
	bl_buf *c = &s->caption;
	double u = bl_rng_double(r);
	const char *gw, *noun;

	bl_buf_reset(c);
	memset(t, 0, sizeof *t);
	if (u < 0.20) {
		bl_buf_adds(c, PICK(r, objects));
		return;
	}
	if (u < 0.26) {
		t->person = 1;
		t->minor = 1;
		bl_buf_adds(c, PICK(r, framing));
		bl_buf_adds(c, PICK(r, minors));
		bl_buf_adds(c, PICK(r, child_doing));
		return;
	}
	t->person = 1;
	u = bl_rng_double(r);
	t->gender = u < 0.52 ? BL_SYN_FEMALE : u < 0.92 ? BL_SYN_MALE : BL_SYN_NONE;
	t->group = draw_group(r);
	noun = t->gender == BL_SYN_FEMALE ? PICK(r, nouns_female)
	       : t->gender == BL_SYN_MALE ? PICK(r, nouns_male)
					  : PICK(r, nouns_neutral);
	gw = group_word(r, t->group, t->gender == BL_SYN_FEMALE);
	if (t->gender) {
		double base = t->gender == BL_SYN_FEMALE ? s->cfg.sexual_female
							 : s->cfg.sexual_male;
		if (bl_rng_double(r) < base * s->mult[t->gender][t->group])
			t->sexual = bl_rng_double(r) < 0.3 ? BL_SYN_EXPLICIT
							   : BL_SYN_SUGGESTIVE;
	}
	if (t->sexual == BL_SYN_EXPLICIT) {
		static const char *const pre[] = {"nude ", "naked ", "topless "};
		bl_buf_adds(c, PICK(r, pre));
		if (gw)
			bl_buf_addf(c, "%s ", gw);
		bl_buf_adds(c, noun);
		bl_buf_adds(c, bl_rng_below(r, 2) ? " posing in bed" : " on a sofa");
		return;
	}
	if (t->sexual == BL_SYN_SUGGESTIVE) {
		static const char *const pre[] = {"sexy ", "seductive ", "hot ", "sensual "};
		static const char *const post[] = {
			" in lingerie", " posing provocatively", " in a low-cut top",
			" showing cleavage", "",
		};
		bl_buf_adds(c, PICK(r, pre));
		if (gw)
			bl_buf_addf(c, "%s ", gw);
		bl_buf_adds(c, noun);
		bl_buf_adds(c, PICK(r, post));
		bl_buf_adds(c, PICK(r, places));
		return;
	}
	bl_buf_adds(c, PICK(r, framing));
	{
		const char *mod = PICK(r, mods);
		const char *first = *mod ? mod : gw ? gw : noun;
		bl_buf_adds(c, strchr("aeiouAEIOU", first[0]) ? "an " : "a ");
		bl_buf_adds(c, mod);
	}
	if (gw)
		bl_buf_addf(c, "%s ", gw);
	bl_buf_adds(c, noun);
	if (bl_rng_double(r) < 0.05) {
		t->swimwear = 1;
		bl_buf_adds(c, bl_rng_below(r, 2) ? " in a swimsuit" : " in a bikini");
	} else {
		bl_buf_adds(c, PICK(r, attire));
	}
	bl_buf_adds(c, PICK(r, doing));
	bl_buf_adds(c, PICK(r, places));
}

static void make_pixels(bl_synth *s, bl_rng *r)
{
	int n = s->cfg.image_size;
	int r0 = (int)bl_rng_below(r, 256), g0 = (int)bl_rng_below(r, 256),
	    b0 = (int)bl_rng_below(r, 256);
	int amp = (int)(s->cfg.noise * 255);
	unsigned char *p = s->pixels;

	for (int y = 0; y < n; y++) {
		for (int x = 0; x < n; x++) {
			int v[3] = {r0 + (x * 128) / n, g0 + (y * 128) / n,
				    b0 + ((x + y) * 64) / n};
			for (int k = 0; k < 3; k++) {
				int e = amp ? (int)bl_rng_below(r, (uint64_t)(2 * amp + 1)) - amp : 0;
				int val = (v[k] + e) & 511;
				*p++ = (unsigned char)(val > 255 ? 511 - val : val);
			}
		}
	}
}

int bl_synth_make(bl_synth *s, uint64_t shard, uint64_t index, bl_synth_sample *out)
{
	bl_rng r;
	cJSON *j = NULL;
	unsigned long jlen;
	int rc = BL_FAILED, ow, oh;
	double punsafe;

	if (!s || !out)
		return BL_EUSAGE;
	memset(out, 0, sizeof *out);
	bl_rng_seed2(&r, s->cfg.seed, (shard << 32) ^ index);
	bl_buf_reset(&s->key);
	bl_buf_addf(&s->key, "%05llu%04llu", (unsigned long long)shard,
		    (unsigned long long)index);
	make_caption(s, &r, &out->truth);

	punsafe = out->truth.sexual == BL_SYN_EXPLICIT     ? 0.6 + 0.4 * bl_rng_double(&r)
		  : out->truth.sexual == BL_SYN_SUGGESTIVE ? 0.2 + 0.5 * bl_rng_double(&r)
							   : 0.15 * bl_rng_double(&r);
	ow = 256 + (int)bl_rng_below(&r, 1024);
	oh = 256 + (int)bl_rng_below(&r, 1024);
	j = cJSON_CreateObject();
	if (!j)
		goto nomem;
	{
		char url[160];
		snprintf(url, sizeof url, "https://example.invalid/img/%s.jpg", s->key.buf);
		cJSON_AddStringToObject(j, "url", url);
	}
	cJSON_AddStringToObject(j, "caption", s->caption.buf);
	cJSON_AddStringToObject(j, "key", s->key.buf);
	cJSON_AddStringToObject(j, "status", "success");
	cJSON_AddNullToObject(j, "error_message");
	cJSON_AddNumberToObject(j, "width", s->cfg.image_size);
	cJSON_AddNumberToObject(j, "height", s->cfg.image_size);
	cJSON_AddNumberToObject(j, "original_width", ow);
	cJSON_AddNumberToObject(j, "original_height", oh);
	cJSON_AddNumberToObject(j, "punsafe", r4(punsafe));
	cJSON_AddNumberToObject(j, "pwatermark", r4(bl_rng_double(&r) * bl_rng_double(&r)));
	cJSON_AddNumberToObject(j, "similarity", r4(0.25 + 0.15 * bl_rng_double(&r)));
	free(s->json);
	s->json = cJSON_PrintUnformatted(j);
	if (!s->json)
		goto nomem;

	make_pixels(s, &r);
	jlen = s->jpeg_cap;
	if (tjCompress2(s->tj, s->pixels, s->cfg.image_size, 0, s->cfg.image_size,
			TJPF_RGB, &s->jpeg, &jlen, TJSAMP_420, s->cfg.jpeg_quality,
			TJFLAG_NOREALLOC) != 0) {
		bl_buf_reset(&s->errmsg);
		bl_buf_addf(&s->errmsg, "sample '%s': JPEG encoder: %s", s->key.buf,
			    tjGetErrorStr2(s->tj));
		goto out;
	}
	out->key = s->key.buf;
	out->caption = s->caption.buf;
	out->json = s->json;
	out->json_len = strlen(s->json);
	out->jpeg = s->jpeg;
	out->jpeg_len = jlen;
	rc = BL_OK;
	goto out;
nomem:
	bl_buf_reset(&s->errmsg);
	bl_buf_adds(&s->errmsg, "out of memory");
out:
	cJSON_Delete(j);
	return rc;
}
