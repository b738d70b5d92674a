/* SPDX-License-Identifier: MIT */
/*
 * Maps of bpf/python.bpf.c (the target's CPython runtime, from the USDT
 * probes of its interpreter) read by user/python.c.
 */
#ifndef AET_PYTHON_MAPS_H
#define AET_PYTHON_MAPS_H

#include "hist_map.h"

#define PY_GENERATIONS 3 /* CPython's collector: generations 0, 1 and 2 */

/* One generation's collections: their pauses (gc__start to gc__done on
 * the same thread; the histogram's count is the collections) and the
 * objects they collected (gc__done's argument: collected and
 * uncollectable). */
struct py_gc {
	struct hist pause;
	__u64 collected;
};

/* A collection in progress on a thread: when it started, which generation. */
struct py_gc_start {
	__u64 ns;
	__u32 generation;
	__u32 pad;
};

/* python_stats: what was not counted, or counted apart. */
enum py_stat {
	PY_STAT_UNSTARTED,	/* a gc__done whose gc__start was not seen (attached mid-way) */
	PY_STAT_GENERATION,	/* a gc__start of a generation past PY_GENERATIONS */
	PY_STAT_AUDIT_OVERFLOW, /* an audit event matched, its name not in full audit_counts */
	PY_STAT_MAX,
};

/*
 * The audit trail (--audit): the filter is at most PY_AUDIT_FILTERS
 * entries, each a name of 1 to PY_AUDIT_NAME_LEN - 1 bytes, the key of
 * audit_filter zero-padded. An event matches an entry equal to it, or equal
 * to its part before one of its dots ("socket" matches socket.connect and
 * socket.bind, "os.exec" matches os.exec; "sock" matches nothing). The
 * events matched are counted by their own name, in audit_counts.
 */
#define PY_AUDIT_FILTERS  16
#define PY_AUDIT_NAME_LEN 64  /* an event's name, NUL included: longer ones are cut */
#define PY_AUDIT_ARG_LEN  128 /* a span event's argument (127 bytes) */
#define PY_AUDIT_COUNTS	  256 /* event names counted; the rest are counted as overflow */

/* The one entry of audit_config, written by user space at attach. */
struct py_audit_config {
	/* The interpreter's layout is CPython 3.11's on x86_64: the
	 * argument of a span event may be read (bpf/python.bpf.c). */
	__u32 read_arg;
	__u32 pad;
};

/* What follows the span_record (kind SPAN_EVENT) of an audit event: the
 * span open on its thread is the record's span_id, its time start_ns;
 * op is 1 when arg holds the event's first argument. */
struct py_audit_text {
	char name[PY_AUDIT_NAME_LEN];
	char arg[PY_AUDIT_ARG_LEN];
};

#endif /* AET_PYTHON_MAPS_H */
