// SPDX-License-Identifier: MIT
#include <linux/types.h>
#include <string.h>

#include "sqlite_maps.h"
#include "sqlverb.h"

static const char *const verb_names[VERB_MAX] = {
	[VERB_SELECT] = "select",     [VERB_INSERT] = "insert", [VERB_UPDATE] = "update",
	[VERB_DELETE] = "delete",     [VERB_BEGIN] = "begin",	[VERB_COMMIT] = "commit",
	[VERB_ROLLBACK] = "rollback", [VERB_OTHER] = "other",
};

int sqlverb_parse(const char *sql, size_t len)
{
	/* What bpf_probe_read_user_str() leaves: at most SQL_HEAD - 1 bytes
	 * and a NUL, in a zeroed buffer. */
	unsigned char head[SQL_HEAD] = { 0 };
	size_t n = strnlen(sql, len < SQL_HEAD - 1 ? len : SQL_HEAD - 1);

	memcpy(head, sql, n);
	return (int)sql_verb(head, (__u32)n);
}

const char *sqlverb_name(int verb)
{
	return verb >= 0 && verb < VERB_MAX ? verb_names[verb] : NULL;
}
