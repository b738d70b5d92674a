/* SPDX-License-Identifier: MIT */
/*
 * Model calls (docs/DESIGN.md, "Model calls"): the HTTP requests of the http
 * family (include/http_maps.h) whose method is POST and whose path is one of
 * a model API's, recognized in the kernel by the genai_paths map. Only their
 * bytes cross to user space, through genai_ring, bounded per call: the
 * request body's first GENAI_REQ_MAX bytes, the response's first
 * GENAI_RESP_MAX bytes from its status line. Fixed-width types.
 */
#ifndef AET_GENAI_MAPS_H
#define AET_GENAI_MAPS_H

#include "http_maps.h"

#define GENAI_REQ_MAX	(16u << 10)  /* request body bytes: its model and stream */
#define GENAI_RESP_MAX	(1u << 20)   /* response bytes: the usage comes at the end */
#define GENAI_PIECE	4096	     /* bytes of a data record, at most */
#define GENAI_SMALL	448	     /* or of a small one: a record's room is reserved whole */
#define GENAI_PIECES	16	     /* data records of one read or write, at most */
#define GENAI_RING_SIZE (512u << 10) /* drained every 10 ms, and at each call's end */

/* The API a path is of: genai_paths' values. */
enum genai_api {
	GA_NONE,
	GA_OPENAI_CHAT,	       /* /v1/chat/completions */
	GA_OPENAI_COMPLETIONS, /* /v1/completions */
	GA_OPENAI_RESPONSES,   /* /v1/responses */
	GA_OPENAI_EMBEDDINGS,  /* /v1/embeddings */
	GA_ANTHROPIC_MESSAGES, /* /v1/messages */
	GA_OLLAMA_CHAT,	       /* /api/chat */
	GA_OLLAMA_GENERATE,    /* /api/generate */
	GA_OLLAMA_EMBED,       /* /api/embed */
	GA_MAX,
};

/* What a genai_ring record is. */
enum genai_rec_type {
	GR_BEGIN, /* a model call's request head was written: its server */
	GR_REQ,	  /* request body bytes */
	GR_RESP,  /* response bytes */
	GR_END,	  /* the call ended (http_done): no data */
};

/* Why a call's bytes are not all in the ring: genai_stats' indexes. */
enum genai_stat {
	GSTAT_RING_FULL, /* a record the ring had no room for */
	GSTAT_BOUND,	 /* bytes past GENAI_REQ_MAX or GENAI_RESP_MAX, or GENAI_PIECES */
	GSTAT_MAX,
};

/* A genai_ring record: this header, then for GR_REQ and GR_RESP len bytes
 * of data (in a room of GENAI_SMALL or GENAI_PIECE bytes), for GR_BEGIN a
 * struct genai_server. */
struct genai_rec {
	__u64 call;  /* the call's number, unique in the run */
	__u64 ts_ns; /* CLOCK_MONOTONIC: the bytes' syscall's end, the call's start or end */
	__u32 type;  /* enum genai_rec_type */
	__u32 len;
	/* GR_BEGIN */
	__u32 api;    /* enum genai_api */
	__u32 series; /* the agent request or task open on the thread: its label set, or ~0 */
	__u32 kind;   /* its kind (enum open_kind), or 0 */
	__u32 tgid;
	/* GR_END */
	__u32 error;  /* enum http_error */
	__u16 status; /* the HTTP status, 0: none */
	__u16 lost;   /* 1: bytes of the call were not sent (genai_stats) */
};

/* GR_BEGIN's data: the server, as the request's Host header names it
 * (a provider is known by its host: user/genai_api.c). */
struct genai_server {
	char host[HTTP_HOST_LEN];
	__u16 port; /* 0: none given */
	__u16 pad[3];
};

#endif /* AET_GENAI_MAPS_H */
