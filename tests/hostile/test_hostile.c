/* tests/hostile/test_hostile.c — the hostile-input suite: every command of the `nabla` tool
 * (train, eval, predict, info, export) fed the inputs gen_inputs writes into a fresh temporary
 * directory — FIFOs and devices where files belong, lying headers, NaN, a million columns,
 * escape sequences in model files, stored paths to other files, outputs that cannot be
 * written.
 *
 * Each case runs the tool as a child and asserts: it ended by exiting, never by a signal; with
 * the expected code; a failure printed exactly one line on stderr, "nabla <cmd>: ...",
 * containing the expected words; nothing it printed holds a control character a terminal
 * would obey (ESC, C1) nor a text it must not leak; it took bounded time (a FIFO must not
 * hang, a doomed output must fail before training) and bounded memory (peak RSS, from
 * wait4); and what it must leave alone (a FIFO, a device, an old output) is as it was.
 * Plain builds also run the child under RLIMIT_DATA (768 MiB), so a regression that asks for
 * a gigabyte fails here even when it would never touch the pages (RSS alone would not see it),
 * and instead of exhausting the machine. Under the sanitizers the bounds are wider and the
 * limit is off (their shadow memory needs the address space).
 *
 * The tool is build/nabla beside this test's directory (NABLA_BIN overrides); gen_inputs is
 * build/tests/hostile/gen_inputs. */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static char bin[4200], gen[4200];
static char dir[64];
static bool generated;

static void setup(void) {
    if (bin[0]) return;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) abort();
    self[n] = 0;
    *strrchr(self, '/') = 0; /* .../build/tests */
    snprintf(gen, sizeof gen, "%s/hostile/gen_inputs", self);
    *strrchr(self, '/') = 0; /* .../build */
    const char *env = getenv("NABLA_BIN");
    snprintf(bin, sizeof bin, "%s", env ? env : self);
    if (!env) strncat(bin, "/nabla", sizeof bin - strlen(bin) - 1);
    snprintf(dir, sizeof dir, "/tmp/nabla-hostile-XXXXXX");
    if (!mkdtemp(dir)) abort();
}

static const char *at(const char *name) {
    static char buf[16][4200];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* ---- running a child with limits ------------------------------------------------------------- */

typedef struct outcome {
    bool exited;
    int code, sig;
    double seconds;
    long rss_kb;
    long inherited_kb; /* this process's peak RSS at the fork (see spawn) */
    bool timed_out;
} outcome;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static outcome spawn(const char *const *argv, double limit_s) {
    outcome o = {0};
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/.stdout", dir);
    snprintf(err, sizeof err, "%s/.stderr", dir);
    double t0 = now();
    /* Linux keeps the peak RSS of the memory a process had before exec in its ru_maxrss, so
     * a child reports at least what this process held at the fork: a few MB here, but tens
     * of MB under valgrind (make memcheck). */
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    o.inherited_kb = self.ru_maxrss;
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || fo < 0 || fe < 0) _exit(126);
        dup2(in, 0), dup2(fo, 1), dup2(fe, 2);
        /* Heap beyond 768 MiB fails: a regression that asks for a gigabyte shows as a
         * failed case even where the pages would never be touched (and never raise the RSS).
         * Two threads keep the thread stacks well inside it on any machine. */
        if (!SANITIZED) {
            struct rlimit data = {(rlim_t)768 << 20, (rlim_t)768 << 20};
            setrlimit(RLIMIT_DATA, &data);
        }
        setenv("NB_THREADS", "2", 1);
        struct rlimit cpu = {120, 120};
        setrlimit(RLIMIT_CPU, &cpu);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    for (;;) {
        pid_t r = wait4(pid, &st, WNOHANG, &ru);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) abort();
        if (now() - t0 > limit_s && !o.timed_out) {
            o.timed_out = true;
            kill(pid, SIGKILL);
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    o.seconds = now() - t0;
    o.exited = WIFEXITED(st);
    o.code = o.exited ? WEXITSTATUS(st) : -1;
    o.sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    o.rss_kb = ru.ru_maxrss;
    return o;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f) return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

/* A byte a terminal would act on: C0 controls but newline and tab, DEL, and the C1 controls
 * as UTF-8 (C2 80..9F). */
static long control_at(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return (long)i;
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return (long)i;
    }
    return -1;
}

/* ---- the cases ------------------------------------------------------------------------------ */

typedef struct hcase {
    const char *args[14]; /* "@name" is the temporary directory's file `name` */
    int code;             /* expected exit code */
    const char *msg;      /* in stderr (failures) or stdout (successes) */
    const char *not_in;   /* must appear in neither */
    int max_mb;           /* peak RSS bound (0: 96 MB) */
    bool (*pre)(void);    /* set-up before the run (false: the case fails) */
    bool (*post)(void);   /* what must hold after it */
} hcase;

static bool is_kind(const char *name, mode_t kind) {
    struct stat st;
    return lstat(at(name), &st) == 0 && (st.st_mode & S_IFMT) == kind;
}
static bool dev_intact(void) {
    return is_kind("dev", geteuid() == 0 ? S_IFCHR : S_IFIFO) || is_kind("dev", S_IFIFO);
}
static bool fifos_intact(void) {
    return is_kind("out.fifo", S_IFIFO) && is_kind("in.fifo", S_IFIFO) && dev_intact() &&
           is_kind("adir", S_IFDIR);
}
static bool nothing_written(void) {
    return fifos_intact() && access(at("m1.safetensors"), F_OK) != 0 &&
           access(at("nodir"), F_OK) != 0;
}

static bool write_old(void) {
    FILE *f = fopen(at("pred.txt"), "w");
    if (!f) return false;
    fputs("OLD\n", f);
    return fclose(f) == 0;
}
static bool old_kept(void) {
    size_t n;
    char *t = slurp(at("pred.txt"), &n);
    bool ok = n == 4 && !strcmp(t, "OLD\n");
    free(t);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) ok = ok && !strstr(e->d_name, "pred.txt.tmp-");
    if (d) closedir(d);
    return ok;
}

static char stale[4200];
static bool make_stale(void) {
    pid_t child = fork();
    if (child == 0) _exit(0);
    if (child < 0) return false;
    waitpid(child, NULL, 0); /* a pid that no longer runs */
    snprintf(stale, sizeof stale, "%s.tmp-%ld-5eed1", at("m2.safetensors"), (long)child);
    FILE *f = fopen(stale, "w");
    if (!f) return false;
    fputs("half a model", f);
    return fclose(f) == 0;
}
static bool stale_gone(void) {
    return access(stale, F_OK) != 0 && access(at("m2.safetensors"), F_OK) == 0;
}

static bool exported(void) {
    char longname[300];
    memset(longname, 'w', 200);
    longname[200] = 0;
    int files = 0, hashed = 0;
    DIR *d = opendir(at("exp"));
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, ".."))) continue;
        files++;
        hashed += !strncmp(e->d_name, longname, 200) && strchr(e->d_name, '~') &&
                  strlen(e->d_name) <= 255;
    }
    if (d) closedir(d);
    return files == 4 && hashed == 1 && access(at("exp/a%2Fb.npy"), F_OK) == 0 &&
           access(at("exp/a_b.npy"), F_OK) == 0 && access(at("exp/%2E.%2Fup.npy"), F_OK) == 0 &&
           access(at("up.npy"), F_OK) != 0;
}

#define M "@model.safetensors"
static const hcase cases[] = {
    /* FIFOs where a file is read: refused at once, for every command */
    {{"info", "@in.fifo"}, 1, "FIFO", NULL, 0, NULL, fifos_intact},
    {{"eval", "@in.fifo", "--data", "@small.csv"}, 1, "FIFO", NULL, 0, NULL, fifos_intact},
    {{"eval", M, "--data", "@in.fifo", "--format", "csv"}, 1, "FIFO", NULL, 0, NULL, NULL},
    {{"predict", M, "@in.fifo"}, 1, "FIFO", NULL, 0, NULL, NULL},
    {{"predict", "@in.fifo", "@small.csv"}, 1, "FIFO", NULL, 0, NULL, NULL},
    /* "-" is standard input (here empty), the one non-regular input read on purpose */
    {{"predict", M, "-"}, 1, "(standard input): the file is empty", NULL, 0, NULL, NULL},
    {{"train", "@in.fifo"}, 1, "FIFO", NULL, 0, NULL, NULL},
    {{"train", "@fast.spec", "--data", "@in.fifo", "--format", "csv", "--out", "@m1.safetensors"},
     1,
     "FIFO",
     NULL,
     0,
     NULL,
     NULL},
    {{"export", "@in.fifo", "--out", "@exp0"}, 1, "FIFO", NULL, 0, NULL, NULL},
    {{"info", "@adir"}, 1, "a directory", NULL, 0, NULL, NULL},
    /* outputs that are not regular files, or cannot be written: refused before training
     * (slow.spec would otherwise train for hours) and left as they were */
    {{"train", "@slow.spec", "--out", "@out.fifo"}, 1, "FIFO", NULL, 0, NULL, fifos_intact},
    {{"train", "@slow.spec", "--out", "@dev"},
     1,
     "not a regular file",
     NULL,
     0,
     NULL,
     fifos_intact},
    {{"train", "@slow.spec", "--out", "@m1.safetensors", "--checkpoint", "@dev"},
     1,
     "--checkpoint",
     NULL,
     0,
     NULL,
     nothing_written},
    {{"train", "@slow.spec", "--out", "@m1.safetensors", "--best", "@out.fifo"},
     1,
     "--best",
     NULL,
     0,
     NULL,
     nothing_written},
    {{"train", "@slow.spec", "--out", "@m1.safetensors", "--log", "@adir"},
     1,
     "a directory",
     NULL,
     0,
     NULL,
     nothing_written},
    {{"train", "@slow.spec", "--out", "@m1.safetensors", "--plot", "@nodir/p.svg"},
     1,
     "does not exist",
     NULL,
     0,
     NULL,
     nothing_written},
    {{"train", "@slow.spec", "--out", "@nodir/m.safetensors"},
     1,
     "does not exist",
     NULL,
     0,
     NULL,
     nothing_written},
    {{"train", "@slow.spec", "--out", "@m1.safetensors", "--log", "@m1.safetensors"},
     2,
     "name the same file",
     NULL,
     0,
     NULL,
     nothing_written},
    {{"predict", M, "@small.csv", "--label", "label", "--out", "@dev"},
     1,
     "not a regular file",
     NULL,
     0,
     NULL,
     fifos_intact},
    {{"predict", M, "@small.csv", "--label", "label", "--out", "@nodir/p.txt"},
     1,
     "does not exist",
     NULL,
     0,
     NULL,
     nothing_written},
    {{"export", M, "--out", "@out.fifo"}, 1, "not a directory", NULL, 0, NULL, fifos_intact},
    /* predict --out is atomic: a failure leaves the old file */
    {{"predict", M, "@small.csv", "@nan.npy", "--label", "label", "--out", "@pred.txt"},
     1,
     "NaN",
     NULL,
     0,
     write_old,
     old_kept},
    /* a killed writer's temporary file is removed by the next save */
    {{"train", "@fast.spec", "--out", "@m2.safetensors", "--quiet"},
     0,
     NULL,
     NULL,
     0,
     make_stale,
     stale_gone},
    /* sizes: memory follows the data, not what a header or an option claims */
    {{"predict", M, "@lying.idx.gz"}, 1, "truncated", NULL, 48, NULL, NULL},
    {{"eval", M, "--data", "@lying.idx.gz", "--labels", "@neg_y.npy"},
     1,
     "truncated",
     NULL,
     48,
     NULL,
     NULL},
    {{"train", "@slow.spec", "--data", "@lying.idx.gz", "--labels", "@neg_y.npy", "--out",
      "@m1.safetensors"},
     1,
     "truncated",
     NULL,
     48,
     NULL,
     NULL},
    {{"eval", M, "--data", "@wide.csv"}, 1, "(999999 values)", NULL, 100, NULL, NULL},
    {{"predict", M, "@wide.csv"}, 1, "1000000 values each", NULL, 100, NULL, NULL},
    {{"eval", "@conf40000.safetensors", "--data", "@small.csv", "--confusion"},
     1,
     "kept for 1 to 1024 classes, not 40000",
     NULL,
     0,
     NULL,
     NULL},
    {{"eval", M, "--data", "@small.csv", "--batch", "16777216"},
     0,
     "samples   6",
     NULL,
     0,
     NULL,
     NULL},
    {{"predict", M, "@small.csv", "--label", "label", "--batch", "16777216"},
     0,
     "\n",
     NULL,
     0,
     NULL,
     NULL},
    {{"eval", M, "--data", "@small.csv", "--max-memory", "16K"},
     1,
     "memory limit",
     NULL,
     0,
     NULL,
     NULL},
    /* values: NaN and infinity refused like CSV refuses them; the labels file is blamed */
    {{"predict", M, "@nan.npy"}, 1, "nan.npy: sample 2, value 1 is NaN", NULL, 0, NULL, NULL},
    {{"eval", M, "--data", "@nan.npy", "--labels", "@neg_y.npy"},
     1,
     "nan.npy: sample 2, value 1 is NaN",
     NULL,
     0,
     NULL,
     NULL},
    {{"train", "@slow.spec", "--data", "@x.npy", "--labels", "@inf_y.npy", "--out",
      "@m1.safetensors"},
     1,
     "inf_y.npy: the target of sample 2, value 0 is inf",
     NULL,
     0,
     NULL,
     NULL},
    {{"eval", M, "--data", "@x.npy", "--labels", "@neg_y.npy"},
     1,
     "neg_y.npy: label 2 is -3",
     NULL,
     0,
     NULL,
     NULL},
    {{"eval", M, "--data", "@header_only.csv"}, 1, "holds no samples", NULL, 0, NULL, NULL},
    {{"predict", M, "@header_only.csv", "--label", "label"},
     1,
     "holds no samples",
     NULL,
     0,
     NULL,
     NULL},
    {{"train", "@slow.spec", "--data", "@header_only.csv", "--out", "@m1.safetensors"},
     1,
     "holds no samples",
     NULL,
     0,
     NULL,
     NULL},
    /* a model file decides nothing about which files are opened, and leaks none */
    {{"eval", "@stored.safetensors"}, 2, "--use-stored-data", "TOPSECRET", 0, NULL, NULL},
    {{"eval", "@stored.safetensors", "--use-stored-data"},
     1,
     "no feature columns",
     "abcdefghijklmnopqrstuvwxyz",
     0,
     NULL,
     NULL},
    /* terminal escapes in model files: shown, not obeyed */
    {{"info", "@evil.safetensors"}, 0, "clipboard", NULL, 0, NULL, NULL},
    {{"info", "@evil.safetensors", "--tensors"}, 0, "\\x1b]0;owned", NULL, 0, NULL, NULL},
    {{"predict", "@evil.safetensors", "@small.csv", "--label", "label"},
     0,
     "\\x1b",
     NULL,
     0,
     NULL,
     NULL},
    {{"eval", "@evil.safetensors", "--data", "@evil.csv", "--confusion"},
     0,
     "confusion matrix",
     NULL,
     0,
     NULL,
     NULL},
    /* broken model files, through every command that reads one */
    {{"info", "@classes5.safetensors"},
     1,
     "names 5 classes but the model has 3 outputs",
     NULL,
     0,
     NULL,
     NULL},
    {{"predict", "@classes5.safetensors", "@small.csv", "--label", "label"},
     1,
     "names 5 classes",
     NULL,
     0,
     NULL,
     NULL},
    {{"info", "@rank9.st"}, 1, "more than 8 dimensions", "got '", 0, NULL, NULL},
    {{"info", "@bytes.st"}, 1, "its shape takes 12 bytes (3 elements of 4)", NULL, 0, NULL, NULL},
    {{"export", "@rank9.st", "--out", "@exp0"}, 1, "more than 8 dimensions", NULL, 0, NULL, NULL},
    {{"info", "@garbage.st"}, 1, "garbage.st", NULL, 0, NULL, NULL},
    {{"eval", "@garbage.st", "--data", "@small.csv"}, 1, "garbage.st", NULL, 0, NULL, NULL},
    {{"predict", "@garbage.st", "@small.csv"}, 1, "garbage.st", NULL, 0, NULL, NULL},
    {{"export", "@garbage.st", "--out", "@exp0"}, 1, "garbage.st", NULL, 0, NULL, NULL},
    {{"train", "@fast.spec", "--resume", "@garbage.st", "--out", "@m1.safetensors"},
     1,
     "garbage.st",
     NULL,
     0,
     NULL,
     NULL},
    {{"info", "@empty.st"}, 1, "too short", NULL, 0, NULL, NULL},
    {{"info", "@hlen.st"}, 1, "header length", NULL, 0, NULL, NULL},
    {{"train", "@slow.spec", "--out", "@m1.safetensors", "--resume", "@hlen.st"},
     1,
     "header length",
     NULL,
     0,
     NULL,
     NULL},
    /* export: names map one-to-one onto files inside DIR */
    {{"export", "@names.safetensors", "--out", "@exp"}, 0, "a%2Fb.npy", NULL, 0, NULL, exported},
};

/* ---- the runner ----------------------------------------------------------------------------- */

static void generate(void) {
    setup();
    const char *argv[] = {gen, dir, NULL};
    outcome o = spawn(argv, 120);
    generated = o.exited && o.code == 0;
    size_t n;
    char *err = slurp(at(".stderr"), &n);
    CHECK_MSG(generated, "gen_inputs failed (exit %d, signal %d): %s", o.code, o.sig, err);
    free(err);
}

static void run_case(int k) {
    const hcase *c = &cases[k];
    const char *argv[20];
    char label[512] = "";
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; c->args[i]; i++) {
        argv[n++] = c->args[i][0] == '@' ? at(c->args[i] + 1) : c->args[i];
        size_t w = strlen(label);
        snprintf(label + w, sizeof label - w, "%s%s", i ? " " : "", c->args[i]);
    }
    argv[n] = NULL;
    if (c->pre && !c->pre()) {
        nbt_report(__FILE__, __LINE__, "[%s]: set-up failed", label);
        return;
    }
    double limit = SANITIZED ? 60 : 15;
    outcome o = spawn(argv, limit);
    size_t on, en;
    char *out = slurp(at(".stdout"), &on), *err = slurp(at(".stderr"), &en);
    CHECK_MSG(!o.timed_out, "[%s]: still running after %.0f s (killed)", label, limit);
    CHECK_MSG(o.exited, "[%s]: ended by signal %d; stderr: %s", label, o.sig, err);
    CHECK_MSG(o.code == c->code, "[%s]: exit %d, expected %d; stderr: %s", label, o.code, c->code,
              err);
    if (c->code != 0) {
        int lines = 0;
        for (const char *p = err; *p; p++) lines += *p == '\n';
        CHECK_MSG(lines == 1 && !strncmp(err, "nabla ", 6),
                  "[%s]: stderr is not one line 'nabla <cmd>: ...': [%s]", label, err);
    }
    if (c->msg)
        CHECK_MSG(strstr(c->code ? err : out, c->msg), "[%s]: %s lacks [%s]: %s", label,
                  c->code ? "stderr" : "stdout", c->msg, c->code ? err : out);
    if (c->not_in)
        CHECK_MSG(!strstr(out, c->not_in) && !strstr(err, c->not_in),
                  "[%s]: the output leaks [%s]: %s%s", label, c->not_in, out, err);
    long co = control_at(out, on), ce = control_at(err, en);
    CHECK_MSG(co < 0 && ce < 0, "[%s]: a control character in %s at byte %ld", label,
              co >= 0 ? "stdout" : "stderr", co >= 0 ? co : ce);
    long max_kb = (long)(c->max_mb ? c->max_mb : 96) * 1024 * (SANITIZED ? 6 : 1);
    /* a child's figure at the inherited peak says nothing of its own (under valgrind the test
     * itself holds more than some bounds): only a figure above it is the command's */
    CHECK_MSG(o.rss_kb <= max_kb || o.rss_kb <= o.inherited_kb,
              "[%s]: peak RSS %ld KiB, over the %ld KiB bound", label, o.rss_kb, max_kb);
    if (c->post) CHECK_MSG(c->post(), "[%s]: what it must leave alone changed", label);
    if (getenv("NABLA_HOSTILE_VERBOSE"))
        fprintf(stderr, "  %-90.90s rc %d  %6.2f s  %6ld KiB\n", label, o.code, o.seconds,
                o.rss_kb);
    free(out);
    free(err);
}

static void test_cases(void) {
    if (!generated) return;
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) run_case(k);
}

/* Each command at least once, so that a command added without a case is noticed. */
static void test_every_command_covered(void) {
    static const char *const cmds[] = {"train", "eval", "predict", "info", "export"};
    for (int i = 0; i < 5; i++) {
        int hits = 0;
        for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
            hits += !strcmp(cases[k].args[0], cmds[i]);
        CHECK_MSG(hits >= 5, "only %d hostile cases for '%s'", hits, cmds[i]);
    }
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    char p[4400];
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
    CHECK(!dir[0] || access(dir, F_OK) != 0);
}

static const nbt_case tests[] = {
    {"generate", generate},
    {"cases", test_cases},
    {"every_command_covered", test_every_command_covered},
    {"cleanup", test_cleanup},
};

NBT_MAIN(tests)
