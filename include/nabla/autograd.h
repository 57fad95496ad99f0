/* nabla/autograd.h — contexts, the tape, backward, no-grad and check modes.
 *
 * A context (nb_ctx) owns an arena and a tape. Every op computes its result at once (eager,
 * define-by-run) into the arena and, when one of its inputs requires a gradient and grad mode
 * is on, records itself on the tape. nb_backward(ctx, loss) sweeps the tape in reverse and
 * accumulates (+=) dL/dx into every tensor that requires a gradient: for parameters that is
 * their flat gradient buffer, which persists across steps until zeroed. The gradient of an
 * op's result (an activation) is made when the sweep first reaches it and given back to the
 * context once the sweep has used it, for the next gradient of the same size: after
 * nb_backward only leaves hold theirs, and results marked with nb_tensor_set_retain_grad
 * (or all of them, with nb_ctx_set_keep_grads). nb_ctx_reset()
 * releases the step's memory at once and keeps its chunks, so a steady-state training loop
 * performs no heap allocation.
 *
 * Errors are sticky: an op that fails returns NULL, records its status in the context and
 * sets nb_last_error(); an op given a NULL input returns NULL without touching the message.
 * A whole forward pass can therefore be written as nested calls and checked once, at the end.
 *
 * A context belongs to one thread at a time; two threads use two contexts (and may share
 * a model for inference). */
#ifndef NABLA_AUTOGRAD_H
#define NABLA_AUTOGRAD_H

#include "nabla/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_ctx_opts {
    size_t arena_chunk; /* bytes per arena chunk; 0 = 1 MiB */
    int check;          /* 1: check mode on (see nb_ctx_set_check); -1: off even if NB_CHECK=1;
                           0: from the environment variable NB_CHECK */
    const char *device; /* where the context's ops run; NULL or "cpu": the best kernels this
                           CPU runs (NB_ISA may name a lower set); "cpu:ref" (the scalar
                           reference kernels), "cpu:c", "cpu:avx2", "cpu:avx512": one set */
    int threads;        /* the most threads one op of this context may use (the thread pool's
                           size caps it; see nb_set_threads); 0 = the whole pool */
} nb_ctx_opts;

/* opts may be NULL for the defaults. Returns NULL (and sets the error) on failure: out of
 * memory, an unknown device (NB_ERR_ARG), a device this CPU cannot run (NB_ERR_UNSUPPORTED). */
nb_ctx *nb_ctx_new(const nb_ctx_opts *opts);
void nb_ctx_free(nb_ctx *ctx);
/* Releases every tensor and tape entry made in the context; clears its sticky error. */
void nb_ctx_reset(nb_ctx *ctx);
/* The first error since the last reset (NB_OK if none). */
nb_status nb_ctx_status(const nb_ctx *ctx);
/* Bytes in use now, and the most ever in use between resets. */
size_t nb_ctx_used(const nb_ctx *ctx);
size_t nb_ctx_peak(const nb_ctx *ctx);
/* The device the context's ops run on, resolved: "cpu:avx2" for "cpu" on an AVX2 machine
 * ("+openblas" follows when GEMM goes to OpenBLAS). */
const char *nb_ctx_device(const nb_ctx *ctx);

/* Grad mode: when off, ops record nothing (inference). Sets it and returns the previous
 * setting; nb_ctx_grad_enabled reads it (1 for a new context; 0 for NULL). */
int nb_ctx_set_grad(nb_ctx *ctx, int on);
int nb_ctx_grad_enabled(const nb_ctx *ctx);

/* Check mode: after every op, forward and backward, look for NaN and infinity; the first op
 * that makes one stops the step with NB_ERR_NUMERIC and a message naming the op, its input
 * shapes and the scope (model layer) it ran in. Costs a pass over every result. Returns the
 * previous setting. NB_CHECK=1 in the environment turns it on for new contexts. */
int nb_ctx_set_check(nb_ctx *ctx, int on);

/* Keep every op result's gradient after nb_backward (on = 1: each result's grad stays set, as
 * if every one were marked with nb_tensor_set_retain_grad; the step's peak memory then holds
 * every activation gradient at once), or give each back as soon as the sweep has used it
 * (0, the default for a new context). Returns the previous setting; it stays across
 * nb_ctx_reset. */
int nb_ctx_set_keep_grads(nb_ctx *ctx, int on);

/* Names the part of a model now running ("dense_1"); ops record it, and check-mode and
 * shape errors report it. The string must outlive the step. Returns the previous scope. */
const char *nb_ctx_set_scope(nb_ctx *ctx, const char *scope);

/* dL/d(everything) for a scalar (one-element) loss: seeds dL/dloss = 1 and sweeps the tape.
 * Leaves' gradients accumulate; call nb_model_zero_grad (or zero them) between steps. */
nb_status nb_backward(nb_ctx *ctx, nb_tensor *loss);
/* The same from any tensor with a given upstream gradient (same shape as t). */
nb_status nb_backward_with(nb_ctx *ctx, nb_tensor *t, const nb_tensor *grad_of_t);

/* Gradient-ready notification: during backward, fn(leaf, user) is called once for each leaf
 * that requires a gradient (a parameter, or a tensor marked with nb_tensor_set_requires_grad)
 * and was read by the recorded tape, as soon as its gradient is final: right after the sweep
 * has passed the oldest tape node that reads it (nothing older can add to it). Leaves that feed
 * only the last layers are announced first. A data-parallel run starts reducing a bucket of
 * gradients from here while earlier layers are still being differentiated. fn must not touch
 * the context; NULL turns it off. The setting stays across nb_ctx_reset. Costs nothing while
 * off; while on, one pass over the tape before the sweep (a table of leaves in the arena). */
typedef void (*nb_grad_ready_fn)(nb_tensor *leaf, void *user);
void nb_ctx_on_grad_ready(nb_ctx *ctx, nb_grad_ready_fn fn, void *user);

/* A sum across the replicas of a data-parallel run, for ops whose statistics span the whole
 * batch (batch normalisation, in training mode): replaces v[0..n) with its sum over every
 * replica, the same bits on each. The op calls it in the same order on every replica. NULL
 * (the default): this process's batch is the whole batch. The setting stays across
 * nb_ctx_reset. */
typedef nb_status (*nb_ctx_sum_fn)(double *v, int64_t n, void *user);
void nb_ctx_set_sum(nb_ctx *ctx, nb_ctx_sum_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
