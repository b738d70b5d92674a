/* SPDX-License-Identifier: MIT */
/*
 * The span pipeline: the consumer of the span ring (user/shared.h) that
 * turns its records into OTLP, batches them and hands the batches to the
 * exporters (OTLP/HTTP, console). Configured from the environment
 * (user/otelenv.h).
 */
#ifndef AET_SPANS_USER_H
#define AET_SPANS_USER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "shared.h"
#include "target.h"

struct spans;

/* Reads the tracing environment and writes the kernel's span
 * configuration into the shared maps sh (tracing off: the programs never
 * touch the ring). Returns NULL with err naming the cause (and *errp =
 * -errno). */
struct spans *spans__new(const struct config *cfg, const struct target *t, struct shared *sh,
			 int *errp, char *err, size_t len);
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
