// SPDX-License-Identifier: MIT
/* Unit tests of span records as OTLP spans (user/spanconv.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <linux/types.h>

#include "files_maps.h"
#include "http_maps.h"
#include "spanconv.h"
#include "sqlite_maps.h"

struct rec {
	struct span_record r;
	char text[SPAN_TEXT_CUSTOM];
};

static struct rec make(__u16 kind)
{
	struct rec x = {};

	x.r.trace_id[0] = 0x0102030405060708ULL;
	x.r.trace_id[1] = 0x090a0b0c0d0e0f10ULL;
	x.r.span_id = 0x1112131415161718ULL;
	x.r.start_ns = 100;
	x.r.end_ns = 250;
	x.r.tid = 77;
	x.r.kind = kind;
	x.r.flags = SPAN_F_SAMPLED;
	return x;
}

/* The attribute key of c's span, or NULL. */
static const struct otlp_attr *attr(const struct span_conv *c, const char *key)
{
	for (size_t i = 0; i < c->span.nattrs; i++)
		if (!strcmp(c->attrs[i].key, key))
			return &c->attrs[i];
	return NULL;
}

static void assert_str(const struct span_conv *c, const char *key, const char *want)
{
	const struct otlp_attr *a = attr(c, key);

	cr_assert(a, "no %s", key);
	cr_assert_eq(a->type, OTLP_STR);
	cr_assert_eq(a->slen, strlen(want), "%s: %.*s", key, (int)a->slen, a->s);
	cr_assert(!memcmp(a->s, want, a->slen));
}

Test(spanconv, ids_times_and_flags)
{
	const uint8_t trace[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct rec x = make(SPAN_CYCLE);
	struct span_conv c = {};

	x.r.id = 9;
	x.r.flags |= SPAN_F_REMOTE_PARENT | SPAN_F_HAS_PARENT;
	x.r.parent_id = 5;
	cr_assert_eq(span_convert(&c, &x, sizeof(x.r), 1000), 0);
	cr_assert_arr_eq(c.span.trace_id, trace, 16);
	cr_assert_eq(c.span.span_id[0], 0x11);
	cr_assert_eq(c.span.parent_id[7], 5);
	cr_assert_eq(c.span.start_unix_ns, 1100);
	cr_assert_eq(c.span.end_unix_ns, 1250);
	cr_assert_eq(c.span.flags, 0x301);
	cr_assert_eq(c.span.name_len, strlen("aet.cycle"));
	cr_assert_eq(attr(&c, "aet.cycle.id")->i, 9);
	cr_assert_eq(attr(&c, "thread.id")->i, 77);
	assert_str(&c, "aet.status", "success");
	cr_assert_eq(c.span.status, OTLP_STATUS_UNSET);
}

Test(spanconv, task_labels_and_status)
{
	struct rec x = make(SPAN_TASK);
	struct span_conv c = {};

	c.labels[0] = "coder";
	c.labels[1] = "generation";
	x.r.status = 2;
	cr_assert_eq(span_convert(&c, &x, sizeof(x.r), 0), 0);
	cr_assert_str_eq(c.span.name, "aet.task");
	assert_str(&c, "aet.agent", "coder");
	assert_str(&c, "aet.mode", "generation");
	assert_str(&c, "aet.status", "timeout");
	cr_assert_eq(c.span.status, OTLP_STATUS_ERROR);
	cr_assert_str_eq(c.span.status_msg, "timeout");
}

Test(spanconv, unknown_status_is_failure)
{
	struct rec x = make(SPAN_AGENT);
	struct span_conv c = {};

	x.r.status = 42;
	c.labels[0] = c.labels[1] = NULL;
	span_convert(&c, &x, sizeof(x.r), 0);
	assert_str(&c, "aet.status", "failure");
	assert_str(&c, "aet.operation", "");
}

Test(spanconv, custom_attributes)
{
	struct rec x = make(SPAN_CUSTOM);
	struct span_conv c = {};

	strcpy(x.text, "model.call");
	strcpy(x.text + SPAN_NAME_LEN, "model=big;tokens=12;flag;=skipped;k=a=b");
	cr_assert_eq(span_convert(&c, &x, sizeof(x), 0), 0);
	cr_assert_eq(c.span.name_len, strlen("model.call"));
	cr_assert(!memcmp(c.span.name, "model.call", c.span.name_len));
	assert_str(&c, "model", "big");
	assert_str(&c, "tokens", "12");
	assert_str(&c, "flag", "");
	assert_str(&c, "k", "a=b");
	cr_assert_null(attr(&c, ""));
}

Test(spanconv, text_bounded_by_the_record)
{
	struct rec x = make(SPAN_CUSTOM);
	struct span_conv c = {};

	memset(x.text, 'n', sizeof(x.text)); /* no NUL anywhere */
	cr_assert_eq(span_convert(&c, &x, sizeof(x.r) + 10, 0), 0);
	cr_assert_eq(c.span.name_len, 10);
	cr_assert_eq(span_convert(&c, &x, sizeof(x.r) - 1, 0), -EINVAL);
	x.r.kind = SPAN_KIND_MAX;
	cr_assert_eq(span_convert(&c, &x, sizeof(x), 0), -EINVAL);
}

Test(spanconv, file_operations)
{
	struct rec x = make(SPAN_FILE);
	struct span_conv c = {};

	x.r.op = FOP_READ;
	x.r.id = 4096;
	strcpy(x.text, "r12");
	span_convert(&c, &x, sizeof(x.r) + SPAN_PATH_LEN, 0);
	cr_assert_str_eq(c.span.name, "file.read");
	assert_str(&c, "file.name", "r12");
	cr_assert_eq(attr(&c, "aet.file.bytes")->i, 4096);
	cr_assert_null(attr(&c, "error.type"));

	x.r.op = FOP_OPEN;
	x.r.status = -ENOENT;
	strcpy(x.text, "/reg/r12.missing");
	span_convert(&c, &x, sizeof(x.r) + SPAN_PATH_LEN, 0);
	cr_assert_str_eq(c.span.name, "file.open");
	assert_str(&c, "file.path", "/reg/r12.missing");
	assert_str(&c, "error.type", "ENOENT");
	cr_assert_null(attr(&c, "aet.file.bytes"));
	cr_assert_eq(c.span.status, OTLP_STATUS_ERROR);
}

Test(spanconv, database_operations)
{
	struct rec x = make(SPAN_DB);
	struct span_conv c = {};

	x.r.op = VERB_SELECT;
	span_convert(&c, &x, sizeof(x.r) + SPAN_SQL_LEN, 0);
	cr_assert_str_eq(c.span.name, "SELECT");
	cr_assert_eq(c.span.kind, OTLP_KIND_CLIENT);
	assert_str(&c, "db.system.name", "sqlite");
	assert_str(&c, "db.operation.name", "SELECT");
	cr_assert_null(attr(&c, "db.query.text"));

	x.r.op = VERB_OTHER;
	x.r.status = 19;
	strcpy(x.text, "PRAGMA x");
	span_convert(&c, &x, sizeof(x.r) + SPAN_SQL_LEN, 0);
	cr_assert_str_eq(c.span.name, "sqlite");
	cr_assert_null(attr(&c, "db.operation.name"));
	assert_str(&c, "db.query.text", "PRAGMA x");
	assert_str(&c, "db.response.status_code", "19");
	cr_assert_eq(c.span.status, OTLP_STATUS_ERROR);
}

static void assert_int(const struct span_conv *c, const char *key, int64_t want)
{
	const struct otlp_attr *a = attr(c, key);

	cr_assert(a, "no %s", key);
	cr_assert_eq(a->type, OTLP_INT);
	cr_assert_eq(a->i, want, "%s: %lld", key, (long long)a->i);
}

Test(spanconv, http_requests)
{
	struct rec x = make(SPAN_HTTP);
	struct http_span_text *t = (void *)x.text;
	size_t size = sizeof(x.r) + sizeof(*t);
	struct span_conv c = {};

	x.r.op = HM_POST;
	x.r.status = 200;
	strcpy(t->host, "api.example.com");
	strcpy(t->path, "/v1/chat/completions");
	t->port = 443;
	cr_assert_eq(span_convert(&c, &x, size, 0), 0);
	cr_assert_str_eq(c.span.name, "POST");
	cr_assert_eq(c.span.kind, OTLP_KIND_CLIENT);
	assert_str(&c, "http.request.method", "POST");
	assert_str(&c, "url.path", "/v1/chat/completions");
	assert_str(&c, "server.address", "api.example.com");
	assert_int(&c, "server.port", 443);
	assert_int(&c, "http.response.status_code", 200);
	assert_str(&c, "network.protocol.version", "1.1");
	cr_assert_null(attr(&c, "error.type"));
	cr_assert_eq(c.span.status, OTLP_STATUS_UNSET);

	/* A status from 400 is an error, by its code. */
	x.r.status = 429;
	span_convert(&c, &x, size, 0);
	assert_str(&c, "error.type", "429");
	cr_assert_eq(c.span.status, OTLP_STATUS_ERROR);

	/* No response: no status code, the connection's fate. */
	x.r.status = 0;
	x.r.id = HE_RESET;
	span_convert(&c, &x, size, 0);
	cr_assert_null(attr(&c, "http.response.status_code"));
	assert_str(&c, "error.type", "connection_reset");
	cr_assert_str_eq(c.span.status_msg, "connection_reset");

	/* A response cut short: its status, and the connection's fate. */
	x.r.status = 200;
	span_convert(&c, &x, size, 0);
	assert_int(&c, "http.response.status_code", 200);
	assert_str(&c, "error.type", "connection_reset");
	cr_assert_eq(c.span.status, OTLP_STATUS_ERROR);

	/* A method outside the standard set: "_OTHER", the span named "HTTP". */
	x.r.op = HM_OTHER;
	x.r.status = 204;
	x.r.id = HE_NONE;
	t->port = 0;
	span_convert(&c, &x, size, 0);
	cr_assert_str_eq(c.span.name, "HTTP");
	assert_str(&c, "http.request.method", "_OTHER");
	cr_assert_null(attr(&c, "server.port"));
}

Test(spanconv, model_calls)
{
	struct genai_span g = { .provider = "openai",
				.operation = "chat",
				.request_model = "gpt-4o-mini",
				.response_model = "gpt-4o-mini-2025",
				.finish = "stop",
				.input_tokens = 12,
				.output_tokens = -1 };
	struct rec x = make(SPAN_HTTP);
	struct http_span_text *t = (void *)x.text;
	size_t size = sizeof(x.r) + sizeof(*t);
	struct span_conv c = { .genai = &g };
	const struct otlp_attr *a;

	x.r.op = HM_POST;
	x.r.status = 200;
	strcpy(t->host, "api.example.com");
	strcpy(t->path, "/v1/chat/completions");
	cr_assert_eq(span_convert(&c, &x, size, 0), 0);
	cr_assert_str_eq(c.span.name, "chat gpt-4o-mini");
	cr_assert_eq(c.span.kind, OTLP_KIND_CLIENT);
	assert_str(&c, "gen_ai.operation.name", "chat");
	assert_str(&c, "gen_ai.provider.name", "openai");
	assert_str(&c, "gen_ai.request.model", "gpt-4o-mini");
	assert_str(&c, "gen_ai.response.model", "gpt-4o-mini-2025");
	assert_str(&c, "server.address", "api.example.com");
	assert_int(&c, "gen_ai.usage.input_tokens", 12);
	cr_assert_null(attr(&c, "gen_ai.usage.output_tokens"), "not given: not guessed");
	a = attr(&c, "gen_ai.response.finish_reasons");
	cr_assert(a && a->type == OTLP_STR_ARRAY && a->slen == 4 && !memcmp(a->s, "stop", 4));

	/* No model known, no finish reason: the operation alone names it. */
	memset(g.request_model, 0, sizeof(g.request_model));
	memset(g.response_model, 0, sizeof(g.response_model));
	g.finish[0] = '\0';
	span_convert(&c, &x, size, 0);
	cr_assert_str_eq(c.span.name, "chat");
	cr_assert_null(attr(&c, "gen_ai.request.model"));
	cr_assert_null(attr(&c, "gen_ai.response.finish_reasons"));
}

Test(spanconv, agent_requests_name_their_agent)
{
	struct rec x = make(SPAN_AGENT);
	struct span_conv c = { .labels = { "coder", "review" } };

	cr_assert_eq(span_convert(&c, &x, sizeof(x.r), 0), 0);
	assert_str(&c, "gen_ai.agent.name", "coder");
	x.r.kind = SPAN_TASK;
	span_convert(&c, &x, sizeof(x.r), 0);
	cr_assert_null(attr(&c, "gen_ai.agent.name"));
}
