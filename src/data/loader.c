/* data/loader.c — mini-batches from a dataset: per-epoch order (shuffled from an explicit
 * RNG), batch assembly, an optional prefetch thread, and sharding for data-parallel runs (each
 * of N loaders takes its part of every global batch of the same order).
 *
 * Two batch buffers ("slots") are made once, at creation; assembling a batch writes into a
 * slot, a context's arena or the caller's tensors, so a running loader never allocates.
 *
 * Prefetch: one worker thread fills slot (b mod 2) with batch b while the caller trains on
 * batch b - 1. Every hand-over goes through one mutex and condition variable:
 *   worker:    EMPTY -> FILLING (claims batch `produce`), fills without the lock, -> READY
 *   consumer:  waits for READY with the batch it wants -> INUSE -> EMPTY when done with it
 *   epoch:     stops production, waits until the worker is idle, reorders, restarts it.
 * The worker reads `order` and the dataset only for a batch it claimed under the lock, after
 * the epoch that wrote them released it, so there is no data race (the tests run it under
 * ThreadSanitizer). */
#include "data/data.h"
#include "autograd/autograd.h"
#include "tensor/tensor.h"

#include <pthread.h>
#include <string.h>

enum { SLOT_EMPTY, SLOT_FILLING, SLOT_READY, SLOT_INUSE };

typedef struct slot {
    float *x; /* batch_size x features */
    void *y;  /* batch_size x y_dim (i32 or f32), or NULL */
    nb_tensor tx, ty;
    int state;
    int64_t batch; /* which batch of the epoch it holds */
} slot;

struct nb_loader {
    nb_dataset *ds; /* our own reference to the samples */
    nb_dataset_info info;
    nb_norm norm;        /* a copy; kind NONE when there is none */
    nb_norm target_norm; /* the same for f32 targets */
    int64_t B;
    int64_t shards, shard; /* this loader's part of each global batch of shards * B */
    int shuffle, drop_last, flatten, prefetch;
    int64_t nbatches;
    int64_t *order; /* the epoch's sample order */
    int started;
    int64_t consume; /* the next batch to hand out */
    slot slot[2];
    int held; /* the slot handed out as loader-owned tensors, or -1 */
    /* prefetch */
    pthread_t th;
    int th_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, busy;
    int64_t produce; /* the next batch the worker will build */
};

/* Global batch b covers order[b·G, b·G + L), G = shards·B; this shard takes
 * [L·shard/shards, L·(shard+1)/shards) of it. *global gets L. */
static int64_t shard_range(const nb_loader *ld, int64_t b, int64_t *first, int64_t *global) {
    const int64_t G = ld->shards * ld->B, left = ld->info.n - b * G;
    const int64_t L = left < G ? left : G;
    const int64_t lo = L * ld->shard / ld->shards, hi = L * (ld->shard + 1) / ld->shards;
    if (first) *first = b * G + lo;
    if (global) *global = L;
    return hi - lo;
}

static int64_t batch_size_of(const nb_loader *ld, int64_t b) {
    return shard_range(ld, b, NULL, NULL);
}

static void fill(nb_loader *ld, int64_t b, float *x, void *y) {
    int64_t first;
    const int64_t n = shard_range(ld, b, &first, NULL);
    nb_status st = nb_dataset_gather(ld->ds, ld->order + first, n,
                                     ld->norm.kind != NB_NORM_NONE ? &ld->norm : NULL, x, y);
    if (st == NB_OK && y && ld->target_norm.kind != NB_NORM_NONE)
        st = nb_norm_apply(&ld->target_norm, y, n, ld->info.y_dim);
    NBI_ASSERT(st == NB_OK); /* indices and normalisations were checked at creation */
}

/* The batch's x and y shapes for `size` samples. */
static int x_shape(const nb_loader *ld, int64_t size, int64_t *shape) {
    shape[0] = size;
    if (ld->flatten || ld->info.sample_rank == 0) {
        if (ld->flatten) {
            shape[1] = ld->info.features;
            return 2;
        }
        return 1;
    }
    for (int i = 0; i < ld->info.sample_rank; i++) shape[1 + i] = ld->info.sample_shape[i];
    return 1 + ld->info.sample_rank;
}

static int y_shape(const nb_loader *ld, int64_t size, int64_t *shape) {
    shape[0] = size;
    for (int i = 0; i < ld->info.y_rank; i++) shape[1 + i] = ld->info.y_shape[i];
    return 1 + ld->info.y_rank;
}

static void set_view(nb_tensor *t, void *data, nb_dtype dt, int rank, const int64_t *shape) {
    memset(t, 0, sizeof *t);
    t->data = data;
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    nbi_set_contiguous(t);
    t->flags = NB_TF_BORROWED;
}

static void *worker(void *arg) {
    nb_loader *ld = arg;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        while (!ld->stop &&
               !(ld->produce < ld->nbatches && ld->slot[ld->produce % 2].state == SLOT_EMPTY))
            pthread_cond_wait(&ld->cv, &ld->mu);
        if (ld->stop) break;
        int64_t b = ld->produce++;
        slot *s = &ld->slot[b % 2];
        s->state = SLOT_FILLING;
        ld->busy = 1;
        pthread_mutex_unlock(&ld->mu);
        fill(ld, b, s->x, s->y);
        pthread_mutex_lock(&ld->mu);
        s->batch = b;
        s->state = SLOT_READY;
        ld->busy = 0;
        pthread_cond_broadcast(&ld->cv);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

void nb_loader_free(nb_loader *ld) {
    if (!ld) return;
    if (ld->th_started) {
        pthread_mutex_lock(&ld->mu);
        ld->stop = 1;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
        pthread_join(ld->th, NULL);
    }
    if (ld->prefetch) {
        pthread_cond_destroy(&ld->cv);
        pthread_mutex_destroy(&ld->mu);
    }
    for (int k = 0; k < 2; k++) {
        nbi_free(ld->slot[k].x);
        nbi_free(ld->slot[k].y);
    }
    nbi_free(ld->order);
    nb_norm_free(&ld->norm);
    nb_norm_free(&ld->target_norm);
    nb_dataset_free(ld->ds);
    nbi_free(ld);
}

nb_status nb_loader_new(const nb_dataset *ds, const nb_loader_opts *opts, nb_loader **out) {
    if (!out) return nbi_error(NB_ERR_ARG, "nb_loader_new: out is NULL");
    *out = NULL;
    if (!ds || !opts) return nbi_error(NB_ERR_ARG, "nb_loader_new: the dataset or opts is NULL");
    if (opts->batch_size < 1)
        return nbi_error(NB_ERR_ARG, "nb_loader_new: batch_size %lld must be at least 1",
                         (long long)opts->batch_size);
    nb_dataset_info info;
    nb_dataset_get_info(ds, &info);
    if (opts->norm) {
        nb_status st = nbi_norm_check(opts->norm, info.features, "nb_loader_new");
        if (st) return st;
    }
    if (opts->target_norm && opts->target_norm->kind != NB_NORM_NONE) {
        if (!info.has_y || info.y_dtype != NB_F32)
            return nbi_error(NB_ERR_ARG,
                             "nb_loader_new: a target normalisation needs f32 "
                             "targets; the dataset has %s",
                             info.has_y ? "class labels" : "no y");
        nb_status st = nbi_norm_check(opts->target_norm, info.y_dim, "nb_loader_new (targets)");
        if (st) return st;
    }
    if (opts->shards < 0 || opts->shard < 0 || (opts->shards > 1 && opts->shard >= opts->shards) ||
        (opts->shards <= 1 && opts->shard != 0))
        return nbi_error(NB_ERR_ARG, "nb_loader_new: shard %d of %d: need 0 <= shard < shards",
                         opts->shard, opts->shards);
    int64_t B = opts->batch_size;
    const int64_t shards = opts->shards > 1 ? opts->shards : 1;
    if (B > INT64_MAX / shards)
        return nbi_error(NB_ERR_ARG, "nb_loader_new: batch_size %lld x %lld shards overflows",
                         (long long)B, (long long)shards);
    const int64_t G = B * shards; /* the global batch */
    /* No batch holds more than the dataset: a batch size far above it (a user's "all at
     * once") costs the samples that are there, not batch_size rows. */
    int64_t rows = B < info.n ? B : info.n > 0 ? info.n : 1;
    size_t xb, yb = 0, ob;
    if (!nbi_mul_size((size_t)rows, (size_t)info.features * sizeof(float), &xb) ||
        (info.has_y && !nbi_mul_size((size_t)rows, (size_t)info.y_dim * 4, &yb)) ||
        !nbi_mul_size((size_t)info.n, sizeof(int64_t), &ob))
        return nbi_error(NB_ERR_ARG, "nb_loader_new: batch_size %lld is too large", (long long)B);
    nb_loader *ld = nbi_malloc(sizeof *ld);
    if (!ld) return nbi_error(NB_ERR_NOMEM, "nb_loader_new: out of memory");
    memset(ld, 0, sizeof *ld);
    ld->info = info;
    ld->B = B;
    ld->shuffle = opts->shuffle;
    ld->drop_last = opts->drop_last;
    ld->flatten = opts->flatten;
    ld->held = -1;
    ld->shards = shards;
    ld->shard = shards > 1 ? opts->shard : 0;
    ld->nbatches = opts->drop_last ? info.n / G : info.n / G + (info.n % G >= shards);
    ld->produce = ld->nbatches; /* the worker waits for the first epoch */
    nb_status st = NB_OK;
    ld->ds = nbi_dataset_ref(ds);
    if (!ld->ds) st = NB_ERR_NOMEM;
    if (!st && opts->norm && opts->norm->kind != NB_NORM_NONE)
        st = nb_norm_set(&ld->norm, opts->norm->kind, opts->norm->per_feature, opts->norm->n,
                         opts->norm->shift, opts->norm->div);
    const nb_norm *tn = opts->target_norm;
    if (!st && tn && tn->kind != NB_NORM_NONE)
        st = nb_norm_set(&ld->target_norm, tn->kind, tn->per_feature, tn->n, tn->shift, tn->div);
    if (!st) {
        ld->order = nbi_malloc(ob ? ob : 1);
        for (int k = 0; k < 2; k++) {
            ld->slot[k].x = nbi_malloc(xb);
            if (info.has_y) ld->slot[k].y = nbi_malloc(yb ? yb : 1);
        }
        if (!ld->order || !ld->slot[0].x || !ld->slot[1].x ||
            (info.has_y && (!ld->slot[0].y || !ld->slot[1].y)))
            st = nbi_error(NB_ERR_NOMEM, "nb_loader_new: out of memory for batches of %lld",
                           (long long)B);
    }
    if (!st && opts->prefetch) {
        if (pthread_mutex_init(&ld->mu, NULL) != 0) {
            st = nbi_error(NB_ERR_STATE, "nb_loader_new: cannot create a mutex");
        } else if (pthread_cond_init(&ld->cv, NULL) != 0) {
            pthread_mutex_destroy(&ld->mu);
            st = nbi_error(NB_ERR_STATE, "nb_loader_new: cannot create a condition variable");
        } else {
            ld->prefetch = 1;
            if (pthread_create(&ld->th, NULL, worker, ld) != 0)
                st = nbi_error(NB_ERR_STATE, "nb_loader_new: cannot start the prefetch thread");
            else
                ld->th_started = 1;
        }
    }
    if (st) {
        nb_loader_free(ld);
        return st;
    }
    *out = ld;
    return NB_OK;
}

int64_t nb_loader_num_batches(const nb_loader *ld) {
    return ld ? ld->nbatches : 0;
}

nb_status nb_loader_epoch(nb_loader *ld, nb_rng *rng) {
    if (!ld) return nbi_error(NB_ERR_ARG, "nb_loader_epoch: the loader is NULL");
    if (ld->shuffle && !rng)
        return nbi_error(NB_ERR_ARG, "nb_loader_epoch: a shuffling loader needs an rng");
    if (ld->prefetch) {
        pthread_mutex_lock(&ld->mu);
        ld->produce = ld->nbatches; /* no new batches of the old epoch */
        while (ld->busy) pthread_cond_wait(&ld->cv, &ld->mu);
    }
    /* The order depends only on the rng's state: identity, then Fisher-Yates. */
    for (int64_t i = 0; i < ld->info.n; i++) ld->order[i] = i;
    if (ld->shuffle) nb_rng_shuffle_i64(rng, ld->order, ld->info.n);
    ld->slot[0].state = ld->slot[1].state = SLOT_EMPTY;
    ld->held = -1;
    ld->consume = 0;
    ld->started = 1;
    if (ld->prefetch) {
        ld->produce = 0;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
    }
    return NB_OK;
}

/* Gives back the slot handed out by the previous call. */
static void release_held(nb_loader *ld) {
    if (ld->held < 0) return;
    if (ld->prefetch) {
        pthread_mutex_lock(&ld->mu);
        ld->slot[ld->held].state = SLOT_EMPTY;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
    }
    ld->held = -1;
}

/* The slot holding batch b, ready to read (prefetch) or freshly filled (slot 0 without). */
static slot *take(nb_loader *ld, int64_t b) {
    if (!ld->prefetch) {
        fill(ld, b, ld->slot[0].x, ld->slot[0].y);
        return &ld->slot[0];
    }
    slot *s = &ld->slot[b % 2];
    pthread_mutex_lock(&ld->mu);
    while (!(s->state == SLOT_READY && s->batch == b)) pthread_cond_wait(&ld->cv, &ld->mu);
    s->state = SLOT_INUSE;
    pthread_mutex_unlock(&ld->mu);
    return s;
}

static void give_back(nb_loader *ld, slot *s) {
    if (!ld->prefetch) return;
    pthread_mutex_lock(&ld->mu);
    s->state = SLOT_EMPTY;
    pthread_cond_broadcast(&ld->cv);
    pthread_mutex_unlock(&ld->mu);
}

static nb_status begin(nb_loader *ld, const char *what, int64_t *b) {
    if (!ld->started)
        return nbi_error(NB_ERR_STATE, "%s: no epoch has started; call nb_loader_epoch first",
                         what);
    release_held(ld);
    *b = ld->consume < ld->nbatches ? ld->consume++ : -1;
    return NB_OK;
}

nb_status nb_loader_next(nb_loader *ld, nb_ctx *ctx, nb_batch *out) {
    if (!ld || !out) return nbi_error(NB_ERR_ARG, "nb_loader_next: the loader or batch is NULL");
    memset(out, 0, sizeof *out);
    int64_t b;
    nb_status st = begin(ld, "nb_loader_next", &b);
    if (st) return st;
    if (b < 0) {
        out->index = ld->nbatches;
        return NB_OK;
    }
    int64_t global, xs[NB_MAX_RANK], ys[NB_MAX_RANK];
    int64_t size = shard_range(ld, b, NULL, &global);
    int xr = x_shape(ld, size, xs), yr = y_shape(ld, size, ys);
    nb_dtype ydt = ld->info.y_dtype;
    out->size = size;
    out->index = b;
    out->global = global;
    if (!ctx) {
        slot *s = take(ld, b);
        ld->held = (int)(s - ld->slot);
        set_view(&s->tx, s->x, NB_F32, xr, xs);
        out->x = &s->tx;
        if (ld->info.has_y) {
            set_view(&s->ty, s->y, ydt, yr, ys);
            out->y = &s->ty;
        }
        return NB_OK;
    }
    out->x = nb_tensor_new(ctx, NB_F32, xr, xs);
    if (ld->info.has_y) out->y = nb_tensor_new(ctx, ydt, yr, ys);
    if (!out->x || (ld->info.has_y && !out->y)) {
        if (ld->prefetch) give_back(ld, take(ld, b)); /* keep the pipeline moving */
        memset(out, 0, sizeof *out);
        return nb_ctx_status(ctx) ? nb_ctx_status(ctx) : NB_ERR_NOMEM;
    }
    if (!ld->prefetch) {
        fill(ld, b, out->x->data, out->y ? out->y->data : NULL);
        return NB_OK;
    }
    slot *s = take(ld, b);
    memcpy(out->x->data, s->x, (size_t)(size * ld->info.features) * sizeof(float));
    if (out->y) memcpy(out->y->data, s->y, (size_t)(size * ld->info.y_dim) * 4);
    give_back(ld, s);
    return NB_OK;
}

nb_status nb_loader_next_into(nb_loader *ld, nb_tensor *x, nb_tensor *y, int64_t *size) {
    if (!ld || !x || !size)
        return nbi_error(NB_ERR_ARG, "nb_loader_next_into: the loader, x or size is NULL");
    *size = 0;
    int64_t F = ld->info.features;
    if (x->dtype != NB_F32 || !nb_tensor_is_contiguous(x) || x->numel != ld->B * F)
        return nbi_error(NB_ERR_SHAPE,
                         "nb_loader_next_into: x must be a contiguous f32 tensor "
                         "of batch_size x features = %lld x %lld elements (it has %lld)",
                         (long long)ld->B, (long long)F, (long long)x->numel);
    if (y && ld->info.has_y &&
        (y->dtype != ld->info.y_dtype || !nb_tensor_is_contiguous(y) ||
         y->numel != ld->B * ld->info.y_dim))
        return nbi_error(NB_ERR_SHAPE,
                         "nb_loader_next_into: y must be a contiguous %s tensor "
                         "of %lld elements",
                         ld->info.y_dtype == NB_I32 ? "i32" : "f32",
                         (long long)(ld->B * ld->info.y_dim));
    int64_t b;
    nb_status st = begin(ld, "nb_loader_next_into", &b);
    if (st || b < 0) return st;
    int64_t n = batch_size_of(ld, b);
    void *yd = y && ld->info.has_y ? y->data : NULL;
    if (!ld->prefetch) {
        fill(ld, b, x->data, yd);
    } else {
        slot *s = take(ld, b);
        memcpy(x->data, s->x, (size_t)(n * F) * sizeof(float));
        if (yd) memcpy(yd, s->y, (size_t)(n * ld->info.y_dim) * 4);
        give_back(ld, s);
    }
    *size = n;
    return NB_OK;
}
