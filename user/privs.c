// SPDX-License-Identifier: MIT
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>

#include "privs.h"

#define UPROBE_FAMS                                                                    \
	(1u << PFAM_PROBES | 1u << PFAM_SQLITE | 1u << PFAM_HTTP | 1u << PFAM_PYTHON | \
	 1u << PFAM_CUSTOM)
#define SYSCALL_FAMS (1u << PFAM_FILES | 1u << PFAM_HTTP)

/* Kept in the README's order and words: tests/python/test_deploy.py
 * compares the two through aet-collector --check --json. */
const struct priv_need priv_needs[] = {
	{ CAP_BPF, CAP_SYS_ADMIN, PRIV_ALL, WHEN_ALWAYS, "always",
	  "loading BPF programs, creating and reading their maps" },
	{ CAP_PERFMON, CAP_SYS_ADMIN, PRIV_ALL, WHEN_ALWAYS, "always",
	  "tracing programs (reading the target's memory), the perf events of uprobes and "
	  "tracepoints" },
	/* perf_uprobe_event_init(): CAP_PERFMON from Linux 5.8 (c9e0924e5c2b),
	 * CAP_SYS_ADMIN again from 6.16 and the stable kernels since
	 * (ba677dbe77af, "perf: Revert to requiring CAP_SYS_ADMIN for uprobes");
	 * Debian's perf_event_open() asks CAP_SYS_ADMIN at paranoid 3 (its
	 * "security,perf: Allow further restriction of perf_event_open"; seen
	 * on 5.10.223). user/host.c asks the kernel which holds. */
	{ CAP_SYS_ADMIN, -1, UPROBE_FAMS, WHEN_UPROBES_ADMIN,
	  "the kernel creates uprobes for it only: Linux 6.16 and the stable kernels since, and "
	  "Debian's at kernel.perf_event_paranoid 3, their default",
	  "creating uprobes" },
	/* __ptrace_may_access() and cap_ptrace_access_check() */
	{ CAP_SYS_PTRACE, -1, UPROBE_FAMS, WHEN_TARGET_OTHER,
	  "the target is another user's process or holds capabilities the collector lacks; "
	  "always in follow mode",
	  "reading the target's /proc/PID/maps and open files, its libraries through "
	  "/proc/PID/root" },
	{ CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE, SYSCALL_FAMS, WHEN_TRACEFS_CLOSED,
	  "tracefs is closed to the collector's user: it is root's, mode 0700",
	  "reading the syscall tracepoints' ids in tracefs" },
	{ CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE, UPROBE_FAMS, WHEN_LIBRARY_CLOSED,
	  "a directory above the target's library is closed to the collector's user",
	  "opening the library" },
	{ CAP_SYS_ADMIN, -1, SYSCALL_FAMS, WHEN_TRACEFS_MISSING, "tracefs is not mounted",
	  "mounting tracefs on /sys/kernel/tracing" },
	{ CAP_SYS_RESOURCE, -1, PRIV_ALL, WHEN_MEMLOCK,
	  "the kernel counts BPF memory against RLIMIT_MEMLOCK, as before Linux 5.11, and the "
	  "limit is not unlimited",
	  "raising RLIMIT_MEMLOCK" },
	{ CAP_NET_BIND_SERVICE, -1, PRIV_SERVE, WHEN_LOW_PORT, "--listen names a port below 1024",
	  "listening on it" },
};

const int priv_nneeds = sizeof(priv_needs) / sizeof(priv_needs[0]);

static const char *const cap_names[] = {
	[CAP_CHOWN] = "cap_chown",
	[CAP_DAC_OVERRIDE] = "cap_dac_override",
	[CAP_DAC_READ_SEARCH] = "cap_dac_read_search",
	[CAP_FOWNER] = "cap_fowner",
	[CAP_FSETID] = "cap_fsetid",
	[CAP_KILL] = "cap_kill",
	[CAP_SETGID] = "cap_setgid",
	[CAP_SETUID] = "cap_setuid",
	[CAP_SETPCAP] = "cap_setpcap",
	[CAP_LINUX_IMMUTABLE] = "cap_linux_immutable",
	[CAP_NET_BIND_SERVICE] = "cap_net_bind_service",
	[CAP_NET_BROADCAST] = "cap_net_broadcast",
	[CAP_NET_ADMIN] = "cap_net_admin",
	[CAP_NET_RAW] = "cap_net_raw",
	[CAP_IPC_LOCK] = "cap_ipc_lock",
	[CAP_IPC_OWNER] = "cap_ipc_owner",
	[CAP_SYS_MODULE] = "cap_sys_module",
	[CAP_SYS_RAWIO] = "cap_sys_rawio",
	[CAP_SYS_CHROOT] = "cap_sys_chroot",
	[CAP_SYS_PTRACE] = "cap_sys_ptrace",
	[CAP_SYS_PACCT] = "cap_sys_pacct",
	[CAP_SYS_ADMIN] = "cap_sys_admin",
	[CAP_SYS_BOOT] = "cap_sys_boot",
	[CAP_SYS_NICE] = "cap_sys_nice",
	[CAP_SYS_RESOURCE] = "cap_sys_resource",
	[CAP_SYS_TIME] = "cap_sys_time",
	[CAP_SYS_TTY_CONFIG] = "cap_sys_tty_config",
	[CAP_MKNOD] = "cap_mknod",
	[CAP_LEASE] = "cap_lease",
	[CAP_AUDIT_WRITE] = "cap_audit_write",
	[CAP_AUDIT_CONTROL] = "cap_audit_control",
	[CAP_SETFCAP] = "cap_setfcap",
	[CAP_MAC_OVERRIDE] = "cap_mac_override",
	[CAP_MAC_ADMIN] = "cap_mac_admin",
	[CAP_SYSLOG] = "cap_syslog",
	[CAP_WAKE_ALARM] = "cap_wake_alarm",
	[CAP_BLOCK_SUSPEND] = "cap_block_suspend",
	[CAP_AUDIT_READ] = "cap_audit_read",
	[CAP_PERFMON] = "cap_perfmon",
	[CAP_BPF] = "cap_bpf",
	[CAP_CHECKPOINT_RESTORE] = "cap_checkpoint_restore",
};

const char *priv_cap_name(int cap)
{
	return cap >= 0 && cap < (int)(sizeof(cap_names) / sizeof(cap_names[0])) ? cap_names[cap]
										 : NULL;
}

static bool has(const struct priv_facts *f, int cap)
{
	return cap >= 0 && f->caps >> cap & 1;
}

static bool applies(const struct priv_facts *f, const struct priv_need *n)
{
	return n->when == WHEN_ALWAYS || f->when[n->when] || !f->known[n->when];
}

static bool met(const struct priv_facts *f, const struct priv_need *n)
{
	return has(f, n->cap) || has(f, n->also) || !applies(f, n);
}

uint64_t privs_missing(const struct priv_facts *f, uint32_t fam)
{
	uint64_t missing = 0;

	for (int i = 0; i < priv_nneeds; i++)
		if (priv_needs[i].families & fam && !met(f, &priv_needs[i]))
			missing |= 1ULL << i;
	return missing;
}

void privs_explain(uint64_t missing, const char *name, char *err, size_t len)
{
	size_t n = snprintf(err, len, "%s lacks ", name);

	for (int i = 0; i < priv_nneeds && n < len; i++) {
		const struct priv_need *p = &priv_needs[i];

		if (!(missing >> i & 1))
			continue;
		n += snprintf(err + n, len - n, "%s%s", missing & ((1ULL << i) - 1) ? "; " : "",
			      priv_cap_name(p->cap));
		if (p->also >= 0 && n < len)
			n += snprintf(err + n, len - n, " (or %s)", priv_cap_name(p->also));
		if (n < len)
			n += snprintf(err + n, len - n, ", for %s", p->what);
		if (p->when != WHEN_ALWAYS && n < len)
			n += snprintf(err + n, len - n, " (%s)", p->when_text);
	}
	if (n < len)
		snprintf(err + n, len - n, ": %s", PRIVS_FIX);
}

void privs_write_json(const struct priv_facts *f, struct buf *out)
{
	buf_puts(out, "[");
	for (int i = 0; i < priv_nneeds; i++) {
		const struct priv_need *p = &priv_needs[i];
		bool firstf = true;

		buf_printf(out, "%s{\"capability\":\"%s\",\"also\":", i ? "," : "",
			   priv_cap_name(p->cap));
		if (p->also >= 0)
			buf_printf(out, "\"%s\"", priv_cap_name(p->also));
		else
			buf_puts(out, "null");
		buf_puts(out, ",\"families\":[");
		for (int fam = 0; fam <= PFAM_MAX + 1; fam++) {
			const char *name = fam < PFAM_MAX    ? probe_family_names[fam]
					   : fam == PFAM_MAX ? "maps"
							     : "endpoint";

			if (p->families >> fam & 1) {
				buf_printf(out, "%s\"%s\"", firstf ? "" : ",", name);
				firstf = false;
			}
		}
		buf_puts(out, "],\"when\":");
		buf_json_str(out, p->when_text, strlen(p->when_text));
		buf_puts(out, ",\"for\":");
		buf_json_str(out, p->what, strlen(p->what));
		buf_printf(out, ",\"applies\":%s,\"known\":%s,\"held\":%s}",
			   applies(f, p) ? "true" : "false",
			   p->when == WHEN_ALWAYS || f->known[p->when] ? "true" : "false",
			   has(f, p->cap) || has(f, p->also) ? "true" : "false");
	}
	buf_puts(out, "]");
}
