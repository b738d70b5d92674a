// SPDX-License-Identifier: MIT
/*
 * Which build of the BPF objects to load (bpf/compat.bpf.h), decided by
 * asking the kernel for what the native build needs, never by its version.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "locks.h"
#include "log.h"
#include "variant.h"

#include "custom.compat.skel.h"
#include "files.compat.skel.h"
#include "http.compat.skel.h"
#include "probes.compat.skel.h"
#include "procs.compat.skel.h"
#include "python.compat.skel.h"
#include "spans.compat.skel.h"
#include "sqlite.compat.skel.h"

#define USER_LOCK_TRIES 10000 /* a program holds a lock for nanoseconds */

static const struct {
	const char *name; /* the native skeleton's */
	const void *(*bytes)(size_t *sz);
} compat_objects[] = {
	{ "custom_bpf", custom_bpf_compat__elf_bytes },
	{ "files_bpf", files_bpf_compat__elf_bytes },
	{ "http_bpf", http_bpf_compat__elf_bytes },
	{ "probes_bpf", probes_bpf_compat__elf_bytes },
	{ "procs_bpf", procs_bpf_compat__elf_bytes },
	{ "python_bpf", python_bpf_compat__elf_bytes },
	{ "spans_bpf", spans_bpf_compat__elf_bytes },
	{ "sqlite_bpf", sqlite_bpf_compat__elf_bytes },
};

static bool compat;
static char decided_by[128];

/* Whether the verifier takes an atomic fetch-and-add (BPF_ATOMIC with
 * BPF_FETCH, Linux 5.12): the native build's slots, series and bitmaps use
 * it. */
static bool has_atomic_fetch(void)
{
	const struct bpf_insn insns[] = {
		/* *(u64 *)(r10 - 8) = 0; r1 = 1 */
		{ .code = BPF_ST | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_10, .off = -8 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1 },
		/* r1 = atomic_fetch_add((u64 *)(r10 - 8), r1) */
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW,
		  .dst_reg = BPF_REG_10,
		  .src_reg = BPF_REG_1,
		  .off = -8,
		  .imm = BPF_ADD | BPF_FETCH },
		/* return 0 */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, NULL, "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), NULL);

	if (fd < 0)
		return errno == EPERM; /* not allowed to ask: the load will say so */
	close(fd);
	return true;
}

/* libbpf's probes answer 1 (has it), 0 (has not) or < 0 (could not tell:
 * privileges, say, which the load will then report). */
static bool kernel_has_map(enum bpf_map_type type)
{
	return libbpf_probe_bpf_map_type(type, NULL) != 0;
}

int variant_choose(enum bpf_build want, char *err, size_t len)
{
	const char *missing = NULL;

	if (!kernel_has_map(BPF_MAP_TYPE_TASK_STORAGE))
		missing = "BPF task storage maps (Linux 5.11)";
	else if (!has_atomic_fetch())
		missing = "BPF atomic fetch operations (Linux 5.12)";
	if (want == BUILD_NATIVE && missing) {
		snprintf(err, len,
			 "this kernel lacks %s: the native BPF build needs Linux 5.12 or "
			 "later (--bpf-build compat runs from 5.8)",
			 missing);
		return -EOPNOTSUPP;
	}
	compat = want == BUILD_COMPAT || missing;
	if (compat && !kernel_has_map(BPF_MAP_TYPE_RINGBUF)) {
		snprintf(err, len,
			 "this kernel lacks BPF ring buffers (Linux 5.8): aet-collector needs "
			 "Linux 5.8 or later");
		return -EOPNOTSUPP;
	}
	if (want != BUILD_AUTO)
		snprintf(decided_by, sizeof(decided_by), "--bpf-build %s",
			 compat ? "compat" : "native");
	else if (compat)
		snprintf(decided_by, sizeof(decided_by), "the kernel lacks %s", missing);
	else
		snprintf(decided_by, sizeof(decided_by), "the kernel has what it needs");
	if (compat)
		log_info("BPF build: compat (%s)\n", decided_by);
	return 0;
}

bool variant_compat(void)
{
	return compat;
}

const char *variant_decided_by(void)
{
	return decided_by;
}

int variant_open(struct bpf_object_skeleton *s, const struct bpf_object_open_opts *opts)
{
	size_t i, n = sizeof(compat_objects) / sizeof(compat_objects[0]);

	if (compat) {
		for (i = 0; i < n && strcmp(compat_objects[i].name, s->name); i++)
			;
		if (i == n)
			return -ENOENT;
		s->data = (void *)compat_objects[i].bytes(&s->data_sz);
	}
	return bpf_object__open_skeleton(s, opts);
}

bool variant_lock(int locks_fd, __u32 key)
{
	__u32 one = 1;

	if (!compat)
		return true;
	for (int i = 0; i < USER_LOCK_TRIES; i++) {
		if (!bpf_map_update_elem(locks_fd, &key, &one, BPF_NOEXIST))
			return true;
		if (errno != EEXIST)
			return false;
		sched_yield();
	}
	return false;
}

void variant_unlock(int locks_fd, __u32 key)
{
	if (compat)
		bpf_map_delete_elem(locks_fd, &key);
}

void variant_write_status(int locks_fd, struct buf *out)
{
	__u32 key = LOCK_BUSY_COUNT, busy = 0;

	if (compat && locks_fd >= 0)
		bpf_map_lookup_elem(locks_fd, &key, &busy);
	buf_printf(out,
		   "\"bpf_build\":{\"build\":\"%s\",\"decided_by\":", compat ? "compat" : "native");
	buf_json_str(out, decided_by, strlen(decided_by));
	buf_printf(out, ",\"locks_busy\":%u}", busy);
}
