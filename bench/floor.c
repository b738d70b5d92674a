// SPDX-License-Identifier: MIT
/*
 * bench-floor --pid PID --lib PATH [--reads] [--sqlite PATH]: attaches a
 * floor program to every probe function the collector uses, in process
 * PID, prints "attached" and holds until stdin closes. The floor against
 * which a probe hit is measured: an empty program, or with --reads one that
 * reads what the collector must (labels and clock). --sqlite adds empty
 * programs on the libsqlite3 functions the collector probes (entry and
 * return), for the workload's floor; --sqlite-set picks another set of
 * them, a design measured before it was chosen (bench/run.py):
 *   step:       prepare, step and its return, reset, finalize (the design
 *               before: two traps a row)
 *   step-reset: prepare, step, reset and its return, finalize (one a row)
 *   exec-xol:   prepare, bind_parameter_count's entry, reset and its
 *               return, finalize and its return (none a row)
 *   exec:       the same with bind_parameter_count probed at its first
 *               "je" (--bind-offset, the collector's): emulated, not
 *               stepped out of line as its first "xor" is
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "elfsym.h"
#include "floor.skel.h"

enum floor_prog { EMPTY, CLOCK, LABELS2_CLOCK, LABEL1 };

static const struct {
	const char *sym;
	enum floor_prog reads; /* the program under --reads */
} probes[] = {
	{ "aet_probe_cycle_begin", CLOCK },
	{ "aet_probe_cycle_end", CLOCK },
	{ "aet_probe_task_begin", LABELS2_CLOCK },
	{ "aet_probe_task_end", CLOCK },
	{ "aet_probe_agent_begin", LABELS2_CLOCK },
	{ "aet_probe_agent_end", CLOCK },
	{ "aet_probe_event", LABEL1 },
	{ "aet_probe_span_begin", EMPTY },
	{ "aet_probe_span_end", EMPTY },
	{ "aet_probe_trace_context", EMPTY },
	/* with the counter of probe/custom.c, as the collector */
	{ "aet_probe_keyed_counter_add", EMPTY },
	{ "aet_probe_keyed_observe", EMPTY },
};

/* The sets of --sqlite-set; a bit of each probe's sets. */
enum { SET_STEP = 1, SET_STEP_RESET = 2, SET_EXEC = 4, SET_EXEC_XOL = 8, SET_ALL = 15 };

static const struct {
	const char *sym;
	bool ret;
	int sets;
} sqlite_probes[] = {
	{ "sqlite3_prepare_v2", false, SET_ALL },
	{ "sqlite3_prepare_v2", true, SET_ALL },
	{ "sqlite3_prepare_v3", false, SET_ALL },
	{ "sqlite3_prepare_v3", true, SET_ALL },
	{ "sqlite3_step", false, SET_STEP | SET_STEP_RESET },
	{ "sqlite3_step", true, SET_STEP },
	{ "sqlite3_bind_parameter_count", false, SET_EXEC | SET_EXEC_XOL },
	{ "sqlite3_reset", false, SET_ALL },
	{ "sqlite3_reset", true, SET_STEP_RESET | SET_EXEC | SET_EXEC_XOL },
	{ "sqlite3_finalize", false, SET_ALL },
	{ "sqlite3_finalize", true, SET_EXEC | SET_EXEC_XOL },
};

#define NPROBES	 (sizeof(probes) / sizeof(probes[0]))
#define NSQLITE	 (sizeof(sqlite_probes) / sizeof(sqlite_probes[0]))
#define MAXLINKS (NPROBES + NSQLITE)

static struct bpf_link *attach(struct bpf_program *prog, int pid, const char *lib, const char *sym,
			       bool ret, size_t off)
{
	long ref = strncmp(sym, "aet_probe_keyed_", 16)
			   ? 0
			   : elfsym_path_offset(lib, "aet_probe_custom_attached");
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = sym, .retprobe = ret,
		    .ref_ctr_offset = ref > 0 ? (size_t)ref : 0);
	struct bpf_link *l = bpf_program__attach_uprobe_opts(prog, pid, lib, off, &opts);

	if (!l)
		fprintf(stderr, "bench-floor: failed to attach %s in %s: %s\n", sym, lib,
			strerror(errno));
	return l;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench-floor --pid PID --lib PATH [--reads] [--sqlite PATH]\n"
			"       [--sqlite-set step|step-reset|exec-xol|exec] [--bind-offset N]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct bpf_link *links[MAXLINKS] = {};
	const char *lib = NULL, *sqlite = NULL;
	struct bpf_program *progs[4];
	struct floor_bpf *skel;
	bool reads = false;
	int set = SET_EXEC;
	size_t bind_off = 0;
	size_t n = 0;
	int pid = 0, err = 0;
	char line[16];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pid") && i + 1 < argc)
			pid = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--lib") && i + 1 < argc)
			lib = argv[++i];
		else if (!strcmp(argv[i], "--sqlite") && i + 1 < argc)
			sqlite = argv[++i];
		else if (!strcmp(argv[i], "--sqlite-set") && i + 1 < argc) {
			i++;
			set = !strcmp(argv[i], "step")	       ? SET_STEP
			      : !strcmp(argv[i], "step-reset") ? SET_STEP_RESET
			      : !strcmp(argv[i], "exec")       ? SET_EXEC
			      : !strcmp(argv[i], "exec-xol")   ? SET_EXEC_XOL
							       : 0;
			if (!set)
				return usage();
		} else if (!strcmp(argv[i], "--bind-offset") && i + 1 < argc)
			bind_off = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reads"))
			reads = true;
		else
			return usage();
	}
	if (!pid || !lib)
		return usage();
	skel = floor_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "bench-floor: failed to load: %s\n", strerror(errno));
		return 1;
	}
	progs[EMPTY] = skel->progs.empty;
	progs[CLOCK] = skel->progs.clock;
	progs[LABELS2_CLOCK] = skel->progs.labels2_clock;
	progs[LABEL1] = skel->progs.label1;
	for (size_t i = 0; i < NPROBES && !err; i++) {
		links[n] = attach(progs[reads ? probes[i].reads : EMPTY], pid, lib, probes[i].sym,
				  false, 0);
		err = links[n++] ? 0 : 1;
	}
	for (size_t i = 0; sqlite && i < NSQLITE && !err; i++) {
		if (!(sqlite_probes[i].sets & set))
			continue;
		links[n] = attach(skel->progs.empty, pid, sqlite, sqlite_probes[i].sym,
				  sqlite_probes[i].ret,
				  set == SET_EXEC && !strcmp(sqlite_probes[i].sym,
							     "sqlite3_bind_parameter_count")
					  ? bind_off
					  : 0);
		/* prepare_v3 is optional, as in the collector (SQLite < 3.20) */
		err = links[n++] || !strcmp(sqlite_probes[i].sym, "sqlite3_prepare_v3") ? 0 : 1;
	}
	if (!err) {
		puts("attached");
		fflush(stdout);
		while (fgets(line, sizeof(line), stdin))
			;
	}
	for (size_t i = 0; i < n; i++)
		bpf_link__destroy(links[i]);
	floor_bpf__destroy(skel);
	return err;
}
