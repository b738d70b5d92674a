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
 * per dot in it. With tracing, a matched event is an event of the sampled
 * span open on its thread (a SPAN_EVENT record), with its first argument
 * when that is an ASCII str.
 *
 * The argument is read through CPython's own structures, which CO-RE does
 * not know: the offsets below are CPython 3.11's on x86_64
 * (Include/cpython/tupleobject.h, object.h, unicodeobject.h), and user
 * space lets them be used only for an interpreter it knows to be 3.11
 * (audit_config); for another, events go without their argument.
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
#include "spans.bpf.h"
#include "own_stack.bpf.h"

#define PY_TUPLE_SIZE	 16	     /* PyVarObject.ob_size of a tuple */
#define PY_TUPLE_ITEM0	 24	     /* PyTupleObject.ob_item[0] */
#define PY_OB_TYPE	 8	     /* PyObject.ob_type */
#define PY_TP_FLAGS	 168	     /* PyTypeObject.tp_flags (unsigned long) */
#define PY_UNICODE_FLAG	 (1UL << 28) /* Py_TPFLAGS_UNICODE_SUBCLASS: a str */
#define PY_STR_STATE	 32	     /* PyASCIIObject.state: interned:2 kind:3 compact:1 ascii:1 */
#define PY_COMPACT_ASCII 0x60	     /* state's compact and ascii bits */
#define PY_ASCII_DATA	 48	     /* sizeof(PyASCIIObject): a compact ASCII str's bytes */

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

/* struct py_audit_config */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct py_audit_config);
} audit_config SEC(".maps");

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

/* Event args' first item into dst when it is a compact ASCII str (cut at
 * PY_AUDIT_ARG_LEN - 1 bytes, or at a NUL in it). Returns whether it was. */
static __always_inline __u32 audit_arg(char *dst, const char *args)
{
	const struct py_audit_config *c;
	const char *item, *type;
	__u64 flags;
	long size;
	__u32 zero = 0, state;

	dst[0] = '\0';
	c = bpf_map_lookup_elem(&audit_config, &zero);
	if (!c || !c->read_arg || !args ||
	    bpf_probe_read_user(&size, sizeof(size), args + PY_TUPLE_SIZE) || size < 1 ||
	    bpf_probe_read_user(&item, sizeof(item), args + PY_TUPLE_ITEM0) || !item ||
	    bpf_probe_read_user(&type, sizeof(type), item + PY_OB_TYPE) || !type ||
	    bpf_probe_read_user(&flags, sizeof(flags), type + PY_TP_FLAGS) ||
	    !(flags & PY_UNICODE_FLAG) ||
	    bpf_probe_read_user(&state, sizeof(state), item + PY_STR_STATE) ||
	    (state & PY_COMPACT_ASCII) != PY_COMPACT_ASCII)
		return 0;
	return bpf_probe_read_user_str(dst, PY_AUDIT_ARG_LEN, item + PY_ASCII_DATA) > 0;
}

/* Event name (args: its arguments) as an event of the sampled span open
 * on this thread, if any: a record user space adds to that span. */
static __always_inline void audit_span_event(const char *name, const char *args)
{
	struct span_thread *t = thread_state(&span_threads, false);
	const struct span_frame *f = t ? span_top(t) : NULL;
	__u64 id = bpf_get_current_pid_tgid();
	struct py_audit_text *x;
	struct span_record *r;

	if (!f || !(f->flags & SPAN_F_SAMPLED))
		return;
	r = span_reserve(sizeof(*r) + sizeof(*x));
	if (!r)
		return;
	x = (void *)(r + 1);
	r->trace_id[0] = f->trace_id[0];
	r->trace_id[1] = f->trace_id[1];
	r->span_id = f->span_id;
	r->parent_id = 0;
	r->start_ns = r->end_ns = bpf_ktime_get_ns();
	r->id = 0;
	r->tgid = id >> 32;
	r->tid = (__u32)id;
	r->status = 0;
	r->kind = SPAN_EVENT;
	r->flags = SPAN_F_SAMPLED;
	r->pad = 0;
	__builtin_memcpy(x->name, name, PY_AUDIT_NAME_LEN);
	r->op = audit_arg(x->arg, args);
	span_submit(r);
}

/* Its stack (the name twice, a record's text) is past the private stack's
 * 64 bytes: on its task's (bpf/own_stack.bpf.h). */
SEC("usdt")
int OWN_STACK_USDT(audit, const char *event, void *args)
{
	char name[PY_AUDIT_NAME_LEN] = {}, key[PY_AUDIT_NAME_LEN] = {};

	if (bpf_probe_read_user_str(name, sizeof(name), event) <= 1 || !audit_matches(name, key))
		return 0;
	audit_count(name);
	if (span_cfg())
		audit_span_event(name, args);
	return 0;
}
