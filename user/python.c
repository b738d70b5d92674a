// SPDX-License-Identifier: MIT
/* Loading bpf/python.bpf.c on the USDT probes of the target's interpreter. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "detach.h"
#include "expo.h"
#include "family.h"
#include "python.h"
#include "python.skel.h"
#include "python_maps.h"
#include "variant.h"

#define NT_STAPSDT 3 /* a SystemTap SDT note (its name is "stapsdt") */

_Static_assert(CONFIG_MAX_AUDIT == PY_AUDIT_FILTERS && CONFIG_AUDIT_LEN == PY_AUDIT_NAME_LEN,
	       "--audit's bounds are the audit_filter map's");

struct python {
	struct python_bpf *skel;
	const struct config *cfg; /* --audit */
	char path[PATH_MAX];	  /* the file with the probes: executable or libpython */
	bool deleted;		  /* replaced on disk: path is in map_files */
	bool known_layout;	  /* CPython 3.11 on x86_64: an audit event's argument is read */
};

/* Whether SDT note desc (descsz bytes; addresses of addr bytes each)
 * names probe provider:name. */
static bool note_is(const char *desc, size_t descsz, size_t addr, const char *provider,
		    const char *name)
{
	size_t left, n;

	if (descsz <= 3 * addr) /* the probe's, its base's and its semaphore's */
		return false;
	desc += 3 * addr;
	left = descsz - 3 * addr;
	n = strnlen(desc, left);
	if (n == left || strcmp(desc, provider))
		return false;
	desc += n + 1;
	left -= n + 1;
	return strnlen(desc, left) < left && !strcmp(desc, name);
}

/* Whether ELF file path has the USDT probe provider:name (its notes). */
static bool has_usdt(const char *path, const char *provider, const char *name)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf_Scn *scn = NULL;
	bool found = false;
	size_t addr;
	Elf *elf;

	if (fd < 0)
		return false;
	elf = elf_version(EV_CURRENT) == EV_NONE ? NULL : elf_begin(fd, ELF_C_READ, NULL);
	addr = elf && gelf_getclass(elf) == ELFCLASS32 ? 4 : 8;
	while (elf && !found && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *d;
		GElf_Shdr sh;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		while (d && !found && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off))) {
			const char *b = d->d_buf;

			found = nh.n_type == NT_STAPSDT && nh.n_namesz == 8 &&
				!memcmp(b + name_off, "stapsdt", 8) &&
				note_is(b + desc_off, nh.n_descsz, addr, provider, name);
		}
	}
	elf_end(elf);
	close(fd);
	return found;
}

/* Whether file (an interpreter's executable or libpython) is CPython 3.11's,
 * by its name (python3.11, libpython3.11.so...), on x86_64: the layout
 * bpf/python.bpf.c reads an audit event's argument with. */
static bool known_layout(const char *file)
{
#if defined(__x86_64__)
	const char *base = strrchr(file, '/');

	base = base ? base + 1 : file;
	if (!strncmp(base, "lib", 3))
		base += 3;
	return !strncmp(base, "python3.11", 10) && !isdigit((unsigned char)base[10]);
#else
	(void)file;
	return false;
#endif
}

/* A libpython3.N.so the target maps, with the probes; 0 or -ENOENT. */
static int find_libpython(struct python *p, const struct target *t)
{
	for (int minor = 6; minor < 20; minor++) {
		char name[32];
		int rc;

		snprintf(name, sizeof(name), "libpython3.%d.so", minor);
		rc = target_find_mapping(t, name, p->path, sizeof(p->path));
		p->deleted = rc == -ESTALE;
		if (p->deleted)
			rc = target_deleted_mapping(t, name, p->path, sizeof(p->path));
		if (!rc && has_usdt(p->path, PY_PROVIDER, "gc__start"))
			return 0;
	}
	p->path[0] = '\0';
	return -ENOENT;
}

/* The target's interpreter with the probes: its executable (through
 * /proc/PID/exe, which holds it even replaced on disk), else its libpython.
 * Returns 0 or -ENOENT with err saying why. */
static int find_interpreter(struct python *p, const struct target *t, char *err, size_t len)
{
	char exe[PATH_MAX] = "";
	ssize_t n;

	p->deleted = false;
	snprintf(p->path, sizeof(p->path), "/proc/%d/exe", t->pid);
	n = readlink(p->path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	if (has_usdt(p->path, PY_PROVIDER, "gc__start")) {
		p->known_layout = known_layout(exe);
		return 0;
	}
	if (!find_libpython(p, t)) {
		p->known_layout = known_layout(p->path);
		return 0;
	}
	snprintf(err, len,
		 "process %d's interpreter (%s) has no USDT probes %s:gc__start, nor a libpython "
		 "it maps: a CPython built without --with-dtrace (Debian's and Ubuntu's "
		 "python3 have them); its GC is not observed",
		 t->pid, exe[0] ? exe : "not readable", PY_PROVIDER);
	return -ENOENT;
}

static int attach(struct python *p, int pid, char *err, size_t len)
{
	struct python_bpf *k = p->skel;
	const struct {
		struct bpf_program *prog;
		struct bpf_link **link;
		const char *probe;
	} usdt[] = {
		{ k->progs.gc_done, &k->links.gc_done, "gc__done" },
		{ k->progs.gc_start, &k->links.gc_start, "gc__start" },
		{ k->progs.audit, &k->links.audit, "audit" },
	};

	/* gc__done first: a collection whose start is seen has its end seen. */
	for (size_t i = 0; i < sizeof(usdt) / sizeof(usdt[0]); i++) {
		int rc;

		/* audit, without --audit: never loaded, its semaphore left at 0 */
		if (*usdt[i].link || !bpf_program__autoload(usdt[i].prog))
			continue;
		*usdt[i].link = bpf_program__attach_usdt(usdt[i].prog, pid, p->path, PY_PROVIDER,
							 usdt[i].probe, NULL);
		if (*usdt[i].link)
			continue;
		rc = -errno;
		snprintf(err, len, "failed to attach to USDT probe %s:%s in %s: %s", PY_PROVIDER,
			 usdt[i].probe, p->path, strerror(-rc));
		return rc == -ENOENT ? -ENOEXEC : rc;
	}
	return 0;
}

/* Whether the audit program may read an event's argument: the
 * interpreter's layout is the one it knows. */
static int set_audit_config(struct python *p)
{
	struct py_audit_config c = { .read_arg = p->known_layout };
	__u32 zero = 0;

	return bpf_map__update_elem(p->skel->maps.audit_config, &zero, sizeof(zero), &c, sizeof(c),
				    BPF_ANY);
}

static int python_attach(void *o, const struct family_env *env, char *err, size_t len)
{
	return attach(o, env->target->pid, err, len);
}

static void python_detach(void *o)
{
	skel_detach(((struct python *)o)->skel->skeleton);
}

static int python_retarget(void *o, const struct family_env *env, bool attach_now, char *err,
			   size_t len)
{
	struct python *p = o;
	int rc;

	skel_detach(p->skel->skeleton);
	rc = find_interpreter(p, env->target, err, len);
	if (!rc && set_audit_config(p)) {
		rc = -EIO;
		snprintf(err, len, "failed to configure the audit program");
	}
	return rc ?: attach_now ? attach(p, env->target->pid, err, len) : 0;
}

static void python_free(void *o)
{
	struct python *p = o;

	if (!p)
		return;
	if (p->skel)
		skel_detach(p->skel->skeleton);
	python_bpf__destroy(p->skel);
	free(p);
}

/* --audit's names into audit_filter, before anything is attached. */
static int fill_filter(struct python *p, char *err, size_t len)
{
	for (int i = 0; i < p->cfg->naudit; i++) {
		char key[PY_AUDIT_NAME_LEN] = {};
		__u32 v = i;
		int rc;

		strncpy(key, p->cfg->audit[i], sizeof(key) - 1);
		rc = bpf_map__update_elem(p->skel->maps.audit_filter, key, sizeof(key), &v,
					  sizeof(v), BPF_ANY);
		if (rc) {
			snprintf(err, len, "failed to set the audit filter: %s", strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static void *python_open(const struct family_env *env, int *errp, char *err, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = env->cfg->btf_path);
	struct python *p;
	int rc;

	if (!env->target->pid) {
		*errp = -ENOENT;
		snprintf(err, len,
			 "no target: its interpreter is looked for in the target (--pid)");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	p->cfg = env->cfg;
	rc = find_interpreter(p, env->target, err, len);
	if (!rc) {
		p->skel = VARIANT_OPEN(python_bpf, &opts);
		rc = p->skel ? 0 : -errno;
		if (rc)
			snprintf(err, len, "failed to open the Python programs: %s", strerror(-rc));
	}
	if (!rc && !p->cfg->naudit) {
		/* no audit program: its maps as small as they go */
		bpf_program__set_autoload(p->skel->progs.audit, false);
		bpf_map__set_max_entries(p->skel->maps.audit_filter, 1);
		bpf_map__set_max_entries(p->skel->maps.audit_counts, 1);
	}
	rc = rc ?: family_load(p->skel->skeleton, env->shared, "the Python programs", err, len);
	rc = rc ?: fill_filter(p, err, len);
	if (!rc && set_audit_config(p)) {
		rc = -EIO;
		snprintf(err, len, "failed to configure the audit program");
	}
	if (rc) {
		*errp = rc;
		python_free(p);
		return NULL;
	}
	return p;
}

const char *python_interpreter(const void *o)
{
	return o ? ((const struct python *)o)->path : "";
}

static int python_count(const void *o)
{
	return o ? skel_loaded(((const struct python *)o)->skel->skeleton) : 0;
}

static int python_attached(const void *o)
{
	return o ? skel_attached(((const struct python *)o)->skel->skeleton) : 0;
}

static __u64 python_stat(const struct python *p, __u32 i)
{
	__u64 n = 0;

	bpf_map__lookup_elem(p->skel->maps.python_stats, &i, sizeof(i), &n, sizeof(n), 0);
	return n;
}

/* aet_python_audit_events_total: a series per event name counted, and
 * "__overflow__" for those past PY_AUDIT_COUNTS names. */
static int write_audit(struct python *p, struct buf *out)
{
	static const char *const l_event[] = { "event" };
	char key[PY_AUDIT_NAME_LEN], next[PY_AUDIT_NAME_LEN];
	const char *over = "__overflow__", *v = key;
	struct bpf_map *m = p->skel->maps.audit_counts;
	__u64 overflow = python_stat(p, PY_STAT_AUDIT_OVERFLOW);
	struct metric *total;
	void *prev = NULL;
	int rc = 0;

	total = metric__new("aet_python_audit_events_total",
			    "CPython audit events of the target that --audit matches, by event "
			    "(its USDT probe audit).",
			    METRIC_COUNTER, 1, l_event);
	if (!total)
		return -ENOMEM;
	while (!rc && !bpf_map__get_next_key(m, prev, next, sizeof(next))) {
		__u64 n = 0;

		memcpy(key, next, sizeof(key));
		key[sizeof(key) - 1] = '\0';
		prev = key;
		if (!bpf_map__lookup_elem(m, next, sizeof(next), &n, sizeof(n), 0))
			rc = metric__add(total, &v, n);
	}
	if (!rc && overflow)
		rc = metric__add(total, &over, overflow);
	if (!rc)
		metric__write(total, out);
	metric__free(total);
	return rc;
}

static int python_write_metrics(void *o, struct buf *out)
{
	static const char *const l_gen[] = { "generation" };
	static const char *const gens[PY_GENERATIONS] = { "0", "1", "2" };
	struct python *p = o;
	struct metric *total, *objs, *pause;
	int rc = -ENOMEM;

	total = metric__new("aet_python_gc_collections_total",
			    "Garbage collections of the target's Python interpreter, by "
			    "generation (its USDT probes gc__start and gc__done).",
			    METRIC_COUNTER, 1, l_gen);
	objs = metric__new("aet_python_gc_collected_objects_total",
			   "Objects the target's garbage collections found unreachable "
			   "(collected and uncollectable), by generation.",
			   METRIC_COUNTER, 1, l_gen);
	pause = metric__new("aet_python_gc_pause_seconds",
			    "Time from the start of a garbage collection to its end, on the "
			    "thread that ran it, in seconds, by generation.",
			    METRIC_HISTOGRAM, 1, l_gen);
	if (total && objs && pause)
		rc = 0;
	for (__u32 g = 0; g < PY_GENERATIONS && !rc; g++) {
		struct py_gc v = {};
		__u64 n;

		bpf_map__lookup_elem(p->skel->maps.gc_gens, &g, sizeof(g), &v, sizeof(v), 0);
		n = hist_count(&v.pause);
		rc = metric__add(total, &gens[g], n) ?: metric__add(objs, &gens[g], v.collected)
						       ?: metric__add_hist(pause, &gens[g],
									   (const uint64_t *)v.pause.buckets,
									   v.pause.sum_ns / 1e9, n);
	}
	if (!rc) {
		metric__write(total, out);
		metric__write(objs, out);
		metric__write(pause, out);
	}
	if (!rc && p->cfg->naudit)
		rc = write_audit(p, out);
	metric__free(total);
	metric__free(objs);
	metric__free(pause);
	return rc;
}

static void python_write_status(void *o, const char *why, struct buf *out)
{
	struct python *p = o;

	buf_puts(out, "\"python\":{\"interpreter\":");
	if (!p) {
		buf_puts(out, "null,\"usdt\":false,\"error\":");
		buf_json_str(out, why ? why : "", why ? strlen(why) : 0);
		buf_puts(out, ",\"programs\":0,\"attached\":0}");
		return;
	}
	buf_json_str(out, p->path, strlen(p->path));
	buf_printf(out,
		   ",\"usdt\":true,\"deleted\":%s,\"probes\":[\"%s:gc__start\",\"%s:gc__done\"%s",
		   p->deleted ? "true" : "false", PY_PROVIDER, PY_PROVIDER,
		   p->cfg->naudit ? ",\"" PY_PROVIDER ":audit\"" : "");
	buf_puts(out, "],\"audit\":[");
	for (int i = 0; i < p->cfg->naudit; i++) {
		buf_puts(out, i ? "," : "");
		buf_json_str(out, p->cfg->audit[i], strlen(p->cfg->audit[i]));
	}
	buf_printf(out, "],\"audit_argument\":%s", p->known_layout ? "true" : "false");
	buf_printf(out,
		   ",\"audit_overflow\":%llu,\"unstarted_collections\":%llu,\"programs\":%d,"
		   "\"attached\":%d}",
		   (unsigned long long)python_stat(p, PY_STAT_AUDIT_OVERFLOW),
		   (unsigned long long)python_stat(p, PY_STAT_UNSTARTED), python_count(p),
		   python_attached(p));
}

static struct bpf_object *python_object(const void *o)
{
	const struct python *p = o;

	return p ? p->skel->obj : NULL;
}

const struct family_ops python_family = {
	.open = python_open,
	.attach = python_attach,
	.detach = python_detach,
	.retarget = python_retarget,
	.count = python_count,
	.attached = python_attached,
	.write_metrics = python_write_metrics,
	.write_status = python_write_status,
	.free = python_free,
	.object = python_object,
};
