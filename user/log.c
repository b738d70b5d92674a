// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

int log_level = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_write(int level, const char *fmt, ...)
{
	va_list ap;

	/* One line per call, prefixed so that it reads well in a journal. */
	if (level == LOG_ERROR)
		fputs("aet-collector: ", stderr);
	else
		fprintf(stderr, "aet-collector: %s: ", level_names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

int log_parse_level(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcmp(s, level_names[i]))
			return (int)i;
	return -1;
}
