/* tools/nabla/train_dist.c — `nabla train` on several processes (docs/distributed.md).
 *
 *     mpirun -np 4 nabla train SPEC ...        each process trains its shard of every batch
 *     srun -n 4 nabla train SPEC ...           the same under SLURM
 *     nabla train SPEC --dist-info             processes, bucket plan, all-reduce times
 *
 * In a build with MPI (make MPI=1) the processes form one data-parallel run (nabla/dist.h):
 * --batch is per process, process 0 alone prints progress and writes logs, plots,
 * checkpoints and the model, and a process that died or hangs makes the others stop within
 * --dist-timeout seconds. Without MPI, a process that finds itself started as one of several
 * refuses to run: each would train alone and all would write the same files. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#ifdef NB_HAVE_MPI
#include "nabla/dist.h"
#endif

/* The number of processes an MPI launcher (Open MPI, MPICH, SLURM) says this one belongs to;
 * 0 when not started by one. */
static int launched_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                       "MPI_LOCALNRANKS", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return getenv("PMIX_RANK") || getenv("PMI_RANK") ? 1 : 0;
}

#ifndef NB_HAVE_MPI

static const char *const dist_opts[] = {
    "dist-info", "zero", "deterministic", "no-sync-bn", "bucket-kb", "dist-timeout", NULL};

int cli_dist_start(const cli_args *a, cli_dist *cd) {
    memset(cd, 0, sizeof *cd);
    cd->size = 1;
    for (int i = 0; dist_opts[i]; i++)
        if (cli_get(a, dist_opts[i]))
            return cli_error(a, CLI_USAGE,
                             "--%s: this nabla was built without MPI; build it with "
                             "'make MPI=1' (Debian: libopenmpi-dev) for distributed training",
                             dist_opts[i]);
    if (launched_size() > 1)
        return cli_error(a, CLI_FAIL,
                         "started as one of %d processes, but this nabla was built without "
                         "MPI: each process would train alone and write the same files; build "
                         "it with 'make MPI=1' (Debian: libopenmpi-dev)",
                         launched_size());
    return CLI_OK;
}

int cli_dist_info(const cli_args *a, cli_dist *cd, nb_model *m, nb_optim *opt) {
    return cli_error(a, CLI_USAGE, "--dist-info needs a build with MPI (make MPI=1)");
}

int cli_dist_wrap(const cli_args *a, cli_dist *cd, nb_model *m, nb_optim *opt) {
    return CLI_OK;
}

nb_status cli_dist_fit(cli_dist *cd, nb_model *m, nb_optim *opt, const nb_dataset *train,
                       const nb_fit_opts *fo) {
    return nb_fit(m, opt, train, fo, NULL);
}

int cli_dist_reports(const cli_dist *cd, nb_status s) {
    return 1;
}

int cli_dist_end(cli_dist *cd, int rc) {
    return rc;
}

#else

int cli_dist_start(const cli_args *a, cli_dist *cd) {
    memset(cd, 0, sizeof *cd);
    cd->size = 1;
    double timeout = 300;
    int rc = cli_double(a, "dist-timeout", 1, 1e6, &timeout);
    if (rc != CLI_OK) return rc;
    if (launched_size() == 0 && !cli_flag(a, "dist-info")) return CLI_OK; /* one process */
    nb_dist *d;
    if (nb_dist_init(NULL, NULL, &d) != NB_OK) return cli_lib_error(a);
    nb_dist_set_timeout(d, timeout);
    cd->d = d;
    cd->rank = nb_dist_rank(d);
    cd->size = nb_dist_size(d);
    return CLI_OK;
}

static int ddp_opts(const cli_args *a, nb_ddp_opts *o) {
    memset(o, 0, sizeof *o);
    int64_t kb = 256;
    int rc = cli_int(a, "bucket-kb", 1, INT64_MAX / 1024, &kb);
    o->bucket_bytes = kb * 1024;
    o->zero = cli_flag(a, "zero");
    o->deterministic = cli_flag(a, "deterministic");
    o->no_sync_bn = cli_flag(a, "no-sync-bn");
    return rc;
}

int cli_dist_info(const cli_args *a, cli_dist *cd, nb_model *m, nb_optim *opt) {
    nb_dist *d = cd->d;
    nb_ddp_opts o;
    int rc = ddp_opts(a, &o);
    if (rc != CLI_OK) return rc;
    nb_ddp *ddp;
    if (nb_ddp_new(d, m, opt, &o, &ddp) != NB_OK) return cli_lib_error(a);
    /* every process's host, gathered through the broadcast of one name at a time */
    const int lead = cd->rank == 0;
    if (lead) printf("%d processes\n", cd->size);
    for (int r = 0; r < cd->size; r++) {
        char host[256];
        memset(host, 0, sizeof host);
        snprintf(host, sizeof host, "%s", nb_dist_host(d));
        /* rank r's name reaches rank 0 as a sum of its bytes, the others adding zeros */
        double v[256];
        for (int i = 0; i < 256; i++) v[i] = cd->rank == r ? (double)(unsigned char)host[i] : 0.0;
        if (nb_dist_sum(d, v, 256) != NB_OK) {
            nb_ddp_free(ddp);
            return cli_lib_error(a);
        }
        for (int i = 0; i < 256; i++) host[i] = (char)(int)v[i];
        host[255] = '\0';
        if (lead) printf("  rank %d on %s\n", r, host);
    }
    nb_ddp_bucket b[256];
    int nb = nb_ddp_buckets(ddp, b, 256);
    nb_params *ps = nb_model_params(m);
    nb_ddp_stats st;
    nb_ddp_get_stats(ddp, &st);
    if (lead) {
        printf("optimizer state on process 0: %lld bytes (%s, %d slot%s for %lld parameters%s)\n",
               (long long)st.optim_bytes, nb_optim_name(opt), nb_optim_state_slots(opt),
               nb_optim_state_slots(opt) == 1 ? "" : "s", (long long)nb_params_numel(ps),
               o.zero ? "; ZeRO-1: this process's shard" : "");
        printf("bucket plan: %d bucket%s of at least %lld KiB, sent last layer first (%s%s)\n", nb,
               nb == 1 ? "" : "s", (long long)(o.bucket_bytes / 1024),
               o.deterministic ? "ring, deterministic" : "MPI_Iallreduce",
               o.zero ? ", ZeRO-1" : "");
        for (int k = 0; k < nb && k < 256; k++)
            printf("  bucket %d: %8.1f KiB  %s .. %s\n", k,
                   (double)(b[k].hi - b[k].lo) * 4.0 / 1024.0, nb_params_at(ps, b[k].first)->name,
                   nb_params_at(ps, b[k].last)->name);
        printf("all-reduce of float32 (each time the slower process's; algbw = bytes / time, "
               "busbw = algbw * 2(N-1)/N):\n");
        printf("  %10s  %12s %10s %10s  %12s %10s\n", "bytes", "mpi time", "algbw", "busbw",
               "ring time", "busbw");
    }
    const double f = cd->size > 1 ? 2.0 * (cd->size - 1) / cd->size : 1.0;
    for (int64_t bytes = 4096; bytes <= ((int64_t)64 << 20); bytes *= 4) {
        double tm, tr;
        int reps = bytes <= (1 << 20) ? 20 : 3;
        if (nb_dist_time_allreduce(d, NB_DIST_MPI, bytes, reps, &tm) != NB_OK ||
            nb_dist_time_allreduce(d, NB_DIST_RING, bytes, reps, &tr) != NB_OK) {
            nb_ddp_free(ddp);
            return cli_lib_error(a);
        }
        if (lead)
            printf("  %10lld  %9.1f us %7.2f GB/s %6.2f GB/s  %9.1f us %6.2f GB/s\n",
                   (long long)bytes, tm * 1e6, bytes / tm / 1e9, bytes / tm / 1e9 * f, tr * 1e6,
                   bytes / tr / 1e9 * f);
    }
    nb_ddp_free(ddp);
    return CLI_OK;
}

int cli_dist_wrap(const cli_args *a, cli_dist *cd, nb_model *m, nb_optim *opt) {
    if (!cd->d) return CLI_OK;
    nb_ddp_opts o;
    int rc = ddp_opts(a, &o);
    if (rc != CLI_OK) return rc;
    nb_ddp *ddp;
    if (nb_ddp_new(cd->d, m, opt, &o, &ddp) != NB_OK) return CLI_FAIL; /* the caller reports */
    cd->ddp = ddp;
    return CLI_OK;
}

nb_status cli_dist_fit(cli_dist *cd, nb_model *m, nb_optim *opt, const nb_dataset *train,
                       const nb_fit_opts *fo) {
    if (!cd->ddp) return nb_fit(m, opt, train, fo, NULL);
    return nb_ddp_fit(cd->ddp, train, fo, NULL);
}

int cli_dist_reports(const cli_dist *cd, nb_status s) {
    if (cd->rank == 0 || !cd->d) return 1;
    if (nb_dist_broken(cd->d)) return 1;
    return !nb_dist_error_shared(cd->d) && s != NB_ERR_NUMERIC; /* a divergence is everyone's */
}

int cli_dist_end(cli_dist *cd, int rc) {
    nb_ddp_free(cd->ddp);
    cd->ddp = NULL;
    if (cd->d && nb_dist_broken(cd->d)) {
        fflush(stdout);
        fflush(stderr);
        nb_dist_abort(cd->d, rc ? rc : CLI_FAIL);
    }
    nb_dist_finalize(cd->d);
    cd->d = NULL;
    return rc;
}

#endif
