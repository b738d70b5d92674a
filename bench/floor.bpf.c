// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The floor of a probe hit: an empty program on the same uprobes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("uprobe")
int empty(void *ctx)
{
	return 0;
}
