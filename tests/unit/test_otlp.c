// SPDX-License-Identifier: MIT
/*
 * Unit tests of the OTLP/protobuf encoder (user/otlp.c): bytes checked by
 * hand for the small cases, and whole requests read back by protoc
 * --decode_raw, a decoder that is not ours.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "otlp.h"

static const struct otlp_attr resource[] = {
	{ .key = "service.name", .type = OTLP_STR, .s = "aet", .slen = 3 },
};

static struct otlp o;

static void setup(void)
{
	cr_assert_eq(otlp_init(&o, resource, 1, "s", "1"), 0);
}

static void teardown(void)
{
	otlp_fini(&o);
}

static struct otlp_span span(const struct otlp_attr *attrs, size_t n)
{
	struct otlp_span s = { .name = "n",
			       .name_len = 1,
			       .kind = OTLP_KIND_INTERNAL,
			       .start_unix_ns = 1,
			       .end_unix_ns = 2,
			       .attrs = attrs,
			       .nattrs = n };

	memset(s.trace_id, 0x11, 16);
	memset(s.span_id, 0x22, 8);
	return s;
}

/* Seals b into a malloc'd copy of the request. */
static uint8_t *seal(struct otlp_batch *b, size_t *len)
{
	const uint8_t *body;
	uint8_t *alloc, *copy;

	cr_assert_eq(otlp_batch_seal(&o, b, &alloc, &body, len), 0);
	copy = malloc(*len);
	memcpy(copy, body, *len);
	free(alloc);
	return copy;
}

static size_t varint(const uint8_t *p, size_t *v)
{
	size_t n = 0;

	*v = 0;
	do
		*v |= (size_t)(p[n] & 0x7f) << (7 * n);
	while (p[n++] & 0x80);
	return n;
}

/* The bytes of the one span of a request: what follows the scope. */
static const uint8_t *only_span(const uint8_t *req, size_t len, size_t *n)
{
	/* 0a LEN(rs) 0a LEN(res) res 12 LEN(ss) 0a LEN(scope) scope 12 LEN(span) span */
	size_t at = 1, v;

	at += varint(req + at, &v);
	cr_assert_eq(v, len - at);
	at += 1 + varint(req + at + 1, &v) + v; /* the resource */
	at += 1 + varint(req + at + 1, &v);	/* scope spans */
	at += 1 + varint(req + at + 1, &v) + v; /* the scope */
	cr_assert_eq(req[at], 0x12);
	at += 1 + varint(req + at + 1, n);
	cr_assert_eq(at + *n, len);
	return req + at;
}

TestSuite(otlp, .init = setup, .fini = teardown);

Test(otlp, minimal_span_bytes)
{
	struct otlp_span s = span(NULL, 0);
	struct otlp_batch b;
	const uint8_t want[] = {
		0x0a, 16,   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
		0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,		    /* trace_id */
		0x12, 8,    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* span_id */
		0x2a, 1,    'n',					    /* name */
		0x30, 1,						    /* kind */
		0x39, 1,    0,	  0,	0,    0,    0,	  0,	0,	    /* start, fixed64 */
		0x41, 2,    0,	  0,	0,    0,    0,	  0,	0,	    /* end */
	};
	const uint8_t *got;
	uint8_t *req;
	size_t len, n;

	otlp_batch_init(&o, &b);
	cr_assert_eq(otlp_append_span(&o, &b, &s), 0);
	req = seal(&b, &len);
	got = only_span(req, len, &n);
	cr_assert_eq(n, sizeof(want));
	cr_assert_arr_eq(got, want, sizeof(want));
	free(req);
}

Test(otlp, event_bytes)
{
	const struct otlp_attr a = { .key = "k", .type = OTLP_STR, .s = "v", .slen = 1 };
	const struct otlp_event e[] = {
		{ .time_unix_ns = 3, .name = "open", .name_len = 4, .attrs = &a, .nattrs = 1 },
		{ .time_unix_ns = 4, .name = "x", .name_len = 1 },
	};
	struct otlp_span s = span(NULL, 0);
	/* Span.events (11): time (fixed64 1), name (2), attributes (3) */
	const uint8_t want[] = {
		0x5a, 25, 0x09, 3,   0,	  0,	0, 0,	 0, 0,	 0, /* the first event, its time */
		0x12, 4,  'o',	'p', 'e', 'n',			    /* its name */
		0x1a, 8,  0x0a, 1,   'k', 0x12, 3, 0x0a, 1, 'v',    /* its attribute */
		0x5a, 12, 0x09, 4,   0,	  0,	0, 0,	 0, 0,	 0, /* the second */
		0x12, 1,  'x',					    /* no attribute */
		0x60, 7,					    /* dropped_events_count (12) */
	};
	const uint8_t *got;
	struct otlp_batch b;
	uint8_t *req;
	size_t len, n, min = 51; /* minimal_span_bytes' */

	s.events = e;
	s.nevents = 2;
	s.dropped_events = 7;
	otlp_batch_init(&o, &b);
	cr_assert_eq(otlp_append_span(&o, &b, &s), 0);
	req = seal(&b, &len);
	got = only_span(req, len, &n);
	cr_assert_eq(n, min + sizeof(want));
	cr_assert_arr_eq(got + min, want, sizeof(want));
	free(req);
}

Test(otlp, events_past_the_most_are_dropped)
{
	struct otlp_event e[OTLP_EVENTS_MAX + 3];
	struct otlp_span s = span(NULL, 0);
	struct otlp_batch b;
	const uint8_t *got;
	uint8_t *req;
	size_t len, n, min = 51;

	for (size_t i = 0; i < OTLP_EVENTS_MAX + 3; i++)
		e[i] = (struct otlp_event){ .time_unix_ns = i, .name = "e", .name_len = 1 };
	s.events = e;
	s.nevents = OTLP_EVENTS_MAX + 3;
	otlp_batch_init(&o, &b);
	cr_assert_eq(otlp_append_span(&o, &b, &s), 0);
	req = seal(&b, &len);
	got = only_span(req, len, &n);
	/* each event: 5a 12 09 <8 bytes> 12 01 'e' */
	cr_assert_eq(n, min + OTLP_EVENTS_MAX * 14 + 2);
	cr_assert_eq(got[n - 2], 0x60);
	cr_assert_eq(got[n - 1], 3);
	free(req);
}

Test(otlp, attribute_values)
{
	const struct otlp_attr a[] = {
		{ .key = "s", .type = OTLP_STR, .s = "v", .slen = 1 },
		{ .key = "i", .type = OTLP_INT, .i = -1 },
		{ .key = "b", .type = OTLP_BOOL, .i = 1 },
		{ .key = "d", .type = OTLP_DOUBLE, .d = 1.0 },
		{ .key = "a", .type = OTLP_STR_ARRAY, .s = "v", .slen = 1 },
	};
	const uint8_t s_kv[] = { 0x4a, 8, 0x0a, 1, 's', 0x12, 3, 0x0a, 1, 'v' };
	const uint8_t i_kv[] = { 0x4a, 16,   0x0a, 1,	 'i',  0x12, 11,   0x18, 0xff,
				 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	const uint8_t b_kv[] = { 0x4a, 7, 0x0a, 1, 'b', 0x12, 2, 0x10, 1 };
	const uint8_t d_kv[] = {
		0x4a, 14, 0x0a, 1, 'd', 0x12, 9, 0x21, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f
	};
	/* array_value { values { string_value: "v" } } */
	const uint8_t a_kv[] = { 0x4a, 12, 0x0a, 1, 'a', 0x12, 7, 0x2a, 5, 0x0a, 3, 0x0a, 1, 'v' };
	struct otlp_span s = span(a, 5);
	struct otlp_batch b;
	const uint8_t *got;
	uint8_t *req;
	size_t len, n;

	otlp_batch_init(&o, &b);
	otlp_append_span(&o, &b, &s);
	req = seal(&b, &len);
	got = only_span(req, len, &n) + 18 + 10 + 3 + 2 + 18;
	cr_assert_arr_eq(got, s_kv, sizeof(s_kv));
	got += sizeof(s_kv);
	cr_assert_arr_eq(got, i_kv, sizeof(i_kv));
	got += sizeof(i_kv);
	cr_assert_arr_eq(got, b_kv, sizeof(b_kv));
	got += sizeof(b_kv);
	cr_assert_arr_eq(got, d_kv, sizeof(d_kv));
	got += sizeof(d_kv);
	cr_assert_arr_eq(got, a_kv, sizeof(a_kv));
	free(req);
}

Test(otlp, invalid_utf8_becomes_replacement)
{
	const struct otlp_attr a[] = { { .key = "k", .type = OTLP_STR, .s = "a\xff", .slen = 2 } };
	const uint8_t kv[] = { 0x4a, 11, 0x0a, 1, 'k', 0x12, 6, 0x0a, 4, 'a', 0xef, 0xbf, 0xbd };
	struct otlp_span s = span(a, 1);
	struct otlp_batch b;
	uint8_t *req;
	size_t len, n;

	otlp_batch_init(&o, &b);
	otlp_append_span(&o, &b, &s);
	req = seal(&b, &len);
	cr_assert_arr_eq(only_span(req, len, &n) + 51, kv, sizeof(kv));
	free(req);
}

/* A request's text as protoc --decode_raw prints it. */
static char *decode_raw(const uint8_t *req, size_t len)
{
	char path[] = "/tmp/otlp-test-XXXXXX", cmd[128];
	int fd = mkstemp(path);
	struct buf out;
	char chunk[4096];
	size_t n;
	FILE *p;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, req, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "protoc --decode_raw < %s 2>&1", path);
	p = popen(cmd, "r");
	cr_assert(p, "protoc is needed (make deps installs protobuf-compiler)");
	buf_init(&out);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		buf_append(&out, chunk, n);
	cr_assert_eq(pclose(p), 0, "protoc --decode_raw failed: %s", out.data);
	unlink(path);
	return out.data;
}

Test(otlp, protoc_reads_a_request_of_many_spans)
{
	/* 300 spans: lengths past one and two varint bytes, a parent, a
	 * status, flags (a two-byte tag) */
	char big[300];
	const struct otlp_attr a[] = { { .key = "big", .type = OTLP_STR, .s = big, .slen = 200 } };
	struct otlp_span s = span(a, 1);
	struct otlp_batch b;
	char *text, *p;
	uint8_t *req;
	size_t len;
	int spans = 0;

	memset(big, 'x', sizeof(big));
	memset(s.parent_id, 0x33, 8);
	s.status = OTLP_STATUS_ERROR;
	s.status_msg = "timeout";
	s.flags = 0x301;
	otlp_batch_init(&o, &b);
	for (int i = 0; i < 300; i++)
		cr_assert_eq(otlp_append_span(&o, &b, &s), 0);
	cr_assert_eq(b.nspans, 300);
	req = seal(&b, &len);
	text = decode_raw(req, len);
	for (p = text; (p = strstr(p, "16: 0x00000301")); p++)
		spans++;
	cr_assert_eq(spans, 300, "%.2000s", text);
	cr_assert(strstr(text, "1: \"service.name\""));
	cr_assert(strstr(text, "2: \"timeout\"") && strstr(text, "3: 2"));
	free(text);
	free(req);
}

Test(otlp, parent_left_out_when_zero)
{
	struct otlp_span s = span(NULL, 0);
	struct otlp_batch b;
	uint8_t *req;
	size_t len, n;
	const uint8_t *got;

	otlp_batch_init(&o, &b);
	otlp_append_span(&o, &b, &s);
	req = seal(&b, &len);
	got = only_span(req, len, &n);
	for (size_t i = 0; i + 1 < n; i++)
		cr_assert(!(got[i] == 0x22 && got[i + 1] == 8), "a parent_span_id field");
	free(req);
}

Test(otlp, empty_batch_is_a_valid_request)
{
	struct otlp_batch b;
	uint8_t *req;
	size_t len;
	char *text;

	otlp_batch_init(&o, &b);
	req = seal(&b, &len);
	text = decode_raw(req, len);
	cr_assert(strstr(text, "\"aet\""), "%s", text);
	free(text);
	free(req);
}

Test(otlp, json_line)
{
	const struct otlp_attr a[] = { { .key = "k", .type = OTLP_STR, .s = "q\"", .slen = 2 },
				       { .key = "n", .type = OTLP_INT, .i = 7 } };
	struct otlp_span s = span(a, 2);
	struct buf out;

	s.status = OTLP_STATUS_ERROR;
	s.status_msg = "failure";
	buf_init(&out);
	otlp_span_json(&out, &s);
	cr_assert_str_eq(
		out.data,
		"{\"trace_id\":\"11111111111111111111111111111111\","
		"\"span_id\":\"2222222222222222\",\"parent_span_id\":\"\",\"name\":\"n\","
		"\"kind\":\"INTERNAL\",\"start_time_unix_nano\":1,\"end_time_unix_nano\":2,"
		"\"flags\":0,\"status\":{\"code\":\"ERROR\",\"message\":\"failure\"},"
		"\"attributes\":{\"k\":\"q\\\"\",\"n\":7}}\n");
	buf_free(&out);
}

/* The setup's Resource and InstrumentationScope, encoded by hand. */
static const uint8_t res_bytes[] = { 0x0a, 21,	0x0a, 12,  's',	 'e', 'r',  'v', 'i', 'c', 'e', '.',
				     'n',  'a', 'm',  'e', 0x12, 5,   0x0a, 3,	 'a', 'e', 't' };
static const uint8_t scope_bytes[] = { 0x0a, 1, 's', 0x12, 1, '1' };

/* The minimal span of span(NULL, 0): 51 bytes. */
static const uint8_t min_span[] = {
	0x0a, 16,   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	0x11, 0x11, 0x11, 0x11, 0x11, 0x12, 8,	  0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
	0x22, 0x22, 0x2a, 1,	'n',  0x30, 1,	  0x39, 1,    0,    0,	  0,	0,
	0,    0,    0,	  0x41, 2,    0,    0,	  0,	0,    0,    0,	  0,
};

static void put(struct buf *w, const void *p, size_t n)
{
	buf_append(w, p, n);
}

/* rs and ss: the ResourceSpans and ScopeSpans headers (tag, length) expected */
static void check_request(size_t nspans, const uint8_t *rs, size_t rs_len, const uint8_t *ss)
{
	struct otlp_span s = span(NULL, 0);
	struct otlp_batch b;
	struct buf w;
	uint8_t *req;
	size_t len;

	cr_assert_eq(sizeof(min_span), 51);
	otlp_batch_init(&o, &b);
	for (size_t i = 0; i < nspans; i++)
		cr_assert_eq(otlp_append_span(&o, &b, &s), 0);
	cr_assert_eq(otlp_batch_bytes(&o, &b), nspans * 53);
	req = seal(&b, &len);
	buf_init(&w);
	put(&w, rs, rs_len);
	put(&w, (uint8_t[]){ 0x0a, sizeof(res_bytes) }, 2);
	put(&w, res_bytes, sizeof(res_bytes));
	put(&w, ss, 2);
	put(&w, (uint8_t[]){ 0x0a, sizeof(scope_bytes) }, 2);
	put(&w, scope_bytes, sizeof(scope_bytes));
	for (size_t i = 0; i < nspans; i++) {
		put(&w, (uint8_t[]){ 0x12, 51 }, 2);
		put(&w, min_span, sizeof(min_span));
	}
	cr_assert_eq(len, w.len);
	cr_assert_arr_eq(req, w.data, len);
	buf_free(&w);
	free(req);
}

Test(otlp, sealed_request_bytes)
{
	/* spans 0, 53, 106 bytes; ScopeSpans 8 + spans; ResourceSpans 25 + 2 + ScopeSpans */
	check_request(0, (uint8_t[]){ 0x0a, 35 }, 2, (uint8_t[]){ 0x12, 8 });
	check_request(1, (uint8_t[]){ 0x0a, 88 }, 2, (uint8_t[]){ 0x12, 61 });
	/* 141: the first length of two bytes */
	check_request(2, (uint8_t[]){ 0x0a, 0x8d, 0x01 }, 3, (uint8_t[]){ 0x12, 114 });
}

Test(otlp, int_varints)
{
	static const struct {
		int64_t v;
		uint8_t n, bytes[10];
	} cases[] = {
		{ 0, 1, { 0 } },
		{ 1, 1, { 1 } },
		{ 127, 1, { 0x7f } },
		{ 128, 2, { 0x80, 0x01 } },
		{ 300, 2, { 0xac, 0x02 } },
		{ INT64_MAX, 9, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f } },
		{ INT64_MIN, 10, { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 } },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct otlp_attr a = { .key = "i", .type = OTLP_INT, .i = cases[c].v };
		struct otlp_span s = span(&a, 1);
		struct otlp_batch b;
		const uint8_t *got;
		uint8_t *req;
		size_t len, n;

		otlp_batch_init(&o, &b);
		otlp_append_span(&o, &b, &s);
		req = seal(&b, &len);
		got = only_span(req, len, &n) + 51;
		cr_assert_eq(n, 51u + 2 + 3 + 2 + 1 + cases[c].n, "%lld", (long long)cases[c].v);
		cr_assert_arr_eq(got,
				 ((uint8_t[]){ 0x4a, 3 + 2 + 1 + cases[c].n, 0x0a, 1, 'i', 0x12,
					       1 + cases[c].n, 0x18 }),
				 8);
		cr_assert_arr_eq(got + 8, cases[c].bytes, cases[c].n, "%lld",
				 (long long)cases[c].v);
		free(req);
	}
}

/* A span of 127 bytes has a one-byte length, of 128 a two-byte one. */
Test(otlp, canonical_lengths_at_128)
{
	char name[78];

	memset(name, 'n', sizeof(name));
	for (size_t nl = 77; nl <= 78; nl++) {
		struct otlp_span s = span(NULL, 0);
		struct otlp_batch b;
		const uint8_t *got;
		uint8_t *req;
		size_t len, n;

		s.name = name;
		s.name_len = nl;
		otlp_batch_init(&o, &b);
		otlp_append_span(&o, &b, &s);
		req = seal(&b, &len);
		got = only_span(req, len, &n);
		cr_assert_eq(n, 50 + nl);
		if (nl == 77)
			cr_assert(got[-2] == 0x12 && got[-1] == 0x7f);
		else
			cr_assert(got[-3] == 0x12 && got[-2] == 0x80 && got[-1] == 0x01);
		free(req);
	}
}

Test(otlp, json_non_finite_doubles_are_strings)
{
	const struct otlp_attr a[] = { { .key = "a", .type = OTLP_DOUBLE, .d = NAN },
				       { .key = "b", .type = OTLP_DOUBLE, .d = -INFINITY },
				       { .key = "c", .type = OTLP_DOUBLE, .d = 0.5 } };
	struct otlp_span s = span(a, 3);
	struct buf out;

	buf_init(&out);
	otlp_span_json(&out, &s);
	cr_assert(
		strstr(out.data, "\"attributes\":{\"a\":\"NaN\",\"b\":\"-Infinity\",\"c\":0.5}}\n"),
		"%s", out.data);
	buf_free(&out);
}
