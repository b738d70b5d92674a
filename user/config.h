/* SPDX-License-Identifier: MIT */
/* Command-line configuration. Pure: parsing has no side effects. */
#ifndef AET_CONFIG_H
#define AET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DEFAULT_LISTEN	    "127.0.0.1:9478"
#define DEFAULT_MAX_SERIES  4096
#define DEFAULT_MAX_OPEN    4096
#define DEFAULT_OPEN_TTL_S  3600
#define DEFAULT_MAX_FILES   65536
#define DEFAULT_SPAN_RING   (1u << 20)
#define CONFIG_MAX_ROOTS    8 /* MAX_FILE_ROOTS of include/files_maps.h */
#define DEFAULT_MAX_TARGETS 64
#define CONFIG_MAX_TARGETS  4096
#define CONFIG_MAX_AUDIT    16 /* PY_AUDIT_FILTERS of include/python_maps.h */
#define CONFIG_AUDIT_LEN    64 /* PY_AUDIT_NAME_LEN: a name and its NUL */

/* Custom metric names kept (the custom family). */
#define DEFAULT_MAX_CUSTOM_NAMES 256

/* The HTTP endpoint's limits: enough for Prometheus, a few curls and a
 * dashboard (user/http.c says how each is enforced). */
#define DEFAULT_HTTP_MAX_CONNS	 64
#define DEFAULT_HTTP_MAX_PER_IP	 16
#define DEFAULT_HTTP_TIMEOUT_S	 10
#define DEFAULT_HTTP_MAX_REQUEST (32 * 1024)
#define CONFIG_HTTP_CONNS_MAX	 1000 /* libmicrohttpd may hold twice as many sockets */

/* The probe families: each loads and attaches, or fails, on its own. */
enum probe_family {
	PFAM_PROBES,	/* uprobes on the AET probe functions */
	PFAM_PROCESSES, /* forks, exits, execs: the processes followed */
	PFAM_FILES,	/* syscall tracepoints: file operations */
	PFAM_SQLITE,	/* uprobes on libsqlite3 */
	PFAM_HTTP,	/* libssl uprobes and socket syscalls: HTTP client requests */
	PFAM_PYTHON,	/* USDT probes of the target's interpreter: its GC */
	PFAM_CUSTOM,	/* uprobes on the custom metric functions (probe ABI 2) */
	PFAM_MAX,
};
#define DEFAULT_REQUIRE (1u << PFAM_PROBES)
extern const char *const probe_family_names[PFAM_MAX];

struct genai_prices; /* user/genai_prices.h */

/* --bpf-build: which build of the BPF objects to load (bpf/compat.bpf.h). */
enum bpf_build { BUILD_AUTO, BUILD_NATIVE, BUILD_COMPAT };

/* --uprobe-spot: where in each probe function the uprobes sit. */
enum uprobe_spot { SPOT_AUTO, SPOT_NOP5, SPOT_PUSH_RBP };

struct config {
	struct sockaddr_storage listen;		  /* AF_INET or AF_INET6 */
	char listen_str[64];			  /* as given, for messages */
	const char *btf_path;			  /* NULL: the kernel's own BTF */
	uint32_t max_series;			  /* label sets per bounded family */
	uint32_t max_custom_names;		  /* custom metric names */
	uint32_t max_open;			  /* open begins awaiting their end */
	uint32_t open_ttl_s;			  /* a begin expires after it; 0: never */
	const char *control_token;		  /* NULL: /control/... from loopback only */
	bool start_disabled;			  /* AET_METRICS_ENABLED=false */
	uint32_t max_files;			  /* regular files open in the targets */
	const char *file_roots[CONFIG_MAX_ROOTS]; /* --file-root, as given */
	int nfile_roots;
	uint32_t span_min_io_us; /* file and db spans shorter are not emitted */
	uint32_t span_ring_size; /* bytes, a power of two */
	bool span_sql_text;	 /* db.query.text on SQLite spans */

	uint32_t http_max_conns;    /* connections served at once */
	uint32_t http_max_per_ip;   /* of them from one client address */
	uint32_t http_timeout_s;    /* to send a request and take its answer */
	uint32_t http_max_request;  /* bytes of request line and headers (MHD's pool) */
	int pid;		    /* 0 in follow mode */
	const char *follow_comm;    /* --comm NAME: follow mode by name */
	const char *follow_exe;	    /* --exe PATH: follow mode by executable */
	const char *follow_library; /* --library PATH: uprobes there from the start */
	uint32_t max_targets;	    /* processes followed at once (follow mode) */
	enum uprobe_spot uprobe_spot;
	enum bpf_build bpf_build;
	uint32_t require; /* bit per enum probe_family: --require */
	bool require_given;
	uint32_t disable;	/* bit per enum probe_family: not loaded */
	const char *disable_by; /* "--disable", "AET_COLLECTOR_DISABLE" or NULL */
	int log_level;
	bool check; /* --check: say what would work, attach nothing */
	bool json;  /* --json: --check's report as JSON */

	/* --audit: CPython audit event names or their parts before a dot */
	char audit[CONFIG_MAX_AUDIT][CONFIG_AUDIT_LEN];
	int naudit; /* 0: the audit probe is not attached */

	const char *gen_ai_prices_path; /* --gen-ai-prices FILE, or NULL */
	/* Read from it at start (user/main.c), not by parsing: parsing has no side effects. */
	const struct genai_prices *gen_ai_prices;
};

enum config_result {
	CONFIG_RUN,	/* run the collector */
	CONFIG_HELP,	/* --help: print usage, exit 0 */
	CONFIG_VERSION, /* --version: print the version, exit 0 */
	CONFIG_ERROR,	/* err holds one line naming the problem */
};

/* Whether the probes family is wanted: the target must map the probe
 * library. (The custom family, on the same library, fails alone without
 * it, as the others do without their libraries.) */
static inline bool probes_wanted(const struct config *cfg)
{
	return !(cfg->disable & 1u << PFAM_PROBES);
}

enum config_result config_parse(struct config *cfg, int argc, char **argv, char *err, size_t len);

/* The open slots for --max-open: the next power of two, so that the
 * programs index them with a mask. The probe and span objects must agree. */
uint32_t config_open_slots(const struct config *cfg);

/* A quarter of --max-open, at least 256: what is per connection or per
 * thread (the http family's connections, the files family's threads in a
 * syscall) rather than per begin. */
static inline uint32_t config_open_quarter(const struct config *cfg)
{
	return cfg->max_open / 4 > 256 ? cfg->max_open / 4 : 256;
}

/* Parses "ADDR:PORT" (IPv4) or "[ADDR]:PORT" (IPv6). Returns 0 or -EINVAL. */
int config_parse_listen(const char *s, struct sockaddr_storage *ss);

extern const char config_usage[];

#endif /* AET_CONFIG_H */
