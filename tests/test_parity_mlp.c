/* test_parity_mlp — a small MLP under every loss against PyTorch (tests/ref/mlp.txt, written
 * by tests/ref/gen_mlp.py):
 *
 *   x [5, 4] → x·W1 + b1 → tanh → ·W2 + b2 → out [5, 3] → head (mse, l1, bce on sigmoid,
 *   bce_logits, cross_entropy, nll on log_softmax), reductions mean and sum
 *
 * built from nabla ops, differentiated by nb_backward, and compared — loss and the gradients
 * of W1, b1, W2, b2 and x — within |a - b| <= RTOL |b| + ATOL. */
#include "nbtest.h"

#include "fixture.h"

#define FIXTURE "tests/ref/mlp.txt"
/* float32 on both sides with different summation orders. The worst difference seen is 3.6e-7
 * on an element of 0.088 (mse_sum_db1: a sum of terms of order 1 that cancel), which 5e-6 |b|
 * + 5e-7 allows 2.6 times over; 1e-6 |b| + 1e-7 fails there, 2e-6 |b| + 2e-7 barely passes. */
#define RTOL 5e-6
#define ATOL 5e-7

typedef enum head { MSE, L1, BCE, BCE_LOGITS, CROSS_ENTROPY, NLL, HEAD_COUNT } head;
static const char *const head_name[HEAD_COUNT] = {"mse", "l1", "bce", "bce_logits",
                                                  "cross_entropy", "nll"};

static nb_tensor *leaf(nb_ctx *ctx, const nbt_array *a, int rg) {
    if (!a) return NULL;
    nb_tensor *t = nb_tensor_copy_of(ctx, a->data, a->rank, a->shape);
    if (t && rg) nb_tensor_set_requires_grad(t, 1);
    return t;
}

static nb_tensor *labels_of(nb_ctx *ctx, const nbt_array *a) {
    if (!a) return NULL;
    nb_tensor *t = nb_tensor_new(ctx, NB_I32, 1, a->shape);
    for (int64_t i = 0; t && i < a->numel; i++) nb_i32(t)[i] = (int32_t)a->data[i];
    return t;
}

static nb_tensor *apply_head(nb_ctx *ctx, head h, nb_tensor *out, nb_tensor *tf, nb_tensor *tb,
                             nb_tensor *lab, nb_reduction r) {
    switch (h) {
    case MSE: return nb_mse_loss(ctx, out, tf, r);
    case L1: return nb_l1_loss(ctx, out, tf, r);
    case BCE: return nb_bce_loss(ctx, nb_sigmoid(ctx, out), tb, r);
    case BCE_LOGITS: return nb_bce_logits_loss(ctx, out, tb, r);
    case CROSS_ENTROPY: return nb_cross_entropy(ctx, out, lab, r);
    case NLL: return nb_nll_loss(ctx, nb_log_softmax(ctx, out, 1), lab, r);
    default: return NULL;
    }
}

/* Compares t (n elements) with the fixture array `name`, shapes included. */
static void compare(const nbt_fixture *fx, const char *name, const nb_tensor *t) {
    const nbt_array *want = nbt_fixture_get(fx, name);
    CHECK_MSG(want != NULL, "fixture lacks %s", name);
    CHECK_MSG(t != NULL, "%s: nabla produced nothing: %s", name, nb_last_error());
    if (!want || !t) return;
    CHECK_MSG(t->numel == want->numel, "%s: %lld elements, reference %lld", name,
              (long long)t->numel, (long long)want->numel);
    if (t->numel != want->numel) return;
    nbt_compare(name, nb_f32(t), want->data, t->numel, ATOL, RTOL);
}

static void run_head(head h) {
    nbt_fixture *fx = nbt_fixture_load(FIXTURE);
    CHECK_MSG(fx != NULL, "cannot load %s (run the tests from the repository root)", FIXTURE);
    if (!fx) return;
    static const nb_reduction reds[2] = {NB_REDUCE_MEAN, NB_REDUCE_SUM};
    static const char *const red_name[2] = {"mean", "sum"};
    for (int ri = 0; ri < 2; ri++) {
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_tensor *x = leaf(ctx, nbt_fixture_get(fx, "x"), 1);
        nb_tensor *W1 = leaf(ctx, nbt_fixture_get(fx, "W1"), 1);
        nb_tensor *b1 = leaf(ctx, nbt_fixture_get(fx, "b1"), 1);
        nb_tensor *W2 = leaf(ctx, nbt_fixture_get(fx, "W2"), 1);
        nb_tensor *b2 = leaf(ctx, nbt_fixture_get(fx, "b2"), 1);
        nb_tensor *tf = leaf(ctx, nbt_fixture_get(fx, "t_float"), 0);
        nb_tensor *tb = leaf(ctx, nbt_fixture_get(fx, "t_bin"), 0);
        nb_tensor *lab = labels_of(ctx, nbt_fixture_get(fx, "labels"));
        /* z1 = x W1 + b1, a1 = tanh z1, out = a1 W2 + b2 */
        nb_tensor *a1 = nb_tanh(ctx, nb_add(ctx, nb_matmul(ctx, x, W1), b1));
        nb_tensor *out = nb_add(ctx, nb_matmul(ctx, a1, W2), b2);
        nb_tensor *L = apply_head(ctx, h, out, tf, tb, lab, reds[ri]);
        CHECK_PTR(L);
        if (L) {
            CHECK(L->rank == 0);
            CHECK_OK(nb_backward(ctx, L));
            char pre[64], nm[96];
            snprintf(pre, sizeof pre, "%s_%s_", head_name[h], red_name[ri]);
            struct {
                const char *suffix;
                const nb_tensor *t;
            } items[] = {{"loss", L},         {"dW1", W1->grad}, {"db1", b1->grad},
                         {"dW2", W2->grad}, {"db2", b2->grad}, {"dx", x->grad}};
            for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
                snprintf(nm, sizeof nm, "%s%s", pre, items[i].suffix);
                compare(fx, nm, items[i].t);
            }
        }
        nb_ctx_free(ctx);
    }
    nbt_fixture_free(fx);
}

static void test_mse(void) { run_head(MSE); }
static void test_l1(void) { run_head(L1); }
static void test_bce(void) { run_head(BCE); }
static void test_bce_logits(void) { run_head(BCE_LOGITS); }
static void test_cross_entropy(void) { run_head(CROSS_ENTROPY); }
static void test_nll(void) { run_head(NLL); }

static const nbt_case cases[] = {
    {"mse", test_mse},   {"l1", test_l1},
    {"bce", test_bce},   {"bce_logits", test_bce_logits},
    {"cross_entropy", test_cross_entropy}, {"nll", test_nll},
};
NBT_MAIN(cases)
