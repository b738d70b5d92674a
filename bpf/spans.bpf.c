// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * No programs: the maps of bpf/spans.bpf.h and bpf/targets.bpf.h, created
 * once by user/shared.c and shared by the other objects, so that a file
 * operation finds the span its thread has open, and every program follows
 * the same processes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "spans.bpf.h"
#include "targets.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";
