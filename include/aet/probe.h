/* SPDX-License-Identifier: MIT */
/*
 * The AET probe ABI, version 2 (version 1 and the custom metrics).
 *
 * An application tells aet-collector about its semantic events by calling
 * these functions, exported by libaetprobe.so. Every function does nothing:
 * with no collector attached a call costs a plain function call. When
 * aet-collector attaches to the process it places uprobes on these symbols
 * and reads their arguments from registers, so the names, the argument
 * order and the argument types below are a contract and never change within
 * an ABI version.
 *
 * Every function of version 1 starts with the 5-byte NOP
 * `nopl 0x0(%rax,%rax,1)` (0f 1f 44 00 00) followed by `push %rbp` (55):
 * recent kernels execute a uprobe on the NOP on an optimized path, older
 * ones emulate the push cheaply. The build checks these bytes. The custom
 * metric functions and aet_probe_histogram_buckets (below) are C: they
 * call probes of the same prologue (probe/custom.c, probe/buckets.c), the
 * custom metric ones only while a collector is attached, with a key of
 * their strings first, so that the collector reads the strings once a
 * series: a name or labels must be NULL or a valid string.
 *
 * Conventions:
 *  - status: AET_STATUS_SUCCESS (0), AET_STATUS_FAILURE (1),
 *    AET_STATUS_TIMEOUT (2), AET_STATUS_CANCELLED (3); any other value is
 *    counted as failure.
 *  - ids are chosen by the application and must be unique within the
 *    process while the operation is open. A begin and its end are paired by
 *    (process, kind, id), so an end may be called from another thread than
 *    its begin. An end without a begin is counted by the collector as
 *    unmatched and changes nothing else.
 *  - strings are NUL-terminated and may hold any bytes. Label values (agent,
 *    mode, operation, event_type) are read up to 63 bytes; longer values are
 *    truncated at a UTF-8 character boundary.
 */
#ifndef AET_PROBE_H
#define AET_PROBE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AET_PROBE_ABI_VERSION 2

enum aet_status {
	AET_STATUS_SUCCESS = 0,
	AET_STATUS_FAILURE = 1,
	AET_STATUS_TIMEOUT = 2,
	AET_STATUS_CANCELLED = 3,
};

/* Returns AET_PROBE_ABI_VERSION of the loaded library. */
int aet_probe_abi_version(void);

/* An orchestrator cycle begins; cycle_id pairs it with its end. */
void aet_probe_cycle_begin(uint64_t cycle_id);
/* The cycle cycle_id ends with status (enum aet_status). */
void aet_probe_cycle_end(uint64_t cycle_id, int32_t status);

/* Task task_id begins, handled by agent in mode. */
void aet_probe_task_begin(uint64_t task_id, const char *agent, const char *mode);
/* Task task_id ends with status (enum aet_status). */
void aet_probe_task_end(uint64_t task_id, int32_t status);

/* Agent agent begins request request_id performing operation. */
void aet_probe_agent_begin(uint64_t request_id, const char *agent, const char *operation);
/* Agent request request_id ends with status (enum aet_status). */
void aet_probe_agent_end(uint64_t request_id, int32_t status);

/* One entry of type event_type was written to the event log. */
void aet_probe_event(const char *event_type);

/*
 * A custom span begins: name (at most 63 bytes) and attributes,
 * "key=value;key=value" (at most 255 bytes, 16 pairs), become the span's
 * name and string attributes. Spans nest by thread: a cycle, task, agent
 * request or custom span begun while another is open on the same thread is
 * its child, and so are the file and SQLite operations of that thread.
 */
void aet_probe_span_begin(uint64_t span_id, const char *name, const char *attributes);
/* Custom span span_id ends with status (enum aet_status). */
void aet_probe_span_end(uint64_t span_id, int32_t status);

/*
 * Where the next span begun on the calling thread belongs (used once; file
 * and SQLite operations do not use it):
 *  - a W3C traceparent, "00-<32 hex trace id>-<16 hex parent id>-<2 hex
 *    flags>": when no span is open on the thread, it joins that trace as a
 *    child of that (remote) parent, the context a request from another
 *    service carries;
 *  - "aet:<kind>:<id>", kind one of cycle, task, agent, span and id in
 *    decimal: it becomes a child of that open span of this process, whatever
 *    is open on the thread; the way to hand a context to another thread (a
 *    worker pool) or to keep concurrent async work apart (when that span is
 *    not open, nesting decides as if nothing had been said);
 *  - "": nothing (clears what an earlier call left).
 * Anything else is counted as invalid and ignored.
 */
void aet_probe_trace_context(const char *traceparent);

/*
 * Custom metrics (ABI version 2), aggregated by the collector and exposed
 * as aet_custom_NAME. name is read up to 63 bytes, labels up to 127:
 * "key=value;key=value", at most 4 pairs. Names and label keys are made
 * valid Prometheus names at exposition. A name keeps the type of its first
 * call: a call of another type is counted as a conflict and ignored.
 */
/* Adds delta to counter name{labels} (exposed as aet_custom_NAME_total). */
void aet_probe_counter_add(const char *name, const char *labels, uint64_t delta);
/* Sets gauge name{labels} to value. */
void aet_probe_gauge_set(const char *name, const char *labels, int64_t value);
/* Adds delta (maybe negative) to gauge name{labels}. */
void aet_probe_gauge_add(const char *name, const char *labels, int64_t delta);
/* Observes value_micros / 1e6 in histogram name{labels} (fixed point:
 * BPF programs have no floating point, and uprobes do not see the SSE
 * registers a double is passed in). Buckets: those of the durations, or
 * those name declared (aet_probe_histogram_buckets). */
void aet_probe_observe(const char *name, const char *labels, int64_t value_micros);

/*
 * Declares the buckets of histogram name: n (1 to AET_PROBE_BUCKETS_MAX)
 * finite upper bounds, strictly increasing once rounded to millionths (as
 * observe's values are), each within +-9e12; +Inf is implied. Returns 0, or
 * -1 with nothing done when the bounds are not so. A name's first call
 * decides its buckets: declare before its first observe. A declaration
 * after an observation, or with other bounds than the name's, is counted
 * by the collector and ignored; the same bounds again change nothing (a
 * collector attached later than the first declaration sees the next one).
 * Without a declaration the buckets are those of the durations.
 */
#define AET_PROBE_BUCKETS_MAX 16
int aet_probe_histogram_buckets(const char *name, const double *bounds, size_t n);
/* What aet_probe_histogram_buckets calls once the bounds are checked: the
 * bounds in millionths, where the collector reads them. Not for
 * applications: it does not check them, the collector does. */
void aet_probe_histogram_bounds(const char *name, const int64_t *bounds_micros, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* AET_PROBE_H */
