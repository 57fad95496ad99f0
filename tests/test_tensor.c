/* test_tensor — creation, access, copying, printing in NumPy's style. */
#include "nbtest.h"
#include "tensor/tensor.h" /* nbi_set_contiguous */

static void test_creation(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *z = nb_zeros(ctx, NB_DIMS(2, 3));
    CHECK_PTR(z);
    CHECK(z->rank == 2 && z->numel == 6 && z->stride[0] == 3 && z->stride[1] == 1);
    for (int i = 0; i < 6; i++) CHECK(nb_f32(z)[i] == 0.0f);
    nb_tensor *o = nb_full(ctx, NB_DIMS(4), 2.5f);
    for (int i = 0; i < 4; i++) CHECK(nb_f32(o)[i] == 2.5f);
    nb_tensor *a = nb_arange(ctx, 0.0f, 1.0f, 0.25f);
    CHECK(a->numel == 4 && nb_f32(a)[3] == 0.75f);
    nb_tensor *s = nb_scalar(ctx, 3.0f);
    CHECK(s->rank == 0 && s->numel == 1 && nb_item(s) == 3.0f);
    nb_tensor *e = nb_zeros(ctx, NB_DIMS(0, 5));
    CHECK(e && e->numel == 0);
    CHECK(nb_zeros(ctx, NB_DIMS(-1)) == NULL);
    CHECK(strstr(nb_last_error(), "negative") != NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    nb_ctx_reset(ctx);
    CHECK(nb_ctx_status(ctx) == NB_OK);
    CHECK(nb_zeros(ctx, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}) == NULL);
    CHECK(nb_arange(ctx, 0, 1, 0) == NULL);
    nb_ctx_free(ctx);
}

static void test_heap_tensors(void) {
    nb_tensor *t = nb_ones(NULL, NB_DIMS(3, 3));
    CHECK(t && (t->flags & NB_TF_HEAP));
    float buf[6] = {1, 2, 3, 4, 5, 6};
    nb_tensor *v = nb_tensor_from(NULL, NB_F32, buf, NB_DIMS(2, 3));
    CHECK(v && nb_f32(v) == buf);
    int64_t idx[2] = {1, 2};
    CHECK(nb_tensor_get(v, idx) == 6.0f);
    CHECK_OK(nb_tensor_set(v, idx, -1.0f));
    CHECK(buf[5] == -1.0f);
    CHECK(nb_tensor_set(v, (int64_t[]){2, 0}, 1.0f) == NB_ERR_ARG);
    nb_tensor *c = nb_tensor_clone(NULL, v);
    CHECK(c && nb_f32(c) != buf && nb_f32(c)[5] == -1.0f);
    nb_tensor_free(c);
    nb_tensor_free(v);
    nb_tensor_free(t);
    nb_tensor_free(NULL);
}

static void test_rand_reproducible(void) {
    nb_rng r1, r2;
    nb_rng_seed(&r1, 5);
    nb_rng_seed(&r2, 5);
    nb_tensor *a = nb_randn(NULL, NB_DIMS(100), 0.0f, 1.0f, &r1);
    nb_tensor *b = nb_randn(NULL, NB_DIMS(100), 0.0f, 1.0f, &r2);
    CHECK(memcmp(a->data, b->data, 400) == 0);
    nb_tensor *u = nb_rand(NULL, NB_DIMS(1000), -2.0f, 3.0f, &r1);
    for (int i = 0; i < 1000; i++) CHECK(nb_f32(u)[i] >= -2.0f && nb_f32(u)[i] < 3.0f);
    CHECK(nb_rand(NULL, NB_DIMS(3), 0, 1, NULL) == NULL);
    CHECK(strstr(nb_last_error(), "rng") != NULL);
    nb_tensor_free(a);
    nb_tensor_free(b);
    nb_tensor_free(u);
}

static void expect_format(const nb_tensor *t, const char *want) {
    char buf[512];
    size_t n = nb_tensor_format(t, buf, sizeof buf);
    CHECK(n == strlen(want));
    CHECK_MSG(strcmp(buf, want) == 0, "got\n%s\nwant\n%s", buf, want);
}

static void test_print_numpy_style(void) {
    float a[4] = {1, 2, 3, 4};
    nb_tensor *t = nb_tensor_from(NULL, NB_F32, a, NB_DIMS(2, 2));
    expect_format(t, "array([[1., 2.],\n       [3., 4.]])");
    float b[3] = {0.5f, -0.25f, 10.0f};
    nb_tensor *u = nb_tensor_from(NULL, NB_F32, b, NB_DIMS(3));
    expect_format(u, "array([ 0.5 , -0.25, 10.  ])"); /* numpy: repr(np.array([0.5, -0.25, 10.])) */
    int32_t l[3] = {3, -1, 20};
    nb_tensor *w = nb_tensor_from(NULL, NB_I32, l, NB_DIMS(3));
    expect_format(w, "array([ 3, -1, 20], dtype=int32)");
    float c[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, c, NB_DIMS(2, 2, 2));
    expect_format(x, "array([[[0., 1.],\n        [2., 3.]],\n\n       [[4., 5.],\n        [6., 7.]]])");
    float nan[2] = {NAN, 1.5f};
    nb_tensor *y = nb_tensor_from(NULL, NB_F32, nan, NB_DIMS(2));
    expect_format(y, "array([nan, 1.5])");
    nb_tensor *s = nb_scalar(NULL, 2.0f);
    expect_format(s, "array(2.)");
    /* summarised beyond 1000 elements */
    nb_tensor *big = nb_zeros(NULL, NB_DIMS(2000));
    char buf[256];
    nb_tensor_format(big, buf, sizeof buf);
    CHECK(strcmp(buf, "array([0., 0., 0., ..., 0., 0., 0.])") == 0);
    nb_tensor_free(big);
    nb_tensor_free(s);
    nb_tensor_free(t);
    nb_tensor_free(u);
    nb_tensor_free(w);
    nb_tensor_free(x);
    nb_tensor_free(y);
}

static void test_copy_strided(void) {
    float a[6] = {1, 2, 3, 4, 5, 6};
    nb_tensor *t = nb_tensor_from(NULL, NB_F32, a, NB_DIMS(2, 3));
    /* a transposed view by hand */
    nb_tensor tv = *t;
    tv.shape[0] = 3;
    tv.shape[1] = 2;
    tv.stride[0] = 1;
    tv.stride[1] = 3;
    CHECK(!nb_tensor_is_contiguous(&tv));
    nb_tensor *d = nb_zeros(NULL, NB_DIMS(3, 2));
    CHECK_OK(nb_tensor_copy(d, &tv));
    float want[6] = {1, 4, 2, 5, 3, 6};
    for (int i = 0; i < 6; i++) CHECK(nb_f32(d)[i] == want[i]);
    CHECK(nb_tensor_copy(d, t) == NB_ERR_SHAPE);
    CHECK(strstr(nb_last_error(), "f32[3,2]") && strstr(nb_last_error(), "f32[2,3]"));
    nb_tensor_free(d);
    nb_tensor_free(t);
}

/* nbi_set_contiguous: ranks 0-2 take a short path; every rank must give what the definition
 * says (stride of dimension i the product of the later sizes; past the rank size 1, stride 0),
 * whatever the header held past the rank before. */
static void test_set_contiguous_every_rank(void) {
    for (int r = 0; r <= NB_MAX_RANK; r++) {
        nb_tensor t;
        memset(&t, 0x5a, sizeof t); /* garbage everywhere */
        t.rank = r;
        for (int i = 0; i < r; i++) t.shape[i] = 2 + (i * 3) % 5;
        nbi_set_contiguous(&t);
        int64_t s = 1;
        for (int i = NB_MAX_RANK - 1; i >= 0; i--) {
            const int64_t d = i < r ? 2 + (i * 3) % 5 : 1;
            CHECK_MSG(t.shape[i] == d && t.stride[i] == (i < r ? s : 0),
                      "rank %d, dimension %d: shape %lld stride %lld", r, i, (long long)t.shape[i],
                      (long long)t.stride[i]);
            s *= d;
        }
        CHECK(t.numel == s);
    }
}

static const nbt_case cases[] = {
    {"set_contiguous_every_rank", test_set_contiguous_every_rank},
    {"creation", test_creation},
    {"heap_tensors", test_heap_tensors},
    {"rand_reproducible", test_rand_reproducible},
    {"print_numpy_style", test_print_numpy_style},
    {"copy_strided", test_copy_strided},
};
NBT_MAIN(cases)
