#define _POSIX_C_SOURCE 200809L
/* test_seq — the sequence ops (embedding, layer_norm, rms_norm, cross_entropy_ex, attention,
 * rnn, lstm, gru):
 *   - PyTorch parity of outputs and of every gradient (tests/ref/seq.txt, written by
 *     tests/ref/gen_seq.py) on the reference kernels (cpu:ref) and on the fastest set this CPU
 *     runs: LSTM, GRU, RNN (tanh, relu) in both directions with initial states and variable
 *     lengths; attention causal, padded, with an additive mask and Tq < Tk (KV cache); layer
 *     and RMS norm; embedding with padding_idx; cross-entropy with ignore_index and label
 *     smoothing under each reduction;
 *   - results independent of the thread count (bitwise, at 1, 2 and 3 threads, on sizes that
 *     split);
 *   - attention's dropout (statistics, determinism), keys all masked, the views of the
 *     recurrent results, cross_entropy_ex against cross_entropy;
 *   - clear errors for ids and targets out of range, lengths beyond T, mismatched shapes;
 *   - no heap allocation in the steady state of a training step, and every allocation failure
 *     surfacing as an error with nothing leaked. */
#include "nbtest.h"

#include <stdbool.h>

#include "fixture.h"

#define FIXTURE "tests/ref/seq.txt"
/* float32 on both sides with different summation orders; recurrences of up to 6 steps */
#define ATOL 3e-5
#define RTOL 3e-5

static nbt_fixture *fx;

static const char *const devices[] = {"cpu:ref", NULL}; /* the oracle and the best set */

static bool load(void) {
    if (!fx) fx = nbt_fixture_load(FIXTURE);
    CHECK_MSG(fx != NULL, "cannot load %s (run the tests from the repository root)", FIXTURE);
    return fx != NULL;
}

static const nbt_array *get(const char *c, const char *what) {
    char name[96];
    snprintf(name, sizeof name, "%s_%s", c, what);
    const nbt_array *a = nbt_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture lacks %s_%s", c, what);
    return a;
}

static nb_tensor *leaf(nb_ctx *ctx, const nbt_array *a, int rg) {
    if (!a) return NULL;
    nb_tensor *t = nb_tensor_copy_of(ctx, a->data, a->rank, a->shape);
    if (t && rg) nb_tensor_set_requires_grad(t, 1);
    return t;
}

/* an i32 tensor from a fixture's float values */
static nb_tensor *ints(nb_ctx *ctx, const nbt_array *a) {
    if (!a) return NULL;
    nb_tensor *t = nb_tensor_new(ctx, NB_I32, a->rank, a->shape);
    for (int64_t i = 0; t && i < a->numel; i++) nb_i32(t)[i] = (int32_t)a->data[i];
    return t;
}

static void compare_as(const char *c, const char *what, const nb_tensor *t, double atol,
                       double rtol) {
    const nbt_array *want = get(c, what);
    char name[128];
    snprintf(name, sizeof name, "%s_%s", c, what);
    CHECK_MSG(t != NULL, "%s: nabla produced nothing: %s", name, nb_last_error());
    if (!want || !t) return;
    bool same = t->rank == want->rank;
    for (int i = 0; same && i < t->rank; i++) same = t->shape[i] == want->shape[i];
    CHECK_MSG(same, "%s: shape differs from the reference", name);
    if (!same) return;
    nb_tensor *tc = nb_tensor_clone(NULL, t);
    nbt_compare(name, nb_f32(tc), want->data, t->numel, atol, rtol);
    nb_tensor_free(tc);
}

static void compare(const char *c, const char *what, const nb_tensor *t) {
    compare_as(c, what, t, ATOL, RTOL);
}

static void compare_grad(const char *c, const char *what, const nb_tensor *t) {
    CHECK_MSG(t && t->grad, "%s_%s: no gradient", c, what);
    if (t && t->grad) compare(c, what, t->grad);
}

static nb_ctx *ctx_on(const char *device, int threads) {
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.device = device, .threads = threads});
    CHECK_PTR(ctx);
    return ctx;
}

/* Σ a ⊙ g (the probe whose backward seeds a's gradient with g) */
static nb_tensor *dot(nb_ctx *ctx, nb_tensor *a, nb_tensor *g) {
    return nb_sum(ctx, nb_mul(ctx, a, g), NB_ALL_AXES, 0);
}

/* ---- recurrent layers -------------------------------------------------------------------- */

typedef enum { C_LSTM, C_GRU, C_RNN_TANH, C_RNN_RELU } cell;

static void rnn_parity(const char *device, const char *c, cell kind) {
    nb_ctx *ctx = ctx_on(device, 0);
    const nbt_array *cfg = get(c, "cfg");
    if (!ctx || !cfg) return;
    nb_tensor *x = leaf(ctx, get(c, "x"), 1);
    nb_tensor *len = cfg->data[2] != 0.0f ? ints(ctx, get(c, "len")) : NULL;
    nb_tensor *p[2][6], *loss = NULL;
    for (int k = 0; k < 2; k++) {
        static const char *const nm[6] = {"h0", "c0", "wih", "whh", "bih", "bhh"};
        for (int i = 0; i < 6; i++) {
            char w[16];
            snprintf(w, sizeof w, "%s_%d", nm[i], k);
            p[k][i] = i == 1 && kind != C_LSTM ? NULL : leaf(ctx, get(c, w), 1);
        }
        nb_rnn_opts o = {.lengths = len, .reverse = k, .relu = kind == C_RNN_RELU};
        nb_rnn_out r;
        if (kind == C_LSTM)
            r = nb_lstm(ctx, x, p[k][0], p[k][1], p[k][2], p[k][3], p[k][4], p[k][5], &o);
        else if (kind == C_GRU)
            r = nb_gru(ctx, x, p[k][0], p[k][2], p[k][3], p[k][4], p[k][5], &o);
        else
            r = nb_rnn(ctx, x, p[k][0], p[k][2], p[k][3], p[k][4], p[k][5], &o);
        char w[16];
        snprintf(w, sizeof w, "y_%d", k);
        compare(c, w, r.y);
        snprintf(w, sizeof w, "hn_%d", k);
        compare(c, w, r.h);
        char g1[16], g2[16];
        snprintf(g1, sizeof g1, "gy_%d", k);
        snprintf(g2, sizeof g2, "ghn_%d", k);
        nb_tensor *l = nb_add(ctx, dot(ctx, r.y, leaf(ctx, get(c, g1), 0)),
                              dot(ctx, r.h, leaf(ctx, get(c, g2), 0)));
        if (kind == C_LSTM) {
            snprintf(w, sizeof w, "cn_%d", k);
            compare(c, w, r.c);
            snprintf(g1, sizeof g1, "gcn_%d", k);
            l = nb_add(ctx, l, dot(ctx, r.c, leaf(ctx, get(c, g1), 0)));
        } else {
            CHECK(r.c == NULL);
        }
        loss = loss ? nb_add(ctx, loss, l) : l;
    }
    CHECK_OK(nb_backward(ctx, loss));
    compare_grad(c, "dx", x);
    for (int k = 0; k < 2; k++) {
        static const char *const nm[6] = {"dh0", "dc0", "dwih", "dwhh", "dbih", "dbhh"};
        for (int i = 0; i < 6; i++) {
            if (!p[k][i]) continue;
            char w[16];
            snprintf(w, sizeof w, "%s_%d", nm[i], k);
            compare_grad(c, w, p[k][i]);
        }
    }
    nb_ctx_free(ctx);
}

static void test_rnn_parity(void) {
    if (!load()) return;
    for (size_t d = 0; d < sizeof devices / sizeof *devices; d++) {
        rnn_parity(devices[d], "lstm", C_LSTM);
        rnn_parity(devices[d], "lstmf", C_LSTM);
        rnn_parity(devices[d], "gru", C_GRU);
        rnn_parity(devices[d], "rnnt", C_RNN_TANH);
        rnn_parity(devices[d], "rnnr", C_RNN_RELU);
    }
}

/* ---- attention ----------------------------------------------------------------------------- */

static void attention_parity(const char *device, const char *c) {
    nb_ctx *ctx = ctx_on(device, 0);
    if (!ctx) return;
    const nbt_array *cfg = get(c, "cfg");
    if (!cfg) return;
    nb_tensor *q = leaf(ctx, get(c, "q"), 1), *k = leaf(ctx, get(c, "k"), 1);
    nb_tensor *v = leaf(ctx, get(c, "v"), 1), *mask = NULL;
    int kind = (int)cfg->data[1];
    if (kind == 1) mask = leaf(ctx, get(c, "mask"), 0);
    if (kind == 2) mask = ints(ctx, get(c, "mask"));
    nb_attention_opts o = {.causal = (int)cfg->data[0], .scale = cfg->data[2]};
    nb_tensor *y = nb_attention(ctx, q, k, v, mask, &o);
    compare(c, "y", y);
    nb_tensor *g = leaf(ctx, get(c, "g"), 0);
    CHECK_OK(nb_backward_with(ctx, y, g));
    compare_grad(c, "dq", q);
    compare_grad(c, "dk", k);
    compare_grad(c, "dv", v);
    nb_ctx_free(ctx);
}

static void test_attention_parity(void) {
    if (!load()) return;
    static const char *const cases[] = {"attc", "attp", "attk", "atta", "attl"};
    for (size_t d = 0; d < sizeof devices / sizeof *devices; d++)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
            attention_parity(devices[d], cases[i]);
}

/* ---- layer norm, RMS norm ------------------------------------------------------------------ */

static void norm_parity(const char *device, const char *c, int rms) {
    nb_ctx *ctx = ctx_on(device, 0);
    const nbt_array *cfg = get(c, "cfg");
    if (!ctx || !cfg) return;
    nb_tensor *x = leaf(ctx, get(c, "x"), 1);
    nb_tensor *w = cfg->data[1] != 0.0f ? leaf(ctx, get(c, "w"), 1) : NULL;
    nb_tensor *b = cfg->data[2] != 0.0f ? leaf(ctx, get(c, "b"), 1) : NULL;
    nb_tensor *y =
        rms ? nb_rms_norm(ctx, x, w, cfg->data[0]) : nb_layer_norm(ctx, x, w, b, cfg->data[0]);
    compare(c, "y", y);
    CHECK_OK(nb_backward_with(ctx, y, leaf(ctx, get(c, "g"), 0)));
    compare_grad(c, "dx", x);
    if (w) compare_grad(c, "dw", w);
    if (b) compare_grad(c, "db", b);
    nb_ctx_free(ctx);
}

static void test_norm_parity(void) {
    if (!load()) return;
    for (size_t d = 0; d < sizeof devices / sizeof *devices; d++) {
        norm_parity(devices[d], "ln", 0);
        norm_parity(devices[d], "lnw", 0);
        norm_parity(devices[d], "lnn", 0);
        norm_parity(devices[d], "rms", 1);
        norm_parity(devices[d], "rmsn", 1);
    }
}

/* ---- embedding ------------------------------------------------------------------------------- */

static void test_embedding_parity(void) {
    if (!load()) return;
    const nbt_array *cfg = get("emb", "cfg");
    nb_tensor *ids = ints(NULL, get("emb", "ids")), *W = leaf(NULL, get("emb", "w"), 1);
    nb_tensor *g = leaf(NULL, get("emb", "g"), 0);
    if (!cfg || !ids || !W || !g) return;
    for (size_t d = 0; d < sizeof devices / sizeof *devices; d++) {
        nb_ctx *ctx = ctx_on(devices[d], 0);
        if (!ctx) continue;
        /* the padding index as given (2), and counted from the end (-3 of 5 rows) */
        for (int from_end = 0; from_end < 2; from_end++) {
            int64_t pad = (int64_t)cfg->data[0] - (from_end ? W->shape[0] : 0);
            nb_tensor *y = nb_embedding(ctx, ids, W, pad);
            compare_as("emb", "y", y, 0.0, 0.0); /* a copy: exact */
            CHECK_OK(nb_backward_with(ctx, y, g));
            compare_grad("emb", "dw", W); /* the padding row stays 0 */
            nb_tensor_free(W->grad);
            W->grad = NULL;
            nb_ctx_reset(ctx);
        }
        nb_ctx_free(ctx);
    }
    nb_tensor_free(ids);
    nb_tensor_free(W);
    nb_tensor_free(g);
}

/* ---- cross-entropy ------------------------------------------------------------------------- */

static void test_cross_entropy_parity(void) {
    if (!load()) return;
    static const char *const cases[] = {"xem", "xes", "xen", "xep"};
    for (size_t d = 0; d < sizeof devices / sizeof *devices; d++)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            const char *c = cases[i];
            nb_ctx *ctx = ctx_on(devices[d], 0);
            const nbt_array *cfg = get(c, "cfg");
            if (!ctx || !cfg) continue;
            nb_tensor *x = leaf(ctx, get(c, "x"), 1), *t = ints(ctx, get(c, "t"));
            nb_tensor *y = nb_cross_entropy_ex(ctx, x, t, (nb_reduction)cfg->data[0],
                                               (int64_t)cfg->data[1], cfg->data[2]);
            compare(c, "y", y);
            CHECK_OK(nb_backward_with(ctx, y, leaf(ctx, get(c, "g"), 0)));
            compare_grad(c, "dx", x);
            nb_ctx_free(ctx);
        }
}

/* Without smoothing or ignored targets it is the existing cross_entropy on [N, V]. */
static void test_cross_entropy_matches_plain(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 8);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_randn(ctx, NB_DIMS(13, 9), 0.0f, 2.0f, &rng);
    nb_tensor *t = nb_tensor_new(ctx, NB_I32, NB_DIMS(13));
    for (int i = 0; i < 13; i++) nb_i32(t)[i] = (int32_t)nb_rng_below(&rng, 9);
    for (int r = 0; r < 3; r++) {
        nb_tensor *a = nb_cross_entropy(ctx, x, t, (nb_reduction)r);
        nb_tensor *b = nb_cross_entropy_ex(ctx, x, t, (nb_reduction)r, -100, 0.0f);
        CHECK_PTR(a);
        CHECK_PTR(b);
        for (int64_t i = 0; a && b && i < a->numel; i++)
            CHECK_CLOSE(nb_f32(b)[i], nb_f32(a)[i], 1e-6, 1e-6);
    }
    nb_ctx_free(ctx);
}

/* ---- the thread count changes nothing ------------------------------------------------------- */

/* One forward and backward of every sequence op, large enough for the back end to split the
 * work; writes every output and gradient, concatenated, into out (returns the count). */
/* a random leaf requiring a gradient, remembered in leaves[] */
static nb_tensor *leaf_of(nb_ctx *ctx, nb_rng *rng, nb_tensor **leaves, int *nl, int rank,
                          const int64_t *shape) {
    nb_tensor *t = nb_randn(ctx, rank, shape, 0.0f, 1.0f, rng);
    if (t) nb_tensor_set_requires_grad(t, 1);
    leaves[(*nl)++] = t;
    return t;
}
#define LEAF(...) leaf_of(ctx, &rng, leaves, &nl, __VA_ARGS__)

static int64_t run_all(nb_ctx *ctx, float *out, int64_t cap) {
    nb_rng rng;
    nb_rng_seed(&rng, 77);
    int64_t n = 0;
    nb_tensor *leaves[16];
    int nl = 0;
    /* embedding 100 x 64 of 32 x 32 tokens, then layer norm and RMS norm over 64 */
    const int64_t B = 32, T = 32, D = 64;
    nb_tensor *W = LEAF(NB_DIMS(100, D));
    nb_tensor *ids = nb_tensor_new(ctx, NB_I32, NB_DIMS(B, T));
    for (int64_t i = 0; i < B * T; i++) nb_i32(ids)[i] = (int32_t)nb_rng_below(&rng, 100);
    nb_tensor *e = nb_embedding(ctx, ids, W, 3);
    nb_tensor *lw = LEAF(NB_DIMS(D)), *lb = LEAF(NB_DIMS(D));
    nb_tensor *h = nb_rms_norm(ctx, nb_layer_norm(ctx, e, lw, lb, 1e-5f), lw, 1e-6f);
    /* causal attention with dropout and a padding mask, 4 heads of 16 (q = k = v: strided
     * views of h) */
    static const int heads_first[4] = {0, 2, 1, 3};
    nb_tensor *q = nb_permute(ctx, nb_reshape(ctx, h, NB_DIMS(B, T, 4, 16)), heads_first);
    nb_tensor *mask = nb_tensor_new(ctx, NB_I32, NB_DIMS(B, T));
    for (int64_t i = 0; i < B * T; i++) nb_i32(mask)[i] = i % T > T - 2 - i / T;
    nb_attention_opts ao = {.causal = 1, .dropout = 0.1f, .training = 1, .rng = &rng};
    nb_tensor *att = nb_attention(ctx, q, q, q, mask, &ao);
    /* a reversed LSTM with lengths, then a GRU, over [B, T, 64] */
    nb_tensor *xs = nb_reshape(ctx, nb_permute(ctx, att, heads_first), NB_DIMS(B, T, D));
    nb_tensor *len = nb_tensor_new(ctx, NB_I32, NB_DIMS(B));
    for (int i = 0; i < B; i++) nb_i32(len)[i] = (int32_t)(T - i);
    nb_rnn_opts ro = {.lengths = len, .reverse = 1};
    nb_rnn_out l = nb_lstm(ctx, xs, NULL, NULL, LEAF(NB_DIMS(4 * D, D)), LEAF(NB_DIMS(4 * D, D)),
                           LEAF(NB_DIMS(4 * D)), NULL, &ro);
    ro.reverse = 0;
    nb_rnn_out gr =
        nb_gru(ctx, l.y, LEAF(NB_DIMS(B, D)), LEAF(NB_DIMS(3 * D, D)), LEAF(NB_DIMS(3 * D, D)),
               LEAF(NB_DIMS(3 * D)), LEAF(NB_DIMS(3 * D)), &ro);
    /* the GRU's outputs as logits over 64 classes, some positions ignored */
    nb_tensor *logits = nb_add(ctx, gr.y, nb_reshape(ctx, gr.h, NB_DIMS(B, 1, D)));
    nb_tensor *tg = nb_tensor_new(ctx, NB_I32, NB_DIMS(B, T));
    for (int64_t i = 0; i < B * T; i++) nb_i32(tg)[i] = i % 7 ? (int32_t)(i % D) : -100;
    nb_tensor *loss = nb_cross_entropy_ex(ctx, logits, tg, NB_REDUCE_MEAN, -100, 0.1f);
    nb_tensor *outs[] = {e, h, att, l.y, l.h, l.c, gr.y, loss};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        CHECK_PTR(outs[i]);
        if (!outs[i]) return 0;
    }
    CHECK_OK(nb_backward(ctx, loss));
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        nb_tensor *c = nb_contiguous(ctx, outs[i]);
        for (int64_t j = 0; c && j < c->numel && n < cap; j++) out[n++] = nb_f32(c)[j];
    }
    for (int i = 0; i < nl; i++) {
        if (!leaves[i]) return 0;
        CHECK_MSG(leaves[i]->grad != NULL, "leaf %d has no gradient", i);
        for (int64_t j = 0; leaves[i]->grad && j < leaves[i]->numel && n < cap; j++)
            out[n++] = nb_f32(leaves[i]->grad)[j];
    }
    return n;
}

static void test_threads_change_nothing(void) {
    const int64_t cap = 1 << 22;
    float *a = malloc((size_t)cap * sizeof *a), *b = malloc((size_t)cap * sizeof *b);
    int saved = nb_get_threads();
    CHECK_OK(nb_set_threads(3)); /* a pool of 3, whatever the machine; budgets 1, 2, 3 */
    for (size_t d = 0; d < sizeof devices / sizeof *devices; d++) {
        nb_ctx *c1 = ctx_on(devices[d], 1);
        int64_t n1 = c1 ? run_all(c1, a, cap) : 0;
        CHECK(n1 > 0 && n1 < cap);
        for (int nt = 2; nt <= 3; nt++) {
            nb_ctx *c = ctx_on(devices[d], nt);
            int64_t n = c ? run_all(c, b, cap) : 0;
            CHECK(n == n1);
            int64_t diff = 0;
            for (int64_t i = 0; i < n && i < n1; i++) diff += memcmp(&a[i], &b[i], 4) != 0;
            CHECK_MSG(diff == 0, "%s: %lld of %lld values differ between 1 and %d threads",
                      devices[d] ? devices[d] : "cpu", (long long)diff, (long long)n, nt);
            nb_ctx_free(c);
        }
        nb_ctx_free(c1);
    }
    CHECK_OK(nb_set_threads(saved));
    free(a);
    free(b);
}

/* ---- attention: dropout, keys all masked ------------------------------------------------------
 */

/* q = k = 0 makes every weight 1/Tk; v = 1 makes o_i = Σ_j z_ij / Tk, whose mean over many
 * rows is 1 when z is 0 with probability p and 1/(1 − p) otherwise. */
static void test_attention_dropout(void) {
    const int64_t B = 4, H = 4, T = 64;
    const float p = 0.25f;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *q = nb_zeros(ctx, NB_DIMS(B, H, T, 8)), *v = nb_ones(ctx, NB_DIMS(B, H, T, 1));
    nb_rng rng, rng2;
    nb_rng_seed(&rng, 5);
    nb_rng_seed(&rng2, 5);
    nb_attention_opts o = {.dropout = p, .training = 1, .rng = &rng};
    nb_tensor *y = nb_attention(ctx, q, q, v, NULL, &o);
    o.rng = &rng2;
    nb_tensor *y2 = nb_attention(ctx, q, q, v, NULL, &o); /* the same seed: the same mask */
    nb_tensor *y3 = nb_attention(ctx, q, q, v, NULL, &o); /* the generator moved on */
    o.training = 0;
    nb_tensor *y4 = nb_attention(ctx, q, q, v, NULL, &o); /* eval: no dropout */
    CHECK(y && y2 && y3 && y4);
    if (!y || !y2 || !y3 || !y4) return;
    double mean = 0.0;
    int64_t same = 0, drops = 0;
    for (int64_t i = 0; i < y->numel; i++) {
        float v1 = nb_f32(y)[i];
        mean += v1;
        same += v1 == nb_f32(y3)[i];
        /* a multiple of 1/(T (1 − p)): T (1 − p) o_i counts the kept keys */
        float kept = v1 * (float)T * (1.0f - p);
        CHECK_CLOSE(kept, roundf(kept), 1e-3, 0.0);
        drops += T - (int64_t)roundf(kept);
        CHECK(nb_f32(y2)[i] == v1);
        CHECK_CLOSE(nb_f32(y4)[i], 1.0f, 1e-6, 0.0);
    }
    mean /= (double)y->numel;
    double frac = (double)drops / (double)(y->numel * T);
    CHECK_MSG(fabs(mean - 1.0) < 0.02, "mean output %.4f, expected 1", mean);
    CHECK_MSG(fabs(frac - p) < 0.01, "dropped %.4f of the weights, expected %.2f", frac, p);
    CHECK_MSG(same < y->numel / 4, "a new seed gave %lld of %lld rows unchanged", (long long)same,
              (long long)y->numel);
    nb_ctx_free(ctx);
}

/* A sample whose keys are all ignored attends to nothing: output 0, gradients 0, no NaN. */
static void test_attention_all_masked(void) {
    for (size_t d = 0; d < sizeof devices / sizeof *devices; d++) {
        nb_ctx *ctx = ctx_on(devices[d], 0);
        nb_rng rng;
        nb_rng_seed(&rng, 6);
        nb_tensor *q = nb_randn(ctx, NB_DIMS(2, 2, 3, 4), 0.0f, 1.0f, &rng);
        nb_tensor *k = nb_randn(ctx, NB_DIMS(2, 2, 5, 4), 0.0f, 1.0f, &rng);
        nb_tensor *v = nb_randn(ctx, NB_DIMS(2, 2, 5, 4), 0.0f, 1.0f, &rng);
        nb_tensor_set_requires_grad(q, 1);
        nb_tensor_set_requires_grad(k, 1);
        nb_tensor_set_requires_grad(v, 1);
        nb_tensor *mask = nb_tensor_new(ctx, NB_I32, NB_DIMS(2, 5));
        for (int i = 0; i < 10; i++) nb_i32(mask)[i] = i >= 5 || i == 2; /* sample 1: all */
        nb_tensor *y = nb_attention(ctx, q, k, v, mask, NULL);
        CHECK_PTR(y);
        if (!y) continue;
        CHECK_OK(nb_backward(ctx, nb_sum(ctx, y, NB_ALL_AXES, 0)));
        for (int64_t i = 0; i < y->numel; i++) {
            CHECK(isfinite(nb_f32(y)[i]));
            if (i >= y->numel / 2) CHECK(nb_f32(y)[i] == 0.0f);
        }
        nb_tensor *gs[3] = {q->grad, k->grad, v->grad};
        for (int j = 0; j < 3; j++) {
            CHECK_PTR(gs[j]);
            for (int64_t i = 0; gs[j] && i < gs[j]->numel; i++) {
                CHECK(isfinite(nb_f32(gs[j])[i]));
                if (i >= gs[j]->numel / 2) CHECK(nb_f32(gs[j])[i] == 0.0f);
            }
        }
        /* the ignored key 2 of sample 0 gets no gradient */
        for (int64_t h = 0; k->grad && h < 2; h++)
            for (int64_t c = 0; c < 4; c++) {
                CHECK(nb_f32(k->grad)[(h * 5 + 2) * 4 + c] == 0.0f);
                CHECK(nb_f32(v->grad)[(h * 5 + 2) * 4 + c] == 0.0f);
            }
        nb_ctx_free(ctx);
    }
}

/* ---- the recurrent results are views of one packed tensor ---------------------------------- */

static void test_rnn_views(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 9);
    const int64_t B = 2, T = 3, I = 2, H = 4;
    nb_tensor *x = nb_randn(ctx, NB_DIMS(B, T, I), 0.0f, 1.0f, &rng);
    nb_tensor *Wi = nb_randn(ctx, NB_DIMS(4 * H, I), 0.0f, 0.5f, &rng);
    nb_tensor *Wh = nb_randn(ctx, NB_DIMS(4 * H, H), 0.0f, 0.5f, &rng);
    nb_tensor_set_requires_grad(Wh, 1);
    nb_rnn_out r = nb_lstm(ctx, x, NULL, NULL, Wi, Wh, NULL, NULL, NULL);
    CHECK(r.y && r.h && r.c);
    if (!r.y || !r.h || !r.c) return;
    CHECK(nb_tensor_is_contiguous(r.y) && nb_tensor_is_contiguous(r.h));
    CHECK(r.y->rank == 3 && r.y->shape[0] == B && r.y->shape[1] == T && r.y->shape[2] == H);
    CHECK(r.h->rank == 2 && r.h->shape[0] == B && r.h->shape[1] == H);
    CHECK(nb_f32(r.h) == nb_f32(r.y) + B * T * H && nb_f32(r.c) == nb_f32(r.h) + B * H);
    /* without lengths, h_n is y at the last step */
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < H; j++)
            CHECK(nb_f32(r.h)[b * H + j] == nb_f32(r.y)[(b * T + T - 1) * H + j]);
    /* a loss on c alone reaches W_hh */
    CHECK_OK(nb_backward(ctx, nb_sum(ctx, r.c, NB_ALL_AXES, 0)));
    CHECK_PTR(Wh->grad);
    nb_ctx_free(ctx);
}

/* ---- errors --------------------------------------------------------------------------------- */

static void expect_error(nb_ctx *ctx, const void *result, const char *what, const char *needle) {
    CHECK_MSG(result == NULL, "%s: expected an error", what);
    CHECK_MSG(nb_ctx_status(ctx) != NB_OK, "%s: no sticky status", what);
    CHECK_MSG(strstr(nb_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
              nb_last_error(), needle);
    nb_ctx_reset(ctx);
}

static void test_errors(void) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *W = nb_zeros(ctx, NB_DIMS(5, 3));
    nb_tensor *ids = nb_tensor_new(ctx, NB_I32, NB_DIMS(2, 3));
    for (int i = 0; i < 6; i++) nb_i32(ids)[i] = i;
    expect_error(ctx, nb_embedding(ctx, ids, W, NB_NO_PADDING), "id 5 of 5",
                 "token id 5 at position [1,2]");
    W = nb_zeros(ctx, NB_DIMS(5, 3));
    ids = nb_tensor_new(ctx, NB_I32, NB_DIMS(2));
    nb_i32(ids)[0] = 0, nb_i32(ids)[1] = -1;
    expect_error(ctx, nb_embedding(ctx, ids, W, NB_NO_PADDING), "negative id", "token id -1");
    W = nb_zeros(ctx, NB_DIMS(5, 3));
    ids = nb_tensor_new(ctx, NB_I32, NB_DIMS(2));
    nb_i32(ids)[0] = nb_i32(ids)[1] = 0;
    expect_error(ctx, nb_embedding(ctx, ids, W, 5), "padding 5", "padding index 5");
    W = nb_zeros(ctx, NB_DIMS(5, 3));
    expect_error(ctx, nb_embedding(ctx, W, W, 0), "f32 ids", "ids must be i32");

    nb_tensor *x = nb_zeros(ctx, NB_DIMS(2, 3, 4));
    expect_error(ctx, nb_layer_norm(ctx, x, nb_zeros(ctx, NB_DIMS(3)), NULL, 1e-5f),
                 "layer norm weight", "weight must be [4]");
    x = nb_zeros(ctx, NB_DIMS(2, 3, 4));
    expect_error(ctx, nb_rms_norm(ctx, x, NULL, -1.0f), "negative eps", "eps");

    nb_tensor *lg = nb_zeros(ctx, NB_DIMS(2, 3, 4)), *t = nb_tensor_new(ctx, NB_I32, NB_DIMS(2, 3));
    for (int i = 0; i < 6; i++) nb_i32(t)[i] = i == 4 ? 4 : 0;
    expect_error(ctx, nb_cross_entropy_ex(ctx, lg, t, NB_REDUCE_MEAN, -100, 0.0f), "target 4",
                 "target 4 at position [1,1]");
    lg = nb_zeros(ctx, NB_DIMS(2, 3, 4));
    t = nb_tensor_new(ctx, NB_I32, NB_DIMS(3, 2));
    expect_error(ctx, nb_cross_entropy_ex(ctx, lg, t, NB_REDUCE_MEAN, -100, 0.0f), "target shape",
                 "targets must have the logits' shape");
    lg = nb_zeros(ctx, NB_DIMS(2, 3, 4));
    t = nb_tensor_new(ctx, NB_I32, NB_DIMS(2, 3));
    memset(t->data, 0, 6 * sizeof(int32_t));
    expect_error(ctx, nb_cross_entropy_ex(ctx, lg, t, NB_REDUCE_MEAN, -100, 1.5f), "smoothing 1.5",
                 "label_smoothing");

    nb_tensor *q = nb_zeros(ctx, NB_DIMS(1, 2, 3, 4)), *k = nb_zeros(ctx, NB_DIMS(1, 2, 5, 3));
    expect_error(ctx, nb_attention(ctx, q, k, k, NULL, NULL), "d mismatch", "same feature size");
    q = nb_zeros(ctx, NB_DIMS(1, 2, 6, 4));
    k = nb_zeros(ctx, NB_DIMS(1, 2, 5, 4));
    expect_error(ctx, nb_attention(ctx, q, k, k, NULL, &(nb_attention_opts){.causal = 1}),
                 "causal Tk < Tq", "at least as many keys");
    q = nb_zeros(ctx, NB_DIMS(1, 2, 3, 4));
    k = nb_zeros(ctx, NB_DIMS(1, 2, 5, 4));
    expect_error(ctx, nb_attention(ctx, q, k, k, nb_zeros(ctx, NB_DIMS(1, 4)), NULL), "mask",
                 "mask must be [B, Tk] = [1, 5]");
    q = nb_zeros(ctx, NB_DIMS(3, 4));
    expect_error(ctx, nb_attention(ctx, q, q, q, NULL, NULL), "rank 2", "[B, H, T, d]");
    q = nb_zeros(ctx, NB_DIMS(1, 1, 3, 4));
    expect_error(
        ctx, nb_attention(ctx, q, q, q, NULL, &(nb_attention_opts){.dropout = 0.5f, .training = 1}),
        "no rng", "random generator");

    x = nb_zeros(ctx, NB_DIMS(2, 4, 3));
    nb_tensor *Wi = nb_zeros(ctx, NB_DIMS(16, 3)), *Wh = nb_zeros(ctx, NB_DIMS(16, 4));
    nb_tensor *len = nb_tensor_new(ctx, NB_I32, NB_DIMS(2));
    nb_i32(len)[0] = 4, nb_i32(len)[1] = 5;
    nb_rnn_opts o = {.lengths = len};
    expect_error(ctx, nb_lstm(ctx, x, NULL, NULL, Wi, Wh, NULL, NULL, &o).y, "length 5",
                 "length of sample 1 is 5, outside [0, 4]");
    x = nb_zeros(ctx, NB_DIMS(2, 4, 3));
    Wi = nb_zeros(ctx, NB_DIMS(16, 3));
    Wh = nb_zeros(ctx, NB_DIMS(16, 4));
    expect_error(ctx, nb_gru(ctx, x, NULL, Wi, Wh, NULL, NULL, NULL).y, "gru with lstm weights",
                 "W_hh must be [3·H, H]");
    x = nb_zeros(ctx, NB_DIMS(2, 4, 3));
    Wi = nb_zeros(ctx, NB_DIMS(16, 2));
    Wh = nb_zeros(ctx, NB_DIMS(16, 4));
    expect_error(ctx, nb_lstm(ctx, x, NULL, NULL, Wi, Wh, NULL, NULL, NULL).y, "W_ih columns",
                 "W_ih must be [16, 3]");
    x = nb_zeros(ctx, NB_DIMS(2, 4, 3));
    Wi = nb_zeros(ctx, NB_DIMS(4, 3));
    Wh = nb_zeros(ctx, NB_DIMS(4, 4));
    expect_error(ctx, nb_rnn(ctx, x, nb_zeros(ctx, NB_DIMS(3, 4)), Wi, Wh, NULL, NULL, NULL).y,
                 "h0 batch", "h0 must be [B, H] = [2, 4]");
    nb_ctx_free(ctx);
}

/* ---- memory: no allocation in the steady state; every failure reported, nothing leaked ------ */

static long n_alloc, n_live, fail_at = -1;
static void *count_alloc(size_t size, size_t align, void *u) {
    (void)u;
    if (n_alloc++ == fail_at) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1))
        return NULL;
    n_live++;
    return p;
}
static void count_free(void *p, void *u) {
    (void)u;
    if (p) n_live--;
    free(p);
}

/* A char-LSTM step and a char-GPT-like block, forward and backward (small sizes). */
static nb_status train_step(nb_ctx *ctx, nb_tensor *const *P, const nb_tensor *ids,
                            const nb_tensor *tg, nb_rng *rng) {
    nb_tensor *e = nb_embedding(ctx, (nb_tensor *)ids, P[0], NB_NO_PADDING); /* [4, 8, 16] */
    nb_rnn_out l = nb_lstm(ctx, e, NULL, NULL, P[1], P[2], P[3], P[4], NULL);
    nb_tensor *h = nb_layer_norm(ctx, l.y, P[5], P[6], 1e-5f);
    nb_tensor *q = nb_reshape(ctx, h, NB_DIMS(4, 1, 8, 16));
    nb_attention_opts ao = {.causal = 1, .dropout = 0.1f, .training = 1, .rng = rng};
    nb_tensor *a = nb_reshape(ctx, nb_attention(ctx, q, q, q, NULL, &ao), NB_DIMS(4, 8, 16));
    nb_tensor *g =
        nb_gru(ctx, nb_rms_norm(ctx, a, P[5], 1e-6f), NULL, P[7], P[8], NULL, NULL, NULL).y;
    nb_tensor *loss = nb_cross_entropy_ex(ctx, g, (nb_tensor *)tg, NB_REDUCE_MEAN, -100, 0.1f);
    nb_status s = nb_backward(ctx, loss);
    nb_ctx_reset(ctx);
    return s;
}

static nb_status make_params(nb_tensor **P, nb_tensor **ids, nb_tensor **tg) {
    static const int64_t shapes[9][2] = {{16, 16}, {64, 16}, {64, 16}, {64, 1}, {64, 1},
                                         {16, 1},  {16, 1},  {48, 16}, {48, 16}};
    nb_rng rng;
    nb_rng_seed(&rng, 10);
    for (int i = 0; i < 9; i++) {
        int rank = shapes[i][1] == 1 ? 1 : 2;
        P[i] = nb_randn(NULL, rank, shapes[i], 0.0f, 0.3f, &rng);
        if (!P[i]) return NB_ERR_NOMEM;
        nb_tensor_set_requires_grad(P[i], 1);
    }
    *ids = nb_tensor_new(NULL, NB_I32, NB_DIMS(4, 8));
    *tg = nb_tensor_new(NULL, NB_I32, NB_DIMS(4, 8));
    if (!*ids || !*tg) return NB_ERR_NOMEM;
    for (int i = 0; i < 32; i++) {
        nb_i32(*ids)[i] = (int32_t)nb_rng_below(&rng, 16);
        nb_i32(*tg)[i] = i % 5 ? (int32_t)nb_rng_below(&rng, 16) : -100;
    }
    return NB_OK;
}

static void free_params(nb_tensor **P, nb_tensor *ids, nb_tensor *tg) {
    for (int i = 0; i < 9; i++) nb_tensor_free(P[i]);
    nb_tensor_free(ids);
    nb_tensor_free(tg);
}

static void test_steady_state_no_alloc(void) {
    nb_allocator al = {count_alloc, count_free, NULL};
    n_alloc = n_live = 0;
    fail_at = -1;
    nb_set_allocator(&al);
    nb_tensor *P[9] = {NULL}, *ids = NULL, *tg = NULL;
    CHECK_OK(make_params(P, &ids, &tg));
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_rng rng;
    nb_rng_seed(&rng, 11);
    long at_step3 = 0;
    for (int step = 1; step <= 8 && ctx; step++) {
        if (step == 3) at_step3 = n_alloc;
        CHECK_OK(train_step(ctx, P, ids, tg, &rng));
    }
    CHECK_MSG(at_step3 > 0 && n_alloc == at_step3, "%ld allocations in steps 3..8 (%ld before)",
              n_alloc - at_step3, at_step3);
    nb_ctx_free(ctx);
    free_params(P, ids, tg);
    CHECK_MSG(n_live == 0, "%ld allocations not freed", n_live);
    nb_set_allocator(NULL);
}

static void test_allocation_failures(void) {
    nb_allocator al = {count_alloc, count_free, NULL};
    nb_set_allocator(&al);
    int failures = 0;
    for (long n = 0; n < 200; n++) {
        n_alloc = n_live = 0;
        fail_at = n;
        nb_tensor *P[9] = {NULL}, *ids = NULL, *tg = NULL;
        nb_status s = make_params(P, &ids, &tg);
        nb_ctx *ctx = s == NB_OK ? nb_ctx_new(NULL) : NULL;
        nb_rng rng;
        nb_rng_seed(&rng, 11);
        if (ctx) s = train_step(ctx, P, ids, tg, &rng);
        nb_ctx_free(ctx);
        free_params(P, ids, tg);
        CHECK_MSG(n_live == 0, "failing allocation %ld: %ld allocations not freed", n, n_live);
        if (n_alloc <= n) break; /* no allocation failed: every one was tried */
        failures++;
        CHECK_MSG(s != NB_OK || !ctx, "failing allocation %ld went unreported", n);
    }
    printf("     %d allocation failures injected\n", failures);
    CHECK(failures > 0);
    fail_at = -1;
    nb_set_allocator(NULL);
}

static const nbt_case cases[] = {
    {"rnn_parity", test_rnn_parity},
    {"attention_parity", test_attention_parity},
    {"norm_parity", test_norm_parity},
    {"embedding_parity", test_embedding_parity},
    {"cross_entropy_parity", test_cross_entropy_parity},
    {"cross_entropy_matches_plain", test_cross_entropy_matches_plain},
    {"threads_change_nothing", test_threads_change_nothing},
    {"attention_dropout", test_attention_dropout},
    {"attention_all_masked", test_attention_all_masked},
    {"rnn_views", test_rnn_views},
    {"errors", test_errors},
    {"steady_state_no_alloc", test_steady_state_no_alloc},
    {"allocation_failures", test_allocation_failures},
};

int main(int argc, char **argv) {
    int r = nbt_run(cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
    nbt_fixture_free(fx);
    return r;
}
