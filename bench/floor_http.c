// SPDX-License-Identifier: MIT
/*
 * bench-floor-http --pid PID: attaches empty programs to every point the
 * collector's http family uses: a uprobe and a uretprobe on SSL_write,
 * SSL_write_ex, SSL_read and SSL_read_ex, a uprobe on SSL_shutdown and
 * SSL_free, in the libssl.so.3 process PID maps (by pid), and the
 * sys_enter and sys_exit tracepoints of write, writev, sendto, sendmsg,
 * read, readv, recvfrom and recvmsg, sys_enter_close, sys_exit_poll and
 * sys_exit_ppoll (system-wide). Prints
 * "attached" and holds until stdin closes. The floor of what an HTTP(S)
 * request pays for being observed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <fcntl.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "floor_http.skel.h"

#define TRACEFS "/sys/kernel/tracing"

static const struct {
	const char *sym;
	bool ret;
} ssl_probes[] = {
	{ "SSL_write", false },	  { "SSL_write", true },   { "SSL_write_ex", false },
	{ "SSL_write_ex", true }, { "SSL_read", false },   { "SSL_read", true },
	{ "SSL_read_ex", false }, { "SSL_read_ex", true }, { "SSL_shutdown", false },
	{ "SSL_free", false },
};

#define NSSL (sizeof(ssl_probes) / sizeof(ssl_probes[0]))

/* The libssl.so.3 process pid maps, as the collector finds it. */
static int libssl_of(int pid, char *path, size_t len)
{
	char maps[64], line[4096];
	FILE *f;
	int found = 0;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (!p || !strstr(p, "/libssl.so.3"))
			continue;
		p[strcspn(p, "\n")] = '\0';
		snprintf(path, len, "%s", p);
		found = 1;
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	struct bpf_link *links[NSSL] = {};
	struct floor_http_bpf *skel;
	char lib[4096], line[16];
	int pid = 0, err = 0;
	size_t n = 0;

	if (argc == 3 && !strcmp(argv[1], "--pid"))
		pid = atoi(argv[2]);
	if (pid <= 0) {
		fprintf(stderr, "usage: bench-floor-http --pid PID\n");
		return 2;
	}
	if (!libssl_of(pid, lib, sizeof(lib))) {
		fprintf(stderr, "bench-floor-http: process %d maps no libssl.so.3\n", pid);
		return 1;
	}
	/* Syscall tracepoints are found in tracefs: mounted where the
	 * collector mounts it when it is not (and, as it, left mounted). */
	if (faccessat(AT_FDCWD, TRACEFS "/events/syscalls", F_OK, AT_EACCESS) &&
	    mount("tracefs", TRACEFS, "tracefs", 0, NULL)) {
		fprintf(stderr, "bench-floor-http: cannot mount tracefs on %s: %s\n", TRACEFS,
			strerror(errno));
		return 1;
	}
	skel = floor_http_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "bench-floor-http: failed to load: %s\n", strerror(errno));
		return 1;
	}
	/* The uprobe program has no attach point in its section: the
	 * skeleton's attach leaves it to us. */
	err = floor_http_bpf__attach(skel);
	if (err)
		fprintf(stderr, "bench-floor-http: failed to attach the tracepoints: %s\n",
			strerror(-err));
	for (size_t i = 0; i < NSSL && !err; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = ssl_probes[i].sym,
			    .retprobe = ssl_probes[i].ret);

		links[n] = bpf_program__attach_uprobe_opts(skel->progs.empty_uprobe, pid, lib, 0,
							   &opts);
		if (!links[n++]) {
			fprintf(stderr, "bench-floor-http: failed to attach %s%s in %s: %s\n",
				ssl_probes[i].sym, ssl_probes[i].ret ? " (return)" : "", lib,
				strerror(errno));
			err = 1;
		}
	}
	if (!err) {
		puts("attached");
		fflush(stdout);
		while (fgets(line, sizeof(line), stdin))
			;
	}
	for (size_t i = 0; i < n; i++)
		bpf_link__destroy(links[i]);
	floor_http_bpf__destroy(skel);
	return err ? 1 : 0;
}
