/* test_web — the C side of the browser page (web/playground.c, web/datasets.c), natively:
 * the datasets are deterministic and have the shapes they claim; the XOR session is
 * examples/xor.c step for step (same losses, same outputs, the same printed text); what the
 * page shows of a network (z and a of every unit, the grid of a unit's activation) is what
 * the network computes; the spiral of the browser test learns to >= 95% natively; bad
 * settings are refused with messages; and every allocation of making and training a session
 * failed in turn gives an error, never a crash or a leak. The browser itself is tested by
 * web/test/test_web.mjs (make test-web). */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include "playground.h"

/* ---- datasets ------------------------------------------------------------------------------ */

static void test_datasets_deterministic(void) {
    enum { N = 301 };
    static float x1[2 * N], y1[N], x2[2 * N], y2[N];
    for (int k = PG_DATA_MOONS; k < PG_DATA_COUNT; k++) {
        nb_rng a, b;
        nb_rng_seed(&a, 7);
        nb_rng_seed(&b, 7);
        CHECK_OK(pg_data_make((pg_data)k, N, 0.1f, &a, x1, y1));
        CHECK_OK(pg_data_make((pg_data)k, N, 0.1f, &b, x2, y2));
        CHECK_MSG(!memcmp(x1, x2, sizeof x1) && !memcmp(y1, y2, sizeof y1),
                  "%s: the same seed gave different points", pg_data_name((pg_data)k));
        nb_rng_seed(&b, 8);
        CHECK_OK(pg_data_make((pg_data)k, N, 0.1f, &b, x2, y2));
        CHECK_MSG(memcmp(x1, x2, sizeof x1) != 0, "%s: seeds 7 and 8 gave the same points",
                  pg_data_name((pg_data)k));
        for (int i = 0; i < N; i++) CHECK(y1[i] == (float)(i % 2));
    }
}

static void test_datasets_shapes(void) {
    enum { N = 200 };
    static float x[2 * N], y[N];
    nb_rng r;
    nb_rng_seed(&r, 1);
    /* circles: radius 1 (class 0) and 0.5 (class 1) exactly, without noise */
    CHECK_OK(pg_data_make(PG_DATA_CIRCLES, N, 0.0f, &r, x, y));
    for (int i = 0; i < N; i++)
        CHECK_CLOSE(hypot(x[2 * i], x[2 * i + 1]), i % 2 ? 0.5 : 1.0, 1e-6, 0.0);
    /* moons: back in sklearn's coordinates, class 0 on the unit circle's upper half, class 1
     * on the circle of centre (1, 0.5), lower half */
    CHECK_OK(pg_data_make(PG_DATA_MOONS, N, 0.0f, &r, x, y));
    for (int i = 0; i < N; i++) {
        double px = x[2 * i] * 1.25 + 0.5, py = x[2 * i + 1] * 1.25 + 0.25;
        double cx = i % 2 ? 1.0 : 0.0, cy = i % 2 ? 0.5 : 0.0;
        CHECK_CLOSE(hypot(px - cx, py - cy), 1.0, 1e-5, 0.0);
        CHECK(i % 2 ? py <= 0.5 + 1e-6 : py >= -1e-6);
    }
    /* spiral: the radius grows from 0.05 to 1 along each arm; arm 1 is arm 0 turned by π */
    CHECK_OK(pg_data_make(PG_DATA_SPIRAL, N, 0.0f, &r, x, y));
    for (int k = 0; k < 2; k++) {
        CHECK_CLOSE(hypot(x[2 * k], x[2 * k + 1]), 0.05, 1e-6, 0.0);
        CHECK_CLOSE(hypot(x[2 * (N - 2 + k)], x[2 * (N - 2 + k) + 1]), 1.0, 1e-6, 0.0);
    }
    for (int i = 2; i < N; i++)
        CHECK(hypot(x[2 * i], x[2 * i + 1]) > hypot(x[2 * (i - 2)], x[2 * (i - 2) + 1]));
    for (int i = 0; i < N; i += 2) {
        CHECK_CLOSE(x[2 * (i + 1)], -x[2 * i], 1e-6, 0.0);
        CHECK_CLOSE(x[2 * (i + 1) + 1], -x[2 * i + 1], 1e-6, 0.0);
    }
    /* xor: the corners */
    CHECK_OK(pg_data_make(PG_DATA_XOR, 4, 0.0f, &r, x, y));
    static const float X[8] = {0, 0, 0, 1, 1, 0, 1, 1}, Y[4] = {0, 1, 1, 0};
    CHECK(!memcmp(x, X, sizeof X) && !memcmp(y, Y, sizeof Y));
    /* noise moves the points and nothing else: the same draws of the shape come first */
    static float xn[2 * N], yn[N];
    nb_rng a, b;
    nb_rng_seed(&a, 3);
    nb_rng_seed(&b, 3);
    CHECK_OK(pg_data_make(PG_DATA_MOONS, N, 0.0f, &a, x, y));
    CHECK_OK(pg_data_make(PG_DATA_MOONS, N, 0.05f, &b, xn, yn));
    double d2 = 0.0;
    for (int i = 0; i < 2 * N; i++) d2 += (xn[i] - x[i]) * (xn[i] - x[i]);
    CHECK_CLOSE(sqrt(d2 / (2 * N)), 0.05, 0.01, 0.0); /* the standard deviation asked */
}

static void test_datasets_errors(void) {
    float x[2 * 8], y[8];
    nb_rng r;
    nb_rng_seed(&r, 1);
    CHECK(pg_data_make(PG_DATA_COUNT, 8, 0.0f, &r, x, y) == NB_ERR_ARG);
    CHECK(strstr(pg_error(), "unknown dataset"));
    CHECK(pg_data_make(PG_DATA_SPIRAL, 1, 0.0f, &r, x, y) == NB_ERR_ARG);
    CHECK(strstr(pg_error(), "1 points"));
    CHECK(pg_data_make(PG_DATA_SPIRAL, PG_MAX_POINTS + 1, 0.0f, &r, x, y) == NB_ERR_ARG);
    CHECK(pg_data_make(PG_DATA_XOR, 3, 0.0f, &r, x, y) == NB_ERR_ARG);
    CHECK(strstr(pg_error(), "xor has 4 points"));
    CHECK(pg_data_make(PG_DATA_XOR, 4, 0.1f, &r, x, y) == NB_ERR_ARG);
    CHECK(pg_data_make(PG_DATA_MOONS, 8, -0.1f, &r, x, y) == NB_ERR_ARG);
    CHECK(strstr(pg_error(), "noise"));
    CHECK(pg_data_make(PG_DATA_MOONS, 8, NAN, &r, x, y) == NB_ERR_ARG);
    CHECK(pg_data_make(PG_DATA_MOONS, 8, 0.0f, NULL, x, y) == NB_ERR_ARG);
    CHECK(!strcmp(pg_data_name(PG_DATA_SPIRAL), "spiral") && !pg_data_name(PG_DATA_COUNT));
}

/* ---- XOR: the session is examples/xor.c ---------------------------------------------------- */

static const pg_config xor_cfg = {.data = PG_DATA_XOR,
                                  .points = 4,
                                  .seed = 42,
                                  .hidden = {4},
                                  .n_hidden = 1,
                                  .act = NB_ACT_SIGMOID,
                                  .optim = PG_GD,
                                  .lr = 0.1,
                                  .classic = 1};

static void test_xor_is_the_example(void) {
    /* examples/xor.c's epoch written out (its nb_step_run gives the same bits:
     * test_step_replay) */
    float X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}}, Y[4][1] = {{0}, {1}, {1}, {0}};
    nb_model *net = nb_model_new(NB_DIMS(2), 42);
    CHECK_OK(nb_model_dense(net, 4, NB_ACT_SIGMOID));
    CHECK_OK(nb_model_dense(net, 1, NB_ACT_SIGMOID));
    nb_optim *sgd = nb_sgd_new(nb_model_params(net), &(nb_sgd_opts){.lr = 0.1});
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_from(NULL, NB_F32, X, NB_DIMS(4, 2));
    nb_tensor *y = nb_tensor_from(NULL, NB_F32, Y, NB_DIMS(4, 1));
    CHECK_PTR(sgd);
    CHECK_PTR(ctx);
    pg_net *s = pg_net_new(&xor_cfg);
    CHECK_PTR(s);
    if (!s || !sgd || !ctx) return;
    CHECK(pg_net_layers(s) == 2 && pg_net_units(s, 0) == 4 && pg_net_units(s, 1) == 1);
    CHECK(!memcmp(pg_net_weight(s, 0), nb_params_data(nb_model_params(net)), 8 * sizeof(float)));
    nb_tensor *out = NULL;
    float want[4] = {0};
    for (int epoch = 1; epoch <= 10000; epoch++) {
        nb_ctx_reset(ctx);
        out = nb_model_forward(net, ctx, x);
        nb_tensor *loss = nb_mul_scalar(ctx, nb_mse_loss(ctx, out, y, NB_REDUCE_SUM), 0.5f);
        nb_optim_zero_grad(sgd);
        CHECK_OK(nb_backward(ctx, loss));
        CHECK_OK(nb_optim_step(sgd));
        if (epoch % 2000 == 0) { /* the lines the example prints */
            double got = pg_net_train(s, 2000);
            CHECK_MSG(got == (double)nb_item(loss), "epoch %d: loss %.9g, the example's %.9g",
                      epoch, got, (double)nb_item(loss));
        }
    }
    memcpy(want, out->data, sizeof want);
    char text[256];
    nb_tensor_format(out, text, sizeof text);
    const char *printed = pg_net_print_outputs(s);
    CHECK_PTR(printed);
    if (printed) CHECK_MSG(!strcmp(printed, text), "printed\n%s\nthe example's\n%s", printed, text);
    for (int i = 0; i < 4; i++) CHECK_MSG(fabsf(want[i] - Y[i][0]) < 0.1f, "output %d", i);
    CHECK(pg_net_epochs(s) == 10000 && pg_net_steps(s) == 10000);
    CHECK(pg_net_accuracy(s) == 1.0);
    pg_net_free(s);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_ctx_free(ctx);
    nb_optim_free(sgd);
    nb_model_free(net);
}

/* ---- what the page reads is what the network computes ------------------------------------- */

static float act_of(nb_activation a, double z) {
    if (a == NB_ACT_RELU) return (float)(z > 0 ? z : 0);
    if (a == NB_ACT_TANH) return (float)tanh(z);
    return (float)(1.0 / (1.0 + exp(-z)));
}

/* z and a of every layer at (x1, x2), by hand in double from the weights the session shows. */
static void by_hand(const pg_net *s, nb_activation act, float x1, float x2, float *out) {
    double in[PG_MAX_UNITS] = {x1, x2}, next[PG_MAX_UNITS];
    int n_in = 2, k = 0, L = pg_net_layers(s);
    for (int l = 0; l < L; l++) {
        const float *W = pg_net_weight(s, l), *b = pg_net_bias(s, l);
        int u = pg_net_units(s, l);
        for (int j = 0; j < u; j++) {
            double z = b[j];
            for (int i = 0; i < n_in; i++) z += in[i] * W[i * u + j]; /* W is [in, units] */
            out[k + j] = (float)z;
            next[j] = act_of(l == L - 1 ? NB_ACT_SIGMOID : act, z);
            out[k + u + j] = (float)next[j];
        }
        k += 2 * u;
        memcpy(in, next, sizeof in);
        n_in = u;
    }
}

static void test_inspect_and_grid(void) {
    pg_config c = {.data = PG_DATA_MOONS,
                   .points = 120,
                   .noise = 0.1f,
                   .seed = 5,
                   .hidden = {5, 3},
                   .n_hidden = 2,
                   .act = NB_ACT_RELU,
                   .optim = PG_SGD,
                   .lr = 0.1,
                   .batch = 16};
    pg_net *s = pg_net_new(&c);
    CHECK_PTR(s);
    if (!s) return;
    CHECK(isfinite(pg_net_train(s, 20)));
    CHECK(pg_net_steps(s) == 20 * 8 && pg_net_epochs(s) == 20);
    int size = pg_net_inspect_size(s);
    CHECK(size == 2 * (5 + 3 + 1));
    float got[18], want[18];
    const float pts[3][2] = {{0.3f, -0.2f}, {-1.1f, 0.9f}, {0.0f, 0.0f}};
    for (int p = 0; p < 3; p++) {
        CHECK(pg_net_inspect(s, pts[p][0], pts[p][1], got) == size);
        by_hand(s, NB_ACT_RELU, pts[p][0], pts[p][1], want);
        for (int i = 0; i < size; i++) CHECK_CLOSE(got[i], want[i], 1e-5, 1e-5);
    }
    /* the accuracy counts the output's z (the logit) > 0, as the inspection reads it */
    const float *x = pg_net_x(s), *y = pg_net_y(s);
    int right = 0;
    for (int i = 0; i < pg_net_points(s); i++) {
        pg_net_inspect(s, x[2 * i], x[2 * i + 1], got);
        right += (got[16] > 0.0f) == (y[i] > 0.5f);
    }
    CHECK_CLOSE(pg_net_accuracy(s), (double)right / pg_net_points(s), 1e-12, 0.0);
    /* the grid: unit 2 of layer 0, and the output, at the cell centres of [-1.5, 1.5]² */
    enum { R = 5 };
    float g[R * R];
    for (int l = 0; l < 3; l += 2) {
        int u = l == 0 ? 2 : 0, off = l == 0 ? 5 + 2 : 16 + 1; /* a of that unit */
        CHECK_OK(pg_net_grid(s, l, u, R, -1.5f, 1.5f, g));
        for (int r = 0; r < R; r++)
            for (int col = 0; col < R; col++) {
                float cx = -1.5f + (col + 0.5f) * (3.0f / R), cy = 1.5f - (r + 0.5f) * (3.0f / R);
                pg_net_inspect(s, cx, cy, got);
                CHECK_CLOSE(g[r * R + col], got[off], 1e-6, 1e-6);
            }
    }
    pg_net_free(s);
}

/* ---- the browser test's spiral learns, natively too ----------------------------------------- */

static void test_spiral_learns(void) {
    /* web/test/test_web.mjs trains this setting (the page's defaults) to >= 95% */
    pg_config c = {.data = PG_DATA_SPIRAL,
                   .points = 400,
                   .noise = 0.05f,
                   .seed = 1,
                   .hidden = {16, 16},
                   .n_hidden = 2,
                   .act = NB_ACT_TANH,
                   .optim = PG_ADAM,
                   .lr = 0.03,
                   .batch = 32};
    pg_net *s = pg_net_new(&c);
    CHECK_PTR(s);
    if (!s) return;
    double acc = pg_net_accuracy(s);
    CHECK_MSG(acc < 0.8, "accuracy %.3f before training", acc);
    int e = 0;
    while (e < 2000 && acc < 0.95) {
        CHECK(isfinite(pg_net_train(s, 50)));
        e += 50;
        acc = pg_net_accuracy(s);
    }
    printf("     spiral: %.1f%% after %d epochs\n", 100.0 * acc, e);
    CHECK_MSG(acc >= 0.95, "accuracy %.3f after %d epochs", acc, e);
    /* the printed outputs are probabilities, one row per point */
    const char *t = pg_net_print_outputs(s);
    CHECK(t && !strncmp(t, "array([[", 8));
    int rows = 1;
    for (const char *q = t; q && *q; q++) rows += *q == '\n';
    CHECK_MSG(rows == 400, "%d rows printed", rows);
    pg_net_free(s);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void check_refused(pg_config c, const char *words) {
    pg_net *s = pg_net_new(&c);
    CHECK_MSG(!s, "a session with '%s' was made", words);
    CHECK_MSG(strstr(pg_error(), words), "message '%s' lacks '%s'", pg_error(), words);
    pg_net_free(s);
}

static void test_errors(void) {
    pg_config ok = {.data = PG_DATA_MOONS,
                    .points = 50,
                    .seed = 1,
                    .hidden = {4},
                    .n_hidden = 1,
                    .act = NB_ACT_TANH,
                    .optim = PG_SGD,
                    .lr = 0.1,
                    .batch = 10};
    pg_config c = ok;
    c.hidden[0] = 0;
    check_refused(c, "hidden layer 1 has 0 units");
    c = ok;
    c.n_hidden = PG_MAX_HIDDEN + 1;
    check_refused(c, "hidden layers");
    c = ok;
    c.act = NB_ACT_GELU;
    check_refused(c, "sigmoid, tanh and relu");
    c = ok;
    c.lr = 0.0;
    check_refused(c, "learning rate");
    c.lr = NAN;
    check_refused(c, "learning rate");
    c = ok;
    c.batch = 51;
    check_refused(c, "batch size 51");
    c = ok;
    c.points = 1;
    check_refused(c, "1 points");
    c = ok;
    c.optim = PG_OPTIM_COUNT;
    check_refused(c, "optimizer");
    CHECK(!pg_net_new(NULL));

    CHECK(!pg_new("square", 50, 0, 1, (int[]){4}, 1, "tanh", "sgd", 0.1, 10, 0));
    CHECK(strstr(pg_error(), "unknown dataset 'square'"));
    CHECK(!pg_new("moons", 50, 0, 1, (int[]){4}, 1, "gelu", "sgd", 0.1, 10, 0));
    CHECK(strstr(pg_error(), "unknown activation 'gelu'"));
    CHECK(!pg_new("moons", 50, 0, 1, (int[]){4}, 1, "tanh", "lbfgs", 0.1, 10, 0));
    CHECK(strstr(pg_error(), "unknown optimizer 'lbfgs'"));
    CHECK(!pg_new("moons", 50, 0, 1, NULL, 2, "tanh", "sgd", 0.1, 10, 0));
    pg_net *s = pg_new("moons", 50, 0, 1, (int[]){4}, 1, "tanh", "sgd", 0.1, 10, 0);
    CHECK_PTR(s);
    if (!s) return;

    CHECK(isnan(pg_net_train(s, 0)) && strstr(pg_error(), "epochs"));
    CHECK(isnan(pg_net_train(NULL, 1)));
    float out[4];
    CHECK(pg_net_grid(s, 2, 0, 4, -1, 1, out) == NB_ERR_ARG && strstr(pg_error(), "layer 2"));
    CHECK(pg_net_grid(s, 0, 4, 4, -1, 1, out) == NB_ERR_ARG && strstr(pg_error(), "unit 4"));
    CHECK(pg_net_grid(s, 0, 0, 0, -1, 1, out) == NB_ERR_ARG && strstr(pg_error(), "resolution"));
    CHECK(pg_net_grid(s, 0, 0, 2, 1, 1, out) == NB_ERR_ARG && strstr(pg_error(), "empty"));
    CHECK(pg_net_inspect(s, 0, 0, NULL) == -1);
    CHECK(!pg_net_weight(s, 2) && !pg_net_bias(s, -1) && pg_net_units(s, 5) == 0);
    CHECK(pg_net_layers(NULL) == 0 && pg_net_points(NULL) == 0 && !pg_net_x(NULL));
    CHECK(isnan(pg_net_accuracy(NULL)) && !pg_net_print_outputs(NULL));

    /* a loss that is not finite stops training before the update, and says what to do */
    float *w = (float *)pg_net_weight(s, 0);
    w[0] = NAN;
    int64_t steps = pg_net_steps(s);
    CHECK(isnan(pg_net_train(s, 1)));
    CHECK_MSG(strstr(pg_error(), "learning rate"), "message: %s", pg_error());
    CHECK(pg_net_steps(s) == steps);
    pg_net_free(s);
    pg_net_free(NULL);
}

/* ---- fault injection ------------------------------------------------------------------------ */

static long n_alloc, n_live, fail_at = -1;

static void *count_alloc(size_t size, size_t align, void *user) {
    (void)user;
    if (++n_alloc == fail_at) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1))
        return NULL;
    n_live++;
    return p;
}

static void count_free(void *p, void *user) {
    (void)user;
    if (p) n_live--;
    free(p);
}

/* Makes a session, trains it, reads it; NB_OK when everything worked. */
static nb_status session_run(void) {
    pg_net *s = pg_new("circles", 40, 0.05f, 2, (int[]){3}, 1, "sigmoid", "adam", 0.05, 8, 0);
    if (!s) return NB_ERR_NOMEM;
    float g[9], z[8];
    nb_status st = NB_OK;
    if (isnan(pg_net_train(s, 2)) || isnan(pg_net_accuracy(s)) || pg_net_inspect(s, 0, 0, z) < 0 ||
        pg_net_grid(s, 1, 0, 3, -1, 1, g) != NB_OK || !pg_net_print_outputs(s))
        st = NB_ERR_NOMEM;
    pg_net_free(s);
    return st;
}

static void test_alloc_failures(void) {
    CHECK_OK(session_run()); /* warm: the kernel table and the thread pool's buffers */
    nb_set_allocator(&(nb_allocator){count_alloc, count_free, NULL});
    n_alloc = n_live = 0;
    fail_at = -1;
    CHECK_OK(session_run());
    long total = n_alloc;
    CHECK_MSG(n_live == 0, "%ld blocks left after a session", n_live);
    for (long k = 1; k <= total; k++) {
        n_alloc = n_live = 0;
        fail_at = k;
        nb_status s = session_run();
        CHECK_MSG(s != NB_OK, "allocation %ld of %ld failed and the session still ran", k, total);
        CHECK_MSG(pg_error()[0] != '\0', "allocation %ld failed without a message", k);
        CHECK_MSG(n_live == 0, "allocation %ld failed: %ld blocks left", k, n_live);
    }
    fail_at = -1;
    nb_set_allocator(NULL);
    printf("     %ld allocations, each failed in turn\n", total);
}

static const nbt_case cases[] = {
    {"datasets_deterministic", test_datasets_deterministic},
    {"datasets_shapes", test_datasets_shapes},
    {"datasets_errors", test_datasets_errors},
    {"xor_is_the_example", test_xor_is_the_example},
    {"inspect_and_grid", test_inspect_and_grid},
    {"spiral_learns", test_spiral_learns},
    {"errors", test_errors},
    {"alloc_failures", test_alloc_failures},
};
NBT_MAIN(cases)
