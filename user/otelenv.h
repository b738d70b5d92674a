/* SPDX-License-Identifier: MIT */
/*
 * Tracing configuration from the environment: the OpenTelemetry SDK
 * variables and those of the earlier in-process layer (docs/DESIGN.md, 8. Configuration).
 * Pure: values come through a getenv-like function, so tests pass their own.
 */
#ifndef AET_OTELENV_H
#define AET_OTELENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp.h"

#define OTELENV_MAX_HEADERS  16
#define OTELENV_MAX_RESOURCE 32

struct otel_header {
	char *name, *value; /* percent-decoded */
};

struct otel_config {
	bool enabled;	   /* tracing at all: false leaves the kernel's ring silent */
	char why_off[128]; /* when !enabled: which variable turned it off */
	bool otlp;	   /* the OTLP/HTTP exporter is on */
	bool console;	   /* OTEL_EXPORTER_CONSOLE=true, or OTEL_TRACES_EXPORTER has console */
	char *url;	   /* the full traces URL: ..._TRACES_ENDPOINT as is, else
			    * OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces" */
	struct otel_header headers[OTELENV_MAX_HEADERS];
	size_t nheaders;
	uint32_t timeout_ms; /* OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT, default 10000 */
	bool gzip;	     /* OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION: gzip (default) or none */
	int sampler;  /* enum span_sampler (include/spans_maps.h); default parentbased_always_on */
	double ratio; /* OTEL_TRACES_SAMPLER_ARG, default 1.0, in [0, 1] */
	/* Batch span processor (OTEL_BSP_*). */
	uint32_t max_queue;	    /* spans waiting for export, default 2048 */
	uint32_t max_batch;	    /* spans in one request, default 512 */
	uint32_t schedule_delay_ms; /* longest wait before a batch goes, default 5000 */
	uint32_t export_timeout_ms; /* a request's whole budget with retries, default 30000 */
	/* Resource: service.name, deployment.environment.name and
	 * OTEL_RESOURCE_ATTRIBUTES; the collector adds the rest. */
	char *service_name;
	struct otel_header resource[OTELENV_MAX_RESOURCE];
	size_t nresource;
};

typedef const char *(*otel_getenv_fn)(const char *name);

/* Parses the environment through get (getenv in the daemon). Returns 0, or
 * -EINVAL with err naming the variable and what is wrong with it (an
 * unknown sampler, a ratio outside [0, 1], a malformed header list, an
 * unknown compression, an endpoint that is not http:// or https://), or
 * -ENOMEM; then c holds nothing to free. When tracing is off (enabled
 * false) nothing past the variable that turned it off is read or checked,
 * and the fields keep their defaults. OTEL_TRACES_EXPORTER, when set,
 * decides whether OTLP is on (an endpoint alone does not); unset, an
 * endpoint turns it on. A service.name in resource[] always equals
 * service_name (OTEL_SERVICE_NAME wins over the attribute). */
int otel_config_parse(struct otel_config *c, otel_getenv_fn get, char *err, size_t len);
void otel_config_free(struct otel_config *c);

/* The OTEL_TRACES_SAMPLER value of enum span_sampler sampler. */
const char *otel_sampler_name(int sampler);

/* An AET_*_ENABLED value as the earlier layer read it: true, 1, yes, on or
 * false, 0, no, off, any case. Returns 1, 0 or -EINVAL. */
int otel_parse_bool(const char *s);

#endif /* AET_OTELENV_H */
