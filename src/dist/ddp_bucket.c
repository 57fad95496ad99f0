/* dist/ddp_bucket.c — the data-parallel wrapper's buckets (see ddp.c): each bucket's sum
 * (MPI_Iallreduce, the ring, or ZeRO-1's reduce-scatter) started in plan order as soon as
 * autograd has announced every gradient in it, and the progress thread that tests the buckets
 * in flight while backward computes (MPI's non-blocking collectives and the ring move only
 * while MPI is called). The bucket states and their requests are touched only under `mu`. */
#define _POSIX_C_SOURCE 200809L
#include "dist/ddp.h"

#include <time.h>

int nbi_ddp_launch(nb_ddp *x, int k) {
    bucket *b = &x->b[k];
    nb_dist *d = x->d;
    float *g = nb_params_grad(x->ps);
    int rc = MPI_SUCCESS;
    if (x->o.algo == NB_DIST_RING) {
        nbi_ring_start(&b->ring, d);
    } else if (x->o.zero) {
        rc = MPI_Ireduce_scatter(g + b->lo, x->zrecv + (b->part_lo - x->shard_off[d->rank]),
                                 b->counts, MPI_FLOAT, MPI_SUM, d->comm, &b->req);
    } else {
        rc = MPI_Iallreduce(MPI_IN_PLACE, g + b->lo, (int)(b->hi - b->lo), MPI_FLOAT, MPI_SUM,
                            d->comm, &b->req);
    }
    if (rc != MPI_SUCCESS) {
        nbi_dist_mpi_error(rc, "nb_ddp (starting a bucket)");
        return -1;
    }
    if (x->next == 0 && k == 0) x->t_first = MPI_Wtime();
    b->state = B_LAUNCHED;
    x->inflight++;
    if (x->th_on) pthread_cond_signal(&x->cv);
    return 0;
}

/* Tests every bucket in flight: 1 when all are done, 0 if not, -1 on an MPI error. */
static int progress(void *arg) {
    nb_ddp *x = arg;
    int all = 1;
    for (int k = 0; k < x->nb; k++) {
        bucket *b = &x->b[k];
        if (b->state == B_DONE) continue;
        if (b->state == B_WAITING) {
            all = 0;
            continue;
        }
        int done = 0;
        if (x->o.algo == NB_DIST_RING) {
            done = nbi_ring_progress(&b->ring, x->d);
        } else {
            int rc = MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) {
                nbi_dist_mpi_error(rc, "nb_ddp (a bucket)");
                return -1;
            }
        }
        if (done < 0) {
            x->failed = 1;
            return -1;
        }
        if (done) {
            b->state = B_DONE;
            x->inflight--;
        } else {
            all = 0;
        }
    }
    return all;
}

int nbi_ddp_progress_locked(void *arg) {
    nb_ddp *x = arg;
    pthread_mutex_lock(&x->mu);
    int r = x->failed ? -1 : progress(x);
    pthread_mutex_unlock(&x->mu);
    return r;
}

/* The progress thread: while buckets are in flight, test them every 20 µs. */
void *nbi_ddp_progress_main(void *arg) {
    nb_ddp *x = arg;
    pthread_mutex_lock(&x->mu);
    while (!x->stop) {
        if (x->inflight == 0 || x->failed) {
            pthread_cond_wait(&x->cv, &x->mu);
            continue;
        }
        (void)progress(x);
        pthread_mutex_unlock(&x->mu);
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&x->mu);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* Starts, in plan order, every bucket whose gradients are final. */
static void launch_ready(nb_ddp *x) {
    while (x->next < x->nb && x->b[x->next].pending == 0) {
        if (nbi_ddp_launch(x, x->next) < 0) return; /* grad_end's wait reports it */
        x->early++;
        x->next++;
    }
}

/* A parameter's gradient is final: when it was its bucket's last, the buckets now complete
 * start (in plan order). */
void nbi_ddp_on_grad_ready(nb_tensor *leaf, void *impl) {
    nb_ddp *x = impl;
    const int64_t off = (const float *)leaf->data - nb_params_data(x->ps);
    if (off < 0 || off >= nb_params_numel(x->ps)) return; /* not one of our parameters */
    int lo = 0, hi = x->nparams - 1;                      /* the parameter starting at off */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (x->param_off[mid] <= off)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (x->param_off[lo] != off) return;
    pthread_mutex_lock(&x->mu);
    bucket *b = &x->b[x->param_bucket[lo]];
    if (b->pending > 0) b->pending--;
    if (!x->o.no_overlap) {
        launch_ready(x);
        if (x->next > 0 && !x->th_on) (void)progress(x); /* move what is in flight along */
    }
    pthread_mutex_unlock(&x->mu);
}
