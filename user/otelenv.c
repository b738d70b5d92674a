// SPDX-License-Identifier: MIT
/*
 * The OpenTelemetry SDK environment variables
 * (opentelemetry-specification, configuration/sdk-environment-variables.md
 * and protocol/exporter.md), plus the earlier layer's AET_TRACING_ENABLED,
 * OTEL_EXPORTER_CONSOLE and ENVIRONMENT. An empty value counts as unset, as
 * the specification asks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <linux/types.h>
#include "spans_maps.h"

#include "otelenv.h"

#define DEFAULT_SERVICE	 "aet"
#define DEFAULT_ENDPOINT "http://localhost:4318"
#define TRACES_PATH	 "/v1/traces"
#define ENV_ATTR	 "deployment.environment.name"

static const char *env(otel_getenv_fn get, const char *name)
{
	const char *v = get(name);

	return v && *v ? v : NULL;
}

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int no_memory(char *err, size_t len)
{
	snprintf(err, len, "out of memory");
	return -ENOMEM;
}

/* The first variable of two that is set: the signal-specific one wins. */
static const char *env2(otel_getenv_fn get, const char *traces, const char *all, const char **name)
{
	const char *v = env(get, traces);

	*name = traces;
	if (!v) {
		v = env(get, all);
		*name = all;
	}
	return v;
}

int otel_parse_bool(const char *s)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i]))
			return 1;
		if (!strcasecmp(s, no[i]))
			return 0;
	}
	return -EINVAL;
}

/* The switches that turn tracing off whatever else is set. */
static int parse_switches(struct otel_config *c, otel_getenv_fn get, char *err, size_t len)
{
	const char *v = env(get, "OTEL_SDK_DISABLED");
	int on;

	/* The specification: only "true" (any case) is true, anything else false. */
	if (v && !strcasecmp(v, "true")) {
		snprintf(c->why_off, sizeof(c->why_off), "OTEL_SDK_DISABLED=true");
		return 0;
	}
	v = env(get, "AET_TRACING_ENABLED");
	on = v ? otel_parse_bool(v) : 1;
	if (on < 0)
		return fail(err, len, "AET_TRACING_ENABLED: \"%s\" is not true or false", v);
	if (!on) {
		snprintf(c->why_off, sizeof(c->why_off), "AET_TRACING_ENABLED=%s", v);
		return 0;
	}
	c->enabled = true;
	return 0;
}

static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Trims spaces and tabs around s[0..*n). */
static const char *trim(const char *s, size_t *n)
{
	while (*n && is_ws(*s)) {
		s++;
		(*n)--;
	}
	while (*n && is_ws(s[*n - 1]))
		(*n)--;
	return s;
}

/* Splits the next comma-separated member off *p into s[0..*n), trimmed.
 * Returns false at the end of the list. */
static bool next_member(const char **p, const char **s, size_t *n)
{
	const char *start = *p, *comma;

	if (!*start)
		return false;
	comma = strchr(start, ',');
	*n = comma ? (size_t)(comma - start) : strlen(start);
	*p = comma ? comma + 1 : start + *n;
	*s = trim(start, n);
	return true;
}

/* OTEL_TRACES_EXPORTER, then the earlier layer's variables. Returns 0 or -EINVAL. */
static int parse_exporters(struct otel_config *c, otel_getenv_fn get, char *err, size_t len)
{
	const char *list = env(get, "OTEL_TRACES_EXPORTER"), *p = list, *s;
	const char *console = env(get, "OTEL_EXPORTER_CONSOLE");
	size_t n;

	c->console = console && !strcasecmp(console, "true");
	if (!list) {
		/* The earlier layer: an endpoint alone turns OTLP on. */
		c->otlp = env(get, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ||
			  env(get, "OTEL_EXPORTER_OTLP_ENDPOINT");
		return 0;
	}
	/* When given, the list decides: "none" turns OTLP off even with an
	 * endpoint set (a deployment may inject the endpoint everywhere). */
	while (next_member(&p, &s, &n)) {
		if (n == 4 && !strncasecmp(s, "otlp", 4))
			c->otlp = true;
		else if (n == 7 && !strncasecmp(s, "console", 7))
			c->console = true;
		else if (n && !(n == 4 && !strncasecmp(s, "none", 4)))
			return fail(err, len,
				    "OTEL_TRACES_EXPORTER: unsupported exporter \"%.*s\" "
				    "(otlp, console or none)",
				    (int)n, s);
	}
	return 0;
}

static bool is_http_url(const char *s)
{
	return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

/* The traces URL and the protocol. Returns 0, -EINVAL or -ENOMEM. */
static int parse_url(struct otel_config *c, otel_getenv_fn get, char *err, size_t len)
{
	const char *name, *v, *proto;
	size_t n;

	proto = env2(get, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL",
		     &name);
	if (proto && strcmp(proto, "http/protobuf"))
		return fail(err, len, "%s: \"%s\" is not supported, only http/protobuf", name,
			    proto);
	v = env(get, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	if (v) {
		if (!is_http_url(v))
			return fail(err, len,
				    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: \"%s\" does not start "
				    "with http:// or https://",
				    v);
		c->url = strdup(v);
		return c->url ? 0 : no_memory(err, len);
	}
	v = env(get, "OTEL_EXPORTER_OTLP_ENDPOINT");
	name = "OTEL_EXPORTER_OTLP_ENDPOINT";
	if (!v)
		v = DEFAULT_ENDPOINT;
	if (!is_http_url(v))
		return fail(err, len, "%s: \"%s\" does not start with http:// or https://", name,
			    v);
	/* The path is appended: a base ending in '/' must not give "//v1". */
	n = strlen(v);
	while (n && v[n - 1] == '/')
		n--;
	c->url = malloc(n + sizeof(TRACES_PATH));
	if (!c->url)
		return no_memory(err, len);
	memcpy(c->url, v, n);
	memcpy(c->url + n, TRACES_PATH, sizeof(TRACES_PATH));
	return 0;
}

static int hex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into a new string. A '%' not followed by two hex
 * digits, or one that makes a NUL, is malformed. Returns 0, -EINVAL or
 * -ENOMEM. */
static int pct_decode(const char *s, size_t n, char **out)
{
	char *d = malloc(n + 1), *o = d;

	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0 ||
		    !(hex(s[i + 1]) | hex(s[i + 2]))) {
			free(d);
			return -EINVAL;
		}
		*o++ = (char)(hex(s[i + 1]) << 4 | hex(s[i + 2]));
		i += 2;
	}
	*o = '\0';
	*out = d;
	return 0;
}

/* An HTTP field name: a token of RFC 9110 section 5.6.2. */
static bool is_token(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("!#$%&'*+-.^_`|~", s[i])))
			return false;
	return true;
}

/* No control character: a decoded CR or LF would end the header line. */
static bool is_field_value(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

/* Sets key to val in kv[0..*n), replacing an equal key (ignoring case when
 * nocase): takes both strings. Returns 0 or -ENOSPC (then frees them). */
static int kv_set(struct otel_header *kv, size_t *n, size_t max, char *key, char *val, bool nocase)
{
	for (size_t i = 0; i < *n; i++) {
		if (nocase ? strcasecmp(kv[i].name, key) : strcmp(kv[i].name, key))
			continue;
		free(kv[i].value);
		free(key);
		kv[i].value = val;
		return 0;
	}
	if (*n == max) {
		free(key);
		free(val);
		return -ENOSPC;
	}
	kv[*n].name = key;
	kv[(*n)++].value = val;
	return 0;
}

/* The key of a member: header names are tokens, kept as written; resource
 * keys are percent-decoded like the values. Returns 0, -EINVAL or -ENOMEM. */
static int member_key(const char *k, size_t n, bool header, char **out)
{
	int ret;

	if (header) {
		if (!is_token(k, n))
			return -EINVAL;
		*out = strndup(k, n);
		return *out ? 0 : -ENOMEM;
	}
	ret = pct_decode(k, n, out);
	if (!ret && !**out) {
		free(*out);
		ret = -EINVAL;
	}
	return ret;
}

/* A header value may not hold a control character once decoded: a CR or
 * LF would end the header line. */
static int member_value(const char *v, size_t n, bool header, char **out)
{
	int ret = pct_decode(v, n, out);

	if (!ret && header && !is_field_value(*out)) {
		free(*out);
		ret = -EINVAL;
	}
	return ret;
}

/* Splits the member s[0..n) at its '=' and decodes both sides. */
static int split_member(const char *s, size_t n, bool header, char **key, char **val)
{
	const char *eq = memchr(s, '=', n), *k, *v;
	size_t klen, vlen;
	int ret;

	if (!eq)
		return -EINVAL;
	klen = eq - s;
	vlen = n - klen - 1;
	k = trim(s, &klen);
	v = trim(eq + 1, &vlen);
	ret = member_key(k, klen, header, key);
	if (ret)
		return ret;
	ret = member_value(v, vlen, header, val);
	if (ret)
		free(*key);
	return ret;
}

/* A "k=v,k=v" list (W3C baggage without properties) into kv[0..*nkv); a
 * later key replaces an earlier one. Returns 0, -EINVAL or -ENOMEM. */
static int parse_kv_list(const char *name, const char *list, bool header, struct otel_header *kv,
			 size_t *nkv, size_t max, char *err, size_t len)
{
	const char *p = list, *s;
	char *key, *val;
	size_t n;
	int ret;

	while (next_member(&p, &s, &n)) {
		if (!n)
			continue; /* "a=1,,b=2" or a trailing comma */
		ret = split_member(s, n, header, &key, &val);
		if (ret == -ENOMEM)
			return no_memory(err, len);
		if (ret)
			return fail(err, len, "%s: malformed entry \"%.*s\"", name, (int)n, s);
		/* Header names are case-insensitive (RFC 9110), attribute keys not. */
		if (kv_set(kv, nkv, max, key, val, header))
			return fail(err, len, "%s: more than %zu entries", name, max);
	}
	return 0;
}

static int parse_headers(struct otel_config *c, otel_getenv_fn get, char *err, size_t len)
{
	static const char *const names[] = { "OTEL_EXPORTER_OTLP_HEADERS",
					     "OTEL_EXPORTER_OTLP_TRACES_HEADERS" };
	const char *v;
	int ret;

	/* The traces list second, so that its keys replace the general ones. */
	for (size_t i = 0; i < 2; i++) {
		v = env(get, names[i]);
		if (!v)
			continue;
		ret = parse_kv_list(names[i], v, true, c->headers, &c->nheaders,
				    OTELENV_MAX_HEADERS, err, len);
		if (ret)
			return ret;
	}
	return 0;
}

/* A positive decimal that fits in 32 bits. */
static int parse_u32(const char *s, uint32_t *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Sets *out from the variable when it is set, else leaves the default. */
static int env_u32(otel_getenv_fn get, const char *name, uint32_t *out, char *err, size_t len)
{
	const char *v = env(get, name);

	if (v && parse_u32(v, out))
		return fail(err, len, "%s: \"%s\" is not a positive integer", name, v);
	return 0;
}

static int parse_transport(struct otel_config *c, otel_getenv_fn get, char *err, size_t len)
{
	const char *name, *v;

	v = env2(get, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", &name);
	if (v && parse_u32(v, &c->timeout_ms))
		return fail(err, len, "%s: \"%s\" is not a positive number of milliseconds", name,
			    v);
	v = env2(get, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION",
		 &name);
	if (v && !strcasecmp(v, "none"))
		c->gzip = false;
	else if (v && strcasecmp(v, "gzip"))
		return fail(err, len, "%s: \"%s\" is not gzip or none", name, v);
	return 0;
}

static const struct {
	const char *name;
	int sampler;
} samplers[] = {
	{ "always_on", SAMPLER_ALWAYS_ON },
	{ "always_off", SAMPLER_ALWAYS_OFF },
	{ "traceidratio", SAMPLER_RATIO },
	{ "parentbased_always_on", SAMPLER_PARENT_ALWAYS_ON },
	{ "parentbased_always_off", SAMPLER_PARENT_ALWAYS_OFF },
	{ "parentbased_traceidratio", SAMPLER_PARENT_RATIO },
};

const char *otel_sampler_name(int sampler)
{
	for (size_t i = 0; i < sizeof(samplers) / sizeof(samplers[0]); i++)
		if (samplers[i].sampler == sampler)
			return samplers[i].name;
	return "unknown";
}

static int parse_sampler(struct otel_config *c, otel_getenv_fn get, char *err, size_t len)
{
	const char *v = env(get, "OTEL_TRACES_SAMPLER"), *arg;
	size_t i;
	char *end;

	for (i = 0; v && i < sizeof(samplers) / sizeof(samplers[0]); i++)
		if (!strcasecmp(v, samplers[i].name))
			break;
	if (v && i == sizeof(samplers) / sizeof(samplers[0]))
		return fail(err, len,
			    "OTEL_TRACES_SAMPLER: unknown sampler \"%s\" (always_on, always_off, "
			    "traceidratio, parentbased_always_on, parentbased_always_off, "
			    "parentbased_traceidratio)",
			    v);
	if (v)
		c->sampler = samplers[i].sampler;
	/* The argument means something to the ratio samplers only. */
	arg = env(get, "OTEL_TRACES_SAMPLER_ARG");
	if (!arg || (c->sampler != SAMPLER_RATIO && c->sampler != SAMPLER_PARENT_RATIO))
		return 0;
	errno = 0;
	c->ratio = strtod(arg, &end);
	/* The negated test also rejects NaN. */
	if (errno || *end || end == arg || !(c->ratio >= 0.0 && c->ratio <= 1.0))
		return fail(err, len, "OTEL_TRACES_SAMPLER_ARG: \"%s\" is not a number in [0, 1]",
			    arg);
	return 0;
}

static int parse_bsp(struct otel_config *c, otel_getenv_fn get, char *err, size_t len)
{
	int ret;

	ret = env_u32(get, "OTEL_BSP_MAX_QUEUE_SIZE", &c->max_queue, err, len);
	if (!ret)
		ret = env_u32(get, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &c->max_batch, err, len);
	if (!ret)
		ret = env_u32(get, "OTEL_BSP_SCHEDULE_DELAY", &c->schedule_delay_ms, err, len);
	if (!ret)
		ret = env_u32(get, "OTEL_BSP_EXPORT_TIMEOUT", &c->export_timeout_ms, err, len);
	if (ret)
		return ret;
	if (c->max_batch > c->max_queue)
		return fail(err, len,
			    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE: %u is more than "
			    "OTEL_BSP_MAX_QUEUE_SIZE (%u)",
			    c->max_batch, c->max_queue);
	return 0;
}

static int find(const struct otel_header *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].name, key))
			return (int)i;
	return -1;
}

/* service.name: OTEL_SERVICE_NAME wins over the attribute, which then takes
 * its value, so that the resource never carries two names. */
static int parse_service(struct otel_config *c, otel_getenv_fn get, char *err, size_t len)
{
	const char *svc = env(get, "OTEL_SERVICE_NAME");
	int i = find(c->resource, c->nresource, "service.name");
	char *val;

	if (svc && i >= 0) {
		val = strdup(svc);
		if (!val)
			return no_memory(err, len);
		free(c->resource[i].value);
		c->resource[i].value = val;
	}
	if (!svc)
		svc = i >= 0 ? c->resource[i].value : DEFAULT_SERVICE;
	c->service_name = strdup(svc);
	return c->service_name ? 0 : no_memory(err, len);
}

/* The resource attributes, service.name and deployment.environment.name. */
static int parse_resource(struct otel_config *c, otel_getenv_fn get, char *err, size_t len)
{
	const char *v = env(get, "OTEL_RESOURCE_ATTRIBUTES");
	char *key, *val;
	int ret;

	if (v) {
		ret = parse_kv_list("OTEL_RESOURCE_ATTRIBUTES", v, false, c->resource,
				    &c->nresource, OTELENV_MAX_RESOURCE, err, len);
		if (ret)
			return ret;
	}
	ret = parse_service(c, get, err, len);
	if (ret)
		return ret;
	v = env(get, "ENVIRONMENT");
	if (!v || find(c->resource, c->nresource, ENV_ATTR) >= 0)
		return 0;
	key = strdup(ENV_ATTR);
	val = strdup(v);
	if (!key || !val) {
		free(key);
		free(val);
		return no_memory(err, len);
	}
	if (kv_set(c->resource, &c->nresource, OTELENV_MAX_RESOURCE, key, val, false))
		return fail(err, len, "OTEL_RESOURCE_ATTRIBUTES: more than %d entries with %s",
			    OTELENV_MAX_RESOURCE - 1, ENV_ATTR);
	return 0;
}

static void defaults(struct otel_config *c)
{
	memset(c, 0, sizeof(*c));
	c->timeout_ms = 10000;
	c->gzip = true;
	c->sampler = SAMPLER_PARENT_ALWAYS_ON;
	c->ratio = 1.0;
	c->max_queue = 2048;
	c->max_batch = 512;
	c->schedule_delay_ms = 5000;
	c->export_timeout_ms = 30000;
}

int otel_config_parse(struct otel_config *c, otel_getenv_fn get, char *err, size_t len)
{
	int ret;

	defaults(c);
	ret = parse_switches(c, get, err, len);
	if (ret || !c->enabled)
		return ret;
	ret = parse_exporters(c, get, err, len);
	if (ret)
		return ret;
	if (!c->otlp && !c->console) {
		c->enabled = false;
		snprintf(c->why_off, sizeof(c->why_off), "%s",
			 env(get, "OTEL_TRACES_EXPORTER")
				 ? "OTEL_TRACES_EXPORTER=none"
				 : "no exporter: set OTEL_EXPORTER_OTLP_ENDPOINT or "
				   "OTEL_EXPORTER_CONSOLE=true");
		return 0;
	}
	if (c->otlp)
		ret = parse_url(c, get, err, len);
	if (!ret)
		ret = parse_headers(c, get, err, len);
	if (!ret)
		ret = parse_transport(c, get, err, len);
	if (!ret)
		ret = parse_sampler(c, get, err, len);
	if (!ret)
		ret = parse_bsp(c, get, err, len);
	if (!ret)
		ret = parse_resource(c, get, err, len);
	if (ret)
		otel_config_free(c);
	return ret;
}

static void free_kv(struct otel_header *kv, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free(kv[i].name);
		free(kv[i].value);
		kv[i].name = kv[i].value = NULL;
	}
	*n = 0;
}

void otel_config_free(struct otel_config *c)
{
	free(c->url);
	c->url = NULL;
	free(c->service_name);
	c->service_name = NULL;
	free_kv(c->headers, &c->nheaders);
	free_kv(c->resource, &c->nresource);
}
