/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share: a failed check aborts (libFuzzer keeps the
 * input), a reader of the fuzzer's bytes, and a UTF-8 validator written
 * apart from user/buf.c's, so that the two check each other.
 */
#ifndef AET_FUZZ_H
#define AET_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                            \
			fputc('\n', stderr);                                                     \
			abort();                                                                 \
		}                                                                                \
	} while (0)

/* The fuzzer's input, read front to back; past its end, zeros. */
struct input {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t in_byte(struct input *in)
{
	uint8_t b = 0;

	if (in->n) {
		b = *in->p++;
		in->n--;
	}
	return b;
}

static inline void in_bytes(struct input *in, void *dst, size_t len)
{
	size_t k = len < in->n ? len : in->n;

	memcpy(dst, in->p, k);
	memset((uint8_t *)dst + k, 0, len - k);
	in->p += k;
	in->n -= k;
}

/* A field of up to max bytes: one length byte, then as many bytes as there are. */
static inline const uint8_t *in_field(struct input *in, size_t max, size_t *len)
{
	const uint8_t *p;

	*len = in_byte(in) % (max + 1);
	if (*len > in->n)
		*len = in->n;
	p = in->p;
	in->p += *len;
	in->n -= *len;
	return p;
}

/* The length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629,
 * section 4), or 0. need_out, when not NULL, gets the length the first
 * byte announces when the bytes there are a proper prefix of one (else 0). */
static inline size_t utf8_well_formed(const uint8_t *s, size_t n, size_t *need_out)
{
	size_t need, i;
	uint32_t cp;

	if (need_out)
		*need_out = 0;
	if (!n)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		need = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < need && i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (i < need) {
		/* a prefix: the code points it can still begin must include a valid one */
		uint32_t lo = cp << 6 * (need - i), hi = lo | ((1u << 6 * (need - i)) - 1);
		static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };

		if (hi >= min[need] && lo <= 0x10ffff && !(lo >= 0xd800 && hi <= 0xdfff) &&
		    need_out)
			*need_out = need;
		return 0;
	}
	if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000))
		return 0; /* overlong */
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

static inline bool utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0, k; i < n; i += k) {
		k = utf8_well_formed(s + i, n - i, NULL);
		if (!k)
			return false;
	}
	return true;
}

/* s[0..n) with every byte that does not begin a well-formed sequence
 * replaced by U+FFFD, into out (3 * n bytes); returns the length. */
static inline size_t utf8_sanitize(const uint8_t *s, size_t n, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0, k; i < n; i += k) {
		k = utf8_well_formed(s + i, n - i, NULL);
		if (k) {
			memcpy(out + o, s + i, k);
			o += k;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			k = 1;
		}
	}
	return o;
}

#endif /* AET_FUZZ_H */
