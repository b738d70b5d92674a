// SPDX-License-Identifier: MIT
/* Unit tests of aet_probe_histogram_buckets (probe/buckets.c): what it
 * refuses, and the millionths it hands to the probe. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "../../probe/buckets.c"

static int calls;
static uint32_t got_n;
static int64_t got[AET_PROBE_BUCKETS_MAX];

/* The probe, here a function that records what it was given. */
void aet_probe_histogram_bounds(const char *name, const int64_t *bounds_micros, uint32_t n)
{
	cr_assert_str_eq(name, "h");
	calls++;
	got_n = n;
	memcpy(got, bounds_micros, n * sizeof(*bounds_micros));
}

Test(probe_buckets, rounded_to_millionths)
{
	static const double b[] = { -1, 0, 0.000001, 0.005, 0.1, 0.3, 2.5, 9e12 };

	calls = 0;
	cr_assert_eq(aet_probe_histogram_buckets("h", b, 8), 0);
	cr_assert_eq(calls, 1);
	cr_assert_eq(got_n, 8);
	cr_assert_eq(got[0], -1000000);
	cr_assert_eq(got[1], 0);
	cr_assert_eq(got[2], 1);
	cr_assert_eq(got[3], 5000);
	cr_assert_eq(got[4], 100000);
	cr_assert_eq(got[5], 300000); /* 0.29999999999999998890 as a double */
	cr_assert_eq(got[6], 2500000);
	cr_assert_eq(got[7], 9000000000000000000LL);
}

Test(probe_buckets, refused_without_a_call)
{
	double sixteen[AET_PROBE_BUCKETS_MAX + 1];

	for (int i = 0; i <= AET_PROBE_BUCKETS_MAX; i++)
		sixteen[i] = i + 1;
	calls = 0;
	cr_assert_eq(aet_probe_histogram_buckets("h", sixteen, AET_PROBE_BUCKETS_MAX), 0);
	cr_assert_eq(got[AET_PROBE_BUCKETS_MAX - 1], 16000000);
	cr_assert_eq(aet_probe_histogram_buckets("h", sixteen, AET_PROBE_BUCKETS_MAX + 1), -1);
	cr_assert_eq(aet_probe_histogram_buckets("h", sixteen, 0), -1);
	cr_assert_eq(aet_probe_histogram_buckets(NULL, sixteen, 1), -1);
	cr_assert_eq(aet_probe_histogram_buckets("h", NULL, 1), -1);
	cr_assert_eq(aet_probe_histogram_buckets("h", (double[]){ 1, NAN }, 2), -1);
	cr_assert_eq(aet_probe_histogram_buckets("h", (double[]){ 1, INFINITY }, 2), -1);
	cr_assert_eq(aet_probe_histogram_buckets("h", (double[]){ -INFINITY, 1 }, 2), -1);
	cr_assert_eq(aet_probe_histogram_buckets("h", (double[]){ 1, 9.1e12 }, 2), -1);
	cr_assert_eq(aet_probe_histogram_buckets("h", (double[]){ 2, 1 }, 2), -1);
	cr_assert_eq(aet_probe_histogram_buckets("h", (double[]){ 1, 1 }, 2), -1);
	/* distinct doubles, one millionth once rounded */
	cr_assert_eq(aet_probe_histogram_buckets("h", (double[]){ 1, 1.0000001 }, 2), -1);
	cr_assert_eq(calls, 1);
}
