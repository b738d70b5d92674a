/* SPDX-License-Identifier: MIT */
/*
 * Spans: the maps the BPF programs share to emit them (bpf/spans.bpf.h),
 * the ring-buffer consumer that turns their records into OTLP, and the
 * exporters (OTLP/HTTP, console). Configured from the environment
 * (user/otelenv.h).
 */
#ifndef AET_SPANS_USER_H
#define AET_SPANS_USER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "target.h"

struct spans;
struct bpf_object;

/* Reads the tracing environment, creates the shared maps and writes the
 * kernel's span configuration (tracing off: the programs never touch the
 * ring). Returns NULL with err naming the cause (and *errp = -errno). */
struct spans *spans__new(const struct config *cfg, const struct target *t, int *errp, char *err,
			 size_t len);
/* Makes the opened, not yet loaded object obj use the shared maps of the
 * same names. Returns 0 or -errno with err set. */
int spans__share(const struct spans *s, struct bpf_object *obj, char *err, size_t len);
/* The followed processes, in the shared targets map (bpf/targets.bpf.h):
 * marks pid (0 or -errno), tests it, counts them. */
int spans__follow(const struct spans *s, int pid);
bool spans__followed(const struct spans *s, int pid);
long spans__followed_count(const struct spans *s);
/* The compat build's locks (user/variant.h), -1 without spans. */
int spans__locks_fd(const struct spans *s);
/* Where the labels of task (fam 0) and agent request (fam 1) spans are: the
 * series map fd of n entries (see probes__series_fd()); duplicated. Returns
 * 0 or -errno. */
int spans__set_series(struct spans *s, int fam, int fd, size_t n);
/* Starts draining the ring and exporting. Returns 0 or -errno with err set. */
int spans__start(struct spans *s, char *err, size_t len);
/* Drains what is left, flushes the exporter (a few seconds at most) and
 * frees everything. NULL-safe. Call after the programs are detached. */
void spans__free(struct spans *s);

bool spans__enabled(const struct spans *s);
int spans__write_metrics(struct spans *s, struct buf *out);
/* Appends the JSON member "tracing" (no braces around it). */
void spans__write_status(struct spans *s, struct buf *out);

#endif /* AET_SPANS_USER_H */
