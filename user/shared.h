/* SPDX-License-Identifier: MIT */
/*
 * What every probe family shares, created before any of them loads: the
 * maps of bpf/spans.bpf.c (the span ring and its configuration, the open
 * slots, the followed processes, the compat build's locks), which each
 * family's object reuses, and the label sets of the probe programs (user/
 * series.h), which the scrape and the span consumer read, and the model
 * calls ended (user/genai_span.h), which their spans take.
 */
#ifndef AET_SHARED_H
#define AET_SHARED_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>

#include "config.h"
#include "genai_span.h"
#include "mapdump.h"
#include "series.h"

struct bpf_object;
struct spans_bpf;

struct shared {
	struct spans_bpf *skel;
	struct mapped targets; /* the followed processes, a bit per tgid */
	struct series series[SERIES_KINDS];
	struct genai_done genai_done; /* model calls ended, for their spans */
};

/* Creates the maps, sized from cfg. Returns NULL with err naming the cause
 * (and *errp = -errno). */
struct shared *shared__new(const struct config *cfg, int *errp, char *err, size_t len);
void shared__free(struct shared *sh); /* NULL-safe */

/* Makes the opened, not yet loaded object obj use the shared maps of the
 * same names. Returns 0 or -errno with err set. */
int shared__reuse(const struct shared *sh, struct bpf_object *obj, char *err, size_t len);

/* The followed processes, as the programs see them (bpf/targets.bpf.h):
 * marks pid (0 or -errno), tests it, counts them. */
int shared__follow(const struct shared *sh, int pid);
bool shared__followed(const struct shared *sh, int pid);
long shared__followed_count(const struct shared *sh);

/* The compat build's locks (user/variant.h), -1 for NULL. */
int shared__locks_fd(const struct shared *sh);

/* The span ring, its size, the programs' span configuration (written by
 * the span pipeline) and counters (enum span_stat). */
int shared__ring_fd(const struct shared *sh);
__u32 shared__ring_bytes(const struct shared *sh);
int shared__set_span_config(const struct shared *sh, const void *kcfg, size_t size);
__u64 shared__span_stat(const struct shared *sh, __u32 i);

#endif /* AET_SHARED_H */
