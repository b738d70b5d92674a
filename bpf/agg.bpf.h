/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Aggregation helpers shared by the BPF programs: counters and histograms
 * (layout: include/hist_map.h). */
#ifndef AET_AGG_BPF_H
#define AET_AGG_BPF_H

#include "hist_map.h"

/* Adds one observation of ns nanoseconds to histogram h. Prometheus buckets
 * are "less than or equal": le="0.001" counts 1,000,000 ns. */
static __always_inline void hist_observe(struct hist *h, __u64 ns)
{
	static const __u64 bounds[HIST_FINITE] = HIST_BOUNDS_NS;
	__u32 b = HIST_FINITE;

#pragma unroll
	for (__u32 i = 0; i < HIST_FINITE; i++) {
		if (ns <= bounds[i]) {
			b = i;
			break;
		}
	}
	if (b < HIST_BUCKETS)
		__sync_fetch_and_add(&h->buckets[b], 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
}

/* Adds one to the u64 at idx of array map. */
static __always_inline void counter_inc(void *map, __u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(map, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

#endif /* AET_AGG_BPF_H */
