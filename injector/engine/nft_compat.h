/* SPDX-License-Identifier: MIT */
/*
 * The userspace engine's steering rule where nft has no `queue` statement:
 * the xtables NFQUEUE target, run by nf_tables through nft_compat. nft's
 * language cannot express a compat target (it only prints one), so the rule
 * is built with libnftnl and sent on a libmnl socket as its own transaction.
 * No iptables binary is run.
 */
#ifndef FL_ENGINE_NFT_COMPAT_H
#define FL_ENGINE_NFT_COMPAT_H

#include <stdint.h>
#include "util/macro.h"

struct fl_nft_compat;

/* Opens a nfnetlink socket in the caller's current network namespace. 0 or -errno. */
int fl_nft_compat_open(struct fl_nft_compat **ret);
void fl_nft_compat_close(struct fl_nft_compat *c);
FL_DEFINE_CLEANUP(struct fl_nft_compat, fl_nft_compat_close)

/*
 * Appends `NFQUEUE --queue-num queue_num --queue-bypass` (target revision 3)
 * to chain `chain` of table `table` of family "inet", "ip" or "ip6" (else
 * -EINVAL), in one transaction. The bypass flag makes packets pass while no
 * process has the queue bound: if the engine dies, the fault vanishes.
 * Returns 0, or the kernel's -errno (-ENOENT: no such table or chain,
 * -EOPNOTSUPP/-ENOENT: no nft_compat or no NFQUEUE target) with its
 * extended ack text, if any, in *ret_msg (caller frees), or -ENOMEM.
 */
int fl_nft_compat_add_queue(struct fl_nft_compat *c, const char *family, const char *table,
			    const char *chain, uint16_t queue_num, char **ret_msg);

#endif
