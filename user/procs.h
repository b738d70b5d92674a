/* SPDX-License-Identifier: MIT */
/*
 * The programs that follow processes (bpf/procs.bpf.c), setting and
 * clearing bit tgid of the shared targets map (spans__follow()). The target and the children it
 * forks, until they exit; in follow mode (--comm, --exe) every process that execs the AET program
 * or takes its name.
 */
#ifndef AET_PROCS_H
#define AET_PROCS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "spans.h"

struct procs;

/* Loads the programs (sharing the maps of sp, the targets map among them)
 * and attaches them unless cfg->start_disabled. Returns NULL with err
 * naming the cause (and *errp = -errno). */
struct procs *procs__new(const struct config *cfg, const struct spans *sp, int *errp, char *err,
			 size_t len);
void procs__free(struct procs *p); /* NULL-safe; detaches */

int procs__attach(struct procs *p, char *err, size_t len);
void procs__detach(struct procs *p);
int procs__count(const struct procs *p); /* programs; 0 for NULL */
/* Whether they are on raw tracepoints: the BTF ones (tp_btf) did not load. */
bool procs__raw(const struct procs *p);
int procs__attached(const struct procs *p);

/* Follow mode: calls found() with each process the exec and rename
 * programs matched (and followed) since the last call. Returns how many
 * did not fit in their ring since: the caller then scans /proc. */
long procs__matched(struct procs *p, void (*found)(int pid, void *ctx), void *ctx);

/* How followed process pid ended, as a wait status, once its last thread
 * has exited (taken: asked once). Returns 0, or -ENOENT when not seen. */
int procs__exit_status(struct procs *p, int pid, int *status);

/* Appends the JSON member "processes" (no braces around it). */
void procs__write_status(struct procs *p, struct buf *out);

#endif /* AET_PROCS_H */
