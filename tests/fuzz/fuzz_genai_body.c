// SPDX-License-Identifier: MIT
/*
 * What a model call's bytes say (user/genai_body.c) on arbitrary bytes: the
 * first byte says request or response and the size of the pieces the rest
 * is fed in. Whatever the bytes, the parser must not fault, and fed whole or
 * in pieces it must say the same (model, finish reason, stream, status,
 * tokens, chunks, fault): where reads cut a body must not matter.
 */
#include "fuzz.h"
#include "genai_body.h"

static struct genai_result run(int response, const uint8_t *p, size_t n, size_t step)
{
	struct genai_body *b = genai_body_new(response, NULL, NULL);
	struct genai_result r;

	CHECK(b, "out of memory");
	for (size_t i = 0; i < n;) {
		size_t m = step && n - i > step ? step : n - i;

		genai_body_feed(b, p + i, m, i + 1);
		i += m;
	}
	r = *genai_body_end(b);
	genai_body_free(b);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct genai_result whole, cut;
	int response;
	size_t step;

	if (!size)
		return 0;
	response = data[0] & 1;
	step = (data[0] >> 1) + 1; /* 1 to 128 bytes a piece */
	whole = run(response, data + 1, size - 1, 0);
	cut = run(response, data + 1, size - 1, step);
	CHECK(!strcmp(whole.model, cut.model), "model %s, in pieces %s", whole.model, cut.model);
	CHECK(!strcmp(whole.finish, cut.finish), "finish %s, in pieces %s", whole.finish,
	      cut.finish);
	CHECK(whole.stream == cut.stream && whole.status == cut.status, "stream or status");
	CHECK(whole.fault == cut.fault, "fault %d, in pieces %d", whole.fault, cut.fault);
	CHECK(whole.chunks == cut.chunks, "chunks %u, in pieces %u", whole.chunks, cut.chunks);
	for (int t = 0; t < GT_MAX; t++)
		CHECK(whole.tokens[t] == cut.tokens[t] && whole.tokens[t] >= -1, "tokens[%d]", t);
	return 0;
}
