// SPDX-License-Identifier: MIT
/*
 * The custom metric functions of probe ABI version 2 (include/aet/probe.h).
 * Each hands its call to a keyed probe of probe/aetprobe.S with one more
 * argument first: a 64-bit key of (type, name, labels), so that the
 * collector's program finds the series by the key alone and reads the two
 * strings only the first time it sees it (docs/DESIGN.md, 16. Custom
 * metrics). Only while a collector is attached: the kernel counts the
 * programs on the keyed probes in aet_probe_custom_attached, as it counts a
 * USDT probe's in its semaphore; at 0 a call is a load and a return. No
 * libc: the library needs none.
 */
#include <aet/probe.h>

/* Types as include/custom_maps.h numbers them: a gauge's set and add are
 * one series. */
enum { COUNTER, GAUGE, HISTOGRAM };

/* The collector reads only this much of each (include/custom_maps.h). */
#define NAME_MAX_READ	63
#define LABELS_MAX_READ 127

/* In a section of the file, not .bss: the kernel updates it through the
 * mapping of the library's file. */
__attribute__((section(".probes"))) volatile unsigned short aet_probe_custom_attached;

void aet_probe_keyed_counter_add(uint64_t key, const char *name, const char *labels,
				 uint64_t delta);
void aet_probe_keyed_gauge_set(uint64_t key, const char *name, const char *labels, int64_t value);
void aet_probe_keyed_gauge_add(uint64_t key, const char *name, const char *labels, int64_t delta);
void aet_probe_keyed_observe(uint64_t key, const char *name, const char *labels, int64_t value);

/* FNV-1a over s, up to its NUL or max bytes (NULL as ""), and a 0xff that
 * no string holds. Two names that the collector cuts to the same bytes have
 * the same key, as they are the same series there. */
static uint64_t fnv(uint64_t h, const char *s, int max)
{
	for (int i = 0; s && i < max && s[i]; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL;
}

static uint64_t key_of(int type, const char *name, const char *labels)
{
	uint64_t h = (0xcbf29ce484222325ULL ^ (uint64_t)type) * 0x100000001b3ULL;

	return fnv(fnv(h, name, NAME_MAX_READ), labels, LABELS_MAX_READ);
}

void aet_probe_counter_add(const char *name, const char *labels, uint64_t delta)
{
	if (aet_probe_custom_attached)
		aet_probe_keyed_counter_add(key_of(COUNTER, name, labels), name, labels, delta);
}

void aet_probe_gauge_set(const char *name, const char *labels, int64_t value)
{
	if (aet_probe_custom_attached)
		aet_probe_keyed_gauge_set(key_of(GAUGE, name, labels), name, labels, value);
}

void aet_probe_gauge_add(const char *name, const char *labels, int64_t delta)
{
	if (aet_probe_custom_attached)
		aet_probe_keyed_gauge_add(key_of(GAUGE, name, labels), name, labels, delta);
}

void aet_probe_observe(const char *name, const char *labels, int64_t value_micros)
{
	if (aet_probe_custom_attached)
		aet_probe_keyed_observe(key_of(HISTOGRAM, name, labels), name, labels,
					value_micros);
}
