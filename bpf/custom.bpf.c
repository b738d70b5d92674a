// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Uprobes on the custom metric functions of probe ABI version 2
 * (include/aet/probe.h): aggregated here, in a hash map of series keyed by
 * (type, name, labels) as the application wrote them. User space reads it
 * at scrape time and makes names and labels valid Prometheus ones then.
 *
 * A call finds its series with one lookup. A new series first checks its
 * name's type (the first call of a name decides it: another type is a
 * conflict, counted and ignored), then takes a place in the series map; a
 * full map (--max-series, --max-custom-names) sends the call to the
 * overflow map, by (type, name) or (type, "__overflow__"): counted there,
 * never dropped.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "custom_maps.h"
#include "agg.bpf.h"
#include "targets.bpf.h"
#include "own_stack.bpf.h"

#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096); /* --max-series */
	__type(key, struct custom_key);
	__type(value, struct custom_value);
} custom_series SEC(".maps");

/* Metric name -> its type (enum custom_type). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 256); /* --max-custom-names */
	__type(key, char[CUSTOM_NAME_LEN]);
	__type(value, __u32);
} custom_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 256 + CUSTOM_TYPES); /* --max-custom-names + CUSTOM_TYPES */
	__type(key, struct custom_name_key);
	__type(value, struct custom_value);
} custom_overflow SEC(".maps");

/* A zeroed value, what a new series is inserted with. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct custom_value);
} custom_zero SEC(".maps");

/* enum custom_stat */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CSTAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} custom_stats SEC(".maps");

/* Reads string src into dst (zeroed) of size bytes; counts it cut when it
 * filled dst and went on. Returns its length, NUL excluded, or < 0. */
static __always_inline long read_str(char *dst, __u32 size, const char *src)
{
	long n = bpf_probe_read_user_str(dst, size, src);
	char next = 0;

	if (n == size && !bpf_probe_read_user(&next, 1, src + size - 1) && next)
		counter_inc(&custom_stats, CSTAT_TRUNCATED);
	return n - 1;
}

/* Inserts a zeroed value at key k of map m (unless another CPU did) and
 * returns it; NULL when m is full. */
static __always_inline struct custom_value *value_new(void *m, const void *k)
{
	__u32 zero = 0;
	struct custom_value *z = bpf_map_lookup_elem(&custom_zero, &zero);

	if (!z)
		return NULL;
	bpf_map_update_elem(m, k, z, BPF_NOEXIST);
	return bpf_map_lookup_elem(m, k);
}

/* The overflow value of (type, name). */
static __always_inline struct custom_value *overflow_of(__u32 type, const char *name)
{
	struct custom_name_key o = { .type = type };
	struct custom_value *v;

	__builtin_memcpy(o.name, name, CUSTOM_NAME_LEN);
	v = bpf_map_lookup_elem(&custom_overflow, &o);
	return v ?: value_new(&custom_overflow, &o);
}

/* The value of a series not seen yet: NULL on a type conflict. */
static __always_inline struct custom_value *series_new(const struct custom_key *k)
{
	static const char overflow[CUSTOM_NAME_LEN] = CUSTOM_OVERFLOW;
	__u32 type = k->type, *named = bpf_map_lookup_elem(&custom_names, k->name);
	struct custom_value *v;

	if (!named) {
		bpf_map_update_elem(&custom_names, k->name, &type, BPF_NOEXIST);
		named = bpf_map_lookup_elem(&custom_names, k->name);
		if (!named) { /* --max-custom-names reached */
			counter_inc(&custom_stats, CSTAT_NAME_OVERFLOW);
			return overflow_of(type, overflow);
		}
	}
	if (*named != type) {
		counter_inc(&custom_stats, CSTAT_CONFLICT);
		return NULL;
	}
	v = value_new(&custom_series, k);
	if (v)
		return v;
	counter_inc(&custom_stats, CSTAT_SERIES_OVERFLOW);
	return overflow_of(type, k->name);
}

/* The value of series (type, name, labels) of the calling process, NULL
 * when it is not followed or the call is ignored. */
static __always_inline struct custom_value *series_of(__u32 type, const char *name,
						      const char *labels)
{
	struct custom_key k = { .type = type };
	struct custom_value *v;

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return NULL;
	if (read_str(k.name, sizeof(k.name), name) <= 0) {
		counter_inc(&custom_stats, CSTAT_INVALID);
		return NULL;
	}
	if (read_str(k.labels, sizeof(k.labels), labels) < 0)
		__builtin_memset(k.labels, 0, sizeof(k.labels));
	v = bpf_map_lookup_elem(&custom_series, &k);
	return v ?: series_new(&k);
}

SEC("uprobe")
int OWN_STACK_KPROBE(counter_add, const char *name, const char *labels, __u64 delta)
{
	struct custom_value *v = series_of(CUSTOM_COUNTER, name, labels);

	if (v)
		__sync_fetch_and_add(&v->count, delta);
	return 0;
}

SEC("uprobe")
int OWN_STACK_KPROBE(gauge_set, const char *name, const char *labels, __s64 value)
{
	struct custom_value *v = series_of(CUSTOM_GAUGE, name, labels);

	if (v)
		WRITE_ONCE(v->sum, value);
	return 0;
}

SEC("uprobe")
int OWN_STACK_KPROBE(gauge_add, const char *name, const char *labels, __s64 delta)
{
	struct custom_value *v = series_of(CUSTOM_GAUGE, name, labels);

	if (v)
		__sync_fetch_and_add(&v->sum, delta);
	return 0;
}

/* value in millionths; the buckets are the durations' (include/hist.h),
 * whose bounds in nanoseconds are thousands of millionths of a second. */
SEC("uprobe")
int OWN_STACK_KPROBE(observe, const char *name, const char *labels, __s64 value)
{
	static const __u64 bounds[HIST_FINITE] = HIST_BOUNDS_NS;
	struct custom_value *v = series_of(CUSTOM_HISTOGRAM, name, labels);
	__u32 b = HIST_FINITE;

	if (!v)
		return 0;
#pragma unroll
	for (__u32 i = 0; i < HIST_FINITE; i++) {
		if (value <= (__s64)(bounds[i] / 1000)) {
			b = i;
			break;
		}
	}
	if (b < HIST_BUCKETS)
		__sync_fetch_and_add(&v->buckets[b], 1);
	__sync_fetch_and_add(&v->sum, value);
	return 0;
}
