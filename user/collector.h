/* SPDX-License-Identifier: MIT */
/* The collector's state: the target, the probe families, the emergency
 * switch; what the main loop does each tick. The endpoints read it
 * (user/endpoints.c). */
#ifndef AET_COLLECTOR_H
#define AET_COLLECTOR_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "family.h"
#include "follow.h"
#include "privs.h"
#include "shared.h"
#include "spans.h"
#include "target.h"

#include "version.h"

struct collector {
	/* Guards everything below against the HTTP threads: they read under
	 * it, shared, so that two scrapes render at once; the main thread
	 * changes under it, exclusive. */
	pthread_rwlock_t lock;
	const struct config *cfg;
	struct target target;	 /* the current one: probes and SQLite attached through it */
	bool have_target;	 /* false in follow mode until a process has the library */
	bool following;		 /* follow mode: --comm or --exe */
	struct follow follow;	 /* then the processes matched */
	bool have_lib;		 /* the uprobes have a probe library: */
	char lib_path[PATH_MAX]; /* its path (through a live target's /proc/PID/root) */
	dev_t lib_dev;		 /* and its identity */
	ino_t lib_ino;
	struct shared *shared;	 /* the maps every family shares */
	struct spans *spans;	 /* the span pipeline */
	void *fam[PFAM_MAX];	 /* each family's object (families[]); NULL when: */
	char why[PFAM_MAX][512]; /* it failed, why; or "" */
	struct priv_facts privs; /* what the collector had at start, and needed */
	int on_pid[PFAM_MAX];	 /* follow mode: the target each family with a retarget is on */
	double started_at;	 /* CLOCK_REALTIME seconds */
	double started_mono;	 /* CLOCK_MONOTONIC seconds */
	double heartbeat;	 /* CLOCK_MONOTONIC seconds of the last tick */
	_Atomic double
		scrape_seconds; /* duration of the last /metrics (written under a shared lock) */
	_Atomic uint64_t scrapes;
	_Atomic size_t metrics_len; /* the size of the last /metrics: room for the next */
	bool enabled;		    /* the emergency switch: every probe attached */
	bool threads_started;	    /* the families' threads (family_ops.start) */
	atomic_int wanted;	    /* WANT_*: what POST /control/... asked last */
	char disabled_by[256];	    /* when not: what turned it off, or why enabling failed */
};

void collector_init(struct collector *c, const struct config *cfg);
/* The main loop's periodic work: sample the target, beat the heart. */
void collector_tick(struct collector *c);
/* The main loop is alive (/health): at each tick, and once serving. */
void collector_beat(struct collector *c);
void collector_fini(struct collector *c);
/* Follow mode, at start and every tick: lists the processes matched since,
 * and when the current target is gone, attaches to the newest running one
 * that has loaded the probe library. Main thread, c->lock held. */
void collector_follow(struct collector *c);
/* Puts the uprobes (when enabled) on the probe library at path, unless
 * they are on that file already. Returns 0 or -errno with err. */
int collector_set_library(struct collector *c, const char *path, char *err, size_t len);
/* What family f is opened and attached with, now. */
struct family_env collector_env(const struct collector *c);
/* Attaches family f when the switch is on and it has what it attaches to
 * (the probe library, a live target): the one place that decides. Returns
 * 0 or -errno with err. */
int collector_attach(struct collector *c, int f, char *err, size_t len);
/* Detaches, drains the span ring, frees every family. */
void collector_free_families(struct collector *c);
/* Follow mode, once loaded: lists the matching processes running, attaches
 * to the newest. Returns 0 or -errno with err. */
int collector_start_following(struct collector *c, char *err, size_t len);
/* Starts the threads of the families loaded, and from now on of each
 * family when it is opened (family_ops.start). Returns 0 or -errno. */
int collector_start_threads(struct collector *c, char *err, size_t len);
/* Follows the running processes pid forked before the process programs
 * were attached (their later forks those programs follow): a child of a
 * long-running target may hold descriptors it inherited. Returns how many,
 * or -errno. */
int collector_follow_descendants(struct collector *c, int pid);

/* The emergency switch (SIGUSR1/SIGUSR2, POST /control/...): attaches or
 * detaches every uprobe and tracepoint; by says who asked. Main thread. */
void collector_set_enabled(struct collector *c, bool on, const char *by);

/* POST /control/... stores c->wanted and wakes the main thread with it. */
#define CONTROL_SIGNAL SIGRTMIN
enum { WANT_NONE, WANT_OFF, WANT_ON };

#endif /* AET_COLLECTOR_H */
