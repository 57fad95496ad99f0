/* kernels/seq.h — the kernel families of the sequence ops (language models): embedding rows,
 * layer and RMS norm, fused scaled dot-product attention, token cross-entropy and the gates
 * of the recurrent cells (rnn, lstm, gru).
 *
 * Kernels here are single-threaded and see raw pointers, sizes and strides only. The kernel
 * sets (kernels.h) hold one of each; the CPU back end (kernels/seq_cpu.c, kernels/rnn_cpu.c)
 * splits the work over the thread pool so that every output element is computed by one piece
 * in a fixed order — results do not depend on the thread count. The scalar references are in
 * kernels/ref/ (seq.c, attention.c, rnn.c), the vector versions in kernels/x86/seq.inc and
 * kernels/x86/attention.inc. The formulas are written beside the reference kernels. */
#ifndef NBI_SEQ_H
#define NBI_SEQ_H

#include "base/base.h"

/* ---- embedding ------------------------------------------------------------------------------ */
/* y[t, :] = W[ids[t], :] for t < n; every id already checked to lie in [0, V). */
typedef void (*nbi_embed_fn)(int64_t n, const int32_t *ids, int64_t D, const float *W, float *y);
/* gW[ids[t], :] += gy[t, :] for t = 0, 1, ..., n - 1 in that order, for the ids in [v0, v1)
 * other than pad (pad < 0: none). Each row of gW is summed in token order whatever range a
 * piece covers, so splitting the vocabulary over threads changes nothing. */
typedef void (*nbi_embed_bwd_fn)(int64_t n, const int32_t *ids, int64_t pad, int64_t D,
                                 const float *gy, float *gW, int64_t v0, int64_t v1);

/* ---- layer norm and RMS norm over rows of D values ------------------------------------------ */
/* Per row: layer norm (rms = 0) y = (x − μ) ρ ⊙ w + b with ρ = 1/sqrt(σ² + eps); RMS norm
 * (rms = 1) y = x ρ ⊙ w with ρ = 1/sqrt(mean(x²) + eps). w, b may be NULL (1 and 0). Writes
 * μ (0 for RMS norm) and ρ of each row for backward. */
typedef void (*nbi_norm_fn)(int rms, int64_t rows, int64_t D, const float *x, const float *w,
                            const float *b, float eps, float *y, float *mean, float *rstd);
/* Backward: gx += dL/dx (gx NULL: not wanted), and gw += Σ_rows gy ⊙ x̂, gb += Σ_rows gy
 * (NULL: not wanted), rows summed in order. */
typedef void (*nbi_norm_bwd_fn)(int rms, int64_t rows, int64_t D, const float *x, const float *w,
                                const float *mean, const float *rstd, const float *gy, float *gx,
                                float *gw, float *gb);
/* The back end sums the weight and bias gradients over fixed chunks of this many rows and
 * then adds the chunks in order (so the sum is the same on any number of threads); its
 * workspace is 2·D·ceil(rows / NBI_NORM_CHUNK) floats. */
#define NBI_NORM_CHUNK 64
static inline int64_t nbi_norm_ws_floats(int64_t rows, int64_t D) {
    return 2 * D * ((rows + NBI_NORM_CHUNK - 1) / NBI_NORM_CHUNK);
}

/* ---- token cross-entropy: rows of V logits, one i32 target each ------------------------------ */
/* ℓ = lse − (1 − ε) x_y − (ε/V) Σ_c x_c with lse = log Σ_c exp(x_c); loss[r] = 0 where the
 * target is `ignore`. lse[r] is kept for backward. Targets are already checked. */
typedef void (*nbi_xent_fn)(int64_t rows, int64_t V, const float *x, const int32_t *tgt,
                            int64_t ignore, float eps, float *loss, float *lse);
/* gx[r, c] += s_r (softmax(x_r)_c − (1 − ε)[c = y_r] − ε/V) for rows not ignored, with
 * s_r = scale[r · scale_stride] (stride 0: one scale for every row). */
typedef void (*nbi_xent_bwd_fn)(int64_t rows, int64_t V, const float *x, const int32_t *tgt,
                                int64_t ignore, float eps, const float *lse, const float *scale,
                                int64_t scale_stride, float *gx);

/* ---- scaled dot-product attention ------------------------------------------------------------ */
/* Where the rows of an attention operand are: element c of row (position) i of head h of
 * sample b is at base + b·sb + h·sh + i·st + c — each row contiguous, the rows anywhere. All
 * three 0 means contiguous [B, H, T, n] (sb = H·T·n, sh = T·n, st = n). So one kernel reads
 * [B, H, T, d] tensors, views of a KV cache, and the packed output of a QKV projection
 * ([B, T, 3E]: q of head h at b·T·3E + i·3E + h·d) without copying them. */
typedef struct nbi_attn_rows {
    int64_t sb, sh, st;
} nbi_attn_rows;

static inline nbi_attn_rows nbi_attn_rows_of(const nbi_attn_rows *r, int64_t H, int64_t T,
                                             int64_t n) {
    if (r->sb || r->sh || r->st) return *r;
    return (nbi_attn_rows){H * T * n, T * n, n};
}

/* q [B, H, Tq, d], k [B, H, Tk, d], v [B, H, Tk, dv], o [B, H, Tq, dv] laid out as their
 * nbi_attn_rows say (the gradients gq, gk, gv, go each as theirs); lse [B, H, Tq], the masks
 * [B, Tk], contiguous. Query i of a head sees key j when
 *   j <= Tk − Tq + i (causal only; the offset serves generation with a KV cache),
 *   mask_ignore[b, j] == 0 (when given), and
 * its score s_ij = scale q_i·k_j + mask_add[b, j] (when given) is not −inf. A query that
 * sees no key gets o = 0 and lse = −inf (PyTorch gives NaN there). */
typedef struct nbi_attn_geom {
    int64_t B, H, Tq, Tk, d, dv;
    float scale;
    int causal;
    const float *mask_add;        /* [B, Tk] or NULL */
    const int32_t *mask_ignore;   /* [B, Tk] or NULL */
    float p_drop;                 /* dropout on the attention weights, 0 <= p < 1 */
    uint64_t seed;                /* the dropout mask's seed (nbi_drop_key) */
    nbi_attn_rows q, k, v, o;     /* the operands' layouts (zero: contiguous) */
    nbi_attn_rows gq, gk, gv, go; /* the gradients' (backward) */
    int write_grads; /* backward: gq, gk, gv are written, their old contents unread (the
                      * kernel zeroes each head's rows before it adds to them) */
    int path;        /* the vector kernels' path (tests): 0 their choice, 1 the tiles always,
                      * 2 the short-key path wherever it applies (x86/attention.inc) */
} nbi_attn_geom;

/* Heads bh in [bh0, bh1) (bh = b·H + h): o and lse. */
typedef void (*nbi_attn_fn)(const nbi_attn_geom *g, int64_t bh0, int64_t bh1, const float *q,
                            const float *k, const float *v, float *o, float *lse);
/* Their backward: gq, gk, gv += (each may be NULL: not wanted); = with g->write_grads. */
typedef void (*nbi_attn_bwd_fn)(const nbi_attn_geom *g, int64_t bh0, int64_t bh1, const float *q,
                                const float *k, const float *v, const float *o, const float *lse,
                                const float *go, float *gq, float *gk, float *gv);

/* The dropout mask of attention is a pure function of (seed, row, key), so that forward and
 * backward, the reference and the tiled kernels, and any split over threads agree on it:
 * weight (row, j) is dropped when nbi_drop_bits(nbi_drop_key(seed, row), j) < p · 2³²,
 * row = bh·Tq + i. The mixer is MurmurHash3's 32-bit finaliser (a bijection with full
 * avalanche), cheap in 32-bit vector lanes. */
static inline uint32_t nbi_mix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}
static inline uint32_t nbi_drop_key(uint64_t seed, uint64_t row) {
    uint32_t hi = nbi_mix32((uint32_t)(row >> 32) ^ (uint32_t)(seed >> 32));
    return nbi_mix32((uint32_t)seed ^ nbi_mix32((uint32_t)row ^ hi));
}
static inline uint32_t nbi_drop_bits(uint32_t key, uint32_t j) {
    return nbi_mix32(key ^ (j * 0x9E3779B9u));
}
static inline uint32_t nbi_drop_threshold(float p) {
    return (uint32_t)((double)p * 4294967296.0); /* p < 1: below 2³² */
}

/* ---- recurrent cells: one step of the gates ------------------------------------------------ */
enum { NBI_RNN_TANH, NBI_RNN_RELU, NBI_RNN_LSTM, NBI_RNN_GRU };
/* G: gates per unit, in PyTorch's order — LSTM i, f, g, o; GRU r, z, n; rnn 1 */
static inline int64_t nbi_rnn_gates(int kind) {
    return kind == NBI_RNN_LSTM ? 4 : kind == NBI_RNN_GRU ? 3 : 1;
}

/* One time step t on batch rows [r0, r1). Rows b with len[b] <= t are inactive: their state
 * is carried (h = hp, c = cp), their output is 0 and their gates are left as they are. */
typedef struct nbi_rnn_step {
    int kind;
    int64_t H;
    float *a;
    int64_t lda;      /* in: x W_ihᵀ + biases at t (rows of G·H); out: the activations */
    const float *hw;  /* hp W_hhᵀ, rows of G·H, contiguous */
    const float *bhn; /* GRU: b_hn [H] or NULL */
    float *hnw;       /* GRU out: W_hn hp + b_hn (rows ld ldp) */
    const float *hp, *cp;
    int64_t ldp; /* the states before the step (cp: LSTM) */
    float *h, *c;
    int64_t ldh; /* the states after */
    float *y;
    int64_t ldy; /* the output at t */
    const int32_t *len;
    int64_t t;
} nbi_rnn_step;
typedef void (*nbi_rnn_step_fn)(const nbi_rnn_step *s, int64_t r0, int64_t r1);

/* Its backward on rows [r0, r1): from dh, dc (the gradient of the states after the step,
 * [rows, H] contiguous) and gy (of the output at t), writes the gradient of the
 * pre-activations into a (in place of the activations: input side) and dph (GRU: hidden side,
 * whose n part is r ⊙ dn; NULL otherwise: the same as a), and the parts of the gradient of
 * the states before the step that do not pass through W_hh into dhp, dcp. */
typedef struct nbi_rnn_step_bwd {
    int kind;
    int64_t H;
    float *a;
    int64_t lda;
    float *dph;
    const float *hnw;
    const float *hp, *cp;
    int64_t ldp;
    const float *gy;
    int64_t ldy;
    const float *dh, *dc;
    float *dhp, *dcp;
    const int32_t *len;
    int64_t t;
} nbi_rnn_step_bwd;
typedef void (*nbi_rnn_step_bwd_fn)(const nbi_rnn_step_bwd *s, int64_t r0, int64_t r1);

/* y[j] += Σ_r x[r·ld + j], rows in order (the bias gradients) */
typedef void (*nbi_colsum_fn)(int64_t rows, int64_t cols, const float *x, int64_t ld, float *y);

/* One layer, one direction: x [B, T, I] (batch first), W_ih [G·H, I], W_hh [G·H, H]. */
typedef struct nbi_rnn_geom {
    int kind;
    int64_t B, T, I, H;
    int reverse;      /* process t = T − 1 down to 0 */
    const char *what; /* the op, for messages */
} nbi_rnn_geom;

/* The buffers of the recurrence. Inputs may be NULL where said; the saved ones are arena
 * memory the op keeps for backward: a [B, T, G·H] (activations; backward overwrites them with
 * gradients), hp [B, T, H] and cp [B, T, H] (the states before each time t; cp: LSTM), hnw
 * [B, T, H] (GRU: W_hn h + b_hn). */
typedef struct nbi_rnn_bufs {
    const float *x, *h0, *c0, *W_ih, *W_hh, *b_ih, *b_hh; /* h0, c0, biases: NULL = 0 */
    const int32_t *len;                                   /* [B] in [0, T], or NULL: all T */
    float *y, *hn, *cn;                                   /* [B, T, H], [B, H], [B, H] */
    float *a, *hp, *cp, *hnw;
    float *ws; /* nbi_rnn_ws_floats(g, 0) */
    float *wp; /* nbi_rnn_wp_floats(g), scratch for W_hh packed once; NULL: packed each step */
} nbi_rnn_bufs;

/* Gradients: gy [B, T, H], ghn, gcn [B, H] in; the rest accumulate (+=), NULL: not wanted. */
typedef struct nbi_rnn_grads {
    const float *gy, *ghn, *gcn;
    float *gx, *gh0, *gc0, *gW_ih, *gW_hh, *gb_ih, *gb_hh;
    float *ws; /* nbi_rnn_ws_floats(g, 1) */
    float *wp; /* nbi_rnn_wp_floats(g), as in nbi_rnn_bufs */
} nbi_rnn_grads;

/* The scratch floats of the forward (backward = 0) or backward recurrence. */
static inline int64_t nbi_rnn_ws_floats(const nbi_rnn_geom *g, int backward) {
    int64_t GH = nbi_rnn_gates(g->kind) * g->H;
    if (!backward) return g->B * GH;
    return 4 * g->B * g->H + (g->kind == NBI_RNN_GRU ? g->B * g->T * GH : 0);
}

/* Room for W_hh packed as the GEMM's column panels (kernels.h, gemm_pack) in either
 * direction, W_hhᵀ [H, G·H] forward and W_hh [G·H, H] backward, for panels up to 64 wide:
 * the back end packs it once per pass when its packed size fits. */
static inline int64_t nbi_rnn_wp_floats(const nbi_rnn_geom *g) {
    int64_t GH = nbi_rnn_gates(g->kind) * g->H, fw = (GH + 63) * g->H, bw = (g->H + 63) * GH;
    return fw > bw ? fw : bw;
}

/* ---- the reference kernels (kernels/ref/) and the vector sets (kernels/x86/) ---------------- */
struct nbi_kernels;
/* Installs every reference kernel of the family (ref/seq.c; it calls the other two). */
void nbi_seq_fill_ref(struct nbi_kernels *k);
void nbi_attn_fill_ref(struct nbi_kernels *k); /* ref/attention.c */
void nbi_rnn_fill_ref(struct nbi_kernels *k);  /* ref/rnn.c */
/* The vector kernels (x86/seq.inc, x86/attention.inc) over a set's entries; call only where
 * the CPU runs the instruction set. */
void nbi_seq_avx2(struct nbi_kernels *k);
void nbi_seq_avx512(struct nbi_kernels *k);

#endif
