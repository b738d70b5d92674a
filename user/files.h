/* SPDX-License-Identifier: MIT */
/* File operations of the target processes (bpf/files.bpf.c), and the
 * processes followed: the target and its children. */
#ifndef AET_FILES_H
#define AET_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "spans.h"
#include "target.h"

struct files;

/* Mounts tracefs when it is not, loads the programs (sharing the span maps
 * of sp), marks pid as followed (none when 0: follow mode) and attaches
 * every tracepoint. Returns NULL with err naming the cause (and *errp =
 * -errno); nothing stays attached. */
struct files *files__new(const struct config *cfg, int pid, const struct spans *sp, int *errp,
			 char *err, size_t len);
void files__free(struct files *f);

/* The emergency switch (and cfg->start_disabled, with which files__new()
 * attaches nothing): every tracepoint attached, or all detached. */
int files__attach(struct files *f, char *err, size_t len);
void files__detach(struct files *f);

int files__count(const struct files *f); /* programs */
/* The map of followed processes, for the other programs to share. */
int files__targets_fd(const struct files *f);
int files__attached(const struct files *f);

/* Marks pid as followed: every program observes it from now on. */
int files__follow(struct files *f, int pid);
bool files__followed(const struct files *f, int pid);

/* Follow mode (--comm, --exe): calls found() with each process the exec
 * and rename programs matched (and followed) since the last call. Returns
 * how many did not fit in their ring since: the caller then scans /proc. */
long files__matched(struct files *f, void (*found)(int pid, void *ctx), void *ctx);

/* Periodic work: forgets the open files of processes no longer followed. */
void files__tick(struct files *f);

int files__write_metrics(struct files *f, struct buf *out);
/* Appends the JSON member "files" (no braces around it). */
void files__write_status(struct files *f, struct buf *out);

#endif /* AET_FILES_H */
