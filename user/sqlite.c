// SPDX-License-Identifier: MIT
/* Loading bpf/sqlite.bpf.c on the target's libsqlite3; /metrics and /status. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "detach.h"
#include "expo.h"
#include "mapdump.h"
#include "sqlite.h"
#include "sqlite.skel.h"
#include "sqlite_maps.h"

#define NPROBES 8

struct sqlite_probe {
	const char *sym;
	bool retprobe;
	struct bpf_program *prog;
	struct bpf_link **link;
};

struct sqlite {
	struct sqlite_bpf *skel;
	struct sqlite_probe probes[NPROBES];
	struct mapped hist;
	char lib_path[PATH_MAX];
};

static const char *const verb_names[VERB_MAX] = { "other",  "select", "insert", "update",
						  "delete", "begin",  "commit", "rollback" };
static const char *const status_names[DB_STATUS_MAX] = { "success", "error" };

static void set_probes(struct sqlite *s)
{
	struct sqlite_bpf *k = s->skel;
	const struct sqlite_probe probes[NPROBES] = {
		{ "sqlite3_prepare_v2", false, k->progs.prepare_v2, &k->links.prepare_v2 },
		{ "sqlite3_prepare_v2", true, k->progs.prepare_v2_ret, &k->links.prepare_v2_ret },
		{ "sqlite3_prepare_v3", false, k->progs.prepare_v3, &k->links.prepare_v3 },
		{ "sqlite3_prepare_v3", true, k->progs.prepare_v3_ret, &k->links.prepare_v3_ret },
		{ "sqlite3_step", false, k->progs.step, &k->links.step },
		{ "sqlite3_step", true, k->progs.step_ret, &k->links.step_ret },
		{ "sqlite3_reset", false, k->progs.reset, &k->links.reset },
		{ "sqlite3_finalize", false, k->progs.finalize, &k->links.finalize },
	};

	memcpy(s->probes, probes, sizeof(probes));
}

static int attach(struct sqlite *s, int pid, char *err, size_t len)
{
	for (int i = 0; i < NPROBES; i++) {
		struct sqlite_probe *p = &s->probes[i];
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = p->sym, .retprobe = p->retprobe);

		*p->link = bpf_program__attach_uprobe_opts(p->prog, pid, s->lib_path, 0, &opts);
		if (!*p->link) {
			int rc = -errno;

			snprintf(err, len, "failed to attach %s%s in %s: %s", p->sym,
				 p->retprobe ? " (return)" : "", s->lib_path, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int load(struct sqlite *s, const struct config *cfg, char *err, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = cfg->btf_path);
	int rc;

	s->skel = sqlite_bpf__open_opts(&opts);
	if (!s->skel) {
		rc = -errno;
		snprintf(err, len, "failed to open the SQLite programs: %s", strerror(-rc));
		return rc;
	}
	bpf_map__set_max_entries(s->skel->maps.stmts, cfg->max_open);
	rc = sqlite_bpf__load(s->skel) ?: mapped_open(s->skel->maps.db_hist, &s->hist);
	if (rc)
		snprintf(err, len, "failed to load the SQLite programs: %s", strerror(-rc));
	return rc;
}

struct sqlite *sqlite__new(const struct config *cfg, const struct target *t, int *errp, char *err,
			   size_t len)
{
	struct sqlite *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	rc = target_find_mapping(t, SQLITE_LIBRARY, s->lib_path, sizeof(s->lib_path));
	if (rc)
		snprintf(err, len, "process %d has %s %s: SQLite is not observed", t->pid,
			 rc == -ESTALE ? "a deleted" : "not loaded", SQLITE_LIBRARY);
	else
		rc = load(s, cfg, err, len);
	if (!rc) {
		set_probes(s);
		rc = attach(s, t->pid, err, len);
	}
	if (rc) {
		*errp = rc == -ESTALE ? -ENOENT : rc;
		sqlite__free(s);
		return NULL;
	}
	return s;
}

void sqlite__free(struct sqlite *s)
{
	if (!s)
		return;
	if (s->skel)
		skel_detach(s->skel->skeleton);
	mapped_close(&s->hist);
	sqlite_bpf__destroy(s->skel);
	free(s);
}

int sqlite__count(const struct sqlite *s)
{
	(void)s;
	return NPROBES;
}

int sqlite__attached(const struct sqlite *s)
{
	int n = 0;

	for (int i = 0; s && i < NPROBES; i++)
		n += *s->probes[i].link != NULL;
	return n;
}

int sqlite__write_metrics(struct sqlite *s, struct buf *out)
{
	static const char *const l_op_status[] = { "operation", "status" }, *const l_op[] = {
		"operation"
	};
	struct family *total, *secs;
	int rc = -ENOMEM;

	total = family__new("aet_db_operations_total",
			    "SQLite statement executions of the target, by SQL verb and status.",
			    METRIC_COUNTER, 2, l_op_status);
	secs = family__new("aet_db_operation_seconds",
			   "SQLite statement execution time, first step to done, in seconds.",
			   METRIC_HISTOGRAM, 1, l_op);
	if (!total || !secs)
		goto out;
	rc = 0;
	for (int v = 0; v < VERB_MAX && !rc; v++) {
		struct hist all = {};
		uint64_t count = 0;

		for (int st = 0; st < DB_STATUS_MAX && !rc; st++) {
			const struct hist *h = mapped_at(&s->hist, v * DB_STATUS_MAX + st);
			uint64_t n = 0;

			for (int b = 0; b < HIST_BUCKETS; b++) {
				n += h->buckets[b];
				all.buckets[b] += h->buckets[b];
			}
			all.sum_ns += h->sum_ns;
			count += n;
			rc = family__add(
				total, (const char *const[]){ verb_names[v], status_names[st] }, n);
		}
		if (!rc)
			rc = family__add_hist(secs, &verb_names[v], (const uint64_t *)all.buckets,
					      all.sum_ns / 1e9, count);
	}
	family__write(total, out);
	family__write(secs, out);
out:
	family__free(total);
	family__free(secs);
	return rc;
}

void sqlite__write_status(struct sqlite *s, const char *why, struct buf *out)
{
	buf_puts(out, "\"sqlite\":{\"library\":");
	if (!s) {
		buf_puts(out, "null,\"error\":");
		buf_json_str(out, why, strlen(why));
		buf_puts(out, ",\"probes\":[]}");
		return;
	}
	buf_json_str(out, s->lib_path, strlen(s->lib_path));
	buf_puts(out, ",\"probes\":[");
	for (int i = 0; i < NPROBES; i++)
		buf_printf(out, "%s{\"name\":\"%s\",\"kind\":\"%s\",\"attached\":%s}", i ? "," : "",
			   s->probes[i].sym, s->probes[i].retprobe ? "uretprobe" : "uprobe",
			   *s->probes[i].link ? "true" : "false");
	buf_puts(out, "]}");
}
