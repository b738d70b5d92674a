// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mapdump.h"
#include "series.h"

/* A read that missed an index is tried again this much later at the
 * earliest: an insert that lost its race never comes, and a map of 10k
 * label sets takes milliseconds to read. */
#define RETRY_NS (10 * NSEC_PER_MSEC)

static void on_series(const void *key, const void *value, void *ctx)
{
	const __u32 *idx = value;
	struct series_set *set = ctx;

	if (*idx >= set->n) {
		set->err = -ERANGE;
		return;
	}
	memcpy(&set->labels[*idx], key, sizeof(struct labels2));
	set->found += !set->used[*idx];
	set->used[*idx] = true;
}

int series_read(int fd, size_t n, struct series_set *set)
{
	long rc;

	memset(set, 0, sizeof(*set));
	set->n = n;
	set->labels = calloc(set->n, sizeof(*set->labels));
	set->used = calloc(set->n, sizeof(*set->used));
	if (!set->labels || !set->used)
		return set->err = -ENOMEM;
	rc = map_dump(fd, sizeof(struct labels2), sizeof(__u32), on_series, set);
	if (rc < 0)
		set->err = (int)rc;
	return set->err;
}

void series_set_free(struct series_set *set)
{
	free(set->labels);
	free(set->used);
	memset(set, 0, sizeof(*set));
}

void series_init(struct series *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->read_lock, NULL);
	s->fd = -1;
}

/* Drops a reference to set; the last one frees it. */
void series_put(struct series *s, const struct series_set *set)
{
	struct series_set *mine = (struct series_set *)set;
	bool last;

	if (!mine || mine == &s->empty)
		return;
	pthread_mutex_lock(&s->lock);
	last = !--mine->refs;
	pthread_mutex_unlock(&s->lock);
	if (last) {
		series_set_free(mine);
		free(mine);
	}
}

/* Makes set the newest copy, the reference it holds the struct's own. */
static void replace(struct series *s, struct series_set *set)
{
	struct series_set *old;

	pthread_mutex_lock(&s->lock);
	old = s->set;
	s->set = set;
	pthread_mutex_unlock(&s->lock);
	series_put(s, old);
}

int series_bind(struct series *s, int fd, size_t n, const __u64 *next, __u64 max)
{
	int ours = dup(fd);

	if (ours < 0)
		return -errno;
	pthread_mutex_lock(&s->read_lock);
	if (s->fd >= 0)
		close(s->fd);
	replace(s, NULL);
	s->fd = ours;
	s->n = n;
	s->next = next;
	s->max = max;
	s->read_ns = 0;
	pthread_mutex_unlock(&s->read_lock);
	return 0;
}

void series_fini(struct series *s)
{
	replace(s, NULL);
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->read_lock);
	pthread_mutex_destroy(&s->lock);
}

/* Whether the copy lacks what the programs have handed out. read_lock held. */
static bool stale(const struct series *s, __u64 next)
{
	/* Indexes 1 .. next - 1 were handed out, those past max not used;
	 * "__overflow__", index 0, is in the map from the start. */
	__u64 want = (next - 1 < s->max ? next - 1 : s->max) + 1;

	if (!s->read_ns || !s->set || next != s->next_read)
		return true;
	return (s->set->err || s->set->found != want) &&
	       clock_ns(CLOCK_MONOTONIC) - s->read_ns >= RETRY_NS;
}

/* Takes a reference to the newest copy. */
static const struct series_set *take(struct series *s)
{
	struct series_set *set;

	pthread_mutex_lock(&s->lock);
	set = s->set;
	if (set)
		set->refs++;
	pthread_mutex_unlock(&s->lock);
	return set ?: &s->empty;
}

const struct series_set *series_get(struct series *s)
{
	struct series_set *set;
	__u64 next;

	pthread_mutex_lock(&s->read_lock);
	if (s->fd < 0)
		goto out; /* not bound: empty */
	next = __atomic_load_n(s->next, __ATOMIC_ACQUIRE);
	if (stale(s, next)) {
		/* Read outside lock: holders of the old copy go on with it. */
		set = malloc(sizeof(*set));
		if (!set)
			goto out; /* the old copy, if any, for now */
		series_read(s->fd, s->n, set);
		set->refs = 1;
		replace(s, set);
		s->next_read = next;
		s->read_ns = clock_ns(CLOCK_MONOTONIC);
	}
out:
	set = (struct series_set *)take(s);
	pthread_mutex_unlock(&s->read_lock);
	return set;
}

void series_labels(struct series *s, __u32 idx, struct labels2 *out)
{
	const struct series_set *set;
	bool found = false;

	/* An index once read keeps its labels: no read while the copy has it,
	 * and no wait behind a scrape reading the map for another. */
	pthread_mutex_lock(&s->lock);
	if (s->set && idx < s->set->n && s->set->used[idx]) {
		*out = s->set->labels[idx];
		found = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (found)
		return;
	set = series_get(s);
	if (idx < set->n && set->used[idx])
		*out = set->labels[idx];
	else
		memset(out, 0, sizeof(*out));
	series_put(s, set);
}
