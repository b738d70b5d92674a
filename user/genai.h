/* SPDX-License-Identifier: MIT */
/*
 * Model calls (docs/DESIGN.md, "Model calls"), from the bytes the http
 * family's programs send through genai_ring (include/genai_maps.h): a
 * thread drains the ring every GENAI_DRAIN_MS and at each call's end, parses
 * each call's request body and response as they come (user/genai_body.c),
 * and at its end counts it under its agent, provider, operation and model.
 * aet_gen_ai_*.
 */
#ifndef AET_GENAI_H
#define AET_GENAI_H

#include "buf.h"
#include "shared.h"

struct genai;
struct bpf_map;

/* Fills paths (the genai_paths map) and opens ring. max_series bounds the
 * label sets kept. NULL with err when it could not. */
struct genai *genai__new(struct bpf_map *paths, struct bpf_map *ring, struct shared *sh,
			 size_t max_series, char *err, size_t len);
/* Starts the thread that drains the ring (once: again does nothing).
 * Returns 0 or -errno with err. */
int genai__run(struct genai *g, char *err, size_t len);
/* Stops the thread, after a last drain. NULL-safe. */
void genai__free(struct genai *g);
/* aet_gen_ai_*; stats are genai_stats' counters (GSTAT_MAX of them).
 * Returns 0 or -ENOMEM. */
int genai__write_metrics(struct genai *g, const __u64 *stats, struct buf *out);
/* The prices of --gen-ai-prices (NULL: none), which must outlive g: with
 * them, aet_gen_ai_cost_usd_total. Before genai__run(). */
struct genai_prices;
void genai__set_prices(struct genai *g, const struct genai_prices *prices);
/* Model calls seen, and in progress, for /status. */
void genai__counts(struct genai *g, unsigned long long *calls, unsigned long long *open);

#endif /* AET_GENAI_H */
