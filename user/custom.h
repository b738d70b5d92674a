/* SPDX-License-Identifier: MIT */
/*
 * The uprobes on the custom metric functions of probe ABI version 2
 * (bpf/custom.bpf.c): the custom family. It is attached to the probe
 * library at env->lib_path, as the probes family is, and counts the
 * processes marked in the shared targets map.
 */
#ifndef AET_CUSTOM_H
#define AET_CUSTOM_H

#include "family.h"

extern const struct family_ops custom_family;

#endif /* AET_CUSTOM_H */
