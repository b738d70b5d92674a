/* SPDX-License-Identifier: MIT */
/*
 * Histogram buckets shared by the BPF programs and the exposition writer.
 * Upper bounds in nanoseconds of these, in seconds (docs/DESIGN.md, 4. Maps and bounds):
 * 0.0001 0.0005 0.001 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 +Inf
 */
#ifndef AET_HIST_H
#define AET_HIST_H

#define HIST_FINITE  16
#define HIST_BUCKETS (HIST_FINITE + 1) /* the last one is +Inf */

#define HIST_BOUNDS_NS                                                                        \
	{                                                                                     \
		100000ULL, 500000ULL, 1000000ULL, 5000000ULL, 10000000ULL, 25000000ULL,       \
			50000000ULL, 100000000ULL, 250000000ULL, 500000000ULL, 1000000000ULL, \
			2500000000ULL, 5000000000ULL, 10000000000ULL, 30000000000ULL,         \
			60000000000ULL                                                        \
	}

#endif /* AET_HIST_H */
