// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The reproducer of bpf/own_stack.bpf.h, on its own (no collector):
 *
 *   privstack THREADS CALLS [TAIL_CALL]
 *
 * THREADS threads call probed(value) CALLS times each, every thread its own
 * value; a uprobe program keeps the value in its stack and checks, at its
 * end, that the stack still holds it. Prints the hits and how many found
 * their stack overwritten by another thread's run of the program. With
 * TAIL_CALL 1 the program also makes a tail call (which does nothing).
 * PRIVSTACK_DUMP=FILE writes the JITed program there (objdump -D -b binary
 * -mi386:x86-64 FILE: a private stack is the %gs-relative %r9 of its
 * prologue). Built by tests/kernels/privstack/build.sh; run in a guest:
 *
 *   sh scripts/kernels/boot.sh KERNEL_DIR "cd $PWD && build/privstack/privstack 2 3000 0"
 *
 * Linux 7.3 (lazy preemption), one vCPU: about 15% of the 6000 runs find
 * their stack overwritten, none with TAIL_CALL 1 or one thread; 6.12: none.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "privstack.skel.h"

__attribute__((noinline)) void probed(unsigned long v)
{
	asm volatile("" ::"r"(v) : "memory");
}

static long calls;

static void *run(void *arg)
{
	for (long i = 0; i < calls; i++)
		probed((unsigned long)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	int nthreads = argc > 1 ? atoi(argv[1]) : 2;
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = "probed");
	struct privstack_bpf *s;
	struct bpf_program *prog;
	struct bpf_link *link;
	int tail_call;
	pthread_t t[64];

	calls = argc > 2 ? atol(argv[2]) : 20000;
	s = privstack_bpf__open();
	if (!s)
		return 1;
	tail_call = argc > 3 && atoi(argv[3]);
	prog = tail_call ? s->progs.hit_tc : s->progs.hit;
	bpf_program__set_autoload(tail_call ? s->progs.hit : s->progs.hit_tc, false);
	if (privstack_bpf__load(s))
		return 1;
	link = bpf_program__attach_uprobe_opts(prog, 0, "/proc/self/exe", 0, &o);
	if (!link) {
		perror("attach");
		return 1;
	}
	if (getenv("PRIVSTACK_DUMP")) { /* the JITed prologue, to see which stack it uses */
		static unsigned char img[65536];
		struct bpf_prog_info info = { .jited_prog_len = sizeof(img),
					      .jited_prog_insns = (unsigned long)img };
		__u32 len = sizeof(info);
		FILE *f;

		if (!bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) &&
		    (f = fopen(getenv("PRIVSTACK_DUMP"), "w"))) {
			fwrite(img, 1, info.jited_prog_len, f);
			fclose(f);
		}
	}
	for (long i = 0; i < nthreads && i < 64; i++)
		pthread_create(&t[i], NULL, run, (void *)(0x1000 + i));
	for (int i = 0; i < nthreads && i < 64; i++)
		pthread_join(t[i], NULL);
	printf("privstack: tail_call=%d threads=%d hits=%llu clobbered=%llu (last: stack had "
	       "%#llx, registers %#llx)\n",
	       tail_call, nthreads, (unsigned long long)s->bss->hits,
	       (unsigned long long)s->bss->clobbered, (unsigned long long)s->bss->last_seen,
	       (unsigned long long)s->bss->last_want);
	bpf_link__destroy(link);
	privstack_bpf__destroy(s);
	return 0;
}
