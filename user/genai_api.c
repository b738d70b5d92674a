// SPDX-License-Identifier: MIT
/* Who serves a model call (user/genai_api.h). */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "genai_api.h"

#define OLLAMA_PORT 11434

/* Hosts of providers, as OpenTelemetry names them (gen_ai.provider.name):
 * the host itself or any name under it ("." first), compared without case. */
static const struct {
	const char *host, *provider;
} hosts[] = {
	{ "api.openai.com", "openai" },
	{ ".openai.azure.com", "azure.ai.openai" },
	{ ".services.ai.azure.com", "azure.ai.inference" },
	{ "api.anthropic.com", "anthropic" },
	{ "api.mistral.ai", "mistral_ai" },
	{ "api.groq.com", "groq" },
	{ "api.deepseek.com", "deepseek" },
	{ "api.x.ai", "x_ai" },
	{ "api.perplexity.ai", "perplexity" },
	{ "api.cohere.com", "cohere" },
	{ "api.cohere.ai", "cohere" },
	{ "generativelanguage.googleapis.com", "gcp.gemini" },
	{ "aiplatform.googleapis.com", "gcp.vertex_ai" },
};

static int host_is(const char *host, size_t n, const char *name)
{
	size_t m = strlen(name);

	if (name[0] != '.')
		return n == m && !strncasecmp(host, name, n);
	return n > m && !strncasecmp(host + n - m, name, m);
}

const char *genai_provider(const char *shape, const char *host, unsigned int port)
{
	size_t n = strlen(host);

	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		if (host_is(host, n, hosts[i].host))
			return hosts[i].provider;
	if (port == OLLAMA_PORT)
		return "ollama";
	return shape;
}
