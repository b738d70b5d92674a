// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The floors of a probe hit. empty: nothing at all on the same uprobes.
 * The others read what any collector of these metrics must read from the
 * target, and nothing more: a begin's two labels and the clock, an end's
 * clock, an event's label (bench-floor --reads).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define LABEL_LEN 64 /* as the collector's */

/* Where the reads go, so that the compiler keeps them. */
struct sink {
	char l1[LABEL_LEN];
	char l2[LABEL_LEN];
	__u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sink);
} sinks SEC(".maps");

static __always_inline struct sink *sink(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sinks, &zero);
}

SEC("uprobe")
int empty(void *ctx)
{
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(clock)
{
	struct sink *s = sink();

	if (s)
		s->ns = bpf_ktime_get_ns();
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(labels2_clock, __u64 id, const char *l1, const char *l2)
{
	struct sink *s = sink();

	if (!s)
		return 0;
	bpf_probe_read_user_str(s->l1, LABEL_LEN, l1);
	bpf_probe_read_user_str(s->l2, LABEL_LEN, l2);
	s->ns = bpf_ktime_get_ns();
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(label1, const char *l1)
{
	struct sink *s = sink();

	if (s)
		bpf_probe_read_user_str(s->l1, LABEL_LEN, l1);
	return 0;
}
