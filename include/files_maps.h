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
	FSTAT_FILES_FULL,    /* a file not judged once for all: files_seen was full */
	FSTAT_INFLIGHT_FULL, /* a syscall not timed: inflight was full */
	FSTAT_MAX,
};

/*
 * An open file a target used, judged once (with --file-root): the value of
 * files_seen, whose key is the struct file's address. The file's dentry and
 * inode are kept to tell it from a later file at the same address.
 */
struct file_seen {
	__u64 dentry;
	__u64 inode;
	__u32 followed; /* a regular file under a root */
	__u32 pad;
};

/* A syscall of a target thread between its enter and exit tracepoints,
 * and the context of its span (include/spans_maps.h). */
struct inflight {
	__u64 start_ns;
	struct span_ctx ctx;
	__u32 op;     /* enum file_op; FOP_MAX: a copy, fd to out_fd */
	__s32 fd;     /* read, write, fsync: the file; a copy: its source, if followed; else -1 */
	__s32 out_fd; /* a copy: its destination, if followed; else -1 */
	__u32 pad;
};

#endif /* AET_FILES_MAPS_H */
