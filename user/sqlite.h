/* SPDX-License-Identifier: MIT */
/* SQLite executions of the target (bpf/sqlite.bpf.c). */
#ifndef AET_SQLITE_H
#define AET_SQLITE_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "target.h"

#define SQLITE_LIBRARY "libsqlite3.so"

struct sqlite;

/* Finds libsqlite3 in the maps of target t and attaches to that process.
 * Returns NULL with *errp = -ENOENT when the target has not loaded it (the
 * caller warns and goes on), or NULL with another -errno; err says why. */
struct sqlite *sqlite__new(const struct config *cfg, const struct target *t, int *errp, char *err,
			   size_t len);
void sqlite__free(struct sqlite *s);

int sqlite__count(const struct sqlite *s); /* uprobes and uretprobes */
int sqlite__attached(const struct sqlite *s);

int sqlite__write_metrics(struct sqlite *s, struct buf *out);
/* Appends the JSON member "sqlite" (no braces around it); s may be NULL,
 * why then says what kept it from attaching. */
void sqlite__write_status(struct sqlite *s, const char *why, struct buf *out);

#endif /* AET_SQLITE_H */
