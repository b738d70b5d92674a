// SPDX-License-Identifier: MIT
/*
 * bench-probe-hit: calls the probe functions in a loop and prints the cost
 * of one call. It prints "ready PID", then for each line "N" on stdin runs
 * N iterations and prints "pair NS event NS counter NS observe NS declared
 * NS": the nanoseconds of one task_begin + task_end pair, of one event
 * call, of one counter_add and of one observe (probe ABI version 2) of a
 * histogram with the default buckets, then of one whose name declared five
 * (declared again before each run, so that a collector attached since has
 * seen it), its value past them all. A line "series N" sends
 * N distinct event types, once each (N series of aet_events_total), and
 * prints "done"; "agents N" N tasks begun and ended by N distinct agents;
 * "leak N" N tasks begun and never ended; "threads T N" N tasks begun and
 * ended on each of T threads at once, thread t's by agent "thread_t".
 */
#include <pthread.h>
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

struct worker {
	pthread_t thread;
	uint64_t first;
	long n;
	char agent[16];
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < w->n; i++) {
		aet_probe_task_begin(w->first + i, w->agent, "generation");
		aet_probe_task_end(w->first + i, AET_STATUS_SUCCESS);
	}
	return NULL;
}

/* T threads at once, N tasks each, ids from *id on. */
static void threads(const char *args, uint64_t *id)
{
	struct worker w[16];
	long t = 0, n = 0;

	sscanf(args, "%ld %ld", &t, &n);
	if (t > 16)
		t = 16;
	for (long i = 0; i < t; i++) {
		w[i].first = *id;
		w[i].n = n;
		*id += n;
		snprintf(w[i].agent, sizeof(w[i].agent), "thread_%ld", i);
		pthread_create(&w[i].thread, NULL, work, &w[i]);
	}
	for (long i = 0; i < t; i++)
		pthread_join(w[i].thread, NULL);
}

int main(void)
{
	static const double declared[] = { 0.005, 0.1, 0.5, 1, 2.5 };
	char line[32];
	uint64_t id = 1;

	printf("ready %d\n", getpid());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		long n = atol(line);
		double t0, t1, t2, t3, t4, t5;

		if (!strncmp(line, "threads ", 8)) {
			threads(line + 8, &id);
			puts("done");
			fflush(stdout);
			continue;
		}
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
		for (long i = 0; i < n; i++)
			aet_probe_counter_add("tokens_used", "agent=coder", 812);
		t3 = now_ns();
		for (long i = 0; i < n; i++)
			aet_probe_observe("tokens_per_request", "operation=plan", 812000);
		t4 = now_ns();
		aet_probe_histogram_buckets("reply_seconds", declared, 5);
		for (long i = 0; i < n; i++)
			aet_probe_observe("reply_seconds", "agent=coder", 3000000);
		t5 = now_ns();
		printf("pair %.1f event %.1f counter %.1f observe %.1f declared %.1f\n",
		       (t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n, (t4 - t3) / n, (t5 - t4) / n);
		fflush(stdout);
	}
	return 0;
}
