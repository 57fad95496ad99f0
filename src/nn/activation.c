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

/* An elementwise activation's op and its NP parameters, from ACT = (P0, P1, ALPHA, GAIN):
 * p[0] is the caller's alpha when ALPHA is 1 and alpha is not 0. Returns NP + 1 (0 for none
 * and softmax, which are not elementwise ops). */
#define UNPACK(...) __VA_ARGS__
#define PARAMS(P0, P1, ALPHA, GAIN)                                                         \
    p[0] = (ALPHA) && alpha != 0.0f ? alpha : (float)(P0);                                 \
    p[1] = (float)(P1);
int nbi_activation_op(nb_activation act, float alpha, int *op, float p[2]) {
    switch (act) {
#define NB_ACT(ID, name, NP, CHECK, ACT)                                                    \
    case NB_ACT_##ID:                                                                       \
        *op = NBI_OP_##ID;                                                                  \
        PARAMS ACT                                                                          \
        return (NP) + 1;
#include "nabla/ops.def"
    default:
        return 0;
    }
}

nb_tensor *nb_activate(nb_ctx *ctx, nb_tensor *x, nb_activation act, float alpha) {
    int op;
    nbi_attrs a;
    memset(&a, 0, sizeof a);
    int np1 = nbi_activation_op(act, alpha, &op, a.f);
    if (np1) return nbi_apply(ctx, op, &x, 1, np1 > 1 ? &a : NULL);
    if (act == NB_ACT_NONE) return x;
    if (act == NB_ACT_SOFTMAX) return nb_softmax(ctx, x, -1);
    if (act == NB_ACT_LOG_SOFTMAX) return nb_log_softmax(ctx, x, -1);
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
