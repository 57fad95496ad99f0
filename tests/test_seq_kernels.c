/* test_seq_kernels — the sequence ops' vector kernels (AVX2, AVX-512: whichever this CPU runs)
 * against their scalar twins in kernels/ref/, on odd sizes, with canaries around every
 * output to catch writes past either end:
 *   - layer norm and RMS norm, forward and backward, with and without weight and bias;
 *   - token cross-entropy, forward and backward, with ignored rows and label smoothing;
 *   - the recurrent cells' step kernels (rnn tanh/relu, lstm, gru), forward and backward,
 *     with strided rows and a row whose sequence has ended;
 *   - column sums (bit for bit: the same order of additions);
 *   - attention, forward and backward: one and several tiles of queries and keys, head sizes
 *     below, at and above the transposed tile's chunk, causal with Tq < Tk, both masks,
 *     dropout, keys all masked; the short-key path and the tiles each forced on the same
 *     inputs (attention_paths), written gradients, 1 and 2 threads bit for bit.
 * Agreement is to rounding: the vector kernels sum in lanes and use vecmath.h's exp and tanh. */
#include "nbtest.h"

#include "kernels/backend.h"
#include "kernels/kernels.h"

static const char *const simd_isas[] = {"avx2", "avx512"};

#define PAD 16
#define CANARY 1234.5f

/* n floats with PAD canaries on either side; the pointer returned is the first element */
static float *buf(int64_t n) {
    float *p = malloc((size_t)(n + 2 * PAD) * sizeof *p);
    for (int64_t i = 0; i < n + 2 * PAD; i++) p[i] = CANARY;
    return p + PAD;
}
static void unbuf(float *p) {
    free(p - PAD);
}

static float *rand_buf(int64_t n, float lo, float hi, nb_rng *rng) {
    float *p = buf(n);
    for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * nb_rng_uniform(rng);
    return p;
}

static float *copy_buf(const float *src, int64_t n) {
    float *p = buf(n);
    memcpy(p, src, (size_t)n * sizeof *p);
    return p;
}

static int canaries_ok(const float *p, int64_t n) {
    for (int64_t i = -PAD; i < 0; i++)
        if (p[i] != CANARY) return 0;
    for (int64_t i = n; i < n + PAD; i++)
        if (p[i] != CANARY) return 0;
    return 1;
}

/* got ≈ want elementwise: |got − want| <= tol (scale + |want|); reports the first few */
static int agree(const char *what, const float *got, const float *want, int64_t n, double tol,
                 double scale) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        if (isnan(g) && isnan(w)) continue;
        if (g == w) continue;
        if (fabs(g - w) <= tol * (scale + fabs(w))) continue;
        if (bad++ < 3) CHECK_MSG(0, "%s[%lld] = %.9g, reference %.9g", what, (long long)i, g, w);
    }
    CHECK_MSG(canaries_ok(got, n), "%s: written outside its %lld elements", what, (long long)n);
    return bad;
}

static const nbi_kernels *ref_set(void) {
    return nbi_kernel_set("ref");
}

/* ---- layer norm, RMS norm ------------------------------------------------------------------- */

static void test_norm(void) {
    static const int64_t Ds[] = {1, 2, 7, 15, 16, 17, 33, 100, 257};
    nb_rng rng;
    nb_rng_seed(&rng, 31);
    const nbi_kernels *r = ref_set();
    for (size_t is = 0; is < 2; is++) {
        const nbi_kernels *k = nbi_kernel_set(simd_isas[is]);
        if (!k) continue;
        for (size_t di = 0; di < sizeof Ds / sizeof *Ds; di++)
            for (int variant = 0; variant < 4; variant++) {
                const int64_t D = Ds[di], rows = 3;
                const int rms = variant & 1, affine = variant < 2;
                char what[64];
                snprintf(what, sizeof what, "%s %s D=%lld%s", k->isa, rms ? "rms" : "layer",
                         (long long)D, affine ? "" : " plain");
                float *x = rand_buf(rows * D, -3.0f, 2.0f, &rng),
                      *gy = rand_buf(rows * D, -1, 1, &rng);
                float *w = affine ? rand_buf(D, 0.5f, 1.5f, &rng) : NULL;
                float *b = affine ? rand_buf(D, -1, 1, &rng) : NULL;
                float *y = buf(rows * D), *yr = buf(rows * D), *mu = buf(rows), *mur = buf(rows);
                float *rs = buf(rows), *rsr = buf(rows);
                k->norm(rms, rows, D, x, w, b, 1e-5f, y, mu, rs);
                r->norm(rms, rows, D, x, w, b, 1e-5f, yr, mur, rsr);
                agree(what, y, yr, rows * D, 1e-5, 1.0);
                agree(what, mu, mur, rows, 1e-6, 1.0);
                agree(what, rs, rsr, rows, 1e-5, 0.0);
                /* backward from the reference's statistics */
                float *gx = rand_buf(rows * D, -1, 1, &rng), *gxr = copy_buf(gx, rows * D);
                float *gw = rand_buf(D, -1, 1, &rng), *gwr = copy_buf(gw, D);
                float *gb = rand_buf(D, -1, 1, &rng), *gbr = copy_buf(gb, D);
                k->norm_bwd(rms, rows, D, x, w, mur, rsr, gy, gx, affine ? gw : NULL,
                            affine ? gb : NULL);
                r->norm_bwd(rms, rows, D, x, w, mur, rsr, gy, gxr, affine ? gwr : NULL,
                            affine ? gbr : NULL);
                agree(what, gx, gxr, rows * D, 2e-5, 1.0);
                agree(what, gw, gwr, D, 1e-5, 1.0);
                agree(what, gb, gbr, D, 1e-5, 1.0);
                float *fs[] = {x, gy, w, b, y, yr, mu, mur, rs, rsr, gx, gxr, gw, gwr, gb, gbr};
                for (size_t i = 0; i < sizeof fs / sizeof *fs; i++)
                    if (fs[i]) unbuf(fs[i]);
            }
    }
}

/* ---- token cross-entropy --------------------------------------------------------------------- */

static void test_xent(void) {
    static const int64_t Vs[] = {1, 2, 7, 16, 17, 33, 100, 1025};
    nb_rng rng;
    nb_rng_seed(&rng, 32);
    const nbi_kernels *r = ref_set();
    for (size_t is = 0; is < 2; is++) {
        const nbi_kernels *k = nbi_kernel_set(simd_isas[is]);
        if (!k) continue;
        for (size_t vi = 0; vi < sizeof Vs / sizeof *Vs; vi++)
            for (int sm = 0; sm < 2; sm++) {
                const int64_t V = Vs[vi], rows = 4;
                const float eps = sm ? 0.1f : 0.0f;
                char what[64];
                snprintf(what, sizeof what, "%s xent V=%lld eps=%g", k->isa, (long long)V, eps);
                float *x = rand_buf(rows * V, -8.0f, 8.0f, &rng);
                int32_t t[4] = {0, (int32_t)(V - 1), -100, (int32_t)(V / 2)};
                float *l = buf(rows), *lr = buf(rows), *e = buf(rows), *er = buf(rows);
                k->xent(rows, V, x, t, -100, eps, l, e);
                r->xent(rows, V, x, t, -100, eps, lr, er);
                agree(what, l, lr, rows, 1e-5, 1.0);
                agree(what, e, er, rows, 1e-6, 1.0);
                CHECK(l[2] == 0.0f);
                float sc[4] = {0.5f, -1.25f, 2.0f, 0.75f};
                float *gx = rand_buf(rows * V, -1, 1, &rng), *gxr = copy_buf(gx, rows * V);
                k->xent_bwd(rows, V, x, t, -100, eps, er, sc, 1, gx);
                r->xent_bwd(rows, V, x, t, -100, eps, er, sc, 1, gxr);
                agree(what, gx, gxr, rows * V, 1e-5, 1.0);
                k->xent_bwd(rows, V, x, t, -100, eps, er, sc, 0, gx); /* one scale for all */
                r->xent_bwd(rows, V, x, t, -100, eps, er, sc, 0, gxr);
                agree(what, gx, gxr, rows * V, 1e-5, 1.0);
                float *fs[] = {x, l, lr, e, er, gx, gxr};
                for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) unbuf(fs[i]);
            }
    }
}

/* ---- recurrent step kernels ----------------------------------------------------------------- */

static void test_rnn_steps(void) {
    static const int64_t Hs[] = {1, 7, 16, 17, 33};
    static const char *const kinds[] = {"tanh", "relu", "lstm", "gru"};
    nb_rng rng;
    nb_rng_seed(&rng, 33);
    const nbi_kernels *r = ref_set();
    const int64_t B = 4, extra = 5;      /* rows of the saved buffers are strided */
    const int32_t len[4] = {3, 2, 9, 1}; /* at t = 2, row 1 and row 3 have ended */
    for (size_t is = 0; is < 2; is++) {
        const nbi_kernels *k = nbi_kernel_set(simd_isas[is]);
        if (!k) continue;
        for (int kind = 0; kind < 4; kind++)
            for (size_t hi = 0; hi < sizeof Hs / sizeof *Hs; hi++) {
                const int64_t H = Hs[hi], GH = nbi_rnn_gates(kind) * H;
                const int64_t lda = GH + extra, ldp = H + extra;
                char what[64];
                snprintf(what, sizeof what, "%s %s H=%lld", k->isa, kinds[kind], (long long)H);
                float *a = rand_buf(B * lda, -3, 3, &rng), *ar = copy_buf(a, B * lda);
                float *hw = rand_buf(B * GH, -2, 2, &rng), *bhn = rand_buf(H, -1, 1, &rng);
                float *hp = rand_buf(B * ldp, -1, 1, &rng), *cp = rand_buf(B * ldp, -2, 2, &rng);
                float *hn = buf(B * ldp), *hnr = buf(B * ldp), *h = buf(B * H), *hr = buf(B * H);
                float *c = buf(B * H), *cr = buf(B * H), *y = buf(B * ldp), *yr = buf(B * ldp);
                memset(hn, 0, (size_t)(B * ldp) * 4), memset(hnr, 0, (size_t)(B * ldp) * 4);
                memset(y, 0, (size_t)(B * ldp) * 4), memset(yr, 0, (size_t)(B * ldp) * 4);
                nbi_rnn_step s = {kind, H,  a,   lda, hw, kind == NBI_RNN_GRU ? bhn : NULL,
                                  hn,   hp, cp,  ldp, h,  c,
                                  H,    y,  ldp, len, 2};
                nbi_rnn_step sr = s;
                sr.a = ar, sr.hnw = hnr, sr.h = hr, sr.c = cr, sr.y = yr;
                k->rnn_step(&s, 0, B);
                r->rnn_step(&sr, 0, B);
                agree(what, a, ar, B * lda, 1e-5, 1.0);
                agree(what, h, hr, B * H, 1e-5, 1.0);
                agree(what, y, yr, B * ldp, 1e-5, 1.0);
                if (kind == NBI_RNN_LSTM) agree(what, c, cr, B * H, 1e-5, 1.0);
                if (kind == NBI_RNN_GRU) agree(what, hn, hnr, B * ldp, 1e-5, 1.0);
                /* backward from the reference's activations */
                memcpy(a, ar, (size_t)(B * lda) * sizeof *a);
                float *gy = rand_buf(B * ldp, -1, 1, &rng), *dh = rand_buf(B * H, -1, 1, &rng);
                float *dc = rand_buf(B * H, -1, 1, &rng);
                float *dph = buf(B * lda), *dphr = buf(B * lda);
                float *dhp = buf(B * H), *dhpr = buf(B * H), *dcp = buf(B * H), *dcpr = buf(B * H);
                memset(dph, 0, (size_t)(B * lda) * 4), memset(dphr, 0, (size_t)(B * lda) * 4);
                nbi_rnn_step_bwd sb = {kind, H,  a,  lda, kind == NBI_RNN_GRU ? dph : NULL,
                                       hnr,  hp, cp, ldp, gy,
                                       ldp,  dh, dc, dhp, dcp,
                                       len,  2};
                nbi_rnn_step_bwd sbr = sb;
                sbr.a = ar, sbr.dph = kind == NBI_RNN_GRU ? dphr : NULL, sbr.dhp = dhpr,
                sbr.dcp = dcpr;
                k->rnn_step_bwd(&sb, 0, B);
                r->rnn_step_bwd(&sbr, 0, B);
                agree(what, a, ar, B * lda, 2e-5, 1.0);
                agree(what, dhp, dhpr, B * H, 1e-5, 1.0);
                if (kind == NBI_RNN_LSTM) agree(what, dcp, dcpr, B * H, 1e-5, 1.0);
                if (kind == NBI_RNN_GRU) agree(what, dph, dphr, B * lda, 2e-5, 1.0);
                float *fs[] = {a, ar, hw, bhn, hp, cp,  hn,   hnr, h,    hr,  c,   cr,
                               y, yr, gy, dh,  dc, dph, dphr, dhp, dhpr, dcp, dcpr};
                for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) unbuf(fs[i]);
            }
    }
}

/* ---- column sums ---------------------------------------------------------------------------- */

static void test_colsum(void) {
    static const int64_t cols[] = {1, 7, 16, 17, 63, 64, 65, 130};
    static const int64_t rows[] = {0, 1, 5, 33};
    nb_rng rng;
    nb_rng_seed(&rng, 34);
    const nbi_kernels *r = ref_set();
    for (size_t is = 0; is < 2; is++) {
        const nbi_kernels *k = nbi_kernel_set(simd_isas[is]);
        if (!k) continue;
        for (size_t ci = 0; ci < sizeof cols / sizeof *cols; ci++)
            for (size_t ri = 0; ri < sizeof rows / sizeof *rows; ri++) {
                const int64_t C = cols[ci], R = rows[ri], ld = C + 3;
                float *x = rand_buf(R * ld + 1, -1, 1, &rng);
                float *y = rand_buf(C, -1, 1, &rng), *yr = copy_buf(y, C);
                k->colsum(R, C, x, ld, y);
                r->colsum(R, C, x, ld, yr);
                char what[64];
                snprintf(what, sizeof what, "%s colsum %lldx%lld", k->isa, (long long)R,
                         (long long)C);
                agree(what, y, yr, C, 0.0, 0.0); /* bit for bit */
                unbuf(x);
                unbuf(y);
                unbuf(yr);
            }
    }
}

/* embed_bwd: every set bitwise the reference (repeated ids, a pad id, a vocabulary range;
 * odd widths for the vector tails) */
static void test_embed_bwd(void) {
    static const int64_t widths[] = {1, 7, 16, 17, 33, 128, 131};
    const int64_t n = 37, V = 11;
    nb_rng rng;
    nb_rng_seed(&rng, 36);
    int32_t ids[37];
    for (int64_t t = 0; t < n; t++) ids[t] = (int32_t)(nb_rng_u64(&rng) % (uint64_t)V);
    const nbi_kernels *r = ref_set();
    for (size_t is = 0; is < 2; is++) {
        const nbi_kernels *k = nbi_kernel_set(simd_isas[is]);
        if (!k) continue;
        for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
            const int64_t D = widths[wi];
            float *gy = rand_buf(n * D, -1, 1, &rng);
            float *gw = rand_buf(V * D, -10, 10, &rng), *gwr = copy_buf(gw, V * D);
            k->embed_bwd(n, ids, 3, D, gy, gw, 1, V - 2);
            r->embed_bwd(n, ids, 3, D, gy, gwr, 1, V - 2);
            char what[64];
            snprintf(what, sizeof what, "%s embed_bwd D=%lld", k->isa, (long long)D);
            agree(what, gw, gwr, V * D, 0.0, 0.0); /* bit for bit */
            unbuf(gy);
            unbuf(gw);
            unbuf(gwr);
        }
    }
}

/* ---- attention ------------------------------------------------------------------------------ */

/* An operand [B, H, T, n] copied into a strided layout — positions first, heads side by side,
 * 3 floats of padding after each position (as a QKV projection's packed output holds them):
 * sb = T·(H·n + 3), sh = n, st = H·n + 3. */
static nbi_attn_rows spread_rows(int64_t H, int64_t T, int64_t n) {
    return (nbi_attn_rows){T * (H * n + 3), n, H * n + 3};
}
static float *spread(const float *src, int64_t B, int64_t H, int64_t T, int64_t n) {
    const nbi_attn_rows r = spread_rows(H, T, n);
    float *p = buf(B * r.sb);
    for (int64_t i = 0; i < B * r.sb; i++) p[i] = -7.0f; /* the padding: never read */
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++)
                memcpy(p + b * r.sb + h * r.sh + t * r.st, src + ((b * H + h) * T + t) * n,
                       sizeof(float) * (size_t)n);
    return p;
}
static float *gather(const float *p, int64_t B, int64_t H, int64_t T, int64_t n) {
    const nbi_attn_rows r = spread_rows(H, T, n);
    float *out = buf(B * H * T * n);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++)
                memcpy(out + ((b * H + h) * T + t) * n, p + b * r.sb + h * r.sh + t * r.st,
                       sizeof(float) * (size_t)n);
    return out;
}

/* The same case with every operand and gradient strided: the vector kernel and the
 * reference, gathered back, give the contiguous reference's results. */
static void strided_attention(const nbi_kernels *k, const nbi_attn_geom *g0, const float *q,
                              const float *kk, const float *v, const float *go, nb_rng *rng,
                              const char *what0) {
    const nbi_kernels *r = ref_set();
    const int64_t B = g0->B, H = g0->H, Tq = g0->Tq, Tk = g0->Tk, d = g0->d, dv = g0->dv;
    const int64_t BH = B * H, nq = BH * Tq * d, nk = BH * Tk * d, nv = BH * Tk * dv;
    const int64_t no = BH * Tq * dv;
    char what[128];
    snprintf(what, sizeof what, "%s strided", what0);
    /* the contiguous reference, gradients from 0 */
    float *o = buf(no), *l = buf(BH * Tq), *gq = buf(nq), *gk = buf(nk), *gv = buf(nv);
    memset(gq, 0, sizeof(float) * (size_t)nq);
    memset(gk, 0, sizeof(float) * (size_t)nk);
    memset(gv, 0, sizeof(float) * (size_t)nv);
    r->attn(g0, 0, BH, q, kk, v, o, l);
    r->attn_bwd(g0, 0, BH, q, kk, v, o, l, go, gq, gk, gv);
    nbi_attn_geom g = *g0;
    g.q = g.gq = spread_rows(H, Tq, d);
    g.k = g.gk = spread_rows(H, Tk, d);
    g.v = g.gv = spread_rows(H, Tk, dv);
    g.o = g.go = spread_rows(H, Tq, dv);
    float *sq = spread(q, B, H, Tq, d), *sk = spread(kk, B, H, Tk, d),
          *sv = spread(v, B, H, Tk, dv);
    float *sgo = spread(go, B, H, Tq, dv);
    for (int which = 0; which < 2; which++) {
        const nbi_kernels *kern = which ? r : k;
        float *so = spread(o, B, H, Tq, dv), *sl = buf(BH * Tq);
        float *zq = buf(nq), *zk = buf(nk), *zv = buf(nv);
        memset(zq, 0, sizeof(float) * (size_t)nq);
        memset(zk, 0, sizeof(float) * (size_t)nk);
        memset(zv, 0, sizeof(float) * (size_t)nv);
        float *sgq = spread(zq, B, H, Tq, d), *sgk = spread(zk, B, H, Tk, d);
        float *sgv = spread(zv, B, H, Tk, dv);
        kern->attn(&g, 0, BH, sq, sk, sv, so, sl);
        kern->attn_bwd(&g, 0, BH, sq, sk, sv, so, sl, sgo, sgq, sgk, sgv);
        float *back[4] = {gather(so, B, H, Tq, dv), gather(sgq, B, H, Tq, d),
                          gather(sgk, B, H, Tk, d), gather(sgv, B, H, Tk, dv)};
        agree(what, back[0], o, no, 2e-5, 1.0);
        agree(what, sl, l, BH * Tq, 1e-5, 1.0);
        agree(what, back[1], gq, nq, 5e-5, 1.0);
        agree(what, back[2], gk, nk, 5e-5, 1.0);
        agree(what, back[3], gv, nv, 5e-5, 1.0);
        float *fs[] = {so, sl, zq, zk, zv, sgq, sgk, sgv, back[0], back[1], back[2], back[3]};
        for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) unbuf(fs[i]);
    }
    (void)rng;
    float *fs[] = {o, l, gq, gk, gv, sq, sk, sv, sgo};
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) unbuf(fs[i]);
}

typedef struct attn_case {
    int64_t B, H, Tq, Tk, d, dv;
    int causal, mask; /* mask: 0 none, 1 additive, 2 ignore, 3 ignore every key of sample 0 */
    float p;
} attn_case;

/* The case's key masks: ignore flags (calloc'd; sample 0 fully ignored for mask 3, else one
 * key in four) and -inf at one additive-mask entry in five of madd, drawn key by key. */
static int32_t *attn_masks(const attn_case *ac, float *madd, nb_rng *rng) {
    int32_t *mign = calloc((size_t)(ac->B * ac->Tk), sizeof *mign);
    for (int64_t i = 0; mign && i < ac->B * ac->Tk; i++) {
        mign[i] = ac->mask == 3 ? i < ac->Tk : nb_rng_below(rng, 4) == 0;
        if (nb_rng_below(rng, 5) == 0) madd[i] = -INFINITY;
    }
    return mign;
}

/* The case's geometry, with the mask its `mask` names and a dropout seed. */
static nbi_attn_geom attn_geom_of(const attn_case *ac, const float *madd, const int32_t *mign,
                                  uint64_t seed) {
    return (nbi_attn_geom){.B = ac->B,
                           .H = ac->H,
                           .Tq = ac->Tq,
                           .Tk = ac->Tk,
                           .d = ac->d,
                           .dv = ac->dv,
                           .scale = 1.0f / sqrtf((float)ac->d),
                           .causal = ac->causal,
                           .mask_add = ac->mask == 1 ? madd : NULL,
                           .mask_ignore = ac->mask >= 2 ? mign : NULL,
                           .p_drop = ac->p,
                           .seed = seed};
}

static void test_attention(void) {
    static const attn_case cases[] = {
        {1, 1, 1, 1, 1, 1, 0, 0, 0.0f},     {2, 3, 5, 7, 3, 5, 0, 0, 0.0f},
        {1, 2, 33, 33, 16, 16, 1, 0, 0.0f}, {2, 1, 31, 70, 17, 9, 1, 2, 0.0f},
        {1, 1, 70, 70, 65, 33, 1, 1, 0.0f}, {1, 2, 9, 40, 130, 7, 0, 2, 0.0f},
        {2, 2, 40, 45, 8, 8, 1, 0, 0.2f},   {2, 1, 6, 37, 5, 4, 0, 3, 0.3f},
        {1, 1, 64, 64, 32, 32, 1, 2, 0.1f},
    };
    nb_rng rng;
    nb_rng_seed(&rng, 35);
    const nbi_kernels *r = ref_set();
    for (size_t is = 0; is < 2; is++) {
        const nbi_kernels *k = nbi_kernel_set(simd_isas[is]);
        if (!k) continue;
        for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
            const attn_case *ac = &cases[ci];
            const int64_t BH = ac->B * ac->H, nq = BH * ac->Tq * ac->d, nk = BH * ac->Tk * ac->d;
            const int64_t nv = BH * ac->Tk * ac->dv, no = BH * ac->Tq * ac->dv;
            char what[96];
            snprintf(what, sizeof what, "%s attention case %zu", k->isa, ci);
            float *q = rand_buf(nq, -2, 2, &rng), *kk = rand_buf(nk, -2, 2, &rng);
            float *v = rand_buf(nv, -1, 1, &rng), *madd = rand_buf(ac->B * ac->Tk, -1, 1, &rng);
            int32_t *mign = attn_masks(ac, madd, &rng);
            CHECK_PTR(mign);
            nbi_attn_geom g = attn_geom_of(ac, madd, mign, 0x1234567890abcdefULL + ci);
            float *o = buf(no), *orf = buf(no), *l = buf(BH * ac->Tq), *lr = buf(BH * ac->Tq);
            k->attn(&g, 0, BH, q, kk, v, o, l);
            r->attn(&g, 0, BH, q, kk, v, orf, lr);
            agree(what, o, orf, no, 2e-5, 1.0);
            agree(what, l, lr, BH * ac->Tq, 1e-5, 1.0);
            float *go = rand_buf(no, -1, 1, &rng);
            float *gq = rand_buf(nq, -1, 1, &rng), *gqr = copy_buf(gq, nq);
            float *gk = rand_buf(nk, -1, 1, &rng), *gkr = copy_buf(gk, nk);
            float *gv = rand_buf(nv, -1, 1, &rng), *gvr = copy_buf(gv, nv);
            k->attn_bwd(&g, 0, BH, q, kk, v, orf, lr, go, gq, gk, gv);
            r->attn_bwd(&g, 0, BH, q, kk, v, orf, lr, go, gqr, gkr, gvr);
            agree(what, gq, gqr, nq, 5e-5, 1.0);
            agree(what, gk, gkr, nk, 5e-5, 1.0);
            agree(what, gv, gvr, nv, 5e-5, 1.0);
            /* any of the three may be left out */
            k->attn_bwd(&g, 0, BH, q, kk, v, orf, lr, go, NULL, gk, NULL);
            r->attn_bwd(&g, 0, BH, q, kk, v, orf, lr, go, NULL, gkr, NULL);
            agree(what, gk, gkr, nk, 5e-5, 1.0);
            strided_attention(k, &g, q, kk, v, go, &rng, what);
            float *fs[] = {q, kk, v, madd, o, orf, l, lr, go, gq, gqr, gk, gkr, gv, gvr};
            for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) unbuf(fs[i]);
            free(mign);
        }
    }
}

/* The attention backward with write_grads (the gradients written, as the fused qkv op asks
 * when it makes them): on the packed [B, T, 3E] layout of that op, into a buffer of NaNs, bit
 * for bit the same kernel's accumulation into zeros — each kernel set (the scalar twin, AVX2,
 * AVX-512), then the back end at 1 and 2 threads; the canaries intact. */
static void test_attention_write(void) {
    const int64_t B = 2, H = 3, T = 37, d = 5, E = H * d, nx = B * T * 3 * E, no = B * T * E;
    nb_rng rng;
    nb_rng_seed(&rng, 36);
    float *x = rand_buf(nx, -2, 2, &rng), *go = rand_buf(no, -1, 1, &rng);
    float *o = buf(no), *lse = buf(B * H * T), *want = buf(nx), *got = buf(nx);
    nbi_attn_geom g = {.B = B,
                       .H = H,
                       .Tq = T,
                       .Tk = T,
                       .d = d,
                       .dv = d,
                       .scale = 1.0f / sqrtf((float)d),
                       .causal = 1};
    g.q = g.k = g.v = g.gq = g.gk = g.gv = (nbi_attn_rows){T * 3 * E, d, 3 * E};
    g.o = g.go = (nbi_attn_rows){T * E, d, E};
    for (int is = -1; is < 2; is++) {
        const nbi_kernels *k = is < 0 ? ref_set() : nbi_kernel_set(simd_isas[is]);
        if (!k) continue;
        g.write_grads = 0;
        k->attn(&g, 0, B * H, x, x + E, x + 2 * E, o, lse);
        memset(want, 0, sizeof(float) * (size_t)nx);
        k->attn_bwd(&g, 0, B * H, x, x + E, x + 2 * E, o, lse, go, want, want + E, want + 2 * E);
        for (int64_t i = 0; i < nx; i++) got[i] = NAN;
        g.write_grads = 1;
        k->attn_bwd(&g, 0, B * H, x, x + E, x + 2 * E, o, lse, go, got, got + E, got + 2 * E);
        CHECK_MSG(memcmp(want, got, sizeof(float) * (size_t)nx) == 0,
                  "%s attention backward, written gradients: not the accumulation", k->isa);
        CHECK(canaries_ok(got, nx));
    }
    const nbi_backend *be = nbi_backend_default();
    int saved = nb_get_threads();
    for (int nt = 1; nt <= 2; nt++) {
        g.write_grads = 0;
        CHECK_OK(nb_set_threads(nt));
        be->attention(be, &g, x, x + E, x + 2 * E, o, lse);
        memset(want, 0, sizeof(float) * (size_t)nx);
        g.write_grads = 0;
        be->attention_bwd(be, &g, x, x + E, x + 2 * E, o, lse, go, want, want + E, want + 2 * E);
        for (int64_t i = 0; i < nx; i++) got[i] = NAN;
        g.write_grads = 1;
        be->attention_bwd(be, &g, x, x + E, x + 2 * E, o, lse, go, got, got + E, got + 2 * E);
        CHECK_MSG(memcmp(want, got, sizeof(float) * (size_t)nx) == 0,
                  "attention backward, written gradients, %d threads: not the accumulation", nt);
        CHECK(canaries_ok(got, nx));
    }
    CHECK_OK(nb_set_threads(saved));
    float *fs[] = {x, go, o, lse, want, got};
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) unbuf(fs[i]);
}

/* head bh (of n floats) of got and want agree, to the tolerance of the gradients */
static void agree_head(const char *what, const float *got, const float *want, int64_t n,
                       int64_t bh) {
    float *a = copy_buf(got + bh * n, n), *b = copy_buf(want + bh * n, n);
    agree(what, a, b, n, 5e-5, 1.0);
    unbuf(a);
    unbuf(b);
}

/* One case of test_attention_paths: each vector kernel set with path = 1 (the tiles) and
 * path = 2 (the short-key path where it applies) against the reference, forward and backward
 * (gradients added to random values); nan: a NaN in one query and one key. */
static void attn_paths_case(const attn_case *ac, int nan, nb_rng *rng) {
    const nbi_kernels *r = ref_set();
    const int64_t BH = ac->B * ac->H, nq = BH * ac->Tq * ac->d, nk = BH * ac->Tk * ac->d;
    const int64_t nv = BH * ac->Tk * ac->dv, no = BH * ac->Tq * ac->dv;
    float *q = rand_buf(nq, -2, 2, rng), *kk = rand_buf(nk, -2, 2, rng);
    float *v = rand_buf(nv, -1, 1, rng), *madd = rand_buf(ac->B * ac->Tk, -1, 1, rng);
    float *go = rand_buf(no, -1, 1, rng), *gq0 = rand_buf(nq, -1, 1, rng);
    float *gk0 = rand_buf(nk, -1, 1, rng), *gv0 = rand_buf(nv, -1, 1, rng);
    int32_t *mign = attn_masks(ac, madd, rng);
    CHECK_PTR(mign);
    if (nan) q[nq / 2] = NAN, kk[nk / 3] = NAN;
    nbi_attn_geom g = attn_geom_of(ac, madd, mign, 0x5eedULL + (uint64_t)ac->Tk);
    float *orf = buf(no), *lr = buf(BH * ac->Tq), *gqr = copy_buf(gq0, nq);
    float *gkr = copy_buf(gk0, nk), *gvr = copy_buf(gv0, nv);
    r->attn(&g, 0, BH, q, kk, v, orf, lr);
    r->attn_bwd(&g, 0, BH, q, kk, v, orf, lr, go, gqr, gkr, gvr);
    for (size_t is = 0; is < 2; is++) {
        const nbi_kernels *k = nbi_kernel_set(simd_isas[is]);
        if (!k) continue;
        for (int path = 1; path <= 2; path++) {
            char what[128];
            snprintf(what, sizeof what,
                     "%s attention path %d B%lld H%lld T%lld/%lld d%lld/%lld c%d m%d p%g nan%d",
                     k->isa, path, (long long)ac->B, (long long)ac->H, (long long)ac->Tq,
                     (long long)ac->Tk, (long long)ac->d, (long long)ac->dv, ac->causal, ac->mask,
                     (double)ac->p, nan);
            g.path = path;
            float *o = buf(no), *l = buf(BH * ac->Tq), *gq = copy_buf(gq0, nq);
            float *gk = copy_buf(gk0, nk), *gv = copy_buf(gv0, nv);
            k->attn(&g, 0, BH, q, kk, v, o, l);
            agree(what, o, orf, no, 2e-5, 1.0);
            agree(what, l, lr, BH * ac->Tq, 1e-5, 1.0);
            k->attn_bwd(&g, 0, BH, q, kk, v, orf, lr, go, gq, gk, gv);
            if (!nan) {
                agree(what, gq, gqr, nq, 5e-5, 1.0);
                agree(what, gk, gkr, nk, 5e-5, 1.0);
                agree(what, gv, gvr, nv, 5e-5, 1.0);
                strided_attention(k, &g, q, kk, v, go, rng, what);
                /* written gradients: bit for bit the accumulation into zeros */
                float *zq = buf(nq), *zk = buf(nk), *zv = buf(nv);
                memset(zq, 0, sizeof(float) * (size_t)nq);
                memset(zk, 0, sizeof(float) * (size_t)nk);
                memset(zv, 0, sizeof(float) * (size_t)nv);
                k->attn_bwd(&g, 0, BH, q, kk, v, orf, lr, go, zq, zk, zv);
                for (int64_t i = 0; i < nq; i++) gq[i] = NAN;
                for (int64_t i = 0; i < nk; i++) gk[i] = NAN;
                for (int64_t i = 0; i < nv; i++) gv[i] = NAN;
                g.write_grads = 1;
                k->attn_bwd(&g, 0, BH, q, kk, v, orf, lr, go, gq, gk, gv);
                g.write_grads = 0;
                CHECK_MSG(memcmp(gq, zq, sizeof(float) * (size_t)nq) == 0 &&
                              memcmp(gk, zk, sizeof(float) * (size_t)nk) == 0 &&
                              memcmp(gv, zv, sizeof(float) * (size_t)nv) == 0,
                          "%s: written gradients not the accumulation", what);
                float *zs[] = {zq, zk, zv};
                for (size_t i = 0; i < 3; i++) unbuf(zs[i]);
            } else { /* where a NaN reaches the gradients differs: the heads without one */
                agree_head(what, gq, gqr, nq / BH, 0);
                agree_head(what, gq, gqr, nq / BH, BH - 1);
                agree_head(what, gk, gkr, nk / BH, 0);
                agree_head(what, gk, gkr, nk / BH, BH - 1);
                agree_head(what, gv, gvr, nv / BH, 0);
                agree_head(what, gv, gvr, nv / BH, BH - 1);
            }
            float *fs[] = {o, l, gq, gk, gv};
            for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) unbuf(fs[i]);
        }
    }
    float *fs[] = {q, kk, v, madd, go, gq0, gk0, gv0, orf, lr, gqr, gkr, gvr};
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) unbuf(fs[i]);
    free(mign);
}

/* The short-key path and the tiles on the same inputs, both against the reference: key
 * lengths 1 to 128 (the short path's bound) and one past it, head sizes 8 to 64, causal (with
 * Tq < Tk and Tq > Tk) and not, both masks, dropout, a sample with every key ignored, NaN
 * inputs; then the back end at 1 and 2 threads, bit for bit. */
static void test_attention_paths(void) {
    static const int64_t Ts[] = {1, 7, 33, 64, 100, 128, 129};
    static const int64_t ds[] = {8, 32, 48, 64};
    nb_rng rng;
    nb_rng_seed(&rng, 37);
    for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++)
        for (size_t di = 0; di < sizeof ds / sizeof *ds; di++) {
            const int64_t T = Ts[ti], d = ds[di];
            const int variant = (int)((ti + di) % 4);
            attn_case ac = {2, 2, T, T, d, d, 1, 0, 0.0f};
            if (variant == 1) ac.causal = 0, ac.mask = 1, ac.dv = d / 2 + 3;
            if (variant == 2) ac.mask = 2, ac.p = 0.2f;
            if (variant == 3) ac.causal = 0, ac.mask = 3, ac.p = 0.1f;
            attn_paths_case(&ac, 0, &rng);
        }
    static const attn_case odd[] = {
        {1, 2, 5, 40, 32, 32, 1, 0, 0.0f},   /* Tq < Tk: a KV cache's prefix */
        {1, 2, 70, 40, 32, 16, 1, 2, 0.0f},  /* Tq > Tk: rows that see no key */
        {2, 1, 130, 64, 48, 64, 1, 1, 0.1f}, /* several query tiles */
        {1, 1, 9, 128, 64, 64, 0, 2, 0.0f},
        {1, 2, 300, 32, 8, 8, 1, 0, 0.0f}, /* whole query tiles that see no key */
    };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) attn_paths_case(&odd[i], 0, &rng);
    const attn_case nc = {2, 2, 33, 33, 32, 32, 1, 0, 0.0f};
    attn_paths_case(&nc, 1, &rng);
    /* 1 and 2 threads, bit for bit (the short path: one head a call) */
    const int64_t B = 4, H = 4, T = 64, d = 32, n = B * H * T * d;
    float *q = rand_buf(n, -2, 2, &rng), *kk = rand_buf(n, -2, 2, &rng);
    float *v = rand_buf(n, -1, 1, &rng), *go = rand_buf(n, -1, 1, &rng);
    float *o[2], *l[2], *gq[2], *gk[2], *gv[2];
    nbi_attn_geom g = {.B = B,
                       .H = H,
                       .Tq = T,
                       .Tk = T,
                       .d = d,
                       .dv = d,
                       .scale = 1.0f / sqrtf((float)d),
                       .causal = 1,
                       .p_drop = 0.1f,
                       .seed = 7};
    const nbi_backend *be = nbi_backend_default();
    int saved = nb_get_threads();
    for (int nt = 1; nt <= 2; nt++) {
        CHECK_OK(nb_set_threads(nt));
        o[nt - 1] = buf(n), l[nt - 1] = buf(B * H * T);
        gq[nt - 1] = buf(n), gk[nt - 1] = buf(n), gv[nt - 1] = buf(n);
        memset(gq[nt - 1], 0, sizeof(float) * (size_t)n);
        memset(gk[nt - 1], 0, sizeof(float) * (size_t)n);
        memset(gv[nt - 1], 0, sizeof(float) * (size_t)n);
        be->attention(be, &g, q, kk, v, o[nt - 1], l[nt - 1]);
        be->attention_bwd(be, &g, q, kk, v, o[nt - 1], l[nt - 1], go, gq[nt - 1], gk[nt - 1],
                          gv[nt - 1]);
    }
    CHECK_OK(nb_set_threads(saved));
    CHECK(memcmp(o[0], o[1], sizeof(float) * (size_t)n) == 0);
    CHECK(memcmp(l[0], l[1], sizeof(float) * (size_t)(B * H * T)) == 0);
    CHECK(memcmp(gq[0], gq[1], sizeof(float) * (size_t)n) == 0);
    CHECK(memcmp(gk[0], gk[1], sizeof(float) * (size_t)n) == 0);
    CHECK(memcmp(gv[0], gv[1], sizeof(float) * (size_t)n) == 0);
    for (int t = 0; t < 2; t++) {
        float *fs[] = {o[t], l[t], gq[t], gk[t], gv[t]};
        for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) unbuf(fs[i]);
    }
    float *fs[] = {q, kk, v, go};
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) unbuf(fs[i]);
}

static const nbt_case cases[] = {
    {"norm", test_norm},           {"xent", test_xent},
    {"rnn_steps", test_rnn_steps}, {"colsum", test_colsum},
    {"attention", test_attention}, {"attention_write", test_attention_write},
    {"embed_bwd", test_embed_bwd}, {"attention_paths", test_attention_paths},
};
NBT_MAIN(cases)
