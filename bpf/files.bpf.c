// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * File operations of the target processes, from per-syscall tracepoints.
 *
 * These programs run for every syscall of every process on the host, so a
 * process that is not a target leaves after one bit test in an array (no
 * hash lookup): docs/DESIGN.md (6. Processes and files) wants non-targets to pay as little as
 * possible.
 *
 * A descriptor is judged by the open file it refers to when it is used,
 * not by a table of descriptors kept beside the kernel's: whatever made it
 * (an open before the collector attached, dup2 of a shell redirection, a
 * fork that inherited it) and whatever ended it (close_range, exec of an
 * O_CLOEXEC one, dup2 over it, exit), the kernel's descriptor table is the
 * truth, read at each use.
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
#include "fd_file.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AT_FDCWD     -100
#define AT_REMOVEDIR 0x200
#if defined(__TARGET_ARCH_x86)
#define O_DIRECTORY 0200000
#elif defined(__TARGET_ARCH_arm64)
#define O_DIRECTORY 040000
#else
#error "O_DIRECTORY of this architecture"
#endif
#define S_IFMT	     00170000
#define S_IFREG	     0100000
#define ROOT_WORDS   (ROOT_PATH_LEN / 8)
#define DENTRY_DEPTH 32 /* directories walked up from a relative path's base */

/* Set by user space before load: the slots of fd_slots and table_gens
 * less one (each a power of two), and the --file-root directories. */
const volatile __u32 fd_slots_mask = 0;
const volatile __u32 table_slots_mask = 0;
const volatile __u32 nroots = 0;
const volatile __u32 root_len[MAX_FILE_ROOTS] = {};
const volatile __u64 root_words[MAX_FILE_ROOTS][ROOT_WORDS] = {}; /* path, zero-padded */
const volatile __u64 root_ino[MAX_FILE_ROOTS] = {};
const volatile __u32 root_dev[MAX_FILE_ROOTS] = {}; /* the kernel's dev_t encoding */

/* What the targets' descriptors refer to, by a hash of the descriptor
 * (include/files_maps.h): --max-files slots. Two descriptors in one slot
 * only make each other judged again. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct fd_slot);
} fd_slots SEC(".maps");

/* The generation of descriptor tables, by a hash of the table
 * (table_of()): the time it last changed in a way no single descriptor's
 * change tells (an exec closing its O_CLOEXEC descriptors, close_range). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} table_gens SEC(".maps");

/* The timed syscall (or close) a target thread is in, by pid_tgid, from
 * its first to the thread's exit (on_exit()): a syscall writes its entry in
 * place and its exit empties it (start_ns and closing zero and -1), since
 * a lookup costs a third of an update and a delete (bench/RESULTS.md). So
 * the bound is the targets' threads (sized by --max-open). */
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

/* A 64-bit mix of a and b (splitmix64's finalizer over a step of both). */
static __always_inline __u64 mix(__u64 a, __u64 b)
{
	__u64 h = a * 0x9e3779b97f4a7c15ULL + b;

	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

/*
 * The descriptor table of a task, as the process it belongs to: its pid and
 * its leader's start time, unique for the host's uptime (a table's address
 * is not: another may be made at a freed one's address, and a BPF pointer's
 * value is no number to hash). Threads share their process's table; two
 * processes that share one (clone with CLONE_FILES alone) are two tables
 * here, and one does not see the other's closes.
 */
static __always_inline __u64 table_of(struct task_struct *t)
{
	return mix(BPF_CORE_READ(t, tgid), BPF_CORE_READ(t, group_leader, start_time));
}

static __always_inline __u64 current_table(void)
{
#ifdef AET_COMPAT
	return table_of((struct task_struct *)bpf_get_current_task());
#else
	/* Plain loads through the task's BTF pointer. */
	struct task_struct *t = bpf_get_current_task_btf();

	return mix(t->tgid, t->group_leader->start_time);
#endif
}

/* Whether the file or directory at path p (a dentry and the mount it was
 * reached through) is a root or below one. At the root of a mount the walk
 * goes on from where it is mounted, as d_path() does, so a mount below a
 * root (a bind mount of any directory included) is under it. */
static __always_inline bool path_under_root(struct path p)
{
	struct dentry *d = p.dentry;
	struct mount *m = (void *)p.mnt - bpf_core_field_offset(struct mount, mnt);

	if (!p.mnt)
		return false;
	for (int depth = 0; depth < DENTRY_DEPTH && d; depth++) {
		__u64 ino = BPF_CORE_READ(d, d_inode, i_ino);
		__u32 dev = BPF_CORE_READ(d, d_sb, s_dev);
		struct mount *up;

		for (__u32 r = 0; r < MAX_FILE_ROOTS && r < nroots; r++)
			if (ino == root_ino[r] && dev == root_dev[r])
				return true;
		if (d != BPF_CORE_READ(m, mnt.mnt_root)) {
			d = BPF_CORE_READ(d, d_parent);
			continue;
		}
		up = BPF_CORE_READ(m, mnt_parent);
		if (up == m)
			return false; /* the root of it all */
		d = BPF_CORE_READ(m, mnt_mountpoint);
		m = up;
	}
	return false;
}

/* Whether open file f is a regular file. */
static __always_inline bool file_regular(struct file *f)
{
	struct inode *inode = BPF_CORE_READ(f, f_inode);

	return inode && (BPF_CORE_READ(inode, i_mode) & S_IFMT) == S_IFREG;
}

static __always_inline __u64 *table_gen(__u64 table)
{
	__u32 i = (__u32)mix(table, 0) & table_slots_mask;

	return bpf_map_lookup_elem(&table_gens, &i);
}

static __always_inline struct fd_slot *fd_slot(__u64 table, int fd)
{
	__u32 i = (__u32)mix(table, (__u32)fd) & fd_slots_mask;

	return bpf_map_lookup_elem(&fd_slots, &i);
}

/* Descriptor table `table` changed as a whole: what was judged of its
 * descriptors no longer holds. */
static __always_inline void table_changed(__u64 table)
{
	__u64 *gen = table_gen(table);

	if (gen)
		*gen = bpf_ktime_get_ns();
}

/* Descriptor fd of the current task was closed, or refers to another file
 * now: what was judged of it no longer holds. */
static __always_inline void forget_fd(int fd)
{
	struct fd_slot *s = fd_slot(current_table(), fd);

	if (s)
		s->gen = bpf_ktime_get_ns();
}

/*
 * Whether descriptor fd of the current task refers to a followed file: a
 * regular file, under a root with --file-root (its place, walked up its
 * directories). The kernel's descriptor table is the truth; what was judged
 * of a descriptor holds until the kernel changes what it refers to: its
 * close, dup2 or dup3 over it, an open that takes its number (forget_fd()),
 * or a change of the whole table (table_changed()), each at the syscall's
 * exit, after the change. So a descriptor however made (opened before the
 * collector attached, dup'd, inherited by a fork) is judged at its first
 * use; after that a use costs two array lookups and a hash.
 */
static __always_inline bool fd_followed(int fd)
{
	__u64 table = current_table(), *tgen, tag;
	struct fd_slot *s;
	struct file *file;
	bool followed;

	if (!table || fd < 0)
		return false;
	s = fd_slot(table, fd);
	tgen = table_gen(table);
	if (!s || !tgen)
		return false;
	tag = mix(mix(table, (__u32)fd), mix(s->gen, *tgen)) | 1;
	if ((s->tag | 1) == tag)
		return s->tag & 1;
	file = fd_file(fd);
	if (!file) /* no verdict kept: a dup or a socket may take the number */
		return false;
	followed = file_regular(file) && (!nroots || path_under_root(BPF_CORE_READ(file, f_path)));
	s->tag = tag ^ !followed;
	return followed;
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
	struct path base;

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
		base = BPF_CORE_READ(task, fs, pwd);
	else
		base = BPF_CORE_READ(fd_file(dirfd), f_path);
	return path_under_root(base);
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

/* Writes in as the calling thread's entry of inflight: in place when it
 * has one. */
static __always_inline void inflight_set(__u64 pid_tgid, const struct inflight *in)
{
	struct inflight *p = bpf_map_lookup_elem(&inflight, &pid_tgid);

	if (p)
		__builtin_memcpy(p, in, sizeof(*in));
	else if (bpf_map_update_elem(&inflight, &pid_tgid, in, BPF_ANY))
		counter_inc(&file_stats, FSTAT_INFLIGHT_FULL);
}

static __always_inline void inflight_clear(struct inflight *p)
{
	p->start_ns = 0;
	p->closing = -1;
}

static __always_inline void begin(__u32 op, int fd, int out_fd, const char *path)
{
	struct inflight in = { .op = op, .fd = fd, .out_fd = out_fd, .closing = -1 };

	span_begin_io(&in, path);
	in.start_ns = bpf_ktime_get_ns();
	inflight_set(bpf_get_current_pid_tgid(), &in);
}

/* read, write, fsync and the like: timed when fd is a followed file. */
static __always_inline int enter_fd(__u32 op, int fd)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (is_target(pid_tgid >> 32) && fd_followed(fd))
		begin(op, fd, -1, NULL);
	return 0;
}

/* copy_file_range, sendfile, splice: a read of in and a write to out, each
 * when a followed file. */
static __always_inline int enter_copy(int in, int out)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!is_target(pid_tgid >> 32))
		return 0;
	in = fd_followed(in) ? in : -1;
	out = fd_followed(out) ? out : -1;
	if (in >= 0 || out >= 0)
		begin(FOP_MAX, in, out, NULL);
	return 0;
}

/* open, unlink, rename, mkdir, rmdir: timed when the path is under a root.
 * Opening a directory (O_DIRECTORY: opendir()) is no file operation. */
static __always_inline int enter_path(__u32 op, int dirfd, const char *path, __u64 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (is_target(pid_tgid >> 32) && !(flags & O_DIRECTORY) && path_matches(dirfd, path))
		begin(op, -1, -1, path);
	return 0;
}

/* The span of file operation op on fd (-1: of the path the syscall
 * named) that took start..now and returned ret. */
static __always_inline void emit_file(const struct inflight *in, __u32 op, int fd, __u64 pid_tgid,
				      long ret, __u64 now)
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
	r->id = (op == FOP_READ || op == FOP_WRITE) && ret > 0 ? ret : 0;
	r->tgid = pid_tgid >> 32;
	r->tid = pid_tgid;
	r->status = ret < 0 ? ret : 0;
	r->kind = SPAN_FILE;
	r->op = op;
	path = (char *)(r + 1);
	path[0] = '\0';
	if (fd >= 0) {
		/* read, write, fsync: the name of the file, from its dentry */
		struct file *f = fd_file(fd);
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

/* Operation op on fd (-1: the path's) took start..now and returned ret. */
static __always_inline void account(const struct inflight *in, __u32 op, int fd, __u64 pid_tgid,
				    long ret, __u64 now)
{
	__u32 idx = op * FILE_STATUS_MAX + (ret < 0);
	struct hist *h;

	if ((op == FOP_READ || op == FOP_WRITE) && ret > 0) {
		__u64 *bytes = bpf_map_lookup_elem(&file_bytes, &op);

		if (bytes)
			__sync_fetch_and_add(bytes, ret);
	}
	h = bpf_map_lookup_elem(&file_hist, &idx);
	if (h)
		hist_observe(h, now - in->start_ns);
	if (in->ctx.flags & SPAN_F_SAMPLED)
		emit_file(in, op, fd, pid_tgid, ret, now);
}

/* The exit of a syscall of operation op (FOP_MAX: a copy). */
static __always_inline int exit_any(__u32 op, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct inflight *p, in;
	__u64 now;

	if (!is_target(pid_tgid >> 32))
		return 0;
	/* An open takes a free number: what was judged of it is of the past. */
	if (op == FOP_OPEN && ret >= 0)
		forget_fd(ret);
	p = bpf_map_lookup_elem(&inflight, &pid_tgid);
	if (!p || !p->start_ns) /* none, or a close's whose exit was not seen */
		return 0;
	now = bpf_ktime_get_ns();
	__builtin_memcpy(&in, p, sizeof(in));
	inflight_clear(p);
	/* A directory, a device, a FIFO opened: no file operation at all. */
	if (op == FOP_OPEN && ret >= 0 && !file_regular(fd_file(ret)))
		return 0;
	if (op != FOP_MAX) {
		account(&in, op, in.fd, pid_tgid, ret, now);
		return 0;
	}
	if (in.fd >= 0)
		account(&in, FOP_READ, in.fd, pid_tgid, ret, now);
	if (in.out_fd >= 0)
		account(&in, FOP_WRITE, in.out_fd, pid_tgid, ret, now);
	return 0;
}

#define EXIT(sys, op)                                        \
	SEC("tracepoint/syscalls/sys_exit_" #sys)            \
	int exit_##sys(struct trace_event_raw_sys_exit *ctx) \
	{                                                    \
		int ret = exit_any(op, ctx->ret);            \
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
	EXIT(sys, op)

#define ENTER_PATH(sys, op, dirfd_arg, path_arg, flags_arg)                                \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                                         \
	int enter_##sys(struct trace_event_raw_sys_enter *ctx)                             \
	{                                                                                  \
		int dirfd = dirfd_arg < 0 ? AT_FDCWD : (int)ctx->args[dirfd_arg & 7];      \
		__u64 flags = flags_arg < 0 ? 0 : ctx->args[flags_arg & 7];                \
		int ret = enter_path(op, dirfd, (const char *)ctx->args[path_arg], flags); \
                                                                                           \
		OWN_STACK(ctx);                                                            \
		return ret;                                                                \
	}                                                                                  \
	EXIT(sys, op)

#define ENTER_COPY(sys, in_arg, out_arg)                                               \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                                     \
	int enter_##sys(struct trace_event_raw_sys_enter *ctx)                         \
	{                                                                              \
		int ret = enter_copy((int)ctx->args[in_arg], (int)ctx->args[out_arg]); \
                                                                                       \
		OWN_STACK(ctx);                                                        \
		return ret;                                                            \
	}                                                                              \
	EXIT(sys, FOP_MAX)

FILE_SYSCALLS(ENTER_FD, ENTER_PATH, ENTER_COPY)

/* unlinkat is rmdir with AT_REMOVEDIR. */
SEC("tracepoint/syscalls/sys_enter_unlinkat")
int enter_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 op = ctx->args[2] & AT_REMOVEDIR ? FOP_RMDIR : FOP_UNLINK;
	int ret = enter_path(op, (int)ctx->args[0], (const char *)ctx->args[1], 0);

	OWN_STACK(ctx);
	return ret;
}
EXIT(unlinkat, FOP_UNLINK)

/* What the kernel changes in a target's descriptor table besides opens
 * (fd_followed()): a descriptor closed, or replaced by dup2 or dup3, is
 * forgotten; close_range changes the whole table. */
SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	/* Kept for the exit, which has only the result. */
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct inflight in = { .closing = (int)ctx->args[0] };

	if (is_target(pid_tgid >> 32))
		inflight_set(pid_tgid, &in);
	OWN_STACK(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_close")
int exit_close(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct inflight *in;

	if (is_target(pid_tgid >> 32) && (in = bpf_map_lookup_elem(&inflight, &pid_tgid)) &&
	    in->closing >= 0) {
		forget_fd(in->closing);
		inflight_clear(in);
	}
	OWN_STACK(ctx);
	return 0;
}

#define EXIT_REPLACING(sys)                                                       \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                 \
	int exit_##sys(struct trace_event_raw_sys_exit *ctx)                      \
	{                                                                         \
		if (ctx->ret >= 0 && is_target(bpf_get_current_pid_tgid() >> 32)) \
			forget_fd((int)ctx->ret);                                 \
		OWN_STACK(ctx);                                                   \
		return 0;                                                         \
	}

EXIT_REPLACING(dup2)
EXIT_REPLACING(dup3)

SEC("tracepoint/syscalls/sys_exit_close_range")
int exit_close_range(struct trace_event_raw_sys_exit *ctx)
{
	if (is_target(bpf_get_current_pid_tgid() >> 32))
		table_changed(current_table());
	OWN_STACK(ctx);
	return 0;
}

/* An exec closed the O_CLOEXEC descriptors of its process. Not tested
 * against the targets: follow mode's exec program may not have followed
 * it yet, and a generation more costs nothing. */
static __always_inline int on_exec(struct task_struct *p)
{
	table_changed(table_of(p));
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

/* Twice, as in bpf/procs.bpf.c: user space loads the raw one where BTF
 * tracepoints do not load (host_tp_btf()). */
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

SEC("tp_btf/sched_process_exec")
int BPF_PROG(files_exec, struct task_struct *p)
{
	return on_exec(p);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(files_exec_raw, struct task_struct *p)
{
	return on_exec(p);
}
