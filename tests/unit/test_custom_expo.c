// SPDX-License-Identifier: MIT
/* Unit tests of the custom metrics' exposition (user/custom_expo.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#include "buf.h"
#include "custom_expo.h"

static struct custom_sample s[8];
static struct custom_left_out left;

static void add(int i, __u32 type, const char *name, const char *labels, __u64 count, __s64 sum)
{
	struct custom_value v = { .count = count, .sum = sum };

	custom_sample_set(&s[i], type, name, labels, &v, &left);
}

/* The exposition of the first n samples. */
static char *written(int n)
{
	struct buf b;
	char *out;

	buf_init(&b);
	cr_assert_eq(custom_samples_write(s, n, &b, &left), 0);
	out = strndup(b.data, b.len);
	buf_free(&b);
	return out;
}

Test(custom_expo, names_and_keys_made_valid)
{
	memset(&left, 0, sizeof(left));
	add(0, CUSTOM_COUNTER, "tokens used/\xc3\xbc", "9k=v;__r=x;a-b=\"q\"", 3, 0);
	cr_assert_str_eq(s[0].family, "aet_custom_tokens_used____total");
	cr_assert_str_eq(s[0].labels, "a_b=\"\\\"q\\\"\",x9k=\"v\",x__r=\"x\"");
	add(1, CUSTOM_COUNTER, "done_total", "", 1, 0);
	cr_assert_str_eq(s[1].family, "aet_custom_done_total");
	add(2, CUSTOM_HISTOGRAM, "h", "le=1", 0, 0);
	cr_assert_str_eq(s[2].labels, "x_le=\"1\"");
	add(3, CUSTOM_GAUGE, "g", "\xc3\xa9t\xc3\xa9=1;_a=2", 0, 0);
	cr_assert_str_eq(s[3].labels, "_a=\"2\",x__t__=\"1\"");
	cr_assert_eq(left.label_pairs, 0);
}

Test(custom_expo, pairs_left_out_are_counted)
{
	memset(&left, 0, sizeof(left));
	add(0, CUSTOM_GAUGE, "g", "a=1;;b;=2;a=3;c=4;d=5;e=6;f=7", 0, 5);
	cr_assert_str_eq(s[0].labels, "a=\"1\",c=\"4\",d=\"5\",e=\"6\"");
	/* "b" and "=2" malformed, a second "a", "f" the fifth */
	cr_assert_eq(left.label_pairs, 4);
}

Test(custom_expo, same_rendering_merged_other_type_left_out)
{
	char *out;

	memset(&left, 0, sizeof(left));
	add(0, CUSTOM_COUNTER, "n", "b=2;a=1", 2, 0);
	add(1, CUSTOM_COUNTER, "n", "a=1;b=2", 3, 0);
	add(2, CUSTOM_GAUGE, "n_total", "", 0, -4);
	add(3, CUSTOM_GAUGE, "g", NULL, 0, -4);
	out = written(4);
	cr_assert_str_eq(out, "# HELP aet_custom_g Custom gauge of the application (probe ABI "
			      "version 2).\n# TYPE aet_custom_g gauge\n"
			      "aet_custom_g{series=\"__overflow__\"} -4\n"
			      "# HELP aet_custom_n_total Custom counter of the application (probe "
			      "ABI version 2).\n# TYPE aet_custom_n_total counter\n"
			      "aet_custom_n_total{a=\"1\",b=\"2\"} 5\n");
	cr_assert_eq(left.series, 1);
	free(out);
}

Test(custom_expo, histogram_cumulative_with_sum_in_units)
{
	struct custom_value v = { .sum = 1250000 };
	char *out;

	memset(&left, 0, sizeof(left));
	v.buckets[0] = 1;
	v.buckets[HIST_FINITE] = 2;
	custom_sample_set(&s[0], CUSTOM_HISTOGRAM, "h", "", &v, &left);
	out = written(1);
	cr_assert(strstr(out, "aet_custom_h_bucket{le=\"0.0001\"} 1\n"));
	cr_assert(strstr(out, "aet_custom_h_bucket{le=\"60\"} 1\n"));
	cr_assert(strstr(out, "aet_custom_h_bucket{le=\"+Inf\"} 3\n"));
	cr_assert(strstr(out, "aet_custom_h_sum 1.25\naet_custom_h_count 3\n"));
	free(out);
}

Test(custom_expo, overflow_of_names_one_per_type)
{
	memset(&left, 0, sizeof(left));
	add(0, CUSTOM_HISTOGRAM, CUSTOM_OVERFLOW, NULL, 0, 0);
	cr_assert_str_eq(s[0].family, "aet_custom___overflow_histogram__");
	cr_assert_str_eq(s[0].labels, "series=\"__overflow__\"");
}

Test(custom_expo, declared_bounds_written_as_values_then_inf)
{
	static const __s64 le[] = { 5000, 100000, 2500000, 10000000 };
	struct custom_value v = { .sum = -250000, .nbounds = 4 };
	char *out;

	memset(&left, 0, sizeof(left));
	v.buckets[0] = 2; /* two at or below 0.005 */
	v.buckets[2] = 1;
	v.buckets[4] = 3; /* +Inf: bucket nbounds */
	custom_sample_set(&s[0], CUSTOM_HISTOGRAM, "lat", "a=1", &v, &left);
	custom_sample_bounds(&s[0], le, 4);
	out = written(1);
	cr_assert_str_eq(out, "# HELP aet_custom_lat Custom histogram of the application (probe "
			      "ABI version 2).\n# TYPE aet_custom_lat histogram\n"
			      "aet_custom_lat_bucket{a=\"1\",le=\"0.005\"} 2\n"
			      "aet_custom_lat_bucket{a=\"1\",le=\"0.1\"} 2\n"
			      "aet_custom_lat_bucket{a=\"1\",le=\"2.5\"} 3\n"
			      "aet_custom_lat_bucket{a=\"1\",le=\"10\"} 3\n"
			      "aet_custom_lat_bucket{a=\"1\",le=\"+Inf\"} 6\n"
			      "aet_custom_lat_sum{a=\"1\"} -0.25\n"
			      "aet_custom_lat_count{a=\"1\"} 6\n");
	free(out);
}

Test(custom_expo, other_bounds_of_a_family_left_out_same_merged)
{
	static const __s64 a[] = { 1000000 }, b[] = { 2000000 };
	struct custom_value v = { .nbounds = 1 };
	char *out;

	memset(&left, 0, sizeof(left));
	v.buckets[0] = 1;
	/* "x-y" and "x_y" render the same: merged when their bounds are. */
	custom_sample_set(&s[0], CUSTOM_HISTOGRAM, "x-y", "", &v, &left);
	custom_sample_bounds(&s[0], b, 1);
	custom_sample_set(&s[1], CUSTOM_HISTOGRAM, "x_y", "", &v, &left);
	custom_sample_bounds(&s[1], a, 1);
	custom_sample_set(&s[2], CUSTOM_HISTOGRAM, "x.y", "", &v, &left);
	custom_sample_bounds(&s[2], a, 1);
	out = written(3);
	cr_assert(strstr(out, "aet_custom_x_y_bucket{le=\"1\"} 2\n"
			      "aet_custom_x_y_bucket{le=\"+Inf\"} 2\n"));
	cr_assert(!strstr(out, "le=\"2\""));
	cr_assert_eq(left.series, 1);
	free(out);
}
