// SPDX-License-Identifier: MIT
#define _GNU_SOURCE /* sigabbrev_np() */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include "caps.h"
#include "clock.h"
#include "privs.h"
#include "procfs.h"
#include "target.h"

int target_find_mapping(const struct target *t, const char *name, char *path, size_t len)
{
	char found[PATH_MAX];
	char *maps;
	size_t n;
	long rc;

	rc = procfs_read_maps(t->pid, &maps);
	if (rc >= 0)
		rc = procfs_find_mapping(maps, name, found, sizeof(found));
	free(maps);
	if (rc < 0)
		return (int)rc;
	n = strlen(found);
	if (n > 10 && !strcmp(found + n - 10, " (deleted)"))
		return -ESTALE;
	/* Through the target's root, so a target in a container works the same. */
	if (snprintf(path, len, "/proc/%d/root%s", t->pid, found) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * A library deleted or replaced on disk since the target mapped it (a
 * package upgrade under a running process) is still its inode: uprobes
 * attach to it through /proc/PID/map_files/START-END of one of its mappings.
 */
int target_deleted_mapping(const struct target *t, const char *name, char *path, size_t len)
{
	char found[PATH_MAX], *maps, *hit, *line;
	long n = procfs_read_maps(t->pid, &maps);
	int rc = n < 0 ? (int)n : 0;

	if (!rc)
		rc = procfs_find_mapping(maps, name, found, sizeof(found));
	hit = rc ? NULL : strstr(maps, found);
	if (hit) {
		for (line = hit; line > maps && line[-1] != '\n'; line--)
			;
		if (snprintf(path, len, "/proc/%d/map_files/%.*s", t->pid, (int)strcspn(line, " "),
			     line) >= (int)len)
			rc = -ENAMETOOLONG;
	} else if (!rc) {
		rc = -ENOENT;
	}
	free(maps);
	return rc;
}

/* Why /proc/PID/maps was refused: a capability the collector lacks, or,
 * when it has what the kernel's ptrace check asks, a protection of the
 * process itself (pid 1 of this VM, say, even to root). */
static void explain_refused(const struct target *t, int rc, char *err, size_t len)
{
	uint64_t eff = caps_effective(), more;
	struct proc_creds tc;
	size_t n;

	if (!(eff >> CAP_SYS_PTRACE & 1)) {
		snprintf(err, len,
			 "cannot read /proc/%d/maps of process %d (%s): %s: aet-collector lacks "
			 "cap_sys_ptrace, which another user's process, or one holding more "
			 "capabilities, asks: %s",
			 t->pid, t->pid, t->comm, strerror(-rc), PRIVS_FIX);
		return;
	}
	n = snprintf(err, len,
		     "process %d (%s) does not let aet-collector read /proc/%d/maps (%s) although "
		     "it has cap_sys_ptrace: the kernel or a security module protects that process",
		     t->pid, t->comm, t->pid, strerror(-rc));
	more = procfs_read_creds(t->pid, &tc) ? 0 : tc.cap_prm & ~eff;
	for (int c = 0; c < 64 && n < len; c++)
		if (more >> c & 1 && priv_cap_name(c))
			n += snprintf(err + n, len - n, "%s%s",
				      more & ((1ULL << c) - 1) ? ", " : " (it holds ",
				      priv_cap_name(c));
	if (more && n < len)
		n += snprintf(err + n, len - n, ", which aet-collector lacks)");
	if (n < len && t->pid == 1)
		snprintf(err + n, len - n,
			 "; pid 1 is the init of this host or container, seldom AET: check the "
			 "pid given");
	else if (n < len)
		snprintf(err + n, len - n, "; check that %d is the pid of AET", t->pid);
}

/* Finds the probe library in /proc/PID/maps; fills t->lib_path. */
static int find_library(struct target *t, char *err, size_t len)
{
	int rc = target_find_mapping(t, PROBE_LIBRARY, t->lib_path, sizeof(t->lib_path));

	if (rc == -EACCES || rc == -EPERM)
		explain_refused(t, rc, err, len);
	else if (rc == -ENOENT)
		snprintf(err, len,
			 "process %d (%s) has not loaded %s: start AET with the probe library "
			 "(AETPROBE_LIBRARY=/path/to/%s)",
			 t->pid, t->comm, PROBE_LIBRARY, PROBE_LIBRARY);
	else if (rc == -ESTALE)
		snprintf(err, len,
			 "the %s mapped by process %d was deleted or replaced on disk: restart "
			 "AET to load the installed one",
			 PROBE_LIBRARY, t->pid);
	return rc;
}

int target_open(struct target *t, int pid, bool need_library, char *err, size_t len)
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
	if (rc == -ENOENT && !need_library) {
		t->lib_path[0] = '\0';
		*err = '\0';
		rc = 0;
	}
	if (rc) {
		if (!*err)
			snprintf(err, len, "cannot find %s in process %d: %s", PROBE_LIBRARY, pid,
				 strerror(-rc));
		return rc;
	}
	target_sample(t);
	return 0;
}

/* Whether the open file fd_path (/proc/PID/fd/N) begins as a SQLite
 * database does: "SQLite format 3" and a NUL (https://sqlite.org/fileformat.html). */
static bool is_sqlite(const char *fd_path)
{
	static const char magic[16] = "SQLite format 3";
	char head[16];
	int fd = open(fd_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	bool yes;

	if (fd < 0)
		return false;
	yes = read(fd, head, sizeof(head)) == sizeof(head) && !memcmp(head, magic, sizeof(magic));
	close(fd);
	return yes;
}

static bool has_db(const struct db_file *dbs, int n, const char *path)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(dbs[i].path, path))
			return true;
	return false;
}

/* The SQLite files among the target's open files. A path seen last time is
 * not read again: only its size is. */
static void sample_dbs(struct target *t)
{
	char dir[32], fd_path[320], path[256];
	struct db_file found[TARGET_MAX_DBS];
	struct dirent *d;
	struct stat st;
	int n = 0;
	DIR *fds;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", t->pid);
	fds = opendir(dir);
	if (!fds)
		return;
	while ((d = readdir(fds)) && n < TARGET_MAX_DBS) {
		ssize_t len;

		snprintf(fd_path, sizeof(fd_path), "%s/%s", dir, d->d_name);
		len = readlink(fd_path, path, sizeof(path) - 1);
		if (len <= 0 || path[0] != '/' || stat(fd_path, &st) || !S_ISREG(st.st_mode))
			continue;
		path[len] = '\0';
		if (has_db(found, n, path) || /* open twice: one file */
		    (!has_db(t->dbs, t->ndbs, path) && !is_sqlite(fd_path)))
			continue;
		memcpy(found[n].path, path, len + 1);
		found[n++].size = st.st_size;
	}
	closedir(fds);
	memcpy(t->dbs, found, n * sizeof(found[0]));
	t->ndbs = n;
}

void target_sample(struct target *t)
{
	double now = clock_seconds(CLOCK_MONOTONIC);
	struct proc_stat st;
	uint64_t ticks;

	if (procfs_read_running(t->pid, &st) || st.starttime != t->start_time) {
		/* Gone (a zombie has exited), or the pid now names another process. */
		t->alive = false;
		t->cpu_percent = 0;
		t->rss_bytes = 0;
		t->ndbs = 0;
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
	sample_dbs(t);
}

void target_describe_end(int status, char *buf, size_t len)
{
	const char *name;

	if (status < 0) {
		snprintf(buf, len,
			 "exited (how is not known: the processes family did not see it)");
	} else if (WIFSIGNALED(status)) {
		name = sigabbrev_np(WTERMSIG(status));
		snprintf(buf, len, "was killed by signal %d (SIG%s)%s", WTERMSIG(status),
			 name ? name : "?", WCOREDUMP(status) ? ", core dumped" : "");
	} else {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	}
}
