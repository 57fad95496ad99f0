/* nn/transformer.c — the pre-LN transformer block (GPT-2's; Xiong et al. 2020), one layer:
 *
 *     h = x + dropout(attn(ln_1(x)))                      multi-head self-attention
 *     y = h + dropout(proj(gelu(fc(ln_2(h)))))            the MLP: E → ffn → E
 *
 * x [T, E] → y [T, E]. It is a composition of ops (layer norm, two GEMMs and the fused
 * attention op for the attention, two GEMMs and GELU for the MLP, dropout, additions), so
 * its backward is theirs. One layer kind rather than a graph of nine: a GPT is then one spec
 * line per block, its parameters are named as one torch module's (the TransformerBlock of
 * tests/ref/torch_from_spec.py: ln_1, attn — an nn.MultiheadAttention —, ln_2, mlp.fc,
 * mlp.proj), and an incremental decoding step keeps one cache per block. The parts exist as
 * layers too (layernorm, attention, dense, dropout, add), and a graph of them computes the
 * same function.
 *
 * Parameters in declaration (PyTorch's) order: ln_1.weight, ln_1.bias,
 * attn.in_proj_weight [3E, E], attn.in_proj_bias, attn.out_proj.weight [E, E],
 * attn.out_proj.bias, ln_2.weight, ln_2.bias, mlp.fc.weight [ffn, E], mlp.fc.bias,
 * mlp.proj.weight [E, ffn], mlp.proj.bias (sizes in PyTorch's layout; nabla keeps the four
 * matrices transposed). bias=false drops the biases of the four projections, not the layer
 * norms'. GELU is the exact one (nn.GELU()); the MLP's linears start as nn.Linear's,
 * U(±1/√fan_in) for weight and bias — unless init= is given (GPT-2's recipe: init for in_proj
 * and mlp.fc, proj_init for the residual projections out_proj and mlp.proj, biases 0). */
#include "nn/mha.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct block {
    nbi_layer base;
    int64_t E, ffn;
    float eps;
    float dropout; /* the attention weights', and after each residual branch */
    nbi_mha attn;
    nb_init init, proj_init; /* NB_INIT_DEFAULT: PyTorch's modules' (see nb_transformer_opts) */
    nb_tensor *ln1_w, *ln1_b, *ln2_w, *ln2_b, *fc_w, *fc_b, *proj_w, *proj_b;
} block;

static nb_status block_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                             int *n_out) {
    const block *k = (const block *)l;
    char b[128];
    nbi_shape_str(&in[0], b, sizeof b);
    if (in[0].dtype != NB_F32 || in[0].rank != 2 || in[0].dim[1] != k->E)
        return nbi_error(in[0].dtype != NB_F32 ? NB_ERR_ARG : NB_ERR_SHAPE,
                         "transformer '%s': its input %s is not a sequence of f32 vectors "
                         "[T, %lld] (its width)",
                         l->name, b, (long long)k->E);
    nb_status s = n_in > 1 ? nbi_mha_check_mask(l, &in[0], &in[1]) : NB_OK;
    if (s != NB_OK) return s;
    out[0] = in[0];
    *n_out = 1;
    return NB_OK;
}

static nb_status block_build(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *b) {
    (void)in;
    (void)n_in;
    block *k = (block *)l;
    int64_t E = k->E, F = k->ffn;
    nb_status s = nbi_layer_param(b, "ln_1.weight", 1, &E, &k->ln1_w);
    if (s == NB_OK) s = nbi_layer_param(b, "ln_1.bias", 1, &E, &k->ln1_b);
    if (s == NB_OK) s = nbi_mha_build(&k->attn, b, "attn.");
    if (s == NB_OK) s = nbi_layer_param(b, "ln_2.weight", 1, &E, &k->ln2_w);
    if (s == NB_OK) s = nbi_layer_param(b, "ln_2.bias", 1, &E, &k->ln2_b);
    if (s == NB_OK) s = nbi_layer_param(b, "mlp.fc.weight", 2, (int64_t[]){E, F}, &k->fc_w);
    if (s == NB_OK && k->attn.bias) s = nbi_layer_param(b, "mlp.fc.bias", 1, &F, &k->fc_b);
    if (s == NB_OK) s = nbi_layer_param(b, "mlp.proj.weight", 2, (int64_t[]){F, E}, &k->proj_w);
    if (s == NB_OK && k->attn.bias) s = nbi_layer_param(b, "mlp.proj.bias", 1, &E, &k->proj_b);
    return s;
}

/* In declaration order: the layer norms 1 and 0 (no draw), the attention's, then
 * nn.Linear's U(±1/√fan_in) for each linear's weight and bias. */
static nb_status block_init(nbi_layer *l, nb_rng *rng) {
    block *k = (block *)l;
    nb_status s = nb_init_constant(k->ln1_w, 1.0f);
    if (k->init.kind != NB_INIT_DEFAULT) { /* given: in_proj, out_proj, fc, proj in that order */
        const int64_t E = k->E, F = k->ffn;
        const nb_init *p = k->proj_init.kind != NB_INIT_DEFAULT ? &k->proj_init : &k->init;
        if (s == NB_OK) s = nb_init_apply(k->attn.w_in, &k->init, E, 3 * E, 1.0f, rng);
        if (s == NB_OK) s = nb_init_apply(k->attn.w_out, p, E, E, 1.0f, rng);
        if (s == NB_OK) s = nb_init_constant(k->ln2_w, 1.0f);
        if (s == NB_OK) s = nb_init_apply(k->fc_w, &k->init, E, F, 1.0f, rng);
        if (s == NB_OK) s = nb_init_apply(k->proj_w, p, F, E, 1.0f, rng);
        nb_tensor *biases[4] = {k->attn.b_in, k->attn.b_out, k->fc_b, k->proj_b};
        for (int i = 0; i < 4 && s == NB_OK; i++)
            if (biases[i]) s = nb_init_constant(biases[i], 0.0f);
        return s;
    }
    if (s == NB_OK) s = nbi_mha_init(&k->attn, rng);
    if (s == NB_OK) s = nb_init_constant(k->ln2_w, 1.0f);
    const float a = 1.0f / sqrtf((float)k->E), c = 1.0f / sqrtf((float)k->ffn);
    if (s == NB_OK) s = nb_init_uniform(k->fc_w, -a, a, rng);
    if (s == NB_OK && k->fc_b) s = nb_init_uniform(k->fc_b, -a, a, rng);
    if (s == NB_OK) s = nb_init_uniform(k->proj_w, -c, c, rng);
    if (s == NB_OK && k->proj_b) s = nb_init_uniform(k->proj_b, -c, c, rng);
    return s;
}

static void block_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                          nb_tensor **out) {
    const block *k = (const block *)l;
    nb_ctx *ctx = f->ctx;
    nb_tensor *x = in[0];
    out[0] = NULL;
    const bool drop = f->training && k->dropout > 0.0f;
    if (drop && !f->rng) {
        nbi_error(NB_ERR_ARG,
                  "transformer '%s': dropout in training draws masks and needs a generator: "
                  "call nb_model_forward_rng, or nb_model_set_training(m, 0)",
                  l->name);
        nbi_fail(ctx, NB_ERR_ARG);
        return;
    }
    /* h = x + dropout(attn(ln_1(x))) */
    nb_tensor *a = nbi_mha_forward(
        &k->attn, l, f, nb_layer_norm(ctx, x, k->ln1_w, k->ln1_b, k->eps), n_in > 1 ? in[1] : NULL);
    if (drop) a = nb_dropout(ctx, a, k->dropout, 1, f->rng);
    nb_tensor *h = nb_add(ctx, x, a);
    /* y = h + dropout(proj(gelu(fc(ln_2(h))))) */
    nb_tensor *m =
        nb_linear(ctx, nb_layer_norm(ctx, h, k->ln2_w, k->ln2_b, k->eps), k->fc_w, k->fc_b);
    m = nb_linear(ctx, nb_gelu(ctx, m), k->proj_w, k->proj_b);
    if (drop) m = nb_dropout(ctx, m, k->dropout, 1, f->rng);
    out[0] = nb_add(ctx, h, m);
}

static int64_t block_decode_floats(const nbi_layer *l, const nbi_shape *in, int n_in, int64_t B,
                                   int64_t max_len) {
    (void)in;
    (void)n_in;
    return nbi_mha_decode_floats(&((const block *)l)->attn, l, B, max_len);
}

static void block_describe(const nbi_layer *l, char *buf, size_t n) {
    const block *k = (const block *)l;
    snprintf(buf, n, "%lld heads, mlp %lld%s%s", (long long)k->attn.heads, (long long)k->ffn,
             k->attn.causal ? ", causal" : "", k->attn.bias ? "" : ", no bias");
}

/* transformer WIDTH [heads=H] [ffn=F] [causal=true] [dropout=P] [eps=E] [bias=false] [init=I]
 * [proj_init=I] */
static void block_spec(const nbi_layer *l, nbi_text *out) {
    const block *k = (const block *)l;
    nbi_text_printf(out, "transformer %lld", (long long)k->E);
    if (k->attn.heads != 1) nbi_text_printf(out, " heads=%lld", (long long)k->attn.heads);
    if (k->ffn != 4 * k->E) nbi_text_printf(out, " ffn=%lld", (long long)k->ffn);
    if (k->attn.causal) nbi_text_puts(out, " causal=true");
    if (k->dropout != 0.0f) {
        nbi_text_puts(out, " dropout=");
        nbi_text_float(out, k->dropout);
    }
    if (k->eps != 1e-5f) {
        nbi_text_puts(out, " eps=");
        nbi_text_float(out, k->eps);
    }
    if (!k->attn.bias) nbi_text_puts(out, " bias=false");
    if (k->init.kind != NB_INIT_DEFAULT) {
        nbi_text_puts(out, " init=");
        nbi_init_text(&k->init, out);
    }
    if (k->proj_init.kind != NB_INIT_DEFAULT) {
        nbi_text_puts(out, " proj_init=");
        nbi_init_text(&k->proj_init, out);
    }
}

/* The four matrices are stored transposed (PyTorch's [out, in]): parameters 2, 4, 8 and 10
 * with biases, 2, 3, 6 and 7 without. */
static void block_view(const nbi_layer *l, nbi_layer_view *v) {
    const block *k = (const block *)l;
    nbi_mha_view(&k->attn, v);
    v->kind = NBI_VIEW_TRANSFORMER;
    v->eps = k->eps;
    const nb_tensor *t[8] = {k->ln1_w, k->ln1_b, k->ln2_w,  k->ln2_b,
                             k->fc_w,  k->fc_b,  k->proj_w, k->proj_b};
    memcpy(v->block, t, sizeof t);
}

static const nbi_layer_vt block_vt = {
    .kind = "Transformer",
    .stem = "transformer",
    .min_in = 1,
    .max_in = 2,
    .infer = block_infer,
    .build = block_build,
    .init = block_init,
    .forward = block_forward,
    .describe = block_describe,
    .spec = block_spec,
    .decode_floats = block_decode_floats,
    .torch_transposed = 1u << 2 | 1u << 4 | 1u << 8 | 1u << 10,
    .view = block_view,
};
static const nbi_layer_vt block_nobias_vt = {
    .kind = "Transformer",
    .stem = "transformer",
    .min_in = 1,
    .max_in = 2,
    .infer = block_infer,
    .build = block_build,
    .init = block_init,
    .forward = block_forward,
    .describe = block_describe,
    .spec = block_spec,
    .decode_floats = block_decode_floats,
    .torch_transposed = 1u << 2 | 1u << 3 | 1u << 6 | 1u << 7,
    .view = block_view,
};

int nb_model_transformer_on(nb_model *m, int x, int64_t width, const nb_transformer_opts *opts) {
    const char *fn = "nb_model_transformer";
    nb_transformer_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (o.key_mask < 0) return o.key_mask;
    nbi_mha a = {.E = width,
                 .heads = o.heads ? o.heads : 1,
                 .causal = o.causal != 0,
                 .dropout = o.dropout,
                 .bias = !o.no_bias};
    nb_status s = nbi_mha_check(&a, fn);
    if (s != NB_OK) return -(int)s;
    int64_t ffn = o.ffn;
    if (ffn == 0 && !nbi_mul_i64(4, width, &ffn))
        return -(int)nbi_error(NB_ERR_ARG, "%s: the width %lld overflows", fn, (long long)width);
    if (ffn < 1)
        return -(int)nbi_error(NB_ERR_ARG, "%s: the MLP's width must be at least 1, got %lld", fn,
                               (long long)ffn);
    if (o.init.kind == NB_INIT_DEFAULT && o.proj_init.kind != NB_INIT_DEFAULT)
        return -(int)nbi_error(NB_ERR_ARG,
                               "%s: proj_init is given but init is not (proj_init draws the "
                               "residual projections only when init draws the others)",
                               fn);
    if (o.eps == 0.0f) o.eps = 1e-5f;
    if (!(o.eps > 0.0f) || isinf(o.eps))
        return -(int)nbi_error(NB_ERR_ARG, "%s: eps must be a positive number, got %g", fn,
                               (double)o.eps);
    block *k = nbi_malloc_for(fn, sizeof *k);
    if (!k) return -(int)NB_ERR_NOMEM;
    memset(k, 0, sizeof *k);
    k->base.vt = a.bias ? &block_vt : &block_nobias_vt;
    k->E = width;
    k->ffn = ffn;
    k->eps = o.eps;
    k->dropout = o.dropout;
    k->attn = a;
    k->init = o.init;
    k->proj_init = o.proj_init;
    int in[2] = {x, o.key_mask};
    return nbi_model_push(m, &k->base, in, o.key_mask ? 2 : 1, o.name, fn);
}
