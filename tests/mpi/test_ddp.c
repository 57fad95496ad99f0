/* tests/mpi/test_ddp.c — data-parallel training over MPI, run by tests/mpi/run.sh under
 * `mpirun -np N` (1, 2 and 4 processes, oversubscribed). Every process runs every test; a test
 * passes when it passed on every process, and rank 0 prints the summary line.
 *
 * Equivalence: N processes with batch B train the same parameters as one process with batch
 * N·B (computed here, on each process, by plain nb_fit), for an MLP, a CNN with batch norm
 * (synchronised) and a sequence model (a bidirectional LSTM over [T, F] whose outputs are
 * averaged over time), after 20 steps, to 1e-6 relative (the largest difference against the largest
 * parameter); the metrics and validation too. The same with ZeRO-1 (and the optimizer state
 * per process 1/N of the whole), with the ring, and bit-identical across repeated runs with
 * the deterministic option. A model that differs on one process is refused at the start. */
#include "nbtest.h"
#include "nabla/dist.h"

#include <mpi.h>

static nb_dist *D;

enum { MLP, CNN, SEQ, KINDS };
static const char *const kind_name[KINDS] = {"mlp", "cnn+batchnorm", "seq(bi-lstm)"};

/* A dataset of n samples whose labels depend on the inputs (so there is something to learn). */
static nb_dataset *make_data(int kind, int64_t n, uint64_t seed) {
    const int64_t F = kind == MLP ? 20 : kind == CNN ? 64 : 3 * 16;
    float *x = malloc(sizeof(float) * (size_t)(n * F));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    nb_rng g;
    nb_rng_seed(&g, seed);
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t f = 0; f < F; f++) {
            x[i * F + f] = nb_rng_normal(&g, 0.0f, 1.0f);
            s += x[i * F + f] * (double)((f % 5) - 2);
        }
        y[i] = (int32_t)((s > 0) + 2 * (x[i * F] > 0.5f) + (x[i * F + 1] < -1.0f));
    }
    nb_array xa = {NB_ELEM_F32, 2, {n, F}, n * F, x}, ya = {NB_ELEM_I32, 1, {n}, n, y};
    if (kind == CNN) {
        xa.rank = 4;
        xa.shape[1] = 1, xa.shape[2] = 8, xa.shape[3] = 8;
    } else if (kind == SEQ) {
        xa.rank = 3;
        xa.shape[1] = 16, xa.shape[2] = 3;
    }
    nb_dataset *ds = NULL;
    nb_status s = nb_dataset_from_arrays(&xa, &ya, &ds);
    free(x);
    free(y);
    return s == NB_OK ? ds : NULL;
}

static nb_model *make_model(int kind, int wider) {
    nb_model *m;
    if (kind == MLP) {
        m = nb_model_new(NB_DIMS(20), 11);
        nb_model_dense(m, 32 + wider, NB_ACT_TANH);
        nb_model_dense(m, 5, NB_ACT_NONE);
    } else if (kind == CNN) {
        m = nb_model_new(NB_DIMS(1, 8, 8), 12);
        nb_model_conv2d(m, 4 + wider, 3, NB_ACT_NONE);
        nb_model_batch_norm(m);
        nb_model_activation(m, NB_ACT_RELU, 0);
        nb_model_max_pool2d(m, 2, 0);
        nb_model_flatten(m);
        nb_model_dense(m, 5, NB_ACT_NONE);
    } else {
        m = nb_model_new_graph(13);
        int x = nb_model_input(m, "x", NB_F32, NB_DIMS(16, 3));
        int h = nb_model_lstm_on(m, x, 6 + wider, &(nb_rnn_layer_opts){.bidirectional = 1});
        h = nb_model_global_avg_pool1d_on(m, h, NULL); /* y [16, 2·hidden] → [2·hidden] */
        h = nb_model_dense_on(m, h, 5, NULL);
        if (h < 0) {
            nb_model_free(m);
            return NULL;
        }
    }
    return m;
}

/* The sequence model's Adam decays its matrices only (two parameter groups: ZeRO-1's shards
 * cut across the runs of decaying and non-decaying parameters). */
static nb_optim *make_optim(int kind, nb_model *m) {
    if (kind == CNN)
        return nb_sgd_new(nb_model_params(m), &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9});
    if (kind == MLP) return nb_adam_new(nb_model_params(m), &(nb_adam_opts){.lr = 3e-3});
    nb_optim *o = nb_adam_new(nb_model_params(m), &(nb_adam_opts){.lr = 3e-3, .weight_decay = 0.1});
    if (o && nb_optim_set_decay(o, NB_DECAY_MATRICES) != NB_OK) {
        nb_optim_free(o);
        return NULL;
    }
    return o;
}

/* 150 training samples: 9 global batches of 16 and one of 6 (cut unevenly over 4 processes),
 * two epochs: 20 steps. */
enum { NTRAIN = 150, NVAL = 37, GLOBAL_BATCH = 16, EPOCHS = 2 };

typedef struct run_out {
    float *p; /* parameters, then state */
    int64_t n;
    nb_history h;
    nb_ddp_stats st;
} run_out;

static void run_free(run_out *o) {
    free(o->p);
    nb_history_free(&o->h);
}

static void keep(run_out *o, nb_model *m) {
    nb_params *ps = nb_model_params(m), *st = nb_model_state(m);
    int64_t a = nb_params_numel(ps), b = st ? nb_params_numel(st) : 0;
    o->n = a + b;
    o->p = malloc(sizeof(float) * (size_t)(o->n ? o->n : 1));
    memcpy(o->p, nb_params_data(ps), sizeof(float) * (size_t)a);
    if (b) memcpy(o->p + a, nb_params_data(st), sizeof(float) * (size_t)b);
}

static nb_fit_opts fit_opts(int64_t batch, const nb_dataset *val) {
    nb_fit_opts fo = {.epochs = EPOCHS,
                      .batch_size = batch,
                      .metrics = NB_METRIC_ACCURACY,
                      .seed = 21,
                      .val = val,
                      .val_batch_size = 10,
                      .verbose = NB_VERBOSE_QUIET};
    return fo;
}

/* One process, batch N·B: the reference. */
static void run_single(int kind, const nb_dataset *tr, const nb_dataset *va, run_out *o) {
    nb_model *m = make_model(kind, 0);
    nb_optim *opt = make_optim(kind, m);
    nb_fit_opts fo = fit_opts(GLOBAL_BATCH, va);
    memset(o, 0, sizeof *o);
    CHECK_OK(nb_fit(m, opt, tr, &fo, &o->h));
    keep(o, m);
    nb_optim_free(opt);
    nb_model_free(m);
}

/* N processes, batch B = 16 / N each. */
static void run_ddp(int kind, const nb_dataset *tr, const nb_dataset *va, const nb_ddp_opts *dopt,
                    run_out *o) {
    nb_model *m = make_model(kind, 0);
    nb_optim *opt = make_optim(kind, m);
    if (nb_dist_rank(D) != 0) /* different weights everywhere but rank 0: the broadcast fixes it */
        nb_init_apply(nb_params_at(nb_model_params(m), 0),
                      &(nb_init){.kind = NB_INIT_CONSTANT, .a = 0.5f}, 1, 1, 1, NULL);
    nb_ddp *ddp = NULL;
    memset(o, 0, sizeof *o);
    CHECK_OK(nb_ddp_new(D, m, opt, dopt, &ddp));
    nb_fit_opts fo = fit_opts(GLOBAL_BATCH / nb_dist_size(D), va);
    if (ddp) CHECK_OK(nb_ddp_fit(ddp, tr, &fo, &o->h));
    nb_ddp_get_stats(ddp, &o->st);
    keep(o, m);
    nb_ddp_free(ddp);
    nb_optim_free(opt);
    nb_model_free(m);
}

/* max |a − b| / max |b| */
static double rel_diff(const run_out *a, const run_out *b) {
    double d = 0.0, s = 0.0;
    for (int64_t i = 0; i < b->n; i++) {
        d = fmax(d, fabs((double)a->p[i] - (double)b->p[i]));
        s = fmax(s, fabs((double)b->p[i]));
    }
    return s > 0 ? d / s : d;
}

/* Every process holds the same bits. */
static int same_everywhere(const run_out *o) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *c = (const unsigned char *)o->p;
    for (size_t i = 0; i < sizeof(float) * (size_t)o->n; i++) h = (h ^ c[i]) * 1099511628211ull;
    uint64_t h0 = h;
    MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    return h0 == h;
}

static void equivalence(int kind, const nb_ddp_opts *dopt, const char *what) {
    nb_dataset *tr = make_data(kind, NTRAIN, 1), *va = make_data(kind, NVAL, 2);
    CHECK(tr && va);
    if (!tr || !va) return;
    run_out ref, got;
    run_single(kind, tr, va, &ref);
    run_ddp(kind, tr, va, dopt, &got);
    const double rd = rel_diff(&got, &ref);
    CHECK_MSG(got.n == ref.n && rd <= 1e-6,
              "%s %s, %d processes: parameters differ by %.3g "
              "(relative) from one process with the whole batch",
              kind_name[kind], what, nb_dist_size(D), rd);
    CHECK(same_everywhere(&got));
    CHECK(got.h.n == EPOCHS && ref.h.n == EPOCHS);
    for (int e = 0; e < got.h.n && e < ref.h.n; e++) {
        const nb_epoch_record *a = &got.h.rec[e], *b = &ref.h.rec[e];
        CHECK(a->step == b->step && a->train.count == b->train.count &&
              a->val.count == b->val.count);
        CHECK_CLOSE(a->train.loss, b->train.loss, 1e-6, 1e-5);
        CHECK_CLOSE(a->train.accuracy, b->train.accuracy, 1e-12, 0);
        CHECK_CLOSE(a->val.loss, b->val.loss, 1e-6, 1e-5);
        CHECK_CLOSE(a->val.accuracy, b->val.accuracy, 1e-12, 0);
    }
    CHECK(got.st.steps == EPOCHS * 10);
    if (nb_dist_rank(D) == 0)
        printf("   %s %s: %d processes, relative difference %.2g\n", kind_name[kind], what,
               nb_dist_size(D), rd);
    run_free(&ref);
    run_free(&got);
    nb_dataset_free(tr);
    nb_dataset_free(va);
}

static void test_equivalence_mpi(void) {
    for (int k = 0; k < KINDS; k++) equivalence(k, &(nb_ddp_opts){.bucket_bytes = 256}, "mpi");
    /* the progress thread moving the sums (off by default where no core is spare, as here),
     * and the hook and the final wait alone */
    equivalence(CNN, &(nb_ddp_opts){.bucket_bytes = 256, .progress_thread = 1},
                "mpi, progress thread");
    equivalence(MLP, &(nb_ddp_opts){.bucket_bytes = 256, .progress_thread = -1},
                "mpi, no progress thread");
    equivalence(CNN, &(nb_ddp_opts){.no_overlap = 1}, "mpi, not overlapped");
}

/* Per-process batch norm (PyTorch DDP's default): not the whole batch's statistics, but every
 * process ends with the same parameters and (rank 0's, broadcast) running statistics. */
static void test_per_process_batchnorm(void) {
    nb_dataset *tr = make_data(CNN, NTRAIN, 1), *va = make_data(CNN, NVAL, 2);
    run_out got;
    run_ddp(CNN, tr, va, &(nb_ddp_opts){.no_sync_bn = 1}, &got);
    CHECK(got.n > 0 && same_everywhere(&got));
    CHECK(got.h.n == EPOCHS && isfinite(got.h.rec[EPOCHS - 1].val.loss));
    run_free(&got);
    nb_dataset_free(tr);
    nb_dataset_free(va);
}

static void test_equivalence_ring(void) {
    for (int k = 0; k < KINDS; k++)
        equivalence(k, &(nb_ddp_opts){.algo = NB_DIST_RING, .bucket_bytes = 512}, "ring");
}

static void test_equivalence_zero(void) {
    for (int k = 0; k < KINDS; k++) {
        equivalence(k, &(nb_ddp_opts){.zero = 1, .bucket_bytes = 300}, "zero-1");
        equivalence(k, &(nb_ddp_opts){.zero = 1, .deterministic = 1}, "zero-1 ring");
    }
}

/* ZeRO-1 keeps 1/N of the optimizer state on each process (Adam: two slots). */
static void test_zero_memory(void) {
    nb_dataset *tr = make_data(MLP, NTRAIN, 1);
    run_out a, b;
    run_ddp(MLP, tr, NULL, &(nb_ddp_opts){0}, &a);
    run_ddp(MLP, tr, NULL, &(nb_ddp_opts){.zero = 1}, &b);
    const int64_t whole = 2 * 4 * (20 * 32 + 32 + 32 * 5 + 5), N = nb_dist_size(D);
    CHECK(a.st.optim_bytes == whole);
    CHECK_MSG(b.st.optim_bytes >= 4 * 2 * ((whole / 8) / N) &&
                  b.st.optim_bytes <= 4 * 2 * ((whole / 8 + N - 1) / N),
              "ZeRO-1: %lld bytes of optimizer state, the whole is %lld",
              (long long)b.st.optim_bytes, (long long)whole);
    double total = (double)b.st.optim_bytes;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    CHECK(total == (double)whole);
    CHECK(rel_diff(&b, &a) <= 1e-6);
    if (nb_dist_rank(D) == 0)
        printf("   optimizer state per process: %lld bytes, with ZeRO-1 %lld (%d processes)\n",
               (long long)a.st.optim_bytes, (long long)b.st.optim_bytes, (int)N);
    run_free(&a);
    run_free(&b);
    nb_dataset_free(tr);
}

/* The deterministic option: the same bits run after run. */
static void test_deterministic_repeats(void) {
    for (int k = 0; k < KINDS; k++) {
        nb_dataset *tr = make_data(k, NTRAIN, 1);
        run_out a, b;
        run_ddp(k, tr, NULL, &(nb_ddp_opts){.deterministic = 1, .bucket_bytes = 128}, &a);
        run_ddp(k, tr, NULL, &(nb_ddp_opts){.deterministic = 1, .bucket_bytes = 128}, &b);
        CHECK(a.n == b.n && memcmp(a.p, b.p, sizeof(float) * (size_t)a.n) == 0);
        CHECK(same_everywhere(&a));
        run_free(&a);
        run_free(&b);
        nb_dataset_free(tr);
    }
}

/* One process builds a wider first layer: every process is refused, with rank and sizes. */
static void test_mismatched_model_refused(void) {
    if (nb_dist_size(D) < 2) return;
    nb_model *m = make_model(MLP, nb_dist_rank(D) == 1);
    nb_optim *opt = make_optim(MLP, m);
    nb_ddp *ddp = (nb_ddp *)1;
    nb_status s = nb_ddp_new(D, m, opt, NULL, &ddp);
    CHECK(s == NB_ERR_ARG && ddp == NULL);
    CHECK_MSG(strstr(nb_last_error(), "rank 1's model") != NULL, "message: %s", nb_last_error());
    nb_optim_free(opt);
    nb_model_free(m);
}

/* The buckets cover the gradient buffer, end to start, whole parameters each. */
static void test_bucket_plan(void) {
    nb_model *m = make_model(CNN, 0);
    nb_optim *opt = make_optim(CNN, m);
    nb_ddp *ddp;
    CHECK_OK(nb_ddp_new(D, m, opt, &(nb_ddp_opts){.bucket_bytes = 40}, &ddp));
    nb_ddp_bucket b[16];
    int n = nb_ddp_buckets(ddp, b, 16);
    nb_params *ps = nb_model_params(m);
    CHECK(n >= 3 && n <= nb_params_len(ps));
    int64_t hi = nb_params_numel(ps);
    int last = nb_params_len(ps) - 1;
    for (int k = 0; k < n && k < 16; k++) {
        CHECK(b[k].hi == hi && b[k].last == last && b[k].lo < b[k].hi);
        CHECK(b[k].hi - b[k].lo >= 10 || b[k].first == 0);
        hi = b[k].lo;
        last = b[k].first - 1;
    }
    CHECK(hi == 0 && last == -1);
    nb_ddp_free(ddp);
    nb_optim_free(opt);
    nb_model_free(m);
}

static const nbt_case cases[] = {
    {"bucket_plan", test_bucket_plan},
    {"mismatched_model_refused", test_mismatched_model_refused},
    {"equivalence_mpi", test_equivalence_mpi},
    {"equivalence_ring", test_equivalence_ring},
    {"equivalence_zero", test_equivalence_zero},
    {"per_process_batchnorm", test_per_process_batchnorm},
    {"zero_memory", test_zero_memory},
    {"deterministic_repeats", test_deterministic_repeats},
};

int main(int argc, char **argv) {
    if (nb_dist_init(&argc, &argv, &D) != NB_OK) {
        fprintf(stderr, "nb_dist_init: %s\n", nb_last_error());
        return 1;
    }
    nb_dist_set_timeout(D, 60);
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0) continue;
        nbt_current = cases[i].name;
        nbt_fail_count = 0;
        double t0 = nb_time();
        cases[i].fn();
        int bad = nbt_fail_count > 0;
        MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (nb_dist_rank(D) == 0) {
            printf("%s %s (%d processes, %.2f s)\n", bad ? "FAIL" : "ok  ", cases[i].name,
                   nb_dist_size(D), nb_time() - t0);
            fflush(stdout);
        }
        bad ? failed++ : passed++;
    }
    if (nb_dist_rank(D) == 0) printf("%d passed, %d failed\n", passed, failed);
    nb_dist_finalize(D);
    return failed ? 1 : 0;
}
