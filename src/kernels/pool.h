/* kernels/pool.h — the persistent thread pool behind every parallel kernel.
 *
 * One pool per process, created on first use with nb_set_threads(n), else $NB_THREADS, else
 * the number of cores this process may run on. The calling thread always takes part (it is
 * thread 0), so a pool of n threads starts n - 1 workers. Workers wait for work by spinning
 * briefly and then sleeping on a futex (a condition-free sleep on Linux, polling elsewhere).
 *
 * No oversubscription: a parallel call made while the pool is busy — from a task running
 * inside the pool, or from a second user thread — runs inline on the calling thread instead
 * of queueing or starting more threads. Callers must therefore produce the same result
 * whatever team size they get; every kernel here splits work so that each output element is
 * computed by exactly one thread in a fixed order, which makes results independent of the
 * thread count. */
#ifndef NBI_POOL_H
#define NBI_POOL_H

#include "base/base.h"

#define NBI_MAX_THREADS 64

/* fn(arg, task) for every task in [0, n_tasks), spread over the pool; returns when all have
 * run. Tasks are handed out dynamically, so a task must not depend on which thread runs it or
 * in what order. */
typedef void (*nbi_task_fn)(void *arg, int64_t task);
void nbi_parallel_for(int64_t n_tasks, nbi_task_fn fn, void *arg);

/* A team: fn(arg, team) runs once on each of team->nt threads (team->tid = 0 .. nt-1, the
 * caller is 0), which may meet at nbi_team_barrier. nt is at most `want` and may be 1. */
typedef struct nbi_team {
    int tid, nt;
} nbi_team;
typedef void (*nbi_team_fn)(void *arg, const nbi_team *team);
void nbi_parallel_team(int want, nbi_team_fn fn, void *arg);
/* Every member of the team waits here until all have arrived; memory written before the
 * barrier by any member is visible to all after it. A no-op for a team of one. */
void nbi_team_barrier(const nbi_team *team);

/* The number of threads a parallel call may use now (pool size, caller included); creates
 * the pool on first call. Kernels use it to decide whether splitting is worth it. */
int nbi_pool_threads(void);

/* Contiguous share [*lo, *hi) of n items for member `tid` of `nt`, balanced to within one
 * item of `grain` (n is cut at multiples of grain). */
void nbi_split_range(int64_t n, int64_t grain, int tid, int nt, int64_t *lo, int64_t *hi);

#endif
