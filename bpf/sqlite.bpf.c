// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * SQLite executions of the target, from uprobes on the libsqlite3 it maps.
 *
 * One operation is one execution of a prepared statement: from its first
 * sqlite3_step() to the step that returns SQLITE_DONE (success) or an error,
 * or to sqlite3_reset()/sqlite3_finalize() when the rows were not all read
 * (success). A statement prepared once and executed many times (Python's
 * statement cache) counts every execution; a select stepping over many rows
 * counts once. The verb comes from the SQL text at prepare time.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "agg.bpf.h"
#include "sqlite_maps.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define SQLITE_ROW  100
#define SQLITE_DONE 101
#define SQL_HEAD    32 /* bytes of SQL text read to find the verb */

/* Prepared statements of the target: --max-open of them. Finalized ones
 * are removed; a statement the target never finalizes stays until exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct stmt_key);
	__type(value, struct stmt_state);
} stmts SEC(".maps");

/* A prepare or a step between entry and return, per thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct prepare_args);
} preparing SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} stepping SEC(".maps");

/* aet_db_operations_total and aet_db_operation_seconds: a histogram per
 * (verb, status), at verb * DB_STATUS_MAX + status. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VERB_MAX *DB_STATUS_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct hist);
} db_hist SEC(".maps");

/* Up to 8 letters of a word, little-endian, as parse_verb() builds them. */
#define LETTER(s, i) ((i) < sizeof(s) - 1 ? (__u64)(s)[i] << (8 * (i)) : 0)
#define WORD(s)                                                                                    \
	(LETTER(s, 0) | LETTER(s, 1) | LETTER(s, 2) | LETTER(s, 3) | LETTER(s, 4) | LETTER(s, 5) | \
	 LETTER(s, 6) | LETTER(s, 7))

static __always_inline bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The verb of the SQL text at usql: its first word, case-insensitive. */
static __always_inline __u32 parse_verb(const char *usql)
{
	char b[SQL_HEAD] = {};
	__u32 n = 0, i;
	__u64 w = 0;

	if (bpf_probe_read_user_str(b, sizeof(b), usql) <= 0)
		return VERB_OTHER;
	while (n < SQL_HEAD - 9 && is_space(b[n]))
		n++;
	for (i = 0; i < 8; i++) {
		char c = b[(n + i) & (SQL_HEAD - 1)];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c < 'a' || c > 'z')
			break;
		w |= (__u64)c << (8 * i);
	}
	if (i == 8 && ((b[(n + 8) & (SQL_HEAD - 1)] | 0x20) >= 'a' &&
		       (b[(n + 8) & (SQL_HEAD - 1)] | 0x20) <= 'z'))
		return VERB_OTHER; /* a longer word */
	if (w == WORD("select"))
		return VERB_SELECT;
	if (w == WORD("insert") || w == WORD("replace"))
		return VERB_INSERT;
	if (w == WORD("update"))
		return VERB_UPDATE;
	if (w == WORD("delete"))
		return VERB_DELETE;
	if (w == WORD("begin"))
		return VERB_BEGIN;
	if (w == WORD("commit") || w == WORD("end")) /* END TRANSACTION is COMMIT */
		return VERB_COMMIT;
	if (w == WORD("rollback"))
		return VERB_ROLLBACK;
	return VERB_OTHER;
}

static __always_inline int prepare_enter(const void *sql, void *ppstmt)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct prepare_args a = { .sql = (__u64)sql, .ppstmt = (__u64)ppstmt };

	bpf_map_update_elem(&preparing, &pid_tgid, &a, BPF_ANY);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(prepare_v2, void *db, const char *sql, int n, void **ppstmt)
{
	return prepare_enter(sql, ppstmt);
}

SEC("uprobe")
int BPF_KPROBE(prepare_v3, void *db, const char *sql, int n, __u32 flags, void **ppstmt)
{
	return prepare_enter(sql, ppstmt);
}

/* A prepare returns: the statement exists now. */
static __always_inline int prepare_return(int rc)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct stmt_key key = { .tgid = pid_tgid >> 32 };
	struct stmt_state st = {};
	struct prepare_args *a;

	a = bpf_map_lookup_elem(&preparing, &pid_tgid);
	if (!a)
		return 0;
	if (rc == 0 && !bpf_probe_read_user(&key.stmt, sizeof(key.stmt), (void *)a->ppstmt) &&
	    key.stmt) {
		st.verb = parse_verb((const char *)a->sql);
		bpf_map_update_elem(&stmts, &key, &st, BPF_ANY);
	}
	bpf_map_delete_elem(&preparing, &pid_tgid);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(prepare_v2_ret, int rc)
{
	return prepare_return(rc);
}

SEC("uretprobe")
int BPF_KRETPROBE(prepare_v3_ret, int rc)
{
	return prepare_return(rc);
}

/* Ends the execution in progress of st. */
static __always_inline void finish(struct stmt_state *st, __u32 status, __u64 now)
{
	__u32 idx = (st->verb < VERB_MAX ? st->verb : VERB_OTHER) * DB_STATUS_MAX + status;
	struct hist *h = bpf_map_lookup_elem(&db_hist, &idx);

	st->running = 0;
	if (h)
		hist_observe(h, now - st->start_ns);
}

SEC("uprobe")
int BPF_KPROBE(step, void *stmt)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), s = (__u64)stmt;
	struct stmt_key key = { .stmt = s, .tgid = pid_tgid >> 32 };
	struct stmt_state *st = bpf_map_lookup_elem(&stmts, &key);

	if (!st) {
		/* Prepared before we attached: its text is unknown. */
		struct stmt_state fresh = { .verb = VERB_OTHER };

		bpf_map_update_elem(&stmts, &key, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&stmts, &key);
		if (!st)
			return 0;
	}
	if (!st->running) {
		st->start_ns = bpf_ktime_get_ns();
		st->running = 1;
	}
	bpf_map_update_elem(&stepping, &pid_tgid, &s, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(step_ret, int rc)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct stmt_key key = { .tgid = pid_tgid >> 32 };
	struct stmt_state *st;
	__u64 *s;

	s = bpf_map_lookup_elem(&stepping, &pid_tgid);
	if (!s)
		return 0;
	key.stmt = *s;
	bpf_map_delete_elem(&stepping, &pid_tgid);
	st = bpf_map_lookup_elem(&stmts, &key);
	if (st && st->running && rc != SQLITE_ROW)
		finish(st, rc != SQLITE_DONE, bpf_ktime_get_ns());
	return 0;
}

/* An execution whose rows were not all read ends here, with success. */
static __always_inline struct stmt_state *end_early(void *stmt, struct stmt_key *key)
{
	struct stmt_state *st;

	key->stmt = (__u64)stmt;
	key->tgid = bpf_get_current_pid_tgid() >> 32;
	st = bpf_map_lookup_elem(&stmts, key);
	if (st && st->running)
		finish(st, 0, bpf_ktime_get_ns());
	return st;
}

SEC("uprobe")
int BPF_KPROBE(reset, void *stmt)
{
	struct stmt_key key = {};

	end_early(stmt, &key);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(finalize, void *stmt)
{
	struct stmt_key key = {};

	if (end_early(stmt, &key))
		bpf_map_delete_elem(&stmts, &key);
	return 0;
}
