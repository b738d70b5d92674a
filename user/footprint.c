// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collector.h"
#include "family.h"
#include "footprint.h"
#include "spans.skel.h"

/* What bounds each map (docs/DESIGN.md, README "Footprint"); the others
 * are fixed: counters, configuration, read-only data. */
static const struct {
	const char *map, *why;
} bounds[] = {
	{ "task_series", "--max-series + 1" },
	{ "agent_series", "--max-series + 1" },
	{ "event_series", "--max-series + 1" },
	{ "event_counts", "--max-series + 1" },
	{ "task_hist", "(--max-series + 1) x 4 statuses" },
	{ "agent_hist", "(--max-series + 1) x 4 statuses" },
	{ "open_slots", "--max-open, rounded up to a power of two" },
	{ "span_texts", "--max-open, rounded up to a power of two" },
	{ "inflight", "--max-open / 4, at least 256" },
	{ "stmts", "--max-open" },
	{ "stmt_texts", "--max-open with --span-sql-text, else 1" },
	{ "fd_slots", "--max-files, rounded up to a power of two" },
	{ "span_ring", "--span-ring-size" },
	{ "targets", "a bit per pid: kernel.pid_max / 64 + 1" },
	{ "span_threads", "one per thread (task storage)" },
	{ "calls", "one per thread (task storage)" },
	{ "sys_calls", "one per thread making HTTP calls (task storage)" },
	{ "ssl_calls", "one per thread making HTTP calls (task storage)" },
	{ "http_threads", "one per thread making HTTP calls (task storage)" },
	{ "conns", "--max-open / 4, at least 256" },
	{ "http_series", "--max-series, allocated as used" },
	{ "genai_ring", "fixed: model call bytes, drained every 10 ms" },
	{ "genai_paths", "fixed: the model APIs' paths" },
	{ "custom_series", "--max-series, allocated as used" },
	{ "custom_keys", "--max-series, allocated as used" },
	{ "custom_names", "--max-custom-names, allocated as used" },
	{ "custom_overflow", "--max-custom-names + 3, allocated as used" },
	{ "audit_filter", "--audit: 16 names, 1 without" },
	{ "audit_counts", "--audit: 256 event names, 1 without" },
	{ "blank", "fixed, per CPU" },
	{ "label_cache", "fixed, per CPU" },
	{ "span_seq", "fixed, per CPU" },
};

static const char *bound_of(const char *map)
{
	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++)
		if (!strcmp(bounds[i].map, map))
			return bounds[i].why;
	return "fixed";
}

/* The kernel's bytes for the map behind fd: fdinfo's memlock, what
 * bpftool and the memory cgroup count. 0 if unknown. */
static unsigned long long memlock_of(int fd)
{
	char path[64], line[128];
	unsigned long long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* A kB field of /proc/self/status, in bytes. */
static unsigned long long status_kb(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':') {
			kb = strtoull(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb << 10;
}

/* RSS of the BPF maps mapped into the collector: kernel memory that the
 * maps' bytes count already, and RSS a second time. */
static unsigned long long mapped_maps_rss(void)
{
	static const char tail[] = "anon_inode:bpf-map";
	char line[512];
	unsigned long long total = 0, kb;
	bool map = false;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (sscanf(line, "Rss: %llu kB", &kb) == 1) {
			total += map ? kb << 10 : 0;
		} else if (n > 1 && strchr("0123456789abcdef", line[0]) && strchr(line, '-') &&
			   strchr(line, '-') < strchr(line, ' ')) {
			while (n && line[n - 1] == '\n')
				line[--n] = 0;
			map = n >= sizeof(tail) - 1 && !strcmp(line + n - (sizeof(tail) - 1), tail);
		}
	}
	fclose(f);
	return total;
}

/* Appends obj's maps not seen yet (seen: map ids), adding their bytes. */
static void write_maps(const struct bpf_object *obj, const char *family, __u32 *seen, int *nseen,
		       int cap, unsigned long long *bytes, struct buf *out)
{
	struct bpf_map *m;

	bpf_object__for_each_map (m, obj) {
		struct bpf_map_info info = {};
		__u32 size = sizeof(info);
		unsigned long long n;
		int fd = bpf_map__fd(m), i;

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &size))
			continue;
		for (i = 0; i < *nseen && seen[i] != info.id; i++)
			;
		if (i < *nseen || *nseen == cap)
			continue; /* listed already: a shared map, under "shared" */
		seen[(*nseen)++] = info.id;
		n = memlock_of(fd);
		*bytes += n;
		buf_printf(out,
			   "%s{\"name\":\"%s\",\"family\":\"%s\",\"max_entries\":%u,"
			   "\"bytes\":%llu,\"why\":\"%s\"}",
			   *nseen > 1 ? "," : "", bpf_map__name(m), family, info.max_entries, n,
			   bound_of(bpf_map__name(m)));
	}
}

void footprint_write_status(const struct collector *c, struct buf *out)
{
	__u32 seen[256];
	int nseen = 0;
	unsigned long long maps = 0, rss = status_kb("VmRSS"), mapped = mapped_maps_rss();

	buf_puts(out, "\"footprint\":{\"maps\":[");
	if (c->shared)
		write_maps(c->shared->skel->obj, "shared", seen, &nseen, 256, &maps, out);
	for (int f = 0; f < PFAM_MAX; f++)
		if (c->fam[f])
			write_maps(families[f]->object(c->fam[f]), probe_family_names[f], seen,
				   &nseen, 256, &maps, out);
	buf_printf(out,
		   "],\"map_count\":%d,\"map_bytes\":%llu,\"rss_bytes\":%llu,"
		   "\"rss_mapped_map_bytes\":%llu,\"total_bytes\":%llu}",
		   nseen, maps, rss, mapped, maps + rss - mapped);
}
