// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mapdump.h"

/* Entries per batch: a hash map's batch fails with ENOSPC when a bucket
 * holds more entries than this, which does not happen at this size. */
#define BATCH 512

/* One syscall per entry pair (next key, lookup): the fallback for kernels
 * or map types without batch operations. */
static long dump_by_key(int fd, size_t ksz, size_t vsz, map_entry_fn fn, void *ctx)
{
	char *key = calloc(2, ksz), *next = key + ksz, *val = malloc(vsz);
	void *prev = NULL;
	long n = 0;

	if (!key || !val) {
		free(key);
		free(val);
		return -ENOMEM;
	}
	while (!bpf_map_get_next_key(fd, prev, next)) {
		if (!bpf_map_lookup_elem(fd, next, val)) {
			if (fn)
				fn(next, val, ctx);
			n++;
		}
		memcpy(key, next, ksz);
		prev = key;
	}
	free(key);
	free(val);
	return n;
}

long map_dump(int fd, size_t ksz, size_t vsz, map_entry_fn fn, void *ctx)
{
	char *keys = malloc(BATCH * ksz), *vals = malloc(BATCH * vsz);
	__u64 batch_in = 0, batch_out = 0; /* opaque cursors, large enough for a hash map */
	bool first = true;
	long n = 0;
	int err;

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (;;) {
		__u32 count = BATCH;

		err = bpf_map_lookup_batch(fd, first ? NULL : &batch_in, &batch_out, keys, vals,
					   &count, NULL);
		if (err && errno != ENOENT)
			break;
		for (__u32 i = 0; fn && i < count; i++)
			fn(keys + i * ksz, vals + i * vsz, ctx);
		n += count;
		if (err) /* ENOENT: that was the last batch */
			break;
		batch_in = batch_out;
		first = false;
	}
	free(keys);
	free(vals);
	if (err && errno != ENOENT) {
		err = -errno;
		if (first && (err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP))
			return dump_by_key(fd, ksz, vsz, fn, ctx);
		return err;
	}
	return n;
}

int mapped_open_prot(struct bpf_map *m, struct mapped *out, int prot)
{
	long page = sysconf(_SC_PAGESIZE);

	out->stride = (bpf_map__value_size(m) + 7) & ~7UL;
	out->n = bpf_map__max_entries(m);
	out->len = (out->stride * out->n + page - 1) & ~(page - 1);
	out->mem = mmap(NULL, out->len, prot, MAP_SHARED, bpf_map__fd(m), 0);
	if (out->mem == MAP_FAILED) {
		out->mem = NULL;
		return -errno;
	}
	return 0;
}

void mapped_close(struct mapped *m)
{
	if (m->mem)
		munmap(m->mem, m->len);
	m->mem = NULL;
}
