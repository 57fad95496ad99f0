/* tests/test_quant_cli.c — `nabla quantize` and the int8 model files it writes, run as a
 * program on the shipped digits data (data/digits/digits.csv): quantize (the default, every
 * method, --compare), then info, eval and predict on the int8 file, which must agree with the
 * library; sizes; and failures, each with exit status 1 or 2 and one line on stderr.
 *
 * The binary is the nabla next to this test's build directory (NABLA_BIN overrides). */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char bin[4200];
static char dir[64];
static char digits[4096];

typedef struct result {
    int rc;
    char *out, *err;
} result;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    return b;
}

static void setup(void) {
    if (bin[0]) return;
    const char *env = getenv("NABLA_BIN");
    if (env) {
        snprintf(bin, sizeof bin, "%s", env);
    } else {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0) abort();
        self[n] = 0;
        *strrchr(self, '/') = 0; /* .../build/tests */
        *strrchr(self, '/') = 0; /* .../build */
        snprintf(bin, sizeof bin, "%s/nabla", self);
    }
    snprintf(dir, sizeof dir, "/tmp/nabla-qcli-XXXXXX");
    if (!mkdtemp(dir)) abort();
    if (!realpath("data/digits/digits.csv", digits)) abort();
}

static const char *tmp(const char *name) {
    static char buf[8][256];
    static int k;
    setup();
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static result run(const char *const *args) {
    setup();
    result r = {0, NULL, NULL};
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/.stdout", dir);
    snprintf(err, sizeof err, "%s/.stderr", dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int e = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        r.rc = -1;
        r.out = calloc(1, 1);
        r.err = calloc(1, 1);
        return r;
    }
    int st;
    waitpid(pid, &st, 0);
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

static void done(result *r) {
    free(r->out);
    free(r->err);
}

static int lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* A failure: the exit status and exactly one line on stderr holding `words`. */
static void expect_fail(const char *const *args, int rc, const char *words) {
    result r = run(args);
    CHECK_MSG(r.rc == rc && lines(r.err) == 1 && strstr(r.err, words),
              "nabla %s ...: exit %d, stderr '%s' (expected exit %d and '%s')", args[0], r.rc,
              r.err, rc, words);
    done(&r);
}

static long long size_of(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* A float model trained on the digits (a few epochs: enough to be a classifier). */
static const char *trained(void) {
    static char model[300];
    if (model[0]) return model;
    setup();
    char text[9000], spec[300];
    snprintf(text, sizeof text,
             "nabla-spec 1\ninput 64\ndense 48 relu\ndense 10\nloss cross_entropy\n"
             "optimizer adam lr=3e-3\nbatch 32\nepochs 8\nseed 1\n"
             "data train=\"%s\" test=\"%s\" label=digit normalize=scale:16\n",
             digits, digits);
    snprintf(spec, sizeof spec, "%s", tmp("digits.spec"));
    FILE *f = fopen(spec, "w");
    fputs(text, f);
    fclose(f);
    snprintf(model, sizeof model, "%s", tmp("digits.safetensors"));
    result r = run((const char *[]){"train", spec, "--out", model, "--quiet", NULL});
    CHECK_MSG(r.rc == 0, "training the digits model failed: %s", r.err);
    done(&r);
    return model;
}

static void test_quantize_eval_predict(void) {
    const char *model = trained();
    char q[300];
    snprintf(q, sizeof q, "%s", tmp("digits.int8.safetensors"));
    /* the default output name: MODEL with .int8.safetensors */
    result r =
        run((const char *[]){"quantize", model, "--calib", digits, "--samples", "500", NULL});
    CHECK_MSG(r.rc == 0 && r.err[0] == 0, "quantize: exit %d, %s", r.rc, r.err);
    CHECK(strstr(r.out, "calibration:   mse, 500 samples, seed 0"));
    CHECK(strstr(r.out, "dense_1          dense+relu"));
    CHECK(strstr(r.out, "% of the float file"));
    done(&r);
    long long fs = size_of(model), qs = size_of(q);
    printf("     float file %lld bytes, int8 file %lld bytes\n", fs, qs);
    CHECK(qs > 0 && qs * 100 <= fs * 40); /* small models: the header weighs; FMNIST's is 26% */

    /* eval: the int8 model's accuracy near the float one's */
    r = run((const char *[]){"eval", model, "--use-stored-data", NULL});
    double af = -1, aq = -1;
    const char *p = strstr(r.out, "accuracy");
    if (p) af = atof(p + 8);
    done(&r);
    r = run((const char *[]){"eval", q, "--use-stored-data", "--confusion", NULL});
    CHECK_MSG(r.rc == 0, "eval of the int8 file: %s", r.err);
    p = strstr(r.out, "accuracy");
    if (p) aq = atof(p + 8);
    CHECK(strstr(r.out, "samples   1797"));
    printf("     digits accuracy: float %.4f, int8 %.4f\n", af, aq);
    CHECK(af > 0.9 && fabs(af - aq) <= 0.01);
    done(&r);

    /* predict: one line per sample, and the same numbers as the library */
    r = run((const char *[]){"predict", q, digits, "--label", "digit", "--raw", NULL});
    CHECK_MSG(r.rc == 0 && lines(r.out) == 1797, "predict: exit %d, %d lines, %s", r.rc,
              lines(r.out), r.err);
    nb_qmodel *qm = NULL;
    nb_model_file info;
    CHECK_OK(nb_qmodel_load(q, &qm, &info));
    nb_dataset *ds = NULL;
    CHECK_OK(nb_dataset_load_csv(digits, &(nb_csv_opts){.label_name = "digit"}, &ds));
    if (qm && ds) {
        int64_t idx[3] = {0, 1, 2};
        float x[3 * 64];
        CHECK_OK(nb_dataset_gather(ds, idx, 3, &info.norm, x, NULL));
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_tensor *y = nb_qmodel_infer(qm, ctx, nb_tensor_from(ctx, NB_F32, x, NB_DIMS(3, 64)));
        CHECK_PTR(y);
        const char *line = r.out;
        for (int i = 0; y && i < 3; i++) {
            for (int k = 0; k < 10; k++) {
                char *end;
                float v = strtof(line, &end);
                CHECK_MSG(fabsf(v - ((float *)y->data)[10 * i + k]) <= 1e-6f * fabsf(v) + 1e-7f,
                          "predict row %d value %d: %g, the library %g", i, k, (double)v,
                          (double)((float *)y->data)[10 * i + k]);
                line = end;
            }
            line = strchr(line, '\n') + 1;
        }
        nb_ctx_free(ctx);
        nb_model_file_free(&info);
    }
    nb_dataset_free(ds);
    nb_qmodel_free(qm);
    done(&r);
    r = run((const char *[]){"predict", q, digits, "--label", "digit", NULL});
    CHECK(r.rc == 0 && lines(r.out) == 1797);
    done(&r);

    /* info: the scheme, the layers, the tensors' dtypes */
    r = run((const char *[]){"info", q, "--tensors", NULL});
    CHECK_MSG(r.rc == 0 && strstr(r.out, "format:        nabla int8 model file, version 1") &&
                  strstr(r.out, "scheme:        int8 static") &&
                  strstr(r.out, "calibration:   mse, 500 samples") &&
                  strstr(r.out, "normalisation: constant") && strstr(r.out, "0.weight") &&
                  strstr(r.out, " I8 ") && strstr(r.out, "0.bias") && strstr(r.out, " I32 "),
              "info: %s %s", r.out, r.err);
    done(&r);
}

static void test_compare_methods(void) {
    const char *model = trained();
    result r = run((const char *[]){"quantize", model, "--use-stored-data", "--compare", "--method",
                                    "percentile", "--percentile", "99.9", "--out",
                                    tmp("p.int8.safetensors"), "--samples", "300", NULL});
    CHECK_MSG(r.rc == 0, "quantize --compare: %s", r.err);
    CHECK(strstr(r.out, "calibration:   percentile 99.9, 300 samples"));
    CHECK(strstr(r.out, "float                  accuracy"));
    CHECK(strstr(r.out, "int8, mse              accuracy"));
    CHECK(strstr(r.out, "int8, minmax           accuracy"));
    CHECK(strstr(r.out, "int8, percentile (saved) accuracy"));
    done(&r);
}

static void test_failures(void) {
    const char *model = trained();
    expect_fail((const char *[]){"quantize", model, NULL}, 2, "no calibration data");
    expect_fail((const char *[]){"quantize", model, "--calib", digits, "--method", "kl", NULL}, 2,
                "unknown method 'kl'");
    expect_fail((const char *[]){"quantize", model, "--calib", digits, "--percentile", "20", NULL},
                2, "percentile");
    expect_fail((const char *[]){"quantize", model, "--calib", digits, "--compare", NULL}, 2,
                "--compare needs labelled data");
    expect_fail((const char *[]){"quantize", tmp("missing.safetensors"), "--calib", digits, NULL},
                1, "missing.safetensors");
    expect_fail((const char *[]){"quantize", model, "--calib", tmp("missing.csv"), NULL}, 1,
                "missing.csv");
    /* an architecture without an int8 form */
    char spec[300], sig[300];
    snprintf(spec, sizeof spec, "%s", tmp("sig.spec"));
    FILE *f = fopen(spec, "w");
    fprintf(f,
            "nabla-spec 1\ninput 64\ndense 8 sigmoid\ndense 10\nepochs 1\n"
            "data train=\"%s\" label=digit normalize=scale:16\n",
            digits);
    fclose(f);
    snprintf(sig, sizeof sig, "%s", tmp("sig.safetensors"));
    result r = run((const char *[]){"train", spec, "--out", sig, "--quiet", NULL});
    CHECK(r.rc == 0);
    done(&r);
    expect_fail((const char *[]){"quantize", sig, "--calib", digits, NULL}, 1,
                "activation sigmoid between layers has no int8 form");
    /* an int8 file is not a float model to quantize again, and a truncated one is refused */
    char q[300];
    snprintf(q, sizeof q, "%s", tmp("digits.int8.safetensors"));
    r = run((const char *[]){"quantize", model, "--calib", digits, "--out", q, NULL});
    CHECK(r.rc == 0);
    done(&r);
    expect_fail((const char *[]){"quantize", q, "--calib", digits, "--out", tmp("x"), NULL}, 1,
                "int8 quantized model");
    char cut[300];
    snprintf(cut, sizeof cut, "%s", tmp("cut.int8.safetensors"));
    FILE *in = fopen(q, "rb"), *out = fopen(cut, "wb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    expect_fail((const char *[]){"eval", cut, "--data", digits, "--label", "digit", NULL}, 1,
                "cut.int8.safetensors");
}

static const nbt_case cases[] = {
    {"quantize_eval_predict", test_quantize_eval_predict},
    {"compare_methods", test_compare_methods},
    {"failures", test_failures},
};
NBT_MAIN(cases)
