// SPDX-License-Identifier: MIT
/* Unit tests of the /proc readers (user/procfs.c). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procfs.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fields 3 onwards of a real stat line, bash on Linux 6.1. */
#define STAT_TAIL                                                                            \
	" S 1 1234 1234 34816 1234 4194304 1000 0 0 0 12 34 0 0 20 0 3 0 5678 12345678 900 " \
	"18446744073709551615 94 95 96 0 0 0 65536 3686404 1266761467 0 0 0 17 2 0 0 0 0 0 " \
	"97 98 99 100 101 102 0\n"

TestSuite(procfs, .timeout = 5.);

Test(procfs, stat_fields)
{
	struct proc_stat st;

	cr_assert_eq(procfs_parse_stat("4321 (bash)" STAT_TAIL, &st), 0);
	cr_assert_eq(st.pid, 4321);
	cr_assert_str_eq(st.comm, "bash");
	cr_assert_eq(st.state, 'S');
	cr_assert_eq(st.ppid, 1);
	cr_assert_eq(st.utime, 12);
	cr_assert_eq(st.stime, 34);
	cr_assert_eq(st.num_threads, 3);
	cr_assert_eq(st.starttime, 5678);
	cr_assert_eq(st.vsize, 12345678);
	cr_assert_eq(st.rss, 900);
}

Test(procfs, stat_comm_with_parentheses_and_spaces)
{
	struct proc_stat st;

	cr_assert_eq(procfs_parse_stat("7 (a) b (c)" STAT_TAIL, &st), 0);
	cr_assert_str_eq(st.comm, "a) b (c");
	cr_assert_eq(st.pid, 7);
	cr_assert_eq(st.state, 'S');
	cr_assert_eq(st.ppid, 1);
	cr_assert_eq(st.rss, 900);
	/* a comm that looks like the start of the fields */
	cr_assert_eq(procfs_parse_stat("8 () R 5 6 7 ()" STAT_TAIL, &st), 0);
	cr_assert_str_eq(st.comm, ") R 5 6 7 (");
	cr_assert_eq(st.ppid, 1);
	cr_assert_eq(procfs_parse_stat("9 ()" STAT_TAIL, &st), 0);
	cr_assert_str_eq(st.comm, "");
}

Test(procfs, stat_comm_cut_at_16)
{
	struct proc_stat st;

	cr_assert_eq(procfs_parse_stat("9 (abcdefghijklmnopqrs)" STAT_TAIL, &st), 0);
	cr_assert_str_eq(st.comm, "abcdefghijklmnop");
}

Test(procfs, stat_extremes)
{
	struct proc_stat st;

	cr_assert_eq(procfs_parse_stat("2147483647 (x) Z 0 0 0 0 0 0 0 0 0 0 "
				       "18446744073709551615 0 0 0 0 0 -1 0 0 0 -5\n",
				       &st),
		     0);
	cr_assert_eq(st.pid, INT_MAX);
	cr_assert_eq(st.state, 'Z');
	cr_assert_eq(st.ppid, 0);
	cr_assert_eq(st.utime, UINT64_MAX);
	cr_assert_eq(st.num_threads, -1);
	cr_assert_eq(st.rss, -5);
	/* exactly 24 fields and no newline */
	cr_assert_eq(procfs_parse_stat("1 (x) S 0 0 0 0 0 0 0 0 0 0 1 2 0 0 0 0 3 0 4 5 6", &st),
		     0);
	cr_assert_eq(st.rss, 6);
	/* what the garbage cases below break */
	cr_assert_eq(
		procfs_parse_stat("12 (bash) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n", &st),
		0);
}

struct bad_stat {
	char text[200];
};

ParameterizedTestParameters(procfs, stat_garbage)
{
	static struct bad_stat cases[] = {
		{ "" },
		{ "garbage" },
		{ "\n" },
		{ "12 bash S 1 2 3" },
		{ "12 (bash" },
		{ "12 bash) S 1" },
		{ "12 (bash)" },
		{ "12 (bash) S" },
		{ "12 (bash) S 1 1234 1234 34816 1234 4194304 1000 0 0 0 12 34 0 0 20 0 3 0 "
		  "5678\n" },
		{ "12 (bash) S 1 1234 1234 34816 1234 4194304 1000 0 0 0 12 34 0 0 20 0 3 0 5678 "
		  "123\n" },
		{ "x (bash) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n" },
		{ "(bash) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n" },
		{ "12(bash) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n" },
		{ "12 (bash)S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n" },
		{ "99999999999 (b) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n" },
		{ "12 (bash) SS 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n" },
		{ "12 (bash) S x 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n" },
		{ "12 (bash) S 1 1 1 1 1 1 1 1 1 1 -1 1 1 1 1 1 1 1 1 1 1\n" },
		{ "12 (bash) S 1 1 1 1 1 1 1 1 1 1 12a 1 1 1 1 1 1 1 1 1 1\n" },
		{ "12 (bash) S 1 1 1 1 1 1 1 1 1 1 18446744073709551616 1 1 1 1 1 1 1 1 1 1\n" },
		{ "12 (bash) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 +1\n" },
		{ "12 (bash) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 -\n" },
		{ "12 (bash) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n1 1 1 1 1\n" },
	};

	return cr_make_param_array(struct bad_stat, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct bad_stat *c, procfs, stat_garbage)
{
	struct proc_stat st;

	memset(&st, 0x55, sizeof(st));
	cr_assert_eq(procfs_parse_stat(c->text, &st), -EINVAL, "accepted \"%s\"", c->text);
	cr_assert_eq(st.pid, 0);
	cr_assert_eq(st.comm[0], '\0');
}

/* This process's name (test_procfs, or valgrind's when under it) from /proc/self/comm. */
static const char *self_comm(void)
{
	static char comm[32];
	FILE *fp = fopen("/proc/self/comm", "r");

	cr_assert_not_null(fp);
	cr_assert_not_null(fgets(comm, sizeof(comm), fp));
	fclose(fp);
	comm[strcspn(comm, "\n")] = '\0';
	return comm;
}

Test(procfs, read_stat_self)
{
	struct proc_stat st, st2;

	cr_assert_eq(procfs_read_stat(0, &st), 0);
	cr_assert_eq(st.pid, getpid());
	cr_assert_eq(st.ppid, getppid());
	cr_assert_eq(st.state, 'R');
	cr_assert_str_eq(st.comm, self_comm());
	cr_assert_geq(st.num_threads, 1);
	cr_assert_gt(st.vsize, 0);
	cr_assert_gt(st.rss, 0);
	cr_assert_eq(procfs_read_stat(getpid(), &st2), 0);
	cr_assert_eq(st2.pid, st.pid);
	cr_assert_eq(st2.starttime, st.starttime);
	cr_assert_eq(procfs_read_stat(getppid(), &st2), 0);
	cr_assert_eq(st2.pid, getppid());
}

Test(procfs, read_running_sees_a_zombie_gone)
{
	struct proc_stat st;
	pid_t child = fork();

	cr_assert_geq(child, 0);
	if (!child)
		_exit(0);
	cr_assert_eq(procfs_read_running(0, &st), 0);
	/* Not reaped yet: a zombie, whose stat is still there. */
	for (int i = 0; i < 1000 && !procfs_read_stat(child, &st) && st.state != 'Z'; i++)
		usleep(1000);
	cr_assert_eq(st.state, 'Z');
	cr_assert_eq(procfs_read_running(child, &st), -ESRCH);
	waitpid(child, NULL, 0);
	cr_assert_eq(procfs_read_running(child, &st), -ENOENT);
}

Test(procfs, read_stat_missing)
{
	struct proc_stat st;

	cr_assert_eq(procfs_read_stat(INT_MAX, &st), -ENOENT); /* above any pid_max */
	cr_assert_eq(procfs_read_stat(-1, &st), -EINVAL);
}

static char tmp_path[64];

static void make_tmp(void)
{
	strcpy(tmp_path, "/tmp/test_procfs.XXXXXX");
	cr_assert_geq(close(mkstemp(tmp_path)), 0);
}

static void rm_tmp(void)
{
	unlink(tmp_path);
}

static void write_tmp(const char *s, size_t n)
{
	FILE *fp = fopen(tmp_path, "w");

	cr_assert_not_null(fp);
	cr_assert_eq(fwrite(s, 1, n, fp), n);
	cr_assert_eq(fclose(fp), 0);
}

Test(procfs, read_file, .init = make_tmp, .fini = rm_tmp)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(procfs_read_file(tmp_path, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "");
	write_tmp("abc\0de", 6);
	cr_assert_eq(procfs_read_file(tmp_path, buf, sizeof(buf)), 6);
	cr_assert_eq(memcmp(buf, "abc\0de", 7), 0);
	write_tmp("1234567", 7); /* exactly fills the buffer with its NUL */
	cr_assert_eq(procfs_read_file(tmp_path, buf, sizeof(buf)), 7);
	cr_assert_str_eq(buf, "1234567");
	write_tmp("12345678", 8); /* one byte too many */
	cr_assert_eq(procfs_read_file(tmp_path, buf, sizeof(buf)), -EFBIG);
	cr_assert_eq(procfs_read_file(tmp_path, buf, 1), -EFBIG);
	cr_assert_eq(procfs_read_file(tmp_path, buf, 0), -EINVAL);
}

Test(procfs, read_file_errors)
{
	char buf[64];

	cr_assert_eq(procfs_read_file("/nonexistent/file", buf, sizeof(buf)), -ENOENT);
	cr_assert_eq(procfs_read_file("/", buf, sizeof(buf)), -EISDIR);
}

Test(procfs, read_file_proc_and_fd_closed)
{
	static char buf[1 << 16];
	long n, fds = 0, fds2 = 0;
	char link[64];

	/* /proc files report size 0: the reader must not trust st_size */
	n = procfs_read_file("/proc/self/maps", buf, sizeof(buf));
	cr_assert_gt(n, 0);
	cr_assert_eq((size_t)n, strlen(buf));
	cr_assert(strstr(buf, "[stack]"));
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		fds += access(link, F_OK) == 0;
	}
	for (int i = 0; i < 10; i++) {
		procfs_read_file("/proc/self/stat", buf, sizeof(buf));
		procfs_read_file("/proc/self/maps", buf, 16);
	}
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		fds2 += access(link, F_OK) == 0;
	}
	cr_assert_eq(fds2, fds, "file descriptors leaked");
}

#define LINE(path) \
	"7f1000000000-7f1000001000 r-xp 00001000 08:01 5678                       " path "\n"
#define ANON	  "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
#define ANON_BARE "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n"

struct maps_case {
	char maps[512];
	char name[32];
	int rc;
	char path[128];
};

ParameterizedTestParameters(procfs, find_mapping)
{
	static struct maps_case cases[] = {
		{ LINE("/usr/lib/libaetprobe.so"), "libaetprobe.so", 0, "/usr/lib/libaetprobe.so" },
		{ LINE("/usr/lib/libaetprobe.so.1"), "libaetprobe.so", 0,
		  "/usr/lib/libaetprobe.so.1" },
		{ LINE("/usr/lib/libaetprobe.so.1.2.3"), "libaetprobe.so", 0,
		  "/usr/lib/libaetprobe.so.1.2.3" },
		{ LINE("/usr/lib/libaetprobe.so-foo"), "libaetprobe.so", -ENOENT, "" },
		{ LINE("/usr/lib/xlibaetprobe.so"), "libaetprobe.so", -ENOENT, "" },
		{ LINE("/usr/lib/libaetprobe.sox"), "libaetprobe.so", -ENOENT, "" },
		{ LINE("/usr/lib/libaetprobe.s"), "libaetprobe.so", -ENOENT, "" },
		{ LINE("/libaetprobe.so/libc.so.6"), "libaetprobe.so", -ENOENT, "" },
		{ LINE("[anon:libaetprobe.so]"), "libaetprobe.so", -ENOENT, "" },
		{ LINE("libaetprobe.so"), "libaetprobe.so", 0, "libaetprobe.so" },
		{ LINE("/opt/my app/lib dir/libaetprobe.so"), "libaetprobe.so", 0,
		  "/opt/my app/lib dir/libaetprobe.so" },
		{ LINE("/opt/a b/libaetprobe.so (deleted)"), "libaetprobe.so", 0,
		  "/opt/a b/libaetprobe.so (deleted)" },
		{ LINE("/opt/libaetprobe.so.1 (deleted)"), "libaetprobe.so", 0,
		  "/opt/libaetprobe.so.1 (deleted)" },
		{ LINE("/opt/libaetprobe.so-x (deleted)"), "libaetprobe.so", -ENOENT, "" },
		{ ANON ANON_BARE LINE("[heap]") LINE("/usr/bin/python3.11")
			  LINE("/usr/lib/libaetprobe.so.1") LINE("/usr/lib/libaetprobe.so"),
		  "libaetprobe.so", 0, "/usr/lib/libaetprobe.so.1" }, /* the first one */
		{ ANON "7f1000000000-7f1000001000 r-xp 00001000 08:01 5678 /x/libaetprobe.so",
		  "libaetprobe.so", 0, "/x/libaetprobe.so" }, /* last line without newline */
		{ LINE("/usr/lib/libc.so.6") ANON, "libaetprobe.so", -ENOENT, "" },
		{ "", "libaetprobe.so", -ENOENT, "" },
		{ "garbage\n\n  \nno fields here\n", "libaetprobe.so", -ENOENT, "" },
		{ LINE("/usr/lib/libaetprobe.so"), "", -EINVAL, "" },
	};

	return cr_make_param_array(struct maps_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct maps_case *c, procfs, find_mapping)
{
	char path[128] = "untouched";

	cr_assert_eq(procfs_find_mapping(c->maps, c->name, path, sizeof(path)), c->rc);
	if (!c->rc)
		cr_assert_str_eq(path, c->path);
}

Test(procfs, find_mapping_buffer_size)
{
	const char *maps = LINE("/usr/lib/libaetprobe.so.1");
	char path[26]; /* "/usr/lib/libaetprobe.so.1" and its NUL */

	cr_assert_eq(procfs_find_mapping(maps, "libaetprobe.so", path, sizeof(path)), 0);
	cr_assert_str_eq(path, "/usr/lib/libaetprobe.so.1");
	cr_assert_eq(procfs_find_mapping(maps, "libaetprobe.so", path, sizeof(path) - 1),
		     -ENAMETOOLONG);
	cr_assert_eq(procfs_find_mapping(maps, "libaetprobe.so", path, 0), -ENAMETOOLONG);
}

static void collect(int pid, void *ctx)
{
	int *found = ctx;

	found[++found[0]] = pid;
}

/* A child and its own child, found from one scan; an unrelated pid not. */
Test(procfs, descendants)
{
	int pipefd[2], found[8] = { 0 }, status;
	pid_t child, grandchild = 0;
	char c;

	cr_assert_eq(pipe(pipefd), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (!child) {
		/* The grandchild waits with the child on the pipe's end. */
		close(pipefd[1]);
		if (!fork())
			_exit(read(pipefd[0], &c, 1) < 0);
		_exit(read(pipefd[0], &c, 1) < 0);
	}
	close(pipefd[0]);
	/* The grandchild is the child's child once it exists. */
	for (int tries = 0; tries < 500 && !grandchild; tries++) {
		found[0] = 0;
		cr_assert_geq(procfs_descendants(getpid(), collect, found), 1);
		if (found[0] == 2)
			grandchild = found[2];
		else
			usleep(10000);
	}
	cr_assert_eq(found[0], 2, "found %d, not the child and its child", found[0]);
	cr_assert_eq(found[1], child);
	found[0] = 0;
	cr_assert_eq(procfs_descendants(grandchild, collect, found), 0);
	close(pipefd[1]);
	cr_assert_eq(waitpid(child, &status, 0), child);
}

/* /proc/PID/status of a process of user 1000 with two capabilities. */
static const char status_text[] = "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\n"
				  "Tgid:\t4321\nUid:\t1000\t1001\t1002\t1003\n"
				  "Gid:\t100\t100\t100\t100\nGroups:\t100 27\n"
				  "CapInh:\t0000000000000000\nCapPrm:\t0000000000280000\n"
				  "CapEff:\t0000000000080000\nCapBnd:\t000001ffffffffff\n";

Test(procfs, creds)
{
	struct proc_creds c;

	cr_assert_eq(procfs_parse_creds(status_text, &c), 0);
	cr_assert_eq(c.uid[0], 1000);
	cr_assert_eq(c.uid[3], 1003);
	cr_assert_eq(c.gid[1], 100);
	cr_assert_eq(c.cap_prm, 1ULL << 19 | 1ULL << 21); /* CAP_SYS_PTRACE, CAP_SYS_ADMIN */
	cr_assert_eq(c.cap_eff, 1ULL << 19);
}

Test(procfs, creds_malformed)
{
	struct proc_creds c;

	cr_assert_eq(procfs_parse_creds("Name:\tx\nUid:\t1\t2\t3\n", &c), -EINVAL);
	cr_assert_eq(procfs_parse_creds("Uid:\t1\t2\t3\t4\nGid:\t1\t2\t3\t4\n"
					"CapPrm:\tzz\nCapEff:\t0\n",
					&c),
		     -EINVAL);
	cr_assert_eq(procfs_parse_creds("", &c), -EINVAL);
}

Test(procfs, creds_of_self)
{
	struct proc_creds c;

	cr_assert_eq(procfs_read_creds(0, &c), 0);
	cr_assert_eq(c.uid[1], geteuid());
	cr_assert_eq(procfs_read_creds(INT_MAX, &c), -ENOENT);
}

Test(procfs, mapping_range)
{
	const char *maps =
		"7f00000000-7f00001000 r--p 00000000 08:01 1 /usr/lib/libsqlite3.so.0.8.6\n"
		"7f00001000-7f000f0000 r-xp 00001000 08:01 1 /usr/lib/libsqlite3.so.0.8.6\n"
		"7f000f0000-7f00100000 rw-p 000f0000 08:01 1 /usr/lib/libsqlite3.so.0.8.6\n"
		"7f10000000-7f10001000 r-xp 00000000 08:01 2 /usr/lib/libc.so.6\n";
	uint64_t lo, hi;

	cr_assert_eq(procfs_mapping_range(maps, "libsqlite3.so", &lo, &hi), 0);
	cr_assert_eq(lo, 0x7f00000000ULL);
	cr_assert_eq(hi, 0x7f00100000ULL);
	cr_assert_eq(procfs_mapping_range(maps, "libaetprobe.so", &lo, &hi), -ENOENT);
}
