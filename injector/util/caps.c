/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>
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

int fl_caps_become_user(uid_t uid, gid_t gid)
{
	cap_t caps;
	cap_flag_value_t v = CAP_CLEAR;
	int r = 0;

	if (uid == 0)
		return -EPERM;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) < 0)
		return -errno;
	/* Trust, but verify: a non-root uid with a capability left would be a hole. */
	caps = cap_get_proc();
	if (!caps)
		return -errno;
	for (cap_value_t c = 0; c <= CAP_LAST_CAP && r == 0; c++)
		if (cap_get_flag(caps, c, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET)
			r = -EPERM;
	cap_free(caps);
	return r;
}
