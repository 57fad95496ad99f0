/* nn/dense.c — the fully connected layer, the method's layer l:
 *
 *     z = x W + b,   a = f(z)          x [..., in], W [in, units], b [units]
 *
 * (the row-vector form of z_l = W_l x_l + b_l, so a batch of samples is one matrix product).
 * It is the composition of nb_linear (x W + b, equal to matmul then add, fused) and the
 * activation, run as one op (linear_act, ops/linear.c) when the activation is elementwise:
 * its backward, δ = f'(z) ⊙ upstream, ∂L/∂W = xᵀ δ, ∂L/∂b = Σ_rows δ, ∂L/∂x = δ Wᵀ, is the
 * two ops' chained, computed in one node (test_nn checks it against the two ops). W is stored [in, out] (Keras's layout;
 * PyTorch's Linear stores the transpose). Defaults follow Keras: Xavier-uniform weights, zero bias.
 */
#include "nn/nn.h"
#include "ops/linear.h"

#include <stdio.h>
#include <string.h>

typedef struct dense {
    nbi_layer base;
    int64_t units;
    nb_activation act;
    float alpha;
    int bias;
    nb_init weight_init, bias_init;
    nb_tensor *W, *b; /* views in the model's parameter store */
} dense;

static nb_status dense_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                             int *n_out) {
    const dense *d = (const dense *)l;
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    int r = in[0].rank;
    if (r < 1)
        return nbi_error(NB_ERR_SHAPE,
                         "dense '%s': its input is a scalar per sample; dense "
                         "acts on the last axis of inputs of rank >= 1",
                         l->name);
    int64_t features = in[0].dim[r - 1];
    char b[128];
    nbi_layer_in_str(&in[0], b, sizeof b);
    if (features < 0)
        return nbi_error(NB_ERR_SHAPE,
                         "dense '%s': the last axis of its input %s is known only "
                         "at run time; dense needs it fixed (its weight is [in, units])",
                         l->name, b);
    if (features < 1)
        return nbi_error(NB_ERR_SHAPE,
                         "dense '%s': its input has 0 features (the previous "
                         "layer's output is empty)",
                         l->name);
    if (d->W && d->W->shape[0] != features)
        return nbi_error(NB_ERR_SHAPE,
                         "dense '%s' was built for %lld input features; it is "
                         "called again on %s",
                         l->name, (long long)d->W->shape[0], b);
    *out = in[0];
    out->dim[r - 1] = d->units;
    *n_out = 1;
    return NB_OK;
}

static nb_status dense_build(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *b) {
    (void)n_in;
    dense *d = (dense *)l;
    int64_t features = in[0].dim[in[0].rank - 1];
    nb_status s = nbi_layer_param(b, "weight", 2, (int64_t[]){features, d->units}, &d->W);
    if (s == NB_OK && d->bias) s = nbi_layer_param(b, "bias", 1, &d->units, &d->b);
    return s;
}

/* The weight, then the bias, from the generator in that order. The bias's fans are the
 * weight's, as PyTorch's Linear takes them. */
static nb_status dense_init(nbi_layer *l, nb_rng *rng) {
    dense *d = (dense *)l;
    int64_t in = d->W->shape[0];
    float gain = nb_init_gain(d->act, d->alpha);
    nb_status s = nb_init_apply(d->W, &d->weight_init, in, d->units, gain, rng);
    if (s == NB_OK && d->b) s = nb_init_apply(d->b, &d->bias_init, in, d->units, gain, rng);
    return s;
}

static void dense_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                          nb_tensor **out) {
    (void)n_in;
    const dense *d = (const dense *)l;
    int op;
    float p[2];
    if (nbi_activation_op(d->act, d->alpha, &op, p)) /* f(x W + b), one op */
        out[0] = nbi_linear_act(f->ctx, in[0], d->W, d->b, op, p);
    else /* [..., in] · [in, units] + b, then none or softmax */
        out[0] = nb_activate(f->ctx, nb_linear(f->ctx, in[0], d->W, d->b), d->act, d->alpha);
}

static nb_activation dense_activation(const nbi_layer *l, float *alpha) {
    const dense *d = (const dense *)l;
    *alpha = d->alpha;
    return d->act;
}

static void dense_describe(const nbi_layer *l, char *buf, size_t n) {
    const dense *d = (const dense *)l;
    char act[48];
    nbi_activation_text(d->act, d->alpha, act, sizeof act);
    snprintf(buf, n, "%lld unit%s, %s%s", (long long)d->units, d->units == 1 ? "" : "s", act,
             d->bias ? "" : ", no bias");
}

static bool same_init(const nb_init *a, const nb_init *b) {
    return a->kind == b->kind && a->a == b->a && a->b == b->b && a->gain == b->gain;
}

/* dense UNITS [ACTIVATION [alpha=A]] [bias=false] [init=I] [bias_init=I] */
static void dense_spec(const nbi_layer *l, nbi_text *out) {
    const dense *d = (const dense *)l;
    nbi_text_printf(out, "dense %lld", (long long)d->units);
    if (d->act != NB_ACT_NONE) {
        nbi_text_puts(out, " ");
        nbi_activation_spec(d->act, d->alpha, out);
    }
    if (!d->bias) nbi_text_puts(out, " bias=false");
    if (!same_init(&d->weight_init, &(nb_init){.kind = NB_INIT_XAVIER_UNIFORM})) {
        nbi_text_puts(out, " init=");
        nbi_init_text(&d->weight_init, out);
    }
    if (d->bias && !same_init(&d->bias_init, &(nb_init){.kind = NB_INIT_ZEROS})) {
        nbi_text_puts(out, " bias_init=");
        nbi_init_text(&d->bias_init, out);
    }
}

static void dense_view(const nbi_layer *l, nbi_layer_view *v) {
    const dense *d = (const dense *)l;
    v->kind = NBI_VIEW_DENSE;
    v->act = d->act;
    v->alpha = d->alpha;
    v->weight = d->W;
    v->bias = d->b;
}

/* nn.Linear, then the activation's module when there is one. */
static int dense_torch_modules(const nbi_layer *l) {
    return ((const dense *)l)->act == NB_ACT_NONE ? 1 : 2;
}

static const nbi_layer_vt dense_vt = {
    .kind = "Dense",
    .stem = "dense",
    .min_in = 1,
    .max_in = 1,
    .infer = dense_infer,
    .build = dense_build,
    .init = dense_init,
    .forward = dense_forward,
    .describe = dense_describe,
    .spec = dense_spec,
    .activation = dense_activation,
    .torch_modules = dense_torch_modules,
    .torch_transposed = 1u << 0, /* the weight: [in, units] here, [units, in] in nn.Linear */
    .view = dense_view,
};

int nb_model_dense_on(nb_model *m, int x, int64_t units, const nb_dense_opts *opts) {
    const char *fn = "nb_model_dense";
    nb_dense_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (units < 1)
        return -(int)nbi_error(NB_ERR_ARG,
                               "%s: units must be at least 1, got %lld (the number "
                               "of outputs of the layer)",
                               fn, (long long)units);
    if ((unsigned)o.activation >= NB_ACT_COUNT)
        return -(int)nbi_error(NB_ERR_ARG, "%s: unknown activation %d (use an NB_ACT_* value)", fn,
                               (int)o.activation);
    dense *d = nbi_malloc_for(fn, sizeof *d);
    if (!d) return -(int)NB_ERR_NOMEM;
    memset(d, 0, sizeof *d);
    d->base.vt = &dense_vt;
    d->units = units;
    d->act = o.activation;
    d->alpha = o.alpha;
    d->bias = !o.no_bias;
    d->weight_init = o.weight_init;
    if (d->weight_init.kind == NB_INIT_DEFAULT) d->weight_init.kind = NB_INIT_XAVIER_UNIFORM;
    d->bias_init = o.bias_init;
    if (d->bias_init.kind == NB_INIT_DEFAULT) d->bias_init.kind = NB_INIT_ZEROS;
    return nbi_model_push(m, &d->base, &x, 1, o.name, fn);
}

nb_status nb_model_dense_with(nb_model *m, int64_t units, const nb_dense_opts *opts) {
    return nbi_node_status(nb_model_dense_on(m, nbi_model_last(m), units, opts));
}

nb_status nb_model_dense(nb_model *m, int64_t units, nb_activation act) {
    nb_dense_opts o;
    memset(&o, 0, sizeof o);
    o.activation = act;
    return nb_model_dense_with(m, units, &o);
}
