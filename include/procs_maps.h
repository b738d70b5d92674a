/* SPDX-License-Identifier: MIT */
/* Maps of bpf/procs.bpf.c (the processes followed) read by user/procs.c. */
#ifndef AET_PROCS_MAPS_H
#define AET_PROCS_MAPS_H

#define COMM_LEN 16 /* the kernel's TASK_COMM_LEN */

/* Follow mode: how a new process is recognised as AET. */
enum follow_by {
	FOLLOW_NONE, /* --pid */
	FOLLOW_COMM, /* --comm: its name, as /proc/PID/comm */
	FOLLOW_EXE,  /* --exe: the file it executes, by (device, inode) */
};

/* Exit codes kept (exit_codes): the target's is read within a tick of its
 * exit; the children it forks exit in between. */
#define EXIT_CODES 1024

/* Indexes of the procs_stats array (u64 counters). */
enum procs_stat {
	PSTAT_MATCHED_FULL, /* a process matched by follow mode, not in the ring */
	PSTAT_MAX,
};

#endif /* AET_PROCS_MAPS_H */
