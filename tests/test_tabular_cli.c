/* tests/test_tabular_cli.c — tables through the `nabla` command, one test per item of issue 12:
 * regression and binary targets from a CSV file (task said, implied by the loss, inferred),
 * class names mapped through the model's (a test file lacking a class; an unknown name
 * refused), files without a header row, per-feature standardisation, columns matched by name
 * (swapped columns, a renamed one refused), data paths found from another working directory,
 * standard input, the delimiter, the label-column message, a spec given to info, the missing
 * epochs line, an IDX folder; and categorical and missing values, several targets, class
 * weights, a stratified test split and cross-validation. The data is generated here, from a
 * fixed seed; a regression asserts its R².
 *
 * The binary is the nabla next to this test's build directory (NABLA_BIN overrides). */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char bin[4200], dir[64];

typedef struct result {
    int rc;
    char *out, *err;
} result;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    long n = 0;
    if (f && !fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET)) {
        b = malloc((size_t)n + 1);
        n = (long)fread(b, 1, (size_t)n, f);
        b[n] = 0;
    }
    if (f) fclose(f);
    return b ? b : calloc(1, 1);
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
    if (bin[0] != '/') { /* the tests change directory: the binary by its absolute path */
        char abs[4200];
        if (realpath(bin, abs)) snprintf(bin, sizeof bin, "%s", abs);
    }
    snprintf(dir, sizeof dir, "/tmp/nabla-tabcli-XXXXXX");
    if (!mkdtemp(dir)) abort();
}

static const char *tmp(const char *name) {
    static char buf[64][256];
    static int k;
    setup();
    k = (k + 1) % 64;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void put_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

/* Runs nabla in directory cwd (NULL: here) with standard input from in (NULL: /dev/null). */
static result run_in(const char *cwd, const char *in, const char *const *args) {
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
    pid_t pid = fork();
    if (pid == 0) {
        int i0 = open(in ? in : "/dev/null", O_RDONLY);
        int o1 = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e2 = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (i0 < 0 || o1 < 0 || e2 < 0 || dup2(i0, 0) < 0 || dup2(o1, 1) < 0 || dup2(e2, 2) < 0)
            _exit(127);
        if (cwd && chdir(cwd) != 0) _exit(126);
        execv(bin, (char *const *)argv);
        _exit(125);
    }
    int st = 0;
    if (pid > 0) waitpid(pid, &st, 0);
    r.rc = pid < 0 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

static result run(const char *const *args) {
    return run_in(NULL, NULL, args);
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

#define CHECK_RUN(r)                                                                               \
    CHECK_MSG((r).rc == 0, "exit %d; stderr: %s; stdout: %s", (r).rc, (r).err, (r).out)

/* The value of "name value" in eval's output (NAN when absent). */
static double metric(const char *out, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "\n%s ", name);
    char *buf = malloc(strlen(out) + 2);
    buf[0] = '\n';
    strcpy(buf + 1, out);
    const char *p = strstr(buf, key);
    double v = p ? atof(p + strlen(key)) : NAN;
    free(buf);
    return v;
}

/* ---- generated data -------------------------------------------------------------------------- */

static uint64_t lcg = 12345;
static double uniform(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) / 9007199254740992.0;
}
static double gauss(void) {
    double u = uniform() + 1e-12, v = uniform();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Three well separated classes named alpha, beta, gamma in 4 features; `skip` a class to
 * leave out (-1: none). */
static void write_classes(const char *path, int n, int skip, bool header) {
    FILE *f = fopen(path, "w");
    static const char *names[3] = {"alpha", "beta", "gamma"};
    if (header) fprintf(f, "f1,f2,f3,f4,species\n");
    for (int i = 0; i < n; i++) {
        int c = i % 3;
        if (c == skip) continue;
        fprintf(f, "%.4f,%.4f,%.4f,%.4f,%s\n", 3.0 * c + gauss(), -2.0 * c + gauss(), gauss(),
                c + 0.5 * gauss(), names[c]);
    }
    fclose(f);
}

/* y = 30 a - 20 b + 10 [colour] + 500 + noise, with a categorical colour and gaps. */
static void write_regression(const char *path, int n, bool gaps) {
    FILE *f = fopen(path, "w");
    static const char *colours[3] = {"red", "green", "blue"};
    fprintf(f, "a,b,colour,price\n");
    for (int i = 0; i < n; i++) {
        double a = 4 * uniform() - 2, b = 4 * uniform() - 2;
        int c = (int)(3 * uniform()) % 3;
        double y = 30 * a - 20 * b + 10 * (c - 1) + 500 + gauss();
        if (gaps && i % 17 == 5)
            fprintf(f, ",%.4f,%s,%.3f\n", b, colours[c], y);
        else
            fprintf(f, "%.4f,%.4f,%s,%.3f\n", a, b, colours[c], y);
    }
    fclose(f);
}

static const char *spec_file(const char *name, const char *text) {
    const char *p = tmp(name);
    put_file(p, text);
    return p;
}

/* ---- the issue, item by item -------------------------------------------------------------------
 */

/* 1. Regression from a CSV file: loss mse reads the label column as numbers; without a loss a
 * column of fractions is a regression; bce_with_logits reads 0/1 labels as targets. */
static void test_regression_from_csv(void) {
    write_regression(tmp("reg.csv"), 400, false);
    const char *spec = spec_file("reg.spec", "nabla-spec 1\ninput auto\ndense 16 relu\ndense 1\n"
                                             "loss mse\noptimizer adam lr=0.01\nbatch 16\n"
                                             "epochs 40\nseed 1\n"
                                             "data label=price categorical=colour "
                                             "normalize=standard test_split=0.25\n");
    result r = run((const char *[]){"train", spec, "--data", tmp("reg.csv"), "--out",
                                    tmp("reg.safetensors"), "--quiet", NULL});
    CHECK_RUN(r);
    /* test: 100 samples, loss ..., r2 0.99.., rmse ... */
    const char *p = strstr(r.out, "r2 ");
    double r2 = p ? atof(p + 3) : 0;
    CHECK_MSG(!strncmp(r.out, "test: 100 samples, loss ", 24) && r2 > 0.97, "%s", r.out);
    done(&r);
    r = run((const char *[]){"eval", tmp("reg.safetensors"), "--data", tmp("reg.csv"), NULL});
    CHECK_RUN(r);
    CHECK_MSG(metric(r.out, "r2") > 0.97 && metric(r.out, "rmse") < 6 && metric(r.out, "mae") < 5,
              "%s", r.out);
    CHECK(strstr(r.out, "(mse)") != NULL);
    done(&r);
    /* predict: prices, in their units */
    r = run((const char *[]){"predict", tmp("reg.safetensors"), tmp("reg.csv"), NULL});
    CHECK_RUN(r);
    CHECK(count_lines(r.out) == 400 && atof(r.out) > 300 && atof(r.out) < 700);
    done(&r);
    /* no loss line: the column of fractions is a regression's, and the run says so */
    const char *noloss = spec_file("noloss.spec", "nabla-spec 1\ndense 16 relu\ndense 1\n"
                                                  "optimizer adam lr=0.01\nepochs 5\nseed 1\n"
                                                  "data label=price categorical=colour\n");
    r = run((const char *[]){"train", noloss, "--data", tmp("reg.csv"), "--out",
                             tmp("noloss.safetensors"), NULL});
    CHECK_RUN(r);
    CHECK_MSG(strstr(r.err, "note: task regression: the label column 'price' holds numbers with "
                            "fractions"),
              "%s", r.err);
    done(&r);
    /* a classification's loss on a regression task is refused, saying what to do */
    r = run((const char *[]){"train", noloss, "--data", tmp("reg.csv"), "--task", "regression",
                             "--out", tmp("x.safetensors"), NULL});
    CHECK_RUN(r);
    done(&r);
    const char *ce = spec_file("ce.spec", "nabla-spec 1\ndense 3\nloss mse\nepochs 1\n"
                                          "data task=classification\n");
    write_classes(tmp("classes.csv"), 60, -1, true);
    r = run((const char *[]){"train", ce, "--data", tmp("classes.csv"), "--out",
                             tmp("x.safetensors"), NULL});
    CHECK_FAILS(r, 2, "loss mse is a regression's, but the task is classification");
    done(&r);
    /* binary: 0/1 labels with bce_with_logits and one output */
    FILE *f = fopen(tmp("bin.csv"), "w");
    fprintf(f, "x,y,label\n");
    for (int i = 0; i < 200; i++) {
        double x = gauss(), y = gauss();
        fprintf(f, "%.4f,%.4f,%d\n", x, y, x + y > 0);
    }
    fclose(f);
    const char *bce = spec_file("bce.spec", "nabla-spec 1\ndense 8 relu\ndense 1\n"
                                            "loss bce_with_logits\noptimizer adam lr=0.02\n"
                                            "epochs 30\nseed 2\ndata test_split=0.2\n");
    r = run((const char *[]){"train", bce, "--data", tmp("bin.csv"), "--out",
                             tmp("bin.safetensors"), "--quiet", NULL});
    CHECK_RUN(r);
    p = strstr(r.out, "accuracy ");
    CHECK_MSG(p && atof(p + 9) > 0.9 && strstr(r.out, "roc_auc") && strstr(r.out, ", f1 "), "%s",
              r.out);
    done(&r);
    r = run((const char *[]){"predict", tmp("bin.safetensors"), tmp("bin.csv"), "--proba", NULL});
    CHECK_RUN(r);
    double c = -1, q = -1;
    CHECK(sscanf(r.out, "%lf %lf", &c, &q) == 2 && (c == 0 || c == 1) && q >= 0 && q <= 1);
    done(&r);
}

/* 2. Class names in a later file are mapped through the model's: a test file without a class
 * keeps its accuracy; an unknown name is refused with the name. */
static void test_class_names_mapped(void) {
    write_classes(tmp("train3.csv"), 150, -1, true);
    write_classes(tmp("test2.csv"), 90, 0, true); /* no alpha */
    const char *spec = spec_file("cls.spec", "nabla-spec 1\ninput auto\ndense 8 relu\ndense 3\n"
                                             "loss cross_entropy\noptimizer adam lr=0.02\n"
                                             "epochs 30\nseed 3\ndata normalize=standard\n");
    result r =
        run((const char *[]){"train", spec, "--data", tmp("train3.csv"), "--test", tmp("test2.csv"),
                             "--out", tmp("cls.safetensors"), "--quiet", NULL});
    CHECK_RUN(r);
    const char *p = strstr(r.out, "accuracy ");
    CHECK_MSG(p && atof(p + 9) > 0.9, "%s", r.out);
    done(&r);
    r = run((const char *[]){"eval", tmp("cls.safetensors"), "--data", tmp("test2.csv"),
                             "--confusion", NULL});
    CHECK_RUN(r);
    CHECK_MSG(metric(r.out, "accuracy") > 0.9 && metric(r.out, "f1_macro") > 0.5, "%s", r.out);
    CHECK(strstr(r.out, "alpha") && strstr(r.out, "gamma")); /* the confusion matrix's names */
    done(&r);
    put_file(tmp("delta.csv"), "f1,f2,f3,f4,species\n0,0,0,0,alpha\n1,1,1,1,delta\n");
    r = run((const char *[]){"eval", tmp("cls.safetensors"), "--data", tmp("delta.csv"), NULL});
    CHECK_FAILS(r, 1,
                "the label is not one of the 3 known classes: \"delta\" (known: alpha, beta, "
                "gamma)");
    done(&r);
    r = run((const char *[]){"predict", tmp("cls.safetensors"), tmp("test2.csv"), NULL});
    CHECK_RUN(r);
    CHECK(count_lines(r.out) == 60 &&
          (!strncmp(r.out, "beta\n", 5) || !strncmp(r.out, "gamma\n", 6)));
    done(&r);
    r = run((const char *[]){"eval", tmp("cls.safetensors"), "--data", tmp("test2.csv"), "--json",
                             NULL});
    CHECK_RUN(r);
    CHECK_MSG(r.out[0] == '{' && strstr(r.out, "\"accuracy\": ") &&
                  strstr(r.out, "\"task\": \"classification\""),
              "%s", r.out);
    done(&r);
}

/* 3. A file without a header loses no row: one row, one prediction. */
static void test_no_header(void) {
    put_file(tmp("one_row.csv"), "1.0,-2.0,0.5,1.0\n");
    result r = run((const char *[]){"predict", tmp("cls.safetensors"), tmp("one_row.csv"), NULL});
    CHECK_RUN(r);
    CHECK_MSG(count_lines(r.out) == 1, "%s", r.out);
    done(&r);
    put_file(tmp("four.csv"), "1,2,3,4\n5,6,7,8\n0,0,0,0\n1,-2,0.5,1\n");
    r = run((const char *[]){"predict", tmp("cls.safetensors"), tmp("four.csv"), NULL});
    CHECK(r.rc == 0 && count_lines(r.out) == 4);
    done(&r);
    /* --header no says so outright */
    r = run((const char *[]){"predict", tmp("cls.safetensors"), tmp("four.csv"), "--header", "no",
                             NULL});
    CHECK(r.rc == 0 && count_lines(r.out) == 4);
    done(&r);
    /* training on a file without a header: the label is the last column */
    write_classes(tmp("nohead.csv"), 90, -1, false);
    r = run((const char *[]){"train", spec_file("nh.spec", "nabla-spec 1\ndense 3\nepochs 2\n"),
                             "--data", tmp("nohead.csv"), "--out", tmp("nh.safetensors"), "--quiet",
                             NULL});
    CHECK_RUN(r);
    done(&r);
    r = run((const char *[]){"eval", tmp("nh.safetensors"), "--data", tmp("nohead.csv"), NULL});
    CHECK_RUN(r);
    CHECK(strstr(r.out, "samples   90\n") != NULL);
    done(&r);
}

/* 5. normalize=standard is per feature. */
static void test_standard_per_feature(void) {
    result r = run((const char *[]){"info", tmp("cls.safetensors"), NULL});
    CHECK_RUN(r);
    CHECK_MSG(strstr(r.out, "standardise, x' = (x - shift) / div, per feature (4 values)"), "%s",
              r.out);
    CHECK(strstr(r.out, "table:         classification, 4 columns (matched by name)"));
    CHECK(strstr(r.out, "classes:       0=alpha, 1=beta, 2=gamma"));
    done(&r);
}

/* 7. Columns by name: swapped columns give the same predictions; a renamed one is refused. */
static void test_columns_by_name(void) {
    put_file(tmp("ordered.csv"), "f1,f2,f3,f4\n0.1,-0.2,1.5,0.3\n6.2,-4.1,0.2,2.2\n");
    put_file(tmp("swapped.csv"), "f4,species,f3,f1,f2\n0.3,x,1.5,0.1,-0.2\n2.2,y,0.2,6.2,-4.1\n");
    put_file(tmp("renamed.csv"), "f1,f2,F3,f4\n0.1,-0.2,1.5,0.3\n");
    result a = run(
        (const char *[]){"predict", tmp("cls.safetensors"), tmp("ordered.csv"), "--proba", NULL});
    result b = run(
        (const char *[]){"predict", tmp("cls.safetensors"), tmp("swapped.csv"), "--proba", NULL});
    CHECK_RUN(a);
    CHECK_RUN(b);
    CHECK_MSG(!strcmp(a.out, b.out) && count_lines(a.out) == 2, "%s---\n%s", a.out, b.out);
    done(&a);
    done(&b);
    result r = run((const char *[]){"predict", tmp("cls.safetensors"), tmp("renamed.csv"), NULL});
    CHECK_FAILS(r, 1, "no column is named 'f3'");
    CHECK(strstr(r.err, "did you mean 'F3'?") != NULL);
    done(&r);
}

/* 8. The model's data paths are relative to the model file: evaluate from '/'. */
static void test_paths_from_elsewhere(void) {
    char model[300];
    snprintf(model, sizeof model, "%s", tmp("stored.safetensors"));
    result r =
        run((const char *[]){"train", tmp("cls.spec"), "--data", tmp("train3.csv"), "--test",
                             tmp("test2.csv"), "--out", model, "--quiet", "--epochs", "2", NULL});
    CHECK_RUN(r);
    done(&r);
    r = run_in("/", NULL, (const char *[]){"eval", model, "--use-stored-data", NULL});
    CHECK_RUN(r);
    CHECK(strstr(r.out, "samples   60\n") != NULL);
    done(&r);
    r = run((const char *[]){"info", model, NULL});
    CHECK_MSG(strstr(r.out, "test=test2.csv") && strstr(r.out, "train=train3.csv"), "%s", r.out);
    done(&r);
}

/* 9. Standard input, the delimiter, the label column message, info on a spec, the epochs note,
 * an IDX folder. */
static void test_usability(void) {
    /* train and eval from standard input */
    result r = run_in(NULL, tmp("train3.csv"),
                      (const char *[]){"train", tmp("cls.spec"), "--data", "-", "--epochs", "3",
                                       "--out", tmp("stdin.safetensors"), "--quiet", NULL});
    CHECK_RUN(r);
    done(&r);
    r = run_in(NULL, tmp("test2.csv"),
               (const char *[]){"eval", tmp("stdin.safetensors"), "--data", "-", NULL});
    CHECK_RUN(r);
    CHECK(strstr(r.out, "samples   60\n") != NULL);
    done(&r);
    /* a ';' file: detected, or said */
    FILE *in = fopen(tmp("train3.csv"), "r"), *out = fopen(tmp("semi.csv"), "w");
    for (int ch; (ch = fgetc(in)) != EOF;) fputc(ch == ',' ? ';' : ch, out);
    fclose(in);
    fclose(out);
    r = run((const char *[]){"eval", tmp("cls.safetensors"), "--data", tmp("semi.csv"), NULL});
    CHECK_RUN(r);
    done(&r);
    r = run((const char *[]){"eval", tmp("cls.safetensors"), "--data", tmp("semi.csv"),
                             "--delimiter", "semicolon", NULL});
    CHECK_RUN(r);
    done(&r);
    /* the label column: the message shows the end of the header and a near name */
    FILE *f = fopen(tmp("wide.csv"), "w");
    for (int i = 0; i < 40; i++) fprintf(f, "feature_%02d,", i);
    fprintf(f, "target\n");
    for (int i = 0; i < 40; i++) fprintf(f, "%d,", i);
    fprintf(f, "1\n");
    fclose(f);
    r = run((const char *[]){"train", tmp("cls.spec"), "--data", tmp("wide.csv"), "--label",
                             "Target", "--out", tmp("x.safetensors"), NULL});
    CHECK_FAILS(r, 1, "'feature_39', 'target')");
    CHECK(strstr(r.err, "did you mean 'target'?") != NULL);
    done(&r);
    /* info on a spec */
    r = run((const char *[]){"info", tmp("cls.spec"), NULL});
    CHECK_RUN(r);
    CHECK(strstr(r.out, "(a spec: the model and its training") &&
          strstr(r.out, "input:         auto"));
    done(&r);
    r = run((const char *[]){"info", tmp("reg.spec"), NULL});
    CHECK(r.rc == 0 && strstr(r.out, "  dense 16 relu"));
    done(&r);
    /* no epochs line: said */
    r = run((const char *[]){"train", spec_file("noep.spec", "nabla-spec 1\ndense 3\n"), "--data",
                             tmp("train3.csv"), "--out", tmp("x.safetensors"), NULL});
    CHECK_RUN(r);
    CHECK(strstr(r.err, "note: the spec has no 'epochs' line: training 1 epoch") != NULL);
    done(&r);
    /* an IDX folder with the standard names */
    char d[300], cwd[4096];
    snprintf(d, sizeof d, "%s", tmp("idx"));
    CHECK(mkdir(d, 0700) == 0 && getcwd(cwd, sizeof cwd) != NULL);
    const char *names[4][2] = {{"images_u8.idx", "train-images-idx3-ubyte"},
                               {"labels_u8.idx", "train-labels-idx1-ubyte"},
                               {"images_u8.idx", "t10k-images-idx3-ubyte"},
                               {"labels_u8.idx", "t10k-labels-idx1-ubyte"}};
    for (int i = 0; i < 4; i++) {
        char src[4200], dst[600];
        snprintf(src, sizeof src, "%s/tests/data/%s", cwd, names[i][0]);
        snprintf(dst, sizeof dst, "%s/%s", d, names[i][1]);
        CHECK(symlink(src, dst) == 0);
    }
    r = run((const char *[]){"train",
                             spec_file("idx.spec", "nabla-spec 1\ninput auto\ndense 4\nepochs 2\n"
                                                   "data normalize=scale:255\n"),
                             "--data", d, "--out", tmp("idx.safetensors"), "--quiet", NULL});
    CHECK_RUN(r);
    CHECK_MSG(!strncmp(r.out, "test: ", 6), "%s", r.out); /* the t10k files were the test set */
    done(&r);
}

/* Categorical columns, imputed gaps and several targets; class weights; cross-validation. */
static void test_tables_more(void) {
    write_regression(tmp("gaps.csv"), 300, true);
    const char *spec = spec_file("gaps.spec", "nabla-spec 1\ndense 16 relu\ndense 1\n"
                                              "optimizer adam lr=0.01\nbatch 16\nepochs 30\n"
                                              "seed 4\ndata label=price categorical=colour\n");
    result r = run((const char *[]){"train", spec, "--data", tmp("gaps.csv"), "--out",
                                    tmp("gaps.safetensors"), "--quiet", NULL});
    CHECK_FAILS(r, 1, "gaps.csv:7: column 1 ('a'): the cell is empty (a missing value");
    done(&r);
    r = run((const char *[]){"train", spec, "--data", tmp("gaps.csv"), "--missing", "median",
                             "--out", tmp("gaps.safetensors"), "--quiet", NULL});
    CHECK_RUN(r);
    done(&r);
    r = run((const char *[]){"eval", tmp("gaps.safetensors"), "--data", tmp("gaps.csv"), NULL});
    CHECK_MSG(r.rc == 0 && metric(r.out, "r2") > 0.8, "%s%s", r.out, r.err);
    done(&r);
    put_file(tmp("purple.csv"), "a,b,colour,price\n1,1,purple,500\n");
    r = run((const char *[]){"eval", tmp("gaps.safetensors"), "--data", tmp("purple.csv"), NULL});
    CHECK_FAILS(r, 1,
                "row 1, column 'colour': the category 'purple' is not one the model was "
                "trained on (it knows 3: blue, green, red)");
    done(&r);
    /* three targets at once */
    FILE *f = fopen(tmp("multi.csv"), "w");
    fprintf(f, "x1,x2,y1,y2,y3\n");
    for (int i = 0; i < 200; i++) {
        double a = gauss(), b = gauss();
        fprintf(f, "%.4f,%.4f,%.4f,%.4f,%.4f\n", a, b, a + b, 100 * (a - b), 5 * a);
    }
    fclose(f);
    const char *ms = spec_file("multi.spec", "nabla-spec 1\ndense 16 relu\ndense 3\nloss mse\n"
                                             "optimizer adam lr=0.01\nepochs 40\nbatch 16\nseed 5\n"
                                             "data label=y1,y2,y3\n");
    r = run((const char *[]){"train", ms, "--data", tmp("multi.csv"), "--out",
                             tmp("multi.safetensors"), "--quiet", NULL});
    CHECK_RUN(r);
    done(&r);
    r = run((const char *[]){"predict", tmp("multi.safetensors"), tmp("multi.csv"), NULL});
    double v[3];
    CHECK(r.rc == 0 && sscanf(r.out, "%lf %lf %lf", &v[0], &v[1], &v[2]) == 3);
    done(&r);
    r = run((const char *[]){"eval", tmp("multi.safetensors"), "--data", tmp("multi.csv"), NULL});
    CHECK_MSG(r.rc == 0 && metric(r.out, "r2") > 0.95, "%s%s", r.out, r.err);
    done(&r);
    /* class_weight=balanced on an imbalanced table, and a stratified test split */
    f = fopen(tmp("imb.csv"), "w");
    fprintf(f, "x,y,label\n");
    for (int i = 0; i < 300; i++) {
        int c = i % 10 == 0;
        fprintf(f, "%.4f,%.4f,%s\n", gauss() + 2.5 * c, gauss(), c ? "rare" : "common");
    }
    fclose(f);
    const char *cw = spec_file("cw.spec", "nabla-spec 1\ndense 2\noptimizer adam lr=0.05\n"
                                          "epochs 20\nseed 6\n"
                                          "data class_weight=balanced test_split=0.2\n");
    r = run((const char *[]){"train", cw, "--data", tmp("imb.csv"), "--out", tmp("cw.safetensors"),
                             "--quiet", NULL});
    CHECK_RUN(r);
    const char *p = strstr(r.out, "recall_macro ");
    CHECK_MSG(!strncmp(r.out, "test: 60 samples", 16) && p && atof(p + 13) > 0.8, "%s", r.out);
    done(&r);
    /* cross-validation */
    r = run((const char *[]){"cv", tmp("cls.spec"), "--data", tmp("train3.csv"), "--folds", "3",
                             "--epochs", "10", "--quiet", NULL});
    CHECK_RUN(r);
    CHECK_MSG(strstr(r.out, "fold 1/3: 50 samples") && strstr(r.out, "fold 3/3: 50 samples") &&
                  strstr(r.out, "\naccuracy  ") && strstr(r.out, " ± "),
              "%s", r.out);
    done(&r);
    r = run((const char *[]){"cv", tmp("cls.spec"), "--data", tmp("train3.csv"), "--folds", "3",
                             "--epochs", "5", "--json", "--quiet", NULL});
    CHECK(r.rc == 0 && r.out[0] == '{' && strstr(r.out, "\"accuracy\": {\"mean\": "));
    done(&r);
    r = run(
        (const char *[]){"cv", tmp("cls.spec"), "--data", tmp("train3.csv"), "--folds", "1", NULL});
    CHECK_FAILS(r, 2, "--folds expects an integer in [2, 1000]");
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

static void test_cleanup(void) {
    if (dir[0]) remove_tree(dir);
    CHECK(access(dir, F_OK) != 0);
}

static const nbt_case cases[] = {
    {"regression_from_csv", test_regression_from_csv},
    {"class_names_mapped", test_class_names_mapped},
    {"no_header", test_no_header},
    {"standard_per_feature", test_standard_per_feature},
    {"columns_by_name", test_columns_by_name},
    {"paths_from_elsewhere", test_paths_from_elsewhere},
    {"usability", test_usability},
    {"tables_more", test_tables_more},
    {"cleanup", test_cleanup},
};

NBT_MAIN(cases)
