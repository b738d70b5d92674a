/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.1 client requests of the target (bpf/http.bpf.c): over TLS from
 * uprobes on the libssl it maps, attached to its pid; in plain text from
 * the socket syscalls of the followed processes. aet_http_client_*; /status
 * member "http". Without libssl in the target (yet), plain HTTP only.
 */
#ifndef AET_HTTP_CLIENT_H
#define AET_HTTP_CLIENT_H

#include "family.h"

#define SSL_LIBRARY "libssl.so"

extern const struct family_ops http_family;

#endif /* AET_HTTP_CLIENT_H */
