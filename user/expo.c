// SPDX-License-Identifier: MIT
/*
 * Prometheus text exposition format 0.0.4:
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 *
 * A metric keeps its samples in one growable array and their rendered label
 * sets, each NUL-terminated, back to back in one buffer: adding a sample
 * renders its labels once and costs no allocation of its own. Writing sorts
 * references to the samples by rendered label set, so that equal sets end up
 * next to each other and are merged in one pass.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"

#define SAMPLES_MIN_CAP 16
#define LE_MAX		40 /* le="" around a formatted value */

struct sample {
	size_t labels; /* offset of the rendered label set in metric.labels */
	double value;  /* counter or gauge */
};

struct hist_value {
	uint64_t buckets[HIST_BUCKETS]; /* per bucket, not cumulative */
	double sum;
	uint64_t count;
};

struct metric {
	char *name;
	char *help;
	enum metric_type type;
	int nlabels;
	const char *const *label_names;
	struct sample *samples;
	struct hist_value *hists; /* histograms only: parallel to samples */
	size_t n, cap;
	struct buf labels; /* every sample's label set, `a="x",b="y"` and a NUL */
};

/*
 * A sample as metric__write sorts it. key holds the first bytes of its label
 * set past the `name="` every set of the metric starts with, big-endian and
 * zero-padded, so that comparing keys orders as strcmp() does: most
 * comparisons are then decided without reaching the strings.
 */
struct ref {
	uint64_t key[2];
	const char *rest; /* what follows the key bytes in the label set */
	size_t idx;
};

struct metric *metric__new(const char *name, const char *help, enum metric_type type, int nlabels,
			   const char *const *label_names)
{
	struct metric *f;

	if (nlabels < 0 || nlabels > EXPO_MAX_LABELS || (nlabels && !label_names))
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->name = strdup(name);
	f->help = help ? strdup(help) : NULL;
	if (!f->name || (help && !f->help)) {
		metric__free(f);
		return NULL;
	}
	f->type = type;
	f->nlabels = nlabels;
	f->label_names = label_names;
	buf_init(&f->labels);
	return f;
}

void metric__free(struct metric *f)
{
	if (!f)
		return;
	free(f->name);
	free(f->help);
	free(f->samples);
	free(f->hists);
	buf_free(&f->labels);
	free(f);
}

/* Makes room for one more sample. Returns 0 or -ENOMEM. */
static int family_grow(struct metric *f)
{
	size_t cap = f->cap ? f->cap * 2 : SAMPLES_MIN_CAP;
	struct sample *s;
	struct hist_value *h;

	if (f->n < f->cap)
		return 0;
	if (cap > SIZE_MAX / sizeof(*h))
		return -ENOMEM;
	s = realloc(f->samples, cap * sizeof(*s));
	if (!s)
		return -ENOMEM;
	f->samples = s;
	if (f->type == METRIC_HISTOGRAM) {
		h = realloc(f->hists, cap * sizeof(*h));
		if (!h)
			return -ENOMEM; /* f->samples grew, harmless: cap stays */
		f->hists = h;
	}
	f->cap = cap;
	return 0;
}

/* Renders values as a label set into f->labels and adds a sample for it. */
static int family_push(struct metric *f, const char *const *values)
{
	struct buf *b = &f->labels;
	size_t off = b->len;

	if (f->nlabels && !values)
		return -EINVAL;
	if (family_grow(f))
		return -ENOMEM;
	for (int i = 0; i < f->nlabels; i++) {
		if (i)
			buf_append(b, ",", 1);
		buf_puts(b, f->label_names[i]);
		buf_append(b, "=\"", 2);
		expo_label_value(b, values[i]);
		buf_append(b, "\"", 1);
	}
	buf_append(b, "", 1); /* the NUL that ends this set; len counts it */
	if (b->oom) {
		/* Forget the partial set; the samples added before stay usable. */
		b->oom = 0;
		b->len = off;
		if (b->data)
			b->data[off] = '\0';
		return -ENOMEM;
	}
	f->samples[f->n].labels = off;
	f->samples[f->n].value = 0;
	return 0;
}

int metric__add(struct metric *f, const char *const *values, double value)
{
	int err;

	if (f->type == METRIC_HISTOGRAM)
		return -EINVAL;
	err = family_push(f, values);
	if (err)
		return err;
	f->samples[f->n++].value = value;
	return 0;
}

int metric__add_hist(struct metric *f, const char *const *values, const uint64_t *buckets,
		     double sum, uint64_t count)
{
	struct hist_value *h;
	int err;

	if (f->type != METRIC_HISTOGRAM)
		return -EINVAL;
	err = family_push(f, values);
	if (err)
		return err;
	h = &f->hists[f->n++];
	memcpy(h->buckets, buckets, sizeof(h->buckets));
	h->sum = sum;
	h->count = count;
	return 0;
}

/* Drops a UTF-8 sequence left incomplete at the end of s[0..n). */
static size_t utf8_trim(const char *s, size_t n)
{
	for (size_t k = 1; k <= 3 && k <= n; k++) {
		if (buf_utf8_seq(s + n - k, k) < 0)
			return n - k;
	}
	return n;
}

/*
 * Appends s[0..n) with backslash, newline and (when quote) double quote
 * escaped, and every byte that does not begin a well-formed UTF-8 sequence
 * replaced by U+FFFD: the text format is UTF-8 and has no escape for a byte
 * (promtool 2.42 rejects a raw 0xff and "\xff" alike in a label value).
 */
static void put_escaped(struct buf *out, const char *s, size_t n, bool quote)
{
	static const bool label_escaped[128] = { ['\\'] = true, ['\n'] = true, ['"'] = true };
	static const bool help_escaped[128] = { ['\\'] = true, ['\n'] = true };
	size_t i = 0, run;

	while (i < n) {
		unsigned char c;

		run = buf_utf8_span(s + i, n - i, quote ? label_escaped : help_escaped);
		buf_append(out, s + i, run);
		i += run;
		if (i == n)
			break;
		c = (unsigned char)s[i++];
		if (c == '\\')
			buf_append(out, "\\\\", 2);
		else if (c == '"')
			buf_append(out, "\\\"", 2);
		else if (c == '\n')
			buf_append(out, "\\n", 2);
		else /* one per invalid byte */
			buf_append(out, BUF_UTF8_REPLACEMENT, BUF_UTF8_REPLACEMENT_LEN);
	}
}

void expo_label_value(struct buf *out, const char *raw)
{
	size_t n;

	if (!raw)
		return;
	n = strnlen(raw, EXPO_LABEL_MAX);
	/* Only a value that reached the bound may have been cut inside a character. */
	if (n == EXPO_LABEL_MAX)
		n = utf8_trim(raw, n);
	put_escaped(out, raw, n, true);
}

/* HELP text escapes only backslash and newline; it is made UTF-8 too. */
static void help_text(struct buf *out, const char *s)
{
	put_escaped(out, s, strlen(s), false);
}

/* Writes v in decimal backwards, ending at end; returns where it starts. */
static char *u64_digits(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static void put_u64(struct buf *out, uint64_t v)
{
	char tmp[20], *p = u64_digits(tmp + sizeof(tmp), v);

	buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

#define EXACT_INT_MAX 9007199254740992.0 /* 2^53: every integer up to it is a double */
#define VALUE_MAX     32		 /* "-1.2345678901234567e-308" and the NUL */

/*
 * v with 1 to 9 decimals, when that many give v back: the text %.15g prints
 * for such a v (at most 15 significant digits, which a double keeps), found
 * without snprintf() and strtod(), which cost about a microsecond. Covers
 * the sums of histograms, nanoseconds / 1e9.
 */
static bool format_fixed(char tmp[VALUE_MAX], double v)
{
	static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };
	double a = v < 0 ? -v : v, m;
	char *end = tmp + VALUE_MAX - 1, *p;
	uint64_t digits;

	/* %g prints fixed notation from 1e-4 on */
	if (!(a >= 1e-4 && a < 1e15))
		return false;
	for (int k = 1; k <= 9; k++) {
		m = a * p10[k];
		if (m >= 1e15)
			return false;
		digits = (uint64_t)(m + 0.5);
		/* exact: digits and p10[k] are doubles, the quotient rounds as strtod() does */
		if ((double)digits / p10[k] != a)
			continue;
		*end = '\0';
		p = end;
		for (int i = 0; i < k; i++, digits /= 10)
			*--p = (char)('0' + digits % 10);
		*--p = '.';
		p = u64_digits(p, digits);
		if (v < 0)
			*--p = '-';
		memmove(tmp, p, (size_t)(end - p) + 1);
		return true;
	}
	return false;
}

/* Formats v into tmp as expo_value describes; returns its length. */
static size_t format_value(char tmp[VALUE_MAX], double v)
{
	char *p;

	if (isnan(v)) {
		strcpy(tmp, "NaN");
	} else if (isinf(v)) {
		strcpy(tmp, v > 0 ? "+Inf" : "-Inf");
	} else if (v > -EXACT_INT_MAX && v < EXACT_INT_MAX && v == (double)(int64_t)v) {
		tmp[VALUE_MAX - 1] = '\0';
		p = u64_digits(tmp + VALUE_MAX - 1, (uint64_t)(v < 0 ? -(int64_t)v : (int64_t)v));
		if (v < 0)
			*--p = '-';
		memmove(tmp, p, (size_t)(tmp + VALUE_MAX - p));
		return (size_t)(tmp + VALUE_MAX - 1 - p);
	} else if (!format_fixed(tmp, v)) {
		/* %.17g always round-trips; prefer the shortest that does. Uses the
		 * C locale's decimal point, as the daemon never calls setlocale(). */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(tmp, VALUE_MAX, "%.*g", prec, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
	}
	return strlen(tmp);
}

void expo_value(struct buf *out, double v)
{
	char tmp[VALUE_MAX];

	buf_append(out, tmp, format_value(tmp, v));
}

static const char *const type_names[] = {
	[METRIC_COUNTER] = "counter",
	[METRIC_GAUGE] = "gauge",
	[METRIC_HISTOGRAM] = "histogram",
};

static void write_header(const struct metric *f, struct buf *out)
{
	if (f->help) {
		buf_puts(out, "# HELP ");
		buf_puts(out, f->name);
		buf_append(out, " ", 1);
		help_text(out, f->help);
		buf_append(out, "\n", 1);
	}
	buf_puts(out, "# TYPE ");
	buf_puts(out, f->name);
	buf_append(out, " ", 1);
	buf_puts(out, type_names[f->type]);
	buf_append(out, "\n", 1);
}

/* A string and its length, which the lines of a metric repeat. */
struct str {
	const char *s;
	size_t n;
};

#define STR(lit) ((struct str){ lit, sizeof(lit) - 1 })

/* `name` `suffix`{labels[,]extra} value-follows-the-space. Lengths known:
 * a metric of 100k series writes this 100k times or more. */
static void line_start(struct buf *out, struct str name, struct str suffix, struct str labels,
		       struct str extra)
{
	buf_append(out, name.s, name.n);
	buf_append(out, suffix.s, suffix.n);
	if (labels.n || extra.n) {
		buf_append(out, "{", 1);
		buf_append(out, labels.s, labels.n);
		if (labels.n && extra.n)
			buf_append(out, ",", 1);
		buf_append(out, extra.s, extra.n);
		buf_append(out, "}", 1);
	}
	buf_append(out, " ", 1);
}

/* The finite bounds in seconds as `le="0.0001"`, from HIST_BOUNDS_NS. */
static void bucket_les(char les[HIST_FINITE][LE_MAX], struct str le[HIST_FINITE])
{
	static const unsigned long long bounds_ns[HIST_FINITE] = HIST_BOUNDS_NS;
	char v[VALUE_MAX];

	for (int i = 0; i < HIST_FINITE; i++) {
		format_value(v, (double)bounds_ns[i] / 1e9);
		le[i].s = les[i];
		le[i].n = (size_t)snprintf(les[i], LE_MAX, "le=\"%s\"", v);
	}
}

static void write_hist(struct buf *out, struct str name, struct str labels,
		       const struct hist_value *h, const struct str le[HIST_FINITE])
{
	uint64_t cum = 0;

	for (int i = 0; i < HIST_FINITE; i++) {
		cum += h->buckets[i];
		line_start(out, name, STR("_bucket"), labels, le[i]);
		put_u64(out, cum);
		buf_append(out, "\n", 1);
	}
	/* +Inf is the count by definition, whatever the last bucket holds. */
	line_start(out, name, STR("_bucket"), labels, STR("le=\"+Inf\""));
	put_u64(out, h->count);
	buf_append(out, "\n", 1);
	line_start(out, name, STR("_sum"), labels, STR(""));
	expo_value(out, h->sum);
	buf_append(out, "\n", 1);
	line_start(out, name, STR("_count"), labels, STR(""));
	put_u64(out, h->count);
	buf_append(out, "\n", 1);
}

static void ref_init(struct ref *r, const char *labels, size_t skip, size_t idx)
{
	const unsigned char *p = (const unsigned char *)labels + skip;

	r->idx = idx;
	for (int k = 0; k < 2; k++) {
		r->key[k] = 0;
		for (int i = 0; i < 8; i++) {
			r->key[k] = r->key[k] << 8 | *p;
			p += *p != 0;
		}
	}
	r->rest = (const char *)p;
}

/* strcmp() order of the label sets. */
static int ref_labels_cmp(const struct ref *x, const struct ref *y)
{
	for (int k = 0; k < 2; k++) {
		if (x->key[k] != y->key[k])
			return x->key[k] < y->key[k] ? -1 : 1;
	}
	/* equal keys: both sets ended within them (rest is "") or go on */
	return strcmp(x->rest, y->rest);
}

/*
 * Stable merge sort of r[0..n), tmp holding n/2 refs: equal label sets keep
 * their insertion order, so merged sums are added in a fixed order. Written
 * out because glibc's qsort() spends most of its time on indirect calls and
 * element copies here (3.4 ms of 5 for 10k series, measured).
 */
static void ref_sort(struct ref *r, struct ref *tmp, size_t n)
{
	size_t h = n / 2, i = 0, j = h, k = 0;

	if (n < 2)
		return;
	ref_sort(r, tmp, h);
	ref_sort(r + h, tmp, n - h);
	if (ref_labels_cmp(&r[h - 1], &r[h]) <= 0)
		return; /* already in order, as in a metric added to in order */
	memcpy(tmp, r, h * sizeof(*r));
	/* k <= j: writing r[k] never overwrites a right-hand ref not yet merged */
	while (i < h && j < n)
		r[k++] = ref_labels_cmp(&r[j], &tmp[i]) < 0 ? r[j++] : tmp[i++];
	memcpy(r + k, tmp + i, (h - i) * sizeof(*r));
}

/* The rendered label set of sample i, without its NUL: it ends where the
 * next sample's begins. */
static struct str sample_labels(const struct metric *f, size_t i)
{
	size_t off = f->samples[i].labels;
	size_t end = i + 1 < f->n ? f->samples[i + 1].labels : f->labels.len;

	return (struct str){ f->labels.data + off, end - off - 1 };
}

/* Writes refs[0..n), which share one rendered label set, as one series. */
static void write_merged(const struct metric *f, struct buf *out, struct str name,
			 const struct ref *refs, size_t n, const struct str le[HIST_FINITE])
{
	struct str labels = sample_labels(f, refs[0].idx);
	struct hist_value h;
	double value = 0;

	if (f->type != METRIC_HISTOGRAM) {
		for (size_t i = 0; i < n; i++)
			value += f->samples[refs[i].idx].value;
		line_start(out, name, STR(""), labels, STR(""));
		expo_value(out, value);
		buf_append(out, "\n", 1);
		return;
	}
	h = f->hists[refs[0].idx];
	for (size_t i = 1; i < n; i++) {
		const struct hist_value *o = &f->hists[refs[i].idx];

		for (int b = 0; b < HIST_BUCKETS; b++)
			h.buckets[b] += o->buckets[b];
		h.sum += o->sum;
		h.count += o->count;
	}
	write_hist(out, name, labels, &h, le);
}

/* On allocation failure out->oom is set, as for any other failed append. */
void metric__write(const struct metric *f, struct buf *out)
{
	char les[HIST_FINITE][LE_MAX];
	struct str le[HIST_FINITE], name = { f->name, strlen(f->name) };
	size_t i, j, skip = 0;
	struct ref *refs;

	write_header(f, out);
	if (!f->n)
		return;
	refs = malloc((f->n + f->n / 2) * sizeof(*refs)); /* and the sort's tmp */
	if (!refs) {
		out->oom = 1;
		return;
	}
	if (f->nlabels)
		skip = strlen(f->label_names[0]) + 2;
	for (i = 0; i < f->n; i++)
		ref_init(&refs[i], f->labels.data + f->samples[i].labels, skip, i);
	ref_sort(refs, refs + f->n, f->n);
	if (f->type == METRIC_HISTOGRAM)
		bucket_les(les, le);
	for (i = 0; i < f->n; i = j) {
		for (j = i + 1; j < f->n && !ref_labels_cmp(&refs[i], &refs[j]); j++)
			;
		write_merged(f, out, name, refs + i, j - i, le);
	}
	free(refs);
}

int expo_write_by_label(struct buf *out, const char *name, const char *help, enum metric_type type,
			const char *label, const char *const *label_values, const double *values,
			int n)
{
	struct metric *f = metric__new(name, help, type, 1, &label);
	int rc = f ? 0 : -ENOMEM;

	for (int i = 0; i < n && !rc; i++)
		rc = metric__add(f, &label_values[i], values[i]);
	if (!rc)
		metric__write(f, out);
	metric__free(f);
	return rc;
}

int expo_write_unlabelled(struct buf *out, const struct expo_sample *samples, int n)
{
	int rc = 0;

	for (int i = 0; i < n && !rc; i++) {
		const struct expo_sample *s = &samples[i];
		struct metric *f = metric__new(s->name, s->help, s->type, 0, NULL);

		rc = f ? metric__add(f, NULL, s->value) : -ENOMEM;
		if (!rc)
			metric__write(f, out);
		metric__free(f);
	}
	return rc;
}
