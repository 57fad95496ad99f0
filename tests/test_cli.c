/* tests/test_cli.c — the `nabla` command, run as a program: good and bad input, output, exit
 * codes. Every failure must exit non-zero with exactly one line on standard error; progress
 * written to a file (not a terminal) must be one plain line per epoch; a run resumed from a
 * checkpoint must save the very bytes an uninterrupted run saves.
 *
 * The binary is the nabla next to this test's build directory (build/nabla for
 * build/tests/test_cli; NABLA_BIN overrides). The tests train on the shipped digits data
 * (data/digits/digits.csv), a few epochs at a time. */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"
#include "fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char bin[4200];
static char dir[64];
static char digits[4096]; /* absolute path of the digits CSV */

typedef struct result {
    int rc;
    char *out, *err;
    size_t out_len, err_len;
} result;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *len = 0;
        return calloc(1, 1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = 0;
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
    snprintf(dir, sizeof dir, "/tmp/nabla-cli-XXXXXX");
    if (!mkdtemp(dir)) abort();
    if (!realpath("data/digits/digits.csv", digits)) abort();
}

static const char *tmp(const char *name) {
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Runs nabla with the arguments (NULL-terminated), stdout and stderr to files. */
static result run(const char *const *args) {
    setup();
    result r = {0};
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
    r.out = slurp(out, &r.out_len);
    r.err = slurp(err, &r.err_len);
    return r;
}

static void done(result *r) {
    free(r->out);
    free(r->err);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* A failure: the exit code, one line on stderr starting "nabla", containing `msg`. */
#define CHECK_FAILS(r, code, msg)                                                                  \
    do {                                                                                           \
        CHECK_MSG((r).rc == (code), "exit %d, expected %d; stderr: %s", (r).rc, (code), (r).err);  \
        CHECK_MSG(count_lines((r).err) == 1 && !strncmp((r).err, "nabla", 5),                      \
                  "stderr is not one line starting 'nabla': [%s]", (r).err);                       \
        CHECK_MSG(strstr((r).err, (msg)) != NULL, "stderr [%s] lacks [%s]", (r).err, (msg));       \
    } while (0)

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* The digits spec, trained for `epochs` epochs. */
static const char *digits_spec(void) {
    static char path[300];
    char text[8192];
    snprintf(text, sizeof text,
             "nabla-spec 1\ninput 64\ndense 32 relu\ndense 10\nloss cross_entropy\n"
             "optimizer adam lr=3e-3\nbatch 32\nepochs 3\nseed 1\n"
             "data train=\"%s\" val_split=0.2 normalize=scale:16\n",
             digits);
    snprintf(path, sizeof path, "%s/digits.spec", dir);
    write_text(path, text);
    return path;
}

/* ---- the basics -------------------------------------------------------------------------- */

static void test_version_and_help(void) {
    result r = run((const char *[]){"--version", NULL});
    CHECK(r.rc == 0 && !strcmp(r.out, "nabla " NB_VERSION "\n") && r.err_len == 0);
    done(&r);
    r = run((const char *[]){"--help", NULL});
    CHECK(r.rc == 0 && strstr(r.out, "usage: nabla COMMAND"));
    static const char *cmds[] = {"train", "eval", "predict", "info", "export"};
    for (int i = 0; i < 5; i++) CHECK_MSG(strstr(r.out, cmds[i]), "--help lacks %s", cmds[i]);
    done(&r);
    for (int i = 0; i < 5; i++) {
        r = run((const char *[]){cmds[i], "--help", NULL});
        char want[64];
        snprintf(want, sizeof want, "usage: nabla %s ", cmds[i]);
        CHECK_MSG(r.rc == 0 && strstr(r.out, want) && strstr(r.out, "--help"), "%s --help: %d %s",
                  cmds[i], r.rc, r.out);
        done(&r);
    }
    r = run((const char *[]){NULL});
    CHECK(r.rc == 2 && strstr(r.err, "usage"));
    done(&r);
}

static void test_usage_errors(void) {
    result r = run((const char *[]){"fly", NULL});
    CHECK_FAILS(r, 2, "unknown command 'fly'");
    done(&r);
    r = run((const char *[]){"train", NULL});
    CHECK_FAILS(r, 2, "missing argument (usage: nabla train SPEC");
    done(&r);
    r = run((const char *[]){"train", "x.spec", "--epochz", "3", NULL});
    CHECK_FAILS(r, 2, "unknown option '--epochz'");
    done(&r);
    r = run((const char *[]){"train", "x.spec", "--epochs", NULL});
    CHECK_FAILS(r, 2, "option --epochs needs a value");
    done(&r);
    r = run((const char *[]){"train", digits_spec(), "--epochs", "zero", NULL});
    CHECK_FAILS(r, 2, "--epochs expects an integer");
    done(&r);
    r = run((const char *[]){"train", digits_spec(), "--threads", "0", NULL});
    CHECK_FAILS(r, 2, "--threads expects an integer in [1, 64]");
    done(&r);
    r = run((const char *[]){"train", digits_spec(), "--opt", "lion", NULL});
    CHECK_FAILS(r, 2, "unknown optimizer 'lion'");
    done(&r);
    /* a message that wraps another one (it used to be formatted into itself: issue 16) */
    r = run((const char *[]){"train", digits_spec(), "--monitor", "bogus", "--quiet", NULL});
    CHECK_FAILS(r, 1, "nabla train: nb_fit: monitor: unknown metric 'bogus': use loss, ");
    done(&r);
    r = run((const char *[]){"info", "a", "b", NULL});
    CHECK_FAILS(r, 2, "unexpected argument 'b'");
    done(&r);
    r = run((const char *[]){"predict", "m", "-x", NULL});
    CHECK_FAILS(r, 2, "unknown option '-x'");
    done(&r);
    r = run((const char *[]){"info", "m", "--tensors=yes", NULL});
    CHECK_FAILS(r, 2, "option --tensors takes no value");
    done(&r);
}

static void test_file_errors(void) {
    result r = run((const char *[]){"train", tmp("missing.spec"), NULL});
    CHECK_FAILS(r, 1, "missing.spec");
    done(&r);
    const char *bad = tmp("bad.spec");
    write_text(bad, "nabla-spec 1\ninput 64\ndense 32 rleu\n");
    r = run((const char *[]){"train", bad, NULL});
    CHECK_FAILS(r, 1, "bad.spec:3:10: unknown activation 'rleu'");
    done(&r);
    const char *nodata = tmp("nodata.spec");
    write_text(nodata, "nabla-spec 1\ninput 64\ndense 10\n");
    r = run((const char *[]){"train", nodata, NULL});
    CHECK_FAILS(r, 2, "no training data");
    done(&r);
    const char *garbage = tmp("garbage.safetensors");
    write_text(garbage, "this is not a model");
    r = run((const char *[]){"info", garbage, NULL});
    CHECK_FAILS(r, 1, "garbage.safetensors");
    done(&r);
    r = run((const char *[]){"predict", garbage, digits, NULL});
    CHECK_FAILS(r, 1, "the header length");
    done(&r);
    r = run((const char *[]){"eval", tmp("none.safetensors"), "--data", digits, NULL});
    CHECK_FAILS(r, 1, "cannot open");
    done(&r);
}

/* A path the model file could not keep (not UTF-8: its stored spec is JSON text) stops the
 * run before it loads or trains anything, not at the save after the last epoch (issue 16,
 * item 4: the data path was trained on, then refused by the writer). */
static void test_unstorable_path_refused_first(void) {
    char data[256], out[256], spec[256];
    snprintf(data, sizeof data, "%s", tmp("d\xff.csv"));
    snprintf(out, sizeof out, "%s", tmp("unstorable.safetensors"));
    snprintf(spec, sizeof spec, "%s", tmp("unstorable.spec"));
    write_text(data, "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n");
    write_text(spec, "nabla-spec 1\ninput 2\ndense 2\nloss cross_entropy\nepochs 3\n");
    result r = run((const char *[]){"train", spec, "--data", data, "--out", out, "--quiet", NULL});
    CHECK_FAILS(r, 2, "--data: '");
    CHECK_MSG(strstr(r.err, "d\\xff.csv' is not valid UTF-8") != NULL, "%s", r.err);
    done(&r);
    CHECK(access(out, F_OK) != 0);
    r = run((const char *[]){"train", spec, "--data", tmp("x.csv"), "--label", "caf\xe9", "--out",
                             out, "--quiet", NULL});
    CHECK_FAILS(r, 2, "--label: 'caf\\xe9' is not valid UTF-8");
    done(&r);
    unlink(data);
}

/* ---- training, resuming, and using the model --------------------------------------------- */

static void test_train_progress_lines(void) {
    const char *model = tmp("digits.safetensors");
    result r = run((const char *[]){"train", digits_spec(), "--out", model, NULL});
    CHECK_MSG(r.rc == 0, "train failed: %s", r.err);
    /* not a terminal: one plain line per epoch, then where the model went */
    CHECK_MSG(count_lines(r.err) == 4, "stderr:\n%s", r.err);
    CHECK(!strncmp(r.err, "epoch 1/3 - ", 12) && strstr(r.err, "\nepoch 2/3 - ") &&
          strstr(r.err, "\nepoch 3/3 - "));
    CHECK(strstr(r.err, "val_accuracy") && !strchr(r.err, '\r') && !strchr(r.err, '\033'));
    CHECK(strstr(r.err, "saved ") && r.out_len == 0);
    done(&r);
    CHECK(access(model, F_OK) == 0);
    /* quiet: nothing */
    r = run((const char *[]){"train", digits_spec(), "--out", tmp("q.safetensors"), "--quiet",
                             "--epochs", "1", NULL});
    CHECK(r.rc == 0 && r.err_len == 0 && r.out_len == 0);
    done(&r);
}

static bool same_file(const char *a, const char *b) {
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    bool same = la == lb && la > 0 && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

/* A CNN with batch normalisation and dropout on the same data (samples as 1 x 8 x 8). */
static const char *digits_cnn_spec(void) {
    static char path[300];
    char text[8192];
    snprintf(text, sizeof text,
             "nabla-spec 1\ninput 1 8 8\nconv2d 4 3 relu pad=1\nbatchnorm\nmaxpool2d 2\n"
             "flatten\ndropout 0.2\ndense 10\nloss cross_entropy\noptimizer adam lr=3e-3\n"
             "batch 32\nepochs 3\nseed 2\n"
             "data train=\"%s\" val_split=0.2 normalize=scale:16\n",
             digits);
    snprintf(path, sizeof path, "%s/digits_cnn.spec", dir);
    write_text(path, text);
    return path;
}

static void test_resume_is_exact(void) {
    for (int k = 0; k < 2; k++) {
        const char *spec = k == 0 ? digits_spec() : digits_cnn_spec();
        result r =
            run((const char *[]){"train", spec, "--out", tmp("full.safetensors"), "--quiet", NULL});
        CHECK(r.rc == 0);
        done(&r);
        r = run((const char *[]){"train", spec, "--epochs", "2", "--checkpoint",
                                 tmp("c2.safetensors"), "--out", tmp("part.safetensors"), "--quiet",
                                 NULL});
        CHECK(r.rc == 0);
        done(&r);
        r = run((const char *[]){"train", spec, "--resume", tmp("c2.safetensors"), "--out",
                                 tmp("resumed.safetensors"), NULL});
        CHECK_MSG(r.rc == 0, "%s", r.err);
        CHECK(strstr(r.err, "epoch 3/3") && !strstr(r.err, "epoch 2/3"));
        done(&r);
        CHECK_MSG(same_file(tmp("full.safetensors"), tmp("resumed.safetensors")),
                  "the resumed run's model differs from the uninterrupted run's");
        /* a model file without training state cannot be resumed */
        r = run((const char *[]){"train", spec, "--resume", tmp("full.safetensors"), NULL});
        CHECK_FAILS(r, 1, "is not a checkpoint");
        done(&r);
    }
}

/* A copy of the safetensors file src at dst with metadata `key` set to `value`, every tensor
 * and the other keys as they were. */
static bool rewrite_meta(const char *src, const char *dst, const char *key, const char *value) {
    nb_safetensors *st = NULL;
    if (nb_safetensors_read(src, &st) != NB_OK) return false;
    int n = nb_safetensors_count(st), nm = nb_safetensors_meta_count(st);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    nb_array *arrays = calloc((size_t)n + 1, sizeof *arrays);
    const char **meta = calloc(2 * (size_t)nm + 2, sizeof *meta);
    bool ok = names && arrays && meta;
    for (int i = 0; ok && i < n; i++) {
        names[i] = nb_safetensors_name(st, i);
        ok = nb_safetensors_get(st, i, &arrays[i]) == NB_OK;
    }
    for (int i = 0; ok && i < nm; i++) {
        meta[2 * i] = nb_safetensors_meta_key(st, i);
        meta[2 * i + 1] = strcmp(meta[2 * i], key) ? nb_safetensors_meta_value(st, i) : value;
    }
    ok = ok && nb_safetensors_write(dst, n, names, arrays, nm, meta) == NB_OK;
    for (int i = 0; arrays && i < n; i++) nb_array_free(&arrays[i]);
    free(names);
    free(arrays);
    free(meta);
    nb_safetensors_free(st);
    return ok;
}

/* A crafted checkpoint (issue 16): counts at the edge of int64 must be refused with a message
 * naming the key, not overflow the epoch loop (a crash writing the history) or the optimizer's
 * step counter (NaN weights saved with exit 0). */
static void test_resume_crafted_checkpoint(void) {
    const char *spec = digits_spec();
    char ck[256], bad[256], out[256]; /* tmp() reuses its buffers */
    snprintf(ck, sizeof ck, "%s", tmp("c1.safetensors"));
    snprintf(bad, sizeof bad, "%s", tmp("crafted.safetensors"));
    snprintf(out, sizeof out, "%s", tmp("crafted_out.safetensors"));
    result r = run((const char *[]){"train", spec, "--epochs", "1", "--checkpoint", ck, "--out",
                                    tmp("c1out.safetensors"), "--quiet", NULL});
    CHECK_MSG(r.rc == 0, "%s", r.err);
    done(&r);
    static const struct {
        const char *key, *value, *msg;
    } cases[] = {
        {"nabla.epoch", "9223372036854775807", "epoch 9223372036854775807 is out of range"},
        {"nabla.step", "9223372036854775807", "step 9223372036854775807 is out of range"},
        {"nabla.optim.step", "9223372036854775807", "nabla.optim.step"},
        {"nabla.best_epoch", "5", "best_epoch 5 is out of range [0, 1]"},
        {"nabla.wait", "1073741825", "wait 1073741825 is out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(rewrite_meta(ck, bad, cases[i].key, cases[i].value));
        r = run(
            (const char *[]){"train", spec, "--resume", bad, "--epochs", "3", "--out", out, NULL});
        CHECK_FAILS(r, 1, cases[i].msg);
        CHECK_MSG(strstr(r.err, "crafted.safetensors") != NULL, "%s", r.err);
        if (getenv("NB_VERBOSE")) printf("     %s", r.err);
        done(&r);
        CHECK(access(out, F_OK) != 0);                /* nothing saved */
        r = run((const char *[]){"info", bad, NULL}); /* the reader refuses it everywhere */
        CHECK_FAILS(r, 1, cases[i].key[6] == 'o' ? "nabla.optim.step" : "run state");
        done(&r);
    }
    /* the step count the optimizer and the state agree on, at the optimizer's limit + 1 */
    CHECK(rewrite_meta(ck, bad, "nabla.optim.step", "9007199254740993"));
    r = run((const char *[]){"train", spec, "--resume", bad, NULL});
    CHECK_FAILS(r, 1, "must be in [0, 9007199254740992]");
    done(&r);
}

/* The parameters of two model files are the same bits. */
static bool same_weights(const char *a, const char *b) {
    nb_model *ma = NULL, *mb = NULL;
    bool same = nb_model_load(a, &ma, NULL) == NB_OK && nb_model_load(b, &mb, NULL) == NB_OK;
    if (same) {
        nb_params *pa = nb_model_params(ma), *pb = nb_model_params(mb);
        same = nb_params_numel(pa) == nb_params_numel(pb) &&
               !memcmp(nb_params_data(pa), nb_params_data(pb),
                       sizeof(float) * (size_t)nb_params_numel(pa));
    }
    nb_model_free(ma);
    nb_model_free(mb);
    return same;
}

/* --early-stop keeps the best epoch's weights (Keras's restore_best_weights), printing so;
 * --no-restore-best keeps the last epoch's (issue 12). With this rate and patience 1 the run
 * stops after epoch 3, its best being epoch 2. */
static void test_early_stop_restores_best(void) {
    const char *spec = digits_spec();
    char best[256], last[256], out[256];
    snprintf(best, sizeof best, "%s", tmp("es_best.safetensors"));
    snprintf(last, sizeof last, "%s", tmp("es_last.safetensors"));
    snprintf(out, sizeof out, "%s", tmp("es_out.safetensors"));
    for (int keep_last = 0; keep_last < 2; keep_last++) {
        result r =
            run((const char *[]){"train", spec, "--lr", "0.05", "--epochs", "12", "--early-stop",
                                 "1", "--best", best, "--checkpoint", last, "--out", out,
                                 keep_last ? "--no-restore-best" : "--verbose", NULL});
        CHECK_MSG(r.rc == 0, "%s", r.err);
        CHECK_MSG(strstr(r.err, "early stopping after epoch 3: val_loss has not improved") &&
                      strstr(r.err, "best 0.12"),
                  "%s", r.err);
        CHECK(!strstr(r.err, "epoch 4/12"));
        CHECK((strstr(r.err, "restored the weights of epoch 2 (val_loss 0.12") != NULL) ==
              !keep_last);
        done(&r);
        /* the model saved: the best checkpoint's weights, or the last epoch's */
        CHECK_MSG(same_weights(out, best) == !keep_last, "keep_last %d", keep_last);
        CHECK_MSG(same_weights(out, last) == (bool)keep_last, "keep_last %d", keep_last);
    }
    result r = run((const char *[]){"train", spec, "--no-restore-best", NULL});
    CHECK_FAILS(r, 2, "--no-restore-best needs --early-stop");
    done(&r);
}

/* Training that diverges (issue 12: --lr 1000 trained to NaN, saved the model, exit 0): a
 * regression whose loss overflows in its first epoch fails with the epoch and step, saves
 * nothing over --out, and leaves the checkpoint of an earlier good run as it was. */
static void test_divergence_fails(void) {
    float x[64 * 2], y[64];
    for (int i = 0; i < 64; i++) {
        x[2 * i] = (float)(i % 8) / 4.0f - 1.0f;
        x[2 * i + 1] = (float)(i / 8) / 4.0f - 1.0f;
        y[i] = 3.0f * x[2 * i] - 2.0f * x[2 * i + 1] + 0.5f;
    }
    char xp[256], yp[256], sp[256], ck[256], out[256];
    snprintf(xp, sizeof xp, "%s", tmp("line_x.npy"));
    snprintf(yp, sizeof yp, "%s", tmp("line_y.npy"));
    snprintf(sp, sizeof sp, "%s", tmp("line.spec"));
    snprintf(ck, sizeof ck, "%s", tmp("line_ck.safetensors"));
    snprintf(out, sizeof out, "%s", tmp("line_out.safetensors"));
    CHECK_OK(nb_npy_write(
        xp,
        &(nb_array){.type = NB_ELEM_F32, .rank = 2, .shape = {64, 2}, .numel = 128, .data = x}));
    CHECK_OK(nb_npy_write(
        yp, &(nb_array){.type = NB_ELEM_F32, .rank = 2, .shape = {64, 1}, .numel = 64, .data = y}));
    write_text(sp, "nabla-spec 1\ninput 2\ndense 1\nloss mse\noptimizer sgd lr=0.01\n"
                   "batch 8\nepochs 3\nseed 1\n");
    result r = run((const char *[]){"train", sp, "--data", xp, "--labels", yp, "--checkpoint", ck,
                                    "--out", tmp("line_good.safetensors"), "--quiet", NULL});
    CHECK_MSG(r.rc == 0, "%s", r.err);
    done(&r);
    size_t n0;
    char *ck0 = slurp(ck, &n0);
    for (int check = 0; check < 2; check++) {
        if (check) setenv("NB_CHECK", "1", 1);
        r = run((const char *[]){"train", sp, "--data", xp, "--labels", yp, "--lr", "1000",
                                 "--checkpoint", ck, "--out", out, NULL});
        if (check) unsetenv("NB_CHECK");
        CHECK_FAILS(r, 1, "training diverged");
        CHECK_MSG(strstr(r.err, "epoch 1") && strstr(r.err, "step "), "%s", r.err);
        if (check) CHECK_MSG(strstr(r.err, "check mode: op '"), "%s", r.err);
        if (getenv("NB_VERBOSE")) printf("     %s", r.err);
        done(&r);
        CHECK(access(out, F_OK) != 0); /* no model with non-finite weights */
        size_t n1;
        char *ck1 = slurp(ck, &n1);
        CHECK(n1 == n0 && n0 > 0 && !memcmp(ck0, ck1, n0)); /* the good checkpoint stays */
        free(ck1);
    }
    free(ck0);
}

static void test_info(void) {
    const char *model = tmp("digits.safetensors");
    result r = run((const char *[]){"info", model, NULL});
    CHECK_MSG(r.rc == 0, "%s", r.err);
    CHECK(strstr(r.out, "nabla model file, version 1"));
    CHECK(strstr(r.out, "dense_1 (Dense)") && strstr(r.out, "(None, 32)"));
    CHECK(strstr(r.out, "Total params: 2410"));
    CHECK(strstr(r.out, "normalisation: constant") && strstr(r.out, "div 16"));
    CHECK(strstr(r.out, "  dense 32 relu\n") && strstr(r.out, "  optimizer adam lr=0.003\n"));
    CHECK(!strstr(r.out, "\ntensors ("));
    done(&r);
    r = run((const char *[]){"info", model, "--tensors", NULL});
    CHECK(r.rc == 0 && strstr(r.out, "tensors (4):") && strstr(r.out, "0.weight") &&
          strstr(r.out, "[32, 64]") && strstr(r.out, "2.bias"));
    done(&r);
    /* weights written by PyTorch: the tensors, or the model with --spec */
    r = run((const char *[]){"info", "tests/ref/interop_a.safetensors", NULL});
    CHECK(r.rc == 0 && strstr(r.out, "without nabla's metadata") && strstr(r.out, "4.bias"));
    done(&r);
    r = run((const char *[]){"info", "tests/ref/interop_a.safetensors", "--spec",
                             "tests/ref/interop_a.spec", NULL});
    CHECK(r.rc == 0 && strstr(r.out, "Total params: 413"));
    done(&r);
}

/* Fields of a line, split on spaces. */
static int fields(const char *line, double *v, int max) {
    int n = 0;
    const char *p = line;
    while (*p && *p != '\n' && n < max) {
        char *end;
        v[n++] = strtod(p, &end);
        if (end == p) return -1;
        p = end;
        while (*p == ' ') p++;
    }
    return n;
}

static void test_predict(void) {
    const char *model = tmp("digits.safetensors");
    char label[8] = "64";
    /* (--proba: since issue 12 a prediction is the class alone unless asked) */
    result r = run((const char *[]){"predict", model, digits, "--label", label, "--proba", NULL});
    CHECK_MSG(r.rc == 0, "%s", r.err);
    CHECK(count_lines(r.out) == 1797 && r.err_len == 0);
    /* class, then ten probabilities summing to 1, the class the most likely */
    double v[16];
    const char *line = r.out;
    int bad = 0;
    for (int i = 0; i < 1797 && line; i++) {
        int n = fields(line, v, 16);
        double sum = 0, best = -1;
        int arg = -1;
        for (int k = 1; k < n; k++) {
            sum += v[k];
            if (v[k] > best) {
                best = v[k];
                arg = k - 1;
            }
        }
        bad += n != 11 || fabs(sum - 1) > 1e-4 || arg != (int)v[0];
        line = strchr(line, '\n');
        if (line) line++;
    }
    CHECK_MSG(bad == 0, "%d malformed prediction lines", bad);

    /* the same samples from a .npy file (scaled inside, as trained) give the same lines */
    nb_csv c;
    CHECK_OK(nb_csv_read(digits, &(nb_csv_opts){0}, &c));
    nb_array a = {.type = NB_ELEM_F32, .rank = 2, .shape = {5, 64}, .numel = 5 * 64, .data = c.x};
    CHECK_OK(nb_npy_write(tmp("five.npy"), &a));
    nb_csv_free(&c);
    result r2 = run((const char *[]){"predict", model, tmp("five.npy"), "--proba", NULL});
    CHECK(r2.rc == 0 && count_lines(r2.out) == 5);
    const char *end5 = r.out;
    for (int i = 0; i < 5; i++) end5 = strchr(end5, '\n') + 1;
    CHECK_MSG(r2.out_len == (size_t)(end5 - r.out) && !strncmp(r.out, r2.out, r2.out_len),
              "npy predictions differ from CSV ones:\n%s---\n%.*s", r2.out, (int)(end5 - r.out),
              r.out);
    done(&r2);
    /* --raw: the ten logits; --out: to a file */
    r2 = run((const char *[]){"predict", model, tmp("five.npy"), "--raw", "--out", tmp("pred.txt"),
                              NULL});
    size_t len;
    char *txt = slurp(tmp("pred.txt"), &len);
    CHECK(r2.rc == 0 && r2.out_len == 0 && count_lines(txt) == 5 && fields(txt, v, 16) == 10);
    free(txt);
    done(&r2);
    done(&r);
    /* samples that do not fit (since issue 12 a CSV file with a header is read by column
     * name, its label column left out: the digits file itself is such a file) */
    float wide[2 * 65] = {0};
    nb_array w65 = {.type = NB_ELEM_F32, .rank = 2, .shape = {2, 65}, .numel = 130, .data = wide};
    CHECK_OK(nb_npy_write(tmp("wide65.npy"), &w65));
    r = run((const char *[]){"predict", model, tmp("wide65.npy"), NULL});
    CHECK_FAILS(r, 1, "its samples have 65 values each; the model takes 64 ([64])");
    done(&r);
    r = run((const char *[]){"predict", model, digits, NULL});
    CHECK_MSG(r.rc == 0 && count_lines(r.out) == 1797, "%s", r.err);
    CHECK(fields(r.out, v, 16) == 1); /* the class alone */
    done(&r);
}

/* A graph (a residual MLP, spec version 2) trains, describes itself and predicts through the
 * command; a model with two outputs is refused with a message. */
static void test_graph_model(void) {
    setup();
    char text[8192];
    snprintf(text, sizeof text,
             "nabla-spec 2\ninput 64 name=x\ndense 32 relu\ndense 32 relu\ndense 32\n"
             "add in=dense_1,dense_3 name=res\nactivation relu\ndense 10\nloss cross_entropy\n"
             "optimizer adam lr=3e-3\nbatch 32\nepochs 2\nseed 2\n"
             "data train=\"%s\" normalize=scale:16\n",
             digits);
    const char *spec = tmp("res.spec"), *model = tmp("res.safetensors");
    write_text(spec, text);
    result r = run((const char *[]){"train", spec, "--out", model, "--quiet", NULL});
    CHECK_MSG(r.rc == 0, "%s", r.err);
    done(&r);
    r = run((const char *[]){"info", model, NULL});
    CHECK_MSG(r.rc == 0, "%s", r.err);
    CHECK(strstr(r.out, "nabla model file, version 2"));
    CHECK(strstr(r.out, "Model: graph, input x (None, 64)"));
    CHECK_MSG(strstr(r.out, "res (Add)") && strstr(r.out, "<- dense_1, dense_3"), "%s", r.out);
    CHECK(strstr(r.out, "  add in=dense_1,dense_3 name=res\n"));
    done(&r);
    char label[8] = "64";
    r = run((const char *[]){"predict", model, digits, "--label", label, "--proba", NULL});
    CHECK_MSG(r.rc == 0, "%s", r.err);
    CHECK(count_lines(r.out) == 1797);
    double v[16];
    CHECK(fields(r.out, v, 16) == 11);
    done(&r);

    /* two outputs: the command says why it cannot run it */
    snprintf(text, sizeof text,
             "nabla-spec 2\ninput 64\ndense 10 name=a\ndense 3 in=input name=b\noutput a b\n"
             "data train=\"%s\"\n",
             digits);
    write_text(spec, text);
    nb_spec *s = NULL;
    nb_model *m = NULL;
    CHECK_OK(nb_spec_read(spec, &s));
    if (s) CHECK_OK(nb_spec_build(s, &m));
    if (m) CHECK_OK(nb_model_save(m, tmp("two.safetensors"), NULL));
    nb_model_free(m);
    nb_spec_free(s);
    r = run((const char *[]){"predict", tmp("two.safetensors"), digits, "--label", label, NULL});
    CHECK_FAILS(r, 1, "the model has 1 inputs and 2 outputs");
    done(&r);
    r = run((const char *[]){"train", spec, "--out", tmp("two2.safetensors"), NULL});
    CHECK_FAILS(r, 1, "the model has 1 inputs and 2 outputs");
    done(&r);
}

/* IDX input (images 5 x 3 x 4, bytes) into a model whose samples are [3, 4]; a regression
 * model prints its output values, all of a sample's on one line. */
static void test_predict_idx(void) {
    const char *text = "nabla-spec 1\ninput 3 4\ndense 2 tanh\nloss mse\nseed 3\n";
    nb_spec *spec = NULL;
    nb_model *m = NULL;
    CHECK_OK(nb_spec_parse(text, strlen(text), "idx.spec", NULL, &spec));
    if (spec) CHECK_OK(nb_spec_build(spec, &m));
    if (!m) return;
    CHECK_OK(nb_model_save(m, tmp("idx.safetensors"), &(nb_save_opts){.spec = spec}));
    result r =
        run((const char *[]){"predict", tmp("idx.safetensors"), "tests/data/images_u8.idx", NULL});
    CHECK_MSG(r.rc == 0, "%s", r.err);
    /* 5 images: one line each, the [3, 2] output (dense acts on the last axis) */
    CHECK_MSG(count_lines(r.out) == 5, "%s", r.out);
    double v[8];
    CHECK(fields(r.out, v, 8) == 6 && fabs(v[0]) <= 1 && fabs(v[5]) <= 1);
    done(&r);
    nb_model_free(m);
    nb_spec_free(spec);
}

static void test_predict_torch_weights(void) {
    /* PyTorch's outputs for interop_a (tests/ref/interop.txt): --raw with --spec */
    nbt_fixture *fx = nbt_fixture_load("tests/ref/interop.txt");
    CHECK_PTR(fx);
    if (!fx) return;
    const nbt_array *x = nbt_fixture_get(fx, "a.x"), *y = nbt_fixture_get(fx, "a.y");
    nb_array a = {.type = NB_ELEM_F32,
                  .rank = 2,
                  .shape = {x->shape[0], x->shape[1]},
                  .numel = x->numel,
                  .data = x->data};
    CHECK_OK(nb_npy_write(tmp("a_x.npy"), &a));
    result r = run((const char *[]){"predict", "tests/ref/interop_a.safetensors", tmp("a_x.npy"),
                                    "--spec", "tests/ref/interop_a.spec", "--raw", NULL});
    CHECK_MSG(r.rc == 0, "%s", r.err);
    float got[32 * 5];
    int n = 0;
    for (const char *p = r.out; *p && n < 32 * 5;) {
        char *end;
        got[n++] = strtof(p, &end);
        if (end == p) break;
        p = end;
    }
    CHECK(n == y->numel);
    if (n == y->numel) nbt_compare("a.y", got, y->data, n, 1e-6, 1e-5);
    done(&r);
    nbt_fixture_free(fx);
}

static void test_eval(void) {
    const char *model = tmp("digits.safetensors");
    result r =
        run((const char *[]){"eval", model, "--data", digits, "--top-k", "3", "--confusion", NULL});
    CHECK_MSG(r.rc == 0, "%s", r.err);
    double acc = 0, top = 0;
    const char *p = strstr(r.out, "accuracy  ");
    if (p) acc = atof(p + 10);
    p = strstr(r.out, "top-3     ");
    if (p) top = atof(p + 10);
    CHECK(strstr(r.out, "samples   1797\n") && strstr(r.out, "(cross_entropy)"));
    CHECK_MSG(acc > 0.85 && top >= acc, "accuracy %g, top-3 %g", acc, top);
    CHECK(strstr(r.out, "confusion matrix") && strstr(r.out, "recall"));
    done(&r);
    r = run((const char *[]){"eval", model, NULL});
    CHECK_FAILS(r, 2, "no data to evaluate on");
    done(&r);
}

static void test_export(void) {
    char model[300]; /* tmp()'s buffers rotate */
    snprintf(model, sizeof model, "%s", tmp("digits.safetensors"));
    result r = run((const char *[]){"export", model, "--out", tmp("npy"), NULL});
    CHECK_MSG(r.rc == 0 && count_lines(r.out) == 4, "%s%s", r.out, r.err);
    done(&r);
    nb_array a;
    CHECK_OK(nb_npy_read(tmp("npy/0.weight.npy"), &a));
    CHECK(a.type == NB_ELEM_F32 && a.rank == 2 && a.shape[0] == 32 && a.shape[1] == 64);
    nb_array_free(&a);
    r = run((const char *[]){"export", model, "2.bias", "--out", tmp("npy2"), NULL});
    CHECK(r.rc == 0 && count_lines(r.out) == 1);
    done(&r);
    r = run((const char *[]){"export", model, "9.weight", "--out", tmp("npy2"), NULL});
    CHECK_FAILS(r, 1, "has no tensor '9.weight'");
    done(&r);
    r = run((const char *[]){"export", model, NULL});
    CHECK_FAILS(r, 2, "--out DIR is required");
    done(&r);
    /* --format onnx: the very bytes nb_model_export_onnx writes for the loaded model */
    r = run((const char *[]){"export", model, "--format", "onnx", "-o", tmp("digits.onnx"), NULL});
    CHECK_MSG(r.rc == 0 && strstr(r.out, "digits.onnx") && strstr(r.out, "normalisation"),
              "%s%s", r.out, r.err);
    done(&r);
    nb_model *m;
    CHECK_OK(nb_model_load(model, &m, NULL));
    CHECK_OK(nb_model_export_onnx(m, tmp("digits_lib.onnx")));
    nb_model_free(m);
    size_t n1, n2;
    char *b1 = slurp(tmp("digits.onnx"), &n1), *b2 = slurp(tmp("digits_lib.onnx"), &n2);
    CHECK(n1 > 1000 && n1 == n2 && !memcmp(b1, b2, n1));
    free(b1);
    free(b2);
    /* a language model (a graph: embedding, LSTM, dense) from examples/specs/char_lstm.spec */
    nb_spec *lsp;
    CHECK_OK(nb_spec_read("examples/specs/char_lstm.spec", &lsp));
    CHECK_OK(nb_spec_build(lsp, &m));
    CHECK_OK(nb_model_save(m, tmp("char_lstm.safetensors"), &(nb_save_opts){.spec = lsp}));
    nb_model_free(m);
    nb_spec_free(lsp);
    r = run((const char *[]){"export", tmp("char_lstm.safetensors"), "--format", "onnx", "-o",
                             tmp("char_lstm.onnx"), NULL});
    CHECK_MSG(r.rc == 0 && strstr(r.out, "char_lstm.onnx"), "%s%s", r.out, r.err);
    done(&r);
    CHECK_OK(nb_model_load(tmp("char_lstm.safetensors"), &m, NULL));
    CHECK_OK(nb_model_export_onnx(m, tmp("char_lstm_lib.onnx")));
    nb_model_free(m);
    b1 = slurp(tmp("char_lstm.onnx"), &n1);
    b2 = slurp(tmp("char_lstm_lib.onnx"), &n2);
    CHECK(n1 > 1000000 && n1 == n2 && !memcmp(b1, b2, n1));
    free(b1);
    free(b2);
    r = run((const char *[]){"export", model, "--format", "onnx", "--output", tmp("d2.onnx"), NULL});
    CHECK_MSG(r.rc == 0 && access(tmp("d2.onnx"), F_OK) == 0, "%s%s", r.out, r.err);
    done(&r);
    r = run((const char *[]){"export", model, "--format", "onnx", NULL});
    CHECK_FAILS(r, 2, "needs -o/--output FILE");
    done(&r);
    r = run((const char *[]){"export", model, "--format", "tflite", "-o", tmp("x"), NULL});
    CHECK_FAILS(r, 2, "--format must be npy or onnx, not 'tflite'");
    done(&r);
    r = run((const char *[]){"export", model, "-o", tmp("x"), NULL});
    CHECK_FAILS(r, 2, "-o/--output FILE is for --format onnx");
    done(&r);
    r = run((const char *[]){"export", model, "-x", NULL});
    CHECK_FAILS(r, 2, "unknown option '-x'");
    done(&r);
    r = run((const char *[]){"export", "--help", NULL});
    CHECK(r.rc == 0 && strstr(r.out, "-o, --output FILE") && strstr(r.out, "--format FMT"));
    done(&r);
    /* a model with a layer ONNX export refuses (sinusoidal positions over a length known
     * only at run time): refused, naming it, nothing written */
    const char *spec = tmp("ln.spec");
    FILE *f = fopen(spec, "w");
    fprintf(f, "nabla-spec 2\ninput None 6\nsinusoidal\n");
    fclose(f);
    nb_spec *sp;
    CHECK_OK(nb_spec_read(spec, &sp));
    CHECK_OK(nb_spec_build(sp, &m));
    CHECK_OK(nb_model_save(m, tmp("ln.safetensors"), &(nb_save_opts){.spec = sp}));
    nb_model_free(m);
    nb_spec_free(sp);
    r = run((const char *[]){"export", tmp("ln.safetensors"), "--format", "onnx", "-o",
                             tmp("ln.onnx"), NULL});
    CHECK_FAILS(r, 1, "sinusoidal_1");
    CHECK(access(tmp("ln.onnx"), F_OK) != 0);
    done(&r);
}

/* A CNN exported by torch.onnx.export (tests/scripts/make_onnx_fixtures.py) runs in
 * `nabla predict` to PyTorch's outputs; `nabla info` describes it; a damaged file fails in one
 * line naming it. */
static void test_onnx_model(void) {
    const char *model = "tests/data/onnx/torch_cnn.onnx";
    result r = run((const char *[]){"predict", model, "tests/data/onnx/torch_cnn.input.npy",
                                    "--raw", NULL});
    CHECK_MSG(r.rc == 0 && count_lines(r.out) == 3, "%s%s", r.out, r.err);
    nb_array want;
    CHECK_OK(nb_npy_read("tests/data/onnx/torch_cnn.output.npy", &want));
    double maxd = 0;
    const char *p = r.out;
    for (int64_t k = 0; k < want.numel && r.rc == 0; k++) {
        char *end;
        double v = strtod(p, &end);
        CHECK(end != p);
        p = end;
        double d = fabs(v - ((const float *)want.data)[k]);
        maxd = d > maxd ? d : maxd;
    }
    CHECK_MSG(maxd <= 1e-5, "max |nabla predict - PyTorch| = %g", maxd);
    nb_array_free(&want);
    done(&r);
    r = run((const char *[]){"predict", model, "tests/data/onnx/torch_cnn.input.npy", NULL});
    CHECK_MSG(r.rc == 0 && !strcmp(r.out, "3\n3\n3\n"), "%s%s", r.out, r.err); /* softmax: a class */
    done(&r);
    r = run((const char *[]){"info", model, NULL});
    CHECK_MSG(r.rc == 0 && strstr(r.out, "ONNX, imported as a chain") &&
                  strstr(r.out, "conv2d 6 3 stride=2 pad=1,2 dilation=1,2 groups=2"),
              "%s%s", r.out, r.err);
    done(&r);
    size_t n;
    char *b = slurp(model, &n);
    FILE *f = fopen(tmp("cut.onnx"), "wb");
    fwrite(b, 1, n / 2, f);
    fclose(f);
    free(b);
    r = run((const char *[]){"predict", tmp("cut.onnx"), "tests/data/onnx/torch_cnn.input.npy",
                             NULL});
    CHECK_FAILS(r, 1, "cut.onnx");
    done(&r);
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    if (d) closedir(d);
    rmdir(path);
}

/* `nabla export` syncs once, not once a file (issue 16, item 13: 300 000 tensors were 300 000
 * fsyncs of the file and as many of the folder). The sync calls are counted with strace (an
 * optional tool: skipped with a note without it, or where the system forbids tracing): 60
 * tensors written make at most 2 fsync/fdatasync calls and 1 syncfs or sync. */
static void test_export_syncs_once(void) {
    const char *strace = access("/usr/bin/strace", X_OK) == 0 ? "/usr/bin/strace"
                         : access("/bin/strace", X_OK) == 0   ? "/bin/strace"
                                                              : NULL;
    if (!strace) {
        printf("     skipped: strace is not installed (apt-get install strace)\n");
        return;
    }
    setup();
    char model[300], out[300], trace[300];
    snprintf(model, sizeof model, "%s", tmp("sixty.safetensors"));
    snprintf(out, sizeof out, "%s", tmp("sixty"));
    snprintf(trace, sizeof trace, "%s", tmp("sixty.trace"));
    nb_model *m = nb_model_new(NB_DIMS(2), 1);
    for (int i = 0; i < 30; i++) CHECK_OK(nb_model_dense(m, 2, NB_ACT_NONE));
    CHECK_OK(nb_model_save(m, model, NULL));
    nb_model_free(m);
    const char *argv[] = {strace,  "-f",  "-qq", "-e",     "trace=fsync,fdatasync,syncfs,sync",
                          "-o",    trace, bin,   "export", model,
                          "--out", out,   NULL};
    char err[300];
    snprintf(err, sizeof err, "%s", tmp("sixty.err"));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    /* LeakSanitizer cannot run under ptrace (it fails the process): off for the traced tool
     * of a sanitized build, as an option only the child reads */
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan ? strdup(asan) : NULL, opts[1024];
    snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    pid_t pid;
    int e = posix_spawn(&pid, strace, &fa, NULL, (char *const *)argv, environ), st = 0;
    posix_spawn_file_actions_destroy(&fa);
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
    if (e == 0) waitpid(pid, &st, 0);
    size_t len = 0;
    char *t = access(trace, F_OK) == 0 ? slurp(trace, &len) : NULL;
    if (e != 0 || !WIFEXITED(st) || !t || strstr(t, "PTRACE") || strstr(t, "ptrace")) {
        printf("     skipped: strace could not trace here (exit %d)\n",
               WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        free(t);
        return;
    }
    size_t elen = 0;
    char *etext = slurp(err, &elen);
    CHECK_MSG(WEXITSTATUS(st) == 0, "nabla export under strace: exit %d: %s", WEXITSTATUS(st),
              etext ? etext : "");
    free(etext);
    int files = 0;
    DIR *d = opendir(out);
    for (struct dirent *de; d && (de = readdir(d));) files += strstr(de->d_name, ".npy") != NULL;
    if (d) closedir(d);
    CHECK_MSG(files == 60, "%d .npy files, expected 60", files);
    int fsyncs = 0, syncfs = 0;
    for (char *line = t; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        fsyncs += strstr(line, "fsync(") != NULL || strstr(line, "fdatasync(") != NULL;
        syncfs += strstr(line, "syncfs(") != NULL || strstr(line, " sync(") != NULL ||
                  !strncmp(line, "sync(", 5);
        line = nl ? nl + 1 : NULL;
    }
    printf("     60 tensors exported: %d fsync/fdatasync, %d syncfs/sync\n", fsyncs, syncfs);
    CHECK_MSG(fsyncs <= 2 && syncfs <= 1, "60 tensors: %d fsync calls, %d syncfs", fsyncs, syncfs);
    free(t);
}

static void test_cleanup(void) {
    if (dir[0]) remove_tree(dir);
    CHECK(access(dir, F_OK) != 0);
}

static const nbt_case cases[] = {
    {"version_and_help", test_version_and_help},
    {"usage_errors", test_usage_errors},
    {"file_errors", test_file_errors},
    {"unstorable_path_refused_first", test_unstorable_path_refused_first},
    {"train_progress_lines", test_train_progress_lines},
    {"resume_is_exact", test_resume_is_exact},
    {"resume_crafted_checkpoint", test_resume_crafted_checkpoint},
    {"early_stop_restores_best", test_early_stop_restores_best},
    {"divergence_fails", test_divergence_fails},
    {"info", test_info},
    {"predict", test_predict},
    {"predict_idx", test_predict_idx},
    {"predict_torch_weights", test_predict_torch_weights},
    {"eval", test_eval},
    {"export", test_export},
    {"export_syncs_once", test_export_syncs_once},
    {"onnx_model", test_onnx_model},
    {"graph_model", test_graph_model},
    {"cleanup", test_cleanup},
};

NBT_MAIN(cases)
