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

long sqlverb_text_offset(const unsigned char *code, size_t n)
{
	static const unsigned char endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	static const unsigned char test_rdi[] = { 0x48, 0x85, 0xff };
	static const unsigned char mov_rax_rdi[] = { 0x48, 0x8b };
	const unsigned char *p = code, *end = code + n;

	if (end - p >= 4 && !memcmp(p, endbr64, 4))
		p += 4;
	if (end - p >= 3 && !memcmp(p, test_rdi, 3)) {
		p += 3;
		if (end - p >= 2 && p[0] == 0x74) /* je rel8 */
			p += 2;
		else if (end - p >= 6 && p[0] == 0x0f && p[1] == 0x84) /* je rel32 */
			p += 6;
		else
			return -1;
	}
	if (end - p < 4 || memcmp(p, mov_rax_rdi, 2))
		return -1;
	if (p[2] == 0x47) /* ModRM: rax, [rdi + disp8] */
		return (signed char)p[3];
	if (p[2] == 0x87 && end - p >= 7) /* rax, [rdi + disp32] */
		return (long)(int)((unsigned)p[3] | (unsigned)p[4] << 8 | (unsigned)p[5] << 16 |
				   (unsigned)p[6] << 24);
	return -1;
}

/* Past "[endbr64] [xor %eax,%eax] test %rdi,%rdi", the NULL check of a
 * function taking a statement: the je that follows it, or NULL. */
static const unsigned char *null_check_je(const unsigned char *code, size_t n)
{
	static const unsigned char endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	static const unsigned char xor_eax[] = { 0x31, 0xc0 };
	static const unsigned char test_rdi[] = { 0x48, 0x85, 0xff };
	const unsigned char *p = code, *end = code + n;

	if (end - p >= 4 && !memcmp(p, endbr64, 4))
		p += 4;
	if (end - p >= 2 && !memcmp(p, xor_eax, 2))
		p += 2;
	if (end - p < 3 || memcmp(p, test_rdi, 3))
		return NULL;
	p += 3;
	if ((end - p >= 2 && p[0] == 0x74) || (end - p >= 6 && p[0] == 0x0f && p[1] == 0x84))
		return p;
	return NULL;
}

long sqlverb_state_offset(const unsigned char *code, size_t n)
{
	static const unsigned char xor_eax[] = { 0x31, 0xc0 };
	const unsigned char *p = null_check_je(code, n), *end = code + n;

	if (!p)
		return -1;
	p += p[0] == 0x74 ? 2 : 6; /* je rel8, je rel32 */
	if (end - p >= 2 && !memcmp(p, xor_eax, 2))
		p += 2;
	/* cmpb $imm8, disp(%rdi): 0x80 /7; the running state is 2. */
	if (end - p >= 4 && p[0] == 0x80 && p[1] == 0x7f && p[3] == 2)
		return (signed char)p[2];
	if (end - p >= 7 && p[0] == 0x80 && p[1] == 0xbf && p[6] == 2)
		return (long)(int)((unsigned)p[2] | (unsigned)p[3] << 8 | (unsigned)p[4] << 16 |
				   (unsigned)p[5] << 24);
	return -1;
}

long sqlverb_branch_offset(const unsigned char *code, size_t n)
{
	const unsigned char *p = null_check_je(code, n);

	return p ? p - code : 0;
}
