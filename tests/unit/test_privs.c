// SPDX-License-Identifier: MIT
/* Unit tests of the privileges table and what it says is missing (user/privs.c). */
#include <criterion/criterion.h>
#include <linux/capability.h>
#include <string.h>

#include "privs.h"

#define CAP(c) (1ULL << (c))
#define GRANT  (CAP(CAP_SYS_ADMIN) | CAP(CAP_SYS_PTRACE) | CAP(CAP_DAC_READ_SEARCH))

TestSuite(privs, .timeout = 5.);

/* Every condition known; those in when hold. */
static struct priv_facts facts(uint64_t caps, const enum priv_when *when, int n)
{
	struct priv_facts f = { .caps = caps };

	for (int i = 0; i < WHEN_MAX; i++)
		f.known[i] = true;
	f.when[WHEN_ALWAYS] = true;
	for (int i = 0; i < n; i++)
		f.when[when[i]] = true;
	return f;
}

/* The rows that need cap for something of fam. */
static uint64_t rows_of(int cap, uint32_t fam)
{
	uint64_t rows = 0;

	for (int i = 0; i < priv_nneeds; i++)
		if (priv_needs[i].cap == cap && priv_needs[i].families & fam)
			rows |= 1ULL << i;
	return rows;
}

Test(privs, every_row_is_named_and_explained)
{
	cr_assert_leq(priv_nneeds, 64);
	for (int i = 0; i < priv_nneeds; i++) {
		cr_assert_not_null(priv_cap_name(priv_needs[i].cap), "row %d", i);
		cr_assert(priv_needs[i].also < 0 || priv_cap_name(priv_needs[i].also));
		cr_assert(priv_needs[i].families, "row %d", i);
		cr_assert(strlen(priv_needs[i].what) && strlen(priv_needs[i].when_text));
	}
	cr_assert_str_eq(priv_cap_name(CAP_SYS_ADMIN), "cap_sys_admin");
	cr_assert_null(priv_cap_name(63));
}

/* The documented set meets every row on a host where all of them apply
 * but the memory limit and the low port. */
Test(privs, the_grant_meets_everything)
{
	const enum priv_when all[] = { WHEN_UPROBES_ADMIN, WHEN_TARGET_OTHER, WHEN_TRACEFS_CLOSED,
				       WHEN_LIBRARY_CLOSED, WHEN_TRACEFS_MISSING };
	struct priv_facts f = facts(GRANT, all, sizeof(all) / sizeof(all[0]));

	cr_assert_eq(privs_missing(&f, PRIV_ALL | PRIV_SERVE), 0);
}

/* Root with every capability, whatever holds. */
Test(privs, root_misses_nothing)
{
	const enum priv_when all[] = { WHEN_UPROBES_ADMIN,   WHEN_TARGET_OTHER,
				       WHEN_TRACEFS_CLOSED,  WHEN_LIBRARY_CLOSED,
				       WHEN_TRACEFS_MISSING, WHEN_MEMLOCK,
				       WHEN_LOW_PORT };
	struct priv_facts f = facts(~0ULL, all, sizeof(all) / sizeof(all[0]));

	cr_assert_eq(privs_missing(&f, PRIV_ALL | PRIV_SERVE), 0);
}

Test(privs, a_row_applies_only_when_its_condition_holds)
{
	struct priv_facts f = facts(CAP(CAP_BPF) | CAP(CAP_PERFMON), NULL, 0);
	const enum priv_when admin[] = { WHEN_UPROBES_ADMIN };
	struct priv_facts g = facts(CAP(CAP_BPF) | CAP(CAP_PERFMON), admin, 1);

	/* An older kernel, the target the collector's own, tracefs open. */
	cr_assert_eq(privs_missing(&f, PRIV_ALL), 0);
	cr_assert_eq(privs_missing(&g, 1u << PFAM_PROBES),
		     rows_of(CAP_SYS_ADMIN, 1u << PFAM_PROBES));
	cr_assert_eq(privs_missing(&g, 1u << PFAM_PROCESSES), 0);
	/* Not known: taken to hold. */
	g.when[WHEN_UPROBES_ADMIN] = false;
	g.known[WHEN_UPROBES_ADMIN] = false;
	cr_assert_neq(privs_missing(&g, 1u << PFAM_SQLITE), 0);
}

Test(privs, another_capability_may_grant_the_same)
{
	struct priv_facts f = facts(CAP(CAP_SYS_ADMIN), NULL, 0);

	/* bpf_capable() and perfmon_capable() take CAP_SYS_ADMIN. */
	cr_assert_eq(privs_missing(&f, PRIV_CORE), 0);
	f.caps = CAP(CAP_BPF);
	cr_assert_eq(privs_missing(&f, PRIV_CORE), rows_of(CAP_PERFMON, PRIV_CORE));
}

Test(privs, the_line_names_each_capability_why_and_the_fix)
{
	const enum priv_when when[] = { WHEN_UPROBES_ADMIN, WHEN_TARGET_OTHER };
	struct priv_facts f = facts(CAP(CAP_BPF) | CAP(CAP_PERFMON), when, 2);
	char err[1024];

	privs_explain(privs_missing(&f, 1u << PFAM_PROBES), "the probes family", err, sizeof(err));
	cr_assert_str_eq(err, "the probes family lacks cap_sys_admin, for creating uprobes (the "
			      "kernel creates uprobes for it only: Linux 6.16 and the stable "
			      "kernels since, and Debian's at kernel.perf_event_paranoid 3, their "
			      "default); cap_sys_ptrace, for reading the target's "
			      "/proc/PID/maps and open files, its libraries through /proc/PID/root "
			      "(the target is another user's process or holds capabilities the "
			      "collector lacks; always in follow mode): " PRIVS_FIX);
	f.caps = 0;
	privs_explain(privs_missing(&f, PRIV_CORE), "the collector", err, sizeof(err));
	cr_assert(strstr(err, "the collector lacks cap_bpf (or cap_sys_admin), for loading "));
	cr_assert(strstr(err, "; cap_perfmon (or cap_sys_admin), for tracing programs"));
	/* Cut short, still a string. */
	privs_explain(privs_missing(&f, PRIV_CORE), "the collector", err, 20);
	cr_assert_eq(strlen(err), 19);
}

Test(privs, the_low_port_is_the_endpoint_s)
{
	const enum priv_when low[] = { WHEN_LOW_PORT };
	struct priv_facts f = facts(GRANT, low, 1);

	cr_assert_eq(privs_missing(&f, PRIV_ALL), 0);
	cr_assert_eq(privs_missing(&f, PRIV_SERVE), rows_of(CAP_NET_BIND_SERVICE, PRIV_SERVE));
}
