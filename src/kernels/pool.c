/* kernels/pool.c — the persistent thread pool (see pool.h for the contract).
 *
 * A job is published by writing its fields and then bumping the generation counter `gen`.
 * Workers watch `gen`: they spin on it for a short while (a wake costs nothing while they
 * spin) and then sleep on it with a futex; the publisher wakes sleepers only when there are
 * any. A worker that sees a new generation enters (inside++) and then checks that the job is
 * still open (the last closed generation is the one before); the caller, when its own share is
 * done, closes the job and waits only for the workers inside it. So a worker that wakes late never
 * holds the caller up, and never touches a job that has ended.
 *
 * The pairs "announce, then re-check" (inside++ / read closed against closed = g / read
 * inside; sleepers++ / re-read gen against gen++ / read sleepers) are Dekker-style, with
 * sequentially consistent atomics: one side of each pair always sees the other. */
#define _GNU_SOURCE
#include "kernels/pool.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "nabla/kernels.h"

/* ---- waiting ---------------------------------------------------------------------------- */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Sleep while *addr == val (returns at once if it differs; may return spuriously). */
static void word_wait(atomic_uint *addr, unsigned val) {
#ifdef __linux__
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
    (void)addr;
    (void)val;
    sched_yield();
#endif
}

static void word_wake_all(atomic_uint *addr) {
#ifdef __linux__
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)addr;
#endif
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
}

/* How long a waiter spins before it sleeps. Long enough to cover the serial gaps between
 * the kernels of one training step, short enough not to steal a shared machine's cores. */
static double spin_us = 50.0;

/* Waits until *addr != val: spin for spin_us, then sleep on the futex, announcing the sleep
 * in *sleepers so that the waker knows to call the kernel. */
static unsigned wait_change(atomic_uint *addr, unsigned val, atomic_int *sleepers) {
    unsigned v;
    double t0 = 0.0;
    for (int i = 0;; i++) {
        v = atomic_load_explicit(addr, memory_order_acquire);
        if (v != val) return v;
        cpu_relax();
        if ((i & 63) == 63) {
            if (t0 == 0.0)
                t0 = now_us();
            else if (now_us() - t0 > spin_us)
                break;
        }
    }
    atomic_fetch_add(sleepers, 1);
    while ((v = atomic_load(addr)) == val) word_wait(addr, val);
    atomic_fetch_sub(sleepers, 1);
    return v;
}

/* ---- the pool ----------------------------------------------------------------------------- */

typedef struct pool {
    int n;    /* threads, the caller included */
    int lazy; /* workers 1..n-1 not started yet: the pool made itself on first use and no
               * job has asked for more than one thread (a small single-threaded program,
               * XOR say, never pays for thread creation or a worker's spin) */
    pthread_t workers[NBI_MAX_THREADS];
    atomic_int busy; /* a job (or a resize) owns the pool */

    /* the current job, written before gen is bumped */
    atomic_uint gen;
    atomic_int gen_sleepers;
    atomic_int stop;
    int want; /* workers 1 .. want-1 may join */
    nbi_job_fn fn;
    void *arg;

    atomic_uint closed; /* the generation of the last job that ended */
    atomic_int inside;  /* workers inside the current job's fn */
} pool;

static pool P;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

typedef struct worker_start {
    int tid;
    unsigned gen;
} worker_start;
static worker_start starts[NBI_MAX_THREADS];

/* Set in the pool's workers: they claim tasks from the back (nbi_claim). */
static _Thread_local int in_worker;

/* Workers run under SCHED_BATCH (when they would otherwise be SCHED_OTHER, the default):
 * the same share of the CPU, but a woken batch thread never preempts the running one. On a
 * loaded machine the scheduler may put a woken worker on the caller's core; as a normal
 * thread it then (most likely) preempted the caller inside the futex wake (publish), and the
 * caller, who holds the step's serial path, lost its core for the worker's slice: the wake took
 * 10-78 us on average (54-78 in 6 runs of 7) at load 4 on two cores (per-step harness, MLP
 * step at two threads), against 1-12 us under SCHED_BATCH (docs/KERNELS.md, thread pool).
 * A quiet machine wakes the worker on the idle core, where nothing changes. A real-time
 * caller's workers keep the policy they inherited. */
static void worker_policy(void) {
#if defined(__linux__) && defined(SCHED_BATCH)
    struct sched_param sp;
    int policy;
    if (pthread_getschedparam(pthread_self(), &policy, &sp) == 0 && policy == SCHED_OTHER) {
        sp.sched_priority = 0;
        pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp); /* a refusal changes nothing */
    }
#endif
}

static void *worker_main(void *p) {
    const worker_start *ws = p;
    int tid = ws->tid;
    in_worker = 1;
    worker_policy();
    unsigned seen = ws->gen;
    for (;;) {
        seen = wait_change(&P.gen, seen, &P.gen_sleepers);
        if (atomic_load(&P.stop)) break;
        atomic_fetch_add(&P.inside, 1);
        /* Jobs run one at a time and each closes before the next is published, so job
         * `seen` is still open exactly when the last closed one is its predecessor. */
        if (atomic_load(&P.closed) == seen - 1u && tid < P.want) P.fn(P.arg);
        atomic_fetch_sub(&P.inside, 1);
    }
    return NULL;
}

/* Publishes the job in P.fn/P.arg/P.want; returns its generation. */
static unsigned publish(void) {
    unsigned g = atomic_fetch_add(&P.gen, 1) + 1;
    if (atomic_load(&P.gen_sleepers)) word_wake_all(&P.gen);
    return g;
}

static void spin_until_zero(atomic_int *x) {
    for (int i = 0; atomic_load_explicit(x, memory_order_acquire) != 0; i++) {
        if (i < 4096)
            cpu_relax();
        else
            sched_yield();
    }
}

/* Stops the workers; the caller owns P.busy. */
static void stop_workers(void) {
    if (P.lazy) {
        P.lazy = 0;
        P.n = 1;
        return;
    }
    if (P.n <= 1) return;
    atomic_store(&P.stop, 1);
    publish();
    for (int i = 1; i < P.n; i++) pthread_join(P.workers[i], NULL);
    atomic_store(&P.stop, 0);
    P.n = 1;
}

/* Starts workers 1..n-1; the caller owns P.busy. Returns how many threads run. */
static int start_workers(int n) {
    int got = 1;
    unsigned g = atomic_load(&P.gen);
    atomic_store(&P.closed, g); /* nothing open */
    for (int i = 1; i < n; i++) {
        starts[i] = (worker_start){i, g};
        if (pthread_create(&P.workers[i], NULL, worker_main, &starts[i]) != 0) break;
        got = i + 1;
    }
    /* P.n is read without owning the pool (nbi_pool_threads): written only when it changes */
    if (P.n != got) P.n = got;
    return got;
}

static int core_count(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int c = CPU_COUNT(&set);
        if (c > 0) return c;
    }
#endif
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

static int clamp_threads(long n) {
    return n < 1 ? 1 : (n > NBI_MAX_THREADS ? NBI_MAX_THREADS : (int)n);
}

/* A child of fork() has only the forking thread: forget the parent's workers (the child
 * then runs everything inline until nb_set_threads starts new ones). */
static void after_fork_in_child(void) {
    P.n = 1;
    P.lazy = 0;
    atomic_store(&P.busy, 0);
    atomic_store(&P.inside, 0);
    atomic_store(&P.gen_sleepers, 0);
    atomic_store(&P.closed, atomic_load(&P.gen));
}

static void pool_init(void) {
    pthread_atfork(NULL, NULL, after_fork_in_child);
    int n = core_count();
    const char *e = getenv("NB_THREADS");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == '\0' && v >= 1) n = (int)v;
    }
    e = getenv("NB_SPIN_US");
    if (e && *e) {
        char *end;
        double v = strtod(e, &end);
        if (*end == '\0' && v >= 0.0) spin_us = v;
    }
    /* The workers start with the first job that wants them (nbi_parallel_run). */
    P.n = clamp_threads(n);
    P.lazy = P.n > 1;
}

static void ensure_pool(void) {
    pthread_once(&pool_once, pool_init);
}

static int try_own(void) {
    int expect = 0;
    return atomic_compare_exchange_strong(&P.busy, &expect, 1);
}

int nbi_pool_threads(void) {
    ensure_pool();
    return P.n;
}

int nbi_threads_for(int budget) {
    int n = nbi_pool_threads();
    return budget > 0 && budget < n ? budget : n;
}

void nbi_parallel_run(int want, nbi_job_fn fn, void *arg) {
    ensure_pool();
    if (want <= 1 || P.n <= 1 || !try_own()) {
        fn(arg);
        return;
    }
    if (P.lazy) { /* the first parallel job: start the workers (fewer if the system refuses) */
        P.lazy = 0;
        if (start_workers(P.n) <= 1) {
            atomic_store(&P.busy, 0);
            fn(arg);
            return;
        }
    }
    P.want = want;
    P.fn = fn;
    P.arg = arg;
    unsigned g = publish();
    fn(arg);
    atomic_store(&P.closed, g);
    spin_until_zero(&P.inside);
    atomic_store(&P.busy, 0);
}

void nbi_wait_count(const _Atomic int64_t *counter, int64_t target) {
    for (int i = 0; atomic_load_explicit(counter, memory_order_acquire) < target; i++) {
        if (i < 4096)
            cpu_relax();
        else
            sched_yield();
    }
}

/* The front's count in the low half of the word, the back's in the high half: one
 * fetch_add gives a claimer both, so the two ends never hand out the same task. After the
 * last task every claim fails (the counts only grow; each claimer stops at its first
 * failure, so they stay far below 2^32). */
int64_t nbi_claim(_Atomic uint64_t *claims, int64_t n) {
    const int back = in_worker;
    uint64_t old =
        atomic_fetch_add_explicit(claims, back ? (uint64_t)1 << 32 : 1u, memory_order_relaxed);
    int64_t f = (int64_t)(old & 0xffffffffu), b = (int64_t)(old >> 32);
    if (f + b >= n) return -1;
    return back ? n - 1 - b : f;
}

/* parallel_for: members claim task numbers from both ends of one word (nbi_claim). */
typedef struct for_job {
    nbi_task_fn fn;
    void *arg;
    int64_t n;
    _Atomic uint64_t claims;
} for_job;

static void for_member(void *p) {
    for_job *j = p;
    for (int64_t t; (t = nbi_claim(&j->claims, j->n)) >= 0;) j->fn(j->arg, t);
}

/* more tasks than nbi_claim counts: one counter from the front */
typedef struct for_job_big {
    nbi_task_fn fn;
    void *arg;
    int64_t n;
    _Atomic int64_t next;
} for_job_big;

static void for_member_big(void *p) {
    for_job_big *j = p;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (t >= j->n) break;
        j->fn(j->arg, t);
    }
}

void nbi_parallel_for(int nt, int64_t n_tasks, nbi_task_fn fn, void *arg) {
    if (n_tasks <= 0) return;
    if (n_tasks == 1 || nt <= 1) {
        for (int64_t t = 0; t < n_tasks; t++) fn(arg, t);
        return;
    }
    int want = nt < NBI_MAX_THREADS ? nt : NBI_MAX_THREADS;
    if (n_tasks < want) want = (int)n_tasks;
    if (n_tasks > NBI_CLAIM_MAX) {
        for_job_big j = {fn, arg, n_tasks, 0};
        nbi_parallel_run(want, for_member_big, &j);
        return;
    }
    for_job j = {fn, arg, n_tasks, 0};
    nbi_parallel_run(want, for_member, &j);
}

void nbi_split_range(int64_t n, int64_t grain, int tid, int nt, int64_t *lo, int64_t *hi) {
    if (grain < 1) grain = 1;
    int64_t units = (n + grain - 1) / grain;
    int64_t q = units / nt, r = units % nt;
    int64_t u0 = tid * q + (tid < r ? tid : r);
    int64_t u1 = u0 + q + (tid < r ? 1 : 0);
    *lo = u0 * grain < n ? u0 * grain : n;
    *hi = u1 * grain < n ? u1 * grain : n;
}

/* ---- public API ------------------------------------------------------------------------- */

nb_status nb_set_threads(int n) {
    if (n < 1 || n > NBI_MAX_THREADS)
        return nbi_error(NB_ERR_ARG, "nb_set_threads: n=%d is out of range; use 1..%d", n,
                         NBI_MAX_THREADS);
    ensure_pool();
    /* Wait for a job in flight (from another thread) to finish, then take the pool. */
    while (!try_own()) sched_yield();
    nb_status s = NB_OK;
    if (n != P.n || P.lazy) { /* started now, so that a refused thread is reported */
        stop_workers();
        int got = start_workers(n);
        if (got != n)
            s = nbi_error(NB_ERR_NOMEM,
                          "nb_set_threads: the system refused a thread; running %d of %d", got, n);
    }
    atomic_store(&P.busy, 0);
    return s;
}

int nb_get_threads(void) {
    return nbi_pool_threads();
}
