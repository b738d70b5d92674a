/* SPDX-License-Identifier: MIT */
/*
 * A probe family: BPF programs loaded, attached and detached together,
 * that fail alone (unless --require names them), with their own metrics
 * and /status member. Each is a struct family_ops in the table families[]
 * (user/families.c), indexed by enum probe_family; the collector iterates
 * it. A new family is a bpf/NAME.bpf.c, a user/NAME.{c,h} that defines
 * NAME_family, and its line in the table (with its name and its rows in
 * the privileges table, user/privs.c).
 */
#ifndef AET_FAMILY_H
#define AET_FAMILY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "shared.h"
#include "target.h"

struct bpf_object;
struct bpf_object_skeleton;

/* What a family is opened and attached with. */
struct family_env {
	const struct config *cfg;
	struct shared *shared;
	const struct target *target; /* pid 0: no target (yet) */
	const char *lib_path;	     /* the probe library the uprobes go on, or NULL */
};

struct family_ops {
	/* Opens, sizes and loads the programs; attaches none. NULL with err
	 * naming the cause and *errp = -errno (-ENOENT: not here yet, e.g.
	 * no libsqlite3 in the target). */
	void *(*open)(const struct family_env *env, int *errp, char *err, size_t len);
	/* Attaches every program. Returns 0 or -errno with err. */
	int (*attach)(void *f, const struct family_env *env, char *err, size_t len);
	void (*detach)(void *f);
	/* Follow mode, for a family on the target's own libraries (NULL:
	 * none): moves it to env->target, attached when attach. Returns 0 or
	 * -errno with err (-ENOENT: not there yet; tried again each tick). */
	int (*retarget)(void *f, const struct family_env *env, bool attach, char *err, size_t len);
	/* Programs (0 for NULL), and how many are attached. */
	int (*count)(const void *f);
	int (*attached)(const void *f);
	/* Appends its metric families (may be NULL: it has none). */
	int (*write_metrics)(void *f, struct buf *out);
	/* Appends its JSON member(s) of /status; f NULL: it is not loaded,
	 * why says why. */
	void (*write_status)(void *f, const char *why, struct buf *out);
	/* Starts the family's own threads (NULL: it has none): once the
	 * collector has dropped its capabilities, as a thread keeps the ones
	 * it was made with; for a family opened later (follow mode), when it
	 * is. Returns 0 or -errno with err. */
	int (*start)(void *f, char *err, size_t len);
	void (*free)(void *f); /* detaches; NULL-safe */
	/* Its BPF object, whose maps /status lists (NULL for NULL). */
	struct bpf_object *(*object)(const void *f);
};

extern const struct family_ops *const families[PFAM_MAX]; /* user/families.c */

/* Shared by the families' loaders. */

/* Makes skeleton s use the shared maps and loads it; err names the cause,
 * what says what failed ("the file programs"). Returns 0 or -errno. */
int family_load(struct bpf_object_skeleton *s, const struct shared *sh, const char *what, char *err,
		size_t len);
/* Programs of s that load (autoload), and those with a link. */
int skel_loaded(const struct bpf_object_skeleton *s);
int skel_attached(const struct bpf_object_skeleton *s);

#endif /* AET_FAMILY_H */
