/* SPDX-License-Identifier: MIT */
/* What this host and the target offer the collector: the facts the table of
 * user/privs.h is read against, asked of the kernel, never guessed from its
 * version where it can answer. */
#ifndef AET_HOST_H
#define AET_HOST_H

#include <stdbool.h>

#include "config.h"
#include "privs.h"

#define TRACEFS "/sys/kernel/tracing"

/* Fills f: the effective capabilities and which conditions of the table hold
 * for cfg here (the target's library: host_library_fact(), once found).
 * full (--check): also whether uprobes need CAP_SYS_ADMIN when the
 * collector holds it, by trying without it. */
void host_facts(struct priv_facts *f, const struct config *cfg, bool full);

/* Whether a directory above lib_path, or the file, is closed to the
 * collector's user (WHEN_LIBRARY_CLOSED). */
void host_library_fact(struct priv_facts *f, const char *lib_path);

/* Whether this kernel creates a uprobe for CAP_PERFMON or for CAP_SYS_ADMIN
 * only, tried on a function of the collector itself: 1 for CAP_SYS_ADMIN
 * only, 0 not, -1 when it cannot tell (no uprobe PMU, or not the
 * capabilities to try). drop: when the collector holds CAP_SYS_ADMIN, try
 * with it lowered for a moment. */
int host_uprobes_need_admin(bool drop);

/* Whether BTF tracepoints (tp_btf) load here: the kernel's BTF is in
 * sysfs and a program on one loads. Else the families take raw ones.
 * Asked once. */
bool host_tp_btf(void);

/* Whether tracefs is mounted on TRACEFS. */
bool host_tracefs_mounted(void);

/* Mounts tracefs on TRACEFS unless its syscall events are there already
 * (per-syscall tracepoints are found by their id in it, and these hosts
 * do not mount it at boot); *mounted tells whether this call did. Returns
 * 0 or -errno with err. */
int host_mount_tracefs(bool *mounted, char *err, size_t len);

#endif /* AET_HOST_H */
