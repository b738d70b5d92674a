/* SPDX-License-Identifier: MIT */
/*
 * The uprobes on the AET probe functions (bpf/probes.bpf.c) and their maps:
 * the probes family. It is attached to the probe library at env->lib_path;
 * its programs count the processes marked in the shared targets map, and
 * their label sets are read through the shared series (user/shared.h).
 */
#ifndef AET_PROBES_USER_H
#define AET_PROBES_USER_H

#include <stddef.h>
#include <stdint.h>

#include "family.h"
#include "probes_maps.h"

struct probes;

extern const struct family_ops probes_family;

/* A function of the collector whose first bytes are the probe functions'
 * own (nop5; push %rbp): the uprobe spot is measured on it. */
void aet_spot_calibrate(void);

/* The offset in each probe function where the uprobes sit, as last chosen
 * (0: the NOP): the custom family's go there too. */
size_t probes__spot_offset(void);

/* Where the uprobes sit ("nop5" or "push") and the cost of a hit measured
 * at each spot (0: not measured); by says what decided. NULL for NULL. */
const char *probes__spot(const struct probes *p, double *nop5_ns, double *push_ns, const char **by);

/* Each probe's symbol and whether it is attached (0 for all when p is NULL),
 * into arrays of PROBES_MAX (include/probes_maps.h); returns how many. */
int probes__each_attached(const struct probes *p, const char **syms, double *attached);

/* Frees the slots of begins open for longer than ttl_ns (0: never), or
 * begun by a process no longer followed (it exited), as their end would,
 * and counts them; an end that comes after all counts as unmatched.
 * Called from the main loop's tick. */
void probes__expire(struct probes *p, uint64_t ttl_ns);

#endif /* AET_PROBES_USER_H */
