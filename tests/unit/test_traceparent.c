// SPDX-License-Identifier: MIT
/* Unit tests of the trace context parser the probes program runs
 * (include/trace_context.h, through user/traceparent.c). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "trace_context.h"
#include "traceparent.h"

#define TP_TRACE  "4bf92f3577b34da6a3ce929d0e0e4736"
#define TP_PARENT "00f067aa0ba902b7"

TestSuite(traceparent, .timeout = 5.);

Test(traceparent, w3c_example)
{
	struct span_thread t;

	cr_assert_eq(trace_context_parse("00-" TP_TRACE "-" TP_PARENT "-01", 64, &t), TC_REMOTE);
	cr_assert_eq(t.ctx_kind, PENDING_REMOTE);
	cr_assert_eq(t.ctx_trace_id[0], 0x4bf92f3577b34da6ULL);
	cr_assert_eq(t.ctx_trace_id[1], 0xa3ce929d0e0e4736ULL);
	cr_assert_eq(t.ctx_parent_id, 0x00f067aa0ba902b7ULL);
	cr_assert_eq(t.ctx_flags, 1);
	cr_assert_eq(trace_context_parse("00-" TP_TRACE "-" TP_PARENT "-00", 55, &t), TC_REMOTE);
	cr_assert_eq(t.ctx_flags, 0);
	/* Flags other than sampled are kept: the sampler reads bit 0. */
	cr_assert_eq(trace_context_parse("00-" TP_TRACE "-" TP_PARENT "-ff", 64, &t), TC_REMOTE);
	cr_assert_eq(t.ctx_flags, 0xff);
}

Test(traceparent, local_references)
{
	struct span_thread t;

	cr_assert_eq(trace_context_parse("aet:cycle:7", 64, &t), TC_LOCAL);
	cr_assert_eq(t.ctx_flags, KIND_CYCLE);
	cr_assert_eq(t.ctx_parent_id, 7);
	cr_assert_eq(trace_context_parse("aet:task:18446744073709551615", 64, &t), TC_LOCAL);
	cr_assert_eq(t.ctx_flags, KIND_TASK);
	cr_assert_eq(t.ctx_parent_id, UINT64_MAX);
	cr_assert_eq(trace_context_parse("aet:agent:0", 64, &t), TC_LOCAL);
	cr_assert_eq(t.ctx_flags, KIND_AGENT);
	cr_assert_eq(trace_context_parse("aet:span:42", 64, &t), TC_LOCAL);
	cr_assert_eq(t.ctx_flags, KIND_SPAN);
	cr_assert_eq(t.ctx_parent_id, 42);
}

Test(traceparent, empty_clears)
{
	struct span_thread t;

	cr_assert_eq(trace_context_parse("", 64, &t), TC_CLEARED);
	cr_assert_eq(t.ctx_kind, PENDING_NONE);
	cr_assert_eq(trace_context_parse("aet:cycle:7", 0, &t), TC_CLEARED);
}

/* Inline bytes: Criterion hands each test process a copy of the parameters. */
struct bad_case {
	char s[80];
};

ParameterizedTestParameters(traceparent, invalid)
{
	static struct bad_case cases[] = {
		/* W3C: version 00 only, lower-case hex, exactly 55 bytes, ids not zero */
		{ "01-" TP_TRACE "-" TP_PARENT "-01" },
		{ "ff-" TP_TRACE "-" TP_PARENT "-01" },
		{ "00-4BF92F3577B34DA6A3CE929D0E0E4736-" TP_PARENT "-01" },
		{ "00-" TP_TRACE "-00F067AA0BA902B7-01" },
		{ "00-00000000000000000000000000000000-" TP_PARENT "-01" },
		{ "00-" TP_TRACE "-0000000000000000-01" },
		{ "00-" TP_TRACE "-" TP_PARENT "-1" },
		{ "00-" TP_TRACE "-" TP_PARENT "-01-" },
		{ "00-" TP_TRACE "-" TP_PARENT "-0g" },
		{ "00_" TP_TRACE "-" TP_PARENT "-01" },
		{ "00-" TP_TRACE "_" TP_PARENT "-01" },
		{ "00-" TP_TRACE "-" TP_PARENT "_01" },
		{ "00-" TP_TRACE "-" TP_PARENT "-01 " },
		{ " 00-" TP_TRACE "-" TP_PARENT "-01" },
		{ "00-4bf92f3577b34da6a3ce929d0e0e473-" TP_PARENT "-01" },
		/* aet:KIND:ID */
		{ "aet:cycle:" },
		{ "aet:cycle" },
		{ "aet:cycles:1" },
		{ "aet:Cycle:1" },
		{ "aet:bogus:1" },
		{ "aet:task:-1" },
		{ "aet:task:1x" },
		{ "aet:task: 1" },
		{ "AET:task:1" },
		{ "aet::1" },
		{ "aet:" },
		{ "x" },
	};

	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, traceparent, invalid, .timeout = 5.)
{
	struct span_thread t;

	cr_assert_eq(trace_context_parse(c->s, sizeof(c->s), &t), TC_INVALID, "%s", c->s);
	cr_assert_eq(t.ctx_kind, PENDING_NONE, "%s", c->s);
}

Test(traceparent, read_bounds)
{
	char s[128];
	struct span_thread t;

	/* A valid traceparent followed by more: the program reads 63 bytes. */
	memset(s, 'x', sizeof(s));
	memcpy(s, "00-" TP_TRACE "-" TP_PARENT "-01", 55);
	s[sizeof(s) - 1] = '\0';
	cr_assert_eq(trace_context_parse(s, sizeof(s), &t), TC_INVALID);
	/* n bounds the string as a NUL does. */
	cr_assert_eq(trace_context_parse(s, 55, &t), TC_REMOTE);
	cr_assert_eq(trace_context_parse(s, 54, &t), TC_INVALID);
	cr_assert_eq(trace_context_parse("aet:cycle:123", 11, &t), TC_LOCAL);
	cr_assert_eq(t.ctx_parent_id, 1);
}

/*
 * What the parser does with IDs longer than a u64 (pinned: a change shows
 * here): it reads 20 digits at most, ignoring what follows them, and wraps
 * past 2^64 - 1.
 */
Test(traceparent, long_local_ids)
{
	struct span_thread t;

	cr_assert_eq(trace_context_parse("aet:task:18446744073709551616", 64, &t), TC_LOCAL);
	cr_assert_eq(t.ctx_parent_id, 0);
	cr_assert_eq(trace_context_parse("aet:task:12345678901234567890xyz", 64, &t), TC_LOCAL);
	cr_assert_eq(t.ctx_parent_id, 12345678901234567890ULL);
}

/* The hex reader under both ids: lower case only, 16 digits at most (the
 * bound the verifier sees), whatever n asks. */
Test(traceparent, hex_digits)
{
	__u64 v = 1;

	cr_assert(ctx_parse_hex("0123456789abcdef", 16, &v));
	cr_assert_eq(v, 0x0123456789abcdefULL);
	cr_assert(ctx_parse_hex("00ff", 4, &v));
	cr_assert_eq(v, 0xff);
	cr_assert(ctx_parse_hex("x", 0, &v));
	cr_assert_eq(v, 0);
	cr_assert(ctx_parse_hex("fedcba98765432100", 17, &v));
	cr_assert_eq(v, 0xfedcba9876543210ULL);
	v = 7;
	cr_assert_not(ctx_parse_hex("0A", 2, &v));
	cr_assert_not(ctx_parse_hex("0g", 2, &v));
	cr_assert_not(ctx_parse_hex("-1", 2, &v));
	cr_assert_eq(v, 7, "left as it was on failure");
}
