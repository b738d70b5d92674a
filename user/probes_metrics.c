// SPDX-License-Identifier: MIT
/* /metrics from the maps of bpf/probes.bpf.c, read at scrape time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "expo.h"
#include "mapdump.h"
#include "locks.h"
#include "probes_priv.h"
#include "samples.h"
#include "variant.h"

static const char *const kind_names[KIND_MAX] = { "cycle", "task", "agent", "span" };
static const char *const series_metric_names[SERIES_KINDS] = { "aet_tasks_total",
							       "aet_agent_requests_total",
							       "aet_events_total" };

void probes__expire(struct probes *p, uint64_t ttl_ns)
{
	uint64_t now, before = 0;
	int fd;

	if (!p)
		return;
	fd = bpf_map__fd(p->skel->maps.aet_locks);
	now = clock_ns(CLOCK_MONOTONIC); /* bpf_ktime_get_ns()'s clock */
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
		    (s->start_ns > before && shared__followed(p->shared, s->tgid)) ||
		    !variant_lock(fd, LOCK_SLOT(i)))
			continue;
		taken = __atomic_compare_exchange_n(&s->state, &state, SLOT_BUSY, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		variant_unlock(fd, LOCK_SLOT(i));
		if (!taken)
			continue;
		/* Ours now, as an end's would be; it may have been ended and
		 * begun again since it was read. */
		if ((s->start_ns > before && shared__followed(p->shared, s->tgid)) ||
		    s->kind >= KIND_MAX) {
			__atomic_store_n(&s->state, SLOT_OPEN, __ATOMIC_RELEASE);
			continue;
		}
		p->expired[s->kind]++;
		__atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_RELEASE);
	}
}

/* cycle_hist is not mapped: its STATUS_MAX histograms are looked up. */
static int read_cycles(struct probes *p, struct hist *hist)
{
	for (__u32 st = 0; st < STATUS_MAX; st++) {
		if (bpf_map__lookup_elem(p->skel->maps.cycle_hist, &st, sizeof(st), &hist[st],
					 sizeof(hist[st]), 0))
			return -errno;
	}
	return 0;
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
			      METRIC_COUNTER, "family", series_metric_names, &v[STAT_SERIES_OVERFLOW],
			      SERIES_KINDS);
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

static int add_samples(struct probes *p, struct probe_samples *s, const struct series_set *tasks,
		       const struct series_set *agents, const struct series_set *events,
		       const struct hist *cycles)
{
	const struct open_slot *slots;
	const struct hist *th, *ah;
	const __u64 *ec;

	/* Read in place, set->n series of each. */
	th = mapped_array(&p->task_hist, sizeof(*th), tasks->n * STATUS_MAX);
	ah = mapped_array(&p->agent_hist, sizeof(*ah), agents->n * STATUS_MAX);
	ec = mapped_array(&p->event_counts, sizeof(*ec), events->n);
	slots = mapped_array(&p->open_slots, sizeof(*slots), p->open_slots.n);
	if (!th || !ah || !ec || !slots)
		return -ERANGE;
	return probe_samples__add_tasks(s, tasks, th, slots, p->open_slots.n) ?:
	       probe_samples__add_agents(s, agents, ah) ?:
	       probe_samples__add_events(s, events, ec) ?: probe_samples__add_cycles(s, cycles);
}

int probes__write_metrics(void *o, struct buf *out)
{
	struct probes *p = o;
	struct series *series = p->shared->series;
	const struct series_set *tasks, *agents, *events;
	struct hist cycles[STATUS_MAX];
	struct probe_samples *s = NULL;
	int rc;

	/* Copies of their own: the span consumer and other scrapes go on
	 * meanwhile (user/series.h). */
	tasks = series_get(&series[SERIES_TASKS]);
	agents = series_get(&series[SERIES_AGENT]);
	events = series_get(&series[SERIES_EVENTS]);
	rc = tasks->err ?: agents->err ?: events->err ?: read_cycles(p, cycles);
	if (!rc) {
		s = probe_samples__new();
		rc = s ? add_samples(p, s, tasks, agents, events, cycles) : -ENOMEM;
	}
	if (!rc)
		probe_samples__write(s, out);
	probe_samples__free(s);
	series_put(&series[SERIES_EVENTS], events);
	series_put(&series[SERIES_AGENT], agents);
	series_put(&series[SERIES_TASKS], tasks);
	return rc ?: write_collector_stats(p, out) ?: write_program_stats(p, out);
}
