/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The two builds of every BPF object. The native one needs Linux 5.12: task
 * storage (5.11) and the atomics that return a value or do more than add
 * (5.12, commit 5ffa25502b5a "bpf: Add instructions for atomic_[cmp]xchg").
 * The compat one (-DAET_COMPAT, -mcpu=v2, so that the compiler refuses any
 * such atomic) runs from 5.8, the ring buffer's kernel:
 *
 * - per-thread state is an LRU hash keyed by thread id, not task storage.
 *   The files family's exit program frees a thread's span state; the rest
 *   stays until evicted, and a thread id reused once pid_max wraps finds
 *   it (stale span frames are dropped, being checked against open slots);
 * - a compare and swap, or a fetch and add whose result is used, on memory
 *   other CPUs share, holds a lock while it reads and writes. A lock is a
 *   key of aet_locks: the one insert of it that succeeds takes it (a hash
 *   insert with BPF_NOEXIST is the one atomic test-and-set 5.8 offers);
 *   deleting it lets it go. User space takes the same locks where it writes
 *   that memory (user/variant.c);
 * - per-CPU memory needs no lock: up to 5.11 a uprobe or tracepoint
 *   program runs with preemption disabled, and not within another. Later
 *   kernels may preempt one (migrate_disable()), so there --bpf-build
 *   compat is for testing: a span id may repeat.
 *
 * Both builds have the same maps, programs and globals, in the same order:
 * user space opens either through the native skeleton (the build checks it,
 * Makefile "compat").
 */
#ifndef AET_COMPAT_BPF_H
#define AET_COMPAT_BPF_H

#include "locks.h"

/* Both builds have both maps; the native one, one entry of each, unused.
 * aet_locks is shared by every object, like the span maps. A lock is held
 * for a few instructions, by a program that cannot be preempted. aet_zero
 * holds a zeroed value, the first value of a thread's state. */
#ifdef AET_COMPAT
#define LOCKS_ENTRIES LOCKS_MAX
#define ZERO_SIZE     COMPAT_ZERO_SIZE
#else
#define LOCKS_ENTRIES 1
#define ZERO_SIZE     1
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LOCKS_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} aet_locks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[ZERO_SIZE]);
} aet_zero SEC(".maps");

#ifdef AET_COMPAT

/* Per-thread state of type T: task storage, or an LRU hash by thread id,
 * whose first value is aet_zero's. */
#define THREAD_MAP(name, T)                                                      \
	_Static_assert(sizeof(T) <= COMPAT_ZERO_SIZE, "COMPAT_ZERO_SIZE < " #T); \
	struct {                                                                 \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);                             \
		__uint(max_entries, COMPAT_THREADS);                             \
		__type(key, __u32);                                              \
		__type(value, T);                                                \
	} name SEC(".maps")

static __always_inline void *thread_state(void *map, bool create)
{
	__u32 tid = bpf_get_current_pid_tgid(), zero = 0;
	void *v = bpf_map_lookup_elem(map, &tid), *z;

	if (v || !create)
		return v;
	z = bpf_map_lookup_elem(&aet_zero, &zero);
	if (!z)
		return NULL;
	bpf_map_update_elem(map, &tid, z, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, &tid);
}

/* The thread's state goes with the thread (sched_process_exit). */
static __always_inline void thread_state_free(void *map, __u32 tid)
{
	bpf_map_delete_elem(map, &tid);
}

/* Takes lock key: false, counted, when another CPU held it through every
 * try. */
static __always_inline bool lock_take(__u32 key)
{
	__u32 one = 1, busy = LOCK_BUSY_COUNT, *n;

#pragma unroll
	for (int i = 0; i < LOCK_TRIES; i++)
		if (!bpf_map_update_elem(&aet_locks, &key, &one, BPF_NOEXIST))
			return true;
	n = bpf_map_lookup_elem(&aet_locks, &busy);
	if (!n) {
		bpf_map_update_elem(&aet_locks, &busy, &one, BPF_NOEXIST);
		return false;
	}
	__sync_fetch_and_add(n, 1);
	return false;
}

static __always_inline void lock_give(__u32 key)
{
	bpf_map_delete_elem(&aet_locks, &key);
}

/* Whether *p was old, made new: false too when the lock was not had. */
static __always_inline bool cas32(__u32 *p, __u32 old, __u32 new, __u32 key)
{
	bool ok = false;

	if (!lock_take(key))
		return false;
	if (*(volatile __u32 *)p == old) {
		*(volatile __u32 *)p = new;
		ok = true;
	}
	lock_give(key);
	return ok;
}

/* *p += v, returning the old value; ~0 when the lock was not had. */
static __always_inline __u64 fetch_add64(__u64 *p, __u64 v, __u32 key)
{
	__u64 old;

	if (!lock_take(key))
		return ~0ULL;
	old = *(volatile __u64 *)p;
	*(volatile __u64 *)p = old + v;
	lock_give(key);
	return old;
}

/* *p |= v and *p &= v: false when the lock was not had. */
static __always_inline bool or64(__u64 *p, __u64 v, __u32 key)
{
	if (!lock_take(key))
		return false;
	*(volatile __u64 *)p |= v;
	lock_give(key);
	return true;
}

static __always_inline bool and64(__u64 *p, __u64 v, __u32 key)
{
	if (!lock_take(key))
		return false;
	*(volatile __u64 *)p &= v;
	lock_give(key);
	return true;
}

/* Memory of this CPU alone. */
static __always_inline bool percpu_cas32(__u32 *p, __u32 old, __u32 new)
{
	if (*p != old)
		return false;
	*p = new;
	return true;
}

static __always_inline __u64 percpu_fetch_add64(__u64 *p, __u64 v)
{
	__u64 old = *p;

	*p = old + v;
	return old;
}

#else /* native */

#define THREAD_MAP(name, T)                              \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_TASK_STORAGE); \
		__uint(map_flags, BPF_F_NO_PREALLOC);    \
		__type(key, int);                        \
		__type(value, T);                        \
	} name SEC(".maps")

static __always_inline void *thread_state(void *map, bool create)
{
	return bpf_task_storage_get(map, bpf_get_current_task_btf(), NULL,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* Task storage goes with its task. */
static __always_inline void thread_state_free(void *map, __u32 tid)
{
}

static __always_inline bool cas32(__u32 *p, __u32 old, __u32 new, __u32 key)
{
	return __sync_val_compare_and_swap(p, old, new) == old;
}

static __always_inline __u64 fetch_add64(__u64 *p, __u64 v, __u32 key)
{
	return __sync_fetch_and_add(p, v);
}

static __always_inline bool or64(__u64 *p, __u64 v, __u32 key)
{
	__sync_fetch_and_or(p, v);
	return true;
}

static __always_inline bool and64(__u64 *p, __u64 v, __u32 key)
{
	__sync_fetch_and_and(p, v);
	return true;
}

static __always_inline bool percpu_cas32(__u32 *p, __u32 old, __u32 new)
{
	return __sync_val_compare_and_swap(p, old, new) == old;
}

static __always_inline __u64 percpu_fetch_add64(__u64 *p, __u64 v)
{
	return __sync_fetch_and_add(p, v);
}

#endif /* AET_COMPAT */
#endif /* AET_COMPAT_BPF_H */
