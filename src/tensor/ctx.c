/* tensor/ctx.c — contexts: the arena, the back end, grad and check modes, scopes, sticky
 * errors, and the two hooks of data-parallel training (gradient-ready notification, sums
 * across replicas). */
#define _POSIX_C_SOURCE 200809L
#include "tensor/ctx.h"

#include <stdlib.h>
#include <string.h>

nb_ctx *nb_ctx_new(const nb_ctx_opts *opts) {
    nbi_backend be;
    nb_status s =
        nbi_backend_init(&be, opts ? opts->device : NULL, opts ? opts->threads : 0, "nb_ctx_new");
    if (s != NB_OK) return NULL;
    nb_ctx *ctx = nbi_malloc(sizeof *ctx);
    if (!ctx) {
        nbi_error(NB_ERR_NOMEM, "nb_ctx_new: out of memory");
        return NULL;
    }
    memset(ctx, 0, sizeof *ctx);
    nbi_arena_init(&ctx->arena, opts ? opts->arena_chunk : 0);
    ctx->be_own = be;
    ctx->be = &ctx->be_own;
    ctx->grad_enabled = 1;
    int check = opts ? opts->check : 0;
    if (check == 0) {
        const char *e = getenv("NB_CHECK");
        check = (e && e[0] && strcmp(e, "0") != 0) ? 1 : -1;
    }
    ctx->check = check > 0;
    return ctx;
}

void nb_ctx_free(nb_ctx *ctx) {
    if (!ctx) return;
    nbi_arena_free(&ctx->arena);
    nbi_free(ctx);
}

void nb_ctx_reset(nb_ctx *ctx) {
    if (!ctx) return;
    nbi_arena_reset(&ctx->arena);
    ctx->tape = NULL;
    ctx->status = NB_OK;
    ctx->backward_done = 0;
    ctx->n_nodes = 0;
    ctx->free_grads = NULL; /* the blocks were the arena's */
    ctx->grads_released = ctx->grads_reused = 0;
}

nb_status nb_ctx_status(const nb_ctx *ctx) {
    return ctx ? ctx->status : NB_ERR_ARG;
}
size_t nb_ctx_used(const nb_ctx *ctx) {
    return ctx ? ctx->arena.used_total : 0;
}
size_t nb_ctx_peak(const nb_ctx *ctx) {
    return ctx ? ctx->arena.peak : 0;
}
const char *nb_ctx_device(const nb_ctx *ctx) {
    return ctx ? ctx->be->name : NULL;
}

int nb_ctx_set_grad(nb_ctx *ctx, int on) {
    if (!ctx) return 0;
    int prev = ctx->grad_enabled;
    ctx->grad_enabled = on != 0;
    return prev;
}

int nb_ctx_grad_enabled(const nb_ctx *ctx) { return ctx ? ctx->grad_enabled : 0; }

int nb_ctx_set_check(nb_ctx *ctx, int on) {
    if (!ctx) return 0;
    int prev = ctx->check;
    ctx->check = on != 0;
    return prev;
}

int nb_ctx_set_keep_grads(nb_ctx *ctx, int on) {
    if (!ctx) return 0;
    int prev = ctx->keep_grads;
    ctx->keep_grads = on != 0;
    return prev;
}

const char *nb_ctx_set_scope(nb_ctx *ctx, const char *scope) {
    if (!ctx) return NULL;
    const char *prev = ctx->scope;
    ctx->scope = scope;
    return prev;
}

void nb_ctx_on_grad_ready(nb_ctx *ctx, nb_grad_ready_fn fn, void *user) {
    if (!ctx) return;
    ctx->grad_ready = fn;
    ctx->grad_ready_user = fn ? user : NULL;
}

void nb_ctx_set_sum(nb_ctx *ctx, nb_ctx_sum_fn fn, void *user) {
    if (!ctx) return;
    ctx->sum = fn;
    ctx->sum_user = fn ? user : NULL;
}

nb_tensor *nbi_fail(nb_ctx *ctx, nb_status s) {
    if (ctx && ctx->status == NB_OK) ctx->status = s;
    return NULL;
}

void *nbi_ctx_alloc_failed(nb_ctx *ctx, size_t size, const char *what) {
    nbi_error(NB_ERR_NOMEM, "%s: out of memory (%zu bytes in the context arena)", what, size);
    nbi_fail(ctx, NB_ERR_NOMEM);
    return NULL;
}

void *nbi_ctx_zalloc(nb_ctx *ctx, size_t size, const char *what) {
    void *p = nbi_ctx_alloc(ctx, size, what);
    if (p) memset(p, 0, size);
    return p;
}
