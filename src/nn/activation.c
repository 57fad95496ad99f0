/* nn/activation.c — activations by name: the mapping from nb_activation to the ops of
 * ops.h (each with its own forward, backward and gradient check), and the activation layer,
 * Keras's Activation: a layer without parameters that applies one. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

static const char *const names[NB_ACT_COUNT] = {
    [NB_ACT_NONE] = "linear",     [NB_ACT_SIGMOID] = "sigmoid", [NB_ACT_TANH] = "tanh",
    [NB_ACT_RELU] = "relu",       [NB_ACT_LEAKY_RELU] = "leaky_relu", [NB_ACT_ELU] = "elu",
    [NB_ACT_GELU] = "gelu",       [NB_ACT_SILU] = "silu",       [NB_ACT_SOFTPLUS] = "softplus",
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

static nb_status act_output_shape(const nbi_layer *l, int *rank, int64_t *shape) {
    *rank = l->in_rank;
    memcpy(shape, l->in_shape, sizeof l->in_shape);
    return NB_OK;
}

static nb_tensor *act_forward(const nbi_layer *l, const nbi_fwd *f, nb_tensor *x) {
    const act_layer *a = (const act_layer *)l;
    return nb_activate(f->ctx, x, a->act, a->alpha);
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

static const nbi_layer_vt act_vt = {
    .kind = "Activation",
    .stem = "activation",
    .output_shape = act_output_shape,
    .build = NULL,
    .forward = act_forward,
    .describe = act_describe,
    .spec = act_spec,
};

nb_status nb_model_activation(nb_model *m, nb_activation act, float alpha) {
    if (!m) return nbi_error(NB_ERR_ARG, "nb_model_activation: model is NULL");
    if ((unsigned)act >= NB_ACT_COUNT)
        return nbi_error(NB_ERR_ARG, "nb_model_activation: unknown activation %d", (int)act);
    act_layer *a = nbi_malloc_for("nb_model_activation", sizeof *a);
    if (!a) return NB_ERR_NOMEM;
    memset(a, 0, sizeof *a);
    a->base.vt = &act_vt;
    a->act = act;
    a->alpha = alpha;
    return nbi_model_push(m, &a->base, NULL);
}
