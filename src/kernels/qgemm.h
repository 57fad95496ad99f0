/* kernels/qgemm.h — the int8 kernel family of quantized inference (src/quant/,
 * docs/quantization.md): the u8 × s8 → i32 matrix product with its requantization, the
 * quantization of f32 inputs to u8, and the u8 loops around them (im2col, max pooling).
 *
 * Everything here is integer arithmetic plus one defined float step, so that every kernel set
 * gives the same bits:
 *
 *   product      acc[i, j] = bias[j] + Σ_k A[i, k] · B[k, j]       A u8, B s8, acc i32
 *   requantize   q = clamp(rne((float)acc · m[j]) + zero, lo, hi)     u8 out
 *   dequantize   y = (float)acc · m[j]                                f32 out
 *   quantize     q = clamp(rne(x · inv) + zero, lo, hi)               f32 in, u8 out
 *
 * where (float)acc rounds to nearest even (exact below 2^24), each float product is one IEEE
 * multiplication rounded to nearest even, and rne rounds to the nearest integer, ties to
 * even. The clamp is applied before rne, to the integer bounds lo − zero and hi − zero (the
 * same result, since rne is monotone and fixes integers; it keeps the conversion in range).
 * The scalar definitions below (nbi_q_requant, nbi_q_quantize1) are the reference every
 * vector kernel reproduces bit for bit.
 *
 * No step may overflow: the callers keep A in [0, 127] (7-bit activations: AVX2's
 * vpmaddubsw adds two u8·s8 products into a saturating i16, and 2 · 127 · 128 = 32512 fits
 * where 2 · 255 · 127 would not), K ≤ NBI_Q_MAX_K and |bias| ≤ NBI_Q_MAX_BIAS, so every
 * partial sum, in any order, lies within ±(NBI_Q_MAX_BIAS + 2 · 127 · 128 · K) < 2^31 (the
 * bias may hold −zero · Σ_k B[k, j] besides the quantized bias). Summation order then does
 * not matter: integer addition is exact.
 *
 * B is packed once (nbi_q_pack) into panels of NBI_Q_NR = 16 columns; inside a panel, for
 * each group of 4 rows k = 4g .. 4g + 3, the 16 columns' 4 bytes lie together:
 *
 *     packed[(j / 16) · K4 · 16 + (k / 4) · 64 + (j % 16) · 4 + k % 4] = B[k, j]
 *
 * with K padded to K4 = a multiple of 4 and N to a multiple of 16, by zeros. That is the
 * operand layout of vpdpbusd (4 consecutive u8 of A, broadcast, against 4 s8 of B per 32-bit
 * lane) and of vpmaddubsw + vpmaddwd. A's rows are read K4 bytes wide (the bytes past K meet
 * zero weights, but must be initialised). */
#ifndef NBI_QGEMM_H
#define NBI_QGEMM_H

#include "base/base.h"

#define NBI_Q_NR 16              /* columns of a packed panel */
#define NBI_Q_MAX_K 32768        /* the longest dot product the kernels accept */
#define NBI_Q_MAX_BIAS (1 << 29) /* the largest |quantized bias| before the zero-point term */
#define NBI_Q_ACT_MAX 127        /* activations are 7-bit: u8 in [0, 127] */

static inline int64_t nbi_q_k4(int64_t K) {
    return (K + 3) & ~(int64_t)3;
}
static inline int64_t nbi_q_n16(int64_t N) {
    return (N + 15) & ~(int64_t)15;
}
/* Where B[k, j] lies in the packed buffer of a K4-row matrix. */
static inline int64_t nbi_q_packed_at(int64_t K4, int64_t k, int64_t j) {
    return (j / 16) * K4 * 16 + (k / 4) * 64 + (j % 16) * 4 + k % 4;
}

/* Round to nearest, ties to even, for |t| <= 2^22: t + 1.5 · 2^23 lies where floats are
 * whole numbers, so the addition rounds t (default rounding mode, which nabla never changes)
 * and the subtraction is exact. Without fast-math the compiler may not fold the two; the
 * assignment rounds away any excess precision (x87). */
static inline float nbi_q_rne(float t) {
    float r = t + 12582912.0f;
    return r - 12582912.0f;
}

/* max and min with the operand order of x86's maxps/minps: the second operand when either
 * is NaN, so the vector kernels and this definition agree on every input. */
static inline float nbi_q_max(float a, float b) {
    return a > b ? a : b;
}
static inline float nbi_q_min(float a, float b) {
    return a < b ? a : b;
}

/* The requantization of one accumulator (the definition; see the top comment). */
static inline uint8_t nbi_q_requant(int32_t acc, float m, int32_t zero, int32_t lo, int32_t hi) {
    float t = (float)acc * m;
    t = nbi_q_min(nbi_q_max(t, (float)(lo - zero)), (float)(hi - zero));
    return (uint8_t)((int32_t)nbi_q_rne(t) + zero);
}

/* The quantization of one input value (the definition). A NaN gives lo. */
static inline uint8_t nbi_q_quantize1(float x, float inv, int32_t zero, int32_t lo, int32_t hi) {
    float t = x * inv;
    t = nbi_q_min(nbi_q_max(t, (float)(lo - zero)), (float)(hi - zero));
    return (uint8_t)((int32_t)nbi_q_rne(t) + zero);
}

/* What the product does with its accumulators: requantize to u8 (out_f32 = 0) or dequantize
 * to f32. bias and m have an entry per column of C (the call's N); lo <= zero <= hi within
 * [0, 255] for u8 output (a fused ReLU is lo = zero). */
typedef struct nbi_qepi {
    const int32_t *bias; /* [N] */
    const float *m;      /* [N] the multiplier: scale_in · scale_w[j] / scale_out, or for f32
                            output scale_in · scale_w[j] */
    int32_t zero, lo, hi;
    int out_f32;
} nbi_qepi;

/* C[i, j] for i < M, j < N from A (M rows of K4 bytes, row stride lda), packed B (K4 rows,
 * at least N columns: nbi_q_pack) and the epilogue; C is u8 or f32 (e->out_f32) with row
 * stride ldc elements. Single-threaded. */
typedef void (*nbi_qgemm_fn)(int64_t M, int64_t N, int64_t K4, const uint8_t *A, int64_t lda,
                             const int8_t *Bp, const nbi_qepi *e, void *C, int64_t ldc);

/* q[i] = the quantization of x[i] for i < n (nbi_q_quantize1). Returns -1, or the index of
 * the first x that is NaN or infinite (q is then written all the same). */
typedef int64_t (*nbi_quantize_fn)(int64_t n, const float *x, float inv, int32_t zero, int32_t lo,
                                   int32_t hi, uint8_t *q);

/* Packs B, given as N rows of K s8 weights (B[k, j] = W[j · ldw + k]: PyTorch's [out, in]),
 * into dst (nbi_q_packed_bytes(K, N) bytes, padding zeroed). */
void nbi_q_pack(int64_t K, int64_t N, const int8_t *W, int64_t ldw, int8_t *dst);
static inline int64_t nbi_q_packed_bytes(int64_t K, int64_t N) {
    return nbi_q_k4(K) * nbi_q_n16(N);
}

/* ---- u8 feature maps, [H, W, C] per sample (channels last) ------------------------------ */

typedef struct nbi_q_geom {
    int64_t C, H, W;        /* input */
    int64_t KH, KW;         /* window */
    int64_t sh, sw;         /* stride */
    int64_t dh, dw;         /* dilation */
    int64_t pt, pb, pl, pr; /* padding: top, bottom, left, right */
    int64_t OH, OW;         /* output */
} nbi_q_geom;

/* The im2col rows of one sample: row (oh, ow) holds x[oh·sh + kh·dh − pt, ow·sw + kw·dw − pl,
 * c] at column (kh · KW + kw) · C + c, `pad` where the window leaves the input, zeros from
 * column KH·KW·C to K4; rows are K4 bytes apart. */
void nbi_q_im2col(const nbi_q_geom *g, const uint8_t *x, uint8_t pad, int64_t K4, uint8_t *col);
/* Max pooling of one sample (padding never wins: windows are clipped to the input). */
void nbi_q_maxpool(const nbi_q_geom *g, const uint8_t *x, uint8_t *y);

/* ---- the implementations, for tests and benchmarks ----------------------------------------- */

typedef struct nbi_qgemm_impl {
    const char *name; /* "ref", "c", "avx2", "avxvnni", "avx512bw", "avx512vnni" */
    nbi_qgemm_fn fn;
} nbi_qgemm_impl;
/* The product's implementations this CPU runs, plainest first; returns their number. */
int nbi_qgemm_impls(const nbi_qgemm_impl **out);
/* The same for the quantization kernel ("ref", "avx2", "avx512"). */
typedef struct nbi_quantize_impl {
    const char *name;
    nbi_quantize_fn fn;
} nbi_quantize_impl;
int nbi_quantize_impls(const nbi_quantize_impl **out);

/* The scalar references (kernels/ref/qgemm.c) and the portable C product (kernels/qgemm_c.c). */
void nbi_qgemm_ref(int64_t M, int64_t N, int64_t K4, const uint8_t *A, int64_t lda,
                   const int8_t *Bp, const nbi_qepi *e, void *C, int64_t ldc);
int64_t nbi_quantize_ref(int64_t n, const float *x, float inv, int32_t zero, int32_t lo, int32_t hi,
                         uint8_t *q);
void nbi_qgemm_c(int64_t M, int64_t N, int64_t K4, const uint8_t *A, int64_t lda, const int8_t *Bp,
                 const nbi_qepi *e, void *C, int64_t ldc);
/* The x86 versions (kernels/x86/qgemm_*.c, quantize_*.c): call only where the CPU runs them. */
void nbi_qgemm_avx2(int64_t M, int64_t N, int64_t K4, const uint8_t *A, int64_t lda,
                    const int8_t *Bp, const nbi_qepi *e, void *C, int64_t ldc);
void nbi_qgemm_avxvnni(int64_t M, int64_t N, int64_t K4, const uint8_t *A, int64_t lda,
                       const int8_t *Bp, const nbi_qepi *e, void *C, int64_t ldc);
void nbi_qgemm_avx512bw(int64_t M, int64_t N, int64_t K4, const uint8_t *A, int64_t lda,
                        const int8_t *Bp, const nbi_qepi *e, void *C, int64_t ldc);
void nbi_qgemm_avx512vnni(int64_t M, int64_t N, int64_t K4, const uint8_t *A, int64_t lda,
                          const int8_t *Bp, const nbi_qepi *e, void *C, int64_t ldc);
int64_t nbi_quantize_avx2(int64_t n, const float *x, float inv, int32_t zero, int32_t lo,
                          int32_t hi, uint8_t *q);
int64_t nbi_quantize_avx512(int64_t n, const float *x, float inv, int32_t zero, int32_t lo,
                            int32_t hi, uint8_t *q);

struct nbi_kernels;
/* int8: installs the reference int8 kernels in a kernel set (fill_ref), and the best int8
 * kernels of the set's instruction-set level that this CPU runs ("c", "avx2": AVX-VNNI when
 * present, else vpmaddubsw; "avx512": AVX512-VNNI, else AVX-512BW, else AVX2's). */
void nbi_int8_fill_ref(struct nbi_kernels *k);
void nbi_int8_fill(struct nbi_kernels *k, const char *isa);

#endif
