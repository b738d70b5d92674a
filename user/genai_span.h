/* SPDX-License-Identifier: MIT */
/*
 * What a model call said, for its HTTP client span (docs/DESIGN.md, "Model
 * calls"). The call's bytes are parsed by the model call consumer (user/
 * genai.c) and its span comes through the span ring (user/spans.c): the
 * one puts what the call said here when it ends, the other takes it by the
 * call's number (struct http_span_text's call) to name and dress the span.
 * The table keeps the last GENAI_DONE calls; a call its span never asks
 * for is overwritten in turn.
 */
#ifndef AET_GENAI_SPAN_H
#define AET_GENAI_SPAN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "genai_body.h"

#define GENAI_DONE 256

struct genai_span {
	const char *provider, *operation; /* static strings */
	char request_model[GENAI_MODEL_LEN];
	char response_model[GENAI_MODEL_LEN]; /* "": the response named none */
	char finish[GENAI_FINISH_LEN];	      /* "": none given */
	int64_t input_tokens, output_tokens;  /* -1: not given */
};

struct genai_done {
	pthread_mutex_t lock;
	uint64_t call[GENAI_DONE]; /* 0: an empty entry */
	struct genai_span span[GENAI_DONE];
	unsigned int next;
};

void genai_done_init(struct genai_done *d);
void genai_done_fini(struct genai_done *d);
void genai_done_put(struct genai_done *d, uint64_t call, const struct genai_span *s);
/* Takes call's entry into *out: false when there is none (yet). */
bool genai_done_take(struct genai_done *d, uint64_t call, struct genai_span *out);

#endif /* AET_GENAI_SPAN_H */
