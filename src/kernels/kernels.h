/* kernels/kernels.h — hot loops on raw float pointers: the CPU's kernel sets.
 *
 * A kernel set (nbi_kernels) is a table of single-threaded kernels for one instruction set:
 * "ref" holds the scalar reference kernels (kernels/ref/, always built: the fallback and the
 * oracle tests compare against); "c", "avx2" and "avx512" start from it and replace entries
 * with faster versions. The sets are built once and never change. Op code does not call
 * them directly: it calls its context's back end (kernels/backend.h), whose CPU entries split
 * large work over the thread pool and run one set's kernels on the pieces. Nothing here knows
 * about tensors. See docs/KERNELS.md and docs/BACKENDS.md. */
#ifndef NBI_KERNELS_H
#define NBI_KERNELS_H

#include "base/base.h"
#include "nabla/kernels.h"
/* seqops: the sequence ops' kernel families (types, geometry, the dropout hash) */
#include "kernels/seq.h"
/* int8: the quantized-inference kernel family (product, requantization, quantization) */
#include "kernels/qgemm.h"

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

/* GEMM on at most nt threads of the pool (see nb_sgemm for the arguments). */
typedef nb_status (*nbi_sgemm_fn)(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K,
                                  float alpha, const float *A, int64_t lda, const float *B,
                                  int64_t ldb, float beta, float *C, int64_t ldc);

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

    /* ---- seqops: the sequence ops' families (kernels/seq.h) ---------------------------- */
    nbi_embed_fn embed;
    nbi_embed_bwd_fn embed_bwd;
    nbi_norm_fn norm;
    nbi_norm_bwd_fn norm_bwd;
    nbi_xent_fn xent;
    nbi_xent_bwd_fn xent_bwd;
    nbi_attn_fn attn;
    nbi_attn_bwd_fn attn_bwd;
    nbi_rnn_step_fn rnn_step;
    nbi_rnn_step_bwd_fn rnn_step_bwd;
    nbi_colsum_fn colsum;
    /* ---- end seqops ---- */

    /* ---- int8: quantized inference (kernels/qgemm.h) ----------------------------------- */
    nbi_qgemm_fn qgemm;       /* u8 x s8 -> i32, requantized or dequantized */
    nbi_quantize_fn quantize; /* f32 -> u8 */
    const char *qgemm_isa;    /* which product it is: "ref", "c", "avx2", "avxvnni", ... */
    /* ---- end int8 ---- */
} nbi_kernels;

/* The kernel set of one instruction set ("ref", "c", "avx2", "avx512"), built on first use
 * and immutable afterwards; NULL when this CPU or build cannot run it. Thread-safe. */
const nbi_kernels *nbi_kernel_set(const char *isa);

/* A copy of that set, for tests that change an entry (a wrong derivative, to prove that a
 * test catches it); false when this CPU or build cannot run it. */
bool nbi_kernels_for(const char *isa, nbi_kernels *k);

/* The best instruction set this CPU runs, or the lower one named by NB_ISA (ref, c, avx2,
 * avx512) in the environment. */
const char *nbi_best_isa(void);

/* ---- reference kernels (kernels/ref) ------------------------------------------------------ */
extern nbi_unary_fn const nbi_ref_unary[NBI_U_COUNT];
extern nbi_unary_bwd_fn const nbi_ref_unary_bwd[NBI_U_COUNT];
extern nbi_binary_fn const nbi_ref_binary[NBI_B_COUNT];
extern nbi_rows_fn const nbi_ref_softmax;
extern nbi_rows_fn const nbi_ref_log_softmax;
extern nbi_rows_bwd_fn const nbi_ref_softmax_bwd;
extern nbi_rows_bwd_fn const nbi_ref_log_softmax_bwd;
nb_status nbi_sgemm_ref(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                        float *C, int64_t ldc);
/* The vectorised elementwise kernels (kernels/x86/elementwise.inc): each overrides the
 * entries it has in *k and leaves the rest. Call only where the CPU runs the ISA. */
void nbi_elementwise_avx2(nbi_kernels *k);
void nbi_elementwise_avx512(nbi_kernels *k);

/* Checks GEMM arguments; shared by every implementation. */
nb_status nbi_sgemm_check(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                          int64_t lda, const float *B, int64_t ldb, const float *C, int64_t ldc);

#endif
