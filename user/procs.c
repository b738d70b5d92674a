// SPDX-License-Identifier: MIT
/* Loading bpf/procs.bpf.c; the followed processes for /metrics and /status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "detach.h"
#include "family.h"
#include "host.h"
#include "procs.h"
#include "procs.skel.h"
#include "variant.h"
#include "procs_maps.h"

struct procs {
	struct procs_bpf *skel;
	struct ring_buffer *matched; /* follow mode: the processes matched */
	void (*on_match)(int pid, void *ctx);
	void *match_ctx;
	__u64 matched_lost; /* PSTAT_MATCHED_FULL at the last procs__matched() */
	bool raw;	    /* on raw tracepoints: the BTF ones failed to load */
};

/* Follow mode: what the exec and rename programs match. */
static int set_follow(struct procs *p, const struct config *cfg, char *err, size_t len)
{
	struct procs_bpf__rodata *ro = p->skel->rodata;
	struct stat st;

	if (cfg->follow_comm) {
		ro->follow_by = FOLLOW_COMM;
		memcpy((void *)ro->follow_comm, cfg->follow_comm, strlen(cfg->follow_comm));
	} else if (cfg->follow_exe) {
		if (stat(cfg->follow_exe, &st) || !S_ISREG(st.st_mode)) {
			snprintf(err, len, "--exe %s: %s", cfg->follow_exe,
				 errno ? strerror(errno) : "not a regular file");
			return errno ? -errno : -EINVAL;
		}
		ro->follow_by = FOLLOW_EXE;
		ro->follow_ino = st.st_ino;
		/* The kernel's dev_t: major in the high 12 bits of 32, minor below. */
		ro->follow_dev = major(st.st_dev) << 20 | minor(st.st_dev);
	}
	return 0;
}

/* Which programs load: one of each pair (tp_btf, or raw_tp when raw), and
 * the exec and rename ones in follow mode only (--pid: no program to run
 * on every exec of the host). */
static void choose_programs(struct procs *p, const struct config *cfg, bool raw)
{
	bool following = cfg->follow_comm || cfg->follow_exe;
	struct bpf_program *prog;

	bpf_object__for_each_program (prog, p->skel->obj) {
		const char *name = bpf_program__name(prog);
		size_t n = strlen(name);
		bool is_raw = n > 4 && !strcmp(name + n - 4, "_raw");

		bpf_program__set_autoload(
			prog, is_raw == raw && (following || (strncmp(name, "follow_exec", 11) &&
							      strncmp(name, "follow_rename", 13))));
	}
}

static int on_matched(void *ctx, void *data, size_t size)
{
	struct procs *p = ctx;

	if (size >= sizeof(__u32) && p->on_match)
		p->on_match((int)*(const __u32 *)data, p->match_ctx);
	return 0;
}

/* BTF tracepoints need the kernel's BTF in sysfs; where they do not load,
 * raw tracepoints do the same work. */
static int load(struct procs *p, const struct config *cfg, struct shared *sh, char *err, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = cfg->btf_path);
	int rc;

	p->skel = VARIANT_OPEN(procs_bpf, &opts);
	if (!p->skel) {
		rc = -errno;
		snprintf(err, len, "failed to open the process programs: %s", strerror(-rc));
		return rc;
	}
	p->raw = !host_tp_btf();
	choose_programs(p, cfg, p->raw);
	rc = set_follow(p, cfg, err, len)
		     ?: family_load(p->skel->skeleton, sh, "the process programs", err, len);
	if (rc || !(cfg->follow_comm || cfg->follow_exe))
		return rc;
	p->matched = ring_buffer__new(bpf_map__fd(p->skel->maps.matched), on_matched, p, NULL);
	rc = p->matched ? 0 : -errno;
	if (rc)
		snprintf(err, len, "failed to read the matched ring: %s", strerror(-rc));
	return rc;
}

static int procs_attach(void *f, const struct family_env *env, char *err, size_t len)
{
	struct procs *p = f;
	int rc = procs_bpf__attach(p->skel);

	(void)env;
	if (rc)
		snprintf(err, len, "failed to attach the process tracepoints: %s", strerror(-rc));
	return rc;
}

static void procs_detach(void *f)
{
	skel_detach(((struct procs *)f)->skel->skeleton);
}

static void procs_free(void *f)
{
	struct procs *p = f;

	if (!p)
		return;
	if (p->skel)
		skel_detach(p->skel->skeleton);
	ring_buffer__free(p->matched);
	procs_bpf__destroy(p->skel);
	free(p);
}

static void *procs_open(const struct family_env *env, int *errp, char *err, size_t len)
{
	struct procs *p = calloc(1, sizeof(*p));
	int rc;

	if (!p) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	rc = load(p, env->cfg, env->shared, err, len);
	if (rc) {
		*errp = rc;
		procs_free(p);
		return NULL;
	}
	return p;
}

/* The exec and rename programs are loaded in follow mode only. */
static int procs_count(const void *f)
{
	return f ? skel_loaded(((const struct procs *)f)->skel->skeleton) : 0;
}

static int procs_attached(const void *f)
{
	return f ? skel_attached(((const struct procs *)f)->skel->skeleton) : 0;
}

static __u64 stat_of(const struct procs *p, __u32 i)
{
	__u64 n = 0;

	bpf_map__lookup_elem(p->skel->maps.procs_stats, &i, sizeof(i), &n, sizeof(n), 0);
	return n;
}

bool procs__raw(const struct procs *p)
{
	return p && p->raw;
}

int procs__exit_status(struct procs *p, int pid, int *status)
{
	__u32 key = (__u32)pid, code;

	/* Looked up, then deleted: lookup-and-delete of a hash needs 5.14. */
	if (!p || bpf_map__lookup_elem(p->skel->maps.exit_codes, &key, sizeof(key), &code,
				       sizeof(code), 0))
		return -ENOENT;
	bpf_map__delete_elem(p->skel->maps.exit_codes, &key, sizeof(key), 0);
	*status = (int)code;
	return 0;
}

long procs__matched(struct procs *p, void (*found)(int pid, void *ctx), void *ctx)
{
	__u64 lost;

	if (!p || !p->matched)
		return 0;
	p->on_match = found;
	p->match_ctx = ctx;
	ring_buffer__consume(p->matched);
	lost = stat_of(p, PSTAT_MATCHED_FULL) - p->matched_lost;
	p->matched_lost += lost;
	return (long)lost;
}

static void procs_write_status(void *f, const char *why, struct buf *out)
{
	struct procs *p = f;

	(void)why;
	buf_printf(out,
		   "\"processes\":{\"tracepoints\":\"%s\",\"matches_lost\":%llu,\"programs\":%d,"
		   "\"attached\":%d}",
		   p && p->raw ? "raw_tp" : "tp_btf",
		   p ? (unsigned long long)stat_of(p, PSTAT_MATCHED_FULL) : 0, procs_count(p),
		   procs_attached(p));
}

static struct bpf_object *procs_object(const void *o)
{
	const struct procs *p = o;

	return p ? p->skel->obj : NULL;
}

const struct family_ops procs_family = {
	.open = procs_open,
	.attach = procs_attach,
	.detach = procs_detach,
	.count = procs_count,
	.attached = procs_attached,
	.write_status = procs_write_status,
	.free = procs_free,
	.object = procs_object,
};
