/* SPDX-License-Identifier: MIT */
/*
 * The custom metrics' exposition (probe ABI version 2): the series of
 * bpf/custom.bpf.c's maps, as the application wrote their names and
 * labels, made valid Prometheus metrics. Pure: no libbpf, no I/O.
 *
 *  - a name: aet_custom_ then the name, each byte outside [A-Za-z0-9_]
 *    made "_"; a counter's ends in _total (a name ending in _total is not
 *    given a second one);
 *  - labels "k=v;k=v": at most CUSTOM_PAIRS_MAX pairs; a pair without "="
 *    or with an empty key, one past the fourth and a key already given are
 *    left out (counted); a key's bytes outside [A-Za-z0-9_] become "_",
 *    one beginning with a digit or "__" (reserved) gets an "x" in front, and
 *    a histogram's "le" becomes "x_le"; values as expo.h renders them;
 *  - a histogram's buckets: include/hist.h's, or the bounds its name
 *    declared (custom_sample_bounds), each written as expo.h renders a
 *    value (0.005, 2.5, 10), then +Inf;
 *  - series that render the same are merged (values added); names that
 *    render the same for two types keep the first type in enum
 *    custom_type's order, and the others' series are left out (counted);
 *    so are a histogram's series whose bounds are not those the first
 *    (in that order: default first, then by bounds) has.
 */
#ifndef AET_CUSTOM_EXPO_H
#define AET_CUSTOM_EXPO_H

#include <stddef.h>
#include <linux/types.h>

#include "buf.h"
#include "custom_maps.h"

#define CUSTOM_FAMILY_MAX 160  /* aet_custom_ + 63 bytes + _total, and more */
#define CUSTOM_PAIRS_MAX  4    /* label pairs of a custom metric call */
#define CUSTOM_RENDER_MAX 1024 /* 4 rendered pairs */

struct custom_sample {
	__u32 type; /* enum custom_type */
	char family[CUSTOM_FAMILY_MAX];
	char labels[CUSTOM_RENDER_MAX]; /* k="v",k="v", sorted by key */
	struct custom_value v;
	__s64 le[CUSTOM_BOUNDS_MAX]; /* v.nbounds declared bounds, in millionths */
};

/* What a scrape left out, with the reason (not kept: counted anew each scrape). */
struct custom_left_out {
	__u64 label_pairs; /* pairs left out of their label set */
	__u64 series;	   /* series of a name taken by another type */
};

/* Fills s with series (type, name, labels) and value v; labels NULL: an
 * overflow series, {series="__overflow__"}. name and labels are read up to
 * their NUL or bound (CUSTOM_NAME_LEN, CUSTOM_LABELS_LEN). */
void custom_sample_set(struct custom_sample *s, __u32 type, const char *name, const char *labels,
		       const struct custom_value *v, struct custom_left_out *out);

/* Gives s the n (at most CUSTOM_BOUNDS_MAX) declared bounds le, in
 * millionths, and sets s->v.nbounds to n. */
void custom_sample_bounds(struct custom_sample *s, const __s64 *le, __u32 n);

/* Sorts the n samples, merges those that render the same and appends the
 * exposition. Returns 0 or -ENOMEM. */
int custom_samples_write(struct custom_sample *s, size_t n, struct buf *out,
			 struct custom_left_out *left);

#endif /* AET_CUSTOM_EXPO_H */
