// SPDX-License-Identifier: MIT
/* Model calls: genai_ring drained, each call parsed and counted (user/genai.h). */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "expo.h"
#include "genai.h"
#include "genai_api.h"
#include "genai_body.h"
#include "genai_maps.h"
#include "genai_prices.h"
#include "genai_span.h"
#include "hist_map.h"
#include "probes_maps.h"
#include "series.h"

#define GENAI_DRAIN_MS 10
#define CALLS_MAX      256 /* calls in progress; past it the oldest is dropped, counted */

/* The APIs: their paths, provider and operation (gen_ai.provider.name,
 * gen_ai.operation.name). */
static const struct api {
	const char *path, *provider, *operation;
} apis[GA_MAX] = {
	[GA_OPENAI_CHAT] = { "/v1/chat/completions", "openai", "chat" },
	[GA_OPENAI_COMPLETIONS] = { "/v1/completions", "openai", "text_completion" },
	[GA_OPENAI_RESPONSES] = { "/v1/responses", "openai", "chat" },
	[GA_OPENAI_EMBEDDINGS] = { "/v1/embeddings", "openai", "embeddings" },
	[GA_ANTHROPIC_MESSAGES] = { "/v1/messages", "anthropic", "chat" },
	[GA_OLLAMA_CHAT] = { "/api/chat", "ollama", "chat" },
	[GA_OLLAMA_GENERATE] = { "/api/generate", "ollama", "text_completion" },
	[GA_OLLAMA_EMBED] = { "/api/embed", "ollama", "embeddings" },
};

/* Why a successful call's tokens are not known: aet_gen_ai_usage_missing_total{reason}. */
enum missing {
	MISS_NOT_GIVEN, /* the response has no usage (a stream not asked for it) */
	MISS_LOST,	/* bytes of the call did not reach user space (ring full, bound) */
	MISS_HEAD,
	MISS_ENCODING,
	MISS_INFLATE,
	MISS_JSON,
	MISS_TRUNCATED,
	MISS_CALLS_FULL, /* more than CALLS_MAX calls in progress: the oldest dropped */
	MISS_MAX,
};

static const char *const missing_names[MISS_MAX] = {
	"not_given", "lost", "head", "encoding", "inflate", "json", "truncated", "calls_full",
};

/* A label set and what was counted under it. */
struct gseries {
	char agent[LABEL_LEN], model[GENAI_MODEL_LEN], status[24];
	__u32 api;
	const char *provider; /* static: user/genai_api.h */
	__u64 requests;
	__u64 tokens[GT_MAX];
	struct hist duration, first_chunk, per_chunk;
	const struct genai_price *price; /* of its model, or NULL */
};

struct call {
	__u64 call; /* 0: a free slot */
	__u64 start_ns;
	__u32 api;
	const char *provider;
	char agent[LABEL_LEN];
	struct genai_body *req, *resp;
	struct hist gaps; /* between chunks after the first */
};

struct genai {
	struct ring_buffer *rb;
	struct shared *shared;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	struct call calls[CALLS_MAX];
	pthread_mutex_t lock; /* guards what follows: the scrape reads it */
	struct gseries *series;
	size_t nseries, max_series;
	__u64 overflow; /* calls past max_series label sets */
	__u64 missing[MISS_MAX];
	_Atomic unsigned long long seen, open;
	const struct genai_prices *prices; /* --gen-ai-prices, or NULL */
};

static void hist_put(struct hist *h, __u64 ns)
{
	static const __u64 bounds[HIST_FINITE] = HIST_BOUNDS_NS;
	int i = 0;

	while (i < HIST_FINITE && ns > bounds[i])
		i++;
	h->buckets[i]++;
	h->sum_ns += ns;
}

static void on_gap(void *arg, uint64_t gap_ns)
{
	hist_put(&((struct call *)arg)->gaps, gap_ns);
}

static struct call *call_of(struct genai *g, __u64 id)
{
	for (int i = 0; i < CALLS_MAX; i++)
		if (g->calls[i].call == id)
			return &g->calls[i];
	return NULL;
}

static void call_free(struct genai *g, struct call *c)
{
	genai_body_free(c->req);
	genai_body_free(c->resp);
	memset(c, 0, sizeof(*c));
	g->open--;
}

/* A free slot, or the oldest call's, that call counted as missing. */
static struct call *call_new(struct genai *g)
{
	struct call *old = &g->calls[0];

	for (int i = 0; i < CALLS_MAX; i++) {
		if (!g->calls[i].call)
			return &g->calls[i];
		if (g->calls[i].start_ns < old->start_ns)
			old = &g->calls[i];
	}
	pthread_mutex_lock(&g->lock);
	g->missing[MISS_CALLS_FULL]++;
	pthread_mutex_unlock(&g->lock);
	call_free(g, old);
	return old;
}

static void begin(struct genai *g, const struct genai_rec *r, size_t size)
{
	const struct genai_server *srv = (const void *)(r + 1);
	struct call *c = call_new(g);
	struct labels2 l = {};

	c->call = r->call;
	c->start_ns = r->ts_ns;
	c->api = r->api < GA_MAX ? r->api : GA_NONE;
	c->provider = apis[c->api].provider ?: "";
	if (size >= sizeof(*r) + sizeof(*srv) && memchr(srv->host, '\0', sizeof(srv->host)))
		c->provider = genai_provider(c->provider, srv->host, srv->port);
	if (r->series != ~0u)
		series_labels(
			&g->shared->series[r->kind == KIND_AGENT ? SERIES_AGENT : SERIES_TASKS],
			r->series, &l);
	memcpy(c->agent, l.l1, LABEL_LEN);
	c->agent[LABEL_LEN - 1] = '\0';
	c->req = genai_body_new(0, NULL, NULL);
	c->resp = genai_body_new(1, on_gap, c);
	g->open++;
}

/* The series of a label set, made if there is room; NULL past max_series. */
static struct gseries *series_of(struct genai *g, const struct gseries *key)
{
	for (size_t i = 0; i < g->nseries; i++) {
		struct gseries *s = &g->series[i];

		if (s->api == key->api && !strcmp(s->provider, key->provider) &&
		    !strcmp(s->agent, key->agent) && !strcmp(s->model, key->model) &&
		    !strcmp(s->status, key->status))
			return s;
	}
	if (g->nseries == g->max_series)
		return NULL;
	g->series[g->nseries] = *key;
	g->series[g->nseries].price = genai_prices_find(g->prices, key->model);
	return &g->series[g->nseries++];
}

/* success for a 2xx, the status class ("4xx") for another, else why none came. */
static void status_of(const struct genai_rec *r, char *out, size_t len)
{
	static const char *const errors[HE_MAX] = HTTP_ERROR_NAMES;

	if (r->status >= 200 && r->status < 300 && r->error == HE_NONE)
		snprintf(out, len, "success");
	else if (r->status >= 100 && r->error == HE_NONE)
		snprintf(out, len, "%uxx", r->status / 100);
	else
		snprintf(out, len, "%s", r->error < HE_MAX ? errors[r->error] : "error");
}

static enum missing missing_of(const struct genai_rec *r, const struct genai_result *res)
{
	static const enum missing of_fault[GF_MAX] = {
		[GF_HEAD] = MISS_HEAD, [GF_ENCODING] = MISS_ENCODING,	[GF_INFLATE] = MISS_INFLATE,
		[GF_JSON] = MISS_JSON, [GF_TRUNCATED] = MISS_TRUNCATED,
	};

	if (r->lost)
		return MISS_LOST;
	return res->fault ? of_fault[res->fault] : MISS_NOT_GIVEN;
}

/* The call's end: counted under its label set. */
static void count(struct genai *g, const struct call *c, const struct genai_rec *r,
		  const struct genai_result *req, const struct genai_result *res)
{
	struct gseries key = { .api = c->api, .provider = c->provider }, *s;
	bool tokens = false;

	memcpy(key.agent, c->agent, sizeof(key.agent));
	snprintf(key.model, sizeof(key.model), "%s", res->model[0] ? res->model : req->model);
	status_of(r, key.status, sizeof(key.status));
	for (int t = 0; t < GT_MAX; t++)
		tokens |= res->tokens[t] >= 0;
	pthread_mutex_lock(&g->lock);
	g->seen++;
	s = series_of(g, &key);
	if (!s) {
		g->overflow++;
	} else {
		s->requests++;
		for (int t = 0; t < GT_MAX; t++)
			s->tokens[t] += res->tokens[t] > 0 ? res->tokens[t] : 0;
		hist_put(&s->duration, r->ts_ns - c->start_ns);
		if (res->layout != GL_JSON && res->chunks) {
			hist_put(&s->first_chunk, res->first_ns - c->start_ns);
			hist_add(&s->per_chunk, &c->gaps);
		}
	}
	if (!tokens && !strcmp(key.status, "success"))
		g->missing[missing_of(r, res)]++;
	pthread_mutex_unlock(&g->lock);
}

/* What the call said, for its span (user/genai_span.h). */
static void put_span(struct genai *g, const struct call *c, const struct genai_result *req,
		     const struct genai_result *res)
{
	struct genai_span s = {
		.provider = c->provider,
		.operation = apis[c->api].operation ?: "",
		.input_tokens = res->tokens[GT_INPUT],
		.output_tokens = res->tokens[GT_OUTPUT],
	};

	memcpy(s.request_model, req->model, sizeof(s.request_model));
	memcpy(s.response_model, res->model, sizeof(s.response_model));
	memcpy(s.finish, res->finish, sizeof(s.finish));
	genai_done_put(&g->shared->genai_done, c->call, &s);
}

static int on_rec(void *ctx, void *data, size_t size)
{
	const struct genai_rec *r = data;
	struct genai *g = ctx;
	struct call *c;

	if (size < sizeof(*r))
		return 0;
	if (r->type == GR_BEGIN) {
		begin(g, r, size);
		return 0;
	}
	c = call_of(g, r->call);
	if (!c)
		return 0;
	if (r->type == GR_REQ && size >= sizeof(*r) + r->len && c->req)
		genai_body_feed(c->req, r + 1, r->len, r->ts_ns);
	else if (r->type == GR_RESP && size >= sizeof(*r) + r->len && c->resp)
		genai_body_feed(c->resp, r + 1, r->len, r->ts_ns);
	else if (r->type == GR_END && c->req && c->resp) {
		const struct genai_result *req = genai_body_end(c->req);
		const struct genai_result *res = genai_body_end(c->resp);

		count(g, c, r, req, res);
		put_span(g, c, req, res);
		call_free(g, c);
	} else if (r->type == GR_END) {
		call_free(g, c);
	}
	return 0;
}

static void *drain(void *arg)
{
	struct genai *g = arg;

	while (!atomic_load(&g->stop))
		if (ring_buffer__poll(g->rb, GENAI_DRAIN_MS) == 0)
			ring_buffer__consume(g->rb); /* records sent without a wakeup */
	ring_buffer__consume(g->rb);
	return NULL;
}

static int fill_paths(struct bpf_map *paths)
{
	for (__u32 a = GA_NONE + 1; a < GA_MAX; a++) {
		char key[HTTP_PATH_LEN] = {};

		strncpy(key, apis[a].path, sizeof(key) - 1);
		if (bpf_map__update_elem(paths, key, sizeof(key), &a, sizeof(a), BPF_ANY))
			return -errno;
	}
	return 0;
}

struct genai *genai__new(struct bpf_map *paths, struct bpf_map *ring, struct shared *sh,
			 size_t max_series, char *err, size_t len)
{
	struct genai *g = calloc(1, sizeof(*g));
	int rc = g ? 0 : -ENOMEM;

	if (g) {
		pthread_mutex_init(&g->lock, NULL);
		g->shared = sh;
		g->max_series = max_series;
		g->series = calloc(max_series, sizeof(*g->series));
		rc = g->series ? fill_paths(paths) : -ENOMEM;
	}
	if (!rc) {
		g->rb = ring_buffer__new(bpf_map__fd(ring), on_rec, g, NULL);
		rc = g->rb ? 0 : -errno;
	}
	if (rc) {
		snprintf(err, len, "failed to open the model call ring: %s", strerror(-rc));
		genai__free(g);
		return NULL;
	}
	return g;
}

int genai__run(struct genai *g, char *err, size_t len)
{
	int rc;

	if (g->running)
		return 0;
	rc = -pthread_create(&g->thread, NULL, drain, g);
	if (rc) {
		snprintf(err, len, "failed to start the model call consumer: %s", strerror(-rc));
		return rc;
	}
	g->running = true;
	return 0;
}

void genai__free(struct genai *g)
{
	if (!g)
		return;
	atomic_store(&g->stop, true);
	if (g->running)
		pthread_join(g->thread, NULL);
	ring_buffer__free(g->rb);
	for (int i = 0; i < CALLS_MAX; i++)
		if (g->calls[i].call)
			call_free(g, &g->calls[i]);
	pthread_mutex_destroy(&g->lock);
	free(g->series);
	free(g);
}

void genai__set_prices(struct genai *g, const struct genai_prices *prices)
{
	g->prices = prices;
}

void genai__counts(struct genai *g, unsigned long long *calls, unsigned long long *open)
{
	*calls = atomic_load(&g->seen);
	*open = atomic_load(&g->open);
}

/* Metrics of one histogram each label set, by labels picked from a series. */
enum pick { P_AGENT, P_PROVIDER, P_OPERATION, P_MODEL, P_STATUS };

static void pick(const struct gseries *s, const enum pick *which, int n, const char **out)
{
	for (int i = 0; i < n; i++)
		switch (which[i]) {
		case P_AGENT:
			out[i] = s->agent;
			break;
		case P_PROVIDER:
			out[i] = s->provider;
			break;
		case P_OPERATION:
			out[i] = apis[s->api].operation ?: "";
			break;
		case P_MODEL:
			out[i] = s->model;
			break;
		case P_STATUS:
			out[i] = s->status;
			break;
		}
}

static int write_hists(struct genai *g, struct buf *out, const char *name, const char *help,
		       size_t at, const enum pick *which, const char *const *names, int n)
{
	struct metric *m = metric__new(name, help, METRIC_HISTOGRAM, n, names);
	int rc = m ? 0 : -ENOMEM;

	for (size_t i = 0; i < g->nseries && !rc; i++) {
		const struct hist *h = (const void *)((const char *)&g->series[i] + at);
		const char *v[EXPO_MAX_LABELS];

		if (!hist_count(h))
			continue;
		pick(&g->series[i], which, n, v);
		rc = metric__add_hist(m, v, (const uint64_t *)h->buckets, h->sum_ns / 1e9,
				      hist_count(h));
	}
	if (!rc)
		metric__write(m, out);
	metric__free(m);
	return rc;
}

static int write_requests(struct genai *g, struct buf *out)
{
	static const char *const names[] = { "agent", "provider", "operation", "model", "status" };
	static const enum pick which[] = { P_AGENT, P_PROVIDER, P_OPERATION, P_MODEL, P_STATUS };
	static const char *const over[] = { "__overflow__", "__overflow__", "__overflow__",
					    "__overflow__", "__overflow__" };
	struct metric *m = metric__new("aet_gen_ai_requests_total",
				       "Model calls, by the agent whose request was open on the "
				       "thread that made them, provider, operation, model (the "
				       "response's, else the request's) and status (success, the "
				       "HTTP status class, or why no response came).",
				       METRIC_COUNTER, 5, names);
	int rc = m ? 0 : -ENOMEM;

	for (size_t i = 0; i < g->nseries && !rc; i++) {
		const char *v[5];

		pick(&g->series[i], which, 5, v);
		rc = metric__add(m, v, (double)g->series[i].requests);
	}
	if (!rc && g->overflow)
		rc = metric__add(m, over, (double)g->overflow);
	if (!rc)
		metric__write(m, out);
	metric__free(m);
	return rc;
}

static int write_tokens(struct genai *g, struct buf *out)
{
	static const char *const names[] = { "agent", "provider", "model", "token_type" };
	static const char *const types[GT_MAX] = GENAI_TOKEN_NAMES;
	static const enum pick which[] = { P_AGENT, P_PROVIDER, P_MODEL };
	struct metric *m = metric__new("aet_gen_ai_tokens_total",
				       "Tokens model calls used, as their responses said: input, "
				       "output, and of those cached_input and reasoning.",
				       METRIC_COUNTER, 4, names);
	int rc = m ? 0 : -ENOMEM;

	for (size_t i = 0; i < g->nseries && !rc; i++) {
		const char *v[4];

		pick(&g->series[i], which, 3, v);
		for (int t = 0; t < GT_MAX && !rc; t++) {
			v[3] = types[t];
			if (g->series[i].tokens[t])
				rc = metric__add(m, v, (double)g->series[i].tokens[t]);
		}
	}
	if (!rc)
		metric__write(m, out);
	metric__free(m);
	return rc;
}

/* The cost of each label set's tokens, from their totals at the scrape:
 * exact, and nothing to add up per call. Calls of a model without a price
 * are counted by model instead, so that a cost short of them is seen. */
static int write_cost(struct genai *g, struct buf *out)
{
	static const char *const names[] = { "agent", "model" };
	struct metric *cost = metric__new("aet_gen_ai_cost_usd_total",
					  "What the tokens of model calls cost, in USD, at the "
					  "prices of --gen-ai-prices, by agent and model.",
					  METRIC_COUNTER, 2, names);
	struct metric *unpriced = metric__new(
		"aet_gen_ai_cost_unpriced_requests_total",
		"Model calls whose model --gen-ai-prices does not price: not in the cost.",
		METRIC_COUNTER, 1, &names[1]);
	int rc = cost && unpriced ? 0 : -ENOMEM;

	for (size_t i = 0; i < g->nseries && !rc; i++) {
		const struct gseries *s = &g->series[i];
		const char *v[2] = { s->agent, s->model };

		if (!s->price)
			rc = metric__add(unpriced, &v[1], (double)s->requests);
		else if (s->tokens[GT_INPUT] || s->tokens[GT_OUTPUT] || s->tokens[GT_CACHED_INPUT])
			rc = metric__add(cost, v,
					 genai_price_cost(s->price, (const uint64_t *)s->tokens,
							  s->api == GA_ANTHROPIC_MESSAGES));
	}
	if (!rc) {
		metric__write(cost, out);
		metric__write(unpriced, out);
	}
	metric__free(cost);
	metric__free(unpriced);
	return rc;
}

static int write_counts(struct genai *g, const __u64 *stats, struct buf *out)
{
	static const char *const lost[GSTAT_MAX] = { "ring_full", "bound" };
	double missing[MISS_MAX], lost_n[GSTAT_MAX];
	int rc;

	for (int i = 0; i < MISS_MAX; i++)
		missing[i] = (double)g->missing[i];
	for (int i = 0; i < GSTAT_MAX; i++)
		lost_n[i] = (double)stats[i];
	rc = expo_write_by_label(out, "aet_gen_ai_usage_missing_total",
				 "Successful model calls whose token usage is not known, by why: "
				 "never guessed.",
				 METRIC_COUNTER, "reason", missing_names, missing, MISS_MAX);
	return rc
		       ?: expo_write_by_label(out, "aet_collector_gen_ai_bytes_lost_total",
					      "Model call records not sent to user space: the ring "
					      "was full, or past a call's bound of bytes.",
					      METRIC_COUNTER, "reason", lost, lost_n, GSTAT_MAX);
}

int genai__write_metrics(struct genai *g, const __u64 *stats, struct buf *out)
{
	static const char *const pom[] = { "provider", "operation", "model" };
	static const enum pick w_pom[] = { P_PROVIDER, P_OPERATION, P_MODEL };
	static const enum pick w_pm[] = { P_PROVIDER, P_MODEL };
	static const char *const pm[] = { "provider", "model" };
	int rc;

	pthread_mutex_lock(&g->lock);
	rc = write_requests(g, out);
	rc = rc ?: write_tokens(g, out);
	rc = rc
		     ?: write_hists(
				g, out, "aet_gen_ai_client_operation_duration_seconds",
				"Model calls' duration: from the request's first byte written to "
				"the response's last read.",
				offsetof(struct gseries, duration), w_pom, pom, 3);
	rc = rc
		     ?: write_hists(
				g, out, "aet_gen_ai_client_time_to_first_chunk_seconds",
				"Streamed model calls: from the request's first byte written to "
				"the read that began the first chunk (event or line).",
				offsetof(struct gseries, first_chunk), w_pm, pm, 2);
	rc = rc
		     ?: write_hists(
				g, out, "aet_gen_ai_client_time_per_output_chunk_seconds",
				"Streamed model calls: between the reads that began one chunk and "
				"the next, for every chunk after the first.",
				offsetof(struct gseries, per_chunk), w_pm, pm, 2);
	rc = rc ?: write_counts(g, stats, out);
	if (g->prices)
		rc = rc ?: write_cost(g, out);
	pthread_mutex_unlock(&g->lock);
	return rc;
}
