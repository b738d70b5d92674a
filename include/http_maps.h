/* SPDX-License-Identifier: MIT */
/*
 * Maps of bpf/http.bpf.c (HTTP/1.1 client requests, from libssl uprobes and
 * socket syscalls) read by user/http_client.c, and the span text of a
 * request. Fixed-width types, largest fields first, explicit padding.
 */
#ifndef AET_HTTP_MAPS_H
#define AET_HTTP_MAPS_H

#include "hist_map.h"
#include "spans_maps.h"

#define HTTP_HOST_LEN 64  /* server.address: 63 bytes of the Host header's host */
#define HTTP_PATH_LEN 128 /* url.path: 127 bytes, up to the query */

/* http.request.method; any other is _OTHER (OpenTelemetry's rule). */
enum http_method {
	HM_GET,
	HM_HEAD,
	HM_POST,
	HM_PUT,
	HM_DELETE,
	HM_CONNECT,
	HM_OPTIONS,
	HM_TRACE,
	HM_PATCH,
	HM_OTHER,
	HM_MAX,
};

#define HTTP_METHOD_NAMES                                                                       \
	{                                                                                       \
		"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", \
			"_OTHER"                                                                \
	}

/* error.type of a request that got no (whole) response. */
enum http_error {
	HE_NONE,
	HE_RESET,   /* a read failed: the connection was reset, or TLS failed */
	HE_CLOSED,  /* end of stream, or the connection closed, before the response ended */
	HE_TIMEOUT, /* closed by the client just after its wait for the response timed out */
	HE_MAX,
};

#define HTTP_ERROR_NAMES                                               \
	{                                                              \
		"", "connection_reset", "connection_closed", "timeout" \
	}

/* A series of aet_http_client_requests_total: the key of http_series. */
struct http_key {
	char host[HTTP_HOST_LEN];
	__u16 status; /* 0: no response */
	__u8 method;  /* enum http_method */
	__u8 error;   /* enum http_error */
	__u32 pad;
};

/* Its requests' durations and body bytes. */
struct http_val {
	struct hist hist;
	__u64 req_bytes;
	__u64 resp_bytes;
};

/* Indexes of the http_stats array (u64 counters). */
enum http_stat {
	HSTAT_SERIES_FULL, /* a request counted under "__overflow__": --max-series label sets */
	HSTAT_CONNS_FULL,  /* a connection not followed: no room for its state */
	HSTAT_H2,	   /* HTTP/2 connections (the preface): connections and bytes only */
	HSTAT_H2_BYTES,	   /* bytes written and read on them */
	HSTAT_LOST_SYNC,   /* responses whose chunked framing was not followed to its end */
	HSTAT_MAX,
};

/* The text of a SPAN_HTTP record (include/spans_maps.h): op is the method,
 * status the status code (0: none), id the error (enum http_error). */
struct http_span_text {
	char host[HTTP_HOST_LEN];
	char path[HTTP_PATH_LEN];
	__u16 port;
	__u16 pad[3];
	__u64 call; /* a model call's number (include/genai_maps.h), 0: not one */
};

#endif /* AET_HTTP_MAPS_H */
