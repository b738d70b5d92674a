/* SPDX-License-Identifier: MIT */
/* The histogram value of the BPF maps, shared by bpf/ and user/. */
#ifndef AET_HIST_MAP_H
#define AET_HIST_MAP_H

#include "hist.h"

/*
 * A histogram of durations: per-bucket counts (not cumulative; the last is
 * +Inf) and their sum in nanoseconds. The count is the sum of the buckets.
 */
struct hist {
	__u64 buckets[HIST_BUCKETS];
	__u64 sum_ns;
};

#endif /* AET_HIST_MAP_H */
