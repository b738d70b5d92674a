/* SPDX-License-Identifier: MIT */
/* Least privilege: the capabilities kept once everything is loaded. */
#ifndef AET_CAPS_H
#define AET_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Drops every capability of the calling thread (and of the threads it
 * starts later) but those the collector still needs, the rows of the table
 * of user/privs.h that attaching again calls for (the emergency switch,
 * follow mode's next process): CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (a
 * uprobe; CAP_SYS_ADMIN grants what the other two do),
 * CAP_CHECKPOINT_RESTORE (/proc/PID/map_files of a replaced library),
 * CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (the target's /proc files and
 * libraries, tracefs), and CAP_NET_BIND_SERVICE when low_port. Never more
 * than the permitted set; the bounding set loses the others too. Returns 0
 * or -errno with err. */
int caps_drop(bool low_port, char *err, size_t len);

/* The calling thread's effective and permitted sets, a bit per CAP_...
 * (0 when they cannot be read). */
uint64_t caps_effective(void);
uint64_t caps_permitted(void);

/* Makes eff (within the permitted set) the calling thread's effective set.
 * Returns 0 or -errno. */
int caps_set_effective(uint64_t eff);

/* Appends the capabilities caps as a JSON array of names. */
void caps_write_json(uint64_t caps, struct buf *out);

#endif /* AET_CAPS_H */
