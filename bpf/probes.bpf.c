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
 * atomic_[cmp]xchg").
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "probes_maps.h"
#include "agg.bpf.h"
#include "targets.bpf.h"

#define READ_ONCE(x)	 (*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))
#define barrier()	 asm volatile("" ::: "memory")

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by user space before load. */
const volatile __u32 open_mask = 16383; /* open_slots entries - 1 (a power of two) */
const volatile __u32 max_series = 4096; /* label sets per family, --max-series */

/* The next series index of each enum bounded_family; 0 is "__overflow__". */
__u64 next_series[FAM_MAX] = { 1, 1, 1 };

/* Open begins: --max-open rounded up to a power of two. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct open_slot);
} open_slots SEC(".maps");

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
	/* DESIGN section 2: anything but 0..3 counts as failure. */
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
	__u64 n = __sync_fetch_and_add(&next_series[fam], 1);
	__u32 idx = n, *found;

	if (n > max_series) {
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
 * The series index of label set l in family fam. A per-CPU cache entry is
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
	if (!(seq & 1) && e->family == fam + 1 && labels_equal(&e->labels, l)) {
		series = e->series;
		barrier();
		if (READ_ONCE(e->seq) == seq)
			return series;
	}
	found = bpf_map_lookup_elem(series_map, l);
	series = found ? *found : series_new(series_map, fam, l);
	if (series != OVERFLOW_SERIES && !(seq & 1) &&
	    __sync_val_compare_and_swap(&e->seq, seq, seq + 1) == seq) {
		__builtin_memcpy(&e->labels, l, sizeof(*l));
		e->series = series;
		e->family = fam + 1;
		barrier();
		WRITE_ONCE(e->seq, seq + 2);
	}
	return series;
}

static __always_inline __u32 slot_hash(__u64 id, __u32 tgid, __u32 kind)
{
	return ((id ^ ((__u64)tgid << 32) ^ kind) * 0x9E3779B97F4A7C15ULL) >> 32;
}

/* Parks an open begin in a free slot; false when its OPEN_PROBES slots are
 * all taken. */
static __always_inline bool open_put(__u32 tgid, __u32 kind, __u64 id, __u32 series, __u64 now)
{
	__u32 h = slot_hash(id, tgid, kind);

#pragma unroll
	for (__u32 i = 0; i < OPEN_PROBES; i++) {
		__u32 idx = (h + i) & open_mask;
		struct open_slot *s = bpf_map_lookup_elem(&open_slots, &idx);

		if (!s || READ_ONCE(s->state) != SLOT_FREE ||
		    __sync_val_compare_and_swap(&s->state, SLOT_FREE, SLOT_BUSY) != SLOT_FREE)
			continue;
		s->id = id;
		s->start_ns = now;
		s->tgid = tgid;
		s->kind = kind;
		s->series = series;
		barrier(); /* x86 keeps stores in order; the compiler must too */
		WRITE_ONCE(s->state, SLOT_OPEN);
		return true;
	}
	return false;
}

static __always_inline bool slot_is(const struct open_slot *s, __u32 tgid, __u32 kind, __u64 id)
{
	return s->id == id && s->tgid == tgid && s->kind == kind;
}

/*
 * Takes the open begin of (tgid, kind, id) into *out and frees its slot. Of
 * two racing ends only one gets it. The slot is checked again once owned: it
 * may have been ended and reused for another id in between.
 */
static __always_inline bool open_take(__u32 tgid, __u32 kind, __u64 id, struct open_slot *out)
{
	__u32 h = slot_hash(id, tgid, kind);

#pragma unroll
	for (__u32 i = 0; i < OPEN_PROBES; i++) {
		__u32 idx = (h + i) & open_mask;
		struct open_slot *s = bpf_map_lookup_elem(&open_slots, &idx);

		if (!s || READ_ONCE(s->state) != SLOT_OPEN || !slot_is(s, tgid, kind, id) ||
		    __sync_val_compare_and_swap(&s->state, SLOT_OPEN, SLOT_BUSY) != SLOT_OPEN)
			continue;
		if (!slot_is(s, tgid, kind, id)) {
			WRITE_ONCE(s->state, SLOT_OPEN);
			continue;
		}
		out->start_ns = s->start_ns;
		out->series = s->series;
		barrier();
		WRITE_ONCE(s->state, SLOT_FREE);
		return true;
	}
	return false;
}

static __always_inline int op_begin(__u32 kind, __u64 id, __u32 series)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!open_put(tgid, kind, id, series, bpf_ktime_get_ns()))
		counter_inc(&collector_stats, STAT_OPEN_OVERFLOW + kind);
	return 0;
}

static __always_inline int op_begin2(__u32 kind, __u32 fam, void *series_map, __u64 id,
				     const char *l1, const char *l2)
{
	struct labels2 l = {};

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	read_label(l.l1, l1);
	read_label(l.l2, l2);
	return op_begin(kind, id, series_of(series_map, fam, &l));
}

static __always_inline int op_end(__u32 kind, void *hist_map, __u64 id, __s32 status)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct open_slot s;
	struct hist *h;
	__u64 now;
	__u32 idx;

	if (!is_target(tgid))
		return 0;
	now = bpf_ktime_get_ns();
	if (!open_take(tgid, kind, id, &s)) {
		counter_inc(&collector_stats, STAT_UNMATCHED + kind);
		return 0;
	}
	idx = s.series * STATUS_MAX + status_index(status);
	h = bpf_map_lookup_elem(hist_map, &idx);
	if (h)
		hist_observe(h, now - s.start_ns);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(cycle_begin, __u64 id)
{
	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	return op_begin(KIND_CYCLE, id, 0);
}

SEC("uprobe")
int BPF_KPROBE(cycle_end, __u64 id, __s32 status)
{
	/* The cycle family has no labels: series 0, indexed by status alone. */
	return op_end(KIND_CYCLE, &cycle_hist, id, status);
}

SEC("uprobe")
int BPF_KPROBE(task_begin, __u64 id, const char *agent, const char *mode)
{
	return op_begin2(KIND_TASK, FAM_TASKS, &task_series, id, agent, mode);
}

SEC("uprobe")
int BPF_KPROBE(task_end, __u64 id, __s32 status)
{
	return op_end(KIND_TASK, &task_hist, id, status);
}

SEC("uprobe")
int BPF_KPROBE(agent_begin, __u64 id, const char *agent, const char *operation)
{
	return op_begin2(KIND_AGENT, FAM_AGENT, &agent_series, id, agent, operation);
}

SEC("uprobe")
int BPF_KPROBE(agent_end, __u64 id, __s32 status)
{
	return op_end(KIND_AGENT, &agent_hist, id, status);
}

SEC("uprobe")
int BPF_KPROBE(event, const char *event_type)
{
	struct labels2 l = {};
	__u32 series;
	__u64 *n;

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	read_label(l.l1, event_type);
	series = series_of(&event_series, FAM_EVENTS, &l);
	n = bpf_map_lookup_elem(&event_counts, &series);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}
