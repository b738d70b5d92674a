// SPDX-License-Identifier: MIT
/* Unit tests of the tracing environment (user/otelenv.c), through a fake
 * getenv over a table. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/types.h>
#include "spans_maps.h"

#include "otelenv.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ENDPOINT      "OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"

/* The fake environment: name, value, name, value, ..., NULL. */
static const char *const *vars;
static struct otel_config cfg;
static char err[256];

static const char *fake_getenv(const char *name)
{
	for (const char *const *v = vars; v && *v; v += 2)
		if (!strcmp(*v, name))
			return v[1];
	return NULL;
}

static int parse_env(const char *const *env)
{
	vars = env;
	err[0] = '\0';
	return otel_config_parse(&cfg, fake_getenv, err, sizeof(err));
}

#define PARSE(...) parse_env((const char *const[]){ __VA_ARGS__, NULL })

static void teardown(void)
{
	otel_config_free(&cfg);
}

TestSuite(otelenv, .fini = teardown, .timeout = 5.);

static const char *resource(const char *key)
{
	for (size_t i = 0; i < cfg.nresource; i++)
		if (!strcmp(cfg.resource[i].name, key))
			return cfg.resource[i].value;
	return NULL;
}

static const char *header(const char *name)
{
	for (size_t i = 0; i < cfg.nheaders; i++)
		if (!strcmp(cfg.headers[i].name, name))
			return cfg.headers[i].value;
	return NULL;
}

Test(otelenv, defaults)
{
	cr_assert_eq(PARSE(ENDPOINT), 0, "%s", err);
	cr_assert(cfg.enabled);
	cr_assert(cfg.otlp);
	cr_assert_not(cfg.console);
	cr_assert_str_eq(cfg.url, "http://otel:4318/v1/traces");
	cr_assert_eq(cfg.nheaders, 0);
	cr_assert_eq(cfg.timeout_ms, 10000);
	cr_assert(cfg.gzip);
	cr_assert_eq(cfg.sampler, SAMPLER_PARENT_ALWAYS_ON);
	cr_assert_eq(cfg.ratio, 1.0);
	cr_assert_eq(cfg.max_queue, 2048);
	cr_assert_eq(cfg.max_batch, 512);
	cr_assert_eq(cfg.schedule_delay_ms, 5000);
	cr_assert_eq(cfg.export_timeout_ms, 30000);
	cr_assert_str_eq(cfg.service_name, "aet");
	cr_assert_eq(cfg.nresource, 0);
}

Test(otelenv, nothing_set_is_off)
{
	cr_assert_eq(parse_env(NULL), 0);
	cr_assert_not(cfg.enabled);
	cr_assert_str_eq(
		cfg.why_off,
		"no exporter: set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_CONSOLE=true");
	cr_assert_null(cfg.url);
}

Test(otelenv, empty_is_unset)
{
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_TRACES_SAMPLER", "", "OTEL_EXPORTER_OTLP_TIMEOUT", ""),
		     0, "%s", err);
	cr_assert_eq(cfg.sampler, SAMPLER_PARENT_ALWAYS_ON);
	cr_assert_eq(cfg.timeout_ms, 10000);
}

Test(otelenv, sdk_disabled)
{
	/* Off before anything else is looked at: a bad sampler does not matter. */
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_SDK_DISABLED", "TRUE", "OTEL_TRACES_SAMPLER", "bogus"),
		     0);
	cr_assert_not(cfg.enabled);
	cr_assert_str_eq(cfg.why_off, "OTEL_SDK_DISABLED=true");
	cr_assert_null(cfg.url);
	otel_config_free(&cfg);
	/* Anything but "true" is false (the specification). */
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_SDK_DISABLED", "yes"), 0);
	cr_assert(cfg.enabled);
}

struct switch_case {
	char value[16];
	int enabled; /* -1: rejected */
};

ParameterizedTestParameters(otelenv, tracing_enabled)
{
	static struct switch_case params[] = {
		{ "false", 0 }, { "0", 0 },    { "no", 0 },	{ "off", 0 }, { "FALSE", 0 },
		{ "Off", 0 },	{ "true", 1 }, { "1", 1 },	{ "yes", 1 }, { "on", 1 },
		{ "TRUE", 1 },	{ "", 1 },     { "maybe", -1 }, { "2", -1 },
	};

	return cr_make_param_array(struct switch_case, params, ARRAY_SIZE(params));
}

ParameterizedTest(struct switch_case *c, otelenv, tracing_enabled, .fini = teardown)
{
	char why[64];
	int ret = PARSE(ENDPOINT, "AET_TRACING_ENABLED", c->value);

	if (c->enabled < 0) {
		cr_assert_eq(ret, -EINVAL);
		cr_assert_not_null(strstr(err, "AET_TRACING_ENABLED"), "%s", err);
		return;
	}
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_eq(cfg.enabled, c->enabled);
	if (!c->enabled) {
		snprintf(why, sizeof(why), "AET_TRACING_ENABLED=%s", c->value);
		cr_assert_str_eq(cfg.why_off, why);
	}
}

Test(otelenv, console_only)
{
	cr_assert_eq(PARSE("OTEL_EXPORTER_CONSOLE", "True"), 0, "%s", err);
	cr_assert(cfg.enabled);
	cr_assert(cfg.console);
	cr_assert_not(cfg.otlp);
	cr_assert_null(cfg.url);
	otel_config_free(&cfg);
	cr_assert_eq(PARSE("OTEL_EXPORTER_CONSOLE", "1"), 0, "%s", err);
	cr_assert_not(cfg.enabled);
}

Test(otelenv, traces_exporter_list)
{
	cr_assert_eq(PARSE("OTEL_TRACES_EXPORTER", "otlp"), 0, "%s", err);
	cr_assert(cfg.otlp);
	cr_assert_not(cfg.console);
	cr_assert_str_eq(cfg.url, "http://localhost:4318/v1/traces");
	otel_config_free(&cfg);
	cr_assert_eq(PARSE("OTEL_TRACES_EXPORTER", " console , otlp ", ENDPOINT), 0, "%s", err);
	cr_assert(cfg.otlp);
	cr_assert(cfg.console);
	cr_assert_str_eq(cfg.url, "http://otel:4318/v1/traces");
	otel_config_free(&cfg);
	/* When given, the list decides: an endpoint alone does not add OTLP. */
	cr_assert_eq(PARSE("OTEL_TRACES_EXPORTER", "console", ENDPOINT), 0, "%s", err);
	cr_assert(cfg.console);
	cr_assert_not(cfg.otlp);
	cr_assert_null(cfg.url);
}

Test(otelenv, traces_exporter_none)
{
	cr_assert_eq(PARSE("OTEL_TRACES_EXPORTER", "none", ENDPOINT), 0, "%s", err);
	cr_assert_not(cfg.enabled);
	cr_assert_str_eq(cfg.why_off, "OTEL_TRACES_EXPORTER=none");
	otel_config_free(&cfg);
	cr_assert_eq(PARSE("OTEL_TRACES_EXPORTER", "none", "OTEL_EXPORTER_CONSOLE", "true"), 0);
	cr_assert(cfg.enabled);
	cr_assert(cfg.console);
	cr_assert_not(cfg.otlp);
}

Test(otelenv, traces_exporter_unknown)
{
	cr_assert_eq(PARSE("OTEL_TRACES_EXPORTER", "otlp,zipkin"), -EINVAL);
	cr_assert_str_eq(err, "OTEL_TRACES_EXPORTER: unsupported exporter \"zipkin\" "
			      "(otlp, console or none)");
}

struct url_case {
	char traces[48];
	char base[48];
	char url[64]; /* "": rejected, err naming variable */
	char variable[48];
};

ParameterizedTestParameters(otelenv, url)
{
	static struct url_case params[] = {
		{ "", "http://c:4318", "http://c:4318/v1/traces", "" },
		{ "", "http://c:4318/", "http://c:4318/v1/traces", "" },
		{ "", "https://c/base//", "https://c/base/v1/traces", "" },
		{ "", "HTTP://c", "HTTP://c/v1/traces", "" },
		{ "http://t/custom", "", "http://t/custom", "" },
		{ "https://t/x/", "http://c:4318", "https://t/x/", "" },
		{ "", "c:4318", "", "OTEL_EXPORTER_OTLP_ENDPOINT" },
		{ "", "ftp://c", "", "OTEL_EXPORTER_OTLP_ENDPOINT" },
		{ "grpc://t", "http://c", "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" },
		{ "t:4318/v1/traces", "", "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" },
	};

	return cr_make_param_array(struct url_case, params, ARRAY_SIZE(params));
}

ParameterizedTest(struct url_case *c, otelenv, url, .fini = teardown)
{
	int ret = PARSE("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", c->traces,
			"OTEL_EXPORTER_OTLP_ENDPOINT", c->base);

	if (!*c->url) {
		cr_assert_eq(ret, -EINVAL);
		cr_assert_eq(strncmp(err, c->variable, strlen(c->variable)), 0, "%s", err);
		cr_assert_eq(err[strlen(c->variable)], ':', "%s", err);
		cr_assert_not_null(strstr(err, "http:// or https://"), "%s", err);
		return;
	}
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert(cfg.otlp);
	cr_assert_str_eq(cfg.url, c->url);
}

Test(otelenv, protocol)
{
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"), 0, "%s", err);
	otel_config_free(&cfg);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), -EINVAL);
	cr_assert_str_eq(
		err, "OTEL_EXPORTER_OTLP_PROTOCOL: \"grpc\" is not supported, only http/protobuf");
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"), -EINVAL);
	cr_assert_not_null(strstr(err, "only http/protobuf"));
	/* The signal-specific variable wins. */
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc",
			   "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
		     0, "%s", err);
	otel_config_free(&cfg);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"), -EINVAL);
	cr_assert_eq(strncmp(err, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL:", 35), 0, "%s", err);
}

Test(otelenv, headers)
{
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_HEADERS",
			   " api-key = s3cr%3Dt ,X-Scope=a%20b%2Cc,,Tenant=one,",
			   "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "tenant=two, empty="),
		     0, "%s", err);
	cr_assert_eq(cfg.nheaders, 4);
	cr_assert_str_eq(header("api-key"), "s3cr=t");
	cr_assert_str_eq(header("X-Scope"), "a b,c");
	/* The traces list replaces the general one, names compared ignoring case. */
	cr_assert_str_eq(header("Tenant"), "two");
	cr_assert_str_eq(header("empty"), "");
	cr_assert_null(header("tenant"));
}

Test(otelenv, header_count)
{
	char list[512] = "";
	size_t n = 0;

	for (int i = 0; i < OTELENV_MAX_HEADERS; i++)
		n += snprintf(list + n, sizeof(list) - n, "h%d=%d,", i, i);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_HEADERS", list), 0, "%s", err);
	cr_assert_eq(cfg.nheaders, OTELENV_MAX_HEADERS);
	otel_config_free(&cfg);
	/* Replacing an existing name takes no room. */
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_HEADERS", list,
			   "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "H3=x"),
		     0, "%s", err);
	cr_assert_str_eq(header("h3"), "x");
	otel_config_free(&cfg);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_HEADERS", list,
			   "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "one=more"),
		     -EINVAL);
	cr_assert_str_eq(err, "OTEL_EXPORTER_OTLP_TRACES_HEADERS: more than 16 entries");
	cr_assert_eq(cfg.nheaders, 0);
	cr_assert_null(cfg.url);
}

struct bad_list {
	char list[32];
};

ParameterizedTestParameters(otelenv, bad_headers)
{
	static struct bad_list params[] = {
		{ "a" },       { "=1" },     { "a b=1" },  { "a=1,b" }, { "a:b=1" },
		{ "a=%zz" },   { "a=%4" },   { "a=x%" },   { "a=%00" }, { "a=x%0D%0Ay" },
		{ "a=x%0Ay" }, { "a\"b=1" }, { "a=\x01" },
	};

	return cr_make_param_array(struct bad_list, params, ARRAY_SIZE(params));
}

ParameterizedTest(struct bad_list *c, otelenv, bad_headers, .fini = teardown)
{
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", c->list), -EINVAL,
		     "%s accepted", c->list);
	cr_assert_eq(strncmp(err, "OTEL_EXPORTER_OTLP_TRACES_HEADERS: malformed entry", 50), 0,
		     "%s", err);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_HEADERS", c->list), -EINVAL);
	cr_assert_eq(strncmp(err, "OTEL_EXPORTER_OTLP_HEADERS: malformed entry", 43), 0, "%s", err);
}

Test(otelenv, timeout_and_compression)
{
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_TIMEOUT", "2500",
			   "OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
		     0, "%s", err);
	cr_assert_eq(cfg.timeout_ms, 2500);
	cr_assert_not(cfg.gzip);
	otel_config_free(&cfg);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_TIMEOUT", "2500",
			   "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700",
			   "OTEL_EXPORTER_OTLP_COMPRESSION", "none",
			   "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
		     0, "%s", err);
	cr_assert_eq(cfg.timeout_ms, 700);
	cr_assert(cfg.gzip);
}

struct bad_var {
	char name[48];
	char value[24];
	char err[200];
};

ParameterizedTestParameters(otelenv, bad_values)
{
	static struct bad_var params[] = {
		{ "OTEL_EXPORTER_OTLP_TIMEOUT", "10s",
		  "OTEL_EXPORTER_OTLP_TIMEOUT: \"10s\" is not a positive number of milliseconds" },
		{ "OTEL_EXPORTER_OTLP_TIMEOUT", "0",
		  "OTEL_EXPORTER_OTLP_TIMEOUT: \"0\" is not a positive number of milliseconds" },
		{ "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1",
		  "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: \"-1\" is not a positive number of "
		  "milliseconds" },
		{ "OTEL_EXPORTER_OTLP_TIMEOUT", "4294967296",
		  "OTEL_EXPORTER_OTLP_TIMEOUT: \"4294967296\" is not a positive number of "
		  "milliseconds" },
		{ "OTEL_EXPORTER_OTLP_COMPRESSION", "zstd",
		  "OTEL_EXPORTER_OTLP_COMPRESSION: \"zstd\" is not gzip or none" },
		{ "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "deflate",
		  "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: \"deflate\" is not gzip or none" },
		{ "OTEL_TRACES_SAMPLER", "xray",
		  "OTEL_TRACES_SAMPLER: unknown sampler \"xray\" (always_on, always_off, "
		  "traceidratio, parentbased_always_on, parentbased_always_off, "
		  "parentbased_traceidratio)" },
		{ "OTEL_BSP_MAX_QUEUE_SIZE", "0",
		  "OTEL_BSP_MAX_QUEUE_SIZE: \"0\" is not a positive integer" },
		{ "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "x",
		  "OTEL_BSP_MAX_EXPORT_BATCH_SIZE: \"x\" is not a positive integer" },
		{ "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096",
		  "OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 4096 is more than OTEL_BSP_MAX_QUEUE_SIZE "
		  "(2048)" },
		{ "OTEL_BSP_SCHEDULE_DELAY", "5s",
		  "OTEL_BSP_SCHEDULE_DELAY: \"5s\" is not a positive integer" },
		{ "OTEL_BSP_EXPORT_TIMEOUT", " 30",
		  "OTEL_BSP_EXPORT_TIMEOUT: \" 30\" is not a positive integer" },
		{ "OTEL_RESOURCE_ATTRIBUTES", "a=1,b",
		  "OTEL_RESOURCE_ATTRIBUTES: malformed entry \"b\"" },
		{ "OTEL_RESOURCE_ATTRIBUTES", "=1",
		  "OTEL_RESOURCE_ATTRIBUTES: malformed entry \"=1\"" },
		{ "OTEL_RESOURCE_ATTRIBUTES", "%=1",
		  "OTEL_RESOURCE_ATTRIBUTES: malformed entry \"%=1\"" },
		{ "OTEL_RESOURCE_ATTRIBUTES", "a=%G1",
		  "OTEL_RESOURCE_ATTRIBUTES: malformed entry \"a=%G1\"" },
	};

	return cr_make_param_array(struct bad_var, params, ARRAY_SIZE(params));
}

ParameterizedTest(struct bad_var *c, otelenv, bad_values, .fini = teardown)
{
	cr_assert_eq(PARSE(ENDPOINT, c->name, c->value), -EINVAL);
	cr_assert_str_eq(err, c->err);
	/* Whatever was parsed before the error is freed. */
	cr_assert_null(cfg.url);
	cr_assert_null(cfg.service_name);
	cr_assert_eq(cfg.nheaders, 0);
	cr_assert_eq(cfg.nresource, 0);
}

struct sampler_case {
	char name[32];
	int sampler;
};

ParameterizedTestParameters(otelenv, samplers)
{
	static struct sampler_case params[] = {
		{ "always_on", SAMPLER_ALWAYS_ON },
		{ "always_off", SAMPLER_ALWAYS_OFF },
		{ "traceidratio", SAMPLER_RATIO },
		{ "parentbased_always_on", SAMPLER_PARENT_ALWAYS_ON },
		{ "parentbased_always_off", SAMPLER_PARENT_ALWAYS_OFF },
		{ "parentbased_traceidratio", SAMPLER_PARENT_RATIO },
		{ "AlwaysOn", -1 },
		{ "jaeger_remote", -1 },
	};

	return cr_make_param_array(struct sampler_case, params, ARRAY_SIZE(params));
}

ParameterizedTest(struct sampler_case *c, otelenv, samplers, .fini = teardown)
{
	int ret = PARSE(ENDPOINT, "OTEL_TRACES_SAMPLER", c->name);

	if (c->sampler < 0) {
		cr_assert_eq(ret, -EINVAL);
		cr_assert_eq(strncmp(err, "OTEL_TRACES_SAMPLER: unknown sampler", 36), 0);
		return;
	}
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_eq(cfg.sampler, c->sampler);
	cr_assert_eq(cfg.ratio, 1.0);
}

struct ratio_case {
	char sampler[32];
	char arg[16];
	double ratio; /* -1: rejected */
};

ParameterizedTestParameters(otelenv, sampler_arg)
{
	static struct ratio_case params[] = {
		{ "traceidratio", "0.25", 0.25 },
		{ "traceidratio", "0", 0.0 },
		{ "parentbased_traceidratio", "1", 1.0 },
		{ "parentbased_traceidratio", "1e-3", 0.001 },
		{ "traceidratio", "", 1.0 },
		{ "always_on", "bogus", 1.0 }, /* not a ratio sampler: ignored */
		{ "", "7", 1.0 },	       /* the default sampler takes no argument */
		{ "traceidratio", "1.5", -1 },
		{ "traceidratio", "-0.1", -1 },
		{ "traceidratio", "abc", -1 },
		{ "traceidratio", "0.5x", -1 },
		{ "parentbased_traceidratio", "nan", -1 },
		{ "parentbased_traceidratio", "inf", -1 },
	};

	return cr_make_param_array(struct ratio_case, params, ARRAY_SIZE(params));
}

ParameterizedTest(struct ratio_case *c, otelenv, sampler_arg, .fini = teardown)
{
	char msg[96];
	int ret = PARSE(ENDPOINT, "OTEL_TRACES_SAMPLER", c->sampler, "OTEL_TRACES_SAMPLER_ARG",
			c->arg);

	if (c->ratio < 0) {
		snprintf(msg, sizeof(msg),
			 "OTEL_TRACES_SAMPLER_ARG: \"%s\" is not a number in [0, 1]", c->arg);
		cr_assert_eq(ret, -EINVAL);
		cr_assert_str_eq(err, msg);
		return;
	}
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_float_eq(cfg.ratio, c->ratio, 1e-12);
}

Test(otelenv, batch_processor)
{
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_BSP_MAX_QUEUE_SIZE", "100",
			   "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100", "OTEL_BSP_SCHEDULE_DELAY",
			   "250", "OTEL_BSP_EXPORT_TIMEOUT", "1500"),
		     0, "%s", err);
	cr_assert_eq(cfg.max_queue, 100);
	cr_assert_eq(cfg.max_batch, 100);
	cr_assert_eq(cfg.schedule_delay_ms, 250);
	cr_assert_eq(cfg.export_timeout_ms, 1500);
	otel_config_free(&cfg);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_BSP_MAX_QUEUE_SIZE", "100",
			   "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "101"),
		     -EINVAL);
	cr_assert_str_eq(err, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 101 is more than "
			      "OTEL_BSP_MAX_QUEUE_SIZE (100)");
}

Test(otelenv, resource_attributes)
{
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_RESOURCE_ATTRIBUTES",
			   " service.name = from-attrs ,team=a%2Cb%3Dc, k%20x=%E2%9C%93,team=d",
			   "ENVIRONMENT", "prod"),
		     0, "%s", err);
	cr_assert_str_eq(cfg.service_name, "from-attrs");
	cr_assert_eq(cfg.nresource, 4);
	cr_assert_str_eq(resource("service.name"), "from-attrs");
	cr_assert_str_eq(resource("team"), "d"); /* the later one */
	cr_assert_str_eq(resource("k x"), "\xe2\x9c\x93");
	cr_assert_str_eq(resource("deployment.environment.name"), "prod");
}

Test(otelenv, service_name_wins)
{
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_SERVICE_NAME", "svc", "OTEL_RESOURCE_ATTRIBUTES",
			   "service.name=other,x=1"),
		     0, "%s", err);
	cr_assert_str_eq(cfg.service_name, "svc");
	/* The attribute follows, so that the resource never names two services. */
	cr_assert_str_eq(resource("service.name"), "svc");
	cr_assert_eq(cfg.nresource, 2);
	otel_config_free(&cfg);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_SERVICE_NAME", "svc"), 0, "%s", err);
	cr_assert_str_eq(cfg.service_name, "svc");
	cr_assert_eq(cfg.nresource, 0);
}

Test(otelenv, environment)
{
	cr_assert_eq(PARSE(ENDPOINT, "ENVIRONMENT", "staging"), 0, "%s", err);
	cr_assert_eq(cfg.nresource, 1);
	cr_assert_str_eq(resource("deployment.environment.name"), "staging");
	otel_config_free(&cfg);
	/* The SDK variable wins over the earlier layer's. */
	cr_assert_eq(PARSE(ENDPOINT, "ENVIRONMENT", "staging", "OTEL_RESOURCE_ATTRIBUTES",
			   "deployment.environment.name=prod"),
		     0, "%s", err);
	cr_assert_eq(cfg.nresource, 1);
	cr_assert_str_eq(resource("deployment.environment.name"), "prod");
}

Test(otelenv, resource_count)
{
	char list[1024] = "";
	size_t n = 0;

	for (int i = 0; i < OTELENV_MAX_RESOURCE; i++)
		n += snprintf(list + n, sizeof(list) - n, "k%d=%d,", i, i);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_RESOURCE_ATTRIBUTES", list), 0, "%s", err);
	cr_assert_eq(cfg.nresource, OTELENV_MAX_RESOURCE);
	otel_config_free(&cfg);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_RESOURCE_ATTRIBUTES", list, "ENVIRONMENT", "prod"),
		     -EINVAL);
	cr_assert_str_eq(err, "OTEL_RESOURCE_ATTRIBUTES: more than 31 entries with "
			      "deployment.environment.name");
	n += snprintf(list + n, sizeof(list) - n, "one=more");
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_RESOURCE_ATTRIBUTES", list), -EINVAL);
	cr_assert_str_eq(err, "OTEL_RESOURCE_ATTRIBUTES: more than 32 entries");
}

Test(otelenv, free_is_safe)
{
	struct otel_config zero = {};

	otel_config_free(&zero);
	cr_assert_eq(PARSE(ENDPOINT, "OTEL_EXPORTER_OTLP_HEADERS", "a=1",
			   "OTEL_RESOURCE_ATTRIBUTES", "b=2"),
		     0, "%s", err);
	otel_config_free(&cfg);
	otel_config_free(&cfg); /* twice: the fini frees a third time */
	cr_assert_null(cfg.url);
	cr_assert_eq(cfg.nheaders, 0);
}
