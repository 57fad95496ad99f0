/* kernels/qgemm_cpu.c — the int8 kernels' dispatch and the CPU back end's int8 entries.
 *
 * Dispatch (cpuid, as for f32): each kernel set gets the best int8 product of its level that
 * this CPU runs — "ref" the scalar definition, "c" the portable tile, "avx2" AVX-VNNI's
 * vpdpbusd on ymm when the CPU has it and vpmaddubsw otherwise, "avx512" AVX512-VNNI, else
 * AVX-512BW's vpmaddubsw, else AVX2's. All of them compute the same integers and the same
 * requantization (kernels/qgemm.h), so the choice changes speed, never results.
 *
 * The entries split large calls over the thread pool: the product by blocks of rows (or, for
 * a few rows, by blocks of 64 columns), the quantization by pieces of 16384 values, im2col
 * and pooling by samples. Each output element is computed by exactly one piece, so results
 * do not depend on the thread count either. */
#include "kernels/backend.h"

#include <pthread.h>
#include <string.h>
#if NBI_X86
#include <cpuid.h>
#endif

/* ---- what this CPU runs ----------------------------------------------------------------- */

enum { Q_REF, Q_C, Q_AVX2, Q_AVXVNNI, Q_AVX512BW, Q_AVX512VNNI, Q_COUNT };

static const nbi_qgemm_impl all_qgemm[Q_COUNT] = {
    {"ref", nbi_qgemm_ref},           {"c", nbi_qgemm_c},
#if NBI_X86
    {"avx2", nbi_qgemm_avx2},         {"avxvnni", nbi_qgemm_avxvnni},
    {"avx512bw", nbi_qgemm_avx512bw}, {"avx512vnni", nbi_qgemm_avx512vnni},
#endif
};

/* AVX-VNNI is CPUID leaf 7, sub-leaf 1, EAX bit 4 (not every compiler's
 * __builtin_cpu_supports knows it); its registers are AVX2's, whose OS support the AVX2 test
 * covers. */
static bool cpu_has(int which) {
    if (which == Q_REF || which == Q_C) return true;
#if NBI_X86
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool bw = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    unsigned a = 0, b = 0, c = 0, d = 0;
    switch (which) {
    case Q_AVX2:
        return avx2;
    case Q_AVXVNNI:
        return avx2 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1u);
    case Q_AVX512BW:
        return bw;
    case Q_AVX512VNNI:
        return bw && __builtin_cpu_supports("avx512vnni");
    default:
        return false;
    }
#else
    return false;
#endif
}

static nbi_qgemm_impl have_qgemm[Q_COUNT];
static int n_qgemm;
static nbi_quantize_impl have_quantize[3];
static int n_quantize;
static bool runs[Q_COUNT];

static void detect(void) {
    for (int i = 0; i < Q_COUNT; i++) {
        runs[i] = all_qgemm[i].fn && cpu_has(i);
        if (runs[i]) have_qgemm[n_qgemm++] = all_qgemm[i];
    }
    have_quantize[n_quantize++] = (nbi_quantize_impl){"ref", nbi_quantize_ref};
#if NBI_X86
    if (runs[Q_AVX2]) have_quantize[n_quantize++] = (nbi_quantize_impl){"avx2", nbi_quantize_avx2};
    __builtin_cpu_init();
    if (runs[Q_AVX2] && __builtin_cpu_supports("avx512f"))
        have_quantize[n_quantize++] = (nbi_quantize_impl){"avx512", nbi_quantize_avx512};
#endif
}

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

int nbi_qgemm_impls(const nbi_qgemm_impl **out) {
    pthread_once(&detect_once, detect);
    *out = have_qgemm;
    return n_qgemm;
}

int nbi_quantize_impls(const nbi_quantize_impl **out) {
    pthread_once(&detect_once, detect);
    *out = have_quantize;
    return n_quantize;
}

/* ---- the kernel sets' int8 entries -------------------------------------------------------- */

void nbi_int8_fill_ref(struct nbi_kernels *k) {
    k->qgemm = nbi_qgemm_ref;
    k->quantize = nbi_quantize_ref;
    k->qgemm_isa = "ref";
}

static void use(struct nbi_kernels *k, int which) {
    k->qgemm = all_qgemm[which].fn;
    k->qgemm_isa = all_qgemm[which].name;
}

/* Called with the set's level, which the CPU runs (kernels.c checked). */
void nbi_int8_fill(struct nbi_kernels *k, const char *isa) {
    pthread_once(&detect_once, detect);
    if (!strcmp(isa, "ref")) return;
    use(k, Q_C);
#if NBI_X86
    if (!strcmp(isa, "avx2")) {
        use(k, runs[Q_AVXVNNI] ? Q_AVXVNNI : Q_AVX2);
        k->quantize = nbi_quantize_avx2;
    } else if (!strcmp(isa, "avx512")) {
        use(k, runs[Q_AVX512VNNI] ? Q_AVX512VNNI : runs[Q_AVX512BW] ? Q_AVX512BW : Q_AVX2);
        k->quantize = nbi_quantize_avx512;
    }
#endif
}

/* ---- the back end's entries ---------------------------------------------------------------- */

/* Below this many multiply-adds (or bytes, for the loops) one thread does it all. */
#define Q_PAR_MIN ((int64_t)1 << 18)
#define Q_ROWS 24 /* rows per piece of the product: a multiple of every MR (4, 6) */
#define Q_COLS 64 /* columns per piece when the rows are few: whole 16-column panels */

static int threads_for(const nbi_backend *be, int64_t work, int64_t items) {
    if (work < Q_PAR_MIN || items < 2) return 1;
    int nt = nbi_backend_threads(be);
    return items < nt ? (int)items : nt;
}

typedef struct qgemm_job {
    nbi_qgemm_fn fn;
    int64_t M, N, K4, lda, ldc;
    const uint8_t *A;
    const int8_t *Bp;
    const nbi_qepi *e;
    void *C;
    int by_cols;
} qgemm_job;

static void qgemm_task(void *arg, int64_t t) {
    const qgemm_job *j = arg;
    size_t es = j->e->out_f32 ? sizeof(float) : 1;
    if (!j->by_cols) {
        int64_t lo = t * Q_ROWS, hi = lo + Q_ROWS < j->M ? lo + Q_ROWS : j->M;
        j->fn(hi - lo, j->N, j->K4, j->A + lo * j->lda, j->lda, j->Bp, j->e,
              (char *)j->C + (size_t)(lo * j->ldc) * es, j->ldc);
        return;
    }
    /* columns [lo, hi): the panels from lo / 16, the epilogue's arrays from lo */
    int64_t lo = t * Q_COLS, hi = lo + Q_COLS < j->N ? lo + Q_COLS : j->N;
    nbi_qepi e = *j->e;
    e.bias += lo;
    e.m += lo;
    j->fn(j->M, hi - lo, j->K4, j->A, j->lda, j->Bp + (lo / NBI_Q_NR) * j->K4 * NBI_Q_NR, &e,
          (char *)j->C + (size_t)lo * es, j->ldc);
}

static void cpu_qgemm(const nbi_backend *be, int64_t M, int64_t N, int64_t K4, const uint8_t *A,
                      int64_t lda, const int8_t *Bp, const nbi_qepi *e, void *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    int by_cols = M < 2 * Q_ROWS;
    int64_t items = by_cols ? (N + Q_COLS - 1) / Q_COLS : (M + Q_ROWS - 1) / Q_ROWS;
    int nt = threads_for(be, M * N * K4, items);
    if (nt == 1) {
        be->k->qgemm(M, N, K4, A, lda, Bp, e, C, ldc);
        return;
    }
    qgemm_job j = {be->k->qgemm, M, N, K4, lda, ldc, A, Bp, e, C, by_cols};
    nbi_parallel_for(nt, items, qgemm_task, &j);
}

#define Q_PIECE ((int64_t)1 << 14)

typedef struct quantize_job {
    nbi_quantize_fn fn;
    int64_t n;
    const float *x;
    float inv;
    int32_t zero, lo, hi;
    uint8_t *q;
    int64_t bad[NBI_MAX_THREADS * 4]; /* per piece: -1 or the first bad index */
} quantize_job;

static void quantize_task(void *arg, int64_t t) {
    quantize_job *j = arg;
    int64_t lo = t * Q_PIECE, hi = lo + Q_PIECE < j->n ? lo + Q_PIECE : j->n;
    int64_t b = j->fn(hi - lo, j->x + lo, j->inv, j->zero, j->lo, j->hi, j->q + lo);
    j->bad[t] = b < 0 ? -1 : lo + b;
}

static int64_t cpu_quantize(const nbi_backend *be, int64_t n, const float *x, float inv,
                            int32_t zero, int32_t lo, int32_t hi, uint8_t *q) {
    int64_t pieces = (n + Q_PIECE - 1) / Q_PIECE;
    int nt = threads_for(be, n, pieces);
    if (nt == 1 || pieces > NBI_MAX_THREADS * 4) return be->k->quantize(n, x, inv, zero, lo, hi, q);
    quantize_job j = {be->k->quantize, n, x, inv, zero, lo, hi, q, {0}};
    nbi_parallel_for(nt, pieces, quantize_task, &j);
    for (int64_t t = 0; t < pieces; t++) /* the first, in index order */
        if (j.bad[t] >= 0) return j.bad[t];
    return -1;
}

typedef struct maps_job {
    const nbi_q_geom *g;
    const uint8_t *x;
    int64_t xs;
    uint8_t *y;
    int64_t ys;
    uint8_t pad;
    int64_t K4;
    int im2col;
} maps_job;

static void maps_task(void *arg, int64_t i) {
    const maps_job *j = arg;
    if (j->im2col)
        nbi_q_im2col(j->g, j->x + i * j->xs, j->pad, j->K4, j->y + i * j->ys);
    else
        nbi_q_maxpool(j->g, j->x + i * j->xs, j->y + i * j->ys);
}

static void run_maps(const nbi_backend *be, maps_job *j, int64_t n) {
    int nt = threads_for(be, n * j->ys, n);
    if (nt == 1) {
        for (int64_t i = 0; i < n; i++) maps_task(j, i);
        return;
    }
    nbi_parallel_for(nt, n, maps_task, j);
}

static void cpu_q_im2col(const nbi_backend *be, const nbi_q_geom *g, int64_t n, const uint8_t *x,
                         int64_t x_stride, uint8_t pad, int64_t K4, uint8_t *col,
                         int64_t col_stride) {
    maps_job j = {g, x, x_stride, col, col_stride, pad, K4, 1};
    run_maps(be, &j, n);
}

static void cpu_q_maxpool(const nbi_backend *be, const nbi_q_geom *g, int64_t n, const uint8_t *x,
                          int64_t x_stride, uint8_t *y, int64_t y_stride) {
    maps_job j = {g, x, x_stride, y, y_stride, 0, 0, 0};
    run_maps(be, &j, n);
}

void nbi_backend_cpu_int8(nbi_backend *be) {
    be->qgemm = cpu_qgemm;
    be->quantize = cpu_quantize;
    be->q_im2col = cpu_q_im2col;
    be->q_maxpool = cpu_q_maxpool;
}
