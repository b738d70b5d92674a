// SPDX-License-Identifier: MIT
/* Unit tests of the Prometheus exposition writer (user/expo.c). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "expo.h"

#define FFFD	      "\xef\xbf\xbd"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct buf out;

static void setup(void)
{
	buf_init(&out);
}

static void teardown(void)
{
	buf_free(&out);
}

/* Writes f into out, frees f and returns the text. */
static const char *render(struct metric *f)
{
	cr_assert_not_null(f);
	metric__write(f, &out);
	metric__free(f);
	cr_assert_eq(out.oom, 0);
	return out.data ? out.data : "";
}

static const char *const l_mode[] = { "mode" };
static const char *const l_agent_mode[] = { "agent", "mode" };

TestSuite(expo, .init = setup, .fini = teardown, .timeout = 5.);

Test(expo, counter_without_labels)
{
	struct metric *f = metric__new("aet_cycles_total", "Cycles.", METRIC_COUNTER, 0, NULL);

	cr_assert_eq(metric__add(f, NULL, 42), 0);
	cr_assert_str_eq(render(f), "# HELP aet_cycles_total Cycles.\n"
				    "# TYPE aet_cycles_total counter\n"
				    "aet_cycles_total 42\n");
}

Test(expo, gauge_sorted_by_label)
{
	struct metric *f = metric__new("aet_active_tasks", "Open tasks.", METRIC_GAUGE, 1, l_mode);

	cr_assert_eq(metric__add(f, (const char *[]){ "sync" }, 1), 0);
	cr_assert_eq(metric__add(f, (const char *[]){ "async" }, 2.5), 0);
	cr_assert_eq(metric__add(f, (const char *[]){ "batch" }, -3), 0);
	cr_assert_eq(metric__add(f, (const char *[]){ "" }, 7), 0);
	cr_assert_str_eq(render(f), "# HELP aet_active_tasks Open tasks.\n"
				    "# TYPE aet_active_tasks gauge\n"
				    "aet_active_tasks{mode=\"\"} 7\n"
				    "aet_active_tasks{mode=\"async\"} 2.5\n"
				    "aet_active_tasks{mode=\"batch\"} -3\n"
				    "aet_active_tasks{mode=\"sync\"} 1\n");
}

/* Each line's label set is as long as its own, whichever sample follows it
 * in the metric: a prefix of another, empty, at the bound, the last one. */
Test(expo, label_sets_of_every_length_in_any_order)
{
	static const char long_value[] =
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"; /* 63 */
	static const char *const l_two[] = { "agent", "op" };
	struct metric *f = metric__new("m", NULL, METRIC_COUNTER, 2, l_two);

	cr_assert_eq(metric__add(f, (const char *[]){ long_value, "x" }, 1), 0);
	cr_assert_eq(metric__add(f, (const char *[]){ "ab", "" }, 2), 0);
	cr_assert_eq(metric__add(f, (const char *[]){ "", "" }, 3), 0);
	cr_assert_eq(metric__add(f, (const char *[]){ "a", "\"q\"" }, 4), 0);
	cr_assert_str_eq(render(f), "# TYPE m counter\n"
				    "m{agent=\"\",op=\"\"} 3\n"
				    "m{agent=\"a\",op=\"\\\"q\\\"\"} 4\n"
				    "m{agent=\"ab\",op=\"\"} 2\n"
				    "m{agent=\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
				    "abcdefghijk\",op=\"x\"} 1\n");
}

Test(expo, two_labels_sorted_and_merged)
{
	struct metric *f = metric__new("t_total", "T.", METRIC_COUNTER, 2, l_agent_mode);

	metric__add(f, (const char *[]){ "b", "x" }, 1);
	metric__add(f, (const char *[]){ "a", "y" }, 2);
	metric__add(f, (const char *[]){ "a", "x" }, 3);
	metric__add(f, (const char *[]){ "b", "x" }, 4);
	metric__add(f, (const char *[]){ "a", "x" }, 0.5);
	cr_assert_str_eq(render(f), "# HELP t_total T.\n"
				    "# TYPE t_total counter\n"
				    "t_total{agent=\"a\",mode=\"x\"} 3.5\n"
				    "t_total{agent=\"a\",mode=\"y\"} 2\n"
				    "t_total{agent=\"b\",mode=\"x\"} 5\n");
}

Test(expo, long_common_prefix_sorted)
{
	static const char *const l_path[] = { "path" };
	struct metric *f = metric__new("p", "P.", METRIC_GAUGE, 1, l_path);

	metric__add(f, (const char *[]){ "/var/lib/aet/knowledge-2.db" }, 2);
	metric__add(f, (const char *[]){ "/var/lib/aet/knowledge-10.db" }, 10);
	metric__add(f, (const char *[]){ "/var/lib/aet/knowledge-1.db" }, 1);
	metric__add(f, (const char *[]){ "/var/lib/aet/knowledge" }, 0);
	metric__add(f, (const char *[]){ "/var/lib/aet/knowledge-2.db" }, 0.5);
	cr_assert_str_eq(render(f), "# HELP p P.\n# TYPE p gauge\n"
				    "p{path=\"/var/lib/aet/knowledge\"} 0\n"
				    "p{path=\"/var/lib/aet/knowledge-1.db\"} 1\n"
				    "p{path=\"/var/lib/aet/knowledge-10.db\"} 10\n"
				    "p{path=\"/var/lib/aet/knowledge-2.db\"} 2.5\n");
}

Test(expo, merged_in_insertion_order)
{
	struct metric *f = metric__new("o", "O.", METRIC_GAUGE, 1, l_mode);

	/* 1e16 + 1 rounds back to 1e16: only this order of addition gives 0 */
	metric__add(f, (const char *[]){ "x" }, 1e16);
	metric__add(f, (const char *[]){ "y" }, 0);
	metric__add(f, (const char *[]){ "x" }, 1);
	metric__add(f, (const char *[]){ "w" }, 0);
	metric__add(f, (const char *[]){ "x" }, -1e16);
	metric__add(f, (const char *[]){ "x" }, 0.5);
	cr_assert_str_eq(render(f), "# HELP o O.\n# TYPE o gauge\n"
				    "o{mode=\"w\"} 0\no{mode=\"x\"} 0.5\no{mode=\"y\"} 0\n");
}

Test(expo, unlabelled_duplicates_merge)
{
	struct metric *f = metric__new("g", "G.", METRIC_GAUGE, 0, NULL);

	metric__add(f, NULL, 1);
	metric__add(f, NULL, 2);
	cr_assert_str_eq(render(f), "# HELP g G.\n# TYPE g gauge\ng 3\n");
}

Test(expo, distinct_raw_values_rendering_alike_merge)
{
	struct metric *f = metric__new("e_total", "E.", METRIC_COUNTER, 1, l_mode);

	metric__add(f, (const char *[]){ "a\xff" }, 1);
	metric__add(f, (const char *[]){ "b" }, 10);
	metric__add(f, (const char *[]){ "a\xfe" }, 2);
	metric__add(f, (const char *[]){ "a" FFFD }, 4); /* already what the others become */
	cr_assert_str_eq(render(f), "# HELP e_total E.\n"
				    "# TYPE e_total counter\n"
				    "e_total{mode=\"a" FFFD "\"} 7\n"
				    "e_total{mode=\"b\"} 10\n");
}

Test(expo, values_cut_at_the_bound_merge)
{
	char a[80], b[80];
	struct metric *f = metric__new("c", "C.", METRIC_COUNTER, 1, l_mode);

	memset(a, 'x', sizeof(a));
	memset(b, 'x', sizeof(b));
	a[70] = b[75] = '\0';
	b[64] = 'y'; /* beyond the 63 bytes that count */
	metric__add(f, (const char *[]){ a }, 1);
	metric__add(f, (const char *[]){ b }, 1);
	cr_assert_str_eq(
		render(f),
		"# HELP c C.\n# TYPE c counter\n"
		"c{mode=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"} 2\n");
}

Test(expo, help_escaped_and_optional)
{
	struct metric *f = metric__new("h", "a \\ b\nc \"q\"", METRIC_GAUGE, 0, NULL);

	metric__add(f, NULL, 1);
	cr_assert_str_eq(render(f), "# HELP h a \\\\ b\\nc \"q\"\n# TYPE h gauge\nh 1\n");
	buf_reset(&out);
	f = metric__new("h", NULL, METRIC_GAUGE, 0, NULL);
	metric__add(f, NULL, 1);
	cr_assert_str_eq(render(f), "# TYPE h gauge\nh 1\n");
}

/* The text format is UTF-8 throughout: HELP too (found by tests/fuzz/fuzz_expo.c). */
Test(expo, help_made_utf8)
{
	struct metric *f =
		metric__new("h", "a\xff\\\xc3\xa9\xe2\x82 \xed\xa0\x80", METRIC_GAUGE, 0, NULL);

	metric__add(f, NULL, 1);
	cr_assert_str_eq(render(f), "# HELP h a" FFFD "\\\\\xc3\xa9" FFFD FFFD " " FFFD FFFD FFFD
				    "\n# TYPE h gauge\nh 1\n");
}

Test(expo, empty_family_writes_header_only)
{
	cr_assert_str_eq(render(metric__new("z", "Z.", METRIC_HISTOGRAM, 1, l_mode)),
			 "# HELP z Z.\n# TYPE z histogram\n");
}

Test(expo, write_appends)
{
	struct metric *f = metric__new("a", "A.", METRIC_GAUGE, 0, NULL);

	buf_puts(&out, "before\n");
	metric__add(f, NULL, 1);
	metric__write(f, &out);
	metric__write(f, &out); /* writing does not consume the samples */
	cr_assert_str_eq(render(f), "before\n"
				    "# HELP a A.\n# TYPE a gauge\na 1\n"
				    "# HELP a A.\n# TYPE a gauge\na 1\n"
				    "# HELP a A.\n# TYPE a gauge\na 1\n");
}

Test(expo, misuse_rejected)
{
	static const char *const six[] = { "a", "b", "c", "d", "e", "f" };
	uint64_t b[HIST_BUCKETS] = { 0 };
	struct metric *c = metric__new("c", "C.", METRIC_COUNTER, 0, NULL);
	struct metric *h = metric__new("h", "H.", METRIC_HISTOGRAM, 0, NULL);

	cr_assert_null(metric__new("x", "X.", METRIC_GAUGE, 6, six));
	cr_assert_null(metric__new("x", "X.", METRIC_GAUGE, -1, NULL));
	cr_assert_eq(metric__add_hist(c, NULL, b, 0, 0), -EINVAL);
	cr_assert_eq(metric__add(h, NULL, 1), -EINVAL);
	metric__free(c);
	metric__free(h);
	metric__free(NULL);
}

/* buckets[i] = i + 1 for the finite ones, so the cumulative counts are 1 3 6 10 ... 136. */
// clang-format off
#define HIST_LINES(name, labels, sep)                                                           \
	name "_bucket{" labels sep "le=\"0.0001\"} 1\n"                                         \
	name "_bucket{" labels sep "le=\"0.0005\"} 3\n"                                         \
	name "_bucket{" labels sep "le=\"0.001\"} 6\n"                                          \
	name "_bucket{" labels sep "le=\"0.005\"} 10\n"                                         \
	name "_bucket{" labels sep "le=\"0.01\"} 15\n"                                          \
	name "_bucket{" labels sep "le=\"0.025\"} 21\n"                                         \
	name "_bucket{" labels sep "le=\"0.05\"} 28\n"                                          \
	name "_bucket{" labels sep "le=\"0.1\"} 36\n"                                           \
	name "_bucket{" labels sep "le=\"0.25\"} 45\n"                                          \
	name "_bucket{" labels sep "le=\"0.5\"} 55\n"                                           \
	name "_bucket{" labels sep "le=\"1\"} 66\n"                                             \
	name "_bucket{" labels sep "le=\"2.5\"} 78\n"                                           \
	name "_bucket{" labels sep "le=\"5\"} 91\n"                                             \
	name "_bucket{" labels sep "le=\"10\"} 105\n"                                           \
	name "_bucket{" labels sep "le=\"30\"} 120\n"                                           \
	name "_bucket{" labels sep "le=\"60\"} 136\n"
// clang-format on

static void triangle(uint64_t b[HIST_BUCKETS], uint64_t inf)
{
	for (int i = 0; i < HIST_FINITE; i++)
		b[i] = (uint64_t)i + 1;
	b[HIST_FINITE] = inf;
}

Test(expo, histogram_with_labels)
{
	// clang-format off
	static const char want[] =
		"# HELP aet_task_duration_seconds Task duration.\n"
		"# TYPE aet_task_duration_seconds histogram\n"
		HIST_LINES("aet_task_duration_seconds", "agent=\"coder\",mode=\"fast\"", ",")
		"aet_task_duration_seconds_bucket{agent=\"coder\",mode=\"fast\",le=\"+Inf\"} 140\n"
		"aet_task_duration_seconds_sum{agent=\"coder\",mode=\"fast\"} 3.25\n"
		"aet_task_duration_seconds_count{agent=\"coder\",mode=\"fast\"} 140\n";
	// clang-format on
	struct metric *f = metric__new("aet_task_duration_seconds", "Task duration.",
				       METRIC_HISTOGRAM, 2, l_agent_mode);
	uint64_t b[HIST_BUCKETS];

	triangle(b, 4);
	cr_assert_eq(metric__add_hist(f, (const char *[]){ "coder", "fast" }, b, 3.25, 140), 0);
	cr_assert_str_eq(render(f), want);
}

Test(expo, histogram_without_labels)
{
	// clang-format off
	static const char want[] = "# HELP cyc C.\n# TYPE cyc histogram\n"
		HIST_LINES("cyc", "", "")
		"cyc_bucket{le=\"+Inf\"} 136\n"
		"cyc_sum 0.1\n"
		"cyc_count 136\n";
	// clang-format on
	struct metric *f = metric__new("cyc", "C.", METRIC_HISTOGRAM, 0, NULL);
	uint64_t b[HIST_BUCKETS];

	triangle(b, 0);
	metric__add_hist(f, NULL, b, 0.1, 136);
	cr_assert_str_eq(render(f), want);
}

Test(expo, histogram_inf_is_count)
{
	struct metric *f = metric__new("h", "H.", METRIC_HISTOGRAM, 0, NULL);
	uint64_t b[HIST_BUCKETS] = { 0 };

	b[HIST_FINITE] = 999; /* ignored: +Inf is the count */
	metric__add_hist(f, NULL, b, 0, 5);
	cr_assert(strstr(render(f), "h_bucket{le=\"60\"} 0\nh_bucket{le=\"+Inf\"} 5\n"
				    "h_sum 0\nh_count 5\n"));
}

Test(expo, histograms_merged_and_sorted)
{
	struct metric *f = metric__new("m", "M.", METRIC_HISTOGRAM, 1, l_mode);
	uint64_t b1[HIST_BUCKETS] = { 0 }, b2[HIST_BUCKETS] = { 0 }, b3[HIST_BUCKETS] = { 0 };

	b1[0] = 1;
	b1[15] = 2;
	b2[0] = 10;
	b2[16] = 5;
	b3[3] = 7;
	metric__add_hist(f, (const char *[]){ "z\xc0" }, b1, 0.25, 3);
	metric__add_hist(f, (const char *[]){ "y" }, b3, 1, 7);
	metric__add_hist(f, (const char *[]){ "z\xc1" }, b2, 0.5, 15);
	render(f);
	cr_assert_str_eq(out.data, "# HELP m M.\n# TYPE m histogram\n"
				   "m_bucket{mode=\"y\",le=\"0.0001\"} 0\n"
				   "m_bucket{mode=\"y\",le=\"0.0005\"} 0\n"
				   "m_bucket{mode=\"y\",le=\"0.001\"} 0\n"
				   "m_bucket{mode=\"y\",le=\"0.005\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"0.01\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"0.025\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"0.05\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"0.1\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"0.25\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"0.5\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"1\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"2.5\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"5\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"10\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"30\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"60\"} 7\n"
				   "m_bucket{mode=\"y\",le=\"+Inf\"} 7\n"
				   "m_sum{mode=\"y\"} 1\n"
				   "m_count{mode=\"y\"} 7\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"0.0001\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"0.0005\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"0.001\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"0.005\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"0.01\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"0.025\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"0.05\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"0.1\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"0.25\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"0.5\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"1\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"2.5\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"5\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"10\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"30\"} 11\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"60\"} 13\n"
				   "m_bucket{mode=\"z" FFFD "\",le=\"+Inf\"} 18\n"
				   "m_sum{mode=\"z" FFFD "\"} 0.75\n"
				   "m_count{mode=\"z" FFFD "\"} 18\n");
}

Test(expo, many_samples_sorted_and_merged)
{
	static const char *const l_id[] = { "id" };
	struct metric *f = metric__new("n", "N.", METRIC_COUNTER, 1, l_id);
	char v[16], want[64];
	const char *p;

	/* 100000 samples in descending order, 1000 distinct label sets of 100 each */
	for (int i = 99999; i >= 0; i--) {
		snprintf(v, sizeof(v), "%04d", i % 1000);
		cr_assert_eq(metric__add(f, (const char *[]){ v }, i / 1000), 0);
	}
	p = render(f);
	p = strchr(strchr(p, '\n') + 1, '\n') + 1; /* past HELP and TYPE */
	for (int id = 0; id < 1000; id++) {
		snprintf(want, sizeof(want), "n{id=\"%04d\"} 4950\n", id); /* 0 + 1 + ... + 99 */
		cr_assert_eq(strncmp(p, want, strlen(want)), 0, "line %d: %.24s", id, p);
		p += strlen(want);
	}
	cr_assert_str_eq(p, "");
}

/*
 * Criterion runs each test in a freshly executed process that gets a copy
 * of the parameters: pointers into this image would not survive ASLR, so
 * the cases hold their bytes inline.
 */
struct label_case {
	char raw[16];
	char want[32];
};

ParameterizedTestParameters(expo, label_value)
{
	static struct label_case cases[] = {
		{ "plain", "plain" },
		{ "", "" },
		{ "a\"b", "a\\\"b" },
		{ "a\\b", "a\\\\b" },
		{ "a\nb", "a\\nb" },
		{ "\\\"\n", "\\\\\\\"\\n" },
		{ "tab\tcr\r", "tab\tcr\r" }, /* the format escapes only \\, \" and newline */
		{ "ab\0cd", "ab" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "\xe2\x82\xac", "\xe2\x82\xac" },
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
		{ "\xed\x9f\xbf\xee\x80\x80", "\xed\x9f\xbf\xee\x80\x80" }, /* around surrogates */
		{ "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },		    /* U+10FFFF */
		{ "\x7f", "\x7f" },
		{ "\x80", FFFD }, /* stray continuation */
		{ "a\xbf"
		  "b",
		  "a" FFFD "b" },
		{ "\xff", FFFD },
		{ "\xfe", FFFD },
		{ "\xc0\xaf", FFFD FFFD },		     /* overlong '/' */
		{ "\xc1\xbf", FFFD FFFD },		     /* overlong DEL */
		{ "\xe0\x80\xaf", FFFD FFFD FFFD },	     /* overlong, 3 bytes */
		{ "\xe0\x9f\xbf", FFFD FFFD FFFD },	     /* overlong U+07FF */
		{ "\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD }, /* overlong, 4 bytes */
		{ "\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD }, /* overlong U+FFFF */
		{ "\xed\xa0\x80", FFFD FFFD FFFD },	     /* surrogate U+D800 */
		{ "\xed\xbf\xbf", FFFD FFFD FFFD },	     /* surrogate U+DFFF */
		{ "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD }, /* U+110000 */
		{ "\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD },
		{ "\xe2\x82x", FFFD FFFD "x" }, /* sequence cut short by an ASCII byte */
		{ "\xe2\x82", FFFD FFFD },	/* short value: not cut by the bound */
		{ "\xc3\xa9\xa9", "\xc3\xa9" FFFD },
		{ "\xff\"\xfe\\", FFFD "\\\"" FFFD "\\\\" },
	};

	return cr_make_param_array(struct label_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct label_case *c, expo, label_value, .init = setup, .fini = teardown)
{
	expo_label_value(&out, c->raw);
	cr_assert_str_eq(out.data ? out.data : "", c->want);
}

/* A value of prefix_len 'a's followed by tail, and what it must render as. */
struct cut_case {
	int prefix_len;
	char tail[8];
	int want_prefix_len;
	char want_tail[16];
};

ParameterizedTestParameters(expo, label_bound)
{
	static struct cut_case cases[] = {
		{ 70, "", 63, "" },		    /* plain cut */
		{ 63, "", 63, "" },		    /* exactly 63 */
		{ 62, "\xc3\xa9", 62, "" },	    /* é cut after 1 of 2 */
		{ 61, "\xc3\xa9", 61, "\xc3\xa9" }, /* é ends at 63: kept */
		{ 61, "\xe2\x82\xac", 61, "" },	    /* € cut after 2 of 3 */
		{ 62, "\xe2\x82\xac", 62, "" },	    /* € cut after 1 of 3 */
		{ 60,
		  "\xe2\x82\xac"
		  "zz",
		  60, "\xe2\x82\xac" },				    /* € ends at 63: kept */
		{ 60, "\xf0\x9f\x98\x80", 60, "" },		    /* emoji cut after 3 of 4 */
		{ 59, "\xf0\x9f\x98\x80", 59, "\xf0\x9f\x98\x80" }, /* emoji ends at 63 */
		{ 62, "\xff", 62, FFFD },			    /* invalid, not incomplete */
		{ 61, "\xe0\x80", 61, FFFD FFFD },		    /* no valid beginning */
		{ 61, "\xed\xa0", 61, FFFD FFFD },		    /* surrogate beginning */
		{ 61, "\xf4\x90", 61, FFFD FFFD },		    /* beyond U+10FFFF */
		{ 62, "\xe0", 62, "" },	  /* a lone lead byte at the end */
		{ 62, "\x80", 62, FFFD }, /* stray continuation */
		{ 62, "\"", 62, "\\\"" }, /* the bound counts raw bytes */
	};

	return cr_make_param_array(struct cut_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct cut_case *c, expo, label_bound, .init = setup, .fini = teardown)
{
	char raw[128], want[256];

	memset(raw, 'a', (size_t)c->prefix_len);
	strcpy(raw + c->prefix_len, c->tail);
	memset(want, 'a', (size_t)c->want_prefix_len);
	strcpy(want + c->want_prefix_len, c->want_tail);
	expo_label_value(&out, raw);
	cr_assert_str_eq(out.data, want);
}

Test(expo, label_escaping_grows_past_the_bound)
{
	char raw[101], want[127];

	memset(raw, '"', 100);
	raw[100] = '\0';
	for (int i = 0; i < 63; i++)
		memcpy(want + 2 * i, "\\\"", 2);
	want[126] = '\0';
	expo_label_value(&out, raw);
	cr_assert_str_eq(out.data, want);
}

struct value_case {
	double v;
	char want[32];
};

ParameterizedTestParameters(expo, value)
{
	static struct value_case cases[] = {
		{ 42, "42" },
		{ 0, "0" },
		{ -0.0, "0" },
		{ -3, "-3" },
		{ 1e15, "1000000000000000" },
		{ 9007199254740991.0, "9007199254740991" }, /* 2^53 - 1 */
		{ -9007199254740991.0, "-9007199254740991" },
		{ 9007199254740992.0, "9007199254740992" }, /* 2^53: by the %g path */
		{ 1e21, "1e+21" },
		{ -1e300, "-1e+300" },
		{ 0.5, "0.5" },
		{ 0.1, "0.1" },
		{ -2.5, "-2.5" },
		{ 1e-4, "0.0001" },
		{ 1.5e-7, "1.5e-07" },
		{ 123456.789, "123456.789" },
		{ 1.0 / 3, "0.3333333333333333" },    /* needs 16 digits */
		{ 0.1 + 0.2, "0.30000000000000004" }, /* needs 17 */
		{ 1000000000000000.5, "1000000000000000.5" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 5e-324, "4.94065645841247e-324" },
		{ INFINITY, "+Inf" },
		{ -INFINITY, "-Inf" },
		{ NAN, "NaN" },
	};

	return cr_make_param_array(struct value_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct value_case *c, expo, value, .init = setup, .fini = teardown)
{
	expo_value(&out, c->v);
	cr_assert_str_eq(out.data, c->want);
}

/* What expo_value must print, the slow way. */
static void reference_value(char *s, size_t n, double v)
{
	if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v) {
		snprintf(s, n, "%" PRId64, (int64_t)v);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(s, n, "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			return;
	}
}

static void check_value(double v)
{
	char want[64];

	reference_value(want, sizeof(want), v);
	buf_reset(&out);
	expo_value(&out, v);
	cr_assert_str_eq(out.data, want, "%.17g", v);
}

Test(expo, value_agrees_with_printf, .timeout = 60.)
{
	static const double edges[] = {
		0.0001,
		0.00009999,
		0.000123,
		0.00012345678901234,
		1e-5,
		123456789012.5,
		99999999999999.9,
		999999999999999.9,
		1e15 + 0.5,
		4503599627370495.5,
		0.1,
		0.7,
		1.005,
		2.675,
		1e-9,
		123.456789012,
		9.999999999,
		0.30000000000000004,
	};
	static const double p10[16] = { 1,   1e1, 1e2,	1e3,  1e4,  1e5,  1e6,	1e7,
					1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < ARRAY_SIZE(edges); i++) {
		check_value(edges[i]);
		check_value(-edges[i]);
	}
	for (int i = 0; i < 60000; i++) {
		double v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (i % 3 == 0) { /* a decimal with up to 12 digits, as sums in seconds are */
			v = (double)(int64_t)(x % 1000000000000ull) / p10[x >> 60];
		} else if (i % 3 == 1) { /* nanoseconds in seconds */
			v = (double)(x >> 20) / 1e9;
		} else { /* any finite double */
			memcpy(&v, &x, sizeof(v));
			if (!isfinite(v))
				continue;
		}
		check_value(x & 1 ? v : -v);
	}
}
