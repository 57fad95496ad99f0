/* quant/run.c — running a quantized model: f32 input → u8 → the integer steps → f32 output.
 *
 * A batch's activations live in two u8 buffers of the context's arena, used in turn; each
 * sample's values are stored channels last and padded to a multiple of 4 bytes (the products
 * read rows 4 bytes at a time: the padding meets zero weights, but is zeroed all the same,
 * by each step that writes it).
 * A conv2d step lowers the whole batch with im2col into a third buffer and runs one product
 * of batch · OH · OW rows. The last product writes f32 straight into the output tensor (a
 * conv2d's [OH·OW, N] rows transposed to [N, OH, OW]); the float tail runs as ops on it.
 * Every loop goes through the context's back end, so its device picks the kernels; nothing is
 * written to the model. */
#include "quant/quant.h"
#include "tensor/ctx.h"
#include "tensor/tensor.h"

#include <string.h>

static int64_t pad4(int64_t n) {
    return (n + 3) & ~(int64_t)3;
}

/* Bytes one sample of an activation takes in a buffer: its values, padded. */
static int64_t sample_bytes(const nbi_qshape *s) {
    return pad4(nbi_qshape_size(s));
}

static nb_tensor *fail(nb_ctx *ctx, nb_status s) {
    return nbi_fail(ctx, s);
}

nb_tensor *nb_qmodel_infer(const nb_qmodel *q, nb_ctx *ctx, nb_tensor *x) {
    const char *fn = "nb_qmodel_infer";
    if (!ctx) {
        nbi_error(NB_ERR_ARG, "%s: the context is NULL", fn);
        return NULL;
    }
    if (!x || !q)
        return fail(ctx,
                    nbi_error(NB_ERR_ARG, "%s: %s is NULL", fn, !q ? "the model" : "the input"));
    const int64_t F = nbi_qshape_size(&q->in);
    bool shape_ok = x->dtype == NB_F32 && x->rank == q->in_rank + 1;
    for (int d = 0; shape_ok && d < q->in_rank; d++) shape_ok = x->shape[d + 1] == q->in_shape[d];
    if (!shape_ok)
        return fail(ctx,
                    nbi_error(NB_ERR_SHAPE,
                              "%s: the input must be f32 [batch, <the model's input shape>] "
                              "with %lld values per sample; got rank %d, dtype %s",
                              fn, (long long)F, x->rank, x->dtype == NB_F32 ? "f32" : "not f32"));
    const nbi_backend *be = ctx->be;
    const int64_t B = x->shape[0];
    x = nbi_contig(ctx, x); /* itself when contiguous: no copy */
    if (!x) return NULL;
    /* the largest activation and im2col block of the batch */
    int64_t act_max = sample_bytes(&q->in), col_max = 0, tmp_max = 0;
    for (int i = 0; i < q->n_steps; i++) {
        const nbi_qstep *s = &q->steps[i];
        int64_t o = sample_bytes(&s->out);
        if (o > act_max) act_max = o;
        if (s->op == NBI_QOP_CONV && s->g.OH * s->g.OW * s->K4 > col_max)
            col_max = s->g.OH * s->g.OW * s->K4;
        if (s->op == NBI_QOP_CONV && s->act_out < 0) tmp_max = s->g.OH * s->g.OW * s->N;
    }
    int64_t out_shape[NB_MAX_RANK + 1];
    out_shape[0] = B;
    for (int d = 0; d < q->out_rank; d++) out_shape[d + 1] = q->out_shape[d];
    nb_tensor *y = nb_tensor_new(ctx, NB_F32, q->out_rank + 1, out_shape);
    size_t act_bytes = (size_t)(B * act_max);
    uint8_t *buf[2] = {nbi_ctx_alloc(ctx, act_bytes + 64, fn),
                       nbi_ctx_alloc(ctx, act_bytes + 64, fn)};
    uint8_t *col = col_max ? nbi_ctx_alloc(ctx, (size_t)(B * col_max) + 64, fn) : NULL;
    float *tmp = tmp_max ? nbi_ctx_alloc(ctx, sizeof(float) * (size_t)(B * tmp_max), fn) : NULL;
    if (!y || !buf[0] || !buf[1] || (col_max && !col) || (tmp_max && !tmp)) return NULL;

    /* the input: quantized in its layout [C, H, W], then stored channels last */
    const nbi_qact *a0 = &q->acts[0];
    int cur = 0;
    int64_t in_b = sample_bytes(&q->in);
    const float *xd = x->data;
    bool transpose = q->in.rank == 3 && q->in.c > 1;
    uint8_t *qx = transpose || in_b != F ? buf[1] : buf[0];
    int64_t bad = be->quantize(be, B * F, xd, (float)(1.0 / (double)a0->scale), a0->zero, 0,
                               NBI_Q_ACT_MAX, qx);
    if (bad >= 0)
        return fail(ctx, nbi_error(NB_ERR_NUMERIC,
                                   "%s: input sample %lld has a value that is %s at position %lld",
                                   fn, (long long)(bad / F),
                                   xd[bad] != xd[bad] ? "NaN" : "infinite", (long long)(bad % F)));
    if (qx == buf[1]) {
        const int64_t C = q->in.c, P = q->in.h * q->in.w;
        for (int64_t b = 0; b < B; b++) {
            const uint8_t *src = qx + b * F;
            uint8_t *dst = buf[0] + b * in_b;
            if (transpose)
                for (int64_t c = 0; c < C; c++)
                    for (int64_t p = 0; p < P; p++) dst[p * C + c] = src[c * P + p];
            else
                memcpy(dst, src, (size_t)F);
            memset(dst + F, 0, (size_t)(in_b - F));
        }
    }

    for (int i = 0; i < q->n_steps; i++) {
        const nbi_qstep *s = &q->steps[i];
        const uint8_t *in = buf[cur];
        uint8_t *out = buf[1 - cur];
        int64_t ib = sample_bytes(&s->in), ob = sample_bytes(&s->out);
        const nbi_qact *ai = &q->acts[s->act_in];
        switch (s->op) {
        case NBI_QOP_DENSE:
        case NBI_QOP_CONV: {
            nbi_qepi e = {.bias = s->bias_eff, .m = s->mult, .out_f32 = s->act_out < 0};
            if (s->act_out >= 0) {
                e.zero = q->acts[s->act_out].zero;
                e.lo = s->relu ? e.zero : 0;
                e.hi = NBI_Q_ACT_MAX;
            }
            const uint8_t *A = in;
            int64_t M = B, lda = ib, ldc = ob;
            if (s->op == NBI_QOP_CONV) {
                int64_t P = s->g.OH * s->g.OW;
                be->q_im2col(be, &s->g, B, in, ib, (uint8_t)ai->zero, s->K4, col, P * s->K4);
                A = col;
                M = B * P;
                lda = s->K4;
                ldc = s->N; /* rows of a map are its positions: [P, N] is [H, W, C] */
                if (P * s->N != ob && s->act_out >= 0) { /* a sample's bytes are padded */
                    for (int64_t b = 0; b < B; b++)
                        be->qgemm(be, P, s->N, s->K4, col + b * P * s->K4, s->K4, s->packed, &e,
                                  out + b * ob, s->N);
                    break;
                }
            }
            void *C = out;
            if (e.out_f32) {
                C = s->op == NBI_QOP_CONV ? (void *)tmp : y->data;
                ldc = s->N;
            }
            be->qgemm(be, M, s->N, s->K4, A, lda, s->packed, &e, C, ldc);
            if (e.out_f32 && s->op == NBI_QOP_CONV) { /* [P, N] → [N, P] per sample */
                int64_t P = s->g.OH * s->g.OW;
                float *yd = y->data;
                for (int64_t b = 0; b < B; b++)
                    for (int64_t p = 0; p < P; p++)
                        for (int64_t j = 0; j < s->N; j++)
                            yd[(b * s->N + j) * P + p] = tmp[(b * P + p) * s->N + j];
            }
            break;
        }
        case NBI_QOP_MAXPOOL:
            be->q_maxpool(be, &s->g, B, in, ib, out, ob);
            break;
        case NBI_QOP_RELU: {
            uint8_t z = (uint8_t)ai->zero;
            int64_t n = nbi_qshape_size(&s->in);
            for (int64_t b = 0; b < B; b++)
                for (int64_t k = 0; k < n; k++) {
                    uint8_t v = in[b * ib + k];
                    out[b * ob + k] = v > z ? v : z;
                }
            break;
        }
        case NBI_QOP_FLATTEN: /* [H, W, C] stays as it is; only the padding may change */
            if (ib == ob) continue;
            for (int64_t b = 0; b < B; b++)
                memcpy(out + b * ob, in + b * ib, (size_t)nbi_qshape_size(&s->in));
            break;
        }
        int64_t size = nbi_qshape_size(&s->out);
        if (s->act_out >= 0 && ob > size) /* the padding of each sample */
            for (int64_t b = 0; b < B; b++) memset(out + b * ob + size, 0, (size_t)(ob - size));
        cur = 1 - cur;
    }
    /* The float tail (a softmax, ...) runs on the reference kernels whatever the device, so
     * that the whole output is the same bits everywhere (the vector exp differs from the
     * scalar one in the last bits); it is [batch, outputs] values, a negligible cost. */
    if (q->n_tail && y) {
        nbi_backend ref;
        nb_status s = nbi_backend_init(&ref, "cpu:ref", 1, fn);
        if (s != NB_OK) return fail(ctx, s);
        const nbi_backend *keep = ctx->be;
        ctx->be = &ref;
        for (int i = 0; i < q->n_tail && y; i++)
            y = nb_activate(ctx, y, q->tail[i], q->tail_alpha[i]);
        ctx->be = keep;
    }
    return y;
}
