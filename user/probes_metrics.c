// SPDX-License-Identifier: MIT
/* /metrics from the maps of bpf/probes.bpf.c, read at scrape time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "expo.h"
#include "mapdump.h"
#include "locks.h"
#include "probes_priv.h"
#include "variant.h"

static const char *const kind_names[KIND_MAX] = { "cycle", "task", "agent", "span" };
static const char *const family_names[FAM_MAX] = { "aet_tasks_total", "aet_agent_requests_total",
						   "aet_events_total" };

/* The families one scrape fills. */
struct scrape {
	struct family *tasks_total, *task_seconds, *active_tasks;
	struct family *agent_requests, *agent_errors, *agent_seconds;
	struct family *cycles_total, *cycle_seconds, *events_total;
	int err;
};

static void add(struct scrape *s, struct family *f, const char *const *v, double value)
{
	int rc = family__add(f, v, value);

	if (rc)
		s->err = rc;
}

static void add_hist(struct scrape *s, struct family *f, const char *const *v, const struct hist *h)
{
	int rc = family__add_hist(f, v, (const uint64_t *)h->buckets, h->sum_ns / 1e9,
				  hist_count(h));

	if (rc)
		s->err = rc;
}

static void on_series(const void *key, const void *value, void *ctx)
{
	const __u32 *idx = value;
	struct series_set *set = ctx;

	if (*idx >= set->n) {
		set->err = -ERANGE;
		return;
	}
	memcpy(&set->labels[*idx], key, sizeof(struct labels2));
	set->found += !set->used[*idx];
	set->used[*idx] = true;
}

int series_read(int fd, size_t n, struct series_set *set)
{
	long rc;

	memset(set, 0, sizeof(*set));
	set->n = n;
	set->labels = calloc(set->n, sizeof(*set->labels));
	set->used = calloc(set->n, sizeof(*set->used));
	if (!set->labels || !set->used)
		return -ENOMEM;
	rc = map_dump(fd, sizeof(struct labels2), sizeof(__u32), on_series, set);
	return rc < 0 ? (int)rc : set->err;
}

void series_free(struct series_set *set)
{
	free(set->labels);
	free(set->used);
	memset(set, 0, sizeof(*set));
}

/*
 * The label sets of family fam, read from its map again only when the
 * kernel has handed out a series index since the last read, or when that
 * read missed one (its insert was still under way, or lost a race and will
 * never come: then every scrape reads again). At 10k series, reading the
 * map every scrape was a third of it.
 */
static const struct series_set *series_fresh(struct probes *p, int fam, struct bpf_map *m)
{
	struct series_set *set = &p->series[fam];
	__u64 next = __atomic_load_n(&p->skel->data->next_series[fam], __ATOMIC_ACQUIRE);
	/* Indexes 1 .. next - 1 were handed out, those past max_series not
	 * used; "__overflow__", index 0, is in the map from the start. */
	__u64 max = p->skel->rodata->max_series, want = (next - 1 < max ? next - 1 : max) + 1;

	if (set->labels && !set->err && next == p->series_next[fam] && set->found == want)
		return set;
	series_free(set);
	p->series_next[fam] = next;
	set->err = series_read(bpf_map__fd(m), bpf_map__max_entries(m), set);
	return set;
}

int probes__series_fd(const struct probes *p, int family, size_t *n)
{
	struct bpf_map *m;

	if (!p) {
		*n = 0;
		return -1;
	}
	m = family == FAM_TASKS ? p->skel->maps.task_series : p->skel->maps.agent_series;

	*n = bpf_map__max_entries(m);
	return bpf_map__fd(m);
}

void probes__expire(struct probes *p, uint64_t ttl_ns, const struct spans *sp)
{
	struct timespec ts;
	uint64_t now, before = 0;
	int fd;

	if (!p)
		return;
	fd = bpf_map__fd(p->skel->maps.aet_locks);
	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns()'s clock */
	now = (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (ttl_ns && now > ttl_ns)
		before = now - ttl_ns;
	for (size_t i = 0; i < p->open_slots.n; i++) {
		struct open_slot *s = (struct open_slot *)mapped_at(&p->open_slots, i);
		__u32 state = SLOT_OPEN;
		bool taken;

		/* Too old, or begun by a process that has exited since (the
		 * process programs let it go): its end will never come. The
		 * compat build's programs take the slot's lock to change it. */
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SLOT_OPEN ||
		    (s->start_ns > before && spans__followed(sp, s->tgid)) ||
		    !variant_lock(fd, LOCK_SLOT(i)))
			continue;
		taken = __atomic_compare_exchange_n(&s->state, &state, SLOT_BUSY, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		variant_unlock(fd, LOCK_SLOT(i));
		if (!taken)
			continue;
		/* Ours now, as an end's would be; it may have been ended and
		 * begun again since it was read. */
		if ((s->start_ns > before && spans__followed(sp, s->tgid)) || s->kind >= KIND_MAX) {
			__atomic_store_n(&s->state, SLOT_OPEN, __ATOMIC_RELEASE);
			continue;
		}
		p->expired[s->kind]++;
		__atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_RELEASE);
	}
}

/* aet_tasks_total, aet_task_duration_seconds and aet_active_tasks. */
static void scrape_tasks(struct probes *p, struct scrape *s, const struct series_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct labels2 *l = &set->labels[i];
		struct hist all = {};

		if (!set->used[i])
			continue;
		for (int st = 0; st < STATUS_MAX; st++) {
			const struct hist *h = mapped_at(&p->task_hist, i * STATUS_MAX + st);
			uint64_t n = hist_count(h);

			if (n)
				add(s, s->tasks_total,
				    (const char *const[]){ status_names[st], l->l2, l->l1 }, n);
			hist_add(&all, h);
		}
		if (i == OVERFLOW_SERIES && !hist_count(&all))
			continue; /* shown once something overflows */
		if (hist_count(&all))
			add_hist(s, s->task_seconds, (const char *const[]){ l->l1, l->l2 }, &all);
		/* A mode with no task open still reports 0. */
		add(s, s->active_tasks, (const char *const[]){ l->l2 }, 0);
	}
	for (size_t i = 0; i < p->open_slots.n; i++) {
		const struct open_slot *o = mapped_at(&p->open_slots, i);

		if (o->state == SLOT_OPEN && o->kind == KIND_TASK && o->series < set->n &&
		    set->used[o->series])
			add(s, s->active_tasks, (const char *const[]){ set->labels[o->series].l2 },
			    1);
	}
}

/* aet_agent_requests_total, aet_agent_errors_total, aet_agent_response_seconds. */
static void scrape_agents(struct probes *p, struct scrape *s, const struct series_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		const char *const v[] = { set->labels[i].l1, set->labels[i].l2 };
		struct hist all = {};
		uint64_t errors;

		if (!set->used[i])
			continue;
		for (int st = 0; st < STATUS_MAX; st++)
			hist_add(&all, mapped_at(&p->agent_hist, i * STATUS_MAX + st));
		if (!hist_count(&all))
			continue;
		/* An error is a failure or a timeout; a cancelled request is not one. */
		errors = hist_count(mapped_at(&p->agent_hist, i * STATUS_MAX + 1)) +
			 hist_count(mapped_at(&p->agent_hist, i * STATUS_MAX + 2));
		add(s, s->agent_requests, v, hist_count(&all));
		add(s, s->agent_errors, v, errors);
		add_hist(s, s->agent_seconds, v, &all);
	}
}

static void scrape_events(struct probes *p, struct scrape *s, const struct series_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		const __u64 *n = mapped_at(&p->event_counts, i);

		if (set->used[i] && (*n || i != OVERFLOW_SERIES))
			add(s, s->events_total, (const char *const[]){ set->labels[i].l1 }, *n);
	}
}

static void scrape_cycles(struct probes *p, struct scrape *s)
{
	struct hist all = {}, h;

	for (__u32 st = 0; st < STATUS_MAX; st++) {
		if (bpf_map__lookup_elem(p->skel->maps.cycle_hist, &st, sizeof(st), &h, sizeof(h),
					 0)) {
			s->err = -errno;
			return;
		}
		add(s, s->cycles_total, (const char *const[]){ status_names[st] }, hist_count(&h));
		hist_add(&all, &h);
	}
	add_hist(s, s->cycle_seconds, NULL, &all);
}

long probes__open_count(const struct probes *p, int kind)
{
	long n = 0;

	for (size_t i = 0; i < p->open_slots.n; i++) {
		const struct open_slot *o = mapped_at(&p->open_slots, i);

		n += o->state == SLOT_OPEN && (kind < 0 || o->kind == (__u32)kind);
	}
	return n;
}

static const char *const l_status_mode_agent[] = { "status", "mode", "agent" };
static const char *const l_agent_mode[] = { "agent", "mode" };
static const char *const l_agent_operation[] = { "agent", "operation" };
static const char *const l_mode[] = { "mode" };
static const char *const l_status[] = { "status" };
static const char *const l_event_type[] = { "event_type" };

struct family_def {
	size_t off; /* of the struct family * in struct scrape */
	const char *name;
	const char *help;
	enum metric_type type;
	int nlabels;
	const char *const *labels;
};

#define FAMILY(field, name, help, type, labels)                           \
	{                                                                 \
		offsetof(struct scrape, field), name, help, type,         \
			(int)(sizeof(labels) / sizeof(labels[0])), labels \
	}

static const struct family_def family_defs[] = {
	FAMILY(tasks_total, "aet_tasks_total", "Tasks ended, by status, mode and agent.",
	       METRIC_COUNTER, l_status_mode_agent),
	FAMILY(task_seconds, "aet_task_duration_seconds",
	       "Task duration from begin to end, in seconds.", METRIC_HISTOGRAM, l_agent_mode),
	FAMILY(active_tasks, "aet_active_tasks", "Tasks begun and not yet ended, by mode.",
	       METRIC_GAUGE, l_mode),
	FAMILY(agent_requests, "aet_agent_requests_total", "Agent requests ended.", METRIC_COUNTER,
	       l_agent_operation),
	FAMILY(agent_errors, "aet_agent_errors_total",
	       "Agent requests ended with status failure or timeout.", METRIC_COUNTER,
	       l_agent_operation),
	FAMILY(agent_seconds, "aet_agent_response_seconds",
	       "Agent request duration from begin to end, in seconds.", METRIC_HISTOGRAM,
	       l_agent_operation),
	FAMILY(cycles_total, "aet_cycles_total", "Orchestrator cycles ended, by status.",
	       METRIC_COUNTER, l_status),
	{ offsetof(struct scrape, cycle_seconds), "aet_cycle_duration_seconds",
	  "Orchestrator cycle duration from begin to end, in seconds.", METRIC_HISTOGRAM, 0, NULL },
	FAMILY(events_total, "aet_events_total", "Event log entries, by event type.",
	       METRIC_COUNTER, l_event_type),
};

#define NFAMILIES (sizeof(family_defs) / sizeof(family_defs[0]))

static struct family **family_at(struct scrape *s, size_t i)
{
	return (struct family **)((char *)s + family_defs[i].off);
}

static void scrape_free(struct scrape *s)
{
	for (size_t i = 0; i < NFAMILIES; i++)
		family__free(*family_at(s, i));
}

static int scrape_new(struct scrape *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < NFAMILIES; i++) {
		const struct family_def *d = &family_defs[i];

		*family_at(s, i) = family__new(d->name, d->help, d->type, d->nlabels, d->labels);
		if (!*family_at(s, i))
			return -ENOMEM;
	}
	return 0;
}

/* aet_collector_* counters kept by the programs (enum collector_stat). */
static int write_collector_stats(struct probes *p, struct buf *out)
{
	double v[STAT_MAX] = {}, expired[KIND_MAX];

	for (__u32 i = 0; i < STAT_MAX; i++) {
		__u64 n = 0;

		bpf_map__lookup_elem(p->skel->maps.collector_stats, &i, sizeof(i), &n, sizeof(n),
				     0);
		v[i] = n;
	}
	for (int k = 0; k < KIND_MAX; k++)
		expired[k] = p->expired[k];
	return expo_write_by_label(out, "aet_collector_unmatched_total",
			      "Ends without their begin (or whose begin was not recorded), by kind.",
			      METRIC_COUNTER, "kind", kind_names, &v[STAT_UNMATCHED], KIND_MAX) ?:
	       expo_write_by_label(out, "aet_collector_open_overflow_total",
			      "Begins not recorded because their open slots were taken "
			      "(see --max-open).",
			      METRIC_COUNTER, "kind", kind_names, &v[STAT_OPEN_OVERFLOW], KIND_MAX) ?:
	       expo_write_by_label(out, "aet_collector_expired_total",
			      "Begins whose end did not come within --open-ttl: their slot freed.",
			      METRIC_COUNTER, "kind", kind_names, expired, KIND_MAX) ?:
	       expo_write_by_label(out, "aet_collector_series_overflow_total",
			      "Observations counted under \"__overflow__\" because the family "
			      "had --max-series label sets.",
			      METRIC_COUNTER, "family", family_names, &v[STAT_SERIES_OVERFLOW],
			      FAM_MAX);
}

/* Program run counts and times: non-zero only with kernel.bpf_stats_enabled=1, which costs every
 * hit about 38 ns (docs/DESIGN.md, 12. Costs), so it is opt-in. */
static int write_program_stats(struct probes *p, struct buf *out)
{
	const char *names[NPROBES];
	double runs[NPROBES], secs[NPROBES];

	for (int i = 0; i < NPROBES; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		bpf_obj_get_info_by_fd(bpf_program__fd(p->defs[i].prog), &info, &len);
		names[i] = bpf_program__name(p->defs[i].prog);
		runs[i] = info.run_cnt;
		secs[i] = info.run_time_ns / 1e9;
	}
	return expo_write_by_label(
		       out, "aet_collector_bpf_prog_runs_total",
		       "Runs of each BPF program (counted with kernel.bpf_stats_enabled=1).",
		       METRIC_COUNTER, "program", names, runs, NPROBES)
		       ?: expo_write_by_label(out, "aet_collector_bpf_run_seconds_total",
					      "Time spent in each BPF program, without the uprobe "
					      "trap around it "
					      "(counted with kernel.bpf_stats_enabled=1).",
					      METRIC_COUNTER, "program", names, secs, NPROBES);
}

int probes__write_metrics(struct probes *p, struct buf *out)
{
	const struct series_set *tasks, *agents, *events;
	struct scrape s;
	int rc;

	if (!p)
		return 0;
	tasks = series_fresh(p, FAM_TASKS, p->skel->maps.task_series);
	agents = series_fresh(p, FAM_AGENT, p->skel->maps.agent_series);
	events = series_fresh(p, FAM_EVENTS, p->skel->maps.event_series);

	rc = tasks->err ?: agents->err ?: events->err;
	if (rc)
		return rc;
	rc = scrape_new(&s);
	if (!rc) {
		scrape_tasks(p, &s, tasks);
		scrape_agents(p, &s, agents);
		scrape_events(p, &s, events);
		scrape_cycles(p, &s);
		rc = s.err;
	}
	for (size_t i = 0; i < NFAMILIES && !rc; i++)
		family__write(*family_at(&s, i), out);
	scrape_free(&s);
	return rc ?: write_collector_stats(p, out) ?: write_program_stats(p, out);
}
