/* SPDX-License-Identifier: MIT */
/*
 * Spans: the records the BPF programs put in the span ring buffer, the
 * per-thread span stack they keep, and the sampling configuration user
 * space gives them. Shared by bpf/spans.bpf.h and user/spans.c.
 *
 * A span is emitted once, complete, when it ends: the begin parks its ids
 * and start in its open slot (include/probes_maps.h) or in the in-flight
 * state of a syscall or SQLite statement; the end reserves one record,
 * fills it and submits it without a wakeup (user space drains the ring on a
 * timer: docs/DESIGN.md, 5. Spans). Unsampled spans never reach the ring.
 */
#ifndef AET_SPANS_H
#define AET_SPANS_H

#define SPAN_DEPTH	  8   /* spans open on one thread that nest */
#define SPAN_NAME_LEN	  64  /* a custom span's name, a label value */
#define SPAN_ATTRS_LEN	  256 /* a custom span's "k=v;k=v" attributes (255 bytes) */
#define SPAN_PATH_LEN	  256 /* file.path of a file operation (255 bytes) */
#define SPAN_SQL_LEN	  128 /* db.query.text (127 bytes), when enabled */
#define SPAN_RING_DEFAULT (1u << 20)

/* What a span record is. The order is the record's kind field. */
enum span_kind {
	SPAN_CYCLE,
	SPAN_TASK,
	SPAN_AGENT,
	SPAN_CUSTOM,
	SPAN_FILE,
	SPAN_DB,
	SPAN_HTTP,
	SPAN_KIND_MAX,
};

/* A record that is no span: an event of the span open on a thread (the
 * record's span_id), which user space adds to that span when its record
 * comes (after, since the span ends after its events). Its text is a
 * struct py_audit_text (include/python_maps.h). */
#define SPAN_EVENT 0x100

/* span_record.flags */
#define SPAN_F_SAMPLED	     0x1 /* W3C trace-flags bit 0 */
#define SPAN_F_REMOTE_PARENT 0x2 /* the parent came from a W3C traceparent */
#define SPAN_F_HAS_PARENT    0x4

/*
 * A span as it leaves the kernel: this header, then text whose layout
 * depends on kind (the record's size, which the ring gives, bounds it; every
 * string is NUL-terminated within its field unless it fills it):
 *   SPAN_CYCLE   none
 *   SPAN_TASK    none: op is the series index of its (agent, mode), whose
 *                labels user space reads from the task_series map
 *   SPAN_AGENT   none: op is the series of its (agent, operation)
 *   SPAN_CUSTOM  name[64] attributes[256]
 *   SPAN_FILE    path[256]: the path given to the syscall, or for read,
 *                write and fsync the name of the file (its dentry)
 *   SPAN_DB      sql[128] when db.query.text is enabled, else none
 *   SPAN_HTTP    struct http_span_text (include/http_maps.h)
 *   SPAN_EVENT   struct py_audit_text (include/python_maps.h)
 */
struct span_record {
	__u64 trace_id[2]; /* [0] the high 64 bits */
	__u64 span_id;
	__u64 parent_id; /* 0: a root span */
	__u64 start_ns;	 /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 end_ns;
	__u64 id;     /* cycle, task, agent, custom: the application's id;
		       * file: bytes read or written */
	__u32 tgid;   /* the process */
	__u32 tid;    /* the thread that began it */
	__s32 status; /* probe: 0..3 (else failure); file: the syscall's
		       * return when negative, else 0; db: the SQLite result
		       * code (0 success) */
	__u16 kind;   /* enum span_kind */
	__u16 flags;  /* SPAN_F_* */
	__u32 op;     /* file: enum file_op; db: enum db_verb; task, agent:
		       * the series index of its labels */
	__u32 pad;
};

#define SPAN_TEXT_CUSTOM (SPAN_NAME_LEN + SPAN_ATTRS_LEN)

/* Where a span belongs, decided when it begins and kept until its record
 * is written: in its open slot, its in-flight syscall or its statement. */
struct span_ctx {
	__u64 trace_id[2];
	__u64 parent_id; /* 0: a root */
	__u32 flags;	 /* SPAN_F_* */
	__u32 pad;
};

/* Root sampling (OTEL_TRACES_SAMPLER). Children follow their root; a root
 * with a parent from a traceparent follows that parent under the
 * parentbased samplers. */
enum span_sampler {
	SAMPLER_ALWAYS_OFF,
	SAMPLER_ALWAYS_ON,
	SAMPLER_RATIO,		   /* traceidratio */
	SAMPLER_PARENT_ALWAYS_ON,  /* parentbased_always_on */
	SAMPLER_PARENT_ALWAYS_OFF, /* parentbased_always_off */
	SAMPLER_PARENT_RATIO,	   /* parentbased_traceidratio */
};

/* The one entry of the span_config array, written by user space before any
 * program is attached. enabled = 0: no program touches the ring. */
struct span_config {
	__u64 salt[3];	 /* span id, trace id high and low: ids are a mix of salt and a counter */
	__u64 threshold; /* ratio samplers: a root is sampled when trace id low < threshold */
	__u64 min_io_ns; /* file and db spans shorter than this are not emitted */
	__u32 enabled;
	__u32 sampler;	/* enum span_sampler */
	__u32 sql_text; /* emit db.query.text */
	__u32 pad;
};

/* Indexes of the span_stats array (u64 counters). */
enum span_stat {
	SSTAT_RING_FULL,    /* a sampled span lost: the ring buffer was full */
	SSTAT_DEPTH,	    /* a span begun with SPAN_DEPTH open on its thread: not a parent */
	SSTAT_CTX_INVALID,  /* a trace context that was neither a traceparent nor an aet: reference
			     */
	SSTAT_CTX_NOT_OPEN, /* an aet: reference to a span not open (then a new trace) */
	SSTAT_SHORT_IO,	    /* file or db spans under --span-min-io-us, not emitted */
	SSTAT_NO_STATE,	    /* no per-thread span state (out of memory) */
	SSTAT_MAX,
};

/* A span open on a thread: its slot in the stack of struct span_thread.
 * slot is its open_slots index (probe spans), checked before a frame is
 * used: an end on another thread leaves the frame behind, stale. */
struct span_frame {
	__u64 trace_id[2];
	__u64 span_id;
	__u32 slot;
	__u32 flags; /* SPAN_F_SAMPLED */
};

/* What a trace context call left for the next root span of its thread. */
enum pending_ctx {
	PENDING_NONE,
	PENDING_REMOTE, /* a W3C traceparent: trace_id, parent_id, flags */
	PENDING_LOCAL,	/* "aet:KIND:ID": the open span (kind, id) of this process */
};

/* Per-thread task storage. */
struct span_thread {
	struct span_frame stack[SPAN_DEPTH];
	__u64 ctx_trace_id[2];
	__u64 ctx_parent_id; /* remote: the parent span id; local: the application's id */
	__u32 ctx_kind;	     /* pending_ctx */
	__u32 ctx_flags;     /* remote: W3C trace-flags; local: enum open_kind */
	__u32 depth;
	__u32 pad;
	char io_path[SPAN_PATH_LEN]; /* the path of the file syscall in progress */
};

#endif /* AET_SPANS_H */
