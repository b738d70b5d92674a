/* SPDX-License-Identifier: MIT */
/*
 * OTLP/protobuf encoding of spans (opentelemetry-proto, trace/v1): an
 * ExportTraceServiceRequest holding one ResourceSpans with one ScopeSpans.
 * Pure: no I/O, unit-tested on its own.
 *
 * The resource and scope are encoded once (otlp_init). A batch appends each
 * span's encoded Span message as it comes, behind headroom kept at the
 * front; sealing writes the enclosing message headers right-aligned into
 * that headroom, so a batch is never copied.
 *
 * Strings come from another process: every string field is made valid
 * UTF-8 (bytes that are not become U+FFFD, see buf_utf8_seq()), as protobuf
 * requires of `string`.
 */
#ifndef AET_OTLP_H
#define AET_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum otlp_value_type {
	OTLP_STR,
	OTLP_INT,
	OTLP_BOOL,
	OTLP_DOUBLE,
	OTLP_STR_ARRAY, /* an array of one string, s[0..slen) */
};

struct otlp_attr {
	const char *key;
	enum otlp_value_type type;
	const char *s; /* OTLP_STR, OTLP_STR_ARRAY: s[0..slen), not necessarily NUL-terminated */
	size_t slen;
	int64_t i; /* OTLP_INT, OTLP_BOOL (0 or 1) */
	double d;  /* OTLP_DOUBLE */
};

/* Span.SpanKind */
enum otlp_span_kind {
	OTLP_KIND_INTERNAL = 1,
	OTLP_KIND_SERVER = 2,
	OTLP_KIND_CLIENT = 3,
};

/* Status.StatusCode */
enum otlp_status_code {
	OTLP_STATUS_UNSET = 0,
	OTLP_STATUS_OK = 1,
	OTLP_STATUS_ERROR = 2,
};

/* Span.flags (fixed32, field 16): the W3C trace flags in bits 0-7, then
 * SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK (0x100) and IS_REMOTE (0x200). */
#define OTLP_FLAG_HAS_IS_REMOTE 0x100
#define OTLP_FLAG_IS_REMOTE	0x200

/* Span.Event: encoded of a span at most OTLP_EVENTS_MAX, the rest counted
 * in its dropped_events_count. */
#define OTLP_EVENTS_MAX 32

struct otlp_event {
	uint64_t time_unix_ns;
	const char *name;
	size_t name_len;
	const struct otlp_attr *attrs;
	size_t nattrs;
};

struct otlp_span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8]; /* all zero: no parent, the field is left out */
	const char *name;
	size_t name_len;
	enum otlp_span_kind kind;
	uint64_t start_unix_ns, end_unix_ns;
	const struct otlp_attr *attrs;
	size_t nattrs;
	enum otlp_status_code status;
	const char *status_msg; /* NULL: none */
	uint32_t flags;
	const struct otlp_event *events;
	size_t nevents;
	uint32_t dropped_events; /* events the span had that are not in events */
};

/* The constant part of every request. */
struct otlp {
	uint8_t *resource; /* an encoded Resource message */
	size_t resource_len;
	uint8_t *scope; /* an encoded InstrumentationScope message */
	size_t scope_len;
	size_t headroom; /* bytes a batch keeps in front of its spans */
};

/* Encodes the resource attributes and the instrumentation scope (name,
 * version). Returns 0 or -ENOMEM. */
int otlp_init(struct otlp *o, const struct otlp_attr *resource, size_t nresource,
	      const char *scope_name, const char *scope_version);
void otlp_fini(struct otlp *o);

/* A request being built. data is malloc'd: otlp_batch_seal() hands it over. */
struct otlp_batch {
	uint8_t *data;
	size_t len, cap; /* len counts the headroom */
	size_t nspans;
	int oom; /* an append failed for memory: the batch is to be dropped */
};

/* Starts an empty batch (allocating lazily). */
void otlp_batch_init(const struct otlp *o, struct otlp_batch *b);
void otlp_batch_free(struct otlp_batch *b);
/* Bytes the batch's spans take so far. */
size_t otlp_batch_bytes(const struct otlp *o, const struct otlp_batch *b);

/* Appends one span. Returns 0, or -ENOMEM (then b->oom is set). */
int otlp_append_span(const struct otlp *o, struct otlp_batch *b, const struct otlp_span *s);

/* Completes the ExportTraceServiceRequest. On return *body points into
 * b->data at the request's first byte, and *len is its length; *alloc is
 * the malloc'd block to free once sent. The batch is empty again (and owns
 * no memory). Returns 0, or -ENOMEM. */
int otlp_batch_seal(const struct otlp *o, struct otlp_batch *b, uint8_t **alloc,
		    const uint8_t **body, size_t *len);

/* Appends one span as a line of JSON (the console exporter), '\n' included,
 * to out (a struct buf *; see buf.h). Ids in lower-case hex, times in unix
 * nanoseconds. */
struct buf;
void otlp_span_json(struct buf *out, const struct otlp_span *s);

#endif /* AET_OTLP_H */
