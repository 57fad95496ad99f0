/* nabla/dist.h — data-parallel training across processes and machines, over MPI. Built by
 * `make MPI=1` (with mpicc) into the library; the core builds without it. See
 * docs/distributed.md.
 *
 *     nb_dist *d;
 *     nb_dist_init(&argc, &argv, &d);                  // MPI_Init, once per process
 *     nb_model *m = ...;  nb_optim *opt = ...;          // the same model on every process
 *     nb_ddp *ddp;
 *     nb_ddp_new(d, m, opt, &(nb_ddp_opts){0}, &ddp);  // checks, broadcasts from rank 0
 *     nb_ddp_fit(ddp, train, &fit_opts, &history);     // nb_fit, data parallel
 *     nb_ddp_free(ddp);
 *     nb_dist_finalize(d);
 *
 * Every process keeps a replica of the model. At start the replicas are checked to be the
 * same model (a hash of the architecture, parameter names and sizes, and the optimizer), and
 * rank 0's parameters, model state and optimizer state are broadcast to all (then checked
 * equal by a hash). Each step, every replica trains on its shard of the global batch; the
 * gradients are summed in buckets — contiguous slices of the flat gradient buffer, launched
 * (MPI_Iallreduce, or a ring of point-to-point messages) as soon as autograd says their
 * gradients are final, while backward goes on with earlier layers — and waited for before the
 * update. With ZeRO-1 each replica keeps only its 1/N of the optimizer state: the buckets are
 * reduce-scattered, each replica updates its shard, and the parameters are all-gathered.
 *
 * Every wait has a deadline (nb_ddp_opts.timeout): a replica that died or hangs makes the
 * others fail with NB_ERR_IO and a message naming the operation, instead of waiting forever;
 * nb_dist_broken then says so, and a program should end the job with nb_dist_abort (no
 * collective can complete any more). */
#ifndef NABLA_DIST_H
#define NABLA_DIST_H

#include "nabla/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_dist nb_dist;

/* Starts MPI (MPI_Init_thread, funneled) unless it is already running, and makes a
 * communicator of every process for nabla's use. argc/argv may be NULL. */
nb_status nb_dist_init(int *argc, char ***argv, nb_dist **out);
/* Frees d and, when nb_dist_init started MPI, ends it (MPI_Finalize). NULL is a no-op. */
void nb_dist_finalize(nb_dist *d);
int nb_dist_rank(const nb_dist *d);
int nb_dist_size(const nb_dist *d);
/* The name of the machine this process runs on (MPI_Get_processor_name). */
const char *nb_dist_host(const nb_dist *d);
/* 1 once an operation timed out: the other processes can no longer be relied on. */
int nb_dist_broken(const nb_dist *d);
/* 1 when the last failure was one every process reported alike (another process's failure
 * passed on by nb_dist_agree, or models that differ): a program then need not print it on
 * every process. */
int nb_dist_error_shared(const nb_dist *d);
/* Ends every process of the job (MPI_Abort) with code. For programs (the nabla tool calls it
 * after a timeout); the library never calls it on its own. */
void nb_dist_abort(nb_dist *d, int code);
/* Seconds any one wait may take before it fails (default 300). */
void nb_dist_set_timeout(nb_dist *d, double seconds);

/* Collectives every process calls in the same order (each bounded by the timeout): */
/* bytes from rank 0's buf to everyone's */
nb_status nb_dist_bcast(nb_dist *d, void *buf, size_t bytes);
/* v[0..n) summed over the processes, added in rank order: the same bits everywhere, run after
 * run (for small vectors: metrics, batch-norm statistics) */
nb_status nb_dist_sum(nb_dist *d, double *v, int64_t n);
/* NB_OK everywhere if s is NB_OK everywhere; else an error on every process (a process's
 * own status, or NB_ERR_STATE naming the first rank that failed) */
nb_status nb_dist_agree(nb_dist *d, nb_status s);

/* How gradients are summed. */
typedef enum nb_dist_algo {
    NB_DIST_MPI = 0, /* MPI_Iallreduce (MPI_Ireduce_scatter under ZeRO-1): MPI's own choice */
    NB_DIST_RING,    /* nabla's ring over point-to-point messages: 2(N−1) steps of 1/N of a
                        bucket; the order of every addition is fixed (deterministic) */
} nb_dist_algo;

/* Options, zero-initialised: every 0 field is the default. */
typedef struct nb_ddp_opts {
    int64_t bucket_bytes;   /* gradients per bucket (a bucket closes at the first parameter that
                               takes it to this size or more); default 256 KiB */
    nb_dist_algo algo;      /* default NB_DIST_MPI */
    int deterministic;      /* 1: a fixed order of additions, so that a run is bit-reproducible
                               run after run at a given process count (implies NB_DIST_RING) */
    int zero;               /* 1: ZeRO-1, optimizer state sharded over the processes */
    int no_sync_bn;         /* 1: batch norm normalises with each replica's own statistics
                               (PyTorch DDP's default; running statistics are then rank 0's,
                               broadcast after every epoch); 0: synchronised over the global
                               batch, the statistics of one process with the whole batch */
    int no_overlap;         /* 1: start summing only after backward (to measure the overlap) */
    int progress_thread;    /* a thread moving the sums along while backward computes:
                               0 (auto): when this node has a core to spare for it, i.e. its
                               processes × their compute threads < its cores; 1: always;
                               -1: never (then only the gradient-ready hook and the final
                               wait move them) */
    double timeout;         /* seconds a wait may take; 0: the nb_dist's (default 300) */
} nb_ddp_opts;

typedef struct nb_ddp nb_ddp;

/* Wraps a model and its optimizer for data-parallel training over d's processes (a
 * collective: every process calls it with its own model and optimizer). Fails on every
 * process, with a message naming the ranks and what differs, when the models or optimizers
 * differ. Broadcasts rank 0's parameters, state, optimizer state and step count, then checks
 * the parameters equal. Under ZeRO-1 the optimizer is cut to this process's shard (its state
 * shrinks to 1/N): from then on step it only through the replicas (fit, nb_train_step with
 * nb_ddp_replicas). The model, optimizer and d must outlive the wrapper. */
nb_status nb_ddp_new(nb_dist *d, nb_model *m, nb_optim *opt, const nb_ddp_opts *opts, nb_ddp **out);
void nb_ddp_free(nb_ddp *ddp); /* NULL is a no-op */

/* The table nb_fit_opts.replicas and nb_step_opts.replicas take. */
const nb_replicas *nb_ddp_replicas(nb_ddp *ddp);

/* nb_fit with this wrapper's replicas: opts->state (when given) is first made rank 0's on
 * every process; batch sizes are per process. */
nb_status nb_ddp_fit(nb_ddp *ddp, const nb_dataset *train, const nb_fit_opts *opts,
                     nb_history *history);

/* The bucket plan: bucket k holds gradient elements [lo, hi) of the flat buffer, parameters
 * [first, last] of the store; bucket 0 (the last parameters, whose gradients are final first)
 * is sent first. Returns the number of buckets, filling at most max. */
typedef struct nb_ddp_bucket {
    int64_t lo, hi;
    int first, last;
} nb_ddp_bucket;
int nb_ddp_buckets(const nb_ddp *ddp, nb_ddp_bucket *b, int max);

/* What the wrapper measured since it was made (or since nb_ddp_reset_stats). */
typedef struct nb_ddp_stats {
    int64_t steps;
    double backward_s;     /* from the first bucket launched to the end of backward */
    double wait_s;         /* in grad_end, waiting for the sums: communication not hidden */
    double update_s;       /* the update (with ZeRO-1: shard update and all-gather) */
    int64_t bytes;         /* gradient bytes summed per step */
    int64_t optim_bytes;   /* this process's optimizer state, in bytes */
    int64_t early_buckets; /* buckets launched during backward, summed over steps */
} nb_ddp_stats;
void nb_ddp_get_stats(const nb_ddp *ddp, nb_ddp_stats *st);
void nb_ddp_reset_stats(nb_ddp *ddp);

/* Times `reps` sums of `bytes` of floats with algo (after one to warm up): the mean seconds
 * of one, the same on every process (a collective). */
nb_status nb_dist_time_allreduce(nb_dist *d, nb_dist_algo algo, int64_t bytes, int reps,
                                 double *seconds);

#ifdef __cplusplus
}
#endif
#endif
