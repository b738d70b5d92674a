// SPDX-License-Identifier: MIT
/* Model calls ended, waiting for their spans (user/genai_span.h). */
#include <string.h>

#include "genai_span.h"

void genai_done_init(struct genai_done *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
}

void genai_done_fini(struct genai_done *d)
{
	pthread_mutex_destroy(&d->lock);
}

void genai_done_put(struct genai_done *d, uint64_t call, const struct genai_span *s)
{
	pthread_mutex_lock(&d->lock);
	d->call[d->next] = call;
	d->span[d->next] = *s;
	d->next = (d->next + 1) % GENAI_DONE;
	pthread_mutex_unlock(&d->lock);
}

bool genai_done_take(struct genai_done *d, uint64_t call, struct genai_span *out)
{
	bool found = false;

	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < GENAI_DONE && !found; i++) {
		if (d->call[i] != call)
			continue;
		*out = d->span[i];
		d->call[i] = 0;
		found = true;
	}
	pthread_mutex_unlock(&d->lock);
	return found;
}
