// SPDX-License-Identifier: MIT
/* Loading bpf/files.bpf.c, and /metrics and /status from its maps. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "detach.h"
#include "expo.h"
#include "files.h"
#include "files.skel.h"
#include "files_maps.h"
#include "mapdump.h"
#include "procfs.h"

#define TRACEFS "/sys/kernel/tracing"

struct files {
	struct files_bpf *skel;
	struct ring_buffer *matched; /* follow mode: the processes matched */
	void (*on_match)(int pid, void *ctx);
	void *match_ctx;
	__u64 matched_lost; /* FSTAT_MATCHED_FULL at the last files__matched() */
	struct mapped hist, bytes, targets;
	char roots[MAX_FILE_ROOTS][PATH_MAX];
	int nroots;
	bool mounted_tracefs;
};

static const char *const op_names[FOP_MAX] = FILE_OP_NAMES;
static const char *const status_names[FILE_STATUS_MAX] = { "success", "error" };

/* Per-syscall tracepoints are found by their id in tracefs, which these
 * hosts do not mount at boot. */
static int ensure_tracefs(struct files *f, char *err, size_t len)
{
	if (!access(TRACEFS "/events/syscalls", F_OK))
		return 0;
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL)) {
		int rc = -errno;

		if (rc == -EPERM)
			snprintf(err, len,
				 "not allowed to mount tracefs on %s (%s): run as root, or mount "
				 "it first",
				 TRACEFS, strerror(-rc));
		else
			snprintf(err, len, "cannot mount tracefs on %s: %s", TRACEFS,
				 strerror(-rc));
		return rc;
	}
	f->mounted_tracefs = true;
	return 0;
}

/* Resolves each --file-root and hands it to the programs: its path (without
 * trailing slashes, "/" as "") and its (device, inode). */
static int set_roots(struct files *f, const struct config *cfg, char *err, size_t len)
{
	struct files_bpf__rodata *ro = f->skel->rodata;

	for (int i = 0; i < cfg->nfile_roots; i++) {
		char *path = f->roots[i];
		struct stat st;
		size_t n;

		if (!realpath(cfg->file_roots[i], path) || stat(path, &st)) {
			snprintf(err, len, "--file-root %s: %s", cfg->file_roots[i],
				 strerror(errno));
			return -errno;
		}
		n = strlen(path);
		while (n > 0 && path[n - 1] == '/')
			path[--n] = '\0';
		if (n >= ROOT_PATH_LEN - 1 || !S_ISDIR(st.st_mode)) {
			snprintf(err, len, "--file-root %s: %s", cfg->file_roots[i],
				 n >= ROOT_PATH_LEN - 1 ? "path too long" : "not a directory");
			return -EINVAL;
		}
		memcpy((void *)ro->root_words[i], path, n);
		ro->root_len[i] = n;
		ro->root_ino[i] = st.st_ino;
		/* The kernel's dev_t: major in the high 12 bits of 32, minor below. */
		ro->root_dev[i] = major(st.st_dev) << 20 | minor(st.st_dev);
	}
	ro->nroots = f->nroots = cfg->nfile_roots;
	return 0;
}

/* Follow mode: what the exec and rename programs match. */
static int set_follow(struct files *f, const struct config *cfg, char *err, size_t len)
{
	struct files_bpf__rodata *ro = f->skel->rodata;
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
		ro->follow_dev = major(st.st_dev) << 20 | minor(st.st_dev);
	} else {
		/* --pid: nothing to match, and no program to run on every exec */
		bpf_program__set_autoload(f->skel->progs.follow_exec, false);
		bpf_program__set_autoload(f->skel->progs.follow_rename, false);
	}
	return 0;
}

static int on_matched(void *ctx, void *data, size_t size)
{
	struct files *f = ctx;

	if (size >= sizeof(__u32) && f->on_match)
		f->on_match((int)*(const __u32 *)data, f->match_ctx);
	return 0;
}

static long pid_max(void)
{
	char buf[32];
	long n = procfs_read_file("/proc/sys/kernel/pid_max", buf, sizeof(buf));

	return n > 0 ? strtol(buf, NULL, 10) : 4194304; /* PID_MAX_LIMIT on 64-bit */
}

int files__follow(struct files *f, int pid)
{
	__u32 word = pid >> 6;
	__u64 bits = 1ULL << (pid & 63);

	return bpf_map__update_elem(f->skel->maps.targets, &word, sizeof(word), &bits, sizeof(bits),
				    BPF_ANY);
}

static int load(struct files *f, const struct config *cfg, int pid, const struct spans *sp,
		char *err, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = cfg->btf_path);
	struct files_bpf *s;
	int rc;

	s = f->skel = files_bpf__open_opts(&opts);
	if (!s) {
		rc = -errno;
		snprintf(err, len, "failed to open the file programs: %s", strerror(-rc));
		return rc;
	}
	rc = set_roots(f, cfg, err, len) ?: set_follow(f, cfg, err, len);
	if (rc)
		return rc;
	bpf_map__set_max_entries(s->maps.targets, pid_max() / 64 + 1);
	bpf_map__set_max_entries(s->maps.tracked_fds, cfg->max_files);
	bpf_map__set_max_entries(s->maps.inflight, cfg->max_open);
	rc = spans__share(sp, s->obj, err, len);
	if (rc)
		return rc;
	rc = files_bpf__load(s);
	if (rc) {
		snprintf(err, len,
			 "failed to load the file programs: %s (--log-level debug shows why)",
			 strerror(-rc));
		return rc;
	}
	if (pid)
		rc = files__follow(f, pid);
	if (!rc && (cfg->follow_comm || cfg->follow_exe)) {
		f->matched = ring_buffer__new(bpf_map__fd(s->maps.matched), on_matched, f, NULL);
		rc = f->matched ? 0 : -errno;
	}
	rc = rc ?: mapped_open(s->maps.file_hist, &f->hist) ?:
	     mapped_open(s->maps.file_bytes, &f->bytes) ?: mapped_open(s->maps.targets, &f->targets);
	if (rc)
		snprintf(err, len, "failed to prepare the file maps: %s", strerror(-rc));
	return rc;
}

int files__attach(struct files *f, char *err, size_t len)
{
	int rc = files_bpf__attach(f->skel);

	if (rc)
		snprintf(err, len, "failed to attach the syscall tracepoints: %s", strerror(-rc));
	return rc;
}

void files__detach(struct files *f)
{
	skel_detach(f->skel->skeleton);
}

struct files *files__new(const struct config *cfg, int pid, const struct spans *sp, int *errp,
			 char *err, size_t len)
{
	struct files *f = calloc(1, sizeof(*f));
	int rc;

	if (!f) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	rc = ensure_tracefs(f, err, len) ?: load(f, cfg, pid, sp, err, len);
	if (!rc && !cfg->start_disabled)
		rc = files__attach(f, err, len);
	if (rc) {
		*errp = rc;
		files__free(f);
		return NULL;
	}
	return f;
}

void files__free(struct files *f)
{
	if (!f)
		return;
	if (f->skel)
		skel_detach(f->skel->skeleton);
	ring_buffer__free(f->matched);
	mapped_close(&f->hist);
	mapped_close(&f->bytes);
	mapped_close(&f->targets);
	files_bpf__destroy(f->skel);
	free(f);
}

int files__targets_fd(const struct files *f)
{
	return bpf_map__fd(f->skel->maps.targets);
}

static bool is_followed(const struct files *f, __u32 tgid)
{
	const __u64 *bits = tgid / 64 < f->targets.n ? mapped_at(&f->targets, tgid / 64) : NULL;

	return bits && (*bits >> (tgid & 63)) & 1;
}

static __u64 file_stat(const struct files *f, __u32 i)
{
	__u64 n = 0;

	bpf_map__lookup_elem(f->skel->maps.file_stats, &i, sizeof(i), &n, sizeof(n), 0);
	return n;
}

long files__matched(struct files *f, void (*found)(int pid, void *ctx), void *ctx)
{
	__u64 lost;

	if (!f->matched)
		return 0;
	f->on_match = found;
	f->match_ctx = ctx;
	ring_buffer__consume(f->matched);
	lost = file_stat(f, FSTAT_MATCHED_FULL);
	lost -= f->matched_lost;
	f->matched_lost += lost;
	return (long)lost;
}

bool files__followed(const struct files *f, int pid)
{
	return is_followed(f, (__u32)pid);
}

int files__count(const struct files *f)
{
	const struct bpf_object_skeleton *s = f->skel->skeleton;
	int n = 0;

	/* The follow programs are loaded in follow mode only. */
	for (int i = 0; i < s->prog_cnt; i++)
		n += bpf_program__autoload(*s->progs[i].prog);
	return n;
}

int files__attached(const struct files *f)
{
	const struct bpf_object_skeleton *s = f->skel->skeleton;
	int n = 0;

	for (int i = 0; i < s->prog_cnt; i++)
		n += *s->progs[i].link != NULL;
	return n;
}

struct stale {
	const struct files *f;
	struct fd_key keys[256];
	int n;
};

static void on_fd(const void *key, const void *value, void *ctx)
{
	const struct fd_key *k = key;
	struct stale *st = ctx;

	(void)value;
	if (st->n < (int)(sizeof(st->keys) / sizeof(st->keys[0])) && !is_followed(st->f, k->tgid))
		st->keys[st->n++] = *k;
}

void files__tick(struct files *f)
{
	struct bpf_map *m = f->skel->maps.tracked_fds;
	struct stale st = { .f = f };

	/* At most 256 a tick: a process that exits with more open files is
	 * forgotten over a few ticks. */
	map_dump(bpf_map__fd(m), sizeof(struct fd_key), sizeof(__u32), on_fd, &st);
	for (int i = 0; i < st.n; i++)
		bpf_map__delete_elem(m, &st.keys[i], sizeof(st.keys[i]), 0);
}

static long followed_count(const struct files *f)
{
	long n = 0;

	for (size_t i = 0; i < f->targets.n; i++)
		n += __builtin_popcountll(*(const __u64 *)mapped_at(&f->targets, i));
	return n;
}

static int write_ops(struct files *f, struct buf *out)
{
	static const char *const l_op_status[] = { "operation", "status" }, *const l_op[] = {
		"operation"
	};
	struct family *total, *secs, *bytes;
	int rc = -ENOMEM;

	total = family__new("aet_file_operations_total",
			    "File operations of the target processes on regular files, by status.",
			    METRIC_COUNTER, 2, l_op_status);
	secs = family__new("aet_file_operation_seconds",
			   "Duration of file operations (syscall enter to exit), in seconds.",
			   METRIC_HISTOGRAM, 1, l_op);
	bytes = family__new("aet_file_bytes_total", "Bytes read from and written to regular files.",
			    METRIC_COUNTER, 1, l_op);
	if (!total || !secs || !bytes)
		goto out;
	rc = 0;
	for (int op = 0; op < FOP_MAX && !rc; op++) {
		struct hist all = {};

		for (int st = 0; st < FILE_STATUS_MAX && !rc; st++) {
			/* One read of what the programs keep adding to. */
			struct hist snap = *(const struct hist *)mapped_at(
				&f->hist, op * FILE_STATUS_MAX + st);

			hist_add(&all, &snap);
			rc = family__add(total,
					 (const char *const[]){ op_names[op], status_names[st] },
					 hist_count(&snap));
		}
		if (!rc)
			rc = family__add_hist(secs, &op_names[op], (const uint64_t *)all.buckets,
					      all.sum_ns / 1e9, hist_count(&all));
		if (!rc && (op == FOP_READ || op == FOP_WRITE))
			rc = family__add(bytes, &op_names[op],
					 *(const __u64 *)mapped_at(&f->bytes, op));
	}
	family__write(total, out);
	family__write(secs, out);
	family__write(bytes, out);
out:
	family__free(total);
	family__free(secs);
	family__free(bytes);
	return rc;
}

int files__write_metrics(struct files *f, struct buf *out)
{
	static const char *const reasons[] = { "files_full", "inflight_full" };
	static const char *const l_reason[] = { "reason" };
	struct family *over;
	int rc = write_ops(f, out);

	if (rc)
		return rc;
	over = family__new("aet_collector_file_overflow_total",
			   "File operations not counted: --max-files files were open, or "
			   "--max-open syscalls were in flight.",
			   METRIC_COUNTER, 1, l_reason);
	if (!over)
		return -ENOMEM;
	for (__u32 i = 0; i < sizeof(reasons) / sizeof(reasons[0]) && !rc; i++)
		rc = family__add(over, &reasons[i], file_stat(f, i));
	family__write(over, out);
	family__free(over);
	if (rc)
		return rc;
	buf_printf(out,
		   "# HELP aet_collector_followed_processes The target and the children it "
		   "forked, while they run.\n"
		   "# TYPE aet_collector_followed_processes gauge\n"
		   "aet_collector_followed_processes %ld\n",
		   followed_count(f));
	return 0;
}

void files__write_status(struct files *f, struct buf *out)
{
	long tracked = map_dump(bpf_map__fd(f->skel->maps.tracked_fds), sizeof(struct fd_key),
				sizeof(__u32), NULL, NULL);
	buf_printf(out, "\"files\":{\"tracefs\":\"%s\",\"roots\":[",
		   f->mounted_tracefs ? "mounted by the collector" : "already mounted");
	for (int i = 0; i < f->nroots; i++) {
		buf_puts(out, i ? "," : "");
		buf_json_str(out, f->roots[i][0] ? f->roots[i] : "/", strlen(f->roots[i]) ?: 1);
	}
	buf_printf(out,
		   "],\"followed_processes\":%ld,\"matches_lost\":%llu,\"tracked_files\":%ld,\"max_"
		   "files\":%u,"
		   "\"programs\":%d,\"attached\":%d}",
		   followed_count(f), (unsigned long long)file_stat(f, FSTAT_MATCHED_FULL),
		   tracked < 0 ? 0 : tracked, bpf_map__max_entries(f->skel->maps.tracked_fds),
		   files__count(f), files__attached(f));
}
