/* test_shape_reduce — shape ops (reshape, permute, transpose, slice, concat, contiguous) and
 * reductions (sum, mean, max, argmax): exact values on hand-worked examples, views and views
 * of views, error messages, gradients (by hand, by finite differences through compositions
 * of views, and against PyTorch: tests/ref/shape_reduce.txt from gen_shape_reduce.py). */
#include "nbtest.h"

#include "fixture.h"

#include <stdbool.h>

/* ---- helpers ------------------------------------------------------------------------------- */

/* Element `flat` (row-major over t's logical shape) of any tensor, view or not. */
static float at(const nb_tensor *t, int64_t flat) {
    int64_t idx[NB_MAX_RANK] = {0};
    for (int d = t->rank - 1; d >= 0; d--) {
        idx[d] = flat % t->shape[d];
        flat /= t->shape[d];
    }
    return nb_tensor_get(t, idx);
}

/* Every element equals want[] exactly, in logical row-major order. */
#define EXPECT_VALUES(t, ...) expect_values(__LINE__, #t, t, (const float[]){__VA_ARGS__}, \
    (int64_t)(sizeof((const float[]){__VA_ARGS__}) / sizeof(float)))
static void expect_values(int line, const char *what, const nb_tensor *t, const float *want,
                          int64_t n) {
    if (!t) {
        nbt_report(__FILE__, line, "%s is NULL: %s", what, nb_last_error());
        return;
    }
    if (t->numel != n) {
        nbt_report(__FILE__, line, "%s has %lld elements, expected %lld", what,
                   (long long)t->numel, (long long)n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float v = at(t, i);
        if (!(v == want[i] || (isnan(v) && isnan(want[i])))) {
            nbt_report(__FILE__, line, "%s[%lld] = %.9g, expected %.9g", what, (long long)i,
                       (double)v, (double)want[i]);
            return;
        }
    }
}

#define EXPECT_SHAPE(t, ...) expect_shape(__LINE__, #t, t, (const int64_t[]){__VA_ARGS__}, \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
static void expect_shape(int line, const char *what, const nb_tensor *t, const int64_t *shape,
                         int rank) {
    if (!t) {
        nbt_report(__FILE__, line, "%s is NULL: %s", what, nb_last_error());
        return;
    }
    bool ok = t->rank == rank;
    for (int i = 0; ok && i < rank; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char s[96];
        nbt_report(__FILE__, line, "%s has shape %s", what, nb_shape_str(t, s, sizeof s));
    }
}

/* 0, 1, 2, ... in the given shape, a leaf that requires a gradient. */
static nb_tensor *iota(nb_ctx *ctx, int rank, const int64_t *shape) {
    nb_tensor *t = nb_zeros(ctx, rank, shape);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) nb_f32(t)[i] = (float)i;
    nb_tensor_set_requires_grad(t, 1);
    return t;
}

/* The op must fail with status `want` and a message containing each of the strings. */
#define EXPECT_ERROR(ctx, expr, want, ...) \
    expect_error(__LINE__, #expr, ctx, (expr), want, (const char *[]){__VA_ARGS__, NULL})
static void expect_error(int line, const char *what, nb_ctx *ctx, const nb_tensor *t,
                         nb_status want, const char **needles) {
    if (t) {
        nbt_report(__FILE__, line, "%s succeeded; expected %s", what, nb_status_str(want));
        return;
    }
    if (nb_ctx_status(ctx) != want)
        nbt_report(__FILE__, line, "%s: status %s, expected %s (%s)", what,
                   nb_status_str(nb_ctx_status(ctx)), nb_status_str(want), nb_last_error());
    for (int i = 0; needles[i]; i++)
        if (!strstr(nb_last_error(), needles[i]))
            nbt_report(__FILE__, line, "%s: message \"%s\" lacks \"%s\"", what, nb_last_error(),
                       needles[i]);
    nb_ctx_reset(ctx); /* clear the sticky error for the next check */
}

/* Does view v lie inside base's storage? */
static bool shares(const nb_tensor *v, const nb_tensor *base) {
    const float *p = v->data, *b = base->data;
    return p >= b && p < b + base->numel;
}

/* ---- reshape ------------------------------------------------------------------------------- */

static void test_reshape(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = iota(ctx, NB_DIMS(2, 3));
    nb_tensor *y = nb_reshape(ctx, x, NB_DIMS(3, -1));
    EXPECT_SHAPE(y, 3, 2);
    EXPECT_VALUES(y, 0, 1, 2, 3, 4, 5);
    CHECK(y && y->data == x->data && nb_tensor_is_contiguous(y)); /* a view */
    EXPECT_SHAPE(nb_reshape(ctx, x, NB_DIMS(-1)), 6);
    EXPECT_SHAPE(nb_reshape(ctx, x, NB_DIMS(1, 6, 1)), 1, 6, 1);
    nb_tensor *s = nb_reshape(ctx, nb_reshape(ctx, x, NB_DIMS(6)), NB_DIMS(2, 1, 3));
    EXPECT_VALUES(s, 0, 1, 2, 3, 4, 5);
    /* 0-d to [1] and back */
    nb_tensor *one = nb_scalar(ctx, 7.0f);
    nb_tensor *v1 = nb_reshape(ctx, one, NB_DIMS(1, 1));
    EXPECT_SHAPE(v1, 1, 1);
    nb_tensor *v0 = nb_reshape(ctx, v1, 0, NULL);
    CHECK(v0 && v0->rank == 0 && nb_item(v0) == 7.0f);

    /* A strided input is copied in its logical order: the transpose of [[0,1,2],[3,4,5]]
     * flattened is 0 3 1 4 2 5, and the gradient flows back through the copy. */
    nb_tensor *t = nb_transpose(ctx, x, 0, 1);
    nb_tensor *f = nb_reshape(ctx, t, NB_DIMS(6));
    EXPECT_VALUES(f, 0, 3, 1, 4, 2, 5);
    CHECK(f && f->data != x->data);
    nb_tensor *w = nb_arange(ctx, 10.0f, 16.0f, 1.0f); /* d/df */
    CHECK_OK(nb_backward_with(ctx, f, w));
    /* x[i][j] went to f[2j + i] */
    EXPECT_VALUES(x->grad, 10, 12, 14, 11, 13, 15);
    nb_ctx_free(ctx);
}

static void test_reshape_errors(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = iota(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_reshape(ctx, x, NB_DIMS(4, 2)), NB_ERR_SHAPE, "reshape", "[2,3]",
                 "[4,2]", "6 elements");
    x = iota(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_reshape(ctx, x, NB_DIMS(-1, -1)), NB_ERR_SHAPE, "reshape",
                 "more than one -1");
    x = iota(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_reshape(ctx, x, NB_DIMS(4, -1)), NB_ERR_SHAPE, "reshape", "[4,-1]");
    x = iota(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_reshape(ctx, x, NB_DIMS(-2, 3)), NB_ERR_SHAPE, "negative");
    x = iota(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_reshape(ctx, x, 9, (int64_t[9]){1}), NB_ERR_ARG, "reshape", "rank 9");
    /* a failed op poisons its consumers without replacing the first message */
    x = iota(ctx, NB_DIMS(2, 3));
    nb_tensor *bad = nb_reshape(ctx, x, NB_DIMS(5));
    EXPECT_ERROR(ctx, nb_sum(ctx, nb_transpose(ctx, bad, 0, 1), NB_ALL_AXES, 0), NB_ERR_SHAPE,
                 "reshape", "[5]");
    nb_ctx_free(ctx);
}

/* ---- permute and transpose ---------------------------------------------------------------- */

static void test_permute(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = iota(ctx, NB_DIMS(2, 3, 4));
    nb_tensor *p = nb_permute(ctx, x, (int[]){2, 0, -2}); /* -2 is axis 1 */
    EXPECT_SHAPE(p, 4, 2, 3);
    CHECK(p && p->data == x->data && p->stride[0] == 1 && p->stride[1] == 12 &&
          p->stride[2] == 4);
    /* p[k][i][j] = x[i][j][k] = 12 i + 4 j + k */
    EXPECT_VALUES(p, 0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11,
                  15, 19, 23);
    /* gradient: dx[i][j][k] = w[k][i][j] with w = 100 + flat index of p */
    nb_tensor *w = nb_arange(ctx, 100.0f, 124.0f, 1.0f);
    nb_tensor *wv = nb_reshape(ctx, w, NB_DIMS(4, 2, 3));
    CHECK_OK(nb_backward_with(ctx, p, wv));
    EXPECT_VALUES(x->grad, 100, 106, 112, 118, 101, 107, 113, 119, 102, 108, 114, 120, 103, 109,
                  115, 121, 104, 110, 116, 122, 105, 111, 117, 123);
    nb_ctx_reset(ctx);

    nb_tensor *m = iota(ctx, NB_DIMS(2, 3));
    nb_tensor *t = nb_transpose(ctx, m, -1, 0);
    EXPECT_SHAPE(t, 3, 2);
    EXPECT_VALUES(t, 0, 3, 1, 4, 2, 5);
    CHECK(t && !nb_tensor_is_contiguous(t));
    nb_tensor *tt = nb_transpose(ctx, t, 0, 1); /* back to m's layout */
    EXPECT_VALUES(tt, 0, 1, 2, 3, 4, 5);
    CHECK(tt && nb_tensor_is_contiguous(tt) && tt->data == m->data);
    /* a 0-d and a 1-d permute are identities */
    EXPECT_VALUES(nb_permute(ctx, nb_scalar(ctx, 2.5f), NULL), 2.5f);
    EXPECT_VALUES(nb_transpose(ctx, nb_arange(ctx, 0, 3, 1), 0, -1), 0, 1, 2);

    EXPECT_ERROR(ctx, nb_permute(ctx, m, (int[]){0, 0}), NB_ERR_SHAPE, "permute", "[0,0]",
                 "not a permutation", "f32[2,3]");
    m = iota(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_permute(ctx, m, (int[]){1, 2}), NB_ERR_SHAPE, "permute", "[1,2]");
    m = iota(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_permute(ctx, m, NULL), NB_ERR_ARG, "permute", "NULL");
    m = iota(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_transpose(ctx, m, 0, 2), NB_ERR_SHAPE, "transpose", "f32[2,3]",
                 "-2..1");
    nb_ctx_free(ctx);
}

/* Printing and copying walk a view's strides, not its storage order. */
static void test_print_and_copy_views(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *m = iota(ctx, NB_DIMS(2, 3));
    nb_tensor *t = nb_transpose(ctx, m, 0, 1);
    char buf[256];
    nb_tensor_format(t, buf, sizeof buf);
    const char *want = "array([[0., 3.],\n       [1., 4.],\n       [2., 5.]])";
    CHECK_MSG(strcmp(buf, want) == 0, "printed\n%s\nexpected\n%s", buf, want);

    /* a slice (step 2) of a permuted 3-D tensor, copied into a fresh contiguous tensor */
    nb_tensor *x = iota(ctx, NB_DIMS(2, 3, 4));
    nb_tensor *v = nb_slice(ctx, nb_permute(ctx, x, (int[]){2, 1, 0}), 0, 0, 4, 2);
    EXPECT_SHAPE(v, 2, 3, 2);
    nb_tensor *c = nb_zeros(ctx, NB_DIMS(2, 3, 2));
    CHECK_OK(nb_tensor_copy(c, v));
    /* c[k'][j][i] = x[i][j][2k'] = 12 i + 4 j + 2 k' */
    EXPECT_VALUES(c, 0, 12, 4, 16, 8, 20, 2, 14, 6, 18, 10, 22);
    /* copying INTO a view writes through to the base */
    nb_tensor *col = nb_slice(ctx, m, 1, 2, 3, 1); /* m[:, 2:3] */
    CHECK_OK(nb_tensor_copy(col, nb_full(ctx, NB_DIMS(2, 1), -1.0f)));
    EXPECT_VALUES(m, 0, 1, -1, 3, 4, -1);
    nb_tensor_format(nb_slice(ctx, t, 0, 0, 3, 2), buf, sizeof buf);
    want = "array([[ 0.,  3.],\n       [-1., -1.]])";
    CHECK_MSG(strcmp(buf, want) == 0, "printed\n%s\nexpected\n%s", buf, want);
    nb_ctx_free(ctx);
}

/* ---- slice --------------------------------------------------------------------------------- */

static void test_slice(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *v = iota(ctx, NB_DIMS(10));
    EXPECT_VALUES(nb_slice(ctx, v, 0, 2, 5, 1), 2, 3, 4);
    EXPECT_VALUES(nb_slice(ctx, v, 0, -3, 100, 1), 7, 8, 9);     /* from the end, clamped */
    EXPECT_VALUES(nb_slice(ctx, v, 0, -100, 3, 1), 0, 1, 2);     /* clamped at 0 */
    EXPECT_VALUES(nb_slice(ctx, v, 0, 1, -1, 3), 1, 4, 7);       /* stop from the end */
    EXPECT_VALUES(nb_slice(ctx, v, -1, 0, 10, 4), 0, 4, 8);
    EXPECT_VALUES(nb_slice(ctx, v, 0, 9, 10, 100), 9);
    nb_tensor *e = nb_slice(ctx, v, 0, 6, 2, 1); /* stop before start: empty */
    EXPECT_SHAPE(e, 0);
    EXPECT_SHAPE(nb_slice(ctx, v, 0, 10, 20, 1), 0);

    nb_tensor *m = iota(ctx, NB_DIMS(3, 4));
    nb_tensor *s = nb_slice(ctx, m, -1, 1, 4, 2); /* m[:, 1::2] */
    EXPECT_SHAPE(s, 3, 2);
    EXPECT_VALUES(s, 1, 3, 5, 7, 9, 11);
    CHECK(s && shares(s, m) && s->stride[0] == 4 && s->stride[1] == 2);
    /* views of views: rows 2,0 of the transpose's ... a slice of a transpose of a slice */
    nb_tensor *vv = nb_slice(ctx, nb_transpose(ctx, nb_slice(ctx, m, 0, 1, 3, 1), 0, 1), 0,
                             -1, -5, 1); /* empty: -1 > -5 after clamping? stop < start */
    EXPECT_SHAPE(vv, 0, 2);
    nb_tensor *v3 = nb_slice(ctx, nb_transpose(ctx, nb_slice(ctx, m, 0, 1, 3, 1), 0, 1), 0, 1,
                             4, 2); /* m[1:3].T[1::2] = [[5, 9], [7, 11]] */
    EXPECT_VALUES(v3, 5, 9, 7, 11);
    CHECK(v3 && shares(v3, m));

    /* gradient: the slice's positions receive dy, the rest zero */
    nb_tensor *w = nb_tensor_copy_of(ctx, (const float[]){1, 2, 3, 4}, NB_DIMS(2, 2));
    CHECK_OK(nb_backward_with(ctx, v3, w));
    EXPECT_VALUES(m->grad, 0, 0, 0, 0, 0, 1, 0, 3, 0, 2, 0, 4);
    nb_ctx_reset(ctx);

    m = iota(ctx, NB_DIMS(3, 4));
    EXPECT_ERROR(ctx, nb_slice(ctx, m, 1, 0, 4, 0), NB_ERR_ARG, "slice", "step", "f32[3,4]");
    m = iota(ctx, NB_DIMS(3, 4));
    EXPECT_ERROR(ctx, nb_slice(ctx, m, 0, 0, 4, -1), NB_ERR_ARG, "step must be positive");
    m = iota(ctx, NB_DIMS(3, 4));
    EXPECT_ERROR(ctx, nb_slice(ctx, m, 2, 0, 1, 1), NB_ERR_SHAPE, "slice", "axis 2",
                 "out of range", "f32[3,4]");
    m = iota(ctx, NB_DIMS(3, 4));
    EXPECT_ERROR(ctx, nb_slice(ctx, m, -3, 0, 1, 1), NB_ERR_SHAPE, "axis -3");
    EXPECT_ERROR(ctx, nb_slice(ctx, nb_scalar(ctx, 1.0f), 0, 0, 1, 1), NB_ERR_SHAPE, "slice",
                 "f32[]");
    nb_ctx_free(ctx);
}

/* ---- concat and contiguous ---------------------------------------------------------------- */

static void test_concat(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *a = iota(ctx, NB_DIMS(2, 2));
    nb_tensor *b = nb_tensor_copy_of(ctx, (const float[]){10, 11, 12, 13, 14, 15}, NB_DIMS(2, 3));
    nb_tensor_set_requires_grad(b, 1);
    nb_tensor *y = nb_concat(ctx, (nb_tensor *[]){a, b}, 2, -1);
    EXPECT_SHAPE(y, 2, 5);
    EXPECT_VALUES(y, 0, 1, 10, 11, 12, 2, 3, 13, 14, 15);
    /* along axis 0, with a transposed (strided) input */
    nb_tensor *bt = nb_transpose(ctx, b, 0, 1); /* [3,2]: 10 13 / 11 14 / 12 15 */
    nb_tensor *z = nb_concat(ctx, (nb_tensor *[]){a, bt}, 2, 0);
    EXPECT_SHAPE(z, 5, 2);
    EXPECT_VALUES(z, 0, 1, 2, 3, 10, 13, 11, 14, 12, 15);
    nb_tensor *w = nb_arange(ctx, 1.0f, 11.0f, 1.0f);
    CHECK_OK(nb_backward_with(ctx, z, nb_reshape(ctx, w, NB_DIMS(5, 2))));
    EXPECT_VALUES(a->grad, 1, 2, 3, 4);
    EXPECT_VALUES(b->grad, 5, 7, 9, 6, 8, 10); /* bᵀ received 5..10 in its row-major order */
    nb_ctx_reset(ctx);

    /* five inputs (more than a node holds inline), one of them empty, on the middle axis */
    nb_tensor *xs[5];
    int64_t widths[5] = {1, 2, 0, 1, 3};
    float base = 0.0f;
    for (int i = 0; i < 5; i++) {
        xs[i] = nb_full(ctx, NB_DIMS(2, widths[i], 1), base);
        nb_tensor_set_requires_grad(xs[i], 1);
        base += 1.0f;
    }
    nb_tensor *c = nb_concat(ctx, xs, 5, 1);
    EXPECT_SHAPE(c, 2, 7, 1);
    EXPECT_VALUES(c, 0, 1, 1, 3, 4, 4, 4, 0, 1, 1, 3, 4, 4, 4);
    nb_tensor *g = nb_arange(ctx, 0.0f, 14.0f, 1.0f);
    CHECK_OK(nb_backward_with(ctx, c, nb_reshape(ctx, g, NB_DIMS(2, 7, 1))));
    EXPECT_VALUES(xs[0]->grad, 0, 7);
    EXPECT_VALUES(xs[1]->grad, 1, 2, 8, 9);
    CHECK(xs[2]->grad == NULL || xs[2]->grad->numel == 0);
    EXPECT_VALUES(xs[3]->grad, 3, 10);
    EXPECT_VALUES(xs[4]->grad, 4, 5, 6, 11, 12, 13);
    nb_ctx_reset(ctx);

    /* i32 tensors concatenate too (labels); no gradient */
    nb_tensor *l0 = nb_tensor_new(ctx, NB_I32, NB_DIMS(2));
    nb_tensor *l1 = nb_tensor_new(ctx, NB_I32, NB_DIMS(1));
    nb_i32(l0)[0] = 4;
    nb_i32(l0)[1] = 5;
    nb_i32(l1)[0] = -6;
    nb_tensor *l = nb_concat(ctx, (nb_tensor *[]){l0, l1}, 2, 0);
    CHECK(l && l->dtype == NB_I32);
    EXPECT_VALUES(l, 4, 5, -6);

    nb_tensor *p = nb_zeros(ctx, NB_DIMS(2, 3)), *q = nb_zeros(ctx, NB_DIMS(2, 3));
    nb_tensor *r = nb_zeros(ctx, NB_DIMS(3, 3));
    EXPECT_ERROR(ctx, nb_concat(ctx, (nb_tensor *[]){p, q, r}, 3, 1), NB_ERR_SHAPE, "concat",
                 "input 2 is f32[3,3]", "input 0 is f32[2,3]", "axis 1");
    p = nb_zeros(ctx, NB_DIMS(2, 3));
    q = nb_zeros(ctx, NB_DIMS(2, 3, 1));
    EXPECT_ERROR(ctx, nb_concat(ctx, (nb_tensor *[]){p, q}, 2, 0), NB_ERR_SHAPE, "input 1");
    p = nb_zeros(ctx, NB_DIMS(3));
    l0 = nb_tensor_new(ctx, NB_I32, NB_DIMS(2)); /* the reset above released the first */
    EXPECT_ERROR(ctx, nb_concat(ctx, (nb_tensor *[]){p, l0}, 2, 0), NB_ERR_SHAPE, "input 1",
                 "i32[2]", "dtype");
    p = nb_zeros(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_concat(ctx, (nb_tensor *[]){p}, 1, 2), NB_ERR_SHAPE, "axis 2");
    EXPECT_ERROR(ctx, nb_concat(ctx, NULL, 0, 0), NB_ERR_ARG, "concat", "at least one");
    nb_ctx_free(ctx);
}

static void test_contiguous(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *m = iota(ctx, NB_DIMS(2, 3));
    nb_tensor *c = nb_contiguous(ctx, nb_transpose(ctx, m, 0, 1));
    EXPECT_SHAPE(c, 3, 2);
    CHECK(c && nb_tensor_is_contiguous(c) && !shares(c, m));
    EXPECT_VALUES(c, 0, 3, 1, 4, 2, 5);
    CHECK(c && nb_f32(c)[1] == 3.0f); /* the storage itself is in the new order */
    nb_tensor *c2 = nb_contiguous(ctx, m); /* always a copy */
    CHECK(c2 && c2->data != m->data);
    nb_tensor *w = nb_tensor_copy_of(ctx, (const float[]){1, 2, 3, 4, 5, 6}, NB_DIMS(3, 2));
    CHECK_OK(nb_backward_with(ctx, c, w));
    EXPECT_VALUES(m->grad, 1, 3, 5, 2, 4, 6);
    nb_ctx_free(ctx);
}

/* nb_matmul on a transpose view must equal the product with an explicit transpose, values
 * and gradients. */
static void test_transposed_matmul(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 11);
    enum { K = 3, M = 2, N = 4 };
    nb_tensor *a = nb_rand(ctx, NB_DIMS(K, M), -1, 1, &rng); /* used as aᵀ: [M, K] */
    nb_tensor *b = nb_rand(ctx, NB_DIMS(K, N), -1, 1, &rng);
    nb_tensor *g = nb_rand(ctx, NB_DIMS(M, N), -1, 1, &rng);
    nb_tensor_set_requires_grad(a, 1);
    nb_tensor_set_requires_grad(b, 1);
    nb_tensor *c = nb_matmul(ctx, nb_transpose(ctx, a, 0, 1), b);
    EXPECT_SHAPE(c, M, N);
    CHECK_OK(nb_backward_with(ctx, c, g));
    const float *A = nb_f32(a), *B = nb_f32(b), *G = nb_f32(g);
    for (int i = 0; c && i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[k * M + i] * B[k * N + j];
            CHECK_CLOSE(at(c, i * N + j), s, 1e-6, 1e-6);
        }
    /* dA[k][i] = Σ_j G[i][j] B[k][j];  dB[k][j] = Σ_i A[k][i] G[i][j] */
    for (int k = 0; a->grad && k < K; k++) {
        for (int i = 0; i < M; i++) {
            double s = 0;
            for (int j = 0; j < N; j++) s += (double)G[i * N + j] * B[k * N + j];
            CHECK_CLOSE(nb_f32(a->grad)[k * M + i], s, 1e-6, 1e-6);
        }
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int i = 0; i < M; i++) s += (double)A[k * M + i] * G[i * N + j];
            CHECK_CLOSE(nb_f32(b->grad)[k * N + j], s, 1e-6, 1e-6);
        }
    }
    /* the same through an explicit copy */
    nb_ctx *ctx2 = nb_ctx_new(NULL);
    nb_tensor *a2 = nb_tensor_clone(ctx2, a), *b2 = nb_tensor_clone(ctx2, b);
    nb_tensor_set_requires_grad(a2, 1);
    nb_tensor_set_requires_grad(b2, 1);
    nb_tensor *c2 = nb_matmul(ctx2, nb_contiguous(ctx2, nb_transpose(ctx2, a2, 0, 1)), b2);
    CHECK_OK(nb_backward_with(ctx2, c2, g));
    for (int i = 0; c && c2 && i < M * N; i++) CHECK_CLOSE(at(c, i), at(c2, i), 1e-6, 1e-6);
    for (int i = 0; a->grad && a2->grad && i < K * M; i++)
        CHECK_CLOSE(nb_f32(a->grad)[i], nb_f32(a2->grad)[i], 1e-6, 1e-6);
    nb_ctx_free(ctx2);
    nb_ctx_free(ctx);
}

/* ---- reductions ----------------------------------------------------------------------------- */

static void test_sum_mean(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = iota(ctx, NB_DIMS(2, 3, 4));
    nb_tensor *s = nb_sum(ctx, x, NB_ALL_AXES, 0);
    CHECK(s && s->rank == 0);
    EXPECT_VALUES(s, 276);
    EXPECT_SHAPE(nb_sum(ctx, x, NB_ALL_AXES, 1), 1, 1, 1);
    nb_tensor *s0 = nb_sum(ctx, x, NB_AXIS(0), 0);
    EXPECT_SHAPE(s0, 3, 4);
    EXPECT_VALUES(s0, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34);
    nb_tensor *s02 = nb_sum(ctx, x, NB_AXIS(0) | NB_AXIS(2), 1);
    EXPECT_SHAPE(s02, 1, 3, 1);
    EXPECT_VALUES(s02, 60, 92, 124);
    nb_tensor *m1 = nb_mean(ctx, x, NB_AXIS(1), 0);
    EXPECT_SHAPE(m1, 2, 4);
    EXPECT_VALUES(m1, 4, 5, 6, 7, 16, 17, 18, 19);
    nb_tensor *m12 = nb_mean(ctx, x, NB_AXIS(1) | NB_AXIS(2), 0);
    EXPECT_VALUES(m12, 5.5f, 17.5f);
    /* an empty mask reduces nothing (NumPy's axis=()) */
    nb_tensor *id = nb_sum(ctx, x, 0, 0);
    EXPECT_SHAPE(id, 2, 3, 4);
    CHECK(id && at(id, 23) == 23.0f);
    /* strided input: the sum over rows of a transpose is the sum over columns */
    nb_tensor *t = nb_transpose(ctx, nb_reshape(ctx, x, NB_DIMS(6, 4)), 0, 1); /* [4,6] */
    EXPECT_VALUES(nb_sum(ctx, t, NB_AXIS(1), 0), 60, 66, 72, 78);

    /* gradients: sum spreads dy, mean spreads dy / N */
    nb_tensor *w = nb_tensor_copy_of(ctx, (const float[]){1, 2, 3}, NB_DIMS(1, 3, 1));
    CHECK_OK(nb_backward_with(ctx, s02, w));
    for (int64_t i = 0; x->grad && i < 24; i++)
        CHECK_MSG(nb_f32(x->grad)[i] == (float)(1 + (i / 4) % 3), "dsum[%lld] = %g",
                  (long long)i, (double)nb_f32(x->grad)[i]);
    nb_ctx_reset(ctx);
    x = iota(ctx, NB_DIMS(2, 4));
    nb_tensor *m = nb_mean(ctx, x, NB_AXIS(1), 1);
    CHECK_OK(nb_backward_with(ctx, m, nb_tensor_copy_of(ctx, (const float[]){2, -4},
                                                        NB_DIMS(2, 1))));
    EXPECT_VALUES(x->grad, 0.5f, 0.5f, 0.5f, 0.5f, -1, -1, -1, -1);
    nb_ctx_reset(ctx);

    /* zero elements: sum 0, mean NaN (as NumPy and PyTorch) */
    nb_tensor *e = nb_zeros(ctx, NB_DIMS(0, 3));
    EXPECT_VALUES(nb_sum(ctx, e, NB_AXIS(0), 0), 0, 0, 0);
    EXPECT_VALUES(nb_mean(ctx, e, NB_AXIS(0), 0), NAN, NAN, NAN);
    EXPECT_SHAPE(nb_sum(ctx, e, NB_AXIS(1), 0), 0);
    EXPECT_VALUES(nb_sum(ctx, e, NB_ALL_AXES, 0), 0);
    EXPECT_VALUES(nb_mean(ctx, e, NB_ALL_AXES, 0), NAN);
    /* a 0-d tensor: all axes of nothing */
    EXPECT_VALUES(nb_sum(ctx, nb_scalar(ctx, 3.0f), NB_ALL_AXES, 0), 3);

    /* sums accumulate in double: 1 followed by 1024 times 2^-24 is 1 + 2^-14, where a float
     * loop rounds every 1 + 2^-24 back to 1 */
    nb_tensor *tiny = nb_full(ctx, NB_DIMS(1025), 0x1.0p-24f);
    nb_f32(tiny)[0] = 1.0f;
    EXPECT_VALUES(nb_sum(ctx, tiny, NB_ALL_AXES, 0), 1.0f + 0x1.0p-14f);

    nb_tensor *x2 = iota(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_sum(ctx, x2, NB_AXIS(2), 0), NB_ERR_SHAPE, "sum", "0x4", "rank 2",
                 "f32[2,3]");
    x2 = iota(ctx, NB_DIMS(2, 3));
    EXPECT_ERROR(ctx, nb_mean(ctx, x2, NB_AXIS(0) | NB_AXIS(5), 0), NB_ERR_SHAPE, "mean");
    nb_tensor *li = nb_tensor_new(ctx, NB_I32, NB_DIMS(3));
    EXPECT_ERROR(ctx, nb_sum(ctx, li, NB_ALL_AXES, 0), NB_ERR_SHAPE, "sum", "f32", "i32[3]");
    nb_ctx_free(ctx);
}

static void test_max(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    /* ties: the first maximum of each group gets the gradient */
    nb_tensor *x = nb_tensor_copy_of(ctx, (const float[]){3, 1, 3, -2, 5, 3, 0, 5, 0},
                                     NB_DIMS(3, 3));
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *r = nb_max(ctx, x, NB_AXIS(1), 0);
    EXPECT_VALUES(r, 3, 5, 5);
    nb_tensor *c = nb_max(ctx, x, NB_AXIS(0), 1);
    EXPECT_SHAPE(c, 1, 3);
    EXPECT_VALUES(c, 3, 5, 3);
    nb_tensor *all = nb_max(ctx, x, NB_ALL_AXES, 0);
    EXPECT_VALUES(all, 5);
    /* one loss over the three, weights 10, 100, 1000, routed to the first maxima */
    nb_tensor *loss = nb_add(ctx, nb_add(ctx, nb_sum(ctx, nb_mul_scalar(ctx, r, 10.0f),
                                                     NB_ALL_AXES, 0),
                                         nb_sum(ctx, nb_mul_scalar(ctx, c, 100.0f), NB_ALL_AXES,
                                                0)),
                             nb_mul_scalar(ctx, all, 1000.0f));
    CHECK_OK(nb_backward(ctx, loss));
    /* rows: x[0][0], x[1][1], x[2][1]; columns: x[0][0], x[1][1], x[0][2]; all: x[1][1] */
    EXPECT_VALUES(x->grad, 110, 0, 100, 0, 1110, 0, 0, 10, 0);
    nb_ctx_reset(ctx);

    /* -inf and NaN: a NaN wins, as in NumPy */
    nb_tensor *y = nb_tensor_copy_of(ctx, (const float[]){-INFINITY, -INFINITY, 1, NAN, 2, NAN},
                                     NB_DIMS(3, 2));
    EXPECT_VALUES(nb_max(ctx, y, NB_AXIS(1), 0), -INFINITY, NAN, NAN);
    /* a strided input (a transpose), and the gradient through it */
    nb_tensor *m = nb_tensor_copy_of(ctx, (const float[]){1, 9, 2, 8, 3, 7}, NB_DIMS(3, 2));
    nb_tensor_set_requires_grad(m, 1);
    nb_tensor *mt = nb_max(ctx, nb_transpose(ctx, m, 0, 1), NB_AXIS(1), 0); /* rows of mᵀ */
    EXPECT_VALUES(mt, 3, 9);
    CHECK_OK(nb_backward_with(ctx, mt, nb_tensor_copy_of(ctx, (const float[]){-1, 2},
                                                         NB_DIMS(2))));
    EXPECT_VALUES(m->grad, 0, 2, 0, 0, -1, 0);
    nb_ctx_reset(ctx);

    /* empty groups are an error; an empty set of groups is not */
    nb_tensor *e = nb_zeros(ctx, NB_DIMS(0, 3));
    EXPECT_SHAPE(nb_max(ctx, e, NB_AXIS(1), 0), 0);
    EXPECT_ERROR(ctx, nb_max(ctx, e, NB_AXIS(0), 0), NB_ERR_SHAPE, "max", "f32[0,3]",
                 "zero elements", "{0}");
    e = nb_zeros(ctx, NB_DIMS(0, 3));
    EXPECT_ERROR(ctx, nb_max(ctx, e, NB_ALL_AXES, 0), NB_ERR_SHAPE, "max", "{0,1}");
    nb_ctx_free(ctx);
}

static void test_argmax(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_copy_of(ctx, (const float[]){1, 7, 7, 0, 2, 4, 4, 9, 3, 3, 3, 3},
                                     NB_DIMS(3, 4));
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *a = nb_argmax(ctx, x, -1, 0);
    CHECK(a && a->dtype == NB_I32 && !(a->flags & NB_TF_REQUIRES_GRAD) && !a->node);
    EXPECT_SHAPE(a, 3);
    EXPECT_VALUES(a, 1, 3, 0);
    nb_tensor *b = nb_argmax(ctx, x, 0, 1);
    EXPECT_SHAPE(b, 1, 4);
    EXPECT_VALUES(b, 2, 0, 0, 1);
    /* of a view: column maxima of the transpose are row maxima of x */
    EXPECT_VALUES(nb_argmax(ctx, nb_transpose(ctx, x, 0, 1), 0, 0), 1, 3, 0);
    EXPECT_VALUES(nb_argmax(ctx, nb_tensor_copy_of(ctx, (const float[]){1, NAN, 5, NAN},
                                                   NB_DIMS(4)), 0, 0), 1);
    EXPECT_ERROR(ctx, nb_argmax(ctx, x, 2, 0), NB_ERR_SHAPE, "argmax", "axis 2", "f32[3,4]");
    x = nb_zeros(ctx, NB_DIMS(2, 0));
    EXPECT_ERROR(ctx, nb_argmax(ctx, x, 1, 0), NB_ERR_SHAPE, "argmax", "empty", "f32[2,0]");
    x = nb_zeros(ctx, NB_DIMS(0, 2));
    EXPECT_SHAPE(nb_argmax(ctx, x, 1, 0), 0);
    nb_ctx_free(ctx);
}

/* ---- gradients of compositions by finite differences ---------------------------------------
 * The registry's check feeds each op contiguous leaves, so views of views are checked here:
 * L = Σ w ⊙ f(x) for a fixed w, analytic dL/dx by one backward, numeric by the fourth-order
 * central difference with h = 2^-6 on inputs on a 2^-10 grid (exact for these linear and
 * piecewise-linear maps away from ties). */
typedef nb_tensor *(*compose_fn)(nb_ctx *ctx, nb_tensor *x);

static double probe(const nb_tensor *y, const nb_tensor *w) {
    double s = 0;
    for (int64_t i = 0; i < y->numel; i++) s += (double)at(y, i) * nb_f32(w)[i];
    return s;
}

static void check_composite(const char *what, compose_fn f, int rank, const int64_t *shape,
                            int distinct) {
    nb_ctx *ctx = nb_ctx_new(NULL), *scratch = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 99);
    nb_tensor *x = nb_zeros(ctx, rank, shape);
    float *p = nb_f32(x);
    for (int64_t i = 0; i < x->numel; i++)
        p[i] = distinct ? 0.125f * (float)((i * 7) % x->numel) - 2.0f
                        : (float)((int64_t)nb_rng_below(&rng, 2048) - 1024) / 1024.0f;
    nb_tensor_set_requires_grad(x, 1);
    nb_tensor *y = f(ctx, x);
    CHECK_PTR(y);
    if (!y) goto done;
    nb_tensor *w = nb_rand(ctx, y->rank, y->shape, -1, 1, &rng);
    CHECK_OK(nb_backward_with(ctx, y, w));
    nb_ctx_set_grad(scratch, 0);
    int bad = 0;
    for (int64_t e = 0; e < x->numel && x->grad; e++) {
        float x0 = p[e];
        const double h = 0x1.0p-6, off[4] = {h, -h, 2 * h, -2 * h};
        double L[4];
        for (int k = 0; k < 4; k++) {
            p[e] = (float)(x0 + off[k]);
            nb_ctx_reset(scratch);
            L[k] = probe(f(scratch, x), w);
        }
        p[e] = x0;
        double num = (8 * (L[0] - L[1]) - (L[2] - L[3])) / (12 * h);
        double ana = nb_f32(x->grad)[e];
        if (fabs(num - ana) > 1e-5 + 1e-5 * fabs(num) && bad++ < 3)
            nbt_report(__FILE__, __LINE__, "%s: d/dx[%lld] analytic %.8g numeric %.8g", what,
                       (long long)e, ana, num);
    }
done:
    nb_ctx_free(scratch);
    nb_ctx_free(ctx);
}

static nb_tensor *f_slice_of_permute(nb_ctx *c, nb_tensor *x) { /* x [3,4,5] */
    return nb_slice(c, nb_permute(c, x, (int[]){2, 0, 1}), 0, 0, 5, 2);
}
static nb_tensor *f_slice_transpose_slice(nb_ctx *c, nb_tensor *x) { /* x [5,6] */
    nb_tensor *a = nb_slice(c, x, 1, 1, -1, 1);
    return nb_slice(c, nb_transpose(c, a, 0, 1), 1, -4, 100, 3);
}
static nb_tensor *f_reshape_of_view(nb_ctx *c, nb_tensor *x) { /* x [4,6] */
    return nb_reshape(c, nb_slice(c, nb_transpose(c, x, 0, 1), 0, 1, 6, 2), NB_DIMS(-1, 2));
}
static nb_tensor *f_concat_views(nb_ctx *c, nb_tensor *x) { /* x [4,6] */
    nb_tensor *xs[4] = {nb_slice(c, x, 1, 0, 2, 1), nb_transpose(c, nb_slice(c, x, 0, 0, 2, 1),
                                                                0, 1),
                        x, nb_slice(c, x, 1, 5, 0, 1)};
    xs[1] = nb_slice(c, xs[1], 0, 0, 4, 1); /* [4,2] */
    return nb_concat(c, xs, 4, -1);
}
static nb_tensor *f_reduce_views(nb_ctx *c, nb_tensor *x) { /* x [3,4,5] */
    nb_tensor *v = nb_slice(c, nb_permute(c, x, (int[]){1, 2, 0}), 1, 1, 5, 2); /* [4,2,3] */
    nb_tensor *s = nb_sum(c, v, NB_AXIS(0), 1);                               /* [1,2,3] */
    nb_tensor *m = nb_mean(c, nb_transpose(c, v, 0, 2), NB_AXIS(1) | NB_AXIS(2), 0); /* [3] */
    return nb_add(c, s, m);
}
static nb_tensor *f_max_views(nb_ctx *c, nb_tensor *x) { /* x [4,5], distinct values */
    nb_tensor *v = nb_slice(c, nb_transpose(c, x, 0, 1), 0, 0, 5, 2); /* [3,4] */
    return nb_max(c, v, NB_AXIS(1), 1);
}

static void test_composite_gradients(void) {
    check_composite("slice(permute)", f_slice_of_permute, NB_DIMS(3, 4, 5), 0);
    check_composite("slice(transpose(slice))", f_slice_transpose_slice, NB_DIMS(5, 6), 0);
    check_composite("reshape(slice(transpose))", f_reshape_of_view, NB_DIMS(4, 6), 0);
    check_composite("concat of 4 views", f_concat_views, NB_DIMS(4, 6), 0);
    check_composite("sum/mean of views", f_reduce_views, NB_DIMS(3, 4, 5), 0);
    check_composite("max of a view", f_max_views, NB_DIMS(4, 5), 1);
}

/* ---- PyTorch parity ------------------------------------------------------------------------ */

static nb_tensor *load(nb_ctx *ctx, const nbt_fixture *fx, const char *name) {
    const nbt_array *a = nbt_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture has no %s", name);
    if (!a) return NULL;
    nb_tensor *t = nb_tensor_copy_of(ctx, a->data, a->rank, a->shape);
    nb_tensor_set_requires_grad(t, 1);
    return t;
}

/* y (any strides) against the fixture, within atol + rtol |want| */
static void compare(const nbt_fixture *fx, const char *name, const nb_tensor *t, double atol,
                    double rtol) {
    const nbt_array *a = nbt_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture has no %s", name);
    CHECK_MSG(t != NULL, "%s: tensor is NULL (%s)", name, nb_last_error());
    if (!a || !t) return;
    CHECK_MSG(t->numel == a->numel && t->rank == a->rank, "%s: %lld elements of rank %d, "
              "expected %lld of rank %d", name, (long long)t->numel, t->rank,
              (long long)a->numel, a->rank);
    if (t->numel != a->numel) return;
    float *got = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
    for (int64_t i = 0; i < t->numel; i++) got[i] = at(t, i);
    nbt_compare(name, got, a->data, a->numel, atol, rtol);
    free(got);
}

/* Views and max move values without arithmetic: exact. Sums and means: 1e-6 |b| + 1e-7. */
#define EXACT 0.0, 0.0
#define NEAR 1e-7, 1e-6

static void test_pytorch_parity(void) {
    nbt_fixture *fx = nbt_fixture_load("tests/ref/shape_reduce.txt");
    CHECK_MSG(fx != NULL, "cannot read tests/ref/shape_reduce.txt (run from the repo root)");
    if (!fx) return;
    nb_ctx *ctx = nb_ctx_new(NULL);
    char nm[32];
#define RUN(ID, N_IN, TOL_Y, TOL_G, ...)                                                   \
    do {                                                                                   \
        nb_tensor *in[3];                                                                  \
        for (int i = 0; i < N_IN; i++) {                                                   \
            snprintf(nm, sizeof nm, ID "_x%d", i);                                         \
            in[i] = load(ctx, fx, nm);                                                     \
        }                                                                                  \
        nb_tensor *y = (__VA_ARGS__);                                                      \
        compare(fx, ID "_y", y, TOL_Y);                                                    \
        nb_tensor *g = load(ctx, fx, ID "_g");                                             \
        if (y && g) CHECK_OK(nb_backward_with(ctx, y, g));                                 \
        for (int i = 0; i < N_IN; i++) {                                                   \
            snprintf(nm, sizeof nm, ID "_dx%d", i);                                        \
            compare(fx, nm, in[i] ? in[i]->grad : NULL, TOL_G);                            \
        }                                                                                  \
        nb_ctx_reset(ctx);                                                                 \
    } while (0)

    RUN("c1", 1, NEAR, EXACT,
        nb_sum(ctx, nb_slice(ctx, nb_permute(ctx, in[0], (int[]){2, 0, 1}), 0, 1, 5, 2),
               NB_AXIS(2), 1));
    RUN("c2", 1, NEAR, NEAR,
        nb_mean(ctx, nb_reshape(ctx, nb_transpose(ctx, in[0], 0, 1), NB_DIMS(3, -1)),
                NB_AXIS(1), 0));
    RUN("c3", 1, EXACT, EXACT, nb_max(ctx, in[0], NB_AXIS(0) | NB_AXIS(2), 1));
    RUN("c4", 3, NEAR, EXACT,
        nb_sum(ctx, nb_concat(ctx, (nb_tensor *[]){in[0], nb_transpose(ctx, in[1], 0, 1), in[2]},
                              3, -1),
               NB_AXIS(0), 0));
    RUN("c5", 1, NEAR, NEAR,
        nb_mean(ctx, nb_slice(ctx, nb_reshape(ctx, in[0], NB_DIMS(4, 6)), 1, -5, -1, 3),
                NB_ALL_AXES, 0));
    RUN("c6", 1, NEAR, EXACT,
        nb_sum(ctx, nb_permute(ctx, in[0], (int[]){3, 1, 0, 2}), NB_AXIS(1) | NB_AXIS(3), 0));
    RUN("c7", 1, EXACT, EXACT,
        nb_max(ctx, nb_slice(ctx, nb_transpose(ctx, nb_slice(ctx, in[0], 0, 1, 4, 1), 0, 1), 0,
                             0, 100, 2),
               NB_AXIS(1), 0));
#undef RUN
    nb_tensor *am = load(ctx, fx, "am_x");
    compare(fx, "am_last", nb_argmax(ctx, am, -1, 0), EXACT);
    compare(fx, "am_first_keep", nb_argmax(ctx, am, 0, 1), EXACT);
    nb_ctx_free(ctx);
    nbt_fixture_free(fx);
}

static const nbt_case cases[] = {
    {"reshape", test_reshape},
    {"reshape_errors", test_reshape_errors},
    {"permute", test_permute},
    {"print_and_copy_views", test_print_and_copy_views},
    {"slice", test_slice},
    {"concat", test_concat},
    {"contiguous", test_contiguous},
    {"transposed_matmul", test_transposed_matmul},
    {"sum_mean", test_sum_mean},
    {"max", test_max},
    {"argmax", test_argmax},
    {"composite_gradients", test_composite_gradients},
    {"pytorch_parity", test_pytorch_parity},
};
NBT_MAIN(cases)
