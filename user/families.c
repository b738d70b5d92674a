// SPDX-License-Identifier: MIT
/* The table of probe families: a new family is one line here. */
#include "custom.h"
#include "family.h"
#include "files.h"
#include "http_client.h"
#include "probes.h"
#include "procs.h"
#include "python.h"
#include "sqlite.h"

/* Indexed by enum probe_family: opened, attached and written in this order. */
const struct family_ops *const families[PFAM_MAX] = {
	[PFAM_PROBES] = &probes_family, [PFAM_PROCESSES] = &procs_family,
	[PFAM_FILES] = &files_family,	[PFAM_SQLITE] = &sqlite_family,
	[PFAM_HTTP] = &http_family,	[PFAM_PYTHON] = &python_family,
	[PFAM_CUSTOM] = &custom_family,
};
