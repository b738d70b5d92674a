/* SPDX-License-Identifier: MIT */
/*
 * The build of the BPF objects this kernel takes: native, or compat for
 * kernels from 5.8 to 5.11 (bpf/compat.bpf.h). Both open through the
 * native skeletons; compat takes locks where the native build has atomics,
 * and user space takes them too where it writes what the programs write.
 */
#ifndef AET_VARIANT_H
#define AET_VARIANT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include <bpf/libbpf.h>
#include <linux/types.h>

#include "buf.h"
#include "config.h"

/* Picks the build (--bpf-build) by asking the kernel what it has: 0, or
 * -EOPNOTSUPP with err saying what it lacks. */
int variant_choose(enum bpf_build want, char *err, size_t len);
bool variant_compat(void);
/* What decided the build, once chosen. */
const char *variant_decided_by(void);

/* Opens skeleton s with the chosen build's object. */
int variant_open(struct bpf_object_skeleton *s, const struct bpf_object_open_opts *opts);

/* NAME__open_opts(opts), with the chosen build: NULL with errno set on
 * failure. */
#define VARIANT_OPEN(NAME, opts)                                     \
	({                                                           \
		struct NAME *o_ = calloc(1, sizeof(*o_));            \
		int e_ = o_ ? NAME##__create_skeleton(o_) : -ENOMEM; \
		if (!e_)                                             \
			e_ = variant_open(o_->skeleton, opts);       \
		if (e_) {                                            \
			if (o_)                                      \
				NAME##__destroy(o_);                 \
			o_ = NULL;                                   \
			errno = -e_;                                 \
		}                                                    \
		o_;                                                  \
	})

/* Lock key (include/locks.h) of the aet_locks map locks_fd, held only
 * across a few stores; nothing to do in the native build. */
bool variant_lock(int locks_fd, __u32 key);
void variant_unlock(int locks_fd, __u32 key);

/* "bpf_build":{...} of /status. */
void variant_write_status(int locks_fd, struct buf *out);

#endif /* AET_VARIANT_H */
