/* SPDX-License-Identifier: MIT */
/* The observed AET process: identity, probe library, CPU and memory. */
#ifndef AET_TARGET_H
#define AET_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_LIBRARY  "libaetprobe.so"
#define TARGET_MAX_DBS 16 /* SQLite database files reported, a bound on the labels */

/* A SQLite database file the target has open. */
struct db_file {
	char path[256]; /* as the target sees it */
	uint64_t size;
};

struct target {
	char lib_path[PATH_MAX]; /* the probe library, through /proc/PID/root */
	char comm[17];
	uint64_t start_time; /* ticks after boot: (pid, start_time) is the identity */
	uint64_t rss_bytes;
	uint64_t cpu_ticks; /* utime + stime at the last sample */
	double cpu_percent; /* 100 = one core, over the last sample interval */
	double sampled_at;  /* CLOCK_MONOTONIC seconds of the last sample */
	struct db_file dbs[TARGET_MAX_DBS];
	int ndbs;
	int pid;
	bool alive;
};

/* Checks that pid exists and, when need_library (the probes family is not
 * disabled), has the probe library mapped; fills t (lib_path "" without
 * it). Returns 0 or -errno with err naming the cause and the fix. */
int target_open(struct target *t, int pid, bool need_library, char *err, size_t len);

/* Finds in /proc/PID/maps the file mapped under name (see
 * procfs_find_mapping()) and writes its path through /proc/PID/root into
 * path. Returns 0, -ENOENT when not mapped, -ESTALE when the file was
 * deleted or replaced since, or another -errno. */
int target_find_mapping(const struct target *t, const char *name, char *path, size_t len);

/* For a mapping target_find_mapping() found -ESTALE: its path through
 * /proc/PID/map_files, where uprobes attach to the inode still mapped.
 * Returns 0 or -errno. */
int target_deleted_mapping(const struct target *t, const char *name, char *path, size_t len);

/* Re-reads /proc/PID/stat: alive (same pid and start time), CPU, memory;
 * and the SQLite database files among /proc/PID/fd, with their sizes. */
void target_sample(struct target *t);

/* How a process ended, from its wait status (status < 0: not known): "exited
 * with status 3", "was killed by signal 9 (SIGKILL)", ... */
void target_describe_end(int status, char *buf, size_t len);

#endif /* AET_TARGET_H */
