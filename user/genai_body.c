// SPDX-License-Identifier: MIT
/*
 * The bytes of a model call, layer by layer (user/genai_body.h): the
 * response head; chunked framing; inflate; then the JSON values, found in
 * a single body, in the data of server-sent events, or one a line. Each
 * layer passes what it decoded to the next as it goes.
 */
#include "genai_body.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_parse.h>
#include <zlib.h>

#define DEPTH	16 /* JSON nesting followed; deeper keys are not looked at */
#define KEY_LEN 32

enum chunk_state { CK_SIZE, CK_EXT, CK_DATA, CK_DATA_END, CK_TRAILER, CK_TRAILER_LINE, CK_END };

/* Where an event stream's line is. */
enum sse_state { SSE_LINE, SSE_FIELD, SSE_DATA_SPACE, SSE_DATA, SSE_SKIP };

struct frame {
	char key[KEY_LEN]; /* a map's current key; "" for an array */
	bool array;
};

struct genai_body {
	struct genai_result r;
	bool response, in_body, chunked, inflating, z_ended;
	char head[GENAI_HEAD_MAX];
	size_t head_len;
	enum chunk_state ck;
	uint64_t ck_left;
	z_stream z;
	enum sse_state sse;
	char field[8];
	size_t field_len;
	bool event_data; /* the event under way has data */
	yajl_handle y;	 /* the JSON value under way, or NULL */
	bool y_bad;	 /* it does not parse */
	struct frame stack[DEPTH];
	int depth; /* frames open; past DEPTH counted, not kept */
	uint64_t ts, prev_ns;
	genai_chunk_fn on_chunk;
	void *arg;
};

/* JSON: the key a value is under, and the key the map holding it is under. */

static const char *key0(const struct genai_body *b)
{
	const struct frame *f = b->depth > 0 && b->depth <= DEPTH ? &b->stack[b->depth - 1] : NULL;

	return f && !f->array ? f->key : "";
}

/* The key of the nearest map enclosing the current one (arrays skipped). */
static const char *key1(const struct genai_body *b)
{
	for (int i = (b->depth <= DEPTH ? b->depth : 0) - 2; i >= 0; i--)
		if (!b->stack[i].array)
			return b->stack[i].key;
	return "";
}

static bool is(const char *s, const char *a, const char *b)
{
	return !strcmp(s, a) || (b && !strcmp(s, b));
}

/* Which token count key k of a map under key p is, or -1. */
static int token_of(const char *p, const char *k, int depth)
{
	if (!strcmp(p, "usage")) {
		if (is(k, "prompt_tokens", "input_tokens"))
			return GT_INPUT;
		if (is(k, "completion_tokens", "output_tokens"))
			return GT_OUTPUT;
		if (!strcmp(k, "cache_read_input_tokens"))
			return GT_CACHED_INPUT;
	}
	if (is(p, "prompt_tokens_details", "input_tokens_details") && !strcmp(k, "cached_tokens"))
		return GT_CACHED_INPUT;
	if (is(p, "completion_tokens_details", "output_tokens_details") &&
	    !strcmp(k, "reasoning_tokens"))
		return GT_REASONING;
	if (depth == 1 && !strcmp(k, "prompt_eval_count")) /* Ollama */
		return GT_INPUT;
	if (depth == 1 && !strcmp(k, "eval_count"))
		return GT_OUTPUT;
	return -1;
}

static int on_integer(void *ctx, long long v)
{
	struct genai_body *b = ctx;
	int t = token_of(key1(b), key0(b), b->depth);

	if (t >= 0 && v >= 0)
		b->r.tokens[t] = v; /* the last given: a stream's final count */
	return 1;
}

static void copy(char *dst, size_t size, const unsigned char *s, size_t len)
{
	len = len < size - 1 ? len : size - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
	struct genai_body *b = ctx;
	const char *k = key0(b), *p = key1(b);

	if (!strcmp(k, "model") &&
	    (b->depth == 1 || (b->depth == 2 && is(p, "message", "response"))))
		copy(b->r.model, sizeof(b->r.model), s, len);
	else if (b->response && !b->r.finish[0] &&
		 (is(k, "finish_reason", "stop_reason") || !strcmp(k, "done_reason")))
		copy(b->r.finish, sizeof(b->r.finish), s, len);
	return 1;
}

static int on_boolean(void *ctx, int v)
{
	struct genai_body *b = ctx;

	if (!b->response && b->depth == 1 && !strcmp(key0(b), "stream"))
		b->r.stream = v;
	return 1;
}

static int open_frame(struct genai_body *b, bool array)
{
	if (b->depth < DEPTH) {
		b->stack[b->depth].key[0] = '\0';
		b->stack[b->depth].array = array;
	}
	b->depth++;
	return 1;
}

static int on_start_map(void *ctx)
{
	return open_frame(ctx, false);
}

static int on_start_array(void *ctx)
{
	return open_frame(ctx, true);
}

static int on_end(void *ctx)
{
	struct genai_body *b = ctx;

	b->depth--;
	return 1;
}

static int on_key(void *ctx, const unsigned char *s, size_t len)
{
	struct genai_body *b = ctx;

	if (b->depth > 0 && b->depth <= DEPTH)
		copy(b->stack[b->depth - 1].key, KEY_LEN, s, len);
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_boolean = on_boolean,
	.yajl_integer = on_integer,
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_key,
	.yajl_end_map = on_end,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_end,
};

/* A JSON value begins arriving now: a chunk. */
static void chunk_begins(struct genai_body *b)
{
	if (!b->r.chunks++)
		b->r.first_ns = b->ts;
	else if (b->on_chunk)
		b->on_chunk(b->arg, b->ts - b->prev_ns);
	b->prev_ns = b->ts;
}

static void json_begin(struct genai_body *b)
{
	b->y = yajl_alloc(&callbacks, NULL, b);
	b->y_bad = !b->y;
	b->depth = 0;
}

static void json_feed(struct genai_body *b, const char *p, size_t n)
{
	if (!n)
		return;
	if (!b->y && !b->y_bad)
		json_begin(b);
	if (!b->y_bad && yajl_parse(b->y, (const unsigned char *)p, n) != yajl_status_ok)
		b->y_bad = true;
}

/* The value under way is whole: 1 when it parsed, 0 when it did not, -1
 * when it was good as far as it went. */
static int json_end(struct genai_body *b)
{
	int ok = !b->y || b->y_bad ? 0 : yajl_complete_parse(b->y) == yajl_status_ok ? 1 : -1;

	if (b->y)
		yajl_free(b->y);
	b->y = NULL;
	b->y_bad = false;
	return ok;
}

/* The length of the run of p (n bytes) up to its first newline, and of
 * that run without the carriage return of a CRLF. */
static size_t line_run(const char *p, size_t n, size_t *text)
{
	const char *nl = memchr(p, '\n', n);
	size_t run = nl ? (size_t)(nl - p) : n;

	*text = nl && run && p[run - 1] == '\r' ? run - 1 : run;
	return run;
}

/* Newline-delimited JSON: a chunk each line that is not blank. */
static void ndjson_feed(struct genai_body *b, const char *p, size_t n)
{
	while (n) {
		size_t text, run;

		/* A value begins at a line's first byte that is not white space. */
		while (n && !b->y && !b->y_bad && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++, n--;
		if (!n)
			return;
		run = line_run(p, n, &text);
		if (text && !b->y && !b->y_bad) {
			chunk_begins(b);
			json_begin(b);
		}
		if (text)
			json_feed(b, p, text);
		if (run < n) { /* the newline */
			if (b->y || b->y_bad)
				json_end(b);
			run++;
		}
		p += run, n -= run;
	}
}

/* Server-sent events: the data lines of an event are one JSON value ("[DONE]"
 * and other values that do not parse are passed over). Returns how many of
 * the n bytes at p it took. */
static size_t sse_feed(struct genai_body *b, const char *p, size_t n)
{
	char c = *p;
	size_t text, run;

	switch (b->sse) {
	case SSE_LINE:
		if (c == '\n' || c == '\r') { /* a blank line: the event is whole */
			if (c == '\n' && b->event_data)
				json_end(b);
			b->event_data &= c == '\r';
			return 1;
		}
		b->field_len = 0;
		b->sse = SSE_FIELD;
		/* fallthrough */
	case SSE_FIELD:
		if (c == ':' && b->field_len == 4 && !memcmp(b->field, "data", 4)) {
			if (!b->event_data)
				chunk_begins(b);
			else
				json_feed(b, "\n", 1);
			b->event_data = true;
			b->sse = SSE_DATA_SPACE;
		} else if (c == ':' || c == '\n' || b->field_len == sizeof(b->field)) {
			b->sse = c == '\n' ? SSE_LINE : SSE_SKIP;
		} else if (c != '\r') {
			b->field[b->field_len++] = c;
		}
		return 1;
	case SSE_DATA_SPACE:
		b->sse = SSE_DATA;
		if (c == ' ')
			return 1;
		/* fallthrough */
	case SSE_DATA:
		run = line_run(p, n, &text);
		json_feed(b, p, text);
		if (run == n)
			return n;
		b->sse = SSE_LINE;
		return run + 1;
	case SSE_SKIP:
		run = line_run(p, n, &text);
		if (run == n)
			return n;
		b->sse = SSE_LINE;
		return run + 1;
	}
	return 1;
}

/* Decoded body bytes: to the JSON values. */
static void content(struct genai_body *b, const char *p, size_t n)
{
	if (!n)
		return;
	switch (b->r.layout) {
	case GL_JSON:
		if (!b->r.chunks)
			chunk_begins(b);
		json_feed(b, p, n);
		break;
	case GL_NDJSON:
		ndjson_feed(b, p, n);
		break;
	case GL_SSE:
		while (n) {
			size_t took = sse_feed(b, p, n);

			p += took, n -= took;
		}
		break;
	}
}

static void decoded(struct genai_body *b, const char *p, size_t n)
{
	char out[16384];

	if (!b->inflating) {
		content(b, p, n);
		return;
	}
	b->z.next_in = (Bytef *)p;
	b->z.avail_in = n;
	while (!b->z_ended && !b->r.fault && (b->z.avail_in || !b->z.avail_out)) {
		int rc;

		b->z.next_out = (Bytef *)out;
		b->z.avail_out = sizeof(out);
		rc = inflate(&b->z, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			b->r.fault = GF_INFLATE;
		content(b, out, sizeof(out) - b->z.avail_out);
		b->z_ended = rc == Z_STREAM_END;
		if (rc == Z_BUF_ERROR)
			break;
	}
}

/* One byte of chunked framing (data runs are passed on by dechunk()). */
static void chunk_byte(struct genai_body *b, char c)
{
	int d = c >= '0' && c <= '9'			 ? c - '0'
		: (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
							 : -1;

	switch (b->ck) {
	case CK_SIZE:
		if (d >= 0 && b->ck_left >> 59 == 0) {
			b->ck_left = b->ck_left << 4 | d;
			return;
		}
		b->ck = CK_EXT;
		/* fallthrough */
	case CK_EXT:
		if (c == '\n')
			b->ck = b->ck_left ? CK_DATA : CK_TRAILER;
		return;
	case CK_DATA_END:
		if (c == '\n')
			b->ck = CK_SIZE;
		return;
	case CK_TRAILER:
		b->ck = c == '\n' ? CK_END : c == '\r' ? CK_TRAILER : CK_TRAILER_LINE;
		return;
	case CK_TRAILER_LINE:
		if (c == '\n')
			b->ck = CK_TRAILER;
		return;
	default:
		return;
	}
}

static void dechunk(struct genai_body *b, const char *p, size_t n)
{
	while (n && b->ck != CK_END) {
		if (b->ck == CK_DATA) {
			size_t take = n < b->ck_left ? n : b->ck_left;

			decoded(b, p, take);
			p += take, n -= take;
			if (!(b->ck_left -= take))
				b->ck = CK_DATA_END;
			continue;
		}
		chunk_byte(b, *p++);
		n--;
	}
}

/* The value of header name in the head, or NULL; *len its length. */
static const char *header(const char *head, const char *name, size_t *len)
{
	size_t nl = strlen(name);

	for (const char *l = strchr(head, '\n'); l; l = strchr(l, '\n')) {
		l++;
		if (!strncasecmp(l, name, nl) && l[nl] == ':') {
			const char *v = l + nl + 1, *e;

			v += strspn(v, " \t");
			e = strpbrk(v, "\r\n");
			*len = e ? (size_t)(e - v) : strlen(v);
			return v;
		}
	}
	return NULL;
}

static bool has(const char *v, size_t len, const char *word)
{
	size_t wl = strlen(word);

	for (size_t i = 0; v && i + wl <= len; i++)
		if (!strncasecmp(v + i, word, wl))
			return true;
	return false;
}

/* The head is whole (NUL-terminated in b->head): its status and framing. */
static void head_parsed(struct genai_body *b)
{
	size_t len = 0;
	const char *v;

	if (b->inflating) { /* a head after a 100 Continue's */
		inflateEnd(&b->z);
		b->inflating = false;
	}
	if (strncmp(b->head, "HTTP/1.", 7) || strlen(b->head) < 12) {
		b->r.fault = GF_HEAD;
		return;
	}
	b->r.status = atoi(b->head + 9);
	v = header(b->head, "transfer-encoding", &len);
	b->chunked = has(v, len, "chunked");
	v = header(b->head, "content-type", &len);
	b->r.layout = has(v, len, "event-stream") ? GL_SSE
		      : has(v, len, "ndjson")	  ? GL_NDJSON
						  : GL_JSON;
	v = header(b->head, "content-encoding", &len);
	if (v && len && (has(v, len, "gzip") || has(v, len, "deflate"))) {
		/* 32: a gzip or a zlib header, whichever comes. */
		b->inflating = inflateInit2(&b->z, 32 + MAX_WBITS) == Z_OK;
		if (!b->inflating)
			b->r.fault = GF_INFLATE;
	} else if (v && len && !has(v, len, "identity")) {
		b->r.fault = GF_ENCODING;
	}
}

/* Response bytes before the body: into the head until its empty line.
 * Returns how many of the n were the head's. */
static size_t head_feed(struct genai_body *b, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !b->in_body; i++) {
		if (b->head_len == sizeof(b->head) - 1) {
			b->r.fault = GF_HEAD;
			return n;
		}
		b->head[b->head_len++] = p[i];
		if (p[i] == '\n' && b->head_len >= 2 &&
		    (b->head[b->head_len - 2] == '\n' ||
		     (b->head_len >= 3 && b->head[b->head_len - 2] == '\r' &&
		      b->head[b->head_len - 3] == '\n'))) {
			b->head[b->head_len] = '\0';
			head_parsed(b);
			if (b->r.status >= 100 && b->r.status < 200) /* 100 Continue */
				b->head_len = 0;
			else
				b->in_body = true;
		}
	}
	return i;
}

struct genai_body *genai_body_new(int response, genai_chunk_fn on_chunk, void *arg)
{
	struct genai_body *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->response = response;
	b->in_body = !response;
	b->on_chunk = on_chunk;
	b->arg = arg;
	for (int t = 0; t < GT_MAX; t++)
		b->r.tokens[t] = -1;
	return b;
}

void genai_body_feed(struct genai_body *b, const void *data, size_t n, uint64_t ts_ns)
{
	const char *p = data;

	b->ts = ts_ns;
	if (!b->in_body) {
		size_t h = head_feed(b, p, n);

		p += h, n -= h;
	}
	if (b->r.fault || !n)
		return;
	if (b->chunked)
		dechunk(b, p, n);
	else
		decoded(b, p, n);
}

const struct genai_result *genai_body_end(struct genai_body *b)
{
	bool whole =
		b->in_body && (!b->chunked || b->ck == CK_END) && (!b->inflating || b->z_ended);

	if (b->r.layout == GL_JSON && (b->y || b->y_bad)) {
		int parsed = json_end(b);

		if (parsed < 1 && !b->r.fault)
			b->r.fault = parsed < 0 || !whole ? GF_TRUNCATED : GF_JSON;
	} else if (b->y || b->y_bad) {
		json_end(b); /* a last event or line without its end */
	}
	if (!whole && !b->r.fault)
		b->r.fault = b->in_body ? GF_TRUNCATED : GF_HEAD;
	return &b->r;
}

void genai_body_free(struct genai_body *b)
{
	if (!b)
		return;
	if (b->y)
		yajl_free(b->y);
	if (b->inflating)
		inflateEnd(&b->z);
	free(b);
}
