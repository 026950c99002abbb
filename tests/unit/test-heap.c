/* SPDX-License-Identifier: MIT */
/* injector/util/heap.c: order, ties, growth, and the heap left intact when growing fails. */
#include <errno.h>
#include <stdlib.h>
#include "alloc-fail.h"
#include "unit.h"
#include "util/heap.h"

struct item {
	uint64_t key;
	uint64_t order; /* arrival: first in, first out among equal keys */
};

static bool item_before(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return x->key != y->key ? x->key < y->key : x->order < y->order;
}

/* Pops everything, checking (key, order) never goes backwards; returns how many. */
static size_t drain_sorted(struct fl_heap *h)
{
	struct item prev = {0}, it;
	size_t n = 0;

	while (fl_heap_top(h)) {
		const struct item *top = fl_heap_top(h);
		uint64_t key = top->key;

		fl_heap_pop(h, &it);
		assert_u64_equal(it.key, key);
		if (n > 0)
			assert_true(item_before(&prev, &it));
		prev = it;
		n++;
	}
	return n;
}

static void test_order(void **state)
{
	struct fl_heap h = FL_HEAP_INIT(struct item, item_before);
	uint64_t x = 88172645463325252ULL;

	/* 5,000 keys from a xorshift, in 50 values: many ties, several growths. */
	for (uint64_t i = 0; i < 5000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		assert_int_equal(fl_heap_push(&h, &(struct item){x % 50, i}), 0);
	}
	assert_int_equal(h.n, 5000);
	assert_int_equal(drain_sorted(&h), 5000);
	assert_null(fl_heap_top(&h));
	fl_heap_done(&h);
	fl_heap_done(NULL);
}

static void test_interleaved(void **state)
{
	struct fl_heap h = FL_HEAP_INIT(struct item, item_before);
	struct item it;

	/* Pops between pushes: the first out is always the smallest so far. */
	assert_int_equal(fl_heap_push(&h, &(struct item){30, 0}), 0);
	assert_int_equal(fl_heap_push(&h, &(struct item){10, 1}), 0);
	fl_heap_pop(&h, &it);
	assert_u64_equal(it.key, 10);
	assert_int_equal(fl_heap_push(&h, &(struct item){20, 2}), 0);
	assert_int_equal(fl_heap_push(&h, &(struct item){20, 3}), 0);
	fl_heap_pop(&h, &it);
	assert_u64_equal(it.order, 2);
	fl_heap_pop(&h, &it);
	assert_u64_equal(it.order, 3);
	fl_heap_pop(&h, &it);
	assert_u64_equal(it.key, 30);
	assert_null(fl_heap_top(&h));
	fl_heap_done(&h);
}

static void test_out_of_memory(void **state)
{
	struct fl_heap h = FL_HEAP_INIT(struct item, item_before);
	size_t i;

	/* The first push allocates; a failed growth leaves the heap as it was. */
	fl_alloc_fail_at(0);
	assert_int_equal(fl_heap_push(&h, &(struct item){1, 0}), -ENOMEM);
	assert_true(fl_alloc_failed());
	assert_int_equal(h.n, 0);
	/* Fill it to its capacity, so the next push must grow it. */
	for (i = 0; i < h.cap || i == 0; i++)
		assert_int_equal(fl_heap_push(&h, &(struct item){2000 - i, i}), 0);
	fl_alloc_fail_at(0);
	assert_int_equal(fl_heap_push(&h, &(struct item){0, i}), -ENOMEM);
	fl_alloc_fail_at(-1);
	assert_int_equal(h.n, i);
	assert_u64_equal(((const struct item *)fl_heap_top(&h))->key, 2000 - (i - 1));
	assert_int_equal(drain_sorted(&h), i);
	fl_heap_done(&h);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_out_of_memory),
	};

	return fl_unit_run(argc, argv, "unit/heap", tests, ELEMENTSOF(tests), NULL, 0);
}
