/* dist/ddp.h — the data-parallel wrapper's insides, shared by its three files: ddp.c (making
 * one: the model check, the broadcast, the bucket plan, ZeRO-1's shards), ddp_bucket.c (the
 * buckets: started from autograd's gradient-ready hook, moved along by the progress thread)
 * and ddp_step.c (the functions a step calls through nb_replicas). ddp.c's top comment says
 * how it works. Built only by `make MPI=1`. */
#ifndef NBI_DDP_H
#define NBI_DDP_H

#include "dist/dist.h"

#include <pthread.h>

enum { B_WAITING, B_LAUNCHED, B_DONE };

typedef struct bucket {
    int64_t lo, hi;  /* gradient elements */
    int first, last; /* parameters */
    int pending;     /* parameters not announced yet this step */
    int state;
    MPI_Request req;          /* NB_DIST_MPI */
    nbi_ring ring;            /* NB_DIST_RING */
    int *counts;              /* ZeRO-1 with MPI: each rank's part of the bucket */
    int64_t part_lo, part_hi; /* ZeRO-1: this rank's part, [lo, hi) ∩ its shard */
} bucket;

struct nb_ddp {
    nb_dist *d;
    nb_model *m;
    nb_optim *opt;
    nb_params *ps;
    nb_ddp_opts o;
    nb_replicas rp;
    int nparams;
    int64_t *param_off; /* each parameter's offset in the flat buffers (ascending) */
    int *param_bucket;
    bucket *b;
    int nb;
    int next; /* the next bucket to start */
    int64_t local, global;
    /* ZeRO-1 */
    int64_t *shard_off; /* size + 1 */
    int *shard_counts, *shard_displs;
    float *zrecv;   /* MPI: this rank's reduced parts, shard-sized */
    nb_optim *full; /* gathered for a checkpoint (rank 0) */
    /* the progress thread */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int th_on, stop, inflight; /* inflight: buckets started and not done */
    int failed;                /* progress met an MPI error */
    /* measurements */
    nb_ddp_stats st;
    double t_first; /* the first bucket of the step started */
    int early;      /* buckets started during backward this step */
};

/* ddp_bucket.c */
/* Starts bucket k's sum (under mu): 0, or -1 on an MPI error (reported). */
int nbi_ddp_launch(nb_ddp *x, int k);
/* Tests the buckets in flight under mu, for nbi_dist_poll: 1 when all are done, 0 if not, -1
 * on an MPI error. */
int nbi_ddp_progress_locked(void *arg);
/* The progress thread's body (arg: the nb_ddp). */
void *nbi_ddp_progress_main(void *arg);
/* autograd's gradient-ready hook (nb_replicas.grad_ready). */
void nbi_ddp_on_grad_ready(nb_tensor *leaf, void *impl);

/* ddp_step.c: fills x->rp's functions (rank, size and impl are the caller's). */
void nbi_ddp_set_functions(nb_ddp *x);

#endif
