/* SPDX-License-Identifier: MIT */
/*
 * The syscalls bpf/files.bpf.c observes, once, for it and for the bench's
 * floor (bench/floor_files.bpf.c), which must attach to exactly the same
 * tracepoints.
 *
 * FD(sys, op):                      fd in argument 0
 * PATH(sys, op, dirfd, path, flags): the argument numbers; dirfd -1:
 *                                    AT_FDCWD; flags -1: none (an open's
 *                                    flags, for O_DIRECTORY)
 * COPY(sys, in, out):                the descriptors bytes move from and to
 */
#ifndef AET_FILE_SYSCALLS_H
#define AET_FILE_SYSCALLS_H

#define FILE_SYSCALLS(FD, PATH, COPY)         \
	PATH(open, FOP_OPEN, -1, 0, 1)        \
	PATH(openat, FOP_OPEN, 0, 1, 2)       \
	PATH(creat, FOP_OPEN, -1, 0, -1)      \
	FD(read, FOP_READ)                    \
	FD(pread64, FOP_READ)                 \
	FD(readv, FOP_READ)                   \
	FD(preadv, FOP_READ)                  \
	FD(preadv2, FOP_READ)                 \
	FD(write, FOP_WRITE)                  \
	FD(pwrite64, FOP_WRITE)               \
	FD(writev, FOP_WRITE)                 \
	FD(pwritev, FOP_WRITE)                \
	FD(pwritev2, FOP_WRITE)               \
	FD(fsync, FOP_FSYNC)                  \
	FD(fdatasync, FOP_FSYNC)              \
	COPY(copy_file_range, 0, 2)           \
	COPY(sendfile64, 1, 0)                \
	COPY(splice, 0, 2)                    \
	PATH(unlink, FOP_UNLINK, -1, 0, -1)   \
	PATH(rename, FOP_RENAME, -1, 0, -1)   \
	PATH(renameat, FOP_RENAME, 0, 1, -1)  \
	PATH(renameat2, FOP_RENAME, 0, 1, -1) \
	PATH(mkdir, FOP_MKDIR, -1, 0, -1)     \
	PATH(mkdirat, FOP_MKDIR, 0, 1, -1)    \
	PATH(rmdir, FOP_RMDIR, -1, 0, -1)

/* Besides these: sys_enter_unlinkat (unlink, or rmdir with AT_REMOVEDIR)
 * and sys_exit_unlinkat; sys_enter_close, sys_exit_close, sys_exit_dup2,
 * sys_exit_dup3 and
 * sys_exit_close_range (what the kernel changes in a descriptor table); and
 * sched_process_exec and sched_process_exit (BTF tracepoints, or the raw
 * ones where those fail). Forks and exits of the followed processes are
 * bpf/procs.bpf.c's. */

#endif /* AET_FILE_SYSCALLS_H */
