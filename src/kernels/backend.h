/* kernels/backend.h — a back end: the table through which everything above reaches memory
 * and compute.
 *
 * Every context holds one (ctx->be, chosen by nb_ctx_opts.device), and op code calls its
 * entries instead of looping over tensor memory itself: `be->unary(be, NBI_U_RELU, n, x, y,
 * NULL)`. An entry takes the back end first, so that it can read the back end's own state
 * (for the CPU: the kernel set and the thread budget). A back end is filled once, at context
 * creation, and not changed while the context lives.
 *
 * The CPU back end (kernels/cpu.c) is today's only kind; its device names are "cpu" (the
 * best kernel set this CPU runs, or NB_ISA's lower choice) and "cpu:ref", "cpu:c",
 * "cpu:avx2", "cpu:avx512" (one set by name). Its entries cut large work into pieces on the
 * thread pool — at most `threads` threads, the pool's size when 0 — and run the kernel set's
 * single-threaded kernels on the pieces; each output element is computed by one piece in a
 * fixed order, so results do not depend on the thread count.
 *
 * docs/BACKENDS.md says how to add a back end, and how to add a kernel family to the table. */
#ifndef NBI_BACKEND_H
#define NBI_BACKEND_H

#include "kernels/conv.h"
#include "kernels/kernels.h"
#include "kernels/linalg.h"
#include "kernels/pool.h"
#include "kernels/spectral.h"

typedef struct nbi_backend nbi_backend;

struct nbi_backend {
    const char *name;     /* the device: "cpu:avx2" */
    int threads;          /* the most threads one kernel call may use; 0 = the whole pool */
    const nbi_kernels *k; /* CPU back ends: the kernel set the entries run */
    void *state;          /* other back ends: their own (device handle, streams, ...) */

    /* ---- memory: buffers that the kernels below read and write ---------------------------
     * alloc returns a NBI_ALIGN-aligned buffer or NULL (with nb_last_error() set); free(NULL)
     * is a no-op; copy copies within the device; to_host and from_host cross to and from
     * host memory. The CPU's buffers are host memory: nbi_malloc, nbi_free and memcpy. */
    void *(*alloc)(const nbi_backend *be, size_t bytes);
    void (*free)(const nbi_backend *be, void *p);
    void (*copy)(const nbi_backend *be, void *dst, const void *src, size_t bytes);
    void (*to_host)(const nbi_backend *be, void *host, const void *src, size_t bytes);
    void (*from_host)(const nbi_backend *be, void *dst, const void *host, size_t bytes);

    /* ---- elementwise --------------------------------------------------------------------- */
    /* y = f_id(x; p) over n elements (contiguous) */
    void (*unary)(const nbi_backend *be, int id, int64_t n, const float *x, float *y,
                  const float *p);
    /* gx += gy ⊙ f_id'(x, y; p); x or y may be NULL when the derivative does not read it */
    void (*unary_bwd)(const nbi_backend *be, int id, int64_t n, const float *x, const float *y,
                      const float *gy, float *gx, const float *p);
    /* gx = gy ⊙ f_id'(x, y; p): unary_bwd into zeros, the same bits, for a gradient written
     * by its first contribution (gx's old contents are not read) */
    void (*unary_dx)(const nbi_backend *be, int id, int64_t n, const float *x, const float *y,
                     const float *gy, float *gx, const float *p);
    /* y[i] = a[i·sa] op_id b[i·sb] (strides 0 broadcast; y contiguous) */
    void (*binary)(const nbi_backend *be, int id, int64_t n, const float *a, int64_t sa,
                   const float *b, int64_t sb, float *y);

    /* the backward of binary op `id` for input `which` (0: a, 1: b) over one run:
     * g += ∂(a op b)/∂input · gy, all strided (g's stride 0 sums over broadcast dims) */
    void (*binary_bwd)(const nbi_backend *be, int id, int which, int64_t len, const float *gy,
                       int64_t so, const float *y, const float *a, int64_t sa, const float *b,
                       int64_t sb, float *g, int64_t sg);

    /* ---- strided operands (iterator: operand 0 written, 1 read) and reductions ------------ */
    void (*copy_strided)(const nbi_backend *be, const nbi_iter *it, void *dst, const void *src);
    void (*acc_strided)(const nbi_backend *be, const nbi_iter *it, float *dst, const float *src);
    void (*acc_div_strided)(const nbi_backend *be, const nbi_iter *it, float *dst, const float *src,
                            float div);
    /* y[o] = Σ or mean over group o (operand 1 has stride 0 along the reduced axes); acc is
     * scratch of ngroups doubles */
    void (*sum_strided)(const nbi_backend *be, const nbi_iter *it, const float *x, double *acc,
                        int64_t ngroups, int64_t count, int mean, float *y);
    /* best[o], pos[o]: the first maximum of group o (NaN wins) and its offset in operand 2 */
    void (*max_strided)(const nbi_backend *be, const nbi_iter *it, const float *x, float *best,
                        int64_t *pos, int64_t ngroups);
    void (*scatter_add)(const nbi_backend *be, int64_t n, const int64_t *pos, const float *gy,
                        float *gx);
    void (*index_narrow)(const nbi_backend *be, int64_t n, const int64_t *pos, int32_t *y);
    void (*fill)(const nbi_backend *be, int64_t n, float *y, float v);
    void (*add_into)(const nbi_backend *be, int64_t n, const float *x, float *y);
    /* the index of the first NaN or infinity, or -1 */
    int64_t (*find_nonfinite)(const nbi_backend *be, int64_t n, const float *x);

    /* ---- rows ---------------------------------------------------------------------------- */
    /* softmax and log-softmax of `rows` rows of `cols` contiguous values, and their backward
     * from the output y and its gradient gy, accumulating into gx */
    void (*softmax)(const nbi_backend *be, int64_t rows, int64_t cols, const float *x, float *y);
    void (*log_softmax)(const nbi_backend *be, int64_t rows, int64_t cols, const float *x,
                        float *y);
    void (*softmax_bwd)(const nbi_backend *be, int64_t rows, int64_t cols, const float *y,
                        const float *gy, float *gx);
    void (*log_softmax_bwd)(const nbi_backend *be, int64_t rows, int64_t cols, const float *y,
                            const float *gy, float *gx);

    /* ---- moments: y[o] = Σ (x − μ)² / dof over group o (its square root with is_std), and
     * the backward accumulating into gx ------------------------------------------------------ */
    void (*moments_var)(const nbi_backend *be, const nbi_groups *g, const float *x, double dof,
                        int is_std, float *y);
    void (*moments_var_bwd)(const nbi_backend *be, const nbi_groups *g, const float *x,
                            const float *gy, double dof, int is_std, float *gx);
    /* covariance / correlation of one [N, V] item (scratch: N·V + V·V doubles); -1, or the
     * first variable of zero variance (correlation); and the covariance's backward */
    int64_t (*cov)(const nbi_backend *be, int corr, int64_t N, int64_t V, const float *x,
                   int64_t rs, int64_t cs, double dof, double *scratch, float *y);
    void (*cov_bwd)(const nbi_backend *be, int64_t N, int64_t V, const float *x, int64_t rs,
                    int64_t cs, const float *G, double dof, double *scratch, float *gx);

    /* ---- losses (kinds NBI_LOSS_*, reduction as nb_reduction) ----------------------------- */
    void (*pair_loss)(const nbi_backend *be, int kind, int reduction, int64_t n, const float *p,
                      const float *t, float *y);
    void (*pair_loss_bwd)(const nbi_backend *be, int kind, int reduction, int64_t n, const float *p,
                          const float *t, const float *gy, float *gp, float *gt);
    /* -x[i, y_i] over rows i·rs and columns ·cs, reduced; its backward into contiguous gx */
    void (*nll)(const nbi_backend *be, int reduction, int64_t N, const float *x, int64_t rs,
                int64_t cs, const int32_t *labels, int64_t ls, float *out);
    void (*nll_bwd)(const nbi_backend *be, int reduction, int64_t N, int64_t C, const float *gy,
                    const int32_t *labels, int64_t ls, float *gx);
    /* gx += s_i (exp(lp_i) - onehot(y_i)) from the log-softmax lp */
    void (*cross_entropy_bwd)(const nbi_backend *be, int reduction, int64_t N, int64_t C,
                              const float *gy, const float *lp, const int32_t *labels, int64_t ls,
                              float *gx);
    /* validation: the first element outside [lo, hi] (NaN included) / the first label outside
     * [0, C); -1 when there is none */
    int64_t (*find_outside)(const nbi_backend *be, int64_t n, const float *x, float lo, float hi);
    int64_t (*find_bad_label)(const nbi_backend *be, int64_t N, const int32_t *labels, int64_t ls,
                              int64_t C);

    /* ---- pooling over planes x [N·C, H, W] (kernels/conv.h): kind NBI_POOL_*; max keeps the
     * flat index of each window's first maximum in arg, its backward scatters through it;
     * count_pad: average pooling's divisor counts the padding ------------------------------ */
    void (*pool)(const nbi_backend *be, int kind, const nbi_conv_geom *g, int count_pad,
                 const float *in, float *out, int32_t *arg);

    /* ---- convolution (kernels/conv.h): conv_scratch floats of scratch for a pass, then the
     * pass; relu_mask and plane_sums for the transposed convolution's own layout ---------- */
    int64_t (*conv_scratch)(const nbi_backend *be, const nbi_conv_geom *g, int forward, int has_dw,
                            int has_db, const nbi_conv_pool *pool, int64_t chunk);
    nb_status (*conv_forward)(const nbi_backend *be, const nbi_conv_geom *g, const float *in,
                              const float *w, const float *bias, int flags, float *out,
                              const nbi_conv_pool *pool, int64_t chunk, float *scratch,
                              int64_t room);
    nb_status (*conv_backward)(const nbi_backend *be, const nbi_conv_geom *g, const float *in,
                               const float *dout, const float *y, int flags, const float *w,
                               float *din, float *dw, float *dbias, const nbi_conv_pool *pool,
                               int64_t chunk, float *scratch, int64_t room);
    void (*relu_mask)(const nbi_backend *be, int64_t n, const float *gy, const float *y, float *d);
    void (*plane_sums)(const nbi_backend *be, int64_t N, int64_t C, int64_t P, const float *d,
                       float *db);

    /* ---- batch normalisation and dropout --------------------------------------------------
     * bn_stats: per-channel mean and 1/sqrt(var + eps) (training: of x, updating the running
     * statistics; eval: of the running statistics); bn_apply: y = γ (x − μ)/σ̃ + β (w, b may
     * be NULL); bn_backward: dx, dγ, dβ accumulated (any may be NULL) */
    void (*bn_stats)(const nbi_backend *be, const nbi_bn *g, const float *x, float *mean,
                     float *invstd);
    void (*bn_apply)(const nbi_backend *be, const nbi_bn *g, const float *x, const float *mean,
                     const float *invstd, const float *w, const float *b, float *y);
    void (*bn_backward)(const nbi_backend *be, const nbi_bn *g, const float *x, const float *gy,
                        const float *mean, const float *invstd, const float *w, float *dx,
                        float *dw, float *db);
    /* the same in phases, for synchronised batch norm: the op sums each phase's per-channel
     * sums over the replicas before the next (nbi_ref_bn_sum_x etc. in kernels.h say what
     * each computes; M: the values per channel over every replica). bn_sum_x: sx[c] = Σx;
     * bn_sum_sq: mean = Σx/M, sq[c] = Σ(x − mean)²; bn_var: 1/σ̃ and the running statistics;
     * bn_grad_sums: Σdy, Σdy x̂ into sums[2C], dβ and dγ accumulated; bn_grad_x: dx
     * accumulated from the sums. Unsynchronised, they give bn_stats's and bn_backward's bits. */
    void (*bn_sum_x)(const nbi_backend *be, const nbi_bn *g, const float *x, double *sx);
    void (*bn_sum_sq)(const nbi_backend *be, const nbi_bn *g, const float *x, const double *sx,
                      double M, float *mean, double *sq);
    void (*bn_var)(const nbi_backend *be, const nbi_bn *g, const double *sq, double M,
                   const float *mean, float *invstd);
    void (*bn_grad_sums)(const nbi_backend *be, const nbi_bn *g, const float *x, const float *gy,
                         const float *mean, const float *invstd, float *dw, float *db,
                         double *sums);
    void (*bn_grad_x)(const nbi_backend *be, const nbi_bn *g, const float *x, const float *gy,
                      const float *mean, const float *invstd, const float *w, const double *sums,
                      double M, float *dx);
    /* inverted dropout with the mask of `seed` (see ops/dropout.c): y = or += (acc) x·m/(1-p) */
    void (*dropout)(const nbi_backend *be, uint64_t seed, float p, int64_t n, const float *x,
                    float *y, int acc);

    /* ---- optimizers ------------------------------------------------------------------------ */
    /* one fused update of p from g and the state slots s0..s2 (nbi_update says which) */
    void (*optim_update)(const nbi_backend *be, const nbi_update *u, int64_t n, float *p,
                         const float *g, float *s0, float *s1, float *s2);
    /* Σ x² in double, in index order */
    double (*sum_squares)(const nbi_backend *be, int64_t n, const float *x);

    /* ---- matrix products (row-major; arguments as nb_sgemm and nb_sgemm_batched) -------- */
    nb_status (*sgemm)(const nbi_backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K,
                       float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                       float beta, float *C, int64_t ldc);
    nb_status (*sgemm_batched)(const nbi_backend *be, int ta, int tb, int64_t M, int64_t N,
                               int64_t K, float alpha, const float *A, int64_t lda,
                               int64_t stride_a, const float *B, int64_t ldb, int64_t stride_b,
                               float beta, float *C, int64_t ldc, int64_t stride_c, int64_t batch);

    /* ---- seqops: the sequence ops (geometry and formulas in kernels/seq.h) ----------------
     * embedding: y[t] = W[ids[t]] for n ids into rows of D; returns -1, or the position of the
     * first id outside [0, V) (y is then not written). embedding_bwd: gW[ids[t]] += gy[t] for
     * ids other than pad (pad < 0: none), each row summed in token order. */
    int64_t (*embedding)(const nbi_backend *be, int64_t n, const int32_t *ids, int64_t V, int64_t D,
                         const float *W, float *y);
    void (*embedding_bwd)(const nbi_backend *be, int64_t n, const int32_t *ids, int64_t pad,
                          int64_t V, int64_t D, const float *gy, float *gW);
    /* layer norm (rms = 0) or RMS norm (rms = 1) of `rows` rows of D; backward accumulates
     * into gx, gw, gb (each may be NULL) with nbi_norm_ws_floats(rows, D) floats of ws */
    void (*norm)(const nbi_backend *be, int rms, int64_t rows, int64_t D, const float *x,
                 const float *w, const float *b, float eps, float *y, float *mean, float *rstd);
    void (*norm_bwd)(const nbi_backend *be, int rms, int64_t rows, int64_t D, const float *x,
                     const float *w, const float *mean, const float *rstd, const float *gy,
                     float *gx, float *gw, float *gb, float *ws);
    /* token cross-entropy of `rows` rows of V logits: loss[r] and lse[r]; *total = Σ loss (in
     * row order, double), *count = the rows not ignored. Returns -1, or the first row whose
     * target is neither in [0, V) nor `ignore` (nothing else is then written). */
    int64_t (*xent)(const nbi_backend *be, int64_t rows, int64_t V, const float *x,
                    const int32_t *tgt, int64_t ignore, float eps, float *loss, float *lse,
                    double *total, int64_t *count);
    void (*xent_bwd)(const nbi_backend *be, int64_t rows, int64_t V, const float *x,
                     const int32_t *tgt, int64_t ignore, float eps, const float *lse,
                     const float *scale, int64_t scale_stride, float *gx);
    /* fused scaled dot-product attention over every head; backward accumulates */
    void (*attention)(const nbi_backend *be, const nbi_attn_geom *g, const float *q, const float *k,
                      const float *v, float *o, float *lse);
    void (*attention_bwd)(const nbi_backend *be, const nbi_attn_geom *g, const float *q,
                          const float *k, const float *v, const float *o, const float *lse,
                          const float *go, float *gq, float *gk, float *gv);
    /* one recurrent layer in one direction, and its backpropagation through time */
    nb_status (*rnn)(const nbi_backend *be, const nbi_rnn_geom *g, const nbi_rnn_bufs *p);
    nb_status (*rnn_bwd)(const nbi_backend *be, const nbi_rnn_geom *g, const nbi_rnn_bufs *p,
                         const nbi_rnn_grads *gr);
    /* ---- end seqops ---- */

    /* ---- linear algebra (kernels/linalg.h): one matrix per call, factored in double with a
     * workspace w of nbi_la_work_* doubles from the caller. A is read at a[i·rs + j·cs] and B
     * at b[i·brs + j·bcs] (any view); outputs are written row by row with leading dimension
     * ld; gradients are contiguous and accumulate. fresh = 0 reuses the factors of A left in
     * w by the previous call. Each returns what went wrong, if anything (nbi_la_error turns
     * it into a message): a non-finite input, a singular or ill-conditioned matrix. ------ */
    nbi_la_res (*la_inverse)(const nbi_backend *be, int64_t n, const float *a, int64_t rs,
                             int64_t cs, double *w, float *y, int64_t ldy);
    void (*la_inverse_bwd)(const nbi_backend *be, int64_t n, const float *y, const float *gy,
                           double *w, float *ga);
    nbi_la_res (*la_solve)(const nbi_backend *be, int64_t n, int64_t nrhs, const float *a,
                           int64_t rs, int64_t cs, int fresh, const float *b, int64_t brs,
                           int64_t bcs, double *w, float *x, int64_t ldx);
    nbi_la_res (*la_solve_bwd)(const nbi_backend *be, int64_t n, int64_t nrhs, const float *a,
                               int64_t rs, int64_t cs, int fresh, const float *x, const float *gx,
                               double *w, float *gb, float *ga);
    /* det, log|det|, sign and rcond as asked (NULL: not wanted) */
    nbi_la_res (*la_det)(const nbi_backend *be, int64_t n, const float *a, int64_t rs, int64_t cs,
                         int fresh, double *w, float *det, float *logabsdet, float *sign,
                         float *rcond);
    nbi_la_res (*la_det_bwd)(const nbi_backend *be, int64_t n, const float *a, int64_t rs,
                             int64_t cs, int fresh, int log_form, const float *g, double *w,
                             float *ga);
    nbi_la_res (*la_lu)(const nbi_backend *be, int64_t n, const float *a, int64_t rs, int64_t cs,
                        double *w, float *lu, int64_t ld, int32_t *piv);
    nbi_la_res (*la_cholesky)(const nbi_backend *be, int64_t n, const float *a, int64_t rs,
                              int64_t cs, double *w, float *l, int64_t ldl);
    nbi_la_res (*la_cholesky_solve)(const nbi_backend *be, int64_t n, int64_t nrhs, const float *l,
                                    int64_t rs, int64_t cs, const float *b, int64_t brs,
                                    int64_t bcs, double *w, float *x, int64_t ldx);
    nbi_la_res (*la_qr)(const nbi_backend *be, int64_t m, int64_t n, const float *a, int64_t rs,
                        int64_t cs, double *w, float *q, int64_t ldq, float *r, int64_t ldr);
    nbi_la_res (*la_lstsq)(const nbi_backend *be, int64_t m, int64_t n, int64_t nrhs,
                           const float *a, int64_t rs, int64_t cs, const float *b, int64_t brs,
                           int64_t bcs, double *w, float *x, int64_t ldx);

    /* ---- speed: a dense layer's bias, contiguous rows, no iterator ------------------------ */
    /* y[r, :] = b for the M rows of N; g[:] += x[r, :] row by row, r = 0..M-1 in order (the
     * same sums as acc_strided over a stride-0 destination) */
    void (*bias_rows)(const nbi_backend *be, int64_t M, int64_t N, const float *b, float *y);
    void (*acc_rows)(const nbi_backend *be, int64_t M, int64_t N, const float *x, float *g);
    /* ---- end speed ---- */
    /* ---- spectral features (kernels/spectral.h; CPU: kernels/spectral_cpu.c) -------------
     * stft: S [B, K, T, 2] from x [B, L] and the window w [win]. stft_bwd accumulates
     * dx [B, L] += and dw [win] += (either may be NULL: not wanted) from dS.
     * spec_power: P[i] = |S[i]|^power over n complex values; its backward accumulates.
     * band: y [B, M, T] = W x along K (see nbi_band_geom); band_bwd accumulates dx and dW
     * (either may be NULL). The entries that need work space return NB_ERR_NOMEM. */
    nb_status (*stft)(const nbi_backend *be, const nbi_stft_geom *g, const float *x, const float *w,
                      float *S);
    nb_status (*stft_bwd)(const nbi_backend *be, const nbi_stft_geom *g, const float *x,
                          const float *w, const float *dS, float *dx, float *dw);
    void (*spec_power)(const nbi_backend *be, int64_t n, const float *S, float power, float *P);
    void (*spec_power_bwd)(const nbi_backend *be, int64_t n, const float *S, float power,
                           const float *dP, float *dS);
    nb_status (*band)(const nbi_backend *be, const nbi_band_geom *g, const float *W, const float *x,
                      float *y);
    nb_status (*band_bwd)(const nbi_backend *be, const nbi_band_geom *g, const float *W,
                          const float *x, const float *dy, float *dx, float *dW);
    /* ---- int8: quantized inference (kernels/qgemm.h, CPU entries in kernels/qgemm_cpu.c) --
     * qgemm: C = the requantized (or dequantized) u8 A [M, K4] · packed s8 B + bias, over M
     * rows and N columns. quantize: q = the u8 quantization of n floats; returns -1, or the
     * index of the first NaN or infinite x. q_im2col: the im2col rows of n samples of u8
     * feature maps [H, W, C] (sample i at x + i·x_stride, its rows at col + i·col_stride).
     * q_maxpool: max pooling of n such samples. All integer, so every kernel set gives the
     * same bits at any thread count. */
    void (*qgemm)(const nbi_backend *be, int64_t M, int64_t N, int64_t K4, const uint8_t *A,
                  int64_t lda, const int8_t *Bp, const nbi_qepi *e, void *C, int64_t ldc);
    int64_t (*quantize)(const nbi_backend *be, int64_t n, const float *x, float inv, int32_t zero,
                        int32_t lo, int32_t hi, uint8_t *q);
    void (*q_im2col)(const nbi_backend *be, const nbi_q_geom *g, int64_t n, const uint8_t *x,
                     int64_t x_stride, uint8_t pad, int64_t K4, uint8_t *col, int64_t col_stride);
    void (*q_maxpool)(const nbi_backend *be, const nbi_q_geom *g, int64_t n, const uint8_t *x,
                      int64_t x_stride, uint8_t *y, int64_t y_stride);
    /* ---- end int8 ---- */
};

/* seqops: installs the CPU back end's sequence-op entries (kernels/seq_cpu.c), among them
 * the recurrence (kernels/rnn_cpu.c). */
void nbi_backend_cpu_seq(nbi_backend *be);
nb_status nbi_cpu_rnn(const nbi_backend *be, const nbi_rnn_geom *g, const nbi_rnn_bufs *p);
nb_status nbi_cpu_rnn_bwd(const nbi_backend *be, const nbi_rnn_geom *g, const nbi_rnn_bufs *p,
                          const nbi_rnn_grads *gr);

/* Installs the CPU back end's linear algebra entries (kernels/linalg.c). */
void nbi_backend_cpu_linalg(nbi_backend *be);
/* Installs the CPU back end's spectral entries (kernels/spectral_cpu.c). */
void nbi_backend_cpu_spectral(nbi_backend *be);
/* int8: installs the CPU back end's int8 entries (kernels/qgemm_cpu.c). */
void nbi_backend_cpu_int8(nbi_backend *be);

/* Fills *be for `device` (NULL or "" means "cpu") with a budget of `threads` threads (0 = the
 * whole pool). `what` names the caller in messages. NB_ERR_ARG for an unknown device or a
 * negative budget, NB_ERR_UNSUPPORTED for a kernel set this CPU or build cannot run. */
nb_status nbi_backend_init(nbi_backend *be, const char *device, int threads, const char *what);

/* The CPU back end over kernel set k (a set of nbi_kernel_set, or a test's modified copy that
 * outlives the back end). */
void nbi_backend_cpu(nbi_backend *be, const nbi_kernels *k, int threads);

/* The back end of calls that have no context (nb_sgemm, nb_sgemm_batched): device "cpu",
 * the whole pool. Made once; read-only. */
const nbi_backend *nbi_backend_default(void);

/* The threads an entry of `be` may use now: its budget capped by the pool's size. */
static inline int nbi_backend_threads(const nbi_backend *be) {
    return nbi_threads_for(be->threads);
}

/* The device names this build knows, for messages: "cpu, cpu:ref, cpu:c, cpu:avx2, cpu:avx512" */
const char *nbi_backend_devices(void);

#endif
