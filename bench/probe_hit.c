// SPDX-License-Identifier: MIT
/*
 * bench-probe-hit: calls the probe functions in a loop and prints the cost
 * of one call. It prints "ready PID", then for each line "N" on stdin runs
 * N iterations and prints "pair NS event NS": the nanoseconds of one
 * task_begin + task_end pair and of one event call. A line "series N" sends
 * N distinct event types, once each (N series of aet_events_total), and
 * prints "done"; "agents N" N tasks begun and ended by N distinct agents;
 * "leak N" N tasks begun and never ended.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aet/probe.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void)
{
	char line[32];
	uint64_t id = 1;

	printf("ready %d\n", getpid());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		long n = atol(line);
		double t0, t1, t2;

		if (!strncmp(line, "series ", 7) || !strncmp(line, "agents ", 7) ||
		    !strncmp(line, "leak ", 5)) {
			char name[32];

			for (long i = 0, k = atol(strchr(line, ' ')); i < k; i++, id++) {
				snprintf(name, sizeof(name), "%c_%07ld", line[0], i);
				if (line[0] == 's') {
					aet_probe_event(name);
				} else {
					aet_probe_task_begin(id, name, "generation");
					if (line[0] == 'a')
						aet_probe_task_end(id, AET_STATUS_SUCCESS);
				}
			}
			puts("done");
			fflush(stdout);
			continue;
		}
		t0 = now_ns();
		for (long i = 0; i < n; i++, id++) {
			aet_probe_task_begin(id, "coder", "generation");
			aet_probe_task_end(id, AET_STATUS_SUCCESS);
		}
		t1 = now_ns();
		for (long i = 0; i < n; i++)
			aet_probe_event("task_completed");
		t2 = now_ns();
		printf("pair %.1f event %.1f\n", (t1 - t0) / n, (t2 - t1) / n);
		fflush(stdout);
	}
	return 0;
}
