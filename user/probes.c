// SPDX-License-Identifier: MIT
/* Loading, sizing and attaching bpf/probes.bpf.c; /status of its parts. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "detach.h"
#include "family.h"
#include "mapdump.h"
#include "probes.h"
#include "probes_priv.h"
#include "variant.h"

/* The probe functions, in the order of p->defs. */
static const char *const probe_syms[NPROBES] = {
	"aet_probe_cycle_begin",   "aet_probe_cycle_end",   "aet_probe_task_begin",
	"aet_probe_task_end",	   "aet_probe_agent_begin", "aet_probe_agent_end",
	"aet_probe_event",	   "aet_probe_span_begin",  "aet_probe_span_end",
	"aet_probe_trace_context",
};

static void set_defs(struct probes *p)
{
	struct probes_bpf *s = p->skel;
	const struct probe_def defs[NPROBES] = {
		{ probe_syms[0], s->progs.cycle_begin, &s->links.cycle_begin },
		{ probe_syms[1], s->progs.cycle_end, &s->links.cycle_end },
		{ probe_syms[2], s->progs.task_begin, &s->links.task_begin },
		{ probe_syms[3], s->progs.task_end, &s->links.task_end },
		{ probe_syms[4], s->progs.agent_begin, &s->links.agent_begin },
		{ probe_syms[5], s->progs.agent_end, &s->links.agent_end },
		{ probe_syms[6], s->progs.event, &s->links.event },
		{ probe_syms[7], s->progs.span_begin, &s->links.span_begin },
		{ probe_syms[8], s->progs.span_end, &s->links.span_end },
		{ probe_syms[9], s->progs.trace_context, &s->links.trace_context },
	};

	memcpy(p->defs, defs, sizeof(defs));
}

/* Inserts the "__overflow__" label sets that the programs fall back to when
 * a family is full: they must exist before it can fill. */
static int insert_overflow_keys(struct probes_bpf *s)
{
	struct bpf_map *series[] = { s->maps.task_series, s->maps.agent_series,
				     s->maps.event_series };
	__u32 idx = OVERFLOW_SERIES;
	struct labels2 l = {};
	int err;

	memcpy(l.l1, OVERFLOW_LABEL, sizeof(OVERFLOW_LABEL));
	memcpy(l.l2, OVERFLOW_LABEL, sizeof(OVERFLOW_LABEL));
	for (size_t m = 0; m < sizeof(series) / sizeof(series[0]); m++) {
		err = bpf_map__update_elem(series[m], &l, sizeof(l), &idx, sizeof(idx),
					   BPF_NOEXIST);
		if (err)
			return err;
	}
	return 0;
}

/* Sizes every map from the configured bounds, before load. */
static void size_maps(struct probes_bpf *s, const struct config *cfg)
{
	__u32 open = config_open_slots(cfg), series = cfg->max_series + 1;

	s->rodata->open_mask = open - 1;
	s->rodata->hot_mask = (open < HOT_SLOTS ? open : HOT_SLOTS) - 1;
	s->rodata->max_series = cfg->max_series;
	s->rodata->thread_frames = !(cfg->disable & 1u << PFAM_HTTP);
	bpf_map__set_max_entries(s->maps.span_texts, open);
	bpf_map__set_max_entries(s->maps.task_series, series);
	bpf_map__set_max_entries(s->maps.agent_series, series);
	bpf_map__set_max_entries(s->maps.task_hist, series * STATUS_MAX);
	bpf_map__set_max_entries(s->maps.agent_hist, series * STATUS_MAX);
	bpf_map__set_max_entries(s->maps.event_series, series);
	bpf_map__set_max_entries(s->maps.event_counts, series);
}

/* The series maps, read through the shared label sets. */
static int bind_series(struct probes *p)
{
	struct bpf_map *maps[SERIES_KINDS] = { p->skel->maps.task_series,
					       p->skel->maps.agent_series,
					       p->skel->maps.event_series };
	int rc = 0;

	for (int k = 0; k < SERIES_KINDS && !rc; k++)
		rc = series_bind(&p->shared->series[k], bpf_map__fd(maps[k]),
				 bpf_map__max_entries(maps[k]), &p->skel->data->next_series[k],
				 p->skel->rodata->max_series);
	return rc;
}

static int load(struct probes *p, const struct config *cfg, char *err, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = cfg->btf_path);
	struct probes_bpf *s;
	int rc;

	s = p->skel = VARIANT_OPEN(probes_bpf, &opts);
	if (!s) {
		rc = -errno;
		snprintf(err, len, "failed to open the BPF object: %s", strerror(-rc));
		return rc;
	}
	size_maps(s, cfg);
	/* open_slots and targets among them: the maps of user/shared.c */
	rc = family_load(s->skeleton, p->shared, "the AET probe programs", err, len);
	if (rc)
		return rc;
	rc = insert_overflow_keys(s) ?: bind_series(p) ?:
	     mapped_open(s->maps.task_hist, &p->task_hist) ?:
	     mapped_open(s->maps.agent_hist, &p->agent_hist) ?:
	     mapped_open(s->maps.event_counts, &p->event_counts) ?:
	     mapped_open_prot(s->maps.open_slots, &p->open_slots, PROT_READ | PROT_WRITE);
	if (rc)
		snprintf(err, len, "failed to prepare the maps: %s", strerror(-rc));
	return rc;
}

/*
 * The uprobe spot (docs/DESIGN.md, 3. The probe ABI). Every probe function begins with
 * nop5; push %rbp. A kernel that optimizes a uprobe on a 5-byte NOP makes a
 * hit there about 80 times cheaper than a single-stepped one; a kernel that
 * does not may still emulate the push. Which is faster is measured, not
 * guessed from a version: an empty program on each spot of this function,
 * whose first bytes are the probe functions' own, called by the collector.
 */
#define SPOT_PUSH   5
#define SPOT_CALLS  200
#define SPOT_ROUNDS 5

#if defined(__x86_64__)
__asm__(".text\n"
	".globl aet_spot_calibrate\n"
	".type aet_spot_calibrate, @function\n"
	".p2align 4\n"
	"aet_spot_calibrate:\n"
	".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n" /* nopl 0x0(%rax,%rax,1) */
	"push %rbp\n"
	"pop %rbp\n"
	"ret\n"
	".size aet_spot_calibrate, . - aet_spot_calibrate\n");

/* Nanoseconds of a call with the empty program at offset off (the best of
 * a few rounds: the first hit of a round may rewrite the NOP), or 0. */
static double spot_hit_ns(struct probes *p, size_t off)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = "aet_spot_calibrate");
	struct bpf_link *link;
	double best = INFINITY;

	link = bpf_program__attach_uprobe_opts(p->skel->progs.spot_calib, 0, "/proc/self/exe", off,
					       &opts);
	if (!link)
		return 0;
	for (int r = 0; r < SPOT_ROUNDS; r++) {
		double t0 = clock_ns(CLOCK_MONOTONIC);

		for (int i = 0; i < SPOT_CALLS; i++)
			aet_spot_calibrate();
		t0 = (clock_ns(CLOCK_MONOTONIC) - t0) / SPOT_CALLS;
		best = t0 < best ? t0 : best;
	}
	bpf_link__destroy(link);
	return best;
}
#endif

static size_t spot_offset;

size_t probes__spot_offset(void)
{
	return spot_offset;
}

static void choose_spot(struct probes *p, const struct config *cfg)
{
	p->spot = 0;
	p->spot_by = "default";
#if defined(__x86_64__)
	if (cfg->uprobe_spot != SPOT_AUTO) {
		p->spot = cfg->uprobe_spot == SPOT_PUSH_RBP ? SPOT_PUSH : 0;
		p->spot_by = "--uprobe-spot";
		return;
	}
	p->spot_ns[0] = spot_hit_ns(p, 0);
	p->spot_ns[1] = spot_hit_ns(p, SPOT_PUSH);
	if (!p->spot_ns[0] || !p->spot_ns[1])
		return;
	/* The NOP unless the push is clearly cheaper: the two are alike
	 * where neither is optimized. */
	p->spot = p->spot_ns[1] < 0.8 * p->spot_ns[0] ? SPOT_PUSH : 0;
	p->spot_by = "calibration";
#else
	(void)cfg;
#endif
}

static int attach(struct probes *p, const char *lib_path, char *err, size_t len)
{
	for (int i = 0; i < NPROBES; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = p->defs[i].sym);
		struct bpf_link *link;

		/* On every process mapping this library file (pid -1): the
		 * programs count the followed ones, so children the target
		 * forks later are observed too. */
		link = bpf_program__attach_uprobe_opts(p->defs[i].prog, -1, lib_path, p->spot,
						       &opts);
		if (!link) {
			int rc = -errno;

			snprintf(err, len, "failed to attach %s in %s: %s", p->defs[i].sym,
				 lib_path, strerror(-rc));
			return rc;
		}
		*p->defs[i].link = link; /* probes_bpf__destroy() detaches it */
	}
	return 0;
}

static int probes_attach(void *o, const struct family_env *env, char *err, size_t len)
{
	/* Follow mode: none till a process has loaded the library. */
	return env->lib_path ? attach(o, env->lib_path, err, len) : 0;
}

static void probes_detach(void *o)
{
	skel_detach(((struct probes *)o)->skel->skeleton);
}

static void probes_free(void *o)
{
	struct probes *p = o;

	if (!p)
		return;
	if (p->skel)
		skel_detach(p->skel->skeleton);
	mapped_close(&p->task_hist);
	mapped_close(&p->agent_hist);
	mapped_close(&p->event_counts);
	mapped_close(&p->open_slots);
	probes_bpf__destroy(p->skel);
	free(p);
}

static void *probes_open(const struct family_env *env, int *errp, char *err, size_t len)
{
	struct probes *p = calloc(1, sizeof(*p));
	int rc;

	if (!p) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	p->shared = env->shared;
	rc = load(p, env->cfg, err, len);
	if (rc) {
		*errp = rc;
		probes_free(p);
		return NULL;
	}
	set_defs(p);
	choose_spot(p, env->cfg);
	spot_offset = p->spot;
	return p;
}

int probes__each_attached(const struct probes *p, const char **syms, double *attached)
{
	for (int i = 0; i < NPROBES; i++) {
		syms[i] = probe_syms[i];
		attached[i] = p && *p->defs[i].link;
	}
	return NPROBES;
}

const char *probes__spot(const struct probes *p, double *nop5_ns, double *push_ns, const char **by)
{
	if (!p)
		return NULL;
	*nop5_ns = p->spot_ns[0];
	*push_ns = p->spot_ns[1];
	*by = p->spot_by;
	return p->spot ? "push" : "nop5";
}

static int probes_count(const void *o)
{
	return o ? NPROBES : 0;
}

static int probes_attached(const void *o)
{
	return o ? skel_attached(((const struct probes *)o)->skel->skeleton) : 0;
}

static void probes_write_status(void *o, const char *why, struct buf *out)
{
	struct probes *p = o;
	struct bpf_map *m;
	bool first = true;

	(void)why;
	if (!p) {
		buf_puts(out, "\"uprobe_spot\":null,\"probes\":[],\"programs\":[],\"maps\":[]");
		return;
	}
	buf_printf(out,
		   "\"uprobe_spot\":{\"spot\":\"%s\",\"offset\":%zu,\"decided_by\":\"%s\","
		   "\"nop5_hit_ns\":%.0f,\"push_hit_ns\":%.0f},",
		   p->spot ? "push" : "nop5", p->spot, p->spot_by, p->spot_ns[0], p->spot_ns[1]);
	buf_puts(out, "\"probes\":[");
	for (int i = 0; i < NPROBES; i++)
		buf_printf(out, "%s{\"name\":\"%s\",\"program\":\"%s\",\"attached\":%s}",
			   i ? "," : "", p->defs[i].sym, bpf_program__name(p->defs[i].prog),
			   *p->defs[i].link ? "true" : "false");
	buf_puts(out, "],\"programs\":[");
	for (int i = 0; i < NPROBES; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		bpf_obj_get_info_by_fd(bpf_program__fd(p->defs[i].prog), &info, &len);
		buf_printf(out,
			   "%s{\"name\":\"%s\",\"id\":%u,\"run_count\":%llu,"
			   "\"run_time_ns\":%llu}",
			   i ? "," : "", bpf_program__name(p->defs[i].prog), info.id,
			   (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns);
	}
	buf_puts(out, "],\"maps\":[");
	bpf_object__for_each_map (m, p->skel->obj) {
		long n;

		if (m == p->skel->maps.open_slots)
			n = probes__open_count(p, -1);
		else if (m == p->skel->maps.aet_locks)
			continue; /* bpf_build.locks_busy */
		else if (bpf_map__type(m) == BPF_MAP_TYPE_HASH)
			n = map_dump(bpf_map__fd(m), bpf_map__key_size(m), bpf_map__value_size(m),
				     NULL, NULL);
		else
			continue; /* arrays are sized by the bounds above; .rodata is no table */
		buf_printf(out, "%s{\"name\":\"%s\",\"entries\":%ld,\"max_entries\":%u}",
			   first ? "" : ",", bpf_map__name(m), n, bpf_map__max_entries(m));
		first = false;
	}
	buf_puts(out, "]");
}

static struct bpf_object *probes_object(const void *o)
{
	const struct probes *p = o;

	return p ? p->skel->obj : NULL;
}

const struct family_ops probes_family = {
	.open = probes_open,
	.attach = probes_attach,
	.detach = probes_detach,
	.count = probes_count,
	.attached = probes_attached,
	.write_metrics = probes__write_metrics,
	.write_status = probes_write_status,
	.free = probes_free,
	.object = probes_object,
};
