/* nn/conv.c — the 2-D convolution layer (PyTorch's Conv2d, Keras's Conv2D):
 *
 *     a = f(conv2d(x, W) + b)        x [N, C, H, W], W [filters, C/groups, KH, KW], b [filters]
 *
 * a composition of ops (conv2d with its bias, then the activation; a ReLU is fused into the
 * conv2d op, which saves two passes over the output each way), so its backward is the ops'.
 * Followed by a max-pooling layer whose window is its stride, it runs with it as one conv2d
 * op with the pooling fused (conv_forward_pair): the conv output is never written.
 * Defaults follow PyTorch, whose layouts it shares, so weights move between the two unchanged: W ~
 * kaiming_uniform(a = √5), which is U(±1/sqrt(fan_in)), and b ~ U(±1/sqrt(fan_in)), fan_in =
 * C/groups·KH·KW. */
#include "nn/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct conv_layer {
    nbi_layer base;
    int64_t filters;
    nb_conv2d_opts o; /* kernel[1], stride, dilation, groups resolved; pad resolved if same */
    nb_conv_opts op;  /* what forward passes to nb_conv2d */
    nb_tensor *W, *b;
} conv_layer;

static nb_status conv_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                            int *n_out) {
    const conv_layer *c = (const conv_layer *)l;
    const nb_conv2d_opts *o = &c->o;
    nb_status st = nbi_layer_want_f32(l, in, n_in);
    if (st != NB_OK) return st;
    char b[128];
    nbi_layer_in_str(&in[0], b, sizeof b);
    if (in[0].rank != 3)
        return nbi_error(NB_ERR_SHAPE,
                         "conv2d '%s': input %s must have samples [C, H, W] "
                         "(rank 3 per sample; add a channel axis to plain images)",
                         l->name, b);
    int64_t C = in[0].dim[0], H = in[0].dim[1], W = in[0].dim[2];
    if (C < 1)
        return nbi_error(NB_ERR_SHAPE, "conv2d '%s': the channels of its input %s must be known",
                         l->name, b);
    if (C % o->groups != 0 || c->filters % o->groups != 0)
        return nbi_error(NB_ERR_SHAPE,
                         "conv2d '%s': %lld input channels and %lld filters must "
                         "both divide by groups = %lld (input %s)",
                         l->name, (long long)C, (long long)c->filters, (long long)o->groups, b);
    if (c->W && c->W->shape[1] * o->groups != C)
        return nbi_error(NB_ERR_SHAPE,
                         "conv2d '%s' was built for %lld input channels; it is "
                         "called again on %s",
                         l->name, (long long)(c->W->shape[1] * o->groups), b);
    const int64_t *p = c->op.pad;
    int64_t eh, ew, ph, pw;
    if (!nbi_window_sizes(H, p[0], p[1], o->kernel[0], o->dilation[0], &eh, &ph) ||
        !nbi_window_sizes(W, p[2], p[3], o->kernel[1], o->dilation[1], &ew, &pw))
        return nbi_error(NB_ERR_SHAPE,
                         "conv2d '%s': kernel %lldx%lld, dilation %lldx%lld and "
                         "padding %lld,%lld,%lld,%lld on input %s: the sizes overflow",
                         l->name, (long long)o->kernel[0], (long long)o->kernel[1],
                         (long long)o->dilation[0], (long long)o->dilation[1], (long long)p[0],
                         (long long)p[1], (long long)p[2], (long long)p[3], b);
    if ((ph >= 0 && eh > ph) || (pw >= 0 && ew > pw))
        return nbi_error(NB_ERR_SHAPE,
                         "conv2d '%s': the kernel %lldx%lld%s is larger than its "
                         "input %lldx%lld (padded to %lldx%lld; input %s): use a smaller kernel, "
                         "padding, or fewer pooling layers before it",
                         l->name, (long long)o->kernel[0], (long long)o->kernel[1],
                         (eh != o->kernel[0] || ew != o->kernel[1]) ? " (dilated)" : "",
                         (long long)H, (long long)W, (long long)ph, (long long)pw, b);
    out[0].dtype = NB_F32;
    out[0].rank = 3;
    out[0].dim[0] = c->filters;
    out[0].dim[1] = ph < 0 ? -1 : (ph - eh) / o->stride[0] + 1;
    out[0].dim[2] = pw < 0 ? -1 : (pw - ew) / o->stride[1] + 1;
    *n_out = 1;
    return NB_OK;
}

/* The initialiser asked for, or PyTorch's default for a weight or a bias. */
static nb_status init_param(nb_tensor *t, const nb_init *init, int64_t fan_in, int64_t fan_out,
                            int is_bias, float gain, nb_rng *rng) {
    if (init->kind != NB_INIT_DEFAULT) return nb_init_apply(t, init, fan_in, fan_out, gain, rng);
    if (!is_bias) /* kaiming_uniform, a = √5: gain sqrt(2 / (1 + 5)) */
        return nb_init_kaiming_uniform(t, fan_in, sqrtf(1.0f / 3.0f), rng);
    float bound = 1.0f / sqrtf((float)fan_in);
    return nb_init_uniform(t, -bound, bound, rng);
}

static nb_status conv_build(nbi_layer *l, const nbi_shape *in, int n_in, const nbi_build *b) {
    (void)n_in;
    conv_layer *c = (conv_layer *)l;
    int64_t ws[4] = {c->filters, in[0].dim[0] / c->o.groups, c->o.kernel[0], c->o.kernel[1]};
    nb_status s = nbi_layer_param(b, "weight", 4, ws, &c->W);
    if (s == NB_OK && !c->o.no_bias) s = nbi_layer_param(b, "bias", 1, &c->filters, &c->b);
    return s;
}

/* The weight, then the bias; fans as PyTorch computes them for [out, in/groups, kh, kw]. */
static nb_status conv_init(nbi_layer *l, nb_rng *rng) {
    conv_layer *c = (conv_layer *)l;
    int64_t k = c->o.kernel[0] * c->o.kernel[1];
    int64_t fan_in = c->W->shape[1] * k, fan_out = c->filters / c->o.groups * k;
    float gain = nb_init_gain(c->o.activation, c->o.alpha);
    nb_status s = init_param(c->W, &c->o.weight_init, fan_in, fan_out, 0, gain, rng);
    if (s == NB_OK && c->b) s = init_param(c->b, &c->o.bias_init, fan_in, fan_out, 1, gain, rng);
    return s;
}

static void conv_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                         nb_tensor **out) {
    (void)n_in;
    const conv_layer *c = (const conv_layer *)l;
    nb_tensor *z = nb_conv2d(f->ctx, in[0], c->W, c->b, &c->op); /* a ReLU is fused into it */
    out[0] = c->op.relu ? z : nb_activate(f->ctx, z, c->o.activation, c->o.alpha);
}

static nb_activation conv_activation(const nbi_layer *l, float *alpha) {
    const conv_layer *c = (const conv_layer *)l;
    *alpha = c->o.alpha;
    return c->o.activation;
}

/* conv2d (with a ReLU or no activation) followed by a max pooling whose window is its stride,
 * without padding or dilation: one op that never writes the conv output (nb_conv2d's
 * max_pool option; the same values and gradients as the two layers run one by one). */
static int conv_forward_pair(const nbi_layer *l, const nbi_layer *next, const nbi_fwd *f,
                             nb_tensor *x, nb_tensor **y) {
    const conv_layer *c = (const conv_layer *)l;
    const nb_pool_opts *p = nbi_maxpool_layer_opts(next);
    if (!p || (!c->op.relu && c->o.activation != NB_ACT_NONE)) return 0;
    for (int d = 0; d < 2; d++)
        if (p->stride[d] != p->kernel[d] || p->dilation[d] != 1) return 0;
    if (p->pad[0] || p->pad[1] || p->pad[2] || p->pad[3]) return 0;
    nb_conv_opts op = c->op;
    op.max_pool[0] = p->kernel[0];
    op.max_pool[1] = p->kernel[1];
    *y = nb_conv2d(f->ctx, x, c->W, c->b, &op);
    return 1;
}

static void conv_describe(const nbi_layer *l, char *buf, size_t n) {
    const conv_layer *c = (const conv_layer *)l;
    const nb_conv2d_opts *o = &c->o;
    char act[48], extra[96] = "";
    size_t k = 0;
    nbi_activation_text(o->activation, o->alpha, act, sizeof act);
    if (o->stride[0] != 1 || o->stride[1] != 1)
        k += (size_t)snprintf(extra + k, sizeof extra - k, ", stride %lldx%lld",
                              (long long)o->stride[0], (long long)o->stride[1]);
    const int64_t *p = c->op.pad;
    if (o->same)
        k += (size_t)snprintf(extra + k, sizeof extra - k, ", same");
    else if (p[0] || p[1] || p[2] || p[3])
        k += (size_t)snprintf(extra + k, sizeof extra - k, ", pad %lld,%lld,%lld,%lld",
                              (long long)p[0], (long long)p[1], (long long)p[2], (long long)p[3]);
    if (k < sizeof extra && (o->dilation[0] != 1 || o->dilation[1] != 1))
        k += (size_t)snprintf(extra + k, sizeof extra - k, ", dilation %lldx%lld",
                              (long long)o->dilation[0], (long long)o->dilation[1]);
    if (k < sizeof extra && o->groups != 1)
        snprintf(extra + k, sizeof extra - k, ", %lld groups", (long long)o->groups);
    snprintf(buf, n, "%lldx%lld%s, %s%s", (long long)o->kernel[0], (long long)o->kernel[1], extra,
             act, o->no_bias ? ", no bias" : "");
}

/* Spec text of a padding: "P" (all sides), "H,W" (top = bottom, left = right) or "T,B,L,R". */
static void pad_text(const int64_t *p, nbi_text *out) {
    if (p[0] == p[1] && p[1] == p[2] && p[2] == p[3])
        nbi_text_printf(out, "%lld", (long long)p[0]);
    else if (p[0] == p[1] && p[2] == p[3])
        nbi_text_printf(out, "%lld,%lld", (long long)p[0], (long long)p[2]);
    else
        nbi_text_printf(out, "%lld,%lld,%lld,%lld", (long long)p[0], (long long)p[1],
                        (long long)p[2], (long long)p[3]);
}

/* conv2d FILTERS KERNEL [ACTIVATION [alpha=A]] [stride=S] [pad=P | same=true] [dilation=D]
 *        [groups=G] [bias=false] [init=I] [bias_init=I] */
static void conv_spec(const nbi_layer *l, nbi_text *out) {
    const conv_layer *c = (const conv_layer *)l;
    const nb_conv2d_opts *o = &c->o;
    nbi_text_printf(out, "conv2d %lld ", (long long)c->filters);
    nbi_pair_text(o->kernel, out);
    if (o->activation != NB_ACT_NONE) {
        nbi_text_puts(out, " ");
        nbi_activation_spec(o->activation, o->alpha, out);
    }
    if (o->stride[0] != 1 || o->stride[1] != 1) {
        nbi_text_puts(out, " stride=");
        nbi_pair_text(o->stride, out);
    }
    if (o->same) {
        nbi_text_puts(out, " same=true");
    } else if (o->pad[0] || o->pad[1] || o->pad[2] || o->pad[3]) {
        nbi_text_puts(out, " pad=");
        pad_text(o->pad, out);
    }
    if (o->dilation[0] != 1 || o->dilation[1] != 1) {
        nbi_text_puts(out, " dilation=");
        nbi_pair_text(o->dilation, out);
    }
    if (o->groups != 1) nbi_text_printf(out, " groups=%lld", (long long)o->groups);
    if (o->no_bias) nbi_text_puts(out, " bias=false");
    if (o->weight_init.kind != NB_INIT_DEFAULT) {
        nbi_text_puts(out, " init=");
        nbi_init_text(&o->weight_init, out);
    }
    if (!o->no_bias && o->bias_init.kind != NB_INIT_DEFAULT) {
        nbi_text_puts(out, " bias_init=");
        nbi_init_text(&o->bias_init, out);
    }
}

/* nn.Conv2d, then the activation's module when there is one. */
static int conv_torch_modules(const nbi_layer *l) {
    return ((const conv_layer *)l)->o.activation == NB_ACT_NONE ? 1 : 2;
}

static const nbi_layer_vt conv_vt = {
    .kind = "Conv2D",
    .stem = "conv2d",
    .min_in = 1,
    .max_in = 1,
    .infer = conv_infer,
    .build = conv_build,
    .init = conv_init,
    .forward = conv_forward,
    .describe = conv_describe,
    .forward_pair = conv_forward_pair,
    .spec = conv_spec,
    .activation = conv_activation,
    .torch_modules = conv_torch_modules, /* weights [out, in, kh, kw], as nn.Conv2d's */
};

static int64_t or1(int64_t v) {
    return v ? v : 1;
}

int nb_model_conv2d_on(nb_model *m, int x, int64_t filters, const nb_conv2d_opts *opts) {
    const char *fn = "nb_model_conv2d";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if (!opts)
        return -(int)nbi_error(NB_ERR_ARG, "nb_model_conv2d_with: options are NULL (the "
                                           "kernel size is required)");
    nb_conv2d_opts o = *opts;
    if (filters < 1)
        return -(int)nbi_error(NB_ERR_ARG, "nb_model_conv2d: filters must be at least 1, got %lld",
                               (long long)filters);
    if (o.kernel[1] == 0) o.kernel[1] = o.kernel[0];
    if (o.kernel[0] < 1 || o.kernel[1] < 1)
        return -(int)nbi_error(NB_ERR_ARG, "nb_model_conv2d: kernel %lldx%lld must be at least 1x1",
                               (long long)o.kernel[0], (long long)o.kernel[1]);
    for (int d = 0; d < 2; d++) {
        o.stride[d] = or1(o.stride[d]);
        o.dilation[d] = or1(o.dilation[d]);
        if (o.stride[d] < 1 || o.dilation[d] < 1)
            return -(int)nbi_error(NB_ERR_ARG, "nb_model_conv2d: stride and dilation must be >= 1");
    }
    for (int k = 0; k < 4; k++)
        if (o.pad[k] < 0)
            return -(int)nbi_error(NB_ERR_ARG, "nb_model_conv2d: padding must be >= 0");
    if (o.same && (o.stride[0] != 1 || o.stride[1] != 1))
        return -(int)nbi_error(NB_ERR_ARG,
                               "nb_model_conv2d: padding \"same\" needs stride 1 (got "
                               "%lldx%lld)",
                               (long long)o.stride[0], (long long)o.stride[1]);
    o.groups = or1(o.groups);
    if (o.groups < 1) return -(int)nbi_error(NB_ERR_ARG, "nb_model_conv2d: groups must be >= 1");
    if ((unsigned)o.activation >= NB_ACT_COUNT)
        return -(int)nbi_error(NB_ERR_ARG, "nb_model_conv2d: unknown activation %d",
                               (int)o.activation);
    conv_layer *c = nbi_malloc_for("nb_model_conv2d", sizeof *c);
    if (!c) return -(int)NB_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->base.vt = &conv_vt;
    c->filters = filters;
    c->o = o;
    c->o.name = NULL;
    for (int d = 0; d < 2; d++) {
        c->op.stride[d] = o.stride[d];
        c->op.dilation[d] = o.dilation[d];
    }
    memcpy(c->op.pad, o.pad, sizeof o.pad);
    if (o.same) { /* total padding d·(k − 1), half before, the odd one after (PyTorch's rule) */
        for (int d = 0; d < 2; d++) {
            int64_t total;
            if (!nbi_mul_i64(o.dilation[d], o.kernel[d] - 1, &total)) {
                nbi_free(c);
                return -(int)nbi_error(NB_ERR_ARG,
                                       "%s: padding \"same\" for kernel %lld with "
                                       "dilation %lld overflows",
                                       fn, (long long)o.kernel[d], (long long)o.dilation[d]);
            }
            c->op.pad[2 * d] = total / 2;
            c->op.pad[2 * d + 1] = total - total / 2;
        }
    }
    c->op.groups = o.groups;
    c->op.relu = o.activation == NB_ACT_RELU;
    return nbi_model_push(m, &c->base, &x, 1, o.name, fn);
}

nb_status nb_model_conv2d_with(nb_model *m, int64_t filters, const nb_conv2d_opts *opts) {
    return nbi_node_status(nb_model_conv2d_on(m, nbi_model_last(m), filters, opts));
}

nb_status nb_model_conv2d(nb_model *m, int64_t filters, int64_t kernel, nb_activation act) {
    nb_conv2d_opts o;
    memset(&o, 0, sizeof o);
    o.kernel[0] = o.kernel[1] = kernel;
    o.activation = act;
    return nb_model_conv2d_with(m, filters, &o);
}
