/* SPDX-License-Identifier: MIT */
/* A growable byte buffer. Allocation failure is sticky: see buf->oom. */
#ifndef AET_BUF_H
#define AET_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	int oom; /* set once an allocation failed; later appends do nothing */
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, oom = 0, keeps the memory */
/* Makes room for extra more bytes (and the NUL) at once: appends up to
 * that much then take no allocation. Returns 0, or -1 with oom set. */
int buf_reserve(struct buf *b, size_t extra);
void buf_append_slow(struct buf *b, const void *p, size_t n);

/* Inline: an exposition of 100k series is millions of small appends, most
 * of which fit in the room already there. */
static inline void buf_append(struct buf *b, const void *p, size_t n)
{
	if (!b->oom && n < b->cap - b->len) { /* cap 0: never, data is NULL */
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return;
	}
	buf_append_slow(b, p, n);
}

static inline void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included; bytes that are not
 * valid UTF-8 become U+FFFD. */
void buf_json_str(struct buf *b, const char *s, size_t n);
/* gzip-compresses in into out (out is reset first). Returns 0 or -errno. */
int buf_gzip(const struct buf *in, struct buf *out);

/* The UTF-8 sequence at s, n bytes available: its length (1 to 4) when it is
 * valid (no overlong form, no surrogate, at most U+10FFFF), -1 when the n
 * bytes are a valid beginning of a sequence longer than n, 0 otherwise. */
int buf_utf8_seq(const char *s, size_t n);

/* The length of the longest prefix of s[0..n) that is well-formed UTF-8 (as
 * buf_utf8_seq() says) and holds none of the ASCII bytes stop marks (NULL:
 * none): what a writer copies as it is, up to the byte it escapes or
 * replaces. */
size_t buf_utf8_span(const char *s, size_t n, const bool stop[128]);

/* U+FFFD, which stands for a byte that is not in a well-formed sequence. */
#define BUF_UTF8_REPLACEMENT	 "\xef\xbf\xbd"
#define BUF_UTF8_REPLACEMENT_LEN 3

#endif /* AET_BUF_H */
