/* SPDX-License-Identifier: MIT */
/*
 * SQLite operations of the target, from uprobes on the libsqlite3 it maps
 * (bpf/sqlite.bpf.c): aet_db_operations_total{operation,status} and
 * aet_db_operation_seconds{operation}; /status member "sqlite". Opening
 * finds libsqlite3 (a mapping whose file name starts with "libsqlite3.so")
 * in /proc/PID/maps of env->target and opens it through /proc/PID/root:
 * -ENOENT when the target has not loaded it (yet). Attached to that pid
 * only.
 */
#ifndef AET_SQLITE_H
#define AET_SQLITE_H

#include <stdbool.h>
#include <stddef.h>

#include "family.h"
#include "target.h"

#define SQLITE_LIBRARY "libsqlite3.so"

extern const struct family_ops sqlite_family;

/* In follow mode it moves to each target adopted (its libsqlite3, its
 * pid); the counts go on. */

#endif /* AET_SQLITE_H */
