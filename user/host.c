// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <netinet/in.h>

#include "caps.h"
#include "host.h"
#include "probes.h"
#include "procfs.h"

#define UPROBE_PMU "/sys/bus/event_source/devices/uprobe/type"

/* The collector's filesystem credentials, which the kernel checks modes with. */
struct fs_creds {
	uid_t uid;
	gid_t gid;
	gid_t groups[NGROUPS_MAX];
	int ngroups;
};

static int read_fs_creds(struct fs_creds *me)
{
	struct proc_creds c;
	int rc = procfs_read_creds(0, &c);

	if (rc)
		return rc;
	me->uid = c.uid[3];
	me->gid = c.gid[3];
	me->ngroups = getgroups(NGROUPS_MAX, me->groups);
	return me->ngroups < 0 ? -errno : 0;
}

/* Whether st's mode lets me do what mask asks (S_IROTH | S_IXOTH, ...),
 * without any capability: the owner's bits, else the group's, else the
 * others'. */
static bool mode_allows(const struct fs_creds *me, const struct stat *st, mode_t mask)
{
	bool in_group = st->st_gid == me->gid;

	if (st->st_uid == me->uid)
		return (st->st_mode >> 6 & mask) == mask;
	for (int i = 0; i < me->ngroups && !in_group; i++)
		in_group = st->st_gid == me->groups[i];
	return ((in_group ? st->st_mode >> 3 : st->st_mode) & mask) == mask;
}

bool host_tracefs_mounted(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	/* "36 25 0:12 / /sys/kernel/tracing rw,... - tracefs tracefs rw" */
	while (f && !found && fgets(line, sizeof(line), f)) {
		char *point = strchr(line, ' '), *fstype = strstr(line, " - ");
		int i;

		for (i = 0; point && i < 3; i++)
			point = strchr(point + 1, ' ');
		found = point && fstype && !strncmp(point + 1, TRACEFS " ", strlen(TRACEFS) + 1) &&
			!strncmp(fstype + 3, "tracefs ", 8);
	}
	if (f)
		fclose(f);
	return found;
}

/* The offset in its file of the function the uprobe spot is measured on,
 * from the mapping that holds it. */
static long calibrate_offset(void)
{
	unsigned long addr = (unsigned long)aet_spot_calibrate, start, end, off;
	char line[4096];
	long found = -1;
	FILE *f = fopen("/proc/self/maps", "re");

	while (f && found < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %*s %lx", &start, &end, &off) == 3 && addr >= start &&
		    addr < end)
			found = (long)(addr - start + off);
	if (f)
		fclose(f);
	return found;
}

/* A uprobe perf event on the collector's own function, for itself only;
 * no program. Returns 0 or -errno. */
static int try_uprobe(void)
{
	char buf[16];
	long off = calibrate_offset();
	struct perf_event_attr attr = {
		.size = sizeof(attr),
		.config1 = (uint64_t)(uintptr_t) "/proc/self/exe",
		/* counting user space only: the check left is the uprobe PMU's */
		.exclude_kernel = 1,
		.exclude_hv = 1,
	};
	int fd;

	if (procfs_read_file(UPROBE_PMU, buf, sizeof(buf)) <= 0 || off < 0)
		return -ENOENT;
	attr.type = (uint32_t)atoi(buf);
	attr.config2 = (uint64_t)off;
	fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int host_uprobes_need_admin(bool drop)
{
	const uint64_t admin = 1ULL << CAP_SYS_ADMIN, perfmon = 1ULL << CAP_PERFMON;
	uint64_t eff = caps_effective();
	int rc;

	/* Conclusive only with CAP_PERFMON and without CAP_SYS_ADMIN. */
	if (eff & admin) {
		if (!drop || !(caps_permitted() & perfmon) ||
		    caps_set_effective((eff | perfmon) & ~admin))
			return -1;
		rc = try_uprobe();
		caps_set_effective(eff);
	} else if (eff & perfmon) {
		rc = try_uprobe();
	} else {
		return -1;
	}
	return rc == -EACCES ? 1 : rc == 0 ? 0 : -1;
}

/* Whether the kernel counts BPF memory against RLIMIT_MEMLOCK: it does not
 * from 5.11 (memory cgroups), which came with bpf_ktime_get_coarse_ns(), as
 * libbpf decides too; the release when the collector may not ask. */
static bool memlock_counts(void)
{
	struct utsname u;
	int major = 0, minor = 0;
	int rc = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCKET_FILTER, BPF_FUNC_ktime_get_coarse_ns,
					 NULL);

	if (rc >= 0)
		return rc == 0;
	return uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2 ||
	       major * 1000 + minor < 5011;
}

bool host_tp_btf(void)
{
	static int known = -1;
	const struct bpf_insn ret0[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP);
	struct btf *vmlinux;
	int id, fd;

	if (known >= 0)
		return known;
	/* What libbpf resolves a tp_btf program's target in: without it
	 * (no BTF in sysfs), every such program fails to load. */
	vmlinux = btf__load_vmlinux_btf();
	id = vmlinux ? btf__find_by_name_kind(vmlinux, "btf_trace_sched_process_exit",
					      BTF_KIND_TYPEDEF)
		     : -ENOENT;
	btf__free(vmlinux);
	opts.attach_btf_id = id > 0 ? id : 0;
	fd = id > 0 ? bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", ret0, 2, &opts) : -1;
	if (fd >= 0)
		close(fd);
	known = fd >= 0;
	return known;
}

static int listen_port(const struct config *cfg)
{
	const struct sockaddr_storage *ss = &cfg->listen;

	return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
					       : ((const struct sockaddr_in *)ss)->sin_port);
}

/* WHEN_TARGET_OTHER, as the kernel's ptrace access check decides it: the
 * target's user and group ids all the collector's, its permitted
 * capabilities among the collector's effective ones. */
static void target_fact(struct priv_facts *f, const struct config *cfg, const struct fs_creds *me)
{
	struct proc_creds t;

	f->known[WHEN_TARGET_OTHER] = !cfg->pid || !procfs_read_creds(cfg->pid, &t);
	if (!cfg->pid || !f->known[WHEN_TARGET_OTHER]) {
		f->when[WHEN_TARGET_OTHER] = true;
		return;
	}
	f->when[WHEN_TARGET_OTHER] = t.cap_prm & ~f->caps;
	for (int i = 0; i < 3; i++)
		f->when[WHEN_TARGET_OTHER] |= t.uid[i] != me->uid || t.gid[i] != me->gid;
}

void host_facts(struct priv_facts *f, const struct config *cfg, bool full)
{
	char start[16] = "1024";
	struct fs_creds me;
	struct rlimit rl;
	struct stat st;
	int admin;

	memset(f, 0, sizeof(*f));
	f->caps = caps_effective();
	f->when[WHEN_ALWAYS] = f->known[WHEN_ALWAYS] = true;
	admin = host_uprobes_need_admin(full);
	f->known[WHEN_UPROBES_ADMIN] = admin >= 0;
	f->when[WHEN_UPROBES_ADMIN] = admin != 0;
	f->known[WHEN_TRACEFS_MISSING] = true;
	f->when[WHEN_TRACEFS_MISSING] = !host_tracefs_mounted();
	if (!read_fs_creds(&me)) {
		target_fact(f, cfg, &me);
		/* Mounted by the collector, it would be root's, 0700. */
		f->known[WHEN_TRACEFS_CLOSED] = true;
		f->when[WHEN_TRACEFS_CLOSED] =
			f->when[WHEN_TRACEFS_MISSING]
				? me.uid != 0
				: stat(TRACEFS, &st) || !mode_allows(&me, &st, S_IROTH | S_IXOTH);
	}
	f->known[WHEN_MEMLOCK] = !getrlimit(RLIMIT_MEMLOCK, &rl);
	f->when[WHEN_MEMLOCK] = rl.rlim_max != RLIM_INFINITY && memlock_counts();
	procfs_read_file("/proc/sys/net/ipv4/ip_unprivileged_port_start", start, sizeof(start));
	f->known[WHEN_LOW_PORT] = true;
	f->when[WHEN_LOW_PORT] = listen_port(cfg) < atoi(start);
	/* Unknown till the library is found: host_library_fact(). */
	f->known[WHEN_LIBRARY_CLOSED] = true;
}

void host_library_fact(struct priv_facts *f, const char *lib_path)
{
	char path[PATH_MAX];
	struct fs_creds me;
	struct stat st;
	char *slash;
	bool closed = false;

	/* /proc/PID/root/dir/.../lib.so: from the target's root down. */
	snprintf(path, sizeof(path), "%s", lib_path);
	slash = strstr(path, "/root/");
	f->known[WHEN_LIBRARY_CLOSED] = true;
	/* Not even its root to stat: the ptrace check refused, said by its row. */
	if (read_fs_creds(&me) || !slash || stat(lib_path, &st))
		return;
	for (slash += 5; slash && !closed; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		closed = stat(path, &st) || !mode_allows(&me, &st, S_IXOTH);
		*slash = '/';
	}
	closed |= stat(path, &st) || !mode_allows(&me, &st, S_IROTH);
	f->when[WHEN_LIBRARY_CLOSED] = closed;
}

int host_mount_tracefs(bool *mounted, char *err, size_t len)
{
	/* With the collector's own capabilities (access() would drop them). */
	if (!faccessat(AT_FDCWD, TRACEFS "/events/syscalls", F_OK, AT_EACCESS))
		return 0;
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL)) {
		int rc = -errno;

		if (rc == -EPERM)
			snprintf(err, len,
				 "not allowed to mount tracefs on %s (%s): run as root, or mount "
				 "it first",
				 TRACEFS, strerror(-rc));
		else
			snprintf(err, len, "cannot mount tracefs on %s: %s", TRACEFS,
				 strerror(-rc));
		return rc;
	}
	*mounted = true;
	return 0;
}
