/* SPDX-License-Identifier: MIT */
/* Reads every entry of a BPF map, in batches where the kernel allows. */
#ifndef AET_MAPDUMP_H
#define AET_MAPDUMP_H

#include <stddef.h>

typedef void (*map_entry_fn)(const void *key, const void *value, void *ctx);

/* Calls fn for each entry of the map fd. Returns the number of entries or
 * -errno. Entries added or removed meanwhile may or may not be seen. */
long map_dump(int fd, size_t key_size, size_t value_size, map_entry_fn fn, void *ctx);

#endif /* AET_MAPDUMP_H */
