/* tests/test_text_cli.c — `nabla tokenize`, run as a program: training on a corpus, encode and
 * decode round trips, info, and bad input (each failure exits 1, or 2 for a usage error, with
 * exactly one line on standard error).
 *
 * The binary is the nabla next to this test's build directory (build/nabla for
 * build/tests/test_text_cli; NABLA_BIN overrides). */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char bin[4200], dir[64], corpus[4096];

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
    snprintf(dir, sizeof dir, "/tmp/nabla-tokcli-XXXXXX");
    if (!mkdtemp(dir)) abort();
    if (!realpath("tests/data/text/bpe_corpus.txt", corpus)) abort();
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
              "nabla tokenize %s ...: exit %d (want %d), stderr '%s' (want '%s'), %zu bytes out",
              args[1], r.rc, rc, r.err, msg, r.out_len);
    done(&r);
}

static void test_train_encode_decode(void) {
    setup();
    const char *train[] = {"tokenize", "train", corpus,          "--vocab",
                           "400",      "--out", tmp("tok.json"), NULL};
    result r = run(train);
    CHECK_MSG(r.rc == 0 && strstr(r.out, "400 tokens (256 bytes + 142 merges + 2 special)") &&
                  strstr(r.out, "bytes/token") && r.err[0] == 0,
              "exit %d, out '%s', err '%s'", r.rc, r.out, r.err);
    done(&r);
    nb_tokenizer *t = NULL;
    CHECK_OK(nb_tokenizer_load(tmp("tok.json"), &t));
    CHECK(nb_tokenizer_vocab_size(t) == 400 && nb_tokenizer_special_id(t, "<|pad|>") == 399);

    /* encode prints the library's ids; decode gives the text back exactly. */
    const char *text = "The state of the world, they'll say: 12345 \xc3\xbc"
                       "ber\ttabs\n";
    put_file(tmp("text.txt"), text);
    const char *enc[] = {"tokenize", "encode", tmp("tok.json"), "--file", tmp("text.txt"), NULL};
    r = run(enc);
    int32_t *ids = NULL;
    int64_t n = 0;
    if (t) CHECK_OK(nb_tokenizer_encode(t, text, strlen(text), 0, &ids, &n));
    char want[4096] = "";
    for (int64_t i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? " " : "", ids[i]);
    strcat(want, "\n");
    CHECK_MSG(r.rc == 0 && !strcmp(r.out, want), "encode: exit %d, '%s', want '%s'", r.rc, r.out,
              want);
    put_file(tmp("ids.txt"), r.out);
    done(&r);
    const char *dec[] = {"tokenize", "decode", tmp("tok.json"), "--file", tmp("ids.txt"), NULL};
    r = run(dec);
    CHECK_MSG(r.rc == 0 && r.out_len == strlen(text) && !memcmp(r.out, text, r.out_len),
              "decode: exit %d, '%s'", r.rc, r.out);
    done(&r);
    /* Ids as arguments, and text with a special token. */
    const char *dec2[] = {"tokenize", "decode", tmp("tok.json"), "72", "105,32", "398", NULL};
    r = run(dec2);
    CHECK(r.rc == 0 && !strcmp(r.out, "Hi <|eos|>"));
    done(&r);
    const char *enc2[] = {"tokenize", "encode",          tmp("tok.json"),
                          "a<|eos|>", "--parse-special", NULL};
    r = run(enc2);
    CHECK_MSG(r.rc == 0 && !strcmp(r.out, "97 398\n"), "'%s'", r.out);
    done(&r);
    nb_free(ids);
    nb_tokenizer_free(t);
}

static void test_info(void) {
    setup();
    const char *train[] = {"tokenize",  "train",   corpus,  "--vocab",         "300",
                           "--special", "<|eos|>", "--out", tmp("small.json"), NULL};
    result r = run(train);
    CHECK(r.rc == 0);
    done(&r);
    const char *info[] = {"tokenize", "info", tmp("small.json"), "--corpus", corpus, NULL};
    r = run(info);
    CHECK_MSG(r.rc == 0 &&
                  strstr(r.out, "vocabulary:  300 tokens: 256 bytes, 43 merges, 1 special") &&
                  strstr(r.out, "special:     299 \"<|eos|>\"") && strstr(r.out, "training:") &&
                  strstr(r.out, "first merges: 256 ") && strstr(r.out, "MB/s"),
              "exit %d, out:\n%s", r.rc, r.out);
    done(&r);
    /* A character vocabulary, and a prompt it cannot encode. */
    put_file(tmp("abc.txt"), "abcabc");
    const char *ch[] = {"tokenize",  "train", tmp("abc.txt"), "--kind",          "char",
                        "--special", "",      "--out",        tmp("chars.json"), NULL};
    r = run(ch);
    CHECK_MSG(r.rc == 0 && strstr(r.out, "3 tokens (3 characters + 0 special)"), "'%s' '%s'", r.out,
              r.err);
    done(&r);
    const char *bad[] = {"tokenize", "encode", tmp("chars.json"), "abd", NULL};
    check_fails(bad, 1, "U+0064");
}

static void test_errors(void) {
    setup();
    put_file(tmp("empty.txt"), "");
    put_file(tmp("garbage.json"), "{\"format\": \"nabla-tokenizer\", \"version\": 9}");
    const char *train[] = {"tokenize", "train", corpus,        "--vocab",
                           "300",      "--out", tmp("e.json"), NULL};
    result r = run(train);
    CHECK(r.rc == 0);
    done(&r);
    struct {
        const char *args[10];
        int rc;
        const char *msg;
    } cases[] = {
        {{"tokenize", "train", NULL}, 2, "missing argument"},
        {{"tokenize", "train", corpus, "--vocab", "300", NULL}, 2, "--out FILE is required"},
        {{"tokenize", "train", corpus, "--out", tmp("x.json"), NULL}, 2, "--vocab N is required"},
        {{"tokenize", "train", corpus, "--vocab", "100", "--out", tmp("x.json"), NULL},
         2,
         "--vocab expects an integer in [256"},
        {{"tokenize", "train", corpus, "--kind", "words", "--out", tmp("x.json"), NULL},
         2,
         "--kind must be"},
        {{"tokenize", "train", tmp("missing"), "--vocab", "300", "--out", tmp("x.json"), NULL},
         1,
         "missing"},
        {{"tokenize", "train", tmp("empty.txt"), "--vocab", "300", "--out", tmp("x.json"), NULL},
         1,
         "empty"},
        {{"tokenize", "train", corpus, "--vocab", "300", "--special", "a,,b", "--out",
          tmp("x.json"), NULL},
         2,
         "empty token"},
        {{"tokenize", "frobnicate", tmp("e.json"), NULL}, 2, "unknown subcommand"},
        {{"tokenize", "encode", tmp("e.json"), "x", "--vocab", "300", NULL},
         2,
         "--vocab is not an option of 'nabla tokenize encode'"},
        {{"tokenize", "encode", tmp("e.json"), NULL}, 2, "TEXT"},
        {{"tokenize", "encode", tmp("garbage.json"), "x", NULL}, 1, "version 9"},
        {{"tokenize", "encode", tmp("missing.json"), "x", NULL}, 1, "missing.json"},
        {{"tokenize", "decode", tmp("e.json"), "1", "300", NULL}, 1, "token id 300"},
        {{"tokenize", "decode", tmp("e.json"), "--", "-1", NULL}, 1, "out of range"},
        {{"tokenize", "decode", tmp("e.json"), "12x", NULL}, 2, "'12x' is not a token id"},
        {{"tokenize", "info", tmp("e.json"), "extra", NULL}, 2, "one tokenizer file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_fails(cases[i].args, cases[i].rc, cases[i].msg);
}

static const nbt_case cases[] = {
    {"train_encode_decode", test_train_encode_decode},
    {"info", test_info},
    {"errors", test_errors},
};

NBT_MAIN(cases)
