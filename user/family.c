// SPDX-License-Identifier: MIT
/* What the families' loaders share. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "family.h"
#include "privs.h"

/* The object's bytes, in the binary's read-only data: loading read them
 * (a megabyte for the file programs' BTF), and nothing reads them again
 * but a reload. Their pages leave the RSS; a reload faults them back in. */
static void drop_object_bytes(const struct bpf_object_skeleton *s)
{
	uintptr_t page = sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)s->data + page - 1) & ~(page - 1);
	uintptr_t hi = ((uintptr_t)s->data + s->data_sz) & ~(page - 1);

	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

int family_load(struct bpf_object_skeleton *s, const struct shared *sh, const char *what, char *err,
		size_t len)
{
	int rc = shared__reuse(sh, *s->obj, err, len);

	if (rc)
		return rc;
	rc = bpf_object__load_skeleton(s);
	if (!rc)
		drop_object_bytes(s);
	if (rc == -EPERM)
		snprintf(err, len, "not allowed to load %s (%s): " PRIVS_FIX, what, strerror(-rc));
	else if (rc == -EACCES)
		snprintf(err, len,
			 "this kernel's verifier rejected %s (--log-level debug shows why)", what);
	else if (rc)
		snprintf(err, len, "failed to load %s: %s (--log-level debug shows why)", what,
			 strerror(-rc));
	return rc;
}

int skel_loaded(const struct bpf_object_skeleton *s)
{
	int n = 0;

	for (int i = 0; s && i < s->prog_cnt; i++)
		n += bpf_program__autoload(*s->progs[i].prog);
	return n;
}

int skel_attached(const struct bpf_object_skeleton *s)
{
	int n = 0;

	for (int i = 0; s && i < s->prog_cnt; i++)
		n += *s->progs[i].link != NULL;
	return n;
}
