// SPDX-License-Identifier: MIT
/*
 * The --gen-ai-prices parser (user/genai_prices.c) on arbitrary bytes. What
 * it accepts is what the README says a price list is: at least one model,
 * each named once, its name a label (1 to 63 bytes, no blank, no "#"), its
 * prices finite and not negative; every model is found by its name, and
 * what tokens cost is finite and not negative. What it refuses it says in
 * one line beginning with the file's name. The input is given in a buffer
 * of just its size, without a NUL, so that reading past it is caught.
 */
#include <math.h>

#include "fuzz.h"
#include "genai_prices.h"

static void check_price(const struct genai_prices *ps, const struct genai_price *p)
{
	static const uint64_t tokens[GT_MAX] = { 1000000, 2000, 3000000, 40 };
	size_t len = strnlen(p->model, sizeof(p->model));

	CHECK(len > 0 && len < sizeof(p->model), "model name of %zu bytes", len);
	CHECK(!strpbrk(p->model, " \t\r\n#"), "model name %s", p->model);
	CHECK(genai_prices_find(ps, p->model) == p, "%s is not found as itself", p->model);
	CHECK(isfinite(p->input) && p->input >= 0 && isfinite(p->output) && p->output >= 0 &&
		      isfinite(p->cached_input) && p->cached_input >= 0,
	      "%s: prices %g %g %g", p->model, p->input, p->output, p->cached_input);
	for (int apart = 0; apart < 2; apart++) {
		double usd = genai_price_cost(p, tokens, apart);

		CHECK(isfinite(usd) && usd >= 0, "%s costs %g", p->model, usd);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1), err[256];
	struct genai_prices *ps;

	CHECK(s, "out of memory");
	memcpy(s, data, size);
	memset(err, 'x', sizeof(err));
	ps = genai_prices_parse(s, size, "p", err, sizeof(err));
	if (ps) {
		CHECK(ps->n > 0, "no model accepted");
		for (size_t i = 0; i < ps->n; i++)
			check_price(ps, &ps->p[i]);
	} else {
		CHECK(memchr(err, '\0', sizeof(err)) && !strchr(err, '\n'), "error not one line");
		CHECK(!strncmp(err, "p:", 2), "error %s", err);
	}
	genai_prices_free(ps);
	free(s);
	return 0;
}
