/* dist/ddp_step.c — what a data-parallel step calls through nb_replicas (see ddp.c and
 * train.h): step_begin (the batch's share), grad_end (every bucket started and waited for, the
 * global loss), update (the optimizer; ZeRO-1: on this process's shard, then the parameters
 * all-gathered), the small sums and agreement, the running statistics of per-process batch
 * norm, and ZeRO-1's optimizer gathered for a checkpoint. */
#define _POSIX_C_SOURCE 200809L
#include "dist/ddp.h"

#include <string.h>

static double now(void) {
    return MPI_Wtime();
}

static nb_status step_begin(void *impl, int64_t local, int64_t *global) {
    nb_ddp *x = impl;
    if (x->full) { /* a checkpoint's gathered optimizer is no longer needed */
        nb_optim_free(x->full);
        x->full = NULL;
    }
    if (*global == 0) {
        double v = (double)local;
        nb_status s = nb_dist_sum(x->d, &v, 1);
        if (s != NB_OK) return s;
        *global = (int64_t)v;
    }
    if (local < 1 || *global < local)
        return nbi_error(NB_ERR_ARG, "nb_ddp: rank %d has %lld samples of a global batch of %lld",
                         x->d->rank, (long long)local, (long long)*global);
    x->local = local;
    x->global = *global;
    for (int k = 0; k < x->nb; k++) {
        x->b[k].pending = x->b[k].last - x->b[k].first + 1;
        x->b[k].state = B_WAITING;
    }
    x->next = 0;
    x->early = 0;
    x->t_first = 0.0;
    return NB_OK;
}

static nb_status grad_end(void *impl, double *loss) {
    nb_ddp *x = impl;
    const double t_end = now();
    pthread_mutex_lock(&x->mu);
    x->st.early_buckets += x->early;
    if (x->t_first > 0.0) x->st.backward_s += t_end - x->t_first;
    int bad = 0;
    while (x->next < x->nb && !bad) /* parameters backward never reached, or no_overlap */
        bad = nbi_ddp_launch(x, x->next++) < 0;
    pthread_mutex_unlock(&x->mu);
    if (bad) return NB_ERR_IO;
    nb_status s = nbi_dist_poll(x->d, nbi_ddp_progress_locked, x, "nb_ddp: summing the gradients");
    x->st.wait_s += now() - t_end;
    if (s != NB_OK) return s;
    if (x->o.zero && x->o.algo != NB_DIST_RING) { /* the reduced shard into place */
        const int64_t lo = x->shard_off[x->d->rank], hi = x->shard_off[x->d->rank + 1];
        memcpy(nb_params_grad(x->ps) + lo, x->zrecv, sizeof(float) * (size_t)(hi - lo));
    }
    /* the global batch's mean loss: Σ over replicas of (local/global) · local mean */
    double v = *loss * ((double)x->local / (double)x->global);
    if ((s = nb_dist_sum(x->d, &v, 1)) != NB_OK) return s;
    *loss = v;
    x->st.steps++;
    return NB_OK;
}

static nb_status update(void *impl, nb_optim *opt) {
    nb_ddp *x = impl;
    const double t0 = now();
    nb_status s = nb_optim_step(opt);
    /* every replica must take part in the gather even if its own update failed */
    if (x->o.zero) {
        MPI_Request req;
        int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, nb_params_data(x->ps),
                                 x->shard_counts, x->shard_displs, MPI_FLOAT, x->d->comm, &req);
        nb_status w = rc == MPI_SUCCESS
                          ? nbi_dist_wait(x->d, 1, &req, "nb_ddp: gathering the parameters")
                          : nbi_dist_mpi_error(rc, "nb_ddp: gathering the parameters");
        if (s == NB_OK) s = w;
    }
    x->st.update_s += now() - t0;
    return s;
}

static nb_status sum(double *v, int64_t n, void *impl) {
    nb_ddp *x = impl;
    return nb_dist_sum(x->d, v, n);
}

static nb_status agree(void *impl, nb_status s) {
    nb_ddp *x = impl;
    return nb_dist_agree(x->d, s);
}

/* Per-replica batch norm: the running statistics become rank 0's. */
static nb_status sync_state(void *impl) {
    nb_ddp *x = impl;
    nb_params *st = nb_model_state(x->m);
    const int64_t n = st ? nb_params_numel(st) : 0;
    return n > 0 ? nb_dist_bcast(x->d, nb_params_data(st), sizeof(float) * (size_t)n) : NB_OK;
}

/* ZeRO-1: the shards gathered into a whole optimizer on rank 0, for its checkpoint. */
static nb_status full_optim(void *impl, nb_optim *opt, nb_optim **out) {
    nb_ddp *x = impl;
    *out = opt;
    if (!x->o.zero) return NB_OK;
    nb_dist *d = x->d;
    *out = NULL;
    nb_status s = NB_OK;
    nb_optim_free(x->full);
    x->full = NULL;
    if (d->rank == 0) {
        nb_optim_config c = nb_optim_get_config(opt);
        nb_schedule sc;
        x->full = nb_optim_new(x->ps, &c);
        if (!x->full) s = NB_ERR_NOMEM;
        if (s == NB_OK && nb_optim_get_schedule(opt, &sc)) s = nb_optim_set_schedule(x->full, &sc);
        if (s == NB_OK) s = nb_optim_set_step_count(x->full, nb_optim_step_count(opt));
    }
    s = nb_dist_agree(d, s);
    for (int k = 0; s == NB_OK && k < nb_optim_state_slots(opt); k++) {
        int64_t n;
        float *mine = nb_optim_state_buffer(opt, k, &n);
        float *all = d->rank == 0 ? nb_optim_state_buffer(x->full, k, NULL) : NULL;
        MPI_Request req;
        int rc = MPI_Igatherv(mine, (int)n, MPI_FLOAT, all, x->shard_counts, x->shard_displs,
                              MPI_FLOAT, 0, d->comm, &req);
        s = rc == MPI_SUCCESS ? nbi_dist_wait(d, 1, &req, "nb_ddp: gathering the optimizer state")
                              : nbi_dist_mpi_error(rc, "nb_ddp: gathering the optimizer state");
    }
    if (s == NB_OK) *out = x->full;
    return s;
}

void nbi_ddp_set_functions(nb_ddp *x) {
    nb_replicas *rp = &x->rp;
    rp->step_begin = step_begin;
    rp->grad_ready = nbi_ddp_on_grad_ready;
    rp->grad_end = grad_end;
    rp->update = update;
    rp->sum = sum;
    rp->agree = agree;
    rp->sync_state = x->o.no_sync_bn ? sync_state : NULL;
    rp->full_optim = full_optim;
}
