/* autograd/gradcheck.c — checks an op's backward against finite differences.
 *
 * The probe is L = Σ w ⊙ y for a fixed random w, accumulated in double precision. The
 * analytic gradient is one backward pass seeded with w. The numeric one perturbs each input
 * element by ±h and ±2h (h = 2^-6; inputs lie on a 2^-10 grid, so every perturbed value is
 * exact in f32) and uses the fourth-order central difference
 *     dL/dx ≈ (8 (L(x+h) - L(x-h)) - (L(x+2h) - L(x-2h))) / 12h,
 * whose truncation error (h⁴) is far below f32 rounding. Inputs are generated clear of kinks
 * (relu at 0, clamp at its bounds) by more than 2h, so the stencil never straddles one. */
#include "autograd/autograd.h"
#include "autograd/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define GRID 0x1.0p-10f
#define H 0x1.0p-6

void nbi_gen_shape(nb_rng *rng, int r, int64_t maxd, int64_t *shape) {
    for (int i = 0; i < r; i++) shape[i] = 1 + (int64_t)nb_rng_below(rng, (uint64_t)maxd);
}

nb_tensor *nbi_gen_input(nb_ctx *ctx, nb_rng *rng, int rank, const int64_t *shape, float lo,
                         float hi, const float *kinks, int nk, float gap) {
    nb_tensor *t = nb_zeros(ctx, rank, shape);
    if (!t) return NULL;
    float *p = t->data;
    uint64_t steps = (uint64_t)((hi - lo) / GRID);
    if (steps == 0) steps = 1;
    for (int64_t i = 0; i < t->numel; i++) {
        for (int tries = 0;; tries++) {
            float v = lo + (float)nb_rng_below(rng, steps) * GRID;
            bool ok = true;
            for (int k = 0; k < nk; k++)
                if (fabsf(v - kinks[k]) < gap) ok = false;
            if (ok || tries > 1000) {
                p[i] = v;
                break;
            }
        }
    }
    nb_tensor_set_requires_grad(t, 1);
    return t;
}

void nbi_gen_ladder(nb_tensor *x, float start, float step, nb_rng *rng) {
    float *p = x->data;
    for (int64_t i = 0; i < x->numel; i++) p[i] = start + step * (float)i;
    for (int64_t i = x->numel - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)nb_rng_below(rng, (uint64_t)i + 1);
        float t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

void nbi_gen_broadcast_pair(nb_rng *rng, int k, int *ra, int64_t *sa, int *rb, int64_t *sb) {
    int64_t d[3];
    nbi_gen_shape(rng, 3, 4, d);
    d[0] += 1; /* keep some dimension > 1 so broadcasting is exercised */
    switch (k % 5) {
    case 0: /* same shape */
        *ra = *rb = 2;
        sa[0] = sb[0] = d[0];
        sa[1] = sb[1] = d[1];
        break;
    case 1: /* b is a row broadcast down the rows: [m,n] with [n] */
        *ra = 2;
        sa[0] = d[0];
        sa[1] = d[1];
        *rb = 1;
        sb[0] = d[1];
        break;
    case 2: /* a broadcast: [m,1] with [m,n] */
        *ra = 2;
        sa[0] = d[0];
        sa[1] = 1;
        *rb = 2;
        sb[0] = d[0];
        sb[1] = d[1];
        break;
    case 3: /* both broadcast, different ranks: [p,1,n] with [m,1] */
        *ra = 3;
        sa[0] = d[2];
        sa[1] = 1;
        sa[2] = d[1];
        *rb = 2;
        sb[0] = d[0];
        sb[1] = 1;
        break;
    default: /* scalar b */
        *ra = 2;
        sa[0] = d[0];
        sa[1] = d[1];
        *rb = 0;
        break;
    }
}

static float gap_of(const nbi_op_def *def) { return def->check.nkink ? 0.05f : 0.0f; }

nb_status nbi_gen_unary(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                        nbi_check_case *c) {
    int64_t shape[3];
    int r = 1 + k % 3;
    nbi_gen_shape(rng, r, 5, shape);
    c->n_in = 1;
    c->in[0] = nbi_gen_input(ctx, rng, r, shape, def->check.lo, def->check.hi, def->check.kink,
                             def->check.nkink, gap_of(def));
    memcpy(c->attrs.f, def->check.attr_f, sizeof c->attrs.f);
    c->has_attrs = 1;
    return c->in[0] ? NB_OK : ctx->status;
}

nb_status nbi_gen_binary(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                         nbi_check_case *c) {
    int ra, rb;
    int64_t sa[3], sb[3];
    nbi_gen_broadcast_pair(rng, k, &ra, sa, &rb, sb);
    c->n_in = 2;
    c->in[0] = nbi_gen_input(ctx, rng, ra, sa, def->check.lo, def->check.hi, def->check.kink,
                             def->check.nkink, gap_of(def));
    c->in[1] = nbi_gen_input(ctx, rng, rb, sb, def->check.lo, def->check.hi, def->check.kink,
                             def->check.nkink, gap_of(def));
    return (c->in[0] && c->in[1]) ? NB_OK : ctx->status;
}

/* L = Σ w y in double */
static double probe(const nb_tensor *y, const float *w) {
    double s = 0.0;
    if (nb_tensor_is_contiguous(y)) {
        const float *p = y->data;
        for (int64_t i = 0; i < y->numel; i++) s += (double)w[i] * (double)p[i];
        return s;
    }
    int64_t idx[NB_MAX_RANK] = {0};
    for (int64_t i = 0; i < y->numel; i++) {
        s += (double)w[i] * (double)nb_tensor_get(y, idx);
        for (int d = y->rank - 1; d >= 0; d--) {
            if (++idx[d] < y->shape[d]) break;
            idx[d] = 0;
        }
    }
    return s;
}

static nb_tensor *run(nb_ctx *ctx, nbi_check_case *c) {
    return nbi_apply(ctx, c->op_id, c->in, c->n_in, c->has_attrs ? &c->attrs : NULL);
}

nb_status nbi_gradcheck_case(int op, nbi_check_case *c, nbi_gradcheck_report *rep) {
    return nbi_gradcheck_case_on(NULL, op, c, rep);
}

nb_status nbi_gradcheck_case_on(const nbi_backend *be, int op, nbi_check_case *c,
                                nbi_gradcheck_report *rep) {
    const nbi_op_def *def = nbi_ops[op];
    c->op_id = op;
    memset(rep, 0, sizeof *rep);
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.check = -1});
    nb_ctx *scratch = nb_ctx_new(&(nb_ctx_opts){.check = -1});
    nb_status st = NB_OK;
    if (!ctx || !scratch) {
        st = NB_ERR_NOMEM;
        goto done;
    }
    if (be) ctx->be = scratch->be = be;
    nb_tensor *y = run(ctx, c);
    if (!y) {
        st = nb_ctx_status(ctx);
        goto done;
    }
    /* the probe weights: fixed by the output size */
    nb_rng wr;
    nb_rng_seed(&wr, 12345);
    nb_tensor *w = nb_rand(ctx, y->rank, y->shape, -1.0f, 1.0f, &wr);
    if (!w) {
        st = nb_ctx_status(ctx);
        goto done;
    }
    st = nb_backward_with(ctx, y, w);
    if (st != NB_OK) goto done;
    nb_ctx_set_grad(scratch, 0);
    for (int i = 0; i < c->n_in; i++) {
        nb_tensor *x = c->in[i];
        if (x->dtype != NB_F32 || !(x->flags & NB_TF_REQUIRES_GRAD)) continue;
        NBI_ASSERT(nb_tensor_is_contiguous(x));
        float *xp = x->data;
        const float *gp = x->grad ? x->grad->data : NULL;
        for (int64_t e = 0; e < x->numel; e++) {
            float x0 = xp[e];
            double L[4];
            static const double off[4] = {H, -H, 2 * H, -2 * H};
            for (int k = 0; k < 4; k++) {
                xp[e] = (float)(x0 + off[k]);
                nb_ctx_reset(scratch);
                nb_tensor *yk = run(scratch, c);
                if (!yk) {
                    xp[e] = x0;
                    st = nb_ctx_status(scratch);
                    goto done;
                }
                L[k] = probe(yk, w->data);
            }
            xp[e] = x0;
            double num = (8.0 * (L[0] - L[1]) - (L[2] - L[3])) / (12.0 * H);
            double ana = gp ? gp[e] : 0.0;
            double err = fabs(ana - num);
            double allowed = def->check.atol + def->check.rtol * fabs(num);
            rep->checked++;
            if (err - allowed > rep->worst_excess || rep->checked == 1) {
                rep->worst_excess = err - allowed;
                rep->worst_input = i;
                rep->worst_index = e;
                rep->worst_analytic = ana;
                rep->worst_numeric = num;
            }
            if (err > rep->max_abs_err) rep->max_abs_err = err;
            if (err > allowed) rep->failures++;
        }
    }
done:
    for (int i = 0; i < c->n_in; i++)
        if (c->in[i]) c->in[i]->grad = NULL; /* it lived in ctx, freed below */
    nb_ctx_free(ctx);
    nb_ctx_free(scratch);
    return st;
}
