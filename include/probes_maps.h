/* SPDX-License-Identifier: MIT */
/*
 * Keys and values of the maps filled by bpf/probes.bpf.c (uprobes on the
 * AET probe functions) and read by user/probes.c. Fixed-width types, largest
 * fields first, explicit padding: a key with a hole would hash garbage.
 */
#ifndef AET_PROBES_MAPS_H
#define AET_PROBES_MAPS_H

#include "hist_map.h"
#include "spans_maps.h"

#define LABEL_LEN	64 /* a label value: at most 63 bytes and a NUL */
#define OVERFLOW_LABEL	"__overflow__"
#define PROBES_MAX	10  /* the probe functions of include/aet/probe.h */
#define OVERFLOW_SERIES 0   /* the series index of the "__overflow__" label set */
#define STATUS_MAX	4   /* success, failure, timeout, cancelled */
#define OPEN_PROBES	4   /* slots tried for one (process, kind, id), hot then anywhere */
#define HOT_SLOTS	256 /* open slots tried first: see slot_at() */
#define LABEL_CACHE	64  /* per-CPU entries of the label set cache */

/* The status label of an end and the aet.status of its span, by status
 * index (enum aet_status, include/aet/probe.h: the names stay out of the
 * header applications include). */
#define STATUS_NAMES                                         \
	{                                                    \
		"success", "failure", "timeout", "cancelled" \
	}

/* What a begin opens; the index of aet_collector_unmatched_total{kind}. */
enum open_kind {
	KIND_CYCLE,
	KIND_TASK,
	KIND_AGENT,
	KIND_SPAN, /* a custom span: aet_probe_span_begin/end */
	KIND_MAX,
};

/* The kinds of label sets given series indexes, each bounded by --max-series
 * and kept in a series map of its own. */
enum series_kind {
	SERIES_TASKS,
	SERIES_AGENT,
	SERIES_EVENTS,
	SERIES_KINDS,
};

/* Indexes of the collector_stats array (u64 counters). */
enum collector_stat {
	STAT_UNMATCHED = 0,	  /* + enum open_kind: an end without its begin */
	STAT_OPEN_OVERFLOW = 4,	  /* + enum open_kind: a begin that found no free slot */
	STAT_SERIES_OVERFLOW = 8, /* + enum series_kind */
	STAT_MAX = 11,
};

enum slot_state {
	SLOT_FREE,
	SLOT_BUSY, /* being filled or taken: owned by one program run */
	SLOT_OPEN,
};

/*
 * An open cycle, task, agent request or custom span: a slot of the
 * open_slots array, found from (process, kind, id) by hashing and taken with
 * compare and swap. An array slot costs a fraction of a hash map insert and
 * delete. It holds the span's ids too (include/spans_maps.h): a child begun on
 * the same thread, or on another by an "aet:" trace context, reads them.
 */
struct open_slot {
	__u64 id;
	__u64 start_ns; /* bpf_ktime_get_ns() at the begin */
	struct span_ctx ctx;
	__u64 span_id; /* 0 when tracing is off */
	__u32 tgid;
	__u32 kind;   /* enum open_kind */
	__u32 state;  /* enum slot_state */
	__u32 series; /* task or agent request: index of its label set */
	__u32 tid;    /* the thread of the begin */
	__u32 pad;
};

/* A label set of up to two values: (agent, mode), (agent, operation) or
 * (event_type, ""). The key of task_series, agent_series and event_series,
 * whose values are series indexes. */
struct labels2 {
	char l1[LABEL_LEN];
	char l2[LABEL_LEN];
} __attribute__((aligned(8))); /* copied and compared 8 bytes at a time */

/* A per-CPU cache entry: label set to series index, so that a begin with a
 * label set seen before skips the hash of its 128 bytes. */
struct label_cache_entry {
	struct labels2 labels;
	__u32 series;
	__u32 kind; /* enum series_kind + 1; 0 = empty */
	__u32 seq;  /* odd while being written */
	__u32 pad;
};

/* task_hist and agent_hist hold a struct hist (include/hist.h) per (series,
 * status), at series * STATUS_MAX + status. */

#endif /* AET_PROBES_MAPS_H */
