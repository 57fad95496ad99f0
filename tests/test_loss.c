/* test_loss — the losses and the softmax family on hand-computed values: every loss under
 * each reduction (forward and gradients), the error messages (shape mismatch names the op
 * and both shapes, bad labels, wrong dtypes, bad reductions), and softmax's stability. */
#include "nbtest.h"

/* A [n] f32 tensor from values, requiring a gradient when rg. */
static nb_tensor *vec(nb_ctx *ctx, int64_t n, const float *v, int rg) {
    nb_tensor *t = nb_tensor_copy_of(ctx, v, 1, &n);
    if (t && rg) nb_tensor_set_requires_grad(t, 1);
    return t;
}

static void check_vals(const nb_tensor *t, const float *want, int64_t n, double tol) {
    CHECK_PTR(t);
    if (!t) return;
    CHECK(t->numel == n);
    for (int64_t i = 0; i < n && i < t->numel; i++) CHECK_CLOSE(nb_f32(t)[i], want[i], tol, tol);
}

/* The error message must contain every one of the given fragments. */
static void check_msg(const char *const *frags, int n) {
    const char *m = nb_last_error();
    for (int i = 0; i < n; i++)
        CHECK_MSG(strstr(m, frags[i]) != NULL, "message \"%s\" lacks \"%s\"", m, frags[i]);
}

/* ---- mse -------------------------------------------------------------------------------- */
/* p = [1, 2, 3, 4], t = [0, 2, 5, 3.5]: d = [1, 0, -2, 0.5], d² = [1, 0, 4, 0.25]. */
static const float P4[] = {1, 2, 3, 4}, T4[] = {0, 2, 5, 3.5f};

static void test_mse_values(void) {
    static const struct {
        nb_reduction r;
        float loss[4];
        int64_t n;
        float gp[4]; /* dL/dp for L = sum of the output */
    } cases[] = {
        {NB_REDUCE_MEAN, {1.3125f}, 1, {0.5f, 0.0f, -1.0f, 0.25f}},
        {NB_REDUCE_SUM, {5.25f}, 1, {2.0f, 0.0f, -4.0f, 1.0f}},
        {NB_REDUCE_NONE, {1, 0, 4, 0.25f}, 4, {2.0f, 0.0f, -4.0f, 1.0f}},
    };
    for (int c = 0; c < 3; c++) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_tensor *p = vec(ctx, 4, P4, 1), *t = vec(ctx, 4, T4, 1);
        nb_tensor *l = nb_mse_loss(ctx, p, t, cases[c].r);
        check_vals(l, cases[c].loss, cases[c].n, 1e-7);
        if (l && cases[c].r != NB_REDUCE_NONE) CHECK(l->rank == 0);
        if (l) {
            nb_tensor *s = l;
            if (cases[c].r == NB_REDUCE_NONE) {
                nb_tensor *ones = nb_ones(ctx, 1, (int64_t[]){4});
                CHECK_OK(nb_backward_with(ctx, l, ones));
            } else {
                CHECK_OK(nb_backward(ctx, s));
            }
            check_vals(p->grad, cases[c].gp, 4, 1e-7);
            float neg[4];
            for (int i = 0; i < 4; i++) neg[i] = -cases[c].gp[i];
            check_vals(t->grad, neg, 4, 1e-7); /* the target gets the opposite gradient */
        }
        nb_ctx_free(ctx);
    }
}

/* One loss call on [n] (pointwise) or [N, C] + labels (class losses) under reduction r:
 * checks the loss and, for L = Σ output, the gradients of pred (and of target when gt). */
typedef nb_tensor *(*loss_fn)(nb_ctx *, nb_tensor *, nb_tensor *, nb_reduction);
typedef struct loss_case {
    loss_fn fn;
    int rank;          /* 1: pointwise [n] with f32 target; 2: [N, C] with i32 labels [N] */
    int64_t d0, d1;
    const float *p, *t; /* t: target values, or labels as floats */
    nb_reduction r;
    const float *loss, *gp, *gt; /* gt NULL: not checked */
    double tol;
} loss_case;

static void run_loss_case(const loss_case *c) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *p, *t;
    int64_t n = c->rank == 1 ? c->d0 : c->d0 * c->d1;
    if (c->rank == 1) {
        p = vec(ctx, c->d0, c->p, 1);
        t = vec(ctx, c->d0, c->t, c->gt != NULL);
    } else {
        p = nb_tensor_copy_of(ctx, c->p, 2, (int64_t[]){c->d0, c->d1});
        nb_tensor_set_requires_grad(p, 1);
        t = nb_tensor_new(ctx, NB_I32, 1, &c->d0);
        for (int64_t i = 0; i < c->d0; i++) nb_i32(t)[i] = (int32_t)c->t[i];
    }
    nb_tensor *l = c->fn(ctx, p, t, c->r);
    int64_t nl = c->r != NB_REDUCE_NONE ? 1 : c->d0;
    check_vals(l, c->loss, nl, c->tol);
    if (l) {
        CHECK(l->rank == (c->r == NB_REDUCE_NONE ? 1 : 0));
        nb_tensor *ones = nb_ones(ctx, l->rank, l->shape);
        CHECK_OK(nb_backward_with(ctx, l, ones));
        check_vals(p->grad, c->gp, n, c->tol);
        if (c->gt) check_vals(t->grad, c->gt, c->d0, c->tol);
    }
    nb_ctx_free(ctx);
}

/* l1: |d| = [1, 0, 2, 0.5]; the gradient is sign(p - t), 0 at p = t. */
static void test_l1_values(void) {
    static const float gs[] = {1, 0, -1, 1}, gsn[] = {-1, 0, 1, -1}, gm[] = {.25f, 0, -.25f, .25f},
                       gmn[] = {-.25f, 0, .25f, -.25f};
    const loss_case cs[] = {
        {nb_l1_loss, 1, 4, 0, P4, T4, NB_REDUCE_MEAN, (float[]){0.875f}, gm, gmn, 1e-7},
        {nb_l1_loss, 1, 4, 0, P4, T4, NB_REDUCE_SUM, (float[]){3.5f}, gs, gsn, 1e-7},
        {nb_l1_loss, 1, 4, 0, P4, T4, NB_REDUCE_NONE, (float[]){1, 0, 2, 0.5f}, gs, gsn, 1e-7},
    };
    for (int i = 0; i < 3; i++) run_loss_case(&cs[i]);
}

/* bce at p = [0.5, 0.25, 1, 0], t = [1, 0, 1, 1]: ℓ = [ln 2, -ln 0.75, 0, 100] (the log of
 * p = 0 is clamped at -100). ∂ℓ/∂p = (p - t) / max(p (1 - p), 1e-12) = [-2, 4/3, 0, -1e12];
 * ∂ℓ/∂t = log(1 - p) - log p, clamped: [0, ln 3, -100, 100] (PyTorch: ∓inf at the edges). */
static void test_bce_values(void) {
    static const float p[] = {0.5f, 0.25f, 1.0f, 0.0f}, t[] = {1, 0, 1, 1};
    static const float none[] = {0.693147181f, 0.287682072f, 0.0f, 100.0f};
    static const float gs[] = {-2.0f, 4.0f / 3.0f, 0.0f, -1e12f},
                       gts[] = {0.0f, 1.09861229f, -100.0f, 100.0f};
    float gm[4], gtm[4];
    for (int i = 0; i < 4; i++) {
        gm[i] = gs[i] / 4;
        gtm[i] = gts[i] / 4;
    }
    const loss_case cs[] = {
        {nb_bce_loss, 1, 4, 0, p, t, NB_REDUCE_MEAN, (float[]){25.2452070f}, gm, gtm, 1e-6},
        {nb_bce_loss, 1, 4, 0, p, t, NB_REDUCE_SUM, (float[]){100.980829f}, gs, gts, 1e-6},
        {nb_bce_loss, 1, 4, 0, p, t, NB_REDUCE_NONE, none, gs, gts, 1e-6},
    };
    for (int i = 0; i < 3; i++) run_loss_case(&cs[i]);
}

/* bce from logits x = [0, 2, -3, 50, -100], t = [1, 0, 0.5, 1, 0]:
 * ℓ = max(x, 0) - x t + log(1 + exp(-|x|)) = [ln 2, 2 + log1p(e⁻²), 1.5 + log1p(e⁻³), ~0, ~0]
 * (no overflow at ±50, ±100); ∂ℓ/∂x = σ(x) - t; ∂ℓ/∂t = -x. */
static void test_bce_logits_values(void) {
    static const float x[] = {0, 2, -3, 50, -100}, t[] = {1, 0, 0.5f, 1, 0};
    static const float none[] = {0.693147181f, 2.12692801f, 1.54858735f, 0.0f, 0.0f};
    static const float gs[] = {-0.5f, 0.880797078f, -0.452574127f, 0.0f, 0.0f},
                       gts[] = {0, -2, 3, -50, 100};
    float gm[5], gtm[5];
    for (int i = 0; i < 5; i++) {
        gm[i] = gs[i] / 5;
        gtm[i] = gts[i] / 5;
    }
    const loss_case cs[] = {
        {nb_bce_logits_loss, 1, 5, 0, x, t, NB_REDUCE_MEAN, (float[]){0.873732567f}, gm, gtm, 1e-6},
        {nb_bce_logits_loss, 1, 5, 0, x, t, NB_REDUCE_SUM, (float[]){4.36866284f}, gs, gts, 1e-6},
        {nb_bce_logits_loss, 1, 5, 0, x, t, NB_REDUCE_NONE, none, gs, gts, 1e-6},
    };
    for (int i = 0; i < 3; i++) run_loss_case(&cs[i]);
}

/* cross-entropy of [[0, 0, 0], [1, 2, 3]] with labels [2, 0]:
 * ℓ = [ln 3, ln(e + e² + e³) - 1]; ∂ℓ/∂x = softmax(x) - onehot. */
static void test_cross_entropy_values(void) {
    static const float x[] = {0, 0, 0, 1, 2, 3}, y[] = {2, 0};
    static const float s0 = 1.0f / 3.0f, a = 0.0900305732f, b = 0.244728471f, c = 0.665240956f;
    static const float gs[] = {s0, s0, s0 - 1.0f, a - 1.0f, b, c};
    float gm[6];
    for (int i = 0; i < 6; i++) gm[i] = gs[i] / 2;
    const loss_case cs[] = {
        {nb_cross_entropy, 2, 2, 3, x, y, NB_REDUCE_MEAN, (float[]){1.75310910f}, gm, NULL, 1e-6},
        {nb_cross_entropy, 2, 2, 3, x, y, NB_REDUCE_SUM, (float[]){3.50621819f}, gs, NULL, 1e-6},
        {nb_cross_entropy, 2, 2, 3, x, y, NB_REDUCE_NONE, (float[]){1.09861229f, 2.40760596f}, gs,
         NULL, 1e-6},
        /* large logits: log-sum-exp is shifted by the row maximum, no overflow */
        {nb_cross_entropy, 2, 1, 2, (float[]){1000, 1001}, (float[]){1}, NB_REDUCE_MEAN,
         (float[]){0.313261688f}, (float[]){0.268941421f, -0.268941421f}, NULL, 1e-6},
    };
    for (int i = 0; i < 4; i++) run_loss_case(&cs[i]);
}

/* nll of log-probabilities [[-1, -2], [-0.5, -3]] with labels [1, 0]: ℓ = [2, 0.5]. */
static void test_nll_values(void) {
    static const float x[] = {-1, -2, -0.5f, -3}, y[] = {1, 0};
    const loss_case cs[] = {
        {nb_nll_loss, 2, 2, 2, x, y, NB_REDUCE_MEAN, (float[]){1.25f}, (float[]){0, -.5f, -.5f, 0},
         NULL, 1e-7},
        {nb_nll_loss, 2, 2, 2, x, y, NB_REDUCE_SUM, (float[]){2.5f}, (float[]){0, -1, -1, 0}, NULL,
         1e-7},
        {nb_nll_loss, 2, 2, 2, x, y, NB_REDUCE_NONE, (float[]){2, 0.5f}, (float[]){0, -1, -1, 0},
         NULL, 1e-7},
    };
    for (int i = 0; i < 3; i++) run_loss_case(&cs[i]);
}

/* Probabilities outside [0, 1] are an error naming the op, the element and its value. */
static void test_bce_range_error(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *p = vec(ctx, 3, (float[]){0.5f, 1.5f, -1.0f}, 1);
    nb_tensor *t = vec(ctx, 3, (float[]){1, 0, 1}, 0);
    CHECK(nb_bce_loss(ctx, p, t, NB_REDUCE_MEAN) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_ARG);
    check_msg((const char *[]){"bce_loss", "[0, 1]", "element [1]", "1.5", "nb_sigmoid"}, 5);
    nb_ctx_free(ctx);

    ctx = nb_ctx_new(NULL);
    p = vec(ctx, 2, (float[]){0.5f, NAN}, 0);
    t = vec(ctx, 2, (float[]){1, 0}, 0);
    CHECK(nb_bce_loss(ctx, p, t, NB_REDUCE_SUM) == NULL);
    check_msg((const char *[]){"bce_loss", "element [1]", "nan"}, 3);
    nb_ctx_free(ctx);
}

/* Labels: out of range names the sample and the value; wrong dtype or shape names both
 * inputs; logits must be [N, C]. */
static void test_label_errors(void) {
    static const int32_t bad[][2] = {{0, 3}, {-1, 0}};
    static const char *const want[][3] = {{"sample 1", "is 3", "[0, 3)"}, {"sample 0", "is -1", "[0, 3)"}};
    for (int c = 0; c < 2; c++) {
        for (int which = 0; which < 2; which++) {
            nb_ctx *ctx = nb_ctx_new(NULL);
            nb_tensor *x = nb_zeros(ctx, 2, (int64_t[]){2, 3});
            nb_tensor *y = nb_tensor_new(ctx, NB_I32, 1, (int64_t[]){2});
            nb_i32(y)[0] = bad[c][0];
            nb_i32(y)[1] = bad[c][1];
            nb_tensor *l = which ? nb_nll_loss(ctx, x, y, NB_REDUCE_MEAN)
                                 : nb_cross_entropy(ctx, x, y, NB_REDUCE_MEAN);
            CHECK(l == NULL);
            CHECK(nb_ctx_status(ctx) == NB_ERR_ARG);
            check_msg((const char *[]){which ? "nll_loss" : "cross_entropy", want[c][0],
                                       want[c][1], want[c][2]},
                      4);
            nb_ctx_free(ctx);
        }
    }
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(ctx, 2, (int64_t[]){2, 3});
    nb_tensor *yf = nb_zeros(ctx, 1, (int64_t[]){2});
    CHECK(nb_cross_entropy(ctx, x, yf, NB_REDUCE_MEAN) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    check_msg((const char *[]){"cross_entropy", "i32", "f32[2,3]", "f32[2]"}, 4);
    nb_ctx_free(ctx);

    ctx = nb_ctx_new(NULL);
    x = nb_zeros(ctx, 2, (int64_t[]){2, 3});
    nb_tensor *y3 = nb_tensor_new(ctx, NB_I32, 1, (int64_t[]){3});
    memset(y3->data, 0, 3 * sizeof(int32_t));
    CHECK(nb_nll_loss(ctx, x, y3, NB_REDUCE_SUM) == NULL);
    check_msg((const char *[]){"nll_loss", "[N]", "f32[2,3]", "i32[3]"}, 4);
    nb_ctx_free(ctx);

    ctx = nb_ctx_new(NULL);
    nb_tensor *x1 = nb_zeros(ctx, 1, (int64_t[]){3});
    nb_tensor *y1 = nb_tensor_new(ctx, NB_I32, 1, (int64_t[]){1});
    nb_i32(y1)[0] = 0;
    CHECK(nb_cross_entropy(ctx, x1, y1, NB_REDUCE_MEAN) == NULL);
    check_msg((const char *[]){"cross_entropy", "[N, C]", "[1, C]", "f32[3]"}, 4);
    nb_ctx_free(ctx);
}

/* Strided (transposed-view) inputs give the values and gradients of their contiguous copies;
 * empty inputs give PyTorch's answers (mean NaN, sum 0) without touching memory. */
static void test_strided_and_empty(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    float pd[6] = {1, 2, 3, 4, 5, 6}; /* [2, 3] row-major, viewed as [3, 2] */
    nb_tensor *pv = nb_tensor_from(ctx, NB_F32, pd, 2, (int64_t[]){3, 2});
    CHECK_PTR(pv);
    if (pv) {
        pv->stride[0] = 1;
        pv->stride[1] = 3;
        nb_tensor_set_requires_grad(pv, 1);
        /* pv = [[1, 4], [2, 5], [3, 6]]; target 0: mse sum = 91, grad = 2 pv (as [3, 2]) */
        nb_tensor *t = nb_zeros(ctx, 2, (int64_t[]){3, 2});
        nb_tensor *l = nb_mse_loss(ctx, pv, t, NB_REDUCE_SUM);
        check_vals(l, (float[]){91.0f}, 1, 0.0);
        if (l) CHECK_OK(nb_backward(ctx, l));
        if (pv->grad) check_vals(pv->grad, (float[]){2, 8, 4, 10, 6, 12}, 6, 0.0);
        CHECK(pv->grad != NULL);
    }
    nb_ctx_free(ctx);

    /* nll and cross_entropy on a transposed [3, 2] view, labels [1, 0, 1] */
    for (int ce = 0; ce < 2; ce++) {
        ctx = nb_ctx_new(NULL);
        float xd[6] = {-1, -2, -3, -4, -5, -6};
        nb_tensor *xv = nb_tensor_from(ctx, NB_F32, xd, 2, (int64_t[]){3, 2});
        nb_tensor *xc = nb_tensor_copy_of(ctx, (float[]){-1, -4, -2, -5, -3, -6}, 2,
                                          (int64_t[]){3, 2});
        nb_tensor *y = nb_tensor_new(ctx, NB_I32, 1, (int64_t[]){3});
        if (xv && xc && y) {
            xv->stride[0] = 1;
            xv->stride[1] = 3;
            nb_i32(y)[0] = 1;
            nb_i32(y)[1] = 0;
            nb_i32(y)[2] = 1;
            nb_tensor *a = ce ? nb_cross_entropy(ctx, xv, y, NB_REDUCE_NONE)
                              : nb_nll_loss(ctx, xv, y, NB_REDUCE_NONE);
            nb_tensor *b = ce ? nb_cross_entropy(ctx, xc, y, NB_REDUCE_NONE)
                              : nb_nll_loss(ctx, xc, y, NB_REDUCE_NONE);
            CHECK_PTR(a);
            CHECK_PTR(b);
            if (a && b) check_vals(a, nb_f32(b), 3, 0.0);
            if (!ce && a) check_vals(a, (float[]){4, 2, 6}, 3, 0.0);
        }
        nb_ctx_free(ctx);
    }

    ctx = nb_ctx_new(NULL);
    nb_tensor *e = nb_zeros(ctx, 2, (int64_t[]){0, 3});
    nb_tensor *m = nb_mse_loss(ctx, e, e, NB_REDUCE_MEAN), *s = nb_mse_loss(ctx, e, e, NB_REDUCE_SUM);
    CHECK_PTR(m);
    CHECK_PTR(s);
    if (m) CHECK(isnan(nb_item(m)));
    if (s) CHECK(nb_item(s) == 0.0f);
    nb_tensor *lab = nb_tensor_new(ctx, NB_I32, 1, (int64_t[]){0});
    nb_tensor *c = nb_cross_entropy(ctx, e, lab, NB_REDUCE_SUM);
    nb_tensor *cn = nb_cross_entropy(ctx, e, lab, NB_REDUCE_NONE);
    CHECK_PTR(c);
    CHECK_PTR(cn);
    if (c) CHECK(nb_item(c) == 0.0f);
    if (cn) CHECK(cn->numel == 0);
    nb_ctx_free(ctx);
}

/* Shape mismatch: no silent broadcasting; the message names the op and both shapes. */
static void test_pointwise_shape_errors(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *p = nb_zeros(ctx, 2, (int64_t[]){4, 1});
    nb_tensor *t = nb_zeros(ctx, 1, (int64_t[]){4});
    CHECK(nb_mse_loss(ctx, p, t, NB_REDUCE_MEAN) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    check_msg((const char *[]){"mse_loss", "f32[4,1]", "f32[4]", "broadcast"}, 4);
    nb_ctx_free(ctx);

    ctx = nb_ctx_new(NULL);
    t = nb_zeros(ctx, 1, (int64_t[]){4});
    nb_tensor *i = nb_tensor_new(ctx, NB_I32, 1, (int64_t[]){4});
    CHECK(nb_mse_loss(ctx, t, i, NB_REDUCE_SUM) == NULL);
    check_msg((const char *[]){"mse_loss", "f32", "i32[4]"}, 3);
    nb_ctx_free(ctx);

    ctx = nb_ctx_new(NULL);
    t = nb_zeros(ctx, 1, (int64_t[]){4});
    CHECK(nb_mse_loss(ctx, t, t, (nb_reduction)7) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_ARG);
    check_msg((const char *[]){"mse_loss", "reduction 7"}, 2);
    nb_ctx_free(ctx);
}

/* ---- softmax ------------------------------------------------------------------------- */
/* softmax([1, 2, 3]) = e^(x - 3) / Σ = [0.0900306, 0.2447285, 0.6652410] */
static const float SM3[] = {0.0900305732f, 0.244728471f, 0.665240956f};

/* Along the last axis and along axis 0 of [[1, 2, 3], [3, 1, 2]]ᵀ-style data; rows sum to 1
 * and log_softmax = log(softmax). */
static void test_softmax_values(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_copy_of(ctx, (float[]){1, 2, 3, 3, 1, 2}, 2, (int64_t[]){2, 3});
    nb_tensor *y = nb_softmax(ctx, x, -1);
    check_vals(y, (float[]){SM3[0], SM3[1], SM3[2], SM3[2], SM3[0], SM3[1]}, 6, 1e-7);
    nb_tensor *ly = nb_log_softmax(ctx, x, 1);
    float lw[6];
    for (int i = 0; i < 6; i++) lw[i] = logf(nb_f32(y)[i]);
    check_vals(ly, lw, 6, 2e-7);
    /* axis 0 of the [3, 2] matrix whose columns are the rows above */
    nb_tensor *xt = nb_tensor_copy_of(ctx, (float[]){1, 3, 2, 1, 3, 2}, 2, (int64_t[]){3, 2});
    nb_tensor *y0 = nb_softmax(ctx, xt, 0);
    nb_tensor *y0n = nb_softmax(ctx, xt, -2);
    check_vals(y0, (float[]){SM3[0], SM3[2], SM3[1], SM3[0], SM3[2], SM3[1]}, 6, 1e-7);
    check_vals(y0n, nb_f32(y0), 6, 0.0);
    /* a rank-3 tensor along its middle axis: every [.., :, ..] fibre sums to 1 */
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    nb_tensor *x3 = nb_randn(ctx, 3, (int64_t[]){3, 5, 4}, 0.0f, 3.0f, &rng);
    nb_tensor *y3 = nb_softmax(ctx, x3, 1);
    CHECK_PTR(y3);
    for (int a = 0; y3 && a < 3; a++)
        for (int c = 0; c < 4; c++) {
            double s = 0.0;
            for (int b = 0; b < 5; b++) s += nb_f32(y3)[(a * 5 + b) * 4 + c];
            CHECK_CLOSE(s, 1.0, 1e-6, 0.0);
        }
    nb_ctx_free(ctx);
}

/* Large logits: exp(1000) overflows f32, the max shift keeps it finite; no NaN. */
static void test_softmax_stable(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_copy_of(ctx, (float[]){1000, 1001, -1000, -1001}, 2,
                                     (int64_t[]){2, 2});
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *y = nb_softmax(ctx, x, -1), *ly = nb_log_softmax(ctx, x, -1);
    check_vals(y, (float[]){0.268941421f, 0.731058579f, 0.731058579f, 0.268941421f}, 4, 1e-7);
    check_vals(ly, (float[]){-1.31326169f, -0.313261688f, -0.313261688f, -1.31326169f}, 4, 1e-7);
    /* gradient of Σ y ⊙ w for w = [1, 0, 0, 0] through both ops: finite */
    nb_tensor *w = nb_tensor_copy_of(ctx, (float[]){1, 0, 0, 0}, 2, (int64_t[]){2, 2});
    nb_tensor *s = nb_add(ctx, nb_mul(ctx, y, w), nb_mul(ctx, ly, w));
    CHECK_OK(nb_backward_with(ctx, s, nb_ones(ctx, 2, (int64_t[]){2, 2})));
    /* d/dx0 [y0 + ly0] = y0 (1 - y0) + (1 - y0); d/dx1 = -y0 y1 - y1 */
    float y0 = 0.268941421f, y1 = 0.731058579f;
    if (x->grad)
        check_vals(x->grad, (float[]){y0 * (1 - y0) + (1 - y0), -y0 * y1 - y1, 0, 0}, 4, 1e-6);
    else
        CHECK(x->grad != NULL);
    nb_ctx_free(ctx);
}

/* Along a middle axis with an inner size (19) spanning several of softmax.c's column tiles:
 * forward and backward against the formulas evaluated here in double, fibre by fibre. */
static void test_softmax_inner_axis(void) {
    enum { A = 3, C = 5, I = 19 };
    for (int lg = 0; lg < 2; lg++) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_rng rng;
        nb_rng_seed(&rng, 11);
        nb_tensor *x = nb_randn(ctx, 3, (int64_t[]){A, C, I}, 0.0f, 2.0f, &rng);
        nb_tensor *gy = nb_randn(ctx, 3, (int64_t[]){A, C, I}, 0.0f, 1.0f, &rng);
        nb_tensor_set_requires_grad(x, 1);
        nb_tensor *y = lg ? nb_log_softmax(ctx, x, -2) : nb_softmax(ctx, x, 1);
        CHECK_PTR(y);
        if (!y) {
            nb_ctx_free(ctx);
            continue;
        }
        CHECK_OK(nb_backward_with(ctx, y, gy));
        const float *xp = nb_f32(x), *yp = nb_f32(y), *g = nb_f32(gy);
        for (int a = 0; a < A; a++)
            for (int i = 0; i < I; i++) {
                double m = -INFINITY, s = 0.0, sg = 0.0, sgy = 0.0, p[C];
#define AT(c) (((int64_t)a * C + (c)) * I + i)
                for (int c = 0; c < C; c++) m = xp[AT(c)] > m ? xp[AT(c)] : m;
                for (int c = 0; c < C; c++) s += exp(xp[AT(c)] - m);
                for (int c = 0; c < C; c++) {
                    p[c] = exp(xp[AT(c)] - m) / s;
                    sg += g[AT(c)];
                    sgy += g[AT(c)] * p[c];
                }
                for (int c = 0; c < C; c++) {
                    double want = lg ? (xp[AT(c)] - m) - log(s) : p[c];
                    double gw = lg ? g[AT(c)] - p[c] * sg : p[c] * (g[AT(c)] - sgy);
                    CHECK_CLOSE(yp[AT(c)], want, 1e-6, 1e-6);
                    if (x->grad) CHECK_CLOSE(nb_f32(x->grad)[AT(c)], gw, 1e-6, 1e-5);
                }
#undef AT
            }
        CHECK(x->grad != NULL);
        nb_ctx_free(ctx);
    }
}

/* A non-contiguous input (a transposed view) gives the same as its contiguous copy. */
static void test_softmax_strided(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    float data[6] = {1, 2, 3, 3, 1, 2}; /* [2, 3] row-major, viewed as its [3, 2] transpose */
    nb_tensor *v = nb_tensor_from(ctx, NB_F32, data, 2, (int64_t[]){3, 2});
    CHECK_PTR(v);
    if (v) {
        v->stride[0] = 1;
        v->stride[1] = 3;
        CHECK(!nb_tensor_is_contiguous(v));
        nb_tensor *y = nb_softmax(ctx, v, 0); /* along the original rows */
        check_vals(y, (float[]){SM3[0], SM3[2], SM3[1], SM3[0], SM3[2], SM3[1]}, 6, 1e-7);
        nb_tensor *ly = nb_log_softmax(ctx, v, 1);
        float w[6];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) {
                float a = data[j * 3 + i], b = data[(1 - j) * 3 + i];
                float m = a > b ? a : b;
                w[i * 2 + j] = (a - m) - logf(expf(a - m) + expf(b - m));
            }
        check_vals(ly, w, 6, 1e-7);
    }
    nb_ctx_free(ctx);
}

static void test_softmax_errors(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_zeros(ctx, 2, (int64_t[]){2, 3});
    CHECK(nb_softmax(ctx, x, 2) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    check_msg((const char *[]){"softmax", "axis 2", "rank 2", "-2..1", "f32[2,3]"}, 5);
    nb_ctx_free(ctx);
    ctx = nb_ctx_new(NULL);
    x = nb_zeros(ctx, 2, (int64_t[]){2, 3});
    CHECK(nb_log_softmax(ctx, x, -3) == NULL);
    check_msg((const char *[]){"log_softmax", "axis -3"}, 2);
    nb_ctx_free(ctx);
    ctx = nb_ctx_new(NULL);
    nb_tensor *xi = nb_tensor_new(ctx, NB_I32, 1, (int64_t[]){3});
    CHECK(nb_softmax(ctx, xi, 0) == NULL);
    check_msg((const char *[]){"softmax", "f32", "i32[3]"}, 3);
    nb_ctx_free(ctx);
}

static const nbt_case cases[] = {
    {"mse_values", test_mse_values},
    {"l1_values", test_l1_values},
    {"bce_values", test_bce_values},
    {"bce_logits_values", test_bce_logits_values},
    {"cross_entropy_values", test_cross_entropy_values},
    {"nll_values", test_nll_values},
    {"strided_and_empty", test_strided_and_empty},
    {"pointwise_shape_errors", test_pointwise_shape_errors},
    {"bce_range_error", test_bce_range_error},
    {"label_errors", test_label_errors},
    {"softmax_values", test_softmax_values},
    {"softmax_stable", test_softmax_stable},
    {"softmax_inner_axis", test_softmax_inner_axis},
    {"softmax_strided", test_softmax_strided},
    {"softmax_errors", test_softmax_errors},
};
NBT_MAIN(cases)
