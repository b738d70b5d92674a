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
#include "privs.h"

#define NCAPS 64 /* what the two 32-bit words of version 3 hold */

static int get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capget, &h, d) ? -errno : 0;
}

uint64_t caps_effective(void)
{
	struct __user_cap_data_struct d[2];

	return get(d) ? 0 : d[0].effective | (uint64_t)d[1].effective << 32;
}

uint64_t caps_permitted(void)
{
	struct __user_cap_data_struct d[2];

	return get(d) ? 0 : d[0].permitted | (uint64_t)d[1].permitted << 32;
}

int caps_set_effective(uint64_t eff)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	int rc = get(d);

	if (rc)
		return rc;
	d[0].effective = (uint32_t)eff;
	d[1].effective = (uint32_t)(eff >> 32);
	return syscall(SYS_capset, &h, d) ? -errno : 0;
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

void caps_write_json(uint64_t caps, struct buf *out)
{
	bool first = true;

	buf_puts(out, "[");
	for (int c = 0; c < NCAPS; c++) {
		if (!(caps >> c & 1))
			continue;
		if (priv_cap_name(c))
			buf_printf(out, "%s\"%s\"", first ? "" : ",", priv_cap_name(c));
		else
			buf_printf(out, "%s\"cap_%d\"", first ? "" : ",", c);
		first = false;
	}
	buf_puts(out, "]");
}
