/* SPDX-License-Identifier: MIT */
/* Reads every entry of a BPF map, in batches where the kernel allows. */
#ifndef AET_MAPDUMP_H
#define AET_MAPDUMP_H

#include <stddef.h>
#include <sys/mman.h>

typedef void (*map_entry_fn)(const void *key, const void *value, void *ctx);

/* Calls fn for each entry of the map fd (fn NULL: only counts them).
 * Returns the number of entries or -errno. Entries added or removed meanwhile may or may not be
 * seen. */
long map_dump(int fd, size_t key_size, size_t value_size, map_entry_fn fn, void *ctx);

/* An array map mapped into our memory (BPF_F_MMAPABLE): read in place. */
struct mapped {
	void *mem;
	size_t len;
	size_t stride; /* value size rounded up to 8, as the kernel lays it out */
	size_t n;
};

struct bpf_map;

/* Maps the array map m read-only (prot PROT_READ) or read-write
 * (PROT_READ | PROT_WRITE). Returns 0 or -errno. */
int mapped_open_prot(struct bpf_map *m, struct mapped *out, int prot);
static inline int mapped_open(struct bpf_map *m, struct mapped *out)
{
	return mapped_open_prot(m, out, PROT_READ);
}
void mapped_close(struct mapped *m); /* does nothing for a zeroed one */

static inline const void *mapped_at(const struct mapped *m, size_t i)
{
	return (const char *)m->mem + i * m->stride;
}

/* The mapped values as a C array of at least n of size bytes each, or NULL
 * when the kernel's layout is not that (a size not a multiple of 8). */
static inline const void *mapped_array(const struct mapped *m, size_t size, size_t n)
{
	return m->stride == size && m->n >= n ? m->mem : NULL;
}

#endif /* AET_MAPDUMP_H */
