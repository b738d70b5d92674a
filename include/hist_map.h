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

/* The number of observations: the sum of the buckets. */
static inline __u64 hist_count(const struct hist *h)
{
	__u64 n = 0;

	for (int i = 0; i < HIST_BUCKETS; i++)
		n += h->buckets[i];
	return n;
}

/* Adds histogram h into sum, bucket by bucket (user space, at scrape). */
static inline void hist_add(struct hist *sum, const struct hist *h)
{
	for (int i = 0; i < HIST_BUCKETS; i++)
		sum->buckets[i] += h->buckets[i];
	sum->sum_ns += h->sum_ns;
}

#endif /* AET_HIST_MAP_H */
