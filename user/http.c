// SPDX-License-Identifier: MIT
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http.h"
#include "log.h"

/* Enough for Prometheus, a few curls and a dashboard; see STYLE. */
#define HTTP_CONNECTION_LIMIT  64
#define HTTP_PER_IP_LIMIT      16
#define HTTP_TIMEOUT_S	       10
#define HTTP_CONNECTION_MEMORY (32 * 1024)

struct http {
	struct MHD_Daemon *daemon;
	const struct http_route *routes;
	int nroutes;
	void *ctx;
	int fd;
};

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *ctype,
			     struct buf *body, bool gzip)
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
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, int status, const char *text)
{
	struct buf b;
	enum MHD_Result ret;

	buf_init(&b);
	buf_puts(&b, text);
	ret = reply(c, status, "text/plain; charset=utf-8", &b, false);
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

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	const struct http_route *route = NULL;
	struct http *h = cls;
	struct buf body, gz;
	enum MHD_Result ret;
	int status;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	for (int i = 0; i < h->nroutes && !route; i++)
		if (!strcmp(url, h->routes[i].path))
			route = &h->routes[i];
	if (!route)
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");

	buf_init(&body);
	status = route->render(h->ctx, &body);
	if (wants_gzip(c) && body.len > 0) {
		buf_init(&gz);
		if (!buf_gzip(&body, &gz)) {
			ret = reply(c, status, route->content_type, &gz, true);
			buf_free(&gz);
			buf_free(&body);
			return ret;
		}
		buf_free(&gz);
	}
	ret = reply(c, status, route->content_type, &body, false);
	buf_free(&body);
	return ret;
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
	if (bind(fd, (const struct sockaddr *)addr, alen) || listen(fd, 64)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

struct http *http__new(const struct sockaddr_storage *addr, const struct http_route *routes,
		       int nroutes, void *ctx, int *errp, char *err, size_t len)
{
	struct http *h = calloc(1, sizeof(*h));

	if (!h) {
		*errp = -ENOMEM;
		snprintf(err, len, "out of memory");
		return NULL;
	}
	h->routes = routes;
	h->nroutes = nroutes;
	h->ctx = ctx;
	h->fd = listen_on(addr);
	if (h->fd < 0) {
		*errp = h->fd;
		snprintf(err, len, "%s", strerror(-h->fd));
		free(h);
		return NULL;
	}
	h->daemon = MHD_start_daemon(
		MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		handle, h, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)HTTP_CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)HTTP_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_END);
	if (!h->daemon) {
		*errp = -EINVAL;
		snprintf(err, len, "libmicrohttpd did not start");
		close(h->fd);
		free(h);
		return NULL;
	}
	return h;
}

void http__free(struct http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon);
	close(h->fd); /* a socket given with MHD_OPTION_LISTEN_SOCKET stays ours */
	free(h);
}
