// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * SQLite statement executions of the target, from uprobes on the libsqlite3
 * it maps, aggregated here: user space reads db_hist at scrape time.
 *
 * One operation is one execution of a prepared statement, and nothing is
 * probed per row: sqlite3_step() runs once a row and a trap there is the
 * cost (libsqlite3's functions begin with a push, emulated: about 1 us a
 * hit). An execution starts at Python's sqlite3_bind_parameter_count(),
 * which its sqlite3 module calls once per execution, before the first step,
 * parameters or not; for a caller that does not call it (sqlite3_exec(),
 * the sqlite3 shell, C), when the statement became ready: the return of its
 * prepare or of the reset before. It ends at the next sqlite3_reset() or
 * sqlite3_finalize() of the statement (Python resets a statement when its
 * rows are done, when its cursor is closed or goes, or at its next use; a
 * done statement stepped again is reset by sqlite3_step() itself), whose
 * return is its status: SQLite returns there the error of the last step,
 * SQLITE_OK after SQLITE_DONE or rows left unread. Whether the statement
 * ran at all since it was ready is its state at that entry (Vdbe's
 * eVdbeState, at the offset state_off read from sqlite3_stmt_busy()'s code
 * by user space): a reset or finalize of a statement never stepped is not
 * an operation. Where the state cannot be read (SQLite before 3.38), the
 * step entry is probed as well and says it: then a trap per row.
 *
 * A prepare that fails (a syntax error, no such table) is an operation
 * too, an error, as the application's driver reports it (Python raises). A
 * statement prepared once and executed many times (Python's statement
 * cache) counts every execution; a select over many rows counts once. The
 * verb comes from the SQL text at sqlite3_prepare_v2/v3(); a statement
 * prepared before the programs were attached (or by sqlite3_prepare16*)
 * gets it from the text the statement keeps (text_off), or counts as
 * "other"; a caller that binds nothing times the first execution of such a
 * statement from when it was first seen.
 *
 * Calls SQLite makes to its own API inside a prepare (reading the schema
 * runs sqlite3_exec()) are not the application's operations: an entry
 * whose stack pointer is below that of the prepare its thread is in is
 * skipped. Statements SQLite runs inside a step (VACUUM's, a virtual
 * table's such as FTS5's shadow tables) are prepared from inside the
 * library: the return address of their prepare is in its mapping
 * (from_library()), and they never count. The per-thread state is
 * task storage ("bpf: Enable task local storage for tracing programs",
 * kernel 5.11): one lookup per call instead of a hash insert and delete,
 * and freed with the thread.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "sqlite_maps.h"
#include "agg.bpf.h"
#include "spans.bpf.h"
#include "own_stack.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define SQLITE_OK   0
#define SQLITE_ROW  100
#define SQLITE_DONE 101

/* The stack pointer at a uretprobe less the one at its uprobe: x86-64's
 * call pushed the return address, which the return popped. */
#if defined(__TARGET_ARCH_x86)
#define RET_SP_DELTA 8
#elif defined(__TARGET_ARCH_arm64)
#define RET_SP_DELTA 0 /* the return address is in the link register */
#else
#error "RET_SP_DELTA of this architecture"
#endif

/* Set by user space before it attaches: the process the links are attached
 * to (follow mode moves them to the next AET process), where in a statement
 * its library keeps the SQL text (sqlite3_sql()'s p->zSql, read from that
 * function's code: user/sqlite.c; 0: not known) and its state
 * (sqlite3_stmt_busy()'s p->eVdbeState, likewise; 0: not known, and the
 * step program is attached). */
volatile __u32 targ_tgid = 0;
volatile __u32 text_off = 0;
volatile __u32 state_off = 0;
/* Where the target maps the library ([lib_lo, lib_hi), 0s: not known): a
 * prepare called from inside it is SQLite's own (VACUUM runs statements
 * inside its step), not the application's. */
volatile __u64 lib_lo = 0;
volatile __u64 lib_hi = 0;

/* Vdbe.eVdbeState of a statement reset or never stepped (SQLite 3.38+). */
#define VDBE_READY 1

/* Prepared statements of the target: a Python connection caches 128, so
 * 16384 is room for a hundred connections. Finalized ones are removed; past
 * the bound the least recently used goes, and counts as "other" if it runs
 * again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct stmt_key);
	__type(value, struct stmt_state);
} stmts SEC(".maps");

/* The SQL text of prepared statements, with --span-sql-text only: bounded
 * like stmts. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct stmt_key);
	__type(value, struct stmt_text);
} stmt_texts SEC(".maps");

/* The prepare or step each thread is in. */
THREAD_MAP(calls, struct sqlite_call);

/* aet_db_operations_total and aet_db_operation_seconds: a histogram per
 * (verb, status). Mapped into user space, which reads it in place. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VERB_MAX *DB_STATUS_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct hist);
} db_hist SEC(".maps");

/* enum sqlite_stat */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SQL_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sqlite_stats SEC(".maps");

static __always_inline bool is_target(void)
{
	return bpf_get_current_pid_tgid() >> 32 == targ_tgid;
}

/* The calling thread's state for a prepare or step entering now, or NULL
 * when SQLite itself is calling (a prepare or step of this thread is in
 * progress further up the stack). */
static __always_inline struct sqlite_call *call_enter(struct pt_regs *ctx)
{
	__u64 sp = PT_REGS_SP(ctx);
	struct sqlite_call *c = thread_state(&calls, true);

	if (!c) {
		counter_inc(&sqlite_stats, SQL_STAT_NO_STATE);
		return NULL;
	}
	if (c->sp && sp < c->sp) {
		counter_inc(&sqlite_stats, SQL_STAT_NESTED);
		return NULL;
	}
	c->sp = sp;
	return c;
}

/* The state of the call returning now, or NULL when that is not the one
 * call_enter() took (a nested call, or one entered before we attached). */
static __always_inline struct sqlite_call *call_return(struct pt_regs *ctx)
{
	struct sqlite_call *c = thread_state(&calls, false);

	if (!c || !c->sp || c->sp != PT_REGS_SP(ctx) - RET_SP_DELTA)
		return NULL;
	c->sp = 0;
	return c;
}

/* Whether SQLite itself calls, inside a prepare or step of this thread:
 * sqlite3_step() resets a statement it finds done with sqlite3_reset(). */
static __always_inline bool call_nested(struct pt_regs *ctx)
{
	struct sqlite_call *c = thread_state(&calls, false);

	if (!c || !c->sp || PT_REGS_SP(ctx) >= c->sp)
		return false;
	counter_inc(&sqlite_stats, SQL_STAT_NESTED);
	return true;
}

/*
 * The verb of the SQL text at sql, read into head; nbyte < 0: up to its NUL.
 * A global function in the native build: the verifier checks it once, not
 * again on every path of each caller; inlined into the step program as well
 * as the prepare's, 6.1's verifier went past its million instructions. The
 * compat build's kernels (5.8-5.11) take no pointer in a global function's
 * arguments (5.12), and stay under the bound inlined.
 */
#ifdef AET_COMPAT
#define VERB_READER static __always_inline
#else
#define VERB_READER __noinline
#endif
VERB_READER __u32 read_verb(struct stmt_text *head, __u64 sql, int nbyte)
{
	char *b;
	long n;

	if (!head) /* a global function's pointer may be NULL, to the verifier */
		return VERB_OTHER;
	b = head->sql;
	n = bpf_probe_read_user_str(b, SQL_HEAD, (const void *)sql);
	if (n <= 0) {
		b[0] = '\0';
		return VERB_OTHER;
	}
	n--; /* the NUL */
	if (nbyte >= 0 && nbyte < n) {
		n = nbyte;
		b[n & (SQL_HEAD - 1)] = '\0';
	}
	return sql_verb((const unsigned char *)b, n);
}

/* Takes the span context of an execution starting on this thread. */
static __always_inline void span_start(struct stmt_state *st)
{
	const struct span_config *cfg = span_cfg();

	st->ctx.flags = 0;
	if (!cfg)
		return;
	span_io_ctx(cfg, &st->ctx, false);
	st->tid = bpf_get_current_pid_tgid();
}

/* The span of an execution that ended now with result code rc; sql is its
 * text or NULL. */
static __always_inline void emit_db(const struct stmt_state *st, int rc, const char *sql, __u64 now)
{
	const struct span_config *cfg = span_cfg();
	struct span_record *r;

	if (!cfg || !span_io_wanted(cfg, st->ctx.flags, now - st->start_ns))
		return;
	r = span_reserve(sizeof(*r) + SPAN_SQL_LEN);
	if (!r)
		return;
	span_fill(r, &st->ctx, span_new_id(cfg), st->start_ns, now);
	r->id = 0;
	r->tgid = targ_tgid;
	r->tid = st->tid;
	r->status = rc;
	r->kind = SPAN_DB;
	r->op = st->verb;
	if (sql && cfg->sql_text)
		__builtin_memcpy(r + 1, sql, SPAN_SQL_LEN);
	else
		*(char *)(r + 1) = '\0';
	span_submit(r);
}

/* The SQL text of a statement, when kept (--span-sql-text). */
static __always_inline const char *stmt_sql(const struct stmt_key *key)
{
	const struct span_config *cfg = span_cfg();
	const struct stmt_text *t;

	if (!cfg || !cfg->sql_text)
		return NULL;
	t = bpf_map_lookup_elem(&stmt_texts, key);
	return t ? t->sql : NULL;
}

/* Ends the execution in progress of statement key (NULL: a failed prepare,
 * whose text is sql) with SQLite result code rc (0: success). */
static __always_inline void finish(struct stmt_state *st, const struct stmt_key *key,
				   const char *sql, int rc, __u64 now)
{
	__u32 idx = (st->verb < VERB_MAX ? st->verb : VERB_OTHER) * DB_STATUS_MAX + (rc != 0);
	struct hist *h = bpf_map_lookup_elem(&db_hist, &idx);

	st->running = 0;
	if (h)
		hist_observe(h, now - st->start_ns);
	if (st->ctx.flags & SPAN_F_SAMPLED)
		emit_db(st, rc, key ? stmt_sql(key) : sql, now);
}

/* A statement first seen at an execution (its bind_parameter_count, a
 * step or its end), prepared before the programs were attached (a
 * statement cache): its verb from the SQL text the statement keeps, where
 * the library's layout is known. Its clock starts now. */
static __always_inline struct stmt_state *first_seen(const struct stmt_key *key,
						     struct sqlite_call *c)
{
	struct stmt_state fresh = { .verb = VERB_OTHER, .start_ns = bpf_ktime_get_ns() };
	const struct span_config *cfg;
	const char *sql = NULL;

	counter_inc(&sqlite_stats, SQL_STAT_UNPREPARED);
	if (text_off && !bpf_probe_read_user(&sql, sizeof(sql), (void *)(key->stmt + text_off)) &&
	    sql) {
		fresh.verb = read_verb((struct stmt_text *)c->sql, (__u64)sql, -1);
		counter_inc(&sqlite_stats, SQL_STAT_TEXT_READ);
		cfg = span_cfg();
		if (cfg && cfg->sql_text)
			bpf_map_update_elem(&stmt_texts, key, c->sql, BPF_ANY);
	}
	bpf_map_update_elem(&stmts, key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&stmts, key);
}

/* Whether the function entered now was called from inside the library: the
 * return address, at the stack pointer at a function's entry, is in it. */
static __always_inline bool from_library(struct pt_regs *ctx)
{
	__u64 ret = 0;

	if (!lib_hi || bpf_probe_read_user(&ret, sizeof(ret), (void *)PT_REGS_SP(ctx)))
		return false;
	return ret >= lib_lo && ret < lib_hi;
}

static __always_inline int prepare_enter(struct pt_regs *ctx, const char *sql, int nbyte,
					 void *ppstmt)
{
	struct sqlite_call *c;

	if (!is_target())
		return 0;
	c = call_enter(ctx);
	if (!c)
		return 0;
	c->arg = (__u64)ppstmt;
	c->inner = from_library(ctx);
	c->verb = read_verb((struct stmt_text *)c->sql, (__u64)sql, nbyte);
	c->start_ns = bpf_ktime_get_ns();
	return 0;
}

/* A prepare returns: *ppStmt is the new statement (NULL for a text with no
 * statement, or on error). */
static __always_inline int prepare_return(struct pt_regs *ctx, int rc)
{
	struct stmt_key key = { .tgid = targ_tgid };
	const struct span_config *cfg;
	struct stmt_state st = {};
	struct sqlite_call *c;

	if (!is_target())
		return 0;
	c = call_return(ctx);
	if (!c)
		return 0;
	if (rc != SQLITE_OK && !c->inner) {
		/* No statement to execute (a syntax error, no such table): the
		 * operation the application asked for failed, as its driver
		 * reports it. Timed from the entry of the prepare. */
		st.verb = c->verb;
		st.start_ns = c->start_ns;
		span_start(&st);
		finish(&st, NULL, c->sql, rc, bpf_ktime_get_ns());
		return 0;
	}
	if (rc != SQLITE_OK)
		return 0;
	if (bpf_probe_read_user(&key.stmt, sizeof(key.stmt), (void *)c->arg) || !key.stmt)
		return 0;
	st.verb = c->verb;
	st.inner = c->inner; /* never counted: SQLite's own */
	/* Ready: the clock of a caller that binds nothing starts here. */
	st.start_ns = bpf_ktime_get_ns();
	/* A pointer reused after a finalize we did not see: the new one wins. */
	bpf_map_update_elem(&stmts, &key, &st, BPF_ANY);
	/* One lookup: the 6.12 verifier lost the null check of a second. */
	cfg = span_cfg();
	if (cfg && cfg->sql_text)
		bpf_map_update_elem(&stmt_texts, &key, c->sql, BPF_ANY);
	return 0;
}

SEC("uprobe")
int OWN_STACK_KPROBE(prepare_v2, void *db, const char *sql, int nbyte, void **ppstmt)
{
	return prepare_enter(ctx, sql, nbyte, ppstmt);
}

SEC("uretprobe")
int OWN_STACK_KRETPROBE(prepare_v2_ret, int rc)
{
	return prepare_return(ctx, rc);
}

SEC("uprobe")
int OWN_STACK_KPROBE(prepare_v3, void *db, const char *sql, int nbyte, __u32 flags, void **ppstmt)
{
	return prepare_enter(ctx, sql, nbyte, ppstmt);
}

SEC("uretprobe")
int OWN_STACK_KRETPROBE(prepare_v3_ret, int rc)
{
	return prepare_return(ctx, rc);
}

/* An execution of stmt starts now, unless one is already timed (a step
 * after the first). */
static __always_inline int exec_start(struct pt_regs *ctx, void *stmt, bool restart)
{
	struct stmt_key key = { .stmt = (__u64)stmt, .tgid = targ_tgid };
	struct sqlite_call *c;
	struct stmt_state *st;

	if (!is_target() || !stmt || call_nested(ctx))
		return 0;
	st = bpf_map_lookup_elem(&stmts, &key);
	if (!st) {
		c = thread_state(&calls, true);
		if (!c)
			return 0;
		st = first_seen(&key, c);
		if (!st)
			return 0;
	}
	if (st->inner || (st->running && !restart))
		return 0;
	span_start(st);
	st->start_ns = bpf_ktime_get_ns();
	st->running = 1;
	return 0;
}

/*
 * Python's sqlite3 module asks for the parameter count of the statement
 * once per execution, before its first step: the execution starts here,
 * whatever its rows. Again with no step between (the parameters did not
 * bind): the clock starts again. Attached at the function's first "je"
 * where its code allows (user/sqlite.c): emulated, not stepped out of line;
 * the statement is still the first argument there.
 */
SEC("uprobe")
int OWN_STACK_KPROBE(bind_count, void *stmt)
{
	return exec_start(ctx, stmt, true);
}

/* Attached only when the library's statement state cannot be read
 * (state_off 0): the first step after a reset is then what says that a
 * statement ran, at the cost of a trap per row. */
SEC("uprobe")
int OWN_STACK_KPROBE(step, void *stmt)
{
	return exec_start(ctx, stmt, false);
}

/*
 * A reset or finalize enters: whether the statement ran since it was ready
 * (its state is not "ready", or, with the state unknown, a step or a bind
 * started it). If so, its return ends the execution with the code it
 * returns, the error of the last step or SQLITE_OK. Returns whether it did.
 */
static __always_inline bool end_enter(struct pt_regs *ctx, void *stmt)
{
	struct stmt_key key = { .stmt = (__u64)stmt, .tgid = targ_tgid };
	struct stmt_state *st;
	struct sqlite_call *c;
	__u8 state = 0;

	if (!is_target() || !stmt)
		return false;
	c = call_enter(ctx); /* NULL: SQLite's own, inside a prepare */
	if (!c)
		return false;
	c->sp = 0; /* its return matters only if it ran */
	st = bpf_map_lookup_elem(&stmts, &key);
	if (st && st->inner)
		return false;
	if (state_off) {
		if (bpf_probe_read_user(&state, 1, (char *)stmt + state_off) || state == VDBE_READY)
			return false;
	} else if (!st || !st->running) {
		return false;
	}
	if (!st) {
		st = first_seen(&key, c);
		if (!st)
			return false;
	}
	if (!st->running)
		span_start(st); /* a caller that binds nothing: its context now */
	st->running = 1;
	c->sp = PT_REGS_SP(ctx);
	c->arg = (__u64)stmt;
	return true;
}

/* The return of a reset or finalize end_enter() took: the end of the
 * execution. Returns the statement, 0 when none. */
static __always_inline __u64 end_return(struct pt_regs *ctx, int rc)
{
	struct stmt_key key = { .tgid = targ_tgid };
	struct sqlite_call *c;
	struct stmt_state *st;
	__u64 now;

	if (!is_target())
		return 0;
	c = call_return(ctx);
	if (!c)
		return 0;
	key.stmt = c->arg;
	st = bpf_map_lookup_elem(&stmts, &key);
	if (!st || !st->running)
		return key.stmt;
	now = bpf_ktime_get_ns();
	finish(st, &key, NULL, rc, now);
	st->start_ns = now; /* ready again */
	return key.stmt;
}

SEC("uprobe")
int OWN_STACK_KPROBE(reset, void *stmt)
{
	end_enter(ctx, stmt);
	return 0;
}

SEC("uretprobe")
int OWN_STACK_KRETPROBE(reset_ret, int rc)
{
	end_return(ctx, rc);
	return 0;
}

SEC("uprobe")
int OWN_STACK_KPROBE(finalize, void *stmt)
{
	struct stmt_key key = { .stmt = (__u64)stmt, .tgid = targ_tgid };

	/* One that did not run is forgotten now; one that did, at its return
	 * (SQLite's own are not in the maps). */
	if (!end_enter(ctx, stmt) && is_target() && stmt) {
		bpf_map_delete_elem(&stmts, &key);
		bpf_map_delete_elem(&stmt_texts, &key);
	}
	return 0;
}

SEC("uretprobe")
int OWN_STACK_KRETPROBE(finalize_ret, int rc)
{
	struct stmt_key key = { .stmt = end_return(ctx, rc), .tgid = targ_tgid };

	if (key.stmt) {
		bpf_map_delete_elem(&stmts, &key);
		bpf_map_delete_elem(&stmt_texts, &key);
	}
	return 0;
}
