/* test_threads — the thread pool: every task runs exactly once at any pool size (more threads
 * than cores included), parallel_run shares claimed work and leaves no member behind,
 * progress waits hold, nested and concurrent parallel calls
 * run inline rather than deadlock or oversubscribe, resizing works, bad sizes are refused,
 * an implicit pool starts its workers only when a job wants them, and workers run under
 * SCHED_BATCH.
 * `make tsan` runs this file under ThreadSanitizer. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/pool.h"

typedef struct count_job {
    atomic_int *hits;
    atomic_int calls;
} count_job;

static void count_task(void *arg, int64_t t) {
    count_job *j = arg;
    atomic_fetch_add(&j->hits[t], 1);
    atomic_fetch_add(&j->calls, 1);
}

/* The threads of this process (Linux: the entries of /proc/self/task), or -1. */
static int task_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* A pool made implicitly (no nb_set_threads) starts its workers with the first job that wants
 * more than one thread, not before: asking its size starts none, and the first parallel job
 * starts size - 1 and runs every task once. The first case of this file, so that nothing
 * before it has made the pool. */
static void test_lazy_start(void) {
    int before = task_count();
    if (before < 0) {
        printf("  note: no /proc/self/task here; lazy_start checks only that the tasks run\n");
    }
    int n = nb_get_threads();
    CHECK(n >= 1);
    if (before >= 0) CHECK(task_count() == before); /* sized, no worker started */
    atomic_int hits[64];
    for (int i = 0; i < 64; i++) atomic_init(&hits[i], 0);
    count_job j = {hits, 0};
    nbi_parallel_for(1, 64, count_task, &j); /* one thread wanted: still none started */
    if (before >= 0) CHECK(task_count() == before);
    nbi_parallel_for(n, 64, count_task, &j);
    CHECK(atomic_load(&j.calls) == 128);
    for (int i = 0; i < 64; i++) CHECK(atomic_load(&hits[i]) == 2);
    if (before >= 0) CHECK(task_count() == before + n - 1);
    if (n == 1) printf("  note: a pool of one thread here; lazy_start had no worker to start\n");
}

static void test_parallel_for_covers_each_task_once(void) {
    static const int64_t ns[] = {0, 1, 2, 3, 7, 64, 1000};
    int saved = nb_get_threads();
    for (int nt = 1; nt <= 4; nt++) {
        CHECK_OK(nb_set_threads(nt));
        CHECK(nb_get_threads() == nt);
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
            int64_t n = ns[k];
            atomic_int *hits = calloc((size_t)(n ? n : 1), sizeof *hits);
            count_job j = {hits, 0};
            for (int rep = 0; rep < 20; rep++) nbi_parallel_for(NBI_MAX_THREADS, n, count_task, &j);
            int ok = atomic_load(&j.calls) == 20 * n;
            for (int64_t t = 0; t < n; t++) ok &= atomic_load(&hits[t]) == 20;
            CHECK_MSG(ok, "%d threads, %lld tasks: wrong coverage", nt, (long long)n);
            free(hits);
        }
    }
    CHECK_OK(nb_set_threads(saved));
}

/* parallel_run: the caller always runs fn; workers may join; work claimed from a counter is
 * done exactly once whoever joins; and the call returns only when no member is inside. */
typedef struct run_job {
    _Atomic int64_t next;
    atomic_int members, inside, max_inside;
    int64_t n;
    atomic_int *hits;
} run_job;

static void run_member(void *arg) {
    run_job *j = arg;
    atomic_fetch_add(&j->members, 1);
    int in = atomic_fetch_add(&j->inside, 1) + 1;
    int m = atomic_load(&j->max_inside);
    while (in > m && !atomic_compare_exchange_weak(&j->max_inside, &m, in)) {
    }
    for (int64_t t; (t = atomic_fetch_add(&j->next, 1)) < j->n;) {
        atomic_fetch_add(&j->hits[t], 1);
        for (volatile int spin = 0; spin < 200; spin++) {
        }
    }
    atomic_fetch_sub(&j->inside, 1);
}

static void test_parallel_run(void) {
    int saved = nb_get_threads();
    for (int nt = 1; nt <= 3; nt++) {
        CHECK_OK(nb_set_threads(nt));
        for (int rep = 0; rep < 50; rep++) {
            run_job j;
            memset(&j, 0, sizeof j);
            j.n = 500;
            j.hits = calloc((size_t)j.n, sizeof *j.hits);
            nbi_parallel_run(nt, run_member, &j);
            /* returned: nobody inside, and nobody enters later */
            CHECK(atomic_load(&j.inside) == 0);
            int members = atomic_load(&j.members);
            CHECK(members >= 1 && members <= nt && atomic_load(&j.max_inside) <= nt);
            int ok = 1;
            for (int64_t t = 0; t < j.n; t++) ok &= atomic_load(&j.hits[t]) == 1;
            CHECK_MSG(ok, "%d threads: a piece ran twice or never", nt);
            for (volatile int spin = 0; spin < 1000; spin++) {
            }
            CHECK(atomic_load(&j.members) == members);
            free(j.hits);
        }
        /* want = 1 keeps the work on the caller */
        run_job j;
        memset(&j, 0, sizeof j);
        j.n = 10;
        j.hits = calloc((size_t)j.n, sizeof *j.hits);
        nbi_parallel_run(1, run_member, &j);
        CHECK(atomic_load(&j.members) == 1);
        free(j.hits);
    }
    CHECK_OK(nb_set_threads(saved));
}

/* nbi_wait_count waits for another member's progress. */
typedef struct relay_job {
    _Atomic int64_t stage;
    atomic_int claimed;
    atomic_int order_ok;
} relay_job;

static void relay_member(void *arg) {
    relay_job *j = arg;
    /* whoever claims piece k waits until pieces 0..k-1 have finished, then finishes k */
    for (int k; (k = atomic_fetch_add(&j->claimed, 1)) < 100;) {
        nbi_wait_count(&j->stage, k);
        if (atomic_load(&j->stage) != k) atomic_store(&j->order_ok, 0);
        atomic_store(&j->stage, k + 1);
    }
}

static void test_wait_count(void) {
    relay_job j;
    memset(&j, 0, sizeof j);
    atomic_store(&j.order_ok, 1);
    nbi_parallel_run(nb_get_threads(), relay_member, &j);
    CHECK(atomic_load(&j.stage) == 100 && atomic_load(&j.order_ok) == 1);
}

/* A task that itself calls parallel_for: the inner call must run inline (the pool is busy). */
typedef struct nest_job {
    atomic_int inner_calls;
} nest_job;

static void inner_task(void *arg, int64_t t) {
    (void)t;
    nest_job *j = arg;
    atomic_fetch_add(&j->inner_calls, 1);
}

static void outer_task(void *arg, int64_t t) {
    (void)t;
    nbi_parallel_for(NBI_MAX_THREADS, 10, inner_task, arg);
}

static void test_nested_runs_inline(void) {
    int saved = nb_get_threads();
    CHECK_OK(nb_set_threads(2));
    nest_job j = {0};
    nbi_parallel_for(NBI_MAX_THREADS, 8, outer_task, &j);
    CHECK(atomic_load(&j.inner_calls) == 80);
    CHECK_OK(nb_set_threads(saved));
}

/* Two user threads using the pool (and GEMM) at once: both finish with correct results. */
typedef struct user_arg {
    int ok;
} user_arg;

static void *user_thread(void *p) {
    user_arg *u = p;
    u->ok = 1;
    enum { n = 96 };
    static _Thread_local float A[n * n], B[n * n], C[n * n];
    for (int i = 0; i < n * n; i++) {
        A[i] = (float)(i % 7) - 3.0f;
        B[i] = (float)(i % 5) - 2.0f;
    }
    for (int rep = 0; rep < 30; rep++) {
        count_job j = {calloc(100, sizeof(atomic_int)), 0};
        nbi_parallel_for(NBI_MAX_THREADS, 100, count_task, &j);
        if (atomic_load(&j.calls) != 100) u->ok = 0;
        free(j.hits);
        if (nb_sgemm(0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n) != NB_OK) u->ok = 0;
        /* small integers: the sum is exact in any order */
        for (int i = 0; i < n; i += 17)
            for (int jj = 0; jj < n; jj += 13) {
                float e = 0.0f;
                for (int k = 0; k < n; k++) e += A[i * n + k] * B[k * n + jj];
                if (C[i * n + jj] != e) u->ok = 0;
            }
    }
    return NULL;
}

static void test_concurrent_callers(void) {
    int saved = nb_get_threads();
    CHECK_OK(nb_set_threads(2));
    pthread_t th[3];
    user_arg ua[3];
    for (int i = 0; i < 3; i++) CHECK(pthread_create(&th[i], NULL, user_thread, &ua[i]) == 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK(ua[i].ok);
    }
    CHECK_OK(nb_set_threads(saved));
}

#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#ifndef TSAN_BUILD
#define TSAN_BUILD 0
#endif

/* A forked child has none of the parent's workers: parallel calls still complete (on the
 * caller), and nb_set_threads starts fresh workers there. */
static void test_fork_child(void) {
    CHECK_OK(nb_set_threads(2));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        atomic_int hits[64];
        for (int i = 0; i < 64; i++) atomic_init(&hits[i], 0);
        count_job j = {hits, 0};
        nbi_parallel_for(NBI_MAX_THREADS, 64, count_task, &j);
        int ok = atomic_load(&j.calls) == 64;
#if !TSAN_BUILD /* ThreadSanitizer refuses to start threads after a multi-threaded fork */
        ok &= nb_set_threads(3) == NB_OK && nb_get_threads() == 3;
#endif
        atomic_store(&j.calls, 0);
        nbi_parallel_for(NBI_MAX_THREADS, 64, count_task, &j);
        ok &= atomic_load(&j.calls) == 64;
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_set_threads_errors(void) {
    int n = nb_get_threads();
    CHECK(n >= 1 && n <= NBI_MAX_THREADS);
    CHECK(nb_set_threads(0) == NB_ERR_ARG);
    CHECK(strstr(nb_last_error(), "nb_set_threads") != NULL);
    CHECK(nb_set_threads(NBI_MAX_THREADS + 1) == NB_ERR_ARG);
    CHECK(nb_get_threads() == n);
}

/* nbi_claim: the caller takes tasks from the front, workers from the back, so on two threads
 * the caller's tasks are a prefix and the worker's the rest; alone the caller takes 0..n-1. */
typedef struct ends_job {
    pthread_t caller;
    atomic_int by_caller[256], hits[256];
} ends_job;

static void ends_task(void *arg, int64_t t) {
    ends_job *j = arg;
    atomic_store(&j->by_caller[t], pthread_equal(pthread_self(), j->caller) ? 1 : 0);
    atomic_fetch_add(&j->hits[t], 1);
    for (volatile int spin = 0; spin < 2000; spin++) {
    }
}

static void test_claims_from_both_ends(void) {
    _Atomic uint64_t w = 0;
    for (int64_t t = 0; t < 5; t++) CHECK(nbi_claim(&w, 5) == t);
    CHECK(nbi_claim(&w, 5) == -1 && nbi_claim(&w, 5) == -1);
    int saved = nb_get_threads();
    CHECK_OK(nb_set_threads(2));
    for (int rep = 0; rep < 20; rep++) {
        ends_job *j = calloc(1, sizeof *j);
        j->caller = pthread_self();
        nbi_parallel_for(2, 256, ends_task, j);
        int64_t k = 0; /* the caller's prefix */
        while (k < 256 && atomic_load(&j->by_caller[k])) k++;
        int ok = 1;
        for (int64_t t = 0; t < 256; t++)
            ok &= atomic_load(&j->hits[t]) == 1 && atomic_load(&j->by_caller[t]) == (t < k);
        CHECK_MSG(ok, "rep %d: the caller's tasks are not a prefix (first %lld)", rep,
                  (long long)k);
        free(j);
    }
    CHECK_OK(nb_set_threads(saved));
}

#if defined(__linux__)
#ifndef SCHED_BATCH
#define SCHED_BATCH 3 /* <sched.h> declares it only under _GNU_SOURCE */
#endif
/* Workers run under SCHED_BATCH when the caller is SCHED_OTHER (pool.c: a woken worker then
 * never preempts the caller); a task that runs on a worker records its policy. */
typedef struct policy_job {
    pthread_t caller;
    atomic_int worker_policy; /* -1: no worker has run a task yet */
} policy_job;

static void policy_task(void *arg, int64_t t) {
    (void)t;
    policy_job *j = arg;
    struct sched_param sp;
    int policy;
    if (!pthread_equal(pthread_self(), j->caller) &&
        pthread_getschedparam(pthread_self(), &policy, &sp) == 0)
        atomic_store(&j->worker_policy, policy);
    for (volatile int spin = 0; spin < 2000; spin++) {
    }
}

static void test_workers_batch_policy(void) {
    struct sched_param sp;
    int policy;
    CHECK(pthread_getschedparam(pthread_self(), &policy, &sp) == 0);
    if (policy != SCHED_OTHER) {
        printf("  note: the caller is not SCHED_OTHER; its workers keep its policy\n");
        return;
    }
    int saved = nb_get_threads();
    CHECK_OK(nb_set_threads(2));
    policy_job j = {pthread_self(), -1};
    for (int rep = 0; rep < 200 && atomic_load(&j.worker_policy) < 0; rep++)
        nbi_parallel_for(2, 256, policy_task, &j);
    if (atomic_load(&j.worker_policy) < 0)
        printf("  note: no worker ran a task in 200 jobs (machine busy); policy not checked\n");
    else
        CHECK(atomic_load(&j.worker_policy) == SCHED_BATCH);
    CHECK_OK(nb_set_threads(saved));
}
#endif

static void test_split_range(void) {
    /* the shares tile [0, n) in order, cut at multiples of the grain */
    for (int64_t n = 0; n < 70; n += 3)
        for (int nt = 1; nt <= 5; nt++) {
            int64_t prev = 0;
            for (int t = 0; t < nt; t++) {
                int64_t lo, hi;
                nbi_split_range(n, 16, t, nt, &lo, &hi);
                CHECK(lo == prev && hi >= lo && (hi == n || hi % 16 == 0));
                prev = hi;
            }
            CHECK(prev == n);
        }
}

static const nbt_case cases[] = {
    {"lazy_start", test_lazy_start}, /* first: it needs a pool nothing has started */
    {"parallel_for_covers_each_task_once", test_parallel_for_covers_each_task_once},
    {"parallel_run", test_parallel_run},
    {"wait_count", test_wait_count},
    {"nested_runs_inline", test_nested_runs_inline},
    {"concurrent_callers", test_concurrent_callers},
    {"fork_child", test_fork_child},
    {"set_threads_errors", test_set_threads_errors},
    {"claims_from_both_ends", test_claims_from_both_ends},
    {"split_range", test_split_range},
#if defined(__linux__)
    {"workers_batch_policy", test_workers_batch_policy},
#endif
};
NBT_MAIN(cases)
