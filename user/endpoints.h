/* SPDX-License-Identifier: MIT */
/* The collector's HTTP endpoints (user/http.c serves them). */
#ifndef AET_ENDPOINTS_H
#define AET_ENDPOINTS_H

#include "collector.h"
#include "http.h"

/* Each route's handler takes the struct collector as its context. */
extern const struct http_route collector_routes[];
extern const int collector_nroutes;

#endif /* AET_ENDPOINTS_H */
