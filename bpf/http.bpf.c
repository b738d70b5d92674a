// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * HTTP/1.1 client requests of the target processes: over TLS from uprobes
 * on the SSL_read/SSL_write functions of the libssl they map (the bytes
 * before encryption and after decryption), in plain text from the socket
 * syscalls of the followed processes. A connection is a socket descriptor
 * or an SSL object; it is HTTP when the first bytes written on it are a
 * request line, so a TLS socket's ciphertext never is.
 *
 * The bytes are parsed here and nothing of them leaves the kernel but the
 * method, the path up to its query, the Host header's host and port and a
 * traceparent's ids; the status code and framing headers (Content-Length,
 * Transfer-Encoding: chunked) of a response only decide where it ends.
 * A request begins at its first byte written and ends with the last byte
 * of its response read: a Content-Length body counted down, a chunked one
 * followed chunk by chunk, or a body to the end of the stream. It is
 * counted then, in http_series by (host, method, status, error), and its
 * span emitted when sampled.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "http_maps.h"
#include "genai_maps.h"
#include "trace_context.h"
#include "agg.bpf.h"
#include "targets.bpf.h"
#include "spans.bpf.h"
#include "own_stack.bpf.h"
#include "fd_file.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define S_IFMT	   00170000
#define S_IFSOCK   0140000
#define ECONNRESET 104
#define ENOSPC	   28
#define WIN	   512 /* bytes of a head read at a time (a power of two) */
#define STRIDE                                                                     \
	448		/* from one window to the next: a header whose name begins \
			 * in the first STRIDE bytes of one has its value in it */
#define WINDOWS	    4	/* a head is parsed in its first STRIDE * WINDOWS bytes */
#define SLACK	    192 /* past a window: a header's name and value read whole */
#define LINES	    32	/* header lines of a window looked at */
#define CHUNK_STEPS 256 /* chunk sizes and data runs followed in one read: 128 chunks */
#define LOWER	    0x2020202020202020ULL

/* Eight characters as the little-endian word a load of them gives. */
#define W8(a, b, c, d, e, f, g, h)                                                               \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 | \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)

#ifndef WRITE_ONCE
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))
#endif

/* Set by user space: the process the uprobes are attached to. */
volatile __u32 targ_tgid = 0;

enum conn_state {
	CONN_IDLE,    /* between requests */
	CONN_REQUEST, /* a request written, its response not begun */
	CONN_HEAD,    /* its response's head being read */
	CONN_LENGTH,  /* its body: resp_left bytes to go */
	CONN_CHUNKED, /* its chunked body */
	CONN_EOF,     /* its body, to the end of the stream */
	CONN_H2,      /* HTTP/2: bytes only */
};

/* Where a chunked body is (CONN_CHUNKED). */
enum chunk_state {
	CK_SIZE,     /* the hex size */
	CK_EXT,	     /* an extension, to the end of the size line */
	CK_DATA,     /* data: resp_left bytes to go */
	CK_DATA_END, /* the CRLF after data */
	CK_TRAILER,  /* at the start of a trailer line, or the last empty one */
	CK_TRAILER_LINE,
};

/* A connection: a socket descriptor of a process, or an SSL object. */
struct conn_key {
	__u64 id; /* fd, or the SSL pointer */
	__u32 tgid;
	__u32 tls;
};

struct conn {
	__u64 start_ns;	 /* the request's first byte written */
	__u64 last_ns;	 /* its last byte read so far */
	__u64 req_left;	 /* request body bytes to go (Content-Length) */
	__u64 req_body;	 /* request body bytes written */
	__u64 resp_left; /* CONN_LENGTH, CK_DATA */
	__u64 resp_body; /* response body bytes read */
	__u64 chunk;	 /* CK_SIZE: the size so far */
	__u64 span_id;	 /* a traceparent's parent-id, or 0 */
	struct span_ctx ctx;
	__u32 state; /* enum conn_state */
	__u32 ck;    /* enum chunk_state */
	__u16 status;
	__u16 port;
	__u8 method;		   /* enum http_method */
	__u8 no_body;		   /* a HEAD request: its response has none */
	__u8 api;		   /* a model call: enum genai_api, else 0 */
	__u8 lost;		   /* a model call some of whose bytes were not sent */
	__u64 call;		   /* a model call: its number */
	__u32 sent_req, sent_resp; /* a model call: its bytes sent to user space */
	char host[HTTP_HOST_LEN];
	char path[HTTP_PATH_LEN];
};

/* A head window and where its headers of interest are in it (0: none). */
struct scratch {
	char buf[WIN + SLACK];
	__u32 host, length, chunked, traceparent;
	__u32 end;    /* just past the head's empty line, 0: not in this window */
	__u32 nlines; /* lines that begin in the window, where (scan_head()) */
	__u16 line_at[LINES];
	__u64 opaque; /* opaque()'s */
};

enum { H_NONE, H_HOST, H_LENGTH, H_CHUNKED, H_TRACEPARENT };

/* A call in progress: a syscall or an SSL function, by pid_tgid. */
struct call {
	__u64 start_ns;
	__u64 buf;    /* the buffer, or the iovec array */
	__u64 aux;    /* SSL_*_ex: where the byte count goes */
	__u64 id;     /* the fd or SSL pointer */
	__u32 iov;    /* buf is an iovec array */
	__u32 failed; /* inside SSL: a read failed (enum http_error) */
	__u32 active; /* the thread is in this call */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct conn_key);
	__type(value, struct conn);
} conns SEC(".maps");

/* The syscall and the SSL call a thread is in (an SSL call makes
 * syscalls): per thread, made at its first call on a connection. */
THREAD_MAP(sys_calls, struct call);
THREAD_MAP(ssl_calls, struct call);

/* When the thread's last poll timed out (0: it did not); a close of a
 * connection awaiting its response within TIMEOUT_CLOSE_NS of it is the
 * client's timeout. Made at a target thread's first poll that times out. */
struct poll_state {
	__u64 timed_out_ns;
};
THREAD_MAP(poll_states, struct poll_state);
#define TIMEOUT_CLOSE_NS 1000000000ULL

/* Starts call c on the current thread, in map calls. */
static __always_inline void call_begin(void *calls, struct call *c)
{
	struct call *t = thread_state(calls, true);

	if (!t)
		return;
	c->start_ns = bpf_ktime_get_ns();
	c->active = 1;
	*t = *c;
}

/* The call the current thread is in, or NULL; its state copied to c and
 * ended. */
static __always_inline bool call_end(void *calls, struct call *c)
{
	struct call *t = thread_state(calls, false);

	if (!t || !t->active)
		return false;
	*c = *t;
	t->active = 0;
	return true;
}

/* aet_http_client_*: sized by --max-series. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct http_key);
	__type(value, struct http_val);
} http_series SEC(".maps");

/* Requests past --max-series label sets, by method: served with
 * server_address and status_code "__overflow__", never dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HM_MAX);
	__type(key, __u32);
	__type(value, struct http_val);
} http_overflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HSTAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} http_stats SEC(".maps");

/* A thread's head window: per thread, not per CPU, as these programs can
 * be preempted (bpf/own_stack.bpf.h). */
THREAD_MAP(http_threads, struct scratch);

/* Model calls (include/genai_maps.h): the paths of the model APIs, set
 * by user space, and the ring their bytes go through. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[HTTP_PATH_LEN]);
	__type(value, __u32);
} genai_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GENAI_RING_SIZE);
} genai_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GSTAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} genai_stats SEC(".maps");

/* A zeroed value to insert. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct conn);
} blank SEC(".maps");

static __always_inline __u64 word(const char *p)
{
	return *(const __u64 *)p;
}

/* The method of a request line beginning with w (its first 8 bytes), or
 * HM_MAX when it is none: a token of capitals and a space. */
static __always_inline __u32 request_method_of(__u64 w)
{
	static const __u64 m4[] = { W8('G', 'E', 'T', ' ', 0, 0, 0, 0),
				    W8('P', 'U', 'T', ' ', 0, 0, 0, 0) };
	__u32 len = 0;

	if ((w & 0xffffffff) == m4[0])
		return HM_GET;
	if ((w & 0xffffffff) == m4[1])
		return HM_PUT;
	if ((w & 0xffffffffff) == W8('P', 'O', 'S', 'T', ' ', 0, 0, 0))
		return HM_POST;
	if ((w & 0xffffffffff) == W8('H', 'E', 'A', 'D', ' ', 0, 0, 0))
		return HM_HEAD;
	if ((w & 0xffffffffffff) == W8('P', 'A', 'T', 'C', 'H', ' ', 0, 0))
		return HM_PATCH;
	if ((w & 0xffffffffffff) == W8('T', 'R', 'A', 'C', 'E', ' ', 0, 0))
		return HM_TRACE;
	if ((w & 0xffffffffffffff) == W8('D', 'E', 'L', 'E', 'T', 'E', ' ', 0))
		return HM_DELETE;
	if (w == W8('O', 'P', 'T', 'I', 'O', 'N', 'S', ' '))
		return HM_OPTIONS;
	if (w == W8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' '))
		return HM_CONNECT;
	for (__u32 i = 0; i < 8; i++) {
		char ch = (w >> (i * 8)) & 0xff;

		if (ch == ' ') {
			len = i;
			break;
		}
		if (ch < 'A' || ch > 'Z')
			return HM_MAX;
	}
	return len >= 3 ? HM_OTHER : HM_MAX;
}

/*
 * v, no longer known to the verifier: a value that paths reach with
 * different bounds (a loop's index where it broke out, a parsed number) is
 * one state past this, not one per bound, so what follows is walked once
 * (a load from a map value is any value to the verifier).
 */
static __always_inline __u64 opaque(struct scratch *x, __u64 v)
{
	x->opaque = v;
	return READ_ONCE(x->opaque);
}

#define H2_PREFACE W8('P', 'R', 'I', ' ', '*', ' ', 'H', 'T')

static __always_inline bool fd_socket(int fd)
{
	struct file *f = fd_file(fd);

	return f && (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) == S_IFSOCK;
}

static __always_inline struct scratch *scratch(void)
{
	/* per thread, created at its first use */
	return thread_state(&http_threads, true);
}

static __always_inline void stat_add(__u32 i, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&http_stats, &i);

	if (v)
		__sync_fetch_and_add(v, n);
}

/* The header a line beginning at buf[i] names, if one of interest; *skip
 * is its name's length with the colon. */
static __always_inline __u32 header_at(const struct scratch *x, __u32 i, __u32 *skip)
{
	__u64 w0 = word(&x->buf[i]) | LOWER, w1 = word(&x->buf[i + 8]) | LOWER;

	if ((w0 & 0xffffffffff) == W8('h', 'o', 's', 't', ':', 0, 0, 0)) {
		*skip = 5;
		return H_HOST;
	}
	if (w0 == W8('c', 'o', 'n', 't', 'e', 'n', 't', '-') &&
	    (w1 & 0xffffffffffffff) == W8('l', 'e', 'n', 'g', 't', 'h', ':', 0)) {
		*skip = 15;
		return H_LENGTH;
	}
	if (w0 == W8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r') &&
	    w1 == W8('-', 'e', 'n', 'c', 'o', 'd', 'i', 'n') &&
	    ((word(&x->buf[i + 16]) | LOWER) & 0xffff) == W8('g', ':', 0, 0, 0, 0, 0, 0)) {
		*skip = 18;
		return H_CHUNKED;
	}
	if (w0 == W8('t', 'r', 'a', 'c', 'e', 'p', 'a', 'r') &&
	    (w1 & 0xffffffff) == W8('e', 'n', 't', ':', 0, 0, 0, 0)) {
		*skip = 12;
		return H_TRACEPARENT;
	}
	return H_NONE;
}

static __always_inline struct scratch *scratch(void);

/*
 * Where the lines of the thread's window begin (the first LINES of them,
 * in its first n bytes, at most STRIDE), and where its head ends (its
 * empty line). A global function: the verifier walks the loop once, from
 * one state, whatever the paths to a call.
 */
__noinline int http_lines(__u32 n)
{
	struct scratch *x = scratch();
	__u32 l;

	if (!x)
		return 0;
	x->end = x->nlines = 0;
	for (__u32 i = 0; i < STRIDE; i++) {
		if (i >= n)
			break;
		if (x->buf[i] != '\n')
			continue;
		if (x->buf[i + 1] == '\r' || x->buf[i + 1] == '\n') {
			x->end = i + (x->buf[i + 1] == '\r' ? 3 : 2);
			break;
		}
		/* Through memory, not a register the verifier would count in. */
		l = READ_ONCE(x->nlines);
		if (l < LINES) {
			x->line_at[l & (LINES - 1)] = i + 1;
			WRITE_ONCE(x->nlines, l + 1);
		}
	}
	return 0;
}

/* Which lines of window x->buf (http_lines()) are headers of interest. */
static __always_inline void scan_head(struct scratch *x, __u32 n)
{
	x->host = x->length = x->chunked = x->traceparent = 0;
	http_lines(n);
	for (__u32 l = 0; l < LINES; l++) {
		__u32 i, skip = 0, h;

		if (l >= x->nlines)
			break;
		i = x->line_at[l] & (WIN - 1);
		h = header_at(x, i, &skip);
		if (h == H_HOST)
			x->host = i + skip;
		else if (h == H_LENGTH)
			x->length = i + skip;
		else if (h == H_CHUNKED)
			x->chunked = i + skip;
		else if (h == H_TRACEPARENT)
			x->traceparent = i + skip;
	}
}

/* The offset of the first byte after spaces from off (a header's value,
 * which begins within the window: SLACK bytes past it can be read). */
static __always_inline __u32 skip_spaces(struct scratch *x, __u32 off)
{
	off &= WIN - 1;
	for (int i = 0; i < 8; i++) {
		char ch = x->buf[off];

		if (ch != ' ' && ch != '\t')
			break;
		off++;
	}
	return opaque(x, off) & (WIN - 1);
}

static __always_inline __u64 parse_decimal(struct scratch *x, __u32 off)
{
	__u64 v = 0;

	off = skip_spaces(x, off);
	for (int i = 0; i < 19; i++) {
		char ch = x->buf[off + i];

		if (ch < '0' || ch > '9')
			break;
		v = v * 10 + (ch - '0');
	}
	return opaque(x, v);
}

/* The Host header's host into c->host, its port into c->port. Each
 * loop keeps its state in its index alone, so the verifier walks it once. */
static __always_inline void take_host(struct conn *c, struct scratch *x, __u32 off)
{
	bool bracket; /* an IPv6 address: its colons are not the port's */
	__u32 i;

	off = skip_spaces(x, off);
	bracket = x->buf[off] == '[';
	for (i = 0; i < HTTP_HOST_LEN - 1; i++) {
		char ch = x->buf[off + i];

		if (ch == '\r' || ch == '\n' || ch == ' ' || ch == '\t' || ch == '\0' ||
		    (ch == ':' && !bracket))
			break;
		c->host[i] = ch;
		if (ch == ']') {
			i++;
			break;
		}
	}
	i = opaque(x, i) & (HTTP_HOST_LEN - 1);
	c->host[i] = '\0';
	c->port = x->buf[off + i] == ':' ? parse_decimal(x, off + i + 1) : 0;
}

/* A W3C traceparent at off: the span takes its trace id and span id. */
static __always_inline void take_traceparent(struct conn *c, struct scratch *x, __u32 off)
{
	const char *b;
	__u64 hi, lo, id, flags;

	off = skip_spaces(x, off);
	b = &x->buf[off];
	if (b[0] != '0' || b[1] != '0' || b[2] != '-' || b[35] != '-' || b[52] != '-')
		return;
	if (!ctx_parse_hex(b + 3, 16, &hi) || !ctx_parse_hex(b + 19, 16, &lo) ||
	    !ctx_parse_hex(b + 36, 16, &id) || !ctx_parse_hex(b + 53, 2, &flags) || !(hi | lo) ||
	    !id)
		return;
	if (c->ctx.trace_id[0] != hi || c->ctx.trace_id[1] != lo) {
		/* Not of the trace open on the thread: a root of its own. */
		c->ctx.trace_id[0] = hi;
		c->ctx.trace_id[1] = lo;
		c->ctx.parent_id = 0;
		c->ctx.flags = flags & SPAN_F_SAMPLED;
	}
	c->span_id = id;
}

/* The request line at the start of x->buf: its path, up to the query. */
static __always_inline void take_path(struct conn *c, struct scratch *x)
{
	__u32 off = 0, n = 0;

	for (int i = 0; i < 10; i++)
		if (x->buf[i] == ' ') {
			off = i + 1;
			break;
		}
	off = opaque(x, off) & 15;
	__builtin_memset(c->path, 0, HTTP_PATH_LEN); /* the key of genai_paths */
	for (int i = 0; i < HTTP_PATH_LEN - 1; i++) {
		char ch = x->buf[off + i];

		if (ch == '?' || ch == '#' || ch == ' ' || ch == '\r' || ch == '\n')
			break;
		c->path[i] = ch;
		n = i + 1;
	}
	c->path[opaque(x, n) & (HTTP_PATH_LEN - 1)] = '\0';
}

static __always_inline struct conn *conn_get(struct conn_key *k)
{
	return bpf_map_lookup_elem(&conns, k);
}

/*
 * The work on a connection is done by global functions (not static): the
 * verifier checks each once, on its own, with its arguments as any values,
 * instead of once for every path that reaches a call. So their arguments
 * are numbers (a connection is its key: id and owner), and each looks up
 * what it works on.
 */
#define OWNER(k) ((k)->tgid | (__u64)(k)->tls << 32)

static __always_inline struct conn *conn_of(__u64 id, __u64 owner, struct conn_key *k)
{
	k->id = id;
	k->tgid = owner;
	k->tls = owner >> 32;
	return conn_get(k);
}

/* Of n bytes, those *left still expects: counted into *body, taken off
 * *left. Returns how many. */
static __always_inline __u64 count_down(__u64 *left, __u64 *body, __u64 n)
{
	__u64 take = n < *left ? n : *left;

	*left -= take;
	*body += take;
	return take;
}

/* Model calls (include/genai_maps.h). */

static __always_inline void genai_stat(struct conn *c, __u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&genai_stats, &i);

	if (v)
		__sync_fetch_and_add(v, 1);
	c->lost = 1;
}

/* The agent request or task innermost open on the thread: its label set. */
static __always_inline void genai_agent(struct genai_rec *r)
{
	struct span_thread *t = thread_state(&span_threads, false);
	__u32 d = t ? t->depth : 0;

	for (__u32 i = 0; i < SPAN_DEPTH; i++) {
		const struct span_frame *f;
		const struct open_slot *s;
		__u32 idx;

		if (!t || i >= d)
			break;
		f = &t->stack[(d - 1 - i) & (SPAN_DEPTH - 1)];
		idx = f->slot;
		s = bpf_map_lookup_elem(&open_slots, &idx);
		if (!s || READ_ONCE(s->state) != SLOT_OPEN || READ_ONCE(s->span_id) != f->span_id)
			continue;
		if (s->kind == KIND_AGENT || s->kind == KIND_TASK) {
			r->series = s->series;
			r->kind = s->kind;
			return;
		}
	}
}

/* A request was written on a connection: a model call when it is a POST
 * to a model API's path; then its GR_BEGIN. Returns whether it is one. */
__noinline int genai_begin(__u64 id, __u64 owner)
{
	struct {
		struct genai_rec r;
		struct genai_server s;
	} b = { .r = { .type = GR_BEGIN, .len = sizeof(b.s), .series = ~0u } };
	struct genai_rec *r = &b.r;
	struct conn_key k;
	struct conn *c = conn_of(id, owner, &k);
	__u32 *api;

	if (!c)
		return 0;
	api = c->method == HM_POST ? bpf_map_lookup_elem(&genai_paths, c->path) : NULL;
	c->api = api ? *api : 0;
	c->call = 0;
	if (!c->api)
		return 0;
	c->call = span_seq_next() + 1; /* unique in the run; no fetching atomics before 5.12 */
	c->sent_req = c->sent_resp = 0;
	c->lost = 0;
	r->call = c->call;
	r->ts_ns = c->start_ns;
	r->api = c->api;
	r->tgid = bpf_get_current_pid_tgid() >> 32;
	genai_agent(r);
	__builtin_memcpy(b.s.host, c->host, HTTP_HOST_LEN);
	b.s.port = c->port;
	if (bpf_ringbuf_output(&genai_ring, &b, sizeof(b), BPF_RB_NO_WAKEUP))
		genai_stat(c, GSTAT_RING_FULL);
	return 1;
}

/* A data record of m bytes at buf, m known to be at most room (a
 * constant, as a reservation's size must be). Returns 0 or -errno. */
#define GENAI_PIECE_OUT(room, c, buf, m, type)                                        \
	({                                                                            \
		struct {                                                              \
			struct genai_rec h;                                           \
			char data[room];                                              \
		} *r = bpf_ringbuf_reserve(&genai_ring, sizeof(*r), 0);               \
		int err = -1;                                                         \
                                                                                      \
		if (r) {                                                              \
			r->h.call = (c)->call;                                        \
			r->h.ts_ns = bpf_ktime_get_ns();                              \
			r->h.type = (type);                                           \
			r->h.len = (m);                                               \
			err = bpf_probe_read_user(r->data, (m), (const void *)(buf)); \
			if (err)                                                      \
				bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);             \
			else                                                          \
				bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);              \
		}                                                                     \
		r ? err : -ENOSPC;                                                    \
	})

/*
 * The first of n bytes at buf of a model call on a connection (type GR_REQ
 * or GR_RESP) to user space: a record of up to GENAI_PIECE bytes, within
 * the call's bound. Returns how many bytes it took, 0 when none.
 */
__noinline int genai_piece(__u64 id, __u64 owner, __u64 buf, __u64 n, __u32 type)
{
	__u64 max = type == GR_REQ ? GENAI_REQ_MAX : GENAI_RESP_MAX, sent, m = n;
	struct conn_key k;
	struct conn *c = conn_of(id, owner, &k);
	int err;

	if (!c || !c->api || !n)
		return 0;
	sent = type == GR_REQ ? c->sent_req : c->sent_resp;
	if (sent >= max) {
		genai_stat(c, GSTAT_BOUND);
		return 0;
	}
	if (m > max - sent)
		m = max - sent;
	if (m > GENAI_PIECE)
		m = GENAI_PIECE;
	if (m <= GENAI_SMALL)
		err = GENAI_PIECE_OUT(GENAI_SMALL, c, buf, m, type);
	else
		err = GENAI_PIECE_OUT(GENAI_PIECE, c, buf, m, type);
	if (err) {
		if (err == -ENOSPC)
			genai_stat(c, GSTAT_RING_FULL);
		return 0;
	}
	if (type == GR_REQ)
		c->sent_req += m;
	else
		c->sent_resp += m;
	return m;
}

/* n bytes at buf of a model call on a connection, in GENAI_PIECES records
 * at most: what does not fit is counted. */
__noinline int genai_ship(__u64 id, __u64 owner, __u64 buf, __u64 n, __u32 type)
{
	struct conn_key k;
	struct conn *c;

	for (int i = 0; i < GENAI_PIECES; i++) {
		int m = genai_piece(id, owner, buf, n, type);

		if (m <= 0 || m >= n)
			return 0;
		buf += m;
		n -= m;
	}
	c = conn_of(id, owner, &k);
	if (c)
		genai_stat(c, GSTAT_BOUND);
	return 0;
}

/* The model call on c ended: its GR_END. */
static __always_inline void genai_end(struct conn *c, __u64 end, __u32 error, __u16 status)
{
	struct genai_rec *e = bpf_ringbuf_reserve(&genai_ring, sizeof(*e), 0);
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!e) {
		genai_stat(c, GSTAT_RING_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->call = c->call;
	e->ts_ns = end;
	e->type = GR_END;
	e->api = c->api;
	e->error = error;
	e->status = status;
	e->lost = c->lost;
	e->tgid = pid_tgid >> 32;
	bpf_ringbuf_submit(e, 0); /* a wakeup: the call is whole */
	c->api = 0;
}

/* Flags of http_head_window(). */
#define HW_REQUEST 1 /* a request's head, else a response's */
#define HW_FIRST   2 /* the window begins the message */

/*
 * Parses one window of a head, the n bytes at buf: for a request its path,
 * Host, traceparent and Content-Length, for a response its status and
 * framing, into its connection. Returns where its body begins in these
 * bytes, or -1 when the head goes on past the window.
 */
__noinline int http_head_window(__u64 id, __u64 owner, __u64 buf, __u64 n, __u32 flags)
{
	bool request = flags & HW_REQUEST;
	struct scratch *x = scratch();
	struct conn_key k;
	struct conn *c = conn_of(id, owner, &k);
	__u64 len, rd = n; /* 64 bits: the compat build's compares are */

	if (!c || !x || !n)
		return -1;
	len = opaque(x, n); /* http_lines() stops at STRIDE */
	if (rd > WIN + SLACK - 8)
		rd = WIN + SLACK - 8;
	__builtin_memset(&x->buf[WIN + SLACK - 8], 0, 8);
	if (bpf_probe_read_user(x->buf, rd, (const void *)buf))
		return -1;
	if (rd < WIN + SLACK - 8)
		x->buf[rd] = '\0';
	if (flags & HW_FIRST) {
		if (request) {
			take_path(c, x);
		} else if ((word(x->buf) & 0xffffffffffffff) ==
			   W8('H', 'T', 'T', 'P', '/', '1', '.', 0)) {
			__u32 code = (x->buf[9] - '0') * 100 + (x->buf[10] - '0') * 10 +
				     (x->buf[11] - '0');

			c->status = code < 1000 ? code : 0;
		}
	}
	scan_head(x, len);
	if (x->host && request)
		take_host(c, x, x->host);
	if (x->traceparent && request)
		take_traceparent(c, x, x->traceparent);
	if (x->length) {
		if (request)
			c->req_left = parse_decimal(x, x->length);
		else
			c->resp_left = parse_decimal(x, x->length) | 1ULL << 63;
	}
	if (x->chunked && !request) {
		__u32 off = skip_spaces(x, x->chunked);

		if ((word(&x->buf[off]) | LOWER) << 8 == W8(0, 'c', 'h', 'u', 'n', 'k', 'e', 'd'))
			c->ck = CK_SIZE | 0x100;
	}
	return x->end ? (int)x->end : -1;
}

/*
 * Parses the head of a message written or read at buf (n bytes), window
 * after window. Returns the offset where its body begins, or more than n
 * when the head goes on past these bytes (or past what is parsed of a
 * head: then its end is not seen, and the response ends with the next
 * request or the connection).
 */
static __always_inline __u32 parse_head(struct conn_key *k, __u64 buf, __u32 n, __u32 flags)
{
	for (__u32 w = 0; w < WINDOWS; w++) {
		__u32 at = w * STRIDE;
		int end;

		if (at >= n)
			break;
		end = http_head_window(k->id, OWNER(k), buf + at, n - at,
				       w ? flags & ~HW_FIRST : flags);
		if (end >= 0)
			return at + end;
	}
	return n + 1; /* not ended */
}

/* The request on a connection ended at end (error: without its whole
 * response): it is counted, and its span emitted when sampled. */
__noinline int http_done(__u64 id, __u64 owner, __u64 end, __u32 error)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	const struct span_config *cfg;
	struct http_key key = {};
	struct conn_key k;
	struct conn *c = conn_of(id, owner, &k);
	struct http_val *v;

	if (!c)
		return 0;
	key.status = error ? 0 : c->status;
	key.method = c->method;
	key.error = error;
	__builtin_memcpy(key.host, c->host, HTTP_HOST_LEN);
	v = bpf_map_lookup_elem(&http_series, &key);
	if (!v) {
		struct http_val zero = {};

		bpf_map_update_elem(&http_series, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&http_series, &key);
	}
	if (!v) {
		__u32 m = key.method < HM_MAX ? key.method : HM_OTHER;

		v = bpf_map_lookup_elem(&http_overflow, &m);
		stat_add(HSTAT_SERIES_FULL, 1);
	}
	if (v) {
		hist_observe(&v->hist, end - c->start_ns);
		__sync_fetch_and_add(&v->req_bytes, c->req_body);
		__sync_fetch_and_add(&v->resp_bytes, c->resp_body);
	}
	c->state = CONN_IDLE;
	cfg = span_cfg();
	if (c->api)
		genai_end(c, end, error, key.status);
	if (cfg && c->ctx.flags & SPAN_F_SAMPLED) {
		struct span_record *r = span_reserve(sizeof(*r) + sizeof(struct http_span_text));
		struct http_span_text *t;

		if (!r)
			return 0;
		span_fill(r, &c->ctx, c->span_id ?: span_new_id(cfg), c->start_ns, end);
		r->id = error;
		r->tgid = pid_tgid >> 32;
		r->tid = pid_tgid;
		r->status = key.status;
		r->kind = SPAN_HTTP;
		r->op = c->method;
		t = (void *)(r + 1);
		__builtin_memcpy(t->host, c->host, HTTP_HOST_LEN);
		__builtin_memcpy(t->path, c->path, HTTP_PATH_LEN);
		t->port = c->port;
		t->pad[0] = t->pad[1] = t->pad[2] = 0;
		t->call = c->call;
		span_submit(r);
	}
	return 0;
}

/*
 * The m bytes of a chunked body's framing in the thread's window (a size
 * line, the CRLF after data, trailers), from the connection's chunk state.
 * Returns how many it took: all of them, or up to the end of a size line
 * (data follows), or -1 when the body ended.
 */
__noinline int http_chunk_bytes(__u64 id, __u64 owner, __u32 m)
{
	struct scratch *x = scratch();
	struct conn_key k;
	struct conn *c = conn_of(id, owner, &k);
	__u32 j;

	if (!c || !x)
		return 16;
	for (j = 0; j < 16; j++) {
		char ch = x->buf[j];
		bool line_end = ch == '\n';

		if (j >= m)
			break;
		if (c->ck == CK_SIZE) {
			__u64 d = 16;

			if (ch >= '0' && ch <= '9')
				d = ch - '0';
			else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
				d = (ch | 0x20) - 'a' + 10;
			if (d < 16) {
				c->chunk = c->chunk << 4 | d;
				continue;
			}
			c->ck = CK_EXT;
		}
		if (c->ck == CK_EXT && line_end) {
			if (!c->chunk) {
				c->ck = CK_TRAILER;
				continue;
			}
			c->resp_left = c->chunk;
			c->chunk = 0;
			c->ck = CK_DATA;
			return j + 1;
		}
		if (c->ck == CK_DATA_END && line_end) {
			c->ck = CK_SIZE;
			continue;
		}
		if (c->ck == CK_TRAILER) {
			if (line_end)
				return -1;
			if (ch != '\r')
				c->ck = CK_TRAILER_LINE;
			continue;
		}
		if (c->ck == CK_TRAILER_LINE && line_end)
			c->ck = CK_TRAILER;
	}
	return j;
}

/*
 * One step through a chunked body read at buf (n bytes) from pos: a run of
 * data skipped, or up to 16 bytes of framing parsed. Returns where the next
 * step begins, or -1 when the body ended.
 */
__noinline int http_chunk_step(__u64 id, __u64 owner, __u64 buf, __u64 pos, __u64 n)
{
	struct scratch *x = scratch();
	struct conn_key k;
	struct conn *c = conn_of(id, owner, &k);
	__u64 m;
	int took;

	if (!c || !x || pos >= n)
		return n;
	if (c->ck == CK_DATA) {
		__u64 take = count_down(&c->resp_left, &c->resp_body, n - pos);

		if (!c->resp_left)
			c->ck = CK_DATA_END;
		return pos + take;
	}
	m = n - pos;
	if (m > 16)
		m = 16;
	if (bpf_probe_read_user(x->buf, m, (const void *)(buf + pos)))
		return n;
	took = http_chunk_bytes(id, owner, m);
	return took < 0 ? -1 : (int)(pos + took);
}

/* Bytes [pos, n) of buf, read on a connection in a chunked body: followed
 * through sizes and data. Returns 1 when the body ended. */
static __always_inline int chunked_body(struct conn_key *k, __u64 buf, __u32 pos, __u32 n)
{
	for (int s = 0; s < CHUNK_STEPS; s++) {
		int next;

		if (pos >= n)
			return 0;
		next = http_chunk_step(k->id, OWNER(k), buf, pos, n);
		if (next < 0)
			return 1;
		pos = next;
	}
	if (pos < n)
		stat_add(HSTAT_LOST_SYNC, 1);
	return 0;
}

/* A new connection at its first request; NULL counted when no room. */
static __always_inline struct conn *conn_new(struct conn_key *k)
{
	__u32 zero = 0;
	struct conn *b = bpf_map_lookup_elem(&blank, &zero);

	if (!b || bpf_map_update_elem(&conns, k, b, BPF_NOEXIST)) {
		if (b)
			stat_add(HSTAT_CONNS_FULL, 1);
		return NULL;
	}
	return conn_get(k);
}

/* Connection c begins a request of method at start: what the one before
 * left is cleared, and its span placed (the span open on the thread). */
static __always_inline void request_begin(struct conn *c, __u32 method, __u64 start)
{
	const struct span_config *cfg = span_cfg();

	c->start_ns = c->last_ns = start;
	c->method = method;
	c->no_body = method == HM_HEAD;
	c->api = 0;
	c->req_left = c->req_body = c->resp_left = c->resp_body = c->chunk = 0;
	c->span_id = 0;
	c->status = 0;
	c->ck = 0;
	c->host[0] = '\0';
	if (cfg)
		span_io_ctx(cfg, &c->ctx, false);
	else
		c->ctx.flags = 0;
}

/* n bytes at buf were written on a connection; the write began at start. */
__noinline int http_write(__u64 id, __u64 owner, __u64 buf, __u32 n, __u64 start)
{
	struct scratch *x = scratch();
	struct conn_key k;
	struct conn *c = conn_of(id, owner, &k);
	__u64 w = 0;
	__u32 method, body;

	if (c && c->state == CONN_H2) {
		stat_add(HSTAT_H2_BYTES, n);
		return 0;
	}
	if (!x || bpf_probe_read_user(&w, sizeof(w), (const void *)buf))
		return 0;
	method = opaque(x, request_method_of(w));
	/* More of the request: its body (which may begin like a request line
	 * while Content-Length says more is to come). */
	if (c && (method == HM_MAX || (c->state == CONN_REQUEST && c->req_left))) {
		if (c->state == CONN_REQUEST && c->api)
			genai_ship(id, owner, buf, n < c->req_left ? n : c->req_left, GR_REQ);
		if (c->state == CONN_REQUEST)
			count_down(&c->req_left, &c->req_body, n);
		return 0;
	}
	if (!c && w == H2_PREFACE) {
		c = conn_new(&k);
		if (c) {
			c->state = CONN_H2;
			stat_add(HSTAT_H2, 1);
			stat_add(HSTAT_H2_BYTES, n);
		}
		return 0;
	}
	if (method == HM_MAX)
		return 0;
	if (!c && !(c = conn_new(&k)))
		return 0;
	/* A request while the one before has not seen its response end (its
	 * framing was lost, or none came): that one ends at its last byte read. */
	if (c->state >= CONN_REQUEST && c->state <= CONN_EOF)
		http_done(id, owner, c->last_ns, c->state == CONN_REQUEST ? HE_CLOSED : 0);
	request_begin(c, method, start);
	body = parse_head(&k, buf, n, HW_REQUEST | HW_FIRST);
	if (genai_begin(id, owner) && body < n)
		genai_ship(id, owner, buf + body, n - body < c->req_left ? n - body : c->req_left,
			   GR_REQ);
	if (body < n)
		count_down(&c->req_left, &c->req_body, n - body);
	c->state = CONN_REQUEST;
	return 0;
}

/* The body of c's response, its head read: chunked, Content-Length
 * (parse_head() marked it in the top bit of resp_left), or to the end of
 * the stream. */
static __always_inline void body_framing(struct conn *c)
{
	if (c->ck & 0x100) {
		c->ck = CK_SIZE;
		c->chunk = 0;
		c->state = CONN_CHUNKED;
	} else if (c->resp_left >> 63) {
		c->resp_left &= ~(1ULL << 63);
		c->state = CONN_LENGTH;
	} else {
		c->state = CONN_EOF;
	}
}

/* n bytes at buf were read on a connection (now). */
__noinline int http_read(__u64 id, __u64 owner, __u64 buf, __u32 n)
{
	__u64 now = bpf_ktime_get_ns();
	struct conn_key k;
	struct conn *c = conn_of(id, owner, &k);
	__u32 pos = 0;

	if (!c || c->state == CONN_IDLE)
		return 0;
	if (c->state == CONN_H2) {
		stat_add(HSTAT_H2_BYTES, n);
		return 0;
	}
	c->last_ns = now;
	if (c->api)
		genai_ship(id, owner, buf, n, GR_RESP);
	if (c->state == CONN_REQUEST || c->state == CONN_HEAD) {
		__u32 flags = c->state == CONN_REQUEST ? HW_FIRST : 0;

		if (flags) {
			c->resp_left = 0;
			c->ck = 0;
		}
		c->state = CONN_HEAD;
		pos = parse_head(&k, buf, n, flags);
		if (pos > n)
			return 0; /* the head goes on */
		if (!c->status)	  /* no HTTP response */
			return http_done(id, owner, now, HE_CLOSED);
		if (c->status < 200) { /* 100 Continue: then the real one */
			c->state = CONN_REQUEST;
			return 0;
		}
		if (c->no_body || c->status == 204 || c->status == 304)
			return http_done(id, owner, now, 0);
		body_framing(c);
	}
	switch (c->state) {
	case CONN_LENGTH:
		count_down(&c->resp_left, &c->resp_body, n - pos);
		if (!c->resp_left)
			return http_done(id, owner, now, 0);
		break;
	case CONN_CHUNKED:
		if (chunked_body(&k, buf, pos, n))
			return http_done(id, owner, now, 0);
		break;
	case CONN_EOF:
		c->resp_body += n - pos;
		break;
	}
	return 0;
}

/* The end of the stream on a connection (a read returned 0, or it is
 * closed) or a reset: a body to the end of the stream ends well, any other
 * request under way without its response. */
__noinline int http_end(__u64 id, __u64 owner, __u32 error)
{
	struct conn_key k;
	struct conn *c = conn_of(id, owner, &k);

	if (!c || c->state == CONN_IDLE || c->state == CONN_H2)
		return 0;
	if (c->state == CONN_EOF && error == HE_CLOSED)
		return http_done(id, owner, c->last_ns, 0);
	return http_done(id, owner, bpf_ktime_get_ns(), error);
}

/* Plain text: the socket syscalls. */

static __always_inline const char *first_buf(const struct call *call, __u32 *len)
{
	struct iovec iov;

	if (!call->iov)
		return (const char *)call->buf;
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)call->buf))
		return NULL;
	*len = *len < iov.iov_len ? *len : iov.iov_len;
	return iov.iov_base;
}

/* write, sendto and the like on fd, of buffer buf (an iovec array when iov):
 * followed when fd is a connection, or its bytes begin a request. */
static __always_inline int enter_send(int fd, __u64 buf, bool iov)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), w = 0;
	struct conn_key k = { .id = fd, .tgid = pid_tgid >> 32 };
	struct call call = { .buf = buf, .iov = iov, .id = fd };
	__u32 len = 8;
	const char *p;

	if (!is_target(k.tgid))
		return 0;
	if (!conn_get(&k)) {
		p = first_buf(&call, &len);
		if (!p || len < 8 || bpf_probe_read_user(&w, sizeof(w), p) ||
		    (request_method_of(w) == HM_MAX && w != H2_PREFACE) || !fd_socket(fd))
			return 0;
	}
	call_begin(&sys_calls, &call);
	return 0;
}

/* read, recvfrom and the like: followed when fd is a connection with a
 * request under way. */
static __always_inline int enter_recv(int fd, __u64 buf, bool iov)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct conn_key k = { .id = fd, .tgid = pid_tgid >> 32 };
	struct call call = { .buf = buf, .iov = iov, .id = fd };
	struct conn *c;

	if (!is_target(k.tgid))
		return 0;
	c = conn_get(&k);
	if (c && c->state != CONN_IDLE)
		call_begin(&sys_calls, &call);
	return 0;
}

static __always_inline int exit_send(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct conn_key k = { .tgid = pid_tgid >> 32 };
	struct call call;
	__u32 len;
	const char *buf;

	if (!is_target(k.tgid) || !call_end(&sys_calls, &call) || ret <= 0)
		return 0;
	k.id = call.id;
	len = ret;
	buf = first_buf(&call, &len);
	if (buf)
		http_write(k.id, OWNER(&k), (__u64)buf, len, call.start_ns);
	return 0;
}

/* A read's end: its bytes, the end of the stream, or a reset. Inside an
 * SSL call on a TLS socket, the SSL call's failure is told why. */
static __always_inline int exit_recv(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct conn_key k = { .tgid = pid_tgid >> 32 };
	struct call call, *ssl;
	__u32 len;
	const char *buf;

	if (!is_target(k.tgid))
		return 0;
	if (!call_end(&sys_calls, &call)) {
		if (ret <= 0 && ret != -11 /* EAGAIN */ && ret != -4 /* EINTR */ &&
		    (ssl = thread_state(&ssl_calls, false)) && ssl->active)
			ssl->failed = ret < 0 ? HE_RESET : HE_CLOSED;
		return 0;
	}
	k.id = call.id;
	if (ret == 0 || ret == -ECONNRESET || ret == -32 /* EPIPE */) {
		http_end(k.id, OWNER(&k), ret ? HE_RESET : HE_CLOSED);
		return 0;
	}
	if (ret < 0)
		return 0;
	len = ret;
	buf = first_buf(&call, &len);
	if (buf)
		http_read(k.id, OWNER(&k), (__u64)buf, len);
	return 0;
}

/*
 * Each syscall's entry has its own program (its arguments differ); the
 * exits of all sends share one, and of all receives another, attached by
 * user space to each syscall's exit tracepoint: the parser is verified
 * once per direction, not once per syscall.
 */
#define ENTER(sys, fn, buf_arg, iov)                                      \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                        \
	int enter_##sys(struct trace_event_raw_sys_enter *ctx)            \
	{                                                                 \
		int ret = fn((int)ctx->args[0], ctx->args[buf_arg], iov); \
                                                                          \
		OWN_STACK(ctx);                                           \
		return ret;                                               \
	}

ENTER(write, enter_send, 1, false)
ENTER(sendto, enter_send, 1, false)
ENTER(writev, enter_send, 1, true)
ENTER(read, enter_recv, 1, false)
ENTER(recvfrom, enter_recv, 1, false)
ENTER(readv, enter_recv, 1, true)

/* sendmsg and recvmsg: the iovec array of their msghdr. */
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr *msg = (void *)ctx->args[1];
	void *iov = NULL;

	bpf_probe_read_user(&iov, sizeof(iov), &msg->msg_iov);
	enter_send((int)ctx->args[0], (__u64)iov, true);
	OWN_STACK(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr *msg = (void *)ctx->args[1];
	void *iov = NULL;

	bpf_probe_read_user(&iov, sizeof(iov), &msg->msg_iov);
	enter_recv((int)ctx->args[0], (__u64)iov, true);
	OWN_STACK(ctx);
	return 0;
}

/* The exits of write, sendto, writev and sendmsg. */
SEC("tracepoint")
int exit_send_any(struct trace_event_raw_sys_exit *ctx)
{
	int ret = exit_send(ctx->ret);

	OWN_STACK(ctx);
	return ret;
}

/* The exits of read, recvfrom, readv and recvmsg. */
SEC("tracepoint")
int exit_recv_any(struct trace_event_raw_sys_exit *ctx)
{
	int ret = exit_recv(ctx->ret);

	OWN_STACK(ctx);
	return ret;
}

/* The exits of poll and ppoll: whether the thread's last wait timed out
 * (a socket with a timeout is polled before each read, and a poll that
 * returns 0 is the client's timeout: Python raises, and closes). */
SEC("tracepoint")
int exit_poll_any(struct trace_event_raw_sys_exit *ctx)
{
	struct poll_state *p;

	if (is_target(bpf_get_current_pid_tgid() >> 32)) {
		p = thread_state(&poll_states, ctx->ret == 0);
		if (p)
			p->timed_out_ns = ctx->ret == 0 ? bpf_ktime_get_ns() : 0;
	}
	OWN_STACK(ctx);
	return 0;
}

/* Why the client ends connection c before its response ended: its wait
 * for the response timed out just before, or not. */
static __always_inline __u32 close_error(const struct conn *c)
{
	struct poll_state *p;
	__u64 t;

	if (c->state == CONN_IDLE)
		return HE_CLOSED;
	p = thread_state(&poll_states, false);
	t = p ? p->timed_out_ns : 0;
	if (!t || bpf_ktime_get_ns() - t > TIMEOUT_CLOSE_NS)
		return HE_CLOSED;
	p->timed_out_ns = 0;
	return HE_TIMEOUT;
}

/* A connection closed: a request under way ends without its response, and
 * the descriptor's number is free for another. */
SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct conn_key k = { .id = (int)ctx->args[0], .tgid = pid_tgid >> 32 };
	const struct conn *c;

	if (is_target(k.tgid) && (c = conn_get(&k))) {
		http_end(k.id, OWNER(&k), close_error(c));
		bpf_map_delete_elem(&conns, &k);
	}
	OWN_STACK(ctx);
	return 0;
}

/* TLS: SSL_write(ssl, buf, num), SSL_write_ex(ssl, buf, num, &written),
 * and the same of the reads. Uprobes: their own empty array to tail-call
 * (bpf/own_stack.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} no_uprobe_programs SEC(".maps");

#undef OWN_STACK_ARRAY
#define OWN_STACK_ARRAY no_uprobe_programs

static __always_inline int ssl_enter(void *ssl, const void *buf, __u64 aux)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct call call = { .buf = (__u64)buf, .aux = aux, .id = (__u64)ssl };

	if (pid_tgid >> 32 == targ_tgid)
		call_begin(&ssl_calls, &call);
	return 0;
}

/* An SSL call returned ret: its byte count (SSL_*_ex: written at aux),
 * or a failure. */
static __always_inline int ssl_return(long ret, bool write)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), n = 0;
	struct conn_key k = { .tgid = pid_tgid >> 32, .tls = 1 };
	struct call call;

	if (!call_end(&ssl_calls, &call))
		return 0;
	k.id = call.id;
	if (ret > 0) {
		if (!call.aux)
			n = ret;
		else if (bpf_probe_read_user(&n, sizeof(n), (void *)call.aux))
			return 0;
		if (!n)
			return 0;
		if (write)
			http_write(k.id, OWNER(&k), call.buf, n > ~0U ? ~0U : n, call.start_ns);
		else
			http_read(k.id, OWNER(&k), call.buf, n > ~0U ? ~0U : n);
	} else if (!write && call.failed) {
		http_end(k.id, OWNER(&k), call.failed);
	}
	return 0;
}

SEC("uprobe")
int OWN_STACK_KPROBE(ssl_write, void *ssl, const void *buf)
{
	return ssl_enter(ssl, buf, 0);
}

SEC("uprobe")
int OWN_STACK_KPROBE(ssl_write_ex, void *ssl, const void *buf, __u64 num, __u64 *written)
{
	return ssl_enter(ssl, buf, (__u64)written);
}

/* The returns of SSL_write and SSL_write_ex. */
SEC("uretprobe")
int OWN_STACK_KRETPROBE(ssl_write_ret, int ret)
{
	return ssl_return(ret, true);
}

SEC("uprobe")
int OWN_STACK_KPROBE(ssl_read, void *ssl, void *buf)
{
	return ssl_enter(ssl, buf, 0);
}

SEC("uprobe")
int OWN_STACK_KPROBE(ssl_read_ex, void *ssl, void *buf, __u64 num, __u64 *readbytes)
{
	return ssl_enter(ssl, buf, (__u64)readbytes);
}

/* The returns of SSL_read and SSL_read_ex. */
SEC("uretprobe")
int OWN_STACK_KRETPROBE(ssl_read_ret, int ret)
{
	return ssl_return(ret, false);
}

/* SSL_shutdown and SSL_free: the connection ends. */
static __always_inline int ssl_end(void *ssl)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct conn_key k = { .id = (__u64)ssl, .tgid = pid_tgid >> 32, .tls = 1 };
	const struct conn *c;

	if (k.tgid == targ_tgid && (c = conn_get(&k))) {
		http_end(k.id, OWNER(&k), close_error(c));
		bpf_map_delete_elem(&conns, &k);
	}
	return 0;
}

/* On SSL_shutdown and SSL_free. */
SEC("uprobe")
int OWN_STACK_KPROBE(ssl_free, void *ssl)
{
	return ssl_end(ssl);
}
