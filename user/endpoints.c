// SPDX-License-Identifier: MIT
/* What the endpoints serve, rendered from the collector's state under its
 * lock, shared (several HTTP threads render at once): /metrics, /health,
 * /ready, /status, the index and /control. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "caps.h"
#include "endpoints.h"
#include "expo.h"
#include "footprint.h"
#include "probes.h"
#include "procfs.h"
#include "variant.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* /health fails when the main loop has not ticked for this long. */
#define HEARTBEAT_TIMEOUT_S 5.0

static int count_fds(void)
{
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	if (!dir)
		return -errno;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n - 1; /* the directory's own fd */
}

/* The standard process_* metrics, for the collector itself. */
static int write_process_stat(const struct collector *c, const struct proc_stat *st,
			      const struct rlimit *rl, struct buf *out)
{
	long tck = sysconf(_SC_CLK_TCK);
	const struct expo_sample ones[] = {
		{ "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
		  METRIC_COUNTER, (double)(st->utime + st->stime) / tck },
		{ "process_resident_memory_bytes", "Resident memory size in bytes.", METRIC_GAUGE,
		  (double)st->rss * sysconf(_SC_PAGESIZE) },
		{ "process_virtual_memory_bytes", "Virtual memory size in bytes.", METRIC_GAUGE,
		  (double)st->vsize },
		{ "process_start_time_seconds",
		  "Start time of the process since unix epoch in seconds.", METRIC_GAUGE,
		  c->started_at },
		{ "process_open_fds", "Number of open file descriptors.", METRIC_GAUGE,
		  count_fds() },
		{ "process_max_fds", "Maximum number of open file descriptors.", METRIC_GAUGE,
		  (double)rl->rlim_cur },
	};

	return expo_write_unlabelled(out, ones, ARRAY_SIZE(ones));
}

static int write_process(const struct collector *c, struct buf *out)
{
	struct proc_stat st;
	struct rlimit rl;
	int rc = procfs_read_stat(0, &st);

	if (rc)
		return rc;
	getrlimit(RLIMIT_NOFILE, &rl);
	return write_process_stat(c, &st, &rl, out);
}

/* aet_db_size_bytes: the knowledge base grows in these files. (It was
 * aet_kb_db_size_bytes, whose "kb" promtool reads as kilobytes: README.) */
static int write_dbs(const struct target *t, struct buf *out)
{
	static const char *const l_path[] = { "path" };
	struct metric *f = metric__new("aet_db_size_bytes",
				       "Size of each SQLite database file the target has open.",
				       METRIC_GAUGE, 1, l_path);
	int rc = f ? 0 : -ENOMEM;

	for (int i = 0; i < t->ndbs && !rc; i++) {
		const char *v[] = { t->dbs[i].path };

		rc = metric__add(f, v, (double)t->dbs[i].size);
	}
	if (!rc)
		metric__write(f, out);
	metric__free(f);
	return rc;
}

static int write_target_up(const struct collector *c, struct buf *out)
{
	static const char *const l_pid[] = { "pid" };
	struct metric *up =
		metric__new("aet_target_up",
			    "1 while the target process runs, 0 once it is gone (follow mode: "
			    "each process matched).",
			    METRIC_GAUGE, 1, l_pid);
	char pid[16];
	const char *v[] = { pid };
	int rc;

	rc = up ? 0 : -ENOMEM;
	if (c->following) {
		for (int i = 0; i < c->follow.n && !rc; i++) {
			snprintf(pid, sizeof(pid), "%d", c->follow.procs[i].pid);
			rc = metric__add(up, v, c->follow.procs[i].alive);
		}
	} else if (!rc) {
		snprintf(pid, sizeof(pid), "%d", c->target.pid);
		rc = metric__add(up, v, c->target.alive);
	}
	if (!rc)
		metric__write(up, out);
	metric__free(up);
	return rc;
}

static int write_target(const struct collector *c, struct buf *out)
{
	const struct expo_sample ones[] = {
		{ "aet_cpu_usage_percent",
		  "CPU used by the target over the last second (100 = one core).", METRIC_GAUGE,
		  c->target.cpu_percent },
		{ "aet_memory_usage_bytes", "Resident memory of the target.", METRIC_GAUGE,
		  (double)c->target.rss_bytes },
	};

	return write_target_up(c, out) ?: expo_write_unlabelled(out, ones, ARRAY_SIZE(ones)) ?:
	       write_dbs(&c->target, out);
}

/* Programs of family f attached, and how many it has (0: it failed). */
static void family_state(const struct collector *c, int f, int *attached, int *count)
{
	*attached = c->fam[f] ? families[f]->attached(c->fam[f]) : 0;
	*count = c->fam[f] ? families[f]->count(c->fam[f]) : 0;
}

static bool family_up(const struct collector *c, int f)
{
	int attached, count;

	family_state(c, f, &attached, &count);
	return count && attached == count;
}

/* "N of M attached", or why the family is not there. */
static void write_family_detail(const struct collector *c, int f, struct buf *out)
{
	char d[64];
	int attached, count;

	family_state(c, f, &attached, &count);
	if (!count && c->why[f][0]) {
		buf_json_str(out, c->why[f], strlen(c->why[f]));
		return;
	}
	snprintf(d, sizeof(d), "%d of %d attached", attached, count);
	buf_json_str(out, d, strlen(d));
}

/* aet_collector_probe_attached{probe}: each AET probe, and each of the
 * other families as one; aet_collector_followed_processes. */
static int write_families(struct collector *c, struct buf *out)
{
	const char *names[PROBES_MAX + PFAM_MAX];
	double attached[PROBES_MAX + PFAM_MAX];
	uint32_t off = c->cfg->disable; /* not expected to be attached: left out */
	int n = off & 1u << PFAM_PROBES
			? 0
			: probes__each_attached(c->fam[PFAM_PROBES], names, attached);

	for (int f = PFAM_PROBES + 1; f < PFAM_MAX; f++) {
		if (off & 1u << f)
			continue;
		names[n] = probe_family_names[f];
		attached[n++] = family_up(c, f);
	}
	return expo_write_by_label(
		       out, "aet_collector_probe_attached",
		       "1 when the probe (each AET probe function; processes, files "
		       "and sqlite as one each) is attached, else 0 (/status says why).",
		       METRIC_GAUGE, "probe", names, attached, n)
		       ?: expo_write_unlabelled(
				  out,
				  &(struct expo_sample){
					  "aet_collector_followed_processes",
					  "The target and the children it forked, while they run.",
					  METRIC_GAUGE, (double)shared__followed_count(c->shared) },
				  1);
}

/* What each family loaded writes, in the order of the table. */
static int write_family_metrics(struct collector *c, struct buf *out)
{
	int rc = 0;

	for (int f = 0; f < PFAM_MAX && !rc; f++)
		if (c->fam[f] && families[f]->write_metrics)
			rc = families[f]->write_metrics(c->fam[f], out);
	return rc;
}

/* The collector's own: its scrapes, the switch. */
static int write_scrapes(const struct collector *c, struct buf *out)
{
	const struct expo_sample ones[] = {
		{ "aet_collector_scrape_duration_seconds",
		  "Time the previous /metrics took to render.", METRIC_GAUGE,
		  atomic_load(&c->scrape_seconds) },
		{ "aet_collector_scrapes_total", "Requests of /metrics served.", METRIC_COUNTER,
		  (double)atomic_load(&c->scrapes) },
		{ "aet_collector_enabled",
		  "1 when every probe is attached, 0 when the emergency switch (or "
		  "AET_METRICS_ENABLED=false) detached them.",
		  METRIC_GAUGE, c->enabled },
	};

	return expo_write_unlabelled(out, ones, ARRAY_SIZE(ones));
}

static int render_metrics(void *ctx, struct buf *out)
{
	struct collector *c = ctx;
	double t0 = clock_seconds(CLOCK_MONOTONIC);
	size_t len = atomic_load(&c->metrics_len);
	int rc;

	/* One allocation, not a doubling series of them copying megabytes at
	 * 100k series; a little more, as the series grow. */
	buf_reserve(out, len + len / 8);
	pthread_rwlock_rdlock(&c->lock);
	rc = write_family_metrics(c, out) ?: spans__write_metrics(c->spans, out) ?:
	     write_families(c, out) ?: write_target(c, out) ?: write_process(c, out) ?:
	     write_scrapes(c, out);
	atomic_fetch_add(&c->scrapes, 1);
	atomic_store(&c->scrape_seconds, clock_seconds(CLOCK_MONOTONIC) - t0);
	pthread_rwlock_unlock(&c->lock);
	atomic_store(&c->metrics_len, out->len);
	if (rc || out->oom) {
		buf_reset(out);
		buf_printf(out, "# error rendering metrics: %s\n", strerror(rc ? -rc : ENOMEM));
		return 500;
	}
	return 200;
}

static int render_health(void *ctx, struct buf *out)
{
	struct collector *c = ctx;
	double now = clock_seconds(CLOCK_MONOTONIC), since;

	pthread_rwlock_rdlock(&c->lock);
	since = now - c->heartbeat;
	pthread_rwlock_unlock(&c->lock);
	/* Liveness of the collector itself, not of the target. */
	buf_printf(out,
		   "{\"status\":\"%s\",\"uptime_seconds\":%.3f,\"last_tick_seconds_ago\":%.3f}\n",
		   since < HEARTBEAT_TIMEOUT_S ? "ok" : "stalled", now - c->started_mono, since);
	return since < HEARTBEAT_TIMEOUT_S ? 200 : 503;
}

static int render_ready(void *ctx, struct buf *out)
{
	struct collector *c = ctx;
	bool alive, ready;

	pthread_rwlock_rdlock(&c->lock);
	alive = c->have_target && c->target.alive;
	ready = alive && c->enabled;
	for (int f = 0; f < PFAM_MAX; f++)
		ready &= !(c->cfg->require & 1u << f) || family_up(c, f);
	buf_printf(out, "{\"ready\":%s,\"checks\":[", ready ? "true" : "false");
	buf_printf(out,
		   "{\"name\":\"enabled\",\"ok\":%s,\"detail\":", c->enabled ? "true" : "false");
	buf_json_str(out, c->enabled ? "enabled" : c->disabled_by,
		     strlen(c->enabled ? "enabled" : c->disabled_by));
	buf_puts(out, "},");
	if (c->have_target)
		buf_printf(out, "{\"name\":\"target_alive\",\"ok\":%s,\"detail\":\"pid %d %s\"}",
			   alive ? "true" : "false", c->target.pid, alive ? "running" : "is gone");
	else
		buf_printf(out,
			   "{\"name\":\"target_alive\",\"ok\":false,\"detail\":\"no process "
			   "matching %s with %s loaded yet\"}",
			   c->follow.comm ? "--comm" : "--exe", PROBE_LIBRARY);
	/* The required families: attached, every program of each. */
	for (int f = 0; f < PFAM_MAX; f++) {
		if (!(c->cfg->require & 1u << f))
			continue;
		buf_printf(out, ",{\"name\":\"%s\",\"ok\":%s,\"detail\":", probe_family_names[f],
			   family_up(c, f) ? "true" : "false");
		write_family_detail(c, f, out);
		buf_puts(out, "}");
	}
	pthread_rwlock_unlock(&c->lock);
	buf_puts(out, "]}\n");
	return ready ? 200 : 503;
}

static int render_status(void *ctx, struct buf *out)
{
	struct collector *c = ctx;
	struct target *t = &c->target;

	pthread_rwlock_rdlock(&c->lock);
	buf_printf(out,
		   "{\"version\":\"%s\",\"uptime_seconds\":%.3f,\"listen\":", AET_COLLECTOR_VERSION,
		   clock_seconds(CLOCK_MONOTONIC) - c->started_mono);
	buf_json_str(out, c->cfg->listen_str, strlen(c->cfg->listen_str));
	buf_printf(out, ",\"target\":{\"pid\":%d,\"start_time_ticks\":%llu,\"alive\":%s,\"comm\":",
		   t->pid, (unsigned long long)t->start_time, t->alive ? "true" : "false");
	buf_json_str(out, t->comm, strlen(t->comm));
	buf_puts(out, ",\"probe_library\":");
	buf_json_str(out, t->lib_path, strlen(t->lib_path));
	buf_printf(out,
		   "},\"scrapes\":%llu,\"max_series\":%u,"
		   "\"max_open\":%u,\"enabled\":%s,\"disabled_by\":",
		   (unsigned long long)atomic_load(&c->scrapes), c->cfg->max_series,
		   c->cfg->max_open, c->enabled ? "true" : "false");
	buf_json_str(out, c->disabled_by, strlen(c->disabled_by));
	if (c->following) {
		buf_puts(out, ",");
		follow_write_status(&c->follow, out);
	}
	buf_puts(out, ",\"capabilities\":");
	caps_write_json(caps_effective(), out);
	buf_puts(out, ",\"privileges\":");
	privs_write_json(&c->privs, out);
	buf_puts(out, ",");
	variant_write_status(shared__locks_fd(c->shared), out);
	buf_puts(out, ",\"families\":[");
	for (int f = 0; f < PFAM_MAX; f++) {
		buf_printf(out,
			   "%s{\"name\":\"%s\",\"required\":%s,\"disabled\":%s,\"attached\":%s,"
			   "\"detail\":",
			   f ? "," : "", probe_family_names[f],
			   c->cfg->require & 1u << f ? "true" : "false",
			   c->cfg->disable & 1u << f ? "true" : "false",
			   family_up(c, f) ? "true" : "false");
		write_family_detail(c, f, out);
		buf_puts(out, "}");
	}
	buf_puts(out, "]");
	for (int f = 0; f < PFAM_MAX; f++) {
		buf_puts(out, ",");
		families[f]->write_status(c->fam[f], c->why[f], out);
	}
	buf_puts(out, ",");
	spans__write_status(c->spans, out);
	buf_puts(out, ",");
	footprint_write_status(c, out);
	pthread_rwlock_unlock(&c->lock);
	buf_puts(out, "}\n");
	return 200;
}

static int render_index(void *ctx, struct buf *out)
{
	(void)ctx;
	buf_puts(out, "<!DOCTYPE html>\n"
		      "<html><head><meta charset=\"utf-8\"><title>aet-collector</title></head>\n"
		      "<body>\n<h1>aet-collector " AET_COLLECTOR_VERSION "</h1>\n<ul>\n"
		      "<li><a href=\"/metrics\">/metrics</a>: Prometheus exposition</li>\n"
		      "<li><a href=\"/health\">/health</a>: liveness of the collector</li>\n"
		      "<li><a href=\"/ready\">/ready</a>: target alive and probes attached</li>\n"
		      "<li><a href=\"/status\">/status</a>: probes, programs and maps</li>\n"
		      "</ul>\n</body></html>\n");
	return 200;
}

/* POST /control/...: the main thread switches (woken by CONTROL_SIGNAL),
 * which takes a grace period per probe; /status and /ready tell when done.
 * The last request wins, whatever the order the main thread sees them in. */
static int render_control(struct collector *c, struct buf *out, bool on)
{
	atomic_store(&c->wanted, on ? WANT_ON : WANT_OFF);
	kill(getpid(), CONTROL_SIGNAL);
	buf_printf(out, "{\"enabled\":%s,\"accepted\":true}\n", on ? "true" : "false");
	return 202;
}

static int render_disable(void *ctx, struct buf *out)
{
	return render_control(ctx, out, false);
}

static int render_enable(void *ctx, struct buf *out)
{
	return render_control(ctx, out, true);
}

const struct http_route collector_routes[] = {
	{ "/metrics", "text/plain; version=0.0.4; charset=utf-8", render_metrics, false },
	{ "/health", "application/json", render_health, false },
	{ "/ready", "application/json", render_ready, false },
	{ "/status", "application/json", render_status, false },
	{ "/", "text/html; charset=utf-8", render_index, false },
	{ "/control/disable", "application/json", render_disable, true },
	{ "/control/enable", "application/json", render_enable, true },
};

const int collector_nroutes = sizeof(collector_routes) / sizeof(collector_routes[0]);
