/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <nftables/libnftables.h>
#include "engine/nft.h"
#include "plan/plan.h"

struct fl_nft {
	struct nft_ctx *ctx;
};

int fl_nft_open(struct fl_nft **ret)
{
	struct fl_nft *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!n->ctx) {
		free(n);
		return -ENOMEM;
	}
	/* Library code never prints: keep libnftables' output and errors in buffers. */
	if (nft_ctx_buffer_output(n->ctx) < 0 || nft_ctx_buffer_error(n->ctx) < 0) {
		fl_nft_close(n);
		return -ENOMEM;
	}
	*ret = n;
	return 0;
}

void fl_nft_close(struct fl_nft *n)
{
	if (!n)
		return;
	nft_ctx_free(n->ctx);
	free(n);
}

int fl_nft_run(struct fl_nft *n, const char *text, char **ret_error)
{
	if (nft_run_cmd_from_buffer(n->ctx, text) == 0)
		return 0;
	if (ret_error) {
		const char *e = nft_ctx_get_error_buffer(n->ctx);
		*ret_error = strdup(e && *e ? e : "nftables refused the batch\n");
		if (!*ret_error)
			return -ENOMEM;
	}
	return -EPROTO;
}

int fl_nft_delete_table(struct fl_nft *n, const char *family, char **ret_error)
{
	char cmd[128];

	/* "add" is a no-op on an existing table, so the delete never meets ENOENT. */
	snprintf(cmd, sizeof(cmd), "add table %s " FL_NFT_TABLE "\ndelete table %s " FL_NFT_TABLE "\n",
		 family, family);
	return fl_nft_run(n, cmd, ret_error);
}
