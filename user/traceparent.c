// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <string.h>
#include <linux/types.h>

#include "trace_context.h"
#include "traceparent.h"

/* What the trace_context program of bpf/probes.bpf.c does around the
 * parser it shares with this file. */
enum trace_context_result trace_context_parse(const char *s, size_t n, struct span_thread *t)
{
	/* bpf_probe_read_user_str(b, sizeof(b), ...): at most 63 bytes and a
	 * NUL, in a zeroed buffer. */
	char b[TRACE_CONTEXT_BUF] = { 0 };
	long len = (long)strnlen(s, n < sizeof(b) - 1 ? n : sizeof(b) - 1);

	memcpy(b, s, (size_t)len);
	memset(t->ctx_trace_id, 0, sizeof(t->ctx_trace_id));
	t->ctx_parent_id = 0;
	t->ctx_flags = 0;
	t->ctx_kind = PENDING_NONE;
	if (len <= 0)
		return TC_CLEARED;
	if (!ctx_parse_traceparent(b, len, t) && !ctx_parse_local(b, len, t))
		return TC_INVALID;
	return (enum trace_context_result)t->ctx_kind;
}
