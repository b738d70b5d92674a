// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The processes followed, bit tgid of the shared targets map: the target
 * and the children it forks, until they exit; in follow mode (--comm,
 * --exe) also every process that execs the AET program or takes its name.
 * These run on every fork, exit and exec of the host: a non-target leaves
 * after a bit test.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "procs_maps.h"
#include "agg.bpf.h"
#include "targets.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Follow mode: what a new AET process looks like. */
const volatile __u32 follow_by = FOLLOW_NONE;
const volatile char follow_comm[COMM_LEN] = {};
const volatile __u64 follow_ino = 0;
const volatile __u32 follow_dev = 0; /* the kernel's dev_t encoding */

/* Processes that became targets by follow mode, for user space to adopt at
 * its next look: a pid each, submitted without a wakeup. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} matched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PSTAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} procs_stats SEC(".maps");

/* How each followed process ended, by tgid: its last thread's exit code, a
 * wait status (the signal in the low 7 bits, else the status in bits 8 to
 * 15), which user space reads at the tick that sees the target gone. The
 * least recently written go first: EXIT_CODES exits within a tick. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EXIT_CODES);
	__type(key, __u32);
	__type(value, __u32);
} exit_codes SEC(".maps");

/* A target's fork makes a followed process; a new thread shares its tgid. */
static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = BPF_CORE_READ(child, tgid);

	if (tgid == BPF_CORE_READ(parent, tgid) || !is_target(BPF_CORE_READ(parent, tgid)))
		return 0;
	target_set(tgid, true);
	return 0;
}

/* A followed process exits: the pid may be reused by an unrelated process,
 * which must not be observed. */
static __always_inline int on_exit(struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	__u32 code;

	if (!is_target(tgid) || BPF_CORE_READ(p, signal, live.counter))
		return 0;
	target_set(tgid, false);
	/* A group exit gives every thread the group's code (do_group_exit()). */
	code = BPF_CORE_READ(p, exit_code);
	bpf_map_update_elem(&exit_codes, &tgid, &code, BPF_ANY);
	return 0;
}

static __always_inline bool comm_matches(const char *comm)
{
	for (int i = 0; i < COMM_LEN; i++) {
		if (comm[i] != follow_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

/* Follows tgid from now on and tells user space, which counts a record
 * that did not fit and then scans /proc instead. */
static __always_inline void follow_new(__u32 tgid)
{
	__u32 *r;

	if (!target_set(tgid, true))
		return;
	r = bpf_ringbuf_reserve(&matched, sizeof(*r), 0);
	if (!r) {
		counter_inc(&procs_stats, PSTAT_MATCHED_FULL);
		return;
	}
	*r = tgid;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

/* Follow mode: a process that execs the program named by --exe, or whose
 * new name is --comm, is a target from its first instruction on. */
static __always_inline int on_exec(struct task_struct *p, struct linux_binprm *bprm)
{
	char comm[COMM_LEN];
	__u32 tgid = BPF_CORE_READ(p, tgid);

	if (follow_by == FOLLOW_EXE) {
		struct inode *ino = BPF_CORE_READ(bprm, file, f_inode);

		if (BPF_CORE_READ(ino, i_ino) != follow_ino ||
		    BPF_CORE_READ(ino, i_sb, s_dev) != follow_dev)
			return 0;
	} else {
		BPF_CORE_READ_STR_INTO(&comm, p, comm);
		if (!comm_matches(comm))
			return 0;
	}
	if (!is_target(tgid))
		follow_new(tgid);
	return 0;
}

/* --comm: a process may name itself after its exec (prctl(PR_SET_NAME) in
 * its main thread, which is what /proc/PID/stat shows). */
static __always_inline int on_rename(struct task_struct *task, const char *comm)
{
	char name[COMM_LEN];
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (follow_by != FOLLOW_COMM || BPF_CORE_READ(task, pid) != tgid || is_target(tgid))
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), comm);
	if (comm_matches(name))
		follow_new(tgid);
	return 0;
}

/*
 * Each program twice: on the BTF-enabled tracepoint, and on the raw one for
 * a kernel whose BTF is not its own (--btf: tp_btf needs the running
 * kernel's, in /sys/kernel/btf). User space loads one set (user/procs.c).
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(follow_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(follow_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(follow_exit, struct task_struct *p)
{
	return on_exit(p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(follow_exit_raw, struct task_struct *p)
{
	return on_exit(p);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(follow_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, bprm);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(follow_exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, bprm);
}

SEC("tp_btf/task_rename")
int BPF_PROG(follow_rename, struct task_struct *task, const char *comm)
{
	return on_rename(task, comm);
}

SEC("raw_tp/task_rename")
int BPF_PROG(follow_rename_raw, struct task_struct *task, const char *comm)
{
	return on_rename(task, comm);
}
