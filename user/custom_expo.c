// SPDX-License-Identifier: MIT
/* The custom metrics' exposition: see custom_expo.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custom_expo.h"
#include "expo.h"

static const char *const type_names[CUSTOM_TYPES] = { "counter", "gauge", "histogram" };

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Appends n bytes of s, those outside [A-Za-z0-9_] as "_". */
static void put_sanitised(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_append(b, name_char(s[i]) ? &s[i] : "_", 1);
}

static void set_family(struct custom_sample *s, const char *name)
{
	size_t n = strnlen(name, CUSTOM_NAME_LEN);
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "aet_custom_");
	put_sanitised(&b, name, n);
	if (s->type == CUSTOM_COUNTER && !(b.len >= 17 && !memcmp(b.data + b.len - 6, "_total", 6)))
		buf_puts(&b, "_total");
	snprintf(s->family, sizeof(s->family), "%.*s", b.oom ? 0 : (int)b.len, b.data);
	buf_free(&b);
}

struct pair {
	char key[CUSTOM_LABELS_LEN + 8];
	const char *value; /* in the labels' copy, NUL-terminated */
};

static int pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->key, ((const struct pair *)b)->key);
}

/* Sanitises key k (n bytes) into p->key; false when empty. A key that
 * begins with a digit or "__" once sanitised ("\xc3\xa9" is "__") gets an
 * "x" in front. */
static bool set_key(struct pair *p, const char *k, size_t n, __u32 type)
{
	const char *prefix = "";
	struct buf b;

	if (!n)
		return false;
	buf_init(&b);
	put_sanitised(&b, k, n);
	if (b.oom) {
		buf_free(&b);
		return false;
	}
	if ((b.data[0] >= '0' && b.data[0] <= '9') || (n >= 2 && !memcmp(b.data, "__", 2)))
		prefix = "x";
	else if (type == CUSTOM_HISTOGRAM && n == 2 && !memcmp(b.data, "le", 2))
		prefix = "x_";
	snprintf(p->key, sizeof(p->key), "%s%.*s", prefix, (int)b.len, b.data);
	buf_free(&b);
	return true;
}

/* Splits copy (the labels, modified) into at most CUSTOM_PAIRS_MAX pairs;
 * empty ones (";;", a trailing ";") are no pairs. */
static int split_pairs(char *copy, __u32 type, struct pair *pairs, __u64 *left)
{
	int n = 0;

	for (char *next, *p = copy; p; p = next) {
		char *eq;
		bool dup = false;

		next = strchr(p, ';');
		if (next)
			*next++ = '\0';
		if (!*p)
			continue;
		eq = strchr(p, '=');
		if (!eq || n == CUSTOM_PAIRS_MAX || !set_key(&pairs[n], p, eq - p, type)) {
			(*left)++;
			continue;
		}
		for (int i = 0; i < n; i++)
			dup |= !strcmp(pairs[i].key, pairs[n].key);
		if (dup) {
			(*left)++;
			continue;
		}
		pairs[n++].value = eq + 1;
	}
	return n;
}

static void set_labels(struct custom_sample *s, const char *labels, __u64 *left)
{
	char copy[CUSTOM_LABELS_LEN + 1];
	struct pair pairs[CUSTOM_PAIRS_MAX];
	struct buf b;
	int n;

	snprintf(copy, sizeof(copy), "%.*s", CUSTOM_LABELS_LEN, labels);
	n = split_pairs(copy, s->type, pairs, left);
	qsort(pairs, n, sizeof(pairs[0]), pair_cmp);
	buf_init(&b);
	for (int i = 0; i < n; i++) {
		buf_printf(&b, "%s%s=\"", i ? "," : "", pairs[i].key);
		expo_label_value(&b, pairs[i].value);
		buf_puts(&b, "\"");
	}
	snprintf(s->labels, sizeof(s->labels), "%.*s", b.oom ? 0 : (int)b.len, b.data);
	buf_free(&b);
}

void custom_sample_set(struct custom_sample *s, __u32 type, const char *name, const char *labels,
		       const struct custom_value *v, struct custom_left_out *out)
{
	char n[CUSTOM_NAME_LEN + 1];

	memset(s, 0, sizeof(*s));
	s->type = type < CUSTOM_TYPES ? type : CUSTOM_COUNTER;
	s->v = *v;
	snprintf(n, sizeof(n), "%.*s", CUSTOM_NAME_LEN, name);
	/* Every name past --max-custom-names, one series per type. */
	if (!labels && !strcmp(n, CUSTOM_OVERFLOW))
		snprintf(n, sizeof(n), "__overflow_%s__", type_names[s->type]);
	set_family(s, n);
	if (labels)
		set_labels(s, labels, &out->label_pairs);
	else
		snprintf(s->labels, sizeof(s->labels), "series=\"" CUSTOM_OVERFLOW "\"");
}

void custom_sample_bounds(struct custom_sample *s, const __s64 *le, __u32 n)
{
	s->v.nbounds = n < CUSTOM_BOUNDS_MAX ? n : CUSTOM_BOUNDS_MAX;
	memset(s->le, 0, sizeof(s->le));
	memcpy(s->le, le, s->v.nbounds * sizeof(*le));
}

/* Orders by bounds: the default ones (none declared) first. */
static int bounds_cmp(const struct custom_sample *x, const struct custom_sample *y)
{
	if (x->v.nbounds != y->v.nbounds)
		return x->v.nbounds < y->v.nbounds ? -1 : 1;
	for (__u32 i = 0; i < x->v.nbounds && i < CUSTOM_BOUNDS_MAX; i++)
		if (x->le[i] != y->le[i])
			return x->le[i] < y->le[i] ? -1 : 1;
	return 0;
}

static int sample_cmp(const void *a, const void *b)
{
	const struct custom_sample *x = a, *y = b;
	int c = strcmp(x->family, y->family);

	if (c)
		return c;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	c = bounds_cmp(x, y);
	return c ?: strcmp(x->labels, y->labels);
}

static void value_add(struct custom_value *sum, const struct custom_value *v)
{
	sum->count += v->count;
	sum->sum += v->sum;
	for (int i = 0; i < HIST_BUCKETS; i++)
		sum->buckets[i] += v->buckets[i];
}

static void write_hist(const struct custom_sample *s, struct buf *out)
{
	static const __u64 bounds[HIST_FINITE] = HIST_BOUNDS_NS;
	const char *sep = s->labels[0] ? "," : "";
	__u32 nb = s->v.nbounds ? s->v.nbounds : HIST_FINITE;
	__u64 n = 0;

	for (__u32 i = 0; i <= nb && i < HIST_BUCKETS; i++) {
		n += s->v.buckets[i];
		buf_printf(out, "%s_bucket{%s%sle=\"", s->family, s->labels, sep);
		if (i == nb)
			buf_puts(out, "+Inf");
		else if (s->v.nbounds)
			expo_value(out, s->le[i] / 1e6);
		else
			expo_value(out, bounds[i] / 1e9);
		buf_printf(out, "\"} %llu\n", (unsigned long long)n);
	}
	buf_printf(out, "%s_sum%s%s%s ", s->family, s->labels[0] ? "{" : "", s->labels,
		   s->labels[0] ? "}" : "");
	expo_value(out, s->v.sum / 1e6);
	buf_printf(out, "\n%s_count%s%s%s %llu\n", s->family, s->labels[0] ? "{" : "", s->labels,
		   s->labels[0] ? "}" : "", (unsigned long long)n);
}

static void write_sample(const struct custom_sample *s, bool first, struct buf *out)
{
	if (first)
		buf_printf(out,
			   "# HELP %s Custom %s of the application (probe ABI version 2).\n"
			   "# TYPE %s %s\n",
			   s->family, type_names[s->type], s->family, type_names[s->type]);
	if (s->type == CUSTOM_HISTOGRAM) {
		write_hist(s, out);
		return;
	}
	buf_printf(out, "%s%s%s%s ", s->family, s->labels[0] ? "{" : "", s->labels,
		   s->labels[0] ? "}" : "");
	if (s->type == CUSTOM_COUNTER)
		buf_printf(out, "%llu\n", (unsigned long long)s->v.count);
	else
		buf_printf(out, "%lld\n", (long long)s->v.sum);
}

int custom_samples_write(struct custom_sample *s, size_t n, struct buf *out,
			 struct custom_left_out *left)
{
	size_t i = 0;

	if (n) /* qsort() of NULL is undefined, even of nothing */
		qsort(s, n, sizeof(*s), sample_cmp);
	while (i < n) {
		size_t j = i + 1;
		bool head = true;

		/* One family: its first type's (and bounds') series, the others
		 * left out. */
		while (j < n && !strcmp(s[j].family, s[i].family))
			j++;
		for (size_t k = i; k < j; k++) {
			if (s[k].type != s[i].type || bounds_cmp(&s[k], &s[i])) {
				left->series++;
				continue;
			}
			for (; k + 1 < j && !sample_cmp(&s[k], &s[k + 1]); k++)
				value_add(&s[k + 1].v, &s[k].v);
			write_sample(&s[k], head, out);
			head = false;
		}
		i = j;
	}
	return out->oom ? -ENOMEM : 0;
}
