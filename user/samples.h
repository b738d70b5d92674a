/* SPDX-License-Identifier: MIT */
/*
 * What the maps of bpf/probes.bpf.c and bpf/files.bpf.c hold, as plain
 * arrays, to the samples of their metrics. Pure: no libbpf, no map, no I/O;
 * the callers read the maps (user/probes_metrics.c, user/files.c).
 *
 * The arrays may be the maps themselves, mapped, which the programs keep
 * adding to: each histogram and counter is read once.
 */
#ifndef AET_SAMPLES_H
#define AET_SAMPLES_H

#include <stddef.h>
#include <linux/types.h>

#include "buf.h"
#include "hist_map.h"

struct open_slot;
struct series_set;

/* The metrics of the task, agent, event and cycle maps at one scrape. */
struct probe_samples;

/* Returns NULL when out of memory. */
struct probe_samples *probe_samples__new(void);
void probe_samples__free(struct probe_samples *s);

/*
 * aet_tasks_total, aet_task_duration_seconds and aet_active_tasks. set holds
 * the label sets (agent, mode) by series index; hist set->n * STATUS_MAX
 * histograms, at series * STATUS_MAX + status; slots nslots open slots,
 * whose open tasks count in aet_active_tasks. Returns 0 or -ENOMEM.
 */
int probe_samples__add_tasks(struct probe_samples *s, const struct series_set *set,
			     const struct hist *hist, const struct open_slot *slots, size_t nslots);

/* aet_agent_requests_total, aet_agent_errors_total and
 * aet_agent_response_seconds: set holds (agent, operation), hist as above. */
int probe_samples__add_agents(struct probe_samples *s, const struct series_set *set,
			      const struct hist *hist);

/* aet_events_total: set holds (event_type, ""), counts set->n counters. */
int probe_samples__add_events(struct probe_samples *s, const struct series_set *set,
			      const __u64 *counts);

/* aet_cycles_total and aet_cycle_duration_seconds: STATUS_MAX histograms. */
int probe_samples__add_cycles(struct probe_samples *s, const struct hist *hist);

/* Writes every metric, in a fixed order, empty ones as HELP and TYPE. */
void probe_samples__write(const struct probe_samples *s, struct buf *out);

/*
 * Writes aet_file_operations_total, aet_file_operation_seconds and
 * aet_file_bytes_total: hist holds FOP_MAX * FILE_STATUS_MAX histograms, at
 * operation * FILE_STATUS_MAX + status, bytes FOP_MAX counters (read and
 * write only are written). Returns 0 or -ENOMEM.
 */
int file_samples_write(const struct hist *hist, const __u64 *bytes, struct buf *out);

/* aet_db_operations_total and aet_db_operation_seconds from hist, a struct
 * hist per (verb, status) at verb * DB_STATUS_MAX + status (db_hist). */
int db_samples_write(const struct hist *hist, struct buf *out);

struct http_key;
struct http_val;

/* aet_http_client_requests_total, aet_http_client_request_duration_seconds
 * and aet_http_client_bytes_total from the n entries of http_series and
 * the HM_MAX of http_overflow (include/http_maps.h): those by method, with
 * server_address and status_code "__overflow__". Returns 0 or -ENOMEM. */
int http_samples_write(const struct http_key *keys, const struct http_val *vals, size_t n,
		       const struct http_val *overflow, struct buf *out);

#endif /* AET_SAMPLES_H */
