// SPDX-License-Identifier: MIT
/* A growable byte buffer with a sticky allocation-failure flag. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"

#define BUF_MIN_CAP 256

void buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

/*
 * Also clears oom: a buffer reused for the next response (or for an error
 * message replacing a failed one) gets a fresh chance to allocate.
 */
void buf_reset(struct buf *b)
{
	b->len = 0;
	b->oom = 0;
	if (b->data)
		b->data[0] = '\0';
}

int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return -1;
	if (extra > SIZE_MAX - 1 - b->len)
		goto oom;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	/* Geometric growth keeps n appends O(n) in total. */
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		goto oom;
	if (!b->data)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return 0;
oom:
	b->oom = 1;
	return -1;
}

void buf_append_slow(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n))
		return;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	va_list ap, ap2;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		/* Only EOVERFLOW (output over INT_MAX): the text is lost all the same. */
		b->oom = 1;
	} else if ((size_t)n >= room && !buf_reserve(b, (size_t)n)) {
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	}
	va_end(ap2);
	if (n >= 0 && !b->oom)
		b->len += (size_t)n;
	if (b->data)
		b->data[b->len] = '\0';
}

static int in_range(unsigned char c, unsigned char lo, unsigned char hi)
{
	return c >= lo && c <= hi;
}

/* Unicode 15.0 table 3-7, "Well-Formed UTF-8 Byte Sequences". */
int buf_utf8_seq(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	int need;

	if (!n)
		return 0;
	if (u[0] < 0x80)
		return 1;
	if (in_range(u[0], 0xc2, 0xdf))
		need = 2;
	else if (in_range(u[0], 0xe0, 0xef))
		need = 3;
	else if (in_range(u[0], 0xf0, 0xf4))
		need = 4;
	else
		return 0; /* a continuation byte, C0, C1 (overlong) or F5..FF */
	if (u[0] == 0xe0)
		lo = 0xa0; /* overlong below U+0800 */
	else if (u[0] == 0xed)
		hi = 0x9f; /* surrogates U+D800..U+DFFF */
	else if (u[0] == 0xf0)
		lo = 0x90; /* overlong below U+10000 */
	else if (u[0] == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	for (int i = 1; i < need; i++) {
		if ((size_t)i >= n)
			return -1;
		if (!in_range(u[i], i == 1 ? lo : 0x80, i == 1 ? hi : 0xbf))
			return 0;
	}
	return need;
}

size_t buf_utf8_span(const char *s, size_t n, const bool stop[128])
{
	size_t i = 0;
	int len;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80) {
			if (stop && stop[c])
				break;
			i++;
			continue;
		}
		len = buf_utf8_seq(s + i, n - i);
		if (len <= 0)
			break;
		i += (size_t)len;
	}
	return i;
}

/* What a JSON string escapes (RFC 8259 section 7): controls, quote, backslash. */
static const bool json_escaped[128] = { [0 ... 0x1f] = true, ['"'] = true, ['\\'] = true };

void buf_json_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run;

	buf_append(b, "\"", 1);
	while (i < n) {
		unsigned char c;

		/* Copy the longest run that needs no escaping in one go. */
		run = buf_utf8_span(s + i, n - i, json_escaped);
		buf_append(b, s + i, run);
		i += run;
		if (i == n)
			break;
		c = (unsigned char)s[i++];
		if (c == '"' || c == '\\')
			buf_append(b, (char[]){ '\\', (char)c }, 2);
		else if (c == '\n')
			buf_append(b, "\\n", 2);
		else if (c == '\r')
			buf_append(b, "\\r", 2);
		else if (c == '\t')
			buf_append(b, "\\t", 2);
		else if (c < 0x20)
			buf_append(b, (char[]){ '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] }, 6);
		else
			buf_append(b, "\\ufffd", 6); /* one per byte not in a valid sequence */
	}
	buf_append(b, "\"", 1);
}

/*
 * Level 1 (Z_BEST_SPEED): the exposition text repeats the same names and
 * labels on every line, so the fastest level already removes most of it,
 * while the higher levels cost several times the CPU, paid on every scrape
 * while holding up the response, to save a few percent of bytes on what is
 * usually a local network.
 */
#define GZIP_LEVEL    Z_BEST_SPEED
#define GZIP_WINDOW   (15 + 16) /* 32 KiB window, gzip header and trailer */
#define GZIP_MEMLEVEL 8		/* zlib's default */

int buf_gzip(const struct buf *in, struct buf *out)
{
	z_stream zs;
	size_t left = in->len, room;
	int zerr, err = 0;

	buf_reset(out);
	memset(&zs, 0, sizeof(zs));
	zerr = deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, GZIP_WINDOW, GZIP_MEMLEVEL,
			    Z_DEFAULT_STRATEGY);
	if (zerr != Z_OK)
		return zerr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	zs.next_in = (Bytef *)in->data;
	/* deflateBound() is enough for one call; the loop covers inputs over 4 GiB. */
	if (buf_reserve(out, deflateBound(&zs, in->len > UINT_MAX ? UINT_MAX : in->len))) {
		err = -ENOMEM;
		goto cleanup;
	}
	do {
		if (out->cap - out->len - 1 < 64 && buf_reserve(out, out->cap)) {
			err = -ENOMEM;
			goto cleanup;
		}
		room = out->cap - out->len - 1;
		zs.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
		left -= zs.avail_in;
		zs.next_out = (Bytef *)out->data + out->len;
		zs.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
		room = zs.avail_out;
		zerr = deflate(&zs, left ? Z_NO_FLUSH : Z_FINISH);
		out->len += room - zs.avail_out;
		left += zs.avail_in;
		if (zerr != Z_OK && zerr != Z_STREAM_END && zerr != Z_BUF_ERROR) {
			err = -EIO;
			goto cleanup;
		}
	} while (zerr != Z_STREAM_END);
	out->data[out->len] = '\0';
cleanup:
	deflateEnd(&zs);
	if (err)
		buf_reset(out);
	return err;
}
