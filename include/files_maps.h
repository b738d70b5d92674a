/* SPDX-License-Identifier: MIT */
/*
 * Maps of bpf/files.bpf.c (file operations from syscall tracepoints) read by
 * user/files.c. The processes followed are bpf/targets.bpf.h's.
 */
#ifndef AET_FILES_MAPS_H
#define AET_FILES_MAPS_H

#include "hist_map.h"
#include "spans_maps.h"

#define MAX_FILE_ROOTS	8
#define ROOT_PATH_LEN	128 /* --file-root paths are at most 127 bytes */
#define PATH_LEN	256 /* bytes of a syscall's path read to match a root */
#define FILE_STATUS_MAX 2   /* success, error */

/* aet_file_operations_total{operation}: the index of file_hist and file_bytes. */
enum file_op {
	FOP_OPEN,
	FOP_READ,
	FOP_WRITE,
	FOP_FSYNC,
	FOP_UNLINK,
	FOP_RENAME,
	FOP_MKDIR,
	FOP_RMDIR,
	FOP_MAX,
};

/* aet_file_operations_total{operation} values and file.<operation> span
 * names, by enum file_op. */
#define FILE_OP_NAMES                                                                  \
	{                                                                              \
		"open", "read", "write", "fsync", "unlink", "rename", "mkdir", "rmdir" \
	}

/* Indexes of the file_stats array (u64 counters). */
enum file_stat {
	FSTAT_INFLIGHT_FULL, /* a syscall not timed: inflight was full */
	FSTAT_MAX,
};

/*
 * A slot of fd_slots, which a descriptor (its table's address and number)
 * hashes to: gen is the time the kernel last changed what a descriptor of
 * that slot refers to (closed, replaced by dup2 or dup3, taken by an open);
 * tag what was last judged of one of its descriptors, a hash of the
 * descriptor, gen and its table's generation, with the verdict in its low
 * bit. Each is one 8-byte store: no lock, nothing torn.
 */
struct fd_slot {
	__u64 gen;
	__u64 tag;
};

/* A syscall of a target thread between its enter and exit tracepoints,
 * and the context of its span (include/spans_maps.h). */
struct inflight {
	__u64 start_ns;
	struct span_ctx ctx;
	__u32 op;      /* enum file_op; FOP_MAX: a copy, fd to out_fd */
	__s32 fd;      /* read, write, fsync: the file; a copy: its source, if followed; else -1 */
	__s32 out_fd;  /* a copy: its destination, if followed; else -1 */
	__s32 closing; /* a close: the descriptor it closes (start_ns 0); else -1 */
};

#endif /* AET_FILES_MAPS_H */
