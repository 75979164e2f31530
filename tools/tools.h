/*
 * tools.h - what the ballast subcommands share: the command table, exit
 * codes, and small helpers for messages and for loading rule sets.  Each
 * subcommand lives in its own tools/cmd_NAME.c and defines cmd_NAME() and
 * usage_NAME[]; tools/ballast.c dispatches.
 */
#ifndef BL_TOOLS_H
#define BL_TOOLS_H

#include "ballast.h"
#include <stdio.h>

/* Exit codes, as documented in the README. */
enum {
	EXIT_ALL_GOOD = 0,
	EXIT_ITEMS_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_FATAL = 3
};

#define TOOL_CMD(name)                                                    \
	extern const char usage_##name[];                                 \
	int cmd_##name(int argc, char **argv);

TOOL_CMD(ls)
TOOL_CMD(mkshards)
TOOL_CMD(train)
TOOL_CMD(write)
TOOL_CMD(export)
TOOL_CMD(tag)
TOOL_CMD(scan)
TOOL_CMD(merge)
TOOL_CMD(verify)
TOOL_CMD(eval)
TOOL_CMD(probe)
TOOL_CMD(report)
TOOL_CMD(rebalance)
TOOL_CMD(audit)
/* "ballast eval SHEET": scores a filled audit sheet (cmd_audit.c). */
int cmd_audit_eval(int argc, char **argv);

/* Name of the running subcommand, for messages ("ballast ls: ..."). */
extern const char *tool_cmd;

/* "ballast CMD: message" on stderr, escaped as tool_escape does (a key
 * with ESC or a newline in it cannot drive the terminal or forge a line). */
void tool_err(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));
/* Print the usage of the running command on stderr; returns EXIT_USAGE. */
int tool_usage_error(const char *usage, const char *fmt, ...)
	__attribute__((format(__printf__, 2, 3)));
/* Item errors that count as failures (exit 1): every kind but no_caption,
 * since image-only shards are legal. */
uint64_t tool_failed_items(const uint64_t errors[BL_ERR__COUNT]);
/* An item-error callback for the library: prints msg unless *(int *)quiet. */
void tool_item_error(void *quiet, const char *msg);
/* Write b to standard output (the library renders, the tool prints);
 * 0, or -1 after saying why on stderr. */
int tool_write_stdout(const bl_buf *b);
/* Flush and close stdout; returns rc, or EXIT_FATAL when that fails. */
int tool_finish(int rc);
/* 1 when stderr is a terminal (progress is shown only then). */
int tool_progress_wanted(void);

/*
 * Directory of the shipped filters: $BALLAST_FILTERS, else filters/ next
 * to the directory holding the binary (build/../filters), else "filters".
 */
const char *tool_filters_dir(void);
/*
 * Load the rule files named in paths (files or directories), or the
 * shipped filters when paths is empty, and compile them.  Prints the
 * error and returns NULL on failure.
 */
bl_ruleset *tool_load_rules(const bl_strlist *paths);

/* Expand shard specs (argv-style) into paths; prints errors; BL_OK or not. */
int tool_expand_specs(int n, char **specs, bl_strlist *out);

/*
 * Escaping for terminal and TSV sinks: append s[0..len) to out with
 * TAB, LF, CR as \t \n \r, other C0/C1 controls and DEL as \xHH or
 * \uHHHH, bytes that are not UTF-8 as \xHH, and the bidirectional
 * overrides and line separators as \uHHHH; with TOOL_ESC_TSV a backslash
 * becomes \\ too (so a TSV field can be unescaped exactly).  Printable
 * text, UTF-8 included, is unchanged.  Returns as bl_buf_add.
 */
enum { TOOL_ESC_TSV = 1 };
int tool_escape(bl_buf *out, const char *s, size_t len, unsigned flags);
/* s escaped (flags 0) in one of 8 static buffers used in turn, so a
 * printf may hold up to 8 of them.  Never NULL. */
const char *tool_esc(const char *s);

/* JSON text (cJSON's output) and a newline on stdout, with every byte
 * that is not UTF-8 as \udcXX (bl_utf8_json_escape): keys, paths and
 * extensions are bytes, the output is valid UTF-8.  BL_OK, or BL_ENOMEM
 * (text NULL, as cJSON gives when it ran out) and nothing printed. */
int tool_put_json(const char *text);

/* An on_progress callback for the library: "ballast CMD: PHASE N of M"
 * on one stderr line, only when stderr is a terminal. */
void tool_progress(void *arg, const char *phase, uint64_t done, uint64_t total);
/* A decimal uint64 (no sign, no junk, no overflow).  BL_OK / BL_FAILED. */
int tool_parse_u64(const char *s, uint64_t *out);
/* "full", "quick", "none", "auto" -> BL_CHECK_*, or -1. */
int tool_check_level(const char *name);
/* bl_verify_shards with messages (level: BL_CHECK_*):
 * BL_OK, or BL_FAILED after printing each problem (unless quiet) and why
 * the run refuses. */
int tool_check_shards(const char *manifest, const bl_sampler *s, int level, int quiet);
/*
 * A manifest whose plan failed its checks (bl_sampler_plan_failed), for
 * write, export and train: without allow, the refusal and what to do on
 * stderr, BL_FAILED; with allow (--allow-failed-plan), a WARNING line on
 * stderr and, when top is not NULL, at the top of top; BL_OK.  A plan
 * that did not fail: nothing, BL_OK.
 */
int tool_check_plan(const char *manifest, const bl_sampler *s, int allow, FILE *top);
/* write/export: one "skipped N REASON" line per reason, and the renames. */
void tool_print_skipped(const bl_export_totals *t);

#endif
