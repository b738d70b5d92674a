/* SPDX-License-Identifier: MIT */
/*
 * The trace context parser of aet_probe_trace_context() (include/aet/probe.h):
 * a W3C traceparent, or "aet:KIND:ID". bpf/probes.bpf.c runs it on the
 * string its trace_context program read; user/traceparent.c runs the very
 * same code for the unit tests and the fuzz target. No libc, and every loop
 * has a constant bound, for the verifier. User space includes <stdbool.h>
 * and <linux/types.h> before it.
 */
#ifndef AET_TRACE_CONTEXT_H
#define AET_TRACE_CONTEXT_H

#include "probes_maps.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* The buffer the string is read into: at most 63 bytes and a NUL. A power of
 * two: ctx_parse_local() masks its index with it for the verifier. */
#define TRACE_CONTEXT_BUF 64
#define TRACEPARENT_LEN	  55 /* "00-" 32 "-" 16 "-" 2 */

/* n hex digits at s into *v: false when one is not a hex digit. */
static __always_inline bool ctx_parse_hex(const char *s, __u32 n, __u64 *v)
{
	__u64 x = 0;

	for (__u32 i = 0; i < n && i < 16; i++) {
		char ch = s[i];
		__u64 d;

		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else
			return false;
		x = x << 4 | d;
	}
	*v = x;
	return true;
}

/* A W3C traceparent (version 00, lower-case hex, ids not all zero). */
static __always_inline bool ctx_parse_traceparent(const char *b, long len, struct span_thread *t)
{
	__u64 hi, lo, parent, flags, version;

	if (len != TRACEPARENT_LEN || b[2] != '-' || b[35] != '-' || b[52] != '-')
		return false;
	if (!ctx_parse_hex(b, 2, &version) || version != 0 || !ctx_parse_hex(b + 3, 16, &hi) ||
	    !ctx_parse_hex(b + 19, 16, &lo) || !ctx_parse_hex(b + 36, 16, &parent) ||
	    !ctx_parse_hex(b + 53, 2, &flags) || !(hi | lo) || !parent)
		return false;
	t->ctx_trace_id[0] = hi;
	t->ctx_trace_id[1] = lo;
	t->ctx_parent_id = parent;
	t->ctx_flags = flags;
	t->ctx_kind = PENDING_REMOTE;
	return true;
}

/* "aet:KIND:ID", KIND one of cycle, task, agent, span and ID decimal: the
 * open span (kind, id) of this process. */
static __always_inline bool ctx_parse_local(const char *b, long len, struct span_thread *t)
{
	static const char words[KIND_MAX][8] = { "cycle:", "task:", "agent:", "span:" };
	__u32 kind = KIND_MAX, at = 0;
	__u64 id = 0;

	if (len < 6 || b[0] != 'a' || b[1] != 'e' || b[2] != 't' || b[3] != ':')
		return false;
	for (__u32 k = 0; k < KIND_MAX && kind == KIND_MAX; k++) {
		__u32 i;

		for (i = 0; i < 7 && words[k][i]; i++)
			if (b[4 + i] != words[k][i])
				break;
		if (i < 7 && !words[k][i]) {
			kind = k;
			at = 4 + i;
		}
	}
	if (kind == KIND_MAX || at >= len)
		return false;
	for (__u32 i = 0; i < 20; i++) {
		char ch = b[(at + i) & (TRACE_CONTEXT_BUF - 1)];

		if (at + i >= len)
			break;
		if (ch < '0' || ch > '9')
			return false;
		id = id * 10 + (ch - '0');
	}
	t->ctx_parent_id = id;
	t->ctx_flags = kind;
	t->ctx_kind = PENDING_LOCAL;
	return true;
}

#endif /* AET_TRACE_CONTEXT_H */
