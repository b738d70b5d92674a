/* SPDX-License-Identifier: MIT */
/*
 * What the bytes of a model call say (docs/DESIGN.md, "Model calls"). Of
 * the request body: the model and whether a stream was asked. Of the
 * response, from its first byte (head, chunked framing, gzip or deflate,
 * then a JSON body, a server-sent event stream or newline-delimited JSON):
 * its status, the model that answered, the finish reason and the tokens
 * used. Fed in pieces of any size as they come; keeps no body: the JSON is
 * parsed by yajl's callbacks and only the values named here are kept, so
 * prompt and completion text are parsed past, never copied.
 */
#ifndef AET_GENAI_BODY_H
#define AET_GENAI_BODY_H

#include <stddef.h>
#include <stdint.h>

#define GENAI_MODEL_LEN	 64 /* 63 bytes of a model name */
#define GENAI_FINISH_LEN 32

/* gen_ai.token.type, and the cached and reasoning parts as the APIs give them. */
enum genai_token {
	GT_INPUT,
	GT_OUTPUT,
	GT_CACHED_INPUT, /* of the input, read from a prompt cache */
	GT_REASONING,	 /* of the output, spent reasoning */
	GT_MAX,
};

#define GENAI_TOKEN_NAMES                                      \
	{                                                      \
		"input", "output", "cached_input", "reasoning" \
	}

/* Why the bytes could not be read to their end. */
enum genai_fault {
	GF_NONE,
	GF_HEAD,      /* no HTTP response head, or one over GENAI_HEAD_MAX bytes */
	GF_ENCODING,  /* a Content-Encoding other than gzip, deflate or identity */
	GF_INFLATE,   /* compressed bytes that do not inflate */
	GF_JSON,      /* a JSON body (not an event of a stream) that does not parse */
	GF_TRUNCATED, /* the bytes stopped before the body's end */
	GF_MAX,
};

#define GENAI_HEAD_MAX 8192

/* How the response body is laid out (its Content-Type). */
enum genai_layout {
	GL_JSON,   /* one JSON value */
	GL_SSE,	   /* text/event-stream: a JSON value in each event's data */
	GL_NDJSON, /* application/x-ndjson: a JSON value a line (Ollama) */
};

struct genai_result {
	char model[GENAI_MODEL_LEN];   /* the request's model, or the response's */
	char finish[GENAI_FINISH_LEN]; /* the first finish reason given */
	int64_t tokens[GT_MAX];	       /* -1: not given */
	int stream;		       /* the request asked for a stream ("stream": true) */
	int status;		       /* the response's status code */
	enum genai_layout layout;
	uint32_t chunks;   /* JSON values read: events, lines, or the one body */
	uint64_t first_ns; /* when the first of them began to arrive */
	enum genai_fault fault;
};

struct genai_body;

/* Called for each chunk after the first with the time since the one before. */
typedef void (*genai_chunk_fn)(void *arg, uint64_t gap_ns);

/* A parser of a request body (response 0: the bytes are the body alone) or
 * of a response (from its status line). NULL when out of memory. */
struct genai_body *genai_body_new(int response, genai_chunk_fn on_chunk, void *arg);
/* n more bytes, arrived at ts_ns. Past a fault, bytes are ignored. */
void genai_body_feed(struct genai_body *b, const void *p, size_t n, uint64_t ts_ns);
/* No more bytes will come: what was read. */
const struct genai_result *genai_body_end(struct genai_body *b);
void genai_body_free(struct genai_body *b);

#endif /* AET_GENAI_BODY_H */
