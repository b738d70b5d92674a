// SPDX-License-Identifier: MIT
/*
 * The Prometheus exposition writer (user/expo.c) on arbitrary label values,
 * HELP text and sample values. Checks that what it writes is valid text
 * format 0.0.4: every line a HELP, a TYPE or a sample of the grammar, label
 * values escaped (only \\ \" \n), all of it UTF-8, no series twice; that a
 * label value renders as a reference renderer written here says (cut at 63
 * bytes or a NUL, a sequence cut by that bound dropped, invalid bytes as
 * U+FFFD); and that values parse back to what was given.
 *
 * Input: a control byte, a HELP field, then samples: per label a field of
 * up to 95 bytes (one length byte first), then 8 bytes of value (a
 * histogram: 16 bucket bytes, 8 bytes of sum). A label value of 63 bytes or
 * more is given without a NUL, in a buffer of just its size: the writer
 * must read no more than 63 bytes of it.
 */
#include <math.h>

#include "buf.h"
#include "expo.h"
#include "fuzz.h"

#define MAX_SAMPLES 24
#define FIELD_MAX   95

static const char *const label_names[EXPO_MAX_LABELS] = { "agent", "mode", "status", "path",
							  "model" };
static const char *const suffixes[] = { "_bucket", "_sum", "_count" };

/* The rendering expo.h promises, written apart from it: unescaped. */
static size_t reference_label(const uint8_t *raw, size_t avail, uint8_t *out)
{
	size_t n = 0, need;

	while (n < avail && n < EXPO_LABEL_MAX && raw[n])
		n++;
	if (n == EXPO_LABEL_MAX) {
		for (size_t k = 1; k <= 3; k++) {
			utf8_well_formed(raw + n - k, k, &need);
			if (need > k) {
				n -= k;
				break;
			}
		}
	}
	return utf8_sanitize(raw, n, out);
}

/* Unescapes s[0..n) of a label value (\\ \" \n; nothing else may be escaped,
 * and no raw " or newline may appear) into out; returns its length. */
static size_t unescape_label(const char *s, size_t n, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		CHECK(s[i] != '"' && s[i] != '\n', "raw quote or newline in a label value");
		if (s[i] != '\\') {
			out[o++] = (uint8_t)s[i];
			continue;
		}
		CHECK(i + 1 < n, "a label value ends in a backslash");
		i++;
		CHECK(s[i] == '\\' || s[i] == '"' || s[i] == 'n', "escape \\%c", s[i]);
		out[o++] = s[i] == 'n' ? '\n' : (uint8_t)s[i];
	}
	return o;
}

/* A sample value as Go's strconv.ParseFloat, which Prometheus uses, reads
 * it, restricted to what a writer should print. Returns its value. */
static double check_value(const char *s, size_t n)
{
	char tmp[64], *end;
	size_t i = 0;
	double v;

	CHECK(n > 0 && n < sizeof(tmp), "value of %zu bytes", n);
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (!strcmp(tmp, "NaN"))
		return NAN;
	if (!strcmp(tmp, "+Inf") || !strcmp(tmp, "-Inf"))
		return tmp[0] == '+' ? INFINITY : -INFINITY;
	if (tmp[i] == '-' || tmp[i] == '+')
		i++;
	CHECK(tmp[i] >= '0' && tmp[i] <= '9', "value %s", tmp);
	for (; i < n; i++)
		CHECK(strchr("0123456789.eE+-", tmp[i]), "value %s", tmp);
	v = strtod(tmp, &end);
	CHECK(*end == '\0', "value %s", tmp);
	return v;
}

static bool is_name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

/* One sample line: name[{labels}] value. Returns the length of its series
 * (name and labels), for the duplicate check. */
static size_t check_sample(const char *line, size_t n, const char *family, int nlabels, bool hist)
{
	size_t i = 0, fl = strlen(family), series;
	int seen = 0;
	uint8_t tmp[4 * FIELD_MAX];

	while (i < n && is_name_char(line[i], i == 0))
		i++;
	CHECK(i >= fl && !memcmp(line, family, fl), "sample of another family: %.*s", (int)n, line);
	if (hist) {
		bool ok = false;

		for (size_t k = 0; k < 3; k++)
			ok |= i - fl == strlen(suffixes[k]) &&
			      !memcmp(line + fl, suffixes[k], i - fl);
		CHECK(ok, "histogram sample %.*s", (int)i, line);
	} else {
		CHECK(i == fl, "sample name %.*s", (int)i, line);
	}
	if (i < n && line[i] == '{') {
		i++;
		while (i < n && line[i] != '}') {
			size_t start = i, vs;

			while (i < n && is_name_char(line[i], i == start))
				i++;
			CHECK(i > start && i + 1 < n && line[i] == '=' && line[i + 1] == '"',
			      "label in %.*s", (int)n, line);
			i += 2;
			vs = i;
			while (i < n && line[i] != '"')
				i += line[i] == '\\' ? 2 : 1;
			CHECK(i < n, "unterminated label value in %.*s", (int)n, line);
			CHECK(unescape_label(line + vs, i - vs, tmp) <= 3 * EXPO_LABEL_MAX,
			      "label value too long");
			i++;
			seen++;
			if (i < n && line[i] == ',')
				i++;
		}
		CHECK(i < n, "unterminated label set in %.*s", (int)n, line);
		i++;
	}
	CHECK(seen == nlabels || (hist && seen == nlabels + 1), "%d labels of %d in %.*s", seen,
	      nlabels, (int)n, line);
	series = i;
	CHECK(i < n && line[i] == ' ', "no space before the value in %.*s", (int)n, line);
	check_value(line + i + 1, n - i - 1);
	return series;
}

struct series {
	const char *s;
	size_t n;
};

static int series_cmp(const void *a, const void *b)
{
	const struct series *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

static void check_exposition(const struct buf *out, const char *name, const char *help, int nlabels,
			     bool hist, size_t nsamples)
{
	struct series *seen = calloc(nsamples * 19 + 1, sizeof(*seen));
	const char *p = out->data, *end = out->data + out->len;
	size_t nseen = 0, hl = strlen(help);
	uint8_t *want = malloc(3 * hl + 1), *got = malloc(3 * hl + 1);
	int line_no = 0;

	CHECK(seen && want && got, "out of memory");
	CHECK(utf8_valid((const uint8_t *)out->data, out->len), "output is not UTF-8");
	CHECK(out->len && end[-1] == '\n', "output does not end a line");
	for (const char *nl; p < end; p = nl + 1, line_no++) {
		size_t n;
		char head[128];

		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)(nl - p);
		if (line_no == 0) {
			/* # HELP name text: \\ and \n escaped, invalid UTF-8 replaced */
			size_t hn = snprintf(head, sizeof(head), "# HELP %s ", name), o = 0;

			CHECK(n >= hn && !memcmp(p, head, hn), "first line %.*s", (int)n, p);
			for (size_t i = hn; i < n; i++) {
				if (p[i] != '\\') {
					got[o++] = (uint8_t)p[i];
					continue;
				}
				CHECK(i + 1 < n && (p[i + 1] == '\\' || p[i + 1] == 'n'),
				      "HELP escape");
				got[o++] = p[++i] == 'n' ? '\n' : '\\';
				CHECK(o <= 3 * hl, "HELP too long");
			}
			CHECK(o == utf8_sanitize((const uint8_t *)help, hl, want) &&
				      !memcmp(got, want, o),
			      "HELP text differs");
		} else if (line_no == 1) {
			snprintf(head, sizeof(head), "# TYPE %s %s", name,
				 hist		? "histogram"
				 : nlabels == 2 ? "gauge"
						: "counter");
			CHECK(n == strlen(head) && !memcmp(p, head, n), "TYPE line %.*s", (int)n,
			      p);
		} else {
			CHECK(nseen < nsamples * 19, "more lines than samples");
			seen[nseen].s = p;
			seen[nseen++].n = check_sample(p, n, name, nlabels, hist);
		}
	}
	qsort(seen, nseen, sizeof(*seen), series_cmp);
	for (size_t i = 1; i < nseen; i++)
		CHECK(series_cmp(&seen[i - 1], &seen[i]), "series twice: %.*s", (int)seen[i].n,
		      seen[i].s);
	free(seen);
	free(want);
	free(got);
}

/* expo_label_value() of raw against the reference. */
static void check_label(const uint8_t *raw, size_t avail)
{
	uint8_t want[3 * EXPO_LABEL_MAX], got[3 * EXPO_LABEL_MAX];
	size_t wn = reference_label(raw, avail, want), gn;
	struct buf b;

	buf_init(&b);
	expo_label_value(&b, (const char *)raw);
	CHECK(!b.oom, "out of memory");
	CHECK(utf8_valid((const uint8_t *)b.data, b.len), "label value is not UTF-8");
	gn = unescape_label(b.data ? b.data : "", b.len, got);
	CHECK(gn == wn && !memcmp(got, want, gn), "label value renders %zu bytes, want %zu", gn,
	      wn);
	buf_free(&b);
}

/* expo_value() of v parses back to v. */
static void check_number(double v)
{
	struct buf b;
	double back;

	buf_init(&b);
	expo_value(&b, v);
	back = check_value(b.data, b.len);
	CHECK(isnan(v) ? isnan(back) : back == v, "%.17g printed as %.*s", v, (int)b.len, b.data);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t ctl = in_byte(&in);
	enum metric_type type = ctl % 3;
	int nlabels = (ctl >> 2) % (EXPO_MAX_LABELS + 1);
	bool hist = type == METRIC_HISTOGRAM;
	const char *name = hist ? "aet_fuzz_seconds" : "aet_fuzz_total";
	char *labels[MAX_SAMPLES][EXPO_MAX_LABELS] = { 0 };
	size_t len, nsamples = 0;
	const uint8_t *f = in_field(&in, FIELD_MAX, &len);
	char *help = strndup((const char *)f, len);
	struct metric *fam;
	struct buf out;

	/* The type follows nlabels, so that the TYPE line can be checked. */
	if (!hist)
		type = nlabels == 2 ? METRIC_GAUGE : METRIC_COUNTER;
	fam = metric__new(name, help, type, nlabels, label_names);
	CHECK(help && fam, "out of memory");
	while (in.n && nsamples < MAX_SAMPLES) {
		uint64_t buckets[HIST_BUCKETS] = { 0 }, count = 0;
		double v;

		for (int l = 0; l < nlabels; l++) {
			f = in_field(&in, FIELD_MAX, &len);
			/* Shorter than the bound: NUL-terminated, as the kernel copies. */
			labels[nsamples][l] = malloc(len < EXPO_LABEL_MAX ? len + 1 : len);
			CHECK(labels[nsamples][l], "out of memory");
			memcpy(labels[nsamples][l], f, len);
			if (len < EXPO_LABEL_MAX)
				labels[nsamples][l][len] = '\0';
			check_label((const uint8_t *)labels[nsamples][l],
				    len < EXPO_LABEL_MAX ? len + 1 : len);
		}
		if (hist) {
			for (int b = 0; b < HIST_BUCKETS; b++)
				count += buckets[b] = in_byte(&in);
		}
		in_bytes(&in, &v, sizeof(v));
		check_number(v);
		if (hist)
			CHECK(!metric__add_hist(fam, (const char *const *)labels[nsamples], buckets,
						v, count),
			      "add_hist");
		else
			CHECK(!metric__add(fam, (const char *const *)labels[nsamples], v), "add");
		nsamples++;
	}
	buf_init(&out);
	metric__write(fam, &out);
	CHECK(!out.oom, "out of memory");
	check_exposition(&out, name, help, nlabels, hist, nsamples);
	buf_free(&out);
	metric__free(fam);
	for (size_t i = 0; i < nsamples; i++)
		for (int l = 0; l < nlabels; l++)
			free(labels[i][l]);
	free(help);
	return 0;
}
