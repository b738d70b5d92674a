// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Uprobes on the keyed custom metric probes of probe ABI version 2
 * (probe/custom.c): aggregated here, in a hash map of series keyed by the
 * 64-bit key the library made of (type, name, labels). The first call of a
 * key reads its name and labels, into custom_keys, which user space reads
 * at scrape time and makes valid Prometheus names and labels of; every
 * later call is one lookup of 8 bytes, no read (docs/DESIGN.md, 16. Custom
 * metrics).
 *
 * A new series first checks its name's type (the first call of a name
 * decides it: another type is a conflict, counted and ignored), then takes
 * one of the --max-series places; no place left (--max-series,
 * --max-custom-names) sends the call to the overflow map, by (type, name)
 * or (type, "__overflow__"): counted there, never dropped. Such a call, as
 * one ignored, reads its strings each time.
 *
 * A histogram's buckets are include/hist.h's unless its name declared its
 * own (histogram_bounds) before its first call: the name's entry then holds
 * them, and its series say so (nbounds), so that only their observations
 * look them up.
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

/* The library's key -> the series' value. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096); /* --max-series */
	__type(key, __u64);
	__type(value, struct custom_value);
} custom_series SEC(".maps");

/* The library's key -> (type, name, labels) as the first call read them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096); /* --max-series */
	__type(key, __u64);
	__type(value, struct custom_key);
} custom_keys SEC(".maps");

/* Metric name -> its type and declared bounds. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 256); /* --max-custom-names */
	__type(key, char[CUSTOM_NAME_LEN]);
	__type(value, struct custom_name);
} custom_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 256 + CUSTOM_TYPES); /* --max-custom-names + CUSTOM_TYPES */
	__type(key, struct custom_name_key);
	__type(value, struct custom_value);
} custom_overflow SEC(".maps");

/* What a new series is inserted with: entry i is zero but its nbounds, i. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CUSTOM_BOUNDS_MAX + 1);
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

/* Inserts a zeroed value with nbounds nb at key k of map m (unless another
 * CPU did) and returns it; NULL when m is full. */
static __always_inline struct custom_value *value_new(void *m, const void *k, __u32 nb)
{
	struct custom_value *z = bpf_map_lookup_elem(&custom_zero, &nb);

	if (!z)
		return NULL;
	/* Every program writes the same nb there: no race to lose. */
	if (z->nbounds != nb)
		WRITE_ONCE(z->nbounds, nb);
	bpf_map_update_elem(m, k, z, BPF_NOEXIST);
	return bpf_map_lookup_elem(m, k);
}

/* The overflow value of (type, name), of nbounds nb. */
static __always_inline struct custom_value *overflow_of(__u32 type, const char *name, __u32 nb)
{
	struct custom_name_key o = { .type = type };
	struct custom_value *v;

	__builtin_memcpy(o.name, name, CUSTOM_NAME_LEN);
	v = bpf_map_lookup_elem(&custom_overflow, &o);
	return v ?: value_new(&custom_overflow, &o, nb);
}

/* The value of series k, of key h, not seen yet: NULL on a type conflict. */
static __always_inline struct custom_value *series_new(__u64 h, const struct custom_key *k)
{
	static const char overflow[CUSTOM_NAME_LEN] = CUSTOM_OVERFLOW;
	struct custom_name *named = bpf_map_lookup_elem(&custom_names, k->name);
	struct custom_value *v;
	__u32 nb;

	if (!named) {
		struct custom_name n = { .type = k->type };

		bpf_map_update_elem(&custom_names, k->name, &n, BPF_NOEXIST);
		named = bpf_map_lookup_elem(&custom_names, k->name);
		if (!named) { /* --max-custom-names reached */
			counter_inc(&custom_stats, CSTAT_NAME_OVERFLOW);
			return overflow_of(k->type, overflow, 0);
		}
	}
	if (named->type != k->type) {
		counter_inc(&custom_stats, CSTAT_CONFLICT);
		return NULL;
	}
	nb = named->nbounds;
	if (nb > CUSTOM_BOUNDS_MAX)
		return NULL;
	/* Its key first, so that a series found has its key. Both maps
	 * have --max-series places and no series is ever removed: a key
	 * whose series found no place finds none either. */
	bpf_map_update_elem(&custom_keys, &h, k, BPF_NOEXIST);
	v = value_new(&custom_series, &h, nb);
	if (v)
		return v;
	counter_inc(&custom_stats, CSTAT_SERIES_OVERFLOW);
	return overflow_of(k->type, k->name, nb);
}

/* The value of the series of key h not found in custom_series: its name
 * and labels read into k, then found or made; NULL when the call is
 * ignored. */
static __always_inline struct custom_value *series_first(__u32 type, __u64 h, const char *name,
							 const char *labels, struct custom_key *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->type = type;
	if (read_str(k->name, sizeof(k->name), name) <= 0) {
		counter_inc(&custom_stats, CSTAT_INVALID);
		return NULL;
	}
	if (read_str(k->labels, sizeof(k->labels), labels) < 0)
		__builtin_memset(k->labels, 0, sizeof(k->labels));
	return series_new(h, k);
}

/* The value of the series of key h of the calling process, NULL when it
 * is not followed or the call is ignored. */
static __always_inline struct custom_value *series_of(__u32 type, __u64 h, const char *name,
						      const char *labels)
{
	struct custom_value *v;
	struct custom_key k;

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return NULL;
	v = bpf_map_lookup_elem(&custom_series, &h);
	return v ?: series_first(type, h, name, labels, &k);
}

SEC("uprobe")
int OWN_STACK_KPROBE(keyed_counter_add, __u64 h, const char *name, const char *labels, __u64 delta)
{
	struct custom_value *v = series_of(CUSTOM_COUNTER, h, name, labels);

	if (v)
		__sync_fetch_and_add(&v->count, delta);
	return 0;
}

SEC("uprobe")
int OWN_STACK_KPROBE(keyed_gauge_set, __u64 h, const char *name, const char *labels, __s64 value)
{
	struct custom_value *v = series_of(CUSTOM_GAUGE, h, name, labels);

	if (v)
		WRITE_ONCE(v->sum, value);
	return 0;
}

SEC("uprobe")
int OWN_STACK_KPROBE(keyed_gauge_add, __u64 h, const char *name, const char *labels, __s64 delta)
{
	struct custom_value *v = series_of(CUSTOM_GAUGE, h, name, labels);

	if (v)
		__sync_fetch_and_add(&v->sum, delta);
	return 0;
}

/* The bucket of value among the default bounds: those of the durations
 * (include/hist.h), whose bounds in nanoseconds are thousands of millionths
 * of a second. */
static __always_inline __u32 default_bucket(__s64 value)
{
	static const __u64 bounds[HIST_FINITE] = HIST_BOUNDS_NS;

#pragma unroll
	for (__u32 i = 0; i < HIST_FINITE; i++)
		if (value <= (__s64)(bounds[i] / 1000))
			return i;
	return HIST_FINITE;
}

/* The bucket of value among the bounds name declared: nb of them, the
 * last bucket (nb) +Inf. */
static __always_inline __u32 declared_bucket(const char *name, __u32 nb, __s64 value)
{
	struct custom_name *n = bpf_map_lookup_elem(&custom_names, name);

	if (!n) /* names are never removed: not reached */
		return nb;
#pragma unroll
	for (__u32 i = 0; i < CUSTOM_BOUNDS_MAX; i++)
		if (i >= nb || value <= n->le[i])
			return i;
	return nb;
}

/* value in millionths. The name of a series of declared bounds: read at
 * its first call, else its key's. */
SEC("uprobe")
int OWN_STACK_KPROBE(keyed_observe, __u64 h, const char *name, const char *labels, __s64 value)
{
	struct custom_key k, *known = NULL;
	struct custom_value *v;
	__u32 b;

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	v = bpf_map_lookup_elem(&custom_series, &h);
	if (v)
		known = bpf_map_lookup_elem(&custom_keys, &h);
	else if ((v = series_first(CUSTOM_HISTOGRAM, h, name, labels, &k)))
		known = &k;
	if (!v)
		return 0;
	if (!v->nbounds)
		b = default_bucket(value);
	else
		b = known ? declared_bucket(known->name, v->nbounds, value) : v->nbounds;
	if (b < HIST_BUCKETS)
		__sync_fetch_and_add(&v->buckets[b], 1);
	__sync_fetch_and_add(&v->sum, value);
	return 0;
}

/* Reads n bounds (millionths) at le into d->le: false when n is not 1 to
 * CUSTOM_BOUNDS_MAX, they cannot be read or do not strictly increase. */
static __always_inline bool read_bounds(struct custom_name *d, const __s64 *le, __u32 n)
{
	__u64 size = (__u64)n * sizeof(d->le[0]);

	/* The size checked in the register the call takes: without 32-bit
	 * jumps (the compat build's -mcpu=v2), clang tests a copy of n. */
	asm volatile("" : "+r"(size));
	if (n < 1 || n > CUSTOM_BOUNDS_MAX || size < sizeof(d->le[0]) || size > sizeof(d->le))
		return false;
	if (bpf_probe_read_user(d->le, size, le))
		return false;
#pragma unroll
	for (__u32 i = 1; i < CUSTOM_BOUNDS_MAX; i++)
		if (i < n && d->le[i] <= d->le[i - 1])
			return false;
	d->nbounds = n;
	return true;
}

/* Whether a and b hold the same bounds (zero past nbounds in both). */
static __always_inline bool same_bounds(const struct custom_name *a, const struct custom_name *b)
{
	__s64 diff = 0;

#pragma unroll
	for (__u32 i = 0; i < CUSTOM_BOUNDS_MAX; i++)
		diff |= a->le[i] ^ b->le[i];
	return !diff;
}

/* The bounds of histogram name (aet_probe_histogram_buckets converted them
 * to millionths). The first call of a name decides: a declaration first
 * makes it a histogram of these bounds; after an observation, or another
 * declaration with other bounds, it is counted and ignored, as the series
 * observed already have their buckets. The same bounds again change
 * nothing: an application attached late can declare again. */
SEC("uprobe")
int OWN_STACK_KPROBE(histogram_bounds, const char *name, const __s64 *le, __u32 n)
{
	struct custom_name d = { .type = CUSTOM_HISTOGRAM }, *old;
	char key[CUSTOM_NAME_LEN] = {};

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (read_str(key, sizeof(key), name) <= 0 || !read_bounds(&d, le, n)) {
		counter_inc(&custom_stats, CSTAT_INVALID);
		return 0;
	}
	if (!bpf_map_update_elem(&custom_names, key, &d, BPF_NOEXIST))
		return 0;
	old = bpf_map_lookup_elem(&custom_names, key);
	if (!old) { /* --max-custom-names reached */
		counter_inc(&custom_stats, CSTAT_NAME_OVERFLOW);
		return 0;
	}
	if (old->type != CUSTOM_HISTOGRAM) {
		counter_inc(&custom_stats, CSTAT_CONFLICT);
		return 0;
	}
	if (old->nbounds != d.nbounds || !same_bounds(old, &d))
		counter_inc(&custom_stats, CSTAT_BUCKETS_CONFLICT);
	return 0;
}
