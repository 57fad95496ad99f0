/* dist/ddp.c — the data-parallel wrapper (making one; ddp_bucket.c and ddp_step.c run it): a model
 * and its optimizer replicated on every process, kept in step by summing gradients in buckets while
 * backward runs (PyTorch's DistributedDataParallel, Horovod), optionally with the optimizer state
 * sharded (ZeRO-1, as in llm.c and DeepSpeed).
 *
 *   start     same model everywhere? (a hash of architecture, names, sizes and optimizer)
 *             rank 0's parameters, state and optimizer state broadcast; checked equal
 *   a step    step_begin: the batch's share local/global (backward is seeded with it)
 *             grad_ready: autograd says a parameter's gradient is final; when every
 *               parameter of a bucket is, the bucket's sum starts (buckets start in plan
 *               order, the same on every process, as MPI requires of collectives)
 *             grad_end: the buckets not started yet start; all are waited for
 *             update: the optimizer (ZeRO-1: on this process's shard, then the parameters
 *               are all-gathered)
 *
 * The plan: parameters are laid out in the flat buffers in the order layers were added, and
 * backward meets the last layers first, so buckets are cut from the end of the buffer: bucket
 * 0 holds the last parameters, and a bucket closes at the first parameter that takes it to
 * bucket_bytes or more. A parameter is never split between buckets.
 *
 * Communication is started from autograd's hook. MPI's non-blocking collectives and the ring
 * move only while MPI is called, so a progress thread (Horovod's design) tests the buckets in
 * flight every few tens of microseconds while backward computes, and sleeps when none is;
 * without MPI_THREAD_MULTIPLE, or where the node has no core to spare for it (the thread then
 * takes time from backward: measured 2 ms of an 8 ms CNN step with 2 processes on 2 cores,
 * docs/distributed.md), the hook calls and the final wait do the polling alone. The bucket states and their requests are touched only under `mu`. */
#define _POSIX_C_SOURCE 200809L
#include "dist/ddp.h"
#include "optim/optim.h" /* nbi_optim_shard */

#include <limits.h>
#include <string.h>
#include <unistd.h>

/* ---- making one ----------------------------------------------------------------------------- */

/* The progress thread pays only on a spare core: where every core already computes (this
 * node's processes × their compute threads ≥ its cores), its polling slows backward more
 * than moving the sums early gains. */
static int want_progress_thread(const nb_ddp *x) {
    if (x->o.progress_thread) return x->o.progress_thread > 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 && (long)x->d->node_size * nb_get_threads() < cores;
}

/* What must be the same on every process: the architecture (the spec text), every parameter's
 * name and size, the state's size, the optimizer's kind, learning rate and decay rule. */
static uint64_t signature(nb_model *m, nb_optim *opt, nb_status *s) {
    uint64_t h = NBI_FNV_START;
    size_t n = nb_model_spec(m, NULL, 0);
    char *spec = n ? nbi_malloc_for("nb_ddp_new", n + 1) : NULL;
    if (!spec) {
        *s = NB_ERR_NOMEM;
        return 0;
    }
    nb_model_spec(m, spec, n + 1);
    h = nbi_fnv(h, spec, n);
    nbi_free(spec);
    nb_params *ps = nb_model_params(m);
    for (int i = 0; i < nb_params_len(ps); i++) {
        const nb_tensor *t = nb_params_at(ps, i);
        if (t->name) h = nbi_fnv(h, t->name, strlen(t->name) + 1);
        h = nbi_fnv(h, &t->numel, sizeof t->numel);
    }
    int64_t ns = nb_model_state(m) ? nb_params_numel(nb_model_state(m)) : 0;
    h = nbi_fnv(h, &ns, sizeof ns);
    const char *on = nb_optim_name(opt);
    h = nbi_fnv(h, on, strlen(on) + 1);
    double lr = nb_optim_lr(opt);
    h = nbi_fnv(h, &lr, sizeof lr);
    const int decay = (int)nb_optim_decay(opt); /* which parameters decay */
    h = nbi_fnv(h, &decay, sizeof decay);
    *s = NB_OK;
    return h;
}

/* Every process's signature, parameter count and tensor count; an error on all when any
 * differs from rank 0's. */
static nb_status check_same(nb_ddp *x) {
    nb_dist *d = x->d;
    nb_status s;
    int64_t mine[3] = {(int64_t)signature(x->m, x->opt, &s), nb_params_numel(x->ps),
                       nb_params_len(x->ps)};
    if ((s = nb_dist_agree(d, s)) != NB_OK) return s;
    int64_t *all = nbi_malloc_for("nb_ddp_new", sizeof(int64_t) * 3 * (size_t)d->size);
    s = nb_dist_agree(d, all ? NB_OK : NB_ERR_NOMEM);
    if (s != NB_OK) {
        nbi_free(all);
        return s;
    }
    MPI_Request req;
    int rc = MPI_Iallgather(mine, 3, MPI_INT64_T, all, 3, MPI_INT64_T, d->comm, &req);
    s = rc == MPI_SUCCESS ? nbi_dist_wait(d, 1, &req, "nb_ddp_new: comparing the models")
                          : nbi_dist_mpi_error(rc, "nb_ddp_new");
    for (int r = 1; s == NB_OK && r < d->size; r++)
        if (all[3 * r] != all[0]) {
            d->shared = 1; /* every process finds it */
            s = nbi_error(NB_ERR_ARG,
                          "nb_ddp_new: rank %d's model or optimizer differs from rank 0's "
                          "(%lld parameters in %lld tensors against %lld in %lld; or another "
                          "architecture, names, optimizer, learning rate or decay rule): every "
                          "process must build the same model",
                          r, (long long)all[3 * r + 1], (long long)all[3 * r + 2],
                          (long long)all[1], (long long)all[2]);
        }
    nbi_free(all);
    return s;
}

/* Rank 0's parameters, state, optimizer state and step count to everyone; then a hash of the
 * parameters must agree. */
static nb_status broadcast_all(nb_ddp *x) {
    nb_dist *d = x->d;
    nb_status s =
        nb_dist_bcast(d, nb_params_data(x->ps), sizeof(float) * (size_t)nb_params_numel(x->ps));
    nb_params *st = nb_model_state(x->m);
    if (s == NB_OK && st && nb_params_numel(st) > 0)
        s = nb_dist_bcast(d, nb_params_data(st), sizeof(float) * (size_t)nb_params_numel(st));
    for (int k = 0; s == NB_OK && k < nb_optim_state_slots(x->opt); k++) {
        int64_t n;
        float *buf = nb_optim_state_buffer(x->opt, k, &n);
        s = nb_dist_bcast(d, buf, sizeof(float) * (size_t)n);
    }
    int64_t t = nb_optim_step_count(x->opt);
    if (s == NB_OK) s = nb_dist_bcast(d, &t, sizeof t);
    if (s == NB_OK) s = nb_dist_agree(d, nb_optim_set_step_count(x->opt, t));
    if (s != NB_OK) return s;
    uint64_t h = nbi_fnv(NBI_FNV_START, nb_params_data(x->ps),
                         sizeof(float) * (size_t)nb_params_numel(x->ps));
    uint64_t h0 = h;
    if ((s = nb_dist_bcast(d, &h0, sizeof h0)) != NB_OK) return s;
    return nb_dist_agree(d, h == h0 ? NB_OK
                                    : nbi_error(NB_ERR_STATE,
                                                "nb_ddp_new: rank %d's parameters "
                                                "differ from rank 0's after the broadcast",
                                                d->rank));
}

/* Buckets cut from the end of the buffer, bucket_bytes or more each. */
static nb_status plan(nb_ddp *x) {
    const char *fn = "nb_ddp_new";
    const int P = x->nparams;
    x->param_off = nbi_malloc_for(fn, sizeof(int64_t) * (size_t)(P > 0 ? P : 1));
    x->param_bucket = nbi_malloc_for(fn, sizeof(int) * (size_t)(P > 0 ? P : 1));
    x->b = nbi_calloc((size_t)(P > 0 ? P : 1), sizeof *x->b);
    if (!x->param_off || !x->param_bucket || !x->b)
        return nbi_error(NB_ERR_NOMEM, "%s: out of memory", fn);
    const float *base = nb_params_data(x->ps);
    for (int i = 0; i < P; i++) {
        x->param_off[i] = (const float *)nb_params_at(x->ps, i)->data - base;
        NBI_ASSERT(i == 0 || x->param_off[i] > x->param_off[i - 1]);
    }
    const int64_t cap = x->o.bucket_bytes / (int64_t)sizeof(float);
    x->nb = 0;
    for (int i = P - 1; i >= 0;) {
        bucket *b = &x->b[x->nb];
        b->last = i;
        b->hi = x->param_off[i] + nb_params_at(x->ps, i)->numel;
        while (i >= 0 && b->hi - x->param_off[i] < cap) i--;
        if (i < 0) i = 0; /* the rest fits */
        b->first = i;
        b->lo = x->param_off[i];
        if (b->hi - b->lo > INT_MAX)
            return nbi_error(NB_ERR_ARG,
                             "%s: parameter %s is too large for one message (%lld "
                             "elements)",
                             fn, nb_params_at(x->ps, i)->name, (long long)(b->hi - b->lo));
        for (int p = b->first; p <= b->last; p++) x->param_bucket[p] = x->nb;
        x->nb++;
        i--;
    }
    if (x->o.algo == NB_DIST_RING && x->nb > 30000) /* each ring has its own message tag */
        return nbi_error(NB_ERR_ARG,
                         "%s: %d buckets is more than the ring's 30000; raise "
                         "bucket_bytes (now %lld)",
                         fn, x->nb, (long long)x->o.bucket_bytes);
    return NB_OK;
}

/* ZeRO-1: shards, the optimizer cut to ours, each bucket's parts. */
static nb_status shard(nb_ddp *x) {
    const char *fn = "nb_ddp_new";
    nb_dist *d = x->d;
    const int N = d->size;
    const int64_t n = nb_params_numel(x->ps);
    x->shard_off = nbi_malloc_for(fn, sizeof(int64_t) * (size_t)(N + 1));
    x->shard_counts = nbi_malloc_for(fn, sizeof(int) * (size_t)N);
    x->shard_displs = nbi_malloc_for(fn, sizeof(int) * (size_t)N);
    if (!x->shard_off || !x->shard_counts || !x->shard_displs) return NB_ERR_NOMEM;
    nbi_even_cuts(n, N, x->shard_off);
    if (n > INT_MAX)
        return nbi_error(NB_ERR_ARG,
                         "%s: ZeRO-1 needs at most %d parameters (offsets are MPI "
                         "ints), the model has %lld",
                         fn, INT_MAX, (long long)n);
    for (int r = 0; r < N; r++) {
        x->shard_counts[r] = (int)(x->shard_off[r + 1] - x->shard_off[r]);
        x->shard_displs[r] = (int)x->shard_off[r];
    }
    const int64_t lo = x->shard_off[d->rank], hi = x->shard_off[d->rank + 1];
    if (x->o.algo != NB_DIST_RING) {
        x->zrecv = nbi_malloc_for(fn, sizeof(float) * (size_t)(hi - lo > 0 ? hi - lo : 1));
        if (!x->zrecv) return NB_ERR_NOMEM;
    }
    for (int k = 0; k < x->nb; k++) {
        bucket *b = &x->b[k];
        b->part_lo = b->lo > lo ? b->lo : lo;
        b->part_hi = b->hi < hi ? b->hi : hi;
        if (b->part_hi < b->part_lo) b->part_hi = b->part_lo = b->lo > lo ? b->lo : lo;
        b->counts = nbi_malloc_for(fn, sizeof(int) * (size_t)N);
        if (!b->counts) return NB_ERR_NOMEM;
        for (int r = 0; r < N; r++) {
            int64_t a = b->lo > x->shard_off[r] ? b->lo : x->shard_off[r];
            int64_t e = b->hi < x->shard_off[r + 1] ? b->hi : x->shard_off[r + 1];
            b->counts[r] = (int)(e > a ? e - a : 0);
        }
    }
    x->rp.grad_lo = lo;
    x->rp.grad_hi = hi;
    return nbi_optim_shard(x->opt, lo, hi);
}

/* The rings of every bucket: chunks even, or (ZeRO-1) each rank's part. */
static nb_status rings(nb_ddp *x) {
    const int N = x->d->size;
    int64_t *off = nbi_malloc_for("nb_ddp_new", sizeof(int64_t) * (size_t)(N + 1));
    if (!off) return NB_ERR_NOMEM;
    nb_status s = NB_OK;
    float *g = nb_params_grad(x->ps);
    for (int k = 0; k < x->nb && s == NB_OK; k++) {
        bucket *b = &x->b[k];
        if (x->o.zero) {
            off[0] = 0;
            for (int r = 0; r < N; r++) off[r + 1] = off[r] + b->counts[r];
        } else {
            nbi_even_cuts(b->hi - b->lo, N, off);
        }
        s = nbi_ring_init(&b->ring, x->d, g + b->lo, off, !x->o.zero, 100 + k);
    }
    nbi_free(off);
    return s;
}

void nb_ddp_free(nb_ddp *x) {
    if (!x) return;
    if (x->th_on) {
        pthread_mutex_lock(&x->mu);
        x->stop = 1;
        pthread_cond_signal(&x->cv);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->th, NULL);
    }
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    for (int k = 0; x->b && k < x->nb; k++) {
        nbi_ring_free(&x->b[k].ring);
        nbi_free(x->b[k].counts);
    }
    nbi_free(x->b);
    nbi_free(x->param_off);
    nbi_free(x->param_bucket);
    nbi_free(x->shard_off);
    nbi_free(x->shard_counts);
    nbi_free(x->shard_displs);
    nbi_free(x->zrecv);
    nb_optim_free(x->full);
    nbi_free(x);
}

nb_status nb_ddp_new(nb_dist *d, nb_model *m, nb_optim *opt, const nb_ddp_opts *opts,
                     nb_ddp **out) {
    const char *fn = "nb_ddp_new";
    if (!out) return nbi_error(NB_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!d || !m || !opt)
        return nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn, !d ? "d" : !m ? "the model" : "opt");
    nb_ddp *x = nbi_malloc_for(fn, sizeof *x);
    if (!x) return NB_ERR_NOMEM;
    memset(x, 0, sizeof *x);
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    x->d = d;
    x->m = m;
    x->opt = opt;
    x->ps = nb_model_params(m);
    x->nparams = nb_params_len(x->ps);
    if (opts) x->o = *opts;
    if (x->o.bucket_bytes == 0) x->o.bucket_bytes = 256 << 10;
    if (x->o.deterministic) x->o.algo = NB_DIST_RING;
    if (x->o.timeout > 0) nb_dist_set_timeout(d, x->o.timeout);
    nb_status s = NB_OK;
    if (x->o.bucket_bytes < 0 || (unsigned)x->o.algo > NB_DIST_RING || !(x->o.timeout >= 0))
        s = nbi_error(NB_ERR_ARG, "%s: bucket_bytes and timeout must be >= 0, algo MPI or RING",
                      fn);
    /* an optimizer already sharded cannot be wrapped again */
    if (s == NB_OK && nb_optim_state_slots(opt) > 0) {
        int64_t n;
        nb_optim_state_buffer(opt, 0, &n);
        if (n != nb_params_numel(x->ps))
            s = nbi_error(NB_ERR_ARG,
                          "%s: the optimizer covers %lld of the model's %lld "
                          "parameters (already sharded, or another model's)",
                          fn, (long long)n, (long long)nb_params_numel(x->ps));
    }
    s = nb_dist_agree(d, s);
    if (s == NB_OK) s = check_same(x);
    if (s == NB_OK) s = broadcast_all(x);
    if (s == NB_OK) s = nb_dist_agree(d, plan(x));
    if (s == NB_OK && x->o.zero) s = nb_dist_agree(d, shard(x));
    if (s == NB_OK && x->o.algo == NB_DIST_RING) s = nb_dist_agree(d, rings(x));
    if (s == NB_OK && d->thread_multiple && d->size > 1 && want_progress_thread(x)) {
        x->th_on = pthread_create(&x->th, NULL, nbi_ddp_progress_main, x) == 0;
        if (!x->th_on) s = nbi_error(NB_ERR_STATE, "%s: cannot start the progress thread", fn);
    }
    if (s != NB_OK) {
        nb_ddp_free(x);
        return s;
    }
    nb_replicas *rp = &x->rp;
    rp->rank = d->rank;
    rp->size = d->size;
    rp->impl = x;
    rp->sync_bn = !x->o.no_sync_bn;
    nbi_ddp_set_functions(x);
    x->st.bytes = (int64_t)sizeof(float) * nb_params_numel(x->ps);
    *out = x;
    return NB_OK;
}

const nb_replicas *nb_ddp_replicas(nb_ddp *x) {
    return x ? &x->rp : NULL;
}

nb_status nb_ddp_fit(nb_ddp *x, const nb_dataset *train, const nb_fit_opts *opts,
                     nb_history *history) {
    if (!x) return nbi_error(NB_ERR_ARG, "nb_ddp_fit: the wrapper is NULL");
    nb_fit_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    o.replicas = &x->rp;
    if (o.state) { /* a resumed run continues from rank 0's state */
        nb_status s = nb_dist_bcast(x->d, o.state, sizeof *o.state);
        if (s != NB_OK) return s;
    }
    return nb_fit(x->m, x->opt, train, &o, history);
}

int nb_ddp_buckets(const nb_ddp *x, nb_ddp_bucket *b, int max) {
    if (!x) return 0;
    for (int k = 0; b && k < x->nb && k < max; k++)
        b[k] = (nb_ddp_bucket){x->b[k].lo, x->b[k].hi, x->b[k].first, x->b[k].last};
    return x->nb;
}

void nb_ddp_get_stats(const nb_ddp *x, nb_ddp_stats *st) {
    if (!x || !st) return;
    *st = x->st;
    int64_t n = 0;
    for (int k = 0; k < nb_optim_state_slots(x->opt); k++) {
        int64_t len;
        nb_optim_state_buffer(x->opt, k, &len);
        n += len;
    }
    st->optim_bytes = n * (int64_t)sizeof(float);
}

void nb_ddp_reset_stats(nb_ddp *x) {
    if (!x) return;
    const int64_t bytes = x->st.bytes;
    memset(&x->st, 0, sizeof x->st);
    x->st.bytes = bytes;
}
