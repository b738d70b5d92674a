/* SPDX-License-Identifier: MIT */
/*
 * A span record from the kernel (include/spans_maps.h) as an OTLP span
 * (user/otlp.h): its name, attributes and status by OpenTelemetry's
 * semantic conventions where one exists. Pure: no I/O, unit-tested.
 */
#ifndef AET_SPANCONV_H
#define AET_SPANCONV_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "genai_span.h"
#include "otlp.h"
#include "spans_maps.h"

#define SPAN_MAX_ATTRS	  24
#define SPAN_CUSTOM_ATTRS 16 /* "k=v" pairs of a custom span kept; the rest are dropped */

/* Where a converted span lives: its attributes point into it and into the
 * record, which must outlive the use of span. */
struct span_conv {
	/* Set by the caller for a task or agent request: the labels of its
	 * series (record op), each up to its NUL or 63 bytes; NULL: empty. */
	const char *labels[2];
	/* Set by the caller for an HTTP span of a model call: what the call
	 * said (user/genai_span.h); NULL: not one, or not known. */
	const struct genai_span *genai;
	struct otlp_span span;
	struct otlp_attr attrs[SPAN_MAX_ATTRS];
	char text[SPAN_ATTRS_LEN + 1];	 /* a custom span's attributes, split */
	char name[GENAI_MODEL_LEN + 24]; /* "{operation} {model}" at most */
	char rc[16];
};

/* Converts record r of size bytes (as the ring gave it); monotonic times
 * plus mono_to_unix are unix times. Returns 0, or -EINVAL for a record too
 * short or of an unknown kind. */
int span_convert(struct span_conv *c, const void *r, size_t size, int64_t mono_to_unix);

#endif /* AET_SPANCONV_H */
