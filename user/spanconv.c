// SPDX-License-Identifier: MIT
#define _GNU_SOURCE /* strerrorname_np */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <linux/types.h>

#include "files_maps.h"
#include "http_maps.h"
#include "probes_maps.h"
#include "spanconv.h"
#include "sqlite_maps.h"
#include "sqlverb.h"

static const char *const status_names[STATUS_MAX] = STATUS_NAMES;
static const char *const file_ops[FOP_MAX] = FILE_OP_NAMES;

static void put_be64(uint8_t *dst, __u64 v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		dst[i] = v & 0xff;
}

static void add_str(struct span_conv *c, const char *key, const char *s, size_t len)
{
	struct otlp_attr *a;

	if (c->span.nattrs >= SPAN_MAX_ATTRS)
		return;
	a = &c->attrs[c->span.nattrs++];
	*a = (struct otlp_attr){ .key = key, .type = OTLP_STR, .s = s, .slen = len };
}

static void add_int(struct span_conv *c, const char *key, int64_t v)
{
	struct otlp_attr *a;

	if (c->span.nattrs >= SPAN_MAX_ATTRS)
		return;
	a = &c->attrs[c->span.nattrs++];
	*a = (struct otlp_attr){ .key = key, .type = OTLP_INT, .i = v };
}

/* The string in text field [off, off + len) of a record with avail bytes
 * of text: up to its NUL, within both bounds. */
static const char *field(const char *text, size_t avail, size_t off, size_t len, size_t *n)
{
	if (off >= avail) {
		*n = 0;
		return "";
	}
	*n = strnlen(text + off, len < avail - off ? len : avail - off);
	return text + off;
}

/* A custom span's "k=v;k=v": split in place in c->text. A pair without '='
 * has an empty value; an empty key is skipped. */
static void add_custom(struct span_conv *c, const char *attrs, size_t n)
{
	char *p = c->text, *end = c->text + n;
	int kept = 0;

	memcpy(c->text, attrs, n);
	c->text[n] = '\0';
	while (p < end && kept < SPAN_CUSTOM_ATTRS) {
		char *semi = memchr(p, ';', end - p), *stop = semi ? semi : end, *eq;

		*stop = '\0';
		eq = memchr(p, '=', stop - p);
		if (eq)
			*eq = '\0';
		if (*p) {
			const char *v = eq ? eq + 1 : stop;

			add_str(c, p, v, stop - v);
			kept++;
		}
		p = stop + 1;
	}
}

static void probe_span(struct span_conv *c, const struct span_record *r, const char *text,
		       size_t avail)
{
	static const char *const id_keys[] = { "aet.cycle.id", "aet.task.id", "aet.request.id",
					       "aet.span.id" };
	static const char *const second[] = { NULL, "aet.mode", "aet.operation" };
	unsigned st = r->status >= 0 && r->status < 4 ? (unsigned)r->status : 1;
	const char *s;
	size_t n;

	add_int(c, id_keys[r->kind], (int64_t)r->id);
	switch (r->kind) {
	case SPAN_CYCLE:
		c->span.name = "aet.cycle";
		break;
	case SPAN_TASK:
	case SPAN_AGENT:
		c->span.name = r->kind == SPAN_TASK ? "aet.task" : "aet.agent_request";
		s = c->labels[0] ?: "";
		add_str(c, "aet.agent", s, strnlen(s, SPAN_NAME_LEN - 1));
		s = c->labels[1] ?: "";
		add_str(c, second[r->kind], s, strnlen(s, SPAN_NAME_LEN - 1));
		s = c->labels[0] ?: "";
		if (r->kind == SPAN_AGENT)
			add_str(c, "gen_ai.agent.name", s, strnlen(s, SPAN_NAME_LEN - 1));
		break;
	case SPAN_CUSTOM:
		s = field(text, avail, 0, SPAN_NAME_LEN, &n);
		c->span.name = n ? s : "span";
		c->span.name_len = n ? n : 4;
		s = field(text, avail, SPAN_NAME_LEN, SPAN_ATTRS_LEN, &n);
		add_custom(c, s, n);
		break;
	}
	add_str(c, "aet.status", status_names[st], strlen(status_names[st]));
	if (st) {
		c->span.status = OTLP_STATUS_ERROR;
		c->span.status_msg = status_names[st];
	}
}

static void file_span(struct span_conv *c, const struct span_record *r, const char *text,
		      size_t avail)
{
	const char *op = r->op < FOP_MAX ? file_ops[r->op] : "other";
	const char *s;
	size_t n;

	snprintf(c->name, sizeof(c->name), "file.%s", op);
	c->span.name = c->name;
	add_str(c, "aet.file.operation", op, strlen(op));
	s = field(text, avail, 0, SPAN_PATH_LEN, &n);
	/* read, write and fsync know their file by its dentry: a name */
	if (r->op == FOP_READ || r->op == FOP_WRITE || r->op == FOP_FSYNC)
		add_str(c, "file.name", s, n);
	else
		add_str(c, "file.path", s, n);
	if (r->op == FOP_READ || r->op == FOP_WRITE)
		add_int(c, "aet.file.bytes", (int64_t)r->id);
	if (r->status < 0) {
		long err = -(long)r->status; /* INT_MIN's negation does not fit an int */
		const char *e = err <= 4095 ? strerrorname_np((int)err) : NULL;

		if (!e) {
			snprintf(c->rc, sizeof(c->rc), "%ld", err);
			e = c->rc;
		}
		add_str(c, "error.type", e, strlen(e));
		c->span.status = OTLP_STATUS_ERROR;
		c->span.status_msg = e;
	}
}

static void db_span(struct span_conv *c, const struct span_record *r, const char *text,
		    size_t avail)
{
	const char *verb = r->op < VERB_OTHER ? sqlverb_name(r->op) : NULL;
	const char *s;
	size_t n;

	c->span.kind = OTLP_KIND_CLIENT;
	add_str(c, "db.system.name", "sqlite", 6);
	if (verb) {
		for (n = 0; verb[n] && n < sizeof(c->name) - 1; n++)
			c->name[n] = verb[n] - 'a' + 'A';
		c->name[n] = '\0';
		c->span.name = c->name;
		add_str(c, "db.operation.name", c->name, n);
	} else {
		c->span.name = "sqlite";
	}
	s = field(text, avail, 0, SPAN_SQL_LEN, &n);
	if (n)
		add_str(c, "db.query.text", s, n);
	if (r->status) {
		snprintf(c->rc, sizeof(c->rc), "%d", r->status);
		add_str(c, "db.response.status_code", c->rc, strlen(c->rc));
		c->span.status = OTLP_STATUS_ERROR;
		c->span.status_msg = c->rc;
	}
}

static void add_model(struct span_conv *c, const char *key, const char *s)
{
	size_t n = strnlen(s, GENAI_MODEL_LEN - 1);

	if (n)
		add_str(c, key, s, n);
}

/* A model call's span: OpenTelemetry's GenAI client span, named
 * "{gen_ai.operation.name} {gen_ai.request.model}"; no prompt, no text. */
static void genai_attrs(struct span_conv *c, const struct genai_span *g)
{
	const char *model = g->request_model[0] ? g->request_model : g->response_model;
	struct otlp_attr *a;

	snprintf(c->name, sizeof(c->name), "%s%s%.*s", g->operation, *model ? " " : "",
		 GENAI_MODEL_LEN - 1, model);
	c->span.name = c->name;
	add_str(c, "gen_ai.operation.name", g->operation, strlen(g->operation));
	add_str(c, "gen_ai.provider.name", g->provider, strlen(g->provider));
	add_model(c, "gen_ai.request.model", g->request_model);
	add_model(c, "gen_ai.response.model", g->response_model);
	if (g->finish[0] && c->span.nattrs < SPAN_MAX_ATTRS) {
		a = &c->attrs[c->span.nattrs++];
		*a = (struct otlp_attr){ .key = "gen_ai.response.finish_reasons",
					 .type = OTLP_STR_ARRAY,
					 .s = g->finish,
					 .slen = strnlen(g->finish, GENAI_FINISH_LEN - 1) };
	}
	if (g->input_tokens >= 0)
		add_int(c, "gen_ai.usage.input_tokens", g->input_tokens);
	if (g->output_tokens >= 0)
		add_int(c, "gen_ai.usage.output_tokens", g->output_tokens);
}

/* An HTTP client request: OpenTelemetry's HTTP client span, named by its
 * method; a model call's is its GenAI client span too. */
static void http_span(struct span_conv *c, const struct span_record *r, const char *text,
		      size_t avail)
{
	static const char *const methods[HM_MAX] = HTTP_METHOD_NAMES;
	static const char *const errors[HE_MAX] = HTTP_ERROR_NAMES;
	const struct http_span_text *t = (const void *)text;
	const char *method = methods[r->op < HM_MAX ? r->op : HM_OTHER];
	const char *s;
	size_t n;

	c->span.kind = OTLP_KIND_CLIENT;
	/* _OTHER: the span is named "HTTP" (OpenTelemetry's rule). */
	c->span.name = r->op < HM_OTHER ? method : "HTTP";
	add_str(c, "http.request.method", method, strlen(method));
	s = field(text, avail, offsetof(struct http_span_text, path), HTTP_PATH_LEN, &n);
	add_str(c, "url.path", s, n);
	s = field(text, avail, offsetof(struct http_span_text, host), HTTP_HOST_LEN, &n);
	add_str(c, "server.address", s, n);
	if (avail >= sizeof(*t) && t->port)
		add_int(c, "server.port", t->port);
	add_str(c, "network.protocol.version", "1.1", 3);
	if (c->genai)
		genai_attrs(c, c->genai);
	if (r->status > 0)
		add_int(c, "http.response.status_code", r->status);
	if (r->status >= 400) {
		snprintf(c->rc, sizeof(c->rc), "%d", r->status);
		s = c->rc;
	} else if (r->status <= 0) {
		s = errors[r->id > HE_NONE && r->id < HE_MAX ? r->id : HE_CLOSED];
	} else if (r->id > HE_NONE && r->id < HE_MAX) { /* a response cut short */
		s = errors[r->id];
	} else {
		return;
	}
	add_str(c, "error.type", s, strlen(s));
	c->span.status = OTLP_STATUS_ERROR;
	c->span.status_msg = s;
}

int span_convert(struct span_conv *c, const void *rec, size_t size, int64_t mono_to_unix)
{
	const struct span_record *r = rec;
	const char *text = (const char *)(r + 1);
	size_t avail;

	if (size < sizeof(*r) || r->kind >= SPAN_KIND_MAX)
		return -EINVAL;
	avail = size - sizeof(*r);
	memset(&c->span, 0, sizeof(c->span));
	put_be64(c->span.trace_id, r->trace_id[0]);
	put_be64(c->span.trace_id + 8, r->trace_id[1]);
	put_be64(c->span.span_id, r->span_id);
	put_be64(c->span.parent_id, r->parent_id);
	c->span.kind = OTLP_KIND_INTERNAL;
	c->span.start_unix_ns = r->start_ns + mono_to_unix;
	c->span.end_unix_ns = r->end_ns + mono_to_unix;
	c->span.flags = (r->flags & SPAN_F_SAMPLED ? 1 : 0) | OTLP_FLAG_HAS_IS_REMOTE |
			(r->flags & SPAN_F_REMOTE_PARENT ? OTLP_FLAG_IS_REMOTE : 0);
	c->span.attrs = c->attrs;
	switch (r->kind) {
	case SPAN_FILE:
		file_span(c, r, text, avail);
		break;
	case SPAN_DB:
		db_span(c, r, text, avail);
		break;
	case SPAN_HTTP:
		http_span(c, r, text, avail);
		break;
	default:
		probe_span(c, r, text, avail);
	}
	if (!c->span.name_len) /* only a custom span's name is not a C string */
		c->span.name_len = strlen(c->span.name);
	add_int(c, "thread.id", r->tid);
	return 0;
}
