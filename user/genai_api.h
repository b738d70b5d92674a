/* SPDX-License-Identifier: MIT */
/*
 * Who serves a model call (gen_ai.provider.name): the API's shape says
 * whose API it is (include/genai_maps.h), the server says who answers it.
 * An OpenAI-shaped call to api.groq.com is groq's, to Ollama's port
 * ollama's. Pure, unit-tested.
 */
#ifndef AET_GENAI_API_H
#define AET_GENAI_API_H

/* The provider of a call of the API whose own provider is shape to host
 * (the Host header's, NUL-terminated) and port (0: none given): a
 * provider known by its host, else shape. A static string. */
const char *genai_provider(const char *shape, const char *host, unsigned int port);

#endif /* AET_GENAI_API_H */
