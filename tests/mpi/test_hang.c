/* tests/mpi/test_hang.c — a process that hangs does not hang the others: under
 * `mpirun -np N` (N >= 2) the last process stops itself (SIGSTOP) in the middle of training;
 * every other one must fail within the timeout (2 s here) with NB_ERR_IO and a message saying
 * that another process died or hangs, and then ends the job (nb_dist_abort), as the nabla tool
 * does. tests/mpi/run.sh checks the message, the time it took and a non-zero exit. */
#define _POSIX_C_SOURCE 200809L
#include "nabla/dist.h"
#include "nbtest.h"

#include <signal.h>

static int stop_at_third(const nb_batch_info *b, void *user) {
    nb_dist *d = user;
    if (b->batch == 2 && nb_dist_rank(d) == nb_dist_size(d) - 1) raise(SIGSTOP);
    return 0;
}

int main(int argc, char **argv) {
    nb_dist *d;
    if (nb_dist_init(&argc, &argv, &d) != NB_OK || nb_dist_size(d) < 2) {
        fprintf(stderr, "test_hang: needs MPI and at least 2 processes\n");
        return 1;
    }
    enum { N = 256, F = 8 };
    static float x[N * F];
    static int32_t y[N];
    for (int i = 0; i < N * F; i++) x[i] = (float)((i * 7919) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < N; i++) y[i] = i % 3;
    nb_array xa = {NB_ELEM_F32, 2, {N, F}, N * F, x}, ya = {NB_ELEM_I32, 1, {N}, N, y};
    nb_dataset *ds = NULL;
    nb_dataset_from_arrays(&xa, &ya, &ds);
    nb_model *m = nb_model_new(NB_DIMS(F), 3);
    nb_model_dense(m, 16, NB_ACT_RELU);
    nb_model_dense(m, 3, NB_ACT_NONE);
    nb_optim *opt = nb_sgd_new(nb_model_params(m), NULL);
    nb_ddp *ddp = NULL;
    nb_status s = nb_ddp_new(d, m, opt, &(nb_ddp_opts){.timeout = 2}, &ddp);
    const double t0 = nb_time();
    if (s == NB_OK) {
        nb_fit_opts fo = {.epochs = 50,
                          .batch_size = 8,
                          .on_batch = stop_at_third,
                          .hook_user = d,
                          .verbose = NB_VERBOSE_QUIET};
        s = nb_ddp_fit(ddp, ds, &fo, NULL);
    }
    const double dt = nb_time() - t0;
    printf("rank %d: status %s after %.1f s, broken %d: %s\n", nb_dist_rank(d), nb_status_str(s),
           dt, nb_dist_broken(d), nb_last_error());
    fflush(stdout);
    const int ok = s == NB_ERR_IO && nb_dist_broken(d) && dt < 30 &&
                   strstr(nb_last_error(), "has died or hangs") != NULL;
    printf("rank %d: %s\n", nb_dist_rank(d), ok ? "hang detected" : "HANG NOT DETECTED");
    fflush(stdout);
    nb_dist_abort(d, ok ? 3 : 4); /* ends the stopped process too */
    return 1;
}
