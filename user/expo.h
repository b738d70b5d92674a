/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition format 0.0.4 writer. Pure: no libbpf, no I/O.
 *
 * A metric (a "metric family" in the format's words) collects samples with
 * raw label values (bytes from the target
 * process: any bytes, maybe not UTF-8), then writes HELP, TYPE and its
 * samples sorted by label set. Raw values are made valid on the way out:
 * cut at the first NUL or at EXPO_LABEL_MAX bytes, a UTF-8 sequence cut by
 * that bound is dropped, invalid bytes become U+FFFD, and \ " and newline
 * are escaped. Two raw values can so render the same; samples whose
 * rendered label sets are equal are merged by adding their values, so the
 * output never holds a duplicate series.
 */
#ifndef AET_EXPO_H
#define AET_EXPO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hist.h"

#define EXPO_LABEL_MAX	63 /* label values at most 63 bytes (docs/DESIGN.md, 3. The probe ABI) */
#define EXPO_MAX_LABELS 5

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

struct metric;

/* label_names has nlabels entries (at most EXPO_MAX_LABELS); the strings
 * must outlive the metric. Returns NULL when out of memory. */
struct metric *metric__new(const char *name, const char *help, enum metric_type type, int nlabels,
			   const char *const *label_names);
void metric__free(struct metric *f);

/* Adds a counter or gauge sample; values has nlabels raw label values, each
 * read up to its NUL or EXPO_LABEL_MAX bytes, whichever comes first.
 * Returns 0 or -ENOMEM. */
int metric__add(struct metric *f, const char *const *values, double value);

/* Adds a histogram sample: buckets[HIST_BUCKETS] are per-bucket counts (not
 * cumulative; the last is +Inf), sum in seconds, count the number of
 * observations. Returns 0 or -ENOMEM. */
int metric__add_hist(struct metric *f, const char *const *values, const uint64_t *buckets,
		     double sum, uint64_t count);

/* Writes "# HELP" (backslash and newline escaped, invalid UTF-8 replaced as
 * in label values), "# TYPE" and the samples, sorted by rendered label set,
 * duplicates merged. Histograms write cumulative _bucket{le=...} lines, _sum
 * and _count. */
void metric__write(const struct metric *f, struct buf *out);

/* Writes a metric of one label whose sample i has label value
 * label_values[i] and value values[i]. Returns 0 or -ENOMEM. */
int expo_write_by_label(struct buf *out, const char *name, const char *help, enum metric_type type,
			const char *label, const char *const *label_values, const double *values,
			int n);

/* A metric of one sample without labels: its declaration and value. */
struct expo_sample {
	const char *name;
	const char *help;
	enum metric_type type;
	double value;
};

/* Writes n such families, in order. Returns 0 or -ENOMEM. */
int expo_write_unlabelled(struct buf *out, const struct expo_sample *samples, int n);

/* Renders one raw label value as described above (escaped, without quotes). */
void expo_label_value(struct buf *out, const char *raw);

/* Formats a sample value the way Prometheus parses it: integers without a
 * fraction, +Inf, -Inf, NaN, otherwise the shortest repr that round-trips. */
void expo_value(struct buf *out, double v);

#endif /* AET_EXPO_H */
