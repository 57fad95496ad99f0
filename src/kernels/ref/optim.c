/* kernels/ref/optim.c — the optimizers' updates, fused, over flat parameter, gradient and
 * state buffers (src/optim/ computes the step's scalars and calls these).
 *
 * The arithmetic follows torch.optim operation for operation in f32 (the scalars come in
 * already rounded to f32 the way PyTorch's Python floats reach its kernels), so ten steps of
 * every configuration agree with PyTorch's to a few ulps (tests/test_optim.c). Every element
 * is updated on its own, so any split of [0, n) gives the same bits. */
#include "kernels/kernels.h"

#include <math.h>

/* SGD with momentum μ, dampening (keep = 1 - dampening), Nesterov, L2 weight decay:
 *   d = g + wd p;  b = first ? d : μ b + keep d;  d = nesterov ? d + μ b : b;  p += -lr d */
static void sgd(const nbi_update *u, int64_t n, float *p, const float *g, float *b) {
    const float wd = u->wd, mu = u->mu, keep = u->keep, nlr = u->nlr;
    if (mu == 0.0f && wd == 0.0f) { /* plain gradient descent */
        for (int64_t i = 0; i < n; i++) p[i] = p[i] + nlr * g[i];
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0.0f) d = d + wd * p[i];
        if (mu != 0.0f) {
            b[i] = u->first ? d : b[i] * mu + keep * d;
            d = u->nesterov ? d + mu * b[i] : b[i];
        }
        p[i] = p[i] + nlr * d;
    }
}

/* Adam / AdamW: m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;  (amsgrad: v̂ = max(v̂, v))
 *   p += -lr/(1-β1^t) m / (sqrt(v̂)/sqrt(1-β2^t) + eps), with L2 decay in g (Adam) or
 *   p *= 1 - lr wd first (AdamW, `decay`) */
static void adam(const nbi_update *u, int64_t n, float *p, const float *g, float *m, float *v,
                 float *vmax) {
    const float b1 = u->b1, c1 = u->c1, b2 = u->b2, c2 = u->c2;
    const float nstep = u->nlr, bc2 = u->bc2, eps = u->eps, wd = u->wd;
    for (int64_t i = 0; i < n; i++) {
        if (u->decoupled) p[i] = p[i] * u->decay;
        float gi = g[i];
        if (!u->decoupled && wd != 0.0f) gi = gi + wd * p[i];
        m[i] = m[i] * b1 + c1 * gi;
        v[i] = v[i] * b2 + c2 * gi * gi;
        float vi = v[i];
        if (u->amsgrad) {
            if (!(vmax[i] >= vi)) vmax[i] = vi;
            vi = vmax[i];
        }
        float denom = sqrtf(vi) / bc2 + eps;
        p[i] = p[i] + nstep * m[i] / denom;
    }
}

/* RMSprop: v = α v + (1-α) g²; centered: ḡ = α ḡ + (1-α) g, avg = sqrt(v - ḡ²) + eps, else
 *   sqrt(v) + eps; momentum: b = μ b + g / avg, p += -lr b; else p += -lr g / avg */
static void rmsprop(const nbi_update *u, int64_t n, float *p, const float *g, float *v, float *b,
                    float *gavg) {
    const float a = u->a, ca = u->ca, eps = u->eps, wd = u->wd, mu = u->mu, nlr = u->nlr;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        if (wd != 0.0f) gi = gi + wd * p[i];
        v[i] = v[i] * a + ca * gi * gi;
        float avg;
        if (u->centered) {
            gavg[i] = gavg[i] * a + ca * gi;
            avg = sqrtf(v[i] - gavg[i] * gavg[i]);
        } else {
            avg = sqrtf(v[i]);
        }
        avg = avg + eps;
        if (mu > 0.0f) {
            b[i] = b[i] * mu + gi / avg;
            p[i] = p[i] + nlr * b[i];
        } else {
            p[i] = p[i] + nlr * gi / avg;
        }
    }
}

/* Adagrad: s += g²;  p += -clr g / (sqrt(s) + eps), clr = lr / (1 + (t-1) lr_decay) */
static void adagrad(const nbi_update *u, int64_t n, float *p, const float *g, float *sum) {
    const float nclr = u->nlr, eps = u->eps, wd = u->wd;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        if (wd != 0.0f) gi = gi + wd * p[i];
        sum[i] = sum[i] + gi * gi;
        float std = sqrtf(sum[i]) + eps;
        p[i] = p[i] + nclr * gi / std;
    }
}

void nbi_ref_optim_update(const nbi_update *u, int64_t n, float *p, const float *g, float *s0,
                          float *s1, float *s2) {
    switch (u->kind) {
    case NBI_UPDATE_SGD:
        sgd(u, n, p, g, s0);
        break;
    case NBI_UPDATE_ADAM:
        adam(u, n, p, g, s0, s1, s2);
        break;
    case NBI_UPDATE_RMSPROP:
        rmsprop(u, n, p, g, s0, s1, s2);
        break;
    default:
        NBI_ASSERT(u->kind == NBI_UPDATE_ADAGRAD);
        adagrad(u, n, p, g, s0);
        break;
    }
}

/* Σ x² in double, in index order (the squared norm of a gradient) */
double nbi_ref_sum_squares(int64_t n, const float *x) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}
