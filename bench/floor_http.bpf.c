// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The floor of the http family: empty programs on the points it uses
 * (user/http_client.c, set_points()). bench-floor-http attaches the
 * uprobes by pid to the target's libssl.so.3; the tracepoints are
 * system-wide, as the family's are. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Attached by bench/floor_http.c to each SSL function, entry and return. */
SEC("uprobe")
int empty_uprobe(void *ctx)
{
	return 0;
}

#define EMPTY(sys)                                 \
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

EMPTY(write)
EMPTY(writev)
EMPTY(sendto)
EMPTY(sendmsg)
EMPTY(read)
EMPTY(readv)
EMPTY(recvfrom)
EMPTY(recvmsg)

/* close: its entry only, as the family's. */
SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(void *ctx)
{
	return 0;
}

/* poll and ppoll: their exits only, as the family's. */
SEC("tracepoint/syscalls/sys_exit_poll")
int exit_poll(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_ppoll")
int exit_ppoll(void *ctx)
{
	return 0;
}
