// SPDX-License-Identifier: MIT
/* Loading bpf/sqlite.bpf.c on the target's libsqlite3; /metrics and /status. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "detach.h"
#include "elfsym.h"
#include "expo.h"
#include "family.h"
#include "mapdump.h"
#include "procfs.h"
#include "sqlite.h"
#include "samples.h"
#include "sqlite.skel.h"
#include "variant.h"
#include "sqlite_maps.h"
#include "sqlverb.h"

#define NPROBES 10 /* at most: step is attached only when needed */

struct sqlite_probe {
	const char *sym;
	bool retprobe;
	bool optional; /* a library without the symbol is observed without it */
	bool absent;   /* optional, and this library has no such symbol */
	size_t off;    /* into the function */
	struct bpf_program *prog;
	struct bpf_link **link;
};

struct sqlite {
	struct sqlite_bpf *skel;
	struct sqlite_probe probes[NPROBES];
	int nprobes;
	struct mapped hist;
	char lib_path[PATH_MAX];
	bool deleted;	/* the library was replaced on disk: lib_path is in map_files */
	long text_off;	/* where a statement keeps its SQL text; -1: not known */
	long state_off; /* where a statement keeps its state; -1: not known */
	long bind_off;	/* the bind_parameter_count probe's offset into it */
};

#define PROBE(symbol, ret, opt, name)                                                   \
	{                                                                               \
		.sym = symbol, .retprobe = ret, .optional = opt, .prog = k->progs.name, \
		.link = &k->links.name                                                  \
	}

/*
 * No probe traps per row: an execution starts at Python's once-per-execution
 * sqlite3_bind_parameter_count() (or, for a caller that calls it not, when
 * the statement became ready) and ends at the reset or finalize after it,
 * whose return is its status. sqlite3_step() is probed only when the
 * library's statement state cannot be read (state_off): its entry then says
 * that a statement ran.
 */
static void set_probes(struct sqlite *s)
{
	struct sqlite_bpf *k = s->skel;
	const struct sqlite_probe probes[NPROBES] = {
		PROBE("sqlite3_prepare_v2", false, false, prepare_v2),
		PROBE("sqlite3_prepare_v2", true, false, prepare_v2_ret),
		/* SQLite 3.20 (2017) and later. */
		PROBE("sqlite3_prepare_v3", false, true, prepare_v3),
		PROBE("sqlite3_prepare_v3", true, true, prepare_v3_ret),
		PROBE("sqlite3_bind_parameter_count", false, false, bind_count),
		PROBE("sqlite3_reset", false, false, reset),
		PROBE("sqlite3_reset", true, false, reset_ret),
		PROBE("sqlite3_finalize", false, false, finalize),
		PROBE("sqlite3_finalize", true, false, finalize_ret),
		PROBE("sqlite3_step", false, false, step),
	};

	memcpy(s->probes, probes, sizeof(probes));
	s->probes[4].off = s->bind_off;
	s->nprobes = s->state_off < 0 ? NPROBES : NPROBES - 1;
}

/* An offset into a statement, read from the code of function name of the
 * library by parse (user/sqlverb.h); -1 when its code has another shape. */
static long stmt_offset(const char *lib_path, const char *name,
			long (*parse)(const unsigned char *, size_t))
{
	unsigned char code[32];
	long off = -1, at;
	int fd = open(lib_path, O_RDONLY | O_CLOEXEC);
	Elf *elf;

	if (fd < 0 || elf_version(EV_CURRENT) == EV_NONE) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	elf = elf_begin(fd, ELF_C_READ, NULL);
	at = elf ? elfsym_offset(elf, name) : -1;
	if (at >= 0 && pread(fd, code, sizeof(code), at) == (ssize_t)sizeof(code))
		off = parse(code, sizeof(code));
	elf_end(elf);
	close(fd);
	return off;
}

/* Where the library's statements keep their SQL text, so that a statement
 * first seen at an execution (one prepared before the collector attached)
 * still has its verb, and their state, so that a reset or finalize tells
 * whether the statement ran without a probe on every step. */
static void set_offsets(struct sqlite *s)
{
	s->text_off = stmt_offset(s->lib_path, "sqlite3_sql", sqlverb_text_offset);
	s->state_off = stmt_offset(s->lib_path, "sqlite3_stmt_busy", sqlverb_state_offset);
	/* Called once per execution: one trap there, not two. */
	s->bind_off =
		stmt_offset(s->lib_path, "sqlite3_bind_parameter_count", sqlverb_branch_offset);
	if (s->bind_off < 0)
		s->bind_off = 0;
	s->skel->bss->text_off = s->text_off < 0 ? 0 : s->text_off;
	s->skel->bss->state_off = s->state_off < 0 ? 0 : s->state_off;
}

/* Where pid maps the library: a prepare called from there is SQLite's own
 * (bpf/sqlite.bpf.c, from_library()). Not known: 0s, and every prepare is
 * the application's. */
static void set_range(struct sqlite *s, int pid)
{
	uint64_t lo = 0, hi = 0;
	char *maps = NULL;

	if (procfs_read_maps(pid, &maps) < 0 ||
	    procfs_mapping_range(maps, SQLITE_LIBRARY, &lo, &hi))
		lo = hi = 0;
	free(maps);
	s->skel->bss->lib_lo = lo;
	s->skel->bss->lib_hi = hi;
}

/* Finds libsqlite3 in the target's maps; fills s->lib_path. */
static int find_library(struct sqlite *s, const struct target *t, char *err, size_t len)
{
	int rc = target_find_mapping(t, SQLITE_LIBRARY, s->lib_path, sizeof(s->lib_path));

	if (rc == -ESTALE) {
		s->deleted = true;
		rc = target_deleted_mapping(t, SQLITE_LIBRARY, s->lib_path, sizeof(s->lib_path));
	}
	if (rc == -ENOENT)
		snprintf(err, len,
			 "process %d has not loaded %s: its SQLite operations are not observed",
			 t->pid, SQLITE_LIBRARY);
	else if (rc)
		snprintf(err, len, "cannot find %s in process %d: %s", SQLITE_LIBRARY, t->pid,
			 strerror(-rc));
	return rc;
}

static int load(struct sqlite *s, const struct config *cfg, const struct target *t,
		struct shared *sh, char *err, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = cfg->btf_path);
	int rc;

	s->skel = VARIANT_OPEN(sqlite_bpf, &opts);
	if (!s->skel) {
		rc = -errno;
		snprintf(err, len, "failed to open the SQLite BPF object: %s", strerror(-rc));
		return rc;
	}
	/* Statements prepared and not finalized: --max-open bounds them (past
	 * it the least recently used is forgotten). Their SQL texts are kept
	 * with --span-sql-text only: one entry else (a map cannot have none). */
	bpf_map__set_max_entries(s->skel->maps.stmts, cfg->max_open);
	bpf_map__set_max_entries(s->skel->maps.stmt_texts, cfg->span_sql_text ? cfg->max_open : 1);
	rc = family_load(s->skel->skeleton, sh, "the SQLite programs", err, len);
	if (rc)
		return rc;
	s->skel->bss->targ_tgid = t->pid;
	set_range(s, t->pid);
	set_offsets(s);
	rc = mapped_open(s->skel->maps.db_hist, &s->hist);
	if (rc)
		snprintf(err, len, "failed to map db_hist: %s", strerror(-rc));
	return rc;
}

/*
 * Uretprobes first: a call whose entry program runs then always has its
 * return seen, so no thread is left in a call that never ends. Attached to
 * the target's pid only: libsqlite3 is mapped by many processes of a host,
 * and a uprobe with a pid filter is not even installed in the others.
 */
static int attach(struct sqlite *s, int pid, char *err, size_t len)
{
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < s->nprobes; i++) {
			struct sqlite_probe *p = &s->probes[i];
			LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = p->sym,
				    .retprobe = p->retprobe);
			int rc;

			if (p->retprobe != !pass)
				continue;
			*p->link = bpf_program__attach_uprobe_opts(p->prog, pid, s->lib_path,
								   p->off, &opts);
			if (*p->link)
				continue;
			rc = -errno;
			if (p->optional && rc == -ENOENT) {
				p->absent = true; /* an older SQLite */
				continue;
			}
			snprintf(err, len, "failed to attach %s %s in %s: %s",
				 p->retprobe ? "a uretprobe to" : "a uprobe to", p->sym,
				 s->lib_path, strerror(-rc));
			/* -ENOENT is "no libsqlite3" to the caller. */
			return rc == -ENOENT ? -ENOEXEC : rc;
		}
	}
	return 0;
}

static int sqlite_attach(void *o, const struct family_env *env, char *err, size_t len)
{
	return attach(o, env->target->pid, err, len);
}

static int sqlite_retarget(void *o, const struct family_env *env, bool attach_now, char *err,
			   size_t len)
{
	const struct target *t = env->target;
	struct sqlite *s = o;
	int rc;

	skel_detach(s->skel->skeleton);
	s->deleted = false;
	rc = find_library(s, t, err, len);
	if (rc)
		return rc;
	s->skel->bss->targ_tgid = t->pid;
	set_range(s, t->pid);
	set_offsets(s);
	set_probes(s); /* step, or not, for this library */
	return attach_now ? attach(s, t->pid, err, len) : 0;
}

static void sqlite_detach(void *o)
{
	skel_detach(((struct sqlite *)o)->skel->skeleton);
}

static void sqlite_free(void *o)
{
	struct sqlite *s = o;

	if (!s)
		return;
	if (s->skel)
		skel_detach(s->skel->skeleton);
	mapped_close(&s->hist);
	sqlite_bpf__destroy(s->skel);
	free(s);
}

/* Finds libsqlite3 in the target; -ENOENT when it has none (yet). */
static void *sqlite_open(const struct family_env *env, int *errp, char *err, size_t len)
{
	struct sqlite *s;
	int rc;

	if (!env->target->pid) {
		*errp = -ENOENT;
		snprintf(err, len, "no target: libsqlite3 is looked for in the target (--pid)");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	rc = find_library(s, env->target, err, len)
		     ?: load(s, env->cfg, env->target, env->shared, err, len);
	if (rc) {
		*errp = rc;
		sqlite_free(s);
		return NULL;
	}
	set_probes(s);
	return s;
}

static int sqlite_count(const void *o)
{
	const struct sqlite *s = o;
	int n = 0;

	for (int i = 0; s && i < s->nprobes; i++)
		n += !s->probes[i].absent;
	return n;
}

static int sqlite_attached(const void *o)
{
	const struct sqlite *s = o;
	int n = 0;

	for (int i = 0; s && i < s->nprobes; i++)
		n += *s->probes[i].link != NULL;
	return n;
}

static int sqlite_write_metrics(void *o, struct buf *out)
{
	struct sqlite *s = o;
	const struct hist *h = mapped_array(&s->hist, sizeof(*h), VERB_MAX * DB_STATUS_MAX);

	return h ? db_samples_write(h, out) : -ERANGE;
}

static void write_counters(struct sqlite *s, struct buf *out)
{
	static const char *const names[SQL_STAT_MAX] = {
		[SQL_STAT_UNPREPARED] = "unprepared_statements",
		[SQL_STAT_TEXT_READ] = "unprepared_verbs_read",
		[SQL_STAT_NESTED] = "nested_calls",
		[SQL_STAT_NO_STATE] = "untracked_calls",
	};
	struct bpf_map *m = s->skel->maps.stmts;
	long n = map_dump(bpf_map__fd(m), sizeof(struct stmt_key), sizeof(struct stmt_state), NULL,
			  NULL);

	buf_printf(out, ",\"statements\":%ld,\"max_statements\":%u", n < 0 ? 0 : n,
		   bpf_map__max_entries(m));
	for (__u32 i = 0; i < SQL_STAT_MAX; i++) {
		__u64 v = 0;

		bpf_map__lookup_elem(s->skel->maps.sqlite_stats, &i, sizeof(i), &v, sizeof(v), 0);
		buf_printf(out, ",\"%s\":%llu", names[i], (unsigned long long)v);
	}
}

static void sqlite_write_status(void *o, const char *why, struct buf *out)
{
	struct sqlite *s = o;

	buf_puts(out, "\"sqlite\":{\"library\":");
	if (!s) {
		buf_puts(out, "null,\"error\":");
		buf_json_str(out, why ? why : "", why ? strlen(why) : 0);
		buf_puts(out, ",\"probes\":[],\"statements\":0}");
		return;
	}
	buf_json_str(out, s->lib_path, strlen(s->lib_path));
	buf_printf(out, ",\"deleted\":%s,\"sql_text_offset\":", s->deleted ? "true" : "false");
	if (s->text_off < 0)
		buf_puts(out, "null");
	else
		buf_printf(out, "%ld", s->text_off);
	buf_puts(out, ",\"stmt_state_offset\":");
	if (s->state_off < 0)
		buf_puts(out, "null");
	else
		buf_printf(out, "%ld", s->state_off);
	buf_puts(out, ",\"probes\":[");
	for (int i = 0; i < s->nprobes; i++) {
		const struct sqlite_probe *p = &s->probes[i];

		buf_printf(
			out,
			"%s{\"name\":\"%s\",\"kind\":\"%s\",\"program\":\"%s\",\"attached\":%s%s}",
			i ? "," : "", p->sym, p->retprobe ? "uretprobe" : "uprobe",
			bpf_program__name(p->prog), *p->link ? "true" : "false",
			p->absent ? ",\"absent\":true" : "");
	}
	buf_puts(out, "]");
	write_counters(s, out);
	buf_puts(out, "}");
}

static struct bpf_object *sqlite_object(const void *o)
{
	const struct sqlite *s = o;

	return s ? s->skel->obj : NULL;
}

const struct family_ops sqlite_family = {
	.open = sqlite_open,
	.attach = sqlite_attach,
	.detach = sqlite_detach,
	.retarget = sqlite_retarget,
	.count = sqlite_count,
	.attached = sqlite_attached,
	.write_metrics = sqlite_write_metrics,
	.write_status = sqlite_write_status,
	.free = sqlite_free,
	.object = sqlite_object,
};
