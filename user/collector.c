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

#include "caps.h"
#include "collector.h"
#include "log.h"
#include "expo.h"
#include "procfs.h"
#include "variant.h"

/* /health fails when the main loop has not ticked for this long. */
#define HEARTBEAT_TIMEOUT_S 5.0

void collector_init(struct collector *c, const struct config *cfg)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
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

	spans__follow(c->spans, pid);
}

int collector_follow_descendants(struct collector *c, int pid)
{
	int n = c->procs ? procfs_descendants(pid, on_descendant, c) : 0;

	if (n > 0)
		log_info("following %d running processes pid %d forked before\n", n, pid);
	return n;
}

static void on_found(int pid, void *ctx)
{
	struct collector *c = ctx;

	spans__follow(c->spans, pid);
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

	rc = target_open(&t, pid, err, sizeof(err));
	if (rc)
		return rc;
	rc = collector_set_library(c, t.lib_path, err, sizeof(err));
	if (rc) {
		log_warn("pid %d: %s\n", pid, err);
		return rc;
	}
	c->target = t;
	c->have_target = true;
	log_info("attached to pid %d (%s)\n", pid, t.comm);
	return 0;
}

/* SQLite's uprobes follow the current target, once it has loaded
 * libsqlite3 (maybe after the probe library: tried every tick till then). */
static void follow_sqlite(struct collector *c)
{
	char err[256] = "";
	int rc;

	if (c->sqlite_pid == c->target.pid)
		return;
	if (c->sqlite) {
		rc = sqlite__retarget(c->sqlite, &c->target, c->enabled, err, sizeof(err));
	} else {
		c->sqlite = sqlite__new(c->cfg, &c->target, c->spans, &rc, err, sizeof(err));
		if (c->sqlite && !c->enabled)
			sqlite__detach(c->sqlite);
	}
	if (!rc) {
		c->sqlite_pid = c->target.pid;
		c->why[PFAM_SQLITE][0] = '\0';
		log_info("SQLite of pid %d observed\n", c->target.pid);
	} else if (strcmp(err, c->why[PFAM_SQLITE])) {
		snprintf(c->why[PFAM_SQLITE], sizeof(c->why[PFAM_SQLITE]), "%s", err);
		if (rc != -ENOENT)
			log_warn("%s\n", err);
	}
}

void collector_follow(struct collector *c)
{
	long lost = procs__matched(c->procs, on_matched, c);

	/* The ring was full: what it missed is still running. */
	if (lost && (lost = follow_scan(&c->follow, on_found, c)) < 0)
		log_warn("cannot scan /proc: %s\n", strerror(-lost));
	follow_sample(&c->follow);
	for (int i = c->follow.n - 1; i >= 0 && !(c->have_target && c->target.alive); i--)
		if (c->follow.procs[i].alive)
			adopt(c, c->follow.procs[i].pid);
	if (c->have_target && c->target.alive)
		follow_sqlite(c);
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
	probes__detach(c->probes);
	c->have_lib = false;
	rc = c->enabled ? probes__attach(c->probes, path, err, len) : 0;
	if (rc)
		return rc;
	snprintf(c->lib_path, sizeof(c->lib_path), "%s", path);
	c->lib_dev = st.st_dev;
	c->lib_ino = st.st_ino;
	c->have_lib = true;
	return 0;
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

	procs__exit_status(c->procs, c->target.pid, &status);
	target_describe_end(status, how, sizeof(how));
	log_info("target pid %d (%s) %s\n", c->target.pid, c->target.comm, how);
}

void collector_tick(struct collector *c)
{
	bool was_alive = c->target.alive;

	pthread_mutex_lock(&c->lock);
	if (c->have_target)
		target_sample(&c->target);
	if (was_alive && !c->target.alive)
		target_ended(c);
	if (c->following)
		collector_follow(c);
	probes__expire(c->probes, (uint64_t)c->cfg->open_ttl_s * 1000000000, c->spans);
	c->heartbeat = clock_seconds(CLOCK_MONOTONIC);
	pthread_mutex_unlock(&c->lock);
}

/* The uprobes, when the switch turns on. In follow mode, a library or a
 * SQLite whose process is gone is left to the next process adopted. */
static int attach_uprobes(struct collector *c, char *err, size_t len)
{
	int rc = c->have_lib ? probes__attach(c->probes, c->lib_path, err, len) : 0;

	if (rc && !c->following)
		return rc;
	if (rc) {
		log_warn("%s: attached with the next process\n", err);
		c->have_lib = false;
	}
	if (c->following && !(c->have_target && c->target.alive)) {
		c->sqlite_pid = 0;
		return 0;
	}
	return sqlite__attach(c->sqlite, &c->target, err, len);
}

void collector_set_enabled(struct collector *c, bool on, const char *by)
{
	char err[256] = "";
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (on == c->enabled) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (on)
		rc = procs__attach(c->procs, err, sizeof(err)) ?:
		     files__attach(c->files, err, sizeof(err)) ?: attach_uprobes(c, err, sizeof(err));
	if (!on || rc) {
		sqlite__detach(c->sqlite);
		probes__detach(c->probes);
		files__detach(c->files);
		procs__detach(c->procs);
	}
	c->enabled = on && !rc;
	snprintf(c->disabled_by, sizeof(c->disabled_by), "%s%s", rc ? "enabling failed: " : "",
		 rc	      ? err
		 : c->enabled ? ""
			      : by);
	pthread_mutex_unlock(&c->lock);
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
	pthread_mutex_destroy(&c->lock);
}

/* Writes a family of one unlabelled sample. */
static int write_one(struct buf *out, const char *name, const char *help, enum metric_type type,
		     double value)
{
	struct family *f = family__new(name, help, type, 0, NULL);
	int rc = f ? family__add(f, NULL, value) : -ENOMEM;

	if (!rc)
		family__write(f, out);
	family__free(f);
	return rc;
}

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

/* The standard process_* families, for the collector itself. */
static int write_process(struct collector *c, struct buf *out)
{
	struct proc_stat st;
	struct rlimit rl;
	long tck = sysconf(_SC_CLK_TCK);
	int rc;

	rc = procfs_read_stat(0, &st);
	if (rc)
		return rc;
	getrlimit(RLIMIT_NOFILE, &rl);
	return write_one(out, "process_cpu_seconds_total", "Total user and system CPU time "
			 "spent in seconds.", METRIC_COUNTER, (double)(st.utime + st.stime) / tck) ?:
	       write_one(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
			 METRIC_GAUGE, (double)st.rss * sysconf(_SC_PAGESIZE)) ?:
	       write_one(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
			 METRIC_GAUGE, (double)st.vsize) ?:
	       write_one(out, "process_start_time_seconds", "Start time of the process since "
			 "unix epoch in seconds.", METRIC_GAUGE, c->started_at) ?:
	       write_one(out, "process_open_fds", "Number of open file descriptors.",
			 METRIC_GAUGE, count_fds()) ?:
	       write_one(out, "process_max_fds", "Maximum number of open file descriptors.",
			 METRIC_GAUGE, (double)rl.rlim_cur);
}

/* aet_db_size_bytes: the knowledge base grows in these files. (It was
 * aet_kb_db_size_bytes, whose "kb" promtool reads as kilobytes: README.) */
static int write_dbs(const struct target *t, struct buf *out)
{
	static const char *const l_path[] = { "path" };
	struct family *f = family__new("aet_db_size_bytes",
				       "Size of each SQLite database file the target has open.",
				       METRIC_GAUGE, 1, l_path);
	int rc = f ? 0 : -ENOMEM;

	for (int i = 0; i < t->ndbs && !rc; i++) {
		const char *v[] = { t->dbs[i].path };

		rc = family__add(f, v, (double)t->dbs[i].size);
	}
	if (!rc)
		family__write(f, out);
	family__free(f);
	return rc;
}

static int write_target(struct collector *c, struct buf *out)
{
	static const char *const l_pid[] = { "pid" };
	struct family *up =
		family__new("aet_target_up",
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
			rc = family__add(up, v, c->follow.procs[i].alive);
		}
	} else if (!rc) {
		snprintf(pid, sizeof(pid), "%d", c->target.pid);
		rc = family__add(up, v, c->target.alive);
	}
	if (!rc)
		family__write(up, out);
	family__free(up);
	return rc ?: write_one(out, "aet_cpu_usage_percent",
			       "CPU used by the target over the last second (100 = one core).",
			       METRIC_GAUGE, c->target.cpu_percent) ?:
		write_one(out, "aet_memory_usage_bytes", "Resident memory of the target.",
			  METRIC_GAUGE, (double)c->target.rss_bytes) ?:
		write_dbs(&c->target, out);
}

/* Programs of family f attached, and how many it has (0: it failed). */
static void family_state(const struct collector *c, int f, int *attached, int *count)
{
	switch (f) {
	case PFAM_PROBES:
		*attached = probes__attached(c->probes);
		*count = probes__count(c->probes);
		break;
	case PFAM_PROCESSES:
		*attached = procs__attached(c->procs);
		*count = procs__count(c->procs);
		break;
	case PFAM_FILES:
		*attached = files__attached(c->files);
		*count = files__count(c->files);
		break;
	default:
		*attached = sqlite__attached(c->sqlite);
		*count = sqlite__count(c->sqlite);
		break;
	}
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
	int n = probes__each_attached(c->probes, names, attached);

	for (int f = PFAM_PROBES + 1; f < PFAM_MAX; f++, n++) {
		names[n] = probe_family_names[f];
		attached[n] = family_up(c, f);
	}
	return expo_write_by_label(
		       out, "aet_collector_probe_attached",
		       "1 when the probe (each AET probe function; processes, files "
		       "and sqlite as one each) is attached, else 0 (/status says why).",
		       METRIC_GAUGE, "probe", names, attached, n)
		       ?: write_one(out, "aet_collector_followed_processes",
				    "The target and the children it forked, while they run.",
				    METRIC_GAUGE, (double)spans__followed_count(c->spans));
}

static int render_metrics(void *ctx, struct buf *out)
{
	struct collector *c = ctx;
	double t0 = clock_seconds(CLOCK_MONOTONIC);
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = probes__write_metrics(c->probes, out) ?: files__write_metrics(c->files, out) ?:
	     (c->sqlite ? sqlite__write_metrics(c->sqlite, out) : 0) ?:
	     spans__write_metrics(c->spans, out) ?:
	     write_families(c, out) ?:
	     write_target(c, out) ?:
	     write_process(c, out) ?:
	     write_one(out, "aet_collector_scrape_duration_seconds",
		       "Time the previous /metrics took to render.", METRIC_GAUGE,
		       c->scrape_seconds) ?:
	     write_one(out, "aet_collector_scrapes_total", "Requests of /metrics served.",
		       METRIC_COUNTER, (double)c->scrapes) ?:
	     write_one(out, "aet_collector_enabled",
		       "1 when every probe is attached, 0 when the emergency switch (or "
		       "AET_METRICS_ENABLED=false) detached them.",
		       METRIC_GAUGE, c->enabled);
	c->scrapes++;
	c->scrape_seconds = clock_seconds(CLOCK_MONOTONIC) - t0;
	pthread_mutex_unlock(&c->lock);
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

	pthread_mutex_lock(&c->lock);
	since = now - c->heartbeat;
	pthread_mutex_unlock(&c->lock);
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

	pthread_mutex_lock(&c->lock);
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
	pthread_mutex_unlock(&c->lock);
	buf_puts(out, "]}\n");
	return ready ? 200 : 503;
}

static int render_status(void *ctx, struct buf *out)
{
	struct collector *c = ctx;
	struct target *t = &c->target;

	pthread_mutex_lock(&c->lock);
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
		   (unsigned long long)c->scrapes, c->cfg->max_series, c->cfg->max_open,
		   c->enabled ? "true" : "false");
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
	variant_write_status(spans__locks_fd(c->spans), out);
	buf_puts(out, ",\"families\":[");
	for (int f = 0; f < PFAM_MAX; f++) {
		buf_printf(out, "%s{\"name\":\"%s\",\"required\":%s,\"attached\":%s,\"detail\":",
			   f ? "," : "", probe_family_names[f],
			   c->cfg->require & 1u << f ? "true" : "false",
			   family_up(c, f) ? "true" : "false");
		write_family_detail(c, f, out);
		buf_puts(out, "}");
	}
	buf_puts(out, "],");
	procs__write_status(c->procs, out);
	buf_puts(out, ",");
	probes__write_status(c->probes, out);
	buf_puts(out, ",");
	files__write_status(c->files, out);
	buf_puts(out, ",");
	sqlite__write_status(c->sqlite, c->why[PFAM_SQLITE], out);
	buf_puts(out, ",");
	spans__write_status(c->spans, out);
	pthread_mutex_unlock(&c->lock);
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
