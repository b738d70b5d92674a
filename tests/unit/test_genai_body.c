// SPDX-License-Identifier: MIT
/* Unit tests of what a model call's bytes say (user/genai_body.c): request
 * bodies, JSON, gzip, chunked, event-stream and NDJSON responses of the
 * OpenAI, Anthropic and Ollama shapes, fed whole and byte by byte. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "genai_api.h"
#include "genai_body.h"

struct gaps {
	int n;
	uint64_t sum;
};

static void on_chunk(void *arg, uint64_t gap)
{
	struct gaps *g = arg;

	g->n++;
	g->sum += gap;
}

/* bytes fed in pieces of step bytes (0: whole), the i-th at time i. */
static struct genai_result parse(int response, const char *bytes, size_t n, size_t step,
				 struct gaps *g)
{
	struct genai_body *b = genai_body_new(response, on_chunk, g);
	struct genai_result r;

	cr_assert(b);
	for (size_t i = 0, k = 0; i < n; k++) {
		size_t m = step && n - i > step ? step : n - i;

		genai_body_feed(b, bytes + i, m, 1000 * (k + 1));
		i += m;
	}
	r = *genai_body_end(b);
	genai_body_free(b);
	return r;
}

static struct genai_result parse_str(int response, const char *s, size_t step)
{
	struct gaps g = { 0 };

	return parse(response, s, strlen(s), step, &g);
}

Test(genai_body, request_model_and_stream_after_the_prompt)
{
	const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"say \\\"model\\\": x\","
			   "\"model\":\"not-this\"}],\"model\":\"gpt-4o-mini\",\"stream\":true,"
			   "\"stream_options\":{\"include_usage\":true}}";

	for (size_t step = 0; step < 4; step++) {
		struct genai_result r = parse_str(0, body, step);

		cr_assert_str_eq(r.model, "gpt-4o-mini");
		cr_assert_eq(r.stream, 1);
		cr_assert_eq(r.fault, GF_NONE);
	}
}

#define OPENAI_JSON                                                                           \
	"{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini-2024-07-18\"," \
	"\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"  \
	"\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":" \
	"10,\"total_tokens\":29,\"prompt_tokens_details\":{\"cached_tokens\":3},"             \
	"\"completion_tokens_details\":{\"reasoning_tokens\":4}}}"

static void check_openai(const struct genai_result *r)
{
	cr_assert_eq(r->fault, GF_NONE, "fault %d", r->fault);
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(r->model, "gpt-4o-mini-2024-07-18");
	cr_assert_str_eq(r->finish, "stop");
	cr_assert_eq(r->tokens[GT_INPUT], 19);
	cr_assert_eq(r->tokens[GT_OUTPUT], 10);
	cr_assert_eq(r->tokens[GT_CACHED_INPUT], 3);
	cr_assert_eq(r->tokens[GT_REASONING], 4);
}

Test(genai_body, openai_json)
{
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			   "Content-Length: 999\r\n\r\n" OPENAI_JSON;

	for (size_t step = 0; step < 3; step++) {
		struct genai_result r = parse_str(1, resp, step);

		check_openai(&r);
		cr_assert_eq(r.chunks, 1);
	}
}

/* s gzip'd, then in chunks of 7 bytes. */
static size_t gzip_chunked(const char *s, char *out, size_t cap)
{
	unsigned char z[4096];
	z_stream zs = { 0 };
	size_t n = 0, len;

	cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)s;
	zs.avail_in = strlen(s);
	zs.next_out = z;
	zs.avail_out = sizeof(z);
	cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	len = sizeof(z) - zs.avail_out;
	deflateEnd(&zs);
	for (size_t i = 0; i < len; i += 7) {
		size_t m = len - i < 7 ? len - i : 7;

		n += snprintf(out + n, cap - n, "%zx;ext=1\r\n", m);
		memcpy(out + n, z + i, m);
		n += m;
		n += snprintf(out + n, cap - n, "\r\n");
	}
	n += snprintf(out + n, cap - n, "0\r\nX-Trailer: 1\r\n\r\n");
	return n;
}

Test(genai_body, openai_gzip_chunked)
{
	char resp[16384];
	size_t n = snprintf(resp, sizeof(resp),
			    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			    "content-encoding: gzip\r\n\r\n");

	n += gzip_chunked(OPENAI_JSON, resp + n, sizeof(resp) - n);
	for (size_t step = 0; step < 3; step++) {
		struct gaps g = { 0 };
		struct genai_result r = parse(1, resp, n, step, &g);

		check_openai(&r);
	}
	/* Cut before its last chunk: truncated. */
	{
		struct gaps g = { 0 };
		struct genai_result r = parse(1, resp, n - 30, 0, &g);

		cr_assert_eq(r.fault, GF_TRUNCATED);
	}
}

Test(genai_body, openai_stream_with_usage)
{
	const char *resp =
		"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n\r\n"
		"data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"a\"},"
		"\"finish_reason\":null}]}\r\n\r\n"
		": a comment\n\n"
		"data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"b\"},"
		"\"finish_reason\":null}]}\n\n"
		"data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{},\"finish_reason\":"
		"\"length\"}]}\n\n"
		"data: {\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,"
		"\"completion_tokens\":3}}\n\n"
		"data: [DONE]\n\n";

	for (size_t step = 0; step < 5; step++) {
		struct gaps g = { 0 };
		struct genai_result r = parse(1, resp, strlen(resp), step, &g);

		cr_assert_eq(r.fault, GF_NONE);
		cr_assert_eq(r.layout, GL_SSE);
		cr_assert_str_eq(r.model, "gpt-4o");
		cr_assert_str_eq(r.finish, "length");
		cr_assert_eq(r.tokens[GT_INPUT], 7);
		cr_assert_eq(r.tokens[GT_OUTPUT], 3);
		cr_assert_eq(r.tokens[GT_CACHED_INPUT], -1);
		cr_assert_eq(r.chunks, 5); /* [DONE] is an event too */
		cr_assert_eq(g.n, 4);
	}
}

Test(genai_body, anthropic_stream)
{
	const char *resp =
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\","
		"\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":25,"
		"\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n"
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
		"\"delta\":{\"type\":\"text_delta\",\"text\":\"model\"}}\n\n"
		"event: message_delta\ndata: "
		"{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
		"\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n"
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
	struct genai_result r = parse_str(1, resp, 0);

	cr_assert_eq(r.fault, GF_NONE);
	cr_assert_str_eq(r.model, "claude-sonnet-4-5");
	cr_assert_str_eq(r.finish, "end_turn");
	cr_assert_eq(r.tokens[GT_INPUT], 25);
	cr_assert_eq(r.tokens[GT_OUTPUT], 15);
	cr_assert_eq(r.tokens[GT_CACHED_INPUT], 5);
	cr_assert_eq(r.chunks, 4);
}

Test(genai_body, ollama_ndjson)
{
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n"
			   "3c\r\n{\"model\":\"llama3.2\",\"message\":{\"content\":\"a\"},\"done\":"
			   "false}\n\r\n"
			   "5c\r\n{\"model\":\"llama3.2\",\"done\":true,\"done_reason\":\"stop\","
			   "\"prompt_eval_count\":26,\"eval_count\":9}\n\r\n"
			   "0\r\n\r\n";

	for (size_t step = 0; step < 4; step++) {
		struct genai_result r = parse_str(1, resp, step);

		cr_assert_eq(r.fault, GF_NONE, "step %zu fault %d", step, r.fault);
		cr_assert_str_eq(r.model, "llama3.2");
		cr_assert_str_eq(r.finish, "stop");
		cr_assert_eq(r.tokens[GT_INPUT], 26);
		cr_assert_eq(r.tokens[GT_OUTPUT], 9);
		cr_assert_eq(r.chunks, 2);
	}
}

Test(genai_body, faults)
{
	cr_assert_eq(parse_str(1, "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n{}", 0).fault,
		     GF_ENCODING);
	cr_assert_eq(
		parse_str(1, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nnot gzip", 0).fault,
		GF_INFLATE);
	cr_assert_eq(parse_str(1, "garbage\r\n\r\n{}", 0).fault, GF_HEAD);
	cr_assert_eq(parse_str(1, "HTTP/1.1 200 OK\r\n", 0).fault, GF_HEAD);
	cr_assert_eq(parse_str(1, "HTTP/1.1 200 OK\r\n\r\n{\"usage\":{\"prompt_tokens\":", 0).fault,
		     GF_TRUNCATED);
	cr_assert_eq(parse_str(1, "HTTP/1.1 200 OK\r\n\r\n{\"a\":}", 0).fault, GF_JSON);
	/* An error's body: its status, no tokens. */
	{
		struct genai_result r = parse_str(
			1, "HTTP/1.1 429 Too Many\r\n\r\n{\"error\":{\"type\":\"rate_limit\"}}", 0);

		cr_assert_eq(r.status, 429);
		cr_assert_eq(r.fault, GF_NONE);
		cr_assert_eq(r.tokens[GT_INPUT], -1);
	}
	/* 100 Continue, then the response. */
	cr_assert_eq(
		parse_str(1, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{}", 0).status,
		200);
}

Test(genai_api, providers_by_host_then_shape)
{
	cr_assert_str_eq(genai_provider("openai", "api.openai.com", 443), "openai");
	cr_assert_str_eq(genai_provider("openai", "API.Groq.com", 0), "groq");
	cr_assert_str_eq(genai_provider("openai", "myres.openai.azure.com", 443),
			 "azure.ai.openai");
	/* a name under a suffix only, not the suffix itself nor a look-alike */
	cr_assert_str_eq(genai_provider("openai", "openai.azure.com", 443), "openai");
	cr_assert_str_eq(genai_provider("openai", "api.openai.com.evil", 443), "openai");
	cr_assert_str_eq(genai_provider("anthropic", "api.openai.com", 443), "openai");
	cr_assert_str_eq(genai_provider("openai", "localhost", 11434), "ollama");
	cr_assert_str_eq(genai_provider("openai", "gpu-box", 8000), "openai"); /* vLLM: its shape */
	cr_assert_str_eq(genai_provider("anthropic", "", 0), "anthropic");
}
