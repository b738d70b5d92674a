/* SPDX-License-Identifier: MIT */
/* Inside struct probes: shared by probes.c (lifecycle) and probes_metrics.c. */
#ifndef AET_PROBES_PRIV_H
#define AET_PROBES_PRIV_H

#include <stdint.h>

#include "buf.h"
#include "mapdump.h"
#include "shared.h"
#include "probes.skel.h"
#include "probes_maps.h"

#define NPROBES PROBES_MAX

struct probe_def {
	const char *sym;
	struct bpf_program *prog;
	struct bpf_link **link;
};

struct probes {
	struct probes_bpf *skel;
	struct probe_def defs[NPROBES];
	struct shared *shared; /* the label sets (series) are kept there */
	struct mapped task_hist, agent_hist, event_counts, open_slots;
	__u64 expired[KIND_MAX]; /* begins expired by probes__expire(), by kind */
	/* Where in each probe function the uprobes sit: the nop5 (offset 0)
	 * or the push %rbp after it (5), and the cost of a hit on each. */
	size_t spot;
	double spot_ns[2]; /* nop5, push; 0 when not measured */
	const char *spot_by;
};

/* Open begins of kind (enum open_kind), or of every kind when kind < 0. */
long probes__open_count(const struct probes *p, int kind);

/* What probes.h declares for the collector, defined in probes_metrics.c. */
void probes__expire(struct probes *p, uint64_t ttl_ns);

/* Appends the exposition of every metric family the maps hold (p: struct
 * probes). Returns 0 or -errno. */
int probes__write_metrics(void *p, struct buf *out);

#endif /* AET_PROBES_PRIV_H */
