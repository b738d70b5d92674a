/* SPDX-License-Identifier: MIT */
/* Maps of bpf/sqlite.bpf.c (SQLite executions) read by user/sqlite.c. */
#ifndef AET_SQLITE_MAPS_H
#define AET_SQLITE_MAPS_H

#include "hist_map.h"

#define DB_STATUS_MAX 2 /* success, error */

/* aet_db_operations_total{operation}: the SQL verb of a statement. */
enum db_verb {
	VERB_OTHER,
	VERB_SELECT,
	VERB_INSERT,
	VERB_UPDATE,
	VERB_DELETE,
	VERB_BEGIN,
	VERB_COMMIT,
	VERB_ROLLBACK,
	VERB_MAX,
};

/* A prepared statement of a target process. */
struct stmt_key {
	__u64 stmt; /* the sqlite3_stmt pointer */
	__u32 tgid;
	__u32 pad;
};

struct stmt_state {
	__u64 start_ns; /* first sqlite3_step() of the execution in progress */
	__u32 verb;	/* enum db_verb */
	__u32 running;	/* an execution is in progress: stepped, not yet done */
};

/* A prepare between its entry and its return, per thread. */
struct prepare_args {
	__u64 sql;    /* const char *zSql */
	__u64 ppstmt; /* sqlite3_stmt **ppStmt */
};

#endif /* AET_SQLITE_MAPS_H */
