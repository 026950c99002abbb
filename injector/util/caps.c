/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/capability.h>
#include "util/caps.h"

int fl_caps_keep_net_admin(void)
{
	cap_t caps = cap_init();
	cap_value_t keep[] = {CAP_NET_ADMIN};
	int r = 0;

	if (!caps)
		return -errno;
	if (cap_set_flag(caps, CAP_PERMITTED, 1, keep, CAP_SET) < 0 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, 1, keep, CAP_SET) < 0 || cap_set_proc(caps) < 0)
		r = -errno;
	cap_free(caps);
	return r;
}
