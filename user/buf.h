/* SPDX-License-Identifier: MIT */
/* A growable byte buffer. Allocation failure is sticky: see buf->oom. */
#ifndef AET_BUF_H
#define AET_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	int oom; /* set once an allocation failed; later appends do nothing */
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, oom = 0, keeps the memory */
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
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
