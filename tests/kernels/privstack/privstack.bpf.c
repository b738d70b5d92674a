// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A uprobe program whose stack is more than 64 bytes (so that the kernel
 * may give it a per-CPU private stack): it keeps its argument in a stack
 * slot, spins a little, and checks the slot still holds what the registers
 * say. Two threads of one process hit it with different values.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

__u64 hits, clobbered, last_seen, last_want;

/* Empty: a tail call into it does nothing and returns. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} none SEC(".maps");

static __always_inline int check(struct pt_regs *ctx, __u64 v)
{
	volatile __u64 buf[16]; /* 128 bytes of stack */
	__u64 x = 0;

	for (int i = 0; i < 16; i++)
		buf[i] = v;
	for (int i = 0; i < 2000; i++) /* a window for preemption */
		x += bpf_get_prandom_u32();
	__sync_fetch_and_add(&hits, 1);
	for (int i = 0; i < 16; i++) {
		if (buf[i] != PT_REGS_PARM1(ctx)) {
			__sync_fetch_and_add(&clobbered, 1);
			last_seen = buf[i];
			last_want = PT_REGS_PARM1(ctx);
			break;
		}
	}
	return x == 1; /* keeps the loop */
}

SEC("uprobe")
int BPF_KPROBE(hit, __u64 v)
{
	return check(ctx, v);
}

/* The same with a tail call, which does nothing: a program that has one
 * gets no private stack (the verifier's check_max_stack_depth()). */
SEC("uprobe")
int BPF_KPROBE(hit_tc, __u64 v)
{
	bpf_tail_call(ctx, &none, 0);
	return check(ctx, v);
}
