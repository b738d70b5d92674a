// SPDX-License-Identifier: MIT
/* Unit tests of the growable buffer (user/buf.c). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct buf b;

static void setup(void)
{
	buf_init(&b);
}

static void teardown(void)
{
	buf_free(&b);
}

TestSuite(buf, .init = setup, .fini = teardown, .timeout = 5.);

Test(buf, init_is_empty)
{
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.cap, 0);
	cr_assert_eq(b.oom, 0);
	buf_free(&b); /* freeing an empty buffer, twice, is fine */
}

Test(buf, append_puts_printf)
{
	buf_append(&b, "ab", 2);
	buf_append(&b, "", 0);
	buf_puts(&b, "cd");
	buf_printf(&b, "-%d-%s-%.1f", 42, "x", 2.5);
	cr_assert_str_eq(b.data, "abcd-42-x-2.5");
	cr_assert_eq(b.len, 13);
	buf_append(&b, "\0z", 2); /* bytes, not strings */
	cr_assert_eq(b.len, 15);
	cr_assert_eq(memcmp(b.data, "abcd-42-x-2.5\0z", 16), 0);
}

Test(buf, printf_longer_than_the_room)
{
	char big[5000];

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_puts(&b, "<");
	buf_printf(&b, "%s>%d", big, 7);
	cr_assert_eq(b.len, 1 + 4999 + 2);
	cr_assert_eq(b.data[0], '<');
	cr_assert_eq(memcmp(b.data + 1, big, 4999), 0);
	cr_assert_str_eq(b.data + 5000, ">7");
	buf_printf(&b, "%s", "");
	cr_assert_eq(b.len, 5002);
}

Test(buf, printf_into_empty_buffer)
{
	buf_printf(&b, "%s", "");
	cr_assert_eq(b.len, 0);
	buf_printf(&b, "%05u", 42u);
	cr_assert_str_eq(b.data, "00042");
}

Test(buf, growth_is_geometric)
{
	size_t last_cap = 0;
	int grows = 0;

	for (int i = 0; i < 1 << 20; i++) {
		buf_append(&b, (char[]){ (char)('a' + i % 26) }, 1);
		if (b.cap != last_cap) {
			grows++;
			last_cap = b.cap;
		}
		cr_assert_gt(b.cap, b.len);
	}
	cr_assert_eq(b.len, 1 << 20);
	cr_assert_eq(b.data[b.len], '\0');
	cr_assert_eq(b.data[12345], 'a' + 12345 % 26);
	cr_assert_leq(grows, 16, "%d reallocations for 1 MiB", grows);
	cr_assert_lt(b.cap, 2 * (b.len + 1) + 256);
}

Test(buf, reset_keeps_memory_and_clears_oom)
{
	char *data;
	size_t cap;

	buf_puts(&b, "hello");
	data = b.data;
	cap = b.cap;
	b.oom = 1;
	buf_reset(&b);
	cr_assert_eq(b.data, data);
	cr_assert_eq(b.cap, cap);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.oom, 0);
	cr_assert_str_eq(b.data, "");
	buf_reset(&b);
	buf_puts(&b, "x");
	cr_assert_str_eq(b.data, "x");
}

/* After buf_reserve(n), n bytes of appends take no allocation: the data
 * stays where it is. */
Test(buf, reserve_makes_room_at_once)
{
	char *data;

	buf_puts(&b, "head");
	cr_assert_eq(buf_reserve(&b, 10000), 0);
	cr_assert_geq(b.cap, 4 + 10000 + 1);
	cr_assert_str_eq(b.data, "head");
	data = b.data;
	for (int i = 0; i < 1000; i++)
		buf_append(&b, "0123456789", 10);
	cr_assert_eq(b.data, data);
	cr_assert_eq(b.len, 10004);
	cr_assert_eq(b.data[b.len], '\0');
	cr_assert_eq(memcmp(b.data + 9994, "0123456789", 10), 0);
	/* exactly full, then one byte more: it grows, contents kept */
	buf_append(&b, "!", 1);
	cr_assert_eq(b.len, 10005);
	cr_assert_str_eq(b.data + 10000, "6789!");
	cr_assert_eq(buf_reserve(&b, SIZE_MAX - 2), -1);
	cr_assert_eq(b.oom, 1);
	cr_assert_eq(b.len, 10005);
}

/* Appends that fill the room to the byte, and one past it. */
Test(buf, append_at_the_edge_of_the_room)
{
	char chunk[300];

	memset(chunk, 'z', sizeof(chunk));
	buf_append(&b, "a", 1); /* cap 256: room for 254 more and the NUL */
	cr_assert_eq(b.cap, 256);
	buf_append(&b, chunk, 254);
	cr_assert_eq(b.cap, 256);
	cr_assert_eq(b.len, 255);
	cr_assert_eq(b.data[255], '\0');
	buf_append(&b, "b", 1);
	cr_assert_gt(b.cap, 256);
	cr_assert_eq(b.len, 256);
	cr_assert_eq(b.data[0], 'a');
	cr_assert_eq(b.data[254], 'z');
	cr_assert_str_eq(b.data + 255, "b");
}

Test(buf, oom_is_sticky)
{
	/* volatile: the compiler would warn of the inline memcpy it cannot reach */
	volatile size_t huge = SIZE_MAX - 2;

	buf_puts(&b, "keep");
	buf_append(&b, "x", huge); /* cannot fit len + n + NUL in a size_t */
	cr_assert_eq(b.oom, 1);
	buf_puts(&b, "more");
	buf_append(&b, "more", 4);
	buf_printf(&b, "%s", "more");
	buf_json_str(&b, "more", 4);
	cr_assert_eq(b.len, 4);
	cr_assert_str_eq(b.data, "keep");
	cr_assert_eq(b.oom, 1);
}

/* Inline bytes: Criterion hands each test process a copy of the parameters. */
struct json_case {
	char in[16];
	size_t n;
	char want[64];
};

ParameterizedTestParameters(buf, json_str)
{
	static struct json_case cases[] = {
		{ "", 0, "\"\"" },
		{ "plain text", 10, "\"plain text\"" },
		{ "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
		{ "\n\r\t", 3, "\"\\n\\r\\t\"" },
		{ "\x01\x1f\x08\x0c", 4, "\"\\u0001\\u001f\\u0008\\u000c\"" },
		{ "a\0b", 3, "\"a\\u0000b\"" },
		{ "ab", 1, "\"a\"" },				/* n bounds the input */
		{ "\x7f/</script>", 11, "\"\x7f/</script>\"" }, /* all legal as is */
		{ "caf\xc3\xa9 \xe2\x82\xac", 9, "\"caf\xc3\xa9 \xe2\x82\xac\"" },
		{ "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 8, "\"\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"" },
		{ "\xff", 1, "\"\\ufffd\"" },
		{ "\x80x", 2, "\"\\ufffdx\"" },			    /* stray continuation */
		{ "\xc0\xaf", 2, "\"\\ufffd\\ufffd\"" },	    /* overlong */
		{ "\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\"" }, /* overlong */
		{ "\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"" }, /* surrogate */
		{ "\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" }, /* > U+10FFFF */
		{ "a\xe2\x82", 3, "\"a\\ufffd\\ufffd\"" },		       /* cut at the end */
		{ "\xc3\xa9", 1, "\"\\ufffd\"" },			       /* cut by n */
		{ "\xe2\x82\"", 3, "\"\\ufffd\\ufffd\\\"\"" },
	};

	return cr_make_param_array(struct json_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct json_case *c, buf, json_str, .init = setup, .fini = teardown)
{
	buf_puts(&b, "x=");
	buf_json_str(&b, c->in, c->n);
	cr_assert_eq(b.len, 2 + strlen(c->want));
	cr_assert_str_eq(b.data + 2, c->want);
}

struct utf8_case {
	char s[8];
	size_t n;
	int want;
};

ParameterizedTestParameters(buf, utf8_seq)
{
	static struct utf8_case cases[] = {
		{ "a", 1, 1 },
		{ "", 0, 0 },
		{ "\xc2\x80", 2, 2 },
		{ "\xdf\xbf", 2, 2 },
		{ "\xc2", 1, -1 },
		{ "\xc2\x41", 2, 0 }, /* 'A' */
		{ "\xc1\xbf", 2, 0 },
		{ "\xe0\xa0\x80", 3, 3 },
		{ "\xe0\xa0", 2, -1 },
		{ "\xe0", 1, -1 },
		{ "\xe0\x9f", 2, 0 },
		{ "\xed\x9f\xbf", 3, 3 },
		{ "\xed\xa0", 2, 0 },
		{ "\xef\xbf\xbf", 3, 3 },
		{ "\xf0\x90\x80\x80", 4, 4 },
		{ "\xf0\x90\x80", 3, -1 },
		{ "\xf0\x8f", 2, 0 },
		{ "\xf4\x8f\xbf\xbf", 4, 4 },
		{ "\xf4\x90", 2, 0 },
		{ "\xf5", 1, 0 },
		{ "\x80", 1, 0 },
		{ "\xe2\x82\xac", 1, -1 },
	};

	return cr_make_param_array(struct utf8_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct utf8_case *c, buf, utf8_seq)
{
	cr_assert_eq(buf_utf8_seq(c->s, c->n), c->want);
}

struct span_case {
	char s[16];
	size_t n;
	bool stop_quote; /* stop at '"' */
	size_t want;
};

ParameterizedTestParameters(buf, utf8_span)
{
	static struct span_case cases[] = {
		{ "", 0, false, 0 },
		{ "plain", 5, false, 5 },
		{ "caf\xc3\xa9!", 6, false, 6 },
		{ "a\"b", 3, false, 3 },
		{ "a\"b", 3, true, 1 }, /* a stop byte ends the run */
		{ "\"", 1, true, 0 },
		{ "ab\xffxy", 5, false, 2 },	     /* an invalid byte ends it */
		{ "\xe2\x82\xac\x80", 4, false, 3 }, /* a stray continuation */
		{ "a\xe2\x82", 3, false, 1 },	     /* a sequence cut by n */
		{ "\xc3\xa9", 1, false, 0 },
		{ "\xed\xa0\x80", 3, false, 0 }, /* a surrogate */
	};

	return cr_make_param_array(struct span_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct span_case *c, buf, utf8_span)
{
	static const bool quote[128] = { ['"'] = true };

	cr_assert_eq(buf_utf8_span(c->s, c->n, c->stop_quote ? quote : NULL), c->want, "%s", c->s);
}

/* Inflates a gzip stream; checks the header and returns the data in out. */
static void gunzip(const struct buf *gz, struct buf *out)
{
	z_stream zs;
	unsigned char chunk[4096];
	int zerr;

	cr_assert_geq(gz->len, 18);
	cr_assert_eq((unsigned char)gz->data[0], 0x1f);
	cr_assert_eq((unsigned char)gz->data[1], 0x8b);
	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK); /* gzip only, not zlib */
	zs.next_in = (Bytef *)gz->data;
	zs.avail_in = (uInt)gz->len;
	do {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zerr = inflate(&zs, Z_NO_FLUSH);
		cr_assert(zerr == Z_OK || zerr == Z_STREAM_END, "inflate: %d", zerr);
		buf_append(out, chunk, sizeof(chunk) - zs.avail_out);
	} while (zerr != Z_STREAM_END);
	cr_assert_eq(zs.avail_in, 0, "bytes after the gzip trailer");
	inflateEnd(&zs);
}

Test(buf, gzip_round_trip)
{
	struct buf gz, back;
	uint32_t x = 12345;

	buf_init(&gz);
	buf_init(&back);
	buf_puts(&gz, "stale output, to be replaced");
	for (int i = 0; i < 20000; i++)
		buf_printf(&b, "aet_tasks_total{status=\"success\",mode=\"m%d\"} %d\n", i % 50, i);
	for (int i = 0; i < 100000; i++) { /* and incompressible bytes */
		x = x * 1103515245u + 12345u;
		buf_append(&b, (char[]){ (char)(x >> 24) }, 1);
	}
	cr_assert_eq(buf_gzip(&b, &gz), 0);
	cr_assert_eq(gz.oom, 0);
	cr_assert_lt(gz.len, b.len);
	cr_assert_eq(gz.data[gz.len], '\0');
	gunzip(&gz, &back);
	cr_assert_eq(back.len, b.len);
	cr_assert_eq(memcmp(back.data, b.data, b.len), 0);
	buf_free(&gz);
	buf_free(&back);
}

Test(buf, gzip_empty_and_small)
{
	struct buf gz, back;

	buf_init(&gz);
	buf_init(&back);
	cr_assert_eq(buf_gzip(&b, &gz), 0); /* b.data is NULL */
	gunzip(&gz, &back);
	cr_assert_eq(back.len, 0);
	buf_puts(&b, "x 1\n");
	cr_assert_eq(buf_gzip(&b, &gz), 0);
	gunzip(&gz, &back);
	cr_assert_str_eq(back.data, "x 1\n");
	buf_free(&gz);
	buf_free(&back);
}
