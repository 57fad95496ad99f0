/* test_quant — int8 quantized inference (nabla/quant.h, src/quant/) on models trained here on
 * generated data:
 *   - an MLP and two CNNs (one with batchnorm folded, a standalone ReLU, dropout, padding and
 *     a stride) quantized: outputs close to the float model's, the same classes almost
 *     everywhere, nb_qmodel_evaluate against nb_evaluate;
 *   - bit-identical outputs on every kernel set (cpu:ref, cpu:c, cpu:avx2, cpu:avx512) at 1, 2
 *     and 3 threads, for batches of 1, 7 and 64 (a softmax after the last layer included);
 *   - the calibration methods: min/max keeps the data's extremes, the percentile clips them,
 *     and the least-squares choice has the smallest quantization error of the three on
 *     heavy-tailed data;
 *   - files: save, load, the same bits; every tampered tensor, scale, zero point, dtype or
 *     version refused with a message; the float loader refusing an int8 file;
 *   - NumPy and PyTorch reproduce the integer inference from the file alone, bit for bit
 *     (tests/ref/check_int8.py), and refuse a wrong output;
 *   - what cannot be quantized (graphs, average pooling, sigmoid between layers, grouped
 *     convolution) refused naming the layer; bad inputs (NaN, shapes) refused;
 *   - two threads sharing one int8 model (make tsan). */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "quant/quant.h"

#define REF "tests/ref/"

static char tmpdir[64];

static const char *tmp(const char *name) {
    static char buf[8][128];
    static int k;
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/nabla-quant-XXXXXX");
        if (!mkdtemp(tmpdir)) abort();
    }
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* ---- data and models -------------------------------------------------------------------- */

/* n samples of `classes` classes: vectors (rank 1, F features: a class centre plus noise) or
 * images [1, S, S] (a bright bar whose place and angle tell the class, plus noise). */
static nb_dataset *make_data(int64_t n, int images, int64_t F, int classes, uint64_t seed) {
    nb_rng r;
    nb_rng_seed(&r, seed);
    int64_t S = 12, per = images ? S * S : F;
    nb_array x = {.type = NB_ELEM_F32, .rank = images ? 4 : 2, .numel = n * per};
    x.shape[0] = n;
    if (images) {
        x.shape[1] = 1;
        x.shape[2] = x.shape[3] = S;
    } else {
        x.shape[1] = F;
    }
    nb_array y = {.type = NB_ELEM_I32, .rank = 1, .shape = {n}, .numel = n};
    float *xd = malloc(sizeof(float) * (size_t)(n * per));
    int32_t *yd = malloc(sizeof(int32_t) * (size_t)n);
    float centre[8][64];
    nb_rng r0;
    nb_rng_seed(&r0, 99);
    for (int c = 0; c < 8; c++)
        for (int k = 0; k < 64; k++) centre[c][k] = nb_rng_normal(&r0, 0.0f, 1.5f);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)nb_rng_below(&r, (uint64_t)classes);
        yd[i] = c;
        float *xi = xd + i * per;
        for (int64_t k = 0; k < per; k++) {
            if (!images) {
                xi[k] = centre[c][k % 64] + nb_rng_normal(&r, 0.0f, 1.0f);
            } else {
                int64_t row = k / S, col = k % S;
                int on = c % 2 ? (row == 2 + c) : (col == 2 + c);
                xi[k] = (on ? 0.8f : 0.1f) + nb_rng_uniform_range(&r, 0.0f, 0.3f);
            }
        }
    }
    x.data = xd;
    y.data = yd;
    nb_dataset *ds = NULL;
    CHECK_OK(nb_dataset_from_arrays(&x, &y, &ds));
    free(xd);
    free(yd);
    return ds;
}

static nb_model *train(const char *spec_text, const nb_dataset *ds, int epochs) {
    nb_spec *spec = NULL;
    nb_model *m = NULL;
    CHECK_OK(nb_spec_parse(spec_text, strlen(spec_text), "test", NULL, &spec));
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    nb_optim *opt = m ? nb_adam_new(nb_model_params(m), &(nb_adam_opts){.lr = 3e-3}) : NULL;
    nb_fit_opts fo = {.epochs = epochs, .batch_size = 32, .verbose = NB_VERBOSE_QUIET};
    if (opt) CHECK_OK(nb_fit(m, opt, ds, &fo, NULL));
    nb_optim_free(opt);
    nb_spec_free(spec);
    if (m) nb_model_set_training(m, 0);
    return m;
}

static const char *const mlp_spec = "nabla-spec 1\n"
                                    "input 24\n"
                                    "dense 32 relu\n"
                                    "dense 16\n"
                                    "activation relu\n"
                                    "dense 5\n";

/* conv, pool, conv with padding and a stride, flatten, dense: the fmnist CNN's shapes, small */
static const char *const cnn_spec = "nabla-spec 1\n"
                                    "input 1 12 12\n"
                                    "conv2d 6 3 relu\n"
                                    "maxpool2d 2\n"
                                    "conv2d 10 3 relu pad=1 stride=2\n"
                                    "flatten\n"
                                    "dense 16 relu\n"
                                    "dense 5\n";

/* batchnorm folded into a conv without bias and a dense layer, a standalone ReLU after a pool,
 * dropout, an odd number of channels, a softmax computed in float */
static const char *const cnn_bn_spec = "nabla-spec 1\n"
                                       "input 1 12 12\n"
                                       "conv2d 5 3 same=true bias=false\n"
                                       "batchnorm\n"
                                       "activation relu\n"
                                       "maxpool2d 3 stride=2 pad=1\n"
                                       "conv2d 7 3\n"
                                       "maxpool2d 2\n"
                                       "activation relu\n"
                                       "dropout 0.25\n"
                                       "flatten\n"
                                       "dense 12 bias=false\n"
                                       "batchnorm\n"
                                       "activation relu\n"
                                       "dense 5 softmax\n";

typedef struct fixture {
    nb_dataset *train, *test;
    nb_model *m;
    nb_qmodel *q;
    int64_t in; /* values per sample */
} fixture;

static fixture make_case(const char *spec, int images) {
    fixture f;
    memset(&f, 0, sizeof f);
    f.train = make_data(1200, images, 24, 5, 1);
    f.test = make_data(400, images, 24, 5, 2);
    f.in = images ? 144 : 24;
    f.m = train(spec, f.train, 4);
    if (f.m) CHECK_OK(nb_quantize(f.m, f.train, &(nb_quant_opts){.samples = 512}, &f.q));
    return f;
}

static void free_case(fixture *f) {
    nb_qmodel_free(f->q);
    nb_model_free(f->m);
    nb_dataset_free(f->train);
    nb_dataset_free(f->test);
}

/* n samples of the test set, [n, in] */
static float *samples(const fixture *f, int64_t n) {
    float *x = malloc(sizeof(float) * (size_t)(n * f->in));
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    CHECK_OK(nb_dataset_gather(f->test, idx, n, NULL, x, NULL));
    free(idx);
    return x;
}

/* The model's outputs for x [n, ...] on `device` with a thread budget; NULL on failure. */
static float *run_q(const nb_qmodel *q, const float *x, int64_t n, const char *device,
                    int threads) {
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.device = device, .threads = threads});
    if (!ctx) return NULL;
    int64_t shape[NB_MAX_RANK + 1], outs = 1, o[NB_MAX_RANK];
    int rank = nb_qmodel_input_shape(q, shape + 1);
    shape[0] = n;
    int orank = nb_qmodel_output_shape(q, o);
    for (int d = 0; d < orank; d++) outs *= o[d];
    nb_tensor *y = nb_qmodel_infer(q, ctx, nb_tensor_from(ctx, NB_F32, (void *)x, rank + 1, shape));
    float *out = NULL;
    CHECK_MSG(y && y->numel == n * outs, "nb_qmodel_infer on %s: %s", device, nb_last_error());
    if (y && y->numel == n * outs) {
        out = malloc(sizeof(float) * (size_t)y->numel);
        memcpy(out, y->data, sizeof(float) * (size_t)y->numel);
    }
    nb_ctx_free(ctx);
    return out;
}

static float *run_f(nb_model *m, const float *x, int64_t n) {
    nb_ctx *ctx = nb_ctx_new(NULL);
    int64_t shape[NB_MAX_RANK + 1];
    int rank = nb_model_input_shape(m, shape + 1);
    shape[0] = n;
    nb_tensor *y = nb_model_infer(m, ctx, nb_tensor_from(ctx, NB_F32, (void *)x, rank + 1, shape));
    y = y ? nb_contiguous(ctx, y) : NULL;
    float *out = NULL;
    if (y) {
        out = malloc(sizeof(float) * (size_t)y->numel);
        memcpy(out, y->data, sizeof(float) * (size_t)y->numel);
    }
    nb_ctx_free(ctx);
    return out;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) b = v[i] > v[b] ? i : b;
    return b;
}

/* ---- accuracy ----------------------------------------------------------------------------- */

static void check_close(const char *spec, int images, const char *what) {
    fixture f = make_case(spec, images);
    if (!f.q) {
        free_case(&f);
        return;
    }
    const int64_t n = 400;
    float *x = samples(&f, n), *yq = run_q(f.q, x, n, "cpu", 0), *yf = run_f(f.m, x, n);
    if (yq && yf) {
        int agree = 0;
        double worst = 0.0, spread = 0.0;
        for (int64_t i = 0; i < n; i++) {
            agree += argmax(yq + 5 * i, 5) == argmax(yf + 5 * i, 5);
            for (int k = 0; k < 5; k++) {
                double d = fabs((double)yq[5 * i + k] - (double)yf[5 * i + k]);
                worst = d > worst ? d : worst;
                spread =
                    fabs((double)yf[5 * i + k]) > spread ? fabs((double)yf[5 * i + k]) : spread;
            }
        }
        printf("     %s: classes agree on %d of %lld, largest output error %.3g of %.3g\n", what,
               agree, (long long)n, worst, spread);
        CHECK_MSG(agree >= n * 97 / 100, "%s: int8 and float agree on %d of %lld samples", what,
                  agree, (long long)n);
        CHECK_MSG(worst <= 0.08 * spread, "%s: an output is off by %g (outputs up to %g)", what,
                  worst, spread);
        /* the evaluation loop agrees with the float one's accuracy */
        nb_metrics *mf = nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_ACCURACY, 5, 0);
        nb_metrics *mq = nb_metrics_new(NB_LOSS_CROSS_ENTROPY, NB_METRIC_ACCURACY, 5, 0);
        CHECK_OK(nb_evaluate(f.m, f.test, NULL, mf));
        CHECK_OK(nb_qmodel_evaluate(f.q, f.test, &(nb_eval_opts){.batch_size = 33}, mq));
        nb_metric_values vf, vq;
        nb_metrics_result(mf, &vf);
        nb_metrics_result(mq, &vq);
        CHECK(vq.count == 400);
        CHECK_MSG(vf.accuracy > 0.8 && fabs(vq.accuracy - vf.accuracy) <= 0.02,
                  "%s: accuracy %.4f float, %.4f int8", what, vf.accuracy, vq.accuracy);
        nb_metrics_free(mf);
        nb_metrics_free(mq);
    }
    free(x);
    free(yq);
    free(yf);
    free_case(&f);
}

static void test_mlp_close_to_float(void) {
    check_close(mlp_spec, 0, "mlp");
}

static void test_cnn_close_to_float(void) {
    check_close(cnn_spec, 1, "cnn");
    check_close(cnn_bn_spec, 1, "cnn with batchnorm");
}

/* ---- the same bits everywhere --------------------------------------------------------------- */

static void test_kernel_sets_bit_identical(void) {
    static const char *const devices[] = {"cpu:ref", "cpu:c", "cpu:avx2", "cpu:avx512", "cpu"};
    static const char *const specs[] = {mlp_spec, cnn_spec, cnn_bn_spec};
    int saved = nb_get_threads();
    CHECK_OK(nb_set_threads(3));
    for (int c = 0; c < 3; c++) {
        fixture f = make_case(specs[c], c > 0);
        if (!f.q) {
            free_case(&f);
            continue;
        }
        static const int64_t batches[] = {1, 7, 64};
        float *x = samples(&f, 64);
        for (int b = 0; b < 3; b++) {
            int64_t n = batches[b];
            float *want = run_q(f.q, x, n, "cpu:ref", 1);
            for (size_t d = 0; d < sizeof devices / sizeof *devices && want; d++) {
                nbi_backend be;
                if (nbi_backend_init(&be, devices[d], 0, "test") != NB_OK) continue;
                for (int t = 1; t <= 3; t++) {
                    float *got = run_q(f.q, x, n, devices[d], t);
                    CHECK_MSG(got && !memcmp(got, want, sizeof(float) * (size_t)(n * 5)),
                              "model %d, batch %lld: %s at %d threads differs from cpu:ref", c,
                              (long long)n, devices[d], t);
                    free(got);
                }
            }
            /* a batch gives each sample what it gives the sample alone */
            float *one = run_q(f.q, x + (n - 1) * f.in, 1, "cpu", 0);
            CHECK(want && one && !memcmp(one, want + (n - 1) * 5, sizeof(float) * 5));
            free(one);
            free(want);
        }
        free(x);
        free_case(&f);
    }
    CHECK_OK(nb_set_threads(saved));
}

/* ---- calibration ---------------------------------------------------------------------------- */

/* Σ (x − dequant(quant(x)))² of the data under act's scale and zero point */
static double quant_error(const float *x, int64_t n, const nbi_qact *a) {
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) {
        int q = nbi_q_quantize1(x[i], 1.0f / a->scale, a->zero, 0, NBI_Q_ACT_MAX);
        double d = (double)x[i] - (double)(q - a->zero) * a->scale;
        e += d * d;
    }
    return e;
}

static void test_calibration_methods(void) {
    /* inputs with heavy tails: mostly |x| < 1, a few near ±40 */
    const int64_t n = 4000, F = 8;
    nb_rng r;
    nb_rng_seed(&r, 21);
    float *xd = malloc(sizeof(float) * (size_t)(n * F));
    int32_t *yd = malloc(sizeof(int32_t) * (size_t)n);
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n * F; i++) {
        float u = nb_rng_uniform(&r);
        xd[i] =
            u < 0.0005f ? nb_rng_uniform_range(&r, -40.0f, 40.0f) : nb_rng_normal(&r, 0.2f, 0.3f);
        lo = xd[i] < lo ? xd[i] : lo;
        hi = xd[i] > hi ? xd[i] : hi;
    }
    for (int64_t i = 0; i < n; i++) yd[i] = (int32_t)(i % 3);
    nb_array ax = {.type = NB_ELEM_F32, .rank = 2, .shape = {n, F}, .numel = n * F, .data = xd};
    nb_array ay = {.type = NB_ELEM_I32, .rank = 1, .shape = {n}, .numel = n, .data = yd};
    nb_dataset *ds = NULL;
    CHECK_OK(nb_dataset_from_arrays(&ax, &ay, &ds));
    nb_model *m = nb_model_new(NB_DIMS(F), 3);
    CHECK_OK(nb_model_dense(m, 4, NB_ACT_RELU));
    CHECK_OK(nb_model_dense(m, 3, NB_ACT_NONE));
    double err[NB_CALIB_COUNT] = {0};
    nbi_qact acts[NB_CALIB_COUNT];
    for (int k = 0; k < NB_CALIB_COUNT && ds; k++) {
        nb_qmodel *q = NULL;
        CHECK_OK(nb_quantize(m, ds, &(nb_quant_opts){.method = k, .samples = n, .percentile = 99.9},
                             &q));
        if (!q) continue;
        acts[k] = q->acts[0];
        err[k] = quant_error(xd, n * F, &q->acts[0]);
        printf("     %-10s input range [%.3g, %.3g], squared error %.4g\n", nb_calib_method_name(k),
               (double)acts[k].lo, (double)acts[k].hi, err[k]);
        nb_qmodel_free(q);
    }
    CHECK(acts[NB_CALIB_MINMAX].lo == lo && acts[NB_CALIB_MINMAX].hi == hi);
    CHECK(acts[NB_CALIB_PERCENTILE].hi < hi / 4 && acts[NB_CALIB_PERCENTILE].lo > lo / 4);
    CHECK(acts[NB_CALIB_MSE].hi < hi && acts[NB_CALIB_MSE].lo > lo);
    CHECK_MSG(err[NB_CALIB_MSE] <= err[NB_CALIB_MINMAX] &&
                  err[NB_CALIB_MSE] <= 1.02 * err[NB_CALIB_PERCENTILE],
              "the least-squares range has error %g; min/max %g, percentile %g", err[NB_CALIB_MSE],
              err[NB_CALIB_MINMAX], err[NB_CALIB_PERCENTILE]);
    /* zero is exact, and the ranges hold it */
    for (int k = 0; k < NB_CALIB_COUNT; k++)
        CHECK(nbi_q_quantize1(0.0f, 1.0f / acts[k].scale, acts[k].zero, 0, 127) == acts[k].zero);
    /* the same seed draws the same samples: the same model */
    nb_qmodel *q1 = NULL, *q2 = NULL;
    CHECK_OK(nb_quantize(m, ds, &(nb_quant_opts){.samples = 100, .seed = 5}, &q1));
    CHECK_OK(nb_quantize(m, ds, &(nb_quant_opts){.samples = 100, .seed = 5}, &q2));
    CHECK(q1 && q2 && q1->acts[1].scale == q2->acts[1].scale &&
          q1->acts[0].zero == q2->acts[0].zero);
    CHECK(q1 && !strcmp(nb_qmodel_calibration(q1), "mse, 100 samples, seed 5"));
    nb_qmodel_free(q1);
    nb_qmodel_free(q2);
    nb_model_free(m);
    nb_dataset_free(ds);
    free(xd);
    free(yd);
}

/* ---- files -------------------------------------------------------------------------------- */

static void test_file_round_trip(void) {
    fixture f = make_case(cnn_bn_spec, 1);
    if (!f.q) {
        free_case(&f);
        return;
    }
    const char *path = tmp("cnn.int8.safetensors");
    nb_norm norm;
    memset(&norm, 0, sizeof norm);
    CHECK_OK(nb_norm_const(&norm, 0.5f, 2.0f));
    const char *extra[] = {"author", "test"};
    CHECK_OK(nb_qmodel_save(f.q, path, &(nb_save_opts){.norm = &norm, .meta = extra, .n_meta = 1}));
    CHECK(nb_qmodel_is_file(path) == 1);
    CHECK(nb_qmodel_is_file(REF "nabla_mlp.safetensors") == 0);
    CHECK(nb_qmodel_is_file(tmp("missing")) == 0);
    nb_qmodel *back = NULL;
    nb_model_file info;
    CHECK_OK(nb_qmodel_load(path, &back, &info));
    if (back) {
        float *x = samples(&f, 20), *a = run_q(f.q, x, 20, "cpu", 0),
              *b = run_q(back, x, 20, "cpu", 0);
        CHECK(a && b && !memcmp(a, b, sizeof(float) * 100));
        free(x);
        free(a);
        free(b);
        CHECK(info.norm.kind == NB_NORM_CONST && info.norm.shift[0] == 0.5f &&
              info.norm.div[0] == 2.0f);
        CHECK(!strcmp(nb_qmodel_spec(back), nb_qmodel_spec(f.q)));
        CHECK(nb_qmodel_output_activation(back, NULL) == NB_ACT_SOFTMAX);
        CHECK(nb_qmodel_param_bytes(back) == nb_qmodel_param_bytes(f.q));
        nb_model_file_free(&info);
    }
    nb_qmodel_free(back);
    /* the float loader names what the file is */
    nb_model *m = NULL;
    CHECK(nb_model_load(path, &m, NULL) == NB_ERR_FORMAT);
    CHECK(strstr(nb_last_error(), "int8 quantized model") != NULL);
    /* the file's metadata and tensors, as PyTorch sees them */
    nb_safetensors *st = NULL;
    CHECK_OK(nb_safetensors_read(path, &st));
    if (st) {
        CHECK(!strcmp(nb_safetensors_meta(st, "nabla.quant.format_version"), "1"));
        CHECK(nb_safetensors_meta(st, "nabla.format_version") == NULL);
        CHECK(!strcmp(nb_safetensors_meta(st, "author"), "test"));
        const char *dt;
        int64_t shape[NB_MAX_RANK];
        int i = nb_safetensors_find(st, "0.weight");
        CHECK(i >= 0 && nb_safetensors_shape(st, i, &dt, shape) == 4 && !strcmp(dt, "I8") &&
              shape[0] == 5 && shape[1] == 1 && shape[2] == 3);
        i = nb_safetensors_find(st, "0.bias"); /* batchnorm folded: a bias */
        CHECK(i >= 0 && nb_safetensors_shape(st, i, &dt, shape) == 1 && !strcmp(dt, "I32"));
        i = nb_safetensors_find(st, "0.scale");
        CHECK(i >= 0 && nb_safetensors_shape(st, i, &dt, shape) == 0 && !strcmp(dt, "F32"));
        CHECK(nb_safetensors_find(st, "1.running_mean") < 0);
    }
    nb_safetensors_free(st);
    nb_norm_free(&norm);
    free_case(&f);
}

/* Rewrites the int8 file at src into dst with tensor `name` replaced by `repl` (or dropped when
 * repl is NULL) and metadata key `mkey` set to `mval` (NULL: left out). */
static void rewrite(const char *src, const char *dst, const char *name, const nb_array *repl,
                    const char *mkey, const char *mval) {
    nb_safetensors *st = NULL;
    CHECK_OK(nb_safetensors_read(src, &st));
    if (!st) return;
    int n = nb_safetensors_count(st), k = 0, nm = 0;
    const char **names = malloc(sizeof(char *) * (size_t)n);
    nb_array *arr = malloc(sizeof(nb_array) * (size_t)n);
    for (int i = 0; i < n; i++) {
        const char *tn = nb_safetensors_name(st, i);
        if (name && !strcmp(tn, name)) {
            if (!repl) continue;
            names[k] = tn;
            arr[k++] = *repl;
            continue;
        }
        names[k] = tn;
        CHECK_OK(nb_safetensors_get(st, i, &arr[k++]));
    }
    const char *kv[64];
    bool done = false;
    for (int i = 0; i < nb_safetensors_meta_count(st) && nm < 31; i++) {
        const char *key = nb_safetensors_meta_key(st, i);
        if (mkey && !strcmp(key, mkey)) {
            done = true;
            if (!mval) continue;
            kv[2 * nm] = key;
            kv[2 * nm++ + 1] = mval;
            continue;
        }
        kv[2 * nm] = key;
        kv[2 * nm++ + 1] = nb_safetensors_meta_value(st, i);
    }
    if (mkey && mval && !done) {
        kv[2 * nm] = mkey;
        kv[2 * nm++ + 1] = mval;
    }
    CHECK_OK(nb_safetensors_write(dst, k, names, arr, nm, kv));
    for (int i = 0; i < k; i++)
        if (arr[i].data != (repl ? repl->data : NULL)) nb_array_free(&arr[i]);
    free(names);
    free(arr);
    nb_safetensors_free(st);
}

static void expect_refused(const char *path, nb_status want, const char *words) {
    nb_qmodel *q = NULL;
    nb_status s = nb_qmodel_load(path, &q, NULL);
    CHECK_MSG(s == want && q == NULL && strstr(nb_last_error(), words),
              "loading a tampered file (%s): %s, '%s'", words, nb_status_str(s), nb_last_error());
    nb_qmodel_free(q);
}

static void test_tampered_files(void) {
    fixture f = make_case(mlp_spec, 0);
    if (!f.q) {
        free_case(&f);
        return;
    }
    const char *good = tmp("mlp.int8.safetensors"), *bad = tmp("bad.safetensors");
    CHECK_OK(nb_qmodel_save(f.q, good, NULL));
    float big_f = 1e31f, nan_f = NAN, zero_f = 0.0f;
    int32_t z200 = 200, zneg = -1, z5 = 5;
    float w_f32[32 * 24];
    int8_t w_i8[32 * 23];
    int32_t bias_big[32];
    memset(w_f32, 0, sizeof w_f32);
    memset(w_i8, 0, sizeof w_i8);
    for (int i = 0; i < 32; i++) bias_big[i] = (1 << 29) + 1;
    nb_array scalar_f = {.type = NB_ELEM_F32, .rank = 0, .numel = 1};
    nb_array scalar_i = {.type = NB_ELEM_I32, .rank = 0, .numel = 1};
    struct {
        const char *tensor;
        nb_array a;
        const char *words;
    } cases[] = {
        {"0.weight",
         {.type = NB_ELEM_F32, .rank = 2, .shape = {32, 24}, .numel = 32 * 24, .data = w_f32},
         "is F32 [32, 24]"},
        {"0.weight",
         {.type = NB_ELEM_I8, .rank = 2, .shape = {32, 23}, .numel = 32 * 23, .data = w_i8},
         "needs I8 [32, 24]"},
        {"0.bias",
         {.type = NB_ELEM_I32, .rank = 1, .shape = {32}, .numel = 32, .data = bias_big},
         "beyond"},
        {"0.input_scale", scalar_f, "input_scale inf"},
        {"0.input_scale", scalar_f, "input_scale nan"},
        {"0.scale", scalar_f, "scale 0 is not"},
        {"0.input_zero_point", scalar_i, "input_zero_point 200"},
        {"2.zero_point", scalar_i, "zero_point -1"},
        {"2.input_zero_point", scalar_i, "the layer before it wrote"},
        {"4.weight", {0}, "tensor '4.weight' is missing"},
    };
    cases[3].a.data = &big_f;
    cases[4].a.data = &nan_f;
    cases[5].a.data = &zero_f;
    cases[6].a.data = &z200;
    cases[7].a.data = &zneg;
    cases[8].a.data = &z5;
    big_f = INFINITY;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        rewrite(good, bad, cases[c].tensor, cases[c].a.data ? &cases[c].a : NULL, NULL, NULL);
        expect_refused(bad, NB_ERR_FORMAT, cases[c].words);
    }
    rewrite(good, bad, NULL, NULL, "nabla.quant.format_version", "2");
    expect_refused(bad, NB_ERR_UNSUPPORTED, "newer than");
    rewrite(good, bad, NULL, NULL, "nabla.quant.format_version", "x");
    expect_refused(bad, NB_ERR_FORMAT, "malformed");
    rewrite(good, bad, NULL, NULL, "nabla.spec", NULL);
    expect_refused(bad, NB_ERR_FORMAT, "'nabla.spec' (the architecture) is missing");
    rewrite(good, bad, NULL, NULL, "nabla.spec",
            "nabla-spec 1\ninput 24\ndense 32 sigmoid\ndense 5\n");
    expect_refused(bad, NB_ERR_FORMAT, "cannot be an int8 model");
    rewrite(good, bad, NULL, NULL, "nabla.spec",
            "nabla-spec 1\ninput 24\ndense 32 relu\ndense 17\n");
    expect_refused(bad, NB_ERR_FORMAT, "needs I8 [17, 32]");
    rewrite(good, bad, NULL, NULL, "nabla.quant.format_version", NULL);
    expect_refused(bad, NB_ERR_FORMAT, "not an int8 model file");
    rewrite(good, bad, NULL, NULL, "nabla.classes", "a\nb\nc\nd\ne\nf");
    expect_refused(bad, NB_ERR_FORMAT, "names 6 classes");
    free_case(&f);
}

/* ---- NumPy and PyTorch reproduce the bits ----------------------------------------------- */

static void write_fixture(const char *path, const float *x, int64_t n, int64_t in, int rank,
                          const int64_t *shape, const float *y, int64_t out) {
    FILE *fp = fopen(path, "w");
    CHECK_PTR(fp);
    if (!fp) return;
    fprintf(fp, "# normalised inputs and nabla's int8 outputs (tests/test_quant.c)\nx %d %lld",
            rank + 1, (long long)n);
    for (int d = 0; d < rank; d++) fprintf(fp, " %lld", (long long)shape[d]);
    fprintf(fp, "\n");
    for (int64_t i = 0; i < n * in; i++) fprintf(fp, "%s%.9g", i ? " " : "", (double)x[i]);
    fprintf(fp, "\ny 2 %lld %lld\n", (long long)n, (long long)out);
    for (int64_t i = 0; i < n * out; i++) fprintf(fp, "%s%.9g", i ? " " : "", (double)y[i]);
    fprintf(fp, "\n");
    fclose(fp);
}

/* 1 passed, 0 failed, -1 skipped (no python3 with numpy and torch) */
static int run_check(const char *const *args, int n) {
    if (access("/usr/bin/python3", X_OK) != 0) return -1;
    char cmd[4096];
    size_t w = (size_t)snprintf(cmd, sizeof cmd, "/usr/bin/python3 " REF "check_int8.py");
    for (int i = 0; i < n && w < sizeof cmd; i++)
        w += (size_t)snprintf(cmd + w, sizeof cmd - w, " '%s'", args[i]);
    fflush(stdout);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc)) return 0;
    if (WEXITSTATUS(rc) == 77) return -1;
    return WEXITSTATUS(rc) == 0;
}

static void test_numpy_reproduces_bits(void) {
    static const char *const specs[] = {mlp_spec, cnn_spec, cnn_bn_spec};
    static const char *const names[] = {"mlp", "cnn", "cnn_bn"};
    char paths[6][384];
    const char *args[6];
    float *keep_y = NULL, *keep_x = NULL;
    int64_t keep_shape[NB_MAX_RANK], keep_in = 0;
    int keep_rank = 0;
    for (int c = 0; c < 3; c++) {
        fixture f = make_case(specs[c], c > 0);
        const char *base = tmp(names[c]);
        snprintf(paths[2 * c], 384, "%s", base);
        snprintf(paths[2 * c + 1], 384, "%s.txt", base);
        args[2 * c] = paths[2 * c];
        args[2 * c + 1] = paths[2 * c + 1];
        if (f.q) {
            const int64_t n = 24;
            float *x = samples(&f, n), *y = run_q(f.q, x, n, "cpu", 0);
            int64_t shape[NB_MAX_RANK];
            int rank = nb_qmodel_input_shape(f.q, shape);
            CHECK_OK(nb_qmodel_save(f.q, paths[2 * c], NULL));
            if (y) write_fixture(paths[2 * c + 1], x, n, f.in, rank, shape, y, 5);
            if (c == 0) {
                keep_x = x;
                keep_y = y;
                keep_in = f.in;
                keep_rank = rank;
                memcpy(keep_shape, shape, sizeof shape);
            } else {
                free(x);
                free(y);
            }
        }
        free_case(&f);
    }
    int ok = run_check(args, 6);
    if (ok < 0) {
        printf("     note: /usr/bin/python3 with numpy and torch not found; skipped\n");
    } else {
        CHECK_MSG(ok == 1, "NumPy did not reproduce nabla's int8 outputs (see above)");
        if (keep_y) { /* and the check can fail: one output one ulp off */
            keep_y[3] = nextafterf(keep_y[3], INFINITY);
            write_fixture(paths[1], keep_x, 24, keep_in, keep_rank, keep_shape, keep_y, 5);
            printf("     (an output one ulp off, which the check must refuse:)\n");
            CHECK(run_check(args, 2) == 0);
        }
    }
    free(keep_x);
    free(keep_y);
}

/* ---- what cannot be quantized, and bad input ---------------------------------------------- */

static void expect_unsupported(const char *spec_text, const char *words) {
    nb_spec *spec = NULL;
    nb_model *m = NULL;
    CHECK_OK(nb_spec_parse(spec_text, strlen(spec_text), "test", NULL, &spec));
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    nb_dataset *ds = make_data(40, 1, 24, 3, 4);
    nb_qmodel *q = NULL;
    nb_status s = m ? nb_quantize(m, ds, NULL, &q) : NB_ERR_ARG;
    CHECK_MSG(s == NB_ERR_UNSUPPORTED && !q && strstr(nb_last_error(), words),
              "expected a refusal naming '%s', got %s: %s", words, nb_status_str(s),
              nb_last_error());
    nb_qmodel_free(q);
    nb_dataset_free(ds);
    nb_model_free(m);
    nb_spec_free(spec);
}

static void test_unsupported_models(void) {
    expect_unsupported("nabla-spec 1\ninput 1 12 12\nconv2d 4 3\navgpool2d 2\nflatten\ndense 3\n",
                       "layer 'avgpool2d_1': average pooling");
    expect_unsupported("nabla-spec 1\ninput 1 12 12\nflatten\ndense 8 sigmoid\ndense 3\n",
                       "layer 'dense_1': activation sigmoid between layers");
    expect_unsupported(
        "nabla-spec 1\ninput 1 12 12\nconv2d 4 3\nactivation tanh\nflatten\ndense 3\n",
        "activation tanh");
    expect_unsupported("nabla-spec 1\ninput 2 6 12\nconv2d 4 3 groups=2\nflatten\ndense 3\n",
                       "grouped convolution");
    expect_unsupported("nabla-spec 1\ninput 1 12 12\ndense 4\n", "flatten first");
    expect_unsupported("nabla-spec 1\ninput 1 12 12\nbatchnorm\nflatten\ndense 3\n",
                       "layer 'batchnorm_1'");
    expect_unsupported("nabla-spec 1\ninput 1 12 12\nflatten\n", "no dense or conv2d layer");
    expect_unsupported("nabla-spec 2\ninput 1 12 12 name=x\nflatten\ndense 4 name=a\n"
                       "dense 4 in=flatten_1 name=b\nadd in=a,b\n",
                       "graph");
}

static void test_bad_input(void) {
    fixture f = make_case(mlp_spec, 0);
    if (!f.q) {
        free_case(&f);
        return;
    }
    nb_qmodel *q = NULL;
    CHECK(nb_quantize(NULL, f.train, NULL, &q) == NB_ERR_ARG);
    CHECK(nb_quantize(f.m, f.train, &(nb_quant_opts){.percentile = 30}, &q) == NB_ERR_ARG);
    CHECK(nb_quantize(f.m, f.train, &(nb_quant_opts){.method = (nb_calib_method)9}, &q) ==
          NB_ERR_ARG);
    nb_dataset *images = make_data(10, 1, 24, 5, 3);
    CHECK(nb_quantize(f.m, images, NULL, &q) == NB_ERR_SHAPE && !q);
    nb_dataset_free(images);
    /* calibration data that the normalisation makes infinite: 3e38 / 0.01 */
    float xs[2 * 24] = {0};
    int32_t ys[2] = {0, 1};
    xs[30] = 3e38f;
    nb_array ax = {.type = NB_ELEM_F32, .rank = 2, .shape = {2, 24}, .numel = 48, .data = xs};
    nb_array ay = {.type = NB_ELEM_I32, .rank = 1, .shape = {2}, .numel = 2, .data = ys};
    nb_dataset *big = NULL;
    CHECK_OK(nb_dataset_from_arrays(&ax, &ay, &big));
    nb_norm norm;
    memset(&norm, 0, sizeof norm);
    CHECK_OK(nb_norm_const(&norm, 0.0f, 0.01f));
    CHECK(big && nb_quantize(f.m, big, &(nb_quant_opts){.norm = &norm}, &q) == NB_ERR_NUMERIC);
    CHECK(strstr(nb_last_error(), "sample 1 has a value that is NaN or infinite") != NULL);
    nb_norm_free(&norm);
    nb_dataset_free(big);
    /* running: NaN and infinities surface, shapes are checked */
    xs[30] = NAN;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_from(ctx, NB_F32, xs, NB_DIMS(2, 24));
    CHECK(nb_qmodel_infer(f.q, ctx, x) == NULL && nb_ctx_status(ctx) == NB_ERR_NUMERIC);
    CHECK(strstr(nb_last_error(), "input sample 1") && strstr(nb_last_error(), "NaN"));
    nb_ctx_reset(ctx);
    xs[30] = -INFINITY;
    x = nb_tensor_from(ctx, NB_F32, xs, NB_DIMS(2, 24));
    CHECK(nb_qmodel_infer(f.q, ctx, x) == NULL && strstr(nb_last_error(), "infinite"));
    nb_ctx_reset(ctx);
    CHECK(nb_qmodel_infer(f.q, ctx, nb_tensor_from(ctx, NB_F32, xs, NB_DIMS(2, 2, 12))) == NULL);
    CHECK(nb_ctx_status(ctx) == NB_ERR_SHAPE);
    nb_ctx_reset(ctx);
    x = nb_tensor_from(ctx, NB_F32, xs, NB_DIMS(2, 24));
    CHECK(nb_qmodel_infer(NULL, ctx, x) == NULL && nb_ctx_status(ctx) == NB_ERR_ARG);
    nb_ctx_free(ctx);
    CHECK(nb_qmodel_load(tmp("none"), &q, NULL) != NB_OK && !q);
    free_case(&f);
}

/* ---- threads ----------------------------------------------------------------------------------
 */

typedef struct share {
    const nb_qmodel *q;
    const float *x;
    float *y;
} share;

static void *share_run(void *arg) {
    share *s = arg;
    for (int rep = 0; rep < 4; rep++) {
        free(s->y);
        s->y = run_q(s->q, s->x, 9, "cpu", 1);
    }
    return NULL;
}

static void test_threads_share_a_model(void) {
    fixture f = make_case(cnn_spec, 1);
    if (!f.q) {
        free_case(&f);
        return;
    }
    float *x = samples(&f, 9), *want = run_q(f.q, x, 9, "cpu", 1);
    share s[2] = {{f.q, x, NULL}, {f.q, x, NULL}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, share_run, &s[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(s[i].y && want && !memcmp(s[i].y, want, sizeof(float) * 45));
        free(s[i].y);
    }
    free(want);
    free(x);
    free_case(&f);
}

static const nbt_case cases[] = {
    {"mlp_close_to_float", test_mlp_close_to_float},
    {"cnn_close_to_float", test_cnn_close_to_float},
    {"kernel_sets_bit_identical", test_kernel_sets_bit_identical},
    {"calibration_methods", test_calibration_methods},
    {"file_round_trip", test_file_round_trip},
    {"tampered_files", test_tampered_files},
    {"numpy_reproduces_bits", test_numpy_reproduces_bits},
    {"unsupported_models", test_unsupported_models},
    {"bad_input", test_bad_input},
    {"threads_share_a_model", test_threads_share_a_model},
};
NBT_MAIN(cases)
