// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The floor of the syscall programs: empty programs on exactly the
 * tracepoints bpf/files.bpf.c uses (include/file_syscalls.h). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "file_syscalls.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define EMPTY(sys, ...)                            \
	SEC("tracepoint/syscalls/sys_enter_" #sys) \
	int enter_##sys(void *ctx)                 \
	{                                          \
		return 0;                          \
	}                                          \
	SEC("tracepoint/syscalls/sys_exit_" #sys)  \
	int exit_##sys(void *ctx)                  \
	{                                          \
		return 0;                          \
	}

FILE_SYSCALLS(EMPTY, EMPTY, EMPTY)
EMPTY(unlinkat)

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(void *ctx)
{
	return 0;
}

#define EXIT_ONLY(sys)                            \
	SEC("tracepoint/syscalls/sys_exit_" #sys) \
	int exit_##sys(void *ctx)                 \
	{                                         \
		return 0;                         \
	}

EXIT_ONLY(close)
EXIT_ONLY(dup2)
EXIT_ONLY(dup3)
EXIT_ONLY(close_range)

SEC("tp_btf/sched_process_fork")
int BPF_PROG(follow_fork)
{
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(follow_exit)
{
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(follow_exec)
{
	return 0;
}
