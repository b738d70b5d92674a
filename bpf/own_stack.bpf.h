/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Programs that may be preempted must run on their task's stack.
 *
 * Since the private stacks of x86 BPF (after 6.12; in 6.18 and 7.3), the
 * verifier gives a kprobe or tracepoint program whose stack is 64 bytes or
 * more a stack per CPU instead of the task's. It assumes the program does
 * not run twice at once on a CPU, but a uprobe program, and a system call
 * tracepoint's, can be preempted (with full or lazy preemption, PREEMPT_LAZY being the
 * default from 7.x): another thread then runs the same program on that
 * CPU, on the same stack, and the first resumes with its locals replaced by
 * the second's (an id, a label, a path). tests/kernels/privstack shows it.
 *
 * A program that has a tail call gets no private stack
 * (check_max_stack_depth() in kernel/bpf/verifier.c): OWN_STACK(ctx) is one
 * into an empty array, which does nothing and comes back, on every kernel
 * (tail calls are of 4.2). It comes last, after the program's work: the
 * verifier of 6.1 prunes less past a tail call, and with it first the SQLite
 * programs went over its million instructions.
 */
#ifndef AET_OWN_STACK_BPF_H
#define AET_OWN_STACK_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} no_programs SEC(".maps");

/* The array tail-called into. A program array belongs to the type of the
 * first program that uses it: an object with tracepoint and uprobe
 * programs gives its uprobes another (bpf/http.bpf.c), naming it here
 * before they are defined. */
#define OWN_STACK_ARRAY no_programs

#define OWN_STACK(ctx) bpf_tail_call(ctx, &OWN_STACK_ARRAY, 0)

/* BPF_KPROBE and BPF_KRETPROBE of <bpf/bpf_tracing.h>, whose programs end
 * with OWN_STACK(); unpack takes the arguments from ctx. */
/* clang-format off */
#define ___OWN_STACK_PROG(name, unpack, args...)                                \
	name(struct pt_regs *ctx);                                              \
	static __always_inline int ____##name(struct pt_regs *ctx, ##args);     \
	int name(struct pt_regs *ctx)                                           \
	{                                                                       \
		int ret;                                                        \
                                                                                \
		_Pragma("GCC diagnostic push")                                  \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")          \
		ret = ____##name(unpack(args));                                 \
		_Pragma("GCC diagnostic pop")                                   \
		OWN_STACK(ctx);                                                 \
		return ret;                                                     \
	}                                                                       \
	static __always_inline int ____##name(struct pt_regs *ctx, ##args)

#define OWN_STACK_KPROBE(name, args...) ___OWN_STACK_PROG(name, ___bpf_kprobe_args, args)
#define OWN_STACK_KRETPROBE(name, args...) ___OWN_STACK_PROG(name, ___bpf_kretprobe_args, args)
/* BPF_USDT of <bpf/usdt.bpf.h>, included before. */
#define OWN_STACK_USDT(name, args...) ___OWN_STACK_PROG(name, ___bpf_usdt_args, args)
/* clang-format on */

#endif /* AET_OWN_STACK_BPF_H */
