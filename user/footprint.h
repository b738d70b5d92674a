/* SPDX-License-Identifier: MIT */
/*
 * The collector's footprint, for /status: each BPF map it holds (its
 * family, entries, the kernel's bytes for it and what bounds it), their
 * total, and the RSS.
 */
#ifndef AET_FOOTPRINT_H
#define AET_FOOTPRINT_H

#include "buf.h"

struct collector;

/* Appends "footprint":{...}. Called with c->lock held. */
void footprint_write_status(const struct collector *c, struct buf *out);

#endif /* AET_FOOTPRINT_H */
