/* dist/dist.h — internals of the MPI back end (built only by `make MPI=1`): the process group,
 * waits with a deadline, and the ring of point-to-point messages that sums a buffer in a fixed
 * order. */
#ifndef NBI_DIST_H
#define NBI_DIST_H

#include "base/base.h"
#include "nabla/dist.h"

#include <mpi.h>

struct nb_dist {
    MPI_Comm comm;      /* collectives */
    MPI_Comm ring_comm; /* the ring's point-to-point messages */
    int rank, size;
    int we_init;         /* nb_dist_init called MPI_Init */
    int thread_multiple; /* MPI may be called from several threads at once */
    int node_size;       /* processes on this node (sharing its memory), this one included */
    int broken;          /* a wait timed out */
    int shared;          /* the last failure was reported alike by every process */
    double timeout;      /* seconds */
    char host[MPI_MAX_PROCESSOR_NAME + 1];
    double *scratch; /* nb_dist_sum's gathered vectors */
    int64_t scratch_n;
};

/* Polls `progress` (may be NULL; it returns 1 when everything it waits for is done, 0 while
 * not, -1 on an MPI error) until it is done, sleeping a little more between polls as time
 * goes on, and fails with NB_ERR_IO naming `what` when the deadline (d->timeout) passes. */
typedef int (*nbi_poll_fn)(void *arg);
nb_status nbi_dist_poll(nb_dist *d, nbi_poll_fn progress, void *arg, const char *what);
/* Waits for n requests, with the deadline. */
nb_status nbi_dist_wait(nb_dist *d, int n, MPI_Request *req, const char *what);
/* An MPI error code as an nb_status with MPI's own text. */
nb_status nbi_dist_mpi_error(int rc, const char *what);

/* ---- the ring: buf[0..n) summed over the processes, in place ----------------------------
 * The buffer is cut into `size` chunks, chunk j = [off[j], off[j+1]). Reduce-scatter: at step
 * s (0 <= s < N−1) rank r sends chunk (r−s−1) mod N to rank r+1 and adds the chunk
 * (r−s−2) mod N it receives from rank r−1 to its own; after N−1 steps rank r holds the sum of
 * chunk r, always added up in the same order (starting at rank r+1, around the ring). The
 * all-gather then passes the sums on: at step s rank r sends chunk (r−s) mod N and receives
 * chunk (r−s−1) mod N. Without the all-gather (ZeRO-1) only chunk r is summed on rank r. */
typedef struct nbi_ring {
    float *buf;
    int64_t *off;    /* size + 1 offsets */
    float *recv;     /* room for the largest chunk */
    int steps, step; /* steps in all (N−1 or 2(N−1)), and the next to start */
    int posted;      /* a step's send and receive are in flight */
    MPI_Request req[2];
    int tag;
} nbi_ring;

/* Makes a ring over buf[0..n) cut at off (size + 1 entries; copied); gather: 1 for the
 * all-gather too. */
nb_status nbi_ring_init(nbi_ring *g, const nb_dist *d, float *buf, const int64_t *off, int gather,
                        int tag);
void nbi_ring_free(nbi_ring *g);
/* Starts (step 0) / advances as far as the messages that arrived allow: 1 when done, 0 not
 * yet, -1 on an MPI error. Never blocks. */
void nbi_ring_start(nbi_ring *g, nb_dist *d);
int nbi_ring_progress(nbi_ring *g, nb_dist *d);

/* Near-equal cuts of n elements into parts: off[j] = n·j/parts. */
void nbi_even_cuts(int64_t n, int parts, int64_t *off);

/* FNV-1a, 64 bits, over bytes (chained through h; start with NBI_FNV_START). */
#define NBI_FNV_START 0xcbf29ce484222325ull
uint64_t nbi_fnv(uint64_t h, const void *p, size_t n);

#endif
