/* SPDX-License-Identifier: MIT */
/* Least privilege: the capabilities kept once everything is loaded. */
#ifndef AET_CAPS_H
#define AET_CAPS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Drops every capability of the calling thread (and of the threads it
 * starts later) but those the collector still needs: to read the maps
 * (CAP_BPF), to attach again when the emergency switch turns it on
 * (CAP_BPF, CAP_PERFMON, CAP_CHECKPOINT_RESTORE for /proc/PID/map_files,
 * and CAP_SYS_ADMIN: this kernel creates a uprobe through perf_event_open
 * for CAP_SYS_ADMIN only, CAP_PERFMON was not enough when tried),
 * to read the target's /proc files and libraries (CAP_SYS_PTRACE,
 * CAP_DAC_READ_SEARCH), and CAP_NET_BIND_SERVICE when low_port. The
 * bounding set loses the others too. Returns 0 or -errno with err. */
int caps_drop(bool low_port, char *err, size_t len);

/* Appends the effective capabilities as a JSON array of names. */
void caps_write_json(struct buf *out);

#endif /* AET_CAPS_H */
