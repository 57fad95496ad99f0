/* ops/embedding.c — embedding lookup, PyTorch's F.embedding(ids, weight, padding_idx):
 *
 *   y[..., :] = W[ids[...], :]                          ids i32 [...], W [V, D] → y [..., D]
 *   ∂L/∂W[v] = Σ_{positions p with ids[p] = v} ∂L/∂y[p]   for v ≠ padding_idx; 0 for the pad
 *
 * The padding row is looked up like any other (nn.Embedding initialises it to zeros; the op
 * does not touch it) but never receives a gradient. Backward is a scatter-add; the back end
 * sums each row of ∂W in token order whatever the thread count (kernels/seq_cpu.c splits the
 * vocabulary, not the tokens). An id outside [0, V) is an error naming its position.
 *
 * attrs.i: 0 the padding index as given: in [-V, V) (negative counts from the end, as in
 * PyTorch) or NB_NO_PADDING. */
#include "autograd/autograd.h"
#include "kernels/backend.h"

#include <stdio.h>
#include <string.h>

/* The padding row in [0, V), or -1 for none. */
static int64_t pad_of(const nbi_node *n) {
    int64_t p = n->attrs->i[0];
    return p == NB_NO_PADDING ? -1 : p < 0 ? p + n->in[1]->shape[0] : p;
}

static nb_status embedding_infer(const nbi_node *n, nb_tensor *out) {
    const nb_tensor *ids = n->in[0], *W = n->in[1];
    if (ids->dtype != NB_I32) return nbi_shape_error(n, "ids must be i32 token indices");
    if (W->dtype != NB_F32) return nbi_shape_error(n, "weight must be f32");
    if (W->rank != 2) return nbi_shape_error(n, "weight must be a matrix [V, D]");
    if (ids->rank >= NB_MAX_RANK)
        return nbi_shape_error(n, "ids have too many dimensions (the result adds one)");
    if (ids->flags & NB_TF_REQUIRES_GRAD)
        return nbi_shape_error(n, "ids must not require a gradient (they are indices)");
    int64_t pad = n->attrs->i[0], V = W->shape[0];
    if (pad != NB_NO_PADDING && (pad < -V || pad >= V)) {
        char what[160];
        snprintf(what, sizeof what,
                 "padding index %lld is outside [-%lld, %lld) for a vocabulary of %lld "
                 "(NB_NO_PADDING for none)",
                 (long long)pad, (long long)V, (long long)V, (long long)V);
        return nbi_shape_error(n, what);
    }
    out->dtype = NB_F32;
    out->rank = ids->rank + 1;
    memcpy(out->shape, ids->shape, (size_t)ids->rank * sizeof *out->shape);
    out->shape[ids->rank] = W->shape[1];
    int64_t numel;
    if (nbi_check_shape("embedding", out->rank, out->shape, &numel) != NB_OK)
        return nbi_shape_error(n, "the result has too many elements");
    return NB_OK;
}

static nb_status embedding_forward(nb_ctx *ctx, nbi_node *n) {
    nb_tensor *ids = nbi_contig(ctx, n->in[0]), *W = nbi_contig(ctx, n->in[1]);
    if (!ids || !W) return ctx->status;
    const int64_t V = W->shape[0], D = W->shape[1];
    int64_t bad = ctx->be->embedding(ctx->be, ids->numel, ids->data, V, D, W->data, n->out->data);
    if (bad >= 0) {
        const nb_tensor *t = n->in[0];
        int64_t idx[NB_MAX_RANK], flat = bad;
        for (int d = t->rank - 1; d >= 0; d--) {
            idx[d] = flat % t->shape[d];
            flat /= t->shape[d];
        }
        char at[96], sh[96];
        nbi_dims_str(t->rank, idx, at, sizeof at);
        return nbi_error(NB_ERR_ARG,
                         "embedding: token id %d at position %s of the ids %s is outside the "
                         "vocabulary [0, %lld) of the [%lld, %lld] weight",
                         (int)((const int32_t *)ids->data)[bad], at, nb_shape_str(t, sh, sizeof sh),
                         (long long)V, (long long)V, (long long)D);
    }
    if (n->recording && ids != n->in[0]) n->saved = ids; /* backward reads contiguous ids */
    return NB_OK;
}

static nb_status embedding_backward(nb_ctx *ctx, nbi_node *n) {
    if (!nbi_needs_grad(n, 1)) return NB_OK;
    const nb_tensor *ids = n->saved ? n->saved : n->in[0], *W = n->in[1];
    nb_tensor *g = nbi_grad(ctx, n->in[1]);
    if (!g) return ctx->status;
    ctx->be->embedding_bwd(ctx->be, ids->numel, ids->data, pad_of(n), W->shape[0], W->shape[1],
                           n->out->grad->data, g->data);
    return NB_OK;
}

/* Check cases: ids [N]; ids [B, T] with a padding index; rank-0 ids; ids that repeat (rows
 * of ∂W sum several tokens) with a padding index counted from the end. The padding row's
 * gradient is zero by definition, not by calculus: finite differences would see the row
 * wherever its id occurs. So here the padding index names a row no id uses (V − 1, ids below
 * it), and the skipping itself is tested against PyTorch (test_seq). */
static nb_status embedding_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                               nbi_check_case *c) {
    (void)def;
    int64_t V = 3 + (int64_t)nb_rng_below(rng, 5), D = 1 + (int64_t)nb_rng_below(rng, 4);
    int64_t shape[2] = {1 + (int64_t)nb_rng_below(rng, 6), 2 + (int64_t)nb_rng_below(rng, 3)};
    int rank = k == 2 ? 0 : k == 1 ? 2 : 1;
    c->n_in = 2;
    c->in[0] = nb_tensor_new(ctx, NB_I32, rank, shape);
    c->in[1] = nbi_gen_input(ctx, rng, 2, (int64_t[]){V, D}, -1.0f, 1.0f, NULL, 0, 0.0f);
    if (!c->in[0] || !c->in[1]) return ctx->status;
    int32_t *ids = c->in[0]->data;
    for (int64_t i = 0; i < c->in[0]->numel; i++)
        ids[i] = (int32_t)nb_rng_below(rng, (uint64_t)(k == 3 ? 2 : V - 1));
    c->attrs.i[0] = k == 1 ? V - 1 : k == 3 ? -1 : NB_NO_PADDING;
    c->has_attrs = 1;
    return NB_OK;
}

const nbi_op_def nbi_op_embedding = {
    .name = "embedding",
    .infer = embedding_infer,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .check = {.gen = embedding_gen, .cases = 4, .atol = 1e-4f, .rtol = 1e-4f},
};

nb_tensor *nb_embedding(nb_ctx *ctx, nb_tensor *ids, nb_tensor *weight, int64_t padding_idx) {
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    a.i[0] = padding_idx;
    nb_tensor *in[2] = {ids, weight};
    return nbi_apply(ctx, NBI_OP_EMBEDDING, in, 2, &a);
}
