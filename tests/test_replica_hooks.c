/* tests/test_replica_hooks.c — the hooks a data-parallel run uses, tested without MPI: two
 * threads stand for two replicas, each with its own context, and a sum across "replicas" is a
 * barrier and a shared table. Synchronised batch normalisation (nb_ctx_set_sum) over two
 * halves of a batch must give the outputs, input gradients and running statistics of one
 * batch-norm over the whole batch, and the halves' parameter gradients must add up to the
 * whole batch's. */
#define _POSIX_C_SOURCE 200809L /* pthread barriers */
#include "nbtest.h"

#include <pthread.h>

enum { R = 2, NB = 8, C = 3, H = 4, W = 5 };

/* The sum across replicas: each writes its vector, all wait, each adds the vectors in replica
 * order (the same bits everywhere), all wait again before the table is reused. */
typedef struct shared {
    pthread_barrier_t bar;
    double v[R][64];
    int calls[R];
} shared;

typedef struct replica {
    shared *sh;
    int r;
    const float *x, *dy; /* the whole batch, and the upstream gradient */
    float y[NB * C * H * W / R], dx[NB * C * H * W / R];
    float dw[C], db[C], rm[C], rv[C];
    nb_status st;
} replica;

static nb_status sum_hook(double *v, int64_t n, void *user) {
    replica *rp = user;
    shared *sh = rp->sh;
    if (n > 64) return NB_ERR_ARG;
    memcpy(sh->v[rp->r], v, (size_t)n * sizeof *v);
    sh->calls[rp->r]++;
    pthread_barrier_wait(&sh->bar);
    for (int64_t i = 0; i < n; i++) {
        double t = 0.0;
        for (int k = 0; k < R; k++) t += sh->v[k][i];
        v[i] = t;
    }
    pthread_barrier_wait(&sh->bar);
    return NB_OK;
}

/* Batch norm in training mode over x[lo, lo + n) (samples), backward from dy. */
static nb_status run_bn(nb_ctx *ctx, const float *x, const float *dy, int64_t lo, int64_t n,
                        float *y, float *dx, float *dw, float *db, float *rm, float *rv) {
    const int64_t per = C * H * W;
    nb_tensor *xt = nb_tensor_from(ctx, NB_F32, (float *)x + lo * per, NB_DIMS(n, C, H, W));
    nb_tensor *w = nb_full(NULL, NB_DIMS(C), 1.25f), *b = nb_full(NULL, NB_DIMS(C), -0.5f);
    nb_tensor *rmt = nb_tensor_from(ctx, NB_F32, rm, NB_DIMS(C));
    nb_tensor *rvt = nb_tensor_from(ctx, NB_F32, rv, NB_DIMS(C));
    nb_tensor_set_requires_grad(xt, 1);
    nb_tensor_set_requires_grad(w, 1);
    nb_tensor_set_requires_grad(b, 1);
    nb_tensor *yt = nb_batch_norm(ctx, xt, w, b, rmt, rvt, 1, 0.1f, 1e-5f);
    nb_tensor *g = nb_tensor_from(ctx, NB_F32, (float *)dy + lo * per, NB_DIMS(n, C, H, W));
    nb_status s = yt ? nb_backward_with(ctx, yt, g) : nb_ctx_status(ctx);
    if (s == NB_OK) {
        memcpy(y, yt->data, sizeof(float) * (size_t)(n * per));
        memcpy(dx, xt->grad->data, sizeof(float) * (size_t)(n * per));
        memcpy(dw, w->grad->data, sizeof(float) * C);
        memcpy(db, b->grad->data, sizeof(float) * C);
    }
    nb_tensor_free(w);
    nb_tensor_free(b);
    return s;
}

static void *replica_main(void *arg) {
    replica *rp = arg;
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_ctx_set_sum(ctx, sum_hook, rp);
    for (int c = 0; c < C; c++) rp->rm[c] = 0.0f, rp->rv[c] = 1.0f;
    rp->st = ctx ? run_bn(ctx, rp->x, rp->dy, rp->r * (NB / R), NB / R, rp->y, rp->dx, rp->dw,
                          rp->db, rp->rm, rp->rv)
                 : NB_ERR_NOMEM;
    nb_ctx_free(ctx);
    return NULL;
}

static void test_sync_batchnorm_equals_whole_batch(void) {
    static float x[NB * C * H * W], dy[NB * C * H * W];
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    for (int i = 0; i < NB * C * H * W; i++) {
        x[i] = nb_rng_normal(&rng, 0.3f, 1.7f) + (float)(i % C); /* channels differ */
        dy[i] = nb_rng_normal(&rng, 0.0f, 1.0f);
    }
    /* the whole batch in one op */
    static float y[NB * C * H * W], dx[NB * C * H * W];
    float dw[C], db[C], rm[C] = {0, 0, 0}, rv[C] = {1, 1, 1};
    nb_ctx *ctx = nb_ctx_new(NULL);
    CHECK_OK(run_bn(ctx, x, dy, 0, NB, y, dx, dw, db, rm, rv));
    nb_ctx_free(ctx);

    /* two replicas of half the batch each */
    static shared sh;
    memset(&sh, 0, sizeof sh);
    pthread_barrier_init(&sh.bar, NULL, R);
    static replica rp[R];
    pthread_t th[R];
    for (int k = 0; k < R; k++) {
        memset(&rp[k], 0, sizeof rp[k]);
        rp[k].sh = &sh;
        rp[k].r = k;
        rp[k].x = x;
        rp[k].dy = dy;
        pthread_create(&th[k], NULL, replica_main, &rp[k]);
    }
    for (int k = 0; k < R; k++) pthread_join(th[k], NULL);
    pthread_barrier_destroy(&sh.bar);
    const int half = NB * C * H * W / R;
    for (int k = 0; k < R; k++) {
        CHECK_OK(rp[k].st);
        CHECK(sh.calls[k] == 3); /* Σx and M, Σ(x − μ)², then Σdy and Σdy x̂ */
        for (int i = 0; i < half; i++) {
            CHECK_CLOSE(rp[k].y[i], y[k * half + i], 1e-6, 1e-6);
            CHECK_CLOSE(rp[k].dx[i], dx[k * half + i], 1e-6, 1e-5);
        }
        for (int c = 0; c < C; c++) { /* the same running statistics on every replica */
            CHECK_CLOSE(rp[k].rm[c], rm[c], 1e-7, 1e-6);
            CHECK_CLOSE(rp[k].rv[c], rv[c], 1e-7, 1e-6);
        }
    }
    for (int c = 0; c < C; c++) { /* the parameters' gradients: each replica's share */
        CHECK_CLOSE(rp[0].dw[c] + rp[1].dw[c], dw[c], 1e-5, 1e-5);
        CHECK_CLOSE(rp[0].db[c] + rp[1].db[c], db[c], 1e-5, 1e-5);
    }
    /* without the hook, the halves are normalised on their own: the outputs differ */
    ctx = nb_ctx_new(NULL);
    static float y0[NB * C * H * W / R], dx0[NB * C * H * W / R];
    float w0[C], b0[C], rm0[C] = {0, 0, 0}, rv0[C] = {1, 1, 1};
    CHECK_OK(run_bn(ctx, x, dy, 0, NB / R, y0, dx0, w0, b0, rm0, rv0));
    double diff = 0.0;
    for (int i = 0; i < half; i++) diff += fabs((double)y0[i] - (double)y[i]);
    CHECK(diff > 1e-3);
    nb_ctx_free(ctx);
}

static const nbt_case cases[] = {
    {"sync_batchnorm_equals_whole_batch", test_sync_batchnorm_equals_whole_batch},
};
NBT_MAIN(cases)
