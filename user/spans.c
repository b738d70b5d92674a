// SPDX-License-Identifier: MIT
/*
 * The span pipeline in user space. The programs submit records without a
 * wakeup (docs/DESIGN.md, 5. Spans), so a consumer thread drains the ring every
 * DRAIN_NS, converts each record (user/spanconv.c) and appends it to the
 * batch being built (user/otlp.c); a batch goes to the exporter's queue
 * when it holds OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans or is
 * OTEL_BSP_SCHEDULE_DELAY old. Nothing here blocks on the network.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "expo.h"
#include "export.h"
#include "http_maps.h"
#include "mapdump.h"
#include "otelenv.h"
#include "otlp.h"
#include "probes_maps.h"
#include "python_maps.h"
#include "spanconv.h"
#include "spans_maps.h"
#include "spans.h"
#include "version.h"

#define DRAIN_NS      1000000 /* 1 ms: a 1 MiB ring then holds 4M records/s */
#define FLUSH_MS      3000    /* at exit, for the exporter to send what is queued */
#define RES_ATTRS_MAX (OTELENV_MAX_RESOURCE + 8)
#define PARKED_MAX    64	     /* model call spans waiting for what their call said */
#define PARKED_NS     1000000000     /* past it, a span goes as a plain HTTP span */
#define EVENTS_MAX    256	     /* span events waiting for their span's record */
#define EVENTS_NS     30000000000ULL /* past it, their span is taken not to come */

/* Span events the table could not keep (aet_collector_span_events_dropped_total). */
enum event_drop { EVD_FULL, EVD_SPAN_NOT_SEEN, EVD_TOO_MANY, EVD_MAX };
static const char *const event_drop_names[EVD_MAX] = { "table_full", "span_not_seen", "too_many" };

static const char *const kind_names[SPAN_KIND_MAX] = { "cycle", "task", "agent", "custom",
						       "file",	"db",	"http" };

struct spans {
	struct shared *shared; /* the ring, the label sets */
	struct otel_config otel;
	struct span_config kcfg;
	struct otlp otlp;
	struct otlp_batch batch;
	struct exporter *exp;
	struct ring_buffer *rb;
	struct span_conv conv;
	struct buf console;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	uint64_t batch_since; /* CLOCK_MONOTONIC ns of the batch's first span */
	int64_t mono_to_unix;
	_Atomic uint64_t received[SPAN_KIND_MAX];
	_Atomic uint64_t malformed;
	_Atomic uint64_t oom_dropped; /* batches out of memory: counted as queue_full */
	struct labels2 labels;	      /* of the task or agent request converted */
	struct genai_span genai;      /* what the model call of the span converted said */
	/* HTTP spans of model calls whose call the model call consumer has
	 * not ended yet (it drains its own ring): a copy of their records. */
	struct parked {
		uint64_t since; /* CLOCK_MONOTONIC ns; 0: a free slot */
		uint32_t size;
		uint64_t rec[(sizeof(struct span_record) + sizeof(struct http_span_text)) / 8];
	} parked[PARKED_MAX];
	_Atomic uint64_t unjoined; /* model call spans sent without what their call said */
	/* Events of spans not ended yet (records SPAN_EVENT): a span's record
	 * comes after its events, and takes them. EVENTS_MAX slots with
	 * --audit, whose program alone makes such records; else NULL. */
	struct pending_event {
		uint64_t since; /* CLOCK_MONOTONIC ns; 0: a free slot */
		uint64_t span_id, ns;
		struct py_audit_text text;
		bool has_arg;
	} * events;
	uint32_t nevents; /* slots taken */
	struct otlp_event ev[OTLP_EVENTS_MAX];
	struct otlp_attr ev_attr[OTLP_EVENTS_MAX];
	_Atomic uint64_t events_added;
	_Atomic uint64_t events_dropped[EVD_MAX];
	char host[256], instance[40];
};

/* service.instance.id: a random UUID (version 4) per collector run. */
static void make_instance_id(char *out, size_t len)
{
	uint8_t b[16] = {};

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		memset(b, 0, sizeof(b)); /* cannot happen for 16 bytes after boot */
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static struct otlp_attr str_attr(const char *key, const char *v)
{
	return (struct otlp_attr){ .key = key, .type = OTLP_STR, .s = v, .slen = strlen(v) };
}

/* The resource: what the environment says, then what the collector knows. */
static int init_otlp(struct spans *s, const struct target *t)
{
	struct otlp_attr a[RES_ATTRS_MAX];
	size_t n = 0;

	if (gethostname(s->host, sizeof(s->host) - 1))
		snprintf(s->host, sizeof(s->host), "unknown");
	make_instance_id(s->instance, sizeof(s->instance));
	a[n++] = str_attr("service.name", s->otel.service_name);
	a[n++] = str_attr("service.instance.id", s->instance);
	a[n++] = str_attr("host.name", s->host);
	/* Follow mode (pid 0) sends the spans of several processes. */
	if (t->pid)
		a[n++] = (struct otlp_attr){ .key = "process.pid", .type = OTLP_INT, .i = t->pid };
	a[n++] = str_attr("process.executable.name", t->comm);
	a[n++] = str_attr("telemetry.sdk.name", "aet-collector");
	a[n++] = str_attr("telemetry.sdk.language", "c");
	a[n++] = str_attr("telemetry.sdk.version", AET_COLLECTOR_VERSION);
	for (size_t i = 0; i < s->otel.nresource && n < RES_ATTRS_MAX; i++) {
		const struct otel_header *r = &s->otel.resource[i];

		if (strcmp(r->name, "service.name")) /* OTEL_SERVICE_NAME decided it */
			a[n++] = str_attr(r->name, r->value);
	}
	return otlp_init(&s->otlp, a, n, "aet-collector", AET_COLLECTOR_VERSION);
}

/* What the kernel is told: ids salted at random, the sampler, the bounds. */
static void kernel_config(struct spans *s, const struct config *cfg)
{
	struct span_config *k = &s->kcfg;
	const struct otel_config *o = &s->otel;

	if (getrandom(k->salt, sizeof(k->salt), 0) != sizeof(k->salt))
		k->salt[0] = clock_ns(CLOCK_REALTIME);
	k->sampler = o->sampler;
	/* ratio of 2^64, the low half of a trace id being uniform */
	k->threshold = o->ratio >= 1.0 ? ~0ULL : (__u64)(o->ratio * 18446744073709551616.0);
	k->min_io_ns = (__u64)cfg->span_min_io_us * 1000;
	k->sql_text = cfg->span_sql_text;
	/* always_off can never sample: the programs need not even look. */
	k->enabled = o->enabled && o->sampler != SAMPLER_ALWAYS_OFF;
}

struct spans *spans__new(const struct config *cfg, const struct target *t, struct shared *sh,
			 int *errp, char *err, size_t len)
{
	struct spans *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	buf_init(&s->console);
	s->shared = sh;
	rc = otel_config_parse(&s->otel, (otel_getenv_fn)getenv, err, len);
	if (!rc)
		kernel_config(s, cfg);
	if (!rc && s->kcfg.enabled) {
		rc = init_otlp(s, t);
		if (!rc && cfg->naudit && !(s->events = calloc(EVENTS_MAX, sizeof(*s->events))))
			rc = -ENOMEM;
		if (rc)
			snprintf(err, len, "out of memory");
	}
	if (!rc) {
		rc = shared__set_span_config(sh, &s->kcfg, sizeof(s->kcfg));
		if (rc)
			snprintf(err, len, "failed to configure spans: %s", strerror(-rc));
	}
	if (rc) {
		*errp = rc;
		spans__free(s);
		return NULL;
	}
	otlp_batch_init(&s->otlp, &s->batch);
	return s;
}

bool spans__enabled(const struct spans *s)
{
	return s && s->kcfg.enabled;
}

/* Hands the batch to the exporter. */
static void submit_batch(struct spans *s)
{
	uint32_t n = s->batch.nspans;
	const uint8_t *body;
	uint8_t *alloc;
	size_t len;

	if (!n)
		return;
	if (s->batch.oom || otlp_batch_seal(&s->otlp, &s->batch, &alloc, &body, &len)) {
		/* no memory for them: a queue that could not take them */
		otlp_batch_free(&s->batch);
		otlp_batch_init(&s->otlp, &s->batch);
		atomic_fetch_add(&s->oom_dropped, n);
		return;
	}
	exporter__submit(s->exp, alloc, body, len, n);
}

/* An event record: kept for its span, in a free slot. */
static void keep_event(struct spans *s, const void *data, size_t size)
{
	const struct span_record *r = data;
	const struct py_audit_text *t = (const void *)(r + 1);

	if (size < sizeof(*r) + sizeof(*t) || !s->events) {
		atomic_fetch_add_explicit(&s->malformed, 1, memory_order_relaxed);
		return;
	}
	for (int i = 0; i < EVENTS_MAX && s->nevents < EVENTS_MAX; i++) {
		struct pending_event *e = &s->events[i];

		if (e->since)
			continue;
		e->since = clock_ns(CLOCK_MONOTONIC);
		e->span_id = r->span_id;
		e->ns = r->start_ns;
		e->text = *t;
		e->text.name[sizeof(e->text.name) - 1] = '\0';
		e->text.arg[sizeof(e->text.arg) - 1] = '\0';
		e->has_arg = r->op != 0;
		s->nevents++;
		return;
	}
	atomic_fetch_add_explicit(&s->events_dropped[EVD_FULL], 1, memory_order_relaxed);
}

/* The events kept of span record r, as its span's (c->span), in the order
 * they came; their slots are free again (the strings stay until a record
 * takes them, after this span is encoded). */
static void take_events(struct spans *s, const struct span_record *r, struct otlp_span *span)
{
	struct pending_event *mine[EVENTS_MAX];
	size_t n = 0;

	for (int i = 0; i < EVENTS_MAX && s->nevents; i++)
		if (s->events[i].since && s->events[i].span_id == r->span_id)
			mine[n++] = &s->events[i];
	/* the oldest first: slots are reused in any order */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && mine[j - 1]->ns > mine[j]->ns; j--) {
			struct pending_event *t = mine[j];

			mine[j] = mine[j - 1];
			mine[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		struct pending_event *e = mine[i];

		e->since = 0;
		s->nevents--;
		if (i >= OTLP_EVENTS_MAX) {
			span->dropped_events++;
			continue;
		}
		s->ev_attr[i] = str_attr("python.audit.argument", e->text.arg);
		s->ev[i] = (struct otlp_event){ .time_unix_ns = e->ns + s->mono_to_unix,
						.name = e->text.name,
						.name_len = strlen(e->text.name),
						.attrs = &s->ev_attr[i],
						.nattrs = e->has_arg };
		span->nevents++;
	}
	span->events = s->ev;
	atomic_fetch_add_explicit(&s->events_added, span->nevents, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->events_dropped[EVD_TOO_MANY], span->dropped_events,
				  memory_order_relaxed);
}

/* Drops the events whose span has not come in EVENTS_NS (all when flush). */
static void expire_events(struct spans *s, bool flush)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	for (int i = 0; i < EVENTS_MAX && s->nevents; i++) {
		struct pending_event *e = &s->events[i];

		if (!e->since || (!flush && now - e->since < EVENTS_NS))
			continue;
		e->since = 0;
		s->nevents--;
		atomic_fetch_add_explicit(&s->events_dropped[EVD_SPAN_NOT_SEEN], 1,
					  memory_order_relaxed);
	}
}

/* Converts record r and adds it to the batch; genai: what its model call
 * said, or NULL. */
static void emit(struct spans *s, const void *data, size_t size, const struct genai_span *genai)
{
	const struct span_record *r = data;

	if (size >= sizeof(*r) && (r->kind == SPAN_TASK || r->kind == SPAN_AGENT)) {
		int kind = r->kind == SPAN_AGENT ? SERIES_AGENT : SERIES_TASKS;

		series_labels(&s->shared->series[kind], r->op, &s->labels);
		s->conv.labels[0] = s->labels.l1;
		s->conv.labels[1] = s->labels.l2;
	}
	s->conv.genai = genai;
	if (span_convert(&s->conv, data, size, s->mono_to_unix)) {
		atomic_fetch_add_explicit(&s->malformed, 1, memory_order_relaxed);
		return;
	}
	if (s->nevents)
		take_events(s, data, &s->conv.span);
	atomic_fetch_add_explicit(&s->received[((const struct span_record *)data)->kind], 1,
				  memory_order_relaxed);
	if (s->otel.console)
		otlp_span_json(&s->console, &s->conv.span);
	if (s->exp) {
		if (!s->batch.nspans)
			s->batch_since = clock_ns(CLOCK_MONOTONIC);
		otlp_append_span(&s->otlp, &s->batch, &s->conv.span);
		if (s->batch.nspans >= s->otel.max_batch)
			submit_batch(s);
	}
}

/* The model call of an HTTP span record: its number, 0 for none. */
static uint64_t call_of(const void *data, size_t size)
{
	const struct span_record *r = data;
	const struct http_span_text *t = (const void *)(r + 1);

	if (size < sizeof(*r) + sizeof(*t) || r->kind != SPAN_HTTP)
		return 0;
	return t->call;
}

/* Sends the parked spans whose call ended, or that waited too long (all
 * of them when flush). */
static void unpark(struct spans *s, bool flush)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	for (int i = 0; i < PARKED_MAX; i++) {
		struct parked *p = &s->parked[i];
		bool ended;

		if (!p->since)
			continue;
		ended = genai_done_take(&s->shared->genai_done, call_of(p->rec, p->size),
					&s->genai);
		if (!ended && !flush && now - p->since < PARKED_NS)
			continue;
		if (!ended)
			atomic_fetch_add_explicit(&s->unjoined, 1, memory_order_relaxed);
		emit(s, p->rec, p->size, ended ? &s->genai : NULL);
		p->since = 0;
	}
}

/* A model call's span waits for what the call said, in a free slot. */
static bool park(struct spans *s, const void *data, size_t size)
{
	for (int i = 0; i < PARKED_MAX; i++) {
		struct parked *p = &s->parked[i];

		if (p->since || size > sizeof(p->rec))
			continue;
		memcpy(p->rec, data, size);
		p->size = size;
		p->since = clock_ns(CLOCK_MONOTONIC);
		return true;
	}
	return false;
}

static int on_record(void *ctx, void *data, size_t size)
{
	const struct span_record *r = data;
	uint64_t call = call_of(data, size);
	struct spans *s = ctx;

	if (size >= sizeof(*r) && r->kind == SPAN_EVENT) {
		keep_event(s, data, size);
	} else if (!call) {
		emit(s, data, size, NULL);
	} else if (genai_done_take(&s->shared->genai_done, call, &s->genai)) {
		emit(s, data, size, &s->genai);
	} else if (!park(s, data, size)) {
		atomic_fetch_add_explicit(&s->unjoined, 1, memory_order_relaxed);
		emit(s, data, size, NULL);
	}
	return 0;
}

/* One pass: everything in the ring, then what is due. */
static void drain(struct spans *s)
{
	s->mono_to_unix = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	ring_buffer__consume(s->rb);
	unpark(s, false);
	expire_events(s, false);
	if (s->console.len) {
		fwrite(s->console.data, 1, s->console.len, stdout);
		fflush(stdout);
		buf_reset(&s->console);
	}
	if (s->exp && s->batch.nspans &&
	    clock_ns(CLOCK_MONOTONIC) - s->batch_since >= s->otel.schedule_delay_ms * 1000000ULL)
		submit_batch(s);
}

static void *consume(void *arg)
{
	const struct timespec period = { .tv_nsec = DRAIN_NS };
	struct spans *s = arg;

	while (!atomic_load(&s->stop)) {
		drain(s);
		nanosleep(&period, NULL);
	}
	drain(s);
	unpark(s, true);
	expire_events(s, true);
	submit_batch(s);
	return NULL;
}

int spans__start(struct spans *s, char *err, size_t len)
{
	int rc;

	if (!s->kcfg.enabled)
		return 0;
	s->rb = ring_buffer__new(shared__ring_fd(s->shared), on_record, s, NULL);
	if (!s->rb) {
		rc = -errno;
		snprintf(err, len, "failed to open the span ring buffer: %s", strerror(-rc));
		return rc;
	}
	if (s->otel.otlp) {
		s->exp = exporter__new(&s->otel, err, len);
		if (!s->exp)
			return -EINVAL;
	}
	rc = -pthread_create(&s->thread, NULL, consume, s);
	if (rc) {
		snprintf(err, len, "failed to start the span consumer: %s", strerror(-rc));
		return rc;
	}
	s->running = true;
	return 0;
}

void spans__free(struct spans *s)
{
	if (!s)
		return;
	if (s->running) {
		atomic_store(&s->stop, true);
		pthread_join(s->thread, NULL);
	}
	exporter__free(s->exp, FLUSH_MS);
	ring_buffer__free(s->rb);
	otlp_batch_free(&s->batch);
	otlp_fini(&s->otlp);
	buf_free(&s->console);
	otel_config_free(&s->otel);
	free(s->events);
	free(s);
}

static double span_stat(struct spans *s, __u32 i)
{
	return (double)shared__span_stat(s->shared, i);
}

static int write_export(const struct spans *s, const struct export_stats *st, struct buf *out)
{
	const struct expo_sample ones[] = {
		{ "aet_collector_spans_exported_total", "Spans the OTLP receiver accepted.",
		  METRIC_COUNTER, (double)st->exported },
		{ "aet_collector_spans_queued", "Spans waiting in the export queue.", METRIC_GAUGE,
		  (double)st->queued },
		{ "aet_collector_span_export_retries_total",
		  "OTLP requests sent again after a retryable failure.", METRIC_COUNTER,
		  (double)st->retries },
		{ "aet_collector_tracing_enabled", "Whether the programs emit spans.", METRIC_GAUGE,
		  s->kcfg.enabled },
		{ "aet_collector_gen_ai_spans_unjoined_total",
		  "Model call spans sent as plain HTTP spans: what their call said had not "
		  "come after a second, or too many waited.",
		  METRIC_COUNTER, (double)atomic_load(&s->unjoined) },
	};

	return expo_write_unlabelled(out, ones, sizeof(ones) / sizeof(ones[0]));
}

int spans__write_metrics(struct spans *s, struct buf *out)
{
	const char *reasons[DROP_MAX + 1] = { "ring_full" }; /* the kernel's, then the exporter's */
	struct export_stats st = {};
	double dropped[DROP_MAX + 1], kinds[SPAN_KIND_MAX], ev_dropped[EVD_MAX];
	const struct expo_sample added = {
		"aet_collector_span_events_total",
		"Span events (--audit) added to the span open on their thread.", METRIC_COUNTER,
		(double)atomic_load(&s->events_added)
	};

	if (s->exp)
		exporter__stats(s->exp, &st);
	dropped[0] = span_stat(s, SSTAT_RING_FULL);
	for (int i = 0; i < DROP_MAX; i++) {
		reasons[i + 1] = export_drop_names[i];
		dropped[i + 1] = st.dropped[i];
	}
	dropped[1 + DROP_QUEUE_FULL] += atomic_load(&s->oom_dropped);
	for (int i = 0; i < SPAN_KIND_MAX; i++)
		kinds[i] = atomic_load_explicit(&s->received[i], memory_order_relaxed);
	for (int i = 0; i < EVD_MAX; i++)
		ev_dropped[i] = atomic_load_explicit(&s->events_dropped[i], memory_order_relaxed);
	return write_export(s, &st, out) ?: expo_write_unlabelled(out, &added, 1) ?:
	       expo_write_by_label(out, "aet_collector_span_events_dropped_total",
				   "Span events not added to their span: too many waiting for "
				   "their span, their span not seen in 30 s, or past 32 of a span.",
				   METRIC_COUNTER, "reason", event_drop_names, ev_dropped, EVD_MAX) ?:
	       expo_write_by_label(out, "aet_collector_spans_total",
				   "Sampled spans read from the ring buffer, by kind.",
				   METRIC_COUNTER, "kind", kind_names, kinds, SPAN_KIND_MAX)
		       ?: expo_write_by_label(
				  out, "aet_collector_spans_dropped_total",
				  "Sampled spans that did not reach the receiver, by reason.",
				  METRIC_COUNTER, "reason", reasons, dropped, DROP_MAX + 1);
}

void spans__write_status(struct spans *s, struct buf *out)
{
	static const char *const stat_names[SSTAT_MAX] = { "ring_full",	      "depth_exceeded",
							   "context_invalid", "context_not_open",
							   "short_io",	      "no_thread_state" };
	struct export_stats st = {};
	const char *why = s->otel.enabled ? "OTEL_TRACES_SAMPLER=always_off" : s->otel.why_off;

	buf_printf(out, "\"tracing\":{\"enabled\":%s", s->kcfg.enabled ? "true" : "false");
	if (!s->kcfg.enabled) {
		buf_puts(out, ",\"why\":");
		buf_json_str(out, why, strlen(why));
	}
	buf_printf(out, ",\"sampler\":\"%s\",\"ratio\":%g,\"console\":%s,\"otlp\":",
		   otel_sampler_name(s->otel.sampler), s->otel.ratio,
		   s->otel.console ? "true" : "false");
	if (s->otel.otlp && s->otel.url)
		buf_json_str(out, s->otel.url, strlen(s->otel.url));
	else
		buf_puts(out, "null");
	buf_printf(out, ",\"compression\":\"%s\",\"ring_bytes\":%u,\"min_io_us\":%llu",
		   s->otel.gzip ? "gzip" : "none", shared__ring_bytes(s->shared),
		   (unsigned long long)s->kcfg.min_io_ns / 1000);
	if (s->exp)
		exporter__stats(s->exp, &st);
	buf_printf(out,
		   ",\"export\":{\"exported\":%llu,\"queued\":%llu,\"max_queue\":%u,"
		   "\"max_batch\":%u,\"requests\":%llu,"
		   "\"retries\":%llu,\"failures\":%llu,\"bytes_sent\":%llu,\"last_http_status\":%d,"
		   "\"last_error\":",
		   (unsigned long long)st.exported, (unsigned long long)st.queued,
		   s->otel.max_queue, s->otel.max_batch, (unsigned long long)st.requests,
		   (unsigned long long)st.retries, (unsigned long long)st.failures,
		   (unsigned long long)st.bytes_sent, st.last_http_status);
	buf_json_str(out, st.last_error, strnlen(st.last_error, sizeof(st.last_error)));
	buf_puts(out, "},\"kernel\":{");
	for (int i = 0; i < SSTAT_MAX; i++)
		buf_printf(out, "%s\"%s\":%.0f", i ? "," : "", stat_names[i], span_stat(s, i));
	buf_printf(out, "},\"malformed_records\":%llu}",
		   (unsigned long long)atomic_load(&s->malformed));
}
