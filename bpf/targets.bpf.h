/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The followed processes, shared by every BPF object of the collector: bit
 * tgid of a bitmap, one u64 word per 64 pids up to kernel.pid_max. User
 * space sizes it, creates it once (with the span maps, bpf/spans.bpf.c)
 * and hands the same map to the other objects; bpf/procs.bpf.c follows
 * forks, exits and, in follow mode, execs.
 */
#ifndef AET_TARGETS_BPF_H
#define AET_TARGETS_BPF_H

#include "compat.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} targets SEC(".maps");

/* One array lookup (inlined by the verifier) and a bit test. */
static __always_inline bool is_target(__u32 tgid)
{
	__u32 word = tgid >> 6;
	__u64 *bits = bpf_map_lookup_elem(&targets, &word);

	return bits && (*bits >> (tgid & 63)) & 1;
}

/* Follows tgid, or lets it go: false when not done (the compat build's
 * lock not had, counted). User space sets bits too (user/shared.c). */
static __always_inline bool target_set(__u32 tgid, bool on)
{
	__u32 word = tgid >> 6;
	__u64 *bits = bpf_map_lookup_elem(&targets, &word), bit = 1ULL << (tgid & 63);

	if (!bits)
		return false;
	return on ? or64(bits, bit, LOCK_TARGETS(word)) : and64(bits, ~bit, LOCK_TARGETS(word));
}

#endif /* AET_TARGETS_BPF_H */
