// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procfs.h"
#include "target.h"

#define MAPS_MAX (16 << 20) /* /proc/PID/maps of a very large process */

static double monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Finds the probe library in /proc/PID/maps; fills t->lib_path. */
static int find_library(struct target *t, char *err, size_t len)
{
	char maps_path[64], path[PATH_MAX];
	size_t cap = 256 << 10;
	char *maps = NULL;
	long n;
	int rc;

	snprintf(maps_path, sizeof(maps_path), "/proc/%d/maps", t->pid);
	do {
		free(maps);
		maps = malloc(cap);
		if (!maps)
			return -ENOMEM;
		n = procfs_read_file(maps_path, maps, cap);
		cap *= 2;
	} while (n == -EFBIG && cap <= MAPS_MAX);
	if (n < 0) {
		snprintf(err, len, "cannot read %s: %s%s", maps_path, strerror((int)-n),
			 n == -EACCES || n == -EPERM ? ": run aet-collector as root" : "");
		free(maps);
		return (int)n;
	}
	rc = procfs_find_mapping(maps, PROBE_LIBRARY, path, sizeof(path));
	free(maps);
	if (rc == -ENOENT) {
		snprintf(err, len,
			 "process %d (%s) has not loaded %s: start AET with the probe library "
			 "(AETPROBE_LIBRARY=/path/to/%s)",
			 t->pid, t->comm, PROBE_LIBRARY, PROBE_LIBRARY);
		return rc;
	}
	if (rc)
		return rc;
	if (strlen(path) > 10 && !strcmp(path + strlen(path) - 10, " (deleted)")) {
		snprintf(err, len,
			 "the %s mapped by process %d was deleted or replaced on disk (%s): "
			 "restart AET to load the installed one",
			 PROBE_LIBRARY, t->pid, path);
		return -ENOENT;
	}
	/* Through the target's root, so a target in a container works the same. */
	if (snprintf(t->lib_path, sizeof(t->lib_path), "/proc/%d/root%s", t->pid, path) >=
	    (int)sizeof(t->lib_path))
		return -ENAMETOOLONG;
	return 0;
}

int target_open(struct target *t, int pid, char *err, size_t len)
{
	struct proc_stat st;
	int rc;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	rc = procfs_read_stat(pid, &st);
	if (rc) {
		if (rc == -ENOENT)
			snprintf(err, len, "no process with pid %d: check the pid of AET", pid);
		else
			snprintf(err, len, "cannot read /proc/%d/stat: %s", pid, strerror(-rc));
		return rc;
	}
	t->start_time = st.starttime;
	snprintf(t->comm, sizeof(t->comm), "%s", st.comm);
	rc = find_library(t, err, len);
	if (rc) {
		if (!*err)
			snprintf(err, len, "cannot find %s in process %d: %s", PROBE_LIBRARY, pid,
				 strerror(-rc));
		return rc;
	}
	target_sample(t);
	return 0;
}

void target_sample(struct target *t)
{
	double now = monotonic_now();
	struct proc_stat st;
	uint64_t ticks;

	if (procfs_read_stat(t->pid, &st) || st.starttime != t->start_time) {
		/* Gone, or the pid now names another process. */
		t->alive = false;
		t->cpu_percent = 0;
		t->rss_bytes = 0;
		return;
	}
	ticks = st.utime + st.stime;
	if (t->alive && now > t->sampled_at)
		t->cpu_percent = (double)(ticks - t->cpu_ticks) / sysconf(_SC_CLK_TCK) /
				 (now - t->sampled_at) * 100.0;
	t->cpu_ticks = ticks;
	t->sampled_at = now;
	t->rss_bytes = st.rss > 0 ? (uint64_t)st.rss * sysconf(_SC_PAGESIZE) : 0;
	t->alive = true;
}
