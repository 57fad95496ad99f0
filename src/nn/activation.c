/* nn/activation.c — activations by name: the mapping from nb_activation to the ops of
 * ops.h (each with its own forward, backward and gradient check), and the activation layer,
 * Keras's Activation: a layer without parameters that applies one. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

static const char *const names[NB_ACT_COUNT] = {
    [NB_ACT_NONE] = "linear",
    [NB_ACT_SIGMOID] = "sigmoid",
    [NB_ACT_TANH] = "tanh",
    [NB_ACT_RELU] = "relu",
    [NB_ACT_LEAKY_RELU] = "leaky_relu",
    [NB_ACT_ELU] = "elu",
    [NB_ACT_GELU] = "gelu",
    [NB_ACT_SILU] = "silu",
    [NB_ACT_SOFTPLUS] = "softplus",
    [NB_ACT_SOFTMAX] = "softmax",
};

const char *nb_activation_name(nb_activation act) {
    return (unsigned)act < NB_ACT_COUNT ? names[act] : NULL;
}

nb_tensor *nb_activate(nb_ctx *ctx, nb_tensor *x, nb_activation act, float alpha) {
    switch (act) {
    case NB_ACT_NONE:
        return x;
    case NB_ACT_SIGMOID:
        return nb_sigmoid(ctx, x);
    case NB_ACT_TANH:
        return nb_tanh(ctx, x);
    case NB_ACT_RELU:
        return nb_relu(ctx, x);
    case NB_ACT_LEAKY_RELU:
        return nb_leaky_relu(ctx, x, alpha != 0.0f ? alpha : 0.01f);
    case NB_ACT_ELU:
        return nb_elu(ctx, x, alpha != 0.0f ? alpha : 1.0f);
    case NB_ACT_GELU:
        return nb_gelu(ctx, x);
    case NB_ACT_SILU:
        return nb_silu(ctx, x);
    case NB_ACT_SOFTPLUS:
        return nb_softplus(ctx, x, 1.0f, 20.0f);
    case NB_ACT_SOFTMAX:
        return nb_softmax(ctx, x, -1);
    case NB_ACT_COUNT:
        break;
    }
    nbi_error(NB_ERR_ARG, "nb_activate: unknown activation %d (use an NB_ACT_* value)", (int)act);
    return nbi_fail(ctx, NB_ERR_ARG);
}

void nbi_activation_text(nb_activation act, float alpha, char *buf, size_t n) {
    const char *nm = nb_activation_name(act);
    if ((act == NB_ACT_LEAKY_RELU || act == NB_ACT_ELU) && alpha != 0.0f)
        snprintf(buf, n, "%s(%g)", nm, (double)alpha);
    else
        snprintf(buf, n, "%s", nm ? nm : "?");
}

/* ---- the layer ------------------------------------------------------------------------------ */

typedef struct act_layer {
    nbi_layer base;
    nb_activation act;
    float alpha;
} act_layer;

static nb_status act_infer(const nbi_layer *l, const nbi_shape *in, int n_in, nbi_shape *out,
                           int *n_out) {
    nb_status s = nbi_layer_want_f32(l, in, n_in);
    if (s != NB_OK) return s;
    out[0] = in[0];
    *n_out = 1;
    return NB_OK;
}

static void act_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *const *in, int n_in,
                        nb_tensor **out) {
    (void)n_in;
    const act_layer *a = (const act_layer *)l;
    out[0] = nb_activate(f->ctx, in[0], a->act, a->alpha);
}

static nb_activation act_activation(const nbi_layer *l, float *alpha) {
    const act_layer *a = (const act_layer *)l;
    *alpha = a->alpha;
    return a->act;
}

static void act_describe(const nbi_layer *l, char *buf, size_t n) {
    const act_layer *a = (const act_layer *)l;
    nbi_activation_text(a->act, a->alpha, buf, n);
}

/* activation NAME [alpha=A] */
static void act_spec(const nbi_layer *l, nbi_text *out) {
    const act_layer *a = (const act_layer *)l;
    nbi_text_puts(out, "activation ");
    nbi_activation_spec(a->act, a->alpha, out);
}

static void act_view(const nbi_layer *l, nbi_layer_view *v) {
    const act_layer *a = (const act_layer *)l;
    v->kind = NBI_VIEW_ACTIVATION;
    v->act = a->act;
    v->alpha = a->alpha;
}

static const nbi_layer_vt act_vt = {
    .kind = "Activation",
    .stem = "activation",
    .min_in = 1,
    .max_in = 1,
    .infer = act_infer,
    .forward = act_forward,
    .describe = act_describe,
    .spec = act_spec,
    .activation = act_activation,
    .view = act_view,
};

int nb_model_activation_on(nb_model *m, int x, nb_activation act, float alpha, const char *name) {
    const char *fn = "nb_model_activation";
    if (!m) return -(int)nbi_error(NB_ERR_ARG, "%s: model is NULL", fn);
    if (x < 0) return x;
    if ((unsigned)act >= NB_ACT_COUNT)
        return -(int)nbi_error(NB_ERR_ARG, "%s: unknown activation %d", fn, (int)act);
    act_layer *a = nbi_malloc_for(fn, sizeof *a);
    if (!a) return -(int)NB_ERR_NOMEM;
    memset(a, 0, sizeof *a);
    a->base.vt = &act_vt;
    a->act = act;
    a->alpha = alpha;
    return nbi_model_push(m, &a->base, &x, 1, name, fn);
}

nb_status nb_model_activation(nb_model *m, nb_activation act, float alpha) {
    return nbi_node_status(nb_model_activation_on(m, nbi_model_last(m), act, alpha, NULL));
}
