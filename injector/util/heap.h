/* SPDX-License-Identifier: MIT */
/*
 * A binary min-heap of fixed-size elements, copied in and out by value.
 * The userspace engine keeps its held packets in one (by due time), the
 * wire observer the packets it merges from several captures (by
 * timestamp). `before` must be a strict order; equal elements come out in
 * no particular order, so callers that need first-in-first-out among equal
 * keys put an arrival counter in the key.
 *
 * Lifetime: zero-initialise with FL_HEAP_INIT(type, before); fl_heap_done()
 * frees the storage (not what elements point to) and takes NULL.
 */
#ifndef FL_UTIL_HEAP_H
#define FL_UTIL_HEAP_H

#include <stdbool.h>
#include <stddef.h>

struct fl_heap {
	unsigned char *v; /* cap + 1 elements: the last is scratch for the moves */
	size_t n, cap;
	size_t size; /* bytes per element */
	bool (*before)(const void *a, const void *b);
};

#define FL_HEAP_INIT(type, fn) ((struct fl_heap){.size = sizeof(type), .before = (fn)})

/* Copies *elem in. 0, or -ENOMEM (the heap is unchanged). */
int fl_heap_push(struct fl_heap *h, const void *elem);

/* Copies the first element to *ret and removes it. The heap must not be empty. */
void fl_heap_pop(struct fl_heap *h, void *ret);

/* The first element, or NULL when empty. Valid until the next push or pop. */
static inline const void *fl_heap_top(const struct fl_heap *h)
{
	return h->n ? h->v : NULL;
}

void fl_heap_done(struct fl_heap *h);

#endif
