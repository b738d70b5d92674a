/* SPDX-License-Identifier: MIT */
/*
 * The programs that follow processes (bpf/procs.bpf.c), setting and
 * clearing bit tgid of the shared targets map (shared__follow()): the
 * target and the children it forks, until they exit; in follow mode
 * (--comm, --exe) every process that execs the AET program or takes its
 * name. Its /status member is "processes".
 */
#ifndef AET_PROCS_H
#define AET_PROCS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "family.h"

struct procs;

/* Opened with the targets map of the shared maps, which they set and
 * clear. */
extern const struct family_ops procs_family;

/* Whether they are on raw tracepoints: the BTF ones (tp_btf) did not load. */
bool procs__raw(const struct procs *p);

/* Follow mode: calls found() with each process the exec and rename
 * programs matched (and followed) since the last call. Returns how many
 * did not fit in their ring since: the caller then scans /proc. */
long procs__matched(struct procs *p, void (*found)(int pid, void *ctx), void *ctx);

/* How followed process pid ended, as a wait status, once its last thread
 * has exited (taken: asked once). Returns 0, or -ENOENT when not seen. */
int procs__exit_status(struct procs *p, int pid, int *status);

#endif /* AET_PROCS_H */
