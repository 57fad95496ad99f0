/* kernels/ref/seq.c — scalar reference kernels of the sequence ops: embedding rows, layer and
 * RMS norm, token cross-entropy, column sums; and the function that installs every reference
 * kernel of the family (attention.c and rnn.c add theirs). Sums run in double: these are the
 * oracle the vector kernels (kernels/x86/seq.inc) are tested against.
 *
 *   embedding      y_t = W[id_t];  ∂L/∂W[v] = Σ_{t: id_t = v, v ≠ pad} ∂L/∂y_t  (token order)
 *   layer norm     μ = mean(x), σ² = mean((x − μ)²), ρ = 1/sqrt(σ² + eps), x̂ = (x − μ) ρ,
 *                  y = x̂ ⊙ w + b;  with g = gy ⊙ w:  dx = ρ (g − mean(g) − x̂ mean(g ⊙ x̂))
 *   RMS norm       ρ = 1/sqrt(mean(x²) + eps), x̂ = x ρ, y = x̂ ⊙ w;  dx = ρ (g − x̂ mean(g ⊙ x̂))
 *                  both: dw = Σ_rows gy ⊙ x̂, db = Σ_rows gy
 *   cross-entropy  with label smoothing ε over V classes (PyTorch's definition: the target
 *                  distribution is (1 − ε) one_hot(y) + ε/V):
 *                  ℓ = −Σ_c q_c log p_c = lse − (1 − ε) x_y − (ε/V) Σ_c x_c,
 *                  ∂ℓ/∂x_c = p_c − (1 − ε)[c = y] − ε/V,  p = softmax(x), lse = log Σ exp x */
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

static void embed_ref(int64_t n, const int32_t *ids, int64_t D, const float *W, float *y) {
    for (int64_t t = 0; t < n; t++)
        memcpy(y + t * D, W + (int64_t)ids[t] * D, (size_t)D * sizeof *y);
}

static void embed_bwd_ref(int64_t n, const int32_t *ids, int64_t pad, int64_t D, const float *gy,
                          float *gW, int64_t v0, int64_t v1) {
    for (int64_t t = 0; t < n; t++) {
        int64_t v = ids[t];
        if (v < v0 || v >= v1 || v == pad) continue;
        float *row = gW + v * D;
        const float *g = gy + t * D;
        for (int64_t j = 0; j < D; j++) row[j] += g[j];
    }
}

static void norm_ref(int rms, int64_t rows, int64_t D, const float *x, const float *w,
                     const float *b, float eps, float *y, float *mean, float *rstd) {
    for (int64_t r = 0; r < rows; r++, x += D, y += D) {
        double mu = 0.0, q = 0.0;
        if (!rms) {
            for (int64_t j = 0; j < D; j++) mu += x[j];
            mu = D ? mu / (double)D : 0.0;
        }
        for (int64_t j = 0; j < D; j++) { /* the squares about the mean: no cancellation */
            double d = (double)x[j] - mu;
            q += d * d;
        }
        double var = D ? q / (double)D : 0.0;
        float m = (float)mu, rs = (float)(1.0 / sqrt(var + (double)eps));
        mean[r] = m;
        rstd[r] = rs;
        for (int64_t j = 0; j < D; j++) {
            float xh = (x[j] - m) * rs;
            y[j] = xh * (w ? w[j] : 1.0f) + (b ? b[j] : 0.0f);
        }
    }
}

static void norm_bwd_ref(int rms, int64_t rows, int64_t D, const float *x, const float *w,
                         const float *mean, const float *rstd, const float *gy, float *gx,
                         float *gw, float *gb) {
    for (int64_t r = 0; r < rows; r++, x += D, gy += D) {
        float m = mean[r], rs = rstd[r];
        double sg = 0.0, sgx = 0.0; /* Σ g, Σ g x̂ */
        for (int64_t j = 0; j < D; j++) {
            float xh = (x[j] - m) * rs, g = gy[j] * (w ? w[j] : 1.0f);
            sg += g;
            sgx += (double)g * xh;
            if (gw) gw[j] += gy[j] * xh;
            if (gb) gb[j] += gy[j];
        }
        if (!gx) continue;
        float mg = rms ? 0.0f : (float)(sg / (double)D), mgx = (float)(sgx / (double)D);
        float *o = gx + r * D;
        for (int64_t j = 0; j < D; j++) {
            float xh = (x[j] - m) * rs, g = gy[j] * (w ? w[j] : 1.0f);
            o[j] += rs * (g - mg - xh * mgx);
        }
    }
}

static void xent_ref(int64_t rows, int64_t V, const float *x, const int32_t *tgt, int64_t ignore,
                     float eps, float *loss, float *lse) {
    for (int64_t r = 0; r < rows; r++, x += V) {
        float m = -INFINITY;
        for (int64_t c = 0; c < V; c++) m = x[c] > m ? x[c] : m;
        double s = 0.0, sx = 0.0;
        for (int64_t c = 0; c < V; c++) {
            s += exp((double)x[c] - (double)m);
            sx += x[c];
        }
        double l = (double)m + log(s);
        lse[r] = (float)l;
        if (tgt[r] == ignore) {
            loss[r] = 0.0f;
            continue;
        }
        double e = eps;
        loss[r] = (float)(l - (1.0 - e) * x[tgt[r]] - e / (double)V * sx);
    }
}

static void xent_bwd_ref(int64_t rows, int64_t V, const float *x, const int32_t *tgt,
                         int64_t ignore, float eps, const float *lse, const float *scale,
                         int64_t scale_stride, float *gx) {
    const float u = eps / (float)V, hit = 1.0f - eps;
    for (int64_t r = 0; r < rows; r++, x += V, gx += V) {
        if (tgt[r] == ignore) continue;
        float s = scale[r * scale_stride], l = lse[r];
        for (int64_t c = 0; c < V; c++) {
            float d = expf(x[c] - l) - u - (c == tgt[r] ? hit : 0.0f);
            gx[c] += s * d;
        }
    }
}

static void colsum_ref(int64_t rows, int64_t cols, const float *x, int64_t ld, float *y) {
    for (int64_t j = 0; j < cols; j++) {
        float s = 0.0f;
        for (int64_t r = 0; r < rows; r++) s += x[r * ld + j];
        y[j] += s;
    }
}

void nbi_seq_fill_ref(struct nbi_kernels *k) {
    k->embed = embed_ref;
    k->embed_bwd = embed_bwd_ref;
    k->norm = norm_ref;
    k->norm_bwd = norm_bwd_ref;
    k->xent = xent_ref;
    k->xent_bwd = xent_bwd_ref;
    k->colsum = colsum_ref;
    nbi_attn_fill_ref(k);
    nbi_rnn_fill_ref(k);
}
