/* SPDX-License-Identifier: MIT */
/*
 * Maps of bpf/sqlite.bpf.c (SQLite statement executions, from uprobes on
 * libsqlite3) read by user/sqlite.c, and the SQL verb parser both sides
 * share: the programs run it on the head of the SQL text at prepare time,
 * tests/unit/test_sqlverb.c runs the very same code on strings (through
 * user/sqlverb.c). Fixed-width types, largest fields first, explicit
 * padding: a key with a hole would hash garbage.
 */
#ifndef AET_SQLITE_MAPS_H
#define AET_SQLITE_MAPS_H

#include "hist_map.h"
#include "spans_maps.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define DB_STATUS_MAX 2	  /* success, error */
#define SQL_HEAD      128 /* bytes of SQL text read to find its verb (a power of two) */

/* aet_db_operations_total{operation}: the SQL verb of a statement. */
enum db_verb {
	VERB_SELECT,
	VERB_INSERT,
	VERB_UPDATE,
	VERB_DELETE,
	VERB_BEGIN,
	VERB_COMMIT,
	VERB_ROLLBACK,
	VERB_OTHER,
	VERB_MAX,
};

/* Indexes of the sqlite_stats array (u64 counters), shown in /status. */
enum sqlite_stat {
	SQL_STAT_UNPREPARED, /* statements first seen at an execution: prepared unseen */
	SQL_STAT_TEXT_READ,  /* of those, the ones whose verb came from their SQL text */
	SQL_STAT_NESTED,     /* calls SQLite made inside a prepare: not operations */
	SQL_STAT_NO_STATE,   /* calls not followed: no per-thread storage (out of memory) */
	SQL_STAT_MAX,
};

/* A prepared statement of the target: the key of the stmts map. */
struct stmt_key {
	__u64 stmt; /* the sqlite3_stmt pointer */
	__u32 tgid;
	__u32 pad;
};

/* A statement's verb and its execution in progress, if any, with the
 * context of its span (include/spans_maps.h), taken when it started. */
struct stmt_state {
	__u64 start_ns; /* running: the execution's start; else when it became ready */
	struct span_ctx ctx;
	__u32 verb;    /* enum db_verb */
	__u32 running; /* started (bind_parameter_count, a step), not yet reset or finalized */
	__u32 tid;     /* the thread that started it */
	__u32 inner;   /* prepared by SQLite itself (VACUUM): not the application's */
};

/*
 * The prepare, reset or finalize a thread is in, between the uprobe at its entry and
 * the uretprobe at its return (per-thread task storage). sp is the stack
 * pointer at the entry, 0 when none is in progress: the return whose stack
 * pointer is sp + 8 (the return address popped) is that call's, and an entry
 * below sp on the stack is a call SQLite makes inside it.
 */
struct sqlite_call {
	__u64 sp;
	__u64 arg;	    /* reset, finalize: the sqlite3_stmt *; prepare: the sqlite3_stmt ** */
	__u64 start_ns;	    /* prepare: its entry */
	__u32 verb;	    /* prepare: the verb of the SQL text */
	__u32 inner;	    /* prepare: called from inside the library */
	char sql[SQL_HEAD]; /* prepare: the head of the SQL text */
};

/* db.query.text of a prepared statement (--span-sql-text): the key is a
 * struct stmt_key. */
struct stmt_text {
	char sql[SQL_HEAD];
} __attribute__((aligned(8))); /* copied 8 bytes at a time */

/* db_hist holds a struct hist per (verb, status), at verb * DB_STATUS_MAX +
 * status (status 0 success, 1 error); a count is the sum of its buckets. */

/* The SQL verb parser, pure and bounded, for the verifier and for tests. */

/* A keyword of up to 8 letters as sql_verb() packs it: little-endian, lower
 * case. s is a string literal. */
#define SQL_LETTER(s, i) ((i) < sizeof(s) - 1 ? (__u64)(s)[i] << (8 * (i)) : 0)
#define SQL_WORD(s)                                                                  \
	(SQL_LETTER(s, 0) | SQL_LETTER(s, 1) | SQL_LETTER(s, 2) | SQL_LETTER(s, 3) | \
	 SQL_LETTER(s, 4) | SQL_LETTER(s, 5) | SQL_LETTER(s, 6) | SQL_LETTER(s, 7))

static __always_inline int sql_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static __always_inline int sql_is_letter(unsigned char c)
{
	return (unsigned int)((c | 0x20) - 'a') < 26;
}

/* A character of an SQLite identifier or keyword (the tokenizer's IdChar):
 * a letter, a digit, '_', '$' or any byte of a UTF-8 sequence. */
static __always_inline int sql_is_idchar(unsigned char c)
{
	return sql_is_letter(c) || (unsigned int)(c - '0') < 10 || c == '_' || c == '$' ||
	       c >= 0x80;
}

enum sql_skip_state {
	SQL_CODE,
	SQL_LINE_COMMENT,  /* -- up to the end of the line */
	SQL_BLOCK_COMMENT, /* up to the closing star-slash */
};

/*
 * The offset of the first token of the SQL text s[0..n) (n <= SQL_HEAD),
 * past white space, -- comments and C comments, as SQLite's tokenizer skips
 * them; SQL_HEAD when the head holds nothing else. One bounded loop whose
 * state at its head is (i, state): the verifier sees a few hundred.
 */
static __always_inline __u32 sql_skip(const unsigned char *s, __u32 n)
{
	__u32 state = SQL_CODE;

	for (__u32 i = 0; i < SQL_HEAD - 1; i++) {
		unsigned char c, d;

		if (i >= n)
			break;
		c = s[i];
		d = i + 1 < n ? s[i + 1] : 0;
		if (state == SQL_LINE_COMMENT) {
			if (c == '\n')
				state = SQL_CODE;
		} else if (state == SQL_BLOCK_COMMENT) {
			if (c == '*' && d == '/') {
				state = SQL_CODE;
				i++;
			}
		} else if (c == '-' && d == '-') {
			state = SQL_LINE_COMMENT;
			i++;
		} else if (c == '/' && d == '*') {
			state = SQL_BLOCK_COMMENT;
			i++;
		} else if (!sql_is_space(c)) {
			return i;
		}
	}
	return SQL_HEAD;
}

/* The enum db_verb of SQL text s[0..n), n <= SQL_HEAD: its first keyword,
 * case-insensitive. REPLACE inserts; END [TRANSACTION] is COMMIT in SQLite. */
static __always_inline __u32 sql_verb(const unsigned char *s, __u32 n)
{
	__u32 at = sql_skip(s, n);
	__u64 w = 0;

	if (at >= n)
		return VERB_OTHER;
#ifdef __clang__
#pragma unroll
#endif
	for (__u32 k = 0; k < 9; k++) {
		__u32 i = at + k;
		unsigned char c = i < n ? s[i & (SQL_HEAD - 1)] : 0;

		if (!sql_is_idchar(c))
			break;
		if (k == 8 || !sql_is_letter(c))
			return VERB_OTHER; /* longer than any verb, or not a word */
		w |= (__u64)(c | 0x20) << (8 * k);
	}
	if (w == SQL_WORD("select"))
		return VERB_SELECT;
	if (w == SQL_WORD("insert") || w == SQL_WORD("replace"))
		return VERB_INSERT;
	if (w == SQL_WORD("update"))
		return VERB_UPDATE;
	if (w == SQL_WORD("delete"))
		return VERB_DELETE;
	if (w == SQL_WORD("begin"))
		return VERB_BEGIN;
	if (w == SQL_WORD("commit") || w == SQL_WORD("end"))
		return VERB_COMMIT;
	if (w == SQL_WORD("rollback"))
		return VERB_ROLLBACK;
	return VERB_OTHER;
}

#endif /* AET_SQLITE_MAPS_H */
