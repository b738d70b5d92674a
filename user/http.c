// SPDX-License-Identifier: MIT
/*
 * The HTTP endpoints on libmicrohttpd (0.9.75 on Debian 12): a thread per
 * connection (and one that accepts) runs the callbacks below and renders
 * the answer, so a scrape never waits for another's render, nor for a slow
 * client's bytes. At most HTTP_RENDERS answers render at once (the others
 * wait their turn): that bounds the memory of a flood of scrapes, each of
 * which holds its exposition.
 *
 * A slot is what a slow client can take, and libmicrohttpd alone does not
 * give it back: its connection timeout counts idle time, which a client
 * sending a header byte a second (slowloris) resets forever, and at its
 * connection limit it stops accepting, so a scraper would wait behind the
 * slow ones. So this file keeps a table of the connections and
 *  - closes one whose request has not arrived and been answered within
 *    --http-timeout of its start (accept, or the end of the previous request
 *    on a kept-alive connection): a thread checks every HTTP_SWEEP_MS;
 *  - at --http-max-connections, or --http-max-per-ip from the new client's
 *    address, closes the connection that has waited longest for its request
 *    to make room: a scraper sends its request at once, a slow client is
 *    the oldest waiting. Only when every connection is being answered is the
 *    new one refused.
 * Closing is shutdown(2) of the socket, under the table's lock, which the
 * close notification takes before libmicrohttpd closes the descriptor: it
 * is never another socket's. libmicrohttpd's own limits are set to twice
 * ours, to bound the sockets while the closed ones are cleaned up.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clock.h"
#include "http.h"
#include "log.h"

#define HTTP_BACKLOG  64
#define HTTP_SWEEP_MS 250 /* how late past --http-timeout a slow client may be closed */
#define HTTP_RENDERS  4	  /* answers rendered at once: 2 cores, and room for two scrapes */

/* A connection libmicrohttpd holds. */
struct conn {
	struct MHD_Connection *mc; /* NULL: a free entry */
	struct sockaddr_storage peer;
	uint64_t since_ms; /* CLOCK_MONOTONIC: accepted, or its previous request answered */
	int fd;
	bool waiting; /* its request is not complete yet */
	bool closing; /* shut down by us */
};

struct http {
	struct MHD_Daemon *daemon;
	const struct http_route *routes;
	int nroutes;
	void *ctx;
	int fd;
	const char *token; /* --control-token, or NULL */
	unsigned max_conns, max_per_ip;
	uint64_t timeout_ms;
	pthread_mutex_t lock; /* guards conns against the sweeper */
	pthread_cond_t wake;
	pthread_t sweeper;
	bool sweeping, stop;
	sem_t renders; /* HTTP_RENDERS, less those under way */
	struct conn *conns;
	unsigned nconns;   /* entries in conns: libmicrohttpd's limit */
	char mhd_err[128]; /* libmicrohttpd's last message, for a failed start */
};

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return false;
}

/* Shuts the connection down; libmicrohttpd sees the end of its input and
 * closes it. Called with h->lock held. */
static void conn_close(struct conn *e, const char *why)
{
	shutdown(e->fd, SHUT_RDWR);
	e->closing = true;
	log_debug("http: closed a connection: %s\n", why);
}

/* MHD_AcceptPolicyCallback: makes room for a new connection from addr. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t alen)
{
	struct http *h = cls;
	struct conn *oldest = NULL, *oldest_peer = NULL, *victim;
	unsigned total = 0, from_peer = 0;

	(void)alen;
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < h->nconns; i++) {
		struct conn *e = &h->conns[i];
		bool peer;

		if (!e->mc || e->closing)
			continue;
		peer = same_host(&e->peer, addr);
		total++;
		from_peer += peer;
		if (!e->waiting)
			continue;
		if (!oldest || e->since_ms < oldest->since_ms)
			oldest = e;
		if (peer && (!oldest_peer || e->since_ms < oldest_peer->since_ms))
			oldest_peer = e;
	}
	victim = from_peer >= h->max_per_ip ? oldest_peer : total >= h->max_conns ? oldest : NULL;
	if (victim)
		conn_close(victim, "room for a new one");
	pthread_mutex_unlock(&h->lock);
	/* At a limit with every connection being answered: refused. */
	return victim || (from_peer < h->max_per_ip && total < h->max_conns) ? MHD_YES : MHD_NO;
}

/* MHD_NotifyConnectionCallback: the table follows libmicrohttpd's
 * connections. CLOSED comes before the descriptor is closed. */
static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *fd, *addr;
	struct http *h = cls;
	struct conn *e = *socket_context;

	pthread_mutex_lock(&h->lock);
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (e)
			e->mc = NULL;
		*socket_context = NULL;
		pthread_mutex_unlock(&h->lock);
		return;
	}
	fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	addr = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	for (unsigned i = 0; i < h->nconns && fd && addr; i++) {
		e = &h->conns[i];
		if (e->mc)
			continue;
		*e = (struct conn){ .mc = c, .fd = fd->connect_fd, .waiting = true };
		e->since_ms = clock_ms(CLOCK_MONOTONIC);
		memcpy(&e->peer, addr->client_addr,
		       addr->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								: sizeof(struct sockaddr_in));
		*socket_context = e;
		break;
	}
	pthread_mutex_unlock(&h->lock);
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i ? i->socket_context : NULL;
}

/* MHD_RequestCompletedCallback: a kept-alive connection waits for its next
 * request, with a new deadline. */
static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct conn *e = conn_of(c);

	(void)con_cls;
	(void)toe;
	if (!e)
		return;
	pthread_mutex_lock(&h->lock);
	e->waiting = true;
	e->since_ms = clock_ms(CLOCK_MONOTONIC);
	pthread_mutex_unlock(&h->lock);
}

/* Closes connections past their deadline until http__free. */
static void *sweep(void *arg)
{
	struct http *h = arg;
	struct timespec at;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		uint64_t now = clock_ms(CLOCK_MONOTONIC);

		for (unsigned i = 0; i < h->nconns; i++) {
			struct conn *e = &h->conns[i];

			if (e->mc && !e->closing && now - e->since_ms > h->timeout_ms)
				conn_close(e, e->waiting ? "request not received in time"
							 : "answer not taken in time");
		}
		at = clock_after_ms(CLOCK_MONOTONIC, HTTP_SWEEP_MS);
		pthread_cond_timedwait(&h->wake, &h->lock, &at);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* libmicrohttpd's messages (one per refused connection, say) are for
 * --log-level debug; the last one explains a failed start. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http *h = cls;
	va_list copy;

	va_copy(copy, ap);
	vsnprintf(h->mhd_err, sizeof(h->mhd_err), fmt, copy);
	va_end(copy);
	h->mhd_err[strcspn(h->mhd_err, "\n")] = '\0';
	if (log_level < LOG_DEBUG)
		return;
	fputs("aet-collector: debug: libmicrohttpd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *ctype,
			     struct buf *body, bool gzip, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (body->oom)
		return MHD_NO; /* drops the connection: nothing better to send */
	/* The response takes the buffer; MHD frees it. */
	r = MHD_create_response_from_buffer(body->len, body->data ? body->data : (char *)"",
					    body->data ? MHD_RESPMEM_MUST_FREE
						       : MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	body->data = NULL;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (gzip)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, int status, const char *text,
				  const char *allow)
{
	struct buf b;
	enum MHD_Result ret;

	buf_init(&b);
	buf_puts(&b, text);
	ret = reply(c, status, "text/plain; charset=utf-8", &b, false, allow);
	buf_free(&b);
	return ret;
}

/* True when Accept-Encoding lists gzip with a q value other than 0
 * (RFC 9110 section 12.5.3). */
static bool wants_gzip(struct MHD_Connection *c)
{
	const char *p =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);

	while (p && *p) {
		size_t n = strcspn(p, ",");
		const char *t = p + strspn(p, " \t"), *q;

		if (!strncasecmp(t, "gzip", 4) && (t + 4 == p + n || strchr(" \t;", t[4]))) {
			q = strstr(t, "q=");
			return !q || q >= p + n || strtod(q + 2, NULL) > 0;
		}
		p += n + (p[n] == ',');
	}
	return false;
}

/* Whether the client is on this host's loopback (IPv4, IPv6, or IPv4 mapped). */
static bool from_loopback(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *a = i ? i->client_addr : NULL;
	const struct in6_addr *a6;

	if (a && a->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
	if (!a || a->sa_family != AF_INET6)
		return false;
	a6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

/* Whether Authorization is "Bearer TOKEN", compared in constant time. */
static bool bearer_ok(struct MHD_Connection *c, const char *token)
{
	const char *v =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	size_t n = strlen(token);
	unsigned char diff = 0;

	if (!v || strncasecmp(v, "Bearer ", 7) || strlen(v + 7) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)v[7 + i] ^ (unsigned char)token[i];
	return !diff;
}

/* Whether the request announces a body (RFC 9112 section 6.3). */
static bool has_body(struct MHD_Connection *c)
{
	const char *cl =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
	       (cl && cl[strspn(cl, "0")] != '\0');
}

/* POST for the control endpoints, GET and HEAD for the others. */
static bool method_allowed(const struct http_route *route, const char *method)
{
	if (route->control)
		return !strcmp(method, MHD_HTTP_METHOD_POST);
	return !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
}

/* Why a request whose headers are in is refused: the status, with *text
 * the answer and *allow the methods of a 405; 0 when it is to be served. */
static int refusal(struct http *h, struct MHD_Connection *c, const struct http_route *route,
		   const char *method, const char **text, const char **allow)
{
	*allow = NULL;
	if (!route) {
		*text = "not found\n";
		return MHD_HTTP_NOT_FOUND;
	}
	if (!method_allowed(route, method)) {
		*text = "method not allowed\n";
		*allow = route->control ? "POST" : "GET, HEAD";
		return MHD_HTTP_METHOD_NOT_ALLOWED;
	}
	if (has_body(c)) {
		*text = "a request body is not accepted\n";
		return MHD_HTTP_CONTENT_TOO_LARGE;
	}
	if (route->control && !h->token && !from_loopback(c)) {
		*text = "control from loopback only, or with --control-token\n";
		return MHD_HTTP_FORBIDDEN;
	}
	if (route->control && h->token && !bearer_ok(c, h->token)) {
		*text = "a bearer token is required\n";
		return MHD_HTTP_UNAUTHORIZED;
	}
	return 0;
}

/* Renders route and answers with it, gzip-compressed when the client takes it. */
static enum MHD_Result answer(struct http *h, struct MHD_Connection *c,
			      const struct http_route *route)
{
	struct buf body, gz;
	enum MHD_Result ret;
	int status;

	buf_init(&body);
	while (sem_wait(&h->renders) && errno == EINTR)
		;
	status = route->render(h->ctx, &body);
	sem_post(&h->renders);
	if (wants_gzip(c) && body.len > 0) {
		buf_init(&gz);
		if (!buf_gzip(&body, &gz)) {
			ret = reply(c, status, route->content_type, &gz, true, NULL);
			buf_free(&gz);
			buf_free(&body);
			return ret;
		}
		buf_free(&gz);
	}
	ret = reply(c, status, route->content_type, &body, false, NULL);
	buf_free(&body);
	return ret;
}

/*
 * Called when the headers are in, then (unless it answered) when the whole
 * request is. An answer queued at the first call makes libmicrohttpd 0.9.75
 * close the connection after it (it will not read what follows): errors are
 * answered there; the endpoints at the second call, keeping the connection
 * alive for the next scrape.
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	const struct http_route *route = NULL;
	const char *text, *allow;
	struct http *h = cls;
	struct conn *e;
	int status;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	for (int i = 0; i < h->nroutes && !route; i++)
		if (!strcmp(url, h->routes[i].path))
			route = &h->routes[i];
	if (*con_cls)
		return answer(h, c, route);
	e = conn_of(c);
	if (e) {
		pthread_mutex_lock(&h->lock);
		e->waiting = false;
		pthread_mutex_unlock(&h->lock);
	}
	status = refusal(h, c, route, method, &text, &allow);
	if (status)
		return reply_text(c, status, text, allow);
	*con_cls = h; /* headers seen: answer once the request is complete */
	return MHD_YES;
}

static int listen_on(const struct sockaddr_storage *addr)
{
	socklen_t alen = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						     : sizeof(struct sockaddr_in);
	int one = 1, fd, rc;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, alen) || listen(fd, HTTP_BACKLOG)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static struct MHD_Daemon *start_daemon(struct http *h, const struct config *cfg)
{
	return MHD_start_daemon(
		MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			MHD_USE_ERROR_LOG,
		0, accept_policy, h, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)h->nconns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)(2 * h->max_per_ip), MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)cfg->http_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)cfg->http_max_request, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, h,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, h, MHD_OPTION_END);
}

struct http *http__listen(const struct config *cfg, int *errp, char *err, size_t len)
{
	struct http *h = calloc(1, sizeof(*h));
	pthread_condattr_t ca;

	*errp = -ENOMEM;
	if (!h || !(h->conns = calloc(2 * cfg->http_max_conns, sizeof(*h->conns)))) {
		free(h);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	h->fd = -1;
	h->token = cfg->control_token;
	h->max_conns = cfg->http_max_conns;
	h->max_per_ip = cfg->http_max_per_ip;
	h->timeout_ms = (uint64_t)cfg->http_timeout_s * 1000;
	h->nconns = 2 * cfg->http_max_conns;
	pthread_mutex_init(&h->lock, NULL);
	sem_init(&h->renders, 0, HTTP_RENDERS);
	/* the sweeper's waits are on the clock its deadlines are */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	h->fd = listen_on(&cfg->listen);
	if (h->fd < 0) {
		*errp = h->fd;
		snprintf(err, len, "cannot serve on %s: %s (choose another with --listen)",
			 cfg->listen_str, strerror(-h->fd));
		http__free(h);
		return NULL;
	}
	*errp = 0;
	return h;
}

int http__start(struct http *h, const struct config *cfg, const struct http_route *routes,
		int nroutes, void *ctx, char *err, size_t len)
{
	int rc;

	h->routes = routes;
	h->nroutes = nroutes;
	h->ctx = ctx;
	rc = -pthread_create(&h->sweeper, NULL, sweep, h);
	if (rc) {
		snprintf(err, len, "cannot start a thread: %s", strerror(-rc));
		return rc;
	}
	h->sweeping = true;
	h->daemon = start_daemon(h, cfg);
	if (!h->daemon) {
		snprintf(err, len, "cannot serve on %s: libmicrohttpd did not start%s%s",
			 cfg->listen_str, *h->mhd_err ? ": " : "", h->mhd_err);
		return -EINVAL;
	}
	return 0;
}

void http__free(struct http *h)
{
	if (!h)
		return;
	if (h->daemon)
		MHD_stop_daemon(h->daemon);
	if (h->sweeping) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->sweeper, NULL);
	}
	if (h->fd >= 0)
		close(h->fd); /* a socket given with MHD_OPTION_LISTEN_SOCKET stays ours */
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	sem_destroy(&h->renders);
	free(h->conns);
	free(h);
}
