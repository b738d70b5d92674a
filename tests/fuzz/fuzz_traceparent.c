// SPDX-License-Identifier: MIT
/*
 * The trace context parser of aet_probe_trace_context() (include/trace_context.h,
 * through user/traceparent.c) on arbitrary strings, against a reference
 * written here from the W3C Trace Context text (version 00: "00-" 32 hex
 * "-" 16 hex "-" 2 hex, lower case, ids not all zero) and the README
 * ("aet:KIND:ID", ID decimal). A traceparent it accepts must print back to
 * the same 55 bytes. The input is given in a buffer of just its size,
 * without a NUL, so that reading past it is caught.
 *
 * Known and kept as the BPF code does it (tests/unit/test_traceparent.c
 * pins it): an ID is read to 20 digits at most, what follows them is not
 * looked at, and a value past 2^64 - 1 wraps.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "traceparent.h"

#define READ_MAX 63 /* bytes the program reads of the string */

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool hex_run(const uint8_t *s, size_t n, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (hexval(s[i]) < 0)
			return false;
		*v = *v << 4 | (uint64_t)hexval(s[i]);
	}
	return true;
}

static enum trace_context_result reference(const uint8_t *s, size_t n, struct span_thread *t)
{
	static const char *const kinds[KIND_MAX] = { "cycle", "task", "agent", "span" };
	uint64_t ver, hi, lo, parent, flags;

	memset(t, 0, sizeof(*t));
	if (!n)
		return TC_CLEARED;
	if (n == 55 && s[2] == '-' && s[35] == '-' && s[52] == '-' && hex_run(s, 2, &ver) && !ver &&
	    hex_run(s + 3, 16, &hi) && hex_run(s + 19, 16, &lo) && hex_run(s + 36, 16, &parent) &&
	    hex_run(s + 53, 2, &flags) && (hi || lo) && parent) {
		t->ctx_trace_id[0] = hi;
		t->ctx_trace_id[1] = lo;
		t->ctx_parent_id = parent;
		t->ctx_flags = (__u32)flags;
		return TC_REMOTE;
	}
	if (n < 4 || memcmp(s, "aet:", 4))
		return TC_INVALID;
	for (int k = 0; k < KIND_MAX; k++) {
		size_t kl = strlen(kinds[k]), at = 4 + kl + 1, digits;
		uint64_t id = 0;

		if (n < at + 1 || memcmp(s + 4, kinds[k], kl) || s[4 + kl] != ':')
			continue;
		digits = n - at < 20 ? n - at : 20;
		for (size_t i = 0; i < digits; i++) {
			if (s[at + i] < '0' || s[at + i] > '9')
				return TC_INVALID;
			id = id * 10 + (uint64_t)(s[at + i] - '0');
		}
		t->ctx_parent_id = id;
		t->ctx_flags = (__u32)k;
		return TC_LOCAL;
	}
	return TC_INVALID;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *s = malloc(size ? size : 1);
	struct span_thread got, want;
	enum trace_context_result r, w;
	size_t n = 0;

	CHECK(s, "out of memory");
	memcpy(s, data, size);
	memset(&got, 0xa5, sizeof(got)); /* what the parser leaves must not matter */
	r = trace_context_parse((const char *)s, size, &got);
	while (n < size && n < READ_MAX && s[n])
		n++;
	w = reference(s, n, &want);
	CHECK(r == w, "result %d, reference %d for %.*s", r, w, (int)n, s);
	CHECK(got.ctx_kind == (r == TC_INVALID ? PENDING_NONE : (__u32)r), "ctx_kind %u",
	      got.ctx_kind);
	if (r == TC_REMOTE || r == TC_LOCAL) {
		CHECK(got.ctx_parent_id == want.ctx_parent_id && got.ctx_flags == want.ctx_flags,
		      "parent %" PRIx64 " flags %u, reference %" PRIx64 " %u",
		      (uint64_t)got.ctx_parent_id, got.ctx_flags, (uint64_t)want.ctx_parent_id,
		      want.ctx_flags);
	}
	if (r == TC_REMOTE) {
		char back[56];

		CHECK(got.ctx_trace_id[0] == want.ctx_trace_id[0] &&
			      got.ctx_trace_id[1] == want.ctx_trace_id[1],
		      "trace id");
		snprintf(back, sizeof(back), "00-%016" PRIx64 "%016" PRIx64 "-%016" PRIx64 "-%02x",
			 (uint64_t)got.ctx_trace_id[0], (uint64_t)got.ctx_trace_id[1],
			 (uint64_t)got.ctx_parent_id, got.ctx_flags);
		CHECK(!memcmp(back, s, 55), "printed back as %s", back);
	}
	free(s);
	return 0;
}
