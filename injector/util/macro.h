/* SPDX-License-Identifier: MIT */
/*
 * Ownership helpers in the systemd style: a variable declared with
 * _cleanup_(f) is released by f() when it leaves scope; TAKE_PTR() hands the
 * pointer on and leaves NULL behind, so the cleanup becomes a no-op. Every
 * destructor used with _cleanup_ accepts NULL.
 */
#ifndef FL_UTIL_MACRO_H
#define FL_UTIL_MACRO_H

#include <stdlib.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})

static inline void fl_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(fl_freep)

/* Declares name##p(type **) that calls func(*p); func must accept NULL. */
#define FL_DEFINE_CLEANUP(type, func)                                                              \
	static inline void func##p(type **p)                                                       \
	{                                                                                          \
		func(*p);                                                                          \
	}

#endif
