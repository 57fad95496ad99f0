/* kernels/pool.h — the persistent thread pool behind every parallel kernel.
 *
 * One pool per process, created on first use with nb_set_threads(n), else $NB_THREADS, else
 * the number of cores this process may run on. The calling thread always takes part, so a
 * pool of n threads starts n - 1 workers: at once for nb_set_threads (which reports a thread
 * the system refuses), else with the first job that wants more than one thread. Idle workers spin briefly and then sleep on a futex
 * (Linux; elsewhere they poll with sched_yield).
 *
 * Work is claimed, not assigned: a job's pieces are taken from shared counters by whoever
 * comes, and the caller never waits for a worker that has not started. On a machine shared
 * with other programs a descheduled worker then costs at most the piece it holds, instead of
 * stalling a barrier (which is how static-partition pools come to run slower on two threads
 * than on one under load).
 *
 * No oversubscription: a parallel call made while the pool is busy — from a task running
 * inside the pool, or from a second user thread — runs inline on the calling thread instead
 * of queueing or starting more threads. Every kernel splits its work so that each output
 * element is computed by exactly one thread in a fixed order, so results are independent of
 * the thread count and of who claimed what. */
#ifndef NBI_POOL_H
#define NBI_POOL_H

#include "base/base.h"

#define NBI_MAX_THREADS 64

/* fn(arg, task) for every task in [0, n_tasks), spread over at most `nt` threads of the pool
 * (the caller included; nt <= 1 runs everything on the caller); returns when all have run.
 * Tasks are claimed dynamically (nbi_claim: the caller from the front, workers from the
 * back), so a task must not depend on which thread runs it or in what order. */
typedef void (*nbi_task_fn)(void *arg, int64_t task);
void nbi_parallel_for(int nt, int64_t n_tasks, nbi_task_fn fn, void *arg);

/* fn(arg) runs on the calling thread and on each of up to want - 1 pool workers that arrive
 * while the call is in progress; it returns once the caller's fn has returned and no worker
 * is still inside fn. Members share the work through `arg`, claiming pieces from atomic
 * counters, so the caller alone can do everything: a worker that is slow to wake (asleep,
 * or descheduled on a busy machine) simply finds nothing left, and is never waited for. */
typedef void (*nbi_job_fn)(void *arg);
void nbi_parallel_run(int want, nbi_job_fn fn, void *arg);

/* Two-ended claims of n tasks (n < 2^31) from one word, zeroed before the job: the caller
 * takes them from the front (0, 1, ...), pool workers from the back (n-1, n-2, ...); returns
 * the task, or -1 when none is left. Every task goes to exactly one claimer, and the caller
 * alone takes them all when no worker comes. Why two ends: consecutive passes over the same
 * arrays (zeroing the gradients, the backward's products into them, the optimizer's update)
 * then give each thread about the same part of the arrays each time (on two threads the
 * front and the back half), so a thread mostly finds its lines in its own cache instead of
 * pulling them from the other core's. */
int64_t nbi_claim(_Atomic uint64_t *claims, int64_t n);
#define NBI_CLAIM_MAX ((int64_t)INT32_MAX)

/* Spin-then-yield until *counter >= target (acquire): for dependencies between claimed
 * pieces of one job. */
void nbi_wait_count(const _Atomic int64_t *counter, int64_t target);

/* The number of threads a parallel call may use now (pool size, caller included); creates
 * the pool on first call. */
int nbi_pool_threads(void);

/* The threads a kernel call with a budget of `budget` threads may use: the budget (0 = no
 * limit) capped by the pool's size. Back ends carry the budget explicitly (nbi_backend's
 * `threads`, from nb_ctx_opts.threads), so no kernel consults hidden state to decide how
 * far to split. */
int nbi_threads_for(int budget);

/* Contiguous share [*lo, *hi) of n items for member `tid` of `nt`, balanced to within one
 * item of `grain` (n is cut at multiples of grain). */
void nbi_split_range(int64_t n, int64_t grain, int tid, int nt, int64_t *lo, int64_t *hi);

#endif
