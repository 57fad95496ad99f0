/* kernels/ref/moments.c — variance and standard deviation over groups (the ops and their
 * derivatives are in ops/moments.c):
 *
 *   var_g = Σ_{i∈g} (x_i − μ_g)² / dof,   ∂var/∂x_i = 2 (x_i − μ) / dof
 *   std_g = √var_g,                        ∂std/∂x_i = (x_i − μ) / (dof σ)   (0 where σ = 0)
 *
 * in double, two passes (the mean, then the squared deviations). A group is one index of the
 * kept dimensions; its elements are walked over the reduced ones (nbi_groups: shapes and
 * strides, in x and in its contiguous gradient). */
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

/* Row-major walk over a walk's dimensions, keeping the offsets in x and in the gradient. */
typedef struct cursor {
    int64_t idx[NB_MAX_RANK];
    int64_t ox, og;
} cursor;

static void cur_reset(cursor *c) {
    memset(c->idx, 0, sizeof c->idx);
    c->ox = c->og = 0;
}

static void cur_next(const nbi_walk *w, cursor *c) {
    for (int d = w->rank - 1; d >= 0; d--) {
        c->ox += w->sx[d];
        c->og += w->sg[d];
        if (++c->idx[d] < w->shape[d]) return;
        c->ox -= w->sx[d] * w->shape[d];
        c->og -= w->sg[d] * w->shape[d];
        c->idx[d] = 0;
    }
}

/* Mean and Σ (x − μ)² of the group at offset `at` in x. */
static void group_moments(const nbi_groups *g, const float *x, int64_t at, double *mu, double *ss) {
    cursor r;
    double s = 0.0;
    cur_reset(&r);
    for (int64_t j = 0; j < g->N; j++, cur_next(&g->red, &r)) s += x[at + r.ox];
    double m = s / (double)g->N, q = 0.0;
    cur_reset(&r);
    for (int64_t j = 0; j < g->N; j++, cur_next(&g->red, &r)) {
        double d = x[at + r.ox] - m;
        q += d * d;
    }
    *mu = m;
    *ss = q;
}

void nbi_ref_moments_var(const nbi_groups *g, const float *x, double dof, int is_std, float *y) {
    cursor k;
    cur_reset(&k);
    for (int64_t o = 0; o < g->nout; o++, cur_next(&g->kept, &k)) {
        double mu, ss;
        group_moments(g, x, k.ox, &mu, &ss);
        double v = ss / dof;
        y[o] = (float)(is_std ? sqrt(v) : v);
    }
}

void nbi_ref_moments_var_bwd(const nbi_groups *g, const float *x, const float *gy, double dof,
                             int is_std, float *gx) {
    cursor k, r;
    cur_reset(&k);
    for (int64_t o = 0; o < g->nout; o++, cur_next(&g->kept, &k)) {
        double mu, ss;
        group_moments(g, x, k.ox, &mu, &ss);
        double coef;
        if (is_std) {
            double sd = sqrt(ss / dof);
            coef = sd > 0.0 ? gy[o] / (dof * sd) : 0.0;
        } else {
            coef = 2.0 * gy[o] / dof;
        }
        cur_reset(&r);
        for (int64_t j = 0; j < g->N; j++, cur_next(&g->red, &r))
            gx[k.og + r.og] += (float)(coef * (x[k.ox + r.ox] - mu));
    }
}

/* ---- covariance and correlation of one [N, V] item (observations in rows) ----------------
 *   Xc = X − column means,  C = Xcᵀ Xc / dof,  corr_ab = C_ab / sqrt(C_aa C_bb)
 *   backward of C:  dX += Xc (G + Gᵀ) / dof
 * in double; scratch holds N·V + V·V doubles. */

/* Xc (N×V, double): x (strides rs, cs) minus its column means */
static void centred(int64_t N, int64_t V, const float *x, int64_t rs, int64_t cs, double *xc) {
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < V; j++) xc[i * V + j] = x[i * rs + j * cs];
    for (int64_t j = 0; j < V; j++) {
        double m = 0.0;
        for (int64_t i = 0; i < N; i++) m += xc[i * V + j];
        m /= (double)N;
        for (int64_t i = 0; i < N; i++) xc[i * V + j] -= m;
    }
}

int64_t nbi_ref_cov(int corr, int64_t N, int64_t V, const float *x, int64_t rs, int64_t cs,
                    double dof, double *scratch, float *y) {
    double *xc = scratch, *c = scratch + N * V;
    centred(N, V, x, rs, cs, xc);
    for (int64_t a = 0; a < V; a++) /* C = Xcᵀ Xc / dof, symmetric */
        for (int64_t b = a; b < V; b++) {
            double s = 0.0;
            for (int64_t i = 0; i < N; i++) s += xc[i * V + a] * xc[i * V + b];
            c[a * V + b] = c[b * V + a] = s / dof;
        }
    if (!corr) {
        for (int64_t i = 0; i < V * V; i++) y[i] = (float)c[i];
        return -1;
    }
    for (int64_t j = 0; j < V; j++)
        if (!(c[j * V + j] > 0.0)) return j; /* zero variance: no correlation */
    for (int64_t a = 0; a < V; a++)
        for (int64_t b = 0; b < V; b++)
            y[a * V + b] =
                a == b ? 1.0f : (float)(c[a * V + b] / sqrt(c[a * V + a] * c[b * V + b]));
    return -1;
}

void nbi_ref_cov_bwd(int64_t N, int64_t V, const float *x, int64_t rs, int64_t cs, const float *G,
                     double dof, double *scratch, float *gx) {
    double *xc = scratch, *gs = scratch + N * V;
    centred(N, V, x, rs, cs, xc);
    for (int64_t a = 0; a < V; a++)
        for (int64_t b = 0; b < V; b++) gs[a * V + b] = ((double)G[a * V + b] + G[b * V + a]) / dof;
    for (int64_t i = 0; i < N; i++)
        for (int64_t b = 0; b < V; b++) {
            double s = 0.0;
            for (int64_t a = 0; a < V; a++) s += xc[i * V + a] * gs[a * V + b];
            gx[i * V + b] += (float)s;
        }
}
