// SPDX-License-Identifier: MIT
/*
 * bench-span-drain: how many spans a second the collector's consumer
 * drains from the ring buffer and encodes to OTLP protobuf on one core,
 * with the daemon's own code (user/spanconv.c, user/otlp.c).
 *
 * A BPF program (bench/span_gen.bpf.c), run with BPF_PROG_TEST_RUN on CPU
 * 0, fills the ring to about three quarters; the consumer, pinned to CPU 1,
 * then drains it: converting each record and appending it to a batch,
 * sealed every BATCH spans, as user/spans.c does. Only the drain is timed,
 * and the ring never overflows (the producer's drop counter says so). The
 * sealed requests are then gzip-compressed (buf_gzip(), what the exporter
 * uses) and timed apart: the exporter does that on its own thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/types.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "buf.h"
#include "otlp.h"
#include "spans_maps.h"
#include "spanconv.h"
#include "span_gen.skel.h"

#define BATCH	 512
#define ROUNDS	 40
#define KEEP_REQ 64 /* sealed requests kept for the gzip measurement */

struct drain {
	struct otlp otlp;
	struct otlp_batch batch;
	struct span_conv conv;
	struct buf reqs[KEEP_REQ];
	size_t nreqs, bytes, spans, bad;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void seal(struct drain *d)
{
	const uint8_t *body;
	uint8_t *alloc;
	size_t len;

	if (!d->batch.nspans || otlp_batch_seal(&d->otlp, &d->batch, &alloc, &body, &len))
		return;
	d->bytes += len;
	if (d->nreqs < KEEP_REQ) {
		buf_init(&d->reqs[d->nreqs]);
		buf_append(&d->reqs[d->nreqs++], body, len);
	}
	free(alloc);
}

static int on_record(void *ctx, void *data, size_t size)
{
	/* the label sets of task and agent series, as user/spans.c caches them */
	static const char *const labels[4][2] = { { "coder", "generation" },
						  { "planner", "plan" },
						  { "reviewer", "review" },
						  { "coder", "write_code" } };
	const struct span_record *r = data;
	struct drain *d = ctx;

	if (size >= sizeof(*r)) {
		d->conv.labels[0] = labels[r->op & 3][0];
		d->conv.labels[1] = labels[r->op & 3][1];
	}
	if (span_convert(&d->conv, data, size, 1700000000000000000LL)) {
		d->bad++;
		return 0;
	}
	otlp_append_span(&d->otlp, &d->batch, &d->conv.span);
	d->spans++;
	if (d->batch.nspans >= BATCH)
		seal(d);
	return 0;
}

static void gzip_rate(struct drain *d)
{
	size_t in = 0, out = 0, spans = 0;
	struct buf gz;
	double t0, t;

	buf_init(&gz);
	t0 = now();
	for (int r = 0; r < 10; r++)
		for (size_t i = 0; i < d->nreqs; i++) {
			buf_gzip(&d->reqs[i], &gz);
			in += d->reqs[i].len;
			out += gz.len;
			spans += BATCH;
		}
	t = now() - t0;
	printf("  %-28s %10.0f   (%.0f MB/s in, %.1fx smaller)\n", "gzip, spans/s", spans / t,
	       in / t / 1e6, (double)in / out);
	buf_free(&gz);
}

int main(void)
{
	static const struct otlp_attr res[] = {
		{ .key = "service.name", .type = OTLP_STR, .s = "aet", .slen = 3 },
	};
	LIBBPF_OPTS(bpf_test_run_opts, run, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = 0);
	struct span_gen_bpf *skel = span_gen_bpf__open_and_load();
	struct drain d = {};
	struct ring_buffer *rb;
	double busy = 0;
	__u64 dropped;
	size_t fill;
	int fd;

	if (!skel || otlp_init(&d.otlp, res, 1, "aet-collector", "bench")) {
		fprintf(stderr, "bench-span-drain: cannot load the producer: %s\n",
			strerror(errno));
		return 1;
	}
	otlp_batch_init(&d.otlp, &d.batch);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.span_ring), on_record, &d, NULL);
	fd = bpf_program__fd(skel->progs.gen);
	/* records average about 280 bytes with their headers: 3/4 of the ring */
	fill = bpf_map__max_entries(skel->maps.span_ring) * 3 / 4 / 280 / 256;
	pin(1);
	for (int r = 0; r < ROUNDS; r++) {
		double t0;

		for (size_t i = 0; i < fill; i++)
			bpf_prog_test_run_opts(fd, &run);
		t0 = now();
		ring_buffer__consume(rb);
		seal(&d);
		busy += now() - t0;
	}
	printf("span drain and OTLP encoding, one core (%zu spans in %d rounds)\n", d.spans,
	       ROUNDS);
	printf("  %-28s %10.0f   (goal >= 1000000; %zu bytes of protobuf a span)\n",
	       "drained and encoded, spans/s", d.spans / busy, d.bytes / (d.spans ?: 1));
	printf("  %-28s %10llu   (records emitted %llu, malformed %zu)\n", "ring buffer drops",
	       (unsigned long long)skel->bss->dropped, (unsigned long long)skel->bss->emitted,
	       d.bad);
	gzip_rate(&d);
	dropped = skel->bss->dropped;
	for (size_t i = 0; i < d.nreqs; i++)
		buf_free(&d.reqs[i]);
	otlp_batch_free(&d.batch);
	otlp_fini(&d.otlp);
	ring_buffer__free(rb);
	span_gen_bpf__destroy(skel);
	return dropped != 0; /* never: the ring is drained before it fills */
}
