/* test_grad_memory — activation gradients are made when the backward sweep first needs them and
 * given back once it has used them (autograd/tape.c): the arena's peak, the reuse of a given-back
 * block, the same gradients as when every one is kept (nb_ctx_set_keep_grads), the rule for
 * what stays readable after nb_backward (leaves; results marked nb_tensor_set_retain_grad), and
 * a small transformer's training step, bit for bit the same with and without giving back. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include "tensor/ctx.h"
#include "tensor/tensor.h"

enum { L = 16, R = 64, C = 64 }; /* a chain of L tanh on [R, C]: 16 KiB a result */
#define DATA ((size_t)R * C * sizeof(float))
#define BLOCK (NBI_TENSOR_HDR + DATA) /* one gradient: header, then data */

/* x → tanh → … → tanh (L times) → sum. Returns the loss; y[k] is the k-th tanh's result. */
static nb_tensor *chain(nb_ctx *ctx, nb_tensor *x, nb_tensor **y) {
    nb_tensor *h = x;
    for (int k = 0; k < L; k++) y[k] = h = nb_tanh(ctx, h);
    return nb_sum(ctx, h, NB_ALL_AXES, 0);
}

static nb_tensor *chain_input(void) {
    nb_tensor *x = nb_tensor_new(NULL, NB_F32, NB_DIMS(R, C));
    if (!x) return NULL;
    for (int64_t i = 0; i < x->numel; i++) nb_f32(x)[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    nb_tensor_set_requires_grad(x, 1);
    return x;
}

/* The peak of a forward and backward through the chain. Giving back, the backward holds at
 * most two of the chain's gradients at once (the one being read, the one being written) and
 * the loss's: the peak is the forward's memory and three blocks. Keeping every gradient — as
 * the scheme before did, which reserved each result's gradient beside its data — holds all L
 * of them: the peak exceeds the bound below by L − 2 blocks. */
static void test_chain_peak_and_reuse(void) {
    nb_tensor *x = chain_input();
    CHECK_PTR(x);
    if (!x) return;
    float *kept = malloc(DATA);
    size_t peak[2] = {0, 0};
    for (int keep = 1; keep >= 0; keep--) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        CHECK(nb_ctx_set_keep_grads(ctx, keep) == 0); /* a new context gives back */
        nb_tensor *y[L];
        nb_tensor *loss = chain(ctx, x, y);
        CHECK_PTR(loss);
        if (!loss) {
            nb_ctx_free(ctx);
            break;
        }
        const size_t fwd = nb_ctx_used(ctx);
        /* the forward holds L results and their nodes, no gradients */
        CHECK_MSG(fwd < L * (DATA + 1024), "forward used %zu bytes", fwd);
        if (x->grad) nb_tensor_fill(x->grad, 0.0f);
        CHECK_OK(nb_backward(ctx, loss));
        peak[keep] = nb_ctx_peak(ctx);
        const size_t grads = (NBI_TENSOR_HDR + sizeof(float)) + 2 * BLOCK; /* loss's, two */
        if (keep) {
            CHECK(ctx->grads_released == 0 && ctx->grads_reused == 0);
            for (int k = 0; k < L; k++) CHECK(y[k]->grad && y[k]->grad->numel == R * C);
            CHECK(loss->grad != NULL);
            CHECK_MSG(peak[1] >= fwd + L * BLOCK, "kept: peak %zu, forward %zu", peak[1], fwd);
            if (x->grad && kept) memcpy(kept, x->grad->data, DATA);
        } else {
            /* the loss's and every tanh's gradient given back; each tanh's from the third
             * newest down took a block the sweep had given back, not new memory */
            CHECK_MSG(ctx->grads_released == L + 1, "released %llu",
                      (unsigned long long)ctx->grads_released);
            CHECK_MSG(ctx->grads_reused == L - 2, "reused %llu",
                      (unsigned long long)ctx->grads_reused);
            CHECK_MSG(nb_ctx_used(ctx) == fwd + grads, "backward took %zu bytes, not %zu",
                      nb_ctx_used(ctx) - fwd, grads);
            CHECK_MSG(peak[0] == fwd + grads, "peak %zu, forward %zu", peak[0], fwd);
            for (int k = 0; k < L; k++) CHECK(y[k]->grad == NULL);
            CHECK(loss->grad == NULL);
            /* the same arithmetic in other buffers: the same bits */
            CHECK(x->grad && kept && memcmp(kept, x->grad->data, DATA) == 0);
        }
        nb_ctx_free(ctx);
    }
    const size_t bound = L * (DATA + 1024) + 3 * BLOCK;
    CHECK_MSG(peak[0] <= bound, "peak %zu above %zu", peak[0], bound);
    CHECK_MSG(peak[1] > bound, "kept: peak %zu not above %zu", peak[1], bound);
    free(kept);
    nb_tensor_free(x);
}

/* A given-back block goes to the next gradient of its size, a context leaf's included: in
 * x → a → b → c → sum with x in the context, the gradients of b and x are made in blocks that
 * c's and a's gave back, and the backward takes exactly three new blocks for five gradients.
 * A retained result keeps its gradient; the others' grad is NULL after nb_backward. */
static void test_reuse_and_retain(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_full(ctx, NB_DIMS(R, C), 0.25f);
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *a = nb_tanh(ctx, x), *b = nb_tanh(ctx, a), *c = nb_tanh(ctx, b);
    nb_tensor *loss = nb_sum(ctx, c, NB_ALL_AXES, 0);
    CHECK_PTR(loss);
    if (!loss) {
        nb_ctx_free(ctx);
        return;
    }
    nb_tensor_set_retain_grad(a, 1);
    const size_t fwd = nb_ctx_used(ctx);
    CHECK_OK(nb_backward(ctx, loss));
    /* new: the loss's, c's, b's; a's takes c's block, x's takes b's */
    CHECK(ctx->grads_reused == 2 && ctx->grads_released == 3);
    CHECK_MSG(nb_ctx_used(ctx) - fwd == (NBI_TENSOR_HDR + sizeof(float)) + 2 * BLOCK,
              "backward took %zu bytes", nb_ctx_used(ctx) - fwd);
    CHECK(a->grad != NULL && b->grad == NULL && c->grad == NULL && loss->grad == NULL);
    CHECK(x->grad != NULL && x->grad != a->grad);
    /* dL/da = (1 − c²)(1 − b²), and dL/dx = dL/da (1 − a²) */
    if (a->grad && x->grad) {
        float av = nb_f32(a)[0], bv = nb_f32(b)[0], cv = nb_f32(c)[0];
        float ga = (1.0f - cv * cv) * (1.0f - bv * bv);
        CHECK_CLOSE(nb_f32(a->grad)[0], ga, 1e-6, 1e-6);
        CHECK_CLOSE(nb_f32(x->grad)[R * C - 1], ga * (1.0f - av * av), 1e-6, 1e-6);
        CHECK(a->grad->data == (unsigned char *)a->grad + NBI_TENSOR_HDR);
    }
    /* nb_ctx_reset empties the free list with the arena; the setting is the context's */
    nb_ctx_reset(ctx);
    CHECK(ctx->free_grads == NULL && ctx->grads_released == 0 && ctx->grads_reused == 0);
    CHECK(nb_ctx_set_keep_grads(ctx, 1) == 0);
    nb_ctx_reset(ctx);
    CHECK(nb_ctx_set_keep_grads(ctx, 0) == 1);
    CHECK(nb_ctx_set_keep_grads(NULL, 1) == 0);
    nb_tensor_set_retain_grad(NULL, 1); /* a no-op */
    nb_ctx_free(ctx);
}

/* Views (their gradient is contiguous whatever their strides), broadcasting, a tensor read
 * twice, matmul, softmax and layer norm, from the loss and with nb_backward_with from an inner
 * tensor, in check mode too: the leaves' gradients are the same bits given back or kept. */
static void test_same_gradients_as_kept(void) {
    nb_rng rng;
    float *want[2] = {NULL, NULL};
    for (int check = 0; check < 2; check++)
        for (int keep = 1; keep >= 0; keep--) {
            nb_rng_seed(&rng, 5);
            nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.check = check ? 1 : -1});
            nb_ctx_set_keep_grads(ctx, keep);
            nb_tensor *x = nb_randn(ctx, NB_DIMS(6, 8), 0, 1, &rng);
            nb_tensor *w = nb_randn(ctx, NB_DIMS(8, 8), 0, 1, &rng);
            nb_tensor *g = nb_randn(ctx, NB_DIMS(8), 0, 1, &rng);
            nb_tensor *bb = nb_randn(ctx, NB_DIMS(8), 0, 1, &rng);
            nb_tensor_set_requires_grad(x, 1);
            nb_tensor_set_requires_grad(w, 1);
            nb_tensor_set_requires_grad(g, 1);
            nb_tensor_set_requires_grad(bb, 1);
            nb_tensor *h = nb_layer_norm(ctx, nb_matmul(ctx, x, w), g, bb, 1e-5f);
            nb_tensor *t = nb_transpose(ctx, nb_reshape(ctx, h, NB_DIMS(3, 2, 8)), 0, 2);
            nb_tensor *s = nb_slice(ctx, t, 0, 1, 7, 2); /* [3, 2, 3], strided */
            nb_tensor *p = nb_softmax(ctx, nb_mul(ctx, s, s), 2);
            nb_tensor *q = nb_add(ctx, p, nb_tanh(ctx, nb_slice(ctx, g, 0, 0, 3, 1))); /* [3] */
            nb_tensor *loss = nb_sum(ctx, nb_mul(ctx, q, q), NB_ALL_AXES, 0);
            CHECK_PTR(loss);
            if (!loss) {
                nb_ctx_free(ctx);
                continue;
            }
            /* from the loss, then from an inner tensor with a given upstream gradient */
            CHECK_OK(nb_backward(ctx, loss));
            const nb_tensor *leaf[4] = {x, w, g, bb};
            float got[48 + 64 + 8 + 8];
            size_t k = 0;
            for (int i = 0; i < 4; i++) {
                CHECK(leaf[i]->grad != NULL);
                if (!leaf[i]->grad) continue;
                memcpy(got + k, leaf[i]->grad->data, sizeof(float) * (size_t)leaf[i]->numel);
                k += (size_t)leaf[i]->numel;
            }
            CHECK(k == 128);
            CHECK(keep ? t->grad && s->grad && h->grad : !t->grad && !s->grad && !h->grad);
            if (keep && t->grad) CHECK(nb_tensor_is_contiguous(t->grad)); /* a view's */
            if (keep) {
                want[check] = malloc(sizeof got);
                if (want[check]) memcpy(want[check], got, sizeof got);
            } else {
                CHECK(want[check] && memcmp(want[check], got, sizeof got) == 0);
            }
            nb_ctx_free(ctx);
        }
    free(want[0]);
    free(want[1]);
    /* nb_backward_with from an inner view: the same as kept */
    float inner[2][48];
    for (int keep = 0; keep < 2; keep++) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_ctx_set_keep_grads(ctx, keep);
        nb_rng_seed(&rng, 9);
        nb_tensor *x = nb_randn(ctx, NB_DIMS(6, 8), 0, 1, &rng);
        nb_tensor_set_requires_grad(x, 1);
        nb_tensor *v = nb_transpose(ctx, nb_tanh(ctx, nb_mul(ctx, x, x)), 0, 1); /* [8, 6] */
        nb_tensor *up = nb_randn(ctx, NB_DIMS(8, 6), 0, 1, &rng);
        CHECK_PTR(v);
        CHECK_OK(nb_backward_with(ctx, v, up));
        CHECK(x->grad != NULL);
        if (x->grad) memcpy(inner[keep], x->grad->data, sizeof inner[keep]);
        nb_ctx_free(ctx);
    }
    CHECK(memcmp(inner[0], inner[1], sizeof inner[0]) == 0);
}

/* Gradients written by their first contribution (nbi_grad_write): linear's dx and dW, add's
 * copies of gy, or gy's block itself handed over (nbi_grad_take). Residual blocks r = h +
 * (linear(h, tanh(W0)) + b) share W0, so h's and tanh(W0)'s gradients are written once and then
 * accumulated, into blocks given back by earlier nodes (stale values in them). The reference
 * reaches h and tanh(W0) only through ops that accumulate — h · 1 and matmul — with the same float
 * operations on the gradients, so the leaves' gradients agree bit for bit. */
static void test_written_gradients(void) {
    enum { NL = 4, RR = 12, CC = 16 };
    float got[2][RR * CC + CC * CC + CC];
    for (int ref = 0; ref < 2; ref++) {
        nb_rng rng;
        nb_rng_seed(&rng, 11);
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_tensor *x = nb_randn(ctx, NB_DIMS(RR, CC), 0, 1, &rng);
        nb_tensor *w0 = nb_randn(ctx, NB_DIMS(CC, CC), 0, 0.3f, &rng);
        nb_tensor *b = nb_randn(ctx, NB_DIMS(CC), 0, 1, &rng);
        nb_tensor *one = nb_scalar(ctx, 1.0f);
        nb_tensor_set_requires_grad(x, 1);
        nb_tensor_set_requires_grad(w0, 1);
        nb_tensor_set_requires_grad(b, 1);
        nb_tensor *w = nb_tanh(ctx, w0), *h = nb_tanh(ctx, x);
        for (int l = 0; l < NL; l++) {
            nb_tensor *lin =
                nb_add(ctx, ref ? nb_matmul(ctx, h, w) : nb_linear(ctx, h, w, NULL), b);
            nb_tensor *r = ref ? nb_add(ctx, nb_mul(ctx, h, one), lin) : nb_add(ctx, h, lin);
            if (l == 1) /* r + r: the first takes gy's block, the second adds gy onto it */
                r = ref ? nb_add(ctx, nb_mul(ctx, r, one), nb_mul(ctx, r, one)) : nb_add(ctx, r, r);
            h = nb_tanh(ctx, r);
        }
        nb_tensor *loss = nb_sum(ctx, nb_mul(ctx, h, h), NB_ALL_AXES, 0);
        CHECK_PTR(loss);
        CHECK_OK(nb_backward(ctx, loss));
        CHECK(ctx->grads_reused > 0); /* written gradients landed on given-back blocks */
        const nb_tensor *leaf[3] = {x, w0, b};
        size_t k = 0;
        for (int i = 0; i < 3; i++) {
            CHECK(leaf[i]->grad != NULL);
            if (!leaf[i]->grad) break;
            memcpy(got[ref] + k, leaf[i]->grad->data, sizeof(float) * (size_t)leaf[i]->numel);
            k += (size_t)leaf[i]->numel;
        }
        CHECK(k == sizeof got[0] / sizeof(float));
        nb_ctx_free(ctx);
    }
    CHECK(memcmp(got[0], got[1], sizeof got[0]) == 0);
    double norm = 0;
    for (size_t i = 0; i < sizeof got[0] / sizeof(float); i++) norm += fabs(got[0][i]);
    CHECK(norm > 1.0); /* not all zeros */
}

/* A small GPT (two pre-LN blocks, causal attention, a tied head), AdamW and clipping: two
 * training steps give the same parameters, bit for bit, with gradients given back or kept, and
 * giving back lowers the arena's peak by a fifth at least. Measured when this was written: the
 * peak 973 751 bytes given back, 1 386 615 kept, and 1 387 191 with the scheme before (each
 * result's gradient reserved beside its data, all held to the end of the step): 0.70. At
 * char_gpt's size (bench_lm) 0.70 too: docs/text.md. */
static const char gpt_spec[] = "nabla-spec 2\n"
                               "input 16 dtype=i32 name=tokens\n"
                               "embedding 64 32 init=normal:0:0.02\n"
                               "positional 16 init=normal:0:0.02\n"
                               "transformer 32 heads=2 causal=true\n"
                               "transformer 32 heads=2 causal=true\n"
                               "layernorm\n"
                               "tied_dense embedding_1\n"
                               "loss cross_entropy\n"
                               "optimizer adamw lr=1e-3 beta2=0.95 weight_decay=0.1 "
                               "decay=matrices\n"
                               "clip norm=1\n"
                               "batch 8\n"
                               "seed 0\n";

static void test_transformer_step(void) {
    nb_spec *s = NULL;
    nb_model *m[2] = {NULL, NULL};
    nb_optim *o[2] = {NULL, NULL};
    nb_ctx *ctx[2] = {NULL, NULL};
    CHECK_OK(nb_spec_parse(gpt_spec, sizeof gpt_spec - 1, "gpt.spec", NULL, &s));
    for (int i = 0; s && i < 2; i++) {
        CHECK_OK(nb_spec_build(s, &m[i]));
        if (m[i]) o[i] = nb_spec_optim(s, nb_model_params(m[i]));
        ctx[i] = nb_ctx_new(NULL);
    }
    nb_ctx_set_keep_grads(ctx[1], 1);
    nb_tensor *x = nb_tensor_new(NULL, NB_I32, NB_DIMS(8, 16));
    nb_tensor *y = nb_tensor_new(NULL, NB_I32, NB_DIMS(8, 16));
    int ok = s && m[0] && m[1] && o[0] && o[1] && ctx[0] && ctx[1] && x && y;
    CHECK(ok);
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    size_t peak[2] = {0, 0};
    const nb_step_opts so = {.loss = NB_LOSS_CROSS_ENTROPY, .clip_grad_norm = 1.0f};
    for (int step = 0; ok && step < 2; step++) {
        for (int64_t k = 0; k < x->numel; k++) {
            nb_i32(x)[k] = (int32_t)nb_rng_below(&rng, 64);
            nb_i32(y)[k] = (int32_t)nb_rng_below(&rng, 64);
        }
        nb_step_result r[2];
        for (int i = 0; i < 2; i++) {
            CHECK_OK(nb_train_step(m[i], o[i], ctx[i], x, y, &so, &r[i]));
            if (nb_ctx_peak(ctx[i]) > peak[i]) peak[i] = nb_ctx_peak(ctx[i]);
        }
        CHECK(r[0].loss == r[1].loss && r[0].grad_norm == r[1].grad_norm);
        nb_params *p0 = nb_model_params(m[0]), *p1 = nb_model_params(m[1]);
        CHECK(memcmp(nb_params_data(p0), nb_params_data(p1),
                     sizeof(float) * (size_t)nb_params_numel(p0)) == 0);
        CHECK(ctx[0]->grads_released > 0 && ctx[0]->grads_reused > 0);
        CHECK(ctx[1]->grads_released == 0);
        for (int i = 0; i < 2; i++) nb_ctx_reset(ctx[i]);
    }
    CHECK_MSG(ok && (double)peak[0] <= 0.8 * (double)peak[1], "peak %zu, kept %zu", peak[0],
              peak[1]);
    for (int i = 0; i < 2; i++) {
        nb_ctx_free(ctx[i]);
        nb_optim_free(o[i]);
        nb_model_free(m[i]);
    }
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_spec_free(s);
}

static const nbt_case cases[] = {
    {"chain_peak_and_reuse", test_chain_peak_and_reuse},
    {"reuse_and_retain", test_reuse_and_retain},
    {"same_gradients_as_kept", test_same_gradients_as_kept},
    {"written_gradients", test_written_gradients},
    {"transformer_step", test_transformer_step},
};
NBT_MAIN(cases)
