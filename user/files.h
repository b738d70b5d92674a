/* SPDX-License-Identifier: MIT */
/*
 * File operations of the target processes (bpf/files.bpf.c), on syscall
 * tracepoints: opening mounts tracefs when it is not. Metrics
 * aet_file_operations_total, aet_file_operation_seconds,
 * aet_file_bytes_total; /status member "files".
 */
#ifndef AET_FILES_H
#define AET_FILES_H

#include "family.h"

extern const struct family_ops files_family;

#endif /* AET_FILES_H */
