// SPDX-License-Identifier: MIT
/*
 * The OTLP/HTTP exporter (opentelemetry-proto docs/specification.md,
 * "OTLP/HTTP"). One thread owns one curl easy handle driven through a multi
 * handle: the multi keeps the connection between requests, and
 * curl_multi_wakeup() lets exporter__free() interrupt a transfer stuck on a
 * receiver that does not answer, which a blocking curl_easy_perform() would
 * only notice at its timeout.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "export.h"
#include "version.h"

/* Retries (the OTLP specification leaves the numbers to the SDK; these are
 * those of the Go and Java SDKs' defaults, with full jitter). */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS	 5000
/* The longest a transfer waits in curl_multi_poll() before looking at the
 * flush deadline again; exporter__free() wakes it sooner. */
#define POLL_MAX_MS	 1000

const char *const export_drop_names[DROP_MAX] = {
	[DROP_QUEUE_FULL] = "queue_full",
	[DROP_REJECTED] = "rejected",
	[DROP_RETRIES_EXHAUSTED] = "retries_exhausted",
	[DROP_SHUTDOWN] = "shutdown",
};

struct request {
	struct request *next;
	uint8_t *alloc;
	const uint8_t *body;
	size_t len;
	uint32_t nspans;
};

struct exporter {
	pthread_mutex_t lock; /* guards the queue, stopping, flush_end and stats */
	pthread_cond_t cond;  /* CLOCK_MONOTONIC: a request queued, or stop */
	struct request *head, *tail;
	uint32_t max_queue; /* spans */
	bool stopping;
	uint64_t flush_end; /* once stopping: CLOCK_MONOTONIC ms when sending ends */
	struct export_stats stats;
	/* The export thread's alone once it runs. */
	pthread_t thread;
	CURLM *multi;
	CURL *curl;
	struct curl_slist *hdrs, *hdrs_gzip;
	bool gzip;
	uint32_t timeout_ms, export_timeout_ms;
	struct buf gz;
	long retry_after_ms; /* of the last response; -1: none */
	uint64_t rng;
	char curl_err[CURL_ERROR_SIZE];
};

/* What one attempt came to. */
enum outcome {
	SENT,	/* 2xx */
	RETRY,	/* 429, 502, 503, 504, or a transport error that may pass */
	REJECT, /* anything else */
	CUT,	/* the flush at exit ran out during the transfer */
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static CURLcode global_result = CURLE_FAILED_INIT;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* curl_global_init() is not thread-safe before libcurl 7.84: once. */
static void global_init(void)
{
	global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The time sending must end by: the flush deadline once stopping. */
static uint64_t flush_end(struct exporter *e)
{
	uint64_t end;

	pthread_mutex_lock(&e->lock);
	end = e->stopping ? e->flush_end : UINT64_MAX;
	pthread_mutex_unlock(&e->lock);
	return end;
}

/* The response body (an ExportTraceServiceResponse) tells nothing the
 * status does not; without a write function curl would print it. */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* Retry-After in seconds; the HTTP-date form is left to the backoff. */
static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	static const char name[] = "retry-after:";
	struct exporter *e = arg;
	size_t len = size * n, i = sizeof(name) - 1;
	long secs = 0;

	/* A status line starts another response (after 100 Continue). */
	if (len >= 5 && !strncmp(p, "HTTP/", 5))
		e->retry_after_ms = -1;
	if (len <= i || strncasecmp(p, name, i))
		return len;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == len || p[i] < '0' || p[i] > '9')
		return len;
	/* Bounded against overflow; the wait is capped to the budget anyway. */
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
		if (secs < 86400)
			secs = secs * 10 + (p[i] - '0');
	e->retry_after_ms = secs * 1000;
	return len;
}

static bool skipped_header(const char *name)
{
	/* The body's own: set here, a second line would contradict them. */
	return !strcasecmp(name, "Content-Type") || !strcasecmp(name, "Content-Encoding") ||
	       !strcasecmp(name, "Content-Length");
}

static struct curl_slist *add_header(struct curl_slist *l, const char *line)
{
	struct curl_slist *n;

	if (!l)
		return NULL;
	n = curl_slist_append(l, line);
	if (!n)
		curl_slist_free_all(l);
	return n;
}

/* The request headers; NULL when out of memory. */
static struct curl_slist *build_headers(const struct otel_config *cfg, bool gzip)
{
	struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	char line[1024];

	/* curl would wait up to a second for 100 Continue before a large body. */
	l = add_header(l, "Expect:");
	if (gzip)
		l = add_header(l, "Content-Encoding: gzip");
	for (size_t i = 0; i < cfg->nheaders; i++) {
		if (skipped_header(cfg->headers[i].name))
			continue;
		/* "Name;" is curl's way to send a header with an empty value. */
		if (*cfg->headers[i].value)
			snprintf(line, sizeof(line), "%s: %s", cfg->headers[i].name,
				 cfg->headers[i].value);
		else
			snprintf(line, sizeof(line), "%s;", cfg->headers[i].name);
		l = add_header(l, line);
	}
	return l;
}

static int setup_curl(struct exporter *e, const struct otel_config *cfg, char *err, size_t len)
{
	CURL *c;

	e->multi = curl_multi_init();
	e->curl = c = curl_easy_init();
	e->hdrs = build_headers(cfg, false);
	e->hdrs_gzip = build_headers(cfg, true);
	if (!e->multi || !c || !e->hdrs || !e->hdrs_gzip) {
		snprintf(err, len, "cannot set up libcurl: out of memory");
		return -ENOMEM;
	}
	/* Signals are the main thread's: no SIGALRM for name resolution. */
	if (curl_easy_setopt(c, CURLOPT_URL, cfg->url) ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "aet-collector/" AET_COLLECTOR_VERSION) ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard) ||
	    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb) ||
	    curl_easy_setopt(c, CURLOPT_HEADERDATA, e) ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->curl_err)) {
		snprintf(err, len, "cannot set up libcurl for %s", cfg->url);
		return -EINVAL;
	}
	return 0;
}

/* Runs the transfer set up on e->curl to its end, or until the flush at
 * exit runs out (then CURLE_ABORTED_BY_CALLBACK). */
static CURLcode transfer(struct exporter *e)
{
	CURLcode res = CURLE_OK;
	uint64_t now, end;
	int running = 1, left;
	CURLMsg *msg;

	if (curl_multi_add_handle(e->multi, e->curl))
		return CURLE_FAILED_INIT;
	for (;;) {
		if (curl_multi_perform(e->multi, &running)) {
			res = CURLE_FAILED_INIT;
			break;
		}
		if (!running)
			break;
		end = flush_end(e);
		now = clock_ms(CLOCK_MONOTONIC);
		if (now >= end) {
			res = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		curl_multi_poll(e->multi, NULL, 0, (int)min_u64(end - now, POLL_MAX_MS), NULL);
	}
	while (res == CURLE_OK && (msg = curl_multi_info_read(e->multi, &left))) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == e->curl) {
			res = msg->data.result;
			break;
		}
	}
	/* An unfinished transfer's connection is closed here. */
	curl_multi_remove_handle(e->multi, e->curl);
	return res;
}

static bool retryable_error(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static enum outcome classify(CURLcode res, long status)
{
	if (res == CURLE_ABORTED_BY_CALLBACK)
		return CUT;
	if (res != CURLE_OK)
		return retryable_error(res) ? RETRY : REJECT;
	if (status >= 200 && status < 300)
		return SENT;
	if (status == 429 || status == 502 || status == 503 || status == 504)
		return RETRY;
	return REJECT;
}

static void record_attempt(struct exporter *e, bool retry, CURLcode res, long status)
{
	struct export_stats *s = &e->stats;
	curl_off_t up = 0;

	curl_easy_getinfo(e->curl, CURLINFO_SIZE_UPLOAD_T, &up);
	pthread_mutex_lock(&e->lock);
	s->requests++;
	s->retries += retry;
	s->bytes_sent += up;
	s->last_http_status = res == CURLE_OK ? (int)status : 0;
	if (res == CURLE_OK && status >= 200 && status < 300) {
		pthread_mutex_unlock(&e->lock);
		return;
	}
	s->failures++;
	if (res == CURLE_OK)
		snprintf(s->last_error, sizeof(s->last_error), "HTTP %ld", status);
	else if (res == CURLE_ABORTED_BY_CALLBACK)
		snprintf(s->last_error, sizeof(s->last_error), "cut short at exit");
	else
		snprintf(s->last_error, sizeof(s->last_error), "%.*s",
			 (int)sizeof(s->last_error) - 1,
			 *e->curl_err ? e->curl_err : curl_easy_strerror(res));
	pthread_mutex_unlock(&e->lock);
}

/* One POST, given until end (CLOCK_MONOTONIC ms) at most. */
static enum outcome attempt(struct exporter *e, const void *body, size_t len, bool gz, uint64_t end,
			    bool retry)
{
	long limit = (long)min_u64(e->timeout_ms, end - clock_ms(CLOCK_MONOTONIC)), status = 0;
	CURLcode res;

	/* 0 would mean no timeout at all. */
	limit = limit > 0 ? limit : 1;
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, gz ? e->hdrs_gzip : e->hdrs);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, limit);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, limit);
	e->retry_after_ms = -1;
	e->curl_err[0] = '\0';
	res = transfer(e);
	if (res == CURLE_OK)
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	record_attempt(e, retry, res, status);
	return classify(res, status);
}

/* xorshift64*: the jitter needs spread, not secrecy. */
static uint64_t next_random(struct exporter *e)
{
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return e->rng * 0x2545f4914f6cdd1dULL;
}

/* Sleeps until wake, or until stopping makes the flush deadline come
 * first (then returns false). */
static bool sleep_until(struct exporter *e, uint64_t wake)
{
	struct timespec ts;
	uint64_t end, now, t;
	bool ok;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		end = e->stopping ? e->flush_end : UINT64_MAX;
		now = clock_ms(CLOCK_MONOTONIC);
		if (now >= end || now >= wake) {
			ok = now < end;
			break;
		}
		t = min_u64(wake, end);
		ts.tv_sec = t / 1000;
		ts.tv_nsec = (t % 1000) * 1000000;
		pthread_cond_timedwait(&e->cond, &e->lock, &ts);
	}
	pthread_mutex_unlock(&e->lock);
	return ok;
}

/* The body to send, gzip-compressed into e->gz when configured. Without
 * memory to compress, the request goes uncompressed rather than not at all. */
static bool compress(struct exporter *e, const struct request *r, const void **body, size_t *len)
{
	struct buf in = { .data = (char *)r->body, .len = r->len };

	*body = r->body;
	*len = r->len;
	if (!e->gzip || buf_gzip(&in, &e->gz))
		return false;
	*body = e->gz.data;
	*len = e->gz.len;
	return true;
}

/* Sends r, retrying within the export timeout. Returns DROP_MAX when the
 * receiver took it, else why its spans are dropped. */
static enum export_drop send_request(struct exporter *e, const struct request *r)
{
	uint64_t budget_end = clock_ms(CLOCK_MONOTONIC) + e->export_timeout_ms, now, wait;
	uint64_t backoff = BACKOFF_FIRST_MS;
	const void *body;
	size_t len;
	bool gz = compress(e, r, &body, &len);

	for (int n = 0;; n++) {
		if (clock_ms(CLOCK_MONOTONIC) >= flush_end(e))
			return DROP_SHUTDOWN;
		switch (attempt(e, body, len, gz, budget_end, n > 0)) {
		case SENT:
			return DROP_MAX;
		case REJECT:
			return DROP_REJECTED;
		case CUT:
			return DROP_SHUTDOWN;
		case RETRY:
			break;
		}
		/* Full jitter (a uniform wait up to the backoff) keeps exporters
		 * that failed together from retrying together. */
		wait = e->retry_after_ms >= 0 ? (uint64_t)e->retry_after_ms
					      : next_random(e) % (backoff + 1);
		backoff = min_u64(backoff * 2, BACKOFF_MAX_MS);
		now = clock_ms(CLOCK_MONOTONIC);
		/* A wait to the end of the budget leaves no time to try again. */
		if (now + wait >= budget_end)
			return DROP_RETRIES_EXHAUSTED;
		if (!sleep_until(e, now + wait))
			return DROP_SHUTDOWN;
	}
}

/* Takes the oldest request; the lock is held. */
static struct request *pop(struct exporter *e)
{
	struct request *r = e->head;

	if (!r)
		return NULL;
	e->head = r->next;
	if (!e->head)
		e->tail = NULL;
	e->stats.queued -= r->nspans;
	return r;
}

static void *export_thread(void *arg)
{
	struct exporter *e = arg;
	enum export_drop why;
	struct request *r;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->head && !e->stopping)
			pthread_cond_wait(&e->cond, &e->lock);
		if (!e->head || (e->stopping && clock_ms(CLOCK_MONOTONIC) >= e->flush_end))
			break;
		r = pop(e);
		pthread_mutex_unlock(&e->lock);
		why = send_request(e, r);
		pthread_mutex_lock(&e->lock);
		if (why == DROP_MAX)
			e->stats.exported += r->nspans;
		else
			e->stats.dropped[why] += r->nspans;
		free(r->alloc);
		free(r);
	}
	/* What the flush at exit did not reach. */
	while ((r = pop(e))) {
		e->stats.dropped[DROP_SHUTDOWN] += r->nspans;
		free(r->alloc);
		free(r);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* Frees what exporter__new() made; the thread is not running. */
static void destroy(struct exporter *e)
{
	curl_slist_free_all(e->hdrs);
	curl_slist_free_all(e->hdrs_gzip);
	curl_easy_cleanup(e->curl);
	curl_multi_cleanup(e->multi);
	buf_free(&e->gz);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static int init_sync(struct exporter *e)
{
	pthread_condattr_t attr;
	int ret;

	ret = pthread_condattr_init(&attr);
	if (ret)
		return -ret;
	/* Waits measure time that passes, whatever happens to the wall clock. */
	ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!ret)
		ret = pthread_cond_init(&e->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (ret)
		return -ret;
	ret = pthread_mutex_init(&e->lock, NULL);
	if (ret)
		pthread_cond_destroy(&e->cond);
	return -ret;
}

/* The thread takes no signal: they are the main thread's to wait for, and
 * one a write to a closed socket raises (SIGPIPE, curl with NOSIGNAL set
 * leaves it to the application) must not kill the daemon. */
static int start_thread(struct exporter *e)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&e->thread, NULL, export_thread, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -ret;
}

struct exporter *exporter__new(const struct otel_config *cfg, char *err, size_t len)
{
	struct exporter *e;
	int ret;

	pthread_once(&global_once, global_init);
	if (global_result != CURLE_OK) {
		snprintf(err, len, "cannot initialise libcurl: %s",
			 curl_easy_strerror(global_result));
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e || init_sync(e)) {
		free(e);
		snprintf(err, len, "cannot create the exporter: out of memory");
		return NULL;
	}
	e->max_queue = cfg->max_queue;
	e->gzip = cfg->gzip;
	e->timeout_ms = cfg->timeout_ms;
	e->export_timeout_ms = cfg->export_timeout_ms;
	e->rng = (clock_ms(CLOCK_MONOTONIC) * 0x9e3779b97f4a7c15ULL) ^ (uintptr_t)e;
	e->rng |= 1;
	buf_init(&e->gz);
	ret = setup_curl(e, cfg, err, len);
	if (!ret) {
		ret = start_thread(e);
		if (ret)
			snprintf(err, len, "cannot start the export thread: %s", strerror(-ret));
	}
	if (ret) {
		destroy(e);
		return NULL;
	}
	return e;
}

void exporter__submit(struct exporter *e, uint8_t *alloc, const uint8_t *body, size_t len,
		      uint32_t nspans)
{
	struct request *r = malloc(sizeof(*r));
	enum export_drop why;

	pthread_mutex_lock(&e->lock);
	/* Without memory for the entry the request cannot be queued either. */
	why = e->stopping ? DROP_SHUTDOWN : DROP_QUEUE_FULL;
	if (r && !e->stopping && e->stats.queued + nspans <= e->max_queue) {
		*r = (struct request){ .alloc = alloc, .body = body, .len = len, .nspans = nspans };
		if (e->tail)
			e->tail->next = r;
		else
			e->head = r;
		e->tail = r;
		e->stats.queued += nspans;
		pthread_cond_signal(&e->cond);
		pthread_mutex_unlock(&e->lock);
		return;
	}
	e->stats.dropped[why] += nspans;
	pthread_mutex_unlock(&e->lock);
	free(alloc);
	free(r);
}

void exporter__stats(struct exporter *e, struct export_stats *out)
{
	pthread_mutex_lock(&e->lock);
	*out = e->stats;
	pthread_mutex_unlock(&e->lock);
}

void exporter__free(struct exporter *e, uint32_t flush_ms)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	e->flush_end = clock_ms(CLOCK_MONOTONIC) + flush_ms;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	/* Out of a transfer's poll at once, to look at the deadline. */
	curl_multi_wakeup(e->multi);
	pthread_join(e->thread, NULL);
	destroy(e);
}
