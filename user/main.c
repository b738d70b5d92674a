// SPDX-License-Identifier: MIT
/*
 * aet-collector: observes a running AET process from the kernel and serves
 * its metrics. Lifecycle: parse, find the target, load and attach, serve,
 * detach on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <linux/types.h>

#include "caps.h"
#include "collector.h"
#include "log.h"
#include "probes_maps.h"
#include "variant.h"

#define EXIT_START_FAILED 2
#define TICK_SECONDS	  1

/* libbpf explains its failures at length; our own line names the cause, so
 * its output is shown with --log-level debug. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	if (log_level < LOG_DEBUG)
		return 0;
	fputs("aet-collector: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

/* A family that failed to load or attach (err says why, rc = -errno):
 * fatal when required, else reported in /status and /metrics. Returns rc
 * or 0. */
static int family_failed(struct collector *c, int fam, int rc, char *err, size_t len)
{
	snprintf(c->why[fam], sizeof(c->why[fam]), "%s", err);
	if (!(c->cfg->require & 1u << fam))
		return 0;
	snprintf(err + strlen(err), len - strlen(err), " (--require %s)", probe_family_names[fam]);
	return rc;
}

static int check_btf(const struct config *cfg, char *err, size_t len)
{
	const char *path = cfg->btf_path ? cfg->btf_path : "/sys/kernel/btf/vmlinux";

	if (!access(path, R_OK))
		return 0;
	if (cfg->btf_path)
		snprintf(err, len, "cannot read BTF file %s: %s", path, strerror(errno));
	else
		snprintf(err, len,
			 "this kernel has no BTF (%s: %s): use a kernel built with "
			 "CONFIG_DEBUG_INFO_BTF=y, or pass --btf FILE",
			 path, strerror(errno));
	return -ENOENT;
}

/* Waits for SIGTERM or SIGINT, ticking every TICK_SECONDS; SIGUSR1 and
 * SIGUSR2 are the emergency switch, CONTROL_SIGNAL says that POST /control/...
 * asked for it. The signals are blocked in every thread and taken here
 * synchronously: no handler runs. */
static void serve(struct collector *c, const sigset_t *sigs)
{
	/* Follow mode looks for new processes four times a tick: a restarted
	 * AET is seen well within a second. */
	const struct timespec tick = { .tv_sec = TICK_SECONDS },
			      quarter = { .tv_nsec = TICK_SECONDS * 250000000L };
	double next_tick = clock_seconds(CLOCK_MONOTONIC) + TICK_SECONDS;
	int sig;

	for (;;) {
		sig = sigtimedwait(sigs, NULL, c->following ? &quarter : &tick);
		if (sig == SIGTERM || sig == SIGINT)
			return;
		if (sig == SIGUSR1 || sig == SIGUSR2)
			collector_set_enabled(c, sig == SIGUSR2,
					      sig == SIGUSR2 ? "SIGUSR2" : "SIGUSR1");
		if (sig == CONTROL_SIGNAL) {
			int want = atomic_exchange(&c->wanted, WANT_NONE);

			if (want != WANT_NONE)
				collector_set_enabled(c, want == WANT_ON,
						      want == WANT_ON ? "POST /control/enable"
								      : "POST /control/disable");
		}
		if (c->following && clock_seconds(CLOCK_MONOTONIC) < next_tick) {
			pthread_mutex_lock(&c->lock);
			collector_follow(c);
			pthread_mutex_unlock(&c->lock);
			continue;
		}
		next_tick = clock_seconds(CLOCK_MONOTONIC) + TICK_SECONDS;
		collector_tick(c);
	}
}

int main(int argc, char **argv)
{
	struct http *http = NULL;
	struct collector c;
	struct config cfg;
	char err[512] = "";
	sigset_t sigs;
	int rc = 0;

	switch (config_parse(&cfg, argc, argv, err, sizeof(err))) {
	case CONFIG_HELP:
		fputs(config_usage, stdout);
		return 0;
	case CONFIG_VERSION:
		puts("aet-collector " AET_COLLECTOR_VERSION);
		return 0;
	case CONFIG_ERROR:
		log_err("%s\n", err);
		return EXIT_START_FAILED;
	case CONFIG_RUN:
		break;
	}
	log_level = cfg.log_level;
	libbpf_set_print(libbpf_print);

	/* Before any thread starts, so that every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	sigaddset(&sigs, CONTROL_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* A console exporter whose reader went away, a client that hung up:
	 * an error to handle, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);

	collector_init(&c, &cfg);
	rc = check_btf(&cfg, err, sizeof(err)) ?: variant_choose(cfg.bpf_build, err, sizeof(err));
	if (rc)
		goto cleanup;
	if (cfg.pid) {
		rc = target_open(&c.target, cfg.pid, err, sizeof(err));
		if (rc)
			goto cleanup;
		c.have_target = true;
	} else {
		/* Follow mode: the spans' resource names what is followed. */
		const char *name = cfg.follow_comm ?: strrchr(cfg.follow_exe, '/') + 1;

		c.following = true;
		rc = follow_init(&c.follow, cfg.follow_comm, cfg.follow_exe, cfg.max_targets, err,
				 sizeof(err));
		if (rc)
			goto cleanup;
		snprintf(c.target.comm, sizeof(c.target.comm), "%s", name);
	}
	c.spans = spans__new(&cfg, &c.target, &rc, err, sizeof(err));
	if (!c.spans)
		goto cleanup;
	if (cfg.pid) {
		rc = spans__follow(c.spans, cfg.pid);
		if (rc) {
			snprintf(err, sizeof(err), "cannot follow pid %d: %s", cfg.pid,
				 strerror(-rc));
			goto cleanup;
		}
	}
	/* Each family loads and attaches on its own; one that fails is
	 * fatal only when required. */
	c.procs = procs__new(&cfg, c.spans, &rc, err, sizeof(err));
	if (!c.procs && (rc = family_failed(&c, PFAM_PROCESSES, rc, err, sizeof(err))))
		goto cleanup;
	if (cfg.pid)
		collector_follow_descendants(&c, cfg.pid);
	c.files = files__new(&cfg, c.spans, &rc, err, sizeof(err));
	if (!c.files && (rc = family_failed(&c, PFAM_FILES, rc, err, sizeof(err))))
		goto cleanup;
	c.probes = probes__new(&cfg, c.spans, &rc, err, sizeof(err));
	if (!c.probes && (rc = family_failed(&c, PFAM_PROBES, rc, err, sizeof(err))))
		goto cleanup;
	if (c.probes && (c.have_target || cfg.follow_library)) {
		rc = collector_set_library(&c,
					   c.have_target ? c.target.lib_path : cfg.follow_library,
					   err, sizeof(err));
		if (rc) {
			probes__free(c.probes);
			c.probes = NULL;
			if ((rc = family_failed(&c, PFAM_PROBES, rc, err, sizeof(err))))
				goto cleanup;
		}
	}
	for (int fam = FAM_TASKS; fam <= FAM_AGENT && c.probes && !rc; fam++) {
		size_t n;
		int fd = probes__series_fd(c.probes, fam, &n);

		rc = spans__set_series(c.spans, fam, fd, n);
		if (rc)
			snprintf(err, sizeof(err), "cannot keep the series maps: %s",
				 strerror(-rc));
	}
	if (rc)
		goto cleanup;
	if (c.following) {
		rc = collector_start_following(&c, err, sizeof(err));
		if (rc)
			goto cleanup;
	} else {
		c.sqlite = sqlite__new(&cfg, &c.target, c.spans, &rc, err, sizeof(err));
		if (!c.sqlite && (rc = family_failed(&c, PFAM_SQLITE, rc, err, sizeof(err))))
			goto cleanup;
	}
	/* Loaded and attached: keep only what the daemon still needs, before
	 * any thread starts (capabilities are a thread's own). */
	rc = caps_drop(cfg.listen.ss_family == AF_INET6
			       ? ntohs(((struct sockaddr_in6 *)&cfg.listen)->sin6_port) < 1024
			       : ntohs(((struct sockaddr_in *)&cfg.listen)->sin_port) < 1024,
		       err, sizeof(err));
	if (rc)
		goto cleanup;
	http = http__new(&cfg, collector_routes, collector_nroutes, &c, &rc, err, sizeof(err));
	if (!http) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, sizeof(err), "cannot serve on %s: %s (choose another with --listen)",
			 cfg.listen_str, why);
		goto cleanup;
	}
	rc = spans__start(c.spans, err, sizeof(err));
	if (rc)
		goto cleanup;
	/* Warned once running: a start that fails prints one line, its cause. */
	for (int f = 0; f < PFAM_MAX; f++)
		if (c.why[f][0] && !(c.following && f == PFAM_SQLITE))
			log_warn("%s\n", c.why[f]);
	if (c.following)
		log_info("following processes %s %s: %d running; serving http://%s/metrics\n",
			 cfg.follow_comm ? "named" : "executing", c.follow.comm ?: c.follow.exe,
			 c.follow.n, cfg.listen_str);
	else if (cfg.start_disabled)
		log_info("loaded for pid %d (%s), nothing attached (%s: SIGUSR2 or POST "
			 "/control/enable attaches); serving http://%s/metrics\n",
			 cfg.pid, c.target.comm, c.disabled_by, cfg.listen_str);
	else
		log_info("attached to pid %d (%s): %d probes, %d syscall programs, %d SQLite "
			 "probes; serving http://%s/metrics\n",
			 cfg.pid, c.target.comm, probes__attached(c.probes),
			 files__attached(c.files), sqlite__attached(c.sqlite), cfg.listen_str);

	/* Loading parsed the kernel's BTF (megabytes), freed since: give it
	 * back rather than keep it in the heap for the collector's life. */
	malloc_trim(0);
	serve(&c, &sigs);
	log_info("detaching\n");

cleanup:
	http__free(http);
	sqlite__free(c.sqlite);
	probes__free(c.probes);
	files__free(c.files);
	procs__free(c.procs);
	/* After every program is detached: the last spans are in the ring. */
	spans__free(c.spans);
	collector_fini(&c);
	if (rc) {
		log_err("%s\n", err);
		return EXIT_START_FAILED;
	}
	return 0;
}
