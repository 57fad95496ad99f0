/* nn/activation.c — activations by name: the mapping from nb_activation to the ops of
 * ops.h (each with its own forward, backward and gradient check), and the activation layer,
 * Keras's Activation: a layer without parameters that applies one. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

/* The names, from the NB_ACT / NB_ACT_OP lines of nabla/ops.def. */
static const char *const names[NB_ACT_COUNT] = {
    [NB_ACT_NONE] = "linear",
#define NB_ACT(ID, name, NP, CHECK, ACT) [NB_ACT_##ID] = #name,
#define NB_ACT_OP(ID, name, GAIN) [NB_ACT_##ID] = #name,
#include "nabla/ops.def"
};

const char *nb_activation_name(nb_activation act) {
    return (unsigned)act < NB_ACT_COUNT ? names[act] : NULL;
}

/* An elementwise activation: its op with the parameters of ACT = (P0, P1, ALPHA, GAIN), p[0]
 * being the caller's alpha when ALPHA is 1 and alpha is not 0. */
#define UNPACK(...) __VA_ARGS__
#define APPLY(ID, NP, ...) APPLY_(ID, NP, __VA_ARGS__)
#define APPLY_(ID, NP, P0, P1, ALPHA, GAIN)                                                 \
    do {                                                                                    \
        nbi_attrs a = {.f = {(ALPHA) && alpha != 0.0f ? alpha : (float)(P0), (float)(P1)}};  \
        return nbi_apply(ctx, NBI_OP_##ID, &x, 1, (NP) ? &a : NULL);                        \
    } while (0)

nb_tensor *nb_activate(nb_ctx *ctx, nb_tensor *x, nb_activation act, float alpha) {
    switch (act) {
    case NB_ACT_NONE:
        return x;
#define NB_ACT(ID, name, NP, CHECK, ACT)                                                    \
    case NB_ACT_##ID:                                                                       \
        APPLY(ID, NP, UNPACK ACT);
#include "nabla/ops.def"
    case NB_ACT_SOFTMAX:
        return nb_softmax(ctx, x, -1);
    case NB_ACT_COUNT:
        break;
    }
    nbi_error(NB_ERR_ARG, "nb_activate: unknown activation %d (use an NB_ACT_* value)", (int)act);
    return nbi_fail(ctx, NB_ERR_ARG);
}

bool nbi_activation_has_alpha(nb_activation act) {
    switch (act) {
#define TAKES_ALPHA(P0, P1, ALPHA, GAIN) return (ALPHA) != 0;
#define NB_ACT(ID, name, NP, CHECK, ACT)                                                    \
    case NB_ACT_##ID:                                                                       \
        TAKES_ALPHA ACT
#include "nabla/ops.def"
    default:
        return false;
    }
}

void nbi_activation_text(nb_activation act, float alpha, char *buf, size_t n) {
    const char *nm = nb_activation_name(act);
    if (nbi_activation_has_alpha(act) && alpha != 0.0f)
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
