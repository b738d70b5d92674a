/* SPDX-License-Identifier: MIT */
/* Readers of /proc. The parse functions are pure and unit-tested. */
#ifndef AET_PROCFS_H
#define AET_PROCFS_H

#include <stddef.h>
#include <stdint.h>

struct proc_stat {
	uint64_t utime;	    /* clock ticks */
	uint64_t stime;	    /* clock ticks */
	uint64_t starttime; /* clock ticks after boot */
	uint64_t vsize;	    /* bytes */
	int64_t rss;	    /* pages */
	int64_t num_threads;
	int pid;
	int ppid;
	char state;
	char comm[17]; /* the name between the parentheses, cut at 16 bytes */
};

/* Parses the text of /proc/PID/stat. comm may hold spaces and ')'. Returns 0
 * or -EINVAL. */
int procfs_parse_stat(const char *text, struct proc_stat *st);

/* Reads and parses /proc/PID/stat (pid 0 = self). Returns 0, -ENOENT when
 * the process does not exist, or another -errno. */
int procfs_read_stat(int pid, struct proc_stat *st);

/* procfs_read_stat() of a process still running: -ESRCH for a zombie
 * (it has exited; only its parent has not looked yet). */
int procfs_read_running(int pid, struct proc_stat *st);

/*
 * Finds in the text of /proc/PID/maps the first mapping whose file name
 * (the last path component) is `name` or starts with `name` followed by '.'
 * (libaetprobe.so matches libaetprobe.so and libaetprobe.so.1). Copies its
 * path into path (at most len bytes, NUL-terminated). Paths in maps may hold
 * spaces; a " (deleted)" suffix is kept. Returns 0, -ENOENT when none
 * matches, or -ENAMETOOLONG.
 */
int procfs_find_mapping(const char *maps, const char *name, char *path, size_t len);

/* The addresses [*lo, *hi) the mappings of that file (matched by name as
 * above) span. Returns 0 or -ENOENT. */
int procfs_mapping_range(const char *maps, const char *name, uint64_t *lo, uint64_t *hi);

/* What /proc/PID/status says of a process's credentials. */
struct proc_creds {
	uint32_t uid[4];  /* real, effective, saved, filesystem */
	uint32_t gid[4];  /* the same */
	uint64_t cap_prm; /* permitted capabilities, a bit per CAP_... */
	uint64_t cap_eff; /* effective */
};

/* Parses the text of /proc/PID/status: its Uid, Gid, CapPrm and CapEff
 * lines. Returns 0 or -EINVAL when one is missing or malformed. */
int procfs_parse_creds(const char *text, struct proc_creds *c);

/* Reads and parses /proc/PID/status (pid 0 = self). Returns 0 or -errno. */
int procfs_read_creds(int pid, struct proc_creds *c);

/* Reads the whole small file path into buf (NUL-terminated). Returns the
 * number of bytes read or -errno. -EFBIG when it does not fit. */
long procfs_read_file(const char *path, char *buf, size_t len);

/* Reads /proc/PID/maps whole into *maps (malloc'd, NUL-terminated; the
 * caller frees it, also on error). Returns its length or -errno. */
long procfs_read_maps(int pid, char **maps);

/* Calls fn(pid, ctx) for each running process descending from pid (its
 * children, theirs, ...), from one scan of /proc. Returns how many, or
 * -errno when /proc cannot be read. */
int procfs_descendants(int pid, void (*fn)(int pid, void *ctx), void *ctx);

#endif /* AET_PROCFS_H */
