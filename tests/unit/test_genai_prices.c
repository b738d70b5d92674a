// SPDX-License-Identifier: MIT
/* Unit tests of the --gen-ai-prices file (user/genai_prices.c): what it
 * prices, the line each refusal names, and what tokens cost. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "genai_prices.h"

static char err[256];

static struct genai_prices *parse(const char *text)
{
	err[0] = '\0';
	return genai_prices_parse(text, strlen(text), "prices.txt", err, sizeof(err));
}

Test(genai_prices, lines_comments_and_the_optional_cached_price)
{
	struct genai_prices *p = parse("# USD per million tokens\n"
				       "\n"
				       "gpt-4o-mini 0.15 0.60 0.075   # cached at half\n"
				       "\tclaude-test-2025\t3\t15\r\n"
				       "llama3:8b 0 0\n"
				       "m.dotted 1. .5");
	const struct genai_price *g;

	cr_assert(p, "%s", err);
	cr_assert_eq(p->n, 4);
	g = genai_prices_find(p, "gpt-4o-mini");
	cr_assert(g);
	cr_assert_eq(g->input, 0.15);
	cr_assert_eq(g->output, 0.60);
	cr_assert_eq(g->cached_input, 0.075);
	cr_assert_eq(g->line, 3);
	g = genai_prices_find(p, "claude-test-2025");
	cr_assert(g);
	cr_assert_eq(g->input, 3);
	cr_assert_eq(g->output, 15);
	cr_assert_eq(g->cached_input, 3, "the cached price defaults to the input's");
	g = genai_prices_find(p, "llama3:8b");
	cr_assert(g && g->input == 0 && g->output == 0);
	g = genai_prices_find(p, "m.dotted");
	cr_assert(g && g->input == 1 && g->output == 0.5);
	cr_assert_null(genai_prices_find(p, "gpt-4o"), "a prefix is not the model");
	cr_assert_null(genai_prices_find(p, "GPT-4O-MINI"), "names are exact");
	cr_assert_null(genai_prices_find(NULL, "gpt-4o-mini"));
	genai_prices_free(p);
}

struct refusal {
	const char *text, *err;
};

Test(genai_prices, refusals_name_the_file_and_line)
{
	static const struct refusal cases[] = {
		{ "a 1 2\nb 1\n", "prices.txt:2: too few fields" },
		{ "a 1 2 3 4\n", "prices.txt:1: too many fields" },
		{ "a 1 2\n\n# x\na 3 4\n", "prices.txt:4: model a priced twice (first on line 1)" },
		{ "a -1 2\n", "prices.txt:1: '-1' is not a price" },
		{ "a 1 inf\n", "prices.txt:1: 'inf' is not a price" },
		{ "a 1 nan\n", "prices.txt:1: 'nan' is not a price" },
		{ "a 1e3 2\n", "prices.txt:1: '1e3' is not a price" },
		{ "a 0x10 2\n", "prices.txt:1: '0x10' is not a price" },
		{ "a 1,5 2\n", "prices.txt:1: '1,5' is not a price" },
		{ "a . 2\n", "prices.txt:1: '.' is not a price" },
		{ "a 1.2.3 2\n", "prices.txt:1: '1.2.3' is not a price" },
		{ "a 1 2 $3\n", "prices.txt:1: '$3' is not a price" },
		{ "a 1000000.5 2\n",
		  "prices.txt:1: '1000000.5' is not a price: USD per million tokens, a decimal "
		  "number such as 0.15, at most 1000000" },
		{ "a 1 2\nmodel-name-of-sixty-four-bytes-is-one-past-the-label-bound-x-xxx 1 2\n",
		  "prices.txt:2: model name of 64 bytes: a model label has at most 63" },
		{ "", "prices.txt: prices no model" },
		{ "# only a comment\n\n", "prices.txt: prices no model" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct genai_prices *p = parse(cases[i].text);

		cr_assert_null(p, "case %zu accepted", i);
		cr_assert(!strncmp(err, cases[i].err, strlen(cases[i].err)), "case %zu: %s", i,
			  err);
	}
}

Test(genai_prices, a_model_of_63_bytes_is_priced)
{
	const char *m = "model-name-of-sixty-three-bytes-is-the-label-bound-exactly-xxxx";
	char text[128];
	struct genai_prices *p;

	cr_assert_eq(strlen(m), 63);
	snprintf(text, sizeof(text), "%s 1 2\n", m);
	p = parse(text);
	cr_assert(p, "%s", err);
	cr_assert(genai_prices_find(p, m));
	genai_prices_free(p);
}

Test(genai_prices, prices_are_bounded)
{
	char text[512] = "a 1000000 2\nb 1 2 ";
	struct genai_prices *p = parse(text);

	cr_assert(p, "%s", err);
	cr_assert_eq(genai_prices_find(p, "a")->input, 1000000);
	genai_prices_free(p);
	/* 400 digits: strtod() says inf */
	memset(text + strlen(text), '9', 400);
	cr_assert_null(parse(text));
	cr_assert(!strncmp(err, "prices.txt:2: '9999", 19), "%s", err);
}

Test(genai_prices, a_nul_byte_is_refused)
{
	static const char text[] = "a 1 2\n\0b 1 2\n";

	err[0] = '\0';
	cr_assert_null(genai_prices_parse(text, sizeof(text) - 1, "p", err, sizeof(err)));
	cr_assert(strstr(err, "NUL"), "%s", err);
}

Test(genai_prices, cost_prices_cached_input_where_the_api_counts_it)
{
	const struct genai_price p = { "m", 2.0, 10.0, 0.5, 1 };
	/* input, output, cached_input, reasoning */
	const uint64_t t[GT_MAX] = { 1000, 300, 400, 100 };
	const uint64_t over[GT_MAX] = { 100, 0, 400, 0 };

	/* OpenAI: 600 uncached and 400 cached input; reasoning is output. */
	cr_assert_eq(genai_price_cost(&p, t, false), (600 * 2.0 + 400 * 0.5 + 300 * 10.0) / 1e6);
	/* Anthropic: the cache reads are beside the 1000 input. */
	cr_assert_eq(genai_price_cost(&p, t, true), (1000 * 2.0 + 400 * 0.5 + 300 * 10.0) / 1e6);
	/* More cached than input: no negative input. */
	cr_assert_eq(genai_price_cost(&p, over, false), 400 * 0.5 / 1e6);
}

Test(genai_prices, load_reads_the_file)
{
	char path[] = "/tmp/test_genai_prices.XXXXXX";
	int fd = mkstemp(path);
	struct genai_prices *p;

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "m 1 2\nm 3 4\n", 12), 12);
	close(fd);
	p = genai_prices_load(path, err, sizeof(err));
	cr_assert_null(p);
	cr_assert(!strncmp(err, path, strlen(path)) && strstr(err, ":2: model m priced twice"),
		  "%s", err);
	unlink(path);
	p = genai_prices_load(path, err, sizeof(err));
	cr_assert_null(p);
	cr_assert(strstr(err, "No such file"), "%s", err);
}
