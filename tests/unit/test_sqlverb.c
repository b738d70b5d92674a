// SPDX-License-Identifier: MIT
/* Unit tests of the SQL verb parser the SQLite programs run (user/sqlverb.c,
 * include/sqlite_maps.h). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <linux/types.h>
#include <string.h>

#include "sqlite_maps.h"
#include "sqlverb.h"

/* Inline bytes: Criterion hands each test process a copy of the parameters. */
struct verb_case {
	char sql[64];
	int verb;
};

ParameterizedTestParameters(sqlverb, verbs)
{
	static struct verb_case cases[] = {
		{ "SELECT key, value FROM facts WHERE task = ?", VERB_SELECT },
		{ "select 1", VERB_SELECT },
		{ "SeLeCt*from t", VERB_SELECT },
		{ "select", VERB_SELECT },
		{ "select;", VERB_SELECT },
		{ "select(1)", VERB_SELECT },
		{ "INSERT INTO facts (task) VALUES (?)", VERB_INSERT },
		{ "insert or replace into t values (1)", VERB_INSERT },
		{ "REPLACE INTO t VALUES (1)", VERB_INSERT },
		{ "UPDATE facts SET score = score + 1", VERB_UPDATE },
		{ "DELETE FROM facts WHERE key IN (?, ?, ?)", VERB_DELETE },
		{ "BEGIN", VERB_BEGIN },
		{ "begin immediate transaction", VERB_BEGIN },
		{ "COMMIT", VERB_COMMIT },
		{ "END TRANSACTION", VERB_COMMIT },
		{ "end", VERB_COMMIT },
		{ "ROLLBACK", VERB_ROLLBACK },
		{ "rollback to savepoint a", VERB_ROLLBACK },
		/* White space and comments before the verb, as the tokenizer skips them. */
		{ "  \t\r\n\f\vselect 1", VERB_SELECT },
		{ "-- a comment\nINSERT INTO t VALUES (1)", VERB_INSERT },
		{ "/* a comment */ UPDATE t SET a = 1", VERB_UPDATE },
		{ "/* one */ -- two\n  /* three\n */delete from t", VERB_DELETE },
		{ "/**/select 1", VERB_SELECT },
		{ "/***/select 1", VERB_SELECT },
		{ "/* -- not a line comment */ select 1", VERB_SELECT },
		{ "-- /* not a block comment\nselect 1", VERB_SELECT },
		/* Everything else. */
		{ "PRAGMA journal_mode=WAL", VERB_OTHER },
		{ "CREATE TABLE t (a)", VERB_OTHER },
		{ "WITH x AS (SELECT 1) SELECT * FROM x", VERB_OTHER },
		{ "SAVEPOINT a", VERB_OTHER },
		{ "VACUUM", VERB_OTHER },
		{ "", VERB_OTHER },
		{ "   ", VERB_OTHER },
		{ "-- only a comment", VERB_OTHER },
		{ "/* an unclosed comment select", VERB_OTHER },
		{ "- select", VERB_OTHER },
		{ "/ * select", VERB_OTHER },
		/* A verb must be the whole first word. */
		{ "selected", VERB_OTHER },
		{ "selects 1", VERB_OTHER },
		{ "select1", VERB_OTHER },
		{ "select_x", VERB_OTHER },
		{ "select$", VERB_OTHER },
		{ "select\xc3\xa9", VERB_OTHER },
		{ "rollbacks", VERB_OTHER },
		{ "ending", VERB_OTHER },
		{ "sel ect", VERB_OTHER },
		{ "(select 1)", VERB_OTHER },
		{ "\"select\"", VERB_OTHER },
		{ "\xff\xfe", VERB_OTHER },
	};

	return cr_make_param_array(struct verb_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct verb_case *c, sqlverb, verbs, .timeout = 5.)
{
	cr_assert_eq(sqlverb_parse(c->sql, strlen(c->sql) + 1), c->verb, "%s", c->sql);
	/* Without a NUL within len, as sqlite3_prepare_v2() with nByte >= 0. */
	cr_assert_eq(sqlverb_parse(c->sql, strlen(c->sql)), c->verb, "%s", c->sql);
}

TestSuite(sqlverb, .timeout = 5.);

Test(sqlverb, nbyte_bounds_the_text)
{
	/* nByte cuts the text: only its first bytes are SQL. */
	cr_assert_eq(sqlverb_parse("selected", 6), VERB_SELECT);
	cr_assert_eq(sqlverb_parse("select", 3), VERB_OTHER);
	cr_assert_eq(sqlverb_parse("select", 0), VERB_OTHER);
	cr_assert_eq(sqlverb_parse("-- x\nselect", 4), VERB_OTHER);
	cr_assert_eq(sqlverb_parse("--\nselect", 2), VERB_OTHER);
}

Test(sqlverb, head_bound)
{
	char sql[512];

	/* White space fills the head: the verb is past what is read. */
	memset(sql, ' ', sizeof(sql));
	strcpy(sql + SQL_HEAD - 1, "select 1");
	cr_assert_eq(sqlverb_parse(sql, sizeof(sql)), VERB_OTHER);
	/* Just inside the head. */
	memset(sql, ' ', sizeof(sql));
	strcpy(sql + SQL_HEAD - 8, "select 1");
	cr_assert_eq(sqlverb_parse(sql, sizeof(sql)), VERB_SELECT);
	/* A long comment. */
	memset(sql, 'x', sizeof(sql));
	memcpy(sql, "/*", 2);
	strcpy(sql + 300, "*/ select 1");
	cr_assert_eq(sqlverb_parse(sql, sizeof(sql)), VERB_OTHER);
}

Test(sqlverb, names)
{
	cr_assert_str_eq(sqlverb_name(VERB_SELECT), "select");
	cr_assert_str_eq(sqlverb_name(VERB_ROLLBACK), "rollback");
	cr_assert_str_eq(sqlverb_name(VERB_OTHER), "other");
	cr_assert_null(sqlverb_name(VERB_MAX));
	cr_assert_null(sqlverb_name(-1));
	for (int v = 0; v < VERB_MAX; v++)
		cr_assert_eq(sqlverb_parse(sqlverb_name(v), 10), v == VERB_OTHER ? VERB_OTHER : v,
			     "%s", sqlverb_name(v));
}

/* sqlite3_sql() as compilers emit it, and code of another shape. */
Test(sqlverb, text_offset)
{
	/* Debian 12's libsqlite3 3.40: test, je rel8, mov 0xf8(%rdi),%rax. */
	static const unsigned char debian[] = { 0x48, 0x85, 0xff, 0x74, 0x0b, 0x48, 0x8b,
						0x87, 0xf8, 0x00, 0x00, 0x00, 0xc3 };
	/* endbr64, test, je rel32, mov 0x40(%rdi),%rax. */
	static const unsigned char cet[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x85, 0xff, 0x0f, 0x84,
					     0x10, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x47, 0x40, 0xc3 };
	/* No null test (SQLITE_OMIT_... builds): mov 0x18(%rdi),%rax. */
	static const unsigned char bare[] = { 0x48, 0x8b, 0x47, 0x18, 0xc3 };
	/* push %rbp: a frame, not a load. */
	static const unsigned char frame[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0x8b, 0x47, 0x18 };
	/* mov 0x18(%rsi),%rax: not the argument. */
	static const unsigned char rsi[] = { 0x48, 0x8b, 0x46, 0x18, 0xc3 };

	cr_assert_eq(sqlverb_text_offset(debian, sizeof(debian)), 0xf8);
	cr_assert_eq(sqlverb_text_offset(cet, sizeof(cet)), 0x40);
	cr_assert_eq(sqlverb_text_offset(bare, sizeof(bare)), 0x18);
	cr_assert_eq(sqlverb_text_offset(frame, sizeof(frame)), -1);
	cr_assert_eq(sqlverb_text_offset(rsi, sizeof(rsi)), -1);
	cr_assert_eq(sqlverb_text_offset(debian, 9), -1, "cut short");
	cr_assert_eq(sqlverb_text_offset(debian, 0), -1);
}

/* sqlite3_stmt_busy() as compilers emit it, and code of another shape. */
Test(sqlverb, state_offset)
{
	/* Debian 12's libsqlite3 3.40: xor, test, je rel8, xor, cmpb $0x2,0xc5(%rdi). */
	static const unsigned char debian[] = { 0x31, 0xc0, 0x48, 0x85, 0xff, 0x74, 0x0c,
						0x31, 0xc0, 0x80, 0xbf, 0xc5, 0x00, 0x00,
						0x00, 0x02, 0x0f, 0x94, 0xc0, 0xc3 };
	/* endbr64, xor, test, je rel8, cmpb $0x2,0x48(%rdi). */
	static const unsigned char cet[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0x31, 0xc0, 0x48, 0x85, 0xff,
					     0x74, 0x07, 0x80, 0x7f, 0x48, 0x02, 0x0f, 0x94, 0xc0 };
	/* SQLite < 3.38: "v->magic == VDBE_MAGIC_RUN && v->pc >= 0", a 32-bit compare. */
	static const unsigned char magic[] = { 0x31, 0xc0, 0x48, 0x85, 0xff, 0x74, 0x10, 0x81,
					       0x7f, 0x18, 0x2e, 0xcf, 0x6d, 0x2d, 0x74, 0x01 };
	/* Another state compared: not the running one. */
	static const unsigned char other[] = { 0x48, 0x85, 0xff, 0x74, 0x07,
					       0x80, 0x7f, 0x48, 0x03, 0xc3 };

	cr_assert_eq(sqlverb_state_offset(debian, sizeof(debian)), 0xc5);
	cr_assert_eq(sqlverb_state_offset(cet, sizeof(cet)), 0x48);
	cr_assert_eq(sqlverb_state_offset(magic, sizeof(magic)), -1);
	cr_assert_eq(sqlverb_state_offset(other, sizeof(other)), -1);
	cr_assert_eq(sqlverb_state_offset(debian, 12), -1, "cut short");
	cr_assert_eq(sqlverb_state_offset(debian, 0), -1);
}

/* sqlite3_bind_parameter_count(): where its "je" is, else the entry. */
Test(sqlverb, branch_offset)
{
	/* Debian 12's 3.40: xor, test, je rel8, mov 0x20(%rdi),%eax, ret. */
	static const unsigned char debian[] = { 0x31, 0xc0, 0x48, 0x85, 0xff, 0x74,
						0x03, 0x8b, 0x47, 0x20, 0xc3 };
	/* endbr64, test, je rel32. */
	static const unsigned char cet[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x85, 0xff,
					     0x0f, 0x84, 0x10, 0x00, 0x00, 0x00 };
	/* push %rbx first: already emulated at the entry. */
	static const unsigned char push[] = { 0x53, 0x48, 0x85, 0xff, 0x74, 0x03 };

	cr_assert_eq(sqlverb_branch_offset(debian, sizeof(debian)), 5);
	cr_assert_eq(sqlverb_branch_offset(cet, sizeof(cet)), 7);
	cr_assert_eq(sqlverb_branch_offset(push, sizeof(push)), 0);
	cr_assert_eq(sqlverb_branch_offset(debian, 5), 0, "cut short");
}
