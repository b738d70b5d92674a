// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The target's CPython runtime, from the USDT probes (SystemTap SDT notes,
 * provider "python") of its interpreter: its executable or the libpython
 * it maps. Each probe has a semaphore, which libbpf raises in the target's
 * memory when it attaches and lowers when it detaches: an interpreter not
 * attached to skips the probe's code, and pays nothing.
 *
 * gc__start(int generation) and gc__done(Py_ssize_t collected) bracket
 * one collection, on the thread that runs it (CPython 3.11's
 * gc_collect_main(); collected is the unreachable objects freed plus the
 * uncollectable ones). A collection is counted at its gc__done, with the
 * generation and time of its thread's gc__start.
 *
 * audit(const char *event, PyObject *args), with --audit only: each
 * audit event CPython raises (PySys_Audit). The interpreter builds the
 * event's arguments only when a hook or this probe's semaphore asks for
 * them, so the program is not even loaded without --audit. Events the
 * filter does not match leave after reading their name and a hash lookup
 * per dot in it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
/* libbpf's USDT maps sized for this object's few probe sites: each is
 * attached to one interpreter, where a probe has one site or a few. */
#define BPF_USDT_MAX_SPEC_CNT 16
#define BPF_USDT_MAX_IP_CNT   (4 * BPF_USDT_MAX_SPEC_CNT)
#include <bpf/usdt.bpf.h>
#include "python_maps.h"
#include "agg.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* The collection in progress on each thread: CPython runs one at a time
 * per interpreter, so a few are plenty (one left by a thread that died
 * mid-collection is the least recently used). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct py_gc_start);
} gc_starts SEC(".maps");

/* aet_python_gc_*: per generation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PY_GENERATIONS);
	__type(key, __u32);
	__type(value, struct py_gc);
} gc_gens SEC(".maps");

/* enum py_stat */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PY_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} python_stats SEC(".maps");

/* --audit's entries (include/python_maps.h), written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PY_AUDIT_FILTERS);
	__type(key, char[PY_AUDIT_NAME_LEN]);
	__type(value, __u32);
} audit_filter SEC(".maps");

/* aet_python_audit_events_total: by the event's name. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PY_AUDIT_COUNTS);
	__type(key, char[PY_AUDIT_NAME_LEN]);
	__type(value, __u64);
} audit_counts SEC(".maps");

SEC("usdt")
int BPF_USDT(gc_start, int generation)
{
	struct py_gc_start s = { .ns = bpf_ktime_get_ns(), .generation = generation };
	__u32 tid = bpf_get_current_pid_tgid();

	if (generation < 0 || generation >= PY_GENERATIONS) {
		counter_inc(&python_stats, PY_STAT_GENERATION);
		return 0;
	}
	bpf_map_update_elem(&gc_starts, &tid, &s, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(gc_done, long collected)
{
	__u32 tid = bpf_get_current_pid_tgid();
	struct py_gc_start *s = bpf_map_lookup_elem(&gc_starts, &tid);
	__u64 now = bpf_ktime_get_ns();
	struct py_gc *g;
	__u32 gen;

	if (!s) {
		counter_inc(&python_stats, PY_STAT_UNSTARTED);
		return 0;
	}
	gen = s->generation;
	g = gen < PY_GENERATIONS ? bpf_map_lookup_elem(&gc_gens, &gen) : NULL;
	if (g) {
		hist_observe(&g->pause, now - s->ns);
		__sync_fetch_and_add(&g->collected, collected);
	}
	bpf_map_delete_elem(&gc_starts, &tid);
	return 0;
}

/* Whether event name (NUL-padded) matches an entry of the filter: it, or
 * its part before a dot. key, zero, is filled as name is walked, so that
 * it is each such part zero-padded. A name that fills name may have been
 * cut: only its parts before a dot are looked up. */
static __always_inline bool audit_matches(const char *name, char *key)
{
	for (int i = 0; i < PY_AUDIT_NAME_LEN - 1; i++) {
		char c = name[i];

		if ((c == '.' || !c) && bpf_map_lookup_elem(&audit_filter, key))
			return true;
		if (!c)
			return false;
		key[i] = c;
	}
	return false;
}

/* Counts event name: overflow when its name is not there and cannot be. */
static __always_inline void audit_count(const char *name)
{
	__u64 zero = 0, *n = bpf_map_lookup_elem(&audit_counts, name);

	if (!n) {
		bpf_map_update_elem(&audit_counts, name, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&audit_counts, name);
	}
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		counter_inc(&python_stats, PY_STAT_AUDIT_OVERFLOW);
}

SEC("usdt")
int BPF_USDT(audit, const char *event, void *args)
{
	char name[PY_AUDIT_NAME_LEN] = {}, key[PY_AUDIT_NAME_LEN] = {};

	if (bpf_probe_read_user_str(name, sizeof(name), event) <= 1 || !audit_matches(name, key))
		return 0;
	audit_count(name);
	return 0;
}
