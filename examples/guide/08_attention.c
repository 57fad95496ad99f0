/* Guide, chapter 8: attention (docs/guide/08-attention.md).
 *
 * Part 1. Scaled dot-product attention written out with nabla's ops for one head of four
 * positions, o = softmax(Q Kᵀ / √d + M) V, with and without the causal mask M (−∞ above the
 * diagonal); the weights are printed, and the result compared with the fused nb_attention
 * op, which never forms the T × T matrix.
 *
 * Part 2. Multi-head attention: the width E = 8 cut into H = 2 heads of d = 4, each head
 * attending on its own slice of the projections, the heads joined and projected — by hand,
 * and as the attention layer of a model (nb_model_attention_on), which must agree. */
#include <math.h>
#include <nabla.h>
#include <stdio.h>
#include <stdlib.h>

static void check(const void *p) {
    if (!p) {
        fprintf(stderr, "error: %s\n", nb_last_error());
        exit(1);
    }
}

static float max_abs_diff(const nb_tensor *a, const nb_tensor *b) {
    float m = 0.0f;
    for (int64_t i = 0; i < a->numel; i++) m = fmaxf(m, fabsf(nb_f32(a)[i] - nb_f32(b)[i]));
    return m;
}

/* softmax(q kᵀ / √d + mask) v for q, k, v [T, d]; the weights into *w. */
static nb_tensor *attend(nb_ctx *ctx, nb_tensor *q, nb_tensor *k, nb_tensor *v, int causal,
                         nb_tensor **w) {
    const int64_t T = q->shape[0], d = q->shape[1];
    nb_tensor *s = nb_mul_scalar(ctx, nb_matmul(ctx, q, nb_transpose(ctx, k, 0, 1)),
                                 1.0f / sqrtf((float)d)); /* scores [T, T] */
    if (causal) { /* position i sees positions j <= i: −∞ above the diagonal */
        nb_tensor *m = nb_zeros(ctx, NB_DIMS(T, T));
        check(m);
        for (int64_t i = 0; i < T; i++)
            for (int64_t j = i + 1; j < T; j++) nb_f32(m)[i * T + j] = -INFINITY;
        s = nb_add(ctx, s, m);
    }
    *w = nb_softmax(ctx, s, -1); /* each row sums to 1 */
    return nb_matmul(ctx, *w, v);
}

int main(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    int ok = 1;

    /* ---- part 1: one head ---- */
    const int64_t T = 4, d = 3;
    nb_tensor *q = nb_randn(ctx, NB_DIMS(T, d), 0, 1, &rng);
    nb_tensor *k = nb_randn(ctx, NB_DIMS(T, d), 0, 1, &rng);
    nb_tensor *v = nb_randn(ctx, NB_DIMS(T, d), 0, 1, &rng);
    check(v);
    for (int causal = 0; causal < 2; causal++) {
        nb_tensor *w, *o = attend(ctx, q, k, v, causal, &w);
        check(o);
        printf("%s attention weights softmax(Q K^T / sqrt(%lld)%s):\n",
               causal ? "causal" : "full", (long long)d, causal ? " + M" : "");
        nb_tensor_print(w, stdout);
        /* the fused op on [B = 1, H = 1, T, d] views of the same numbers */
        nb_tensor *q4 = nb_reshape(ctx, q, NB_DIMS(1, 1, T, d));
        nb_tensor *k4 = nb_reshape(ctx, k, NB_DIMS(1, 1, T, d));
        nb_tensor *v4 = nb_reshape(ctx, v, NB_DIMS(1, 1, T, d));
        nb_tensor *f = nb_attention(ctx, q4, k4, v4, NULL, &(nb_attention_opts){.causal = causal});
        check(f);
        const float e = max_abs_diff(o, f);
        printf("max |by hand - nb_attention| = %.2g\n\n", (double)e);
        ok = ok && e < 1e-5f;
    }

    /* ---- part 2: two heads, as a layer ---- */
    const int64_t E = 8, H = 2, dh = E / H, S = 5;
    nb_model *m = nb_model_new_graph(1);
    int x = nb_model_input(m, "x", NB_F32, NB_DIMS(S, E));
    int a = nb_model_attention_on(m, x, E, &(nb_attention_layer_opts){.heads = H, .causal = 1});
    if (a < 0) check(NULL);
    nb_tensor *xs = nb_randn(ctx, NB_DIMS(1, S, E), 0, 1, &rng);
    nb_tensor *y = nb_model_infer(m, ctx, xs);
    check(y);
    /* by hand: [q k v] = x W_in + b_in (W_in [E, 3E]: PyTorch's in_proj_weight transposed) */
    nb_params *ps = nb_model_params(m);
    nb_tensor *W_in = nb_params_at(ps, 0), *b_in = nb_params_at(ps, 1);
    nb_tensor *W_out = nb_params_at(ps, 2), *b_out = nb_params_at(ps, 3);
    nb_tensor *x2 = nb_reshape(ctx, xs, NB_DIMS(S, E));
    nb_tensor *qkv = nb_add(ctx, nb_matmul(ctx, x2, W_in), b_in); /* [S, 3E] */
    nb_tensor *heads[2];
    for (int64_t h = 0; h < H; h++) { /* head h: features h·dh .. (h+1)·dh of q, k and v */
        nb_tensor *qh = nb_slice(ctx, qkv, 1, h * dh, (h + 1) * dh, 1);
        nb_tensor *kh = nb_slice(ctx, qkv, 1, E + h * dh, E + (h + 1) * dh, 1);
        nb_tensor *vh = nb_slice(ctx, qkv, 1, 2 * E + h * dh, 2 * E + (h + 1) * dh, 1);
        nb_tensor *w;
        heads[h] = attend(ctx, nb_contiguous(ctx, qh), nb_contiguous(ctx, kh),
                          nb_contiguous(ctx, vh), 1, &w);
    }
    nb_tensor *joined = nb_concat(ctx, heads, 2, 1); /* [S, E]: the heads side by side */
    nb_tensor *mine = nb_add(ctx, nb_matmul(ctx, joined, W_out), b_out);
    check(mine);
    printf("multi-head attention, %lld heads of %lld, causal: the layer's output\n",
           (long long)H, (long long)dh);
    nb_tensor_print(y, stdout);
    const float e = max_abs_diff(y, mine);
    printf("max |layer - by hand| = %.2g\n", (double)e);
    ok = ok && e < 1e-5f;
    nb_model_free(m);
    nb_ctx_free(ctx);
    return ok ? 0 : 1;
}
