/* kernels/ref/binary.c — scalar reference kernels for broadcasting binary ops and row-wise
 * softmax / log-softmax (forward and backward). Binary inputs carry a stride (0 when broadcast
 * along the run); the output is contiguous. */
#include "kernels/kernels.h"

#include <math.h>

#define BINARY(name, EXPR)                                                                   \
    static void name##_ref(int64_t n, const float *a, int64_t sa, const float *b, int64_t sb, \
                           float *y) {                                                       \
        if (sa == 1 && sb == 1) {                                                            \
            for (int64_t i = 0; i < n; i++) {                                                \
                float u = a[i], v = b[i];                                                    \
                y[i] = (EXPR);                                                               \
            }                                                                                \
        } else if (sa == 1 && sb == 0) {                                                     \
            float v = b[0];                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                \
                float u = a[i];                                                              \
                y[i] = (EXPR);                                                               \
            }                                                                                \
        } else if (sa == 0 && sb == 1) {                                                     \
            float u = a[0];                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                \
                float v = b[i];                                                              \
                y[i] = (EXPR);                                                               \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < n; i++) {                                                \
                float u = a[i * sa], v = b[i * sb];                                          \
                y[i] = (EXPR);                                                               \
            }                                                                                \
        }                                                                                    \
    }

BINARY(add, u + v)
BINARY(sub, u - v)
BINARY(mul, u * v)
BINARY(div, u / v)
BINARY(pow, powf(u, v))

/* The backward of the binary ops for one run: g += ∂(a op b)/∂(input `which`) · gy, the
 * operands strided (a stride of 0 in g sums over a broadcast dimension: un-broadcasting).
 * y (the forward's output, read by pow) shares gy's stride. */
void nbi_ref_binary_bwd(int id, int which, int64_t len, const float *gy, int64_t so,
                        const float *y, const float *a, int64_t sa, const float *b, int64_t sb,
                        float *g, int64_t sg) {
    switch (id * 2 + which) {
    case NBI_B_ADD * 2 + 0:
    case NBI_B_ADD * 2 + 1:
    case NBI_B_SUB * 2 + 0:
        for (int64_t i = 0; i < len; i++) g[i * sg] += gy[i * so];
        break;
    case NBI_B_SUB * 2 + 1:
        for (int64_t i = 0; i < len; i++) g[i * sg] -= gy[i * so];
        break;
    case NBI_B_MUL * 2 + 0:
        for (int64_t i = 0; i < len; i++) g[i * sg] += gy[i * so] * b[i * sb];
        break;
    case NBI_B_MUL * 2 + 1:
        for (int64_t i = 0; i < len; i++) g[i * sg] += gy[i * so] * a[i * sa];
        break;
    case NBI_B_DIV * 2 + 0: /* d(a/b)/da = 1/b */
        for (int64_t i = 0; i < len; i++) g[i * sg] += gy[i * so] / b[i * sb];
        break;
    case NBI_B_DIV * 2 + 1: /* d(a/b)/db = -a/b² */
        for (int64_t i = 0; i < len; i++) {
            float bv = b[i * sb];
            g[i * sg] -= gy[i * so] * a[i * sa] / (bv * bv);
        }
        break;
    case NBI_B_POW * 2 + 0: /* d(a^b)/da = b a^(b-1), 0 where b = 0 */
        for (int64_t i = 0; i < len; i++) {
            float bv = b[i * sb];
            if (bv != 0.0f) g[i * sg] += gy[i * so] * bv * powf(a[i * sa], bv - 1.0f);
        }
        break;
    case NBI_B_POW * 2 + 1: /* d(a^b)/db = a^b log a, 0 where a = 0 and b >= 0 */
        for (int64_t i = 0; i < len; i++) {
            float av = a[i * sa];
            if (!(av == 0.0f && b[i * sb] >= 0.0f)) g[i * sg] += gy[i * so] * y[i * so] * logf(av);
        }
        break;
    default:
        NBI_ASSERT(0);
    }
}

/* softmax(x)_j = exp(x_j - max x) / Σ_k exp(x_k - max x) */
static void softmax_ref(int64_t rows, int64_t cols, const float *x, float *y) {
    for (int64_t r = 0; r < rows; r++, x += cols, y += cols) {
        float m = -INFINITY;
        for (int64_t j = 0; j < cols; j++) m = x[j] > m ? x[j] : m;
        float s = 0.0f;
        for (int64_t j = 0; j < cols; j++) {
            y[j] = expf(x[j] - m);
            s += y[j];
        }
        float inv = 1.0f / s;
        for (int64_t j = 0; j < cols; j++) y[j] *= inv;
    }
}

/* log_softmax(x)_j = (x_j - max x) - log Σ_k exp(x_k - max x), subtracted in that order:
 * x_j - (max x + log Σ) would round the log-sum-exp to the ulp of max x (6e-5 at 1000). */
static void log_softmax_ref(int64_t rows, int64_t cols, const float *x, float *y) {
    for (int64_t r = 0; r < rows; r++, x += cols, y += cols) {
        float m = -INFINITY;
        for (int64_t j = 0; j < cols; j++) m = x[j] > m ? x[j] : m;
        float s = 0.0f;
        for (int64_t j = 0; j < cols; j++) s += expf(x[j] - m);
        float ls = logf(s);
        for (int64_t j = 0; j < cols; j++) y[j] = (x[j] - m) - ls;
    }
}

/* Backward of softmax, y = softmax(x) per row: gx += y ⊙ (gy - Σ_k gy_k y_k) */
static void softmax_bwd_ref(int64_t rows, int64_t cols, const float *y, const float *gy,
                            float *gx) {
    for (int64_t r = 0; r < rows; r++, y += cols, gy += cols, gx += cols) {
        float d = 0.0f;
        for (int64_t j = 0; j < cols; j++) d += gy[j] * y[j];
        for (int64_t j = 0; j < cols; j++) gx[j] += y[j] * (gy[j] - d);
    }
}

/* Backward of log-softmax, y = log_softmax(x) per row: gx += gy - exp(y) Σ_k gy_k */
static void log_softmax_bwd_ref(int64_t rows, int64_t cols, const float *y, const float *gy,
                                float *gx) {
    for (int64_t r = 0; r < rows; r++, y += cols, gy += cols, gx += cols) {
        float s = 0.0f;
        for (int64_t j = 0; j < cols; j++) s += gy[j];
        for (int64_t j = 0; j < cols; j++) gx[j] += gy[j] - expf(y[j]) * s;
    }
}

/* The table, from the NB_BINARY lines of nabla/ops.def: an entry without its kernel above
 * does not compile. */
nbi_binary_fn const nbi_ref_binary[NBI_B_COUNT] = {
#define NB_BINARY(ID, name) [NBI_B_##ID] = name##_ref,
#include "nabla/ops.def"
};
nbi_rows_fn const nbi_ref_softmax = softmax_ref;
nbi_rows_fn const nbi_ref_log_softmax = log_softmax_ref;
nbi_rows_bwd_fn const nbi_ref_softmax_bwd = softmax_bwd_ref;
nbi_rows_bwd_fn const nbi_ref_log_softmax_bwd = log_softmax_bwd_ref;
