/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The compat build's locks (bpf/compat.bpf.h), shared with user space
 * (user/variant.c): keys of the aet_locks hash, one per word of memory
 * that BPF programs and user space change together.
 */
#ifndef AET_LOCKS_H
#define AET_LOCKS_H

#define LOCKS_MAX	 4096 /* locks held at once: a few per CPU */
#define LOCK_TRIES	 8    /* a holder lets go within a few instructions */
#define COMPAT_THREADS	 8192 /* threads with state at once (LRU beyond) */
#define COMPAT_ZERO_SIZE 1024 /* at least the largest per-thread state */

#define LOCK_SLOT(idx)	 (idx)		    /* open_slots[idx].state */
#define LOCK_TARGETS(w)	 (1U << 30 | (w))   /* word w of the targets bitmap */
#define LOCK_SERIES(fam) (2U << 30 | (fam)) /* next_series[fam] */
#define LOCK_BUSY_COUNT	 (3U << 30)	    /* not a lock: locks not had, counted */

#endif /* AET_LOCKS_H */
