// SPDX-License-Identifier: MIT
/* Readers of /proc: stat and maps parsers (pure) and a small-file reader. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"

#define STAT_MAX   4096	 /* 52 fields of at most 20 digits and a 64-byte comm */
#define STATUS_MAX 16384 /* /proc/PID/status: 1.5 KiB, more with many groups or CPUs */

/* The next field after *p, separated by spaces; false at the end of the line. */
static bool next_field(const char **p, const char **tok, size_t *len)
{
	const char *s = *p;

	while (*s == ' ')
		s++;
	*tok = s;
	while (*s && *s != ' ' && *s != '\n')
		s++;
	*len = (size_t)(s - *tok);
	*p = s;
	return *len > 0;
}

/* Digits only, no sign, no overflow. */
static bool parse_u64(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

static bool parse_i64(const char *s, size_t n, int64_t *v)
{
	bool neg = n && *s == '-';
	uint64_t x;

	if (!parse_u64(s + neg, n - neg, &x) || x > (uint64_t)INT64_MAX + neg)
		return false;
	*v = neg ? (int64_t)(0 - x) : (int64_t)x;
	return true;
}

static bool parse_int(const char *s, size_t n, int *v)
{
	int64_t x;

	if (!parse_i64(s, n, &x) || x < INT32_MIN || x > INT32_MAX)
		return false;
	*v = (int)x;
	return true;
}

/* proc(5) field numbers of what struct proc_stat holds, after comm (2). */
enum {
	F_STATE = 3,
	F_PPID = 4,
	F_UTIME = 14,
	F_STIME = 15,
	F_NUM_THREADS = 20,
	F_STARTTIME = 22,
	F_VSIZE = 23,
	F_RSS = 24,
};

/* Parses fields 3 to 24 from p, just past the ')' that ends comm. */
static int parse_fields(const char *p, struct proc_stat *st)
{
	const char *tok;
	size_t n;
	bool ok;

	for (int f = F_STATE; f <= F_RSS; f++) {
		if (!next_field(&p, &tok, &n))
			return -EINVAL;
		switch (f) {
		case F_STATE:
			ok = n == 1;
			st->state = tok[0];
			break;
		case F_PPID:
			ok = parse_int(tok, n, &st->ppid);
			break;
		case F_UTIME:
			ok = parse_u64(tok, n, &st->utime);
			break;
		case F_STIME:
			ok = parse_u64(tok, n, &st->stime);
			break;
		case F_NUM_THREADS:
			ok = parse_i64(tok, n, &st->num_threads);
			break;
		case F_STARTTIME:
			ok = parse_u64(tok, n, &st->starttime);
			break;
		case F_VSIZE:
			ok = parse_u64(tok, n, &st->vsize);
			break;
		case F_RSS:
			ok = parse_i64(tok, n, &st->rss);
			break;
		default:
			ok = true; /* a field struct proc_stat does not hold */
		}
		if (!ok)
			return -EINVAL;
	}
	return 0;
}

int procfs_parse_stat(const char *text, struct proc_stat *st)
{
	const char *lp = strchr(text, '(');
	const char *rp = strrchr(text, ')');
	size_t n;

	memset(st, 0, sizeof(*st));
	/* "pid (comm) state ...": comm may hold ')' itself, so the last one ends it. */
	if (!lp || !rp || rp < lp || lp - text < 2 || lp[-1] != ' ' ||
	    !parse_int(text, (size_t)(lp - 1 - text), &st->pid) || rp[1] != ' ')
		goto inval;
	n = (size_t)(rp - lp - 1);
	if (n > sizeof(st->comm) - 1)
		n = sizeof(st->comm) - 1;
	memcpy(st->comm, lp + 1, n);
	st->comm[n] = '\0';
	if (parse_fields(rp + 1, st))
		goto inval;
	return 0;
inval:
	memset(st, 0, sizeof(*st));
	return -EINVAL;
}

int procfs_read_stat(int pid, struct proc_stat *st)
{
	char path[32], text[STAT_MAX];
	long n;

	if (pid < 0)
		return -EINVAL;
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/stat");
	n = procfs_read_file(path, text, sizeof(text));
	/* A process reaped between open() and read() reads as ESRCH. */
	if (n == -ESRCH)
		return -ENOENT;
	if (n < 0)
		return (int)n;
	return procfs_parse_stat(text, st);
}

int procfs_read_running(int pid, struct proc_stat *st)
{
	int rc = procfs_read_stat(pid, st);

	return rc ?: st->state == 'Z' ? -ESRCH : 0;
}

/* Whether the last path component of path[0..n) is name or name + ".xxx". */
static bool name_matches(const char *path, size_t n, const char *name)
{
	static const char deleted[] = " (deleted)";
	size_t dl = sizeof(deleted) - 1, nl = strlen(name);
	const char *base = path;

	/* A replaced or removed file keeps its mapping under its old name. */
	if (n >= dl && !memcmp(path + n - dl, deleted, dl))
		n -= dl;
	for (size_t i = 0; i < n; i++) {
		if (path[i] == '/')
			base = path + i + 1;
	}
	n -= (size_t)(base - path);
	return n >= nl && !memcmp(base, name, nl) && (n == nl || base[nl] == '.');
}

/* The path of a maps line, or NULL when it has none. */
static const char *maps_path(const char *line, const char *eol, size_t *len)
{
	const char *p = line;

	/* address perms offset dev inode, then padding, then the path */
	for (int f = 0; f < 5; f++) {
		while (p < eol && *p == ' ')
			p++;
		if (p == eol)
			return NULL;
		while (p < eol && *p != ' ')
			p++;
	}
	while (p < eol && *p == ' ')
		p++;
	*len = (size_t)(eol - p);
	return *len ? p : NULL;
}

int procfs_find_mapping(const char *maps, const char *name, char *path, size_t len)
{
	const char *line, *eol, *p;
	size_t n;

	if (!*name || strchr(name, '/'))
		return -EINVAL;
	for (line = maps; *line; line = *eol ? eol + 1 : eol) {
		eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		p = maps_path(line, eol, &n);
		if (!p || !name_matches(p, n, name))
			continue;
		if (n >= len)
			return -ENAMETOOLONG;
		memcpy(path, p, n);
		path[n] = '\0';
		return 0;
	}
	return -ENOENT;
}

int procfs_mapping_range(const char *maps, const char *name, uint64_t *lo, uint64_t *hi)
{
	const char *line, *eol, *p;
	unsigned long long a, b;
	size_t n;

	*lo = UINT64_MAX;
	*hi = 0;
	for (line = maps; *line; line = *eol ? eol + 1 : eol) {
		eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		p = maps_path(line, eol, &n);
		if (!p || !name_matches(p, n, name) || sscanf(line, "%llx-%llx", &a, &b) != 2)
			continue;
		*lo = a < *lo ? a : *lo;
		*hi = b > *hi ? b : *hi;
	}
	return *hi ? 0 : -ENOENT;
}

/* The value after "\nName:" in text, or NULL. */
static const char *status_line(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, n) && p[n] == ':')
			return p + n + 1;
	return NULL;
}

/* Four decimal ids, as on the Uid and Gid lines. */
static int parse_ids(const char *s, uint32_t ids[4])
{
	const char *tok;
	size_t n;
	uint64_t v;

	for (int i = 0; i < 4; i++) {
		while (*s == '\t')
			s++;
		tok = s;
		while (*s >= '0' && *s <= '9')
			s++;
		n = (size_t)(s - tok);
		if (!parse_u64(tok, n, &v) || v > UINT32_MAX)
			return -EINVAL;
		ids[i] = (uint32_t)v;
	}
	return 0;
}

static int parse_hex(const char *s, uint64_t *v)
{
	char *end;

	while (*s == '\t')
		s++;
	errno = 0;
	*v = strtoull(s, &end, 16);
	return errno || end == s || (*end && *end != '\n') ? -EINVAL : 0;
}

int procfs_parse_creds(const char *text, struct proc_creds *c)
{
	const char *uid = status_line(text, "Uid"), *gid = status_line(text, "Gid"),
		   *prm = status_line(text, "CapPrm"), *eff = status_line(text, "CapEff");

	memset(c, 0, sizeof(*c));
	if (!uid || !gid || !prm || !eff || parse_ids(uid, c->uid) || parse_ids(gid, c->gid) ||
	    parse_hex(prm, &c->cap_prm) || parse_hex(eff, &c->cap_eff))
		return -EINVAL;
	return 0;
}

int procfs_read_creds(int pid, struct proc_creds *c)
{
	char path[32], text[STATUS_MAX];
	long n;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	n = procfs_read_file(path, text, sizeof(text));
	if (n == -ESRCH)
		return -ENOENT;
	return n < 0 ? (int)n : procfs_parse_creds(text, c);
}

long procfs_read_file(const char *path, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;
	char extra;
	int fd, err = 0;

	if (!len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		/* Once full, one more byte tells whether the file is longer. */
		if (off < len - 1)
			n = read(fd, buf + off, len - 1 - off);
		else
			n = read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = -errno;
		else if (n > 0 && off == len - 1)
			err = -EFBIG;
		if (n <= 0 || err)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[err ? 0 : off] = '\0';
	return err ? err : (long)off;
}

#define MAPS_MAX (16 << 20) /* /proc/PID/maps of a very large process */

long procfs_read_maps(int pid, char **maps)
{
	char path[64];
	size_t cap = 256 << 10;
	long n;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	*maps = NULL;
	do {
		free(*maps);
		*maps = malloc(cap);
		if (!*maps)
			return -ENOMEM;
		n = procfs_read_file(path, *maps, cap);
		cap *= 2;
	} while (n == -EFBIG && cap <= MAPS_MAX);
	return n;
}

struct proc_link {
	int pid, ppid;
};

/* Every running process and its parent, from /proc: *out (malloc'd). */
static long proc_links(struct proc_link **out)
{
	DIR *dir = opendir("/proc");
	struct proc_link *v = NULL, *grown;
	size_t n = 0, cap = 0;
	struct dirent *e;

	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		struct proc_stat st;
		int pid = atoi(e->d_name);

		if (pid <= 0 || procfs_read_running(pid, &st))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			grown = realloc(v, cap * sizeof(*v));
			if (!grown) {
				free(v);
				closedir(dir);
				return -ENOMEM;
			}
			v = grown;
		}
		v[n++] = (struct proc_link){ .pid = pid, .ppid = st.ppid };
	}
	closedir(dir);
	*out = v;
	return (long)n;
}

int procfs_descendants(int pid, void (*fn)(int pid, void *ctx), void *ctx)
{
	struct proc_link *v = NULL;
	long n = proc_links(&v);
	int *queue, found = 0;

	if (n < 0)
		return (int)n;
	queue = malloc(((size_t)n + 1) * sizeof(*queue));
	if (!queue) {
		free(v);
		return -ENOMEM;
	}
	/* Breadth first: each process found is queued, its children found
	 * when its turn comes. A found one's ppid is cleared: found once. */
	queue[0] = pid;
	for (int head = 0, tail = 1; head < tail; head++) {
		for (long i = 0; i < n; i++) {
			if (v[i].ppid != queue[head])
				continue;
			v[i].ppid = 0;
			queue[tail++] = v[i].pid;
			fn(v[i].pid, ctx);
			found++;
		}
	}
	free(queue);
	free(v);
	return found;
}
