/* SPDX-License-Identifier: MIT */
/* The uprobes on the AET probe functions (bpf/probes.bpf.c) and their maps. */
#ifndef AET_PROBES_USER_H
#define AET_PROBES_USER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "spans.h"
#include "target.h"

struct probes;

/* Opens, sizes and loads the programs; they count the processes marked in
 * the shared targets map (spans__follow()). probes__attach() attaches
 * them. Returns NULL with err naming the cause (and *errp = -errno). The
 * functions below take NULL: a family that failed to load. */
struct probes *probes__new(const struct config *cfg, const struct spans *sp, int *errp, char *err,
			   size_t len);
void probes__free(struct probes *p);

/* The emergency switch, as files__attach(); and follow mode, attaching to
 * the probe library of another process. */
int probes__attach(struct probes *p, const char *lib_path, char *err, size_t len);
void probes__detach(struct probes *p);

/* A function of the collector whose first bytes are the probe functions'
 * own (nop5; push %rbp): the uprobe spot is measured on it. */
void aet_spot_calibrate(void);

/* Where the uprobes sit ("nop5" or "push") and the cost of a hit measured
 * at each spot (0: not measured); by says what decided. NULL for NULL. */
const char *probes__spot(const struct probes *p, double *nop5_ns, double *push_ns, const char **by);

/* Number of probes, and how many are attached. */
int probes__count(const struct probes *p);
int probes__attached(const struct probes *p);
/* Each probe's symbol and whether it is attached (0 for all when p is NULL),
 * into arrays of PROBES_MAX; returns how many. */
#define PROBES_MAX 10
int probes__each_attached(const struct probes *p, const char **syms, double *attached);

/* The label sets of one family, copied out of its series map. */
struct labels2;
struct series_set {
	struct labels2 *labels; /* by series index; unused ones zeroed */
	bool *used;
	size_t n;
	size_t found; /* entries used */
	int err;
};

/* Reads the series map fd (n entries at most). Returns 0 or -errno. */
int series_read(int fd, size_t n, struct series_set *set);
void series_free(struct series_set *set); /* and zeroes it */

/* The series map of enum bounded_family family (FAM_TASKS, FAM_AGENT), and
 * its size in *n. */
int probes__series_fd(const struct probes *p, int family, size_t *n);

/* Frees the slots of begins open for longer than ttl_ns (0: never), or
 * begun by a process no longer followed (sp: it exited), as their end
 * would, and counts them; an end that comes after all counts as unmatched.
 * Called from the main loop's tick. */
void probes__expire(struct probes *p, uint64_t ttl_ns, const struct spans *sp);

/* Appends the exposition of every family the maps hold. Returns 0 or -errno. */
int probes__write_metrics(struct probes *p, struct buf *out);

/* Appends JSON members "probes", "programs" and "maps" (no braces). */
void probes__write_status(struct probes *p, struct buf *out);

#endif /* AET_PROBES_USER_H */
