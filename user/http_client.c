// SPDX-License-Identifier: MIT
/* Loading bpf/http.bpf.c: the socket syscalls and the target's libssl. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "expo.h"
#include "family.h"
#include "genai.h"
#include "genai_maps.h"
#include "host.h"
#include "http_client.h"
#include "http.skel.h"
#include "http_maps.h"
#include "mapdump.h"
#include "samples.h"
#include "variant.h"

/* Where the programs go: a syscall tracepoint, or a function of libssl. */
enum point_kind { TP, UPROBE, URETPROBE };

struct point {
	enum point_kind kind;
	const char *name; /* the tracepoint, or the libssl function */
	struct bpf_program *prog;
	struct bpf_link *link;
};

#define NPOINTS 29

struct http_client {
	struct http_bpf *skel;
	struct point points[NPOINTS];
	char lib_path[PATH_MAX]; /* "": the target has no libssl (yet) */
	char lib_why[256];
	bool deleted; /* the library was replaced on disk: lib_path is in map_files */
	bool mounted_tracefs;
	struct genai *genai; /* model calls (user/genai.h) */
};

/* The exits of the four sends share a program, and of the four receives
 * another (bpf/http.bpf.c); SSL_read and SSL_read_ex share their return's,
 * SSL_write and SSL_write_ex theirs, SSL_shutdown and SSL_free one. */
static void set_points(struct http_client *h)
{
	struct http_bpf *k = h->skel;
	const struct point points[NPOINTS] = {
		/* Exits first: a call whose entry is seen has its exit seen. */
		{ .kind = TP, .name = "sys_exit_write", .prog = k->progs.exit_send_any },
		{ .kind = TP, .name = "sys_exit_sendto", .prog = k->progs.exit_send_any },
		{ .kind = TP, .name = "sys_exit_writev", .prog = k->progs.exit_send_any },
		{ .kind = TP, .name = "sys_exit_sendmsg", .prog = k->progs.exit_send_any },
		{ .kind = TP, .name = "sys_exit_read", .prog = k->progs.exit_recv_any },
		{ .kind = TP, .name = "sys_exit_recvfrom", .prog = k->progs.exit_recv_any },
		{ .kind = TP, .name = "sys_exit_readv", .prog = k->progs.exit_recv_any },
		{ .kind = TP, .name = "sys_exit_recvmsg", .prog = k->progs.exit_recv_any },
		{ .kind = TP, .name = "sys_enter_write", .prog = k->progs.enter_write },
		{ .kind = TP, .name = "sys_enter_sendto", .prog = k->progs.enter_sendto },
		{ .kind = TP, .name = "sys_enter_writev", .prog = k->progs.enter_writev },
		{ .kind = TP, .name = "sys_enter_sendmsg", .prog = k->progs.enter_sendmsg },
		{ .kind = TP, .name = "sys_enter_read", .prog = k->progs.enter_read },
		{ .kind = TP, .name = "sys_enter_recvfrom", .prog = k->progs.enter_recvfrom },
		{ .kind = TP, .name = "sys_enter_readv", .prog = k->progs.enter_readv },
		{ .kind = TP, .name = "sys_enter_recvmsg", .prog = k->progs.enter_recvmsg },
		{ .kind = TP, .name = "sys_enter_close", .prog = k->progs.enter_close },
		{ .kind = TP, .name = "sys_exit_poll", .prog = k->progs.exit_poll_any },
		{ .kind = TP, .name = "sys_exit_ppoll", .prog = k->progs.exit_poll_any },
		/* Uretprobes first: a call whose entry is seen has its return seen. */
		{ .kind = URETPROBE, .name = "SSL_write", .prog = k->progs.ssl_write_ret },
		{ .kind = URETPROBE, .name = "SSL_write_ex", .prog = k->progs.ssl_write_ret },
		{ .kind = URETPROBE, .name = "SSL_read", .prog = k->progs.ssl_read_ret },
		{ .kind = URETPROBE, .name = "SSL_read_ex", .prog = k->progs.ssl_read_ret },
		{ .kind = UPROBE, .name = "SSL_write", .prog = k->progs.ssl_write },
		{ .kind = UPROBE, .name = "SSL_write_ex", .prog = k->progs.ssl_write_ex },
		{ .kind = UPROBE, .name = "SSL_read", .prog = k->progs.ssl_read },
		{ .kind = UPROBE, .name = "SSL_read_ex", .prog = k->progs.ssl_read_ex },
		{ .kind = UPROBE, .name = "SSL_shutdown", .prog = k->progs.ssl_free },
		{ .kind = UPROBE, .name = "SSL_free", .prog = k->progs.ssl_free },
	};

	memcpy(h->points, points, sizeof(points));
}

static void detach_points(struct http_client *h, bool tls_only)
{
	for (int i = 0; i < NPOINTS; i++) {
		if (tls_only && h->points[i].kind == TP)
			continue;
		bpf_link__destroy(h->points[i].link);
		h->points[i].link = NULL;
	}
}

/* The target's libssl, or "" and why not. */
static void find_library(struct http_client *h, const struct target *t)
{
	int rc = t->pid ? target_find_mapping(t, SSL_LIBRARY, h->lib_path, sizeof(h->lib_path))
			: -ESRCH;

	/* Replaced on disk (an OpenSSL update under a running process): the
	 * inode it still maps, through /proc/PID/map_files. */
	h->deleted = rc == -ESTALE;
	if (h->deleted)
		rc = target_deleted_mapping(t, SSL_LIBRARY, h->lib_path, sizeof(h->lib_path));
	h->lib_why[0] = '\0';
	if (!rc)
		return;
	h->lib_path[0] = '\0';
	if (rc == -ENOENT)
		snprintf(h->lib_why, sizeof(h->lib_why),
			 "process %d has not loaded %s: its TLS requests are not observed", t->pid,
			 SSL_LIBRARY);
	else if (rc != -ESRCH)
		snprintf(h->lib_why, sizeof(h->lib_why), "cannot find %s in process %d: %s",
			 SSL_LIBRARY, t->pid, strerror(-rc));
}

/*
 * Attaches what is not attached: the tracepoints, and the uprobes to the
 * target's pid only when it maps libssl (other processes mapping it pay
 * nothing).
 */
static int attach(struct http_client *h, int pid, char *err, size_t len)
{
	h->skel->bss->targ_tgid = pid;
	for (int i = 0; i < NPOINTS; i++) {
		struct point *p = &h->points[i];
		int rc;

		if (p->link || (p->kind != TP && !h->lib_path[0]))
			continue;
		if (p->kind == TP) {
			p->link = bpf_program__attach_tracepoint(p->prog, "syscalls", p->name);
		} else {
			LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = p->name,
				    .retprobe = p->kind == URETPROBE);

			p->link = bpf_program__attach_uprobe_opts(p->prog, pid, h->lib_path, 0,
								  &opts);
		}
		if (p->link)
			continue;
		rc = -errno;
		if (p->kind == TP)
			snprintf(err, len, "failed to attach to tracepoint syscalls/%s: %s",
				 p->name, strerror(-rc));
		else
			snprintf(err, len, "failed to attach %s %s in %s: %s",
				 p->kind == URETPROBE ? "a uretprobe to" : "a uprobe to", p->name,
				 h->lib_path, strerror(-rc));
		return rc == -ENOENT ? -ENOEXEC : rc;
	}
	return 0;
}

static int http_attach(void *o, const struct family_env *env, char *err, size_t len)
{
	return attach(o, env->target->pid, err, len);
}

static void http_detach(void *o)
{
	detach_points(o, false);
}

/* Follow mode: the uprobes move to the new target's libssl, the syscall
 * programs stay. -ENOENT while it has no libssl: tried again each tick. */
static int http_retarget(void *o, const struct family_env *env, bool attach_now, char *err,
			 size_t len)
{
	struct http_client *h = o;
	int rc;

	detach_points(h, true);
	find_library(h, env->target);
	rc = attach_now ? attach(h, env->target->pid, err, len) : 0;
	if (!rc && !h->lib_path[0]) {
		snprintf(err, len, "%s", h->lib_why);
		rc = -ENOENT;
	}
	return rc;
}

static int http_start(void *o, char *err, size_t len)
{
	return genai__run(((struct http_client *)o)->genai, err, len);
}

static void http_free(void *o)
{
	struct http_client *h = o;

	if (!h)
		return;
	if (h->skel)
		http_detach(h);
	genai__free(h->genai); /* after the programs, for a last drain */
	http_bpf__destroy(h->skel);
	free(h);
}

static void *http_open(const struct family_env *env, int *errp, char *err, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = env->cfg->btf_path);
	struct http_client *h = calloc(1, sizeof(*h));
	struct http_bpf *s;
	int rc;

	if (!h) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	find_library(h, env->target);
	rc = host_mount_tracefs(&h->mounted_tracefs, err, len);
	s = h->skel = rc ? NULL : VARIANT_OPEN(http_bpf, &opts);
	if (!rc && !s) {
		rc = -errno;
		snprintf(err, len, "failed to open the HTTP programs: %s", strerror(-rc));
	}
	if (!rc) {
		/* Connections: a quarter of --max-open (the least recently used
		 * forgotten past it); label sets: --max-series, allocated as
		 * they come; calls in progress: per thread. */
		bpf_map__set_max_entries(s->maps.conns, config_open_quarter(env->cfg));
		/* A target without libssl (--pid): plain HTTP only, the TLS
		 * programs not even loaded. In follow mode the next target may
		 * have it (retarget). */
		for (int i = 0; i < s->skeleton->prog_cnt && env->target->pid && !h->lib_path[0];
		     i++) {
			struct bpf_program *p = *s->skeleton->progs[i].prog;

			/* "uprobe", "uretprobe" */
			bpf_program__set_autoload(p, bpf_program__section_name(p)[0] != 'u');
		}
		bpf_map__set_max_entries(s->maps.http_series, env->cfg->max_series);
		bpf_map__set_map_flags(s->maps.http_series, BPF_F_NO_PREALLOC);
		rc = family_load(s->skeleton, env->shared, "the HTTP programs", err, len);
	}
	if (!rc) {
		h->genai = genai__new(s->maps.genai_paths, s->maps.genai_ring, env->shared,
				      env->cfg->max_series, err, len);
		rc = h->genai ? 0 : -ENOMEM;
		if (h->genai)
			genai__set_prices(h->genai, env->cfg->gen_ai_prices);
	}
	if (rc) {
		*errp = rc;
		http_free(h);
		return NULL;
	}
	set_points(h);
	return h;
}

static int http_count(const void *o)
{
	return o ? skel_loaded(((const struct http_client *)o)->skel->skeleton) : 0;
}

/* Programs with a link (some have several: set_points()). */
static int http_attached(const void *o)
{
	const struct http_client *h = o;
	const struct bpf_object_skeleton *s = h ? h->skel->skeleton : NULL;
	int n = 0;

	for (int i = 0; s && i < s->prog_cnt; i++)
		for (int j = 0; j < NPOINTS; j++)
			if (h->points[j].prog == *s->progs[i].prog && h->points[j].link) {
				n++;
				break;
			}
	return n;
}

static int links(const struct http_client *h)
{
	int n = 0;

	for (int i = 0; i < NPOINTS; i++)
		n += h->points[i].link != NULL;
	return n;
}

struct series_dump {
	struct http_key *keys;
	struct http_val *vals;
	size_t n, cap;
};

static void take_series(const void *key, const void *value, void *ctx)
{
	struct series_dump *d = ctx;

	if (d->n == d->cap)
		return;
	memcpy(&d->keys[d->n], key, sizeof(*d->keys));
	memcpy(&d->vals[d->n], value, sizeof(*d->vals));
	d->n++;
}

static __u64 http_stat(const struct http_client *h, __u32 i)
{
	__u64 n = 0;

	bpf_map__lookup_elem(h->skel->maps.http_stats, &i, sizeof(i), &n, sizeof(n), 0);
	return n;
}

static int http_write_metrics(void *o, struct buf *out)
{
	struct http_client *h = o;
	static const char *const reasons[] = { "series_full", "connections_full", NULL, NULL,
					       "lost_sync" };
	static const char *const l_reason[] = { "reason" };
	struct bpf_map *m = h->skel->maps.http_series;
	struct series_dump d = { .cap = bpf_map__max_entries(m) };
	struct http_val overflow[HM_MAX] = {};
	struct metric *over;
	long n;
	int rc = -ENOMEM;

	d.keys = calloc(d.cap, sizeof(*d.keys));
	d.vals = calloc(d.cap, sizeof(*d.vals));
	for (__u32 i = 0; i < HM_MAX; i++)
		bpf_map__lookup_elem(h->skel->maps.http_overflow, &i, sizeof(i), &overflow[i],
				     sizeof(overflow[i]), 0);
	if (d.keys && d.vals) {
		n = map_dump(bpf_map__fd(m), sizeof(*d.keys), sizeof(*d.vals), take_series, &d);
		rc = n < 0 ? (int)n : http_samples_write(d.keys, d.vals, d.n, overflow, out);
	}
	free(d.keys);
	free(d.vals);
	if (rc)
		return rc;
	over = metric__new("aet_collector_http_overflow_total",
			   "HTTP requests counted under __overflow__ (series_full: past "
			   "--max-series label sets), not counted (connections_full: no room for "
			   "a connection's state), or whose response's end was not seen "
			   "(lost_sync: ended at the next request).",
			   METRIC_COUNTER, 1, l_reason);
	if (!over)
		return -ENOMEM;
	for (__u32 i = 0; i < HSTAT_MAX && !rc; i++)
		if (reasons[i])
			rc = metric__add(over, &reasons[i], http_stat(h, i));
	metric__write(over, out);
	metric__free(over);
	if (rc)
		return rc;
	{
		const struct expo_sample h2[] = {
			{ "aet_http_client_h2_connections_total",
			  "HTTP/2 client connections (their preface): counted, with their bytes, "
			  "not parsed into requests.",
			  METRIC_COUNTER, http_stat(h, HSTAT_H2) },
			{ "aet_http_client_h2_bytes_total",
			  "Bytes written and read on HTTP/2 client connections.", METRIC_COUNTER,
			  http_stat(h, HSTAT_H2_BYTES) },
		};

		rc = expo_write_unlabelled(out, h2, 2);
	}
	if (!rc) {
		__u64 lost[GSTAT_MAX] = {};

		for (__u32 i = 0; i < GSTAT_MAX; i++)
			bpf_map__lookup_elem(h->skel->maps.genai_stats, &i, sizeof(i), &lost[i],
					     sizeof(lost[i]), 0);
		rc = genai__write_metrics(h->genai, lost, out);
	}
	return rc;
}

static void http_write_status(void *o, const char *why, struct buf *out)
{
	struct http_client *h = o;
	struct bpf_map *series, *conns;
	unsigned long long calls, open;
	long n;

	buf_puts(out, "\"http\":{\"tls_library\":");
	if (!h) {
		buf_puts(out, "null,\"error\":");
		buf_json_str(out, why ? why : "", why ? strlen(why) : 0);
		buf_puts(out, ",\"programs\":0,\"attached\":0}");
		return;
	}
	if (h->lib_path[0])
		buf_json_str(out, h->lib_path, strlen(h->lib_path));
	else
		buf_puts(out, "null");
	buf_printf(out, ",\"deleted\":%s", h->deleted ? "true" : "false");
	if (h->lib_why[0]) {
		buf_puts(out, ",\"tls_error\":");
		buf_json_str(out, h->lib_why, strlen(h->lib_why));
	}
	series = h->skel->maps.http_series;
	conns = h->skel->maps.conns;
	n = map_dump(bpf_map__fd(series), sizeof(struct http_key), sizeof(struct http_val), NULL,
		     NULL);
	genai__counts(h->genai, &calls, &open);
	buf_printf(out, ",\"gen_ai\":{\"calls\":%llu,\"in_progress\":%llu}", calls, open);
	buf_printf(out,
		   ",\"tracefs\":\"%s\",\"protocols\":\"HTTP/1.x parsed; HTTP/2 counted as "
		   "connections and bytes only\",\"series\":%ld,\"max_series\":%u,"
		   "\"max_connections\":%u,\"h2_connections\":%llu,\"programs\":%d,"
		   "\"attached\":%d,\"links\":%d}",
		   h->mounted_tracefs ? "mounted by the collector" : "already mounted",
		   n < 0 ? 0 : n, bpf_map__max_entries(series), bpf_map__max_entries(conns),
		   (unsigned long long)http_stat(h, HSTAT_H2), http_count(h), http_attached(h),
		   links(h));
}

static struct bpf_object *http_object(const void *o)
{
	const struct http_client *h = o;

	return h ? h->skel->obj : NULL;
}

const struct family_ops http_family = {
	.open = http_open,
	.attach = http_attach,
	.detach = http_detach,
	.retarget = http_retarget,
	.count = http_count,
	.attached = http_attached,
	.write_metrics = http_write_metrics,
	.write_status = http_write_status,
	.start = http_start,
	.free = http_free,
	.object = http_object,
};
