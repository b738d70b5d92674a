/* SPDX-License-Identifier: MIT */
/*
 * The OTLP/HTTP exporter: a bounded queue of sealed requests (user/otlp.h)
 * and a thread that POSTs them with libcurl to the traces URL,
 * Content-Type application/x-protobuf, gzip-compressed unless configured
 * off, retrying with exponential backoff and jitter on 429, 502, 503, 504
 * and connection errors or timeouts (Retry-After honoured), within the
 * export timeout. Every span that does not arrive is counted by reason.
 */
#ifndef AET_EXPORT_H
#define AET_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "otelenv.h"

/* Why spans were dropped: aet_collector_spans_dropped_total{reason}. The
 * kernel's ring_full is counted in the span_stats map, not here. */
enum export_drop {
	DROP_QUEUE_FULL,	/* the queue held max_queue spans */
	DROP_REJECTED,		/* the receiver answered a status not worth retrying */
	DROP_RETRIES_EXHAUSTED, /* the export timeout passed while retrying */
	DROP_SHUTDOWN,		/* still queued when the flush at exit ran out of time */
	DROP_MAX,
};

extern const char *const export_drop_names[DROP_MAX];

struct export_stats {
	uint64_t exported; /* spans the receiver accepted (2xx) */
	uint64_t dropped[DROP_MAX];
	uint64_t requests; /* HTTP requests made, retries included */
	uint64_t retries;
	uint64_t failures;    /* requests that failed (any non-2xx or transport error) */
	uint64_t queued;      /* spans waiting now */
	uint64_t bytes_sent;  /* request bodies, after compression */
	int last_http_status; /* 0: none yet, or a transport error */
	char last_error[128];
};

struct exporter;

/* Starts the export thread. Returns NULL with err set. */
struct exporter *exporter__new(const struct otel_config *cfg, char *err, size_t len);

/* Queues a sealed request of nspans spans; alloc is freed by the exporter
 * (at once when the queue is full: then the spans count as queue_full). */
void exporter__submit(struct exporter *e, uint8_t *alloc, const uint8_t *body, size_t len,
		      uint32_t nspans);

void exporter__stats(struct exporter *e, struct export_stats *out);

/* Sends what is queued, waiting at most flush_ms, then stops the thread;
 * what is left counts as shutdown. NULL-safe. */
void exporter__free(struct exporter *e, uint32_t flush_ms);

#endif /* AET_EXPORT_H */
