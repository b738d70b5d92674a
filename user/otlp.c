// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "otlp.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

#define TAG(field, wt) ((uint8_t)((field) << 3 | (wt)))
/* A tag of field 1 to 15 is one byte; Span.flags, field 16, takes two. */
#define TAG_LEN	       1
#define FLAGS_TAG      (16 << 3 | WT_I32)
#define VARINT_MAX     10 /* bytes of a 64-bit varint, 7 bits a byte */
#define FIXED64_LEN    (TAG_LEN + sizeof(uint64_t))
#define SPAN_ATTRS_MAX 64 /* attributes encoded of a span; the rest are dropped */

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)v | 0x80;
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Whether s[0..n) is all ASCII, eight bytes at a time: most strings are. */
static bool all_ascii(const char *s, size_t n)
{
	uint64_t acc = 0, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= (unsigned char)s[i];
	return !(acc & 0x8080808080808080ull);
}

/* Bytes string s[0..n) takes once made valid UTF-8. */
static size_t utf8_len(const char *s, size_t n)
{
	size_t i = 0, out = 0, run;

	if (all_ascii(s, n))
		return n;
	while (i < n) {
		run = buf_utf8_span(s + i, n - i, NULL);
		out += run;
		i += run;
		if (i == n)
			break;
		out += BUF_UTF8_REPLACEMENT_LEN;
		i++;
	}
	return out;
}

static uint8_t *put_utf8(uint8_t *p, const char *s, size_t n)
{
	size_t i = 0, run;

	while (i < n) {
		run = buf_utf8_span(s + i, n - i, NULL);
		memcpy(p, s + i, run);
		p += run;
		i += run;
		if (i == n)
			break;
		memcpy(p, BUF_UTF8_REPLACEMENT, BUF_UTF8_REPLACEMENT_LEN);
		p += BUF_UTF8_REPLACEMENT_LEN;
		i++;
	}
	return p;
}

/* The tag and length in front of a length-delimited field of len bytes. */
static size_t len_header(size_t len)
{
	return TAG_LEN + varint_len(len);
}

static size_t field_len(size_t len)
{
	return len_header(len) + len;
}

static size_t varint_field_len(uint64_t v)
{
	return TAG_LEN + varint_len(v);
}

static uint8_t *put_len(uint8_t *p, int field, size_t len)
{
	*p++ = TAG(field, WT_LEN);
	return put_varint(p, len);
}

static uint8_t *put_str(uint8_t *p, int field, const char *s, size_t n, size_t enc)
{
	p = put_len(p, field, enc);
	if (enc == n) /* all valid: one copy */
		memcpy(p, s, n);
	else
		put_utf8(p, s, n);
	return p + enc;
}

static uint8_t *put_fixed64(uint8_t *p, int field, uint64_t v)
{
	*p++ = TAG(field, WT_I64);
	for (int i = 0; i < 8; i++, v >>= 8)
		*p++ = v & 0xff;
	return p;
}

/* An AnyValue's body and a KeyValue's body. */
static size_t value_len(const struct otlp_attr *a, size_t slen_enc)
{
	switch (a->type) {
	case OTLP_STR:
		return field_len(slen_enc);
	case OTLP_STR_ARRAY: /* array_value { values { string_value } } */
		return field_len(field_len(field_len(slen_enc)));
	case OTLP_INT:
		return varint_field_len((uint64_t)a->i);
	case OTLP_BOOL:
		return varint_field_len(1);
	default:
		return FIXED64_LEN;
	}
}

struct kv_sizes {
	size_t klen, key, str, value, kv;
};

static void kv_size(const struct otlp_attr *a, struct kv_sizes *z)
{
	z->klen = strlen(a->key);
	z->key = utf8_len(a->key, z->klen);
	z->str = a->type == OTLP_STR || a->type == OTLP_STR_ARRAY ? utf8_len(a->s, a->slen) : 0;
	z->value = value_len(a, z->str);
	z->kv = field_len(z->key) + field_len(z->value);
}

static uint8_t *put_kv(uint8_t *p, int field, const struct otlp_attr *a, const struct kv_sizes *z)
{
	p = put_len(p, field, z->kv);
	p = put_str(p, 1, a->key, z->klen, z->key);
	p = put_len(p, 2, z->value);
	switch (a->type) {
	case OTLP_STR:
		return put_str(p, 1, a->s, a->slen, z->str);
	case OTLP_STR_ARRAY:
		p = put_len(p, 5, field_len(field_len(z->str)));
		p = put_len(p, 1, field_len(z->str));
		return put_str(p, 1, a->s, a->slen, z->str);
	case OTLP_INT:
		*p++ = TAG(3, WT_VARINT);
		return put_varint(p, (uint64_t)a->i);
	case OTLP_BOOL:
		*p++ = TAG(2, WT_VARINT);
		*p++ = a->i != 0;
		return p;
	default: {
		uint64_t bits;

		memcpy(&bits, &a->d, sizeof(bits));
		return put_fixed64(p, 4, bits);
	}
	}
}

/* Encodes attributes as repeated field into a malloc'd message body. */
static int encode_attrs(const struct otlp_attr *attrs, size_t n, int field, uint8_t **out,
			size_t *len, const char *name, const char *version)
{
	struct kv_sizes z;
	size_t total = 0, nlen = 0, vlen = 0;
	uint8_t *p;

	if (name) {
		nlen = utf8_len(name, strlen(name));
		vlen = version ? utf8_len(version, strlen(version)) : 0;
		total += field_len(nlen) + (version ? field_len(vlen) : 0);
	}
	for (size_t i = 0; i < n; i++) {
		kv_size(&attrs[i], &z);
		total += field_len(z.kv);
	}
	p = *out = malloc(total ?: 1);
	if (!p)
		return -ENOMEM;
	if (name) {
		p = put_str(p, 1, name, strlen(name), nlen);
		if (version)
			p = put_str(p, 2, version, strlen(version), vlen);
	}
	for (size_t i = 0; i < n; i++) {
		kv_size(&attrs[i], &z);
		p = put_kv(p, field, &attrs[i], &z);
	}
	*len = total;
	return 0;
}

int otlp_init(struct otlp *o, const struct otlp_attr *resource, size_t nresource,
	      const char *scope_name, const char *scope_version)
{
	memset(o, 0, sizeof(*o));
	if (encode_attrs(resource, nresource, 1, &o->resource, &o->resource_len, NULL, NULL) ||
	    encode_attrs(NULL, 0, 3, &o->scope, &o->scope_len, scope_name, scope_version)) {
		otlp_fini(o);
		return -ENOMEM;
	}
	/* the request, resource spans, resource and scope spans and scope
	 * headers: a tag and a length of at most 10 bytes each */
	o->headroom = o->resource_len + o->scope_len + 5 * (TAG_LEN + VARINT_MAX);
	return 0;
}

void otlp_fini(struct otlp *o)
{
	free(o->resource);
	free(o->scope);
	memset(o, 0, sizeof(*o));
}

void otlp_batch_init(const struct otlp *o, struct otlp_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->len = o->headroom;
}

void otlp_batch_free(struct otlp_batch *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

size_t otlp_batch_bytes(const struct otlp *o, const struct otlp_batch *b)
{
	return b->len - o->headroom;
}

static int reserve(struct otlp_batch *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 16384;
	uint8_t *d;

	if (b->len + n <= b->cap)
		return 0;
	while (cap < b->len + n)
		cap *= 2;
	d = realloc(b->data, cap);
	if (!d) {
		b->oom = 1;
		return -ENOMEM;
	}
	b->data = d;
	b->cap = cap;
	return 0;
}

static const uint8_t zero_id[8];

/* What a span's fields take, measured before any is written. */
struct span_sizes {
	struct kv_sizes attrs[SPAN_ATTRS_MAX];
	size_t nattrs;
	size_t name, msg; /* the name and status message made valid UTF-8 */
	size_t status;	  /* the Status message, 0 when left out */
	size_t body;	  /* the Span message */
	size_t nevents;	  /* events encoded */
	uint32_t dropped_events;
	bool parent;
};

/* A Span.Event message's body; *name: its name's bytes made valid UTF-8. */
static size_t event_size(const struct otlp_event *e, size_t *name)
{
	size_t body, n = e->nattrs < SPAN_ATTRS_MAX ? e->nattrs : SPAN_ATTRS_MAX;
	struct kv_sizes z;

	*name = utf8_len(e->name, e->name_len);
	body = FIXED64_LEN + field_len(*name);
	for (size_t i = 0; i < n; i++) {
		kv_size(&e->attrs[i], &z);
		body += field_len(z.kv);
	}
	return body;
}

static uint8_t *put_event(uint8_t *p, const struct otlp_event *e)
{
	size_t name, n = e->nattrs < SPAN_ATTRS_MAX ? e->nattrs : SPAN_ATTRS_MAX;
	struct kv_sizes z;

	p = put_len(p, 11, event_size(e, &name));
	p = put_fixed64(p, 1, e->time_unix_ns);
	p = put_str(p, 2, e->name, e->name_len, name);
	for (size_t i = 0; i < n; i++) {
		kv_size(&e->attrs[i], &z);
		p = put_kv(p, 3, &e->attrs[i], &z);
	}
	return p;
}

/* The events and dropped_events_count of a span: the first nevents, and
 * dropped. */
static size_t events_size(const struct otlp_span *s, size_t nevents, uint32_t dropped)
{
	size_t n = 0, name;

	for (size_t i = 0; i < nevents; i++)
		n += field_len(event_size(&s->events[i], &name));
	if (dropped)
		n += varint_field_len(dropped);
	return n;
}

static void span_size(const struct otlp_span *s, struct span_sizes *z)
{
	z->nattrs = s->nattrs < SPAN_ATTRS_MAX ? s->nattrs : SPAN_ATTRS_MAX;
	z->name = utf8_len(s->name, s->name_len);
	z->msg = s->status_msg ? utf8_len(s->status_msg, strlen(s->status_msg)) : 0;
	z->parent = memcmp(s->parent_id, zero_id, sizeof(zero_id)) != 0;
	z->body = field_len(sizeof(s->trace_id)) + field_len(sizeof(s->span_id)) +
		  (z->parent ? field_len(sizeof(s->parent_id)) : 0) + field_len(z->name) +
		  varint_field_len(s->kind) + 2 * FIXED64_LEN +
		  (s->flags ? varint_len(FLAGS_TAG) + sizeof(s->flags) : 0);
	for (size_t i = 0; i < z->nattrs; i++) {
		kv_size(&s->attrs[i], &z->attrs[i]);
		z->body += field_len(z->attrs[i].kv);
	}
	z->nevents = s->nevents < OTLP_EVENTS_MAX ? s->nevents : OTLP_EVENTS_MAX;
	z->dropped_events = s->dropped_events + (s->nevents - z->nevents);
	z->body += events_size(s, z->nevents, z->dropped_events);
	z->status = (s->status_msg ? field_len(z->msg) : 0) +
		    (s->status != OTLP_STATUS_UNSET ? varint_field_len(s->status) : 0);
	if (z->status)
		z->body += field_len(z->status);
}

static uint8_t *put_bytes(uint8_t *p, int field, const uint8_t *b, size_t n)
{
	p = put_len(p, field, n);
	memcpy(p, b, n);
	return p + n;
}

static uint8_t *put_status(uint8_t *p, const struct otlp_span *s, const struct span_sizes *z)
{
	p = put_len(p, 15, z->status);
	if (s->status_msg)
		p = put_str(p, 2, s->status_msg, strlen(s->status_msg), z->msg);
	if (s->status != OTLP_STATUS_UNSET) {
		*p++ = TAG(3, WT_VARINT);
		p = put_varint(p, s->status);
	}
	return p;
}

int otlp_append_span(const struct otlp *o, struct otlp_batch *b, const struct otlp_span *s)
{
	struct span_sizes z;
	uint8_t *p;

	(void)o;
	span_size(s, &z);
	if (reserve(b, field_len(z.body)))
		return -ENOMEM;
	p = put_len(b->data + b->len, 2, z.body);
	p = put_bytes(p, 1, s->trace_id, sizeof(s->trace_id));
	p = put_bytes(p, 2, s->span_id, sizeof(s->span_id));
	if (z.parent)
		p = put_bytes(p, 4, s->parent_id, sizeof(s->parent_id));
	p = put_str(p, 5, s->name, s->name_len, z.name);
	*p++ = TAG(6, WT_VARINT);
	p = put_varint(p, s->kind);
	p = put_fixed64(p, 7, s->start_unix_ns);
	p = put_fixed64(p, 8, s->end_unix_ns);
	for (size_t i = 0; i < z.nattrs; i++)
		p = put_kv(p, 9, &s->attrs[i], &z.attrs[i]);
	for (size_t i = 0; i < z.nevents; i++)
		p = put_event(p, &s->events[i]);
	if (z.dropped_events) {
		*p++ = TAG(12, WT_VARINT);
		p = put_varint(p, z.dropped_events);
	}
	if (z.status)
		p = put_status(p, s, &z);
	if (s->flags) {
		p = put_varint(p, FLAGS_TAG);
		for (size_t i = 0; i < sizeof(s->flags); i++)
			*p++ = (s->flags >> (8 * i)) & 0xff;
	}
	b->len = p - b->data;
	b->nspans++;
	return 0;
}

int otlp_batch_seal(const struct otlp *o, struct otlp_batch *b, uint8_t **alloc,
		    const uint8_t **body, size_t *len)
{
	size_t spans = b->len - o->headroom;
	size_t ss = field_len(o->scope_len) + spans;
	size_t rs = field_len(o->resource_len) + field_len(ss);
	size_t prefix = len_header(rs) + field_len(o->resource_len) + len_header(ss) +
			field_len(o->scope_len);
	uint8_t *p;

	if (reserve(b, 0))
		return -ENOMEM;
	p = b->data + o->headroom - prefix;
	*body = p;
	*len = prefix + spans;
	p = put_len(p, 1, rs);
	p = put_len(p, 1, o->resource_len);
	memcpy(p, o->resource, o->resource_len);
	p = put_len(p + o->resource_len, 2, ss);
	p = put_len(p, 1, o->scope_len);
	memcpy(p, o->scope, o->scope_len);
	*alloc = b->data;
	memset(b, 0, sizeof(*b));
	b->len = o->headroom;
	return 0;
}

static void hex(struct buf *out, const uint8_t *id, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char s[33];

	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[id[i] >> 4];
		s[2 * i + 1] = digits[id[i] & 15];
	}
	buf_append(out, s, 2 * n);
}

/* Attributes as a JSON object. */
static void json_attrs(struct buf *out, const struct otlp_attr *attrs, size_t n)
{
	buf_puts(out, "{");
	for (size_t i = 0; i < n; i++) {
		const struct otlp_attr *a = &attrs[i];

		buf_puts(out, i ? "," : "");
		buf_json_str(out, a->key, strlen(a->key));
		buf_puts(out, ":");
		buf_puts(out, a->type == OTLP_STR_ARRAY ? "[" : "");
		if (a->type == OTLP_STR || a->type == OTLP_STR_ARRAY)
			buf_json_str(out, a->s, a->slen);
		else if (a->type == OTLP_INT)
			buf_printf(out, "%lld", (long long)a->i);
		else if (a->type == OTLP_BOOL)
			buf_puts(out, a->i ? "true" : "false");
		else if (isfinite(a->d))
			buf_printf(out, "%.17g", a->d);
		else /* JSON has no NaN or infinity: OTLP/JSON's strings */
			buf_puts(out, isnan(a->d) ? "\"NaN\""
				      : a->d > 0  ? "\"Infinity\""
						  : "\"-Infinity\"");
		buf_puts(out, a->type == OTLP_STR_ARRAY ? "]" : "");
	}
	buf_puts(out, "}");
}

void otlp_span_json(struct buf *out, const struct otlp_span *s)
{
	static const char *const codes[] = { "UNSET", "OK", "ERROR" };
	static const char *const kinds[] = { "UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT" };
	bool parent = memcmp(s->parent_id, zero_id, 8) != 0;

	buf_puts(out, "{\"trace_id\":\"");
	hex(out, s->trace_id, 16);
	buf_puts(out, "\",\"span_id\":\"");
	hex(out, s->span_id, 8);
	buf_puts(out, "\",\"parent_span_id\":\"");
	if (parent)
		hex(out, s->parent_id, 8);
	buf_puts(out, "\",\"name\":");
	buf_json_str(out, s->name, s->name_len);
	buf_printf(out,
		   ",\"kind\":\"%s\",\"start_time_unix_nano\":%llu,\"end_time_unix_nano\":%llu,"
		   "\"flags\":%u,\"status\":{\"code\":\"%s\"",
		   kinds[s->kind & 3], (unsigned long long)s->start_unix_ns,
		   (unsigned long long)s->end_unix_ns, s->flags, codes[s->status % 3]);
	buf_puts(out, ",\"message\":");
	buf_json_str(out, s->status_msg ?: "", s->status_msg ? strlen(s->status_msg) : 0);
	buf_puts(out, "},\"attributes\":");
	json_attrs(out, s->attrs, s->nattrs);
	if (s->nevents)
		buf_puts(out, ",\"events\":[");
	for (size_t i = 0; i < s->nevents; i++) {
		const struct otlp_event *e = &s->events[i];

		buf_printf(out, "%s{\"time_unix_nano\":%llu,\"name\":", i ? "," : "",
			   (unsigned long long)e->time_unix_ns);
		buf_json_str(out, e->name, e->name_len);
		buf_puts(out, ",\"attributes\":");
		json_attrs(out, e->attrs, e->nattrs);
		buf_puts(out, i + 1 == s->nevents ? "}]" : "}");
	}
	buf_puts(out, "}\n");
}
