// SPDX-License-Identifier: MIT
/* Metric samples from what the probe and file maps hold (samples.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/types.h>

#include "expo.h"
#include "files_maps.h"
#include "http_maps.h"
#include "series.h"
#include "sqlite_maps.h"
#include "sqlverb.h"
#include "probes_maps.h"
#include "samples.h"

/* The status index of task_hist, agent_hist and cycle_hist. */
enum { ST_SUCCESS, ST_FAILURE, ST_TIMEOUT, ST_CANCELLED };

static const char *const status_names[STATUS_MAX] = STATUS_NAMES;
static const char *const op_names[FOP_MAX] = FILE_OP_NAMES;
/* A file operation or an SQLite statement: FILE_STATUS_MAX, DB_STATUS_MAX. */
static const char *const op_status_names[] = { "success", "error" };

/* The metrics of struct probe_samples, in the order they are written. */
enum {
	M_TASKS_TOTAL,
	M_TASK_SECONDS,
	M_ACTIVE_TASKS,
	M_AGENT_REQUESTS,
	M_AGENT_ERRORS,
	M_AGENT_SECONDS,
	M_CYCLES_TOTAL,
	M_CYCLE_SECONDS,
	M_EVENTS_TOTAL,
	M_MAX,
};

struct probe_samples {
	struct metric *m[M_MAX];
};

static const char *const l_status_mode_agent[] = { "status", "mode", "agent" };
static const char *const l_agent_mode[] = { "agent", "mode" };
static const char *const l_agent_operation[] = { "agent", "operation" };
static const char *const l_mode[] = { "mode" };
static const char *const l_status[] = { "status" };
static const char *const l_event_type[] = { "event_type" };

struct metric_def {
	const char *name;
	const char *help;
	enum metric_type type;
	int nlabels;
	const char *const *labels;
};

#define LABELS(l) (int)(sizeof(l) / sizeof((l)[0])), l

static const struct metric_def metric_defs[M_MAX] = {
	[M_TASKS_TOTAL] = { "aet_tasks_total", "Tasks ended, by status, mode and agent.",
			    METRIC_COUNTER, LABELS(l_status_mode_agent) },
	[M_TASK_SECONDS] = { "aet_task_duration_seconds",
			     "Task duration from begin to end, in seconds.", METRIC_HISTOGRAM,
			     LABELS(l_agent_mode) },
	[M_ACTIVE_TASKS] = { "aet_active_tasks", "Tasks begun and not yet ended, by mode.",
			     METRIC_GAUGE, LABELS(l_mode) },
	[M_AGENT_REQUESTS] = { "aet_agent_requests_total", "Agent requests ended.", METRIC_COUNTER,
			       LABELS(l_agent_operation) },
	[M_AGENT_ERRORS] = { "aet_agent_errors_total",
			     "Agent requests ended with status failure or timeout.", METRIC_COUNTER,
			     LABELS(l_agent_operation) },
	[M_AGENT_SECONDS] = { "aet_agent_response_seconds",
			      "Agent request duration from begin to end, in seconds.",
			      METRIC_HISTOGRAM, LABELS(l_agent_operation) },
	[M_CYCLES_TOTAL] = { "aet_cycles_total", "Orchestrator cycles ended, by status.",
			     METRIC_COUNTER, LABELS(l_status) },
	[M_CYCLE_SECONDS] = { "aet_cycle_duration_seconds",
			      "Orchestrator cycle duration from begin to end, in seconds.",
			      METRIC_HISTOGRAM, 0, NULL },
	[M_EVENTS_TOTAL] = { "aet_events_total", "Event log entries, by event type.",
			     METRIC_COUNTER, LABELS(l_event_type) },
};

struct probe_samples *probe_samples__new(void)
{
	struct probe_samples *s = calloc(1, sizeof(*s));

	for (int i = 0; s && i < M_MAX; i++) {
		const struct metric_def *d = &metric_defs[i];

		s->m[i] = metric__new(d->name, d->help, d->type, d->nlabels, d->labels);
		if (!s->m[i]) {
			probe_samples__free(s);
			return NULL;
		}
	}
	return s;
}

void probe_samples__free(struct probe_samples *s)
{
	if (!s)
		return;
	for (int i = 0; i < M_MAX; i++)
		metric__free(s->m[i]);
	free(s);
}

void probe_samples__write(const struct probe_samples *s, struct buf *out)
{
	for (int i = 0; i < M_MAX; i++)
		metric__write(s->m[i], out);
}

static int add_hist(struct metric *f, const char *const *v, const struct hist *h)
{
	return metric__add_hist(f, v, (const uint64_t *)h->buckets, h->sum_ns / 1e9, hist_count(h));
}

/* One task series: h holds its STATUS_MAX histograms. */
static int add_task_series(struct probe_samples *s, const struct labels2 *l, const struct hist *h,
			   bool overflow)
{
	struct hist all = {};
	int rc = 0;

	for (int st = 0; st < STATUS_MAX && !rc; st++) {
		struct hist one = h[st];
		uint64_t n = hist_count(&one);

		if (n)
			rc = metric__add(s->m[M_TASKS_TOTAL],
					 (const char *const[]){ status_names[st], l->l2, l->l1 },
					 n);
		hist_add(&all, &one);
	}
	if (rc || (overflow && !hist_count(&all)))
		return rc; /* shown once something overflows */
	if (hist_count(&all))
		rc = add_hist(s->m[M_TASK_SECONDS], (const char *const[]){ l->l1, l->l2 }, &all);
	/* A mode with no task open still reports 0. */
	return rc ?: metric__add(s->m[M_ACTIVE_TASKS], (const char *const[]){ l->l2 }, 0);
}

int probe_samples__add_tasks(struct probe_samples *s, const struct series_set *set,
			     const struct hist *hist, const struct open_slot *slots, size_t nslots)
{
	int rc = 0;

	for (size_t i = 0; i < set->n && !rc; i++)
		if (set->used[i])
			rc = add_task_series(s, &set->labels[i], &hist[i * STATUS_MAX],
					     i == OVERFLOW_SERIES);
	for (size_t i = 0; i < nslots && !rc; i++) {
		const struct open_slot *o = &slots[i];

		if (o->state == SLOT_OPEN && o->kind == KIND_TASK && o->series < set->n &&
		    set->used[o->series])
			rc = metric__add(s->m[M_ACTIVE_TASKS],
					 (const char *const[]){ set->labels[o->series].l2 }, 1);
	}
	return rc;
}

/* One agent series: h holds its STATUS_MAX histograms. */
static int add_agent_series(struct probe_samples *s, const struct labels2 *l, const struct hist *h)
{
	const char *const v[] = { l->l1, l->l2 };
	struct hist all = {};
	uint64_t errors = 0;

	for (int st = 0; st < STATUS_MAX; st++) {
		struct hist one = h[st];

		/* A failure or a timeout; a cancelled request is no error. */
		if (st == ST_FAILURE || st == ST_TIMEOUT)
			errors += hist_count(&one);
		hist_add(&all, &one);
	}
	if (!hist_count(&all))
		return 0;
	return metric__add(s->m[M_AGENT_REQUESTS], v, hist_count(&all)) ?:
	       metric__add(s->m[M_AGENT_ERRORS], v, errors) ?:
	       add_hist(s->m[M_AGENT_SECONDS], v, &all);
}

int probe_samples__add_agents(struct probe_samples *s, const struct series_set *set,
			      const struct hist *hist)
{
	int rc = 0;

	/* The used entries only: zeroing a histogram for each of --max-series
	 * was a tenth of a scrape at 100k. */
	for (size_t i = 0; i < set->n && !rc; i++)
		if (set->used[i])
			rc = add_agent_series(s, &set->labels[i], &hist[i * STATUS_MAX]);
	return rc;
}

int probe_samples__add_events(struct probe_samples *s, const struct series_set *set,
			      const __u64 *counts)
{
	int rc = 0;

	for (size_t i = 0; i < set->n && !rc; i++) {
		__u64 n = counts[i];

		/* The overflow series is shown once something overflows. */
		if (set->used[i] && (n || i != OVERFLOW_SERIES))
			rc = metric__add(s->m[M_EVENTS_TOTAL],
					 (const char *const[]){ set->labels[i].l1 }, n);
	}
	return rc;
}

int probe_samples__add_cycles(struct probe_samples *s, const struct hist *hist)
{
	struct hist all = {};
	int rc = 0;

	for (int st = 0; st < STATUS_MAX && !rc; st++) {
		struct hist one = hist[st];

		rc = metric__add(s->m[M_CYCLES_TOTAL], (const char *const[]){ status_names[st] },
				 hist_count(&one));
		hist_add(&all, &one);
	}
	return rc ?: add_hist(s->m[M_CYCLE_SECONDS], NULL, &all);
}

/* One file operation: its FILE_STATUS_MAX histograms and its bytes. */
static int add_file_op(struct metric *total, struct metric *secs, struct metric *bytes, int op,
		       const struct hist *h, __u64 n)
{
	struct hist all = {};
	int rc = 0;

	for (int st = 0; st < FILE_STATUS_MAX && !rc; st++) {
		struct hist one = h[st];

		hist_add(&all, &one);
		rc = metric__add(total, (const char *const[]){ op_names[op], op_status_names[st] },
				 hist_count(&one));
	}
	rc = rc ?: add_hist(secs, &op_names[op], &all);
	if (!rc && (op == FOP_READ || op == FOP_WRITE))
		rc = metric__add(bytes, &op_names[op], n);
	return rc;
}

int file_samples_write(const struct hist *hist, const __u64 *bytes, struct buf *out)
{
	static const char *const l_op_status[] = { "operation", "status" };
	static const char *const l_op[] = { "operation" };
	struct metric *total, *secs, *nbytes;
	int rc = -ENOMEM;

	total = metric__new("aet_file_operations_total",
			    "File operations of the target processes on regular files, by status.",
			    METRIC_COUNTER, 2, l_op_status);
	secs = metric__new("aet_file_operation_seconds",
			   "Duration of file operations (syscall enter to exit), in seconds.",
			   METRIC_HISTOGRAM, 1, l_op);
	nbytes =
		metric__new("aet_file_bytes_total", "Bytes read from and written to regular files.",
			    METRIC_COUNTER, 1, l_op);
	if (total && secs && nbytes)
		rc = 0;
	for (int op = 0; op < FOP_MAX && !rc; op++)
		rc = add_file_op(total, secs, nbytes, op, &hist[op * FILE_STATUS_MAX], bytes[op]);
	if (!rc) {
		metric__write(total, out);
		metric__write(secs, out);
		metric__write(nbytes, out);
	}
	metric__free(total);
	metric__free(secs);
	metric__free(nbytes);
	return rc;
}

/* One verb: its counts by status, and its histogram when it ran. */
static int add_verb(struct metric *total, struct metric *secs, int verb, const struct hist *h)
{
	const char *name = sqlverb_name(verb);
	struct hist all = {};
	int rc = 0;

	for (int st = 0; st < DB_STATUS_MAX && !rc; st++) {
		struct hist one = h[st];

		hist_add(&all, &one);
		rc = metric__add(total, (const char *const[]){ name, op_status_names[st] },
				 (double)hist_count(&one));
	}
	if (!rc && hist_count(&all))
		rc = add_hist(secs, &name, &all);
	return rc;
}

int db_samples_write(const struct hist *hist, struct buf *out)
{
	static const char *const l_op_status[] = { "operation", "status" };
	static const char *const l_op[] = { "operation" };
	struct metric *total, *secs;
	int rc = -ENOMEM;

	/* Every verb and status, zeros too, so that dashboards have series. */
	total = metric__new(
		"aet_db_operations_total",
		"SQLite statement executions, by SQL verb and status (error: the "
		"statement failed to prepare or sqlite3_step() returned an error code).",
		METRIC_COUNTER, 2, l_op_status);
	secs = metric__new("aet_db_operation_seconds",
			   "SQLite statement execution time, from its first sqlite3_step() to "
			   "its last, in seconds.",
			   METRIC_HISTOGRAM, 1, l_op);
	if (total && secs)
		rc = 0;
	for (int v = 0; v < VERB_MAX && !rc; v++)
		rc = add_verb(total, secs, v, &hist[v * DB_STATUS_MAX]);
	if (!rc) {
		metric__write(total, out);
		metric__write(secs, out);
	}
	metric__free(total);
	metric__free(secs);
	return rc;
}

/* A label value of at most n bytes of s, up to its NUL. */
static const char *bounded(char *dst, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && s[i]; i++)
		dst[i] = s[i];
	dst[i] = '\0';
	return dst;
}

/* The samples of one series of http_series (or of http_overflow). */
static int add_http(struct metric *req, struct metric *dur, struct metric *bytes,
		    const char *method, const char *host, const char *code, const char *error,
		    const struct http_val *v)
{
	uint64_t count = hist_count(&v->hist);

	return metric__add(req, (const char *const[]){ method, host, code, error }, count) ?:
	       metric__add_hist(dur, (const char *const[]){ method, host },
				(const uint64_t *)v->hist.buckets, v->hist.sum_ns / 1e9, count) ?:
	       metric__add(bytes, (const char *const[]){ host, "request" }, v->req_bytes) ?:
	       metric__add(bytes, (const char *const[]){ host, "response" }, v->resp_bytes);
}

int http_samples_write(const struct http_key *keys, const struct http_val *vals, size_t n,
		       const struct http_val *overflow, struct buf *out)
{
	static const char *const methods[HM_MAX] = HTTP_METHOD_NAMES;
	static const char *const errors[HE_MAX] = HTTP_ERROR_NAMES;
	static const char *const l_req[] = { "method", "server_address", "status_code",
					     "error_type" };
	static const char *const l_dur[] = { "method", "server_address" };
	static const char *const l_bytes[] = { "server_address", "direction" };
	struct metric *req, *dur, *bytes;
	int rc = -ENOMEM;

	req = metric__new("aet_http_client_requests_total",
			  "HTTP client requests of the target, by method, server (the Host "
			  "header's host) and status code; error_type when no whole response came.",
			  METRIC_COUNTER, 4, l_req);
	dur = metric__new("aet_http_client_request_duration_seconds",
			  "HTTP client request duration, from the request's first byte written to "
			  "its response's last byte read, in seconds.",
			  METRIC_HISTOGRAM, 2, l_dur);
	bytes = metric__new("aet_http_client_bytes_total",
			    "HTTP client body bytes, of requests written and responses read "
			    "(heads and chunk framing not counted).",
			    METRIC_COUNTER, 2, l_bytes);
	if (req && dur && bytes)
		rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct http_key *k = &keys[i];
		char host[HTTP_HOST_LEN], code[8] = "";

		bounded(host, k->host, HTTP_HOST_LEN - 1);
		if (k->status)
			snprintf(code, sizeof(code), "%u", k->status);
		rc = add_http(req, dur, bytes, methods[k->method < HM_MAX ? k->method : HM_OTHER],
			      host, code, errors[k->error < HE_MAX ? k->error : HE_CLOSED],
			      &vals[i]);
	}
	for (int m = 0; m < HM_MAX && !rc; m++)
		if (hist_count(&overflow[m].hist))
			rc = add_http(req, dur, bytes, methods[m], "__overflow__", "__overflow__",
				      "", &overflow[m]);
	if (!rc) {
		metric__write(req, out);
		metric__write(dur, out);
		metric__write(bytes, out);
	}
	metric__free(req);
	metric__free(dur);
	metric__free(bytes);
	return rc;
}
