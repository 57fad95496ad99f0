/* test_step_replay — nb_step (train/step_replay.c): a recorded training step, replayed, gives
 * the eager loop's parameters and losses bit for bit: the XOR network of examples/xor.c with
 * its own loss (½ Σ (out − y)², SGD); an MLP with cross-entropy and Adam at two threads, on
 * new data every step and batches of other sizes in between (two recordings kept); MSE with
 * SGD and momentum. A step that cannot be replayed (active dropout) runs eagerly with the same
 * results and says why, or is refused before the update when replay is required; a label that
 * goes bad after the recording stops the step with the eager path's error. */
#include "nbtest.h"

#include "autograd/replay.h"

typedef struct pair_cfg {
    int64_t in, hidden, out;
    nb_activation act1, act2;
    float dropout;          /* > 0: a dropout layer after the first hidden layer */
    int training;           /* the model's mode */
    int optim;              /* 0: SGD lr 0.1, 1: Adam, 2: SGD with momentum */
    nb_step_def def;        /* loss, loss_fn, ctx options, dropout_rng is set by run_pair */
    int labels;             /* y: class labels (i32 [b]) rather than targets [b, out] */
    const int64_t *batches; /* the batch size of each step */
    int steps;
} pair_cfg;

static nb_model *make_model(const pair_cfg *c) {
    nb_model *m = nb_model_new(NB_DIMS(c->in), 7);
    if (!m || nb_model_dense(m, c->hidden, c->act1) ||
        (c->dropout > 0 && nb_model_dropout(m, c->dropout)) ||
        nb_model_dense(m, c->hidden, c->act2) || nb_model_dense(m, c->out, NB_ACT_NONE) ||
        nb_model_set_training(m, c->training)) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

static nb_optim *make_optim(const pair_cfg *c, nb_model *m) {
    if (c->optim == 1) return nb_adam_new(nb_model_params(m), &(nb_adam_opts){.lr = 1e-2});
    if (c->optim == 2)
        return nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9});
    return nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 0.1});
}

/* The batch of step k: x uniform in [-1, 1), y labels or targets, from a generator of k. */
static void make_batch(const pair_cfg *c, int k, nb_tensor **x, nb_tensor **y) {
    const int64_t b = c->batches[k];
    nb_rng r;
    nb_rng_seed(&r, 1000 + (uint64_t)k);
    *x = nb_tensor_new(NULL, NB_F32, NB_DIMS(b, c->in));
    *y = c->labels ? nb_tensor_new(NULL, NB_I32, NB_DIMS(b))
                   : nb_tensor_new(NULL, NB_F32, NB_DIMS(b, c->out));
    if (!*x || !*y) return;
    float *xd = (*x)->data;
    for (int64_t i = 0; i < (*x)->numel; i++) xd[i] = nb_rng_uniform_range(&r, -1.0f, 1.0f);
    if (c->labels) {
        int32_t *yd = (*y)->data;
        for (int64_t i = 0; i < b; i++) yd[i] = (int32_t)nb_rng_below(&r, (uint64_t)c->out);
    } else {
        float *yd = (*y)->data;
        for (int64_t i = 0; i < (*y)->numel; i++) yd[i] = nb_rng_uniform(&r);
    }
}

/* The eager loop nb_step stands for. */
static nb_status eager_step(const pair_cfg *c, nb_model *m, nb_optim *o, nb_ctx *ctx, nb_rng *rng,
                            nb_tensor *x, nb_tensor *y, float *loss) {
    nb_ctx_reset(ctx);
    nb_tensor *out = nb_model_forward_rng(m, ctx, x, rng);
    nb_tensor *l = c->def.loss_fn ? c->def.loss_fn(ctx, out, y, c->def.user)
                                  : nb_loss_apply(ctx, c->def.loss, out, y);
    if (!l) return nb_ctx_status(ctx);
    nb_optim_zero_grad(o);
    nb_status s = nb_backward(ctx, l);
    if (s != NB_OK) return s;
    *loss = nb_item(l);
    return nb_optim_step(o);
}

static int same_bits(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

/* Trains two copies of one model, eagerly and with nb_step, and checks every loss and the
 * final parameters and gradients bit for bit. Returns the number of replays; why (may be
 * NULL) gets nb_step_eager_reason ("" for none). */
static int64_t run_pair(const pair_cfg *c, char *why, size_t nwhy) {
    nb_model *ma = make_model(c), *mb = make_model(c);
    CHECK_PTR(ma);
    CHECK_PTR(mb);
    if (!ma || !mb) return -1;
    nb_optim *oa = make_optim(c, ma), *ob = make_optim(c, mb);
    nb_ctx *ctx = nb_ctx_new(c->def.ctx);
    nb_rng ra, rb;
    nb_rng_seed(&ra, 5);
    nb_rng_seed(&rb, 5);
    nb_step_def def = c->def;
    def.dropout_rng = c->dropout > 0 ? &rb : NULL;
    nb_step *st = nb_step_new(mb, ob, &def);
    CHECK_PTR(st);
    int64_t replays = -1;
    for (int k = 0; st && oa && ctx && k < c->steps; k++) {
        nb_tensor *x, *y;
        make_batch(c, k, &x, &y);
        float la = NAN, lb = NAN;
        CHECK_OK(eager_step(c, ma, oa, ctx, c->dropout > 0 ? &ra : NULL, x, y, &la));
        CHECK_OK(nb_step_run(st, x, y, &lb));
        CHECK_MSG(same_bits(&la, &lb, 1), "step %d: loss %.9g eager, %.9g by nb_step", k,
                  (double)la, (double)lb);
        nb_tensor_free(x);
        nb_tensor_free(y);
    }
    if (st) {
        nb_params *pa = nb_model_params(ma), *pb = nb_model_params(mb);
        const int64_t n = nb_params_numel(pa);
        CHECK(n == nb_params_numel(pb));
        CHECK_MSG(same_bits(nb_params_data(pa), nb_params_data(pb), n),
                  "the parameters differ from the eager loop's");
        CHECK_MSG(same_bits(nb_params_grad(pa), nb_params_grad(pb), n),
                  "the last gradients differ from the eager loop's");
        nb_tensor *out = nb_step_output(st);
        CHECK(out && out->shape[0] == c->batches[c->steps - 1]);
        replays = nb_step_replays(st);
        const char *r = nb_step_eager_reason(st);
        if (why) snprintf(why, nwhy, "%s", r ? r : "");
        if (r) printf("  eager because: %s\n", r);
    }
    nb_step_free(st);
    nb_ctx_free(ctx);
    nb_optim_free(oa);
    nb_optim_free(ob);
    nb_model_free(ma);
    nb_model_free(mb);
    return replays;
}

static nb_tensor *half_sse(nb_ctx *ctx, nb_tensor *out, nb_tensor *y, void *user) {
    (void)user;
    return nb_mul_scalar(ctx, nb_mse_loss(ctx, out, y, NB_REDUCE_SUM), 0.5f);
}

/* examples/xor.c's network, loss and optimizer, 300 steps on the four samples. */
static void test_xor_bitwise(void) {
    static const float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    static const float Y[4] = {0, 1, 1, 0};
    nb_model *ma = nb_model_new(NB_DIMS(2), 42), *mb = nb_model_new(NB_DIMS(2), 42);
    CHECK_OK(nb_model_dense(ma, 4, NB_ACT_SIGMOID));
    CHECK_OK(nb_model_dense(ma, 1, NB_ACT_SIGMOID));
    CHECK_OK(nb_model_dense(mb, 4, NB_ACT_SIGMOID));
    CHECK_OK(nb_model_dense(mb, 1, NB_ACT_SIGMOID));
    nb_optim *oa = nb_sgd_new(nb_model_params(ma), &(nb_sgd_opts){.lr = 0.1});
    nb_optim *ob = nb_sgd_new(nb_model_params(mb), &(nb_sgd_opts){.lr = 0.1});
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, (void *)X, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_from(NULL, NB_F32, (void *)Y, NB_DIMS(4, 1));
    nb_step *st = nb_step_new(mb, ob, &(nb_step_def){.loss_fn = half_sse, .require_replay = 1});
    CHECK_PTR(st);
    const pair_cfg c = {.def = {.loss_fn = half_sse}};
    int bad = 0;
    for (int k = 0; st && k < 300; k++) {
        float la = NAN, lb = NAN;
        CHECK_OK(eager_step(&c, ma, oa, ctx, NULL, x, y, &la));
        CHECK_OK(nb_step_run(st, x, y, &lb));
        bad += !same_bits(&la, &lb, 1);
    }
    CHECK_MSG(bad == 0, "%d of 300 losses differ from the eager loop's", bad);
    nb_params *pa = nb_model_params(ma), *pb = nb_model_params(mb);
    CHECK(same_bits(nb_params_data(pa), nb_params_data(pb), nb_params_numel(pa)));
    CHECK(nb_step_replays(st) == 299);
    CHECK(nb_step_eager_reason(st) == NULL);
    /* the outputs of the last step are the eager loop's */
    nb_tensor *oe = nb_model_forward(ma, ctx, x); /* after the update: both models */
    CHECK_PTR(oe);
    nb_step_free(st);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(oa);
    nb_optim_free(ob);
    nb_model_free(ma);
    nb_model_free(mb);
}

/* An MLP with cross-entropy and Adam at two threads (128 x 512 activations: the elementwise
 * kernels and the GEMMs split over the pool); new data every step; batches of other sizes in
 * between. A step keeps two recordings (the least recently used goes): 128 recorded at step
 * 0, 17 at step 3, both replayed after; 33 at step 7 replaces 128's, and 128 at step 8
 * replaces 17's. */
static void test_mlp_xent_adam_threads(void) {
    static const int64_t sizes[] = {128, 128, 128, 17, 128, 128, 17, 33, 128, 128, 128, 128};
    CHECK_OK(nb_set_threads(2));
    const nb_ctx_opts co = {.threads = 2};
    pair_cfg c = {.in = 48,
                  .hidden = 96,
                  .out = 5,
                  .act1 = NB_ACT_RELU,
                  .act2 = NB_ACT_TANH,
                  .training = 1,
                  .optim = 1,
                  .labels = 1,
                  .batches = sizes,
                  .steps = 12};
    c.def = (nb_step_def){.loss = NB_LOSS_CROSS_ENTROPY, .ctx = &co, .require_replay = 1};
    char why[320];
    CHECK(run_pair(&c, why, sizeof why) == 12 - 4); /* recorded at steps 0, 3, 7 and 8 */
    CHECK(!*why);
}

/* Mean squared error, SGD with momentum, one thread, GELU and sigmoid. */
static void test_mlp_mse_momentum(void) {
    static const int64_t sizes[] = {32, 32, 32, 32, 32, 32, 32, 32};
    const nb_ctx_opts co = {.threads = 1};
    pair_cfg c = {.in = 10,
                  .hidden = 24,
                  .out = 3,
                  .act1 = NB_ACT_GELU,
                  .act2 = NB_ACT_SIGMOID,
                  .training = 1,
                  .optim = 2,
                  .batches = sizes,
                  .steps = 8};
    c.def = (nb_step_def){.loss = NB_LOSS_MSE, .ctx = &co};
    CHECK(run_pair(&c, NULL, 0) == 7);
}

/* examples/xor.c's own loss, ½ Σ (out − y)², on every CPU device: the replay scales the loss
 * and its gradient's one element by a multiply of its own (d_mul_scalar1), and folds the
 * seed and the squared error's zeros (fuse), with each kernel set's bits. */
static void test_half_sse_every_device(void) {
    static const char *const devices[] = {"cpu:ref", "cpu:c", "cpu:avx2", "cpu:avx512"};
    static const int64_t sizes[] = {4, 4, 4, 4, 4};
    for (int d = 0; d < 4; d++) {
        nb_ctx *probe = nb_ctx_new(&(nb_ctx_opts){.device = devices[d]});
        if (!probe) continue; /* this CPU lacks the set */
        nb_ctx_free(probe);
        const nb_ctx_opts co = {.device = devices[d], .threads = 1};
        pair_cfg c = {.in = 2,
                      .hidden = 4,
                      .out = 1,
                      .act1 = NB_ACT_SIGMOID,
                      .act2 = NB_ACT_SIGMOID,
                      .training = 1,
                      .batches = sizes,
                      .steps = 5};
        c.def = (nb_step_def){.loss_fn = half_sse, .ctx = &co, .require_replay = 1};
        char why[320];
        CHECK_MSG(run_pair(&c, why, sizeof why) == 4, "%s", devices[d]);
        CHECK(!*why);
    }
}

/* The other pointwise losses (L1, BCE with logits): replayed through the reference's loss
 * kernels directly, as the squared error is through its own (autograd/replay.c), with the
 * eager loop's bits. */
static void test_tiny_pointwise_losses(void) {
    static const int64_t sizes[] = {3, 3, 3, 3};
    static const nb_loss_kind losses[] = {NB_LOSS_MAE, NB_LOSS_BCE_LOGITS, NB_LOSS_MSE};
    for (int v = 0; v < 3; v++) {
        const nb_ctx_opts co = {.threads = 1};
        pair_cfg c = {.in = 3,
                      .hidden = 4,
                      .out = 2,
                      .act1 = NB_ACT_SIGMOID,
                      .act2 = NB_ACT_TANH,
                      .training = 1,
                      .optim = 2,
                      .batches = sizes,
                      .steps = 4};
        c.def = (nb_step_def){.loss = losses[v], .ctx = &co, .require_replay = 1};
        char why[320];
        CHECK_MSG(run_pair(&c, why, sizeof why) == 3, "%s", nb_loss_name(losses[v]));
        CHECK(!*why);
    }
}

/* Tiny networks on every CPU device, where the replay makes its small calls directly (the
 * kernel set's kernels, one-tile GEMMs through their plans, the short-row bias kernels):
 * odd sizes, a batch of 3 (every product one tile) and of 7 and 13 (past the AVX2 and
 * AVX-512 tiles' 6 and 12 rows... and the portable tile's 4: through the entry), a layer
 * of 5 outputs (a Bᵀ of 5 x 2 transposed before its tile), MSE and cross-entropy, SGD and
 * Adam, one thread and two. */
static void test_tiny_nets_every_device(void) {
    static const char *const devices[] = {"cpu:ref", "cpu:c", "cpu:avx2", "cpu:avx512"};
    static const int64_t sizes[] = {3, 3, 3, 7, 3, 7, 13, 3, 3};
    for (int d = 0; d < 4; d++) {
        nb_ctx *probe = nb_ctx_new(&(nb_ctx_opts){.device = devices[d]});
        if (!probe) continue; /* this CPU lacks the set */
        nb_ctx_free(probe);
        for (int v = 0; v < 2; v++) {
            const nb_ctx_opts co = {.device = devices[d], .threads = v + 1};
            pair_cfg c = {.in = 3,
                          .hidden = 2,
                          .out = 5,
                          .act1 = NB_ACT_SIGMOID,
                          .act2 = NB_ACT_TANH,
                          .training = 1,
                          .optim = v,
                          .labels = v,
                          .batches = sizes,
                          .steps = 9};
            c.def = (nb_step_def){.loss = v ? NB_LOSS_CROSS_ENTROPY : NB_LOSS_MSE,
                                  .ctx = &co,
                                  .require_replay = 1};
            char why[320];
            /* recorded at steps 0 (3), 3 (7), 6 (13: 3's goes) and 7 (3 again) */
            CHECK_MSG(run_pair(&c, why, sizeof why) == 9 - 4, "%s", devices[d]);
            CHECK(!*why);
        }
    }
}

/* The recording's calls replayed in two or three parts, cut anywhere (fused pairs of calls
 * included: a bias copy and its product, a weight gradient and the bias gradient's sums),
 * give the whole replay's loss and gradients bit for bit. Between the replays the
 * parameters change, so that a part that skipped a write would leave the last replay's
 * numbers behind. */
static void test_replay_in_parts(void) {
    static const int64_t sizes[] = {5};
    pair_cfg c = {.in = 3, .hidden = 4, .out = 2, .act1 = NB_ACT_SIGMOID,
                  .act2 = NB_ACT_TANH, .training = 1, .batches = sizes, .steps = 1};
    nb_model *m = make_model(&c);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x, *y;
    make_batch(&c, 0, &x, &y);
    CHECK_PTR(m);
    CHECK_PTR(ctx);
    if (!m || !ctx || !x || !y) return;
    nb_params *ps = nb_model_params(m);
    nbi_rec *rec = NULL;
    CHECK_OK(nbi_rec_begin(ctx, &rec));
    nb_tensor *l = nb_loss_apply(ctx, NB_LOSS_MSE, nb_model_forward(m, ctx, x), y);
    CHECK_PTR(l);
    nb_params_zero_grad(ps);
    CHECK_OK(nb_backward(ctx, l));
    CHECK_OK(nbi_rec_end(ctx, rec));
    const int64_t n = nbi_rec_calls(rec), np = nb_params_numel(ps);
    float *pa = malloc((size_t)np * sizeof(float)), *pb = malloc((size_t)np * sizeof(float));
    float *gb = malloc((size_t)np * sizeof(float));
    float *w = nb_params_data(ps), *g = nb_params_grad(ps);
    nb_rng r;
    nb_rng_seed(&r, 77);
    for (int64_t i = 0; i < np; i++) pa[i] = nb_rng_uniform_range(&r, -1.0f, 1.0f);
    for (int64_t i = 0; i < np; i++) pb[i] = nb_rng_uniform_range(&r, -1.0f, 1.0f);
    memcpy(w, pb, (size_t)np * sizeof(float));
    nb_params_zero_grad(ps);
    CHECK_OK(nbi_rec_replay(rec, 0, n));
    memcpy(gb, g, (size_t)np * sizeof(float));
    const float lb = nb_item(l);
    int bad = 0;
    for (int64_t k = 0; k <= n; k++)
        for (int three = 0; three < 2 && k + three <= n; three++) {
            memcpy(w, pa, (size_t)np * sizeof(float)); /* other numbers everywhere */
            nb_params_zero_grad(ps);
            CHECK_OK(nbi_rec_replay(rec, 0, n));
            memcpy(w, pb, (size_t)np * sizeof(float));
            nb_params_zero_grad(ps);
            CHECK_OK(nbi_rec_replay(rec, 0, k));
            CHECK_OK(nbi_rec_replay(rec, k, k + three));
            CHECK_OK(nbi_rec_replay(rec, k + three, n));
            const float lk = nb_item(l);
            bad += !same_bits(gb, g, np) || !same_bits(&lb, &lk, 1);
        }
    CHECK_MSG(bad == 0, "%d of the replays in parts differ from the whole replay (%lld calls)",
              bad, (long long)n);
    free(pa);
    free(pb);
    free(gb);
    nbi_rec_free(rec);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_model_free(m);
}

/* Active dropout draws a new mask each step: every step is eager, with the eager loop's
 * results (the same generator), and the reason names the op. In inference mode the dropout
 * layer is the identity and the step replays. */
static void test_dropout_runs_eagerly(void) {
    static const int64_t sizes[] = {16, 16, 16, 16, 16};
    pair_cfg c = {.in = 6,
                  .hidden = 12,
                  .out = 4,
                  .act1 = NB_ACT_RELU,
                  .act2 = NB_ACT_RELU,
                  .dropout = 0.25f,
                  .training = 1,
                  .optim = 1,
                  .labels = 1,
                  .batches = sizes,
                  .steps = 5};
    c.def = (nb_step_def){.loss = NB_LOSS_CROSS_ENTROPY};
    char why[320];
    CHECK(run_pair(&c, why, sizeof why) == 0);
    CHECK_MSG(strstr(why, "dropout"), "reason: %s", why);
    c.training = 0;
    CHECK(run_pair(&c, why, sizeof why) == 4);
    CHECK(!*why);
}

/* With require_replay, a step that cannot be replayed is refused before the update; a mode
 * change after the recording is noticed (the step records again); a label that goes out of
 * range after the recording stops the step with the eager path's message. */
static void test_refusals(void) {
    nb_model *m = nb_model_new(NB_DIMS(3), 3);
    CHECK_OK(nb_model_dense(m, 8, NB_ACT_RELU));
    CHECK_OK(nb_model_dropout(m, 0.5f));
    CHECK_OK(nb_model_dense(m, 2, NB_ACT_NONE));
    CHECK_OK(nb_model_set_training(m, 0));
    nb_optim *o = nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 0.1});
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    nb_step *st = nb_step_new(
        m, o,
        &(nb_step_def){.loss = NB_LOSS_CROSS_ENTROPY, .dropout_rng = &rng, .require_replay = 1});
    const float xv[2][3] = {{0.5f, -1, 2}, {1, 0, -0.5f}};
    int32_t yv[2] = {1, 0};
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, (void *)xv, NB_DIMS(2, 3));
    nb_tensor *y = nb_tensor_from(NULL, NB_I32, yv, NB_DIMS(2));
    CHECK_PTR(st);
    if (!st || !x || !y) goto done;
    CHECK_OK(nb_step_run(st, x, y, NULL));
    CHECK_OK(nb_step_run(st, x, y, NULL));
    CHECK(nb_step_replays(st) == 1);

    /* training mode: dropout draws; refused, parameters untouched */
    CHECK_OK(nb_model_set_training(m, 1));
    nb_params *ps = nb_model_params(m);
    const int64_t n = nb_params_numel(ps);
    float *before = malloc((size_t)n * sizeof(float));
    memcpy(before, nb_params_data(ps), (size_t)n * sizeof(float));
    nb_status s = nb_step_run(st, x, y, NULL);
    CHECK(s == NB_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(nb_last_error(), "dropout") && strstr(nb_last_error(), "nb_step_run"),
              "message: %s", nb_last_error());
    CHECK(same_bits(before, nb_params_data(ps), n));

    /* back to inference mode: recorded again, replayed; then a bad label */
    CHECK_OK(nb_model_set_training(m, 0));
    CHECK_OK(nb_step_run(st, x, y, NULL));
    CHECK_OK(nb_step_run(st, x, y, NULL));
    CHECK(nb_step_replays(st) == 2);
    memcpy(before, nb_params_data(ps), (size_t)n * sizeof(float));
    yv[1] = 7; /* the heap tensor from nb_tensor_from owns a copy: write it */
    ((int32_t *)y->data)[1] = 7;
    s = nb_step_run(st, x, y, NULL);
    CHECK(s == NB_ERR_ARG);
    CHECK_MSG(strstr(nb_last_error(), "label of sample 1 is 7"), "message: %s", nb_last_error());
    CHECK(same_bits(before, nb_params_data(ps), n));
    CHECK(nb_step_replays(st) == 2);
    ((int32_t *)y->data)[1] = 0;
    CHECK_OK(nb_step_run(st, x, y, NULL)); /* recorded again */
    CHECK_OK(nb_step_run(st, x, y, NULL));
    CHECK(nb_step_replays(st) == 3);

    /* bad arguments */
    CHECK(nb_step_run(NULL, x, y, NULL) == NB_ERR_ARG);
    CHECK(nb_step_run(st, NULL, y, NULL) == NB_ERR_ARG);
    CHECK(nb_step_new(NULL, o, NULL) == NULL);
    CHECK(nb_step_new(m, o, &(nb_step_def){.loss = (nb_loss_kind)99}) == NULL);
    CHECK(strstr(nb_last_error(), "unknown loss kind 99"));
    free(before);
done:
    nb_step_free(st);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_optim_free(o);
    nb_model_free(m);
}

static const nbt_case cases[] = {
    {"xor_bitwise", test_xor_bitwise},
    {"mlp_xent_adam_threads", test_mlp_xent_adam_threads},
    {"mlp_mse_momentum", test_mlp_mse_momentum},
    {"tiny_pointwise_losses", test_tiny_pointwise_losses},
    {"half_sse_every_device", test_half_sse_every_device},
    {"tiny_nets_every_device", test_tiny_nets_every_device},
    {"replay_in_parts", test_replay_in_parts},
    {"dropout_runs_eagerly", test_dropout_runs_eagerly},
    {"refusals", test_refusals},
};
NBT_MAIN(cases)
