// SPDX-License-Identifier: MIT
/* Loading bpf/custom.bpf.c; /metrics and /status from its maps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "custom.h"
#include "custom.skel.h"
#include "custom_expo.h"
#include "detach.h"
#include "elfsym.h"
#include "expo.h"
#include "mapdump.h"
#include "probes.h"
#include "variant.h"

#define NCUSTOM 5

struct custom {
	struct custom_bpf *skel;
	const char *syms[NCUSTOM];
	struct bpf_program *progs[NCUSTOM];
	struct bpf_link **links[NCUSTOM];
};

static void set_points(struct custom *c)
{
	struct custom_bpf *s = c->skel;
	const char *syms[NCUSTOM] = { "aet_probe_keyed_counter_add", "aet_probe_keyed_gauge_set",
				      "aet_probe_keyed_gauge_add", "aet_probe_keyed_observe",
				      "aet_probe_histogram_bounds" };
	struct bpf_program *progs[NCUSTOM] = { s->progs.keyed_counter_add, s->progs.keyed_gauge_set,
					       s->progs.keyed_gauge_add, s->progs.keyed_observe,
					       s->progs.histogram_bounds };
	struct bpf_link **links[NCUSTOM] = { &s->links.keyed_counter_add, &s->links.keyed_gauge_set,
					     &s->links.keyed_gauge_add, &s->links.keyed_observe,
					     &s->links.histogram_bounds };

	memcpy(c->syms, syms, sizeof(syms));
	memcpy(c->progs, progs, sizeof(progs));
	memcpy(c->links, links, sizeof(links));
}

static int load(struct custom *c, const struct family_env *env, char *err, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = env->cfg->btf_path);
	const struct config *cfg = env->cfg;
	struct custom_bpf *s;
	int rc;

	s = c->skel = VARIANT_OPEN(custom_bpf, &opts);
	if (!s) {
		rc = -errno;
		snprintf(err, len, "failed to open the custom metric programs: %s", strerror(-rc));
		return rc;
	}
	bpf_map__set_max_entries(s->maps.custom_series, cfg->max_series);
	bpf_map__set_max_entries(s->maps.custom_keys, cfg->max_series);
	bpf_map__set_max_entries(s->maps.custom_names, cfg->max_custom_names);
	bpf_map__set_max_entries(s->maps.custom_overflow, cfg->max_custom_names + CUSTOM_TYPES);
	return family_load(s->skeleton, env->shared, "the custom metric programs", err, len);
}

/* The counter the kernel keeps of the programs on the keyed probes, in
 * the library's file: the custom metric functions call them only while it
 * is not 0 (probe/custom.c). */
#define ATTACHED_SYM "aet_probe_custom_attached"

static int custom_attach(void *o, const struct family_env *env, char *err, size_t len)
{
	struct custom *c = o;
	long attached;

	if (!env->lib_path && env->target->pid) {
		snprintf(err, len, "process %d has not loaded libaetprobe.so: no custom metrics",
			 env->target->pid);
		return -ENOENT;
	}
	/* Follow mode: none till a process has loaded the library. */
	if (!env->lib_path)
		return 0;
	attached = elfsym_path_offset(env->lib_path, ATTACHED_SYM);
	if (attached < 0) {
		snprintf(err, len, "%s has no %s (probe ABI version 2): no custom metrics",
			 env->lib_path, ATTACHED_SYM);
		return -ENOENT;
	}
	for (int i = 0; i < NCUSTOM; i++) {
		/* histogram_bounds, called whether or not: no counter */
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = c->syms[i],
			    .ref_ctr_offset = c->progs[i] == c->skel->progs.histogram_bounds
						      ? 0
						      : (size_t)attached);
		struct bpf_link *link;

		if (*c->links[i])
			continue;
		/* On every process mapping the library (pid -1), as the probes family. */
		link = bpf_program__attach_uprobe_opts(c->progs[i], -1, env->lib_path,
						       probes__spot_offset(), &opts);
		if (!link) {
			int rc = -errno;

			snprintf(err, len, "failed to attach %s in %s (probe ABI version 2): %s",
				 c->syms[i], env->lib_path, strerror(-rc));
			return rc;
		}
		*c->links[i] = link; /* custom_bpf__destroy() detaches it */
	}
	return 0;
}

static void custom_detach(void *o)
{
	skel_detach(((struct custom *)o)->skel->skeleton);
}

static void custom_free(void *o)
{
	struct custom *c = o;

	if (!c)
		return;
	if (c->skel)
		skel_detach(c->skel->skeleton);
	custom_bpf__destroy(c->skel);
	free(c);
}

static void *custom_open(const struct family_env *env, int *errp, char *err, size_t len)
{
	struct custom *c = calloc(1, sizeof(*c));
	int rc;

	if (!c) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	rc = load(c, env, err, len);
	if (rc) {
		*errp = rc;
		custom_free(c);
		return NULL;
	}
	set_points(c);
	return c;
}

static int custom_count(const void *o)
{
	return o ? NCUSTOM : 0;
}

static int custom_attached(const void *o)
{
	return o ? skel_attached(((const struct custom *)o)->skel->skeleton) : 0;
}

/* The samples of one scrape, grown as the maps are read. */
struct samples {
	struct custom_sample *s;
	size_t n, cap;
	struct custom_left_out left;
	int names_fd; /* custom_names: the bounds a histogram declared */
	int keys_fd;  /* custom_keys: a series' name and labels */
	int err;
};

static struct custom_sample *sample_next(struct samples *ss)
{
	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? 2 * ss->cap : 64;
		struct custom_sample *s = realloc(ss->s, cap * sizeof(*s));

		if (!s) {
			ss->err = -ENOMEM;
			return NULL;
		}
		ss->s = s;
		ss->cap = cap;
	}
	return &ss->s[ss->n++];
}

/* The bounds name declared, in s when its series has them (nbounds): the
 * names map is only added to, so they are there. */
static void set_bounds(struct samples *ss, struct custom_sample *s, const char *name)
{
	char key[CUSTOM_NAME_LEN] = {};
	struct custom_name n = {};

	if (!s->v.nbounds)
		return;
	memcpy(key, name, sizeof(key));
	if (bpf_map_lookup_elem(ss->names_fd, key, &n) || n.nbounds != s->v.nbounds)
		ss->err = -EIO;
	else
		custom_sample_bounds(s, n.le, n.nbounds);
}

/* A series, by the library's key: its name and labels in custom_keys,
 * put there before it (bpf/custom.bpf.c). */
static void on_series(const void *key, const void *value, void *ctx)
{
	struct samples *ss = ctx;
	struct custom_sample *s;
	struct custom_key k;

	if (bpf_map_lookup_elem(ss->keys_fd, key, &k))
		return;
	s = sample_next(ss);
	if (!s)
		return;
	custom_sample_set(s, k.type, k.name, k.labels, value, &ss->left);
	set_bounds(ss, s, k.name);
}

static void on_overflow(const void *key, const void *value, void *ctx)
{
	const struct custom_name_key *k = key;
	struct custom_sample *s = sample_next(ctx);

	if (!s)
		return;
	custom_sample_set(s, k->type, k->name, NULL, value, &((struct samples *)ctx)->left);
	set_bounds(ctx, s, k->name);
}

static long dump(struct bpf_map *m, map_entry_fn fn, struct samples *ss)
{
	return map_dump(bpf_map__fd(m), bpf_map__key_size(m), bpf_map__value_size(m), fn, ss);
}

/* aet_collector_custom_*: the programs' counters (enum custom_stat) and
 * what this scrape left out. */
static int write_stats(struct custom *c, const struct custom_left_out *left, struct buf *out)
{
	static const char *const reasons[CSTAT_MAX] = CUSTOM_STAT_NAMES;
	static const char *const what[] = { "label_pairs", "series" };
	double v[CSTAT_MAX] = {}, l[] = { left->label_pairs, left->series };

	for (__u32 i = 0; i < CSTAT_MAX; i++) {
		__u64 n = 0;

		bpf_map__lookup_elem(c->skel->maps.custom_stats, &i, sizeof(i), &n, sizeof(n), 0);
		v[i] = n;
	}
	return expo_write_by_label(out, "aet_collector_custom_calls_total",
				   "Custom metric calls by what befell them: series_overflow and "
				   "name_overflow counted under \"__overflow__\" (--max-series, "
				   "--max-custom-names), truncated cut and counted (when read: a "
				   "series' first call, each call ignored), type_conflict, "
				   "invalid and buckets_conflict (histogram bounds declared "
				   "late or twice differently) ignored.",
				   METRIC_COUNTER, "reason", reasons, v, CSTAT_MAX)
		       ?: expo_write_by_label(
				  out, "aet_collector_custom_left_out",
				  "What this scrape left out of the custom metrics: label pairs "
				  "(malformed, past the fourth, a key given twice) and series of "
				  "a name another type, or other histogram bounds, has.",
				  METRIC_GAUGE, "what", what, l, 2);
}

static int custom_write_metrics(void *o, struct buf *out)
{
	struct custom *c = o;
	struct samples ss = {};
	long rc;

	if (!c)
		return 0;
	ss.names_fd = bpf_map__fd(c->skel->maps.custom_names);
	ss.keys_fd = bpf_map__fd(c->skel->maps.custom_keys);
	rc = dump(c->skel->maps.custom_series, on_series, &ss);
	if (rc >= 0)
		rc = dump(c->skel->maps.custom_overflow, on_overflow, &ss);
	rc = rc < 0 ? rc : ss.err;
	if (!rc)
		rc = custom_samples_write(ss.s, ss.n, out, &ss.left)
			     ?: write_stats(c, &ss.left, out);
	free(ss.s);
	return rc;
}

static void custom_write_status(void *o, const char *why, struct buf *out)
{
	struct custom *c = o;
	struct bpf_map *maps[4];

	(void)why;
	if (!c) {
		buf_puts(out, "\"custom\":null");
		return;
	}
	maps[0] = c->skel->maps.custom_series;
	maps[1] = c->skel->maps.custom_names;
	maps[2] = c->skel->maps.custom_overflow;
	maps[3] = c->skel->maps.custom_keys;
	buf_printf(out, "\"custom\":{\"programs\":%d,\"attached\":%d,\"maps\":[", custom_count(c),
		   custom_attached(c));
	for (int i = 0; i < 4; i++)
		buf_printf(out, "%s{\"name\":\"%s\",\"entries\":%ld,\"max_entries\":%u}",
			   i ? "," : "", bpf_map__name(maps[i]), dump(maps[i], NULL, NULL),
			   bpf_map__max_entries(maps[i]));
	buf_puts(out, "]}");
}

static struct bpf_object *custom_object(const void *o)
{
	const struct custom *c = o;

	return c ? c->skel->obj : NULL;
}

const struct family_ops custom_family = {
	.open = custom_open,
	.attach = custom_attach,
	.detach = custom_detach,
	.count = custom_count,
	.attached = custom_attached,
	.write_metrics = custom_write_metrics,
	.write_status = custom_write_status,
	.free = custom_free,
	.object = custom_object,
};
