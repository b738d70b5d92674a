// SPDX-License-Identifier: MIT
/* Loading bpf/files.bpf.c, and /metrics and /status from its maps. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "detach.h"
#include "family.h"
#include "host.h"
#include "expo.h"
#include "files.h"
#include "files.skel.h"
#include "variant.h"
#include "files_maps.h"
#include "mapdump.h"
#include "procfs.h"
#include "samples.h"

struct files {
	struct files_bpf *skel;
	struct mapped hist, bytes;
	char roots[MAX_FILE_ROOTS][PATH_MAX];
	int nroots;
	bool mounted_tracefs;
};

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

static int load(struct files *f, const struct config *cfg, struct shared *sh, char *err, size_t len)
{
	bool raw = !host_tp_btf();
	__u32 slots = 1; /* --max-files, rounded up to a power of two */
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = cfg->btf_path);
	struct files_bpf *s;
	int rc;

	while (slots < cfg->max_files)
		slots <<= 1;
	s = f->skel = VARIANT_OPEN(files_bpf, &opts);
	if (!s) {
		rc = -errno;
		snprintf(err, len, "failed to open the file programs: %s", strerror(-rc));
		return rc;
	}
	rc = set_roots(f, cfg, err, len);
	if (rc)
		return rc;
	/* The BTF tracepoints, or where they do not load the raw ones. */
	bpf_program__set_autoload(s->progs.files_exit, !raw);
	bpf_program__set_autoload(s->progs.files_exit_raw, raw);
	bpf_program__set_autoload(s->progs.files_exec, !raw);
	bpf_program__set_autoload(s->progs.files_exec_raw, raw);
	bpf_map__set_max_entries(s->maps.fd_slots, slots);
	/* Threads doing file I/O, not syscalls: fewer than begins. */
	bpf_map__set_max_entries(s->maps.inflight, config_open_quarter(cfg));
	s->rodata->fd_slots_mask = slots - 1;
	s->rodata->table_slots_mask = bpf_map__max_entries(s->maps.table_gens) - 1;
	rc = family_load(s->skeleton, sh, "the file programs", err, len);
	if (rc)
		return rc;
	rc = mapped_open(s->maps.file_hist, &f->hist) ?: mapped_open(s->maps.file_bytes, &f->bytes);
	if (rc)
		snprintf(err, len, "failed to prepare the file maps: %s", strerror(-rc));
	return rc;
}

static int files_attach(void *o, const struct family_env *env, char *err, size_t len)
{
	int rc = files_bpf__attach(((struct files *)o)->skel);

	(void)env;
	if (rc)
		snprintf(err, len, "failed to attach the syscall tracepoints: %s", strerror(-rc));
	return rc;
}

static void files_detach(void *o)
{
	skel_detach(((struct files *)o)->skel->skeleton);
}

static void files_free(void *o)
{
	struct files *f = o;

	if (!f)
		return;
	if (f->skel)
		skel_detach(f->skel->skeleton);
	mapped_close(&f->hist);
	mapped_close(&f->bytes);
	files_bpf__destroy(f->skel);
	free(f);
}

static void *files_open(const struct family_env *env, int *errp, char *err, size_t len)
{
	struct files *f = calloc(1, sizeof(*f));
	int rc;

	if (!f) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	rc = host_mount_tracefs(&f->mounted_tracefs, err, len)
		     ?: load(f, env->cfg, env->shared, err, len);
	if (rc) {
		*errp = rc;
		files_free(f);
		return NULL;
	}
	return f;
}

static __u64 file_stat(const struct files *f, __u32 i)
{
	__u64 n = 0;

	bpf_map__lookup_elem(f->skel->maps.file_stats, &i, sizeof(i), &n, sizeof(n), 0);
	return n;
}

/* One of two of the exit and of the exec programs (load()). */
static int files_count(const void *o)
{
	return o ? skel_loaded(((const struct files *)o)->skel->skeleton) : 0;
}

static int files_attached(const void *o)
{
	return o ? skel_attached(((const struct files *)o)->skel->skeleton) : 0;
}

static int write_ops(struct files *f, struct buf *out)
{
	const struct hist *hist = mapped_array(&f->hist, sizeof(*hist), FOP_MAX * FILE_STATUS_MAX);
	const __u64 *bytes = mapped_array(&f->bytes, sizeof(*bytes), FOP_MAX);

	return hist && bytes ? file_samples_write(hist, bytes, out) : -ERANGE;
}

static int files_write_metrics(void *o, struct buf *out)
{
	struct files *f = o;
	/* The index of each is its enum file_stat. */
	static const char *const reasons[] = { "inflight_full" };
	static const char *const l_reason[] = { "reason" };
	struct metric *over;
	int rc = f ? write_ops(f, out) : 0;

	if (rc || !f)
		return rc;
	over = metric__new("aet_collector_file_overflow_total",
			   "File operations not counted: inflight_full, more threads doing file "
			   "syscalls than --max-open.",
			   METRIC_COUNTER, 1, l_reason);
	if (!over)
		return -ENOMEM;
	for (__u32 i = 0; i < sizeof(reasons) / sizeof(reasons[0]) && !rc; i++)
		rc = metric__add(over, &reasons[i], file_stat(f, i));
	metric__write(over, out);
	metric__free(over);
	return rc;
}

static void files_write_status(void *o, const char *why, struct buf *out)
{
	struct files *f = o;

	(void)why;
	if (!f) {
		buf_puts(out, "\"files\":null");
		return;
	}
	buf_printf(out, "\"files\":{\"tracefs\":\"%s\",\"roots\":[",
		   f->mounted_tracefs ? "mounted by the collector" : "already mounted");
	for (int i = 0; i < f->nroots; i++) {
		buf_puts(out, i ? "," : "");
		buf_json_str(out, f->roots[i][0] ? f->roots[i] : "/", strlen(f->roots[i]) ?: 1);
	}
	buf_printf(out, "],\"descriptor_slots\":%u,\"programs\":%d,\"attached\":%d}",
		   bpf_map__max_entries(f->skel->maps.fd_slots), files_count(f), files_attached(f));
}

static struct bpf_object *files_object(const void *o)
{
	const struct files *f = o;

	return f ? f->skel->obj : NULL;
}

const struct family_ops files_family = {
	.open = files_open,
	.attach = files_attach,
	.detach = files_detach,
	.count = files_count,
	.attached = files_attached,
	.write_metrics = files_write_metrics,
	.write_status = files_write_status,
	.free = files_free,
	.object = files_object,
};
