/* dist/dist.c — the process group of a data-parallel run over MPI: start and end, rank and
 * size, and the small collectives that keep replicas in step (broadcast, a sum added up in
 * rank order, agreeing on a status). Every wait has a deadline: MPI itself waits forever for
 * a process that died or hangs, so every operation here is non-blocking and polled
 * (nbi_dist_poll) until it completes or the deadline passes, which marks the group broken. */
#define _POSIX_C_SOURCE 200809L
#include "dist/dist.h"

#include <limits.h>
#include <sched.h>
#include <string.h>
#include <time.h>

uint64_t nbi_fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

void nbi_even_cuts(int64_t n, int parts, int64_t *off) {
    /* floor(n·j/parts) without overflowing: n = q·parts + r */
    const int64_t q = n / parts, r = n % parts;
    for (int j = 0; j <= parts; j++) off[j] = q * j + r * j / parts;
}

nb_status nbi_dist_mpi_error(int rc, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", rc);
    return nbi_error(NB_ERR_IO, "%s: MPI error: %s", what, text);
}

nb_status nb_dist_init(int *argc, char ***argv, nb_dist **out) {
    const char *fn = "nb_dist_init";
    if (!out) return nbi_error(NB_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    int started = 0, ended = 0;
    MPI_Initialized(&started);
    MPI_Finalized(&ended);
    if (ended) return nbi_error(NB_ERR_STATE, "%s: MPI was already finalised", fn);
    int we_init = 0, provided = MPI_THREAD_SINGLE;
    if (!started) {
        /* several threads may call MPI at once: the training thread and nb_ddp's progress
         * thread, which moves gradient sums along while backward computes */
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
        if (rc != MPI_SUCCESS) return nbi_dist_mpi_error(rc, fn);
        we_init = 1;
    } else {
        MPI_Query_thread(&provided);
    }
    nb_dist *d = nbi_malloc_for(fn, sizeof *d);
    if (!d) {
        if (we_init) MPI_Finalize();
        return NB_ERR_NOMEM;
    }
    memset(d, 0, sizeof *d);
    d->we_init = we_init;
    d->thread_multiple = provided >= MPI_THREAD_MULTIPLE;
    d->timeout = 300.0;
    MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    MPI_Comm_dup(MPI_COMM_WORLD, &d->ring_comm);
    /* errors come back as codes, turned into messages, instead of ending the job */
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(d->ring_comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    MPI_Comm node;
    d->node_size = 1;
    if (MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_size(node, &d->node_size);
        MPI_Comm_free(&node);
    }
    int len = 0;
    MPI_Get_processor_name(d->host, &len);
    d->host[len < 0 ? 0 : len] = '\0';
    *out = d;
    return NB_OK;
}

void nb_dist_finalize(nb_dist *d) {
    if (!d) return;
    if (!d->broken) { /* a broken group's communicators cannot be freed collectively */
        MPI_Comm_free(&d->ring_comm);
        MPI_Comm_free(&d->comm);
    }
    const int we_init = d->we_init && !d->broken;
    nbi_free(d->scratch);
    nbi_free(d);
    if (we_init) MPI_Finalize();
}

int nb_dist_rank(const nb_dist *d) {
    return d ? d->rank : 0;
}
int nb_dist_size(const nb_dist *d) {
    return d ? d->size : 1;
}
const char *nb_dist_host(const nb_dist *d) {
    return d ? d->host : "";
}
int nb_dist_broken(const nb_dist *d) {
    return d ? d->broken : 0;
}
int nb_dist_error_shared(const nb_dist *d) {
    return d ? d->shared : 0;
}

void nb_dist_abort(nb_dist *d, int code) {
    MPI_Abort(d ? d->comm : MPI_COMM_WORLD, code);
}

void nb_dist_set_timeout(nb_dist *d, double seconds) {
    if (d && seconds > 0) d->timeout = seconds;
}

/* ---- waiting with a deadline ------------------------------------------------------------ */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

nb_status nbi_dist_poll(nb_dist *d, nbi_poll_fn progress, void *arg, const char *what) {
    if (d->broken)
        return nbi_error(NB_ERR_IO,
                         "%s: an earlier operation timed out; the processes are no "
                         "longer in step",
                         what);
    const double t0 = now();
    for (;;) {
        int done = progress(arg);
        if (done < 0) return nbi_error(NB_ERR_IO, "%s: %s", what, nb_last_error());
        if (done) return NB_OK;
        /* MPI moves large messages only while it is called: poll hard, yielding the core
         * (another process on it may be the one we wait for), for the first 0.1 s; then
         * sleep 100 µs between polls, and 1 ms after 5 s, so that a long wait leaves the
         * cores to the others */
        const double waited = now() - t0;
        if (waited > d->timeout) {
            d->broken = 1;
            return nbi_error(NB_ERR_IO,
                             "%s: rank %d of %d waited %.0f s for the other processes; one of "
                             "them has died or hangs (the limit is the timeout, %g s)",
                             what, d->rank, d->size, waited, d->timeout);
        }
        if (waited < 0.1) {
            sched_yield();
            continue;
        }
        struct timespec ts = {0, waited < 5.0 ? 100000 : 1000000};
        nanosleep(&ts, NULL);
    }
}

typedef struct reqs {
    int n;
    MPI_Request *req;
} reqs;

static int test_all(void *arg) {
    reqs *r = arg;
    int flag = 0;
    int rc = MPI_Testall(r->n, r->req, &flag, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) {
        nbi_dist_mpi_error(rc, "MPI_Testall");
        return -1;
    }
    return flag;
}

nb_status nbi_dist_wait(nb_dist *d, int n, MPI_Request *req, const char *what) {
    reqs r = {n, req};
    return nbi_dist_poll(d, test_all, &r, what);
}

/* ---- small collectives ------------------------------------------------------------------ */

nb_status nb_dist_bcast(nb_dist *d, void *buf, size_t bytes) {
    if (!d) return nbi_error(NB_ERR_ARG, "nb_dist_bcast: d is NULL");
    for (size_t at = 0; at < bytes || (at == 0 && bytes == 0);) {
        size_t n = bytes - at < (size_t)INT_MAX ? bytes - at : (size_t)INT_MAX;
        MPI_Request req;
        int rc = MPI_Ibcast((char *)buf + at, (int)n, MPI_BYTE, 0, d->comm, &req);
        if (rc != MPI_SUCCESS) return nbi_dist_mpi_error(rc, "nb_dist_bcast");
        nb_status s = nbi_dist_wait(d, 1, &req, "nb_dist_bcast (from rank 0)");
        if (s != NB_OK) return s;
        at += n;
        if (bytes == 0) break;
    }
    return NB_OK;
}

/* Room for n doubles in d->scratch (kept: steps allocate nothing once it has grown). */
static double *scratch(nb_dist *d, int64_t n, const char *fn) {
    if (n > d->scratch_n) {
        double *p = nbi_malloc_for(fn, sizeof(double) * (size_t)n);
        if (!p) return NULL;
        nbi_free(d->scratch);
        d->scratch = p;
        d->scratch_n = n;
    }
    return d->scratch;
}

nb_status nb_dist_sum(nb_dist *d, double *v, int64_t n) {
    const char *fn = "nb_dist_sum";
    if (!d || (!v && n > 0) || n < 0 || n > INT_MAX / 2)
        return nbi_error(NB_ERR_ARG, "%s: bad arguments (n = %lld)", fn, (long long)n);
    if (n == 0) return NB_OK;
    /* gathered, then added in rank order on every process: the same bits everywhere, and
     * the same run after run, whatever algorithm MPI would pick for an all-reduce */
    if (!scratch(d, n * d->size, fn)) return NB_ERR_NOMEM;
    MPI_Request req;
    int rc = MPI_Iallgather(v, (int)n, MPI_DOUBLE, d->scratch, (int)n, MPI_DOUBLE, d->comm, &req);
    if (rc != MPI_SUCCESS) return nbi_dist_mpi_error(rc, fn);
    nb_status s = nbi_dist_wait(d, 1, &req, "nb_dist_sum (an all-gather)");
    if (s != NB_OK) return s;
    for (int64_t i = 0; i < n; i++) {
        double t = 0.0;
        for (int r = 0; r < d->size; r++) t += d->scratch[(int64_t)r * n + i];
        v[i] = t;
    }
    return NB_OK;
}

nb_status nb_dist_agree(nb_dist *d, nb_status s) {
    if (!d) return nbi_error(NB_ERR_ARG, "nb_dist_agree: d is NULL");
    if (d->broken)
        return s != NB_OK ? s
                          : nbi_error(NB_ERR_IO, "nb_dist_agree: an earlier operation timed "
                                                 "out; the processes are no longer in step");
    double v[1] = {s != NB_OK ? 1.0 : 0.0};
    /* each rank's flag gathered: the lowest failing rank is named */
    double *all = scratch(d, d->size, "nb_dist_agree");
    if (!all) return NB_ERR_NOMEM;
    MPI_Request req;
    int rc = MPI_Iallgather(&v[0], 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, d->comm, &req);
    nb_status w = rc == MPI_SUCCESS ? nbi_dist_wait(d, 1, &req, "nb_dist_agree (an all-gather)")
                                    : nbi_dist_mpi_error(rc, "nb_dist_agree");
    int first = -1;
    for (int r = 0; w == NB_OK && r < d->size; r++)
        if (all[r] != 0.0 && first < 0) first = r;
    if (w != NB_OK) return s != NB_OK ? s : w;
    d->shared = s == NB_OK && first >= 0;
    if (s != NB_OK) return s; /* this process's own message stands */
    if (first >= 0)
        return nbi_error(NB_ERR_STATE,
                         "rank %d of %d failed (its message is on its standard "
                         "error); the others stop with it",
                         first, d->size);
    return NB_OK;
}

/* ---- timing ----------------------------------------------------------------------------- */

typedef struct ring_arg {
    nbi_ring *g;
    nb_dist *d;
} ring_arg;

static int ring_poll(void *a) {
    ring_arg *r = a;
    return nbi_ring_progress(r->g, r->d);
}

nb_status nb_dist_time_allreduce(nb_dist *d, nb_dist_algo algo, int64_t bytes, int reps,
                                 double *seconds) {
    const char *fn = "nb_dist_time_allreduce";
    if (!d || !seconds || bytes < 4 || reps < 1 || bytes / 4 > INT_MAX)
        return nbi_error(NB_ERR_ARG, "%s: bad arguments (%lld bytes, %d reps)", fn,
                         (long long)bytes, reps);
    const int64_t n = bytes / 4;
    float *buf = nbi_malloc_for(fn, sizeof(float) * (size_t)n);
    int64_t *off = nbi_malloc_for(fn, sizeof(int64_t) * (size_t)(d->size + 1));
    if (!buf || !off) {
        nbi_free(buf);
        nbi_free(off);
        return NB_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) buf[i] = 1.0f / (float)(1 + (i & 255));
    nbi_even_cuts(n, d->size, off);
    nb_status s = NB_OK;
    double t0 = 0.0;
    for (int k = 0; k <= reps && s == NB_OK; k++) {
        if (k == 1) { /* the first was the warm-up */
            MPI_Barrier(d->comm);
            t0 = MPI_Wtime();
        }
        if (algo == NB_DIST_RING) {
            nbi_ring g;
            s = nbi_ring_init(&g, d, buf, off, 1, 7);
            if (s != NB_OK) break;
            nbi_ring_start(&g, d);
            ring_arg ra = {&g, d};
            s = nbi_dist_poll(d, ring_poll, &ra, fn);
            nbi_ring_free(&g);
        } else {
            MPI_Request req;
            int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, d->comm, &req);
            s = rc == MPI_SUCCESS ? nbi_dist_wait(d, 1, &req, fn) : nbi_dist_mpi_error(rc, fn);
        }
    }
    double t = (MPI_Wtime() - t0) / reps, tmax = t;
    if (s == NB_OK) MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, d->comm);
    *seconds = tmax;
    nbi_free(buf);
    nbi_free(off);
    return s;
}
