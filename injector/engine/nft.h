/* SPDX-License-Identifier: MIT */
/*
 * The nftables engine: a plan's nft batch, applied with libnftables as one
 * kernel transaction (all of it or none of it), in the namespace the context
 * was created in.
 */
#ifndef FL_ENGINE_NFT_H
#define FL_ENGINE_NFT_H

#include "util/macro.h"

struct fl_nft;

/* Creates a context bound to the caller's current network namespace. 0 or -errno. */
int fl_nft_open(struct fl_nft **ret);
void fl_nft_close(struct fl_nft *n);
FL_DEFINE_CLEANUP(struct fl_nft, fl_nft_close)

/*
 * Runs a batch. Returns 0, or -EPROTO when nftables refused it, with its
 * message (the offending line and the kernel's reason) in *ret_error
 * (caller frees), or -ENOMEM.
 */
int fl_nft_run(struct fl_nft *n, const char *text, char **ret_error);

/* Deletes our table of one family if it exists (idempotent). */
int fl_nft_delete_table(struct fl_nft *n, const char *family, char **ret_error);

#endif
