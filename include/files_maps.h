/* SPDX-License-Identifier: MIT */
/*
 * Maps of bpf/files.bpf.c (file operations from syscall tracepoints, and the
 * processes followed) read by user/files.c.
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
	FSTAT_FDS_FULL,	     /* a regular file opened while tracked_fds was full */
	FSTAT_INFLIGHT_FULL, /* a syscall not timed: inflight was full */
	FSTAT_MAX,
};

/* A regular file a target process opened (under a root): followed by fd. */
struct fd_key {
	__u32 tgid;
	__s32 fd;
};

/* A syscall of a target thread between its enter and exit tracepoints,
 * and the context of its span (include/spans_maps.h). */
struct inflight {
	__u64 start_ns;
	struct span_ctx ctx;
	__u32 op; /* enum file_op */
	__s32 fd; /* read, write, fsync: the file; else -1 */
};

#endif /* AET_FILES_MAPS_H */
