/* SPDX-License-Identifier: MIT */
/* Opening the target and loading the probe families: what the collector's
 * start (user/main.c) and --check (user/check.c) share. Each function
 * returns 0 or -errno with err naming the cause and the fix. */
#ifndef AET_START_H
#define AET_START_H

#include <stddef.h>
#include <stdint.h>

#include "collector.h"
#include "privs.h"

/* The kernel's BTF (or --btf) can be read. */
int check_btf(const struct config *cfg, char *err, size_t len);

/* Each --file-root exists and is a directory: a typo would count nothing. */
int check_file_roots(const struct config *cfg, char *err, size_t len);

/* Fails with err naming what the collector lacks for fam (family bits,
 * PRIV_CORE, PRIV_SERVE) on this host, and the fix. */
int check_privs(const struct priv_facts *pf, uint32_t fam, const char *name, char *err, size_t len);

/* The target (--pid) or what follow mode follows (neither: --check without
 * a target); the span programs and the maps every family shares. */
int open_target(struct collector *c, struct priv_facts *pf, char *err, size_t len);

/* Opens the families one after another, each attached when the switch is
 * on (collector_attach()); each that fails, or lacks a capability, is fatal
 * only when required, else c->why says why. */
int load_families(struct collector *c, const struct priv_facts *pf, char *err, size_t len);

#endif /* AET_START_H */
