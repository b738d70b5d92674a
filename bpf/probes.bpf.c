// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Uprobes on the AET probe functions (include/aet/probe.h). Every end is
 * paired with its begin by (process, kind, id) and aggregated here, in the
 * kernel: user space reads the maps at scrape time and does no per-event
 * work.
 *
 * The begin and end of a task or agent request are the hot path, so they
 * avoid hash maps: a begin resolves its label set to a series index once
 * (a per-CPU cache usually answers) and parks (start, series) in an array
 * slot taken with compare and swap; the end frees the slot and adds to the
 * histogram at hist[series * STATUS_MAX + status], an array element.
 * Compare and swap and fetch-and-add with a result are BPF atomics of
 * kernel 5.12 (commit 5ffa25502b5a "bpf: Add instructions for
 * atomic_[cmp]xchg"); the compat build takes locks instead
 * (bpf/compat.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "probes_maps.h"
#include "agg.bpf.h"
#include "targets.bpf.h"
#include "spans.bpf.h"
#include "own_stack.bpf.h"
#include "trace_context.h"

#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))
#define barrier()	 asm volatile("" ::: "memory")

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by user space before load. */
const volatile __u32 open_mask = 16383;	       /* open_slots entries - 1 (a power of two) */
const volatile __u32 hot_mask = HOT_SLOTS - 1; /* at most open_mask */
const volatile __u32 max_series = 4096;	       /* label sets per kind, --max-series */
/* Keep what is open on each thread with spans off too: the http family
 * names the agent of a model call from it. */
const volatile bool thread_frames = false;

/* The next series index of each enum series_kind; 0 is "__overflow__". */
__u64 next_series[SERIES_KINDS] = { 1, 1, 1 };

/* The text of sampled open custom spans, by open slot: name and
 * attributes. Aligned so that copies move
 * 8 bytes at a time: a char array's are done byte by byte, which measured
 * 250 ns of a begin. */
struct span_text {
	char s[SPAN_TEXT_CUSTOM];
} __attribute__((aligned(8)));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct span_text);
} span_texts SEC(".maps");

/* Label set -> series index: --max-series entries and "__overflow__". */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096 + 1);
	__type(key, struct labels2);
	__type(value, __u32);
} task_series SEC(".maps"), agent_series SEC(".maps"), event_series SEC(".maps");

/*
 * aet_tasks_total and aet_task_duration_seconds (task_hist),
 * aet_agent_requests_total, aet_agent_errors_total and
 * aet_agent_response_seconds (agent_hist): a histogram per (series, status);
 * a counter is its count. Mapped into user space, which reads it in place.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, (4096 + 1) * STATUS_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct hist);
} task_hist SEC(".maps"), agent_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LABEL_CACHE);
	__type(key, __u32);
	__type(value, struct label_cache_entry);
} label_cache SEC(".maps");

/* aet_cycles_total, aet_cycle_duration_seconds: indexed by status. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STATUS_MAX);
	__type(key, __u32);
	__type(value, struct hist);
} cycle_hist SEC(".maps");

/* aet_events_total: a counter per series of event_series (whose label
 * sets have the event type in l1 and nothing in l2). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096 + 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} event_counts SEC(".maps");

/* The collector's own counters: enum collector_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} collector_stats SEC(".maps");

static __always_inline __u32 status_index(__s32 status)
{
	/* Anything but 0..3 counts as failure (docs/DESIGN.md, 3. The probe ABI). */
	return status >= 0 && status < STATUS_MAX ? status : 1;
}

/* Reads a label value from the target: at most 63 bytes. dst must be zeroed:
 * the helper does not clear what follows the NUL, and keys must not differ
 * there. */
static __always_inline void read_label(char dst[LABEL_LEN], const char *src)
{
	bpf_probe_read_user_str(dst, LABEL_LEN, src);
}

static __always_inline bool labels_equal(const struct labels2 *a, const struct labels2 *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 diff = 0;

#pragma unroll
	for (__u32 i = 0; i < sizeof(*a) / sizeof(__u64); i++)
		diff |= x[i] ^ y[i];
	return !diff;
}

/* Gives a new label set its series index, or "__overflow__" past the bound. */
static __always_inline __u32 series_new(void *series_map, __u32 fam, const struct labels2 *l)
{
	__u64 n = fetch_add64(&next_series[fam], 1, LOCK_SERIES(fam));
	__u32 idx = n, *found;

	if (n > max_series) { /* or ~0: the compat build's lock not had */
		counter_inc(&collector_stats, STAT_SERIES_OVERFLOW + fam);
		return OVERFLOW_SERIES;
	}
	if (!bpf_map_update_elem(series_map, l, &idx, BPF_NOEXIST))
		return idx;
	/* Another CPU added the same label set first: its index wins, ours is
	 * never used. */
	found = bpf_map_lookup_elem(series_map, l);
	return found ? *found : OVERFLOW_SERIES;
}

/*
 * The series index of label set l of kind fam. A per-CPU cache entry is
 * a seqlock: a program preempted on this CPU while filling it leaves the
 * sequence odd, and a reader that raced with a writer sees it change.
 */
static __always_inline __u32 series_of(void *series_map, __u32 fam, const struct labels2 *l)
{
	const __u64 *w = (const __u64 *)l;
	__u32 slot = ((w[0] ^ w[8] ^ (w[1] << 1) ^ fam) * 0x9E3779B97F4A7C15ULL) >> 58;
	struct label_cache_entry *e = bpf_map_lookup_elem(&label_cache, &slot);
	__u32 seq, series, *found;

	if (!e)
		return OVERFLOW_SERIES;
	seq = READ_ONCE(e->seq);
	if (!(seq & 1) && e->kind == fam + 1 && labels_equal(&e->labels, l)) {
		series = e->series;
		barrier();
		if (READ_ONCE(e->seq) == seq)
			return series;
	}
	found = bpf_map_lookup_elem(series_map, l);
	series = found ? *found : series_new(series_map, fam, l);
	if (series != OVERFLOW_SERIES && !(seq & 1) && percpu_cas32(&e->seq, seq, seq + 1)) {
		__builtin_memcpy(&e->labels, l, sizeof(*l));
		e->series = series;
		e->kind = fam + 1;
		barrier();
		WRITE_ONCE(e->seq, seq + 2);
	}
	return series;
}

static __always_inline __u32 slot_hash(__u64 id, __u32 tgid, __u32 kind)
{
	return ((id ^ ((__u64)tgid << 32) ^ kind) * 0x9E3779B97F4A7C15ULL) >> 32;
}

/*
 * The i-th slot tried for hash h. The first OPEN_PROBES are among the first
 * HOT_SLOTS entries, which the few begins open at a time keep in the CPU's
 * cache (a begin spread over the whole array missed it: about 100 ns); the
 * next OPEN_PROBES anywhere in the array.
 */
static __always_inline __u32 slot_at(__u32 h, __u32 i)
{
	return i < OPEN_PROBES ? (h + i) & hot_mask : ((h >> 8) + i) & open_mask;
}

/* Parks open begin v in a free slot: its index, or -1 when the 2 * OPEN_PROBES
 * slots of (process, kind, id) are all taken. */
static __always_inline int open_put(const struct open_slot *v)
{
	__u32 h = slot_hash(v->id, v->tgid, v->kind);

#pragma unroll
	for (__u32 i = 0; i < 2 * OPEN_PROBES; i++) {
		__u32 idx = slot_at(h, i);
		struct open_slot *s = bpf_map_lookup_elem(&open_slots, &idx);

		if (!s || READ_ONCE(s->state) != SLOT_FREE ||
		    !cas32(&s->state, SLOT_FREE, SLOT_BUSY, LOCK_SLOT(idx)))
			continue;
		s->id = v->id;
		s->start_ns = v->start_ns;
		s->ctx = v->ctx;
		s->span_id = v->span_id;
		s->tgid = v->tgid;
		s->kind = v->kind;
		s->series = v->series;
		s->tid = v->tid;
		barrier(); /* x86 keeps stores in order; the compiler must too */
		WRITE_ONCE(s->state, SLOT_OPEN);
		return idx;
	}
	return -1;
}

static __always_inline bool slot_is(const struct open_slot *s, __u32 tgid, __u32 kind, __u64 id)
{
	return s->id == id && s->tgid == tgid && s->kind == kind;
}

/*
 * Takes the open begin of (tgid, kind, id) into *out, and returns its slot,
 * left busy for the caller to free (slot_free()) once done with its text;
 * -1 when it is not open. Of two racing ends only one gets it. The slot is
 * checked again once owned: it may have been ended and reused for another
 * id in between.
 */
static __always_inline int open_take(__u32 tgid, __u32 kind, __u64 id, struct open_slot *out)
{
	__u32 h = slot_hash(id, tgid, kind);

#pragma unroll
	for (__u32 i = 0; i < 2 * OPEN_PROBES; i++) {
		__u32 idx = slot_at(h, i);
		struct open_slot *s = bpf_map_lookup_elem(&open_slots, &idx);

		if (!s || READ_ONCE(s->state) != SLOT_OPEN || !slot_is(s, tgid, kind, id) ||
		    !cas32(&s->state, SLOT_OPEN, SLOT_BUSY, LOCK_SLOT(idx)))
			continue;
		if (!slot_is(s, tgid, kind, id)) {
			WRITE_ONCE(s->state, SLOT_OPEN);
			continue;
		}
		__builtin_memcpy(out, s, sizeof(*out));
		return idx;
	}
	return -1;
}

static __always_inline void slot_free(__u32 idx)
{
	struct open_slot *s = bpf_map_lookup_elem(&open_slots, &idx);

	if (s) {
		barrier();
		WRITE_ONCE(s->state, SLOT_FREE);
	}
}

/* The context of a child of the open span (tgid, kind, id): false when it
 * is not open. */
static __always_inline bool ctx_of_open(__u32 tgid, __u32 kind, __u64 id, struct span_ctx *c)
{
	__u32 h = slot_hash(id, tgid, kind);

#pragma unroll
	for (__u32 i = 0; i < 2 * OPEN_PROBES; i++) {
		__u32 idx = slot_at(h, i);
		const struct open_slot *s = bpf_map_lookup_elem(&open_slots, &idx);

		if (!s || READ_ONCE(s->state) != SLOT_OPEN || !slot_is(s, tgid, kind, id) ||
		    !s->span_id)
			continue;
		c->trace_id[0] = s->ctx.trace_id[0];
		c->trace_id[1] = s->ctx.trace_id[1];
		c->parent_id = s->span_id;
		c->flags = (s->ctx.flags & SPAN_F_SAMPLED) | SPAN_F_HAS_PARENT;
		return true;
	}
	return false;
}

/* A root joining a W3C traceparent: the parentbased samplers follow its
 * sampled flag, the others decide as for a new trace. */
static __always_inline void ctx_remote(const struct span_config *cfg, const struct span_thread *t,
				       struct span_ctx *c)
{
	bool sampled;

	c->trace_id[0] = t->ctx_trace_id[0];
	c->trace_id[1] = t->ctx_trace_id[1];
	c->parent_id = t->ctx_parent_id;
	switch (cfg->sampler) {
	case SAMPLER_PARENT_ALWAYS_ON:
	case SAMPLER_PARENT_ALWAYS_OFF:
	case SAMPLER_PARENT_RATIO:
		sampled = t->ctx_flags & 1;
		break;
	case SAMPLER_ALWAYS_ON:
		sampled = true;
		break;
	case SAMPLER_RATIO:
		sampled = ratio_sampled(cfg, c->trace_id[1]);
		break;
	default:
		sampled = false;
	}
	c->flags = SPAN_F_HAS_PARENT | SPAN_F_REMOTE_PARENT | (sampled ? SPAN_F_SAMPLED : 0);
}

/* The context of a span the application begins on this thread: a child of
 * the open span an "aet:" trace context named (used once); else of the span
 * open on this thread; else of the traceparent a trace context gave (used
 * once); else a new trace. Returns the thread's state, NULL when it has
 * none. */
static __always_inline struct span_thread *span_open(const struct span_config *cfg, __u32 tgid,
						     struct span_ctx *c)
{
	struct span_thread *t;
	const struct span_frame *f;

	t = thread_state(&span_threads, true);
	if (!t) {
		counter_inc(&span_stats, SSTAT_NO_STATE);
		span_new_trace(cfg, c);
		return NULL;
	}
	/* First, so that stale frames go whatever the context: the stack
	 * would fill up with them. */
	f = span_top(t);
	if (t->ctx_kind == PENDING_LOCAL) {
		t->ctx_kind = PENDING_NONE;
		if (ctx_of_open(tgid, t->ctx_flags, t->ctx_parent_id, c))
			return t;
		counter_inc(&span_stats, SSTAT_CTX_NOT_OPEN);
	}
	if (f) {
		ctx_from_frame(c, f);
		return t;
	}
	if (t->ctx_kind == PENDING_REMOTE)
		ctx_remote(cfg, t, c);
	else
		span_new_trace(cfg, c);
	t->ctx_kind = PENDING_NONE;
	return t;
}

/* Makes the span of slot idx the innermost open on thread t. */
static __always_inline void span_push(struct span_thread *t, const struct open_slot *v, __u32 idx)
{
	__u32 d = t->depth;
	struct span_frame *f;

	if (d >= SPAN_DEPTH) {
		counter_inc(&span_stats, SSTAT_DEPTH);
		return;
	}
	f = &t->stack[d & (SPAN_DEPTH - 1)];
	f->trace_id[0] = v->ctx.trace_id[0];
	f->trace_id[1] = v->ctx.trace_id[1];
	f->span_id = v->span_id;
	f->slot = idx;
	f->flags = v->ctx.flags & SPAN_F_SAMPLED;
	t->depth = d + 1;
}

/* Begins (kind, id): its open slot, -1 when none was free. *text is where
 * a sampled span's text goes, else NULL. */
static __always_inline int op_begin(__u32 kind, __u64 id, __u32 series, struct span_text **text)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct open_slot v = {
		.id = id, .tgid = pid_tgid >> 32, .kind = kind, .series = series, .tid = pid_tgid
	};
	const struct span_config *cfg = span_cfg();
	struct span_thread *t = NULL;
	int idx;

	if (cfg) {
		t = span_open(cfg, v.tgid, &v.ctx);
		v.span_id = span_new_id(cfg);
	} else if (thread_frames && (kind == KIND_AGENT || kind == KIND_TASK)) {
		/* No span: the id only tells this opening from the slot's next. */
		t = thread_state(&span_threads, true);
		if (t)
			span_top(t);
		v.span_id = span_seq_next() | 1ULL << 63;
	}
	v.start_ns = bpf_ktime_get_ns();
	idx = open_put(&v);
	if (idx < 0) {
		counter_inc(&collector_stats, STAT_OPEN_OVERFLOW + kind);
		return -1;
	}
	if (t)
		span_push(t, &v, idx);
	if (text) {
		__u32 i = idx;

		*text = v.ctx.flags & SPAN_F_SAMPLED ? bpf_map_lookup_elem(&span_texts, &i) : NULL;
	}
	return idx;
}

static __always_inline int op_begin2(__u32 kind, __u32 fam, void *series_map, __u64 id,
				     const char *l1, const char *l2)
{
	struct labels2 l = {};

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	read_label(l.l1, l1);
	read_label(l.l2, l2);
	/* The span carries the series index: user space has its labels. */
	op_begin(kind, id, series_of(series_map, fam, &l), NULL);
	return 0;
}

/* The span record of open begin s, ended now: size is the record's text
 * (a constant at every call site). */
static __always_inline void emit_probe(const struct open_slot *s, __u32 idx, __u64 now,
				       __s32 status, __u32 size)
{
	struct span_record *r = span_reserve(sizeof(*r) + size);
	const struct span_text *text;

	if (!r)
		return;
	span_fill(r, &s->ctx, s->span_id, s->start_ns, now);
	r->id = s->id;
	r->tgid = s->tgid;
	r->tid = s->tid;
	r->status = status;
	r->kind = s->kind; /* enum open_kind is enum span_kind's first part */
	r->op = s->series;
	if (size) {
		text = bpf_map_lookup_elem(&span_texts, &idx);
		if (text)
			__builtin_memcpy(r + 1, text->s, size);
		else
			__builtin_memset(r + 1, 0, size);
	}
	span_submit(r);
}

/* Ends (kind, id): its histogram (hist_map NULL: none) and its span. */
static __always_inline int op_end(__u32 kind, void *hist_map, __u64 id, __s32 status,
				  __u32 text_size)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct open_slot s;
	struct hist *h;
	__u64 now;
	__u32 idx;
	int slot;

	if (!is_target(tgid))
		return 0;
	now = bpf_ktime_get_ns();
	slot = open_take(tgid, kind, id, &s);
	if (slot < 0) {
		counter_inc(&collector_stats, STAT_UNMATCHED + kind);
		return 0;
	}
	if (hist_map) {
		idx = s.series * STATUS_MAX + status_index(status);
		h = bpf_map_lookup_elem(hist_map, &idx);
		if (h)
			hist_observe(h, now - s.start_ns);
	}
	if (s.ctx.flags & SPAN_F_SAMPLED && span_cfg())
		emit_probe(&s, slot, now, status, text_size);
	slot_free(slot);
	return 0;
}

SEC("uprobe")
int OWN_STACK_KPROBE(cycle_begin, __u64 id)
{
	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	op_begin(KIND_CYCLE, id, 0, NULL);
	return 0;
}

SEC("uprobe")
int OWN_STACK_KPROBE(cycle_end, __u64 id, __s32 status)
{
	/* Cycles have no labels: series 0, indexed by status alone. */
	return op_end(KIND_CYCLE, &cycle_hist, id, status, 0);
}

SEC("uprobe")
int OWN_STACK_KPROBE(task_begin, __u64 id, const char *agent, const char *mode)
{
	return op_begin2(KIND_TASK, SERIES_TASKS, &task_series, id, agent, mode);
}

SEC("uprobe")
int OWN_STACK_KPROBE(task_end, __u64 id, __s32 status)
{
	return op_end(KIND_TASK, &task_hist, id, status, 0);
}

SEC("uprobe")
int OWN_STACK_KPROBE(agent_begin, __u64 id, const char *agent, const char *operation)
{
	return op_begin2(KIND_AGENT, SERIES_AGENT, &agent_series, id, agent, operation);
}

SEC("uprobe")
int OWN_STACK_KPROBE(agent_end, __u64 id, __s32 status)
{
	return op_end(KIND_AGENT, &agent_hist, id, status, 0);
}

SEC("uprobe")
int OWN_STACK_KPROBE(event, const char *event_type)
{
	struct labels2 l = {};
	__u32 series;
	__u64 *n;

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	read_label(l.l1, event_type);
	series = series_of(&event_series, SERIES_EVENTS, &l);
	n = bpf_map_lookup_elem(&event_counts, &series);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

/* Custom spans have no metrics: with tracing off they are not followed. */
SEC("uprobe")
int OWN_STACK_KPROBE(span_begin, __u64 id, const char *name, const char *attributes)
{
	struct span_text *text = NULL;

	if (!is_target(bpf_get_current_pid_tgid() >> 32) || !span_cfg())
		return 0;
	op_begin(KIND_SPAN, id, 0, &text);
	if (!text)
		return 0;
	if (bpf_probe_read_user_str(text->s, SPAN_NAME_LEN, name) < 0)
		text->s[0] = '\0';
	if (bpf_probe_read_user_str(text->s + SPAN_NAME_LEN, SPAN_ATTRS_LEN, attributes) < 0)
		text->s[SPAN_NAME_LEN] = '\0';
	return 0;
}

SEC("uprobe")
int OWN_STACK_KPROBE(span_end, __u64 id, __s32 status)
{
	if (!span_cfg())
		return 0;
	return op_end(KIND_SPAN, NULL, id, status, SPAN_TEXT_CUSTOM);
}

/* Where the next span this thread begins belongs (include/aet/probe.h): a
 * W3C traceparent for a root, or "aet:KIND:ID". An empty string clears a
 * pending one. */
SEC("uprobe")
int OWN_STACK_KPROBE(trace_context, const char *traceparent)
{
	struct span_thread *t;
	char b[TRACE_CONTEXT_BUF] = {};
	long len;

	if (!is_target(bpf_get_current_pid_tgid() >> 32) || !span_cfg())
		return 0;
	t = thread_state(&span_threads, true);
	if (!t) {
		counter_inc(&span_stats, SSTAT_NO_STATE);
		return 0;
	}
	t->ctx_kind = PENDING_NONE;
	len = bpf_probe_read_user_str(b, sizeof(b), traceparent) - 1;
	if (len <= 0)
		return 0;
	if (!ctx_parse_traceparent(b, len, t) && !ctx_parse_local(b, len, t))
		counter_inc(&span_stats, SSTAT_CTX_INVALID);
	return 0;
}

/* Start-up calibration of the uprobe spot (user/probes.c): does nothing,
 * attached for a moment to a function of the collector with the probe
 * functions' first bytes. */
SEC("uprobe")
int spot_calib(void *ctx)
{
	return 0;
}
