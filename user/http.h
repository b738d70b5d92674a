/* SPDX-License-Identifier: MIT */
/* The HTTP endpoints (libmicrohttpd, its own thread). Read-only: nothing
 * served here can change the target process. */
#ifndef AET_HTTP_H
#define AET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "buf.h"
#include "config.h"

struct http_route {
	const char *path;
	const char *content_type;
	/* Appends the body to out; returns the HTTP status. Called from the
	 * HTTP thread. */
	int (*render)(void *ctx, struct buf *out);
	/* POST only, from loopback, or with the bearer --control-token */
	bool control;
};

struct http;

/* Binds and listens on cfg->listen, first thing at start: an address in use
 * is said before anything is loaded. Connections wait in the backlog until
 * http__start(). Returns NULL with err naming the cause (and *errp =
 * -errno). */
struct http *http__listen(const struct config *cfg, int *errp, char *err, size_t len);
/* Serves routes there (GET and HEAD; gzip when asked) within the
 * cfg->http_* limits. Returns 0 or -errno with err. */
int http__start(struct http *h, const struct config *cfg, const struct http_route *routes,
		int nroutes, void *ctx, char *err, size_t len);
void http__free(struct http *h);

#endif /* AET_HTTP_H */
