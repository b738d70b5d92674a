// SPDX-License-Identifier: MIT
/* Model prices: the --gen-ai-prices file (user/genai_prices.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "genai_prices.h"

#define FIELDS_MAX 4 /* MODEL INPUT OUTPUT CACHED_INPUT */

/* A price: digits and at most one dot, nothing else, at most
 * GENAI_PRICE_MAX. strtod() alone would take "inf", "nan", "-1", "0x1p4" and
 * "1e3", none of which a price list means; 400 digits would be inf, and a
 * cost of a price past the bound could be. Returns 0 or -EINVAL. */
static int parse_price(const char *s, double *out)
{
	int digits = 0, dots = 0;

	for (const char *c = s; *c; c++) {
		if (*c >= '0' && *c <= '9')
			digits++;
		else if (*c == '.' && !dots)
			dots++;
		else
			return -EINVAL;
	}
	if (!digits)
		return -EINVAL;
	*out = strtod(s, NULL);
	return *out <= GENAI_PRICE_MAX ? 0 : -EINVAL;
}

/* Splits line (modified) into at most FIELDS_MAX + 1 fields, the comment
 * cut off. Returns how many. */
static int split(char *line, char **f)
{
	char *save = NULL, *hash = strchr(line, '#');
	int n = 0;

	if (hash)
		*hash = '\0';
	for (char *t = strtok_r(line, " \t\r", &save); t && n <= FIELDS_MAX;
	     t = strtok_r(NULL, " \t\r", &save))
		f[n++] = t;
	return n;
}

/* One line's fields into a price. Returns 0, or -EINVAL with err (the
 * caller puts the file and line before it). */
static int parse_fields(char **f, int n, const struct genai_prices *ps, struct genai_price *p,
			char *err, size_t len)
{
	double *v[FIELDS_MAX - 1] = { &p->input, &p->output, &p->cached_input };
	const struct genai_price *dup;

	if (n < 3 || n > FIELDS_MAX) {
		snprintf(err, len, "%s fields: a line is MODEL INPUT OUTPUT [CACHED_INPUT]",
			 n < 3 ? "too few" : "too many");
		return -EINVAL;
	}
	if (strlen(f[0]) >= sizeof(p->model)) {
		snprintf(err, len, "model name of %zu bytes: a model label has at most %zu",
			 strlen(f[0]), sizeof(p->model) - 1);
		return -EINVAL;
	}
	dup = genai_prices_find(ps, f[0]);
	if (dup) {
		snprintf(err, len, "model %s priced twice (first on line %u)", f[0], dup->line);
		return -EINVAL;
	}
	snprintf(p->model, sizeof(p->model), "%s", f[0]);
	for (int i = 1; i < n; i++) {
		if (parse_price(f[i], v[i - 1])) {
			snprintf(err, len,
				 "'%.40s' is not a price: USD per million tokens, a decimal "
				 "number such as 0.15, at most %d",
				 f[i], GENAI_PRICE_MAX);
			return -EINVAL;
		}
	}
	if (n < FIELDS_MAX)
		p->cached_input = p->input;
	return 0;
}

/* Adds line number no (NUL-terminated, modified) to ps when it prices a
 * model. Returns 0, or -errno with err. */
static int parse_line(struct genai_prices *ps, char *line, unsigned no, char *err, size_t len)
{
	char *f[FIELDS_MAX + 1];
	struct genai_price p = { .line = no }, *grown;
	int n = split(line, f);

	if (!n)
		return 0;
	if (parse_fields(f, n, ps, &p, err, len))
		return -EINVAL;
	grown = realloc(ps->p, (ps->n + 1) * sizeof(*ps->p));
	if (!grown) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	ps->p = grown;
	ps->p[ps->n++] = p;
	return 0;
}

struct genai_prices *genai_prices_parse(const char *text, size_t len, const char *name, char *err,
					size_t errlen)
{
	struct genai_prices *ps = calloc(1, sizeof(*ps));
	char *copy = malloc(len + 1), *line, *next, why[160] = "out of memory";
	unsigned no = 0;
	int rc = ps && copy ? 0 : -ENOMEM;

	if (!rc && memchr(text, '\0', len)) {
		snprintf(why, sizeof(why), "a NUL byte: not a text file");
		rc = -EINVAL;
	}
	if (!rc) {
		memcpy(copy, text, len);
		copy[len] = '\0';
	}
	for (line = copy; !rc && line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		rc = parse_line(ps, line, ++no, why, sizeof(why));
	}
	if (!rc && !ps->n) {
		snprintf(err, errlen,
			 "%s: prices no model (a line is MODEL INPUT OUTPUT "
			 "[CACHED_INPUT], USD per million tokens)",
			 name);
		rc = -EINVAL;
	} else if (rc) {
		snprintf(err, errlen, "%s:%u: %s", name, no, why);
	}
	free(copy);
	if (rc) {
		genai_prices_free(ps);
		return NULL;
	}
	return ps;
}

struct genai_prices *genai_prices_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	struct genai_prices *ps = NULL;
	char *text = malloc(GENAI_PRICES_MAX_BYTES + 1);
	size_t n = 0;

	if (!f || !text) {
		snprintf(err, errlen, "%s: %s", path, strerror(f ? ENOMEM : errno));
	} else {
		n = fread(text, 1, GENAI_PRICES_MAX_BYTES + 1, f);
		if (ferror(f))
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		else if (n > GENAI_PRICES_MAX_BYTES)
			snprintf(err, errlen, "%s: larger than %d bytes: not a price list", path,
				 GENAI_PRICES_MAX_BYTES);
		else
			ps = genai_prices_parse(text, n, path, err, errlen);
	}
	if (f)
		fclose(f);
	free(text);
	return ps;
}

void genai_prices_free(struct genai_prices *p)
{
	if (!p)
		return;
	free(p->p);
	free(p);
}

const struct genai_price *genai_prices_find(const struct genai_prices *p, const char *model)
{
	for (size_t i = 0; p && i < p->n; i++)
		if (!strcmp(p->p[i].model, model))
			return &p->p[i];
	return NULL;
}

double genai_price_cost(const struct genai_price *p, const uint64_t *tokens, bool cached_apart)
{
	uint64_t cached = tokens[GT_CACHED_INPUT], input = tokens[GT_INPUT];

	/* Cached input is part of the input, except where the API counts it
	 * apart; never more than it (a response that says so is wrong). */
	if (!cached_apart)
		input = input > cached ? input - cached : 0;
	return ((double)input * p->input + (double)cached * p->cached_input +
		(double)tokens[GT_OUTPUT] * p->output) /
	       1e6;
}
