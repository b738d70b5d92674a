/* SPDX-License-Identifier: MIT */
/*
 * The trace context parser of aet_probe_trace_context() (a W3C traceparent,
 * or "aet:KIND:ID"), as bpf/probes.bpf.c runs it, for user space: its unit
 * tests and its fuzz target. Pure: no libbpf. The parser itself is
 * include/trace_context.h, the code the BPF program runs.
 */
#ifndef AET_TRACEPARENT_H
#define AET_TRACEPARENT_H

#include <stddef.h>
#include <linux/types.h>

#include "probes_maps.h"

/* What trace_context() left in t, as its ctx_kind says. */
enum trace_context_result {
	TC_CLEARED = PENDING_NONE,  /* empty: a pending context cleared */
	TC_REMOTE = PENDING_REMOTE, /* a traceparent: ctx_trace_id, ctx_parent_id, ctx_flags */
	TC_LOCAL = PENDING_LOCAL,   /* "aet:KIND:ID": ctx_parent_id = ID, ctx_flags = KIND */
	TC_INVALID,		    /* neither (counted in span_stats SSTAT_CTX_INVALID) */
};

/* Parses the string at s, n bytes readable (up to its NUL, or n when
 * shorter), as the trace_context program reads it: its first 63 bytes.
 * Fills the ctx_* fields of t (zeroed first). */
enum trace_context_result trace_context_parse(const char *s, size_t n, struct span_thread *t);

#endif /* AET_TRACEPARENT_H */
