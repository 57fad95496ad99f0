/* nn/init.c — parameter initialisers with PyTorch's formulas (torch.nn.init), each drawing
 * from an explicit generator in row-major order, so a seed fixes every weight.
 *
 * Why the scales: for y = Σ_i w_i x_i with independent zero-mean terms,
 * Var(y) = fan_in · Var(w) · Var(x). Keeping Var(y) = Var(x) forward wants
 * Var(w) = 1/fan_in, keeping the gradients' variance backward wants 1/fan_out; Glorot and
 * Bengio (2010) take the compromise Var(w) = 2/(fan_in + fan_out). He et al. (2015) correct
 * for a ReLU, which zeroes half of its inputs: Var(w) = 2/fan. The gain carries the
 * activation's correction; a uniform U(-b, b) has variance b²/3, hence b = sqrt(3)·std. */
#include "nn/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static nb_status check_target(const char *fn, const nb_tensor *t) {
    if (!t) return nbi_error(NB_ERR_ARG, "%s: tensor is NULL", fn);
    if (t->dtype != NB_F32) return nbi_error(NB_ERR_ARG, "%s: tensor must be f32", fn);
    if (!nb_tensor_is_contiguous(t)) {
        char b[96];
        return nbi_error(NB_ERR_ARG,
                         "%s: tensor %s must be contiguous (initialise the "
                         "contiguous tensor it views)",
                         fn, nb_shape_str(t, b, sizeof b));
    }
    return NB_OK;
}

static nb_status check_rng(const char *fn, const nb_rng *rng) {
    if (!rng) return nbi_error(NB_ERR_ARG, "%s: rng is NULL (seed one with nb_rng_seed)", fn);
    return NB_OK;
}

nb_status nb_init_constant(nb_tensor *t, float value) {
    nb_status s = check_target("nb_init_constant", t);
    if (s != NB_OK) return s;
    float *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) p[i] = value;
    return NB_OK;
}

nb_status nb_init_zeros(nb_tensor *t) {
    nb_status s = check_target("nb_init_zeros", t);
    if (s != NB_OK) return s;
    if (t->numel) memset(t->data, 0, (size_t)t->numel * sizeof(float));
    return NB_OK;
}

nb_status nb_init_uniform(nb_tensor *t, float lo, float hi, nb_rng *rng) {
    nb_status s = check_target("nb_init_uniform", t);
    if (s == NB_OK) s = check_rng("nb_init_uniform", rng);
    if (s != NB_OK) return s;
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        return nbi_error(NB_ERR_ARG, "nb_init_uniform: need finite bounds lo <= hi, got [%g, %g)",
                         (double)lo, (double)hi);
    float *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) p[i] = nb_rng_uniform_range(rng, lo, hi);
    return NB_OK;
}

nb_status nb_init_normal(nb_tensor *t, float mean, float std, nb_rng *rng) {
    nb_status s = check_target("nb_init_normal", t);
    if (s == NB_OK) s = check_rng("nb_init_normal", rng);
    if (s != NB_OK) return s;
    if (!(std >= 0.0f) || !isfinite(std) || !isfinite(mean))
        return nbi_error(NB_ERR_ARG,
                         "nb_init_normal: need a finite mean and std >= 0, got "
                         "mean %g, std %g",
                         (double)mean, (double)std);
    float *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) p[i] = nb_rng_normal(rng, mean, std);
    return NB_OK;
}

static nb_status check_fan(const char *fn, int64_t fan, float gain) {
    if (fan <= 0)
        return nbi_error(NB_ERR_ARG,
                         "%s: fan must be positive, got %lld (a tensor with a zero "
                         "dimension has no scale to derive)",
                         fn, (long long)fan);
    if (!(gain >= 0.0f) || !isfinite(gain))
        return nbi_error(NB_ERR_ARG, "%s: gain must be finite and >= 0, got %g", fn, (double)gain);
    return NB_OK;
}

/* std = gain · sqrt(2 / (fan_in + fan_out)) */
static double xavier_std(int64_t fan_in, int64_t fan_out, float gain) {
    return (double)gain * sqrt(2.0 / (double)(fan_in + fan_out));
}

nb_status nb_init_xavier_uniform(nb_tensor *t, int64_t fan_in, int64_t fan_out, float gain,
                                 nb_rng *rng) {
    const char *fn = "nb_init_xavier_uniform";
    nb_status s = check_fan(fn, fan_in, gain);
    if (s == NB_OK) s = check_fan(fn, fan_out, gain);
    if (s != NB_OK) return s;
    float b = (float)(sqrt(3.0) * xavier_std(fan_in, fan_out, gain));
    return nb_init_uniform(t, -b, b, rng);
}

nb_status nb_init_xavier_normal(nb_tensor *t, int64_t fan_in, int64_t fan_out, float gain,
                                nb_rng *rng) {
    const char *fn = "nb_init_xavier_normal";
    nb_status s = check_fan(fn, fan_in, gain);
    if (s == NB_OK) s = check_fan(fn, fan_out, gain);
    if (s != NB_OK) return s;
    return nb_init_normal(t, 0.0f, (float)xavier_std(fan_in, fan_out, gain), rng);
}

/* std = gain / sqrt(fan) */
nb_status nb_init_kaiming_uniform(nb_tensor *t, int64_t fan, float gain, nb_rng *rng) {
    nb_status s = check_fan("nb_init_kaiming_uniform", fan, gain);
    if (s != NB_OK) return s;
    float b = (float)(sqrt(3.0) * (double)gain / sqrt((double)fan));
    return nb_init_uniform(t, -b, b, rng);
}

nb_status nb_init_kaiming_normal(nb_tensor *t, int64_t fan, float gain, nb_rng *rng) {
    nb_status s = check_fan("nb_init_kaiming_normal", fan, gain);
    if (s != NB_OK) return s;
    return nb_init_normal(t, 0.0f, (float)((double)gain / sqrt((double)fan)), rng);
}

/* The gains of the NB_ACT / NB_ACT_OP lines of nabla/ops.def: GAIN is an expression of p0,
 * the activation's first parameter (the caller's alpha, or the line's default P0). */
float nb_init_gain(nb_activation act, float alpha) {
    switch (act) {
#define GAIN_OF(P0, P1, ALPHA, GAIN)                                                        \
    {                                                                                       \
        double p0 = (ALPHA) && alpha != 0.0f ? (double)alpha : (double)(P0);                \
        (void)p0;                                                                           \
        return (float)(GAIN);                                                               \
    }
#define NB_ACT(ID, name, NP, CHECK, ACT)                                                    \
    case NB_ACT_##ID:                                                                       \
        GAIN_OF ACT
#define NB_ACT_OP(ID, name, GAIN)                                                           \
    case NB_ACT_##ID:                                                                       \
        return (float)(GAIN);
#include "nabla/ops.def"
    default:
        return 1.0f;
    }
}

nb_status nb_init_fans(const nb_tensor *t, int64_t *fan_in, int64_t *fan_out) {
    if (!t || !fan_in || !fan_out) return nbi_error(NB_ERR_ARG, "nb_init_fans: NULL argument");
    if (t->rank < 2) {
        char b[96];
        return nbi_error(NB_ERR_SHAPE,
                         "nb_init_fans: need a weight of rank >= 2 ([out, in, "
                         "...]), got %s",
                         nb_shape_str(t, b, sizeof b));
    }
    int64_t receptive = 1;
    for (int i = 2; i < t->rank; i++) receptive *= t->shape[i];
    *fan_in = t->shape[1] * receptive;
    *fan_out = t->shape[0] * receptive;
    return NB_OK;
}

nb_status nb_init_apply(nb_tensor *t, const nb_init *init, int64_t fan_in, int64_t fan_out,
                        float kaiming_gain, nb_rng *rng) {
    if (!init) return nbi_error(NB_ERR_ARG, "nb_init_apply: init is NULL");
    /* A zero gain means the default: 1 for Xavier (Glorot's own setting), the activation's
     * gain for Kaiming (He's correction is the point of it). */
    float xgain = init->gain != 0.0f ? init->gain : 1.0f;
    float kgain = init->gain != 0.0f ? init->gain : kaiming_gain;
    switch (init->kind) {
    case NB_INIT_ZEROS:
        return nb_init_zeros(t);
    case NB_INIT_CONSTANT:
        return nb_init_constant(t, init->a);
    case NB_INIT_UNIFORM:
        return nb_init_uniform(t, init->a, init->b, rng);
    case NB_INIT_NORMAL:
        return nb_init_normal(t, init->a, init->b, rng);
    case NB_INIT_XAVIER_UNIFORM:
        return nb_init_xavier_uniform(t, fan_in, fan_out, xgain, rng);
    case NB_INIT_XAVIER_NORMAL:
        return nb_init_xavier_normal(t, fan_in, fan_out, xgain, rng);
    case NB_INIT_KAIMING_UNIFORM:
        return nb_init_kaiming_uniform(t, fan_in, kgain, rng);
    case NB_INIT_KAIMING_NORMAL:
        return nb_init_kaiming_normal(t, fan_in, kgain, rng);
    case NB_INIT_DEFAULT:
        return nbi_error(NB_ERR_ARG, "nb_init_apply: NB_INIT_DEFAULT has no meaning outside a "
                                     "layer; pick an initialiser");
    }
    return nbi_error(NB_ERR_ARG, "nb_init_apply: unknown initialiser kind %d", (int)init->kind);
}
