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
#include "kernels/iter.h"
#include "nabla/kernels.h"
/* seqops: the sequence ops' kernel families (types, geometry, the dropout hash) */
#include "kernels/seq.h"
/* int8: the quantized-inference kernel family (product, requantization, quantization) */
#include "kernels/qgemm.h"
/* speech: the real FFT plans the frame kernel runs */
#include "kernels/fft.h"
/* the direct convolution's micro-kernels and their plan */
#include "kernels/conv_direct.h"
/* the lowering's weight gradient with the image broadcast (kernels/conv_dw.h) */
#include "kernels/conv_dw.h"
/* the forward convolution's row kernels */
#include "kernels/conv_rows.h"

/* 1 where the x86 kernels (AVX2, AVX-512) are built. -DNB_PORTABLE builds without them, as
 * on any other architecture (the portable C GEMM and the reference kernels), which lets an
 * x86 machine test that configuration. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(NB_PORTABLE)
#define NBI_X86 1
#else
#define NBI_X86 0
#endif

/* Unary elementwise kernels, one pair per NB_UNARY / NB_ACT line of nabla/ops.def: forward
 * y = f(x; p) and backward gx += gy * f'(x, y; p). */
typedef enum nbi_unary_id {
#define NB_UNARY(ID, name, NP, CHECK) NBI_U_##ID,
#include "nabla/ops.def"
    NBI_U_COUNT
} nbi_unary_id;

typedef void (*nbi_unary_fn)(int64_t n, const float *x, float *y, const float *p);
typedef void (*nbi_unary_bwd_fn)(int64_t n, const float *x, const float *y, const float *gy,
                                 float *gx, const float *p);

/* Binary elementwise kernels, one per NB_BINARY line of nabla/ops.def, with strides on the
 * inputs (0 = broadcast) and a contiguous output: y[i] = a[i*sa] op b[i*sb]. */
typedef enum nbi_binary_id {
#define NB_BINARY(ID, name) NBI_B_##ID,
#include "nabla/ops.def"
    NBI_B_COUNT
} nbi_binary_id;

typedef void (*nbi_binary_fn)(int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                              float *y);

/* GEMM on at most nt threads of the pool (see nb_sgemm for the arguments). */
typedef nb_status (*nbi_sgemm_fn)(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K,
                                  float alpha, const float *A, int64_t lda, const float *B,
                                  int64_t ldb, float beta, float *C, int64_t ldc);

/* A B operand supplied by a packer instead of read from a matrix (BLIS's "pack from
 * anything"): pack(ctx, p0, k, j0, n, nr, dst) writes op(B)[p0 : p0+k, j0 : j0+n] as
 * ceil(n/nr) column panels of nr floats a row, panel c at dst + c*nr*k (row p of it at
 * + p*nr), zeros right of column n. tb says which stored B the provider stands for: the
 * GEMM picks its path (direct or blocked) as it would for a matrix B with that tb, so a
 * provider that yields the same op(B) gives the same bits as the matrix call. */
typedef void (*nbi_bpack_fn)(const void *ctx, int64_t p0, int64_t k, int64_t j0, int64_t n,
                             int nr, float *dst);
typedef struct nbi_gemm_bsrc {
    nbi_bpack_fn pack;
    const void *ctx;
    int tb;
} nbi_gemm_bsrc;

/* C = alpha op(A) op(B) + beta C with op(B) [K, N] from the provider B (the GEMM above, B
 * packed by B->pack). */
typedef nb_status (*nbi_sgemm_src_fn)(int nt, int ta, int64_t M, int64_t N, int64_t K,
                                      float alpha, const float *A, int64_t lda,
                                      const nbi_gemm_bsrc *B, float beta, float *C, int64_t ldc);

/* op(B) [K, N] packed once for several products with it (a recurrence's W_hh, one pack per
 * pass instead of one per time step): packed_floats(K, N) floats, written by
 * pack(tb, B, ldb, K, N, dst) from B as the matrix GEMM takes it. nbi_sgemm_packed_fn then
 * computes C = alpha op(A) op(B) + beta C from it, with the same tb: bitwise the matrix
 * call's result, on any number of threads. */
typedef int64_t (*nbi_gemm_packed_floats_fn)(int64_t K, int64_t N);
typedef void (*nbi_gemm_pack_fn)(int tb, const float *B, int64_t ldb, int64_t K, int64_t N,
                                 float *dst);
typedef nb_status (*nbi_sgemm_packed_fn)(int nt, int ta, int tb, int64_t M, int64_t N, int64_t K,
                                         float alpha, const float *A, int64_t lda, const float *Bp,
                                         float beta, float *C, int64_t ldc);

/* Row-wise softmax / log-softmax over `cols` contiguous values, `rows` times. */
typedef void (*nbi_rows_fn)(int64_t rows, int64_t cols, const float *x, float *y);
/* Their backward from the output y and its gradient gy, accumulating: gx += ... */
typedef void (*nbi_rows_bwd_fn)(int64_t rows, int64_t cols, const float *y, const float *gy,
                                float *gx);

/* speed: one fused optimizer update over n elements of the flat buffers (nbi_update below) */
typedef struct nbi_update nbi_update;
typedef void (*nbi_optim_fn)(const nbi_update *u, int64_t n, float *p, const float *g, float *s0,
                             float *s1, float *s2);

typedef struct nbi_kernels {
    const char *isa;
    nbi_unary_fn unary[NBI_U_COUNT];
    nbi_unary_bwd_fn unary_bwd[NBI_U_COUNT];
    /* How far the set's unary kernels (forward and backward) may be from the reference, in
     * units in the last place: 0 where they are the same IEEE arithmetic (bitwise equal),
     * a few where they call a vector exp or tanh. tests/test_kernels.c holds them to it. */
    unsigned char unary_ulp[NBI_U_COUNT];
    nbi_binary_fn binary[NBI_B_COUNT];
    nbi_sgemm_fn sgemm;
    /* the same GEMM with B from a provider (implicit-GEMM convolution); NULL in the
     * reference set, whose GEMM packs nothing */
    nbi_sgemm_src_fn sgemm_src;
    /* B packed once (above); all three NULL in the reference set */
    nbi_gemm_packed_floats_fn gemm_packed_floats;
    nbi_gemm_pack_fn gemm_pack;
    nbi_sgemm_packed_fn sgemm_packed;
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

    /* ---- speed: fused optimizer updates (ref/optim.c, x86/optim.inc) ----------------------- */
    nbi_optim_fn optim_update;
    /* the index of the first NaN or infinity in x[0..n), or -1 (nbi_ref_find_nonfinite) */
    int64_t (*find_nonfinite)(int64_t n, const float *x);
    /* ---- end speed ---- */
    /* ---- speech: windowed frames through the real FFT (nbi_rfft_frames_ref in
     * kernels/fft.h says what it computes; the vector sets give the same bits) ---- */
    void (*rfft_frames)(const nbi_rfft *p, int64_t count, const float *x, int64_t hop,
                        const float *w, float *X, float *work);
    /* the transforms' adjoint, frame by frame (nbi_rfft_adjoint_frames_ref: the STFT's
     * backward; the vector sets give the same bits) */
    void (*rfft_adjoint_frames)(const nbi_rfft *p, int64_t count, const float *G, float *A,
                                float *work);
    /* the band-matrix product y = x·Wᵀ (nbi_band_apply in kernels/fft.h, its scalar twin;
     * the vector sets do 8 rows at once, each lane summing in the twin's order: same bits) */
    void (*band_apply)(const float *W, const int32_t *lo, const int32_t *hi, int64_t rows_w,
                       int64_t cols, int64_t n, const float *x, float *y);
    /* |S|^p (nbi_spec_power, its scalar twin; the vector sets do p = 2 in vectors, same bits) */
    void (*spec_power)(int64_t n, const float *S, float power, float *P);
    /* binary16 ⇄ binary32 over n values (nbi_ref_half_to_f32 and nbi_ref_f32_to_half, the
     * scalar twins; the F16C kernels of x86/half_f16c.c give the same bits): the f16 dataset
     * store */
    void (*half_to_f32)(int64_t n, const uint16_t *h, float *y);
    void (*f32_to_half)(int64_t n, const float *x, uint16_t *h);
    /* y = ((float)x - shift) / div over n bytes (nbi_ref_u8_to_f32, the scalar twin; the
     * AVX2 kernel of x86/bytes_avx2.c makes the same two float operations per value, same
     * bits): batches from the byte dataset store */
    void (*u8_to_f32)(int64_t n, const uint8_t *x, float shift, float div, float *y);
    /* inverted dropout, y = or += (acc) x·m/(1 − p) with the mask of `seed`
     * (nbi_ref_dropout, the scalar twin; x86/dropout_avx2.c gives the same bits) */
    void (*dropout)(uint64_t seed, float p, int64_t n, const float *x, float *y, int acc);
    /* ---- int8: quantized inference (kernels/qgemm.h) ----------------------------------- */
    nbi_qgemm_fn qgemm;       /* u8 x s8 -> i32, requantized or dequantized */
    nbi_quantize_fn quantize; /* f32 -> u8 */
    const char *qgemm_isa;    /* which product it is: "ref", "c", "avx2", "avxvnni", ... */
    /* ---- end int8 ---- */
    /* ---- the direct convolution for few input channels (kernels/conv_direct.h): vector
     * sets only (NULL in "ref" and "c", where the lowering runs every shape); the scalar
     * twins with conv_direct_lanes lanes give the same bits ---- */
    nbi_direct_fwd_fn conv_direct_fwd;
    nbi_direct_pool_fn conv_direct_pool;
    nbi_direct_dw_fn conv_direct_dw;
    nbi_direct_dx_fn conv_direct_dx;
    /* the weight gradient behind a fused 2x2 pooling, from the pooled δ (the twin's bits);
     * NULL: the δ planes and conv_direct_dw */
    nbi_direct_dw_pooled_fn conv_direct_dw_pooled;
    int conv_direct_lanes;
    /* the δ planes behind a fused 2x2 max pooling (nbi_unpool2x2_twin's bits); NULL: the
     * twin */
    nbi_unpool2x2_fn conv_unpool2x2;
    /* the implicit GEMM's B packers with vector rows (nbi_conv_pack_col and _colt's floats,
     * kernels/x86/conv_direct.inc); NULL: the portable ones */
    nbi_bpack_fn conv_pack_col;
    nbi_bpack_fn conv_pack_colt;
    /* nbi_col2im with vector adds (the same bits); NULL: the portable one */
    void (*conv_col2im)(const nbi_conv_geom *g, const float *col, int64_t nb, float *x);
    /* the lowering's weight gradient with the image as the broadcast operand (kernels/conv_dw.h,
     * kernels/x86/conv_dw.inc; the bits of nbi_conv_dw_img_ref) and the GEMM block length its
     * sums follow (the set's GEMM KC); NULL and 0 in "ref" and "c": the implicit GEMM */
    nbi_conv_dw_fn conv_dw_img;
    int64_t conv_dw_kc;
    /* the lowering's forward by output rows, A read straight from the image
     * (kernels/conv_rows.h; nbi_conv_rows_ref is the scalar twin): blocks of up to
     * conv_rows_mr positions x conv_rows_nr channels; NULL in "ref" and "c" */
    nbi_conv_rows_fn conv_rows;
    int conv_rows_mr, conv_rows_nr;
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
void nbi_ref_binary_bwd(int id, int which, int64_t len, const float *gy, int64_t so, const float *y,
                        const float *a, int64_t sa, const float *b, int64_t sb, float *g,
                        int64_t sg);

/* Strided operands and reductions (kernels/ref/strided.c). */
void nbi_ref_copy_strided(const nbi_iter *it, void *dst, const void *src);
void nbi_ref_acc_strided(const nbi_iter *it, float *dst, const float *src);
void nbi_ref_acc_div_strided(const nbi_iter *it, float *dst, const float *src, float div);
void nbi_ref_sum_strided(const nbi_iter *it, const float *x, double *acc, int64_t ngroups,
                         int64_t count, int mean, float *y);
void nbi_ref_max_strided(const nbi_iter *it, const float *x, float *best, int64_t *pos,
                         int64_t ngroups);
void nbi_ref_scatter_add(int64_t n, const int64_t *pos, const float *gy, float *gx);
void nbi_ref_index_narrow(int64_t n, const int64_t *pos, int32_t *y);
void nbi_ref_fill(int64_t n, float *y, float v);
void nbi_ref_add_into(int64_t n, const float *x, float *y);
int64_t nbi_ref_find_nonfinite(int64_t n, const float *x);

/* binary16 ⇄ binary32 (kernels/ref/half.c): base/half.h's conversions, a NaN half widened
 * to a quiet NaN (as F16C's VCVTPH2PS does; base/half.c keeps a signalling one). */
void nbi_ref_half_to_f32(int64_t n, const uint16_t *h, float *y);
void nbi_ref_f32_to_half(int64_t n, const float *x, uint16_t *h);

/* y = ((float)x - shift) / div, value by value (kernels/ref/bytes.c) */
void nbi_ref_u8_to_f32(int64_t n, const uint8_t *x, float shift, float div, float *y);

/* Losses (kernels/ref/loss.c); reduction is nb_reduction's value (0 mean, 1 sum, 2 none). */
enum { NBI_LOSS_MSE, NBI_LOSS_L1, NBI_LOSS_BCE, NBI_LOSS_BCE_LOGITS };
void nbi_ref_pair_loss(int kind, int reduction, int64_t n, const float *p, const float *t,
                       float *y);
void nbi_ref_pair_loss_bwd(int kind, int reduction, int64_t n, const float *p, const float *t,
                           const float *gy, float *gp, float *gt);
void nbi_ref_nll(int reduction, int64_t N, const float *x, int64_t rs, int64_t cs,
                 const int32_t *labels, int64_t ls, float *out);
void nbi_ref_nll_bwd(int reduction, int64_t N, int64_t C, const float *gy, const int32_t *labels,
                     int64_t ls, float *gx);
void nbi_ref_cross_entropy_bwd(int reduction, int64_t N, int64_t C, const float *gy,
                               const float *lp, const int32_t *labels, int64_t ls, float *gx);
int64_t nbi_ref_find_outside(int64_t n, const float *x, float lo, float hi);
int64_t nbi_ref_find_bad_label(int64_t N, const int32_t *labels, int64_t ls, int64_t C);

/* Optimizer updates over flat buffers (kernels/ref/optim.c): the step's scalars, in f32 as
 * torch.optim rounds them. nlr is -lr (SGD, RMSprop), -lr / (1 - β1^t) (Adam), -lr / (1 +
 * (t-1) lr_decay) (Adagrad). */
enum { NBI_UPDATE_SGD, NBI_UPDATE_ADAM, NBI_UPDATE_RMSPROP, NBI_UPDATE_ADAGRAD };
struct nbi_update {
    int kind;
    float nlr, wd, eps;
    float mu, keep;            /* SGD's momentum and 1 - dampening; RMSprop's momentum */
    int nesterov, first;       /* SGD: Nesterov; the first step (the buffer takes d itself) */
    float b1, c1, b2, c2, bc2; /* Adam: β1, 1-β1, β2, 1-β2, sqrt(1 - β2^t) */
    float decay;               /* AdamW: 1 - lr wd */
    int amsgrad, decoupled;
    float a, ca; /* RMSprop: α, 1-α */
    int centered;
};
/* speed: y[r, :] = b for M rows of N; g[:] += x[r, :] for r = 0..M-1 in order */
void nbi_ref_bias_rows(int64_t M, int64_t N, const float *b, float *y);
void nbi_ref_acc_rows(int64_t M, int64_t N, const float *x, float *g);
/* p, g: the flat buffers; s0..s2: the optimizer's state slots (those it has) */
void nbi_ref_optim_update(const nbi_update *u, int64_t n, float *p, const float *g, float *s0,
                          float *s1, float *s2);
double nbi_ref_sum_squares(int64_t n, const float *x);

/* Batch normalisation of x [N, C, S] per channel, and dropout (kernels/ref/norm.c). */
typedef struct nbi_bn {
    int64_t N, C, S;
    int training;
    float eps, momentum;
    float *run_mean, *run_var; /* NULL without running statistics (training only) */
} nbi_bn;
void nbi_ref_bn_stats(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, float *mean,
                      float *invstd);
void nbi_ref_bn_apply(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, const float *mean,
                      const float *invstd, const float *w, const float *b, float *y);
void nbi_ref_bn_backward(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, const float *gy,
                         const float *mean, const float *invstd, const float *w, float *dx,
                         float *dw, float *db);
/* The same in phases, for synchronised batch norm (ops/norm.c sums each phase's per-channel
 * sums over the replicas between the calls); M is the count of values per channel the
 * statistics span (every replica's). With nothing added between them the phases give the
 * bits of the three entries above (one per-channel code).
 *   sum_x      sx[c] = Σ x
 *   sum_sq     mean[c] = (float)(sx[c] / M), then sq[c] = Σ (x − mean[c])²
 *   var        invstd[c] = 1/sqrt(sq[c]/M + eps); running statistics updated (when M > 1)
 *   grad_sums  sums[c] = Σ dy, sums[C + c] = Σ dy x̂; dβ += Σ dy, dγ += Σ dy x̂ (dw, db may be
 *              NULL)
 *   grad_x     dx += (1/σ̃)(γ dy − γ sums[c]/M − x̂ γ sums[C + c]/M)  (training; eval: γ dy/σ̃) */
void nbi_ref_bn_sum_x(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, double *sx);
void nbi_ref_bn_sum_sq(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, const double *sx,
                       double M, float *mean, double *sq);
void nbi_ref_bn_var(const nbi_bn *g, int64_t c0, int64_t c1, const double *sq, double M,
                    const float *mean, float *invstd);
void nbi_ref_bn_grad_sums(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, const float *gy,
                          const float *mean, const float *invstd, float *dw, float *db,
                          double *sums);
void nbi_ref_bn_grad_x(const nbi_bn *g, int64_t c0, int64_t c1, const float *x, const float *gy,
                       const float *mean, const float *invstd, const float *w, const double *sums,
                       double M, float *dx);
void nbi_ref_dropout(uint64_t seed, float p, int64_t n, const float *x, float *y, int acc);

/* Variance and standard deviation over groups (kernels/ref/moments.c): the kept dimensions
 * index the groups, the reduced ones walk a group; strides in x (sx) and in x's contiguous
 * gradient (sg). */
typedef struct nbi_walk {
    int rank;
    int64_t shape[NB_MAX_RANK], sx[NB_MAX_RANK], sg[NB_MAX_RANK];
} nbi_walk;
typedef struct nbi_groups {
    nbi_walk kept, red;
    int64_t nout, N; /* groups, elements per group */
} nbi_groups;
void nbi_ref_moments_var(const nbi_groups *g, const float *x, double dof, int is_std, float *y);
void nbi_ref_moments_var_bwd(const nbi_groups *g, const float *x, const float *gy, double dof,
                             int is_std, float *gx);
/* Covariance (or correlation, corr = 1) of one [N, V] item, x strided (rs, cs), in scratch of
 * N·V + V·V doubles; returns -1, or for a correlation the first variable of zero variance.
 * Its backward dX += Xc (G + Gᵀ) / dof into contiguous gx. */
int64_t nbi_ref_cov(int corr, int64_t N, int64_t V, const float *x, int64_t rs, int64_t cs,
                    double dof, double *scratch, float *y);
void nbi_ref_cov_bwd(int64_t N, int64_t V, const float *x, int64_t rs, int64_t cs, const float *G,
                     double dof, double *scratch, float *gx);

/* The vectorised elementwise kernels (kernels/x86/elementwise.inc): each overrides the
 * entries it has in *k and leaves the rest. Call only where the CPU runs the ISA. */
void nbi_elementwise_avx2(nbi_kernels *k);
void nbi_elementwise_avx512(nbi_kernels *k);
/* speed: the optimizers' vector updates (kernels/x86/optim.inc), bitwise equal to the reference */
void nbi_optim_avx2(nbi_kernels *k);
/* speech: the frame FFT, VL frames at once (kernels/x86/fft.inc) */
void nbi_fft_avx2(nbi_kernels *k);
void nbi_fft_avx512(nbi_kernels *k);
/* the f16 store's conversions with F16C (kernels/x86/half_f16c.c), 8 values a step; called
 * only where the CPU has F16C (every AVX2 CPU we know of, but checked on its own) */
void nbi_half_f16c(nbi_kernels *k);
/* bytes to floats with AVX2 (kernels/x86/bytes_avx2.c), 8 values a step */
void nbi_bytes_avx2(nbi_kernels *k);
/* dropout with the mask's draws inlined, 8 values a step (kernels/x86/dropout_avx2.c) */
void nbi_dropout_avx2(nbi_kernels *k);
void nbi_optim_avx512(nbi_kernels *k);
/* the direct convolution's micro-kernels (kernels/x86/conv_direct.inc) */
void nbi_conv_direct_avx2(nbi_kernels *k);
void nbi_conv_direct_avx512(nbi_kernels *k);
/* the image-broadcast weight gradient (kernels/x86/conv_dw.inc) */
void nbi_conv_dw_avx2(nbi_kernels *k);
void nbi_conv_dw_avx512(nbi_kernels *k);
/* the forward convolution's row kernels (kernels/x86/conv_rows.inc) */
void nbi_conv_rows_avx2(nbi_kernels *k);
void nbi_conv_rows_avx512(nbi_kernels *k);

/* Checks GEMM arguments; shared by every implementation. */
nb_status nbi_sgemm_check(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                          int64_t lda, const float *B, int64_t ldb, const float *C, int64_t ldc);

#endif
