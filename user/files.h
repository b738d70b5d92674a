/* SPDX-License-Identifier: MIT */
/* File operations of the target processes (bpf/files.bpf.c). */
#ifndef AET_FILES_H
#define AET_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "spans.h"
#include "target.h"

struct files;

/* Mounts tracefs when it is not, loads the programs (sharing the maps of
 * sp: the spans' and the followed processes) and attaches every tracepoint
 * unless cfg->start_disabled. Returns NULL with err naming the cause (and
 * *errp = -errno); nothing stays attached. */
struct files *files__new(const struct config *cfg, const struct spans *sp, int *errp, char *err,
			 size_t len);
void files__free(struct files *f);

/* The emergency switch (and cfg->start_disabled, with which files__new()
 * attaches nothing): every tracepoint attached, or all detached. */
int files__attach(struct files *f, char *err, size_t len);
void files__detach(struct files *f);

int files__count(const struct files *f); /* programs */
int files__attached(const struct files *f);

int files__write_metrics(struct files *f, struct buf *out);
/* Appends the JSON member "files" (no braces around it). */
void files__write_status(struct files *f, struct buf *out);

#endif /* AET_FILES_H */
