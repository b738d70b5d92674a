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

/* python_stats: what was not counted. */
enum py_stat {
	PY_STAT_UNSTARTED,  /* a gc__done whose gc__start was not seen (attached mid-way) */
	PY_STAT_GENERATION, /* a gc__start of a generation past PY_GENERATIONS */
	PY_STAT_MAX,
};

#endif /* AET_PYTHON_MAPS_H */
