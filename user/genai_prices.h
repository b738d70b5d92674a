/* SPDX-License-Identifier: MIT */
/*
 * Model prices (--gen-ai-prices FILE; README, "Model calls"): what a model's
 * tokens cost, in USD per million. Pure: no libbpf; the file is read whole,
 * then parsed.
 *
 * The file: a model a line, "MODEL INPUT OUTPUT [CACHED_INPUT]", fields
 * separated by spaces or tabs; "#" begins a comment, to the end of the line;
 * blank lines are skipped. MODEL is the model label exactly (at most 63
 * bytes); the prices are decimal numbers from 0 to GENAI_PRICE_MAX.
 * CACHED_INPUT defaults to INPUT.
 */
#ifndef AET_GENAI_PRICES_H
#define AET_GENAI_PRICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "genai_body.h"

#define GENAI_PRICES_MAX_BYTES (1 << 20) /* a file larger is refused */
#define GENAI_PRICE_MAX	       1000000	 /* USD per million tokens: more is a typo */

struct genai_price {
	char model[GENAI_MODEL_LEN];
	double input, output, cached_input; /* USD per million tokens */
	unsigned line;			    /* of the file, for messages */
};

struct genai_prices {
	struct genai_price *p;
	size_t n;
};

/* Parses text (len bytes) read from the file name. NULL with err naming
 * name and the line ("FILE:LINE: ...") when it is not valid. */
struct genai_prices *genai_prices_parse(const char *text, size_t len, const char *name, char *err,
					size_t errlen);
/* Reads and parses the file path. NULL with err. */
struct genai_prices *genai_prices_load(const char *path, char *err, size_t errlen);
void genai_prices_free(struct genai_prices *p);

/* The price of model, or NULL (p may be NULL). */
const struct genai_price *genai_prices_find(const struct genai_prices *p, const char *model);

/* USD that tokens[GT_MAX] (totals; 0 where none) cost at price p. Reasoning
 * tokens are output tokens, priced as output. cached_apart: the API counts
 * cached input beside the input (Anthropic's cache_read_input_tokens), not
 * as part of it (OpenAI's cached_tokens). */
double genai_price_cost(const struct genai_price *p, const uint64_t *tokens, bool cached_apart);

#endif /* AET_GENAI_PRICES_H */
