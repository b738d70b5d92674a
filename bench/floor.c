// SPDX-License-Identifier: MIT
/*
 * bench-floor --pid PID --lib PATH: attaches an empty BPF program to every
 * probe function the collector uses, in process PID, prints "attached" and
 * holds until stdin closes. The floor against which a probe hit is measured.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "floor.skel.h"

static const char *const syms[] = {
	"aet_probe_cycle_begin", "aet_probe_cycle_end",	  "aet_probe_task_begin",
	"aet_probe_task_end",	 "aet_probe_agent_begin", "aet_probe_agent_end",
	"aet_probe_event",
};

#define NSYMS (sizeof(syms) / sizeof(syms[0]))

int main(int argc, char **argv)
{
	struct bpf_link *links[NSYMS] = {};
	struct floor_bpf *skel;
	int pid, err = 0;
	char line[16];

	if (argc != 5 || strcmp(argv[1], "--pid") || strcmp(argv[3], "--lib")) {
		fprintf(stderr, "usage: bench-floor --pid PID --lib PATH\n");
		return 2;
	}
	pid = atoi(argv[2]);
	skel = floor_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "bench-floor: failed to load: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < NSYMS; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = syms[i]);

		links[i] =
			bpf_program__attach_uprobe_opts(skel->progs.empty, pid, argv[4], 0, &opts);
		if (!links[i]) {
			err = -errno;
			fprintf(stderr, "bench-floor: failed to attach %s: %s\n", syms[i],
				strerror(-err));
			goto cleanup;
		}
	}
	puts("attached");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
cleanup:
	for (size_t i = 0; i < NSYMS; i++)
		bpf_link__destroy(links[i]);
	floor_bpf__destroy(skel);
	return err ? 1 : 0;
}
