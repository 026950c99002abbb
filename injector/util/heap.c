/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "util/heap.h"

static void *at(const struct fl_heap *h, size_t i)
{
	return h->v + i * h->size;
}

int fl_heap_push(struct fl_heap *h, const void *elem)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 1024;
		unsigned char *v = reallocarray(h->v, cap + 1, h->size);

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	/* Sift up: parents move down into the hole until elem fits. */
	for (i = h->n++; i > 0; i = (i - 1) / 2) {
		size_t parent = (i - 1) / 2;

		if (!h->before(elem, at(h, parent)))
			break;
		memcpy(at(h, i), at(h, parent), h->size);
	}
	memcpy(at(h, i), elem, h->size);
	return 0;
}

void fl_heap_pop(struct fl_heap *h, void *ret)
{
	void *last = at(h, h->cap);
	size_t i = 0, n;

	memcpy(ret, at(h, 0), h->size);
	n = --h->n;
	if (n == 0)
		return;
	memcpy(last, at(h, n), h->size);
	/* Sift down: the smaller child moves up into the hole until last fits. */
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h->before(at(h, c + 1), at(h, c)))
			c++;
		if (!h->before(at(h, c), last))
			break;
		memcpy(at(h, i), at(h, c), h->size);
		i = c;
	}
	memcpy(at(h, i), last, h->size);
}

void fl_heap_done(struct fl_heap *h)
{
	if (!h)
		return;
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
