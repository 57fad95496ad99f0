/* tests/test_lm_cli.c — language models through `nabla`, run as a program: `train` on a spec
 * whose data line is text= (the validation loss falls; --steps stops at N; the last lines are
 * val_loss, bpc and tokens_per_s; --checkpoint and --resume continue a run bit for bit),
 * `eval` of the saved model (the same metrics), `generate`
 * (seeded, streamed), and bad input: each failure exits 1 (2 for a usage error) with exactly
 * one line on standard error. The corpora are small texts written by the test.
 *
 * The binary is the nabla next to this test's build directory (build/nabla for
 * build/tests/test_lm_cli; NABLA_BIN overrides). */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <math.h>
#include <unistd.h>

extern char **environ;

static char bin[4200], dir[64];

typedef struct result {
    int rc;
    char *out, *err;
    size_t out_len;
} result;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    long n = 0;
    if (f && !fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET)) {
        b = malloc((size_t)n + 1);
        n = (long)fread(b, 1, (size_t)n, f);
        b[n] = 0;
    }
    if (f) fclose(f);
    *len = b ? (size_t)n : 0;
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
    snprintf(dir, sizeof dir, "/tmp/nabla-lmcli-XXXXXX");
    if (!mkdtemp(dir)) abort();
}

static const char *tmp(const char *name) {
    static char buf[64][256]; /* enough for every path of one test's table */
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
    size_t elen;
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
    r.err = slurp(err, &elen);
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

/* A failure: the exit code, one line on stderr holding `msg`, nothing on stdout. */
static void check_fails(const char *const *args, int rc, const char *msg) {
    result r = run(args);
    CHECK_MSG(r.rc == rc && lines(r.err) == 1 && strstr(r.err, msg) && r.out_len == 0,
              "nabla %s ...: exit %d (want %d), stderr '%s' (want '%s'), %zu bytes out", args[0],
              r.rc, rc, r.err, msg, r.out_len);
    done(&r);
}

/* A text of `words` words drawn from a small vocabulary (a pattern a tiny model learns). */
static void put_corpus(const char *path, int words) {
    static const char *const w[] = {"the", "cat", "sat", "on", "a", "mat", "dog", "ran"};
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    uint64_t s = 12345;
    for (int i = 0; i < words; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        fprintf(f, "%s%s", i ? " " : "", w[(s >> 33) % 8]);
    }
    fclose(f);
}

/* A small LSTM language model over bytes, its text `text`. */
static void put_spec(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fprintf(f,
            "nabla-spec 2\ninput 16 dtype=i32 name=tokens\nembedding 256 16\nlstm 32\n"
            "dense 256\nloss cross_entropy\noptimizer adam lr=1e-2\nbatch 8\nseed 0\n"
            "data text=%s\n",
            text);
    fclose(f);
}

/* The number after "name " at the start of a line of s; NAN when there is none. */
static double metric(const char *s, const char *name) {
    size_t n = strlen(name);
    for (const char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == ' ') return strtod(p + n + 1, NULL);
    return NAN;
}

static double train_steps(const char *steps, const char *out, result *keep) {
    const char *args[] = {"train", tmp("lm.spec"), "--steps", steps, "--eval-every",
                          "20",    "--out",        out,       NULL};
    result r = run(args);
    double v = metric(r.out, "val_loss");
    CHECK_MSG(r.rc == 0 && isfinite(v) && isfinite(metric(r.out, "bpc")) &&
                  metric(r.out, "tokens_per_s") > 0,
              "train --steps %s: exit %d, out '%s', err '%s'", steps, r.rc, r.out, r.err);
    if (keep)
        *keep = r;
    else
        done(&r);
    return v;
}

static void test_train_eval(void) {
    put_corpus(tmp("c.txt"), 3000);
    put_spec(tmp("lm.spec"), tmp("c.txt"));
    double v1 = train_steps("1", tmp("m1.safetensors"), NULL);
    result r;
    double v80 = train_steps("80", tmp("m80.safetensors"), &r);
    /* learning: far below the first step's loss (ln 256 = 5.5 untrained) */
    CHECK_MSG(v80 < v1 - 1.0 && v80 < 2.0, "val_loss after 1 step %g, after 80 %g", v1, v80);
    /* --steps: stops at N; progress every --eval-every steps */
    CHECK_MSG(strstr(r.err, "step 80/80") && strstr(r.err, "step 20/80") &&
                  !strstr(r.err, "step 81"),
              "stderr '%s'", r.err);
    /* bpc is the loss in bits (a byte a token) */
    CHECK(fabs(metric(r.out, "bpc") - v80 / log(2.0)) < 1e-3);
    done(&r);
    /* eval: the same held-out windows, the same loss */
    const char *ev[] = {"eval", tmp("m80.safetensors"), "--data", tmp("c.txt"), NULL};
    r = run(ev);
    CHECK_MSG(r.rc == 0 && fabs(metric(r.out, "val_loss") - v80) < 1e-3 &&
                  fabs(metric(r.out, "bpc") - v80 / log(2.0)) < 1e-3 && metric(r.out, "tokens") > 0,
              "eval: exit %d, out '%s', err '%s'", r.rc, r.out, r.err);
    done(&r);
    const char *stored[] = {"eval", tmp("m80.safetensors"), "--use-stored-data", NULL};
    r = run(stored);
    CHECK_MSG(r.rc == 0 && fabs(metric(r.out, "val_loss") - v80) < 1e-3, "exit %d, out '%s'", r.rc,
              r.out);
    done(&r);
    /* --data overrides the spec's text= */
    put_corpus(tmp("c2.txt"), 2000);
    const char *over[] = {"train", tmp("lm.spec"),        "--data", tmp("c2.txt"), "--steps", "2",
                          "--out", tmp("m2.safetensors"), NULL};
    r = run(over);
    CHECK_MSG(r.rc == 0 && strstr(r.err, "c2.txt"), "exit %d, err '%s'", r.rc, r.err);
    done(&r);
}

static void test_train_errors(void) {
    put_file(tmp("empty.txt"), "");
    put_file(tmp("short.txt"), "the cat sat on the mat");
    put_corpus(tmp("c.txt"), 3000);
    put_spec(tmp("lm.spec"), tmp("c.txt"));
    FILE *f = fopen(tmp("plain.spec"), "wb");
    fprintf(f, "nabla-spec 2\ninput 4\ndense 3\n");
    fclose(f);
    f = fopen(tmp("notlm.spec"), "wb");
    fprintf(f, "nabla-spec 2\ninput 4\ndense 3\ndata text=%s\n", tmp("c.txt"));
    fclose(f);
    f = fopen(tmp("narrow.spec"), "wb");
    fprintf(f, "nabla-spec 2\ninput 8 dtype=i32\nembedding 256 8\ndense 100\ndata text=%s\n",
            tmp("c.txt"));
    fclose(f);
    f = fopen(tmp("both.spec"), "wb");
    fprintf(f, "nabla-spec 2\ninput 4\ndense 3\ndata text=%s train=%s\n", tmp("c.txt"),
            tmp("c.txt"));
    fclose(f);
    struct {
        const char *args[12];
        int rc;
        const char *msg;
    } cases[] = {
        {{"train", tmp("lm.spec"), "--data", tmp("empty.txt"), "--out", tmp("x.st"), NULL},
         1,
         "the text is empty"},
        {{"train", tmp("lm.spec"), "--data", tmp("short.txt"), "--out", tmp("x.st"), NULL},
         1,
         "fewer than a window"},
        {{"train", tmp("lm.spec"), "--data", tmp("missing.txt"), "--out", tmp("x.st"), NULL},
         1,
         "missing.txt"},
        {{"train", tmp("lm.spec"), "--steps", "0", "--out", tmp("x.st"), NULL}, 2, "--steps"},
        {{"train", tmp("notlm.spec"), "--out", tmp("x.st"), NULL}, 1, "not a language model"},
        {{"train", tmp("narrow.spec"), "--out", tmp("x.st"), NULL}, 1, "tokenizer has 256"},
        {{"train", tmp("both.spec"), "--out", tmp("x.st"), NULL}, 1, "cannot both be given"},
        {{"train", tmp("plain.spec"), "--steps", "5", "--out", tmp("x.st"), NULL},
         2,
         "language model"},
        {{"train", tmp("lm.spec"), "--tokenizer", tmp("missing.json"), "--out", tmp("x.st"), NULL},
         1,
         "missing.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_fails(cases[i].args, cases[i].rc, cases[i].msg);
    /* eval of a language model without a text to read */
    const char *tr[] = {"train", tmp("lm.spec"),       "--steps", "1",
                        "--out", tmp("e.safetensors"), NULL};
    result r = run(tr);
    CHECK(r.rc == 0);
    done(&r);
    const char *ev[] = {"eval", tmp("e.safetensors"), NULL};
    check_fails(ev, 2, "--use-stored-data");
    const char *ev2[] = {"eval", tmp("e.safetensors"), "--data", tmp("short.txt"), NULL};
    check_fails(ev2, 1, "fewer than a window");
}

/* Exact resume: 10 steps straight, and 5 steps with --checkpoint then --resume to 10, write
 * the same bytes (weights, spec, tokenizer). The model has dropout, the optimizer AdamW with a
 * warmup and cosine schedule, so the window sampler's and dropout's generators, the step
 * count, the schedule's position and the optimizer's moments must all carry over. */
static void test_resume(void) {
    put_corpus(tmp("c.txt"), 3000);
    FILE *f = fopen(tmp("drop.spec"), "wb");
    if (!f) abort();
    fprintf(f,
            "nabla-spec 2\ninput 16 dtype=i32 name=tokens\nembedding 256 16\ndropout 0.2\n"
            "lstm 32\ndense 256\nloss cross_entropy\noptimizer adamw lr=1e-2 weight_decay=0.1\n"
            "schedule cosine t_max=10 warmup=3\nbatch 8\nseed 0\ndata text=%s\n",
            tmp("c.txt"));
    fclose(f);
    const char *straight[] = {"train", tmp("drop.spec"),      "--steps", "10", "--out",
                              tmp("straight.safetensors"), NULL};
    const char *half[] = {"train", tmp("drop.spec"),        "--steps", "5",
                          "--checkpoint", tmp("ck.safetensors"), "--every", "2",
                          "--out", tmp("half.safetensors"), NULL};
    const char *rest[] = {"train",    tmp("drop.spec"),      "--steps", "10",
                          "--resume", tmp("ck.safetensors"), "--out",   tmp("resumed.safetensors"),
                          NULL};
    const char *const *runs[] = {straight, half, rest};
    for (int i = 0; i < 3; i++) {
        result r = run(runs[i]);
        CHECK_MSG(r.rc == 0, "run %d: exit %d, err '%s'", i, r.rc, r.err);
        if (i == 2) CHECK_MSG(strstr(r.err, "after step 5"), "err '%s'", r.err);
        done(&r);
    }
    size_t na, nb, nh;
    char *a = slurp(tmp("straight.safetensors"), &na), *b = slurp(tmp("resumed.safetensors"), &nb);
    char *h = slurp(tmp("half.safetensors"), &nh);
    CHECK_MSG(na > 1000 && na == nb && !memcmp(a, b, na),
              "10 steps straight (%zu bytes) and 5 + 5 resumed (%zu bytes) differ", na, nb);
    CHECK(nh == na && memcmp(a, h, na)); /* the half-way model is another (the test can fail) */
    free(a);
    free(b);
    free(h);
    /* a resumed run already at its end trains nothing and saves the checkpoint's weights */
    const char *again[] = {"train",    tmp("drop.spec"),      "--steps", "5",
                           "--resume", tmp("ck.safetensors"), "--out",   tmp("again.safetensors"),
                           NULL};
    result r = run(again);
    CHECK_MSG(r.rc == 0 && isfinite(metric(r.out, "val_loss")), "exit %d, err '%s'", r.rc, r.err);
    done(&r);
    a = slurp(tmp("half.safetensors"), &na);
    b = slurp(tmp("again.safetensors"), &nb);
    CHECK(na == nb && !memcmp(a, b, na));
    free(a);
    free(b);
    /* what is refused, and why */
    const char *plain[] = {"train",    tmp("drop.spec"),            "--steps", "10",
                           "--resume", tmp("straight.safetensors"), "--out",   tmp("x.st"),
                           NULL};
    check_fails(plain, 1, "is not a checkpoint");
    const char *best[] = {"train", tmp("drop.spec"), "--best", tmp("b.st"), "--out", tmp("x.st"),
                          NULL};
    check_fails(best, 2, "has no epochs");
    const char *stop[] = {"train", tmp("drop.spec"), "--early-stop", "3", "--out", tmp("x.st"),
                          NULL};
    check_fails(stop, 2, "has no epochs");
    const char *every[] = {"train", tmp("drop.spec"), "--every", "3", "--out", tmp("x.st"), NULL};
    check_fails(every, 2, "--every N needs --checkpoint");
}

/* A model trained for a few steps on the word corpus (m.safetensors). */
static void small_model(void) {
    put_corpus(tmp("c.txt"), 3000);
    put_spec(tmp("lm.spec"), tmp("c.txt"));
    const char *tr[] = {"train", tmp("lm.spec"),       "--steps", "30",
                        "--out", tmp("m.safetensors"), NULL};
    result r = run(tr);
    CHECK_MSG(r.rc == 0, "train: exit %d, err '%s'", r.rc, r.err);
    done(&r);
}

static result gen(const char *seed, const char *temperature, const char *n) {
    const char *args[] = {
        "generate", tmp("m.safetensors"), "--prompt",  "the ",    "--tokens", n,         "--seed",
        seed,       "--temperature",      temperature, "--top-k", "20",       "--top-p", "0.95",
        NULL};
    return run(args);
}

static void test_generate(void) {
    small_model();
    result a = gen("3", "1", "50"), b = gen("3", "1", "50"), c = gen("4", "1", "50");
    /* the prompt, 50 bytes (a byte tokenizer), a newline */
    CHECK_MSG(a.rc == 0 && a.out_len == 4 + 50 + 1 && !strncmp(a.out, "the ", 4) &&
                  a.out[a.out_len - 1] == '\n' && a.err[0] == 0,
              "exit %d, %zu bytes '%s', err '%s'", a.rc, a.out_len, a.out, a.err);
    CHECK_MSG(b.rc == 0 && b.out_len == a.out_len && !memcmp(a.out, b.out, a.out_len),
              "the same seed, different text: '%s' and '%s'", a.out, b.out);
    CHECK_MSG(c.rc == 0 && (c.out_len != a.out_len || memcmp(a.out, c.out, a.out_len)),
              "seeds 3 and 4 gave the same text '%s'", a.out);
    done(&a);
    done(&b);
    done(&c);
    /* greedy: no draws, the seed does not matter */
    a = gen("1", "0", "30");
    b = gen("2", "0", "30");
    CHECK(a.rc == 0 && b.rc == 0 && a.out_len == b.out_len && !memcmp(a.out, b.out, a.out_len));
    done(&a);
    done(&b);
    /* info shows the tokenizer */
    const char *info[] = {"info", tmp("m.safetensors"), NULL};
    a = run(info);
    CHECK_MSG(a.rc == 0 && strstr(a.out, "tokenizer:     byte, 256 tokens"), "info: '%s'", a.out);
    done(&a);
}

static void test_generate_errors(void) {
    small_model();
    /* a character tokenizer: a prompt with a character it never saw is refused */
    const char *tk[] = {"tokenize", "train", tmp("c.txt"),    "--kind",
                        "char",     "--out", tmp("tok.json"), NULL};
    result r = run(tk);
    CHECK(r.rc == 0);
    done(&r);
    const char *tr[] = {
        "train", tmp("lm.spec"),          "--tokenizer", tmp("tok.json"), "--steps", "2",
        "--out", tmp("char.safetensors"), NULL};
    r = run(tr);
    CHECK_MSG(r.rc == 0, "train with a char tokenizer: exit %d, err '%s'", r.rc, r.err);
    done(&r);
    /* a model that is not a language model: one trained on samples */
    char digits[4096];
    if (!realpath("data/digits/digits.csv", digits)) abort();
    FILE *f = fopen(tmp("plain.spec"), "wb");
    fprintf(f, "nabla-spec 1\ninput auto\ndense 10\n");
    fclose(f);
    const char *pl[] = {
        "train", tmp("plain.spec"),        "--data", digits, "--epochs", "1", "--quiet",
        "--out", tmp("plain.safetensors"), NULL};
    r = run(pl);
    CHECK_MSG(r.rc == 0, "plain: exit %d, err '%s'", r.rc, r.err);
    done(&r);
    struct {
        const char *args[12];
        int rc;
        const char *msg;
    } cases[] = {
        {{"generate", tmp("char.safetensors"), "--prompt", "the xylophone", NULL}, 1, "--prompt"},
        {{"generate", tmp("plain.safetensors"), "--prompt", "hi", NULL}, 1, "not a language model"},
        {{"generate", tmp("m.safetensors"), "--prompt", "a", "--tokens", "0", NULL}, 2, "--tokens"},
        {{"generate", tmp("m.safetensors"), "--prompt", "a", "--tokens", "2000000", NULL},
         2,
         "--tokens"},
        {{"generate", tmp("m.safetensors"), NULL}, 2, "--prompt"},
        {{"generate", tmp("m.safetensors"), "--prompt", "", NULL}, 2, "--prompt"},
        {{"generate", tmp("m.safetensors"), "--prompt", "a", "--top-p", "0", NULL}, 2, "--top-p"},
        {{"generate", tmp("m.safetensors"), "--prompt", "a", "--top-k", "300", NULL}, 2, "--top-k"},
        {{"generate", tmp("m.safetensors"), "--prompt", "a", "--temperature", "-1", NULL},
         2,
         "--temperature"},
        {{"generate", tmp("missing.safetensors"), "--prompt", "a", NULL}, 1, "missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_fails(cases[i].args, cases[i].rc, cases[i].msg);
    /* the char model's last layer has 256 outputs for 15 tokens: an id it draws past the
     * vocabulary stops the text with an error (the prompt was already written) */
    const char *wide[] = {
        "generate", tmp("char.safetensors"), "--prompt", "the ", "--tokens", "200", "--seed", "1",
        NULL};
    r = run(wide);
    CHECK_MSG(r.rc == 1 && lines(r.err) == 1 && strstr(r.err, "outside the tokenizer's 15 tokens"),
              "exit %d, err '%s'", r.rc, r.err);
    done(&r);
}

static const nbt_case cases[] = {
    {"generate", test_generate},
    {"generate_errors", test_generate_errors},
    {"resume", test_resume},
    {"train_eval", test_train_eval},
    {"train_errors", test_train_errors},
};

NBT_MAIN(cases)
