// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "config.h"
#include "log.h"

static enum config_result parse(struct config *cfg, char *err, int argc, char **argv)
{
	return config_parse(cfg, argc, argv, err, 256);
}

#define ARGV(...) ((char *[]){ "aet-collector", __VA_ARGS__, NULL })

Test(config, defaults)
{
	struct config cfg;
	char err[256] = "";
	struct sockaddr_in *in = (struct sockaddr_in *)&cfg.listen;

	cr_assert_eq(parse(&cfg, err, 3, ARGV("--pid", "42")), CONFIG_RUN);
	cr_assert_eq(cfg.pid, 42);
	cr_assert_null(cfg.follow_comm);
	cr_assert_null(cfg.follow_exe);
	cr_assert_eq(cfg.max_targets, DEFAULT_MAX_TARGETS);
	cr_assert_eq(in->sin_family, AF_INET);
	cr_assert_eq(ntohs(in->sin_port), 9478);
	cr_assert_eq(in->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_str_eq(cfg.listen_str, "127.0.0.1:9478");
	cr_assert_eq(cfg.max_series, DEFAULT_MAX_SERIES);
	cr_assert_eq(cfg.max_open, DEFAULT_MAX_OPEN);
	cr_assert_eq(config_open_slots(&cfg), DEFAULT_MAX_OPEN); /* already a power of two */
	cr_assert_eq(cfg.log_level, LOG_INFO);
	cr_assert_null(cfg.btf_path);
	cr_assert_null(cfg.gen_ai_prices_path);
	cr_assert_null(cfg.gen_ai_prices);
	cr_assert_eq(cfg.http_max_conns, DEFAULT_HTTP_MAX_CONNS);
	cr_assert_eq(cfg.http_max_per_ip, DEFAULT_HTTP_MAX_PER_IP);
	cr_assert_eq(cfg.http_timeout_s, DEFAULT_HTTP_TIMEOUT_S);
	cr_assert_eq(cfg.http_max_request, DEFAULT_HTTP_MAX_REQUEST);
}

/* The endpoint is reachable from this host only unless --listen says otherwise. */
Test(config, default_listen_is_loopback)
{
	struct sockaddr_storage ss;

	cr_assert_eq(config_parse_listen(DEFAULT_LISTEN, &ss), 0);
	cr_assert_eq(ss.ss_family, AF_INET);
	cr_assert_eq(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
}

Test(config, http_limits)
{
	char **argv = ARGV("-p", "1", "--http-max-connections", "8", "--http-max-per-ip=2",
			   "--http-timeout", "3", "--http-max-request-bytes", "4096");
	struct config cfg;
	char err[256] = "";

	cr_assert_eq(parse(&cfg, err, 10, argv), CONFIG_RUN, "%s", err);
	cr_assert_eq(cfg.http_max_conns, 8);
	cr_assert_eq(cfg.http_max_per_ip, 2);
	cr_assert_eq(cfg.http_timeout_s, 3);
	cr_assert_eq(cfg.http_max_request, 4096);
	/* One address may have every connection, not more. */
	cr_assert_eq(parse(&cfg, err, 5, ARGV("-p", "1", "--http-max-connections", "4")),
		     CONFIG_RUN);
	cr_assert_eq(cfg.http_max_per_ip, 4);
	cr_assert_eq(parse(&cfg, err, 4, ARGV("-p", "1", "--http-max-connections=1000")),
		     CONFIG_RUN);
	cr_assert_eq(cfg.http_max_per_ip, DEFAULT_HTTP_MAX_PER_IP);
}

Test(config, every_option)
{
	struct config cfg;
	char err[256] = "";
	char **argv = ARGV("-p", "7", "--listen", "[::1]:9000", "--max-series", "10",
			   "--max-open=20", "--open-ttl", "0", "--btf", "/tmp/btf", "--log-level",
			   "debug", "--max-custom-names", "3");
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&cfg.listen;

	cr_assert_eq(parse(&cfg, err, 16, argv), CONFIG_RUN, "%s", err);
	cr_assert_eq(cfg.pid, 7);
	cr_assert_eq(cfg.max_custom_names, 3);
	cr_assert_eq(in6->sin6_family, AF_INET6);
	cr_assert_eq(ntohs(in6->sin6_port), 9000);
	cr_assert(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	cr_assert_eq(cfg.max_series, 10);
	cr_assert_eq(cfg.max_open, 20);
	cr_assert_eq(config_open_slots(&cfg), 32);
	cr_assert_eq(cfg.open_ttl_s, 0);
	cr_assert_str_eq(cfg.btf_path, "/tmp/btf");
	cr_assert_eq(cfg.log_level, LOG_DEBUG);
}

/* The path only: the file is read at start (user/main.c), not by parsing. */
Test(config, gen_ai_prices)
{
	struct config cfg;
	char err[256] = "";

	cr_assert_eq(parse(&cfg, err, 5, ARGV("-p", "1", "--gen-ai-prices", "/nonexistent")),
		     CONFIG_RUN, "%s", err);
	cr_assert_str_eq(cfg.gen_ai_prices_path, "/nonexistent");
	cr_assert_null(cfg.gen_ai_prices);
}

Test(config, file_roots)
{
	char **argv =
		ARGV("-p", "1", "--file-root", "/srv/a", "--file-root=/b", "--max-files", "9");
	struct config cfg;
	char err[256] = "";

	cr_assert_eq(parse(&cfg, err, 8, argv), CONFIG_RUN, "%s", err);
	cr_assert_eq(cfg.nfile_roots, 2);
	cr_assert_str_eq(cfg.file_roots[0], "/srv/a");
	cr_assert_str_eq(cfg.file_roots[1], "/b");
	cr_assert_eq(cfg.max_files, 9);
	cr_assert_eq(parse(&cfg, err, 3, ARGV("-p", "1")), CONFIG_RUN);
	cr_assert_eq(cfg.nfile_roots, 0);
	cr_assert_eq(cfg.max_files, DEFAULT_MAX_FILES);
}

Test(config, audit)
{
	static const char *const bad[] = {
		"",	"a,",  ",a",
		"a,,b", ".a",  "a.",
		"a b",	"a-b", "e0,e1,e2,e3,e4,e5,e6,e7,e8,e9,e10,e11,e12,e13,e14,e15,e16"
	};
	char name64[65];
	struct config cfg;
	char err[256] = "";

	cr_assert_eq(parse(&cfg, err, 3, ARGV("-p", "1")), CONFIG_RUN);
	cr_assert_eq(cfg.naudit, 0);
	cr_assert_eq(
		parse(&cfg, err, 5, ARGV("-p", "1", "--audit", "subprocess.Popen,open,os.exec")),
		CONFIG_RUN, "%s", err);
	cr_assert_eq(cfg.naudit, 3);
	cr_assert_str_eq(cfg.audit[0], "subprocess.Popen");
	cr_assert_str_eq(cfg.audit[1], "open");
	cr_assert_str_eq(cfg.audit[2], "os.exec");
	memset(name64, 'x', 63);
	name64[63] = '\0';
	cr_assert_eq(parse(&cfg, err, 5, ARGV("-p", "1", "--audit", name64)), CONFIG_RUN);
	cr_assert_str_eq(cfg.audit[0], name64);
	name64[63] = 'x';
	name64[64] = '\0';
	cr_assert_eq(parse(&cfg, err, 5, ARGV("-p", "1", "--audit", name64)), CONFIG_ERROR);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse(&cfg, err, 5, ARGV("-p", "1", "--audit", (char *)bad[i])),
			     CONFIG_ERROR, "%s", bad[i]);
		cr_assert(strstr(err, "for --audit: at most 16 comma-separated names"), "%s", err);
	}
}

Test(config, too_many_file_roots)
{
	char **argv = ARGV("-p", "1", "--file-root=/1", "--file-root=/2", "--file-root=/3",
			   "--file-root=/4", "--file-root=/5", "--file-root=/6", "--file-root=/7",
			   "--file-root=/8", "--file-root=/9");
	struct config cfg;
	char err[256] = "";

	cr_assert_eq(parse(&cfg, err, 12, argv), CONFIG_ERROR);
	cr_assert_str_eq(err, "at most 8 --file-root");
}

Test(config, help_and_version)
{
	struct config cfg;
	char err[256];

	cr_assert_eq(parse(&cfg, err, 2, ARGV("--help")), CONFIG_HELP);
	cr_assert_eq(parse(&cfg, err, 2, ARGV("-V")), CONFIG_VERSION);
}

Test(config, follow_mode)
{
	struct config cfg;
	char err[256];

	cr_assert_eq(parse(&cfg, err, 5, ARGV("--comm", "aet-agent", "--max-targets", "8")),
		     CONFIG_RUN);
	cr_assert_str_eq(cfg.follow_comm, "aet-agent");
	cr_assert_eq(cfg.pid, 0);
	cr_assert_eq(cfg.max_targets, 8);
	cr_assert_eq(cfg.require, 1u << PFAM_PROBES | 1u << PFAM_PROCESSES);
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--exe", "/usr/bin/aet", "--library", "/l.so")),
		     CONFIG_RUN);
	cr_assert_str_eq(cfg.follow_exe, "/usr/bin/aet");
	cr_assert_str_eq(cfg.follow_library, "/l.so");
	cr_assert_eq(cfg.uprobe_spot, SPOT_AUTO);
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--pid", "1", "--uprobe-spot", "push")), CONFIG_RUN);
	cr_assert_eq(cfg.uprobe_spot, SPOT_PUSH_RBP);
	cr_assert_eq(cfg.bpf_build, BUILD_AUTO);
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--pid", "1", "--bpf-build", "compat")), CONFIG_RUN);
	cr_assert_eq(cfg.bpf_build, BUILD_COMPAT);
	cr_assert_eq(cfg.require, 1u << PFAM_PROBES);
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--pid", "1", "--require", "files,sqlite")),
		     CONFIG_RUN);
	cr_assert_eq(cfg.require, 1u << PFAM_FILES | 1u << PFAM_SQLITE);
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--pid", "1", "--require", "")), CONFIG_RUN);
	cr_assert_eq(cfg.require, 0);
}

Test(config, disable)
{
	struct config cfg;
	char err[256] = "";

	unsetenv("AET_COLLECTOR_DISABLE");
	cr_assert_eq(parse(&cfg, err, 3, ARGV("--pid", "1")), CONFIG_RUN);
	cr_assert_eq(cfg.disable, 0);
	cr_assert_null(cfg.disable_by);
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--pid", "1", "--disable", "sqlite,files")),
		     CONFIG_RUN);
	cr_assert_eq(cfg.disable, 1u << PFAM_SQLITE | 1u << PFAM_FILES);
	cr_assert_str_eq(cfg.disable_by, "--disable");
	/* The default --require gives way to --disable; one given does not. */
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--pid", "1", "--disable", "probes")), CONFIG_RUN);
	cr_assert_eq(cfg.require, 0);
	cr_assert_eq(parse(&cfg, err, 7,
			   ARGV("--pid", "1", "--disable", "probes", "--require", "files")),
		     CONFIG_RUN);
	cr_assert_eq(cfg.require, 1u << PFAM_FILES);
	/* The environment, for a unit or a DaemonSet; the option wins over it. */
	setenv("AET_COLLECTOR_DISABLE", "sqlite", 1);
	cr_assert_eq(parse(&cfg, err, 3, ARGV("--pid", "1")), CONFIG_RUN);
	cr_assert_eq(cfg.disable, 1u << PFAM_SQLITE);
	cr_assert_str_eq(cfg.disable_by, "AET_COLLECTOR_DISABLE");
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--pid", "1", "--disable", "files")), CONFIG_RUN);
	cr_assert_eq(cfg.disable, 1u << PFAM_FILES);
	setenv("AET_COLLECTOR_DISABLE", "", 1);
	cr_assert_eq(parse(&cfg, err, 3, ARGV("--pid", "1")), CONFIG_RUN);
	cr_assert_eq(cfg.disable, 0);
	setenv("AET_COLLECTOR_DISABLE", "sqlite;files", 1);
	cr_assert_eq(parse(&cfg, err, 3, ARGV("--pid", "1")), CONFIG_ERROR);
	cr_assert_str_eq(
		err, "AET_COLLECTOR_DISABLE: \"sqlite;files\" is not probe families "
		     "separated by commas: probes, processes, files, sqlite, http, python, custom");
	unsetenv("AET_COLLECTOR_DISABLE");
}

Test(config, check)
{
	struct config cfg;
	char err[256] = "";

	/* The host alone: no target needed. */
	cr_assert_eq(parse(&cfg, err, 2, ARGV("--check")), CONFIG_RUN, "%s", err);
	cr_assert(cfg.check);
	cr_assert_not(cfg.json);
	cr_assert_eq(cfg.pid, 0);
	cr_assert_eq(cfg.require, 1u << PFAM_PROBES);
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--check", "--json", "--pid", "7")), CONFIG_RUN);
	cr_assert(cfg.check && cfg.json);
	cr_assert_eq(cfg.pid, 7);
	cr_assert_eq(parse(&cfg, err, 4, ARGV("--check", "--comm", "aet")), CONFIG_RUN);
	cr_assert_eq(cfg.require, 1u << PFAM_PROBES | 1u << PFAM_PROCESSES);
	cr_assert_eq(parse(&cfg, err, 6, ARGV("--check", "--pid", "1", "--comm", "aet")),
		     CONFIG_ERROR);
	/* A flag twice is the flag. */
	cr_assert_eq(parse(&cfg, err, 4, ARGV("--check", "--check", "--json")), CONFIG_RUN);
	cr_assert_eq(parse(&cfg, err, 4, ARGV("--pid", "1", "--json")), CONFIG_ERROR);
	cr_assert_str_eq(err, "--json is for --check (see --help)");
}

/* Criterion re-executes the test binary for each parameter (PIE: other
 * addresses), so parameters hold their strings, not pointers. */
struct bad_args {
	int argc;
	char argv[6][56];
	char err[160];
};

ParameterizedTestParameters(config, errors)
{
	static struct bad_args params[] = {
		{ 1, { "c" }, "--pid PID, --comm NAME or --exe PATH is required (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--comm", "aet" },
		  "--pid, --comm and --exe exclude one another (see --help)" },
		{ 5,
		  { "c", "--exe", "/bin/aet", "--comm", "aet" },
		  "--pid, --comm and --exe exclude one another (see --help)" },
		{ 3,
		  { "c", "--comm", "0123456789abcdef" },
		  "invalid value '0123456789abcdef' for --comm: a process name of 1 to 15 bytes, "
		  "as in /proc/PID/comm (see --help)" },
		{ 3,
		  { "c", "--exe", "bin/aet" },
		  "invalid value 'bin/aet' for --exe: an absolute path (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--library", "/lib/libaetprobe.so" },
		  "--library is for follow mode (--comm, --exe) (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--require", "probes,net" },
		  "invalid value 'probes,net' for --require: probe families separated by commas: "
		  "probes, processes, files, sqlite, http, python, custom (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--disable", "sqlite,net" },
		  "invalid value 'sqlite,net' for --disable: probe families separated by commas: "
		  "probes, processes, files, sqlite, http, python, custom (see --help)" },
		{ 5,
		  { "c", "--comm", "aet", "--disable", "processes" },
		  "--disable processes, but follow mode (--comm, --exe) needs it to see processes "
		  "start" },
		{ 6,
		  { "c", "-p", "1", "--require", "files", "--disable=files" },
		  "--disable files, but --require names it too" },
		{ 5,
		  { "c", "-p", "1", "--disable",
		    "probes,processes,files,sqlite,http,python,custom" },
		  "--disable names every probe family: nothing would be observed" },
		{ 5,
		  { "c", "-p", "1", "--uprobe-spot", "ret" },
		  "invalid value 'ret' for --uprobe-spot: nop5, push or auto (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--bpf-build", "v2" },
		  "invalid value 'v2' for --bpf-build: native, compat or auto (see --help)" },
		{ 5,
		  { "c", "--comm", "aet", "--max-targets", "0" },
		  "invalid value '0' for --max-targets: a number from 1 to 4096 (see --help)" },
		{ 3,
		  { "c", "--pid", "0" },
		  "invalid value '0' for --pid: the process id of AET, a number from 1 to "
		  "2147483647 (see --help)" },
		{ 3,
		  { "c", "--pid", "12x" },
		  "invalid value '12x' for --pid: the process id of AET, a number from 1 to "
		  "2147483647 (see --help)" },
		{ 3,
		  { "c", "-p", "-5" },
		  "invalid value '-5' for --pid: the process id of AET, a number from 1 to "
		  "2147483647 (see --help)" },
		{ 2, { "c", "--pid" }, "option --pid needs a value" },
		{ 4, { "c", "-p", "1", "--nope" }, "unknown option '--nope' (see --help)" },
		{ 4, { "c", "-p", "1", "extra" }, "unexpected argument 'extra' (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--listen", "1.2.3.4" },
		  "invalid value '1.2.3.4' for --listen: ADDR:PORT, or [ADDR]:PORT for IPv6, with "
		  "a numeric address (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--max-series", "0" },
		  "invalid value '0' for --max-series: a number from 1 to 1048576 (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--max-custom-names", "0" },
		  "invalid value '0' for --max-custom-names: a number from 1 to 65536 (see "
		  "--help)" },
		{ 5,
		  { "c", "-p", "1", "--log-level", "loud" },
		  "invalid value 'loud' for --log-level: error, warn, info or debug (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--file-root", "relative" },
		  "invalid value 'relative' for --file-root: an absolute path of at most 126 bytes "
		  "(see --help)" },
		{ 4,
		  { "c", "-p", "1", "--http-max-connections=0" },
		  "invalid value '0' for --http-max-connections: a number from 1 to 1000 (see "
		  "--help)" },
		{ 4,
		  { "c", "-p", "1", "--http-max-connections=1001" },
		  "invalid value '1001' for --http-max-connections: a number from 1 to 1000 (see "
		  "--help)" },
		{ 4,
		  { "c", "-p", "1", "--http-max-per-ip=0" },
		  "invalid value '0' for --http-max-per-ip: a number from 1 to 1000 (see --help)" },
		{ 4,
		  { "c", "-p", "1", "--http-timeout=0" },
		  "invalid value '0' for --http-timeout: seconds from 1 to 3600 (see --help)" },
		{ 4,
		  { "c", "-p", "1", "--http-timeout=3601" },
		  "invalid value '3601' for --http-timeout: seconds from 1 to 3600 (see --help)" },
		{ 4,
		  { "c", "-p", "1", "--http-max-request-bytes=4095" },
		  "invalid value '4095' for --http-max-request-bytes: bytes from 4096 to 1048576 "
		  "(see --help)" },
		{ 5,
		  { "c", "-p", "1", "--http-max-request-bytes", "2M" },
		  "invalid value '2M' for --http-max-request-bytes: bytes from 4096 to 1048576 "
		  "(see --help)" },
		{ 3,
		  { "c", "--pid", "" },
		  "--pid is empty: no pid was given (when it comes from pgrep, no process "
		  "matched: check that AET runs, and the pattern)" },
		{ 5,
		  { "c", "-p", "1", "--span-ring-size", "1000" },
		  "invalid value '1000' for --span-ring-size: a power of two of bytes from 4096 to "
		  "1073741824 (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--span-ring-size", "12288" },
		  "invalid value '12288' for --span-ring-size: a power of two of bytes from 4096 "
		  "to "
		  "1073741824 (see --help)" },
		{ 4, { "c", "-p", "1", "--http-timeout" }, "option --http-timeout needs a value" },
		{ 6,
		  { "c", "-p", "1", "--listen", "127.0.0.1:1", "-l127.0.0.1:2" },
		  "--listen given twice ('127.0.0.1:1', then '127.0.0.1:2'): give it once (see "
		  "--help)" },
		{ 5,
		  { "c", "-p", "1", "--pid", "2" },
		  "--pid given twice ('1', then '2'): give it once (see --help)" },
		{ 4,
		  { "c", "-p", "1", "--gen-ai-prices=" },
		  "invalid value '' for --gen-ai-prices: a value that is not empty (see --help)" },
		{ 5,
		  { "c", "-p", "1", "--gen-ai-prices=a", "--gen-ai-prices=b" },
		  "--gen-ai-prices given twice ('a', then 'b'): give it once (see --help)" },

	};

	return cr_make_param_array(struct bad_args, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct bad_args *a, config, errors)
{
	char *argv[7] = {};
	struct config cfg;
	char err[256] = "";

	for (int i = 0; i < a->argc; i++)
		argv[i] = a->argv[i];
	cr_assert_eq(config_parse(&cfg, a->argc, argv, err, sizeof(err)), CONFIG_ERROR);
	cr_assert_str_eq(err, a->err);
}

struct listen_case {
	char s[24];
	int family; /* 0: rejected */
	int port;
};

ParameterizedTestParameters(config, listen)
{
	static struct listen_case params[] = {
		{ "127.0.0.1:9478", AF_INET, 9478 },
		{ "0.0.0.0:1", AF_INET, 1 },
		{ "[::]:65535", AF_INET6, 65535 },
		{ "[::1]:80", AF_INET6, 80 },
		{ "127.0.0.1:0", 0, 0 },
		{ "127.0.0.1:65536", 0, 0 },
		{ "127.0.0.1", 0, 0 },
		{ ":9478", 0, 0 },
		{ "::1:80", 0, 0 },
		{ "[::1]80", 0, 0 },
		{ "localhost:80", 0, 0 },
		{ "127.0.0.1:80x", 0, 0 },
	};

	return cr_make_param_array(struct listen_case, params, sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct listen_case *c, config, listen)
{
	struct sockaddr_storage ss;
	int rc = config_parse_listen(c->s, &ss);

	if (!c->family) {
		cr_assert_neq(rc, 0, "%s accepted", c->s);
		return;
	}
	cr_assert_eq(rc, 0, "%s rejected", c->s);
	cr_assert_eq(ss.ss_family, c->family);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), c->port);
}

Test(config, emergency_switch)
{
	struct config cfg;
	char err[256] = "";

	cr_assert_eq(parse(&cfg, err, 3, ARGV("--pid", "1")), CONFIG_RUN);
	cr_assert_null(cfg.control_token);
	cr_assert_not(cfg.start_disabled);
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--pid", "1", "--control-token", "t0k")), CONFIG_RUN);
	cr_assert_str_eq(cfg.control_token, "t0k");
	cr_assert_eq(parse(&cfg, err, 5, ARGV("--pid", "1", "--control-token", "")), CONFIG_ERROR);
	setenv("AET_METRICS_ENABLED", "FALSE", 1);
	cr_assert_eq(parse(&cfg, err, 3, ARGV("--pid", "1")), CONFIG_RUN);
	cr_assert(cfg.start_disabled);
	setenv("AET_METRICS_ENABLED", "on", 1);
	cr_assert_eq(parse(&cfg, err, 3, ARGV("--pid", "1")), CONFIG_RUN);
	cr_assert_not(cfg.start_disabled);
	setenv("AET_METRICS_ENABLED", "maybe", 1);
	cr_assert_eq(parse(&cfg, err, 3, ARGV("--pid", "1")), CONFIG_ERROR);
	cr_assert_str_eq(err, "AET_METRICS_ENABLED: \"maybe\" is not true or false");
	unsetenv("AET_METRICS_ENABLED");
}
