// SPDX-License-Identifier: MIT
/*
 * bench-floor-files: attaches empty programs to every tracepoint the
 * collector's file programs use, prints "attached" and holds until stdin
 * closes. The floor of what a syscall pays for being observed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "floor_files.skel.h"

int main(void)
{
	struct floor_files_bpf *skel = floor_files_bpf__open_and_load();
	char line[16];
	int err;

	if (!skel) {
		fprintf(stderr, "bench-floor-files: failed to load: %s\n", strerror(errno));
		return 1;
	}
	err = floor_files_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "bench-floor-files: failed to attach: %s\n", strerror(-err));
		floor_files_bpf__destroy(skel);
		return 1;
	}
	puts("attached");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	floor_files_bpf__destroy(skel);
	return 0;
}
