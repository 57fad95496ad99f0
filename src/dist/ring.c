/* dist/ring.c — ring all-reduce (and reduce-scatter) of a float buffer over MPI
 * point-to-point messages, driven by polling so that it advances while backward runs.
 *
 * With N processes the buffer is cut into N chunks. Reduce-scatter, N−1 steps: each process
 * sends one chunk to its right neighbour and adds the chunk it receives from its left one,
 * so that after the last step process r holds chunk r summed over all; all-gather, N−1 more
 * steps, passes the sums around. Every process sends and receives 2(N−1)/N of the buffer in
 * all, the least any all-reduce can (the bandwidth term of the α-β model, docs/distributed.md),
 * and chunk j is always added up in the same order — x_{j+1} + x_{j+2} + ... + x_j around the
 * ring — so the result is the same bits run after run (the deterministic option).
 *
 * The state machine never blocks: nbi_ring_progress tests the step in flight and, when it
 * has completed, adds what arrived and posts the next step. */
#include "dist/dist.h"

#include <limits.h>
#include <string.h>

static int mod(int a, int n) {
    return ((a % n) + n) % n;
}

nb_status nbi_ring_init(nbi_ring *g, const nb_dist *d, float *buf, const int64_t *off, int gather,
                        int tag) {
    const char *fn = "nb_dist (ring)";
    memset(g, 0, sizeof *g);
    const int N = d->size;
    int64_t big = 0;
    for (int j = 0; j < N; j++) {
        const int64_t c = off[j + 1] - off[j];
        if (c < 0 || c > INT_MAX)
            return nbi_error(NB_ERR_ARG, "%s: chunk %d has %lld elements (at most %d)", fn, j,
                             (long long)c, INT_MAX);
        if (c > big) big = c;
    }
    g->off = nbi_malloc_for(fn, sizeof(int64_t) * (size_t)(N + 1));
    g->recv = nbi_malloc_for(fn, sizeof(float) * (size_t)(big > 0 ? big : 1));
    if (!g->off || !g->recv) {
        nbi_ring_free(g);
        return NB_ERR_NOMEM;
    }
    memcpy(g->off, off, sizeof(int64_t) * (size_t)(N + 1));
    g->buf = buf;
    g->steps = N > 1 ? (gather ? 2 * (N - 1) : N - 1) : 0;
    g->tag = tag;
    g->req[0] = g->req[1] = MPI_REQUEST_NULL;
    return NB_OK;
}

void nbi_ring_free(nbi_ring *g) {
    nbi_free(g->off);
    nbi_free(g->recv);
    g->off = NULL;
    g->recv = NULL;
}

/* Posts step s: its send and its receive (into recv during the reduce-scatter, straight into
 * the buffer during the all-gather). */
static int post(nbi_ring *g, nb_dist *d, int s) {
    const int N = d->size, r = d->rank, right = mod(r + 1, N), left = mod(r - 1, N);
    int send, recv;
    float *into;
    if (s < N - 1) { /* reduce-scatter */
        send = mod(r - s - 1, N);
        recv = mod(r - s - 2, N);
        into = g->recv;
    } else { /* all-gather */
        const int t = s - (N - 1);
        send = mod(r - t, N);
        recv = mod(r - t - 1, N);
        into = g->buf + g->off[recv];
    }
    int rc = MPI_Irecv(into, (int)(g->off[recv + 1] - g->off[recv]), MPI_FLOAT, left, g->tag,
                       d->ring_comm, &g->req[0]);
    if (rc == MPI_SUCCESS)
        rc = MPI_Isend(g->buf + g->off[send], (int)(g->off[send + 1] - g->off[send]), MPI_FLOAT,
                       right, g->tag, d->ring_comm, &g->req[1]);
    if (rc != MPI_SUCCESS) {
        nbi_dist_mpi_error(rc, "nb_dist (ring)");
        return -1;
    }
    g->posted = 1;
    return 0;
}

void nbi_ring_start(nbi_ring *g, nb_dist *d) {
    g->step = 0;
    g->posted = 0;
    if (g->steps > 0) post(g, d, 0);
}

int nbi_ring_progress(nbi_ring *g, nb_dist *d) {
    const int N = d->size;
    while (g->step < g->steps) {
        if (!g->posted && post(g, d, g->step) < 0) return -1;
        int flag = 0;
        int rc = MPI_Testall(2, g->req, &flag, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) {
            nbi_dist_mpi_error(rc, "nb_dist (ring)");
            return -1;
        }
        if (!flag) return 0;
        g->posted = 0;
        if (g->step < N - 1) { /* add the received partial sum into our chunk: mine + theirs */
            const int c = mod(d->rank - g->step - 2, N);
            float *dst = g->buf + g->off[c];
            const int64_t n = g->off[c + 1] - g->off[c];
            for (int64_t i = 0; i < n; i++) dst[i] = dst[i] + g->recv[i];
        }
        g->step++;
    }
    return 1;
}
