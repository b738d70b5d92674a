// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "follow.h"
#include "procfs.h"

int follow_init(struct follow *fw, const char *comm, const char *exe, int max, char *err,
		size_t len)
{
	struct stat st;

	memset(fw, 0, sizeof(*fw));
	fw->comm = comm;
	fw->exe = exe;
	fw->max = max;
	if (exe) {
		if (stat(exe, &st)) {
			snprintf(err, len, "--exe %s: %s", exe, strerror(errno));
			return -errno;
		}
		fw->dev = st.st_dev;
		fw->ino = st.st_ino;
	}
	fw->procs = calloc(max, sizeof(*fw->procs));
	if (!fw->procs) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void follow_free(struct follow *fw)
{
	free(fw->procs);
	fw->procs = NULL;
}

static bool stat_matches(const struct follow *fw, int pid, const struct proc_stat *st)
{
	char path[32];
	struct stat s;

	if (fw->comm)
		return !strcmp(st->comm, fw->comm);
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	return !stat(path, &s) && s.st_dev == fw->dev && s.st_ino == fw->ino;
}

static struct followed *find(struct follow *fw, int pid)
{
	for (int i = 0; i < fw->n; i++)
		if (fw->procs[i].pid == pid)
			return &fw->procs[i];
	return NULL;
}

/* Forgets entry i, keeping the order (the newest last). */
static void forget(struct follow *fw, int i)
{
	memmove(&fw->procs[i], &fw->procs[i + 1], (fw->n - i - 1) * sizeof(fw->procs[0]));
	fw->n--;
}

static int add(struct follow *fw, int pid, const struct proc_stat *st)
{
	struct followed *f = find(fw, pid);
	int i;

	if (f && f->start_time == st->starttime)
		return 0;
	if (f) /* the pid of a gone process, reused */
		forget(fw, f - fw->procs);
	for (i = 0; fw->n == fw->max && i < fw->n; i++)
		if (!fw->procs[i].alive)
			forget(fw, i);
	if (fw->n == fw->max) {
		fw->untracked++;
		return -ENOSPC;
	}
	fw->procs[fw->n++] = (struct followed){ pid, st->starttime, true };
	return 1;
}

int follow_add(struct follow *fw, int pid)
{
	struct proc_stat st;

	return procfs_read_running(pid, &st) ? 0 : add(fw, pid, &st);
}

int follow_scan(struct follow *fw, void (*found)(int pid, void *ctx), void *ctx)
{
	DIR *proc = opendir("/proc");
	struct dirent *d;
	int n = 0;

	if (!proc)
		return -errno;
	while ((d = readdir(proc))) {
		struct proc_stat st;
		int pid;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		pid = atoi(d->d_name);
		if (procfs_read_running(pid, &st) || !stat_matches(fw, pid, &st) ||
		    add(fw, pid, &st) != 1)
			continue;
		found(pid, ctx);
		n++;
	}
	closedir(proc);
	return n;
}

void follow_sample(struct follow *fw)
{
	for (int i = 0; i < fw->n; i++) {
		struct followed *f = &fw->procs[i];
		struct proc_stat st;

		if (f->alive)
			f->alive =
				!procfs_read_running(f->pid, &st) && st.starttime == f->start_time;
	}
}

void follow_write_status(const struct follow *fw, struct buf *out)
{
	buf_printf(out, "\"follow\":{\"by\":\"%s\",\"match\":", fw->comm ? "comm" : "exe");
	buf_json_str(out, fw->comm ?: fw->exe, strlen(fw->comm ?: fw->exe));
	buf_printf(out, ",\"max_targets\":%d,\"untracked\":%llu,\"processes\":[", fw->max,
		   (unsigned long long)fw->untracked);
	for (int i = 0; i < fw->n; i++)
		buf_printf(out, "%s{\"pid\":%d,\"start_time_ticks\":%llu,\"alive\":%s}",
			   i ? "," : "", fw->procs[i].pid,
			   (unsigned long long)fw->procs[i].start_time,
			   fw->procs[i].alive ? "true" : "false");
	buf_puts(out, "]}");
}
