/* SPDX-License-Identifier: MIT */
/*
 * Maps of bpf/custom.bpf.c (the custom metrics of probe ABI version 2)
 * read by user/custom.c. Fixed-width types, explicit padding.
 */
#ifndef AET_CUSTOM_MAPS_H
#define AET_CUSTOM_MAPS_H

#include "hist.h"

#define CUSTOM_NAME_LEN	  64  /* a metric name: 63 bytes */
#define CUSTOM_LABELS_LEN 128 /* its labels, "k=v;k=v": 127 bytes */
#define CUSTOM_OVERFLOW	  "__overflow__"

enum custom_type {
	CUSTOM_COUNTER,
	CUSTOM_GAUGE,
	CUSTOM_HISTOGRAM,
	CUSTOM_TYPES,
};

/* A series: (type, name, labels), zero past each string's NUL; in
 * custom_keys under the 64-bit key the library made of them
 * (probe/custom.c), its value in custom_series under the same. */
struct custom_key {
	__u32 type; /* enum custom_type */
	__u32 pad;
	char name[CUSTOM_NAME_LEN];
	char labels[CUSTOM_LABELS_LEN];
};

/* A counter is count; a gauge sum; a histogram buckets (per bucket, not
 * cumulative, the last +Inf) and sum, in millionths of the values.
 * nbounds: 0, the buckets of include/hist.h; else the bounds its name
 * declared (struct custom_name), buckets[nbounds] being +Inf. Set when the
 * series is made and never changed: a declaration comes before any
 * observation of its name or is refused. */
struct custom_value {
	__u64 count;
	__s64 sum;
	__u64 buckets[HIST_BUCKETS];
	__u32 nbounds;
	__u32 pad;
};

/* At most HIST_FINITE declared bounds: a series' value has room for their
 * buckets and +Inf. */
#define CUSTOM_BOUNDS_MAX HIST_FINITE

/* A metric name's entry in custom_names: its type (its first call's) and,
 * for a histogram that declared them (aet_probe_histogram_buckets), its
 * nbounds upper bounds in millionths, strictly increasing, zero past
 * nbounds. */
struct custom_name {
	__u32 type;
	__u32 nbounds;
	__s64 le[CUSTOM_BOUNDS_MAX];
};

/* The same metric once its series are more than --max-series: by (type,
 * name), or by (type, "__overflow__") once its names are more than
 * --max-custom-names. */
struct custom_name_key {
	__u32 type;
	__u32 pad;
	char name[CUSTOM_NAME_LEN];
};

/* Counters of the family's own (custom_stats). */
enum custom_stat {
	CSTAT_SERIES_OVERFLOW,	/* a call of a series past --max-series */
	CSTAT_NAME_OVERFLOW,	/* a call of a name past --max-custom-names */
	CSTAT_CONFLICT,		/* a call whose type is not its name's: ignored */
	CSTAT_TRUNCATED,	/* a name or labels longer than their bound, cut, when read */
	CSTAT_INVALID,		/* a name empty or unreadable, bounds invalid: ignored */
	CSTAT_BUCKETS_CONFLICT, /* a declaration after its name's first call, or other bounds */
	CSTAT_MAX,
};

#define CUSTOM_STAT_NAMES                                                                    \
	{                                                                                    \
		"series_overflow", "name_overflow", "type_conflict", "truncated", "invalid", \
			"buckets_conflict"                                                   \
	}

#endif /* AET_CUSTOM_MAPS_H */
