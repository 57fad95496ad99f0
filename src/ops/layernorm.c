/* ops/layernorm.c — layer normalisation and RMS normalisation over the last axis (D values a
 * row), each one fused op: one pass over a row forward, one backward.
 *
 *   layer_norm  μ = mean(x), σ² = mean((x − μ)²) (biased), ρ = 1/sqrt(σ² + eps),
 *               x̂ = (x − μ) ρ, y = x̂ ⊙ w + b                      (PyTorch's F.layer_norm)
 *   rms_norm    ρ = 1/sqrt(mean(x²) + eps), x̂ = x ρ, y = x̂ ⊙ w     (torch.nn.RMSNorm, 2.4+)
 *
 *   backward, g = gy ⊙ w:   layer: dx = ρ (g − mean(g) − x̂ mean(g ⊙ x̂))
 *                           rms:   dx = ρ (g − x̂ mean(g ⊙ x̂))
 *                           dw = Σ_rows gy ⊙ x̂,  db = Σ_rows gy
 *
 * (the mean(g) term is the path through μ, the x̂ term the path through σ²). Forward keeps μ
 * and ρ of each row; x̂ is recomputed. The kernels are the back end's norm entries
 * (kernels/seq.h); the weight and bias gradients sum fixed chunks of rows in order, so they do
 * not depend on the thread count.
 *
 * Inputs: x, then weight and bias as attrs.i say. attrs.i: 0 has weight, 1 has bias;
 * attrs.f: 0 eps. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct norm_saved {
    nb_tensor *x; /* contiguous */
    float *mean, *rstd;
} norm_saved;

static int is_rms(const nbi_node *n) {
    return n->op == NBI_OP_RMS_NORM;
}

static nb_status norm_infer(const nbi_node *n, nb_tensor *out) {
    const int64_t *a = n->attrs->i;
    NBI_ASSERT(n->n_in == 1 + (a[0] != 0) + (a[1] != 0));
    const nb_tensor *x = n->in[0];
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i]->dtype != NB_F32) return nbi_shape_error(n, "inputs must be f32");
    if (x->rank < 1) return nbi_shape_error(n, "input must have rank >= 1 (features last)");
    const int64_t D = x->shape[x->rank - 1];
    for (int i = 1; i < n->n_in; i++) {
        const nb_tensor *p = n->in[i];
        if (p->rank != 1 || p->shape[0] != D) {
            char what[128];
            snprintf(what, sizeof what, "%s must be [%lld], one per feature (the last axis)",
                     i == 1 && a[0] ? "weight" : "bias", (long long)D);
            return nbi_shape_error(n, what);
        }
    }
    float eps = n->attrs->f[0];
    if (!(eps >= 0.0f) || isinf(eps)) return nbi_shape_error(n, "eps must be finite and >= 0");
    out->dtype = NB_F32;
    out->rank = x->rank;
    memcpy(out->shape, x->shape, sizeof x->shape);
    return NB_OK;
}

static void params_of(const nbi_node *n, const nb_tensor **w, const nb_tensor **b) {
    int k = 1;
    *w = n->attrs->i[0] ? n->in[k++] : NULL;
    *b = n->attrs->i[1] ? n->in[k] : NULL;
}

static nb_status norm_forward(nb_ctx *ctx, nbi_node *n) {
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    const nb_tensor *w, *b;
    params_of(n, &w, &b);
    nb_tensor *x = nbi_contig(ctx, n->in[0]);
    nb_tensor *wc = w ? nbi_contig(ctx, (nb_tensor *)w) : NULL;
    nb_tensor *bc = b ? nbi_contig(ctx, (nb_tensor *)b) : NULL;
    if (!x || (w && !wc) || (b && !bc)) return ctx->status;
    const int64_t D = x->shape[x->rank - 1], rows = D ? x->numel / D : 0;
    size_t rb = (size_t)(rows ? rows : 1) * sizeof(float);
    norm_saved *sv = nbi_ctx_alloc(ctx, sizeof *sv, nbi_ops[n->op]->name);
    float *mean = nbi_ctx_alloc(ctx, rb, nbi_ops[n->op]->name);
    float *rstd = nbi_ctx_alloc(ctx, rb, nbi_ops[n->op]->name);
    if (!sv || !mean || !rstd) return ctx->status;
    ctx->be->norm(ctx->be, is_rms(n), rows, D, x->data, wc ? wc->data : NULL, bc ? bc->data : NULL,
                  n->attrs->f[0], n->out->data, mean, rstd);
    if (n->recording) {
        sv->x = x;
        sv->mean = mean;
        sv->rstd = rstd;
        n->saved = sv;
    } else {
        nbi_arena_release(&ctx->arena, m);
    }
    return NB_OK;
}

static nb_status norm_backward(nb_ctx *ctx, nbi_node *n) {
    const norm_saved *sv = n->saved;
    const nb_tensor *w, *b;
    params_of(n, &w, &b);
    int k = 1;
    float *gx = NULL, *gw = NULL, *gb = NULL;
    if (nbi_needs_grad(n, 0)) {
        nb_tensor *g = nbi_grad(ctx, n->in[0]);
        if (!g) return ctx->status;
        gx = g->data;
    }
    if (w && nbi_needs_grad(n, k)) {
        nb_tensor *g = nbi_grad(ctx, n->in[k]);
        if (!g) return ctx->status;
        gw = g->data;
    }
    if (w) k++;
    if (b && nbi_needs_grad(n, k)) {
        nb_tensor *g = nbi_grad(ctx, n->in[k]);
        if (!g) return ctx->status;
        gb = g->data;
    }
    const nb_tensor *x = sv->x;
    const int64_t D = x->shape[x->rank - 1], rows = D ? x->numel / D : 0;
    nbi_arena_mark m = nbi_arena_mark_get(&ctx->arena);
    nb_tensor *wc = w ? nbi_contig(ctx, (nb_tensor *)w) : NULL;
    size_t wsz;
    if (!nbi_mul_size((size_t)nbi_norm_ws_floats(rows, D) + 1, sizeof(float), &wsz)) {
        nbi_error(NB_ERR_NOMEM, "%s: workspace size overflows", nbi_ops[n->op]->name);
        return NB_ERR_NOMEM;
    }
    float *ws = nbi_ctx_alloc(ctx, wsz, nbi_ops[n->op]->name);
    if ((w && !wc) || !ws) return ctx->status;
    ctx->be->norm_bwd(ctx->be, is_rms(n), rows, D, x->data, wc ? wc->data : NULL, sv->mean,
                      sv->rstd, n->out->grad->data, gx, gw, gb, ws);
    nbi_arena_release(&ctx->arena, m);
    return NB_OK;
}

/* Check cases: [N, D] with weight and bias; [B, T, D] with weight only; no affine parameters;
 * a single row [D]; for rms_norm the bias cases run without it. D >= 3 keeps σ away from 0,
 * where ρ's derivatives grow too fast for the finite-difference stencil. */
static nb_status norm_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                          nbi_check_case *c) {
    int64_t shape[3];
    int rank = k == 1 ? 3 : k == 3 ? 1 : 2;
    nbi_gen_shape(rng, rank, 4, shape);
    shape[rank - 1] += 2;
    const int64_t D = shape[rank - 1];
    int has_w = k != 2, has_b = (k == 0 || k == 3) && def->aux == 0;
    c->n_in = 0;
    c->in[c->n_in++] = nbi_gen_input(ctx, rng, rank, shape, -2.0f, 2.0f, NULL, 0, 0.0f);
    if (has_w) c->in[c->n_in++] = nbi_gen_input(ctx, rng, 1, &D, -1.5f, 1.5f, NULL, 0, 0.0f);
    if (has_b) c->in[c->n_in++] = nbi_gen_input(ctx, rng, 1, &D, -1.0f, 1.0f, NULL, 0, 0.0f);
    for (int i = 0; i < c->n_in; i++)
        if (!c->in[i]) return ctx->status;
    c->attrs.i[0] = has_w;
    c->attrs.i[1] = has_b;
    c->attrs.f[0] = 1e-5f;
    c->has_attrs = 1;
    return NB_OK;
}

const nbi_op_def nbi_op_layer_norm = {
    .name = "layer_norm",
    .infer = norm_infer,
    .forward = norm_forward,
    .backward = norm_backward,
    .aux = 0,
    .check = {.gen = norm_gen, .cases = 4, .atol = 2e-4f, .rtol = 2e-4f},
};

const nbi_op_def nbi_op_rms_norm = {
    .name = "rms_norm",
    .infer = norm_infer,
    .forward = norm_forward,
    .backward = norm_backward,
    .aux = 1,
    .check = {.gen = norm_gen, .cases = 4, .atol = 2e-4f, .rtol = 2e-4f},
};

static nb_tensor *apply_norm(nb_ctx *ctx, int op, nb_tensor *x, nb_tensor *w, nb_tensor *b,
                             float eps) {
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = w != NULL;
    a.i[1] = b != NULL;
    a.f[0] = eps;
    nb_tensor *in[3];
    int k = 0;
    in[k++] = x;
    if (w) in[k++] = w;
    if (b) in[k++] = b;
    return nbi_apply(ctx, op, in, k, &a);
}

nb_tensor *nb_layer_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *weight, nb_tensor *bias, float eps) {
    return apply_norm(ctx, NBI_OP_LAYER_NORM, x, weight, bias, eps);
}

nb_tensor *nb_rms_norm(nb_ctx *ctx, nb_tensor *x, nb_tensor *weight, float eps) {
    return apply_norm(ctx, NBI_OP_RMS_NORM, x, weight, NULL, eps);
}
