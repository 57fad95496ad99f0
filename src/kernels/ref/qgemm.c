/* kernels/ref/qgemm.c — the scalar references of the int8 kernels (kernels/qgemm.h): the
 * u8 × s8 product with its requantization, and the quantization of f32 inputs. Plain loops
 * that read the packed weights through their index formula; every faster version must give
 * the same bits (tests/test_qkernels.c). */
#include "kernels/qgemm.h"

/* acc[i, j] = bias[j] + Σ_k A[i, k] · B[k, j], then requantized or dequantized. The sum is
 * taken in 64 bits and must fit 32 (the callers' bounds, kernels/qgemm.h, guarantee it: a
 * violation is a broken invariant, not a user error). */
void nbi_qgemm_ref(int64_t M, int64_t N, int64_t K4, const uint8_t *A, int64_t lda,
                   const int8_t *Bp, const nbi_qepi *e, void *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        const uint8_t *a = A + i * lda;
        for (int64_t j = 0; j < N; j++) {
            int64_t acc = e->bias[j];
            for (int64_t k = 0; k < K4; k++)
                acc += (int64_t)a[k] * (int64_t)Bp[nbi_q_packed_at(K4, k, j)];
            NBI_ASSERT(acc >= INT32_MIN && acc <= INT32_MAX);
            if (e->out_f32)
                ((float *)C)[i * ldc + j] = (float)(int32_t)acc * e->m[j];
            else
                ((uint8_t *)C)[i * ldc + j] =
                    nbi_q_requant((int32_t)acc, e->m[j], e->zero, e->lo, e->hi);
        }
    }
}

/* q = clamp(rne(x · inv) + zero, lo, hi); the first non-finite x is reported. */
int64_t nbi_quantize_ref(int64_t n, const float *x, float inv, int32_t zero, int32_t lo, int32_t hi,
                         uint8_t *q) {
    int64_t bad = -1;
    for (int64_t i = 0; i < n; i++) {
        if (bad < 0 && !(x[i] - x[i] == 0.0f)) bad = i; /* NaN and ±inf give NaN */
        q[i] = nbi_q_quantize1(x[i], inv, zero, lo, hi);
    }
    return bad;
}
