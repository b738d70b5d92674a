// SPDX-License-Identifier: MIT
/*
 * aet_probe_histogram_buckets: the one function of libaetprobe.so that is
 * not a probe. A uprobe program sees the integer registers, not the SSE
 * ones, and has no floating point: the bounds are checked and converted to
 * millionths here, then handed to the probe aet_probe_histogram_bounds,
 * whose program reads them from memory (docs/DESIGN.md, 16. Custom
 * metrics). No libc: the library needs none.
 */
#include <aet/probe.h>

/* |bound| * 1e6 stays well within int64_t. */
#define BOUND_MAX 9e12

int aet_probe_histogram_buckets(const char *name, const double *bounds, size_t n)
{
	int64_t le[AET_PROBE_BUCKETS_MAX];

	if (!name || !bounds || n < 1 || n > AET_PROBE_BUCKETS_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		double d = bounds[i] * 1e6;

		/* false for NaN too */
		if (!(bounds[i] >= -BOUND_MAX && bounds[i] <= BOUND_MAX))
			return -1;
		/* the nearest millionth, halves away from zero */
		le[i] = (int64_t)(d < 0 ? d - 0.5 : d + 0.5);
		if (i && le[i] <= le[i - 1])
			return -1;
	}
	aet_probe_histogram_bounds(name, le, (uint32_t)n);
	return 0;
}
