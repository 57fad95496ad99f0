/* test_speech_cli — from WAV files to a spoken word through the `nabla` tool, end to end, on
 * a tiny corpus generated here (data/speech/make_digits.sh --quick: 40 clips, 4 voices):
 *   - `nabla train` on a spec whose data line is `data audio=train.csv test=test.csv
 *     features="..."` learns the training voices well above chance (10 classes);
 *   - `nabla eval MODEL` evaluates on the stored test manifest (held-out voices) and prints
 *     the accuracy, the accuracy per voice and, with --confusion-svg, an SVG picture;
 *   - `nabla predict MODEL a.wav b.wav` prints a digit's name per file, and on a manifest one
 *     line per row; `nabla info` shows the feature pipeline stored in the file;
 *   - the recurrent path: a rank-2 input takes frames [T, F], a GRU, global_avgpool1d (and
 *     that layer's values against the definition);
 *   - a WAV with a bad header gives one clear error line; a WAV given to a model that was not
 *     trained on audio is refused.
 * Skipped with a note when espeak-ng or sox is not installed. The binary is the nabla next to
 * this test's build directory (NABLA_BIN overrides). */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include "nabla.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char bin[4200];
static char dir[64];
static bool corpus_ok;

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

static const char *tmp(const char *name) {
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Runs nabla with the arguments (NULL-terminated), stdout and stderr to files. */
static result run(const char *const *args) {
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
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

static void done(result *r) {
    free(r->out);
    free(r->err);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* the corpus and the spec, once */
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
    snprintf(dir, sizeof dir, "/tmp/nabla-speech-cli-XXXXXX");
    if (!mkdtemp(dir)) abort();
    if (system("command -v espeak-ng >/dev/null 2>&1 && command -v sox >/dev/null 2>&1") != 0) {
        printf("     note: espeak-ng or sox is not installed; the end-to-end speech checks were "
               "skipped (apt-get install espeak-ng sox)\n");
        return;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh data/speech/make_digits.sh --quick -j 2 -o %s/digits >/dev/null",
             dir);
    CHECK_MSG(system(cmd) == 0, "%s failed", cmd);
    /* 8 kHz, 0.8 s, 20 mel bands: [1, 20, 51]; a small CNN */
    write_file(tmp("digits.spec"),
               "nabla-spec 1\n"
               "input 1 20 51\n"
               "conv2d 8 3 relu\n"
               "maxpool2d 2\n"
               "flatten\n"
               "dense 10\n"
               "loss cross_entropy\n"
               "optimizer adam lr=3e-3\n"
               "batch 8\n"
               "epochs 40\n"
               "seed 1\n"
               "data audio=digits/train.csv test=digits/test.csv\n"
               "data features=\"rate=8000 length=6400 align=center n_fft=256 hop=128 "
               "n_mels=20 f_max=4000 log=ln norm=meanvar\"\n");
    corpus_ok = true;
}

static void train_eval_predict(void) {
    setup();
    if (!corpus_ok) return;
    char model[256]; /* tmp()'s buffers are reused */
    snprintf(model, sizeof model, "%s", tmp("digits.safetensors"));
    result r = run((const char *[]){"train", tmp("digits.spec"), "--out", model, "--quiet", NULL});
    CHECK_MSG(r.rc == 0, "train: exit %d: %s", r.rc, r.err);
    CHECK_MSG(strstr(r.out, "test:") && strstr(r.out, "accuracy"), "train's output: %s", r.out);
    done(&r);
    /* above chance on the voices it learnt */
    r = run((const char *[]){"eval", model, "--data", tmp("digits/train.csv"), NULL});
    CHECK_MSG(r.rc == 0, "eval: exit %d: %s", r.rc, r.err);
    const char *acc = strstr(r.out, "accuracy  ");
    double a = acc ? atof(acc + 10) : 0.0;
    CHECK_MSG(a >= 0.5, "training-voice accuracy %.3f (chance 0.1): %s", a, r.out);
    CHECK_MSG(strstr(r.out, "accuracy per group") != NULL, "no per-voice accuracy: %s", r.out);
    done(&r);
    /* the stored held-out voices, and the SVG */
    r = run((const char *[]){"eval", model, "--confusion-svg", tmp("confusion.svg"), NULL});
    CHECK_MSG(r.rc == 0, "eval (stored test set): exit %d: %s", r.rc, r.err);
    CHECK_MSG(strstr(r.out, "accuracy  ") && strstr(r.out, "accuracy per group"), "%s", r.out);
    printf("     held-out voices of the tiny corpus: %s",
           strstr(r.out, "accuracy  ") ? strstr(r.out, "accuracy  ") : "?\n");
    done(&r);
    char *svg = slurp(tmp("confusion.svg"));
    CHECK_MSG(!strncmp(svg, "<svg", 4) && strstr(svg, "</svg>") && strstr(svg, "zero"),
              "the SVG: %.200s", svg);
    free(svg);
    /* predict: a name per WAV file, and one line per manifest row */
    r = run((const char *[]){"predict", "--proba", model, tmp("digits/wav/en-us+m1/3_s165_p50.wav"),
                             tmp("digits/wav/en-us+f2/8_s165_p50.wav"), NULL});
    CHECK_MSG(r.rc == 0, "predict: exit %d: %s", r.rc, r.err);
    static const char *const words[] = {"zero", "one", "two",   "three", "four",
                                        "five", "six", "seven", "eight", "nine"};
    int lines = 0;
    for (char *line = r.out; *line; lines++) {
        bool named = false;
        for (int w = 0; w < 10; w++) {
            size_t n = strlen(words[w]);
            named |= !strncmp(line, words[w], n) && line[n] == ' ';
        }
        CHECK_MSG(named, "predict's line does not start with a digit's name: %.80s", line);
        char *nl = strchr(line, '\n');
        if (!nl) break;
        line = nl + 1;
    }
    CHECK_MSG(lines == 2, "predict printed %d lines for 2 files: %s", lines, r.out);
    done(&r);
    r = run((const char *[]){"predict", model, tmp("digits/test.csv"), NULL});
    CHECK_MSG(r.rc == 0, "predict on a manifest: exit %d: %s", r.rc, r.err);
    int rows = 0;
    for (const char *s = r.out; *s; s++) rows += *s == '\n';
    FILE *f = fopen(tmp("digits/test.csv"), "r");
    int want = -1; /* the header */
    for (int c; f && (c = fgetc(f)) != EOF;) want += c == '\n';
    if (f) fclose(f);
    CHECK_MSG(rows == want, "predict printed %d lines for a manifest of %d rows", rows, want);
    done(&r);
    /* info: the pipeline */
    r = run((const char *[]){"info", model, NULL});
    CHECK_MSG(r.rc == 0 && strstr(r.out, "20 mel bands") &&
                  strstr(r.out, "[20 features, 51 frames]"),
              "info: %s%s", r.out, r.err);
    done(&r);
    /* a bad header: one clear line */
    write_file(tmp("bad.wav"), "RIFX\x10\x00\x00\x00WAVEfmt junk that is not a header");
    r = run((const char *[]){"predict", model, tmp("bad.wav"), NULL});
    CHECK_MSG(r.rc == 1, "predict on a bad WAV: exit %d", r.rc);
    CHECK_MSG(!strncmp(r.err, "nabla predict:", 14) && strstr(r.err, "bad.wav") &&
                  strchr(r.err, '\n') == r.err + strlen(r.err) - 1,
              "stderr: [%s]", r.err);
    done(&r);
}

/* The recurrent recogniser's path: a rank-2 input takes the frames as a sequence [T, F]
 * (the dataset's and predict's transposition), a GRU, the mean over time; its features kept
 * as halves (store=f16), which eval uses too while predict featurises in f32. */
static void gru_on_frames(void) {
    setup();
    if (!corpus_ok) return;
    write_file(tmp("gru.spec"),
               "nabla-spec 2\n"
               "input 51 20\n"
               "gru 24\n"
               "global_avgpool1d\n"
               "dense 10\n"
               "loss cross_entropy\n"
               "optimizer adam lr=1e-2\n"
               "batch 8\n"
               "epochs 30\n"
               "seed 1\n"
               "data audio=digits/train.csv test=digits/test.csv store=f16\n"
               "data features=\"rate=8000 length=6400 align=center n_fft=256 hop=128 "
               "n_mels=20 f_max=4000 log=ln norm=meanvar\"\n");
    char model[256];
    snprintf(model, sizeof model, "%s", tmp("gru.safetensors"));
    /* the store is f16 (the spec's) or f32 (--store), never bytes */
    result bad = run((const char *[]){"train", tmp("gru.spec"), "--store", "u8", "--out", model,
                                      "--quiet", NULL});
    CHECK_MSG(bad.rc != 0 && strstr(bad.err, "--store: expected auto, f32 or f16, got 'u8'"),
              "train --store u8: exit %d: %s", bad.rc, bad.err);
    done(&bad);
    result r = run((const char *[]){"train", tmp("gru.spec"), "--out", model, "--quiet", NULL});
    CHECK_MSG(r.rc == 0, "train: exit %d: %s", r.rc, r.err);
    done(&r);
    r = run((const char *[]){"eval", model, "--data", tmp("digits/train.csv"), NULL});
    const char *acc = strstr(r.out, "accuracy  ");
    double a = acc ? atof(acc + 10) : 0.0;
    CHECK_MSG(r.rc == 0 && a >= 0.5, "GRU training-voice accuracy %.3f: %s%s", a, r.out, r.err);
    done(&r);
    r = run((const char *[]){"predict", "--proba", model, tmp("digits/wav/en-us+m1/3_s165_p50.wav"),
                             NULL});
    CHECK_MSG(r.rc == 0 && strchr(r.out, ' '), "predict: %s%s", r.out, r.err);
    done(&r);
}

/* global_avgpool1d: [T, C] → the mean over T, against the definition */
static void timepool_values(void) {
    nb_model *m = nb_model_new(NB_DIMS(5, 3), 0);
    CHECK_PTR(m);
    CHECK_OK(nb_model_global_avg_pool1d(m));
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 3, (int64_t[]){2, 5, 3});
    float *xd = x->data;
    for (int i = 0; i < 30; i++) xd[i] = (float)(i * i % 7) - 2.5f;
    nb_tensor *y = nb_model_infer(m, ctx, x);
    CHECK_MSG(y && y->rank == 2 && y->shape[0] == 2 && y->shape[1] == 3, "%s", nb_last_error());
    for (int b = 0; y && b < 2; b++)
        for (int c = 0; c < 3; c++) {
            double s = 0;
            for (int t = 0; t < 5; t++) s += xd[(b * 5 + t) * 3 + c];
            CHECK_CLOSE(nb_tensor_get(y, (int64_t[]){b, c}), s / 5, 1e-6, 1e-6);
        }
    nb_ctx_free(ctx);
    nb_model_free(m);
    /* not a sequence of vectors */
    nb_model *bad = nb_model_new(NB_DIMS(1, 4, 4), 0);
    CHECK(nb_model_global_avg_pool1d(bad) == NB_ERR_SHAPE);
    CHECK_MSG(strstr(nb_last_error(), "[T, C]") != NULL, "%s", nb_last_error());
    nb_model_free(bad);
}

/* a manifest's name (word) column names integer classes, only when consistent and complete */
static void manifest_names(void) {
    static const char good[] = "path,label,word\na.wav,1,one\nb.wav,0,zero\nc.wav,1,one\n";
    nb_manifest m;
    CHECK_OK(nb_manifest_parse(good, strlen(good), "good", NULL, &m));
    CHECK(m.classes && m.num_classes == 2 && !strcmp(m.classes[0], "zero") &&
          !strcmp(m.classes[1], "one") && m.labels[0] == 1);
    nb_manifest_free(&m);
    static const char clash[] = "path,label,name\na.wav,1,one\nb.wav,0,zero\nc.wav,1,uno\n";
    CHECK_OK(nb_manifest_parse(clash, strlen(clash), "clash", NULL, &m));
    CHECK(m.classes == NULL && m.num_classes == 2);
    nb_manifest_free(&m);
    static const char gap[] = "path,label,name\na.wav,2,two\nb.wav,0,zero\n";
    CHECK_OK(nb_manifest_parse(gap, strlen(gap), "gap", NULL, &m));
    CHECK(m.classes == NULL && m.num_classes == 3);
    nb_manifest_free(&m);
    static const char twice[] = "path,label,name,word\na.wav,1,one,one\n";
    CHECK(nb_manifest_parse(twice, strlen(twice), "twice", NULL, &m) == NB_ERR_FORMAT);
}

static void wav_needs_audio_model(void) {
    setup();
    /* a model that was not trained on audio has no pipeline for a WAV file */
    char model[256];
    snprintf(model, sizeof model, "%s", tmp("mlp.safetensors"));
    write_file(tmp("t.csv"), "a,b,c,d,y\n1,2,3,4,0\n4,3,2,1,1\n0,0,1,1,2\n");
    write_file(tmp("mlp.spec"), "nabla-spec 1\ninput 4\ndense 3\nepochs 1\n"
                                "data train=t.csv label=y\n");
    result r = run((const char *[]){"train", tmp("mlp.spec"), "--out", model, "--quiet", NULL});
    CHECK_MSG(r.rc == 0, "making the model: %s", r.err);
    done(&r);
    write_file(tmp("x.wav"), "RIFF");
    r = run((const char *[]){"predict", model, tmp("x.wav"), NULL});
    CHECK_MSG(r.rc == 1 && strstr(r.err, "not trained on audio"), "exit %d: %s", r.rc, r.err);
    done(&r);
}

static void cleanup(void) {
    if (!dir[0]) return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static const nbt_case cases[] = {
    {"train_eval_predict", train_eval_predict},
    {"gru_on_frames", gru_on_frames},
    {"timepool_values", timepool_values},
    {"manifest_names", manifest_names},
    {"wav_needs_audio_model", wav_needs_audio_model},
    {"cleanup", cleanup},
};
NBT_MAIN(cases)
