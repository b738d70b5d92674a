/* SPDX-License-Identifier: MIT */
/*
 * What each probe family needs of the collector's privileges, and why: the
 * one table the README's Privileges section, the man page, the systemd unit
 * and the DaemonSet agree with (tests/python/test_deploy.py compares them;
 * tests/e2e/test_privileges.py starts the collector with exactly
 * PRIVS_GRANT). Pure: the facts of a host come from user/host.c.
 */
#ifndef AET_PRIVS_H
#define AET_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

/* What the collector needs beside the families: the maps every family
 * shares, and the endpoint. */
#define PRIV_CORE  (1u << PFAM_MAX)
#define PRIV_SERVE (1u << (PFAM_MAX + 1))
#define PRIV_ALL   (((1u << PFAM_MAX) - 1) | PRIV_CORE)

/* The set to grant a collector not run as root, in the order of the table. */
#define PRIVS_GRANT "cap_sys_admin cap_sys_ptrace cap_dac_read_search"
/* The fix an error about a capability names. */
#define PRIVS_FIX                                                                             \
	"run it as root, or grant it " PRIVS_GRANT " (aet-collector --check lists what each " \
	"family lacks)"

/* When a row of the table applies; each is a fact of the host or the target
 * (struct priv_facts). */
enum priv_when {
	WHEN_ALWAYS,
	WHEN_UPROBES_ADMIN,   /* the kernel creates uprobes for CAP_SYS_ADMIN only */
	WHEN_TARGET_OTHER,    /* another user's target, or one more privileged; follow mode */
	WHEN_TRACEFS_CLOSED,  /* tracefs is closed to the collector's user */
	WHEN_LIBRARY_CLOSED,  /* a directory above the target's library is */
	WHEN_TRACEFS_MISSING, /* tracefs is not mounted */
	WHEN_MEMLOCK,	      /* BPF memory counts against a limited RLIMIT_MEMLOCK */
	WHEN_LOW_PORT,	      /* --listen names a port below 1024 */
	WHEN_MAX,
};

struct priv_need {
	int cap;	   /* CAP_... */
	int also;	   /* a capability that grants the same (the kernel's own check), or -1 */
	uint32_t families; /* bit per enum probe_family, PRIV_CORE, PRIV_SERVE */
	enum priv_when when;
	const char *when_text; /* the condition, in the README's words */
	const char *what;      /* what it is needed for */
};

extern const struct priv_need priv_needs[];
extern const int priv_nneeds;

struct priv_facts {
	uint64_t caps;	      /* the effective set: bit per CAP_... */
	bool when[WHEN_MAX];  /* which conditions hold; WHEN_ALWAYS does */
	bool known[WHEN_MAX]; /* which could be told (unknown ones are taken to hold) */
};

/* The capability's name ("cap_sys_admin"), or NULL past those known. */
const char *priv_cap_name(int cap);

/* The rows of the table (a bit per index) that family bits fam need and
 * facts do not meet. */
uint64_t privs_missing(const struct priv_facts *f, uint32_t fam);

/* One line: "missing cap_x for the probes family (to ...: when ...)" for the
 * rows of missing, and the fix. name: what needs them ("the probes family",
 * "the BPF maps"). */
void privs_explain(uint64_t missing, const char *name, char *err, size_t len);

/* Appends the JSON array of the table's rows, each with whether it applies
 * here and whether the collector has what it asks. */
void privs_write_json(const struct priv_facts *f, struct buf *out);

#endif /* AET_PRIVS_H */
