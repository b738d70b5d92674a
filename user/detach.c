// SPDX-License-Identifier: MIT
#include <pthread.h>
#include <stddef.h>

#include <bpf/libbpf.h>

#include "detach.h"

#define MAX_THREADS 64

static void *detach_one(void *link)
{
	bpf_link__destroy(*(struct bpf_link **)link);
	*(struct bpf_link **)link = NULL;
	return NULL;
}

/*
 * Detaching a uprobe or a syscall tracepoint waits for a grace period
 * (about 100 ms each here, measured with strace -T on close()): one after
 * another, the 48 links of the collector held SIGTERM for 3.7 s. In parallel
 * the waits overlap where the kernel lets them: 2.3 s.
 */
void skel_detach(struct bpf_object_skeleton *s)
{
	pthread_t threads[MAX_THREADS];
	int n = 0;

	for (int i = 0; i < s->prog_cnt; i++) {
		if (!s->progs[i].link || !*s->progs[i].link)
			continue;
		if (n == MAX_THREADS ||
		    pthread_create(&threads[n], NULL, detach_one, s->progs[i].link))
			detach_one(s->progs[i].link);
		else
			n++;
	}
	while (n--)
		pthread_join(threads[n], NULL);
}
