// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "otelenv.h"

const char config_usage[] =
	"Usage: aet-collector --pid PID | --comm NAME | --exe PATH [OPTION]...\n"
	"       aet-collector --check [--json] [--pid PID] [OPTION]...\n"
	"Observe a running AET process from the kernel and serve its metrics.\n"
	"\n"
	"  -p, --pid PID          the AET process to attach to\n"
	"      --comm NAME        follow mode: every process named NAME (as in\n"
	"                         /proc/PID/comm), running now or started later\n"
	"      --exe PATH         follow mode: every process executing the file PATH\n"
	"      --library PATH     follow mode: the probe library to put the uprobes on\n"
	"                         at start, so that a first process's first calls\n"
	"                         count (default: that of the first process seen)\n"
	"      --max-targets N    processes followed at once in follow mode\n"
	"                         (default 64)\n"
	"  -l, --listen ADDR:PORT HTTP listen address (default " DEFAULT_LISTEN ");\n"
	"                         [ADDR]:PORT for IPv6\n"
	"      --max-series N     label sets kept per family before \"__overflow__\"\n"
	"                         (default 4096)\n"
	"      --max-custom-names N\n"
	"                         custom metric names kept before \"__overflow__\"\n"
	"                         (default 256)\n"
	"      --max-open N       begins awaiting their end, threads doing file\n"
	"                         syscalls and SQLite statements not finalized\n"
	"                         (default 4096)\n"
	"      --open-ttl S       a begin whose end has not come in S seconds\n"
	"                         expires, its slot freed (default 3600; 0: never)\n"
	"      --control-token T  POST /control/disable and /control/enable need\n"
	"                         \"Authorization: Bearer T\" (default: from\n"
	"                         loopback only, without a token)\n"
	"      --file-root DIR    count file operations under DIR only (repeatable,\n"
	"                         at most 8); default: every regular file\n"
	"      --max-files N      slots for what was judged of descriptors (default 65536)\n"
	"      --span-min-io-us N file and SQLite spans shorter than N us are not\n"
	"                         emitted (their metrics stay exact; default 0)\n"
	"      --span-sql-text    add db.query.text (127 bytes at most) to SQLite spans\n"
	"      --span-ring-size N bytes of the span ring buffer, a power of two\n"
	"                         (default 1 MiB)\n"
	"      --gen-ai-prices FILE\n"
	"                         model prices: lines \"MODEL INPUT OUTPUT\n"
	"                         [CACHED_INPUT]\", USD per million tokens; adds\n"
	"                         aet_gen_ai_cost_usd_total (README, \"Model calls\")\n"
	"      --audit EVENTS     count the target's CPython audit events these\n"
	"                         comma-separated names match (at most 16): an\n"
	"                         event equal to a name, or whose part before a dot\n"
	"                         is (\"socket\" matches socket.connect); with\n"
	"                         tracing, each is an event of the span open on its\n"
	"                         thread. Default: none, the probe not attached\n"
	"      --http-max-connections N\n"
	"                         HTTP connections served at once (default 64); past\n"
	"                         it the one waiting longest for its request is closed\n"
	"      --http-max-per-ip N\n"
	"                         the same from one client address (default 16)\n"
	"      --http-timeout S   seconds a client has to send a request and read its\n"
	"                         answer, and may stay idle (default 10)\n"
	"      --http-max-request-bytes N\n"
	"                         memory for a request line and headers (default\n"
	"                         32768): more is answered 431 (414 for the URL);\n"
	"                         a request with a body 413\n"
	"      --uprobe-spot SPOT where the uprobes sit in each probe function: nop5,\n"
	"                         push (the push %rbp after it) or auto (default:\n"
	"                         the cheaper, measured at start)\n"
	"      --require LIST     the probe families (probes, processes, files, sqlite,\n"
	"                         http, python, custom; comma-separated) without\n"
	"                         which the collector does not start and /ready\n"
	"                         fails (default: probes, and processes in follow\n"
	"                         mode); the others may fail alone, reported in\n"
	"                         /status\n"
	"      --disable LIST     the probe families not to load at all (same names;\n"
	"                         default: none, or AET_COLLECTOR_DISABLE): what\n"
	"                         they would cost the target is not paid\n"
	"      --bpf-build BUILD  the BPF programs to load: native (Linux 5.12 and\n"
	"                         later), compat (5.8 and later, slower) or auto\n"
	"                         (default: native where the kernel takes it)\n"
	"      --btf FILE         kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
	"      --log-level LEVEL  error, warn, info (default) or debug\n"
	"      --check            attach nothing: say what would work on this host, and\n"
	"                         why (kernel, BTF, BPF build, tracefs, capabilities,\n"
	"                         each probe family; with --pid, the target's\n"
	"                         libraries); exit 0 when every required family would\n"
	"                         attach, else 1\n"
	"      --json             with --check: the same as one JSON object\n"
	"  -h, --help             print this help and exit\n"
	"  -V, --version          print the version and exit\n"
	"\n"
	"Tracing is configured by the OpenTelemetry environment variables\n"
	"(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, ...): see the README.\n"
	"Endpoints: /metrics /health /ready /status /\n"
	"Exit status: 0 on SIGTERM or SIGINT, 2 when the collector cannot start;\n"
	"--check: 0 when every required family would attach, else 1.\n";

const char *const probe_family_names[PFAM_MAX] = { "probes", "processes", "files", "sqlite",
						   "http",   "python",	  "custom" };

enum {
	OPT_MAX_SERIES = 256,
	OPT_MAX_CUSTOM_NAMES,
	OPT_MAX_OPEN,
	OPT_OPEN_TTL,
	OPT_CONTROL_TOKEN,
	OPT_MAX_FILES,
	OPT_FILE_ROOT,
	OPT_BTF,
	OPT_LOG_LEVEL,
	OPT_SPAN_MIN_IO,
	OPT_SPAN_SQL_TEXT,
	OPT_SPAN_RING_SIZE,
	OPT_HTTP_MAX_CONNS,
	OPT_HTTP_MAX_PER_IP,
	OPT_HTTP_TIMEOUT,
	OPT_HTTP_MAX_REQUEST,
	OPT_COMM,
	OPT_EXE,
	OPT_MAX_TARGETS,
	OPT_LIBRARY,
	OPT_UPROBE_SPOT,
	OPT_BPF_BUILD,
	OPT_REQUIRE,
	OPT_DISABLE,
	OPT_CHECK,
	OPT_JSON,
	OPT_GEN_AI_PRICES,
	OPT_AUDIT,
};

static const struct option long_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "comm", required_argument, NULL, OPT_COMM },
	{ "exe", required_argument, NULL, OPT_EXE },
	{ "max-targets", required_argument, NULL, OPT_MAX_TARGETS },
	{ "library", required_argument, NULL, OPT_LIBRARY },
	{ "uprobe-spot", required_argument, NULL, OPT_UPROBE_SPOT },
	{ "bpf-build", required_argument, NULL, OPT_BPF_BUILD },
	{ "require", required_argument, NULL, OPT_REQUIRE },
	{ "disable", required_argument, NULL, OPT_DISABLE },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "listen", required_argument, NULL, 'l' },
	{ "max-series", required_argument, NULL, OPT_MAX_SERIES },
	{ "max-custom-names", required_argument, NULL, OPT_MAX_CUSTOM_NAMES },
	{ "max-open", required_argument, NULL, OPT_MAX_OPEN },
	{ "open-ttl", required_argument, NULL, OPT_OPEN_TTL },
	{ "control-token", required_argument, NULL, OPT_CONTROL_TOKEN },
	{ "max-files", required_argument, NULL, OPT_MAX_FILES },
	{ "file-root", required_argument, NULL, OPT_FILE_ROOT },
	{ "btf", required_argument, NULL, OPT_BTF },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "span-min-io-us", required_argument, NULL, OPT_SPAN_MIN_IO },
	{ "span-sql-text", no_argument, NULL, OPT_SPAN_SQL_TEXT },
	{ "span-ring-size", required_argument, NULL, OPT_SPAN_RING_SIZE },
	{ "gen-ai-prices", required_argument, NULL, OPT_GEN_AI_PRICES },
	{ "audit", required_argument, NULL, OPT_AUDIT },
	{ "http-max-connections", required_argument, NULL, OPT_HTTP_MAX_CONNS },
	{ "http-max-per-ip", required_argument, NULL, OPT_HTTP_MAX_PER_IP },
	{ "http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT },
	{ "http-max-request-bytes", required_argument, NULL, OPT_HTTP_MAX_REQUEST },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{},
};

/* Parses a decimal in [min, max]. Returns 0 or -EINVAL. */
static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || *out < min || *out > max)
		return -EINVAL;
	return 0;
}

/* The option values of enum uprobe_spot and enum bpf_build. */
static const char *const spot_names[] = {
	[SPOT_AUTO] = "auto", [SPOT_NOP5] = "nop5", [SPOT_PUSH_RBP] = "push"
};
static const char *const build_names[] = {
	[BUILD_AUTO] = "auto", [BUILD_NATIVE] = "native", [BUILD_COMPAT] = "compat"
};

/* The index of s among n names, or -1. */
static int parse_choice(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* "probes,files": a bit per family named; "" is none. Returns 0 or -EINVAL. */
/* Appends "probes, processes, ...", the names --require and --disable
 * take, to the string in buf. */
static void family_list(char *buf, size_t len)
{
	for (int f = 0; f < PFAM_MAX; f++) {
		size_t n = strlen(buf);

		snprintf(buf + n, len - n, "%s%s", f ? ", " : "", probe_family_names[f]);
	}
}

static int parse_families(const char *s, uint32_t *out)
{
	*out = 0;
	while (*s) {
		size_t n = strcspn(s, ",");
		int f;

		for (f = 0; f < PFAM_MAX; f++)
			if (strlen(probe_family_names[f]) == n &&
			    !strncmp(s, probe_family_names[f], n))
				break;
		if (f == PFAM_MAX)
			return -EINVAL;
		*out |= 1u << f;
		s += n + (s[n] == ',');
	}
	return 0;
}

int config_parse_listen(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *colon, *h = s;
	unsigned long port;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		colon = strstr(s, "]:");
		if (!colon)
			return -EINVAL;
		h = s + 1;
		n = colon - h;
		colon++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		n = colon - s;
	}
	if (n == 0 || n >= sizeof(host) || parse_ulong(colon + 1, 1, 65535, &port))
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		return 0;
	}
	if (*s == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

uint32_t config_open_slots(const struct config *cfg)
{
	uint32_t p = 1;

	while (p < cfg->max_open)
		p <<= 1;
	return p;
}

/* The long name of option opt, for messages whatever spelling was used. */
static const char *opt_name(int opt)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

static void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	config_parse_listen(DEFAULT_LISTEN, &cfg->listen);
	snprintf(cfg->listen_str, sizeof(cfg->listen_str), "%s", DEFAULT_LISTEN);
	cfg->max_series = DEFAULT_MAX_SERIES;
	cfg->max_custom_names = DEFAULT_MAX_CUSTOM_NAMES;
	cfg->max_open = DEFAULT_MAX_OPEN;
	cfg->open_ttl_s = DEFAULT_OPEN_TTL_S;
	cfg->max_files = DEFAULT_MAX_FILES;
	cfg->log_level = LOG_INFO;
	cfg->span_ring_size = DEFAULT_SPAN_RING;
	cfg->http_max_conns = DEFAULT_HTTP_MAX_CONNS;
	cfg->http_max_per_ip = DEFAULT_HTTP_MAX_PER_IP;
	cfg->http_timeout_s = DEFAULT_HTTP_TIMEOUT_S;
	cfg->http_max_request = DEFAULT_HTTP_MAX_REQUEST;
	cfg->max_targets = DEFAULT_MAX_TARGETS;
	cfg->require = DEFAULT_REQUIRE;
}

/* The numeric options: each a uint32_t of struct config, in [min, max]. */
static const struct number_opt {
	int opt;
	size_t off;
	unsigned long min, max;
	const char *unit; /* what the value counts, for messages */
} number_opts[] = {
	{ OPT_MAX_TARGETS, offsetof(struct config, max_targets), 1, CONFIG_MAX_TARGETS,
	  "a number" },
	{ OPT_MAX_SERIES, offsetof(struct config, max_series), 1, 1UL << 20, "a number" },
	{ OPT_MAX_CUSTOM_NAMES, offsetof(struct config, max_custom_names), 1, 1UL << 16,
	  "a number" },
	{ OPT_MAX_OPEN, offsetof(struct config, max_open), 1, 1UL << 20, "a number" },
	{ OPT_OPEN_TTL, offsetof(struct config, open_ttl_s), 0, 30 * 86400, "seconds" },
	{ OPT_MAX_FILES, offsetof(struct config, max_files), 1, 1UL << 22, "a number" },
	{ OPT_SPAN_MIN_IO, offsetof(struct config, span_min_io_us), 0, 60000000, "microseconds" },
	/* a power of two of pages, as BPF ring buffers are */
	{ OPT_SPAN_RING_SIZE, offsetof(struct config, span_ring_size), 4096, 1UL << 30,
	  "a power of two of bytes" },
	{ OPT_HTTP_MAX_CONNS, offsetof(struct config, http_max_conns), 1, CONFIG_HTTP_CONNS_MAX,
	  "a number" },
	{ OPT_HTTP_MAX_PER_IP, offsetof(struct config, http_max_per_ip), 1, CONFIG_HTTP_CONNS_MAX,
	  "a number" },
	{ OPT_HTTP_TIMEOUT, offsetof(struct config, http_timeout_s), 1, 3600, "seconds" },
	/* the pool holds the answer's headers too: 4 KiB at least */
	{ OPT_HTTP_MAX_REQUEST, offsetof(struct config, http_max_request), 4096, 1UL << 20,
	  "bytes" },
};

static const struct number_opt *number_opt(int opt)
{
	for (size_t i = 0; i < sizeof(number_opts) / sizeof(number_opts[0]); i++)
		if (number_opts[i].opt == opt)
			return &number_opts[i];
	return NULL;
}

/* What option opt takes, for the message of a value it refuses. */
static void opt_expects(int opt, char *buf, size_t len)
{
	const struct number_opt *n = number_opt(opt);

	if (n) {
		snprintf(buf, len, "%s from %lu to %lu", n->unit, n->min, n->max);
		return;
	}
	switch (opt) {
	case 'p':
		snprintf(buf, len, "the process id of AET, a number from 1 to %d", INT_MAX);
		break;
	case OPT_COMM:
		snprintf(buf, len, "a process name of 1 to 15 bytes, as in /proc/PID/comm");
		break;
	case OPT_EXE:
	case OPT_LIBRARY:
		snprintf(buf, len, "an absolute path");
		break;
	case OPT_FILE_ROOT:
		snprintf(buf, len, "an absolute path of at most 126 bytes");
		break;
	case OPT_UPROBE_SPOT:
		snprintf(buf, len, "nop5, push or auto");
		break;
	case OPT_BPF_BUILD:
		snprintf(buf, len, "native, compat or auto");
		break;
	case OPT_REQUIRE:
	case OPT_DISABLE:
		snprintf(buf, len, "probe families separated by commas: ");
		family_list(buf, len);
		break;
	case 'l':
		snprintf(buf, len, "ADDR:PORT, or [ADDR]:PORT for IPv6, with a numeric address");
		break;
	case OPT_LOG_LEVEL:
		snprintf(buf, len, "error, warn, info or debug");
		break;
	case OPT_AUDIT:
		snprintf(buf, len,
			 "at most %d comma-separated names of 1 to %d letters, digits, '_' and "
			 "'.', not beginning or ending with '.'",
			 CONFIG_MAX_AUDIT, CONFIG_AUDIT_LEN - 1);
		break;
	default:
		snprintf(buf, len, "a value that is not empty");
	}
}

static int set_number(struct config *cfg, const struct number_opt *n, const char *arg)
{
	unsigned long v;

	if (parse_ulong(arg, n->min, n->max, &v))
		return -EINVAL;
	if (n->opt == OPT_SPAN_RING_SIZE && (v & (v - 1)))
		return -EINVAL;
	*(uint32_t *)((char *)cfg + n->off) = (uint32_t)v;
	return 0;
}

/* What to attach to: a pid, or the processes to follow. Returns 0 or -EINVAL. */
static int set_target(struct config *cfg, int opt, const char *arg)
{
	unsigned long v;

	switch (opt) {
	case 'p':
		if (parse_ulong(arg, 1, INT_MAX, &v))
			return -EINVAL;
		cfg->pid = (int)v;
		return 0;
	case OPT_COMM: /* the kernel keeps 15 bytes of a name */
		if (!*arg || strlen(arg) > 15)
			return -EINVAL;
		cfg->follow_comm = arg;
		return 0;
	case OPT_EXE:
	case OPT_LIBRARY:
		if (arg[0] != '/')
			return -EINVAL;
		*(opt == OPT_EXE ? &cfg->follow_exe : &cfg->follow_library) = arg;
		return 0;
	}
	return -EINVAL;
}

/* The options whose value is one of a few names. Returns 0 or -EINVAL. */
static int set_choice(struct config *cfg, int opt, const char *arg)
{
	int i;

	switch (opt) {
	case OPT_UPROBE_SPOT:
		i = parse_choice(arg, spot_names, sizeof(spot_names) / sizeof(*spot_names));
		if (i < 0)
			return -EINVAL;
		cfg->uprobe_spot = (enum uprobe_spot)i;
		return 0;
	case OPT_BPF_BUILD:
		i = parse_choice(arg, build_names, sizeof(build_names) / sizeof(*build_names));
		if (i < 0)
			return -EINVAL;
		cfg->bpf_build = (enum bpf_build)i;
		return 0;
	case OPT_REQUIRE:
		cfg->require_given = true;
		return parse_families(arg, &cfg->require);
	case OPT_DISABLE:
		cfg->disable_by = "--disable";
		return parse_families(arg, &cfg->disable);
	case OPT_LOG_LEVEL:
		cfg->log_level = log_parse_level(arg);
		return cfg->log_level < 0 ? -EINVAL : 0;
	}
	return -EINVAL;
}

/* --audit's names, into cfg->audit. Returns 0 or -EINVAL. */
static int set_audit(struct config *cfg, const char *arg)
{
	int n = 0;

	for (const char *p = arg;; p++) {
		size_t len = strcspn(p, ",");

		if (!len || len >= CONFIG_AUDIT_LEN || n == CONFIG_MAX_AUDIT || p[0] == '.' ||
		    p[len - 1] == '.')
			return -EINVAL;
		for (size_t i = 0; i < len; i++)
			if (!isalnum((unsigned char)p[i]) && p[i] != '_' && p[i] != '.')
				return -EINVAL;
		memcpy(cfg->audit[n], p, len);
		cfg->audit[n++][len] = '\0';
		p += len;
		if (!*p)
			break;
	}
	cfg->naudit = n;
	return 0;
}

/* The options that are no number. Returns 0 or -EINVAL. */
static int set_other(struct config *cfg, int opt, const char *arg)
{
	switch (opt) {
	case 'p':
	case OPT_COMM:
	case OPT_EXE:
	case OPT_LIBRARY:
		return set_target(cfg, opt, arg);
	case OPT_UPROBE_SPOT:
	case OPT_BPF_BUILD:
	case OPT_REQUIRE:
	case OPT_DISABLE:
	case OPT_LOG_LEVEL:
		return set_choice(cfg, opt, arg);
	case 'l':
		if (strlen(arg) >= sizeof(cfg->listen_str) ||
		    config_parse_listen(arg, &cfg->listen))
			return -EINVAL;
		snprintf(cfg->listen_str, sizeof(cfg->listen_str), "%s", arg);
		return 0;
	case OPT_CONTROL_TOKEN:
		cfg->control_token = arg;
		return *arg ? 0 : -EINVAL;
	case OPT_FILE_ROOT: /* absolute, at most 126 bytes: matched in the kernel (files.bpf.c) */
		if (arg[0] != '/' || strlen(arg) > 126)
			return -EINVAL;
		cfg->file_roots[cfg->nfile_roots++] = arg;
		return 0;
	case OPT_BTF:
		cfg->btf_path = arg;
		return 0;
	case OPT_GEN_AI_PRICES: /* read at start (user/main.c) */
		cfg->gen_ai_prices_path = arg;
		return *arg ? 0 : -EINVAL;
	case OPT_SPAN_SQL_TEXT:
		cfg->span_sql_text = true;
		return 0;
	case OPT_AUDIT:
		return set_audit(cfg, arg);
	case OPT_CHECK:
		cfg->check = true;
		return 0;
	case OPT_JSON:
		cfg->json = true;
		return 0;
	}
	return -EINVAL;
}

/* One option and its value; fills err when it refuses them. */
static enum config_result set_option(struct config *cfg, int opt, char **argv, char *err,
				     size_t len)
{
	const struct number_opt *n = number_opt(opt);
	char expects[128];

	switch (opt) {
	case 'h':
		return CONFIG_HELP;
	case 'V':
		return CONFIG_VERSION;
	case ':':
		snprintf(err, len, "option --%s needs a value", opt_name(optopt));
		return CONFIG_ERROR;
	case '?':
		snprintf(err, len, "unknown option '%s' (see --help)", argv[optind - 1]);
		return CONFIG_ERROR;
	case OPT_FILE_ROOT:
		if (cfg->nfile_roots == CONFIG_MAX_ROOTS) {
			snprintf(err, len, "at most %d --file-root", CONFIG_MAX_ROOTS);
			return CONFIG_ERROR;
		}
		break;
	}
	if (!(n ? set_number(cfg, n, optarg) : set_other(cfg, opt, optarg)))
		return CONFIG_RUN;
	/* $(pgrep ...) that found nothing gives an empty pid. */
	if (opt == 'p' && !*optarg) {
		snprintf(err, len,
			 "--pid is empty: no pid was given (when it comes from pgrep, no process "
			 "matched: check that AET runs, and the pattern)");
		return CONFIG_ERROR;
	}
	opt_expects(opt, expects, sizeof(expects));
	snprintf(err, len, "invalid value '%s' for --%s: %s (see --help)", optarg, opt_name(opt),
		 expects);
	return CONFIG_ERROR;
}

/* --disable, or AET_COLLECTOR_DISABLE without it (the unit's and the
 * DaemonSet's way), against what must run. Returns 0 or -EINVAL with err. */
static int check_disable(struct config *cfg, char *err, size_t len)
{
	const char *env = getenv("AET_COLLECTOR_DISABLE");
	uint32_t clash;

	if (!cfg->disable_by && env && *env) {
		if (parse_families(env, &cfg->disable)) {
			snprintf(err, len,
				 "AET_COLLECTOR_DISABLE: \"%s\" is not probe families separated "
				 "by commas: ",
				 env);
			family_list(err, len);
			return -EINVAL;
		}
		cfg->disable_by = "AET_COLLECTOR_DISABLE";
	}
	if (cfg->disable == (1u << PFAM_MAX) - 1) {
		snprintf(err, len, "%s names every probe family: nothing would be observed",
			 cfg->disable_by);
		return -EINVAL;
	}
	/* The default --require gives way; one asked for does not. */
	if (!cfg->require_given)
		cfg->require &= ~(cfg->disable & DEFAULT_REQUIRE);
	clash = cfg->require & cfg->disable;
	if (!clash)
		return 0;
	for (int f = 0; f < PFAM_MAX; f++) {
		if (!(clash & 1u << f))
			continue;
		snprintf(err, len, "%s %s, but %s", cfg->disable_by, probe_family_names[f],
			 f == PFAM_PROCESSES && (cfg->follow_comm || cfg->follow_exe)
				 ? "follow mode (--comm, --exe) needs it to see processes start"
				 : "--require names it too");
		break;
	}
	return -EINVAL;
}

/* What the options say together. */
static enum config_result check_options(struct config *cfg, char *err, size_t len)
{
	const char *env = getenv("AET_METRICS_ENABLED");
	int on = env ? otel_parse_bool(env) : 1;

	if (on < 0) {
		snprintf(err, len, "AET_METRICS_ENABLED: \"%s\" is not true or false", env);
		return CONFIG_ERROR;
	}
	cfg->start_disabled = !on;
	/* One address can have at most every connection. */
	if (cfg->http_max_per_ip > cfg->http_max_conns)
		cfg->http_max_per_ip = cfg->http_max_conns;
	if (cfg->json && !cfg->check) {
		snprintf(err, len, "--json is for --check (see --help)");
		return CONFIG_ERROR;
	}
	/* --check may look at a target, or only at the host. */
	if (!!cfg->pid + !!cfg->follow_comm + !!cfg->follow_exe != 1 &&
	    !(cfg->check && !cfg->pid && !cfg->follow_comm && !cfg->follow_exe)) {
		snprintf(err, len, "%s (see --help)",
			 cfg->pid || cfg->follow_comm || cfg->follow_exe
				 ? "--pid, --comm and --exe exclude one another"
				 : "--pid PID, --comm NAME or --exe PATH is required");
		return CONFIG_ERROR;
	}
	/* Follow mode cannot see a new process without the process programs. */
	if (cfg->follow_comm || cfg->follow_exe)
		cfg->require |= 1u << PFAM_PROCESSES;
	if (check_disable(cfg, err, len))
		return CONFIG_ERROR;
	if (cfg->pid && cfg->follow_library) {
		snprintf(err, len, "--library is for follow mode (--comm, --exe) (see --help)");
		return CONFIG_ERROR;
	}
	return CONFIG_RUN;
}

#define NOPTS (sizeof(long_opts) / sizeof(long_opts[0]))

/* An option of one value given twice (--listen a --listen b): which is
 * meant is not for the collector to guess. --file-root adds a root each
 * time; a flag twice is the flag. Returns CONFIG_RUN or CONFIG_ERROR. */
static enum config_result given_once(int opt, const char *first[NOPTS], char *err, size_t len)
{
	size_t i;

	for (i = 0; i < NOPTS - 1 && long_opts[i].val != opt; i++)
		;
	if (i == NOPTS - 1 || long_opts[i].has_arg != required_argument || opt == OPT_FILE_ROOT)
		return CONFIG_RUN;
	if (first[i]) {
		snprintf(err, len, "--%s given twice ('%s', then '%s'): give it once (see --help)",
			 long_opts[i].name, first[i], optarg);
		return CONFIG_ERROR;
	}
	first[i] = optarg;
	return CONFIG_RUN;
}

enum config_result config_parse(struct config *cfg, int argc, char **argv, char *err, size_t len)
{
	const char *first[NOPTS] = {};
	enum config_result r;
	int opt;

	config_defaults(cfg);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":p:l:hV", long_opts, NULL)) != -1) {
		r = given_once(opt, first, err, len);
		if (r == CONFIG_RUN)
			r = set_option(cfg, opt, argv, err, len);
		if (r != CONFIG_RUN)
			return r;
	}
	if (optind < argc) {
		snprintf(err, len, "unexpected argument '%s' (see --help)", argv[optind]);
		return CONFIG_ERROR;
	}
	return check_options(cfg, err, len);
}
