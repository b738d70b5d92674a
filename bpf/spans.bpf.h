/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Spans, kernel side (layouts: include/spans_maps.h). The maps here are shared
 * by every BPF object of the collector: user space creates them once, from
 * bpf/spans.bpf.c, and hands the same maps to the others.
 *
 * Context: each thread keeps a stack of the spans open on it (task
 * storage, freed with the thread; bpf/compat.bpf.h). What begins on a thread while a span is
 * open there is its child; a root span takes the context a trace context
 * call left, or starts a new trace and decides its sampling. A frame is
 * checked against its open slot before use, so an end on another thread
 * (async code) needs no access to the begin's thread: the frame it leaves
 * behind is dropped the next time that stack is read.
 *
 * Ids: a per-CPU counter, the CPU in its top bits, is unique in the run;
 * span and trace ids are a bijective mix (splitmix64's finalizer) of it
 * with random salts, so they are unique too, and spread evenly for the
 * ratio sampler, which compares the low 64 bits of the trace id.
 */
#ifndef AET_SPANS_BPF_H
#define AET_SPANS_BPF_H

#include "probes_maps.h"
#include "spans_maps.h"
#include "agg.bpf.h"
#include "compat.bpf.h"

#ifndef READ_ONCE
#define READ_ONCE(x) (*(const volatile typeof(x) *)&(x))
#endif

/* Sized by user/shared.c: --span-ring-size. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SPAN_RING_DEFAULT);
} span_ring SEC(".maps");

THREAD_MAP(span_threads, struct span_thread);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct span_config);
} span_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} span_seq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SSTAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} span_stats SEC(".maps");

/* Open begins (include/probes_maps.h): --max-open rounded up to a power of
 * two. Mapped: /metrics scans it for the open tasks. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct open_slot);
} open_slots SEC(".maps");

/* The configuration, or NULL when tracing is off. */
static __always_inline const struct span_config *span_cfg(void)
{
	__u32 zero = 0;
	const struct span_config *c = bpf_map_lookup_elem(&span_config, &zero);

	return c && c->enabled ? c : NULL;
}

static __always_inline __u64 mix64(__u64 z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number no other call of this run returns. */
static __always_inline __u64 span_seq_next(void)
{
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&span_seq, &zero);

	if (!c)
		return 0;
	return (__u64)bpf_get_smp_processor_id() << 48 | percpu_fetch_add64(c, 1);
}

static __always_inline __u64 span_new_id(const struct span_config *cfg)
{
	return mix64(cfg->salt[0] ^ span_seq_next()) ?: 1;
}

static __always_inline bool ratio_sampled(const struct span_config *cfg, __u64 trace_lo)
{
	return cfg->threshold == ~0ULL || trace_lo < cfg->threshold;
}

/* A new trace: its id, and whether the root sampler keeps it. */
static __always_inline void span_new_trace(const struct span_config *cfg, struct span_ctx *c)
{
	__u64 n = span_seq_next();
	bool sampled;

	c->trace_id[0] = mix64(cfg->salt[1] ^ n);
	c->trace_id[1] = mix64(cfg->salt[2] ^ n);
	c->parent_id = 0;
	switch (cfg->sampler) {
	case SAMPLER_ALWAYS_ON:
	case SAMPLER_PARENT_ALWAYS_ON:
		sampled = true;
		break;
	case SAMPLER_RATIO:
	case SAMPLER_PARENT_RATIO:
		sampled = ratio_sampled(cfg, c->trace_id[1]);
		break;
	default:
		sampled = false;
	}
	c->flags = sampled ? SPAN_F_SAMPLED : 0;
}

/* Whether the span of a frame is still open. A slot being taken (busy)
 * counts as open: a frame dropped too early would lose a parent for good. */
static __always_inline bool frame_live(const struct span_frame *f)
{
	__u32 idx = f->slot;
	const struct open_slot *s = bpf_map_lookup_elem(&open_slots, &idx);

	if (!s)
		return false;
	switch (READ_ONCE(s->state)) {
	case SLOT_BUSY:
		return true;
	case SLOT_OPEN:
		return READ_ONCE(s->span_id) == f->span_id;
	default:
		return false;
	}
}

/* The innermost span still open on thread t, dropping stale frames. */
static __always_inline const struct span_frame *span_top(struct span_thread *t)
{
	for (int i = 0; i < SPAN_DEPTH; i++) {
		__u32 d = t->depth;
		const struct span_frame *f;

		if (!d || d > SPAN_DEPTH) {
			t->depth = 0;
			return NULL;
		}
		f = &t->stack[(d - 1) & (SPAN_DEPTH - 1)];
		if (frame_live(f))
			return f;
		t->depth = d - 1;
	}
	return NULL;
}

static __always_inline void ctx_from_frame(struct span_ctx *c, const struct span_frame *f)
{
	c->trace_id[0] = f->trace_id[0];
	c->trace_id[1] = f->trace_id[1];
	c->parent_id = f->span_id;
	c->flags = (f->flags & SPAN_F_SAMPLED) | SPAN_F_HAS_PARENT;
}

/* The context of a file or database operation of the current thread: a
 * child of the span open there, else a root. No trace context call applies
 * to it: those are for the next span the application begins. Returns the
 * thread's state (created when create is set), or NULL. */
static __always_inline struct span_thread *span_io_ctx(const struct span_config *cfg,
						       struct span_ctx *c, bool create)
{
	struct span_thread *t;
	const struct span_frame *f;

	t = thread_state(&span_threads, create);
	f = t ? span_top(t) : NULL;
	if (f)
		ctx_from_frame(c, f);
	else
		span_new_trace(cfg, c);
	return t;
}

/* Whether a file or database operation of ns nanoseconds is emitted. */
static __always_inline bool span_io_wanted(const struct span_config *cfg, __u32 flags, __u64 ns)
{
	if (!(flags & SPAN_F_SAMPLED))
		return false;
	if (ns < cfg->min_io_ns) {
		counter_inc(&span_stats, SSTAT_SHORT_IO);
		return false;
	}
	return true;
}

/* A record of size bytes (a constant), or NULL counted as ring_full. */
static __always_inline struct span_record *span_reserve(__u32 size)
{
	struct span_record *r = bpf_ringbuf_reserve(&span_ring, size, 0);

	if (!r)
		counter_inc(&span_stats, SSTAT_RING_FULL);
	return r;
}

/* Fills the ids and times of a record from its context. */
static __always_inline void span_fill(struct span_record *r, const struct span_ctx *c,
				      __u64 span_id, __u64 start, __u64 end)
{
	r->trace_id[0] = c->trace_id[0];
	r->trace_id[1] = c->trace_id[1];
	r->span_id = span_id;
	r->parent_id = c->parent_id;
	r->start_ns = start;
	r->end_ns = end;
	r->flags = c->flags;
	r->pad = 0;
}

/* No wakeup: the collector drains the ring on a timer (docs/DESIGN.md, 5. Spans). */
static __always_inline void span_submit(struct span_record *r)
{
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

#endif /* AET_SPANS_BPF_H */
