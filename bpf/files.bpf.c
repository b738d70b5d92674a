// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * File operations of the target processes, from per-syscall tracepoints.
 *
 * These programs run for every syscall of every process on the host, so a
 * process that is not a target leaves after one bit test in an array (no
 * hash lookup): DESIGN section 3 wants non-targets to pay as little as
 * possible.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "file_syscalls.h"
#include "files_maps.h"
#include "agg.bpf.h"
#include "targets.bpf.h"
#include "spans.bpf.h"
#include "own_stack.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AT_FDCWD     -100
#define AT_REMOVEDIR 0x200
#define S_IFMT	     00170000
#define S_IFREG	     0100000
#define ROOT_WORDS   (ROOT_PATH_LEN / 8)
#define DENTRY_DEPTH 32 /* directories walked up from a relative path's base */

/* Set by user space before load: the --file-root directories. */
const volatile __u32 nroots = 0;
const volatile __u32 root_len[MAX_FILE_ROOTS] = {};
const volatile __u64 root_words[MAX_FILE_ROOTS][ROOT_WORDS] = {}; /* path, zero-padded */
const volatile __u64 root_ino[MAX_FILE_ROOTS] = {};
const volatile __u32 root_dev[MAX_FILE_ROOTS] = {}; /* the kernel's dev_t encoding */

/* Regular files the targets opened under a root: --max-files. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fd_key);
	__type(value, __u32);
} tracked_fds SEC(".maps");

/* A timed syscall per target thread; a thread is in one syscall at a time,
 * so the bound is the target's thread count (sized by --max-open). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct inflight);
} inflight SEC(".maps");

/* aet_file_operations_total and aet_file_operation_seconds: a histogram per
 * (operation, status), at op * FILE_STATUS_MAX + status. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FOP_MAX *FILE_STATUS_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct hist);
} file_hist SEC(".maps");

/* aet_file_bytes_total: bytes read and written, by operation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FOP_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} file_bytes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FSTAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} file_stats SEC(".maps");

/* The open file behind fd in the current task, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* Whether directory d is a root or below one. The walk stops at its
 * filesystem's root: a mount below a root is not followed. */
static __always_inline bool dentry_under_root(struct dentry *d)
{
	for (int depth = 0; depth < DENTRY_DEPTH && d; depth++) {
		__u64 ino = BPF_CORE_READ(d, d_inode, i_ino);
		__u32 dev = BPF_CORE_READ(d, d_sb, s_dev);
		struct dentry *parent;

		for (__u32 r = 0; r < MAX_FILE_ROOTS && r < nroots; r++)
			if (ino == root_ino[r] && dev == root_dev[r])
				return true;
		parent = BPF_CORE_READ(d, d_parent);
		if (parent == d)
			return false;
		d = parent;
	}
	return false;
}

/* Whether absolute path p (zero-padded, ROOT_PATH_LEN bytes read) is root r
 * or below it: compared a word at a time, then the byte after the prefix
 * must end the path or a component. */
static __always_inline bool path_has_root(const __u64 *p, __u32 r)
{
	__u32 len = root_len[r], full = len / 8, rem = len % 8;
	const char *c = (const char *)p;
	char next;

	for (__u32 w = 0; w < ROOT_WORDS; w++) {
		if (w < full && p[w] != root_words[r][w])
			return false;
		if (w == full && rem && (p[w] ^ root_words[r][w]) & ((1ULL << (rem * 8)) - 1))
			return false;
	}
	next = c[len & (ROOT_PATH_LEN - 1)];
	return next == '/' || next == '\0';
}

/* Whether the path argument of a syscall names something under a root: by
 * its text when absolute, else by walking up from its base directory (the
 * working directory, or dirfd). */
static __always_inline bool path_matches(int dirfd, const char *upath)
{
	__u64 words[ROOT_WORDS] = {};
	struct task_struct *task;
	struct dentry *base;

	if (!nroots)
		return true;
	if (bpf_probe_read_user_str(words, sizeof(words), upath) <= 0)
		return false;
	if (((const char *)words)[0] == '/') {
		for (__u32 r = 0; r < MAX_FILE_ROOTS && r < nroots; r++)
			if (path_has_root(words, r))
				return true;
		return false;
	}
	task = (struct task_struct *)bpf_get_current_task();
	if (dirfd == AT_FDCWD)
		base = BPF_CORE_READ(task, fs, pwd.dentry);
	else
		base = BPF_CORE_READ(fd_file(task, dirfd), f_path.dentry);
	return dentry_under_root(base);
}

/* The span context of a syscall beginning; a sampled one with a path
 * keeps it in its thread's state for the exit. */
static __always_inline void span_begin_io(struct inflight *in, const char *path)
{
	const struct span_config *cfg = span_cfg();
	struct span_thread *t;

	if (!cfg)
		return;
	t = span_io_ctx(cfg, &in->ctx, path != NULL);
	if (path && t && in->ctx.flags & SPAN_F_SAMPLED &&
	    bpf_probe_read_user_str(t->io_path, SPAN_PATH_LEN, path) < 0)
		t->io_path[0] = '\0';
}

static __always_inline void begin(__u64 pid_tgid, __u32 op, int fd, const char *path)
{
	struct inflight in = { .start_ns = bpf_ktime_get_ns(), .op = op, .fd = fd };

	span_begin_io(&in, path);
	if (bpf_map_update_elem(&inflight, &pid_tgid, &in, BPF_ANY))
		counter_inc(&file_stats, FSTAT_INFLIGHT_FULL);
}

/* read, write, fsync and the like: timed when fd is a tracked file. */
static __always_inline int enter_fd(__u32 op, int fd)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct fd_key key = { .tgid = pid_tgid >> 32, .fd = fd };

	if (is_target(key.tgid) && bpf_map_lookup_elem(&tracked_fds, &key))
		begin(pid_tgid, op, fd, NULL);
	return 0;
}

/* open, unlink, rename, mkdir, rmdir: timed when the path is under a root. */
static __always_inline int enter_path(__u32 op, int dirfd, const char *path)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (is_target(pid_tgid >> 32) && path_matches(dirfd, path))
		begin(pid_tgid, op, -1, path);
	return 0;
}

static __always_inline bool is_regular(int fd)
{
	struct file *f = fd_file((struct task_struct *)bpf_get_current_task(), fd);

	return f && (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) == S_IFREG;
}

/* An open that succeeded: a regular file is tracked from now on; anything
 * else (a directory, a device, a FIFO) is no file operation at all. */
static __always_inline bool track_open(__u32 tgid, int fd)
{
	struct fd_key key = { .tgid = tgid, .fd = fd };
	__u32 one = 1;

	if (!is_regular(fd))
		return false;
	if (bpf_map_update_elem(&tracked_fds, &key, &one, BPF_ANY))
		counter_inc(&file_stats, FSTAT_FDS_FULL);
	return true;
}

/* The span of a file syscall that took start..now and returned ret. */
static __always_inline void emit_file(const struct inflight *in, __u64 pid_tgid, long ret,
				      __u64 now)
{
	const struct span_config *cfg = span_cfg();
	struct span_record *r;
	char *path;

	if (!cfg || !span_io_wanted(cfg, in->ctx.flags, now - in->start_ns))
		return;
	r = span_reserve(sizeof(*r) + SPAN_PATH_LEN);
	if (!r)
		return;
	span_fill(r, &in->ctx, span_new_id(cfg), in->start_ns, now);
	r->id = (in->op == FOP_READ || in->op == FOP_WRITE) && ret > 0 ? ret : 0;
	r->tgid = pid_tgid >> 32;
	r->tid = pid_tgid;
	r->status = ret < 0 ? ret : 0;
	r->kind = SPAN_FILE;
	r->op = in->op;
	path = (char *)(r + 1);
	path[0] = '\0';
	if (in->fd >= 0) {
		/* read, write, fsync: the name of the file, from its dentry */
		struct file *f = fd_file((struct task_struct *)bpf_get_current_task(), in->fd);
		const unsigned char *name = BPF_CORE_READ(f, f_path.dentry, d_name.name);

		if (name && bpf_probe_read_kernel_str(path, SPAN_PATH_LEN, name) < 0)
			path[0] = '\0';
	} else {
		struct span_thread *t = thread_state(&span_threads, false);

		if (t)
			__builtin_memcpy(path, t->io_path, SPAN_PATH_LEN);
	}
	span_submit(r);
}

static __always_inline int exit_any(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct inflight *p, in;
	__u32 op, idx;
	struct hist *h;
	__u64 now;

	if (!is_target(pid_tgid >> 32))
		return 0;
	p = bpf_map_lookup_elem(&inflight, &pid_tgid);
	if (!p)
		return 0;
	now = bpf_ktime_get_ns();
	__builtin_memcpy(&in, p, sizeof(in));
	op = in.op;
	bpf_map_delete_elem(&inflight, &pid_tgid);
	if (op == FOP_OPEN && ret >= 0 && !track_open(pid_tgid >> 32, ret))
		return 0;
	if ((op == FOP_READ || op == FOP_WRITE) && ret > 0) {
		__u64 *bytes = bpf_map_lookup_elem(&file_bytes, &op);

		if (bytes)
			__sync_fetch_and_add(bytes, ret);
	}
	idx = op * FILE_STATUS_MAX + (ret < 0);
	h = bpf_map_lookup_elem(&file_hist, &idx);
	if (h)
		hist_observe(h, now - in.start_ns);
	if (in.ctx.flags & SPAN_F_SAMPLED)
		emit_file(&in, pid_tgid, ret, now);
	return 0;
}

#define EXIT(sys)                                            \
	SEC("tracepoint/syscalls/sys_exit_" #sys)            \
	int exit_##sys(struct trace_event_raw_sys_exit *ctx) \
	{                                                    \
		int ret = exit_any(ctx->ret);                \
                                                             \
		OWN_STACK(ctx);                              \
		return ret;                                  \
	}

#define ENTER_FD(sys, op)                                      \
	SEC("tracepoint/syscalls/sys_enter_" #sys)             \
	int enter_##sys(struct trace_event_raw_sys_enter *ctx) \
	{                                                      \
		int ret = enter_fd(op, (int)ctx->args[0]);     \
                                                               \
		OWN_STACK(ctx);                                \
		return ret;                                    \
	}                                                      \
	EXIT(sys)

#define ENTER_PATH(sys, op, dirfd_arg, path_arg)                                      \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                                    \
	int enter_##sys(struct trace_event_raw_sys_enter *ctx)                        \
	{                                                                             \
		int dirfd = dirfd_arg < 0 ? AT_FDCWD : (int)ctx->args[dirfd_arg & 7]; \
		int ret = enter_path(op, dirfd, (const char *)ctx->args[path_arg]);   \
                                                                                      \
		OWN_STACK(ctx);                                                       \
		return ret;                                                           \
	}                                                                             \
	EXIT(sys)

FILE_SYSCALLS(ENTER_FD, ENTER_PATH)

/* unlinkat is rmdir with AT_REMOVEDIR. */
SEC("tracepoint/syscalls/sys_enter_unlinkat")
int enter_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 op = ctx->args[2] & AT_REMOVEDIR ? FOP_RMDIR : FOP_UNLINK;
	int ret = enter_path(op, (int)ctx->args[0], (const char *)ctx->args[1]);

	OWN_STACK(ctx);
	return ret;
}
EXIT(unlinkat)

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct fd_key key = { .tgid = pid_tgid >> 32, .fd = (int)ctx->args[0] };

	if (is_target(key.tgid))
		bpf_map_delete_elem(&tracked_fds, &key);
	OWN_STACK(ctx);
	return 0;
}

/* A thread of a target exits, maybe inside a timed syscall that will never
 * reach its exit tracepoint. Not tested against the targets: the process
 * program may have let its process go already. */
static __always_inline int on_exit(struct task_struct *p)
{
	__u64 pid_tgid = (__u64)BPF_CORE_READ(p, tgid) << 32 | BPF_CORE_READ(p, pid);

	bpf_map_delete_elem(&inflight, &pid_tgid);
	thread_state_free(&span_threads, pid_tgid);
	return 0;
}

/* Twice, as in bpf/procs.bpf.c: user space loads the raw one where the
 * BTF one fails. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(files_exit, struct task_struct *p)
{
	return on_exit(p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(files_exit_raw, struct task_struct *p)
{
	return on_exit(p);
}
