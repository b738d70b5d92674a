/* SPDX-License-Identifier: MIT */
/* aet-collector --check: what would work on this host and why, nothing
 * attached (user/check.c). */
#ifndef AET_CHECK_H
#define AET_CHECK_H

#include "config.h"

/* Writes the report to stdout, a table or with cfg->json one JSON object.
 * Returns the exit status: 0 when every required family would attach,
 * else 1. */
int check_run(const struct config *cfg);

#endif /* AET_CHECK_H */
