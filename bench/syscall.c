// SPDX-License-Identifier: MIT
/*
 * bench-syscall: the cost of a syscall. Prints "ready PID", then for each
 * line "N" on stdin makes N read()s of one byte from /dev/zero and prints
 * "read NS": nanoseconds per call. With a FILE argument, N pread()s of its
 * first byte instead, through a descriptor opened for each line: a regular
 * file that a collector observing this process follows, even one that
 * follows only the files opened after it attached (bench/file_io.py).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/zero";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char line[32], c;

	if (fd < 0) {
		fprintf(stderr, "bench-syscall: %s: %m\n", path);
		return 1;
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		long n = atol(line);
		double t0;

		if (argc > 1) {
			close(fd);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				return 1;
		}
		t0 = now_ns();
		for (long i = 0; i < n; i++)
			if ((argc > 1 ? pread(fd, &c, 1, 0) : read(fd, &c, 1)) != 1)
				return 1;
		printf("read %.1f\n", (now_ns() - t0) / n);
		fflush(stdout);
	}
	return 0;
}
