// SPDX-License-Identifier: MIT
/*
 * aet-collector: observes a running AET process from the kernel and serves
 * its metrics. Lifecycle: parse, find the target, load and attach, serve,
 * detach on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <linux/types.h>

#include "caps.h"
#include "check.h"
#include "collector.h"
#include "endpoints.h"
#include "genai_prices.h"
#include "host.h"
#include "log.h"
#include "start.h"
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

	/* The seconds spent loading are not a stall of the main loop. */
	collector_beat(c);
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
			pthread_rwlock_wrlock(&c->lock);
			collector_follow(c);
			pthread_rwlock_unlock(&c->lock);
			continue;
		}
		next_tick = clock_seconds(CLOCK_MONOTONIC) + TICK_SECONDS;
		collector_tick(c);
	}
}

/* Everything up to serving: privileges, the kernel, the target, the
 * families; then only what the daemon still needs is kept. */
static int start(struct collector *c, struct http **http, char *err, size_t len)
{
	const struct config *cfg = c->cfg;
	struct priv_facts *pf = &c->privs;
	int rc;

	/* What the required families lack, all in one line, before anything
	 * is opened; the others are told when their turn comes. */
	host_facts(pf, cfg, false);
	rc = check_privs(pf, PRIV_CORE | PRIV_SERVE | cfg->require, "the collector", err, len)
		     ?: check_file_roots(cfg, err, len);
	if (rc)
		return rc;
	/* The address before seconds of loading: one in use is said at once. */
	*http = http__listen(cfg, &rc, err, len);
	rc = rc ?: check_btf(cfg, err, len) ?: variant_choose(cfg->bpf_build, err, len) ?:
		    open_target(c, pf, err, len) ?: load_families(c, pf, err, len);
	if (rc)
		return rc;
	/* Loaded and attached: keep only what the daemon still needs, before
	 * any thread starts (capabilities are a thread's own). */
	rc = caps_drop(pf->when[WHEN_LOW_PORT], err, len) ?: collector_start_threads(c, err, len)
		     ?: http__start(*http, cfg, collector_routes, collector_nroutes, c, err, len);
	return rc ?: spans__start(c->spans, err, len);
}

static int attached(const struct collector *c, int f)
{
	return c->fam[f] ? families[f]->attached(c->fam[f]) : 0;
}

/* One line once running: what is attached, where it is served. */
static void announce(struct collector *c)
{
	const struct config *cfg = c->cfg;

	/* Warned once running: a start that fails prints one line, its cause. */
	for (int f = 0; f < PFAM_MAX; f++)
		if (cfg->disable & 1u << f)
			log_info("%s: %s\n", probe_family_names[f], c->why[f]);
		else if (c->why[f][0] && !(c->following && f == PFAM_SQLITE))
			log_warn("%s\n", c->why[f]);
	if (c->following)
		log_info("following processes %s %s: %d running; serving http://%s/metrics\n",
			 cfg->follow_comm ? "named" : "executing", c->follow.comm ?: c->follow.exe,
			 c->follow.n, cfg->listen_str);
	else if (cfg->start_disabled)
		log_info("loaded for pid %d (%s), nothing attached (%s: SIGUSR2 or POST "
			 "/control/enable attaches); serving http://%s/metrics\n",
			 cfg->pid, c->target.comm, c->disabled_by, cfg->listen_str);
	else
		log_info("attached to pid %d (%s): %d probes, %d syscall programs, %d SQLite "
			 "probes; serving http://%s/metrics\n",
			 cfg->pid, c->target.comm, attached(c, PFAM_PROBES),
			 attached(c, PFAM_FILES), attached(c, PFAM_SQLITE), cfg->listen_str);
}

/* --gen-ai-prices: read once, before anything is loaded, so that a wrong
 * line stops the start with its file and number. Returns 0 or -EINVAL. */
static int load_prices(struct config *cfg, struct genai_prices **prices, char *err, size_t len)
{
	char why[512];

	*prices = NULL;
	if (!cfg->gen_ai_prices_path)
		return 0;
	*prices = genai_prices_load(cfg->gen_ai_prices_path, why, sizeof(why));
	if (!*prices) {
		snprintf(err, len, "--gen-ai-prices %s", why);
		return -EINVAL;
	}
	cfg->gen_ai_prices = *prices;
	return 0;
}

/* The signals serve() takes, blocked in every thread; SIGPIPE ignored: a
 * console exporter whose reader went away, a client that hung up, is an
 * error to handle, not a reason to die. */
static void block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGUSR1);
	sigaddset(sigs, SIGUSR2);
	sigaddset(sigs, CONTROL_SIGNAL);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	struct genai_prices *prices;
	struct http *http = NULL;
	struct collector c;
	struct config cfg;
	char err[1024] = "";
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
	if (load_prices(&cfg, &prices, err, sizeof(err))) {
		log_err("%s\n", err);
		return EXIT_START_FAILED;
	}
	if (cfg.check) {
		rc = check_run(&cfg);
		genai_prices_free(prices);
		return rc;
	}

	/* Before any thread starts, so that every thread inherits the mask. */
	block_signals(&sigs);
	/* A scrape renders in its connection's thread, and a thread that
	 * starts before the previous connection's has exited takes a malloc
	 * arena of its own, which would keep what a scrape allocated (megabytes
	 * at 100k series) for the collector's life. Above this size every
	 * block is mapped and unmapped on free, wherever it was taken; left
	 * alone, glibc raises the threshold to the largest block freed. */
	mallopt(M_MMAP_THRESHOLD, 256 << 10);

	collector_init(&c, &cfg);
	rc = start(&c, &http, err, sizeof(err));
	if (!rc) {
		announce(&c);
		/* Loading parsed the kernel's BTF (megabytes), freed since: give
		 * it back rather than keep it in the heap for the collector's life. */
		malloc_trim(0);
		serve(&c, &sigs);
		log_info("detaching\n");
	}
	http__free(http);
	collector_free_families(&c);
	collector_fini(&c);
	genai_prices_free(prices);
	if (rc) {
		log_err("%s\n", err);
		return EXIT_START_FAILED;
	}
	return 0;
}
