/* SPDX-License-Identifier: MIT */
/*
 * libaetprobe.so: the AET probe ABI (include/aet/probe.h).
 *
 * Written in assembly so that the first bytes of every function are fixed:
 * a 5-byte NOP (0f 1f 44 00 00) then push %rbp (55). A compiler would be
 * free to put endbr64 or a mov first, and a uprobe on those is
 * single-stepped (about 80 times slower than on the NOP here). The collector
 * attaches at the NOP where the kernel optimizes it, or at the push where
 * it emulates it. The build checks these bytes (probe/check-entry.sh).
 */
	.text

/* PROBE name: an exported function that does nothing and returns. */
.macro PROBE name
	.globl \name
	.type \name, @function
	.p2align 4
\name:
	.cfi_startproc
	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00 /* nopl 0x0(%rax,%rax,1); gas would pick a 4-byte form */
	push %rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pop %rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	ret
	.cfi_endproc
	.size \name, . - \name
.endm

	.globl aet_probe_abi_version
	.type aet_probe_abi_version, @function
	.p2align 4
aet_probe_abi_version:
	.cfi_startproc
	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00 /* nopl 0x0(%rax,%rax,1); gas would pick a 4-byte form */
	push %rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	mov $2, %eax
	pop %rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	ret
	.cfi_endproc
	.size aet_probe_abi_version, . - aet_probe_abi_version

	PROBE aet_probe_cycle_begin
	PROBE aet_probe_cycle_end
	PROBE aet_probe_task_begin
	PROBE aet_probe_task_end
	PROBE aet_probe_agent_begin
	PROBE aet_probe_agent_end
	PROBE aet_probe_event
	PROBE aet_probe_span_begin
	PROBE aet_probe_span_end
	PROBE aet_probe_trace_context
	/* ABI version 2: custom metrics, called by aet_probe_counter_add and
	 * the others with their key first (probe/custom.c) */
	PROBE aet_probe_keyed_counter_add
	PROBE aet_probe_keyed_gauge_set
	PROBE aet_probe_keyed_gauge_add
	PROBE aet_probe_keyed_observe
	/* called by aet_probe_histogram_buckets (probe/buckets.c) */
	PROBE aet_probe_histogram_bounds

	.section .note.GNU-stack, "", @progbits
