// SPDX-License-Identifier: MIT
/*
 * Span records as the kernel writes them (include/spans_maps.h), with
 * arbitrary header, name and "k=v;k=v" attributes, through span_convert()
 * (user/spanconv.c) and the OTLP/protobuf encoder (user/otlp.c). Checks
 * that the attributes are the pairs a reference splitter written here finds
 * (16 at most, empty keys skipped), and that the encoded request decodes: a
 * protobuf wire-format walker, also written here, follows every field of
 * the messages the encoder writes (trace/v1), checks each length against
 * its enclosing message, each string for UTF-8, and compares the spans it
 * decodes with what was converted. The console exporter's JSON line is
 * checked for UTF-8 and unescaped control bytes.
 *
 * Input: the record header (its bytes as they come), a control byte, a
 * name field (up to 64 bytes), an attributes field (up to 256), two label
 * fields (a task or agent span's series labels), a size byte. The record is
 * allocated at its exact size, so that reading past it is caught.
 */
#include <errno.h>
#include <linux/types.h>

#include "buf.h"
#include "fuzz.h"
#include "otlp.h"
#include "spanconv.h"

#define MAX_SPANS 3

struct decoded_attr {
	const uint8_t *key, *s;
	size_t klen, slen;
	int type; /* the AnyValue field: 1 string, 2 bool, 3 int, 4 double, 5 array */
	uint64_t v;
};

struct decoded_span {
	const uint8_t *trace_id, *span_id, *parent_id, *name;
	size_t name_len;
	uint64_t kind;
	struct decoded_attr attrs[SPAN_MAX_ATTRS];
	size_t nattrs;
	uint64_t status;
	uint32_t flags;
};

struct decoded {
	struct decoded_span spans[MAX_SPANS];
	size_t nspans, nresource;
	bool scope;
};

/* A protobuf message being read: the bytes [p, end). */
struct pb {
	const uint8_t *p, *end;
};

static uint64_t pb_varint(struct pb *m)
{
	uint64_t v = 0;

	for (int i = 0; i < 10; i++) {
		CHECK(m->p < m->end, "varint past the end of its message");
		v |= (uint64_t)(*m->p & 0x7f) << (7 * i);
		if (!(*m->p++ & 0x80))
			return v;
	}
	CHECK(0, "varint longer than 10 bytes");
	return 0;
}

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Reads the next field: its number and wire type; a LEN field's bytes in
 * sub, a number's value in v. */
static uint32_t pb_field(struct pb *m, int *wt, struct pb *sub, uint64_t *v)
{
	uint64_t tag = pb_varint(m), len;
	uint32_t field = (uint32_t)(tag >> 3);

	*wt = tag & 7;
	CHECK(field > 0 && tag >> 3 < (1u << 29), "field number %llu", (unsigned long long)field);
	switch (*wt) {
	case WT_VARINT:
		*v = pb_varint(m);
		break;
	case WT_I64:
	case WT_I32:
		len = *wt == WT_I64 ? 8 : 4;
		CHECK((size_t)(m->end - m->p) >= len, "fixed field past the end");
		*v = 0;
		memcpy(v, m->p, len);
		m->p += len;
		break;
	case WT_LEN:
		len = pb_varint(m);
		CHECK(len <= (uint64_t)(m->end - m->p), "length %llu past the end (%zu left)",
		      (unsigned long long)len, (size_t)(m->end - m->p));
		sub->p = m->p;
		sub->end = m->p + len;
		m->p += len;
		break;
	default:
		CHECK(0, "wire type %d", *wt);
	}
	return field;
}

#define EXPECT_WT(field, want) CHECK(wt == (want), "field %u: wire type %d", field, wt)

static void pb_string(const struct pb *s)
{
	CHECK(utf8_valid(s->p, (size_t)(s->end - s->p)), "string field is not UTF-8");
}

static void walk_array(struct pb m, struct decoded_attr *a);

/* AnyValue */
static void walk_any(struct pb m, struct decoded_attr *a)
{
	struct pb sub;
	uint64_t v;
	int wt;

	while (m.p < m.end) {
		uint32_t f = pb_field(&m, &wt, &sub, &v);

		CHECK(f >= 1 && f <= 5, "AnyValue field %u", f);
		EXPECT_WT(f, f == 1 || f == 5 ? WT_LEN : f == 4 ? WT_I64 : WT_VARINT);
		if (f == 5) {
			walk_array(sub, a);
			continue;
		}
		a->type = (int)f;
		a->v = v;
		if (f == 1) {
			pb_string(&sub);
			a->s = sub.p;
			a->slen = (size_t)(sub.end - sub.p);
		}
	}
}

/* ArrayValue: spanconv's hold one string (the finish reasons). */
static void walk_array(struct pb m, struct decoded_attr *a)
{
	struct pb sub;
	uint64_t v;
	int wt, n = 0;

	while (m.p < m.end) {
		uint32_t f = pb_field(&m, &wt, &sub, &v);

		CHECK(f == 1, "ArrayValue field %u", f);
		EXPECT_WT(f, WT_LEN);
		walk_any(sub, a);
		CHECK(a->type == 1, "an array of AnyValue field %d", a->type);
		n++;
	}
	CHECK(n == 1, "an array of %d values", n);
	a->type = 5;
}

/* KeyValue */
static void walk_kv(struct pb m, struct decoded_attr *a)
{
	struct pb sub;
	uint64_t v;
	int wt;

	memset(a, 0, sizeof(*a));
	while (m.p < m.end) {
		uint32_t f = pb_field(&m, &wt, &sub, &v);

		CHECK(f == 1 || f == 2, "KeyValue field %u", f);
		EXPECT_WT(f, WT_LEN);
		if (f == 1) {
			pb_string(&sub);
			a->key = sub.p;
			a->klen = (size_t)(sub.end - sub.p);
		} else {
			walk_any(sub, a);
		}
	}
	CHECK(a->key && a->type, "KeyValue without key or value");
}

static void walk_span(struct pb m, struct decoded_span *s)
{
	struct pb sub, st;
	uint64_t v;
	int wt;

	while (m.p < m.end) {
		uint32_t f = pb_field(&m, &wt, &sub, &v);

		switch (f) {
		case 1: /* trace_id */
		case 2: /* span_id */
		case 4: /* parent_span_id */
			EXPECT_WT(f, WT_LEN);
			CHECK(sub.end - sub.p == (f == 1 ? 16 : 8), "id of %zu bytes",
			      (size_t)(sub.end - sub.p));
			*(f == 1 ? &s->trace_id : f == 2 ? &s->span_id : &s->parent_id) = sub.p;
			break;
		case 5: /* name */
			EXPECT_WT(f, WT_LEN);
			pb_string(&sub);
			s->name = sub.p;
			s->name_len = (size_t)(sub.end - sub.p);
			break;
		case 6: /* kind */
			EXPECT_WT(f, WT_VARINT);
			s->kind = v;
			break;
		case 7: /* start_time_unix_nano */
		case 8:
			EXPECT_WT(f, WT_I64);
			break;
		case 9: /* attributes */
			EXPECT_WT(f, WT_LEN);
			CHECK(s->nattrs < SPAN_MAX_ATTRS, "more attributes than converted");
			walk_kv(sub, &s->attrs[s->nattrs++]);
			break;
		case 15: /* status */
			EXPECT_WT(f, WT_LEN);
			while (sub.p < sub.end) {
				uint32_t g = pb_field(&sub, &wt, &st, &v);

				CHECK(g == 2 || g == 3, "Status field %u", g);
				EXPECT_WT(g, g == 2 ? WT_LEN : WT_VARINT);
				if (g == 2)
					pb_string(&st);
				else
					s->status = v;
			}
			break;
		case 16: /* flags */
			EXPECT_WT(f, WT_I32);
			s->flags = (uint32_t)v;
			break;
		default:
			CHECK(0, "Span field %u", f);
		}
	}
	CHECK(s->trace_id && s->span_id && s->name, "Span without ids or name");
}

/* InstrumentationScope, then ScopeSpans */
static void walk_scope(struct pb m, struct decoded *d)
{
	struct pb sub;
	uint64_t v;
	int wt;

	while (m.p < m.end) {
		uint32_t f = pb_field(&m, &wt, &sub, &v);

		CHECK(f == 1 || f == 2, "InstrumentationScope field %u", f);
		EXPECT_WT(f, WT_LEN);
		pb_string(&sub);
	}
	d->scope = true;
}

static void walk_scope_spans(struct pb m, struct decoded *d)
{
	struct pb sub;
	uint64_t v;
	int wt;

	while (m.p < m.end) {
		uint32_t f = pb_field(&m, &wt, &sub, &v);

		CHECK(f == 1 || f == 2, "ScopeSpans field %u", f);
		EXPECT_WT(f, WT_LEN);
		if (f == 1) {
			walk_scope(sub, d);
		} else {
			CHECK(d->nspans < MAX_SPANS, "more spans than appended");
			walk_span(sub, &d->spans[d->nspans++]);
		}
	}
}

/* Resource, ResourceSpans, ExportTraceServiceRequest */
static void walk_request(struct pb m, struct decoded *d)
{
	struct pb rs, sub, res;
	struct decoded_attr a;
	uint64_t v;
	int wt, n = 0;

	while (m.p < m.end) {
		CHECK(pb_field(&m, &wt, &rs, &v) == 1 && wt == WT_LEN, "request field");
		CHECK(++n == 1, "more than one ResourceSpans");
		while (rs.p < rs.end) {
			uint32_t f = pb_field(&rs, &wt, &sub, &v);

			CHECK(f == 1 || f == 2, "ResourceSpans field %u", f);
			EXPECT_WT(f, WT_LEN);
			if (f == 2) {
				walk_scope_spans(sub, d);
				continue;
			}
			while (sub.p < sub.end) {
				CHECK(pb_field(&sub, &wt, &res, &v) == 1 && wt == WT_LEN,
				      "Resource field");
				walk_kv(res, &a);
				d->nresource++;
			}
		}
	}
}

/* The custom attributes a span's "k=v;k=v" holds, split as docs/DESIGN.md
 * (3. The probe ABI) and the README say: pairs apart by ';', key and value by the first '=',
 * empty keys skipped, 16 kept. Compared with what span_convert() made. */
static void check_custom(const struct span_conv *c, const char *text, size_t avail)
{
	const char *a = avail > SPAN_NAME_LEN ? text + SPAN_NAME_LEN : "";
	size_t n = avail > SPAN_NAME_LEN ? strnlen(a, avail - SPAN_NAME_LEN < SPAN_ATTRS_LEN
							      ? avail - SPAN_NAME_LEN
							      : SPAN_ATTRS_LEN)
					 : 0;
	size_t at = 1, kept = 0; /* attrs[0] is aet.span.id */

	for (size_t i = 0; i <= n && kept < SPAN_CUSTOM_ATTRS;) {
		size_t end = i, eq;

		while (end < n && a[end] != ';')
			end++;
		for (eq = i; eq < end && a[eq] != '='; eq++)
			;
		if (eq > i) {
			const struct otlp_attr *x = &c->attrs[at++];
			size_t vlen = eq < end ? end - eq - 1 : 0;

			CHECK(x->type == OTLP_STR && strlen(x->key) == eq - i &&
				      !memcmp(x->key, a + i, eq - i),
			      "custom attribute %zu: key", kept);
			CHECK(x->slen == vlen && (!vlen || !memcmp(x->s, a + eq + 1, vlen)),
			      "custom attribute %zu: value", kept);
			kept++;
		}
		if (end == n)
			break;
		i = end + 1;
	}
	CHECK(!strcmp(c->attrs[at].key, "aet.status"), "%zu custom attributes, then %s", kept,
	      c->attrs[at].key);
}

/* The decoded span against the converted one. */
static void check_span(const struct decoded_span *d, const struct otlp_span *s)
{
	uint8_t *want = malloc(3 * (s->name_len + 512));
	size_t n;

	CHECK(want, "out of memory");
	CHECK(!memcmp(d->trace_id, s->trace_id, 16) && !memcmp(d->span_id, s->span_id, 8),
	      "ids differ");
	CHECK(!!d->parent_id == !!memcmp(s->parent_id, "\0\0\0\0\0\0\0\0", 8), "parent");
	n = utf8_sanitize((const uint8_t *)s->name, s->name_len, want);
	CHECK(d->name_len == n && !memcmp(d->name, want, n), "name differs");
	CHECK(d->kind == (uint64_t)s->kind && d->status == (uint64_t)s->status &&
		      d->flags == s->flags,
	      "kind, status or flags differ");
	CHECK(d->nattrs == s->nattrs, "%zu attributes decoded of %zu", d->nattrs, s->nattrs);
	for (size_t i = 0; i < s->nattrs; i++) {
		const struct otlp_attr *a = &s->attrs[i];
		const struct decoded_attr *x = &d->attrs[i];

		n = utf8_sanitize((const uint8_t *)a->key, strlen(a->key), want);
		CHECK(x->klen == n && !memcmp(x->key, want, n), "attribute %zu: key", i);
		if (a->type == OTLP_STR || a->type == OTLP_STR_ARRAY) {
			n = utf8_sanitize((const uint8_t *)a->s, a->slen, want);
			CHECK(x->type == (a->type == OTLP_STR ? 1 : 5) && x->slen == n &&
				      !memcmp(x->s, want, n),
			      "attribute %zu: value", i);
		} else {
			CHECK(a->type == OTLP_INT && x->type == 3 && x->v == (uint64_t)a->i,
			      "attribute %zu: integer", i);
		}
	}
	free(want);
}

static void check_json(const struct otlp_span *s)
{
	struct buf b;

	buf_init(&b);
	otlp_span_json(&b, s);
	CHECK(!b.oom && b.len >= 3 && !memcmp(b.data + b.len - 3, "}}\n", 3), "JSON line end");
	CHECK(utf8_valid((const uint8_t *)b.data, b.len), "JSON is not UTF-8");
	for (size_t i = 0; i + 1 < b.len; i++)
		CHECK((uint8_t)b.data[i] >= 0x20, "control byte 0x%02x in JSON", b.data[i]);
	buf_free(&b);
}

static void encode_and_walk(const struct span_conv *c, int nspans)
{
	const struct otlp_attr resource[] = {
		{ .key = "service.name", .type = OTLP_STR, .s = "aet", .slen = 3 },
		{ .key = "aet.fuzz",
		  .type = OTLP_STR,
		  .s = c->span.name,
		  .slen = c->span.name_len },
	};
	struct decoded d = { 0 };
	struct otlp_batch b;
	const uint8_t *body;
	uint8_t *alloc;
	struct otlp o;
	size_t len;

	CHECK(!otlp_init(&o, resource, 2, "aet-collector", "0.1.0"), "otlp_init");
	otlp_batch_init(&o, &b);
	for (int i = 0; i < nspans; i++)
		CHECK(!otlp_append_span(&o, &b, &c->span), "append");
	CHECK(!otlp_batch_seal(&o, &b, &alloc, &body, &len), "seal");
	walk_request((struct pb){ body, body + len }, &d);
	CHECK(d.nspans == (size_t)nspans && d.nresource == 2 && d.scope, "%zu spans decoded",
	      d.nspans);
	for (int i = 0; i < nspans; i++)
		check_span(&d.spans[i], &c->span);
	free(alloc);
	otlp_batch_free(&b);
	otlp_fini(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct span_record hdr;
	char text[SPAN_TEXT_CUSTOM] = { 0 };
	char *labels[2] = { NULL, NULL };
	const uint8_t *f;
	struct span_conv c = { 0 };
	struct genai_span g = { .provider = "openai", .operation = "chat" };
	size_t len, rsize;
	uint8_t ctl, m;
	void *rec;
	int rc;

	in_bytes(&in, &hdr, sizeof(hdr));
	ctl = in_byte(&in);
	/* mostly custom spans: theirs is the text that is parsed */
	hdr.kind = ctl & 0x80 ? SPAN_CUSTOM : ctl % (SPAN_KIND_MAX + 1);
	f = in_field(&in, SPAN_NAME_LEN, &len);
	memcpy(text, f, len);
	f = in_field(&in, SPAN_ATTRS_LEN - 1, &len);
	memcpy(text + SPAN_NAME_LEN, f, len);
	if (ctl & 0x40) /* an attributes field without its NUL */
		memset(text + SPAN_NAME_LEN + len, 'x', SPAN_ATTRS_LEN - len);
	for (int i = 0; i < 2; i++) {
		f = in_field(&in, 64, &len);
		if (len == 64)
			continue; /* NULL: no labels */
		/* 63 bytes: without a NUL, as a full label value may be read */
		labels[i] = malloc(len + (len < 63));
		CHECK(labels[i], "out of memory");
		memcpy(labels[i], f, len);
		if (len < 63)
			labels[i][len] = '\0';
	}
	if (in_byte(&in) & 1) { /* what a model call said, its strings maybe without a NUL */
		f = in_field(&in, GENAI_MODEL_LEN, &len);
		memcpy(g.request_model, f, len);
		f = in_field(&in, GENAI_MODEL_LEN, &len);
		memcpy(g.response_model, f, len);
		f = in_field(&in, GENAI_FINISH_LEN, &len);
		memcpy(g.finish, f, len);
		g.input_tokens = (int8_t)in_byte(&in);
		g.output_tokens = (int8_t)in_byte(&in);
		c.genai = &g;
	}
	m = in_byte(&in);
	/* the record as the ring gave it: whole, or cut anywhere */
	rsize = m & 0x80 ? (size_t)(m & 0x7f) * (sizeof(hdr) + sizeof(text)) / 127
			 : sizeof(hdr) + sizeof(text);
	rec = malloc(rsize ? rsize : 1);
	CHECK(rec, "out of memory");
	memcpy(rec, &hdr, rsize < sizeof(hdr) ? rsize : sizeof(hdr));
	if (rsize > sizeof(hdr))
		memcpy((char *)rec + sizeof(hdr), text, rsize - sizeof(hdr));

	c.labels[0] = labels[0];
	c.labels[1] = labels[1];
	rc = span_convert(&c, rec, rsize, (int64_t)hdr.id);
	if (rsize < sizeof(hdr) || hdr.kind >= SPAN_KIND_MAX) {
		CHECK(rc == -EINVAL, "rc %d for a record of %zu bytes, kind %u", rc, rsize,
		      hdr.kind);
	} else {
		CHECK(rc == 0, "rc %d", rc);
		CHECK(c.span.nattrs <= SPAN_MAX_ATTRS && c.span.name && c.span.name_len,
		      "converted span");
		if (hdr.kind == SPAN_CUSTOM)
			check_custom(&c, (const char *)rec + sizeof(hdr), rsize - sizeof(hdr));
		encode_and_walk(&c, 1 + ctl % MAX_SPANS);
		check_json(&c.span);
	}
	free(rec);
	free(labels[0]);
	free(labels[1]);
	return 0;
}
