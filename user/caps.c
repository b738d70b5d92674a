// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"

#define NCAPS 64 /* what the two 32-bit words of version 3 hold */

static const char *const names[] = {
	[CAP_DAC_READ_SEARCH] = "cap_dac_read_search",
	[CAP_NET_BIND_SERVICE] = "cap_net_bind_service",
	[CAP_SYS_PTRACE] = "cap_sys_ptrace",
	[CAP_SYS_ADMIN] = "cap_sys_admin",
	[CAP_PERFMON] = "cap_perfmon",
	[CAP_BPF] = "cap_bpf",
	[CAP_CHECKPOINT_RESTORE] = "cap_checkpoint_restore",
};

static int get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capget, &h, d) ? -errno : 0;
}

int caps_drop(bool low_port, char *err, size_t len)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	uint64_t keep = 1ULL << CAP_DAC_READ_SEARCH | 1ULL << CAP_SYS_PTRACE |
			1ULL << CAP_SYS_ADMIN | 1ULL << CAP_PERFMON | 1ULL << CAP_BPF |
			1ULL << CAP_CHECKPOINT_RESTORE |
			(low_port ? 1ULL << CAP_NET_BIND_SERVICE : 0);
	int rc = get(d);

	if (rc)
		goto fail;
	keep &= d[0].permitted | (uint64_t)d[1].permitted << 32; /* never more */
	/* The bounding set first: that needs CAP_SETPCAP, dropped next. Without
	 * it (a systemd unit's capabilities, say) whoever started the
	 * collector set the bounding set: EPERM leaves it so. */
	for (int c = 0; c < NCAPS; c++)
		if (!(keep >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL &&
		    errno != EPERM) {
			rc = -errno;
			goto fail;
		}
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d) ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) {
		rc = -errno;
		goto fail;
	}
	return 0;
fail:
	snprintf(err, len, "cannot drop capabilities: %s", strerror(-rc));
	return rc;
}

void caps_write_json(struct buf *out)
{
	struct __user_cap_data_struct d[2];
	uint64_t eff;
	bool first = true;

	if (get(d)) {
		buf_puts(out, "null");
		return;
	}
	eff = d[0].effective | (uint64_t)d[1].effective << 32;
	buf_puts(out, "[");
	for (int c = 0; c < NCAPS; c++) {
		if (!(eff >> c & 1))
			continue;
		if (c < (int)(sizeof(names) / sizeof(names[0])) && names[c])
			buf_printf(out, "%s\"%s\"", first ? "" : ",", names[c]);
		else
			buf_printf(out, "%s\"cap_%d\"", first ? "" : ",", c);
		first = false;
	}
	buf_puts(out, "]");
}
