/*
 * file_int.h - the tree helpers of lib/file.c that only the library's
 * atomic writers use.  Not part of the public interface.
 */
#ifndef BL_FILE_INT_H
#define BL_FILE_INT_H

#include "ballast.h"

/* 1 when dir is an empty directory, 0 when not, BL_FAILED when it cannot
 * be read. */
int bl_file_dir_is_empty(const char *dir);
/* Remove a tree (symlinks inside are removed, never followed; other file
 * systems are not entered).  BL_OK / BL_FAILED (errno says why). */
int bl_file_remove_tree(const char *path);
/* Make everything written below dir durable: one syncfs, then an fsync
 * of each directory.  BL_OK / BL_FAILED (errno). */
int bl_file_sync_tree(const char *dir);

#endif
