// SPDX-License-Identifier: MIT
/* Unit tests of the samples of the probe and file maps (user/samples.c). */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <linux/types.h>

#include "buf.h"
#include "files_maps.h"
#include "http_maps.h"
#include "series.h"
#include "probes_maps.h"
#include "samples.h"
#include "sqlite_maps.h"

#define NSERIES 5
#define NSLOTS	8

/* The status index of the histograms, as the programs count them. */
enum { SUCCESS, FAILURE, TIMEOUT, CANCELLED };

// clang-format off
#define TASKS_TOTAL_HEAD "# HELP aet_tasks_total Tasks ended, by status, mode and agent.\n" \
	"# TYPE aet_tasks_total counter\n"
#define TASK_SECONDS_HEAD "# HELP aet_task_duration_seconds Task duration from begin to end, " \
	"in seconds.\n# TYPE aet_task_duration_seconds histogram\n"
#define ACTIVE_TASKS_HEAD "# HELP aet_active_tasks Tasks begun and not yet ended, by mode.\n" \
	"# TYPE aet_active_tasks gauge\n"
#define AGENT_REQUESTS_HEAD "# HELP aet_agent_requests_total Agent requests ended.\n" \
	"# TYPE aet_agent_requests_total counter\n"
#define AGENT_ERRORS_HEAD "# HELP aet_agent_errors_total Agent requests ended with status " \
	"failure or timeout.\n# TYPE aet_agent_errors_total counter\n"
#define AGENT_SECONDS_HEAD "# HELP aet_agent_response_seconds Agent request duration from " \
	"begin to end, in seconds.\n# TYPE aet_agent_response_seconds histogram\n"
#define CYCLES_TOTAL_HEAD "# HELP aet_cycles_total Orchestrator cycles ended, by status.\n" \
	"# TYPE aet_cycles_total counter\n"
#define CYCLE_SECONDS_HEAD "# HELP aet_cycle_duration_seconds Orchestrator cycle duration " \
	"from begin to end, in seconds.\n# TYPE aet_cycle_duration_seconds histogram\n"
#define EVENTS_TOTAL_HEAD "# HELP aet_events_total Event log entries, by event type.\n" \
	"# TYPE aet_events_total counter\n"
// clang-format on

static const char *const les[HIST_BUCKETS] = { "0.0001", "0.0005", "0.001", "0.005", "0.01",
					       "0.025",	 "0.05",   "0.1",   "0.25",  "0.5",
					       "1",	 "2.5",	   "5",	    "10",    "30",
					       "60",	 "+Inf" };

static struct labels2 labels[NSERIES];
static bool used[NSERIES];
static struct series_set set;
static struct hist task_hist[NSERIES * STATUS_MAX], agent_hist[NSERIES * STATUS_MAX];
static struct hist cycle_hist[STATUS_MAX];
static __u64 event_counts[NSERIES];
static struct open_slot slots[NSLOTS];
static struct probe_samples *s;
static struct buf out, want;

/* Series i of the set has the label set (l1, l2). */
static void series(size_t i, const char *l1, const char *l2)
{
	snprintf(labels[i].l1, sizeof(labels[i].l1), "%s", l1);
	snprintf(labels[i].l2, sizeof(labels[i].l2), "%s", l2);
	used[i] = true;
}

/* n observations of ns nanoseconds each into bucket b of h. */
static void observe(struct hist *h, int b, __u64 n, __u64 ns)
{
	h->buckets[b] += n;
	h->sum_ns += n * ns;
}

static void slot(size_t i, __u32 state, __u32 kind, __u32 series)
{
	slots[i] = (struct open_slot){ .state = state, .kind = kind, .series = series };
}

static void setup(void)
{
	set = (struct series_set){ .labels = labels, .used = used, .n = NSERIES };
	series(OVERFLOW_SERIES, OVERFLOW_LABEL, OVERFLOW_LABEL); /* there from the start */
	buf_init(&out);
	buf_init(&want);
	s = probe_samples__new();
}

static void teardown(void)
{
	probe_samples__free(s);
	buf_free(&out);
	buf_free(&want);
}

/* The exposition of every metric of s. */
static const char *written(void)
{
	cr_assert_not_null(s);
	probe_samples__write(s, &out);
	cr_assert_eq(out.oom, 0);
	return out.data;
}

/* Metric name's lines in text: its HELP line up to the next HELP. */
static const char *section(const char *text, const char *name)
{
	static char block[1 << 16];
	const char *b, *e;
	char head[128];

	snprintf(head, sizeof(head), "# HELP %s ", name);
	b = strstr(text, head);
	cr_assert_not_null(b, "no %s in:\n%s", name, text);
	e = strstr(b + 1, "# HELP ");
	if (!e)
		e = b + strlen(b);
	cr_assert_lt((size_t)(e - b), sizeof(block));
	memcpy(block, b, e - b);
	block[e - b] = '\0';
	return block;
}

/* Appends one histogram sample to want: cum holds its cumulative buckets. */
static void want_hist(const char *name, const char *l, const unsigned *cum, const char *sum)
{
	for (int i = 0; i < HIST_BUCKETS; i++)
		buf_printf(&want, "%s_bucket{%s%sle=\"%s\"} %u\n", name, l, *l ? "," : "", les[i],
			   cum[i]);
	if (*l)
		buf_printf(&want, "%s_sum{%s} %s\n%s_count{%s} %u\n", name, l, sum, name, l,
			   cum[HIST_BUCKETS - 1]);
	else
		buf_printf(&want, "%s_sum %s\n%s_count %u\n", name, sum, name,
			   cum[HIST_BUCKETS - 1]);
}

static int add_all(void)
{
	cr_assert_not_null(s);
	return probe_samples__add_tasks(s, &set, task_hist, slots, NSLOTS) ?:
	       probe_samples__add_agents(s, &set, agent_hist) ?:
	       probe_samples__add_events(s, &set, event_counts);
}

TestSuite(samples, .init = setup, .fini = teardown, .timeout = 5.);

/* Only the overflow series, nothing counted in it: every metric is written,
 * in a fixed order, with no sample; cycles are not added here. */
Test(samples, nothing_observed)
{
	cr_assert_eq(add_all(), 0);
	cr_assert_str_eq(written(),
			 TASKS_TOTAL_HEAD TASK_SECONDS_HEAD ACTIVE_TASKS_HEAD AGENT_REQUESTS_HEAD
				 AGENT_ERRORS_HEAD AGENT_SECONDS_HEAD CYCLES_TOTAL_HEAD
					 CYCLE_SECONDS_HEAD EVENTS_TOTAL_HEAD);
}

Test(samples, tasks_total_by_status_mode_agent)
{
	series(1, "planner", "sync");
	series(2, "coder", "async");
	observe(&task_hist[1 * STATUS_MAX + SUCCESS], 0, 2, 50000);
	observe(&task_hist[1 * STATUS_MAX + FAILURE], 3, 1, 4000000);
	observe(&task_hist[2 * STATUS_MAX + TIMEOUT], 15, 1, 20000000000);
	observe(&task_hist[2 * STATUS_MAX + CANCELLED], 8, 3, 200000000);
	/* Series 3 is not used: what its entries hold is not a task's. */
	observe(&task_hist[3 * STATUS_MAX + SUCCESS], 0, 5, 1);
	cr_assert_eq(add_all(), 0);
	cr_assert_str_eq(section(written(), "aet_tasks_total"), TASKS_TOTAL_HEAD
			 "aet_tasks_total{status=\"cancelled\",mode=\"async\",agent=\"coder\"} 3\n"
			 "aet_tasks_total{status=\"failure\",mode=\"sync\",agent=\"planner\"} 1\n"
			 "aet_tasks_total{status=\"success\",mode=\"sync\",agent=\"planner\"} 2\n"
			 "aet_tasks_total{status=\"timeout\",mode=\"async\",agent=\"coder\"} 1\n");
}

/* Every status of a series in one histogram: 2 in the first bucket, 1 of
 * 0.75 s and 1 past 60 s. */
Test(samples, task_duration_histogram)
{
	// clang-format off
	static const char expect[] = TASK_SECONDS_HEAD
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"0.0001\"} 2\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"0.0005\"} 2\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"0.001\"} 2\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"0.005\"} 2\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"0.01\"} 2\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"0.025\"} 2\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"0.05\"} 2\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"0.1\"} 2\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"0.25\"} 2\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"0.5\"} 2\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"1\"} 3\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"2.5\"} 3\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"5\"} 3\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"10\"} 3\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"30\"} 3\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"60\"} 3\n"
		"aet_task_duration_seconds_bucket{agent=\"planner\",mode=\"sync\",le=\"+Inf\"} 4\n"
		"aet_task_duration_seconds_sum{agent=\"planner\",mode=\"sync\"} 90.7501\n"
		"aet_task_duration_seconds_count{agent=\"planner\",mode=\"sync\"} 4\n";
	// clang-format on

	series(1, "planner", "sync");
	series(2, "coder", "async"); /* no task ended: no histogram */
	observe(&task_hist[1 * STATUS_MAX + SUCCESS], 0, 2, 50000);
	observe(&task_hist[1 * STATUS_MAX + FAILURE], 10, 1, 750000000);
	observe(&task_hist[1 * STATUS_MAX + CANCELLED], HIST_FINITE, 1, 90000000000);
	cr_assert_eq(add_all(), 0);
	cr_assert_str_eq(section(written(), "aet_task_duration_seconds"), expect);
}

/* Open task slots count by their series' mode; a mode with none open is 0. */
Test(samples, active_tasks_by_mode)
{
	series(1, "planner", "sync");
	series(2, "coder", "sync");
	series(3, "coder", "batch");
	observe(&task_hist[1 * STATUS_MAX + SUCCESS], 0, 1, 1);
	slot(0, SLOT_OPEN, KIND_TASK, 1);
	slot(1, SLOT_OPEN, KIND_TASK, 2);
	slot(2, SLOT_FREE, KIND_TASK, 3);
	slot(3, SLOT_BUSY, KIND_TASK, 3);
	slot(4, SLOT_OPEN, KIND_AGENT, 3);
	slot(5, SLOT_OPEN, KIND_TASK, 4);	    /* a series not used */
	slot(6, SLOT_OPEN, KIND_TASK, NSERIES + 1); /* past the set */
	slot(7, SLOT_OPEN, KIND_CYCLE, 1);
	cr_assert_eq(add_all(), 0);
	cr_assert_str_eq(section(written(), "aet_active_tasks"),
			 ACTIVE_TASKS_HEAD "aet_active_tasks{mode=\"batch\"} 0\n"
					   "aet_active_tasks{mode=\"sync\"} 2\n");
}

/* Once something is counted under "__overflow__", it is shown as any series. */
Test(samples, overflow_shown_once_something_overflowed)
{
	static const unsigned cum[HIST_BUCKETS] = { 0, 0, 0, 0, 1, 1, 1, 1, 1,
						    1, 1, 1, 1, 1, 1, 1, 1 };
	const char *text;

	observe(&task_hist[OVERFLOW_SERIES * STATUS_MAX + SUCCESS], 4, 1, 7000000);
	observe(&agent_hist[OVERFLOW_SERIES * STATUS_MAX + TIMEOUT], 4, 1, 7000000);
	event_counts[OVERFLOW_SERIES] = 2;
	cr_assert_eq(add_all(), 0);
	text = written();
	cr_assert_str_eq(section(text, "aet_tasks_total"), TASKS_TOTAL_HEAD
			 "aet_tasks_total{status=\"success\",mode=\"__overflow__\","
			 "agent=\"__overflow__\"} 1\n");
	buf_puts(&want, TASK_SECONDS_HEAD);
	want_hist("aet_task_duration_seconds", "agent=\"__overflow__\",mode=\"__overflow__\"", cum,
		  "0.007");
	cr_assert_str_eq(section(text, "aet_task_duration_seconds"), want.data);
	cr_assert_str_eq(section(text, "aet_active_tasks"),
			 ACTIVE_TASKS_HEAD "aet_active_tasks{mode=\"__overflow__\"} 0\n");
	cr_assert_str_eq(section(text, "aet_agent_errors_total"),
			 AGENT_ERRORS_HEAD "aet_agent_errors_total{agent=\"__overflow__\","
					   "operation=\"__overflow__\"} 1\n");
	cr_assert_str_eq(section(text, "aet_events_total"),
			 EVENTS_TOTAL_HEAD "aet_events_total{event_type=\"__overflow__\"} 2\n");
}

/* A task begun once the set was full is open in the overflow series. */
Test(samples, overflow_open_task_is_active)
{
	slot(0, SLOT_OPEN, KIND_TASK, OVERFLOW_SERIES);
	cr_assert_eq(add_all(), 0);
	cr_assert_str_eq(section(written(), "aet_active_tasks"),
			 ACTIVE_TASKS_HEAD "aet_active_tasks{mode=\"__overflow__\"} 1\n");
}

/* An error is a failure or a timeout, not a cancellation. */
Test(samples, agent_errors_are_failures_and_timeouts)
{
	series(1, "planner", "plan");
	series(2, "coder", "edit");
	series(3, "idle", "wait"); /* no request ended: not shown */
	observe(&agent_hist[1 * STATUS_MAX + SUCCESS], 7, 3, 50000000);
	observe(&agent_hist[1 * STATUS_MAX + FAILURE], 7, 2, 50000000);
	observe(&agent_hist[1 * STATUS_MAX + TIMEOUT], 7, 1, 50000000);
	observe(&agent_hist[1 * STATUS_MAX + CANCELLED], 7, 4, 50000000);
	observe(&agent_hist[2 * STATUS_MAX + CANCELLED], 5, 2, 20000000);
	observe(&agent_hist[4 * STATUS_MAX + FAILURE], 0, 5, 1); /* not used */
	cr_assert_eq(add_all(), 0);
	cr_assert_str_eq(section(written(), "aet_agent_requests_total"), AGENT_REQUESTS_HEAD
			 "aet_agent_requests_total{agent=\"coder\",operation=\"edit\"} 2\n"
			 "aet_agent_requests_total{agent=\"planner\",operation=\"plan\"} 10\n");
	cr_assert_str_eq(section(out.data, "aet_agent_errors_total"), AGENT_ERRORS_HEAD
			 "aet_agent_errors_total{agent=\"coder\",operation=\"edit\"} 0\n"
			 "aet_agent_errors_total{agent=\"planner\",operation=\"plan\"} 3\n");
}

Test(samples, agent_response_histogram)
{
	static const unsigned coder[HIST_BUCKETS] = { 0, 0, 0, 0, 0, 2, 2, 2, 2,
						      2, 2, 2, 2, 2, 2, 2, 2 };
	static const unsigned planner[HIST_BUCKETS] = { 0,  0,	0,  0,	0,  0,	0,  10, 10,
							10, 10, 10, 10, 10, 10, 10, 10 };

	series(1, "planner", "plan");
	series(2, "coder", "edit");
	observe(&agent_hist[1 * STATUS_MAX + SUCCESS], 7, 6, 50000000);
	observe(&agent_hist[1 * STATUS_MAX + CANCELLED], 7, 4, 50000000);
	observe(&agent_hist[2 * STATUS_MAX + FAILURE], 5, 2, 20000000);
	cr_assert_eq(add_all(), 0);
	buf_puts(&want, AGENT_SECONDS_HEAD);
	want_hist("aet_agent_response_seconds", "agent=\"coder\",operation=\"edit\"", coder,
		  "0.04");
	want_hist("aet_agent_response_seconds", "agent=\"planner\",operation=\"plan\"", planner,
		  "0.5");
	cr_assert_str_eq(section(written(), "aet_agent_response_seconds"), want.data);
}

/* A used event type with no entry is 0; the overflow series is hidden while 0. */
Test(samples, events_total_by_type)
{
	series(1, "tool_call", "");
	series(2, "handoff", "");
	event_counts[1] = 5;
	event_counts[3] = 9; /* not used */
	cr_assert_eq(add_all(), 0);
	cr_assert_str_eq(section(written(), "aet_events_total"),
			 EVENTS_TOTAL_HEAD "aet_events_total{event_type=\"handoff\"} 0\n"
					   "aet_events_total{event_type=\"tool_call\"} 5\n");
}

/* Every status is shown, 0 included; one histogram of them all. */
Test(samples, cycles_total_and_duration)
{
	static const unsigned cum[HIST_BUCKETS] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
						    0, 0, 3, 4, 4, 4, 4, 6 };
	const char *text;

	observe(&cycle_hist[SUCCESS], 11, 3, 2000000000);
	observe(&cycle_hist[FAILURE], 12, 1, 4000000000);
	observe(&cycle_hist[CANCELLED], HIST_FINITE, 2, 100000000000);
	cr_assert_not_null(s);
	cr_assert_eq(probe_samples__add_cycles(s, cycle_hist), 0);
	text = written();
	cr_assert_str_eq(section(text, "aet_cycles_total"),
			 CYCLES_TOTAL_HEAD "aet_cycles_total{status=\"cancelled\"} 2\n"
					   "aet_cycles_total{status=\"failure\"} 1\n"
					   "aet_cycles_total{status=\"success\"} 3\n"
					   "aet_cycles_total{status=\"timeout\"} 0\n");
	buf_puts(&want, CYCLE_SECONDS_HEAD);
	want_hist("aet_cycle_duration_seconds", "", cum, "210");
	cr_assert_str_eq(section(text, "aet_cycle_duration_seconds"), want.data);
}

static struct hist file_hist[FOP_MAX * FILE_STATUS_MAX];
static __u64 file_bytes[FOP_MAX];

/* Reads, writes and a rename, written out; the index of a status is 0 for
 * success, 1 for error. */
static const char *file_written(void)
{
	observe(&file_hist[FOP_READ * FILE_STATUS_MAX + 0], 1, 3, 200000);
	observe(&file_hist[FOP_READ * FILE_STATUS_MAX + 1], 0, 1, 50000);
	observe(&file_hist[FOP_WRITE * FILE_STATUS_MAX + 0], 2, 2, 800000);
	observe(&file_hist[FOP_RENAME * FILE_STATUS_MAX + 1], 3, 1, 3000000);
	file_bytes[FOP_OPEN] = 7;
	file_bytes[FOP_READ] = 4096;
	file_bytes[FOP_WRITE] = 100;
	cr_assert_eq(file_samples_write(file_hist, file_bytes, &out), 0);
	cr_assert_eq(out.oom, 0);
	return out.data;
}

/* Every operation and status, 0 included; bytes of read and write only. */
Test(samples, file_operations_and_bytes)
{
	const char *text = file_written();

	cr_assert_str_eq(
		section(text, "aet_file_operations_total"),
		"# HELP aet_file_operations_total File operations of the target processes on "
		"regular files, by status.\n"
		"# TYPE aet_file_operations_total counter\n"
		"aet_file_operations_total{operation=\"fsync\",status=\"error\"} 0\n"
		"aet_file_operations_total{operation=\"fsync\",status=\"success\"} 0\n"
		"aet_file_operations_total{operation=\"mkdir\",status=\"error\"} 0\n"
		"aet_file_operations_total{operation=\"mkdir\",status=\"success\"} 0\n"
		"aet_file_operations_total{operation=\"open\",status=\"error\"} 0\n"
		"aet_file_operations_total{operation=\"open\",status=\"success\"} 0\n"
		"aet_file_operations_total{operation=\"read\",status=\"error\"} 1\n"
		"aet_file_operations_total{operation=\"read\",status=\"success\"} 3\n"
		"aet_file_operations_total{operation=\"rename\",status=\"error\"} 1\n"
		"aet_file_operations_total{operation=\"rename\",status=\"success\"} 0\n"
		"aet_file_operations_total{operation=\"rmdir\",status=\"error\"} 0\n"
		"aet_file_operations_total{operation=\"rmdir\",status=\"success\"} 0\n"
		"aet_file_operations_total{operation=\"unlink\",status=\"error\"} 0\n"
		"aet_file_operations_total{operation=\"unlink\",status=\"success\"} 0\n"
		"aet_file_operations_total{operation=\"write\",status=\"error\"} 0\n"
		"aet_file_operations_total{operation=\"write\",status=\"success\"} 2\n");
	cr_assert_str_eq(section(text, "aet_file_bytes_total"),
			 "# HELP aet_file_bytes_total Bytes read from and written to regular "
			 "files.\n# TYPE aet_file_bytes_total counter\n"
			 "aet_file_bytes_total{operation=\"read\"} 4096\n"
			 "aet_file_bytes_total{operation=\"write\"} 100\n");
	/* The three metrics, in this order. */
	cr_assert_eq(strstr(text, "# HELP aet_file_operations_total "), text);
	cr_assert_lt(strstr(text, "# HELP aet_file_operation_seconds "),
		     strstr(text, "# HELP aet_file_bytes_total "));
}

/* One histogram per operation, its statuses together; empty ones too. */
Test(samples, file_operation_seconds)
{
	static const struct {
		const char *op; /* in the order of the exposition */
		unsigned cum[HIST_BUCKETS];
		const char *sum;
	} ops[FOP_MAX] = {
		{ "fsync", { 0 }, "0" },
		{ "mkdir", { 0 }, "0" },
		{ "open", { 0 }, "0" },
		{ "read", { 1, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4 }, "0.00065" },
		{ "rename", { 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, "0.003" },
		{ "rmdir", { 0 }, "0" },
		{ "unlink", { 0 }, "0" },
		{ "write", { 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2 }, "0.0016" },
	};
	const char *text = file_written();

	buf_puts(&want, "# HELP aet_file_operation_seconds Duration of file operations (syscall "
			"enter to exit), in seconds.\n"
			"# TYPE aet_file_operation_seconds histogram\n");
	for (int i = 0; i < FOP_MAX; i++) {
		char l[64];

		snprintf(l, sizeof(l), "operation=\"%s\"", ops[i].op);
		want_hist("aet_file_operation_seconds", l, ops[i].cum, ops[i].sum);
	}
	cr_assert_str_eq(section(text, "aet_file_operation_seconds"), want.data);
}

/* SQLite: every verb and status counted, zeros too; a histogram only for
 * the verbs that ran, their statuses together. */
Test(samples, db_operations_by_verb_and_status)
{
	static struct hist db_hist[VERB_MAX * DB_STATUS_MAX];
	const char *text;

	observe(&db_hist[VERB_SELECT * DB_STATUS_MAX + 0], 0, 5, 250000);
	observe(&db_hist[VERB_SELECT * DB_STATUS_MAX + 1], 2, 1, 700000);
	observe(&db_hist[VERB_OTHER * DB_STATUS_MAX + 1], 3, 2, 8000000);
	cr_assert_eq(db_samples_write(db_hist, &out), 0);
	text = written();
	cr_assert(strstr(text,
			 "aet_db_operations_total{operation=\"select\",status=\"success\"} 5\n"));
	cr_assert(
		strstr(text, "aet_db_operations_total{operation=\"select\",status=\"error\"} 1\n"));
	cr_assert(
		strstr(text, "aet_db_operations_total{operation=\"other\",status=\"error\"} 2\n"));
	cr_assert(strstr(text,
			 "aet_db_operations_total{operation=\"rollback\",status=\"success\"} 0\n"));
	cr_assert(strstr(text, "aet_db_operation_seconds_count{operation=\"select\"} 6\n"));
	cr_assert(strstr(text, "aet_db_operation_seconds_sum{operation=\"select\"} 0.00195\n"));
	cr_assert(strstr(
		text, "aet_db_operation_seconds_bucket{operation=\"select\",le=\"0.0001\"} 5\n"));
	cr_assert(strstr(text,
			 "aet_db_operation_seconds_bucket{operation=\"select\",le=\"0.001\"} 6\n"));
	cr_assert(strstr(text, "aet_db_operation_seconds_count{operation=\"other\"} 2\n"));
	cr_assert_null(strstr(text, "aet_db_operation_seconds_count{operation=\"insert\"}"));
	/* 2 statuses of 8 verbs, then the histograms of the two that ran. */
	cr_assert_eq(strstr(text, "# HELP aet_db_operations_total "), text);
}

static struct http_key http_key(const char *host, __u16 status, __u8 method, __u8 error)
{
	struct http_key k = { .status = status, .method = method, .error = error };

	snprintf(k.host, sizeof(k.host), "%s", host);
	return k;
}

/* Series by (host, method, status, error); the duration merged over
 * statuses, the bytes over methods; past --max-series, __overflow__. */
Test(samples, http_requests_duration_and_bytes)
{
	static struct http_val vals[4], overflow[HM_MAX];
	const struct http_key keys[4] = {
		http_key("api.example.com", 200, HM_POST, HE_NONE),
		http_key("api.example.com", 429, HM_POST, HE_NONE),
		http_key("api.example.com", 0, HM_GET, HE_RESET),
		http_key("a\"b", 404, 77, HE_NONE), /* an unknown method: _OTHER */
	};
	const char *text;

	observe(&vals[0].hist, 9, 3, 500000000);
	vals[0].req_bytes = 300;
	vals[0].resp_bytes = 9000;
	observe(&vals[1].hist, 8, 1, 250000000);
	vals[1].req_bytes = 100;
	observe(&vals[2].hist, 4, 2, 7000000);
	observe(&vals[3].hist, 0, 1, 50000);
	observe(&overflow[HM_GET].hist, 1, 4, 200000);
	overflow[HM_GET].resp_bytes = 40;
	cr_assert_eq(http_samples_write(keys, vals, 4, overflow, &out), 0);
	cr_assert_eq(out.oom, 0);
	text = out.data;
	cr_assert(strstr(text, "aet_http_client_requests_total{method=\"POST\",server_address="
			       "\"api.example.com\",status_code=\"200\",error_type=\"\"} 3\n"));
	cr_assert(strstr(text, "aet_http_client_requests_total{method=\"POST\",server_address="
			       "\"api.example.com\",status_code=\"429\",error_type=\"\"} 1\n"));
	cr_assert(strstr(text, "aet_http_client_requests_total{method=\"GET\",server_address="
			       "\"api.example.com\",status_code=\"\",error_type="
			       "\"connection_reset\"} 2\n"));
	cr_assert(strstr(text, "aet_http_client_requests_total{method=\"_OTHER\",server_address="
			       "\"a\\\"b\",status_code=\"404\",error_type=\"\"} 1\n"),
		  "%s", text);
	cr_assert(strstr(text,
			 "aet_http_client_requests_total{method=\"GET\",server_address="
			 "\"__overflow__\",status_code=\"__overflow__\",error_type=\"\"} 4\n"));
	cr_assert(strstr(text, "aet_http_client_request_duration_seconds_count{method=\"POST\","
			       "server_address=\"api.example.com\"} 4\n"));
	cr_assert(strstr(text, "aet_http_client_request_duration_seconds_sum{method=\"POST\","
			       "server_address=\"api.example.com\"} 1.75\n"));
	cr_assert(strstr(text, "aet_http_client_bytes_total{server_address=\"api.example.com\","
			       "direction=\"request\"} 400\n"));
	cr_assert(strstr(text, "aet_http_client_bytes_total{server_address=\"api.example.com\","
			       "direction=\"response\"} 9000\n"));
	cr_assert(strstr(text, "aet_http_client_bytes_total{server_address=\"__overflow__\","
			       "direction=\"response\"} 40\n"));
	/* No overflow of POST: nothing under it. */
	cr_assert_null(strstr(text, "method=\"POST\",server_address=\"__overflow__\""));
}
