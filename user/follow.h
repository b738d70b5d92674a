/* SPDX-License-Identifier: MIT */
/*
 * Follow mode (--comm NAME, --exe PATH): the AET processes matched, each
 * known by (pid, start time) so that a reused pid is not taken for the old
 * process. The exec and rename programs of bpf/procs.bpf.c match new ones;
 * this list is what user space knows of them: aet_target_up{pid}.
 */
#ifndef AET_FOLLOW_H
#define AET_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

struct followed {
	int pid;
	uint64_t start_time; /* ticks after boot */
	bool alive;
};

struct follow {
	const char *comm; /* --comm, or NULL */
	const char *exe;  /* --exe, or NULL */
	dev_t dev;	  /* of the --exe file */
	ino_t ino;
	struct followed *procs; /* the newest last */
	int n, max;
	uint64_t untracked; /* matched while max processes ran: observed, not listed */
};

/* Returns 0, or -errno with err naming the cause (an --exe that is not
 * there). */
int follow_init(struct follow *fw, const char *comm, const char *exe, int max, char *err,
		size_t len);
void follow_free(struct follow *fw);

/* Lists pid, known by its start time now. Returns 1 when added, 0 when
 * already listed (or gone), -ENOSPC when max processes run (counted in
 * untracked). A gone process is forgotten to make room. */
int follow_add(struct follow *fw, int pid);

/* Calls found() for every running process that matches and is not listed
 * (then lists it). Returns how many, or -errno when /proc cannot be read. */
int follow_scan(struct follow *fw, void (*found)(int pid, void *ctx), void *ctx);

/* Re-reads each listed process: running, or gone (exited, a zombie, or its
 * pid now names another process). */
void follow_sample(struct follow *fw);

/* Appends the JSON member "follow" (no braces around it). */
void follow_write_status(const struct follow *fw, struct buf *out);

#endif /* AET_FOLLOW_H */
