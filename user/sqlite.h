/* SPDX-License-Identifier: MIT */
/*
 * SQLite operations of the target, from uprobes on the libsqlite3 it maps
 * (bpf/sqlite.bpf.c): aet_db_operations_total{operation,status} and
 * aet_db_operation_seconds{operation}.
 */
#ifndef AET_SQLITE_H
#define AET_SQLITE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "spans.h"
#include "target.h"

#define SQLITE_LIBRARY "libsqlite3.so"

struct sqlite;

/* Finds libsqlite3 (a mapping whose file name starts with "libsqlite3.so")
 * in /proc/PID/maps of target t, opens it through /proc/PID/root, loads and
 * attaches the programs to that pid only. Returns NULL with *errp = -ENOENT
 * and err saying so when the target has not loaded libsqlite3 (the caller
 * warns and goes on), or NULL with another -errno and err naming the cause;
 * nothing stays attached then. */
struct sqlite *sqlite__new(const struct config *cfg, const struct target *t, const struct spans *sp,
			   int *errp, char *err, size_t len);
void sqlite__free(struct sqlite *s); /* NULL-safe; detaches */

/* The emergency switch, as files__attach(); NULL-safe. */
int sqlite__attach(struct sqlite *s, const struct target *t, char *err, size_t len);
void sqlite__detach(struct sqlite *s);
/* Follow mode: moves the probes to target t (its libsqlite3, its pid),
 * attached when attach_now. The counts go on. Returns 0 or -errno with err
 * (-ENOENT: t has not loaded libsqlite3). */
int sqlite__retarget(struct sqlite *s, const struct target *t, bool attach_now, char *err,
		     size_t len);

/* Probes (uprobes and uretprobes), and how many are attached; 0 for NULL. */
int sqlite__count(const struct sqlite *s);
int sqlite__attached(const struct sqlite *s);

/* Appends aet_db_operations_total and aet_db_operation_seconds. Returns 0
 * or -errno. */
int sqlite__write_metrics(struct sqlite *s, struct buf *out);

/* Appends the JSON member "sqlite" (no braces around it): the library, each
 * probe and whether it is attached, the statements followed. s may be NULL:
 * "library" is then null and "error" is why (what sqlite__new() said). */
void sqlite__write_status(struct sqlite *s, const char *why, struct buf *out);

#endif /* AET_SQLITE_H */
