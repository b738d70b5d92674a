// SPDX-License-Identifier: MIT
/*
 * aet-collector --check: what would work on this host, and why, with
 * nothing attached. It does what the start does up to attaching: asks the
 * kernel which privileges apply (user/host.c), opens and loads every BPF
 * object (the verifier's word on each family), measures the uprobe spot on
 * a function of the collector's own, finds the target's libraries; then
 * reports each family, its fallback and what it lacks, as a table or JSON.
 * It mounts tracefs, where the start would, only in a mount namespace of
 * its own.
 */
#define _GNU_SOURCE /* unshare() */
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "caps.h"
#include "probes.h"
#include "procs.h"
#include "python.h"
#include "check.h"
#include "host.h"
#include "start.h"
#include "variant.h"

#define DETAIL_LEN (PATH_MAX + 640)

struct report {
	struct collector c;
	struct config cfg; /* what loading sees: nothing required, nothing attached */
	const struct config *given;
	struct utsname uts;
	int btf_rc, build_rc, target_rc, load_rc;
	char btf_err[256], build_err[256], target_err[1024], load_err[1024];
	bool syscalls; /* tracefs has the per-syscall tracepoints */
	char sqlite_lib[PATH_MAX], ssl_lib[PATH_MAX];
	bool ok[PFAM_MAX];
	char detail[PFAM_MAX][DETAIL_LEN];
};

static const char *const fallbacks[PFAM_MAX] = {
	[PFAM_PROBES] = "none: uprobes through perf, or tracefs uprobe_events without the "
			"uprobe PMU (libbpf)",
	[PFAM_PROCESSES] = "raw tracepoints where BTF tracepoints do not load",
	[PFAM_FILES] = "raw tracepoints for the exit and exec programs where BTF ones do not load",
	[PFAM_SQLITE] = "a libsqlite3 replaced on disk through /proc/PID/map_files",
	[PFAM_HTTP] = "plain HTTP alone where the target has no libssl",
	[PFAM_PYTHON] = "none: an interpreter without USDT probes is reported, not observed",
	[PFAM_CUSTOM] = "none: uprobes through perf, or tracefs uprobe_events without the "
			"uprobe PMU (libbpf)",
};

/* The target's copy of library name, or "" when it has none. */
static void find_lib(const struct target *t, const char *name, char *path, size_t len)
{
	if (target_find_mapping(t, name, path, len))
		path[0] = '\0';
}

/* Everything the start does but attach. */
static void gather(struct report *r)
{
	struct collector *c = &r->c;

	uname(&r->uts);
	host_facts(&c->privs, &r->cfg, true);
	/* tracefs where the start would mount it: in a mount namespace of
	 * --check's own (it takes cap_sys_admin, as the mount does), so that
	 * nothing is mounted for anyone else. */
	if (c->privs.when[WHEN_TRACEFS_MISSING] && !unshare(CLONE_NEWNS) &&
	    !mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	r->syscalls = !faccessat(AT_FDCWD, TRACEFS "/events/syscalls", F_OK, AT_EACCESS);
	r->btf_rc = check_btf(&r->cfg, r->btf_err, sizeof(r->btf_err));
	r->build_rc = variant_choose(r->cfg.bpf_build, r->build_err, sizeof(r->build_err));
	if (r->cfg.pid) {
		r->target_rc = target_open(&c->target, r->cfg.pid, probes_wanted(&r->cfg),
					   r->target_err, sizeof(r->target_err));
		c->have_target = !r->target_rc;
		if (c->have_target && c->target.lib_path[0])
			host_library_fact(&c->privs, c->target.lib_path);
		/* The spans without following it: nothing is to count. */
		r->cfg.pid = 0;
	}
	/* Without what every family needs, nothing loads: each is told why. */
	if (r->btf_rc || r->build_rc || privs_missing(&c->privs, PRIV_CORE))
		return;
	r->load_rc = open_target(c, &c->privs, r->load_err, sizeof(r->load_err))
			     ?: load_families(c, &c->privs, r->load_err, sizeof(r->load_err));
	if (c->have_target) {
		find_lib(&c->target, "libsqlite3.so", r->sqlite_lib, sizeof(r->sqlite_lib));
		find_lib(&c->target, "libssl.so", r->ssl_lib, sizeof(r->ssl_lib));
	}
}

static int programs(const struct collector *c, int f)
{
	return c->fam[f] ? families[f]->count(c->fam[f]) : 0;
}

/* Whether family f would attach, and how, or why not. */
static void judge(struct report *r, int f)
{
	struct collector *c = &r->c;
	char *d = r->detail[f];
	const char *lib = c->have_target ? c->target.lib_path : "the target's, once given (--pid)";

	if (r->given->disable & 1u << f) {
		r->ok[f] = false;
		snprintf(d, DETAIL_LEN, "%s", c->why[f]);
		return;
	}
	switch (f) {
	case PFAM_PROBES:
		r->ok[f] = c->fam[f] && !r->target_rc;
		snprintf(d, DETAIL_LEN, "%d uprobes on %s", programs(c, f), lib);
		break;
	case PFAM_CUSTOM:
		r->ok[f] = c->fam[f] && !r->target_rc;
		snprintf(d, DETAIL_LEN, "%d uprobes on %s", programs(c, f), lib);
		break;
	case PFAM_PROCESSES:
		r->ok[f] = c->fam[f];
		snprintf(d, DETAIL_LEN, "%d programs on %s tracepoints", programs(c, f),
			 procs__raw(c->fam[f]) ? "raw (BTF ones do not load here)" : "BTF");
		break;
	case PFAM_FILES:
		r->ok[f] = c->fam[f] && r->syscalls;
		snprintf(d, DETAIL_LEN, "%d programs on per-syscall tracepoints", programs(c, f));
		if (c->fam[f] && !r->syscalls)
			snprintf(d, DETAIL_LEN,
				 "no per-syscall tracepoints in %s/events/syscalls "
				 "(a kernel without CONFIG_FTRACE_SYSCALLS)",
				 TRACEFS);
		break;
	case PFAM_HTTP:
		r->ok[f] = c->fam[f] && r->syscalls;
		snprintf(d, DETAIL_LEN, "%d programs on per-syscall tracepoints and on %s",
			 programs(c, f), r->ssl_lib[0] ? r->ssl_lib : "no libssl in the target");
		break;
	case PFAM_PYTHON:
		r->ok[f] = c->fam[f];
		snprintf(d, DETAIL_LEN, "%d USDT probes on %s", programs(c, f),
			 python_interpreter(c->fam[f]));
		break;
	default:
		r->ok[f] = c->fam[f];
		snprintf(d, DETAIL_LEN, "%d probes on %s", programs(c, f), r->sqlite_lib);
		break;
	}
	if (r->ok[f])
		return;
	if (privs_missing(&c->privs, 1u << f)) {
		char name[32];

		snprintf(name, sizeof(name), "the %s family", probe_family_names[f]);
		privs_explain(privs_missing(&c->privs, 1u << f), name, d, DETAIL_LEN);
	} else if (c->why[f][0])
		snprintf(d, DETAIL_LEN, "%s", c->why[f]);
	else if ((f == PFAM_PROBES || f == PFAM_CUSTOM) && r->target_rc)
		snprintf(d, DETAIL_LEN, "%s", r->target_err);
	else if (r->btf_rc || r->build_rc)
		snprintf(d, DETAIL_LEN, "nothing loaded: %s",
			 r->btf_rc ? r->btf_err : r->build_err);
	else if (r->load_rc && r->load_err[0] && !d[0])
		snprintf(d, DETAIL_LEN, "%s", r->load_err);
}

/* The capabilities of the rows (a bit each) in rows, space-separated, each
 * once; "cap_bpf|cap_sys_admin" for one that another grants too. */
static void row_caps(uint64_t rows, bool alternatives, char *buf, size_t len)
{
	size_t n = 1;

	buf[0] = ' '; /* " a b ": each token between spaces while building */
	buf[1] = '\0';
	for (int i = 0; i < priv_nneeds && n < len; i++) {
		const struct priv_need *p = &priv_needs[i];
		char one[64];

		if (!(rows >> i & 1))
			continue;
		snprintf(one, sizeof(one), " %s%s%s ", priv_cap_name(p->cap),
			 alternatives && p->also >= 0 ? "|" : "",
			 alternatives && p->also >= 0 ? priv_cap_name(p->also) : "");
		if (!strstr(buf, one))
			n += snprintf(buf + n, len - n, "%s", one + 1);
	}
	memmove(buf, buf + 1, strlen(buf)); /* the leading space */
	n = strlen(buf);
	if (n && buf[n - 1] == ' ')
		buf[n - 1] = '\0';
}

/* The rows of the table family f needs on this host. */
static uint64_t needed_rows(const struct report *r, int f)
{
	uint64_t rows = 0;
	struct priv_facts none = r->c.privs;

	none.caps = 0;
	rows = privs_missing(&none, 1u << f);
	return rows;
}

static void missing_caps(const struct report *r, int f, char *buf, size_t len)
{
	row_caps(privs_missing(&r->c.privs, 1u << f), false, buf, len);
}

static bool required(const struct report *r, int f)
{
	return r->given->require & 1u << f;
}

static const char *spot(const struct report *r, double *nop5, double *push, const char **by)
{
	*nop5 = *push = 0;
	*by = "";
	return probes__spot(r->c.fam[PFAM_PROBES], nop5, push, by);
}

static void write_text_host(const struct report *r, struct buf *out)
{
	const struct priv_facts *pf = &r->c.privs;
	double nop5, push;
	const char *by, *at = spot(r, &nop5, &push, &by);

	buf_printf(out, "aet-collector " AET_COLLECTOR_VERSION " --check: nothing attached\n");
	buf_printf(out, "%-13s%s %s\n", "kernel", r->uts.release, r->uts.machine);
	buf_printf(out, "%-13s%s: %s\n", "BTF",
		   r->cfg.btf_path ? r->cfg.btf_path : "/sys/kernel/btf/vmlinux",
		   r->btf_rc ? r->btf_err : "readable");
	if (r->build_rc)
		buf_printf(out, "%-13s%s\n", "BPF build", r->build_err);
	else
		buf_printf(out, "%-13s%s: %s\n", "BPF build",
			   variant_compat() ? "compat" : "native", variant_decided_by());
	buf_printf(out, "%-13s%s: %s, %s\n", "tracefs", TRACEFS,
		   pf->when[WHEN_TRACEFS_MISSING] ? "not mounted (the collector mounts it)"
						  : "mounted",
		   r->syscalls ? "per-syscall tracepoints found"
			       : "per-syscall tracepoints not found (or not readable)");
	buf_printf(out, "%-13screated for %s on this kernel\n", "uprobes",
		   !pf->known[WHEN_UPROBES_ADMIN] ? "cap_sys_admin or cap_perfmon (could not tell)"
		   : pf->when[WHEN_UPROBES_ADMIN] ? "cap_sys_admin only"
						  : "cap_perfmon");
	if (at)
		buf_printf(out,
			   "%-13s%s (by %s): %.0f ns a hit at nop5, %.0f ns at push, measured on "
			   "the collector's own function\n",
			   "uprobe spot", at, by, nop5, push);
	else
		buf_printf(out, "%-13snot measured (the probes family did not load)\n",
			   "uprobe spot");
	buf_printf(out, "%-13s", "capabilities");
	for (int c = 0, n = 0; c < 64; c++)
		if (pf->caps >> c & 1 && priv_cap_name(c))
			buf_printf(out, "%s%s", n++ ? " " : "", priv_cap_name(c));
	buf_puts(out, pf->caps ? " (effective)\n" : "none (effective)\n");
}

static void write_text_target(const struct report *r, struct buf *out)
{
	const struct target *t = &r->c.target;

	if (!r->given->pid) {
		buf_printf(out, "%-13snone given (--pid PID looks at its libraries too)\n",
			   "target");
		return;
	}
	if (r->target_rc && !r->c.have_target) {
		buf_printf(out, "%-13s%s\n", "target", r->target_err);
		return;
	}
	buf_printf(out, "%-13spid %d (%s): %s %s; libsqlite3 %s; libssl %s\n", "target", t->pid,
		   t->comm, PROBE_LIBRARY, t->lib_path,
		   r->sqlite_lib[0] ? r->sqlite_lib : "not loaded",
		   r->ssl_lib[0] ? r->ssl_lib : "not loaded");
}

static void write_text(const struct report *r, bool all_ok, struct buf *out)
{
	char miss[256], need[512];

	write_text_host(r, out);
	write_text_target(r, out);
	buf_printf(out, "\n%-10s %-8s %-8s %s\n", "family", "required", "attaches",
		   "how, or why not");
	for (int f = 0; f < PFAM_MAX; f++) {
		missing_caps(r, f, miss, sizeof(miss));
		buf_printf(out, "%-10s %-8s %-8s %s\n", probe_family_names[f],
			   required(r, f) ? "yes" : "no", r->ok[f] ? "yes" : "no", r->detail[f]);
		row_caps(needed_rows(r, f), true, need, sizeof(need));
		buf_printf(out, "%-28sfallback: %s\n", "", fallbacks[f]);
		buf_printf(out, "%-28sneeds here: %s; %s%s\n", "", need,
			   miss[0] ? "lacks " : "has them all", miss);
	}
	buf_printf(out, "\n%s\n",
		   all_ok ? "every required family would attach"
			  : "a required family would not attach: the start would fail");
}

static void json_str(struct buf *out, const char *key, const char *s)
{
	buf_printf(out, "\"%s\":", key);
	if (s) {
		buf_json_str(out, s, strlen(s));
	} else {
		buf_puts(out, "null");
	}
}

static void write_json_host(const struct report *r, struct buf *out)
{
	const struct priv_facts *pf = &r->c.privs;
	double nop5, push;
	const char *by, *at = spot(r, &nop5, &push, &by);

	buf_puts(out, "{\"version\":\"" AET_COLLECTOR_VERSION "\",\"kernel\":{");
	json_str(out, "release", r->uts.release);
	buf_puts(out, ",");
	json_str(out, "machine", r->uts.machine);
	buf_puts(out, "},\"btf\":{");
	json_str(out, "path", r->cfg.btf_path ? r->cfg.btf_path : "/sys/kernel/btf/vmlinux");
	buf_printf(out, ",\"ok\":%s,", r->btf_rc ? "false" : "true");
	json_str(out, "error", r->btf_rc ? r->btf_err : NULL);
	buf_puts(out, "},\"bpf_build\":{");
	json_str(out, "build", r->build_rc ? NULL : variant_compat() ? "compat" : "native");
	buf_puts(out, ",");
	json_str(out, "decided_by", r->build_rc ? r->build_err : variant_decided_by());
	buf_printf(out, "},\"tracefs\":{\"path\":\"%s\",\"mounted\":%s,\"syscalls\":%s},", TRACEFS,
		   pf->when[WHEN_TRACEFS_MISSING] ? "false" : "true",
		   r->syscalls ? "true" : "false");
	buf_printf(out, "\"uprobes\":{\"need_cap_sys_admin\":%s},",
		   !pf->known[WHEN_UPROBES_ADMIN] ? "null"
		   : pf->when[WHEN_UPROBES_ADMIN] ? "true"
						  : "false");
	buf_puts(out, "\"uprobe_spot\":");
	if (at) {
		buf_printf(out, "{\"spot\":\"%s\",\"nop5_hit_ns\":%.0f,\"push_hit_ns\":%.0f,", at,
			   nop5, push);
		json_str(out, "decided_by", by);
		buf_puts(out, "}");
	} else {
		buf_puts(out, "null");
	}
	buf_puts(out, ",\"capabilities\":");
	caps_write_json(pf->caps, out);
	buf_puts(out, ",\"privileges\":");
	privs_write_json(pf, out);
}

static void write_json_target(const struct report *r, struct buf *out)
{
	const struct target *t = &r->c.target;

	buf_puts(out, ",\"target\":");
	if (!r->given->pid) {
		buf_puts(out, "null");
		return;
	}
	buf_printf(out, "{\"pid\":%d,", r->given->pid);
	json_str(out, "error", r->target_rc ? r->target_err : NULL);
	buf_puts(out, ",");
	json_str(out, "comm", r->c.have_target ? t->comm : NULL);
	buf_puts(out, ",");
	json_str(out, "probe_library", r->c.have_target ? t->lib_path : NULL);
	buf_puts(out, ",");
	json_str(out, "libsqlite3", r->sqlite_lib[0] ? r->sqlite_lib : NULL);
	buf_puts(out, ",");
	json_str(out, "libssl", r->ssl_lib[0] ? r->ssl_lib : NULL);
	buf_puts(out, "}");
}

static void write_json(const struct report *r, bool all_ok, struct buf *out)
{
	char miss[256], need[512];

	write_json_host(r, out);
	write_json_target(r, out);
	buf_puts(out, ",\"families\":[");
	for (int f = 0; f < PFAM_MAX; f++) {
		missing_caps(r, f, miss, sizeof(miss));
		buf_printf(out,
			   "%s{\"name\":\"%s\",\"required\":%s,\"disabled\":%s,\"attaches\":%s,",
			   f ? "," : "", probe_family_names[f], required(r, f) ? "true" : "false",
			   r->given->disable & 1u << f ? "true" : "false",
			   r->ok[f] ? "true" : "false");
		json_str(out, "detail", r->detail[f]);
		buf_puts(out, ",");
		json_str(out, "fallback", fallbacks[f]);
		row_caps(needed_rows(r, f), true, need, sizeof(need));
		buf_puts(out, ",");
		json_str(out, "needs", need);
		buf_puts(out, ",\"missing\":[");
		for (char *p = miss, *e; *p; p = *e ? e + 1 : e) {
			e = p + strcspn(p, " ");
			buf_printf(out, "%s\"%.*s\"", p == miss ? "" : ",", (int)(e - p), p);
		}
		buf_puts(out, "]}");
	}
	buf_printf(out, "],\"ok\":%s}\n", all_ok ? "true" : "false");
}

static void release(struct report *r)
{
	struct collector *c = &r->c;

	collector_free_families(c);
	collector_fini(c);
}

int check_run(const struct config *given)
{
	static struct report r; /* large: paths and details */
	struct buf out;
	bool all_ok = true;

	memset(&r, 0, sizeof(r));
	r.given = given;
	r.cfg = *given;
	r.cfg.require = 0; /* every family tried, none stopping the others */
	r.cfg.start_disabled = true;
	collector_init(&r.c, &r.cfg);
	gather(&r);
	for (int f = 0; f < PFAM_MAX; f++) {
		judge(&r, f);
		all_ok &= r.ok[f] || !required(&r, f);
	}
	buf_init(&out);
	if (given->json)
		write_json(&r, all_ok, &out);
	else
		write_text(&r, all_ok, &out);
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	release(&r);
	return all_ok ? 0 : 1;
}
