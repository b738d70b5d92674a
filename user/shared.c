// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "locks.h"
#include "privs.h"
#include "procfs.h"
#include "shared.h"
#include "spans.skel.h"
#include "variant.h"

/* The maps of bpf/spans.bpf.c a family's object may declare too. */
static const char *const shared_maps[] = {
	"span_ring",  "span_threads", "span_config", "span_seq",
	"span_stats", "open_slots",   "targets",     "aet_locks"
};

static long pid_max(void)
{
	char buf[32];
	long n = procfs_read_file("/proc/sys/kernel/pid_max", buf, sizeof(buf));

	return n > 0 ? strtol(buf, NULL, 10) : 4194304; /* PID_MAX_LIMIT on 64-bit */
}

static int load(struct shared *sh, const struct config *cfg, char *err, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = cfg->btf_path);
	int rc;

	sh->skel = VARIANT_OPEN(spans_bpf, &opts);
	if (!sh->skel) {
		rc = -errno;
		snprintf(err, len, "failed to open the shared maps: %s", strerror(-rc));
		return rc;
	}
	bpf_map__set_max_entries(sh->skel->maps.open_slots, config_open_slots(cfg));
	bpf_map__set_max_entries(sh->skel->maps.span_ring, cfg->span_ring_size);
	bpf_map__set_max_entries(sh->skel->maps.targets, pid_max() / 64 + 1);
	rc = spans_bpf__load(sh->skel);
	if (rc == -EPERM || rc == -EACCES) {
		snprintf(err, len, "not allowed to create BPF maps (%s): " PRIVS_FIX,
			 strerror(-rc));
		return rc;
	}
	if (rc) {
		snprintf(err, len, "failed to create the shared maps: %s", strerror(-rc));
		return rc;
	}
	rc = mapped_open_prot(sh->skel->maps.targets, &sh->targets, PROT_READ | PROT_WRITE);
	if (rc)
		snprintf(err, len, "failed to map the followed processes: %s", strerror(-rc));
	return rc;
}

struct shared *shared__new(const struct config *cfg, int *errp, char *err, size_t len)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	int rc;

	if (!sh) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	for (int i = 0; i < SERIES_KINDS; i++)
		series_init(&sh->series[i]);
	genai_done_init(&sh->genai_done);
	rc = load(sh, cfg, err, len);
	if (rc) {
		*errp = rc;
		shared__free(sh);
		return NULL;
	}
	return sh;
}

void shared__free(struct shared *sh)
{
	if (!sh)
		return;
	for (int i = 0; i < SERIES_KINDS; i++)
		series_fini(&sh->series[i]);
	genai_done_fini(&sh->genai_done);
	mapped_close(&sh->targets);
	spans_bpf__destroy(sh->skel);
	free(sh);
}

int shared__reuse(const struct shared *sh, struct bpf_object *obj, char *err, size_t len)
{
	for (size_t i = 0; i < sizeof(shared_maps) / sizeof(shared_maps[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, shared_maps[i]);
		struct bpf_map *ours = bpf_object__find_map_by_name(sh->skel->obj, shared_maps[i]);
		int rc;

		if (!m)
			continue;
		rc = bpf_map__reuse_fd(m, bpf_map__fd(ours));
		if (rc) {
			snprintf(err, len, "failed to share the %s map: %s", shared_maps[i],
				 strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int shared__follow(const struct shared *sh, int pid)
{
	__u32 word = pid >> 6;
	int fd = bpf_map__fd(sh->skel->maps.aet_locks);

	if (pid <= 0 || word >= sh->targets.n)
		return -ERANGE;
	/* The programs set and clear other bits of the word meanwhile. */
	if (!variant_lock(fd, LOCK_TARGETS(word)))
		return -EBUSY;
	__atomic_fetch_or((__u64 *)mapped_at(&sh->targets, word), 1ULL << (pid & 63),
			  __ATOMIC_SEQ_CST);
	variant_unlock(fd, LOCK_TARGETS(word));
	return 0;
}

bool shared__followed(const struct shared *sh, int pid)
{
	const __u64 *bits =
		(size_t)pid / 64 < sh->targets.n ? mapped_at(&sh->targets, pid / 64) : NULL;

	return bits && (*bits >> (pid & 63)) & 1;
}

long shared__followed_count(const struct shared *sh)
{
	long n = 0;

	for (size_t i = 0; sh && i < sh->targets.n; i++)
		n += __builtin_popcountll(*(const __u64 *)mapped_at(&sh->targets, i));
	return n;
}

int shared__locks_fd(const struct shared *sh)
{
	return sh ? bpf_map__fd(sh->skel->maps.aet_locks) : -1;
}

int shared__ring_fd(const struct shared *sh)
{
	return bpf_map__fd(sh->skel->maps.span_ring);
}

__u32 shared__ring_bytes(const struct shared *sh)
{
	return bpf_map__max_entries(sh->skel->maps.span_ring);
}

int shared__set_span_config(const struct shared *sh, const void *kcfg, size_t size)
{
	__u32 zero = 0;

	return bpf_map__update_elem(sh->skel->maps.span_config, &zero, sizeof(zero), kcfg, size,
				    BPF_ANY);
}

__u64 shared__span_stat(const struct shared *sh, __u32 i)
{
	__u64 n = 0;

	bpf_map__lookup_elem(sh->skel->maps.span_stats, &i, sizeof(i), &n, sizeof(n), 0);
	return n;
}
