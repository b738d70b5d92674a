// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "custom.h"
#include "log.h"
#include "probes.h"
#include "procfs.h"
#include "procs.h"

void collector_init(struct collector *c, const struct config *cfg)
{
	pthread_rwlockattr_t ra;

	memset(c, 0, sizeof(*c));
	/* A tick waits for the scrapes under way only, not for a stream of
	 * them: glibc's default lets readers in ahead of a waiting writer. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&c->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	c->cfg = cfg;
	c->started_at = clock_seconds(CLOCK_REALTIME);
	c->started_mono = c->heartbeat = clock_seconds(CLOCK_MONOTONIC);
	c->enabled = !cfg->start_disabled;
	if (!c->enabled)
		snprintf(c->disabled_by, sizeof(c->disabled_by), "AET_METRICS_ENABLED=%s",
			 getenv("AET_METRICS_ENABLED") ?: "false");
}

static void on_descendant(int pid, void *ctx)
{
	struct collector *c = ctx;

	shared__follow(c->shared, pid);
}

int collector_follow_descendants(struct collector *c, int pid)
{
	int n = c->fam[PFAM_PROCESSES] ? procfs_descendants(pid, on_descendant, c) : 0;

	if (n > 0)
		log_info("following %d running processes pid %d forked before\n", n, pid);
	return n;
}

static void on_found(int pid, void *ctx)
{
	struct collector *c = ctx;

	shared__follow(c->shared, pid);
	log_info("following pid %d (matches %s)\n", pid, c->follow.comm ?: c->follow.exe);
	collector_follow_descendants(c, pid);
}

static void on_matched(int pid, void *ctx)
{
	struct collector *c = ctx;

	if (follow_add(&c->follow, pid) == 1)
		log_info("following pid %d (matches %s)\n", pid, c->follow.comm ?: c->follow.exe);
}

/* Makes process pid the current target: the uprobes go to its probe
 * library when it is another file, SQLite's to its pid. Returns 0, or
 * -ENOENT while it has not loaded the library yet. */
static int adopt(struct collector *c, int pid)
{
	char err[512] = "";
	struct target t;
	int rc;

	rc = target_open(&t, pid, probes_wanted(c->cfg), err, sizeof(err));
	if (rc)
		return rc;
	rc = t.lib_path[0] ? collector_set_library(c, t.lib_path, err, sizeof(err)) : 0;
	if (rc) {
		log_warn("pid %d: %s\n", pid, err);
		return rc;
	}
	c->target = t;
	c->have_target = true;
	log_info("attached to pid %d (%s)\n", pid, t.comm);
	return 0;
}

/* A family on the target's own libraries follows the current target, once
 * it has loaded them (maybe after the probe library: tried every tick till
 * then). */
static void follow_target(struct collector *c, int f)
{
	struct family_env env = collector_env(c);
	char err[256] = "";
	int rc = 0;

	if (c->on_pid[f] == c->target.pid)
		return;
	if (c->fam[f]) {
		rc = families[f]->retarget(c->fam[f], &env, c->enabled, err, sizeof(err));
	} else {
		c->fam[f] = families[f]->open(&env, &rc, err, sizeof(err));
		rc = rc ?: collector_attach(c, f, err, sizeof(err));
		if (!rc && c->threads_started && families[f]->start)
			rc = families[f]->start(c->fam[f], err, sizeof(err));
	}
	if (!rc) {
		c->on_pid[f] = c->target.pid;
		c->why[f][0] = '\0';
		log_info("%s of pid %d observed\n", probe_family_names[f], c->target.pid);
	} else if (strcmp(err, c->why[f])) {
		snprintf(c->why[f], sizeof(c->why[f]), "%s", err);
		if (rc != -ENOENT)
			log_warn("%s\n", err);
	}
}

int collector_start_threads(struct collector *c, char *err, size_t len)
{
	int rc = 0;

	c->threads_started = true;
	for (int f = 0; f < PFAM_MAX && !rc; f++)
		if (c->fam[f] && families[f]->start)
			rc = families[f]->start(c->fam[f], err, len);
	return rc;
}

void collector_follow(struct collector *c)
{
	long lost = procs__matched(c->fam[PFAM_PROCESSES], on_matched, c);

	/* The ring was full: what it missed is still running. */
	if (lost && (lost = follow_scan(&c->follow, on_found, c)) < 0)
		log_warn("cannot scan /proc: %s\n", strerror(-lost));
	follow_sample(&c->follow);
	for (int i = c->follow.n - 1; i >= 0 && !(c->have_target && c->target.alive); i--)
		if (c->follow.procs[i].alive)
			adopt(c, c->follow.procs[i].pid);
	for (int f = 0; f < PFAM_MAX && c->have_target && c->target.alive; f++)
		if (families[f]->retarget && !(c->cfg->disable & 1u << f))
			follow_target(c, f);
}

/* The custom family on the library just set: a library of probe ABI
 * version 1 has not its functions, which /status tells. */
static void attach_custom(struct collector *c)
{
	char err[sizeof(c->why[PFAM_CUSTOM])] = "";

	if (!c->fam[PFAM_CUSTOM])
		return;
	if (!collector_attach(c, PFAM_CUSTOM, err, sizeof(err))) {
		c->why[PFAM_CUSTOM][0] = '\0';
		return;
	}
	if (strcmp(err, c->why[PFAM_CUSTOM]))
		log_warn("%s\n", err);
	snprintf(c->why[PFAM_CUSTOM], sizeof(c->why[PFAM_CUSTOM]), "%s", err);
}

int collector_set_library(struct collector *c, const char *path, char *err, size_t len)
{
	struct stat st;
	int rc;

	if (stat(path, &st)) {
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (c->have_lib && st.st_dev == c->lib_dev && st.st_ino == c->lib_ino)
		return 0; /* the uprobes are on this file already */
	if (c->fam[PFAM_PROBES])
		probes_family.detach(c->fam[PFAM_PROBES]);
	if (c->fam[PFAM_CUSTOM])
		custom_family.detach(c->fam[PFAM_CUSTOM]);
	snprintf(c->lib_path, sizeof(c->lib_path), "%s", path);
	c->lib_dev = st.st_dev;
	c->lib_ino = st.st_ino;
	c->have_lib = true;
	rc = collector_attach(c, PFAM_PROBES, err, len);
	if (rc)
		c->have_lib = false;
	else
		attach_custom(c);
	return rc;
}

struct family_env collector_env(const struct collector *c)
{
	return (struct family_env){
		.cfg = c->cfg,
		.shared = c->shared,
		.target = &c->target,
		.lib_path = c->have_lib ? c->lib_path : NULL,
	};
}

int collector_attach(struct collector *c, int f, char *err, size_t len)
{
	struct family_env env = collector_env(c);

	if (!c->enabled || !c->fam[f])
		return 0;
	/* Follow mode: those on the target's libraries wait for a live one. */
	if (families[f]->retarget && !(c->have_target && c->target.alive))
		return 0;
	return families[f]->attach(c->fam[f], &env, err, len);
}

void collector_free_families(struct collector *c)
{
	for (int f = 0; f < PFAM_MAX; f++)
		if (c->fam[f])
			families[f]->detach(c->fam[f]);
	/* After every program is detached: the last spans are in the ring. */
	spans__free(c->spans);
	for (int f = 0; f < PFAM_MAX; f++)
		families[f]->free(c->fam[f]);
	shared__free(c->shared);
}

int collector_start_following(struct collector *c, char *err, size_t len)
{
	/* The exec program is attached: a process starting now is matched
	 * by it, one running already by this scan. */
	int rc = follow_scan(&c->follow, on_found, c);

	if (rc < 0) {
		snprintf(err, len, "cannot scan /proc: %s", strerror(-rc));
		return rc;
	}
	collector_follow(c);
	return 0;
}

/* The target is gone: says so, and how it ended when a process program saw. */
static void target_ended(struct collector *c)
{
	char how[96];
	int status = -1;

	procs__exit_status(c->fam[PFAM_PROCESSES], c->target.pid, &status);
	target_describe_end(status, how, sizeof(how));
	log_info("target pid %d (%s) %s\n", c->target.pid, c->target.comm, how);
}

void collector_beat(struct collector *c)
{
	pthread_rwlock_wrlock(&c->lock);
	c->heartbeat = clock_seconds(CLOCK_MONOTONIC);
	pthread_rwlock_unlock(&c->lock);
}

void collector_tick(struct collector *c)
{
	bool was_alive = c->target.alive;

	pthread_rwlock_wrlock(&c->lock);
	if (c->have_target)
		target_sample(&c->target);
	if (was_alive && !c->target.alive)
		target_ended(c);
	if (c->following)
		collector_follow(c);
	probes__expire(c->fam[PFAM_PROBES], (uint64_t)c->cfg->open_ttl_s * NSEC_PER_SEC);
	pthread_rwlock_unlock(&c->lock);
	collector_beat(c);
}

/* Every family, when the switch turns on. In follow mode, a library whose
 * process is gone is left to the next process adopted. */
static int attach_all(struct collector *c, char *err, size_t len)
{
	int rc = 0;

	for (int f = 0; f < PFAM_MAX && !rc; f++) {
		rc = collector_attach(c, f, err, len);
		if (rc && f == PFAM_PROBES && c->following) {
			log_warn("%s: attached with the next process\n", err);
			c->have_lib = false;
			rc = 0;
		}
		if (rc && f == PFAM_CUSTOM && !(c->cfg->require & 1u << f)) {
			log_warn("%s\n", err); /* a library of probe ABI version 1 */
			snprintf(c->why[f], sizeof(c->why[f]), "%s", err);
			rc = 0;
		}
	}
	for (int f = 0; f < PFAM_MAX && c->following && !(c->have_target && c->target.alive); f++)
		c->on_pid[f] = 0;
	return rc;
}

void collector_set_enabled(struct collector *c, bool on, const char *by)
{
	char err[256] = "";
	int rc = 0;

	pthread_rwlock_wrlock(&c->lock);
	if (on == c->enabled) {
		pthread_rwlock_unlock(&c->lock);
		return;
	}
	c->enabled = on;
	rc = on ? attach_all(c, err, sizeof(err)) : 0;
	if (!on || rc) {
		for (int f = PFAM_MAX - 1; f >= 0; f--)
			if (c->fam[f])
				families[f]->detach(c->fam[f]);
	}
	c->enabled = on && !rc;
	snprintf(c->disabled_by, sizeof(c->disabled_by), "%s%s", rc ? "enabling failed: " : "",
		 rc	      ? err
		 : c->enabled ? ""
			      : by);
	pthread_rwlock_unlock(&c->lock);
	if (rc)
		log_warn("%s (still disabled)\n", c->disabled_by);
	else
		log_info("%s by %s\n",
			 on ? "enabled: every probe attached" : "disabled: every probe detached",
			 by);
}

void collector_fini(struct collector *c)
{
	follow_free(&c->follow);
	pthread_rwlock_destroy(&c->lock);
}
