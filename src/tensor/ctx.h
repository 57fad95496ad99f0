/* tensor/ctx.h — the context: the arena that owns a step's tensors, its back end, its sticky
 * status, and the state of its tape.
 *
 * The context lives here, below autograd, because tensors are made in it: the tensor layer
 * allocates from its arena and records failures in its status. The tape itself (nodes,
 * recording, the reverse sweep) is autograd's; this layer only holds the newest node's
 * address and clears it on reset. */
#ifndef NBI_CTX_H
#define NBI_CTX_H

#include "base/base.h"
#include "kernels/backend.h"
#include "nabla/autograd.h"

struct nb_node; /* a tape entry (autograd/autograd.h) */

/* A gradient block given back during the backward sweep (autograd/tape.c): the block's first
 * bytes, reused as a free-list entry. Blocks of one size form a chain (next_same); the first
 * of each size is a bin, chained to the other sizes' first blocks (next_bin). */
typedef struct nbi_free_block nbi_free_block;
struct nbi_free_block {
    size_t bytes; /* the whole block: NBI_TENSOR_HDR + the data */
    nbi_free_block *next_same, *next_bin;
};

struct nb_ctx {
    nbi_arena arena;
    const nbi_backend *be; /* where the kernels run: &be_own unless a test installs another */
    nbi_backend be_own;
    nb_status status; /* sticky: the first error since reset */
    /* the tape's state (autograd/) */
    struct nb_node *tape; /* newest node; older ones through ->prev */
    uint64_t n_nodes;
    int grad_enabled;
    int backward_done;
    int check;         /* check mode: scan every result for NaN/Inf */
    const char *scope; /* the model part now running (nb_ctx_set_scope) */
    int keep_grads;    /* nb_ctx_set_keep_grads: no gradient is given back during backward */
    nbi_free_block *free_grads; /* activation gradients given back, for reuse; NULL on reset */
    uint64_t grads_released, grads_reused; /* since the last reset (tests, measurements) */
    /* the hooks of data-parallel training (they stay across nb_ctx_reset) */
    nb_grad_ready_fn grad_ready; /* nb_ctx_on_grad_ready; NULL: off */
    void *grad_ready_user;
    nb_ctx_sum_fn sum; /* nb_ctx_set_sum: a sum across replicas; NULL: none */
    void *sum_user;
    /* a step being recorded (autograd/replay.c): nbi_apply marks every op it applies, by id;
     * NULL: none */
    unsigned char *op_seen;
};

/* Records `s` as the context's sticky status (if none yet) and returns NULL. */
nb_tensor *nbi_fail(nb_ctx *ctx, nb_status s);

/* Arena allocation in the context; sets an out-of-memory error naming `what` on failure. */
void *nbi_ctx_alloc_failed(nb_ctx *ctx, size_t size, const char *what);
static inline void *nbi_ctx_alloc(nb_ctx *ctx, size_t size, const char *what) {
    void *p = nbi_arena_alloc(&ctx->arena, size, NBI_ALIGN);
    return NBI_LIKELY(p != NULL) ? p : nbi_ctx_alloc_failed(ctx, size, what);
}
void *nbi_ctx_zalloc(nb_ctx *ctx, size_t size, const char *what);

#endif
