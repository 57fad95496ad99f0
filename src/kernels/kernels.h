/* kernels/kernels.h — hot loops on raw float pointers, behind one table.
 *
 * Op code calls nbi_k.<kernel>; the table starts out holding the scalar reference kernels
 * (kernels/ref/, always built: the fallback and the oracle tests compare against) and
 * nbi_kernels_init() replaces entries with the fastest versions this CPU runs (cpuid), then
 * routes the elementwise entries through fronts that split large arrays over the thread
 * pool. Nothing here knows about tensors. See docs/KERNELS.md. */
#ifndef NBI_KERNELS_H
#define NBI_KERNELS_H

#include "base/base.h"
#include "nabla/kernels.h"

/* 1 where the x86 kernels (AVX2, AVX-512) are built. -DNB_PORTABLE builds without them, as
 * on any other architecture (the portable C GEMM and the reference kernels), which lets an
 * x86 machine test that configuration. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(NB_PORTABLE)
#define NBI_X86 1
#else
#define NBI_X86 0
#endif

/* Unary elementwise kernels: forward y = f(x; p) and backward gx += gy * f'(x, y; p).
 * NBI_UNARY(ID, name, n_params) */
#define NBI_UNARY_LIST(X)    \
    X(EXP, exp, 0)           \
    X(LOG, log, 0)           \
    X(SQRT, sqrt, 0)         \
    X(ABS, abs, 0)           \
    X(NEG, neg, 0)           \
    X(SIGMOID, sigmoid, 0)   \
    X(TANH, tanh, 0)         \
    X(RELU, relu, 0)         \
    X(LEAKY_RELU, leaky_relu, 1) \
    X(ELU, elu, 1)           \
    X(GELU, gelu, 0)         \
    X(GELU_TANH, gelu_tanh, 0) \
    X(SILU, silu, 0)         \
    X(SOFTPLUS, softplus, 2) \
    X(CLAMP, clamp, 2)       \
    X(ADD_SCALAR, add_scalar, 1) \
    X(MUL_SCALAR, mul_scalar, 1) \
    X(DIV_SCALAR, div_scalar, 1) \
    X(RSUB_SCALAR, rsub_scalar, 1) \
    X(RDIV_SCALAR, rdiv_scalar, 1) \
    X(POW_SCALAR, pow_scalar, 1)

typedef enum nbi_unary_id {
#define X(ID, name, np) NBI_U_##ID,
    NBI_UNARY_LIST(X)
#undef X
    NBI_U_COUNT
} nbi_unary_id;

typedef void (*nbi_unary_fn)(int64_t n, const float *x, float *y, const float *p);
typedef void (*nbi_unary_bwd_fn)(int64_t n, const float *x, const float *y, const float *gy,
                                 float *gx, const float *p);

/* Binary elementwise kernels with strides on the inputs (0 = broadcast) and a contiguous
 * output: y[i] = a[i*sa] op b[i*sb]. */
#define NBI_BINARY_LIST(X) X(ADD, add) X(SUB, sub) X(MUL, mul) X(DIV, div) X(POW, pow)
typedef enum nbi_binary_id {
#define X(ID, name) NBI_B_##ID,
    NBI_BINARY_LIST(X)
#undef X
    NBI_B_COUNT
} nbi_binary_id;

typedef void (*nbi_binary_fn)(int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                              float *y);

typedef nb_status (*nbi_sgemm_fn)(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                                  const float *A, int64_t lda, const float *B, int64_t ldb,
                                  float beta, float *C, int64_t ldc);

/* Row-wise softmax / log-softmax over `cols` contiguous values, `rows` times. */
typedef void (*nbi_rows_fn)(int64_t rows, int64_t cols, const float *x, float *y);
/* Their backward from the output y and its gradient gy, accumulating: gx += ... */
typedef void (*nbi_rows_bwd_fn)(int64_t rows, int64_t cols, const float *y, const float *gy,
                                float *gx);

typedef struct nbi_kernels {
    const char *isa;
    nbi_unary_fn unary[NBI_U_COUNT];
    nbi_unary_bwd_fn unary_bwd[NBI_U_COUNT];
    nbi_binary_fn binary[NBI_B_COUNT];
    nbi_sgemm_fn sgemm;
    nbi_rows_fn softmax;
    nbi_rows_fn log_softmax;
    nbi_rows_bwd_fn softmax_bwd;
    nbi_rows_bwd_fn log_softmax_bwd;
} nbi_kernels;

extern nbi_kernels nbi_k;
/* The reference table (filled by nbi_kernels_init), kept whole for tests that compare the
 * fast kernels against it. */
extern nbi_kernels nbi_k_ref;

/* Detects the CPU once and fills nbi_k (NB_ISA may name a lower level). Safe to call from
 * any thread, any number of times. */
void nbi_kernels_init(void);

/* Fills *k with the kernels of one instruction set ("ref", "c", "avx2", "avx512"), each
 * running on the calling thread only (GEMM still uses the pool), so that tests and
 * benchmarks can compare them; false when this CPU or build cannot run it. */
bool nbi_kernels_for(const char *isa, nbi_kernels *k);

/* ---- reference kernels (kernels/ref) ------------------------------------------------------ */
extern nbi_unary_fn const nbi_ref_unary[NBI_U_COUNT];
extern nbi_unary_bwd_fn const nbi_ref_unary_bwd[NBI_U_COUNT];
extern nbi_binary_fn const nbi_ref_binary[NBI_B_COUNT];
extern nbi_rows_fn const nbi_ref_softmax;
extern nbi_rows_fn const nbi_ref_log_softmax;
extern nbi_rows_bwd_fn const nbi_ref_softmax_bwd;
extern nbi_rows_bwd_fn const nbi_ref_log_softmax_bwd;
nb_status nbi_sgemm_ref(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                        float *C, int64_t ldc);
/* The vectorised elementwise kernels (kernels/x86/elementwise.inc): each overrides the
 * entries it has in *k and leaves the rest. Call only where the CPU runs the ISA. */
void nbi_elementwise_avx2(nbi_kernels *k);
void nbi_elementwise_avx512(nbi_kernels *k);

/* Thread-splitting fronts (kernels/parallel.c): nbi_k's elementwise entries call these,
 * which cut large arrays (rows for softmax) into pieces run on the pool by the kernels in
 * *raw. The pieces are cut at multiples of 16 elements, so no two threads share a cache
 * line of the output. */
void nbi_parallel_kernels(nbi_kernels *k, const nbi_kernels *raw);

/* Checks GEMM arguments; shared by every implementation. */
nb_status nbi_sgemm_check(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                          int64_t lda, const float *B, int64_t ldb, const float *C, int64_t ldc);

#endif
