/* SPDX-License-Identifier: MIT */
/*
 * The label sets the probe programs give series indexes to (tasks, agent
 * requests, events: enum series_kind), as one copy in user space that the
 * scrape and the span consumer both read. It is read from the series map
 * again only when the programs have handed out an index since the last
 * read, or when that read missed one (an insert still under way).
 */
#ifndef AET_SERIES_H
#define AET_SERIES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>

#include "probes_maps.h"

/* The label sets of one kind, by series index. */
struct series_set {
	struct labels2 *labels; /* unused ones zeroed */
	bool *used;
	size_t n;
	size_t found; /* entries used */
	int err;
	int refs; /* holders of a copy of struct series: the copy's and each series_get()'s */
};

/*
 * Each read makes a new copy: a scrape renders from the copy it got while
 * the span consumer (or another scrape) takes a newer one; the last holder
 * frees it. lock is held only to take or drop a reference, never over a
 * read or a render; read_lock makes one read at a time.
 */
struct series {
	pthread_mutex_t lock;	   /* guards set and its refs */
	pthread_mutex_t read_lock; /* held over a read of the map, and what follows */
	struct series_set *set;	   /* the newest copy, never NULL once initialized */
	int fd;			   /* the series map (ours: dup'd), -1 until bound */
	size_t n;		   /* its entries */
	const __u64 *next;	   /* the programs' next index to hand out */
	__u64 max;		   /* --max-series: indexes past it are not used */
	__u64 next_read;	   /* *next at the last read */
	__u64 read_ns;		   /* CLOCK_MONOTONIC of the last read */
	struct series_set empty;   /* what series_get() gives before a read */
};

void series_init(struct series *s);
/* Reads the series map fd of n entries from now on; next points at the
 * programs' counter (it must outlive every read). Returns 0 or -errno. */
int series_bind(struct series *s, int fd, size_t n, const __u64 *next, __u64 max);
void series_fini(struct series *s);

/* The label sets, read again if needed: a copy no one changes, held until
 * series_put() (an empty one before the first read). */
const struct series_set *series_get(struct series *s);
void series_put(struct series *s, const struct series_set *set);
/* Copies the labels of index idx to out ("" and "" when unknown). */
void series_labels(struct series *s, __u32 idx, struct labels2 *out);

/* Reads every entry of the series map fd (n at most) into set. Returns 0
 * or -errno (also in set->err). */
int series_read(int fd, size_t n, struct series_set *set);
void series_set_free(struct series_set *set); /* and zeroes it */

#endif /* AET_SERIES_H */
