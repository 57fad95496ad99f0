/* kernels/ref/attention.c — scalar reference of fused scaled dot-product attention, one query
 * row at a time (the oracle of the tiled kernels in kernels/x86/attention.inc).
 *
 * For query i of head (b, h), over the keys j it sees (kernels/seq.h: causal offset, masks):
 *   s_ij = scale q_i·k_j (+ mask_add[b, j]),   m_i = max_j s_ij,   l_i = Σ_j exp(s_ij − m_i)
 *   p_ij = exp(s_ij − m_i) / l_i               (softmax)
 *   z_ij = 1/(1 − p_drop) if kept, 0 if dropped (dropout on the weights, nbi_drop_bits)
 *   o_i  = Σ_j z_ij p_ij v_j,                  lse_i = m_i + log l_i (kept for backward)
 * Three passes over the keys (max, sum, output) recompute the scores instead of storing a
 * row of them: no scratch memory at all, whatever Tk is.
 *
 * Backward, with g_i = ∂L/∂o_i and D_i = g_i·o_i (= Σ_j z_ij p_ij g_i·v_j):
 *   ∂L/∂v_j += z_ij p_ij g_i
 *   ds_ij    = p_ij (z_ij g_i·v_j − D_i)          (the softmax's Jacobian)
 *   ∂L/∂q_i += scale Σ_j ds_ij k_j,   ∂L/∂k_j += scale ds_ij q_i
 * with p_ij = exp(s_ij − lse_i) recomputed from the saved lse. */
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

/* The keys query i sees end before j_end (causal) — and are further filtered by the masks. */
static int64_t keys_end(const nbi_attn_geom *g, int64_t i) {
    if (!g->causal) return g->Tk;
    int64_t e = g->Tk - g->Tq + i + 1;
    return e < 0 ? 0 : (e > g->Tk ? g->Tk : e);
}

/* s_ij, or −inf where the key is masked out */
static float score(const nbi_attn_geom *g, int64_t b, const float *qi, const float *kj, int64_t j) {
    if (g->mask_ignore && g->mask_ignore[b * g->Tk + j]) return -INFINITY;
    float s = 0.0f;
    for (int64_t c = 0; c < g->d; c++) s += qi[c] * kj[c];
    s *= g->scale;
    if (g->mask_add) s += g->mask_add[b * g->Tk + j];
    return s;
}

/* z_ij: the dropout factor of weight (row, j) */
static float keep_factor(const nbi_attn_geom *g, uint32_t key, int64_t j) {
    if (g->p_drop <= 0.0f) return 1.0f;
    return nbi_drop_bits(key, (uint32_t)j) < nbi_drop_threshold(g->p_drop)
               ? 0.0f
               : 1.0f / (1.0f - g->p_drop);
}

/* The start of head (b, h) of an operand laid out as r. */
static inline int64_t head_at(const nbi_attn_rows *r, int64_t b, int64_t h) {
    return b * r->sb + h * r->sh;
}

static void attn_ref(const nbi_attn_geom *g, int64_t bh0, int64_t bh1, const float *q,
                     const float *k, const float *v, float *o, float *lse) {
    const int64_t Tq = g->Tq, Tk = g->Tk, d = g->d, dv = g->dv, H = g->H;
    const nbi_attn_rows Q = nbi_attn_rows_of(&g->q, H, Tq, d),
                        Kr = nbi_attn_rows_of(&g->k, H, Tk, d);
    const nbi_attn_rows Vr = nbi_attn_rows_of(&g->v, H, Tk, dv),
                        O = nbi_attn_rows_of(&g->o, H, Tq, dv);
    for (int64_t bh = bh0; bh < bh1; bh++) {
        const int64_t b = bh / H, h = bh % H;
        const float *K = k + head_at(&Kr, b, h), *Vv = v + head_at(&Vr, b, h);
        for (int64_t i = 0; i < Tq; i++) {
            const int64_t row = bh * Tq + i, je = keys_end(g, i);
            const float *qi = q + head_at(&Q, b, h) + i * Q.st;
            float *oi = o + head_at(&O, b, h) + i * O.st;
            float m = -INFINITY;
            for (int64_t j = 0; j < je; j++) {
                float s = score(g, b, qi, K + j * Kr.st, j);
                m = s > m || s != s ? s : m; /* a NaN score stays, as in PyTorch's softmax */
            }
            memset(oi, 0, (size_t)dv * sizeof *oi);
            if (m == -INFINITY) { /* no key to attend to */
                lse[row] = -INFINITY;
                continue;
            }
            double l = 0.0;
            for (int64_t j = 0; j < je; j++)
                l += exp((double)score(g, b, qi, K + j * Kr.st, j) - m);
            const uint32_t key = nbi_drop_key(g->seed, (uint64_t)row);
            for (int64_t j = 0; j < je; j++) {
                float p = (float)(exp((double)score(g, b, qi, K + j * Kr.st, j) - m) / l);
                float wgt = p * keep_factor(g, key, j);
                const float *vj = Vv + j * Vr.st;
                for (int64_t c = 0; c < dv; c++) oi[c] += wgt * vj[c];
            }
            lse[row] = (float)((double)m + log(l));
        }
    }
}

static void attn_bwd_ref(const nbi_attn_geom *g, int64_t bh0, int64_t bh1, const float *q,
                         const float *k, const float *v, const float *o, const float *lse,
                         const float *go, float *gq, float *gk, float *gv) {
    const int64_t Tq = g->Tq, Tk = g->Tk, d = g->d, dv = g->dv, H = g->H;
    const nbi_attn_rows Q = nbi_attn_rows_of(&g->q, H, Tq, d),
                        Kr = nbi_attn_rows_of(&g->k, H, Tk, d);
    const nbi_attn_rows Vr = nbi_attn_rows_of(&g->v, H, Tk, dv),
                        O = nbi_attn_rows_of(&g->o, H, Tq, dv);
    const nbi_attn_rows GQ = nbi_attn_rows_of(&g->gq, H, Tq, d);
    const nbi_attn_rows GK = nbi_attn_rows_of(&g->gk, H, Tk, d);
    const nbi_attn_rows GV = nbi_attn_rows_of(&g->gv, H, Tk, dv);
    const nbi_attn_rows GO = nbi_attn_rows_of(&g->go, H, Tq, dv);
    for (int64_t bh = bh0; bh < bh1; bh++) {
        const int64_t b = bh / H, h = bh % H;
        const float *K = k + head_at(&Kr, b, h), *Vv = v + head_at(&Vr, b, h);
        if (g->write_grads) { /* the head's rows written: zeros, then the sums below */
            for (int64_t i = 0; gq && i < Tq; i++)
                for (int64_t c = 0; c < d; c++) gq[head_at(&GQ, b, h) + i * GQ.st + c] = 0.0f;
            for (int64_t j = 0; gk && j < Tk; j++)
                for (int64_t c = 0; c < d; c++) gk[head_at(&GK, b, h) + j * GK.st + c] = 0.0f;
            for (int64_t j = 0; gv && j < Tk; j++)
                for (int64_t c = 0; c < dv; c++) gv[head_at(&GV, b, h) + j * GV.st + c] = 0.0f;
        }
        for (int64_t i = 0; i < Tq; i++) {
            const int64_t row = bh * Tq + i, je = keys_end(g, i);
            const float L = lse[row];
            if (L == -INFINITY) continue; /* o_i = 0 whatever the inputs */
            const float *qi = q + head_at(&Q, b, h) + i * Q.st;
            const float *gi = go + head_at(&GO, b, h) + i * GO.st;
            const float *oi = o + head_at(&O, b, h) + i * O.st;
            float Di = 0.0f;
            for (int64_t c = 0; c < dv; c++) Di += gi[c] * oi[c];
            const uint32_t key = nbi_drop_key(g->seed, (uint64_t)row);
            for (int64_t j = 0; j < je; j++) {
                const float *kj = K + j * Kr.st, *vj = Vv + j * Vr.st;
                float p = expf(score(g, b, qi, kj, j) - L);
                if (p == 0.0f) continue; /* masked out, or too small to matter */
                float z = keep_factor(g, key, j), gdv = 0.0f;
                for (int64_t c = 0; c < dv; c++) gdv += gi[c] * vj[c];
                float ds = p * (z * gdv - Di) * g->scale;
                if (gv) {
                    float wgt = z * p;
                    float *gvj = gv + head_at(&GV, b, h) + j * GV.st;
                    for (int64_t c = 0; c < dv; c++) gvj[c] += wgt * gi[c];
                }
                if (gq) {
                    float *gqi = gq + head_at(&GQ, b, h) + i * GQ.st;
                    for (int64_t c = 0; c < d; c++) gqi[c] += ds * kj[c];
                }
                if (gk) {
                    float *gkj = gk + head_at(&GK, b, h) + j * GK.st;
                    for (int64_t c = 0; c < d; c++) gkj[c] += ds * qi[c];
                }
            }
        }
    }
}

void nbi_attn_fill_ref(struct nbi_kernels *k) {
    k->attn = attn_ref;
    k->attn_bwd = attn_bwd_ref;
}
