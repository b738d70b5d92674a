// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * bench-span-drain's producer: each run emits GEN_BATCH span records shaped
 * like the collector's (an agent request, a task, a file operation, a
 * database operation, a custom span in turn) into a ring buffer, without
 * wakeups, as bpf/spans.bpf.h does.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "spans_maps.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define GEN_BATCH 256

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SPAN_RING_DEFAULT);
} span_ring SEC(".maps");

__u64 emitted, dropped, seq;

static __always_inline void head(struct span_record *r, __u32 kind, __u64 n)
{
	r->trace_id[0] = 0x0123456789abcdefULL ^ n;
	r->trace_id[1] = 0xfedcba9876543210ULL * (n | 1);
	r->span_id = n * 0x9E3779B97F4A7C15ULL | 1;
	r->parent_id = n & 3 ? n * 0xbf58476d1ce4e5b9ULL : 0;
	r->start_ns = n * 1000;
	r->end_ns = n * 1000 + 12345;
	r->id = n;
	r->tgid = 4242;
	r->tid = 4243;
	r->status = n % 7 == 0;
	r->kind = kind;
	r->flags = SPAN_F_SAMPLED | (r->parent_id ? SPAN_F_HAS_PARENT : 0);
	r->op = n % 8;
	r->pad = 0;
}

static __always_inline void emit(__u64 n)
{
	struct span_record *r;
	char *t;

	switch (n % 5) {
	case 0:
	case 1:
		r = bpf_ringbuf_reserve(&span_ring, sizeof(*r), 0);
		if (!r)
			break;
		head(r, n % 5 ? SPAN_TASK : SPAN_AGENT, n);
		r->op = 1 + n % 4; /* a series index */
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
		break;
	case 2:
		r = bpf_ringbuf_reserve(&span_ring, sizeof(*r) + SPAN_PATH_LEN, 0);
		if (!r)
			break;
		head(r, SPAN_FILE, n);
		t = (char *)(r + 1);
		__builtin_memcpy(t, "/var/lib/aet/registry/r12345.json\0\0\0\0\0\0\0", 40);
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
		break;
	case 3:
		r = bpf_ringbuf_reserve(&span_ring, sizeof(*r) + SPAN_SQL_LEN, 0);
		if (!r)
			break;
		head(r, SPAN_DB, n);
		*(char *)(r + 1) = '\0';
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
		break;
	default:
		r = bpf_ringbuf_reserve(&span_ring, sizeof(*r) + SPAN_TEXT_CUSTOM, 0);
		if (!r)
			break;
		head(r, SPAN_CUSTOM, n);
		t = (char *)(r + 1);
		__builtin_memcpy(t, "model.call\0\0\0\0\0\0", 16);
		__builtin_memcpy(t + SPAN_NAME_LEN, "model=planner-large;tokens=512\0\0", 32);
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
		break;
	}
	if (r)
		__sync_fetch_and_add(&emitted, 1);
	else
		__sync_fetch_and_add(&dropped, 1);
}

SEC("raw_tp")
int gen(void *ctx)
{
	for (int i = 0; i < GEN_BATCH; i++)
		emit(__sync_fetch_and_add(&seq, 1));
	return 0;
}
