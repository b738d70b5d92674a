/* SPDX-License-Identifier: MIT */
/* The time of a clock, read one way everywhere. CLOCK_MONOTONIC is the clock
 * of bpf_ktime_get_ns(), so kernel timestamps compare with clock_ns(). */
#ifndef AET_CLOCK_H
#define AET_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NSEC_PER_SEC  1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

static inline uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_ms(clockid_t clk)
{
	return clock_ns(clk) / NSEC_PER_MSEC;
}

static inline double clock_seconds(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The time ms milliseconds from now on clock clk, as an absolute timeout
 * (pthread_cond_timedwait() on a condition of that clock). */
static inline struct timespec clock_after_ms(clockid_t clk, uint64_t ms)
{
	uint64_t ns = clock_ns(clk) + ms * NSEC_PER_MSEC;

	return (struct timespec){ .tv_sec = (time_t)(ns / NSEC_PER_SEC),
				  .tv_nsec = (long)(ns % NSEC_PER_SEC) };
}

#endif /* AET_CLOCK_H */
