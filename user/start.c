// SPDX-License-Identifier: MIT
/* Opening the target and loading the probe families, one after another: the
 * start of the collector (user/main.c) and of --check (user/check.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/types.h>

#include "host.h"
#include "start.h"

/* A family that failed to load or attach (err says why, rc = -errno):
 * fatal when required, else reported in /status and /metrics. Returns rc
 * or 0. */
static int family_failed(struct collector *c, int fam, int rc, char *err, size_t len)
{
	snprintf(c->why[fam], sizeof(c->why[fam]), "%s", err);
	if (!(c->cfg->require & 1u << fam))
		return 0;
	snprintf(err + strlen(err), len - strlen(err), " (--require %s)", probe_family_names[fam]);
	return rc;
}

int check_btf(const struct config *cfg, char *err, size_t len)
{
	const char *path = cfg->btf_path ? cfg->btf_path : "/sys/kernel/btf/vmlinux";

	if (!access(path, R_OK))
		return 0;
	if (cfg->btf_path)
		snprintf(err, len, "cannot read BTF file %s: %s", path, strerror(errno));
	else
		snprintf(err, len,
			 "this kernel has no BTF (%s: %s): use a kernel built with "
			 "CONFIG_DEBUG_INFO_BTF=y, or pass --btf FILE",
			 path, strerror(errno));
	return -ENOENT;
}

/* A --file-root that does not exist is a typo: it would count nothing. */
int check_file_roots(const struct config *cfg, char *err, size_t len)
{
	struct stat st;

	for (int i = 0; i < cfg->nfile_roots; i++) {
		const char *root = cfg->file_roots[i];

		if (stat(root, &st)) {
			int rc = -errno;

			snprintf(err, len, "--file-root %s: %s%s", root, strerror(-rc),
				 rc == -ENOENT ? ": a root that does not exist counts nothing; "
						 "correct the path, or create the directory first"
					       : "");
			return rc;
		}
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, len,
				 "--file-root %s: not a directory: give the directory "
				 "whose files to count",
				 root);
			return -ENOTDIR;
		}
	}
	return 0;
}

/* Fails with err naming what the collector lacks for fam (family bits,
 * PRIV_CORE, PRIV_SERVE) on this host, and the fix. */
int check_privs(const struct priv_facts *pf, uint32_t fam, const char *name, char *err, size_t len)
{
	uint64_t missing = privs_missing(pf, fam);

	if (!missing)
		return 0;
	privs_explain(missing, name, err, len);
	return -EPERM;
}

/* Whether family fam may be loaded: not when it lacks a capability, then
 * reported as its failure (*rc: nonzero when it is required). */
static bool may_load(struct collector *c, int fam, const struct priv_facts *pf, int *rc, char *err,
		     size_t len)
{
	char name[32];
	int why;

	snprintf(name, sizeof(name), "the %s family", probe_family_names[fam]);
	why = check_privs(pf, 1u << fam, name, err, len);
	if (why)
		*rc = family_failed(c, fam, why, err, len);
	return !why;
}

/* Opens family f and attaches it (when the switch is on). In follow mode,
 * a family with nothing to open yet (-ENOENT: no target) is opened when a
 * process is adopted. */
static int load_family(struct collector *c, int f, char *err, size_t len)
{
	struct family_env env = collector_env(c);
	int rc = 0;

	c->fam[f] = families[f]->open(&env, &rc, err, len);
	if (!c->fam[f] && rc == -ENOENT && c->following)
		return 0;
	rc = rc ?: collector_attach(c, f, err, len);
	if (!rc)
		return 0;
	families[f]->free(c->fam[f]);
	c->fam[f] = NULL;
	return family_failed(c, f, rc, err, len);
}

/* Loads and attaches one family after another; each that fails, or lacks
 * a capability, is fatal only when required. */
int load_families(struct collector *c, const struct priv_facts *pf, char *err, size_t len)
{
	int rc = 0;

	for (int f = 0; f < PFAM_MAX && !rc; f++) {
		if (c->cfg->disable & 1u << f)
			snprintf(c->why[f], sizeof(c->why[f]), "disabled (%s)", c->cfg->disable_by);
		else if (may_load(c, f, pf, &rc, err, len))
			rc = load_family(c, f, err, len);
		/* Its forks followed from now on: the children the target forked
		 * before, before the families after it count their files. */
		if (f == PFAM_PROCESSES && !rc && c->cfg->pid)
			collector_follow_descendants(c, c->cfg->pid);
	}
	if (rc)
		return rc;
	return c->following ? collector_start_following(c, err, len) : 0;
}

/* The target (--pid) or what follow mode follows; the span programs and
 * the maps every family shares. */
int open_target(struct collector *c, struct priv_facts *pf, char *err, size_t len)
{
	const struct config *cfg = c->cfg;
	int rc;

	if (cfg->pid) {
		rc = target_open(&c->target, cfg->pid, probes_wanted(cfg), err, len);
		if (rc)
			return rc;
		c->have_target = true;
		if (c->target.lib_path[0])
			host_library_fact(pf, c->target.lib_path);
	} else if (cfg->follow_comm || cfg->follow_exe) {
		/* Follow mode: the spans' resource names what is followed. */
		const char *name = cfg->follow_comm ?: strrchr(cfg->follow_exe, '/') + 1;

		c->following = true;
		rc = follow_init(&c->follow, cfg->follow_comm, cfg->follow_exe, cfg->max_targets,
				 err, len);
		if (rc)
			return rc;
		snprintf(c->target.comm, sizeof(c->target.comm), "%s", name);
	}
	/* The library the uprobes go on; follow mode's, when --library. */
	if ((c->have_target && c->target.lib_path[0]) || cfg->follow_library) {
		rc = collector_set_library(
			c, c->have_target ? c->target.lib_path : cfg->follow_library, err, len);
		if (rc)
			return rc;
	}
	c->shared = shared__new(cfg, &rc, err, len);
	if (!c->shared)
		return rc;
	c->spans = spans__new(cfg, &c->target, c->shared, &rc, err, len);
	if (!c->spans)
		return rc;
	rc = cfg->pid ? shared__follow(c->shared, cfg->pid) : 0;
	if (rc)
		snprintf(err, len, "cannot follow pid %d: %s", cfg->pid, strerror(-rc));
	return rc;
}
