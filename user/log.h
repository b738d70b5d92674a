/* SPDX-License-Identifier: MIT */
/* One level-checked logging macro; only main() and the HTTP layer log. */
#ifndef AET_LOG_H
#define AET_LOG_H

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

extern int log_level;

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_msg(level, ...)                            \
	do {                                           \
		if ((level) <= log_level)              \
			log_write(level, __VA_ARGS__); \
	} while (0)

#define log_err(...)   log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Parses "error", "warn", "info" or "debug"; returns the level or -1. */
int log_parse_level(const char *s);

#endif /* AET_LOG_H */
