/* SPDX-License-Identifier: MIT */
/*
 * The SQL verb of a statement (aet_db_operations_total{operation}). Pure: the
 * parser is the one bpf/sqlite.bpf.c runs (include/sqlite_maps.h), wrapped
 * here for user space and its unit tests.
 */
#ifndef AET_SQLVERB_H
#define AET_SQLVERB_H

#include <stddef.h>

/* The enum db_verb of the first statement of sql (len bytes, or up to its
 * NUL when shorter): what the programs find in its first SQL_HEAD bytes. */
int sqlverb_parse(const char *sql, size_t len);

/* "select", "insert", ..., "other"; NULL for a value out of range. */
const char *sqlverb_name(int verb);

#endif /* AET_SQLVERB_H */
