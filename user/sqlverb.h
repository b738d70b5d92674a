/* SPDX-License-Identifier: MIT */
/*
 * The SQL verb of a statement (aet_db_operations_total{operation}). Pure: the
 * parser is the one bpf/sqlite.bpf.c runs (include/sqlite_maps.h), wrapped
 * here for user space and its unit tests.
 */
#ifndef AET_SQLVERB_H
#define AET_SQLVERB_H

#include <stddef.h>

/* The enum db_verb of the first statement of sql (len bytes, or up to its
 * NUL when shorter): what the programs find in its first SQL_HEAD bytes. */
int sqlverb_parse(const char *sql, size_t len);

/* "select", "insert", ..., "other"; NULL for a value out of range. */
const char *sqlverb_name(int verb);

/*
 * Where a prepared statement keeps its SQL text, learned from the machine
 * code of the library's sqlite3_sql() (n bytes at code): on x86-64
 * "return p ? p->zSql : 0" compiles to an optional endbr64, an optional
 * "test %rdi,%rdi; je", then "mov disp(%rdi),%rax". Returns disp, or -1
 * for code of any other shape (the statement's text is then not read).
 */
long sqlverb_text_offset(const unsigned char *code, size_t n);

/*
 * Where a prepared statement keeps its state (Vdbe.eVdbeState: 1 ready, 2
 * running, 3 halted; SQLite 3.38 and later), learned from the code of the
 * library's sqlite3_stmt_busy(): "return v && v->eVdbeState == 2" compiles
 * on x86-64 to an optional endbr64, "xor %eax,%eax", "test %rdi,%rdi; je",
 * an optional second "xor %eax,%eax", then "cmpb $0x2,disp(%rdi)". Returns
 * disp, or -1 for code of any other shape (older libraries test two fields:
 * whether a statement ran is then seen at its sqlite3_step()).
 */
long sqlverb_state_offset(const unsigned char *code, size_t n);

/*
 * Where in a function that begins "if (!p) return 0" (n bytes at code, as
 * sqlite3_bind_parameter_count() does) a uprobe is emulated rather than
 * stepped out of line: the "je" after an optional endbr64, an optional
 * "xor %eax,%eax" and "test %rdi,%rdi", whose first argument is still in
 * %rdi. x86-64 emulates a conditional jump but not a xor or a test, whose
 * out-of-line step is a second trap. Returns the je's offset, or 0 (the
 * entry) for code of any other shape.
 */
long sqlverb_branch_offset(const unsigned char *code, size_t n);

#endif /* AET_SQLVERB_H */
