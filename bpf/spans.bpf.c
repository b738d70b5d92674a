// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * No programs: the maps of bpf/spans.bpf.h, created once by user/spans.c
 * and shared by the objects whose programs emit spans (probes, files,
 * sqlite), so that a file operation finds the span its thread has open.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "spans.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";
